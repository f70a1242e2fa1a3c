"""reloadcases: reload as a transaction (issue 4, scenarios 4 and 5), the
cases of test_sup_reload*.py.  They are three files so that make -j runs
the two long cases (about 12 s each) beside the rest; each runs its cases
with run_cases().

reload_under_load: 32 closed-loop connections (16 unix, 16 TCP 127.0.0.1)
keep ECHOing while `msgctl -c CONF reload` runs 20 times (each waits for the
outcome: exit 0, "reloaded:").  A request is only ever sent on a connection
the client knows to be open: right before each send it peeks without
blocking, and a connection the server has closed gracefully (EOF, a draining
worker's FIN between requests) is reconnected -- that is not a failure.
One thread drives all 32 connections through a selector, so the check and
the send are microseconds apart (a thread per connection would put GIL
switches between them and blame the server for the client's delay).  A
request that was sent and then met EOF, a reset, a send error or no answer
within 10 s is a failure; connection resets are also counted on their own.
Wanted: 0 failures, 0 resets, 0 connect errors; afterwards master + workers
processes only (old generations gone, bounded poll) and master.generation in
`msgctl stats --json` advanced by exactly 20.

bad_config_reload: workers = 0.  `msgctl -c <that file> reload` reports
"file:line: workers" and exits 2 without signalling the server (msgctl(1));
through a valid copy of the config (same pidfile and stats file) the
master's own verdict comes back: exit 1, "file:line: workers: must be
1..1024, got 0"; the same workers keep serving, generation unchanged, the
log has the error; fixed config -> reload succeeds, generation + 1.

reload_rollbacks: a reload naming a user that does not exist, and one adding
a unix listener in a directory that does not exist, are reported as failures
(exit 1, the cause named) and leave the old generation untouched (same pids,
generation, socket file, PING).  A reload whose new worker is SIGKILLed
while starting rolls back ("rolled back"), its workers go away, the old ones
keep serving; the next reload succeeds with a higher generation (numbers
are never reused, not even a rolled back one's).

adopted_close: a connection handed over by a reload and then closed by its
client leaves the new worker's epoll set.  close() drops an epoll
registration only with the last reference to the socket, and the worker
that handed it over may not have closed its copy yet (CI caught an ASan
use-after-free in the recycle test from that race).  The test holds a copy
of the new worker's socket itself (pidfd_getfd), which makes the race's
outcome certain: after the client closes, /proc/PID/fdinfo of the worker's
epoll descriptor must not list the socket, and the worker keeps serving.
SKIP where pidfd_getfd is refused (kernel < 5.6, ptrace restrictions).

handover_no_descriptor: worker 0 at RLIMIT_NOFILE (its soft limit lowered
to its lowest free descriptor) is handed worker 1's connections (SIGTTOU):
the kernel cannot install them (MSG_CTRUNC), so they are lost, and the
worker logs it.  Its hand-over channel must stay open (it was closed as
"out of step" before): after the limit is restored, 3 new connections to
worker 0 survive a reload, handed over to the new worker.

nine_draining: each of 9 generations is kept draining by an EXEC that
waits on a FIFO (shutdown_timeout 30 s), so the 9th reload finds the 8
places for draining generations full: the oldest is killed ("more than 8
generations draining: killing generation 1"), its command with it.  After
the FIFO is released every old generation exits; the stop then exits 0
with no LeakSanitizer report (the killed generation was never freed
before; the ASan run sees that).
"""
import json
import os
import re
import resource
import tempfile
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time

from harness import (HDR, HDR_LEN, MSGCTL, Client, Frame, Op, Suite,
                     children, command_children, ctl, encode, fd_links,
                     live_children, poll, proc_stat, response_problems,
                     steal_fd, wait_children)
from statslib import settle, stats_json

t = Suite("test_sup_reload")


def ctl_conf(srv):
    """A copy of srv's first (valid) config for msgctl -c: msgctl needs a
    file free of errors to find the pidfile and the stats file, and the
    tests below break srv's own file on purpose."""
    path = os.path.join(srv.dir, "ctl.conf")
    if not os.path.exists(path):
        shutil.copyfile(srv.conf_path, path)
    return path


def reload(srv, conf=None):
    """`msgctl -c CONF reload` (ctl_conf(srv) unless given), which waits for
    the outcome: (rc, stdout, stderr, seconds)."""
    return ctl(srv, "reload", conf=conf or ctl_conf(srv), timeout=40.0)


def stats(srv):
    rc, out, err, _ = ctl(srv, "stats", "--json", conf=ctl_conf(srv),
                          timeout=10)
    if rc != 0:
        raise AssertionError("msgctl stats --json: exit %d: %s" % (rc, err))
    return json.loads(out)


def rewrite(srv, **changes):
    """Change settings of srv's config file (None removes one)."""
    srv.settings.update(changes)
    srv.write_conf()


# ------------------------------------------------------------ load client

class LoadConn:
    __slots__ = ("n", "addr", "sock", "buf", "rid", "value", "sent_at",
                 "local")

    def __init__(self, n, addr):
        self.n = n
        self.addr = addr
        self.sock = None
        self.local = None      # (host, port) of the open TCP connection
        self.buf = b""
        self.rid = 0
        self.value = b""
        self.sent_at = None


class ClosedLoop:
    """N connections, each with one request in flight at a time, driven by
    one thread with a selector (so the check "is it still open?" and the
    send are microseconds apart, not a GIL switch apart).  src: the local
    address of the TCP connections (None: the kernel's choice).  fails
    lists each failure as (connection number, its local address, what)."""

    def __init__(self, addrs, src=None):
        self.conns = [LoadConn(n, a) for n, a in enumerate(addrs)]
        self.src = src
        self.fails = []
        self.sel = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.ok = 0
        self.failed = 0
        self.resets = 0
        self.graceful = 0      # EOF seen before sending: reconnected
        self.connects = 0
        self.connect_errors = 0
        self.details = []
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def fail(self, c, what):
        """A request that was sent (or about to be) failed on c."""
        self.failed += 1
        self.fails.append((c.n, c.local, what))
        self.note(c, what)

    def note(self, c, what):
        if len(self.details) < 20:
            self.details.append("conn %d (%s) at %.3f: %s" % (
                c.n, "unix" if isinstance(c.addr, str) else "tcp",
                time.monotonic(), what))

    def drop(self, c):
        if c.sock is not None:
            try:
                self.sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.sock.close()
        c.sock = None
        c.buf = b""
        c.sent_at = None

    def connect(self, c):
        fam = socket.AF_UNIX if isinstance(c.addr, str) else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        if fam == socket.AF_INET:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(5)
        try:
            if fam == socket.AF_INET and self.src is not None:
                s.bind((self.src, 0))
            s.connect(c.addr)
        except OSError as e:
            s.close()
            self.connect_errors += 1
            self.note(c, "connect: %r" % e)
            return False
        s.setblocking(False)
        c.sock = s
        c.local = s.getsockname() if fam == socket.AF_INET else None
        self.connects += 1
        self.sel.register(s, selectors.EVENT_READ, c)
        return True

    def send_next(self, c):
        """Send c's next request on a connection known to be open: the
        frame is built first, so the check and the send are back to back."""
        c.rid += 1
        c.value = b"conn %d request %d " % (c.n, c.rid) + b"x" * (c.rid % 64)
        frame = encode(Op.ECHO, c.value, request_id=c.rid)
        for _ in range(10):  # bounded reconnects
            if c.sock is None and not self.connect(c):
                time.sleep(0.01)
                continue
            try:
                peek = c.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break  # open, nothing pending: send now
            except ConnectionResetError as e:
                self.resets += 1
                self.note(c, "reset while idle: %r" % e)
                self.drop(c)
                continue
            if peek == b"":
                self.graceful += 1  # closed between requests: not a failure
                self.drop(c)
                continue
            self.fail(c, "unrequested data %r" % peek)
            self.drop(c)
        else:
            return
        try:
            n = c.sock.send(frame)
        except OSError as e:
            if isinstance(e, ConnectionResetError):
                self.resets += 1
            self.fail(c, "send of request %d: %r" % (c.rid, e))
            self.drop(c)
            return
        c.sent_at = time.monotonic()
        if n != len(frame):  # an idle socket takes 100 bytes at once
            self.fail(c, "short send %d of %d" % (n, len(frame)))
            self.drop(c)

    def readable(self, c):
        try:
            b = c.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionResetError as e:
            self.resets += 1
            self.fail(c, "request %d sent, then %r" % (c.rid, e))
            self.drop(c)
            return
        if not b:
            self.fail(c, "request %d sent %.1f ms earlier, then EOF (got "
                      "%r)" % (c.rid, (time.monotonic() - c.sent_at) * 1000
                               if c.sent_at else -1, c.buf))
            self.drop(c)
            return
        c.buf += b
        if len(c.buf) < HDR_LEN:
            return
        blen = HDR.unpack_from(c.buf)[7]
        if len(c.buf) < HDR_LEN + blen:
            return
        f = Frame(c.buf[:HDR_LEN], c.buf[HDR_LEN:HDR_LEN + blen])
        rest = c.buf[HDR_LEN + blen:]
        p = response_problems(f, Op.ECHO, rid=c.rid, value=c.value)
        if p or rest:
            self.fail(c, "bad answer %s %r" % (p, rest))
            self.drop(c)
            return
        self.ok += 1
        c.buf = b""
        c.sent_at = None
        if not self.stop.is_set():
            self.send_next(c)

    def loop(self):
        for c in self.conns:
            self.send_next(c)
        while True:
            now = time.monotonic()
            busy = [c for c in self.conns if c.sent_at is not None]
            if self.stop.is_set() and not busy:
                break
            for c in busy:
                if now - c.sent_at > 10.0:
                    self.fail(c, "request %d: no answer in 10 s" % c.rid)
                    self.drop(c)
            if not self.stop.is_set():
                for c in self.conns:
                    if c.sock is None:
                        self.send_next(c)
            for key, _ in self.sel.select(0.05):
                self.readable(key.data)
        for c in self.conns:
            self.drop(c)

    def start(self):
        self.thread.start()

    def finish(self, timeout=15.0):
        self.stop.set()
        self.thread.join(timeout)
        return not self.thread.is_alive()


@t.case
def reload_under_load(t):
    nreloads = 20
    srv = t.server({"workers": 2, "shutdown_timeout": 5}, tcp=True)
    ctl_conf(srv)
    gen0 = stats(srv)["master"]["generation"]
    load = ClosedLoop([srv.sock_path if n % 2 == 0 else srv.tcp_addr
                       for n in range(32)])
    load.start()
    time.sleep(0.5)
    ok_before = load.ok
    bad_reloads = []
    t0 = time.monotonic()
    for i in range(nreloads):
        rc, out, err, secs = reload(srv)
        if rc != 0 or not out.startswith("reloaded:"):
            bad_reloads.append((i, rc, out, err))
    reload_secs = time.monotonic() - t0
    time.sleep(0.3)
    finished = load.finish()
    t.check(finished, "load thread still running 15 s after the stop")
    t.check(not bad_reloads, "%d of %d reloads did not report success: %r"
            % (len(bad_reloads), nreloads, bad_reloads[:3]))
    print("   %d reloads in %.1f s; %d requests answered (%d during the "
          "reloads), %d failed, %d resets, %d graceful closes between "
          "requests, %d connects, %d connect errors" % (
              nreloads, reload_secs, load.ok, load.ok - ok_before,
              load.failed, load.resets, load.graceful, load.connects,
              load.connect_errors))
    t.check(load.ok - ok_before > 1000, "only %d requests answered during "
            "the reloads" % (load.ok - ok_before))
    # The product promise: a reload loses no request.  Connections move
    # to the new workers at a frame boundary (hand-over), so none is
    # closed under a client that is about to send.
    t.check(load.failed == 0, "%d requests failed during %d reloads: %s" % (
        load.failed, nreloads, load.details))
    t.check(load.resets == 0, "%d connection resets during %d reloads: %s"
            % (load.resets, nreloads, load.details))
    t.check(load.connect_errors == 0, "%d connect errors during the reloads:"
            " %s" % (load.connect_errors, load.details))
    kids = wait_children(srv.pid, 2, timeout=15)
    t.check(len(kids) == 2, "after the reloads the master has %d live "
            "children %r, want the 2 workers (old generations gone)" % (
                len(kids), kids))
    zombies = [p for p, s in children(srv.pid) if s == "Z"]
    t.check(not zombies, "zombie children after the reloads: %r" % zombies)
    gen1 = stats(srv)["master"]["generation"]
    t.check(gen1 - gen0 == nreloads, "generation %d -> %d after %d reloads,"
            " want +%d" % (gen0, gen1, nreloads, nreloads))
    t.check(srv.ping_ok(), "PING after the reloads")


def reload_fails(t, srv, what, want_in_err, want_rc=1):
    """A reload that must fail and leave everything as it was."""
    before = stats(srv)["master"]["generation"]
    kids = live_children(srv)
    rc, out, err, _ = reload(srv)
    t.check(rc == want_rc and "reload failed" in err and want_in_err in err,
            "%s: msgctl reload exit %d, stdout %r, stderr %r; want %d and %r"
            % (what, rc, out, err, want_rc, want_in_err))
    t.check(srv.ping_ok(), "%s: PING after the failed reload" % what)
    after = live_children(srv)
    t.check(after == kids, "%s: workers %r changed to %r" % (what, kids,
                                                              after))
    gen = stats(srv)["master"]["generation"]
    t.check(gen == before, "%s: generation %d -> %d" % (what, before, gen))
    t.check(os.path.exists(srv.sock_path), "%s: unix socket %s is gone" % (
        what, srv.sock_path))
    return err


def conf_line(path, setting):
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if re.match(r"\s*%s\s*=" % re.escape(setting), line):
                return i
    return None


@t.case
def bad_config_reload(t):
    srv = t.server({"workers": 2})
    ctl_conf(srv)
    kids = live_children(srv)
    rewrite(srv, workers=0)
    line = conf_line(srv.conf_path, "workers")
    want = "%s:%d: workers" % (srv.conf_path, line)
    # msgctl -c on the broken file itself: it reports the errors and exits
    # 2 without signalling the server (msgctl(1)).
    rc, out, err, _ = reload(srv, conf=srv.conf_path)
    t.check(rc == 2 and want in err, "msgctl -c <broken file> reload: exit "
            "%d, stderr %r; want 2 and %r" % (rc, err, want))
    t.check("reloading" not in srv.log(), "msgctl signalled the server "
            "although its -c file has errors")
    # The master's own account (SIGHUP, followed through the stats file).
    reload_fails(t, srv, "workers = 0", want + ": must be 1..1024, got 0")
    log = srv.log()
    t.check(want in log and "reload failed" in log,
            "the log does not show %r and 'reload failed': %r" % (
                want, log[-1500:]))
    t.check(live_children(srv) == kids, "workers changed")
    rewrite(srv, workers=2)
    gen = stats(srv)["master"]["generation"]
    rc, out, err, _ = reload(srv)
    t.check(rc == 0 and out.startswith("reloaded:"), "fixed config: reload "
            "exit %d, stdout %r, stderr %r" % (rc, out, err))
    t.check(stats(srv)["master"]["generation"] == gen + 1,
            "fixed config: generation did not advance by 1")
    t.check(srv.ping_ok(), "PING after the good reload")


@t.case
def reload_rollbacks(t):
    srv = t.server({"workers": 2, "shutdown_timeout": 2}, health=False)
    ctl_conf(srv)
    # gen_new fails: the user does not exist.
    rewrite(srv, user="msgd-no-such-user", group=None)
    reload_fails(t, srv, "unknown user", "msgd-no-such-user")
    # gen_bind fails: a new unix listener in a directory that is not there.
    rewrite(srv, user=None)
    nowhere = os.path.join(srv.dir, "no-such-dir", "x.sock")
    srv.settings["listen"] = ["unix:" + srv.sock_path, "unix:" + nowhere]
    srv.write_conf()
    reload_fails(t, srv, "listener in a missing directory", nowhere)
    srv.settings.pop("listen")
    srv.write_conf()

    # The new generation starts, then one of its workers dies while
    # starting (SIGKILL before the commit): rolled back.
    old = live_children(srv)
    gen = stats(srv)["master"]["generation"]
    p = subprocess.Popen([MSGCTL, "-c", ctl_conf(srv), "reload"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def kill_new():
        new = [k for k in live_children(srv) if k not in old]
        if new:
            os.kill(new[0], signal.SIGKILL)
            return new[0]
        return None
    victim = poll(kill_new, timeout=10, step=0.002)
    try:
        out, err = p.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    out, err = out.decode(), err.decode()
    t.check(victim is not None, "no new worker appeared within 10 s of the "
            "reload")
    t.check(p.returncode == 1 and "rolled back" in err and
            ("pid %d" % victim) in err,
            "killed new worker %r: msgctl reload exit %r, stdout %r, stderr "
            "%r; want 1, 'rolled back' naming the pid" % (
                victim, p.returncode, out, err))
    kids = wait_children(srv.pid, 2, timeout=10)
    t.check(kids == old, "after the rollback the workers are %r, want the "
            "old ones %r (the new generation drained)" % (kids, old))
    t.check(stats(srv)["master"]["generation"] == gen,
            "generation changed by a rolled back reload")
    t.check(srv.ping_ok(), "PING after the rollback")
    rc, out, err, _ = reload(srv)
    t.check(rc == 0 and out.startswith("reloaded:"), "reload after the "
            "rollback: exit %d, %r %r" % (rc, out, err))
    kids = wait_children(srv.pid, 2, timeout=10)
    t.check(len(kids) == 2 and not set(kids) & set(old),
            "after the good reload: workers %r (old were %r)" % (kids, old))
    # Generation numbers are never reused (32423bd): the rolled back one
    # (and the failed binds above) took theirs.  Poll until the old slots
    # are folded.
    st = poll(lambda: stats(srv), timeout=5, step=0.05,
              until=lambda st: all(
                  w["generation"] == st["master"]["generation"]
                  for w in st["workers"] if w["pid"]))
    t.check(st["master"]["generation"] > gen and
            all(w["generation"] == st["master"]["generation"]
                for w in st["workers"] if w["pid"]),
            "the reload after a rollback: generation %d (was %d), workers "
            "%r" % (st["master"]["generation"], gen,
                    [(w["pid"], w["generation"]) for w in st["workers"]
                     if w["pid"]]))


def epoll_inodes(pid, epfd):
    """The inodes of what the epoll descriptor epfd of pid watches."""
    with open("/proc/%d/fdinfo/%d" % (pid, epfd)) as f:
        return set(m.group(1) for m in re.finditer(r"\bino:([0-9a-f]+)",
                                                    f.read().split("tfd:",
                                                                   1)[-1]))


@t.case
def adopted_close(t):
    srv = t.server({"workers": 1, "shutdown_timeout": 5}, tcp=True,
                   health=False)
    c = Client(srv.tcp_addr, timeout=5)
    held = -1
    try:
        t.check_response(c.request(Op.PING, request_id=1), "PING before "
                         "the reload", Op.PING, rid=1, value=b"PONG")
        old = live_children(srv)
        rc, out, err, _ = reload(srv)
        t.check(rc == 0, "reload: exit %d, %r %r" % (rc, out, err))
        kids = wait_children(srv.pid, 1, timeout=10)
        t.check(kids and kids != old, "no new worker after the reload: "
                "%r (old %r)" % (kids, old))
        # The idle connection was handed over: the new worker answers.
        t.check_response(c.request(Op.PING, request_id=2), "PING after "
                         "the hand-over", Op.PING, rid=2, value=b"PONG")
        pid = kids[0]
        want = c.sock.getsockname()
        epfd = None
        for fd, link in fd_links(pid).items():
            if link == "anon_inode:[eventpoll]":
                epfd = fd
            if not link.startswith("socket:") or held != -1:
                continue
            dup = steal_fd(pid, fd)
            if dup < 0:
                print("SKIP: pidfd_getfd: %s" % os.strerror(-dup))
                return
            s = socket.socket(fileno=dup)
            try:
                peer = s.getpeername()
            except OSError:
                peer = None
            if peer == want:
                held = s.detach()
            else:
                s.close()
        t.check(held != -1 and epfd is not None, "worker %d: no socket "
                "with peer %r (or no epoll fd)" % (pid, want))
        if held == -1 or epfd is None:
            return
        ino = "%x" % os.fstat(held).st_ino
        t.check(ino in epoll_inodes(pid, epfd), "the adopted socket is not "
                "in the worker's epoll set before the close")
        c.close()
        poll(lambda: ino not in epoll_inodes(pid, epfd), timeout=5)
        t.check(ino not in epoll_inodes(pid, epfd), "the client closed, "
                "the worker closed its socket, and the socket is still in "
                "the worker's epoll set (events for a freed connection)")
        t.check(srv.ping_ok(), "PING after the adopted connection closed")
        t.check(live_children(srv) == kids, "the worker changed: %r, "
                "was %r" % (live_children(srv), kids))
        t.check("killed by signal" not in srv.log(), "a worker was killed")
    finally:
        c.close()
        if held != -1:
            os.close(held)


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


@t.case
def handover_no_descriptor(t):
    srv = t.server({"workers": 2, "shutdown_timeout": 5,
                    "log": {"level": "debug", "target": "stderr"}},
                   tcp=True, health=False)
    ctl_conf(srv)

    def positions():
        pos = dict((int(a), int(b)) for a, b in re.findall(
            r"worker (\d+) \(pid (\d+), slot", srv.log()))
        return pos if 0 in pos and 1 in pos else None
    pos = poll(positions, timeout=5)
    t.check(pos, "no 'worker N (pid P, slot' lines for workers 0 and 1")
    if not pos:
        return
    w0, w1 = pos[0], pos[1]
    clients, fresh = [], []
    try:
        # No worker holds a connection (the start-up PING's may still be
        # closing): one closing later would change worker 1's count of
        # descriptors below, or free a number below worker 0's limit so
        # that the hand-over finds a descriptor after all.
        ok, _ = settle(srv, lambda d: len(d["workers"]) == 2 and all(
            w["counters"]["conn_active"] == 0 for w in d["workers"]))
        t.check(ok, "a worker kept a connection open")
        # An idle connection on worker 1: with worker 0 stopped, only
        # worker 1 accepts.
        base = nfds(w1)
        os.kill(w0, signal.SIGSTOP)
        try:
            poll(lambda: (proc_stat(w0) or "T")[0] == "T", timeout=5,
                 step=0.01)
            c = Client(srv.tcp_addr, timeout=5)
            clients.append(c)
            t.check_response(c.request(Op.PING, request_id=1), "PING to "
                             "worker 1", Op.PING, rid=1, value=b"PONG")
        finally:
            os.kill(w0, signal.SIGCONT)
        t.check(nfds(w1) > base, "worker 1 did not take the connection")
        old = resource.prlimit(w0, resource.RLIMIT_NOFILE)
        used = set(int(f) for f in os.listdir("/proc/%d/fd" % w0))
        lowest = min(set(range(len(used) + 1)) - used)
        resource.prlimit(w0, resource.RLIMIT_NOFILE, (lowest, old[1]))
        try:
            srv.send_signal(signal.SIGTTOU)
            poll(lambda: "a handed-over connection was lost" in srv.log()
                 and live_children(srv) == [w0], timeout=10)
        finally:
            resource.prlimit(w0, resource.RLIMIT_NOFILE, old)
        t.check(live_children(srv) == [w0], "after SIGTTOU: workers %r, "
                "want only %d" % (live_children(srv), w0))
        t.check("worker 0: a handed-over connection was lost: no "
                "descriptor left for it (RLIMIT_NOFILE)" in srv.log(),
                "worker 0 did not log the connection it could not take")
        # Its channel stays: a reload hands its connections over.
        for i in range(3):
            c = Client(srv.tcp_addr, timeout=5)
            fresh.append(c)
            t.check_response(c.request(Op.PING, request_id=500 + i),
                             "PING before the reload", Op.PING,
                             rid=500 + i, value=b"PONG")
        rc, out, err, _ = reload(srv)
        t.check(rc == 0, "reload: exit %d, %r %r" % (rc, out, err))
        # The config's 2 workers again, worker 0 gone after handing over.
        kids = poll(lambda: live_children(srv), timeout=10,
                    until=lambda kids: w0 not in kids and len(kids) == 2)
        t.check(len(kids) == 2 and w0 not in kids, "after the reload: "
                "workers %r (worker 0 was %d)" % (kids, w0))
        alive = 0
        for i, c in enumerate(fresh):
            try:
                f = c.request(Op.PING, request_id=600 + i)
                alive += f.status == 0 and f.value == b"PONG"
            except (OSError, EOFError, TimeoutError, ValueError):
                pass
        t.check(alive == 3, "%d of 3 connections of worker 0 survived the "
                "reload (its hand-over channel was closed?); log: %r" % (
                    alive, [l for l in srv.log().splitlines()
                            if "stopping with" in l or "lost" in l]))
    finally:
        for c in clients + fresh:
            c.close()


def old_draining(srv):
    """Every worker of an older generation than the newest says it drains
    (it stopped accepting before it said so)."""
    ws = stats_json(srv)["workers"]
    newest = max(w["generation"] for w in ws)
    return all(w["state"] == "draining" for w in ws
               if w["generation"] < newest)


def running(srv):
    """Live children of the master's workers (their EXEC commands)."""
    return sum(len([p for p, st in command_children(w) if st != "Z"])
               for w in live_children(srv))


@t.case
def nine_draining(t):
    d = tempfile.mkdtemp(prefix="msgd-gens-")
    socks = []
    try:
        fifo = os.path.join(d, "go")
        os.mkfifo(fifo)
        srv = t.server({"workers": 1, "shutdown_timeout": 30, "exec": {
            "enabled": True, "timeout": 60,
            "commands": {"wait": ["/bin/sh", "-c", "read x < %s" % fifo]}}},
            health=False)
        ctl_conf(srv)
        for gen in range(9):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(srv.sock_path)
            socks.append(s)
            s.sendall(encode(Op.EXEC, key=b"wait", request_id=gen + 1))
            # Its command runs (a child of the serving worker), as do
            # those of the draining generations before it.
            poll(lambda: running(srv) >= gen + 1, timeout=10, step=0.01)
            t.check(running(srv) == gen + 1, "before reload %d: %d "
                    "commands run, want %d" % (gen + 1, running(srv),
                                               gen + 1))
            rc, out, err, _ = reload(srv)
            t.check(rc == 0, "reload %d: exit %d, %r %r" % (gen + 1, rc,
                                                            out, err))
            # The next connection must reach the new worker: until the
            # old one has taken its drain order it may still accept.
            t.check(poll(lambda: old_draining(srv), timeout=10),
                    "reload %d: an old worker still accepts" % (gen + 1))
        t.check("more than 8 generations draining: killing generation 1"
                in srv.log(), "the 9th draining generation did not make "
                "room: %r" % [l for l in srv.log().splitlines()
                              if "generation" in l][-3:])
        # Release every waiting command: a line each, then EOF.
        fd = os.open(fifo, os.O_RDWR)
        try:
            os.write(fd, b"go\n" * 9)
        finally:
            os.close(fd)
        wait_children(srv.pid, 1, timeout=20)
        t.check(len(live_children(srv)) == 1, "old generations still "
                "draining: workers %r" % live_children(srv))
        rc = srv.stop()
        log = srv.log()
        t.check(rc == 0 and "LeakSanitizer" not in log, "stop: exit %r; %r"
                % (rc, [l for l in log.splitlines() if "SUMMARY" in l]))
    finally:
        for s in socks:
            s.close()
        shutil.rmtree(d, ignore_errors=True)


def run_cases(name, names):
    """Run the cases named (in the order defined here) as suite name."""
    t.name = name
    t.cases = [c for c in t.cases if c.__name__ in names]
    missing = set(names) - set(c.__name__ for c in t.cases)
    if missing:
        raise SystemExit("%s: no such case: %s" % (name, sorted(missing)))
    t.run()

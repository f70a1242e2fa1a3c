"""upgradecases: the binary upgrade in place (issue 13, part 1), the cases
of test_upgrade*.py (two files, so that make -j runs the long one beside
the rest).

Every case runs msgd from a copy in its temp dir (DIR/msgd) and replaces
that file the way a package manager does (a new file renamed over the
path), with the build's msgd or tests/integration/msgd-alt (the same
code built with another release string, "<version>+alt").  The test
process becomes a child subreaper, so a new master is re-parented to it
when the old one exits, and is reaped and stopped by the case.

upgrades_under_load: 64 closed-loop ECHO connections (32 unix, 32 TCP;
reloadcases.ClosedLoop, the reload tests' load generator) while
`msgctl upgrade` runs 20 times, alternating the two binaries.  Each must
exit 0 ("upgraded: msgd <release> serving as pid ..."), `msgctl status`
must then say "running msgd <release>" of the binary just installed, the
master pid must change each time, and a sampler reading `msgctl stats
--json` all along must never see the totals (responses, connections
accepted) go back.  Wanted: 0 failed requests, 0 resets, 0 connect
errors, 0 reconnects (no connection was closed under a client: each was
handed over to the new binary's workers), the last master has its
configured workers and the upgrade count in its header is 20.

failed_upgrades: under the same load, upgrades that must fail and leave
the old master and its workers serving (same pids, same release): the
file missing, not executable, a different program (/bin/true: its "-t"
does not say "configuration OK"), a program that passes "-t" but crashes
at start (SIGSEGV), one that exits 1 at start, and a configuration the
new binary rejects.  Each `msgctl upgrade` exits 1 naming the reason.
An upgrade asked while a reload is in progress, and one asked while an
upgrade is in progress, are refused with that reason (exit 1), and the
first ones complete.  Then a good upgrade succeeds.  0 failed requests,
0 resets, 0 connect errors over the whole case.

status_on_disk: `msgctl status` names the release of the file on disk
when it differs from the running one ("on disk msgd <release>"), and
after the upgrade the running one, the last upgrade's time and the
release it came from; the stats JSON shows the running release.  A UDP
listener comes along; the new master reloads (generation + 1), and its
stop removes the socket file, the stats file and the pidfile.

tls_finish_and_close: an idle TLS connection is not handed over (its TLS
state is the old worker's): the upgrade closes it cleanly, with
close_notify (a peer's FIN without it fails the check), while a unix
connection is handed over and answers; new TLS connections work.

systemd_follows: a fake notification socket (NOTIFY_SOCKET, WATCHDOG_USEC,
each datagram's sender from SO_PASSCRED, descriptors closed as systemd
answers a barrier): the old master sends RELOADING=1, one MAINPID=<new>
with READY=1 and BARRIER=1 with its descriptor; the new master sends
nothing before that, and WATCHDOG=1 after.

old_dies_after_commit: the old master SIGKILLed after the commit, while an
idle TLS connection keeps its worker draining: the new master takes over
without the final totals (logged), writes the pidfile, serves.

new_dies_after_commit: the new master SIGKILLed in the same window: the
old master writes its pid back, starts workers again (the draining ones
hand over to them), serves, and a later upgrade succeeds.

stop_during_commit: in that window a reload is refused (msgctl reload
exits 1 saying why); SIGTERM to the old master: the upgrade
completes, then the new master is stopped too, and its stop removes the
socket file, the stats file and the pidfile.
"""
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import tempfile
import threading
import time

from harness import (BUILDDIR, MSGD, SKIP, Client, Op, Suite, children, ctl,
                     encode, udp_listener, poll, run, tls_client_context,
                     test_certs, udp_exchange, wait_closed)
from reloadcases import ClosedLoop

ALT = os.path.join(BUILDDIR, "tests", "integration", "msgd-alt")

t = Suite("test_upgrade")


def subreaper():
    """New masters outlive their parent: make them ours to reap."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:     # PR_SET_CHILD_SUBREAPER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def release(path):
    rc, out, err, _ = run([path, "-V"])
    if rc != 0 or not out.startswith("msgd "):
        raise AssertionError("%s -V: exit %d %r %r" % (path, rc, out, err))
    return out.split()[1]


def own_copy(d):
    """The binary a case's server runs: a copy of the build's msgd."""
    path = os.path.join(d, "msgd")
    shutil.copy(MSGD, path)
    return path


def install(srv, src, mode=0o755):
    """Replace the server's binary as a package manager does: a new file
    renamed over the path (the running one becomes "(deleted)")."""
    tmp = srv.binary + ".new"
    shutil.copy(src, tmp)
    os.chmod(tmp, mode)
    os.rename(tmp, srv.binary)


def script(srv, name, body):
    """A shell script in the server's dir; returns its path."""
    path = os.path.join(srv.dir, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)
    return path


def master_pid(srv):
    try:
        with open(os.path.join(srv.dir, "msgd.pid")) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def upgrade(srv, conf=None):
    return ctl(srv, "upgrade", conf=conf, timeout=90.0)


def status(srv, conf=None):
    return ctl(srv, "status", conf=conf, timeout=10.0)


def gone(pid):
    """pid has exited (and is reaped, if it is our child)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def stop_current(srv):
    """Stop whichever master runs now (the first is srv.proc, a later
    one our re-parented child) and wait for it (bounded)."""
    pid = master_pid(srv)
    if pid <= 0 or gone(pid) or pid == srv.pid:
        return
    os.kill(pid, signal.SIGTERM)
    if not poll(lambda: gone(pid), timeout=15.0):
        os.kill(pid, signal.SIGKILL)
        poll(lambda: gone(pid), timeout=5.0)


def reap_old(srv):
    """The first master (srv.proc) exits after an upgrade: reap it."""
    if srv.proc is not None:
        srv.wait(0.1)


def stats_doc(srv):
    rc, out, err, _ = ctl(srv, "stats", "--json", timeout=10.0)
    if rc != 0:
        return None
    try:
        return json.loads(out)
    except ValueError:
        return None


def total_marks(doc):
    c = doc["totals"]["counters"]
    return (sum(v for k, v in c.items() if k.startswith("st_")),
            c["conn_accepted"])


class Sampler:
    """Reads the totals all along; remembers any step back."""

    def __init__(self, srv):
        self.srv = srv
        self.stop = threading.Event()
        self.samples = 0
        self.back = []
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        last = None
        while not self.stop.is_set():
            doc = stats_doc(self.srv)
            if doc is not None:
                m = total_marks(doc)
                self.samples += 1
                if last is not None and (m[0] < last[0] or m[1] < last[1]):
                    self.back.append((last, m, doc["msgd"]["version"]))
                last = m
            self.stop.wait(0.1)

    def start(self):
        self.thread.start()

    def finish(self):
        self.stop.set()
        self.thread.join(20)


def load_on(srv, n=64):
    return ClosedLoop([srv.sock_path if i % 2 == 0 else srv.tcp_addr
                       for i in range(n)])


def check_load(t, load, what):
    t.check(load.failed == 0, "%s: %d requests failed: %s" % (
        what, load.failed, load.details))
    t.check(load.resets == 0, "%s: %d resets: %s" % (what, load.resets,
                                                     load.details))
    t.check(load.connect_errors == 0, "%s: %d connect errors: %s" % (
        what, load.connect_errors, load.details))
    t.check(load.connects == len(load.conns) and load.graceful == 0,
            "%s: %d connects for %d connections (%d closed between "
            "requests): a connection was closed under its client: %s" % (
                what, load.connects, len(load.conns), load.graceful,
                load.details))


def new_server(t, shutdown_timeout=5, **kw):
    subreaper()
    settings = {"workers": 2, "shutdown_timeout": shutdown_timeout}
    srv = t.server(settings, tcp=True, health=False, binary=own_copy, **kw)
    # Started once one worker answers; an upgrade waits for "ready" (all).
    if not srv.all_serving():
        raise AssertionError("msgd never said ready: %r" % srv.log())
    return srv


@t.case
def upgrades_under_load(t):
    n = 20
    srv = new_server(t)
    try:
        rel = {MSGD: release(MSGD), ALT: release(ALT)}
        t.check(rel[MSGD] != rel[ALT], "the two binaries report the same "
                "release %r" % rel[MSGD])
        load = load_on(srv)
        sampler = Sampler(srv)
        load.start()
        sampler.start()
        time.sleep(0.3)
        ok_before = load.ok
        bad = []
        pids = [srv.pid]
        t0 = time.monotonic()
        for i in range(n):
            src = ALT if i % 2 == 0 else MSGD
            install(srv, src)
            rc, out, err, secs = upgrade(srv)
            pid = master_pid(srv)
            src_ok = rc == 0 and out.startswith("upgraded: msgd %s "
                                                % rel[src])
            rcs, sout, _, _ = status(srv)
            if not src_ok or "running msgd %s\n" % rel[src] not in sout \
                    or pid in pids:
                bad.append((i, rc, out, err, sout, pid))
            pids.append(pid)
            reap_old(srv)
        up_secs = time.monotonic() - t0
        time.sleep(0.3)
        sampler.finish()
        t.check(load.finish(), "load thread still running 15 s after the "
                "stop")
        print("   %d upgrades in %.1f s (%.0f ms each); %d requests "
              "answered (%d during the upgrades), %d failed, %d resets, "
              "%d connects for %d connections, %d connect errors; "
              "%d stats samples" % (
                  n, up_secs, up_secs * 1000 / n, load.ok,
                  load.ok - ok_before, load.failed, load.resets,
                  load.connects, len(load.conns), load.connect_errors,
                  sampler.samples))
        handed = [int(x) for x in re.findall(
            r"upgrade: msgd \S+ serving as pid \d+ \(was \S+, pid \d+\), "
            r"(\d+) connections handed over", srv.log())]
        took = [int(x) for x in re.findall(
            r"connections handed over, after (\d+) ms", srv.log())]
        if handed and took:
            print("   connections handed over per upgrade: %d to %d; "
                  "SIGUSR2 to exit of the old master: %d to %d ms" % (
                      min(handed), max(handed), min(took), max(took)))
        t.check(len(handed) == n and min(handed) > 0,
                "each upgrade handed connections over: %r" % handed)
        t.check(not bad, "%d of %d upgrades went wrong (rc, stdout, "
                "stderr, status, pid): %r" % (len(bad), n, bad[:3]))
        t.check(load.ok - ok_before > 1000, "only %d requests answered "
                "during the upgrades" % (load.ok - ok_before))
        check_load(t, load, "%d upgrades" % n)
        t.check(sampler.samples > 10 and not sampler.back,
                "totals went back across upgrades (%d samples): %r" % (
                    sampler.samples, sampler.back[:3]))
        pid = master_pid(srv)
        kids = poll(lambda: [p for p, s in children(pid) if s != "Z"],
                    timeout=10, until=lambda k: len(k) == 2)
        t.check(len(kids) == 2, "the last master %d has children %r, want "
                "its 2 workers" % (pid, kids))
        doc = stats_doc(srv)
        t.check(doc is not None and doc["msgd"]["version"] ==
                rel[MSGD] and doc["msgd"].get("upgrades") == n,
                "stats after %d upgrades: %r" % (
                    n, doc and doc["msgd"]))
        t.check(srv.ping_ok(), "PING after the upgrades")
    finally:
        stop_current(srv)


def failed(t, srv, what, want, conf=None):
    """An upgrade that must fail with want in its message and leave the
    same master, workers and release serving."""
    pid = master_pid(srv)
    kids = sorted(p for p, s in children(pid) if s != "Z")
    rc, out, err, _ = upgrade(srv, conf)
    t.check(rc == 1 and "upgrade failed" in err and want in err,
            "%s: msgctl upgrade exit %d, stdout %r, stderr %r; want 1 and "
            "%r" % (what, rc, out, err, want))
    t.check(master_pid(srv) == pid, "%s: master %d replaced by %d" % (
        what, pid, master_pid(srv)))
    after = sorted(p for p, s in children(pid) if s != "Z")
    t.check(after == kids, "%s: workers %r changed to %r" % (what, kids,
                                                             after))
    rc, sout, _, _ = status(srv, conf)
    t.check(rc == 0 and re.search("^running msgd %s[,\n]" % re.escape(
        release(MSGD)), sout, re.M),
            "%s: status %r" % (what, sout))
    t.check(srv.ping_ok(), "%s: PING" % what)


@t.case
def failed_upgrades(t):
    srv = new_server(t)
    try:
        keep = os.path.join(srv.dir, "msgd.keep")
        shutil.copy(MSGD, keep)
        load = load_on(srv)
        load.start()
        time.sleep(0.3)
        os.unlink(srv.binary)
        failed(t, srv, "missing", "No such file or directory")
        install(srv, MSGD, 0o644)
        failed(t, srv, "not executable", "not executable")
        install(srv, "/bin/true")
        failed(t, srv, "a different program", "does not look like msgd")
        crash = script(srv, "crash", 'if [ "$1" = -t ]; then exec %s "$@";'
                       ' fi\nkill -SEGV $$\n' % keep)
        install(srv, crash)
        failed(t, srv, "crashes at start", "killed by signal 11 before it "
               "served")
        quits = script(srv, "quits", 'if [ "$1" = -t ]; then exec %s "$@";'
                       ' fi\nexit 3\n' % keep)
        install(srv, quits)
        failed(t, srv, "exits at start", "exited 3 before it served")
        # The new binary reads the configuration as it is on disk now.
        install(srv, ALT)
        ctl_conf = os.path.join(srv.dir, "ctl.conf")
        shutil.copy(srv.conf_path, ctl_conf)
        with open(srv.conf_path) as f:
            text = f.read()
        with open(srv.conf_path, "w") as f:
            f.write(re.sub(r"workers = \d+;", "workers = 0;", text))
        failed(t, srv, "config rejected", "workers: must be 1..1024, got 0",
               conf=ctl_conf)
        shutil.copy(ctl_conf, srv.conf_path)
        # A reload in progress (it settles 500 ms at least): refused.
        pid = master_pid(srv)
        os.kill(pid, signal.SIGHUP)
        rc, out, err, _ = upgrade(srv)
        t.check(rc == 1 and "a reload is in progress" in err,
                "upgrade during a reload: exit %d %r %r" % (rc, out, err))
        poll(lambda: "reload: generation" in srv.log(), timeout=10)
        # An upgrade in progress: the second one is refused, the first
        # completes.
        # (Two SIGUSR2 pending at once are one: the first must be taken.)
        began = srv.log().count("master: upgrading:")
        os.kill(pid, signal.SIGUSR2)
        t.check(poll(lambda: srv.log().count("master: upgrading:") > began,
                     timeout=10), "the first upgrade did not begin")
        rc, out, err, _ = upgrade(srv)
        t.check(rc == 1 and "an upgrade is already in progress" in err,
                "upgrade during an upgrade: exit %d %r %r" % (rc, out, err))
        new = poll(lambda: master_pid(srv), timeout=30,
                   until=lambda p: p not in (0, pid))
        t.check(new not in (0, pid), "the first upgrade did not complete")
        rc, sout, _, _ = status(srv)
        t.check("running msgd %s\n" % release(ALT) in sout,
                "after the upgrade: %r" % sout)
        reap_old(srv)
        # And back: a good one succeeds.
        install(srv, MSGD)
        rc, out, err, _ = upgrade(srv)
        t.check(rc == 0 and out.startswith("upgraded: msgd %s " %
                                           release(MSGD)),
                "the good upgrade: exit %d %r %r" % (rc, out, err))
        time.sleep(0.2)
        t.check(load.finish(), "load thread still running 15 s after the "
                "stop")
        print("   %d requests answered, %d failed, %d resets, %d connects, "
              "%d connect errors" % (load.ok, load.failed, load.resets,
                                     load.connects, load.connect_errors))
        check_load(t, load, "failed upgrades")
    finally:
        stop_current(srv)


def udp_ping(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        # Padded: a UDP answer is never larger than its request.
        got = udp_exchange(s, ("127.0.0.1", port),
                           encode(Op.PING, b"\0" * 4, request_id=7))
    return got is not None and got.endswith(b"PONG")


@t.case
def status_on_disk(t):
    srv = new_server(t, pick=udp_listener())
    port = srv.uport
    try:
        t.check(udp_ping(port), "UDP PING before")
        rm, ra = release(MSGD), release(ALT)
        rc, out, _, _ = status(srv)
        t.check(rc == 0 and "running msgd %s\n" % rm in out and
                "on disk" not in out and "last upgrade" not in out,
                "status before: %r" % out)
        install(srv, ALT)
        out = poll(lambda: status(srv)[1], timeout=5,
                   until=lambda o: "on disk msgd %s" % ra in o)
        t.check("running msgd %s, on disk msgd %s (%s)" % (
            rm, ra, srv.binary) in out, "status with %s on disk: %r" % (
                ra, out))
        rc, out, err, _ = upgrade(srv)
        t.check(rc == 0, "upgrade: %d %r %r" % (rc, out, err))
        rc, out, _, _ = status(srv)
        t.check(re.search(r"running msgd %s\nlast upgrade "
                          r"\d{4}-\d\d-\d\dT[0-9:]+Z from msgd %s \(1 since "
                          r"the first start at " % (re.escape(ra),
                                                    re.escape(rm)), out),
                "status after: %r" % out)
        doc = stats_doc(srv)
        t.check(doc and doc["msgd"]["version"] == ra and
                doc["msgd"]["upgrades"] == 1 and
                doc["msgd"]["upgraded_from"] == rm,
                "stats after: %r" % (doc and doc["msgd"]))
        rc, prom, _, _ = ctl(srv, "stats", "--prometheus", timeout=10)
        t.check(rc == 0 and "\nmsgd_upgrades_total 1\n" in prom and
                re.search(r"\nmsgd_last_upgrade_time_seconds [1-9]\d+\n",
                          prom), "--prometheus after the upgrade: %r" %
                [l for l in prom.splitlines() if "upgrade" in l])
        reap_old(srv)
        # The UDP socket came along; the new master reloads as any does.
        t.check(udp_ping(port), "UDP PING after the upgrade")
        gen = doc["master"]["generation"] if doc else 0
        rc, out, err, _ = ctl(srv, "reload", timeout=30)
        doc = stats_doc(srv)
        t.check(rc == 0 and doc and doc["master"]["generation"] == gen + 1,
                "reload after the upgrade: %d %r %r, generation %d -> %r" %
                (rc, out, err, gen, doc and doc["master"]["generation"]))
        # The new master owns what the old one made: a stop removes it.
        pid = master_pid(srv)
        rc, out, err, _ = ctl(srv, "stop", timeout=20)
        t.check(rc == 0 and poll(lambda: gone(pid), timeout=10),
                "msgctl stop of the new master: %d %r %r" % (rc, out, err))
        left = [f for f in ("msgd.sock", "stats", "msgd.pid")
                if os.path.exists(os.path.join(srv.dir, f))]
        t.check(not left, "left after the stop: %r" % left)
    finally:
        stop_current(srv)


@t.case
def tls_finish_and_close(t):
    # An idle TLS connection gets half of shutdown_timeout for a last
    # request before its worker closes it, and the commit waits for that.
    srv = new_server(t, shutdown_timeout=2, tls=True)
    try:
        addr = srv.tls_client_addr
        # A peer's FIN without close_notify must raise here, not pass.
        addr.ctx = tls_client_context(test_certs().ca)
        addr.ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
        c = Client(addr)
        plain = Client(srv.sock_path)
        for i in range(3):
            t.check_response(c.request(Op.ECHO, b"tls %d" % i),
                             "TLS ECHO %d before" % i, Op.ECHO,
                             value=b"tls %d" % i)
        install(srv, ALT)
        rc, out, err, _ = upgrade(srv)
        t.check(rc == 0, "upgrade: %d %r %r" % (rc, out, err))
        # Not handed over (its TLS state is the old worker's): closed
        # cleanly, with close_notify, after what it had asked.
        try:
            how, got, secs = wait_closed(c.sock, timeout=10)
        except ssl.SSLError as e:
            how, got, secs = "unclean: %r" % e, b"", 0
        t.check(how == "eof" and got == b"", "the TLS connection: %s "
                "after %.2f s, data %r" % (how, secs, got))
        c.close()
        # The plain one was handed over: it still answers.
        t.check_response(plain.request(Op.ECHO, b"plain"), "unix ECHO "
                         "after", Op.ECHO, value=b"plain")
        plain.close()
        with Client(srv.tls_client_addr) as n:
            t.check_response(n.request(Op.ECHO, b"new"), "a new TLS "
                             "connection", Op.ECHO, value=b"new")
        reap_old(srv)
    finally:
        stop_current(srv)


class Notify:
    """A fake systemd notification socket: each datagram with its
    sender's pid (SO_PASSCRED); descriptors sent (BARRIER=1) are closed,
    which is how systemd answers a barrier."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.msgs = []       # (pid, text, fds received)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop.is_set():
            try:
                data, anc, _, _ = self.sock.recvmsg(
                    4096, socket.CMSG_SPACE(12) + socket.CMSG_SPACE(64))
            except socket.timeout:
                continue
            pid, nfds = 0, 0
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and \
                        kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", cdata[:12])[0]
                elif level == socket.SOL_SOCKET and \
                        kind == socket.SCM_RIGHTS:
                    for i in range(len(cdata) // 4):
                        os.close(struct.unpack_from("i", cdata, 4 * i)[0])
                        nfds += 1
            self.msgs.append((pid, data.decode(errors="replace"), nfds))

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@t.case
def systemd_follows(t):
    d = tempfile.mkdtemp(prefix="msgd-notify-")
    nt = Notify(os.path.join(d, "notify"))
    os.environ["NOTIFY_SOCKET"] = nt.path
    os.environ["WATCHDOG_USEC"] = "1000000"
    try:
        srv = new_server(t)
    finally:
        del os.environ["NOTIFY_SOCKET"]
        del os.environ["WATCHDOG_USEC"]
    try:
        old = srv.pid
        t.check(poll(lambda: any(p == old and "READY=1" in m
                                 for p, m, _ in nt.msgs), timeout=5),
                "READY=1 from the first master: %r" % nt.msgs[-5:])
        start = len(nt.msgs)
        install(srv, ALT)
        rc, out, err, _ = upgrade(srv)
        t.check(rc == 0, "upgrade: %d %r %r" % (rc, out, err))
        new = master_pid(srv)
        msgs = nt.msgs[start:]
        main = [i for i, (p, m, _) in enumerate(msgs)
                if p == old and "MAINPID=%d\n" % new in m and
                "READY=1" in m]
        t.check(any(p == old and "RELOADING=1" in m for p, m, _ in msgs),
                "RELOADING=1 from the old master: %r" % msgs)
        t.check(len(main) == 1, "one MAINPID=%d with READY=1 from the old "
                "master %d: %r" % (new, old, msgs))
        t.check(any(p == old and m == "BARRIER=1" and n == 1
                    for p, m, n in msgs), "BARRIER=1 with its descriptor "
                "from the old master before it exits: %r" % msgs)
        early = [m for i, (p, m, _) in enumerate(msgs)
                 if p == new and (not main or i < main[0])]
        t.check(not early, "the new master spoke before it was the main "
                "process: %r" % early)
        # The watchdog goes on, from the new main process.
        t.check(poll(lambda: any(p == new and "WATCHDOG=1" in m
                                 for p, m, _ in nt.msgs[start:]),
                     timeout=5),
                "no WATCHDOG=1 from the new master %d: %r" % (
                    new, nt.msgs[start:]))
        reap_old(srv)
    finally:
        stop_current(srv)
        nt.close()
        shutil.rmtree(d, ignore_errors=True)


def commit_held_open(t, srv):
    """Upgrade srv to ALT while an idle TLS connection keeps the old
    worker draining for half of shutdown_timeout: returns once the old
    master has committed, with that connection and the new master's
    pid."""
    c = Client(srv.tls_client_addr)
    t.check_response(c.request(Op.PING), "TLS PING", Op.PING, value=b"PONG")
    install(srv, ALT)
    os.kill(srv.pid, signal.SIGUSR2)
    t.check(poll(lambda: "upgrade: committing" in srv.log(), timeout=30),
            "no commit: %r" % srv.log()[-500:])
    m = re.search(r"upgrade: \S+ started as pid (\d+)", srv.log())
    return c, int(m.group(1)) if m else 0


@t.case
def old_dies_after_commit(t):
    srv = new_server(t, shutdown_timeout=10, tls=True)
    try:
        c, new = commit_held_open(t, srv)
        os.kill(srv.pid, signal.SIGKILL)
        srv.wait(10)
        t.check(poll(lambda: master_pid(srv) == new, timeout=10),
                "the new master %d did not take over: pidfile %d" % (
                    new, master_pid(srv)))
        t.check("went away after the commit, without its final totals: "
                "taking over" in srv.log(), "the take-over is not logged")
        t.check(poll(srv.ping_ok, timeout=5), "PING after the take-over")
        rc, out, _, _ = status(srv)
        t.check(rc == 0 and "running msgd %s\n" % release(ALT) in out,
                "status after the take-over: %r" % out)
        c.close()
    finally:
        stop_current(srv)


@t.case
def new_dies_after_commit(t):
    srv = new_server(t, shutdown_timeout=10, tls=True)
    try:
        old_workers = sorted(p for p, s in children(srv.pid) if s != "Z")
        c, new = commit_held_open(t, srv)
        os.kill(new, signal.SIGKILL)
        t.check(poll(lambda: "the old binary starts its workers again" in
                     srv.log(), timeout=10), "no revert: %r" %
                srv.log()[-500:])
        t.check(master_pid(srv) == srv.pid, "pidfile %d, want the old "
                "master %d" % (master_pid(srv), srv.pid))
        ws = poll(lambda: [p for p, s in children(srv.pid)
                           if s != "Z" and p not in old_workers],
                  timeout=10, until=lambda w: len(w) >= 2)
        t.check(len(ws) >= 2, "new workers of the old master: %r" % ws)
        t.check(poll(srv.ping_ok, timeout=10), "PING after the revert")
        rc, out, _, _ = status(srv)
        t.check(rc == 0 and "running msgd %s" % release(MSGD) in out,
                "status after the revert: %r" % out)
        c.close()
        # And a later upgrade goes through.
        rc, out, err, _ = upgrade(srv)
        t.check(rc == 0, "the next upgrade: %d %r %r" % (rc, out, err))
        reap_old(srv)
    finally:
        stop_current(srv)


@t.case
def stop_during_commit(t):
    srv = new_server(t, shutdown_timeout=10, tls=True)
    try:
        c, new = commit_held_open(t, srv)
        rc, out, err, _ = ctl(srv, "reload", timeout=30)
        t.check(rc == 1 and "refused: a binary upgrade is in progress" in
                err, "reload during the upgrade: %d %r %r" % (rc, out, err))
        srv.send_signal(signal.SIGTERM)
        t.check(poll(lambda: "during the upgrade's commit" in srv.log(),
                     timeout=5), "SIGTERM during the commit not logged")
        c.close()      # the old worker's drain ends, the commit completes
        t.check(srv.wait(15) == 0, "the old master's exit: %r" %
                srv.returncode)
        t.check(poll(lambda: gone(new), timeout=15), "the new master %d "
                "still runs after the stop" % new)
        left = [f for f in ("msgd.sock", "stats", "msgd.pid")
                if os.path.exists(os.path.join(srv.dir, f))]
        t.check(not left, "left after the stop: %r" % left)
    finally:
        stop_current(srv)


def run_cases(name, names):
    """Run the cases named (in the order defined here) as suite name."""
    if not os.access(ALT, os.X_OK):
        print("%s: SKIP: %s is not built (make check builds it)" % (name,
                                                                    ALT))
        raise SystemExit(SKIP)
    t.name = name
    t.cases = [c for c in t.cases if c.__name__ in names]
    t.run()

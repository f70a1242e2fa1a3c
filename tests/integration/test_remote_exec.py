"""test_remote_exec: EXEC of allow-listed commands against a real msgd.

- Layout: key = exit status in decimal, value = 4-byte big-endian stdout
  length + stdout + stderr; stdin is passed (binary, larger than a pipe
  buffer); a name not in exec.commands -> NOT_FOUND; exec disabled ->
  DENIED; a command killed by a signal -> 128 + N.
- argv is literal: a probe script configured with arguments holding ";",
  "$(id)", backticks, spaces, "*", a newline, quotes and an empty string
  receives each as one argv element, unchanged (no shell anywhere).
- The environment is clean: /usr/bin/env sees exactly PATH and LANG (not
  the variable set in msgd's own environment).
- Descriptors: /bin/ls /proc/self/fd sees 0, 1, 2 and the one ls opens.
- exec.timeout kills the whole process group: `sh -c "sleep & sleep"` is
  answered TIMEOUT within exec.timeout + 1.5 s and no such sleep is left.
- exec.timeout counts from the turn that read the request: an EXEC sent
  0.9 s after its connection was accepted, into the worker's idle sleep,
  runs its 0.2 s command to the end (it was killed after 0.1 s, its
  deadline counted from before the sleep).
- exec.max_output caps stdout + stderr together: exactly the cap is OK, one
  byte more (split over both) is TOO_LARGE.
- exec.max_running = 2 with workers = 1: the 3rd concurrent command is
  answered BUSY; once they end, a command runs again.
- While 4 slow commands (sleep 2) run on the single worker, ~100 PINGs on a
  new connection are answered with p99 under 50 ms.
- Background processes a command leaves (quiet, or holding stdout) are
  killed with it; a unix client that disconnects mid-command takes it
  along, and the worker does not spin meanwhile; a client that only
  half-closes (SHUT_WR) still gets its answer (unix, TCP).
- A TCP client that closes while its command runs (exec.max_running = 1)
  takes it along within 1 s, and another EXEC gets the place at once.
- The command starts with no signal blocked or ignored; a program that
  cannot start (missing, not executable) is INTERNAL and does not keep an
  exec.max_running place.
- Stopping msgd leaves no command running; a command whose worker is
  SIGKILLed (while it runs, or the moment it is forked) does not outlive
  exec.timeout.
- 200 runs of /bin/true (4 connections, pipelined) leave no zombie child of
  the worker, and exec_started counts them.
- One epoll_wait batch holding both a command's events and its client's
  hang-up (the worker is SIGSTOPped while they queue up, the command being
  released through a FIFO, no sleeps): the command ending first and
  closing the connection, or the hang-up first and freeing the job while
  its pipe events follow, must not touch freed memory (the ASan run caught
  both before the fix).  The worker survives, keeps its pid and serves.
"""
import os
import shutil
import signal
import socket
import struct
import tempfile
import time

from harness import (Op, St, Suite, cmdline_procs, connect, encode,
                     is_exec_spawner, poll, proc_stat, read_frame,
                     wait_children)
# The worker's children but its EXEC spawner: the commands.
from harness import command_children as children
from statslib import totals

t = Suite("test_remote_exec")

TAG = "%d" % os.getpid()
# Set in msgd's environment (inherited from us): must not reach commands.
os.environ["MSGD_TEST_SECRET_%s" % TAG] = "leaked"

ODD_ARGS = ["a;b", "$(id)", "`id`", "two words", "*", "line1\nline2",
            "'single'", '"double"', "", "-n", "back\\slash", "tab\there",
            "$HOME", "x|y&z>w"]


def decode_exec(f):
    """(status, stdout, stderr) of an OK EXEC answer, or None if the value
    is not laid out as the protocol says."""
    if len(f.value) < 4 or not f.key.isdigit():
        return None
    olen = struct.unpack(">I", f.value[:4])[0]
    if olen > len(f.value) - 4:
        return None
    return int(f.key), f.value[4:4 + olen], f.value[4 + olen:]


def exec_server(t, commands, **exec_settings):
    ex = {"enabled": True, "commands": commands}
    ex.update(exec_settings)
    return t.server({"workers": 1, "exec": ex})


def worker_pid(srv):
    ws = [p for p, s in srv.wait_workers(1) if s != "Z"]
    return ws[0]


@t.case
def layout_and_stdin(t):
    srv = exec_server(t, {
        "both": ["/bin/sh", "-c", "printf out; printf err >&2; exit 7"],
        "cat": ["/bin/cat"],
        "nul": ["/bin/sh", "-c", "printf 'a\\000b'; printf 'e\\000' >&2"],
        "killed": ["/bin/sh", "-c", "kill -9 $$"],
        "term": ["/bin/sh", "-c", "kill -15 $$"],
    })
    with srv.client(timeout=10) as c:
        f = c.request(Op.EXEC, key=b"both", request_id=3)
        t.check_response(f, "EXEC both", Op.EXEC, rid=3, key=b"7",
                         value=b"\x00\x00\x00\x03outerr")
        data = os.urandom(200000)   # more than a pipe buffer
        f = c.request(Op.EXEC, data, b"cat", request_id=4)
        t.check_response(f, "EXEC cat with stdin", Op.EXEC, rid=4, key=b"0",
                         value=struct.pack(">I", len(data)) + data)
        f = c.request(Op.EXEC, key=b"cat", request_id=5)
        t.check_response(f, "EXEC cat, empty stdin", Op.EXEC, rid=5,
                         key=b"0", value=b"\x00\x00\x00\x00")
        f = c.request(Op.EXEC, key=b"nul", request_id=6)
        t.check_response(f, "EXEC with NUL bytes in the output", Op.EXEC,
                         rid=6, key=b"0", value=b"\x00\x00\x00\x03a\x00be\x00")
        f = c.request(Op.EXEC, key=b"killed", request_id=7)
        t.check_response(f, "EXEC of a command killed by SIGKILL", Op.EXEC,
                         rid=7, key=b"137", value=b"\x00\x00\x00\x00")
        f = c.request(Op.EXEC, key=b"term", request_id=8)
        t.check_response(f, "EXEC of a command killed by SIGTERM", Op.EXEC,
                         rid=8, key=b"143", value=b"\x00\x00\x00\x00")
        for name in (b"nope", b"", b"/bin/sh", b"cat ", b"ca"):
            f = c.request(Op.EXEC, b"in", name, request_id=9)
            t.check_response(f, "EXEC of %r (not listed)" % name, Op.EXEC,
                             St.NOT_FOUND, rid=9, value=True)
        # Pipelined behind an EXEC: answered in order.
        c.send(encode(Op.EXEC, b"xyz", b"cat", 10) + encode(Op.PING,
                                                            request_id=11))
        f = c.recv_frame()
        t.check_response(f, "pipelined EXEC", Op.EXEC, rid=10, key=b"0",
                         value=b"\x00\x00\x00\x03xyz")
        f = c.recv_frame()
        t.check_response(f, "PING after EXEC", Op.PING, rid=11,
                         value=b"PONG")

    off = t.server({"workers": 1})
    with off.client() as c:
        f = c.request(Op.EXEC, key=b"cat", request_id=1)
        t.check_response(f, "EXEC with exec disabled", Op.EXEC, St.DENIED,
                         rid=1, value=True)


@t.case
def literal_argv_clean_env_fds(t):
    srv = t.server(start=False)
    probe = os.path.join(srv.dir, "probe.sh")
    with open(probe, "w") as f:
        f.write('#!/bin/sh\nprintf "argc=%d\\n" "$#"\n'
                'for a in "$@"; do printf "[%s]\\n" "$a"; done\n')
    os.chmod(probe, 0o755)
    srv.settings.update({"workers": 1, "exec": {"enabled": True, "commands": {
        "probe": [probe] + ODD_ARGS,
        "env": ["/usr/bin/env"],
        "fds": ["/bin/ls", "/proc/self/fd"],
        "shfds": ["/bin/sh", "-c", "ls /proc/$$/fd"],
    }}})
    srv.start()
    with srv.client(timeout=10) as c:
        f = c.request(Op.EXEC, key=b"probe", request_id=1)
        r = decode_exec(f)
        want = ("argc=%d\n" % len(ODD_ARGS) +
                "".join("[%s]\n" % a for a in ODD_ARGS)).encode()
        if t.check(f.status == St.OK and r is not None,
                   "EXEC probe: %r" % f):
            t.check(r == (0, want, b""), "the probe got its arguments "
                    "literally:\n%r\nwant\n%r" % (r, (0, want, b"")))

        f = c.request(Op.EXEC, key=b"env", request_id=2)
        r = decode_exec(f)
        if t.check(f.status == St.OK and r is not None and r[0] == 0,
                   "EXEC env: %r" % f):
            lines = r[1].decode(errors="replace").splitlines()
            names = sorted(l.split("=", 1)[0] for l in lines)
            t.check(names == ["LANG", "PATH"], "the command's environment "
                    "is PATH and LANG only: %r" % lines)
            t.check(not any("leaked" in l for l in lines),
                    "msgd's environment does not reach commands: %r" % lines)

        f = c.request(Op.EXEC, key=b"fds", request_id=3)
        r = decode_exec(f)
        if t.check(f.status == St.OK and r is not None and r[0] == 0,
                   "EXEC ls /proc/self/fd: %r" % f):
            fds = sorted(int(x) for x in r[1].split())
            # ls opens the directory itself: one more than 0, 1, 2.
            t.check(fds[:3] == [0, 1, 2] and len(fds) <= 4,
                    "the command inherits only 0, 1, 2 (ls adds one): %r" %
                    fds)
        f = c.request(Op.EXEC, key=b"shfds", request_id=4)
        r = decode_exec(f)
        if t.check(f.status == St.OK and r is not None and r[0] == 0,
                   "EXEC sh -c 'ls /proc/$$/fd': %r" % f):
            fds = sorted(int(x) for x in r[1].split())
            t.check(fds == [0, 1, 2], "the shell has only 0, 1, 2: %r" % fds)


@t.case
def timeout_kills_group(t):
    marker = "300.%s" % TAG
    srv = exec_server(t, {"fork": ["/bin/sh", "-c",
                                   "sleep %s & sleep %s" % (marker, marker)],
                          "cat": ["/bin/cat"]}, timeout=1)
    worker = worker_pid(srv)
    with srv.client(timeout=10) as c:
        t0 = time.monotonic()
        c.send_frame(Op.EXEC, key=b"fork", request_id=1)
        # Both sleeps run before the timeout (the test is about them).
        running = poll(lambda: cmdline_procs(marker), timeout=0.9,
                       step=0.01, until=lambda procs: len(procs) >= 2)
        f = c.recv_frame(timeout=5)
        took = time.monotonic() - t0
        t.check(len(running) == 2, "both sleeps ran: %r" % running)
        t.check_response(f, "EXEC past exec.timeout", Op.EXEC, St.TIMEOUT,
                         rid=1, value=True)
        t.check(took < 1 + 1.5, "TIMEOUT after %.2f s, want within "
                "exec.timeout + 1.5 s" % took)
        t.check(took >= 0.9, "TIMEOUT after %.2f s, before exec.timeout "
                "(1 s)" % took)
        left = gone_within(marker, 2)
        t.check(not left, "processes of the timed-out command still "
                "running: %r" % left)
        for pid in left:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        # The worker reaps the killed command on a turn of its loop,
        # which may come just after the answer (bounded wait).
        zombies = poll(lambda: [p for p, s in children(worker) if s == "Z"],
                       timeout=2, until=lambda z: not z)
        t.check(not zombies, "zombie children of the worker after 2 s: %r"
                % zombies)
        f = c.request(Op.EXEC, b"again", b"cat", request_id=2)
        t.check_response(f, "EXEC after a timeout", Op.EXEC, rid=2, key=b"0",
                         value=b"\x00\x00\x00\x05again")
    tot = totals(srv)
    t.check(tot["exec_timeouts"] == 1, "exec_timeouts = %d, want 1" %
            tot["exec_timeouts"])


@t.case
def timeout_from_arrival(t):
    """exec.timeout counts from the turn that read the request, not from
    the worker's last turn before it slept: each EXEC is sent 0.9 s after
    its connection was accepted (the worker's last turn; idle, it sleeps up
    to a second), and a command of 0.2 s must not be TIMEOUT with
    exec.timeout = 1 s.  Before the fix its deadline was 0.1 s away."""
    srv = exec_server(t, {"nap": ["/bin/sleep", "0.2"]}, timeout=1)
    for i in range(1, 4):
        with srv.client(timeout=10) as c:
            time.sleep(0.9)
            t0 = time.monotonic()
            f = c.request(Op.EXEC, key=b"nap", request_id=i)
            took = time.monotonic() - t0
            t.check_response(f, "EXEC %d of a 0.2 s command, sent 0.9 s "
                             "after connecting (took %.2f s)" % (i, took),
                             Op.EXEC, rid=i, key=b"0", value=b"\x00" * 4)
    tot = totals(srv)
    t.check(tot["exec_timeouts"] == 0, "exec_timeouts = %d, want 0" %
            tot["exec_timeouts"])


@t.case
def output_cap(t):
    cap = 4096
    srv = exec_server(t, {
        "exact": ["/bin/sh", "-c", "head -c %d /dev/zero" % cap],
        "over": ["/bin/sh", "-c", "head -c %d /dev/zero" % (cap + 1)],
        "split": ["/bin/sh", "-c", "head -c 2048 /dev/zero; "
                  "head -c 2049 /dev/zero >&2"],
        "flood": ["/bin/sh", "-c", "cat /dev/zero"],
        "cat": ["/bin/cat"],
    }, max_output=cap)
    with srv.client(timeout=10) as c:
        f = c.request(Op.EXEC, key=b"exact", request_id=1)
        t.check_response(f, "EXEC with output exactly exec.max_output",
                         Op.EXEC, rid=1, key=b"0",
                         value=struct.pack(">I", cap) + bytes(cap))
        for i, name in enumerate((b"over", b"split", b"flood")):
            t0 = time.monotonic()
            f = c.request(Op.EXEC, key=name, request_id=2 + i)
            t.check_response(f, "EXEC %s over exec.max_output" % name,
                             Op.EXEC, St.TOO_LARGE, rid=2 + i, value=True)
            t.check(time.monotonic() - t0 < 5, "TOO_LARGE came at once")
        f = c.request(Op.EXEC, b"ok", b"cat", request_id=9)
        t.check_response(f, "connection kept", Op.EXEC, rid=9, key=b"0",
                         value=b"\x00\x00\x00\x02ok")
    tot = totals(srv)
    t.check(tot["exec_too_large"] == 3, "exec_too_large = %d, want 3" %
            tot["exec_too_large"])


@t.case
def max_running_busy(t):
    marker = "1.%s1" % TAG
    srv = exec_server(t, {"slow": ["/bin/sleep", marker],
                          "cat": ["/bin/cat"]}, max_running=2, timeout=20)
    worker = worker_pid(srv)
    conns = [srv.client(timeout=10) for _ in range(3)]
    try:
        for i, c in enumerate(conns[:2]):
            c.send_frame(Op.EXEC, key=b"slow", request_id=100 + i)
        kids = wait_children(worker, 2, at_least=True, kids=children)
        t.check(len(kids) == 2, "two commands running: %r" % kids)
        f = conns[2].request(Op.EXEC, b"x", b"cat", request_id=7)
        t.check_response(f, "3rd concurrent EXEC, max_running = 2",
                         Op.EXEC, St.BUSY, rid=7, value=True)
        f = conns[2].request(Op.PING, request_id=8)
        t.check_response(f, "connection kept after BUSY", Op.PING, rid=8,
                         value=b"PONG")
        for i, c in enumerate(conns[:2]):
            f = c.recv_frame(timeout=10)
            t.check_response(f, "slow command %d" % i, Op.EXEC,
                             rid=100 + i, key=b"0",
                             value=b"\x00\x00\x00\x00")
        f = conns[2].request(Op.EXEC, b"x", b"cat", request_id=9)
        t.check_response(f, "EXEC once the others ended", Op.EXEC, rid=9,
                         key=b"0", value=b"\x00\x00\x00\x01x")
    finally:
        for c in conns:
            c.close()


@t.case
def ping_latency_while_running(t):
    marker = "2.%s2" % TAG
    srv = exec_server(t, {"slow": ["/bin/sleep", marker]}, max_running=4,
                      timeout=20)
    worker = worker_pid(srv)
    conns = [srv.client(timeout=10) for _ in range(4)]
    try:
        for i, c in enumerate(conns):
            c.send_frame(Op.EXEC, key=b"slow", request_id=200 + i)
        kids = wait_children(worker, 4, at_least=True, kids=children)
        t.check(len(kids) == 4, "four commands running: %r" % kids)
        lat = []
        t0 = time.monotonic()
        with srv.client() as p:     # a new connection, same (only) worker
            for i in range(100):
                a = time.monotonic()
                f = p.request(Op.PING, request_id=i + 1)
                lat.append(time.monotonic() - a)
                if f.status != St.OK:
                    t.check(False, "PING %d: %r" % (i, f))
                    break
        span = time.monotonic() - t0
        still = [p for p, s in children(worker) if s != "Z"]
        t.check(len(still) == 4, "the commands ran during all the PINGs "
                "(%.2f s): %r" % (span, still))
        lat.sort()
        p99 = lat[int(len(lat) * 0.99) - 1]
        t.check(p99 < 0.050, "PING p99 %.1f ms while 4 commands run, want "
                "under 50 ms (max %.1f ms)" % (p99 * 1000, lat[-1] * 1000))
        for i, c in enumerate(conns):
            f = c.recv_frame(timeout=10)
            t.check_response(f, "slow command %d" % i, Op.EXEC,
                             rid=200 + i, key=b"0",
                             value=b"\x00\x00\x00\x00")
    finally:
        for c in conns:
            c.close()


@t.case
def no_leftovers(t):
    """Background processes die with their command."""
    m1, m2 = ("301.%s" % TAG, "302.%s" % TAG)
    srv = exec_server(t, {
        "bg-quiet": ["/bin/sh", "-c", "sleep %s >/dev/null 2>&1 &" % m1],
        "bg-loud": ["/bin/sh", "-c", "sleep %s & exit 3" % m2],
    }, timeout=20)
    worker = worker_pid(srv)
    with srv.client(timeout=10) as c:
        t0 = time.monotonic()
        f = c.request(Op.EXEC, key=b"bg-quiet", request_id=1)
        t.check_response(f, "EXEC leaving a quiet background process",
                         Op.EXEC, rid=1, key=b"0", value=b"\x00" * 4)
        f = c.request(Op.EXEC, key=b"bg-loud", request_id=2)
        t.check_response(f, "EXEC leaving a background process holding "
                         "stdout", Op.EXEC, rid=2, key=b"3",
                         value=b"\x00" * 4)
        t.check(time.monotonic() - t0 < 5, "answered without waiting for "
                "the background processes (%.2f s)" % (
                    time.monotonic() - t0))
    poll(lambda: not (cmdline_procs(m1) or cmdline_procs(m2) or
                      children(worker)), timeout=2)
    for m in (m1, m2):
        left = cmdline_procs(m)
        t.check(not left, "sleep %s still running: %r" % (m, left))
        kill_all(left)
    t.check(not children(worker), "children of the worker left (zombies "
            "included): %r" % children(worker))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def kill_all(pids):
    for pid in pids:
        try:
            os.kill(pid, 9)
        except OSError:
            pass


@t.case
def client_disconnect(t):
    """A unix client that goes away while its command runs takes the
    command with it (exec_detach), and the worker does not spin
    meanwhile."""
    mu, mt = ("4.%s3" % TAG, "4.%s4" % TAG)
    srv = t.server({"workers": 1, "exec": {
        "enabled": True, "timeout": 20,
        "commands": {"slow-u": ["/bin/sleep", mu],
                     "slow-t": ["/bin/sleep", mt]}}}, tcp=True)
    worker = worker_pid(srv)
    cu = srv.client(timeout=10)
    ct = srv.client(timeout=10, addr=srv.tcp_addr)
    cu.send_frame(Op.EXEC, key=b"slow-u", request_id=1)
    ct.send_frame(Op.EXEC, key=b"slow-t", request_id=2)
    kids = wait_children(worker, 2, at_least=True, kids=children)
    t.check(len(kids) == 2, "both commands run: %r" % kids)
    cu.close()
    ct.close()
    # Sample the worker's state meanwhile: a worker waiting in epoll_wait
    # is S; one that spins is R (running or runnable, so a busy machine
    # does not hide it).
    cpu0, t0 = cpu_seconds(worker), time.monotonic()
    samples = running = 0

    def sample():
        """One sample; true once both commands are gone (every 10th)."""
        nonlocal samples, running
        st = proc_stat(worker)
        samples += 1
        running += st is not None and st[0] == "R"
        return samples % 10 == 0 and not (cmdline_procs(mu) or
                                          cmdline_procs(mt))
    poll(sample, timeout=1.5, step=0.01)
    busy = (cpu_seconds(worker) - cpu0) / (time.monotonic() - t0)
    left_u, left_t = cmdline_procs(mu), cmdline_procs(mt)
    # Was a bug (fixed in b3cdbb0): while a connection waited for its EXEC
    # answer, conn_event ignored the EPOLLHUP a unix peer's close raises,
    # so the command ran on to its end or exec.timeout although
    # exec_detach exists to kill it.  (On a unix socket a full close --
    # EPOLLHUP -- differs from a half-close, which must still get its
    # answer: see half_close below.  Over TCP a close and a half-close
    # look the same, a FIN; see tcp_close below.)
    t.check(not left_u, "client gone (unix): its command still runs 1.5 s "
            "later: %r" % left_u)
    # Was a bug (fixed in b3cdbb0): EPOLLHUP is level-triggered and
    # reported whatever the interest set; ignored while the connection
    # waited, it made the worker spin in epoll_wait (a third to half a CPU
    # here) until the command ended.
    t.check(running < samples / 2, "worker running (state R) in %d of %d "
            "samples, %.0f%% of a CPU, while it only waits on a command "
            "whose client left" % (running, samples, busy * 100))
    kill_all(left_u + left_t)
    f = None
    with srv.client() as c:
        f = c.request(Op.PING, request_id=9)
    t.check_response(f, "worker still serves", Op.PING, rid=9,
                     value=b"PONG")


@t.case
def half_close(t):
    """A client that sends EXEC and shuts down its writing side still gets
    the answer (unix and TCP)."""
    srv = t.server({"workers": 1, "exec": {
        "enabled": True, "commands": {"slow": ["/bin/sh", "-c",
                                               "sleep 0.3; cat"]}}},
                   tcp=True)
    for addr, what in srv.transports():
        s = connect(addr, 10)
        try:
            s.sendall(encode(Op.EXEC, b"half", b"slow", 5))
            s.shutdown(socket.SHUT_WR)
            f = read_frame(s, timeout=10)
            t.check_response(f, "EXEC answer after SHUT_WR (%s)" % what,
                             Op.EXEC, rid=5, key=b"0",
                             value=b"\x00\x00\x00\x04half")
        except (OSError, EOFError, TimeoutError) as e:
            t.check(False, "EXEC after SHUT_WR (%s): %r" % (what, e))
        finally:
            s.close()


@t.case
def tcp_close(t):
    """A TCP client that closes while its command runs takes it along at
    once, and its exec.max_running place is free for the next EXEC."""
    marker = "5.%s5" % TAG
    srv = t.server({"workers": 1, "exec": {
        "enabled": True, "timeout": 30, "max_running": 1,
        "commands": {"slow": ["/bin/sleep", marker], "cat": ["/bin/cat"]}}},
        tcp=True)
    worker = worker_pid(srv)
    for round in range(3):
        c = srv.client(timeout=10, addr=srv.tcp_addr)
        c.send_frame(Op.EXEC, key=b"slow", request_id=1)
        t.check(poll(lambda: cmdline_procs(marker), timeout=5),
                "round %d: the command runs" % round)
        c.close()
        # Was a bug: over TCP a close arrives as a FIN, like a half-close,
        # and the command ran on until exec.timeout (30 s here), holding
        # the only exec.max_running place.
        left = gone_within(marker, 1.0)
        t.check(not left, "round %d: TCP client gone, its command still "
                "runs 1 s later: %r" % (round, left))
        kill_all(left)
        with srv.client(timeout=10, addr=srv.tcp_addr) as c2:
            f = c2.request(Op.EXEC, b"next", b"cat", request_id=2)
        t.check_response(f, "round %d: the next EXEC takes the place" %
                         round, Op.EXEC, rid=2, key=b"0",
                         value=b"\x00\x00\x00\x04next")
    t.check(worker_pid(srv) == worker, "same worker")


@t.case
def spawn_state(t):
    """Signals reset for the command; a program that cannot start is
    INTERNAL and does not hold an exec.max_running place."""
    srv = t.server(start=False)
    noexec = os.path.join(srv.dir, "noexec.sh")
    with open(noexec, "w") as f:
        f.write("#!/bin/sh\necho hi\n")
    os.chmod(noexec, 0o644)
    srv.settings.update({"workers": 1, "exec": {
        "enabled": True, "max_running": 1, "commands": {
            "sig": ["/bin/grep", "^Sig", "/proc/self/status"],
            "missing": [os.path.join(srv.dir, "no-such-program")],
            "noexec": [noexec],
            "cat": ["/bin/cat"]}}})
    srv.start()
    with srv.client(timeout=10) as c:
        f = c.request(Op.EXEC, key=b"sig", request_id=1)
        r = decode_exec(f)
        if t.check(f.status == St.OK and r is not None and r[0] == 0,
                   "EXEC grep Sig: %r" % f):
            sig = dict(l.split(":\t") for l in r[1].decode().splitlines())
            # Signals 1..31 (bits 0..30): none blocked, none ignored (the
            # worker ignores SIGPIPE, SIGINT, SIGHUP...; commands must not).
            t.check(int(sig.get("SigBlk", "1"), 16) == 0,
                    "no signal blocked in the command: %r" % sig)
            t.check(int(sig.get("SigIgn", "1"), 16) & 0x7FFFFFFF == 0,
                    "no standard signal ignored in the command: %r" % sig)
        for i in range(3):
            for name in (b"missing", b"noexec"):
                f = c.request(Op.EXEC, b"x", name, request_id=10 + i)
                t.check_response(f, "EXEC of %s" % name, Op.EXEC,
                                 St.INTERNAL, rid=10 + i, value=True)
        f = c.request(Op.EXEC, b"ok", b"cat", request_id=20)
        t.check_response(f, "EXEC after failed starts (max_running = 1)",
                         Op.EXEC, rid=20, key=b"0",
                         value=b"\x00\x00\x00\x02ok")


def kids_of(pid):
    """Children of pid, straight from the kernel's list (fast), or from a
    /proc scan."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()
                    if not is_exec_spawner(int(x))]
    except OSError:
        return [p for p, s in children(pid)]


def serving_worker(srv):
    """The one worker once it answers a PING (which also makes it not
    "young": a later death respawns it at once)."""
    def serving():
        ws = [p for p, s in srv.workers() if s != "Z"]
        if len(ws) == 1 and srv.ping_ok():
            ws2 = [p for p, s in srv.workers() if s != "Z"]
            if ws2 == ws:
                return ws[0]
        return None
    pid = poll(serving, timeout=5, step=0.01)
    if pid is None:
        raise RuntimeError("no serving worker: %r" % srv.workers())
    return pid


def gone_within(marker, secs):
    """Poll until no process has marker in its argv; returns those left."""
    return poll(lambda: cmdline_procs(marker), timeout=secs,
                until=lambda left: not left)


@t.case
def worker_crash(t):
    """A command whose worker is SIGKILLed does not outlive exec.timeout:
    neither a running one nor one whose worker dies while starting it."""
    mk = "30.%s6" % TAG
    srv = t.server({"workers": 1, "exec": {
        "enabled": True, "timeout": 1,
        "commands": {"slow": ["/bin/sleep", mk]}}}, health=False)
    # Settled: the command runs and the worker is back in its loop (it
    # answered a PING after the command exec'd).
    worker = serving_worker(srv)
    with srv.client(timeout=10) as c:
        c.send_frame(Op.EXEC, key=b"slow", request_id=1)
        poll(lambda: cmdline_procs(mk), timeout=5, step=0.01)
        t.check(srv.ping_ok(), "PING while the command runs")
        os.kill(worker, 9)
        left = gone_within(mk, 2.5)
        # Was a bug (fixed in b3cdbb0): the command, in its own session,
        # ran on past exec.timeout once its worker was gone.
        t.check(not left, "worker SIGKILLed while its command runs: the "
                "command still runs 2.5 s later, past exec.timeout (1 s): "
                "%r" % left)
        kill_all(left)
    # The moment the command is forked (the worker is inside posix_spawn).
    for rnd in range(3):
        worker = serving_worker(srv)
        with srv.client(timeout=10) as c:
            c.send_frame(Op.EXEC, key=b"slow", request_id=2)
            # No pause between looks: the kill must come while the worker
            # is inside posix_spawn.
            poll(lambda: kids_of(worker), timeout=5, step=0)
            os.kill(worker, 9)
            left = gone_within(mk, 2.5)
        # Was a bug (fixed in 6864fd3): the worker records the command's
        # process group for the master only after posix_spawn returns;
        # killed before that, the command was adopted by the master but
        # never killed and ran past exec.timeout to its own end (every
        # round, before the fix).
        t.check(not left, "worker SIGKILLed while starting its command "
                "(round %d): the command still runs 2.5 s later, past "
                "exec.timeout (1 s): %r" % (rnd, left))
        kill_all(left)
        if left:
            break


@t.case
def server_stop(t):
    """No command outlives msgd's stop."""
    ms = "30.%s5" % TAG
    srv = t.server({"workers": 1, "shutdown_timeout": 1, "exec": {
        "enabled": True, "timeout": 20,
        "commands": {"slow": ["/bin/sleep", ms]}}})
    worker = worker_pid(srv)
    c = srv.client(timeout=10)
    try:
        c.send_frame(Op.EXEC, key=b"slow", request_id=2)
        wait_children(worker, 1, at_least=True, kids=children)
        t0 = time.monotonic()
        srv.stop()
        took = time.monotonic() - t0
        t.check(srv.returncode == 0 and took < 5, "msgd stopped with a "
                "command running: exit %r after %.1f s" % (
                    srv.returncode, took))
        left = gone_within(ms, 2)
        t.check(not left, "a command outlived msgd's stop: %r" % left)
        kill_all(left)
    finally:
        c.close()


@t.case
def no_zombies(t):
    srv = exec_server(t, {"run-true": ["/bin/true"]}, max_running=8)
    worker = worker_pid(srv)
    per, nconn = 50, 4
    socks = [connect(srv.sock_path, 10) for _ in range(nconn)]
    try:
        for s in socks:
            s.sendall(b"".join(encode(Op.EXEC, key=b"run-true",
                                      request_id=i) for i in range(per)))
        ok = 0
        for s in socks:
            for i in range(per):
                f = read_frame(s, timeout=20)
                if f.status == St.OK and f.request_id == i and \
                        f.key == b"0" and f.value == b"\x00" * 4:
                    ok += 1
        t.check(ok == per * nconn, "%d of %d EXEC /bin/true answered OK" % (
            ok, per * nconn))
    finally:
        for s in socks:
            s.close()
    # Each answer is sent after its command was reaped: no zombie now.
    kids = children(worker)
    t.check(not [p for p, s in kids if s == "Z"],
            "zombie children of the worker after 200 runs: %r" % kids)
    t.check(not kids, "children of the worker left: %r" % kids)
    tot = totals(srv)
    t.check(tot["exec_started"] == per * nconn, "exec_started = %d" %
            tot["exec_started"])


def release_fifo(path, timeout=5.0):
    """Write a line to the FIFO once its reader has it open (bounded)."""
    def opened():
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            return None
    fd = poll(opened, timeout=timeout, step=0.01,
              until=lambda fd: fd is not None)
    if fd is None:
        return False
    try:
        os.write(fd, b"go\n")
    finally:
        os.close(fd)
    return True


def one_batch(t, srv, worker, before_close, after_close):
    """SIGSTOP the worker, queue events, SIGCONT: one batch sees them all.
    Then the worker must be the same process and serve."""
    os.kill(worker, signal.SIGSTOP)
    try:
        t.check(poll(lambda: (proc_stat(worker) or "T")[0] == "T"),
                "worker %d did not stop" % worker)
        before_close()
        after_close()
    finally:
        os.kill(worker, signal.SIGCONT)
    t.check(srv.ping_ok(timeout=5), "PING after the batch")
    ws = [p for p, s in srv.workers() if s != "Z"]
    log = srv.log()
    t.check(ws == [worker] and "killed by signal" not in log and
            "AddressSanitizer" not in log, "the worker died handling the "
            "batch: workers now %r (was %d); %r" % (
                ws, worker, [l for l in log.splitlines()
                             if "SUMMARY" in l or "killed by" in l]))


@t.case
def batch_done_then_hangup(t):
    """[the command's pipes + pidfd, its client's EPOLLHUP]: finishing the
    command answers and closes the connection, whose own event follows."""
    d = tempfile.mkdtemp(prefix="msgd-batch-")
    try:
        fifo = os.path.join(d, "go")
        os.mkfifo(fifo)
        script = "read x < %s" % fifo
        srv = t.server({"workers": 1, "exec": {
            "enabled": True, "commands": {"wait": ["/bin/sh", "-c",
                                                   script]}}})
        worker = worker_pid(srv)
        c = connect(srv.sock_path, 10)
        try:
            c.sendall(encode(Op.EXEC, key=b"wait", request_id=1))
            kids = wait_children(worker, 1, at_least=True, kids=children)
            t.check(len(kids) == 1, "the command runs: %r" % kids)

            def command_ends():
                t.check(release_fifo(fifo), "the command never opened "
                        "its FIFO")
                # A zombie: it exited, the stopped worker has not reaped.
                t.check(poll(lambda: [p for p, s in children(worker)
                                            if s == "Z"]),
                        "the command did not exit")
            one_batch(t, srv, worker, command_ends, c.close)
        finally:
            c.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)


@t.case
def batch_hangup_then_pipes(t):
    """[the command's pidfd, its client's EPOLLHUP, the command's pipes]:
    the leader exits while a descendant in its own session holds stdout
    (the worker reaps it in the batch, and waits up to 100 ms for the
    pipes); the hang-up detaches and frees the job, its pipe events follow
    in the batch."""
    d = tempfile.mkdtemp(prefix="msgd-batch-")
    try:
        fifo, ready, leave = (os.path.join(d, n) for n in
                              ("go", "ready", "leave"))
        for f in (fifo, ready, leave):
            os.mkfifo(f)
        # The leader exits when told, once the descendant is in its own
        # session (the leader's reaping kills its process group).
        inner = "echo > %s; read x < %s; echo late" % (ready, fifo)
        srv = t.server({"workers": 1, "exec": {
            "enabled": True, "commands": {"fork": [
                "/bin/sh", "-c", "setsid /bin/sh -c '%s' & read y < %s; "
                "read z < %s" % (inner, ready, leave)]}}})
        worker = worker_pid(srv)
        c = connect(srv.sock_path, 10)
        try:
            c.sendall(encode(Op.EXEC, key=b"fork", request_id=1))
            held = poll(lambda: cmdline_procs(inner))
            t.check(held, "the descendant holding stdout did not start")

            def leader_exits():
                t.check(release_fifo(leave), "the leader never opened "
                        "its FIFO")
                # A zombie: it exited, the stopped worker has not reaped.
                t.check(poll(lambda: [p for p, s in children(worker)
                                      if s == "Z"]),
                        "the command's leader did not exit")
                c.close()

            def pipes_end():
                # The master may have killed it first (it is the master's
                # child now, and no worker's): its pipes end either way.
                release_fifo(fifo, timeout=2)
                t.check(poll(lambda: not cmdline_procs(inner)),
                        "the descendant did not exit")
            one_batch(t, srv, worker, leader_exits, pipes_end)
        finally:
            c.close()
            kill_all(cmdline_procs(inner))
    finally:
        shutil.rmtree(d, ignore_errors=True)


@t.case
def escaped_holder(t):
    """A command that exits leaving a process in a session of its own that
    holds its stdout: answered with its status and output within 100 ms
    of its exit (it waited for exec.timeout and was answered TIMEOUT), and
    the process, which comes to the master, is killed within a second (it
    ran on until a worker exited)."""
    mk = "37.%s" % TAG
    # It exits once the sleep has left its session (else the group's kill
    # could take the sleep first).
    script = ("setsid /bin/sleep %s & i=0; until [ $(cut -d' ' -f6 "
              "/proc/$!/stat) = $! ] || [ $i = 500 ]; do sleep 0.01; "
              "i=$((i+1)); done; echo started" % mk)
    srv = exec_server(t, {"escape": ["/bin/sh", "-c", script]}, timeout=5)
    try:
        with srv.client(timeout=10) as c:
            for i in range(1, 3):
                t0 = time.monotonic()
                f = c.request(Op.EXEC, key=b"escape", request_id=i)
                took = time.monotonic() - t0
                t.check_response(f, "EXEC %d leaving a holder of its stdout "
                                 "(took %.2f s)" % (i, took), Op.EXEC, rid=i,
                                 key=b"0", value=b"\x00\x00\x00\x08started\n")
                t.check(took < 4, "answered after %.2f s, want well within "
                        "exec.timeout (5 s)" % took)
        left = gone_within(mk, 3)
        t.check(not left, "the escaped sleeps still run 3 s after their "
                "commands: %r" % left)
        t.check("left behind by a command" in srv.log(),
                "the master did not log the processes it killed")
    finally:
        kill_all(cmdline_procs(mk))
    tot = totals(srv)
    t.check(tot["exec_timeouts"] == 0, "exec_timeouts = %d, want 0" %
            tot["exec_timeouts"])


t.run()

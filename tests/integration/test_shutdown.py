"""test_shutdown: graceful stop.

SIGTERM while 50 clients (over unix, TCP and TLS) have requests in flight
(each accepted, then all pipeline 20 ECHOs, all written before the signal):
every client receives all 20 answers and then EOF, the master exits 0, the
unix socket file is removed, no worker outlives it.  A client stalled
mid-frame does not hold the stop past shutdown_timeout + 2 s
(shutdown_timeout = 1), and the other (idle) clients of that server are
closed.  SIGINT stops like SIGTERM.  A SIGTERM that reaches a worker before
it has set up its signal handling (the window is widened with strace fault
injection; skipped without a working strace) must still be a graceful stop,
not a worker killed by the signal.
"""
import os
import shutil
import signal
import subprocess
import threading
import time

from harness import (Client, Op, Suite, children, encode, parse_frames,
                     poll, wait_closed)

t = Suite("test_shutdown")

NCLIENTS = 50
NREQ = 20


def check_stopped(t, srv, what, rc, secs, limit):
    t.check(rc == 0, "%s: master exit status %r, want 0" % (what, rc))
    t.check(secs <= limit, "%s: master took %.2f s to exit (limit %.1f s)" %
            (what, secs, limit))
    t.check(not os.path.exists(srv.sock_path),
            "%s: unix socket %s left behind" % (what, srv.sock_path))
    left = srv.wait_orphans_gone(3.0)
    t.check(not left, "%s: workers %r still running after the master "
            "exited" % (what, left))


@t.case
def sigterm_in_flight(t):
    srv = t.server({"workers": 2, "shutdown_timeout": 5}, tcp=True,
                   tls=True)
    addrs = [a for a, _ in srv.transports()]
    ready = threading.Barrier(NCLIENTS + 1, timeout=30)
    written = threading.Barrier(NCLIENTS + 1, timeout=30)
    results = [None] * NCLIENTS

    def one(n):
        addr = addrs[n % len(addrs)]
        try:
            with Client(addr, timeout=15) as c:
                f = c.request(Op.PING, request_id=1)  # accepted by a worker
                assert f.value == b"PONG", f
                ready.wait()
                vals = [b"%d/%d " % (n, i) + b"z" * (i * 400) for i in
                        range(NREQ)]
                c.send(b"".join(encode(Op.ECHO, v, request_id=100 + i)
                                for i, v in enumerate(vals)))
                written.wait()
                how, data, _ = c.wait_closed(15)
                frames, rest = parse_frames(data)
                got = [(f.request_id, f.value, f.status) for f in frames]
                want = [(100 + i, v, 0) for i, v in enumerate(vals)]
                results[n] = (how, got == want, len(frames), rest)
        except Exception as e:
            results[n] = ("error %r" % e, False, 0, b"")

    threads = [threading.Thread(target=one, args=(n,), daemon=True)
               for n in range(NCLIENTS)]
    for th in threads:
        th.start()
    ready.wait()
    written.wait()
    t0 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait(15)
    secs = time.monotonic() - t0
    for th in threads:
        th.join(20)
    bad = [(n, r) for n, r in enumerate(results)
           if r is None or r[0] not in ("eof",) or not r[1]]
    t.check(not bad, "%d of %d clients did not get all %d answers then EOF:"
            " %s" % (len(bad), NCLIENTS, NREQ, bad[:3]))
    check_stopped(t, srv, "SIGTERM with requests in flight", rc, secs, 10.0)


@t.case
def stalled_client_does_not_hold_stop(t):
    srv = t.server({"workers": 1, "shutdown_timeout": 1,
                    "read_timeout": 60, "idle_timeout": 60})
    stalled = srv.client()
    idle = srv.client()
    try:
        f = idle.request(Op.PING, request_id=1)
        t.check_response(f, "idle client PING", Op.PING, rid=1,
                         value=b"PONG")
        stalled.send(encode(Op.ECHO, b"never finished", request_id=2)[:8])
        with srv.client() as c:  # the worker has accepted both by now
            c.request(Op.PING, request_id=3)
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait(10)
        secs = time.monotonic() - t0
        check_stopped(t, srv, "stop with a stalled client", rc, secs, 3.0)
        for c, what in ((stalled, "stalled client"), (idle, "idle client")):
            how, data, _ = wait_closed(c.sock, 3)
            t.check(how in ("eof", "reset") and data == b"",
                    "%s after the stop: %s, %r" % (what, how, data))
    finally:
        stalled.close()
        idle.close()


@t.case
def sigint(t):
    srv = t.server()
    with srv.client() as c:
        t.check(c.request(Op.PING).value == b"PONG", "PING before SIGINT")
    t0 = time.monotonic()
    srv.send_signal(signal.SIGINT)
    rc = srv.wait(10)
    check_stopped(t, srv, "SIGINT", rc, time.monotonic() - t0, 5.0)


def strace_works():
    strace = shutil.which("strace")
    if not strace:
        return None
    try:
        ok = subprocess.run([strace, "-f", "-o", "/dev/null", "true"],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return strace if ok.returncode == 0 else None


@t.case
def sigterm_while_workers_start(t):
    strace = strace_works()
    if not strace:
        print("SKIP: no working strace (fault injection widens the window)")
        return
    srv = t.server({"workers": 2}, start=False, health=False)
    srv.write_conf()
    # Every rt_sigprocmask returns 0.3 s late, so a worker takes a while to
    # set up its signal handling; the stop is sent as soon as one exists.
    # LeakSanitizer cannot run under ptrace: off for this run only.
    srv.spawn(["env", "ASAN_OPTIONS=detect_leaks=0", strace, "-f", "-o",
               "/dev/null", "-e",
               "trace=rt_sigprocmask", "-e",
               "inject=rt_sigprocmask:delay_exit=300000"])

    def forked():
        """msgd (strace's child) once it has forked a worker."""
        top = children(srv.pid)
        return top[0][0] if top and children(top[0][0]) else None
    master = poll(forked, timeout=10, step=0.002)
    if not t.check(master is not None, "msgd under strace never forked a "
                   "worker within 10 s"):
        return
    os.kill(master, signal.SIGTERM)
    rc = srv.wait(20)  # strace exits with the master's status
    killed = [l for l in srv.log().splitlines() if "killed by signal" in l]
    # Was a bug (reported; fixed in d8eba80): master_spawn cleared
    # the child's signal mask before worker_signals() blocked SIGTERM again,
    # so a stop in between killed the worker instead of draining it.
    t.check(not killed, "SIGTERM during worker start-up killed workers: %r"
            % killed)
    t.check(rc == 0, "master (under strace) exit %r, want 0" % rc)


t.run()

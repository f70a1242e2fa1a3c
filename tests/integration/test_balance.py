"""test_balance: a few long-lived connections spread over the workers.

Every worker waits on the one shared listening socket (EPOLLEXCLUSIVE) and
the kernel wakes one of them per connection; without more, a handful of
long-lived connections all landed on one worker.  A worker that holds more
connections than another now steps back from accepting until the others
have caught up (msgd.8, "Connections").

spread (workers 2 and 3, TCP): C = N, 2N and 4N+1 connections, opened one
by one (each answers a PING before the next opens: the case that put all of
them on one worker) and at once (all connected, then each PINGed).  From
`msgctl stats --json`, polled (bounded) until the workers' conn_active add
up to C, no worker may hold more than ceil(C/N) + 1.  Each round closes its
connections and waits (bounded) for the counts to be back at 0.

stopped_worker (workers 2, max_connections 6): one worker stopped
(SIGSTOP: its count stays at 0 and it looks alive for a while, the case a
worker must never step back for), the other must still accept and answer
every connection up to max_connections, one by one, and refuse the next
with BUSY; then the same with the other worker stopped.

late_worker (workers 2): one worker kept from running for LATE_MS (SIGSTOP,
as a busy machine's scheduler can) while 9 connections arrive at once.  The
other takes one, steps back, and must leave the rest waiting for the late
one (whose count moves once it runs), not take them all because they waited
a few ms: after SIGCONT, no worker may hold more than ceil(9/2)+1.  A round
whose window (stats read, connects, the stop) grew past LATE_MAX_MS, or whose
stopped worker's heartbeat could have gone stale meanwhile (the other then
rightly stops yielding to it), proves nothing and runs again (bounded).

ramp_bench (workers 2): `msgctl bench --ramp 0 -c 8` opens its connections
one at a time, each answering a PING before the next opens; it succeeds and
each worker accepted 4 of them.  `--ramp 1 --raw` does the same against an
echo server (its first exchange is one echoed byte), and a --ramp that is
not a number of 0..60000 is a usage error (exit 2).
"""
import math
import os
import signal
import socket
import threading
import time

from harness import MSGCTL, Op, St, Suite, connect, encode, read_frame, run
from statslib import idle_base, settle, stats_json

t = Suite("test_balance")

MAX_CONN = 6
LATE_MS = 50            # a late worker is kept from running this long
LATE_MAX_MS = 150       # well under the server's rescue delay (200 ms)
STALE_MS = 1500         # a heartbeat older than this: not accepting


def active(doc):
    """{pid: conn_active} of the live workers in a stats document."""
    return {w["pid"]: w["counters"]["conn_active"] for w in doc["workers"]}


def ping(s, rid):
    """One PING on s, answered; returns the frame."""
    s.sendall(encode(Op.PING, request_id=rid))
    return read_frame(s, timeout=10.0)


def open_conns(srv, n, at_once):
    """n TCP connections to srv, each having answered a PING."""
    socks = []
    try:
        for i in range(n):
            socks.append(connect(srv.tcp_addr, timeout=10.0))
            if not at_once:
                f = ping(socks[-1], i + 1)
                t.check(f.status == St.OK and f.value == b"PONG",
                        "connection %d: PING answered %r" % (i, f))
        for i, s in enumerate(socks if at_once else ()):
            f = ping(s, i + 1)
            t.check(f.status == St.OK and f.value == b"PONG",
                    "connection %d (at once): PING answered %r" % (i, f))
    except BaseException:
        close_all(socks)
        raise
    return socks


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def close_settle(srv, socks):
    """Close socks; the workers' counts must come back to 0 (bounded)."""
    close_all(socks)
    ok, doc = settle(srv, lambda d: sum(active(d).values()) == 0,
                     timeout=10.0)
    t.check(ok, "connections still counted after the close: %r" %
            active(doc))


def round_trip(srv, n_workers, c, at_once):
    """Open c connections, check their spread, close them."""
    how = "at once" if at_once else "one by one"
    socks = open_conns(srv, c, at_once)
    try:
        ok, doc = settle(srv, lambda d: sum(active(d).values()) == c,
                         timeout=10.0)
        counts = active(doc)
        print("   %d workers, %d connections %s: %r" % (
            n_workers, c, how, sorted(counts.values())))
        t.check(ok and len(counts) == n_workers,
                "%d workers, %d connections %s: conn_active per worker %r "
                "should add up to %d" % (n_workers, c, how, counts, c))
        bound = math.ceil(c / n_workers) + 1
        t.check(max(counts.values()) <= bound,
                "%d workers, %d connections %s: conn_active per worker %r; "
                "none may hold more than ceil(%d/%d)+1 = %d" % (
                    n_workers, c, how, counts, c, n_workers, bound))
    finally:
        close_settle(srv, socks)


@t.case
def spread(t):
    for n in (2, 3):
        srv = t.server({"workers": n}, tcp=True)
        idle_base(srv)
        for c in (n, 2 * n, 4 * n + 1):
            for at_once in (False, True):
                round_trip(srv, n, c, at_once)
        srv.close()


def busy_refused(srv):
    """A connection past max_connections gets BUSY (bounded reads)."""
    s = connect(srv.tcp_addr, timeout=10.0)
    try:
        s.sendall(encode(Op.PING, request_id=1))
        f = read_frame(s, timeout=10.0)
        return f.status == St.BUSY, f
    except (OSError, EOFError, TimeoutError) as e:
        return False, e
    finally:
        s.close()


@t.case
def stopped_worker(t):
    srv = t.server({"workers": 2, "max_connections": MAX_CONN}, tcp=True)
    pids = [w["pid"] for w in idle_base(srv)["workers"]]
    t.check(len(pids) == 2, "two workers in the stats: %r" % pids)
    for stopped in pids:
        other = [p for p in pids if p != stopped]
        os.kill(stopped, signal.SIGSTOP)
        socks = []
        try:
            socks = open_conns(srv, MAX_CONN, at_once=False)
            ok, doc = settle(srv, lambda d: active(d).get(other[0]) ==
                             MAX_CONN, timeout=10.0)
            t.check(ok and active(doc).get(stopped) == 0,
                    "worker %d stopped: the other should hold all %d "
                    "connections; conn_active %r" % (stopped, MAX_CONN,
                                                     active(doc)))
            refused, f = busy_refused(srv)
            t.check(refused, "worker %d stopped, the other full: want "
                    "BUSY, got %r" % (stopped, f))
        except (OSError, EOFError, TimeoutError) as e:
            t.check(False, "worker %d stopped: a connection up to "
                    "max_connections was not served: %r" % (stopped, e))
        finally:
            close_all(socks)
            os.kill(stopped, signal.SIGCONT)
        ok, doc = settle(srv, lambda d: sum(active(d).values()) == 0,
                         timeout=10.0)
        t.check(ok, "connections still counted after the close: %r" %
                active(doc))


def late_round(srv, late, c):
    """Stop worker late, connect c at once, let it run LATE_MS later; ping
    all.  Returns (counts, window in ms, heartbeat age at the stop)."""
    os.kill(late, signal.SIGSTOP)
    socks = []
    try:
        t0 = time.monotonic()
        age = [w["heartbeat_age_ms"] for w in stats_json(srv)["workers"]
               if w["pid"] == late]
        for _ in range(c):
            socks.append(connect(srv.tcp_addr, timeout=10.0))
        time.sleep(LATE_MS / 1000.0)
    finally:
        os.kill(late, signal.SIGCONT)
    window = (time.monotonic() - t0) * 1000.0
    try:
        for i, s in enumerate(socks):
            f = ping(s, i + 1)
            t.check(f.status == St.OK and f.value == b"PONG",
                    "late worker: PING %d answered %r" % (i, f))
        ok, doc = settle(srv, lambda d: sum(active(d).values()) == c,
                         timeout=10.0)
        t.check(ok, "late worker: conn_active %r should add up to %d" %
                (active(doc), c))
        counts = active(doc)
    finally:
        close_settle(srv, socks)
    return counts, window, age[0] if age else STALE_MS


@t.case
def late_worker(t):
    srv = t.server({"workers": 2}, tcp=True)
    pids = [w["pid"] for w in idle_base(srv)["workers"]]
    t.check(len(pids) == 2, "two workers in the stats: %r" % pids)
    c, done = 9, 0
    bound = math.ceil(c / 2) + 1
    for attempt in range(8):
        late = pids[attempt % 2]
        counts, window, age = late_round(srv, late, c)
        print("   worker %d late for %.0f ms (heartbeat %d ms old): %r" % (
            late, window, age, sorted(counts.values())))
        if window > LATE_MAX_MS or age + window > STALE_MS - 300:
            continue
        t.check(max(counts.values()) <= bound,
                "worker %d late for %.0f ms: conn_active per worker %r; "
                "none may hold more than ceil(%d/2)+1 = %d" % (
                    late, window, counts, c, bound))
        done += 1
        if done == 2:
            break
    t.check(done == 2, "no two rounds ran within %d ms (busy machine)" %
            LATE_MAX_MS)


def bench(addr, *args):
    """msgctl bench against host:port; returns (rc, stdout, stderr)."""
    rc, out, err, _ = run([MSGCTL, "-H", addr, "-T", "10", "bench"] +
                          list(args), timeout=60.0)
    return rc, out, err


def echo_server():
    """A loopback echo server (its own thread per connection); returns
    its listening socket, to close."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)

    def serve(c):
        with c:
            while True:
                b = c.recv(65536)
                if not b:
                    return
                c.sendall(b)

    def accept():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
    return ls


@t.case
def ramp_bench(t):
    srv = t.server({"workers": 2}, tcp=True)
    base = {w["pid"]: w["counters"]["conn_accepted"]
            for w in idle_base(srv)["workers"]}
    addr = "127.0.0.1:%d" % srv.port
    rc, out, err = bench(addr, "--ramp", "0", "-c", "8", "-n", "2000")
    t.check(rc == 0 and "2000 requests" in out,
            "bench --ramp 0: exit %d, %r %r" % (rc, out, err))
    ok, doc = settle(srv, lambda d: sum(active(d).values()) == 0)
    got = {w["pid"]: w["counters"]["conn_accepted"] - base.get(w["pid"], 0)
           for w in doc["workers"]}
    t.check(sorted(got.values()) == [4, 4],
            "bench --ramp 0 -c 8 on 2 workers: accepted per worker %r, "
            "want 4 each" % got)
    ls = echo_server()
    try:
        rc, out, err = bench("127.0.0.1:%d" % ls.getsockname()[1], "--raw",
                             "--ramp", "1", "-c", "3", "-n", "300")
        t.check(rc == 0 and "300 requests" in out,
                "bench --raw --ramp 1 to an echo server: exit %d, %r %r" %
                (rc, out, err))
    finally:
        ls.close()
    for bad in ("x", "-1", "60001"):
        rc, out, err = bench(addr, "--ramp", bad)
        t.check(rc == 2 and "--ramp" in err,
                "bench --ramp %s: want exit 2 and a message, got %d %r" %
                (bad, rc, err))


t.run()

"""test_idle_timeout: idle_timeout = 1.

A connection that never sends is closed after about 1 s (1..4 s); so is one
that went idle after an answered request (timed from the answer); one that
sends a PING every 0.3 s for 3 s is NOT closed and every PING is answered.
The three run side by side on one server.

urgent_not_progress: a client that sends only an urgent byte (MSG_OOB)
every 0.25 s, over TCP and over a unix socket (Linux 5.15 and later), is
closed after idle_timeout like a silent one, and counted in idle_timeouts
(before: every urgent byte, read by nobody, restarted the idle timer).
"""
import socket
import time

from harness import Op, Suite, parallel, poll
from statslib import totals

t = Suite("test_idle_timeout")

LOW, HIGH = 0.9, 4.0


@t.case
def idle_timeout(t):
    srv = t.server({"idle_timeout": 1, "read_timeout": 10})

    def silent():
        with srv.client() as c:
            return c.wait_closed(8)

    def after_request():
        with srv.client() as c:
            f = c.request(Op.PING, request_id=1)
            t.check_response(f, "PING before going idle", Op.PING, rid=1,
                             value=b"PONG")
            return c.wait_closed(8)

    def keepalive():
        answered = 0
        with srv.client() as c:
            t_end = time.monotonic() + 3.0
            i = 0
            while time.monotonic() < t_end and i < 20:
                i += 1
                f = c.request(Op.PING, request_id=i)
                if f.request_id == i and f.value == b"PONG":
                    answered += 1
                time.sleep(0.3)
            return answered, i

    (h1, d1, s1), (h2, d2, s2), (answered, sent) = parallel(
        silent, after_request, keepalive)
    t.check(h1 in ("eof", "reset") and d1 == b"",
            "silent connection: %s with %r after %.2f s" % (h1, d1, s1))
    t.check(LOW <= s1 <= HIGH, "silent connection closed after %.2f s, want "
            "%.1f..%.1f" % (s1, LOW, HIGH))
    t.check(h2 in ("eof", "reset") and d2 == b"",
            "idle after a request: %s with %r after %.2f s" % (h2, d2, s2))
    t.check(LOW <= s2 <= HIGH, "idle after a request: closed after %.2f s, "
            "want %.1f..%.1f" % (s2, LOW, HIGH))
    t.check(answered == sent and sent >= 5,
            "keepalive: %d of %d PINGs answered over 3 s" % (answered, sent))


@t.case
def urgent_not_progress(t):
    srv = t.server({"idle_timeout": 1, "read_timeout": 10}, tcp=True)
    idle0 = totals(srv)["idle_timeouts"]

    def urgent_only(addr, name):
        """(how, seconds): "closed", "open" after 4 s, or "unsupported"."""
        def run():
            with srv.client(addr=addr) as c:
                # Non-blocking: a socket with a timeout waits in recv()
                # whatever its flags say.
                c.sock.settimeout(0)
                t0 = time.monotonic()
                # An urgent byte every 0.25 s for at most 4 s, until the
                # server closes the connection.
                for _ in range(16):
                    try:
                        c.sock.send(b"!", socket.MSG_OOB)
                    except OSError as e:
                        # Unix sockets have urgent data since Linux 5.15.
                        if e.errno == 95 and name == "unix":
                            return "unsupported", 0.0
                        return "closed", time.monotonic() - t0
                    time.sleep(0.25)
                    try:
                        b = c.sock.recv(1)
                    except BlockingIOError:
                        continue
                    except OSError:
                        return "closed", time.monotonic() - t0
                    return ("closed" if b == b"" else "data %r" % b,
                            time.monotonic() - t0)
                return "open", time.monotonic() - t0
        return run

    runs = [(name, urgent_only(addr, name)) for addr, name in
            srv.transports()]
    results = parallel(*(fn for _, fn in runs))
    closed = 0
    for (name, _), (how, secs) in zip(runs, results):
        if how == "unsupported":
            print("   unix: no MSG_OOB on this kernel")
            continue
        closed += 1
        t.check(how == "closed", "%s: urgent bytes only: %s after %.2f s, "
                "want closed (idle_timeout 1)" % (name, how, secs))
        t.check(LOW <= secs <= HIGH, "%s: urgent bytes only: %s after "
                "%.2f s, want %.1f..%.1f" % (name, how, secs, LOW, HIGH))
    n = poll(lambda: totals(srv)["idle_timeouts"] - idle0,
             until=lambda n: n >= closed, timeout=2.0)
    t.check(n == closed, "idle_timeouts +%d, want +%d" % (n, closed))

t.run()

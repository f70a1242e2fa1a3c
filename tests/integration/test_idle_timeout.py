"""test_idle_timeout: idle_timeout = 1.

A connection that never sends is closed after about 1 s (1..4 s); so is one
that went idle after an answered request (timed from the answer); one that
sends a PING every 0.3 s for 3 s is NOT closed and every PING is answered.
The three run side by side on one server.
"""
import time

from harness import Op, Suite, parallel

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


t.run()

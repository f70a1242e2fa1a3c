"""test_read_timeout: read_timeout = 1 (idle_timeout = 30, so only the frame
deadline applies).

Half a header (8 bytes) -> closed within 1..4 s, nothing sent back; a header
and half a body -> closed likewise; one frame trickled byte by byte over
about 0.5 s -> answered; four frames trickled one after another, each under
the timeout but 2+ s in all -> all answered (the clock restarts per frame).
All run side by side on one server.
"""
import time

from harness import Op, Suite, encode, parallel

t = Suite("test_read_timeout")

LOW, HIGH = 0.9, 4.0


def trickle(c, data, seconds):
    gap = seconds / len(data)
    for i in range(len(data)):
        c.send(data[i:i + 1])
        time.sleep(gap)


@t.case
def read_timeout(t):
    srv = t.server({"idle_timeout": 30, "read_timeout": 1})

    def partial(data):
        def run():
            with srv.client() as c:
                c.send(data)
                return c.wait_closed(8)
        return run

    def slow_frame():
        with srv.client() as c:
            frame = encode(Op.ECHO, b"slowly", b"k", 21)
            trickle(c, frame, 0.5)
            return c.recv_frame()

    def slow_frames():
        out = []
        with srv.client() as c:
            for i in range(4):
                trickle(c, encode(Op.UPPER, b"frame%d" % i, request_id=30 + i),
                        0.55)
                out.append(c.recv_frame())
        return out

    half_header = encode(Op.PING, request_id=3)[:8]
    half_body = encode(Op.ECHO, b"0123456789" * 4, request_id=4)[:16 + 20]
    r_hdr, r_body, f1, fs = parallel(partial(half_header),
                                     partial(half_body), slow_frame,
                                     slow_frames)
    for (how, data, secs), what in ((r_hdr, "half a header"),
                                    (r_body, "header and half a body")):
        t.check(how in ("eof", "reset") and data == b"",
                "%s: %s with %r after %.2f s" % (what, how, data, secs))
        t.check(LOW <= secs <= HIGH, "%s: closed after %.2f s, want "
                "%.1f..%.1f" % (what, secs, LOW, HIGH))
    t.check_response(f1, "frame trickled over 0.5 s", Op.ECHO, rid=21,
                     value=b"slowly")
    for i, f in enumerate(fs):
        t.check_response(f, "trickled frame %d of 4" % (i + 1), Op.UPPER,
                         rid=30 + i, value=b"FRAME%d" % i)


t.run()

"""test_read_timeout: read_timeout = 1 (idle_timeout = 30, so only the frame
deadline applies).

Half a header (8 bytes) -> closed within 1..4 s, nothing sent back; a header
and half a body -> closed likewise; one frame trickled byte by byte over
about 0.5 s -> answered; four frames trickled one after another, each under
the timeout but 2+ s in all -> all answered (the clock restarts per frame).
All run side by side on one server.

splice_paused_trickle (read_timeout = 2, idle_timeout = 5, a unix socket):
a 2 MiB ECHO read in part while answers were queued, then spliced once
they were read (its part read moves to the output, over output_limit:
paused), its last bytes trickled one per 0.25 s -> closed by read_timeout
about 2 s after its first byte (before: the paused connection counted as
idle, every byte restarted idle_timeout, and it stayed open).

tls_record_trickle (read_timeout = 2, idle_timeout = 10, a TLS listener):
the TLS record of a PING trickled a byte per 0.25 s, and the record of
half a PING header trickled whole over 1.8 s, side by side -> each closed
by read_timeout about 2 s after the record's first byte, counted as read
timeouts (before: bytes of a record not yet whole stay inside OpenSSL,
the connection counted as idle: the first stayed open until idle_timeout,
the second got read_timeout again from the record's last byte).
"""
import select
import time

import tlscerts
from harness import (MemTLS, Op, Suite, connect, encode, parallel, poll,
                     read_frame)
from statslib import totals

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


@t.case
def splice_paused_trickle(t):
    mib = 1 << 20
    srv = t.server({"workers": 1, "max_body": 4 * mib, "read_timeout": 2,
                    "idle_timeout": 5})
    c0 = totals(srv)
    # Eight answers (480 KB) are more than the socket takes: some stay
    # queued, so the ECHO after them is read, not spliced, until they
    # are read; its part read (all but 1000 bytes) is then over
    # output_limit (1 MiB).
    small = b"".join(encode(Op.ECHO, b"p" * 60000, request_id=i)
                     for i in range(1, 9))
    big = encode(Op.ECHO, b"e" * (2 * mib), request_id=99)
    sent = len(big) - 1000
    s = connect(srv.addr, timeout=10.0)
    how = None
    try:
        t0 = time.monotonic()
        s.sendall(small + big[:sent])
        t.check(poll(lambda: totals(srv)["bytes_in"] - c0["bytes_in"] >=
                     len(small) + sent), "the requests were not read")
        try:
            for _ in range(8):
                read_frame(s, timeout=5.0)
            # One byte of the rest every 0.25 s, for at most 9 s.
            for _ in range(36):
                if time.monotonic() - t0 > 9.0:
                    break
                time.sleep(0.25)
                s.send(big[sent:sent + 1])
                sent += 1
        except (OSError, EOFError) as e:
            how = type(e).__name__
        secs = time.monotonic() - t0
    finally:
        s.close()
    t.check(how is not None, "a spliced ECHO trickled after a pause is "
            "still open after %.1f s (read_timeout 2, idle_timeout 5)" %
            secs)
    t.check(1.5 <= secs <= 4.5, "closed (%s) %.1f s after the request's "
            "first byte, want about read_timeout, 2 s" % (how, secs))
    c1 = poll(lambda: totals(srv), timeout=5.0 if how else 0.1,
              until=lambda c: c["read_timeouts"] > c0["read_timeouts"])
    t.check(c1["read_timeouts"] - c0["read_timeouts"] == 1 and
            c1["idle_timeouts"] == c0["idle_timeouts"],
            "read_timeouts +%d, idle_timeouts +%d, want +1 and +0" % (
                c1["read_timeouts"] - c0["read_timeouts"],
                c1["idle_timeouts"] - c0["idle_timeouts"]))



def tls_trickle(m, data, gap, limit):
    """Send data over m's socket a byte per gap seconds, then nothing,
    until the server closes or limit seconds pass (what it sends, session
    tickets, is dropped).  Returns (closed, seconds since the first byte).
    """
    t0 = time.monotonic()
    sent = 0
    for _ in range(int(limit / gap) + 1000):
        secs = time.monotonic() - t0
        if secs >= limit:
            break
        try:
            if sent < len(data):
                m.sock.sendall(data[sent:sent + 1])
                sent += 1
            r, _, _ = select.select([m.sock], [], [], gap)
            if r and m.sock.recv(65536) == b"":
                return True, time.monotonic() - t0
        except OSError:
            return True, time.monotonic() - t0
    return False, time.monotonic() - t0


@t.case
def tls_record_trickle(t):
    if not tlscerts.available():
        print("tls_record_trickle: skipped, no openssl command")
        return
    srv = t.server({"workers": 1, "read_timeout": 2, "idle_timeout": 10},
                   tls=True)
    c0 = totals(srv)

    def whole_ping():
        m = MemTLS(srv.tls_client_addr, srv.tls_client_addr.ctx)
        try:
            return tls_trickle(m, m.wrap(encode(Op.PING, request_id=1)),
                               0.25, 6.0)
        finally:
            m.sock.close()

    def half_header():
        m = MemTLS(srv.tls_client_addr, srv.tls_client_addr.ctx)
        try:
            rec = m.wrap(encode(Op.PING, request_id=2)[:8])
            return tls_trickle(m, rec, 1.8 / len(rec), 6.0)
        finally:
            m.sock.close()

    whole, half = parallel(whole_ping, half_header)
    for (closed, secs), what in ((whole, "a PING's record trickled"),
                                 (half, "half a header's record trickled "
                                  "over 1.8 s")):
        t.check(closed, "%s: still open after %.1f s (read_timeout 2, "
                "idle_timeout 10)" % (what, secs))
        t.check(1.5 <= secs <= 3.0, "%s: closed %.2f s after the record's "
                "first byte, want about read_timeout, 2 s" % (what, secs))
    c1 = poll(lambda: totals(srv), timeout=5.0,
              until=lambda c: c["read_timeouts"] - c0["read_timeouts"] >= 2)
    t.check(c1["read_timeouts"] - c0["read_timeouts"] == 2 and
            c1["idle_timeouts"] == c0["idle_timeouts"],
            "read_timeouts +%d, idle_timeouts +%d, want +2 and +0" % (
                c1["read_timeouts"] - c0["read_timeouts"],
                c1["idle_timeouts"] - c0["idle_timeouts"]))


@t.case
def tls_next_record_own_deadline(t):
    """A TLS request whose first bytes came in the same read as the end of
    the previous one (its record not yet whole, held in OpenSSL) gets its
    own read_timeout, from then: not what was left of the previous
    request's.  A's record: its first byte, 1.5 s later the rest with the
    start of B's; B's rest 1.2 s after that (2.7 s after A's first byte,
    past A's deadline, well within B's own).  Both are answered; before
    the fix B was cut at A's deadline, 2 s after A's first byte."""
    if not tlscerts.available():
        print("tls_next_record_own_deadline: skipped, no openssl command")
        return
    srv = t.server({"workers": 1, "read_timeout": 2, "idle_timeout": 10},
                   tls=True)
    m = MemTLS(srv.tls_client_addr, srv.tls_client_addr.ctx)
    try:
        a = m.wrap(encode(Op.PING, request_id=1))
        b = m.wrap(encode(Op.PING, request_id=2))
        m.sock.sendall(a[:1])
        time.sleep(1.5)
        m.sock.sendall(a[1:] + b[:10])
        time.sleep(1.2)
        ids = []
        try:
            m.sock.sendall(b[10:])
            data = m.read_frames(2, timeout=5)
            off = 0
            while off + 16 <= len(data):
                ids.append(int.from_bytes(data[off + 8:off + 12], "big"))
                off += 16 + int.from_bytes(data[off + 12:off + 16], "big")
        except (OSError, EOFError, TimeoutError) as e:
            ids.append(repr(e))
        t.check(ids == [1, 2], "answers to requests 1 and 2, got %r" % ids)
    finally:
        m.sock.close()

t.run()

"""test_errors: frame errors, the closing ones and the recoverable ones.

Closing (answer, then the server closes without waiting for more input):
body_len > max_body (max_body = 1024; also 2^32-1) -> TOO_LARGE with the id
and opcode copied, closed without the client sending the body; wrong magic ->
BAD_REQUEST with request_id 0 and opcode 0; an HTTP request line and a single
0x00 byte -> answered and closed well under read_timeout; version 0 or 2 ->
BAD_VERSION with the id copied.
Recoverable (BAD_REQUEST, body skipped, the NEXT frame on the same connection
answered normally): key_len > body_len, RESPONSE flag set, each reserved flag
bit, status != 0; the skipped body is itself a valid frame that must not be
answered, and it may arrive split across writes.
Every error response has key_len 0 and a UTF-8 message as value.
"""
import time

from harness import (F_RESPONSE, HDR_LEN, Op, St, Suite, U32_MAX, encode,
                     parse_frames)

t = Suite("test_errors")

MAX_BODY = 1024
SETTINGS = {"max_body": MAX_BODY, "read_timeout": 10}


def expect_answer_then_close(t, c, what, op, status, rid, close_within=3.0):
    """One error frame, then EOF (or reset) within close_within seconds."""
    t0 = time.monotonic()
    how, data, _ = c.wait_closed(close_within)
    took = time.monotonic() - t0
    frames, rest = parse_frames(data)
    t.check(how in ("eof", "reset"), "%s: not closed within %.1f s (%s)" % (
        what, close_within, how))
    if t.check(len(frames) == 1 and not rest,
               "%s: want exactly one frame before close, got %r + %r" % (
                   what, frames, rest[:32])):
        t.check_response(frames[0], what, op, status, rid=rid, value=True)
    return took


@t.case
def too_large(t):
    srv = t.server(SETTINGS, tcp=True, tls=True)
    with srv.client() as c:
        f = c.request(Op.ECHO, b"x" * MAX_BODY, request_id=1)
        t.check_response(f, "ECHO of exactly max_body", Op.ECHO, rid=1,
                         value=b"x" * MAX_BODY)
    for addr, where in srv.transports():
        for blen in (MAX_BODY + 1, 1 << 20, U32_MAX):
            with srv.client(addr=addr) as c:
                # Header only: the body is never sent.
                c.send(encode(Op.ECHO, request_id=4242, body_len=blen))
                expect_answer_then_close(
                    t, c, "%s body_len %d > max_body" % (where, blen),
                    Op.ECHO, St.TOO_LARGE, 4242)
    # Key counts in the body: key + value one past max_body.
    with srv.client() as c:
        c.send(encode(Op.UPPER, b"v" * (MAX_BODY - 9), b"k" * 10,
                      request_id=77))
        expect_answer_then_close(t, c, "key + value > max_body", Op.UPPER,
                                 St.TOO_LARGE, 77)
    t.check(srv.ping_ok(), "server still serves after TOO_LARGE")


@t.case
def bad_magic(t):
    srv = t.server(SETTINGS, tcp=True, tls=True)
    cases = [
        ("magic XX", encode(Op.PING, request_id=1234, magic=b"XX")),
        ("magic MX", encode(Op.PING, request_id=1234, magic=b"MX")),
        ("magic gm", encode(Op.ECHO, b"abc", request_id=99, magic=b"GM")),
        ("HTTP request", b"GET / HTTP/1.0\r\n\r\n"),
        ("single 0x00 byte", b"\x00"),
        ("single 'M' then 'x'", b"Mx"),
    ]
    for addr, where in srv.transports():
        for name, data in cases:
            with srv.client(addr=addr) as c:
                c.send(data)
                took = expect_answer_then_close(
                    t, c, "%s %s" % (where, name), Op.NONE, St.BAD_REQUEST,
                    0)
                # read_timeout is 10 s: closing must not wait for it.
                t.check(took < 2.0, "%s %s: closed after %.2f s, want "
                        "promptly" % (where, name, took))
    # A valid frame after garbage on the same connection is not answered:
    # the server closed after the BAD_REQUEST.
    with srv.client() as c:
        c.send(b"\x00" + encode(Op.PING, request_id=5))
        expect_answer_then_close(t, c, "0x00 then a PING", Op.NONE,
                                 St.BAD_REQUEST, 0)


@t.case
def bad_version(t):
    srv = t.server(SETTINGS)
    for version in (0, 2, 255):
        with srv.client() as c:
            c.send(encode(Op.ECHO, b"hello", request_id=31337,
                          version=version))
            took = expect_answer_then_close(
                t, c, "version %d" % version, Op.ECHO, St.BAD_VERSION,
                31337)
            t.check(took < 2.0, "version %d: closed after %.2f s" % (
                version, took))


def recoverable_cases():
    """(name, bad frame) pairs; each body hides a valid PING id 0xDEAD."""
    hidden = encode(Op.PING, request_id=0xDEAD)
    out = [
        ("key_len > body_len", encode(Op.ECHO, request_id=11, body=hidden,
                                      key_len=len(hidden) + 1)),
        ("key_len 65535, body_len 16", encode(Op.ECHO, request_id=11,
                                              body=hidden, key_len=65535)),
        ("RESPONSE flag", encode(Op.ECHO, request_id=11, body=hidden,
                                 flags=F_RESPONSE)),
    ]
    for bit in range(1, 8):
        out.append(("reserved flag bit %d" % bit, encode(
            Op.ECHO, request_id=11, body=hidden, flags=1 << bit)))
    for status in (1, 2, 9, 255):
        out.append(("status %d" % status, encode(
            Op.ECHO, request_id=11, body=hidden, status=status)))
    out.append(("empty body, reserved flags 0xfe", encode(
        Op.PING, request_id=11, flags=0xFE)))
    out.append(("body of max_body bytes, RESPONSE flag", encode(
        Op.ECHO, b"\x00" * MAX_BODY, request_id=11, flags=F_RESPONSE)))
    return out


@t.case
def recoverable_errors(t):
    srv = t.server(SETTINGS)
    with srv.client() as c:
        for name, bad in recoverable_cases():
            op = bad[4]
            # In one write with the next frame.
            c.send(bad + encode(Op.ECHO, b"next", request_id=12))
            f = c.recv_frame()
            t.check_response(f, name, op, St.BAD_REQUEST, rid=11, value=True)
            f = c.recv_frame()
            t.check_response(f, "frame after %s" % name, Op.ECHO, rid=12,
                             value=b"next")
            # Header, then the body, then the next frame, in separate writes.
            c.send(bad[:HDR_LEN])
            time.sleep(0.01)
            for i in range(HDR_LEN, len(bad), 7):
                c.send(bad[i:i + 7])
            c.send(encode(Op.UPPER, b"next", request_id=13))
            f = c.recv_frame()
            t.check_response(f, "%s (split body)" % name, op,
                             St.BAD_REQUEST, rid=11, value=True)
            f = c.recv_frame()
            t.check_response(f, "frame after %s (split body)" % name,
                             Op.UPPER, rid=13, value=b"NEXT")


t.run()

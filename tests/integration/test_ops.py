"""test_ops: every opcode over a unix socket and TCP.

PING -> "PONG"; ECHO (empty, all 256 byte values, a key is ignored, 1 MiB);
UPPER (ASCII, all bytes, UTF-8 unchanged but for a-z); TIME (RFC 3339 UTC with
microseconds, within a few seconds of now); every opcode protocol v1 does not
define (0x00, 0x07-0x0f, 0x14-0x1f, 0x21-0xff; the defined STATS, AUTH, PUT,
GET, LIST, DEL and EXEC are other tests' business and may have side effects)
-> UNKNOWN_OP, key_len 0, id and opcode copied, a UTF-8 message, and the
connection stays usable; every response has the RESPONSE flag and the
request's opcode.
"""
import datetime
import time

from harness import (Op, St, Suite, TIME_RE, encode, response_problems,
                     upper_bytes)

t = Suite("test_ops")


def basic_ops(t, c, where):
    f = c.request(Op.PING, request_id=7)
    t.check_response(f, "%s PING" % where, Op.PING, rid=7, value=b"PONG")
    f = c.request(Op.PING, b"ignored value", b"ignored key", request_id=8)
    t.check_response(f, "%s PING with key and value" % where, Op.PING,
                     rid=8, value=b"PONG")

    f = c.request(Op.ECHO, b"", request_id=9)
    t.check_response(f, "%s ECHO empty" % where, Op.ECHO, rid=9, value=b"")
    allbytes = bytes(range(256))
    f = c.request(Op.ECHO, allbytes, request_id=10)
    t.check_response(f, "%s ECHO all 256 byte values" % where, Op.ECHO,
                     rid=10, value=allbytes)
    f = c.request(Op.ECHO, b"the value", b"the-key", request_id=11)
    t.check_response(f, "%s ECHO ignores the key" % where, Op.ECHO, rid=11,
                     value=b"the value")
    big = bytes((i * 7) & 0xFF for i in range(1 << 20))
    f = c.request(Op.ECHO, big, request_id=12)
    t.check_response(f, "%s ECHO 1 MiB" % where, Op.ECHO, rid=12, value=big)
    f = c.request(Op.ECHO, b"x", request_id=0xFFFFFFFF)
    t.check_response(f, "%s ECHO request_id 2^32-1" % where, Op.ECHO,
                     rid=0xFFFFFFFF, value=b"x")

    f = c.request(Op.UPPER, b"Hello, World! abc-xyz_09", request_id=13)
    t.check_response(f, "%s UPPER ASCII" % where, Op.UPPER, rid=13,
                     value=b"HELLO, WORLD! ABC-XYZ_09")
    f = c.request(Op.UPPER, allbytes, request_id=14)
    t.check_response(f, "%s UPPER all bytes" % where, Op.UPPER, rid=14,
                     value=upper_bytes(allbytes))
    utf8 = "h\u00e9llo w\u00f6rld \u00df \u0444\u044b\u0432 \u65e5\u672c"
    f = c.request(Op.UPPER, utf8.encode(), b"key", request_id=15)
    want = ("H\u00e9LLO W\u00f6RLD \u00df \u0444\u044b\u0432 "
            "\u65e5\u672c").encode()
    t.check_response(f, "%s UPPER UTF-8 (only a-z change)" % where,
                     Op.UPPER, rid=15, value=want)
    f = c.request(Op.UPPER, b"", request_id=16)
    t.check_response(f, "%s UPPER empty" % where, Op.UPPER, rid=16,
                     value=b"")

    before = time.time()
    f = c.request(Op.TIME, request_id=17)
    after = time.time()
    t.check_response(f, "%s TIME" % where, Op.TIME, rid=17)
    if t.check(TIME_RE.match(f.value), "%s TIME format: %r" % (
            where, f.value)):
        ts = datetime.datetime.strptime(
            f.value.decode(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
        t.check(before - 5 <= ts <= after + 5,
                "%s TIME %r is not within 5 s of now (%f..%f)" % (
                    where, f.value, before, after))


@t.case
def ops_unix_and_tcp(t):
    srv = t.server(tcp=True, tls=True)
    for addr, where in srv.transports():
        with srv.client(addr=addr) as c:
            basic_ops(t, c, where)


@t.case
def unknown_opcodes(t):
    srv = t.server()
    unknown = [op for op in range(256) if op not in Op.DEFINED]
    with srv.client() as c:
        # One at a time: each answered, the connection stays usable.
        for op in (0x00, 0x07, 0x0F, 0x14, 0x21, 0x30, 0xFF):
            rid = 1000 + op
            f = c.request(op, b"some value", b"some-key", request_id=rid)
            t.check_response(f, "opcode 0x%02x" % op, op, St.UNKNOWN_OP,
                             rid=rid, value=True)
            f = c.request(Op.PING, request_id=rid + 1)
            t.check_response(f, "PING after opcode 0x%02x" % op, Op.PING,
                             rid=rid + 1, value=b"PONG")
        # All of them pipelined in one write, then a PING.
        data = b"".join(encode(op, b"v" * (op % 5), b"k" * (op % 3),
                               request_id=0x10000 + op) for op in unknown)
        data += encode(Op.ECHO, b"still here", request_id=0x20000)
        c.send(data)
        bad = []
        for op in unknown:
            f = c.recv_frame()
            p = response_problems(f, op, St.UNKNOWN_OP, 0x10000 + op, True)
            if p:
                bad.append("0x%02x: %s" % (op, "; ".join(p)))
        t.check(not bad, "pipelined unknown opcodes: %s" % bad[:5])
        f = c.recv_frame()
        t.check_response(f, "ECHO after %d unknown opcodes" % len(unknown),
                         Op.ECHO, rid=0x20000, value=b"still here")


t.run()

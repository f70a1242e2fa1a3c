#!/usr/bin/env python3
"""test_bench_answers.py: msgctl bench judges every answer it is given.

A loopback server answers bench's msgd requests (pipelined, so that many
answers arrive in one read) and gets one answer wrong in a chosen way:
bench must exit 1 and count it in bad_answers.  Answers that are right,
but not in the shape bench expects first (a key in the answer, answers
split across writes), must all pass, and count the same value bytes
moved.  Both ways of checking are covered:
a whole answer known in advance is compared in one go (src/bench.c,
bconn_answer_is), the rest field by field (bconn_header, bconn_body).
"""
import json
import time

from harness import F_RESPONSE, HDR, HDR_LEN, MSGCTL, Op, St, Suite, run
from tcpfake import TCPFake

t = Suite("test_bench_answers")

REQUESTS = 400
PIPELINE = 8
SIZE = 64
WRONG = 50      # the answer (0-based, per connection) that a fault changes


def right_value(op, value):
    if op == Op.PING:
        return b"PONG"
    if op == Op.UPPER:
        return value.upper()
    return value


class Server(TCPFake):
    """Answers each msgd frame; fault(i, fields, value) may change the
    i-th answer of a connection: returns (fields, value) or, for a split
    answer, a list of byte strings to send apart."""

    def __init__(self, fault):
        self.fault = fault
        super().__init__(nodelay=True)

    def serve(self, c):
        buf = b""
        i = 0
        while True:
            b = c.recv(65536)
            if not b:
                return
            buf += b
            out = []
            while len(buf) >= HDR_LEN:
                f = list(HDR.unpack(buf[:HDR_LEN]))
                end = HDR_LEN + f[7]
                if len(buf) < end:
                    break
                value = right_value(f[3], buf[HDR_LEN + f[5]:end])
                buf = buf[end:]
                # magic, version, flags, opcode, status, key_len,
                # request_id, body_len
                fields = [f[0], f[1], F_RESPONSE, f[3], St.OK, 0, f[6],
                          len(value)]
                got = self.fault(i, fields, value)
                i += 1
                if isinstance(got, list):
                    c.sendall(b"".join(out))
                    out = []
                    for piece in got:
                        c.sendall(piece)
                        time.sleep(0.001)
                    continue
                fields, value = got
                out.append(HDR.pack(*fields) + value)
            c.sendall(b"".join(out))


def bench(t, what, fault, good, op="ECHO"):
    """Run bench against a server with the fault; good: every answer must
    pass, else bench must fail the run and count a bad answer."""
    srv = Server(fault)
    try:
        argv = [MSGCTL, "-H", srv.addr, "-T", "10", "bench", "-c", "2",
                "-t", "1", "-P", str(PIPELINE), "-n", str(REQUESTS),
                "--op", op, "--json"]
        if op != "PING":
            argv += ["-s", str(SIZE)]
        rc, out, err, secs = run(argv, timeout=60.0)
        try:
            res = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res = {}
        if good:
            # The value bytes out and back, whichever way each answer
            # was checked.
            moved = REQUESTS * (4 if op == "PING" else 2 * SIZE)
            ok = (rc == 0 and res.get("requests") == REQUESTS and
                  res.get("bad_answers") == 0 and res.get("errors") == 0
                  and res.get("value_bytes_moved") == moved)
        else:
            ok = rc == 1 and res.get("bad_answers", 0) >= 1
        t.check(ok, "%s (%s): exit %d after %.1f s, %r, stderr %r" % (
            what, "must pass" if good else "must be found", rc, secs, res,
            err[-400:]))
    finally:
        srv.close()


def at(k, change):
    """A fault that applies change(fields, value) to answer k only."""
    def fault(i, fields, value):
        return change(fields, value) if i == k else (fields, value)
    return fault


def field(n, v):
    def change(fields, value):
        fields[n] = v(fields[n]) if callable(v) else v
        return fields, value
    return change


def flip_last(fields, value):
    return fields, value[:-1] + bytes([value[-1] ^ 0x20])


def shorter(fields, value):
    fields[7] -= 1
    return fields, value[:-1]


def keyed(i, fields, value):
    """Every answer carries a one-byte key before its value: allowed."""
    fields[5] = 1
    fields[7] += 1
    return fields, b"k" + value


def split(i, fields, value):
    """Every seventh answer in three writes: inside the header and inside
    the value."""
    if i % 7 != 3:
        return fields, value
    a = HDR.pack(*fields) + value
    return [a[:5], a[5:HDR_LEN + 9], a[HDR_LEN + 9:]]


@t.case
def right_answers_pass(t):
    bench(t, "every answer right", lambda i, f, v: (f, v), good=True)
    bench(t, "UPPER, every answer right", lambda i, f, v: (f, v), good=True,
          op="UPPER")
    bench(t, "PING, every answer right", lambda i, f, v: (f, v), good=True,
          op="PING")


@t.case
def right_answers_in_other_shapes_pass(t):
    bench(t, "answers with a key", keyed, good=True)
    bench(t, "answers split across writes", split, good=True)


@t.case
def wrong_value_found(t):
    bench(t, "one value byte changed", at(WRONG, flip_last), good=False)
    bench(t, "one value a byte short", at(WRONG, shorter), good=False)
    bench(t, "UPPER answered with the value unchanged",
          at(WRONG, lambda f, v: (f, v.lower())), good=False, op="UPPER")
    bench(t, "PING answered PING", at(WRONG, lambda f, v: (f, b"PING")),
          good=False, op="PING")


@t.case
def wrong_header_found(t):
    bench(t, "another request's id", at(WRONG, field(6, lambda x: x + 1)),
          good=False)
    bench(t, "another opcode", at(WRONG, field(3, Op.PING)), good=False)
    bench(t, "a reserved flag", at(WRONG, field(2, F_RESPONSE | 0x02)),
          good=False)
    bench(t, "an error status", at(WRONG, field(4, St.BAD_REQUEST)),
          good=False)
    bench(t, "version 2", at(WRONG, field(1, 2)), good=False)
    bench(t, "the response flag missing", at(WRONG, field(2, 0)),
          good=False)


t.run()

"""test_framing: frame boundaries never matter.

1000 mixed requests pipelined in one write -> 1000 answers in order with
matching ids and values; several frames written 1 byte per send -> all
answered; the same stream cut at random points (seeded, seed printed) over
unix and TCP; a frame whose header and body arrive in separate writes.
"""
import random
import socket
import time

from harness import (Op, Suite, encode, response_problems, upper_bytes)

t = Suite("test_framing")


def mixed_requests(n, seed):
    """n (frame bytes, opcode, id, expected value) of ECHO/UPPER/PING."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        rid = 100000 + i
        kind = i % 3
        val = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 64)))
        key = b"k%d" % i if i % 5 == 0 else b""
        if kind == 0:
            out.append((encode(Op.ECHO, val, key, rid), Op.ECHO, rid, val))
        elif kind == 1:
            out.append((encode(Op.UPPER, val, key, rid), Op.UPPER, rid,
                        upper_bytes(val)))
        else:
            out.append((encode(Op.PING, val, key, rid), Op.PING, rid,
                        b"PONG"))
    return out


def check_answers(t, c, reqs, what):
    bad = []
    for _, op, rid, want in reqs:
        f = c.recv_frame(timeout=10)
        p = response_problems(f, op, rid=rid, value=want)
        if p:
            bad.append("id %d: %s" % (rid, "; ".join(p)))
    t.check(not bad, "%s: %d of %d answers wrong, first: %s" % (
        what, len(bad), len(reqs), bad[:3]))


@t.case
def pipelined_1000(t):
    srv = t.server(tcp=True, tls=True)
    for addr, where in srv.transports():
        reqs = mixed_requests(1000, 1)
        with srv.client(addr=addr) as c:
            c.send(b"".join(r[0] for r in reqs))
            check_answers(t, c, reqs, "%s 1000 pipelined" % where)
            # Nothing more than the 1000 answers came back.
            c.sock.settimeout(0.2)
            try:
                extra = c.sock.recv(1)
            except socket.timeout:
                extra = b""
            t.check(extra == b"", "%s: extra bytes after 1000 answers: %r"
                    % (where, extra))


@t.case
def one_byte_writes(t):
    srv = t.server(tcp=True, tls=True)
    for addr, where in srv.transports():
        reqs = mixed_requests(6, 2)
        data = b"".join(r[0] for r in reqs)
        with srv.client(addr=addr) as c:
            for i in range(len(data)):
                c.send(data[i:i + 1])
                if i % 7 == 0:
                    time.sleep(0.001)  # let some reads see a single byte
            check_answers(t, c, reqs, "%s 1-byte writes (%d bytes)" % (
                where, len(data)))


@t.case
def random_splits(t):
    srv = t.server(tcp=True, tls=True)
    seed = random.randrange(1 << 30)
    print("random_splits seed %d" % seed)
    rnd = random.Random(seed)
    for addr, where in srv.transports():
        for rnd_round in range(5):
            reqs = mixed_requests(200, rnd.randrange(1 << 30))
            data = b"".join(r[0] for r in reqs)
            with srv.client(addr=addr) as c:
                off = 0
                while off < len(data):
                    n = rnd.choice((1, 2, 3, 15, 16, 17, 31, 100, 1000))
                    c.send(data[off:off + n])
                    off += n
                check_answers(t, c, reqs, "%s random splits round %d "
                              "(seed %d)" % (where, rnd_round, seed))


@t.case
def header_then_body(t):
    srv = t.server()
    with srv.client() as c:
        body = bytes(range(256)) * 64
        frame = encode(Op.ECHO, body, b"key", 5)
        c.send(frame[:16])
        time.sleep(0.05)
        c.send(frame[16:20])
        time.sleep(0.05)
        c.send(frame[20:])
        f = c.recv_frame()
        t.check_response(f, "ECHO with header and body split", Op.ECHO,
                         rid=5, value=body)


t.run()

#!/usr/bin/env python3
"""test_splice.py: large ECHOs answered by splice(2) (socket -> pipe ->
socket) over unix and TCP, and every way that can go wrong.

- a client that writes a whole 16 MiB ECHO before it reads a byte gets it
  back (the worker keeps reading what the socket cannot take back: it
  never waits for the client to read while the client writes);
- pipelined: spliced ECHOs between small requests, an UPPER and a second
  large ECHO, all answered in order and byte for byte;
- clients that leave within their frame: the worker closes them, keeps
  no pipe or descriptor, and answers others;
- more clients in a large ECHO at once than the worker has pipes (64):
  the rest are read whole as ever, every answer right;
- a reload while a spliced ECHO is half sent: it is answered in full.
(test_syscalls shows that the body really goes by splice.)
"""
import os
import socket
import threading

from harness import HDR, MAGIC, VERSION, Op, St, Suite, ctl, connect, \
    encode, poll, read_frame

t = Suite("test_splice")

MIB = 1 << 20


def header(opcode, body_len, rid):
    return HDR.pack(MAGIC, VERSION, 0, opcode, 0, 0, rid, body_len)


def worker_fds(srv):
    pids = [p for p, s in srv.workers() if s != "Z"]
    return sum(len(os.listdir("/proc/%d/fd" % p)) for p in pids)


def reader(sock, n, out, timeout=30.0):
    """A thread reading n frames from sock into out (a list)."""
    def run():
        try:
            for _ in range(n):
                out.append(read_frame(sock, timeout=timeout))
        except (OSError, EOFError, ValueError) as e:
            out.append(e)
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


@t.case
def written_whole_before_reading(t):
    srv = t.server({"workers": 1, "max_body": 32 * MIB}, tcp=True)
    for addr, name in srv.transports():
        body = os.urandom(16 * MIB)
        s = connect(addr, timeout=30)
        s.sendall(encode(Op.ECHO, body, request_id=5))
        f = read_frame(s, timeout=30)
        t.check(f.status == St.OK and f.request_id == 5 and f.value == body,
                "%s: 16 MiB ECHO sent whole, then read: %r" % (name, f))
        t.check(s.sendall(encode(Op.PING, request_id=6)) is None and
                read_frame(s).value == b"PONG", "%s: PING after" % name)
        s.close()


@t.case
def pipelined_in_order(t):
    srv = t.server({"workers": 1, "max_body": 4 * MIB}, tcp=True)
    for addr, name in srv.transports():
        want = [(Op.ECHO, os.urandom(MIB)), (Op.PING, b""),
                (Op.ECHO, os.urandom(200 * 1024)),
                (Op.UPPER, b"abc" * 40000), (Op.ECHO, b"x" * 70000),
                (Op.ECHO, os.urandom(3 * MIB)), (Op.ECHO, b"small")]
        s = connect(addr, timeout=30)
        got = []
        th = reader(s, len(want), got)
        s.sendall(b"".join(encode(op, v, request_id=i + 1)
                           for i, (op, v) in enumerate(want)))
        th.join(40)
        ok = len(got) == len(want)
        for i, (op, v) in enumerate(want):
            f = got[i] if i < len(got) else None
            answer = {Op.PING: b"PONG", Op.UPPER: v.upper()}.get(op, v)
            good = (not isinstance(f, Exception) and f is not None and
                    f.status == St.OK and f.request_id == i + 1 and
                    f.value == answer)
            ok = ok and good
            t.check(good, "%s: answer %d of %d: %r" % (name, i + 1,
                                                       len(want), f))
        s.close()
        if not ok:
            return


@t.case
def clients_leave_within_the_frame(t):
    srv = t.server({"workers": 1, "max_body": 4 * MIB}, tcp=True)
    c0 = srv.client()
    t.check(c0.request(Op.PING).value == b"PONG", "PING")
    # The worker's descriptors with one client and no pipe made yet.
    base = worker_fds(srv)
    for addr, name in srv.transports():
        for i in range(40):
            s = connect(addr, timeout=10)
            s.sendall(header(Op.ECHO, 2 * MIB, i + 1) +
                      os.urandom(300 * 1024 * (i % 3 + 1)))
            if i % 2:
                # Read a little of the answer first.
                s.recv(1000)
            s.close()
        t.check(srv.ping_ok(addr), "%s: PING after 40 clients left" % name)
    # A pipe that may hold bytes is closed with its connection, never
    # kept: once the worker has seen every client go, it holds what it
    # held before.
    settled = poll(lambda: worker_fds(srv) <= base, timeout=5)
    t.check(settled, "worker descriptors %d, want <= %d: a pipe kept?" % (
        worker_fds(srv), base))
    big = os.urandom(MIB)
    got = []
    th = reader(c0.sock, 1, got)
    c0.send(encode(Op.ECHO, big, request_id=9))
    th.join(30)
    t.check(got and not isinstance(got[0], Exception) and
            got[0].value == big, "1 MiB ECHO after the departures")
    # Its pipe, emptied, is kept for the next one (two descriptors).
    fds = worker_fds(srv)
    t.check(fds <= base + 2, "worker descriptors after: %d (base %d)" % (
        fds, base))
    c0.close()


@t.case
def more_clients_than_pipes(t):
    n, size = 80, 256 * 1024
    srv = t.server({"workers": 1, "max_body": MIB, "max_connections": 200})
    bodies = [os.urandom(size) for _ in range(n)]
    socks = []
    for i in range(n):
        s = connect(srv.addr, timeout=30)
        s.sendall(header(Op.ECHO, size, i + 1) + bodies[i][:1000])
        socks.append(s)
    t.check(poll(lambda: srv.ping_ok(), timeout=5), "PING with %d frames "
            "in progress" % n)
    results = [None] * n

    def finish(i):
        got = []
        th = reader(socks[i], 1, got)
        socks[i].sendall(bodies[i][1000:])
        th.join(30)
        results[i] = got[0] if got else None
    ths = [threading.Thread(target=finish, args=(i,)) for i in range(n)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(40)
    bad = [i for i in range(n) if isinstance(results[i], Exception) or
           results[i] is None or results[i].request_id != i + 1 or
           results[i].value != bodies[i]]
    t.check(not bad, "%d of %d answers wrong or missing: %r" % (
        len(bad), n, [(i, results[i]) for i in bad[:3]]))
    for s in socks:
        s.close()


@t.case
def reload_within_a_spliced_echo(t):
    srv = t.server({"workers": 1, "max_body": 8 * MIB}, tcp=True)
    body = os.urandom(4 * MIB)
    s = connect(("127.0.0.1", srv.port), timeout=30)
    got = []
    th = reader(s, 1, got)
    frame = encode(Op.ECHO, body, request_id=3)
    s.sendall(frame[:len(frame) // 2])
    rc, out, err, _ = ctl(srv, "reload", timeout=40)
    t.check(rc == 0, "reload: %d %r %r" % (rc, out, err))
    s.sendall(frame[len(frame) // 2:])
    th.join(30)
    f = got[0] if got else None
    t.check(f is not None and not isinstance(f, Exception) and
            f.request_id == 3 and f.value == body,
            "4 MiB ECHO across a reload: %r" % f)
    s.close()
    t.check(srv.ping_ok(("127.0.0.1", srv.port)), "PING after")


if __name__ == "__main__":
    t.run()

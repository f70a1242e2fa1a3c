#!/usr/bin/env python3
"""test_short_reads.py: reads the kernel cuts short with more input queued.

A worker's TCP connections are edge-triggered: epoll reports their input
once, and a read that returns less than it asked for is taken as the end
of what the socket holds.  Two things break that, and each must still get
every request answered at once (within 5 s here, where the idle and read
timeouts are 30 s):
- an urgent byte (MSG_OOB) between two requests, over TCP and unix: the
  read stops at its mark (TCP reports EPOLLPRI, and msgd then reads on);
- a descriptor passed (SCM_RIGHTS) with the first request over unix: the
  read stops after it (unix sockets stay level-triggered for this).
The three sends go back to back, so the worker usually finds all of them
queued when it wakes: the case that hung the second request before.
"""
import array
import socket
import time

from harness import Op, Suite, encode

t = Suite("test_short_reads")


def both_answered(t, c, name, t0):
    f1 = c.recv_frame(timeout=5)
    t.check_response(f1, name + ": first request", Op.PING, rid=1,
                     value=b"PONG")
    try:
        f2 = c.recv_frame(timeout=5)
        t.check_response(f2, name + ": second request", Op.UPPER, rid=2,
                         value=b"TWO")
    except (OSError, EOFError, TimeoutError) as e:
        t.check(False, "%s: second request unanswered after %.1f s: %r" % (
            name, time.monotonic() - t0, e))


@t.case
def urgent_byte_between_requests(t):
    srv = t.server({"idle_timeout": 30, "read_timeout": 30}, tcp=True)
    for addr, name in srv.transports():
        with srv.client(addr=addr) as c:
            t0 = time.monotonic()
            c.send(encode(Op.PING, b"", b"", 1))
            c.sock.send(b"X", socket.MSG_OOB)
            c.send(encode(Op.UPPER, b"two", b"", 2))
            both_answered(t, c, name + " urgent byte", t0)


@t.case
def descriptor_with_first_request(t):
    srv = t.server({"idle_timeout": 30, "read_timeout": 30})
    with srv.client() as c, open("/dev/null", "rb") as devnull:
        t0 = time.monotonic()
        c.sock.sendmsg([encode(Op.PING, b"", b"", 1)], [(
            socket.SOL_SOCKET, socket.SCM_RIGHTS,
            array.array("i", [devnull.fileno()]))])
        c.send(encode(Op.UPPER, b"two", b"", 2))
        both_answered(t, c, "unix descriptor", t0)


t.run()

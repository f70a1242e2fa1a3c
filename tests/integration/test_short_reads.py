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
The worker is stopped (SIGSTOP) while the client sends, and continued once
everything is queued in its socket (over TCP: every byte acknowledged),
so it finds all of it at its first look, the case that left the second
request unanswered.
"""
import array
import fcntl
import os
import signal
import socket
import termios
import time

from harness import Op, Suite, encode, poll, proc_stat

t = Suite("test_short_reads")


def stopped_while(t, srv, sock, send):
    """Run send() with the worker stopped; continue it once sock's bytes
    are all in the worker's socket."""
    worker = [p for p, s in srv.wait_workers(1) if s != "Z"][0]
    os.kill(worker, signal.SIGSTOP)
    try:
        t.check(poll(lambda: (proc_stat(worker) or ("?",))[0] == "T",
                     timeout=5), "worker stopped")
        send()
        if sock.family != socket.AF_UNIX:
            t.check(poll(lambda: fcntl.ioctl(
                sock, termios.TIOCOUTQ, b"\0\0\0\0") == b"\0\0\0\0",
                timeout=5), "every byte acknowledged")
    finally:
        os.kill(worker, signal.SIGCONT)


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
    srv = t.server({"workers": 1, "idle_timeout": 30, "read_timeout": 30},
                   tcp=True)
    for addr, name in srv.transports():
        with srv.client(addr=addr) as c:
            unsupported = []

            def send():
                c.send(encode(Op.PING, b"", b"", 1))
                try:
                    c.sock.send(b"X", socket.MSG_OOB)
                except OSError as e:
                    # Unix sockets have urgent data since Linux 5.15.
                    if name != "unix" or e.errno != 95:
                        raise
                    unsupported.append(e)
                c.send(encode(Op.UPPER, b"two", b"", 2))
            t0 = time.monotonic()
            stopped_while(t, srv, c.sock, send)
            if unsupported:
                print("   unix: no MSG_OOB on this kernel: %r" %
                      unsupported[0])
            both_answered(t, c, name + " urgent byte", t0)


@t.case
def descriptor_with_first_request(t):
    srv = t.server({"workers": 1, "idle_timeout": 30, "read_timeout": 30})
    with srv.client() as c, open("/dev/null", "rb") as devnull:
        def send():
            c.sock.sendmsg([encode(Op.PING, b"", b"", 1)], [(
                socket.SOL_SOCKET, socket.SCM_RIGHTS,
                array.array("i", [devnull.fileno()]))])
            c.send(encode(Op.UPPER, b"two", b"", 2))
        t0 = time.monotonic()
        stopped_while(t, srv, c.sock, send)
        both_answered(t, c, "unix descriptor", t0)


t.run()

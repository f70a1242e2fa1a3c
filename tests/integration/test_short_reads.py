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
A hostile client that sends an urgent byte before each of 200 requests,
and cuts one more in two with one, gets every request answered, and the
worker then sleeps (under 0.2 s of CPU in a second of silence).
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


def cpu_seconds(pid):
    """utime + stime of pid, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


@t.case
def urgent_flood_then_idle(t):
    """A hostile client: an urgent byte before each of 200 requests, one
    more cut in two by an urgent byte, then silence.  Every request
    is answered (the urgent bytes are not part of the stream), and the
    worker sleeps afterwards: retrying reads at the urgent mark must not
    turn into a busy loop."""
    srv = t.server({"workers": 1, "idle_timeout": 30, "read_timeout": 30},
                   tcp=True)
    worker = [p for p, s in srv.wait_workers(1) if s != "Z"][0]
    with srv.client(addr=srv.tcp_addr) as c:
        # Each urgent byte before a request, whose answer says the worker
        # read past the byte: a new urgent byte sent before that would
        # turn the previous one into plain data (TCP keeps one mark).
        for i in range(1, 201):
            c.sock.send(b"!", socket.MSG_OOB)
            c.send(encode(Op.PING, b"", b"", i))
            t.check_response(c.recv_frame(timeout=5), "request %d" % i,
                             Op.PING, rid=i, value=b"PONG")
        f = encode(Op.UPPER, b"last", b"", 201)
        c.send(f[:10])
        c.sock.send(b"!", socket.MSG_OOB)
        c.send(f[10:])
        t.check_response(c.recv_frame(timeout=5), "request cut by an "
                         "urgent byte", Op.UPPER, rid=201, value=b"LAST")
        before = cpu_seconds(worker)
        time.sleep(1.0)
        used = cpu_seconds(worker) - before
        # A busy loop takes a whole CPU, a third of one even on a
        # machine busy twice over; an idle worker takes none.
        t.check(used < 0.2, "worker used %.2f s of CPU in 1 s of silence "
                "after urgent data" % used)
        c.send(encode(Op.PING, b"", b"", 202))
        t.check_response(c.recv_frame(timeout=5), "a request after the "
                         "silence", Op.PING, rid=202, value=b"PONG")


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

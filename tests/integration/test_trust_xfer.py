"""test_trust_xfer: a worker's hand-overs are input, not truth, for the master.

A retiring worker passes each of its connections to the root master over
its channel, one connected socket per message (msgd.8, Hand-over).  A
compromised worker can send anything there instead.  Root only: the test
plays that worker with a copy of a real worker's end of the channel
(pidfd_getfd; the end whose peer the master created, SO_PEERCRED).

not_one_socket: workers = 2.  Worker 1 sends a message with two
descriptors, worker 2 one with a pipe, then each tries 20 more.  The
master closes each one's channel at the first, logs it once, and keeps
nothing that came: its count of open descriptors is one channel less
for each.  It serves on, and new workers replace the two once killed.
Before the fix each two-descriptor message left both open in the master,
and the pipe went to the other worker as if it were a connection.

flood: workers = 1 (max_workers = 2), msgd started with a limit of 256
open files.  The channel hands over the same socket 300 times while no
worker can take it (the sender retires, and it is the only worker):
only as many as the limit leaves after the master's own descriptors
wait, the rest stay unread in the channel.  The worker is then killed:
the master still has the descriptors to start a new one, which answers
PING, and it says how many hand-overs were lost with the dead worker.
Before, the master filled its table, could not make the new worker's
channels, and msgd answered nobody until restarted.

fake_recycle: workers = 1 (max_workers = 2), max_requests set,
shutdown_timeout = 2 s.  The worker is stopped (SIGSTOP: it plays a
compromised one that ignores the master) and a socket is handed over on
its channel, as a recycling worker does.  The master starts a successor
and kills the pretender at shutdown_timeout plus its grace (it drains as
one the master retired); the successor serves, one worker is left, and
a reload then succeeds.  Before, the pretender stayed a serving worker forever,
beside its successor, and each successor could do the same until no
slot was left for a reload.

linger_in_channel: workers = 1, a limit of 256 open files.  The channel
hands over 100 sockets (the master holds 16 and reads no more), then a
TCP socket with SO_LINGER 3600 s and bytes its client never reads, and
the copy is closed; the worker is killed.  The master closes the dead
worker's channel, with those still in it, and must not wait for the
lingering one: a new worker starts and answers PING.  Before, the kernel
released them at the master's close of the channel, in the master, which
then waited in that close for the linger time, respawning nothing.

nested_linger: workers = 2.  The lingering socket goes inside a unix
datagram socket (its queue: what a sandboxed worker can make with
socket(AF_UNIX), SO_PASSCRED and sendmsg), and that socket over the
channel.  The master refuses it (no stream socket) and gets rid of it;
the close that releases the TCP socket must not be the master's: the
other worker, killed, is replaced and PING is answered.  Before, the
master waited in that close, and nothing was respawned.
"""
import array
import collections
import errno
import os
import select
import signal
import socket
import struct
import time

from harness import Suite, fd_links, poll, start_with_nofile, steal_fd

t = Suite("test_trust_xfer")

# struct xfer_info (src/xfer.h): version, authed, then struct net_peer
# (family, pad, port, addr[16]) and digest[32]; XFER_VERSION 1.
XFER_INFO = struct.Struct("=BBBBH16s32s")
NOFILE = 256


def xfer_info():
    return XFER_INFO.pack(1, 0, socket.AF_INET, 0, 7, b"\0" * 16,
                          b"\0" * 32)


def worker_channel(master, worker):
    """A copy of the worker's end of its channel to the master: its only
    unix stream socket, not listening, whose peer the master made (the
    start-up probe's, made alike, is closed once answered: until then
    there are two, and None is returned).  An errno if the kernel would
    not give copies."""
    found = []
    for fd, target in fd_links(worker).items():
        if not target.startswith("socket:"):
            continue
        n = steal_fd(worker, fd)
        if n < 0:
            for s in found:
                s.close()
            return -n
        s = socket.socket(fileno=n)
        try:
            pid = struct.unpack("3i", s.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
            if (s.family == socket.AF_UNIX and
                    s.type == socket.SOCK_STREAM and pid == master and
                    not s.getsockopt(socket.SOL_SOCKET,
                                     socket.SO_ACCEPTCONN)):
                found.append(s)
                s = None
        except OSError:
            pass
        finally:
            if s is not None:
                s.close()
    if len(found) == 1:
        return found[0]
    for s in found:
        s.close()
    return None


def send(sock, fdlist, timeout=5.0):
    """One hand-over message with fdlist (None: no control data); the
    socket is the worker's, non-blocking: wait for room.  False if the
    master closed the channel or kept it full for timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if fdlist is None:
                sock.send(xfer_info())
            else:
                sock.sendmsg([xfer_info()], [(socket.SOL_SOCKET,
                             socket.SCM_RIGHTS, array.array("i", fdlist))])
            return True
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            select.select([], [sock], [], min(left, 0.1))
        except OSError as e:
            if e.errno in (errno.EPIPE, errno.ECONNRESET):
                return False
            raise


def live_workers(srv):
    return [p for p, s in srv.workers() if s != "Z"]


def channels(t, srv):
    """[(worker pid, a socket on its channel to the master)], or None
    (then the case is skipped: the kernel gives no copies)."""
    master = srv.pid
    ws = poll(lambda: live_workers(srv), timeout=10,
              until=lambda ws: len(ws) == srv.workers_wanted)
    out = []
    for w in ws:
        ch = poll(lambda: worker_channel(master, w), timeout=10,
                  until=lambda c: c is not None)
        if isinstance(ch, int):
            print("SKIP: pidfd_getfd on worker %d: %s" % (
                w, os.strerror(ch)))
            return None
        t.check(ch is not None, "worker %d: no channel to master %d" % (
            w, master))
        if ch is not None:
            out.append((w, ch))
    return out


def root_channels(t, name, settings, start=None):
    """A server with settings and a socket on each worker's channel:
    (server, [(worker, socket)]), or None when the case cannot run (not
    root, or the kernel gives no copies).  start(srv) starts it, if
    given."""
    if os.geteuid() != 0:
        print("SKIP: %s needs root (pidfd_getfd on a worker)" % name)
        return None
    srv = t.server(settings, health=False, start=start is None)
    if start is not None:
        start(srv)
    chans = channels(t, srv)
    if not chans:
        return None
    return srv, chans


def count(srv, text):
    return srv.log().count(text)


def respawned(t, srv, old):
    """old (workers) are killed; new ones take their place and serve."""
    for w in old:
        os.kill(w, signal.SIGKILL)
    ws = poll(lambda: live_workers(srv), timeout=15, until=lambda ws:
              not set(old) & set(ws) and len(ws) == srv.workers_wanted)
    t.check(not set(old) & set(ws) and len(ws) == srv.workers_wanted,
            "after killing workers %r: workers %r, want %d new" % (
                old, ws, srv.workers_wanted))
    t.check(poll(srv.ping_ok, timeout=10), "PING after the respawn")


@t.case
def not_one_socket(t):
    got = root_channels(t, "not_one_socket", {"workers": 2})
    if got is None or len(got[1]) != 2:
        return
    srv, chans = got
    master = srv.pid
    before = len(fd_links(master))
    null = os.open("/dev/null", os.O_RDONLY)
    rp, wp = os.pipe()
    try:
        for (w, ch), bad in zip(chans, ([null, null], [rp])):
            t.check(send(ch, bad), "worker %d: the first message" % w)
            for i in range(20):
                if not send(ch, bad, timeout=1):
                    break
            said = "worker %d sent a hand-over without exactly one " \
                   "socket: its channel is closed" % w
            n = poll(lambda: count(srv, said), timeout=5,
                     until=lambda n: n >= 1)
            t.check(n == 1, "%r logged %d times, want once" % (said, n))
        now = poll(lambda: len(fd_links(master)), timeout=5,
                   until=lambda n: n == before - 2)
        t.check(now == before - 2, "master %d: %d descriptors open, want "
                "%d - 2 channels: %r" % (master, now, before, sorted(
                    collections.Counter(fd_links(master).values()).items())))
        t.check(srv.ping_ok(), "PING after the bad hand-overs")
    finally:
        for w, ch in chans:
            ch.close()
        os.close(null)
        os.close(rp)
        os.close(wp)
    respawned(t, srv, [w for w, ch in chans])


def lone_worker_channel(t, name):
    """workers = 1 (max_workers = 2), msgd under a limit of NOFILE open
    files: (server, worker, a socket on its channel), or None when the
    case cannot run (not root, or the kernel gives no copies)."""
    got = root_channels(t, name, {"workers": 1, "max_workers": 2},
                        start=lambda srv: start_with_nofile(srv, NOFILE))
    if got is None:
        return None
    srv, ((w, ch),) = got
    return srv, w, ch


@t.case
def flood(t):
    got = lone_worker_channel(t, "flood")
    if got is None:
        return
    srv, w, ch = got
    master = srv.pid
    before = len(fd_links(master))
    a, b = socket.socketpair()
    sent = 0
    try:
        while sent < 300 and send(ch, [a.fileno()], timeout=1):
            sent += 1
        # The master stops reading when as many wait as it may hold:
        # then its count stays (read twice, 0.3 s apart).
        seen = []
        waiting = poll(lambda: seen.append(len(fd_links(master)) - before) or
                       seen[-1], timeout=10, step=0.3,
                       until=lambda n: len(seen) > 1 and seen[-2] == n)
        t.check(16 <= waiting <= NOFILE - 96, "master %d holds %d "
                "hand-overs (of %d sent): want at least 16 and what a "
                "limit of %d leaves after 96 of its own" % (
                    master, waiting, sent, NOFILE))
        t.check(sent > waiting, "only %d sent, %d held: the channel "
                "never filled" % (sent, waiting))
    finally:
        ch.close()
        a.close()
        b.close()
    respawned(t, srv, [w])
    t.check(poll(lambda: "handed-over connection(s) from the worker were "
                 "lost" in srv.log(), timeout=5),
            "the master did not say how many hand-overs were lost")


@t.case
def fake_recycle(t):
    got = root_channels(t, "fake_recycle", {
        "workers": 1, "max_workers": 2, "max_requests": 1000000,
        "shutdown_timeout": 2})
    if got is None:
        return
    srv, ((w, ch),) = got
    a, b = socket.socketpair()
    try:
        os.kill(w, signal.SIGSTOP)
        t.check(send(ch, [a.fileno()], timeout=5), "the hand-over was "
                "not taken")
        new = poll(lambda: [p for p in live_workers(srv) if p != w],
                   timeout=10)
        t.check(new, "no successor started beside worker %d" % w)
        # Killed at shutdown_timeout (2 s) + 1 s of grace.  (Stopped, it
        # holds the shared listener's wake-ups meanwhile: no PING yet.)
        gone = poll(lambda: w not in live_workers(srv), timeout=15)
        t.check(gone, "worker %d, which only claimed to recycle, still "
                "runs: workers %r" % (w, live_workers(srv)))
        t.check(poll(srv.ping_ok, timeout=10), "PING with the successor")
    finally:
        ch.close()
        a.close()
        b.close()
        if w in live_workers(srv):
            os.kill(w, signal.SIGKILL)
    t.check(len(srv.wait_workers(1, timeout=10)) == 1, "not one worker "
            "after the pretender: %r" % live_workers(srv))
    os.kill(srv.pid, signal.SIGHUP)
    log = poll(lambda: "reload: " in srv.log() and srv.log(),
               timeout=20) or srv.log()
    t.check("generation 2 serving" in log and "reload failed" not in log,
            "the reload after it did not succeed")


@t.case
def linger_in_channel(t):
    got = lone_worker_channel(t, "linger_in_channel")
    if got is None:
        return
    srv, w, ch = got
    a, b = socket.socketpair()
    cli = acc = None
    try:
        sent = 0
        while sent < 100 and send(ch, [a.fileno()], timeout=1):
            sent += 1
        t.check(sent == 100, "only %d of 100 fillers sent" % sent)
        # A connection whose client reads nothing, lingering an hour.
        cli, acc, queued = lingering_tcp()
        t.check(queued > 0 and send(ch, [acc.fileno()], timeout=5),
                "the lingering socket was not queued behind the fillers")
        acc.close()
        acc = None
    finally:
        ch.close()
        a.close()
        b.close()
        if acc is not None:
            acc.close()
    try:
        respawned(t, srv, [w])
    finally:
        if cli is not None:
            cli.close()


def lingering_tcp():
    """(client, server end, bytes queued): SO_LINGER 3600 s on the server
    end, and bytes queued that the client never reads."""
    lsn = socket.socket()
    cli = socket.socket()
    try:
        lsn.bind(("127.0.0.1", 0))
        lsn.listen(1)
        cli.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        cli.connect(lsn.getsockname())
        acc, _ = lsn.accept()
    finally:
        lsn.close()
    acc.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                   struct.pack("ii", 1, 3600))
    acc.setblocking(False)
    queued = 0
    for i in range(1000):
        try:
            queued += acc.send(b"z" * 65536)
        except BlockingIOError:
            break
    return cli, acc, queued


@t.case
def nested_linger(t):
    got = root_channels(t, "nested_linger", {"workers": 2})
    if got is None:
        return
    srv, ((w, ch), (other, ch2)) = got
    ch2.close()
    cli, acc, queued = lingering_tcp()
    t.check(queued > 0, "nothing queued on the lingering socket")
    d1 = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    d2 = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        # An address without bind: SO_PASSCRED autobinds at the first send.
        d1.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        try:
            d1.sendto(b"x", b"\0msgd-test-nobody-%d" % os.getpid())
        except OSError:
            pass
        d2.sendmsg([b"i"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                             array.array("i", [acc.fileno()]))], 0,
                   d1.getsockname())
        acc.close()
        acc = None
        # The master must hold the last copy of d1 (a worker closes its
        # own after sending): stopped until ours is closed.
        os.kill(srv.pid, signal.SIGSTOP)
        try:
            t.check(send(ch, [d1.fileno()], timeout=5), "not sent")
            d1.close()
            d1 = None
        finally:
            os.kill(srv.pid, signal.SIGCONT)
        t.check(poll(lambda: "without exactly one socket" in srv.log(),
                     timeout=10), "the master did not refuse it")
    finally:
        ch.close()
        d2.close()
        for s_ in (d1, acc):
            if s_ is not None:
                s_.close()
    try:
        respawned(t, srv, [other])
    finally:
        cli.close()


t.run()

"""test_trust_xfer: a worker's hand-overs are input, not truth, for the master.

A retiring worker passes each of its connections to the root master over
its channel, one socket per message (msgd.8, Hand-over).  A compromised
worker can send anything there instead.  Root only: the test plays that
worker with a copy of a real worker's end of the channel (pidfd_getfd).

not_one_socket: workers = 2.  50 messages carry two descriptors each, 50
a pipe, 50 none.  The master closes everything they brought: its count of
open descriptors comes back to where it was; it logs each message and
serves on, and a new worker replaces the one killed afterwards.  Before
the fix each two-descriptor message left both open in the master, and
the pipe went to the other worker as if it were a connection.

flood: workers = 1, msgd started with a limit of 256 open files.  The
channel hands over the same socket 300 times while no worker can take
it (the sender retires, and it is the only worker): 128 (half the limit)
wait in the master, the rest are closed.  The worker is then killed: the
master still has the descriptors to start a new one, which answers PING.
Before, the master filled its table, could not make the new worker's
channels, and msgd answered nobody until restarted.
"""
import array
import collections
import ctypes
import fcntl
import os
import re
import resource
import signal
import socket
import struct
import subprocess
import termios

from harness import Suite, poll

t = Suite("test_trust_xfer")

_libc = ctypes.CDLL(None, use_errno=True)
SYS_PIDFD_OPEN, SYS_PIDFD_GETFD = 434, 438	# x86_64 and most others
# struct xfer_info (src/xfer.h): version, authed, then struct net_peer
# (family, pad, port, addr[16]) and digest[32]; XFER_VERSION 1.
XFER_INFO = struct.Struct("=BBBBH16s32s")


def xfer_info():
    return XFER_INFO.pack(1, 0, socket.AF_INET, 0, 7, b"\0" * 16,
                          b"\0" * 32)


def fds(pid):
    """{fd: what it points to} of process pid."""
    out = {}
    for n in os.listdir("/proc/%d/fd" % pid):
        try:
            out[int(n)] = os.readlink("/proc/%d/fd/%s" % (pid, n))
        except OSError:
            pass
    return out


def steal_fd(pid, fd):
    """A copy of process pid's fd in this process, or None (not allowed)."""
    pfd = _libc.syscall(SYS_PIDFD_OPEN, pid, 0)
    if pfd < 0:
        return None
    try:
        n = _libc.syscall(SYS_PIDFD_GETFD, pfd, fd, 0)
        return n if n >= 0 else None
    finally:
        os.close(pfd)


def unix_peers():
    """{inode: peer inode} of the unix sockets (ss -xa)."""
    out = subprocess.run(["ss", "-xaH"], capture_output=True, text=True,
                         timeout=10).stdout
    peers = {}
    for line in out.splitlines():
        f = line.split()
        try:
            peers[int(f[5])] = int(f[7])
        except (IndexError, ValueError):
            pass
    return peers


def inode(target):
    m = re.match(r"socket:\[(\d+)\]$", target)
    return int(m.group(1)) if m else None


def worker_channel(master, worker):
    """The worker's descriptors of sockets whose other end the master holds:
    its hand-over channel, once the start-up probe is over."""
    peers = unix_peers()
    mine = {inode(v) for v in fds(master).values()} - {None}
    return [fd for fd, v in fds(worker).items()
            if inode(v) is not None and peers.get(inode(v)) in mine]


def unsent(sock):
    """Bytes sent on sock that its peer has not read yet (SIOCOUTQ)."""
    buf = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4)
    return struct.unpack("i", buf)[0]


def live_workers(srv):
    return [p for p, s in srv.workers() if s != "Z"]


def take_channel(t, srv):
    """(worker pid, a socket on its channel to the master) or None."""
    master = srv.pid
    workers = poll(lambda: live_workers(srv), timeout=10,
                   until=lambda ws: len(ws) == srv.workers_wanted)
    w = workers[0]
    chans = poll(lambda: worker_channel(master, w), timeout=10,
                 until=lambda c: len(c) == 1)
    if not t.check(len(chans) == 1, "worker %d: one channel to the master, "
                   "found %r" % (w, chans)):
        return None
    fd = steal_fd(w, chans[0])
    if not t.check(fd is not None, "pidfd_getfd on worker %d" % w):
        return None
    return w, socket.socket(fileno=fd)


def settled(t, sock, what):
    """The master has read everything sent on sock."""
    left = poll(lambda: unsent(sock), timeout=10, until=lambda n: n == 0)
    t.check(left == 0, "%s: the master left %d bytes unread" % (what, left))


def respawned(t, srv, old):
    """old (a worker) is killed; a new one takes its place and serves."""
    os.kill(old, signal.SIGKILL)
    ws = poll(lambda: live_workers(srv), timeout=15, until=lambda ws:
              old not in ws and len(ws) == srv.workers_wanted)
    t.check(old not in ws and len(ws) == srv.workers_wanted,
            "after killing worker %d: workers %r, want %d new" % (
                old, ws, srv.workers_wanted))
    t.check(poll(srv.ping_ok, timeout=10), "PING after the respawn")


def skip_reason():
    if os.geteuid() != 0:
        return "needs root (pidfd_getfd on a worker)"
    if subprocess.run(["sh", "-c", "command -v ss"],
                      stdout=subprocess.DEVNULL).returncode != 0:
        return "needs ss (iproute2)"
    return None


@t.case
def not_one_socket(t):
    why = skip_reason()
    if why:
        print("SKIP: not_one_socket %s" % why)
        return
    srv = t.server({"workers": 2}, health=False)
    got = take_channel(t, srv)
    if got is None:
        return
    w, chan = got
    master = srv.pid
    before = len(fds(master))
    null = os.open("/dev/null", os.O_RDONLY)
    rp, wp = os.pipe()
    try:
        for i in range(50):
            chan.sendmsg([xfer_info()], [(socket.SOL_SOCKET,
                         socket.SCM_RIGHTS, array.array("i", [null, null]))])
            chan.sendmsg([xfer_info()], [(socket.SOL_SOCKET,
                         socket.SCM_RIGHTS, array.array("i", [rp]))])
            chan.sendall(xfer_info())
        settled(t, chan, "150 bad hand-overs")
        now = poll(lambda: len(fds(master)), timeout=5,
                   until=lambda n: n == before)
        t.check(now == before, "master %d: %d descriptors open, %d before "
                "the hand-overs: %r" % (master, now, before, sorted(
                    collections.Counter(fds(master).values()).items())))
        said = poll(lambda: srv.log().count(
            "worker %d sent a hand-over without exactly one socket" % w),
            timeout=5, until=lambda n: n == 150)
        t.check(said == 150, "%d of 150 bad hand-overs logged" % said)
        t.check(srv.ping_ok(), "PING after the bad hand-overs")
    finally:
        chan.close()
        os.close(null)
        os.close(rp)
        os.close(wp)
    respawned(t, srv, w)


@t.case
def flood(t):
    why = skip_reason()
    if why:
        print("SKIP: flood %s" % why)
        return
    srv = t.server({"workers": 1}, health=False, start=False)
    # msgd inherits the limit (the master reads it at start).
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, old[1]))
    try:
        srv.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, old)
    got = take_channel(t, srv)
    if got is None:
        return
    w, chan = got
    master = srv.pid
    before = len(fds(master))
    a, b = socket.socketpair()
    try:
        for i in range(300):
            chan.sendmsg([xfer_info()], [(socket.SOL_SOCKET,
                         socket.SCM_RIGHTS, array.array("i", [a.fileno()]))])
        settled(t, chan, "300 hand-overs")
        now = poll(lambda: len(fds(master)), timeout=5,
                   until=lambda n: n == before + 128)
        t.check(now == before + 128, "master %d: %d descriptors open, want "
                "%d + 128 waiting" % (master, now, before))
    finally:
        chan.close()
        a.close()
        b.close()
    respawned(t, srv, w)


t.run()

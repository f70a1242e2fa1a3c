#!/usr/bin/env python3
"""test_syscalls.py: the system calls a worker makes per request, counted
by strace attached to it (every thread), over each transport.

- One request at a time (ECHO 64 B, the client waits for each answer):
  one read and one write per request, over unix, TCP and TLS.  Over TLS
  OpenSSL reads ahead: without it, a record costs a read for its header,
  one for its body and one more to learn the socket is empty (3 per
  request).
- TLS, 400 requests, each its own record, sent in one segment: every one
  is answered although the worker reads at most 8 times per event and
  OpenSSL holds the rest, out of epoll's sight.
- TLS, one record trickled a byte at a time: the worker reads once per
  byte or so, it does not spin on the part of a record OpenSSL holds.
- ECHO of 1 MiB over unix and TCP, the client reading as it writes: the
  body goes by splice(2), socket to pipe to socket (before: none; all of
  it read(2) into memory, then written).
- Twenty TCP connections with requests waiting when the worker wakes:
  their reads take one io_uring_enter and their answers one more, no
  recvfrom and no sendto (batched I/O, msgd(8)); with io_uring = false,
  a recvfrom and a sendto each.

Counts, not time: strace slows the worker, never changes what it calls.
"""
import fcntl
import os
import shutil
import signal
import struct
import termios
import threading
import time

from harness import MemTLS, Op, Strace, Suite, connect, encode, read_frame
from harness import test_certs, tls_client_context

t = Suite("test_syscalls")
if shutil.which("strace") is None:
    # ./bootstrap installs it (test_packages): its absence is an error.
    print("test_syscalls: no strace (./bootstrap installs it)")
    raise SystemExit(1)

REQUESTS = 300
WARMUP = 20


def one_worker(srv):
    pids = [p for p, s in srv.workers() if s != "Z"]
    assert len(pids) == 1, pids
    return pids[0]


def reads_writes(calls):
    return (calls.get("read", 0) + calls.get("recvfrom", 0),
            calls.get("write", 0) + calls.get("sendto", 0) +
            calls.get("sendmsg", 0) + calls.get("writev", 0))


@t.case
def one_read_one_write_per_request(t):
    srv = t.server({"workers": 1}, tcp=True, tls=True)
    pid = one_worker(srv)
    value = b"x" * 64
    for addr, name in srv.transports():
        with srv.client(addr=addr) as c:
            for i in range(WARMUP):
                c.request(Op.ECHO, value)
            st = Strace(pid, srv.dir)
            ok = 0
            for i in range(REQUESTS):
                f = c.request(Op.ECHO, value)
                ok += f is not None and f.value == value
            calls = st.stop()
        reads, writes = reads_writes(calls)
        t.check(ok == REQUESTS, "%s: %d of %d answered" % (name, ok,
                                                           REQUESTS))
        # A little slack: a request may be split, or a wakeup early.
        # Every answer's write is counted (Strace.stop waits for it).
        t.check(reads <= REQUESTS * 1.1,
                "%s: %d reads for %d requests (%r)" % (name, reads,
                                                       REQUESTS, calls))
        t.check(REQUESTS <= writes <= REQUESTS * 1.1,
                "%s: %d writes for %d requests (%r)" % (name, writes,
                                                        REQUESTS, calls))


@t.case
def large_echo_spliced(t):
    srv = t.server({"workers": 1, "max_body": 4 << 20}, tcp=True)
    pid = one_worker(srv)
    body = os.urandom(1 << 20)
    frame = encode(Op.ECHO, body, request_id=2)
    for addr, name in srv.transports():
        if isinstance(addr, str) or addr.__class__.__name__ != "TLSAddr":
            s = connect(addr, timeout=20)
        else:
            continue        # TLS is not spliced (user-space records)
        st = Strace(pid, srv.dir)
        got = []
        th = threading.Thread(target=lambda: got.append(
            read_frame(s, timeout=20)), daemon=True)
        th.start()
        s.sendall(frame)
        th.join(30)
        calls = st.stop()
        s.close()
        f = got[0] if got else None
        t.check(f is not None and f.value == body, "%s: 1 MiB ECHO: %r" %
                (name, f))
        # Into the pipe and out of it at least once each.  How much goes
        # by splice depends on how fast this client reads: what arrives
        # while the socket takes no more of the answer is read(2) into
        # memory (spilled), so the reads are shown, not bounded.
        print("%s: 1 MiB ECHO: %r" % (name, calls))
        t.check(calls.get("splice", 0) >= 2,
                "%s: no splice for a 1 MiB ECHO (%r)" % (name, calls))


@t.case
def spliced_answer_leaves_whole(t):
    """A large ECHO whose body came with its header: the body goes into
    the pipe first and the answer's start leaves with MSG_MORE, joined by
    the pipe's bytes (one train of segments, one wakeup of the client)."""
    srv = t.server({"workers": 1, "max_body": 4 << 20}, tcp=True)
    pid = one_worker(srv)
    body = os.urandom(64 << 10)
    s = connect(srv.tcp_addr, timeout=20)
    try:
        s.sendall(encode(Op.PING, request_id=1))
        read_frame(s, timeout=10)
        st = Strace(pid, srv.dir, trace="sendto,splice")
        os.kill(pid, signal.SIGSTOP)
        try:
            wait_for(lambda: proc_state(pid) in "Tt", "worker stopped")
            s.sendall(encode(Op.ECHO, body, request_id=2))
            wait_for(lambda: outq(s) == 0, "request queued")
        finally:
            os.kill(pid, signal.SIGCONT)
        f = read_frame(s, timeout=20)
        lines = st.stop()
    finally:
        s.close()
    t.check(f.request_id == 2 and f.value == body, "64 KiB ECHO: %r" % f)
    sends = [i for i, x in enumerate(lines) if x.startswith("sendto(")]
    t.check(len(sends) == 1 and "MSG_MORE" in lines[sends[0]] and
            any(x.startswith("splice(") for x in lines[:sends[0]]) and
            any(x.startswith("splice(") for x in lines[sends[0] + 1:]),
            "the answer's start, its body spliced: %r" % lines)


def mem_tls(srv):
    return MemTLS(("127.0.0.1", srv.port_tls),
                  tls_client_context(test_certs().ca))


@t.case
def records_read_ahead_are_all_answered(t):
    srv = t.server({"workers": 1}, tls=True)
    m = mem_tls(srv)
    n = 400
    data = b"".join(m.wrap(encode(Op.ECHO, b"r%d" % i, request_id=i + 1))
                    for i in range(n))
    m.sock.sendall(data)
    try:
        got = m.read_frames(n, timeout=10)
    except (TimeoutError, EOFError) as e:
        t.check(False, "400 records in one go: %s" % e)
        return
    off, bad = 0, 0
    for i in range(n):
        ln = int.from_bytes(got[off + 12:off + 16], "big")
        rid = int.from_bytes(got[off + 8:off + 12], "big")
        bad += rid != i + 1 or got[off + 16:off + 16 + ln] != b"r%d" % i
        off += 16 + ln
    t.check(bad == 0, "%d of %d answers out of order or wrong" % (bad, n))
    m.sock.close()


@t.case
def records_read_ahead_answered_after_pause(t):
    """Reading paused at output_limit while whole records wait read ahead
    in OpenSSL (epoll cannot see them): resumed, they are all answered."""
    srv = t.server({"workers": 1, "output_limit": 4096}, tls=True)
    m = mem_tls(srv)
    n, val = 1500, b"v" * 1000
    data = b"".join(m.wrap(encode(Op.ECHO, val, request_id=i + 1))
                    for i in range(n))
    sender = threading.Thread(target=m.sock.sendall, args=(data,))
    sender.start()
    # Not reading for a while: the answers pass output_limit and the
    # socket buffers, and the worker stops reading (or the sender is done).
    sender.join(1.0)
    try:
        got = m.read_frames(n, timeout=20)
    except (TimeoutError, EOFError) as e:
        t.check(False, "%d records, reading paused: %s" % (n, e))
        got = None
    sender.join(20)
    if got is not None:
        off, bad = 0, 0
        for i in range(n):
            ln = int.from_bytes(got[off + 12:off + 16], "big")
            rid = int.from_bytes(got[off + 8:off + 12], "big")
            bad += rid != i + 1 or got[off + 16:off + 16 + ln] != val
            off += 16 + ln
        t.check(bad == 0, "%d of %d answers wrong" % (bad, n))
    m.sock.close()


@t.case
def trickled_record_does_not_spin(t):
    srv = t.server({"workers": 1, "read_timeout": 30}, tls=True)
    pid = one_worker(srv)
    m = mem_tls(srv)
    t.check(m.request(Op.PING)[16:20] == b"PONG", "PING before")
    rec = m.wrap(encode(Op.ECHO, b"trickled", request_id=7))
    st = Strace(pid, srv.dir)
    for i in range(len(rec)):
        m.sock.sendall(rec[i:i + 1])
        time.sleep(0.02)
    try:
        got = m.read_frames(1)
    except (TimeoutError, EOFError) as e:
        got = repr(e).encode()
    calls = st.stop()
    reads, _ = reads_writes(calls)
    t.check(got[16:] == b"trickled", "the trickled ECHO: %r" % got[:40])
    # About one read per byte (each one wakes the worker); a worker that
    # spun on OpenSSL's partial record would read thousands of times.
    t.check(reads <= 2 * len(rec) + 10,
            "%d reads for a record trickled in %d bytes (%r)" % (
                reads, len(rec), calls))
    m.sock.close()


BATCH_CONNS = 20
BATCH_FRAMES = 4


def proc_state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def wait_for(cond, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.005)


def outq(s):
    """Bytes s sent that the peer's kernel has not acknowledged."""
    return struct.unpack("i", fcntl.ioctl(s.fileno(), termios.TIOCOUTQ,
                                          b"\0\0\0\0"))[0]


def ready_at_once(srv, pid):
    """Stop the worker, queue BATCH_FRAMES ECHOs on each of BATCH_CONNS
    connections, wake it: all are ready in its first wait.  Returns
    (answers right, the worker's calls meanwhile)."""
    socks = [connect(srv.tcp_addr, timeout=10) for _ in range(BATCH_CONNS)]
    try:
        for i, s in enumerate(socks):     # accepted and registered
            s.sendall(encode(Op.PING, request_id=1))
            read_frame(s, timeout=10)
        st = Strace(pid, srv.dir)
        os.kill(pid, signal.SIGSTOP)
        try:
            wait_for(lambda: proc_state(pid) in "Tt", "worker stopped")
            for i, s in enumerate(socks):
                s.sendall(b"".join(
                    encode(Op.ECHO, b"c%d f%d" % (i, j), request_id=j + 2)
                    for j in range(BATCH_FRAMES)))
            # In the worker's receive queues: acknowledged by its kernel.
            wait_for(lambda: all(outq(s) == 0 for s in socks),
                     "requests queued")
        finally:
            os.kill(pid, signal.SIGCONT)
        right = 0
        for i, s in enumerate(socks):
            for j in range(BATCH_FRAMES):
                f = read_frame(s, timeout=10)
                right += (f.request_id == j + 2 and
                          f.value == b"c%d f%d" % (i, j))
        return right, st.stop()
    finally:
        for s in socks:
            s.close()


@t.case
def many_ready_batched(t):
    want = BATCH_CONNS * BATCH_FRAMES
    srv = t.server({"workers": 1}, tcp=True)
    right, calls = ready_at_once(srv, one_worker(srv))
    print("batched: %r" % calls)
    t.check(right == want, "batched: %d of %d answers right" % (right,
                                                                want))
    # One io_uring_enter for the reads, one for the sends; a turn more
    # for what a connection had left is allowed, not one per connection.
    t.check(2 <= calls.get("io_uring_enter", 0) <= 4 and
            calls.get("recvfrom", 0) <= 2 and calls.get("sendto", 0) <= 2,
            "batched: %r" % calls)
    srv.stop()
    srv = t.server({"workers": 1, "io_uring": False}, tcp=True)
    right, calls = ready_at_once(srv, one_worker(srv))
    print("io_uring = false: %r" % calls)
    t.check(right == want, "io_uring = false: %d of %d answers right" % (
        right, want))
    t.check(calls.get("io_uring_enter", 0) == 0 and
            calls.get("recvfrom", 0) >= BATCH_CONNS and
            calls.get("sendto", 0) >= BATCH_CONNS,
            "io_uring = false: %r" % calls)


if __name__ == "__main__":
    t.run()

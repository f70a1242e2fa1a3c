"""test_backpressure: a client that writes without reading (output_limit =
65536, workers = 1).

The client pipelines 1024 ECHOs of 64 KiB (64 MiB) with a non-blocking send
loop and reads nothing: its sends must stall (the server stops reading);
meanwhile another client's PINGs are answered promptly, and the worker's
VmRSS does not grow by more than 32 MiB (bounded memory).  Then the client
sends the rest while reading everything: 1024 answers, correct and in order.
Over TCP (large loopback buffers) and over the unix socket.
Also a client that does read: 10 ECHOs of 16 KiB in one write (answers over
output_limit within one read) must all be answered.
"""
import select
import socket
import struct
import time

from harness import (HDR_LEN, Op, Suite, encode, parse_frames,
                     response_problems, rss_kib)

t = Suite("test_backpressure")

NREQ = 1024
SIZE = 64 * 1024
RSS_GROWTH_MAX_KIB = 32 * 1024
BASE = bytes((i * 31 + 7) & 0xFF for i in range(SIZE - 4))


def value(i):
    return struct.pack(">I", i) + BASE


def frames_bytes():
    for i in range(NREQ):
        yield encode(Op.ECHO, value(i), request_id=i + 1)


def send_until_stalled(sock, gen, stall=1.5, limit=30.0):
    """Send from gen without reading until no byte moves for stall seconds.
    Returns (bytes sent, pending tail of the current frame, stalled?)."""
    sock.setblocking(False)
    sent = 0
    pending = b""
    last = time.monotonic()
    deadline = last + limit
    while time.monotonic() < deadline:
        if not pending:
            pending = next(gen, b"")
            if not pending:
                return sent, b"", False
        try:
            n = sock.send(pending)
        except BlockingIOError:
            n = 0
        if n:
            sent += n
            pending = pending[n:]
            last = time.monotonic()
        elif time.monotonic() - last >= stall:
            return sent, pending, True
        else:
            select.select([], [sock], [], 0.1)
    return sent, pending, True


def finish(t, sock, gen, pending, what, limit=60.0):
    """Send the rest and read every answer; check them in order."""
    sock.setblocking(False)
    buf = bytearray()
    got = 0
    bad = []
    deadline = time.monotonic() + limit
    moved = time.monotonic()
    eof = False
    while got < NREQ and time.monotonic() < deadline and not eof and \
            not bad and time.monotonic() - moved < 8.0:
        if not pending:
            pending = next(gen, b"")
        want_w = [sock] if pending else []
        r, w, _ = select.select([sock], want_w, [], 0.5)
        if w:
            try:
                n = sock.send(pending)
                pending = pending[n:]
                moved = time.monotonic()
            except BlockingIOError:
                pass
        if r:
            try:
                b = sock.recv(1 << 20)
            except BlockingIOError:
                b = None
            if b == b"":
                eof = True
            elif b:
                moved = time.monotonic()
                buf += b
                frames, rest = parse_frames(bytes(buf))
                buf = bytearray(rest)
                for f in frames:
                    p = response_problems(f, Op.ECHO, rid=got + 1,
                                          value=value(got))
                    if p:  # framing is lost after a bad answer
                        bad.append("answer %d: %s" % (got + 1, p))
                        break
                    got += 1
    # Was a bug (reported; fixed in 204e6fa): over TCP the worker read the
    # whole 64 MiB, flushed its output, and never processed the stranded
    # input (no new EPOLLIN came): few answers, then read_timeout closed.
    ok = t.check(got == NREQ, "%s: %d of %d answers (eof=%s)" % (
        what, got, NREQ, eof))
    # Was a bug (reported; fixed in 204e6fa): ops_dispatch wrote the header
    # at an offset taken before buf_append() compacted the output buffer:
    # answers queued behind a partly sent one got a zeroed header.
    return t.check(not bad, "%s: wrong answers: %s" % (what, bad)) and ok


def scenario(t, srv, addr, where):
    worker = srv.wait_workers()[0][0]
    with srv.client(addr=addr) as c, srv.client() as probe:
        # Warm up both connections and the worker's allocator.
        f = c.request(Op.ECHO, value(7), request_id=999999)
        t.check_response(f, "%s warm-up ECHO" % where, Op.ECHO, rid=999999,
                         value=value(7))
        rss0 = rss_kib(worker)
        gen = frames_bytes()
        sent, pending, stalled = send_until_stalled(c.sock, gen)
        total = NREQ * (HDR_LEN + SIZE)
        print("%s: %d of %d bytes sent before the stall" % (where, sent,
                                                             total))
        # Was a bug (reported; fixed in 204e6fa): failed over TCP, see RSS.
        t.check(stalled and sent < total, "%s: the server kept reading a "
                "client that reads nothing (%d of %d bytes sent)" % (
                    where, sent, total))
        # Other clients are still served promptly.
        for i in range(5):
            t0 = time.monotonic()
            f = probe.request(Op.PING, request_id=i + 1)
            took = time.monotonic() - t0
            t.check_response(f, "%s PING during backpressure" % where,
                             Op.PING, rid=i + 1, value=b"PONG")
            t.check(took < 2.0, "%s: PING took %.2f s during backpressure"
                    % (where, took))
        rss1 = rss_kib(worker)
        print("%s: worker %d VmRSS %d KiB -> %d KiB" % (where, worker, rss0,
                                                        rss1))
        # Was a bug (reported; fixed in 204e6fa): conn_read went on reading
        # while the output was over output_limit, the input buffer doubling
        # on each of 8 reads per event: +60 MiB for one TCP client.
        t.check(rss0 is not None and rss1 is not None and
                rss1 - rss0 <= RSS_GROWTH_MAX_KIB,
                "%s: worker VmRSS grew from %s to %s KiB while the client "
                "did not read (limit +%d KiB)" % (where, rss0, rss1,
                                                  RSS_GROWTH_MAX_KIB))
        if not finish(t, c.sock, gen, pending, where):
            return
        c.sock.settimeout(5)
        f = c.request(Op.PING, request_id=NREQ + 1)
        t.check_response(f, "%s PING after draining" % where, Op.PING,
                         rid=NREQ + 1, value=b"PONG")


@t.case
def burst_over_output_limit(t):
    srv = t.server({"workers": 1, "output_limit": 65536, "read_timeout": 3},
                   tcp=True, tls=True)
    vals = [bytes([65 + i]) * 16384 for i in range(10)]
    burst = b"".join(encode(Op.ECHO, v, request_id=i + 1)
                     for i, v in enumerate(vals))
    for addr, where in srv.transports():
        with srv.client(addr=addr) as c:
            c.send(burst)
            got = 0
            try:
                for i, v in enumerate(vals):
                    f = c.recv_frame(timeout=6)
                    if response_problems(f, Op.ECHO, rid=i + 1, value=v):
                        break
                    got += 1
            except (EOFError, TimeoutError) as e:
                print("%s: after %d answers: %s" % (where, got, e))
            # Was a bug (reported; fixed in 204e6fa): conn_process() stopped
            # at output_limit, conn_flush() emptied the output into the
            # socket, and nothing processed the frames left in the input:
            # 4 of 10 answered, then read_timeout closed the connection.
            t.check(got == len(vals), "%s: %d of %d pipelined 16 KiB ECHOs "
                    "answered (output_limit 65536, client reading)" % (
                        where, got, len(vals)))


@t.case
def backpressure_tcp(t):
    srv = t.server({"workers": 1, "output_limit": 65536,
                    "max_body": 1 << 20, "read_timeout": 5}, tcp=True, tls=True)
    scenario(t, srv, srv.tcp_addr, "tcp")


@t.case
def backpressure_unix(t):
    srv = t.server({"workers": 1, "output_limit": 65536,
                    "max_body": 1 << 20, "read_timeout": 5})
    scenario(t, srv, srv.addr, "unix")


t.run()

#!/usr/bin/env python3
"""test_bench_writes.py: msgctl bench's writes when the socket takes less
than a call offers.

msgctl bench writes many requests per call; small ones it first gathers
into one buffer (src/bench.c, bconn_write), and a short write must resume
at the very byte where it stopped, gathered or not.  A server that reads
slowly through a small receive buffer (4 KiB), with more requests in
flight than the client's send buffer holds, keeps that buffer full, so
that the client's writes come up short again and again:
- --raw against a slow echo server: the client compares the stream as it
  comes back, so a byte lost, doubled or out of order fails the run;
- msgd frames against a slow server that answers each ECHO with its value:
  every answer's request id, opcode, status and value are checked.
Each must answer every request (exit 0, bad_answers 0).
"""
import json
import sys
import time

from harness import F_RESPONSE, HDR, HDR_LEN, MSGCTL, SKIP, St, Suite, run
from tcpfake import TCPFake

t = Suite("test_bench_writes")

REQUESTS = 8000
PIPELINE = 1024


def value_size():
    """Value bytes that put four times the send buffer a TCP socket starts
    with in flight on each connection (at least 600), or None when that
    is no longer small enough for bench to gather (under 1 KiB)."""
    with open("/proc/sys/net/ipv4/tcp_wmem") as f:
        start = int(f.read().split()[1])
    size = max(600, 4 * start // PIPELINE)
    return size if size < 1000 else None


SIZE = value_size()
if SIZE is None:
    print("SKIP: net.ipv4.tcp_wmem starts the send buffer too large for "
          "small requests to fill it")
    sys.exit(SKIP)


class SlowServer(TCPFake):
    """A loopback TCP server that reads at most 2 KiB every half
    millisecond through a 4 KiB receive buffer; raw: echoes the bytes,
    else answers each msgd frame with its value."""

    def __init__(self, raw):
        self.raw = raw
        # Small segments keep the client's send buffer small too (the
        # kernel sizes it by the segment, 64 KiB over loopback).
        super().__init__(rcvbuf=4096, maxseg=1000)

    def _answers(self, buf):
        """The answers to the whole frames at buf's front, and the rest."""
        out = []
        while len(buf) >= HDR_LEN:
            f = HDR.unpack(buf[:HDR_LEN])
            end = HDR_LEN + f[7]
            if len(buf) < end:
                break
            value = buf[HDR_LEN + f[5]:end]
            out.append(HDR.pack(f[0], f[1], F_RESPONSE, f[3], St.OK, 0,
                                f[6], len(value)) + value)
            buf = buf[end:]
        return b"".join(out), buf

    def serve(self, c):
        buf = b""
        while True:
            b = c.recv(2048)
            if not b:
                return
            if self.raw:
                c.sendall(b)
            else:
                out, buf = self._answers(buf + b)
                c.sendall(out)
            time.sleep(0.0005)


def bench_through(t, raw):
    srv = SlowServer(raw)
    try:
        argv = [MSGCTL, "-H", srv.addr, "-T", "10", "bench", "-c", "2",
                "-t", "1", "-P", str(PIPELINE), "-s", str(SIZE), "-n",
                str(REQUESTS),
                "--json"] + (["--raw"] if raw else [])
        rc, out, err, secs = run(argv, timeout=120.0)
        what = "bench %s through a slow reader" % (
            "--raw" if raw else "with msgd frames")
        try:
            res = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res = {}
        t.check(rc == 0 and res.get("requests") == REQUESTS and
                res.get("bad_answers") == 0 and res.get("errors") == 0,
                "%s: exit %d after %.1f s, %r, stderr %r" % (
                    what, rc, secs, res, err[-500:]))
    finally:
        srv.close()


@t.case
def raw_echo_short_writes(t):
    bench_through(t, raw=True)


@t.case
def framed_short_writes(t):
    bench_through(t, raw=False)


t.run()

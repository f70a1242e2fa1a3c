#!/usr/bin/env python3
"""test_bench_tools.py: what bench/compare and bench/benchlib.py decide
before any server runs.

- The equal-bytes row (w1p16w): echo_floor echoes as many bytes as msgd's
  frame (value + 16-byte header), msgd and redis send the value; redis
  sits the row out, and a run of redis alone has no server to turn to
  in that row (no division by zero).
- The kernel's fast-path share: parsed from /proc/net/snmp and
  /proc/net/netstat texts, divided per run, left out where a run has no
  TCP counters (the unix row) or received no segment.
- run_load records the TCP counters over TCP, and not over a unix socket.
- bench/ab: its cases parsed, and a wrong command line refused before
  any server starts (a bad case, a tree without msgd, A = B, no runs).
"""
import importlib.machinery
import importlib.util
import json
import os
import sys

from harness import BUILDDIR, SRCDIR, Suite, run

t = Suite("test_bench_tools")


def load(name, path):
    """A module from a file of bench/ (compare has no .py suffix)."""
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_loader(name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


compare = load("bench_compare", os.path.join(SRCDIR, "bench", "compare"))
bl = compare.bl
AB = os.path.join(SRCDIR, "bench", "ab")
ab = load("bench_ab", AB)

SNMP = """Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 12345
Icmp: InMsgs InErrors
Icmp: 3 0
Tcp: RtoAlgorithm RtoMin InSegs OutSegs
Tcp: 1 200 4000 3999
Udp: InDatagrams
Udp: 7
"""
NETSTAT = """TcpExt: SyncookiesSent TCPHPHits TCPHPAcks
TcpExt: 0 1500 20
IpExt: InNoRoutes TCPHPHits
IpExt: 0 999
"""


@t.case
def wire_row(t):
    """w1p16w: the floor's requests carry msgd's frame; the others, and
    every other row, the value."""
    rows = {r[0]: r for r in compare.ROWS}
    w = rows["w1p16w"]
    t.check(compare.row_size(w, "echo_floor") == 80,
            "w1p16w: echo_floor echoes %d bytes, not 80" %
            compare.row_size(w, "echo_floor"))
    t.check(compare.row_size(w, "msgd") == 64,
            "w1p16w: msgd sends %d value bytes, not 64" %
            compare.row_size(w, "msgd"))
    for rid, r in rows.items():
        if rid in compare.WIRE_ROWS:
            continue
        t.check(compare.row_size(r, "echo_floor") == r[2],
                "%s: echo_floor's size %d, not the row's %d" % (
                    rid, compare.row_size(r, "echo_floor"), r[2]))
    # Same workers and load otherwise as w1p16, its 64-byte twin.
    t.check(w[2:7] == rows["w1p16"][2:7],
            "w1p16w's load differs from w1p16's: %r %r" % (
                w[2:7], rows["w1p16"][2:7]))


@t.case
def wire_row_servers(t):
    """Redis sits out w1p16w; with redis alone there is nobody to run
    it, and the rotation says so instead of dividing by zero."""
    allk = ["msgd", "echo_floor", "redis"]
    t.check(compare.row_kinds("w1p16w", allk) == ["msgd", "echo_floor"],
            "w1p16w runs %r" % compare.row_kinds("w1p16w", allk))
    t.check(compare.row_kinds("w1p16", allk) == allk,
            "w1p16 runs %r" % compare.row_kinds("w1p16", allk))
    for rep in range(3):
        try:
            got = compare.turn_order("w1p16w", ["redis"], rep)
        except ZeroDivisionError:
            got = "ZeroDivisionError"
        t.check(got == [], "redis alone, w1p16w, rep %d: %r" % (rep, got))
    # Each server goes first once in three repetitions.
    firsts = [compare.turn_order("c1", allk, rep)[0] for rep in range(3)]
    t.check(sorted(firsts) == sorted(allk), "first servers %r" % firsts)
    t.check(all(sorted(compare.turn_order("c1", allk, rep)) ==
                sorted(allk) for rep in range(3)),
            "a repetition left a server out")


@t.case
def proc_net(t):
    """The counters come from the right lines of each file."""
    t.check(bl.proc_net_counters(SNMP, "Tcp:", ("InSegs",)) ==
            {"InSegs": 4000}, "snmp: %r" %
            bl.proc_net_counters(SNMP, "Tcp:", ("InSegs",)))
    got = bl.proc_net_counters(NETSTAT, "TcpExt:", ("TCPHPHits",))
    t.check(got == {"TCPHPHits": 1500}, "netstat (IpExt ignored): %r" % got)
    t.check(bl.proc_net_counters(NETSTAT, "Tcp:", ("InSegs",)) == {},
            "no Tcp: lines must give nothing")
    t.check(bl.proc_net_counters("Tcp: InSegs\n", "Tcp:", ("InSegs",))
            == {}, "a names line without values must give nothing")
    t.check(bl.proc_net_counters("Tcp: InSegs\nTcp: x\n", "Tcp:",
                                 ("InSegs",)) == {},
            "a value that is not a number must be left out")
    # This machine's own files parse, when it has them.
    live = bl.tcp_counters()
    if os.path.exists("/proc/net/snmp"):
        t.check(isinstance(live.get("InSegs"), int),
                "/proc/net/snmp: no InSegs in %r" % live)


@t.case
def fast_share(t):
    """Fast-path data segments per segment received, the median over the
    runs that have the counters."""
    runs = [{"tcp": {"InSegs": 200, "TCPHPHits": 100}},
            {"tcp": {"InSegs": 100, "TCPHPHits": 100}},
            {"tcp": {"InSegs": 100, "TCPHPHits": 0}},
            {},                                   # unix: no counters
            {"tcp": {"InSegs": 0, "TCPHPHits": 0}},  # nothing received
            {"tcp": {"InSegs": 100}}]             # no TCPHPHits
    share = bl.fast_path_share(runs)
    t.check(share == 50.0, "median of 50, 100, 0 is 50, got %r" % share)
    t.check(bl.fast_path_share([{}, {"tcp": {}}]) is None,
            "runs without counters must give None")


class FakeServer:
    """Enough of a benchlib Server for run_load: this process, and a
    'msgctl' that prints one answered request as JSON."""
    tag = "fake"

    def pids(self):
        return [os.getpid()]

    def worker_pids(self):
        return [os.getpid()]

    def msgctl(self, args, unix=False):
        return [sys.executable, "-c", "print(%r)" % json.dumps(
            {"requests": 1, "requests_per_s": 1.0})]


@t.case
def run_load_tcp(t):
    """Over TCP a run keeps the counters' differences; over a unix
    socket none (what TCP did meanwhile was somebody else's)."""
    srv = FakeServer()
    tcp = bl.run_load(srv, 64, 1, 1, False, 1, 1)
    t.check(tcp.get("requests") == 1 and tcp.get("exit") == 0,
            "the fake run failed: %r" % tcp)
    if os.path.exists("/proc/net/snmp"):
        t.check("InSegs" in tcp.get("tcp", {}),
                "a TCP run has no segment count: %r" % tcp.get("tcp"))
    unix = bl.run_load(srv, 64, 1, 1, True, 1, 1)
    t.check("tcp" not in unix, "a unix run has TCP counters: %r" %
            unix.get("tcp"))


@t.case
def ab_cases(t):
    got = ab.parse_cases("65536:8,64:50:16")
    t.check(got == [(65536, 8, 1), (64, 50, 16)], "cases: %r" % got)


@t.case
def ab_refuses(t):
    """Each wrong command line: exit 2 with the problem named, at once."""
    here, missing = BUILDDIR, os.path.join(BUILDDIR, "no-such-tree")
    two = ["--builddir", missing, "--builddir", here]
    for args, want in [
            (two + ["--cases", "5:x"], "'5:x' is not SIZE:CONNS"),
            (two + ["--cases", "0:8"], "'0:8' is not SIZE:CONNS"),
            (two + ["--cases", "64:8:1:1"], "'64:8:1:1' is not SIZE:CONNS"),
            (two + ["--reps", "0"], "must be at least 1"),
            (["--builddir", here], "give it twice")]:
        argv = [sys.executable, AB] + args
        rc, out, err, _ = run(argv, timeout=30)
        t.check(rc == 2 and want in err, "ab %r: rc %d, %r" % (
            args, rc, err[-300:]))
    rc, out, err, _ = run([sys.executable, AB, "--builddir", missing,
                           "--builddir", here, "--no-floor"], timeout=30)
    t.check(rc == 2 and "no-such-tree has no src/msgd" in err,
            "a tree without msgd: rc %d, %r" % (rc, err[-300:]))
    rc, out, err, _ = run([sys.executable, AB, "--builddir", here,
                           "--builddir", here + "/.", "--no-floor"],
                          timeout=30)
    t.check(rc == 2 and "the same tree" in err,
            "A = B: rc %d, %r" % (rc, err[-300:]))


t.run()

"""test_stats_kill: counters survive a worker killed in the middle of a load.

workers = 2.  Eight client threads run a closed loop of ECHOs over the unix
socket (one in flight each, every answer verified), reconnecting when their
connection breaks, while another thread samples `msgctl stats --json` as
fast as it can.  After 0.8 s the worker with the most open connections is
SIGKILLed; the load goes on for 1.2 s more.  Then:

- in every pair of consecutive samples, no counter of the totals (gauges
  aside), no latency count/sum and no sum of the req_* counters decreased;
- totals ECHO count grew by at least the answers the clients received
  (each answered request is counted) and at most that plus the connections
  that broke (the killed worker may have counted a request whose answer
  never left), and by no more than the ECHOs sent;
- the killed worker is replaced by a worker with a new pid (also a child of
  the master), the killed pid is gone from the document, and its counters
  were folded into retired (retired >= what the last sample before the kill
  showed for it, retired conn_accepted and req_ping > 0);
- after the load, sum(req_*) == sum(st_*) == latency count in the totals.
"""
import os
import signal
import threading
import time

from harness import Client, Op, St, Suite
from statslib import (GAUGES, StatsError, at_rest, counters, delta,
                      idle_base, req_sum, settle, st_sum, stats_json)

t = Suite("test_stats_kill")

NCLIENTS = 8
KILL_AFTER = 0.8
RUN_AFTER = 1.2
MAX_RECONNECTS = 50


@t.case
def sigkill_mid_load(t):
    srv = t.server({"workers": 2}, health=False)
    base = idle_base(srv)
    b_tot = counters(base["totals"])
    stop = threading.Event()
    answered = [0] * NCLIENTS
    sent = [0] * NCLIENTS
    broken = [0] * NCLIENTS
    errors = []
    samples = []
    sample_errors = []

    def client(n):
        rid = 0
        c = None
        reconnects = 0
        try:
            while not stop.is_set():
                if c is None:
                    if reconnects > MAX_RECONNECTS:
                        errors.append("client %d: too many reconnects" % n)
                        return
                    reconnects += 1
                    try:
                        c = Client(srv.addr, timeout=5.0)
                    except OSError as e:
                        errors.append("client %d: connect: %r" % (n, e))
                        time.sleep(0.05)
                        continue
                rid += 1
                val = b"client %d request %d " % (n, rid) + b"v" * (rid % 97)
                try:
                    c.send_frame(Op.ECHO, val, request_id=rid)
                    sent[n] += 1
                    f = c.recv_frame()
                except (OSError, EOFError, TimeoutError) as e:
                    # The killed worker's connections end here.
                    broken[n] += 1
                    c.close()
                    c = None
                    if isinstance(e, TimeoutError):
                        errors.append("client %d: no answer in 5 s" % n)
                    continue
                if f.status != St.OK or f.request_id != rid or \
                        f.value != val:
                    errors.append("client %d: bad answer %r" % (n, f))
                    return
                answered[n] += 1
        finally:
            if c is not None:
                c.close()

    def sampler():
        while not stop.is_set():
            try:
                samples.append((time.monotonic(), stats_json(srv)))
            except StatsError as e:
                sample_errors.append(str(e))
                if len(sample_errors) > 5:
                    return

    threads = [threading.Thread(target=client, args=(n,), daemon=True)
               for n in range(NCLIENTS)]
    threads.append(threading.Thread(target=sampler, daemon=True))
    for th in threads:
        th.start()
    killed = None
    before_kill = None
    try:
        time.sleep(KILL_AFTER)
        # The worker with the most connections open (a fresh document).
        doc = stats_json(srv)
        ws = sorted(doc["workers"], key=lambda w: -w["counters"]
                    ["conn_active"])
        if t.check(len(ws) == 2, "want 2 workers before the kill: %r" % ws):
            before_kill = ws[0]
            killed = before_kill["pid"]
            t.check(before_kill["counters"]["conn_active"] > 0,
                    "no worker has a connection open 0.8 s into the load: "
                    "%r" % ws)
            os.kill(killed, signal.SIGKILL)
        time.sleep(RUN_AFTER)
    finally:
        stop.set()
        for th in threads:
            th.join(15)
    t.check(not any(th.is_alive() for th in threads),
            "client or sampler threads still running 15 s after the stop")
    t.check(not errors, "client errors: %r" % errors[:5])
    t.check(not sample_errors, "msgctl stats --json failed during the "
            "load: %r" % sample_errors[:3])
    if killed is None:
        return

    # Never backwards, in any pair of consecutive samples.
    back = []
    for (t0, a), (t1, b) in zip(samples, samples[1:]):
        ca, cb = counters(a["totals"]), counters(b["totals"])
        for k in ca:
            if k not in GAUGES and cb[k] < ca[k]:
                back.append("%s %d -> %d (samples at %.3f, %.3f)" % (
                    k, ca[k], cb[k], t0, t1))
        if req_sum(cb) < req_sum(ca):
            back.append("sum(req_*) %d -> %d" % (req_sum(ca), req_sum(cb)))
    t.check(len(samples) >= 10, "only %d samples taken during 2 s" %
            len(samples))
    t.check(not back, "totals went backwards between samples: %s" %
            back[:5])

    # The replacement, and the server at rest again.
    def replaced(d):
        pids = [w["pid"] for w in d["workers"]]
        return killed not in pids and at_rest(srv, d)
    ok, after = settle(srv, replaced, timeout=10.0)
    pids = [w["pid"] for w in after["workers"]]
    t.check(ok, "killed worker %d not replaced (or connections still "
            "open) within 10 s: workers %r" % (killed, after["workers"]))
    old = [w["pid"] for w in base["workers"]]
    new = [p for p in pids if p not in old]
    live = [p for p, st in srv.wait_workers(2) if st != "Z"]
    t.check(len(pids) == 2 and len(new) == 1 and killed not in pids,
            "workers before %r, killed %d, after %r: want exactly one new "
            "pid" % (old, killed, pids))
    t.check(sorted(pids) == sorted(live), "document's workers %r, the "
            "master's children %r" % (pids, live))

    tot = counters(after["totals"])
    d = delta(tot, b_tot)
    n_ans, n_sent, n_broken = sum(answered), sum(sent), sum(broken)
    t.check(n_ans > 0 and n_broken > 0, "load: %d answered, %d broken "
            "connections: want both > 0" % (n_ans, n_broken))
    t.check(n_ans <= d["req_echo"] <= min(n_ans + n_broken, n_sent),
            "ECHOs answered %d, sent %d, connections broken %d: totals "
            "req_echo grew by %d, want %d..%d" % (
                n_ans, n_sent, n_broken, d["req_echo"], n_ans,
                min(n_ans + n_broken, n_sent)))
    t.check(req_sum(tot) == st_sum(tot) == tot["latency.count"],
            "totals after the kill: req_* %d, st_* %d, latency count %d" % (
                req_sum(tot), st_sum(tot), tot["latency.count"]))
    ret = counters(after["retired"])
    low = {k: (ret[k], v) for k, v in counters(before_kill).items()
           if k not in GAUGES and ret[k] < v}
    t.check(not low, "retired below what the killed worker had counted "
            "before the kill: (retired, worker) %r" % low)
    t.check(ret["conn_accepted"] > 0 and ret["req_ping"] > 0 and
            ret["req_echo"] > 0 and after["retired"]["counters"]
            ["conn_active"] == 0,
            "retired counters after the kill: %r" % after["retired"])
    died = [l for l in srv.log().splitlines() if "killed by signal" in l]
    t.check(len(died) == 1 and str(killed) in died[0],
            "log: want one worker killed (pid %d), got %r" % (killed, died))


t.run()

"""test_stats_torn: no torn snapshot while the workers write flat out.

workers = 2 run `msgctl bench -c 16 -P 16 -d 3` (ECHO over the unix socket),
again (up to 10 rounds) until the readers have taken enough snapshots,
while readers take as many snapshots as they can: one runs
`msgctl stats --json` (every fourth time `--prometheus`) in a loop, the
other pipelines STATS requests (the snapshot is then taken by a worker while
the other one writes).  Every snapshot must pass what a torn read would
break -- for every worker entry, retired and the totals: sum(req_*) ==
sum(st_*) == latency_us.count (a worker's pending updates go into its slot
in one seqlock section, stats_publish); conn_accepted >= conn_closed;
conn_active == conn_accepted - conn_closed for each live worker (published
in the same sections), and
for the totals as long as no worker has exited; the totals are retired plus
the workers, counter by counter; torn_slots == 0.  Across the snapshots of
one reader, no counter of a worker (same pid) decreases.  The Prometheus
snapshots: per worker series requests == responses, accepted >= closed,
active == accepted - closed; the sum of requests over workers == the
histogram's _count == its +Inf bucket; buckets cumulative.  After the run,
totals req_echo grew by exactly the answers the bench rounds verified.
"""
import json
import subprocess
import threading

from harness import MSGCTL, Client, Op, St, Suite
from statslib import (GAUGES, StatsError, counters, ctl_stats, delta,
                      idle_base, parse_doc, parse_prom, req_sum, settle,
                      st_sum)

t = Suite("test_stats_torn")

DURATION = 3
ROUNDS_MAX = 10
MAX_PROBLEMS = 20
SHELL_BATCH = 20


def part_problems(where, part, live):
    p = []
    c = counters(part)
    if not req_sum(c) == st_sum(c) == c["latency.count"]:
        p.append("%s: sum(req_*) %d, sum(st_*) %d, latency count %d" % (
            where, req_sum(c), st_sum(c), c["latency.count"]))
    if c["conn_accepted"] < c["conn_closed"]:
        p.append("%s: conn_accepted %d < conn_closed %d" % (
            where, c["conn_accepted"], c["conn_closed"]))
    if live and c["conn_active"] != c["conn_accepted"] - c["conn_closed"]:
        p.append("%s: conn_active %d != accepted %d - closed %d" % (
            where, c["conn_active"], c["conn_accepted"], c["conn_closed"]))
    lat = part["latency_us"]
    pct = [lat["p50"], lat["p90"], lat["p99"], lat["p99.9"]]
    if pct != sorted(pct):
        p.append("%s: percentiles out of order %r" % (where, lat))
    return p


def doc_problems(doc, what):
    p = []
    if doc["torn_slots"] != 0:
        p.append("%s: torn_slots %d" % (what, doc["torn_slots"]))
    for w in doc["workers"]:
        p += part_problems("%s, worker %d" % (what, w["pid"]), w, True)
    p += part_problems("%s, retired" % what, doc["retired"], False)
    # With no worker gone, the totals' gauge is exact too.
    p += part_problems("%s, totals" % what, doc["totals"],
                       doc["retired"]["counters"]["conn_accepted"] == 0)
    tot = counters(doc["totals"])
    parts = [counters(doc["retired"])] + [counters(w) for w in
                                          doc["workers"]]
    summed = {k: sum(c[k] for c in parts) for k in tot}
    if summed != tot:
        p.append("%s: totals are not retired + workers: %r" % (what, {
            k: (tot[k], summed[k]) for k in tot if tot[k] != summed[k]}))
    mx = max([doc["retired"]["latency_us"]["max"]] +
             [w["latency_us"]["max"] for w in doc["workers"]])
    if doc["totals"]["latency_us"]["max"] != mx:
        p.append("%s: totals latency max %d, parts' max %d" % (
            what, doc["totals"]["latency_us"]["max"], mx))
    return p


def monotony_problems(prev, doc, what):
    """Per worker (by pid), nothing decreases; updates prev."""
    p = []
    for w in doc["workers"]:
        c = counters(w)
        c["latency.max"] = w["latency_us"]["max"]
        old = prev.get(w["pid"])
        if old is not None:
            back = {k: (old[k], c[k]) for k in c
                    if k not in GAUGES and c[k] < old[k]}
            if back:
                p.append("%s: worker %d went backwards: %r" % (
                    what, w["pid"], back))
        prev[w["pid"]] = c
    return p


def prom_problems(text, what):
    samples, types, p = parse_prom(text)
    p = ["%s: %s" % (what, x) for x in p]
    by = {}
    for name, labels, v in samples:
        w = labels.get("worker")
        if w is None:
            continue
        d = by.setdefault(w, {})
        d[name] = d.get(name, 0) + v
    for w, d in by.items():
        req = d.get("msgd_requests_total", 0)
        st = d.get("msgd_responses_total", 0)
        acc = d.get("msgd_connections_accepted_total", 0)
        clo = d.get("msgd_connections_closed_total", 0)
        if req != st:
            p.append("%s: worker %s requests %d != responses %d" % (
                what, w, req, st))
        if acc < clo:
            p.append("%s: worker %s accepted %d < closed %d" % (
                what, w, acc, clo))
        if w != "retired" and d.get("msgd_connections_active", -1) != \
                acc - clo:
            p.append("%s: worker %s active %r != accepted %d - closed %d" %
                     (what, w, d.get("msgd_connections_active"), acc, clo))
    total_req = sum(d.get("msgd_requests_total", 0) for d in by.values())
    count = [v for n, l, v in samples
             if n == "msgd_request_duration_seconds_count"]
    buckets = [(l.get("le"), v) for n, l, v in samples
               if n == "msgd_request_duration_seconds_bucket"]
    if count != [total_req]:
        p.append("%s: histogram _count %r, requests over workers %d" % (
            what, count, total_req))
    les = [float(le) for le, _ in buckets]
    vals = [v for _, v in buckets]
    if not buckets or buckets[-1][0] != "+Inf" or les != sorted(les) or \
            vals != sorted(vals) or [vals[-1]] != count:
        p.append("%s: histogram buckets not cumulative up to +Inf == "
                 "_count %r: %r" % (what, count, buckets[-6:]))
    return p


@t.case
def hammer(t):
    srv = t.server({"workers": 2})
    base = idle_base(srv)
    pids = [w["pid"] for w in base["workers"]]
    done = threading.Event()
    problems = {"msgctl": [], "shell": [], "STATS": []}
    taken = {"json": 0, "prometheus": 0, "shell": 0, "STATS": 0,
             "moving": 0}

    def note(who, ps):
        if ps and len(problems[who]) < MAX_PROBLEMS:
            problems[who].extend(ps[:MAX_PROBLEMS - len(problems[who])])

    def ctl_reader():
        prev = {}
        last = None
        n = 0
        while not done.is_set():
            n += 1
            prom = n % 4 == 0
            rc, out, err = ctl_stats(srv, "--prometheus" if prom else
                                     "--json")
            if rc != 0:
                note("msgctl", ["msgctl stats: exit %d, %r" % (rc, err)])
                return
            if prom:
                taken["prometheus"] += 1
                note("msgctl", prom_problems(out, "--prometheus #%d" % n))
                continue
            try:
                doc = parse_doc(out)
            except StatsError as e:
                note("msgctl", [str(e)])
                return
            taken["json"] += 1
            what = "--json #%d" % n
            note("msgctl", doc_problems(doc, what))
            note("msgctl", monotony_problems(prev, doc, what))
            tot = req_sum(counters(doc["totals"]))
            if last is not None and tot != last:
                taken["moving"] += 1
            last = tot

    def shell_reader():
        # One msgctl shell, many `stats --json` lines: no process start per
        # snapshot, so many more snapshots in the same time.
        prev = {}
        n = 0
        p = subprocess.Popen([MSGCTL, "-c", srv.conf_path, "shell"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        try:
            while not done.is_set():
                p.stdin.write(b"stats --json\n" * SHELL_BATCH)
                p.stdin.flush()
                for _ in range(SHELL_BATCH):
                    line = p.stdout.readline()
                    n += 1
                    try:
                        doc = parse_doc(line.decode(errors="replace"))
                    except StatsError as e:
                        note("shell", ["msgctl shell: %s" % e])
                        return
                    taken["shell"] += 1
                    what = "shell --json #%d" % n
                    note("shell", doc_problems(doc, what))
                    note("shell", monotony_problems(prev, doc, what))
        except OSError as e:
            note("shell", ["msgctl shell: %r" % e])
        finally:
            try:
                p.stdin.close()
            except OSError:
                pass
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def op_reader():
        prev = {}
        rid = 0
        try:
            with Client(srv.addr, timeout=10) as c:
                while not done.is_set():
                    first = rid + 1
                    for _ in range(4):
                        rid += 1
                        c.send_frame(Op.STATS, request_id=rid)
                    for r in range(first, rid + 1):
                        f = c.recv_frame()
                        if f.status != St.OK or f.request_id != r:
                            note("STATS", ["STATS answer %r" % f])
                            return
                        doc = parse_doc(f.value.decode())
                        taken["STATS"] += 1
                        what = "STATS #%d" % r
                        note("STATS", doc_problems(doc, what))
                        note("STATS", monotony_problems(prev, doc, what))
        except (OSError, EOFError, TimeoutError, StatsError) as e:
            note("STATS", ["STATS reader: %r" % e])

    readers = [threading.Thread(target=fn, daemon=True)
               for fn in (ctl_reader, shell_reader, op_reader)]
    def enough():
        return taken["json"] >= 10 and taken["prometheus"] >= 3 and \
            taken["STATS"] >= 10 and taken["moving"] >= 3

    # The load runs in rounds of DURATION seconds until the readers have
    # taken enough snapshots: a slow machine (ASan, a loaded CI) makes
    # fewer per second, not a weaker test.  At most ROUNDS_MAX rounds.
    runs = []
    for th in readers:
        th.start()
    try:
        for _ in range(ROUNDS_MAX):
            bench = subprocess.Popen(
                [MSGCTL, "-U", srv.sock_path, "-T", "10", "bench", "-c",
                 "16", "-P", "16", "-d", str(DURATION), "--json"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                out, err = bench.communicate(timeout=DURATION + 20)
            except subprocess.TimeoutExpired:
                bench.kill()
                out, err = bench.communicate()
            runs.append((bench.returncode, out, err))
            if bench.returncode != 0 or enough():
                break
    finally:
        done.set()
        for th in readers:
            th.join(20)
    t.check(not any(th.is_alive() for th in readers),
            "readers still running 20 s after the load")
    print("snapshots: %r" % taken)
    for who, ps in problems.items():
        t.check(not ps, "%s snapshots during the load: %d problem(s):\n  %s"
                % (who, len(ps), "\n  ".join(ps)))
    t.check(taken["json"] >= 10 and taken["prometheus"] >= 3 and
            taken["STATS"] >= 10,
            "too few snapshots to mean anything in %d rounds: %r" % (
                len(runs), taken))
    t.check(taken["moving"] >= 3, "the --json snapshots did not see the "
            "load move: %r" % taken)
    res = {"errors": 0, "unanswered": 0, "requests": 0}
    for rc, out, err in runs:
        if not t.check(rc == 0, "bench: exit %r, stderr %r" % (rc, err)):
            return
        try:
            r = json.loads(out)
        except ValueError:
            t.check(False, "bench --json printed %r" % out[:300])
            return
        t.check(r["errors"] == 0 and r["unanswered"] == 0 and
                r["requests"] > 0, "bench: %r" % r)
        for k in res:
            res[k] += r[k]

    # Every verified answer is counted, and nothing else was sent: bench
    # ECHOs plus the STATS reader's requests.
    b_tot = counters(base["totals"])

    def counted(d):
        c = delta(counters(d["totals"]), b_tot)
        return c["req_echo"] >= res["requests"] and \
            d["totals"]["counters"]["conn_active"] == 0
    ok, doc = settle(srv, counted, timeout=5.0)
    d = delta(counters(doc["totals"]), b_tot)
    t.check(d["req_echo"] == res["requests"],
            "bench verified %d ECHO answers, totals req_echo grew by %d" % (
                res["requests"], d["req_echo"]))
    t.check(d["req_stats"] == taken["STATS"] and d["req_ping"] == 0 and
            d["req_other"] == 0 and d["proto_errors"] == 0,
            "unexpected requests counted: %r" % {k: v for k, v in d.items()
                                                 if v and
                                                 k.startswith("req_")})
    t.check([w["pid"] for w in doc["workers"]] == pids,
            "workers changed during the load: %r -> %r" % (
                pids, [w["pid"] for w in doc["workers"]]))


t.run()

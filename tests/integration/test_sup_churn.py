"""test_sup_churn: the master stays clean through long churn (issue 4,
scenario 10).

200 worker kills (SIGKILL of a random worker of the serving generation,
each time waiting until its replacement has answered its start-up probe)
and 20 reloads (one after every 10 kills), 3 workers.  Respawns stay
immediate: a worker that dies before answering a request beyond its probe
counts as a "young" death and the third in a row is throttled
(respawn_throttle), so every worker gets one PING of its own before it can
be picked -- the other workers are SIGSTOPped for the few milliseconds the
PING takes, which steers it past EPOLLEXCLUSIVE's favourite.  Afterwards:
no zombie child, exactly the configured workers, each worker's open
descriptors (/proc/PID/fd) as many as a fresh worker's, the master's as many
as at the start, every kill logged, no throttle, and PING works.
"""
import os
import random
import signal
import time

from harness import (Client, Op, Suite, children, ctl, live_children, poll,
                     proc_stat)
from statslib import stats_json

t = Suite("test_sup_churn")

KILLS = 200
RELOAD_EVERY = 10
WORKERS = 3


def fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def steer_ping(srv, pid, kids):
    """One PING answered by worker pid: the others are stopped meanwhile."""
    others = [p for p in kids if p != pid]
    for p in others:
        os.kill(p, signal.SIGSTOP)
    try:
        with Client(srv.addr, timeout=5) as c:
            f = c.request(Op.PING)
            return f.value == b"PONG"
    finally:
        for p in others:
            os.kill(p, signal.SIGCONT)


def serving(srv, timeout=5.0, gone=None):
    """Poll until the serving generation has exactly WORKERS workers, all
    past their start-up probe, and no other child is left (nor gone, a
    worker just killed, which may linger for a moment).  Returns
    (sorted pids, stats) or (None, last stats)."""
    st = None

    def up():
        nonlocal st
        kids = live_children(srv)
        if len(kids) != WORKERS or gone in kids:
            return None
        st = stats_json(srv)
        gen = st["master"]["generation"]
        ws = {w["pid"]: w for w in st["workers"] if w["pid"]}
        if all(p in ws and ws[p]["generation"] == gen and
               ws[p]["counters"]["req_ping"] >= 1 for p in kids):
            return kids
        return None
    kids = poll(up, timeout=timeout, step=0.005)
    return (kids, st) if kids else (None, st)


def settled_fds(pids, timeout=3.0):
    """fd counts once they stop moving (a new worker closes its probe
    connection after the master reads the PONG)."""
    prev = None

    def counts():
        """(the counts now, the same as the look before?)"""
        nonlocal prev
        cur = {p: fds(p) for p in pids}
        same, prev = cur == prev, cur
        return cur, same
    return poll(counts, timeout=timeout, step=0.1, until=lambda r: r[1])[0]


@t.case
def churn(t):
    srv = t.server({"workers": WORKERS, "shutdown_timeout": 2},
                   health=False)
    t0 = time.monotonic()
    kids, _ = serving(srv)
    if not t.check(kids, "the pool never came up"):
        return
    fresh = settled_fds(kids)
    master_fds = settled_fds([srv.pid])[srv.pid]
    t.check(len(set(fresh.values())) == 1, "fresh workers differ in open "
            "descriptors: %r" % fresh)
    base = max(fresh.values())
    for p in kids:
        steer_ping(srv, p, kids)
    pinged = set(kids)
    killed = []
    reloads = []
    problems = []
    rng = random.Random(4)
    for i in range(KILLS):
        victim = rng.choice(kids)
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)
        new, st = serving(srv, gone=victim)
        if new is None:
            problems.append("kill %d (pid %d): no serving replacement "
                            "within 5 s: children %r" % (
                                i, victim, children(srv.pid)))
            break
        # The replacement is serving only after the master reaped the
        # victim: no zombie may be left of it.
        ps = proc_stat(victim)
        if ps is not None and ps[1] == srv.pid:
            problems.append("killed worker %d still a child (%s) after its "
                            "replacement serves" % (victim, ps[0]))
        kids = new
        if (i + 1) % RELOAD_EVERY == 0:
            rc, out, err, _ = ctl(srv, "reload", timeout=40)
            reloads.append(rc)
            if rc != 0 or not out.startswith("reloaded:"):
                problems.append("reload %d: exit %d %r %r" % (
                    len(reloads), rc, out, err))
            kids, st = serving(srv, 10.0)
            if kids is None:
                problems.append("reload %d: the pool did not settle: %r" % (
                    len(reloads), children(srv.pid)))
                break
        for p in kids:
            if p not in pinged:
                if not steer_ping(srv, p, kids):
                    problems.append("PING steered to %d failed" % p)
                pinged.add(p)
    secs = time.monotonic() - t0
    print("   %d kills and %d reloads in %.1f s; a fresh worker has %d "
          "descriptors, the master %d" % (len(killed), len(reloads), secs,
                                          base, master_fds))
    t.check(not problems, "%d problems, first: %r" % (len(problems),
                                                        problems[:3]))
    t.check(len(killed) == KILLS and len(reloads) == KILLS // RELOAD_EVERY,
            "did %d kills and %d reloads" % (len(killed), len(reloads)))
    # Quiet again: no zombie, the configured pool, descriptors as fresh.
    ws = poll(lambda: children(srv.pid), timeout=3, step=0.05,
              until=lambda ws: not any(s == "Z" for _, s in ws))
    t.check(not [p for p, s in ws if s == "Z"], "zombie children of the "
            "master: %r" % ws)
    kids, st = serving(srv)
    t.check(kids is not None and len(kids) == WORKERS, "after the churn: "
            "children %r" % ws)
    if kids:
        now = settled_fds(kids)
        t.check(all(n == base for n in now.values()), "open descriptors per "
                "worker %r, a fresh worker has %d" % (now, base))
    m = settled_fds([srv.pid])[srv.pid]
    t.check(m == master_fds, "the master has %s open descriptors, %d at the "
            "start" % (m, master_fds))
    log = srv.log()
    n9 = sum(1 for l in log.splitlines() if "killed by signal 9" in l)
    t.check(n9 == len(killed), "%d 'killed by signal 9' lines for %d kills"
            % (n9, len(killed)))
    for bad in ("respawning it at most once", "reaped unknown child",
                "no free worker slot", "generations draining"):
        t.check(bad not in log, "log has %r" % bad)
    t.check(srv.ping_ok(), "PING at the end")


t.run()

"""test_sup_respawn: the master replaces workers that die or hang (issue 4,
scenarios 1-3).

respawn_under_load: 12 client threads ECHO in a closed loop over the unix
socket (3 workers, the clients' first connections steered 4 to each).  One
worker is SIGKILLed; its conn_active is read from `msgctl stats --json`
just before.  A replacement serves (its start-up probe PING is counted in
its stats slot) within 1 s and a PING works; only the killed worker's
connections see errors (clients with errors, and errors, <= its
conn_active, and none of the clients on the other workers); the totals
never go down; the log says "worker N (pid P) killed by signal 9".

young_death_throttle: respawn_throttle = 3, 2 workers.  One position's
worker is SIGKILLed again as soon as each replacement appears (before it
can serve a request).  The first young death is respawned at once, the
second after about 1 s; at the third the log says "respawning it at most
once every 3 s" and from then on every respawn waits >= 3 s; a window after
that sees at most one fork per throttle period (no fork loop).  Meanwhile
the other worker answers a PING every 0.1 s on its own connection.

fatal_workers: workers that cannot drop privileges exit 2 (fatal): the log
says "not respawned" for each, only 2 forks happen, and with every worker
fatal the master exits 1 and removes its files.  The master runs as nobody
(root's tests: a wrapper drops to nobody) with user = "root", so setresgid
fails.

hung_worker: worker_timeout = 3.  A worker that just answered a PING (fresh
heartbeat) is SIGSTOPped: it is killed between 3 and 8 s later, the log says
"hung: no heartbeat for X s" with X >= 3, a replacement serves, and the
other worker answered a PING every 0.2 s throughout.
"""
import os
import pwd
import re
import signal
import sys
import threading
import time

from harness import (MSGD, Client, Op, Suite, encode, live_children,
                     nobody_cannot_use, poll, proc_stat)
from statslib import stats_json

t = Suite("test_sup_respawn")


def workers_by_pid(st):
    return {w["pid"]: w for w in st["workers"] if w["pid"]}


def requests_of(w):
    return sum(v for k, v in w["counters"].items() if k.startswith("st_"))


def dead(pid):
    st = proc_stat(pid)
    return st is None or st[0] == "Z"


def wait_serving(srv, exclude, deadline):
    """Poll until a worker pid not in exclude has answered its start-up
    probe (its slot counts the PING).  Returns (pid, time) or (None, None)."""
    def serving():
        new = [p for p in live_children(srv) if p not in exclude]
        if new:
            ws = workers_by_pid(stats_json(srv))
            for p in new:
                if p in ws and ws[p]["counters"]["req_ping"] >= 1:
                    return p, time.monotonic()
        return None
    return poll(serving, timeout=deadline - time.monotonic(),
                step=0.005) or (None, None)


def counters_dropped(before, after):
    """Total counters that went down (conn_active is a gauge)."""
    return ["%s %d -> %d" % (k, v, after[k]) for k, v in before.items()
            if k != "conn_active" and after.get(k, 0) < v]


def steered_client(srv, pid, kids, timeout=5):
    """A connection accepted by worker pid: the other workers are
    SIGSTOPped for the few milliseconds it takes.  Idle workers under
    EPOLLEXCLUSIVE tend to leave every accept to the same one; a stopped
    worker is not waiting in epoll_wait, so the wakeup goes to one that
    is."""
    others = [p for p in kids if p != pid]
    for p in others:
        os.kill(p, signal.SIGSTOP)
    c = None
    try:
        c = Client(srv.addr, timeout=timeout)
        f = c.request(Op.PING)
        assert f.value == b"PONG", f
    except BaseException:
        if c is not None:
            c.close()
        raise
    finally:
        for p in others:
            os.kill(p, signal.SIGCONT)
    return c


def conn_owner(srv, conns):
    """Give every worker a connection of its own; returns {pid: Client}
    (checked through conn_active in the stats)."""
    owners = {}
    kids = live_children(srv)
    for pid in kids:
        owners[pid] = steered_client(srv, pid, kids)
        conns.append(owners[pid])

    def active():
        ws = workers_by_pid(stats_json(srv))
        return {p: ws[p]["counters"]["conn_active"] if p in ws else None
                for p in kids}
    # The start-up probes are closed meanwhile.
    act = poll(active, timeout=3, step=0.05,
               until=lambda act: all(v == 1 for v in act.values()))
    if not all(v == 1 for v in act.values()):
        raise AssertionError("connections per worker: %r, want 1 each" % act)
    return owners


# ---------------------------------------------------------- scenario 1

@t.case
def respawn_under_load(t):
    nclients = 12
    srv = t.server({"workers": 3}, health=False)
    kids = live_children(srv)
    # Spread the clients' first connections over the workers (4 each), so
    # we know whose connections the killed worker had.
    first = [steered_client(srv, kids[n % 3], kids) for n in range(nclients)]
    on = {pid: [n for n in range(nclients) if kids[n % 3] == pid]
          for pid in kids}
    stop = threading.Event()
    errors = [0] * nclients
    first_error = [None] * nclients
    answered = [0] * nclients

    def client(n):
        c = first[n]
        i = 0
        while not stop.is_set():
            try:
                if c is None:
                    c = Client(srv.addr, timeout=5)
                i += 1
                v = b"client %d req %d" % (n, i)
                c.send(encode(Op.ECHO, v, request_id=i))
                f = c.recv_frame()
                if f.value != v or f.request_id != i:
                    raise AssertionError("wrong answer %r" % f)
                answered[n] += 1
            except Exception as e:
                errors[n] += 1
                if first_error[n] is None:
                    first_error[n] = repr(e)
                if c is not None:
                    c.close()
                c = None
        if c is not None:
            c.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True)
               for n in range(nclients)]
    for th in threads:
        th.start()
    poll(lambda: min(answered) >= 20, timeout=10, step=0.05)
    t.check(min(answered) >= 20, "clients did not get going: %r" % answered)
    t.check(sum(errors) == 0, "errors before any kill: %r %r" % (
        errors, first_error))
    st = stats_json(srv)
    ws = workers_by_pid(st)
    victim = kids[1]
    k = ws[victim]["counters"]["conn_active"]
    t.check(all(ws[p]["counters"]["conn_active"] == len(on[p]) for p in kids),
            "connections per worker %r, want %r" % (
                {p: ws[p]["counters"]["conn_active"] for p in kids},
                {p: len(on[p]) for p in kids}))
    totals = [st["totals"]["counters"]]
    os.kill(victim, signal.SIGKILL)
    t_kill = time.monotonic()
    new, t_new = wait_serving(srv, kids, t_kill + 5)
    t.check(new is not None and t_new - t_kill <= 1.0,
            "after SIGKILL of worker %d: replacement %r serving after %s s, "
            "want <= 1 s" % (victim, new, "%.3f" % (t_new - t_kill)
                             if t_new else "never"))
    totals.append(stats_json(srv)["totals"]["counters"])
    t.check(srv.ping_ok(), "PING after the respawn")
    time.sleep(0.5)
    totals.append(stats_json(srv)["totals"]["counters"])
    stop.set()
    for th in threads:
        th.join(10)
    totals.append(stats_json(srv)["totals"]["counters"])
    hit = [n for n in range(nclients) if errors[n]]
    print("   killed worker %d with %d connections (clients %r): clients %r "
          "saw %d errors (%s); replacement %r serving after %s s" % (
              victim, k, on[victim], hit, sum(errors),
              [first_error[n] for n in hit][:2], new,
              "%.3f" % (t_new - t_kill) if t_new else "-"))
    t.check(len(hit) <= k and sum(errors) <= k,
            "%d clients saw %d errors, but the killed worker had only %d "
            "connections: %r" % (len(hit), sum(errors), k, first_error))
    t.check(set(hit) <= set(on[victim]), "clients %r of other workers saw "
            "errors: %r" % (sorted(set(hit) - set(on[victim])),
                            [first_error[n] for n in hit]))
    for a, b in zip(totals, totals[1:]):
        dropped = counters_dropped(a, b)
        t.check(not dropped, "stats totals went down: %s" % dropped)
    t.check(totals[-1]["st_ok"] >= totals[0]["st_ok"] + 100,
            "totals did not grow with the load: %d -> %d" % (
                totals[0]["st_ok"], totals[-1]["st_ok"]))
    pat = re.compile(r"worker \d+ \(pid %d\) killed by signal 9\b" % victim)
    t.check(pat.search(srv.log()), "log lacks 'worker N (pid %d) killed by "
            "signal 9': %r" % (victim, srv.log()[-1000:]))
    now = live_children(srv)
    t.check(len(now) == 3 and victim not in now and new in now,
            "workers after the respawn: %r" % now)


def keep_pinging(c, interval):
    """PING on c every interval in a thread until stop is set; returns
    (stop, thread, pings), pings counting "ok" and listing "bad"."""
    stop = threading.Event()
    pings = {"ok": 0, "bad": []}

    def loop():
        while not stop.wait(interval):
            try:
                f = c.request(Op.PING)
                if f.value == b"PONG":
                    pings["ok"] += 1
                else:
                    pings["bad"].append(repr(f))
            except Exception as e:
                pings["bad"].append(repr(e))
                return

    th = threading.Thread(target=loop, daemon=True)
    th.start()
    return stop, th, pings


# ---------------------------------------------------------- scenario 2

@t.case
def young_death_throttle(t):
    srv = t.server({"workers": 2, "respawn_throttle": 3}, health=False)
    conns = []
    try:
        owners = conn_owner(srv, conns)
        if not t.check(len(owners) == 2, "could not give each worker a "
                       "connection: %r" % list(owners)):
            return
        keeper, kc = sorted(owners.items())[0]
        victim = [p for p in owners if p != keeper][0]
        stop, th, pings = keep_pinging(kc, 0.1)
        seen = set(live_children(srv))
        forks = []          # (pid, time it appeared)
        kills = []          # (pid, time killed)
        throttled_at = None  # index in kills of the death that said so
        msg = "respawning it at most once every 3 s"
        os.kill(victim, signal.SIGKILL)
        kills.append((victim, time.monotonic()))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            new = poll(lambda: [p for p in live_children(srv)
                                if p not in seen],
                       timeout=deadline - time.monotonic(), step=0.002)
            pid = new[0] if new else None
            if pid is None:
                break
            forks.append((pid, time.monotonic()))
            seen.add(pid)
            if throttled_at is not None and len(kills) >= throttled_at + 2:
                break  # two throttled respawns seen: let this one live
            os.kill(pid, signal.SIGKILL)
            kills.append((pid, time.monotonic()))
            # Wait until the master has reaped it (its log line).
            pat = "(pid %d) killed by signal 9" % pid
            poll(lambda: pat in srv.log(), timeout=5, step=0.005)
            if throttled_at is None and msg in srv.log():
                throttled_at = len(kills) - 1
        stop.set()
        th.join(5)
        gaps = [f[1] - k[1] for k, f in zip(kills, forks)]
        print("   kills %d, forks %d, respawn delays %s s, throttle said at "
              "kill #%s" % (len(kills), len(forks),
                            ["%.2f" % g for g in gaps], throttled_at))
        if not t.check(throttled_at is not None, "log never said %r after "
                       "%d young deaths" % (msg, len(kills))):
            return
        # At most the victim's own death (perhaps not young) and 3 young.
        t.check(throttled_at <= 3, "throttle only after %d deaths" %
                (throttled_at + 1))
        early = gaps[:throttled_at]
        t.check(all(g < 2.5 for g in early), "respawns before the throttle "
                "were delayed: %r" % early)
        t.check(any(0.9 <= g < 2.5 for g in early[-1:]), "the respawn "
                "after the second young death was not delayed ~1 s: %r" %
                early)
        late = gaps[throttled_at:]
        t.check(len(late) >= 2 and all(g >= 2.9 for g in late),
                "respawns after the throttle came after %r s, want >= 3 s "
                "each (respawn_throttle = 3)" % late)
        t.check(all(g <= 6.0 for g in late), "throttled respawns took %r s"
                % late)
        # No fork loop: in the throttled window, one fork per 3 s at most.
        t0 = kills[throttled_at][1]
        window = [p for p, tf in forks if t0 < tf <= t0 + 6.5]
        t.check(len(window) <= 2, "%d forks in the 6.5 s after the throttle "
                "(want <= 2): %r" % (len(window), window))
        t.check(not pings["bad"] and pings["ok"] >= 20,
                "the other worker's PINGs: %d ok, bad %r" % (
                    pings["ok"], pings["bad"][:3]))
        t.check(keeper in live_children(srv), "the other worker %d died" %
                keeper)
        last = forks[-1][0]
        p, _ = wait_serving(srv, seen - {last}, time.monotonic() + 5)
        t.check(p == last, "the last replacement %d did not serve (%r)" % (
            last, p))
        t.check(srv.ping_ok(), "PING at the end")
    finally:
        for c in conns:
            c.close()


@t.case
def fatal_workers(t):
    srv = t.server({"workers": 2, "user": "root", "allow_root": True},
                   start=False, health=False)
    prefix = []
    if os.geteuid() == 0:
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            print("SKIP: no user nobody to run an unprivileged master")
            return
        why = nobody_cannot_use((MSGD, os.X_OK))
        if why:
            print("SKIP: an unprivileged master: %s" % why)
            return
        os.chmod(srv.dir, 0o777)
        prefix = [sys.executable, "-c",
                  "import os, sys; os.setgroups([]); os.setgid(%d); "
                  "os.setuid(%d); os.execv(sys.argv[1], sys.argv[1:])" % (
                      nobody.pw_gid, nobody.pw_uid)]
    srv.write_conf()
    srv.spawn(prefix)
    rc = srv.wait(15)
    log = srv.log()
    t.check(rc == 1, "every worker fatal: master exit %r, want 1" % rc)
    fatal = re.findall(r"worker (\d+) cannot run \(fatal error above\): it "
                       r"is not respawned", log)
    t.check(sorted(fatal) == ["0", "1"], "want 'worker N ... not "
            "respawned' for workers 0 and 1, got %r" % fatal)
    drops = log.count("cannot drop privileges")
    t.check(drops == 2, "%d workers tried to drop privileges, want 2 (no "
            "respawn)" % drops)
    t.check("every worker failed fatally" in log, "the log does not say "
            "why the master stopped")
    for f in (srv.sock_path, os.path.join(srv.dir, "msgd.pid"),
              os.path.join(srv.dir, "stats")):
        t.check(not os.path.exists(f), "%s left behind" % f)


# ---------------------------------------------------------- scenario 3

@t.case
def hung_worker(t):
    srv = t.server({"workers": 2, "worker_timeout": 3}, health=False)
    conns = []
    try:
        owners = conn_owner(srv, conns)
        if not t.check(len(owners) == 2, "could not give each worker a "
                       "connection: %r" % list(owners)):
            return
        victim, vc = sorted(owners.items())[0]
        other, oc = sorted(owners.items())[1]
        stop, th, pings = keep_pinging(oc, 0.2)
        before = live_children(srv)
        # The victim beats right after this answer: the clock starts here.
        f = vc.request(Op.PING)
        os.kill(victim, signal.SIGSTOP)
        t_stop = time.monotonic()
        t.check(f.value == b"PONG", "PING to the victim: %r" % f)
        t_dead = poll(lambda: time.monotonic() if dead(victim) else None,
                      timeout=t_stop + 12 - time.monotonic(), step=0.01)
        new, t_new = wait_serving(srv, before, t_stop + 12)
        stop.set()
        th.join(5)
        if t_dead is None:
            os.kill(victim, signal.SIGKILL)
        print("   stopped worker %d killed after %s s, replacement %r serving "
              "after %s s" % (victim, "%.2f" % (t_dead - t_stop) if t_dead
                              else "never", new, "%.2f" % (t_new - t_stop)
                              if t_new else "never"))
        t.check(t_dead is not None and 2.9 <= t_dead - t_stop <= 8.0,
                "SIGSTOPped worker killed after %s s, want 3..8 s "
                "(worker_timeout = 3)" % ("%.2f" % (t_dead - t_stop)
                                          if t_dead else "never"))
        t.check(new is not None and t_new - t_stop <= 8.0,
                "no replacement serving within 8 s of the SIGSTOP")
        m = re.search(r"worker \d+ \(pid %d\) hung: no heartbeat for "
                      r"([0-9.]+) s" % victim, srv.log())
        t.check(m and float(m.group(1)) >= 3.0, "log: want 'hung: no "
                "heartbeat for X s' with X >= 3 for pid %d: %r" % (
                    victim, m.group(0) if m else srv.log()[-800:]))
        t.check(not pings["bad"] and pings["ok"] >= 10,
                "the other worker's PINGs meanwhile: %d ok, bad %r" % (
                    pings["ok"], pings["bad"][:3]))
        t.check(other in live_children(srv), "the other worker %d died" %
                other)
        t.check(srv.ping_ok(), "PING at the end")
    finally:
        for c in conns:
            c.close()


t.run()

"""test_fleet: three msgd hosts behind the real HAProxy, scraped by the real
Prometheus (issue 14, part 3), on the shipped contrib files.

Hosts 127.0.0.2, .3 and .4 (2 workers each) listen on "proxy:HOST:PORT"
(one port free on all three, like a fleet's 7878) and on a unix socket of
their own for msgctl; proxy_trusted holds 127.0.0.1 (HAProxy's address),
allow holds CLIENT and 127.0.0.1 (HAProxy's /health checks, Prometheus's
scrapes).  HAProxy runs contrib/haproxy/msgd.cfg (-db) with the test's
addresses; Prometheus runs contrib/prometheus/msgd.yml (scrape and
evaluation every second, the shipped rules) when msgd has metrics_listen.
The load is reloadcases.ClosedLoop: 64 closed-loop ECHO connections
through HAProxy, bound to CLIENT.

- spread: over 2 s each host answers within +-20 % of a third of the
  requests (msgd's own counters);
- kill: SIGKILL one host's master and workers (a host dying); HAProxy's
  `show servers state` has it down within 3 s; every failed request was
  on a session of that host (HAProxy's log line of each session names its
  server): one it held, or one HAProxy gave it as its processes died; at
  most one per such session; the load keeps going;
- back: the host restarted, HAProxy has it up again, and a fresh load
  puts a share of the requests on it again;
- rolling reload: `msgctl reload` of each host in turn under the load:
  0 failed requests, 0 connect errors;
- allow list: a client bound to OTHER (not in allow) gets no answer
  through HAProxy and is counted in allow_rejected: msgd judged the
  address from the PROXY header, not HAProxy's (which is allowed);
- with metrics_listen: Prometheus's sum(msgd_requests_total{op="ECHO"})
  equals the hosts' own totals once the load stopped and a scrape passed
  (all opcodes within the health checks' PINGs of two scrape intervals),
  its rules evaluate without error, and /health answers 503 for a host
  drained by SIGTERM (an idle client holds it draining), which HAProxy's
  check takes out; that host is then started again;
- rolling upgrade, where this tree has `msgctl upgrade` (issue 13): each
  host in turn gets a new msgd file and `msgctl upgrade` under the load:
  0 failed requests, 0 resets, 0 connect errors (said when skipped); then
  the Prometheus sums again and /health 200 on every host (each exporter
  reads its new master's statistics).
Skipped without haproxy (./bootstrap check installs it).  Every process
the test starts is stopped in finally blocks (servers by the harness).
"""
import os
import re
import shutil
import signal
import tempfile
import time
import urllib.error
import urllib.request

from fleetlib import (CONTRIB, HAPROXY, PROMETHEUS, HAProxy, Prometheus,
                      common_port, contrib_haproxy, contrib_prometheus,
                      ping_from)
from harness import (SKIP, Client, Op, Suite, ctl, free_port, msgd_supports,
                     poll, proc_stat)
from reloadcases import ClosedLoop
from statslib import req_sum, stats_json

try:  # the binary upgrade (issue 13), where this tree has it
    from upgradecases import (install, master_pid, own_copy, reap_old,
                              stop_current, subreaper, upgrade)
    from harness import MSGD
except ImportError:
    upgrade = None

t = Suite("test_fleet")

HOSTS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
NAMES = ["msgd1", "msgd2", "msgd3"]
FRONT = "127.0.0.1"
CLIENT = "127.0.0.61"
OTHER = "127.0.0.62"
NCONN = 64


def echoes(srv):
    """A host's ECHO requests answered (its own counters)."""
    return stats_json(srv)["totals"]["counters"]["req_echo"]


def all_echoes(srvs):
    return [echoes(s) for s in srvs]


def http_get(url, timeout=2.0):
    """(status, body) of a GET, (None, error) when it did not answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except OSError as e:
        return None, str(e)


class Fleet:
    """The hosts (harness Servers, in HOSTS' order), HAProxy, Prometheus,
    and the ports the hosts share: the proxy: listener's and, with
    metrics, metrics_listen's."""

    def __init__(self, d, metrics):
        self.d = d
        self.port = common_port(HOSTS)
        self.mport = None
        while metrics and self.mport in (None, self.port):
            self.mport = common_port(HOSTS)
        self.srvs = []
        self.hap = None
        self.prom = None

    def settings(self, host):
        s = {"workers": 2, "shutdown_timeout": 10,
             "proxy_trusted": ["127.0.0.1/32"],
             "allow": [CLIENT + "/32", "127.0.0.1/32"]}
        if self.mport:
            s["metrics_listen"] = "%s:%d" % (host, self.mport)
        return s

    def start_host(self, t, i):
        # With upgrades, each host runs a copy of msgd that an upgrade
        # replaces (upgradecases).
        kw = {"binary": own_copy} if upgrade else {}
        srv = t.server(self.settings(HOSTS[i]), start=False, **kw)
        srv.settings["listen"] = ["unix:" + srv.sock_path,
                                  "proxy:%s:%d" % (HOSTS[i], self.port)]
        srv.start()
        return srv


def ended_sessions(hap, offset):
    """{(client host, port): server} of the sessions HAProxy logged as
    ended (option tcplog) after offset in its log."""
    return dict(((h, int(p)), srv) for h, p, srv in re.findall(
        r" (\S+):(\d+) \[[^]]*\] msgd msgd/(\S+) ", hap.log()[offset:]))


def hap_up(hap, names):
    if not hap.alive():
        raise AssertionError("haproxy exited: %s" % hap.log()[-2000:])
    st = hap.state()
    return all(st.get(n) == 2 for n in names)


@t.case
def fleet(t):
    if HAPROXY is None:
        print("SKIP: haproxy is not installed (./bootstrap check installs "
              "it)")
        raise SystemExit(SKIP)
    metrics = msgd_supports("metrics_listen", "127.0.0.1:1")
    if not metrics:
        print("   no metrics_listen in this msgd: no Prometheus, no "
              "/health checks")
    elif PROMETHEUS is None:
        print("SKIP: prometheus is not installed (./bootstrap check "
              "installs it)")
        raise SystemExit(SKIP)
    if upgrade:
        subreaper()  # upgraded masters are re-parented to this process
    d = tempfile.mkdtemp(prefix="msgd-fleet-")
    fl = Fleet(d, metrics)
    loads = []
    try:
        run_fleet(t, fl, loads)
    finally:
        for load in loads:
            load.finish(5)
        if upgrade:
            for srv in fl.srvs:  # the masters that upgrades started
                stop_current(srv)
        if fl.prom:
            fl.prom.stop()
        if fl.hap:
            fl.hap.stop()
        if t.failed and fl.hap:
            print("---- haproxy log (tail):\n%s----" % fl.hap.log()[-3000:])
        if t.failed and fl.prom:
            print("---- prometheus log (tail):\n%s----" %
                  fl.prom.log()[-3000:])
        shutil.rmtree(d, ignore_errors=True)


def load_window(t, fl, load, secs, what):
    """Requests per host over secs seconds of load; checks the spread."""
    a = all_echoes(fl.srvs)
    ok0 = load.ok
    time.sleep(secs)  # a measuring window, not a wait for a condition
    b = all_echoes(fl.srvs)
    per = [y - x for x, y in zip(a, b)]
    total = sum(per)
    print("   %s: %d requests in %.1f s through HAProxy, per host %r" % (
        what, load.ok - ok0, secs, per))
    t.check(total > 300, "%s: only %d requests answered" % (what, total))
    for i, n in enumerate(per):
        t.check(abs(n - total / 3) <= 0.2 * total / 3,
                "%s: host %s answered %d of %d requests, want %d +-20 %%"
                % (what, HOSTS[i], n, total, total / 3))


def run_fleet(t, fl, loads):
    """The scenarios of the module's docstring, in its order; loads holds
    the running load for the caller to stop."""
    # Hosts, HAProxy, Prometheus.
    fl.srvs = [fl.start_host(t, i) for i in range(3)]
    front = (FRONT, free_port(host=FRONT))
    fl.hap = HAProxy(fl.d, contrib_haproxy(
        os.path.join(fl.d, "haproxy.sock"), front,
        [(h, fl.port) for h in HOSTS], fl.mport))
    if fl.mport:
        fl.prom = Prometheus(fl.d, contrib_prometheus(
            ["%s:%d" % (h, fl.mport) for h in HOSTS],
            os.path.join(CONTRIB, "prometheus", "msgd-rules.yml")),
            free_port())
    up = poll(lambda: hap_up(fl.hap, NAMES), timeout=15, step=0.1)
    if not t.check(up, "HAProxy has not all three hosts up: %r" %
                   fl.hap.state()):
        return
    t.check(ping_from(front, CLIENT), "PING through HAProxy from %s" %
            CLIENT)

    # The allow list sees the client's address through PROXY v2.
    base = [stats_json(s)["totals"]["counters"]["allow_rejected"]
            for s in fl.srvs]
    t.check(not ping_from(front, OTHER), "a PING from %s (not allowed) "
            "through HAProxy was answered" % OTHER)
    rej = poll(lambda: sum(stats_json(s)["totals"]["counters"]
                           ["allow_rejected"] for s in fl.srvs) - sum(base),
               timeout=5)
    t.check(rej == 1, "allow_rejected over the hosts +%r for one client "
            "from %s, want +1" % (rej, OTHER))

    # Load spreads over the hosts.
    load = ClosedLoop([front] * NCONN, src=CLIENT)
    loads.append(load)
    load.start()
    poll(lambda: load.ok > 500, timeout=10)
    load_window(t, fl, load, 3.0, "three hosts")

    # One host dies.
    victim = 2
    where = fl.hap.sessions()
    held = [k for k, v in where.items() if v == NAMES[victim]]
    print("   %d sessions in HAProxy, %d on %s" % (len(where), len(held),
                                                   NAMES[victim]))
    t.check(len(where) >= NCONN, "show sess lists %d sessions, want %d" % (
        len(where), NCONN))
    srv = fl.srvs[victim]
    procs = [srv.pid] + [p for p, st in srv.workers() if st != "Z"]
    failed0 = len(load.fails)
    log0 = len(fl.hap.log())
    t0 = time.monotonic()
    for p in procs:
        os.kill(p, signal.SIGKILL)
    down = poll(lambda: fl.hap.state().get(NAMES[victim]) == 0, timeout=5,
                step=0.02)
    secs = time.monotonic() - t0
    t.check(down and secs <= 3.0, "HAProxy marked %s down after %.2f s "
            "(want <= 3 s): %r" % (NAMES[victim], secs, fl.hap.state()))
    print("   %s marked down %.2f s after the SIGKILL" % (NAMES[victim],
                                                         secs))
    srv.wait(5)
    ok1 = load.ok
    poll(lambda: load.ok > ok1 + 500, timeout=10)
    # Which host each failed request's session was on: HAProxy's log line
    # of the session (written when it ends).  A connection the killed
    # host held, or a new one HAProxy gave it in the moment its processes
    # were dying (accepted by the kernel, then reset): both were in flight
    # there.
    fails = load.fails[failed0:]
    ended = poll(lambda: ended_sessions(fl.hap, log0), timeout=3,
                 until=lambda e: all(f[1] in e for f in fails))
    others = [(f, ended.get(f[1])) for f in fails
              if ended.get(f[1]) != NAMES[victim]]
    there = sum(1 for v in ended.values() if v == NAMES[victim])
    print("   %d requests failed with the host (%d connections on it, %d "
          "sessions of it ended)" % (len(fails), len(held), there))
    t.check(len(fails) <= there, "%d requests failed, more than the %d "
            "sessions on %s: %r" % (len(fails), there, NAMES[victim],
                                    fails[:5]))
    t.check(not others, "%d requests failed on sessions of other hosts "
            "(HAProxy's log): %r" % (len(others), others[:5]))
    t.check(load.ok > ok1 + 500, "the load stalled after the kill")
    load.finish()
    loads.remove(load)
    t.check(load.connect_errors == 0, "%d connects to HAProxy failed" %
            load.connect_errors)

    # It comes back and takes load again.
    srv.close()
    t.servers.remove(srv)
    fl.srvs[victim] = fl.start_host(t, victim)
    up = poll(lambda: hap_up(fl.hap, NAMES), timeout=10, step=0.05)
    t.check(up, "%s not up again: %r" % (NAMES[victim], fl.hap.state()))
    load = ClosedLoop([front] * NCONN, src=CLIENT)
    loads.append(load)
    load.start()
    poll(lambda: load.ok > 500, timeout=10)
    load_window(t, fl, load, 3.0, "host restarted")

    # A rolling reload of the three: not one request lost.
    failed0 = load.failed
    ok1 = load.ok
    for i, s in enumerate(fl.srvs):
        rc, out, err, _ = ctl(s, "reload", timeout=30)
        t.check(rc == 0 and out.startswith("reloaded:"), "reload of %s: "
                "exit %d, %r %r" % (HOSTS[i], rc, out, err))
        poll(lambda: load.ok > ok1 + 200, timeout=5)
        ok1 = load.ok
    load.finish()
    loads.remove(load)
    print("   rolling reload: %d requests answered in all, %d failed, %d "
          "graceful closes, %d connect errors" % (
              load.ok, load.failed - failed0, load.graceful,
              load.connect_errors))
    t.check(load.failed == failed0 and load.resets == 0 and
            load.connect_errors == 0, "rolling reload: %d failed, %d "
            "resets, %d connect errors: %s" % (
                load.failed - failed0, load.resets, load.connect_errors,
                load.details))

    # Prometheus and /health before the upgrade, and after it again.
    if fl.prom:
        check_prometheus(t, fl)
        check_draining(t, fl)
        # The drained host back, for the upgrade.
        srv = fl.srvs[0]
        srv.close()
        t.servers.remove(srv)
        fl.srvs[0] = fl.start_host(t, 0)
        up = poll(lambda: hap_up(fl.hap, NAMES), timeout=10, step=0.05)
        t.check(up, "%s not up again: %r" % (NAMES[0], fl.hap.state()))
    if upgrade:
        rolling_upgrade(t, fl, loads, front)
        # Each exporter now reads its new master's statistics: the sums
        # still add up, and every host answers /health 200.
        if fl.prom:
            check_prometheus(t, fl)
            for i in range(len(fl.srvs)):
                url = "http://%s:%d/health" % (HOSTS[i], fl.mport)
                code = poll(lambda: http_get(url)[0], timeout=10,
                            until=lambda c: c == 200)
                t.check(code == 200, "/health of %s after its upgrade: %r"
                        % (HOSTS[i], code))
    else:
        print("   no rolling upgrade: msgctl upgrade is not in this tree")


def rolling_upgrade(t, fl, loads, front):
    """msgctl upgrade of each host in turn (a new msgd file installed at
    its path first, as a package manager does) under the load: not one
    request lost, every connection handed over."""
    load = ClosedLoop([front] * NCONN, src=CLIENT)
    loads.append(load)
    load.start()
    poll(lambda: load.ok > 500, timeout=10)
    ok1 = load.ok
    for i, s in enumerate(fl.srvs):
        old = master_pid(s)
        install(s, MSGD)
        rc, out, err, secs = upgrade(s)
        t.check(rc == 0 and out.startswith("upgraded:") and
                master_pid(s) not in (0, old), "upgrade of %s: exit %d, "
                "%r %r" % (HOSTS[i], rc, out, err))
        reap_old(s)
        print("   upgrade of %s: %s (%.1f s)" % (HOSTS[i], out.strip(),
                                                 secs))
        poll(lambda: load.ok > ok1 + 200, timeout=5)
        ok1 = load.ok
    load.finish()
    loads.remove(load)
    print("   rolling upgrade: %d requests answered, %d failed, %d "
          "resets, %d connect errors" % (load.ok, load.failed, load.resets,
                                         load.connect_errors))
    t.check(load.failed == 0 and load.resets == 0 and
            load.connect_errors == 0, "rolling upgrade: %d failed, %d "
            "resets, %d connect errors: %s" % (
                load.failed, load.resets, load.connect_errors,
                load.details))


def check_prometheus(t, fl):
    """Prometheus's sums are the hosts' own, after a scrape past the load."""
    t.check(fl.prom.ready(), "Prometheus not ready")
    own = sum(all_echoes(fl.srvs))
    got = poll(lambda: fl.prom.scalar(
        'sum(msgd_requests_total{op="ECHO"})'), timeout=10, step=0.2,
        until=lambda v: v == own)
    t.check(got == own, "Prometheus: sum of ECHO requests %r, the hosts' "
            "own %d" % (got, own))
    print("   Prometheus: sum(msgd_requests_total{op=\"ECHO\"}) %r, the "
          "hosts' own %d" % (got, own))
    # Between scrapes only HAProxy's health checks (PING, 3 hosts, about 1
    # a second each) add requests: Prometheus's sum may lag the hosts' by
    # those of two scrape intervals.
    def both():
        p = fl.prom.scalar("sum(msgd_requests_total)")
        return p, sum(req_sum(stats_json(s)["totals"]["counters"])
                      for s in fl.srvs)
    allops, after = poll(both, timeout=5, step=0.2, until=lambda v:
                         v[0] is not None and v[1] - 12 <= v[0] <= v[1])
    t.check(allops is not None and after - 12 <= allops <= after,
            "Prometheus: sum(msgd_requests_total) %r, the hosts' own %d"
            % (allops, after))

    up = fl.prom.query('up{job="msgd"}')
    t.check(up and len(up) == 3 and all(r["value"][1] == "1" for r in up),
            "up{job=msgd}: %r" % up)
    # The shipped rules evaluate on the hosts' series without error.
    def rules():
        d = fl.prom.get("/api/v1/rules") or {}
        rs = [r for g in d.get("data", {}).get("groups", [])
              for r in g.get("rules", [])]
        return rs, [(r.get("name"), r.get("health"), r.get("lastError"))
                    for r in rs if r.get("health") != "ok"]
    rs, bad = poll(rules, timeout=5, step=0.2,
                   until=lambda v: v[0] and not v[1])
    t.check(rs and not bad, "rules: %d loaded, not ok: %r" % (len(rs), bad))


def check_draining(t, fl):
    """/health: 503 while a host drains; HAProxy takes it out."""
    srv = fl.srvs[0]
    url = "http://%s:%d/health" % (HOSTS[0], fl.mport)
    code, body = http_get(url)
    t.check(code == 200, "/health of a serving host: %r %r" % (code, body))
    c = Client(srv.sock_path, timeout=5)
    # The master now: srv's own, or the one an upgrade started.
    pid = master_pid(srv) if upgrade else srv.pid
    try:
        c.request(Op.PING)
        os.kill(pid, signal.SIGTERM)
        t0 = time.monotonic()
        code, body = poll(lambda: http_get(url), timeout=5, step=0.05,
                          until=lambda r: r[0] == 503)
        t.check(code == 503, "/health of a draining host: %r %r" % (
            code, body))
        down = poll(lambda: fl.hap.state().get(NAMES[0]) == 0, timeout=5,
                    step=0.05)
        t.check(down, "HAProxy kept the draining host: %r" %
                fl.hap.state())
        print("   draining %s: /health %r %s; HAProxy took it out %.2f s "
              "after the SIGTERM" % (HOSTS[0], code, body.strip(),
                                      time.monotonic() - t0))
    finally:
        c.close()
    # It drains, then exits (a zombie until reaped, by the harness or by
    # stop_current).
    poll(lambda: (proc_stat(pid) or "Z")[0] == "Z", timeout=15)


t.run()

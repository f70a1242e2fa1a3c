"""test_contrib_fleet: the shipped HAProxy and Prometheus files are valid
for the real programs and match msgd.

- prometheus_files: `promtool check config` on contrib/prometheus/msgd.yml
  (it checks the rules file it names too), also with its bearer token
  section uncommented, `promtool check rules` on msgd-rules.yml and
  `promtool test rules` on msgd-rules.test.yml (each alert fires on the
  series that should fire it, not on reloads, NOT_FOUND answers or an
  accept queue that empties) pass; every msgd_* metric the rules use is
  a family of msgd's output (`msgctl stats --prometheus` of a server with
  a TCP and a proxy: listener, and GET /metrics when msgd has
  metrics_listen), so a renamed metric cannot leave an alert that never
  fires.  SKIP without
  promtool.
- grafana_dashboard: every msgd_* metric of contrib/grafana/msgd.json's
  queries is a family of msgd's output (as above), and each query, its
  Grafana variables filled in, parses as PromQL (promtool check rules).
- haproxy_file: `haproxy -c` accepts contrib/haproxy/msgd.cfg as shipped
  and as test_fleet rewrites it; its health check sends exactly a PING
  frame (request id 1) and expects exactly msgd's PONG answer to it.
  SKIP without haproxy.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request

from fleetlib import (CONTRIB, HAPROXY, PROMTOOL, contrib_haproxy,
                      contrib_prometheus)
from harness import (HDR, SKIP, Op, Suite, ctl, encode, free_ports,
                     msgd_supports, read_frame, connect)
from statslib import parse_prom

t = Suite("test_contrib_fleet")

RULES = os.path.join(CONTRIB, "prometheus", "msgd-rules.yml")
SCRAPE = os.path.join(CONTRIB, "prometheus", "msgd.yml")
HAPROXY_CFG = os.path.join(CONTRIB, "haproxy", "msgd.cfg")
DASHBOARD = os.path.join(CONTRIB, "grafana", "msgd.json")
RULE_TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "msgd-rules.test.yml")


def run(argv, timeout=30):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace")


def families(text):
    """The metric families of a Prometheus text and its sample names (a
    histogram's _bucket, _sum and _count)."""
    samples, types, problems = parse_prom(text)
    return set(types) | set(n for n, _, _ in samples), problems


@t.case
def prometheus_files(t):
    if PROMTOOL is None:
        print("SKIP: promtool is not installed (./bootstrap check installs "
              "prometheus)")
        raise SystemExit(SKIP)
    rc, out = run([PROMTOOL, "check", "config", SCRAPE])
    t.check(rc == 0, "promtool check config %s: exit %d\n%s" % (
        SCRAPE, rc, out))
    rc, out = run([PROMTOOL, "check", "rules", RULES])
    t.check(rc == 0, "promtool check rules: exit %d\n%s" % (rc, out))
    # Each alert fires on what should fire it, not on reloads and such.
    rc, out = run([PROMTOOL, "test", "rules", RULE_TESTS])
    t.check(rc == 0, "promtool test rules %s: exit %d\n%s" % (
        RULE_TESTS, rc, out))
    # What test_fleet gives Prometheus is valid too.
    d = tempfile.mkdtemp(prefix="msgd-contrib-")
    try:
        path = os.path.join(d, "prometheus.yml")
        with open(path, "w") as f:
            f.write(contrib_prometheus(["127.0.0.2:9", "127.0.0.3:9"],
                                       RULES))
        rc, out = run([PROMTOOL, "check", "config", path])
        t.check(rc == 0, "promtool check config (test_fleet's): exit %d\n"
                "%s" % (rc, out))
        # And with its bearer token section uncommented.
        with open(SCRAPE) as f:
            text, n = re.subn(r"^(\s*)#(authorization:\n)\1#(.*\n)\1#"
                              r"(\s*credentials_file:) \S+\n",
                              r"\1\2\1\3\1\4 %s\n" % os.path.join(
                                  d, "token"), f.read(), flags=re.M)
        t.check(n == 1, "no commented authorization section in %s" % SCRAPE)
        with open(os.path.join(d, "token"), "w") as f:
            f.write("secret\n")
        with open(path, "w") as f:
            f.write(text.replace("- msgd-rules.yml", "- " + RULES))
        rc, out = run([PROMTOOL, "check", "config", path])
        t.check(rc == 0, "promtool check config (with a bearer token): "
                "exit %d\n%s" % (rc, out))
    finally:
        shutil.rmtree(d, ignore_errors=True)

    with open(RULES) as f:
        used = metric_names(f.read())
    t.check(len(used) >= 8, "only %d metrics found in the rules: %r" % (
        len(used), sorted(used)))
    check_metrics_exist(t, used, "the rules")


def metric_names(text):
    """The msgd_* metric names in text, not recorded ones
    (level:metric:operations)."""
    return set(re.findall(r"(?<![\w:])msgd_\w+\b(?!:)", text))


def check_metrics_exist(t, used, what):
    """Every metric of used is a family of msgd's output: msgctl stats
    --prometheus and, with metrics_listen, GET /metrics."""
    settings = {"workers": 2, "proxy_trusted": ["127.0.0.1/32"]}
    metrics = msgd_supports("metrics_listen", "127.0.0.1:1")

    def pick(srv):
        # Distinct (free_port twice can give the same port back).
        ports = free_ports(3)
        srv.settings["listen"] = ["unix:" + srv.sock_path,
                                  "127.0.0.1:%d" % ports[0],
                                  "proxy:127.0.0.1:%d" % ports[1]]
        if metrics:
            srv.settings["metrics_listen"] = "127.0.0.1:%d" % ports[2]
        srv.mport = ports[2] if metrics else None
    srv = t.server(settings, pick=pick)
    mport = srv.mport
    rc, text, err, _ = ctl(srv, "stats", "--prometheus")
    t.check(rc == 0, "msgctl stats --prometheus: exit %d %r" % (rc, err))
    have, problems = families(text)
    t.check(not problems, "msgctl stats --prometheus: %r" % problems[:5])
    missing = sorted(used - have)
    t.check(not missing, "metrics %s use that msgd does not have: %r" % (
        what, missing))
    if mport:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport,
                                    timeout=5) as r:
            have, problems = families(r.read().decode())
        missing = sorted(used - have)
        t.check(not missing, "metrics %s use that GET /metrics does not "
                "have: %r" % (what, missing))


@t.case
def grafana_dashboard(t):
    with open(DASHBOARD) as f:
        dash = json.load(f)
    exprs = [tg["expr"] for p in dash["panels"] for tg in p.get("targets",
                                                               [])]
    t.check(len(exprs) >= 10, "only %d queries in %s" % (len(exprs),
                                                          DASHBOARD))
    used = metric_names("\n".join(exprs))
    t.check(len(used) >= 8, "only %d metrics in the dashboard: %r" % (
        len(used), sorted(used)))
    check_metrics_exist(t, used, "the dashboard")
    if PROMTOOL is None:
        return
    # Each query is PromQL once Grafana's variables are filled in: as
    # recording rules, promtool parses them.
    d = tempfile.mkdtemp(prefix="msgd-contrib-")
    try:
        path = os.path.join(d, "dashboard-rules.yml")
        with open(path, "w") as f:
            f.write("groups:\n  - name: dashboard\n    rules:\n")
            for i, e in enumerate(exprs):
                e = e.replace("$__rate_interval", "1m").replace(
                    "$instance", ".*")
                f.write("      - record: dashboard:q%d\n        expr: %s\n"
                        % (i, json.dumps(e)))
        rc, out = run([PROMTOOL, "check", "rules", path])
        t.check(rc == 0, "the dashboard's queries: promtool check rules: "
                "exit %d\n%s" % (rc, out))
    finally:
        shutil.rmtree(d, ignore_errors=True)


@t.case
def haproxy_file(t):
    if HAPROXY is None:
        print("SKIP: haproxy is not installed (./bootstrap check installs "
              "it)")
        raise SystemExit(SKIP)
    with open(HAPROXY_CFG) as f:
        text = f.read()
    d = tempfile.mkdtemp(prefix="msgd-contrib-")
    try:
        for what, cfg in (
                ("as shipped", text),
                ("test_fleet's, with /health",
                 contrib_haproxy(os.path.join(d, "s"), ("127.0.0.1", 9),
                                 [("127.0.0.2", 9), ("127.0.0.3", 9),
                                  ("127.0.0.4", 9)], 10)),
                ("test_fleet's, without /health",
                 contrib_haproxy(os.path.join(d, "s"), ("127.0.0.1", 9),
                                 [("127.0.0.2", 9), ("127.0.0.3", 9),
                                  ("127.0.0.4", 9)]))):
            path = os.path.join(d, "haproxy.cfg")
            with open(path, "w") as f:
                f.write(cfg)
            rc, out = run([HAPROXY, "-c", "-f", path])
            t.check(rc == 0 and "ALERT" not in out and "WARNING" not in out,
                    "haproxy -c (%s): exit %d\n%s" % (what, rc, out))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    send = re.search(r"tcp-check send-binary ([0-9a-f]+)", text).group(1)
    expect = re.search(r"tcp-check expect binary ([0-9a-f]+)",
                       text).group(1)
    t.check(bytes.fromhex(send) == encode(Op.PING, request_id=1),
            "the check sends %s, not a PING with request id 1 (%s)" % (
                send, encode(Op.PING, request_id=1).hex()))
    srv = t.server({"workers": 1})
    s = connect(srv.sock_path)
    try:
        s.sendall(bytes.fromhex(send))
        f = read_frame(s)
        got = HDR.pack(f.magic, f.version, f.flags, f.opcode, f.status,
                       f.key_len, f.request_id, f.body_len) + f.key + f.value
    finally:
        s.close()
    t.check(got.hex() == expect, "the check expects %s, msgd answers %s" % (
        expect, got.hex()))


t.run()

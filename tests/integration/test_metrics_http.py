"""test_metrics_http: the metrics exporter (metrics_listen) over HTTP.

- equal_to_msgctl: GET /metrics is `msgctl stats --prometheus` line for line
  (but the heartbeat ages, which move with time, and the msgd_http_* lines
  only the exporter has), as text/plain version 0.0.4, strictly parsed
  (statslib) and, when Debian's prometheus package is installed, accepted
  by `promtool check metrics`.
- openmetrics: Prometheus's own Accept header gets OpenMetrics 1.0: its
  content type, "# EOF" last, counter families without "_total", the same
  samples as the text document; HEAD has no body.
- status_codes: /health 200 {"status": "serving"}; other paths 404, other
  methods 405 (with Allow), a POST body unread; 40 KiB of headers: 431 and
  closed; each counted in msgd_http_requests_total{code} or
  msgd_http_connections_unanswered_total.
- slow_and_many: a client that sends half a request line and stops does
  not delay other scrapes and is closed at the exporter's timeout (10 s);
  past 64 open connections new ones are closed at once (counted), and
  scrapes work again once they are gone.
- slow_requests_cut: 64 clients (the connection limit) each trickling a
  header a byte per second hold every connection and no scrape is
  served; each is cut about 10 s (EXPORTER_TIMEOUT_S) after it opened,
  however often its bytes came, counted unanswered, and scrapes are
  served again (before: libmicrohttpd's timeout is one of inactivity,
  which every byte put off, and they held the exporter for ever).
- draining: during a graceful stop held open by a SIGSTOPped worker (a
  long shutdown_timeout), /health answers 503 {"status": "draining"} and
  /metrics still answers; msgctl status says "state: draining".
- workers_stopped: every worker SIGSTOPped, /metrics and /health answer at
  once (the exporter reads shared memory only).
- respawn: the exporter SIGKILLed is respawned (new pid, same port), logged,
  counted in msgctl status; the exporter runs as the workers' user with no
  capabilities, NO_NEW_PRIVS and a seccomp filter.
- throttle: an exporter that keeps dying young is respawned at once, then
  after a second, then after respawn_throttle (2 s here), as a worker is.
- dies_with_master: the master SIGKILLed, the exporter exits too.
- hung: an exporter SIGSTOPped stops beating and is killed after
  worker_timeout (3 s), then respawned (within 8 s).
- protected: with metrics_listen on every IPv4 address and no token, a peer
  on this host's non-loopback address gets 403 for /metrics and 200 for
  /health, loopback peers get both (skipped without such an address).
- allow_list: with allow = 127.0.0.1/32, a client bound to 127.0.0.2 is
  closed without an answer and counted (reason="allow").
- token: with auth_token, /metrics needs "Authorization: Bearer <token>"
  (401 otherwise); /health does not.
- reload: a reload restarts the exporter with the new configuration (a new
  allow list applies) and moves it when metrics_listen changes.
- socket_activation: under systemd-socket-activate, the socket passed for
  metrics_listen is taken (as the listeners are) and served.
- upgrade (last): msgctl upgrade with metrics_listen set: the socket is
  passed to the new master with the listeners, whose exporter answers.
- real_prometheus: when /usr/bin/prometheus exists, a real Prometheus
  scrapes the exporter and its query API returns msgd_workers and up == 1.
"""
from http.client import HTTPConnection
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

from harness import (Suite, children, ctl, free_port, free_ports,
                     is_exporter, poll, proc_stat, proc_status)
from upgradecases import (master_pid, own_copy, reap_old, stop_current,
                          subreaper)
from statslib import parse_prom

t = Suite("test_metrics_http")

PROM_ACCEPT = ("application/openmetrics-text;version=1.0.0,"
               "application/openmetrics-text;version=0.0.1;q=0.75,"
               "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
# Lines that move with time or exist only in the exporter's document.
VOLATILE = re.compile(r"^(msgd_worker_heartbeat_age_seconds|msgd_http_)|"
                      r"^# (HELP|TYPE) msgd_http_")


def metrics_on(host):
    """A pick for Server: metrics_listen on host, on a port free at that
    attempt."""
    def pick(srv):
        srv.mport = free_port(host=host)
        srv.settings["metrics_listen"] = "%s:%d" % (
            "*" if host == "0.0.0.0" else host, srv.mport)
    return pick


def metrics_server(t, settings=None, **kw):
    srv = t.server(settings, pick=metrics_on("127.0.0.1"), **kw)
    poll(lambda: http(srv, "/health")[0] == 200, timeout=10)
    return srv


def http(srv, path, method="GET", headers=None, body=None, port=None,
         source=None, timeout=5.0):
    """One request on a new connection: (status, headers, body bytes), or
    (None, {}, why) when the connection closed without an answer."""
    s = socket.socket()
    s.settimeout(timeout)
    try:
        if source:
            s.bind((source, 0))
        s.connect(("127.0.0.1", port or srv.mport))
        req = "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" % (
            method, path)
        for k, v in (headers or {}).items():
            req += "%s: %s\r\n" % (k, v)
        if body is not None:
            req += "Content-Length: %d\r\n" % len(body)
        s.sendall(req.encode() + b"\r\n" + (body or b""))
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    except OSError as e:
        return (None, {}, repr(e))
    finally:
        s.close()
    if not data:
        return (None, {}, "closed without an answer")
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return (int(lines[0].split()[1]), hdrs, rest)


def counter(srv, name, labels=""):
    """The value of one msgd_http_* sample in /metrics."""
    code, _, body = http(srv, "/metrics")
    if code != 200:
        return None  # refused: at the connection limit a moment longer
    m = re.search(r"^%s%s (\d+)$" % (re.escape(name), re.escape(labels)),
                  body.decode(), re.M)
    return int(m.group(1)) if m else None


def count_closed(conns):
    """How many of conns the peer has closed (EOF or reset), now."""
    n = 0
    readable, _, _ = select.select(conns, [], [], 0)
    for s in readable:
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                n += 1
        except OSError:
            n += 1
    return n


def stable_lines(text):
    return [line for line in text.splitlines() if not VOLATILE.match(line)]


@t.case
def equal_to_msgctl(t):
    srv = metrics_server(t)
    with srv.client() as c:
        c.request(0x02, b"hello")

    def both():
        """/metrics, msgctl, /metrics again: equal once the workers are
        at rest (the close of the client above is counted a moment
        later)."""
        code, hdrs, body = http(srv, "/metrics")
        rc, out, err, _ = ctl(srv, "stats", "--prometheus")
        again = http(srv, "/metrics")[2]
        a, b = stable_lines(body.decode()), stable_lines(out)
        return (a == b == stable_lines(again.decode()), code, hdrs, body,
                rc, err, a, b)
    same, code, hdrs, body, rc, err, a, b = poll(both, timeout=5,
                                                 until=lambda r: r[0])
    t.check(code == 200 and rc == 0, "/metrics %r, msgctl rc %d %r" % (
        code, rc, err))
    t.check(hdrs.get("content-type") ==
            "text/plain; version=0.0.4; charset=utf-8",
            "content type %r" % hdrs.get("content-type"))
    text = body.decode()
    t.check(same, "/metrics differs from msgctl stats --prometheus:\n%s" %
            "\n".join(l for l in set(a) ^ set(b))[:2000])
    samples, types, problems = parse_prom(text)
    t.check(not problems, "/metrics parse: %r" % problems[:10])
    t.check(types.get("msgd_http_requests_total") == "counter",
            "msgd_http_requests_total: %r" % types.get(
                "msgd_http_requests_total"))
    if shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "metrics"], input=body,
                           capture_output=True, timeout=30)
        t.check(p.returncode == 0, "promtool check metrics: %r %r" % (
            p.stdout, p.stderr))
    else:
        print("note: promtool not installed, not run")


@t.case
def openmetrics(t):
    srv = metrics_server(t)
    code, hdrs, body = http(srv, "/metrics", headers={"Accept": PROM_ACCEPT})
    text = body.decode()
    t.check(code == 200 and hdrs.get("content-type") ==
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            "OpenMetrics: %r %r" % (code, hdrs))
    t.check(text.endswith("\n# EOF\n"), "no # EOF at the end: %r" %
            text[-80:])
    t.check("# TYPE msgd_requests counter\n" in text and
            "# TYPE msgd_requests_total" not in text,
            "counter family named with _total")
    t.check("\n\n" not in text, "a blank line in OpenMetrics")

    def samples(s):
        return [l for l in stable_lines(s) if not l.startswith("#")]

    def same():
        """Equal once the workers are at rest (the harness's PING)."""
        om = http(srv, "/metrics", headers={"Accept": PROM_ACCEPT})[2]
        plain = http(srv, "/metrics")[2]
        return samples(om.decode()) == samples(plain.decode())
    t.check(poll(same, timeout=5),
            "OpenMetrics samples differ from the text format's")
    for accept, om in (("text/plain;version=0.0.4", False),
                       ("application/openmetrics-text;version=0.0.1", False),
                       ("application/openmetrics-text", True),
                       ("*/*", False)):
        _, h, _ = http(srv, "/metrics", headers={"Accept": accept})
        t.check(h.get("content-type", "").startswith(
            "application/openmetrics-text") == om,
            "Accept %r: %r" % (accept, h.get("content-type")))
    code, hdrs, body = http(srv, "/metrics", method="HEAD")
    t.check(code == 200 and body == b"", "HEAD: %r %r" % (code, body[:50]))


@t.case
def status_codes(t):
    srv = metrics_server(t)
    code, hdrs, body = http(srv, "/health")
    t.check(code == 200 and json.loads(body) == {"status": "serving"} and
            hdrs.get("content-type") == "application/json",
            "/health: %r %r %r" % (code, hdrs, body))
    # Two scrapes on one connection (Prometheus keeps it open).
    conn = HTTPConnection("127.0.0.1", srv.mport, timeout=5)
    try:
        for path in ("/metrics", "/health"):
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            t.check(r.status == 200 and not r.will_close,
                    "keep-alive %s: %r %r" % (path, r.status, r.getheaders()))
    finally:
        conn.close()
    t.check(http(srv, "/nope")[0] == 404, "other path not 404")
    t.check(http(srv, "/metrics?x=1")[0] == 200, "a query string")
    code, hdrs, _ = http(srv, "/metrics", method="DELETE")
    t.check(code == 405 and hdrs.get("allow") == "GET, HEAD",
            "DELETE: %r %r" % (code, hdrs))
    t.check(http(srv, "/metrics", method="POST", body=b"x" * 5000)[0] == 405,
            "POST not 405")
    before = counter(srv, "msgd_http_connections_unanswered_total")
    code, _, _ = http(srv, "/metrics", headers={"X-Big": "a" * 40000})
    t.check(code == 431, "40 KiB of headers: %r" % code)
    t.check(counter(srv, "msgd_http_requests_total", '{code="404"}') == 1 and
            counter(srv, "msgd_http_requests_total", '{code="405"}') == 2,
            "404/405 not counted")
    t.check(counter(srv, "msgd_http_connections_unanswered_total") ==
            before + 1, "the 431 not counted unanswered")


@t.case
def slow_and_many(t):
    srv = metrics_server(t)
    slow = socket.create_connection(("127.0.0.1", srv.mport))
    slow.sendall(b"GET /metr")
    t0 = time.monotonic()
    for _ in range(20):
        t.check(http(srv, "/metrics", timeout=2)[0] == 200,
                "a scrape beside a slow client")
    t.check(time.monotonic() - t0 < 5, "20 scrapes took %.1f s beside a "
            "slow client" % (time.monotonic() - t0))
    # Many: the slow one and 70 more; past 64, closed at once.
    conns = []
    for _ in range(70):
        s = socket.create_connection(("127.0.0.1", srv.mport))
        conns.append(s)
    closed = poll(lambda: count_closed(conns), timeout=3,
                  until=lambda n: n >= 71 - 64)
    t.check(closed == 71 - 64, "%d of 71 connections closed at once, want "
            "%d" % (closed, 71 - 64))
    for s in conns:
        s.close()
    # A scrape made before the exporter has seen the closes is refused
    # at the limit too (and counted): count those of ours.
    ours = [0]

    def refused():
        v = counter(srv, "msgd_http_connections_refused_total",
                    '{reason="limit"}')
        ours[0] += v is None
        return v
    v = poll(refused, timeout=5)
    t.check(v == 7 + ours[0], "refusals at the limit: %r, want 7 + %d" % (
        v, ours[0]))
    # The slow client is closed by the exporter's timeout (10 s).
    slow.settimeout(15)
    try:
        got = slow.recv(100)
    except OSError as e:
        got = repr(e)
    t.check(got == b"" and time.monotonic() - t0 < 14,
            "slow client after %.1f s: %r" % (time.monotonic() - t0, got))
    slow.close()


@t.case
def slow_requests_cut(t):
    srv = metrics_server(t)
    before = counter(srv, "msgd_http_connections_unanswered_total")
    n = 64      # EXPORTER_CONN_MAX
    conns = []
    try:
        t0 = time.monotonic()
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", srv.mport),
                                         timeout=5)
            s.sendall(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
            conns.append(s)
        t.check(http(srv, "/metrics", timeout=2)[0] is None,
                "the %d slow clients hold every connection" % n)
        # A header byte per second on each, until each is cut (bounded:
        # the deadline is 10 s; 15 s at most).
        open_ = set(range(n))
        cut_at = {}
        for _ in range(16):
            if not open_ or time.monotonic() - t0 > 15:
                break
            for i in sorted(open_):
                try:
                    conns[i].sendall(b"a")
                except OSError:
                    cut_at[i] = time.monotonic() - t0
            open_ -= set(cut_at)
            deadline = time.monotonic() + 1.0
            while open_ and time.monotonic() < deadline:
                r, _, _ = select.select([conns[i] for i in open_], [], [],
                                        max(0.0, deadline -
                                            time.monotonic()))
                for s in r:
                    i = conns.index(s)
                    try:
                        if s.recv(100) != b"":
                            continue        # an answer: not expected
                    except OSError:
                        pass
                    cut_at[i] = time.monotonic() - t0
                open_ -= set(cut_at)
        t.check(not open_, "%d of %d trickling clients still open after "
                "%.1f s (EXPORTER_TIMEOUT_S 10)" % (
                    len(open_), n, time.monotonic() - t0))
        if cut_at:
            t.check(8.5 <= min(cut_at.values()) and
                    max(cut_at.values()) <= 13.5,
                    "cut %.1f..%.1f s after they opened, want about 10 s" %
                    (min(cut_at.values()), max(cut_at.values())))
    finally:
        for s in conns:
            s.close()
    t.check(poll(lambda: http(srv, "/metrics", timeout=2)[0] == 200,
                 timeout=5), "a scrape once they are cut")
    v = poll(lambda: counter(srv, "msgd_http_connections_unanswered_total"),
             timeout=5, until=lambda v: v is not None and
             v - before >= n)
    t.check(v is not None and v - before == n,
            "unanswered connections: +%r, want +%d" % (
                None if v is None else v - before, n))


@t.case
def draining(t):
    srv = metrics_server(t, {"shutdown_timeout": 30}, health=False)
    w = srv.workers()[0][0]
    os.kill(w, signal.SIGSTOP)
    try:
        srv.send_signal(signal.SIGTERM)
        got = poll(lambda: http(srv, "/health"), timeout=5,
                   until=lambda r: r[0] == 503)
        t.check(got[0] == 503 and json.loads(got[2]) ==
                {"status": "draining"}, "/health while draining: %r" %
                (got,))
        t.check(http(srv, "/metrics")[0] == 200, "/metrics while draining")
        rc, out, _, _ = ctl(srv, "status")
        t.check("state: draining" in out, "msgctl status: %r" % out)
    finally:
        os.kill(w, signal.SIGCONT)
    t.check(srv.wait(15) == 0, "msgd did not stop: %r" % srv.returncode)
    t.check(http(srv, "/health")[0] is None, "still answering after exit")


@t.case
def workers_stopped(t):
    srv = metrics_server(t, {"worker_timeout": 0})
    ws = [p for p, _ in srv.workers()]
    for p in ws:
        os.kill(p, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        t.check(http(srv, "/metrics", timeout=2)[0] == 200,
                "/metrics with every worker stopped")
        t.check(http(srv, "/health", timeout=2)[0] == 200,
                "/health with every worker stopped")
        t.check(time.monotonic() - t0 < 1.5, "slow with stopped workers")
    finally:
        for p in ws:
            os.kill(p, signal.SIGCONT)


@t.case
def respawn(t):
    srv = metrics_server(t, health=False)
    old = srv.exporter()
    t.check(old is not None, "no exporter process")
    uid = proc_status(old, "Uid")
    wuid = proc_status(srv.workers()[0][0], "Uid")
    t.check(uid == wuid, "exporter uid %r, workers' %r" % (uid, wuid))
    t.check(proc_status(old, "NoNewPrivs") == "1" and
            proc_status(old, "Seccomp") == "2" and
            proc_status(old, "CapEff") == "0000000000000000" and
            (os.geteuid() != 0 or
             proc_status(old, "CapBnd") == "0000000000000000"),
            "exporter not sandboxed: %r" % [proc_status(old, f) for f in (
                "NoNewPrivs", "Seccomp", "CapEff", "CapBnd")])
    # The master reads the exporter's first beat within its loop's second.
    out = poll(lambda: ctl(srv, "status")[1], timeout=5,
               until=lambda o: "metrics exporter: pid" in o)
    t.check("metrics exporter: pid %d on 127.0.0.1:%d" % (old, srv.mport)
            in out and "0 restarts" in out and "state: serving" in out,
            "msgctl status: %r" % out)
    os.kill(old, signal.SIGKILL)
    new = poll(lambda: srv.exporter(), timeout=5,
               until=lambda p: p is not None and p != old)
    t.check(new not in (None, old), "no new exporter: %r" % new)
    t.check(poll(lambda: http(srv, "/health")[0], timeout=5,
                 until=lambda c: c == 200) == 200,
            "the new exporter does not answer")
    t.check("metrics exporter (pid %d) killed by signal 9; respawning it" %
            old in srv.log(), "the death is not logged")
    out = poll(lambda: ctl(srv, "status")[1], timeout=5,
               until=lambda o: "pid %d" % new in o)
    t.check("1 restarts" in out, "msgctl status after: %r" % out)
    t.check(len(srv.wait_workers()) == 2, "workers changed")


@t.case
def throttle(t):
    srv = metrics_server(t, {"respawn_throttle": 2}, health=False)
    pids = [srv.exporter()]
    gaps = []
    for _ in range(3):
        os.kill(pids[-1], signal.SIGKILL)
        t0 = time.monotonic()
        new = poll(lambda: srv.exporter(), timeout=8,
                   until=lambda p: p is not None and p not in pids)
        if not t.check(new not in pids and new is not None,
                       "no respawn after %r" % pids):
            return
        gaps.append(time.monotonic() - t0)
        pids.append(new)
    # Young deaths: at once, after a second, then respawn_throttle (2 s).
    t.check(gaps[0] < 1.5 and 0.8 <= gaps[1] < 2.5 and gaps[2] >= 1.8,
            "respawn delays %r, want about 0, 1, 2 s" % gaps)
    t.check("respawning it at most once every respawn_throttle" in
            srv.log(), "the throttle is not logged")
    out = poll(lambda: ctl(srv, "status")[1], timeout=5,
               until=lambda o: "3 restarts" in o)
    t.check("3 restarts" in out, "msgctl status: %r" % out)


@t.case
def dies_with_master(t):
    srv = metrics_server(t, health=False)
    ex = srv.exporter()
    srv.note_workers()
    srv.send_signal(signal.SIGKILL)
    srv.wait()
    gone = poll(lambda: proc_stat(ex) is None or proc_stat(ex)[0] == "Z",
                timeout=5)
    t.check(gone, "the exporter outlived its master: %r" % (proc_stat(ex),))
    t.check(http(srv, "/health")[0] is None, "still answering")


@t.case
def hung(t):
    srv = metrics_server(t, {"worker_timeout": 3}, health=False)
    old = srv.exporter()
    os.kill(old, signal.SIGSTOP)
    t0 = time.monotonic()
    new = poll(lambda: srv.exporter(), timeout=12,
               until=lambda p: p is not None and p != old)
    t.check(new not in (None, old) and time.monotonic() - t0 < 8,
            "a stopped exporter not replaced within 8 s: %r" % new)
    t.check("metrics exporter (pid %d) stopped beating (hung); killing it" %
            old in srv.log(), "the hang is not logged")
    t.check(poll(lambda: http(srv, "/health")[0], timeout=5,
                 until=lambda c: c == 200) == 200,
            "the new exporter does not answer")


@t.case
def allow_list(t):
    srv = metrics_server(t, {"allow": ["127.0.0.1/32"]})
    t.check(http(srv, "/health", source="127.0.0.1")[0] == 200,
            "an allowed source refused")
    got = http(srv, "/health", source="127.0.0.2")
    t.check(got[0] is None, "127.0.0.2 answered: %r" % (got,))
    t.check(counter(srv, "msgd_http_connections_refused_total",
                    '{reason="allow"}') == 1, "refusal not counted")


def local_ipv4():
    """A non-loopback IPv4 address of this host, or None."""
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show"],
                             capture_output=True, text=True,
                             timeout=10).stdout
    except OSError:
        return None
    for m in re.finditer(r"inet (\d+\.\d+\.\d+\.\d+)/", out):
        if not m.group(1).startswith("127."):
            return m.group(1)
    return None


@t.case
def protected(t):
    ip = local_ipv4()
    if ip is None:
        print("note: SKIP protected: no non-loopback IPv4 address here")
        return
    # The port is free on every address: a wildcard bind also collides
    # with another test's listener on 127.0.0.2, say.
    srv = t.server(pick=metrics_on("0.0.0.0"))
    port = srv.mport
    poll(lambda: http(srv, "/health")[0] == 200, timeout=10)
    t.check(http(srv, "/metrics")[0] == 200, "a loopback peer refused")

    def remote(path):
        s = socket.create_connection((ip, port), timeout=5)
        try:
            s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: "
                      b"close\r\n\r\n" % path.encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        return int(data.split()[1]) if data else None
    t.check(remote("/metrics") == 403, "a remote peer got /metrics")
    t.check(remote("/health") == 200, "a remote peer refused /health")
    t.check(counter(srv, "msgd_http_requests_total", '{code="403"}') == 1,
            "the 403 not counted")
    t.check("metrics_listen beyond loopback without auth_token" in
            srv.log(), "no protected mode warning")


@t.case
def token(t):
    srv = metrics_server(t, {"auth_token": "s3cret-token"})
    t.check(http(srv, "/health")[0] == 200, "/health needs no token")
    code, hdrs, _ = http(srv, "/metrics")
    t.check(code == 401 and hdrs.get("www-authenticate", "").startswith(
        "Bearer"), "/metrics without a token: %r %r" % (code, hdrs))
    t.check(http(srv, "/metrics", headers={
        "Authorization": "Bearer wrong-token"})[0] == 401, "a wrong token")
    t.check(http(srv, "/metrics", headers={
        "Authorization": "Bearer s3cret-token"})[0] == 200, "the token")


@t.case
def reload(t):
    srv = metrics_server(t, health=False)
    old = srv.exporter()
    srv.settings["allow"] = ["127.0.0.2/32"]
    srv.write_conf()
    srv.send_signal(signal.SIGHUP)
    new = poll(lambda: srv.exporter(), timeout=10,
               until=lambda p: p is not None and p != old)
    t.check(new not in (None, old), "exporter not restarted by a reload")
    t.check(poll(lambda: http(srv, "/health", source="127.0.0.2")[0],
                 timeout=5, until=lambda c: c == 200) == 200, "the new allow list: 127.0.0.2 refused")
    t.check(http(srv, "/health", source="127.0.0.1")[0] is None,
            "the new allow list: 127.0.0.1 answered")
    port2 = free_port()
    srv.settings["metrics_listen"] = "127.0.0.1:%d" % port2
    srv.settings["allow"] = None
    srv.write_conf()
    srv.send_signal(signal.SIGHUP)
    t.check(poll(lambda: http(srv, "/health", port=port2)[0],
                 timeout=10, until=lambda c: c == 200) == 200, "the new metrics_listen")
    t.check(http(srv, "/health")[0] is None, "the old port still answers")
    t.check("respawning" not in srv.log(), "a reload counted as a death")
    t.check("told to stop" not in srv.log(), "a retired exporter failed")


@t.case
def socket_activation(t):
    ssa = shutil.which("systemd-socket-activate")
    if ssa is None:
        print("note: SKIP socket_activation: no systemd-socket-activate")
        return
    mport, port = free_ports(2)
    srv = t.server({"metrics_listen": "127.0.0.1:%d" % mport}, unix=False,
                   tcp=True, start=False)
    srv.port = port
    srv.mport = mport
    srv.write_conf()
    srv.spawn([ssa, "-l", "127.0.0.1:%d" % srv.port,
               "-l", "127.0.0.1:%d" % mport])
    srv.wait_ready(10.0)
    t.check(poll(lambda: http(srv, "/health")[0], timeout=10,
                 until=lambda c: c == 200) == 200,
            "the passed metrics socket does not answer 200")
    t.check("serving 2 sockets passed by LISTEN_FDS" in srv.log(),
            "the metrics socket was not taken:\n" + srv.log())
    t.check(srv.stop() == 0, "msgd exit %r" % srv.returncode)


@t.case
def real_prometheus(t):
    prom = shutil.which("prometheus")
    if prom is None:
        print("note: SKIP real_prometheus: no prometheus binary (Debian's "
              "prometheus package)")
        return
    srv = metrics_server(t)
    d = tempfile.mkdtemp(prefix="msgd-prom-")
    pport = free_port()
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: msgd\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % srv.mport)
    p = subprocess.Popen([prom, "--config.file=" + os.path.join(
        d, "prometheus.yml"), "--storage.tsdb.path=" + os.path.join(d, "db"),
        "--web.listen-address=127.0.0.1:%d" % pport],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "log"), "w"))

    def query(q):
        url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (pport, q)
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                res = json.load(r)["data"]["result"]
                return res[0]["value"][1] if res else None
        except (OSError, ValueError, KeyError):
            return None
    failed = t.failed
    try:
        v = poll(lambda: query("msgd_workers"), timeout=30, step=0.5)
        t.check(v == "2", "Prometheus msgd_workers: %r" % v)
        t.check(query("up") == "1", "up: %r" % query("up"))
        v = poll(lambda: query("sum(msgd_http_requests_total)"), timeout=10,
                 step=0.5)
        t.check(v is not None and int(v) >= 1, "scrapes counted: %r" % v)
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/targets" %
                                    pport, timeout=2) as r:
            tg = json.load(r)["data"]["activeTargets"][0]
        t.check(tg["health"] == "up" and tg["lastError"] == "",
                "target: %r" % tg)
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if t.failed > failed:
            with open(os.path.join(d, "log")) as f:
                print(f.read()[-3000:])
        shutil.rmtree(d, ignore_errors=True)



@t.case
def upgrade(t):
    # Last: the test process becomes a subreaper (new masters are ours).
    subreaper()
    srv = t.server(tcp=True, health=False, binary=own_copy,
                   pick=metrics_on("127.0.0.1"))
    t.check(srv.all_serving() and poll(lambda: http(srv, "/health")[0],
                                       timeout=10,
                                       until=lambda c: c == 200) == 200,
            "not serving before the upgrade")
    old = master_pid(srv)
    try:
        rc, out, err, _ = ctl(srv, "upgrade", timeout=90.0)
        t.check(rc == 0, "msgctl upgrade: %d %r %r" % (rc, out, err))
        new = master_pid(srv)
        t.check(new not in (0, old), "no new master: %r" % new)
        ex = poll(lambda: [p for p, s in children(new)
                           if s != "Z" and is_exporter(p)], timeout=10)
        t.check(len(ex) == 1, "the new master's exporter: %r" % ex)
        t.check(poll(lambda: http(srv, "/health")[0], timeout=10,
                     until=lambda c: c == 200) == 200,
                "/health after the upgrade")
        t.check("cannot listen on metrics_listen" not in srv.log(),
                "the new master could not take the metrics socket")
        # It serves the new master's segment (one upgrade in it), not the
        # old one's that the path named when it started.
        body = poll(lambda: http(srv, "/metrics")[2].decode(errors="replace"),
                    timeout=10,
                    until=lambda b: "\nmsgd_upgrades_total 1\n" in b)
        t.check("\nmsgd_upgrades_total 1\n" in body,
                "/metrics after the upgrade: the new master's figures: %r" %
                [ln for ln in body.splitlines() if "upgrade" in ln])
    finally:
        reap_old(srv)
        stop_current(srv)


t.run()

"""fleetlib: the real HAProxy and Prometheus beside msgd hosts, for
test_fleet.py and bench/fleet.

- contrib_haproxy(): contrib/haproxy/msgd.cfg with the test's addresses
  (every substitution must match, so the test runs the shipped settings
  and breaks when the file changes shape).
- HAProxy: haproxy -db on such a config; its stats socket answers
  `show servers state` (state()) and `show sess` (sessions()).
- contrib_prometheus(): contrib/prometheus/msgd.yml with the test's
  targets and intervals; Prometheus: prometheus on it (a temp storage dir,
  a loopback port), query() through its HTTP API.
- Each program runs in the foreground of the test, and stop() ends it
  (SIGTERM, bounded wait, SIGKILL).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import urllib.parse
import urllib.request

from harness import SRCDIR, Op, St, connect_from, encode, poll, read_frame

CONTRIB = os.path.join(SRCDIR, "contrib")


def program(name, *dirs):
    """The path of an installed program, or None."""
    return shutil.which(name) or next(
        (os.path.join(d, name) for d in dirs
         if os.access(os.path.join(d, name), os.X_OK)), None)


HAPROXY = program("haproxy", "/usr/sbin", "/usr/local/sbin")
PROMETHEUS = program("prometheus", "/usr/bin", "/usr/local/bin")
PROMTOOL = program("promtool", "/usr/bin", "/usr/local/bin")


def subst(text, pattern, repl, count=1):
    """text with pattern replaced exactly count times (else ValueError)."""
    out, n = re.subn(pattern, repl, text, flags=re.M)
    if n != count:
        raise ValueError("contrib file changed shape: %r matched %d times, "
                         "want %d" % (pattern, n, count))
    return out


def common_port(hosts):
    """A TCP port free on every address of hosts right now."""
    for _ in range(50):
        s = socket.socket()
        try:
            s.bind((hosts[0], 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        ok = True
        for h in hosts[1:]:
            s = socket.socket()
            try:
                s.bind((h, port))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return port
    raise OSError("no port free on all of %r" % (hosts,))


def contrib_haproxy(sock, front, servers, health_port=None):
    """contrib/haproxy/msgd.cfg for the test: its stats socket at sock,
    clients on front (host, port), servers [(host, port)] in order; the
    /health check on health_port, or dropped when None (no metrics)."""
    with open(os.path.join(CONTRIB, "haproxy", "msgd.cfg")) as f:
        text = f.read()
    text = subst(text, r"stats socket \S+", "stats socket %s" % sock)
    text = subst(text, r"^(\s*bind) \S+", r"\1 %s:%d" % front)
    for i, (h, p) in enumerate(servers):
        text = subst(text, r"^(\s*server msgd%d) \S+" % (i + 1),
                     r"\g<1> %s:%d" % (h, p))
    if health_port is None:
        text = subst(text, r"^\s*# msgd-health-begin(.|\n)*?"
                     r"# msgd-health-end\n", "")
    else:
        text = subst(text, r"tcp-check connect port \d+",
                     "tcp-check connect port %d" % health_port)
    return text


def contrib_prometheus(targets, rules, interval="1s"):
    """contrib/prometheus/msgd.yml scraping targets ["host:port"] every
    interval, evaluating the rules file (a path) as often."""
    with open(os.path.join(CONTRIB, "prometheus", "msgd.yml")) as f:
        text = f.read()
    text = subst(text, r"^(\s*scrape_interval:) \S+", r"\1 " + interval)
    text = subst(text, r"^(\s*evaluation_interval:) \S+",
                 r"\1 " + interval)
    text = subst(text, r"^(\s*scrape_timeout:) \S+", r"\1 " + interval)
    text = subst(text, r"^(\s*- )msgd-rules\.yml$", r"\g<1>" + rules)
    text = subst(text, r"^(\s*- targets:\n)(\s*- \S+\n)+",
                 lambda m: m.group(1) + "".join(
                     "          - %s\n" % t for t in targets))
    return text


class Daemon:
    """A program in the foreground, its output in a log file."""

    def __init__(self, argv, log_path):
        self.log_path = log_path
        log = open(log_path, "ab")
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        finally:
            log.close()

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class HAProxy(Daemon):
    def __init__(self, d, text):
        self.conf = os.path.join(d, "haproxy.cfg")
        m = re.search(r"stats socket (\S+)", text)
        self.sock = m.group(1) if m else None
        with open(self.conf, "w") as f:
            f.write(text)
        Daemon.__init__(self, [HAPROXY, "-db", "-f", self.conf],
                        os.path.join(d, "haproxy.log"))

    def command(self, cmd, timeout=2.0):
        """A command on the stats socket; its answer ("" if unreachable)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.sock)
            s.sendall(cmd.encode() + b"\n")
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
            return out.decode(errors="replace")
        except OSError:
            return ""
        finally:
            s.close()

    def state(self, backend="msgd"):
        """{server name: srv_op_state} (0 down, 2 up) from `show servers
        state`; {} while the socket does not answer."""
        out = {}
        for line in self.command("show servers state %s" % backend
                                 ).splitlines():
            f = line.split()
            if len(f) > 5 and f[1] == backend:
                out[f[3]] = int(f[5])
        return out

    def sessions(self, backend="msgd"):
        """{(client host, port): server name} of the open sessions."""
        out = {}
        for line in self.command("show sess").splitlines():
            m = re.search(r"src=(\S+):(\d+) .*be=%s srv=(\S+)" % backend,
                          line)
            if m:
                out[(m.group(1), int(m.group(2)))] = m.group(3)
        return out


def ping_from(addr, src):
    """PONG for a PING sent from src to addr?"""
    try:
        s = connect_from(addr, src, timeout=3)
    except OSError:
        return False
    try:
        s.sendall(encode(Op.PING, request_id=9))
        f = read_frame(s, timeout=3)
        return f.status == St.OK and f.value == b"PONG"
    except (OSError, EOFError, TimeoutError, ValueError):
        return False
    finally:
        s.close()


class Prometheus(Daemon):
    def __init__(self, d, text, port):
        self.conf = os.path.join(d, "prometheus.yml")
        with open(self.conf, "w") as f:
            f.write(text)
        self.url = "http://127.0.0.1:%d" % port
        Daemon.__init__(self, [
            PROMETHEUS, "--config.file=" + self.conf,
            "--storage.tsdb.path=" + os.path.join(d, "tsdb"),
            "--web.listen-address=127.0.0.1:%d" % port,
            "--log.level=warn"], os.path.join(d, "prometheus.log"))

    def get(self, path, timeout=3.0):
        """The JSON of an API path, or None."""
        try:
            with urllib.request.urlopen(self.url + path,
                                        timeout=timeout) as r:
                return json.loads(r.read().decode())
        except (OSError, ValueError):
            return None

    def ready(self, timeout=20.0):
        def up():
            try:
                with urllib.request.urlopen(self.url + "/-/ready",
                                            timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False
        return poll(up, timeout=timeout, step=0.1)

    def query(self, q):
        """An instant query's result list, or None."""
        d = self.get("/api/v1/query?" + urllib.parse.urlencode({"query": q}))
        if not d or d.get("status") != "success":
            return None
        return d["data"]["result"]

    def scalar(self, q):
        """An instant query's single value as a float, or None."""
        r = self.query(q)
        if not r or len(r) != 1:
            return None
        return float(r[0]["value"][1])

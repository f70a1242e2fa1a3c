"""benchlib: what bench/compare, bench/profile and bench/fileops share.

Finding the build, installing missing tools, starting and stopping the
servers under test (msgd, echo_floor, redis-server) on loopback, reading
their processes' CPU time and memory from /proc, and the file-operation
loads (a directory of many files, LIST or large PUTs on one connection
while another PINGs).  Python 3 standard library only.
"""

import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

SRCDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
BIG_FILE = 64 << 20     # the large PUT next to PINGs; files.max_size
IS_ROOT = os.geteuid() == 0

# The Debian package that provides each tool the suite may need.
PACKAGES = {
    "redis-server": "redis-server",
    "valgrind": "valgrind",
    "callgrind_annotate": "valgrind",
    "strace": "strace",
}


def say(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def die(msg, code=1):
    say(msg)
    sys.exit(code)


def find_builddir(arg=None, need=("src/msgd", "src/msgctl",
                                  "bench/echo_floor")):
    """The build tree holding the programs need (by default src/msgd,
    src/msgctl and bench/echo_floor)."""
    cands = []
    if arg:
        cands.append(arg)
    if os.environ.get("MSGD_BUILDDIR"):
        cands.append(os.environ["MSGD_BUILDDIR"])
    cands += [os.getcwd(), os.path.join(SRCDIR, "build"), SRCDIR]
    for d in cands:
        if all(os.access(os.path.join(d, p), os.X_OK) for p in need):
            return os.path.abspath(d)
    die("no build tree with %s (tried %s); run 'make bench' in the build "
        "directory, or pass --builddir" % (", ".join(need),
                                             ", ".join(cands)), 2)


def ensure_tools(tools):
    """Install the Debian packages for the missing tools (as root); else
    print the command and return False."""
    missing = sorted({PACKAGES[t] for t in tools if shutil.which(t) is None})
    if not missing:
        return True
    cmd = ["apt-get", "install", "-y", "-q"] + missing
    if not IS_ROOT:
        say("missing: %s; install with: sudo %s" % (
            " ".join(missing), " ".join(cmd)))
        return False
    say("installing %s" % " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    out = subprocess.run(["apt-get", "install", "-y", "-q"] + missing,
                         env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    if out.returncode != 0:
        # The package lists may be missing or stale: refresh once.
        subprocess.run(["apt-get", "update", "-q"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    if out.returncode != 0 or any(shutil.which(t) is None for t in tools):
        say("apt-get install %s failed:\n%s" % (
            " ".join(missing), out.stdout.decode(errors="replace")[-2000:]))
        return False
    return True


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def raise_nofile(n):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < n:
        want = n if hard == resource.RLIM_INFINITY else min(n, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ----------------------------------------------------------------- /proc

def _stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    # comm may hold spaces and parentheses: split after the last ')'.
    return s[s.rindex(")") + 2:].split()


def descendants(pid):
    """pid and all its descendants, found through the parent links."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid = int(_stat_fields(int(d))[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def cpu_seconds(pids):
    """utime + stime of the processes (all their threads), in seconds."""
    ticks = 0
    for p in pids:
        try:
            f = _stat_fields(p)
        except OSError:
            continue
        ticks += int(f[11]) + int(f[12])   # fields 14 and 15 of stat
    return ticks / CLK_TCK


def machine_busy_seconds():
    """CPU time the whole machine spent busy (all CPUs), steal included."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is in user)
    return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
            ) / CLK_TCK


def proc_net_counters(text, prefix, keys):
    """keys' values from a /proc/net/snmp or /proc/net/netstat text: the
    first two lines starting with prefix are the names and the values.
    Those not there (or not numbers) are left out."""
    lines = [ln.split() for ln in text.splitlines()
             if ln.startswith(prefix)]
    if len(lines) < 2:
        return {}
    row = dict(zip(lines[0][1:], lines[1][1:]))
    return {k: int(row[k]) for k in keys
            if k in row and row[k].lstrip("-").isdigit()}


def tcp_counters():
    """The kernel's TCP segments received and its fast-path hits (data
    segments that took tcp_rcv_established's header prediction), for the
    whole network namespace: {} where /proc/net does not say."""
    out = {}
    for path, prefix, keys in (("/proc/net/snmp", "Tcp:", ("InSegs",)),
                               ("/proc/net/netstat", "TcpExt:",
                                ("TCPHPHits",))):
        try:
            with open(path) as f:
                out.update(proc_net_counters(f.read(), prefix, keys))
        except OSError:
            continue
    return out


def children_cpu_seconds():
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def minor_faults(pids):
    """Minor page faults of the processes (memory first touched)."""
    n = 0
    for p in pids:
        try:
            n += int(_stat_fields(p)[7])    # field 10 of stat
        except OSError:
            continue
    return n


def rss_kib(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def machine_info():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d CPUs, Linux %s" % (model, os.cpu_count() or 0,
                                     os.uname().release)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def git_commit():
    try:
        out = subprocess.run(["git", "-C", SRCDIR, "describe", "--always",
                              "--dirty"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=10)
        return out.stdout.decode().strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def is_sanitized(path):
    """A sanitizer build: its instruction counts mean nothing here."""
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


# ----------------------------------------------------------------- servers

class Server:
    """One server under test, on a free loopback port and a unix socket.

    kind: "msgd", "echo_floor" or "redis".  prefix: a command to run it
    under (valgrind); the server's pids then include the tool's.  tls:
    certificates from tests/integration/tlscerts.py (msgd, redis): the
    server also listens with TLS on tls_port.  msgctl: the msgctl to
    drive it with (default the build's).
    """

    def __init__(self, kind, build, workers=2, tmp=None, prefix=None,
                 files_dir=None, tls=None, msgctl=None):
        self.kind = kind
        self.tls = tls
        self.msgctl_path = msgctl or os.path.join(build, "src/msgctl")
        self.files_dir = files_dir      # msgd: files enabled there
        self.build = build
        self.workers = workers
        self.prefix = prefix or []
        self.own_tmp = tmp is None
        self.tmp = tmp or tempfile.mkdtemp(prefix="msgd-bench-")
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.tag = "%s-w%d%s%s" % (kind, workers, "-files" if files_dir
                                    else "", "-tls" if tls else "")
        self.sock = os.path.join(self.tmp, self.tag + ".sock")
        self.proc = None
        self.log = None
        self.name = {"msgd": "msgd", "echo_floor": "echo_floor",
                     "redis": "redis"}[kind]

    @property
    def tcp(self):
        return "127.0.0.1:%d" % self.port

    def proto_args(self):
        return {"msgd": [], "echo_floor": ["--raw"],
                "redis": ["--resp"]}[self.kind]

    def _msgd_conf(self):
        path = os.path.join(self.tmp, self.tag + ".conf")
        tls = ', "tls:127.0.0.1:%d"' % self.tls_port if self.tls else ""
        with open(path, "w") as f:
            f.write('# written by bench/benchlib.py\n'
                    'listen = [ "%s", "unix:%s"%s ];\n'
                    'workers = %d;\n'
                    'max_connections = 20000;\n'
                    'idle_timeout = 0;\n'
                    'stats_file = "%s";\n'
                    'pidfile = "%s";\n'
                    'allow_root = %s;\n'
                    'log = { level = "warning"; };\n' % (
                        self.tcp, self.sock, tls, self.workers,
                        os.path.join(self.tmp, self.tag + ".stats"),
                        os.path.join(self.tmp, self.tag + ".pid"),
                        "true" if IS_ROOT else "false"))
            if self.files_dir:
                f.write('max_body = %d;\n'
                        'files = { enabled = true; dir = "%s"; '
                        'max_size = %d; max_count = 10000000; };\n' % (
                            BIG_FILE + 4096, self.files_dir, BIG_FILE))
            if self.tls:
                f.write('tls = { cert = "%s"; key = "%s"; };\n' % (
                    self.tls.server, self.tls.server_key))
        return path

    def argv(self):
        if self.kind == "msgd":
            return [os.path.join(self.build, "src/msgd"), "-f", "-c",
                    self._msgd_conf()]
        if self.kind == "echo_floor":
            return [os.path.join(self.build, "bench/echo_floor"), "-w",
                    str(self.workers), self.tcp, "unix:" + self.sock]
        tls = []
        if self.tls:
            tls = ["--tls-port", str(self.tls_port), "--tls-cert-file",
                   self.tls.server, "--tls-key-file", self.tls.server_key,
                   "--tls-ca-cert-file", self.tls.ca,
                   "--tls-auth-clients", "no"]
        return ["redis-server", "--save", "", "--appendonly", "no",
                "--port", str(self.port), "--bind", "127.0.0.1",
                "--unixsocket", self.sock, "--unixsocketperm", "700",
                "--maxclients", "10200", "--dir", self.tmp,
                "--logfile", ""] + tls

    def start(self, timeout=60):
        self.log = open(os.path.join(self.tmp, self.tag + ".log"), "ab")
        env = None
        if self.prefix:
            # valgrind's own system calls would trip the worker's seccomp
            # filter (msgd(8), ENVIRONMENT).
            env = dict(os.environ, MSGD_SECCOMP="off")
        self.proc = subprocess.Popen(self.prefix + self.argv(), env=env,
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log,
                                     start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            if self.probe():
                return self
            time.sleep(0.2)
        self.stop()
        with open(os.path.join(self.tmp, self.tag + ".log"), "rb") as f:
            tail = f.read()[-1500:].decode(errors="replace")
        die("%s did not start:\n%s" % (self.tag, tail))

    def msgctl(self, args, unix=False, timeout_s=10, tls=False):
        """msgctl bench with args, over the unix socket, TCP or (tls)
        TLS, verifying the server against the test CA."""
        if unix:
            addr = ["-U", self.sock]
        elif tls:
            addr = ["-H", "127.0.0.1:%d" % self.tls_port, "--tls",
                    "--cacert", self.tls.ca]
        else:
            addr = ["-H", self.tcp]
        return [self.msgctl_path] + addr + [
            "-T", str(timeout_s), "bench"] + self.proto_args() + args

    def probe(self, tls=False):
        """One verified request: the server is up and answering."""
        r = subprocess.run(self.msgctl(["-n", "1", "-c", "1"],
                                       timeout_s=30, tls=tls),
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        return r.returncode == 0

    def pids(self):
        if self.proc is None or self.proc.poll() is not None:
            return []
        return descendants(self.proc.pid)

    def worker_pids(self):
        """The processes that serve connections (not a master)."""
        pids = self.pids()
        if self.kind == "redis" or not pids:
            return pids[:1]
        return [p for p in pids if p != self.proc.pid]

    def stop(self, timeout=30):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                say("%s: no exit %ds after SIGTERM; killing its process "
                    "group" % (self.tag, timeout))
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait()
            except OSError:
                pass
        if self.log is not None:
            self.log.close()
            self.log = None

    def cleanup(self):
        self.stop()
        if self.own_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


# ------------------------------------------------- one request, in Python

def one_request(kind, size):
    """An ECHO request of size bytes and the exact answer, for kind."""
    val = (b"abcdefghijklmnopqrstuvwxyz" * (size // 26 + 1))[:size]
    if kind == "msgd":
        req = struct.pack(">BBBBBBHII", 0x4D, 0x47, 1, 0, 2, 0, 0, 1,
                          size) + val
        ans = struct.pack(">BBBBBBHII", 0x4D, 0x47, 1, 1, 2, 0, 0, 1,
                          size) + val
        return req, ans
    if kind == "echo_floor":
        return val, val
    req = b"*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\n" % (size, val)
    return req, b"$%d\r\n%s\r\n" % (size, val)


def recv_exact(s, n):
    got = b""
    while len(got) < n:
        b = s.recv(n - len(got))
        if not b:
            raise OSError("connection closed after %d of %d bytes" % (
                len(got), n))
        got += b
    return got


# ------------------------------------------------------- file operations

HDR = ">BBBBBBHII"
OP_PING, OP_PUT, OP_LIST = 0x01, 0x10, 0x12
FILE_LOADS = ("idle", "list", "put64")


def request(s, op, key=b"", val=b"", rid=1):
    """One msgd request, one answer; its status.  The value is sent as it
    is: copying 64 MiB in Python holds the interpreter lock, which would
    stall a pacing thread and be measured as the server's delay."""
    s.sendall(struct.pack(HDR, 0x4D, 0x47, 1, 0, op, 0, len(key), rid,
                          len(key) + len(val)) + key)
    if val:
        s.sendall(val)
    h = recv_exact(s, 16)
    f = struct.unpack(HDR, h)
    recv_exact(s, f[8])
    return f[5]


def connect_unix(srv):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(srv.sock)
    return s


def fill_dir(d, n):
    """Make d hold n (empty) files, creating only the missing ones."""
    have = len(os.listdir(d))
    for i in range(have, n):
        fd = os.open(os.path.join(d, "f%07d" % i), os.O_WRONLY | os.O_CREAT,
                     0o644)
        os.close(fd)


def file_background(srv, kind, stop, counts):
    """LIST the directory ("list") or PUT BIG_FILE-byte files ("put64")
    on one connection, in a loop until stop is set."""
    s = connect_unix(srv)
    big = b"x" * BIG_FILE
    n = 0
    while not stop.is_set():
        if kind == "list":
            st = request(s, OP_LIST, rid=n + 1)
        else:
            st = request(s, OP_PUT, b"big", big, rid=n + 1)
        if st != 0:
            counts["errors"] = counts.get("errors", 0) + 1
        n += 1
    counts["ops"] = n
    s.close()


def pings_next_to(srv, kind, seconds, also=None):
    """PING latency on one connection while kind (FILE_LOADS) runs on
    another of the same msgd (files enabled): msgctl bench -c 1 -P 1 for
    seconds (its --json result, the key "background" added: the
    operations done and failed meanwhile), then also() while the load
    still runs; returns (result, what also returned)."""
    import threading
    stop, counts, th = threading.Event(), {}, None
    if kind != "idle":
        th = threading.Thread(target=file_background,
                              args=(srv, kind, stop, counts))
        th.start()
        time.sleep(0.3)     # the background load is under way
    try:
        r = subprocess.run(srv.msgctl(["--op", "PING", "-c", "1", "-P", "1",
                                       "-d", str(seconds), "--json"],
                                      unix=True, timeout_s=120),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=seconds + 180)
        extra = also() if also is not None else None
    finally:
        stop.set()
        if th is not None:
            th.join()
    if r.returncode != 0:
        die("msgctl bench: %s" % r.stderr.decode(errors="replace"))
    res = json.loads(r.stdout)
    res["background"] = {"ops": counts.get("ops", 0),
                         "errors": counts.get("errors", 0)}
    return res, extra


# ------------------------------------------ load runs and their summary

def run_load(srv, size, conns, pipeline, unix, secs, threads, extra=()):
    """One bounded msgctl bench run (extra: more of its arguments); its
    JSON plus the server's CPU.  srv: a Server, or anything with its
    pids(), worker_pids(), msgctl() and tag."""
    args = ["-d", str(secs), "-c", str(conns), "-P", str(pipeline),
            "-s", str(size), "-t", str(min(threads, conns)), "--json"
            ] + list(extra)
    pids, workers = srv.pids(), srv.worker_pids()
    cpu0, flt0 = cpu_seconds(pids), minor_faults(pids)
    wcpu0 = [cpu_seconds([p]) for p in workers]
    busy0, client0 = machine_busy_seconds(), children_cpu_seconds()
    tcp0 = tcp_counters()
    t0 = time.monotonic()
    r = subprocess.run(srv.msgctl(args, unix=unix), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=secs + 120)
    wall = time.monotonic() - t0
    cpu1, flt1 = cpu_seconds(pids), minor_faults(pids)
    wcpu = [cpu_seconds([p]) - c for p, c in zip(workers, wcpu0)]
    busy1, client1 = machine_busy_seconds(), children_cpu_seconds()
    tcp1 = tcp_counters()
    out = r.stdout.decode(errors="replace").strip()
    try:
        res = json.loads(out.splitlines()[-1])
    except (ValueError, IndexError):
        res = {"requests": 0, "errors": -1}
    res["exit"] = r.returncode
    res["stderr"] = r.stderr.decode(errors="replace").strip()[-500:]
    res["cpu_s"] = cpu1 - cpu0
    res["minflt"] = flt1 - flt0
    res["worker_cpu_s"] = wcpu
    res["client_cpu_s"] = client1 - client0
    # CPUs kept busy by everything else on the machine meanwhile: noise.
    res["other_cpus"] = max(0.0, (busy1 - busy0) - res["cpu_s"] -
                            res["client_cpu_s"]) / wall
    # Both ends' segments (the server's and the client's sockets), and
    # how many took the kernel's fast path: bench/README.md, "fast path".
    # Not over a unix socket: what TCP did meanwhile was somebody else's.
    if not unix:
        res["tcp"] = {k: tcp1[k] - tcp0[k] for k in tcp1 if k in tcp0}
    if r.returncode != 0:
        say("%s: msgctl bench exit %d: %s" % (srv.tag, r.returncode,
                                                 res["stderr"]))
    return res


def top_share(r):
    """The busiest worker's share of the workers' CPU time, in %."""
    w = r.get("worker_cpu_s") or []
    if len(w) < 2 or sum(w) <= 0:
        return None
    return 100.0 * max(w) / sum(w)


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_n(x, digits=0):
    if x != x:  # nan
        return "-"
    if digits == 0:
        return "{:,.0f}".format(x)
    return "{:,.{}f}".format(x, digits)


def run_ok(r):
    """A load run that exited 0 with answers to count."""
    return r.get("exit") == 0 and r.get("requests", 0) > 0


def fast_path_share(runs):
    """The median, over runs, of the data segments that took the kernel's
    fast path per TCP segment received (%); None when /proc/net did not
    say or the runs were not over TCP."""
    v = [100.0 * r["tcp"]["TCPHPHits"] / r["tcp"]["InSegs"]
         for r in runs if r.get("tcp", {}).get("InSegs")
         and "TCPHPHits" in r["tcp"]]
    return med(v) if v else None


def summarize(runs):
    """Medians and spread over the repetitions of one row and server."""
    ok = [r for r in runs if run_ok(r)]
    if not ok:
        return None
    rps = [r["requests_per_s"] for r in ok]
    cpu = [r["cpu_s"] * 1e6 / r["requests"] for r in ok]
    lat = {p: med([r["latency_us"][p] for r in ok])
           for p in ("p50", "p99", "p99.9")}
    return {"rps": med(rps), "min": min(rps), "max": max(rps),
            "mbps": med([r["mb_per_s"] for r in ok]), "lat": lat,
            "cpu": med(cpu), "n": len(ok), "failed": len(runs) - len(ok),
            "client": med([r["client_cpu_s"] * 1e6 / r["requests"]
                           for r in ok]),
            "faults": med([r["minflt"] / float(r["requests"]) for r in ok]),
            "top": [top_share(r) for r in ok],
            "fast": fast_path_share(ok),
            "other": max(r["other_cpus"] for r in ok)}


def md_table(head, right, rows):
    """A markdown table with padded columns, as README's; right: the
    columns aligned right."""
    cells = [head] + rows
    width = [max(len(r[i]) for r in cells) for i in range(len(head))]

    def line(r):
        return "| " + " | ".join(
            c.rjust(width[i]) if i in right else c.ljust(width[i])
            for i, c in enumerate(r)) + " |\n"
    sep = "|" + "|".join(("-" * (width[i] + 1) + ":") if i in right else
                         "-" * (width[i] + 2)
                         for i in range(len(head))) + "|\n"
    return line(head) + sep + "".join(line(r) for r in rows)

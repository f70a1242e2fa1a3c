"""harness.py: shared helpers for the msgd integration tests (stdlib only).

- Protocol v1 constants (Op, St, F_RESPONSE) and a frame codec: encode() builds
  a request with any field forced (bad magic, version, flags, status, key_len,
  body_len); Frame/decode() read a response; recv_exact(), read_frame() and
  wait_closed() do bounded socket reads.
- Client: one protocol connection (unix path, or (host, port) for TCP/IPv6).
- Server: writes a config into a fresh temp dir, starts `msgd -f -c`, waits
  until it answers PING (bounded), retries up to 3 times when a TCP port turned
  out to be taken, lists its workers through /proc, stops it (signal, bounded
  wait, SIGKILL), keeps its stderr log, removes the temp dir.
- poll(): the one way to wait for a condition (bounded, returns the last
  value); wait_children() polls a process's live children.  run() runs a
  program to completion, ctl() runs msgctl against a server.
- Suite: check()/case()/run() bookkeeping: prints "name: N passed, M failed",
  dumps the server logs of a failing case, exits 0, 1, or 77 (skip).

Environment: MSGD_BUILDDIR (default <srcdir>/build), MSGD_SRCDIR (default the
checkout holding this file).
"""
import atexit
import ctypes
import errno
import os
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

SRCDIR = os.environ.get("MSGD_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILDDIR = os.environ.get("MSGD_BUILDDIR") or os.path.join(SRCDIR, "build")
MSGD = os.path.join(BUILDDIR, "src", "msgd")
MSGCTL = os.path.join(BUILDDIR, "src", "msgctl")
# The shipped configuration (generated into the build tree when it has
# build-time paths, else the source file).
SHIPPED_CONF = next((p for p in (os.path.join(BUILDDIR, "etc", "msgd.conf"),
                                 os.path.join(SRCDIR, "etc", "msgd.conf"))
                     if os.path.exists(p)),
                    os.path.join(SRCDIR, "etc", "msgd.conf"))

SKIP = 77

# ------------------------------------------------------------------ protocol

MAGIC = b"MG"
VERSION = 1
F_RESPONSE = 0x01
F_RESERVED = 0xFE
HDR = struct.Struct(">2sBBBBHII")
HDR_LEN = HDR.size  # 16
U32_MAX = 0xFFFFFFFF


class Op:
    NONE = 0x00
    PING = 0x01
    ECHO = 0x02
    UPPER = 0x03
    TIME = 0x04
    STATS = 0x05
    AUTH = 0x06
    PUT = 0x10
    GET = 0x11
    LIST = 0x12
    DEL = 0x13
    EXEC = 0x20
    CORE = (PING, ECHO, UPPER, TIME)
    # Every opcode protocol v1 defines; any other must be UNKNOWN_OP.
    DEFINED = (PING, ECHO, UPPER, TIME, STATS, AUTH, PUT, GET, LIST, DEL,
               EXEC)


class St:
    OK = 0
    BAD_REQUEST = 1
    UNKNOWN_OP = 2
    TOO_LARGE = 3
    NOT_FOUND = 4
    DENIED = 5
    BUSY = 6
    TIMEOUT = 7
    INTERNAL = 8
    BAD_VERSION = 9

    @classmethod
    def name(cls, code):
        for k, v in vars(cls).items():
            if k.isupper() and v == code:
                return k
        return "status %d" % code


TIME_RE = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def encode(opcode, value=b"", key=b"", request_id=0, *, magic=MAGIC,
           version=VERSION, flags=0, status=0, key_len=None, body_len=None,
           body=None):
    """One request frame.  Every header field can be forced; body, when
    given, replaces key + value (so body_len/key_len may lie about it)."""
    if isinstance(value, str):
        value = value.encode()
    if isinstance(key, str):
        key = key.encode()
    if body is None:
        body = key + value
    if key_len is None:
        key_len = len(key)
    if body_len is None:
        body_len = len(body)
    return HDR.pack(magic, version, flags, opcode, status, key_len,
                    request_id, body_len) + body


class Frame:
    """A decoded frame (normally a response)."""
    __slots__ = ("magic", "version", "flags", "opcode", "status", "key_len",
                 "request_id", "body_len", "key", "value")

    def __init__(self, header, body=b""):
        (self.magic, self.version, self.flags, self.opcode, self.status,
         self.key_len, self.request_id, self.body_len) = HDR.unpack(header)
        self.key = body[:self.key_len]
        self.value = body[self.key_len:]

    def __repr__(self):
        v = self.value if len(self.value) <= 48 else \
            self.value[:48] + b"...(%d bytes)" % len(self.value)
        return ("Frame(magic=%r v=%d flags=0x%02x op=0x%02x status=%s "
                "key_len=%d id=%d body_len=%d key=%r value=%r)" % (
                    self.magic, self.version, self.flags, self.opcode,
                    St.name(self.status), self.key_len, self.request_id,
                    self.body_len, self.key[:32], v))


def recv_exact(sock, n, timeout=5.0):
    """Read exactly n bytes within timeout seconds.  Raises EOFError (with
    what arrived) on a close and TimeoutError when time runs out."""
    deadline = time.monotonic() + timeout
    chunks = []
    got = 0
    while got < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("got %d of %d bytes in %.1f s" % (
                got, n, timeout))
        sock.settimeout(left)
        try:
            b = sock.recv(min(n - got, 1 << 20))
        except socket.timeout:
            continue
        if not b:
            raise EOFError("connection closed after %d of %d bytes: %r" % (
                got, n, b"".join(chunks)[:64]))
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def read_frame(sock, timeout=5.0, max_body=256 << 20):
    """Read one whole frame (header + body) within timeout."""
    deadline = time.monotonic() + timeout
    hdr = recv_exact(sock, HDR_LEN, timeout)
    blen = HDR.unpack(hdr)[7]
    if blen > max_body:
        raise ValueError("response body_len %d is absurd: %r" % (blen, hdr))
    body = recv_exact(sock, blen, max(0.001, deadline - time.monotonic()))
    return Frame(hdr, body)


def wait_closed(sock, timeout=5.0, limit=1 << 20):
    """Read until the peer closes.  Returns (how, data, seconds) where how is
    "eof", "reset" or "timeout" and data is what arrived meanwhile."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    data = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "timeout", bytes(data), time.monotonic() - t0
        sock.settimeout(left)
        try:
            b = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return "reset", bytes(data), time.monotonic() - t0
        if not b:
            return "eof", bytes(data), time.monotonic() - t0
        if len(data) < limit:
            data += b


def parse_frames(data):
    """Split bytes into whole frames; returns (frames, leftover bytes)."""
    frames = []
    off = 0
    while len(data) - off >= HDR_LEN:
        blen = HDR.unpack_from(data, off)[7]
        if len(data) - off < HDR_LEN + blen:
            break
        frames.append(Frame(data[off:off + HDR_LEN],
                            data[off + HDR_LEN:off + HDR_LEN + blen]))
        off += HDR_LEN + blen
    return frames, data[off:]


def upper_bytes(b):
    """What UPPER must answer: a-z to A-Z, every other byte unchanged."""
    return bytes(c - 32 if 0x61 <= c <= 0x7A else c for c in b)


def response_problems(f, op, status=St.OK, rid=None, value=None, key=b""):
    """Everything wrong with response f, as a list of strings (empty: ok).
    value None: not compared; value True: any non-empty UTF-8 text."""
    p = []
    if f.magic != MAGIC or f.version != VERSION:
        p.append("magic/version %r/%d" % (f.magic, f.version))
    if f.flags != F_RESPONSE:
        p.append("flags 0x%02x, want RESPONSE only" % f.flags)
    if f.opcode != op:
        p.append("opcode 0x%02x, want 0x%02x" % (f.opcode, op))
    if f.status != status:
        p.append("status %s, want %s" % (St.name(f.status), St.name(status)))
    if rid is not None and f.request_id != rid:
        p.append("request_id %d, want %d" % (f.request_id, rid))
    if key is not None and f.key != key:
        p.append("key %r, want %r" % (f.key[:32], key[:32]))
    if value is True:
        try:
            ok = len(f.value) > 0 and f.value.decode("utf-8") is not None
        except UnicodeDecodeError:
            ok = False
        if not ok:
            p.append("value %r is not a non-empty UTF-8 message" %
                     f.value[:32])
    elif value is not None and f.value != value:
        p.append("value %r, want %r" % (f.value[:48], value[:48]))
    return p


# ------------------------------------------------------------------ client

class TLSAddr(tuple):
    """(host, port) of a "tls:" listener: connect() speaks TLS to it, with
    .ctx (an ssl.SSLContext) and .name (the server name to check)."""


def tls_client_context(ca, cert=None, key=None):
    """A client context trusting ca; a peer's FIN without close_notify is
    an end of file, as over TCP."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    ctx.options |= getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    return ctx


class MemTLS:
    """A TLS client driven by hand over a raw TCP socket (memory BIOs):
    after the handshake, a test writes what it likes to the socket itself
    (wrap() makes the records; raw junk, records cut anywhere, many records
    in one segment).  addr: (host, port); ctx: an ssl.SSLContext."""

    def __init__(self, addr, ctx, name="localhost", timeout=5.0):
        import ssl
        self.ssl = ssl
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname=name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.obj.do_handshake()
                self.sock.sendall(self.out.read())
                return
            except ssl.SSLWantReadError:
                self.sock.sendall(self.out.read())
                b = self.sock.recv(65536)
                if not b:
                    raise EOFError("closed in the handshake")
                self.inc.write(b)
        raise TimeoutError("handshake")

    def wrap(self, data):
        """data as TLS records (one per call, up to 16 KiB each), unsent."""
        self.obj.write(data)
        return self.out.read()

    def read_frames(self, n, timeout=5.0):
        """n response frames' bytes, in one string; raises on a timeout or
        a close before they are all there."""
        data, frames, off = b"", 0, 0
        deadline = time.monotonic() + timeout
        while frames < n:
            if time.monotonic() >= deadline:
                raise TimeoutError("%d of %d answers" % (frames, n))
            try:
                data += self.obj.read(65536)
            except self.ssl.SSLWantReadError:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    b = self.sock.recv(65536)
                except socket.timeout:
                    continue
                if not b:
                    raise EOFError("closed after %d answers" % frames)
                self.inc.write(b)
            while (len(data) - off >= 16 and len(data) - off >= 16 +
                   int.from_bytes(data[off + 12:off + 16], "big")):
                off += 16 + int.from_bytes(data[off + 12:off + 16], "big")
                frames += 1
        return data

    def request(self, op, value=b"", rid=1):
        self.sock.sendall(self.wrap(encode(op, value, request_id=rid)))
        return self.read_frames(1)


def connect(addr, timeout=5.0):
    """A connected socket: addr is a unix path, (host, port), or a TLSAddr
    (then an ssl.SSLSocket, its handshake done)."""
    if isinstance(addr, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(timeout)
    try:
        s.connect(tuple(addr) if isinstance(addr, TLSAddr) else addr)
        if isinstance(addr, TLSAddr):
            s = addr.ctx.wrap_socket(s, server_hostname=addr.name)
    except BaseException:
        s.close()
        raise
    return s


def connect_from(addr, src=None, timeout=5.0):
    """A TCP connection to addr (host, port) from the local address src
    (any port; None: the kernel's choice).  Loopback is all 127.0.0.0/8, so
    a test can be any number of clients there."""
    fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if src is not None:
            s.bind((src, 0))
        s.connect(addr)
    except BaseException:
        s.close()
        raise
    return s


def closed_unanswered(addr, data=b"", src=None, shut_wr=False, timeout=5.0):
    """Connect from src, send data (then SHUT_WR if shut_wr): (ok, detail)
    that the server closes the connection without a byte of answer."""
    try:
        s = connect_from(addr, src)
    except OSError as e:
        return False, "connect failed: %s" % e
    try:
        try:
            if data:
                s.sendall(data)
            if shut_wr:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        how, got, secs = wait_closed(s, timeout)
        return how in ("eof", "reset") and got == b"", \
            "%s after %.2f s, data %r" % (how, secs, got[:40])
    finally:
        s.close()


class Client:
    """One connection speaking the protocol; request ids count from 1."""

    def __init__(self, addr, timeout=5.0):
        self.addr = addr
        self.timeout = timeout
        self.sock = connect(addr, timeout)
        self.next_id = 1

    def new_id(self):
        rid = self.next_id
        self.next_id += 1
        return rid

    def send(self, data):
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def send_frame(self, opcode, value=b"", key=b"", request_id=None, **kw):
        """Send one request; returns its request id."""
        rid = self.new_id() if request_id is None else request_id
        self.send(encode(opcode, value, key, rid, **kw))
        return rid

    def recv_frame(self, timeout=None):
        return read_frame(self.sock, self.timeout if timeout is None
                          else timeout)

    def request(self, opcode, value=b"", key=b"", **kw):
        """Send one request and read one frame back."""
        self.send_frame(opcode, value, key, **kw)
        return self.recv_frame()

    def wait_closed(self, timeout=5.0):
        return wait_closed(self.sock, timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ------------------------------------------------------------------ processes

def proc_stat(pid):
    """(state, ppid, starttime) of pid from /proc, or None if gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(b")") + 2:].split()
    return rest[0].decode(), int(rest[1]), int(rest[19])


def is_closer(pid):
    """pid is a master's closer: a child that lives a moment to close what
    workers sent (msgd.8, Hand-over), never a worker.  By comm, which a
    zombie keeps."""
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip() == "msgd: closer"
    except OSError:
        return False


def children(ppid):
    """[(pid, state)] of the processes whose parent is ppid, but a
    master's closers (is_closer)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st is not None and st[1] == ppid and not is_closer(int(name)):
            out.append((int(name), st[0]))
    return sorted(out)


def is_exec_spawner(pid):
    """pid is a worker's EXEC spawner (forked before the worker's seccomp
    filter, see exec.c; the commands it starts are the worker's)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().startswith(b"msgd: exec spawner")
    except OSError:
        return False


def is_exporter(pid):
    """pid is the master's metrics exporter (metrics_listen), no worker."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().startswith(b"msgd: metrics")
    except OSError:
        return False


def command_children(worker):
    """[(pid, state)] of a worker's children but its EXEC spawner: the
    commands it runs."""
    return [(p, s) for p, s in children(worker) if not is_exec_spawner(p)]


def live_children(srv):
    """The master's children that are not zombies, sorted."""
    return sorted(p for p, s in children(srv.pid) if s != "Z")


def cmdline_procs(marker):
    """Live (non-zombie) processes whose argv contains marker."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        st = proc_stat(int(name))
        if marker.encode() in argv and st is not None and st[0] != "Z":
            out.append(int(name))
    return out


def poll(fn, timeout=5.0, step=0.02, until=None):
    """Call fn every step seconds until its value is true (or, given until,
    until(value) is), for at most timeout seconds; returns the last value,
    so a caller that timed out can show what it saw.  The one way the tests
    wait for a condition."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if (v if until is None else until(v)) or \
                time.monotonic() >= deadline:
            return v
        time.sleep(step)


def wait_children(pid, n, timeout=5.0, at_least=False, kids=children):
    """Poll until pid has exactly n live (non-zombie) children, or with
    at_least n or more; returns the last sorted list of their pids.  kids
    lists them (command_children: a worker's commands)."""
    return poll(lambda: [p for p, s in kids(pid) if s != "Z"],
                timeout=timeout,
                until=lambda live: len(live) >= n if at_least
                else len(live) == n)


def start_with_nofile(srv, n):
    """Start srv (made with start=False) under a limit of n open files:
    msgd inherits it, and the master reads it at start."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (n, old[1]))
    try:
        srv.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, old)


def fd_links(pid):
    """{fd: what it points to} of process pid (/proc/PID/fd)."""
    out = {}
    d = "/proc/%d/fd" % pid
    for name in os.listdir(d):
        try:
            out[int(name)] = os.readlink(os.path.join(d, name))
        except OSError:
            pass
    return out


SYS_PIDFD_GETFD = 438  # the same number on every architecture


def steal_fd(pid, fd):
    """A copy of process pid's descriptor fd in this process
    (pidfd_getfd), or -errno when the kernel refuses (< 5.6, ptrace
    rules, the process gone)."""
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        pidfd = os.pidfd_open(pid)
    except AttributeError:
        return -errno.ENOSYS
    except OSError as e:
        return -e.errno
    try:
        n = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        return n if n >= 0 else -ctypes.get_errno()
    finally:
        os.close(pidfd)


def sleeping_in(pid, tid):
    """The system call thread tid of pid sleeps in, None if it is not
    asleep in one, -1 if it is gone."""
    base = "/proc/%d/task/%d/" % (pid, tid)
    try:
        with open(base + "stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open(base + "syscall") as f:
            first = f.read().split()[0]
    except (OSError, IndexError):
        return -1
    if state != "S" or not first.isdigit():
        return None
    return int(first)


def _sleep_wait(pid, tid, done, deadline):
    """sleeping_in(pid, tid) once done() accepts it, or the last seen at
    the deadline (time.monotonic())."""
    nr = sleeping_in(pid, tid)
    while not done(nr) and time.monotonic() < deadline:
        time.sleep(0.002)
        nr = sleeping_in(pid, tid)
    return nr


class Strace:
    """strace -c on every thread of pid, counting calls by name; or, with
    trace (strace's -e trace=, such as "sendto,splice"), those calls as
    strace prints them, one a line (stop() then returns the lines)."""

    def __init__(self, pid, dir, trace=None):
        self.out = os.path.join(dir, "strace.%d.txt" % pid)
        self.pid = pid
        self.trace = trace
        tids = sorted(int(x) for x in os.listdir("/proc/%d/task" % pid))
        # Where each thread sleeps before the attach: stop() waits for it
        # to sleep there again, so the calls it made are all counted.  A
        # thread still running (a worker between its last send and its
        # wait) is waited for, bounded: 5 s for all.
        self.idle = {}
        deadline = time.monotonic() + 5
        for tid in tids:
            nr = _sleep_wait(pid, tid, lambda n: n is not None, deadline)
            if nr is not None and nr != -1:
                self.idle[tid] = nr
        args = ["strace", "-o", self.out] + (
            ["-e", "trace=" + trace] if trace else ["-c"])
        for tid in tids:
            args += ["-p", str(tid)]
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE)
        # Attached when it says so for every thread (bounded).
        seen, deadline = 0, time.monotonic() + 10
        while seen < len(tids) and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            if b"attached" in line:
                seen += 1
        if seen < len(tids):
            self.proc.kill()
            raise RuntimeError("strace attached to %d of %d threads" % (
                seen, len(tids)))

    def stop(self):
        """{syscall: calls} since the attach.  strace counts a call when
        it returns; a client can have the answer of the last send before
        that, so first each thread must be back asleep where it slept at
        the attach (bounded: a thread busy elsewhere is not waited for
        past 5 s)."""
        deadline = time.monotonic() + 5
        for tid, nr in self.idle.items():
            _sleep_wait(self.pid, tid, lambda n, nr=nr: n in (nr, -1),
                        deadline)
        self.proc.send_signal(2)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.trace:
            with open(self.out) as f:
                return f.read().splitlines()
        calls = {}
        with open(self.out) as f:
            for line in f:
                m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?"
                             r"(\w+)\s*$", line)
                if m and m.group(2) != "total":
                    calls[m.group(2)] = int(m.group(1))
        return calls


_sanitized = None


def sanitized():
    """Is msgd built with AddressSanitizer (./configure
    --enable-sanitizers)?  Its worker filter then also allows what the
    sanitizers' run-time needs (sandbox.c: clone and clone3, ptrace...)."""
    global _sanitized
    if _sanitized is None:
        with open(MSGD, "rb") as f:
            _sanitized = b"__asan_init" in f.read()
    return _sanitized


def threads_running(pid):
    """Does any thread of pid still run (is not a zombie)?"""
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return False
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid), "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):
            return True
    return False


def proc_status(pid, field):
    """A field of /proc/<pid>/status as a string, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def handles_sigterm(pid):
    """pid blocks or catches SIGTERM (a worker past its signal setup)."""
    bit = 1 << (signal.SIGTERM - 1)
    for field in ("SigBlk", "SigCgt"):
        v = proc_status(pid, field)
        if v is not None and int(v, 16) & bit:
            return True
    return False


def rss_kib(pid):
    """VmRSS of pid in KiB (None if gone)."""
    v = proc_status(pid, "VmRSS")
    return int(v.split()[0]) if v else None


def free_port(family=socket.AF_INET, host="127.0.0.1",
              kind=socket.SOCK_STREAM):
    """A port that was free a moment ago (bind to 0, read it, close)."""
    s = socket.socket(family, kind)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def free_ports(n, family=socket.AF_INET, host="127.0.0.1"):
    """n distinct TCP ports that were free a moment ago: all n bound at
    once, so that the kernel cannot hand out one of them twice (two calls
    of free_port can get the same port back)."""
    socks = []
    try:
        for i in range(n):
            s = socket.socket(family, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((host, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_udp_port(host="127.0.0.1"):
    """A UDP port on host that was free a moment ago."""
    return free_port(host=host, kind=socket.SOCK_DGRAM)


def unix_and(prefix, host="127.0.0.1", attr="port"):
    """A pick for Server: its unix socket first (msgctl and the harness
    use it), then the listener "PREFIXHOST:PORT" ("tls:", "proxy:", ...)
    on a port free at that attempt, in srv.<attr>.  Host 0.0.0.0: a port
    free on every address, as a wildcard bind collides with a listener
    on any of them."""
    def pick(srv):
        port = free_port(host=host)
        setattr(srv, attr, port)
        srv.settings["listen"] = ["unix:" + srv.sock_path,
                                  "%s%s:%d" % (prefix, host, port)]
    return pick


def udp_listener(host="127.0.0.1"):
    """A pick for Server: udp_listen on host, on a port free at that
    attempt, in .uport."""
    def pick(srv):
        srv.uport = free_udp_port(host=host)
        srv.settings["udp_listen"] = ["%s:%d" % (host, srv.uport)]
    return pick


def udp_exchange(s, addr, data, timeout=2.0):
    """Send one datagram on UDP socket s; returns the answer datagram, or
    None when none came within timeout."""
    s.sendto(data, addr)
    s.settimeout(timeout)
    try:
        return s.recv(65536)
    except socket.timeout:
        return None


def raises(t, exc, fn, what):
    """Check (in suite t) that fn() raises exc; returns the exception (or
    None)."""
    try:
        r = fn()
    except exc as e:
        return e
    except Exception as e:
        t.check(False, "%s: raised %s: %s, want %s" % (
            what, type(e).__name__, e, exc.__name__))
        return None
    t.check(False, "%s: returned %r, want %s raised" % (
        what, r, exc.__name__))
    return None


def ipv6_loopback_ok():
    if not socket.has_ipv6:
        return False
    try:
        free_port(socket.AF_INET6, "::1")
        return True
    except OSError:
        return False


def run(argv, timeout=10.0, stdin_data=None, cwd=None, preexec_fn=None,
        env=None, binary=False):
    """Run a program to completion; returns (rc, stdout, stderr, seconds),
    stdout as bytes with binary, else (like stderr) as text."""
    t0 = time.monotonic()
    p = subprocess.run(argv, input=stdin_data if stdin_data is not None
                       else b"", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, cwd=cwd,
                       preexec_fn=preexec_fn, env=env)
    return (p.returncode,
            p.stdout if binary else p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace"), time.monotonic() - t0)


def ctl(srv, *args, conf=None, unix=False, env=None, **kw):
    """Run msgctl ARGS to completion; returns run()'s (rc, stdout, stderr,
    seconds) and takes its keywords.  It reaches srv through -c CONF (srv's
    config file unless given) or, with unix, through -U its socket; srv
    None: ARGS say where.  env adds variables to the caller's environment
    without its MSGD_TOKEN, so a token in the shell cannot change a test."""
    where = [] if srv is None else ["-U", srv.sock_path] if unix else \
        ["-c", conf or srv.conf_path]
    e = dict(os.environ)
    e.pop("MSGD_TOKEN", None)
    e.update(env or {})
    return run([MSGCTL] + where + list(args), env=e, **kw)


SPOOL_LOCK = ".lock"     # the workers' lock file in files.dir (spool.h)


def spool_entries(d):
    """The names in files directory d but the workers' lock file."""
    return [n for n in os.listdir(d) if n != SPOOL_LOCK]


def nobody_cannot_use(*paths):
    """None if user nobody can run (X_OK) or read (R_OK) each of paths,
    given as (path, os.X_OK or os.R_OK); else why not.  A checkout in a
    0700 directory (root's home, mktemp -d) hides the build from nobody:
    the cases that run a program as nobody are skipped there, with this
    reason, rather than failing on EACCES."""
    import pwd
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        return "no user nobody"
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            code = 0 if all(os.access(f, m) for f, m in paths) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        return None
    return "user nobody cannot reach %s (a directory on the way is not " \
        "searchable by others)" % ", ".join(f for f, _ in paths)


def why_not_nobody():
    """None when msgd can run its workers as user nobody here (root, the
    user exists, nobody can reach the build); else why not, for a SKIP."""
    if os.geteuid() != 0:
        return "user = \"nobody\" needs root (euid %d)" % os.geteuid()
    return nobody_cannot_use((MSGD, os.X_OK))


def conf_value(v, indent="\t"):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[ " + ", ".join(conf_value(x) for x in v) + " ]"
    if isinstance(v, dict):
        return "{\n" + conf_text(v, indent + "\t") + indent[:-1] + "}"
    raise TypeError("cannot write %r as libconfig" % (v,))


def conf_text(settings, indent=""):
    """libconfig text for a dict of settings (nested dicts are groups)."""
    return "".join("%s%s = %s;\n" % (indent, k, conf_value(v, indent + "\t"))
                   for k, v in settings.items())


class StartError(Exception):
    pass


_supported = {}


def msgd_supports(setting, value):
    """Does the built msgd know this setting (`msgd -t` on a probe file does
    not call it unknown)?  For settings that would otherwise put state files
    outside the temp dir or refuse to run as root."""
    if setting not in _supported:
        d = tempfile.mkdtemp(prefix="msgd-probe-")
        try:
            path = os.path.join(d, "probe.conf")
            with open(path, "w") as f:
                f.write(conf_text({"listen": ["unix:" + os.path.join(d, "s")],
                                   setting: value}))
            p = subprocess.run([MSGD, "-t", "-c", path],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=10)
            err = p.stderr.decode(errors="replace")
            _supported[setting] = "%s: unknown setting" % setting not in err
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return _supported[setting]


def private_settings(d):
    """Settings that keep a server to itself: its state files inside d
    (parallel tests must not share a pidfile or stats segment), and leave
    to run as root when the tests do (root CI containers)."""
    s = {}
    for name, value in (("pidfile", os.path.join(d, "msgd.pid")),
                        ("stats_file", os.path.join(d, "stats"))):
        if msgd_supports(name, value):
            s[name] = value
    if os.geteuid() == 0 and msgd_supports("allow_root", True):
        s["allow_root"] = True
    return s


_certs = []  # the test certificates of this process, made once


def test_certs():
    """tlscerts.make()'s certificates, made on first use in a temp dir
    removed at exit."""
    if not _certs:
        import tlscerts
        d = tempfile.mkdtemp(prefix="msgd-certs-")
        atexit.register(shutil.rmtree, d, True)
        _certs.append(tlscerts.make(d))
    return _certs[0]


_live = []  # servers to stop if the test dies


@atexit.register
def _cleanup_all():
    for srv in list(_live):
        srv.close()


class Server:
    """A real msgd in a fresh temp dir.

    settings: dict of config settings merged over test defaults and the
    private settings (a value of None removes one); listen is built from
    unix/tcp/tcp6 unless given.  text: raw config text instead (exactly as
    written).
    """

    DEFAULTS = {"workers": 2, "idle_timeout": 60, "read_timeout": 10,
                "shutdown_timeout": 3}

    def __init__(self, settings=None, *, unix=True, tcp=False, tcp6=False,
                 tls=False, text=None, start=True, ready_timeout=10.0,
                 binary=None, pick=None):
        self.dir = tempfile.mkdtemp(prefix="msgd-test-")
        # binary: a callable given the temp dir, returning the msgd to run
        # (the upgrade tests run a copy they replace), else the build's.
        self.binary = binary(self.dir) if binary else MSGD
        self.sock_path = os.path.join(self.dir, "msgd.sock") if unix else None
        self.conf_path = os.path.join(self.dir, "msgd.conf")
        self.log_path = os.path.join(self.dir, "msgd.stderr")
        self.unix, self.tcp, self.tcp6 = unix, tcp, tcp6
        # tls: a "tls:" listener on 127.0.0.1 too, with test certificates
        # (tlscerts.py); transports() then runs a test over TLS as well.
        self.tls = tls
        self.port_tls = None
        self.text = text
        self.settings = dict(self.DEFAULTS)
        self.settings.update(settings or {})
        self.ready_timeout = ready_timeout
        # pick: called with the server before each start attempt, to
        # choose the ports of listeners the test writes into settings
        # itself; a port taken meanwhile then gets a new one, as the
        # harness's own do.
        self.pick = pick
        self.port = self.port6 = None
        self.proc = None
        self.cpus_at_start = None
        self.returncode = None
        self._log_cache = ""
        self._known_workers = {}  # pid -> starttime, to clean up orphans
        _live.append(self)
        if start:
            self.start()

    # -- addresses
    @property
    def addr(self):
        """The address tests use by default: the unix socket, else TCP,
        else TLS."""
        if self.sock_path:
            return self.sock_path
        if self.tcp:
            return ("127.0.0.1", self.port)
        if self.tls and not self.tcp6:
            return self.tls_client_addr
        return ("::1", self.port6)

    def transports(self):
        """[(address, name)] of every listener this server has."""
        out = []
        if self.sock_path:
            out.append((self.sock_path, "unix"))
        if self.tcp:
            out.append((self.tcp_addr, "tcp"))
        if self.tcp6:
            out.append((self.tcp6_addr, "ipv6"))
        if self.tls:
            out.append((self.tls_client_addr, "tls"))
        return out

    @property
    def tls_client_addr(self):
        a = TLSAddr(("127.0.0.1", self.port_tls))
        a.ctx = tls_client_context(test_certs().ca)
        a.name = "localhost"
        return a

    @property
    def tcp_addr(self):
        return ("127.0.0.1", self.port)

    @property
    def tcp6_addr(self):
        return ("::1", self.port6)

    @property
    def workers_wanted(self):
        """"auto": the CPUs msgd may use, its affinity when started."""
        w = self.settings.get("workers")
        if w in (None, "auto"):
            return self.cpus_at_start or len(os.sched_getaffinity(0))
        return w

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def client(self, timeout=5.0, addr=None):
        return Client(addr or self.addr, timeout)

    def write_conf(self):
        if self.text is not None:
            text = self.text
        else:
            listen = []
            if self.sock_path:
                listen.append("unix:" + self.sock_path)
            if self.tcp:
                listen.append("127.0.0.1:%d" % self.port)
            if self.tcp6:
                listen.append("[::1]:%d" % self.port6)
            if self.tls:
                listen.append("tls:127.0.0.1:%d" % self.port_tls)
            s = {"listen": listen}
            if self.tls:
                s["tls"] = {"cert": test_certs().server,
                            "key": test_certs().server_key}
            s.update(private_settings(self.dir))
            s.update(self.settings)  # may replace listen
            s.setdefault("log", {"level": "info", "target": "stderr"})
            text = conf_text({k: v for k, v in s.items() if v is not None})
        with open(self.conf_path, "w") as f:
            f.write(text)

    # -- life cycle
    def spawn(self, prefix=()):
        """Start msgd on the current config; no waiting.  prefix: a wrapper
        command (then .pid is the wrapper's)."""
        self.returncode = None
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                list(prefix) + [self.binary, "-f", "-c", self.conf_path],
                stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, cwd=self.dir)
        finally:
            log.close()
        return self.proc

    def start(self):
        """Write the config, start msgd, wait until PING is answered.
        A port taken meanwhile by someone else (a client's ephemeral port,
        another test's listener): new ports, up to 3 tries."""
        self.cpus_at_start = len(os.sched_getaffinity(0))
        for attempt in range(3):
            # The TCP and TLS listeners share 127.0.0.1: distinct ports
            # ("listed twice" refused a start once in CI).
            port, port_tls = free_ports(2)
            if self.tcp:
                self.port = port
            if self.tcp6:
                self.port6 = free_port(socket.AF_INET6, "::1")
            if self.tls:
                self.port_tls = port_tls
            if self.pick:
                self.pick(self)
            self.write_conf()
            log_before = len(self.log())
            self.spawn()
            try:
                self.wait_ready(self.ready_timeout)
                self.wait_workers_set_up()
                return self
            except StartError:
                fresh = self.log()[log_before:]
                ours = self.tcp or self.tcp6 or self.tls or self.pick
                retry = ours and "in use" in fresh and attempt < 2
                self.stop(signal.SIGKILL)
                if not retry:
                    raise StartError("msgd did not start:\n" + fresh)

    def ping_ok(self, addr=None, timeout=5.0):
        """PING answered PONG within timeout s.  Generous: one of these
        checks failed once in test_sandbox with its worker alive, on a
        machine running two test suites next to a busy CPU, when the
        bound was 1 s; a server that is gone refuses or closes at once,
        so only a hung one waits it out."""
        try:
            with Client(addr or self.addr, timeout) as c:
                f = c.request(Op.PING)
                return f.status == St.OK and f.value == b"PONG"
        except (OSError, EOFError, TimeoutError, ValueError):
            return False

    def wait_ready(self, timeout=10.0):
        def answers():
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                raise StartError("msgd exited with %d" % self.proc.returncode)
            return self.ping_ok()
        if not poll(answers, timeout=timeout):
            raise StartError("msgd did not answer PING within %.0f s" %
                             timeout)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def workers(self):
        """[(pid, state)] of the master's children right now, but its
        metrics exporter."""
        if not self.alive():
            return []
        return [(p, s) for p, s in children(self.proc.pid)
                if not is_exporter(p)]

    def exporter(self):
        """The pid of the master's live metrics exporter, or None."""
        if not self.alive():
            return None
        return next((p for p, s in children(self.proc.pid)
                     if s != "Z" and is_exporter(p)), None)

    def note_workers(self):
        for pid, _ in self.workers():
            st = proc_stat(pid)
            if st:
                self._known_workers[pid] = st[2]
        return sorted(self._known_workers)

    def all_serving(self, timeout=10.0):
        """Poll (bounded) for the master's "ready": every worker of the
        first generation answered its start-up probe, so each has finished
        setting itself up (privileges, sandbox).  start() returns as soon
        as one worker answers PING.  True once seen."""
        return bool(poll(lambda: "master: ready:" in self.log(),
                         timeout=timeout))

    def wait_workers(self, n=None, timeout=5.0):
        """Poll until exactly n live workers (default: configured); returns
        the last list seen."""
        n = self.workers_wanted if n is None else n
        ws = poll(self.workers, timeout=timeout, step=0.05,
                  until=lambda ws: len([p for p, s in ws if s != "Z"]) == n)
        self.note_workers()
        return ws

    def wait_workers_set_up(self, timeout=5.0):
        """Soft wait (bounded, never fails): all configured workers exist
        and have taken over SIGTERM, so a stop right after start finds them
        set up (the spawn window is tested on its own, test_shutdown)."""
        def set_up():
            live = [p for p, st in self.workers() if st != "Z"]
            return len(live) >= self.workers_wanted and \
                all(handles_sigterm(p) for p in live)
        poll(set_up, timeout=timeout, step=0.01)
        self.note_workers()

    def send_signal(self, sig):
        if self.alive():
            self.note_workers()
            self.proc.send_signal(sig)

    def wait(self, timeout=10.0):
        """Wait for the master to exit; returns its exit code or None."""
        if self.proc is None:
            return self.returncode
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signal the master, wait (bounded), SIGKILL if needed.  Returns
        the exit code (negative: killed by that signal)."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.send_signal(sig)
            if self.wait(timeout) is None:
                self.proc.kill()
                self.wait(5.0)
        self.returncode = self.proc.returncode
        return self.returncode

    def orphans(self):
        """Our former workers still running (the master is gone).  A
        worker whose first thread is a zombie still runs while another of
        its threads does (a file thread finishing an fsync after SIGKILL),
        and holds its descriptors, the listening sockets among them."""
        left = []
        for pid, start in self._known_workers.items():
            st = proc_stat(pid)
            if st is not None and st[2] == start and \
                    (st[0] != "Z" or threads_running(pid)):
                left.append(pid)
        return left

    def wait_orphans_gone(self, timeout=5.0):
        """Poll until our former workers are gone; returns those left."""
        return poll(self.orphans, timeout=timeout, step=0.05,
                    until=lambda left: not left)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                self._log_cache = f.read().decode(errors="replace")
        except OSError:
            pass
        return self._log_cache

    def close(self):
        """Stop msgd, kill any worker it left behind, remove the temp dir."""
        if self.proc is not None and self.proc.poll() is None:
            self.stop(signal.SIGTERM, 10.0)
        for pid in self.wait_orphans_gone(3.0):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.log()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self in _live:
            _live.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def parallel(*fns, timeout=60.0):
    """Run the callables in threads; returns their results in order.  An
    exception in one is re-raised here (after all finished or timed out)."""
    results = [None] * len(fns)
    errors = [None] * len(fns)

    def wrap(i, fn):
        try:
            results[i] = fn()
        except BaseException as e:
            errors[i] = e

    threads = [threading.Thread(target=wrap, args=(i, fn), daemon=True)
               for i, fn in enumerate(fns)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + timeout
    for th in threads:
        th.join(max(0.0, deadline - time.monotonic()))
    if any(th.is_alive() for th in threads):
        raise TimeoutError("parallel: still running after %.0f s" % timeout)
    for e in errors:
        if e is not None:
            raise e
    return results


# ------------------------------------------------------------------ suite

class Suite:
    """Checks and cases of one test file.

        t = Suite("test_x")
        @t.case
        def something(t): t.check(cond, "message")
        t.run()
    """

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.cases = []
        self.servers = []
        if not os.access(MSGD, os.X_OK):
            print("%s: SKIP: %s is not built" % (name, MSGD))
            sys.exit(SKIP)
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))

    def check(self, cond, msg):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL: %s" % msg, flush=True)
        return bool(cond)

    def check_response(self, f, what, op, status=St.OK, rid=None,
                       value=None, key=b""):
        p = response_problems(f, op, status, rid, value, key)
        return self.check(not p, "%s: %s; got %r" % (what, "; ".join(p), f))

    def server(self, settings=None, health=True, **kw):
        """A Server stopped and removed when the case ends; with health, the
        case also checks it has no zombie, all its workers, and no crash."""
        srv = Server(settings, **kw)
        srv.health = health
        self.servers.append(srv)
        return srv

    def health(self, srv):
        """After the runs: every worker alive, none a zombie, none died.
        A child that has just exited is a zombie until the master's loop
        reaps it (a turn away): only one still there after 5 s counts."""
        n = srv.workers_wanted
        ws = poll(srv.workers, timeout=5.0, step=0.05,
                  until=lambda ws: not [p for p, s in ws if s == "Z"] and
                  len([p for p, s in ws if s != "Z"]) == n)
        srv.note_workers()
        zombies = [p for p, s in ws if s == "Z"]
        self.check(not zombies, "zombie children of master %d: %r" % (
            srv.pid, ws))
        live = [p for p, s in ws if s != "Z"]
        self.check(len(live) == srv.workers_wanted,
                   "master %d has %d workers %r, configured %d" % (
                       srv.pid, len(live), ws, srv.workers_wanted))
        died = [l for l in srv.log().splitlines()
                if "respawning" in l or "killed by signal" in l]
        self.check(not died, "workers died during the run: %r" % died)

    def case(self, fn):
        self.cases.append(fn)
        return fn

    def run(self):
        t_start = time.monotonic()
        for fn in self.cases:
            failed_before = self.failed
            t0 = time.monotonic()
            print("-- %s" % fn.__name__, flush=True)
            try:
                fn(self)
            except Exception:
                self.failed += 1
                print("FAIL: %s raised:\n%s" % (
                    fn.__name__, traceback.format_exc()), flush=True)
            finally:
                for srv in self.servers:
                    try:
                        if getattr(srv, "health", False) and srv.alive():
                            self.health(srv)
                    except Exception:
                        self.failed += 1
                        print("FAIL: health check raised:\n%s" %
                              traceback.format_exc())
                    srv.close()
                if self.failed > failed_before:
                    for srv in self.servers:
                        print("---- msgd stderr (%s, exit %r):\n%s----" % (
                            srv.conf_path, srv.returncode, srv.log()))
                self.servers = []
            print("   %s: %.2f s" % (fn.__name__, time.monotonic() - t0))
        print("%s: %d passed, %d failed (%.1f s)" % (
            self.name, self.passed, self.failed,
            time.monotonic() - t_start), flush=True)
        sys.exit(1 if self.failed else 0)


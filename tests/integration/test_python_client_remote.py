"""test_python_client_remote: msgd_client's file, exec, auth and UDP calls
against a real msgd.

Disabled features: PUT, GET, LIST, DEL and EXEC -> Denied.
Files (files.enabled, files.dir in the temp dir): put/get round trip (binary,
empty, 255-byte name, str content), overwrite, the file on disk, list sorted
by name with sizes and mtimes, get/delete of a missing file -> NotFound, bad
names sent raw through Client.call() -> BadRequest with the connection kept
(the client refuses them itself with ValueError), a symlink in the spool is
not followed, pipelined PUT/GET, TCP as well as unix.
Exec (exec.commands): echo -> (0, b"hello\\n", b""); cat returns its stdin
(binary, empty, str); a failing command's status and stderr; an unknown
command -> NotFound; exec.timeout -> Timeout; exec.max_output -> TooLarge; a
command killed by SIGKILL -> status 137.
Auth (auth_token): PING served and ECHO/STATS Denied before AUTH; after AUTH
(or Client(token=...)) everything works; a wrong token -> Denied and the
server closes; a frame over 16384 bytes before AUTH -> TooLarge and closed.
UDP (udp_listen): UdpClient ping/echo/upper/time; STATS over UDP -> Denied;
an unpadded PING is dropped; with an auth token only PING is served.
"""
import os
import socket
import sys
import time

from harness import (HDR, HDR_LEN, SRCDIR, TIME_RE, Op, St, Suite, encode,
                     udp_listener, raises)

sys.dont_write_bytecode = True      # keep the source tree clean
sys.path.insert(0, os.path.join(SRCDIR, "contrib", "python"))
import msgd_client as mc  # noqa: E402

t = Suite("test_python_client_remote")

# msgd wants a token of 8 to 1024 bytes.
TOKEN = "s3cret-token"
COMMANDS = {
    "echo": ["/bin/echo", "hello"],
    "cat": ["/bin/cat"],
    "fail": ["/bin/sh", "-c", "echo err >&2; exit 3"],
}


def files_server(t, **kw):
    """A server with files enabled in <its temp dir>/files."""
    srv = t.server(start=False, **kw)
    srv.files_dir = os.path.join(srv.dir, "files")
    srv.settings["files"] = {"enabled": True, "dir": srv.files_dir}
    return srv.start()


@t.case
def features_disabled(t):
    srv = t.server()
    with mc.Client(srv.sock_path) as c:
        for what, fn in (("put", lambda: c.put("a", b"x")),
                         ("get", lambda: c.get("a")),
                         ("list", c.list),
                         ("delete", lambda: c.delete("a")),
                         ("exec", lambda: c.exec("echo"))):
            e = raises(t, mc.Denied, fn, "%s with the feature off" % what)
            t.check(e is None or (e.status == 5 and e.message),
                    "%s Denied has a message: %r" % (what, e))
        t.check(c.echo(b"still") == b"still", "connection kept")


@t.case
def files(t):
    srv = files_server(t, tcp=True)
    with mc.Client(srv.sock_path) as c:
        t.check(c.list() == [], "empty spool lists nothing")
        data = bytes(range(256)) * 4
        c.put("bin.dat", data)
        t.check(c.get("bin.dat") == data, "binary round trip")
        path = os.path.join(srv.files_dir, "bin.dat")
        with open(path, "rb") as f:
            t.check(f.read() == data, "the file is stored in files.dir")
        c.put("bin.dat", b"short")
        t.check(c.get("bin.dat") == b"short", "overwrite with less")
        c.put("empty", b"")
        t.check(c.get("empty") == b"", "empty file")
        c.put("text.txt", "h\u00e9llo")
        t.check(c.get("text.txt") == "h\u00e9llo".encode(), "str content")
        long_name = "n" * 255
        c.put(long_name, b"long")
        t.check(c.get(long_name) == b"long", "255-byte name")

        before = int(time.time())
        names = ["b", "a", "_x", "Z9", "a.b", "a-b", "-dash", "9"]
        for i, n in enumerate(names):
            c.put(n, b"x" * i)
        after = int(time.time())
        got = c.list()
        want = sorted(names + ["bin.dat", "empty", "text.txt", long_name])
        t.check([f.name for f in got] == want,
                "list sorted by name: %r, want %r" % (
                    [f.name for f in got], want))
        by_name = {f.name: f for f in got}
        t.check(all(by_name[n].size == i for i, n in enumerate(names)),
                "list sizes: %r" % got)
        t.check(by_name["bin.dat"].size == 5 and
                by_name["text.txt"].size == len("h\u00e9llo".encode()),
                "list sizes after overwrite: %r" % got)
        t.check(all(before - 2 <= by_name[n].mtime <= after + 2
                    for n in names), "list mtimes within %d..%d: %r" % (
                        before, after, got))

        c.delete("a")
        e = raises(t, mc.NotFound, lambda: c.get("a"), "get after delete")
        t.check(e is None or e.status == 4, "NotFound status %r" % (
            e and e.status))
        raises(t, mc.NotFound, lambda: c.delete("a"), "delete missing")
        raises(t, mc.NotFound, lambda: c.get("never"), "get missing")
        t.check("a" not in [f.name for f in c.list()], "deleted, unlisted")
        t.check(not os.path.exists(os.path.join(srv.files_dir, "a")),
                "deleted from files.dir")

        # Bad names: the client refuses them; sent raw, the server too.
        bad = [b"", b".hidden", b"..", b"a/b", b"../escape", b"/etc/passwd",
               b"x" * 256, b"sp ace", "\u00e9".encode(), b"a\x00b", b"a\n"]
        for name in bad:
            raises(t, ValueError, lambda: c.put(name, b"x"),
                   "client-side put(%r)" % name)
            for op in (Op.PUT, Op.GET, Op.DEL):
                e = raises(t, mc.BadRequest,
                           lambda: c.call(op, name, b"content"),
                           "raw op 0x%02x name %r" % (op, name[:20]))
                t.check(e is None or e.status == 1, "BadRequest status")
        t.check(c.ping() >= 0 and not c.closed,
                "connection kept after bad names")
        t.check(not os.path.exists(os.path.join(srv.dir, "escape")),
                "nothing written outside files.dir")

        # Pipelined writes and reads.
        rs = c.pipeline([(Op.PUT, b"p%d" % i, b"v%d" % i) for i in range(20)]
                        + [(Op.GET, b"p%d" % i) for i in range(20)])
        t.check(all(r.ok for r in rs) and
                [r.value for r in rs[20:]] == [b"v%d" % i for i in range(20)]
                and [r.key for r in rs[20:]] == [b"p%d" % i
                                                 for i in range(20)],
                "pipelined PUT/GET: %r" % (rs[:3],))

    # A symlink in the spool is not followed.
    secret = os.path.join(srv.dir, "secret")
    with open(secret, "wb") as f:
        f.write(b"do not leak")
    os.symlink(secret, os.path.join(srv.files_dir, "link"))
    with mc.Client(srv.sock_path) as c:
        try:
            got = c.get("link")
            t.check(False, "GET of a symlink answered %r" % got)
        except mc.MsgdError as e:
            t.check(e.status in (St.NOT_FOUND, St.DENIED),
                    "GET of a symlink: %s" % e)

    with mc.Client(srv.tcp_addr) as c:
        c.put("over-tcp", b"\xff" * 100000)
        t.check(c.get("over-tcp") == b"\xff" * 100000, "TCP round trip")


@t.case
def exec_commands(t):
    srv = t.server({"exec": {"enabled": True, "commands": COMMANDS}})
    with mc.Client(srv.sock_path) as c:
        r = c.exec("echo")
        t.check(isinstance(r, mc.ExecResult) and r == (0, b"hello\n", b""),
                "exec echo: %r" % (r,))
        stdin = bytes(range(256)) * 64
        r = c.exec("cat", stdin)
        t.check(r.status == 0 and r.stdout == stdin and r.stderr == b"",
                "exec cat binary: status %r, %d bytes out, err %r" % (
                    r.status, len(r.stdout), r.stderr[:60]))
        t.check(c.exec("cat") == (0, b"", b""), "exec cat, empty stdin")
        t.check(c.exec("cat", "t\u00e9xt") ==
                (0, "t\u00e9xt".encode(), b""), "exec cat, str stdin")
        r = c.exec("fail")
        t.check(r == (3, b"", b"err\n"), "exec fail: %r" % (r,))
        e = raises(t, mc.NotFound, lambda: c.exec("nope"), "unknown command")
        t.check(e is None or (e.status == 4 and e.message),
                "unknown command NotFound: %r" % (e,))
        t.check(c.echo(b"ok") == b"ok", "connection kept")


@t.case
def exec_limits(t):
    cmds = dict(COMMANDS)
    cmds["sleep"] = ["/bin/sleep", "30"]
    cmds["big"] = ["/bin/sh", "-c", "head -c 100000 /dev/zero"]
    cmds["killed"] = ["/bin/sh", "-c", "kill -9 $$"]
    srv = t.server({"exec": {"enabled": True, "timeout": 1,
                             "max_output": 4096, "commands": cmds}})
    with mc.Client(srv.sock_path, timeout=10) as c:
        t0 = time.monotonic()
        raises(t, mc.Timeout, lambda: c.exec("sleep"), "exec.timeout")
        took = time.monotonic() - t0
        t.check(0.8 <= took < 8, "Timeout after %.2f s, want about 1" % took)
        raises(t, mc.TooLarge, lambda: c.exec("big"), "exec.max_output")
        r = c.exec("killed")
        t.check(r.status == 128 + 9, "killed by SIGKILL: %r" % (r,))
        t.check(c.exec("echo") == (0, b"hello\n", b""), "connection kept")


@t.case
def auth(t):
    srv = t.server({"auth_token": TOKEN})
    with mc.Client(srv.sock_path) as c:
        t.check(c.ping() >= 0, "PING before AUTH")
        for what, fn in (("echo", lambda: c.echo(b"x")),
                         ("stats", c.stats), ("time", c.time)):
            e = raises(t, mc.Denied, fn, "%s before AUTH" % what)
            t.check(e is None or e.status == 5, "Denied status")
        t.check(not c.closed and c.ping() >= 0,
                "connection kept after Denied")
        c.auth(TOKEN)
        t.check(c.echo(b"x") == b"x" and "totals" in c.stats(),
                "served after AUTH")
        t.check(c.echo(b"y" * 20000) == b"y" * 20000,
                "a large frame after AUTH")

    with mc.Client("unix:" + srv.sock_path, token=TOKEN) as c:
        t.check(c.upper("abc") == b"ABC", "Client(token=...)")
    with mc.Client(srv.sock_path, token=TOKEN.encode()) as c:
        t.check(c.upper("abc") == b"ABC", "Client(token=bytes)")

    c = mc.Client(srv.sock_path)
    raises(t, mc.Denied, lambda: c.auth("wrong"), "wrong token")
    t.check(c.closed, "client closed after a wrong token")
    raises(t, mc.Denied, lambda: mc.Client(srv.sock_path, token=TOKEN[:-1]),
           "Client(token=wrong)")
    # The server closes too: seen on a raw socket.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(srv.sock_path)
    s.sendall(encode(Op.AUTH, b"wrong", request_id=5))
    data = b""
    try:
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
        closed = True
    except socket.timeout:
        closed = False
    except ConnectionResetError:
        closed = True
    s.close()
    t.check(closed and len(data) >= HDR_LEN and
            HDR.unpack(data[:HDR_LEN])[4] == St.DENIED,
            "server answers DENIED to a wrong token and closes: %r, %r" % (
                closed, data[:40]))

    c = mc.Client(srv.sock_path)
    raises(t, mc.TooLarge, lambda: c.echo(b"z" * 20000),
           "frame > 16384 bytes before AUTH")
    if not c.closed:
        raises(t, mc.ConnectionClosed, c.ping, "closed after that")
    c.close()


@t.case
def udp(t):
    srv = t.server(pick=udp_listener())
    port = srv.uport
    addr = "127.0.0.1:%d" % port
    with mc.UdpClient(addr, timeout=2.0, retries=1) as u:
        t.check(u.ping() >= 0, "UDP ping")
        t.check(u.echo(b"datagram") == b"datagram", "UDP echo")
        t.check(u.echo(b"") == b"", "UDP echo empty")
        t.check(u.upper("abc\u00e9") == "ABC\u00e9".encode(), "UDP upper")
        ts = u.time()
        t.check(TIME_RE.match(ts.encode()), "UDP time %r" % ts)
        e = raises(t, mc.Denied, lambda: u.call(Op.STATS), "STATS over UDP")
        t.check(e is None or e.message == "",
                "UDP errors carry no message: %r" % (e,))
        t.check(u.ping() >= 0, "UDP ping after the error")
    r = mc.udp_call(("127.0.0.1", port), Op.ECHO, b"one shot")
    t.check(r.ok and r.value == b"one shot", "udp_call: %r" % (r,))

    # Why the client pads: an unpadded PING would get a larger answer, so
    # the server drops it.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    try:
        s.sendto(encode(Op.PING, request_id=1), ("127.0.0.1", port))
        try:
            got = s.recv(65536)
            t.check(False, "unpadded PING answered: %r" % got)
        except socket.timeout:
            pass
    finally:
        s.close()

    srv = t.server({"auth_token": TOKEN}, pick=udp_listener())
    port = srv.uport
    with mc.UdpClient(("127.0.0.1", port), timeout=2.0) as u:
        t.check(u.ping() >= 0, "UDP ping with an auth token")
        raises(t, mc.Denied, lambda: u.echo(b"x"),
               "UDP echo with an auth token")


t.run()

"""test_remote_msgctl: msgctl put/get/ls/rm/exec, --udp, and the token
options end to end against a real msgd.

- put FILE NAME, put FILE (named after its basename), put - NAME (stdin),
  binary content: exit 0 and the bytes are in files.dir; get NAME prints
  exactly the bytes; get NAME -o FILE writes them; ls lists NAME, SIZE and
  the time, sorted; rm NAME: exit 0, gone; rm / get of a missing name:
  exit 1 naming NOT_FOUND; a bad name: put refuses it (exit 2), get/rm get
  the server's BAD_REQUEST (exit 1); put of a file over files.max_size:
  exit 1 naming TOO_LARGE; with files disabled: exit 1 naming DENIED.
- bench --op PUT --key NAME -s N stores N bytes in NAME on every request
  (exit 0, the file has N bytes, the JSON counts every request); bench
  --op GET --key NAME -s N reads it back (exit 0); -s other than the
  file's size: exit 1 naming the value length; --op PUT/GET without
  --key, --key with ECHO, --key with a bad name, --raw PUT: exit 2.
- exec NAME: stdin goes to the command, its stdout and stderr to ours, and
  msgctl exits with its status (0, 3, 137 when killed by SIGKILL); an
  unknown command: exit 1 naming NOT_FOUND; exec.timeout: exit 1 naming
  TIMEOUT.
- --udp ping and echo (-H 127.0.0.1:PORT): exit 0, PONG / the text; with
  UDP off: exit 4 within about -T.
- auth_token: no token -> exit 1 (DENIED); --token, MSGD_TOKEN and
  --token-file each work; a wrong token -> exit 1; --token wins over
  MSGD_TOKEN.
"""
import functools
import json
import os

from harness import Suite, ctl, udp_listener

t = Suite("test_remote_msgctl")

TOKEN = "msgctl-test-token-77"


# msgctl ARGS (they say where), bounded: (rc, stdout bytes, stderr text,
# seconds); stdin_data goes to its stdin, env adds to a MSGD_TOKEN-free
# environment.
msgctl = functools.partial(ctl, None, binary=True, timeout=20.0)


def files_server(t):
    """A started msgd, 1 worker, files enabled (max_size 200000); it and
    its files directory."""
    srv = t.server(start=False)
    fdir = os.path.join(srv.dir, "files")
    srv.settings.update({"workers": 1, "files": {
        "enabled": True, "dir": fdir, "max_size": 200000}})
    srv.start()
    return srv, fdir


@t.case
def files(t):
    srv, fdir = files_server(t)
    U = ["-U", srv.sock_path]
    data = os.urandom(150000)
    src = os.path.join(srv.dir, "local.bin")
    with open(src, "wb") as f:
        f.write(data)

    rc, out, err, _ = msgctl(*U, "put", src, "remote.bin")
    t.check(rc == 0, "put FILE NAME: exit %d, %r" % (rc, err))
    with open(os.path.join(fdir, "remote.bin"), "rb") as f:
        t.check(f.read() == data, "put stored the bytes")
    rc, out, err, _ = msgctl(*U, "put", src)
    t.check(rc == 0 and os.path.exists(os.path.join(fdir, "local.bin")),
            "put FILE (basename): exit %d, %r, dir %r" % (
                rc, err, os.listdir(fdir)))
    rc, out, err, _ = msgctl(*U, "put", "-", "from-stdin",
                             stdin_data=b"piped\x00bytes\n")
    t.check(rc == 0, "put - NAME: exit %d, %r" % (rc, err))
    with open(os.path.join(fdir, "from-stdin"), "rb") as f:
        t.check(f.read() == b"piped\x00bytes\n", "put - stored stdin")
    rc, out, err, _ = msgctl(*U, "put", "-", "empty")
    t.check(rc == 0 and os.path.getsize(os.path.join(fdir, "empty")) == 0,
            "put - of nothing: exit %d, %r" % (rc, err))

    rc, out, err, _ = msgctl(*U, "get", "remote.bin")
    t.check(rc == 0 and out == data, "get prints the bytes: exit %d, %d "
            "bytes, %r" % (rc, len(out), err))
    rc, out, err, _ = msgctl(*U, "get", "empty")
    t.check(rc == 0 and out == b"", "get of an empty file: %d %r" % (rc, out))
    dst = os.path.join(srv.dir, "fetched.bin")
    rc, out, err, _ = msgctl(*U, "get", "remote.bin", "-o", dst)
    with open(dst, "rb") as f:
        t.check(rc == 0 and out == b"" and f.read() == data,
                "get -o FILE: exit %d, %r" % (rc, err))

    rc, out, err, _ = msgctl(*U, "ls")
    lines = out.decode().splitlines()
    t.check(rc == 0 and lines and lines[0].split()[:3] == ["NAME", "SIZE",
                                                           "MODIFIED"],
            "ls header: exit %d, %r" % (rc, out))
    rows = [l.split() for l in lines[1:]]
    t.check([r[0] for r in rows] == ["empty", "from-stdin", "local.bin",
                                     "remote.bin"],
            "ls names sorted: %r" % rows)
    sizes = {r[0]: r[1] for r in rows}
    t.check(sizes.get("remote.bin") == str(len(data)) and
            sizes.get("empty") == "0" and sizes.get("from-stdin") == "12",
            "ls sizes: %r" % sizes)
    t.check(all(len(r) == 4 and len(r[2]) == 10 and len(r[3]) == 8
                for r in rows), "ls times as date and time: %r" % rows)

    rc, out, err, _ = msgctl(*U, "rm", "from-stdin")
    t.check(rc == 0 and not os.path.exists(os.path.join(fdir, "from-stdin")),
            "rm: exit %d, %r" % (rc, err))
    for args in (["rm", "from-stdin"], ["get", "from-stdin"]):
        rc, out, err, _ = msgctl(*U, *args)
        t.check(rc == 1 and "NOT_FOUND" in err, "%s of a missing name: "
                "exit %d, %r" % (" ".join(args), rc, err))

    rc, out, err, _ = msgctl(*U, "put", src, "../escape")
    t.check(rc == 2 and "not a valid name" in err,
            "put with a bad name: exit %d, %r" % (rc, err))
    for args in (["get", "../escape"], ["rm", ".hidden"], ["get", "a/b"]):
        rc, out, err, _ = msgctl(*U, *args)
        t.check(rc == 1 and "BAD_REQUEST" in err, "%s: exit %d, %r" % (
            " ".join(args), rc, err))
    big = os.path.join(srv.dir, "big.bin")
    with open(big, "wb") as f:
        f.write(b"b" * 200001)
    rc, out, err, _ = msgctl(*U, "put", big)
    t.check(rc == 1 and "TOO_LARGE" in err, "put over files.max_size: exit "
            "%d, %r" % (rc, err))
    t.check(not os.path.exists(os.path.join(fdir, "big.bin")),
            "nothing stored")
    t.check(not os.path.exists(os.path.join(srv.dir, "escape")),
            "nothing escaped")

    off = t.server({"workers": 1})
    for args in (["ls"], ["get", "x"], ["rm", "x"], ["put", src, "x"]):
        rc, out, err, _ = msgctl("-U", off.sock_path, *args)
        t.check(rc == 1 and "DENIED" in err, "%s with files disabled: exit "
                "%d, %r" % (args[0], rc, err))


@t.case
def bench_files(t):
    srv, fdir = files_server(t)
    B = ["-U", srv.sock_path, "bench"]
    rc, out, err, _ = msgctl(*B, "--op", "PUT", "--key", "b.bin", "-s",
                             "1000", "-n", "300", "-c", "2", "-P", "2",
                             "--json")
    res = json.loads(out) if rc == 0 else {}
    t.check(rc == 0 and res.get("requests") == 300 and
            res.get("op") == "PUT" and res.get("value_bytes") == 1000,
            "bench --op PUT: exit %d, %r %r" % (rc, out, err))
    path = os.path.join(fdir, "b.bin")
    t.check(os.path.exists(path) and os.path.getsize(path) == 1000,
            "bench --op PUT stored 1000 bytes")
    rc, out, err, _ = msgctl(*B, "--op", "GET", "--key", "b.bin", "-s",
                             "1000", "-n", "300", "-c", "2", "--json")
    res = json.loads(out) if rc == 0 else {}
    t.check(rc == 0 and res.get("requests") == 300 and
            res.get("errors") == 0,
            "bench --op GET: exit %d, %r %r" % (rc, out, err))
    rc, out, err, _ = msgctl(*B, "--op", "GET", "--key", "b.bin", "-s",
                             "999", "-n", "5", "-c", "1")
    t.check(rc == 1 and "value of 1000 bytes, expected 999" in err,
            "bench --op GET, wrong -s: exit %d, %r" % (rc, err))
    for args in (["--op", "PUT"], ["--op", "GET"], ["--key", "b.bin"],
                 ["--op", "PUT", "--key", "../b"],
                 ["--raw", "--op", "PUT", "--key", "b.bin"]):
        rc, out, err, _ = msgctl(*B, *args, "-n", "1", "-c", "1")
        t.check(rc == 2 and "--key" in err, "bench %s: want exit 2 "
                "naming --key, got %d %r" % (" ".join(args), rc, err))


@t.case
def exec_cmd(t):
    srv = t.server({"workers": 1, "exec": {
        "enabled": True, "timeout": 1, "commands": {
            "cat": ["/bin/cat"],
            "both": ["/bin/sh", "-c", "cat; echo to-stderr >&2; exit 3"],
            "killed": ["/bin/sh", "-c", "kill -9 $$"],
            "slow": ["/bin/sleep", "10"]}}})
    U = ["-U", srv.sock_path]
    stdin = os.urandom(100000)
    rc, out, err, _ = msgctl(*U, "exec", "cat", stdin_data=stdin)
    t.check(rc == 0 and out == stdin and err == "",
            "exec cat: exit %d, %d bytes out, %r" % (rc, len(out), err))
    rc, out, err, _ = msgctl(*U, "exec", "both", stdin_data=b"in\n")
    t.check(rc == 3 and out == b"in\n" and err == "to-stderr\n",
            "exec both: exit %d (want 3), out %r, err %r" % (rc, out, err))
    rc, out, err, _ = msgctl(*U, "exec", "killed")
    t.check(rc == 137 and out == b"", "exec killed: exit %d (want 137), %r"
            % (rc, err))
    rc, out, err, _ = msgctl(*U, "exec", "nope")
    t.check(rc == 1 and "NOT_FOUND" in err, "exec of an unknown command: "
            "exit %d, %r" % (rc, err))
    rc, out, err, secs = msgctl(*U, "exec", "slow")
    t.check(rc == 1 and "TIMEOUT" in err and secs < 4,
            "exec past exec.timeout: exit %d after %.1f s, %r" % (
                rc, secs, err))
    # Issue 15: the protocol carries no arguments, so msgctl refuses them
    # (usage error, nothing sent) rather than dropping them.
    rc, out, err, _ = msgctl(*U, "exec", "cat", "extra", stdin_data=b"x")
    t.check(rc == 2 and out == b"" and "takes no arguments" in err,
            "exec with arguments: refused, said so: %d %r %r" % (
                rc, out, err))


@t.case
def udp(t):
    srv = t.server({"workers": 1}, tcp=True, pick=udp_listener())
    port = srv.uport
    H = ["-H", "127.0.0.1:%d" % port, "--udp"]
    rc, out, err, _ = msgctl(*H, "ping")
    t.check(rc == 0 and out.startswith(b"PONG") and b"UDP" in out,
            "--udp ping: exit %d, %r %r" % (rc, out, err))
    rc, out, err, _ = msgctl(*H, "echo", "hello", "udp")
    t.check(rc == 0 and out == b"hello udp\n", "--udp echo: exit %d, %r %r"
            % (rc, out, err))
    rc, out, err, _ = msgctl(*H, "upper", "abc")
    t.check(rc == 0 and out == b"ABC\n", "--udp upper: %d %r" % (rc, out))
    rc, out, err, _ = msgctl(*H, "time")
    t.check(rc == 0 and len(out) == 28, "--udp time: %d %r" % (rc, out))
    # The TCP port has no UDP listener: no answer, exit 4 after -T 1.
    rc, out, err, secs = msgctl("-T", "1", "-H", "127.0.0.1:%d" % srv.port,
                                "--udp", "ping")
    t.check(rc == 4 and secs < 4, "--udp ping where UDP is off: exit "
            "%d after %.1f s, %r" % (rc, secs, err))


@t.case
def tokens(t):
    srv = t.server({"workers": 1, "auth_token": TOKEN})
    U = ["-U", srv.sock_path]
    rc, out, err, _ = msgctl(*U, "echo", "hi")
    t.check(rc == 1 and "DENIED" in err, "echo without a token: exit %d, %r"
            % (rc, err))
    rc, out, err, _ = msgctl(*U, "ping")
    t.check(rc == 0, "ping without a token: exit %d, %r" % (rc, err))
    rc, out, err, _ = msgctl(*U, "--token", TOKEN, "echo", "hi")
    t.check(rc == 0 and out == b"hi\n", "--token: exit %d, %r %r" % (
        rc, out, err))
    rc, out, err, _ = msgctl(*U, "echo", "env", env={"MSGD_TOKEN": TOKEN})
    t.check(rc == 0 and out == b"env\n", "MSGD_TOKEN: exit %d, %r %r" % (
        rc, out, err))
    tf = os.path.join(srv.dir, "token")
    with open(tf, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(tf, 0o600)
    rc, out, err, _ = msgctl(*U, "--token-file", tf, "echo", "file")
    t.check(rc == 0 and out == b"file\n", "--token-file: exit %d, %r %r" % (
        rc, out, err))
    rc, out, err, _ = msgctl(*U, "--token", "wrong-token-xyz", "echo", "x")
    t.check(rc == 1 and "DENIED" in err, "--token wrong: exit %d, %r" % (
        rc, err))
    rc, out, err, _ = msgctl(*U, "echo", "x", env={"MSGD_TOKEN": "nope-nope"})
    t.check(rc == 1 and "DENIED" in err, "MSGD_TOKEN wrong: exit %d, %r" % (
        rc, err))
    rc, out, err, _ = msgctl(*U, "--token", TOKEN, "echo", "wins",
                             env={"MSGD_TOKEN": "nope-nope"})
    t.check(rc == 0 and out == b"wins\n", "--token wins over MSGD_TOKEN: "
            "exit %d, %r" % (rc, err))
    rc, out, err, _ = msgctl(*U, "--token-file",
                             os.path.join(srv.dir, "missing"), "ping")
    t.check(rc == 2, "--token-file missing: exit %d, %r" % (rc, err))


t.run()

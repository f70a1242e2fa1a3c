"""test_libclient: libmsgdclient's public API against a real msgd, through
tests/integration/libclient_drive (linked with the built shared library):
every operation blocking (files enabled: put, get, list, del; a status
other than OK), a pipeline of 200 with ids in order, and the non-blocking
mode driven by poll (100 answers, then a 4 MiB value written over many
writable events); over a unix socket with a token (AUTH while
connecting), and over TLS verified against the test CA.
"""
import atexit
import os
import shutil
import tempfile

from harness import BUILDDIR, Suite, msgd_supports, run, unix_and
import tlscerts

t = Suite("test_libclient")
DRIVE = os.path.join(BUILDDIR, "tests", "integration", "libclient_drive")
TOKEN = "libclient-token-0123456789abcdef"


def server(t, tls=None, token=None):
    srv = t.server(start=False)
    if token is not None:
        srv.settings["auth_token"] = token
    srv.settings["files"] = {"enabled": True,
                             "dir": os.path.join(srv.dir, "files")}
    if tls is not None:
        srv.settings["tls"] = tls
        srv.pick = unix_and("tls:", attr="tls_port")
    return srv.start()


def drive(t, args, what):
    rc, out, err, _ = run([DRIVE] + args, timeout=60)
    t.check(rc == 0, "%s: exit %d: %s" % (what, rc, err.strip()))
    for line in ("ok blocking", "ok pipelined 200", "ok nonblocking 101"):
        t.check(line in out, "%s: no %r in %r" % (what, line, out))
    return out


@t.case
def unix_with_token(t):
    srv = server(t, token=TOKEN)
    drive(t, ["unix:" + srv.sock_path, "token", TOKEN], "unix")
    # Without the token the server refuses; connecting says so.
    rc, out, err, _ = run([DRIVE, "unix:" + srv.sock_path], timeout=30)
    t.check(rc == 1 and "DENIED" in err, "no token: exit %d, %r" % (rc, err))


@t.case
def tls_verified(t):
    if not tlscerts.available() or not msgd_supports(
            "tls", {"min_protocol": "TLSv1.2"}):
        print("tls_verified: skipped (no openssl command, or no TLS)")
        return
    d = tempfile.mkdtemp(prefix="msgd-libclient.")
    atexit.register(shutil.rmtree, d, True)
    c = tlscerts.make(d)
    srv = server(t, {"cert": c.server, "key": c.server_key})
    out = drive(t, ["127.0.0.1:%d" % srv.tls_port, "ca", c.ca], "tls")
    t.check("over TLSv1." in out, "not TLS: %r" % out)


t.run()

"""test_tls_client_msgd: msgctl, msgctl bench and the Python client over TLS
against a real msgd with a "tls:" listener (issue 12), once the server side
is there; skipped while msgd does not know the tls group.

- msgctl --cacert: ping (TLSv1.3), echo, remote stats;
- with a token set: no client certificate, PING only; a verified client
  certificate counts as authenticated (no AUTH); --token works too;
- bench over TLS, small and pipelined 40 kB values;
- bench --reconnect: full handshakes, none resumed; --tls-resume: every
  handshake resumes (the server must send a new ticket after each TLS 1.3
  resumption: OpenSSL clients use a ticket once);
- contrib/python's msgd_client with ssl_context=.
"""
import atexit
import json
import os
import shutil
import ssl
import sys
import tempfile

from harness import (MSGCTL, SKIP, SRCDIR, Suite, msgd_supports, run,
                     test_certs, unix_and)
import tlscerts

sys.dont_write_bytecode = True      # keep the source tree clean
sys.path.insert(0, os.path.join(SRCDIR, "contrib", "python"))
import msgd_client as mc  # noqa: E402

t = Suite("test_tls_client_msgd")
if not tlscerts.available():
    print("test_tls_client_msgd: SKIP: no openssl command")
    sys.exit(SKIP)
if not msgd_supports("tls", {"min_protocol": "TLSv1.2"}):
    print("test_tls_client_msgd: SKIP: this msgd has no TLS listeners")
    sys.exit(SKIP)

TOKEN = "tls-client-token-0123456789"
C = None


def certs(t):
    """The certificates, made once, removed at exit."""
    global C
    if C is None:
        d = tempfile.mkdtemp(prefix="msgd-tlscm.")
        atexit.register(shutil.rmtree, d, True)
        C = tlscerts.make(d)
    return C


def tls_server(t, extra=None):
    c = certs(t)
    srv = t.server({"workers": 2, "listen": None,
                    "tls": {"cert": c.server, "key": c.server_key,
                            "ca": c.ca, "verify_client": "optional"}},
                   start=False)
    srv.settings.update(extra or {})
    srv.pick = unix_and("tls:", attr="tls_port")
    srv.start()
    srv.tls_addr = "127.0.0.1:%d" % srv.tls_port
    return srv


def msgctl(srv, *args, **kw):
    env = dict(os.environ)
    env.pop("MSGD_TOKEN", None)
    return run([MSGCTL, "-c", "/nonexistent/msgd.conf", "-H", srv.tls_addr,
                "--cacert", C.ca] + list(args), env=env, **kw)


@t.case
def commands(t):
    srv = tls_server(t)
    rc, out, err, _ = msgctl(srv, "ping")
    t.check(rc == 0 and "PONG from %s over TLSv1.3" % srv.tls_addr in out,
            "ping: exit %d, %r %r" % (rc, out, err))
    rc, out, err, _ = msgctl(srv, "echo", "a", "b")
    t.check(rc == 0 and out == "a b\n", "echo: exit %d, %r %r" % (
        rc, out, err))
    rc, out, err, _ = msgctl(srv, "stats")
    t.check(rc == 0 and "totals" in json.loads(out or "{}"),
            "remote stats over TLS: exit %d, %r" % (rc, err))
    rc, out, err, _ = msgctl(srv, "--sni", "not-this-host", "ping")
    t.check(rc == 3 and "hostname mismatch" in err,
            "wrong name: exit %d, %r" % (rc, err))


@t.case
def address_from_the_config(t):
    """msgctl -c takes the listener of the kind it speaks: the clear one by
    default, the TLS one with TLS options, and TLS when there is no other."""
    env = dict(os.environ)
    env.pop("MSGD_TOKEN", None)
    ca = test_certs().ca
    for only_tls in (False, True):
        srv = t.server({"workers": 1}, unix=False, tcp=not only_tls,
                       tls=True)
        tls = "127.0.0.1:%d" % srv.port_tls
        conf = srv.conf_path
        rc, out, err, _ = run([MSGCTL, "-c", conf, "--cacert", ca, "ping"],
                              env=env)
        t.check(rc == 0 and "PONG from %s over TLSv1.3" % tls in out,
                "--cacert: the TLS listener: %d %r %r" % (rc, out, err))
        rc, out, err, _ = run([MSGCTL, "-c", conf, "ping"], env=env)
        if only_tls:
            t.check(rc != 0 and "certificate verify failed" in err,
                    "only TLS: TLS on, verified against the system's CAs: "
                    "%d %r %r" % (rc, out, err))
        else:
            t.check(rc == 0 and out.startswith("PONG from 127.0.0.1:%d:" %
                                               srv.port) and "TLS" not in out,
                    "clear by default: %d %r %r" % (rc, out, err))
        srv.stop()


@t.case
def client_certificate_authenticates(t):
    srv = tls_server(t, {"auth_token": TOKEN})
    rc, out, err, _ = msgctl(srv, "echo", "x")
    t.check(rc == 1 and "DENIED" in err, "no certificate, no token: exit "
            "%d, %r" % (rc, err))
    rc, out, err, _ = msgctl(srv, "--cert", C.client, "--key", C.client_key,
                             "echo", "x")
    t.check(rc == 0 and out == "x\n", "client certificate, no AUTH: exit "
            "%d, %r %r" % (rc, out, err))
    rc, out, err, _ = msgctl(srv, "--token", TOKEN, "echo", "y")
    t.check(rc == 0 and out == "y\n", "token over TLS: exit %d, %r" % (
        rc, err))
    rc, out, err, _ = msgctl(srv, "--cert", C.other_client, "--key",
                             C.other_client_key, "ping")
    t.check(rc in (3, 4) and "refused by the server" in err,
            "another CA's client certificate: exit %d, %r" % (rc, err))


@t.case
def bench(t):
    srv = tls_server(t)
    for args in (["-c", "4", "-n", "2000"],
                 ["-c", "2", "-P", "8", "-s", "40000", "-n", "200"]):
        rc, out, err, _ = msgctl(srv, "bench", "--json", *args,
                                 timeout=60.0)
        r = json.loads(out) if rc == 0 else {}
        t.check(rc == 0 and r.get("errors") == 0 and r.get("tls"),
                "bench %r over TLS: exit %d, %r %r" % (args, rc, out, err))
    for resume, want in ((False, 0), (True, 60)):
        rc, out, err, _ = msgctl(
            srv, "bench", "--reconnect", "-c", "2", "-n", "60", "--json",
            *(["--tls-resume"] if resume else []), timeout=60.0)
        r = json.loads(out) if rc == 0 else {}
        t.check(rc == 0 and r.get("requests") == 60 and
                r.get("resumed") == want,
                "bench --reconnect%s: exit %d, %r of 60 resumed, want %d; "
                "%r" % (" --tls-resume" if resume else "", rc,
                        r.get("resumed"), want, err))


@t.case
def python_client(t):
    srv = tls_server(t)
    ctx = ssl.create_default_context(cafile=C.ca)
    with mc.Client(srv.tls_addr, ssl_context=ctx) as c:
        big = os.urandom(100000)
        t.check(c.echo(big) == big and c.tls_version == "TLSv1.3",
                "python client over TLS: %r" % c.tls_version)


t.run()

"""test_tls_python_client: msgd_client's ssl_context= (contrib/python)
(issue 12) against a fake msgd speaking TLS (tlsfake.py) with a PKI made by
the openssl tool (tlscerts.py).

Client(addr, ssl_context=ctx) verifies as the context says (the server's
name: the host of the address, or server_hostname), presents the client
certificate the context holds, raises the ssl module's exception from the
constructor when the handshake fails, and runs calls and pipelines of
values over one TLS record through its non-blocking loop.
"""
import os
import shutil
import ssl
import sys
import tempfile

from harness import SKIP, SRCDIR, Suite, raises
import tlscerts
from tlsfake import FakeTlsServer

sys.dont_write_bytecode = True      # keep the source tree clean
sys.path.insert(0, os.path.join(SRCDIR, "contrib", "python"))
import msgd_client as mc  # noqa: E402

t = Suite("test_tls_python_client")
if not tlscerts.available():
    print("test_tls_python_client: SKIP: no openssl command")
    sys.exit(SKIP)
TMP = tempfile.mkdtemp(prefix="msgd-tlspy.")
C = tlscerts.make(TMP)


def ctx(ca="ca", cert=None):
    c = ssl.create_default_context(cafile=getattr(C, ca))
    if cert:
        c.load_cert_chain(getattr(C, cert), getattr(C, cert + "_key"))
    return c


@t.case
def verified(t):
    with FakeTlsServer(C.server, C.server_key) as f:
        with mc.Client(f.addr, ssl_context=ctx()) as c:
            t.check(c.tls_version in ("TLSv1.2", "TLSv1.3"),
                    "tls_version: %r" % c.tls_version)
            t.check(c.ping() > 0 and c.echo("hi") == b"hi" and
                    c.upper(b"abc") == b"ABC", "calls over TLS")
            big = os.urandom(300000)
            t.check(c.echo(big) == big, "300 kB each way (many records)")
            rs = c.pipeline([(mc.OP_ECHO, b"", b"%d" % i) for i in
                             range(200)])
            t.check([r.value for r in rs] == [b"%d" % i for i in range(200)],
                    "a pipeline of 200 over TLS")
            raises(t, mc.UnknownOp, lambda: c.call(0x7f),
                   "an error status over TLS")
            t.check(c.echo("still") == b"still", "usable after an error")
        port = f.addr.rsplit(":", 1)[1]
        with mc.Client(("localhost", int(port)), ssl_context=ctx()) as c:
            t.check(c.echo("n") == b"n", "by name: localhost")
        t.check(f.errors == [], "server-side errors: %r" % f.errors)


@t.case
def refused(t):
    with FakeTlsServer(C.server, C.server_key) as f:
        e = raises(t, ssl.SSLCertVerificationError,
                   lambda: mc.Client(f.addr,
                                     ssl_context=ssl.create_default_context()),
                   "the system's CAs do not know the test CA")
        t.check(e is None or "certificate verify failed" in str(e),
                "message: %s" % e)
        e = raises(t, ssl.SSLCertVerificationError,
                   lambda: mc.Client(f.addr, ssl_context=ctx(),
                                     server_hostname="not-this-host"),
                   "server_hostname is checked")
        t.check(e is None or "mismatch" in str(e), "message: %s" % e)
        insecure = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        with mc.Client(f.addr, ssl_context=insecure) as c:
            t.check(c.ping() > 0, "a context that verifies nothing")
    for cert in ("expired", "other_client"):
        with FakeTlsServer(getattr(C, cert), getattr(C, cert + "_key")) as f:
            raises(t, ssl.SSLCertVerificationError,
                   lambda: mc.Client(f.addr, ssl_context=ctx()),
                   "server certificate: %s" % cert)
    raises(t, TypeError, lambda: mc.Client("127.0.0.1:1", ssl_context=1),
           "ssl_context must be an SSLContext")


@t.case
def client_certificate(t):
    with FakeTlsServer(C.server, C.server_key,
                       client_ca=C.ca) as f:
        with mc.Client(f.addr, ssl_context=ctx(cert="client")) as c:
            t.check(c.echo("m") == b"m", "mTLS call")
        t.check(f.peers == ["msgd-test-client"], "peer: %r" % f.peers)

        def without():
            with mc.Client(f.addr, ssl_context=ctx()) as c:
                c.ping()
        # TLS 1.3: the refusal comes after the handshake, on the first call.
        e = raises(t, mc.ConnectionClosed, without, "no client certificate")
        t.check(e is None or "certificate required" in str(e),
                "message names the alert: %s" % e)


@t.case
def unix_socket(t):
    with FakeTlsServer(C.server, C.server_key,
                       unix_dir=True) as f:
        with mc.Client(f.addr, ssl_context=ctx(),
                       server_hostname="localhost") as c:
            t.check(c.echo("u") == b"u", "TLS over a unix socket")
        raises(t, ValueError, lambda: mc.Client(f.addr, ssl_context=ctx()),
               "a unix socket needs server_hostname to check a name")


try:
    t.run()
finally:
    shutil.rmtree(TMP, ignore_errors=True)

"""test_tls_client: msgctl's TLS options (issue 12) against a fake msgd
that speaks TLS through Python's ssl module (tlsfake.py), with a PKI made
by the openssl tool at test time (tlscerts.py).

msgctl --tls verifies the server's chain (--cacert or the system's CAs) and
its name (the host of -H, or --sni); --insecure verifies nothing; --cert and
--key present a client certificate.  Every failure is named on stderr and
exits 3 (cannot connect) or 4 (lost on the way), option mistakes exit 2.
"""
import os
import shutil
import sys
import tempfile

from harness import MSGCTL, SKIP, Suite, free_port, run
import tlscerts
from tlsfake import FakeTlsServer

t = Suite("test_tls_client")
if not tlscerts.available():
    print("test_tls_client: SKIP: no openssl command")
    sys.exit(SKIP)
TMP = tempfile.mkdtemp(prefix="msgd-tlsc.")
C = tlscerts.make(TMP)
# The server's certificate followed by the CA's: a chain file as a CA file.
BUNDLE = os.path.join(TMP, "bundle.crt")
with open(BUNDLE, "w") as out:
    for p in (C.server, C.ca):
        with open(p) as f:
            out.write(f.read())


def msgctl(*args, **kw):
    env = dict(os.environ)
    env.pop("MSGD_TOKEN", None)
    return run([MSGCTL, "-c", "/nonexistent/msgd.conf", "-T", "5"] +
               list(args), env=env, **kw)


def fake(cert=None, key=None, **kw):
    return FakeTlsServer(cert or C.server, key or C.server_key, **kw)


@t.case
def ping_with_cacert(t):
    with fake() as f:
        rc, out, err, _ = msgctl("-H", f.addr, "--tls", "--cacert",
                                 C.ca, "ping")
        t.check(rc == 0 and "PONG from %s over TLSv1.3" % f.addr in out,
                "ping over TLS: exit %d, %r %r" % (rc, out, err))
        # The chain file given as the CA works as well; --tls is implied.
        rc, out, err, _ = msgctl("-H", f.addr, "--cacert", BUNDLE,
                                 "echo", "hello", "tls")
        t.check(rc == 0 and out == "hello tls\n",
                "echo, --tls implied: exit %d, %r %r" % (rc, out, err))
        # localhost: the name is checked as a DNS name, sent as SNI.
        port = f.addr.rsplit(":", 1)[1]
        rc, out, err, _ = msgctl("-H", "localhost:" + port, "--cacert",
                                 C.ca, "upper", "abc")
        t.check(rc == 0 and out == "ABC\n",
                "upper via localhost: exit %d, %r %r" % (rc, out, err))
        rc, out, err, _ = msgctl("-H", f.addr, "--cacert", C.ca,
                                 "--sni", "localhost", "ping")
        t.check(rc == 0, "--sni localhost: exit %d, %r" % (rc, err))
        # SNI carries host names only: none for an IP address.
        t.check(f.snis == [None, None, "localhost", "localhost"],
                "server names sent: %r" % f.snis)
        t.check(f.errors == [], "server-side errors: %r" % f.errors)


@t.case
def verify_fails_without_ca(t):
    with fake() as f:
        rc, out, err, _ = msgctl("-H", f.addr, "--tls", "ping")
        t.check(rc == 3 and "certificate verify failed" in err and
                "TLS handshake with %s" % f.addr in err and out == "",
                "no CA: exit %d, %r %r" % (rc, out, err))
        t.check(f.handshakes == 0, "no handshake completed: %d" %
                f.handshakes)


@t.case
def insecure(t):
    with fake() as f:
        rc, out, err, _ = msgctl("-H", f.addr, "--insecure", "ping")
        t.check(rc == 0 and "PONG" in out, "--insecure: exit %d, %r %r" % (
            rc, out, err))
        # Even a certificate from nobody's CA, for another name.
        with fake(C.wrongname, C.wrongname_key) as g:
            rc, out, err, _ = msgctl("-H", g.addr, "--insecure", "ping")
            t.check(rc == 0, "--insecure, wrong name: exit %d, %r" % (
                rc, err))


@t.case
def name_mismatch(t):
    with fake() as f:
        rc, out, err, _ = msgctl("-H", f.addr, "--cacert", C.ca,
                                 "--sni", "not-this-host", "ping")
        t.check(rc == 3 and "certificate verify failed: hostname mismatch"
                in err, "--sni not-this-host: exit %d, %r" % (rc, err))
        rc, out, err, _ = msgctl("-H", f.addr, "--cacert", C.ca,
                                 "--sni", "localhost", "ping")
        t.check(rc == 0, "--sni localhost: exit %d, %r" % (rc, err))
    with fake(C.wrongname, C.wrongname_key) as g:
        rc, out, err, _ = msgctl("-H", g.addr, "--cacert", C.ca,
                                 "ping")
        t.check(rc == 3 and "IP address mismatch" in err,
                "certificate for not-this-host at an IP: exit %d, %r" % (
                    rc, err))
        rc, out, err, _ = msgctl("-H", g.addr, "--cacert", C.ca,
                                 "--sni", "not-this-host", "ping")
        t.check(rc == 0, "--sni not-this-host matches it: exit %d, %r" % (
            rc, err))


@t.case
def untrusted_and_expired(t):
    # (A client certificate of another CA serves as a server's here: its
    # chain fails before its purpose is looked at.)
    for cert, why in (("other_client", "unable to get local issuer"),
                      ("expired", "certificate has expired")):
        with fake(getattr(C, cert), getattr(C, cert + "_key")) as f:
            rc, out, err, _ = msgctl("-H", f.addr, "--cacert", C.ca,
                                     "ping")
            t.check(rc == 3 and "certificate verify failed: " + why in err,
                    "%s: exit %d, %r" % (cert, rc, err))


@t.case
def client_certificate(t):
    with fake(client_ca=C.ca) as f:
        rc, out, err, _ = msgctl("-H", f.addr, "--cacert", C.ca,
                                 "--cert", C.client, "--key",
                                 C.client_key, "ping")
        t.check(rc == 0 and "PONG" in out, "mTLS: exit %d, %r %r" % (
            rc, out, err))
        t.check(f.peers == ["msgd-test-client"],
                "the server saw the client's certificate: %r" % f.peers)
        # Without one: TLS 1.3 completes the client's side of the
        # handshake, the server's refusal arrives with the first read.
        rc, out, err, _ = msgctl("-H", f.addr, "--cacert", C.ca,
                                 "ping")
        t.check(rc in (3, 4) and "refused by the server: tlsv13 alert "
                "certificate required" in err,
                "no client certificate: exit %d, %r" % (rc, err))
        # A client certificate from another CA.
        rc, out, err, _ = msgctl("-H", f.addr, "--cacert", C.ca,
                                 "--cert", C.other_client, "--key",
                                 C.other_client_key, "ping")
        t.check(rc in (3, 4) and "unknown ca" in err,
                "client certificate of another CA: exit %d, %r" % (rc, err))


@t.case
def tls12(t):
    # A TLS 1.2 server: the client certificate is refused within the
    # handshake, and sessions resume too.
    with fake(tls12=True, client_ca=C.ca) as f:
        rc, out, err, _ = msgctl("-H", f.addr, "--cacert", C.ca,
                                 "--cert", C.client, "--key",
                                 C.client_key, "ping")
        t.check(rc == 0 and "over TLSv1.2:" in out,
                "TLS 1.2 with a client certificate: exit %d, %r %r" % (
                    rc, out, err))
        rc, out, err, _ = msgctl("-H", f.addr, "--cacert", C.ca,
                                 "ping")
        t.check(rc == 3 and "TLS handshake with %s: refused by the server"
                % f.addr in err,
                "TLS 1.2, no client certificate: exit %d, %r" % (rc, err))
        rc, out, err, _ = msgctl("-H", f.addr, "--cacert", C.ca,
                                 "--cert", C.client, "--key",
                                 C.client_key, "bench", "--reconnect",
                                 "--tls-resume", "-c", "1", "-n", "5",
                                 "--json", timeout=30.0)
        t.check(rc == 0 and '"resumed":5,' in out,
                "TLS 1.2 resumption: exit %d, %r %r" % (rc, out, err))


@t.case
def large_values_and_shell(t):
    # Values over one TLS record (16 KiB) both ways: several records,
    # partial writes; the shell's lines share one connection.
    with fake() as f:
        mid = "y" * 60000
        lines = "ping\necho %s\nupper abc\nping\n" % mid
        rc, out, err, _ = msgctl("-H", f.addr, "--cacert", C.ca,
                                 "shell", stdin_data=lines.encode(),
                                 timeout=30.0)
        outs = out.splitlines()
        t.check(rc == 0 and len(outs) == 4 and outs[1] == mid and
                outs[2] == "ABC" and "TLSv1.3" in outs[3],
                "shell over TLS: exit %d, %d lines, %r" % (
                    rc, len(outs), err))
        t.check(f.handshakes == 1, "one connection for the shell: %d" %
                f.handshakes)
        big = "x" * 120000
        rc, out, err, _ = msgctl("-H", f.addr, "--cacert", C.ca,
                                 "echo", big, timeout=30.0)
        t.check(rc == 0 and out == big + "\n", "echo of 120000 bytes: "
                "exit %d, %d bytes, %r" % (rc, len(out), err))


@t.case
def server_gone(t):
    # The server closes after the handshake: writing 120 kB then fails
    # with EPIPE or a reset.  OpenSSL writes with write(2), so without
    # SIGPIPE blocked around it msgctl would die of the signal.
    with fake(hangup=True) as f:
        rc, out, err, _ = msgctl("-H", f.addr, "--cacert", C.ca,
                                 "echo", "z" * 120000, timeout=30.0)
        t.check(rc == 4 and ("send to %s" % f.addr in err or
                             "read from %s" % f.addr in err or
                             "closed by the server" in err),
                "server gone: exit %d (-13: killed by SIGPIPE), %r" % (
                    rc, err))


@t.case
def unix_socket(t):
    with fake(unix_dir=True) as f:
        path = f.addr[len("unix:"):]
        rc, out, err, _ = msgctl("-U", path, "--cacert", C.ca, "ping")
        t.check(rc == 0 and "over TLS" in out, "TLS over a unix socket: "
                "exit %d, %r %r" % (rc, out, err))
        rc, out, err, _ = msgctl("-U", path, "--cacert", C.ca,
                                 "--sni", "not-this-host", "ping")
        t.check(rc == 3 and "hostname mismatch" in err,
                "unix socket, --sni checked: exit %d, %r" % (rc, err))


@t.case
def wrong_protocol(t):
    with fake() as f:
        # TLS server, plain client: the client sees no msgd answer.
        rc, out, err, _ = msgctl("-H", f.addr, "-T", "2", "ping")
        t.check(rc in (3, 4) and out == "", "plain to TLS: exit %d, %r" % (
            rc, err))
    # Plain TCP server that never speaks TLS: it closes at once.
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    addr = "127.0.0.1:%d" % s.getsockname()[1]
    try:
        import threading

        def closer():
            c, _ = s.accept()
            c.recv(100)
            c.sendall(b"MG\x01\x01\x00\x01" + b"\x00" * 10)
            c.close()
        th = threading.Thread(target=closer, daemon=True)
        th.start()
        rc, out, err, _ = msgctl("-H", addr, "--cacert", C.ca, "ping")
        th.join(5.0)
        t.check(rc == 3 and "TLS handshake with %s" % addr in err,
                "TLS to a plain server: exit %d, %r" % (rc, err))
    finally:
        s.close()
    # Nothing listening: the connect error, as without TLS.
    port = free_port()
    rc, out, err, _ = msgctl("-H", "127.0.0.1:%d" % port, "--tls", "ping")
    t.check(rc == 3 and "connect to" in err, "refused: exit %d, %r" % (
        rc, err))


@t.case
def option_errors(t):
    for args, want in (
            (["--tls", "--udp", "ping"], "--udp is clear text"),
            (["--insecure", "--cacert", C.ca, "ping"],
             "--insecure verifies nothing"),
            (["--key", C.client_key, "ping"], "--key needs --cert"),
            (["--sni", "", "ping"], "--sni needs a name")):
        rc, out, err, _ = msgctl("-H", "127.0.0.1:1", *args)
        t.check(rc == 2 and want in err, "%r: exit %d, %r" % (args, rc, err))
    for args, want in (
            (["--cacert", os.path.join(TMP, "missing.pem")],
             "CA file %s: No such file" % os.path.join(TMP, "missing.pem")),
            (["--cacert", C.server_key], "CA file %s: " %
             C.server_key),
            (["--cert", C.client, "--key", C.server_key],
             "does not match certificate"),
            (["--cert", os.path.join(TMP, "nocert.pem")],
             "certificate %s: No such file" % os.path.join(TMP,
                                                           "nocert.pem"))):
        with fake() as f:
            rc, out, err, _ = msgctl("-H", f.addr, *(args + ["ping"]))
            t.check(rc == 3 and want in err,
                    "%r: exit %d, %r" % (args, rc, err))
            t.check(f.handshakes == 0, "%r: nothing sent" % args)
    rc, out, err, _ = msgctl("-h")
    t.check(rc == 0 and "--cacert FILE" in out and "--insecure" in out,
            "usage names the TLS options: %r" % out)


@t.case
def bench(t):
    import json
    with fake() as f:
        rc, out, err, _ = msgctl("-H", f.addr, "--cacert", C.ca,
                                 "bench", "-c", "4", "-n", "400", "--json",
                                 timeout=60.0)
        r = json.loads(out) if rc == 0 else {}
        t.check(rc == 0 and r.get("requests") == 400 and r.get("tls") and
                r.get("errors") == 0, "bench over TLS: exit %d, %r %r" % (
                    rc, out, err))
        # Values over a record, pipelined: partial writes, many records.
        rc, out, err, _ = msgctl("-H", f.addr, "--cacert", C.ca,
                                 "bench", "-c", "2", "-P", "8", "-s",
                                 "40000", "-n", "64", timeout=60.0)
        t.check(rc == 0 and "errors: 0" in out,
                "bench -P 8 -s 40000 over TLS: exit %d, %r %r" % (
                    rc, out, err))
        for resume in (False, True):
            before = f.resumed
            rc, out, err, _ = msgctl(
                "-H", f.addr, "--cacert", C.ca, "bench", "--reconnect",
                "-c", "2", "-n", "40", "--json",
                *(["--tls-resume"] if resume else []), timeout=60.0)
            r = json.loads(out) if rc == 0 else {}
            want = 40 if resume else 0
            t.check(rc == 0 and r.get("requests") == 40 and
                    r.get("handshakes_per_s", 0) > 0 and
                    r.get("resumed") == want and
                    f.resumed - before == want,
                    "--reconnect%s: exit %d, resumed %r (server %d), want "
                    "%d; %r" % (" --tls-resume" if resume else "", rc,
                                r.get("resumed"), f.resumed - before, want,
                                err))
        # --ramp: each connection's first PING over TLS before the next.
        rc, out, err, _ = msgctl("-H", f.addr, "--cacert", C.ca,
                                 "bench", "--ramp", "0", "-c", "3", "-n",
                                 "30", timeout=60.0)
        t.check(rc == 0 and "errors: 0" in out,
                "bench --ramp over TLS: exit %d, %r %r" % (rc, out, err))
        rc, out, err, _ = msgctl("-H", f.addr, "--tls", "bench", "-n", "10")
        t.check(rc == 3 and "certificate verify failed" in err,
                "bench, unverified server: exit %d, %r" % (rc, err))
    for args, want in ((["bench", "--reconnect", "--tls-resume"],
                        "--tls-resume needs TLS"),
                       (["--tls", "bench", "--tls-resume"],
                        "--tls-resume goes with --reconnect"),
                       (["--tls", "bench", "--reconnect", "-P", "2"],
                        "one request per connection")):
        rc, out, err, _ = msgctl("-H", "127.0.0.1:1", *args)
        t.check(rc == 2 and want in err, "%r: exit %d, %r" % (args, rc, err))


@t.case
def bench_reconnect_plain(t):
    # Without TLS, --reconnect measures TCP connections per second.
    srv = t.server(tcp=True)
    rc, out, err, _ = msgctl("-H", "127.0.0.1:%d" % srv.port, "bench",
                             "--reconnect", "-c", "2", "-n", "100",
                             "--op", "UPPER", timeout=60.0)
    t.check(rc == 0 and "handshakes/s:" in out and "TCP, no TLS" in out and
            "errors: 0" in out, "plain --reconnect: exit %d, %r %r" % (
                rc, out, err))


try:
    t.run()
finally:
    shutil.rmtree(TMP, ignore_errors=True)

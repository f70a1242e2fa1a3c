#!/usr/bin/env python3
"""test_tls.py: TLS listeners ("tls:" in listen, the tls group), server side.

Certificates are made at test time (tlscerts.py).  Cases:
- openssl s_client (a third-party client) sends a PING frame, gets PONG;
- Python's ssl module pipelines ECHOs, one large one, in order;
- plain TCP, a garbage record and a truncated ClientHello on the TLS
  listener are closed and counted (reason=protocol) while a TLS client of
  the same (only) worker is answered throughout;
- a handshake that stalls is closed after read_timeout (reason=timeout);
- mTLS: a client certificate from the CA authenticates (no AUTH needed with
  a token set, the subject logged); none, another CA's or an expired one is
  refused (reason=certificate); protected mode counts the listener as
  protected;
- reload with a new certificate: new connections get it; with a key that
  does not match: rolled back, the old certificate keeps serving; a TLS
  connection open at the reload is answered, then closed cleanly (it cannot
  be handed over);
- resumption across workers (shared ticket keys), counted; across a
  reload that keeps the trust, and not across one that changes tls.ca;
- the counters in the JSON, table and Prometheus renderings.
"""
import os
import select
import socket
import ssl
import subprocess
import time

import tlscerts
from harness import (MemTLS, Op, St, Suite, ctl, encode, free_port,
                     nobody_cannot_use, poll, proc_status, read_frame,
                     test_certs, tls_client_context, unix_and,
                     wait_closed, why_not_nobody, SKIP)
from statslib import (at_rest, ctl_stats, settle, settle_totals,
                      stats_json, totals)

t = Suite("test_tls")
if not tlscerts.available():
    print("test_tls: SKIP: no openssl command")
    raise SystemExit(SKIP)


def certs():
    """One set of certificates for the whole file (they take a moment)."""
    return test_certs()


def tls_server(extra=None, tls=None, workers=1, **kw):
    """A server with a unix listener and a TLS one on 127.0.0.1."""
    c = certs()
    group = {"cert": c.server, "key": c.server_key}
    group.update(tls or {})
    s = {"listen": None, "workers": workers, "tls": group}
    s.update(extra or {})
    return t.server(s, **kw, pick=unix_and("tls:", attr="tls_port"))


def client_ctx(cert=None, key=None):
    return tls_client_context(certs().ca, cert, key)


def tls_connect(srv, ctx=None, session=None, timeout=5.0):
    raw = socket.create_connection(("127.0.0.1", srv.tls_port),
                                   timeout=timeout)
    return (ctx or client_ctx()).wrap_socket(raw, server_hostname="localhost",
                                             session=session)


def request(s, op, value=b"", rid=1):
    s.sendall(encode(op, value, request_id=rid))
    return read_frame(s)


def tls_ping_ok(srv, ctx=None):
    try:
        with tls_connect(srv, ctx) as s:
            f = request(s, Op.PING)
            return f.status == St.OK and f.value == b"PONG"
    except (OSError, EOFError, TimeoutError, ValueError):
        return False


def resumed_ok(srv, tls12=False):
    """A second connection resumes the first one's session."""
    ctx = client_ctx()
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with tls_connect(srv, ctx) as s:
        request(s, Op.PING)
        sess = s.session
    with tls_connect(srv, ctx, session=sess) as s:
        return request(s, Op.PING).value == b"PONG" and s.session_reused


def check_counted(t, srv, base, key, want, timeout=5.0):
    """totals[key] - base[key] reaches want (polled), and no more."""
    tot = settle_totals(srv, lambda c: c[key] - base[key] >= want, timeout)
    n = tot[key] - base[key]
    return t.check(n == want, "%s counted %d, want %d" % (key, n, want))


def end_s_client(p):
    """Kill an openssl s_client and close its pipes (stdin may be broken)."""
    p.kill()
    p.wait(5)
    for f in (p.stdin, p.stdout, p.stderr):
        if f is None:
            continue
        try:
            f.close()
        except OSError:
            pass


@t.case
def s_client_ping(t):
    srv = tls_server()
    c = certs()
    p = subprocess.Popen(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.tls_port,
         "-CAfile", c.ca, "-verify_return_error", "-verify_hostname",
         "localhost", "-quiet", "-ign_eof"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    try:
        p.stdin.write(encode(Op.PING, request_id=7))
        p.stdin.flush()
        out = b""
        deadline = time.monotonic() + 10
        while len(out) < 20 and time.monotonic() < deadline:
            r, _, _ = select.select([p.stdout], [], [], 0.5)
            if r:
                b = os.read(p.stdout.fileno(), 4096)
                if not b:
                    break
                out += b
        t.check(out[16:20] == b"PONG" and out[:2] == b"MG",
                "s_client PING: got %r" % out[:40])
    finally:
        end_s_client(p)


@t.case
def renegotiation_refused(t):
    srv = tls_server()
    good = tls_connect(srv)
    base = totals(srv)
    c = certs()
    # s_client's "R" line asks for a renegotiation (TLS 1.2 only).
    p = subprocess.Popen(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.tls_port,
         "-CAfile", c.ca, "-tls1_2"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out = b""
        deadline = time.monotonic() + 10
        sent = False
        while time.monotonic() < deadline and p.poll() is None:
            if not sent and b"Verify return code" in out:
                p.stdin.write(b"R\n")
                p.stdin.flush()
                sent = True
            r, _, _ = select.select([p.stdout], [], [], 0.2)
            if r:
                b = os.read(p.stdout.fileno(), 65536)
                if not b:
                    break
                out += b
            if b"no renegotiation" in out:
                break
        t.check(b"RENEGOTIATING" in out and b"no renegotiation" in out,
                "renegotiation refused: %r" % out[-300:])
    finally:
        end_s_client(p)
    # The asker's connection is closed and counted, whatever it does next.
    check_counted(t, srv, base, "tls_renegotiations", 1)
    f = request(good, Op.ECHO, b"unaffected", rid=2)
    t.check_response(f, "the worker's other client", Op.ECHO, rid=2,
                     value=b"unaffected")
    good.close()


@t.case
def pipelined_echo(t):
    srv = tls_server({"output_limit": 65536})
    with tls_connect(srv) as s:
        n = 200
        vals = [("v%d-" % i).encode() * (i % 50 + 1) for i in range(n)]
        s.sendall(b"".join(encode(Op.ECHO, v, request_id=i + 1)
                           for i, v in enumerate(vals)))
        for i, v in enumerate(vals):
            f = read_frame(s)
            if not t.check_response(f, "pipelined ECHO %d" % i, Op.ECHO,
                                    rid=i + 1, value=v):
                break
        big = os.urandom(1 << 20)
        s.sendall(encode(Op.ECHO, big, request_id=999))
        f = read_frame(s, timeout=10)
        t.check_response(f, "1 MiB ECHO", Op.ECHO, rid=999, value=big)
        t.check(s.version() in ("TLSv1.2", "TLSv1.3"), s.version())


def client_hello():
    """The bytes of a real ClientHello (Python's, from a memory BIO)."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx().wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


@t.case
def bad_input_closed_and_counted(t):
    srv = tls_server()
    base = totals(srv)
    good = tls_connect(srv)
    t.check(request(good, Op.PING).value == b"PONG", "first PING")
    hello = client_hello()
    bad = [
        ("plain frame", encode(Op.PING), False),
        ("garbage record", b"\x16\x03\x01\x00\x30" + os.urandom(48), False),
        ("truncated ClientHello", hello[:len(hello) // 2], True),
        ("HTTP", b"GET / HTTP/1.0\r\n\r\n", False),
    ]
    for what, data, shut in bad:
        s = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=5)
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        how, got, secs = wait_closed(s, timeout=5)
        s.close()
        t.check(how in ("eof", "reset") and b"PONG" not in got,
                "%s: %s after %.2f s, got %r" % (what, how, secs, got[:40]))
        # The worker's other client sees nothing.
        f = request(good, Op.ECHO, what.encode(), rid=3)
        t.check_response(f, "ECHO beside %s" % what, Op.ECHO, rid=3,
                         value=what.encode())
    check_counted(t, srv, base, "tls_fail_protocol", len(bad))
    good.close()


@t.case
def random_records_after_handshake(t):
    srv = tls_server()
    base = totals(srv)
    good = tls_connect(srv)
    rounds = 8
    for i in range(rounds):
        m = MemTLS(("127.0.0.1", srv.tls_port), client_ctx())
        t.check(m.request(Op.PING)[16:20] == b"PONG", "PING %d" % i)
        # Random application-data records, and a random record header.
        junk = b"\x17\x03\x03" + (200).to_bytes(2, "big") + os.urandom(200)
        if i % 2:
            junk = os.urandom(300)
        m.sock.sendall(junk)
        how, got, secs = wait_closed(m.sock, timeout=5)
        m.sock.close()
        t.check(how in ("eof", "reset"), "record %d: %s" % (i, how))
        f = request(good, Op.ECHO, b"still", rid=i + 1)
        t.check_response(f, "ECHO beside junk %d" % i, Op.ECHO, rid=i + 1,
                         value=b"still")
    check_counted(t, srv, base, "tls_bad_records", rounds)
    good.close()


@t.case
def tls_to_a_plain_listener(t):
    srv = t.server({"workers": 1}, tcp=True)
    try:
        raw = socket.create_connection(srv.tcp_addr, timeout=5)
        s = client_ctx().wrap_socket(raw, server_hostname="localhost")
        s.close()
        ok = True
    except (OSError, ssl.SSLError):
        ok = False
    t.check(not ok, "a TLS handshake with a plain listener fails")
    t.check(srv.ping_ok(), "the plain listener still serves")


@t.case
def trickled_handshake_times_out(t):
    srv = tls_server({"read_timeout": 1, "idle_timeout": 30})
    base = totals(srv)
    hello = client_hello()
    s = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=5)
    t0 = time.monotonic()
    closed = False
    for b in hello:
        try:
            s.sendall(bytes([b]))
        except OSError:
            closed = True
            break
        r, _, _ = select.select([s], [], [], 0.2)
        if r:
            closed = True
            break
        if time.monotonic() - t0 > 5:
            break
    secs = time.monotonic() - t0
    s.close()
    t.check(closed and secs < 3, "trickled handshake closed after %.2f s" %
            secs)
    check_counted(t, srv, base, "tls_fail_timeout", 1)


@t.case
def huge_client_chain_refused(t):
    c = certs()
    srv = tls_server(tls={"ca": c.ca, "verify_client": "optional"})
    base = totals(srv)
    chain = os.path.join(c.dir, "huge-chain.pem")
    with open(c.client) as f:
        leaf = f.read()
    with open(c.other_ca) as f:
        extra = f.read()
    with open(chain, "w") as f:
        f.write(leaf + extra * (100 * 1024 // len(extra) + 1))
    ok = True
    try:
        with tls_connect(srv, client_ctx(chain, c.client_key)) as s:
            s.sendall(encode(Op.PING))
            read_frame(s)
    except (OSError, EOFError, ssl.SSLError):
        ok = False
    t.check(not ok, "a 100 KB client chain is refused")
    n = settle_totals(srv, lambda x: x["tls_fail_protocol"] +
                      x["tls_fail_cert"] > base["tls_fail_protocol"] +
                      base["tls_fail_cert"])
    t.check(n["tls_fail_protocol"] + n["tls_fail_cert"] ==
            base["tls_fail_protocol"] + base["tls_fail_cert"] + 1,
            "counted once")
    t.check(tls_ping_ok(srv), "the next client is served")


@t.case
def under_the_sandbox(t):
    # As root, the workers run as nobody, who cannot read the key (mode
    # 0600, root's): the master read it before they started.
    extra = {}
    if why_not_nobody() is None:
        extra["user"] = "nobody"
        t.check(nobody_cannot_use((certs().server_key, os.R_OK)) is not None,
                "nobody cannot read the key")
    srv = tls_server(extra, workers=2)
    for i in range(4):
        t.check(tls_ping_ok(srv), "PING %d" % i)
    if os.environ.get("MSGD_SECCOMP") != "off":
        for pid, state in srv.wait_workers():
            t.check(proc_status(pid, "Seccomp") == "2",
                    "worker %d runs under its seccomp filter" % pid)
    t.check("seccomp" not in srv.log().lower(), srv.log()[-400:])
    t.check(resumed_ok(srv), "resumption under the sandbox")


@t.case
def stalled_handshake_times_out(t):
    srv = tls_server({"read_timeout": 1, "idle_timeout": 30})
    base = totals(srv)
    hello = client_hello()
    s = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=5)
    s.sendall(hello[:5])
    how, got, secs = wait_closed(s, timeout=6)
    s.close()
    t.check(how in ("eof", "reset") and 0.8 <= secs <= 4,
            "stalled handshake: %s after %.2f s" % (how, secs))
    check_counted(t, srv, base, "tls_fail_timeout", 1)
    t.check(tls_ping_ok(srv), "a new TLS client is answered")


@t.case
def mtls(t):
    c = certs()
    token = "a-token-of-some-length"
    srv = tls_server({"auth_token": token},
                     tls={"ca": c.ca, "verify_client": "require"})
    base = totals(srv)
    with tls_connect(srv, client_ctx(c.client, c.client_key)) as s:
        # Authenticated by its certificate: ECHO needs no AUTH.
        f = request(s, Op.ECHO, b"hello", rid=2)
        t.check_response(f, "ECHO with a client certificate", Op.ECHO,
                         rid=2, value=b"hello")
    t.check(poll(lambda: "client certificate from 127.0.0.1" in srv.log()
                 and "CN=msgd-test-client" in srv.log(), timeout=5),
            "the subject is logged (RFC 2253)")
    # ... and shown by msgctl stats: JSON, Prometheus and the table.
    import json
    subj = "CN=msgd-test-client"
    rc, out, err = ctl_stats(srv, "--json")
    t.check(rc == 0 and [w.get("tls_last_subject")
                         for w in json.loads(out)["workers"]] == [subj],
            "JSON: the worker's last client subject: %r" % out[-300:])
    rc, prom, err = ctl_stats(srv, "--prometheus")
    t.check('msgd_tls_last_client_subject{worker="0",subject="%s"} 1' %
            subj in prom, "Prometheus: the last client subject")
    rc, table, err = ctl_stats(srv)
    t.check("worker 0 last client certificate: %s" % subj in table,
            "table: the last client subject: %r" % table[-300:])
    refused = [("no certificate", client_ctx()),
               ("another CA", client_ctx(c.other_client,
                                         c.other_client_key)),
               ("expired", client_ctx(c.expired_client,
                                      c.expired_client_key))]
    for what, ctx in refused:
        ok = True
        try:
            with tls_connect(srv, ctx) as s:
                # TLS 1.3: the refusal arrives after the client's Finished.
                s.sendall(encode(Op.PING))
                read_frame(s)
        except (OSError, EOFError, ssl.SSLError):
            ok = False
        t.check(not ok, "%s: refused" % what)
    check_counted(t, srv, base, "tls_fail_cert", len(refused))
    t.check(poll(lambda: "TLS client certificate refused from 127.0.0.1"
                 in srv.log(), timeout=5), "the refusal is logged")
    tot = totals(srv)
    t.check(tot["tls_client_certs"] - base["tls_client_certs"] == 1,
            "one client authenticated by certificate")


@t.case
def resumption_after_trust_change(t):
    # A session's client certificate was verified under the trust of its
    # time: a reload that keeps tls.ca and verify_client keeps resumption;
    # one that changes tls.ca ends it, so a resumed session no longer
    # passes for a verified certificate (before: the session id context
    # was the same for every trust, and the old ticket authenticated for
    # its lifetime, one to two hours).
    c = certs()
    srv = tls_server({"auth_token": "a-token-of-some-length"},
                     tls={"ca": c.ca, "verify_client": "require"})

    def sessions():
        out = {}
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = client_ctx(c.client, c.client_key)
            ctx.maximum_version = v
            with tls_connect(srv, ctx) as s:
                f = request(s, Op.ECHO, b"first", rid=1)
                t.check_response(f, "%s: ECHO with a client certificate" %
                                 v.name, Op.ECHO, rid=1, value=b"first")
                out[v] = (ctx, s.session)
        return out

    def resume(ctx, sess):
        """(resumed, ECHO's status), or (False, why it was refused)."""
        try:
            with tls_connect(srv, ctx, session=sess) as s:
                reused = s.session_reused
                # TLS 1.3: a refusal arrives after the client's Finished.
                return reused, request(s, Op.ECHO, b"again", rid=2).status
        except (OSError, EOFError, ValueError, ssl.SSLError) as e:
            return False, type(e).__name__

    def reload(what):
        rc, out, err, _ = ctl(srv, "reload", timeout=30)
        t.check(rc == 0, "reload (%s): rc %d, %r" % (what, rc,
                                                      (out + err)[-300:]))

    got = sessions()
    reload("nothing changed")
    for v, (ctx, sess) in got.items():
        reused, st = resume(ctx, sess)
        t.check(reused and st == St.OK, "%s: a session resumes across a "
                "reload that keeps the trust: resumed %s, ECHO %r" % (
                    v.name, reused, st))
    got = sessions()
    srv.settings["tls"] = {"cert": c.server, "key": c.server_key,
                           "ca": c.other_ca, "verify_client": "require"}
    srv.write_conf()
    reload("tls.ca changed")
    for v, (ctx, sess) in got.items():
        reused, st = resume(ctx, sess)
        t.check(not reused and st != St.OK, "%s: a session from before "
                "tls.ca changed: resumed %s, ECHO %r (want a full "
                "handshake, refused)" % (v.name, reused, st))


@t.case
def mtls_listener_is_protected(t):
    c = certs()
    # No token, a listener beyond loopback: protected mode would give
    # remote peers PING only, unless certificates protect the listener.
    srv = t.server({"listen": None, "workers": 1,
                    "tls": {"cert": c.server, "key": c.server_key,
                            "ca": c.ca, "verify_client": "require"}},
                   pick=unix_and("tls:", "0.0.0.0", "tls_port"))
    t.check("protected mode" not in srv.log(),
            "no protected-mode warning: %r" % srv.log()[-300:])
    with tls_connect(srv, client_ctx(c.client, c.client_key)) as s:
        f = request(s, Op.ECHO, b"x", rid=4)
        t.check_response(f, "ECHO on a certificate listener", Op.ECHO,
                         rid=4, value=b"x")


def peer_der(srv):
    with tls_connect(srv) as s:
        return s.getpeercert(binary_form=True)


def file_der(path):
    with open(path, "rb") as f:
        return ssl.PEM_cert_to_DER_cert(f.read().decode())


@t.case
def reload_certificates(t):
    c = certs()
    srv = tls_server(workers=2)
    t.check(peer_der(srv) == file_der(c.server), "serving server.crt")
    old = tls_connect(srv)
    t.check(request(old, Op.PING).value == b"PONG", "PING before reload")
    # A key that does not match: rolled back, the old one keeps serving.
    srv.settings["tls"] = {"cert": c.server2, "key": c.server_key}
    srv.write_conf()
    rc, out, err, _ = ctl(srv, "reload", timeout=30)
    t.check(rc != 0 and "does not match" in out + err,
            "bad reload: rc %d, %r" % (rc, (out + err)[-300:]))
    t.check(request(old, Op.PING, rid=2).value == b"PONG",
            "the open connection survives a rolled-back reload")
    t.check(peer_der(srv) == file_der(c.server), "still server.crt")
    # A good one: new connections get it.
    srv.settings["tls"] = {"cert": c.server2, "key": c.server2_key}
    srv.write_conf()
    rc, out, err, _ = ctl(srv, "reload", timeout=30)
    t.check(rc == 0, "good reload: rc %d, %r" % (rc, (out + err)[-300:]))
    t.check(poll(lambda: peer_der(srv) == file_der(c.server2), timeout=5),
            "new connections get server2.crt")
    # The connection from before: not handed over, closed cleanly.
    how, got, secs = wait_closed(old, timeout=10)
    t.check(how == "eof", "the old TLS connection: %s after %.2f s" % (
        how, secs))
    old.close()


def old_workers_draining(srv):
    """Every worker of a generation older than the newest says it drains
    (it had read its connections' input by then: conn_drain_all)."""
    ws = stats_json(srv)["workers"]
    newest = max(w["generation"] for w in ws)
    old = [w for w in ws if w["generation"] < newest]
    return old and all(w["state"] == "draining" for w in old)


@t.case
def partial_record_at_reload(t):
    # Half the record of a PING is in when a reload retires the worker:
    # the request is in progress, as half a frame over TCP is, so the
    # retiring worker waits for the rest (read_timeout) and answers it
    # (before: bytes of a record not yet whole stayed inside OpenSSL, the
    # connection looked idle, and was closed unanswered at once).
    srv = tls_server({"shutdown_timeout": 10, "read_timeout": 10})
    m = MemTLS(("127.0.0.1", srv.tls_port), client_ctx())
    try:
        m.request(Op.PING, rid=1)   # the handshake and its ticket are done
        rec = m.wrap(encode(Op.PING, request_id=5))
        m.sock.sendall(rec[:len(rec) // 2])
        base = totals(srv)
        rc, out, err, _ = ctl(srv, "reload", timeout=30)
        t.check(rc == 0, "reload: rc %d, %r" % (rc, (out + err)[-300:]))
        t.check(poll(lambda: old_workers_draining(srv), timeout=10),
                "the old worker drains")
        # Anything from the server now is its end (close_notify, FIN).
        r, _, _ = select.select([m.sock], [], [], 0.3)
        t.check(not r, "the connection was ended at the drain, its "
                "request half received")
        m.sock.sendall(rec[len(rec) // 2:])
        try:
            data = m.read_frames(1)
        except (OSError, EOFError, TimeoutError, ssl.SSLError) as e:
            data = repr(e).encode()
        t.check(data[:2] == b"MG" and data[16:20] == b"PONG" and
                int.from_bytes(data[8:12], "big") == 5,
                "the request half in at the reload: answered %r" % data[:40])
        t.check(settle_totals(srv, lambda c: c["conn_closed"] >
                              base["conn_closed"])["read_timeouts"] ==
                base["read_timeouts"], "no read timeout")
    finally:
        m.sock.close()


@t.case
def recycled_worker_closes_cleanly(t):
    # max_requests recycles the worker: a TLS connection is not handed
    # over; answered to the end, then closed with close_notify (EOF).
    srv = tls_server({"max_requests": 20})
    ctx = client_ctx()
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    s = tls_connect(srv, ctx)
    answered, how = 0, None
    try:
        for i in range(100):
            try:
                f = request(s, Op.ECHO, b"n%d" % i, rid=i + 1)
            except EOFError:
                how = "eof"
                break
            t.check_response(f, "ECHO %d" % i, Op.ECHO, rid=i + 1,
                             value=b"n%d" % i)
            answered += 1
    except (ssl.SSLError, OSError) as e:
        how = "error %r" % e
    finally:
        s.close()
    t.check(how == "eof" and 10 <= answered < 100,
            "after %d answers: %s (want a clean EOF)" % (answered, how))
    t.check(poll(lambda: "recycling" in srv.log(), timeout=5),
            "the worker recycled")
    t.check(poll(lambda: tls_ping_ok(srv), timeout=5),
            "a new TLS connection is served")


@t.case
def resumption(t):
    srv = tls_server(workers=2)
    base = totals(srv)
    ctx = client_ctx()
    with tls_connect(srv, ctx) as s:
        request(s, Op.PING)      # the ticket comes after the handshake
        sess = s.session
    t.check(sess is not None, "a session to resume")
    reused = 0
    for i in range(6):
        with tls_connect(srv, ctx, session=sess) as s:
            f = request(s, Op.PING, rid=i + 1)
            t.check(f.value == b"PONG", "PING %d" % i)
            reused += s.session_reused
            if s.session is not None:
                sess = s.session
    t.check(reused == 6, "resumed %d of 6 (workers share ticket keys)" %
            reused)
    check_counted(t, srv, base, "tls_resumed", 6)
    t.check(resumed_ok(srv, tls12=True), "TLS 1.2 resumes too (tickets)")


@t.case
def renderings(t):
    srv = tls_server()
    t.check(tls_ping_ok(srv), "PING")
    settle_totals(srv, lambda c: c["tls_handshakes"] >= 1)
    rc, prom, err = ctl_stats(srv, "--prometheus")
    for want in ('msgd_tls_handshakes_total',
                 'msgd_tls_handshake_failures_total{reason="timeout"',
                 'msgd_tls_handshakes_by_version_total{version="TLSv1.3"',
                 'msgd_tls_connections_active'):
        t.check(want in prom, "prometheus has %s" % want)
    rc, table, err = ctl_stats(srv)
    t.check("tls: active" in table, "the table shows TLS: %r" % table[-400:])


def check_conf(t, d, tls, listen=None, want_rc=0, want=(), name="x"):
    """msgd -t on a config with a TLS listener and group tls; want: regexes
    its stderr must match."""
    import re
    from harness import MSGD, conf_text, private_settings, run
    path = os.path.join(d, name + ".conf")
    settings = {"listen": listen or ["tls:127.0.0.1:%d" % free_port()],
                "tls": tls}
    settings.update(private_settings(d))
    with open(path, "w") as f:
        f.write(conf_text(settings))
    rc, out, err, _ = run([MSGD, "-t", "-c", path])
    ok = t.check(rc == want_rc, "%s: msgd -t exit %d, want %d: %r" % (
        name, rc, want_rc, err))
    for w in want:
        ok = t.check(re.search(w, err), "%s: stderr lacks %r: %r" % (
            name, w, err)) and ok
    return ok


@t.case
def busy_closes_without_frame(t):
    srv = tls_server({"max_connections": 2})
    settle(srv, lambda d: at_rest(srv, d))
    base = totals(srv)
    keep = [tls_connect(srv), tls_connect(srv)]
    try:
        for i, s in enumerate(keep):
            t.check(request(s, Op.PING, rid=i + 1).value == b"PONG",
                    "connection %d of 2" % (i + 1))
        raw = socket.create_connection(("127.0.0.1", srv.tls_port),
                                       timeout=5)
        how, got, secs = wait_closed(raw, timeout=5)
        raw.close()
        t.check(how in ("eof", "reset") and got == b"",
                "the 3rd is closed without a byte: %s, %r" % (how, got[:20]))
        check_counted(t, srv, base, "conn_busy", 1)
        t.check(request(keep[0], Op.ECHO, b"x", rid=9).value == b"x",
                "the first two are still served")
    finally:
        for s in keep:
            s.close()


@t.case
def config_check(t):
    import shutil
    import tempfile
    c = certs()
    d = tempfile.mkdtemp(prefix="msgd-tls-check-")
    try:
        good = {"cert": c.server, "key": c.server_key}
        check_conf(t, d, good, name="good")
        check_conf(t, d, {"cert": c.soon, "key": c.soon_key}, name="soon",
                   want=[r"soon\.conf:\d+: tls\.cert: .*expires in "
                         r"(9|10) days"])
        check_conf(t, d, {"cert": c.expired, "key": c.expired_key},
                   want_rc=1, name="expired",
                   want=[r"expired\.conf:\d+: tls\.cert: .*has expired"])
        check_conf(t, d, {"cert": c.server, "key": c.server2_key},
                   want_rc=1, name="mismatch",
                   want=[r"mismatch\.conf:\d+: tls\.key: .*does not "
                         r"match"])
        loose = os.path.join(d, "loose.key")
        shutil.copy(c.server_key, loose)
        os.chmod(loose, 0o640)
        check_conf(t, d, {"cert": c.server, "key": loose}, want_rc=1,
                   name="mode", want=[r"mode\.conf:\d+: tls\.key: .*"
                                      r"owner only .*0640"])
        check_conf(t, d, {"cert": c.server, "key": os.path.join(d, "no")},
                   want_rc=1, name="missing",
                   want=[r"missing\.conf:\d+: tls\.key: .*No such"])
        notpem = os.path.join(d, "notpem.crt")
        with open(notpem, "w") as f:
            f.write("not a certificate\n")
        check_conf(t, d, {"cert": notpem, "key": c.server_key}, want_rc=1,
                   name="notpem", want=[r"notpem\.conf:\d+: tls\.cert: "
                                        r".*cannot load"])
        check_conf(t, d, {}, want_rc=1, name="nocert",
                   want=[r"nocert\.conf:\d+: listen: a \"tls:\" listener "
                         r"needs tls\.cert and tls\.key"])
        check_conf(t, d, dict(good, verify_client="require"), want_rc=1,
                   name="noca", want=[r"noca\.conf:\d+: "
                                      r"tls\.verify_client: .*needs tls\.ca"])
        check_conf(t, d, dict(good, verify_client="maybe"), want_rc=1,
                   name="word", want=[r"word\.conf:\d+: tls\.verify_client"
                                      r": must be \"off\", \"optional\" or "
                                      r"\"require\""])
        check_conf(t, d, dict(good, ciphers="NOTACIPHER"), want_rc=1,
                   name="ciphers", want=[r"ciphers\.conf:\d+: tls\.ciphers"])
        check_conf(t, d, dict(good, ciphersuites="TLS_NOPE"), want_rc=1,
                   name="suites",
                   want=[r"suites\.conf:\d+: tls\.ciphersuites"])
        check_conf(t, d, good, listen=["tls:unix:" + os.path.join(d, "s")],
                   want_rc=1, name="unix",
                   want=[r"unix\.conf:\d+: listen: .*TLS needs host:port"])
        check_conf(t, d, dict(good, min_protocol="TLSv1.3"), name="tls13")
    finally:
        shutil.rmtree(d, ignore_errors=True)


@t.case
def min_protocol_13(t):
    srv = tls_server(tls={"min_protocol": "TLSv1.3"})
    ctx = client_ctx()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ok = True
    try:
        with tls_connect(srv, ctx) as s:
            request(s, Op.PING)
    except (OSError, EOFError, ssl.SSLError):
        ok = False
    t.check(not ok, "a TLS 1.2 client is refused by min_protocol TLSv1.3")
    t.check(tls_ping_ok(srv), "a TLS 1.3 client is served")
    srv2 = tls_server()
    with tls_connect(srv2, ctx) as s:
        t.check(request(s, Op.PING).value == b"PONG" and
                s.version() == "TLSv1.2", "TLS 1.2 by default: %s" %
                s.version())


t.run()

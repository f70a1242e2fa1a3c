"""test_proxy: the PROXY protocol on "proxy:" listeners (issue 14).

The "balancer" is this test, sending raw v1 and v2 headers from a client
socket bound to a chosen loopback address (127.0.0.0/8 is all ours):
BAL (127.0.0.5) is in proxy_trusted, the clients its headers name are
127.0.0.9 (in the allow list) and 127.0.0.10 (not in it).

- trusted: a v2 header naming 127.0.0.9 then ECHO and UPPER in the same
  segment: both answered in order; the same with v1; a header trickled a
  byte at a time, then a frame; a v2 LOCAL header (a health check) from
  BAL, which the allow list does not hold: PING served.  proxy_headers
  and proxy_headers_local count them.
- allow list on the real client: a header naming 127.0.0.10 is closed
  without an answer (allow_rejected).
- IPv6 clients (v2 INET6, v1 TCP6) and a v2 header with TLVs, judged by
  an allow list of IPv6 blocks.
- untrusted: from 127.0.0.1 (not in proxy_trusted), even with a valid
  header naming 127.0.0.9: closed at accept, no answer (reason untrusted).
- refusals, each closed without an answer and counted by reason: a frame
  where the header must be (none), a TLS ClientHello (none), a bad port
  (malformed), v1 without CR (malformed), 200 bytes without CRLF
  (too_long), v2 announcing 65535 bytes (too_long), half a header then
  EOF (truncated), half a header then silence (timeout, read_timeout 1 s).
  The stats table has the proxy line, Prometheus the series.
- protected mode (no token, listener on loopback): a header naming
  192.0.2.7 gets PING only, ECHO DENIED; naming 127.0.0.9: ECHO served.
- TLS: "proxy:tls:" listener: header first, then the handshake, then PING;
  a client the header names outside the allow list is closed.
- reload: a connection whose header named 127.0.0.9 is handed over to
  the new generation with that address: it stays served while the allow
  list holds 127.0.0.9, and is closed (allow_rejected in the new worker)
  once a reload's allow list drops it.  proxy_trusted changes apply too.
- msgctl -c skips a proxy: listener listed first.
- msgd -t: a proxy: listener without proxy_trusted, proxy: on a unix
  socket, a bad proxy_trusted block: each refused with file:line, the
  setting and the form allowed.
"""
import os
import socket
import ssl
import struct
import time

from harness import (MSGD, Op, St, Suite, closed_unanswered, connect_from,
                     ctl, encode, read_frame, run, test_certs, unix_and,
                     wait_closed)
from reloadcases import reload
from statslib import ctl_stats, settle_totals, totals

t = Suite("test_proxy")

BAL = "127.0.0.5"       # the trusted balancer
CLIENT = "127.0.0.9"    # a client the allow list holds
OTHER = "127.0.0.10"    # a client it does not
V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(src, sport=40000, dst=None, dport=7878, cmd=0x21):
    """A v2 PROXY (or LOCAL, cmd=0x20) header for TCP over IPv4 or IPv6."""
    if cmd == 0x20:
        return V2SIG + bytes([0x20, 0x00, 0, 0])
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    dst = dst or ("::1" if fam == socket.AF_INET6 else "127.0.0.1")
    body = socket.inet_pton(fam, src) + socket.inet_pton(fam, dst) + \
        struct.pack(">HH", sport, dport)
    return V2SIG + bytes([0x21, 0x11 if fam == socket.AF_INET else 0x21]) + \
        struct.pack(">H", len(body)) + body


def v1(src, sport=40000, dst=None, dport=7878):
    proto = "TCP6" if ":" in src else "TCP4"
    dst = dst or ("::1" if proto == "TCP6" else "127.0.0.1")
    return ("PROXY %s %s %s %d %d\r\n" % (proto, src, dst, sport,
                                           dport)).encode()


def connect(addr, src=BAL, timeout=5.0):
    return connect_from(addr, src, timeout)


def proxy_server(t, settings=None, tls=False):
    """msgd with its unix socket (for the harness) and a proxy: listener
    on 127.0.0.1; returns (server, the listener's address)."""
    prefix = "proxy:tls:" if tls else "proxy:"
    s = {"workers": 1, "listen": None, "proxy_trusted": [BAL + "/32"],
         "allow": [CLIENT + "/32"]}
    s.update(settings or {})
    if tls:
        s["tls"] = {"cert": test_certs().server,
                    "key": test_certs().server_key}
    srv = t.server(s, pick=unix_and(prefix, attr="proxy_port"))
    return srv, ("127.0.0.1", srv.proxy_port)


def served(addr, data, want, src=BAL):
    """Send data (header and frames) in one segment; (ok, detail) that the
    frames want ([(op, value)]) are answered in order."""
    try:
        s = connect(addr, src)
    except OSError as e:
        return False, "connect: %s" % e
    try:
        s.sendall(data)
        got = []
        for op, value in want:
            f = read_frame(s, timeout=5)
            got.append(f)
            if f.opcode != op or f.status != St.OK or f.value != value:
                return False, "got %r" % got
        return True, ""
    except (OSError, EOFError, TimeoutError, ValueError) as e:
        return False, repr(e)
    finally:
        s.close()


def closed(addr, data, src=BAL, close_after=False, timeout=5.0):
    """(ok, detail): after data, the connection is closed with no byte of
    an answer (close_after: we shut our side first)."""
    return closed_unanswered(addr, data, src, close_after, timeout)


def counted(srv, base, **want):
    """Poll the totals until each counter grew by want; (ok, delta)."""
    def grown(tot):
        return all(tot.get(k, 0) - base.get(k, 0) >= v
                   for k, v in want.items())
    tot = settle_totals(srv, grown)
    d = {k: tot.get(k, 0) - base.get(k, 0) for k in want}
    return grown(tot), d


PINGS = [(Op.ECHO, b"one"), (Op.UPPER, b"ABC")]
FRAMES = encode(Op.ECHO, b"one", request_id=1) + \
    encode(Op.UPPER, b"abc", request_id=2)


@t.case
def trusted(t):
    srv, addr = proxy_server(t)
    base = totals(srv)
    ok, why = served(addr, v2(CLIENT) + FRAMES, PINGS)
    t.check(ok, "v2 header + two frames in one segment: %s" % why)
    ok, why = served(addr, v1(CLIENT) + FRAMES, PINGS)
    t.check(ok, "v1 header + two frames in one segment: %s" % why)
    # A header trickled a byte at a time, then a frame.
    s = connect(addr)
    try:
        for b in v2(CLIENT, sport=1234):
            s.sendall(bytes([b]))
            time.sleep(0.002)
        s.sendall(encode(Op.PING, request_id=7))
        f = read_frame(s, timeout=5)
        t.check(f.status == St.OK and f.value == b"PONG",
                "trickled header, then PING: %r" % f)
    finally:
        s.close()
    # LOCAL: the balancer's own health check, whatever the allow list.
    ok, why = served(addr, v2(None, cmd=0x20) + encode(Op.PING),
                     [(Op.PING, b"PONG")])
    t.check(ok, "v2 LOCAL health check: %s" % why)
    ok, d = counted(srv, base, proxy_ok=4, proxy_local=1)
    t.check(ok, "proxy_headers +4, local +1: %r" % d)
    tot = totals(srv)
    bad = {k: v - base[k] for k, v in tot.items() if k.startswith(
        "proxy_") and k not in ("proxy_ok", "proxy_local") and v != base[k]}
    t.check(not bad, "no refusal counted: %r" % bad)
    # The real client, not the balancer, is judged by the allow list.
    base = totals(srv)
    ok, why = closed(addr, v2(OTHER) + encode(Op.PING))
    t.check(ok, "header naming %s (not allowed): %s" % (OTHER, why))
    ok, why = closed(addr, v1(OTHER) + encode(Op.PING))
    t.check(ok, "v1 header naming %s (not allowed): %s" % (OTHER, why))
    ok, d = counted(srv, base, allow_rejected=2, proxy_ok=2)
    t.check(ok, "allow_rejected +2: %r" % d)


@t.case
def ipv6_and_tlvs(t):
    """IPv6 clients (v2 INET6, v1 TCP6) through an IPv4 balancer, and a v2
    header with TLVs (skipped), judged by an allow list of IPv6 blocks."""
    srv, addr = proxy_server(t, {"allow": ["2001:db8::/32"],
                                 "protected": False})
    base = totals(srv)
    ok, why = served(addr, v2("2001:db8::9") + FRAMES, PINGS)
    t.check(ok, "v2 INET6 client 2001:db8::9: %s" % why)
    ok, why = served(addr, v1("2001:db8::9") + FRAMES, PINGS)
    t.check(ok, "v1 TCP6 client 2001:db8::9: %s" % why)
    # PP2_TYPE_AUTHORITY and PP2_TYPE_NOOP after the addresses.
    h = v2("2001:db8::9")
    tlvs = b"\x02\x00\x05hosta" + b"\x04\x00\x03xyz"
    h = h[:14] + struct.pack(">H", struct.unpack(">H", h[14:16])[0] +
                             len(tlvs)) + h[16:] + tlvs
    ok, why = served(addr, h + FRAMES, PINGS)
    t.check(ok, "v2 with two TLVs: %s" % why)
    ok, why = closed(addr, v2("2001:db9::1") + encode(Op.PING))
    t.check(ok, "client 2001:db9::1 outside the allow list: %s" % why)
    ok, why = closed(addr, v2(CLIENT) + encode(Op.PING))
    t.check(ok, "IPv4 client %s outside the allow list: %s" % (CLIENT, why))
    ok, d = counted(srv, base, proxy_ok=5, allow_rejected=2)
    t.check(ok, "counted: %r" % d)


@t.case
def untrusted(t):
    srv, addr = proxy_server(t)
    base = totals(srv)
    ok, why = closed(addr, v2(CLIENT) + encode(Op.PING), src="127.0.0.1")
    t.check(ok, "from 127.0.0.1 (not in proxy_trusted): %s" % why)
    ok, why = closed(addr, b"", src="127.0.0.6")
    t.check(ok, "from 127.0.0.6, nothing sent: %s" % why)
    ok, d = counted(srv, base, proxy_untrusted=2)
    t.check(ok, "proxy_refused{untrusted} +2: %r" % d)
    t.check(totals(srv)["proxy_ok"] == base["proxy_ok"],
            "no header accepted from an untrusted balancer")


@t.case
def refusals(t):
    srv, addr = proxy_server(t, {"read_timeout": 1})
    base = totals(srv)
    cases = [
        ("a frame first", encode(Op.PING), False, "proxy_none"),
        ("a TLS ClientHello first", b"\x16\x03\x01\x00\xc8\x01\x00",
         False, "proxy_none"),
        ("port 65536", b"PROXY TCP4 127.0.0.9 127.0.0.1 65536 7878\r\n",
         False, "proxy_malformed"),
        ("v1 without CR", b"PROXY TCP4 127.0.0.9 127.0.0.1 1 7878\n",
         False, "proxy_malformed"),
        ("TCP4 with an IPv6 address", b"PROXY TCP4 ::1 127.0.0.1 1 2\r\n",
         False, "proxy_malformed"),
        ("v2 version 3", V2SIG + b"\x31\x11\x00\x0c" + bytes(12), False,
         "proxy_malformed"),
        ("200 bytes without CRLF", b"PROXY " + b"A" * 194, False,
         "proxy_too_long"),
        ("v2 announcing 65535 bytes", V2SIG + b"\x21\x11\xff\xff", False,
         "proxy_too_long"),
        ("half a v2 header, EOF", v2(CLIENT)[:20], True,
         "proxy_truncated"),
        ("half a v1 header, EOF", v1(CLIENT)[:20], True,
         "proxy_truncated"),
        ("connect, EOF", b"", True, "proxy_truncated"),
    ]
    want = {}
    for what, data, eof, counter in cases:
        ok, why = closed(addr, data, close_after=eof)
        t.check(ok, "%s: %s" % (what, why))
        want[counter] = want.get(counter, 0) + 1
    # Slow: half a header, then nothing: read_timeout (1 s) closes it.
    t0 = time.monotonic()
    ok, why = closed(addr, v2(CLIENT)[:20], timeout=6)
    secs = time.monotonic() - t0
    t.check(ok and 0.8 <= secs < 5, "half a header, then silence: closed "
            "at read_timeout: %s" % why)
    want["proxy_timeout"] = 1
    ok, d = counted(srv, base, **want)
    t.check(ok, "refusals by reason, want %r: %r" % (want, d))
    t.check(totals(srv)["proxy_ok"] == base["proxy_ok"],
            "no header accepted among the refusals")
    # The table and Prometheus show them.
    rc, out, err = ctl_stats(srv)
    t.check(rc == 0 and "proxy: headers 0 (local 0); refused: untrusted 0, "
            "none 2, malformed 4, too long 2, truncated 3, timeout 1" in out,
            "stats table's proxy line: %r" % [
                l for l in out.splitlines() if l.startswith("proxy")])
    rc, out, err = ctl_stats(srv, "--prometheus")
    t.check(rc == 0 and 'msgd_proxy_refused_total{reason="too_long",worker="0"} 2'
            in out, "Prometheus: %r" % [l for l in out.splitlines()
                                        if "proxy" in l][:12])


def echo_status(addr, header):
    """(PING status, ECHO status) on one connection after header."""
    s = connect(addr)
    try:
        s.sendall(header + encode(Op.PING, request_id=1) +
                  encode(Op.ECHO, b"x", request_id=2))
        return read_frame(s).status, read_frame(s).status
    finally:
        s.close()


@t.case
def protected_mode(t):
    srv, addr = proxy_server(t, {"allow": None})
    st = echo_status(addr, v2("192.0.2.7"))
    t.check(st == (St.OK, St.DENIED), "remote client 192.0.2.7 in "
            "protected mode: PING OK, ECHO DENIED; got %r" % (st,))
    st = echo_status(addr, v1("192.0.2.7"))
    t.check(st == (St.OK, St.DENIED), "the same over v1: %r" % (st,))
    st = echo_status(addr, v2(CLIENT))
    t.check(st == (St.OK, St.OK), "loopback client %s: served; got %r" % (
        CLIENT, st))
    # The master warns at start, as for a listener beyond loopback.
    t.check("protected mode: listening beyond loopback" in srv.log(),
            "the start-up warning counts a proxy: listener on loopback")
    # Without protected mode the remote client is served.
    srv2, addr2 = proxy_server(t, {"allow": None, "protected": False})
    st = echo_status(addr2, v2("192.0.2.7"))
    t.check(st == (St.OK, St.OK), "protected = false: %r" % (st,))


@t.case
def over_tls(t):
    srv, addr = proxy_server(t, tls=True)
    ctx = ssl.create_default_context(cafile=test_certs().ca)
    base = totals(srv)
    s = connect(addr)
    try:
        s.sendall(v2(CLIENT))
        ts = ctx.wrap_socket(s, server_hostname="localhost")
        ts.sendall(encode(Op.ECHO, b"tls", request_id=3))
        f = read_frame(ts, timeout=5)
        t.check(f.status == St.OK and f.value == b"tls",
                "header, TLS handshake, ECHO: %r" % f)
        ts.close()
    except (OSError, ssl.SSLError, EOFError, TimeoutError) as e:
        t.check(False, "header then TLS: %r" % e)
        s.close()
    ok, why = closed(addr, v2(OTHER))
    t.check(ok, "TLS listener, header naming %s: %s" % (OTHER, why))
    ok, why = closed(addr, b"\x16\x03\x01\x00\xc8\x01\x00")
    t.check(ok, "TLS listener, ClientHello without a header: %s" % why)
    ok, d = counted(srv, base, proxy_ok=2, allow_rejected=1, proxy_none=1,
                    tls_handshakes=1)
    t.check(ok, "counted: %r" % d)


@t.case
def reload_handover(t):
    srv, addr = proxy_server(t, {"allow": [CLIENT + "/32", OTHER + "/32"]})
    s = connect(addr)
    s2 = connect(addr)
    try:
        s.sendall(v2(CLIENT) + encode(Op.PING, request_id=1))
        s2.sendall(v2(OTHER) + encode(Op.PING, request_id=1))
        t.check(read_frame(s).status == St.OK, "before reload")
        t.check(read_frame(s2).status == St.OK, "before reload (other)")
        # The new allow list holds CLIENT only: OTHER's connection, handed
        # over with its real address, is closed by the new worker.
        srv.settings["allow"] = [CLIENT + "/32"]
        srv.write_conf()
        base = totals(srv)
        rc, out, err, _ = reload(srv, conf=srv.conf_path)
        t.check(rc == 0, "reload: %d %r" % (rc, err))
        s.sendall(encode(Op.ECHO, b"after", request_id=2))
        f = read_frame(s, timeout=5)
        t.check(f.status == St.OK and f.value == b"after",
                "%s's connection after the reload: %r" % (CLIENT, f))
        how, got, secs = wait_closed(s2, 5)
        t.check(how in ("eof", "reset") and got == b"",
                "%s's connection after the reload dropped it: %s %r" % (
                    OTHER, how, got[:40]))
        ok, d = counted(srv, base, conn_handed_off=2, allow_rejected=1)
        t.check(ok, "handed over with the real address: %r" % d)
    finally:
        s.close()
        s2.close()
    # proxy_trusted changes with a reload too.
    srv.settings["proxy_trusted"] = ["127.0.0.6/32"]
    srv.write_conf()
    rc, out, err, _ = reload(srv, conf=srv.conf_path)
    t.check(rc == 0, "reload: %d %r" % (rc, err))
    ok, why = closed(addr, v2(CLIENT) + encode(Op.PING), src=BAL)
    t.check(ok, "%s no longer trusted: %s" % (BAL, why))
    ok, why = served(addr, v2(CLIENT) + encode(Op.PING), [(Op.PING,
                     b"PONG")], src="127.0.0.6")
    t.check(ok, "127.0.0.6 trusted now: %s" % why)


@t.case
def msgctl_skips_proxy_listeners(t):
    """msgctl -c takes the first listen address it can speak to: not a
    proxy: one, which wants a balancer's header."""
    srv, addr = proxy_server(t)
    srv.settings["listen"] = list(reversed(srv.settings["listen"]))
    srv.write_conf()
    rc, out, err, _ = ctl(srv, "ping")
    t.check(rc == 0 and "PONG" in out, "msgctl -c with proxy: listed first: "
            "exit %d, %r %r" % (rc, out, err))
    tot = totals(srv)
    t.check(tot["proxy_none"] == 0 and tot["proxy_untrusted"] == 0,
            "msgctl went to the proxy: listener: %r" % {
                k: v for k, v in tot.items() if k.startswith("proxy_")})


def config_refused(t, what, body, want):
    d = t.server({}, start=False, health=False).dir
    path = os.path.join(d, "bad.conf")
    with open(path, "w") as f:
        f.write(body)
    rc, out, err, _ = run([MSGD, "-t", "-c", path])
    t.check(rc != 0 and all(w in err for w in want),
            "%s: exit %d, stderr should say %r: %r" % (what, rc, want, err))


@t.case
def config_check(t):
    config_refused(t, "proxy: without proxy_trusted",
                   'workers = 1;\nlisten = [ "proxy:127.0.0.1:7878" ];\n',
                   ["bad.conf:2", "listen", "proxy_trusted",
                    '[ "10.0.0.5/32" ]'])
    config_refused(t, "proxy: on a unix socket",
                   'workers = 1;\nproxy_trusted = [ "127.0.0.5" ];\n'
                   'listen = [ "proxy:unix:/tmp/x.sock" ];\n',
                   ["bad.conf:3", "listen", "host:port"])
    config_refused(t, "a bad proxy_trusted block",
                   'workers = 1;\nlisten = [ "proxy:127.0.0.1:7878" ];\n'
                   'proxy_trusted = [ "127.0.0.5/33" ];\n',
                   ["bad.conf:3", "proxy_trusted", "127.0.0.5/33"])
    config_refused(t, "proxy_trusted not a list",
                   'workers = 1;\nlisten = [ "proxy:127.0.0.1:7878" ];\n'
                   'proxy_trusted = "127.0.0.5";\n',
                   ["bad.conf:3", "proxy_trusted", "list of address "
                    "blocks"])


t.run()

"""test_remote_access: the allow list and protected mode.

Allow list (allow = [ CIDRs ]), TCP listeners on 127.0.0.1 (and [::1]):
- allow = [ "127.0.0.2/32" ]: a client from 127.0.0.1 is closed at accept
  without an answer and allow_rejected counts it; a client bound to
  127.0.0.2 is served; unix socket peers are always served; [::1] is
  rejected; over UDP a datagram from 127.0.0.1 is dropped (counted in
  allow_rejected) and one from 127.0.0.2 answered.
- allow = [ "::1/128" ] (when IPv6 works): [::1] is served, 127.0.0.1 not.
- Blocks written IPv4-mapped stand for IPv4: allow = [ "::ffff:127.0.0.2" ]
  serves 127.0.0.2 and rejects 127.0.0.1 (over TCP and UDP); allow =
  [ "::ffff:0:0/96" ] serves every IPv4 peer and rejects [::1].
Protected mode (the default), listening on "*:PORT" without a token:
- a client to 127.0.0.1 is loopback: full service;
- a client to a non-loopback address of this machine (found with a UDP
  connect to 192.0.2.1, which sends nothing) gets PING only: ECHO, STATS,
  ... DENIED naming protected mode, the connection kept; the same over UDP
  ("*:UPORT"); the log has the "protected mode" hint;
- protected = false: that client is fully served, no hint in the log;
- with auth_token protected mode is off: the remote client gets the auth
  rules (DENIED until AUTH, then served), no hint in the log.
  (Skipped, with a message, when the machine has no non-loopback IPv4.)
A server listening on loopback only logs no hint.
"""
import socket

from harness import (Op, St, Suite, closed_unanswered,
                     connect_from, encode, free_port, free_udp_port,
                     ipv6_loopback_ok, parse_frames, read_frame,
                     udp_exchange, udp_listener)
from statslib import settle_totals, totals

t = Suite("test_remote_access")

TOKEN = "access-test-token-42"
HINT = "protected mode: listening beyond loopback"


def served(addr, src=None):
    """(ok, detail): an ECHO over a connection from src is answered."""
    try:
        s = connect_from(addr, src)
    except OSError as e:
        return False, "connect: %s" % e
    try:
        s.sendall(encode(Op.ECHO, b"hello", request_id=3))
        f = read_frame(s, timeout=5)
        return (f.status == St.OK and f.value == b"hello" and
                f.request_id == 3), repr(f)
    except (OSError, EOFError, TimeoutError, ValueError) as e:
        return False, repr(e)
    finally:
        s.close()


def rejected(addr, src=None):
    """(ok, detail): a connection from src is closed with no answer."""
    return closed_unanswered(addr, encode(Op.PING, request_id=4), src)


def udp_ask(addr, data, src=None, timeout=1.0):
    """One datagram from a fresh socket (bound to src if given): the
    answer, or None."""
    fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        if src is not None:
            s.bind((src, 0))
        return udp_exchange(s, addr, data, timeout)
    finally:
        s.close()


@t.case
def allow_v4(t):
    v6 = ipv6_loopback_ok()
    srv = t.server({"workers": 1, "allow": ["127.0.0.2/32"]},
                   tcp=True, tcp6=v6, pick=udp_listener())
    uport = srv.uport
    base = totals(srv)
    ok, why = rejected(srv.tcp_addr)
    t.check(ok, "from 127.0.0.1 with allow 127.0.0.2/32: %s" % why)
    ok, why = served(srv.tcp_addr, src="127.0.0.2")
    t.check(ok, "from 127.0.0.2 with allow 127.0.0.2/32: %s" % why)
    with srv.client() as c:
        f = c.request(Op.ECHO, b"unix", request_id=1)
        t.check_response(f, "unix peer with an allow list", Op.ECHO, rid=1,
                         value=b"unix")
    n = 1
    if v6:
        ok, why = rejected(srv.tcp6_addr)
        t.check(ok, "from ::1 with allow 127.0.0.2/32: %s" % why)
        n += 1
    d = udp_ask(("127.0.0.1", uport), encode(Op.ECHO, b"udp",
                                             request_id=5))
    t.check(d is None, "UDP from 127.0.0.1 answered: %r" % d)
    n += 1
    d = udp_ask(("127.0.0.1", uport), encode(Op.ECHO, b"udp",
                                             request_id=6),
                src="127.0.0.2")
    frames, _ = parse_frames(d or b"")
    t.check(len(frames) == 1 and frames[0].status == St.OK and
            frames[0].value == b"udp", "UDP from 127.0.0.2: %r" % d)
    c = settle_totals(srv, lambda c: c["allow_rejected"] - base["allow_rejected"]
               >= n)
    t.check(c["allow_rejected"] - base["allow_rejected"] == n,
            "allow_rejected counted %d, want %d" % (
                c["allow_rejected"] - base["allow_rejected"], n))
    t.check(HINT not in srv.log(), "loopback-only server logs the protected "
            "mode hint")


@t.case
def allow_v6(t):
    if not ipv6_loopback_ok():
        print("SKIP allow_v6: no IPv6 loopback")
        return
    srv = t.server({"workers": 1, "allow": ["::1/128"]}, tcp=True, tcp6=True)
    ok, why = served(srv.tcp6_addr)
    t.check(ok, "from ::1 with allow ::1/128: %s" % why)
    ok, why = rejected(srv.tcp_addr)
    t.check(ok, "from 127.0.0.1 with allow ::1/128: %s" % why)
    ok, why = rejected(srv.tcp_addr, src="127.0.0.2")
    t.check(ok, "from 127.0.0.2 with allow ::1/128: %s" % why)


@t.case
def allow_v4_mapped(t):
    # Was a bug: msgd -t accepted these blocks, but a block stayed IPv6
    # while every IPv4 peer (and every IPv4-mapped one) is matched as
    # IPv4, so they never matched and every client was rejected.
    srv = t.server({"workers": 1, "allow": ["::ffff:127.0.0.2"]}, tcp=True,
                   pick=udp_listener())
    uport = srv.uport
    ok, why = served(srv.tcp_addr, "127.0.0.2")
    t.check(ok, "from 127.0.0.2 with allow ::ffff:127.0.0.2: %s" % why)
    ok, why = rejected(srv.tcp_addr, "127.0.0.1")
    t.check(ok, "from 127.0.0.1 with allow ::ffff:127.0.0.2: %s" % why)
    echo = encode(Op.ECHO, b"udp", request_id=6)
    frames, _ = parse_frames(udp_ask(("127.0.0.1", uport), echo,
                                     "127.0.0.2") or b"")
    t.check(len(frames) == 1 and frames[0].status == St.OK and
            frames[0].value == b"udp",
            "UDP from 127.0.0.2 with allow ::ffff:127.0.0.2: %r" % frames)
    d = udp_ask(("127.0.0.1", uport), echo, "127.0.0.1")
    t.check(d is None, "UDP from 127.0.0.1 answered: %r" % d)

    srv = t.server({"workers": 1, "allow": ["::ffff:0:0/96"]}, tcp=True,
                   tcp6=ipv6_loopback_ok())
    for src in ("127.0.0.1", "127.0.0.2"):
        ok, why = served(srv.tcp_addr, src)
        t.check(ok, "from %s with allow ::ffff:0:0/96: %s" % (src, why))
    if srv.tcp6:
        ok, why = rejected(srv.tcp6_addr)
        t.check(ok, "from ::1 with allow ::ffff:0:0/96: %s" % why)


def local_ipv4():
    """A non-loopback IPv4 address of this machine, or None.  connect() on
    a UDP socket only picks a route and a source address: nothing is
    sent."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))
        addr = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    if addr.startswith("127.") or addr == "0.0.0.0":
        return None
    # It must be ours: bindable.
    b = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        b.bind((addr, 0))
    except OSError:
        return None
    finally:
        b.close()
    return addr


def wide_server(t, settings):
    """A server on unix, "*:PORT" (TCP) and "*:UPORT" (UDP).  The ports
    are free on every address: a wildcard bind also collides with another
    test's listener on 127.0.0.2, say."""
    def pick(srv):
        srv.port = free_port(host="0.0.0.0")
        srv.uport = free_udp_port(host="0.0.0.0")
        srv.settings["listen"] = ["unix:" + srv.sock_path, "*:%d" % srv.port]
        srv.settings["udp_listen"] = ["*:%d" % srv.uport]
    s = {"workers": 1}
    s.update(settings)
    return t.server(s, pick=pick)


def echo_on(addr, src, token=None):
    """Statuses of [PING, (AUTH,) ECHO, STATS, PING] on one connection."""
    s = connect_from(addr, src)
    try:
        reqs = [(Op.PING, b"")]
        if token:
            reqs.append((Op.ECHO, b"before"))
            reqs.append((Op.AUTH, token.encode()))
        reqs += [(Op.ECHO, b"remote"), (Op.STATS, b""), (Op.PING, b"")]
        out = []
        for i, (op, val) in enumerate(reqs):
            s.sendall(encode(op, val, request_id=i + 1))
            f = read_frame(s, timeout=5)
            out.append((op, f.status, f.value[:200]))
        return out
    finally:
        s.close()


@t.case
def protected_mode(t):
    ip = local_ipv4()
    srv = wide_server(t, {})
    # Loopback peers: full service.
    st = echo_on(("127.0.0.1", srv.port), "127.0.0.1")
    t.check([x[1] for x in st] == [St.OK] * 4,
            "loopback peer in protected mode: %r" % st)
    d = udp_ask(("127.0.0.1", srv.uport), encode(Op.ECHO, b"lo",
                                                 request_id=1))
    frames, _ = parse_frames(d or b"")
    t.check(len(frames) == 1 and frames[0].status == St.OK,
            "UDP ECHO from loopback in protected mode: %r" % d)
    t.check(HINT in srv.log(), "the log has the protected mode hint: %r" %
            srv.log())
    if ip is None:
        print("SKIP protected_mode remote peer: no non-loopback IPv4 "
              "address on this machine")
        return
    st = echo_on((ip, srv.port), ip)
    t.check([x[:2] for x in st] == [(Op.PING, St.OK), (Op.ECHO, St.DENIED),
                                    (Op.STATS, St.DENIED), (Op.PING, St.OK)],
            "non-loopback peer %s in protected mode: PING only, connection "
            "kept: %r" % (ip, st))
    t.check(b"protected mode" in st[1][2], "the DENIED message names "
            "protected mode: %r" % st[1][2])
    d = udp_ask((ip, srv.uport), encode(Op.PING, b"\0" * 4,
                                        request_id=2), src=ip)
    frames, _ = parse_frames(d or b"")
    t.check(len(frames) == 1 and frames[0].status == St.OK and
            frames[0].value == b"PONG", "UDP PING from %s: %r" % (ip, d))
    d = udp_ask((ip, srv.uport), encode(Op.ECHO, b"remote",
                                        request_id=3), src=ip)
    frames, _ = parse_frames(d or b"")
    t.check(len(frames) == 1 and frames[0].status == St.DENIED and
            frames[0].value == b"", "UDP ECHO from %s in protected mode: %r"
            % (ip, d))


@t.case
def protected_off(t):
    ip = local_ipv4()
    if ip is None:
        print("SKIP protected_off: no non-loopback IPv4 address")
        return
    srv = wide_server(t, {"protected": False})
    st = echo_on((ip, srv.port), ip)
    t.check([x[1] for x in st] == [St.OK] * 4,
            "non-loopback peer with protected = false: %r" % st)
    d = udp_ask((ip, srv.uport), encode(Op.ECHO, b"remote",
                                        request_id=3), src=ip)
    frames, _ = parse_frames(d or b"")
    t.check(len(frames) == 1 and frames[0].status == St.OK and
            frames[0].value == b"remote", "UDP ECHO with protected = false: "
            "%r" % d)
    t.check(HINT not in srv.log(), "no protected mode hint with protected = "
            "false")


@t.case
def token_turns_protected_off(t):
    ip = local_ipv4()
    if ip is None:
        print("SKIP token_turns_protected_off: no non-loopback IPv4 address")
        return
    srv = wide_server(t, {"auth_token": TOKEN})
    st = echo_on((ip, srv.port), ip, token=TOKEN)
    t.check([x[:2] for x in st] == [(Op.PING, St.OK), (Op.ECHO, St.DENIED),
                                    (Op.AUTH, St.OK), (Op.ECHO, St.OK),
                                    (Op.STATS, St.OK), (Op.PING, St.OK)],
            "non-loopback peer with a token: auth rules: %r" % st)
    t.check(b"protected" not in st[1][2] and b"AUTH" in st[1][2],
            "DENIED before AUTH names AUTH, not protected mode: %r" %
            st[1][2])
    t.check(HINT not in srv.log(), "no protected mode hint with a token")


t.run()

"""test_remote_udp: the UDP listener (udp_listen) against a real msgd.

- PING padded to 4 bytes -> PONG; ECHO and UPPER (binary, empty, large);
  TIME padded to 27 bytes -> RFC 3339; request ids copied; one datagram
  each way.
- Unpadded PING, PING padded to 3, TIME padded to 26: dropped (no answer
  within 1 s) and counted in udp_dropped.
- Malformed datagrams are dropped (never answered) and counted: shorter
  than 16 bytes, empty, wrong magic, wrong version, body_len larger or
  smaller than what follows the header.
- Anything that is not a well-formed request is dropped too, never
  answered: the RESPONSE flag (an answer), reserved flag bits, a nonzero
  status, key_len > body_len.
- No loop: an answer, or a request, forged to come from the server's own
  UDP address and port (a raw socket; root only) is handled once and the
  server's own answer to itself is dropped (CVE-2024-2169 class).
- STATS, AUTH, PUT, GET, LIST, DEL, EXEC over UDP -> DENIED with an empty
  value (a 16-byte answer); an unknown opcode -> UNKNOWN_OP, also 16 bytes.
- No amplification: for every datagram sent, the answer is at most as long.
- udp_received counts every datagram.
- With auth_token: only PING is served over UDP (ECHO, UPPER, TIME ->
  DENIED).
- UDP is off by default: without udp_listen no process of msgd owns a UDP
  socket and a datagram to the TCP port gets no answer.
"""
import os
import socket
import struct
import time

from harness import (HDR, HDR_LEN, TIME_RE, Frame, Op, St, Suite, encode,
                     udp_listener, upper_bytes)
from harness import udp_exchange as exchange
from statslib import settle_totals, totals

t = Suite("test_remote_udp")

TOKEN = "udp-test-token-0123"


def udp_server(t, settings=None):
    """A one-worker server with a UDP listener on 127.0.0.1."""
    s = {"workers": 1}
    s.update(settings or {})
    srv = t.server(s, pick=udp_listener())
    srv.udp_addr = ("127.0.0.1", srv.uport)
    return srv


def udp_sock(bind=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if bind:
        s.bind((bind, 0))
    return s


def frame_of(d):
    if d is None or len(d) < HDR_LEN:
        return None
    return Frame(d[:HDR_LEN], d[HDR_LEN:])


def quiet_for(s, secs):
    """Everything that arrives on s within secs."""
    got = []
    deadline = time.monotonic() + secs
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return got
        s.settimeout(left)
        try:
            got.append(s.recv(65536))
        except socket.timeout:
            return got


@t.case
def ops(t):
    srv = udp_server(t)
    addr = srv.udp_addr
    base = totals(srv)
    s = udp_sock()
    sent = 0
    try:
        cases = [
            ("PING padded to 4", encode(Op.PING, b"\0" * 4, request_id=1),
             Op.PING, b"PONG"),
            ("PING padded to 40", encode(Op.PING, b"x" * 40, request_id=2),
             Op.PING, b"PONG"),
            ("ECHO", encode(Op.ECHO, b"datagram \x00\xff", request_id=3),
             Op.ECHO, b"datagram \x00\xff"),
            ("ECHO empty", encode(Op.ECHO, request_id=4), Op.ECHO, b""),
            ("UPPER", encode(Op.UPPER, "abc-\u00e9z".encode(),
                             request_id=5), Op.UPPER,
             upper_bytes("abc-\u00e9z".encode())),
            ("ECHO 60000 bytes", encode(Op.ECHO, b"e" * 60000,
                                        request_id=6), Op.ECHO,
             b"e" * 60000),
            ("ECHO with a key", encode(Op.ECHO, b"val", b"key",
                                       request_id=7), Op.ECHO, b"val"),
        ]
        for what, req, op, want in cases:
            d = exchange(s, addr, req)
            sent += 1
            f = frame_of(d)
            if t.check(f is not None, "%s: answered (got %r)" % (what, d)):
                rid = HDR.unpack(req[:HDR_LEN])[6]
                t.check_response(f, "%s over UDP" % what, op, rid=rid,
                                 value=want)
                t.check(len(d) == HDR_LEN + f.body_len,
                        "%s: one whole frame per datagram" % what)
                t.check(len(d) <= len(req), "%s: answer %d bytes > request "
                        "%d" % (what, len(d), len(req)))
        for pad in (27, 64):
            req = encode(Op.TIME, b"\0" * pad, request_id=40 + pad)
            d = exchange(s, addr, req)
            sent += 1
            f = frame_of(d)
            if t.check(f is not None, "TIME padded to %d answered" % pad):
                t.check_response(f, "TIME padded to %d" % pad, Op.TIME,
                                 rid=40 + pad, value=None)
                t.check(TIME_RE.match(f.value), "TIME value %r" % f.value)
                t.check(len(d) <= len(req), "TIME answer not larger")
    finally:
        s.close()
    c = settle_totals(srv, lambda c: c["udp_received"] - base["udp_received"] >=
               sent)
    t.check(c["udp_received"] - base["udp_received"] == sent,
            "udp_received counted %d, sent %d" % (
                c["udp_received"] - base["udp_received"], sent))
    t.check(c["udp_dropped"] == base["udp_dropped"], "nothing dropped")


@t.case
def dropped(t):
    srv = udp_server(t)
    addr = srv.udp_addr
    base = totals(srv)
    good = encode(Op.ECHO, b"abcd", request_id=9)
    drops = [
        ("unpadded PING", encode(Op.PING, request_id=101)),
        ("PING padded to 3", encode(Op.PING, b"123", request_id=102)),
        ("unpadded TIME", encode(Op.TIME, request_id=103)),
        ("TIME padded to 26", encode(Op.TIME, b"\0" * 26, request_id=104)),
        ("15 bytes", good[:15]),
        ("1 byte", b"M"),
        ("wrong magic", encode(Op.ECHO, b"abcd", request_id=105,
                               magic=b"XG")),
        ("wrong version", encode(Op.ECHO, b"abcd", request_id=106,
                                 version=2)),
        ("version 0", encode(Op.ECHO, b"abcd", request_id=107, version=0)),
        ("body_len larger than sent", encode(Op.ECHO, b"abcd",
                                             request_id=108, body_len=10)),
        ("body_len smaller than sent", encode(Op.ECHO, b"abcd",
                                              request_id=109, body_len=2)),
        ("body_len huge", encode(Op.ECHO, b"abcd", request_id=110,
                                 body_len=0xFFFFFFFF)),
        ("header only, body_len 4", good[:HDR_LEN]),
        # Header errors that TCP answers BAD_REQUEST: over UDP an answer
        # could be what another server sent, so none is answered.
        ("status set in a request", encode(Op.ECHO, b"x", request_id=111,
                                           status=3)),
        ("RESPONSE flag", encode(Op.ECHO, b"x", request_id=112, flags=1)),
        ("a PONG answer", encode(Op.PING, b"PONG", request_id=113, flags=1)),
        ("an error answer", encode(Op.ECHO, request_id=114, flags=1,
                                   status=St.BAD_REQUEST)),
        ("reserved flag bits", encode(Op.ECHO, b"x", request_id=115,
                                      flags=2)),
        ("key_len > body_len", encode(Op.ECHO, b"x", request_id=116,
                                      key_len=5)),
    ]
    s = udp_sock()
    try:
        for what, d in drops:
            s.sendto(d, addr)
        # Whatever comes within 1 s is an answer to a dropped datagram.
        got = quiet_for(s, 1.0)
        t.check(not got, "answers to datagrams that must be dropped: %r" % (
            [frame_of(g) or g for g in got],))
        # Still serving.
        f = frame_of(exchange(s, addr, good))
        t.check(f is not None and f.status == St.OK and f.value == b"abcd",
                "ECHO after the dropped ones: %r" % f)
        # An empty datagram is dropped too (sent apart: it is zero bytes).
        s.sendto(b"", addr)
        got = quiet_for(s, 0.3)
        t.check(not got, "answer to an empty datagram: %r" % got)
    finally:
        s.close()
    n = len(drops) + 1
    c = settle_totals(srv, lambda c: c["udp_dropped"] - base["udp_dropped"] >= n)
    t.check(c["udp_dropped"] - base["udp_dropped"] == n,
            "udp_dropped counted %d, want %d" % (
                c["udp_dropped"] - base["udp_dropped"], n))
    t.check(c["udp_received"] - base["udp_received"] == n + 1,
            "udp_received counted %d, want %d" % (
                c["udp_received"] - base["udp_received"], n + 1))


@t.case
def denied_and_errors(t):
    srv = udp_server(t)
    addr = srv.udp_addr
    s = udp_sock()
    try:
        for op in (Op.STATS, Op.AUTH, Op.PUT, Op.GET, Op.LIST, Op.DEL,
                   Op.EXEC):
            for key, val in ((b"", b""), (b"name", b"x" * 100)):
                req = encode(op, val, key, request_id=op * 10 + len(key))
                d = exchange(s, addr, req)
                f = frame_of(d)
                if t.check(f is not None, "op 0x%02x over UDP answered" %
                           op):
                    t.check_response(f, "op 0x%02x over UDP" % op, op,
                                     St.DENIED, rid=op * 10 + len(key),
                                     value=b"")
                    t.check(len(d) == HDR_LEN, "op 0x%02x: %d-byte answer, "
                            "want 16" % (op, len(d)))
        for what, req, op, st in (
                ("unknown opcode", encode(0x30, request_id=1), 0x30,
                 St.UNKNOWN_OP),):
            d = exchange(s, addr, req)
            f = frame_of(d)
            if t.check(f is not None, "%s over UDP answered" % what):
                t.check_response(f, "%s over UDP" % what, op, st,
                                 rid=HDR.unpack(req[:HDR_LEN])[6], value=b"")
                t.check(len(d) == HDR_LEN and len(d) <= len(req),
                        "%s: 16-byte answer, got %d" % (what, len(d)))
    finally:
        s.close()


@t.case
def no_amplification(t):
    """For every opcode 0..255, with bodies of several sizes, an answer is
    never larger than its request."""
    srv = udp_server(t)
    addr = srv.udp_addr
    s = udp_sock()
    worst = []
    answered = 0
    try:
        reqs = []
        for op in range(256):
            for val in (b"", b"ab", b"abcd", b"z" * 27, b"q" * 100):
                reqs.append(encode(op, val, request_id=len(reqs) + 1))
        # In batches, so the socket buffers never overflow; a padded PING
        # ends each batch: one worker answers in order, so once its answer
        # is in, every answer of the batch is.
        sentinel = 1 << 30
        for i in range(0, len(reqs), 16):
            batch = reqs[i:i + 16]
            for r in batch:
                s.sendto(r, addr)
            sentinel += 1
            s.sendto(encode(Op.PING, b"\0" * 4, request_id=sentinel), addr)
            want = {HDR.unpack(r[:HDR_LEN])[6]: len(r) for r in batch}
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                s.settimeout(max(0.001, deadline - time.monotonic()))
                try:
                    d = s.recv(65536)
                except socket.timeout:
                    worst.append(("no answer to the sentinel", sentinel))
                    break
                f = frame_of(d)
                if f is not None and f.request_id == sentinel:
                    break
                if f is None or f.request_id not in want:
                    worst.append(("stray", d[:32]))
                    continue
                answered += 1
                if len(d) > want[f.request_id]:
                    worst.append((f, len(d), want[f.request_id]))
                del want[f.request_id]
    finally:
        s.close()
    t.check(not worst, "answers larger than their request: %r" % worst[:5])
    # Dropped: PING with 0 or 2 bytes, TIME with 0, 2 or 4 (their answers
    # would be larger); every other request is answered.
    t.check(answered == 256 * 5 - 5, "%d answers, want %d" % (
        answered, 256 * 5 - 5))


@t.case
def with_token(t):
    srv = udp_server(t, {"auth_token": TOKEN})
    addr = srv.udp_addr
    s = udp_sock()
    try:
        f = frame_of(exchange(s, addr, encode(Op.PING, b"\0" * 4,
                                              request_id=1)))
        t.check(f is not None, "PING over UDP with a token answered")
        if f is not None:
            t.check_response(f, "PING over UDP with a token", Op.PING, rid=1,
                             value=b"PONG")
        for op, val in ((Op.ECHO, b"data"), (Op.UPPER, b"data"),
                        (Op.TIME, b"\0" * 27), (Op.AUTH, TOKEN.encode())):
            d = exchange(s, addr, encode(op, val, request_id=op))
            f = frame_of(d)
            if t.check(f is not None, "op 0x%02x answered" % op):
                t.check_response(f, "op 0x%02x over UDP with a token" % op,
                                 op, St.DENIED, rid=op, value=b"")
                t.check(len(d) == HDR_LEN, "16-byte DENIED")
        # AUTH over UDP does not unlock anything for the next datagram.
        f = frame_of(exchange(s, addr, encode(Op.ECHO, b"x", request_id=9)))
        t.check(f is not None and f.status == St.DENIED,
                "ECHO after an AUTH datagram: %r" % f)
    finally:
        s.close()


def forge_from(src_port, dst, payload):
    """Send payload to dst (127.0.0.1, port) as a UDP datagram whose source
    is 127.0.0.1:src_port, through a raw socket (root only).  Checksum 0:
    none, as IPv4 allows."""
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    try:
        udp = struct.pack("!HHHH", src_port, dst[1], 8 + len(payload), 0)
        r.sendto(udp + payload, (dst[0], 0))
    finally:
        r.close()


def udp_counts(srv, base):
    c = totals(srv)
    return (c["udp_received"] - base["udp_received"],
            c["udp_dropped"] - base["udp_dropped"])


@t.case
def no_loop(t):
    """A datagram forged to come from the server's own UDP address and port
    is handled once: an answer is dropped, a request is answered to the
    server itself, which drops that answer.  Before the fix either one made
    the worker answer itself forever."""
    if os.geteuid() != 0:
        print("SKIP no_loop: forging a source port needs a raw socket "
              "(root)")
        return
    srv = udp_server(t)
    addr = srv.udp_addr
    s = udp_sock()
    try:
        for what, forged, received, dropped in (
                ("an answer", encode(Op.ECHO, b"x", request_id=7, flags=1,
                                     status=St.BAD_REQUEST), 1, 1),
                ("a PING", encode(Op.PING, b"\0" * 8, request_id=8), 2, 1)):
            base = totals(srv)
            forge_from(addr[1], addr, forged)
            # The worker handles datagrams in order: once it has counted
            # what the forged one leads to, a marker ECHO answered after
            # it shows whether anything else is still going round.
            c = settle_totals(srv, lambda c: (
                c["udp_received"] - base["udp_received"] >= received and
                c["udp_dropped"] - base["udp_dropped"] >= dropped))
            f = frame_of(exchange(s, addr, encode(Op.ECHO, b"mark",
                                                  request_id=99)))
            t.check(f is not None and f.value == b"mark",
                    "%s from itself: marker answered (%r)" % (what, f))
            got = settle_totals(srv, lambda c: c["udp_received"] -
                                base["udp_received"] >= received + 1)
            n = (got["udp_received"] - base["udp_received"],
                 got["udp_dropped"] - base["udp_dropped"])
            t.check(n == (received + 1, dropped),
                    "%s forged from the server's own port: %d received, %d "
                    "dropped, want %d and %d (a loop?)" % (
                        what, n[0], n[1], received + 1, dropped))
    finally:
        s.close()


def udp_inodes():
    """Socket inodes of every UDP socket (v4 and v6) on this host."""
    out = set()
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    out.add(line.split()[9])
        except OSError:
            pass
    return out


def socket_inodes(pid):
    out = set()
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return out
    for n in names:
        try:
            l = os.readlink("/proc/%d/fd/%s" % (pid, n))
        except OSError:
            continue
        if l.startswith("socket:["):
            out.add(l[8:-1])
    return out


@t.case
def off_by_default(t):
    srv = t.server({"workers": 2}, tcp=True)
    pids = [srv.pid] + [p for p, st in srv.workers() if st != "Z"]
    mine = set()
    for p in pids:
        mine |= socket_inodes(p)
    t.check(mine and not (mine & udp_inodes()),
            "msgd (pids %r) owns UDP sockets without udp_listen" % pids)
    for op, val in ((Op.PING, b"\0" * 4), (Op.ECHO, b"hello")):
        s = udp_sock()
        try:
            # Connected: the port unreachable comes back as ECONNREFUSED.
            s.connect(srv.tcp_addr)
            s.send(encode(op, val, request_id=1))
            s.settimeout(1.0)
            try:
                d = s.recv(65536)
            except (socket.timeout, ConnectionRefusedError):
                d = None
            t.check(d is None, "a datagram to the TCP port was answered: "
                    "%r" % d)
        finally:
            s.close()
    base = totals(srv)
    t.check(base["udp_received"] == 0, "udp_received %d" %
            base["udp_received"])


t.run()

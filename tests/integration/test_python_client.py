"""test_python_client: contrib/python's msgd_client (from the source tree)
against a real msgd and against fake servers (fakemsgd.py).

Real msgd: ping/echo (bytes, str, empty, all 256 byte values, 1 MiB)/upper/
time/stats over every address form (unix:/path, a bare path, host:port,
localhost:port, a (host, port) tuple, [::1]:port when IPv6 works); an
unserved opcode through Client.call() -> UnknownOp (status 2, a message),
the connection still usable; pipeline() returns error statuses in place and
does not deadlock on 6 MiB of pipelined ECHOs; a body over max_body ->
TooLarge; the context manager closes the socket.
Fake servers (a Python unix socket server in a temp dir): one that never
answers -> ResponseTimeout (a socket.timeout) within about the timeout, and
the client closed; garbage, a wrong request id, a wrong opcode, no RESPONSE
flag, a wrong version, key_len > body_len -> ProtocolError; a close mid-answer
-> ConnectionClosed; BUSY with request id 0 -> Busy and closed; an undefined
status -> MsgdError. The frames the client sends (ids 1, 2, ... wrapping to 1,
flags and status 0, key and value of every op), client-side file name checks
(ValueError, nothing sent), and the parsing of LIST, EXEC and GET answers.
UdpClient against a fake UDP server: PING and TIME values padded to 4 and 27
bytes, a stale answer (earlier request id) skipped, retries.
"""
import os
import socket
import struct
import sys
import threading
import time

from fakemsgd import FakeServer, answer, normal_answer
from harness import (HDR, HDR_LEN, SRCDIR, TIME_RE, Frame, Op, St, Suite,
                     ipv6_loopback_ok, raises, upper_bytes)

sys.dont_write_bytecode = True      # keep the source tree clean
sys.path.insert(0, os.path.join(SRCDIR, "contrib", "python"))
import msgd_client as mc  # noqa: E402

t = Suite("test_python_client")


def core_ops(t, c, where):
    rtt = c.ping()
    t.check(isinstance(rtt, float) and 0 <= rtt < 5,
            "%s ping() returns the round trip: %r" % (where, rtt))
    t.check(c.echo(b"hello") == b"hello", "%s echo bytes" % where)
    got = c.echo("h\u00e9llo")
    t.check(got == "h\u00e9llo".encode(), "%s echo str -> UTF-8 bytes: %r"
            % (where, got))
    t.check(c.echo(b"") == b"", "%s echo empty bytes" % where)
    t.check(c.echo("") == b"", "%s echo empty str" % where)
    allbytes = bytes(range(256))
    t.check(c.echo(allbytes) == allbytes, "%s echo 0..255" % where)
    t.check(c.echo(bytearray(b"ba")) == b"ba", "%s echo bytearray" % where)
    big = bytes((i * 13) & 0xFF for i in range(1 << 20))
    t.check(c.echo(big) == big, "%s echo 1 MiB" % where)
    got = c.upper("Hello, World! h\u00e9llo")
    t.check(got == "HELLO, WORLD! H\u00e9LLO".encode(),
            "%s upper str: %r" % (where, got))
    t.check(c.upper(allbytes) == upper_bytes(allbytes),
            "%s upper 0..255" % where)
    t.check(c.upper(b"") == b"", "%s upper empty" % where)
    before = time.time()
    ts = c.time()
    after = time.time()
    if t.check(isinstance(ts, str) and TIME_RE.match(ts.encode()),
               "%s time() format: %r" % (where, ts)):
        secs = mc.parse_time(ts).timestamp()
        t.check(before - 5 <= secs <= after + 5,
                "%s time() %r not within 5 s of now" % (where, ts))
    st = c.stats()
    t.check(isinstance(st, dict) and "totals" in st,
            "%s stats() is a dict with totals: %r" % (where, str(st)[:200]))


@t.case
def ops_every_address_form(t):
    srv = t.server(tcp=True, tcp6=ipv6_loopback_ok())
    addrs = [("unix:" + srv.sock_path, "unix:path"),
             (srv.sock_path, "bare path"),
             ("127.0.0.1:%d" % srv.port, "host:port"),
             ("localhost:%d" % srv.port, "localhost:port"),
             (("127.0.0.1", srv.port), "tuple")]
    if srv.tcp6:
        addrs.append(("[::1]:%d" % srv.port6, "[::1]:port"))
    for addr, where in addrs:
        with mc.Client(addr, timeout=5.0) as c:
            core_ops(t, c, where)
            t.check(not c.closed, "%s still open after the ops" % where)


@t.case
def unknown_op_and_pipeline(t):
    srv = t.server()
    with mc.Client(srv.sock_path) as c:
        e = raises(t, mc.UnknownOp, lambda: c.call(0x30, b"k", b"v"),
                   "call(0x30)")
        if e is not None:
            t.check(isinstance(e, mc.MsgdError) and e.status == 2 and
                    e.status_name == "UNKNOWN_OP" and e.message and
                    e.opcode == 0x30 and mc.UnknownOp.status == 2,
                    "UnknownOp fields: status %r name %r message %r op %r" % (
                        e.status, e.status_name, e.message, e.opcode))
        t.check(c.echo(b"after") == b"after" and not c.closed,
                "connection usable after UNKNOWN_OP")
        r = c.call(Op.ECHO, b"ignored-key", b"val")
        t.check(isinstance(r, mc.Response) and r.ok and r.value == b"val" and
                r.opcode == Op.ECHO and r.status_name == "OK",
                "call(ECHO) returns a Response: %r" % (r,))

        rs = c.pipeline([(Op.PING,), mc.Request(0x7F, b"k", b"v"),
                         (Op.ECHO, b"", b"third")])
        t.check([r.status for r in rs] == [St.OK, St.UNKNOWN_OP, St.OK] and
                rs[0].value == b"PONG" and rs[2].value == b"third",
                "pipeline statuses in place: %r" % (rs,))
        ids = [x.request_id for x in rs]
        t.check(ids == list(range(ids[0], ids[0] + 3)) and
                ids[0] > r.request_id, "pipeline ids increase: %r after %d"
                % (ids, r.request_id))
        raises(t, mc.UnknownOp, rs[1].raise_for_status, "raise_for_status")
        t.check(c.pipeline([]) == [], "empty pipeline")

        # 6 MiB pipelined in one go: sending and reading at once, so the
        # server's backpressure cannot deadlock the client.
        chunk = bytes(range(256)) * 256
        rs = c.pipeline([(Op.ECHO, b"", chunk)] * 96)
        t.check(len(rs) == 96 and all(r.ok and r.value == chunk
                                      for r in rs),
                "96 pipelined 64 KiB ECHOs")
        t.check(c.ping() >= 0, "usable after the long pipeline")


@t.case
def too_large(t):
    srv = t.server({"max_body": 1024}, tcp=True)
    for addr in (srv.sock_path, srv.tcp_addr):
        for n in (1025, 1 << 20):
            c = mc.Client(addr)
            try:
                e = raises(t, mc.TooLarge, lambda: c.echo(b"x" * n),
                           "%r echo of %d bytes > max_body" % (addr, n))
                t.check(e is None or e.status == 3,
                        "TooLarge status %r" % (e and e.status))
                # The server closed after TOO_LARGE: the next call says so.
                if not c.closed:
                    raises(t, mc.ConnectionClosed, c.ping,
                           "%r call after TOO_LARGE" % (addr,))
                t.check(c.closed, "client closed after the server closed")
            finally:
                c.close()
    with mc.Client(srv.sock_path) as c:
        t.check(c.ping() >= 0, "server still serves")


@t.case
def context_manager_closes(t):
    srv = t.server()
    with mc.Client("unix:" + srv.sock_path) as c:
        c.ping()
    t.check(c.closed and c.fileno() == -1, "closed after the with block")
    raises(t, mc.ConnectionClosed, c.ping, "ping on a closed client")
    c.close()   # idempotent

    with FakeServer(normal_answer) as fake:
        with mc.Client(fake.path) as c:
            c.ping()
        t.check(fake.eof.wait(5), "the server saw EOF after the with block")
        fake.eof.clear()
        try:
            with mc.Client(fake.path) as c:
                raise KeyError("inside")
        except KeyError:
            pass
        t.check(c.closed and fake.eof.wait(5),
                "closed when the with block raises")


@t.case
def timeout(t):
    with FakeServer(lambda req: None) as fake:
        c = mc.Client(fake.path, timeout=0.5)
        t0 = time.monotonic()
        e = raises(t, mc.ResponseTimeout, c.ping, "no answer")
        took = time.monotonic() - t0
        t.check(0.4 <= took < 10, "timed out after %.2f s, want about 0.5" %
                took)
        t.check(isinstance(e, socket.timeout) and isinstance(e, mc.Error),
                "ResponseTimeout is a socket.timeout: %r" % (e,))
        t.check(c.closed, "client closed after a timeout")
        raises(t, mc.ConnectionClosed, c.ping, "ping after the timeout")
        t.check(len(fake.requests) == 1, "one request sent: %r" %
                fake.requests)
        raises(t, ValueError, lambda: mc.Client(fake.path, timeout=0),
               "timeout 0")


def bad_answers(t, respond, exc, what, contains=""):
    with FakeServer(respond) as fake:
        c = mc.Client(fake.path, timeout=3)
        e = raises(t, exc, c.ping, what)
        if e is not None and contains:
            t.check(contains in str(e), "%s: %r does not mention %r" % (
                what, str(e), contains))
        t.check(c.closed, "%s: client closed afterwards" % what)
        c.close()
    return e


@t.case
def protocol_errors(t):
    bad_answers(t, lambda r: b"HTTP/1.0 400 Bad Request\r\n\r\n",
                mc.ProtocolError, "garbage answer", "magic")
    bad_answers(t, lambda r: answer(r, value=b"PONG",
                                    rid=r.request_id + 1),
                mc.ProtocolError, "request id mismatch", "request id")
    bad_answers(t, lambda r: answer(r, value=b"PONG", op=Op.ECHO),
                mc.ProtocolError, "opcode mismatch", "opcode")
    bad_answers(t, lambda r: answer(r, value=b"PONG", flags=0),
                mc.ProtocolError, "RESPONSE flag missing", "flags")
    bad_answers(t, lambda r: answer(r, value=b"PONG", flags=0x03),
                mc.ProtocolError, "reserved flag set", "flags")
    bad_answers(t, lambda r: answer(r, value=b"PONG", version=2),
                mc.ProtocolError, "version 2 answer", "version")
    bad_answers(t, lambda r: answer(r, value=b"PONG", key_len=5),
                mc.ProtocolError, "key_len > body_len", "key_len")
    bad_answers(t, lambda r: answer(r, value=b"PING"),
                mc.ProtocolError, "PING not answered PONG", "PONG")
    bad_answers(t, lambda r: answer(r, value=b"PONG") + b"MG",
                mc.ProtocolError, "trailing bytes", "unexpected")
    # The request id is checked on the header: a mismatch fails at once,
    # not after waiting for a body that never comes.
    t0 = time.monotonic()
    bad_answers(t, lambda r: answer(r, value=b"PONG", rid=99)[:HDR_LEN + 1],
                mc.ProtocolError, "mismatched header, body missing")
    t.check(time.monotonic() - t0 < 2, "mismatch detected on the header")

    bad_answers(t, lambda r: (answer(r, value=b"PONG")[:18], True),
                mc.ConnectionClosed, "closed mid-answer")
    bad_answers(t, lambda r: b"", mc.ConnectionClosed, "closed, no answer")
    e = bad_answers(t, lambda r: answer(r, St.BUSY, b"too many", rid=0,
                                        op=0),
                    mc.Busy, "BUSY with request id 0")
    t.check(e is None or (e.status == 6 and e.message == "too many"),
            "Busy fields: %r" % (e,))
    bad_answers(t, lambda r: answer(r, St.BAD_REQUEST, b"bad magic", rid=0,
                                    op=0),
                mc.BadRequest, "BAD_REQUEST with request id 0")
    bad_answers(t, lambda r: answer(r, St.BAD_VERSION, b"v"),
                mc.BadVersion, "BAD_VERSION")

    # Statuses that keep the connection; an undefined one is a MsgdError.
    statuses = {St.BAD_REQUEST: mc.BadRequest, St.NOT_FOUND: mc.NotFound,
                St.DENIED: mc.Denied, St.TIMEOUT: mc.Timeout,
                St.INTERNAL: mc.Internal, St.TOO_LARGE: mc.TooLarge}
    with FakeServer(lambda r: answer(r, r.value[0], b"msg")
                    if r.opcode == Op.ECHO else normal_answer(r)) as fake:
        with mc.Client(fake.path) as c:
            for st, cls in sorted(statuses.items()):
                e = raises(t, cls, lambda: c.echo(bytes([st])),
                           "status %d" % st)
                t.check(e is None or (e.status == st and
                                      e.message == "msg"),
                        "status %d fields: %r" % (st, e))
            e = raises(t, mc.MsgdError, lambda: c.echo(b"\x2a"), "status 42")
            t.check(e is None or (type(e) is mc.MsgdError and
                                  e.status == 42 and
                                  e.status_name == "status 42"),
                    "undefined status: %r" % (e,))
            t.check(not c.closed and c.ping() >= 0,
                    "connection kept after those statuses")

    # DENIED to AUTH: the server closes, so does the client (also when the
    # constructor authenticates).
    def deny(r):
        if r.opcode == Op.AUTH and r.value != b"right":
            return answer(r, St.DENIED, b"bad token")
        return normal_answer(r)

    with FakeServer(deny) as fake:
        c = mc.Client(fake.path)
        raises(t, mc.Denied, lambda: c.auth("wrong"), "AUTH denied")
        t.check(c.closed, "client closed after AUTH was denied")
        raises(t, mc.Denied, lambda: mc.Client(fake.path, token="wrong"),
               "Client(token=) denied")
        with mc.Client(fake.path, token="right") as c:
            t.check(c.echo(b"x") == b"x", "Client(token=) when AUTH is OK")


@t.case
def request_frames(t):
    """What the client puts on the wire, checked on a fake server."""
    with FakeServer(normal_answer) as fake:
        with mc.Client(fake.path) as c:
            c.ping()
            c.echo("x")
            c.put("a.txt", b"content")
            c.get("a.txt")
            c.delete("a.txt")
            c.list()
            c.exec("cmd", b"in")
            c.auth("tok")
            c._next_id = 0xFFFFFFFF     # wrap-around: never request id 0
            c.ping()
            c.ping()
            for bad in ("", ".hidden", "a/b", "../x", "x" * 256, "sp ace",
                        "\u00e9", "a\n", b"a\x00"):
                raises(t, ValueError, lambda: c.put(bad, b"x"),
                       "put(%r)" % (bad,))
                raises(t, ValueError, lambda: c.get(bad), "get(%r)" % (bad,))
                raises(t, ValueError, lambda: c.delete(bad),
                       "delete(%r)" % (bad,))
            raises(t, TypeError, lambda: c.echo(12), "echo(int)")
            c.put("x" * 255, b"")
            c.put(b"-A.b_9", "t\u00e9xt")
        want = [(Op.PING, b"", b""), (Op.ECHO, b"", b"x"),
                (Op.PUT, b"a.txt", b"content"), (Op.GET, b"a.txt", b""),
                (Op.DEL, b"a.txt", b""), (Op.LIST, b"", b""),
                (Op.EXEC, b"cmd", b"in"), (Op.AUTH, b"", b"tok"),
                (Op.PING, b"", b""), (Op.PING, b"", b""),
                (Op.PUT, b"x" * 255, b""),
                (Op.PUT, b"-A.b_9", "t\u00e9xt".encode())]
        got = [(f.opcode, f.key, f.value) for f in fake.requests]
        t.check(got == want, "requests sent:\n %r\nwant\n %r" % (got, want))
        ids = [f.request_id for f in fake.requests]
        t.check(ids == list(range(1, 9)) + [0xFFFFFFFF, 1, 2, 3],
                "request ids: %r" % ids)
        t.check(all(f.magic == b"MG" and f.version == 1 and f.flags == 0
                    and f.status == 0 for f in fake.requests),
                "magic, version 1, flags 0, status 0 in every request")


@t.case
def answer_parsing(t):
    """LIST, EXEC and GET answers, well formed and not."""
    answers = {}

    def respond(req):
        return answer(req, **answers[req.opcode])

    with FakeServer(respond) as fake:
        with mc.Client(fake.path) as c:
            answers[Op.LIST] = {"value": b""}
            t.check(c.list() == [], "empty LIST")
            answers[Op.LIST] = {"value": b"a\t0\t1700000000\n"
                                         b"b.txt\t12345\t1700000001\n"}
            got = c.list()
            t.check(got == [("a", 0, 1700000000),
                            ("b.txt", 12345, 1700000001)] and
                    got[1].name == "b.txt" and got[1].size == 12345 and
                    got[1].mtime == 1700000001 and
                    isinstance(got[0], mc.FileInfo), "LIST: %r" % (got,))

            answers[Op.EXEC] = {"key": b"3", "value": struct.pack(">I", 4) +
                                b"out\nerr\n"}
            r = c.exec("fail")
            t.check(r == (3, b"out\n", b"err\n") and r.status == 3 and
                    r.stdout == b"out\n" and r.stderr == b"err\n" and
                    isinstance(r, mc.ExecResult), "EXEC: %r" % (r,))
            answers[Op.EXEC] = {"key": b"137", "value": b"\0\0\0\0"}
            t.check(c.exec("killed") == (137, b"", b""), "EXEC signal")

            answers[Op.GET] = {"key": b"f", "value": b"\0data"}
            t.check(c.get("f") == b"\0data", "GET value")

        bad = [(Op.LIST, {"value": b"a\t1\t2"}, lambda c: c.list(),
                "LIST without the final newline"),
               (Op.LIST, {"value": b"a\t1\n"}, lambda c: c.list(),
                "LIST line of 2 fields"),
               (Op.LIST, {"value": b"a\tx\t2\n"}, lambda c: c.list(),
                "LIST size not a number"),
               (Op.EXEC, {"key": b"", "value": b"\0\0\0\0"},
                lambda c: c.exec("x"), "EXEC without a status"),
               (Op.EXEC, {"key": b"0", "value": b"\0\0"},
                lambda c: c.exec("x"), "EXEC value < 4 bytes"),
               (Op.EXEC, {"key": b"0", "value": b"\0\0\0\x09short"},
                lambda c: c.exec("x"), "EXEC stdout length too long"),
               (Op.GET, {"key": b"other", "value": b"v"},
                lambda c: c.get("f"), "GET answered for another file"),
               (Op.TIME, {"value": b"\xff\xfe"}, lambda c: c.time(),
                "TIME not UTF-8"),
               (Op.STATS, {"value": b"{not json"}, lambda c: c.stats(),
                "STATS not JSON")]
        for op, ans, fn, what in bad:
            answers[op] = ans
            c = mc.Client(fake.path)
            raises(t, mc.ProtocolError, lambda: fn(c), what)
            c.close()


def fake_udp(respond):
    """A UDP socket on 127.0.0.1 answering each datagram with
    respond(datagram) -> [datagrams]; returns (port, seen, stop)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.1)
    seen = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                data, peer = s.recvfrom(65536)
            except socket.timeout:
                continue
            seen.append(data)
            for d in respond(data):
                s.sendto(d, peer)
        s.close()

    threading.Thread(target=serve, daemon=True).start()
    return s.getsockname()[1], seen, stop


@t.case
def udp_client(t):
    def respond(data):
        req = Frame(data[:HDR_LEN], data[HDR_LEN:])
        if req.value == b"drop":
            return []
        stale = answer(req, value=b"old", rid=req.request_id - 1)
        return [stale, normal_answer(req)]

    port, seen, stop = fake_udp(respond)
    try:
        with mc.UdpClient("127.0.0.1:%d" % port, timeout=1.0) as u:
            t.check(u.ping() >= 0, "UDP ping")
            t.check(u.time() == "2026-11-21T10:00:00.123456Z", "UDP time")
            t.check(u.echo(b"abc") == b"abc", "UDP echo, stale answer "
                    "skipped")
            t.check(u.upper(b"x") == b"x", "UDP upper (fake echoes)")
        lens = [HDR.unpack(d[:HDR_LEN])[7] for d in seen]
        t.check(lens[:2] == [4, 27], "PING and TIME values padded to 4 and "
                "27 bytes: %r" % lens)
        with mc.UdpClient(("127.0.0.1", port), timeout=0.3, retries=2) as u:
            n = len(seen)
            t0 = time.monotonic()
            raises(t, mc.ResponseTimeout, lambda: u.echo(b"drop"),
                   "UDP no answer")
            took = time.monotonic() - t0
            t.check(len(seen) - n == 3 and 0.8 <= took < 10,
                    "3 tries in %.2f s: %d datagrams" % (took, len(seen) - n))
        r = mc.udp_call("127.0.0.1:%d" % port, Op.ECHO, b"one")
        t.check(r.ok and r.value == b"one", "udp_call: %r" % (r,))
        raises(t, ValueError, lambda: mc.UdpClient("unix:/x"), "UDP unix")
    finally:
        stop.set()


t.run()

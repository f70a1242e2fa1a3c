"""test_stats_counters: the statistics count exactly what happened.

exact_counters (workers = 2, max_body 4 MiB): from a snapshot at rest
(`msgctl -c CONF stats --json`), a known load -- PINGs (with and without
ignored key/value), ECHOs and UPPERs of known sizes (up to 3 MB: many
reads, output over output_limit), TIMEs, unknown opcodes with bodies, the
four header errors that keep the connection (key_len > body_len, RESPONSE
flag, reserved flag, status != 0), 40 pipelined frames in one write, a
frame trickled a byte at a time, bad magic, bad version and body_len >
max_body (each closes), an ECHO over TCP, a connection that sends nothing
-- must move the totals by exactly what was sent and answered: every req_*
and st_* counter (a malformed frame counts under the opcode its answer
carries: 0, i.e. req_other, for bad magic), proto_errors,
conn_accepted/closed (conn_active back to its base), bytes_in/bytes_out to
the byte, latency_us.count, and every other counter by 0; the workers'
deltas add up to the totals' and retired does not move.  The counters are
polled (bounded) until they settle, then must stay put.

timeout_counters (idle_timeout 1 s, read_timeout 1 s): two idle timeouts
(one after a PING, one without a request) and one read timeout (half a
header), counted exactly the same way (idle_timeouts +2, read_timeouts +1,
bytes, the PING).

busy_counters (workers = 1, max_connections = 2): a BUSY rejection counts
conn_busy + 1 (already when the client has read its BUSY) and nothing in
conn_accepted, st_busy or the request counters.

stats_op_matches_json: the STATS op answers the same document as
`stats --json`: same members, same stable fields (version, layout, master
pid/start time/generation/workers/slots, listeners, workers' slots, pids,
generations, retired), and counters that differ from a --json snapshot
taken before by exactly the STATS connection and request frame (serving
worker: conn_accepted +1, conn_active +1, bytes_in +16), and from one taken
after by exactly the STATS answer (req_stats +1, st_ok +1, latency count +1,
bytes_out + the answer's size).  `msgctl -U sock stats` prints it too.
"""
import time

from harness import (HDR_LEN, TIME_RE, Op, St, Suite, connect, ctl, encode,
                     parse_frames, read_frame, upper_bytes, wait_closed)
from statslib import (StatsError, counters, delta, idle_base,
                      nonzero, parse_doc, req_sum, settle, st_sum,
                      stats_json)

t = Suite("test_stats_counters")

MAX_BODY = 4 << 20

REQ_NAMES = {Op.PING: "req_ping", Op.ECHO: "req_echo", Op.UPPER: "req_upper",
             Op.TIME: "req_time", Op.STATS: "req_stats", Op.AUTH: "req_auth",
             Op.PUT: "req_put", Op.GET: "req_get", Op.LIST: "req_list",
             Op.DEL: "req_del", Op.EXEC: "req_exec"}


def read_one(s, timeout=5.0):
    return read_frame(s, timeout)


def split(data):
    """Whole frames in data (a trailing partial one shows as None)."""
    frames, rest = parse_frames(data)
    return frames if rest == b"" else frames + [None]


def req_name(op):
    return REQ_NAMES.get(op, "req_other")


def st_name(st):
    return "st_" + St.name(st).lower()


class Tally:
    """What the server must count for the traffic of one test."""

    def __init__(self, fields):
        self.exp = {k: 0 for k in fields}

    def add(self, field, n=1):
        self.exp[field] += n

    def sent(self, data):
        self.add("bytes_in", len(data))

    def answered(self, op, status, proto_error=False):
        self.add(req_name(op))
        self.add(st_name(status))
        self.add("latency.count")
        if proto_error:
            self.add("proto_errors")

    def received(self, f):
        self.add("bytes_out", HDR_LEN + f.body_len)


def mismatches(got, want, skip=("latency.sum",)):
    """{counter: (got, want)} for every delta that is not the expected (a
    counter missing from want must not have moved)."""
    return {k: (got.get(k), want.get(k, 0)) for k in set(got) | set(want)
            if k not in skip and got.get(k) != want.get(k, 0)}


def compare(t, what, got, want, skip=("latency.sum",)):
    """One check listing every counter whose delta is not the expected."""
    bad = mismatches(got, want, skip)
    return t.check(not bad, "%s: counters (got, want) differ: %s" % (
        what, dict(sorted(bad.items()))))


def worker_sum(doc):
    out = {}
    for w in doc["workers"]:
        for k, v in counters(w).items():
            out[k] = out.get(k, 0) + v
    return out


def core_load(rid):
    """[(what, frame, op counted, status, proto error, value)] of the
    frames answered without closing, request ids from rid."""
    load = []

    def add(what, frame, op, st=St.OK, perr=False, val=True):
        load.append((what, frame, op, st, perr, val))

    for i, (k, v) in enumerate([(b"", b""), (b"", b"x"), (b"key", b""),
                                (b"k", b"ignored value" * 20), (b"", b"")]):
        add("PING %d" % i, encode(Op.PING, v, k, rid + len(load)), Op.PING,
            val=b"PONG")
    for n in (0, 1, 100, 4000, 70000, 3000000):
        v = (bytes(range(n % 7, 251)) * (n // 240 + 1))[:n]
        add("ECHO %d bytes" % n, encode(Op.ECHO, v, b"kk" if n == 100 else
                                        b"", rid + len(load)), Op.ECHO,
            val=v)
    for v in (b"", b"abc", b"Mixed Case 123 \xc3\xa9 zz" * 3, b"q" * 5000):
        add("UPPER %d bytes" % len(v),
            encode(Op.UPPER, v, request_id=rid + len(load)), Op.UPPER,
            val=upper_bytes(v))
    for i in range(3):
        add("TIME %d" % i, encode(Op.TIME, request_id=rid + len(load)),
            Op.TIME, val="time")
    for op in (0x07, 0x30, 0xFF):
        add("opcode 0x%02x" % op, encode(op, b"body of an unknown op", b"k",
                                         rid + len(load)), op, St.UNKNOWN_OP)
    for what, kw, op in (
            ("key_len > body_len", dict(key_len=10, body=b"12345"), Op.ECHO),
            ("RESPONSE flag", dict(flags=0x01), Op.PING),
            ("reserved flag", dict(flags=0x80), Op.TIME),
            ("status != 0", dict(status=3), Op.UPPER)):
        add(what, encode(op, b"v", request_id=rid + len(load), **kw), op,
            St.BAD_REQUEST, True)
        # The connection is kept: the next frame is answered.
        add("PING after " + what, encode(Op.PING,
                                         request_id=rid + len(load)),
            Op.PING, val=b"PONG")
    return load


def one_connection(t, c, tally):
    """core_load() one frame at a time, 40 pipelined frames in one write,
    one frame a byte at a time; everything answered is tallied."""
    rid = 100
    for i, (what, frame, op, st, perr, val) in enumerate(core_load(rid)):
        c.sendall(frame)
        tally.sent(frame)
        try:
            f = read_one(c)
        except (OSError, EOFError, TimeoutError) as e:
            t.check(False, "%s: no answer: %r" % (what, e))
            return
        tally.received(f)
        tally.answered(op, st, perr)
        if val == "time":
            t.check_response(f, what, op, st, rid + i)
            t.check(TIME_RE.match(f.value), "%s: value %r" % (what, f.value))
        else:
            t.check_response(f, what, op, st, rid + i, value=val)
    burst = []
    for i in range(40):
        op = (Op.PING, Op.ECHO, Op.UPPER, 0x55)[i % 4]
        burst.append((op, encode(op, b"burst %d" % i, request_id=1000 + i)))
    data = b"".join(fr for _, fr in burst)
    c.sendall(data)
    tally.sent(data)
    for i, (op, _) in enumerate(burst):
        f = read_one(c)
        st = St.UNKNOWN_OP if op == 0x55 else St.OK
        t.check_response(f, "burst frame %d" % i, op, st, 1000 + i,
                         value=None)
        tally.received(f)
        tally.answered(op, st)
    data = encode(Op.ECHO, b"slowly", request_id=2000)
    for i in range(len(data)):
        c.sendall(data[i:i + 1])
        time.sleep(0.003)
    tally.sent(data)
    f = read_one(c)
    t.check_response(f, "trickled ECHO", Op.ECHO, rid=2000, value=b"slowly")
    tally.received(f)
    tally.answered(Op.ECHO, St.OK)


@t.case
def exact_counters(t):
    # Timeouts long enough for a loaded machine: they have their own case.
    srv = t.server({"workers": 2, "idle_timeout": 60, "read_timeout": 30,
                    "max_body": MAX_BODY}, tcp=True)
    base = idle_base(srv)
    tally = Tally(counters(base["totals"]))

    def conn(addr=None):
        tally.add("conn_accepted")
        tally.add("conn_closed")
        return connect(addr or srv.addr)

    # One connection, one request at a time: every kind of answer that
    # keeps the connection; then a pipelined burst and a trickled frame.
    c = conn()
    try:
        one_connection(t, c, tally)
    finally:
        c.close()

    # Header errors that close the connection.
    closing = [
        ("bad magic", encode(Op.PING, b"zz", request_id=9, magic=b"XY"),
         Op.NONE, St.BAD_REQUEST, 0),
        ("bad version", encode(Op.PING, request_id=10, version=2), Op.PING,
         St.BAD_VERSION, 10),
        ("body_len > max_body", encode(Op.ECHO, request_id=11,
                                       body_len=MAX_BODY + 1), Op.ECHO,
         St.TOO_LARGE, 11)]
    for what, frame, op, st, want_rid in closing:
        s = conn()
        try:
            s.sendall(frame)
            tally.sent(frame)
            how, data, _ = wait_closed(s, 5)
        finally:
            s.close()
        frames = split(data)
        t.check(how == "eof", "%s: want EOF after the answer, got %s" % (
            what, how))
        if t.check(len(frames) == 1, "%s: want 1 answer, got %r" % (
                what, data[:200])):
            t.check_response(frames[0], what, op, st, want_rid, value=True)
            tally.received(frames[0])
            tally.answered(op, st, True)

    # TCP counts like unix.
    s = conn(srv.tcp_addr)
    try:
        rq = encode(Op.ECHO, b"over tcp" * 50, request_id=12)
        s.sendall(rq)
        tally.sent(rq)
        f = read_one(s)
        t.check_response(f, "ECHO over TCP", Op.ECHO, rid=12,
                         value=b"over tcp" * 50)
        tally.received(f)
        tally.answered(Op.ECHO, St.OK)
    finally:
        s.close()
    # A connection that sends nothing.
    conn().close()

    check_exact(t, srv, base, tally.exp, "the load")


@t.case
def timeout_counters(t):
    srv = t.server({"workers": 2, "idle_timeout": 1, "read_timeout": 1})
    base = idle_base(srv)
    tally = Tally(counters(base["totals"]))
    socks = [connect(srv.addr) for _ in range(3)]
    try:
        idle_ping, idle_mute, slow = socks
        rq = encode(Op.PING, request_id=1)
        idle_ping.sendall(rq)
        tally.sent(rq)
        rq = encode(Op.PING, b"half", request_id=2)[:8]
        slow.sendall(rq)
        tally.sent(rq)
        f = read_one(idle_ping)
        t.check_response(f, "PING before idling", Op.PING, rid=1,
                         value=b"PONG")
        tally.received(f)
        tally.answered(Op.PING, St.OK)
        for s, what, counter in (
                (idle_ping, "idle after a PING", "idle_timeouts"),
                (idle_mute, "idle from the start", "idle_timeouts"),
                (slow, "half a header", "read_timeouts")):
            how, data, secs = wait_closed(s, 10)
            t.check(how == "eof" and data == b"", "%s: want EOF by the "
                    "timeout, got %s %r after %.1f s" % (what, how, data,
                                                         secs))
            tally.add(counter)
            tally.add("conn_accepted")
            tally.add("conn_closed")
    finally:
        for s in socks:
            s.close()
    check_exact(t, srv, base, tally.exp, "the timeouts")


def check_exact(t, srv, base, want, what):
    """Poll (bounded) until the totals moved by exactly want from base,
    then check everything that follows from it."""
    b_tot = counters(base["totals"])
    ok, doc = settle(srv, lambda d: not mismatches(
        delta(counters(d["totals"]), b_tot), want), timeout=5.0)
    got = delta(counters(doc["totals"]), b_tot)
    compare(t, "totals after %s%s" % (what, "" if ok else
                                      " (did not settle in 5 s)"),
            got, want)
    answered = want["latency.count"]
    t.check(req_sum(got) == st_sum(got) == got["latency.count"] == answered,
            "%s: answered %d frames: req_* +%d, st_* +%d, latency count +%d"
            % (what, answered, req_sum(got), st_sum(got),
               got["latency.count"]))
    t.check(got["latency.sum"] >= 0, "latency sum went down: %r" % got)
    t.check(doc["totals"]["counters"]["conn_active"] ==
            base["totals"]["counters"]["conn_active"],
            "%s: conn_active %d, base %d" % (
                what, doc["totals"]["counters"]["conn_active"],
                base["totals"]["counters"]["conn_active"]))
    # Where it was counted: live workers only, the same ones.
    t.check([w["pid"] for w in doc["workers"]] ==
            [w["pid"] for w in base["workers"]],
            "%s: workers changed: %r -> %r" % (
                what, [w["pid"] for w in base["workers"]],
                [w["pid"] for w in doc["workers"]]))
    compare(t, "retired after %s" % what,
            delta(counters(doc["retired"]), counters(base["retired"])), {},
            skip=())
    compare(t, "sum of the workers' deltas after %s" % what,
            delta(worker_sum(doc), worker_sum(base)), got, skip=())
    for w in doc["workers"]:
        c = w["counters"]
        t.check(c["conn_active"] == c["conn_accepted"] - c["conn_closed"],
                "worker %d: conn_active %d != accepted %d - closed %d" % (
                    w["pid"], c["conn_active"], c["conn_accepted"],
                    c["conn_closed"]))
    # Settled means settled: nothing is counted late.
    time.sleep(0.2)
    later = delta(counters(stats_json(srv)["totals"]), b_tot)
    compare(t, "totals 0.2 s after settling after %s" % what, later, want)


@t.case
def busy_counters(t):
    srv = t.server({"workers": 1, "max_connections": 2})
    base = idle_base(srv)
    b_tot = counters(base["totals"])
    keep = [srv.client(), srv.client()]
    busy_len = None
    try:
        for i, c in enumerate(keep):
            t.check_response(c.request(Op.PING, request_id=i + 1),
                             "connection %d of 2" % (i + 1), Op.PING,
                             rid=i + 1, value=b"PONG")
        s = connect(srv.addr)
        try:
            how, data, _ = wait_closed(s, 5)
        finally:
            s.close()
        frames = split(data)
        if t.check(how == "eof" and len(frames) == 1,
                   "3rd connection: want one BUSY frame and EOF, got %s %r"
                   % (how, data)):
            t.check_response(frames[0], "3rd connection", Op.NONE, St.BUSY,
                             rid=0, value=True)
            busy_len = len(data)
            # Counted before the BUSY frame left: read once, no waiting.
            now = delta(counters(stats_json(srv)["totals"]), b_tot)
            t.check(now.get("conn_busy") == 1, "conn_busy %r right after "
                    "the client read its BUSY, want 1" % now.get("conn_busy"))
    finally:
        for c in keep:
            c.close()
    want = {k: 0 for k in b_tot}
    want.update({"conn_accepted": 2, "conn_closed": 2, "conn_busy": 1,
                 "req_ping": 2, "st_ok": 2, "latency.count": 2,
                 "bytes_in": 32, "bytes_out": 40})
    # msgctl(1) says a BUSY connection is neither in conn_accepted nor its
    # answer in st_busy; it says nothing of bytes_out (msgd does not count
    # the BUSY frame there): both readings are accepted for that counter.
    alt = dict(want, bytes_out=40 + (busy_len or 0))
    ok, doc = settle(srv, lambda d: any(
        not mismatches(delta(counters(d["totals"]), b_tot), w)
        for w in (want, alt)), timeout=5.0)
    got = delta(counters(doc["totals"]), b_tot)
    compare(t, "totals after a BUSY rejection%s" % (
        "" if ok else " (did not settle in 5 s)"), got,
            alt if got.get("bytes_out") == alt["bytes_out"] else want)


def remote_stats(addr, rid):
    """One STATS request on a fresh connection; returns (socket, frame)."""
    s = connect(addr)
    s.sendall(encode(Op.STATS, request_id=rid))
    return s, read_one(s)


STABLE_MASTER = ("pid", "start_time", "generation", "workers", "slots")


def check_same_stable(t, what, a, b):
    """The members and stable fields of two documents agree."""
    t.check(set(a) == set(b), "%s: members %s vs %s" % (
        what, sorted(a), sorted(b)))
    t.check(a.get("msgd") == b.get("msgd"), "%s: msgd %r vs %r" % (
        what, a.get("msgd"), b.get("msgd")))
    for k in STABLE_MASTER:
        t.check(a["master"].get(k) == b["master"].get(k),
                "%s: master.%s %r vs %r" % (what, k, a["master"].get(k),
                                            b["master"].get(k)))
    t.check(set(a["master"]) == set(b["master"]), "%s: master members "
            "%s vs %s" % (what, sorted(a["master"]), sorted(b["master"])))
    t.check(a["listeners"] == b["listeners"], "%s: listeners %r vs %r" % (
        what, a["listeners"], b["listeners"]))
    wa = [(w["slot"], w["pid"], w["generation"], sorted(w))
          for w in a["workers"]]
    wb = [(w["slot"], w["pid"], w["generation"], sorted(w))
          for w in b["workers"]]
    t.check(wa == wb, "%s: workers %r vs %r" % (what, wa, wb))
    t.check(a["retired"] == b["retired"], "%s: retired differs" % what)
    t.check(a["torn_slots"] == b["torn_slots"] == 0, "%s: torn_slots %r %r"
            % (what, a["torn_slots"], b["torn_slots"]))
    for d in (a, b):
        acc = sum(w["counters"]["conn_accepted"] for w in d["workers"])
        for w in d["workers"]:
            share = round(w["counters"]["conn_accepted"] / acc, 4) if acc \
                else 0.0
            t.check(abs(w["accept_share"] - share) < 0.00011,
                    "%s: worker %d accept_share %r, its conn_accepted "
                    "makes %r" % (what, w["pid"], w["accept_share"], share))


def per_worker(doc):
    return {w["pid"]: counters(w) for w in doc["workers"]}


@t.case
def stats_op_matches_json(t):
    srv = t.server({"workers": 2}, tcp=True)
    before = idle_base(srv)
    s, f = remote_stats(srv.addr, 77)
    try:
        t.check_response(f, "STATS", Op.STATS, rid=77, value=None)
        raw = f.value.decode("utf-8", "replace")
        t.check(raw.endswith("\n") and raw.count("\n") == 1,
                "STATS value is not one line ending in a newline: %r" %
                raw[-80:])
        op_doc = parse_doc(raw)
        out_size = HDR_LEN + f.body_len
        # A snapshot with the STATS connection still open.
        want_after = None
        serving = None
        b_w = per_worker(before)
        o_w = per_worker(op_doc)
        check_same_stable(t, "STATS answer vs --json before", op_doc, before)
        # Before -> STATS answer: the connection and the request's 16
        # bytes, on one worker; nothing else anywhere.
        for pid, c in o_w.items():
            d = nonzero(delta(c, b_w.get(pid, {})))
            if d:
                if t.check(serving is None, "STATS answer: two workers "
                           "moved: %r" % o_w):
                    serving = pid
                t.check(d == {"conn_accepted": 1, "conn_active": 1,
                              "bytes_in": 16},
                        "STATS answer vs before, worker %d: delta %r, want "
                        "conn_accepted/conn_active +1, bytes_in +16" % (
                            pid, d))
        if not t.check(serving is not None, "STATS answer: no worker "
                       "counted the STATS connection: %r vs %r" % (
                           o_w, b_w)):
            return
        d = nonzero(delta(counters(op_doc["totals"]),
                          counters(before["totals"])))
        t.check(d == {"conn_accepted": 1, "conn_active": 1, "bytes_in": 16},
                "STATS answer vs before, totals: delta %r" % d)
        states = {w["pid"]: w["state"] for w in op_doc["workers"]}
        t.check(states[serving] == "busy", "STATS answer: the serving "
                "worker's state %r, want busy" % states[serving])
        # STATS answer -> after: the answer itself (once the worker has
        # counted the bytes it sent: poll).
        want_after = dict(o_w[serving])
        for k, n in (("req_stats", 1), ("st_ok", 1), ("latency.count", 1),
                     ("bytes_out", out_size)):
            want_after[k] += n

        def counted(d):
            c = per_worker(d).get(serving)
            return c is not None and all(
                c[k] == v for k, v in want_after.items() if k != "latency.sum")
        ok, after = settle(srv, counted, timeout=5.0)
        check_same_stable(t, "STATS answer vs --json after", op_doc, after)
        a_w = per_worker(after)
        compare(t, "--json after vs STATS answer, serving worker%s" % (
            "" if ok else " (did not settle in 5 s)"),
            delta(a_w[serving], o_w[serving]),
            {"req_stats": 1, "st_ok": 1, "latency.count": 1,
             "bytes_out": out_size})
        for pid in o_w:
            if pid != serving:
                compare(t, "--json after vs STATS answer, worker %d" % pid,
                        delta(a_w[pid], o_w[pid]), {}, skip=())
        compare(t, "--json after vs STATS answer, totals",
                delta(counters(after["totals"]), counters(op_doc["totals"])),
                {"req_stats": 1, "st_ok": 1, "latency.count": 1,
                 "bytes_out": out_size})
    finally:
        s.close()
    # msgctl -U sock stats [--json] prints the same document (its own
    # connection and request make it differ only in counters).
    for args in ((), ("--json",)):
        rc, out, err, _ = ctl(srv, "stats", *args, unix=True)
        if t.check(rc == 0, "msgctl -U stats %s: exit %d, %r" % (
                " ".join(args), rc, err)):
            try:
                d = parse_doc(out)
            except StatsError as e:
                t.check(False, "msgctl -U stats %s: %s" % (" ".join(args), e))
                continue
            check_same_stable(t, "msgctl -U stats %s vs --json" %
                              " ".join(args), d, after)
            t.check(d["totals"]["counters"]["req_stats"] >=
                    after["totals"]["counters"]["req_stats"],
                    "msgctl -U stats: req_stats went back")


t.run()

"""test_stats_msgctl: `msgctl stats` output formats and its refusals.

refusals: exit 3 with a message naming the file for a missing segment
(--file to nowhere, and -c after msgd stopped and removed it), an empty, a
10-byte and a garbage file, a copy of a real segment truncated to half and
to one page, one with another layout and one whose counter descriptor
points outside a slot; an intact copy is read fine.  Permission denied
(msgctl run as nobody when the tests run as root, else the segment made mode
000): exit 3, the message names the mode and who may read.

prometheus: with TCP and unix listeners after some traffic, every line of
`stats --prometheus` is a HELP/TYPE comment or a sample matching the text
format 0.0.4 grammar; each family has one TYPE before its samples, which
stay together; the expected families have the documented types; at rest,
every per-worker and retired series equals the --json counter it names,
the histogram's _count/_sum equal the totals' latency count/sum, and the
master gauges match the document.

watch: `stats --watch 1 --count 2` prints two tables, the second with a
req/s column and the rates line, the first without; with --json, two
documents.  Usage errors (exit 2): --count without --watch, --watch 0,
--prometheus or --watch with -U.
"""
import calendar
import os
import pwd
import re
import struct
import time

from harness import MSGCTL, Op, Suite, ctl, nobody_cannot_use, parallel, run
from statslib import (ctl_stats, idle_base, parse_doc, parse_prom,
                      prom_series, stats_file, stats_json)

t = Suite("test_stats_msgctl")

EX_USAGE, EX_NOCONN = 2, 3

# JSON counter -> (Prometheus metric, extra label), from the list in
# stats.h (documented in msgctl(1)); a counter not named here has the
# metric msgd_<counter>_total.
PROM_NAMES = {"conn_accepted": "msgd_connections_accepted_total",
              "conn_active": "msgd_connections_active",
              "conn_closed": "msgd_connections_closed_total",
              "conn_busy": "msgd_connections_rejected_total",
              "conn_handed_off": "msgd_connections_handed_off_total",
              "conn_adopted": "msgd_connections_adopted_total",
              "bytes_in": "msgd_bytes_received_total",
              "bytes_out": "msgd_bytes_sent_total",
              "proto_errors": "msgd_protocol_errors_total",
              "tls_active": "msgd_tls_connections_active",
              "tls_client_certs": "msgd_tls_client_certificates_total",
              "tls_bad_records": "msgd_tls_record_errors_total",
              "proxy_ok": "msgd_proxy_headers_total",
              "proxy_local": "msgd_proxy_headers_local_total"}
# Counters that share a metric, told apart by a label.
PROM_LABELED = {
    "tls_v12": ("msgd_tls_handshakes_by_version_total",
                ("version", "TLSv1.2")),
    "tls_v13": ("msgd_tls_handshakes_by_version_total",
                ("version", "TLSv1.3")),
    "tls_fail_protocol": ("msgd_tls_handshake_failures_total",
                          ("reason", "protocol")),
    "tls_fail_cert": ("msgd_tls_handshake_failures_total",
                      ("reason", "certificate")),
    "tls_fail_timeout": ("msgd_tls_handshake_failures_total",
                         ("reason", "timeout"))}
PROM_LABELED.update({
    "proxy_" + r: ("msgd_proxy_refused_total", ("reason", r))
    for r in ("untrusted", "none", "malformed", "too_long", "truncated",
              "timeout")})


def prom_name(field):
    """(metric, extra label or None) of a --json counter."""
    if field.startswith("req_"):
        op = field[4:]
        return "msgd_requests_total", ("op", "other" if op == "other"
                                       else op.upper())
    if field.startswith("st_"):
        return "msgd_responses_total", ("status", field[3:].upper())
    if field in PROM_LABELED:
        return PROM_LABELED[field]
    return PROM_NAMES.get(field, "msgd_%s_total" % field), None


def refused(t, what, argv, path, want_msg, preexec_fn=None):
    rc, out, err, _ = run(argv, preexec_fn=preexec_fn)
    ok = t.check(rc == EX_NOCONN, "%s: exit %d, want 3 (stderr %r)" % (
        what, rc, err))
    ok &= t.check(path in err and re.search(want_msg, err),
                  "%s: message should name %s and say /%s/: %r" % (
                      what, path, want_msg, err))
    t.check(out == "", "%s: printed %r on stdout" % (what, out[:200]))
    return ok


@t.case
def refusals(t):
    srv = t.server({"workers": 1})
    idle_base(srv)
    seg = stats_file(srv)
    with open(seg, "rb") as f:
        real = f.read()
    d = srv.dir

    def ctl_file(path):
        return [MSGCTL, "-c", srv.conf_path, "stats", "--json", "--file",
                path]

    def put(name, data):
        p = os.path.join(d, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    p = os.path.join(d, "no-such-stats")
    refused(t, "missing segment", ctl_file(p), p, "no such file")
    p = put("empty", b"")
    refused(t, "empty file", ctl_file(p), p, "too short")
    p = put("ten", b"GSGDSTAT\x02\x00")
    refused(t, "10-byte file", ctl_file(p), p, "too short")
    p = put("garbage", bytes((i * 131 + 7) % 256 for i in range(65536)))
    refused(t, "garbage file", ctl_file(p), p, "not a msgd stats segment")
    p = put("half", real[:len(real) // 2])
    refused(t, "segment truncated to half", ctl_file(p), p,
            "inconsistent or truncated")
    p = put("page", real[:4096])
    refused(t, "segment truncated to 4096 bytes", ctl_file(p), p,
            "inconsistent or truncated")
    layout = struct.unpack_from("<I", real, 8)[0]
    p = put("layout", real[:8] + struct.pack("<I", 99) + real[12:])
    refused(t, "another layout", ctl_file(p), p,
            "layout 99, this msgctl reads layout %d" % layout)
    # The first counter descriptor: name[48] label[48] field[48] unit[16]
    # help[96] kind offset nbuckets pad; offset made to point far away.
    at = real.find(b"connections_accepted\0")
    if t.check(at > 0, "no descriptor named connections_accepted in the "
               "segment"):
        off = at + 48 * 3 + 16 + 96 + 4
        p = put("desc", real[:off] + struct.pack("<I", 0x7FFFFF00) +
                real[off + 4:])
        refused(t, "descriptor outside a slot", ctl_file(p), p,
                "outside a slot")
    # An intact copy is fine: the refusals above are about the damage.
    p = put("copy", real)
    rc, out, err, _ = run(ctl_file(p))
    if t.check(rc == 0, "intact copy: exit %d, %r" % (rc, err)):
        t.check(parse_doc(out)["master"]["pid"] == srv.pid,
                "intact copy: wrong master pid")

    # Permission denied.
    if os.geteuid() == 0:
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            nobody = None
        why = "no user nobody" if nobody is None else \
            nobody_cannot_use((MSGCTL, os.X_OK))
        if why:
            print("SKIP: permission case: %s" % why)
        else:
            os.chmod(d, 0o711)      # nobody may reach the files
            os.chmod(srv.conf_path, 0o644)
            st = os.stat(seg)

            def as_nobody():
                os.setgroups([])
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
            refused(t, "segment mode %04o, msgctl as nobody" % (
                st.st_mode & 0o7777), [MSGCTL, "-c", srv.conf_path, "stats"],
                seg, r"permission denied: mode %04o, readable by uid %d and "
                r"members of (group|gid) \S+" % (st.st_mode & 0o7777,
                                                 st.st_uid),
                preexec_fn=as_nobody)
            os.chmod(d, 0o700)
    else:
        mode = os.stat(seg).st_mode & 0o7777
        os.chmod(seg, 0)
        try:
            refused(t, "segment mode 0000", [MSGCTL, "-c", srv.conf_path,
                                             "stats"], seg,
                    r"permission denied: mode 0000, readable by uid %d" %
                    os.getuid())
        finally:
            os.chmod(seg, mode)

    # msgd removes its segment when it stops.
    srv.stop()
    refused(t, "after msgd stopped", [MSGCTL, "-c", srv.conf_path, "stats"],
            seg, "no such file")


def start_seconds(doc):
    s = doc["master"]["start_time"]
    m = re.match(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.\d{6}Z$", s)
    if not m:
        return None
    return calendar.timegm(tuple(int(x) for x in m.groups()))


@t.case
def prometheus(t):
    srv = t.server({"workers": 2}, tcp=True)
    for addr, _ in srv.transports():
        with srv.client(addr=addr) as c:
            for op, v in ((Op.PING, b""), (Op.ECHO, b"x" * 300),
                          (Op.UPPER, b"abc"), (Op.TIME, b""), (0x42, b"?")):
                c.request(op, v)
            c.request(Op.PING, status=1)
    base = idle_base(srv)
    rc, text, err = ctl_stats(srv, "--prometheus")
    after = stats_json(srv)
    if not t.check(rc == 0, "--prometheus: exit %d, %r" % (rc, err)):
        return
    t.check(base["totals"] == after["totals"], "server not at rest around "
            "the --prometheus snapshot")
    samples, types, problems = parse_prom(text)
    t.check(not problems, "--prometheus output: %d problem(s):\n  %s\n"
            "output starts:\n%s" % (len(problems), "\n  ".join(problems[:15]),
                                    text[:1500]))
    want_types = {"msgd_info": "gauge", "msgd_start_time_seconds": "gauge",
                  "msgd_generation": "gauge", "msgd_workers": "gauge",
                  "msgd_worker_heartbeat_age_seconds": "gauge",
                  "msgd_worker_start_time_seconds": "gauge",
                  "msgd_listener_accept_queue": "gauge",
                  "msgd_listener_accept_queue_max": "gauge",
                  "msgd_request_duration_seconds": "histogram"}
    fields = list(base["totals"]["counters"])
    for metric, _ in map(prom_name, fields):
        want_types[metric] = "gauge" if metric in (
            "msgd_connections_active", "msgd_tls_connections_active") \
            else "counter"
    bad = {k: (types.get(k), v) for k, v in want_types.items()
           if types.get(k) != v}
    t.check(not bad, "TYPE of families (got, want): %r" % bad)
    doc = base
    slot_of = {str(w["slot"]): w for w in doc["workers"]}
    # Every series of every counter, per worker and retired, equals --json.
    diff = []
    for field in fields:
        metric, label = prom_name(field)
        series = prom_series(samples, metric)
        want = {}
        for wname, w in list(slot_of.items()) + [("retired",
                                                   doc["retired"])]:
            if metric in ("msgd_connections_active",
                          "msgd_tls_connections_active") and \
                    wname == "retired":
                continue
            key = {"worker": wname}
            if label:
                key[label[0]] = label[1]
            want[tuple(sorted(key.items()))] = w["counters"][field]
        for key, v in want.items():
            if series.get(key) != v:
                diff.append("%s%r: %r, --json %s %r" % (
                    metric, dict(key), series.get(key), field, v))
    all_keys = {(n, tuple(sorted(l.items()))) for n, l, _ in samples}
    t.check(not diff, "--prometheus vs --json at rest: %s" % diff[:10])
    workers = {l.get("worker") for n, l, _ in samples
               if n == "msgd_requests_total"}
    t.check(workers == set(slot_of) | {"retired"},
            "worker labels %r, want the slots %r and retired" % (
                sorted(workers), sorted(slot_of)))
    hb = {l.get("worker") for n, l, _ in samples
          if n == "msgd_worker_heartbeat_age_seconds"}
    t.check(hb == set(slot_of), "heartbeat series %r, want %r" % (
        sorted(hb), sorted(slot_of)))
    lat = doc["totals"]["latency_us"]
    one = {n: v for n, l, v in samples if not l}
    t.check(one.get("msgd_request_duration_seconds_count") == lat["count"],
            "histogram _count %r, --json latency count %r" % (
                one.get("msgd_request_duration_seconds_count"),
                lat["count"]))
    t.check(abs(one.get("msgd_request_duration_seconds_sum", -1) -
                lat["sum"] / 1e6) < 1e-6,
            "histogram _sum %r, --json latency sum %r us" % (
                one.get("msgd_request_duration_seconds_sum"), lat["sum"]))
    inf = prom_series(samples, "msgd_request_duration_seconds_bucket").get(
        (("le", "+Inf"),))
    t.check(inf == lat["count"], "+Inf bucket %r, count %r" % (
        inf, lat["count"]))
    t.check(one.get("msgd_workers") == doc["master"]["workers"] and
            one.get("msgd_generation") == doc["master"]["generation"] and
            one.get("msgd_start_time_seconds") == start_seconds(doc),
            "master gauges %r vs --json master %r" % (
                {k: v for k, v in one.items() if "duration" not in k},
                doc["master"]))
    info = [l for n, l, v in samples if n == "msgd_info" and v == 1]
    t.check(info == [{"version": doc["msgd"]["version"],
                      "layout": str(doc["msgd"]["layout"])}],
            "msgd_info %r vs %r" % (info, doc["msgd"]))
    q = prom_series(samples, "msgd_listener_accept_queue_max")
    t.check(list(q) == [(("listener", "127.0.0.1:%d" % srv.port),)],
            "accept queue series only for the TCP listener: %r" % q)
    t.check(("msgd_connections_active", (("worker", "retired"),)) not in
            all_keys, "the gauge has a retired series")


@t.case
def watch_and_usage(t):
    srv = t.server({"workers": 1})
    idle_base(srv)

    def table():
        return ctl_stats(srv, "--watch", "1", "--count", "2", timeout=15)

    def json2():
        return ctl_stats(srv, "--json", "--watch", "1", "--count", "2",
                         timeout=15)

    def traffic():
        # Something to count between the two reports.
        time.sleep(0.3)
        with srv.client() as c:
            for _ in range(20):
                c.request(Op.PING)
    (rc, out, err), (jrc, jout, jerr), _ = parallel(table, json2, traffic,
                                                    timeout=30)
    t.check(rc == 0, "--watch 1 --count 2: exit %d, %r" % (rc, err))
    heads = [l for l in out.splitlines() if l.startswith("slot ")]
    tops = [l for l in out.splitlines() if l.startswith("msgd ")]
    if t.check(len(heads) == 2 and len(tops) == 2,
               "--watch 1 --count 2: want 2 tables, got:\n%s" % out):
        t.check("req/s" not in heads[0].split(),
                "first table has a req/s column: %r" % heads[0])
        t.check("req/s" in heads[1].split(),
                "second table has no req/s column: %r" % heads[1])
        second = out[out.index(heads[1]):]
        first = out[:out.index(tops[1])]
        t.check("rates over" in second and "rates over" not in first,
                "the rates line belongs to the second table only:\n%s" % out)
        row = [l.split() for l in second.splitlines()
               if l.split() and l.split()[0] == "0"]
        t.check(len(row) == 1 and len(row[0]) == len(heads[1].split()),
                "second table: worker row %r under %r" % (row, heads[1]))
    t.check("\033[" not in out, "escape sequences in non-terminal output")
    t.check(jrc == 0, "--json --watch: exit %d, %r" % (jrc, jerr))
    lines = jout.splitlines()
    if t.check(len(lines) == 2, "--json --watch 1 --count 2: want 2 lines, "
               "got %r" % jout[:300]):
        docs = [parse_doc(l) for l in lines]
        t.check(docs[0]["master"]["pid"] == docs[1]["master"]["pid"] ==
                srv.pid, "--json --watch: master pids %r" % (
                    [d["master"]["pid"] for d in docs],))
    for args, what in ((["--count", "2"], "--count without --watch"),
                       (["--watch", "0"], "--watch 0"),
                       (["--watch", "1", "--count", "0"], "--count 0"),
                       (["--bogus"], "unknown option"),
                       (["extra"], "an operand")):
        rc, out, err = ctl_stats(srv, *args)
        t.check(rc == EX_USAGE and err, "stats %s: exit %d, want 2 (stderr "
                "%r)" % (what, rc, err))
    for args in (["--prometheus"], ["--watch", "1"]):
        rc, out, err, _ = ctl(srv, "stats", *args, unix=True)
        t.check(rc == EX_USAGE and "local" in err,
                "-U stats %s: exit %d, want 2 and a word about the local "
                "segment (stderr %r)" % (" ".join(args), rc, err))


t.run()

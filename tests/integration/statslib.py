"""statslib.py: helpers shared by the test_stats_*.py integration tests.

- ctl_stats(srv, *args): run `msgctl -c <conf> stats ...` (bounded), returns
  (rc, stdout, stderr); stats_json(srv) parses `stats --json`.
- Counter arithmetic over the JSON document: req_sum(), st_sum(), delta(),
  and the list of counters that are gauges (never compared for monotony).
- settle(): poll the JSON (bounded) until a predicate holds, instead of
  sleeping; idle_base(): a snapshot of a server at rest (every configured
  worker has answered its start-up probe, no connection open, two
  consecutive snapshots with the same totals).
- parse_prom(): a strict parser of the Prometheus text format 0.0.4 (every
  sample line must match the exposition grammar, HELP/TYPE once per family
  and before its samples, a family's samples together, no duplicates).
"""
import json
import os
import re

from harness import ctl, poll

GAUGES = ("conn_active", "tls_active")


def stats_file(srv):
    """The server's stats segment (the harness puts it in its temp dir)."""
    return os.path.join(srv.dir, "stats")


def ctl_stats(srv, *args, timeout=10.0, preexec_fn=None):
    """`msgctl -c <conf> stats ARGS`; returns (rc, stdout, stderr)."""
    rc, out, err, _ = ctl(srv, "stats", *args, timeout=timeout,
                          preexec_fn=preexec_fn)
    return rc, out, err


class StatsError(Exception):
    pass


def parse_doc(text):
    try:
        return json.loads(text)
    except ValueError as e:
        raise StatsError("not JSON (%s): %r" % (e, text[:300]))


def stats_json(srv):
    """The stats document from `msgctl -c <conf> stats --json`."""
    rc, out, err = ctl_stats(srv, "--json")
    if rc != 0:
        raise StatsError("msgctl stats --json: exit %d, stderr %r" % (rc, err))
    return parse_doc(out)


def counters(part):
    """The counters (and latency count/sum) of a workers[]/retired/totals
    entry, as one flat dict."""
    c = dict(part["counters"])
    c["latency.count"] = part["latency_us"]["count"]
    c["latency.sum"] = part["latency_us"]["sum"]
    return c


def req_sum(c):
    return sum(v for k, v in c.items() if k.startswith("req_"))


def st_sum(c):
    return sum(v for k, v in c.items() if k.startswith("st_"))


def delta(after, before):
    """after - before, key by key (both flat counter dicts)."""
    return {k: after[k] - before.get(k, 0) for k in after}


def nonzero(d):
    return {k: v for k, v in d.items() if v}


def workers_by_pid(doc):
    return {w["pid"]: w for w in doc["workers"]}


def settle(srv, pred, timeout=5.0, interval=0.02):
    """Poll the JSON until pred(doc) is true or timeout; returns (ok, doc)
    with the last document seen."""
    doc = poll(lambda: stats_json(srv), timeout=timeout, step=interval,
               until=pred)
    return bool(pred(doc)), doc


def totals(srv):
    """The totals' counters of `msgctl stats --json`."""
    return stats_json(srv)["totals"]["counters"]


def settle_totals(srv, pred, timeout=5.0):
    """Poll the totals until pred(totals) (bounded); returns the last."""
    return poll(lambda: totals(srv), timeout=timeout, until=pred)


def at_rest(srv, doc):
    """Every configured worker has a slot and answered its probe, and no
    connection is open anywhere."""
    ws = doc["workers"]
    return (len(ws) == srv.workers_wanted and
            all(w["counters"]["req_ping"] >= 1 for w in ws) and
            all(w["counters"]["conn_active"] == 0 for w in ws) and
            doc["totals"]["counters"]["conn_active"] == 0)


def idle_base(srv, timeout=10.0):
    """A snapshot of srv at rest whose totals did not move since the one
    before it.  Raises StatsError when that does not happen in time."""
    prev = None

    def rested():
        """(doc, doc at rest and the same as the one before)."""
        nonlocal prev
        doc = stats_json(srv)
        rest = at_rest(srv, doc)
        same = rest and prev is not None and \
            counters(doc["totals"]) == counters(prev["totals"]) and \
            [w["pid"] for w in doc["workers"]] == \
            [w["pid"] for w in prev["workers"]]
        prev = doc if rest else None
        return doc, same
    doc, same = poll(rested, timeout=timeout, step=0.03,
                     until=lambda r: r[1])
    if not same:
        raise StatsError("server did not come to rest within %.0f s; "
                         "last document: %s" % (timeout,
                                                json.dumps(doc)[:2000]))
    return doc


# ------------------------------------------------------------ prometheus

_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE_RE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(?:\{(?P<labels>' + _LABEL + r'(?:,' + _LABEL + r')*)?\})?'
    r' (?P<value>[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?'
    r'|[-+]Inf|NaN)(?: -?[0-9]+)?$')
HELP_RE = re.compile(r'^# HELP (?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$')
TYPE_RE = re.compile(r'^# TYPE (?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*) '
                     r'(?P<type>counter|gauge|histogram|summary|untyped)$')
LABEL_ITEM_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')


def parse_prom(text):
    """Parse the text exposition format 0.0.4 strictly.  Returns (samples,
    types, problems): samples a list of (name, {label: value}, float)."""
    samples, types, helps, problems = [], {}, set(), []
    seen = set()
    family_done = set()
    current = None
    if not text.endswith("\n"):
        problems.append("output does not end with a newline")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("#"):
            m = TYPE_RE.match(line)
            if m:
                if m.group("name") in types:
                    problems.append("line %d: second TYPE for %s" % (
                        n, m.group("name")))
                types[m.group("name")] = m.group("type")
                continue
            m = HELP_RE.match(line)
            if m:
                if m.group("name") in helps:
                    problems.append("line %d: second HELP for %s" % (
                        n, m.group("name")))
                helps.add(m.group("name"))
                continue
            problems.append("line %d: bad comment line %r" % (n, line))
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            problems.append("line %d: not a sample line: %r" % (n, line))
            continue
        name = m.group("name")
        labels = dict(LABEL_ITEM_RE.findall(m.group("labels") or ""))
        family = name
        if name not in types:
            for suf in ("_bucket", "_sum", "_count"):
                if name.endswith(suf) and types.get(name[:-len(suf)]) == \
                        "histogram":
                    family = name[:-len(suf)]
        if family not in types:
            problems.append("line %d: %s has no TYPE line before it" % (
                n, name))
        if family != current:
            if family in family_done:
                problems.append("line %d: samples of %s are not together" %
                                (n, family))
            if current is not None:
                family_done.add(current)
            current = family
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            problems.append("line %d: duplicate sample %r" % (n, line))
        seen.add(key)
        samples.append((name, labels, float(m.group("value"))))
    return samples, types, problems


def prom_series(samples, name):
    """{labels tuple: value} of one metric name."""
    return {tuple(sorted(l.items())): v for n, l, v in samples if n == name}

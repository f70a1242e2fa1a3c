"""test_cpu_affinity: each worker's loop keeps to a CPU of its own.

Unpinned, two busy workers sharing two CPUs with their clients were moved
between the CPUs every few requests (bench/README.md, "cpu_affinity").
With cpu_affinity = "auto" (the default) worker N's event loop keeps to
the N-th CPU msgd may use, round again past the last, when the workers
share those CPUs evenly; its other threads keep every CPU.

msgd may use the CPUs of its affinity, inherited from this test, which
narrows its own to a set of CPUs (S) around each start and restores it.
Needs two CPUs (else SKIP).

auto_pins_loops: S = the first two allowed CPUs, workers 4, files enabled
(two threads each): after every worker answered its start-up probe,
worker N's loop may run on S[N % 2] alone, and each of its file threads
on both CPUs of S.
respawned_same_cpu: S as above, workers 2; worker 1 killed (SIGKILL):
its replacement, worker 1 again, keeps to S[1].
counted_in_affinity: S = the allowed CPUs but the first (up to 2 of
them), workers 2 * len(S): worker 0 is on S[0], not on the machine's
first CPU (positions count among what msgd may use); and with workers
"auto" under S = one CPU, msgd starts one worker (ncpus counts the
affinity, not the CPUs online).
uneven_left_alone: S two CPUs, workers 3: no worker is kept to one CPU
(one CPU would hold two loops for good), and worker 0 says so in the log.
off_leaves_all: cpu_affinity = "off", workers 2: every thread of every
worker may run on both CPUs of S.
bad_word: cpu_affinity = "always": msgd -t exits 1 naming the file and
line, the setting and the allowed words.
"""
import os
import signal
import sys

from harness import MSGD, SKIP, Suite, poll, run

t = Suite("test_cpu_affinity")

ALLOWED = sorted(os.sched_getaffinity(0))
if len(ALLOWED) < 2:
    print("test_cpu_affinity: SKIP: needs 2 CPUs, this process may use %r"
          % ALLOWED)
    sys.exit(SKIP)


def cpus_of(path):
    """The CPUs in a /proc/.../status Cpus_allowed_list, as a sorted list,
    or None when the file is gone."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("Cpus_allowed_list:"):
                    text = line.split(":", 1)[1].strip()
                    break
            else:
                return None
    except OSError:
        return None
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def position(pid):
    """N of a worker whose title is "msgd: worker N", or None."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            title = f.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return None
    if not title.startswith("msgd: worker "):
        return None
    return int(title.rsplit(" ", 1)[1])


def comm(pid, tid):
    try:
        with open("/proc/%d/task/%d/comm" % (pid, tid)) as f:
            return f.read().strip()
    except OSError:
        return None


def threads(pid):
    """{tid: [cpus]} of the threads of pid, but the kernel's io_uring
    workers (iou-*: made by the kernel when it needs them, with a mask of
    its own) and threads gone while read."""
    try:
        tids = sorted(int(x) for x in os.listdir("/proc/%d/task" % pid))
    except OSError:
        return {}
    out = {}
    for tid in tids:
        name = comm(pid, tid)
        cpus = cpus_of("/proc/%d/task/%d/status" % (pid, tid))
        if name is not None and cpus is not None and \
                not name.startswith("iou-"):
            out[tid] = cpus
    return out


def live_workers(srv):
    """{position: pid} of the workers serving now."""
    out = {}
    for pid, state in srv.workers():
        n = position(pid)
        if state != "Z" and n is not None:
            out[n] = pid
    return out


def start(t, cpus, settings, files=True):
    """A server started while this process may use only cpus (msgd
    inherits that), every worker serving (so each has pinned its loop)."""
    srv = t.server(settings, start=False)
    if files:
        d = os.path.join(srv.dir, "files")
        os.mkdir(d, 0o700)
        srv.settings["files"] = {"enabled": True, "dir": d, "threads": 2}
    os.sched_setaffinity(0, set(cpus))
    try:
        srv.start()
    finally:
        os.sched_setaffinity(0, set(ALLOWED))
    t.check(srv.all_serving(), "every worker answered its probe")
    return srv


def check_pinned(t, srv, cpus, nthreads, what):
    """Every worker's loop on cpus[N % len], its other threads (there must
    be nthreads - 1 of them) on all of cpus."""
    ws = live_workers(srv)
    t.check(sorted(ws) == list(range(srv.workers_wanted)),
            "%s: worker positions %r" % (what, sorted(ws)))
    for n, pid in sorted(ws.items()):
        th = threads(pid)
        want = cpus[n % len(cpus)]
        t.check(th.get(pid) == [want],
                "%s: worker %d (pid %d) loop may run on %r, want [%d]" % (
                    what, n, pid, th.get(pid), want))
        others = {tid: c for tid, c in th.items() if tid != pid}
        t.check(len(others) == nthreads - 1,
                "%s: worker %d has threads %r, want %d" % (
                    what, n, sorted(th), nthreads))
        t.check(all(c == sorted(cpus) for c in others.values()),
                "%s: worker %d's other threads may run on %r, want %r" % (
                    what, n, others, cpus))


def check_unpinned(t, srv, cpus, what):
    ws = live_workers(srv)
    t.check(len(ws) == srv.workers_wanted,
            "%s: workers %r" % (what, sorted(ws)))
    for n, pid in sorted(ws.items()):
        th = threads(pid)
        t.check(len(th) == 3 and all(c == sorted(cpus) for c in th.values()),
                "%s: worker %d's threads may run on %r, want all of %r" % (
                    what, n, th, cpus))


@t.case
def auto_pins_loops(t):
    s = ALLOWED[:2]
    srv = start(t, s, {"workers": 4})
    check_pinned(t, srv, s, 3, "auto, 4 workers on %r" % s)


@t.case
def respawned_same_cpu(t):
    s = ALLOWED[:2]
    srv = start(t, s, {"workers": 2})
    old = live_workers(srv)[1]
    os.kill(old, signal.SIGKILL)
    new = poll(lambda: live_workers(srv).get(1), timeout=10.0,
               until=lambda p: p is not None and p != old)
    t.check(new is not None and new != old,
            "worker 1 (pid %d) replaced: %r" % (old, new))
    got = poll(lambda: threads(new).get(new), timeout=10.0,
               until=lambda c: c == [s[1]])
    t.check(got == [s[1]],
            "replacement worker 1 (pid %r) may run on %r, want [%d]" % (
                new, got, s[1]))
    srv.health = False  # a worker was killed on purpose


@t.case
def counted_in_affinity(t):
    s = ALLOWED[1:3]
    srv = start(t, s, {"workers": 2 * len(s)})
    check_pinned(t, srv, s, 3, "auto under %r" % s)
    one = [ALLOWED[-1]]
    srv = start(t, one, {"workers": "auto"}, files=False)
    t.check(len(live_workers(srv)) == 1,
            "workers \"auto\" under %r: %r, want 1 worker" % (
                one, live_workers(srv)))


@t.case
def uneven_left_alone(t):
    s = ALLOWED[:2]
    srv = start(t, s, {"workers": 3})
    check_unpinned(t, srv, s, "3 workers on %r" % s)
    t.check("cpu_affinity: 3 workers on 2 CPUs: not kept to one each" in
            srv.log(), "worker 0 says why it pins nothing: %r" % srv.log())


@t.case
def off_leaves_all(t):
    s = ALLOWED[:2]
    srv = start(t, s, {"workers": 2, "cpu_affinity": "off"})
    check_unpinned(t, srv, s, "off")


@t.case
def bad_word(t):
    srv = t.server({"cpu_affinity": "always"}, start=False, health=False)
    srv.write_conf()
    rc, out, err, _ = run([MSGD, "-t", "-c", srv.conf_path])
    t.check(rc == 1 and srv.conf_path in err and "cpu_affinity" in err and
            "auto" in err and "off" in err,
            "msgd -t with cpu_affinity = \"always\": exit %d, %r" % (
                rc, err))


t.run()

"""test_cpu_affinity: each worker's loop keeps to a CPU of its own.

Unpinned, two busy workers sharing two CPUs with their clients were moved
between the CPUs every few requests (bench/README.md, "cpu_affinity").
With cpu_affinity = "auto" (the default) worker N's event loop keeps to
the N-th CPU msgd may use, round again past the last; its other threads
do not, so a LIST's sorting never takes the loop's CPU.

The CPUs "msgd may use" are this test's own affinity (msgd inherits it).

auto_pins_loops (workers 3, files enabled: two threads each): after every
worker answered its start-up probe, worker N's first thread (the loop) may
run on exactly the CPU allowed[N % len(allowed)], and each of its file
threads on every CPU of allowed.
respawned_same_cpu: worker 1 killed (SIGKILL); its replacement, worker 1
again, keeps to the same CPU.
narrowed (only with 2 CPUs or more): msgd started under an affinity of
the last allowed CPU alone: every worker's loop is on that CPU (the
position counts among what msgd may use, not among the machine's).
off_leaves_all: cpu_affinity = "off": every thread of every worker may
run on every CPU of allowed.
bad_word: cpu_affinity = "always": msgd -t exits 1 naming the file and
line, the setting and the allowed words.
"""
import os
import signal

from harness import MSGD, Suite, poll, run

t = Suite("test_cpu_affinity")

ALLOWED = sorted(os.sched_getaffinity(0))


def cpus_of(path):
    """The CPUs in a /proc/.../status Cpus_allowed_list, as a sorted list."""
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
        return ""


def threads(pid):
    """{tid: [cpus]} of every thread of pid but the kernel's io_uring
    workers (iou-wrk-N: made when the kernel needs them, on the loop's
    CPU, as the loop's thread makes them)."""
    try:
        tids = sorted(int(x) for x in os.listdir("/proc/%d/task" % pid))
    except OSError:
        return {}
    return {tid: cpus_of("/proc/%d/task/%d/status" % (pid, tid))
            for tid in tids if not comm(pid, tid).startswith("iou-")}


def live_workers(srv):
    """{position: pid} of the workers serving now."""
    out = {}
    for pid, state in srv.workers():
        n = position(pid)
        if state != "Z" and n is not None:
            out[n] = pid
    return out


def check_pinned(t, srv, allowed, nthreads, what):
    """Every worker's loop on allowed[N % len], its other threads (there
    must be nthreads - 1 of them) on all of allowed."""
    ws = live_workers(srv)
    t.check(sorted(ws) == list(range(srv.workers_wanted)),
            "%s: worker positions %r" % (what, sorted(ws)))
    for n, pid in sorted(ws.items()):
        th = threads(pid)
        want = allowed[n % len(allowed)]
        t.check(th.get(pid) == [want],
                "%s: worker %d (pid %d) loop may run on %r, want [%d]" % (
                    what, n, pid, th.get(pid), want))
        others = {tid: c for tid, c in th.items() if tid != pid}
        t.check(len(others) == nthreads - 1,
                "%s: worker %d has threads %r, want %d" % (
                    what, n, sorted(th), nthreads))
        t.check(all(c == allowed for c in others.values()),
                "%s: worker %d's other threads may run on %r, want %r" % (
                    what, n, others, allowed))


def files_server(t, settings):
    srv = t.server(settings, start=False)
    d = os.path.join(srv.dir, "files")
    os.mkdir(d, 0o700)
    srv.settings["files"] = {"enabled": True, "dir": d, "threads": 2}
    srv.start()
    t.check(srv.all_serving(), "every worker answered its probe")
    return srv


@t.case
def auto_pins_loops(t):
    srv = files_server(t, {"workers": 3})
    check_pinned(t, srv, ALLOWED, 3, "auto")


@t.case
def respawned_same_cpu(t):
    srv = files_server(t, {"workers": 2})
    old = live_workers(srv)[1]
    os.kill(old, signal.SIGKILL)
    new = poll(lambda: live_workers(srv).get(1), timeout=10.0,
               until=lambda p: p is not None and p != old)
    t.check(new is not None and new != old,
            "worker 1 (pid %d) replaced: %r" % (old, new))
    want = [ALLOWED[1 % len(ALLOWED)]]
    got = poll(lambda: threads(new).get(new), timeout=10.0,
               until=lambda c: c == want)
    t.check(got == want,
            "replacement worker 1 (pid %r) may run on %r, want %r" % (
                new, got, want))
    srv.health = False  # a worker was killed on purpose


@t.case
def narrowed(t):
    if len(ALLOWED) < 2:
        print("narrowed: skipped, one CPU allowed")
        return
    last = ALLOWED[-1]
    os.sched_setaffinity(0, {last})
    try:
        srv = files_server(t, {"workers": 2})
    finally:
        os.sched_setaffinity(0, set(ALLOWED))
    check_pinned(t, srv, [last], 3, "narrowed to CPU %d" % last)


@t.case
def off_leaves_all(t):
    srv = files_server(t, {"workers": 2, "cpu_affinity": "off"})
    for n, pid in sorted(live_workers(srv).items()):
        th = threads(pid)
        t.check(len(th) == 3 and all(c == ALLOWED for c in th.values()),
                "off: worker %d's threads may run on %r, want all %r" % (
                    n, th, ALLOWED))


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

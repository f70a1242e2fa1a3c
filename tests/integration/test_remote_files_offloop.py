"""test_remote_files_offloop: the worker's event loop never waits on the disk.

PUT, GET, LIST and DEL ran inside the worker's epoll loop: while one
connection's LIST of 100,000 files ran, a PING on another connection of
the same worker waited 0.2 s; a PUT waiting for the spool lock held up
every connection of its worker.  They now run in the worker's threads.

All cases: workers = 1 (every connection on the same worker).
ping_while_list: 20,000 files; a LIST on one connection, a PING on another
sent just after it: the PONG arrives before the LIST answer (which lists
all 20,000).
ping_while_put_waits: the test holds the spool lock (.lock), so a PUT
cannot finish: PINGs on another connection are answered meanwhile; the
PUT is answered OK once the lock is released.
pipelined_order: PUT, GET, PING, PUT (1 MiB), GET, LIST, DEL, GET, PING
sent in one write on one connection are answered in request order.
queue_full: files.threads = 1, files.queue = 1, the lock held: a PUT
waits in the thread, a second file operation is BUSY "files.queue", a
PING is answered; the first PUT is answered OK after the release.
closed_while_running: a connection closes while its PUT waits for the
lock: the worker keeps serving (same pid), and the PUT, finished after
the release with nobody to answer, stored its file.
drain_waits_for_job: SIGTERM while a PUT waits for the lock: the worker
drains, and the PUT is answered OK once the lock is released.
queued_puts_within_budget: max_body 4 MiB, buffer_budget 8 MiB,
files.threads = 1, the lock held: 24 connections each send a 4 MiB PUT.
The frames taken by queued jobs stay charged to the budget, so the others
wait unread (buffer_budget_waits) and the worker's VmRSS stays within the
budget plus the documented slack (before: every frame was read and
queued, about 100 MiB); once the lock is released every PUT is answered
OK, and the worker then holds nothing (a 1 MiB frame is admitted at once,
no new wait).
stuck_job_at_shutdown: shutdown_timeout 1 s, SIGTERM while a PUT waits
for the lock the test keeps: the worker gives up on the job, logs it, and
exits by itself before the master's kill (before: its 2 s wait for the
job outlasted the master's 1 s grace, "killed by signal 9").
"""
import fcntl
import os
import select
import signal
import threading

from harness import SPOOL_LOCK, Op, St, Suite, encode, poll, proc_status
from statslib import totals

t = Suite("test_remote_files_offloop")

NFILES = 20000
WAIT = 30.0         # bound on any answer (a slow, loaded machine)


def files_server(t, files=None, settings=None, start=True):
    """One worker, files enabled in <temp>/files (started unless start
    is false: the caller starts it)."""
    conf = {"workers": 1}
    conf.update(settings or {})
    srv = t.server(conf, start=False)
    srv.files_dir = os.path.join(srv.dir, "files")
    f = {"enabled": True, "dir": srv.files_dir, "max_count": NFILES + 100}
    f.update(files or {})
    srv.settings["files"] = f
    return srv.start() if start else srv


def hold_lock(srv):
    """The spool lock, taken by the test: a PUT cannot get past it.
    Returns the descriptor; closing it releases the lock."""
    fd = os.open(os.path.join(srv.files_dir, SPOOL_LOCK), os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def lock_waited(t, srv):
    """Poll (bounded) /proc/locks until the worker waits for the lock the
    test holds (a blocked flock is listed with "->" and its pid): the
    file operation is then stuck where the test wants it."""
    pids = {str(p) for p, _ in srv.workers()}

    def waiting():
        with open("/proc/locks") as f:
            return any("->" in ln and "FLOCK" in ln and
                       ln.split()[5] in pids for ln in f)
    t.check(poll(waiting, timeout=10), "the worker waits for the lock")


def stuck_put(t, srv, c, key, val, rid):
    """A PUT on c that cannot finish: the test holds the spool lock and
    the worker waits for it.  Returns the lock's descriptor (close it to
    let the PUT go on)."""
    lock = hold_lock(srv)
    c.send_frame(Op.PUT, val, key, request_id=rid)
    lock_waited(t, srv)
    return lock


def pings(t, c, n, first_id, what):
    """n PINGs on c, each answered PONG (within the client's timeout)."""
    for i in range(n):
        f = c.request(Op.PING, request_id=first_id + i)
        t.check_response(f, "%s: PING %d" % (what, i), Op.PING,
                         rid=first_id + i, value=b"PONG")


@t.case
def ping_while_list(t):
    srv = files_server(t)
    for i in range(NFILES):
        fd = os.open(os.path.join(srv.files_dir, "f%06d" % i),
                     os.O_WRONLY | os.O_CREAT, 0o644)
        os.close(fd)
    with srv.client(timeout=WAIT) as a, srv.client(timeout=WAIT) as b:
        pings(t, b, 1, 1, "before")
        a.send_frame(Op.LIST, request_id=2)
        b.send_frame(Op.PING, request_id=3)
        ready, _, _ = select.select([a.sock, b.sock], [], [], WAIT)
        t.check(ready == [b.sock], "the PING is answered before the LIST "
                "(first readable: %s)" % (["LIST", "PING"][ready.index(
                    b.sock)] if ready == [b.sock] else
                    "LIST" if ready == [a.sock] else repr(len(ready))))
        f = b.recv_frame()
        t.check_response(f, "PING during LIST", Op.PING, rid=3,
                         value=b"PONG")
        f = a.recv_frame()
        t.check(f.status == St.OK and f.request_id == 2 and
                f.value.count(b"\n") == NFILES, "LIST of %d files: %r" % (
                    NFILES, f))


@t.case
def ping_while_put_waits(t):
    srv = files_server(t)
    with srv.client(timeout=WAIT) as a, srv.client(timeout=5) as b:
        pings(t, b, 1, 1, "before")
        lock = stuck_put(t, srv, a, b"waits", b"data", 2)
        try:
            pings(t, b, 3, 10, "while a PUT waits for the lock")
        finally:
            os.close(lock)
        f = a.recv_frame()
        t.check_response(f, "PUT after the release", Op.PUT, rid=2)
    with open(os.path.join(srv.files_dir, "waits"), "rb") as fh:
        t.check(fh.read() == b"data", "the file was stored")


@t.case
def pipelined_order(t):
    srv = files_server(t, {"max_size": 2 << 20})
    big = bytes(range(256)) * 4096
    reqs = [(Op.PUT, b"a", b"one", St.OK, b""),
            (Op.GET, b"a", b"", St.OK, b"one"),
            (Op.PING, b"", b"", St.OK, b"PONG"),
            (Op.PUT, b"b", big, St.OK, b""),
            (Op.GET, b"b", b"", St.OK, big),
            (Op.LIST, b"", b"", St.OK, None),
            (Op.DEL, b"a", b"", St.OK, b""),
            (Op.GET, b"a", b"", St.NOT_FOUND, None),
            (Op.PING, b"", b"", St.OK, b"PONG")]
    with srv.client(timeout=WAIT) as c:
        data = b""
        for i, (op, key, val, _, _) in enumerate(reqs):
            data += encode(op, val, key, request_id=100 + i)
        c.send(data)
        for i, (op, key, _, st, want) in enumerate(reqs):
            f = c.recv_frame()
            t.check(f.opcode == op and f.request_id == 100 + i and
                    f.status == st, "answer %d in order: %r" % (i, f))
            if want is not None:
                t.check(f.value == want, "answer %d value (%d bytes)" % (
                    i, len(f.value)))
            if op == Op.LIST:
                t.check(f.value.startswith(b"a\t3\t") and b"\nb\t%d\t" %
                        len(big) in f.value, "LIST: %r" % f.value[:80])


@t.case
def queue_full(t):
    srv = files_server(t, {"threads": 1, "queue": 1})
    with srv.client(timeout=WAIT) as a, srv.client(timeout=5) as b:
        pings(t, b, 1, 1, "before")
        lock = stuck_put(t, srv, a, b"first", b"first", 2)
        try:
            f = b.request(Op.GET, key=b"first", request_id=3)
            t.check(f.status == St.BUSY and b"files.queue" in f.value,
                    "a second file operation is BUSY: %r" % (f,))
            pings(t, b, 1, 4, "queue full")
        finally:
            os.close(lock)
        f = a.recv_frame()
        t.check_response(f, "the first PUT", Op.PUT, rid=2)


@t.case
def closed_while_running(t):
    srv = files_server(t)
    pid = [p for p, _ in srv.workers()]
    with srv.client(timeout=5) as b:
        a = srv.client(timeout=5)
        lock = stuck_put(t, srv, a, b"orphan", b"late", 1)
        try:
            pings(t, b, 1, 2, "its PUT waiting")
            a.close()
            pings(t, b, 2, 3, "its connection closed")
        finally:
            os.close(lock)
        path = os.path.join(srv.files_dir, "orphan")
        t.check(poll(lambda: os.path.exists(path), timeout=10),
                "the PUT finished with nobody to answer")
        pings(t, b, 2, 10, "after")
    t.check([p for p, _ in srv.workers()] == pid, "the same worker: %r "
            "then %r" % (pid, srv.workers()))


@t.case
def drain_waits_for_job(t):
    srv = files_server(t)
    with srv.client(timeout=WAIT) as a, srv.client(timeout=5) as b:
        pings(t, b, 1, 1, "before")
        lock = stuck_put(t, srv, a, b"drained", b"kept", 2)
        try:
            pings(t, b, 1, 3, "its PUT waiting")
            srv.send_signal(signal.SIGTERM)
            b.close()
        finally:
            os.close(lock)
        f = a.recv_frame()
        t.check_response(f, "the PUT, while draining", Op.PUT, rid=2)
    srv.wait()
    with open(os.path.join(srv.files_dir, "drained"), "rb") as fh:
        t.check(fh.read() == b"kept", "the file was stored")


@t.case
def queued_puts_within_budget(t):
    mib = 1 << 20
    n = 24
    srv = files_server(t, {"threads": 1, "max_size": 4 * mib},
                       {"max_body": 4 * mib, "buffer_budget": 8 * mib},
                       start=False)
    # Under AddressSanitizer freed blocks wait in a quarantine the RSS
    # would measure (as in test_mem_limits); ignored without it.
    asan = os.environ.get("ASAN_OPTIONS")
    os.environ["ASAN_OPTIONS"] = (asan + ":" if asan else "") + \
        "quarantine_size_mb=0"
    try:
        srv.start()
    finally:
        if asan is None:
            del os.environ["ASAN_OPTIONS"]
        else:
            os.environ["ASAN_OPTIONS"] = asan
    pid = [p for p, _ in srv.workers()][0]

    def rss():
        return int(proc_status(pid, "VmRSS").split()[0]) * 1024

    def waits():
        return totals(srv).get("buffer_budget_waits", 0)
    before = rss()
    val = b"v" * (4 * mib - 64)
    cs = [srv.client(timeout=WAIT) for _ in range(n)]
    lock = hold_lock(srv)
    senders = []
    try:
        # One at a time: each frame is either read (sent whole) or waits
        # for the budget before the next one is sent.
        for i, c in enumerate(cs):
            w0 = waits()
            th = threading.Thread(target=c.send_frame, daemon=True,
                                  args=(Op.PUT, val, b"f%d" % i),
                                  kwargs={"request_id": i + 1})
            th.start()
            senders.append(th)
            t.check(poll(lambda: waits() > w0 or not th.is_alive(),
                         timeout=WAIT),
                    "PUT %d read or waiting" % i)
            if i == 0:
                lock_waited(t, srv)
        # Two frames fit in the budget (one job running, one queued):
        # every other one waits for it, unread.
        t.check(waits() >= n - 2, "the frames past the budget wait "
                "(buffer_budget_waits %r of %d)" % (waits(), n - 2))
        # budget + the largest answer + a block pair per connection.
        slack = 8 * mib + 4 * mib + n * 32 * 1024 + 4 * mib
        grown = rss() - before
        t.check(grown <= slack, "worker VmRSS grew by %d MiB, within "
                "the budget plus slack (%d MiB)" % (grown >> 20,
                                                    slack >> 20))
    finally:
        os.close(lock)
    for th in senders:
        th.join(WAIT)
    for i, c in enumerate(cs):
        f = c.recv_frame()
        t.check_response(f, "PUT %d after the release" % i, Op.PUT,
                         rid=i + 1)
        c.close()
    w0 = waits()
    with srv.client(timeout=WAIT) as c:
        f = c.request(Op.ECHO, b"e" * mib)
        t.check(f.status == St.OK and waits() == w0, "nothing stays "
                "charged: a 1 MiB frame is admitted at once (waits %d "
                "then %d)" % (w0, waits()))


@t.case
def stuck_job_at_shutdown(t):
    srv = files_server(t, settings={"shutdown_timeout": 1})
    a = srv.client(timeout=WAIT)
    lock = stuck_put(t, srv, a, b"stuck", b"never", 1)
    try:
        srv.send_signal(signal.SIGTERM)
        t.check(srv.wait(timeout=WAIT) is not None, "msgd exited")
    finally:
        os.close(lock)
        a.close()
    log = srv.log()
    t.check("exiting while a file operation still runs" in log,
            "the worker said it left a job running")
    t.check("killed by signal" not in log, "the worker exited by itself, "
            "not killed: %s" % log[-600:])


t.run()

"""test_remote_max_count: files.max_count is exact across workers.

Each worker counted the files and then wrote and renamed its temporary
file: two workers storing new names at once could both see room for one
more (21 files with a limit of 20, 3 of 10 trials).

2 workers, files.max_count = 20; 10 trials of 16 connections, 8 held by
each worker (each connected while the other worker was stopped), each
pipelining 4 PUTs of new names at once (64 names for 20 places).  After every
trial the directory holds exactly 20 files, every PUT was answered OK or
TOO_LARGE "files.max_count reached", and OK answers are exactly the files
on disk.  Then the directory is emptied for the next trial.
"""
import os
import signal
import threading

from harness import Op, St, Suite, encode, parallel, spool_entries

t = Suite("test_remote_max_count")

MAX_COUNT = 20
CONNS = 16
PER_CONN = 4
TRIALS = 10
SIZE = 256 << 10


def spread(t, srv):
    """CONNS connections, half of them held by each worker: while one
    worker is stopped (SIGSTOP, well under worker_timeout) only the other
    can accept, and a PING answered shows it did."""
    ws = [p for p, st in srv.workers() if st != "Z"]
    t.check(len(ws) == 2, "two workers: %r" % ws)
    clients = []
    for held, stopped in ((ws[0], ws[1]), (ws[1], ws[0])):
        os.kill(stopped, signal.SIGSTOP)
        try:
            for _ in range(CONNS // 2):
                c = srv.client(timeout=20)
                t.check(c.request(Op.PING).status == St.OK, "PING")
                clients.append(c)
        finally:
            os.kill(stopped, signal.SIGCONT)
    return clients


@t.case
def concurrent_new_names(t):
    srv = t.server({"workers": 2}, start=False)
    files_dir = os.path.join(srv.dir, "files")
    srv.settings["files"] = {"enabled": True, "dir": files_dir,
                             "max_size": SIZE, "max_count": MAX_COUNT}
    srv.start()
    data = os.urandom(SIZE)
    for trial in range(TRIALS):
        clients = spread(t, srv)
        go = threading.Barrier(CONNS, timeout=20)
        answers = [[] for _ in range(CONNS)]

        def put(n):
            c = clients[n]
            names = [b"t%d-c%d-%d" % (trial, n, i) for i in range(PER_CONN)]
            go.wait()
            # Pipelined: all of this connection's PUTs are queued at once.
            c.send(b"".join(
                encode(Op.PUT, data, name, i + 1)
                for i, name in enumerate(names)))
            for name in names:
                f = c.recv_frame()
                answers[n].append((name, f))

        try:
            parallel(*[lambda n=n: put(n) for n in range(CONNS)],
                     timeout=60)
        finally:
            for c in clients:
                c.close()
        on_disk = sorted(n for n in os.listdir(files_dir)
                         if not n.startswith("."))
        stored = sorted(name.decode() for a in answers for name, f in a
                        if f.status == St.OK)
        wrong = [(name, f) for a in answers for name, f in a
                 if f.status != St.OK and not (
                     f.status == St.TOO_LARGE and
                     f.value == b"files.max_count reached")]
        t.check(len(on_disk) <= MAX_COUNT, "trial %d: %d files with "
                "files.max_count = %d" % (trial, len(on_disk), MAX_COUNT))
        t.check(len(on_disk) == MAX_COUNT, "trial %d: %d files, want the "
                "directory full (%d)" % (trial, len(on_disk), MAX_COUNT))
        t.check(not wrong, "trial %d: refusals other than TOO_LARGE "
                "\"files.max_count reached\": %r" % (trial, wrong[:3]))
        t.check(stored == on_disk, "trial %d: the PUTs answered OK (%d) "
                "are the files on disk (%d)" % (trial, len(stored),
                                                 len(on_disk)))
        for n in spool_entries(files_dir):
            os.unlink(os.path.join(files_dir, n))


t.run()

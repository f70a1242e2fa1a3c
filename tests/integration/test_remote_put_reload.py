"""test_remote_put_reload: no PUT fails while msgd reloads.

A reload prepares the files directory for the new generation, and that
once removed every temporary file (".tmp.*"), those of PUTs the old
workers were still writing included: the PUT then failed with INTERNAL
("cannot store the file: No such file or directory"), 13 of 2,094 over 30
reloads.

4 client threads PUT continuously (256 KiB each, 6 names per thread, a
fresh connection per PUT) while `msgctl reload` runs 30 times.  Every
answered PUT must be OK; a connection closed before its answer (a draining
worker's known window, see test_sup_reload) is counted and printed, not
failed.  Afterwards every name holds one of the contents PUT to it, and no
temporary file is left once the workers are idle and one more reload
cleans.

The cleaning itself: at start and at a reload an unlocked .tmp.* file
goes, one held locked (as a worker holds its named temporary file where
O_TMPFILE is missing) stays until it is unlocked.
"""
import fcntl
import os
import threading

from harness import (Op, St, Suite, connect, ctl, encode, poll, read_frame,
                     spool_entries)

t = Suite("test_remote_put_reload")

THREADS = 4
NAMES = 6
SIZE = 256 << 10
RELOADS = 30


class Putter(threading.Thread):
    def __init__(self, n, addr, stop):
        super().__init__(daemon=True)
        self.n, self.addr, self.stop = n, addr, stop
        self.ok = self.lost = 0
        self.bad = []           # (name, status, message)
        self.sent = {}          # name -> set of sha prefixes PUT
        self.blob = os.urandom(SIZE)

    def run(self):
        i = 0
        # Bounded: the main thread sets stop; a hard cap besides.
        while not self.stop.is_set() and i < 100000:
            name = b"p%d-%d" % (self.n, i % NAMES)
            data = b"%08d" % i + self.blob[8:]
            self.sent.setdefault(name, set()).add(data[:8])
            i += 1
            try:
                s = connect(self.addr, 10.0)
            except OSError:
                self.lost += 1
                continue
            try:
                s.sendall(encode(Op.PUT, data, name, i))
                f = read_frame(s, 20.0)
            except (OSError, EOFError, TimeoutError):
                self.lost += 1
                continue
            finally:
                s.close()
            if f.status == St.OK:
                self.ok += 1
            else:
                self.bad.append((name, St.name(f.status), f.value[:80]))


@t.case
def reloads_during_puts(t):
    # A draining worker finishes the PUT it is reading first: under ASan
    # on a busy machine that can take longer than the tests' usual 3 s.
    srv = t.server({"workers": 2, "shutdown_timeout": 20}, start=False)
    files_dir = os.path.join(srv.dir, "files")
    srv.settings["files"] = {"enabled": True, "dir": files_dir,
                             "max_size": SIZE, "max_count": 1000}
    srv.start()
    stop = threading.Event()
    ps = [Putter(n, srv.addr, stop) for n in range(THREADS)]
    for p in ps:
        p.start()
    t.check(poll(lambda: sum(p.ok for p in ps) >= 20, timeout=20),
            "PUTs are answered before the reloads")
    bad_reloads = []
    for i in range(RELOADS):
        rc, out, err, _ = ctl(srv, "reload", timeout=40)
        if rc != 0:
            bad_reloads.append((i, rc, out, err))
    stop.set()
    for p in ps:
        p.join(30)
    t.check(not any(p.is_alive() for p in ps), "putters still running")
    ok = sum(p.ok for p in ps)
    lost = sum(p.lost for p in ps)
    bad = [b for p in ps for b in p.bad]
    print("   %d reloads; %d PUTs OK, %d failed, %d closed before the "
          "answer" % (RELOADS, ok, len(bad), lost))
    t.check(not bad_reloads, "reloads failed: %r" % bad_reloads[:3])
    t.check(ok > 200, "only %d PUTs answered OK" % ok)
    t.check(not bad, "%d PUTs failed during %d reloads: %r" % (
        len(bad), RELOADS, bad[:5]))
    for p in ps:
        for name, prefixes in p.sent.items():
            path = os.path.join(files_dir, name.decode())
            if not os.path.exists(path):
                continue        # every PUT of it may have been lost
            with open(path, "rb") as f:
                data = f.read()
            t.check(len(data) == SIZE and data[:8] in prefixes and
                    data[8:] == p.blob[8:], "%s holds what was PUT" % name)
    # Idle now: one more reload removes what is stale, nothing is in use.
    rc, out, err, _ = ctl(srv, "reload", timeout=40)
    t.check(rc == 0, "last reload: %d %s" % (rc, err))
    left = [n for n in spool_entries(files_dir) if n.startswith(".")]
    t.check(not left, "temporary files left: %r" % left)


@t.case
def cleaning_spares_locked(t):
    """A reload removes an unlocked .tmp.* file (left by a crash) and
    keeps one that is locked (a worker writing it, on a file system
    without O_TMPFILE)."""
    srv = t.server({"workers": 1}, start=False)
    files_dir = os.path.join(srv.dir, "files")
    srv.settings["files"] = {"enabled": True, "dir": files_dir}
    os.mkdir(files_dir)
    stale = os.path.join(files_dir, ".tmp.1.0")
    busy = os.path.join(files_dir, ".tmp.2.0")
    for p in (stale, busy):
        with open(p, "wb") as f:
            f.write(b"partial")
    held = os.open(busy, os.O_RDONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        srv.start()
        t.check(not os.path.exists(stale), "start: stale temporary kept")
        t.check(os.path.exists(busy), "start: a locked temporary removed")
        rc, out, err, _ = ctl(srv, "reload", timeout=40)
        t.check(rc == 0, "reload: %d %s" % (rc, err))
        t.check(os.path.exists(busy), "reload: a locked temporary removed")
    finally:
        os.close(held)
    rc, out, err, _ = ctl(srv, "reload", timeout=40)
    t.check(rc == 0, "reload: %d %s" % (rc, err))
    t.check(not os.path.exists(busy), "reload: an unlocked temporary kept")


t.run()

"""test_remote_spool_lock: nobody but the workers can take the PUT lock.

PUT serialised its count + link + rename with a blocking flock on the
files directory itself, inside the worker's event loop; any user who
could open the directory (its group: it is 0750) could take that lock:
`flock -x <files dir> sleep 8` stalled PUTs for 7.5 s and a PING on a new
connection of that worker got no answer within 2 s.  The workers now lock
.lock, a 0600 file of their own in the directory.

group_member_cannot_stall (root): master root, user = nobody, 1 worker; a
process of uid 4321 in nobody's group holds flock -x on the files
directory: PUTs and a PING on new connections are answered within 2 s.
lock_file_hidden: .lock is a private regular file of the workers' user;
LIST does not show it, files.max_count does not count it, and PUT, GET
and DEL of ".lock" are BAD_REQUEST.
planted_lock_refused (root): a .lock that is not the workers' (root's
0644 file) is not taken: PUT fails with INTERNAL, GET, LIST and the
worker go on, and the master cleans no temporary file under it.
"""
import fcntl
import os
import pwd
import select
import stat
import time

from harness import (SPOOL_LOCK, Op, St, Suite, connect, encode,
                     read_frame, why_not_nobody)

t = Suite("test_remote_spool_lock")

OTHER_UID = 4321    # neither root nor nobody: a member of nobody's group
PROMPT = 2.0        # seconds an answer may take while the lock is held


def skipped():
    """Why a root case cannot run here (printed as a SKIP), or None."""
    why = why_not_nobody()
    if why:
        print("SKIP: %s" % why)
    return why


def files_server(t, settings, max_count=None):
    """A server with files enabled in <its dir>/files (searchable by all,
    so that another user can reach the files directory)."""
    srv = t.server(settings, start=False)
    os.chmod(srv.dir, 0o755)
    fdir = os.path.join(srv.dir, "files")
    srv.settings["files"] = {"enabled": True, "dir": fdir}
    if max_count is not None:
        srv.settings["files"]["max_count"] = max_count
    return srv, fdir


def hold_dir_lock(path, uid, gid):
    """A child of uid:gid holding flock -x on path until the returned
    release pipe is closed (30 s at most).  Returns (pid, release fd), once
    the child says it holds the lock, or (pid, None) if it did not."""
    ready_r, ready_w = os.pipe()
    rel_r, rel_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(ready_r)
            os.close(rel_w)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            fd = os.open(path, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(ready_w, b"L")
            select.select([rel_r], [], [], 30.0)
            code = 0
        finally:
            os._exit(code)
    os.close(ready_w)
    os.close(rel_r)
    r, _, _ = select.select([ready_r], [], [], 10.0)
    ok = bool(r) and os.read(ready_r, 1) == b"L"
    os.close(ready_r)
    if not ok:
        os.close(rel_w)
        return pid, None
    return pid, rel_w


def timed(fn):
    """(result or the exception, seconds)."""
    t0 = time.monotonic()
    try:
        r = fn()
    except (OSError, EOFError, TimeoutError) as e:
        r = e
    return r, time.monotonic() - t0


def one_request(srv, frame):
    s = connect(srv.addr, PROMPT)
    try:
        s.sendall(frame)
        return read_frame(s, PROMPT)
    finally:
        s.close()


@t.case
def group_member_cannot_stall(t):
    if skipped():
        return
    nb = pwd.getpwnam("nobody")
    srv, fdir = files_server(t, {"workers": 1, "user": "nobody"})
    srv.start()
    st = os.stat(fdir)
    t.check(st.st_gid == nb.pw_gid and st.st_mode & stat.S_IRGRP,
            "files dir readable by nobody's group: mode %o gid %d" % (
                st.st_mode, st.st_gid))
    pid, release = hold_dir_lock(fdir, OTHER_UID, nb.pw_gid)
    try:
        t.check(release is not None, "uid %d holds flock -x on %s" % (
            OTHER_UID, fdir))
        for i in range(3):
            f, secs = timed(lambda: one_request(
                srv, encode(Op.PUT, b"v%d" % i, b"f%d" % i, 10 + i)))
            t.check(not isinstance(f, Exception) and f.status == St.OK and
                    secs < PROMPT, "PUT %d while another user holds the "
                    "directory's lock: %r after %.2f s" % (i, f, secs))
            f, secs = timed(lambda: one_request(
                srv, encode(Op.PING, request_id=20 + i)))
            t.check(not isinstance(f, Exception) and f.status == St.OK and
                    secs < PROMPT, "PING %d while another user holds the "
                    "directory's lock: %r after %.2f s" % (i, f, secs))
    finally:
        if release is not None:
            os.close(release)
        os.waitpid(pid, 0)
    st = os.lstat(os.path.join(fdir, SPOOL_LOCK))
    t.check(stat.S_ISREG(st.st_mode) and st.st_uid == nb.pw_uid and
            stat.S_IMODE(st.st_mode) == 0o600, "%s: mode %o uid %d, want "
            "a 0600 regular file of nobody" % (SPOOL_LOCK, st.st_mode,
                                               st.st_uid))


@t.case
def lock_file_hidden(t):
    srv, fdir = files_server(t, {"workers": 2}, max_count=2)
    srv.start()
    lock = os.path.join(fdir, SPOOL_LOCK)
    st = os.lstat(lock)
    t.check(stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and
            stat.S_IMODE(st.st_mode) == 0o600,
            "%s: mode %o uid %d" % (SPOOL_LOCK, st.st_mode, st.st_uid))
    key = SPOOL_LOCK.encode()
    with srv.client() as c:
        f = c.request(Op.LIST, request_id=1)
        t.check_response(f, "LIST of an empty directory", Op.LIST, rid=1,
                         value=b"")
        for i, name in enumerate((b"a", b"b")):
            f = c.request(Op.PUT, b"x", name, request_id=2 + i)
            t.check_response(f, "PUT %s" % name, Op.PUT, rid=2 + i,
                             value=b"")
        f = c.request(Op.PUT, b"x", b"c", request_id=4)
        t.check(f.status == St.TOO_LARGE and
                f.value == b"files.max_count reached",
                "third name with max_count = 2: %r" % f)
        f = c.request(Op.LIST, request_id=5)
        t.check(f.status == St.OK and [l.split(b"\t")[0] for l in
                                       f.value.splitlines()] == [b"a", b"b"],
                "LIST shows a and b only: %r" % f)
        for op in (Op.DEL, Op.GET, Op.PUT):
            f = c.request(op, b"x" if op == Op.PUT else b"", key,
                          request_id=10 + op)
            t.check(f.status == St.BAD_REQUEST, "%s of %s: %r" % (
                op, SPOOL_LOCK, f))
        f = c.request(Op.DEL, key=b"a", request_id=30)
        t.check_response(f, "DEL a", Op.DEL, rid=30, value=b"")
    t.check(os.path.isfile(lock), "%s still there" % SPOOL_LOCK)


@t.case
def planted_lock_refused(t):
    if skipped():
        return
    srv, fdir = files_server(t, {"workers": 1, "user": "nobody"})
    os.mkdir(fdir)
    nb = pwd.getpwnam("nobody")
    os.chown(fdir, nb.pw_uid, nb.pw_gid)
    os.chmod(fdir, 0o750)
    with open(os.path.join(fdir, SPOOL_LOCK), "w"):
        pass                    # root's, 0644: not the workers' lock
    os.chmod(os.path.join(fdir, SPOOL_LOCK), 0o644)
    stale = os.path.join(fdir, ".tmp.1.0")
    with open(stale, "w") as f:
        f.write("partial")
    with open(os.path.join(fdir, "kept"), "w") as f:
        f.write("kept")
    srv.start()
    t.check(os.path.exists(stale), "temporary cleaned under a lock file "
            "that is not the workers'")
    with srv.client() as c:
        f = c.request(Op.PUT, b"x", b"new", request_id=1)
        t.check(f.status == St.INTERNAL, "PUT without the lock: %r" % f)
        f = c.request(Op.GET, key=b"kept", request_id=2)
        t.check_response(f, "GET without the lock", Op.GET, rid=2,
                         key=b"kept", value=b"kept")
        f = c.request(Op.PING, request_id=3)
        t.check_response(f, "PING", Op.PING, rid=3, value=b"PONG")
    t.check("lock file .lock is not a private regular file" in srv.log(),
            "the refusal is logged: %r" % srv.log()[-400:])


t.run()

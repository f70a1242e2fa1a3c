"""test_trust_files: files the root master opens by path (issue 9, case 4).

All cases need root (the master is root, the workers run as nobody) and
skip otherwise.  Each plants something where msgd's files go, in a
directory the workers' user (nobody) can write, as that user could:

log_planted: log.file is (a) a symlink to a root-only 0600 file, (b) a
file of another user, (c) a FIFO.  msgd refuses to start within 5 s with a
message naming the path; the symlink's target keeps its owner and mode,
the foreign file its owner (on main: the target became nobody's, the
foreign file too, and the FIFO hung msgd).  A log file msgd creates itself
belongs to nobody (the workers reopen it after rotation).

pidfile_planted: the pidfile is (a) a symlink, (b) a file of another user,
(c) a FIFO: msgd refuses to start, naming the pidfile.

state_dirs: with user = nobody, a pidfile or stats_file in a directory
nobody owns, or one every user can write, is refused at start and by
msgd -t, naming the directory.

msgctl_pid_check: a pidfile naming a `sleep` this test started, locked by
the test as a planted file would be: msgctl stop and reload refuse to
signal it and the sleep lives (on main: stop SIGTERMed it, reload SIGHUPed
it).  The real master's pidfile chowned to another user: msgctl stop
refuses.  A real master is still stopped by msgctl stop.
"""
import fcntl
import os
import pwd
import stat
import subprocess

from harness import MSGD, Suite, ctl, run, why_not_nobody

t = Suite("test_trust_files")
FOREIGN_UID = 4242  # a uid that is neither root nor nobody


def root_case(fn):
    """A case of this file: skipped, saying why, unless why_not_nobody()."""
    def run_case(t):
        why = why_not_nobody()
        if why:
            print("SKIP: %s" % why)
            return
        fn(t)
    run_case.__name__ = fn.__name__
    return t.case(run_case)


def victim_file(srv):
    """A root-only file a planted symlink points at."""
    victim = os.path.join(srv.dir, "secret")
    with open(victim, "w") as f:
        f.write("root only\n")
    os.chmod(victim, 0o600)
    return victim


def nobody_dir(srv, name):
    """A directory in srv's temp dir that the workers' user can write."""
    nb = pwd.getpwnam("nobody")
    d = os.path.join(srv.dir, name)
    os.mkdir(d)
    os.chown(d, nb.pw_uid, nb.pw_gid)
    os.chmod(d, 0o755)
    return d


def start_refused(t, srv, what, want):
    """Start srv's config; it must exit non-zero within 5 s with want in
    its log.  Returns True if it did."""
    srv.write_conf()
    srv.spawn()
    rc = srv.wait(5.0)
    log = srv.log()
    if rc is None:
        srv.wait_workers(timeout=2.0)
        srv.stop()
    return t.check(rc is not None and rc != 0 and want in log,
                   "%s: msgd exit %r (None: still running after 5 s), want "
                   "a refusal naming %r; log %r" % (what, rc, want,
                                                    log[-300:]))


def plant(kind, path, victim=None):
    if kind == "symlink":
        os.symlink(victim, path)
    elif kind == "foreign":
        with open(path, "w") as f:
            f.write("someone else's\n")
        os.chown(path, FOREIGN_UID, FOREIGN_UID)
    elif kind == "fifo":
        os.mkfifo(path, 0o666)


@root_case
def log_planted(t):
    for kind in ("symlink", "foreign", "fifo"):
        srv = t.server(start=False, health=False)
        logs = nobody_dir(srv, "logs")
        victim = victim_file(srv)
        path = os.path.join(logs, "msgd.log")
        plant(kind, path, victim)
        srv.settings.update({"user": "nobody", "log": {
            "target": "file", "file": path, "level": "info"}})
        start_refused(t, srv, "log.file planted as %s" % kind, path)
        st = os.stat(victim)
        t.check(st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o600,
                "log %s: the symlink's target is now uid %d mode %04o" % (
                    kind, st.st_uid, stat.S_IMODE(st.st_mode)))
        if kind == "foreign":
            t.check(os.lstat(path).st_uid == FOREIGN_UID, "log foreign: "
                    "the file changed owner to %d" % os.lstat(path).st_uid)
        srv.close()

    # A log file msgd makes is the workers' (they reopen it on SIGUSR1).
    srv = t.server(start=False)
    path = os.path.join(nobody_dir(srv, "logs"), "msgd.log")
    srv.settings.update({"user": "nobody", "log": {
        "target": "file", "file": path, "level": "info"}})
    srv.start()
    st = os.stat(path)
    t.check(stat.S_ISREG(st.st_mode) and
            st.st_uid == pwd.getpwnam("nobody").pw_uid,
            "a log file msgd created: mode %o uid %d, want nobody's" % (
                st.st_mode, st.st_uid))


@root_case
def pidfile_planted(t):
    for kind in ("symlink", "foreign", "fifo"):
        srv = t.server(start=False, health=False)
        victim = victim_file(srv)
        path = os.path.join(srv.dir, "planted.pid")
        plant(kind, path, victim)
        srv.settings["pidfile"] = path
        start_refused(t, srv, "pidfile planted as %s" % kind,
                      "pidfile %s" % path)
        with open(victim) as f:
            t.check(f.read() == "root only\n", "pidfile %s: the symlink's "
                    "target was written" % kind)
        srv.close()


@root_case
def state_dirs(t):
    for setting, mode_owner in (("pidfile", "nobody"), ("pidfile", "1777"),
                                ("stats_file", "nobody"),
                                ("stats_file", "0777")):
        srv = t.server(start=False, health=False)
        if mode_owner == "nobody":
            d = nobody_dir(srv, "state")
        else:
            d = os.path.join(srv.dir, "state")
            os.mkdir(d)
            os.chmod(d, int(mode_owner, 8))
        srv.settings.update({"user": "nobody",
                             setting: os.path.join(d, "f")})
        srv.write_conf()
        rc, out, err, _ = run([MSGD, "-t", "-c", srv.conf_path])
        t.check(rc != 0 and "directory %s" % d in err,
                "msgd -t with %s in a directory %s: exit %d, %r" % (
                    setting, mode_owner, rc, err))
        start_refused(t, srv, "%s in a directory %s" % (setting, mode_owner),
                      "directory %s" % d)
        srv.close()


def spawn_sleep():
    return subprocess.Popen(["sleep", "60"])


@t.case
def msgctl_pid_check(t):
    if os.geteuid() != 0:
        print("SKIP: needs root (running as uid %d)" % os.geteuid())
        return
    srv = t.server()  # a real master: its stats file for reload
    pidfile = os.path.join(srv.dir, "planted.pid")
    conf = os.path.join(srv.dir, "planted.conf")
    with open(conf, "w") as f:
        f.write('listen = [ "unix:%s" ];\npidfile = "%s";\n'
                'stats_file = "%s";\nshutdown_timeout = 1;\n' % (
                    srv.sock_path, pidfile, os.path.join(srv.dir, "stats")))
    for cmd in ("stop", "reload"):
        victim = spawn_sleep()
        try:
            fd = os.open(pidfile, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, b"%d\n" % victim.pid)
            fcntl.flock(fd, fcntl.LOCK_EX)  # as a planted pidfile would be
            rc, out, err, _ = ctl(srv, cmd, conf=conf, timeout=20)
            os.close(fd)
            alive = victim.poll() is None
            t.check(alive, "msgctl %s signalled pid %d, a sleep: it died "
                    "(%r); exit %d, %r %r" % (cmd, victim.pid,
                                              victim.returncode, rc, out,
                                              err))
            t.check(rc != 0 and "not msgd" in err,
                    "msgctl %s: exit %d, stderr %r (want a refusal)" % (
                        cmd, rc, err))
        finally:
            if victim.poll() is None:
                victim.kill()
            victim.wait()
            os.unlink(pidfile)
    # The real master's pidfile given to another user: not signalled.
    real = os.path.join(srv.dir, "msgd.pid")
    os.chown(real, FOREIGN_UID, FOREIGN_UID)
    rc, out, err, _ = ctl(srv, "stop", timeout=30)
    t.check(rc != 0 and "belongs to uid %d" % FOREIGN_UID in err and
            srv.alive(), "msgctl stop with a pidfile of uid %d: exit %d, "
            "%r; master alive %r" % (FOREIGN_UID, rc, err, srv.alive()))
    os.chown(real, 0, 0)
    # The real master is still stopped by msgctl stop.
    rc, out, err, _ = ctl(srv, "stop", timeout=30)
    t.check(rc == 0 and srv.wait(10.0) is not None,
            "msgctl stop of the real master: exit %d, %r %r" % (rc, out, err))


t.run()

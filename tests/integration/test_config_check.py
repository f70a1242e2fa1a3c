"""test_config_check: `msgd -t` and refusing bad configurations.

The shipped etc/msgd.conf (generated into the build tree) passes `msgd -t`
(exit 0, "configuration OK") when run unprivileged, and as root is refused
with a message naming allow_root;
bad files exit 1 with "file:line: setting: problem" lines: workers = 0
(`...:N: workers: must be 1..1024, got 0`), an unknown setting (also inside
the log group), syntax errors (with the line), several errors reported at
once, a missing file; `msgd -f` with a bad file exits 1 and leaves no socket;
an unknown option exits 2.
"""
import os
import shutil
import tempfile

from harness import MSGD, SHIPPED_CONF, Suite, nobody_cannot_use, run

t = Suite("test_config_check")


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def check_bad(t, path, want_lines, what):
    rc, out, err, _ = run([MSGD, "-t", "-c", path])
    t.check(rc == 1, "%s: msgd -t exit %d, want 1 (stderr %r)" % (
        what, rc, err))
    for want in want_lines:
        t.check(want in err, "%s: stderr lacks %r:\n%s" % (what, want, err))
    t.check("configuration OK" not in out + err,
            "%s: says OK: %r" % (what, out))


def as_nobody():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


@t.case
def shipped_config_ok(t):
    # The shipped config keeps user = "" and allow_root = false: it is meant
    # for an unprivileged start (the systemd unit has User=msgd), and msgd
    # refuses it as root by design.  Under root (CI containers) the OK check
    # runs as nobody, and root must get that clear refusal instead.
    # (Reported: the brief expected exit 0 whoever runs it.)
    root = os.geteuid() == 0
    why = nobody_cannot_use((MSGD, os.X_OK), (SHIPPED_CONF, os.R_OK)) \
        if root else None
    if why:
        print("SKIP: the OK check as nobody: %s" % why)
    else:
        rc, out, err, _ = run([MSGD, "-t", "-c", SHIPPED_CONF],
                              preexec_fn=as_nobody if root else None)
        t.check(rc == 0, "msgd -t %s%s: exit %d, stderr %r" % (
            SHIPPED_CONF, " (as nobody)" if root else "", rc, err))
        t.check("configuration OK" in out, "msgd -t %s: stdout %r" % (
            SHIPPED_CONF, out))
    if root:
        rc, out, err, _ = run([MSGD, "-t", "-c", SHIPPED_CONF])
        t.check(rc == 1 and "root" in err and "allow_root" in err,
                "msgd -t %s as root: exit %d, want 1 with a message naming "
                "root and allow_root; stderr %r" % (SHIPPED_CONF, rc, err))


@t.case
def bad_configs(t):
    d = tempfile.mkdtemp(prefix="msgd-conf-")
    try:
        sock = os.path.join(d, "s")
        head = 'listen = [ "unix:%s" ];\n' % sock
        p = write(d, "workers0.conf", head + "# comment\nworkers = 0;\n")
        check_bad(t, p, ["%s:3: workers: must be 1..1024, got 0" % p],
                  "workers = 0")
        p = write(d, "workers2000.conf", head + "workers = 2000;\n")
        check_bad(t, p, ["%s:2: workers: must be 1..1024, got 2000" % p],
                  "workers = 2000")
        p = write(d, "unknown.conf", head + "\n\nwokers = 2;\n")
        check_bad(t, p, ["%s:4: wokers: unknown setting" % p],
                  "unknown setting")
        p = write(d, "unknown_log.conf", head +
                  'log = {\n\tlevel = "info";\n\tlevle = "debug";\n};\n')
        check_bad(t, p, ["%s:4: log.levle: unknown setting" % p],
                  "unknown setting in the log group")
        p = write(d, "syntax.conf", head + "workers = = 2;\n")
        check_bad(t, p, ["%s:2: " % p], "syntax error (= =)")
        p = write(d, "unclosed.conf", head + 'log = {\n\tlevel = "info";\n')
        check_bad(t, p, ["%s:" % p], "syntax error (unclosed group)")
        p = write(d, "several.conf", head +
                  'workers = 0;\nbogus = 1;\nlog = { level = "loud"; };\n')
        check_bad(t, p, ["%s:2: workers: must be 1..1024, got 0" % p,
                         "%s:3: bogus: unknown setting" % p,
                         "%s:4: log.level:" % p],
                  "three errors at once")
        p = os.path.join(d, "missing.conf")
        check_bad(t, p, [p, "No such file"], "missing file")

        # A bad config never starts a server.
        for name in ("workers0.conf", "unknown.conf", "syntax.conf"):
            p = os.path.join(d, name)
            rc, out, err, secs = run([MSGD, "-f", "-c", p], timeout=10)
            t.check(rc == 1, "msgd -f %s: exit %d, want 1 (%r)" % (
                name, rc, err))
            t.check(not os.path.exists(sock), "msgd -f %s left %s" % (
                name, sock))

        rc, out, err, _ = run([MSGD, "-Z"])
        t.check(rc == 2 and "usage" in err, "msgd -Z: exit %d, stderr %r" %
                (rc, err))
        rc, out, err, _ = run([MSGD, "-t", "-c", p, "extra"])
        t.check(rc == 2, "msgd with an extra argument: exit %d" % rc)
    finally:
        shutil.rmtree(d, ignore_errors=True)


t.run()

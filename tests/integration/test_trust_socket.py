"""test_trust_socket: unix sockets get an explicit mode (issue 9, case 5).

umask_ignored: msgd started with umask 000 and no socket_mode: the unix
socket is 0660 (it was 0777: any local user could connect).

socket_mode: socket_mode = 0600 written as an operator writes it (libconfig
reads 0600 as decimal 600; the digits are octal): the socket is 0600.

reload_new_socket: a reload that adds a unix listener and changes
socket_mode to 0600: the new socket is 0600, the one that stays keeps 0660
(it is the same socket, never re-bound).

bad_modes: msgd -t refuses 0680, 01000, -1 and "0660" (a string), each
with file:line; 0 and 0777 and 0x1b0 are accepted.
"""
import os
import stat

from harness import (MSGD, Server, Suite, conf_text, ctl, private_settings,
                     run)

t = Suite("test_trust_socket")


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def raw_server(t, extra, sockets=("msgd.sock",)):
    """A server whose config text ends with extra, written literally (the
    harness writes integers in decimal)."""
    srv = t.server(start=False)
    s = {"listen": ["unix:" + os.path.join(srv.dir, n) for n in sockets]}
    s.update(private_settings(srv.dir))
    s.update(Server.DEFAULTS)
    s["log"] = {"level": "info", "target": "stderr"}
    srv.text = conf_text(s) + extra
    return srv


def start_umask0(srv):
    """Start srv with umask 000, which msgd inherits."""
    old = os.umask(0)
    try:
        srv.start()
    finally:
        os.umask(old)
    return mode_of(srv.sock_path)


@t.case
def umask_ignored(t):
    got = start_umask0(t.server(start=False))
    t.check(got == 0o660, "socket mode with umask 000: %04o, want 0660" % got)


@t.case
def socket_mode(t):
    got = start_umask0(raw_server(t, "socket_mode = 0600;\n"))
    t.check(got == 0o600, "socket_mode = 0600: socket is %04o" % got)


@t.case
def reload_new_socket(t):
    srv = t.server()
    t.check(mode_of(srv.sock_path) == 0o660, "first socket %04o" %
            mode_of(srv.sock_path))
    second = os.path.join(srv.dir, "second.sock")
    s = {"listen": ["unix:" + srv.sock_path, "unix:" + second]}
    s.update(private_settings(srv.dir))
    s.update(srv.settings)
    s["log"] = {"level": "info", "target": "stderr"}
    with open(srv.conf_path, "w") as f:
        f.write(conf_text(s) + "socket_mode = 0600;\n")
    rc, out, err, _ = ctl(srv, "reload", timeout=40)
    t.check(rc == 0, "reload: exit %d, %r %r" % (rc, out, err))
    if rc == 0:
        t.check(mode_of(second) == 0o600, "new socket after reload: %04o, "
                "want 0600" % mode_of(second))
        t.check(mode_of(srv.sock_path) == 0o660, "kept socket after "
                "reload: %04o, want 0660 still" % mode_of(srv.sock_path))
        t.check(srv.ping_ok(second), "no PING on the new socket")


@t.case
def bad_modes(t):
    srv = t.server(start=False, health=False)
    s = {"listen": ["unix:" + srv.sock_path]}
    s.update(private_settings(srv.dir))
    base = conf_text(s)
    for text, ok in (("0680", False), ("01000", False), ("-1", False),
                     ('"0660"', False), ("0", True), ("0777", True),
                     ("0x1b0", True), ("0640", True)):
        with open(srv.conf_path, "w") as f:
            f.write(base + "socket_mode = %s;\n" % text)
        rc, out, err, _ = run([MSGD, "-t", "-c", srv.conf_path])
        if ok:
            t.check(rc == 0, "socket_mode = %s refused: %r" % (text, err))
        else:
            line = base.count("\n") + 1
            t.check(rc != 0 and "%s:%d: socket_mode: must be an octal mode"
                    % (srv.conf_path, line) in err,
                    "socket_mode = %s: exit %d, stderr %r (want file:line "
                    "and 'must be an octal mode')" % (text, rc, err))


t.run()

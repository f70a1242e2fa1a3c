"""test_msgctl: the command-line client against a real msgd.

ping (exit 0, prints PONG) over unix, TCP and -c config; echo, upper (UTF-8
unchanged but for a-z) and time outputs; `send 0x30` -> exit 1 showing
UNKNOWN_OP; `send ping`; cannot connect -> exit 3; usage errors -> exit 2;
-T 1 against a socket that accepts but never answers -> a timeout error (exit
4) within about 2 s; shell mode from stdin lines (quotes group words); the
shell reconnects after the server is restarted on the same socket.
"""
import os
import select
import socket
import subprocess
import time

from harness import MSGCTL, MSGD, TIME_RE, Suite, ctl, free_port, run

t = Suite("test_msgctl")


@t.case
def commands(t):
    srv = t.server(tcp=True)
    rc, out, err, _ = ctl(srv, "ping", unix=True)
    t.check(rc == 0 and out.startswith("PONG"), "ping: exit %d, stdout %r, "
            "stderr %r" % (rc, out, err))
    rc, out, err, _ = run([MSGCTL, "-H", "127.0.0.1:%d" % srv.port, "ping"])
    t.check(rc == 0 and "PONG" in out, "ping over TCP: exit %d, %r %r" % (
        rc, out, err))
    rc, out, err, _ = run([MSGCTL, "-c", srv.conf_path, "ping"])
    t.check(rc == 0 and "PONG" in out, "ping with -c config: exit %d, %r %r"
            % (rc, out, err))
    rc, out, err, _ = ctl(srv, "echo", "hello", "wide  world", unix=True)
    t.check(rc == 0 and out == "hello wide  world\n",
            "echo: exit %d, stdout %r" % (rc, out))
    rc, out, err, _ = ctl(srv, "echo", unix=True)
    t.check(rc == 0 and out == "\n", "echo nothing: exit %d, %r" % (rc, out))
    rc, out, err, _ = ctl(srv, "upper", "h\u00e9llo", "abc-XYZ", unix=True)
    t.check(rc == 0 and out == "H\u00e9LLO ABC-XYZ\n",
            "upper: exit %d, stdout %r" % (rc, out))
    rc, out, err, _ = ctl(srv, "time", unix=True)
    t.check(rc == 0 and TIME_RE.match(out.rstrip("\n").encode()),
            "time: exit %d, stdout %r" % (rc, out))
    rc, out, err, _ = ctl(srv, "send", "0x30", unix=True)
    t.check(rc == 1 and "UNKNOWN_OP" in out + err,
            "send 0x30: exit %d, stdout %r, stderr %r" % (rc, out, err))
    rc, out, err, _ = ctl(srv, "send", "ping", "k", "v", unix=True)
    t.check(rc == 0 and "OK" in out and "PONG" in out,
            "send ping: exit %d, stdout %r" % (rc, out))


@t.case
def exit_codes(t):
    srv = t.server()
    missing = os.path.join(srv.dir, "no-such.sock")
    rc, out, err, _ = run([MSGCTL, "-U", missing, "ping"])
    t.check(rc == 3 and err, "no such socket: exit %d, stderr %r" % (rc, err))
    rc, out, err, _ = run([MSGCTL, "-H", "127.0.0.1:%d" % free_port(),
                           "ping"])
    t.check(rc == 3, "connection refused: exit %d, stderr %r" % (rc, err))
    for args in (["frobnicate"], ["ping", "extra"], ["send"],
                 ["send", "nonsense-op"], ["-T", "0", "ping"], ["-Z"], []):
        rc, out, err, _ = ctl(srv, *args, unix=True)
        t.check(rc == 2 and err, "msgctl %s: exit %d, want 2 (stderr %r)" %
                (" ".join(args) or "(no command, stdin not a tty)", rc, err))


@t.case
def help_and_version(t):
    """--help and --version wherever -h and -V work: msgctl, each of its
    commands, stats, bench and msgd; help on stdout, exit 0."""
    for prog, name in ((MSGCTL, "msgctl"), (MSGD, "msgd")):
        for opt in ("-h", "--help"):
            rc, out, err, _ = run([prog, opt])
            t.check(rc == 0 and out.startswith("usage: %s" % name) and
                    not err, "%s %s: exit %d, %r %r" % (name, opt, rc,
                                                         out[:60], err))
        for opt in ("-V", "--version"):
            rc, out, err, _ = run([prog, opt])
            t.check(rc == 0 and out.startswith(name + " ") and not err,
                    "%s %s: exit %d, %r %r" % (name, opt, rc, out, err))
    rc, out, err, _ = run([MSGCTL, "--help"])
    cmds = [ln.split()[0] for ln in
            out.split("\ncommands")[-1].splitlines()[1:] if ln.strip()]
    t.check(len(cmds) >= 15, "the commands listed: %r" % cmds)
    for c in cmds:
        for opt in ("-h", "--help"):
            rc, out, err, _ = run([MSGCTL, "-U", "/nonexistent", c, opt])
            t.check(rc == 0 and "usage: msgctl" in out and c in out and
                    not err, "msgctl %s %s: exit %d, %r %r" % (
                        c, opt, rc, out[:80], err))


@t.case
def data_after_double_dash(t):
    srv = t.server()
    rc, out, err, _ = ctl(srv, "echo", "--", "-h", "--help", unix=True)
    t.check(rc == 0 and out == "-h --help\n", "echo -- -h --help: exit %d, "
            "%r %r" % (rc, out, err))


@t.case
def exec_takes_no_arguments(t):
    """The protocol carries a name and stdin, never arguments: msgctl says
    so (exit 2) instead of dropping them."""
    srv = t.server({"exec": {"enabled": True,
                             "commands": {"cat": ["/bin/cat"]}}})
    rc, out, err, _ = ctl(srv, "exec", "cat", "extra", unix=True)
    t.check(rc == 2 and "exec takes no arguments" in err and not out,
            "exec cat extra: exit %d, %r %r" % (rc, out, err))
    rc, out, err, _ = ctl(srv, "exec", "cat", unix=True, stdin_data=b"in\n")
    t.check(rc == 0 and out == "in\n", "exec cat: exit %d, %r %r" % (
        rc, out, err))


@t.case
def timeout(t):
    srv = t.server(start=False, health=False)
    path = os.path.join(srv.dir, "mute.sock")
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        mute.bind(path)
        mute.listen(8)  # accepts (in the backlog), never reads or answers
        rc, out, err, secs = run([MSGCTL, "-U", path, "-T", "1", "ping"])
        t.check(rc not in (0, 2, 3), "-T 1, no answer: exit %d, stderr %r" % (
            rc, err))
        t.check(rc == 4, "-T 1, no answer: exit %d, want 4 (documented for "
                "timeouts)" % rc)
        t.check(err.strip() != "", "-T 1: no error message")
        t.check(0.8 <= secs <= 3.0, "-T 1: took %.2f s, want about 1..2 s"
                % secs)
    finally:
        mute.close()


@t.case
def shell_from_stdin(t):
    srv = t.server()
    script = b"ping\necho a b\n\necho \"x  y\" 'q r'\nupper mixed Case\n" \
             b"bogus\ntime\n"
    rc, out, err, _ = ctl(srv, "shell", stdin_data=script, unix=True)
    lines = out.splitlines()
    t.check(len(lines) == 5, "shell: want 5 output lines, got %r" % lines)
    if len(lines) == 5:
        t.check(lines[0].startswith("PONG"), "shell ping: %r" % lines[0])
        t.check(lines[1] == "a b", "shell echo a b: %r" % lines[1])
        t.check(lines[2] == "x  y q r", "shell quoted echo: %r" % lines[2])
        t.check(lines[3] == "MIXED CASE", "shell upper: %r" % lines[3])
        t.check(TIME_RE.match(lines[4].encode()), "shell time: %r" %
                lines[4])
    t.check("bogus" in err, "shell: unknown command not reported: %r" % err)


class Shell:
    """msgctl shell with pipes; bounded reads of whole lines from stdout
    and stderr."""

    def __init__(self, sock_path):
        self.p = subprocess.Popen([MSGCTL, "-U", sock_path, "shell"],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.buf = {self.p.stdout: b"", self.p.stderr: b""}
        self.err = ""

    def say(self, line):
        self.p.stdin.write(line + b"\n")
        self.p.stdin.flush()

    def line(self, timeout=5.0):
        """The next output line (stderr lines are kept in .err and also
        returned, prefixed "stderr: "), or None on timeout or EOF."""
        deadline = time.monotonic() + timeout
        while True:
            for f, what in ((self.p.stdout, ""), (self.p.stderr, "stderr: ")):
                if b"\n" in self.buf[f]:
                    line, self.buf[f] = self.buf[f].split(b"\n", 1)
                    line = what + line.decode(errors="replace")
                    if what:
                        self.err += line + "\n"
                    return line
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select(list(self.buf), [], [], left)
            for f in r:
                b = os.read(f.fileno(), 4096)
                if not b:
                    return None
                self.buf[f] += b

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(5)
        self.err += self.p.stderr.read().decode(errors="replace")
        self.p.stdout.close()
        self.p.stderr.close()
        return self.p.returncode, self.err


@t.case
def shell_reconnects(t):
    srv = t.server({"shutdown_timeout": 1})
    sh = Shell(srv.sock_path)
    try:
        sh.say(b"ping")
        first = sh.line()
        t.check(first is not None and first.startswith("PONG"),
                "shell first ping: %r" % first)
        rc = srv.stop()
        t.check(rc == 0, "stop: exit %r" % rc)
        srv.start()
        # The next line may report the lost connection; a later one must
        # connect again (bounded attempts).
        answer = None
        for attempt in range(3):
            if sh.p.poll() is not None:
                break
            try:
                sh.say(b"ping")
            except BrokenPipeError:
                break
            answer = sh.line(timeout=5)
            if answer is not None and answer.startswith("PONG"):
                break
    finally:
        rc, err = sh.close()
    # Was a bug (reported; fixed in d8eba80): the shell wrote to the
    # connection the old server had closed, writev() raised SIGPIPE, which
    # msgctl did not ignore, and the shell died (exit -13).
    t.check(answer is not None and answer.startswith("PONG"),
            "shell did not answer PONG after the server restart: last %r, "
            "msgctl exit %r, stderr %r" % (answer, rc, err))
    t.check(rc == 0, "msgctl shell exit %r at EOF, want 0 (stderr %r)" % (
        rc, err))


t.run()

"""test_client_answers: msgctl takes apart what a server answers without
trusting it (issue 9, case 9: found while writing tests/fuzz/fuzz_ops.c).

A fake server on a unix socket answers every request with a crafted EXEC
answer.  The exit status is the answer's key, 1..3 decimal digits with a
value 0..255, read from exactly the key's bytes (the key is not
NUL-terminated): anything else is a malformed answer (exit 4), never a
status made up from whatever follows the key.  A well-formed answer still
gives its status, stdout and stderr.
"""
import os
import shutil
import socket
import struct
import tempfile
import threading

from harness import MSGCTL, HDR, Op, Suite, read_frame, run

t = Suite("test_client_answers")

F_RESPONSE = 0x01


class FakeServer:
    """Answers each request on each connection with answer(request)."""

    def __init__(self, answer):
        self.dir = tempfile.mkdtemp(prefix="msgd-answers.")
        self.path = os.path.join(self.dir, "sock")
        self.answer = answer
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with c:
                try:
                    while True:
                        f = read_frame(c, timeout=5.0)
                        c.sendall(self.answer(f))
                except (OSError, ValueError, EOFError):
                    pass

    def close(self):
        self.stop.set()
        self.sock.close()
        self.thread.join(5.0)
        shutil.rmtree(self.dir, ignore_errors=True)


def exec_answer(key, out=b"", err=b"", olen=None):
    """An OK EXEC answer frame builder: key, then 4-byte stdout length,
    stdout, stderr (olen may lie)."""
    val = struct.pack(">I", len(out) if olen is None else olen) + out + err

    def answer(req):
        body = key + val
        return HDR.pack(b"MG", 1, F_RESPONSE, Op.EXEC, 0, len(key),
                        req.request_id, len(body)) + body
    return answer


def msgctl_exec(answer):
    srv = FakeServer(answer)
    try:
        return run([MSGCTL, "-U", srv.path, "exec", "date"], timeout=20.0)
    finally:
        srv.close()


@t.case
def wellformed(t):
    for key, want in ((b"0", 0), (b"7", 7), (b"42", 42), (b"255", 255),
                      (b"007", 7)):
        rc, out, err, _ = msgctl_exec(exec_answer(key, b"hello\n",
                                                  b"oops\n"))
        t.check(rc == want and out == "hello\n" and err == "oops\n",
                "key %r: exit %d (want %d), stdout %r, stderr %r" % (
                    key, rc, want, out, err))


@t.case
def malformed_status(t):
    # On the old code: " " and "abc" exited 0 (success), "1x" exited 1,
    # "-1" and "256" exited 255: a status made up from a malformed key.
    for key in (b" ", b"abc", b"1x", b"-1", b"+1", b"256", b"1000",
                b" 1", b"1\x00"):
        rc, out, err, _ = msgctl_exec(exec_answer(key, b"x", b""))
        t.check(rc == 4 and "malformed answer" in err and out == "",
                "key %r: exit %d, stdout %r, stderr %r (want exit 4, "
                "malformed answer)" % (key, rc, out, err))


@t.case
def malformed_lengths(t):
    for name, answer in (
            ("stdout length past the value", exec_answer(b"0", b"ab", b"",
                                                         olen=3)),
            ("stdout length 2^32-1", exec_answer(b"0", b"", b"",
                                                 olen=0xffffffff))):
        rc, out, err, _ = msgctl_exec(answer)
        t.check(rc == 4 and "malformed answer" in err,
                "%s: exit %d, stderr %r" % (name, rc, err))


t.run()

"""fakemsgd: a fake msgd on a unix socket for the Python clients' tests
(test_python_client.py, test_python_package.py): it answers each request
frame with what respond(frame) returns, well formed or not.

    with FakeServer(normal_answer) as fake:
        mc.Client(fake.path).ping()
"""
import os
import shutil
import socket
import struct
import tempfile
import threading

from harness import F_RESPONSE, HDR, HDR_LEN, Frame, Op, St, recv_exact


def answer(req, status=St.OK, value=b"", key=b"", *, rid=None, op=None,
           flags=F_RESPONSE, magic=b"MG", version=1, key_len=None):
    """A response frame to req (a harness Frame), any field forced."""
    body = key + value
    return HDR.pack(magic, version, flags, req.opcode if op is None else op,
                    status, len(key) if key_len is None else key_len,
                    req.request_id if rid is None else rid, len(body)) + body


def normal_answer(req):
    """What a well-behaved server would answer (enough for the client)."""
    if req.opcode == Op.PING:
        return answer(req, value=b"PONG")
    if req.opcode in (Op.ECHO, Op.UPPER):
        return answer(req, value=req.value)
    if req.opcode == Op.TIME:
        return answer(req, value=b"2026-11-21T10:00:00.123456Z")
    if req.opcode == Op.GET:
        return answer(req, key=req.key, value=b"content")
    if req.opcode == Op.EXEC:
        return answer(req, key=b"0", value=struct.pack(">I", 0))
    return answer(req)


class FakeServer:
    """A unix stream socket server in a temp dir: every request frame it
    reads goes to respond(frame) -> bytes to send (None: say nothing; b"":
    close the connection; (bytes, True): send them, then close).
    .requests lists the frames, .eof is set when a client connection ends."""

    def __init__(self, respond):
        self.dir = tempfile.mkdtemp(prefix="msgd-fake-")
        self.path = os.path.join(self.dir, "fake.sock")
        self.respond = respond
        self.requests = []
        self.eof = threading.Event()
        self.conns = []
        self.stopping = False
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lsock.bind(self.path)
        self.lsock.listen(8)
        self.lsock.settimeout(0.1)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,),
                             daemon=True).start()

    def _serve(self, conn):
        try:
            while not self.stopping:
                hdr = recv_exact(conn, HDR_LEN, 60)
                body = recv_exact(conn, HDR.unpack(hdr)[7], 60)
                req = Frame(hdr, body)
                self.requests.append(req)
                out = self.respond(req)
                close = out == b""
                if isinstance(out, tuple):
                    out, close = out
                if out:
                    conn.sendall(out)
                if close:
                    conn.shutdown(socket.SHUT_RDWR)
                    return
        except (EOFError, OSError, TimeoutError):
            pass
        finally:
            self.eof.set()

    def close(self):
        self.stopping = True
        self.lsock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

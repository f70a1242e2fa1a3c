"""tlsfake: a fake msgd speaking TLS (Python's ssl module), for the client
side's tests before and besides the real server.

    certs = tlscerts.make(tmpdir)
    with FakeTlsServer(certs.server, certs.server_key,
                       client_ca=None, unix_dir=None) as fake:
        fake.addr            # "127.0.0.1:PORT", or "unix:/path" (unix_dir)
        fake.handshakes      # count of completed handshakes
        fake.errors          # handshake errors, as strings
        fake.peers           # subjects (CN) of verified client certificates
        fake.resumed         # count of handshakes that resumed a session
        fake.snis            # the server names clients sent (None: none)

client_ca: require a client certificate signed by this CA (mTLS).
tls12: serve TLS 1.2 at most (the client certificate is then checked
within the handshake).
hangup: close each connection right after its handshake, reading nothing
(a server gone while the client writes: EPIPE, never SIGPIPE).  Each
connection gets a thread that answers PING (PONG), ECHO (the value) and
UPPER; any other opcode gets UNKNOWN_OP.  A close, an error or garbage ends
the connection.  Everything stops in close().
"""
import os
import shutil
import socket
import ssl
import tempfile
import threading

from harness import HDR, HDR_LEN, Op, St, recv_exact

F_RESPONSE = 0x01


def answer(op, rid, status=St.OK, key=b"", value=b""):
    body = key + value
    return HDR.pack(b"MG", 1, F_RESPONSE, op, status, len(key), rid,
                    len(body)) + body


class FakeTlsServer:
    def __init__(self, cert, key, client_ca=None, unix_dir=None,
                 hangup=False, tls12=False):
        self.hangup = hangup
        self.snis = []
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if tls12:
            self.ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        self.ctx.sni_callback = lambda sock, name, ctx: self.snis.append(
            name)
        self.ctx.load_cert_chain(cert, key)
        if client_ca is not None:
            self.ctx.verify_mode = ssl.CERT_REQUIRED
            self.ctx.load_verify_locations(client_ca)
        self.dir = None
        if unix_dir:
            self.dir = tempfile.mkdtemp(prefix="msgd-tlsfake.")
            path = os.path.join(self.dir, "sock")
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(path)
            self.addr = "unix:" + path
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.bind(("127.0.0.1", 0))
            self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.lock = threading.Lock()
        self.handshakes = 0
        self.resumed = 0
        self.errors = []
        self.peers = []
        self.stop = threading.Event()
        self.threads = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            th = threading.Thread(target=self._serve, args=(c,), daemon=True)
            self.threads.append(th)
            th.start()

    def _serve(self, raw):
        raw.settimeout(10.0)
        if raw.family != socket.AF_UNIX:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as e:
            with self.lock:
                self.errors.append(str(e))
            raw.close()
            return
        with self.lock:
            self.handshakes += 1
            if s.session_reused:
                self.resumed += 1
            cert = s.getpeercert()
            if cert:
                self.peers.append(dict(x[0] for x in cert["subject"]).get(
                    "commonName"))
        if self.hangup:
            s.close()
            return
        try:
            while not self.stop.is_set():
                hdr = recv_exact(s, HDR_LEN, 10.0)
                f = HDR.unpack(hdr)
                op, klen, rid, blen = f[3], f[5], f[6], f[7]
                body = recv_exact(s, blen, 10.0) if blen else b""
                value = body[klen:]
                if op == Op.PING:
                    s.sendall(answer(op, rid, value=b"PONG"))
                elif op == Op.ECHO:
                    s.sendall(answer(op, rid, value=value))
                elif op == Op.UPPER:
                    s.sendall(answer(op, rid, value=value.upper()))
                else:
                    s.sendall(answer(op, rid, St.UNKNOWN_OP,
                                     value=b"unknown opcode"))
        except (OSError, ValueError, EOFError, TimeoutError) as e:
            # A client that fails its own checks (a TLS 1.3 client
            # refusing the certificate) shows up here too.
            if not isinstance(e, EOFError):
                with self.lock:
                    self.errors.append(str(e))
        finally:
            s.close()

    def close(self):
        self.stop.set()
        self.sock.close()
        self.thread.join(5.0)
        for th in self.threads:
            th.join(5.0)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

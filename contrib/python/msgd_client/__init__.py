"""msgd_client: Python clients for msgd, wire protocol version 1.

Standard library only; Python 3.8 or later.  Install it with
``pip install contrib/python`` (from msgd's source tree; no network, no
build tools needed), or put contrib/python on sys.path.  Client is
blocking; AsyncClient (msgd_client.aio) is the asyncio client, with the
same operations and exceptions, that pipelines concurrent awaits on one
connection.

Usage::

    from msgd_client import Client, UdpClient, NotFound, OP_ECHO, OP_PING

    with Client("127.0.0.1:7878", timeout=5.0) as c:   # token="..." to AUTH
        c.ping()                          # round-trip time in seconds
        assert c.echo("hello") == b"hello"
        print(c.upper(b"abc"), c.time(), c.stats()["totals"])

        c.put("notes.txt", b"some bytes")
        for f in c.list():                # [FileInfo(name, size, mtime)]
            print(f.name, f.size, f.mtime)
        try:
            c.get("missing")
        except NotFound as e:
            print(e.status, e.status_name, e.message)

        r = c.exec("uptime")              # ExecResult(status, stdout, stderr)
        print(r.status, r.stdout, r.stderr)

        # Many requests in one write, answers in order, errors not raised:
        for resp in c.pipeline([(OP_ECHO, b"", b"a"), (OP_PING,)]):
            print(resp.status_name, resp.value)

    with UdpClient("127.0.0.1:7878", timeout=1.0, retries=2) as u:
        u.ping()

    # TLS: any standard library ssl.SSLContext (verify, client cert, ...).
    import ssl
    ctx = ssl.create_default_context(cafile="ca.pem")
    ctx.load_cert_chain("me.pem", "me.key")          # mTLS, if asked for
    with Client("192.0.2.10:7879", ssl_context=ctx) as c:
        c.ping()

Addresses use msgd's own syntax: "host:port", "[v6addr]:port" or
"unix:/path"; also a (host, port) tuple, or a string starting with "/" (a
unix socket path).  Unlike msgd's listen setting, host names are resolved
(getaddrinfo), and "*" (listen on every address) means 127.0.0.1.

Connection: Client connects in its constructor (eagerly: an unreachable
server fails there, with the OSError from connect(2), e.g.
ConnectionRefusedError or FileNotFoundError) and, when token is given,
sends AUTH before returning.  A Client is one connection; it is not
thread-safe.  Request ids count up from 1 (wrapping to 1 after 2^32-1, never
0), and every response is checked against its request's id and opcode.

TLS: with ssl_context (an ssl.SSLContext, e.g. ssl.create_default_context()
with cafile= for a private CA, and load_cert_chain() for a client
certificate), the connection speaks TLS: the handshake runs in the
constructor, within timeout, and the context's checks apply.  The name
sent (SNI) and checked against the certificate is server_hostname, by
default the host of the address (an IP address is checked, not sent); a
unix socket has no host, so give server_hostname or a context with
check_hostname off.  A failed handshake raises the ssl module's exception
from the constructor (ssl.SSLCertVerificationError: "certificate verify
failed: hostname mismatch", ...); like connect errors these are OSErrors.
A client certificate the server refuses is reported by TLS 1.3 after the
handshake: the first call raises ConnectionClosed naming the alert.
UdpClient has no TLS: datagrams stay in clear.

Limits: an answer whose body is longer than max_answer bytes (default
MAX_ANSWER, 1 GiB and a few bytes: the largest body msgd can be configured
to send) raises ProtocolError as soon as its header arrives, so a broken or
hostile server cannot make the client buffer more than that.

Timeouts: timeout (seconds, or None to wait forever) bounds each wait for
progress, like a socket timeout: connecting, and every stretch without any
byte sent or received while a request is outstanding.

Exceptions (all but the bad-argument ones derive from msgd_client.Error):

    Error                       base class
    +-- MsgdError               the server answered a status other than OK:
    |   |                       .status (int), .status_name ("NOT_FOUND"),
    |   |                       .message (str), .opcode, .request_id
    |   +-- BadRequest (1)   UnknownOp (2)   TooLarge (3)   NotFound (4)
    |   +-- Denied (5)       Busy (6)        Timeout (7)    Internal (8)
    |   +-- BadVersion (9)      (Timeout is the server's TIMEOUT status)
    +-- ProtocolError           a malformed answer: bad magic or version,
    |                           RESPONSE flag missing or reserved flags set,
    |                           request id or opcode mismatch, a body that
    |                           does not parse, or one over max_answer
    +-- ConnectionClosed        also a ConnectionError (so an OSError): the
    |                           server closed or reset the connection, or the
    |                           Client was already closed
    +-- ResponseTimeout         also a socket.timeout (TimeoutError from
                                Python 3.10): no progress within timeout

After ProtocolError, ConnectionClosed or ResponseTimeout the connection is
closed (framing is lost, or a late answer would be taken for the next one);
so it is after the answers the server closes on (BUSY, BAD_VERSION, an error
with request id 0, DENIED to AUTH, and an answer that came before the whole
request was sent, such as TOO_LARGE for a body over max_body).  Other
MsgdErrors leave it usable; if the server closed anyway (TOO_LARGE for a
body that did fit in the socket buffers), the next call raises
ConnectionClosed.  A connect(2) that times out raises socket.timeout.
ValueError or TypeError: bad arguments, found before anything is sent (a
key over 65535 bytes, a value that is not bytes or str, a bad file name).

File names are checked client-side: put/get/delete raise ValueError,
without sending, for a name the server would refuse (1 to 255 bytes of
[A-Za-z0-9._-], not starting with '.').  Use call() to send one anyway.
"""

from __future__ import annotations

import collections
import json
import re
import selectors
import socket
import struct
import time as _time
import typing

try:
    import ssl as _ssl
except ImportError:         # Python built without OpenSSL: no TLS
    _ssl = None             # type: ignore[assignment]

__version__ = "unknown"     # the build writes the version (build_backend.py)

__all__ = [
    "AsyncClient", "Client", "UdpClient", "udp_call", "Request", "Response",
    "FileInfo", "ExecResult", "Error", "MsgdError", "BadRequest", "UnknownOp",
    "TooLarge", "NotFound", "Denied", "Busy", "Timeout", "Internal",
    "BadVersion", "ProtocolError", "ConnectionClosed", "ResponseTimeout",
    "parse_address", "valid_file_name", "parse_time", "STATUS_NAMES",
    "OP_NAMES", "OP_PING", "OP_ECHO", "OP_UPPER", "OP_TIME", "OP_STATS",
    "OP_AUTH", "OP_PUT", "OP_GET", "OP_LIST", "OP_DEL", "OP_EXEC",
    "MAX_ANSWER",
]

if typing.TYPE_CHECKING:
    from .aio import AsyncClient
else:
    # Hidden from type checkers, which would take every unknown name of the
    # module for Any.
    def __getattr__(name):
        """AsyncClient on first use: importing asyncio costs tens of
        milliseconds that blocking programs need not pay."""
        if name == "AsyncClient":
            from .aio import AsyncClient
            return AsyncClient
        raise AttributeError("module %r has no attribute %r" % (__name__,
                                                                 name))

# ------------------------------------------------------------------ protocol

MAGIC = b"MG"
VERSION = 1
F_RESPONSE = 0x01
HEADER = struct.Struct(">2sBBBBHII")   # magic version flags op status
HEADER_LEN = HEADER.size                # key_len request_id body_len = 16
MAX_KEY = 0xFFFF
MAX_BODY = 0xFFFFFFFF
MAX_ID = 0xFFFFFFFF
# msgd's largest max_body and exec.max_output, and an EXEC answer's
# status and length fields.
MAX_ANSWER = (1 << 30) + 64

OP_PING = 0x01
OP_ECHO = 0x02
OP_UPPER = 0x03
OP_TIME = 0x04
OP_STATS = 0x05
OP_AUTH = 0x06
OP_PUT = 0x10
OP_GET = 0x11
OP_LIST = 0x12
OP_DEL = 0x13
OP_EXEC = 0x20

OP_NAMES = {OP_PING: "PING", OP_ECHO: "ECHO", OP_UPPER: "UPPER",
            OP_TIME: "TIME", OP_STATS: "STATS", OP_AUTH: "AUTH",
            OP_PUT: "PUT", OP_GET: "GET", OP_LIST: "LIST", OP_DEL: "DEL",
            OP_EXEC: "EXEC"}

OK = 0
STATUS_NAMES = {0: "OK", 1: "BAD_REQUEST", 2: "UNKNOWN_OP", 3: "TOO_LARGE",
                4: "NOT_FOUND", 5: "DENIED", 6: "BUSY", 7: "TIMEOUT",
                8: "INTERNAL", 9: "BAD_VERSION"}

# Statuses after which the server closes the connection.
_CLOSING_STATUSES = (6, 9)      # BUSY, BAD_VERSION

# UDP responses never exceed their request: pad the ignored request value
# of the ops whose answer is longer than an empty request ("PONG", a time).
UDP_MIN_VALUE = {OP_PING: 4, OP_TIME: 27}

# Over TLS, "try again" (the record is incomplete, or TLS must write to
# read) comes as SSLWantReadError or SSLWantWriteError; other SSLErrors are
# the peer's alerts and broken records.
_RETRY = (BlockingIOError, InterruptedError) + (
    (_ssl.SSLWantReadError, _ssl.SSLWantWriteError) if _ssl is not None
    else ())
_SSL_ERRORS = (_ssl.SSLError,) if _ssl is not None else ()

_FILE_NAME_RE = re.compile(rb"[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}")
_CHUNK = 1 << 16


def status_name(status):
    """"NOT_FOUND" for 4; "status N" for a code protocol v1 does not define."""
    return STATUS_NAMES.get(status, "status %d" % status)


def op_name(op):
    return OP_NAMES.get(op, "0x%02x" % op)


def _to_bytes(data: typing.Any, what: str = "value") -> bytes:
    """bytes for bytes-like data; str is encoded as UTF-8."""
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError("%s must be bytes or str, not %s" % (
        what, type(data).__name__))


def valid_file_name(name: str | bytes) -> bool:
    """Is name (str or bytes) a file name the server accepts?"""
    try:
        b = name.encode("ascii") if isinstance(name, str) else bytes(name)
    except (UnicodeEncodeError, TypeError):
        return False
    return _FILE_NAME_RE.fullmatch(b) is not None


def _file_name(name):
    if not valid_file_name(name):
        raise ValueError("bad file name %r: want 1 to 255 bytes of "
                         "[A-Za-z0-9._-], not starting with '.'" % (name,))
    return name.encode("ascii") if isinstance(name, str) else bytes(name)


def encode_request(op: int, key: Data = b"", value: Data = b"",
                   request_id: int = 0) -> bytes:
    """One request frame (bytes)."""
    k = _to_bytes(key, "key")
    v = _to_bytes(value)
    if not 0 <= op <= 0xFF:
        raise ValueError("opcode %r is not a byte" % (op,))
    if len(k) > MAX_KEY:
        raise ValueError("key of %d bytes is longer than %d" % (
            len(k), MAX_KEY))
    if len(k) + len(v) > MAX_BODY:
        raise ValueError("body of %d bytes is too long" % (len(k) + len(v)))
    return HEADER.pack(MAGIC, VERSION, 0, op, 0, len(k), request_id,
                       len(k) + len(v)) + k + v


def _check_max_answer(n):
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError("max_answer must be a byte count, not %r" % (n,))
    return n


def _check_header(hdr, max_answer=MAX_ANSWER):
    """Unpack a response header; ProtocolError unless it is one, or when
    its body would be longer than max_answer."""
    magic, version, flags, op, status, klen, rid, blen = HEADER.unpack(hdr)
    if magic != MAGIC:
        raise ProtocolError("bad magic %r in answer %r" % (magic, hdr))
    if version != VERSION:
        raise ProtocolError("answer has version %d, want %d" % (
            version, VERSION))
    if flags != F_RESPONSE:
        raise ProtocolError("answer has flags 0x%02x, want RESPONSE (0x01) "
                            "only" % flags)
    if klen > blen:
        raise ProtocolError("answer key_len %d > body_len %d" % (klen, blen))
    if blen > max_answer:
        raise ProtocolError("answer of %d bytes is longer than max_answer "
                            "(%d)" % (blen, max_answer))
    return op, status, klen, rid, blen


def parse_time(text: str) -> typing.Any:
    """A TIME answer ("2026-11-21T10:00:00.123456Z") as an aware datetime."""
    import datetime
    return datetime.datetime.strptime(
        text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)


# An address: "host:port", "[v6]:port", "unix:/path", "/path", (host, port).
Address = typing.Union[str, typing.Tuple[str, int]]
# bytes, or str sent as UTF-8.
Data = typing.Union[bytes, bytearray, memoryview, str]


def parse_address(address):
    """(family, address) for socket.connect: AF_UNIX with a path, or
    AF_UNSPEC with (host, port) to resolve.  Raises ValueError."""
    if isinstance(address, (tuple, list)):
        if len(address) != 2:
            raise ValueError("address tuple must be (host, port)")
        host, port = address
        return socket.AF_UNSPEC, (host, _port(port, address))
    if not isinstance(address, str):
        raise TypeError("address must be a str or a (host, port) tuple")
    if address.startswith("unix:"):
        if len(address) == 5:
            raise ValueError("%r: empty socket path" % address)
        return socket.AF_UNIX, address[5:]
    if address.startswith("/"):
        return socket.AF_UNIX, address
    if address.startswith("["):
        end = address.find("]")
        if end < 0 or address[end + 1:end + 2] != ":":
            raise ValueError("%r: expected [v6addr]:port" % address)
        return socket.AF_INET6, (address[1:end],
                                 _port(address[end + 2:], address))
    host, colon, port = address.rpartition(":")
    if not colon or not host:
        raise ValueError("%r: expected host:port, [v6addr]:port or "
                         "unix:/path" % address)
    if ":" in host:
        raise ValueError("%r: put IPv6 addresses in brackets, like "
                         "[::1]:7878" % address)
    if host == "*":
        host = "127.0.0.1"
    return socket.AF_UNSPEC, (host, _port(port, address))


def _port(port, address):
    try:
        p = int(port)
    except (TypeError, ValueError):
        p = 0
    if not 1 <= p <= 65535 or isinstance(port, bool):
        raise ValueError("%r: port must be 1 to 65535" % (address,))
    return p


# ------------------------------------------------------------------ results

FileInfo = collections.namedtuple("FileInfo", "name size mtime")
FileInfo.__doc__ = "One LIST line: name (str), size (bytes), mtime (unix s)."

ExecResult = collections.namedtuple("ExecResult", "status stdout stderr")
ExecResult.__doc__ = ("An EXEC answer: exit status (128+N when killed by "
                      "signal N), stdout and stderr bytes.")

Request = collections.namedtuple("Request", "op key value",
                                 defaults=(b"", b""))
Request.__doc__ = "One request for Client.pipeline(): opcode, key, value."


class Response(collections.namedtuple(
        "Response", "opcode status key value request_id")):
    """One response frame: opcode, status (int), key and value (bytes),
    request_id."""
    __slots__ = ()

    @property
    def ok(self):
        return self.status == OK

    @property
    def status_name(self):
        return status_name(self.status)

    def raise_for_status(self):
        """Raise the MsgdError subclass for a status other than OK."""
        if self.status != OK:
            raise MsgdError.from_response(self)
        return self


# ------------------------------------------------------------------ errors

class Error(Exception):
    """Base class of the errors this module raises."""


class MsgdError(Error):
    """The server answered a status other than OK."""

    status: int | None = None   # set by the per-status subclasses
    _by_status: typing.Dict[int, typing.Type[MsgdError]] = {}

    def __init__(self, status: int, message: str = "",
                 opcode: int | None = None,
                 request_id: int | None = None) -> None:
        self.status = status
        self.status_name = status_name(status)
        self.message = message
        self.opcode = opcode
        self.request_id = request_id
        super().__init__(status, message)

    def __str__(self):
        s = "%s (%s)" % (self.status_name, self.status)
        if self.opcode is not None:
            s += " to %s" % op_name(self.opcode)
        return s + (": " + self.message if self.message else "")

    @classmethod
    def from_response(cls, resp):
        """The error for a Response: the subclass of its status, else
        MsgdError itself."""
        sub = MsgdError._by_status.get(resp.status, MsgdError)
        return sub(resp.status, resp.value.decode("utf-8", "replace"),
                   resp.opcode, resp.request_id)


def _status_error(code, name, doc):
    cls = type(name, (MsgdError,), {"__doc__": doc, "status": code})
    MsgdError._by_status[code] = cls
    return cls


BadRequest = _status_error(1, "BadRequest", "BAD_REQUEST: malformed frame "
                           "or arguments (e.g. a bad file name).")
UnknownOp = _status_error(2, "UnknownOp", "UNKNOWN_OP: opcode not known "
                          "to this server.")
TooLarge = _status_error(3, "TooLarge", "TOO_LARGE: body or result larger "
                         "than allowed.")
NotFound = _status_error(4, "NotFound", "NOT_FOUND: no such file or "
                         "command.")
Denied = _status_error(5, "Denied", "DENIED: not authenticated, not "
                       "allowed, or the feature is disabled.")
Busy = _status_error(6, "Busy", "BUSY: the server's connection limit was "
                     "reached (the connection is closed).")
Timeout = _status_error(7, "Timeout", "TIMEOUT: the operation ran out of "
                        "time on the server (compare ResponseTimeout).")
Internal = _status_error(8, "Internal", "INTERNAL: server-side failure.")
BadVersion = _status_error(9, "BadVersion", "BAD_VERSION: protocol version "
                           "not supported (the connection is closed).")


class ProtocolError(Error):
    """A malformed answer: not a protocol v1 response frame, or not the
    response to the request (request id or opcode mismatch), a body that
    does not parse, or one longer than max_answer.  The connection is
    closed."""


class ConnectionClosed(Error, ConnectionError):
    """The server closed or reset the connection (or the Client was
    closed) before every answer arrived."""


class ResponseTimeout(Error, socket.timeout):
    """No byte could be sent or received within the timeout.  The
    connection is closed."""


# ------------------------------------------------------------------ client

class Client:
    """One stream connection (TCP, IPv6 or UNIX) to msgd.

    Client(address, timeout=5.0, token=None, ssl_context=None,
    server_hostname=None, max_answer=MAX_ANSWER): connects now (TLS with
    ssl_context, and sends AUTH when token is given); see the module
    docstring for addresses, TLS, timeouts, limits and errors.  Use it as a
    context manager, or call close().
    """

    def __init__(self, address: Address, timeout: float | None = 5.0,
                 token: bytes | str | None = None,
                 ssl_context: typing.Any = None,
                 server_hostname: str | None = None,
                 max_answer: int = MAX_ANSWER) -> None:
        self._sock: typing.Any = None
        self._sel: selectors.BaseSelector | None = None
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive or None")
        self.max_answer = _check_max_answer(max_answer)
        if ssl_context is not None and (
                _ssl is None or not isinstance(ssl_context, _ssl.SSLContext)):
            raise TypeError("ssl_context must be an ssl.SSLContext")
        self.address = address
        self.timeout = timeout
        self._next_id = 1
        family, addr = parse_address(address)
        if family == socket.AF_UNIX:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect(addr)
            except BaseException:
                sock.close()
                raise
        else:
            sock = socket.create_connection(addr, timeout)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        if ssl_context is not None:
            if server_hostname is None and family != socket.AF_UNIX:
                server_hostname = addr[0]
            try:
                # Blocking, under the connect timeout still set on sock.
                sock = ssl_context.wrap_socket(
                    sock, server_hostname=server_hostname)
            except BaseException:
                sock.close()
                raise
        sock.setblocking(False)
        self._sock = sock
        self._sel = selectors.DefaultSelector()
        self._sel.register(sock, selectors.EVENT_READ)
        if token is not None:
            try:
                self.auth(token)
            except BaseException:
                self.close()
                raise

    # -- life cycle

    @property
    def closed(self) -> bool:
        return self._sock is None

    def fileno(self) -> int:
        """The socket's descriptor (-1 once closed)."""
        return -1 if self._sock is None else self._sock.fileno()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        sock, self._sock = self._sock, None
        if self._sel is not None:
            self._sel.close()
            self._sel = None
        if sock is not None:
            sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return "<msgd_client.Client %r%s%s>" % (
            self.address, " " + self.tls_version if self.tls_version else "",
            " closed" if self.closed else "")

    @property
    def tls_version(self) -> str | None:
        """"TLSv1.3" and the like over TLS; None in clear or once closed."""
        if _ssl is not None and isinstance(self._sock, _ssl.SSLSocket):
            return self._sock.version()
        return None

    # -- low level

    def new_request_id(self) -> int:
        """The next request id: 1, 2, ..., 2^32-1, 1, ... (never 0)."""
        rid = self._next_id
        self._next_id = rid + 1 if rid < MAX_ID else 1
        return rid

    def call(self, op: int, key: Data = b"", value: Data = b"") -> Response:
        """Send one request (any opcode, key and value: bytes or str) and
        return its Response; a status other than OK raises its MsgdError.
        The connection is closed on the statuses the server closes on."""
        resp = self._exchange([(op, key, value)])[0]
        if resp.status != OK:
            if (resp.status in _CLOSING_STATUSES or
                    (op == OP_AUTH and resp.status == 5)):
                self.close()
            resp.raise_for_status()
        return resp

    def pipeline(self, requests: typing.Iterable[typing.Sequence[typing.Any]]
                 ) -> typing.List[Response]:
        """Send many requests in one go (sending and reading at once, so a
        long pipeline cannot deadlock) and return their Responses in order.
        requests: Request tuples, or plain (op[, key[, value]]) tuples.
        Error statuses are returned, not raised (see Response.ok and
        Response.raise_for_status); protocol and connection errors raise."""
        reqs = [Request(*r) for r in requests]
        return self._exchange(reqs) if reqs else []

    def _exchange(self, requests):
        if self._sock is None:
            raise ConnectionClosed("the client is closed")
        frames = []
        expect = []
        for op, key, value in requests:
            rid = self.new_request_id()
            frames.append(encode_request(op, key, value, rid))
            expect.append((rid, op))
        try:
            return self._transfer(b"".join(frames), expect)
        except (ProtocolError, ConnectionClosed, ResponseTimeout):
            self.close()
            raise
        except MsgdError:        # a connection-level error (request id 0)
            self.close()
            raise
        except OSError as e:     # anything else the socket says
            self.close()
            raise ConnectionClosed("connection to %r failed: %s" % (
                self.address, e)) from e

    def _transfer(self, out, expect):
        """Write out while reading responses, until len(expect) arrive."""
        sock, sel = self._sock, self._sel
        view = memoryview(out)
        sent = 0
        can_send = True
        inbuf = bytearray()
        responses: typing.List[Response] = []
        assert sel is not None
        while len(responses) < len(expect):
            writing = can_send and sent < len(view)
            sel.modify(sock, selectors.EVENT_READ |
                       (selectors.EVENT_WRITE if writing else 0))
            events = sel.select(self.timeout)
            if not events:
                raise ResponseTimeout(
                    "no answer from %r within %s s (%d of %d answers, %d of "
                    "%d bytes sent)" % (self.address, self.timeout,
                                        len(responses), len(expect), sent,
                                        len(view)))
            mask = events[0][1]
            if writing and mask & selectors.EVENT_WRITE:
                try:
                    sent += sock.send(view[sent:sent + _CHUNK])
                except _RETRY:
                    pass
                except (BrokenPipeError, ConnectionResetError) + _SSL_ERRORS:
                    # The server stopped reading (e.g. TOO_LARGE, then
                    # close): its answer, or its TLS alert (a refused
                    # client certificate), may still be waiting to be read.
                    can_send = False
            if mask & selectors.EVENT_READ:
                try:
                    data = self._recv(sock)
                except _RETRY:
                    continue
                except ConnectionResetError as e:
                    raise ConnectionClosed(
                        "connection reset by %r after %d of %d answers" % (
                            self.address, len(responses), len(expect))
                    ) from e
                except _SSL_ERRORS as e:
                    # The server's TLS alert, e.g. a client certificate
                    # it refused after the handshake (TLS 1.3).
                    raise ConnectionClosed("TLS error from %r: %s" % (
                        self.address, e)) from e
                if not data:
                    raise ConnectionClosed(
                        "connection closed by %r after %d of %d answers%s" % (
                            self.address, len(responses), len(expect),
                            " and %d bytes of the next" % len(inbuf)
                            if inbuf else ""))
                inbuf += data
                self._parse(inbuf, expect, responses, self.max_answer)
        if inbuf:
            raise ProtocolError("%d unexpected bytes after the last answer: "
                                "%r" % (len(inbuf), bytes(inbuf[:32])))
        if sent < len(view):
            # Answered before it was all sent (TOO_LARGE without reading
            # the body): the rest cannot be framed any more.
            self.close()
        return responses

    @staticmethod
    def _recv(sock):
        """What the socket has.  Over TLS, also the rest of the record
        already decrypted (pending()), which select() cannot see."""
        data = sock.recv(_CHUNK)
        if data and _ssl is not None and isinstance(sock, _ssl.SSLSocket):
            while sock.pending():
                data += sock.recv(sock.pending())
        return data

    @staticmethod
    def _parse(inbuf, expect, responses, max_answer):
        """Move the whole frames at the start of inbuf to responses, each
        checked against its request.  Headers are checked as soon as they
        arrive, so garbage fails at once rather than after its 'body'."""
        while len(inbuf) >= HEADER_LEN:
            op, status, klen, rid, blen = _check_header(
                bytes(inbuf[:HEADER_LEN]), max_answer)
            if len(inbuf) < HEADER_LEN + blen:
                # Fail early on a mismatch; wait for an error's message.
                if len(responses) < len(expect) and (rid or status == OK):
                    _match(op, status, rid, expect[len(responses)])
                return
            if len(responses) >= len(expect):
                raise ProtocolError("unsolicited answer (id %d, op %s)" % (
                    rid, op_name(op)))
            body = bytes(inbuf[HEADER_LEN:HEADER_LEN + blen])
            del inbuf[:HEADER_LEN + blen]
            resp = Response(op, status, body[:klen], body[klen:], rid)
            _match(op, status, rid, expect[len(responses)], resp)
            responses.append(resp)

    # -- operations

    def _parsed(self, parse, *args):
        """parse(*args), closing the connection when the answer is
        malformed (a server that sends one is not to be trusted further)."""
        try:
            return parse(*args)
        except ProtocolError:
            self.close()
            raise

    def ping(self) -> float:
        """PING; returns the round-trip time in seconds."""
        t0 = _time.monotonic()
        self._parsed(_parse_pong, self.call(OP_PING).value)
        return _time.monotonic() - t0

    def echo(self, data: Data) -> bytes:
        """ECHO: data (bytes or str, UTF-8) back, as bytes."""
        return self.call(OP_ECHO, b"", _to_bytes(data, "data")).value

    def upper(self, data: Data) -> bytes:
        """UPPER: data with ASCII a-z turned to A-Z, as bytes."""
        return self.call(OP_UPPER, b"", _to_bytes(data, "data")).value

    def time(self) -> str:
        """TIME: the server's clock as RFC 3339 UTC with microseconds, e.g.
        "2026-11-21T10:00:00.123456Z" (parse_time() makes a datetime)."""
        return self._parsed(_text, self.call(OP_TIME).value, "TIME")

    def stats(self) -> typing.Any:
        """STATS: the server's statistics document (parsed JSON, a dict)."""
        return self._parsed(_parse_stats, self.call(OP_STATS).value)

    def auth(self, token: Data) -> None:
        """AUTH with token (bytes or str).  Denied (and the connection is
        closed) when the server refuses it."""
        self.call(OP_AUTH, b"", _to_bytes(token, "token"))

    def put(self, name: str | bytes, data: Data) -> None:
        """PUT: store data (bytes or str, UTF-8) as file name, atomically."""
        self.call(OP_PUT, _file_name(name), _to_bytes(data, "data"))

    def get(self, name: str | bytes) -> bytes:
        """GET: the content of file name (NotFound if absent)."""
        key = _file_name(name)
        return self._parsed(_parse_get, key, self.call(OP_GET, key))

    def list(self) -> typing.List[FileInfo]:
        """LIST: [FileInfo(name, size, mtime)] sorted by name."""
        return self._parsed(_parse_list, self.call(OP_LIST).value)

    def delete(self, name: str | bytes) -> None:
        """DEL: remove file name (NotFound if absent)."""
        self.call(OP_DEL, _file_name(name))

    def exec(self, name: Data, stdin: Data = b"") -> ExecResult:
        """EXEC: run the allow-listed command name with stdin (bytes or
        str); returns ExecResult(status, stdout, stderr).  A non-zero exit
        status is a result, not an error; NotFound for a command not in
        the allow-list, Timeout / TooLarge when the server says so."""
        resp = self.call(OP_EXEC, _to_bytes(name, "name"),
                         _to_bytes(stdin, "stdin"))
        return self._parsed(_parse_exec, resp)


# Answer parsers: the result, or ProtocolError.

def _text(value, what):
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError("%s answer is not UTF-8: %r" % (
            what, value[:32])) from e


def _parse_pong(value):
    if value != b"PONG":
        raise ProtocolError("PING answered %r, not PONG" % value[:32])


def _parse_stats(value):
    try:
        return json.loads(_text(value, "STATS"))
    except ValueError as e:
        raise ProtocolError("STATS answer is not JSON: %s" % e) from e


def _parse_get(key, resp):
    if resp.key != key:
        raise ProtocolError("GET %r answered for file %r" % (key, resp.key))
    return resp.value


def _parse_list(value):
    """name<TAB>size<TAB>mtime<LF> lines -> [FileInfo]."""
    if not value:
        return []
    if not value.endswith(b"\n"):
        raise ProtocolError("LIST answer does not end with a newline")
    files = []
    for line in value[:-1].split(b"\n"):
        parts = line.split(b"\t")
        if (len(parts) != 3 or not parts[0] or not parts[1].isdigit() or
                not parts[2].isdigit()):
            raise ProtocolError("bad LIST line %r" % line)
        files.append(FileInfo(_text(parts[0], "LIST"), int(parts[1]),
                              int(parts[2])))
    return files


def _parse_exec(resp):
    """key: exit status in decimal; value: 4-byte stdout length L, L bytes
    of stdout, then stderr."""
    if not resp.key.isdigit():
        raise ProtocolError("EXEC status %r is not a decimal number" %
                            resp.key[:32])
    v = resp.value
    if len(v) < 4:
        raise ProtocolError("EXEC answer of %d bytes has no stdout length" %
                            len(v))
    n = struct.unpack(">I", v[:4])[0]
    if 4 + n > len(v):
        raise ProtocolError("EXEC stdout length %d exceeds the %d bytes "
                            "answered" % (n, len(v) - 4))
    return ExecResult(int(resp.key), v[4:4 + n], v[4 + n:])


def _match(op, status, rid, expected, resp=None):
    """Check a response header against its (request id, opcode)."""
    want_rid, want_op = expected
    if rid == 0 and status != OK:
        # A connection-level error (framing lost, BUSY): the server closes.
        raise MsgdError.from_response(
            resp or Response(op, status, b"", b"", rid))
    if rid != want_rid:
        raise ProtocolError("answer has request id %d, want %d" % (
            rid, want_rid))
    if op != want_op:
        raise ProtocolError("answer to request %d has opcode %s, want %s" %
                            (rid, op_name(op), op_name(want_op)))


# ------------------------------------------------------------------ UDP

class UdpClient:
    """Requests over UDP: PING, ECHO, UPPER and TIME (the server answers
    DENIED to any other opcode, and serves only PING when it has an auth
    token).

    UdpClient(address, timeout=2.0, retries=0): address as for Client but
    not unix:.  Each request waits up to timeout seconds for its answer and
    is sent again up to retries times (the served ops are idempotent);
    then ResponseTimeout.  The server drops (does not answer) requests
    whose answer would be larger than the request, so PING and TIME values
    are padded (4 and 27 bytes).  Answers to earlier, timed-out requests
    are recognised by their request id and skipped; a malformed datagram
    raises ProtocolError, an ICMP port unreachable ConnectionRefusedError.
    """

    def __init__(self, address, timeout=2.0, retries=0):
        if timeout is None or timeout <= 0:
            raise ValueError("a UDP timeout must be positive")
        family, addr = parse_address(address)
        if family == socket.AF_UNIX:
            raise ValueError("%r: msgd serves UDP on IP addresses only" %
                             (address,))
        info = socket.getaddrinfo(addr[0], addr[1], family,
                                  socket.SOCK_DGRAM)[0]
        self.address = address
        self.timeout = timeout
        self.retries = retries
        self._next_id = 1
        self._sock: typing.Any = socket.socket(info[0], socket.SOCK_DGRAM)
        try:
            self._sock.connect(info[4])
        except BaseException:
            self._sock.close()
            raise

    def close(self):
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    @property
    def closed(self):
        return self._sock is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def new_request_id(self):
        rid = self._next_id
        self._next_id = rid + 1 if rid < MAX_ID else 1
        return rid

    def call(self, op, key=b"", value=b""):
        """Send one request datagram (value padded with zero bytes to the
        minimum for PING and TIME) and return its Response; a status other
        than OK raises its MsgdError (with an empty message: UDP error
        answers carry none)."""
        if self._sock is None:
            raise ConnectionClosed("the client is closed")
        value = _to_bytes(value)
        pad = UDP_MIN_VALUE.get(op, 0) - len(value)
        if pad > 0:
            value += b"\0" * pad
        rid = self.new_request_id()
        frame = encode_request(op, key, value, rid)
        for _ in range(self.retries + 1):
            self._sock.send(frame)
            resp = self._receive(rid, op)
            if resp is not None:
                return resp.raise_for_status()
        raise ResponseTimeout("no UDP answer from %r within %s s (%d tries)"
                              % (self.address, self.timeout,
                                 self.retries + 1))

    def _receive(self, rid, op):
        """The answer to request rid, or None when the timeout runs out."""
        deadline = _time.monotonic() + self.timeout
        while True:
            left = deadline - _time.monotonic()
            if left <= 0:
                return None
            self._sock.settimeout(left)
            try:
                data = self._sock.recv(65536)
            except socket.timeout:
                return None
            if len(data) < HEADER_LEN:
                raise ProtocolError("UDP answer of %d bytes" % len(data))
            rop, status, klen, rrid, blen = _check_header(data[:HEADER_LEN])
            if len(data) != HEADER_LEN + blen:
                raise ProtocolError("UDP answer of %d bytes says body_len %d"
                                    % (len(data), blen))
            if rrid != rid:
                continue         # a late answer to an earlier try
            if rop != op:
                raise ProtocolError("UDP answer to request %d has opcode "
                                    "%s, want %s" % (rid, op_name(rop),
                                                     op_name(op)))
            body = data[HEADER_LEN:]
            return Response(rop, status, body[:klen], body[klen:], rrid)

    def ping(self):
        """PING; returns the round-trip time in seconds."""
        t0 = _time.monotonic()
        _parse_pong(self.call(OP_PING).value)
        return _time.monotonic() - t0

    def echo(self, data):
        return self.call(OP_ECHO, b"", _to_bytes(data, "data")).value

    def upper(self, data):
        return self.call(OP_UPPER, b"", _to_bytes(data, "data")).value

    def time(self):
        return _text(self.call(OP_TIME).value, "TIME")


def udp_call(address, op, value=b"", key=b"", timeout=2.0, retries=0):
    """One UDP request to address; returns its Response (see UdpClient)."""
    with UdpClient(address, timeout, retries) as u:
        return u.call(op, key, value)

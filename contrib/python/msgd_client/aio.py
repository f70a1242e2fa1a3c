"""msgd_client.aio: the asyncio client (also msgd_client.AsyncClient).

Usage::

    import asyncio
    from msgd_client import AsyncClient

    async def main():
        async with AsyncClient("127.0.0.1:7878", timeout=5.0) as c:
            await c.ping()
            print(await c.echo("hello"))
            # 100 requests in flight on one connection: each is written
            # when its coroutine runs, the answers come back in order.
            answers = await asyncio.gather(
                *(c.upper("msg %d" % i) for i in range(100)))

    asyncio.run(main())

The operations, their results and their exceptions are Client's (see the
msgd_client docstring): ping, echo, upper, time, stats, auth, put, get,
list, delete, exec, call and pipeline, each a coroutine.  What differs:

Connection: AsyncClient(address, ...) only records its arguments;
``await c.connect()`` (or ``async with``) connects, runs the TLS handshake
and sends AUTH when token is given, all within timeout.  A connect that
times out raises ResponseTimeout (a socket.timeout, like Client's).

Concurrency: any number of tasks may await operations on one AsyncClient
at once.  Each request is written as soon as its call runs (no waiting for
earlier answers) and gets the next request id; msgd answers the requests
of a connection in order, so each answer is checked against the oldest
request still waiting (request id and opcode) and handed to its caller.
Cancelling a call (asyncio.wait_for, task.cancel()) leaves the connection
usable: its answer, when it comes, is read and dropped.  Writing waits
while the transport's buffer is over its high-water mark.  An AsyncClient
belongs to the event loop that connected it (it is not thread-safe).

Timeouts: timeout bounds every stretch without progress while requests
are outstanding, as for Client: no byte arrives for timeout seconds ->
every waiting call raises ResponseTimeout and the connection is closed.
One call's own deadline is asyncio.wait_for(c.echo(x), 1.0).

TLS: ssl= takes an ssl.SSLContext (asyncio's name for it; ssl_context= is
accepted too, Client's name), server_hostname= as for Client: by default
the host of a TCP address; a unix socket needs one, or a context with
check_hostname off.

Connection loss: when the server closes or resets the connection, or
sends an answer that breaks the protocol, every call still waiting raises
(ConnectionClosed, ProtocolError; a connection-level error with request id
0, such as BUSY, goes to every waiting call) and later calls raise
ConnectionClosed.  Answers longer than max_answer raise ProtocolError when
their header arrives; the client buffers at most one answer of that size.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import socket
import time as _time
import typing

from . import (MAX_ANSWER, MAX_ID, OK, OP_AUTH, OP_DEL, OP_ECHO, OP_EXEC,
               OP_GET, OP_LIST, OP_PING, OP_PUT, OP_STATS, OP_TIME, OP_UPPER,
               HEADER_LEN, Address, ConnectionClosed, Data, ExecResult,
               FileInfo, MsgdError, ProtocolError, Request, Response,
               ResponseTimeout, _CLOSING_STATUSES, _check_header,
               _check_max_answer, _file_name, _match, _parse_exec,
               _parse_get, _parse_list, _parse_pong, _parse_stats, _text,
               _to_bytes, encode_request, op_name, parse_address)

__all__ = ["AsyncClient"]

_DENIED = 5


class _Waiter(typing.NamedTuple):
    """A request written and not yet answered."""
    rid: int
    op: int
    fut: asyncio.Future[Response]


class _Protocol(asyncio.Protocol):
    """The connection: frames out as they are asked for, answers in to
    the oldest waiter, the no-progress timer, and the error for everyone
    when the connection ends."""

    def __init__(self, address: Address, timeout: float | None,
                 max_answer: int) -> None:
        self.address = address
        self.timeout = timeout
        self.max_answer = max_answer
        self.loop = asyncio.get_running_loop()
        self.transport: typing.Any = None
        self.inbuf = bytearray()
        self.waiting: typing.Deque[_Waiter] = collections.deque()
        self.answered = 0
        self.next_id = 1
        self.paused = False
        self.out: typing.List[bytes] = []
        self.drain: typing.List[asyncio.Future[None]] = []
        self.closed_by: BaseException | None = None
        self.lost: asyncio.Future[None] = self.loop.create_future()
        self.progress = 0.0
        self.timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.progress = self.loop.time()
        self.inbuf += data
        try:
            self._answers()
        except (ProtocolError, MsgdError) as e:
            self.fail(e)

    def eof_received(self) -> bool:
        return False            # close our side too: connection_lost

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed_by is None:
            why = "closed by %r" % (self.address,)
            if isinstance(exc, ConnectionResetError):
                why = "reset by %r" % (self.address,)
            elif exc is not None:
                why = "to %r failed: %s" % (self.address, exc)
            n = len(self.waiting)
            e = ConnectionClosed(
                "connection %s after %d answers%s%s" % (
                    why, self.answered,
                    ", %d requests unanswered" % n if n else "",
                    " and %d bytes of the next" % len(self.inbuf)
                    if self.inbuf else ""))
            e.__cause__ = exc
            self.fail(e)
        if not self.lost.done():
            self.lost.set_result(None)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.progress = self.loop.time()
        drain, self.drain = self.drain, []
        for f in drain:
            if not f.done():
                f.set_result(None)

    # -- requests

    def check_open(self) -> None:
        if self.closed_by is not None:
            raise ConnectionClosed("the client is closed (%s)" %
                                   (self.closed_by,))

    async def writable(self) -> None:
        """Wait while the transport's buffer is over its high-water mark."""
        while self.paused and self.closed_by is None:
            f = self.loop.create_future()
            self.drain.append(f)
            await f
        self.check_open()

    def send(self, requests: typing.Sequence[typing.Tuple[int, Data, Data]]
             ) -> typing.List[asyncio.Future[Response]]:
        """Queue the frames (all encoded first: a bad argument sends
        nothing), one waiter each, in the order msgd will answer them.
        They are written at the end of this turn of the event loop, with
        the other requests of the turn, in one write."""
        self.check_open()
        frames = []
        waiters = []
        rid = self.next_id
        for op, key, value in requests:
            frames.append(encode_request(op, key, value, rid))
            waiters.append(_Waiter(rid, op, self.loop.create_future()))
            rid = rid + 1 if rid < MAX_ID else 1
        self.next_id = rid
        if not self.waiting:
            self.progress = self.loop.time()
        self.waiting.extend(waiters)
        if not self.out:
            self.loop.call_soon(self._flush)
        self.out.extend(frames)
        self._arm()
        return [w.fut for w in waiters]

    def _flush(self) -> None:
        out, self.out = self.out, []
        if out and self.closed_by is None:
            self.transport.write(b"".join(out))

    def _answers(self) -> None:
        """Hand every whole answer in inbuf to its waiter; check a header
        as soon as it is in (garbage and mismatches fail at once)."""
        buf = self.inbuf
        pos = 0
        try:
            while len(buf) - pos >= HEADER_LEN:
                op, status, klen, rid, blen = _check_header(
                    bytes(buf[pos:pos + HEADER_LEN]), self.max_answer)
                if not self.waiting:
                    raise ProtocolError("unsolicited answer (id %d, op %s)"
                                        % (rid, op_name(op)))
                head = self.waiting[0]
                end = pos + HEADER_LEN + blen
                if len(buf) < end:
                    if rid or status == OK:
                        _match(op, status, rid, head[:2])
                    return
                body = bytes(buf[pos + HEADER_LEN:end])
                pos = end
                resp = Response(op, status, body[:klen], body[klen:], rid)
                _match(op, status, rid, head[:2], resp)
                self.waiting.popleft()
                self.answered += 1
                if not head.fut.done():         # else cancelled
                    head.fut.set_result(resp)
                if status != OK and (status in _CLOSING_STATUSES or
                                     (op == OP_AUTH and status == _DENIED)):
                    self.fail(ConnectionClosed(
                        "the server closes after %s to %s" % (
                            resp.status_name, op_name(op))))
                    return
        finally:
            del buf[:pos]

    def fail(self, exc: BaseException) -> None:
        """End the connection: exc (a copy each) for every waiter."""
        if self.closed_by is None:
            self.closed_by = exc
        waiting, self.waiting = self.waiting, collections.deque()
        for w in waiting:
            if not w.fut.done():
                w.fut.set_exception(_copy(exc))
        drain, self.drain = self.drain, []
        for f in drain:
            if not f.done():
                f.set_result(None)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.transport.abort()

    # -- the no-progress timer

    def _arm(self) -> None:
        if self.timeout is not None and self.timer is None:
            self.timer = self.loop.call_at(self.progress + self.timeout,
                                           self._expire)

    def _expire(self) -> None:
        self.timer = None
        if not self.waiting or self.closed_by is not None:
            return
        if self.loop.time() < self.progress + typing.cast(float,
                                                          self.timeout):
            self._arm()         # progress since: wait for the rest
            return
        self.fail(ResponseTimeout(
            "no answer from %r within %s s (%d answers, %d requests "
            "unanswered)" % (self.address, self.timeout, self.answered,
                             len(self.waiting))))


def _copy(exc: BaseException) -> BaseException:
    """A fresh exception like exc, so that each awaiting task gets its
    own traceback."""
    new = copy.copy(exc)
    new.__cause__ = exc.__cause__
    return new


class AsyncClient:
    """One stream connection (TCP, IPv6 or UNIX) to msgd, for asyncio.

    AsyncClient(address, timeout=5.0, token=None, ssl=None,
    server_hostname=None, max_answer=MAX_ANSWER, ssl_context=None): see
    the module docstring.  ``async with AsyncClient(...) as c:``, or
    ``await c.connect()`` and ``await c.close()``.
    """

    def __init__(self, address: Address, timeout: float | None = 5.0,
                 token: Data | None = None, ssl: typing.Any = None,
                 server_hostname: str | None = None,
                 max_answer: int = MAX_ANSWER,
                 ssl_context: typing.Any = None) -> None:
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive or None")
        if ssl is not None and ssl_context is not None:
            raise TypeError("give ssl= or ssl_context=, not both")
        ctx = ssl if ssl is not None else ssl_context
        if ctx is not None:
            import ssl as _ssl
            if not isinstance(ctx, _ssl.SSLContext):
                raise TypeError("ssl must be an ssl.SSLContext")
        self.address = address
        self.timeout = timeout
        self.max_answer = _check_max_answer(max_answer)
        self._family, self._addr = parse_address(address)
        if (ctx is not None and ctx.check_hostname and
                server_hostname is None and self._family == socket.AF_UNIX):
            # asyncio would check no name at all; Client refuses too.
            raise ValueError("TLS over a unix socket needs server_hostname "
                             "(or a context with check_hostname off)")
        self._token = None if token is None else _to_bytes(token, "token")
        self._ctx = ctx
        self._server_hostname = server_hostname
        self._proto: _Protocol | None = None

    # -- life cycle

    async def connect(self) -> AsyncClient:
        """Connect (TLS handshake, AUTH) within timeout; returns self.
        A closed client may connect again (a new connection)."""
        if not self.closed:
            raise RuntimeError("already connected")
        loop = asyncio.get_running_loop()
        proto = _Protocol(self.address, self.timeout, self.max_answer)
        kw: typing.Dict[str, typing.Any] = {}
        if self._ctx is not None:
            kw["ssl"] = self._ctx
            # "" : no name to send or check (asyncio's spelling of None).
            kw["server_hostname"] = (self._server_hostname
                                     if self._server_hostname is not None
                                     else self._addr[0]
                                     if self._family != socket.AF_UNIX
                                     else "")
        if self._family == socket.AF_UNIX:
            conn = loop.create_unix_connection(lambda: proto, self._addr,
                                               **kw)
        else:
            host, port = self._addr
            conn = loop.create_connection(
                lambda: proto, host, port,
                family=(socket.AF_INET6 if self._family == socket.AF_INET6
                        else socket.AF_UNSPEC), **kw)
        try:
            await asyncio.wait_for(conn, self.timeout)
        except asyncio.TimeoutError:
            raise ResponseTimeout("connect to %r: no answer within %s s" %
                                  (self.address, self.timeout)) from None
        self._proto = proto
        if self._token is not None:
            try:
                await self.auth(self._token)
            except BaseException:
                await self.close()
                raise
        return self

    async def close(self) -> None:
        """Close the connection (idempotent); calls still waiting raise
        ConnectionClosed."""
        proto = self._proto
        if proto is None:
            return
        proto.fail(ConnectionClosed("closed by the client"))
        await proto.lost

    @property
    def closed(self) -> bool:
        return self._proto is None or self._proto.closed_by is not None

    async def __aenter__(self) -> AsyncClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return "<msgd_client.AsyncClient %r%s>" % (
            self.address, " closed" if self.closed else "")

    @property
    def tls_version(self) -> str | None:
        """"TLSv1.3" and the like over TLS; None in clear or once closed."""
        if self.closed or self._proto is None:
            return None
        obj = self._proto.transport.get_extra_info("ssl_object")
        return None if obj is None else obj.version()

    # -- low level

    def _conn(self) -> _Protocol:
        if self._proto is None:
            raise ConnectionClosed("the client is not connected (await "
                                   "connect() or use async with)")
        self._proto.check_open()
        return self._proto

    async def call(self, op: int, key: Data = b"", value: Data = b""
                   ) -> Response:
        """Send one request and return its Response; a status other than
        OK raises its MsgdError (see Client.call)."""
        proto = self._conn()
        if proto.paused:
            await proto.writable()
        resp = await proto.send([(op, key, value)])[0]
        return resp.raise_for_status()

    async def pipeline(self, requests: typing.Iterable[
            typing.Sequence[typing.Any]]) -> typing.List[Response]:
        """Write many requests at once and return their Responses in
        order; error statuses are returned, not raised (Client.pipeline)."""
        reqs = [Request(*r) for r in requests]
        if not reqs:
            return []
        proto = self._conn()
        if proto.paused:
            await proto.writable()
        futs = proto.send(reqs)
        out = []
        try:
            for f in futs:
                out.append(await f)
        finally:
            for f in futs:
                if not f.done():
                    f.cancel()      # its answer is read and dropped
                elif not f.cancelled():
                    f.exception()   # retrieved: no "never retrieved"
        return out

    def _parsed(self, parse: typing.Callable[..., typing.Any],
                *args: typing.Any) -> typing.Any:
        """parse(*args); a malformed answer closes the connection."""
        try:
            return parse(*args)
        except ProtocolError as e:
            if self._proto is not None:
                self._proto.fail(ConnectionClosed(
                    "closed after a malformed answer: %s" % e))
            raise

    # -- operations

    async def ping(self) -> float:
        """PING; returns the round-trip time in seconds."""
        t0 = _time.monotonic()
        self._parsed(_parse_pong, (await self.call(OP_PING)).value)
        return _time.monotonic() - t0

    async def echo(self, data: Data) -> bytes:
        """ECHO: data (bytes or str, UTF-8) back, as bytes."""
        return (await self.call(OP_ECHO, b"", _to_bytes(data, "data"))).value

    async def upper(self, data: Data) -> bytes:
        """UPPER: data with ASCII a-z turned to A-Z, as bytes."""
        return (await self.call(OP_UPPER, b"",
                                _to_bytes(data, "data"))).value

    async def time(self) -> str:
        """TIME: the server's clock, RFC 3339 UTC with microseconds."""
        return self._parsed(_text, (await self.call(OP_TIME)).value, "TIME")

    async def stats(self) -> typing.Any:
        """STATS: the server's statistics document (parsed JSON, a dict)."""
        return self._parsed(_parse_stats, (await self.call(OP_STATS)).value)

    async def auth(self, token: Data) -> None:
        """AUTH with token; Denied (and the connection closed) when the
        server refuses it."""
        await self.call(OP_AUTH, b"", _to_bytes(token, "token"))

    async def put(self, name: str | bytes, data: Data) -> None:
        """PUT: store data as file name, atomically."""
        await self.call(OP_PUT, _file_name(name), _to_bytes(data, "data"))

    async def get(self, name: str | bytes) -> bytes:
        """GET: the content of file name (NotFound if absent)."""
        key = _file_name(name)
        return self._parsed(_parse_get, key, await self.call(OP_GET, key))

    async def list(self) -> typing.List[FileInfo]:
        """LIST: [FileInfo(name, size, mtime)] sorted by name."""
        return self._parsed(_parse_list, (await self.call(OP_LIST)).value)

    async def delete(self, name: str | bytes) -> None:
        """DEL: remove file name (NotFound if absent)."""
        await self.call(OP_DEL, _file_name(name))

    async def exec(self, name: Data, stdin: Data = b"") -> ExecResult:
        """EXEC: run the allow-listed command name with stdin; returns
        ExecResult(status, stdout, stderr) (see Client.exec)."""
        resp = await self.call(OP_EXEC, _to_bytes(name, "name"),
                               _to_bytes(stdin, "stdin"))
        return self._parsed(_parse_exec, resp)

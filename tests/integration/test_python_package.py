"""test_python_package: contrib/python installed as a package, and its
blocking Client and asyncio AsyncClient used from the installation.

Outside (the tests' python3): a fresh virtualenv (python3 -m venv, in a temp
dir) into which pip installs contrib/python offline (--no-index: the build
backend is in the tree, nothing is downloaded) without writing into the
source tree (the tests' python3's pip with --python when it has one: the
venv then holds the package only; else the venv's own pip); the version installed (metadata and __version__) is AC_INIT's
in configure.ac; py.typed is installed, and mypy (./bootstrap check installs
it) accepts the package's hints and a --strict program using it, and finds
the errors in a program that misuses it (a wrong type, a misspelt name).
The backend's sdist has the package's files and PKG-INFO, whose version it
reads when configure.ac is not beside it; sdist and wheel built twice are
the same bytes.  Then this file runs again under
the virtualenv's python with --installed, importing msgd_client from the
installation (not the source tree), for the cases below.

Real msgd (unix, TCP, TLS; files, exec, an auth token): every operation,
blocking and asyncio, over unix, TCP and TLS (ssl= and ssl_context=);
AsyncClient: 100 concurrent awaits on one connection, each answer its own,
request ids in sending order; pipeline(); a call cancelled by
asyncio.wait_for leaves the connection usable; AUTH (token=, a wrong token
-> Denied and closed, ops before AUTH -> Denied); TOO_LARGE; max_answer
below an answer -> ProtocolError for both clients.
Fake servers (fakemsgd.py, tlsfake.py): no answer -> ResponseTimeout for
every waiting call within about the timeout, and the connection closed; a
close mid-answer -> the calls answered get their answers, the others
ConnectionClosed; garbage, a wrong request id -> ProtocolError for every
waiting call; an oversized body_len (2^32-1) -> ProtocolError at once
(nothing buffered); BUSY with request id 0 -> Busy for every waiting call;
the frames AsyncClient writes (ids 1, 2, ...); TLS with server_hostname
over a unix socket.
"""
import asyncio
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

from harness import BUILDDIR, SKIP, SRCDIR, Op, St, Suite, raises

sys.dont_write_bytecode = True      # keep the source tree clean
INSTALLED = "--installed" in sys.argv
PKG = os.path.join(SRCDIR, "contrib", "python")


def project_version():
    with open(os.path.join(SRCDIR, "configure.ac")) as f:
        return re.search(r"^AC_INIT\(\[[^]]*\],\s*\[([^]]+)\]", f.read(),
                         re.M).group(1)


# ------------------------------------------------------------ outside

def load_backend(directory, name):
    """build_backend.py of directory, as module name."""
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(directory, "build_backend.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TYPED_USER = '''\
import asyncio
import typing

import msgd_client
from msgd_client import AsyncClient, Client, ExecResult, FileInfo, NotFound


def blocking(addr: str) -> bytes:
    with Client(addr, timeout=1.0, max_answer=1 << 20) as c:
        files: typing.List[FileInfo] = c.list()
        r: ExecResult = c.exec("x", b"in")
        try:
            c.get("missing")
        except NotFound as e:
            print(e.status, e.message, len(files), r.status)
        return c.echo("x") + c.upper(b"y") + c.time().encode()


async def aio(addr: str) -> float:
    async with AsyncClient(addr, timeout=1.0, ssl=None) as c:
        data: bytes = await c.echo("x")
        more = await asyncio.gather(c.upper(data), c.get("f"))
        print(more[0] + more[1])
        return await c.ping()


version: str = msgd_client.__version__
'''

MISUSED = '''\
import msgd_client
from msgd_client import Client

n: int = Client("/x").echo(b"a")
c = msgd_client.Clinet("/x")
'''

MYPY_INI = '''\
[mypy]
strict = True
python_version = 3.8
no_silence_site_packages = True

[mypy-msgd_client.*]
# The package's own code: every body checked, hints where they are.
disallow_untyped_defs = False
disallow_untyped_calls = False
disallow_incomplete_defs = False
warn_return_any = False
check_untyped_defs = True
'''


def outside():
    t = Suite("test_python_package")
    tmp = tempfile.mkdtemp(prefix="msgd-pypkg-")
    venv = os.path.join(tmp, "venv")
    py = os.path.join(venv, "bin", "python")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1",
               PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1")
    state = {}

    def run(argv, timeout=120, **kw):
        return subprocess.run(argv, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, env=env,
                              timeout=timeout, universal_newlines=True, **kw)

    @t.case
    def install(t):
        before = sorted(os.walk(PKG))
        # A pip of 22.3 or later here installs into the venv with --python:
        # the venv then holds nothing but the package (and is made in a
        # fraction of a second: ensurepip takes 10 s or more on a busy
        # machine).  Else the venv gets its own pip.
        p = run([sys.executable, "-m", "pip", "--version"])
        m = re.match(r"pip (\d+)\.(\d+)", p.stdout)
        outer = (p.returncode == 0 and m is not None and
                 (int(m.group(1)), int(m.group(2))) >= (22, 3))
        p = run([sys.executable, "-m", "venv"] +
                (["--without-pip"] if outer else []) + [venv])
        if not t.check(p.returncode == 0, "python3 -m venv failed (is "
                       "python3-venv installed? ./bootstrap check installs "
                       "it):\n%s" % p.stdout):
            return
        pip = ([sys.executable, "-m", "pip", "--python", py] if outer
               else [py, "-m", "pip"])
        print("pip: %s" % " ".join(pip))
        # In a temp cwd: pip must not find contrib/python by accident.
        p = run(pip + ["install", "--no-index", "--no-cache-dir",
                       "--disable-pip-version-check", PKG], cwd=tmp)
        if not t.check(p.returncode == 0, "pip install contrib/python:\n%s"
                       % p.stdout):
            return
        t.check(sorted(os.walk(PKG)) == before,
                "pip wrote into the source tree: %r" % (sorted(os.walk(PKG)),))
        p = run([py, "-c", "import msgd_client, importlib.metadata as m; "
                 "print(msgd_client.__version__, m.version('msgd-client'), "
                 "msgd_client.__file__, msgd_client.AsyncClient.__module__)"],
                cwd=tmp)
        want = project_version()
        got = p.stdout.split()
        if t.check(p.returncode == 0 and len(got) == 4,
                   "importing the installed package: %s" % p.stdout):
            t.check(got[:2] == [want, want], "installed version %r, want "
                    "configure.ac's %r" % (got[:2], want))
            t.check(got[2].startswith(venv + os.sep),
                    "msgd_client imported from %r, not the venv" % got[2])
            t.check(got[3] == "msgd_client.aio", "AsyncClient from %r" %
                    got[3])
            typed = os.path.join(os.path.dirname(got[2]), "py.typed")
            t.check(os.path.exists(typed), "%s installed" % typed)
            state["ok"] = True

    @t.case
    def sdist(t):
        """The backend's sdist carries the version without configure.ac."""
        out = os.path.join(tmp, "sdist")
        os.mkdir(out)
        name = load_backend(PKG, "backend_tree").build_sdist(out)
        with tarfile.open(os.path.join(out, name)) as tar:
            names = tar.getnames()
            # The "data" filter where this Python has it (3.12 warns without).
            tar.extractall(out, **({"filter": "data"} if hasattr(
                tarfile, "data_filter") else {}))
        base = name[:-len(".tar.gz")]
        want = {base + "/" + f for f in (
            "PKG-INFO", "pyproject.toml", "build_backend.py", "README",
            "msgd_client/__init__.py", "msgd_client/aio.py",
            "msgd_client/py.typed")}
        t.check(set(names) == want, "sdist members %r" % names)
        t.check(base == "msgd_client-" + project_version(), "sdist %r" % name)
        got = load_backend(os.path.join(out, base), "backend_sdist").version()
        t.check(got == project_version(), "version from PKG-INFO: %r" % got)
        # The same sources, the same bytes (fixed times in the archives).
        again = os.path.join(tmp, "again")
        os.mkdir(again)
        backend = load_backend(PKG, "backend_again")
        made = [name, backend.build_wheel(out)]
        backend.build_sdist(again)
        backend.build_wheel(again)
        for m in made:
            with open(os.path.join(out, m), "rb") as f1, \
                    open(os.path.join(again, m), "rb") as f2:
                t.check(f1.read() == f2.read(), "%s built twice differs" % m)

    @t.case
    def type_hints(t):
        mypy = shutil.which("mypy")
        if not state.get("ok") or mypy is None:
            print("SKIP: type_hints: %s" % ("mypy is not installed "
                  "(./bootstrap check installs it)" if state.get("ok")
                  else "no installation"))
            return
        for name, text in (("user.py", TYPED_USER), ("misuse.py", MISUSED),
                           ("mypy.ini", MYPY_INI)):
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        # The cache (mostly typeshed's) in the build tree: 10 s the first
        # time, 2 the next.  make clean removes it.
        p = run([mypy, "--config-file", "mypy.ini", "--cache-dir",
                 os.path.join(BUILDDIR, "tests", "integration", "mypy-cache"),
                 "--python-executable", py,
                 "user.py", "misuse.py"], cwd=tmp)
        errors = [line for line in p.stdout.splitlines()
                  if ": error:" in line]
        t.check(len(errors) == 2 and errors[0].startswith("misuse.py:4:")
                and "bytes" in errors[0] and "int" in errors[0] and
                errors[1].startswith("misuse.py:5:") and "Clinet" in
                errors[1], "mypy: want two errors, in misuse.py (bytes is "
                "not int, no Clinet); got:\n%s" % p.stdout)

    @t.case
    def installed(t):
        if not state.get("ok"):
            return
        # The venv's python on this file: sys.path[0] is this directory
        # (harness, fakemsgd), contrib/python is not on it.
        p = subprocess.run([py, "-B", os.path.abspath(__file__),
                            "--installed"], env=env, timeout=120,
                           cwd=tmp)
        t.check(p.returncode == 0, "the cases under the installed package "
                "failed (exit %d)" % p.returncode)

    try:
        t.run()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if not INSTALLED:
    outside()
    sys.exit(SKIP)      # not reached: Suite.run() exits


# ------------------------------------------------------------ installed

import ssl  # noqa: E402

import msgd_client as mc  # noqa: E402
import tlscerts  # noqa: E402
from fakemsgd import FakeServer, answer, normal_answer  # noqa: E402
from harness import HDR_LEN, test_certs  # noqa: E402
from tlsfake import FakeTlsServer  # noqa: E402

t = Suite("test_python_package (installed)")
if os.path.dirname(mc.__file__).startswith(SRCDIR):
    print("FAIL: msgd_client comes from the source tree: %s" % mc.__file__)
    sys.exit(1)

TOKEN = "s3cret-token"


def arun(coro, limit=20.0):
    """Run coro to its end, within limit seconds."""
    return asyncio.run(asyncio.wait_for(coro, limit))


def full_server(t, **settings):
    srv = t.server(start=False, tcp=True, tls=True)
    srv.settings.update({
        "files": {"enabled": True, "dir": os.path.join(srv.dir, "files")},
        "exec": {"enabled": True, "timeout": 5,
                 "commands": {"cat": ["/bin/cat"],
                              "fail": ["/bin/sh", "-c",
                                       "echo err >&2; exit 3"],
                              "slow": ["/bin/sleep", "0.3"]}}})
    srv.settings.update(settings)
    return srv.start()


def addresses(srv):
    """[(what, address, keyword arguments)]: unix, TCP, TLS."""
    a = srv.tls_client_addr
    return [("unix", "unix:" + srv.sock_path, {}),
            ("tcp", "127.0.0.1:%d" % srv.port, {}),
            ("tls", "127.0.0.1:%d" % srv.port_tls,
             {"ssl_context": a.ctx, "server_hostname": a.name})]


def check_ops(t, where, got):
    """got: the results of the same operations, from either client."""
    want = {"echo": b"h\xc3\xa9llo", "upper": b"ABC\x00", "get": b"\0data",
            "list": [("f.bin", 5)], "delete_missing": "NotFound",
            "exec": (0, b"in", b""), "fail": (3, b"", b"err\n"),
            "unknown": "UnknownOp", "pipeline": [St.OK, St.UNKNOWN_OP,
                                                 St.OK]}
    for k, v in want.items():
        t.check(got.get(k) == v, "%s %s: %r, want %r" % (where, k, got.get(k),
                                                         v))
    t.check(isinstance(got.get("ping"), float) and got["ping"] < 5,
            "%s ping: %r" % (where, got.get("ping")))
    t.check(re.match(r"\d{4}-\d\d-\d\dT", got.get("time", "")),
            "%s time: %r" % (where, got.get("time")))
    t.check(got.get("stats") is True, "%s stats: %r" % (where,
                                                        got.get("stats")))


def blocking_ops(c):
    got = {"ping": c.ping(), "echo": c.echo("h\u00e9llo"),
           "upper": c.upper(b"abc\0"), "time": c.time(),
           "stats": "totals" in c.stats()}
    c.put("f.bin", b"\0data")
    got["get"] = c.get("f.bin")
    got["list"] = [(f.name, f.size) for f in c.list()]
    c.delete("f.bin")
    try:
        c.delete("f.bin")
    except mc.NotFound:
        got["delete_missing"] = "NotFound"
    got["exec"] = tuple(c.exec("cat", "in"))
    got["fail"] = tuple(c.exec("fail"))
    try:
        c.call(0x30)
    except mc.UnknownOp:
        got["unknown"] = "UnknownOp"
    got["pipeline"] = [r.status for r in c.pipeline(
        [(Op.PING,), (0x7F, b"k", b"v"), (Op.ECHO, b"", b"x")])]
    return got


async def async_ops(c):
    got = {"ping": await c.ping(), "echo": await c.echo("h\u00e9llo"),
           "upper": await c.upper(b"abc\0"), "time": await c.time(),
           "stats": "totals" in await c.stats()}
    await c.put("f.bin", b"\0data")
    got["get"] = await c.get("f.bin")
    got["list"] = [(f.name, f.size) for f in await c.list()]
    await c.delete("f.bin")
    try:
        await c.delete("f.bin")
    except mc.NotFound:
        got["delete_missing"] = "NotFound"
    got["exec"] = tuple(await c.exec("cat", "in"))
    got["fail"] = tuple(await c.exec("fail"))
    try:
        await c.call(0x30)
    except mc.UnknownOp:
        got["unknown"] = "UnknownOp"
    got["pipeline"] = [r.status for r in await c.pipeline(
        [(Op.PING,), (0x7F, b"k", b"v"), (Op.ECHO, b"", b"x")])]
    return got


@t.case
def every_operation(t):
    srv = full_server(t)
    for where, addr, kw in addresses(srv):
        with mc.Client(addr, **kw) as c:
            check_ops(t, "blocking " + where, blocking_ops(c))

        async def go():     # ssl_context= here, ssl= in tls_fake
            async with mc.AsyncClient(addr, **kw) as c:
                got = await async_ops(c)
                got["tls"] = c.tls_version
            got["closed"] = c.closed
            await c.connect()       # again, once closed
            await raises_async(t, RuntimeError, c.connect(),
                               "connect() when connected")
            got["again"] = await c.echo(b"again")
            await c.close()
            return got, c.closed
        got, closed = arun(go())
        t.check(got["closed"] and got["again"] == b"again",
                "async %s: closed after async with, then connected again"
                % where)
        check_ops(t, "async " + where, got)
        t.check((got["tls"] is not None) == (where == "tls"),
                "async %s tls_version %r" % (where, got["tls"]))
        t.check(closed, "async %s closed after close()" % where)


@t.case
def concurrent_awaits(t):
    srv = full_server(t)

    async def go():
        async with mc.AsyncClient(srv.sock_path) as c:
            msgs = [b"m%03d" % i * (i + 1) for i in range(100)]
            got = await asyncio.gather(*(c.echo(m) for m in msgs))
            t.check(got == msgs, "100 concurrent echoes, each its answer")
            resps = await asyncio.gather(*(c.call(Op.UPPER, b"", b"r%d" % i)
                                           for i in range(100)))
            ids = [r.request_id for r in resps]
            t.check(ids == list(range(ids[0], ids[0] + 100)) and
                    [r.value for r in resps] ==
                    [b"R%d" % i for i in range(100)],
                    "100 concurrent calls: ids in order %r..." % ids[:5])
            # Mixed operations at once, one failing: the others unharmed.
            res = await asyncio.gather(c.ping(), c.get("missing"),
                                       c.upper("x"), c.exec("cat", b"y"),
                                       return_exceptions=True)
            t.check(isinstance(res[1], mc.NotFound) and res[2] == b"X" and
                    res[3] == (0, b"y", b""), "mixed: %r" % (res,))
            # A cancelled call: its answer is read and dropped.
            try:
                await asyncio.wait_for(c.exec("slow"), 0.05)
                t.check(False, "exec slow not cancelled")
            except asyncio.TimeoutError:
                pass
            t.check(await c.echo(b"after") == b"after" and not c.closed,
                    "usable after a cancelled call")
            rs = await c.pipeline([(Op.ECHO, b"", b"p%d" % i)
                                   for i in range(50)])
            t.check([r.value for r in rs] == [b"p%d" % i for i in range(50)],
                    "pipeline of 50")
            t.check(await c.pipeline([]) == [], "empty pipeline")

            # 8 tasks of 8 sequential 64 KiB echoes: past the transport's
            # high-water mark, later calls wait for it to drain.
            async def task(i):
                for j in range(8):
                    m = bytes([i * 8 + j]) * 65536
                    if await c.echo(m) != m:
                        return False
                return True
            t.check(all(await asyncio.gather(*(task(i) for i in range(8)))),
                    "64 echoes of 64 KiB from 8 tasks")
    arun(go())


@t.case
def auth_and_limits(t):
    srv = t.server({"auth_token": TOKEN, "max_body": 1024})

    async def go():
        async with mc.AsyncClient(srv.sock_path) as c:
            t.check(await c.ping() >= 0, "PING before AUTH")
            await raises_async(t, mc.Denied, c.echo(b"x"), "ECHO before AUTH")
            await c.auth(TOKEN)
            t.check(await c.echo(b"x") == b"x", "ECHO after AUTH")
            await raises_async(t, mc.TooLarge, c.echo(b"x" * 1025),
                               "ECHO over max_body")
        async with mc.AsyncClient(srv.sock_path, token=TOKEN,
                                  max_answer=100) as c:
            t.check(await c.echo(b"y" * 100) == b"y" * 100,
                    "token=, an answer of max_answer bytes")
            await raises_async(t, mc.ProtocolError, c.echo(b"y" * 101),
                               "an answer over max_answer")
            t.check(c.closed, "closed after an answer over max_answer")
        c = mc.AsyncClient(srv.sock_path, token="wrong-token")
        await raises_async(t, mc.Denied, c.connect(), "a wrong token")
        t.check(c.closed, "closed after a wrong token")
    arun(go())
    with mc.Client(srv.sock_path, token=TOKEN, max_answer=100) as c:
        t.check(c.echo(b"z" * 100) == b"z" * 100, "blocking: max_answer "
                "bytes")
        raises(t, mc.ProtocolError, lambda: c.echo(b"z" * 101),
               "blocking: an answer over max_answer")
        t.check(c.closed, "blocking: closed after it")
    raises(t, ValueError, lambda: mc.Client(srv.sock_path, max_answer=-1),
           "max_answer -1")


async def raises_async(t, exc, aw, what):
    try:
        await aw
    except exc as e:
        return e
    except Exception as e:
        t.check(False, "%s: raised %r, want %s" % (what, e, exc.__name__))
        return None
    t.check(False, "%s: no exception, want %s" % (what, exc.__name__))
    return None


async def gather_results(c, n, op=Op.ECHO):
    return await asyncio.gather(*(c.call(op, b"", b"v%d" % i)
                                  for i in range(n)),
                                return_exceptions=True)


@t.case
def fake_servers(t):
    # No answer: every waiting call times out together.
    with FakeServer(lambda r: None) as fake:
        async def silent():
            async with mc.AsyncClient(fake.path, timeout=0.5) as c:
                t0 = time.monotonic()
                res = await gather_results(c, 5)
                took = time.monotonic() - t0
                t.check(all(isinstance(e, mc.ResponseTimeout) for e in res)
                        and 0.4 <= took < 5, "no answer: %r after %.2f s" %
                        (res, took))
                t.check(c.closed, "closed after the timeout")
                await raises_async(t, mc.ConnectionClosed, c.ping(),
                                   "ping after the timeout")
        arun(silent())

    # Closed mid-answer: the answered calls get their answers.
    def mid(r):
        if r.request_id == 3:
            return (answer(r, value=r.value)[:HDR_LEN + 1], True)
        return normal_answer(r)

    with FakeServer(mid) as fake:
        async def closing():
            async with mc.AsyncClient(fake.path) as c:
                res = await gather_results(c, 5)
                t.check([r.value for r in res[:2]] == [b"v0", b"v1"] and
                        all(isinstance(e, mc.ConnectionClosed)
                            for e in res[2:]), "closed mid-answer: %r" %
                        (res,))
        arun(closing())

    bad = [("garbage", lambda r: b"HTTP/1.0 400 Bad Request\r\n\r\n",
            mc.ProtocolError),
           ("wrong request id", lambda r: answer(r, value=r.value,
                                                 rid=r.request_id + 7),
            mc.ProtocolError),
           ("body_len 2^32-1", lambda r: answer(r)[:12] +
            b"\xff\xff\xff\xff", mc.ProtocolError),
           ("BUSY, request id 0", lambda r: answer(r, St.BUSY, b"busy",
                                                   rid=0, op=0), mc.Busy)]
    for what, respond, exc in bad:
        with FakeServer(respond) as fake:
            async def broken():
                async with mc.AsyncClient(fake.path, timeout=5) as c:
                    t0 = time.monotonic()
                    res = await gather_results(c, 4)
                    t.check(all(isinstance(e, exc) for e in res) and
                            time.monotonic() - t0 < 3,
                            "%s: want %s for all: %r" % (what, exc.__name__,
                                                         res))
                    t.check(c.closed, "%s: closed" % what)
            arun(broken())
    with FakeServer(lambda r: answer(r)[:12] + b"\xff\xff\xff\xff") as fake:
        with mc.Client(fake.path) as c:
            raises(t, mc.ProtocolError, c.ping, "blocking: body_len 2^32-1")

    # The frames AsyncClient writes.
    with FakeServer(normal_answer) as fake:
        async def frames():
            async with mc.AsyncClient(fake.path) as c:
                await asyncio.gather(c.ping(), c.echo("x"), c.put("a", b"c"),
                                     c.get("a"), c.exec("cmd", b"in"))
                await c.delete("a")
                await raises_async(t, ValueError, c.put("../x", b""),
                                   "bad file name")
                await raises_async(t, TypeError, c.echo(12), "echo(int)")
                await c.list()
        arun(frames())
        got = [(f.opcode, f.key, f.value, f.request_id, f.flags)
               for f in fake.requests]
        want = [(Op.PING, b"", b"", 1, 0), (Op.ECHO, b"", b"x", 2, 0),
                (Op.PUT, b"a", b"c", 3, 0), (Op.GET, b"a", b"", 4, 0),
                (Op.EXEC, b"cmd", b"in", 5, 0), (Op.DEL, b"a", b"", 6, 0),
                (Op.LIST, b"", b"", 7, 0)]
        t.check(got == want, "frames:\n %r\nwant\n %r" % (got, want))


@t.case
def tls_fake(t):
    if not tlscerts.available():
        print("SKIP: tls_fake: no openssl command")
        return
    certs = test_certs()
    with FakeTlsServer(certs.server, certs.server_key,
                       unix_dir=True) as fake:
        ctx = ssl.create_default_context(cafile=certs.ca)

        async def go():
            async with mc.AsyncClient(fake.addr, ssl=ctx,
                                      server_hostname="localhost") as c:
                got = await asyncio.gather(*(c.upper(b"t%d" % i)
                                             for i in range(20)))
                t.check(got == [b"T%d" % i for i in range(20)],
                        "TLS over unix: %r" % got[:3])
            c = mc.AsyncClient(fake.addr, ssl=ctx,
                               server_hostname="wrong.example")
            await raises_async(t, ssl.SSLCertVerificationError, c.connect(),
                               "TLS hostname mismatch")
        arun(go())
        t.check(fake.snis[:1] == ["localhost"], "SNI %r" % fake.snis)
    raises(t, ValueError, lambda: mc.AsyncClient(fake.addr, ssl=ctx),
           "TLS over unix without server_hostname")
    raises(t, TypeError, lambda: mc.AsyncClient("/x", ssl=1), "ssl=1")

    # A server that accepts and never speaks: the handshake times out.
    import socket
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        c = mc.AsyncClient(ls.getsockname(), ssl=ctx, timeout=0.3)
        t0 = time.monotonic()
        e = arun(raises_async(t, mc.ResponseTimeout, c.connect(),
                              "a handshake with no answer"))
        took = time.monotonic() - t0
        t.check(0.25 <= took < 5 and isinstance(e, socket.timeout),
                "connect timed out after %.2f s: %r" % (took, e))
    raises(t, TypeError, lambda: mc.AsyncClient("/x", ssl=ctx,
                                                ssl_context=ctx),
           "ssl= and ssl_context=")


t.run()

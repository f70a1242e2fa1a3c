"""test_remote_auth: auth_token and auth_token_file against a real msgd.

With auth_token (unix and TCP):
- PING is served before AUTH; ECHO, UPPER, TIME, STATS, PUT, GET, LIST,
  DEL, EXEC are DENIED and the connection stays open;
- before AUTH a frame with body_len 16384 is read (DENIED, kept), one with
  body_len 16385 is answered TOO_LARGE (request id copied) and closed --
  also when the body never comes;
- a wrong token (also a prefix, an extension, empty) -> DENIED, then the
  server closes; auth_failures counts each; the log says "authentication
  failed from unix socket" / "from 127.0.0.1", at most once a second per
  worker (20 failures within a second: 1 or 2 lines), and the next line
  after a suppressed burst says "(and more, not logged)";
- the right token -> OK, then everything works (ECHO, STATS, PUT/GET, EXEC,
  a frame far over 16384 bytes).
Without a token AUTH is accepted as a no-op.
Configuration (msgd -t): auth_token_file mode 0644 (and 0640) is refused,
naming the mode; mode 0600 is accepted and the server takes its first line
as the token; auth_token and auth_token_file together are refused; a token
shorter than 8 bytes is refused.
"""
import os
import re
import time

from harness import (HDR_LEN, MSGD, Op, St, Suite, conf_text,
                     connect, encode, parse_frames, poll, private_settings,
                     run, spool_entries, wait_closed)
from statslib import settle_totals, totals

t = Suite("test_remote_auth")

TOKEN = "right-token-\u00e9-0123456789"
TOKEN_B = TOKEN.encode()
LOG_RE = re.compile(r"authentication failed from (\S+)")


def auth_server(t, extra=None, **kw):
    srv = t.server(start=False, **kw)
    srv.files_dir = os.path.join(srv.dir, "files")
    s = {"workers": 1, "auth_token": TOKEN,
         "files": {"enabled": True, "dir": srv.files_dir},
         "exec": {"enabled": True, "commands": {"cat": ["/bin/cat"]}}}
    s.update(extra or {})
    srv.settings.update(s)
    return srv.start()


def fail_lines(srv):
    return [l for l in srv.log().splitlines() if LOG_RE.search(l)]


@t.case
def before_auth(t):
    srv = auth_server(t, tcp=True, tls=True)
    for addr, what in srv.transports():
        with srv.client(addr=addr) as c:
            f = c.request(Op.PING, request_id=1)
            t.check_response(f, "PING before AUTH (%s)" % what, Op.PING,
                             rid=1, value=b"PONG")
            for op, key, val in ((Op.ECHO, b"", b"x"), (Op.UPPER, b"", b"x"),
                                 (Op.TIME, b"", b""), (Op.STATS, b"", b""),
                                 (Op.PUT, b"f", b"data"), (Op.GET, b"f", b""),
                                 (Op.LIST, b"", b""), (Op.DEL, b"f", b""),
                                 (Op.EXEC, b"cat", b"in")):
                f = c.request(op, val, key, request_id=op)
                t.check_response(f, "op 0x%02x before AUTH (%s)" % (op, what),
                                 op, St.DENIED, rid=op, value=True)
            f = c.request(Op.ECHO, b"y" * 16384, request_id=50)
            t.check_response(f, "ECHO of 16384 bytes before AUTH (%s)" % what,
                             Op.ECHO, St.DENIED, rid=50, value=True)
            f = c.request(Op.PING, request_id=51)
            t.check_response(f, "connection kept before AUTH (%s)" % what,
                             Op.PING, rid=51, value=b"PONG")
    t.check(not spool_entries(srv.files_dir), "nothing stored before AUTH: "
            "%r" % spool_entries(srv.files_dir))
    # Unknown opcodes are UNKNOWN_OP whatever the state.
    with srv.client() as c:
        f = c.request(0x30, request_id=60)
        t.check_response(f, "unknown opcode before AUTH", 0x30,
                         St.UNKNOWN_OP, rid=60, value=True)


@t.case
def preauth_size_limit(t):
    srv = auth_server(t, tcp=True, tls=True)
    for addr, what in srv.transports():
        for send_body in (True, False):
            s = connect(addr)
            try:
                if send_body:
                    s.sendall(encode(Op.ECHO, b"z" * 16385, request_id=77))
                else:
                    s.sendall(encode(Op.ECHO, request_id=77,
                                     body_len=16385))
                how, data, secs = wait_closed(s, 5)
            finally:
                s.close()
            f = read_frame_bytes(data)
            desc = "body_len 16385 before AUTH (%s, %s)" % (
                what, "body sent" if send_body else "header only")
            if t.check(f is not None, "%s: an answer before the close: %r"
                       % (desc, data[:40])):
                t.check_response(f, desc, Op.ECHO, St.TOO_LARGE, rid=77,
                                 value=True)
            t.check(how in ("eof", "reset"), "%s: closed (%s after %.2f s)"
                    % (desc, how, secs))
    # After AUTH the configured max_body applies instead.
    with srv.client() as c:
        f = c.request(Op.AUTH, TOKEN_B, request_id=1)
        t.check_response(f, "AUTH", Op.AUTH, rid=1, value=b"")
        f = c.request(Op.ECHO, b"q" * 100000, request_id=2)
        t.check_response(f, "ECHO of 100000 bytes after AUTH", Op.ECHO,
                         rid=2, value=b"q" * 100000)


def read_frame_bytes(data):
    frames, _ = parse_frames(data)
    return frames[0] if frames else None


@t.case
def wrong_token(t):
    srv = auth_server(t, tcp=True, tls=True)
    base = totals(srv)
    n = 0
    for addr, what in srv.transports():
        for bad in (b"wrong-token-0000", TOKEN_B[:-1], TOKEN_B + b"x", b"",
                    TOKEN_B.upper()):
            s = connect(addr)
            try:
                # A request pipelined after the bad AUTH is not served.
                s.sendall(encode(Op.AUTH, bad, request_id=5) +
                          encode(Op.ECHO, b"after", request_id=6))
                how, data, secs = wait_closed(s, 5)
            finally:
                s.close()
            n += 1
            f = read_frame_bytes(data)
            desc = "AUTH %r (%s)" % (bad[:20], what)
            if t.check(f is not None, "%s: answered: %r" % (desc, data)):
                t.check_response(f, desc, Op.AUTH, St.DENIED, rid=5,
                                 value=True)
                t.check(len(data) == HDR_LEN + f.body_len,
                        "%s: nothing served after it: %r" % (desc, data))
            t.check(how in ("eof", "reset"), "%s: closed (%s)" % (desc, how))
    c = settle_totals(srv, lambda c: c["auth_failures"] - base["auth_failures"] >= n)
    t.check(c["auth_failures"] - base["auth_failures"] == n,
            "auth_failures counted %d, want %d" % (
                c["auth_failures"] - base["auth_failures"], n))
    # Rate-limited (once a second): the first failure, from the unix socket.
    lines = fail_lines(srv)
    t.check(lines and "failed from unix socket" in lines[0],
            "the log names the peer (unix socket): %r" % lines)


@t.case
def log_rate_limit(t):
    srv = auth_server(t, tcp=True, tls=True)
    base = totals(srv)
    # Start just after a second boundary of the wall clock is not needed:
    # a burst inside one second may straddle at most one boundary.
    t0 = time.monotonic()
    burst = 20
    for i in range(burst):
        with srv.client() as c:
            c.send_frame(Op.AUTH, b"bad-token-%04d" % i)
            c.wait_closed(5)
    took = time.monotonic() - t0
    c = settle_totals(srv, lambda c: c["auth_failures"] - base["auth_failures"] >=
               burst)
    t.check(c["auth_failures"] - base["auth_failures"] == burst,
            "auth_failures counted %d, want %d" % (
                c["auth_failures"] - base["auth_failures"], burst))
    lines = fail_lines(srv)
    if took < 1.0:
        t.check(1 <= len(lines) <= 2, "%d failures in %.2f s logged %d "
                "lines, want 1 or 2: %r" % (burst, took, len(lines), lines))
    else:
        # A slow machine: still at most one line per second (+ 1).
        t.check(1 <= len(lines) <= int(took) + 2, "%d failures in %.2f s "
                "logged %d lines: %r" % (burst, took, len(lines), lines))
    # A second later, the next failure (over TCP) is logged, with a note
    # of the rest.
    time.sleep(1.1)
    with srv.client(addr=srv.tcp_addr) as c:
        c.send_frame(Op.AUTH, b"bad-token-last")
        c.wait_closed(5)
    poll(lambda: len(fail_lines(srv)) > len(lines), timeout=3)
    new = fail_lines(srv)[len(lines):]
    t.check(len(new) == 1 and "failed from 127.0.0.1 (and more, not "
            "logged)" in new[0], "the line after a suppressed burst: %r" % new)


@t.case
def right_token(t):
    srv = auth_server(t, tcp=True, tls=True)
    for addr, what in srv.transports():
        with srv.client(addr=addr, timeout=10) as c:
            f = c.request(Op.AUTH, TOKEN_B, request_id=1)
            t.check_response(f, "AUTH with the token (%s)" % what, Op.AUTH,
                             rid=1, value=b"")
            f = c.request(Op.ECHO, b"hello", request_id=2)
            t.check_response(f, "ECHO after AUTH", Op.ECHO, rid=2,
                             value=b"hello")
            f = c.request(Op.STATS, request_id=3)
            t.check(f.status == St.OK and b"totals" in f.value,
                    "STATS after AUTH: %r" % f)
            big = os.urandom(300000)
            f = c.request(Op.PUT, big, b"big-" + what.encode(), request_id=4)
            t.check_response(f, "PUT of 300000 bytes after AUTH", Op.PUT,
                             rid=4, value=b"")
            f = c.request(Op.GET, key=b"big-" + what.encode(), request_id=5)
            t.check(f.status == St.OK and f.value == big, "GET after AUTH")
            f = c.request(Op.EXEC, b"in", b"cat", request_id=6)
            t.check_response(f, "EXEC after AUTH", Op.EXEC, rid=6, key=b"0",
                             value=b"\x00\x00\x00\x02in")
            # AUTH again (right) is fine; a wrong one now still closes.
            f = c.request(Op.AUTH, TOKEN_B, request_id=7)
            t.check_response(f, "second AUTH", Op.AUTH, rid=7, value=b"")
    # Pipelined: AUTH and requests in one write.
    with srv.client() as c:
        c.send(encode(Op.AUTH, TOKEN_B, request_id=1) +
               encode(Op.UPPER, b"abc", request_id=2))
        f1, f2 = c.recv_frame(), c.recv_frame()
        t.check(f1.status == St.OK and f2.status == St.OK and
                f2.value == b"ABC", "pipelined AUTH + UPPER: %r %r" % (f1, f2))


@t.case
def no_token(t):
    srv = t.server({"workers": 1})
    with srv.client() as c:
        f = c.request(Op.AUTH, b"anything", request_id=1)
        t.check_response(f, "AUTH without a configured token", Op.AUTH,
                         rid=1, value=b"")
        f = c.request(Op.ECHO, b"x" * 20000, request_id=2)
        t.check_response(f, "large frame without a token", Op.ECHO, rid=2,
                         value=b"x" * 20000)


def check_conf(d, settings):
    path = os.path.join(d, "check.conf")
    s = {"listen": ["unix:" + os.path.join(d, "check.sock")]}
    s.update(private_settings(d))
    s.update(settings)
    with open(path, "w") as f:
        f.write(conf_text(s))
    rc, out, err, _ = run([MSGD, "-t", "-c", path])
    return rc, out + err


@t.case
def token_file(t):
    srv = t.server(start=False)
    d = srv.dir
    tf = os.path.join(d, "token")
    with open(tf, "w") as f:
        f.write(TOKEN + "\nsecond line ignored\n")
    for mode in (0o644, 0o640, 0o604):
        os.chmod(tf, mode)
        rc, out = check_conf(d, {"auth_token_file": tf})
        t.check(rc != 0 and "%04o" % mode in out and tf in out,
                "token file mode %04o: msgd -t exit %d, want a refusal "
                "naming the mode: %r" % (mode, rc, out))
    os.chmod(tf, 0o600)
    rc, out = check_conf(d, {"auth_token_file": tf})
    t.check(rc == 0, "token file mode 0600: msgd -t exit %d: %r" % (rc, out))
    rc, out = check_conf(d, {"auth_token_file": tf, "auth_token": TOKEN})
    t.check(rc != 0 and "not both" in out, "auth_token and auth_token_file "
            "together: exit %d, %r" % (rc, out))
    rc, out = check_conf(d, {"auth_token": "short"})
    t.check(rc != 0 and "auth_token" in out, "a 5-byte token: exit %d, %r" %
            (rc, out))
    rc, out = check_conf(d, {"auth_token_file": os.path.join(d, "missing")})
    t.check(rc != 0 and "missing" in out, "a missing token file: exit %d, "
            "%r" % (rc, out))

    srv.settings.update({"workers": 1, "auth_token_file": tf})
    srv.start()
    with srv.client() as c:
        f = c.request(Op.ECHO, b"x", request_id=1)
        t.check_response(f, "ECHO before AUTH (token file)", Op.ECHO,
                         St.DENIED, rid=1, value=True)
        f = c.request(Op.AUTH, TOKEN_B, request_id=2)
        t.check_response(f, "AUTH with the file's first line", Op.AUTH,
                         rid=2, value=b"")
        f = c.request(Op.ECHO, b"x", request_id=3)
        t.check_response(f, "ECHO after AUTH (token file)", Op.ECHO, rid=3,
                         value=b"x")
    with srv.client() as c:
        f = c.request(Op.AUTH, TOKEN_B + b"\n", request_id=4)
        t.check_response(f, "AUTH with the newline as well", Op.AUTH,
                         St.DENIED, rid=4, value=True)


t.run()

"""test_mem_limits: configuration and memory limits of one worker.

- include_large_literal: an integer above 2147483647 without an L suffix in
  an @include'd file (and in a file that one includes) is refused by
  `msgd -t` with that file's name and line, as in the main file (before:
  "max_body = 4294967312" there loaded as 16 and -t said OK).
- header_only_vmsize: 200 connections that each sent only a header
  announcing max_body (64 MiB) leave the worker's VmSize within 256 MiB of
  what it was (before: 64 MiB of address space per connection, 12.8 GB).
- budget_large_frames_wait: with buffer_budget = 4 MiB, 12 clients sending
  1 MiB UPPER frames slowly (UPPER is read whole; a large ECHO is spliced
  and holds no buffer while its client reads, test_splice): the frames past the budget wait unread (counted in
  buffer_budget_waits) while a PING client on the same worker keeps being
  answered, and every frame is answered in full once the others are done.
- budget_waiting_client_gone: a client whose frame (UPPER, 1 MiB) waits
  for the budget closes: the worker closes its side at once (not at read_timeout).
- echo_unread_bounded: 10 clients each send one 16 MiB ECHO and never
  read the answer: with buffer_budget = 40 MiB the worker's VmRSS stays
  under 100 MiB (the frames that do not fit wait unread) and PING is
  answered (before: every answer queued, 160 MiB).
- budget_unread_answers_closed: clients that pipeline ECHOs and never read
  the answers hold output_limit and more each; past buffer_budget the
  connections holding the most are closed (buffer_budget_closed) while a
  PING client keeps being answered, and the worker's memory stays bounded.
- budget_trim_spares_uploader: a client uploading an admitted 1 MB UPPER
  (it holds no answer) and one pipelining ECHOs without reading them take
  the worker past buffer_budget together: the reader's connection is the
  one closed, and the upload finishes and is answered (before: the
  uploader was closed, its admitted frame counted as held).
All with workers = 1, so every connection lands on the same worker.
"""
import hashlib
import os
import shutil
import socket
import tempfile
import threading
import time

from harness import (HDR, MAGIC, MSGD, VERSION, Op, St, Server, Suite,
                     encode, poll, proc_status, read_frame, run, wait_closed)
from statslib import totals

t = Suite("test_mem_limits")

MIB = 1 << 20


def worker_pid(srv):
    ws = [p for p, st in srv.workers() if st != "Z"]
    return ws[0] if len(ws) == 1 else None


def vm_kib(pid, field="VmSize"):
    v = proc_status(pid, field)
    return int(v.split()[0]) if v else None


def counter(srv, name):
    """A total counter; 0 when this msgd does not have it."""
    return totals(srv).get(name, 0)


def header(opcode, body_len, rid=1):
    return HDR.pack(MAGIC, VERSION, 0, opcode, 0, 0, rid, body_len)


def unix_conn(srv):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5.0)
    s.connect(srv.addr)
    return s


def send_quietly(s, data, timeout):
    """sendall that ends quietly when the server stops reading (timeout)
    or closes the connection: for clients that never read."""
    try:
        s.settimeout(timeout)
        s.sendall(data)
    except OSError:
        pass


def stop_senders(socks, senders):
    """Close the clients' sockets (a blocked sendall ends) and join their
    sender threads (bounded)."""
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
    for th in senders:
        th.join(10.0)


def pings_ok(srv, n, budget_s):
    """n PINGs on one fresh connection, each answered within budget_s."""
    with srv.client(timeout=budget_s) as c:
        for _ in range(n):
            t0 = time.monotonic()
            f = c.request(Op.PING)
            if f.status != St.OK or f.value != b"PONG" or \
                    time.monotonic() - t0 > budget_s:
                return False
    return True


@t.case
def include_large_literal(t):
    d = tempfile.mkdtemp(prefix="msgd-inc-")
    try:
        inner = os.path.join(d, "inner.conf")
        with open(inner, "w") as f:
            f.write("# nested\nmax_requests = 20;\n")
        inc = os.path.join(d, "limits.conf")
        with open(inc, "w") as f:
            f.write('backlog = 10;\nmax_body = 4294967312;\n'
                    '@include "%s"\n' % inner)
        main = os.path.join(d, "msgd.conf")
        with open(main, "w") as f:
            # allow_root: as root, msgd -t would refuse for that alone.
            f.write('listen = [ "unix:%s" ];\nallow_root = true;\n'
                    '@include "%s"\n' %
                    (os.path.join(d, "s"), inc))

        def refused(wants, what):
            rc, out, err, _ = run([MSGD, "-t", "-c", main])
            t.check(rc == 1, "%s: msgd -t exit %d, want 1 (stdout %r, "
                    "stderr %r)" % (what, rc, out, err))
            for want in wants:
                t.check(want in err, "%s: stderr lacks %r:\n%s" %
                        (what, want, err))
            t.check("configuration OK" not in out + err,
                    "%s: says OK: %r" % (what, out))
        refused(["%s:2: integer 4294967312 is above 2147483647" % inc],
                "max_body = 4294967312 in an included file")
        # A file included by an included file: the same, with its line.
        with open(inner, "w") as f:
            f.write("# nested\nworkers = 3000000000;\n")
        refused(["%s:2: integer 4294967312 is above 2147483647" % inc,
                 "%s:2: integer 3000000000 is above 2147483647" % inner],
                "nested include")
        # Written with L, the same value is range-checked like any other.
        with open(inc, "w") as f:
            f.write("max_body = 4294967312L;\n")
        rc, out, err, _ = run([MSGD, "-t", "-c", main])
        want = "%s:1: max_body: must be 16..1073741824, got 4294967312" % inc
        t.check(rc == 1 and want in err, "with L: exit %d, stderr %r" %
                (rc, err))
    finally:
        shutil.rmtree(d, ignore_errors=True)


@t.case
def header_only_vmsize(t):
    n = 200
    with Server({"workers": 1, "max_body": 64 * MIB}) as srv:
        pid = worker_pid(srv)
        t.check(pid is not None, "no single worker: %r" % srv.workers())
        if pid is None:
            return
        base = vm_kib(pid)
        rx0 = counter(srv, "bytes_in")
        socks = []
        try:
            for i in range(n):
                s = unix_conn(srv)
                s.sendall(header(Op.ECHO, 64 * MIB, i + 1))
                socks.append(s)
            got = poll(lambda: counter(srv, "bytes_in") - rx0 >= n * 16,
                       timeout=10.0)
            t.check(got, "the worker did not read the %d headers" % n)
            now = vm_kib(pid)
            grew = (now - base) // 1024
            print("VmSize %d KiB -> %d KiB (+%d MiB) with %d headers "
                  "announcing 64 MiB" % (base, now, grew, n))
            t.check(grew < 256, "VmSize grew by %d MiB for %d headers "
                    "(64 MiB announced each, nothing sent)" % (grew, n))
            t.check(pings_ok(srv, 5, 2.0), "PING not answered meanwhile")
        finally:
            for s in socks:
                s.close()


def finish_and_read(s, rest, timeout):
    """Send the rest of a frame, then read its answer: (frame or None,
    error)."""
    try:
        s.settimeout(timeout)
        s.sendall(rest)
        return read_frame(s, timeout=timeout), None
    except (OSError, EOFError, ValueError) as e:
        return None, e


@t.case
def budget_large_frames_wait(t):
    n, size, part = 12, MIB, 64 * 1024
    settings = {"workers": 1, "max_body": MIB, "buffer_budget": 4 * MIB,
                "read_timeout": 60}
    with Server(settings) as srv:
        waits0 = counter(srv, "buffer_budget_waits")
        bodies = [os.urandom(1024) * (size // 1024) for _ in range(n)]
        socks = []
        try:
            # Every client starts a 1 MiB frame and stops a quarter in.
            for i in range(n):
                s = unix_conn(srv)
                s.sendall(header(Op.UPPER, size, i + 1) + bodies[i][:part])
                socks.append(s)
            # Four fit in 4 MiB; the others wait, unread.
            waited = poll(lambda: counter(srv, "buffer_budget_waits") -
                          waits0 >= 8, timeout=10.0)
            t.check(waited, "buffer_budget_waits %d, want >= 8 (12 frames "
                    "of 1 MiB, budget 4 MiB)" %
                    (counter(srv, "buffer_budget_waits") - waits0))
            t.check(pings_ok(srv, 50, 2.0),
                    "a PING client was not served while frames wait")
            # The rest of every body: all frames get their answer, the
            # waiting ones as the first answers are read.
            results = [None] * n

            def client(i):
                results[i] = finish_and_read(socks[i], bodies[i][part:], 30.0)
            ths = [threading.Thread(target=client, args=(i,))
                   for i in range(n)]
            for th in ths:
                th.start()
            for th in ths:
                th.join(40.0)
            for i in range(n):
                f, err = results[i] or (None, "no result")
                ok = (f is not None and f.status == St.OK and
                      hashlib.sha256(f.value).digest() ==
                      hashlib.sha256(bodies[i].upper()).digest())
                t.check(ok, "frame %d: %s, want status OK and the "
                        "1 MiB body upper-cased" % (i, err if f is None else
                                        "status %d, %d bytes" %
                                        (f.status, len(f.value))))
            t.check(counter(srv, "buffer_budget_closed") == 0,
                    "connections closed although every answer was read")
        finally:
            for s in socks:
                s.close()


@t.case
def budget_waiting_client_gone(t):
    # A frame waits for the budget; its client goes away (a unix peer's
    # close is a hang-up): the worker closes it at once, neither spinning
    # on the hang-up nor keeping it until read_timeout.
    settings = {"workers": 1, "max_body": MIB, "buffer_budget": MIB + 16,
                "read_timeout": 60}
    with Server(settings) as srv:
        waits0 = counter(srv, "buffer_budget_waits")
        a, b = unix_conn(srv), unix_conn(srv)
        try:
            a.sendall(header(Op.UPPER, MIB, 1) + b"a" * 1000)
            t.check(poll(lambda: counter(srv, "bytes_in") >= 1016),
                    "the first frame was not read")
            active = counter(srv, "conn_active")
            b.sendall(header(Op.UPPER, MIB, 2) + b"b" * 1000)
            t.check(poll(lambda: counter(srv, "buffer_budget_waits") -
                         waits0 == 1), "the second frame did not wait")
            b.close()
            gone = poll(lambda: counter(srv, "conn_active") == active - 1,
                        timeout=5.0)
            t.check(gone, "the waiting connection whose client left is "
                    "still open (conn_active %d, want %d)" % (
                        counter(srv, "conn_active"), active - 1))
            t.check(pings_ok(srv, 5, 2.0), "PING not answered")
        finally:
            a.close()
            b.close()


@t.case
def echo_unread_bounded(t):
    # One ECHO answer is queued whole (max_body + 16, whatever
    # output_limit): clients that send one each and never read it hold
    # max_body apiece.  The budget admits what fits; the rest wait unread.
    n, size, budget = 10, 16 * MIB, 40 * MIB
    settings = {"workers": 1, "max_body": size, "buffer_budget": budget,
                "read_timeout": 20}
    # Under AddressSanitizer (CI's second run) freed blocks wait in a
    # quarantine of up to 256 MiB before reuse: the RSS would measure
    # that, not msgd.  Without the sanitizer the option is ignored.
    asan = os.environ.get("ASAN_OPTIONS")
    os.environ["ASAN_OPTIONS"] = (asan + ":" if asan else "") + \
        "quarantine_size_mb=0"
    try:
        srv = Server(settings)
    finally:
        if asan is None:
            del os.environ["ASAN_OPTIONS"]
        else:
            os.environ["ASAN_OPTIONS"] = asan
    with srv:
        pid = worker_pid(srv)
        t.check(pid is not None, "no single worker: %r" % srv.workers())
        if pid is None:
            return
        waits0 = counter(srv, "buffer_budget_waits")
        in0 = counter(srv, "bytes_in")
        frame = encode(Op.ECHO, b"x" * size, request_id=1)
        socks = [unix_conn(srv) for _ in range(n)]
        senders = [threading.Thread(target=send_quietly,
                                    args=(s, frame, 15.0)) for s in socks]
        peak = [0]

        def settled():
            rss = vm_kib(pid, "VmRSS") or 0
            peak[0] = max(peak[0], rss)
            # Every frame read, or the two that fit read and the others
            # made to wait.
            return (all(not th.is_alive() for th in senders) or
                    (counter(srv, "buffer_budget_waits") - waits0 >= n - 2
                     and counter(srv, "bytes_in") - in0 >= 2 * size))
        try:
            for th in senders:
                th.start()
            t.check(poll(settled, timeout=15.0, step=0.05),
                    "the frames were neither read nor made to wait")
            settled()   # the memory once the last one was decided
            print("%d ECHOs of %d MiB, unread: worker VmRSS peak %d MiB, "
                  "buffer_budget_waits %d" % (
                      n, size // MIB, peak[0] // 1024,
                      counter(srv, "buffer_budget_waits") - waits0))
            # The budget, the heap the buffers grew through, the rest.
            t.check(peak[0] < 100 * 1024, "worker VmRSS reached %d MiB with "
                    "%d unread ECHO answers of %d MiB (budget %d MiB)" % (
                        peak[0] // 1024, n, size // MIB, budget // MIB))
            t.check(pings_ok(srv, 20, 2.0),
                    "a PING client was not served next to unread answers")
        finally:
            stop_senders(socks, senders)


@t.case
def budget_unread_answers_closed(t):
    n, frames, size = 8, 40, 16000
    settings = {"workers": 1, "max_body": MIB, "output_limit": 256 * 1024,
                "buffer_budget": 2 * MIB}
    with Server(settings) as srv:
        pid = worker_pid(srv)
        closed0 = counter(srv, "buffer_budget_closed")
        socks, senders = [], []
        try:
            burst = b"".join(encode(Op.ECHO, b"e" * size, request_id=j + 1)
                             for j in range(frames))
            for i in range(n):
                socks.append(unix_conn(srv))
            senders = [threading.Thread(target=send_quietly,
                                        args=(s, burst, 20.0))
                       for s in socks]
            for th in senders:
                th.start()
            # 8 x (256 KiB queued + one answer) is past 2 MiB.
            closed = poll(lambda: counter(srv, "buffer_budget_closed") -
                          closed0 >= 1, timeout=10.0)
            t.check(closed, "no connection closed for buffer_budget (8 "
                    "clients with unread answers, budget 2 MiB)")
            t.check(pings_ok(srv, 50, 2.0),
                    "a PING client was not served next to unread answers")
            rss = vm_kib(pid, "VmRSS") if pid else None
            print("closed %d, worker VmRSS %s KiB" % (
                counter(srv, "buffer_budget_closed") - closed0, rss))
        finally:
            stop_senders(socks, senders)


@t.case
def budget_trim_spares_uploader(t):
    # The budget is as small as one largest frame allows: the upload's
    # admission (~960 KiB beyond its block) leaves ~64 KiB, which the
    # reader's queued answers (over output_limit, 256 KiB) go past.  Its
    # 3.2 MB of ECHOs are more than the socket buffers and that take.
    size, frames, small = 1000000, 400, 8000
    settings = {"workers": 1, "max_body": MIB, "output_limit": 256 * 1024,
                "buffer_budget": MIB + 16, "read_timeout": 30}
    with Server(settings) as srv:
        closed0 = counter(srv, "buffer_budget_closed")
        in0 = counter(srv, "bytes_in")
        body = os.urandom(1000) * (size // 1000)
        frame = header(Op.UPPER, size, 7) + body
        up, rd = unix_conn(srv), unix_conn(srv)
        sender = None
        try:
            up.sendall(frame[:16 + 1000])
            t.check(poll(lambda: counter(srv, "bytes_in") - in0 >= 1016),
                    "the upload's start was not read")
            burst = b"".join(encode(Op.ECHO, b"r" * small, request_id=j + 1)
                             for j in range(frames))
            sender = threading.Thread(target=send_quietly,
                                      args=(rd, burst, 10.0))
            sender.start()
            closed = poll(lambda: counter(srv, "buffer_budget_closed") -
                          closed0 >= 1, timeout=10.0)
            t.check(closed, "no connection closed for buffer_budget (an "
                    "upload admitted, %d unread answers)" % frames)
            f, err = finish_and_read(up, frame[16 + 1000:], 10.0)
            ok = (f is not None and f.status == St.OK and
                  f.request_id == 7 and f.value == body.upper())
            t.check(ok, "the uploader was not answered in full: %s" % (
                err if f is None else "status %d, id %d, %d bytes" %
                (f.status, f.request_id, len(f.value))))
            how, _, secs = wait_closed(rd, 5.0, limit=0)
            t.check(how in ("eof", "reset"), "the client not reading its "
                    "answers was not closed: %s after %.1f s" % (how, secs))
            t.check(counter(srv, "buffer_budget_closed") - closed0 == 1,
                    "buffer_budget_closed %d, want 1" %
                    (counter(srv, "buffer_budget_closed") - closed0))
        finally:
            stop_senders([up, rd], [sender] if sender else [])


t.run()

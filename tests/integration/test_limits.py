"""test_limits: max_connections (workers = 1, max_connections = 3).

With 3 connections open (each answered a PING, so accepted), a 4th one gets
a BUSY frame (status 6, request_id 0, RESPONSE flag, UTF-8 message) and then
EOF -- also when its request was queued before the accept (the worker is
held with SIGSTOP meanwhile), over unix and TCP; the first 3 keep working;
once one of them closes, a new connection is served.
"""
import os
import select
import signal

from harness import (Op, St, Suite, connect, encode, parse_frames, poll,
                     wait_closed)
from statslib import at_rest, settle

t = Suite("test_limits")


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def expect_busy(t, srv, addr, what, send_first):
    worker = srv.wait_workers()[0][0]
    s = None
    try:
        if send_first:
            # The request is queued before the worker accepts: pause it.
            os.kill(worker, signal.SIGSTOP)
            try:
                base = fd_count(worker)
                s = connect(addr)
                s.sendall(encode(Op.PING, request_id=5))
            finally:
                os.kill(worker, signal.SIGCONT)
            # Read only once the worker has closed its end: the frame is
            # here and the worker's descriptors are back to the baseline.
            select.select([s], [], [], 5)
            poll(lambda: fd_count(worker) <= base, timeout=5, step=0.01)
        else:
            s = connect(addr)
        how, data, secs = wait_closed(s, 5)
    finally:
        if s is not None:
            s.close()
    frames, rest = parse_frames(data)
    # Was a bug (reported; fixed in 311eecc): with the client's request
    # already queued, worker_reject's close() with unread input reset the
    # connection: BUSY frame, then ECONNRESET (unix socket) instead of EOF.
    t.check(how == "eof", "%s: want EOF after BUSY, got %s after %.2f s" % (
        what, how, secs))
    if t.check(len(frames) == 1 and rest == b"",
               "%s: want one BUSY frame, got %r + %r" % (what, frames, rest)):
        t.check_response(frames[0], what, Op.NONE, St.BUSY, rid=0,
                         value=True)


@t.case
def busy(t):
    srv = t.server({"workers": 1, "max_connections": 3}, tcp=True, tls=True)
    # The harness's start-up PING and the master's probe each used a
    # connection: wait until the worker has closed them, or one of the
    # three below would be the fourth.
    ok, doc = settle(srv, lambda d: at_rest(srv, d))
    t.check(ok, "the worker still counts %r open connections" % (
        doc["totals"]["counters"]["conn_active"],))
    keep = [srv.client(), srv.client(addr=srv.tcp_addr), srv.client()]
    try:
        for i, c in enumerate(keep):
            f = c.request(Op.PING, request_id=i + 1)
            t.check_response(f, "connection %d of 3" % (i + 1), Op.PING,
                             rid=i + 1, value=b"PONG")
        for addr, where in srv.transports():
            if where == "tls":
                # No frame before a handshake: closed, no BUSY.
                t.check(not srv.ping_ok(addr=addr),
                        "4th connection over TLS refused")
                continue
            for send_first in (False, True):
                expect_busy(t, srv, addr, "4th connection %s%s" % (
                    where, ", request sent" if send_first else ""),
                    send_first)
        for i, c in enumerate(keep):
            f = c.request(Op.ECHO, b"still %d" % i, request_id=10 + i)
            t.check_response(f, "connection %d after the BUSY ones" % (i + 1),
                             Op.ECHO, rid=10 + i, value=b"still %d" % i)
        # Free one slot: a new connection is served (poll, bounded).
        keep.pop(0).close()
        ok = poll(srv.ping_ok, timeout=5, step=0.05)
        t.check(ok, "no new connection served within 5 s after one of the "
                "3 closed")
    finally:
        for c in keep:
            c.close()


t.run()

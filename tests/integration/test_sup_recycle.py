"""test_sup_recycle: a lone worker recycling with more connections than the
master may hold at once (msgd.8, Processes: max_requests).

alone: workers = 1, max_requests = 400, shutdown_timeout = 30 s, msgd
started with a limit of 220 open files: the master may hold 16 handed-over
connections (the least it keeps room for; 220 is less than its own 96, 253
for one message's descriptors and 4 slots x 4).  150 clients each PING;
then one
client PINGs until the worker says it is recycling.  Its successor starts
at the first hand-over, not once it has exited: a new client is answered
within 10 s (the old worker, holding what the master cannot yet take,
would stay for up to shutdown_timeout, 30 s, and nothing else accepted
meanwhile), every one of the 150 is answered again, none lost, and the
master logs both lines.  Before, the new client waited until the old
worker gave up at shutdown_timeout, and the connections it still held
were closed.

reload_while_recycling: workers = max_workers = 1 (2 slots), max_requests
= 20, shutdown_timeout = 20 s.  An idle client, one that sent half a
header (it keeps the recycling worker draining), then 30 PINGs in one
write, and the worker recycles: no successor is started early (it would
take the slot a reload needs), and a reload (SIGHUP) then succeeds.  With the early
start in every case, the reload found no free slot and rolled back.
"""
import os
import signal
import time

from harness import (Client, Op, Suite, connect, encode, poll,
                     start_with_nofile)

t = Suite("test_sup_recycle")

NOFILE = 220
CONNS = 150


@t.case
def alone(t):
    srv = t.server({"workers": 1, "max_workers": 2, "max_requests": 400,
                    "shutdown_timeout": 30}, health=False, start=False)
    start_with_nofile(srv, NOFILE)
    clients = []
    try:
        for i in range(CONNS):
            c = Client(srv.addr, timeout=10)
            clients.append(c)
            f = c.request(Op.PING)
            t.check(f.value == b"PONG", "client %d: %r" % (i, f))
        # max_requests 400 plus at most 10% jitter: recycling by 440.
        for i in range(400):
            if "recycling after" in srv.log():
                break
            clients[0].request(Op.PING)
        t.check(poll(lambda: "recycling after" in srv.log(), timeout=5),
                "the worker never said it was recycling")
        start = time.monotonic()
        try:
            with Client(srv.addr, timeout=10) as c:
                f = c.request(Op.PING)
            took = time.monotonic() - start
            t.check(f.value == b"PONG", "new client: %r" % f)
            print("   a new client was answered after %.2f s" % took)
        except OSError as e:
            t.check(False, "a new client was not answered within 10 s "
                    "(shutdown_timeout is 30 s): %r" % e)
        bad = []
        for i, c in enumerate(clients):
            try:
                f = c.request(Op.PING)
                if f.value != b"PONG":
                    bad.append((i, repr(f)))
            except OSError as e:
                bad.append((i, repr(e)))
        t.check(not bad, "%d of %d connections not answered after the "
                "recycle: %r" % (len(bad), CONNS, bad[:3]))
    finally:
        for c in clients:
            c.close()
    log = poll(lambda: "replaced already" in srv.log() and srv.log(),
               timeout=10) or srv.log()
    t.check("hands its connections over: starting its successor" in log,
            "the master did not say it started the successor early")
    t.check("recycled after" in log and "replaced already" in log,
            "the master did not log the old worker's exit as replaced "
            "already")
    t.check("lost" not in log, "connections were lost: %r" % [
        line for line in log.splitlines() if "lost" in line][:2])
    t.check(srv.ping_ok(), "PING at the end")


@t.case
def reload_while_recycling(t):
    srv = t.server({"workers": 1, "max_workers": 1, "max_requests": 20,
                    "shutdown_timeout": 20}, health=False)
    idle = Client(srv.addr)
    slow = connect(srv.addr)
    pinger = Client(srv.addr)
    try:
        idle.request(Op.PING)
        slow.sendall(encode(Op.PING)[:8])
        # max_requests 20 plus at most 10% jitter: recycling by 22.  The
        # PINGs go in one write, read at once, answered in one batch
        # before the worker recycles: none is sent after (it would wait
        # for the worker to exit, with no successor here).
        pinger.send(b"".join(encode(Op.PING, request_id=i + 1)
                             for i in range(30)))
        for i in range(30):
            f = pinger.recv_frame()
            t.check(f.request_id == i + 1 and f.value == b"PONG",
                    "PING %d: %r" % (i + 1, f))
        t.check(poll(lambda: "recycling after" in srv.log(), timeout=5),
                "the worker never said it was recycling")
        os.kill(srv.pid, signal.SIGHUP)
        log = poll(lambda: ("reload: " in srv.log() or
                            "reload failed" in srv.log()) and srv.log(),
                   timeout=20) or srv.log()
        t.check("generation 2 serving" in log, "the reload did not "
                "succeed while the worker recycled: %r" % [
                    line for line in log.splitlines() if "reload" in line or
                    "slot" in line][:4])
        t.check("starting its successor" not in log, "a successor started "
                "early though a reload needs the only free slot")
    finally:
        for c in (idle, pinger):
            c.close()
        slow.close()
    t.check(srv.ping_ok(), "PING at the end")


t.run()

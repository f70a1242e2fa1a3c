"""test_concurrency: many clients at once.

200 concurrent clients (threads; a third each over the unix socket, TCP and
TLS),
each doing 50 ECHOs with its own payloads, all answers correct; then the same
200 clients each pipelining 50 requests in one write.  Afterwards the master
has exactly its configured workers and no zombie (Suite health check).
"""
import threading

from harness import Client, Op, Suite, encode, response_problems

t = Suite("test_concurrency")

NCLIENTS = 200
NREQ = 50


def run_clients(t, srv, pipelined):
    errors = []
    lock = threading.Lock()
    barrier = threading.Barrier(NCLIENTS, timeout=30)

    def one(n):
        addrs = [a for a, _ in srv.transports()]
        addr = addrs[n % len(addrs)]
        try:
            with Client(addr, timeout=20) as c:
                barrier.wait()
                vals = [b"client %d request %d " % (n, i) + bytes([n % 256])
                        * (i * 13 % 300) for i in range(NREQ)]
                if pipelined:
                    c.send(b"".join(encode(Op.ECHO, v, request_id=i + 1)
                                    for i, v in enumerate(vals)))
                for i, v in enumerate(vals):
                    if not pipelined:
                        c.send_frame(Op.ECHO, v, request_id=i + 1)
                    f = c.recv_frame(timeout=20)
                    p = response_problems(f, Op.ECHO, rid=i + 1, value=v)
                    if p:
                        raise AssertionError("request %d: %s" % (i, p))
        except Exception as e:  # reported below, per client
            with lock:
                errors.append("client %d: %r" % (n, e))

    threads = [threading.Thread(target=one, args=(n,), daemon=True)
               for n in range(NCLIENTS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    alive = sum(th.is_alive() for th in threads)
    t.check(alive == 0, "%d client threads still running after 60 s" % alive)
    t.check(not errors, "%d of %d clients failed (%s), first: %s" % (
        len(errors), NCLIENTS, "pipelined" if pipelined else "one by one",
        errors[:3]))


@t.case
def concurrent_clients(t):
    srv = t.server({"workers": 2}, tcp=True, tls=True)
    run_clients(t, srv, pipelined=False)
    run_clients(t, srv, pipelined=True)
    t.check(srv.ping_ok(), "server answers PING after the load")


t.run()

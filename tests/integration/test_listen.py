"""test_listen: listeners and their conflicts.

A second msgd on the same live unix socket is refused (exit 1, a message
naming the socket and "another server"), the first keeps serving and keeps
its socket; the same for a TCP port in use, and for a UDP port in use; a
path that is not a socket is refused and left alone; a stale socket file
left by a SIGKILLed msgd is replaced on start; a test's own listener whose
port is taken before msgd binds it gets a new port on the harness's retry;
an IPv6 [::1] listener works (skipped without ::1); unix, IPv4 and IPv6
listeners of one server all answer.
"""
import os
import signal
import socket
import stat

from harness import (Op, Server, Suite, encode, free_port, ipv6_loopback_ok,
                     udp_exchange, udp_listener)

t = Suite("test_listen")


def second_instance(t, listen, what, want, udp=None):
    """Start a second msgd (its own temp dir and state files) on listen
    (and udp_listen udp); it must exit 1 with want in its stderr.  Returns
    its log."""
    s = {"listen": listen, "workers": 1}
    if udp:
        s["udp_listen"] = udp
    other = Server(s, unix=False, start=False)
    try:
        other.write_conf()
        other.spawn()
        rc = other.wait(10)
        log = other.log()
        t.check(rc == 1, "%s: second msgd exit %r, want 1:\n%s" % (
            what, rc, log))
        t.check(want in log, "%s: second msgd stderr lacks %r:\n%s" % (
            what, want, log))
        return log
    finally:
        other.close()


@t.case
def second_server_refused(t):
    srv = t.server(tcp=True)
    second_instance(t, ["unix:" + srv.sock_path, "127.0.0.1:%d" % srv.port],
                    "same unix socket and port",
                    "another server is listening")
    t.check(os.path.exists(srv.sock_path) and
            stat.S_ISSOCK(os.stat(srv.sock_path).st_mode),
            "the first server's socket file is gone")
    t.check(srv.ping_ok(), "the first server stopped answering on unix")
    # TCP alone: the port is in use.
    second_instance(t, ["127.0.0.1:%d" % srv.port], "same TCP port",
                    "in use")
    t.check(srv.ping_ok(srv.tcp_addr), "the first server stopped answering "
            "on TCP")
    with srv.client() as c:
        f = c.request(Op.ECHO, b"still me", request_id=3)
        t.check_response(f, "first server after two refused starts",
                         Op.ECHO, rid=3, value=b"still me")


@t.case
def second_server_udp_refused(t):
    # A UDP port is not shared either: the second server would take the
    # first one's datagrams.
    srv = t.server({"workers": 1}, pick=udp_listener())
    udp = ["127.0.0.1:%d" % srv.uport]
    second_instance(t, ["127.0.0.1:%d" % free_port()], "same UDP port",
                    "in use", udp=udp)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        got = udp_exchange(u, ("127.0.0.1", srv.uport),
                           encode(Op.ECHO, b"first", request_id=5))
    finally:
        u.close()
    t.check(got is not None and got[16:] == b"first",
            "the first server stopped answering on UDP: %r" % got)


@t.case
def port_taken_meanwhile(t):
    # The harness's retry for listeners a test picks: the first port it
    # gets is taken (a connected client's ephemeral port, say, in a
    # parallel run), the start fails "in use", the next one serves.
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        tries = []

        def pick(srv):
            port = (taken.getsockname()[1] if not tries else
                    free_port(host="127.0.0.1"))
            tries.append(port)
            srv.settings["listen"] = ["unix:" + srv.sock_path,
                                      "127.0.0.1:%d" % port]
        srv = t.server({"workers": 1}, pick=pick)
        t.check(len(tries) == 2 and tries[1] != tries[0],
                "ports tried: %r, want the taken one, then another" % tries)
        t.check("in use" in srv.log(), "the first start was not refused "
                "\"in use\":\n" + srv.log())
        t.check(srv.ping_ok(("127.0.0.1", tries[-1])), "the server does "
                "not answer on the second port")
    finally:
        taken.close()


@t.case
def not_a_socket(t):
    srv = t.server(start=False)
    with open(srv.sock_path, "w") as f:
        f.write("precious data\n")
    srv.write_conf()
    srv.spawn()
    rc = srv.wait(10)
    t.check(rc == 1, "msgd on a regular file path: exit %r, want 1" % rc)
    t.check("not a socket" in srv.log(), "no clear error:\n%s" % srv.log())
    with open(srv.sock_path) as f:
        t.check(f.read() == "precious data\n", "the regular file changed")


@t.case
def stale_socket_replaced(t):
    srv = t.server()
    t.check(srv.ping_ok(), "first msgd answers")
    srv.note_workers()
    rc = srv.stop(signal.SIGKILL)
    t.check(rc == -signal.SIGKILL, "master SIGKILLed: %r" % rc)
    left = srv.wait_orphans_gone(5.0)
    t.check(not left, "workers %r outlived their SIGKILLed master by 5 s" %
            left)
    t.check(os.path.exists(srv.sock_path), "expected a stale socket file "
            "after SIGKILL (test premise)")
    srv.start()  # raises if the stale socket is not replaced
    t.check(srv.ping_ok(), "new msgd answers on the replaced socket")


@t.case
def ipv6_listener(t):
    if not ipv6_loopback_ok():
        print("SKIP: ::1 is not available here")
        return
    srv = t.server(tcp=True, tcp6=True)
    t.check([w for _, w in srv.transports()] == ["unix", "tcp", "ipv6"],
            "listeners: %r" % srv.transports())
    for addr, where in srv.transports():
        with srv.client(addr=addr) as c:
            f = c.request(Op.UPPER, b"via " + where.encode(), request_id=6)
            t.check_response(f, "UPPER over %s" % where, Op.UPPER, rid=6,
                             value=b"VIA " + where.upper().encode())


t.run()

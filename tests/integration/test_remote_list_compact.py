"""test_remote_list_compact: LIST behind a partly sent large answer.

LIST measured its listing from an absolute position in the output buffer;
when an append compacted the buffer (what was already sent dropped, the
unsent rest moved to the front) that position moved, the size came out
near 2^64 and LIST was refused TOO_LARGE (4 of 4 runs).

On one connection (unix socket and TCP): 150 files with 60-byte names (a
listing of about 12 KiB); an ECHO of 4 MiB, of which the client reads only
the first 64 KiB (the server has sent part of the answer and holds the
rest); then LIST.  The client reads the whole ECHO answer, then the LIST
answer: OK, every file listed, and the connection still answers PING.
"""
import os

from harness import Op, St, Suite, read_frame, recv_exact

t = Suite("test_remote_list_compact")

NFILES = 150
BIG = 4 << 20


@t.case
def list_after_partial_echo(t):
    srv = t.server({"max_body": 8 << 20, "output_limit": 32 << 20},
                   tcp=True, tls=True, start=False)
    files_dir = os.path.join(srv.dir, "files")
    srv.settings["files"] = {"enabled": True, "dir": files_dir}
    srv.start()
    names = sorted(b"%s-%03d" % (b"n" * 55, i) for i in range(NFILES))
    with srv.client() as c:
        for n in names:
            t.check(c.request(Op.PUT, b"x", n).status == St.OK, "PUT")
    value = os.urandom(BIG)
    for addr, what in srv.transports():
        with srv.client(timeout=20, addr=addr) as c:
            c.send_frame(Op.ECHO, value, request_id=1)
            head = recv_exact(c.sock, 64 << 10, 20)
            c.send_frame(Op.LIST, request_id=2)
            rest = recv_exact(c.sock, BIG + 16 - len(head), 20)
            t.check((head + rest)[16:] == value, "%s: the ECHO answer" % what)
            f = read_frame(c.sock, 20)
            t.check_response(f, "%s: LIST behind a partly sent answer" % what,
                             Op.LIST, rid=2, value=None)
            got = [l.split(b"\t")[0] for l in f.value.split(b"\n")[:-1]]
            t.check(got == names, "%s: LIST has %d of %d names" % (
                what, len(got), NFILES))
            f = c.request(Op.PING, request_id=3)
            t.check_response(f, "%s: PING after" % what, Op.PING, rid=3,
                             value=b"PONG")


t.run()

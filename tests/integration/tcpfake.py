"""tcpfake: a loopback TCP server with a thread per connection, for tests
that put msgctl bench in front of a server of their own (test_bench_*.py).

    class Echo(TCPFake):
        def serve(self, c):
            ...                 # c: the accepted socket; return to end
    srv = Echo()
    ... srv.addr ...            # "127.0.0.1:PORT"
    srv.close()
"""
import socket
import threading


class TCPFake:
    """Accepts on 127.0.0.1 (an ephemeral port) and runs serve(c) in a
    thread per connection; options apply to the listening socket (and so
    to the accepted ones): SO_RCVBUF and TCP_MAXSEG (before listen, so
    that they shape the connection), TCP_NODELAY."""

    def __init__(self, rcvbuf=None, maxseg=None, nodelay=False):
        self.conns = []
        self.threads = []
        self.ls = socket.socket()
        if rcvbuf is not None:
            self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if maxseg is not None:
            self.ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, maxseg)
        if nodelay:
            self.ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.addr = "127.0.0.1:%d" % self.ls.getsockname()[1]
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            self.conns.append(c)
            th = threading.Thread(target=self._serve, args=(c,),
                                  daemon=True)
            self.threads.append(th)
            th.start()

    def _serve(self, c):
        try:
            self.serve(c)
        except OSError:
            return

    def serve(self, c):
        raise NotImplementedError

    def close(self):
        # shutdown wakes the accept(2) that close alone would leave.
        for s in [self.ls] + self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for th in [self.acceptor] + self.threads:
            th.join(timeout=10)
        for s in [self.ls] + self.conns:
            s.close()

"""test_socket_activation: msgd takes its listeners from systemd.

Without systemd as PID 1: systemd-socket-activate (Debian's systemd
package) binds the sockets and execs its command with LISTEN_PID,
LISTEN_FDS and LISTEN_FDNAMES, as systemd does for a socket unit.

- serves: msgd under systemd-socket-activate on 127.0.0.1:port, a unix
  socket and [::1]:port (when the host has ::1) answers PING on each, logs
  that it took the sockets, leaves the unix socket file (systemd's) in
  place at exit, and its workers see none of the variables.  serves_udp: a passed UDP socket (beside a TCP
  one on the same port) answers ECHO.
- restarts: 10 restarts of msgd (SIGTERM, a new msgd on the same sockets,
  as systemd keeps a socket unit's sockets across service restarts) while
  clients connect continuously over TCP and unix: 0 refused connects
  (the connections wait in the kernel's queue while no msgd runs).
- reload: a reload that drops the unix entry and adds a TCP one keeps the
  passed socket open (and its file), binds the new one itself, says both
  in the log; a reload back serves the passed socket again.
- mismatch: a passed socket no entry matches, an entry with no socket
  passed, a UDP socket for a TCP entry: msgd exits 1 naming the socket and
  the entries.  LISTEN_FDS for another process's LISTEN_PID: refused
  (exit 1, naming both), nothing bound.  A LISTEN_FDS that is not a count:
  refused.
"""
import errno
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

from harness import (MSGD, Op, St, Client, Frame, SKIP, Suite, children,
                     ctl, encode, free_port, free_ports, free_udp_port,
                     ipv6_loopback_ok, poll, udp_exchange)

SSA = shutil.which("systemd-socket-activate")
if SSA is None:
    print("test_socket_activation: SKIP: systemd-socket-activate not found "
          "(Debian package systemd)")
    raise SystemExit(SKIP)

RESTARTS = 10
GAP = 0.2    # seconds without any msgd between two

t = Suite("test_socket_activation")


def activated(srv, sockets, names=None, port=None):
    """Start srv's msgd under systemd-socket-activate listening on sockets
    (its -l arguments); it execs msgd at the first connection, which
    wait_ready's PING makes."""
    srv.port = port or srv.port
    srv.write_conf()
    prefix = [SSA]
    for s in sockets:
        prefix += ["-l", s]
    if names:
        prefix.append("--fdname=" + ":".join(names))
    srv.spawn(prefix)
    return srv


def pinged(addr, timeout=10.0):
    with Client(addr, timeout) as c:
        f = c.request(Op.PING)
        return f.status == St.OK and f.value == b"PONG"


def environ_of(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


@t.case
def serves(t):
    v6 = ipv6_loopback_ok()
    srv = t.server(tcp=True, tcp6=v6, start=False)
    port = free_port()
    socks, names = ["127.0.0.1:%d" % port, srv.sock_path], ["tcp", "unix"]
    if v6:
        srv.port6 = free_port(socket.AF_INET6, "::1")
        socks.append("[::1]:%d" % srv.port6)
        names.append("tcp6")
    activated(srv, socks, names, port=port)
    srv.wait_ready(10.0)
    t.check(pinged(srv.tcp_addr), "no PONG over TCP")
    t.check(pinged(srv.sock_path), "no PONG over unix")
    if v6:
        t.check(pinged(srv.tcp6_addr), "no PONG over IPv6")
    t.check("serving %d sockets passed by LISTEN_FDS" % len(socks) in
            srv.log(), "no word of the passed sockets:\n" + srv.log())
    ws = srv.wait_workers()
    for pid, _ in ws:
        t.check("LISTEN_" not in environ_of(pid),
                "worker %d sees the LISTEN_ variables" % pid)
    t.check("LISTEN_" not in environ_of(srv.pid) or
            not os.path.exists("/proc/%d/environ" % srv.pid),
            "the master kept the LISTEN_ variables")
    rc = srv.stop()
    t.check(rc == 0, "msgd exit %r after SIGTERM" % rc)
    t.check(os.path.exists(srv.sock_path),
            "msgd removed the unix socket systemd made")


@t.case
def serves_udp(t):
    # Two systemd-socket-activate, the outer's TCP socket passed through
    # the inner one, which adds a UDP socket on the same port: as a
    # socket unit with ListenStream= and ListenDatagram=.
    srv = t.server(unix=False, tcp=True, start=False)
    port = free_port()
    srv.port = port
    srv.settings["udp_listen"] = ["127.0.0.1:%d" % port]
    srv.write_conf()
    srv.spawn([SSA, "-l", "127.0.0.1:%d" % port, SSA, "-d", "-l",
               "127.0.0.1:%d" % port])
    srv.wait_ready(10.0)
    t.check("serving 2 sockets passed by LISTEN_FDS" in srv.log(),
            "no word of the passed sockets:\n" + srv.log())
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        got = udp_exchange(u, ("127.0.0.1", port),
                           encode(Op.ECHO, b"activated", request_id=9))
    finally:
        u.close()
    f = Frame(got[:16], got[16:]) if got and len(got) >= 16 else None
    t.check_response(f, "ECHO over the passed UDP socket", Op.ECHO, rid=9,
                     value=b"activated")


def client_loop(addr, stop, counts, lock):
    """Connect, PING, close, until stop; count each outcome."""
    while not stop.is_set():
        what = "ok"
        t0 = time.monotonic()
        try:
            if pinged(addr, timeout=15.0) is not True:
                what = "bad answer"
            took = time.monotonic() - t0
            with lock:
                counts["max_s"] = max(counts.get("max_s", 0), took)
        except ConnectionRefusedError:
            what = "refused"
        except OSError as e:
            what = "refused" if e.errno == errno.ECONNREFUSED else \
                "error %s" % (errno.errorcode.get(e.errno, e.errno))
        except (EOFError, TimeoutError) as e:
            what = type(e).__name__
        with lock:
            counts[what] = counts.get(what, 0) + 1


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read()
    except OSError:
        return b""


def masters_of(pid):
    """The msgd masters under the restart loop's shell."""
    return [p for p, st in children(pid) if st != "Z" and
            cmdline(p).startswith(b"msgd: master")]


def stop_loop(srv):
    """A failed round: the loop first (no new msgd), then its msgd."""
    ms = masters_of(srv.pid)
    srv.proc.kill()
    srv.wait(5.0)
    for m in ms:
        try:
            os.kill(m, signal.SIGTERM)
        except OSError:
            pass
    poll(lambda: not [m for m in ms if os.path.exists("/proc/%d" % m)
                      and cmdline(m)], timeout=10.0)


@t.case
def restarts(t):
    srv = t.server(tcp=True, start=False, health=False)
    port = free_port()
    srv.port = port
    srv.write_conf()
    # As systemd with a socket unit: the sockets stay, the service
    # restarts.  systemd-socket-activate execs the loop in place (its
    # LISTEN_PID is the loop's); each round forks a shell that sets its
    # own pid and execs msgd, GAP seconds after the previous one exited
    # (as systemd's RestartSec=), so clients do connect while no msgd
    # runs at all.
    loop = ('i=0; while [ "$i" -le %d ]; do sh -c \'LISTEN_PID=$$; '
            'export LISTEN_PID; exec "$0" -f -c "$1"\' "%s" "%s"; '
            'i=$((i + 1)); sleep %s; done' % (RESTARTS, MSGD, srv.conf_path,
                                             GAP))
    log = open(srv.log_path, "ab")
    srv.proc = subprocess.Popen(
        [SSA, "-l", "127.0.0.1:%d" % port, "-l", srv.sock_path,
         "sh", "-c", loop], stdin=subprocess.DEVNULL, stdout=log,
        stderr=log, cwd=srv.dir)
    log.close()
    # Clients start once the sockets exist (before, a refusal is right).
    t.check(poll(lambda: "as 4." in srv.log(), timeout=5.0),
            "systemd-socket-activate did not listen:\n" + srv.log())
    stop = threading.Event()
    counts = {}
    lock = threading.Lock()
    threads = [threading.Thread(target=client_loop, daemon=True,
                                args=(a, stop, counts, lock))
               for a in (srv.tcp_addr, srv.tcp_addr, srv.sock_path,
                         srv.sock_path)]
    for th in threads:
        th.start()
    t0 = time.monotonic()
    try:
        for r in range(RESTARTS + 1):
            # This round's msgd serves (every worker answered its probe).
            ready = poll(lambda: srv.log().count("master: ready:") > r,
                         timeout=10.0)
            if not t.check(ready, "round %d: msgd not ready" % r):
                break
            ms = poll(lambda: masters_of(srv.pid), timeout=5.0)
            if not t.check(len(ms) == 1, "round %d: masters %r" % (r, ms)):
                break
            # Some requests in this round, then stop it.
            with lock:
                before = counts.get("ok", 0)
            poll(lambda: counts.get("ok", 0) >= before + 20, timeout=5.0)
            if r == RESTARTS:
                # The last msgd: the clients stop first (then the loop
                # ends, and with it the sockets).
                stop.set()
                for th in threads:
                    th.join(20.0)
            os.kill(ms[0], signal.SIGTERM)
            gone = poll(lambda: ms[0] not in masters_of(srv.pid),
                        timeout=10.0)
            if not t.check(gone, "round %d: msgd %d did not stop" % (
                    r, ms[0])):
                break
    finally:
        stop.set()
        for th in threads:
            th.join(20.0)
        if srv.wait(10.0) is None:
            stop_loop(srv)
    took = time.monotonic() - t0
    t.check(srv.returncode == 0, "the restart loop did not end well: %r" %
            srv.returncode)
    print("   %d restarts (%.1f s without msgd each) in %.1f s: %d requests "
          "answered, longest %.3f s; other outcomes %r" % (
              RESTARTS, GAP, took, counts.get("ok", 0),
              counts.get("max_s", 0),
              {k: v for k, v in counts.items() if k not in ("ok", "max_s")}))
    t.check(srv.log().count("master: stopped") == RESTARTS + 1,
            "not %d clean stops:\n%s" % (RESTARTS + 1, srv.log()[-2000:]))
    t.check(counts.get("refused", 0) == 0,
            "%d connects refused during restarts" % counts.get("refused", 0))
    t.check(counts.get("ok", 0) > 20 * RESTARTS,
            "too few requests answered: %r" % counts)
    # Connections made during a gap waited for the next msgd.
    t.check(counts.get("max_s", 0) >= GAP / 2,
            "no request waited through a gap: %r" % counts)
    t.check(set(counts) <= {"ok", "max_s"}, "failed requests: %r" % counts)


@t.case
def reload_listeners(t):
    srv = t.server(tcp=True, start=False, health=False)
    port = free_port()
    activated(srv, ["127.0.0.1:%d" % port, srv.sock_path], port=port)
    srv.wait_ready(10.0)
    srv.all_serving()
    extra = free_port()
    base = dict(srv.settings)
    srv.settings["listen"] = ["127.0.0.1:%d" % port,
                              "127.0.0.1:%d" % extra]
    srv.write_conf()
    rc, out, err, _ = ctl(srv, "reload")
    t.check(rc == 0, "reload dropping unix, adding TCP: %r %s%s" % (
        rc, out, err))
    log = srv.log()
    t.check("127.0.0.1:%d: not passed by systemd, so msgd binds it" % extra
            in log, "no word of the new listener:\n" + log)
    t.check("unix:%s: no longer in the configuration, but passed by "
            "systemd" % srv.sock_path in log,
            "no word of the dropped passed socket:\n" + log)
    t.check(os.path.exists(srv.sock_path), "the passed socket's file "
            "was removed")
    t.check(pinged(("127.0.0.1", extra)), "no PONG on the new listener")
    # Back: the passed socket serves again (the same one, not re-bound).
    srv.settings = base
    srv.write_conf()
    rc, out, err, _ = ctl(srv, "reload")
    t.check(rc == 0, "reload back: %r %s%s" % (rc, out, err))
    t.check(pinged(srv.sock_path), "no PONG on the passed unix socket "
            "after it came back")
    t.check(pinged(srv.tcp_addr), "no PONG over TCP")
    # The one msgd bound itself is gone with its entry.
    try:
        socket.create_connection(("127.0.0.1", extra), 2).close()
        t.check(False, "127.0.0.1:%d still listening" % extra)
    except ConnectionRefusedError:
        pass
    srv.stop()


def refused(t, srv, sockets, trigger, wants, what, udp=False):
    """msgd under systemd-socket-activate with sockets must exit 1 with
    each of wants in its log; trigger makes systemd-socket-activate exec
    it (a connection, or a datagram with udp)."""
    srv.write_conf()
    prefix = [SSA] + (["-d"] if udp else [])
    for s in sockets:
        prefix += ["-l", s]
    srv.spawn(prefix)
    kicks = []

    def kicked():
        # A datagram sent before the socket exists is lost: send until
        # systemd-socket-activate says it execs.
        try:
            if udp:
                k = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                kicks.append(k)
                k.sendto(b"x", trigger)
            elif not kicks:
                kicks.append(socket.create_connection(trigger, 2))
        except OSError:
            pass
        return "Execing" in srv.log() or srv.proc.poll() is not None
    poll(kicked, timeout=5.0, step=0.05)
    rc = srv.wait(10.0)
    for k in kicks:
        k.close()
    log = srv.log()
    t.check(rc == 1, "%s: exit %r, want 1:\n%s" % (what, rc, log))
    for w in wants:
        t.check(w in log, "%s: log lacks %r:\n%s" % (what, w, log))


@t.case
def mismatch(t):
    # A passed socket that no entry lists.
    srv = t.server(unix=False, tcp=True, start=False, health=False)
    p1, p2 = free_ports(2)
    srv.port = p1
    refused(t, srv, ["127.0.0.1:%d" % p1, "127.0.0.1:%d" % p2],
            ("127.0.0.1", p1),
            ["socket activation refused", "stream socket 127.0.0.1:%d" % p2,
             "matches no listen entry", "listen: 127.0.0.1:%d;" % p1],
            "an extra socket")
    # An entry with no socket passed for it.
    srv = t.server(unix=False, tcp=True, start=False, health=False)
    srv.port = p1
    srv.settings["listen"] = ["127.0.0.1:%d" % p1, "127.0.0.1:%d" % p2]
    refused(t, srv, ["127.0.0.1:%d" % p1], ("127.0.0.1", p1),
            ["listen entry 127.0.0.1:%d has no socket among those passed "
             "by LISTEN_FDS (127.0.0.1:%d (stream))" % (p2, p1)],
            "an entry without a socket")
    # A UDP socket for a TCP entry.
    srv = t.server(unix=False, tcp=True, start=False, health=False)
    up = free_udp_port()
    srv.port = up
    refused(t, srv, ["127.0.0.1:%d" % up], ("127.0.0.1", up),
            ["listen entry 127.0.0.1:%d has no socket among those passed "
             "by LISTEN_FDS (127.0.0.1:%d (UDP))" % (up, up)],
            "UDP for TCP", udp=True)


@t.case
def other_pid(t):
    # The variables name another process: refused (issue 13), not
    # ignored as sd_listen_fds(3) would, and nothing is bound.
    srv = t.server(tcp=True, start=False, health=False)
    srv.port = free_port()
    srv.write_conf()
    srv.spawn(["env", "LISTEN_PID=1", "LISTEN_FDS=2",
               "LISTEN_FDNAMES=a:b"])
    rc = srv.wait(10.0)
    t.check(rc == 1, "exit %r, want 1" % rc)
    t.check("LISTEN_FDS=2 is for pid 1, not this msgd" in srv.log(),
            "the refusal names the variables:\n" + srv.log())
    try:
        served = pinged(srv.tcp_addr, timeout=2.0)
    except OSError:
        served = False
    t.check(not served, "it listens on its own TCP port")


@t.case
def hostile_count(t):
    for fds in ("abc", "99999999999999999999", "65"):
        srv = t.server(start=False, health=False)
        srv.write_conf()
        srv.spawn(["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS="$0" exec "$@"',
                   fds])
        rc = srv.wait(10.0)
        log = srv.log()
        t.check(rc == 1, "LISTEN_FDS=%s: exit %r, want 1" % (fds, rc))
        t.check("socket activation refused: LISTEN_FDS=\"%s\"" % fds in log,
                "LISTEN_FDS=%s: no clear message:\n%s" % (fds, log))


t.run()

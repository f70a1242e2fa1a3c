"""test_sup_lifecycle: stop, resize, recycle, privileges and msgctl control
of the master (issue 4, scenarios 6-9).

graceful_stop: shutdown_timeout = 1.  12 clients (unix and TCP) each pipeline
20 ECHOs, all written before SIGTERM, and one client is stalled mid-frame:
every pipelined request is answered (then EOF), the stalled client does not
hold the master past shutdown_timeout + ~1.5 s (<= 2.5 s), exit 0, and the
pidfile, unix socket and stats file are removed; no worker outlives it.

resize: workers = 2, max_workers = 3.  SIGTTIN -> 3 workers (children and
stats master.workers); SIGTTIN again is refused ("already at max_workers");
SIGTTOU x2 -> 1 worker; once more is refused ("already at one worker").

recycle: max_requests = 50.  300 PINGs on fresh connections, all answered;
workers are replaced ("recycled after N requests", 50 <= N <= 55 with the
10% jitter), so the worker pids change.

privilege_drop (root only): user = "nobody": each worker's Uid and Gid lines
(real, effective, saved, fs) are nobody's, Groups is empty, NoNewPrivs 1,
CapEff 0; the master stays root; requests are served; the unix socket is
mode 0660 with nobody's group.

msgctl_control: status exits 0 naming the pid; a second msgd with the same
pidfile is refused ("already running") and leaves the first alone; stop
exits 0 and the master is gone; status then exits 3; a stale pidfile (a
dead pid, no lock) does not block a new start.
"""
import os
import pwd
import re
import signal
import stat
import subprocess
import threading
import time

from harness import (MSGD, Client, Op, Suite, conf_text, ctl, encode,
                     live_children, parse_frames, poll, proc_status, run,
                     wait_closed)
from statslib import stats_json

t = Suite("test_sup_lifecycle")


def state_files(srv):
    return [srv.sock_path, os.path.join(srv.dir, "msgd.pid"),
            os.path.join(srv.dir, "stats")]


# ---------------------------------------------------------- scenario 6

@t.case
def graceful_stop(t):
    nclients, nreq = 12, 20
    srv = t.server({"workers": 2, "shutdown_timeout": 1, "read_timeout": 60,
                    "idle_timeout": 60}, tcp=True)
    for f in state_files(srv):
        t.check(os.path.exists(f), "%s missing while running" % f)
    clients = []
    try:
        for n in range(nclients):
            c = Client(srv.addr if n % 2 else srv.tcp_addr, timeout=10)
            clients.append(c)
            f = c.request(Op.PING, request_id=1)  # accepted by a worker
            assert f.value == b"PONG", f
        stalled = Client(srv.addr, timeout=10)
        clients.append(stalled)
        stalled.request(Op.PING, request_id=1)
        stalled.send(encode(Op.ECHO, b"never finished", request_id=2)[:20])
        vals = {}
        for n, c in enumerate(clients[:nclients]):
            vals[n] = [b"%d/%d " % (n, i) + b"p" * (i * 200)
                       for i in range(nreq)]
            c.send(b"".join(encode(Op.ECHO, v, request_id=100 + i)
                            for i, v in enumerate(vals[n])))
        time.sleep(0.05)  # the stalled frame's bytes reached its worker
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        results = [None] * nclients

        def collect(n):
            how, data, _ = wait_closed(clients[n].sock, 10)
            frames, rest = parse_frames(data)
            got = [(f.request_id, f.value, f.status) for f in frames]
            want = [(100 + i, v, 0) for i, v in enumerate(vals[n])]
            results[n] = (how, got == want, len(frames), rest)

        threads = [threading.Thread(target=collect, args=(n,), daemon=True)
                   for n in range(nclients)]
        for th in threads:
            th.start()
        rc = srv.wait(10)
        secs = time.monotonic() - t0
        for th in threads:
            th.join(10)
        bad = [(n, r) for n, r in enumerate(results)
               if r is None or r[0] != "eof" or not r[1]]
        t.check(not bad, "%d of %d pipelining clients did not get all %d "
                "answers then EOF: %s" % (len(bad), nclients, nreq, bad[:3]))
        how, data, _ = wait_closed(stalled.sock, 3)
        t.check(how in ("eof", "reset") and data == b"",
                "stalled client after the stop: %s %r" % (how, data))
        print("   master exited %r after %.2f s" % (rc, secs))
        t.check(rc == 0, "master exit %r, want 0" % rc)
        t.check(secs <= 2.5, "a client stalled mid-frame held the stop for "
                "%.2f s (shutdown_timeout = 1, limit 2.5 s)" % secs)
        for f in state_files(srv):
            t.check(not os.path.exists(f), "%s left behind after the stop"
                    % f)
        left = srv.wait_orphans_gone(3.0)
        t.check(not left, "workers %r outlived the master" % left)
    finally:
        for c in clients:
            c.close()


# ---------------------------------------------------------- scenario 7

@t.case
def resize(t):
    srv = t.server({"workers": 2, "max_workers": 3})

    def settled(n):
        def ok():
            kids = live_children(srv)
            return len(kids) == n and \
                stats_json(srv)["master"]["workers"] == n and kids
        return ok

    srv.send_signal(signal.SIGTTIN)
    kids = poll(settled(3))
    t.check(kids, "SIGTTIN: not 3 workers: children %r, stats %d" % (
        live_children(srv), stats_json(srv)["master"]["workers"]))
    t.check(poll(lambda: "SIGTTIN: 3 workers" in srv.log()),
            "log lacks 'SIGTTIN: 3 workers'")
    srv.send_signal(signal.SIGTTIN)
    t.check(poll(lambda: "SIGTTIN: already at max_workers (3)" in
                 srv.log()), "SIGTTIN beyond max_workers: no refusal in "
            "the log")
    time.sleep(0.3)
    t.check(live_children(srv) == kids and
            stats_json(srv)["master"]["workers"] == 3,
            "SIGTTIN beyond max_workers changed the pool: %r" %
            live_children(srv))
    srv.send_signal(signal.SIGTTOU)
    t.check(poll(settled(2)), "SIGTTOU: not 2 workers: %r" %
            live_children(srv))
    srv.send_signal(signal.SIGTTOU)
    one = poll(settled(1))
    t.check(one, "second SIGTTOU: not 1 worker: %r" % live_children(srv))
    srv.send_signal(signal.SIGTTOU)
    t.check(poll(lambda: "SIGTTOU: already at one worker" in srv.log()),
            "SIGTTOU at one worker: no refusal in the log")
    time.sleep(0.3)
    t.check(live_children(srv) == one and
            stats_json(srv)["master"]["workers"] == 1,
            "SIGTTOU at one worker changed the pool: %r" %
            live_children(srv))
    t.check(srv.ping_ok(), "PING with one worker")
    srv.settings["workers"] = 1  # what the health check expects now


# ---------------------------------------------------------- scenario 7b

NPINGS = 300


@t.case
def recycle(t):
    srv = t.server({"workers": 2, "max_requests": 50}, health=False)
    first = set(live_children(srv))
    seen = set(first)
    bad = []
    for i in range(NPINGS):
        try:
            with Client(srv.addr, timeout=5) as c:
                f = c.request(Op.PING, request_id=i + 1)
                if f.value != b"PONG" or f.request_id != i + 1:
                    bad.append((i, repr(f)))
        except Exception as e:
            bad.append((i, repr(e)))
        seen.update(live_children(srv))
    t.check(not bad, "%d of %d PINGs failed while workers recycled: %r" %
            (len(bad), NPINGS, bad[:3]))
    def settled():
        # Every worker that said "recycling" has been replaced by now (a
        # retiring worker hands its connections over before it exits).
        log = srv.log()
        n = len(re.findall(r"worker \d+: recycling after", log))
        m = len(re.findall(r"worker \d+ recycled after", log))
        return n > 0 and n == m and len(live_children(srv)) == 2 and log
    log = poll(settled)
    counts = [int(n) for n in re.findall(
        r"worker \d+: recycling after (\d+) requests \(max_requests\)",
        log or srv.log())]
    print("   recycled %d times after %r requests; %d worker pids seen" % (
        len(counts), counts, len(seen)))
    # NPINGS PINGs + probes (2 + k) over k recycled workers of at most 55
    # requests each and 2 live ones of at most 54: k >= 4.  (200 PINGs
    # gave only k >= 2 once the workers share the connections: it took
    # all of them landing on one worker, issue 11.)
    t.check(len(counts) >= 3, "want >= 3 'recycling after' lines, got %r" %
            counts)
    t.check(all(50 <= n <= 55 for n in counts), "recycled after %r "
            "requests, want 50..55 (max_requests 50 + <= 10%% jitter)" %
            counts)
    # The master's line as msgd(8) documents it (issue 4: "recycled
    # after"), with the same request counts as the workers' own lines.
    # (From 32423bd to b3cdbb0 it read "exited after R requests
    # (max_requests)", unlike the manual.)
    # "replaced already" when it had a connection to hand over: the
    # successor then started at the first.
    replaced = [int(n) for n in re.findall(
        r"worker \d+ recycled after (\d+) requests \(max_requests\); "
        r"(?:replacing it|replaced already)", srv.log())]
    t.check(sorted(replaced) == sorted(counts), "the master logged 'worker "
            "N recycled after R requests (max_requests); replacing it' (or "
            "'replaced already') for "
            "%r, the workers recycled after %r; its lines: %r" % (
                replaced, counts,
                [l for l in srv.log().splitlines() if "replacing" in l][:2]))
    kids = poll(lambda: len(live_children(srv)) == 2 and live_children(srv))
    # The workers alive now are seen too (sampling alone can miss the
    # last replacement).
    seen = set(seen) | set(kids or [])
    t.check(kids and set(kids) != first and len(seen) >= 2 + len(counts),
            "worker pids did not change: first %r, now %r, seen %r" % (
                sorted(first), kids, sorted(seen)))
    t.check("killed by signal" not in srv.log(), "a worker was killed")
    t.check(srv.ping_ok(), "PING at the end")


# ---------------------------------------------------------- scenario 8

def id_line(pid, field):
    v = proc_status(pid, field)
    return v.split() if v is not None else None


@t.case
def privilege_drop(t):
    if os.geteuid() != 0:
        print("SKIP: privilege drop needs root (running as uid %d)" %
              os.geteuid())
        return
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        print("SKIP: no user nobody")
        return
    uid, gid = str(nobody.pw_uid), str(nobody.pw_gid)
    srv = t.server({"workers": 2, "user": "nobody"})
    # One worker answered PING; the other may still be dropping its
    # privileges until the master says all are ready.
    t.check(srv.all_serving(), "the master never said every worker is ready")
    kids = live_children(srv)
    t.check(len(kids) == 2, "workers: %r" % kids)
    for pid in kids:
        t.check(id_line(pid, "Uid") == [uid] * 4, "worker %d Uid %r, want "
                "%s x4" % (pid, id_line(pid, "Uid"), uid))
        t.check(id_line(pid, "Gid") == [gid] * 4, "worker %d Gid %r, want "
                "%s x4" % (pid, id_line(pid, "Gid"), gid))
        t.check(proc_status(pid, "Groups") == "", "worker %d Groups %r, "
                "want none" % (pid, proc_status(pid, "Groups")))
        t.check(proc_status(pid, "NoNewPrivs") == "1", "worker %d "
                "NoNewPrivs %r" % (pid, proc_status(pid, "NoNewPrivs")))
        t.check(proc_status(pid, "CapEff") == "0000000000000000",
                "worker %d CapEff %r" % (pid, proc_status(pid, "CapEff")))
    t.check(id_line(srv.pid, "Uid") == ["0"] * 4, "master Uid %r, want "
            "root" % id_line(srv.pid, "Uid"))
    with srv.client() as c:
        for i in range(10):
            f = c.request(Op.ECHO, b"as nobody %d" % i, request_id=i + 1)
            t.check_response(f, "ECHO served by a nobody worker", Op.ECHO,
                             rid=i + 1, value=b"as nobody %d" % i)
    st = os.stat(srv.sock_path)
    t.check(stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == nobody.pw_gid,
            "unix socket mode %o group %d, want 0660 and group %d" % (
                stat.S_IMODE(st.st_mode), st.st_gid, nobody.pw_gid))


# ---------------------------------------------------------- scenario 9

@t.case
def msgctl_control(t):
    srv = t.server({"workers": 2})
    pidfile = os.path.join(srv.dir, "msgd.pid")
    rc, out, err, _ = ctl(srv, "status", timeout=30)
    t.check(rc == 0 and ("running as pid %d" % srv.pid) in out,
            "status while running: exit %d, %r %r" % (rc, out, err))
    # A second msgd on the same pidfile (its own socket and stats file):
    # refused before it binds anything.
    other_sock = os.path.join(srv.dir, "other.sock")
    conf2 = os.path.join(srv.dir, "second.conf")
    with open(conf2, "w") as f:
        f.write(conf_text({"listen": ["unix:" + other_sock], "workers": 1,
                           "pidfile": pidfile,
                           "stats_file": os.path.join(srv.dir, "stats2"),
                           "allow_root": os.geteuid() == 0}))
    rc, out, err, _ = run([MSGD, "-f", "-c", conf2], timeout=10)
    t.check(rc == 1 and ("already running as pid %d" % srv.pid) in err,
            "second msgd with the same pidfile: exit %d, stderr %r" % (
                rc, err))
    t.check(not os.path.exists(other_sock), "the refused msgd left %s" %
            other_sock)
    t.check(srv.alive() and srv.ping_ok(), "the first msgd after the "
            "refused second one")
    with open(pidfile) as f:
        t.check(f.read().strip() == str(srv.pid), "pidfile changed by the "
                "refused msgd")
    old = srv.pid
    rc, out, err, secs = ctl(srv, "stop", timeout=30)
    t.check(rc == 0 and ("pid %d) stopped" % old) in out,
            "stop: exit %d, %r %r" % (rc, out, err))
    t.check(srv.wait(5) == 0, "master after msgctl stop: %r" %
            srv.returncode)
    t.check(not os.path.exists(pidfile), "pidfile left after stop")
    rc, out, err, _ = ctl(srv, "status", timeout=30)
    t.check(rc == 3 and "not running" in out, "status after stop: exit %d,"
            " %r %r" % (rc, out, err))
    # A stale pidfile: a pid that has exited, nobody holding the lock.
    p = subprocess.Popen(["true"])
    p.wait()
    with open(pidfile, "w") as f:
        f.write("%d\n" % p.pid)
    rc, out, err, _ = ctl(srv, "status", timeout=30)
    t.check(rc == 3, "status with a stale pidfile: exit %d, %r %r" % (
        rc, out, err))
    srv.start()
    t.check(srv.alive() and srv.pid != old, "no new start over a stale "
            "pidfile")
    rc, out, err, _ = ctl(srv, "status", timeout=30)
    t.check(rc == 0 and ("running as pid %d" % srv.pid) in out,
            "status after the restart: exit %d, %r %r" % (rc, out, err))
    with open(pidfile) as f:
        t.check(f.read().strip() == str(srv.pid), "pidfile does not hold "
                "the new pid")


t.run()

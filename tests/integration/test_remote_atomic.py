"""test_remote_atomic: a PUT is atomic even when msgd is killed with -9.

20 rounds on one files dir: a 4 MiB PUT (content A and B alternately,
random bytes, over a raw socket in a thread) while the whole msgd -- master
and every worker -- gets SIGKILL at a random moment of the PUT (the master
is stopped first so it cannot respawn a worker in between); msgd is started
again on the same files dir, and then:
- the file is byte for byte the old content or the new one, never torn;
- if the PUT had been answered OK before the kill, it is the new one;
- no temporary file (".tmp.*") is left in the directory;
- GET answers the same bytes as the disk holds.
"""
import os
import random
import signal
import socket
import threading
import time

from harness import Op, St, Suite, encode, read_frame, spool_entries

t = Suite("test_remote_atomic")

SIZE = 4 << 20
ROUNDS = 20
NAME = b"big.bin"


def kill_all(srv):
    """SIGKILL the master and its workers, no graceful anything."""
    master = srv.pid
    try:
        os.kill(master, signal.SIGSTOP)     # no respawn meanwhile
    except OSError:
        pass
    for pid, _ in srv.workers():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        os.kill(master, signal.SIGKILL)
    except OSError:
        pass
    srv.wait(5.0)
    # The workers are gone too (they were SIGKILLed, not told to drain).
    srv.wait_orphans_gone(5)


def put_thread(addr, data, result):
    """Send one PUT on a fresh connection; result["status"] gets the
    answer's status, or None if the connection died first."""
    result["status"] = None
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(addr)
        try:
            s.sendall(encode(Op.PUT, data, NAME, 1))
            result["sent"] = True
            f = read_frame(s, timeout=5)
            result["status"] = f.status
        finally:
            s.close()
    except (OSError, EOFError, TimeoutError, ValueError):
        pass


@t.case
def kill9_during_put(t):
    srv = t.server({"workers": 1}, health=False, start=False)
    files_dir = os.path.join(srv.dir, "files")
    srv.settings["files"] = {"enabled": True, "dir": files_dir,
                             "max_size": SIZE}
    srv.start()
    rng = random.Random()
    contents = [os.urandom(SIZE), os.urandom(SIZE)]
    path = os.path.join(files_dir, NAME.decode())

    # The starting point, acknowledged: content A.  Time it to aim the
    # kills inside the PUT.
    with srv.client(timeout=10) as c:
        t0 = time.monotonic()
        f = c.request(Op.PUT, contents[0], NAME)
        put_time = time.monotonic() - t0
    t.check(f.status == St.OK, "initial PUT: %r" % f)
    current = 0
    outcomes = {"old": 0, "new": 0, "answered": 0}
    t_start = time.monotonic()
    for rnd in range(ROUNDS):
        new = 1 - current
        res = {}
        th = threading.Thread(target=put_thread,
                              args=(srv.sock_path, contents[new], res),
                              daemon=True)
        th.start()
        # Anywhere from the first bytes to a little past the answer.
        time.sleep(rng.uniform(0, put_time * 1.2))
        kill_all(srv)
        th.join(10)
        t.check(not th.is_alive(), "round %d: the PUT thread ended" % rnd)
        answered_ok = res.get("status") == St.OK

        srv.start()
        with open(path, "rb") as fp:
            disk = fp.read()
        if disk == contents[new]:
            outcomes["new"] += 1
            current = new
        elif disk == contents[1 - new]:
            outcomes["old"] += 1
            t.check(not answered_ok, "round %d: PUT answered OK but the "
                    "file has the old content after kill -9" % rnd)
        else:
            t.check(False, "round %d: torn file after kill -9: %d bytes, "
                    "matches neither old nor new" % (rnd, len(disk)))
            with open(path, "rb") as fp:
                disk = fp.read()
            current = 0 if disk == contents[0] else 1
        if answered_ok:
            outcomes["answered"] += 1
        tmp = [n for n in os.listdir(files_dir) if n.startswith(".tmp.")]
        t.check(not tmp, "round %d: temporary files left after the restart: "
                "%r" % (rnd, tmp))
        others = [n for n in spool_entries(files_dir) if n != NAME.decode()]
        t.check(not others, "round %d: unexpected entries: %r" % (rnd, others))
        with srv.client(timeout=10) as c:
            f = c.request(Op.GET, key=NAME)
        t.check(f.status == St.OK and f.value == disk,
                "round %d: GET answers what the disk holds (status %s, "
                "%d bytes)" % (rnd, St.name(f.status), len(f.value)))
        if time.monotonic() - t_start > 35:
            print("stopping after %d rounds: time budget" % (rnd + 1))
            break
    print("PUT takes %.1f ms; outcomes: %r" % (put_time * 1000, outcomes))


t.run()

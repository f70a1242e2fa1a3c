"""test_sandbox: the workers' capabilities and seccomp filter (issue 9,
case 8).

- status_nobody (root only): with user = "nobody", each worker's
  /proc/<pid>/status shows Seccomp 2, NoNewPrivs 1, CapBnd, CapEff,
  CapPrm and CapAmb all 0; its EXEC spawner has no filter but the same
  empty sets; a command run by EXEC has no filter (Seccomp 0), NoNewPrivs
  1, CapBnd 0: it does not inherit the worker's filter.
- status_no_user: without user, the workers have Seccomp 2 and NoNewPrivs
  1, and (when the master is root) CapBnd and CapEff 0.
- forbidden_call (root, x86_64): a worker that makes a system call its
  filter forbids is killed; the master logs the call's name
  (init_module) and respawns the position like any crashed worker, no
  faster than its young-death throttle (at once, then 1 s, then
  respawn_throttle, here 3 s, measured from the death seen through a
  pidfd to the new worker's start time), and keeps serving with the other
  worker throughout.
- foreign_sigsys (root): SIGSYS sent twice to every worker by a process
  running as the workers' user (nobody) is not a seccomp trap: the
  workers ignore it and keep serving (same pids), nothing is logged as a
  blocked call, the master keeps running.
- no_proc_files (root): msgd started without /proc (its own mount
  namespace, a tmpfs over /proc) stores PUTs through the spool's fallback
  (access, then named temporary files): every PUT stored, no worker died.

There is no trigger in msgd for the forbidden call, so nothing a client
or a local user could reach: the test makes the worker call init_module
itself, with ptrace (root only, like any ptrace of a worker that dropped
its privileges): it stops the worker in epoll_wait, points it back at the
system call instruction with another number in rax, and lets it go.
"""
import ctypes
import os
import platform
import re
import select
import signal
import time

from harness import (Op, St, Suite, live_children, why_not_nobody,
                     poll, proc_stat, proc_status, run)

t = Suite("test_sandbox")

ZERO = "0000000000000000"
NR_INIT_MODULE = 175        # x86_64
NR_EPOLL_WAITS = ("232", "281", "441")  # epoll_wait, _pwait, _pwait2


def spawner_of(worker):
    """The worker's EXEC spawner (its child named msgd: exec spawner)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid, "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                name = f.read()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == worker and name.startswith(b"msgd: exec spawner"):
            return int(pid)
    return None


def wait_all_serving(t, srv):
    """The harness returns once one worker answers; the filter goes on
    last in a worker's start-up, so wait for the master's "ready" (every
    worker answered its probe)."""
    return t.check(srv.all_serving(),
                   "the master never said every worker is ready")


def check_sandboxed(t, pid, what, caps=True):
    t.check(proc_status(pid, "Seccomp") == "2", "%s %d: Seccomp %r, want 2 "
            "(filter)" % (what, pid, proc_status(pid, "Seccomp")))
    t.check(proc_status(pid, "NoNewPrivs") == "1", "%s %d: NoNewPrivs %r" %
            (what, pid, proc_status(pid, "NoNewPrivs")))
    if caps:
        for f in ("CapBnd", "CapEff", "CapPrm", "CapAmb", "CapInh"):
            t.check(proc_status(pid, f) == ZERO, "%s %d: %s %r, want %s" %
                    (what, pid, f, proc_status(pid, f), ZERO))


def status_fields(text):
    return dict(l.split(":", 1) for l in text.splitlines() if ":" in l)


@t.case
def status_nobody(t):
    why = why_not_nobody()
    if why:
        print("SKIP: %s" % why)
        return
    srv = t.server({"workers": 2, "user": "nobody", "exec": {
        "enabled": True, "commands": {
            "status": ["/bin/cat", "/proc/self/status"]}}})
    wait_all_serving(t, srv)
    kids = live_children(srv)
    t.check(len(kids) == 2, "workers: %r" % kids)
    for pid in kids:
        check_sandboxed(t, pid, "worker")
        sp = spawner_of(pid)
        if t.check(sp is not None, "worker %d has no EXEC spawner" % pid):
            t.check(proc_status(sp, "Seccomp") == "0", "spawner %d: "
                    "Seccomp %r, want 0 (its commands must not inherit the "
                    "worker's filter)" % (sp, proc_status(sp, "Seccomp")))
            t.check(proc_status(sp, "NoNewPrivs") == "1" and
                    proc_status(sp, "CapBnd") == ZERO and
                    proc_status(sp, "CapEff") == ZERO,
                    "spawner %d: NoNewPrivs %r CapBnd %r CapEff %r" % (
                        sp, proc_status(sp, "NoNewPrivs"),
                        proc_status(sp, "CapBnd"),
                        proc_status(sp, "CapEff")))
    with srv.client() as c:
        f = c.request(Op.EXEC, key=b"status", request_id=1)
        ok = t.check(f.status == St.OK and f.key == b"0", "EXEC cat "
                     "/proc/self/status: %r" % f)
        if ok:
            n = int.from_bytes(f.value[:4], "big")
            st = status_fields(f.value[4:4 + n].decode())
            got = {k: st.get(k, "").strip() for k in
                   ("Seccomp", "NoNewPrivs", "CapBnd", "CapEff")}
            t.check(got == {"Seccomp": "0", "NoNewPrivs": "1",
                            "CapBnd": ZERO, "CapEff": ZERO},
                    "a command's status: %r" % got)


@t.case
def status_no_user(t):
    srv = t.server({"workers": 2})
    wait_all_serving(t, srv)
    kids = live_children(srv)
    t.check(len(kids) == 2, "workers: %r" % kids)
    for pid in kids:
        check_sandboxed(t, pid, "worker", caps=os.geteuid() == 0)
    t.check(srv.ping_ok(), "PING")


# ------------------------------------------------------------ ptrace

class Regs(ctypes.Structure):
    """struct user_regs_struct, x86_64."""
    _fields_ = [(n, ctypes.c_ulonglong) for n in (
        "r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi "
        "orig_rax rip cs eflags rsp ss fs_base gs_base ds es fs gs").split()]


PTRACE_PEEKTEXT, PTRACE_GETREGS, PTRACE_SETREGS = 1, 12, 13
PTRACE_ATTACH, PTRACE_DETACH = 16, 17


def inject_syscall(pid, nr):
    """Make pid, stopped in a system call, call nr(0, 0, 0) when it goes
    on.  Returns None, or why it could not (it is left running)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                            ctypes.c_void_p]
    if libc.ptrace(PTRACE_ATTACH, pid, None, None) != 0:
        return "PTRACE_ATTACH: %s" % os.strerror(ctypes.get_errno())
    why = None
    try:
        os.waitpid(pid, 0)  # its attach stop
        regs = Regs()
        if libc.ptrace(PTRACE_GETREGS, pid, None, ctypes.byref(regs)) != 0:
            return "PTRACE_GETREGS: %s" % os.strerror(ctypes.get_errno())
        if regs.orig_rax >= 1 << 63:
            return "not stopped in a system call"
        ctypes.set_errno(0)
        word = libc.ptrace(PTRACE_PEEKTEXT, pid,
                           ctypes.c_void_p(regs.rip - 2), None)
        if ctypes.get_errno() != 0 or word & 0xffff != 0x050f:
            return "no syscall instruction before rip"
        # Run the instruction again with our number: orig_rax = -1 keeps
        # the kernel from restarting the interrupted call instead.
        regs.rip -= 2
        regs.rax = nr
        regs.orig_rax = (1 << 64) - 1
        regs.rdi = regs.rsi = regs.rdx = regs.r10 = regs.r8 = regs.r9 = 0
        if libc.ptrace(PTRACE_SETREGS, pid, None, ctypes.byref(regs)) != 0:
            why = "PTRACE_SETREGS: %s" % os.strerror(ctypes.get_errno())
        return why
    finally:
        libc.ptrace(PTRACE_DETACH, pid, None, None)


def idle_sandboxed(pid):
    """pid has its filter and waits in its event loop (x86_64 numbers):
    a call injected now is refused by the filter, not by the kernel."""
    try:
        with open("/proc/%d/syscall" % pid) as f:
            nr = f.read().split(" ", 1)[0]
    except OSError:
        return False
    return proc_status(pid, "Seccomp") == "2" and nr in NR_EPOLL_WAITS


def boot_seconds(ticks):
    """A /proc starttime (clock ticks since boot) in CLOCK_BOOTTIME s."""
    return ticks / os.sysconf("SC_CLK_TCK")


@t.case
def forbidden_call(t):
    if os.geteuid() != 0:
        print("SKIP: ptrace of a worker needs root (euid %d)" % os.geteuid())
        return
    if platform.machine() != "x86_64":
        print("SKIP: the injection is written for x86_64, not %s" %
              platform.machine())
        return
    throttle = 3
    settings = {"workers": 2, "respawn_throttle": throttle}
    if why_not_nobody() is None:
        settings["user"] = "nobody"
    srv = t.server(settings, health=False)
    wait_all_serving(t, srv)
    kids = live_children(srv)
    if not t.check(len(kids) == 2, "workers: %r" % kids):
        return
    victim, other = kids
    retry = ("not stopped in a system call",
             "no syscall instruction before rip")
    # Young deaths in a row: respawned at once, after 1 s, then at most
    # once every respawn_throttle.
    allowed = (0.0, 1.0, float(throttle))
    for n, delay in enumerate(allowed, 1):
        if not t.check(poll(lambda: idle_sandboxed(victim)), "worker %d "
                       "never waited in its loop with its filter" % victim):
            return
        pidfd = os.pidfd_open(victim)
        try:
            for _ in range(20):     # an idle worker sits in epoll_wait
                why = inject_syscall(victim, NR_INIT_MODULE)
                if why not in retry:
                    break
            if not t.check(why is None, "cannot make worker %d call "
                           "init_module: %s" % (victim, why)):
                return
            # Readable when it has died: the time of death, give or take
            # our wake-up.
            dead = select.select([pidfd], [], [], 5.0)[0]
            died_at = time.clock_gettime(time.CLOCK_BOOTTIME)
        finally:
            os.close(pidfd)
        if not t.check(dead, "worker %d still runs after calling "
                       "init_module (call %d)" % (victim, n)):
            return
        pat = re.compile(r"worker \d+ \(pid %d\) was killed by its seccomp "
                         r"filter: blocked syscall init_module \(%d\)" % (
                             victim, NR_INIT_MODULE))
        t.check(poll(lambda: pat.search(srv.log())), "the master did not "
                "name the call of worker %d; log:\n%s" % (victim, srv.log()))
        new = poll(lambda: [p for p in live_children(srv)
                            if p not in (victim, other)], timeout=delay + 5)
        if not t.check(len(new) == 1, "death %d: the position was not "
                       "respawned within %.0f s: %r" % (
                           n, delay + 5, live_children(srv))):
            return
        st = proc_stat(new[0])
        if st is not None:
            gap = boot_seconds(st[2]) - died_at
            print("   death %d: respawned after %.2f s" % (n, gap))
            # A tick of starttime and our wake-up after the death.
            t.check(gap >= delay - 0.25, "death %d: respawned %.2f s after "
                    "it, the throttle allows %.0f s" % (n, gap, delay))
        t.check(other in live_children(srv) and srv.ping_ok(),
                "the other worker %d stopped serving" % other)
        victim = new[0]
    t.check("seccomp: blocked syscall init_module (%d)" % NR_INIT_MODULE in
            srv.log(), "the worker did not log the call")
    t.check("died before serving a request 3 times in a row" in srv.log(),
            "the master did not say it throttles the position")
    t.check("not respawned" not in srv.log(), "the master gave up the "
            "position:\n%s" % srv.log())
    t.check(srv.log().count("killed by its seccomp filter") == len(allowed),
            "one report per kill, not a loop")
    t.check(sorted(live_children(srv)) == sorted([victim, other]),
            "workers now %r, want %r" % (live_children(srv),
                                         sorted([victim, other])))
    t.check(srv.alive() and srv.ping_ok(), "msgd serves")


def pending_sigsys(pid):
    """SIGSYS is pending for pid (thread or process), or pid is gone."""
    bit = 1 << (signal.SIGSYS - 1)
    masks = [proc_status(pid, f) for f in ("SigPnd", "ShdPnd")]
    return None in masks or any(int(m, 16) & bit for m in masks)


def kill_as_nobody(pids, sig):
    """Send sig to pids from a process running as nobody: None, or why
    it failed."""
    import pwd
    nobody = pwd.getpwnam("nobody")
    rc, _, err, _ = run(["setpriv", "--reuid=%d" % nobody.pw_uid,
                         "--regid=%d" % nobody.pw_gid, "--clear-groups",
                         "--", "kill", "-s", str(int(sig))] +
                        [str(p) for p in pids])
    return None if rc == 0 else "kill exited %d: %s" % (rc, err.strip())


@t.case
def foreign_sigsys(t):
    why = why_not_nobody()
    if why:
        print("SKIP: %s" % why)
        return
    srv = t.server({"workers": 2, "user": "nobody"})
    wait_all_serving(t, srv)
    kids = live_children(srv)
    if not t.check(len(kids) == 2, "workers: %r" % kids):
        return
    # Twice: a handler that reset itself would die of the second one.
    for n in (1, 2):
        why = kill_as_nobody(kids, signal.SIGSYS)
        t.check(why is None, "nobody could not signal the workers %r: %s" %
                (kids, why))
        t.check(poll(lambda: not any(pending_sigsys(p) for p in kids)),
                "SIGSYS %d still pending, or a worker gone: %r" % (n, kids))
        # Handled; a worker that took it for a trap dies within moments.
        t.check(not poll(lambda: live_children(srv) != kids or
                         "blocked syscall" in srv.log(), timeout=1.0),
                "after SIGSYS %d: workers %r (were %r); log:\n%s" % (
                    n, live_children(srv), kids, srv.log()))
    t.check("killed by SIGSYS" not in srv.log() and
            "seccomp filter" not in srv.log(), "the master took a kill for "
            "a trap:\n%s" % srv.log())
    t.check(srv.alive() and srv.ping_ok(), "msgd stopped serving")
    for p in kids:
        t.check(proc_status(p, "Seccomp") == "2", "worker %d lost its "
                "filter" % p)


@t.case
def no_proc_files(t):
    if os.geteuid() != 0:
        print("SKIP: a mount namespace needs root (euid %d)" % os.geteuid())
        return
    settings = {"workers": 2}
    if why_not_nobody() is None:
        settings["user"] = "nobody"
    srv = t.server(settings, start=False)
    os.chmod(srv.dir, 0o755)    # the workers' user reaches files/
    files = os.path.join(srv.dir, "files")
    srv.settings["files"] = {"enabled": True, "dir": files}
    srv.write_conf()
    # The server's own mount namespace, /proc hidden by a tmpfs; the test
    # reads its /proc from ours, which still has it.
    srv.spawn(prefix=["unshare", "-m", "--", "sh", "-c",
                      'mount -t tmpfs none /proc && exec "$0" "$@"'])
    srv.wait_ready()
    wait_all_serving(t, srv)
    kids = live_children(srv)
    if not t.check(len(kids) == 2, "workers: %r" % kids):
        return
    t.check(not os.path.exists("/proc/%d/root/proc/self" % srv.pid),
            "the server still sees /proc")
    names = [b"np%d" % i for i in range(4)]
    for name in names:   # a connection each: both workers get some
        with srv.client() as c:
            f = c.request(Op.PUT, b"data of " + name, key=name)
            t.check_response(f, "PUT %r without /proc" % name, Op.PUT)
    for name in names:
        path = os.path.join(files, name.decode())
        t.check(os.path.isfile(path) and
                open(path, "rb").read() == b"data of " + name,
                "%s not stored: %r" % (path, sorted(os.listdir(files))))
    t.check(live_children(srv) == kids, "workers now %r, were %r" % (
        live_children(srv), kids))
    t.check("blocked syscall" not in srv.log(), "a worker hit its filter:"
            "\n%s" % srv.log())
    t.check(srv.alive() and srv.ping_ok(), "msgd serves")


t.run()

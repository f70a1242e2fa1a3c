"""test_sandbox: the workers' capabilities and seccomp filter (issue 9,
case 8).

- status_nobody (root only): with user = "nobody", each worker's
  /proc/<pid>/status shows Seccomp 2, NoNewPrivs 1, CapBnd, CapEff,
  CapPrm and CapAmb all 0; its EXEC spawner has no filter but the same
  empty sets; a command run by EXEC has no filter (Seccomp 0), NoNewPrivs
  1, CapBnd 0: it does not inherit the worker's filter.
- status_no_user: without user, the workers have Seccomp 2 and NoNewPrivs
  1, and (when the master is root) CapBnd and CapEff 0.
- seccomp_off: started with MSGD_SECCOMP=off in its environment (for
  valgrind, bench/profile), msgd's workers have no filter (Seccomp 0)
  but NoNewPrivs 1 and, as root, no capabilities; worker 0 logs a
  warning saying so, once; the workers serve.
- no_fork (root, x86_64): a worker made to call clone3 gets ENOSYS and
  serves on; made to call clone with fork's flags (no CLONE_THREAD) it is
  killed by its filter and the master names the call.
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

- procmem_denied (root, x86_64, user = "nobody"): a worker opening
  /proc/<pid>/mem read-write of its EXEC command (a sleep of the same
  user) or of its spawner gets EACCES: its Landlock domain keeps it from
  ptrace-access to processes outside (without it: a descriptor, and the
  worker could write code into an unfiltered process).  The worker goes
  on serving.

- same_user: the master runs as the workers' user (systemd's
  User=msgd, no `user` setting; as root the test runs it as nobody): the
  stats file is mode 0440 and a process of that user cannot open it
  read-write by its path (it could with 0640 and write over the
  header); (root, x86_64) a worker opening /proc/<pid>/mem read-write of
  its master or its spawner, both of its user and dumpable, gets EACCES.

There is no trigger in msgd for the forbidden call (nor for the open), so nothing a client
or a local user could reach: the test makes the worker call init_module
itself, with ptrace (root only, like any ptrace of a worker that dropped
its privileges): it stops the worker in epoll_wait, points it back at the
system call instruction with another number in rax, and lets it go (for
the open: with the path on its stack, until the call returns, then back
into epoll_wait).
"""
import ctypes
import errno
import os
import platform
import pwd
import re
import select
import signal
import time

from harness import (MSGD, Op, St, Suite, command_children, live_children,
                     nobody_cannot_use, poll, proc_stat, proc_status, run,
                     sanitized, why_not_nobody)

t = Suite("test_sandbox")

ZERO = "0000000000000000"
NR_INIT_MODULE = 175        # x86_64
NR_EPOLL_WAITS = ("232", "281", "441")  # epoll_wait, _pwait, _pwait2
NR_OPENAT = 257             # x86_64
NR_CLONE, NR_CLONE3 = 56, 435   # x86_64
SIGCHLD_NR, ENOSYS_NR = 17, 38
AT_FDCWD = -100


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


@t.case
def seccomp_off(t):
    srv = t.server({"workers": 2}, start=False)
    srv.write_conf()
    srv.spawn(prefix=["env", "MSGD_SECCOMP=off"])
    srv.wait_ready()
    wait_all_serving(t, srv)
    kids = live_children(srv)
    t.check(len(kids) == 2, "workers: %r" % kids)
    for pid in kids:
        t.check(proc_status(pid, "Seccomp") == "0", "worker %d: Seccomp "
                "%r, want 0 (MSGD_SECCOMP=off)" % (
                    pid, proc_status(pid, "Seccomp")))
        t.check(proc_status(pid, "NoNewPrivs") == "1", "worker %d: "
                "NoNewPrivs %r" % (pid, proc_status(pid, "NoNewPrivs")))
        if os.geteuid() == 0:
            t.check(proc_status(pid, "CapEff") == ZERO, "worker %d: "
                    "CapEff %r" % (pid, proc_status(pid, "CapEff")))
    said = srv.log().count("MSGD_SECCOMP=off: workers run without")
    t.check(said == 1, "the warning was logged %d times, want 1" % said)
    t.check(srv.ping_ok(), "PING")


# ------------------------------------------------------------ ptrace

class Regs(ctypes.Structure):
    """struct user_regs_struct, x86_64."""
    _fields_ = [(n, ctypes.c_ulonglong) for n in (
        "r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi "
        "orig_rax rip cs eflags rsp ss fs_base gs_base ds es fs gs").split()]


PTRACE_PEEKTEXT, PTRACE_POKEDATA, PTRACE_GETREGS, PTRACE_SETREGS = 1, 5, 12, 13
PTRACE_ATTACH, PTRACE_DETACH, PTRACE_SYSCALL = 16, 17, 24
PTRACE_SETOPTIONS, PTRACE_O_TRACESYSGOOD = 0x4200, 1
RETRY = ("not stopped in a system call", "no syscall instruction before rip")


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                            ctypes.c_void_p]
    return libc


def _stack_room(pid, rsp, n):
    """An address n bytes long well below rsp inside pid's stack mapping
    (the red zone and what the call may use left alone), or None."""
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if lo <= rsp < hi:
                addr = (rsp - 4096 - n) & ~15
                return addr if addr >= lo else None
    return None


def _wait_syscall_stop(libc, pid):
    """Resume pid to its next system call stop (entry or exit); signals
    that come meanwhile are passed on.  False if it did not get there."""
    sig = 0
    for _ in range(50):
        if libc.ptrace(PTRACE_SYSCALL, pid, None, ctypes.c_void_p(sig)) != 0:
            return False
        _, status = os.waitpid(pid, 0)
        if not os.WIFSTOPPED(status):
            return False
        if os.WSTOPSIG(status) == signal.SIGTRAP | 0x80:
            return True
        sig = os.WSTOPSIG(status)
    return False


def inject_syscall(pid, nr, args=(), data=None):
    """Make pid, stopped in a system call, call nr(*args) (zeros for
    the rest) when it goes on.  data: bytes put on pid's stack first, its
    address passed for each arg that is None.  With data, wait for the
    call's return, put pid back into the call it was in, and return
    (None, return value); else (None, None) and pid runs the call.  Or
    (why it could not, None), pid left running."""
    libc = _libc()
    if libc.ptrace(PTRACE_ATTACH, pid, None, None) != 0:
        return "PTRACE_ATTACH: %s" % os.strerror(ctypes.get_errno()), None
    try:
        os.waitpid(pid, 0)  # its attach stop
        regs = Regs()
        if libc.ptrace(PTRACE_GETREGS, pid, None, ctypes.byref(regs)) != 0:
            return "PTRACE_GETREGS: %s" % os.strerror(
                ctypes.get_errno()), None
        if regs.orig_rax >= 1 << 63:
            return RETRY[0], None
        ctypes.set_errno(0)
        word = libc.ptrace(PTRACE_PEEKTEXT, pid,
                           ctypes.c_void_p(regs.rip - 2), None)
        if ctypes.get_errno() != 0 or word & 0xffff != 0x050f:
            return RETRY[1], None
        saved = Regs.from_buffer_copy(regs)
        addr = 0
        if data is not None:
            addr = _stack_room(pid, regs.rsp, len(data) + 8)
            if addr is None:
                return "no room on the stack", None
            padded = data + b"\0" * (8 - len(data) % 8)
            for i in range(0, len(padded), 8):
                if libc.ptrace(PTRACE_POKEDATA, pid,
                               ctypes.c_void_p(addr + i), ctypes.c_void_p(
                                   int.from_bytes(padded[i:i + 8],
                                                  "little"))) != 0:
                    return "PTRACE_POKEDATA: %s" % os.strerror(
                        ctypes.get_errno()), None
        # Run the instruction again with our number: orig_rax = -1 keeps
        # the kernel from restarting the interrupted call instead.
        vals = [(addr if a is None else a) & ((1 << 64) - 1) for a in args]
        vals += [0] * (6 - len(vals))
        regs.rip -= 2
        regs.rax = nr
        regs.orig_rax = (1 << 64) - 1
        (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9) = vals
        if libc.ptrace(PTRACE_SETREGS, pid, None, ctypes.byref(regs)) != 0:
            return "PTRACE_SETREGS: %s" % os.strerror(
                ctypes.get_errno()), None
        if data is None:
            return None, None
        libc.ptrace(PTRACE_SETOPTIONS, pid, None,
                    ctypes.c_void_p(PTRACE_O_TRACESYSGOOD))
        if not (_wait_syscall_stop(libc, pid) and
                _wait_syscall_stop(libc, pid)):
            return "no system call stops", None
        if libc.ptrace(PTRACE_GETREGS, pid, None, ctypes.byref(regs)) != 0:
            return "PTRACE_GETREGS: %s" % os.strerror(
                ctypes.get_errno()), None
        rv = ctypes.c_longlong(regs.rax).value
        # Back into the call it was in, with its own arguments.
        saved.rip -= 2
        saved.rax = saved.orig_rax
        saved.orig_rax = (1 << 64) - 1
        if libc.ptrace(PTRACE_SETREGS, pid, None, ctypes.byref(saved)) != 0:
            return "PTRACE_SETREGS: %s" % os.strerror(
                ctypes.get_errno()), None
        return None, rv
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


def blocked_in_syscall(pid):
    """pid sleeps in a system call (/proc/<pid>/syscall has its number,
    not "running")."""
    try:
        with open("/proc/%d/syscall" % pid) as f:
            return f.read().split()[0].isdigit()
    except (OSError, IndexError):
        return False


def inject_retrying(pid, nr, args=(), data=None):
    """inject_syscall once pid sleeps in a system call (an idle worker
    sits in epoll_wait; it may need the CPU to get back there after a
    miss), until it finds it there (bounded)."""
    for _ in range(20):
        poll(lambda: blocked_in_syscall(pid), timeout=1.0)
        why, rv = inject_syscall(pid, nr, args, data)
        if why not in RETRY:
            break
    return why, rv


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
    # Young deaths in a row: respawned at once, after 1 s, then at most
    # once every respawn_throttle.
    allowed = (0.0, 1.0, float(throttle))
    for n, delay in enumerate(allowed, 1):
        if not t.check(poll(lambda: idle_sandboxed(victim)), "worker %d "
                       "never waited in its loop with its filter" % victim):
            return
        pidfd = os.pidfd_open(victim)
        try:
            why, _ = inject_retrying(victim, NR_INIT_MODULE)
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


@t.case
def no_fork(t):
    """The file threads need clone: a worker may make threads, never a
    process.  Made to call clone3 (flags in memory, out of the filter's
    sight) it gets ENOSYS and serves on; made to call clone with fork's
    flags it is killed by its filter, and the master names the call."""
    why = injection_skip(False)
    if why is None and sanitized():
        why = "the sanitizer build's filter allows clone and clone3 (for " \
            "LeakSanitizer's stop-the-world)"
    if why:
        print("SKIP: %s" % why)
        return
    srv = t.server({"workers": 1}, health=False)
    wait_all_serving(t, srv)
    (victim,) = live_children(srv)
    if not t.check(poll(lambda: idle_sandboxed(victim)), "worker %d never "
                   "waited in its loop with its filter" % victim):
        return
    # struct clone_args, zeros: a plain fork if it were allowed.
    why, rv = inject_retrying(victim, NR_CLONE3, (None, 88), bytes(88))
    if t.check(why is None, "cannot make worker %d call clone3: %s" % (
            victim, why)):
        t.check(rv == -ENOSYS_NR, "clone3 in worker %d returned %r, want "
                "-ENOSYS" % (victim, rv))
    t.check(victim in live_children(srv) and srv.ping_ok(),
            "worker %d stopped serving after clone3" % victim)
    pidfd = os.pidfd_open(victim)
    try:
        why, _ = inject_retrying(victim, NR_CLONE, (SIGCHLD_NR,))
        if not t.check(why is None, "cannot make worker %d call clone: %s"
                       % (victim, why)):
            return
        dead = select.select([pidfd], [], [], 5.0)[0]
    finally:
        os.close(pidfd)
    t.check(dead, "worker %d still runs after clone(SIGCHLD)" % victim)
    pat = re.compile(r"worker \d+ \(pid %d\) was killed by its seccomp "
                     r"filter: blocked syscall clone \(%d\)" % (victim,
                                                                NR_CLONE))
    t.check(poll(lambda: pat.search(srv.log())), "the master did not name "
            "the call; log:\n%s" % srv.log())
    t.check(poll(lambda: srv.ping_ok(), timeout=5), "msgd does not serve "
            "after the worker's respawn")


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



def injection_skip(need_nobody):
    """Why the ptrace cases cannot run here, or None."""
    if os.geteuid() != 0:
        return "ptrace of a worker needs root (euid %d)" % os.geteuid()
    if platform.machine() != "x86_64":
        return "the injection is written for x86_64, not %s" % \
            platform.machine()
    if need_nobody:
        return nobody_cannot_use((MSGD, os.X_OK), ("/bin/sleep", os.X_OK))
    return None


def check_mem_refused(t, srv, worker, targets):
    """Make worker openat(/proc/<pid>/mem, O_RDWR) for each (what, pid)
    of targets: -EACCES each time, and the worker serves after."""
    for what, pid in targets:
        path = b"/proc/%d/mem\0" % pid
        why, rv = inject_retrying(worker, NR_OPENAT,
                                  (AT_FDCWD, None, os.O_RDWR), path)
        if not t.check(why is None, "cannot make worker %d call openat: "
                       "%s" % (worker, why)):
            return
        t.check(rv == -errno.EACCES, "the worker's openat(%s, O_RDWR) of "
                "its %s returned %d, want -EACCES (%d)" % (
                    path[:-1].decode(), what, rv, -errno.EACCES))
    t.check(live_children(srv) == [worker] and srv.ping_ok(),
            "the worker does not serve after the calls")


@t.case
def procmem_denied(t):
    why = injection_skip(True)
    if why:
        print("SKIP: %s" % why)
        return
    srv = t.server({"workers": 1, "user": "nobody", "exec": {
        "enabled": True, "timeout": 30, "commands": {
            "sleep": ["/bin/sleep", "30"]}}})
    wait_all_serving(t, srv)
    (worker,) = live_children(srv)
    spawner = spawner_of(worker)

    def sleeping():
        for pid, _ in command_children(worker):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if f.read().startswith(b"/bin/sleep\0"):
                        return pid
            except OSError:
                pass
        return None
    with srv.client() as c:
        c.send_frame(Op.EXEC, key=b"sleep")
        cmd = poll(sleeping)
        if not t.check(cmd is not None and spawner is not None,
                       "no command (%r) or spawner (%r)" % (cmd, spawner)):
            return
        check_mem_refused(t, srv, worker, (("command", cmd),
                                           ("spawner", spawner)))
        t.check(sleeping() == cmd, "the command is gone")



def as_user(uid, gid, fn):
    """fn() in a child with uid and gid; its result (an int)."""
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            code = fn()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def open_rw_errno(path):
    """0 if path opens read-write, else the errno (for a child's exit)."""
    try:
        os.close(os.open(path, os.O_RDWR))
        return 0
    except OSError as e:
        return e.errno


@t.case
def same_user(t):
    root = os.geteuid() == 0
    if root:
        why = why_not_nobody()
        if why:
            print("SKIP: %s" % why)
            return
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
    else:
        uid, gid = os.getuid(), os.getgid()
    srv = t.server({"workers": 1, "allow_root": None, "exec": {
        "enabled": True, "commands": {"noop": ["/bin/true"]}}}, start=False)
    os.chown(srv.dir, uid, gid)
    srv.write_conf()
    os.chmod(srv.conf_path, 0o644)
    srv.spawn(prefix=["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid,
                      "--clear-groups", "--"] if root else [])
    srv.wait_ready()
    wait_all_serving(t, srv)
    t.check(proc_status(srv.pid, "Uid").split()[0] == str(uid),
            "master Uid %r" % proc_status(srv.pid, "Uid"))
    seg = os.path.join(srv.dir, "stats")
    st = os.stat(seg)
    t.check(st.st_uid == uid and st.st_mode & 0o7777 == 0o440,
            "stats file uid %d mode %04o, want %d 0440" % (
                st.st_uid, st.st_mode & 0o7777, uid))
    err = as_user(uid, gid, lambda: open_rw_errno(seg)) if root else \
        open_rw_errno(seg)
    t.check(err == errno.EACCES, "the master's user opening the stats file "
            "read-write: %s, want EACCES" % (
                "it opened" if err == 0 else os.strerror(err)))
    why = injection_skip(False)
    if why:
        print("SKIP: /proc/<pid>/mem part: %s" % why)
        return
    (worker,) = live_children(srv)
    spawner = spawner_of(worker)
    if t.check(spawner is not None, "no spawner"):
        check_mem_refused(t, srv, worker, (("master", srv.pid),
                                           ("spawner", spawner)))


t.run()

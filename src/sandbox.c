/*
 * sandbox.c: empty capability sets and a seccomp filter for the workers.
 *
 * The filter is built with libseccomp rather than written as raw BPF: a
 * hand-written program has to check the architecture (and on x86_64 the
 * x32 numbers that share it), carry each architecture's system call
 * numbers, compare 64-bit arguments with 32-bit BPF words and keep its
 * jump offsets right by hand; each of those is a classic hole.
 * libseccomp does all of it, resolves names per architecture and is the
 * kernel maintainers' own library for the job.  The program the kernel
 * runs is the same.
 *
 * Landlock has no such library need: two raw system calls
 * (landlock_create_ruleset, landlock_restrict_self) with one structure
 * from the kernel's own header, nothing to get wrong per architecture.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <linux/capability.h>
#include <linux/sockios.h>
#if defined(__has_include)
#if __has_include(<linux/landlock.h>)
#include <linux/landlock.h>
#endif
#endif

#include <errno.h>
#include <seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZED	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZED	1
#endif
#endif

#define SANDBOX_NAMES	512	/* names kept for the SIGSYS handler */

/* si_code of a seccomp trap (<asm/siginfo.h>, which glibc lacks). */
#ifndef SYS_SECCOMP
#define SYS_SECCOMP	1
#endif

/*
 * What a serving worker calls (found with strace -f over the whole test
 * suite, not guessed): its event loop, sockets and descriptor hand-over,
 * the file spool, EXEC's pipes and pidfds (the commands themselves are
 * started by the unfiltered spawner, see exec.c), memory, time, signals,
 * the log file.  Names this architecture lacks are skipped.
 */
static const char *const sandbox_allow[] = {
	/*
	 * event loop, sockets, hand-over (SCM_RIGHTS), UDP batches, a look
	 * at a listener stepped back from (poll)
	 */
	"epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl", "accept4",
	"poll", "ppoll",
	"recvfrom", "recvmsg", "recvmmsg", "sendto", "sendmsg", "sendmmsg",
	"shutdown", "getsockopt", "setsockopt", "getsockname", "getpeername",
	"read", "readv", "write", "writev", "close", "fcntl", "lseek",
	/* large ECHOs: socket -> pipe -> socket (conn.c, pipes.c) */
	"splice",
	/*
	 * batched receives and sends (iob.c) on a ring made and confined
	 * to RECV, SEND and NOP before the filter: io_uring_setup and
	 * io_uring_register stay out, so no other ring can be made
	 */
	"io_uring_enter",
	/*
	 * file spool (O_TMPFILE + linkat through /proc/self/fd; without
	 * /proc, access says so and the spool falls back to named temporary
	 * files), log file
	 */
	"openat", "openat2", "fstat", "newfstatat", "statx", "getdents64",
	"access", "faccessat", "faccessat2",
	"renameat", "renameat2", "linkat", "unlinkat", "fsync", "fdatasync",
	"flock", "dup2", "dup3", "pread64", "pwrite64",
	/*
	 * the file operations' threads (started after the filter: clone
	 * below, CLONE_THREAD only) and their eventfd
	 */
	"set_robust_list", "rseq", "eventfd2",
	/* EXEC: pipes, the spawner's socket, pidfds, reaping, killing */
	"pipe2", "pidfd_open", "waitid", "wait4",
	/*
	 * memory (mmap and mprotect below, without PROT_EXEC); glibc's qsort
	 * asks sysinfo how much there is (LIST sorts its names)
	 */
	"munmap", "madvise", "brk", "sysinfo",
	/* time */
	"clock_gettime", "clock_getres", "gettimeofday", "time",
	"nanosleep", "clock_nanosleep", "timerfd_settime",
	/* signals, process; abort() is raise(SIGABRT), not a SIGSYS */
	"rt_sigprocmask", "rt_sigreturn", "restart_syscall", "getpid",
	"gettid", "getppid", "tgkill", "sched_yield", "futex", "getrandom",
	"exit", "exit_group",
	NULL
};

#ifdef SANDBOX_SANITIZED
/*
 * AddressSanitizer and LeakSanitizer at run time: stack traces, shadow
 * memory, and the leak check at exit, which stops the world with a clone
 * that ptraces us and lists /proc/self/task with getdents, and reports
 * (open, ioctl for isatty); a refused call kills that clone and leaves
 * the worker spinning in sched_yield.
 * Sanitizer builds only, which are for testing.
 */
static const char *const sandbox_allow_san[] = {
	"sigaltstack", "prctl", "clone", "clone3", "ptrace", "getdents",
	"readlink", "readlinkat", "rt_sigaction", "open", "ioctl", "mincore",
	"getrlimit", "prlimit64", "setrlimit", "sched_getaffinity",
	"process_vm_readv", "getuid", "geteuid", "getgid", "getegid",
	"personality", "arch_prctl", "set_robust_list", "rseq",
	"set_tid_address",
	NULL
};
#endif

static const char	*sandbox_names[SANDBOX_NAMES];
static int		 sandbox_note_fd = -1;

/*
 * Empty the capability bounding set and the ambient set.  Needs
 * CAP_SETPCAP, so it runs before setresuid.  Every capability up to the
 * running kernel's last (what /proc/sys/kernel/cap_last_cap says, which
 * systemd's ProcSubset=pid hides): PR_CAPBSET_READ fails with EINVAL
 * past it.  Returns 0, 1 when we lack CAP_SETPCAP and some capability is
 * still bounded (an unprivileged master: NO_NEW_PRIVS still keeps exec
 * from granting any), -1 on error.
 */
int
sandbox_bounding_drop(char *cause, size_t len)
{
	int	cap, in, kept = 0;

	for (cap = 0; cap < 64; cap++) {
		if ((in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0)) == -1)
			break;		/* EINVAL: past the last one */
		if (in == 0)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
			continue;
		if (errno != EPERM) {
			snprintf(cause, len, "prctl(PR_CAPBSET_DROP, %d): %s",
			    cap, strerror(errno));
			return (-1);
		}
		kept = 1;
	}
	/* EINVAL: a kernel before 4.3 has no ambient set. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 &&
	    errno != EINVAL) {
		snprintf(cause, len, "prctl(PR_CAP_AMBIENT_CLEAR_ALL): %s",
		    strerror(errno));
		return (-1);
	}
	if (kept)
		snprintf(cause, len, "no CAP_SETPCAP: the capability "
		    "bounding set is kept");
	return (kept);
}

/*
 * Empty the permitted, effective and inheritable sets: a worker that
 * stays uid 0 (allow_root) keeps root's file ownership, not its powers.
 * Without any, no capset: systemd's unit forbids it (@privileged).
 */
int
sandbox_caps_clear(char *cause, size_t len)
{
	struct __user_cap_header_struct	hdr;
	struct __user_cap_data_struct	data[2];

	memset(&hdr, 0, sizeof(hdr));
	memset(data, 0, sizeof(data));
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	if (syscall(SYS_capget, &hdr, data) == 0 && (data[0].permitted |
	    data[1].permitted | data[0].effective | data[1].effective |
	    data[0].inheritable | data[1].inheritable) == 0)
		return (0);
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) == -1) {
		snprintf(cause, len, "capset: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

/*
 * Put the worker in a Landlock domain of its own.  The point is less the
 * file rights than the domain itself: the kernel refuses ptrace access,
 * and so /proc/<pid>/mem, from inside a domain to any process outside it
 * (the spawner, the commands, the master, the other workers), whatever
 * the uids say; a worker that runs as the same user as its commands (or
 * its master) could otherwise write code into them.  Signals are not
 * scoped (LANDLOCK_SCOPE_SIGNAL would stop the worker killing its
 * commands' groups), nor abstract unix sockets.  The rights handled with
 * no rule granting them are denied everywhere: executing anything (the
 * commands are started by the spawner, outside the domain) and creating
 * device nodes, FIFOs, socket files or symlinks (the spool makes regular
 * files only).  Runs under NO_NEW_PRIVS (priv_drop set it), before the
 * seccomp filter, which therefore need not allow these calls.  Returns 0,
 * 1 when the kernel has no Landlock (cause says so; the filter still
 * applies), -1 on error.
 */
int
sandbox_landlock(char *cause, size_t len)
{
#if defined(LANDLOCK_ACCESS_FS_MAKE_SYM) && defined(SYS_landlock_create_ruleset)
	struct landlock_ruleset_attr	attr;
	int				abi, fd;

	abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	/*
	 * ENOSYS: no Landlock built in; EOPNOTSUPP: not enabled at boot;
	 * EPERM: a container's or service manager's system call filter
	 * forbids it (older systemd, 252, lists it in no group).
	 */
	if (abi < 1) {
		if (abi == -1 && errno != ENOSYS && errno != EOPNOTSUPP &&
		    errno != EPERM) {
			snprintf(cause, len, "landlock_create_ruleset: %s",
			    strerror(errno));
			return (-1);
		}
		snprintf(cause, len, "no Landlock here (%s): "
		    "workers are not kept from ptrace-access (/proc/<pid>/mem) "
		    "to processes of their user", abi == -1 ?
		    strerror(errno) : "ABI 0");
		return (1);
	}
	/* Every one of these is in ABI 1: nothing to mask for older ones. */
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = LANDLOCK_ACCESS_FS_EXECUTE |
	    LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
	    LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_SOCK |
	    LANDLOCK_ACCESS_FS_MAKE_SYM;
	if ((fd = (int)syscall(SYS_landlock_create_ruleset, &attr,
	    sizeof(attr), 0)) == -1) {
		snprintf(cause, len, "landlock_create_ruleset: %s",
		    strerror(errno));
		return (-1);
	}
	if (syscall(SYS_landlock_restrict_self, fd, 0) == -1) {
		snprintf(cause, len, "landlock_restrict_self: %s",
		    strerror(errno));
		close(fd);
		return (-1);
	}
	close(fd);
	return (0);
#else
	snprintf(cause, len, "built without Landlock (no <linux/landlock.h>): "
	    "workers are not kept from ptrace-access (/proc/<pid>/mem) to "
	    "processes of their user");
	return (1);
#endif
}

/* Append s to the line at *off (async-signal-safe). */
static void
sandbox_cat(char *line, size_t size, size_t *off, const char *s)
{
	while (*s != '\0' && *off + 1 < size)
		line[(*off)++] = *s++;
}

/*
 * The filter refused a call: say which on stderr (the log), tell the
 * master on the note pipe, and die of SIGSYS.  A SIGSYS that is not the
 * kernel's seccomp trap (kill or sigqueue from any process of the
 * workers' user) is ignored: otherwise it would pass for a refused call
 * and kill the worker.  Another process cannot forge si_code SYS_SECCOMP
 * (rt_sigqueueinfo refuses a code >= 0 for another process).  The handler
 * stays installed until a real trap; then SIG_DFL (rt_sigaction, allowed
 * for SIGSYS only) and the signal again, so the worker dies of SIGSYS,
 * which is what the master goes by.  Only async-signal-safe calls, all
 * allowed.
 */
static void
sandbox_sigsys(int sig, siginfo_t *si, void *uc)
{
	struct sigaction	 dfl;
	struct sandbox_note	 note;
	char			 line[160], num[16];
	const char		*name = NULL;
	size_t			 off = 0, n = 0;
	int32_t			 nr;
	uint32_t		 v;

	if (si == NULL || si->si_code != SYS_SECCOMP)
		return;
	nr = si->si_syscall;
	v = nr < 0 ? 0 : (uint32_t)nr;
	do {
		num[sizeof(num) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 && n < sizeof(num) - 1);
	if (nr >= 0 && nr < SANDBOX_NAMES)
		name = sandbox_names[nr];
	sandbox_cat(line, sizeof(line), &off, "seccomp: blocked syscall ");
	sandbox_cat(line, sizeof(line), &off, name != NULL ? name : "?");
	sandbox_cat(line, sizeof(line), &off, " (");
	while (n > 0 && off + 1 < sizeof(line))
		line[off++] = num[sizeof(num) - n--];
	sandbox_cat(line, sizeof(line), &off, ")\n");
	(void)write(STDERR_FILENO, line, off);
	if (sandbox_note_fd != -1) {
		note.magic = SANDBOX_NOTE_MAGIC;
		note.nr = nr;
		note.arch = si->si_arch;
		(void)write(sandbox_note_fd, &note, sizeof(note));
	}
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	(void)sigaction(SIGSYS, &dfl, NULL);
	(void)kill(getpid(), SIGSYS);	/* SA_NODEFER: not blocked here */
	_exit(128 + SIGSYS);
}

/* Allow each named call this architecture has. */
static int
sandbox_allow_names(scmp_filter_ctx ctx, const char *const *names,
    char *cause, size_t len)
{
	int	i, nr, rc;

	for (i = 0; names[i] != NULL; i++) {
		if ((nr = seccomp_syscall_resolve_name(names[i])) ==
		    __NR_SCMP_ERROR)
			continue;
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (rc < 0 && nr >= 0) {
			snprintf(cause, len, "seccomp_rule_add(%s): %s",
			    names[i], strerror(-rc));
			return (-1);
		}
	}
	return (0);
}

/*
 * Install the SIGSYS handler with note_fd, resolving the call names it
 * prints now: the handler cannot ask libseccomp (it allocates).
 */
static int
sandbox_trap_install(int note_fd, char *cause, size_t len)
{
	struct sigaction	 sa;
	char			*name;
	int			 i;

	for (i = 0; i < SANDBOX_NAMES; i++)
		if (sandbox_names[i] == NULL && (name =
		    seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, i)) !=
		    NULL)
			sandbox_names[i] = name;	/* kept for the handler */
	sandbox_note_fd = note_fd;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sandbox_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) == -1) {
		snprintf(cause, len, "sigaction(SIGSYS): %s", strerror(errno));
		return (-1);
	}
	return (0);
}

/*
 * The rules beyond the plain allow-list: socket (AF_UNIX only) and
 * connect for syslog, mremap and remap_file_pages failing with EPERM,
 * mmap and mprotect without PROT_EXEC, rt_sigaction for SIGSYS only,
 * ioctl for SIOCOUTQ only (a retiring worker's hand-overs not yet taken),
 * sched_setaffinity for the calling thread only (cpu_affinity: pid 0; a
 * worker never moves another process of its user).
 */
static int
sandbox_allow_args(scmp_filter_ctx ctx, char *cause, size_t len)
{
	int	r;

	/* glibc's syslog() reconnects to /dev/log after a syslogd restart. */
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_UNIX))) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(connect),
	    0)) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
	    SCMP_SYS(mremap), 0)) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
	    SCMP_SYS(remap_file_pages), 0)) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(rt_sigaction),
	    1, SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffULL, SIGSYS))) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
	    SCMP_SYS(sched_setaffinity), 1, SCMP_A0(SCMP_CMP_EQ, 0))) < 0) {
		snprintf(cause, len, "seccomp_rule_add: %s", strerror(-r));
		return (-1);
	}
#ifndef SANDBOX_SANITIZED	/* there ioctl is allowed whole */
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
	    SCMP_A1(SCMP_CMP_EQ, SIOCOUTQ))) < 0) {
		snprintf(cause, len, "seccomp_rule_add(ioctl): %s",
		    strerror(-r));
		return (-1);
	}
#endif
	return (0);
}

/*
 * Threads, not processes: clone only with CLONE_THREAD (what
 * pthread_create asks for); clone3 passes its flags in memory, where a
 * filter cannot look, so it fails with ENOSYS and glibc falls back to
 * clone.  (The sanitizers' run-time allows both as they are.)
 */
static int
sandbox_allow_threads(scmp_filter_ctx ctx, char *cause, size_t len)
{
#ifndef SANDBOX_SANITIZED
	int	r;

	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
	    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD))) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
	    SCMP_SYS(clone3), 0)) < 0) {
		snprintf(cause, len, "seccomp_rule_add(clone): %s",
		    strerror(-r));
		return (-1);
	}
#endif
	return (0);
}

/*
 * kill: its commands' groups (-pgid) and itself (SIGSYS), never -1.
 * The kernel reads the low 32 bits, so "not -1" is "some bit of
 * those is 0": one rule per bit (rules are alternatives).
 */
static int
sandbox_allow_kill(scmp_filter_ctx ctx, char *cause, size_t len)
{
	int	i, r = 0;

	for (i = 0; i < 32 && r >= 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
		    SCMP_A0(SCMP_CMP_MASKED_EQ, 1ULL << i, 0));
	if (r < 0) {
		snprintf(cause, len, "seccomp_rule_add(kill): %s",
		    strerror(-r));
		return (-1);
	}
	return (0);
}

/*
 * Install the worker's filter; note_fd (or -1) is where the SIGSYS
 * handler reports a refused call.  Calls not in the list trap; mremap
 * and remap_file_pages fail with EPERM instead (they could move a
 * mapping over the read-only stats slots of other workers; glibc's
 * realloc falls back to malloc+copy); mmap and mprotect may not make
 * memory executable; kill(-1), every process of the user, is refused;
 * rt_sigaction is for the SIGSYS handler's reset to SIG_DFL only.
 * Returns 0 with the filter on, 1 (cause says why) when MSGD_SECCOMP=off
 * in the environment leaves it off, -1 on failure.
 */
int
sandbox_filter(int note_fd, char *cause, size_t len)
{
	scmp_filter_ctx		 ctx;
	const char		*env;
	int			 rc = -1, r = 0;

	/*
	 * Valgrind makes system calls of its own on the worker's behalf, which
	 * the filter would trap: whoever starts the (root) master may turn the
	 * filter off for such a run, and is told so.
	 */
	if ((env = getenv("MSGD_SECCOMP")) != NULL && strcmp(env, "off") == 0) {
		snprintf(cause, len, "MSGD_SECCOMP=off: workers run without "
		    "their seccomp filter");
		return (1);
	}
	if (sandbox_trap_install(note_fd, cause, len) == -1)
		return (-1);
#ifdef SANDBOX_DISCOVER
	/*
	 * Development only (CFLAGS=-DSANDBOX_DISCOVER): calls outside the
	 * list are allowed and logged by the kernel (dmesg: audit type=1326,
	 * syscall=N), so one run of the test suite shows what is missing.
	 */
	if ((ctx = seccomp_init(SCMP_ACT_LOG)) == NULL) {
#else
	if ((ctx = seccomp_init(SCMP_ACT_TRAP)) == NULL) {
#endif
		snprintf(cause, len, "seccomp_init failed");
		return (-1);
	}
	/* Another architecture's calls (x32, i386) trap the same way. */
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_TRAP)) < 0) {
		snprintf(cause, len, "seccomp_attr_set: %s", strerror(-r));
		goto done;
	}
	if (sandbox_allow_names(ctx, sandbox_allow, cause, len) == -1)
		goto done;
#ifdef SANDBOX_SANITIZED
	if (sandbox_allow_names(ctx, sandbox_allow_san, cause, len) == -1)
		goto done;
#endif
	if (sandbox_allow_args(ctx, cause, len) == -1 ||
	    sandbox_allow_threads(ctx, cause, len) == -1 ||
	    sandbox_allow_kill(ctx, cause, len) == -1)
		goto done;
	if ((r = seccomp_load(ctx)) < 0) {
		snprintf(cause, len, "seccomp_load: %s", strerror(-r));
		goto done;
	}
	rc = 0;
done:
	seccomp_release(ctx);
	return (rc);
}

/* The name of system call nr of arch (libseccomp's table), into buf. */
const char *
sandbox_syscall_name(int32_t nr, uint32_t arch, char *buf, size_t len)
{
	char	*name;

	if (arch == 0)
		arch = SCMP_ARCH_NATIVE;
	name = seccomp_syscall_resolve_num_arch(arch, nr);
	snprintf(buf, len, "%s", name != NULL ? name : "unknown");
	free(name);
	return (buf);
}

/*
 * Enter the sandbox, last, once set up: from here on only what a serving
 * worker (or the exporter) needs.  Landlock first (its calls are not in
 * the filter): no ptrace-access, so no /proc/<pid>/mem, to the spawner,
 * the commands or the master.  What the kernel lacks is said as a warning
 * when loud (worker 0: once for all), else at debug level; a failure
 * exits with code (no respawn).  note_fd: as sandbox_filter.
 */
void
sandbox_enter(int note_fd, int loud, int code)
{
	char	cause[256];

	switch (sandbox_landlock(cause, sizeof(cause))) {
	case -1:
		log_warnx("cannot enforce the Landlock ruleset: %s", cause);
		exit(code);
	case 1:
		if (loud)
			log_warnx("%s", cause);
		else
			log_debug("%s", cause);
		break;
	}
	switch (sandbox_filter(note_fd, cause, sizeof(cause))) {
	case -1:
		log_warnx("cannot install the seccomp filter: %s", cause);
		exit(code);
	case 1:
		if (loud)
			log_warnx("%s", cause);
		break;
	}
}

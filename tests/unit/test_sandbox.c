/*
 * test_sandbox.c: the workers' seccomp filter, installed in a forked
 * child: allowed calls work, mremap and remap_file_pages fail with EPERM,
 * executable memory, a forbidden call (init_module) and kill(-1) kill with
 * SIGSYS after the note for the master is written; a SIGSYS sent with
 * kill (not the filter's trap) is ignored, twice; access and faccessat
 * (the spool without /proc) are allowed; rt_sigaction only for SIGSYS;
 * ioctl only for SIOCOUTQ (a retiring worker's hand-overs in flight);
 * sched_setaffinity only for the calling thread (pid 0), not for the
 * parent, another process of the same user.
 * And the workers' Landlock domain, applied in a forked child: no
 * /proc/<pid>/mem of a process outside it (the same child without the
 * domain opens it), while signals to that process's group, regular files
 * (named, renamed, removed; O_TMPFILE linked through /proc/self/fd) still
 * work, and exec, FIFOs and symlinks are refused.
 */
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <linux/io_uring.h>
#include <linux/sockios.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "sandbox.h"

/* What the child does under the filter; its exit code is the result. */
enum probe {
	PROBE_ALLOWED,
	PROBE_MREMAP,
	PROBE_EXEC_MEMORY,
	PROBE_INIT_MODULE,
	PROBE_KILL_ALL,
	PROBE_FOREIGN_SIGSYS,
	PROBE_ACCESS,
	PROBE_SIGACTION_OTHER,
	PROBE_IOCTL_OUTQ,
	PROBE_IOCTL_OTHER,
	PROBE_URING_ENTER,
	PROBE_URING_SETUP,
	PROBE_URING_REGISTER,
	PROBE_AFFINITY_SELF,
	PROBE_AFFINITY_OTHER
};

static cpu_set_t	probe_cpus;	/* the child's affinity, before */

static int
probe_run(enum probe what)
{
	struct io_uring_params	 up;
	void			*p, *q;
	int			 n;

	switch (what) {
	case PROBE_ALLOWED:
		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE |
		    MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED || mprotect(p, 4096, PROT_READ) == -1 ||
		    munmap(p, 4096) == -1 || getpid() <= 0)
			return (1);
		return (0);
	case PROBE_MREMAP:
		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE |
		    MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return (1);
		q = mremap(p, 4096, 8192, MREMAP_MAYMOVE);
		if (q != MAP_FAILED || errno != EPERM)
			return (2);
		if (syscall(SYS_remap_file_pages, p, 4096, 0, 0, 0) != -1 ||
		    errno != EPERM)
			return (3);
		return (0);
	case PROBE_EXEC_MEMORY:
		(void)mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE |
		    MAP_ANONYMOUS, -1, 0);
		return (0);	/* not reached */
	case PROBE_INIT_MODULE:
		(void)syscall(SYS_init_module, NULL, 0, "");
		return (0);	/* not reached */
	case PROBE_KILL_ALL:
		/* Signal 0 (a check only) to -1, both ways the top half may
		 * come: sign-extended and zero-extended. */
		if (kill(-0x7ffffff0, 0) != -1 || errno != ESRCH)
			return (1);
		(void)syscall(SYS_kill, 0xffffffffUL, 0);
		(void)syscall(SYS_kill, -1L, 0);
		return (0);	/* not reached */
	case PROBE_FOREIGN_SIGSYS:
		/* si_code SI_USER, as from another process of the user. */
		if (kill(getpid(), SIGSYS) == -1 || kill(getpid(), SIGSYS) == -1)
			return (1);
		return (0);
	case PROBE_ACCESS:
		if (access("/", X_OK) == -1 ||
		    faccessat(AT_FDCWD, "/", X_OK, 0) == -1)
			return (1);
		return (0);
	case PROBE_SIGACTION_OTHER:
		(void)signal(SIGUSR1, SIG_IGN);
		return (0);	/* not reached */
	case PROBE_IOCTL_OUTQ:
		/* Whatever stdin is, the call is made and returns. */
		(void)ioctl(STDIN_FILENO, SIOCOUTQ, &n);
		return (0);
	case PROBE_IOCTL_OTHER:
		(void)ioctl(STDIN_FILENO, FIONREAD, &n);
		return (0);	/* not reached */
	case PROBE_URING_ENTER:
		/* Allowed: it reaches the kernel, which finds no ring. */
		if (syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0) != -1 ||
		    errno != EBADF)
			return (1);
		return (0);
	case PROBE_URING_SETUP:
		memset(&up, 0, sizeof(up));
		(void)syscall(SYS_io_uring_setup, 4, &up);
		return (0);	/* not reached */
	case PROBE_URING_REGISTER:
		(void)syscall(SYS_io_uring_register, -1, 0, NULL, 0);
		return (0);	/* not reached */
	case PROBE_AFFINITY_SELF:
		/* The set the child has (read before the filter allows no
		 * sched_getaffinity): a change that changes nothing. */
		if (sched_setaffinity(0, sizeof(probe_cpus), &probe_cpus) == -1)
			return (1);
		return (0);
	case PROBE_AFFINITY_OTHER:
		(void)sched_setaffinity(getppid(), sizeof(probe_cpus),
		    &probe_cpus);
		return (0);	/* not reached */
	}
	return (9);
}

/* Fork, install the filter with a note pipe, probe; the wait status. */
static int
probe(enum probe what, struct sandbox_note *note, ssize_t *nlen)
{
	char	cause[256];
	pid_t	pid;
	int	status, pv[2];

	assert_int_equal(pipe2(pv, O_CLOEXEC | O_NONBLOCK), 0);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		close(pv[0]);
		if (sched_getaffinity(0, sizeof(probe_cpus), &probe_cpus) ==
		    -1 || sandbox_filter(pv[1], cause, sizeof(cause)) == -1)
			_exit(100);
		_exit(probe_run(what));
	}
	close(pv[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	memset(note, 0, sizeof(*note));
	*nlen = read(pv[0], note, sizeof(*note));
	close(pv[0]);
	return (status);
}

/* The probe ran under the filter to its end: exit 0, and no note. */
static void
probe_allowed(enum probe what)
{
	struct sandbox_note	note;
	ssize_t			n;
	int			st;

	st = probe(what, &note, &n);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_true(n <= 0);		/* no note */
}

/* The probe was killed by the filter (SIGSYS), its note naming nr. */
static void
probe_killed(enum probe what, long nr)
{
	struct sandbox_note	note;
	ssize_t			n;
	int			st;

	st = probe(what, &note, &n);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
	assert_int_equal(note.nr, nr);
}

static void
test_allowed(void **state)
{
	(void)state;
	probe_allowed(PROBE_ALLOWED);
}

static void
test_mremap_eperm(void **state)
{
	struct sandbox_note	note;
	ssize_t			n;
	int			st;

	(void)state;
	st = probe(PROBE_MREMAP, &note, &n);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void
test_exec_memory_killed(void **state)
{
	struct sandbox_note	note;
	ssize_t			n;
	int			st;

	(void)state;
	st = probe(PROBE_EXEC_MEMORY, &note, &n);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
	assert_int_equal(n, (ssize_t)sizeof(note));
	assert_int_equal(note.nr, SYS_mmap);
}

static void
test_forbidden_killed(void **state)
{
	struct sandbox_note	note;
	char			name[64];
	ssize_t			n;
	int			st;

	(void)state;
	st = probe(PROBE_INIT_MODULE, &note, &n);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
	assert_int_equal(n, (ssize_t)sizeof(note));
	assert_int_equal(note.magic, SANDBOX_NOTE_MAGIC);
	assert_int_equal(note.nr, SYS_init_module);
	assert_string_equal(sandbox_syscall_name(note.nr, note.arch, name,
	    sizeof(name)), "init_module");
}

static void
test_kill_all_killed(void **state)
{
	(void)state;
	probe_killed(PROBE_KILL_ALL, SYS_kill);
}

static void
test_foreign_sigsys_ignored(void **state)
{
	(void)state;
	probe_allowed(PROBE_FOREIGN_SIGSYS);
}

static void
test_access_allowed(void **state)
{
	struct sandbox_note	note;
	ssize_t			n;
	int			st;

	(void)state;
	st = probe(PROBE_ACCESS, &note, &n);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void
test_sigaction_other_killed(void **state)
{
	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	skip();		/* the sanitizers' run time may call rt_sigaction */
#endif
	probe_killed(PROBE_SIGACTION_OTHER, SYS_rt_sigaction);
}

static void
test_ioctl_outq_allowed(void **state)
{
	(void)state;
	probe_allowed(PROBE_IOCTL_OUTQ);
}

static void
test_ioctl_other_killed(void **state)
{
	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	skip();		/* the sanitizers' run time needs ioctl: allowed */
#endif
	probe_killed(PROBE_IOCTL_OTHER, SYS_ioctl);
}

/* cpu_affinity: a worker keeps its own loop to a CPU, nothing else. */
static void
test_affinity_self_allowed(void **state)
{
	(void)state;
	probe_allowed(PROBE_AFFINITY_SELF);
}

static void
test_affinity_other_killed(void **state)
{
	(void)state;
	probe_killed(PROBE_AFFINITY_OTHER, SYS_sched_setaffinity);
}

/* The batch's ring is used, never made or changed, under the filter. */
static void
test_uring_enter_allowed(void **state)
{
	(void)state;
	probe_allowed(PROBE_URING_ENTER);
}

static void
test_uring_setup_killed(void **state)
{
	(void)state;
	probe_killed(PROBE_URING_SETUP, SYS_io_uring_setup);
}

static void
test_uring_register_killed(void **state)
{
	(void)state;
	probe_killed(PROBE_URING_REGISTER, SYS_io_uring_register);
}

/* A process outside the domain, in a session of its own like a command. */
static pid_t
target_start(void)
{
	pid_t	pid;
	int	pv[2];
	char	c = 0;

	assert_int_equal(pipe2(pv, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		close(pv[0]);
		/* Gone with the test, even one that fails before killing it. */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		(void)setsid();
		/* Yama (ptrace_scope 1): let a sibling in, as a parent would. */
		(void)prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
		(void)write(pv[1], &c, 1);
		for (;;)
			pause();
	}
	close(pv[1]);
	assert_int_equal(read(pv[0], &c, 1), 1);
	close(pv[0]);
	return (pid);
}

/* Regular files in dir as the spool makes them; 0 or where it failed. */
static int
landlock_files(const char *dir)
{
	char	a[600], b[600], fdp[64];
	int	fd;

	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	if ((fd = open(a, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640)) ==
	    -1 || write(fd, "x", 1) != 1 || close(fd) == -1)
		return (20);
	if (rename(a, b) == -1 || unlink(b) == -1)
		return (21);
	if ((fd = open(dir, O_WRONLY | O_TMPFILE | O_CLOEXEC, 0640)) == -1)
		return (22);
	snprintf(fdp, sizeof(fdp), "/proc/self/fd/%d", fd);
	if (write(fd, "y", 1) != 1 || linkat(AT_FDCWD, fdp, AT_FDCWD, a,
	    AT_SYMLINK_FOLLOW) == -1 || rename(a, b) == -1 || unlink(b) == -1)
		return (23);
	close(fd);
	/* Handled rights with no rule: refused. */
	if (mkfifo(a, 0600) != -1 || errno != EACCES)
		return (24);
	if (symlink("/", a) != -1 || errno != EACCES)
		return (25);
	return (0);
}

/*
 * In a child: the domain (or not), then open target's memory read-write
 * (as a compromised worker would its command's), signal its group, make
 * files in dir, exec.  The exit code says what happened: 0 the open was
 * refused with EACCES or EPERM and all else as expected, 1 it succeeded.
 */
static int
landlock_probe(pid_t target, int apply, const char *dir)
{
	char	cause[256], path[64];
	char   *argv[] = { "true", NULL };
	pid_t	pid;
	int	status, fd, rc;

	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
			_exit(100);
		if (apply && (rc = sandbox_landlock(cause, sizeof(cause))) != 0)
			_exit(rc == 1 ? 77 : 101);
		snprintf(path, sizeof(path), "/proc/%d/mem", (int)target);
		if ((fd = open(path, O_RDWR | O_CLOEXEC)) != -1)
			_exit(1);
		if (errno != EACCES && errno != EPERM)
			_exit(2);
		/* Signals are not scoped: a worker kills its commands. */
		if (kill(-target, 0) == -1)
			_exit(3);
		if ((rc = landlock_files(dir)) != 0)
			_exit(rc);
		(void)execv("/bin/true", argv);
		_exit(errno == EACCES ? 0 : 4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return (WEXITSTATUS(status));
}

static void
test_landlock(void **state)
{
	char	dir[] = "/tmp/test_sandbox.XXXXXX", cause[256];
	pid_t	target, pid;
	int	rc, status;

	(void)state;
	assert_non_null(mkdtemp(dir));
	target = target_start();
	/* Without the domain: the memory of a process like ours opens. */
	rc = landlock_probe(target, 0, dir);
	assert_int_equal(rc, 1);
	rc = landlock_probe(target, 1, dir);
	if (rc == 77) {
		kill(target, SIGKILL);
		(void)waitpid(target, NULL, 0);
		rmdir(dir);
		skip();		/* no Landlock in this kernel */
	}
	assert_int_equal(rc, 0);
	/* And a signal from inside the domain does reach the group. */
	if ((pid = fork()) == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
		    sandbox_landlock(cause, sizeof(cause)) != 0)
			_exit(1);
		_exit(kill(-target, SIGKILL) == 0 ? 0 : 2);
	}
	assert_true(pid != -1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(waitpid(target, &status, 0), target);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowed),
		cmocka_unit_test(test_mremap_eperm),
		cmocka_unit_test(test_exec_memory_killed),
		cmocka_unit_test(test_forbidden_killed),
		cmocka_unit_test(test_kill_all_killed),
		cmocka_unit_test(test_foreign_sigsys_ignored),
		cmocka_unit_test(test_access_allowed),
		cmocka_unit_test(test_sigaction_other_killed),
		cmocka_unit_test(test_ioctl_outq_allowed),
		cmocka_unit_test(test_ioctl_other_killed),
		cmocka_unit_test(test_affinity_self_allowed),
		cmocka_unit_test(test_affinity_other_killed),
		cmocka_unit_test(test_uring_enter_allowed),
		cmocka_unit_test(test_uring_setup_killed),
		cmocka_unit_test(test_uring_register_killed),
		cmocka_unit_test(test_landlock),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

/*
 * util.c: helpers with no knowledge of msgd's protocol or processes.
 */
#include <sys/prctl.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static char	*title_base;	/* start of argv[] memory we may overwrite */
static size_t	 title_len;
/* The environment's strings, ours (read by nobody: kept, not leaked). */
static char	**title_env __attribute__((used));

const char *msgd_release = PACKAGE_VERSION;

/* Monotonic milliseconds: deadlines must not jump with the wall clock. */
uint64_t
mono_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

uint64_t
mono_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

/* Wall-clock microseconds since the epoch: start times people read. */
uint64_t
realtime_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

/* Write ts as RFC 3339 UTC with microseconds; returns the length or -1. */
int
fmt_rfc3339(char *buf, size_t len, const struct timespec *ts)
{
	struct tm	tm;
	int		n;

	if (len < RFC3339_LEN + 1 || gmtime_r(&ts->tv_sec, &tm) == NULL)
		return (-1);
	n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (long)(ts->tv_nsec / 1000));
	if (n != RFC3339_LEN)
		return (-1);
	return (n);
}

/*
 * Parse a whole decimal string into [min, max].  Unlike strtoull it rejects
 * signs, spaces, empty input and trailing garbage; *errstr says why.
 */
int
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    const char **errstr)
{
	uint64_t	v = 0;
	const char	*p;

	if (*s == '\0') {
		*errstr = "empty";
		return (-1);
	}
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9') {
			*errstr = "not a number";
			return (-1);
		}
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10) {
			*errstr = "too large";
			return (-1);
		}
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v < min) {
		*errstr = "too small";
		return (-1);
	}
	if (v > max) {
		*errstr = "too large";
		return (-1);
	}
	*out = v;
	*errstr = NULL;
	return (0);
}

/* Read exactly len bytes from a blocking fd; short only at EOF. */
ssize_t
read_full(int fd, void *buf, size_t len)
{
	size_t	off = 0;
	ssize_t	n;

	while (off < len) {
		n = read(fd, (char *)buf + off, len - off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	return ((ssize_t)off);
}

/* Write all of buf to a blocking fd, retrying on EINTR. */
ssize_t
write_full(int fd, const void *buf, size_t len)
{
	size_t	off = 0;
	ssize_t	n;

	while (off < len) {
		n = write(fd, (const char *)buf + off, len - off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		off += (size_t)n;
	}
	return ((ssize_t)off);
}

int
fd_nonblock(int fd)
{
	int	fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return (-1);
	return (fcntl(fd, F_SETFL, fl | O_NONBLOCK));
}

int
fd_cloexec(int fd)
{
	int	fl;

	if ((fl = fcntl(fd, F_GETFD)) == -1)
		return (-1);
	return (fcntl(fd, F_SETFD, fl | FD_CLOEXEC));
}

/* What must happen before this process forks a child (fork_child). */
static void	(*fork_hook)(void);

void
fork_prepare(void (*fn)(void))
{
	fork_hook = fn;
}

/*
 * fork(2), after what fork_prepare asked for: the master empties its
 * grave first (master_proc.c), so that no child inherits, and then makes
 * the last close of, a descriptor a worker sent.
 */
pid_t
fork_child(void)
{
	if (fork_hook != NULL)
		fork_hook();
	return (fork());
}

/*
 * This thread's affinity, in a set of *size bytes the caller frees with
 * CPU_FREE: grown until the kernel takes it (it refuses a set smaller than
 * its CPU count), so that a machine with more than CPU_SETSIZE CPUs is
 * read whole.  NULL with errno set.
 */
static cpu_set_t *
cpus_allowed(size_t *size)
{
	cpu_set_t	*set;
	int		 n, saved;

	for (n = CPU_SETSIZE; n <= 1 << 20; n *= 2) {
		if ((set = CPU_ALLOC(n)) == NULL)
			return (NULL);
		*size = CPU_ALLOC_SIZE(n);
		if (sched_getaffinity(0, *size, set) == 0)
			return (set);
		saved = errno;
		CPU_FREE(set);
		if ((errno = saved) != EINVAL)
			return (NULL);
	}
	errno = EINVAL;
	return (NULL);
}

/*
 * CPUs this process may run on (the default worker count): its affinity,
 * which a cpuset, taskset or systemd's CPUAffinity= narrow, else the CPUs
 * online.  1..1024.
 */
int
ncpus(void)
{
	cpu_set_t	*set;
	size_t		 size;
	long		 n;

	if ((set = cpus_allowed(&size)) != NULL) {
		n = CPU_COUNT_S(size, set);
		CPU_FREE(set);
	} else
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return (1);
	if (n > 1024)
		return (1024);
	return ((int)n);
}

/*
 * The n-th CPU, counting from 0 and round again past the last, of those
 * this thread may run on (its affinity), and how many those are.  Returns
 * 0 with *cpu and *count set, or -1 with errno.
 */
int
cpu_nth(int n, int *cpu, int *count)
{
	cpu_set_t	*set;
	size_t		 size, i;
	int		 k;

	if (n < 0) {
		errno = EINVAL;
		return (-1);
	}
	if ((set = cpus_allowed(&size)) == NULL)
		return (-1);
	if ((*count = CPU_COUNT_S(size, set)) == 0) {
		CPU_FREE(set);
		errno = ESRCH;
		return (-1);
	}
	k = n % *count;
	for (i = 0; i < size * 8; i++)
		if (CPU_ISSET_S(i, size, set) && k-- == 0) {
			*cpu = (int)i;
			CPU_FREE(set);
			return (0);
		}
	CPU_FREE(set);
	errno = ESRCH;
	return (-1);
}

/*
 * Make argv's memory available for proctitle_set(): that is what ps(1)
 * shows.  argv and environ strings usually sit back to back; environ is
 * copied to the heap so the whole stretch can hold a longer title.
 */
void
proctitle_init(int argc, char **argv)
{
	extern char	**environ;
	char		 *base, *end, **env, *copy;
	int		  i, n;

	if (argc < 1 || argv[0] == NULL)
		return;
	base = argv[0];
	end = argv[0] + strlen(argv[0]) + 1;
	for (i = 1; i < argc; i++)
		if (argv[i] == end)
			end = argv[i] + strlen(argv[i]) + 1;
	for (n = 0; environ[n] != NULL; n++)
		;
	if ((env = calloc((size_t)n + 1, sizeof(*env))) != NULL) {
		for (i = 0; i < n; i++) {
			if (environ[i] == end)
				end = environ[i] + strlen(environ[i]) + 1;
			if ((env[i] = strdup(environ[i])) == NULL)
				break;
		}
		/*
		 * environ gets an array of its own: unsetenv() takes strings
		 * out of it, and env keeps them reachable (no leak report).
		 */
		if (i == n && (title_env = calloc((size_t)n + 1,
		    sizeof(*env))) != NULL) {
			memcpy(title_env, env, (size_t)n * sizeof(*env));
			environ = title_env;
			title_env = env;
		} else {
			/* Out of memory: keep environ, use argv only. */
			end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
		}
	}
	/* The program keeps reading its arguments: give it copies. */
	for (i = 0; i < argc; i++) {
		if ((copy = strdup(argv[i])) == NULL)
			return;
		argv[i] = copy;
	}
	title_base = base;
	title_len = (size_t)(end - base);
}

/* Set the title shown by ps and the 15-byte comm shown by top. */
void
proctitle_set(const char *fmt, ...)
{
	char	buf[128];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	prctl(PR_SET_NAME, buf, 0, 0, 0);
	if (title_base == NULL || title_len < 2)
		return;
	memset(title_base, 0, title_len);
	snprintf(title_base, title_len, "%s", buf);
}

/* Detach from the terminal the classic way: fork, setsid, fork. */
void
detach(void)
{
	pid_t	pid;
	int	fd;

	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid != 0)
		_exit(0);
	if (setsid() == -1)
		fatal("setsid");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid != 0)
		_exit(0);
	if (chdir("/") == -1)
		fatal("chdir /");
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		fatal("open /dev/null");
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

/* Format an answer's error text into e's own buffer; returns e->msg. */
const char *
errtext_fmt(struct errtext *e, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(e->buf, sizeof(e->buf), fmt, ap);
	va_end(ap);
	e->msg = e->buf;
	return (e->msg);
}

/* A release string's characters: a version, never a terminal escape. */
static int
release_char(unsigned char c)
{
	return ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || c == '.' || c == '-' || c == '+' ||
	    c == '~' || c == '_');
}

/*
 * The release a program file carries after RELEASE_MARK (the first mark
 * followed by 1 to RELEASE_MAX - 1 release characters and a NUL), read
 * without running it: 0, or -1 (unreadable, none, or larger than 256 MB)
 * with out "".
 */
int
release_of_file(const char *path, char *out, size_t len)
{
	static const char	 mark[] = RELEASE_MARK;
	char			 buf[65536 + RELEASE_MAX + sizeof(mark)];
	size_t			 have = 0, keep, i, j, ml = sizeof(mark) - 1;
	ssize_t			 n;
	uint64_t		 total = 0;
	int			 fd, rc = -1;

	out[0] = '\0';
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return (-1);
	while (rc == -1 && total < ((uint64_t)256 << 20) &&
	    (n = read(fd, buf + have, sizeof(buf) - have)) > 0) {
		total += (uint64_t)n;
		have += (size_t)n;
		for (i = 0; rc == -1 && i + ml + RELEASE_MAX <= have; i++) {
			if (buf[i] != '@' || memcmp(buf + i, mark, ml) != 0)
				continue;
			for (j = 0; j < RELEASE_MAX - 1 &&
			    release_char((unsigned char)buf[i + ml + j]); j++)
				;
			if (j > 0 && j < len && buf[i + ml + j] == '\0') {
				memcpy(out, buf + i + ml, j);
				out[j] = '\0';
				rc = 0;
			}
		}
		/* A mark cut at the end of the buffer is kept for the next. */
		keep = have < ml + RELEASE_MAX ? have : ml + RELEASE_MAX;
		memmove(buf, buf + have - keep, keep);
		have = keep;
	}
	close(fd);
	return (rc);
}

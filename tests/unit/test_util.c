/*
 * test_util.c: number parsing, RFC 3339 time, the full read/write loops
 * (including interruption by signals), descriptor flags and an answer's
 * error text.
 */
#include <sys/time.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "util.h"

#define BIG	(1024 * 1024)	/* more than a pipe holds */

static volatile sig_atomic_t	alarms;

static void
on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/* Interrupt this process every millisecond; no SA_RESTART, so EINTR. */
static void
alarms_start(void)
{
	struct sigaction	sa;
	struct itimerval	it;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
	memset(&it, 0, sizeof(it));
	it.it_interval.tv_usec = 1000;
	it.it_value.tv_usec = 1000;
	alarms = 0;
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
}

static void
alarms_stop(void)
{
	struct itimerval	it;

	memset(&it, 0, sizeof(it));
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	signal(SIGALRM, SIG_DFL);
}

static void
fill(uint8_t *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + (i >> 8));
}

static int
check_fill(const uint8_t *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (p[i] != (uint8_t)(i * 31 + (i >> 8)))
			return (-1);
	return (0);
}

static void
wait_child_ok(pid_t pid)
{
	int	status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* parse_u64(s) must fail with errstr why and leave *out alone. */
static void
assert_parse_fails(const char *s, uint64_t min, uint64_t max, const char *why)
{
	uint64_t	 v = 4242;
	const char	*errstr = NULL;

	assert_int_equal(parse_u64(s, min, max, &v, &errstr), -1);
	assert_non_null(errstr);
	assert_string_equal(errstr, why);
	assert_int_equal(v, 4242);
}

static void
assert_parses(const char *s, uint64_t min, uint64_t max, uint64_t want)
{
	uint64_t	 v = 4242;
	const char	*errstr = "unset";

	assert_int_equal(parse_u64(s, min, max, &v, &errstr), 0);
	assert_null(errstr);
	assert_true(v == want);
}

static void
test_parse_u64_empty(void **state)
{
	(void)state;
	assert_parse_fails("", 0, UINT64_MAX, "empty");
}

/* Every string of the NULL-terminated list is "not a number". */
static void
assert_not_numbers(const char *const *list)
{
	for (; *list != NULL; list++)
		assert_parse_fails(*list, 0, UINT64_MAX, "not a number");
}

static void
test_parse_u64_sign(void **state)
{
	static const char *const bad[] = { "-1", "+1", "-0", NULL };

	(void)state;
	assert_not_numbers(bad);
}

static void
test_parse_u64_spaces(void **state)
{
	static const char *const bad[] = { " 1", "1 ", "1 2", "\t7", NULL };

	(void)state;
	assert_not_numbers(bad);
}

static void
test_parse_u64_garbage(void **state)
{
	static const char *const bad[] = { "12a", "0x10", "1.5", NULL };

	(void)state;
	assert_not_numbers(bad);
}

static void
test_parse_u64_overflow(void **state)
{
	(void)state;
	assert_parses("18446744073709551615", 0, UINT64_MAX, UINT64_MAX);
	assert_parse_fails("18446744073709551616", 0, UINT64_MAX,
	    "too large");
	assert_parse_fails("18446744073709551620", 0, UINT64_MAX,
	    "too large");
	assert_parse_fails("99999999999999999999", 0, UINT64_MAX,
	    "too large");
	assert_parse_fails("184467440737095516150", 0, UINT64_MAX,
	    "too large");
}

static void
test_parse_u64_bounds(void **state)
{
	(void)state;
	assert_parses("1", 1, 65535, 1);
	assert_parses("65535", 1, 65535, 65535);
	assert_parse_fails("0", 1, 65535, "too small");
	assert_parse_fails("65536", 1, 65535, "too large");
	assert_parses("0", 0, 0, 0);
	assert_parses("007", 0, 10, 7);
}

static void
test_fmt_rfc3339_fixed(void **state)
{
	struct timespec	ts;
	char		buf[64];

	(void)state;
	ts.tv_sec = 1795255200;		/* 2026-11-21 10:00:00 UTC */
	ts.tv_nsec = 123456789;		/* truncated, not rounded */
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(fmt_rfc3339(buf, sizeof(buf), &ts), RFC3339_LEN);
	assert_string_equal(buf, "2026-11-21T10:00:00.123456Z");
	assert_int_equal(strlen(buf), 27);
}

static void
test_fmt_rfc3339_edges(void **state)
{
	struct timespec	ts;
	char		buf[RFC3339_LEN + 1];

	(void)state;
	ts.tv_sec = 0;
	ts.tv_nsec = 0;
	assert_int_equal(fmt_rfc3339(buf, sizeof(buf), &ts), RFC3339_LEN);
	assert_string_equal(buf, "1970-01-01T00:00:00.000000Z");

	ts.tv_sec = 253402300799;	/* the last second of year 9999 */
	ts.tv_nsec = 999999999;
	assert_int_equal(fmt_rfc3339(buf, sizeof(buf), &ts), RFC3339_LEN);
	assert_string_equal(buf, "9999-12-31T23:59:59.999999Z");
}

static void
test_fmt_rfc3339_short_buffer(void **state)
{
	struct timespec	ts = { 1795255200, 0 };
	char		buf[RFC3339_LEN + 1];

	(void)state;
	assert_int_equal(fmt_rfc3339(buf, RFC3339_LEN, &ts), -1);
	assert_int_equal(fmt_rfc3339(buf, 0, &ts), -1);
}

static void
test_fmt_rfc3339_out_of_range(void **state)
{
	struct timespec	ts;
	char		buf[64];

	(void)state;
	/* Year 10000 does not fit the fixed width. */
	ts.tv_sec = 253402300800;
	ts.tv_nsec = 0;
	assert_int_equal(fmt_rfc3339(buf, sizeof(buf), &ts), -1);
	/* Nor does a non-normalised nanosecond field. */
	ts.tv_sec = 0;
	ts.tv_nsec = 1000000000;
	assert_int_equal(fmt_rfc3339(buf, sizeof(buf), &ts), -1);
}

static void
test_read_full_pipe(void **state)
{
	int	p[2];
	char	buf[16];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write_full(p[1], "hello, world", 12), 12);
	assert_int_equal(read_full(p[0], buf, 5), 5);
	assert_memory_equal(buf, "hello", 5);
	/* Short only at end of file. */
	close(p[1]);
	assert_int_equal(read_full(p[0], buf, sizeof(buf)), 7);
	assert_memory_equal(buf, ", world", 7);
	assert_int_equal(read_full(p[0], buf, sizeof(buf)), 0);
	close(p[0]);
}

static void
test_read_full_bad_fd(void **state)
{
	char	buf[4];
	int	p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	close(p[1]);
	errno = 0;
	assert_int_equal(read_full(p[0], buf, sizeof(buf)), -1);
	assert_int_equal(errno, EBADF);
}

static void
test_read_full_interrupted(void **state)
{
	uint8_t	*in;
	pid_t	 pid;
	int	 p[2];

	(void)state;
	in = malloc(BIG);
	assert_non_null(in);
	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		uint8_t *out = malloc(BIG);

		close(p[0]);
		if (out == NULL)
			_exit(2);
		fill(out, BIG);
		usleep(50 * 1000);	/* the reader blocks, and is signalled */
		_exit(write_full(p[1], out, BIG) == BIG ? 0 : 1);
	}
	assert_true(pid > 0);
	close(p[1]);
	alarms_start();
	assert_int_equal(read_full(p[0], in, BIG), BIG);
	alarms_stop();
	assert_true(alarms > 0);
	assert_int_equal(check_fill(in, BIG), 0);
	close(p[0]);
	wait_child_ok(pid);
	free(in);
}

static void
test_write_full_interrupted(void **state)
{
	uint8_t	*out;
	pid_t	 pid;
	int	 p[2];

	(void)state;
	out = malloc(BIG);
	assert_non_null(out);
	fill(out, BIG);
	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		uint8_t *in = malloc(BIG);

		close(p[1]);
		if (in == NULL)
			_exit(2);
		usleep(50 * 1000);	/* the writer fills the pipe first */
		if (read_full(p[0], in, BIG) != BIG || check_fill(in, BIG))
			_exit(1);
		_exit(0);
	}
	assert_true(pid > 0);
	close(p[0]);
	alarms_start();
	assert_int_equal(write_full(p[1], out, BIG), BIG);
	alarms_stop();
	assert_true(alarms > 0);
	close(p[1]);
	wait_child_ok(pid);
	free(out);
}

static void
test_write_full_broken_pipe(void **state)
{
	void	(*old)(int);
	int	 p[2];

	(void)state;
	old = signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	errno = 0;
	assert_int_equal(write_full(p[1], "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	close(p[1]);
	signal(SIGPIPE, old);
}

static void
test_fd_nonblock_sets_flag(void **state)
{
	int	p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
	assert_int_equal(fd_nonblock(p[0]), 0);
	assert_int_not_equal(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
	/* Other status flags are kept. */
	assert_int_equal(fcntl(p[1], F_SETFL, O_APPEND), 0);
	assert_int_equal(fd_nonblock(p[1]), 0);
	assert_int_not_equal(fcntl(p[1], F_GETFL) & O_APPEND, 0);
	close(p[0]);
	close(p[1]);
	assert_int_equal(fd_nonblock(p[0]), -1);
}

static void
test_fd_cloexec_sets_flag(void **state)
{
	int	p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(fcntl(p[0], F_GETFD) & FD_CLOEXEC, 0);
	assert_int_equal(fd_cloexec(p[0]), 0);
	assert_int_not_equal(fcntl(p[0], F_GETFD) & FD_CLOEXEC, 0);
	close(p[0]);
	close(p[1]);
	assert_int_equal(fd_cloexec(p[0]), -1);
}

/*
 * ncpus counts the CPUs this thread may use: under an affinity narrowed
 * to one CPU, 1.
 */
static void
test_ncpus_range(void **state)
{
	cpu_set_t	all, one;
	int		i;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	assert_in_range(ncpus(), 1, 1024);
	assert_int_equal(ncpus(), CPU_COUNT(&all));
	for (i = 0; !CPU_ISSET(i, &all); i++)
		;
	CPU_ZERO(&one);
	CPU_SET(i, &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	assert_int_equal(ncpus(), 1);
	assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
}

/*
 * cpu_nth counts among the CPUs this thread may use, round again past the
 * last, and says how many those are: under an affinity narrowed to one
 * CPU every n is that CPU.
 */
static void
test_cpu_nth(void **state)
{
	cpu_set_t	all, one;
	int		count, cpu, first, i, k, n;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	count = CPU_COUNT(&all);
	errno = 0;
	assert_int_equal(cpu_nth(-1, &cpu, &n), -1);
	assert_int_equal(errno, EINVAL);
	for (i = 0, k = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, &all))
			continue;
		cpu = n = -1;
		assert_int_equal(cpu_nth(k, &cpu, &n), 0);
		assert_int_equal(cpu, i);
		assert_int_equal(n, count);
		cpu = -1;
		assert_int_equal(cpu_nth(k + count, &cpu, &n), 0);
		assert_int_equal(cpu, i);
		k++;
	}
	assert_int_equal(k, count);
	for (first = 0; !CPU_ISSET(first, &all); first++)
		;
	for (i = CPU_SETSIZE - 1; !CPU_ISSET(i, &all); i--)
		;
	CPU_ZERO(&one);
	CPU_SET(i, &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	for (k = 0; k < 5; k++) {
		assert_int_equal(cpu_nth(k, &cpu, &n), 0);
		assert_int_equal(cpu, i);
		assert_int_equal(n, 1);
	}
	assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
	assert_int_equal(cpu_nth(0, &cpu, &n), 0);
	assert_int_equal(cpu, first);
}

static void
test_mono_ms_monotonic(void **state)
{
	uint64_t	a, b, us;

	(void)state;
	a = mono_ms();
	us = mono_us();
	usleep(20 * 1000);
	b = mono_ms();
	assert_true(b >= a + 20);
	assert_true(b < a + 5000);
	/* Both read the same clock. */
	assert_true(us / 1000 >= a && us / 1000 <= b);
}

/* errtext_fmt: formatted into the caller's buffer, cut to fit. */
static void
test_errtext_fmt(void **state)
{
	struct errtext	e;
	char		long_name[400];

	(void)state;
	assert_ptr_equal(errtext_fmt(&e, "cannot %s: %d", "go", 7), e.buf);
	assert_ptr_equal(e.msg, e.buf);
	assert_string_equal(e.msg, "cannot go: 7");
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	errtext_fmt(&e, "%s", long_name);
	assert_int_equal(strlen(e.msg), ERRTEXT_LEN - 1);
}

/* realtime_us() reads CLOCK_REALTIME, the clock of start times. */
static void
test_realtime_us_wall_clock(void **state)
{
	struct timespec	ts;
	uint64_t	before, us, after;

	(void)state;
	clock_gettime(CLOCK_REALTIME, &ts);
	before = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	us = realtime_us();
	clock_gettime(CLOCK_REALTIME, &ts);
	after = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	assert_true(us >= before && us <= after);
}

/* A file of size bytes of 'x' with data at offset off; returns its path. */
static char *
release_file(size_t size, size_t off, const void *data, size_t dlen)
{
	static char	 path[] = "/tmp/msgd-test-release.XXXXXX";
	char		*buf;
	int		 fd;

	strcpy(path + strlen(path) - 6, "XXXXXX");
	assert_true((fd = mkstemp(path)) != -1);
	assert_non_null(buf = malloc(size));
	memset(buf, 'x', size);
	memcpy(buf + off, data, dlen);
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	close(fd);
	free(buf);
	return (path);
}

static void
test_release_of_file(void **state)
{
	static const char	 good[] = RELEASE_MARK "1.2.3+alt";
	static const char	 bare[] = RELEASE_MARK;
	static const char	 esc[] = RELEASE_MARK "1.2\033[2J";
	char			 out[RELEASE_MAX], *p, both[128];
	size_t			 off;

	(void)state;
	/* At the start, across the 64 KB read boundary, further on. */
	for (off = 0; off < 200000; off += 65536 - 7) {
		p = release_file(300000, off, good, sizeof(good));
		assert_int_equal(release_of_file(p, out, sizeof(out)), 0);
		assert_string_equal(out, "1.2.3+alt");
		unlink(p);
	}
	/* The mark alone (msgctl's own search string), then a release. */
	memcpy(both, bare, sizeof(bare));
	memcpy(both + sizeof(bare) + 3, good, sizeof(good));
	p = release_file(1000, 10, both, sizeof(bare) + 3 + sizeof(good));
	assert_int_equal(release_of_file(p, out, sizeof(out)), 0);
	assert_string_equal(out, "1.2.3+alt");
	unlink(p);
	/* No NUL after the release, or other characters: none. */
	p = release_file(1000, 10, esc, sizeof(esc));
	assert_int_equal(release_of_file(p, out, sizeof(out)), -1);
	assert_string_equal(out, "");
	unlink(p);
	p = release_file(1000, 10, good, sizeof(good) - 1);
	assert_int_equal(release_of_file(p, out, sizeof(out)), -1);
	unlink(p);
	/* No file. */
	assert_int_equal(release_of_file("/nonexistent/msgd", out,
	    sizeof(out)), -1);
	/* A release longer than out. */
	p = release_file(1000, 10, good, sizeof(good));
	assert_int_equal(release_of_file(p, out, 4), -1);
	unlink(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_release_of_file),
		cmocka_unit_test(test_parse_u64_empty),
		cmocka_unit_test(test_parse_u64_sign),
		cmocka_unit_test(test_parse_u64_spaces),
		cmocka_unit_test(test_parse_u64_garbage),
		cmocka_unit_test(test_parse_u64_overflow),
		cmocka_unit_test(test_parse_u64_bounds),
		cmocka_unit_test(test_fmt_rfc3339_fixed),
		cmocka_unit_test(test_fmt_rfc3339_edges),
		cmocka_unit_test(test_fmt_rfc3339_short_buffer),
		cmocka_unit_test(test_fmt_rfc3339_out_of_range),
		cmocka_unit_test(test_read_full_pipe),
		cmocka_unit_test(test_read_full_bad_fd),
		cmocka_unit_test(test_read_full_interrupted),
		cmocka_unit_test(test_write_full_interrupted),
		cmocka_unit_test(test_write_full_broken_pipe),
		cmocka_unit_test(test_fd_nonblock_sets_flag),
		cmocka_unit_test(test_fd_cloexec_sets_flag),
		cmocka_unit_test(test_ncpus_range),
		cmocka_unit_test(test_cpu_nth),
		cmocka_unit_test(test_mono_ms_monotonic),
		cmocka_unit_test(test_errtext_fmt),
		cmocka_unit_test(test_realtime_us_wall_clock),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

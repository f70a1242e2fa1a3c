/*
 * util.c: helpers with no knowledge of msgd's protocol or processes.
 */
#include <sys/prctl.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static char	*title_base;	/* start of argv[] memory we may overwrite */
static size_t	 title_len;

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

/* CPUs this process may run on (the default worker count). */
int
ncpus(void)
{
	long	n;

	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return (1);
	if (n > 1024)
		return (1024);
	return ((int)n);
}

/*
 * Remember argv's memory so proctitle_set() can overwrite it: that is what
 * ps(1) shows.  Only the argv strings themselves are reused (not environ),
 * so titles longer than the original command line are truncated.
 */
void
proctitle_init(int argc, char **argv)
{
	if (argc < 1 || argv[0] == NULL)
		return;
	title_base = argv[0];
	title_len = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) -
	    argv[0]) + 1;
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

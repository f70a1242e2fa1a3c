/*
 * test_pipes.c: the worker's pool of pipes for splice(2): both ends
 * non-blocking and close-on-exec, at most max handed out, empty pipes
 * kept (up to PIPES_KEEP) and handed out again, a pipe that may hold
 * bytes closed, and the kept ones closed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

#include "pipes.h"

/* Whether fd is open. */
static int
is_open(int fd)
{
	return (fcntl(fd, F_GETFD) != -1 || errno != EBADF);
}

static void
test_flags(void **state)
{
	struct pipes	pp;
	int		p[2], i;

	(void)state;
	pipes_init(&pp, 4);
	assert_int_equal(pipes_get(&pp, p), 0);
	for (i = 0; i < 2; i++) {
		assert_true(fcntl(p[i], F_GETFL) & O_NONBLOCK);
		assert_true(fcntl(p[i], F_GETFD) & FD_CLOEXEC);
	}
	/* Larger than the default 64 KiB, unless the kernel refused. */
	assert_true(fcntl(p[1], F_GETPIPE_SZ) >= 65536);
	/* Empty: a read says so at once. */
	assert_int_equal(read(p[0], &i, 1), -1);
	assert_int_equal(errno, EAGAIN);
	pipes_put(&pp, p, 1);
	assert_int_equal(p[0], -1);
	assert_int_equal(pp.used, 0);
	pipes_close(&pp);
}

static void
test_max(void **state)
{
	struct pipes	pp;
	int		p[5][2], i;

	(void)state;
	pipes_init(&pp, 4);
	for (i = 0; i < 4; i++)
		assert_int_equal(pipes_get(&pp, p[i]), 0);
	assert_int_equal(pipes_get(&pp, p[4]), -1);
	pipes_put(&pp, p[0], 1);
	assert_int_equal(pipes_get(&pp, p[4]), 0);
	for (i = 1; i < 5; i++)
		pipes_put(&pp, p[i], 1);
	assert_int_equal(pp.used, 0);
	pipes_close(&pp);
}

static void
test_reuse_and_close(void **state)
{
	struct pipes	pp;
	int		p[2], q[2], kept[2];

	(void)state;
	pipes_init(&pp, 64);
	assert_int_equal(pipes_get(&pp, p), 0);
	kept[0] = p[0];
	kept[1] = p[1];
	pipes_put(&pp, p, 1);
	/* The empty one comes back. */
	assert_int_equal(pipes_get(&pp, q), 0);
	assert_int_equal(q[0], kept[0]);
	assert_int_equal(q[1], kept[1]);
	/* One that may hold bytes is closed, never handed out again. */
	assert_int_equal(write(q[1], "x", 1), 1);
	pipes_put(&pp, q, 0);
	assert_false(is_open(kept[0]));
	assert_false(is_open(kept[1]));
	assert_int_equal(pp.nfree, 0);
	pipes_close(&pp);
}

static void
test_keep_bounded(void **state)
{
	struct pipes	pp;
	int		p[PIPES_KEEP + 2][2], last[2], i;

	(void)state;
	pipes_init(&pp, 64);
	for (i = 0; i < PIPES_KEEP + 2; i++)
		assert_int_equal(pipes_get(&pp, p[i]), 0);
	last[0] = p[PIPES_KEEP + 1][0];
	last[1] = p[PIPES_KEEP + 1][1];
	for (i = 0; i < PIPES_KEEP + 2; i++)
		pipes_put(&pp, p[i], 1);
	assert_int_equal(pp.nfree, PIPES_KEEP);
	/* Past PIPES_KEEP an empty pipe is closed too. */
	assert_false(is_open(last[0]));
	assert_false(is_open(last[1]));
	for (i = 0; i < PIPES_KEEP; i++)
		assert_true(is_open(pp.free[i][0]) && is_open(pp.free[i][1]));
	for (i = 0; i < PIPES_KEEP; i++) {
		p[i][0] = pp.free[i][0];
		p[i][1] = pp.free[i][1];
	}
	pipes_close(&pp);
	assert_int_equal(pp.nfree, 0);
	for (i = 0; i < PIPES_KEEP; i++)
		assert_false(is_open(p[i][0]) || is_open(p[i][1]));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_max),
		cmocka_unit_test(test_reuse_and_close),
		cmocka_unit_test(test_keep_bounded),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

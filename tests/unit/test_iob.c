/*
 * test_iob.c: the batched socket I/O ring (iob.c) over unix socketpairs:
 * receives and sends with recv's and send's results, EAGAIN at once on an
 * empty socket (MSG_DONTWAIT: nothing waits), one run for many, a voided
 * operation doing nothing, a full ring refusing more, and the confinement:
 * no operation but RECV, SEND and NOP (a read, an open: refused), no SQE
 * flag, no registration after the start.
 * Without io_uring in this kernel every case skips.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "iob.h"

#define PAIRS	8

struct fixture {
	struct iob	b;
	int		sv[PAIRS][2];
};

/* Results by tag: the index of a pair, as done receives them. */
static int	results[PAIRS];
static int	ndone;

static void
done(void *tag, int res)
{
	int	i = (int)((int *)tag - results);

	assert_true(i >= 0 && i < PAIRS);
	results[i] = res;
	ndone++;
}

static int
setup(void **state)
{
	struct fixture	*fx;
	int		 i;

	if ((fx = calloc(1, sizeof(*fx))) == NULL)
		return (-1);
	*state = fx;
	for (i = 0; i < PAIRS; i++)
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
		    fx->sv[i]) == -1)
			return (-1);
	if (iob_open(&fx->b) == -1) {
		print_message("no io_uring here: %s\n", strerror(errno));
		fx->b.ring.ring_fd = -1;
	}
	memset(results, 0, sizeof(results));
	ndone = 0;
	return (0);
}

static int
teardown(void **state)
{
	struct fixture	*fx = *state;
	int		 i;

	if (fx->b.ring.ring_fd != -1)
		iob_close(&fx->b);
	for (i = 0; i < PAIRS; i++) {
		close(fx->sv[i][0]);
		close(fx->sv[i][1]);
	}
	free(fx);
	return (0);
}

static struct fixture *
ring(void **state)
{
	struct fixture	*fx = *state;

	if (fx->b.ring.ring_fd == -1)
		skip();
	return (fx);
}

/* Many receives in one run: each gets its socket's bytes, or EAGAIN. */
static void
test_iob_recv(void **state)
{
	struct fixture	*fx = ring(state);
	char		 buf[PAIRS][32], want[32];
	int		 i;

	for (i = 0; i < PAIRS - 1; i++) {
		snprintf(want, sizeof(want), "pair %d", i);
		assert_int_equal(send(fx->sv[i][1], want, strlen(want), 0),
		    (ssize_t)strlen(want));
	}
	for (i = 0; i < PAIRS; i++)
		assert_non_null(iob_recv(&fx->b, fx->sv[i][0], buf[i],
		    sizeof(buf[i]), &results[i]));
	assert_int_equal(fx->b.queued, PAIRS);
	iob_run(&fx->b, done);
	assert_int_equal(fx->b.queued, 0);
	assert_int_equal(fx->b.runs, 1);
	assert_int_equal(ndone, PAIRS);
	for (i = 0; i < PAIRS - 1; i++) {
		snprintf(want, sizeof(want), "pair %d", i);
		assert_int_equal(results[i], (int)strlen(want));
		assert_memory_equal(buf[i], want, strlen(want));
	}
	/* The last socket is empty: EAGAIN at once, as recv says it. */
	assert_int_equal(results[PAIRS - 1], -EAGAIN);
}

/* Sends in one run, each whole; a socket that takes less says so. */
static void
test_iob_send(void **state)
{
	struct fixture	*fx = ring(state);
	static char	 big[256 * 1024];
	char		 got[32];
	int		 i, sz = 4096;

	for (i = 0; i < PAIRS - 1; i++)
		assert_non_null(iob_send(&fx->b, fx->sv[i][0], "answer", 6,
		    &results[i]));
	/* A small buffer: it takes part of big, and EAGAIN comes never. */
	assert_int_equal(setsockopt(fx->sv[PAIRS - 1][0], SOL_SOCKET,
	    SO_SNDBUF, &sz, sizeof(sz)), 0);
	assert_non_null(iob_send(&fx->b, fx->sv[PAIRS - 1][0], big,
	    sizeof(big), &results[PAIRS - 1]));
	iob_run(&fx->b, done);
	for (i = 0; i < PAIRS - 1; i++) {
		assert_int_equal(results[i], 6);
		assert_int_equal(recv(fx->sv[i][1], got, sizeof(got),
		    MSG_DONTWAIT), 6);
		assert_memory_equal(got, "answer", 6);
	}
	assert_true(results[PAIRS - 1] > 0);
	assert_true(results[PAIRS - 1] < (int)sizeof(big));
	/* Full now: the next send is refused at once. */
	assert_non_null(iob_send(&fx->b, fx->sv[PAIRS - 1][0], big,
	    sizeof(big), &results[PAIRS - 1]));
	iob_run(&fx->b, done);
	assert_int_equal(results[PAIRS - 1], -EAGAIN);
}

/* A send to a peer that is gone fails as send would, without SIGPIPE. */
static void
test_iob_send_epipe(void **state)
{
	struct fixture	*fx = ring(state);

	close(fx->sv[0][1]);
	fx->sv[0][1] = -1;
	assert_non_null(iob_send(&fx->b, fx->sv[0][0], "x", 1, &results[0]));
	iob_run(&fx->b, done);
	assert_int_equal(results[0], -EPIPE);
}

/* A voided operation does nothing and reports nothing. */
static void
test_iob_void(void **state)
{
	struct fixture	*fx = ring(state);
	void		*op;
	char		 c;

	assert_non_null(op = iob_send(&fx->b, fx->sv[0][0], "x", 1,
	    &results[0]));
	assert_non_null(iob_send(&fx->b, fx->sv[1][0], "y", 1, &results[1]));
	iob_void(op);
	iob_run(&fx->b, done);
	assert_int_equal(ndone, 1);
	assert_int_equal(results[1], 1);
	assert_int_equal(recv(fx->sv[0][1], &c, 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

/* A full ring refuses more: the caller makes that call itself. */
static void
test_iob_full(void **state)
{
	struct fixture	*fx = ring(state);
	char		 buf[8];
	int		 i;

	for (i = 0; i < IOB_ENTRIES; i++)
		assert_non_null(iob_recv(&fx->b, fx->sv[0][0], buf,
		    sizeof(buf), &results[0]));
	assert_null(iob_recv(&fx->b, fx->sv[0][0], buf, sizeof(buf),
	    &results[0]));
	assert_int_equal(fx->b.queued, IOB_ENTRIES);
	iob_run(&fx->b, done);
	assert_int_equal(ndone, IOB_ENTRIES);
	assert_int_equal(results[0], -EAGAIN);
	assert_non_null(iob_recv(&fx->b, fx->sv[0][0], buf, sizeof(buf),
	    &results[0]));
	iob_run(&fx->b, done);
}

/*
 * Confined: an operation other than RECV, SEND or NOP (here a read, which
 * could reach a file) is refused, and so is registering anything more.
 */
static void
test_iob_confined(void **state)
{
	struct fixture		*fx = ring(state);
	struct io_uring_sqe	*sqe;
	struct io_uring_cqe	*cqe;
	char			 buf[8];
	int			 fd;

	assert_true((fd = open("/dev/zero", O_RDONLY | O_CLOEXEC)) != -1);
	assert_non_null(sqe = io_uring_get_sqe(&fx->b.ring));
	io_uring_prep_read(sqe, fd, buf, sizeof(buf), 0);
	assert_int_equal(io_uring_submit_and_wait(&fx->b.ring, 1), 1);
	assert_int_equal(io_uring_peek_cqe(&fx->b.ring, &cqe), 0);
	assert_int_equal(cqe->res, -EACCES);
	io_uring_cqe_seen(&fx->b.ring, cqe);
	assert_int_equal(io_uring_register(fx->b.ring.ring_fd,
	    IORING_REGISTER_FILES, &fd, 1), -EACCES);
	close(fd);
	/* Nor an open, which could reach any file the worker may not. */
	assert_non_null(sqe = io_uring_get_sqe(&fx->b.ring));
	io_uring_prep_openat(sqe, AT_FDCWD, "/etc/passwd", O_RDONLY, 0);
	assert_int_equal(io_uring_submit_and_wait(&fx->b.ring, 1), 1);
	assert_int_equal(io_uring_peek_cqe(&fx->b.ring, &cqe), 0);
	assert_int_equal(cqe->res, -EACCES);
	io_uring_cqe_seen(&fx->b.ring, cqe);
	/*
	 * An allowed operation with a flag (here: run it from a kernel
	 * thread, out of the worker's context) is refused too.
	 */
	assert_non_null(sqe = io_uring_get_sqe(&fx->b.ring));
	io_uring_prep_recv(sqe, fx->sv[0][0], buf, sizeof(buf), MSG_DONTWAIT);
	io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
	assert_int_equal(io_uring_submit_and_wait(&fx->b.ring, 1), 1);
	assert_int_equal(io_uring_peek_cqe(&fx->b.ring, &cqe), 0);
	assert_int_equal(cqe->res, -EACCES);
	io_uring_cqe_seen(&fx->b.ring, cqe);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_iob_recv),
		T(test_iob_send),
		T(test_iob_send_epipe),
		T(test_iob_void),
		T(test_iob_full),
		T(test_iob_confined),
#undef T
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

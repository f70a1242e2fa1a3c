/*
 * iob.c: a worker's batched socket I/O through io_uring (see iob.h).
 *
 * Why a ring and not only epoll: with many connections ready at once a
 * worker made one recv and one send per connection, each a system call
 * (about 70 ns of entry and exit each here).  Queued on the ring they go
 * in with one io_uring_enter per turn, and the kernel runs each at once:
 * MSG_DONTWAIT makes it fail with EAGAIN, as the system call would,
 * instead of waiting for readiness.
 *
 * Why liburing: the ring's memory layout and barriers are the kernel's ABI;
 * liburing is the library its authors keep for exactly that.
 *
 * The ring is confined before it is used: created disabled, then allowed
 * RECV, SEND and NOP only, no SQE flags and no further registration, then
 * enabled.  A worker taken over can do through it what it could do with
 * recv and send anyway; the seccomp filter (sandbox.c) allows
 * io_uring_enter but neither io_uring_setup nor io_uring_register, so no
 * second, unconfined ring can be made.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "iob.h"
#include "log.h"

/*
 * Create the ring, confined as above.  Returns 0, or -1 with errno set
 * (ENOSYS, EPERM where io_uring is disabled or filtered, ENOMEM...): the
 * caller then makes its system calls one by one.
 */
int
iob_open(struct iob *b)
{
	struct io_uring_restriction	 res[3];
	struct io_uring_params		 p;
	int				 r;

	memset(b, 0, sizeof(*b));
	memset(&p, 0, sizeof(p));
	/* Every operation is submitted even if one fails early. */
	p.flags = IORING_SETUP_R_DISABLED | IORING_SETUP_SUBMIT_ALL;
	if ((r = io_uring_queue_init_params(IOB_ENTRIES, &b->ring, &p)) < 0) {
		errno = -r;
		return (-1);
	}
	memset(res, 0, sizeof(res));
	res[0].opcode = IORING_RESTRICTION_SQE_OP;
	res[0].sqe_op = IORING_OP_RECV;
	res[1].opcode = IORING_RESTRICTION_SQE_OP;
	res[1].sqe_op = IORING_OP_SEND;
	res[2].opcode = IORING_RESTRICTION_SQE_OP;
	res[2].sqe_op = IORING_OP_NOP;
	/*
	 * The plain register call: liburing 2.3 (Debian 12) declares
	 * io_uring_register_restrictions and io_uring_enable_rings but does
	 * not export them.
	 */
	if ((r = io_uring_register(b->ring.ring_fd,
	    IORING_REGISTER_RESTRICTIONS, res, 3)) < 0 ||
	    (r = io_uring_register(b->ring.ring_fd,
	    IORING_REGISTER_ENABLE_RINGS, NULL, 0)) < 0) {
		io_uring_queue_exit(&b->ring);
		errno = -r;
		return (-1);
	}
	return (0);
}

void
iob_close(struct iob *b)
{
	io_uring_queue_exit(&b->ring);
}

/* A free entry, counted as queued, or NULL: the ring is full. */
static struct io_uring_sqe *
iob_get(struct iob *b)
{
	struct io_uring_sqe	*sqe;

	if ((sqe = io_uring_get_sqe(&b->ring)) == NULL)
		return (NULL);
	b->queued++;
	return (sqe);
}

/*
 * Queue recv(fd, p, len, MSG_DONTWAIT); its result goes to tag at the next
 * iob_run.  Returns the queued operation (for iob_void), or NULL when the
 * ring is full: the caller receives by itself.
 */
void *
iob_recv(struct iob *b, int fd, void *p, size_t len, void *tag)
{
	struct io_uring_sqe	*sqe;

	if (len > INT32_MAX)
		len = INT32_MAX;	/* the result is an int */
	if ((sqe = iob_get(b)) == NULL)
		return (NULL);
	io_uring_prep_recv(sqe, fd, p, len, MSG_DONTWAIT);
	io_uring_sqe_set_data(sqe, tag);
	return (sqe);
}

/* Queue send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL), as iob_recv. */
void *
iob_send(struct iob *b, int fd, const void *p, size_t len, void *tag)
{
	struct io_uring_sqe	*sqe;

	if (len > INT32_MAX)
		len = INT32_MAX;
	if ((sqe = iob_get(b)) == NULL)
		return (NULL);
	io_uring_prep_send(sqe, fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, tag);
	return (sqe);
}

/*
 * Make a queued, not yet submitted operation do nothing (its connection
 * closed before the run: its descriptor may be reused, its buffer freed).
 * It still completes, with no tag.
 */
void
iob_void(void *op)
{
	struct io_uring_sqe	*sqe = op;

	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data(sqe, NULL);
}

/*
 * Submit what is queued and wait for all of it (each completes at once:
 * none waits for its socket), then hand each result, as recv or send
 * return it or -errno, to done with its tag.  A ring that fails is a
 * broken worker: it exits, and the master starts another.
 */
void
iob_run(struct iob *b, iob_done_fn done)
{
	struct io_uring_cqe	*cqe;
	unsigned		 left = b->queued, tries = 0;
	void			*tag;
	int			 r;

	if (left == 0)
		return;
	b->queued = 0;
	b->runs++;
	while (left > 0) {
		r = io_uring_submit_and_wait(&b->ring, 1);
		if (r < 0) {
			if ((r == -EINTR || r == -EAGAIN || r == -EBUSY) &&
			    ++tries < 1000)
				continue;
			errno = -r;
			fatal("io_uring_enter");
		}
		while (left > 0 && io_uring_peek_cqe(&b->ring, &cqe) == 0) {
			tag = io_uring_cqe_get_data(cqe);
			r = cqe->res;
			io_uring_cqe_seen(&b->ring, cqe);
			left--;
			if (tag != NULL)
				done(tag, r);
		}
	}
}

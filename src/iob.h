/*
 * iob.h: a worker's batched socket I/O (io_uring, through liburing).  The
 * receives, then the sends, that one loop turn makes on many connections
 * go to the kernel in one system call each instead of one per connection
 * (conn.c: conn_batch_reads, conn_batch_end).  Each operation is what
 * recv(2) or send(2) with MSG_DONTWAIT would do, with the same result; a
 * ring only ever takes RECV, SEND and NOP (iob_open registers that before
 * the worker's seccomp filter is installed).
 */
#ifndef MSGD_IOB_H
#define MSGD_IOB_H

#include <stddef.h>

#include <liburing.h>

#define IOB_ENTRIES	256	/* operations queued at once, at most */

struct iob {
	struct io_uring	ring;
	unsigned	queued;		/* since the last iob_run */
	unsigned	runs;		/* iob_run calls that submitted */
};

typedef void	(*iob_done_fn)(void *, int);

int	iob_open(struct iob *);
void	iob_close(struct iob *);
void	*iob_recv(struct iob *, int, void *, size_t, void *);
void	*iob_send(struct iob *, int, const void *, size_t, void *);
void	iob_void(void *);
void	iob_run(struct iob *, iob_done_fn);

#endif /* MSGD_IOB_H */

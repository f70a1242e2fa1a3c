/*
 * pipes.c: a worker's pool of pipes for splice(2).
 *
 * A large ECHO goes from the client's socket through a pipe back to the
 * same socket without passing through user space (conn.c).  A pipe is two
 * descriptors and up to PIPES_SIZE bytes of kernel memory, so a worker
 * hands out at most max of them (past that, frames are buffered as ever)
 * and keeps a few empty ones instead of making two system calls more per
 * frame.  Only an empty pipe comes back into the pool: one that may hold
 * bytes of a connection that died is closed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* pipe2, F_SETPIPE_SZ; the build defines it too */
#endif

#include <fcntl.h>
#include <unistd.h>

#include "pipes.h"

void
pipes_init(struct pipes *pp, int max)
{
	pp->nfree = 0;
	pp->used = 0;
	pp->max = max;
}

/*
 * A pipe, both ends non-blocking and close-on-exec: 0, or -1 when the
 * worker has max out or the kernel refuses one (descriptors, memory).
 */
int
pipes_get(struct pipes *pp, int p[2])
{
	if (pp->used >= pp->max)
		return (-1);
	if (pp->nfree > 0) {
		pp->nfree--;
		p[0] = pp->free[pp->nfree][0];
		p[1] = pp->free[pp->nfree][1];
	} else {
		if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == -1)
			return (-1);
		/*
		 * Larger than the default 64 KiB: fewer turns per frame.  A
		 * refusal (the user's pipe pages are capped) leaves the
		 * default, which works too.
		 */
		(void)fcntl(p[1], F_SETPIPE_SZ, PIPES_SIZE);
	}
	pp->used++;
	return (0);
}

/* Give a pipe back: kept if empty and there is room, else closed. */
void
pipes_put(struct pipes *pp, int p[2], int empty)
{
	pp->used--;
	if (empty && pp->nfree < PIPES_KEEP) {
		pp->free[pp->nfree][0] = p[0];
		pp->free[pp->nfree][1] = p[1];
		pp->nfree++;
	} else {
		(void)close(p[0]);
		(void)close(p[1]);
	}
	p[0] = p[1] = -1;
}

/* Close the pipes kept (those handed out are their holders' to put). */
void
pipes_close(struct pipes *pp)
{
	while (pp->nfree > 0) {
		pp->nfree--;
		(void)close(pp->free[pp->nfree][0]);
		(void)close(pp->free[pp->nfree][1]);
	}
}

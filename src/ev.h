/*
 * ev.h: what a worker's epoll set holds.  epoll hands back a pointer;
 * every object registered begins with its kind, so the loop can tell them
 * apart without a lookup.  An object closed while handling an event may
 * still be named by later events of the same epoll_wait batch, so it is
 * only marked EV_DEAD then and freed after the batch.
 */
#ifndef MSGD_EV_H
#define MSGD_EV_H

enum ev_kind {
	EV_CONN = 1,
	EV_LISTENER,
	EV_SIGNAL,
	EV_UDP,
	EV_JOB,		/* a pipe or the pidfd of an EXEC command */
	EV_CTL,		/* the master's channel: adopted connections */
	EV_POOL,	/* the thread pool's eventfd: file jobs done */
	EV_TIMER,	/* the loop's timerfd: a deadline came */
	EV_DEAD		/* closed this loop turn, freed after it: skip */
};

#endif /* MSGD_EV_H */

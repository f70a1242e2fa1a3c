/*
 * ev.h: what a worker's epoll set holds.  epoll hands back a pointer;
 * every object registered begins with its kind, so the loop can tell them
 * apart without a lookup.
 */
#ifndef MSGD_EV_H
#define MSGD_EV_H

enum ev_kind {
	EV_CONN = 1,
	EV_LISTENER,
	EV_SIGNAL,
	EV_UDP,
	EV_JOB,		/* a pipe or the pidfd of an EXEC command */
	EV_CTL		/* the master's channel: adopted connections */
};

#endif /* MSGD_EV_H */

/*
 * timer.h: deadlines for connections without a timer per connection.
 *
 * Every list has one uniform timeout, so appending at the tail keeps it
 * sorted by deadline: arming is O(1) (move to the tail) and expiry looks at
 * the heads only.  No heap, no timerfd per connection.
 */
#ifndef MSGD_TIMER_H
#define MSGD_TIMER_H

#include <sys/queue.h>
#include <limits.h>
#include <stdint.h>

struct timer_list;

struct timer {
	TAILQ_ENTRY(timer)	 entry;
	uint64_t		 deadline;	/* monotonic ms */
	struct timer_list	*list;		/* NULL: not armed */
};

struct timer_list {
	TAILQ_HEAD(, timer)	 head;
	uint32_t		 timeout_ms;
};

/*
 * A loop's wake-up for its earliest deadline: one timerfd in its epoll
 * set, so that epoll_wait itself sleeps without a timeout.  A finite
 * timeout arms and cancels a kernel timer on every wait, and on a virtual
 * machine programming that timer traps to the hypervisor: measured, that
 * alone cost ECHO at C=1 about a tenth more CPU per request.  The timerfd
 * is set only when a deadline comes earlier than the one it is set for;
 * activity moves deadlines later, so a busy loop sets it about once per
 * deadline that really arrives (the heartbeat: once a second).
 */
struct timer_wake {
	int			 fd;		/* timerfd; -1: epoll timeouts */
	uint64_t		 armed;		/* fires then (ms); 0: not set */
};

void		 timer_list_init(struct timer_list *, uint32_t);
void		 timer_arm(struct timer_list *, struct timer *, uint64_t);
int		 timer_wake_open(struct timer_wake *);
int		 timer_wake_wait(struct timer_wake *, uint64_t, int);
void		 timer_wake_fired(struct timer_wake *);
void		 timer_wake_close(struct timer_wake *);

/*
 * The calls below run several times per loop turn (expiry looks at every
 * list's head, each request cancels or re-arms its timer): inline, they
 * cost a few instructions instead of a call each (bench/profile).
 */
static inline void
timer_cancel(struct timer *t)
{
	if (t->list == NULL)
		return;
	TAILQ_REMOVE(&t->list->head, t, entry);
	t->list = NULL;
}

/* The first timer of l whose deadline has passed, still armed, or NULL. */
static inline struct timer *
timer_expired(struct timer_list *l, uint64_t now)
{
	struct timer	*t = TAILQ_FIRST(&l->head);

	if (t == NULL || t->deadline > now)
		return (NULL);
	return (t);
}

/* Shrink *wait (ms, -1 = forever) so the loop wakes for l's first deadline. */
static inline int
timer_wait_ms(struct timer_list *l, uint64_t now, int wait)
{
	struct timer	*t = TAILQ_FIRST(&l->head);
	uint64_t	 d;

	if (t == NULL)
		return (wait);
	d = t->deadline > now ? t->deadline - now : 0;
	/* A list's timeout is a uint32_t: it need not fit in an int. */
	if (d > INT_MAX)
		d = INT_MAX;
	if (wait < 0 || d < (uint64_t)wait)
		return ((int)d);
	return (wait);
}

#endif /* MSGD_TIMER_H */

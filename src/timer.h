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

void		 timer_list_init(struct timer_list *, uint32_t);
void		 timer_arm(struct timer_list *, struct timer *, uint64_t);
void		 timer_cancel(struct timer *);
struct timer	*timer_expired(struct timer_list *, uint64_t);
int		 timer_wait_ms(struct timer_list *, uint64_t, int);

#endif /* MSGD_TIMER_H */

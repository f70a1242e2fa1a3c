/*
 * timer.c: deadline lists with a uniform timeout each.
 */
#include <sys/timerfd.h>

#include <stddef.h>
#include <unistd.h>

#include "timer.h"

void
timer_list_init(struct timer_list *l, uint32_t timeout_ms)
{
	TAILQ_INIT(&l->head);
	l->timeout_ms = timeout_ms;
}

/*
 * (Re)arm t on l with deadline start + timeout.  start must not be older
 * than the start of any timer already on l (callers pass the loop's "now"),
 * which keeps the list sorted.
 */
void
timer_arm(struct timer_list *l, struct timer *t, uint64_t start)
{
	if (t->list != NULL)
		TAILQ_REMOVE(&t->list->head, t, entry);
	t->deadline = start + l->timeout_ms;
	t->list = l;
	TAILQ_INSERT_TAIL(&l->head, t, entry);
}

/* A timerfd on the monotonic clock (the one mono_ms reads); -1 on error. */
int
timer_wake_open(struct timer_wake *tw)
{
	tw->armed = 0;
	tw->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	return (tw->fd == -1 ? -1 : 0);
}

/*
 * The loop waits wait ms (the earliest deadline, 0: poll, -1: none) from
 * now (monotonic ms): make sure the timerfd fires by then, and return the
 * timeout to give epoll_wait: -1 when the timerfd wakes us, wait itself
 * when there is no timerfd or setting it failed.
 */
int
timer_wake_wait(struct timer_wake *tw, uint64_t now, int wait)
{
	struct itimerspec	its = { 0 };
	uint64_t		deadline;

	if (wait <= 0 || tw->fd == -1)
		return (wait);
	deadline = now + (uint64_t)wait;
	/* Set already for no later: it wakes us in time (or early). */
	if (tw->armed != 0 && tw->armed <= deadline)
		return (-1);
	its.it_value.tv_sec = (time_t)(deadline / 1000);
	its.it_value.tv_nsec = (long)(deadline % 1000) * 1000000;
	if (timerfd_settime(tw->fd, TFD_TIMER_ABSTIME, &its, NULL) == -1) {
		tw->armed = 0;
		return (wait);
	}
	tw->armed = deadline;
	return (-1);
}

/* The timerfd was readable: it fired; clear it so the next wait sets it. */
void
timer_wake_fired(struct timer_wake *tw)
{
	uint64_t	n;

	(void)read(tw->fd, &n, sizeof(n));
	tw->armed = 0;
}

void
timer_wake_close(struct timer_wake *tw)
{
	if (tw->fd != -1)
		(void)close(tw->fd);
	tw->fd = -1;
	tw->armed = 0;
}

/*
 * timer.c: deadline lists with a uniform timeout each.
 */
#include <limits.h>
#include <stddef.h>

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

void
timer_cancel(struct timer *t)
{
	if (t->list == NULL)
		return;
	TAILQ_REMOVE(&t->list->head, t, entry);
	t->list = NULL;
}

/* The first timer of l whose deadline has passed, still armed, or NULL. */
struct timer *
timer_expired(struct timer_list *l, uint64_t now)
{
	struct timer	*t = TAILQ_FIRST(&l->head);

	if (t == NULL || t->deadline > now)
		return (NULL);
	return (t);
}

/* Shrink *wait (ms, -1 = forever) so the loop wakes for l's first deadline. */
int
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

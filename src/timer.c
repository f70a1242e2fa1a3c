/*
 * timer.c: deadline lists with a uniform timeout each.
 */
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

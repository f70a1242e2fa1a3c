/*
 * test_timer.c: deadline lists: arming, re-arming (moves to the tail),
 * cancelling, expiry in deadline order and the poll timeout.
 */
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "timer.h"

#define TIMEOUT	100

/* Expire everything due at now, in order, into out; returns how many. */
static size_t
drain(struct timer_list *l, uint64_t now, struct timer **out, size_t max)
{
	struct timer	*t;
	size_t		 n = 0;

	while (n < max && (t = timer_expired(l, now)) != NULL) {
		timer_cancel(t);
		out[n++] = t;
	}
	return (n);
}

static struct timer *
last_timer(struct timer_list *l)
{
	struct timer	*t, *last = NULL;

	TAILQ_FOREACH(t, &l->head, entry)
		last = t;
	return (last);
}

/* Arm three timers on a fresh list l, started at s0, s1 and s2. */
static void
arm_three(struct timer_list *l, struct timer *t, uint64_t s0, uint64_t s1,
    uint64_t s2)
{
	memset(t, 0, 3 * sizeof(*t));
	timer_list_init(l, TIMEOUT);
	timer_arm(l, &t[0], s0);
	timer_arm(l, &t[1], s1);
	timer_arm(l, &t[2], s2);
}

static void
test_timer_arm_deadline(void **state)
{
	struct timer_list	l;
	struct timer		t;

	(void)state;
	memset(&t, 0, sizeof(t));
	timer_list_init(&l, TIMEOUT);
	timer_arm(&l, &t, 1000);
	assert_ptr_equal(t.list, &l);
	assert_int_equal(t.deadline, 1000 + TIMEOUT);
	assert_ptr_equal(TAILQ_FIRST(&l.head), &t);
}

static void
test_timer_expired_order(void **state)
{
	struct timer_list	 l;
	struct timer		 t[3], *out[4];

	(void)state;
	arm_three(&l, t, 0, 10, 20);

	assert_null(timer_expired(&l, 99));
	/* Due exactly at the deadline; stays armed until cancelled. */
	assert_ptr_equal(timer_expired(&l, 100), &t[0]);
	assert_ptr_equal(timer_expired(&l, 100), &t[0]);
	assert_ptr_equal(t[0].list, &l);

	assert_int_equal(drain(&l, 115, out, 4), 2);
	assert_ptr_equal(out[0], &t[0]);
	assert_ptr_equal(out[1], &t[1]);
	assert_null(t[1].list);
	assert_int_equal(drain(&l, 1000, out, 4), 1);
	assert_ptr_equal(out[0], &t[2]);
	assert_true(TAILQ_EMPTY(&l.head));
}

static void
test_timer_rearm_moves_to_tail(void **state)
{
	struct timer_list	 l;
	struct timer		 t[3], *out[4];

	(void)state;
	arm_three(&l, t, 0, 0, 0);
	/* Activity on the first pushes its deadline behind the others. */
	timer_arm(&l, &t[0], 50);
	assert_int_equal(t[0].deadline, 50 + TIMEOUT);
	assert_ptr_equal(TAILQ_FIRST(&l.head), &t[1]);
	assert_ptr_equal(last_timer(&l), &t[0]);

	assert_int_equal(drain(&l, 100, out, 4), 2);
	assert_ptr_equal(out[0], &t[1]);
	assert_ptr_equal(out[1], &t[2]);
	assert_null(timer_expired(&l, 149));
	assert_ptr_equal(timer_expired(&l, 150), &t[0]);
}

static void
test_timer_cancel_semantics(void **state)
{
	struct timer_list	l;
	struct timer		t[2];

	(void)state;
	memset(t, 0, sizeof(t));
	timer_list_init(&l, TIMEOUT);
	/* Cancelling a timer that was never armed is harmless. */
	timer_cancel(&t[0]);
	assert_null(t[0].list);

	timer_arm(&l, &t[0], 0);
	timer_arm(&l, &t[1], 5);
	timer_cancel(&t[0]);
	assert_null(t[0].list);
	timer_cancel(&t[0]);
	assert_ptr_equal(TAILQ_FIRST(&l.head), &t[1]);
	assert_null(timer_expired(&l, 104));
	assert_ptr_equal(timer_expired(&l, 105), &t[1]);

	/* A cancelled timer can be armed again. */
	timer_arm(&l, &t[0], 10);
	assert_ptr_equal(last_timer(&l), &t[0]);
}

static void
test_timer_arm_other_list(void **state)
{
	struct timer_list	idle, readl;
	struct timer		t;

	(void)state;
	memset(&t, 0, sizeof(t));
	timer_list_init(&idle, 1000);
	timer_list_init(&readl, 10);
	timer_arm(&idle, &t, 0);
	/* A request starts: the timer moves to the other list. */
	timer_arm(&readl, &t, 5);
	assert_true(TAILQ_EMPTY(&idle.head));
	assert_ptr_equal(t.list, &readl);
	assert_int_equal(t.deadline, 15);
	assert_null(timer_expired(&idle, 5000));
	assert_ptr_equal(timer_expired(&readl, 15), &t);
}

static void
test_timer_wait_ms_empty(void **state)
{
	struct timer_list	l;

	(void)state;
	timer_list_init(&l, TIMEOUT);
	assert_int_equal(timer_wait_ms(&l, 0, -1), -1);
	assert_int_equal(timer_wait_ms(&l, 0, 0), 0);
	assert_int_equal(timer_wait_ms(&l, 0, 1234), 1234);
}

static void
test_timer_wait_ms_shrinks(void **state)
{
	struct timer_list	l;
	struct timer		t;

	(void)state;
	memset(&t, 0, sizeof(t));
	timer_list_init(&l, TIMEOUT);
	timer_arm(&l, &t, 0);			/* due at 100 */
	assert_int_equal(timer_wait_ms(&l, 40, -1), 60);
	assert_int_equal(timer_wait_ms(&l, 40, 1000), 60);
	assert_int_equal(timer_wait_ms(&l, 40, 60), 60);
	assert_int_equal(timer_wait_ms(&l, 40, 30), 30);
	assert_int_equal(timer_wait_ms(&l, 40, 0), 0);
	/* Due or overdue: do not sleep at all. */
	assert_int_equal(timer_wait_ms(&l, 100, -1), 0);
	assert_int_equal(timer_wait_ms(&l, 5000, 250), 0);
}

static void
test_timer_wait_ms_huge_timeout(void **state)
{
	struct timer_list	l;
	struct timer		t;
	int			w;

	(void)state;
	memset(&t, 0, sizeof(t));
	/* Farther than an int of milliseconds: wait long, not forever. */
	timer_list_init(&l, UINT32_MAX);
	timer_arm(&l, &t, 0);
	w = timer_wait_ms(&l, 0, -1);
	assert_int_equal(w, INT_MAX);
	assert_int_equal(timer_wait_ms(&l, 0, 500), 500);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timer_arm_deadline),
		cmocka_unit_test(test_timer_expired_order),
		cmocka_unit_test(test_timer_rearm_moves_to_tail),
		cmocka_unit_test(test_timer_cancel_semantics),
		cmocka_unit_test(test_timer_arm_other_list),
		cmocka_unit_test(test_timer_wait_ms_empty),
		cmocka_unit_test(test_timer_wait_ms_shrinks),
		cmocka_unit_test(test_timer_wait_ms_huge_timeout),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

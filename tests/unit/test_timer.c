/*
 * test_timer.c: deadline lists: arming, re-arming (moves to the tail),
 * cancelling, expiry in deadline order and the poll timeout; the loop's
 * timerfd wake-up (timerfd_settime wrapped: how often it is set, and for
 * when), and once for real.
 */
#include <sys/timerfd.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "timer.h"
#include "util.h"

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

/* timerfd_settime, counted; passed to the kernel only when real is set. */
static int	set_calls;
static int	set_fail;
static int	set_real;
static uint64_t	set_ms;		/* the last absolute deadline set */

int	__real_timerfd_settime(int, int, const struct itimerspec *,
	    struct itimerspec *);
int	__wrap_timerfd_settime(int, int, const struct itimerspec *,
	    struct itimerspec *);

int
__wrap_timerfd_settime(int fd, int flags, const struct itimerspec *n,
    struct itimerspec *o)
{
	set_calls++;
	assert_int_equal(flags, TFD_TIMER_ABSTIME);
	assert_int_equal(n->it_interval.tv_sec, 0);
	assert_int_equal(n->it_interval.tv_nsec, 0);
	set_ms = (uint64_t)n->it_value.tv_sec * 1000 +
	    (uint64_t)n->it_value.tv_nsec / 1000000;
	if (set_fail) {
		errno = EINVAL;
		return (-1);
	}
	if (set_real)
		return (__real_timerfd_settime(fd, flags, n, o));
	return (0);
}

static void
wake_reset(struct timer_wake *tw)
{
	tw->fd = 100;	/* never used: the wrapper does not pass it on */
	tw->armed = 0;
	set_calls = set_fail = set_real = 0;
	set_ms = 0;
}

/*
 * A busy loop: every turn its deadline moves later (the heartbeat, an
 * idle timeout restarted by each request).  The timerfd is set once, and
 * epoll_wait is told to sleep without a timeout every time.
 */
static void
test_wake_later_deadlines_set_once(void **state)
{
	struct timer_wake	tw;
	uint64_t		now;

	(void)state;
	wake_reset(&tw);
	for (now = 5000; now < 5900; now += 3)
		assert_int_equal(timer_wake_wait(&tw, now, 1000), -1);
	assert_int_equal(set_calls, 1);
	assert_int_equal(set_ms, 6000);
	assert_int_equal(tw.armed, 6000);
}

/* A deadline earlier than the one set sets it again, for the earlier one. */
static void
test_wake_earlier_deadline_resets(void **state)
{
	struct timer_wake	tw;

	(void)state;
	wake_reset(&tw);
	assert_int_equal(timer_wake_wait(&tw, 5000, 1000), -1);
	assert_int_equal(timer_wake_wait(&tw, 5010, 5), -1);
	assert_int_equal(set_calls, 2);
	assert_int_equal(set_ms, 5015);
	/* Equal to what is set: nothing to do. */
	assert_int_equal(timer_wake_wait(&tw, 5011, 4), -1);
	assert_int_equal(set_calls, 2);
}

/* Once it fired, the next wait sets it again (it is no longer set). */
static void
test_wake_fired_then_set_again(void **state)
{
	struct timer_wake	tw;
	int			p[2];

	(void)state;
	wake_reset(&tw);
	assert_int_equal(timer_wake_wait(&tw, 5000, 1000), -1);
	/* fired reads the descriptor: give it a pipe with 8 bytes. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "12345678", 8), 8);
	tw.fd = p[0];
	timer_wake_fired(&tw);
	assert_int_equal(tw.armed, 0);
	assert_int_equal(timer_wake_wait(&tw, 6000, 1000), -1);
	assert_int_equal(set_calls, 2);
	assert_int_equal(set_ms, 7000);
	close(p[0]);
	close(p[1]);
}

/*
 * No timerfd, a wait of 0 (poll) or none (-1), or a failed set: epoll_wait
 * gets the timeout itself, and nothing is left set.
 */
static void
test_wake_fallbacks(void **state)
{
	struct timer_wake	tw;

	(void)state;
	wake_reset(&tw);
	assert_int_equal(timer_wake_wait(&tw, 5000, 0), 0);
	assert_int_equal(timer_wake_wait(&tw, 5000, -1), -1);
	assert_int_equal(set_calls, 0);
	tw.fd = -1;
	assert_int_equal(timer_wake_wait(&tw, 5000, 250), 250);
	assert_int_equal(set_calls, 0);
	tw.fd = 100;
	set_fail = 1;
	assert_int_equal(timer_wake_wait(&tw, 5000, 250), 250);
	assert_int_equal(tw.armed, 0);
	set_fail = 0;
	assert_int_equal(timer_wake_wait(&tw, 5000, 250), -1);
	assert_int_equal(tw.armed, 5250);
}

/*
 * For real: set 30 ms ahead on the clock mono_ms reads, the descriptor
 * becomes readable no earlier than that (and within 10 s: bounded);
 * fired empties it.
 */
static void
test_wake_real_timerfd(void **state)
{
	struct timer_wake	tw;
	struct pollfd		pfd;
	uint64_t		t0;

	(void)state;
	wake_reset(&tw);
	set_real = 1;
	assert_int_equal(timer_wake_open(&tw), 0);
	t0 = mono_ms();
	assert_int_equal(timer_wake_wait(&tw, t0, 30), -1);
	pfd.fd = tw.fd;
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	assert_true(mono_ms() >= t0 + 30);
	timer_wake_fired(&tw);
	assert_int_equal(tw.armed, 0);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	timer_wake_close(&tw);
	assert_int_equal(tw.fd, -1);
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
		cmocka_unit_test(test_wake_later_deadlines_set_once),
		cmocka_unit_test(test_wake_earlier_deadline_resets),
		cmocka_unit_test(test_wake_fired_then_set_again),
		cmocka_unit_test(test_wake_fallbacks),
		cmocka_unit_test(test_wake_real_timerfd),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

/*
 * test_pool.c: the worker's thread pool: completions reach the loop
 * through the eventfd and are handed on in the order they finished, a
 * cancelled job runs and is freed without its done function, a full
 * queue refuses, and shutdown waits (bounded) for a running job and drops
 * the queued ones.
 */
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "pool.h"

#define WAIT_MS	5000	/* a bound, never a pause */

/* A gate a job waits at until the test opens it. */
struct gate {
	pthread_mutex_t	mu;
	pthread_cond_t	cv;
	int		open;
	int		waiting;	/* jobs at the gate */
};

struct tjob {
	struct pool_job	 pj;
	struct gate	*gate;		/* NULL: run at once */
	int		 id;
	int		 ran;
	int		 freed;
	int		*order;		/* done appends id here */
	int		*norder;
};

static struct gate	g = { PTHREAD_MUTEX_INITIALIZER,
			    PTHREAD_COND_INITIALIZER, 0, 0 };

static void
gate_reset(void)
{
	g.open = 0;
	g.waiting = 0;
}

static void
gate_open(void)
{
	pthread_mutex_lock(&g.mu);
	g.open = 1;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
}

/* Wait (bounded) until n jobs stand at the gate. */
static void
gate_wait_for(int n)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&g.mu);
	while (g.waiting < n)
		if (pthread_cond_timedwait(&g.cv, &g.mu, &ts) != 0)
			break;
	pthread_mutex_unlock(&g.mu);
	assert_true(g.waiting >= n);
}

static void
tjob_run(struct pool_job *pj)
{
	struct tjob	*j = (struct tjob *)pj;

	if (j->gate != NULL) {
		pthread_mutex_lock(&j->gate->mu);
		j->gate->waiting++;
		pthread_cond_broadcast(&j->gate->cv);
		while (!j->gate->open)
			pthread_cond_wait(&j->gate->cv, &j->gate->mu);
		pthread_mutex_unlock(&j->gate->mu);
	}
	j->ran = 1;
}

static void
tjob_done(struct pool_job *pj)
{
	struct tjob	*j = (struct tjob *)pj;

	j->order[(*j->norder)++] = j->id;
}

static void
tjob_free(struct pool_job *pj)
{
	((struct tjob *)pj)->freed = 1;
}

static void
tjob_init(struct tjob *j, int id, struct gate *gate, int *order, int *n)
{
	memset(j, 0, sizeof(*j));
	j->pj.run = tjob_run;
	j->pj.done = tjob_done;
	j->pj.free = tjob_free;
	j->pj.arg = j;
	j->id = id;
	j->gate = gate;
	j->order = order;
	j->norder = n;
}

/* A started pool of nth threads and max_queue, the gate closed. */
static void
pool_up(struct pool *p, int nth, uint32_t max_queue)
{
	gate_reset();
	assert_int_equal(pool_init(p, nth, max_queue), 0);
	assert_int_equal(pool_start(p), 0);
}

/* Run the loop's side until want jobs were collected (bounded). */
static int
collect(struct pool *p, int want)
{
	struct pollfd	pfd;
	int		got = 0, i;

	for (i = 0; i < 100 && got < want; i++) {
		pfd.fd = p->efd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, WAIT_MS / 100) == 1)
			got += pool_event(p);
	}
	return (got);
}

/* One thread: done functions run in the loop, in the order jobs ended. */
static void
test_pool_order(void **state)
{
	struct pool	p;
	struct tjob	j[3];
	int		order[3], n = 0, i;

	(void)state;
	pool_up(&p, 1, 8);
	for (i = 0; i < 3; i++) {
		tjob_init(&j[i], i + 1, NULL, order, &n);
		assert_int_equal(pool_submit(&p, &j[i].pj), 0);
	}
	assert_int_equal(collect(&p, 3), 3);
	assert_int_equal(n, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(order[i], i + 1);
		assert_true(j[i].ran && j[i].freed);
	}
	assert_int_equal(pool_shutdown(&p, WAIT_MS), 0);
}

/*
 * Two threads, the first job held at the gate: the second is answered
 * first (the loop is not held up by a slow job), the first when it ends.
 */
static void
test_pool_slow_job_does_not_block(void **state)
{
	struct pool	p;
	struct tjob	slow, fast;
	int		order[2], n = 0;

	(void)state;
	pool_up(&p, 2, 8);
	tjob_init(&slow, 1, &g, order, &n);
	tjob_init(&fast, 2, NULL, order, &n);
	assert_int_equal(pool_submit(&p, &slow.pj), 0);
	gate_wait_for(1);
	assert_int_equal(pool_submit(&p, &fast.pj), 0);
	assert_int_equal(collect(&p, 1), 1);
	assert_int_equal(n, 1);
	assert_int_equal(order[0], 2);
	gate_open();
	assert_int_equal(collect(&p, 1), 1);
	assert_int_equal(order[1], 1);
	assert_int_equal(pool_shutdown(&p, WAIT_MS), 0);
}

/* A cancelled job still runs to its end; only free is called. */
static void
test_pool_cancel(void **state)
{
	struct pool	p;
	struct tjob	j;
	int		order[1], n = 0;

	(void)state;
	pool_up(&p, 1, 8);
	tjob_init(&j, 1, &g, order, &n);
	assert_int_equal(pool_submit(&p, &j.pj), 0);
	gate_wait_for(1);
	pool_cancel(&j.pj);		/* its connection closed */
	gate_open();
	assert_int_equal(collect(&p, 1), 1);
	assert_true(j.ran);
	assert_true(j.freed);
	assert_int_equal(n, 0);
	assert_int_equal(pool_shutdown(&p, WAIT_MS), 0);
}

/* max_queue counts running and waiting jobs; one more is refused. */
static void
test_pool_queue_full(void **state)
{
	struct pool	p;
	struct tjob	j[3];
	int		order[3], n = 0;

	(void)state;
	pool_up(&p, 1, 2);
	tjob_init(&j[0], 1, &g, order, &n);
	tjob_init(&j[1], 2, NULL, order, &n);
	tjob_init(&j[2], 3, NULL, order, &n);
	assert_int_equal(pool_submit(&p, &j[0].pj), 0);
	gate_wait_for(1);
	assert_int_equal(pool_submit(&p, &j[1].pj), 0);
	assert_int_equal(pool_submit(&p, &j[2].pj), -1);
	gate_open();
	assert_int_equal(collect(&p, 2), 2);
	/* Room again. */
	assert_int_equal(pool_submit(&p, &j[2].pj), 0);
	assert_int_equal(collect(&p, 1), 1);
	assert_int_equal(n, 3);
	assert_int_equal(pool_shutdown(&p, WAIT_MS), 0);
}

/*
 * The gate opens from another thread once shutdown has begun (a bounded
 * poll of the pool's stop flag), so the queued job cannot start first.
 */
static void *
opener(void *arg)
{
	struct pool	*p = arg;
	struct timespec	 ms = { 0, 1000000 };
	int		 i, stop = 0;

	for (i = 0; i < WAIT_MS && !stop; i++) {
		pthread_mutex_lock(&p->mu);
		stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (!stop)
			nanosleep(&ms, NULL);
	}
	gate_open();
	return (NULL);
}

/*
 * Shutdown waits for the running job (it ends, is collected) and drops
 * the queued one (freed, never run).
 */
static void
test_pool_shutdown_waits(void **state)
{
	struct pool	p;
	struct tjob	run, queued;
	pthread_t	t;
	int		order[2], n = 0;

	(void)state;
	pool_up(&p, 1, 8);
	tjob_init(&run, 1, &g, order, &n);
	tjob_init(&queued, 2, NULL, order, &n);
	assert_int_equal(pool_submit(&p, &run.pj), 0);
	gate_wait_for(1);
	assert_int_equal(pool_submit(&p, &queued.pj), 0);
	assert_int_equal(pthread_create(&t, NULL, opener, &p), 0);
	assert_int_equal(pool_shutdown(&p, WAIT_MS), 0);
	pthread_join(t, NULL);
	assert_true(run.ran && run.freed);
	assert_false(queued.ran);
	assert_true(queued.freed);
	assert_int_equal(pool_submit(&p, &queued.pj), -1);
}

/* A job that outlives the bound: shutdown says so instead of hanging. */
static void
test_pool_shutdown_bounded(void **state)
{
	/* Static: the thread outlives this function. */
	static struct pool	p;
	static struct tjob	j;
	static int		order[1], n;

	(void)state;
	pool_up(&p, 1, 8);
	tjob_init(&j, 1, &g, order, &n);
	assert_int_equal(pool_submit(&p, &j.pj), 0);
	gate_wait_for(1);
	assert_int_equal(pool_shutdown(&p, 20), -1);
	gate_open();		/* let the thread end before the process */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_order),
		cmocka_unit_test(test_pool_slow_job_does_not_block),
		cmocka_unit_test(test_pool_cancel),
		cmocka_unit_test(test_pool_queue_full),
		cmocka_unit_test(test_pool_shutdown_waits),
		cmocka_unit_test(test_pool_shutdown_bounded),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

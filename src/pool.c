/*
 * pool.c: the worker's thread pool, a bounded job queue whose completions
 * reach the event loop through an eventfd.
 */
#include <sys/eventfd.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"

/* The first thread's job: none. */
static void *
pool_nop(void *arg)
{
	return (arg);
}

/*
 * Set up the queue and the eventfd; no serving thread yet (pool_start,
 * once the worker is sandboxed: a thread only inherits the seccomp filter
 * and the Landlock domain that exist when it is created).  One thread is
 * made and joined here all the same: glibc installs its own signal
 * handlers (rt_sigaction) at the first pthread_create, which the filter
 * then need not allow.  Returns 0, or -1 with errno set.
 */
int
pool_init(struct pool *p, int nth, uint32_t max_queue)
{
	pthread_condattr_t	ca;
	pthread_t		t;
	int			rc;

	memset(p, 0, sizeof(*p));
	p->kind = EV_POOL;
	p->nth = nth < 1 ? 1 : nth > POOL_THREADS_MAX ? POOL_THREADS_MAX : nth;
	p->max_queue = max_queue > 0 ? max_queue : 1;
	TAILQ_INIT(&p->todo);
	TAILQ_INIT(&p->done);
	if ((rc = pthread_create(&t, NULL, pool_nop, NULL)) != 0) {
		errno = rc;
		return (-1);
	}
	pthread_join(t, NULL);
	if ((p->th = calloc((size_t)p->nth, sizeof(*p->th))) == NULL)
		return (-1);
	if ((p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		free(p->th);
		p->th = NULL;
		return (-1);
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	/* Shutdown waits with a monotonic deadline. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->idle, &ca);
	pthread_condattr_destroy(&ca);
	return (0);
}

/* A pool thread: run queued jobs until told to stop. */
static void *
pool_main(void *arg)
{
	struct pool	*p = arg;
	struct pool_job	*j;
	uint64_t	 one = 1;
	ssize_t		 n;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && TAILQ_EMPTY(&p->todo))
			pthread_cond_wait(&p->work, &p->mu);
		if (p->stop)
			break;
		j = TAILQ_FIRST(&p->todo);
		TAILQ_REMOVE(&p->todo, j, entry);
		p->running++;
		pthread_mutex_unlock(&p->mu);
		j->run(j);
		pthread_mutex_lock(&p->mu);
		p->running--;
		p->queued--;
		TAILQ_INSERT_TAIL(&p->done, j, entry);
		pthread_cond_broadcast(&p->idle);
		/* Cannot fail short of a counter at 2^64-2 (EAGAIN). */
		do
			n = write(p->efd, &one, sizeof(one));
		while (n == -1 && errno == EINTR);
	}
	pthread_mutex_unlock(&p->mu);
	return (NULL);
}

/*
 * Start the threads, every signal blocked in them but SIGSYS: the loop's
 * signalfd must stay the one place signals arrive, and a refused system
 * call must still reach the sandbox's handler (blocked, it would kill the
 * worker without a word).  Returns 0, or -1 with errno set (the threads
 * started so far keep running).
 */
int
pool_start(struct pool *p)
{
	sigset_t	all, old;
	int		rc = 0;

	sigfillset(&all);
	sigdelset(&all, SIGSYS);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; p->started < p->nth; p->started++)
		if ((rc = pthread_create(&p->th[p->started], NULL, pool_main,
		    p)) != 0)
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		return (-1);
	}
	return (0);
}

/* Queue j.  Returns -1 when the queue is full (the caller answers BUSY). */
int
pool_submit(struct pool *p, struct pool_job *j)
{
	pthread_mutex_lock(&p->mu);
	if (p->queued >= p->max_queue || p->stop) {
		pthread_mutex_unlock(&p->mu);
		return (-1);
	}
	p->queued++;
	TAILQ_INSERT_TAIL(&p->todo, j, entry);
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
	return (0);
}

/*
 * Nobody wants j's result any more (its connection closed): it still
 * runs or finishes, and is freed without its done function.  Loop only.
 */
void
pool_cancel(struct pool_job *j)
{
	j->arg = NULL;
}

/* Take the finished jobs off the list and give them to the loop. */
static int
pool_collect(struct pool *p)
{
	struct pool_jobs	 done;
	struct pool_job		*j;
	int			 n = 0;

	TAILQ_INIT(&done);
	pthread_mutex_lock(&p->mu);
	TAILQ_CONCAT(&done, &p->done, entry);
	pthread_mutex_unlock(&p->mu);
	while ((j = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, j, entry);
		if (j->arg != NULL)
			j->done(j);
		j->free(j);
		n++;
	}
	return (n);
}

/*
 * The eventfd is readable: answer the finished jobs, in the order they
 * finished.  Returns how many there were.
 */
int
pool_event(struct pool *p)
{
	uint64_t	v;

	(void)read(p->efd, &v, sizeof(v));
	return (pool_collect(p));
}

/*
 * The worker exits: queued jobs are dropped, running ones get up to
 * wait_ms to finish (a PUT is not cut between its fsyncs when it can be
 * helped), then the threads are joined.  Returns 0, or -1 when a job was
 * still running at the deadline (its thread is left to the exit).
 */
int
pool_shutdown(struct pool *p, uint32_t wait_ms)
{
	struct pool_jobs	 dropped;
	struct pool_job		*j;
	struct timespec		 ts;
	int			 i, rc = 0;

	if (p->th == NULL)
		return (0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += wait_ms / 1000;
	ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	TAILQ_INIT(&dropped);
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	TAILQ_CONCAT(&dropped, &p->todo, entry);
	p->queued = (uint32_t)p->running;
	pthread_cond_broadcast(&p->work);
	while (p->running > 0 && rc == 0)
		if (pthread_cond_timedwait(&p->idle, &p->mu, &ts) == ETIMEDOUT)
			rc = -1;
	if (p->running > 0)
		rc = -1;
	pthread_mutex_unlock(&p->mu);
	while ((j = TAILQ_FIRST(&dropped)) != NULL) {
		TAILQ_REMOVE(&dropped, j, entry);
		j->free(j);
	}
	if (rc == -1)
		return (-1);
	for (i = 0; i < p->started; i++)
		pthread_join(p->th[i], NULL);
	p->started = 0;
	(void)pool_collect(p);
	free(p->th);
	p->th = NULL;
	close(p->efd);
	p->efd = -1;
	return (0);
}

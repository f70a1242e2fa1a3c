/*
 * pool.h: a worker's threads for work that may wait on the disk.
 *
 * Like nginx's "aio threads": a few threads take jobs from a bounded queue
 * and run them; a finished job goes on a done list and an eventfd in the
 * worker's epoll set tells the loop, which calls the job's done function
 * (unless the job was cancelled meanwhile) and then its free function.
 * A job's run function sees only what the job owns; arg, done and free
 * are the loop's alone, so cancelling needs no lock.
 */
#ifndef MSGD_POOL_H
#define MSGD_POOL_H

#include <sys/queue.h>
#include <pthread.h>
#include <stdint.h>

#include "ev.h"

#define POOL_THREADS_MAX	64

struct pool_job;
typedef void	(*pool_fn)(struct pool_job *);

struct pool_job {
	TAILQ_ENTRY(pool_job)	 entry;
	pool_fn			 run;	/* in a pool thread */
	pool_fn			 done;	/* in the loop, unless cancelled */
	pool_fn			 free;	/* in the loop, always, last */
	void			*arg;	/* the loop's; NULL: cancelled */
};

TAILQ_HEAD(pool_jobs, pool_job);

struct pool {
	enum ev_kind		 kind;	/* EV_POOL: must stay first */
	int			 efd;	/* eventfd: jobs are done */
	pthread_mutex_t		 mu;	/* guards what follows */
	pthread_cond_t		 work;	/* a job queued, or stop */
	pthread_cond_t		 idle;	/* a job finished */
	struct pool_jobs	 todo;
	struct pool_jobs	 done;
	uint32_t		 queued;	/* on todo or running */
	uint32_t		 max_queue;
	int			 running;
	int			 stop;
	pthread_t		*th;
	int			 nth;		/* wanted */
	int			 started;
};

int	pool_init(struct pool *, int, uint32_t);
int	pool_start(struct pool *);
int	pool_submit(struct pool *, struct pool_job *);
void	pool_cancel(struct pool_job *);
int	pool_event(struct pool *);
int	pool_shutdown(struct pool *, uint32_t);

#endif /* MSGD_POOL_H */

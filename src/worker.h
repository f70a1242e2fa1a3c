/*
 * worker.h: a worker process: one epoll loop over the inherited listeners
 * and every connection it accepted.
 */
#ifndef MSGD_WORKER_H
#define MSGD_WORKER_H

#include "config.h"
#include "net.h"
#include "priv.h"
#include "stats.h"
#include "tls.h"

/* A listening socket as the master owns it and the workers inherit it. */
struct listener {
	int		fd;
	int		dgram;		/* UDP */
	int		tls;		/* "tls:" in listen */
	struct net_addr	addr;
};

/*
 * A worker told to stop drains for shutdown_timeout; the master kills it
 * (SIGKILL) KILL_GRACE_MS later.  In between, the exiting worker waits up
 * to POOL_STOP_MS for file operations still running (a PUT is not cut
 * between its fsyncs when it can be helped), and must be gone before the
 * kill: hence the shorter wait, and the rest of the grace for its exit.
 */
#define KILL_GRACE_MS		1000
#define POOL_STOP_MS		500
_Static_assert(POOL_STOP_MS * 2 <= KILL_GRACE_MS,
    "an exiting worker must finish before the master kills it");

/* Exit status meaning "setup is impossible: do not respawn". */
#define WORKER_EXIT_FATAL	2

/* Everything a worker gets from the master at fork. */
struct worker_args {
	int			 slot;		/* stats slot */
	int			 pos;		/* "worker N" */
	int			 nworkers;	/* of its generation, now */
	uint64_t		 generation;
	const struct msgd_conf	*conf;
	struct listener		*ls;
	int			 nls;
	struct stats_seg	*stats;
	int			 probe;		/* socketpair end: master's PING */
	int			 ctl;		/* connections handed over */
	int			 note;		/* seccomp death note, to master */
	const struct priv	*priv;
	struct tls_ctx		*tls;		/* the generation's, or NULL */
};

void	worker_main(const struct worker_args *) __attribute__((noreturn));

#endif /* MSGD_WORKER_H */

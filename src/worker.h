/*
 * worker.h: a worker process: one epoll loop over the inherited listeners
 * and every connection it accepted.
 */
#ifndef MSGD_WORKER_H
#define MSGD_WORKER_H

#include "config.h"
#include "net.h"
#include "stats.h"

/* A listening socket as the master owns it and the workers inherit it. */
struct listener {
	int		fd;
	struct net_addr	addr;
};

/* Exit status meaning "setup is impossible: do not respawn". */
#define WORKER_EXIT_FATAL	2

void	worker_main(int, const struct msgd_conf *, struct listener *, int,
	    struct stats_seg *, uint64_t) __attribute__((noreturn));

#endif /* MSGD_WORKER_H */

/*
 * master.h: the supervising process.  It owns the listening sockets for its
 * whole life, forks the workers, watches them and turns signals into work
 * in its loop.  Its files are layers, each calling only those below it;
 * their private headers are master_reload.h, master_gen.h and
 * master_proc.h:
 *
 *	master.c	the loop: start-up, signals, stop, statistics,
 *			notifications, log and directories; it decides what
 *			a worker's exit means (respawn, roll back, stop;
 *			when a respawn may run is master_gen.c's throttle)
 *	master_reload.c	a reload as a transaction: new generation, then
 *			commit or roll back
 *	master_gen.c	generations, one list with a state each: a
 *			configuration's sockets and workers, the respawn
 *			throttle, draining
 *	master_proc.c	the process table: spawn, start-up probe, drain,
 *			hand-over, reap (reported, not acted on), health
 *			checks
 */
#ifndef MSGD_MASTER_H
#define MSGD_MASTER_H

#include <stddef.h>

#include "config.h"
#include "priv.h"

int	master_main(struct msgd_conf *, int, const char *);
int	master_log_open(const struct msgd_conf *, const struct priv *, char *,
	    size_t);
int	master_check_dirs(const struct msgd_conf *, const struct priv *,
	    char *, size_t);

#endif /* MSGD_MASTER_H */

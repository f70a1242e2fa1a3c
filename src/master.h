/*
 * master.h: the supervising process.  It owns the listening sockets for its
 * whole life, forks the workers and turns signals into actions in its loop.
 */
#ifndef MSGD_MASTER_H
#define MSGD_MASTER_H

#include "config.h"

int	master_main(const struct msgd_conf *, int);

#endif /* MSGD_MASTER_H */

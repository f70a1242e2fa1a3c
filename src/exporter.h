/*
 * exporter.h: the metrics exporter, a process of its own ("msgd:
 * metrics") that answers GET /metrics and GET /health over HTTP on the
 * socket the master bound for metrics_listen.  It runs as the workers'
 * user, sandboxed like them, and reads the stats segment only, so it
 * answers while every worker is busy or hung.  The master forks and
 * supervises it (master_metrics.c) and never parses HTTP itself.
 */
#ifndef MSGD_EXPORTER_H
#define MSGD_EXPORTER_H

#include <sys/types.h>

#include "config.h"
#include "priv.h"

#define EXPORTER_CONN_MAX	64	/* open HTTP connections */
#define EXPORTER_TIMEOUT_S	10	/* a whole request, from the open or
					   the last answer; idle as long */
#define EXPORTER_MEMORY_LIMIT	16384	/* a request's headers, bytes */
#define EXPORTER_BEAT_MS	1000	/* a byte on the beat pipe */

/* Everything the exporter gets from the master at fork. */
struct exporter_args {
	const struct msgd_conf	*conf;
	const struct priv	*priv;
	int			 fd;	/* the listening socket */
	int			 beat;	/* pipe: ready, then once a second */
	int			 stats;	/* the master's segment, read-only */
	pid_t			 master;
};

void	exporter_main(const struct exporter_args *) __attribute__((noreturn));

#endif /* MSGD_EXPORTER_H */

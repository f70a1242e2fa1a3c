/*
 * master_metrics.h: the master's side of the metrics exporter
 * (exporter.h): bind metrics_listen, fork the exporter, watch its
 * heartbeat, respawn it with a throttle, restart it with a reload's
 * configuration, stop it last.  A process of its own kind beside the
 * process table's workers: the table only watches its pid (proc_other:
 * neither reaped as an orphan nor killed as a stray) and keeps its exit
 * status for us.
 */
#ifndef MSGD_MASTER_METRICS_H
#define MSGD_MASTER_METRICS_H

#include <sys/types.h>
#include <stdint.h>

#include "config.h"
#include "master_proc.h"
#include "net.h"
#include "priv.h"
#include "stats.h"

struct mx {
	struct ptable		*pt;
	struct stats_seg	*stats;
	int			 fd;		/* listening socket, or -1 */
	char			 addr[CONF_ADDR_MAX]; /* what fd is bound to */
	uint64_t		 gen_id;	/* configuration it runs with */
	pid_t			 pid;		/* 0: none */
	pid_t			 old;		/* told to stop, not reaped */
	int			 beat;		/* pipe from it, or -1 */
	int			 serving;	/* it said it is ready */
	int			 killed;	/* SIGKILL sent: not again */
	int			 fatal;		/* exited WORKER_EXIT_FATAL */
	int			 young;		/* early deaths in a row */
	uint64_t		 started;	/* mono ms */
	uint64_t		 last_beat;
	uint64_t		 respawn_at;	/* 0: nothing pending */
	uint64_t		 restarts;	/* deaths not asked for */
};

int	mx_init(struct mx *, const struct msgd_conf *, uint64_t, char *,
	    size_t);
void	mx_attach(struct mx *, struct ptable *, struct stats_seg *);
void	mx_run(struct mx *, const struct msgd_conf *, const struct priv *,
	    uint64_t, int, uint64_t, int *);
void	mx_signal(struct mx *, int);
void	mx_stop(struct mx *);

#endif /* MSGD_MASTER_METRICS_H */

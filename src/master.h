/*
 * master.h: the supervising process.  It owns the listening sockets for its
 * whole life, forks the workers, watches them and turns signals into work
 * in its loop.
 *
 *	master.c	the loop, signals, stop, statistics, notifications,
 *			log and directories
 *	master_proc.c	generations and the process table: spawn, start-up
 *			probe, drain, hand-over, reap, respawn, health checks
 *	master_reload.c	a generation's sockets, and a reload as a
 *			transaction: new generation, then commit or roll back
 */
#ifndef MSGD_MASTER_H
#define MSGD_MASTER_H

#include <sys/types.h>
#include <stdint.h>

#include "config.h"
#include "net.h"
#include "priv.h"
#include "proto.h"
#include "stats.h"
#include "worker.h"
#include "xfer.h"

#define PROBE_TIMEOUT_MS	10000	/* a new worker must answer by then */
#define KILL_GRACE_MS		1000	/* after shutdown_timeout: SIGKILL */

enum wstate {
	W_FREE = 0,
	W_STARTING,	/* forked, start-up probe not answered yet */
	W_SERVING,
	W_DRAINING	/* told to stop: SIGKILL at kill_at */
};

/* One worker process; the table is indexed by stats slot. */
struct wproc {
	pid_t		 pid;
	enum wstate	 state;
	int		 pos;		/* "worker N" in its generation */
	struct gen	*gen;
	uint64_t	 started;	/* mono ms */
	uint64_t	 kill_at;	/* STARTING/DRAINING deadline, mono ms */
	int		 probe;		/* master's end of the probe, or -1 */
	int		 ctl;		/* hand-over channel, or -1 */
	int		 note;		/* seccomp death note pipe, or -1 */
	size_t		 probe_len;
	uint8_t		 probe_buf[MSG_HDR_LEN + 8];
	int		 hung;		/* killed for a stale heartbeat */
	int		 retiring;	/* handing over: not a target */
};

/* A handed-over connection waiting for a serving worker. */
struct xfer_wait {
	int		 fd;
	struct xfer_info info;
};

/* A position of a generation: what "worker N" keeps across respawns. */
struct wpos {
	int		 proc;		/* index in the table, -1 if none */
	int		 young;		/* deaths in a row before a request */
	uint64_t	 respawn_at;	/* mono ms, 0: nothing pending */
	int		 fatal;		/* exited WORKER_EXIT_FATAL */
};

/* A configuration and the workers started with it. */
struct gen {
	uint64_t		 id;
	struct msgd_conf	*conf;
	struct priv		 priv;
	struct listener		 ls[CONF_LISTEN_MAX];
	int			 nls;
	struct wpos		*pos;	/* conf->max_workers of them */
	int			 npos;	/* in use (SIGTTIN/SIGTTOU move it) */
	struct gen		*doomed_next;	/* on master.doomed */
};

struct master {
	struct gen		*cur;		/* the serving generation */
	struct gen		*next;		/* a reload in progress */
	struct gen		*old[8];	/* draining generations */
	struct gen		*doomed;	/* killed to make room, not gone */
	struct wproc		*procs;
	int			 nprocs;
	int			 sigfd;
	int			 pidfd;
	struct stats_seg	 stats;
	uint64_t		 next_gen_id;
	uint64_t		 reload_started;
	uint64_t		 settle_at;	/* all new serve: commit then */
	int			 reload_pending;
	int			 ready;		/* READY=1 sent */
	int			 stopping;
	int			 quick;		/* SIGQUIT */
	int			 exit_code;
	uint64_t		 next_tick;	/* once-a-second chores */
	int			 rr;		/* hand-over round robin */
	struct xfer_wait	*xw;		/* waiting for a worker */
	int			 nxw;
	int			 xwcap;
	uint64_t		 next_watchdog;
	char			 last_status[128];
};

/* master_proc.c */
int	proc_spawn(struct master *, struct gen *, int);
void	proc_reap(struct master *);
void	proc_probe(struct master *, int);
void	proc_drain(struct master *, int, uint64_t, int);
int	proc_xfer(struct master *, int);
int	proc_xfer_flush(struct master *);
void	proc_xfer_drop(struct master *);
void	proc_kill_all(struct master *, int);
int	proc_count(struct master *, const struct gen *, enum wstate);
void	proc_respawn_due(struct master *, uint64_t, int *);
void	proc_check_health(struct master *, uint64_t);
int	gen_all_serving(struct master *, const struct gen *);
void	gen_drain(struct master *, struct gen *, int, int);
struct gen *gen_new(struct master *, struct msgd_conf *, char *, size_t);
void	gen_free(struct master *, struct gen *);
void	gen_collect(struct master *);

/* master_reload.c */
void	master_unbind_gen(struct master *, struct gen *);
int	gen_bind(struct master *, struct gen *, const struct gen *, char *,
	    size_t);
void	reload_start(struct master *);
void	reload_poll(struct master *, uint64_t);
void	reload_commit(struct master *);
void	reload_rollback(struct master *, const char *);

/* master.c */
int	master_main(struct msgd_conf *, int);
int	gen_prepare(struct master *, struct gen *, char *, size_t);
int	master_log_open(const struct msgd_conf *, const struct priv *, char *,
	    size_t);
int	master_check_dirs(const struct msgd_conf *, const struct priv *,
	    char *, size_t);
void	master_ready(struct master *);
void	master_stop(struct master *, const char *, int);

#endif /* MSGD_MASTER_H */

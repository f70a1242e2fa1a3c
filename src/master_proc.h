/*
 * master_proc.h: the master's process table, its lowest layer.  It forks,
 * probes, signals, reaps and hands connections between workers, and reports
 * what happened (a worker serves, a worker exited with this status); what
 * to do about it is decided above (master_gen.c, master.c).  A worker's
 * generation is only a tag here.
 */
#ifndef MSGD_MASTER_PROC_H
#define MSGD_MASTER_PROC_H

#include <sys/types.h>
#include <sys/resource.h>
#include <stdint.h>

#include "proto.h"
#include "stats.h"
#include "worker.h"
#include "xfer.h"

struct gen;

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
	uint64_t	 timeout_ms;	/* its worker_timeout, 0: none */
	int		 probe;		/* master's end of the probe, or -1 */
	int		 ctl;		/* hand-over channel, or -1 */
	int		 note;		/* seccomp death note pipe, or -1 */
	size_t		 probe_len;
	uint8_t		 probe_buf[MSG_HDR_LEN + 8];
	int		 hung;		/* killed for a stale heartbeat */
	int		 retiring;	/* handing over: not a target */
	int		 handed;	/* a socket came: it recycles */
	int		 succeeded;	/* its successor started early */
};

#define GRAVE_MAX	1024	/* descriptors buried before a flush */

/* Handed-over connections that may wait, bounds (proc_xfer_max). */
#define XW_MAX		65536
#define XW_MIN		16

/* A handed-over connection waiting for a serving worker. */
struct xfer_wait {
	int		 fd;
	struct xfer_info info;
};

/*
 * A child of the master that is no worker (a binary upgrade's check and
 * new master, the metrics exporter and the one told to stop): reaped
 * like the workers, its status kept for the layer that started it, and
 * never taken for a stray.
 */
#define PROC_OTHERS	4

struct proc_other {
	pid_t		 pid;		/* 0: unused */
	int		 exited;
	int		 status;	/* as waitpid(2), once exited */
};

/* The workers, and the connections handed over that wait for one. */
struct ptable {
	struct wproc		*procs;
	int			 nprocs;
	struct stats_seg	*stats;		/* the master's, slot per proc */
	int			 reaped;	/* since the last stray scan */
	int			 rr;		/* hand-over round robin */
	struct xfer_wait	*xw;		/* waiting for a worker */
	int			 nxw;
	int			 xwcap;
	int			 xwmax;		/* proc_xfer_max */
	int			 relay;		/* hand-overs go here, or -1 */
	int			*grave;		/* for the closer (proc_bury) */
	int			 ngrave;
	pid_t			 closer;	/* the closer not reaped yet */
	uint64_t		 relayed;	/* how many went there */
	struct proc_other	 others[PROC_OTHERS];
};

/* What proc_reap() reports: a worker that has exited, already unlisted. */
struct proc_exit {
	struct gen	*gen;
	pid_t		 pid;
	int		 slot;
	int		 pos;
	int		 status;	/* as waitpid(2) */
	enum wstate	 state;		/* when it died */
	int		 hung;
	int		 seccomp;	/* killed by its seccomp filter */
	int		 succeeded;	/* its successor started early */
	uint64_t	 requests;	/* answered, from its stats slot */
	char		 why[64];	/* "exited 3", "killed by signal 9" */
	char		 what[160];	/* its request in progress, if it failed */
};

int	proc_xfer_max(rlim_t, int);
void	proc_bury(struct ptable *, int);
void	proc_grave_flush(struct ptable *);
int	proc_xfer_room(const struct ptable *);
void	proc_xfer_lost(int, const char *);
void	proc_init(struct ptable *, int, struct stats_seg *);
void	proc_free(struct ptable *);
int	proc_spawn(struct ptable *, struct gen *, struct worker_args *);
int	proc_probe(struct ptable *, int);
void	proc_drain(struct ptable *, int, uint64_t, int);
void	proc_kill(struct ptable *, int);
void	proc_kill_all(struct ptable *, int);
int	proc_count(const struct ptable *, const struct gen *, enum wstate);
int	proc_reap(struct ptable *, const struct gen *, struct proc_exit *);
int	proc_failed(const struct proc_exit *);
void	proc_exit_log(const struct proc_exit *, int);
void	proc_check_health(struct ptable *, uint64_t);
void	proc_sweep(const struct ptable *);
int	proc_xfer(struct ptable *, int, const struct gen *);
int	proc_xfer_in(struct ptable *, int *, const struct gen *);
int	proc_other_add(struct ptable *, pid_t);
struct proc_other *proc_other(struct ptable *, pid_t);
void	proc_other_forget(struct ptable *, pid_t);
int	proc_xfer_flush(struct ptable *, const struct gen *);
void	proc_xfer_drop(struct ptable *);

#endif /* MSGD_MASTER_PROC_H */

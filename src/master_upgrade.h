/*
 * master_upgrade.h: a binary upgrade as a transaction (SIGUSR2, msgctl
 * upgrade), the layer beside the reload's, above generations.  Both ends
 * are here: the old master checks the binary on disk, starts it as its
 * child with the listening sockets (sd_listen_fds protocol) and two
 * channels, waits for it to serve, then hands its connections over and
 * leaves; the new master (started with MSGD_UPGRADE) takes its totals
 * and the stats path, and becomes the one.  When each step runs is the
 * loop's (master.c).
 */
#ifndef MSGD_MASTER_UPGRADE_H
#define MSGD_MASTER_UPGRADE_H

#include <sys/stat.h>
#include <sys/types.h>

#include <limits.h>
#include <stdint.h>

#include "master_gen.h"
#include "stats.h"
#include "util.h"

/* The old master's steps; the new master's are "incoming" and after. */
enum upstate {
	UP_IDLE = 0,
	UP_CHECK,	/* <new> -t -c <conf> runs */
	UP_START,	/* the new master starts: "ready" awaited */
	UP_SETTLE,	/* it serves: it must stay up a moment */
	UP_DRAIN,	/* committed: our workers hand over, then "done" */
	UP_DONE,	/* "done" sent: "committed" awaited, then exit */
	UP_ABORT,	/* failed: the new master is being stopped */
	UP_INCOMING,	/* we are the new master: "done" awaited */
	UP_TAKEN	/* we took over: the old master's exit awaited */
};

/* What upgrade_poll() and upgrade_input() tell the loop. */
enum upevent {
	UPE_NONE = 0,
	UPE_COMMIT,	/* old: drain the workers, handing over to relay */
	UPE_EXIT,	/* old: the new master is the one; exit now */
	UPE_ENDED,	/* old: failed, the old binary serves on */
	UPE_MAIN,	/* new: the old master is gone; we are systemd's */
	UPE_FAILED	/* new: the old master went away before the commit */
};

struct upgrade {
	struct gens		*gl;
	struct stats_seg	*stats;
	enum upstate		 state;
	char			 exe[PATH_MAX];	/* the binary to run */
	int			 foreground;
	int			 pidfd;		/* the locked pidfile */
	uint64_t		 started;	/* mono ms */
	uint64_t		 deadline;	/* of the present step */
	pid_t			 check_pid;
	int			 check_fd;	/* its output */
	char			 check_out[1024];
	size_t			 check_len;
	pid_t			 new_pid;
	int			 ctl;		/* control channel, or -1 */
	int			 xfer;		/* connections, or -1 */
	int			 metrics_fd;	/* passed with the listeners */
	char			 in[512];	/* control input, a line */
	size_t			 inlen;
	char			*carry;		/* new: the totals coming */
	size_t			 carry_need, carry_len;
	uint64_t		 owned;		/* new: listeners it bound */
	int			 committed;	/* new: "commit" received */
	char			 new_release[RELEASE_MAX];
	char			 why[384];	/* an abort's reason */
	struct stats_upgrade	 info;		/* carried, as published */
	struct stat		 disk;		/* exe when last looked at */
};

void	upgrade_init(struct upgrade *, struct gens *, struct stats_seg *,
	    const char *, int);
int	upgrade_incoming(struct upgrade *, char *, size_t);
void	upgrade_publish(struct upgrade *);
int	upgrade_busy(const struct upgrade *);
int	upgrade_start(struct upgrade *, int);
void	upgrade_refuse(struct upgrade *, const char *);
enum upevent upgrade_poll(struct upgrade *, uint64_t, int *);
enum upevent upgrade_input(struct upgrade *, int);
int	upgrade_fds(const struct upgrade *, int *, int);
void	upgrade_drained(struct upgrade *);
void	upgrade_ready(struct upgrade *);
void	upgrade_start_failed(struct upgrade *);
void	upgrade_abort(struct upgrade *, const char *);
void	upgrade_disk_check(struct upgrade *);

#endif /* MSGD_MASTER_UPGRADE_H */

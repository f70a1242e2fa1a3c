/*
 * exec.h: EXEC, the allow-listed commands.
 *
 * A command runs without a shell, as the argv array the configuration
 * names, with stdin fed from the request, stdout and stderr captured, a
 * fresh minimal environment, "/" as its directory, no descriptor but 0-2,
 * in its own process group, started for the worker by its spawner
 * process (a command must not inherit the worker's seccomp filter) but
 * the worker's child.  Nothing here blocks: the pipes and a pidfd are
 * events in the worker's epoll loop.  Past exec.timeout the whole
 * group is killed (TIMEOUT); output past exec.max_output kills it too
 * (TOO_LARGE).  Every child is reaped through its pidfd: no zombies.
 */
#ifndef MSGD_EXEC_H
#define MSGD_EXEC_H

#include <sys/queue.h>
#include <sys/types.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "ev.h"
#include "proto.h"
#include "timer.h"
#include "util.h"

/*
 * After the command exits, how long its output pipes may stay open: a
 * process it left in the background, out of its process group, may hold
 * them, and the answer must not wait for that (exec_event).
 */
#define EXEC_END_MS	100

struct exec_job;

/* Called once when a job's answer is ready (not after exec_detach). */
typedef void	(*exec_done_fn)(struct exec_job *, void *);

/* One of a job's descriptors in the epoll set. */
struct exec_fd {
	enum ev_kind	 kind;		/* EV_JOB: must stay first */
	struct exec_job	*job;
	int		 fd;
};

enum exec_fdi {
	EXEC_STDIN = 0,
	EXEC_STDOUT,
	EXEC_STDERR,
	EXEC_PIDFD,
	EXEC_NFD
};

struct exec_job {
	struct exec_fd		 f[EXEC_NFD];
	pid_t			 pid;
	struct timer		 timer;
	TAILQ_ENTRY(exec_job)	 entry;
	const uint8_t		*in;	/* stdin bytes (copied) */
	uint8_t			*inbuf;
	size_t			 inlen;
	size_t			 inoff;
	struct buf		 out;	/* stdout */
	struct buf		 err;	/* stderr */
	int			 exited;
	int			 wstatus;	/* exit code, 128+N on signal N */
	enum msg_status		 status;	/* OK, TIMEOUT, TOO_LARGE, ... */
	int			 answered;
	exec_done_fn		 done;
	void			*arg;	/* NULL once detached */
};

struct exec_ctx {
	int			 epfd;
	uint32_t		 max_running;
	uint64_t		 max_output;
	int			 running;
	int			 spawner;	/* socket to the spawner, or -1 */
	pid_t			 spawner_pid;
	struct timer_list	 tl;		/* exec.timeout */
	struct timer_list	 tl_end;	/* EXEC_END_MS after exit */
	TAILQ_HEAD(, exec_job)	 jobs;
	TAILQ_HEAD(, exec_job)	 dead;	/* finished, freed by exec_reap */
	uint64_t		 started, timeouts, too_large;
};

/*
 * What an EXEC request asks for: one allow-listed command, the bytes for
 * its stdin and whom to tell when its answer is ready.  Its limits
 * (exec.max_running, exec.max_output, exec.timeout) are the context's.
 */
struct exec_req {
	const struct msgd_conf	*conf;	/* holds cmd and its strings */
	const struct conf_cmd	*cmd;	/* an entry of conf->exec_cmds */
	const uint8_t		*in;	/* stdin bytes (copied) */
	size_t			 inlen;
	exec_done_fn		 done;	/* called once with arg */
	void			*arg;
	uint64_t		 now;	/* ms: exec.timeout runs from here */
};

void	exec_init(struct exec_ctx *, int, const struct msgd_conf *);
enum msg_status exec_start(struct exec_ctx *, const struct exec_req *,
	    struct exec_job **, struct errtext *);
void	exec_event(struct exec_ctx *, struct exec_fd *, uint32_t, uint64_t);
void	exec_reap(struct exec_ctx *);
int	exec_expire(struct exec_ctx *, uint64_t);
void	exec_detach(struct exec_ctx *, struct exec_job *);
int	exec_result(const struct exec_job *, struct buf *, uint32_t);
void	exec_shutdown(struct exec_ctx *);

#endif /* MSGD_EXEC_H */

/*
 * exec.c: run allow-listed commands inside the worker's event loop.
 */
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec.h"
#include "log.h"
#include "util.h"

#ifndef P_PIDFD
#define P_PIDFD		3
#endif

#define EXEC_READ_CHUNK	65536

/* What a command gets as its environment: nothing of the worker's. */
static char *const exec_env[] = {
	"PATH=/usr/local/bin:/usr/bin:/bin",
	"LANG=C",
	NULL
};

void
exec_init(struct exec_ctx *ctx, int epfd, const struct msgd_conf *conf)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->epfd = epfd;
	ctx->max_running = conf->exec_max_running;
	ctx->max_output = conf->exec_max_output;
	timer_list_init(&ctx->tl, conf->exec_timeout_ms);
	TAILQ_INIT(&ctx->jobs);
	TAILQ_INIT(&ctx->dead);
}

static void
job_close(struct exec_job *j, int i)
{
	if (j->f[i].fd != -1)
		close(j->f[i].fd);	/* also leaves the epoll set */
	j->f[i].fd = -1;
}

/* Kill the command's whole process group: grandchildren included. */
static void
job_kill(struct exec_job *j)
{
	if (!j->exited)
		(void)kill(-j->pid, SIGKILL);
}

/*
 * A job is finished: release all but the struct, which later events of
 * this epoll_wait batch may still name (another of its pipes, or the
 * connection's own event closing it); exec_reap frees it after the batch.
 */
static void
job_free(struct exec_ctx *ctx, struct exec_job *j)
{
	int	i;

	for (i = 0; i < EXEC_NFD; i++) {
		job_close(j, i);
		j->f[i].kind = EV_DEAD;
	}
	timer_cancel(&j->timer);
	TAILQ_REMOVE(&ctx->jobs, j, entry);
	TAILQ_INSERT_TAIL(&ctx->dead, j, entry);
	buf_release(&j->out);
	buf_release(&j->err);
	free(j->inbuf);
	j->inbuf = NULL;
	ctx->running--;
}

/* Free the jobs finished since the last call (between batches). */
void
exec_reap(struct exec_ctx *ctx)
{
	struct exec_job	*j;

	while ((j = TAILQ_FIRST(&ctx->dead)) != NULL) {
		TAILQ_REMOVE(&ctx->dead, j, entry);
		free(j);
	}
}

/* Give the connection its answer, once. */
static void
job_answer(struct exec_job *j, enum msg_status st)
{
	if (j->answered)
		return;
	j->answered = 1;
	if (j->status == MSG_ST_OK)
		j->status = st;
	if (j->arg != NULL)
		j->done(j, j->arg);
}

/* Stop early (timeout, output cap): kill, drop the pipes, answer now. */
static void
job_abort(struct exec_job *j, enum msg_status st)
{
	j->status = st;
	job_kill(j);
	job_close(j, EXEC_STDIN);
	job_close(j, EXEC_STDOUT);
	job_close(j, EXEC_STDERR);
	timer_cancel(&j->timer);
	job_answer(j, st);
}

/* Done when the child is reaped and both output pipes reached EOF. */
static void
job_check(struct exec_ctx *ctx, struct exec_job *j)
{
	if (j->exited && j->f[EXEC_STDOUT].fd == -1 &&
	    j->f[EXEC_STDERR].fd == -1) {
		timer_cancel(&j->timer);
		job_answer(j, MSG_ST_OK);
	}
	if (j->exited && j->answered)
		job_free(ctx, j);
}

static int
job_watch(struct exec_ctx *ctx, struct exec_job *j, int i, uint32_t events)
{
	struct epoll_event	ev;

	j->f[i].kind = EV_JOB;
	j->f[i].job = j;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = &j->f[i];
	return (epoll_ctl(ctx->epfd, EPOLL_CTL_ADD, j->f[i].fd, &ev));
}

/*
 * Start cmd with stdin bytes in[0..len).  Returns MSG_ST_OK with *jp set
 * (done is called later with arg), or a status and *msg.
 */
enum msg_status
exec_start(struct exec_ctx *ctx, const struct msgd_conf *conf,
    const struct conf_cmd *cmd, const uint8_t *in, size_t len,
    exec_done_fn done, void *arg, uint64_t now, struct exec_job **jp,
    const char **msg)
{
	static char			 why[160];
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 attr;
	sigset_t			 none, all;
	struct exec_job			*j;
	char				*argv[CONF_CMD_ARGS + 1];
	int				 pin[2] = { -1, -1 }, pout[2] = { -1, -1 };
	int				 perr[2] = { -1, -1 }, i, rc, watched;

	if ((uint32_t)ctx->running >= ctx->max_running) {
		*msg = "exec.max_running commands are already running";
		return (MSG_ST_BUSY);
	}
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (len > 0 && (j->inbuf = malloc(len)) == NULL)) {
		free(j);
		*msg = "out of memory";
		return (MSG_ST_INTERNAL);
	}
	for (i = 0; i < EXEC_NFD; i++)
		j->f[i].fd = -1;
	if (len > 0)
		memcpy(j->inbuf, in, len);
	j->inlen = len;
	for (i = 0; i < cmd->argc; i++)
		argv[i] = (char *)(uintptr_t)conf_str(conf, cmd->argv[i]);
	argv[i] = NULL;

	/* Our ends non-blocking, the child's as a program expects them. */
	if (pipe2(pin, O_CLOEXEC) == -1 || pipe2(pout, O_CLOEXEC) == -1 ||
	    pipe2(perr, O_CLOEXEC) == -1 || fd_nonblock(pin[1]) == -1 ||
	    fd_nonblock(pout[0]) == -1 || fd_nonblock(perr[0]) == -1)
		goto fail;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, pout[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, perr[1], STDERR_FILENO);
	posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	posix_spawn_file_actions_addchdir_np(&fa, "/");
	posix_spawnattr_init(&attr);
	/* Own session (so its own process group), default signals. */
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawn(&j->pid, argv[0], &fa, &attr, argv, exec_env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		errno = rc;
		goto fail;
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	j->f[EXEC_STDIN].fd = pin[1];
	j->f[EXEC_STDOUT].fd = pout[0];
	j->f[EXEC_STDERR].fd = perr[0];
	j->f[EXEC_PIDFD].fd = (int)syscall(SYS_pidfd_open, j->pid, 0);
	j->done = done;
	j->arg = arg;
	j->status = MSG_ST_OK;
	TAILQ_INSERT_TAIL(&ctx->jobs, j, entry);
	ctx->running++;
	ctx->started++;
	timer_arm(&ctx->tl, &j->timer, now);
	watched = j->f[EXEC_PIDFD].fd != -1 &&
	    job_watch(ctx, j, EXEC_STDOUT, EPOLLIN) == 0 &&
	    job_watch(ctx, j, EXEC_STDERR, EPOLLIN) == 0 &&
	    job_watch(ctx, j, EXEC_PIDFD, EPOLLIN) == 0;
	if (!watched ||
	    (len > 0 && job_watch(ctx, j, EXEC_STDIN, EPOLLOUT) == -1)) {
		log_warn("exec: cannot watch the command");
		j->arg = NULL;		/* no answer through the callback */
		job_abort(j, MSG_ST_INTERNAL);
		if (!watched) {
			/*
			 * No pidfd event will reap it: reap synchronously
			 * after the kill (a SIGKILLed child dies at once).
			 */
			(void)waitpid(j->pid, NULL, 0);
			j->exited = 1;
			job_free(ctx, j);
		}
		*msg = "cannot watch the command";
		return (MSG_ST_INTERNAL);
	}
	if (len == 0)
		job_close(j, EXEC_STDIN);	/* EOF at once */
	*jp = j;
	return (MSG_ST_OK);
fail:
	snprintf(why, sizeof(why), "cannot start %s: %s", argv[0],
	    strerror(errno));
	*msg = why;
	for (i = 0; i < 2; i++) {
		if (pin[i] != -1)
			close(pin[i]);
		if (pout[i] != -1)
			close(pout[i]);
		if (perr[i] != -1)
			close(perr[i]);
	}
	free(j->inbuf);
	free(j);
	return (MSG_ST_INTERNAL);
}

/* Read what a pipe has; the output cap covers stdout and stderr together. */
static void
job_read(struct exec_ctx *ctx, struct exec_job *j, int i)
{
	struct buf	*b = i == EXEC_STDOUT ? &j->out : &j->err;
	ssize_t		 n;

	for (;;) {
		if (buf_used(&j->out) + buf_used(&j->err) > ctx->max_output) {
			ctx->too_large++;
			job_abort(j, MSG_ST_TOO_LARGE);
			return;
		}
		if (buf_reserve(b, EXEC_READ_CHUNK) == -1) {
			job_abort(j, MSG_ST_INTERNAL);
			return;
		}
		n = read(j->f[i].fd, buf_tail(b), EXEC_READ_CHUNK);
		if (n > 0) {
			b->len += (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		job_close(j, i);	/* EOF or error */
		return;
	}
}

/* Feed stdin; close it when all is written (or the command stopped). */
static void
job_write(struct exec_job *j)
{
	ssize_t	n;

	while (j->inoff < j->inlen) {
		n = write(j->f[EXEC_STDIN].fd, j->inbuf + j->inoff,
		    j->inlen - j->inoff);
		if (n == -1) {
			if (errno == EAGAIN)
				return;
			if (errno == EINTR)
				continue;
			break;		/* EPIPE: it does not read stdin */
		}
		j->inoff += (size_t)n;
	}
	job_close(j, EXEC_STDIN);
}

/* Reap through the pidfd; exit status as the protocol wants it. */
static void
job_reap(struct exec_job *j)
{
	siginfo_t	si;

	memset(&si, 0, sizeof(si));
	if (waitid((idtype_t)P_PIDFD, (id_t)j->f[EXEC_PIDFD].fd, &si,
	    WEXITED | WNOHANG) == -1 || si.si_pid == 0)
		return;
	j->exited = 1;
	j->wstatus = si.si_code == CLD_EXITED ? si.si_status :
	    128 + si.si_status;
	job_close(j, EXEC_PIDFD);
	/* Anything it left running in its group goes with it. */
	(void)kill(-j->pid, SIGKILL);
}

/* An event on one of a job's descriptors. */
void
exec_event(struct exec_ctx *ctx, struct exec_fd *f, uint32_t events)
{
	struct exec_job	*j = f->job;
	int		 i = (int)(f - j->f);

	switch (i) {
	case EXEC_STDIN:
		job_write(j);
		break;
	case EXEC_STDOUT:
	case EXEC_STDERR:
		job_read(ctx, j, i);
		break;
	case EXEC_PIDFD:
		job_reap(j);
		break;
	}
	job_check(ctx, j);
}

/* Kill and answer jobs past exec.timeout; returns ms to the next one. */
int
exec_expire(struct exec_ctx *ctx, uint64_t now)
{
	struct timer	*t;
	struct exec_job	*j;

	while ((t = timer_expired(&ctx->tl, now)) != NULL) {
		j = (struct exec_job *)((char *)t -
		    offsetof(struct exec_job, timer));
		ctx->timeouts++;
		job_abort(j, MSG_ST_TIMEOUT);
		job_check(ctx, j);
	}
	return (timer_wait_ms(&ctx->tl, now, -1));
}

/* The connection went away: kill the command, reap it quietly later. */
void
exec_detach(struct exec_ctx *ctx, struct exec_job *j)
{
	j->arg = NULL;
	if (!j->answered) {
		j->answered = 1;
		job_kill(j);
		job_close(j, EXEC_STDIN);
		job_close(j, EXEC_STDOUT);
		job_close(j, EXEC_STDERR);
		timer_cancel(&j->timer);
	}
	job_check(ctx, j);
}

/*
 * The answer frame: key = exit status in decimal, value = 4-byte big-endian
 * length of stdout, stdout, then stderr.  Errors are error frames.
 */
int
exec_result(const struct exec_job *j, struct buf *out, uint32_t id)
{
	uint8_t		 hdr[MSG_HDR_LEN], len4[4];
	char		 key[16];
	const char	*msg;
	size_t		 klen, olen = buf_used(&j->out), elen = buf_used(&j->err);

	if (j->status != MSG_ST_OK) {
		msg = j->status == MSG_ST_TIMEOUT ? "command timed out "
		    "(exec.timeout); its process group was killed" :
		    j->status == MSG_ST_TOO_LARGE ? "command output over "
		    "exec.max_output; it was killed" : "command failed";
		msg_encode_response(hdr, MSG_OP_EXEC, (uint8_t)j->status, id, 0,
		    (uint32_t)strlen(msg));
		if (buf_append(out, hdr, sizeof(hdr)) == -1 ||
		    buf_append(out, msg, strlen(msg)) == -1)
			return (-1);
		return (0);
	}
	klen = (size_t)snprintf(key, sizeof(key), "%d", j->wstatus);
	len4[0] = (uint8_t)(olen >> 24);
	len4[1] = (uint8_t)(olen >> 16);
	len4[2] = (uint8_t)(olen >> 8);
	len4[3] = (uint8_t)olen;
	msg_encode_response(hdr, MSG_OP_EXEC, MSG_ST_OK, id, (uint16_t)klen,
	    (uint32_t)(klen + 4 + olen + elen));
	if (buf_reserve(out, sizeof(hdr) + klen + 4 + olen + elen) == -1)
		return (-1);
	(void)buf_append(out, hdr, sizeof(hdr));
	(void)buf_append(out, key, klen);
	(void)buf_append(out, len4, 4);
	(void)buf_append(out, buf_head(&j->out), olen);
	(void)buf_append(out, buf_head(&j->err), elen);
	return (0);
}

/* Worker exit: kill every command and reap it (they die at once). */
void
exec_shutdown(struct exec_ctx *ctx)
{
	struct exec_job	*j;

	while ((j = TAILQ_FIRST(&ctx->jobs)) != NULL) {
		j->arg = NULL;
		j->answered = 1;
		job_kill(j);
		if (!j->exited)
			(void)waitpid(j->pid, NULL, 0);
		j->exited = 1;
		job_free(ctx, j);
	}
	exec_reap(ctx);
}

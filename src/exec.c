/*
 * exec.c: run allow-listed commands inside the worker's event loop.
 */
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
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

/*
 * The spawner.  A worker runs under a seccomp filter, and a filter is
 * inherited by every child and across execve: a command forked by the
 * worker would run under the worker's filter and break in odd ways.  So
 * each worker forks, before it installs its filter, this small process
 * with the same (dropped) identity, no capabilities and NO_NEW_PRIVS.
 * It takes requests on a socketpair (a command's index in its own copy
 * of the configuration, the three pipe ends as SCM_RIGHTS) and starts the
 * command with clone(CLONE_PARENT): the command is the worker's child,
 * so the worker reaps it through its pidfd and kills its process group
 * exactly as before.  It answers the pid, or the errno of a failed start.
 * A compromised worker can ask it for nothing a client cannot: an
 * allow-listed command, by index.
 */
struct spawn_req {
	uint32_t	cmd;		/* index into conf->exec_cmds */
};

struct spawn_rep {
	int32_t		pid;		/* -1: not started */
	int32_t		err;		/* errno of the failed start */
};

/* A request as sendmsg and recvmsg see it, with room for three fds. */
struct spawn_msg {
	struct spawn_req	 req;
	struct msghdr		 mh;
	struct iovec		 iov;
	union {
		char		 buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr	 align;
	} u;
};

/* Point m's message at its own request and control buffer. */
static void
spawn_msg_init(struct spawn_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->iov.iov_base = &m->req;
	m->iov.iov_len = sizeof(m->req);
	m->mh.msg_iov = &m->iov;
	m->mh.msg_iovlen = 1;
	m->mh.msg_control = m->u.buf;
	m->mh.msg_controllen = sizeof(m->u.buf);
}

/* In the new child: become the command, or report errno on errfd. */
static void __attribute__((noreturn))
spawner_child(const struct msgd_conf *conf, const struct conf_cmd *cmd,
    const int *fds, int errfd)
{
	struct sigaction	 sa;
	sigset_t		 none;
	char			*argv[CONF_CMD_ARGS + 1];
	int			 i, fd[3], e;

	for (i = 0; i < cmd->argc; i++)
		argv[i] = (char *)(uintptr_t)conf_str(conf, cmd->argv[i]);
	argv[i] = NULL;
	/* Own session, so its own process group: killed as a group. */
	if (setsid() == -1)
		goto fail;
	/* Above 2 first, so no dup2 below overwrites a later source. */
	for (i = 0; i < 3; i++)
		if ((fd[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3)) == -1)
			goto fail;
	for (i = 0; i < 3; i++)
		if (dup2(fd[i], i) == -1)
			goto fail;
	/* No descriptor but 0-2 crosses execve (errfd closes with it). */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == -1)
		goto fail;
	if (chdir("/") == -1)
		goto fail;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (i = 1; i < NSIG; i++)
		if (i != SIGKILL && i != SIGSTOP)
			(void)sigaction(i, &sa, NULL);
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) == -1)
		goto fail;
	execve(argv[0], argv, exec_env);
fail:
	e = errno;
	(void)write(errfd, &e, sizeof(e));
	_exit(127);
}

/*
 * Start command idx with the descriptors fds[0..2] as its stdin, stdout
 * and stderr; 0 with *pid, or an errno.
 */
static int
spawner_start(const struct msgd_conf *conf, uint32_t idx, const int *fds,
    pid_t *pid)
{
	ssize_t	n;
	long	rc;
	int	errp[2], e = 0;

	if (idx >= (uint32_t)conf->nexec_cmds)
		return (EINVAL);
	if (pipe2(errp, O_CLOEXEC) == -1)
		return (errno);
	/*
	 * The raw system call: glibc has no fork for CLONE_PARENT.  No new
	 * stack, so the child runs on a copy of ours, like fork's; it calls
	 * nothing but async-signal-safe functions before execve.
	 */
	rc = syscall(SYS_clone, (unsigned long)(CLONE_PARENT | SIGCHLD), NULL,
	    NULL, NULL, NULL);
	if (rc == 0) {
		close(errp[0]);
		spawner_child(conf, &conf->exec_cmds[idx], fds, errp[1]);
	}
	e = errno;
	close(errp[1]);
	if (rc == -1) {
		close(errp[0]);
		return (e);
	}
	/* EOF: execve succeeded (the pipe closed with it). */
	while ((n = read(errp[0], &e, sizeof(e))) == -1 && errno == EINTR)
		;
	close(errp[0]);
	*pid = (pid_t)rc;
	return (n == (ssize_t)sizeof(e) ? (e != 0 ? e : EIO) : 0);
}

/* The spawner's loop: one request, one answer, until the worker goes. */
static void __attribute__((noreturn))
spawner_main(int sock, const struct msgd_conf *conf, pid_t worker)
{
	struct spawn_msg	 m;
	struct spawn_rep	 rep;
	struct cmsghdr		*cm;
	pid_t			 pid;
	ssize_t			 n;
	int			 fds[3], nfd, i;

	/* Die with the worker; it may have died before this took hold. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != worker)
		_exit(0);
	log_procname("exec spawner");
	proctitle_set("msgd: exec spawner");
	if (sock > 3)
		(void)close_range(3, (unsigned)sock - 1, 0);
	(void)close_range((unsigned)sock + 1, ~0U, 0);
	/* Hello: named and tied to the worker, before it goes on. */
	memset(&rep, 0, sizeof(rep));
	if (send(sock, &rep, sizeof(rep), MSG_NOSIGNAL) == -1)
		_exit(0);
	for (;;) {
		spawn_msg_init(&m);
		n = recvmsg(sock, &m.mh, MSG_CMSG_CLOEXEC);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);	/* the worker closed or exited */
		nfd = 0;
		for (cm = CMSG_FIRSTHDR(&m.mh); cm != NULL;
		    cm = CMSG_NXTHDR(&m.mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET ||
			    cm->cmsg_type != SCM_RIGHTS)
				continue;
			for (i = 0; i < (int)((cm->cmsg_len - CMSG_LEN(0)) /
			    sizeof(int)); i++) {
				if (nfd < 3)
					memcpy(&fds[nfd++], CMSG_DATA(cm) +
					    i * sizeof(int), sizeof(int));
				else {
					memcpy(&pid, CMSG_DATA(cm) +
					    i * sizeof(int), sizeof(int));
					close(pid);	/* one too many */
				}
			}
		}
		rep.pid = -1;
		rep.err = EINVAL;
		pid = -1;
		if (n == (ssize_t)sizeof(m.req) && nfd == 3 &&
		    !(m.mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
			rep.err = spawner_start(conf, m.req.cmd, fds, &pid);
			rep.pid = (int32_t)pid;
		}
		for (i = 0; i < nfd; i++)
			close(fds[i]);
		if (send(sock, &rep, sizeof(rep), MSG_NOSIGNAL) == -1)
			_exit(0);
	}
}

/* Fork the spawner (before the worker's seccomp filter). */
static void
spawner_fork(struct exec_ctx *ctx, const struct msgd_conf *conf)
{
	struct spawn_rep	rep;
	pid_t			worker = getpid();
	ssize_t			n;
	int			sv[2];

	ctx->spawner = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("exec: socketpair for the spawner");
		return;
	}
	switch (ctx->spawner_pid = fork()) {
	case -1:
		log_warn("exec: fork of the spawner");
		close(sv[0]);
		close(sv[1]);
		return;
	case 0:
		spawner_main(sv[1], conf, worker);
	}
	close(sv[1]);
	while ((n = recv(sv[0], &rep, sizeof(rep), 0)) == -1 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(rep)) {
		log_warnx("exec: the spawner did not start");
		close(sv[0]);
		return;
	}
	ctx->spawner = sv[0];
}

/* Ask the spawner for command idx; 0 with *pid, or an errno. */
static int
spawner_run(struct exec_ctx *ctx, uint32_t idx, int in, int out, int err,
    pid_t *pid)
{
	struct spawn_msg	 m;
	struct spawn_rep	 rep;
	struct cmsghdr		*cm;
	int			 fds[3] = { in, out, err };
	ssize_t			 n;

	if (ctx->spawner == -1)
		return (ECHILD);
	spawn_msg_init(&m);
	m.req.cmd = idx;
	cm = CMSG_FIRSTHDR(&m.mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	while ((n = sendmsg(ctx->spawner, &m.mh, MSG_NOSIGNAL)) == -1 &&
	    errno == EINTR)
		;
	if (n != (ssize_t)sizeof(m.req))
		return (n == -1 ? errno : EIO);
	while ((n = recv(ctx->spawner, &rep, sizeof(rep), 0)) == -1 &&
	    errno == EINTR)
		;
	if (n != (ssize_t)sizeof(rep))
		return (n == -1 ? errno : EPIPE);	/* spawner gone */
	if (rep.err != 0) {
		/* Our child all the same (CLONE_PARENT): reap it. */
		if (rep.pid > 0)
			(void)waitpid((pid_t)rep.pid, NULL, 0);
		return (rep.err);
	}
	if (rep.pid <= 0)
		return (EIO);
	*pid = (pid_t)rep.pid;
	return (0);
}

void
exec_init(struct exec_ctx *ctx, int epfd, const struct msgd_conf *conf)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->epfd = epfd;
	ctx->max_running = conf->exec_max_running;
	ctx->max_output = conf->exec_max_output;
	timer_list_init(&ctx->tl, conf->exec_timeout_ms);
	timer_list_init(&ctx->tl_end, EXEC_END_MS);
	TAILQ_INIT(&ctx->jobs);
	TAILQ_INIT(&ctx->dead);
	spawner_fork(ctx, conf);
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

/* Put descriptor i of j in the epoll set, tagged with its slot. */
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

/* A job for req with its stdin copied, no descriptor yet; NULL: no memory. */
static struct exec_job *
job_new(const struct exec_req *req)
{
	struct exec_job	*j;
	int		 i;

	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (req->inlen > 0 && (j->inbuf = malloc(req->inlen)) == NULL)) {
		free(j);
		return (NULL);
	}
	for (i = 0; i < EXEC_NFD; i++)
		j->f[i].fd = -1;
	if (req->inlen > 0)
		memcpy(j->inbuf, req->in, req->inlen);
	j->inlen = req->inlen;
	return (j);
}

/* A command's three pipes while it is being started. */
struct job_pipes {
	int	in[2];		/* [0] the command's stdin, [1] ours */
	int	out[2];		/* [0] ours, [1] the command's stdout */
	int	err[2];		/* [0] ours, [1] the command's stderr */
};

/*
 * Our ends non-blocking, the child's as a program expects them.  -1 with
 * errno; what was opened is in p either way, for job_pipes_close.
 */
static int
job_pipes_open(struct job_pipes *p)
{
	p->in[0] = p->in[1] = p->out[0] = p->out[1] = -1;
	p->err[0] = p->err[1] = -1;
	if (pipe2(p->in, O_CLOEXEC) == -1 || pipe2(p->out, O_CLOEXEC) == -1 ||
	    pipe2(p->err, O_CLOEXEC) == -1 || fd_nonblock(p->in[1]) == -1 ||
	    fd_nonblock(p->out[0]) == -1 || fd_nonblock(p->err[0]) == -1)
		return (-1);
	return (0);
}

/* Close the pipe ends still open (a start that failed). */
static void
job_pipes_close(struct job_pipes *p)
{
	int	i;

	for (i = 0; i < 2; i++) {
		if (p->in[i] != -1)
			close(p->in[i]);
		if (p->out[i] != -1)
			close(p->out[i]);
		if (p->err[i] != -1)
			close(p->err[i]);
	}
}

/*
 * The command runs: the job keeps our pipe ends and its pidfd, goes on the
 * list and its exec.timeout starts.
 */
static void
job_begin(struct exec_ctx *ctx, struct exec_job *j, const struct job_pipes *p,
    const struct exec_req *req)
{
	close(p->in[0]);
	close(p->out[1]);
	close(p->err[1]);
	j->f[EXEC_STDIN].fd = p->in[1];
	j->f[EXEC_STDOUT].fd = p->out[0];
	j->f[EXEC_STDERR].fd = p->err[0];
	j->f[EXEC_PIDFD].fd = (int)syscall(SYS_pidfd_open, j->pid, 0);
	j->done = req->done;
	j->arg = req->arg;
	j->status = MSG_ST_OK;
	TAILQ_INSERT_TAIL(&ctx->jobs, j, entry);
	ctx->running++;
	ctx->started++;
	timer_arm(&ctx->tl, &j->timer, req->now);
}

/*
 * Put the job's descriptors in the epoll set (stdin only when there is
 * input to write).  Returns -1 when that failed: the command is killed,
 * and reaped and freed here if no pidfd event would reap it.
 */
static int
job_watch_all(struct exec_ctx *ctx, struct exec_job *j)
{
	int	watched;

	watched = j->f[EXEC_PIDFD].fd != -1 &&
	    job_watch(ctx, j, EXEC_STDOUT, EPOLLIN) == 0 &&
	    job_watch(ctx, j, EXEC_STDERR, EPOLLIN) == 0 &&
	    job_watch(ctx, j, EXEC_PIDFD, EPOLLIN) == 0;
	if (watched &&
	    (j->inlen == 0 || job_watch(ctx, j, EXEC_STDIN, EPOLLOUT) == 0))
		return (0);
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
	return (-1);
}

/*
 * Start the command req names, its stdin req's bytes.  Returns MSG_ST_OK
 * with *jp set (req->done is called later with req->arg), or a status and
 * the answer's text in the caller's err.
 */
enum msg_status
exec_start(struct exec_ctx *ctx, const struct exec_req *req,
    struct exec_job **jp, struct errtext *err)
{
	struct exec_job		*j;
	struct job_pipes	 p;
	int			 rc;

	if ((uint32_t)ctx->running >= ctx->max_running) {
		err->msg = "exec.max_running commands are already running";
		return (MSG_ST_BUSY);
	}
	if ((j = job_new(req)) == NULL) {
		err->msg = "out of memory";
		return (MSG_ST_INTERNAL);
	}
	if (job_pipes_open(&p) == -1)
		goto fail;
	rc = spawner_run(ctx, (uint32_t)(req->cmd - req->conf->exec_cmds),
	    p.in[0], p.out[1], p.err[1], &j->pid);
	if (rc != 0) {
		errno = rc;
		goto fail;
	}
	job_begin(ctx, j, &p, req);
	if (job_watch_all(ctx, j) == -1) {
		err->msg = "cannot watch the command";
		return (MSG_ST_INTERNAL);
	}
	if (j->inlen == 0)
		job_close(j, EXEC_STDIN);	/* EOF at once */
	*jp = j;
	return (MSG_ST_OK);
fail:
	errtext_fmt(err, "cannot start %s: %s",
	    conf_str(req->conf, req->cmd->argv[0]), strerror(errno));
	job_pipes_close(&p);
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

/*
 * Reap through the pidfd; exit status as the protocol wants it.  Output
 * still open after that is read for EXEC_END_MS more, no longer: what
 * holds it now is no part of the command's group (which is killed here),
 * but something it started and let go, and the answer does not wait for
 * it (exec_expire closes the pipes and answers).
 */
static void
job_reap(struct exec_ctx *ctx, struct exec_job *j, uint64_t now)
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
	if (!j->answered && (j->f[EXEC_STDOUT].fd != -1 ||
	    j->f[EXEC_STDERR].fd != -1))
		timer_arm(&ctx->tl_end, &j->timer, now);
}

/* An event on one of a job's descriptors, at loop time now (ms). */
void
exec_event(struct exec_ctx *ctx, struct exec_fd *f, uint32_t events,
    uint64_t now)
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
		job_reap(ctx, j, now);
		break;
	}
	job_check(ctx, j);
}

/*
 * Kill and answer jobs past exec.timeout; answer those whose command
 * exited EXEC_END_MS ago with what their pipes gave (job_reap).  Returns
 * ms to the next deadline.
 */
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
	while ((t = timer_expired(&ctx->tl_end, now)) != NULL) {
		j = (struct exec_job *)((char *)t -
		    offsetof(struct exec_job, timer));
		timer_cancel(&j->timer);
		job_close(j, EXEC_STDOUT);
		job_close(j, EXEC_STDERR);
		job_check(ctx, j);
	}
	return (timer_wait_ms(&ctx->tl_end, now,
	    timer_wait_ms(&ctx->tl, now, -1)));
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
	/* The spawner sees EOF and exits; reap it here, not the master. */
	if (ctx->spawner != -1) {
		close(ctx->spawner);
		ctx->spawner = -1;
		(void)waitpid(ctx->spawner_pid, NULL, 0);
	}
}

/*
 * master.c: bind, fork the pool, supervise, stop.
 *
 * Signals are blocked and read from a signalfd, so nothing runs in signal
 * context and no signal is lost between checks: the loop sees each one and
 * does the work.  The process table is plain data: slot, pid, start time.
 */
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "net.h"
#include "stats.h"
#include "util.h"
#include "worker.h"

#define RESPAWN_QUICK_MS	1000	/* a death this young delays respawn */
#define RESPAWN_DELAY_MS	1000
#define KILL_GRACE_MS		1000	/* after shutdown_timeout, SIGKILL */

struct wproc {
	pid_t		pid;		/* 0: not running */
	uint64_t	started;	/* mono ms */
	uint64_t	respawn_at;	/* mono ms, 0: none pending */
};

struct master {
	const struct msgd_conf	*conf;
	struct listener		 ls[CONF_LISTEN_MAX];
	int			 nls;
	struct wproc		*procs;
	int			 nprocs;
	int			 sigfd;
	struct stats_seg	 stats;
	uint64_t		 generation;
	uint64_t		 next_sample;	/* mono ms: listener queues */
	int			 stopping;
	uint64_t		 stop_deadline;
	int			 killed;
	int			 quick;		/* SIGQUIT: no drain */
};

static const int master_sigs[] = {
	SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGTTIN, SIGTTOU
};

/* Open every configured listener; all or nothing. */
static int
master_bind(struct master *m)
{
	char	cause[512];
	int	i;

	for (i = 0; i < m->conf->nlisten; i++) {
		if (net_parse_addr(m->conf->listen[i], &m->ls[i].addr, cause,
		    sizeof(cause)) == -1) {
			log_warnx("listen %s", cause);
			goto fail;
		}
		m->ls[i].fd = net_listen(&m->ls[i].addr, m->conf->backlog,
		    cause, sizeof(cause));
		if (m->ls[i].fd == -1) {
			log_warnx("cannot listen on %s", cause);
			goto fail;
		}
		m->nls = i + 1;
	}
	return (0);
fail:
	while (m->nls > 0) {
		m->nls--;
		close(m->ls[m->nls].fd);
		net_unlink_unix(&m->ls[m->nls].addr);
	}
	return (-1);
}

/* Close and remove every listener (stop). */
static void
master_unbind(struct master *m)
{
	int	i;

	for (i = 0; i < m->nls; i++) {
		close(m->ls[i].fd);
		if (net_unlink_unix(&m->ls[i].addr) == -1)
			log_warn("unlink %s", m->ls[i].addr.text);
	}
	m->nls = 0;
}

static int
master_signals(void)
{
	sigset_t	set;
	size_t		i;
	int		fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	for (i = 0; i < nitems(master_sigs); i++)
		sigaddset(&set, master_sigs[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		fatal("sigprocmask");
	if ((fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	return (fd);
}

/* Fork the worker for slot; the child never returns. */
static int
master_spawn(struct master *m, int slot)
{
	sigset_t	empty;
	pid_t		pid;

	pid = fork();
	if (pid == -1) {
		log_warn("fork for worker %d", slot);
		m->procs[slot].respawn_at = mono_ms() + RESPAWN_DELAY_MS;
		return (-1);
	}
	if (pid == 0) {
		/* The child starts from a clean signal state. */
		close(m->sigfd);
		sigemptyset(&empty);
		sigprocmask(SIG_SETMASK, &empty, NULL);
		free(m->procs);
		worker_main(slot, m->conf, m->ls, m->nls, &m->stats,
		    m->generation);
	}
	m->procs[slot].pid = pid;
	m->procs[slot].started = mono_ms();
	m->procs[slot].respawn_at = 0;
	log_debug("worker %d started as pid %ld", slot, (long)pid);
	return (0);
}

/* Describe a wait status the way an operator reads it. */
static void
status_str(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d%s", WTERMSIG(status),
		    WCOREDUMP(status) ? " (core dumped)" : "");
	else
		snprintf(buf, len, "stopped with status 0x%x", status);
}

/* Reap every child that has exited; one SIGCHLD may stand for many. */
static void
master_reap(struct master *m)
{
	char		 why[64];
	pid_t		 pid;
	uint64_t	 now;
	int		 status, i, unexpected;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		now = mono_ms();
		for (i = 0; i < m->nprocs; i++)
			if (m->procs[i].pid == pid)
				break;
		status_str(status, why, sizeof(why));
		if (i == m->nprocs) {
			log_warnx("reaped unknown child %ld: %s", (long)pid, why);
			continue;
		}
		m->procs[i].pid = 0;
		/* Before any respawn can reuse the slot. */
		stats_fold(&m->stats, i);
		unexpected = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		if (m->stopping) {
			if (unexpected)
				log_warnx("worker %d (pid %ld) %s while "
				    "stopping", i, (long)pid, why);
			continue;
		}
		if (WIFEXITED(status) &&
		    WEXITSTATUS(status) == WORKER_EXIT_FATAL) {
			log_warnx("worker %d (pid %ld) %s: fatal, not "
			    "respawned", i, (long)pid, why);
			continue;
		}
		log_warnx("worker %d (pid %ld) %s; respawning", i, (long)pid,
		    why);
		/* A worker dying young is likely to die again: don't spin. */
		if (now - m->procs[i].started < RESPAWN_QUICK_MS)
			m->procs[i].respawn_at = now + RESPAWN_DELAY_MS;
		else
			m->procs[i].respawn_at = now;
	}
}

static int
master_alive(struct master *m)
{
	int	i, n = 0;

	for (i = 0; i < m->nprocs; i++)
		if (m->procs[i].pid != 0)
			n++;
	return (n);
}

static void
master_kill_all(struct master *m, int sig)
{
	int	i;

	for (i = 0; i < m->nprocs; i++)
		if (m->procs[i].pid != 0 && kill(m->procs[i].pid, sig) == -1 &&
		    errno != ESRCH)
			log_warn("kill worker %d", i);
}

/*
 * Create the stats segment, making its directory (one level) when missing:
 * outside systemd nobody made /run/msgd for us.
 */
static int
master_stats(struct master *m)
{
	char	 dir[CONF_PATH_MAX], cause[512], *slash;
	int	 i;

	snprintf(dir, sizeof(dir), "%s", m->conf->stats_file);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
			log_warn("cannot create %s for stats_file", dir);
			return (-1);
		}
	}
	if (stats_create(&m->stats, m->conf->stats_file, m->conf->max_workers,
	    cause, sizeof(cause)) == -1) {
		log_warnx("stats_file %s", cause);
		return (-1);
	}
	stats_set_master(&m->stats, m->conf->workers, m->generation);
	for (i = 0; i < m->nls; i++)
		stats_set_listener(&m->stats, i, m->ls[i].addr.text,
		    !net_is_unix(&m->ls[i].addr), 0, 0);
	return (0);
}

/*
 * Once a second: show the master is alive, and sample each TCP listener's
 * accept queue (connections the kernel completed that no worker accepted
 * yet: the first sign that the pool is too small or stuck).
 */
static void
master_sample(struct master *m, uint64_t now)
{
	struct tcp_info	ti;
	socklen_t	len;
	int		i;

	stats_master_beat(&m->stats);
	if (now < m->next_sample)
		return;
	m->next_sample = now + 1000;
	for (i = 0; i < m->nls; i++) {
		if (net_is_unix(&m->ls[i].addr))
			continue;
		len = sizeof(ti);
		memset(&ti, 0, sizeof(ti));
		if (getsockopt(m->ls[i].fd, IPPROTO_TCP, TCP_INFO, &ti,
		    &len) == -1)
			continue;
		/* For a listener: unacked = queue length, sacked = limit. */
		stats_set_listener(&m->stats, i, m->ls[i].addr.text, 1,
		    ti.tcpi_unacked, ti.tcpi_sacked);
	}
}

/* Graceful stop: workers drain within shutdown_timeout, then are killed. */
static void
master_stop(struct master *m, const char *why)
{
	if (m->stopping)
		return;
	log_info("stopping (%s): draining %d workers", why, master_alive(m));
	m->stopping = 1;
	m->stop_deadline = mono_ms() + m->conf->shutdown_timeout_ms +
	    KILL_GRACE_MS;
	master_kill_all(m, SIGTERM);
}

static void
master_signal(struct master *m)
{
	struct signalfd_siginfo	si;

	while (read(m->sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			master_reap(m);
			break;
		case SIGTERM:
			master_stop(m, "SIGTERM");
			break;
		case SIGINT:
			master_stop(m, "SIGINT");
			break;
		case SIGQUIT:
			log_info("SIGQUIT: stopping now, killing the workers");
			m->stopping = 1;
			m->quick = 1;
			m->stop_deadline = mono_ms();
			break;
		case SIGHUP:
			log_warnx("SIGHUP: reload is not supported by this "
			    "version; restart msgd to apply a new config");
			break;
		default:
			break;
		}
	}
}

/* Run the master until stopped; returns the process exit code. */
int
master_main(const struct msgd_conf *conf, int detach_now)
{
	struct master	 m;
	struct pollfd	 pfd;
	uint64_t	 now;
	int		 i, wait;
	char		 addrs[512];
	size_t		 off = 0;

	memset(&m, 0, sizeof(m));
	m.conf = conf;
	m.generation = 1;
	log_procname("master");
	proctitle_set("msgd: master");
	m.sigfd = master_signals();
	if (master_bind(&m) == -1)
		return (1);
	if (master_stats(&m) == -1) {
		master_unbind(&m);
		return (1);
	}
	if (detach_now) {
		/* Setup errors above went to the terminal; now go quiet. */
		detach();
		log_setstderr(0);
		stats_set_pid(&m.stats, (int)getpid());
	}
	m.nprocs = conf->workers;
	if ((m.procs = calloc((size_t)m.nprocs, sizeof(*m.procs))) == NULL)
		fatal("calloc");
	for (i = 0; i < m.nprocs; i++)
		master_spawn(&m, i);

	addrs[0] = '\0';
	for (i = 0; i < m.nls && off < sizeof(addrs); i++)
		off += (size_t)snprintf(addrs + off, sizeof(addrs) - off,
		    "%s%s", i ? ", " : "", m.ls[i].addr.text);
	log_info("ready: %d workers on %s", m.nprocs, addrs);

	for (;;) {
		now = mono_ms();
		master_sample(&m, now);
		if (m.stopping) {
			if (master_alive(&m) == 0)
				break;
			if (now >= m.stop_deadline && !m.killed) {
				if (!m.quick)
					log_warnx("workers still running after "
					    "the shutdown timeout: killing %d",
					    master_alive(&m));
				master_kill_all(&m, SIGKILL);
				m.killed = 1;
			}
		}
		wait = 1000;
		for (i = 0; i < m.nprocs && !m.stopping; i++) {
			if (m.procs[i].pid != 0 || m.procs[i].respawn_at == 0)
				continue;
			if (m.procs[i].respawn_at <= now)
				master_spawn(&m, i);
			else if (m.procs[i].respawn_at - now < (uint64_t)wait)
				wait = (int)(m.procs[i].respawn_at - now);
		}
		if (m.stopping && !m.killed && m.stop_deadline > now &&
		    m.stop_deadline - now < (uint64_t)wait)
			wait = (int)(m.stop_deadline - now);
		pfd.fd = m.sigfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, wait) == -1 && errno != EINTR)
			fatal("poll");
		master_signal(&m);
	}
	master_unbind(&m);
	if (stats_unlink(m.conf->stats_file) == -1)
		log_warn("unlink %s", m.conf->stats_file);
	stats_close(&m.stats);
	free(m.procs);
	log_info("stopped");
	return (0);
}

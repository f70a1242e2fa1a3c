/*
 * master.c: start-up, the supervision loop, signals and stop.
 *
 * Start-up, in this order, so that every error is reported before msgd
 * detaches and before any worker runs: resolve the workers' user, take the
 * pidfile lock, bind every listener, create the stats segment, detach,
 * fork the pool.  Signals are blocked and read from a signalfd, so nothing
 * runs in signal context and none is lost: the loop sees each one and does
 * the work.  The layers below report (a worker serves, a worker exited,
 * a reload committed); the loop decides what follows: readiness, a
 * respawn, a roll back, a queued reload, a stop.
 */
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
#include "master_metrics.h"
#include "master_reload.h"
#include "master_upgrade.h"
#include "net.h"
#include "pidfile.h"
#include "sdlisten.h"
#include "sdnotify.h"
#include "stats.h"
#include "stats_snap.h"
#include "util.h"

/* The master's state; its layers' are inside. */
struct master {
	struct ptable		 pt;		/* the workers */
	struct gens		 gl;		/* the generations */
	struct reload		 rl;		/* a reload in progress */
	struct upgrade		 up;		/* a binary upgrade */
	int			 incoming;	/* we are an upgrade's new master */
	int			 upgrading;	/* committed: workers hand over */
	int			 handed;	/* the new master took over */
	int			 stop_after;	/* SIGTERM during the commit */
	struct mx		 mx;		/* the metrics exporter */
	int			 sigfd;
	int			 pidfd;
	struct stats_seg	 stats;
	int			 reload_pending; /* SIGHUP meanwhile: queued */
	int			 ready;		/* READY=1 sent */
	int			 stopping;
	int			 quick;		/* SIGQUIT */
	int			 exit_code;
	uint64_t		 next_tick;	/* once-a-second chores */
	uint64_t		 next_watchdog;
	char			 last_status[128];
};

static void	master_reload_next(struct master *);
static void	master_sample(struct master *);

static const int master_sigs[] = {
	SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN,
	SIGTTOU
};

/* Block the master's signals: they are read from the returned signalfd. */
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

/* Create the directory holding path (one level) if it is missing. */
static int
mkparent(const char *path)
{
	char	dir[CONF_PATH_MAX], *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return (0);
	*slash = '\0';
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", dir);
		return (-1);
	}
	return (0);
}

/*
 * Create the stats segment with twice max_workers slots (reload overlap),
 * and the process table with one worker per slot.
 */
static int
master_stats(struct master *m, struct gen *g)
{
	char	cause[512];
	int	n;

	if (mkparent(g->conf->stats_file) == -1)
		return (-1);
	n = 2 * g->conf->max_workers;
	/* An upgrade's new master: in place at the commit (stats_commit). */
	if ((m->incoming ? stats_create_staged : stats_create)(&m->stats,
	    g->conf->stats_file, n, cause, sizeof(cause)) == -1) {
		log_warnx("stats_file %s", cause);
		return (-1);
	}
	/* Through the descriptor we created: never a path someone swapped. */
	if (g->priv.change && fchown(m->stats.fd_rw, (uid_t)-1,
	    g->priv.gid) == -1)
		log_warn("chown %s", g->conf->stats_file);
	stats_set_master(&m->stats, g->npos, g->id);
	master_sample(m);
	proc_init(&m->pt, n, &m->stats);
	upgrade_disk_check(&m->up);
	upgrade_publish(&m->up);
	return (0);
}

/*
 * Sample each TCP listener's accept queue: connections the kernel
 * completed that no worker accepted yet, the first sign that the pool is
 * too small or stuck.
 */
static void
master_sample(struct master *m)
{
	struct tcp_info	 ti;
	struct gen	*g = gen_find(&m->gl, GEN_CURRENT);
	socklen_t	 len;
	char		 name[NET_ADDRSTRLEN + 8];
	int		 i;

	for (i = 0; i < g->nls && i < STATS_MAX_LISTENERS; i++) {
		if (net_is_unix(&g->ls[i].addr) || g->ls[i].dgram) {
			snprintf(name, sizeof(name), "%s%s",
			    g->ls[i].dgram ? "udp:" : "", g->ls[i].addr.text);
			stats_set_listener(&m->stats, i, name, 0, 0, 0);
			continue;
		}
		len = sizeof(ti);
		memset(&ti, 0, sizeof(ti));
		if (getsockopt(g->ls[i].fd, IPPROTO_TCP, TCP_INFO, &ti,
		    &len) == -1)
			continue;
		/* For a listener: unacked = queue length, sacked = limit. */
		stats_set_listener(&m->stats, i, g->ls[i].addr.text, 1,
		    ti.tcpi_unacked, ti.tcpi_sacked);
	}
	m->stats.hdr->nlisteners = (uint32_t)g->nls;
}

/*
 * systemd: a STATUS= line when it changes, and WATCHDOG=1 only while every
 * serving worker's heartbeat is fresh, so a wedged pool is restarted.
 */
static void
master_notify(struct master *m, uint64_t now)
{
	struct gen		*cur = gen_find(&m->gl, GEN_CURRENT);
	struct stats_snap	 sn;
	struct stats_slot	*s;
	char			 status[128], cause[128];
	uint64_t		 wd, fresh, hb;
	int			 i;

	/*
	 * The status line, under systemd only.  Its figures are the
	 * workers' to write: read without waiting for one that stays
	 * mid-update, which must not hold this loop.
	 */
	if (sdnotify_socket()[0] != '\0' &&
	    stats_snapshot_nowait(&m->stats, &sn, cause, sizeof(cause)) == 0) {
		snprintf(status, sizeof(status), "generation %llu, %d workers, "
		    "%llu connections, %llu requests",
		    (unsigned long long)cur->id,
		    proc_count(&m->pt, cur, W_SERVING),
		    (unsigned long long)stats_get(&sn, sn.total, "conn_active"),
		    (unsigned long long)stats_get(&sn, sn.total, "st_ok"));
		stats_snap_free(&sn);
		if (strcmp(status, m->last_status) != 0) {
			sdnotify("STATUS=%s", status);
			snprintf(m->last_status, sizeof(m->last_status), "%s",
			    status);
		}
	}
	if ((wd = sdnotify_watchdog_ms()) == 0 || now < m->next_watchdog ||
	    !m->ready)
		return;
	fresh = cur->conf->worker_timeout_ms ?
	    cur->conf->worker_timeout_ms : 10000;
	for (i = 0; i < m->pt.nprocs; i++) {
		if (m->pt.procs[i].state != W_SERVING)
			continue;
		s = stats_slot(&m->stats, i);
		hb = atomic_load(&s->heartbeat_ms);
		if (hb == 0 || now - hb > fresh)
			return;		/* withheld: systemd will act */
	}
	sdnotify("WATCHDOG=1");
	m->next_watchdog = now + wd / 2;
}

/*
 * Where handed-over connections go: the serving generation, or nowhere;
 * after an upgrade's commit, the new master (the process table's relay).
 */
static const struct gen *
master_xfer_to(const struct master *m)
{
	return (m->stopping && !m->upgrading ? NULL :
	    gen_find(&m->gl, GEN_CURRENT));
}

/* SIGHUP: begin a reload, or queue it behind start-up or another one. */
static void
master_reload(struct master *m)
{
	if (m->stopping)
		return;
	if (upgrade_busy(&m->up)) {
		log_warnx("reload refused: a binary upgrade is in progress");
		stats_set_reload(&m->stats, 0, "refused: a binary upgrade is "
		    "in progress; reload after it");
		return;
	}
	if (reload_busy(&m->rl) || !m->ready) {
		log_info("reload requested while starting or reloading: "
		    "queued");
		m->reload_pending = 1;
		return;
	}
	if (reload_start(&m->rl) == -1)
		master_reload_next(m);
}

/* A reload has ended: one that was asked for meanwhile runs now. */
static void
master_reload_next(struct master *m)
{
	if (m->reload_pending && !m->stopping) {
		m->reload_pending = 0;
		master_reload(m);
	}
}

/* Every worker of the first generation serves: say so, once. */
static void
master_ready(struct master *m)
{
	struct gen	*cur = gen_find(&m->gl, GEN_CURRENT);
	char		 addrs[512];
	size_t		 off = 0;
	int		 i;

	m->ready = 1;
	addrs[0] = '\0';
	for (i = 0; i < cur->nls && off < sizeof(addrs); i++)
		off += (size_t)snprintf(addrs + off, sizeof(addrs) - off,
		    "%s%s%s", i ? ", " : "", cur->ls[i].dgram ? "udp:" : "",
		    cur->ls[i].addr.text);
	log_info("ready: %d workers on %s", cur->npos, addrs);
	sdnotify("READY=1\nSTATUS=serving on %s", addrs);
	upgrade_ready(&m->up);
	if (m->reload_pending) {
		m->reload_pending = 0;
		master_reload(m);
	}
}

/* The worker of slot answered its probe: msgd may be ready now. */
static void
master_serving(struct master *m, int slot)
{
	struct gen	*cur = gen_find(&m->gl, GEN_CURRENT);

	if (m->pt.procs[slot].gen == cur && !m->ready &&
	    gen_all_serving(&m->gl, cur))
		master_ready(m);
}

/* Graceful stop (or immediate, quick): drain every generation. */
static void
master_stop(struct master *m, const char *why, int code)
{
	if (m->stopping)
		return;
	m->stopping = 1;
	m->exit_code = code;
	sdnotify("STOPPING=1");
	log_info("stopping (%s): %s %d workers", why,
	    m->quick ? "killing" : "draining", proc_count(&m->pt, NULL, W_FREE));
	gen_drain_all(&m->gl, m->quick);
}

/*
 * A worker has exited (e): its position is free.  Nothing more while
 * stopping or for a worker that was told to go; a reload's new worker
 * rolls the reload back; a serving one is respawned, and when no worker
 * of the generation can run any more, msgd stops.
 */
static void
master_reaped(struct master *m, const struct proc_exit *e)
{
	char	what[160];

	gen_exited(e);
	proc_exit_log(e, e->state == W_DRAINING && m->quick);
	if (e->succeeded && WIFEXITED(e->status) &&
	    WEXITSTATUS(e->status) == 0)
		log_info("worker %d recycled after %llu requests "
		    "(max_requests); replaced already", e->pos,
		    (unsigned long long)e->requests);
	if (m->stopping || e->state == W_DRAINING)
		return;
	if (e->gen->state == GEN_STARTING) {
		snprintf(what, sizeof(what), "new worker %d (pid %ld) %s while "
		    "starting", e->pos, (long)e->pid, e->why);
		reload_rollback(&m->rl, what);
		master_reload_next(m);
		return;
	}
	if (e->gen->state != GEN_CURRENT || e->pos >= e->gen->npos)
		return;
	if (gen_after_death(e) == -1)
		master_stop(m, "every worker failed fatally", 1);
}

/* SIGCHLD: act on each exit the process table reports. */
static void
master_reap(struct master *m)
{
	struct proc_exit	e;

	while (proc_reap(&m->pt, master_xfer_to(m), &e))
		master_reaped(m, &e);
}

/* SIGTTIN / SIGTTOU: one worker more or fewer, within max_workers. */
static void
master_resize(struct master *m, int delta)
{
	struct gen	*g = gen_find(&m->gl, GEN_CURRENT);

	if (m->stopping || reload_busy(&m->rl) || upgrade_busy(&m->up)) {
		log_info("%s ignored during a reload, an upgrade or a stop",
		    delta > 0 ? "SIGTTIN" : "SIGTTOU");
		return;
	}
	if (delta > 0) {
		if (g->npos >= g->conf->max_workers) {
			log_warnx("SIGTTIN: already at max_workers (%d)",
			    g->conf->max_workers);
			return;
		}
		(void)gen_grow(g);
		log_info("SIGTTIN: %d workers", g->npos);
		(void)gen_spawn(&m->gl, g, g->npos - 1);
	} else {
		if (g->npos <= 1) {
			log_warnx("SIGTTOU: already at one worker");
			return;
		}
		gen_shrink(&m->gl, g);
		log_info("SIGTTOU: %d workers", g->npos);
	}
	stats_set_master(&m->stats, g->npos, g->id);
}

/* SIGUSR1: reopen the log file, and have every worker do the same. */
static void
master_reopen(struct master *m)
{
	struct gen	*cur = gen_find(&m->gl, GEN_CURRENT);
	char		 cause[512];

	if (cur->conf->log_target == LOG_TO_FILE) {
		if (master_log_open(cur->conf, &cur->priv, cause,
		    sizeof(cause)) == -1)
			log_warnx("reopen: %s", cause);
		else
			log_info("log file reopened");
	}
	proc_kill_all(&m->pt, SIGUSR1);
	mx_signal(&m->mx, SIGUSR1);
}

/*
 * SIGUSR2: a binary upgrade, refused (with the reason for msgctl upgrade)
 * while starting, stopping, reloading or upgrading already.
 */
static void
master_upgrade(struct master *m)
{
	if (m->stopping)
		upgrade_refuse(&m->up, "msgd is stopping");
	else if (!m->ready)
		upgrade_refuse(&m->up, "msgd is still starting");
	else if (reload_busy(&m->rl))
		upgrade_refuse(&m->up, "a reload is in progress; upgrade "
		    "after it");
	else if (upgrade_busy(&m->up))
		upgrade_refuse(&m->up, "an upgrade is already in progress");
	else {
		m->up.metrics_fd = m->mx.fd;
		(void)upgrade_start(&m->up, m->pidfd);
	}
}

/*
 * The new master serves: our workers drain, each connection handed over
 * (through the relay) to the new master's workers at a frame boundary.
 */
static void
master_upgrade_commit(struct master *m)
{
	struct gen	*g;

	m->upgrading = 1;
	log_info("upgrade: committing; the workers hand their connections "
	    "over to the new msgd");
	TAILQ_FOREACH(g, &m->gl.list, entry)
		if (g->state == GEN_CURRENT)
			gen_drain(&m->gl, g, 0, 1);
}

/*
 * The new master died after the commit: start our workers again (the
 * draining ones hand over to them, through us, until they have gone).
 */
static void
master_upgrade_revert(struct master *m)
{
	struct gen	*g = gen_find(&m->gl, GEN_CURRENT);
	uint64_t	 now = mono_ms();
	int		 i;

	m->upgrading = 0;
	for (i = 0; i < g->npos; i++) {
		g->pos[i].proc = -1;
		g->pos[i].respawn_at = now;
	}
}

/* What the upgrade layer reports, acted on. */
static void
master_upgrade_event(struct master *m, enum upevent ev)
{
	switch (ev) {
	case UPE_COMMIT:
		master_upgrade_commit(m);
		break;
	case UPE_EXIT:
		m->handed = 1;
		break;
	case UPE_ENDED:
		if (m->upgrading)
			master_upgrade_revert(m);
		if (m->stop_after) {
			m->stop_after = 0;
			master_stop(m, "SIGTERM during the upgrade", 0);
		}
		master_reload_next(m);
		break;
	case UPE_MAIN:
		/* The old master has gone: the pidfile is ours to remove. */
		m->pidfd = m->up.pidfd;
		m->incoming = 0;
		log_info("upgrade: the old master has exited; msgd %s is the "
		    "main process", msgd_release);
		sdnotify("READY=1\nSTATUS=upgraded to msgd %s", msgd_release);
		break;
	case UPE_FAILED:
		master_stop(m, "the upgrade did not commit", 1);
		break;
	default:
		break;
	}
}

/* SIGTERM, SIGINT, SIGQUIT: stop, but let an upgrade's commit finish. */
static void
master_stop_signal(struct master *m, const char *why)
{
	if (m->upgrading) {
		log_info("%s during the upgrade's commit: the new msgd will be "
		    "stopped once it has taken over", why);
		m->stop_after = 1;
		return;
	}
	if (upgrade_busy(&m->up) && !m->incoming)
		upgrade_abort(&m->up, "msgd is stopping");
	master_stop(m, why, 0);
}

/* Turn each pending signal into its work. */
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
			master_stop_signal(m, "SIGTERM");
			break;
		case SIGINT:
			master_stop_signal(m, "SIGINT");
			break;
		case SIGQUIT:
			if (!m->stopping && !m->upgrading)
				m->quick = 1;
			master_stop_signal(m, "SIGQUIT");
			break;
		case SIGHUP:
			master_reload(m);
			break;
		case SIGUSR1:
			master_reopen(m);
			break;
		case SIGUSR2:
			master_upgrade(m);
			break;
		case SIGTTIN:
			master_resize(m, 1);
			break;
		case SIGTTOU:
			master_resize(m, -1);
			break;
		default:
			break;
		}
	}
}

/*
 * Release what the master made: listeners (of a reload in progress too),
 * the stats file (only if it is ours), the pidfile.
 */
static void
master_cleanup(struct master *m)
{
	struct gen	*cur = gen_find(&m->gl, GEN_CURRENT);
	struct gen	*next = gen_find(&m->gl, GEN_STARTING);

	if (m->incoming && m->up.state == UP_TAKEN) {
		/* Stopped right after taking over: all of it is ours. */
		m->incoming = 0;
		m->pidfd = m->up.pidfd;
	}
	if (m->handed) {
		/* All of it is the new master's now: nothing removed. */
		stats_close(&m->stats);
		if (m->pidfd != -1)
			close(m->pidfd);
		m->pidfd = -1;
		return;
	}
	if (m->incoming) {
		/*
		 * An upgrade's new master that never took over: its own
		 * segment goes, the old master's files and sockets stay.
		 */
		if (m->stats.staged[0] != '\0' &&
		    unlink(m->stats.staged) == -1)
			log_warn("unlink %s", m->stats.staged);
		stats_close(&m->stats);
		gen_unbind(cur, NULL);
		return;
	}
	if (next != NULL)
		gen_unbind(next, cur);
	gen_unbind(cur, NULL);
	if (m->stats.hdr != NULL) {
		if (stats_unlink(cur->conf->stats_file) == -1)
			log_warn("unlink %s", cur->conf->stats_file);
		stats_close(&m->stats);
	}
	pidfile_release(cur->conf->pidfile, m->pidfd);
	m->pidfd = -1;
}

/*
 * log.target "file": open it as our stderr.  With a user for the workers
 * the file must be theirs too, or they cannot reopen it after rotation
 * (SIGUSR1): a file msgd creates is born theirs; an existing one of root's
 * (logrotate's "create") is given to them, through its descriptor, only in
 * a directory nobody else can write, where nobody could have planted it.
 */
int
master_log_open(const struct msgd_conf *c, const struct priv *p, char *cause,
    size_t len)
{
	struct stat	st;
	char		why[512];
	uid_t		uid = p->change ? p->uid : (uid_t)-1;
	int		fd, made;

	if ((fd = log_file_open(c->log_file, uid, p->gid, &made, cause,
	    len)) == -1)
		return (-1);
	if (!made && uid != (uid_t)-1 && fstat(fd, &st) == 0 &&
	    st.st_uid != uid) {
		if (priv_check_dir("log.file", c->log_file, why,
		    sizeof(why)) == -1)
			log_warnx("%s; so the existing file is not given to "
			    "the workers, who cannot reopen it after rotation",
			    why);
		else if (fchown(fd, uid, p->gid) == -1)
			log_warn("log file %s: fchown", c->log_file);
	}
	if (log_to_fd(fd) == -1) {
		snprintf(cause, len, "log file %s: %s", c->log_file,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

/*
 * While the workers run as another user, the pidfile and the stats file
 * live where only msgd's user can write (priv_check_dir).  Workers that
 * are root could write anything anyway (and cannot start under a master
 * that is not).
 */
int
master_check_dirs(const struct msgd_conf *c, const struct priv *p,
    char *cause, size_t len)
{
	if (!p->change || p->uid == geteuid() || p->uid == 0)
		return (0);
	if (priv_check_dir("pidfile", c->pidfile, cause, len) == -1 ||
	    priv_check_dir("stats_file", c->stats_file, cause, len) == -1)
		return (-1);
	return (0);
}

/*
 * Start-up, first step: the master's name, its signals, and the first
 * generation for conf (adopted).  -1: nothing to undo but conf, freed.
 */
static int
master_init(struct master *m, struct msgd_conf *conf, const char *exe,
    int foreground)
{
	char	cause[512];
	int	rc;

	memset(m, 0, sizeof(*m));
	m->pidfd = -1;
	log_procname("master");
	proctitle_set("msgd: master");
	sdnotify_init();
	if (sdlisten_init(cause, sizeof(cause)) == -1) {
		log_warnx("socket activation refused: %s", cause);
		free(conf);
		return (-1);
	}
	m->sigfd = master_signals();
	gen_init(&m->gl, &m->pt);
	reload_init(&m->rl, &m->gl, &m->stats);
	upgrade_init(&m->up, &m->gl, &m->stats, exe, foreground);
	if ((rc = upgrade_incoming(&m->up, cause, sizeof(cause))) == -1) {
		log_warnx("%s", cause);
		free(conf);
		return (-1);
	}
	m->incoming = rc;
	if (gen_new(&m->gl, conf, GEN_CURRENT, cause, sizeof(cause)) ==
	    NULL) {
		log_warnx("%s", cause);
		free(conf);
		return (-1);
	}
	return (0);
}

/* fd is the file at path (the same inode), or -1. */
static int
master_same_file(int fd, const char *path)
{
	struct stat	a, b;

	if (fstat(fd, &a) == -1 || stat(path, &b) == -1 ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return (-1);
	return (0);
}

/*
 * Start-up, while errors still reach the terminal: directories, the
 * pidfile lock, the files directory, every listener, the stats segment.
 */
static int
master_setup(struct master *m)
{
	struct gen		*g = gen_find(&m->gl, GEN_CURRENT);
	const struct msgd_conf	*conf = g->conf;
	char			 cause[512], entries[CONF_LISTEN_MAX * 2 *
				    (CONF_ADDR_MAX + 1) + 64];

	if (mkparent(conf->pidfile) == -1 || mkparent(conf->stats_file) == -1)
		return (-1);
	if (master_check_dirs(conf, &g->priv, cause, sizeof(cause)) == -1)
		goto fail;
	if (m->incoming) {
		/* The old master's lock, ours too (master_upgrade.c). */
		if (master_same_file(m->up.pidfd, conf->pidfile) == -1) {
			snprintf(cause, sizeof(cause), "pidfile %s is not the "
			    "running msgd's: the pidfile cannot change on an "
			    "upgrade (restart msgd)", conf->pidfile);
			goto fail;
		}
	} else if ((m->pidfd = pidfile_acquire(conf->pidfile, cause,
	    sizeof(cause))) == -1)
		goto fail;
	if (gen_prepare(g, cause, sizeof(cause)) == -1)
		goto fail;
	if (gen_bind(g, NULL, cause, sizeof(cause)) == -1) {
		log_warnx("cannot listen on %s", cause);
		return (-1);
	}
	if (mx_init(&m->mx, conf, g->id, cause, sizeof(cause)) == -1) {
		log_warnx("cannot listen on metrics_listen %s: %s",
		    conf->metrics_listen, cause);
		return (-1);
	}
	if (sdlisten_all_taken(cause, sizeof(cause)) == -1) {
		gen_entries(conf, entries, sizeof(entries));
		log_warnx("socket activation refused: %s (%s)", cause, entries);
		return (-1);
	}
	if (sdlisten_count() > 0)
		log_info("serving %d sockets passed by LISTEN_FDS",
		    sdlisten_count());
	if (master_stats(m, g) == -1)
		return (-1);
	mx_attach(&m->mx, &m->pt, &m->stats);
	return (0);
fail:
	log_warnx("%s", cause);
	return (-1);
}

/*
 * Start-up, set up: go to the background (unless told not to), write our
 * pid, and become the subreaper of what the workers leave behind.
 */
static void
master_detach(struct master *m, int detach_now)
{
	struct gen		*g = gen_find(&m->gl, GEN_CURRENT);
	const struct msgd_conf	*conf = g->conf;
	char			 cause[512];

	if (m->incoming) {
		/*
		 * An upgrade's new master stays the old one's child (it is
		 * killed with its group if the upgrade fails), already
		 * detached or not as the old one was; the pidfile is written
		 * at the commit.
		 */
		if (detach_now)
			log_setstderr(0);
	} else if (detach_now) {
		/* Setup errors above went to the terminal; now go quiet. */
		detach();
		log_setstderr(0);
		/* detach() pointed stderr at /dev/null: the log file back. */
		if (conf->log_target == LOG_TO_FILE &&
		    master_log_open(conf, &g->priv, cause, sizeof(cause)) == -1)
			log_warnx("reopen: %s", cause);
		stats_set_pid(&m->stats, (int)getpid());
	}
	if (!m->incoming && pidfile_write(m->pidfd, getpid()) == -1)
		log_warn("write %s", conf->pidfile);
	/*
	 * Orphaned EXEC commands come to us, not to init (master_proc.c).
	 * After detach(): fork does not pass this on.
	 */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		log_warn("prctl(PR_SET_CHILD_SUBREAPER)");
}

/*
 * Once a second: heartbeat, the stats header, samples, health, the
 * processes commands let go, systemd.
 */
static void
master_tick(struct master *m, uint64_t now)
{
	char	cause[512];

	m->next_tick = now + 1000;
	stats_master_beat(&m->stats);
	if (stats_restore_header(&m->stats, cause, sizeof(cause)))
		log_warnx("stats_file %s: its header (%s) was changed by "
		    "another process: refused, rewritten from the master's "
		    "copy", gen_find(&m->gl, GEN_CURRENT)->conf->stats_file,
		    cause);
	master_sample(m);
	proc_check_health(&m->pt, now);
	proc_sweep(&m->pt);
	master_notify(m, now);
	upgrade_disk_check(&m->up);
}

/*
 * Handed-over connections waiting for a worker: retry (soon again, while
 * some still wait), or close them when stopping.
 */
static void
master_xfer_retry(struct master *m, int *wait)
{
	if (m->pt.nxw == 0)
		return;
	if (m->stopping)
		proc_xfer_drop(&m->pt);
	else if (proc_xfer_flush(&m->pt, master_xfer_to(m)) > 0 && *wait > 10)
		*wait = 10;
}

/*
 * Wait up to wait ms for a signal, a probe's answer or a hand-over, and
 * pass each on.
 */
static void
master_poll(struct master *m, int wait)
{
	struct pollfd	 pfd[4 + 4 * 1024];
	int		 slot_of[4 + 4 * 1024], ufd[3];
	struct wproc	*p;
	int		 i, n = 0, nu;

	pfd[n].fd = m->sigfd;
	pfd[n].events = POLLIN;
	slot_of[n++] = -1;
	nu = upgrade_fds(&m->up, ufd, 3);
	for (i = 0; i < nu; i++) {
		pfd[n].fd = ufd[i];
		pfd[n].events = POLLIN;
		slot_of[n++] = -2;
	}
	for (i = 0; i < m->pt.nprocs && n + 1 < (int)nitems(pfd); i++) {
		if (m->pt.procs[i].probe != -1) {
			pfd[n].fd = m->pt.procs[i].probe;
			pfd[n].events = POLLIN;
			slot_of[n++] = i;
		}
		/* Hand-overs: while there is room to hold them. */
		if (m->pt.procs[i].ctl != -1 && (proc_xfer_room(&m->pt) ||
		    master_xfer_to(m) == NULL)) {
			pfd[n].fd = m->pt.procs[i].ctl;
			pfd[n].events = POLLIN;
			slot_of[n++] = i;
		}
	}
	if (poll(pfd, (nfds_t)n, wait) == -1 && errno != EINTR)
		fatal("poll");
	for (i = 1; i < n; i++) {
		if (pfd[i].revents == 0)
			continue;
		if (slot_of[i] == -2) {
			master_upgrade_event(m, upgrade_input(&m->up,
			    pfd[i].fd));
			continue;
		}
		p = &m->pt.procs[slot_of[i]];
		if (p->probe == pfd[i].fd) {
			if (proc_probe(&m->pt, slot_of[i]))
				master_serving(m, slot_of[i]);
		} else if (p->ctl == pfd[i].fd) {
			proc_xfer(&m->pt, slot_of[i], master_xfer_to(m));
			/* Unasked: recycling.  Its successor starts now. */
			if (p->handed && !m->stopping && !m->upgrading &&
			    gen_succeed(&m->gl, p->gen, p->pos, slot_of[i]))
				log_info("worker %d (pid %ld) hands its "
				    "connections over: starting its successor",
				    p->pos, (long)p->pid);
		}
	}
	if (pfd[0].revents != 0)
		master_signal(m);
}

/*
 * What /health says (the state in the stats header), and the metrics
 * exporter's turn with the serving generation's configuration.
 */
static void
master_metrics(struct master *m, uint64_t now, int *wait)
{
	struct gen		*cur = gen_find(&m->gl, GEN_CURRENT);
	enum stats_mstate	 st;

	if (m->stopping)
		st = m->quick ? STATS_M_STOPPING : STATS_M_DRAINING;
	else
		st = m->ready ? STATS_M_SERVING : STATS_M_STARTING;
	stats_set_mstate(&m->stats, st);
	/* No respawn while stopping, nor when an upgrade hands over. */
	mx_run(&m->mx, cur->conf, &cur->priv, cur->id, m->stopping ||
	    m->upgrading, now, wait);
}

/* Supervise until stopped and every worker has gone. */
static void
master_loop(struct master *m)
{
	uint64_t	now;
	int		wait;

	for (;;) {
		now = mono_ms();
		if (m->handed)
			break;
		if (m->stopping && proc_count(&m->pt, NULL, W_FREE) == 0)
			break;
		if (now >= m->next_tick)
			master_tick(m, now);
		wait = (int)(m->next_tick > now ? m->next_tick - now : 0);
		if (reload_poll(&m->rl, now, &wait))
			master_reload_next(m);
		master_upgrade_event(m, upgrade_poll(&m->up, now, &wait));
		gen_collect(&m->gl);
		master_xfer_retry(m, &wait);
		/* The last old worker has gone: the totals are final. */
		if (m->upgrading && proc_count(&m->pt, NULL, W_FREE) == 0 &&
		    m->pt.nxw == 0)
			upgrade_drained(&m->up);
		if (!m->stopping && !m->upgrading)
			gen_respawn_due(&m->gl, gen_find(&m->gl, GEN_CURRENT),
			    now, &wait);
		master_metrics(m, now, &wait);
		if (m->handed)
			break;
		/* What workers sent that is to go: closed by a child. */
		proc_grave_flush(&m->pt);
		master_poll(m, wait);
	}
}

/*
 * Run the master until stopped; returns the exit code.  conf is adopted
 * (heap-allocated; it becomes the first generation's).
 */
int
master_main(struct msgd_conf *conf, int detach_now, const char *exe)
{
	struct master	 m;
	struct gen	*g;
	int		 i;

	if (master_init(&m, conf, exe, !detach_now) == -1)
		return (1);
	if (master_setup(&m) == -1) {
		upgrade_start_failed(&m.up);
		master_cleanup(&m);
		m.exit_code = 1;
	} else {
		master_detach(&m, detach_now);
		g = gen_find(&m.gl, GEN_CURRENT);
		for (i = 0; i < g->npos; i++)
			(void)gen_spawn(&m.gl, g, i);
		master_loop(&m);
		mx_stop(&m.mx);
		master_cleanup(&m);
		if (m.handed && m.stop_after && m.up.new_pid > 0)
			(void)kill(m.up.new_pid, SIGTERM);
		log_info(m.handed ? "exited: the new msgd has taken over" :
		    "stopped");
	}
	gen_free_all(&m.gl);
	proc_free(&m.pt);
	return (m.exit_code);
}

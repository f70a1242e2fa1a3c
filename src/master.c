/*
 * master.c: start-up, the supervision loop, signals and stop.
 *
 * Start-up, in this order, so that every error is reported before msgd
 * detaches and before any worker runs: resolve the workers' user, take the
 * pidfile lock, bind every listener, create the stats segment, detach,
 * fork the pool.  Signals are blocked and read from a signalfd, so nothing
 * runs in signal context and none is lost: the loop sees each one and does
 * the work.
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
#include "net.h"
#include "pidfile.h"
#include "sdnotify.h"
#include "spool.h"
#include "stats.h"
#include "stats_snap.h"
#include "util.h"

static void	master_sample(struct master *);

static const int master_sigs[] = {
	SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGTTIN, SIGTTOU
};

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
 * What a generation needs before its workers start: the files directory
 * (made for the workers' user, stale temporaries removed), and a word in
 * the log when protected mode will restrict remote peers.
 */
int
gen_prepare(struct master *m, struct gen *g, char *cause, size_t len)
{
	const struct msgd_conf	*c = g->conf;
	struct net_addr		 a;
	char			 tmp[256];
	int			 i, remote = 0;

	if (c->files_enabled && spool_prepare(c->files_dir, g->priv.change,
	    g->priv.uid, g->priv.gid, cause, len) == -1)
		return (-1);
	for (i = 0; i < c->nlisten + c->nudp; i++)
		if (net_parse_addr(i < c->nlisten ? c->listen[i] :
		    c->udp_listen[i - c->nlisten], &a, tmp, sizeof(tmp)) == 0 &&
		    !net_addr_is_loopback(&a))
			remote = 1;
	if (remote && !c->auth_set && c->protected_mode)
		log_warnx("protected mode: listening beyond loopback without "
		    "auth_token, so remote peers get PING only; set auth_token "
		    "(or auth_token_file), or protected = false");
	return (0);
}

/* Create the stats segment with twice max_workers slots (reload overlap). */
static int
master_stats(struct master *m, struct gen *g)
{
	char	cause[512];

	if (mkparent(g->conf->stats_file) == -1)
		return (-1);
	m->nprocs = 2 * g->conf->max_workers;
	if (stats_create(&m->stats, g->conf->stats_file, m->nprocs, cause,
	    sizeof(cause)) == -1) {
		log_warnx("stats_file %s", cause);
		return (-1);
	}
	/* Through the descriptor we created: never a path someone swapped. */
	if (g->priv.change && fchown(m->stats.fd_rw, (uid_t)-1,
	    g->priv.gid) == -1)
		log_warn("chown %s", g->conf->stats_file);
	stats_set_master(&m->stats, g->npos, g->id);
	master_sample(m);
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
	struct gen	*g = m->cur;
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
	struct stats_snap	 sn;
	struct stats_slot	*s;
	char			 status[128], cause[128];
	uint64_t		 wd, fresh, hb;
	int			 i;

	if (stats_snapshot(&m->stats, &sn, cause, sizeof(cause)) == 0) {
		snprintf(status, sizeof(status), "generation %llu, %d workers, "
		    "%llu connections, %llu requests",
		    (unsigned long long)m->cur->id,
		    proc_count(m, m->cur, W_SERVING),
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
	fresh = m->cur->conf->worker_timeout_ms ?
	    m->cur->conf->worker_timeout_ms : 10000;
	for (i = 0; i < m->nprocs; i++) {
		if (m->procs[i].state != W_SERVING)
			continue;
		s = stats_slot(&m->stats, i);
		hb = atomic_load(&s->heartbeat_ms);
		if (hb == 0 || now - hb > fresh)
			return;		/* withheld: systemd will act */
	}
	sdnotify("WATCHDOG=1");
	m->next_watchdog = now + wd / 2;
}

/* Every worker of the first generation serves: say so, once. */
void
master_ready(struct master *m)
{
	char	addrs[512];
	size_t	off = 0;
	int	i;

	m->ready = 1;
	addrs[0] = '\0';
	for (i = 0; i < m->cur->nls && off < sizeof(addrs); i++)
		off += (size_t)snprintf(addrs + off, sizeof(addrs) - off,
		    "%s%s%s", i ? ", " : "", m->cur->ls[i].dgram ? "udp:" : "",
		    m->cur->ls[i].addr.text);
	log_info("ready: %d workers on %s", m->cur->npos, addrs);
	sdnotify("READY=1\nSTATUS=serving on %s", addrs);
	if (m->reload_pending) {
		m->reload_pending = 0;
		reload_start(m);
	}
}

/* Graceful stop (or immediate, quick): drain every generation. */
void
master_stop(struct master *m, const char *why, int code)
{
	int	i;

	if (m->stopping)
		return;
	m->stopping = 1;
	m->exit_code = code;
	sdnotify("STOPPING=1");
	log_info("stopping (%s): %s %d workers", why,
	    m->quick ? "killing" : "draining", proc_count(m, NULL, W_FREE));
	gen_drain(m, m->cur, m->quick, 0);
	if (m->next != NULL)
		gen_drain(m, m->next, m->quick, 0);
	for (i = 0; i < (int)nitems(m->old); i++)
		if (m->old[i] != NULL && m->quick)
			gen_drain(m, m->old[i], 1, 0);
}

/* SIGTTIN / SIGTTOU: one worker more or fewer, within max_workers. */
static void
master_resize(struct master *m, int delta)
{
	struct gen	*g = m->cur;
	struct wpos	*wp;

	if (m->stopping || m->next != NULL) {
		log_info("%s ignored during a reload or stop",
		    delta > 0 ? "SIGTTIN" : "SIGTTOU");
		return;
	}
	if (delta > 0) {
		if (g->npos >= g->conf->max_workers) {
			log_warnx("SIGTTIN: already at max_workers (%d)",
			    g->conf->max_workers);
			return;
		}
		wp = &g->pos[g->npos];
		memset(wp, 0, sizeof(*wp));
		wp->proc = -1;
		g->npos++;
		log_info("SIGTTIN: %d workers", g->npos);
		(void)proc_spawn(m, g, g->npos - 1);
	} else {
		if (g->npos <= 1) {
			log_warnx("SIGTTOU: already at one worker");
			return;
		}
		g->npos--;
		wp = &g->pos[g->npos];
		if (wp->proc != -1)
			proc_drain(m, wp->proc, mono_ms() +
			    g->conf->shutdown_timeout_ms + KILL_GRACE_MS, 1);
		wp->proc = -1;
		log_info("SIGTTOU: %d workers", g->npos);
	}
	stats_set_master(&m->stats, g->npos, g->id);
}

static void
master_signal(struct master *m)
{
	struct signalfd_siginfo	si;
	char			cause[512];

	while (read(m->sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			proc_reap(m);
			break;
		case SIGTERM:
			master_stop(m, "SIGTERM", 0);
			break;
		case SIGINT:
			master_stop(m, "SIGINT", 0);
			break;
		case SIGQUIT:
			if (!m->stopping)
				m->quick = 1;
			master_stop(m, "SIGQUIT", 0);
			break;
		case SIGHUP:
			reload_start(m);
			break;
		case SIGUSR1:
			if (m->cur->conf->log_target == LOG_TO_FILE) {
				if (master_log_open(m->cur->conf, &m->cur->priv,
				    cause, sizeof(cause)) == -1)
					log_warnx("reopen: %s", cause);
				else
					log_info("log file reopened");
			}
			proc_kill_all(m, SIGUSR1);
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
	struct gen	*cur = m->cur;
	int		 i;

	if (m->next != NULL)
		master_unbind_gen(m, m->next);
	for (i = 0; i < cur->nls; i++) {
		if (cur->ls[i].fd == -1)
			continue;
		close(cur->ls[i].fd);
		if (net_unlink_unix(&cur->ls[i].addr) == -1)
			log_warn("unlink %s", cur->ls[i].addr.text);
		cur->ls[i].fd = -1;
	}
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
 * Run the master until stopped; returns the exit code.  conf is adopted
 * (heap-allocated; it becomes the first generation's).
 */
int
master_main(struct msgd_conf *conf, int detach_now)
{
	struct master	 m;
	struct pollfd	 pfd[1 + 4 * 1024];
	int		 slot_of[1 + 4 * 1024];
	struct gen	*g;
	char		 cause[512];
	uint64_t	 now;
	int		 i, n, wait;

	memset(&m, 0, sizeof(m));
	m.pidfd = -1;
	log_procname("master");
	proctitle_set("msgd: master");
	sdnotify_init();
	m.sigfd = master_signals();
	if ((g = gen_new(&m, conf, cause, sizeof(cause))) == NULL) {
		log_warnx("%s", cause);
		free(conf);
		return (1);
	}
	m.cur = g;
	if (mkparent(conf->pidfile) == -1 || mkparent(conf->stats_file) == -1)
		goto fail;
	if (master_check_dirs(conf, &g->priv, cause, sizeof(cause)) == -1) {
		log_warnx("%s", cause);
		goto fail;
	}
	if ((m.pidfd = pidfile_acquire(conf->pidfile, cause,
	    sizeof(cause))) == -1) {
		log_warnx("%s", cause);
		goto fail;
	}
	if (gen_prepare(&m, g, cause, sizeof(cause)) == -1) {
		log_warnx("%s", cause);
		goto fail;
	}
	if (gen_bind(&m, g, NULL, cause, sizeof(cause)) == -1) {
		log_warnx("cannot listen on %s", cause);
		goto fail;
	}
	if (master_stats(&m, g) == -1)
		goto fail;
	if (detach_now) {
		/* Setup errors above went to the terminal; now go quiet. */
		detach();
		log_setstderr(0);
		/* detach() pointed stderr at /dev/null: the log file back. */
		if (conf->log_target == LOG_TO_FILE &&
		    master_log_open(conf, &g->priv, cause, sizeof(cause)) == -1)
			log_warnx("reopen: %s", cause);
		stats_set_pid(&m.stats, (int)getpid());
	}
	if (pidfile_write(m.pidfd, getpid()) == -1)
		log_warn("write %s", conf->pidfile);
	/*
	 * Orphaned EXEC commands come to us, not to init (master_proc.c).
	 * After detach(): fork does not pass this on.
	 */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		log_warn("prctl(PR_SET_CHILD_SUBREAPER)");
	if ((m.procs = calloc((size_t)m.nprocs, sizeof(*m.procs))) == NULL)
		fatal("calloc");
	for (i = 0; i < m.nprocs; i++) {
		m.procs[i].probe = -1;
		m.procs[i].ctl = -1;
		m.procs[i].note = -1;
	}
	for (i = 0; i < g->npos; i++)
		(void)proc_spawn(&m, g, i);

	for (;;) {
		now = mono_ms();
		if (m.stopping && proc_count(&m, NULL, W_FREE) == 0)
			break;
		if (now >= m.next_tick) {
			m.next_tick = now + 1000;
			stats_master_beat(&m.stats);
			if (stats_restore_header(&m.stats, cause,
			    sizeof(cause)))
				log_warnx("stats_file %s: its header (%s) was "
				    "changed by another process: refused, "
				    "rewritten from the master's copy",
				    m.cur->conf->stats_file, cause);
			master_sample(&m);
			proc_check_health(&m, now);
			master_notify(&m, now);
		}
		reload_poll(&m, now);
		gen_collect(&m);
		wait = (int)(m.next_tick > now ? m.next_tick - now : 0);
		/* Handed-over connections waiting for a worker: retry soon. */
		if (m.nxw > 0) {
			if (m.stopping)
				proc_xfer_drop(&m);
			else if (proc_xfer_flush(&m) > 0 && wait > 10)
				wait = 10;
		}
		if (m.settle_at != 0 && m.settle_at > now &&
		    m.settle_at - now < (uint64_t)wait)
			wait = (int)(m.settle_at - now);
		proc_respawn_due(&m, now, &wait);

		n = 0;
		pfd[n].fd = m.sigfd;
		pfd[n].events = POLLIN;
		slot_of[n++] = -1;
		for (i = 0; i < m.nprocs && n + 1 < (int)nitems(pfd); i++) {
			if (m.procs[i].probe != -1) {
				pfd[n].fd = m.procs[i].probe;
				pfd[n].events = POLLIN;
				slot_of[n++] = i;
			}
			if (m.procs[i].ctl != -1) {
				pfd[n].fd = m.procs[i].ctl;
				pfd[n].events = POLLIN;
				slot_of[n++] = i;
			}
		}
		if (poll(pfd, (nfds_t)n, wait) == -1 && errno != EINTR)
			fatal("poll");
		for (i = 1; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (m.procs[slot_of[i]].probe == pfd[i].fd)
				proc_probe(&m, slot_of[i]);
			else if (m.procs[slot_of[i]].ctl == pfd[i].fd)
				proc_xfer(&m, slot_of[i]);
		}
		if (pfd[0].revents != 0)
			master_signal(&m);
	}
	master_cleanup(&m);
	log_info("stopped");
	goto done;
fail:
	master_cleanup(&m);
	m.exit_code = 1;
done:
	for (i = 0; i < (int)nitems(m.old); i++)
		if (m.old[i] != NULL)
			gen_free(&m, m.old[i]);
	while ((g = m.doomed) != NULL) {
		m.doomed = g->doomed_next;
		gen_free(&m, g);
	}
	if (m.next != NULL)
		gen_free(&m, m.next);
	gen_free(&m, m.cur);
	proc_xfer_drop(&m);
	free(m.xw);
	free(m.procs);
	return (m.exit_code);
}

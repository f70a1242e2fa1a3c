/*
 * master_metrics.c: the master's side of the metrics exporter
 * (master_metrics.h).
 *
 * The master binds metrics_listen (it binds everything) and keeps the
 * socket for its whole life, or until a reload changes the address; the
 * exporter inherits it.  The exporter writes a byte on a pipe when it
 * serves and then once a second: the first is its start-up answer, the
 * others its heartbeat, read in the loop's turn (no probe speaks HTTP:
 * the master never parses it).  It is respawned like a worker: at once,
 * then after a second, then at most once every respawn_throttle while it
 * keeps dying young; killed when it does not answer in time or stops
 * beating for worker_timeout.  A reload restarts it with the new
 * configuration on the same socket (connections wait in its queue
 * meanwhile), or on a new one if metrics_listen changed.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "exporter.h"
#include "log.h"
#include "master_metrics.h"
#include "sdlisten.h"
#include "sdnotify.h"
#include "util.h"
#include "worker.h"

#define MX_START_MS		10000	/* to say it serves */
#define MX_YOUNG_MS		5000	/* a death before: young */
#define MX_RESPAWN_SECOND_MS	1000	/* after the second young death */
#define MX_YOUNG_THROTTLE	3	/* then respawn_throttle applies */

/* Publish who serves metrics, for msgctl status. */
static void
mx_publish(struct mx *mx)
{
	stats_set_metrics(mx->stats, mx->serving ? (int)mx->pid : 0,
	    mx->fd != -1 ? mx->addr : "", mx->restarts);
}

/* Close the beat pipe of the exporter that has gone. */
static void
mx_forget(struct mx *mx)
{
	if (mx->beat != -1)
		close(mx->beat);
	mx->beat = -1;
	mx->pid = 0;
	mx->serving = 0;
}

/*
 * The table reaped pid with status.  The one told to stop is simply
 * gone; the exporter itself died unasked: when to start another.
 */
static void
mx_exited(struct mx *mx, pid_t pid, int status)
{
	uint64_t	 now = mono_ms();
	char		 why[64];

	if (WIFEXITED(status))
		snprintf(why, sizeof(why), "exited %d", WEXITSTATUS(status));
	else
		snprintf(why, sizeof(why), "killed by signal %d%s",
		    WIFSIGNALED(status) ? WTERMSIG(status) : 0,
		    WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS ?
		    " (its seccomp filter)" : "");
	if (pid == mx->old) {
		/* Told to stop: it exits 0 (or was killed, replaced twice). */
		if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) &&
		    !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
			log_warnx("metrics exporter (pid %ld), told to stop, %s",
			    (long)pid, why);
		mx->old = 0;
		return;
	}
	mx->young = !mx->serving || now - mx->started < MX_YOUNG_MS ?
	    mx->young + 1 : 0;
	mx_forget(mx);
	mx->restarts++;
	if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_FATAL) {
		log_warnx("metrics exporter (pid %ld) %s: it cannot run (error "
		    "above), not respawned before a reload", (long)pid, why);
		mx->fatal = 1;
		mx_publish(mx);
		return;
	}
	log_warnx("metrics exporter (pid %ld) %s; respawning it%s", (long)pid,
	    why, mx->young >= MX_YOUNG_THROTTLE ? " at most once every "
	    "respawn_throttle" : "");
	if (mx->young <= 1)
		mx->respawn_at = now;
	else if (mx->young < MX_YOUNG_THROTTLE)
		mx->respawn_at = now + MX_RESPAWN_SECOND_MS;
	else
		mx->respawn_at = UINT64_MAX;	/* mx_run: respawn_throttle */
	mx_publish(mx);
}

/* Close our socket, unless it was passed to us: that one stays open. */
static void
mx_close(struct mx *mx)
{
	if (mx->fd != -1 && !sdlisten_held(mx->fd))
		close(mx->fd);
	mx->fd = -1;
}

/*
 * Bind addr (or nothing for ""), replacing the socket we have unless it
 * is bound there already; a socket passed by LISTEN_FDS for the address
 * is taken instead.  On failure the old one stays.
 */
static int
mx_bind(struct mx *mx, const struct msgd_conf *c, char *cause, size_t len)
{
	struct net_addr	a;
	int		fd;

	if (mx->fd != -1 && strcmp(mx->addr, c->metrics_listen) == 0)
		return (0);
	if (c->metrics_listen[0] != '\0') {
		if (net_parse_addr(c->metrics_listen, &a, cause, len) == -1)
			return (-1);
		/* Passed by systemd or a previous binary: that one. */
		if ((fd = sdlisten_find(&a, 0)) == -1 &&
		    (fd = net_listen(&a, c->backlog, cause, len)) == -1)
			return (-1);
	} else
		fd = -1;
	mx_close(mx);
	mx->fd = fd;
	snprintf(mx->addr, sizeof(mx->addr), "%s", c->metrics_listen);
	if (fd != -1 && !net_addr_is_loopback(&a) && c->protected_mode &&
	    !c->auth_set)
		log_warnx("protected mode: metrics_listen beyond loopback "
		    "without auth_token, so remote peers get /health only; set "
		    "auth_token (scrapers send it as a bearer token), or "
		    "protected = false");
	return (0);
}

/*
 * Start-up: bind metrics_listen of c (generation id) with the listeners,
 * before anything runs, so that a bad address fails the start like a
 * bad listen does, and a passed socket for it is taken.
 */
int
mx_init(struct mx *mx, const struct msgd_conf *c, uint64_t id, char *cause,
    size_t len)
{
	memset(mx, 0, sizeof(*mx));
	mx->fd = -1;
	mx->beat = -1;
	mx->gen_id = id;
	return (mx_bind(mx, c, cause, len));
}

/*
 * Once the process table and the statistics exist: the table learns the
 * exporter's pid, and the first exporter starts at the loop's next turn.
 */
void
mx_attach(struct mx *mx, struct ptable *pt, struct stats_seg *stats)
{
	mx->pt = pt;
	mx->stats = stats;
	if (mx->fd != -1)
		mx->respawn_at = mono_ms();
}

/*
 * In the child: keep the socket (as fd 3), the beat pipe (fd 4) and the
 * statistics segment's read-only descriptor (fd 5), close every other
 * descriptor of the master's.
 */
static void
mx_child_fds(int *fd, int *beat, int *stats)
{
	int	a, b, c;

	if ((a = fcntl(*fd, F_DUPFD_CLOEXEC, 10)) == -1 ||
	    (b = fcntl(*beat, F_DUPFD_CLOEXEC, 10)) == -1 ||
	    (c = fcntl(*stats, F_DUPFD_CLOEXEC, 10)) == -1 ||
	    dup3(a, 3, O_CLOEXEC) == -1 || dup3(b, 4, O_CLOEXEC) == -1 ||
	    dup3(c, 5, O_CLOEXEC) == -1)
		_exit(WORKER_EXIT_FATAL);
	(void)close_range(6, ~0U, 0);
	*fd = 3;
	*beat = 4;
	*stats = 5;
}

/* Fork the exporter with configuration c, as priv. */
static void
mx_spawn(struct mx *mx, const struct msgd_conf *c, const struct priv *p)
{
	struct exporter_args	a;
	pid_t			pid, master = getpid();
	int			pv[2];

	mx->respawn_at = 0;
	if (pipe2(pv, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_warn("pipe for the metrics exporter");
		mx->respawn_at = mono_ms() + MX_RESPAWN_SECOND_MS;
		return;
	}
	if ((pid = fork_child()) == -1) {
		log_warn("fork for the metrics exporter");
		close(pv[0]);
		close(pv[1]);
		mx->respawn_at = mono_ms() + MX_RESPAWN_SECOND_MS;
		return;
	}
	if (pid == 0) {
		/* The master's signals stay blocked until its signalfd. */
		sdnotify_forget();
		memset(&a, 0, sizeof(a));
		a.conf = c;
		a.priv = p;
		a.fd = mx->fd;
		a.beat = pv[1];
		a.master = master;
		a.stats = mx->stats->fd_ro;
		mx_child_fds(&a.fd, &a.beat, &a.stats);
		exporter_main(&a);
	}
	close(pv[1]);
	/* Reaped by the table, which keeps its status for mx_reap. */
	if (proc_other_add(mx->pt, pid) == -1)
		log_warnx("metrics exporter (pid %ld): no room in the process "
		    "table to watch it", (long)pid);
	mx->beat = pv[0];
	mx->pid = pid;
	mx->serving = 0;
	mx->killed = 0;
	mx->started = mx->last_beat = mono_ms();
	log_debug("metrics exporter (pid %ld) started on %s", (long)pid,
	    mx->addr);
}

/* Tell the exporter to stop (a reload, or metrics_listen removed). */
static void
mx_retire(struct mx *mx)
{
	if (mx->pid == 0)
		return;
	if (mx->old != 0) {
		/* Two reloads in a row: the first one's goes now. */
		(void)kill(mx->old, SIGKILL);
		proc_other_forget(mx->pt, mx->old);
	}
	(void)kill(mx->pid, SIGTERM);
	mx->old = mx->pid;
	mx_forget(mx);
}

/* A reload committed (generation id, c): rebind if needed, restart. */
static void
mx_reconfigure(struct mx *mx, const struct msgd_conf *c, uint64_t id)
{
	char	cause[512];

	mx->gen_id = id;
	if (mx_bind(mx, c, cause, sizeof(cause)) == -1)
		log_warnx("metrics_listen %s: %s; the metrics exporter stays "
		    "on %s", c->metrics_listen, cause, mx->addr[0] ?
		    mx->addr : "(none)");
	mx_retire(mx);
	mx->fatal = 0;
	mx->young = 0;
	mx->respawn_at = mx->fd != -1 ? mono_ms() : 0;
	mx_publish(mx);
}

/* The exporter, or the one told to stop, has been reaped: act on it. */
static void
mx_reap(struct mx *mx)
{
	struct proc_other	*o;
	pid_t			 pids[2] = { mx->old, mx->pid };
	int			 i, status;

	for (i = 0; i < 2; i++) {
		if (pids[i] == 0 || (o = proc_other(mx->pt, pids[i])) ==
		    NULL || !o->exited)
			continue;
		status = o->status;
		proc_other_forget(mx->pt, pids[i]);
		mx_exited(mx, pids[i], status);
	}
}

/* Read the beats that came: the first says it serves. */
static void
mx_read_beats(struct mx *mx, uint64_t now)
{
	char	buf[64];
	ssize_t	n;

	while (mx->beat != -1 && (n = read(mx->beat, buf, sizeof(buf))) > 0) {
		mx->last_beat = now;
		if (!mx->serving) {
			mx->serving = 1;
			log_debug("metrics exporter (pid %ld) serving on %s",
			    (long)mx->pid, mx->addr);
			mx_publish(mx);
		}
	}
}

/*
 * Each turn of the master's loop, with the serving generation's
 * configuration c (its id, its user p): follow a reload, read the beats,
 * kill an exporter that does not start or stopped beating, respawn one
 * that is due (not while stopping); *wait shrinks to the next respawn.
 */
void
mx_run(struct mx *mx, const struct msgd_conf *c, const struct priv *p,
    uint64_t id, int stopping, uint64_t now, int *wait)
{
	uint64_t	limit = c->worker_timeout_ms;

	mx_reap(mx);
	if (id != mx->gen_id && !stopping)
		mx_reconfigure(mx, c, id);
	mx_read_beats(mx, now);
	if (mx->pid != 0 && !mx->killed && ((!mx->serving && now -
	    mx->started > MX_START_MS) || (mx->serving && limit > 0 &&
	    now - mx->last_beat > limit))) {
		log_warnx("metrics exporter (pid %ld) %s; killing it",
		    (long)mx->pid, mx->serving ? "stopped beating (hung)" :
		    "did not start in time");
		(void)kill(mx->pid, SIGKILL);
		mx->killed = 1;
	}
	if (mx->respawn_at == UINT64_MAX)
		mx->respawn_at = now + c->respawn_throttle_ms;
	if (stopping || mx->pid != 0 || mx->fd == -1 || mx->fatal ||
	    mx->respawn_at == 0)
		return;
	if (mx->respawn_at <= now)
		mx_spawn(mx, c, p);
	else if (mx->respawn_at - now < (uint64_t)*wait)
		*wait = (int)(mx->respawn_at - now);
}

/* Pass a signal on (SIGUSR1: reopen the log). */
void
mx_signal(struct mx *mx, int sig)
{
	if (mx->pid != 0 && kill(mx->pid, sig) == -1 && errno != ESRCH)
		log_warn("kill metrics exporter");
}

/*
 * msgd stops, every worker gone: the exporter goes last, so that /health
 * said 503 for the whole drain.  It holds nothing to finish.
 */
void
mx_stop(struct mx *mx)
{
	pid_t	pids[2] = { mx->pid, mx->old };
	int	i;

	for (i = 0; i < 2; i++) {
		if (pids[i] <= 0)
			continue;
		if (kill(pids[i], SIGKILL) == 0)
			(void)waitpid(pids[i], NULL, 0);
		proc_other_forget(mx->pt, pids[i]);
	}
	mx_forget(mx);
	mx->old = 0;
	mx_close(mx);
	mx->addr[0] = '\0';
	mx_publish(mx);
}

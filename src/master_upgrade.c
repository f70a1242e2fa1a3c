/*
 * master_upgrade.c: a binary upgrade as a transaction, nginx's USR2 made
 * transactional, with the connection hand-over nginx lacks.
 *
 * The old master: check the binary the master was started as (it exists,
 * is executable, and "-t -c <conf>" says "configuration OK"), start it as
 * its own child in its own process group with the listening sockets as
 * fds 3.. (LISTEN_FDS, as systemd passes them: sdlisten.c takes them the
 * same way) and two channels (MSGD_UPGRADE): control lines, and
 * connections (xfer.c).  The new master starts its workers on those very
 * sockets (nothing is closed nor bound again, no connection refused) and
 * says "ready" once they all answered their probe; it must then stay up
 * RELOAD_SETTLE_MS.  Anything failing before that (no file, not
 * executable, not msgd, the config refused, a crash, no "ready" in time)
 * stops the new master and its process group: the old binary never
 * stopped serving, and the reason goes to msgctl upgrade.
 *
 * The commit: the old workers drain handing their connections over (a
 * frame boundary, as on reload); the old master relays each to the new
 * master, whose workers adopt them.  TLS connections finish what they
 * received and close cleanly.  Once the last old worker is gone its totals
 * are final: they go by name (stats_carry.c) with the "done" line, the
 * new master adds them to its own and puts its stats segment in place of
 * ours (totals never go back), writes its pid in the pidfile we both hold
 * locked, and answers "committed"; we tell systemd MAINPID=<new> (and
 * wait for its barrier) and exit without removing anything.  The new
 * master is then re-parented to systemd (or the subreaper), which follows
 * MAINPID.
 *
 * The new master trusts the channel: only the old master (root, or
 * msgd's user, the one who started it) writes it.  Still every line and
 * length is bounded, and the totals' decoder checks every byte.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master_upgrade.h"
#include "pidfile.h"
#include "sdlisten.h"
#include "sdnotify.h"
#include "stats_carry.h"
#include "util.h"
#include "xfer.h"

#define UP_CHECK_MS	10000	/* "-t" must answer by then */
#define UP_START_MS	30000	/* the new master must serve by then */
#define UP_SETTLE_MS	500	/* then stay up this long */
#define UP_DONE_MS	10000	/* "committed" must come by then */
#define UP_ABORT_MS	5000	/* a stopped new master: SIGKILL after */
#define UP_ENV		"MSGD_UPGRADE"

/* The old master's side is idle; its binary is exe. */
void
upgrade_init(struct upgrade *u, struct gens *gl, struct stats_seg *stats,
    const char *exe, int foreground)
{
	memset(u, 0, sizeof(*u));
	u->gl = gl;
	u->stats = stats;
	u->foreground = foreground;
	u->pidfd = -1;
	u->check_fd = -1;
	u->ctl = -1;
	u->xfer = -1;
	u->metrics_fd = -1;
	snprintf(u->exe, sizeof(u->exe), "%s", exe != NULL ? exe : "");
	snprintf(u->info.exe, sizeof(u->info.exe), "%.255s", u->exe);
}

/* One descriptor number of MSGD_UPGRADE, at *p: > 2, below 65536. */
static int
upgrade_env_fd(const char **p, int *fd)
{
	char	*end;
	long	 v;

	if (**p < '0' || **p > '9')
		return (-1);
	errno = 0;
	v = strtol(*p, &end, 10);
	if (end == *p || errno != 0 || v <= STDERR_FILENO || v > 65535)
		return (-1);
	*fd = (int)v;
	*p = end;
	return (0);
}

/*
 * Start-up: were we started by an old master for an upgrade?  MSGD_UPGRADE
 * is "CTL,XFER,PIDFD,OWNED,GEN" (OWNED: a bit per passed listener the old
 * master had bound itself, hexadecimal; GEN: its last generation).  Returns 1 (we are the new
 * master: notifications held until the old one hands systemd over), 0
 * (a normal start), -1 with cause.  The variable is unset: no child sees
 * it.
 */
int
upgrade_incoming(struct upgrade *u, char *cause, size_t len)
{
	struct stat	 st;
	const char	*env, *p;
	char		*end;
	unsigned long long owned, gen;
	int		 fds[3], i;

	if ((env = getenv(UP_ENV)) == NULL)
		return (0);
	p = env;
	for (i = 0; i < 3; i++)
		if (upgrade_env_fd(&p, &fds[i]) == -1 || *p++ != ',')
			goto bad;
	errno = 0;
	if (!isxdigit((unsigned char)*p))
		goto bad;
	owned = strtoull(p, &end, 16);
	if (end == p || *end++ != ',' || errno != 0)
		goto bad;
	p = end;
	if (*p < '0' || *p > '9')
		goto bad;
	gen = strtoull(p, &end, 10);
	if (end == p || *end != '\0' || errno != 0 || gen > UINT32_MAX)
		goto bad;
	for (i = 0; i < 3; i++)
		if (fstat(fds[i], &st) == -1 || (i < 2 ? !S_ISSOCK(st.st_mode) :
		    !S_ISREG(st.st_mode)) || fd_cloexec(fds[i]) == -1)
			goto bad;
	unsetenv(UP_ENV);
	u->ctl = fds[0];
	u->xfer = fds[1];
	u->pidfd = fds[2];
	u->owned = owned;
	/* Generation numbers go on from the old master's. */
	u->gl->next_id = gen;
	if (fd_nonblock(u->ctl) == -1 || fd_nonblock(u->xfer) == -1)
		goto bad;
	u->state = UP_INCOMING;
	sdnotify_hold(1);
	return (1);
bad:
	snprintf(cause, len, "%s=\"%.64s\": not the descriptors an old msgd "
	    "master passes", UP_ENV, env);
	unsetenv(UP_ENV);
	return (-1);
}

/* What the header says about upgrades: ours to publish, at start. */
void
upgrade_publish(struct upgrade *u)
{
	if (u->info.first_start_us == 0)
		u->info.first_start_us = u->stats->master_start_us;
	stats_set_upgrade_info(u->stats, &u->info);
}

/* The binary on disk changed: its release, for msgctl status. */
void
upgrade_disk_check(struct upgrade *u)
{
	struct stat	st;

	if (u->exe[0] == '\0')
		return;
	if (stat(u->exe, &st) == -1)
		memset(&st, 0, sizeof(st));
	if (st.st_dev == u->disk.st_dev && st.st_ino == u->disk.st_ino &&
	    st.st_size == u->disk.st_size &&
	    st.st_mtim.tv_sec == u->disk.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == u->disk.st_mtim.tv_nsec)
		return;
	u->disk = st;
	if (st.st_ino == 0 || release_of_file(u->exe, u->info.disk,
	    sizeof(u->info.disk)) == -1)
		u->info.disk[0] = '\0';
	stats_set_upgrade_info(u->stats, &u->info);
}

/* An upgrade is in progress (either side, before its end). */
int
upgrade_busy(const struct upgrade *u)
{
	return (u->state != UP_IDLE);
}

/* Report an outcome to the log, msgctl upgrade and systemd. */
static void
upgrade_report(struct upgrade *u, int ok, const char *msg)
{
	if (ok)
		log_info("upgrade: %s", msg);
	else
		log_warnx("upgrade failed: %s", msg);
	stats_set_upgrade(u->stats, ok, msg);
}

/* Refused before it began (a reload in progress, a stop). */
void
upgrade_refuse(struct upgrade *u, const char *why)
{
	char	msg[300];

	snprintf(msg, sizeof(msg), "refused: %s", why);
	upgrade_report(u, 0, msg);
}

static void
close_fd(int *fd)
{
	if (*fd != -1)
		close(*fd);
	*fd = -1;
}

/*
 * The hand-over channel may still hold sockets workers sent (relayed by
 * the other master): disposed of as a worker's channel (xfer_dispose).
 */
static void
close_xfer(int *fd)
{
	if (*fd != -1)
		xfer_dispose(*fd);
	*fd = -1;
}

/* Back to idle: every descriptor and child of the attempt forgotten. */
static void
upgrade_reset(struct upgrade *u)
{
	struct ptable	*pt = u->gl->pt;

	close_fd(&u->check_fd);
	close_fd(&u->ctl);
	close_xfer(&u->xfer);
	proc_other_forget(pt, u->check_pid);
	proc_other_forget(pt, u->new_pid);
	pt->relay = -1;
	u->check_pid = u->new_pid = 0;
	u->check_len = u->inlen = 0;
	u->state = UP_IDLE;
}

/*
 * Failed: the old binary serves on.  A new master still running is told
 * to stop (it drains what it took, handing nothing back, then exits), and
 * killed with its process group at UP_ABORT_MS; the outcome is reported
 * once it has gone.
 */
void
upgrade_abort(struct upgrade *u, const char *why)
{
	struct proc_other	*o;

	snprintf(u->why, sizeof(u->why), "%s", why);
	if (u->check_pid > 0 && (o = proc_other(u->gl->pt, u->check_pid)) !=
	    NULL && !o->exited)
		kill(u->check_pid, SIGKILL);
	if (u->new_pid > 0 && (o = proc_other(u->gl->pt, u->new_pid)) !=
	    NULL && !o->exited) {
		kill(u->new_pid, SIGTERM);
		u->state = UP_ABORT;
		u->deadline = mono_ms() + UP_ABORT_MS;
		return;
	}
	if (u->new_pid > 0)
		(void)kill(-u->new_pid, SIGKILL);	/* its workers */
	upgrade_reset(u);
	upgrade_report(u, 0, u->why);
	sdnotify("READY=1\nSTATUS=upgrade failed: %s", why);
}

/* The child side of a fork: signals as a fresh process gets them. */
static void
child_signals(void)
{
	sigset_t	set;

	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	signal(SIGPIPE, SIG_DFL);
}

/* Run "<exe> -t -c <conf>", its output to us (UP_CHECK). */
static int
upgrade_check_start(struct upgrade *u, const char *conf, char *cause,
    size_t len)
{
	int	p[2], null;
	pid_t	pid;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1) {
		snprintf(cause, len, "pipe: %s", strerror(errno));
		return (-1);
	}
	if ((pid = fork_child()) == -1) {
		snprintf(cause, len, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return (-1);
	}
	if (pid == 0) {
		child_signals();
		if ((null = open("/dev/null", O_RDONLY)) != -1)
			dup2(null, STDIN_FILENO);
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		(void)close_range(STDERR_FILENO + 1, ~0U, 0);
		execl(u->exe, u->exe, "-t", "-c", conf, (char *)NULL);
		dprintf(STDERR_FILENO, "cannot run %s: %s\n", u->exe,
		    strerror(errno));
		_exit(127);
	}
	close(p[1]);
	u->check_fd = p[0];
	u->check_pid = pid;
	u->check_len = 0;
	(void)proc_other_add(u->gl->pt, pid);
	return (0);
}

/*
 * SIGUSR2: begin an upgrade with the binary on disk (pidfd: our locked
 * pidfile, passed on).  Returns 0 while in progress, -1 when it has
 * already ended (the outcome reported).
 */
int
upgrade_start(struct upgrade *u, int pidfd)
{
	struct gen	*cur = gen_find(u->gl, GEN_CURRENT);
	struct stat	 st;
	char		 cause[PATH_MAX + 128];

	if (u->state != UP_IDLE) {
		upgrade_refuse(u, "an upgrade is already in progress");
		return (-1);
	}
	sdnotify("RELOADING=1");
	log_info("upgrading: %s", u->exe[0] != '\0' ? u->exe : "?");
	u->pidfd = pidfd;
	u->started = mono_ms();
	u->why[0] = '\0';
	u->new_release[0] = '\0';
	if (u->exe[0] == '\0')
		snprintf(cause, sizeof(cause), "the path msgd was started as is "
		    "unknown: restart it by its full path");
	else if (stat(u->exe, &st) == -1)
		snprintf(cause, sizeof(cause), "%s: %s", u->exe,
		    strerror(errno));
	else if (!S_ISREG(st.st_mode))
		snprintf(cause, sizeof(cause), "%s: not a regular file",
		    u->exe);
	else if (access(u->exe, X_OK) == -1)
		snprintf(cause, sizeof(cause), "%s: not executable (%s)",
		    u->exe, strerror(errno));
	else if (upgrade_check_start(u, cur->conf->path, cause,
	    sizeof(cause)) == 0) {
		u->state = UP_CHECK;
		u->deadline = u->started + UP_CHECK_MS;
		return (0);
	}
	upgrade_abort(u, cause);
	return (-1);
}

/* The descriptors the loop polls for us; returns how many. */
int
upgrade_fds(const struct upgrade *u, int *fds, int max)
{
	int	n = 0;

	if (u->check_fd != -1 && n < max)
		fds[n++] = u->check_fd;
	if (u->ctl != -1 && n < max)
		fds[n++] = u->ctl;
	/*
	 * The new master's: connections relayed by the old one, while
	 * there is room to hold them (the old master waits meanwhile).
	 */
	if (u->xfer != -1 && (u->state == UP_INCOMING ||
	    u->state == UP_TAKEN) && proc_xfer_room(u->gl->pt) && n < max)
		fds[n++] = u->xfer;
	return (n);
}

/* Send a control line (short: a socketpair's buffer takes it whole). */
static int
upgrade_say(struct upgrade *u, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
upgrade_say(struct upgrade *u, const char *fmt, ...)
{
	char	line[512];
	va_list	ap;
	int	n;

	if (u->ctl == -1)
		return (-1);
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return (-1);
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	return (write_full(u->ctl, line, (size_t)n) == n ? 0 : -1);
}

/*
 * Put the new master in place of the old one's: the listeners, two
 * channels and the pidfile as fds 3.., the environment saying so (and
 * systemd's, which sdnotify_init took from ours), and run the binary.
 * In the child; never returns.
 */
static void
upgrade_exec(struct upgrade *u, const struct gen *cur, int ctl, int xfer)
{
	char		 env[64], names[SDLISTEN_MAX * 12], *argv[6];
	int		 src[CONF_LISTEN_MAX + 4], tmp[CONF_LISTEN_MAX + 4];
	int		 i, k = 0, n = cur->nls, argc = 0;
	unsigned long long owned = 0;
	size_t		 off = 0;

	child_signals();
	(void)setpgid(0, 0);
	for (i = 0; i < n; i++) {
		src[k++] = cur->ls[i].fd;
		if (!sdlisten_held(cur->ls[i].fd))
			owned |= 1ULL << i;
		off += (size_t)snprintf(names + off, sizeof(names) - off,
		    "%supgrade%d", i ? ":" : "", i);
	}
	/* The metrics exporter's socket too: the new master takes it. */
	if (u->metrics_fd != -1) {
		src[k++] = u->metrics_fd;
		if (!sdlisten_held(u->metrics_fd))
			owned |= 1ULL << n;
		off += (size_t)snprintf(names + off, sizeof(names) - off,
		    "%supgrade%d", n ? ":" : "", n);
		n++;
	}
	src[k++] = ctl;
	src[k++] = xfer;
	src[k++] = u->pidfd;
	/* Out of the way first, then down to 3..: no source overwritten. */
	for (i = 0; i < k; i++)
		if ((tmp[i] = fcntl(src[i], F_DUPFD, 3 + k + 64)) == -1)
			_exit(127);
	for (i = 0; i < k; i++)
		if (dup2(tmp[i], SDLISTEN_FDS_START + i) == -1)
			_exit(127);
	(void)close_range((unsigned)(SDLISTEN_FDS_START + k), ~0U, 0);
	snprintf(env, sizeof(env), "%ld", (long)getpid());
	setenv("LISTEN_PID", env, 1);
	snprintf(env, sizeof(env), "%d", n);
	setenv("LISTEN_FDS", env, 1);
	setenv("LISTEN_FDNAMES", names, 1);
	snprintf(env, sizeof(env), "%d,%d,%d,%llx,%llu", SDLISTEN_FDS_START + n,
	    SDLISTEN_FDS_START + n + 1, SDLISTEN_FDS_START + n + 2, owned,
	    (unsigned long long)u->gl->next_id);
	setenv(UP_ENV, env, 1);
	if (sdnotify_socket()[0] != '\0') {
		setenv("NOTIFY_SOCKET", sdnotify_socket(), 1);
		if (sdnotify_watchdog_usec() != 0) {
			snprintf(env, sizeof(env), "%llu", (unsigned long long)
			    sdnotify_watchdog_usec());
			setenv("WATCHDOG_USEC", env, 1);
			snprintf(env, sizeof(env), "%ld", (long)getpid());
			setenv("WATCHDOG_PID", env, 1);
		}
	}
	argv[argc++] = u->exe;
	if (u->foreground)
		argv[argc++] = (char *)"-f";
	argv[argc++] = (char *)"-c";
	argv[argc++] = cur->conf->path;
	argv[argc] = NULL;
	execv(u->exe, argv);
	dprintf(SDLISTEN_FDS_START + n, "fail cannot run %s: %s\n", u->exe,
	    strerror(errno));
	_exit(127);
}

/* The check passed: start the new master (UP_START). */
static void
upgrade_spawn(struct upgrade *u)
{
	struct gen	*cur = gen_find(u->gl, GEN_CURRENT);
	char		 cause[256];
	int		 cv[2], xv[2];
	pid_t		 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
	    cv) == -1) {
		snprintf(cause, sizeof(cause), "socketpair: %s",
		    strerror(errno));
		upgrade_abort(u, cause);
		return;
	}
	if (xfer_pair(xv) == -1) {
		snprintf(cause, sizeof(cause), "socketpair: %s",
		    strerror(errno));
		close(cv[0]);
		close(cv[1]);
		upgrade_abort(u, cause);
		return;
	}
	if ((pid = fork_child()) == -1) {
		snprintf(cause, sizeof(cause), "fork: %s", strerror(errno));
		close(cv[0]);
		close(cv[1]);
		close(xv[0]);
		close(xv[1]);
		upgrade_abort(u, cause);
		return;
	}
	if (pid == 0)
		upgrade_exec(u, cur, cv[1], xv[1]);
	close(cv[1]);
	close(xv[1]);
	u->ctl = cv[0];
	u->xfer = xv[0];
	u->new_pid = pid;
	u->inlen = 0;
	(void)proc_other_add(u->gl->pt, pid);
	u->state = UP_START;
	u->deadline = mono_ms() + UP_START_MS;
	log_info("upgrade: %s started as pid %ld", u->exe, (long)pid);
}

/* The first line of the check's output, for a message. */
static const char *
check_line(struct upgrade *u)
{
	char	*nl;

	u->check_out[u->check_len < sizeof(u->check_out) ? u->check_len :
	    sizeof(u->check_out) - 1] = '\0';
	if ((nl = strchr(u->check_out, '\n')) != NULL)
		*nl = '\0';
	return (u->check_out);
}

/* "exited 3", "killed by signal 11". */
static void
exit_str(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "ended (status 0x%x)", status);
}

/* The check has exited: go on, or fail with what it said. */
static void
upgrade_check_done(struct upgrade *u, int status)
{
	char	 cause[sizeof(u->check_out) + 300], how[64];

	/* What is left in the pipe (a grandchild may hold it: no waiting). */
	if (u->check_fd != -1)
		(void)upgrade_input(u, u->check_fd);
	close_fd(&u->check_fd);
	proc_other_forget(u->gl->pt, u->check_pid);
	u->check_pid = 0;
	u->check_out[u->check_len < sizeof(u->check_out) ? u->check_len :
	    sizeof(u->check_out) - 1] = '\0';
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    strstr(u->check_out, ": configuration OK") != NULL) {
		upgrade_spawn(u);
		return;
	}
	exit_str(status, how, sizeof(how));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		snprintf(cause, sizeof(cause), "%.300s does not look like msgd: "
		    "\"-t\" did not say \"configuration OK\"%s%.200s", u->exe,
		    u->check_len ? ", but: " : "", check_line(u));
	else
		snprintf(cause, sizeof(cause), "%.300s -t -c ... %s%s%.300s",
		    u->exe, how, u->check_len ? ": " : "", check_line(u));
	upgrade_abort(u, cause);
}

/* The new master has exited before the commit. */
static void
upgrade_new_died(struct upgrade *u, int status)
{
	char	cause[sizeof(u->why) + 128], how[64];

	exit_str(status, how, sizeof(how));
	snprintf(cause, sizeof(cause), "the new msgd (pid %ld) %s before it "
	    "served%s%s", (long)u->new_pid, how, u->why[0] ? ": " : "",
	    u->why);
	u->why[0] = '\0';
	proc_other_forget(u->gl->pt, u->new_pid);
	upgrade_abort(u, cause);
}

/* Our workers are all gone, their connections relayed: send the totals. */
void
upgrade_drained(struct upgrade *u)
{
	struct stats_counters	*c;
	char			*buf;
	int			 n;

	if (u->state != UP_DRAIN)
		return;
	if ((buf = malloc(CARRY_MAX)) == NULL ||
	    (c = malloc(sizeof(*c))) == NULL) {
		free(buf);
		upgrade_abort(u, "out of memory");
		return;
	}
	memcpy(c, &stats_retired(u->stats)->c, sizeof(*c));
	if ((n = stats_carry_encode(c, buf, CARRY_MAX)) == -1)
		n = 0;		/* cannot happen: CARRY_MAX fits all */
	if (upgrade_say(u, "done %d", n) == -1 ||
	    write_full(u->ctl, buf, (size_t)n) != n)
		log_warn("upgrade: sending the totals");
	free(buf);
	free(c);
	u->state = UP_DONE;
	u->deadline = mono_ms() + UP_DONE_MS;
}

/* The new master: all its workers serve. */
void
upgrade_ready(struct upgrade *u)
{
	if (u->state == UP_INCOMING && upgrade_say(u, "ready %s",
	    msgd_release) == -1)
		log_warn("upgrade: telling the old master we serve");
}

/* The new master cannot start: why, for the old one's report. */
void
upgrade_start_failed(struct upgrade *u)
{
	if (u->state == UP_INCOMING)
		(void)upgrade_say(u, "fail %s", log_last_warning());
}

/* The new master: the old one's totals and the stats path are ours. */
static void
upgrade_take(struct upgrade *u)
{
	struct gen		*cur = gen_find(u->gl, GEN_CURRENT);
	struct stats_counters	*c;
	char			 cause[256];
	int			 unknown = 0, i;

	if (u->carry == NULL) {
		log_warnx("upgrade: the previous totals are not carried");
		unknown = -1;
		c = NULL;
	} else if ((c = calloc(1, sizeof(*c))) != NULL &&
	    stats_carry_decode(u->carry, u->carry_len, c, &unknown, cause,
	    sizeof(cause)) == 0) {
		stats_add_retired(u->stats, c);
		if (unknown > 0)
			log_warnx("upgrade: %d counters of msgd %s are not "
			    "known here: dropped", unknown, u->info.from);
	} else {
		log_warnx("upgrade: the previous totals are not carried: %s",
		    c == NULL ? "out of memory" : cause);
		unknown = -1;
	}
	free(c);
	free(u->carry);
	u->carry = NULL;
	u->info.count++;
	u->info.last_us = realtime_us();
	stats_set_upgrade_info(u->stats, &u->info);
	if (stats_commit(u->stats, cur->conf->stats_file, cause,
	    sizeof(cause)) == -1)
		log_warnx("upgrade: stats_file %s", cause);
	if (pidfile_write(u->pidfd, getpid()) == -1)
		log_warn("write %s", cur->conf->pidfile);
	/* The listeners the old master had bound are ours to remove now. */
	for (i = 0; i < sdlisten_count() && i < 64; i++)
		if (u->owned & (1ULL << i))
			sdlisten_at(i)->owned = 1;
	u->state = UP_TAKEN;
	/* How many counters were dropped (-1: all), for msgctl upgrade. */
	(void)upgrade_say(u, "committed %d", unknown);
	log_info("upgrade: msgd %s takes over from %s (upgrade %u)",
	    msgd_release, u->info.from, u->info.count);
}

/*
 * "commit COUNT FIRST_START_US RELEASE": the old master has committed
 * (its connections come next); what it carries across upgrades.
 */
static int
upgrade_commit_line(struct upgrade *u, const char *line)
{
	unsigned int		count;
	unsigned long long	first;
	char			from[RELEASE_MAX];
	int			used = 0;

	if (sscanf(line, "commit %u %llu %31s%n", &count, &first, from,
	    &used) != 3 || line[used] != '\0')
		return (-1);
	u->info.count = count;
	u->info.first_start_us = first;
	snprintf(u->info.from, sizeof(u->info.from), "%s", from);
	u->committed = 1;
	return (0);
}

/* "done NBYTES": the old master's final totals follow. */
static int
upgrade_done_line(struct upgrade *u, const char *line)
{
	int	n, used = 0;

	if (!u->committed || sscanf(line, "done %d%n", &n, &used) != 1 ||
	    line[used] != '\0' || n < 0 || n > CARRY_MAX ||
	    (u->carry = malloc((size_t)n + 1)) == NULL)
		return (-1);
	u->carry_len = 0;
	u->carry_need = (size_t)n;
	if (n == 0)
		upgrade_take(u);
	return (0);
}

/* The old master: the new one has answered "committed"; we leave. */
static enum upevent
upgrade_finish(struct upgrade *u, int dropped)
{
	char	msg[256], carried[96];

	if (dropped < 0)
		snprintf(carried, sizeof(carried), "; the totals were not "
		    "carried (see the log)");
	else if (dropped > 0)
		snprintf(carried, sizeof(carried), "; %d counters it does not "
		    "have were dropped", dropped);
	else
		carried[0] = '\0';
	snprintf(msg, sizeof(msg), "msgd %s serving as pid %ld (was %s, pid "
	    "%ld), %llu connections handed over, after %llu ms%s",
	    u->new_release, (long)u->new_pid, msgd_release, (long)getpid(),
	    (unsigned long long)u->gl->pt->relayed,
	    (unsigned long long)(mono_ms() - u->started), carried);
	/* systemd follows the new pid before we exit (its barrier). */
	sdnotify("MAINPID=%ld\nREADY=1\nSTATUS=upgraded to msgd %s",
	    (long)u->new_pid, u->new_release);
	if (sdnotify_barrier(5000) == -1)
		log_warnx("upgrade: systemd did not confirm MAINPID=%ld",
		    (long)u->new_pid);
	upgrade_report(u, 1, msg);
	proc_other_forget(u->gl->pt, u->new_pid);
	return (UPE_EXIT);
}

/* Handle one control line (NUL-terminated, newline removed). */
static enum upevent
upgrade_line(struct upgrade *u, const char *line)
{
	const char	*arg;
	int		 dropped;

	if (u->state == UP_INCOMING && !u->committed &&
	    strncmp(line, "commit ", 7) == 0) {
		if (upgrade_commit_line(u, line) == -1) {
			log_warnx("upgrade: a bad \"commit\" line from the old "
			    "master");
			return (UPE_FAILED);
		}
		return (UPE_NONE);
	}
	if (u->state == UP_INCOMING && strncmp(line, "done ", 5) == 0) {
		if (upgrade_done_line(u, line) == -1) {
			log_warnx("upgrade: a bad \"done\" line from the old "
			    "master");
			return (UPE_FAILED);
		}
		return (UPE_NONE);
	}
	if (u->state == UP_START && strncmp(line, "ready ", 6) == 0) {
		arg = line + 6;
		snprintf(u->new_release, sizeof(u->new_release), "%s", arg);
		for (arg = u->new_release; *arg != '\0'; arg++)
			if (*arg < 0x21 || *arg > 0x7e)
				u->new_release[0] = '?';
		log_info("upgrade: msgd %s (pid %ld) serves; committing in "
		    "%d ms", u->new_release, (long)u->new_pid, UP_SETTLE_MS);
		u->state = UP_SETTLE;
		u->deadline = mono_ms() + UP_SETTLE_MS;
		return (UPE_NONE);
	}
	if ((u->state == UP_START || u->state == UP_SETTLE) &&
	    strncmp(line, "fail ", 5) == 0) {
		/* It exits next; the reaper reports it with this reason. */
		snprintf(u->why, sizeof(u->why), "%.300s", line + 5);
		for (arg = u->why; *arg != '\0'; arg++)
			if (*arg < 0x20 || *arg > 0x7e)
				u->why[arg - u->why] = '?';
		return (UPE_NONE);
	}
	if (u->state == UP_DONE && sscanf(line, "committed %d", &dropped) ==
	    1)
		return (upgrade_finish(u, dropped));
	log_warnx("upgrade: unexpected message on the upgrade channel");
	if (u->state == UP_INCOMING)
		return (UPE_FAILED);
	if (u->state == UP_START || u->state == UP_SETTLE)
		upgrade_abort(u, "the new binary spoke out of turn on the "
		    "upgrade channel");
	return (UPE_NONE);
}

/* The control channel has ended. */
static enum upevent
upgrade_eof(struct upgrade *u)
{
	close_fd(&u->ctl);
	if (u->state == UP_INCOMING && u->committed) {
		/*
		 * It died after the commit: its connections are ours (those
		 * it had sent), its final totals lost.  Serving on beats
		 * leaving nobody.
		 */
		log_warnx("upgrade: the old master went away after the "
		    "commit, without its final totals: taking over");
		free(u->carry);
		u->carry = NULL;
		u->carry_len = 0;
		upgrade_take(u);
	} else if (u->state == UP_INCOMING) {
		log_warnx("upgrade: the old master went away before the "
		    "commit");
		return (UPE_FAILED);
	}
	if (u->state == UP_TAKEN) {
		/*
		 * The old master has exited: systemd follows us now.  It
		 * sent every connection before "done"; none is left behind.
		 */
		while (u->xfer != -1 && proc_xfer_in(u->gl->pt, &u->xfer,
		    gen_find(u->gl, GEN_CURRENT)))
			;
		proc_xfer_lost(u->xfer, "the previous master");
		close_xfer(&u->xfer);
		u->state = UP_IDLE;
		sdnotify_hold(0);
		return (UPE_MAIN);
	}
	return (UPE_NONE);	/* the old side: the reaper tells the rest */
}

/* Read what the control channel holds, lines then the totals. */
static enum upevent
upgrade_ctl(struct upgrade *u)
{
	enum upevent	 ev = UPE_NONE;
	char		 buf[4096];
	size_t		 i, take;
	ssize_t		 n;

	while (ev == UPE_NONE && u->ctl != -1) {
		n = read(u->ctl, buf, sizeof(buf));
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0)
			return (upgrade_eof(u));
		for (i = 0; i < (size_t)n && ev == UPE_NONE; ) {
			if (u->carry != NULL) {
				take = u->carry_need - u->carry_len;
				if (take > (size_t)n - i)
					take = (size_t)n - i;
				memcpy(u->carry + u->carry_len, buf + i, take);
				u->carry_len += take;
				i += take;
				if (u->carry_len == u->carry_need)
					upgrade_take(u);
				continue;
			}
			if (buf[i] != '\n') {
				if (u->inlen == sizeof(u->in) - 1) {
					u->inlen = 0;
					ev = upgrade_line(u, "(too long)");
					continue;
				}
				u->in[u->inlen++] = buf[i++];
				continue;
			}
			i++;
			u->in[u->inlen] = '\0';
			u->inlen = 0;
			ev = upgrade_line(u, u->in);
		}
	}
	return (ev);
}

/* fd (one of upgrade_fds()) is readable. */
enum upevent
upgrade_input(struct upgrade *u, int fd)
{
	char	sink[512];
	size_t	room;
	ssize_t	n;

	if (fd == u->xfer) {
		while (u->xfer != -1 && proc_xfer_in(u->gl->pt, &u->xfer,
		    gen_find(u->gl, GEN_CURRENT)))
			;
		return (UPE_NONE);
	}
	if (fd == u->ctl)
		return (upgrade_ctl(u));
	if (fd != u->check_fd)
		return (UPE_NONE);
	for (;;) {
		room = sizeof(u->check_out) - 1 - u->check_len;
		n = room > 0 ? read(fd, u->check_out + u->check_len, room) :
		    read(fd, sink, sizeof(sink));	/* beyond: dropped */
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return (UPE_NONE);
		if (n <= 0) {
			close_fd(&u->check_fd);
			return (UPE_NONE);
		}
		if (room > 0)
			u->check_len += (size_t)n;
	}
}

/*
 * The new master died after the commit, or never said "committed": our
 * workers are gone or going.  The loop starts ours again (master.c); the
 * pidfile gets our pid back.
 */
static enum upevent
upgrade_lost(struct upgrade *u, const char *what)
{
	char	msg[256];

	if (u->new_pid > 0)
		(void)kill(-u->new_pid, SIGKILL);
	if (u->new_pid > 0)
		(void)kill(u->new_pid, SIGKILL);
	snprintf(msg, sizeof(msg), "the new msgd (pid %ld) %s after the "
	    "commit; the old binary starts its workers again", (long)u->new_pid,
	    what);
	if (pidfile_write(u->pidfd, getpid()) == -1)
		log_warn("pidfile");
	upgrade_reset(u);
	upgrade_report(u, 0, msg);
	sdnotify("READY=1\nSTATUS=upgrade failed: %s", msg);
	return (UPE_ENDED);
}

/*
 * Called from the loop: the steps' deadlines and the children's exits.
 * Shrinks *wait to the present step's deadline.
 */
enum upevent
upgrade_poll(struct upgrade *u, uint64_t now, int *wait)
{
	struct proc_other	*o = NULL;
	enum upstate		 before = u->state;
	enum upevent		 ev = UPE_NONE;
	char			 how[64];

	if (u->state == UP_CHECK)
		o = proc_other(u->gl->pt, u->check_pid);
	else if (u->state != UP_IDLE && u->state != UP_INCOMING &&
	    u->state != UP_TAKEN)
		o = proc_other(u->gl->pt, u->new_pid);
	switch (u->state) {
	case UP_CHECK:
		if (o != NULL && o->exited)
			upgrade_check_done(u, o->status);
		else if (now >= u->deadline)
			upgrade_abort(u, "\"-t\" did not answer within 10 s");
		break;
	case UP_START:
	case UP_SETTLE:
		if (o == NULL || o->exited)
			upgrade_new_died(u, o != NULL ? o->status : 0);
		else if (u->state == UP_START && now >= u->deadline)
			upgrade_abort(u, "the new msgd did not serve within "
			    "30 s");
		else if (u->state == UP_SETTLE && now >= u->deadline) {
			u->state = UP_DRAIN;
			u->gl->pt->relay = u->xfer;
			u->gl->pt->relayed = 0;
			(void)upgrade_say(u, "commit %u %llu %s", u->info.count,
			    (unsigned long long)u->info.first_start_us,
			    msgd_release);
			ev = UPE_COMMIT;
		}
		break;
	case UP_DRAIN:
	case UP_DONE:
		if (o == NULL || o->exited) {
			exit_str(o != NULL ? o->status : 0, how, sizeof(how));
			return (upgrade_lost(u, how));
		}
		if (u->state == UP_DONE && now >= u->deadline)
			return (upgrade_lost(u, "did not take over in time"));
		break;
	case UP_ABORT:
		if (o == NULL || o->exited) {
			(void)kill(-u->new_pid, SIGKILL);	/* leftovers */
			upgrade_reset(u);
			upgrade_report(u, 0, u->why);
			sdnotify("READY=1\nSTATUS=upgrade failed: %s", u->why);
		} else if (now >= u->deadline) {
			(void)kill(-u->new_pid, SIGKILL);
			(void)kill(u->new_pid, SIGKILL);
			u->deadline = UINT64_MAX;
		}
		break;
	default:
		break;
	}
	if (ev == UPE_NONE && before != UP_IDLE && u->state == UP_IDLE)
		ev = UPE_ENDED;
	if (u->state != UP_IDLE && u->deadline > now &&
	    u->deadline - now < (uint64_t)*wait)
		*wait = (int)(u->deadline - now);
	return (ev);
}

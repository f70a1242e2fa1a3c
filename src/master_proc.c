/*
 * master_proc.c: the process table.  Spawn a worker with a private probe
 * connection, learn from the probe's PONG that it serves, reap every child
 * that exits, respawn with a throttle, and kill the hung.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "net.h"
#include "sandbox.h"
#include "sdnotify.h"
#include "util.h"
#include "xfer.h"

#define RESPAWN_SECOND_MS	1000	/* after the second young death */
#define YOUNG_DEATHS_THROTTLE	3	/* then respawn_throttle applies */

/* A new generation for conf (adopted: freed with the generation). */
struct gen *
gen_new(struct master *m, struct msgd_conf *conf, char *cause, size_t len)
{
	struct gen	*g;
	int		 i;

	if ((g = calloc(1, sizeof(*g))) == NULL ||
	    (g->pos = calloc((size_t)conf->max_workers, sizeof(*g->pos))) ==
	    NULL) {
		free(g);
		snprintf(cause, len, "out of memory");
		return (NULL);
	}
	if (priv_resolve(conf->user, conf->group, conf->allow_root, &g->priv,
	    cause, len) == -1) {
		free(g->pos);
		free(g);
		return (NULL);
	}
	g->conf = conf;
	/* Never reused, not even after a rolled-back reload. */
	g->id = ++m->next_gen_id;
	g->npos = conf->workers;
	for (i = 0; i < conf->max_workers; i++)
		g->pos[i].proc = -1;
	for (i = 0; i < CONF_LISTEN_MAX; i++)
		g->ls[i].fd = -1;
	return (g);
}

void
gen_free(struct master *m, struct gen *g)
{
	free(g->conf);
	free(g->pos);
	free(g);
}

/* Processes of g in state st (W_FREE: any live state). */
int
proc_count(struct master *m, const struct gen *g, enum wstate st)
{
	int	i, n = 0;

	for (i = 0; i < m->nprocs; i++) {
		if (m->procs[i].state == W_FREE)
			continue;
		if (g != NULL && m->procs[i].gen != g)
			continue;
		if (st == W_FREE || m->procs[i].state == st)
			n++;
	}
	return (n);
}

/* Every position of g has a worker that answered its probe. */
int
gen_all_serving(struct master *m, const struct gen *g)
{
	int	i;

	int	serving = 0;

	/* A position that failed fatally is not waited for. */
	for (i = 0; i < g->npos; i++) {
		if (g->pos[i].fatal)
			continue;
		if (g->pos[i].proc == -1 ||
		    m->procs[g->pos[i].proc].state != W_SERVING)
			return (0);
		serving++;
	}
	return (serving > 0);
}

/* Free draining (and killed) generations whose last worker has gone. */
void
gen_collect(struct master *m)
{
	struct gen	*g, **gp;
	int		 i, j;

	for (gp = &m->doomed; (g = *gp) != NULL; ) {
		if (proc_count(m, g, W_FREE) > 0) {
			gp = &g->doomed_next;
			continue;
		}
		*gp = g->doomed_next;
		log_debug("killed generation %llu has exited",
		    (unsigned long long)g->id);
		gen_free(m, g);
	}

	for (i = 0; i < (int)nitems(m->old); i++) {
		if (m->old[i] == NULL || proc_count(m, m->old[i], W_FREE) > 0)
			continue;
		log_debug("generation %llu has exited",
		    (unsigned long long)m->old[i]->id);
		gen_free(m, m->old[i]);
		for (j = i; j + 1 < (int)nitems(m->old); j++)
			m->old[j] = m->old[j + 1];
		m->old[nitems(m->old) - 1] = NULL;
		i--;
	}
}

/*
 * The fds a worker child keeps (the stats segment's only until it has
 * mapped its slot); everything else of the master is closed.
 */
static void
child_close_fds(const struct gen *g, const struct stats_seg *seg, int probe,
    int ctl, int note)
{
	int	keep[2 * CONF_LISTEN_MAX + 5], n = 0, i, j, t, lo;

	keep[n++] = probe;
	keep[n++] = ctl;
	keep[n++] = note;
	if (seg->fd_rw > STDERR_FILENO)
		keep[n++] = seg->fd_rw;
	if (seg->fd_ro > STDERR_FILENO)
		keep[n++] = seg->fd_ro;
	for (i = 0; i < g->nls; i++)
		if (g->ls[i].fd > STDERR_FILENO)
			keep[n++] = g->ls[i].fd;
	for (i = 1; i < n; i++)		/* insertion sort: tiny list */
		for (j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	lo = STDERR_FILENO + 1;
	for (i = 0; i < n; i++) {
		if (keep[i] > lo)
			(void)close_range((unsigned)lo, (unsigned)keep[i] - 1, 0);
		lo = keep[i] + 1;
	}
	(void)close_range((unsigned)lo, ~0U, 0);
}

/* Find a free slot of the table (== a free stats slot). */
static int
proc_free_slot(struct master *m)
{
	int	i;

	for (i = 0; i < m->nprocs; i++)
		if (m->procs[i].state == W_FREE)
			return (i);
	return (-1);
}

/*
 * Fork the worker for position pos of g.  It gets a private socketpair on
 * which the master sends a PING at once: the PONG comes back through the
 * worker's own event loop and request path, so "answered" means "serving".
 */
int
proc_spawn(struct master *m, struct gen *g, int pos)
{
	struct worker_args	 a;
	struct wproc		*p;
	uint8_t			 ping[MSG_HDR_LEN];
	pid_t			 pid;
	int			 idx, sv[2], cv[2], nv[2];

	if ((idx = proc_free_slot(m)) == -1) {
		log_warnx("no free worker slot for worker %d", pos);
		g->pos[pos].respawn_at = mono_ms() + RESPAWN_SECOND_MS;
		return (-1);
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
	    sv) == -1) {
		log_warn("socketpair for worker %d", pos);
		g->pos[pos].respawn_at = mono_ms() + RESPAWN_SECOND_MS;
		return (-1);
	}
	if (xfer_pair(cv) == -1) {
		log_warn("socketpair for worker %d", pos);
		close(sv[0]);
		close(sv[1]);
		g->pos[pos].respawn_at = mono_ms() + RESPAWN_SECOND_MS;
		return (-1);
	}
	/* A worker killed by its seccomp filter says why on this pipe. */
	if (pipe2(nv, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_warn("pipe for worker %d", pos);
		close(sv[0]);
		close(sv[1]);
		close(cv[0]);
		close(cv[1]);
		g->pos[pos].respawn_at = mono_ms() + RESPAWN_SECOND_MS;
		return (-1);
	}
	pid = fork();
	if (pid == -1) {
		/* Out of processes or memory: back off, never spin. */
		log_warn("fork for worker %d", pos);
		close(sv[0]);
		close(sv[1]);
		close(cv[0]);
		close(cv[1]);
		close(nv[0]);
		close(nv[1]);
		g->pos[pos].respawn_at = mono_ms() + RESPAWN_SECOND_MS;
		return (-1);
	}
	if (pid == 0) {
		/*
		 * The master's signals stay blocked until worker_main() has
		 * its signalfd: a SIGTERM sent now waits there and drains
		 * the worker instead of killing it half-started.
		 */
		sdnotify_forget();
		child_close_fds(g, &m->stats, sv[1], cv[1], nv[1]);
		memset(&a, 0, sizeof(a));
		a.slot = idx;
		a.pos = pos;
		a.generation = g->id;
		a.conf = g->conf;
		a.ls = g->ls;
		a.nls = g->nls;
		a.stats = &m->stats;
		a.probe = sv[1];
		a.ctl = cv[1];
		a.note = nv[1];
		a.priv = &g->priv;
		worker_main(&a);
	}
	close(sv[1]);
	close(cv[1]);
	close(nv[1]);
	msg_encode_request(ping, MSG_OP_PING, (uint32_t)idx, 0, 0);
	/* An empty socketpair takes 16 bytes without blocking. */
	if (write(sv[0], ping, sizeof(ping)) != (ssize_t)sizeof(ping))
		log_warn("probe write to worker %d", pos);
	p = &m->procs[idx];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->state = W_STARTING;
	p->pos = pos;
	p->gen = g;
	p->started = mono_ms();
	p->kill_at = p->started + PROBE_TIMEOUT_MS;
	p->probe = sv[0];
	p->ctl = cv[0];
	p->note = nv[0];
	g->pos[pos].proc = idx;
	g->pos[pos].respawn_at = 0;
	log_debug("worker %d (pid %ld, slot %d, generation %llu) started", pos,
	    (long)pid, idx, (unsigned long long)g->id);
	return (0);
}

static void
proc_close_ctl(struct wproc *p)
{
	if (p->ctl != -1)
		close(p->ctl);
	p->ctl = -1;
}

static void
proc_close_note(struct wproc *p)
{
	if (p->note != -1)
		close(p->note);
	p->note = -1;
}

static void
proc_close_probe(struct wproc *p)
{
	if (p->probe != -1)
		close(p->probe);
	p->probe = -1;
}

/* The probe fd of slot idx is readable: is it the PONG? */
void
proc_probe(struct master *m, int idx)
{
	struct wproc	*p = &m->procs[idx];
	struct msg_hdr	 h;
	const char	*why;
	ssize_t		 n;

	n = read(p->probe, p->probe_buf + p->probe_len,
	    sizeof(p->probe_buf) - p->probe_len);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* It died or closed; the reaper will tell why. */
		proc_close_probe(p);
		return;
	}
	p->probe_len += (size_t)n;
	if (p->probe_len < MSG_HDR_LEN + 4)
		return;
	if (msg_check_response(p->probe_buf, p->probe_len, &h, &why) == -1 ||
	    h.status != MSG_ST_OK || h.opcode != MSG_OP_PING ||
	    h.body_len != 4 || memcmp(p->probe_buf + MSG_HDR_LEN, "PONG", 4)) {
		log_warnx("worker %d (pid %ld) answered its start-up probe "
		    "wrongly; killing it", p->pos, (long)p->pid);
		kill(p->pid, SIGKILL);
		proc_close_probe(p);
		return;
	}
	proc_close_probe(p);
	if (p->state != W_STARTING)
		return;
	p->state = W_SERVING;
	log_debug("worker %d (pid %ld) is serving", p->pos, (long)p->pid);
	if (p->gen == m->cur && !m->ready && gen_all_serving(m, m->cur))
		master_ready(m);
}

/*
 * Tell slot idx to finish what it has and exit (handoff: giving its
 * connections to the serving generation); SIGKILL at deadline.
 */
void
proc_drain(struct master *m, int idx, uint64_t deadline, int handoff)
{
	struct wproc	*p = &m->procs[idx];

	if (p->state == W_FREE || p->state == W_DRAINING)
		return;
	if (kill(p->pid, handoff ? SIGUSR2 : SIGTERM) == -1 && errno != ESRCH)
		log_warn("kill worker %d (pid %ld)", p->pos, (long)p->pid);
	proc_close_probe(p);
	p->state = W_DRAINING;
	p->kill_at = deadline;
}

/* Drain every worker of g (quick: SIGKILL now). */
void
gen_drain(struct master *m, struct gen *g, int quick, int handoff)
{
	uint64_t	deadline;
	int		i;

	deadline = mono_ms() + g->conf->shutdown_timeout_ms + KILL_GRACE_MS;
	for (i = 0; i < m->nprocs; i++) {
		if (m->procs[i].state == W_FREE || m->procs[i].gen != g)
			continue;
		if (quick) {
			kill(m->procs[i].pid, SIGKILL);
			m->procs[i].state = W_DRAINING;
			m->procs[i].kill_at = UINT64_MAX;
		} else
			proc_drain(m, i, deadline, handoff);
	}
}

/* Give fd to a serving worker of the current generation; 1 if done. */
static int
proc_xfer_one(struct master *m, int from, int fd, const struct xfer_info *info)
{
	struct wproc	*t;
	int		 k;

	for (k = 0; k < m->nprocs && !m->stopping; k++) {
		m->rr = (m->rr + 1) % m->nprocs;
		t = &m->procs[m->rr];
		if (t->state != W_SERVING || t->gen != m->cur || t->retiring ||
		    t->ctl == -1 || m->rr == from)
			continue;
		if (xfer_send(t->ctl, fd, info) == 0)
			return (1);
	}
	return (0);
}

/*
 * Connections waiting for a worker (every one busy or full, or none
 * serving yet: workers = 1 recycling): try again.  Returns how many wait.
 */
int
proc_xfer_flush(struct master *m)
{
	int	i, n = 0;

	for (i = 0; i < m->nxw; i++) {
		if (proc_xfer_one(m, -1, m->xw[i].fd, &m->xw[i].info))
			close(m->xw[i].fd);
		else
			m->xw[n++] = m->xw[i];
	}
	m->nxw = n;
	return (n);
}

/* Stopping: nobody will take the waiting connections. */
void
proc_xfer_drop(struct master *m)
{
	while (m->nxw > 0)
		close(m->xw[--m->nxw].fd);
}

/* Keep a connection no worker can take now; 0, or -1 when full. */
static int
proc_xfer_wait(struct master *m, int fd, const struct xfer_info *info)
{
	struct xfer_wait	*nw;
	int			 ncap;

	if (m->nxw == m->xwcap) {
		ncap = m->xwcap ? m->xwcap * 2 : 64;
		if (ncap > 65536 ||
		    (nw = realloc(m->xw, (size_t)ncap * sizeof(*nw))) == NULL)
			return (-1);
		m->xw = nw;
		m->xwcap = ncap;
	}
	m->xw[m->nxw].fd = fd;
	m->xw[m->nxw].info = *info;
	m->nxw++;
	return (0);
}

/*
 * A retiring worker hands over connections: pass each to a serving
 * worker of the current generation (round robin).  When none can take it
 * now, it waits here (the client's bytes wait in its socket); only a stop
 * closes it.  A worker that hands over on its own is recycling
 * (max_requests): it is no target any more.  Returns 1 when it stopped
 * at its batch size (more may be waiting).
 */
int
proc_xfer(struct master *m, int idx)
{
	struct xfer_info	info;
	int			fd, rc, n;

	for (n = 0; n < 256; n++) {
		rc = xfer_recv(m->procs[idx].ctl, &fd, &info);
		if (rc == 0)
			return (0);
		if (rc == -1) {
			close(m->procs[idx].ctl);
			m->procs[idx].ctl = -1;
			return (0);
		}
		m->procs[idx].retiring = 1;
		if (rc == -2) {
			log_warnx("a handed-over connection was lost: no "
			    "descriptor left for it (RLIMIT_NOFILE)");
			continue;
		}
		if (proc_xfer_one(m, idx, fd, &info)) {
			close(fd);	/* ours; the receiver has its own */
			continue;
		}
		if (m->stopping || proc_xfer_wait(m, fd, &info) == -1) {
			log_debug("a handed-over connection found no worker");
			close(fd);
		}
	}
	return (1);
}

void
proc_kill_all(struct master *m, int sig)
{
	int	i;

	for (i = 0; i < m->nprocs; i++)
		if (m->procs[i].state != W_FREE &&
		    kill(m->procs[i].pid, sig) == -1 && errno != ESRCH)
			log_warn("kill worker %d", m->procs[i].pos);
}

/* "exited 3", "killed by signal 11 (core dumped)". */
static void
status_str(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d%s", WTERMSIG(status),
		    WCOREDUMP(status) ? " (core dumped)" : "");
	else
		snprintf(buf, len, "ended with status 0x%x", status);
}

/* Killed by SIGSYS: what its seccomp filter does to a refused call. */
static int
proc_seccomp_death(int status)
{
	return (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS);
}

/*
 * Log which system call the filter refused.  The signal is the kernel's
 * word; the call is only the worker's claim (its note, read without
 * blocking), range-checked and named from our own table.
 */
static void
proc_seccomp_report(const struct wproc *p, pid_t pid)
{
	struct sandbox_note	note;
	char			name[64];
	ssize_t			n = -1;

	if (p->note != -1)
		n = read(p->note, &note, sizeof(note));
	if (n == (ssize_t)sizeof(note) && note.magic == SANDBOX_NOTE_MAGIC &&
	    note.nr >= 0 && note.nr < 4096)
		log_warnx("worker %d (pid %ld) was killed by its seccomp "
		    "filter: blocked syscall %s (%d), as the worker reports",
		    p->pos, (long)pid, sandbox_syscall_name(note.nr,
		    note.arch, name, sizeof(name)), (int)note.nr);
	else
		log_warnx("worker %d (pid %ld) was killed by SIGSYS (its "
		    "seccomp filter) and did not report the call", p->pos,
		    (long)pid);
}

/* Decide what to do about position pos of the serving generation. */
static void
proc_after_death(struct master *m, struct gen *g, int pos, int status,
    int young, uint64_t requests)
{
	struct wpos	*wp = &g->pos[pos];
	uint64_t	 now = mono_ms(), delay;
	int		 i, alive;

	if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_FATAL) {
		wp->fatal = 1;
		log_warnx("worker %d cannot run (fatal error above): it is not "
		    "respawned", pos);
		for (i = alive = 0; i < g->npos; i++)
			if (!g->pos[i].fatal)
				alive++;
		if (alive == 0)
			master_stop(m, "every worker failed fatally", 1);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !young) {
		log_info("worker %d %s after %llu requests%s; replacing it",
		    pos, g->conf->max_requests ? "recycled" : "exited",
		    (unsigned long long)requests,
		    g->conf->max_requests ? " (max_requests)" : "");
		wp->young = 0;
		wp->respawn_at = now;
		return;
	}
	/*
	 * A worker its seccomp filter killed is replaced like any crashed
	 * one (never giving up: a call missing from the list on a rare path
	 * must not become a way to stop msgd), but its death counts as young
	 * whatever it served: the request that makes the call can follow
	 * any number of harmless ones, so only the throttle bounds a loop.
	 */
	if (proc_seccomp_death(status))
		young = 1;
	wp->young = young ? wp->young + 1 : 0;
	if (wp->young <= 1)
		delay = 0;
	else if (wp->young < YOUNG_DEATHS_THROTTLE)
		delay = RESPAWN_SECOND_MS;
	else {
		delay = g->conf->respawn_throttle_ms;
		if (wp->young == YOUNG_DEATHS_THROTTLE)
			log_warnx("worker %d died before serving a request %d "
			    "times in a row: respawning it at most once every "
			    "%.0f s", pos, wp->young, (double)delay / 1000.0);
	}
	wp->respawn_at = now + delay;
}

/* A live worker of the table has this pid. */
static int
proc_known(const struct master *m, pid_t pid)
{
	int	i;

	for (i = 0; i < m->nprocs; i++)
		if (m->procs[i].state != W_FREE && m->procs[i].pid == pid)
			return (1);
	return (0);
}

/*
 * The parent and state of pid from /proc/<pid>/stat; -1 if gone.  The
 * command name is chosen by the process (it may hold spaces and ')'):
 * the fields are read after the last ')'.
 */
static int
proc_parent(pid_t pid, pid_t *ppid, char *state)
{
	char	 path[64], buf[512], *p, *end;
	ssize_t	 n;
	long	 v;
	int	 fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return (-1);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ' || p[2] == '\0' ||
	    p[3] != ' ')
		return (-1);
	*state = p[2];
	errno = 0;
	v = strtol(p + 4, &end, 10);
	if (end == p + 4 || errno != 0 || v < 0)
		return (-1);
	*ppid = (pid_t)v;
	return (0);
}

/*
 * If pid is a child of ours that is no worker, kill it.  It cannot be
 * reaped, nor its pid reused, by anyone but us, so the signal reaches the
 * process we looked at.  A child leading its own process group (an EXEC
 * command leads a session) takes the group along: only its descendants
 * can be in it.
 */
static void
proc_kill_stray(struct master *m, pid_t pid)
{
	pid_t	self = getpid(), ppid, pg;
	char	state;
	int	group;

	if (pid <= 1 || pid == self || proc_known(m, pid) ||
	    proc_parent(pid, &ppid, &state) == -1 || ppid != self)
		return;
	pg = getpgid(pid);
	group = pg == pid && pg != getpgrp();
	if (group)
		(void)kill(-pid, SIGKILL);
	if (kill(pid, SIGKILL) == 0 && state != 'Z')
		log_warnx("killed process %ld%s, left behind by a dead worker",
		    (long)pid, group ? " and its process group" : "");
}

/*
 * A worker that dies without cleaning up leaves its EXEC commands (and
 * anything they started) running; we are their subreaper, so they are our
 * children now.  Kill every child that is not a worker of the table: what
 * to kill comes from the kernel's process tree and our own records, never
 * from the stats segment, which a worker can write.  The kernel's list of
 * our children if it has one (CONFIG_PROC_CHILDREN), else every process's
 * parent.  Orphans are reparented before we hear of a death, so all are
 * here by now; their own orphans come at their death (proc_reap scans
 * again).
 */
static void
proc_kill_strays(struct master *m)
{
	char		 path[64], buf[4096], *p, *end;
	struct dirent	*de;
	DIR		*d;
	ssize_t		 n;
	long		 pid;
	int		 fd;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/children",
	    (long)getpid());
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		/* A full buffer may be cut short: scan /proc then. */
		if (n >= 0 && (size_t)n < sizeof(buf) - 1) {
			buf[n] = '\0';
			for (p = buf; *p != '\0'; p = end) {
				pid = strtol(p, &end, 10);
				if (end == p)
					break;
				proc_kill_stray(m, (pid_t)pid);
			}
			return;
		}
	}
	if ((d = opendir("/proc")) == NULL) {
		log_warn("opendir /proc: cannot look for processes a dead "
		    "worker left behind");
		return;
	}
	while ((de = readdir(d)) != NULL) {
		pid = strtol(de->d_name, &end, 10);
		if (end != de->d_name && *end == '\0' && pid > 1 &&
		    pid <= INT32_MAX)
			proc_kill_stray(m, (pid_t)pid);
	}
	closedir(d);
}

/* Reap every child that has exited; one SIGCHLD may stand for many. */
void
proc_reap(struct master *m)
{
	struct stats_fold_info	 fi;
	struct wproc		*p, dead;
	char			 why[64], what[160];
	pid_t			 pid;
	int			 status, idx, young, reaped = 0;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		reaped = 1;
		status_str(status, why, sizeof(why));
		for (idx = 0; idx < m->nprocs; idx++)
			if (m->procs[idx].state != W_FREE &&
			    m->procs[idx].pid == pid)
				break;
		if (idx == m->nprocs) {
			/*
			 * A dead worker's EXEC command, adopted (subreaper):
			 * its own children are ours now (scanned below).
			 */
			log_debug("reaped orphaned command %ld: %s", (long)pid,
			    why);
			continue;
		}
		p = &m->procs[idx];
		/*
		 * What it handed over just before exiting is still queued:
		 * all of it now (the sender is gone, the queue is finite),
		 * the channel's close would drop the rest.
		 */
		while (p->ctl != -1 && proc_xfer(m, idx))
			;
		dead = *p;
		if (proc_seccomp_death(status))
			proc_seccomp_report(p, pid);
		/* Fold before anything can reuse the slot. */
		memset(&fi, 0, sizeof(fi));
		stats_fold(&m->stats, idx, &fi);
		m->procs[idx].state = W_FREE;	/* not a worker any more */
		proc_close_probe(p);
		proc_close_ctl(p);
		proc_close_note(p);
		memset(p, 0, sizeof(*p));
		p->probe = -1;
		p->ctl = -1;
		p->note = -1;
		if (dead.pos < dead.gen->npos &&
		    dead.gen->pos[dead.pos].proc == idx)
			dead.gen->pos[dead.pos].proc = -1;

		if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
		    dead.hung) {
			stats_current_format(&fi.cur, mono_us(), what,
			    sizeof(what));
			if (dead.state == W_DRAINING && m->quick)
				log_debug("worker %d (pid %ld) %s", dead.pos,
				    (long)pid, why);
			else
				log_warnx("worker %d (pid %ld) %s%s, %s",
				    dead.pos, (long)pid, why,
				    dead.hung ? " after hanging" : "", what);
		} else
			log_debug("worker %d (pid %ld) %s", dead.pos,
			    (long)pid, why);

		if (m->stopping || dead.state == W_DRAINING)
			continue;
		young = dead.state == W_STARTING || fi.requests <= 1;
		if (dead.gen == m->next) {
			snprintf(what, sizeof(what), "new worker %d (pid %ld) "
			    "%s while starting", dead.pos, (long)pid, why);
			reload_rollback(m, what);
			continue;
		}
		if (dead.gen != m->cur || dead.pos >= dead.gen->npos)
			continue;
		proc_after_death(m, dead.gen, dead.pos, status, young,
		    fi.requests);
	}
	/* Whatever a dead worker or command left is ours now: kill it. */
	if (reaped)
		proc_kill_strays(m);
}

/* Respawn what is due; shrink *wait to the next pending respawn. */
void
proc_respawn_due(struct master *m, uint64_t now, int *wait)
{
	struct gen	*g = m->cur;
	struct wpos	*wp;
	int		 i;

	if (g == NULL || m->stopping)
		return;
	for (i = 0; i < g->npos; i++) {
		wp = &g->pos[i];
		if (wp->proc != -1 || wp->fatal || wp->respawn_at == 0)
			continue;
		if (wp->respawn_at <= now)
			(void)proc_spawn(m, g, i);
		else if (wp->respawn_at - now < (uint64_t)*wait)
			*wait = (int)(wp->respawn_at - now);
	}
}

/*
 * Once a second: kill workers that never answered their probe, that
 * stopped beating (hung: SIGSTOPped, in an endless loop, blocked), or that
 * drain past their deadline.  The log says which and why.
 */
void
proc_check_health(struct master *m, uint64_t now)
{
	struct stats_slot	*s;
	struct wproc		*p;
	char			 what[160];
	uint64_t		 hb, limit;
	int			 i;

	for (i = 0; i < m->nprocs; i++) {
		p = &m->procs[i];
		switch (p->state) {
		case W_FREE:
			break;
		case W_STARTING:
			if (now < p->kill_at)
				break;
			log_warnx("worker %d (pid %ld) did not answer its "
			    "start-up probe within %d s; killing it", p->pos,
			    (long)p->pid, PROBE_TIMEOUT_MS / 1000);
			kill(p->pid, SIGKILL);
			p->kill_at = UINT64_MAX;
			break;
		case W_SERVING:
			limit = p->gen->conf->worker_timeout_ms;
			if (limit == 0 || p->hung ||
			    (s = stats_slot(&m->stats, i)) == NULL)
				break;
			hb = atomic_load_explicit(&s->heartbeat_ms,
			    memory_order_relaxed);
			if (hb == 0 || now < hb || now - hb <= limit)
				break;
			stats_current_format(&s->cur, mono_us(), what,
			    sizeof(what));
			log_warnx("worker %d (pid %ld) hung: no heartbeat for "
			    "%.1f s (worker_timeout %.0f s), %s; killing it",
			    p->pos, (long)p->pid, (double)(now - hb) / 1000.0,
			    (double)limit / 1000.0, what);
			p->hung = 1;
			kill(p->pid, SIGKILL);
			break;
		case W_DRAINING:
			if (now < p->kill_at)
				break;
			log_warnx("worker %d (pid %ld) still running after "
			    "shutdown_timeout; killing it", p->pos,
			    (long)p->pid);
			kill(p->pid, SIGKILL);
			p->kill_at = UINT64_MAX;
			break;
		}
	}
}

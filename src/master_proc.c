/*
 * master_proc.c: the process table.  Spawn a worker with a private probe
 * connection, learn from the probe's PONG that it serves, reap every child
 * that exits and report it, kill the hung, and pass handed-over
 * connections on.  It decides nothing about generations: whether to
 * respawn, roll back or stop is for the layers above (master_proc.h).
 */
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/prctl.h>
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
#include "master_proc.h"
#include "sandbox.h"
#include "sdnotify.h"
#include "util.h"
#include "xfer.h"

#define PROBE_TIMEOUT_MS	10000	/* a new worker must answer by then */

/*
 * How many handed-over connections may wait for a worker (proc_xfer_wait)
 * under a limit of nofile open files, with n slots: what the limit leaves
 * after the master's own descriptors (listeners, and a worker's channels
 * for every slot, while it starts) and room for the most one message can
 * carry (XFER_FDS_MAX: what the kernel cannot install it drops, in our
 * context, where a lingering socket would stop the master), at most
 * XW_MAX, at least XW_MIN.
 * Every one that waits is an open descriptor of the master's, and the one
 * who hands over may be a compromised worker: no hand-over, however many,
 * may take what the master needs to start a worker.  Past it the master
 * stops reading hand-overs (proc_xfer_room) and the senders wait.
 */
int
proc_xfer_max(rlim_t nofile, int n)
{
	rlim_t	reserve = 64 + 2 * CONF_LISTEN_MAX + XFER_FDS_MAX +
	    4 * (rlim_t)n;

	if (nofile == RLIM_INFINITY)
		return (XW_MAX);
	if (nofile < reserve + XW_MIN)
		return (XW_MIN);
	if (nofile - reserve > XW_MAX)
		return (XW_MAX);
	return ((int)(nofile - reserve));
}

/* May another handed-over connection be read now (proc_xfer_max)? */
int
proc_xfer_room(const struct ptable *pt)
{
	return (pt->nxw < pt->xwmax);
}

/* The table whose grave proc_dispose fills: a master has one. */
static struct ptable	*grave_pt;

/*
 * Keep fd for the closer: something a worker sent, or a channel or probe
 * a worker could have sent descriptors into.  Its last close may make the
 * kernel wait, in the closing process, for as long as SO_LINGER says: a
 * TCP socket whose sender set it, also one queued inside a unix socket
 * (whose close releases what it holds).  The master never makes that
 * close: proc_grave_flush's child does, as it exits, when the kernel does
 * not linger.
 */
void
proc_bury(struct ptable *pt, int fd)
{
	if (fd < 0)
		return;
	/* Full within one turn (a flood, a stop). */
	if (pt->ngrave == GRAVE_MAX)
		proc_grave_flush(pt);
	if (pt->ngrave == GRAVE_MAX) {
		/* No child to be had: better this than running out. */
		log_warnx("cannot start a closer: the master closes a "
		    "descriptor a worker sent");
		xfer_close(fd);
		return;
	}
	pt->grave[pt->ngrave++] = fd;
}

static void
proc_dispose(int fd)
{
	proc_bury(grave_pt, fd);
}

/* Before the master forks a worker, the exporter or a new master. */
static void
proc_prefork(void)
{
	if (grave_pt != NULL)
		proc_grave_flush(grave_pt);
}

/* Sort ints, for closer_keep_only. */
static int
int_cmp(const void *a, const void *b)
{
	int	x = *(const int *)a, y = *(const int *)b;

	return (x < y ? -1 : x > y);
}

/*
 * In the closer: close every descriptor but the buried ones and keep, so
 * that it holds no listener (connections would queue to it while it
 * lives) and nothing else of the master's.
 */
static void
closer_keep_only(struct ptable *pt, int keep)
{
	int	i, lo = STDERR_FILENO + 1;

	pt->grave[pt->ngrave] = keep;	/* room: GRAVE_MAX + 1 */
	qsort(pt->grave, (size_t)pt->ngrave + 1, sizeof(int), int_cmp);
	for (i = 0; i <= pt->ngrave; i++) {
		if (pt->grave[i] > lo)
			(void)close_range((unsigned)lo,
			    (unsigned)pt->grave[i] - 1, 0);
		if (pt->grave[i] >= lo)
			lo = pt->grave[i] + 1;
	}
	(void)close_range((unsigned)lo, ~0U, 0);
}

/*
 * Close what was buried.  A child takes a copy of each (fork), the master
 * closes its own, and the child exits once told (a pipe's end closing):
 * the last copies close in it, exiting, which the kernel does not make
 * linger.  One closer at a time, known to the reaper (proc_reap): its
 * exit is no stray's.  The last one, told already, is waited for (it
 * exits at once, and an exiting process does not linger).  On failure
 * all stays buried for a later turn.
 */
void
proc_grave_flush(struct ptable *pt)
{
	pid_t	pid;
	char	c, name[16];
	int	p[2], i;

	if (pt->ngrave == 0)
		return;
	if (pt->closer != 0) {
		if (waitpid(pt->closer, NULL, 0) != pt->closer)
			return;
		pt->closer = 0;
	}
	if (pipe2(p, O_CLOEXEC) == -1)
		return;
	/*
	 * The child is born with this name (comm), not the master's: seen
	 * for what it is from its first instant (ps, tests counting workers).
	 */
	(void)prctl(PR_GET_NAME, name, 0, 0, 0);
	(void)prctl(PR_SET_NAME, "msgd: closer", 0, 0, 0);
	pid = fork();
	if (pid != 0)
		(void)prctl(PR_SET_NAME, name, 0, 0, 0);
	if (pid == -1) {
		log_warn("fork for the closer");
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		proctitle_set("msgd: closer");
		closer_keep_only(pt, p[0]);
		while (read(p[0], &c, 1) == -1 && errno == EINTR)
			;
		_exit(0);
	}
	pt->closer = pid;
	close(p[0]);
	for (i = 0; i < pt->ngrave; i++)
		close(pt->grave[i]);
	pt->ngrave = 0;
	close(p[1]);
}

/* A table of n free slots, one per slot of the stats segment. */
void
proc_init(struct ptable *pt, int n, struct stats_seg *stats)
{
	struct rlimit	rl;
	int		i;

	memset(pt, 0, sizeof(*pt));
	pt->stats = stats;
	pt->nprocs = n;
	pt->relay = -1;
	pt->xwmax = proc_xfer_max(getrlimit(RLIMIT_NOFILE, &rl) == 0 ?
	    rl.rlim_cur : 1024, n);
	if ((pt->procs = calloc((size_t)n, sizeof(*pt->procs))) == NULL ||
	    (pt->grave = calloc(GRAVE_MAX + 1, sizeof(*pt->grave))) == NULL)
		fatal("calloc");
	grave_pt = pt;
	xfer_set_disposer(proc_dispose);
	fork_prepare(proc_prefork);
	for (i = 0; i < n; i++) {
		pt->procs[i].probe = -1;
		pt->procs[i].ctl = -1;
		pt->procs[i].note = -1;
	}
}

/* Release the table (its processes are gone) and what still waits. */
void
proc_free(struct ptable *pt)
{
	proc_xfer_drop(pt);
	proc_grave_flush(pt);
	if (grave_pt == pt) {
		grave_pt = NULL;
		xfer_set_disposer(NULL);
		fork_prepare(NULL);
	}
	free(pt->grave);
	pt->grave = NULL;
	pt->ngrave = 0;
	free(pt->xw);
	free(pt->procs);
	pt->xw = NULL;
	pt->procs = NULL;
	pt->nprocs = 0;
}

/* Processes of g in state st (W_FREE: any live state). */
int
proc_count(const struct ptable *pt, const struct gen *g, enum wstate st)
{
	int	i, n = 0;

	for (i = 0; i < pt->nprocs; i++) {
		if (pt->procs[i].state == W_FREE)
			continue;
		if (g != NULL && pt->procs[i].gen != g)
			continue;
		if (st == W_FREE || pt->procs[i].state == st)
			n++;
	}
	return (n);
}

/*
 * The fds a worker child keeps (the stats segment's only until it has
 * mapped its slot); everything else of the master is closed.
 */
static void
child_close_fds(const struct listener *ls, int nls,
    const struct stats_seg *seg, int probe, int ctl, int note)
{
	int	keep[2 * CONF_LISTEN_MAX + 5], n = 0, i, j, t, lo;

	keep[n++] = probe;
	keep[n++] = ctl;
	keep[n++] = note;
	if (seg->fd_rw > STDERR_FILENO)
		keep[n++] = seg->fd_rw;
	if (seg->fd_ro > STDERR_FILENO)
		keep[n++] = seg->fd_ro;
	for (i = 0; i < nls; i++)
		if (ls[i].fd > STDERR_FILENO)
			keep[n++] = ls[i].fd;
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
proc_free_slot(const struct ptable *pt)
{
	int	i;

	for (i = 0; i < pt->nprocs; i++)
		if (pt->procs[i].state == W_FREE)
			return (i);
	return (-1);
}

/* Close the n descriptors of fds (a failed spawn's channels). */
static void
close_all(const int *fds, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		close(fds[i]);
}

/*
 * The three channels of a new worker, all or none: the probe (a private
 * socketpair), the hand-over channel, and the pipe on which a worker
 * killed by its seccomp filter says why.  fds: the master's end of each,
 * then the worker's.
 */
static int
proc_channels(int pos, int fds[6])
{
	int	sv[2], cv[2], nv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
	    sv) == -1) {
		log_warn("socketpair for worker %d", pos);
		return (-1);
	}
	if (xfer_pair(cv) == -1) {
		log_warn("socketpair for worker %d", pos);
		close_all(sv, 2);
		return (-1);
	}
	if (pipe2(nv, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_warn("pipe for worker %d", pos);
		close_all(sv, 2);
		close_all(cv, 2);
		return (-1);
	}
	fds[0] = sv[0];
	fds[1] = cv[0];
	fds[2] = nv[0];
	fds[3] = sv[1];
	fds[4] = cv[1];
	fds[5] = nv[1];
	return (0);
}

/*
 * Fork a worker for generation g (only a tag here) from a, which names
 * its position, configuration, listeners and user; the table fills in
 * its slot and channels.  The master sends a PING on the probe at once:
 * the PONG comes back through the worker's own event loop and request
 * path, so "answered" means "serving".  Returns the slot, or -1 (the
 * caller retries later).
 */
int
proc_spawn(struct ptable *pt, struct gen *g, struct worker_args *a)
{
	struct wproc	*p;
	uint8_t		 ping[MSG_HDR_LEN];
	pid_t		 pid;
	int		 idx, fds[6];

	if ((idx = proc_free_slot(pt)) == -1) {
		log_warnx("no free worker slot for worker %d", a->pos);
		return (-1);
	}
	if (proc_channels(a->pos, fds) == -1)
		return (-1);
	pid = fork_child();
	if (pid == -1) {
		/* Out of processes or memory: back off, never spin. */
		log_warn("fork for worker %d", a->pos);
		close_all(fds, 6);
		return (-1);
	}
	if (pid == 0) {
		/*
		 * The master's signals stay blocked until worker_main() has
		 * its signalfd: a SIGTERM sent now waits there and drains
		 * the worker instead of killing it half-started.
		 */
		sdnotify_forget();
		xfer_set_disposer(NULL);	/* the grave is the master's */
		fork_prepare(NULL);
		child_close_fds(a->ls, a->nls, pt->stats, fds[3], fds[4],
		    fds[5]);
		a->slot = idx;
		a->stats = pt->stats;
		a->probe = fds[3];
		a->ctl = fds[4];
		a->note = fds[5];
		worker_main(a);
	}
	close_all(fds + 3, 3);
	msg_encode_request(ping, MSG_OP_PING, (uint32_t)idx, 0, 0);
	/* An empty socketpair takes 16 bytes without blocking. */
	if (write(fds[0], ping, sizeof(ping)) != (ssize_t)sizeof(ping))
		log_warn("probe write to worker %d", a->pos);
	p = &pt->procs[idx];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->state = W_STARTING;
	p->pos = a->pos;
	p->gen = g;
	p->started = mono_ms();
	p->kill_at = p->started + PROBE_TIMEOUT_MS;
	p->timeout_ms = a->conf->worker_timeout_ms;
	p->probe = fds[0];
	p->ctl = fds[1];
	p->note = fds[2];
	log_debug("worker %d (pid %ld, slot %d, generation %llu) started",
	    a->pos, (long)pid, idx, (unsigned long long)a->generation);
	return (idx);
}

static void
proc_close_ctl(struct wproc *p)
{
	if (p->ctl != -1)
		xfer_dispose(p->ctl);	/* it may hold what the worker sent */
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
		xfer_dispose(p->probe);	/* as the channel */
	p->probe = -1;
}

/*
 * The probe fd of slot idx is readable: is it the PONG?  Returns 1 when
 * the worker has just become serving.
 */
int
proc_probe(struct ptable *pt, int idx)
{
	struct wproc	*p = &pt->procs[idx];
	struct msg_hdr	 h;
	const char	*why;
	ssize_t		 n;

	n = xfer_read(p->probe, p->probe_buf + p->probe_len,
	    sizeof(p->probe_buf) - p->probe_len);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return (0);
	if (n <= 0) {
		/* It died or closed; the reaper will tell why. */
		proc_close_probe(p);
		return (0);
	}
	p->probe_len += (size_t)n;
	if (p->probe_len < MSG_HDR_LEN + 4)
		return (0);
	if (msg_check_response(p->probe_buf, p->probe_len, &h, &why) == -1 ||
	    h.status != MSG_ST_OK || h.opcode != MSG_OP_PING ||
	    h.body_len != 4 || memcmp(p->probe_buf + MSG_HDR_LEN, "PONG", 4)) {
		log_warnx("worker %d (pid %ld) answered its start-up probe "
		    "wrongly; killing it", p->pos, (long)p->pid);
		kill(p->pid, SIGKILL);
		proc_close_probe(p);
		return (0);
	}
	proc_close_probe(p);
	if (p->state != W_STARTING)
		return (0);
	p->state = W_SERVING;
	log_debug("worker %d (pid %ld) is serving", p->pos, (long)p->pid);
	return (1);
}

/*
 * Tell slot idx to finish what it has and exit (handoff: giving its
 * connections to the serving generation); SIGKILL at deadline.
 */
void
proc_drain(struct ptable *pt, int idx, uint64_t deadline, int handoff)
{
	struct wproc	*p = &pt->procs[idx];

	if (p->state == W_FREE || p->state == W_DRAINING)
		return;
	if (kill(p->pid, handoff ? SIGUSR2 : SIGTERM) == -1 && errno != ESRCH)
		log_warn("kill worker %d (pid %ld)", p->pos, (long)p->pid);
	proc_close_probe(p);
	p->state = W_DRAINING;
	p->kill_at = deadline;
}

/* Kill slot idx now (a quick stop, a generation too many). */
void
proc_kill(struct ptable *pt, int idx)
{
	struct wproc	*p = &pt->procs[idx];

	if (p->state == W_FREE)
		return;
	kill(p->pid, SIGKILL);
	p->state = W_DRAINING;
	p->kill_at = UINT64_MAX;
}

/*
 * Give fd to a serving worker of generation to (the current one; NULL
 * when stopping: nobody); 1 if done.
 */
static int
proc_xfer_one(struct ptable *pt, const struct gen *to, int from, int fd,
    const struct xfer_info *info)
{
	struct wproc	*t;
	int		 k;

	/* A binary upgrade commits: the new master's workers take them. */
	if (pt->relay != -1 && to != NULL) {
		if (xfer_send(pt->relay, fd, info) == -1)
			return (0);
		pt->relayed++;
		return (1);
	}
	for (k = 0; k < pt->nprocs && to != NULL; k++) {
		pt->rr = (pt->rr + 1) % pt->nprocs;
		t = &pt->procs[pt->rr];
		if (t->state != W_SERVING || t->gen != to || t->retiring ||
		    t->ctl == -1 || pt->rr == from)
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
proc_xfer_flush(struct ptable *pt, const struct gen *to)
{
	int	i, n;

	/* The first that finds no worker: neither would the next. */
	for (i = 0; i < pt->nxw; i++) {
		if (!proc_xfer_one(pt, to, -1, pt->xw[i].fd, &pt->xw[i].info))
			break;
		xfer_close(pt->xw[i].fd);
	}
	n = pt->nxw - i;
	memmove(pt->xw, pt->xw + i, (size_t)n * sizeof(*pt->xw));
	pt->nxw = n;
	return (n);
}

/* Stopping: nobody will take the waiting connections. */
void
proc_xfer_drop(struct ptable *pt)
{
	while (pt->nxw > 0)
		xfer_dispose(pt->xw[--pt->nxw].fd);
}

/*
 * Keep a connection no worker can take now; 0, or -1 when pt->xwmax
 * already wait (proc_xfer_max) or memory is short.
 */
static int
proc_xfer_wait(struct ptable *pt, int fd, const struct xfer_info *info)
{
	struct xfer_wait	*nw;
	int			 ncap;

	if (pt->nxw >= pt->xwmax)
		return (-1);
	if (pt->nxw == pt->xwcap) {
		ncap = pt->xwcap ? pt->xwcap * 2 : 64;
		if (ncap > pt->xwmax)
			ncap = pt->xwmax;
		if ((nw = realloc(pt->xw, (size_t)ncap * sizeof(*nw))) == NULL)
			return (-1);
		pt->xw = nw;
		pt->xwcap = ncap;
	}
	pt->xw[pt->nxw].fd = fd;
	pt->xw[pt->nxw].info = *info;
	pt->nxw++;
	return (0);
}

/*
 * Connections come on channel *ctl (from worker idx, or -1: from the
 * previous binary's master): pass each to a serving worker of generation
 * to, the current one (round robin).  When none can take it now, it
 * waits here (the client's bytes wait in its socket); only a stop (to is
 * NULL) closes it.  While proc_xfer_max wait, nothing more is read: the
 * senders wait (a worker retries every 10 ms).  A channel that ends, or
 * whose sender breaks the protocol, is closed and *ctl set to -1.
 * Returns 1 when it stopped at its batch size (more may be waiting).
 */
static int
proc_xfer_from(struct ptable *pt, int idx, int *ctl, const struct gen *to)
{
	struct xfer_info	info;
	int			fd, rc, n;

	for (n = 0; n < 256; n++) {
		/* No room to hold one: it waits in the channel meanwhile. */
		if (to != NULL && !proc_xfer_room(pt))
			return (0);
		rc = xfer_recv(*ctl, &fd, &info);
		if (rc == 0)
			return (0);
		if (rc == -1) {
			xfer_dispose(*ctl);
			*ctl = -1;
			return (0);
		}
		/* A worker that hands over is retiring: no target now. */
		if (idx != -1)
			pt->procs[idx].retiring = 1;
		if (rc == -2) {
			log_warnx("a handed-over connection was lost: no "
			    "descriptor left for it (RLIMIT_NOFILE)");
			continue;
		}
		if (rc == -3) {
			/*
			 * No sender of ours does that: a compromised one.
			 * Its channel is closed, once (not a line per
			 * message it sends).
			 */
			if (idx == -1)
				log_warnx("the previous master sent a "
				    "hand-over without exactly one socket: "
				    "its channel is closed");
			else
				log_warnx("worker %ld sent a hand-over "
				    "without exactly one socket: its channel "
				    "is closed", (long)pt->procs[idx].pid);
			xfer_dispose(*ctl);
			*ctl = -1;
			return (0);
		}
		if (idx != -1)
			pt->procs[idx].handed = 1;
		if (proc_xfer_one(pt, to, idx, fd, &info)) {
			xfer_close(fd);	/* ours; the receiver has its own */
			continue;
		}
		if (to == NULL || proc_xfer_wait(pt, fd, &info) == -1) {
			log_debug("a handed-over connection found no worker");
			xfer_dispose(fd);
		}
	}
	return (1);
}

/*
 * Channel ctl closes with hand-overs unread, as many connections as were
 * waiting in the master (proc_xfer_max) when its sender, who, ended:
 * they are lost with it.  Say how many.
 */
void
proc_xfer_lost(int ctl, const char *who)
{
	int	n;

	if (ctl != -1 && ioctl(ctl, FIONREAD, &n) == 0 && n > 0)
		log_warnx("%d handed-over connection(s) from %s were lost: "
		    "as many as the master holds were waiting already",
		    n / (int)sizeof(struct xfer_info), who);
}

/*
 * A retiring worker (slot idx) hands over connections (proc_xfer_from).
 * A worker that hands over on its own is recycling (max_requests).
 */
int
proc_xfer(struct ptable *pt, int idx, const struct gen *to)
{
	return (proc_xfer_from(pt, idx, &pt->procs[idx].ctl, to));
}

/*
 * The previous binary's master hands over its workers' connections on
 * *ctl, to generation to's workers, as a retiring worker does.
 */
int
proc_xfer_in(struct ptable *pt, int *ctl, const struct gen *to)
{
	return (proc_xfer_from(pt, -1, ctl, to));
}

/* Watch pid, a child that is no worker; -1 when the table is full. */
int
proc_other_add(struct ptable *pt, pid_t pid)
{
	int	i;

	for (i = 0; i < PROC_OTHERS; i++)
		if (pt->others[i].pid == 0) {
			pt->others[i].pid = pid;
			pt->others[i].exited = 0;
			pt->others[i].status = 0;
			return (0);
		}
	return (-1);
}

/* The watched child pid, or NULL. */
struct proc_other *
proc_other(struct ptable *pt, pid_t pid)
{
	int	i;

	for (i = 0; pid > 0 && i < PROC_OTHERS; i++)
		if (pt->others[i].pid == pid)
			return (&pt->others[i]);
	return (NULL);
}

/* Stop watching pid (reaped, or handed to nobody: it is ours to end). */
void
proc_other_forget(struct ptable *pt, pid_t pid)
{
	struct proc_other	*o;

	if ((o = proc_other(pt, pid)) != NULL)
		memset(o, 0, sizeof(*o));
}

/* Signal every worker (SIGUSR1: reopen the log). */
void
proc_kill_all(struct ptable *pt, int sig)
{
	int	i;

	for (i = 0; i < pt->nprocs; i++)
		if (pt->procs[i].state != W_FREE &&
		    kill(pt->procs[i].pid, sig) == -1 && errno != ESRCH)
			log_warn("kill worker %d", pt->procs[i].pos);
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

/* A live worker of the table has this pid. */
static int
proc_known(const struct ptable *pt, pid_t pid)
{
	int	i;

	for (i = 0; i < pt->nprocs; i++)
		if (pt->procs[i].state != W_FREE && pt->procs[i].pid == pid)
			return (1);
	for (i = 0; i < PROC_OTHERS; i++)
		if (pt->others[i].pid == pid)
			return (1);
	return (pid == pt->closer);
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
proc_kill_stray(const struct ptable *pt, pid_t pid)
{
	pid_t	self = getpid(), ppid, pg;
	char	state;
	int	group;

	if (pid <= 1 || pid == self || proc_known(pt, pid) ||
	    proc_parent(pid, &ppid, &state) == -1 || ppid != self)
		return;
	pg = getpgid(pid);
	group = pg == pid && pg != getpgrp();
	if (group)
		(void)kill(-pid, SIGKILL);
	if (kill(pid, SIGKILL) == 0 && state != 'Z')
		log_warnx("killed process %ld%s, left behind by a command or "
		    "a dead worker", (long)pid,
		    group ? " and its process group" : "");
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
 * again).  A process that a live worker's command started and let go
 * (it left the command's process group, which the worker killed) comes
 * to us with no death we hear of: the master calls this once a second
 * too.
 */
void
proc_sweep(const struct ptable *pt)
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
				proc_kill_stray(pt, (pid_t)pid);
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
			proc_kill_stray(pt, (pid_t)pid);
	}
	closedir(d);
}

/*
 * Free slot idx, whose worker has exited, and say what became of it in
 * e: its status, what it was doing, how many requests it answered.
 */
static void
proc_unlist(struct ptable *pt, int idx, pid_t pid, int status,
    struct proc_exit *e)
{
	struct stats_fold_info	 fi;
	struct wproc		*p = &pt->procs[idx];

	memset(e, 0, sizeof(*e));
	e->gen = p->gen;
	e->pid = pid;
	e->slot = idx;
	e->pos = p->pos;
	e->status = status;
	e->state = p->state;
	e->hung = p->hung;
	e->succeeded = p->succeeded;
	e->seccomp = proc_seccomp_death(status);
	status_str(status, e->why, sizeof(e->why));
	if (e->seccomp)
		proc_seccomp_report(p, pid);
	/* Fold before anything can reuse the slot. */
	memset(&fi, 0, sizeof(fi));
	stats_fold(pt->stats, idx, &fi);
	e->requests = fi.requests;
	if (proc_failed(e))
		stats_current_format(&fi.cur, mono_us(), e->what,
		    sizeof(e->what));
	p->state = W_FREE;	/* not a worker any more */
	proc_close_probe(p);
	proc_close_ctl(p);
	proc_close_note(p);
	memset(p, 0, sizeof(*p));
	p->probe = -1;
	p->ctl = -1;
	p->note = -1;
}

/*
 * Reap the children that have exited, one SIGCHLD may stand for many:
 * call until it returns 0.  Each worker's exit is reported in e (returns
 * 1); what to do about it is the caller's.  Its hand-overs still queued
 * go to generation to (NULL when stopping).  Orphaned commands are reaped
 * here, and when nothing is left to reap, whatever a dead worker or
 * command left behind is killed.
 */
int
proc_reap(struct ptable *pt, const struct gen *to, struct proc_exit *e)
{
	struct proc_other	*o;
	char			 why[64];
	pid_t			 pid;
	int			 status, idx;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		if (pid == pt->closer) {
			pt->closer = 0;
			continue;
		}
		pt->reaped = 1;
		for (idx = 0; idx < pt->nprocs; idx++)
			if (pt->procs[idx].state != W_FREE &&
			    pt->procs[idx].pid == pid)
				break;
		if (idx == pt->nprocs && (o = proc_other(pt, pid)) != NULL) {
			o->exited = 1;
			o->status = status;
			continue;
		}
		if (idx == pt->nprocs) {
			/*
			 * A dead worker's EXEC command, adopted (subreaper):
			 * its own children are ours now (scanned below).
			 */
			status_str(status, why, sizeof(why));
			log_debug("reaped orphaned command %ld: %s", (long)pid,
			    why);
			continue;
		}
		/*
		 * What it handed over just before exiting is still queued:
		 * all of it now (the sender is gone, the queue is finite),
		 * the channel's close would drop the rest.
		 */
		while (pt->procs[idx].ctl != -1 && proc_xfer(pt, idx, to))
			;
		proc_xfer_lost(pt->procs[idx].ctl, "the worker");
		proc_unlist(pt, idx, pid, status, e);
		return (1);
	}
	/* Whatever a dead worker or command left is ours now: kill it. */
	if (pt->reaped) {
		pt->reaped = 0;
		proc_sweep(pt);
	}
	return (0);
}

/* It failed: exited with a status other than 0, killed, or hung. */
int
proc_failed(const struct proc_exit *e)
{
	return (!(WIFEXITED(e->status) && WEXITSTATUS(e->status) == 0) ||
	    e->hung);
}

/* Log a worker's exit; a failure only at debug level when quiet. */
void
proc_exit_log(const struct proc_exit *e, int quiet)
{
	if (proc_failed(e) && !quiet)
		log_warnx("worker %d (pid %ld) %s%s, %s", e->pos, (long)e->pid,
		    e->why, e->hung ? " after hanging" : "", e->what);
	else
		log_debug("worker %d (pid %ld) %s", e->pos, (long)e->pid,
		    e->why);
}

/*
 * Once a second: kill workers that never answered their probe, that
 * stopped beating (hung: SIGSTOPped, in an endless loop, blocked), or that
 * drain past their deadline.  The log says which and why.
 */
void
proc_check_health(struct ptable *pt, uint64_t now)
{
	struct stats_slot	*s;
	struct wproc		*p;
	char			 what[160];
	uint64_t		 hb, limit;
	int			 i;

	for (i = 0; i < pt->nprocs; i++) {
		p = &pt->procs[i];
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
			limit = p->timeout_ms;
			if (limit == 0 || p->hung ||
			    (s = stats_slot(pt->stats, i)) == NULL)
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

/*
 * worker.c: the worker's event loop.
 *
 * All workers wait on the same listening sockets, registered with
 * EPOLLEXCLUSIVE so a new connection wakes one worker, not the pool.  A
 * worker holding more connections than another steps back from accepting
 * until the others catch up (worker_yield).  The loop is the only place
 * work happens: signals arrive through a signalfd.
 */
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <linux/sockios.h>

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "exec.h"
#include "iob.h"
#include "log.h"
#include "ops.h"
#include "pool.h"
#include "proto.h"
#include "sandbox.h"
#include "spool.h"
#include "udp.h"
#include "util.h"
#include "worker.h"

#define ACCEPT_BATCH		64	/* accepts per wakeup per listener */
#define ACCEPT_PAUSE_MS		100	/* after EMFILE: retry this much later */
#define MAX_EVENTS		256
#define DRAIN_GRACE_MS		5000	/* idle connections while draining */
#define ORPHAN_DRAIN_MS		500	/* the master died: drain this long */
#define YIELD_RECHECK_MS	5	/* stepped back: look again this soon */
#define YIELD_STALE_MS		1500	/* no heartbeat: not accepting */
#define RESCUE_AFTER_MS		200	/* they took nothing this long: take */
#define HANDOFF_LOOK_MS		10	/* hand-overs not yet taken: look again */

/* How a listener is in the epoll set. */
enum lis_reg {
	LIS_OFF = 0,	/* not at all: draining, paused */
	LIS_ACCEPT,	/* EPOLLEXCLUSIVE: woken to accept */
	LIS_WATCH	/* stepped back: woken by arrivals, to look again */
};

struct wlistener {
	enum ev_kind		 kind;	/* EV_LISTENER: must stay first */
	struct listener		*l;
	int			 proxy;	/* "proxy:": a PROXY header first */
	enum lis_reg		 reg;
};

struct worker {
	int			 id;
	int			 epfd;
	int			 sigfd;
	enum ev_kind		 sigkind;	/* epoll tag of the signalfd */
	struct timer_wake	 wake;		/* deadlines wake us (timerfd) */
	enum ev_kind		 wakekind;	/* its epoll tag */
	const struct msgd_conf	*conf;
	struct wlistener	*lis;
	int			 nlis;
	struct wctx		 wc;
	struct ops_env		 ops;
	struct spool		 spool;
	struct pool		 pool;		/* file operations, off the loop */
	struct exec_ctx		 exec;
	struct udp_ctx		 udp;
	struct iob		 iob;		/* batched I/O (wc.iob) */
	int			 restricted;	/* protected mode is on */
	struct tls_ctx		*tls;		/* the generation's, or NULL */
	struct stats_slot	*slot;
	const struct stats_seg	*stats;		/* all slots, read-only */
	int			 slotno;	/* ours in it */
	int			 yielding;	/* stepped back (LIS_WATCH) */
	uint32_t		 yield_nconns;	/* connections, last looked */
	uint64_t		 yield_check;	/* 0, or when to look again */
	int			 rescue;	/* the next rescue takes this */
	uint64_t		 yield_taken;	/* their conn_accepted, last look */
	uint64_t		 yield_stall;	/* 0, or since when they took none */
	uint64_t		 accept_resume;	/* 0: accepting */
	uint64_t		 drain_deadline;	/* 0: not draining */
	uint64_t		 max_requests;	/* with jitter, 0: none */
	int			 drain_requested;
	int			 drain_handoff;	/* hand connections over */
	struct ctl_ev {
		enum ev_kind	 kind;	/* EV_CTL */
	}			 ctlev;
	int			 quit;
	pid_t			 master;
	int			 cpu;		/* the loop's, -1: any */
};

/*
 * Register a listener as want says.  Accepting, it is EPOLLEXCLUSIVE: a
 * new connection wakes one worker.  Watching (stepped back), it is
 * edge-triggered and not exclusive: every arrival wakes us once, besides
 * the worker it is for, so that we see when to accept again (an exclusive
 * registration cannot be modified: out, then in again).
 */
static void
lis_set(struct worker *w, struct wlistener *wl, enum lis_reg want)
{
	struct epoll_event	ev;

	if (wl->reg == want)
		return;
	if (wl->reg != LIS_OFF) {
		if (epoll_ctl(w->epfd, EPOLL_CTL_DEL, wl->l->fd, NULL) == -1) {
			log_warn("epoll_ctl(DEL) listener %s",
			    wl->l->addr.text);
			return;
		}
		wl->reg = LIS_OFF;
	}
	if (want == LIS_OFF)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = want == LIS_ACCEPT ? EPOLLIN | EPOLLEXCLUSIVE :
	    EPOLLIN | EPOLLET;
	ev.data.ptr = wl;
	wl->kind = wl->l->dgram ? EV_UDP : EV_LISTENER;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, wl->l->fd, &ev) == -1) {
		log_warn("epoll_ctl(ADD) listener %s", wl->l->addr.text);
		return;
	}
	wl->reg = want;
}

/* Add or remove the listeners from the epoll set (drain, EMFILE pause). */
static void
worker_listen(struct worker *w, int on)
{
	int	i;

	for (i = 0; i < w->nlis; i++)
		lis_set(w, &w->lis[i], on ? LIS_ACCEPT : LIS_OFF);
	w->yielding = 0;
	w->yield_check = 0;
}

/*
 * Whether another accepting worker holds fewer connections than we do,
 * by the counts in the stats segment (each as of its last publish).
 */
static int
worker_over(const struct worker *w, uint64_t *taken)
{
	return (stats_fewer(w->stats, w->slotno, w->wc.nconns, w->wc.now,
	    YIELD_STALE_MS, taken));
}

/*
 * Step back from accepting (yield), or take it up again.  Stepped back,
 * the stream listeners only watch (lis_set) and the kernel wakes the
 * other workers for new connections; our count is published first, so
 * that they see it when they decide.  UDP is not balanced: a datagram
 * holds nothing.
 */
static void
worker_yield(struct worker *w, int yield)
{
	int	i;

	if (yield)
		conn_publish(&w->wc);
	for (i = 0; i < w->nlis; i++)
		if (!w->lis[i].l->dgram && w->lis[i].reg != LIS_OFF)
			lis_set(w, &w->lis[i], yield ? LIS_WATCH : LIS_ACCEPT);
	w->yielding = yield;
	w->yield_nconns = w->wc.nconns;
	w->yield_stall = 0;
	w->rescue = 1;
	if (!yield)
		w->yield_check = 0;
}

/*
 * Refuse a connection past max_connections with a BUSY frame (on a TLS
 * listener none: no frame can go before a handshake, and a handshake is
 * what we refuse to spend).  Input the client already sent is read away
 * first: closing a socket with unread data sends a reset, which can
 * destroy the BUSY frame in flight.
 */
static void
worker_reject(struct worker *w, int fd, int tls)
{
	uint8_t		 frame[MSG_HDR_LEN + 64];
	char		 sink[1024];
	const char	*msg = "too many connections";
	size_t		 mlen = strlen(msg);
	int		 i;

	msg_encode_response(frame, MSG_OP_NONE, MSG_ST_BUSY, 0, 0,
	    (uint32_t)mlen);
	memcpy(frame + MSG_HDR_LEN, msg, mlen);
	/* Counted before the client can read its BUSY. */
	STATS_PEND(&w->wc.pend, w->slot, conn_busy, 1);
	conn_publish(&w->wc);
	/* MSG_DONTWAIT: a socket handed over may hold unsent bytes. */
	if (!tls)
		(void)send(fd, frame, MSG_HDR_LEN + mlen,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)shutdown(fd, SHUT_WR);
	for (i = 0; i < 4; i++)
		if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
			break;
	xfer_close(fd);		/* it may have been handed over */
}

/*
 * Whether listener i takes a PROXY header first.  The master binds the
 * stream listeners in the order of conf->listen (then the UDP ones), so
 * the index is the configuration's.
 */
static int
worker_lis_proxy(const struct worker_args *a, int i)
{
	return (i < a->conf->nlisten && !a->ls[i].dgram &&
	    a->conf->listen_proxy[i]);
}

/*
 * Protected mode: a listener beyond loopback and no token means remote
 * peers get PING only (the master logs how to change that).  A TLS
 * listener that requires client certificates is protected by them.  A
 * "proxy:" listener reaches whatever its balancer reaches, wherever it
 * listens.
 */
static int
worker_protected(const struct worker_args *a)
{
	int	i;

	if (!a->conf->protected_mode || a->conf->auth_set)
		return (0);
	for (i = 0; i < a->nls; i++)
		if ((!net_addr_is_loopback(&a->ls[i].addr) ||
		    worker_lis_proxy(a, i)) &&
		    !conf_certified(a->conf, a->ls[i].tls))
			return (1);
	return (0);
}

/*
 * Accept a bounded batch from one listener; returns how many it took.
 * Out of descriptors (EMFILE, ENFILE) or memory, stop accepting for a
 * moment instead of spinning on a listener that stays readable; the
 * clients we have keep being served.  Holding more connections than
 * another worker after one, step back (the kernel woke us for at least
 * that one: declining it could leave it waiting).  rescue > 0: we stepped
 * back and connections waited all the same; take at most that many.
 */
static int
worker_accept(struct worker *w, struct wlistener *wl, int rescue)
{
	struct sockaddr_storage	ss;
	struct net_peer		peer;
	struct conn		*c;
	socklen_t		slen;
	int			i, fd, n = 0;

	for (i = 0; i < ACCEPT_BATCH && (rescue == 0 || n < rescue); i++) {
		slen = sizeof(ss);
		fd = accept4(wl->l->fd, (struct sockaddr *)&ss, &slen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			switch (errno) {
			case EAGAIN:
#if EAGAIN != EWOULDBLOCK
			case EWOULDBLOCK:
#endif
				goto out;
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				log_warn("accept on %s: pausing accepts for "
				    "%d ms", wl->l->addr.text, ACCEPT_PAUSE_MS);
				worker_listen(w, 0);
				w->accept_resume = w->wc.now + ACCEPT_PAUSE_MS;
				return (n);
			default:
				log_warn("accept on %s", wl->l->addr.text);
				return (n);
			}
		}
		net_peer_set(&peer, (struct sockaddr *)&ss, slen);
		/*
		 * A PROXY listener: only a trusted balancer may connect; the
		 * allow list judges the client its header names.
		 */
		if (wl->proxy && (w->conf->nproxy_trusted == 0 ||
		    !net_peer_allowed(w->conf->proxy_trusted,
		    w->conf->nproxy_trusted, &peer))) {
			STATS_PEND(&w->wc.pend, w->slot, proxy_untrusted, 1);
			conn_publish(&w->wc);	/* before the peer sees it */
			close(fd);
			continue;
		}
		if (!wl->proxy &&
		    !net_peer_allowed(w->conf->allow, w->conf->nallow, &peer)) {
			STATS_PEND(&w->wc.pend, w->slot, allow_rejected, 1);
			conn_publish(&w->wc);	/* before the peer sees it */
			close(fd);
			continue;
		}
		if (w->wc.nconns >= w->conf->max_connections) {
			/*
			 * Full.  EPOLLEXCLUSIVE would keep waking us for
			 * every new connection, so step aside for a moment:
			 * workers with room take the queue meanwhile, and if
			 * the whole pool is full, clients get BUSY from
			 * whoever comes back first.
			 */
			worker_reject(w, fd, wl->l->tls);
			worker_listen(w, 0);
			w->accept_resume = w->wc.now + ACCEPT_PAUSE_MS;
			return (n);
		}
		if ((c = conn_new(&w->wc, fd, &peer, !wl->proxy &&
		    w->restricted && !net_peer_is_loopback(&peer) &&
		    !conf_certified(w->conf, wl->l->tls))) == NULL) {
			close(fd);
			continue;
		}
		n++;
		/* The header comes before TLS: HAProxy sends it first. */
		if (wl->proxy)
			conn_proxy(&w->wc, c, w->restricted &&
			    !conf_certified(w->conf, wl->l->tls));
		/* A failure closed it (and counted nothing else). */
		if (wl->l->tls)
			(void)conn_tls(&w->wc, c, w->tls);
		if (rescue == 0 && !w->yielding && worker_over(w, NULL)) {
			worker_yield(w, 1);
			return (n);
		}
	}
out:
	/* The others decide on our count: show it now, not at the turn's end. */
	if (n > 0)
		conn_publish(&w->wc);
	return (n);
}

/* Whether a connection waits on a stream listener we watch. */
static int
worker_waiting(const struct worker *w)
{
	struct pollfd	pfd;
	int		i;

	for (i = 0; i < w->nlis; i++) {
		if (w->lis[i].reg != LIS_WATCH)
			continue;
		pfd.fd = w->lis[i].l->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN))
			return (1);
	}
	return (0);
}

/*
 * Stepped back, look again: when a recheck is due (probe), on an arrival
 * and after our own closes.  Back to accepting once no accepting worker
 * holds fewer connections than we do.  Otherwise, at a recheck, while
 * connections wait: the workers we yield to are taking them as long as
 * their conn_accepted moves, and one that was only late (not scheduled
 * yet on a busy machine) takes them when it runs.  Once they have taken
 * none for RESCUE_AFTER_MS, they are not taking them (stopped, stuck, or
 * paused out of descriptors), and accepting must never stop altogether:
 * take them ourselves, one connection first, twice as many at each
 * recheck that finds more, so that a stopped worker soon costs none of
 * the throughput.
 */
static void
worker_rebalance(struct worker *w, int probe)
{
	uint64_t	taken;
	int		i, n = 0;

	w->yield_nconns = w->wc.nconns;
	if (!worker_over(w, &taken)) {
		worker_yield(w, 0);
		return;
	}
	if (!probe)
		return;
	if (!worker_waiting(w)) {
		/* Taken: the next arrival wakes us. */
		w->yield_stall = 0;
		w->rescue = 1;
		return;
	}
	w->yield_check = w->wc.now + YIELD_RECHECK_MS;
	if (w->yield_stall == 0 || taken != w->yield_taken) {
		w->yield_stall = w->wc.now;
		w->yield_taken = taken;
		w->rescue = 1;
		return;
	}
	if (w->wc.now - w->yield_stall < RESCUE_AFTER_MS)
		return;
	for (i = 0; i < w->nlis; i++)
		if (w->lis[i].reg == LIS_WATCH)
			n += worker_accept(w, &w->lis[i], w->rescue);
	if (n > 0 && w->rescue < ACCEPT_BATCH)
		w->rescue *= 2;
}

/*
 * A listener's event: accept, or, stepped back, an arrival for another
 * worker.  Someone took a connection: accept again if we may now, else
 * look again shortly (the recheck that rescues what nobody takes).
 */
static void
worker_listener(struct worker *w, struct wlistener *wl)
{
	if (wl->reg != LIS_WATCH) {
		worker_accept(w, wl, 0);
		return;
	}
	worker_rebalance(w, 0);
	if (!w->yielding)
		worker_accept(w, wl, 0);
	else if (w->yield_check == 0)
		w->yield_check = w->wc.now + YIELD_RECHECK_MS;
}

/* For the STATS op: publish this worker's pending counters. */
static void
worker_publish(void *arg)
{
	conn_publish(arg);
}

/*
 * Take the connections the master passes us from retiring workers.
 * Returns 1 when it stopped at its batch size (more may be waiting).
 */
static int
worker_adopt(struct worker *w)
{
	struct xfer_info	info;
	int			fd, i, rc;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		if ((rc = xfer_recv(w->wc.handoff_fd, &fd, &info)) == 0)
			return (0);
		if (rc == -1) {
			/* The master is gone: no more hand-overs. */
			epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->wc.handoff_fd,
			    NULL);
			close(w->wc.handoff_fd);
			w->wc.handoff_fd = -1;
			return (0);
		}
		if (rc == -2) {
			log_warnx("a handed-over connection was lost: no "
			    "descriptor left for it (RLIMIT_NOFILE)");
			continue;
		}
		if (rc == -3) {
			log_warnx("the master sent a hand-over without "
			    "exactly one socket: what came was closed");
			continue;
		}
		if (w->drain_deadline != 0) {
			/*
			 * Sent to us before we were retired: pass it back for
			 * a serving worker (closing it would drop its client).
			 */
			if (!w->drain_handoff ||
			    xfer_send(w->wc.handoff_fd, fd, &info) == -1)
				log_debug("a handed-over connection is closed "
				    "by a stopping worker");
			xfer_close(fd);
			continue;
		}
		if (!net_peer_allowed(w->conf->allow, w->conf->nallow,
		    &info.peer)) {
			/* The new allow list excludes this peer. */
			STATS_PEND(&w->wc.pend, w->slot, allow_rejected, 1);
			conn_publish(&w->wc);	/* before the peer sees it */
			xfer_close(fd);
		} else if (w->wc.nconns >= w->conf->max_connections)
			worker_reject(w, fd, 0);
		else if (conn_adopt(&w->wc, fd, &info, w->restricted &&
		    !net_peer_is_loopback(&info.peer)) == -1)
			xfer_close(fd);
	}
	return (1);
}

/* Begin a graceful stop: no new connections, finish what was read. */
static void
worker_drain(struct worker *w)
{
	int	i;

	if (w->drain_deadline != 0)
		return;
	log_debug("draining %u connections", w->wc.nconns);
	w->drain_deadline = w->wc.now + w->conf->shutdown_timeout_ms;
	stats_slot_state(w->slot, STATS_DRAINING);
	w->accept_resume = 0;
	worker_listen(w, 0);
	/* Our copies only: the master keeps the listeners open. */
	for (i = 0; i < w->nlis; i++) {
		close(w->lis[i].l->fd);
		w->lis[i].l->fd = -1;
	}
	/*
	 * Idle connections get half the shutdown time (at most 5 s) to send
	 * a last request before they are closed: closing an idle connection
	 * always races a request the client may be sending just then.
	 */
	conn_drain_all(&w->wc, w->conf->shutdown_timeout_ms / 2 <
	    DRAIN_GRACE_MS ? w->conf->shutdown_timeout_ms / 2 : DRAIN_GRACE_MS,
	    w->drain_handoff);
}

/* Read the signals waiting in the signalfd; note what each asks for. */
static void
worker_signal(struct worker *w)
{
	struct signalfd_siginfo	si;
	ssize_t			n;

	while ((n = read(w->sigfd, &si, sizeof(si))) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
			/* Acted on after the event batch: draining closes
			 * connections the batch may still point at. */
			w->drain_requested = 1;
			break;
		case SIGUSR2:
			/* Retired by a reload: hand connections over. */
			w->drain_requested = 1;
			w->drain_handoff = 1;
			break;
		case SIGQUIT:
			w->quit = 1;
			break;
		case SIGUSR1:
			if (w->conf->log_target == LOG_TO_FILE &&
			    log_reopen(w->conf->log_file) == -1)
				log_warn("reopen %s", w->conf->log_file);
			break;
		default:
			break;
		}
	}
}

/*
 * Signals: SIGTERM drains, SIGQUIT quits now, all through a signalfd.
 * SIGINT and SIGHUP are the master's (a terminal's Ctrl-C reaches the whole
 * process group; the master decides and tells us).
 */
static int
worker_signals(void)
{
	sigset_t	set;
	int		fd;

	/*
	 * Inherited from the master: its signals are blocked.  Ignore the
	 * master's own first, then swap the whole mask at once, so that no
	 * signal ever finds a default action that would kill us.
	 */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	if ((fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	if (sigprocmask(SIG_SETMASK, &set, NULL) == -1)
		fatal("sigprocmask");
	return (fd);
}

/*
 * The master's pid, as the probe's socketpair recorded its maker before
 * fork: getppid() could already name init if the master died while we
 * were being born, and then the check below would pass.
 */
static pid_t
worker_master_pid(int probe)
{
	struct ucred	uc;
	socklen_t	len = sizeof(uc);

	if (probe != -1 && getsockopt(probe, SOL_SOCKET, SO_PEERCRED, &uc,
	    &len) == 0 && uc.pid > 0)
		return (uc.pid);
	return (getppid());
}

/*
 * max_requests with up to 10% per-worker jitter, so a pool started
 * together does not recycle together.
 */
static uint64_t
worker_max_requests(uint32_t max, int slot)
{
	uint64_t	x;

	if (max == 0)
		return (0);
	/* A fixed mix of pid and slot: cheap, and differs per worker. */
	x = ((uint64_t)getpid() << 16 ^ (uint64_t)slot) * 0x9e3779b97f4a7c15ULL;
	return ((uint64_t)max + (x >> 33) % ((uint64_t)max / 10 + 1));
}

/*
 * Who we are (log name, process title), signals through the signalfd, the
 * parent-death signal and the allocator's thresholds: what comes before
 * anything that could fail.
 */
static void
worker_begin(struct worker *w, const struct worker_args *a)
{
	char	title[32];

	memset(w, 0, sizeof(*w));
	w->id = a->pos;
	w->conf = a->conf;
	snprintf(title, sizeof(title), "worker %d", a->pos);
	log_procname(title);
	proctitle_set("msgd: worker %d", a->pos);

	w->master = worker_master_pid(a->probe);
	w->sigfd = worker_signals();
	if (timer_wake_open(&w->wake) == -1)
		log_warn("timerfd_create: deadlines by epoll_wait timeouts");
	priv_deathsig(w->master);
	/*
	 * Large bodies come and go with requests: keep their memory in the
	 * heap instead of mmap/munmap and trimming each time (page faults on
	 * every large request otherwise).  Bounded by what max_body allows.
	 */
	mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
}

/*
 * Map our stats slot, drop privileges (the parent-death signal is armed
 * again: the drop cleared it) and mark the slot started.
 */
static void
worker_drop(struct worker *w, const struct worker_args *a)
{
	char	cause[256];

	/* Write access to our own stats slot only, from here on. */
	if (stats_worker_map(a->stats, a->slot, cause, sizeof(cause)) == -1) {
		log_warnx("%s", cause);
		exit(WORKER_EXIT_FATAL);
	}
	priv_become(a->priv, w->master, WORKER_EXIT_FATAL);
	w->stats = a->stats;
	w->slotno = a->slot;
	if ((w->slot = stats_slot(a->stats, a->slot)) == NULL) {
		log_warnx("no stats slot %d", a->slot);
		exit(WORKER_EXIT_FATAL);
	}
	stats_slot_start(w->slot, (int)getpid(), a->generation);
	log_setlevel(a->conf->log_level);
}

/* The files directory, as the dropped user (files.enabled). */
static void
worker_spool(struct worker *w, const struct msgd_conf *conf)
{
	char	cause[256];

	w->spool.dirfd = w->spool.lockfd = -1;
	if (!conf->files_enabled)
		return;
	if (spool_open(&w->spool, conf->files_dir, cause,
	    sizeof(cause)) == -1) {
		log_warnx("%s", cause);
		exit(WORKER_EXIT_FATAL);
	}
	w->spool.max_size = conf->files_max_size;
	w->spool.max_count = conf->files_max_count;
	w->spool.max_resp = conf->max_body;
	w->ops.spool = &w->spool;
	/* Its threads start once the worker is sandboxed (worker_main). */
	if (pool_init(&w->pool, (int)conf->files_threads,
	    conf->files_queue) == -1)
		fatal("file operations' thread pool");
	w->ops.pool = &w->pool;
	w->ops.file_done = conn_file_done;
}

/*
 * The ring for batched socket I/O (iob.c), made before the filter, which
 * allows no second one.  Where the kernel refuses it (too old, disabled
 * by sysctl, filtered in a container), each receive and send is its own
 * system call, as with io_uring = false; worker 0 says so once.
 */
static void
worker_iob(struct worker *w, const struct worker_args *a)
{
	if (!a->conf->io_uring)
		return;
	if (iob_open(&w->iob) == -1) {
		if (a->pos == 0)
			log_info("io_uring not available (%s): one system "
			    "call per receive and send", strerror(errno));
		return;
	}
	w->wc.iob = &w->iob;
}

/*
 * cpu_affinity = auto: worker N's loop keeps to the N-th CPU msgd may use
 * (round again past the last), when the workers share those CPUs evenly
 * (their count a multiple of the CPUs'); else one CPU would hold more
 * loops than another for good, or loops would crowd the first CPUs of a
 * large machine, where the scheduler spreads them better.  Chosen at the
 * worker's start, before the filter (which does not allow reading the
 * affinity); applied by worker_pin.
 */
static void
worker_cpu(struct worker *w, const struct worker_args *a)
{
	int	count;

	w->cpu = -1;
	if (a->conf->cpu_affinity != CONF_AFFINITY_AUTO)
		return;
	if (cpu_nth(a->pos, &w->cpu, &count) == -1) {
		w->cpu = -1;
		log_warn("cpu_affinity: cannot tell which CPUs to use");
		return;
	}
	if (a->nworkers % count != 0) {
		w->cpu = -1;
		if (a->pos == 0)
			log_info("cpu_affinity: %d workers on %d CPUs: "
			    "not kept to one each", a->nworkers, count);
	}
}

/*
 * Keep the loop's thread on its CPU (worker_cpu).  Unpinned, two busy
 * workers on two CPUs shared with their clients are moved between them
 * every few requests and find their caches cold (bench/README.md,
 * "cpu_affinity").  The loop's thread only: the file operations' threads
 * (started before) and the EXEC spawner (forked before) may run on every
 * CPU, so the scheduler can move a LIST's sorting or a command off the
 * loop's CPU.
 */
static void
worker_pin(struct worker *w)
{
	cpu_set_t	*set;
	size_t		 size;

	if (w->cpu == -1)
		return;
	/* Sized for the CPU's number: there may be more than CPU_SETSIZE. */
	if ((set = CPU_ALLOC(w->cpu + 1)) == NULL) {
		log_warn("cpu_affinity");
		return;
	}
	size = CPU_ALLOC_SIZE(w->cpu + 1);
	CPU_ZERO_S(size, set);
	CPU_SET_S(w->cpu, size, set);
	/* pid 0: this thread; the filter allows no other. */
	if (sched_setaffinity(0, size, set) == -1)
		log_warn("cpu_affinity: cannot keep to CPU %d", w->cpu);
	else
		log_debug("on CPU %d", w->cpu);
	CPU_FREE(set);
}

/*
 * What requests are served with: the operations' environment, the epoll
 * set, the request context, EXEC (its spawner is forked here, before the
 * filter) and the UDP buffers.
 */
static void
worker_setup(struct worker *w, const struct worker_args *a)
{
	const struct msgd_conf	*conf = a->conf;

	w->ops.stats = a->stats;
	w->ops.conf = conf;
	w->tls = a->tls;
	worker_spool(w, conf);
	w->restricted = worker_protected(a);
	w->max_requests = worker_max_requests(conf->max_requests, a->slot);
	if ((w->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	wctx_init(&w->wc, w->epfd, conf->max_body, conf->output_limit,
	    conf->idle_timeout_ms, conf->read_timeout_ms, w->slot, &w->ops);
	if (conf->buffer_budget > 0)
		w->wc.budget = conf->buffer_budget;
	w->ops.publish = worker_publish;
	w->ops.publish_arg = &w->wc;
	w->wc.now = w->ops.now = mono_ms();
	if (conf->exec_enabled) {
		exec_init(&w->exec, w->epfd, conf);
		w->ops.exec = &w->exec;
		w->ops.exec_done = conn_exec_done;
	}
	if (conf->nudp > 0 && udp_init(&w->udp, w->restricted) == -1)
		fatal("udp buffers");
	worker_iob(w, a);
}

/* Wait for input on fd; tag is what the loop finds in the event. */
static void
worker_watch(struct worker *w, int fd, enum ev_kind *tag, const char *what)
{
	struct epoll_event	ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = tag;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		fatal("epoll_ctl(%s)", what);
}

/*
 * What the loop waits on: the signalfd, the listeners, the hand-over
 * channel, the file jobs' eventfd and the master's start-up probe.
 */
static void
worker_register(struct worker *w, const struct worker_args *a)
{
	int	i;

	w->sigkind = EV_SIGNAL;
	worker_watch(w, w->sigfd, &w->sigkind, "signalfd");
	w->wakekind = EV_TIMER;
	if (w->wake.fd != -1)
		worker_watch(w, w->wake.fd, &w->wakekind, "timerfd");

	if ((w->lis = calloc((size_t)a->nls, sizeof(*w->lis))) == NULL)
		fatal("calloc");
	w->nlis = a->nls;
	for (i = 0; i < a->nls; i++) {
		w->lis[i].kind = EV_LISTENER;
		w->lis[i].l = &a->ls[i];
		w->lis[i].proxy = worker_lis_proxy(a, i);
	}
	worker_listen(w, 1);
	/* Connections handed over by old workers arrive on ctl. */
	w->wc.handoff_fd = a->ctl;
	if (a->ctl != -1) {
		w->ctlev.kind = EV_CTL;
		worker_watch(w, a->ctl, &w->ctlev.kind, "ctl");
	}
	if (w->ops.pool != NULL)
		worker_watch(w, w->pool.efd, &w->pool.kind, "pool");
	/* The master's PING on this private connection says we serve. */
	if (a->probe != -1 && conn_new(&w->wc, a->probe, NULL, 0) == NULL)
		fatalx("cannot serve the start-up probe");
}

/*
 * Last, once set up (the spawner is forked, every descriptor open):
 * from here on only what a serving worker needs.  Landlock first (its
 * calls are not in the filter): no ptrace-access, so no
 * /proc/<pid>/mem, to the spawner, the commands or the master.
 * Without Landlock in the kernel, worker 0 says so once and all go on.
 */
static void
worker_sandbox(const struct worker_args *a)
{
	sandbox_enter(a->note, a->pos == 0, WORKER_EXIT_FATAL);
}

/*
 * Connections handed over that the master has not taken yet: it holds only
 * so many at once (proc_xfer_max) and takes the rest as its workers take
 * what it holds, so they wait in the channel, and would close with it if
 * we exited now.
 */
static int
worker_handing(const struct worker *w)
{
	int	n;

	if (!w->drain_handoff || w->wc.handoff_fd == -1)
		return (0);
	return (ioctl(w->wc.handoff_fd, SIOCOUTQ, &n) == 0 && n > 0);
}

/*
 * Draining is over: every connection closed or handed over and taken, or
 * its time is up.
 */
static int
worker_drained(const struct worker *w)
{
	if (w->drain_deadline == 0)
		return (0);
	if (w->wc.now >= w->drain_deadline)
		return (1);
	return (w->wc.nconns == 0 && !worker_handing(w));
}

/*
 * Act on the deadlines that passed (connections, commands, the accept
 * pause); returns how long the loop may sleep, in ms.
 */
static int
worker_expire(struct worker *w)
{
	int	wait, n;

	wait = conn_expire(&w->wc);
	if (w->ops.exec != NULL && (n = exec_expire(&w->exec,
	    w->wc.now)) >= 0 && (wait < 0 || n < wait))
		wait = n;
	if (w->yield_check != 0 && w->wc.now >= w->yield_check) {
		w->yield_check = 0;
		worker_rebalance(w, 1);
	}
	if (w->yield_check != 0 && (wait < 0 ||
	    w->yield_check - w->wc.now < (uint64_t)wait))
		wait = (int)(w->yield_check - w->wc.now);
	if (w->accept_resume != 0) {
		if (w->wc.now >= w->accept_resume) {
			w->accept_resume = 0;
			worker_listen(w, 1);
		} else if (wait < 0 ||
		    w->accept_resume - w->wc.now < (uint64_t)wait)
			wait = (int)(w->accept_resume - w->wc.now);
	}
	if (w->drain_deadline != 0 && (wait < 0 ||
	    w->drain_deadline - w->wc.now < (uint64_t)wait))
		wait = (int)(w->drain_deadline - w->wc.now);
	/* Nothing tells us when the master takes them: look again soon. */
	if (w->drain_deadline != 0 && w->wc.nconns == 0 && (wait < 0 ||
	    wait > HANDOFF_LOOK_MS) && worker_handing(w))
		wait = HANDOFF_LOOK_MS;
	if (wait < 0 || wait > 1000)
		wait = 1000;	/* heartbeat (stats) */
	return (wait);
}

/* One event of the batch, to whoever owns what it names. */
static void
worker_event(struct worker *w, enum ev_kind *kind, uint32_t events)
{
	switch (*kind) {
	case EV_CONN:
		conn_event(&w->wc, (struct conn *)kind, events);
		break;
	case EV_LISTENER:
		if (w->drain_deadline == 0)
			worker_listener(w, (struct wlistener *)kind);
		break;
	case EV_UDP:
		if (w->drain_deadline == 0)
			udp_event(&w->udp, &w->wc,
			    ((struct wlistener *)kind)->l->fd);
		break;
	case EV_CTL:
		worker_adopt(w);
		break;
	case EV_JOB:
		exec_event(&w->exec, (struct exec_fd *)kind, events,
		    w->wc.now);
		break;
	case EV_POOL:
		pool_event(&w->pool);
		break;
	case EV_SIGNAL:
		worker_signal(w);
		break;
	case EV_TIMER:
		timer_wake_fired(&w->wake);
		break;
	case EV_DEAD:
		break;	/* closed earlier in this batch */
	}
}

/*
 * After a batch: budget waiters, what the batch closed, recycling and
 * drain requests, the lazy publish of counters.
 */
static void
worker_batch_end(struct worker *w)
{
	/* Memory given back: frames waiting for it go on. */
	if (!TAILQ_EMPTY(&w->wc.budget_wait))
		conn_budget(&w->wc);
	/* Nothing in evs[] names them any more. */
	conn_reap(&w->wc);
	/* Stepped back and closed some: perhaps no longer over our share. */
	if (w->yielding && w->wc.nconns < w->yield_nconns)
		worker_rebalance(w, 0);
	if (w->ops.exec != NULL)
		exec_reap(&w->exec);
	if (w->max_requests != 0 && w->wc.answered >= w->max_requests &&
	    w->drain_deadline == 0) {
		log_info("recycling after %llu requests (max_requests)",
		    (unsigned long long)w->wc.answered);
		w->drain_requested = 1;
		w->drain_handoff = 1;
	}
	if (w->drain_requested) {
		w->drain_requested = 0;
		worker_drain(w);
		/*
		 * The SIGTERM came from the kernel because the master
		 * died: nobody supervises us, so finish quickly.
		 */
		if (getppid() != w->master && w->drain_deadline >
		    w->wc.now + ORPHAN_DRAIN_MS)
			w->drain_deadline = w->wc.now + ORPHAN_DRAIN_MS;
	}
	conn_publish_end(&w->wc);
	if (w->drain_deadline == 0)
		stats_slot_state(w->slot, STATS_IDLE);
}

/* One turn of the loop: deadlines, one wait, its batch, what follows. */
static void
worker_turn(struct worker *w)
{
	struct epoll_event	 evs[MAX_EVENTS];
	int			 batch, i, k, n, wait;

	wait = worker_expire(w);
	n = epoll_wait(w->epfd, evs, MAX_EVENTS,
	    timer_wake_wait(&w->wake, w->wc.now, wait));
	w->wc.now_us = STATS_CLOCK();
	w->wc.now = w->wc.now_us != 0 ? w->wc.now_us / 1000 : mono_ms();
	/*
	 * The operations' clock too: an EXEC's deadline counts from it, and
	 * a request read in this turn must not start from the time before
	 * the wait (up to a second ago: a command killed at once).
	 */
	w->ops.now = w->wc.now;
	stats_beat(w->slot, w->wc.now);
	if (n == -1) {
		if (errno == EINTR)
			return;
		fatal("epoll_wait");
	}
	if (n > 0 && w->drain_deadline == 0)
		stats_slot_state(w->slot, STATS_BUSY);
	/*
	 * Connections ready: their receives, then their sends, in one call
	 * each (iob.c); for one, a call each costs no more.
	 */
	for (i = 0, k = 0; i < n && k < 2 && w->wc.iob != NULL; i++)
		k += *(enum ev_kind *)evs[i].data.ptr == EV_CONN;
	if ((batch = k > 1)) {
		for (i = 0, k = 0; i < n; i++)
			if (*(enum ev_kind *)evs[i].data.ptr == EV_CONN)
				k += conn_batch_read(&w->wc,
				    evs[i].data.ptr, evs[i].events);
		conn_batch_reads(&w->wc, k);
	}
	for (i = 0; i < n; i++)
		worker_event(w, evs[i].data.ptr, evs[i].events);
	if (batch)
		conn_batch_end(&w->wc);
	worker_batch_end(w);
}

/*
 * The loop is over: connections still queued for us go back (and are
 * waited for until the master has taken them, within the drain's time),
 * the rest close, the counters are published and the commands killed.
 */
static void __attribute__((noreturn))
worker_exit(struct worker *w)
{
	int	i;

	for (i = 0; i < 1024 && w->wc.handoff_fd != -1 && worker_adopt(w);
	    i++)
		;
	/* What that passed back must reach the master before we go. */
	while (!w->quit && worker_handing(w) && mono_ms() < w->drain_deadline)
		(void)poll(NULL, 0, HANDOFF_LOOK_MS);
	if (w->wc.nconns > 0)
		log_info("stopping with %u connections still open",
		    w->wc.nconns);
	conn_close_all(&w->wc);
	conn_publish(&w->wc);
	if (w->ops.exec != NULL)
		exec_shutdown(&w->exec);
	/* A PUT between its write and its rename is let finish (bounded). */
	if (w->ops.pool != NULL && pool_shutdown(&w->pool, POOL_STOP_MS) == -1)
		log_warnx("exiting while a file operation still runs");
	log_debug("exiting");
	exit(0);
}

/* Run a worker until drained; never returns. */
void
worker_main(const struct worker_args *a)
{
	struct worker	w;

	worker_begin(&w, a);
	worker_drop(&w, a);
	worker_cpu(&w, a);
	worker_setup(&w, a);
	worker_register(&w, a);
	worker_sandbox(a);
	/*
	 * After the sandbox: a thread inherits the seccomp filter and the
	 * Landlock domain only from the thread that creates it, and both
	 * apply to the calling thread alone.
	 */
	if (w.ops.pool != NULL && pool_start(&w.pool) == -1)
		fatal("cannot start the file operations' threads");
	worker_pin(&w);
	stats_slot_state(w.slot, STATS_IDLE);
	log_debug("serving");
	while (!w.quit && !worker_drained(&w))
		worker_turn(&w);
	worker_exit(&w);
}

/*
 * conn.c: per-connection buffers, framing, in-order answers, backpressure,
 * deadlines and close rules.
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "ops.h"
#include "proto.h"
#include "proxy.h"
#include "util.h"

#define CONN_READS_PER_EVENT	8	/* fairness between connections */
#define CONN_LINGER_MAX		65536	/* input discarded while closing */
#define CONN_HANDOFF_RETRY_MS	10	/* hand-over channel full: wait */
#define CONN_READY_TURN		1024	/* conns served from wc->ready per
					   loop turn */
#define CONN_SPLICE_MIN		(64 * 1024) /* ECHO bodies spliced from */
#define CONN_SPLICE_MAX		64	/* connections splicing at once */
#define CONN_SPLICES_PER_EVENT	16	/* fairness, as CONN_READS_PER_EVENT */
/* Plain TCP: edge-triggered, ends and urgent data reported (conn_interest). */
#define CONN_EDGE	(EPOLLET | EPOLLRDHUP | EPOLLPRI)

#define CF_CLOSING	0x01	/* answer what is queued, then close */
#define CF_LINGER	0x02	/* output done, SHUT_WR sent, eating input */
#define CF_PAUSED	0x04	/* not reading: output over the limit */
#define CF_EOF		0x08	/* peer finished sending */
#define CF_AUTHED	0x20	/* passed AUTH */
#define CF_RESTRICTED	0x40	/* protected mode: only PING */
#define CF_WAITING	0x80	/* an EXEC or file answer is pending */
#define CF_DRAINWAIT	0x100	/* draining, idle: close after an answer */
#define CF_ADOPTED	0x200	/* handed over: another process may hold it */
#define CF_PROBED	0x400	/* TCP FIN while an EXEC runs: probe sent */
#define CF_BUDGET	0x800	/* not reading: waits for buffer_budget */
#define CF_HANDSHAKE	0x1000	/* TLS: handshake in progress */
#define CF_HS_WRITE	0x2000	/* the handshake waits to write */
#define CF_TLS_RW	0x4000	/* TLS: reading waits to write */
#define CF_TLS_WR	0x8000	/* TLS: writing waits to read */
#define CF_READY	0x10000	/* on wc->ready */
#define CF_TLS_SHUT	0x20000	/* close_notify sent */
#define CF_PROXY	0x40000	/* a PROXY header must come first */
#define CF_PROXY_GUARD	0x80000	/* protected mode if the client is remote */
#define CF_TLS_DRY	0x100000 /* TLS: the last read waited for the socket */
#define CF_SPLICE	0x200000 /* an ECHO's body goes through c->pipe */
#define CF_SPILL	0x400000 /* CF_SPLICE, the client not reading: the
				    rest of the body is read into c->in */
#define CF_RDMORE	0x800000 /* input reported, not yet read to the end */
#define CF_RDHUP	0x1000000 /* epoll reported the peer's end */
#define CF_TCP		0x2000000 /* a TCP socket (else unix) */
#define CF_URG		0x4000000 /* TCP urgent data came, maybe not read
				     past: reads stop at its mark, short of
				     the end (conn_read) */
#define CF_URGWAIT	0x8000000 /* a read at the mark was refused: the
				     next looks again (conn_urgent_refused) */
#define CF_MOVED	0x10000000 /* this event read or sent bytes
				      (conn_idle) */
#define CF_PREREAD	0x10	/* the batch made conn_read's first recv:
				   its result is in c->io_res */
#define CF_PARKED	0x20000000 /* on wc->parked: its send is in the
				      batch, conn_batch_end ends the
				      event */
#define CF_SENT		0x40000000 /* the batch made conn_flush's first
				      send: its result is in c->io_res */

/*
 * The fields every request touches come first, together (up to ssl), so
 * that an event on one of many connections misses the cache on few lines.
 * perf at C=500 put a fifth of conn_event's time on the first load of
 * c->out; cachegrind at C=500 counted a fifth fewer L1 misses per
 * request once these came first.
 */
struct conn {
	enum ev_kind		 kind;	/* EV_CONN: must stay first */
	int			 fd;
	uint32_t		 flags;
	uint32_t		 events;	/* registered with epoll */
	uint32_t		 skip;	/* body bytes still to discard */
	uint32_t		 need;	/* frame being read, admitted to the budget */
	uint64_t		 charge;	/* budget bytes held, as last counted */
	struct buf		 in;
	struct buf		 out;
	struct timer		 timer;
	struct wctx		*wc;
	struct ssl_st		*ssl;	/* TLS, or NULL */
	/* For crash forensics (stats_current), logs and the hand-over. */
	struct net_peer		 peer;
	uint32_t		 lingered;
	uint32_t		 wait_id;	/* request id of the EXEC or file op */
	uint8_t			 wait_op;	/* and its opcode */
	uint32_t		 early;	/* bytes of its answer already sent */
	uint32_t		 wait_need;	/* frame waiting for the budget */
	uint64_t		 wait_t0;	/* its start, for the latency */
	/* CF_SPLICE: the ECHO whose body goes socket -> pipe -> socket. */
	uint32_t		 splice_in;	/* body bytes still to come */
	uint32_t		 splice_held;	/* bytes in the pipe */
	uint64_t		 splice_t0;	/* its start, for the latency */
	uint8_t			 splice_op;
	int			 pipe[2];
	struct exec_job		*job;
	struct file_job		*fjob;	/* a pool thread runs it */
	TAILQ_ENTRY(conn)	 entry;
	TAILQ_ENTRY(conn)	 wentry;	/* on wc->budget_wait */
	TAILQ_ENTRY(conn)	 rentry;	/* on wc->ready */
	/* Batched I/O (conn_batch_reads, conn_batch_end). */
	TAILQ_ENTRY(conn)	 pentry;	/* on wc->parked */
	void			*io_op;		/* its send, queued */
	int			 io_res;	/* as recv or send, or -errno */
	int			 pre_at;	/* 1 + its index in wc->pre, or 0 */
};
_Static_assert(offsetof(struct conn, kind) == 0, "ev.h: kind comes first");
_Static_assert(offsetof(struct conn, ssl) + sizeof(void *) <= 144,
    "the fields every request touches stay together at the front");

#define timer_conn(t) \
	((struct conn *)((char *)(t) - offsetof(struct conn, timer)))

static void	conn_close(struct wctx *, struct conn *);
static int	conn_event_end(struct wctx *, struct conn *, int);
static int	conn_park(struct wctx *, struct conn *);
static void	conn_trim(struct wctx *);
static void	conn_probe(struct conn *);
static int	conn_handoff(struct wctx *, const struct conn *);
static void	conn_peer_str(const struct conn *, char *, size_t);

void
wctx_init(struct wctx *wc, int epfd, uint32_t max_body,
    uint64_t output_limit, uint32_t idle_ms, uint32_t read_ms,
    struct stats_slot *slot, struct ops_env *ops)
{
	memset(wc, 0, sizeof(*wc));
	wc->handoff_fd = -1;
	wc->slot = slot;
	wc->ops = ops;
	wc->epfd = epfd;
	wc->max_body = max_body;
	wc->output_limit = output_limit;
	wc->budget = UINT64_MAX;	/* none unless the worker sets one */
	wc->idle_ms = idle_ms;
	timer_list_init(&wc->tl[CONN_TL_IDLE], idle_ms);
	timer_list_init(&wc->tl[CONN_TL_FRAME], read_ms);
	timer_list_init(&wc->tl[CONN_TL_LINGER], CONN_LINGER_MS);
	timer_list_init(&wc->tl[CONN_TL_DRAIN], 0);
	TAILQ_INIT(&wc->all);
	TAILQ_INIT(&wc->dead);
	TAILQ_INIT(&wc->budget_wait);
	TAILQ_INIT(&wc->ready);
	TAILQ_INIT(&wc->parked);
	pipes_init(&wc->pipes, CONN_SPLICE_MAX);
}

/*
 * The budget bytes c holds: what its buffers take beyond one standard
 * block each (every connection may have those), or, while a frame larger
 * than a block is read, the whole frame, admitted before its body comes.
 */
static uint64_t
conn_held(const struct conn *c)
{
	size_t	in = c->in.cap > BUF_STD ? c->in.cap - BUF_STD : 0;
	size_t	out = c->out.cap > BUF_STD ? c->out.cap - BUF_STD : 0;
	size_t	resv = c->need > BUF_STD ? c->need - BUF_STD : 0;

	return ((uint64_t)(in > resv ? in : resv) + out);
}

/* Bring the worker's total up to date with c's buffers. */
static void
conn_account(struct wctx *wc, struct conn *c)
{
	uint64_t	h = conn_held(c);

	wc->held = wc->held - c->charge + h;
	c->charge = h;
}

/* Would reading a frame of need bytes keep the worker within budget? */
static int
conn_fits(const struct wctx *wc, struct conn *c, uint32_t need)
{
	uint64_t	h;
	uint32_t	old = c->need;

	c->need = need;
	h = conn_held(c);
	c->need = old;
	return (h <= c->charge || wc->held - c->charge + h <= wc->budget);
}

/*
 * A frame larger than a block was announced: admit it to the budget, or
 * make the connection wait, unread, until memory is given back (first come
 * first served; read_timeout still runs from the frame's first byte).
 * Admitting the whole frame up front means frames in progress can always
 * finish: two half-read frames never wait for each other.  Returns 0 when
 * admitted.
 */
static int
conn_admit(struct wctx *wc, struct conn *c, uint32_t need)
{
	if (!conn_fits(wc, c, need)) {
		c->wait_need = need;
		c->flags |= CF_BUDGET;
		TAILQ_INSERT_TAIL(&wc->budget_wait, c, wentry);
		STATS_PEND(&wc->pend, wc->slot, buffer_budget_waits, 1);
		return (-1);
	}
	c->need = need;
	conn_account(wc, c);
	return (0);
}

/*
 * A file job took a frame's bytes (the input buffer or a copy): they stay
 * charged to the worker's budget until the job is freed, answered or
 * cancelled (ops.c's file_free gives them back), so frames queued for the
 * pool cannot take a worker past buffer_budget.  A GET's answer is
 * counted as the connection's output once the loop collects it.
 */
static void
conn_charge_job(struct wctx *wc, struct file_job *j)
{
	size_t	req = j->req.cap > BUF_STD ? j->req.cap - BUF_STD : 0;

	j->charge = (uint64_t)req + (j->copy != NULL ? j->klen + j->vlen : 0);
	j->held = &wc->held;
	wc->held += j->charge;
}

/* Serve c in the next loop turn without waiting for an event (conn_expire). */
static void
conn_ready(struct wctx *wc, struct conn *c)
{
	if (c->flags & CF_READY)
		return;
	c->flags |= CF_READY;
	TAILQ_INSERT_TAIL(&wc->ready, c, rentry);
	wc->nready++;
}

/*
 * Register the interest set the state calls for, only when it changes:
 * input only while we will read it (a half-closed or paused socket stays
 * readable and would spin a level-triggered loop), output while queued.
 *
 * A plain TCP connection serving frames is edge-triggered: epoll then
 * reports it once per arrival, not again at the next wait to find it
 * drained (a level-triggered loop polls every socket it was given twice;
 * perf at C=500 put 7% of the worker's time in tcp_poll, sock_poll and
 * ep_item_poll, 5% edge-triggered).  An edge comes only when bytes arrive
 * or room frees.  Output needs nothing more: conn_event sends until the
 * socket refuses (room freeing later is an edge) or all is sent, before
 * it registers.  Input not read to the end (CF_RDMORE: the reads per
 * event ran out, or reading stopped for the output limit, a job or the
 * budget and could go on by the end of the step) goes on wc->ready, as no
 * event will come for it.  TLS, PROXY, splicing and lingering stay
 * level-triggered: their reads stop for reasons of their own (OpenSSL's
 * records, the pipe, a cap); so do unix sockets, whose reads also stop
 * short after passed descriptors, with no sign in epoll.  Changing the
 * registration re-arms it: epoll_ctl(MOD) polls the socket and reports
 * what is already there.
 */
static int
conn_interest(struct wctx *wc, struct conn *c)
{
	struct epoll_event	ev;
	uint32_t		want = 0;

	if ((c->flags & CF_LINGER) ||
	    !(c->flags & (CF_CLOSING | CF_PAUSED | CF_EOF | CF_WAITING |
	    CF_BUDGET)))
		want |= EPOLLIN;
	if (buf_used(&c->out) > 0)
		want |= EPOLLOUT;
	/* A TCP FIN while an EXEC runs may be a close: see conn_probe. */
	if ((c->flags & (CF_WAITING | CF_PROBED)) == CF_WAITING &&
	    c->peer.family != AF_UNIX)
		want |= EPOLLRDHUP;
	/* TLS: a read may need to write first, a write to read. */
	if ((c->flags & CF_TLS_RW) && (want & EPOLLIN))
		want = (want & ~EPOLLIN) | EPOLLOUT;
	if (c->flags & CF_TLS_WR)
		want |= EPOLLIN;
	if (c->flags & CF_HANDSHAKE)
		want = c->flags & CF_HS_WRITE ? EPOLLOUT : EPOLLIN;
	if (c->flags & CF_PROXY)
		want = EPOLLIN;
	/*
	 * Splicing: the pipe is emptied into the socket before the next
	 * bytes go in (an empty pipe is never full, so input that waits is
	 * the socket's, and epoll never reports what we would not take).
	 */
	if ((c->flags & CF_SPLICE) && !(c->flags & CF_LINGER)) {
		want &= ~(EPOLLIN | EPOLLOUT);
		if (buf_used(&c->out) > 0 || c->splice_held > 0 ||
		    buf_used(&c->in) > 0)
			want |= EPOLLOUT;
		/*
		 * Input while blocked is spilled (conn_splice): always.  So
		 * is TCP urgent data (EPOLLPRI): splice(2) stops at its mark
		 * for good, while epoll reports the input after it.
		 */
		if (c->splice_in > 0 &&
		    !(c->flags & (CF_CLOSING | CF_EOF | CF_BUDGET)))
			want |= EPOLLIN | (c->flags & CF_TCP ? EPOLLPRI : 0);
	}
	if ((c->flags & (CF_TCP | CF_PROXY | CF_SPLICE | CF_LINGER)) ==
	    CF_TCP && c->ssl == NULL)
		want |= CONN_EDGE;
	if (want != c->events) {
		memset(&ev, 0, sizeof(ev));
		ev.events = want;
		ev.data.ptr = c;
		if (epoll_ctl(wc->epfd, EPOLL_CTL_MOD, c->fd, &ev) == -1) {
			log_warn("epoll_ctl(MOD) fd %d", c->fd);
			return (-1);
		}
		c->events = want;
	}
	if ((want & (EPOLLET | EPOLLIN)) == (EPOLLET | EPOLLIN) &&
	    (c->flags & CF_RDMORE))
		conn_ready(wc, c);
	return (0);
}

/* Who is asking, as ops.c judges it: this TCP or unix connection. */
static void
conn_client(struct conn *c, struct op_client *cl)
{
	cl->authed = (c->flags & CF_AUTHED) != 0;
	cl->restricted = (c->flags & CF_RESTRICTED) != 0;
	cl->udp = 0;
	cl->conn = c;
	cl->in = NULL;
}

/* Record the request about to run in the slot, for crash forensics. */
static void
conn_current(struct wctx *wc, const struct conn *c,
    const struct msg_hdr *h, uint64_t t0)
{
	struct stats_current	*cur = &wc->slot->cur;

	cur->op = h->opcode;
	cur->body_len = h->body_len;
	cur->start_us = t0;
	cur->family = c->peer.family;
	cur->port = c->peer.port;
	memcpy(cur->addr, c->peer.addr, sizeof(cur->addr));
	cur->active = 1;
}

/*
 * Take a freshly accepted, non-blocking socket into the loop.  peer NULL:
 * the master's probe, never handed over.
 */
struct conn *
conn_new(struct wctx *wc, int fd, const struct net_peer *peer,
    int restricted)
{
	struct epoll_event	 ev;
	struct conn		*c;
	socklen_t		 plen = sizeof(int);
	int			 proto = 0;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("conn_new");
		return (NULL);
	}
	c->kind = EV_CONN;
	c->fd = fd;
	c->wc = wc;
	/*
	 * As conn_interest would have it.  TCP by its protocol, not its
	 * family: an SCTP stream (a systemd socket unit may pass one) reads
	 * one message per call, short of what is queued.
	 */
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &plen) == 0 &&
	    proto == IPPROTO_TCP)
		c->flags |= CF_TCP;
	c->events = c->flags & CF_TCP ? EPOLLIN | CONN_EDGE : EPOLLIN;
	c->pipe[0] = c->pipe[1] = -1;
	if (peer != NULL)
		c->peer = *peer;
	if (restricted)
		c->flags |= CF_RESTRICTED;
	if (!wc->ops->conf->auth_set)
		c->flags |= CF_AUTHED;
	memset(&ev, 0, sizeof(ev));
	ev.events = c->events;
	ev.data.ptr = c;
	if (epoll_ctl(wc->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		log_warn("epoll_ctl(ADD) fd %d", fd);
		free(c);
		return (NULL);
	}
	TAILQ_INSERT_TAIL(&wc->all, c, entry);
	wc->nconns++;
	STATS_PEND(&wc->pend, wc->slot, conn_accepted, 1);
	STATS_PEND(&wc->pend, wc->slot, conn_active, 1);
	if (wc->idle_ms > 0)
		timer_arm(&wc->tl[CONN_TL_IDLE], &c->timer, wc->now);
	return (c);
}

/*
 * c was accepted on a TLS listener: it speaks TLS from its first byte.
 * Returns -1 (c closed) when OpenSSL cannot take it.
 */
int
conn_tls(struct wctx *wc, struct conn *c, struct tls_ctx *t)
{
	if (t == NULL || (c->ssl = tls_conn_new(t, c->fd)) == NULL) {
		log_warnx("no TLS session for a new connection");
		conn_close(wc, c);
		return (-1);
	}
	c->flags |= CF_HANDSHAKE;
	STATS_PEND(&wc->pend, wc->slot, tls_active, 1);
	return (0);
}

/*
 * c was accepted on a "proxy:" listener from a trusted balancer: a PROXY
 * header must come first, whole within read_timeout (the frame deadline
 * list), before any frame or TLS byte.  guard: protected mode restricts
 * the client the header names unless it is on loopback.
 */
void
conn_proxy(struct wctx *wc, struct conn *c, int guard)
{
	c->flags |= CF_PROXY;
	if (guard)
		c->flags |= CF_PROXY_GUARD;
	timer_arm(&wc->tl[CONN_TL_FRAME], &c->timer, wc->now);
}

static void
conn_close(struct wctx *wc, struct conn *c)
{
	if (c->job != NULL)
		exec_detach(wc->ops->exec, c->job);
	/* The job finishes in its thread; its answer is dropped. */
	if (c->fjob != NULL)
		pool_cancel(&c->fjob->pj);
	if (c->flags & CF_BUDGET)
		TAILQ_REMOVE(&wc->budget_wait, c, wentry);
	if (c->flags & CF_READY) {
		TAILQ_REMOVE(&wc->ready, c, rentry);
		wc->nready--;
	}
	if (c->flags & CF_SPLICE)
		pipes_put(&wc->pipes, c->pipe, 0);
	/* Its send must not run: the descriptor may be reused at once. */
	if (c->flags & CF_PARKED) {
		if (c->io_op != NULL)
			iob_void(c->io_op);
		else if ((c->flags & CF_SENT) && c->io_res > 0)
			/* Sent by the batch, not yet taken by conn_flush. */
			STATS_PEND(&wc->pend, wc->slot, bytes_out,
			    (uint64_t)c->io_res);
		TAILQ_REMOVE(&wc->parked, c, pentry);
	}
	/* Read by the batch, not yet taken by conn_read: read all the same. */
	if ((c->flags & CF_PREREAD) && c->io_res > 0)
		STATS_PEND(&wc->pend, wc->slot, bytes_in, (uint64_t)c->io_res);
	c->flags &= ~(CF_PREREAD | CF_PARKED | CF_SENT);
	if (c->pre_at != 0) {
		wc->pre[c->pre_at - 1] = NULL;
		c->pre_at = 0;
	}
	if (c->ssl != NULL) {
		tls_conn_free(c->ssl);
		c->ssl = NULL;
		STATS_PEND(&wc->pend, wc->slot, tls_active, (uint64_t)-1);
	}
	wc->held -= c->charge;
	c->charge = 0;
	timer_cancel(&c->timer);
	TAILQ_REMOVE(&wc->all, c, entry);
	/*
	 * close() removes the fd from the epoll set only when it drops the
	 * last reference to the open file.  An adopted socket may still be
	 * open in the worker that handed it over (it closes its copy after
	 * sending), and the registration would outlive our close, reporting
	 * events for the conn we free here.  Our own accepted sockets are
	 * never shared (CLOEXEC, no fork after accept).
	 */
	if (c->flags & CF_ADOPTED)
		(void)epoll_ctl(wc->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	/*
	 * Counted and published before the client can see the close, with
	 * whatever was counted on the way here (a timeout, the budget): a
	 * client never sees what stats do not show yet, and a worker that
	 * dies next loses none of it.
	 */
	wc->nconns--;
	STATS_PEND(&wc->pend, wc->slot, conn_active, (uint64_t)-1);
	STATS_PEND(&wc->pend, wc->slot, conn_closed, 1);
	conn_publish(wc);
	if (c->flags & CF_ADOPTED)
		xfer_close(c->fd);	/* its sender may have set SO_LINGER */
	else
		close(c->fd);
	buf_release(&c->in);
	buf_release(&c->out);
	/*
	 * Later events of this epoll_wait batch may still point at c (an
	 * EXEC finishing closes its connection from the job's event): free
	 * it after the batch.
	 */
	c->kind = EV_DEAD;
	TAILQ_INSERT_TAIL(&wc->dead, c, entry);
}

/*
 * The peer asked to renegotiate (OpenSSL refused): count it, say goodbye
 * with a close_notify, and fail the call so that the connection closes.
 */
static ssize_t
conn_tls_reneg(struct conn *c)
{
	STATS_PEND(&c->wc->pend, c->wc->slot, tls_renegotiations, 1);
	if (log_getlevel() >= LOG_LVL_DEBUG) {
		char	peer[64];

		conn_peer_str(c, peer, sizeof(peer));
		log_debug("TLS renegotiation from %s refused: closed", peer);
	}
	c->flags |= CF_TLS_SHUT;
	tls_shutdown(c->ssl);
	errno = EPROTO;
	return (-1);
}

/*
 * send() or, over TLS, SSL_write: returns what was written, or -1 with
 * errno (EAGAIN: try again when the socket says so, c's flags telling
 * which way).  more: more of the answer follows at once (MSG_MORE).
 */
static ssize_t
conn_send(struct conn *c, const void *p, size_t len, int more)
{
	enum tls_io	io;
	ssize_t		n;

	if (c->ssl == NULL)
		return (send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT |
		    (more ? MSG_MORE : 0)));
	c->flags &= ~CF_TLS_WR;
	if ((n = tls_write(c->ssl, p, len, &io)) > 0)
		return (n);
	if (io == TLS_IO_RENEG)
		return (conn_tls_reneg(c));
	if (io == TLS_IO_WANT_READ)
		c->flags |= CF_TLS_WR;
	errno = io == TLS_IO_WANT_READ || io == TLS_IO_WANT_WRITE ? EAGAIN :
	    EPIPE;
	return (-1);
}

/* recv() or, over TLS, SSL_read: as read(2), EAGAIN as in conn_send. */
static ssize_t
conn_recv(struct conn *c, void *p, size_t len)
{
	enum tls_io	io;
	ssize_t		n;

	if (c->ssl == NULL)
		return (recv(c->fd, p, len, MSG_DONTWAIT));
	c->flags &= ~(CF_TLS_RW | CF_TLS_DRY);
	if ((n = tls_read(c->ssl, p, len, &io)) > 0)
		return (n);
	switch (io) {
	case TLS_IO_EOF:
		return (0);
	case TLS_IO_RENEG:
		return (conn_tls_reneg(c));
	case TLS_IO_WANT_WRITE:
		c->flags |= CF_TLS_RW;
		/* FALLTHROUGH */
	case TLS_IO_WANT_READ:
		/* What OpenSSL still holds is no whole record: epoll's turn. */
		c->flags |= CF_TLS_DRY;
		errno = EAGAIN;
		return (-1);
	default:
		/* A bad record, or an alert: the connection is over. */
		STATS_PEND(&c->wc->pend, c->wc->slot, tls_bad_records, 1);
		errno = EPROTO;
		return (-1);
	}
}

/* The batch's result for c as recv or send would return it (errno set). */
static ssize_t
conn_io_result(const struct conn *c)
{
	if (c->io_res >= 0)
		return (c->io_res);
	errno = -c->io_res;
	return (-1);
}

/*
 * Write queued output (more: as conn_send).  Returns 0 (all written or
 * would block) or -1 (the connection is broken and must be closed).
 */
static int
conn_flush(struct wctx *wc, struct conn *c, int more)
{
	ssize_t	n;

	/* Its send is in the batch: conn_batch_end flushes the rest. */
	if (c->flags & CF_PARKED)
		return (0);
	/*
	 * What goes out now is counted first (a crash loses no answer); a
	 * batched send was, before the batch.
	 */
	if (buf_used(&c->out) > 0 && !(c->flags & CF_SENT))
		conn_publish(wc);
	while (buf_used(&c->out) > 0) {
		if (c->flags & CF_SENT) {
			c->flags &= ~CF_SENT;
			n = conn_io_result(c);
		} else
			n = conn_send(c, buf_head(&c->out), buf_used(&c->out),
			    more);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return (-1);
		}
		buf_consume(&c->out, (size_t)n);
		c->flags |= CF_MOVED;
		STATS_PEND(&wc->pend, wc->slot, bytes_out, (uint64_t)n);
	}
	if (buf_used(&c->out) == 0)
		buf_release(&c->out);
	return (0);
}

/*
 * Answer at once the run of keyless ECHO or UPPER frames at the front of
 * the input (msg_scan_run: whole, valid, one opcode, no key, no flag).
 * Their answers are the requests with the RESPONSE flag and the value
 * transformed, so they are rewritten where they lie, each header as the
 * run is judged (msg_answer_run), and the buffers swapped when the run is
 * the whole input and nothing waits to be sent (a 1 MiB ECHO then costs
 * no copy and no allocation), else copied to the output in one step.
 * The run stops where the output would pass its limit, as conn_process
 * does; the frames are counted together and timed from this turn.
 * Returns the frames answered: 0 when the first frame is not such a frame
 * (or memory is short: conn_frame then answers it).
 */
static uint32_t
conn_run(struct wctx *wc, struct conn *c, uint32_t limit)
{
	const struct op_def	*def;
	struct op_client	 cl;
	struct msg_hdr		 h;
	uint8_t			*p = buf_head(&c->in);
	size_t			 len = buf_used(&c->in), n;
	uint32_t		 nf;
	int			 swap;

	if (len < MSG_HDR_LEN || (def = ops_lookup(p[4])) == NULL ||
	    def->inplace == NULL)
		return (0);
	conn_client(c, &cl);
	if (!ops_allowed(wc->ops, &cl, def))
		return (0);	/* conn_frame answers DENIED */
	/* conn_process called us with the output within its limit. */
	n = msg_answer_run(p, len, limit, def->op,
	    wc->output_limit - buf_used(&c->out), &nf);
	if (nf == 0)
		return (0);
	swap = n == len && buf_used(&c->out) == 0;
	if (!swap && buf_reserve(&c->out, n) == -1) {
		msg_unanswer_run(p, n);	/* requests again, for conn_frame */
		return (0);
	}
	c->need = 0;	/* in the buffer now: counted as such */
	msg_hdr_decode(p, &h);
	conn_current(wc, c, &h, wc->now_us);
	ops_transform_run(def, p, n);
	if (swap)
		buf_swap(&c->in, &c->out);
	else {
		memcpy(buf_tail(&c->out), p, n);
		c->out.len += n;
		buf_consume(&c->in, n);
	}
	wc->slot->cur.active = 0;
	STATS_PEND_SINCE_N(&wc->pend, wc->slot, def->op, MSG_ST_OK,
	    wc->now_us, nf);
	wc->answered += nf;
	return (nf);
}

/*
 * A large ECHO whose header has come: answer it by splice(2), its body
 * going from the socket through a pipe back to the socket, never copied
 * into the worker and never held whole while the client reads its answer
 * as it comes.  Only when nothing waits to be sent (answers stay in
 * order), over a plain socket (TLS is in user space) that this worker
 * accepted (splice waits on a TCP socket made blocking, and another
 * process may hold a copy of one handed over and clear its O_NONBLOCK),
 * for an operation whose answer is the request's value (ECHO), and while
 * the worker has pipes to spare.  The header of the answer, and the part
 * of the body already read, are rewritten and sent from where they lie
 * (as conn_run).  Returns 1 when splicing, 0 to read the frame as ever.
 */
static int
conn_splice_start(struct wctx *wc, struct conn *c, const struct msg_parse *mp)
{
	struct op_client	 cl;
	const struct op_def	*def;
	size_t			 have = buf_used(&c->in);

	if (c->ssl != NULL || (c->flags & CF_ADOPTED) ||
	    mp->hdr.key_len != 0 ||
	    mp->hdr.body_len < CONN_SPLICE_MIN || buf_used(&c->out) != 0 ||
	    c->skip != 0 || have >= mp->need ||
	    (def = ops_lookup(mp->hdr.opcode)) == NULL || !ops_verbatim(def))
		return (0);
	conn_client(c, &cl);
	if (!ops_allowed(wc->ops, &cl, def) ||
	    pipes_get(&wc->pipes, c->pipe) == -1)
		return (0);
	msg_encode_response(buf_head(&c->in), mp->hdr.opcode, MSG_ST_OK,
	    mp->hdr.request_id, 0, mp->hdr.body_len);
	buf_swap(&c->in, &c->out);
	c->splice_in = (uint32_t)(mp->need - have);
	c->splice_held = 0;
	c->splice_t0 = wc->now_us;
	c->splice_op = mp->hdr.opcode;
	c->need = 0;		/* nothing admitted: the pipe holds it */
	c->flags |= CF_SPLICE;
	return (1);
}

/*
 * n more bytes of the spliced ECHO's body came in.  With the last, all of
 * its answer is in hand (c->out, the pipe, c->in): count it now, as any
 * answer is counted before its bytes leave (the sends publish first), so
 * that a client never has all of an answer the stats do not show yet.
 */
static void
conn_splice_read(struct wctx *wc, struct conn *c, size_t n)
{
	c->splice_in -= (uint32_t)n;
	c->flags |= CF_MOVED;
	STATS_PEND(&wc->pend, wc->slot, bytes_in, (uint64_t)n);
	if (c->splice_in == 0) {
		STATS_PEND_REQUEST(&wc->pend, wc->slot, c->splice_op,
		    MSG_ST_OK, STATS_CLOCK() - c->splice_t0);
		wc->answered++;
	}
}

/* The spliced ECHO is all queued or sent: give the pipe back. */
static void
conn_splice_end(struct wctx *wc, struct conn *c)
{
	pipes_put(&wc->pipes, c->pipe, 1);
	c->need = 0;
	c->flags &= ~(CF_SPLICE | CF_SPILL | CF_DRAINWAIT);
}

/*
 * The socket takes no more of the answer while the client sends more of
 * its frame: read that into c->in all the same (admitted to the budget
 * as a frame read the usual way would be), so that a client that writes
 * its whole frame before reading never waits on us.  Returns -1 when the
 * connection is broken, 0 when it must wait (the socket, or the budget),
 * 1 after progress.
 */
static int
conn_spill(struct wctx *wc, struct conn *c)
{
	ssize_t	n;

	if (!(c->flags & CF_SPILL)) {
		c->flags |= CF_SPILL;
		if (conn_admit(wc, c, c->splice_in) == -1)
			return (0);
	}
	/*
	 * Room for all the rest, once: c->in never holds more than the rest
	 * admitted, so compacting what was sent from its head (conn_splice)
	 * is all it needs later; a larger buffer would be charged beyond
	 * the frame, which a frame read the usual way never is.
	 */
	if (buf_room(&c->in) == 0 && buf_reserve(&c->in, c->splice_in) == -1)
		return (-1);
	n = recv(c->fd, buf_tail(&c->in), buf_room(&c->in) < c->splice_in ?
	    buf_room(&c->in) : c->splice_in, MSG_DONTWAIT);
	if (n == -1)
		return (errno == EINTR ? 1 : errno == EAGAIN ? 0 : -1);
	if (n == 0) {
		c->flags |= CF_EOF;
		return (0);
	}
	c->in.len += (size_t)n;
	conn_splice_read(wc, c, (size_t)n);
	return (1);
}

/*
 * The request is answered when all of it was read, the pipe is empty and
 * c->out has sent the answer's start: what was spilled (c->in) then
 * becomes the output, sent as any answer.  Returns 1 then (no longer
 * splicing).
 */
static int
conn_splice_tidy(struct wctx *wc, struct conn *c)
{
	if (c->splice_in != 0 || c->splice_held != 0 ||
	    buf_used(&c->out) != 0)
		return (0);
	buf_swap(&c->in, &c->out);
	conn_splice_end(wc, c);
	return (1);
}

/*
 * Send some of the spliced answer that follows c->out: from the pipe, or
 * (frompipe 0) the spilled bytes at c->in's head.  Returns the bytes sent
 * (counted, and published first as conn_flush does), 0 with *blocked set
 * when the socket takes none now (or 0 alone: try again), -1 when the
 * connection is broken.
 */
static ssize_t
conn_splice_send(struct wctx *wc, struct conn *c, int frompipe,
    int *blocked)
{
	ssize_t	n;

	conn_publish(wc);
	if (frompipe)
		n = splice(c->pipe[0], NULL, c->fd, NULL, c->splice_held,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	else
		n = send(c->fd, buf_head(&c->in), buf_used(&c->in),
		    MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0) {
		c->flags |= CF_MOVED;
		STATS_PEND(&wc->pend, wc->slot, bytes_out, (uint64_t)n);
		return (n);
	}
	if (n == -1 && errno != EINTR && errno != EAGAIN)
		return (-1);
	*blocked = n == -1 && errno == EAGAIN;
	return (0);
}

/*
 * More of the body from the socket into the pipe, never past the frame's
 * end (what follows is the next frame, read as ever).  Returns -1 when
 * the connection is broken, 0 when nothing came (the socket is empty, or
 * the client stopped within its frame: CF_EOF), 1 after progress.
 */
static int
conn_splice_in(struct wctx *wc, struct conn *c)
{
	ssize_t	n;

	for (;;) {
		n = splice(c->fd, NULL, c->pipe[1], NULL, c->splice_in,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n != -1 || errno != EINTR)
			break;
	}
	if (n == -1)
		return (errno == EAGAIN ? 0 : -1);
	if (n == 0) {
		c->flags |= CF_EOF;
		return (0);
	}
	c->splice_held += (uint32_t)n;
	conn_splice_read(wc, c, (size_t)n);
	return (1);
}

/*
 * Move the spliced answer on, a bounded number of steps.  Its bytes wait
 * in three places, oldest first: c->out (the answer's start), the pipe,
 * c->in (spilled while the socket took nothing); they
 * leave in that order, and more of the body goes into the pipe only while
 * c->in is empty, never past the frame's end (what follows is the next
 * frame, read as ever).  Input is spilled only when epoll reported some
 * while the answer cannot leave.  Returns -1 when the connection is
 * broken, else 0.
 */
static int
conn_splice_move(struct wctx *wc, struct conn *c, uint32_t events)
{
	ssize_t	n;
	int	i, blocked = 0, frompipe, rc, more = 0, on = 1;

	for (i = 0; i < CONN_SPLICES_PER_EVENT; i++) {
		if (conn_splice_tidy(wc, c))
			return (0);
		if (buf_used(&c->out) > 0) {
			/*
			 * The body that came with the header into the pipe
			 * first: the answer's start then leaves with
			 * MSG_MORE and the pipe's bytes join it, one train
			 * of segments (one wakeup of the client), not two.
			 */
			if (c->splice_held == 0 && c->splice_in > 0 &&
			    buf_used(&c->in) == 0 && !(c->flags & (CF_URG |
			    CF_CLOSING | CF_EOF | CF_BUDGET)) &&
			    conn_splice_in(wc, c) == -1)
				return (-1);
			more = c->splice_held > 0;
			if (conn_flush(wc, c, more) == -1)
				return (-1);
			blocked = buf_used(&c->out) > 0;
		}
		/* The pipe, then what was spilled after it (c->in). */
		if (!blocked && (c->splice_held > 0 || buf_used(&c->in) > 0)) {
			frompipe = c->splice_held > 0;
			if ((n = conn_splice_send(wc, c, frompipe, &blocked)) ==
			    -1)
				return (-1);
			if (frompipe)
				c->splice_held -= (uint32_t)n;
			else
				buf_consume(&c->in, (size_t)n);
			/*
			 * The kernel holds back the tail of a MSG_MORE send
			 * for what follows; if the socket took none of it,
			 * push the tail now: with nothing in flight only the
			 * probe timer would send it, 200 ms or more later.
			 * Setting TCP_NODELAY again pushes.
			 */
			if (blocked && more && n == 0 && (c->flags & CF_TCP))
				(void)setsockopt(c->fd, IPPROTO_TCP,
				    TCP_NODELAY, &on, sizeof(on));
			more = 0;
			if (!blocked)
				continue;
		}
		if (c->splice_in == 0 ||
		    (c->flags & (CF_CLOSING | CF_EOF | CF_BUDGET)))
			return (0);
		/*
		 * Spill what cannot be spliced: input while the socket will
		 * not take the pipe, after what was spilled, and all that
		 * follows urgent data (a read steps over its byte; urgent
		 * data pending is reported whatever we read, a busy loop).
		 */
		if (blocked || buf_used(&c->in) > 0 || (c->flags & CF_URG)) {
			if (!(events & (EPOLLIN | EPOLLPRI)))
				return (0);
			if ((rc = conn_spill(wc, c)) <= 0)
				return (rc);
			continue;
		}
		if ((rc = conn_splice_in(wc, c)) <= 0)
			return (rc);
	}
	return (0);
}

/*
 * One event's worth of splicing, leaving the connection in a state whose
 * interest set (conn_interest) brings it back: whatever waits to leave is
 * in c->out or the pipe, or the request is answered.
 */
static int
conn_splice(struct wctx *wc, struct conn *c, uint32_t events)
{
	if (conn_splice_move(wc, c, events) == -1)
		return (-1);
	if (c->flags & CF_SPLICE)
		(void)conn_splice_tidy(wc, c);
	return (0);
}

/* A peer as the logs show it. */
static void
conn_peer_str(const struct conn *c, char *buf, size_t len)
{
	if (c->peer.family == AF_INET || c->peer.family == AF_INET6)
		net_peer_fmt(&c->peer, 0, buf, len);
	else
		snprintf(buf, len, "unix socket");
}

/*
 * A refusal (a wrong token, a refused client certificate): log it with
 * the peer and detail (may be NULL), at most once a second per worker (a
 * guessing client must not flood the log).
 */
static void
conn_log_refusal(struct wctx *wc, const struct conn *c, const char *what,
    const char *detail)
{
	char	peer[64];
	uint64_t sec = wc->now / 1000;

	if (sec == wc->auth_log_sec) {
		wc->auth_log_suppressed++;
		return;
	}
	conn_peer_str(c, peer, sizeof(peer));
	log_warnx("%s from %s%s%s%s", what, peer, detail != NULL ? ": " : "",
	    detail != NULL ? detail : "",
	    wc->auth_log_suppressed ? " (and more, not logged)" : "");
	wc->auth_log_sec = sec;
	wc->auth_log_suppressed = 0;
}

/* Discard what is left of a refused frame's body. */
static void
conn_skip(struct conn *c)
{
	size_t	n;

	n = buf_used(&c->in) < c->skip ? buf_used(&c->in) : c->skip;
	buf_consume(&c->in, n);
	c->skip -= (uint32_t)n;
}

/*
 * An EXEC started, or a file operation went to the pool: its answer comes
 * later, and in order, so nothing more is read until it does
 * (conn_exec_done, conn_file_done).
 */
static void
conn_defer(struct wctx *wc, struct conn *c, const struct msg_parse *mp,
    const struct op_outcome *oc, uint64_t t0)
{
	c->flags &= ~CF_DRAINWAIT;
	c->job = oc->job;
	c->fjob = oc->fjob;
	c->wait_id = mp->hdr.request_id;
	c->wait_op = mp->hdr.opcode;
	c->wait_t0 = t0;
	c->flags |= CF_WAITING;
	/* Its FIN came before, reported once (edge-triggered): probe now. */
	if ((c->flags & CF_RDHUP) && (c->events & EPOLLET))
		conn_probe(c);
	if (oc->job != NULL)
		STATS_PEND(&wc->pend, wc->slot, exec_started, 1);
	if (oc->fjob != NULL)
		conn_charge_job(wc, oc->fjob);
}

/*
 * Count an answered request and act on what it changed: AUTH passed (then
 * *limit becomes max_body), or failed (then the connection closes after
 * the answer).  Returns 1 when no further frame is to be read.
 */
static int
conn_outcome(struct wctx *wc, struct conn *c, const struct msg_parse *mp,
    const struct op_outcome *oc, uint64_t t0, uint32_t *limit)
{
	STATS_PEND_SINCE(&wc->pend, wc->slot, mp->hdr.opcode, oc->st, t0);
	wc->answered++;
	if (oc->denied)
		STATS_PEND(&wc->pend, wc->slot, denied, 1);
	if (oc->authed) {
		c->flags |= CF_AUTHED;
		*limit = wc->max_body;
	}
	if (oc->auth_failed) {
		STATS_PEND(&wc->pend, wc->slot, auth_failures, 1);
		conn_log_refusal(wc, c, "authentication failed", NULL);
		c->flags |= CF_CLOSING;
		buf_release(&c->in);
		return (1);
	}
	return (0);
}

/*
 * Answer one complete, valid frame through its operation (runs of ECHO
 * and UPPER went to conn_run; *limit as in conn_outcome).  Returns 0 to go
 * on with the next frame, 1 when no further frame is to be read now (an
 * EXEC or a file job runs, AUTH failed), -1 when memory ran out.
 */
static int
conn_frame(struct wctx *wc, struct conn *c, const struct msg_parse *mp,
    uint32_t *limit)
{
	struct op_client	cl;
	struct op_outcome	oc;
	uint64_t		t0;

	c->need = 0;	/* in the buffer now: counted as such */
	/* From the loop turn that read it: one clock per frame. */
	t0 = wc->now_us;
	conn_current(wc, c, &mp->hdr, t0);
	conn_client(c, &cl);
	cl.in = buf_used(&c->in) == mp->need ? &c->in : NULL;
	if (ops_dispatch(wc->ops, &cl, &mp->hdr,
	    buf_head(&c->in) + MSG_HDR_LEN, &c->out, &oc) == -1)
		return (-1);
	wc->slot->cur.active = 0;
	buf_consume(&c->in, mp->need);
	if (oc.deferred) {
		conn_defer(wc, c, mp, &oc, t0);
		return (1);
	}
	return (conn_outcome(wc, c, mp, &oc, t0, limit));
}

/*
 * Answer a frame msg_parse_request refused with its error.  Returns 0 to
 * go on after its body (skipped), 1 when framing is lost and the
 * connection closes after the answer, -1 when memory ran out.
 */
static int
conn_frame_error(struct wctx *wc, struct conn *c, const struct msg_parse *mp)
{
	STATS_PEND(&wc->pend, wc->slot, proto_errors, 1);
	STATS_PEND_REQUEST(&wc->pend, wc->slot, mp->hdr.opcode, mp->status, 0);
	wc->answered++;
	if (ops_error(&c->out, mp->hdr.opcode, mp->status,
	    mp->hdr.request_id, mp->reason) == -1)
		return (-1);
	if (mp->close) {
		/* Framing is lost: nothing after this counts. */
		c->flags |= CF_CLOSING;
		buf_release(&c->in);
		return (1);
	}
	buf_consume(&c->in, MSG_HDR_LEN);
	c->skip = mp->skip;
	return (0);
}

/*
 * Parse and answer every complete frame at the front of the input, in
 * order, until the input runs dry, the output passes its limit, or a frame
 * error ends the connection.  Returns the number of frames answered, or
 * -1 when memory ran out.
 */
static int
conn_process(struct wctx *wc, struct conn *c)
{
	struct msg_parse	mp;
	uint32_t		limit, nf;
	int			done = 0, rc;

	/* Before AUTH no frame may be large (a cheap way to hurt us). */
	limit = wc->max_body;
	if (!(c->flags & CF_AUTHED) && limit > MSG_PREAUTH_BODY_MAX)
		limit = MSG_PREAUTH_BODY_MAX;
	while (buf_used(&c->in) > 0 &&
	    !(c->flags & (CF_CLOSING | CF_WAITING | CF_BUDGET | CF_SPLICE))) {
		if (buf_used(&c->out) > wc->output_limit)
			break;
		if (c->skip > 0) {
			conn_skip(c);
			continue;
		}
		if ((nf = conn_run(wc, c, limit)) > 0) {
			done += (int)nf;
			continue;
		}
		msg_parse_request(buf_head(&c->in), buf_used(&c->in), limit,
		    &mp);
		if (mp.result == MSG_PARSE_MORE) {
			if (mp.need > MSG_HDR_LEN &&
			    conn_splice_start(wc, c, &mp))
				return (done);
			/*
			 * The buffer grows as the body arrives (conn_read),
			 * never to more than the frame: a header alone
			 * reserves nothing but its place in the budget.
			 */
			if (mp.need > BUF_STD && mp.need != c->need)
				(void)conn_admit(wc, c, (uint32_t)mp.need);
			return (done);
		}
		if (mp.result == MSG_PARSE_FRAME)
			rc = conn_frame(wc, c, &mp, &limit);
		else
			rc = conn_frame_error(wc, c, &mp);
		if (rc != 0)
			return (rc == -1 ? -1 : done + 1);
		done++;
	}
	if (done > 0)
		c->flags &= ~CF_DRAINWAIT;	/* answered: close after it */
	return (done);
}

/*
 * A TCP read said EAGAIN after urgent data came.  Mostly the socket is
 * empty; but a read at the urgent mark also says EAGAIN while a signal is
 * pending for the worker (a stop, the cgroup freezer, a tracer), the
 * urgent byte and maybe requests still queued behind the mark, and no new
 * edge will come for them.  The byte still unread (recv MSG_OOB | MSG_PEEK
 * finds it) means just that: look again in the next turn (wc->ready),
 * once; a byte whose pointer came before it is not found, and brings an
 * edge when it comes.  No urgent byte left at all (EINVAL): a short read
 * means an empty socket again, until the next urgent byte (EPOLLPRI).
 * Returns 1 to look again.
 */
static int
conn_urgent_refused(struct conn *c)
{
	uint8_t	b;
	ssize_t	n;

	if (c->flags & CF_URGWAIT) {
		c->flags &= ~CF_URGWAIT;
		return (0);
	}
	if ((n = recv(c->fd, &b, 1, MSG_OOB | MSG_PEEK | MSG_DONTWAIT)) == 1) {
		c->flags |= CF_URGWAIT;
		return (1);
	}
	if (n == -1 && errno == EINVAL)
		c->flags &= ~CF_URG;
	return (0);
}

/*
 * Frames completed and nothing of the next is in c->in: the frame deadline
 * was theirs.  Over TLS the next frame's first bytes may be in OpenSSL
 * (conn_settle); drop the old deadline so that conn_deadline starts the
 * next one now, not at the first byte of the frames just answered.
 */
static void
conn_frame_done(struct wctx *wc, struct conn *c)
{
	if (c->timer.list == &wc->tl[CONN_TL_FRAME])
		timer_cancel(&c->timer);
}

/*
 * Read what the socket has, bounded per event so one busy client cannot
 * starve the others (the rest comes next turn: epoll reports it again, or,
 * edge-triggered, wc->ready holds the connection; see conn_interest).
 * Returns -1 on a fatal socket error.
 */
static int
conn_read(struct wctx *wc, struct conn *c)
{
	ssize_t	n;
	size_t	room;
	int	i, fresh, done, held;

	/*
	 * TLS: a frame deadline running while the input is empty was armed
	 * for bytes OpenSSL held (conn_settle): the frame began with them,
	 * not when their record is whole and its plaintext reaches c->in.
	 */
	held = c->ssl != NULL && c->timer.list == &wc->tl[CONN_TL_FRAME] &&
	    buf_used(&c->in) == 0 && c->skip == 0;
	for (i = 0; i < CONN_READS_PER_EVENT; i++) {
		if (c->flags & (CF_CLOSING | CF_PAUSED | CF_EOF | CF_WAITING |
		    CF_BUDGET | CF_SPLICE))
			break;
		/* Answers are piling up unread: read no more for now. */
		if (buf_used(&c->out) > wc->output_limit)
			break;
		/* A block, or up to the end of an admitted large frame. */
		if (buf_room(&c->in) == 0 && buf_grow(&c->in,
		    c->need > BUF_STD ? c->need : BUF_STD) == -1)
			return (-1);
		room = buf_room(&c->in);
		if (c->flags & CF_PREREAD) {
			/* conn_batch_read made this recv, on the same room. */
			c->flags &= ~CF_PREREAD;
			n = conn_io_result(c);
		} else
			n = conn_recv(c, buf_tail(&c->in), room);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (!(c->flags & CF_URG) ||
				    !conn_urgent_refused(c))
					c->flags &= ~CF_RDMORE;
				break;
			}
			return (-1);
		}
		if (n == 0) {
			c->flags = (c->flags | CF_EOF) & ~CF_RDMORE;
			break;
		}
		fresh = buf_used(&c->in) == 0 && c->skip == 0;
		c->in.len += (size_t)n;
		c->flags = (c->flags & ~CF_URGWAIT) | CF_MOVED;
		STATS_PEND(&wc->pend, wc->slot, bytes_in, (uint64_t)n);
		if ((done = conn_process(wc, c)) == -1)
			return (-1);
		/*
		 * A frame's clock starts at its first byte: a new frame began
		 * if the input was empty or a frame was just completed.  A
		 * client that trickles one frame gets read_timeout in all; a
		 * client that keeps completing frames is never cut off.
		 */
		if (((fresh && !held) || done > 0) &&
		    (buf_used(&c->in) > 0 || c->skip > 0))
			timer_arm(&wc->tl[CONN_TL_FRAME], &c->timer, wc->now);
		else if (done > 0)
			conn_frame_done(wc, c);
		held = 0;
		/*
		 * The socket is empty: skip the read that would say EAGAIN.
		 * A TCP read stops short only where the queue ends (whatever
		 * comes after brings an edge) or at the mark of urgent data
		 * (CF_URG: read on); an end that came with the data brought
		 * its edge already (CF_RDHUP): read on to it.  (A unix socket
		 * also stops after descriptors passed, or before its urgent
		 * byte: it is level-triggered, and what it holds is reported
		 * again.  A TLS read returns a record at most, so its length
		 * is no sign; nothing read ahead is; TLS is level-triggered.)
		 */
		if (c->ssl == NULL ? (size_t)n < room &&
		    !(c->flags & (CF_RDHUP | CF_URG)) : !tls_pending(c->ssl)) {
			c->flags &= ~CF_RDMORE;
			break;
		}
	}
	return (0);
}

/* Eat input of a closing connection until EOF, a cap, or the linger timer. */
static int
conn_linger_read(struct conn *c)
{
	char	sink[4096];
	ssize_t	n;

	for (;;) {
		n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n == -1)
			return (errno == EAGAIN || errno == EINTR ? 0 : -1);
		if (n == 0)
			return (-1);
		c->lingered += (uint32_t)n;
		if (c->lingered > CONN_LINGER_MAX)
			return (-1);
	}
}

/*
 * Hand an idle connection to the master, for a worker of the new
 * generation.  The client notices nothing: what it sends meanwhile waits
 * in the socket for its new worker.  Returns 0 when handed over, -1 when
 * the channel is full (try again soon), -2 when it cannot be done (then
 * the connection is closed the usual way).
 */
static int
conn_handoff(struct wctx *wc, const struct conn *c)
{
	struct xfer_info	info;

	/* TLS state lives in this process: it finishes here instead. */
	if (wc->handoff_fd == -1 || c->peer.family == 0 || c->ssl != NULL)
		return (-2);
	memset(&info, 0, sizeof(info));
	info.version = XFER_VERSION;
	info.peer = c->peer;
	if (wc->ops->conf->auth_set && (c->flags & CF_AUTHED)) {
		info.authed = 1;
		memcpy(info.digest, wc->ops->conf->auth_digest,
		    sizeof(info.digest));
	}
	/*
	 * Full, or ETOOMANYREFS: our user has as many descriptors in flight
	 * as its limit of open files (the master, holding as many waiting
	 * connections as it may, reads no more): later, not lost.
	 */
	if (xfer_send(wc->handoff_fd, c->fd, &info) == -1)
		return (errno == EAGAIN || errno == ENOBUFS ||
		    errno == ETOOMANYREFS ? -1 : -2);
	/*
	 * An epoll registration belongs to the open file, not to our fd:
	 * the socket lives on (in flight, then in the new worker), so our
	 * close() would leave it in our epoll set, reporting events for a
	 * connection we freed.  Remove it first.
	 */
	(void)epoll_ctl(wc->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	STATS_PEND(&wc->pend, wc->slot, conn_handed_off, 1);
	return (0);
}

/*
 * Take over a connection an old worker handed over.  It stays
 * authenticated if it passed AUTH with the token we have too.
 */
int
conn_adopt(struct wctx *wc, int fd, const struct xfer_info *info,
    int restricted)
{
	struct conn	*c;
	int		 fl;

	/*
	 * Another worker sent it: blocking, it would stall this loop at the
	 * first read.  (Its reads and sends also say MSG_DONTWAIT each, for
	 * a sender that kept a copy and clears the flag later.)
	 */
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return (-1);
	if ((c = conn_new(wc, fd, &info->peer, restricted)) == NULL)
		return (-1);
	c->flags |= CF_ADOPTED;
	if (info->authed && wc->ops->conf->auth_set &&
	    memcmp(info->digest, wc->ops->conf->auth_digest,
	    sizeof(info->digest)) == 0)
		c->flags |= CF_AUTHED;
	STATS_PEND(&wc->pend, wc->slot, conn_adopted, 1);
	/* A request may already be waiting in the socket. */
	conn_event(wc, c, EPOLLIN);
	return (0);
}

/* Arm the idle deadline from now (progress was made), if there is one. */
static void
conn_touch(struct wctx *wc, struct conn *c)
{
	if (wc->idle_ms > 0)
		timer_arm(&wc->tl[CONN_TL_IDLE], &c->timer, wc->now);
	else
		timer_cancel(&c->timer);
}

/*
 * c is idle after this event: start its idle deadline, or restart it if
 * the event read or sent bytes.  An event that moved none (TCP urgent
 * data, whose byte is dropped, or a wake-up) leaves a running deadline
 * as it was: else a client could keep an idle connection open with them.
 */
static void
conn_idle(struct wctx *wc, struct conn *c)
{
	if ((c->flags & CF_MOVED) || c->timer.list != &wc->tl[CONN_TL_IDLE])
		conn_touch(wc, c);
}

/*
 * Backpressure: pause reading while the output is over its limit; back
 * under it, answer the frames that waited.  Returns -1 on a fatal error.
 */
static int
conn_backpressure(struct wctx *wc, struct conn *c)
{
	if (buf_used(&c->out) > wc->output_limit)
		c->flags |= CF_PAUSED;
	else if (c->flags & CF_PAUSED) {
		c->flags &= ~CF_PAUSED;
		if (conn_process(wc, c) == -1 || conn_flush(wc, c, 0) == -1)
			return (-1);
		if (buf_used(&c->out) > wc->output_limit)
			c->flags |= CF_PAUSED;
	}
	return (0);
}

/*
 * Nothing more will be answered: finish the output, then go.  Returns -1
 * when the connection can be closed now.
 */
static int
conn_finish(struct wctx *wc, struct conn *c)
{
	c->flags |= CF_CLOSING;
	if (buf_used(&c->out) > 0) {
		/* Writing is progress; a reader that stops is idle. */
		conn_idle(wc, c);
		return (0);
	}
	/* A clean end of TLS: the peer knows nothing was cut off. */
	if (c->ssl != NULL && !(c->flags & (CF_TLS_SHUT | CF_HANDSHAKE))) {
		c->flags |= CF_TLS_SHUT;
		tls_shutdown(c->ssl);
	}
	if (c->flags & CF_EOF)
		return (-1);
	/*
	 * Lingering close: stop sending, but read a little longer so
	 * unread input does not turn our close into a reset that
	 * destroys the last answer before the client reads it.
	 */
	(void)shutdown(c->fd, SHUT_WR);
	buf_release(&c->in);
	c->skip = 0;
	c->flags |= CF_LINGER;
	timer_arm(&wc->tl[CONN_TL_LINGER], &c->timer, wc->now);
	return (0);
}

/*
 * The deadline of a connection that stays open and may read.  A spliced
 * ECHO whose body is still to come is a request being read, paused or
 * not: its input stays registered (conn_interest), so were it idle, every
 * byte trickled would put off both deadlines.
 */
static void
conn_deadline(struct wctx *wc, struct conn *c, int pending_in)
{
	int	splicing = (c->flags & CF_SPLICE) && c->splice_in > 0;

	if (((c->flags & CF_PAUSED) && !splicing) ||
	    ((c->flags & CF_SPLICE) && c->splice_in == 0)) {
		/* A client that reads nothing is idle, whatever it sent. */
		conn_idle(wc, c);
		return;
	}
	if ((c->flags & CF_DRAINWAIT) && !pending_in) {
		/* Idle while draining: wait a little for a last request. */
		if (c->timer.list != &wc->tl[CONN_TL_DRAIN])
			timer_arm(&wc->tl[CONN_TL_DRAIN], &c->timer, wc->now);
		return;
	}
	if (pending_in) {
		/* The frame deadline stays at the frame's first byte. */
		if (c->timer.list != &wc->tl[CONN_TL_FRAME])
			timer_arm(&wc->tl[CONN_TL_FRAME], &c->timer, wc->now);
		return;
	}
	buf_release(&c->in);
	conn_idle(wc, c);
}

/*
 * After any event: decide the next state and which deadline applies.
 * Returns -1 when the connection is finished and must be closed.
 */
static int
conn_settle(struct wctx *wc, struct conn *c)
{
	int	pending_in, rc;

	if (conn_backpressure(wc, c) == -1)
		return (-1);
	if (c->flags & CF_LINGER)
		return (0);
	if (c->flags & CF_WAITING) {
		/*
		 * exec.timeout bounds a command, the disk a file job; no
		 * other deadline meanwhile.
		 */
		timer_cancel(&c->timer);
		return (0);
	}
	/*
	 * Over TLS, a request's first bytes may still be in OpenSSL, in a
	 * record not yet whole (read ahead, its plaintext not out yet): that
	 * is input in progress too, under read_timeout from its first byte,
	 * and a draining worker waits for it as for a frame in c->in.
	 */
	pending_in = buf_used(&c->in) > 0 || c->skip > 0 ||
	    (c->flags & CF_SPLICE) || (c->ssl != NULL &&
	    !(c->flags & CF_HANDSHAKE) && tls_pending(c->ssl));
	if (wc->handoff && !pending_in && buf_used(&c->out) == 0 &&
	    !(c->flags & (CF_CLOSING | CF_EOF | CF_PAUSED))) {
		if ((rc = conn_handoff(wc, c)) == 0)
			return (-1);	/* handed over: only our copy closes */
		if (rc == -1) {
			/* The channel is full: the master is behind. */
			if (c->timer.list != &wc->tl[CONN_TL_DRAIN])
				timer_arm(&wc->tl[CONN_TL_DRAIN], &c->timer,
				    wc->now);
			return (0);
		}
	}
	if ((c->flags & CF_CLOSING) ||
	    ((c->flags & CF_EOF) && !(c->flags & CF_PAUSED)) ||
	    (wc->draining && !pending_in &&
	    !(c->flags & (CF_PAUSED | CF_DRAINWAIT))))
		return (conn_finish(wc, c));
	conn_deadline(wc, c, pending_in);
	return (0);
}

/*
 * A TCP peer sent FIN while its EXEC runs.  A half-close (SHUT_WR) still
 * waits for the answer, a close does not, and both arrive as the same FIN;
 * only data tells them apart: a socket closed for reading answers data
 * with RST.  So send the answer's first byte now (every answer begins with
 * the magic, whatever its status): a client that waits reads the same
 * byte stream as ever, and a closed one resets the connection, which
 * closes it here and kills its command (conn_close, exec_detach).  Queued
 * answers, if any, probe the same way.  (A unix socket reports a close as
 * EPOLLHUP and needs no probe.)
 */
static void
conn_probe(struct conn *c)
{
	static const uint8_t	magic0 = MSG_MAGIC0;

	c->flags |= CF_PROBED;
	if (buf_used(&c->out) == 0 && buf_append(&c->out, &magic0, 1) == 0)
		c->early = 1;
}

/*
 * The deferred answer is queued: drop what the probe already sent, then
 * go on with what the client sent meanwhile.
 */
static void
conn_resume(struct wctx *wc, struct conn *c)
{
	/* The probe sent the answer's head; nothing was queued after it. */
	buf_consume(&c->out, c->early);
	c->early = 0;
	c->flags &= ~CF_PROBED;
	/* The socket may have input waiting: treat it as an event. */
	conn_event(wc, c, EPOLLIN);
}

/*
 * An EXEC command finished (or was stopped): answer it, then go on with
 * what the client sent meanwhile.  Called from the exec module.
 */
void
conn_exec_done(struct exec_job *j, void *arg)
{
	struct conn	*c = arg;
	struct wctx	*wc = c->wc;

	c->job = NULL;
	c->flags &= ~CF_WAITING;
	if (j->status == MSG_ST_TIMEOUT)
		STATS_PEND(&wc->pend, wc->slot, exec_timeouts, 1);
	else if (j->status == MSG_ST_TOO_LARGE)
		STATS_PEND(&wc->pend, wc->slot, exec_too_large, 1);
	STATS_PEND_REQUEST(&wc->pend, wc->slot, MSG_OP_EXEC, j->status,
	    STATS_CLOCK() - c->wait_t0);
	wc->answered++;
	if (exec_result(j, &c->out, c->wait_id) == -1) {
		conn_close(wc, c);
		return;
	}
	conn_resume(wc, c);
}

/*
 * A pool thread finished c's file operation: queue its answer, then go on
 * with what the client sent meanwhile.  Called from the pool's event.
 */
void
conn_file_done(struct file_job *j, void *arg)
{
	struct conn	*c = arg;
	struct wctx	*wc = c->wc;

	c->fjob = NULL;
	c->flags &= ~CF_WAITING;
	STATS_PEND_REQUEST(&wc->pend, wc->slot, c->wait_op, j->st,
	    STATS_CLOCK() - c->wait_t0);
	wc->answered++;
	if (ops_file_answer(j, &c->out, c->wait_id) == -1) {
		conn_close(wc, c);
		return;
	}
	conn_resume(wc, c);
}

/* A TLS handshake ended: count it, and a verified certificate authenticates. */
static void
conn_tls_done(struct wctx *wc, struct conn *c, const struct tls_info *ti)
{
	char	peer[64];

	c->flags &= ~(CF_HANDSHAKE | CF_HS_WRITE);
	STATS_PEND(&wc->pend, wc->slot, tls_handshakes, 1);
	if (ti->resumed)
		STATS_PEND(&wc->pend, wc->slot, tls_resumed, 1);
	if (ti->version == 13)
		STATS_PEND(&wc->pend, wc->slot, tls_v13, 1);
	else
		STATS_PEND(&wc->pend, wc->slot, tls_v12, 1);
	if (ti->verified) {
		c->flags |= CF_AUTHED;
		STATS_PEND(&wc->pend, wc->slot, tls_client_certs, 1);
		stats_slot_subject(wc->slot, ti->subject);
		conn_peer_str(c, peer, sizeof(peer));
		log_info("client certificate from %s: %s%s", peer, ti->subject,
		    ti->resumed ? " (resumed)" : "");
	}
	/* The frame clock starts again at the first request byte. */
	conn_touch(wc, c);
}

/*
 * Go on with c's TLS handshake.  Its clock (read_timeout, the frame
 * deadline list) starts at the first byte, like a frame's.  Returns -1
 * when it failed (counted by reason): close.
 */
static int
conn_tls_step(struct wctx *wc, struct conn *c, uint32_t events)
{
	struct tls_info	ti;
	enum tls_fail	why;
	enum tls_io	io;
	char		msg[256], peer[64];

	if ((events & (EPOLLIN | EPOLLHUP)) &&
	    c->timer.list != &wc->tl[CONN_TL_FRAME])
		timer_arm(&wc->tl[CONN_TL_FRAME], &c->timer, wc->now);
	io = tls_handshake(c->ssl, &ti, &why, msg, sizeof(msg));
	switch (io) {
	case TLS_IO_OK:
		conn_tls_done(wc, c, &ti);
		return (0);
	case TLS_IO_WANT_READ:
		c->flags &= ~CF_HS_WRITE;
		return (0);
	case TLS_IO_WANT_WRITE:
		c->flags |= CF_HS_WRITE;
		return (0);
	case TLS_IO_EOF:
		return (-1);	/* a connect and close: nothing to count */
	default:
		break;
	}
	if (why == TLS_FAIL_CERT)
		STATS_PEND(&wc->pend, wc->slot, tls_fail_cert, 1);
	else
		STATS_PEND(&wc->pend, wc->slot, tls_fail_protocol, 1);
	if (why == TLS_FAIL_CERT)
		conn_log_refusal(wc, c, "TLS client certificate refused", msg);
	else if (log_getlevel() >= LOG_LVL_DEBUG) {
		conn_peer_str(c, peer, sizeof(peer));
		log_debug("TLS handshake from %s failed: %s", peer, msg);
	}
	return (-1);
}

/*
 * No acceptable PROXY header: count it by reason (a frame or anything but
 * a header is "none") and log the balancer's address, rate-limited.
 */
static void
conn_proxy_refused(struct wctx *wc, const struct conn *c,
    enum proxy_error err)
{
	switch (err) {
	case PROXY_E_SIGNATURE:
		STATS_PEND(&wc->pend, wc->slot, proxy_none, 1);
		break;
	case PROXY_E_TOO_LONG:
		STATS_PEND(&wc->pend, wc->slot, proxy_too_long, 1);
		break;
	default:
		STATS_PEND(&wc->pend, wc->slot, proxy_malformed, 1);
		break;
	}
	conn_log_refusal(wc, c, "PROXY header refused", proxy_error_name(err));
}

/*
 * The header is in: the client it names replaces the balancer as c's
 * peer (logs, stats, the hand-over), then passes the allow list and
 * protected mode as if it had connected itself.  A LOCAL header is the
 * balancer's own connection (a health check): proxy_trusted admitted it.
 * Returns -1 when the client is refused.
 */
static int
conn_proxy_done(struct wctx *wc, struct conn *c, const struct proxy_hdr *h)
{
	const struct msgd_conf	*conf = wc->ops->conf;
	char			 bal[64], cli[64];

	c->flags &= ~CF_PROXY;
	STATS_PEND(&wc->pend, wc->slot, proxy_ok, 1);
	if (h->src.family == 0)
		STATS_PEND(&wc->pend, wc->slot, proxy_local, 1);
	else {
		if (log_getlevel() >= LOG_LVL_DEBUG) {
			net_peer_fmt(&c->peer, 1, bal, sizeof(bal));
			net_peer_fmt(&h->src, 1, cli, sizeof(cli));
			log_debug("PROXY v%d header from %s: client %s",
			    h->version, bal, cli);
		}
		c->peer = h->src;
	}
	if (!h->local &&
	    !net_peer_allowed(conf->allow, conf->nallow, &c->peer)) {
		STATS_PEND(&wc->pend, wc->slot, allow_rejected, 1);
		return (-1);
	}
	if ((c->flags & CF_PROXY_GUARD) && !net_peer_is_loopback(&c->peer))
		c->flags |= CF_RESTRICTED;
	conn_touch(wc, c);
	return (0);
}

/*
 * Read c's PROXY header, never a byte past it: peek, judge, then take
 * exactly the header's bytes (or, short of its end, all that came).  What
 * follows stays in the socket for the protocol, or for OpenSSL, which
 * reads the socket itself.  The bytes held are bounded by PROXY_MAX (the
 * parser refuses a longer header).  Returns 1 when the header is done, 0
 * to wait for more, -1 to close (counted).
 */
static int
conn_proxy_step(struct wctx *wc, struct conn *c)
{
	struct proxy_hdr	h;
	enum proxy_error	err;
	enum proxy_result	r;
	size_t			have = buf_used(&c->in), want;
	ssize_t			n;

	if (c->in.data == NULL && buf_grow(&c->in, BUF_STD) == -1)
		return (-1);
	n = recv(c->fd, buf_tail(&c->in), PROXY_MAX - have, MSG_PEEK |
	    MSG_DONTWAIT);
	if (n == -1)
		return (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR ? 0 : -1);
	if (n == 0) {
		STATS_PEND(&wc->pend, wc->slot, proxy_truncated, 1);
		return (-1);
	}
	r = proxy_parse(buf_head(&c->in), have + (size_t)n, &h, &err);
	if (r == PROXY_ERROR) {
		conn_proxy_refused(wc, c, err);
		return (-1);
	}
	want = r == PROXY_DONE ? h.len - have : (size_t)n;
	if ((n = recv(c->fd, buf_tail(&c->in), want, MSG_DONTWAIT)) <= 0)
		return (n == -1 && (errno == EAGAIN || errno == EINTR) ? 0 :
		    -1);
	c->in.len += (size_t)n;
	STATS_PEND(&wc->pend, wc->slot, bytes_in, (uint64_t)n);
	if (r == PROXY_MORE || (size_t)n < want)
		return (0);
	buf_release(&c->in);
	return (conn_proxy_done(wc, c, &h) == -1 ? -1 : 1);
}

/*
 * Batched I/O, before a turn's events are handled: queue the recv that
 * conn_read would make first for this one, on the room it would use, and
 * say so (CF_PREREAD).  Only where conn_read is sure to make it: a plain
 * socket (no TLS, PROXY, handshake, splice or urgent data) reported
 * readable and reading, the worker not draining.  Returns 1 if queued.
 */
int
conn_batch_read(struct wctx *wc, struct conn *c, uint32_t events)
{
	if (wc->iob == NULL || wc->draining || c->ssl != NULL ||
	    (events & (EPOLLIN | EPOLLERR | EPOLLPRI)) != EPOLLIN ||
	    (c->flags & (CF_CLOSING | CF_LINGER | CF_PAUSED | CF_EOF |
	    CF_WAITING | CF_BUDGET | CF_HANDSHAKE | CF_PROXY | CF_SPLICE |
	    CF_URG | CF_PREREAD | CF_PARKED)) ||
	    buf_used(&c->out) > wc->output_limit || wc->npre == IOB_ENTRIES)
		return (0);
	if (buf_room(&c->in) == 0 && buf_grow(&c->in,
	    c->need > BUF_STD ? c->need : BUF_STD) == -1)
		return (0);
	if (iob_recv(wc->iob, c->fd, buf_tail(&c->in), buf_room(&c->in),
	    c) == NULL)
		return (0);
	c->flags |= CF_PREREAD;
	wc->pre[wc->npre++] = c;
	c->pre_at = wc->npre;
	return (1);
}

/* A batched recv or send is done: conn_read or conn_flush takes its result. */
static void
conn_io_done(void *tag, int res)
{
	struct conn	*c = tag;

	c->io_res = res;
}

/*
 * Make the n receives conn_batch_read queued, in one system call.  With
 * two or more, the sends of the events that follow go to the batch too
 * (conn_park): one system call for them all at the end of the turn, which
 * is a walk (no trim before its end).
 */
void
conn_batch_reads(struct wctx *wc, int n)
{
	if (n > 0)
		iob_run(wc->iob, conn_io_done);
	/*
	 * A parked connection's answers are counted (conn_account) when
	 * its send is done: the budget is judged, and trimmed, after the
	 * batch, as after conn_drain_all's walk.
	 */
	if ((wc->parking = n >= 2))
		wc->walking = 1;
}

/*
 * Queue c's first send of this event for the batch instead of making it
 * (CF_PARKED): conn_batch_end makes them all and ends each event.  The
 * send is of c->out as it is now, so not while an EXEC or file job runs,
 * whose answer (or probe) may be added to c->out, moving it, within the
 * turn; nor while draining (the cork), for TLS or splicing.  Returns 0 if
 * queued.
 */
static int
conn_park(struct wctx *wc, struct conn *c)
{
	if (!wc->parking || wc->draining || c->ssl != NULL ||
	    (c->flags & (CF_SPLICE | CF_LINGER | CF_WAITING | CF_PARKED |
	    CF_SENT)))
		return (-1);
	if ((c->io_op = iob_send(wc->iob, c->fd, buf_head(&c->out),
	    buf_used(&c->out), c)) == NULL)
		return (-1);
	c->flags |= CF_PARKED | CF_SENT;
	TAILQ_INSERT_TAIL(&wc->parked, c, pentry);
	return (0);
}

/*
 * A batched recv no event took (conn_read takes each, so this is a guard
 * against a path that skipped it): its bytes are input like any other,
 * served in the next turn; its end or error is the connection's.
 */
static void
conn_batch_keep(struct wctx *wc, struct conn *c)
{
	c->flags &= ~CF_PREREAD;
	if (c->io_res > 0) {
		c->in.len += (size_t)c->io_res;
		c->flags |= CF_MOVED | CF_RDMORE;
		STATS_PEND(&wc->pend, wc->slot, bytes_in, (uint64_t)c->io_res);
		conn_ready(wc, c);
	} else if (c->io_res == 0) {
		c->flags = (c->flags | CF_EOF) & ~CF_RDMORE;
		conn_ready(wc, c);
	} else if (c->io_res != -EAGAIN && c->io_res != -EINTR)
		conn_close(wc, c);
}

/*
 * After a turn's events: make the sends they queued, in one system call,
 * counted first as every send is (conn_flush), then end each event with
 * its result, in the order they came.  One closed meanwhile
 * (conn_close) left the list and sent nothing.
 */
void
conn_batch_end(struct wctx *wc)
{
	struct conn	*c;
	int		 i, walked = wc->parking;

	/* Those closed meanwhile left wc->pre (conn_close). */
	for (i = 0; i < wc->npre; i++) {
		if ((c = wc->pre[i]) == NULL)
			continue;
		c->pre_at = 0;
		if (c->flags & CF_PREREAD)
			conn_batch_keep(wc, c);
	}
	wc->npre = 0;
	wc->parking = 0;
	/* Sends of connections closed meanwhile, now no-ops, run too. */
	if (wc->iob != NULL && wc->iob->queued > 0) {
		if (!TAILQ_EMPTY(&wc->parked))
			conn_publish(wc);
		iob_run(wc->iob, conn_io_done);
		TAILQ_FOREACH(c, &wc->parked, pentry)
			c->io_op = NULL;
		while ((c = TAILQ_FIRST(&wc->parked)) != NULL) {
			TAILQ_REMOVE(&wc->parked, c, pentry);
			c->flags &= ~CF_PARKED;
			if (conn_event_end(wc, c, 0) == -1)
				conn_close(wc, c);
		}
	}
	/*
	 * All counted now: until then what one held may already have been
	 * in its client's socket.
	 */
	if (walked) {
		wc->walking = 0;
		if (wc->held > wc->budget)
			conn_trim(wc);
	}
}

/* Handle readiness reported by epoll for c. */
void
conn_event(struct wctx *wc, struct conn *c, uint32_t events)
{
	int	n, corked = 0, one = 1;

	/*
	 * Its send is in the batch, and conn_batch_end ends the event that
	 * queued it; what this one announces waits for the next turn
	 * (conn_interest puts input not read on wc->ready).
	 */
	if (c->flags & CF_PARKED) {
		if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
			c->flags |= CF_RDMORE;
		return;
	}
	c->flags &= ~CF_MOVED;	/* no byte moved yet (conn_idle) */
	/* Input to read to the end (edge-triggered: see conn_interest). */
	if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
		c->flags |= CF_RDMORE;
	/* The end came with the input: read up to it (see conn_read). */
	if (events & (EPOLLHUP | EPOLLRDHUP))
		c->flags |= CF_RDHUP;
	if (events & EPOLLPRI)
		c->flags |= CF_URG;
	if (c->flags & CF_PROXY) {
		if (events & EPOLLERR)
			goto fail;
		if ((n = conn_proxy_step(wc, c)) == -1)
			goto fail;
		if (n == 0) {
			if (conn_interest(wc, c) == -1)
				goto fail;
			return;
		}
		/* The client's first bytes may have come with the header. */
		events |= EPOLLIN;
	}
	if (c->flags & CF_HANDSHAKE) {
		if (events & EPOLLERR) {
			STATS_PEND(&wc->pend, wc->slot, tls_fail_protocol, 1);
			goto fail;
		}
		if (conn_tls_step(wc, c, events) == -1)
			goto fail;
		if (c->flags & CF_HANDSHAKE) {
			if (conn_interest(wc, c) == -1)
				goto fail;
			return;
		}
		/* Requests may have come with the handshake's end. */
		events |= EPOLLIN;
	}
	if (events & EPOLLERR)
		goto fail;
	/*
	 * Both directions gone while a command runs or a frame waits for
	 * the budget: nobody will read its answer.  (EPOLLHUP is reported
	 * whatever we asked for, so ignoring it would spin the loop.)  The
	 * job is killed by conn_close.
	 */
	if ((events & EPOLLHUP) && (c->flags & (CF_WAITING | CF_BUDGET)))
		goto fail;
	if ((events & EPOLLRDHUP) &&
	    (c->flags & (CF_WAITING | CF_PROBED)) == CF_WAITING)
		conn_probe(c);
	if (c->flags & CF_LINGER) {
		if (conn_linger_read(c) == -1)
			goto fail;
		return;
	}
	if (c->flags & CF_SPLICE) {
		if (conn_splice(wc, c, events) == -1)
			goto fail;
	} else if ((events & (EPOLLIN | EPOLLHUP)) ||
	    ((c->flags & CF_TLS_RW) && (events & EPOLLOUT))) {
		if (conn_read(wc, c) == -1)
			goto fail;
		/* A large ECHO began: its body is most likely there. */
		if ((c->flags & CF_SPLICE) && conn_splice(wc, c, events) == -1)
			goto fail;
	}
	/*
	 * Draining, the answer about to go out may be the last one: cork a
	 * TCP socket so that, if settle closes it, the FIN leaves in the same
	 * segment as the answer.  A client then sees the answer and the end
	 * together, never the answer alone with time to send another request
	 * that nobody will read.
	 */
	if (wc->draining && c->peer.family != AF_UNIX &&
	    buf_used(&c->out) > 0 &&
	    !(c->flags & (CF_WAITING | CF_DRAINWAIT | CF_LINGER)) &&
	    setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one)) == 0)
		corked = 1;
	if (conn_event_end(wc, c, corked) == -1)
		goto fail;
	return;
fail:
	conn_close(wc, c);
}

/*
 * The rest of an event, from the first send of its answers on: flush and
 * answer what waits, settle, register the interest, count.  Returns 0, 1
 * when the send went to the batch (conn_batch_end calls this again
 * with its result), or -1: the connection must close.
 */
static int
conn_event_end(struct wctx *wc, struct conn *c, int corked)
{
	int	n, zero = 0;

	/*
	 * Flushing may bring the output back under the limit while complete
	 * frames wait in the input (processing stopped at the limit): answer
	 * them now, not when the client happens to send more.
	 */
	for (;;) {
		if (wc->parking && buf_used(&c->out) > 0 &&
		    conn_park(wc, c) == 0)
			return (1);
		if (conn_flush(wc, c, 0) == -1)
			return (-1);
		if (buf_used(&c->in) == 0 ||
		    (c->flags & (CF_CLOSING | CF_WAITING)) ||
		    buf_used(&c->out) > wc->output_limit)
			break;
		if ((n = conn_process(wc, c)) == -1)
			return (-1);
		if (n == 0)
			break;
		/* Frames completed: whatever follows is a new frame. */
		if (buf_used(&c->in) > 0 || c->skip > 0)
			timer_arm(&wc->tl[CONN_TL_FRAME], &c->timer, wc->now);
		else
			conn_frame_done(wc, c);
	}
	if (conn_settle(wc, c) == -1)
		return (-1);
	/*
	 * The flushes above may have sent the last of c->out while spilled
	 * bytes wait in c->in, the pipe empty: they go out next (else no
	 * interest would bring the connection back, and none of them would).
	 */
	if ((c->flags & (CF_SPLICE | CF_LINGER)) == CF_SPLICE)
		(void)conn_splice_tidy(wc, c);
	if (conn_interest(wc, c) == -1)
		return (-1);
	if (corked)
		(void)setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &zero,
		    sizeof(zero));
	/*
	 * OpenSSL may hold input the socket no longer shows (the reads per
	 * event stopped within a record, or before records read ahead):
	 * epoll will not report it, so the loop comes back for it
	 * (conn_expire).  Not when the last read waited for the socket:
	 * what is held is then part of a record, and coming back would spin.
	 */
	if (c->ssl != NULL && (c->events & EPOLLIN) &&
	    !(c->flags & (CF_READY | CF_TLS_DRY | CF_CLOSING |
	    CF_LINGER)) && tls_pending(c->ssl))
		conn_ready(wc, c);
	/*
	 * Most connections hold their blocks only: nothing to count.  Else
	 * count, and as answers are queued whole, one may have taken the
	 * worker over budget: trim, except while conn_drain_all walks the
	 * list (closing the next one would break its walk; it trims after).
	 */
	if (c->charge != 0 || c->need != 0 || c->in.cap > BUF_STD ||
	    c->out.cap > BUF_STD) {
		conn_account(wc, c);
		if (wc->held > wc->budget && !wc->walking)
			conn_trim(wc);
	}
	return (0);
}

/*
 * Over buffer_budget: close the connections holding the most in queued
 * answers (their output beyond its block) until the worker is back within
 * it.  Only answers can take it there (a frame being read was admitted
 * first), and only the client can free an answer, by reading it: one that
 * holds much and does not read it is what closing removes.  What a
 * connection holds for a request it is reading does not count: that
 * request was admitted and must be able to finish.  Connections holding no
 * answer beyond their block are never closed.
 */
static void
conn_trim(struct wctx *wc)
{
	struct conn	*c, *big;

	while (wc->held > wc->budget) {
		big = NULL;
		TAILQ_FOREACH(c, &wc->all, entry)
			if (c->out.cap > BUF_STD &&
			    (big == NULL || c->out.cap > big->out.cap))
				big = c;
		if (big == NULL)
			break;
		STATS_PEND(&wc->pend, wc->slot, buffer_budget_closed, 1);
		conn_close(wc, big);
	}
}

/*
 * After a batch of events, when frames wait for the budget: let them in,
 * in the order they came, as long as they fit.
 */
void
conn_budget(struct wctx *wc)
{
	struct conn	*c;

	while ((c = TAILQ_FIRST(&wc->budget_wait)) != NULL &&
	    conn_fits(wc, c, c->wait_need)) {
		TAILQ_REMOVE(&wc->budget_wait, c, wentry);
		c->flags &= ~CF_BUDGET;
		(void)conn_admit(wc, c, c->wait_need);
		conn_event(wc, c, EPOLLIN);
	}
}

/*
 * Serve the connections with input no event will announce (conn_ready:
 * what OpenSSL holds, or edge-triggered input not read to the end): those
 * queued before this call, at most CONN_READY_TURN, each once (one that
 * comes back made progress and waits for the next turn).  Returns 1 when
 * some are left: the loop must not sleep.
 */
int
conn_serve_ready(struct wctx *wc)
{
	struct conn	*c;
	int		 n;

	for (n = wc->nready < CONN_READY_TURN ? (int)wc->nready :
	    CONN_READY_TURN; n > 0 && (c = TAILQ_FIRST(&wc->ready)) != NULL;
	    n--) {
		TAILQ_REMOVE(&wc->ready, c, rentry);
		wc->nready--;
		c->flags &= ~CF_READY;
		conn_event(wc, c, EPOLLIN);
	}
	return (!TAILQ_EMPTY(&wc->ready));
}

/*
 * Serve the ready connections, then close those whose deadline passed.
 * Returns how long the loop may sleep (ms) before the next deadline, or
 * -1 for no deadline.
 */
int
conn_expire(struct wctx *wc)
{
	struct timer	*t;
	int		 i, wait = -1;

	if (conn_serve_ready(wc))
		wait = 0;
	while ((t = timer_expired(&wc->tl[CONN_TL_IDLE], wc->now)) != NULL) {
		STATS_PEND(&wc->pend, wc->slot, idle_timeouts, 1);
		conn_close(wc, timer_conn(t));
	}
	while ((t = timer_expired(&wc->tl[CONN_TL_FRAME], wc->now)) != NULL) {
		if (timer_conn(t)->flags & CF_PROXY)
			STATS_PEND(&wc->pend, wc->slot, proxy_timeout, 1);
		else if (timer_conn(t)->flags & CF_HANDSHAKE)
			STATS_PEND(&wc->pend, wc->slot, tls_fail_timeout, 1);
		else
			STATS_PEND(&wc->pend, wc->slot, read_timeouts, 1);
		conn_close(wc, timer_conn(t));
	}
	while ((t = timer_expired(&wc->tl[CONN_TL_LINGER], wc->now)) != NULL)
		conn_close(wc, timer_conn(t));
	while ((t = timer_expired(&wc->tl[CONN_TL_DRAIN], wc->now)) != NULL) {
		/*
		 * Still idle after the grace period: close it now, but read
		 * first: a request may already wait in the socket (expiry
		 * runs before this turn's events), and it gets its answer.
		 */
		timer_cancel(t);
		timer_conn(t)->flags &= ~CF_DRAINWAIT;
		conn_event(wc, timer_conn(t), EPOLLIN);
	}
	for (i = 0; i < CONN_TL_COUNT; i++)
		wait = timer_wait_ms(&wc->tl[i], wc->now, wait);
	return (wait);
}

/*
 * The worker stops: read what every client already sent and answer it all,
 * then close (conn_finish: shut down the sending side, linger).  A
 * connection with nothing left to answer waits grace_ms for a request that
 * may already be on its way (closing it at once would race that request):
 * one that arrives is answered, and the connection closed after it; one
 * that stays idle is closed.  Handing over (handoff), connections move to
 * the master instead once idle.
 */
void
conn_drain_all(struct wctx *wc, uint32_t grace_ms, int handoff)
{
	struct conn	*c, *next;

	wc->draining = 1;
	wc->handoff = handoff && wc->handoff_fd != -1;
	/* Handing over, the list only paces retries of a full channel. */
	timer_list_init(&wc->tl[CONN_TL_DRAIN], wc->handoff ?
	    CONN_HANDOFF_RETRY_MS : grace_ms);
	wc->walking = 1;
	for (c = TAILQ_FIRST(&wc->all); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (!wc->handoff)
			c->flags |= CF_DRAINWAIT;
		conn_event(wc, c, EPOLLIN);
	}
	wc->walking = 0;
	if (wc->held > wc->budget)
		conn_trim(wc);
}

/*
 * Pending counter updates go to the slot in one section: before answers
 * are sent and at the end of a loop turn, not one section per update,
 * which leaves readers room between sections (and costs less).
 */
void
conn_publish(struct wctx *wc)
{
	stats_publish(&wc->pend, wc->slot);
}

/*
 * End of a loop turn: what is left pending is mostly bytes counted after
 * their send (answers were published before it).  Publish it now: a
 * section costs tens of instructions, while keeping it for later would
 * need a wake-up soon after the turn in case traffic stops, and a short
 * epoll_wait timeout (a high-resolution timer armed and cancelled at
 * every sleep) cost about 2 us of kernel time per request on one
 * connection (bench/compare c1), a third of all the server's CPU.
 */
void
conn_publish_end(struct wctx *wc)
{
	conn_publish(wc);	/* stats_publish returns at once if empty */
}

void
conn_close_all(struct wctx *wc)
{
	struct conn	*c;

	while ((c = TAILQ_FIRST(&wc->all)) != NULL)
		conn_close(wc, c);
	conn_reap(wc);
	pipes_close(&wc->pipes);
}

/* Free the connections closed since the last call (between batches). */
void
conn_reap(struct wctx *wc)
{
	struct conn	*c;

	while ((c = TAILQ_FIRST(&wc->dead)) != NULL) {
		TAILQ_REMOVE(&wc->dead, c, entry);
		free(c);
	}
}

/*
 * conn.h: one client connection's state machine.
 *
 * Input is parsed frame by frame as it arrives (any split, any number of
 * frames per read); answers are queued in request order and flushed with as
 * few writes as possible.  A client that stops reading is itself no longer
 * read once its queued output passes output_limit.  Each connection sits on
 * at most one of four deadline lists (none while its EXEC or file job
 * runs): idle, frame (a started request must complete within read_timeout
 * of its first byte), linger (closing) or drain (the worker stops: an idle
 * connection's grace period, or the retry of a hand-over the channel could
 * not take).
 */
#ifndef MSGD_CONN_H
#define MSGD_CONN_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <stdint.h>

#include "buf.h"
#include "ev.h"
#include "exec.h"
#include "iob.h"
#include "net.h"
#include "ops.h"
#include "pipes.h"
#include "pool.h"
#include "stats.h"
#include "timer.h"
#include "tls.h"
#include "xfer.h"

#define CONN_LINGER_MS	2000	/* how long a closing conn drains input */

enum conn_tlist {
	CONN_TL_IDLE = 0,
	CONN_TL_FRAME,
	CONN_TL_LINGER,
	CONN_TL_DRAIN,		/* draining: idle connections, grace period */
	CONN_TL_COUNT
};

/*
 * The worker's request context: what every request served by this worker
 * shares, whether it came over TCP (conn.c) or UDP (udp.c): the loop's
 * clock, the limits, the connection and deadline lists, the buffer budget
 * and the counters not yet published to the worker's stats slot.
 */
struct wctx {
	int			epfd;
	uint64_t		now;		/* ms, refreshed per loop turn */
	uint64_t		now_us;		/* the same moment, in us */
	uint32_t		max_body;
	uint64_t		output_limit;
	uint64_t		budget;		/* buffer_budget */
	uint64_t		held;		/* budget bytes held now */
	int			walking;	/* conn_drain_all: no trim */
	uint32_t		idle_ms;	/* 0: no idle timeout */
	int			draining;
	uint32_t		nconns;
	struct timer_list	tl[CONN_TL_COUNT];
	TAILQ_HEAD(, conn)	all;
	TAILQ_HEAD(, conn)	dead;		/* closed, freed by conn_reap */
	TAILQ_HEAD(, conn)	budget_wait;	/* frames waiting for budget */
	TAILQ_HEAD(, conn)	ready;		/* to serve without an event */
	uint32_t		nready;
	struct pipes		pipes;		/* for large ECHOs (splice) */
	uint64_t		answered;	/* frames answered */
	struct stats_pend	pend;		/* updates not yet in the slot */
	int			handoff_fd;	/* to the master, -1: none */
	int			handoff;	/* draining by handing over */
	uint64_t		auth_log_sec;	/* rate limit of that log */
	uint64_t		auth_log_suppressed;
	struct stats_slot	*slot;		/* this worker's counters */
	struct ops_env		*ops;
	struct iob		*iob;		/* batched I/O, or NULL */
	int			 parking;	/* sends go to the batch */
	TAILQ_HEAD(, conn)	 parked;	/* their connections */
	struct conn		*pre[IOB_ENTRIES];	/* read by the batch */
	int			 npre;
};

struct conn;

void	wctx_init(struct wctx *, int, uint32_t, uint64_t, uint32_t,
	    uint32_t, struct stats_slot *, struct ops_env *);
struct conn *conn_new(struct wctx *, int, const struct net_peer *, int);
int	conn_tls(struct wctx *, struct conn *, struct tls_ctx *);
void	conn_proxy(struct wctx *, struct conn *, int);
void	conn_exec_done(struct exec_job *, void *);
void	conn_file_done(struct file_job *, void *);
void	conn_event(struct wctx *, struct conn *, uint32_t);
int	conn_batch_read(struct wctx *, struct conn *, uint32_t);
void	conn_batch_reads(struct wctx *, int);
void	conn_batch_end(struct wctx *);
int	conn_serve_ready(struct wctx *);
int	conn_expire(struct wctx *);
void	conn_drain_all(struct wctx *, uint32_t, int);
int	conn_adopt(struct wctx *, int, const struct xfer_info *, int);
void	conn_close_all(struct wctx *);
void	conn_reap(struct wctx *);
void	conn_budget(struct wctx *);
void	conn_publish(struct wctx *);
void	conn_publish_end(struct wctx *);

#endif /* MSGD_CONN_H */

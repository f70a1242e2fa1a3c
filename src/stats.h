/*
 * stats.h: the shared-memory statistics segment.
 *
 * A file (stats_file, e.g. /run/msgd/stats) created and sized by the master
 * before it forks, mmapped shared by every process.  It holds plain
 * fixed-size data and no pointers:
 *
 *	header		magic, layout, sizes, master pid/start/heartbeat,
 *			generation, listeners (+ sampled accept queues),
 *			histogram bucket bounds, counter descriptors
 *	slot[nslots]	one per possible worker, each its own pages,
 *			written only by that worker
 *	retired		what dead workers had counted, folded by the master
 *
 * The segment is input, not truth, for the master: it keeps the layout it
 * created in its own memory (struct stats_layout) and never reads it back,
 * and it checks every value it takes from a slot.  A worker maps the
 * segment read-only but for its own slot (stats_worker_map), so it cannot
 * change the header, the retired totals or another worker's counters.
 *
 * Writers bracket each update with a sequence counter (seqlock): odd while
 * writing.  Readers copy and retry if the counter was odd or moved, so a
 * snapshot is never torn and nobody ever takes a lock.  Readers find every
 * counter through the descriptor table in the header, so an msgctl from
 * another release reads the segment right as long as the layout version
 * (which covers the header and the slot preamble) matches.
 *
 * This header is the segment's (stats.c: what the master and the workers
 * use); the reader is stats_snap.h, the renderers stats_render.h, and
 * calls go only that way down.
 */
#ifndef MSGD_STATS_H
#define MSGD_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"
#include "proto.h"

#define STATS_MAGIC		0x5441545344475347ULL	/* "GSGDSTAT" le */
#define STATS_LAYOUT		10
#define STATS_LAYOUT_UPGRADE	9	/* the frozen preamble since */
#define STATS_ALIGN		128	/* >= a cache line, as nginx does */
#define STATS_MAX_LISTENERS	16
#define STATS_ADDR_LEN		128
#define STATS_NAME_LEN		48
#define STATS_MAX_DESC		96
#define STATS_MAX_BUCKETS	512
#define STATS_MAX_SLOTS		4096

/*
 * Every counter, declared once: field, metric name, label ("" or
 * "key=value"), kind, unit, help.  This list generates the slot struct,
 * the descriptor table, the sums and every renderer; the counters by
 * opcode and by status come from proto.h's lists.
 */
#define STATS_COUNTERS(X)						\
	X(conn_accepted, "connections_accepted", "", COUNTER, "connections", \
	    "Connections accepted")					\
	X(conn_active, "connections_active", "", GAUGE, "connections",	\
	    "Connections open now")					\
	X(conn_closed, "connections_closed", "", COUNTER, "connections", \
	    "Connections closed")					\
	X(conn_busy, "connections_rejected", "", COUNTER, "connections", \
	    "Connections refused with BUSY at max_connections")	\
	X(conn_handed_off, "connections_handed_off", "", COUNTER,	\
	    "connections", "Connections given to the next generation "	\
	    "(counted closed here)")					\
	X(conn_adopted, "connections_adopted", "", COUNTER,		\
	    "connections", "Connections taken over from an old worker " \
	    "(counted accepted here)")					\
	X(idle_timeouts, "idle_timeouts", "", COUNTER, "connections",	\
	    "Connections closed by idle_timeout")			\
	X(read_timeouts, "read_timeouts", "", COUNTER, "connections",	\
	    "Connections closed by read_timeout (slow frame)")		\
	X(bytes_in, "bytes_received", "", COUNTER, "bytes",		\
	    "Bytes received from clients")				\
	X(bytes_out, "bytes_sent", "", COUNTER, "bytes",		\
	    "Bytes sent to clients")					\
	X(proto_errors, "protocol_errors", "", COUNTER, "frames",	\
	    "Frames refused for framing errors")			\
	X(auth_failures, "auth_failures", "", COUNTER, "requests",	\
	    "AUTH with a wrong token (connection closed)")		\
	X(denied, "denied", "", COUNTER, "requests",			\
	    "Requests refused before AUTH, in protected mode or over UDP") \
	X(allow_rejected, "allow_rejected", "", COUNTER, "connections", \
	    "Peers outside the allow list, closed at accept (UDP: dropped)") \
	X(udp_received, "udp_received", "", COUNTER, "datagrams",	\
	    "UDP datagrams received")					\
	X(udp_dropped, "udp_dropped", "", COUNTER, "datagrams",	\
	    "UDP datagrams dropped (not a request, or answer larger than them)") \
	X(exec_started, "exec_started", "", COUNTER, "commands",	\
	    "EXEC commands started")					\
	X(exec_timeouts, "exec_timeouts", "", COUNTER, "commands",	\
	    "EXEC commands killed at exec.timeout")			\
	X(exec_too_large, "exec_too_large", "", COUNTER, "commands",	\
	    "EXEC commands killed for output over exec.max_output")	\
	X(buffer_budget_waits, "buffer_budget_waits", "", COUNTER,	\
	    "frames", "Large frames left unread a while for "		\
	    "buffer_budget")						\
	X(buffer_budget_closed, "buffer_budget_closed", "", COUNTER,	\
	    "connections", "Connections closed for holding the most "	\
	    "past buffer_budget")					\
	X(tls_active, "tls_connections_active", "", GAUGE,		\
	    "connections", "TLS connections open now")			\
	X(tls_handshakes, "tls_handshakes", "", COUNTER,		\
	    "connections", "TLS handshakes completed")			\
	X(tls_resumed, "tls_resumed", "", COUNTER, "connections",	\
	    "TLS handshakes that resumed a session")			\
	X(tls_v12, "tls_handshakes_by_version", "version=TLSv1.2",	\
	    COUNTER, "connections", "TLS handshakes by protocol version") \
	X(tls_v13, "tls_handshakes_by_version", "version=TLSv1.3",	\
	    COUNTER, "connections", "TLS handshakes by protocol version") \
	X(tls_client_certs, "tls_client_certificates", "", COUNTER,	\
	    "connections", "TLS clients authenticated by a certificate") \
	X(tls_fail_protocol, "tls_handshake_failures", "reason=protocol", \
	    COUNTER, "connections", "TLS handshakes failed, by reason")	\
	X(tls_fail_cert, "tls_handshake_failures", "reason=certificate", \
	    COUNTER, "connections", "TLS handshakes failed, by reason")	\
	X(tls_fail_timeout, "tls_handshake_failures", "reason=timeout", \
	    COUNTER, "connections", "TLS handshakes failed, by reason")	\
	X(tls_bad_records, "tls_record_errors", "", COUNTER,		\
	    "connections", "TLS connections closed for a bad record or an " \
	    "alert after the handshake")				\
	X(tls_renegotiations, "tls_renegotiations", "", COUNTER,	\
	    "connections", "TLS connections closed for asking to "	\
	    "renegotiate")						\
	X(proxy_ok, "proxy_headers", "", COUNTER, "connections",	\
	    "PROXY protocol headers accepted")				\
	X(proxy_local, "proxy_headers_local", "", COUNTER,		\
	    "connections", "PROXY headers that kept the balancer's "	\
	    "address (LOCAL health checks, UNKNOWN)")			\
	STATS_PROXY_REFUSED(untrusted)					\
	STATS_PROXY_REFUSED(none)					\
	STATS_PROXY_REFUSED(malformed)					\
	STATS_PROXY_REFUSED(too_long)					\
	STATS_PROXY_REFUSED(truncated)					\
	STATS_PROXY_REFUSED(timeout)					\
	MSG_OPCODES(STATS_OP_ROW)					\
	X(req_other, "requests", "op=other", COUNTER, "requests",	\
	    "Requests by opcode")					\
	MSG_STATUSES(STATS_ST_ROW)

/*
 * The rows of STATS_COUNTERS that proto.h's lists make: a request counter
 * per opcode and a response counter per status; and the PROXY refusals.  They call the caller's
 * X, so STATS_COUNTERS is always used with a macro named X.
 */
#define STATS_OP_ROW(N, n, code, udp, auth, inplace)			\
	X(req_##n, "requests", "op=" #N, COUNTER, "requests",		\
	    "Requests by opcode")
#define STATS_ST_ROW(N, n, code)					\
	X(st_##n, "responses", "status=" #N, COUNTER, "responses",	\
	    "Responses by status")
/* A close on a "proxy:" listener without a valid header, by reason. */
#define STATS_PROXY_REFUSED(r)						\
	X(proxy_##r, "proxy_refused", "reason=" #r, COUNTER,		\
	    "connections", "Connections to a PROXY listener closed "	\
	    "without a valid header, by reason")

/*
 * What the master is doing, for /health (exporter.c): a fresh (zeroed)
 * header reads as starting.
 */
enum stats_mstate {
	STATS_M_STARTING = 0,	/* first workers not all serving yet */
	STATS_M_SERVING,
	STATS_M_DRAINING,	/* graceful stop: workers finish */
	STATS_M_STOPPING	/* quick stop (SIGQUIT) */
};

enum stats_kind {
	STATS_COUNTER = 1,
	STATS_GAUGE,
	STATS_HISTOGRAM
};

enum stats_state {
	STATS_EMPTY = 0,	/* slot never used or reset */
	STATS_STARTING,
	STATS_IDLE,
	STATS_BUSY,
	STATS_DRAINING,
	STATS_DEAD
};

struct stats_counters {
#define X(f, m, l, k, u, h)	uint64_t f;
	STATS_COUNTERS(X)
#undef X
	struct hist	latency;	/* request handling time, us */
};

/*
 * Crash forensics: the request a worker is handling right now, written
 * before the handler runs and cleared after, so that the master can say
 * what a worker was doing when it died or hung.  Best effort, no seqlock.
 */
struct stats_current {
	uint32_t	active;		/* 0, 1 (STATS_CUR_INVALID: refused) */
	uint8_t		op;
	uint8_t		family;		/* AF_INET, AF_INET6, AF_UNIX */
	uint16_t	port;		/* host order */
	uint32_t	body_len;
	uint32_t	pad;
	uint64_t	start_us;	/* CLOCK_MONOTONIC, as mono_us() */
	uint8_t		addr[16];
};

#define STATS_CUR_INVALID	0xffffffffU

/* The subject of the last client certificate a worker verified. */
#define STATS_SUBJECT_LEN	128

/* A worker's slot.  The preamble (up to counters) is fixed per layout. */
struct stats_slot {
	_Atomic uint64_t	seq;		/* odd while being written */
	int32_t			pid;
	uint32_t		state;		/* enum stats_state */
	uint64_t		generation;	/* of the master's config */
	uint64_t		start_us;	/* CLOCK_REALTIME */
	_Atomic uint64_t	heartbeat_ms;	/* CLOCK_MONOTONIC */
	struct stats_current	cur;
	char			tls_subject[STATS_SUBJECT_LEN]; /* "": none */
	struct stats_counters	c;
} __attribute__((aligned(STATS_ALIGN)));

/*
 * A worker's updates not yet in its slot.  Published in one seqlock
 * section before answers are sent (so whatever a client got is counted)
 * and at the end of each loop turn: far fewer sections than one per
 * update, which leaves readers room to copy a slot between them.
 */
#define STATS_PEND_COUNTERS	64	/* >= the counters before latency */
#define STATS_PEND_BUCKETS	256

struct stats_pend {
	uint64_t	dirty;			/* bit i: add[i] != 0 */
	uint64_t	add[STATS_PEND_COUNTERS]; /* by counter index */
	uint32_t	nb;
	uint16_t	bucket[STATS_PEND_BUCKETS];
	uint64_t	hsum;
	uint64_t	hmax;
	uint32_t	nsince;		/* frames timed from since_t0 ... */
	uint64_t	since_t0;	/* ... to the publish that sends them */
};

/*
 * What the master learns from a dead worker's slot when folding it, each
 * value checked (the worker could write anything there).
 */
struct stats_fold_info {
	uint64_t		requests;	/* answered frames (saturated) */
	struct stats_current	cur;		/* as stats_current_read() */
	uint64_t		heartbeat_ms;	/* 0 if in the future */
};

struct stats_desc {
	char		name[STATS_NAME_LEN];	/* metric name */
	char		label[STATS_NAME_LEN];	/* "" or "key=value" */
	char		field[STATS_NAME_LEN];	/* JSON / table key */
	char		unit[16];
	char		help[96];
	uint32_t	kind;			/* enum stats_kind */
	uint32_t	offset;			/* in struct stats_slot */
	uint32_t	nbuckets;		/* histograms */
	uint32_t	pad;
};

struct stats_listener {
	char		addr[STATS_ADDR_LEN];
	uint32_t	queue;		/* accept queue now (TCP_INFO) */
	uint32_t	queue_max;	/* its limit (backlog) */
	uint32_t	queue_peak;	/* highest queue seen */
	uint32_t	tcp;		/* 0: no queue figures (unix) */
};

/*
 * Binary upgrades (master_upgrade.c): the outcome of the last one asked
 * of this master, what the master carries from one binary to the next,
 * and the release of the file an upgrade would run now.
 */
struct stats_upgrade {
	uint64_t		seq;		/* upgrades finished (here) */
	uint32_t		ok;		/* the last one: 1 done */
	uint32_t		count;		/* upgrades since the first start */
	uint64_t		last_us;	/* CLOCK_REALTIME, 0: none yet */
	uint64_t		first_start_us;	/* the first binary's start */
	char			msg[256];	/* the last outcome */
	char			from[32];	/* the release before the last */
	char			exe[256];	/* the binary an upgrade runs */
	char			disk[32];	/* its release now, "" unknown */
};

struct stats_hdr {
	uint64_t		magic;
	uint32_t		layout;
	uint32_t		hdr_size;
	uint64_t		total_size;
	uint32_t		slot_size;
	uint32_t		nslots;
	uint32_t		slot_offset;
	uint32_t		retired_offset;
	uint32_t		ndesc;
	uint32_t		nbuckets;
	int32_t			master_pid;
	uint32_t		nlisteners;
	uint64_t		master_start_us;	/* CLOCK_REALTIME */
	char			version[32];		/* msgd release */
	/*
	 * Frozen from layout STATS_LAYOUT_UPGRADE on (struct stats_upgrade,
	 * read by stats_upgrade_read whatever the layout): msgctl upgrade
	 * of a later release follows an older master's upgrade here.
	 * Written by the master under mseq, as what follows.
	 */
	_Atomic uint64_t	mseq;
	struct stats_upgrade	up;
	_Atomic uint64_t	master_heartbeat_ms;	/* CLOCK_MONOTONIC */
	uint64_t		generation;
	uint32_t		workers;		/* configured now */
	uint32_t		reload_ok;		/* last reload: 1 ok */
	uint64_t		reload_seq;		/* reloads finished */
	char			reload_msg[256];	/* its outcome */
	uint32_t		mstate;			/* enum stats_mstate */
	int32_t			metrics_pid;		/* exporter, 0: none */
	uint64_t		metrics_start_us;	/* CLOCK_REALTIME */
	uint64_t		metrics_restarts;	/* unasked deaths */
	char			metrics_addr[STATS_ADDR_LEN]; /* "": off */
	struct stats_listener	listeners[STATS_MAX_LISTENERS];
	uint64_t		bucket_upper_us[STATS_MAX_BUCKETS];
	struct stats_desc	desc[STATS_MAX_DESC];
} __attribute__((aligned(STATS_ALIGN)));

/*
 * The geometry of a segment, in the process's own memory: what its
 * creator made (stats_create) or what stats_open checked once.  Nothing
 * uses the header's copy of these, which anyone who can write the file
 * could change under it.
 */
struct stats_layout {
	uint64_t		total_size;
	uint32_t		hdr_size;
	uint32_t		slot_size;	/* a multiple of the page size */
	uint32_t		nslots;
	uint32_t		slot_offset;	/* page aligned */
	uint32_t		retired_offset;
	uint32_t		ndesc;
	uint32_t		nbuckets;
	uint64_t		bucket_upper_us[STATS_MAX_BUCKETS];
	struct stats_desc	desc[STATS_MAX_DESC];
};

/* A process's view of a mapped segment. */
struct stats_seg {
	struct stats_hdr	*hdr;
	size_t			 size;
	int			 writable;
	/*
	 * The creator's descriptors (close-on-exec), from which a worker maps
	 * the segment read-only and its own slot read-write; -1 otherwise.
	 */
	int			 fd_rw;
	int			 fd_ro;
	char			 staged[512];	/* not in place yet, or "" */
	int32_t			 master_pid;	/* what the header must say */
	uint64_t		 master_start_us;
	struct stats_layout	 lay;
};

/*
 * The seqlock brackets of a slot's writer (a worker, its own slot only):
 * stats_publish() and stats_slot_start() use them; tests forge slots.
 */
static inline void
stats_begin(struct stats_slot *s)
{
	atomic_store_explicit(&s->seq,
	    atomic_load_explicit(&s->seq, memory_order_relaxed) + 1,
	    memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static inline void
stats_end(struct stats_slot *s)
{
	atomic_store_explicit(&s->seq,
	    atomic_load_explicit(&s->seq, memory_order_relaxed) + 1,
	    memory_order_release);
}

/*
 * Add n to the counter at byte offset off, later.  Inline: the request
 * path counts bytes in and out of every request this way.
 */
static inline void
stats_pend_add(struct stats_pend *p, struct stats_slot *s, size_t off,
    uint64_t n)
{
	size_t	i = off / sizeof(uint64_t);

	(void)s;
	p->add[i] += n;
	p->dirty |= (uint64_t)1 << i;
}

/*
 * The one way a worker updates its counters: into its pending record
 * (struct stats_pend), which stats_publish() applies to its slot in one
 * seqlock section.  conn_publish() runs it before anything a client can
 * see leaves (answers, a BUSY, a close), so a client never sees what the
 * stats do not show yet, and otherwise at the end of a loop turn.
 * STATS_PEND adds n to counter f; a gauge goes down by adding
 * (uint64_t)-1, which the slot's word wraps back.
 * STATS_PEND_REQUEST accounts one answered frame: opcode, status,
 * handling time in us, the difference of two STATS_CLOCK() readings.
 * STATS_PEND_SINCE accounts one whose time runs from t0 (a STATS_CLOCK()
 * reading) until the publish that precedes its answer's send: the frames
 * answered from one read share one clock reading there, where a reading
 * per frame cost more than the rest of the statistics (bench/profile).
 * STATS_PEND_SINCE_N accounts n such frames of one opcode and status.
 * (stats_request() is the same record published at once, for the tests
 * and the fuzz seeds.)
 */
#define STATS_PEND(p, s, f, n)						\
	stats_pend_add(p, s, offsetof(struct stats_counters, f), n)
#define STATS_PEND_REQUEST(p, s, op, st, us)				\
	stats_pend_request(p, s, op, st, us)
#define STATS_PEND_SINCE(p, s, op, st, t0)				\
	stats_pend_since_n(p, s, op, st, t0, 1)
#define STATS_PEND_SINCE_N(p, s, op, st, t0, n)				\
	stats_pend_since_n(p, s, op, st, t0, n)
#define STATS_CLOCK()		mono_us()

int	 stats_create(struct stats_seg *, const char *, int, char *, size_t);
int	 stats_create_staged(struct stats_seg *, const char *, int, char *,
	    size_t);
int	 stats_commit(struct stats_seg *, const char *, char *, size_t);
int	 stats_worker_map(struct stats_seg *, int, char *, size_t);
void	 stats_close(struct stats_seg *);
int	 stats_unlink(const char *);
struct stats_slot *stats_slot(const struct stats_seg *, int);
struct stats_slot *stats_retired(const struct stats_seg *);
void	 stats_layout_put(const struct stats_layout *, struct stats_hdr *);
void	 stats_set_master(struct stats_seg *, int, uint64_t);
void	 stats_set_listener(struct stats_seg *, int, const char *, int,
	    uint32_t, uint32_t);
void	 stats_master_beat(struct stats_seg *);
int	 stats_restore_header(struct stats_seg *, char *, size_t);
void	 stats_set_pid(struct stats_seg *, int);
void	 stats_slot_start(struct stats_slot *, int, uint64_t);
void	 stats_slot_state(struct stats_slot *, enum stats_state);
void	 stats_slot_subject(struct stats_slot *, const char *);
void	 stats_beat(struct stats_slot *, uint64_t);
int	 stats_fewer(const struct stats_seg *, int, uint64_t, uint64_t,
	    uint64_t, uint64_t *);
void	 stats_pend_request(struct stats_pend *, struct stats_slot *,
	    unsigned int, unsigned int, uint64_t);
void	 stats_pend_since_n(struct stats_pend *, struct stats_slot *,
	    unsigned int, unsigned int, uint64_t, uint32_t);
void	 stats_publish(struct stats_pend *, struct stats_slot *);
void	 stats_fold(struct stats_seg *, int, struct stats_fold_info *);
void	 stats_set_reload(struct stats_seg *, int, const char *);
void	 stats_set_upgrade(struct stats_seg *, int, const char *);
void	 stats_set_upgrade_info(struct stats_seg *,
	    const struct stats_upgrade *);
void	 stats_add_retired(struct stats_seg *, const struct stats_counters *);
void	 stats_set_mstate(struct stats_seg *, enum stats_mstate);
void	 stats_set_metrics(struct stats_seg *, int, const char *, uint64_t);
void	 stats_current_read(const struct stats_current *,
	    struct stats_current *);
void	 stats_current_format(const struct stats_current *, uint64_t, char *,
	    size_t);
void	 stats_request(struct stats_slot *, unsigned int, unsigned int,
	    uint64_t);

const char *stats_state_name(unsigned int);
const char *stats_mstate_name(unsigned int);

#endif /* MSGD_STATS_H */

/*
 * ops.c: the opcode table and the PING, ECHO, UPPER and TIME operations.
 * Handlers never block and never fail the connection; they answer a status.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "ops.h"
#include "util.h"

static enum msg_status	op_ping(const struct op_req *, struct op_res *);
static enum msg_status	op_echo(const struct op_req *, struct op_res *);
static enum msg_status	op_upper(const struct op_req *, struct op_res *);
static enum msg_status	op_time(const struct op_req *, struct op_res *);
static enum msg_status	op_stats(const struct op_req *, struct op_res *);

/* Opcodes this server answers; anything else is UNKNOWN_OP. */
static const struct op_def ops[] = {
	{ MSG_OP_PING,	"PING",	OP_UDP_OK,			op_ping },
	{ MSG_OP_ECHO,	"ECHO",	OP_UDP_OK | OP_NEEDS_AUTH,	op_echo },
	{ MSG_OP_UPPER,	"UPPER", OP_UDP_OK | OP_NEEDS_AUTH,	op_upper },
	{ MSG_OP_TIME,	"TIME",	OP_UDP_OK | OP_NEEDS_AUTH,	op_time },
	{ MSG_OP_STATS,	"STATS", OP_NEEDS_AUTH,			op_stats },
};

/* Find an opcode's entry; the table is short, so a scan is cheapest. */
static const struct op_def *
op_index(uint8_t op)
{
	size_t	i;

	for (i = 0; i < nitems(ops); i++)
		if (ops[i].op == op)
			return (&ops[i]);
	return (NULL);
}

const struct op_def *
ops_lookup(uint8_t op)
{
	return (op_index(op));
}

static enum msg_status
op_ping(const struct op_req *rq, struct op_res *rs)
{
	if (buf_append(rs->out, "PONG", 4) == -1)
		return (MSG_ST_INTERNAL);
	return (MSG_ST_OK);
}

static enum msg_status
op_echo(const struct op_req *rq, struct op_res *rs)
{
	if (buf_append(rs->out, rq->val, rq->vlen) == -1)
		return (MSG_ST_INTERNAL);
	return (MSG_ST_OK);
}

/* ASCII a-z to A-Z; every other byte, UTF-8 included, passes unchanged. */
static enum msg_status
op_upper(const struct op_req *rq, struct op_res *rs)
{
	uint8_t	*p;
	size_t	 i;

	if (buf_reserve(rs->out, rq->vlen) == -1)
		return (MSG_ST_INTERNAL);
	p = buf_tail(rs->out);
	for (i = 0; i < rq->vlen; i++) {
		uint8_t ch = rq->val[i];
		p[i] = (ch >= 'a' && ch <= 'z') ? (uint8_t)(ch - 32) : ch;
	}
	rs->out->len += rq->vlen;
	return (MSG_ST_OK);
}

static enum msg_status
op_time(const struct op_req *rq, struct op_res *rs)
{
	struct timespec	ts;
	char		buf[RFC3339_LEN + 1];

	clock_gettime(CLOCK_REALTIME, &ts);
	if (fmt_rfc3339(buf, sizeof(buf), &ts) == -1) {
		rs->msg = "cannot format the time";
		return (MSG_ST_INTERNAL);
	}
	if (buf_append(rs->out, buf, RFC3339_LEN) == -1)
		return (MSG_ST_INTERNAL);
	return (MSG_ST_OK);
}

/* The stats document, the same JSON as msgctl stats --json. */
static enum msg_status
op_stats(const struct op_req *rq, struct op_res *rs)
{
	struct stats_snap	sn;
	static char		cause[128];

	if (rq->env == NULL || rq->env->stats == NULL ||
	    rq->env->stats->hdr == NULL) {
		rs->msg = "statistics are not available";
		return (MSG_ST_INTERNAL);
	}
	if (stats_snapshot(rq->env->stats, &sn, cause, sizeof(cause)) == -1) {
		rs->msg = cause;
		return (MSG_ST_INTERNAL);
	}
	if (stats_render_json(&sn, rs->out) == -1) {
		stats_snap_free(&sn);
		return (MSG_ST_INTERNAL);
	}
	stats_snap_free(&sn);
	return (MSG_ST_OK);
}

/* Append an error frame: key_len 0, the message as value. */
int
ops_error(struct buf *out, uint8_t op, enum msg_status st, uint32_t id,
    const char *msg)
{
	uint8_t	hdr[MSG_HDR_LEN];
	size_t	mlen = msg != NULL ? strlen(msg) : 0;

	msg_encode_response(hdr, op, (uint8_t)st, id, 0, (uint32_t)mlen);
	if (buf_reserve(out, sizeof(hdr) + mlen) == -1)
		return (-1);
	(void)buf_append(out, hdr, sizeof(hdr));
	(void)buf_append(out, msg, mlen);
	return (0);
}

/*
 * Answer one valid request frame (header h, body at body) into out.
 * Returns 0 with *stp set to the status answered, or -1 when memory ran
 * out (the caller closes the connection: nothing consistent can be sent).
 */
int
ops_dispatch(const struct ops_env *env, const struct msg_hdr *h,
    const uint8_t *body, struct buf *out, enum msg_status *stp)
{
	const struct op_def	*def;
	struct op_req		 rq;
	struct op_res		 rs;
	enum msg_status		 st;
	size_t			 start, vlen;

	if ((def = op_index(h->opcode)) == NULL) {
		*stp = MSG_ST_UNKNOWN_OP;
		return (ops_error(out, h->opcode, MSG_ST_UNKNOWN_OP,
		    h->request_id, "unknown opcode"));
	}
	rq.env = env;
	rq.hdr = h;
	rq.key = body;
	rq.klen = h->key_len;
	rq.val = body + h->key_len;
	rq.vlen = h->body_len - h->key_len;

	/*
	 * Reserve the header; it is written once the body length is known.
	 * Positions are kept relative to out->off: a handler's append may
	 * compact the buffer (move the unsent bytes to the front).
	 */
	if (buf_reserve(out, MSG_HDR_LEN) == -1)
		return (-1);
	start = buf_used(out);
	out->len += MSG_HDR_LEN;
	rs.out = out;
	rs.klen = 0;
	rs.msg = NULL;
	st = def->fn(&rq, &rs);
	vlen = buf_used(out) - start - MSG_HDR_LEN;
	if (st == MSG_ST_OK && (vlen > UINT32_MAX || rs.klen > MSG_KEY_MAX)) {
		st = MSG_ST_TOO_LARGE;
		rs.msg = "response too large";
	}
	if (st != MSG_ST_OK) {
		buf_truncate(out, out->off + start);
		*stp = st;
		return (ops_error(out, h->opcode, st, h->request_id,
		    rs.msg != NULL ? rs.msg : msg_status_name(st)));
	}
	msg_encode_response(buf_head(out) + start, h->opcode, MSG_ST_OK,
	    h->request_id, (uint16_t)rs.klen, (uint32_t)vlen);
	*stp = MSG_ST_OK;
	return (0);
}

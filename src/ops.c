/*
 * ops.c: the opcode table, the refusals (authentication, protected mode,
 * UDP, files and commands disabled) and the handlers of all eleven
 * operations: PING, ECHO, UPPER, TIME, STATS and AUTH here, PUT, GET, LIST
 * and DEL through the spool module, run by the worker's pool threads (their
 * answer comes later), EXEC started through the exec module (its answer
 * comes later too).  Handlers never block and never fail the connection;
 * they answer a status.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops.h"
#include "sha256.h"
#include "stats_render.h"
#include "stats_snap.h"
#include "util.h"

#define X(N, n, code, udp, auth, inplace)				\
static enum msg_status	op_##n(const struct op_req *, struct op_res *);
MSG_OPCODES(X)
#undef X
static const char	*ops_refuse(const struct ops_env *,
			    const struct op_client *, const struct op_def *);

static void	upper_inplace(uint8_t *, size_t);
static void	echo_inplace(uint8_t *, size_t);

/* MSG_OPCODES' inplace column: name_inplace() or none. */
#define OP_INPLACE_0(n)	NULL
#define OP_INPLACE_1(n)	n##_inplace
#define OP_INPLACE(inplace, n)	OP_INPLACE_##inplace(n)

/* Opcodes this server answers (proto.h); anything else is UNKNOWN_OP. */
static const struct op_def ops[] = {
#define X(N, n, code, udp, auth, inplace)				\
	{ MSG_OP_##N, #N, ((udp) ? OP_UDP_OK : 0) |			\
	    ((auth) ? OP_NEEDS_AUTH : 0), op_##n, OP_INPLACE(inplace, n) },
	MSG_OPCODES(X)
#undef X
};

/* Opcode -> entry, one load per request (built on first use). */
static const struct op_def *op_table[256];
static int op_table_ready;

const struct op_def *
ops_lookup(uint8_t op)
{
	size_t	i;

	if (!op_table_ready) {
		for (i = 0; i < nitems(ops); i++)
			op_table[ops[i].op] = &ops[i];
		op_table_ready = 1;
	}
	return (op_table[op]);
}

/* ECHO in place: the value is the answer as it is. */
static void
echo_inplace(uint8_t *p, size_t len)
{
}

/*
 * Whether def answers with the request's value unchanged (ECHO): its body
 * can go back without passing through the worker (splice, conn.c).
 */
int
ops_verbatim(const struct op_def *def)
{
	return (def->inplace == echo_inplace);
}

/* ASCII a-z to A-Z where the value lies. */
static void
upper_inplace(uint8_t *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (p[i] >= 'a' && p[i] <= 'z')
			p[i] = (uint8_t)(p[i] - 32);
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
		rs->err.msg = "cannot format the time";
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

	if (rq->env == NULL || rq->env->stats == NULL ||
	    rq->env->stats->hdr == NULL) {
		rs->err.msg = "statistics are not available";
		return (MSG_ST_INTERNAL);
	}
	/* Our own slot first: what we counted but not yet published. */
	if (rq->env->publish != NULL)
		rq->env->publish(rq->env->publish_arg);
	if (stats_snapshot(rq->env->stats, &sn, rs->err.buf,
	    sizeof(rs->err.buf)) == -1) {
		rs->err.msg = rs->err.buf;
		return (MSG_ST_INTERNAL);
	}
	if (stats_render_json(&sn, rs->out) == -1) {
		stats_snap_free(&sn);
		return (MSG_ST_INTERNAL);
	}
	stats_snap_free(&sn);
	return (MSG_ST_OK);
}

/*
 * AUTH: compare SHA-256 digests in constant time (the token's length and
 * content do not leak through timing).  A wrong token is answered DENIED
 * and the connection closed.  Without a configured token AUTH is a no-op.
 */
static enum msg_status
op_auth(const struct op_req *rq, struct op_res *rs)
{
	uint8_t	digest[SHA256_DIGEST_LEN];

	if (!rq->env->conf->auth_set) {
		rs->oc->authed = 1;
		return (MSG_ST_OK);
	}
	sha256(rq->val, rq->vlen, digest);
	if (!sha256_equal(digest, rq->env->conf->auth_digest)) {
		rs->oc->auth_failed = 1;
		rs->err.msg = "wrong token";
		return (MSG_ST_DENIED);
	}
	rs->oc->authed = 1;
	return (MSG_ST_OK);
}

static int
files_off(const struct op_req *rq, struct op_res *rs)
{
	if (rq->env->spool != NULL)
		return (0);
	rs->err.msg = "files are disabled (files.enabled)";
	return (1);
}

/*
 * PUT, GET, LIST or DEL on the spool, the answer's key and value appended
 * to out (GET: the name is the key, *rklen its length).  What a pool
 * thread runs; inline where there is no pool (tests, tools).
 */
static enum msg_status
file_op(struct spool *sp, uint8_t op, const uint8_t *key, size_t klen,
    const uint8_t *val, size_t vlen, struct buf *out, size_t *rklen,
    struct errtext *err)
{
	switch (op) {
	case MSG_OP_PUT:
		return (spool_put(sp, key, klen, val, vlen, err));
	case MSG_OP_GET:
		if (!msg_valid_name(key, klen)) {
			err->msg = "bad file name: 1..255 bytes of "
			    "[A-Za-z0-9._-], not starting with '.'";
			return (MSG_ST_BAD_REQUEST);
		}
		if (buf_append(out, key, klen) == -1)
			return (MSG_ST_INTERNAL);
		*rklen = klen;
		return (spool_get(sp, key, klen, out, err));
	case MSG_OP_LIST:
		return (spool_list(sp, out, err));
	case MSG_OP_DEL:
		return (spool_del(sp, key, klen, err));
	}
	return (MSG_ST_INTERNAL);
}

/* In a pool thread: the operation, into the job's own buffer. */
static void
file_run(struct pool_job *pj)
{
	struct file_job	*j = (struct file_job *)pj;

	j->err.msg = NULL;
	/* Room for the header: the answer may become the output as it is. */
	if (buf_reserve(&j->out, MSG_HDR_LEN) == -1) {
		j->st = MSG_ST_INTERNAL;
		return;
	}
	j->out.len += MSG_HDR_LEN;
	j->st = file_op(j->sp, j->op, j->key, j->klen,
	    j->key != NULL ? j->key + j->klen : NULL, j->vlen, &j->out,
	    &j->rklen, &j->err);
}

/* Back in the loop: the connection's callback queues the answer. */
static void
file_done(struct pool_job *pj)
{
	struct file_job	*j = (struct file_job *)pj;

	j->done(j, pj->arg);
}

static void
file_free(struct pool_job *pj)
{
	struct file_job	*j = (struct file_job *)pj;

	/* Its bytes stayed charged to the worker's budget until now. */
	if (j->held != NULL)
		*j->held -= j->charge;
	buf_release(&j->out);
	buf_release(&j->req);
	free(j->copy);
	free(j);
}

/*
 * Hand a file operation to the pool with its bytes: the connection's
 * input buffer itself when the frame is alone in it (a 64 MiB PUT is not
 * copied in the loop), else a copy.  The connection reads no further
 * frame until the answer is queued (as for EXEC), so answers keep request
 * order.  BUSY when files.queue jobs wait.
 */
static enum msg_status
file_defer(const struct op_req *rq, struct op_res *rs, uint8_t op)
{
	struct file_job	*j;
	size_t		 n = rq->klen + rq->vlen;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return (MSG_ST_INTERNAL);
	if (rq->cl->in != NULL) {
		j->key = rq->key;
		buf_swap(&j->req, rq->cl->in);
	} else if (n > 0) {
		if ((j->copy = malloc(n)) == NULL) {
			free(j);
			return (MSG_ST_INTERNAL);
		}
		memcpy(j->copy, rq->key, n);
		j->key = j->copy;
	}
	j->klen = rq->klen;
	j->vlen = rq->vlen;
	j->op = op;
	j->sp = rq->env->spool;
	j->done = rq->env->file_done;
	j->pj.run = file_run;
	j->pj.done = file_done;
	j->pj.free = file_free;
	j->pj.arg = rq->cl->conn;
	if (pool_submit(rq->env->pool, &j->pj) == -1) {
		if (rq->cl->in != NULL)
			buf_swap(&j->req, rq->cl->in);	/* given back */
		file_free(&j->pj);
		rs->err.msg = "too many file operations waiting (files.queue)";
		return (MSG_ST_BUSY);
	}
	rs->oc->deferred = 1;
	rs->oc->fjob = j;
	return (MSG_ST_OK);
}

/* A file operation: to the pool when there is one, else here. */
static enum msg_status
file_start(const struct op_req *rq, struct op_res *rs, uint8_t op)
{
	if (files_off(rq, rs))
		return (MSG_ST_DENIED);
	if (rq->env->pool != NULL && rq->cl->conn != NULL)
		return (file_defer(rq, rs, op));
	return (file_op(rq->env->spool, op, rq->key, rq->klen, rq->val,
	    rq->vlen, rs->out, &rs->klen, &rs->err));
}

static enum msg_status
op_put(const struct op_req *rq, struct op_res *rs)
{
	return (file_start(rq, rs, MSG_OP_PUT));
}

static enum msg_status
op_get(const struct op_req *rq, struct op_res *rs)
{
	return (file_start(rq, rs, MSG_OP_GET));
}

static enum msg_status
op_list(const struct op_req *rq, struct op_res *rs)
{
	return (file_start(rq, rs, MSG_OP_LIST));
}

static enum msg_status
op_del(const struct op_req *rq, struct op_res *rs)
{
	return (file_start(rq, rs, MSG_OP_DEL));
}

/* EXEC: start an allow-listed command; the answer comes when it ends. */
static enum msg_status
op_exec(const struct op_req *rq, struct op_res *rs)
{
	struct exec_req		 er;
	enum msg_status		 st;

	if (rq->env->exec == NULL) {
		rs->err.msg = "exec is disabled (exec.enabled)";
		return (MSG_ST_DENIED);
	}
	if (rq->cl->conn == NULL) {
		rs->err.msg = "EXEC needs a connection";
		return (MSG_ST_DENIED);
	}
	if ((er.cmd = conf_cmd_find(rq->env->conf, (const char *)rq->key,
	    rq->klen)) == NULL) {
		rs->err.msg = "no such command in exec.commands";
		return (MSG_ST_NOT_FOUND);
	}
	er.conf = rq->env->conf;
	er.in = rq->val;
	er.inlen = rq->vlen;
	er.done = rq->env->exec_done;
	er.arg = rq->cl->conn;
	er.now = rq->env->now;
	st = exec_start(rq->env->exec, &er, &rs->oc->job, &rs->err);
	if (st == MSG_ST_OK)
		rs->oc->deferred = 1;
	return (st);
}

/* May this client run def at all (for callers that skip ops_dispatch)? */
int
ops_allowed(const struct ops_env *env, const struct op_client *cl,
    const struct op_def *def)
{
	return (ops_refuse(env, cl, def) == NULL);
}

/*
 * Who may run what: UDP serves only the simple operations (and with a
 * token only PING); without AUTH only PING and AUTH; a non-loopback peer
 * in protected mode only PING.  NULL when allowed, else the refusal.
 */
static const char *
ops_refuse(const struct ops_env *env, const struct op_client *cl,
    const struct op_def *def)
{
	if (cl->udp && !(def->flags & OP_UDP_OK))
		return ("not served over UDP");
	if (cl->udp && env->conf->auth_set && def->op != MSG_OP_PING)
		return ("a token is configured: UDP serves PING only");
	if (cl->restricted && def->op != MSG_OP_PING)
		return ("protected mode: this server listens beyond loopback "
		    "without auth_token; only PING is served to remote "
		    "peers");
	if ((def->flags & OP_NEEDS_AUTH) && env->conf->auth_set && !cl->authed)
		return ("authenticate first (AUTH)");
	return (NULL);
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
 * Answer a frame whose answer is its value transformed in place (ECHO,
 * UPPER; no key) as conn.c's runs do (those come here over UDP, or when
 * the run found no memory): one reservation and one copy, the header
 * written at once, without a handler's appends.
 * Returns 0 when out has no room for it (the handler then answers, with
 * its error if memory stays short).
 */
static int
ops_copy_inplace(const struct op_def *def, const struct msg_hdr *h,
    const uint8_t *body, struct buf *out)
{
	uint8_t	*p;

	if (buf_reserve(out, MSG_HDR_LEN + (size_t)h->body_len) == -1)
		return (0);
	p = buf_tail(out);
	msg_encode_response(p, h->opcode, MSG_ST_OK, h->request_id, 0,
	    h->body_len);
	if (h->body_len > 0) {
		memcpy(p + MSG_HDR_LEN, body, h->body_len);
		def->inplace(p + MSG_HDR_LEN, h->body_len);
	}
	out->len += MSG_HDR_LEN + (size_t)h->body_len;
	return (1);
}

/*
 * Give each value of n bytes of a run msg_answer_run answered for def (an
 * operation answered in place) def's transform.  ECHO has none: its run
 * is not walked again.
 */
void
ops_transform_run(const struct op_def *def, uint8_t *p, size_t n)
{
	size_t		off;
	uint32_t	blen;

	if (def->inplace == echo_inplace)
		return;
	for (off = 0; off < n; off += MSG_HDR_LEN + (size_t)blen) {
		blen = msg_body_len(p + off);
		def->inplace(p + off + MSG_HDR_LEN, blen);
	}
}

/*
 * Answer one valid request frame (header h, body at body) into out.
 * Returns 0 with oc->st set to the status answered, or -1 when memory ran
 * out (the caller closes the connection: nothing consistent can be sent).
 */
int
ops_dispatch(const struct ops_env *env, const struct op_client *cl,
    const struct msg_hdr *h, const uint8_t *body, struct buf *out,
    struct op_outcome *oc)
{
	const struct op_def	*def;
	struct op_req		 rq;
	struct op_res		 rs;
	enum msg_status		 st;
	const char		*why;
	size_t			 start, vlen;

	memset(oc, 0, sizeof(*oc));
	if ((def = ops_lookup(h->opcode)) == NULL) {
		oc->st = MSG_ST_UNKNOWN_OP;
		return (ops_error(out, h->opcode, MSG_ST_UNKNOWN_OP,
		    h->request_id, "unknown opcode"));
	}
	if ((why = ops_refuse(env, cl, def)) != NULL) {
		oc->st = MSG_ST_DENIED;
		oc->denied = 1;
		return (ops_error(out, h->opcode, MSG_ST_DENIED,
		    h->request_id, why));
	}
	if (def->inplace != NULL && h->key_len == 0 &&
	    ops_copy_inplace(def, h, body, out)) {
		oc->st = MSG_ST_OK;
		return (0);
	}
	rq.env = env;
	rq.cl = cl;
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
	rs.err.msg = NULL;
	rs.oc = oc;
	st = def->fn(&rq, &rs);
	if (oc->deferred) {
		/* The answer is written when the command or job ends. */
		buf_truncate(out, out->off + start);
		oc->st = MSG_ST_OK;
		return (0);
	}
	vlen = buf_used(out) - start - MSG_HDR_LEN;
	if (st == MSG_ST_OK && (vlen > UINT32_MAX || rs.klen > MSG_KEY_MAX)) {
		st = MSG_ST_TOO_LARGE;
		rs.err.msg = "response too large";
	}
	if (st != MSG_ST_OK) {
		buf_truncate(out, out->off + start);
		oc->st = st;
		return (ops_error(out, h->opcode, st, h->request_id,
		    rs.err.msg != NULL ? rs.err.msg : msg_status_name(st)));
	}
	msg_encode_response(buf_head(out) + start, h->opcode, MSG_ST_OK,
	    h->request_id, (uint16_t)rs.klen, (uint32_t)vlen);
	oc->st = MSG_ST_OK;
	return (0);
}

/*
 * The answer frame of a finished file job, into out: the job's buffer
 * itself when out is empty (a large GET is not copied again), else a copy.
 * Returns -1 when memory ran out.
 */
int
ops_file_answer(struct file_job *j, struct buf *out, uint32_t id)
{
	enum msg_status	 st = j->st;
	const char	*msg = j->err.msg;
	size_t		 vlen = 0;

	if (st == MSG_ST_OK) {
		vlen = buf_used(&j->out) - MSG_HDR_LEN;
		if (vlen > UINT32_MAX || j->rklen > MSG_KEY_MAX) {
			st = MSG_ST_TOO_LARGE;
			msg = "response too large";
		}
	}
	if (st != MSG_ST_OK)
		return (ops_error(out, j->op, st, id,
		    msg != NULL ? msg : msg_status_name(st)));
	msg_encode_response(buf_head(&j->out), j->op, MSG_ST_OK, id,
	    (uint16_t)j->rklen, (uint32_t)vlen);
	if (buf_used(out) == 0) {
		buf_swap(out, &j->out);
		return (0);
	}
	return (buf_append(out, buf_head(&j->out), buf_used(&j->out)));
}

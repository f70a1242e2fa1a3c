/*
 * msgdc.c: libmsgdclient's public API (<msgd/client.h>) over the client
 * core (client.c): an opaque handle around struct client, the public
 * names of statuses and opcodes mapped onto the protocol's table, and
 * the latest error kept in the handle for msgdc_err()/msgdc_errstr().
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgd/client.h"

#include "client.h"
#include "proto.h"

struct msgdc {
	struct client	cl;
	int		tls;	/* asked for: never reconnect without */
};

/* The public enums are the protocol's numbers: keep them so. */
#define X(N, n, code)	_Static_assert(MSGDC_ST_##N == code, #N);
MSG_STATUSES(X)
#undef X
#define X(N, n, code, udp, auth, inplace) \
	_Static_assert(MSGDC_OP_##N == code, #N);
MSG_OPCODES(X)
#undef X
#define SAME(a, b)	_Static_assert((int)(a) == (int)(b), #a)
SAME(MSGDC_OK, CLIENT_OK);
SAME(MSGDC_ECONNECT, CLIENT_ECONNECT);
SAME(MSGDC_ETIMEOUT, CLIENT_ETIMEOUT);
SAME(MSGDC_EIO, CLIENT_EIO);
SAME(MSGDC_EPROTO, CLIENT_EPROTO);
SAME(MSGDC_ESTATUS, CLIENT_ESTATUS);
SAME(MSGDC_EINVAL, CLIENT_EINVAL);
SAME(MSGDC_ENOMEM, CLIENT_ENOMEM);
SAME(MSGDC_EAGAIN, CLIENT_EAGAIN);
#undef SAME

/* Keep rc as the handle's latest error and return it. */
static int
msgdc_ret(struct msgdc *c, int rc)
{
	c->cl.last = rc;
	if (rc == MSGDC_OK)
		c->cl.err[0] = '\0';
	return (rc);
}

/* An argument error: message and status. */
static int
msgdc_inval(struct msgdc *c, const char *why)
{
	snprintf(c->cl.err, sizeof(c->cl.err), "%s", why);
	return (msgdc_ret(c, MSGDC_EINVAL));
}

/* The core's answer as the public one. */
static void
msgdc_reply_set(struct msgdc_reply *r, const struct client_resp *cr)
{
	r->status = cr->hdr.status;
	r->opcode = cr->hdr.opcode;
	r->id = cr->hdr.request_id;
	r->key = cr->key;
	r->klen = cr->klen;
	r->val = cr->val;
	r->vlen = cr->vlen;
}

/* The defaults: 5 s to connect and for each operation, 64 MiB answers. */
void
msgdc_options_init(struct msgdc_options *o)
{
	memset(o, 0, sizeof(*o));
	o->connect_timeout_ms = MSGDC_TIMEOUT_DEFAULT;
	o->timeout_ms = MSGDC_TIMEOUT_DEFAULT;
	o->max_answer = MSGDC_MAX_ANSWER_DEFAULT;
}

/*
 * Connect to addr ("host:port", "[v6]:port", "unix:/path") as o says (NULL:
 * the defaults), with TLS and AUTH if asked.  A handle even on failure
 * (msgdc_err() says), so that the message has somewhere to live; NULL only
 * when there is no memory for one.
 */
struct msgdc *
msgdc_connect(const char *addr, const struct msgdc_options *o)
{
	struct msgdc_options	 def;
	struct client_tls	 t;
	struct msgdc		*c;
	int			 rc, cms, tms;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	c->cl.fd = -1;
	if (o == NULL) {
		msgdc_options_init(&def);
		o = &def;
	}
	if (addr == NULL || o->connect_timeout_ms < 0 || o->timeout_ms < 0) {
		(void)msgdc_inval(c, "no address, or a negative timeout");
		return (c);
	}
	cms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms :
	    MSGDC_TIMEOUT_DEFAULT;
	tms = o->timeout_ms > 0 ? o->timeout_ms : MSGDC_TIMEOUT_DEFAULT;
	memset(&t, 0, sizeof(t));
	t.ca_file = o->ca_file;
	t.cert_file = o->cert_file;
	t.key_file = o->key_file;
	t.sni = o->sni;
	t.insecure = o->insecure;
	c->tls = o->tls != 0;
	rc = client_open_full(&c->cl, addr, cms, tms, o->max_answer > 0 ?
	    o->max_answer : MSGDC_MAX_ANSWER_DEFAULT, o->tls ? &t : NULL);
	if (rc == CLIENT_OK && o->token != NULL) {
		/* AUTH is part of connecting: its deadline, its failure. */
		c->cl.timeout_ms = cms;
		if ((rc = msgdc_auth(c, o->token)) != MSGDC_OK) {
			if (rc != MSGDC_ECONNECT && rc != MSGDC_ETIMEOUT)
				rc = MSGDC_ECONNECT;
			client_disconnect(&c->cl);
		}
		c->cl.timeout_ms = tms;
	}
	(void)msgdc_ret(c, rc);
	return (c);
}

/*
 * For msgctl and bench (not exported): a handle connected with one
 * timeout for all, TLS as t says (NULL: plain), max_answer bytes at most.
 */
struct msgdc *
client_msgdc_open(const char *addr, int timeout_ms, uint64_t max_answer,
    const struct client_tls *t)
{
	struct msgdc_options	o;

	msgdc_options_init(&o);
	o.connect_timeout_ms = o.timeout_ms = timeout_ms;
	o.max_answer = max_answer;
	if (t != NULL) {
		o.tls = 1;
		o.ca_file = t->ca_file;
		o.cert_file = t->cert_file;
		o.key_file = t->key_file;
		o.sni = t->sni;
		o.insecure = t->insecure;
	}
	return (msgdc_connect(addr, &o));
}

/* Connect again (TLS resuming its session); pending answers are lost. */
int
msgdc_reconnect(struct msgdc *c)
{
	if (c->cl.addr.text[0] == '\0')
		return (msgdc_inval(c, "the handle never had an address"));
	/* A failed first connect freed its TLS context: not plain now. */
	if (c->tls && c->cl.tls_ctx == NULL) {
		snprintf(c->cl.err, sizeof(c->cl.err), "%s: TLS was never set "
		    "up on this handle: connect anew", c->cl.addr.text);
		return (msgdc_ret(c, MSGDC_ECONNECT));
	}
	return (msgdc_ret(c, client_reconnect(&c->cl)));
}

/* Close the connection and free the handle. */
void
msgdc_free(struct msgdc *c)
{
	if (c == NULL)
		return;
	client_close(&c->cl);
	free(c);
}

/* The latest call's status. */
int
msgdc_err(const struct msgdc *c)
{
	return (c->cl.last);
}

/* The latest error's message ("" after success); the handle owns it. */
const char *
msgdc_errstr(const struct msgdc *c)
{
	return (c->cl.err);
}

/* The timeout of each later operation, in ms (> 0). */
int
msgdc_set_timeout(struct msgdc *c, int ms)
{
	if (ms <= 0)
		return (msgdc_inval(c, "the timeout must be positive"));
	c->cl.timeout_ms = ms;
	return (MSGDC_OK);
}

int
msgdc_timeout(const struct msgdc *c)
{
	return (c->cl.timeout_ms);
}

const char *
msgdc_tls_version(const struct msgdc *c)
{
	return (client_tls_version(&c->cl));
}

int
msgdc_tls_resumed(const struct msgdc *c)
{
	return (client_tls_resumed(&c->cl));
}

void
msgdc_tls_forget(struct msgdc *c)
{
	client_tls_forget(&c->cl);
}

const char *
msgdc_version(void)
{
	return (PACKAGE_VERSION);
}

/* "NOT_FOUND" for 4; NULL for a status msgd does not have. */
const char *
msgdc_status_name(int st)
{
	if (st < 0 || !msg_valid_status((unsigned int)st))
		return (NULL);
	return (msg_status_name((unsigned int)st));
}

/* "GET" for 0x11; NULL for an opcode msgd does not have. */
const char *
msgdc_op_name(int op)
{
	if (op < 0)
		return (NULL);
	return (msg_op_name((unsigned int)op));
}

/*
 * One request, its answer (any status) in r: MSGDC_OK whenever a valid
 * answer to this request came.
 */
int
msgdc_call(struct msgdc *c, int op, const void *key, size_t klen,
    const void *val, size_t vlen, struct msgdc_reply *r)
{
	struct client_resp	cr;
	int			rc;

	if (op < 0 || op > 0xff || (klen > 0 && key == NULL) ||
	    (vlen > 0 && val == NULL) || r == NULL)
		return (msgdc_inval(c, "bad opcode or arguments"));
	rc = client_call(&c->cl, (uint8_t)op, key, klen, val, vlen, &cr);
	if (rc == CLIENT_OK)
		msgdc_reply_set(r, &cr);
	return (msgdc_ret(c, rc));
}

/* A call whose answer must be OK: else MSGDC_ESTATUS and its message. */
static int
msgdc_ok(struct msgdc *c, int op, const char *name, const void *val,
    size_t vlen, struct msgdc_reply *r)
{
	struct msgdc_reply	tmp;
	const char		*sn;
	int			 rc;

	if (r == NULL)
		r = &tmp;
	rc = msgdc_call(c, op, name, name != NULL ? strlen(name) : 0, val,
	    vlen, r);
	if (rc != MSGDC_OK || r->status == MSGDC_ST_OK)
		return (rc);
	sn = msgdc_status_name(r->status);
	snprintf(c->cl.err, sizeof(c->cl.err), "%s: %s answered %s%s%.*s",
	    msgdc_op_name(op), c->cl.addr.text, sn != NULL ? sn : "?",
	    r->vlen > 0 ? ": " : "", r->vlen > 160 ? 160 : (int)r->vlen,
	    (const char *)r->val);
	return (msgdc_ret(c, MSGDC_ESTATUS));
}

int
msgdc_auth(struct msgdc *c, const char *token)
{
	if (token == NULL)
		return (msgdc_inval(c, "no token"));
	return (msgdc_ok(c, MSGDC_OP_AUTH, NULL, token, strlen(token), NULL));
}

int
msgdc_ping(struct msgdc *c)
{
	return (msgdc_ok(c, MSGDC_OP_PING, NULL, NULL, 0, NULL));
}

int
msgdc_echo(struct msgdc *c, const void *val, size_t len,
    struct msgdc_reply *r)
{
	return (msgdc_ok(c, MSGDC_OP_ECHO, NULL, val, len, r));
}

int
msgdc_upper(struct msgdc *c, const void *val, size_t len,
    struct msgdc_reply *r)
{
	return (msgdc_ok(c, MSGDC_OP_UPPER, NULL, val, len, r));
}

int
msgdc_time(struct msgdc *c, struct msgdc_reply *r)
{
	return (msgdc_ok(c, MSGDC_OP_TIME, NULL, NULL, 0, r));
}

int
msgdc_stats(struct msgdc *c, struct msgdc_reply *r)
{
	return (msgdc_ok(c, MSGDC_OP_STATS, NULL, NULL, 0, r));
}

/* A file name as the server takes it, checked here for a clear error. */
static int
msgdc_name_ok(struct msgdc *c, const char *name)
{
	if (name == NULL || !msg_valid_name((const uint8_t *)name,
	    strlen(name))) {
		(void)msgdc_inval(c, "a file name is 1..255 of [A-Za-z0-9._-], "
		    "not starting with '.'");
		return (0);
	}
	return (1);
}

int
msgdc_put(struct msgdc *c, const char *name, const void *val, size_t len)
{
	if (!msgdc_name_ok(c, name))
		return (MSGDC_EINVAL);
	return (msgdc_ok(c, MSGDC_OP_PUT, name, val, len, NULL));
}

int
msgdc_get(struct msgdc *c, const char *name, struct msgdc_reply *r)
{
	if (!msgdc_name_ok(c, name))
		return (MSGDC_EINVAL);
	return (msgdc_ok(c, MSGDC_OP_GET, name, NULL, 0, r));
}

int
msgdc_list(struct msgdc *c, struct msgdc_reply *r)
{
	return (msgdc_ok(c, MSGDC_OP_LIST, NULL, NULL, 0, r));
}

int
msgdc_del(struct msgdc *c, const char *name)
{
	if (!msgdc_name_ok(c, name))
		return (MSGDC_EINVAL);
	return (msgdc_ok(c, MSGDC_OP_DEL, name, NULL, 0, NULL));
}

/* Run an allow-listed command; its exit status and output in x. */
int
msgdc_exec(struct msgdc *c, const char *name, struct msgdc_exec *x)
{
	struct msgdc_reply	r;
	int			rc;

	if (x == NULL || name == NULL || name[0] == '\0')
		return (msgdc_inval(c, "no command name or no result"));
	if ((rc = msgdc_ok(c, MSGDC_OP_EXEC, name, NULL, 0, &r)) != MSGDC_OK)
		return (rc);
	if (msgdc_exec_parse(&r, x) == -1) {
		snprintf(c->cl.err, sizeof(c->cl.err), "%s: malformed EXEC "
		    "answer", c->cl.addr.text);
		return (msgdc_ret(c, MSGDC_EPROTO));
	}
	return (MSGDC_OK);
}

/* Take an OK EXEC answer apart: 0, or -1 when it is malformed. */
int
msgdc_exec_parse(const struct msgdc_reply *r, struct msgdc_exec *x)
{
	struct client_resp	cr;

	memset(&cr, 0, sizeof(cr));
	cr.key = r->key;
	cr.klen = r->klen;
	cr.val = r->val;
	cr.vlen = r->vlen;
	return (client_exec_answer(&cr, x));
}

/*
 * One request in one datagram (ping, echo, upper, time; msgd's udp
 * listeners); the answer lands in buf.  No handle: errors in err.
 */
int
msgdc_udp_call(const char *addr, int timeout_ms, int op, const void *val,
    size_t vlen, void *buf, size_t len, struct msgdc_reply *r, char *err,
    size_t errlen)
{
	struct client_resp	cr;
	int			rc;

	if (addr == NULL || op < 0 || op > 0xff || timeout_ms <= 0 ||
	    buf == NULL || r == NULL || (vlen > 0 && val == NULL)) {
		snprintf(err, errlen, "bad arguments");
		return (MSGDC_EINVAL);
	}
	rc = client_udp_call(addr, timeout_ms, (uint8_t)op, val, vlen, buf,
	    len, &cr, err, errlen);
	if (rc == CLIENT_OK)
		msgdc_reply_set(r, &cr);
	return (rc);
}

/* Queue a request for msgdc_get_reply() (or msgdc_flush()). */
int
msgdc_append(struct msgdc *c, int op, const void *key, size_t klen,
    const void *val, size_t vlen, uint32_t *idp)
{
	if (op < 0 || op > 0xff)
		return (msgdc_inval(c, "bad opcode"));
	return (msgdc_ret(c, client_append(&c->cl, (uint8_t)op, key, klen,
	    val, vlen, idp)));
}

/* The next appended request's answer, waiting for it (blocking mode). */
int
msgdc_get_reply(struct msgdc *c, struct msgdc_reply *r)
{
	struct client_resp	cr;
	int			rc;

	if (r == NULL)
		return (msgdc_inval(c, "no reply"));
	if (c->cl.nonblock)
		rc = client_take(&c->cl, &cr);
	else
		rc = client_get_reply(&c->cl, &cr);
	if (rc == CLIENT_OK)
		msgdc_reply_set(r, &cr);
	return (msgdc_ret(c, rc));
}

/* How many appended requests still wait for their answers. */
size_t
msgdc_pending(const struct msgdc *c)
{
	return (c->cl.pend_n);
}

/*
 * Non-blocking mode (on != 0): no call waits; the caller polls msgdc_fd()
 * for msgdc_want().  Connecting (TLS, AUTH) stays blocking.
 */
int
msgdc_set_nonblock(struct msgdc *c, int on)
{
	c->cl.nonblock = on != 0;
	return (msgdc_ret(c, MSGDC_OK));
}

int
msgdc_fd(const struct msgdc *c)
{
	return (c->cl.fd);
}

/* What to poll msgdc_fd() for: MSGDC_WANT_READ, _WRITE, both or 0. */
int
msgdc_want(const struct msgdc *c)
{
	int	w = 0;

	if (c->cl.fd == -1)
		return (0);
	if (c->cl.pend_n > 0)
		w |= MSGDC_WANT_READ;
	if (buf_used(&c->cl.out) > 0)
		w |= MSGDC_WANT_WRITE;
	/* TLS may need the other direction to finish this one. */
	if (w != 0 && (c->cl.want & POLLIN))
		w |= MSGDC_WANT_READ;
	if (w != 0 && (c->cl.want & POLLOUT))
		w |= MSGDC_WANT_WRITE;
	return (w);
}

/* Write what is queued: MSGDC_OK (all), MSGDC_EAGAIN (some), an error. */
int
msgdc_flush(struct msgdc *c)
{
	c->cl.want = 0;
	return (msgdc_ret(c, client_flush(&c->cl)));
}

/* Read what has arrived: MSGDC_OK or an error. */
int
msgdc_feed(struct msgdc *c)
{
	c->cl.want = 0;
	return (msgdc_ret(c, client_feed(&c->cl)));
}

/* A whole answer, if one is (MSGDC_OK); MSGDC_EAGAIN: none yet. */
int
msgdc_take(struct msgdc *c, struct msgdc_reply *r)
{
	struct client_resp	cr;
	int			rc;

	if (r == NULL)
		return (msgdc_inval(c, "no reply"));
	if ((rc = client_take(&c->cl, &cr)) == CLIENT_OK)
		msgdc_reply_set(r, &cr);
	return (msgdc_ret(c, rc));
}

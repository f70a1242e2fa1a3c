/*
 * test_ops.c: ops_dispatch() as a connection uses it: the answer of each
 * of the eleven operations, their error statuses, the refusals (before
 * AUTH, protected mode, UDP, files and commands disabled), unknown
 * opcodes, and answers appended behind output already queued.  Every
 * answer is checked to be one well-formed response frame to its request.
 */
#include <sys/epoll.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "config.h"
#include "exec.h"
#include "ops.h"
#include "proto.h"
#include "sha256.h"
#include "spool.h"
#include "stats.h"
#include "util.h"

#define TOKEN	"open sesame"

struct fixture {
	char			 dir[64];	/* temp: conf, stats, files */
	struct msgd_conf	 conf;
	struct ops_env		 env;
	struct op_client	 cl;
	struct buf		 out;
	struct stats_seg	 seg;
	struct spool		 spool;
	int			 published;
};

/* One answer, taken apart. */
struct answer {
	struct msg_hdr	 h;
	const uint8_t	*key;
	const uint8_t	*val;
	size_t		 vlen;
	struct op_outcome oc;
	int		 rc;
};

static int
setup(void **state)
{
	struct fixture	*fx;

	if ((fx = calloc(1, sizeof(*fx))) == NULL)
		return (-1);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/msgd-test-ops.XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return (-1);
	conf_defaults(&fx->conf);
	fx->env.conf = &fx->conf;
	fx->env.now = mono_ms();
	fx->cl.authed = 1;
	fx->spool.dirfd = fx->spool.lockfd = -1;
	*state = fx;
	return (0);
}

/* Remove what a test left in the temp directory, then the directory. */
static int
teardown(void **state)
{
	struct fixture	*fx = *state;
	char		 cmd[128];

	buf_release(&fx->out);
	if (fx->seg.hdr != NULL)
		stats_close(&fx->seg);
	if (fx->spool.dirfd != -1)
		spool_close(&fx->spool);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd) != 0)
		return (-1);
	free(fx);
	return (0);
}

/* A token is configured. */
static void
set_token(struct fixture *fx)
{
	sha256(TOKEN, strlen(TOKEN), fx->conf.auth_digest);
	fx->conf.auth_set = 1;
}

/* The files directory, with small limits. */
static void
open_spool(struct fixture *fx)
{
	char	path[128], cause[256];

	snprintf(path, sizeof(path), "%s/files", fx->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	if (spool_open(&fx->spool, path, cause, sizeof(cause)) == -1)
		fail_msg("spool_open: %s", cause);
	fx->spool.max_size = 1024;
	fx->spool.max_count = 4;
	fx->spool.max_resp = 65536;
	fx->env.spool = &fx->spool;
}

/*
 * Send one request of op (key and value, id) through ops_dispatch and
 * check the bytes it appended: one response frame to that request (or
 * none, deferred), whose status is the outcome's.
 */
static void
ask(struct fixture *fx, uint8_t op, uint32_t id, const char *key,
    const void *val, size_t vlen, struct answer *a)
{
	struct msg_hdr	 h;
	uint8_t		*body;
	size_t		 klen = key != NULL ? strlen(key) : 0, start;
	const char	*why;

	memset(&h, 0, sizeof(h));
	h.version = MSG_VERSION;
	h.opcode = op;
	h.request_id = id;
	h.key_len = (uint16_t)klen;
	h.body_len = (uint32_t)(klen + vlen);
	body = malloc(klen + vlen + 1);
	assert_non_null(body);
	if (klen > 0)
		memcpy(body, key, klen);
	if (vlen > 0)
		memcpy(body + klen, val, vlen);
	start = buf_used(&fx->out);
	memset(a, 0, sizeof(*a));
	a->rc = ops_dispatch(&fx->env, &fx->cl, &h, body, &fx->out, &a->oc);
	free(body);
	assert_int_equal(a->rc, 0);
	if (a->oc.deferred) {
		assert_int_equal(buf_used(&fx->out), start);
		return;
	}
	assert_int_equal(msg_check_response(buf_head(&fx->out) + start,
	    buf_used(&fx->out) - start, &a->h, &why), 0);
	assert_int_equal(a->h.opcode, op);
	assert_int_equal(a->h.request_id, id);
	assert_int_equal(a->h.status, a->oc.st);
	assert_int_equal(buf_used(&fx->out) - start,
	    MSG_HDR_LEN + (size_t)a->h.body_len);
	a->key = buf_head(&fx->out) + start + MSG_HDR_LEN;
	a->val = a->key + a->h.key_len;
	a->vlen = a->h.body_len - a->h.key_len;
}

/* The answer is status st with the value s (NULL: any). */
static void
assert_answer(const struct answer *a, enum msg_status st, const char *s)
{
	assert_int_equal(a->h.status, st);
	if (st != MSG_ST_OK)
		assert_int_equal(a->h.key_len, 0);
	if (s == NULL)
		return;
	assert_int_equal(a->vlen, strlen(s));
	assert_memory_equal(a->val, s, a->vlen);
}

/* An error answer whose message contains s. */
static void
assert_error(const struct answer *a, enum msg_status st, const char *s)
{
	char	msg[512];

	assert_answer(a, st, NULL);
	assert_true(a->vlen > 0 && a->vlen < sizeof(msg));
	memcpy(msg, a->val, a->vlen);
	msg[a->vlen] = '\0';
	if (strstr(msg, s) == NULL)
		fail_msg("\"%s\" does not say \"%s\"", msg, s);
}

static void
test_ops_ping(void **state)
{
	struct fixture	*fx = *state;
	struct answer	 a;

	ask(fx, MSG_OP_PING, 1, NULL, NULL, 0, &a);
	assert_answer(&a, MSG_ST_OK, "PONG");
	assert_int_equal(a.h.key_len, 0);
	assert_int_equal(a.h.flags, MSG_F_RESPONSE);
	/* Whatever the request carries. */
	ask(fx, MSG_OP_PING, 0xffffffffU, "k", "v", 1, &a);
	assert_answer(&a, MSG_ST_OK, "PONG");
}

static void
test_ops_echo(void **state)
{
	struct fixture	*fx = *state;
	struct answer	 a;
	uint8_t		 bin[256];
	size_t		 i;

	ask(fx, MSG_OP_ECHO, 2, NULL, "hello", 5, &a);
	assert_answer(&a, MSG_ST_OK, "hello");
	ask(fx, MSG_OP_ECHO, 3, NULL, NULL, 0, &a);
	assert_answer(&a, MSG_ST_OK, "");
	for (i = 0; i < sizeof(bin); i++)
		bin[i] = (uint8_t)i;
	ask(fx, MSG_OP_ECHO, 4, NULL, bin, sizeof(bin), &a);
	assert_answer(&a, MSG_ST_OK, NULL);
	assert_int_equal(a.vlen, sizeof(bin));
	assert_memory_equal(a.val, bin, sizeof(bin));
	/* A key is not part of the answer (nor of its in-place copy). */
	ask(fx, MSG_OP_ECHO, 5, "key", "value", 5, &a);
	assert_answer(&a, MSG_ST_OK, "value");
	assert_int_equal(a.h.key_len, 0);
}

/* ASCII letters only: other bytes, UTF-8 included, pass unchanged. */
static void
test_ops_upper(void **state)
{
	struct fixture	*fx = *state;
	struct answer	 a;

	ask(fx, MSG_OP_UPPER, 5, NULL, "abc-XYZ z\xc3\xa9{", 12, &a);
	assert_answer(&a, MSG_ST_OK, "ABC-XYZ Z\xc3\xa9{");
	ask(fx, MSG_OP_UPPER, 6, NULL, NULL, 0, &a);
	assert_answer(&a, MSG_ST_OK, "");
	ask(fx, MSG_OP_UPPER, 7, "key", "value", 5, &a);
	assert_answer(&a, MSG_ST_OK, "VALUE");
	assert_int_equal(a.h.key_len, 0);
}

/*
 * A run of ECHO or UPPER requests turned into answers in place (headers by
 * msg_answer_run, values by ops_transform_run) is, byte for byte, what
 * ops_dispatch answers to each of them.
 */
static void
test_ops_transform_run(void **state)
{
	static const uint8_t	 runops[] = { MSG_OP_ECHO, MSG_OP_UPPER };
	static const char *const vals[] = { "", "abc-XYZ z\xc3\xa9{", "x",
	    "", "Run of requests" };
	struct fixture		*fx = *state;
	struct answer		 a;
	uint8_t			 run[512], *p;
	size_t			 len, i, k;
	uint32_t		 nf;

	for (k = 0; k < sizeof(runops); k++) {
		for (i = 0, len = 0; i < 5; i++) {
			len += msg_encode_request(run + len, runops[k],
			    (uint32_t)(100 + i), 0, (uint32_t)strlen(vals[i]));
			memcpy(run + len, vals[i], strlen(vals[i]));
			len += strlen(vals[i]);
		}
		assert_int_equal(msg_answer_run(run, len, 1024, runops[k],
		    SIZE_MAX, &nf), len);
		assert_int_equal(nf, 5);
		ops_transform_run(ops_lookup(runops[k]), run, len);
		for (i = 0, p = run; i < 5; i++) {
			ask(fx, runops[k], (uint32_t)(100 + i), NULL, vals[i],
			    strlen(vals[i]), &a);
			assert_int_equal(a.h.status, MSG_ST_OK);
			assert_memory_equal(p, a.key - MSG_HDR_LEN,
			    MSG_HDR_LEN + a.h.body_len);
			p += MSG_HDR_LEN + a.h.body_len;
		}
		assert_true(p == run + len);
	}
}

/* RFC 3339 in UTC with microseconds: 2026-11-21T10:00:00.123456Z. */
static void
test_ops_time(void **state)
{
	struct fixture	*fx = *state;
	struct answer	 a;
	const char	*shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	size_t		 i;

	ask(fx, MSG_OP_TIME, 7, NULL, NULL, 0, &a);
	assert_answer(&a, MSG_ST_OK, NULL);
	assert_int_equal(a.vlen, strlen(shape));
	for (i = 0; i < a.vlen; i++) {
		if (shape[i] == 'd')
			assert_true(a.val[i] >= '0' && a.val[i] <= '9');
		else
			assert_int_equal(a.val[i], shape[i]);
	}
}

static void
test_ops_stats_unavailable(void **state)
{
	struct fixture	*fx = *state;
	struct answer	 a;

	ask(fx, MSG_OP_STATS, 8, NULL, NULL, 0, &a);
	assert_error(&a, MSG_ST_INTERNAL, "statistics are not available");
}

static void
count_publish(void *arg)
{
	struct fixture	*fx = arg;

	fx->published++;
}

/* The JSON document; the worker's pending counters go out first. */
static void
test_ops_stats(void **state)
{
	struct fixture	*fx = *state;
	struct answer	 a;
	char		 path[128], cause[256];

	snprintf(path, sizeof(path), "%s/stats", fx->dir);
	if (stats_create(&fx->seg, path, 2, cause, sizeof(cause)) == -1)
		fail_msg("stats_create: %s", cause);
	fx->env.stats = &fx->seg;
	fx->env.publish = count_publish;
	fx->env.publish_arg = fx;
	ask(fx, MSG_OP_STATS, 9, NULL, NULL, 0, &a);
	assert_answer(&a, MSG_ST_OK, NULL);
	assert_int_equal(fx->published, 1);
	assert_int_equal(a.h.key_len, 0);
	assert_true(a.vlen > 2);
	assert_int_equal(a.val[0], '{');
	assert_true(a.val[a.vlen - 1] == '}' || (a.val[a.vlen - 1] == '\n' &&
	    a.val[a.vlen - 2] == '}'));
}

/* Opcodes nobody serves, 0 included: UNKNOWN_OP, opcode and id kept. */
static void
test_ops_unknown(void **state)
{
	struct fixture	*fx = *state;
	struct answer	 a;
	static const uint8_t ops[] = { 0x00, 0x07, 0x14, 0x21, 0x7f, 0xff };
	size_t		 i;

	for (i = 0; i < sizeof(ops); i++) {
		assert_null(ops_lookup(ops[i]));
		ask(fx, ops[i], 100 + (uint32_t)i, NULL, "x", 1, &a);
		assert_error(&a, MSG_ST_UNKNOWN_OP, "unknown opcode");
		assert_int_equal(a.oc.denied, 0);
	}
}

/* Each opcode the protocol names has an entry, under the same name. */
static void
test_ops_lookup_names(void **state)
{
	static const uint8_t ops[] = { MSG_OP_PING, MSG_OP_ECHO, MSG_OP_UPPER,
	    MSG_OP_TIME, MSG_OP_STATS, MSG_OP_AUTH, MSG_OP_PUT, MSG_OP_GET,
	    MSG_OP_LIST, MSG_OP_DEL, MSG_OP_EXEC };
	const struct op_def	*def;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(ops); i++) {
		def = ops_lookup(ops[i]);
		assert_non_null(def);
		assert_int_equal(def->op, ops[i]);
		assert_string_equal(def->name, msg_op_name(ops[i]));
	}
}

/* Without a token AUTH is a no-op that succeeds. */
static void
test_ops_auth_no_token(void **state)
{
	struct fixture	*fx = *state;
	struct answer	 a;

	fx->cl.authed = 0;
	ask(fx, MSG_OP_AUTH, 10, NULL, "anything", 8, &a);
	assert_answer(&a, MSG_ST_OK, "");
	assert_int_equal(a.oc.authed, 1);
	assert_int_equal(a.oc.auth_failed, 0);
}

static void
test_ops_auth_token(void **state)
{
	struct fixture	*fx = *state;
	struct answer	 a;

	set_token(fx);
	fx->cl.authed = 0;
	ask(fx, MSG_OP_AUTH, 11, NULL, "open sesamE", 11, &a);
	assert_error(&a, MSG_ST_DENIED, "wrong token");
	assert_int_equal(a.oc.auth_failed, 1);
	assert_int_equal(a.oc.authed, 0);
	ask(fx, MSG_OP_AUTH, 12, NULL, "open sesame ", 12, &a);
	assert_int_equal(a.h.status, MSG_ST_DENIED);
	ask(fx, MSG_OP_AUTH, 13, NULL, NULL, 0, &a);
	assert_int_equal(a.h.status, MSG_ST_DENIED);
	ask(fx, MSG_OP_AUTH, 14, NULL, TOKEN, strlen(TOKEN), &a);
	assert_answer(&a, MSG_ST_OK, "");
	assert_int_equal(a.oc.authed, 1);
	assert_int_equal(a.oc.auth_failed, 0);
}

/* With a token, before AUTH only PING and AUTH are served. */
static void
test_ops_needs_auth(void **state)
{
	struct fixture	*fx = *state;
	struct answer	 a;
	static const uint8_t denied[] = { MSG_OP_ECHO, MSG_OP_UPPER,
	    MSG_OP_TIME, MSG_OP_STATS, MSG_OP_PUT, MSG_OP_GET, MSG_OP_LIST,
	    MSG_OP_DEL, MSG_OP_EXEC };
	size_t		 i;

	set_token(fx);
	fx->cl.authed = 0;
	for (i = 0; i < sizeof(denied); i++) {
		assert_false(ops_allowed(&fx->env, &fx->cl,
		    ops_lookup(denied[i])));
		ask(fx, denied[i], 20 + (uint32_t)i, "k", "v", 1, &a);
		assert_error(&a, MSG_ST_DENIED, "authenticate first");
		assert_int_equal(a.oc.denied, 1);
	}
	ask(fx, MSG_OP_PING, 30, NULL, NULL, 0, &a);
	assert_answer(&a, MSG_ST_OK, "PONG");
	assert_int_equal(a.oc.denied, 0);
	/* Authenticated, the same client is served. */
	fx->cl.authed = 1;
	assert_true(ops_allowed(&fx->env, &fx->cl, ops_lookup(MSG_OP_ECHO)));
	ask(fx, MSG_OP_ECHO, 31, NULL, "hi", 2, &a);
	assert_answer(&a, MSG_ST_OK, "hi");
}

/* Protected mode: a remote peer gets PING only, even authenticated. */
static void
test_ops_protected(void **state)
{
	struct fixture	*fx = *state;
	struct answer	 a;

	fx->cl.restricted = 1;
	ask(fx, MSG_OP_ECHO, 40, NULL, "hi", 2, &a);
	assert_error(&a, MSG_ST_DENIED, "protected mode");
	assert_int_equal(a.oc.denied, 1);
	ask(fx, MSG_OP_AUTH, 41, NULL, NULL, 0, &a);
	assert_int_equal(a.h.status, MSG_ST_DENIED);
	ask(fx, MSG_OP_PING, 42, NULL, NULL, 0, &a);
	assert_answer(&a, MSG_ST_OK, "PONG");
}

/* UDP: the simple operations only, and with a token PING only. */
static void
test_ops_udp(void **state)
{
	struct fixture	*fx = *state;
	struct answer	 a;
	static const uint8_t tcp_only[] = { MSG_OP_STATS, MSG_OP_AUTH,
	    MSG_OP_PUT, MSG_OP_GET, MSG_OP_LIST, MSG_OP_DEL, MSG_OP_EXEC };
	size_t		 i;

	fx->cl.udp = 1;
	for (i = 0; i < sizeof(tcp_only); i++) {
		ask(fx, tcp_only[i], 50 + (uint32_t)i, "k", NULL, 0, &a);
		assert_error(&a, MSG_ST_DENIED, "not served over UDP");
	}
	ask(fx, MSG_OP_UPPER, 60, NULL, "udp", 3, &a);
	assert_answer(&a, MSG_ST_OK, "UDP");
	set_token(fx);
	ask(fx, MSG_OP_ECHO, 61, NULL, "udp", 3, &a);
	assert_error(&a, MSG_ST_DENIED, "UDP serves PING only");
	ask(fx, MSG_OP_PING, 62, NULL, NULL, 0, &a);
	assert_answer(&a, MSG_ST_OK, "PONG");
}

static void
test_ops_files_disabled(void **state)
{
	struct fixture	*fx = *state;
	struct answer	 a;
	static const uint8_t ops[] = { MSG_OP_PUT, MSG_OP_GET, MSG_OP_LIST,
	    MSG_OP_DEL };
	size_t		 i;

	for (i = 0; i < sizeof(ops); i++) {
		ask(fx, ops[i], 70 + (uint32_t)i, "a.txt", "x", 1, &a);
		assert_error(&a, MSG_ST_DENIED, "files.enabled");
		/* Not a refusal of the client: the server has none. */
		assert_int_equal(a.oc.denied, 0);
	}
}

/* PUT, GET (the name as key), LIST, DEL, and their errors. */
static void
test_ops_files(void **state)
{
	struct fixture	*fx = *state;
	struct answer	 a;
	char		 big[2048];

	open_spool(fx);
	ask(fx, MSG_OP_PUT, 80, "a.txt", "hello", 5, &a);
	assert_answer(&a, MSG_ST_OK, NULL);
	ask(fx, MSG_OP_GET, 81, "a.txt", NULL, 0, &a);
	assert_answer(&a, MSG_ST_OK, NULL);
	assert_int_equal(a.h.key_len, 5);
	assert_memory_equal(a.key, "a.txt", 5);
	assert_int_equal(a.vlen, 5);
	assert_memory_equal(a.val, "hello", 5);
	ask(fx, MSG_OP_LIST, 82, NULL, NULL, 0, &a);
	assert_answer(&a, MSG_ST_OK, NULL);
	assert_non_null(memmem(a.val, a.vlen, "a.txt", 5));
	ask(fx, MSG_OP_DEL, 83, "a.txt", NULL, 0, &a);
	assert_answer(&a, MSG_ST_OK, NULL);
	/* Gone: GET and DEL say so, and the error has no key. */
	ask(fx, MSG_OP_GET, 84, "a.txt", NULL, 0, &a);
	assert_answer(&a, MSG_ST_NOT_FOUND, NULL);
	ask(fx, MSG_OP_DEL, 85, "a.txt", NULL, 0, &a);
	assert_answer(&a, MSG_ST_NOT_FOUND, NULL);
	/* Names that are not file names. */
	ask(fx, MSG_OP_GET, 86, ".hidden", NULL, 0, &a);
	assert_error(&a, MSG_ST_BAD_REQUEST, "bad file name");
	ask(fx, MSG_OP_PUT, 87, "a/b", "x", 1, &a);
	assert_answer(&a, MSG_ST_BAD_REQUEST, NULL);
	ask(fx, MSG_OP_GET, 88, NULL, NULL, 0, &a);
	assert_answer(&a, MSG_ST_BAD_REQUEST, NULL);
	/* Over files.max_size. */
	memset(big, 'b', sizeof(big));
	ask(fx, MSG_OP_PUT, 89, "big", big, sizeof(big), &a);
	assert_answer(&a, MSG_ST_TOO_LARGE, NULL);
	ask(fx, MSG_OP_GET, 90, "big", NULL, 0, &a);
	assert_answer(&a, MSG_ST_NOT_FOUND, NULL);
}

static void
test_ops_exec_disabled(void **state)
{
	struct fixture	*fx = *state;
	struct answer	 a;

	ask(fx, MSG_OP_EXEC, 91, "date", NULL, 0, &a);
	assert_error(&a, MSG_ST_DENIED, "exec.enabled");
	assert_int_equal(a.oc.deferred, 0);
}

/*
 * A configuration with one command, "t" (/bin/true), and one command at a
 * time, loaded the way msgd loads it; exec started with its spawner on a
 * fresh epoll set.
 */
static void
exec_setup(struct fixture *fx, struct exec_ctx *ex, int *epfd)
{
	char	path[128], cause[512];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/msgd.conf", fx->dir);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "listen = [ \"unix:%s/sock\" ];\n"
	    "exec = { enabled = true; max_running = 1;\n"
	    "    commands = { t = [ \"/bin/true\" ]; }; };\n",
	    fx->dir);
	assert_int_equal(fclose(f), 0);
	if (conf_load(path, &fx->conf, cause, sizeof(cause)) == -1)
		fail_msg("conf_load: %s", cause);
	assert_true((*epfd = epoll_create1(EPOLL_CLOEXEC)) != -1);
	exec_init(ex, *epfd, &fx->conf);
	fx->env.exec = ex;
}

static void
exec_done_unused(struct exec_job *j, void *arg)
{
	fail_msg("exec_done called from ops_dispatch");
}

/* EXEC: unknown commands, no connection, a deferred answer, BUSY. */
static void
test_ops_exec(void **state)
{
	struct fixture	*fx = *state;
	struct exec_ctx	 ex;
	struct exec_job	*job;
	struct answer	 a;
	int		 epfd, conn = 0;

	exec_setup(fx, &ex, &epfd);
	fx->env.exec_done = exec_done_unused;
	ask(fx, MSG_OP_EXEC, 92, "nope", NULL, 0, &a);
	assert_error(&a, MSG_ST_DENIED, "needs a connection");
	fx->cl.conn = &conn;
	ask(fx, MSG_OP_EXEC, 93, "nope", NULL, 0, &a);
	assert_error(&a, MSG_ST_NOT_FOUND, "exec.commands");
	ask(fx, MSG_OP_EXEC, 94, "t", "stdin", 5, &a);
	/* Started: nothing is written now (ask), the connection waits. */
	assert_int_equal(a.oc.deferred, 1);
	assert_int_equal(a.oc.st, MSG_ST_OK);
	assert_non_null(a.oc.job);
	job = a.oc.job;
	/* Until that one is reaped, no other may start. */
	ask(fx, MSG_OP_EXEC, 95, "t", NULL, 0, &a);
	assert_error(&a, MSG_ST_BUSY, "max_running");
	assert_int_equal(a.oc.deferred, 0);
	exec_detach(&ex, job);
	exec_shutdown(&ex);
	close(epfd);
}

/*
 * Answers go behind what is queued, whatever was sent of it already
 * (positions relative to the unsent bytes), and an error answer removes
 * the partial answer it replaces and nothing before it.
 */
static void
test_ops_appends(void **state)
{
	struct fixture	*fx = *state;
	struct answer	 a;
	char		 big[2048];
	size_t		 used;

	open_spool(fx);
	assert_int_equal(buf_append(&fx->out, "0123456789", 10), 0);
	buf_consume(&fx->out, 4);
	ask(fx, MSG_OP_ECHO, 95, NULL, "abc", 3, &a);
	assert_answer(&a, MSG_ST_OK, "abc");
	assert_memory_equal(buf_head(&fx->out), "456789", 6);
	used = buf_used(&fx->out);
	/* GET appends the key before it knows the file is missing. */
	ask(fx, MSG_OP_GET, 96, "missing", NULL, 0, &a);
	assert_answer(&a, MSG_ST_NOT_FOUND, NULL);
	assert_int_equal(buf_used(&fx->out), used + MSG_HDR_LEN + a.vlen);
	assert_memory_equal(buf_head(&fx->out), "456789", 6);
	/* A large answer that makes the buffer grow keeps the front. */
	memset(big, 'q', sizeof(big));
	ask(fx, MSG_OP_ECHO, 97, NULL, big, sizeof(big), &a);
	assert_int_equal(a.vlen, sizeof(big));
	assert_memory_equal(buf_head(&fx->out), "456789", 6);
}

/* A standalone error frame: the message as value, no key. */
static void
test_ops_error_frame(void **state)
{
	struct buf	 b = { 0 };
	struct msg_hdr	 h;
	const char	*why;

	(void)state;
	assert_int_equal(ops_error(&b, 0x42, MSG_ST_BUSY, 77, "too busy"), 0);
	assert_int_equal(buf_used(&b), MSG_HDR_LEN + 8);
	assert_int_equal(msg_check_response(buf_head(&b), buf_used(&b), &h,
	    &why), 0);
	assert_int_equal(h.opcode, 0x42);
	assert_int_equal(h.status, MSG_ST_BUSY);
	assert_int_equal(h.request_id, 77);
	assert_int_equal(h.key_len, 0);
	assert_int_equal(h.body_len, 8);
	assert_memory_equal(buf_head(&b) + MSG_HDR_LEN, "too busy", 8);
	/* No message: an empty value. */
	assert_int_equal(ops_error(&b, 1, MSG_ST_INTERNAL, 78, NULL), 0);
	assert_int_equal(buf_used(&b), 2 * MSG_HDR_LEN + 8);
	buf_release(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_ops_ping),
		T(test_ops_echo),
		T(test_ops_upper),
		T(test_ops_transform_run),
		T(test_ops_time),
		T(test_ops_stats_unavailable),
		T(test_ops_stats),
		T(test_ops_unknown),
		T(test_ops_lookup_names),
		T(test_ops_auth_no_token),
		T(test_ops_auth_token),
		T(test_ops_needs_auth),
		T(test_ops_protected),
		T(test_ops_udp),
		T(test_ops_files_disabled),
		T(test_ops_files),
		T(test_ops_exec_disabled),
		T(test_ops_exec),
		T(test_ops_appends),
		T(test_ops_error_frame),
#undef T
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

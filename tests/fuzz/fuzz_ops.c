/*
 * fuzz_ops.c: libFuzzer target for the operation bodies: file names, AUTH,
 * the answers the client takes apart, and whole requests through
 * ops_dispatch().  The first input byte picks the part, the rest is its
 * input:
 *
 *   0 name	the bytes as a file name: msg_valid_name() against the rule
 *		of msgd-protocol(7), as an EXEC command name (found only
 *		when exactly "date"), then PUT, GET, LIST and DEL of it on a
 *		real files directory (a valid name round-trips and leaves
 *		nothing behind, an invalid one is BAD_REQUEST and creates
 *		nothing)
 *   1 auth	[n] token(n bytes) presented: AUTH succeeds exactly when the
 *		presented bytes are the token; sha256_equal() agrees with
 *		memcmp on digests that differ anywhere or nowhere
 *   2 answers	a byte stream from a server, read by client_recv() over a
 *		socketpair; every OK EXEC answer goes to client_exec_answer()
 *   3 requests	[flags] request stream: each frame msg_parse_request()
 *		accepts goes through ops_dispatch() as one connection would
 *		(AUTH state kept, flags: token set, UDP, protected peer); each
 *		answer must be one well-formed response frame to it
 *
 * The files directory is made once under /dev/shm (tmpfs: PUT's fsyncs are
 * cheap), and emptied after every input so that no run depends on another.
 *
 * Build and run: make fuzz && ./tests/fuzz/fuzz_ops corpus-dir
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "client.h"
#include "config.h"
#include "fuzz.h"
#include "ops.h"
#include "proto.h"
#include "sha256.h"
#include "spool.h"
#include "util.h"

#define FUZZ_MAX_BODY	8192
#define FUZZ_TOKEN	"fuzz-token-0123456789"

static struct msgd_conf	conf;
static struct spool	spool = { .dirfd = -1 };
static char		spool_dir[64];

static void
spool_remove(void)
{
	(void)unlinkat(spool.dirfd, SPOOL_LOCK_NAME, 0);
	spool_close(&spool);
	rmdir(spool_dir);
}

/*
 * Remove everything the operations left in the files directory (not the
 * workers' lock file); count what was there.
 */
static int
spool_empty(void)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd, n = 0;

	if ((fd = openat(spool.dirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (d = fdopendir(fd)) == NULL)
		abort();
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, SPOOL_LOCK_NAME) == 0)
			continue;
		CHECK(unlinkat(spool.dirfd, de->d_name, 0) == 0);
		n++;
	}
	closedir(d);
	return (n);
}

static void
setup(void)
{
	char	cause[256];

	conf_defaults(&conf);
	/* One EXEC command, "date", for the name lookup. */
	memcpy(conf.exec_pool, "date\0/bin/date", 15);
	conf.exec_pool_used = 15;
	conf.exec_cmds[0].name = 0;
	conf.exec_cmds[0].argv[0] = 5;
	conf.exec_cmds[0].argc = 1;
	conf.nexec_cmds = 1;
	snprintf(spool_dir, sizeof(spool_dir), "%s/msgd-fuzz-ops.XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(spool_dir) == NULL || spool_open(&spool, spool_dir,
	    cause, sizeof(cause)) == -1) {
		perror(spool_dir);
		abort();
	}
	spool.max_size = 1024;
	spool.max_count = 4;
	spool.max_resp = FUZZ_MAX_BODY;
	atexit(spool_remove);
}

/* The rule of msgd-protocol(7), written out independently. */
static int
name_rule(const uint8_t *p, size_t n)
{
	size_t	i;

	if (n < 1 || n > 255 || p[0] == '.')
		return (0);
	for (i = 0; i < n; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", p[i]) == NULL ||
		    p[i] == '\0')
			return (0);
	return (1);
}

/*
 * One request through ops_dispatch into out; the answer appended must be
 * exactly one response frame to it.  Returns its status; *kv gets the
 * answer's body (in out, valid until out changes).
 */
static enum msg_status
dispatch(const struct ops_env *env, const struct op_client *cl,
    const struct msg_hdr *h, const uint8_t *body, struct buf *out,
    struct op_outcome *oc, const uint8_t **kv, struct msg_hdr *rh)
{
	const char	*why;
	size_t		 start = buf_used(out);

	CHECK(ops_dispatch(env, cl, h, body, out, oc) == 0);
	CHECK(!oc->deferred);
	CHECK(buf_used(out) >= start + MSG_HDR_LEN);
	CHECK(msg_check_response(buf_head(out) + start, buf_used(out) - start,
	    rh, &why) == 0);
	CHECK(rh->opcode == h->opcode);
	CHECK(rh->request_id == h->request_id);
	CHECK(rh->status == oc->st);
	CHECK(MSG_HDR_LEN + (size_t)rh->body_len == buf_used(out) - start);
	if (rh->status != MSG_ST_OK)
		CHECK(rh->key_len == 0);
	*kv = buf_head(out) + start + MSG_HDR_LEN;
	return ((enum msg_status)rh->status);
}

/* A request of op with key and value, as a connection that passed AUTH. */
static enum msg_status
simple(uint8_t op, const uint8_t *key, size_t klen, const uint8_t *val,
    size_t vlen, struct buf *out, const uint8_t **kv, struct msg_hdr *rh)
{
	static const struct op_client	cl = { .authed = 1 };
	struct ops_env			env = { .conf = &conf };
	struct op_outcome		oc;
	struct msg_hdr			h;
	uint8_t				*body;
	enum msg_status			st;

	env.spool = &spool;
	memset(&h, 0, sizeof(h));
	h.version = MSG_VERSION;
	h.opcode = op;
	h.request_id = 7;
	h.key_len = (uint16_t)klen;
	h.body_len = (uint32_t)(klen + vlen);
	if ((body = malloc(klen + vlen + 1)) == NULL)
		abort();
	if (klen > 0)
		memcpy(body, key, klen);
	if (vlen > 0)
		memcpy(body + klen, val, vlen);
	buf_truncate(out, out->off);
	st = dispatch(&env, &cl, &h, body, out, &oc, kv, rh);
	free(body);
	return (st);
}

static void
fuzz_name(const uint8_t *p, size_t n)
{
	struct buf		 out;
	struct msg_hdr		 rh;
	const uint8_t		*kv, *line;
	int			 valid = msg_valid_name(p, n), found;
	size_t			 i;

	CHECK(valid == name_rule(p, n));
	/* EXEC's key: exactly the configured name, no prefix, no NUL. */
	CHECK((conf_cmd_find(&conf, (const char *)p, n) != NULL) ==
	    (n == 4 && memcmp(p, "date", 4) == 0));
	if (n > MSG_KEY_MAX)
		return;
	memset(&out, 0, sizeof(out));
	if (!valid) {
		CHECK(simple(MSG_OP_PUT, p, n, (const uint8_t *)"x", 1, &out,
		    &kv, &rh) == MSG_ST_BAD_REQUEST);
		CHECK(simple(MSG_OP_GET, p, n, NULL, 0, &out, &kv, &rh) ==
		    MSG_ST_BAD_REQUEST);
		CHECK(simple(MSG_OP_DEL, p, n, NULL, 0, &out, &kv, &rh) ==
		    MSG_ST_BAD_REQUEST);
		CHECK(spool_empty() == 0);
		buf_release(&out);
		return;
	}
	CHECK(simple(MSG_OP_PUT, p, n, p, n, &out, &kv, &rh) == MSG_ST_OK);
	CHECK(simple(MSG_OP_GET, p, n, NULL, 0, &out, &kv, &rh) == MSG_ST_OK);
	CHECK(rh.key_len == n && memcmp(kv, p, n) == 0);
	CHECK(rh.body_len == 2 * n && memcmp(kv + n, p, n) == 0);
	/* LIST: one "name\tsize\tmtime\n" line, ours. */
	CHECK(simple(MSG_OP_LIST, NULL, 0, NULL, 0, &out, &kv, &rh) ==
	    MSG_ST_OK);
	found = 0;
	for (line = kv, i = 0; i < rh.body_len; i++)
		if (kv[i] == '\n') {
			if ((size_t)(kv + i - line) > n && line[n] == '\t' &&
			    memcmp(line, p, n) == 0)
				found++;
			line = kv + i + 1;
		}
	CHECK(found == 1);
	CHECK(simple(MSG_OP_DEL, p, n, NULL, 0, &out, &kv, &rh) == MSG_ST_OK);
	CHECK(simple(MSG_OP_GET, p, n, NULL, 0, &out, &kv, &rh) ==
	    MSG_ST_NOT_FOUND);
	CHECK(spool_empty() == 0);
	buf_release(&out);
}

static void
fuzz_auth(const uint8_t *p, size_t n)
{
	struct op_client	 cl = { 0 };
	struct ops_env		 env = { .conf = &conf };
	struct op_outcome	 oc;
	struct msg_hdr		 h, rh;
	struct buf		 out;
	const uint8_t		*kv, *tok, *pres;
	uint8_t			 a[SHA256_DIGEST_LEN], b[SHA256_DIGEST_LEN];
	size_t			 tlen, plen, i;
	int			 same;

	if (n < 1)
		return;
	tlen = p[0];
	if (tlen > n - 1)
		tlen = n - 1;
	tok = p + 1;
	pres = tok + tlen;
	plen = n - 1 - tlen;
	if (plen > FUZZ_MAX_BODY)
		return;

	sha256(tok, tlen, conf.auth_digest);
	conf.auth_set = 1;
	memset(&h, 0, sizeof(h));
	h.version = MSG_VERSION;
	h.opcode = MSG_OP_AUTH;
	h.request_id = 1;
	h.body_len = (uint32_t)plen;
	memset(&out, 0, sizeof(out));
	same = plen == tlen && memcmp(pres, tok, tlen) == 0;
	CHECK(dispatch(&env, &cl, &h, pres, &out, &oc, &kv, &rh) ==
	    (same ? MSG_ST_OK : MSG_ST_DENIED));
	CHECK(oc.authed == same && oc.auth_failed == !same);
	/* Before AUTH, only PING and AUTH. */
	h.opcode = MSG_OP_ECHO;
	CHECK(dispatch(&env, &cl, &h, pres, &out, &oc, &kv, &rh) ==
	    MSG_ST_DENIED);
	CHECK(oc.denied);
	conf.auth_set = 0;
	buf_release(&out);

	/* The digest compare: equal, and differing in any one byte. */
	sha256(pres, plen, a);
	memcpy(b, a, sizeof(b));
	CHECK(sha256_equal(a, b) == 1);
	for (i = 0; i < SHA256_DIGEST_LEN; i++) {
		b[i] ^= (uint8_t)(tlen | 1);
		CHECK(sha256_equal(a, b) == 0);
		b[i] = a[i];
	}
	sha256(tok, tlen, b);
	CHECK(sha256_equal(a, b) == (memcmp(a, b, sizeof(a)) == 0));
}

static void
fuzz_answers(const uint8_t *p, size_t n)
{
	struct client		 c;
	struct client_resp	 r;
	struct msgdc_exec	 x;
	int			 sv[2], rc, frames = 0;

	/* All of it must fit the socket buffer: the writer is this thread. */
	if (n > 65536)
		return;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	if (write_full(sv[1], p, n) == -1)
		abort();
	close(sv[1]);
	memset(&c, 0, sizeof(c));
	c.fd = sv[0];
	c.timeout_ms = 1000;
	c.max_resp = FUZZ_MAX_BODY;
	snprintf(c.addr.text, sizeof(c.addr.text), "fuzz");
	while ((rc = client_recv(&c, &r)) == CLIENT_OK) {
		frames++;
		CHECK(r.klen == r.hdr.key_len && r.klen <= r.hdr.body_len);
		CHECK(r.vlen == r.hdr.body_len - r.hdr.key_len);
		CHECK(r.hdr.body_len <= c.max_resp);
		CHECK(r.key >= c.in.data && r.val + r.vlen <= c.in.data +
		    c.in.len);
		CHECK(r.hdr.flags & MSG_F_RESPONSE);
		if (r.hdr.opcode != MSG_OP_EXEC || r.hdr.status != MSG_ST_OK)
			continue;
		if (client_exec_answer(&r, &x) == -1)
			continue;
		CHECK(x.status >= 0 && x.status <= 255);
		CHECK(r.klen >= 1 && r.klen <= 3);
		CHECK(x.out == r.val + 4 && x.err == x.out + x.olen);
		CHECK(4 + x.olen + x.elen == r.vlen);
	}
	CHECK(rc == CLIENT_EPROTO || rc == CLIENT_EIO);
	CHECK(c.err[0] != '\0');
	client_close(&c);
	(void)frames;
}

/* An op whose answer is its value changed in place must agree with it. */
static void
check_inplace(const struct msg_hdr *h, const uint8_t *body,
    const struct msg_hdr *rh, const uint8_t *kv)
{
	const struct op_def	*def = ops_lookup(h->opcode);
	uint8_t			*v;
	size_t			 vlen = h->body_len - h->key_len;

	if (def == NULL || def->inplace == NULL || rh->status != MSG_ST_OK)
		return;
	CHECK(rh->key_len == 0 && rh->body_len == vlen);
	if ((v = malloc(vlen + 1)) == NULL)
		abort();
	memcpy(v, body + h->key_len, vlen);
	def->inplace(v, vlen);
	CHECK(memcmp(v, kv, vlen) == 0);
	free(v);
}

static void
fuzz_requests(const uint8_t *p, size_t n)
{
	struct op_client	 cl = { 0 };
	struct ops_env		 env = { .conf = &conf };
	struct op_outcome	 oc;
	struct msg_parse	 mp;
	struct msg_hdr		 rh;
	struct buf		 out;
	const uint8_t		*kv;
	uint8_t			 flags;
	size_t			 off = 0;

	if (n < 1)
		return;
	flags = p[0];
	p++;
	n--;
	env.spool = &spool;
	if (flags & 1) {
		sha256(FUZZ_TOKEN, strlen(FUZZ_TOKEN), conf.auth_digest);
		conf.auth_set = 1;
	}
	cl.authed = !conf.auth_set;
	cl.udp = (flags & 2) != 0;
	cl.restricted = (flags & 4) != 0;
	memset(&out, 0, sizeof(out));
	while (off < n) {
		msg_parse_request(p + off, n - off, FUZZ_MAX_BODY, &mp);
		if (mp.result == MSG_PARSE_MORE)
			break;
		if (mp.result == MSG_PARSE_ERROR) {
			if (mp.close || mp.skip > n - off - MSG_HDR_LEN)
				break;
			off += MSG_HDR_LEN + mp.skip;
			continue;
		}
		dispatch(&env, &cl, &mp.hdr, p + off + MSG_HDR_LEN, &out, &oc,
		    &kv, &rh);
		check_inplace(&mp.hdr, p + off + MSG_HDR_LEN, &rh, kv);
		if (cl.udp && !(ops_lookup(mp.hdr.opcode) == NULL ||
		    (ops_lookup(mp.hdr.opcode)->flags & OP_UDP_OK)))
			CHECK(rh.status == MSG_ST_DENIED);
		if (cl.restricted && ops_lookup(mp.hdr.opcode) != NULL &&
		    mp.hdr.opcode != MSG_OP_PING)
			CHECK(rh.status == MSG_ST_DENIED);
		if (oc.authed)
			cl.authed = 1;
		if (oc.auth_failed)
			break;		/* the connection closes */
		/* As if part of the answers went out: compaction moves. */
		buf_consume(&out, buf_used(&out) / 2);
		off += mp.need;
	}
	buf_release(&out);
	conf.auth_set = 0;
	spool_empty();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (spool.dirfd == -1)
		setup();
	if (size < 1)
		return (0);
	switch (data[0] % 4) {
	case 0:
		fuzz_name(data + 1, size - 1);
		break;
	case 1:
		fuzz_auth(data + 1, size - 1);
		break;
	case 2:
		fuzz_answers(data + 1, size - 1);
		break;
	case 3:
		fuzz_requests(data + 1, size - 1);
		break;
	}
	return (0);
}

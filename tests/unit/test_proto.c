/*
 * test_proto.c: the frame codec against protocol v1: every error rule of
 * msg_parse_request(), framing across splits and pipelines, header
 * encoding, response checks and the name tables.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto.h"

#define MAX_BODY	1024

/* A valid request header (version 1, no flags, status 0). */
static struct msg_hdr
req_hdr(uint8_t op, uint16_t key_len, uint32_t id, uint32_t body_len)
{
	struct msg_hdr	h;

	memset(&h, 0, sizeof(h));
	h.version = MSG_VERSION;
	h.opcode = op;
	h.key_len = key_len;
	h.request_id = id;
	h.body_len = body_len;
	return (h);
}

/* Write a whole request frame at p; returns its length. */
static size_t
put_frame(uint8_t *p, uint8_t op, uint32_t id, const char *key,
    const char *val)
{
	struct msg_hdr	h;
	size_t		klen = strlen(key), vlen = strlen(val);

	h = req_hdr(op, (uint16_t)klen, id, (uint32_t)(klen + vlen));
	msg_hdr_encode(&h, p);
	memcpy(p + MSG_HDR_LEN, key, klen);
	memcpy(p + MSG_HDR_LEN + klen, val, vlen);
	return (MSG_HDR_LEN + klen + vlen);
}

/* Parse exactly the 16 header bytes of h, as if no body had arrived yet. */
static void
parse_hdr_only(const struct msg_hdr *h, uint32_t max_body,
    struct msg_parse *mp)
{
	uint8_t	b[MSG_HDR_LEN];

	msg_hdr_encode(h, b);
	msg_parse_request(b, sizeof(b), max_body, mp);
}

static void
assert_hdr_equal(const struct msg_hdr *a, const struct msg_hdr *b)
{
	assert_int_equal(a->version, b->version);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->opcode, b->opcode);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->key_len, b->key_len);
	assert_int_equal(a->request_id, b->request_id);
	assert_int_equal(a->body_len, b->body_len);
}

/* An error that keeps the connection: BAD_REQUEST, skip the whole body. */
static void
assert_bad_request_skip(const struct msg_hdr *h)
{
	struct msg_parse	mp;

	parse_hdr_only(h, MAX_BODY, &mp);
	assert_int_equal(mp.result, MSG_PARSE_ERROR);
	assert_int_equal(mp.status, MSG_ST_BAD_REQUEST);
	assert_int_equal(mp.close, 0);
	assert_int_equal(mp.skip, h->body_len);
	assert_int_equal(mp.hdr.request_id, h->request_id);
	assert_int_equal(mp.need, MSG_HDR_LEN);
	assert_non_null(mp.reason);
}

/* An error that loses the framing: status st, then close. */
static void
assert_close_error(const struct msg_parse *mp, enum msg_status st,
    uint32_t id)
{
	assert_int_equal(mp->result, MSG_PARSE_ERROR);
	assert_int_equal(mp->status, st);
	assert_int_equal(mp->close, 1);
	assert_int_equal(mp->skip, 0);
	assert_int_equal(mp->hdr.request_id, id);
	assert_non_null(mp->reason);
}

static void
test_msg_parse_request_empty_buffer(void **state)
{
	struct msg_parse	mp;

	(void)state;
	msg_parse_request((const uint8_t *)"", 0, MAX_BODY, &mp);
	assert_int_equal(mp.result, MSG_PARSE_MORE);
	assert_int_equal(mp.need, MSG_HDR_LEN);
}

static void
test_msg_parse_request_bad_magic_first_byte(void **state)
{
	struct msg_parse	mp;
	struct msg_hdr		h = req_hdr(MSG_OP_PING, 0, 77, 0);
	uint8_t			b[MSG_HDR_LEN];

	(void)state;
	/* One byte is enough to know: "GET / HTTP/1.1" is cut at 'G'. */
	msg_parse_request((const uint8_t *)"G", 1, MAX_BODY, &mp);
	assert_close_error(&mp, MSG_ST_BAD_REQUEST, 0);

	/* A whole header with a bad first byte: the id is not trusted. */
	msg_hdr_encode(&h, b);
	b[0] = 'm';
	msg_parse_request(b, sizeof(b), MAX_BODY, &mp);
	assert_close_error(&mp, MSG_ST_BAD_REQUEST, 0);
	assert_int_equal(mp.hdr.opcode, MSG_OP_NONE);
}

static void
test_msg_parse_request_bad_magic_second_byte(void **state)
{
	struct msg_parse	mp;
	struct msg_hdr		h = req_hdr(MSG_OP_PING, 0, 77, 0);
	uint8_t			b[MSG_HDR_LEN];

	(void)state;
	/* The right first byte alone is only a prefix. */
	msg_parse_request((const uint8_t *)"M", 1, MAX_BODY, &mp);
	assert_int_equal(mp.result, MSG_PARSE_MORE);
	assert_int_equal(mp.need, MSG_HDR_LEN);

	msg_parse_request((const uint8_t *)"MX", 2, MAX_BODY, &mp);
	assert_close_error(&mp, MSG_ST_BAD_REQUEST, 0);

	msg_hdr_encode(&h, b);
	b[1] = 'g';
	msg_parse_request(b, sizeof(b), MAX_BODY, &mp);
	assert_close_error(&mp, MSG_ST_BAD_REQUEST, 0);
}

static void
test_msg_parse_request_good_magic_short_header(void **state)
{
	struct msg_parse	mp;
	struct msg_hdr		h = req_hdr(MSG_OP_PING, 0, 1, 0);
	uint8_t			b[MSG_HDR_LEN];
	size_t			i;

	(void)state;
	/* Even a bad version is not judged before the header is whole. */
	h.version = 2;
	msg_hdr_encode(&h, b);
	for (i = 2; i < MSG_HDR_LEN; i++) {
		msg_parse_request(b, i, MAX_BODY, &mp);
		assert_int_equal(mp.result, MSG_PARSE_MORE);
		assert_int_equal(mp.need, MSG_HDR_LEN);
	}
}

static void
test_msg_parse_request_bad_version(void **state)
{
	static const uint8_t	 versions[] = { 0, 2, 0x80, 0xff };
	struct msg_parse	 mp;
	struct msg_hdr		 h;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(versions); i++) {
		h = req_hdr(MSG_OP_ECHO, 0, 0xdeadbeef, 4);
		h.version = versions[i];
		parse_hdr_only(&h, MAX_BODY, &mp);
		assert_close_error(&mp, MSG_ST_BAD_VERSION, 0xdeadbeef);
	}
}

static void
test_msg_parse_request_too_large(void **state)
{
	struct msg_parse	mp;
	struct msg_hdr		h;

	(void)state;
	/* Judged from the 16 header bytes: the body is never waited for. */
	h = req_hdr(MSG_OP_PUT, 3, 4242, MAX_BODY + 1);
	parse_hdr_only(&h, MAX_BODY, &mp);
	assert_close_error(&mp, MSG_ST_TOO_LARGE, 4242);

	h = req_hdr(MSG_OP_PUT, 3, 4243, UINT32_MAX);
	parse_hdr_only(&h, MAX_BODY, &mp);
	assert_close_error(&mp, MSG_ST_TOO_LARGE, 4243);

	/* max_body 0: any body at all is too large. */
	h = req_hdr(MSG_OP_ECHO, 0, 9, 1);
	parse_hdr_only(&h, 0, &mp);
	assert_close_error(&mp, MSG_ST_TOO_LARGE, 9);
}

static void
test_msg_parse_request_too_large_before_other_checks(void **state)
{
	struct msg_parse	mp;
	struct msg_hdr		h;

	(void)state;
	/* Too large and otherwise malformed: closing wins over skipping. */
	h = req_hdr(MSG_OP_ECHO, UINT16_MAX, 5, MAX_BODY + 1);
	h.flags = MSG_F_RESPONSE;
	h.status = 3;
	parse_hdr_only(&h, MAX_BODY, &mp);
	assert_close_error(&mp, MSG_ST_TOO_LARGE, 5);
}

static void
test_msg_parse_request_body_at_max(void **state)
{
	struct msg_parse	 mp;
	struct msg_hdr		 h = req_hdr(MSG_OP_ECHO, 0, 6, MAX_BODY);
	uint8_t			*b;

	(void)state;
	parse_hdr_only(&h, MAX_BODY, &mp);
	assert_int_equal(mp.result, MSG_PARSE_MORE);
	assert_int_equal(mp.need, MSG_HDR_LEN + MAX_BODY);

	b = calloc(1, MSG_HDR_LEN + MAX_BODY);
	assert_non_null(b);
	msg_hdr_encode(&h, b);
	msg_parse_request(b, MSG_HDR_LEN + MAX_BODY, MAX_BODY, &mp);
	assert_int_equal(mp.result, MSG_PARSE_FRAME);
	assert_int_equal(mp.need, MSG_HDR_LEN + MAX_BODY);
	free(b);
}

static void
test_msg_parse_request_key_longer_than_body(void **state)
{
	struct msg_hdr	h;

	(void)state;
	h = req_hdr(MSG_OP_GET, 5, 31, 4);
	assert_bad_request_skip(&h);
	h = req_hdr(MSG_OP_GET, 1, 32, 0);
	assert_bad_request_skip(&h);
	h = req_hdr(MSG_OP_GET, UINT16_MAX, 33, MAX_BODY);
	assert_bad_request_skip(&h);
}

/* A request with these flags and status is BAD_REQUEST, body skipped. */
static void
assert_bad_flags_status(uint32_t id, uint8_t flags, uint8_t status)
{
	struct msg_hdr	h = req_hdr(MSG_OP_PING, 0, id, 7);

	h.flags = flags;
	h.status = status;
	assert_bad_request_skip(&h);
}

static void
test_msg_parse_request_response_flag(void **state)
{
	(void)state;
	assert_bad_flags_status(40, MSG_F_RESPONSE, 0);
}

static void
test_msg_parse_request_reserved_flags(void **state)
{
	int	bit;

	(void)state;
	for (bit = 1; bit <= 7; bit++)
		assert_bad_flags_status((uint32_t)(100 + bit),
		    (uint8_t)(1u << bit), 0);
	assert_bad_flags_status(200, 0xff, 0);
}

static void
test_msg_parse_request_nonzero_status(void **state)
{
	(void)state;
	assert_bad_flags_status(50, 0, MSG_ST_BAD_REQUEST);
	assert_bad_flags_status(51, 0, 0xff);
}

static void
test_msg_parse_request_unknown_opcode_is_framed(void **state)
{
	struct msg_parse	mp;
	struct msg_hdr		h = req_hdr(0xee, 0, 60, 0);

	(void)state;
	/* Opcodes are the server's business: the frame itself is fine. */
	parse_hdr_only(&h, MAX_BODY, &mp);
	assert_int_equal(mp.result, MSG_PARSE_FRAME);
	assert_int_equal(mp.hdr.opcode, 0xee);
}

static void
test_msg_parse_request_empty_body(void **state)
{
	struct msg_parse	mp;
	struct msg_hdr		h = req_hdr(MSG_OP_PING, 0, 61, 0);

	(void)state;
	parse_hdr_only(&h, MAX_BODY, &mp);
	assert_int_equal(mp.result, MSG_PARSE_FRAME);
	assert_int_equal(mp.need, MSG_HDR_LEN);
	assert_hdr_equal(&mp.hdr, &h);

	/* Even when the server allows no body at all. */
	parse_hdr_only(&h, 0, &mp);
	assert_int_equal(mp.result, MSG_PARSE_FRAME);
}

static void
test_msg_parse_request_more_need(void **state)
{
	struct msg_parse	mp;
	uint8_t			b[64];
	size_t			n;

	(void)state;
	n = put_frame(b, MSG_OP_PUT, 62, "name", "content");
	assert_int_equal(n, MSG_HDR_LEN + 11);
	msg_parse_request(b, 15, MAX_BODY, &mp);
	assert_int_equal(mp.result, MSG_PARSE_MORE);
	assert_int_equal(mp.need, MSG_HDR_LEN);
	msg_parse_request(b, 16, MAX_BODY, &mp);
	assert_int_equal(mp.result, MSG_PARSE_MORE);
	assert_int_equal(mp.need, n);
	assert_int_equal(mp.hdr.request_id, 62);
	msg_parse_request(b, n - 1, MAX_BODY, &mp);
	assert_int_equal(mp.result, MSG_PARSE_MORE);
	assert_int_equal(mp.need, n);
	msg_parse_request(b, n, MAX_BODY, &mp);
	assert_int_equal(mp.result, MSG_PARSE_FRAME);
	assert_int_equal(mp.need, n);
}

static void
test_msg_parse_request_trailing_bytes(void **state)
{
	struct msg_parse	mp;
	uint8_t			b[64];
	size_t			n;

	(void)state;
	/* Bytes of the next frame do not change the size of this one. */
	n = put_frame(b, MSG_OP_ECHO, 63, "", "abc");
	memcpy(b + n, "MG\x01", 3);
	msg_parse_request(b, n + 3, MAX_BODY, &mp);
	assert_int_equal(mp.result, MSG_PARSE_FRAME);
	assert_int_equal(mp.need, n);
}

static void
test_msg_parse_request_split_every_offset(void **state)
{
	struct msg_parse	 mp, whole;
	uint8_t			 b[128];
	size_t			 n, i;

	(void)state;
	n = put_frame(b, MSG_OP_EXEC, 0x01020304, "date", "stdin bytes");
	msg_parse_request(b, n, MAX_BODY, &whole);
	assert_int_equal(whole.result, MSG_PARSE_FRAME);
	assert_int_equal(whole.hdr.key_len, 4);
	assert_int_equal(whole.hdr.body_len, 15);

	for (i = 0; i <= n; i++) {
		/* The prefix lives in a buffer of its own, as after a read. */
		uint8_t *p = malloc(i > 0 ? i : 1);

		assert_non_null(p);
		memcpy(p, b, i);
		msg_parse_request(p, i, MAX_BODY, &mp);
		if (i < n) {
			assert_int_equal(mp.result, MSG_PARSE_MORE);
			assert_int_equal(mp.need,
			    i < MSG_HDR_LEN ? MSG_HDR_LEN : n);
			assert_true(mp.need > i);
		} else {
			assert_int_equal(mp.result, MSG_PARSE_FRAME);
			assert_int_equal(mp.need, n);
			assert_hdr_equal(&mp.hdr, &whole.hdr);
			assert_memory_equal(p + MSG_HDR_LEN, "datestdin bytes",
			    15);
		}
		free(p);
	}
}

static void
test_msg_parse_request_pipelined(void **state)
{
	static const char *const vals[] = { "", "x", "hello", "", "pipelined" };
	struct msg_parse	 mp;
	uint8_t			 b[256];
	size_t			 len = 0, off = 0, i, sizes[5];

	(void)state;
	for (i = 0; i < 5; i++) {
		sizes[i] = put_frame(b + len, MSG_OP_ECHO, (uint32_t)i + 1,
		    i == 2 ? "k" : "", vals[i]);
		len += sizes[i];
	}
	for (i = 0; i < 5; i++) {
		msg_parse_request(b + off, len - off, MAX_BODY, &mp);
		assert_int_equal(mp.result, MSG_PARSE_FRAME);
		assert_int_equal(mp.need, sizes[i]);
		assert_int_equal(mp.hdr.request_id, i + 1);
		assert_int_equal(mp.hdr.key_len, i == 2 ? 1 : 0);
		assert_memory_equal(b + off + MSG_HDR_LEN + mp.hdr.key_len,
		    vals[i], strlen(vals[i]));
		off += mp.need;
	}
	assert_int_equal(off, len);
	msg_parse_request(b + off, len - off, MAX_BODY, &mp);
	assert_int_equal(mp.result, MSG_PARSE_MORE);
}

/* Five keyless ECHOs, then (at b + *five) one frame that breaks the run. */
static size_t
scan_stream(uint8_t *b, size_t *five, uint32_t *first_id)
{
	static const char *const vals[] = { "", "x", "hello", "", "run" };
	size_t	len = 0, i;

	for (i = 0; i < 5; i++)
		len += put_frame(b + len, MSG_OP_ECHO, (uint32_t)i + 1, "",
		    vals[i]);
	*five = len;
	*first_id = 1;
	return (len + put_frame(b + len, MSG_OP_ECHO, 6, "", "sixth"));
}

/*
 * msg_scan_run takes exactly the whole, valid, keyless, flagless frames
 * of one opcode at the front, the frames msg_parse_request passes: it
 * stops before a frame with a key, another opcode, a flag, a status, a
 * wrong magic or version, a body over max_body, and a frame not whole.
 */
static void
test_msg_scan_run_stops(void **state)
{
	static const struct {
		size_t	at;		/* offset in the header */
		uint8_t	v;
	} muts[] = {
		{ 0, 'X' }, { 1, 'X' },			/* magic */
		{ 2, 2 },				/* version */
		{ 3, MSG_F_RESPONSE }, { 3, 0x80 },	/* flags */
		{ 4, MSG_OP_UPPER },			/* opcode */
		{ 5, 1 },				/* status */
		{ 6, 1 }, { 7, 1 },			/* key_len */
		{ 12, 1 }, { 15, 6 },			/* body_len: past */
	};
	uint8_t		b[256], c[256];
	size_t		len, five, n, k;
	uint32_t	nf, id;

	(void)state;
	len = scan_stream(b, &five, &id);
	n = msg_scan_run(b, len, MAX_BODY, MSG_OP_ECHO, SIZE_MAX, &nf);
	assert_int_equal(nf, 6);
	assert_int_equal(n, len);
	/* Another opcode asked for: nothing. */
	n = msg_scan_run(b, len, MAX_BODY, MSG_OP_UPPER, SIZE_MAX, &nf);
	assert_int_equal(nf, 0);
	assert_int_equal(n, 0);
	/* Each way the sixth frame can differ ends the run before it. */
	for (k = 0; k < sizeof(muts) / sizeof(muts[0]); k++) {
		memcpy(c, b, len);
		c[five + muts[k].at] = muts[k].v;
		n = msg_scan_run(c, len, MAX_BODY, MSG_OP_ECHO, SIZE_MAX, &nf);
		assert_int_equal(nf, 5);
		assert_int_equal(n, five);
	}
	/* A sixth frame one byte shorter is whole; the byte after is not. */
	memcpy(c, b, len);
	c[five + 15] = 4;
	n = msg_scan_run(c, len, MAX_BODY, MSG_OP_ECHO, SIZE_MAX, &nf);
	assert_int_equal(nf, 6);
	assert_int_equal(n, len - 1);
	/* Not whole: any cut of the sixth frame. */
	for (len = five; len < five + MSG_HDR_LEN + 5; len++) {
		n = msg_scan_run(b, len, MAX_BODY, MSG_OP_ECHO, SIZE_MAX, &nf);
		assert_int_equal(nf, 5);
		assert_int_equal(n, five);
	}
	/* A body over max_body, though whole. */
	len = scan_stream(b, &five, &id);
	n = msg_scan_run(b, len, 4, MSG_OP_ECHO, SIZE_MAX, &nf);
	assert_int_equal(nf, 2);	/* "hello" is 5 */
	assert_int_equal(n, 2 * MSG_HDR_LEN + 1);
	n = msg_scan_run(b, len, 5, MSG_OP_ECHO, SIZE_MAX, &nf);
	assert_int_equal(nf, 6);
	/* Shorter than a header, or empty: nothing. */
	for (len = 0; len < MSG_HDR_LEN; len++) {
		n = msg_scan_run(b, len, MAX_BODY, MSG_OP_ECHO, SIZE_MAX, &nf);
		assert_int_equal(nf, 0);
		assert_int_equal(n, 0);
	}
}

/*
 * cap: a frame is taken while the run before it is at most cap bytes (as
 * a worker answers a frame while its output is within its limit); the
 * first frame always.
 */
static void
test_msg_scan_run_cap(void **state)
{
	uint8_t		b[256];
	size_t		len, five, n, off, i;
	uint32_t	nf, id;

	(void)state;
	len = scan_stream(b, &five, &id);
	n = msg_scan_run(b, len, MAX_BODY, MSG_OP_ECHO, 0, &nf);
	assert_int_equal(nf, 1);
	assert_int_equal(n, MSG_HDR_LEN);
	/* The frame starting exactly at cap is taken, not one past it. */
	for (i = 0, off = 0; i < 6; i++) {
		n = msg_scan_run(b, len, MAX_BODY, MSG_OP_ECHO, off, &nf);
		assert_int_equal(nf, i + 1);
		assert_int_equal(n, off + MSG_HDR_LEN + b[off + 15]);
		if (off > 0) {
			n = msg_scan_run(b, len, MAX_BODY, MSG_OP_ECHO, off - 1,
			    &nf);
			assert_int_equal(nf, i);
			assert_int_equal(n, off);
		}
		off += MSG_HDR_LEN + b[off + 15];
	}
	assert_int_equal(off, len);
}

/*
 * Each frame of a run, turned into its answer in place, is byte for byte
 * what msg_encode_response writes for ECHO: OK, the same id and lengths.
 */
static void
test_msg_respond_inplace(void **state)
{
	uint8_t		b[256], want[MSG_HDR_LEN];
	size_t		len, five, n, off;
	uint32_t	nf, id, blen;

	(void)state;
	len = scan_stream(b, &five, &id);
	n = msg_scan_run(b, len, MAX_BODY, MSG_OP_ECHO, SIZE_MAX, &nf);
	assert_int_equal(n, len);
	for (off = 0; off < n; off += MSG_HDR_LEN + blen, id++) {
		blen = b[off + 15];
		msg_encode_response(want, MSG_OP_ECHO, MSG_ST_OK, id, 0, blen);
		assert_int_equal(msg_respond_inplace(b + off), blen);
		assert_memory_equal(b + off, want, MSG_HDR_LEN);
	}
	assert_int_equal(id, 7);
}

/*
 * msg_answer_run judges as msg_scan_run does, and turns exactly the frames
 * it passes into their answers' headers (msg_respond_inplace), no byte
 * after them; msg_unanswer_run gives the requests back, byte for byte.
 */
static void
test_msg_answer_run(void **state)
{
	uint8_t		b[256], c[256], want[256], orig[256];
	size_t		len, five, n, m, off, cap;
	uint32_t	nf, mf, id;

	(void)state;
	len = scan_stream(b, &five, &id);
	for (cap = 0; cap <= len; cap += 7) {
		memcpy(c, b, len);
		c[five + 4] = MSG_OP_UPPER;	/* the run ends at five */
		memcpy(want, c, len);
		memcpy(orig, c, len);
		n = msg_scan_run(c, len, MAX_BODY, MSG_OP_ECHO, cap, &nf);
		m = msg_answer_run(c, len, MAX_BODY, MSG_OP_ECHO, cap, &mf);
		assert_int_equal(m, n);
		assert_int_equal(mf, nf);
		assert_true(n <= five);
		for (off = 0; off < n; off += MSG_HDR_LEN + want[off + 15])
			msg_respond_inplace(want + off);
		assert_memory_equal(c, want, len);
		msg_unanswer_run(c, n);
		assert_memory_equal(c, orig, len);
	}
	/* Nothing passed: nothing changed. */
	memcpy(c, b, len);
	assert_int_equal(msg_answer_run(c, len, MAX_BODY, MSG_OP_UPPER,
	    SIZE_MAX, &nf), 0);
	assert_int_equal(nf, 0);
	assert_memory_equal(c, b, len);
}

static void
test_msg_parse_request_max_body_len(void **state)
{
	struct msg_parse	mp;
	struct msg_hdr		h = req_hdr(MSG_OP_PUT, 0, 70, UINT32_MAX);

	(void)state;
	parse_hdr_only(&h, UINT32_MAX, &mp);
	assert_int_equal(mp.result, MSG_PARSE_MORE);
	assert_int_equal(mp.hdr.body_len, UINT32_MAX);
	if (sizeof(size_t) > sizeof(uint32_t))
		assert_true(mp.need == (size_t)MSG_HDR_LEN +
		    (size_t)UINT32_MAX);
	assert_true(mp.need > MSG_HDR_LEN);
}

static void
test_msg_parse_request_max_key_len(void **state)
{
	struct msg_parse	 mp;
	struct msg_hdr		 h;
	uint8_t			*b;
	size_t			 n = MSG_HDR_LEN + MSG_KEY_MAX;

	(void)state;
	/* A key of 65535 bytes filling the whole body is valid. */
	h = req_hdr(MSG_OP_GET, MSG_KEY_MAX, 71, MSG_KEY_MAX);
	b = malloc(n);
	assert_non_null(b);
	msg_hdr_encode(&h, b);
	memset(b + MSG_HDR_LEN, 'k', MSG_KEY_MAX);
	msg_parse_request(b, n, MSG_KEY_MAX, &mp);
	assert_int_equal(mp.result, MSG_PARSE_FRAME);
	assert_int_equal(mp.need, n);
	assert_int_equal(mp.hdr.key_len, MSG_KEY_MAX);
	free(b);

	/* One body byte short of it is not. */
	h = req_hdr(MSG_OP_GET, MSG_KEY_MAX, 72, MSG_KEY_MAX - 1);
	parse_hdr_only(&h, MSG_KEY_MAX, &mp);
	assert_int_equal(mp.result, MSG_PARSE_ERROR);
	assert_int_equal(mp.skip, MSG_KEY_MAX - 1);
}

static void
test_msg_hdr_encode_bytes(void **state)
{
	static const uint8_t	want[MSG_HDR_LEN] = {
		0x4d, 0x47, 0x01, 0x00, 0x20, 0x00, 0x12, 0x34,
		0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04
	};
	struct msg_hdr		h = req_hdr(MSG_OP_EXEC, 0x1234, 0xdeadbeef,
	    0x01020304);
	uint8_t			b[MSG_HDR_LEN];

	(void)state;
	memset(b, 0xaa, sizeof(b));
	msg_hdr_encode(&h, b);
	assert_memory_equal(b, want, sizeof(want));
}

static void
test_msg_hdr_decode_roundtrip(void **state)
{
	struct msg_hdr	in[3], out;
	uint8_t		b[MSG_HDR_LEN];
	size_t		i;

	(void)state;
	in[0] = req_hdr(0, 0, 0, 0);
	in[1] = req_hdr(MSG_OP_DEL, 7, 0x80000001, 0x7fffffff);
	in[1].flags = 0x5a;
	in[1].status = MSG_ST_NOT_FOUND;
	in[2] = req_hdr(0xff, UINT16_MAX, UINT32_MAX, UINT32_MAX);
	in[2].version = 0xff;
	in[2].flags = 0xff;
	in[2].status = 0xff;
	for (i = 0; i < 3; i++) {
		msg_hdr_encode(&in[i], b);
		assert_int_equal(b[0], MSG_MAGIC0);
		assert_int_equal(b[1], MSG_MAGIC1);
		memset(&out, 0x55, sizeof(out));
		msg_hdr_decode(b, &out);
		assert_hdr_equal(&out, &in[i]);
	}
}

static void
test_msg_encode_request_fields(void **state)
{
	static const uint8_t	want[MSG_HDR_LEN] = {
		0x4d, 0x47, 0x01, 0x00, 0x20, 0x00, 0x00, 0x03,
		0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x08
	};
	struct msg_parse	mp;
	uint8_t			b[MSG_HDR_LEN + 8 + 1];

	(void)state;
	memset(b, 'x', sizeof(b));
	b[sizeof(b) - 1] = 0xee;
	assert_int_equal(msg_encode_request(b, MSG_OP_EXEC, 0x01020304, 3, 8),
	    MSG_HDR_LEN);
	assert_memory_equal(b, want, MSG_HDR_LEN);
	assert_int_equal(b[sizeof(b) - 1], 0xee);

	/* What a client writes, the server takes as a whole request. */
	msg_parse_request(b, MSG_HDR_LEN + 8, 1024, &mp);
	assert_int_equal(mp.result, MSG_PARSE_FRAME);
	assert_int_equal(mp.need, MSG_HDR_LEN + 8);
	assert_int_equal(mp.hdr.opcode, MSG_OP_EXEC);
	assert_int_equal(mp.hdr.request_id, 0x01020304);
	assert_int_equal(mp.hdr.key_len, 3);
	assert_int_equal(mp.hdr.body_len, 8);
}

static void
test_msg_encode_response_fields(void **state)
{
	static const uint8_t	want[MSG_HDR_LEN] = {
		0x4d, 0x47, 0x01, 0x01, 0x11, 0x04, 0x00, 0x05,
		0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x09
	};
	struct msg_hdr		h;
	uint8_t			b[MSG_HDR_LEN + 1];
	const char		*why;

	(void)state;
	b[MSG_HDR_LEN] = 0xee;
	assert_int_equal(msg_encode_response(b, MSG_OP_GET, MSG_ST_NOT_FOUND,
	    256, 5, 9), MSG_HDR_LEN);
	assert_memory_equal(b, want, MSG_HDR_LEN);
	assert_int_equal(b[MSG_HDR_LEN], 0xee);	/* nothing past the header */

	/* What the server writes, a client accepts. */
	assert_int_equal(msg_check_response(b, MSG_HDR_LEN, &h, &why), 0);
	assert_null(why);
	assert_int_equal(h.opcode, MSG_OP_GET);
	assert_int_equal(h.status, MSG_ST_NOT_FOUND);
	assert_int_equal(h.request_id, 256);
	assert_int_equal(h.key_len, 5);
	assert_int_equal(h.body_len, 9);
}

/* msg_check_response() on header h (magic optionally broken) fails. */
static void
assert_response_rejected(const struct msg_hdr *h, size_t len, int bad_magic)
{
	struct msg_hdr	out;
	uint8_t		b[MSG_HDR_LEN];
	const char	*why = NULL;

	msg_hdr_encode(h, b);
	if (bad_magic)
		b[1] = 'X';
	assert_int_equal(msg_check_response(b, len, &out, &why), -1);
	assert_non_null(why);
}

static void
test_msg_check_response_rejects(void **state)
{
	struct msg_hdr	h, ok;

	(void)state;
	ok = req_hdr(MSG_OP_ECHO, 1, 8, 2);
	ok.flags = MSG_F_RESPONSE;

	assert_response_rejected(&ok, MSG_HDR_LEN - 1, 0);	/* short */
	assert_response_rejected(&ok, MSG_HDR_LEN, 1);		/* magic */
	h = ok;
	h.version = 2;
	assert_response_rejected(&h, MSG_HDR_LEN, 0);
	h = ok;
	h.flags = 0;
	assert_response_rejected(&h, MSG_HDR_LEN, 0);
	h = ok;
	h.status = MSG_ST_MAX + 1;
	assert_response_rejected(&h, MSG_HDR_LEN, 0);
	h = ok;
	h.key_len = 3;
	assert_response_rejected(&h, MSG_HDR_LEN, 0);
}

static void
test_msg_check_response_accepts(void **state)
{
	struct msg_hdr	h, out;
	uint8_t		b[MSG_HDR_LEN];
	const char	*why = "unset";

	(void)state;
	h = req_hdr(MSG_OP_STATS, 2, 8, 2);
	h.flags = MSG_F_RESPONSE;
	h.status = MSG_ST_MAX;
	msg_hdr_encode(&h, b);
	assert_int_equal(msg_check_response(b, sizeof(b), &out, &why), 0);
	assert_null(why);
	assert_hdr_equal(&out, &h);
}

static void
test_msg_valid_status_range(void **state)
{
	(void)state;
	assert_true(msg_valid_status(MSG_ST_OK));
	assert_true(msg_valid_status(MSG_ST_BAD_VERSION));
	assert_false(msg_valid_status(MSG_ST_BAD_VERSION + 1));
	assert_false(msg_valid_status(0xff));
}

static void
test_msg_status_name_table(void **state)
{
	static const char *const names[] = {
		"OK", "BAD_REQUEST", "UNKNOWN_OP", "TOO_LARGE", "NOT_FOUND",
		"DENIED", "BUSY", "TIMEOUT", "INTERNAL", "BAD_VERSION"
	};
	unsigned int	i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_string_equal(msg_status_name(i), names[i]);
	assert_string_equal(msg_status_name(10), "UNKNOWN_STATUS");
	assert_string_equal(msg_status_name(UINT32_MAX), "UNKNOWN_STATUS");
}

static void
test_msg_op_name_table(void **state)
{
	(void)state;
	assert_string_equal(msg_op_name(MSG_OP_PING), "PING");
	assert_string_equal(msg_op_name(MSG_OP_TIME), "TIME");
	assert_string_equal(msg_op_name(MSG_OP_AUTH), "AUTH");
	assert_string_equal(msg_op_name(MSG_OP_PUT), "PUT");
	assert_string_equal(msg_op_name(MSG_OP_DEL), "DEL");
	assert_string_equal(msg_op_name(MSG_OP_EXEC), "EXEC");
	assert_null(msg_op_name(MSG_OP_NONE));
	assert_null(msg_op_name(0x07));
	assert_null(msg_op_name(0x102));	/* not truncated to 0x02 */
}

/*
 * MSG_OPCODES and MSG_STATUSES make the enums and the name tables: each
 * row's code, name and lower-case name agree everywhere, codes are unique
 * and the statuses dense (what a new row must keep true).
 */
static void
test_msg_lists_agree(void **state)
{
	unsigned int	seen[256], n = 0, i;

	(void)state;
	memset(seen, 0, sizeof(seen));
#define X(N, nm, code, udp, auth, inplace)				\
	assert_int_equal(MSG_OP_##N, code);				\
	assert_string_equal(msg_op_name(code), #N);			\
	assert_int_equal(msg_op_parse(#N), code);			\
	assert_int_equal(msg_op_parse(#nm), code);			\
	assert_int_equal(seen[code]++, 0);				\
	assert_true((udp) == 0 || (udp) == 1);				\
	assert_true((auth) == 0 || (auth) == 1);			\
	assert_true((inplace) == 0 || (inplace) == 1);			\
	n++;
	MSG_OPCODES(X)
#undef X
	assert_int_equal(n, 11);
	assert_int_equal(seen[MSG_OP_NONE], 0);
	n = 0;
#define X(N, nm, code)							\
	assert_int_equal(MSG_ST_##N, code);				\
	assert_string_equal(msg_status_name(code), #N);			\
	assert_true(msg_valid_status(code));				\
	n++;
	MSG_STATUSES(X)
#undef X
	assert_int_equal(n, MSG_ST_COUNT);
	assert_int_equal(MSG_ST_MAX, MSG_ST_COUNT - 1);
	for (i = 0; i < MSG_ST_COUNT; i++)
		assert_string_not_equal(msg_status_name(i), "UNKNOWN_STATUS");
	assert_false(msg_valid_status(MSG_ST_COUNT));
}

static void
test_msg_op_parse_names_and_numbers(void **state)
{
	(void)state;
	assert_int_equal(msg_op_parse("echo"), MSG_OP_ECHO);
	assert_int_equal(msg_op_parse("ECHO"), MSG_OP_ECHO);
	assert_int_equal(msg_op_parse("Exec"), MSG_OP_EXEC);
	assert_int_equal(msg_op_parse("0x02"), 2);
	assert_int_equal(msg_op_parse("2"), 2);
	assert_int_equal(msg_op_parse("0x20"), MSG_OP_EXEC);
	assert_int_equal(msg_op_parse("255"), 255);
	assert_int_equal(msg_op_parse("0"), 0);
	assert_int_equal(msg_op_parse("256"), -1);
	assert_int_equal(msg_op_parse("x"), -1);
	assert_int_equal(msg_op_parse(""), -1);
	assert_int_equal(msg_op_parse("-1"), -1);
	assert_int_equal(msg_op_parse(" 2"), -1);
	assert_int_equal(msg_op_parse("2x"), -1);
	assert_int_equal(msg_op_parse("0x"), -1);
	assert_int_equal(msg_op_parse("echoo"), -1);
	assert_int_equal(msg_op_parse("99999999999999999999999"), -1);
}

static void
test_msg_op_parse_not_octal(void **state)
{
	(void)state;
	/* A leading zero is decimal: "016" must not become 14. */
	assert_int_equal(msg_op_parse("010"), 10);
	assert_int_equal(msg_op_parse("016"), 16);
	assert_int_equal(msg_op_parse("08"), 8);
	assert_int_equal(msg_op_parse("0X1f"), 0x1f);
	assert_int_equal(msg_op_parse("0x0ff"), 0xff);
	assert_int_equal(msg_op_parse("0x100"), -1);
	assert_int_equal(msg_op_parse("0x-1"), -1);
	assert_int_equal(msg_op_parse("0x+5"), -1);
	assert_int_equal(msg_op_parse("0x 5"), -1);
	assert_int_equal(msg_op_parse("0xg"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msg_parse_request_empty_buffer),
		cmocka_unit_test(test_msg_parse_request_bad_magic_first_byte),
		cmocka_unit_test(test_msg_parse_request_bad_magic_second_byte),
		cmocka_unit_test(test_msg_parse_request_good_magic_short_header),
		cmocka_unit_test(test_msg_parse_request_bad_version),
		cmocka_unit_test(test_msg_parse_request_too_large),
		cmocka_unit_test(
		    test_msg_parse_request_too_large_before_other_checks),
		cmocka_unit_test(test_msg_parse_request_body_at_max),
		cmocka_unit_test(test_msg_parse_request_key_longer_than_body),
		cmocka_unit_test(test_msg_parse_request_response_flag),
		cmocka_unit_test(test_msg_parse_request_reserved_flags),
		cmocka_unit_test(test_msg_parse_request_nonzero_status),
		cmocka_unit_test(test_msg_parse_request_unknown_opcode_is_framed),
		cmocka_unit_test(test_msg_parse_request_empty_body),
		cmocka_unit_test(test_msg_parse_request_more_need),
		cmocka_unit_test(test_msg_parse_request_trailing_bytes),
		cmocka_unit_test(test_msg_parse_request_split_every_offset),
		cmocka_unit_test(test_msg_parse_request_pipelined),
		cmocka_unit_test(test_msg_scan_run_stops),
		cmocka_unit_test(test_msg_scan_run_cap),
		cmocka_unit_test(test_msg_respond_inplace),
		cmocka_unit_test(test_msg_answer_run),
		cmocka_unit_test(test_msg_parse_request_max_body_len),
		cmocka_unit_test(test_msg_parse_request_max_key_len),
		cmocka_unit_test(test_msg_hdr_encode_bytes),
		cmocka_unit_test(test_msg_hdr_decode_roundtrip),
		cmocka_unit_test(test_msg_encode_request_fields),
		cmocka_unit_test(test_msg_encode_response_fields),
		cmocka_unit_test(test_msg_check_response_rejects),
		cmocka_unit_test(test_msg_check_response_accepts),
		cmocka_unit_test(test_msg_valid_status_range),
		cmocka_unit_test(test_msg_status_name_table),
		cmocka_unit_test(test_msg_op_name_table),
		cmocka_unit_test(test_msg_lists_agree),
		cmocka_unit_test(test_msg_op_parse_names_and_numbers),
		cmocka_unit_test(test_msg_op_parse_not_octal),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

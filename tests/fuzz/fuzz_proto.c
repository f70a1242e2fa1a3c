/*
 * fuzz_proto.c: libFuzzer target for the request frame decoder.
 *
 * The input is a byte stream as a connection would receive it.  It is fed
 * to msg_parse_request() the way a worker does: parse at the front, on
 * FRAME advance by need, on ERROR with close stop, on ERROR without close
 * drop the header and skip body bytes (also bytes that arrive later), on
 * MORE wait for more input.  Every result is checked against the rules of
 * msgd-protocol(7), and the stream is fed again split into two reads at
 * various offsets: the events must not depend on how the bytes arrived.
 * msg_scan_run, which answers runs of ECHO and UPPER without this walk,
 * must take exactly the frames the walk would answer that way.
 *
 * Build and run: make fuzz && ./tests/fuzz/fuzz_proto corpus-dir
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"

#define FIXED_MAX_BODY	(1024 * 1024)
#define ALL_SPLITS_MAX	256	/* below this size, split at every offset */
#define SOME_SPLITS	64

/* A simulated connection's input side. */
struct stream {
	uint8_t		*buf;		/* unconsumed bytes, exactly len */
	size_t		 len;
	uint64_t	 discard;	/* body bytes still to skip */
	uint32_t	 max_body;
	int		 closed;
	size_t		 nev;		/* frames and errors seen */
	uint64_t	 hash;		/* of every event, in order */
};

static void
hash_add(struct stream *s, uint64_t v)
{
	s->hash = (s->hash ^ v) * 0x100000001b3ULL;
}

/* One result of msg_parse_request(buf, len, max_body) obeys the rules. */
static void
check_result(const struct msg_parse *mp, const uint8_t *buf, size_t len,
    uint32_t max_body)
{
	const struct msg_hdr	*h = &mp->hdr;

	CHECK(mp->need >= MSG_HDR_LEN);
	switch (mp->result) {
	case MSG_PARSE_MORE:
		CHECK(mp->need > len);
		CHECK(len < 1 || buf[0] == MSG_MAGIC0);
		CHECK(len < 2 || buf[1] == MSG_MAGIC1);
		if (len >= MSG_HDR_LEN) {
			CHECK(mp->need == MSG_HDR_LEN + (size_t)h->body_len);
			CHECK(h->body_len <= max_body);
		} else
			CHECK(mp->need == MSG_HDR_LEN);
		break;
	case MSG_PARSE_FRAME:
		CHECK(len >= MSG_HDR_LEN);
		CHECK(mp->need <= len);
		CHECK(mp->need == MSG_HDR_LEN + (size_t)h->body_len);
		CHECK(buf[0] == MSG_MAGIC0 && buf[1] == MSG_MAGIC1);
		CHECK(h->version == MSG_VERSION);
		CHECK(h->flags == 0);
		CHECK(h->status == 0);
		CHECK(h->key_len <= h->body_len);
		CHECK(h->body_len <= max_body);
		break;
	case MSG_PARSE_ERROR:
		CHECK(msg_valid_status(mp->status));
		CHECK(mp->status == MSG_ST_BAD_REQUEST ||
		    mp->status == MSG_ST_BAD_VERSION ||
		    mp->status == MSG_ST_TOO_LARGE);
		CHECK(mp->need == MSG_HDR_LEN);
		CHECK(mp->reason != NULL && mp->reason[0] != '\0');
		if (mp->close) {
			CHECK(mp->skip == 0);
			/* A bad magic trusts nothing, not even the id. */
			if (mp->status == MSG_ST_BAD_REQUEST)
				CHECK(h->request_id == 0);
		} else {
			/* Only a whole header can be judged and skipped. */
			CHECK(len >= MSG_HDR_LEN);
			CHECK(mp->status == MSG_ST_BAD_REQUEST);
			CHECK(mp->skip == h->body_len);
			CHECK(h->body_len <= max_body);
		}
		if (mp->status == MSG_ST_BAD_VERSION)
			CHECK(h->version != MSG_VERSION);
		if (mp->status == MSG_ST_TOO_LARGE)
			CHECK(h->body_len > max_body);
		break;
	default:
		CHECK(!"unknown result");
	}
}

static void
record(struct stream *s, const struct msg_parse *mp)
{
	s->nev++;
	hash_add(s, mp->result);
	hash_add(s, mp->need);
	hash_add(s, mp->hdr.request_id);
	hash_add(s, mp->hdr.opcode);
	hash_add(s, mp->hdr.key_len);
	hash_add(s, mp->hdr.body_len);
	if (mp->result == MSG_PARSE_ERROR) {
		hash_add(s, mp->status);
		hash_add(s, (uint64_t)mp->close);
		hash_add(s, mp->skip);
	}
}

/* Bytes p[0..n) arrive on the connection. */
static void
feed(struct stream *s, const uint8_t *p, size_t n)
{
	struct msg_parse	 mp;
	size_t			 off = 0, avail, take;
	uint8_t			*nb;

	if (s->closed)
		return;
	take = s->discard < n ? (size_t)s->discard : n;
	s->discard -= take;
	p += take;
	n -= take;
	if (n == 0)
		return;
	/* Exactly sized, so a read past the end is caught. */
	if ((nb = realloc(s->buf, s->len + n)) == NULL)
		abort();
	s->buf = nb;
	memcpy(s->buf + s->len, p, n);
	s->len += n;

	while (off < s->len) {
		avail = s->len - off;
		msg_parse_request(s->buf + off, avail, s->max_body, &mp);
		check_result(&mp, s->buf + off, avail, s->max_body);
		if (mp.result == MSG_PARSE_MORE)
			break;
		record(s, &mp);
		if (mp.result == MSG_PARSE_FRAME) {
			off += mp.need;
			continue;
		}
		if (mp.close) {
			s->closed = 1;
			off = s->len;
			break;
		}
		if ((uint64_t)MSG_HDR_LEN + mp.skip <= avail)
			off += MSG_HDR_LEN + (size_t)mp.skip;
		else {
			s->discard = (uint64_t)MSG_HDR_LEN + mp.skip - avail;
			off = s->len;
		}
	}
	memmove(s->buf, s->buf + off, s->len - off);
	s->len -= off;
}

/* Feed data in two reads split at k (k == size: one read). */
static void
run(struct stream *s, const uint8_t *data, size_t size, size_t k,
    uint32_t max_body)
{
	memset(s, 0, sizeof(*s));
	s->max_body = max_body;
	s->hash = 0xcbf29ce484222325ULL;
	feed(s, data, k);
	feed(s, data + k, size - k);
	free(s->buf);
	s->buf = NULL;
}

static void
same_events(const struct stream *a, const struct stream *b)
{
	CHECK(a->nev == b->nev);
	CHECK(a->hash == b->hash);
	CHECK(a->closed == b->closed);
	CHECK(a->len == b->len);
	CHECK(a->discard == b->discard);
}

/* Headers survive a decode/encode round trip; responses check sanely. */
static void
check_codec(const uint8_t *data, size_t size)
{
	struct msg_hdr	 h;
	uint8_t		 b[MSG_HDR_LEN];
	const char	*why = NULL;

	if (size < MSG_HDR_LEN)
		return;
	msg_hdr_decode(data, &h);
	msg_hdr_encode(&h, b);
	CHECK(memcmp(b + 2, data + 2, MSG_HDR_LEN - 2) == 0);
	if (msg_check_response(data, size, &h, &why) == 0) {
		CHECK(why == NULL);
		CHECK(h.flags & MSG_F_RESPONSE);
		CHECK(msg_valid_status(h.status));
		CHECK(h.key_len <= h.body_len);
	} else
		CHECK(why != NULL);
}

/*
 * msg_answer_run on a copy takes the run msg_scan_run measured (n bytes,
 * nf frames) and changes nothing but the flags byte of each of its
 * headers, to RESPONSE; msg_unanswer_run gives the input back.
 */
static void
check_answer_run(const uint8_t *data, size_t size, uint32_t max_body,
    size_t cap, size_t n, uint32_t nf)
{
	static uint8_t	 copy[1 << 16], want[1 << 16];
	size_t		 off;
	uint32_t	 mf;

	if (size > sizeof(copy))
		return;
	memcpy(copy, data, size);
	memcpy(want, data, size);
	for (off = 0; off < n; off += MSG_HDR_LEN + (size_t)msg_body_len(
	    want + off))
		(void)msg_respond_inplace(want + off);
	CHECK(msg_answer_run(copy, size, max_body, size > 4 ? data[4] : 0, cap,
	    &mf) == n);
	CHECK(mf == nf);
	CHECK(memcmp(copy, want, size) == 0);
	msg_unanswer_run(copy, n);
	CHECK(memcmp(copy, data, size) == 0);
}

/*
 * msg_scan_run takes exactly the frames msg_parse_request passes whole
 * that carry op, no key and no flag, from the front, while they start
 * within cap: no frame the parser would refuse or answer otherwise, and
 * it stops at the first that differs.  Each, turned into its answer in
 * place, is what msg_encode_response writes.
 */
static void
check_run(const uint8_t *data, size_t size, uint32_t max_body, size_t cap)
{
	struct msg_parse	 mp;
	uint8_t			 want[MSG_HDR_LEN], hdr[MSG_HDR_LEN];
	size_t			 n, off = 0;
	uint32_t		 nf, i;
	uint8_t			 op = size > 4 ? data[4] : 0;

	n = msg_scan_run(data, size, max_body, op, cap, &nf);
	CHECK(n <= size);
	for (i = 0; i < nf; i++) {
		CHECK(off <= cap);
		msg_parse_request(data + off, size - off, max_body, &mp);
		CHECK(mp.result == MSG_PARSE_FRAME);
		CHECK(mp.hdr.opcode == op && mp.hdr.key_len == 0);
		CHECK(mp.hdr.flags == 0);
		memcpy(hdr, data + off, MSG_HDR_LEN);
		CHECK(msg_respond_inplace(hdr) == mp.hdr.body_len);
		msg_encode_response(want, op, MSG_ST_OK, mp.hdr.request_id, 0,
		    mp.hdr.body_len);
		CHECK(memcmp(hdr, want, MSG_HDR_LEN) == 0);
		off += mp.need;
	}
	CHECK(off == n);
	check_answer_run(data, size, max_body, cap, n, nf);
	/* The frame after the run is not one it could have taken. */
	if (off > cap || size - off < MSG_HDR_LEN)
		return;
	msg_parse_request(data + off, size - off, max_body, &mp);
	CHECK(mp.result != MSG_PARSE_FRAME || mp.hdr.opcode != op ||
	    mp.hdr.key_len != 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stream	whole, split;
	uint32_t	derived = 0;
	size_t		k, step;

	check_codec(data, size);
	check_run(data, size, FIXED_MAX_BODY, SIZE_MAX);
	check_run(data, size, FIXED_MAX_BODY, size / 3);
	check_run(data, size, 16, size);

	/* As one read, with the fixed limit. */
	run(&whole, data, size, size, FIXED_MAX_BODY);
	/* The same bytes in two reads, split at every (or many) offsets. */
	step = size <= ALL_SPLITS_MAX ? 1 : size / SOME_SPLITS;
	for (k = 0; k < size; k += step) {
		run(&split, data, size, k, FIXED_MAX_BODY);
		same_events(&whole, &split);
	}

	/* A limit taken from the input: 0, tiny, or anything up to 2^32-1. */
	if (size >= 4)
		derived = (uint32_t)data[size - 4] << 24 |
		    (uint32_t)data[size - 3] << 16 |
		    (uint32_t)data[size - 2] << 8 | data[size - 1];
	run(&whole, data, size, size, derived);
	run(&split, data, size, size / 2, derived);
	same_events(&whole, &split);
	return (0);
}

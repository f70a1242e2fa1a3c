/*
 * proto.c: msgd wire protocol v1 codec.  Pure functions only: no I/O, no
 * globals that change, no logging.  Every length is checked before the body
 * is touched.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto.h"

static const char *const status_names[] = {
#define X(N, n, code)	[MSG_ST_##N] = #N,
	MSG_STATUSES(X)
#undef X
};

/* Dense codes: msg_status_name() and the counters index by code. */
#define X(N, n, code)							\
	_Static_assert(code < MSG_ST_COUNT, "status codes dense from 0");
MSG_STATUSES(X)
#undef X

static const struct {
	uint8_t		 op;
	const char	*name;
} op_names[] = {
#define X(N, n, code, udp, auth, inplace)	{ MSG_OP_##N, #N },
	MSG_OPCODES(X)
#undef X
};

static uint16_t
get16(const uint8_t *p)
{
	return ((uint16_t)(p[0] << 8 | p[1]));
}

static uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3]);
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Decode the fields of a 16-byte header; magic is checked by the callers. */
void
msg_hdr_decode(const uint8_t *p, struct msg_hdr *h)
{
	h->version = p[2];
	h->flags = p[3];
	h->opcode = p[4];
	h->status = p[5];
	h->key_len = get16(p + 6);
	h->request_id = get32(p + 8);
	h->body_len = get32(p + 12);
}

/* Encode h with the magic into 16 bytes at p. */
void
msg_hdr_encode(const struct msg_hdr *h, uint8_t *p)
{
	p[0] = MSG_MAGIC0;
	p[1] = MSG_MAGIC1;
	p[2] = h->version;
	p[3] = h->flags;
	p[4] = h->opcode;
	p[5] = h->status;
	put16(p + 6, h->key_len);
	put32(p + 8, h->request_id);
	put32(p + 12, h->body_len);
}

/*
 * The one header writer behind msg_encode_request and msg_encode_response:
 * version 1, the magic, the fields given; returns 16.
 */
static size_t
msg_encode(uint8_t *p, uint8_t flags, uint8_t op, uint8_t status,
    uint32_t id, uint16_t key_len, uint32_t body_len)
{
	struct msg_hdr	h;

	h.version = MSG_VERSION;
	h.flags = flags;
	h.opcode = op;
	h.status = status;
	h.key_len = key_len;
	h.request_id = id;
	h.body_len = body_len;
	msg_hdr_encode(&h, p);
	return (MSG_HDR_LEN);
}

/* Encode a request header (version 1, no flags, status 0); returns 16. */
size_t
msg_encode_request(uint8_t *p, uint8_t op, uint32_t id, uint16_t key_len,
    uint32_t body_len)
{
	return (msg_encode(p, 0, op, 0, id, key_len, body_len));
}

/* Encode a response header (version 1, RESPONSE flag); returns 16. */
size_t
msg_encode_response(uint8_t *p, uint8_t op, uint8_t status, uint32_t id,
    uint16_t key_len, uint32_t body_len)
{
	return (msg_encode(p, MSG_F_RESPONSE, op, status, id, key_len,
	    body_len));
}

static void
parse_error(struct msg_parse *mp, enum msg_status st, int close_after,
    const char *reason)
{
	mp->result = MSG_PARSE_ERROR;
	mp->status = st;
	mp->close = close_after;
	mp->skip = close_after ? 0 : mp->hdr.body_len;
	mp->reason = reason;
	mp->need = MSG_HDR_LEN;
}

/*
 * Look at the request at the front of buf[0..len).  The header is judged as
 * soon as its 16 bytes are present, in the order of msgd-protocol(7): magic,
 * version, body_len against max_body (all three lose or refuse the framing,
 * so the connection closes), then key_len, flags and status (the frame is
 * still delimited, so the body is skipped and the connection kept).  Only a
 * valid header makes the caller wait for the body.  Opcodes are not judged
 * here: which ones exist is the server's business.
 */
void
msg_parse_request(const uint8_t *buf, size_t len, uint32_t max_body,
    struct msg_parse *mp)
{
	memset(mp, 0, sizeof(*mp));
	/*
	 * A wrong magic byte is judged as soon as it arrives: a foreign
	 * protocol or a desynchronised stream is cut off at once instead of
	 * waiting for a header that will never make sense.
	 */
	if ((len >= 1 && buf[0] != MSG_MAGIC0) ||
	    (len >= 2 && buf[1] != MSG_MAGIC1)) {
		/* Nothing in the header can be trusted, not even the id. */
		parse_error(mp, MSG_ST_BAD_REQUEST, 1, "bad magic");
		return;
	}
	if (len < MSG_HDR_LEN) {
		mp->result = MSG_PARSE_MORE;
		mp->need = MSG_HDR_LEN;
		return;
	}
	msg_hdr_decode(buf, &mp->hdr);
	if (mp->hdr.version != MSG_VERSION) {
		parse_error(mp, MSG_ST_BAD_VERSION, 1,
		    "protocol version not supported");
		return;
	}
	if (mp->hdr.body_len > max_body) {
		parse_error(mp, MSG_ST_TOO_LARGE, 1, "body too large");
		return;
	}
	if (mp->hdr.key_len > mp->hdr.body_len) {
		parse_error(mp, MSG_ST_BAD_REQUEST, 0,
		    "key_len exceeds body_len");
		return;
	}
	if (mp->hdr.flags & MSG_F_RESPONSE) {
		parse_error(mp, MSG_ST_BAD_REQUEST, 0,
		    "response flag set in a request");
		return;
	}
	if (mp->hdr.flags & MSG_F_RESERVED) {
		parse_error(mp, MSG_ST_BAD_REQUEST, 0, "reserved flag bits set");
		return;
	}
	if (mp->hdr.status != 0) {
		parse_error(mp, MSG_ST_BAD_REQUEST, 0,
		    "status must be 0 in a request");
		return;
	}
	mp->need = MSG_HDR_LEN + (size_t)mp->hdr.body_len;
	mp->result = len >= mp->need ? MSG_PARSE_FRAME : MSG_PARSE_MORE;
}

/*
 * The walk of msg_scan_run; with answer set it also turns each frame it
 * passes into its answer's header on the way (msg_answer_run), so that a
 * pipelined run is judged and answered in one pass.  Inlined into both,
 * answer a constant there.
 */
static inline size_t
scan_run(uint8_t *abuf, const uint8_t *buf, size_t len, uint32_t max_body,
    uint8_t op, size_t cap, uint32_t *nframes, int answer)
{
	const uint8_t	 want[8] = { MSG_MAGIC0, MSG_MAGIC1, MSG_VERSION, 0,
	    op, 0, 0, 0 };	/* flags, status and key_len 0 */
	uint64_t	 w, ww;
	size_t		 off = 0;
	uint32_t	 blen, n = 0;

	/* Frames take 16 bytes at least: bounding len bounds their count. */
	if (len / MSG_HDR_LEN >= INT32_MAX)
		len = (size_t)(INT32_MAX - 1) * MSG_HDR_LEN;
	memcpy(&ww, want, sizeof(ww));
	while (off <= cap && len - off >= MSG_HDR_LEN) {
		memcpy(&w, buf + off, sizeof(w));
		if (w != ww)
			break;
		blen = get32(buf + off + 12);
		if (blen > max_body || len - off - MSG_HDR_LEN < blen)
			break;
		if (answer)
			abuf[off + 3] = MSG_F_RESPONSE;
		off += MSG_HDR_LEN + (size_t)blen;
		n++;
	}
	*nframes = n;
	return (off);
}

/*
 * Measure the run of requests for op at the front of buf[0..len) that
 * msg_parse_request would pass whole (MSG_PARSE_FRAME under max_body) and
 * that carry no key and no flag: those whose answer, for an operation
 * answered in place (ECHO, UPPER), is the request itself with the
 * RESPONSE flag set (msg_respond_inplace).  The run ends before the first
 * frame that differs in any of this, is not whole, or would start more
 * than cap bytes in (as a worker stops before a frame once its output
 * passed its limit), and has fewer than INT32_MAX frames.  Returns its
 * length in bytes, *nframes its frames.  Pure: it judges, nothing more.
 */
size_t
msg_scan_run(const uint8_t *buf, size_t len, uint32_t max_body, uint8_t op,
    size_t cap, uint32_t *nframes)
{
	return (scan_run(NULL, buf, len, max_body, op, cap, nframes, 0));
}

/*
 * msg_scan_run, and each header of the run turned into its answer's
 * where it lies (msg_respond_inplace): the values are left to the
 * operation.  msg_unanswer_run(buf, returned length) turns them back.
 */
size_t
msg_answer_run(uint8_t *buf, size_t len, uint32_t max_body, uint8_t op,
    size_t cap, uint32_t *nframes)
{
	return (scan_run(buf, buf, len, max_body, op, cap, nframes, 1));
}

/* Turn the n bytes of answers msg_answer_run made back into requests. */
void
msg_unanswer_run(uint8_t *buf, size_t n)
{
	size_t	off;

	for (off = 0; off < n; off += MSG_HDR_LEN + (size_t)get32(buf +
	    off + 12))
		buf[off + 3] = 0;
}

/* The body length a header of 16 bytes at p gives. */
uint32_t
msg_body_len(const uint8_t *p)
{
	return (get32(p + 12));
}

/*
 * Turn the header of a request msg_scan_run passed into its answer's (OK,
 * the same opcode, id and lengths: only the RESPONSE flag differs, as
 * msg_encode_response would write it).  Returns the body length.
 */
_Static_assert(MSG_ST_OK == 0, "an OK answer keeps the request's status");

uint32_t
msg_respond_inplace(uint8_t *p)
{
	p[3] = MSG_F_RESPONSE;
	return (get32(p + 12));
}

/*
 * Check a response header for a client: magic, version, RESPONSE flag, a
 * known status and key_len <= body_len.  Returns 0 or -1 with *why set.
 */
int
msg_check_response(const uint8_t *buf, size_t len, struct msg_hdr *h,
    const char **why)
{
	if (len < MSG_HDR_LEN) {
		*why = "short header";
		return (-1);
	}
	if (buf[0] != MSG_MAGIC0 || buf[1] != MSG_MAGIC1) {
		*why = "bad magic in response";
		return (-1);
	}
	msg_hdr_decode(buf, h);
	if (h->version != MSG_VERSION) {
		*why = "unsupported version in response";
		return (-1);
	}
	if ((h->flags & MSG_F_RESPONSE) == 0) {
		*why = "response flag not set";
		return (-1);
	}
	if (!msg_valid_status(h->status)) {
		*why = "unknown status in response";
		return (-1);
	}
	if (h->key_len > h->body_len) {
		*why = "key_len exceeds body_len in response";
		return (-1);
	}
	*why = NULL;
	return (0);
}

/*
 * A file name as the protocol allows it: 1..255 bytes of [A-Za-z0-9._-],
 * not starting with '.'.  That excludes paths ('/'), ".", "..", hidden
 * and temporary files, NUL and every non-ASCII byte.
 */
int
msg_valid_name(const uint8_t *p, size_t len)
{
	size_t	i;

	if (len == 0 || len > MSG_NAME_MAX || p[0] == '.')
		return (0);
	for (i = 0; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' &&
		    p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') ||
		    p[i] == '.' || p[i] == '_' || p[i] == '-'))
			return (0);
	return (1);
}

int
msg_valid_status(unsigned int st)
{
	return (st <= MSG_ST_MAX);
}

const char *
msg_status_name(unsigned int st)
{
	if (st > MSG_ST_MAX)
		return ("UNKNOWN_STATUS");
	return (status_names[st]);
}

const char *
msg_op_name(unsigned int op)
{
	size_t	i;

	for (i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
		if (op_names[i].op == op)
			return (op_names[i].name);
	return (NULL);
}

/*
 * Opcode from a name ("echo", case-insensitive) or a number, decimal ("2",
 * "16") or hexadecimal ("0x02", "0x10").  A leading 0 does not mean octal:
 * "010" is 10, not 8.
 */
int
msg_op_parse(const char *s)
{
	size_t		 i;
	char		*end;
	unsigned long	 v;
	int		 base = 10;

	for (i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
		if (strcasecmp(op_names[i].name, s) == 0)
			return (op_names[i].op);
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	/* strtoul would take spaces and a sign; only digits are numbers. */
	if (!(base == 16 ? isxdigit((unsigned char)*s) :
	    isdigit((unsigned char)*s)))
		return (-1);
	v = strtoul(s, &end, base);
	if (*end != '\0' || v > 0xff)
		return (-1);
	return ((int)v);
}

/*
 * proto.h: msgd wire protocol v1, the pure frame codec.
 *
 * A frame is a 16-byte big-endian header followed by body_len bytes: the
 * first key_len bytes are the key, the rest the value.  This module does no
 * I/O, keeps no state and logs nothing, so it can be unit-tested and fuzzed
 * in isolation.  See msgd-protocol(7).
 */
#ifndef MSGD_PROTO_H
#define MSGD_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define MSG_HDR_LEN		16
#define MSG_MAGIC0		0x4d	/* 'M' */
#define MSG_MAGIC1		0x47	/* 'G' */
#define MSG_VERSION		1
#define MSG_F_RESPONSE		0x01
#define MSG_F_RESERVED		0xfe
#define MSG_KEY_MAX		UINT16_MAX
/* The largest body the header can express; max_body is configured below it. */
#define MSG_BODY_LIMIT		UINT32_MAX
/* Before authentication no frame may be larger than this (issue 5). */
#define MSG_PREAUTH_BODY_MAX	16384

/*
 * Every opcode, once.  This list makes enum msg_op (MSG_OP_NAME), the names
 * msg_op_name() and msg_op_parse() know, the server's opcode table in ops.c
 * and the per-opcode request counters in stats.h (field req_name, metric
 * requests{op="NAME"}).  Adding an opcode is one line here and its handler,
 * op_name() in ops.c.  Columns:
 *
 *	NAME, name	wire name, and the lower case for C identifiers
 *	code		its byte in the header
 *	udp		1: may be served over UDP
 *	auth		1: denied before AUTH when a token is set
 *	inplace		1: the answer value is the request value transformed
 *			in place by name_inplace() (ops.c): no copy
 */
#define MSG_OPCODES(X)							\
	/* NAME	name	code	udp	auth	inplace */		\
	X(PING,	ping,	0x01,	1,	0,	0)			\
	X(ECHO,	echo,	0x02,	1,	1,	1)			\
	X(UPPER, upper,	0x03,	1,	1,	1)			\
	X(TIME,	time,	0x04,	1,	1,	0)			\
	X(STATS, stats,	0x05,	0,	1,	0)			\
	X(AUTH,	auth,	0x06,	0,	0,	0)			\
	X(PUT,	put,	0x10,	0,	1,	0)			\
	X(GET,	get,	0x11,	0,	1,	0)			\
	X(LIST,	list,	0x12,	0,	1,	0)			\
	X(DEL,	del,	0x13,	0,	1,	0)			\
	X(EXEC,	exec,	0x20,	0,	1,	0)

/*
 * Every status, once, codes dense from 0.  It makes enum msg_status
 * (MSG_ST_NAME), msg_status_name() and the per-status response counters in
 * stats.h (field st_name, metric responses{status="NAME"}).
 */
#define MSG_STATUSES(X)							\
	X(OK,		ok,		0)				\
	X(BAD_REQUEST,	bad_request,	1)				\
	X(UNKNOWN_OP,	unknown_op,	2)				\
	X(TOO_LARGE,	too_large,	3)				\
	X(NOT_FOUND,	not_found,	4)				\
	X(DENIED,	denied,		5)				\
	X(BUSY,		busy,		6)				\
	X(TIMEOUT,	timeout,	7)				\
	X(INTERNAL,	internal,	8)				\
	X(BAD_VERSION,	bad_version,	9)

enum msg_op {
	MSG_OP_NONE = 0x00,	/* used in responses to unframeable input */
#define X(N, n, code, udp, auth, inplace)	MSG_OP_##N = code,
	MSG_OPCODES(X)
#undef X
};

enum msg_status {
#define X(N, n, code)	MSG_ST_##N = code,
	MSG_STATUSES(X)
#undef X
};

/* How many statuses there are; the highest is one less (dense codes). */
enum {
#define X(N, n, code)	+ 1
	MSG_ST_COUNT = 0 MSG_STATUSES(X)
#undef X
};
#define MSG_ST_MAX	(MSG_ST_COUNT - 1)

struct msg_hdr {
	uint8_t		version;
	uint8_t		flags;
	uint8_t		opcode;
	uint8_t		status;
	uint16_t	key_len;
	uint32_t	request_id;
	uint32_t	body_len;
};

/* What msg_parse_request() found at the front of a buffer. */
enum msg_parse_result {
	MSG_PARSE_MORE = 0,	/* incomplete: need `need' bytes in all */
	MSG_PARSE_FRAME,	/* a whole, valid request of `need' bytes */
	MSG_PARSE_ERROR		/* answer `status'; then close or skip */
};

struct msg_parse {
	enum msg_parse_result	 result;
	struct msg_hdr		 hdr;	/* valid once 16 bytes were seen */
	size_t			 need;	/* MORE/FRAME: bytes from buffer start */
	/* MSG_PARSE_ERROR only: */
	enum msg_status		 status;
	int			 close;	/* framing lost: close after the answer */
	uint32_t		 skip;	/* body bytes to discard when not closing */
	const char		*reason; /* static, human-readable */
};

void	msg_hdr_decode(const uint8_t *, struct msg_hdr *);
void	msg_hdr_encode(const struct msg_hdr *, uint8_t *);
void	msg_parse_request(const uint8_t *, size_t, uint32_t,
	    struct msg_parse *);
size_t	msg_scan_run(const uint8_t *, size_t, uint32_t, uint8_t, size_t,
	    uint32_t *);
size_t	msg_answer_run(uint8_t *, size_t, uint32_t, uint8_t, size_t,
	    uint32_t *);
void	msg_unanswer_run(uint8_t *, size_t);
uint32_t msg_respond_inplace(uint8_t *);
uint32_t msg_body_len(const uint8_t *);
int	msg_check_response(const uint8_t *, size_t, struct msg_hdr *,
	    const char **);
size_t	msg_encode_request(uint8_t *, uint8_t, uint32_t, uint16_t, uint32_t);
size_t	msg_encode_response(uint8_t *, uint8_t, uint8_t, uint32_t,
	    uint16_t, uint32_t);
#define MSG_NAME_MAX	255	/* file names: [A-Za-z0-9._-], not "." first */

int	msg_valid_status(unsigned int);
int	msg_valid_name(const uint8_t *, size_t);
const char *msg_status_name(unsigned int);
const char *msg_op_name(unsigned int);
int	msg_op_parse(const char *);

#endif /* MSGD_PROTO_H */

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

enum msg_op {
	MSG_OP_NONE = 0x00,	/* used in responses to unframeable input */
	MSG_OP_PING = 0x01,
	MSG_OP_ECHO = 0x02,
	MSG_OP_UPPER = 0x03,
	MSG_OP_TIME = 0x04,
	MSG_OP_STATS = 0x05,
	MSG_OP_AUTH = 0x06,
	MSG_OP_PUT = 0x10,
	MSG_OP_GET = 0x11,
	MSG_OP_LIST = 0x12,
	MSG_OP_DEL = 0x13,
	MSG_OP_EXEC = 0x20
};

enum msg_status {
	MSG_ST_OK = 0,
	MSG_ST_BAD_REQUEST = 1,
	MSG_ST_UNKNOWN_OP = 2,
	MSG_ST_TOO_LARGE = 3,
	MSG_ST_NOT_FOUND = 4,
	MSG_ST_DENIED = 5,
	MSG_ST_BUSY = 6,
	MSG_ST_TIMEOUT = 7,
	MSG_ST_INTERNAL = 8,
	MSG_ST_BAD_VERSION = 9
};
#define MSG_ST_MAX	MSG_ST_BAD_VERSION

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

/*
 * msgd/client.h: libmsgdclient, the C client library of msgd.
 *
 * A handle (struct msgdc, opaque) is one connection to one msgd over TCP
 * or a unix socket, optionally TLS, optionally authenticated.  Every
 * operation has a deadline; errors are a status (enum msgdc_err) and a
 * message kept in the handle (msgdc_errstr()).  Nothing here prints,
 * exits or keeps state outside the handle: distinct handles may be used
 * from distinct threads at once, one handle by one thread at a time.
 *
 * Three ways to use a handle (libmsgdclient(3)):
 *	blocking	msgdc_ping(), msgdc_get(), ... and msgdc_call()
 *	pipelined	msgdc_append() N requests, then msgdc_get_reply() N
 *			times: answers in order, their ids checked
 *	non-blocking	msgdc_set_nonblock(), then the caller's event loop
 *			polls msgdc_fd() for msgdc_want() and calls
 *			msgdc_flush(), msgdc_feed() and msgdc_take()
 *
 * Only standard headers are included: nothing of the server is exposed.
 */
#ifndef MSGD_CLIENT_PUBLIC_H
#define MSGD_CLIENT_PUBLIC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a call returns: 0, or one of the negative errors. */
enum msgdc_err {
	MSGDC_OK = 0,
	MSGDC_ECONNECT = -1,	/* could not connect (or TLS, AUTH failed) */
	MSGDC_ETIMEOUT = -2,	/* no answer within the timeout */
	MSGDC_EIO = -3,		/* connection lost, reset or closed */
	MSGDC_EPROTO = -4,	/* the server broke the protocol: garbage,
				   a wrong id, an answer over max_answer */
	MSGDC_ESTATUS = -5,	/* the server answered with a status other
				   than OK (in the reply, and the message) */
	MSGDC_EINVAL = -6,	/* a bad argument, or the wrong mode */
	MSGDC_ENOMEM = -7,	/* out of memory */
	MSGDC_EAGAIN = -8	/* non-blocking: not complete yet */
};

/* The statuses of the server's answers (msgd-protocol(7)). */
enum msgdc_status {
	MSGDC_ST_OK = 0,
	MSGDC_ST_BAD_REQUEST = 1,
	MSGDC_ST_UNKNOWN_OP = 2,
	MSGDC_ST_TOO_LARGE = 3,
	MSGDC_ST_NOT_FOUND = 4,
	MSGDC_ST_DENIED = 5,
	MSGDC_ST_BUSY = 6,
	MSGDC_ST_TIMEOUT = 7,
	MSGDC_ST_INTERNAL = 8,
	MSGDC_ST_BAD_VERSION = 9
};

/* The operations (msgd-protocol(7)). */
enum msgdc_op {
	MSGDC_OP_PING = 0x01,
	MSGDC_OP_ECHO = 0x02,
	MSGDC_OP_UPPER = 0x03,
	MSGDC_OP_TIME = 0x04,
	MSGDC_OP_STATS = 0x05,
	MSGDC_OP_AUTH = 0x06,
	MSGDC_OP_PUT = 0x10,
	MSGDC_OP_GET = 0x11,
	MSGDC_OP_LIST = 0x12,
	MSGDC_OP_DEL = 0x13,
	MSGDC_OP_EXEC = 0x20
};

/* msgdc_want(): what the non-blocking handle waits for. */
#define MSGDC_WANT_READ		0x1
#define MSGDC_WANT_WRITE	0x2

#define MSGDC_TIMEOUT_DEFAULT		5000		/* ms */
#define MSGDC_MAX_ANSWER_DEFAULT	(64u * 1024 * 1024)	/* bytes */

/*
 * How to connect.  msgdc_options_init() sets the defaults; a field left
 * 0 or NULL keeps its default.  The strings are copied or used only
 * during msgdc_connect().
 */
struct msgdc_options {
	int		 connect_timeout_ms;	/* connect, TLS, AUTH */
	int		 timeout_ms;		/* each operation */
	uint64_t	 max_answer;		/* largest answer body */
	const char	*token;			/* AUTH after connecting */
	int		 tls;			/* 1: TLS */
	const char	*ca_file;		/* NULL: the system's CAs */
	const char	*cert_file;		/* client certificate chain */
	const char	*key_file;		/* its key; NULL: in cert_file */
	const char	*sni;			/* NULL: the address's host */
	int		 insecure;		/* 1: verify nothing (tests) */
};

/* One answer.  key and val stay valid until the next call on the handle. */
struct msgdc_reply {
	int		 status;	/* enum msgdc_status */
	int		 opcode;	/* enum msgdc_op, or 0 */
	uint32_t	 id;		/* the request id it answers */
	const uint8_t	*key;
	size_t		 klen;
	const uint8_t	*val;
	size_t		 vlen;
};

/* An EXEC answer taken apart. */
struct msgdc_exec {
	int		 status;	/* the command's exit status, 0..255 */
	const uint8_t	*out;		/* its stdout */
	size_t		 olen;
	const uint8_t	*err;		/* its stderr */
	size_t		 elen;
};

struct msgdc;

/* msgdc_connect(3) */
void		 msgdc_options_init(struct msgdc_options *);
struct msgdc	*msgdc_connect(const char *, const struct msgdc_options *);
int		 msgdc_reconnect(struct msgdc *);
void		 msgdc_free(struct msgdc *);
int		 msgdc_err(const struct msgdc *);
const char	*msgdc_errstr(const struct msgdc *);
int		 msgdc_set_timeout(struct msgdc *, int);
int		 msgdc_timeout(const struct msgdc *);
const char	*msgdc_tls_version(const struct msgdc *);
int		 msgdc_tls_resumed(const struct msgdc *);
void		 msgdc_tls_forget(struct msgdc *);
const char	*msgdc_version(void);
const char	*msgdc_status_name(int);
const char	*msgdc_op_name(int);

/* msgdc_call(3) */
int	msgdc_call(struct msgdc *, int, const void *, size_t, const void *,
	    size_t, struct msgdc_reply *);
int	msgdc_auth(struct msgdc *, const char *);
int	msgdc_ping(struct msgdc *);
int	msgdc_echo(struct msgdc *, const void *, size_t, struct msgdc_reply *);
int	msgdc_upper(struct msgdc *, const void *, size_t,
	    struct msgdc_reply *);
int	msgdc_time(struct msgdc *, struct msgdc_reply *);
int	msgdc_stats(struct msgdc *, struct msgdc_reply *);
int	msgdc_put(struct msgdc *, const char *, const void *, size_t);
int	msgdc_get(struct msgdc *, const char *, struct msgdc_reply *);
int	msgdc_list(struct msgdc *, struct msgdc_reply *);
int	msgdc_del(struct msgdc *, const char *);
int	msgdc_exec(struct msgdc *, const char *, struct msgdc_exec *);
int	msgdc_exec_parse(const struct msgdc_reply *, struct msgdc_exec *);
int	msgdc_udp_call(const char *, int, int, const void *, size_t, void *,
	    size_t, struct msgdc_reply *, char *, size_t);

/* msgdc_append(3) */
int	msgdc_append(struct msgdc *, int, const void *, size_t, const void *,
	    size_t, uint32_t *);
int	msgdc_get_reply(struct msgdc *, struct msgdc_reply *);
size_t	msgdc_pending(const struct msgdc *);

/* msgdc_set_nonblock(3) */
int	msgdc_set_nonblock(struct msgdc *, int);
int	msgdc_fd(const struct msgdc *);
int	msgdc_want(const struct msgdc *);
int	msgdc_flush(struct msgdc *);
int	msgdc_feed(struct msgdc *);
int	msgdc_take(struct msgdc *, struct msgdc_reply *);

#ifdef __cplusplus
}
#endif

#endif /* MSGD_CLIENT_PUBLIC_H */

/*
 * client.h: a small blocking client for msgd with deadlines on every step.
 * A dead or stalled server produces CLIENT_ETIMEOUT, never a hang.
 * With client_open_tls() the connection speaks TLS (OpenSSL), with the same
 * deadlines on the handshake and on every read and write.
 */
#ifndef MSGD_CLIENT_H
#define MSGD_CLIENT_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "msgd/client.h"

#include "buf.h"
#include "net.h"
#include "proto.h"

enum client_err {
	CLIENT_OK = 0,
	CLIENT_ECONNECT = -1,	/* could not connect */
	CLIENT_ETIMEOUT = -2,	/* no answer in time */
	CLIENT_EIO = -3,	/* connection lost or reset */
	CLIENT_EPROTO = -4,	/* the peer does not speak msgd v1 */
	CLIENT_ESTATUS = -5,	/* (msgdc only) an answer other than OK */
	CLIENT_EINVAL = -6,	/* a bad argument, or the wrong mode */
	CLIENT_ENOMEM = -7,
	CLIENT_EAGAIN = -8	/* non-blocking: not complete yet */
};

struct msgdc;

/* OpenSSL's types, opaque here: only client.c includes its headers. */
struct ssl_ctx_st;
struct ssl_st;
struct ssl_session_st;

/*
 * What a TLS connection trusts and presents.  By default the server's
 * certificate must chain to ca_file (or the system's CAs) and name the
 * host of the address (or sni); insecure skips every check.
 */
struct client_tls {
	const char	*ca_file;	/* NULL: the system's default CAs */
	const char	*cert_file;	/* client certificate chain (mTLS) */
	const char	*key_file;	/* its key; NULL: in cert_file */
	const char	*sni;		/* name sent and verified; NULL: host */
	int		 insecure;	/* verify nothing (testing only) */
};

#define CLIENT_TLS_NAME_MAX	256
/* The largest answer msgctl takes (a large file's GET). */
#define CLIENT_MAX_RESP_DEFAULT	(1024ULL * 1024 * 1024)

struct client {
	int		fd;
	int		timeout_ms;
	int		connect_timeout_ms;	/* connect and handshake */
	uint32_t	next_id;
	uint64_t	max_resp;	/* largest response body accepted */
	struct net_addr	addr;
	struct buf	in;
	char		err[256];
	int		last;		/* the latest error (enum client_err) */
	/* Pipelining: requests appended, not yet written; ids answered
	 * next first (a ring). */
	struct buf	out;
	uint32_t	*pend;
	size_t		pend_cap, pend_head, pend_n;
	int		nonblock;	/* operations never wait */
	short		want;		/* POLLIN/POLLOUT the last step needs */
	/* TLS: a context per client, one SSL per connection. */
	struct ssl_ctx_st	*tls_ctx;	/* NULL: plain */
	struct ssl_st		*ssl;
	struct ssl_session_st	*tls_sess;	/* the latest, to resume */
	char		tls_name[CLIENT_TLS_NAME_MAX];	/* "": none */
	int		tls_verify;
};

struct client_resp {
	struct msg_hdr	 hdr;
	const uint8_t	*key;	/* valid until the next client call */
	size_t		 klen;
	const uint8_t	*val;
	size_t		 vlen;
};

int	client_open(struct client *, const char *, int);
int	client_open_tls(struct client *, const char *, int,
	    const struct client_tls *);
int	client_open_full(struct client *, const char *, int, int, uint64_t,
	    const struct client_tls *);
int	client_tls_resumed(const struct client *);
void	client_tls_forget(struct client *);
const char *client_tls_version(const struct client *);
struct ssl_ctx_st *client_tls_ctx(const struct client_tls *, char *, size_t);
int	client_tls_name(const struct client_tls *, const struct net_addr *,
	    char *, size_t, char *, size_t);
struct ssl_st *client_tls_new(struct ssl_ctx_st *, int, const char *, int,
	    char *, size_t);
int	client_tls_failure(struct ssl_st *, int, const char *, const char *,
	    char *, size_t);
int	client_tls_connect(struct ssl_st *, int, int, const char *, char *,
	    size_t);
ssize_t	client_tls_read(struct ssl_st *, void *, size_t, const char *, short *,
	    char *, size_t);
int	client_reconnect(struct client *);
void	client_disconnect(struct client *);
int	client_send(struct client *, uint8_t, const void *, size_t,
	    const void *, size_t, uint32_t *);
int	client_recv(struct client *, struct client_resp *);
int	client_call(struct client *, uint8_t, const void *, size_t,
	    const void *, size_t, struct client_resp *);
void	client_close(struct client *);
int	client_append(struct client *, uint8_t, const void *, size_t,
	    const void *, size_t, uint32_t *);
int	client_flush(struct client *);
int	client_feed(struct client *);
int	client_take(struct client *, struct client_resp *);
int	client_get_reply(struct client *, struct client_resp *);
int	client_exec_answer(const struct client_resp *, struct msgdc_exec *);
struct msgdc *client_msgdc_open(const char *, int, uint64_t,
	    const struct client_tls *);
int	client_udp_call(const char *, int, uint8_t, const void *, size_t,
	    uint8_t *, size_t, struct client_resp *, char *, size_t);

#endif /* MSGD_CLIENT_H */

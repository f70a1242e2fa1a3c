/*
 * tls.h: TLS for the stream listeners marked "tls:" (OpenSSL 3).
 *
 * The master builds one context per generation (tls_new) before it forks
 * the workers: it reads the certificate chain and the key with its own
 * privileges, and the workers, which may not be able to read them, inherit
 * the context.  A reload builds a new one; a bad or mismatched file fails
 * the reload and the serving generation keeps its own.  The session
 * ticket keys derive from a secret made once per master and from the
 * hour, so every worker of every generation accepts the tickets the
 * others issued, the last hour's too; the session id context names the
 * trust (verify_client, tls.ca), so a ticket resumes only under the
 * trust its client certificate was verified under.
 *
 * A connection's TLS is driven by the worker's loop: each call does what
 * the socket allows now and says which readiness it waits for.  OpenSSL's
 * types stay inside tls.c.
 */
#ifndef MSGD_TLS_H
#define MSGD_TLS_H

#include <sys/types.h>
#include <stddef.h>

#include "config.h"

#define TLS_TICKET_PERIOD	3600	/* s: one ticket key per hour */
#define TLS_CERT_LIST_MAX	32768	/* a peer's certificate chain, bytes */
#define TLS_EXPIRY_WARN_DAYS	30

struct tls_ctx;
struct ssl_st;

/* What a TLS call that could not finish waits for. */
enum tls_io {
	TLS_IO_OK = 0,
	TLS_IO_WANT_READ,
	TLS_IO_WANT_WRITE,
	TLS_IO_EOF,		/* the peer closed (close_notify or FIN) */
	TLS_IO_ERR,
	TLS_IO_RENEG		/* the peer asked to renegotiate: refused */
};

/* Why a handshake failed (counted by reason). */
enum tls_fail {
	TLS_FAIL_PROTOCOL = 0,	/* not TLS, bad or truncated messages */
	TLS_FAIL_CERT		/* client certificate missing or refused */
};

/* A finished handshake. */
struct tls_info {
	int	resumed;
	int	version;	/* 12 or 13 */
	int	verified;	/* a client certificate passed the CA */
	char	subject[256];	/* its subject (RFC 2253, ASCII), if verified */
};

struct tls_ctx	*tls_new(const struct msgd_conf *, char *, size_t, char *,
		    size_t);
void		 tls_free(struct tls_ctx *);
int		 tls_wanted(const struct msgd_conf *);

struct ssl_st	*tls_conn_new(struct tls_ctx *, int);
void		 tls_conn_free(struct ssl_st *);
enum tls_io	 tls_handshake(struct ssl_st *, struct tls_info *,
		    enum tls_fail *, char *, size_t);
ssize_t		 tls_read(struct ssl_st *, void *, size_t, enum tls_io *);
ssize_t		 tls_write(struct ssl_st *, const void *, size_t,
		    enum tls_io *);
int		 tls_pending(struct ssl_st *);
void		 tls_shutdown(struct ssl_st *);

#endif /* MSGD_TLS_H */

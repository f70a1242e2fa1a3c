/*
 * tls.c: the TLS context built from the configuration, its checks (msgd
 * -t, reload) and the non-blocking calls a connection makes.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sha256.h"
#include "tls.h"

struct tls_ctx {
	SSL_CTX	*ssl;
};

/*
 * The secret the ticket keys derive from: made by the master before its
 * first fork, so every worker, of this generation and the next ones,
 * derives the same keys.  Tickets outlive a reload, not a restart.
 */
static uint8_t	tls_secret[32];
static int	tls_secret_set;

/* A ticket key: name, encryption and MAC keys for one period. */
struct tls_tkey {
	uint8_t	name[16];
	uint8_t	aes[32];
	uint8_t	mac[32];
};

/* The key of period p: SHA-256 of the secret, a label and p. */
static void
tls_tkey(uint64_t p, struct tls_tkey *k)
{
	struct sha256	h;
	uint8_t		d[SHA256_DIGEST_LEN], be[8];
	const char	labels[3] = { 'n', 'e', 'm' };
	int		i, j;

	for (i = 0; i < 8; i++)
		be[i] = (uint8_t)(p >> (56 - 8 * i));
	for (j = 0; j < 3; j++) {
		sha256_init(&h);
		sha256_update(&h, tls_secret, sizeof(tls_secret));
		sha256_update(&h, &labels[j], 1);
		sha256_update(&h, be, sizeof(be));
		sha256_final(&h, d);
		if (j == 0)
			memcpy(k->name, d, sizeof(k->name));
		else
			memcpy(j == 1 ? k->aes : k->mac, d, 32);
	}
	explicit_bzero(d, sizeof(d));
}

/*
 * OpenSSL's ticket key callback: encrypt with this period's key; decrypt
 * with this period's or the previous one's, and always ask for a new
 * ticket: TLS 1.3 clients use a ticket once (RFC 8446, C.4), so without
 * one every other connection would be a full handshake.
 */
static int
tls_ticket_cb(SSL *s, unsigned char name[16], unsigned char *iv,
    EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
	struct tls_tkey	k;
	OSSL_PARAM	params[3];
	uint64_t	p = (uint64_t)time(NULL) / TLS_TICKET_PERIOD;
	int		i, rc = -1;

	(void)s;
	if (enc) {
		tls_tkey(p, &k);
		if (RAND_bytes(iv, 16) <= 0)
			goto done;
		memcpy(name, k.name, sizeof(k.name));
		rc = 1;
	} else {
		for (i = 0; i < 2; i++) {
			tls_tkey(p - (uint64_t)i, &k);
			if (memcmp(name, k.name, sizeof(k.name)) == 0)
				break;
		}
		if (i == 2) {
			rc = 0;		/* unknown or too old: full handshake */
			goto done;
		}
		rc = 2;
	}
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    k.mac, sizeof(k.mac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(hctx, params) != 1 ||
	    (enc ? EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes,
	    iv) : EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes,
	    iv)) != 1)
		rc = -1;
done:
	explicit_bzero(&k, sizeof(k));
	return (rc);
}

/*
 * A connection whose peer asked to renegotiate carries this as its app
 * data.  OpenSSL refuses the renegotiation (SSL_OP_NO_RENEGOTIATION) with
 * a warning alert and would go on; msgd closes such a connection instead,
 * and counts it, as nginx does.
 */
static const char	tls_reneg_mark = 'R';

/*
 * OpenSSL's state callback: the no_renegotiation alert it sends is the
 * one sign of a refused renegotiation (TLS 1.2 and older; TLS 1.3 has
 * none, a ClientHello there is a fatal unexpected_message).
 */
static void
tls_info_cb(const SSL *s, int where, int ret)
{
	if ((where & SSL_CB_WRITE_ALERT) &&
	    (ret & 0xff) == SSL_AD_NO_RENEGOTIATION)
		SSL_set_app_data((SSL *)s, (void *)&tls_reneg_mark);
}

/* OpenSSL's last error, as text (the queue is emptied). */
static const char *
tls_errstr(char *buf, size_t len)
{
	unsigned long	e, last = 0;

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(last, buf, len);
	return (buf);
}

/* Whether c needs a context: a TLS listener, or TLS files to check. */
int
tls_wanted(const struct msgd_conf *c)
{
	return (c->ntls > 0 || c->tls_cert[0] != '\0' ||
	    c->tls_key[0] != '\0');
}

/*
 * The key is a secret: refuse it when others than its owner may read it
 * (as ssh does), before OpenSSL reads it.
 */
static int
tls_key_mode(const struct msgd_conf *c, char *cause, size_t len)
{
	struct stat	st;

	if (stat(c->tls_key, &st) == -1) {
		snprintf(cause, len, "%s: %s: %s", c->tls_at[CONF_AT_KEY],
		    c->tls_key, strerror(errno));
		return (-1);
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(cause, len, "%s: %s: must be readable by its owner "
		    "only (chmod 600), is mode %04o", c->tls_at[CONF_AT_KEY],
		    c->tls_key, (unsigned)(st.st_mode & 07777));
		return (-1);
	}
	return (0);
}

/*
 * The certificate's validity: an error once expired (or not valid yet),
 * a warning within TLS_EXPIRY_WARN_DAYS of its end.
 */
static int
tls_cert_dates(const struct msgd_conf *c, SSL_CTX *ctx, char *cause,
    size_t len, char *warn, size_t wlen)
{
	X509	*x = SSL_CTX_get0_certificate(ctx);
	int	 days, secs;

	if (x == NULL) {
		snprintf(cause, len, "%s: %s: no certificate",
		    c->tls_at[CONF_AT_CERT], c->tls_cert);
		return (-1);
	}
	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
		snprintf(cause, len, "%s: %s: the certificate is not valid "
		    "yet", c->tls_at[CONF_AT_CERT], c->tls_cert);
		return (-1);
	}
	if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)) != 1)
		days = secs = -1;
	if (days < 0 || secs < 0 || (days == 0 && secs == 0)) {
		snprintf(cause, len, "%s: %s: the certificate has expired",
		    c->tls_at[CONF_AT_CERT], c->tls_cert);
		return (-1);
	}
	if (days < TLS_EXPIRY_WARN_DAYS && warn != NULL)
		snprintf(warn, wlen, "%s: %s: the certificate expires in %d "
		    "days", c->tls_at[CONF_AT_CERT], c->tls_cert, days);
	return (0);
}

/*
 * The session id context names the trust a session's client certificate
 * was verified under: SHA-256 of the verify mode and of every
 * certificate and CRL loaded from tls.ca, as DER.  OpenSSL resumes a
 * session (a ticket) only under the context it was made in, so after a
 * reload that changes either, a ticket from before brings a full
 * handshake, which verifies the certificate again; a reload that changes
 * neither keeps resumption.
 */
static int
tls_trust_context(SSL_CTX *ctx, int mode, char *cause, size_t len)
{
	STACK_OF(X509_OBJECT)	*objs;
	X509_OBJECT		*o;
	X509			*x;
	X509_CRL		*crl;
	struct sha256		 h;
	uint8_t			 d[SHA256_DIGEST_LEN], m[4];
	unsigned char		*der;
	int			 i, n;

	sha256_init(&h);
	sha256_update(&h, "msgd trust 1", 12);
	for (i = 0; i < 4; i++)
		m[i] = (uint8_t)((unsigned int)mode >> (24 - 8 * i));
	sha256_update(&h, m, sizeof(m));
	objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
	for (i = 0; objs != NULL && i < sk_X509_OBJECT_num(objs); i++) {
		o = sk_X509_OBJECT_value(objs, i);
		der = NULL;
		if ((x = X509_OBJECT_get0_X509(o)) != NULL)
			n = i2d_X509(x, &der);
		else if ((crl = X509_OBJECT_get0_X509_CRL(o)) != NULL)
			n = i2d_X509_CRL(crl, &der);
		else
			continue;
		if (n <= 0) {
			snprintf(cause, len, "tls.ca: cannot encode a "
			    "certificate for the session id context");
			return (-1);
		}
		sha256_update(&h, der, (size_t)n);
		OPENSSL_free(der);
	}
	sha256_final(&h, d);
	if (SSL_CTX_set_session_id_context(ctx, d, sizeof(d)) != 1) {
		snprintf(cause, len, "cannot set the session id context");
		ERR_clear_error();
		return (-1);
	}
	return (0);
}

/*
 * The files: the chain, the key (it must match), the CA for client
 * certificates.  Returns -1 with cause naming the setting's file:line.
 */
static int
tls_load_files(const struct msgd_conf *c, SSL_CTX *ctx, char *cause,
    size_t len)
{
	STACK_OF(X509_NAME)	*names;
	char			 err[256];
	int			 mode;

	if (SSL_CTX_use_certificate_chain_file(ctx, c->tls_cert) != 1) {
		snprintf(cause, len, "%s: %s: cannot load the certificate "
		    "chain: %s", c->tls_at[CONF_AT_CERT], c->tls_cert,
		    tls_errstr(err, sizeof(err)));
		return (-1);
	}
	if (tls_key_mode(c, cause, len) == -1)
		return (-1);
	if (SSL_CTX_use_PrivateKey_file(ctx, c->tls_key,
	    SSL_FILETYPE_PEM) != 1 && ERR_GET_REASON(ERR_peek_last_error()) !=
	    X509_R_KEY_VALUES_MISMATCH) {
		snprintf(cause, len, "%s: %s: cannot load the key: %s",
		    c->tls_at[CONF_AT_KEY], c->tls_key,
		    tls_errstr(err, sizeof(err)));
		return (-1);
	}
	if (ERR_peek_last_error() != 0 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(cause, len, "%s: %s: the key does not match the "
		    "certificate %s", c->tls_at[CONF_AT_KEY], c->tls_key,
		    c->tls_cert);
		ERR_clear_error();
		return (-1);
	}
	if (c->tls_ca[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, c->tls_ca, NULL) != 1 ||
		    (names = SSL_load_client_CA_file(c->tls_ca)) == NULL) {
			snprintf(cause, len, "%s: %s: cannot load the CA "
			    "certificates: %s", c->tls_at[CONF_AT_CA],
			    c->tls_ca, tls_errstr(err, sizeof(err)));
			return (-1);
		}
		SSL_CTX_set_client_CA_list(ctx, names);
	}
	mode = SSL_VERIFY_NONE;
	if (c->tls_verify == CONF_VERIFY_OPTIONAL)
		mode = SSL_VERIFY_PEER;
	else if (c->tls_verify == CONF_VERIFY_REQUIRE)
		mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_CTX_set_verify(ctx, mode, NULL);
	return (tls_trust_context(ctx, mode, cause, len));
}

/* Protocols, ciphers, and what every connection does alike. */
static int
tls_settings(const struct msgd_conf *c, SSL_CTX *ctx, char *cause,
    size_t len)
{
	char	err[256];

	if (SSL_CTX_set_min_proto_version(ctx, c->tls_min_proto ==
	    CONF_TLS13 ? TLS1_3_VERSION : TLS1_2_VERSION) != 1) {
		snprintf(cause, len, "tls.min_protocol: %s",
		    tls_errstr(err, sizeof(err)));
		return (-1);
	}
	if (c->tls_ciphers[0] != '\0' &&
	    SSL_CTX_set_cipher_list(ctx, c->tls_ciphers) != 1) {
		snprintf(cause, len, "%s: no cipher in \"%s\" is known: %s",
		    c->tls_at[CONF_AT_CIPHERS], c->tls_ciphers,
		    tls_errstr(err, sizeof(err)));
		return (-1);
	}
	if (c->tls_suites[0] != '\0' &&
	    SSL_CTX_set_ciphersuites(ctx, c->tls_suites) != 1) {
		snprintf(cause, len, "%s: no ciphersuite in \"%s\" is known: "
		    "%s", c->tls_at[CONF_AT_SUITES], c->tls_suites,
		    tls_errstr(err, sizeof(err)));
		return (-1);
	}
	/* No renegotiation: a client could make us work at will. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	/*
	 * Idle connections give their buffers back; writes go out a record
	 * at a time from an output buffer that may move between retries.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/*
	 * Read ahead: one read(2) takes what the socket has, not a record
	 * header and then its body (two system calls per request, and a
	 * third to learn the socket is empty).  What it reads beyond a
	 * record waits in OpenSSL, out of epoll's sight: tls_pending().
	 */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_max_cert_list(ctx, TLS_CERT_LIST_MAX);
	SSL_CTX_set_info_callback(ctx, tls_info_cb);
	/* The session id context comes with the trust (tls_load_files). */
	/*
	 * Resumption by tickets only: a per-worker session cache would not
	 * be shared, and clients could fill it at will.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_timeout(ctx, TLS_TICKET_PERIOD);
	SSL_CTX_set_num_tickets(ctx, 1);
	if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb) != 1) {
		snprintf(cause, len, "session tickets: %s",
		    tls_errstr(err, sizeof(err)));
		return (-1);
	}
	return (0);
}

/*
 * A context for c, or NULL with cause: every file loaded and checked.
 * warn (may be NULL) gets a warning that does not stop msgd: the
 * certificate expires soon.  Called by the master (and msgd -t).
 */
struct tls_ctx *
tls_new(const struct msgd_conf *c, char *cause, size_t len, char *warn,
    size_t wlen)
{
	struct tls_ctx	*t;
	char		 err[256];

	if (warn != NULL && wlen > 0)
		warn[0] = '\0';
	if (c->tls_cert[0] == '\0' || c->tls_key[0] == '\0') {
		snprintf(cause, len, "%s: TLS needs tls.cert and tls.key",
		    c->path);
		return (NULL);
	}
	if (!tls_secret_set) {
		if (RAND_bytes(tls_secret, sizeof(tls_secret)) != 1) {
			snprintf(cause, len, "no random bytes for the ticket "
			    "keys: %s", tls_errstr(err, sizeof(err)));
			return (NULL);
		}
		tls_secret_set = 1;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(cause, len, "out of memory");
		return (NULL);
	}
	if ((t->ssl = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(cause, len, "SSL_CTX_new: %s",
		    tls_errstr(err, sizeof(err)));
		free(t);
		return (NULL);
	}
	if (tls_settings(c, t->ssl, cause, len) == -1 ||
	    tls_load_files(c, t->ssl, cause, len) == -1 ||
	    tls_cert_dates(c, t->ssl, cause, len, warn, wlen) == -1) {
		tls_free(t);
		return (NULL);
	}
	return (t);
}

void
tls_free(struct tls_ctx *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ssl);
	free(t);
}

/* A server session on the accepted, non-blocking socket fd, or NULL. */
struct ssl_st *
tls_conn_new(struct tls_ctx *t, int fd)
{
	SSL	*s;

	if ((s = SSL_new(t->ssl)) == NULL)
		return (NULL);
	if (SSL_set_fd(s, fd) != 1) {
		SSL_free(s);
		return (NULL);
	}
	SSL_set_accept_state(s);
	return (s);
}

void
tls_conn_free(struct ssl_st *s)
{
	SSL_free(s);
	ERR_clear_error();
}

/* What SSL_get_error says of a call that returned rc. */
static enum tls_io
tls_status(SSL *s, int rc)
{
	switch (SSL_get_error(s, rc)) {
	case SSL_ERROR_WANT_READ:
		return (TLS_IO_WANT_READ);
	case SSL_ERROR_WANT_WRITE:
		return (TLS_IO_WANT_WRITE);
	case SSL_ERROR_ZERO_RETURN:
		return (TLS_IO_EOF);
	case SSL_ERROR_SYSCALL:
		/* No error queued and no errno: the peer's FIN. */
		if (ERR_peek_error() == 0 && errno == 0)
			return (TLS_IO_EOF);
		return (TLS_IO_ERR);
	default:
		return (TLS_IO_ERR);
	}
}

/* A failed handshake: the reason for the counters, text for the log. */
static void
tls_failure(SSL *s, enum tls_fail *why, char *msg, size_t len)
{
	unsigned long	e = ERR_peek_last_error();
	long		v = SSL_get_verify_result(s);
	int		r = ERR_GET_REASON(e);
	char		err[256];

	if (v != X509_V_OK) {
		*why = TLS_FAIL_CERT;
		snprintf(msg, len, "client certificate: %s",
		    X509_verify_cert_error_string(v));
		ERR_clear_error();
		return;
	}
	*why = r == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE ||
	    r == SSL_R_CERTIFICATE_VERIFY_FAILED ||
	    r == SSL_R_NO_CERTIFICATES_RETURNED ? TLS_FAIL_CERT :
	    TLS_FAIL_PROTOCOL;
	if (e == 0)
		snprintf(msg, len, "connection closed in the handshake");
	else
		snprintf(msg, len, "%s", tls_errstr(err, sizeof(err)));
}

/*
 * A certificate's subject as RFC 2253 text ("CN=a,O=b"), every byte
 * outside printable ASCII escaped by OpenSSL, so that logs and stats carry
 * no control characters.  Cut to len; "?" if it cannot be made.
 */
static void
tls_subject(X509 *x, char *out, size_t len)
{
	BIO	*b;
	int	 n;

	snprintf(out, len, "?");
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return;
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
	    XN_FLAG_RFC2253) >= 0 && (n = BIO_read(b, out, (int)len - 1)) > 0)
		out[n] = '\0';
	BIO_free(b);
}

/*
 * Go on with the handshake.  TLS_IO_OK: done, info filled; WANT_*: call
 * again when the socket is ready so; EOF: the peer closed without sending
 * anything; ERR: failed, *why and msg say why.
 */
enum tls_io
tls_handshake(struct ssl_st *s, struct tls_info *info, enum tls_fail *why,
    char *msg, size_t len)
{
	X509		*peer;
	enum tls_io	 st;
	int		 rc;

	ERR_clear_error();
	errno = 0;
	if ((rc = SSL_do_handshake(s)) != 1) {
		st = tls_status(s, rc);
		if (st == TLS_IO_WANT_READ || st == TLS_IO_WANT_WRITE)
			return (st);
		/* Connected and closed, not a byte sent: no failed handshake. */
		if (BIO_number_read(SSL_get_rbio(s)) == 0) {
			ERR_clear_error();
			return (TLS_IO_EOF);
		}
		tls_failure(s, why, msg, len);
		return (TLS_IO_ERR);
	}
	memset(info, 0, sizeof(*info));
	info->resumed = SSL_session_reused(s);
	info->version = SSL_version(s) == TLS1_3_VERSION ? 13 : 12;
	if ((peer = SSL_get0_peer_certificate(s)) != NULL &&
	    SSL_get_verify_result(s) == X509_V_OK) {
		info->verified = 1;
		tls_subject(peer, info->subject, sizeof(info->subject));
	}
	return (TLS_IO_OK);
}

/*
 * Read up to len bytes of plaintext.  Returns the count, or 0 with *io
 * saying why none (WANT_READ, WANT_WRITE, EOF, ERR, RENEG: the peer asked
 * to renegotiate, whatever came with it is dropped with the connection).
 */
ssize_t
tls_read(struct ssl_st *s, void *p, size_t len, enum tls_io *io)
{
	size_t	n;
	int	rc;

	ERR_clear_error();
	errno = 0;
	rc = SSL_read_ex(s, p, len, &n);
	if (SSL_get_app_data(s) == &tls_reneg_mark) {
		*io = TLS_IO_RENEG;
		return (0);
	}
	if (rc == 1) {
		*io = TLS_IO_OK;
		return ((ssize_t)n);
	}
	*io = tls_status(s, rc);
	return (0);
}

/* Write up to len bytes (a record or more); as tls_read. */
ssize_t
tls_write(struct ssl_st *s, const void *p, size_t len, enum tls_io *io)
{
	size_t	n;
	int	rc;

	ERR_clear_error();
	errno = 0;
	rc = SSL_write_ex(s, p, len, &n);
	if (SSL_get_app_data(s) == &tls_reneg_mark) {
		*io = TLS_IO_RENEG;
		return (0);
	}
	if (rc == 1) {
		*io = TLS_IO_OK;
		return ((ssize_t)n);
	}
	*io = tls_status(s, rc);
	return (0);
}

/*
 * Input OpenSSL holds that the socket no longer shows: plaintext of a
 * record already opened, or bytes read ahead (a whole record, or only
 * the start of one: then the next tls_read asks the socket for the rest).
 * A record whose header is in and no byte of its body yet is held too,
 * though SSL_has_pending says nothing (OpenSSL 3.0 has moved the header
 * out of its buffer); its read state says "RB", reading the body.
 */
int
tls_pending(struct ssl_st *s)
{
	return (SSL_has_pending(s) || strcmp(SSL_rstate_string(s), "RB") == 0);
}

/* Say goodbye (close_notify), best effort: we do not wait for the peer's. */
void
tls_shutdown(struct ssl_st *s)
{
	ERR_clear_error();
	if (SSL_is_init_finished(s))
		(void)SSL_shutdown(s);
	ERR_clear_error();
}

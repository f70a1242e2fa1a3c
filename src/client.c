/*
 * client.c: blocking request/response over a non-blocking socket, so every
 * wait is a poll() with the remaining time of the caller's deadline.  TLS
 * runs on the same non-blocking socket: OpenSSL says what it waits for
 * (WANT_READ, WANT_WRITE) and the wait is the same poll().
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "client.h"
#include "util.h"

/* An answer's buffer grows with the bytes that arrive, this much at most
 * at a time: a header that promises a large body reserves nothing. */
#define CLIENT_READ_STEP	(1024 * 1024)
#define CLIENT_READ_MIN		65536

/* Where the struct client of an SSL is, for the new-session callback. */
static int		client_ssl_idx = -1;
static pthread_once_t	client_ssl_once = PTHREAD_ONCE_INIT;

static void
client_ssl_idx_init(void)
{
	client_ssl_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/*
 * OpenSSL writes to the socket with write(2): a server that has gone
 * raises SIGPIPE, which would kill the caller.  Block it around each TLS
 * call, and take away a SIGPIPE the call raised (not one already pending),
 * as libpq does; the failed write still reports EPIPE.
 */
struct client_sigpipe {
	sigset_t	old;
	int		was_pending;
};

/* Block SIGPIPE in this thread; note whether one was already pending. */
static void
client_sigpipe_block(struct client_sigpipe *sp)
{
	sigset_t	set, pend;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &sp->old);
	sigemptyset(&pend);
	(void)sigpending(&pend);
	sp->was_pending = sigismember(&pend, SIGPIPE) == 1;
}

/* Take away a SIGPIPE the TLS call raised, then unblock; errno is kept. */
static void
client_sigpipe_restore(struct client_sigpipe *sp)
{
	struct timespec	zero = { 0, 0 };
	sigset_t	set, pend;
	int		saved = errno;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigemptyset(&pend);
	if (!sp->was_pending && sigpending(&pend) == 0 &&
	    sigismember(&pend, SIGPIPE) == 1)
		(void)sigtimedwait(&set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &sp->old, NULL);
	errno = saved;
}

/* Wait until fd is ready for events or the deadline passes. */
static int
client_wait(struct client *c, short events, uint64_t deadline)
{
	struct pollfd	pfd;
	uint64_t	now;
	int		rc;

	for (;;) {
		now = mono_ms();
		if (now >= deadline) {
			snprintf(c->err, sizeof(c->err), "%s: no answer within "
			    "%d ms", c->addr.text, c->timeout_ms);
			return (CLIENT_ETIMEOUT);
		}
		pfd.fd = c->fd;
		pfd.events = events;
		rc = poll(&pfd, 1, (int)(deadline - now));
		if (rc > 0)
			return (CLIENT_OK);
		if (rc == -1 && errno != EINTR) {
			snprintf(c->err, sizeof(c->err), "poll: %s",
			    strerror(errno));
			return (CLIENT_EIO);
		}
	}
}

/* The reason of OpenSSL's latest error ("certificate verify failed"). */
static const char *
client_tls_reason(void)
{
	static __thread char	 buf[128];
	const char		*why;
	unsigned long		 e;

	if ((e = ERR_peek_last_error()) == 0)
		return ("unknown TLS error");
	if ((why = ERR_reason_error_string(e)) == NULL) {
		ERR_error_string_n(e, buf, sizeof(buf));
		why = buf;
	}
	return (why);
}

/* Check a file is there and readable, with errno's words if not. */
static int
client_tls_file(const char *what, const char *path, char *err, size_t len)
{
	int	fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, len, "%s %s: %s", what, path, strerror(errno));
		return (-1);
	}
	close(fd);
	return (0);
}

/* Keep the latest session the server gave, to resume on reconnect. */
static int
client_tls_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct client	*c;

	if ((c = SSL_get_ex_data(ssl, client_ssl_idx)) == NULL)
		return (0);
	if (c->tls_sess != NULL)
		SSL_SESSION_free(c->tls_sess);
	c->tls_sess = sess;
	return (1);	/* the reference is ours now */
}

/*
 * A client context for t: TLS 1.2 at least, the server verified against
 * t->ca_file (or the system's CAs) unless t->insecure, the client
 * certificate and key loaded and matched.  NULL with err on failure.
 */
SSL_CTX *
client_tls_ctx(const struct client_tls *t, char *err, size_t len)
{
	SSL_CTX		*ctx;
	const char	*key;

	ERR_clear_error();
	if (t->key_file != NULL && t->cert_file == NULL) {
		snprintf(err, len, "a client key needs its certificate");
		return (NULL);
	}
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, len, "TLS: %s", client_tls_reason());
		return (NULL);
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		goto ssl_fail;
	/*
	 * Partial writes and a moving buffer: the send loop resumes from
	 * what was written.  A close without close_notify reads as EOF:
	 * the frames' lengths already tell a cut answer from a whole one.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF |
	    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, client_tls_new_session);
	if (t->insecure)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (t->ca_file != NULL) {
			if (client_tls_file("CA file", t->ca_file, err,
			    len) == -1)
				goto fail;
			if (SSL_CTX_load_verify_locations(ctx, t->ca_file,
			    NULL) != 1) {
				snprintf(err, len, "CA file %s: %s",
				    t->ca_file, client_tls_reason());
				goto fail;
			}
		} else if (SSL_CTX_set_default_verify_paths(ctx) != 1)
			goto ssl_fail;
	}
	if (t->cert_file != NULL) {
		key = t->key_file != NULL ? t->key_file : t->cert_file;
		if (client_tls_file("certificate", t->cert_file, err,
		    len) == -1 || client_tls_file("key", key, err, len) == -1)
			goto fail;
		if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) !=
		    1) {
			snprintf(err, len, "certificate %s: %s", t->cert_file,
			    client_tls_reason());
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) !=
		    1 && ERR_GET_REASON(ERR_peek_last_error()) !=
		    X509_R_KEY_VALUES_MISMATCH) {
			snprintf(err, len, "key %s: %s", key,
			    client_tls_reason());
			goto fail;
		}
		if (SSL_CTX_check_private_key(ctx) != 1) {
			snprintf(err, len, "key %s does not match certificate "
			    "%s", key, t->cert_file);
			goto fail;
		}
	}
	return (ctx);
ssl_fail:
	snprintf(err, len, "TLS: %s", client_tls_reason());
fail:
	SSL_CTX_free(ctx);
	return (NULL);
}

/*
 * The name a TLS connection to a sends and verifies: t->sni, else the
 * host of a TCP address ("localhost", or the IP address); "" for a unix
 * socket, whose certificate is then checked for its chain only.
 */
int
client_tls_name(const struct client_tls *t, const struct net_addr *a,
    char *name, size_t nlen, char *err, size_t elen)
{
	const void	*ip;

	name[0] = '\0';
	if (t->sni != NULL) {
		if (t->sni[0] == '\0' || strlen(t->sni) >= nlen) {
			snprintf(err, elen, "TLS name \"%s\": must be 1..%zu "
			    "bytes", t->sni, nlen - 1);
			return (-1);
		}
		snprintf(name, nlen, "%s", t->sni);
		return (0);
	}
	if (a->family == AF_UNIX)
		return (0);
	if (strncmp(a->text, "localhost:", 10) == 0) {
		snprintf(name, nlen, "localhost");
		return (0);
	}
	ip = a->family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)&a->ss)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
	if (inet_ntop(a->family, ip, name, (socklen_t)nlen) == NULL) {
		snprintf(err, elen, "inet_ntop: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

/* Whether name is an IPv4 or IPv6 literal (no SNI, an IP SAN check). */
static int
client_tls_is_ip(const char *name)
{
	struct in6_addr	a6;

	return (inet_pton(AF_INET, name, &a6) == 1 ||
	    inet_pton(AF_INET6, name, &a6) == 1);
}

/*
 * A new client SSL on fd: SNI for a host name, and with verify the
 * certificate must name it (a DNS or IP subjectAltName).  NULL with err.
 */
SSL *
client_tls_new(SSL_CTX *ctx, int fd, const char *name, int verify, char *err,
    size_t len)
{
	SSL	*ssl;
	int	 ok = 1;

	ERR_clear_error();
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1) {
		snprintf(err, len, "TLS: %s", client_tls_reason());
		SSL_free(ssl);
		return (NULL);
	}
	if (name[0] != '\0') {
		if (client_tls_is_ip(name)) {
			if (verify)
				ok = X509_VERIFY_PARAM_set1_ip_asc(
				    SSL_get0_param(ssl), name) == 1;
		} else {
			ok = SSL_set_tlsext_host_name(ssl, name) == 1 &&
			    (!verify || SSL_set1_host(ssl, name) == 1);
		}
	}
	if (!ok) {
		snprintf(err, len, "TLS name \"%s\": %s", name,
		    client_tls_reason());
		SSL_free(ssl);
		return (NULL);
	}
	SSL_set_connect_state(ssl);
	return (ssl);
}

/*
 * Explain a failed TLS call (ret its return value) on the connection to
 * addr while doing what ("TLS handshake with", "read from").  Returns
 * SSL_get_error()'s code; for WANT_READ and WANT_WRITE err is untouched.
 */
int
client_tls_failure(SSL *ssl, int ret, const char *doing, const char *addr,
    char *err, size_t len)
{
	const char	*why;
	long		 vr;
	int		 e;

	e = SSL_get_error(ssl, ret);
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		break;
	case SSL_ERROR_ZERO_RETURN:
		snprintf(err, len, "%s %s: connection closed by the server",
		    doing, addr);
		break;
	case SSL_ERROR_SYSCALL:
		snprintf(err, len, "%s %s: %s", doing, addr, errno != 0 ?
		    strerror(errno) : "connection closed by the server");
		break;
	case SSL_ERROR_SSL:
		if ((vr = SSL_get_verify_result(ssl)) != X509_V_OK)
			snprintf(err, len, "%s %s: certificate verify failed: "
			    "%s", doing, addr,
			    X509_verify_cert_error_string(vr));
		else if (strstr((why = client_tls_reason()), " alert ") !=
		    NULL)
			/* Its complaint, not ours: "tlsv1 alert unknown ca". */
			snprintf(err, len, "%s %s: refused by the server: %s",
			    doing, addr, why);
		else
			snprintf(err, len, "%s %s: TLS: %s", doing, addr, why);
		break;
	default:
		snprintf(err, len, "%s %s: TLS error %d", doing, addr, e);
		break;
	}
	ERR_clear_error();
	return (e);
}

/* Wait for what OpenSSL asked for: e is SSL_ERROR_WANT_READ or _WRITE. */
static int
client_tls_wait(struct client *c, int e, uint64_t deadline)
{
	return (client_wait(c, e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN,
	    deadline));
}

/*
 * The TLS handshake of ssl on its non-blocking socket fd, within
 * timeout_ms; addr names the server in err.  0, or -1 with err.
 */
int
client_tls_connect(SSL *ssl, int fd, int timeout_ms, const char *addr,
    char *err, size_t len)
{
	struct client_sigpipe	sp;
	struct pollfd		pfd;
	uint64_t		deadline, now;
	int			rc, e;

	deadline = mono_ms() + (uint64_t)timeout_ms;
	for (;;) {
		ERR_clear_error();
		errno = 0;
		client_sigpipe_block(&sp);
		rc = SSL_connect(ssl);
		client_sigpipe_restore(&sp);
		if (rc == 1)
			return (0);
		e = client_tls_failure(ssl, rc, "TLS handshake with", addr,
		    err, len);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return (-1);
		pfd.fd = fd;
		pfd.events = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
		do {
			if ((now = mono_ms()) >= deadline) {
				snprintf(err, len, "TLS handshake with %s: no "
				    "answer within %d ms", addr, timeout_ms);
				return (-1);
			}
			rc = poll(&pfd, 1, (int)(deadline - now));
		} while (rc == 0 || (rc == -1 && errno == EINTR));
		if (rc == -1) {
			snprintf(err, len, "poll: %s", strerror(errno));
			return (-1);
		}
	}
}

/* The TLS handshake on c->fd, resuming c's last session if it can. */
static int
client_tls_handshake(struct client *c)
{
	if ((c->ssl = client_tls_new(c->tls_ctx, c->fd, c->tls_name,
	    c->tls_verify, c->err, sizeof(c->err))) == NULL)
		return (CLIENT_ECONNECT);
	SSL_set_ex_data(c->ssl, client_ssl_idx, c);
	if (c->tls_sess != NULL)
		(void)SSL_set_session(c->ssl, c->tls_sess);
	if (client_tls_connect(c->ssl, c->fd, c->connect_timeout_ms, c->addr.text,
	    c->err, sizeof(c->err)) == -1)
		return (CLIENT_ECONNECT);
	return (CLIENT_OK);
}

/* Forget the session kept to resume: the next connection starts anew. */
void
client_tls_forget(struct client *c)
{
	if (c->tls_sess != NULL)
		SSL_SESSION_free(c->tls_sess);
	c->tls_sess = NULL;
}

/* Whether the current TLS connection resumed an earlier session. */
int
client_tls_resumed(const struct client *c)
{
	return (c->ssl != NULL && SSL_session_reused(c->ssl) == 1);
}

/* The current connection's TLS version ("TLSv1.3"), or NULL: plain. */
const char *
client_tls_version(const struct client *c)
{
	return (c->ssl != NULL ? SSL_get_version(c->ssl) : NULL);
}

/* Drop the TLS state of the connection (not the context). */
static void
client_tls_drop(struct client *c)
{
	struct client_sigpipe	sp;

	if (c->ssl == NULL)
		return;
	/* One close_notify if it goes at once; never wait for the peer's. */
	client_sigpipe_block(&sp);
	(void)SSL_shutdown(c->ssl);
	client_sigpipe_restore(&sp);
	SSL_free(c->ssl);
	c->ssl = NULL;
	ERR_clear_error();
}

/* Connect to addr ("host:port", "[v6]:port", "unix:/path"). */
int
client_open(struct client *c, const char *addr, int timeout_ms)
{
	return (client_open_tls(c, addr, timeout_ms, NULL));
}

/* Connect to addr, with TLS as t says (t NULL: plain). */
int
client_open_tls(struct client *c, const char *addr, int timeout_ms,
    const struct client_tls *t)
{
	return (client_open_full(c, addr, timeout_ms, timeout_ms,
	    CLIENT_MAX_RESP_DEFAULT, t));
}

/*
 * Connect to addr within connect_ms (TLS handshake included), each later
 * operation within timeout_ms, no answer body over max_resp accepted.
 */
int
client_open_full(struct client *c, const char *addr, int connect_ms,
    int timeout_ms, uint64_t max_resp, const struct client_tls *t)
{
	int	rc;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->timeout_ms = timeout_ms;
	c->connect_timeout_ms = connect_ms;
	c->next_id = 1;
	c->max_resp = max_resp;
	if (net_parse_addr(addr, &c->addr, c->err, sizeof(c->err)) == -1)
		return (CLIENT_ECONNECT);
	if (t != NULL) {
		(void)pthread_once(&client_ssl_once, client_ssl_idx_init);
		if (client_ssl_idx == -1) {
			snprintf(c->err, sizeof(c->err), "TLS: %s",
			    client_tls_reason());
			return (CLIENT_ECONNECT);
		}
		if (client_tls_name(t, &c->addr, c->tls_name,
		    sizeof(c->tls_name), c->err, sizeof(c->err)) == -1 ||
		    (c->tls_ctx = client_tls_ctx(t, c->err,
		    sizeof(c->err))) == NULL)
			return (CLIENT_ECONNECT);
		c->tls_verify = !t->insecure;
	}
	/* As without TLS, a failed open leaves nothing to close. */
	if ((rc = client_reconnect(c)) != CLIENT_OK)
		client_close(c);
	return (rc);
}

/*
 * Drop the connection, what was queued and what was read, and forget the
 * answers owed; the address and the TLS context stay, to reconnect.
 */
void
client_disconnect(struct client *c)
{
	client_tls_drop(c);
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	buf_release(&c->in);
	buf_release(&c->out);
	c->pend_head = c->pend_n = 0;
	c->want = 0;
}

/*
 * Drop any connection and buffered input, then connect again (over TLS,
 * resuming the last session when the server allows it).
 */
int
client_reconnect(struct client *c)
{
	int	rc;

	client_disconnect(c);
	c->fd = net_connect(&c->addr, c->connect_timeout_ms, c->err,
	    sizeof(c->err));
	if (c->fd == -1)
		return (CLIENT_ECONNECT);
	if (c->tls_ctx != NULL && (rc = client_tls_handshake(c)) != CLIENT_OK) {
		client_tls_drop(c);
		close(c->fd);
		c->fd = -1;
		return (rc);
	}
	return (CLIENT_OK);
}

/*
 * After a failed write, the server's reason may be waiting to be read: a
 * TLS alert sent just before it closed (a client certificate refused
 * after a TLS 1.3 handshake, which the client had already finished).
 * The socket error has been reported; what is still queued can be read.
 */
static void
client_tls_alert(struct client *c)
{
	struct client_sigpipe	sp;
	uint8_t			scratch[512];
	size_t			n;
	int			i, rc;

	for (i = 0; i < 8; i++) {
		ERR_clear_error();
		errno = 0;
		client_sigpipe_block(&sp);
		rc = SSL_read_ex(c->ssl, scratch, sizeof(scratch), &n);
		client_sigpipe_restore(&sp);
		if (rc == 1)
			continue;	/* the connection is lost anyway */
		if (SSL_get_error(c->ssl, rc) == SSL_ERROR_SSL)
			(void)client_tls_failure(c->ssl, rc, "send to",
			    c->addr.text, c->err, sizeof(c->err));
		ERR_clear_error();
		return;
	}
}

/* Write len bytes over TLS within the deadline. */
static int
client_tls_write(struct client *c, const void *p, size_t len,
    uint64_t deadline)
{
	struct client_sigpipe	sp;
	size_t			n;
	int			rc, e;

	while (len > 0) {
		ERR_clear_error();
		errno = 0;
		client_sigpipe_block(&sp);
		rc = SSL_write_ex(c->ssl, p, len, &n);
		client_sigpipe_restore(&sp);
		if (rc == 1) {
			p = (const char *)p + n;
			len -= n;
			continue;
		}
		e = client_tls_failure(c->ssl, rc, "send to", c->addr.text,
		    c->err, sizeof(c->err));
		if (e == SSL_ERROR_SYSCALL)
			client_tls_alert(c);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return (CLIENT_EIO);
		if ((rc = client_tls_wait(c, e, deadline)) != CLIENT_OK)
			return (rc);
	}
	return (CLIENT_OK);
}

/*
 * One request frame over TLS: the header and key go in one record with
 * the start of the value, so a small request is one record and one write.
 */
static int
client_tls_send(struct client *c, const uint8_t *hdr, const void *key,
    size_t klen, const void *val, size_t vlen, uint64_t deadline)
{
	uint8_t	buf[4096];
	size_t	n, head = MSG_HDR_LEN + klen;
	int	rc;

	if (head <= sizeof(buf)) {
		memcpy(buf, hdr, MSG_HDR_LEN);
		if (klen > 0)
			memcpy(buf + MSG_HDR_LEN, key, klen);
		n = sizeof(buf) - head < vlen ? sizeof(buf) - head : vlen;
		if (n > 0)
			memcpy(buf + head, val, n);
		if ((rc = client_tls_write(c, buf, head + n, deadline)) != 0)
			return (rc);
		return (client_tls_write(c, (const uint8_t *)val + n,
		    vlen - n, deadline));
	}
	if ((rc = client_tls_write(c, hdr, MSG_HDR_LEN, deadline)) != 0 ||
	    (rc = client_tls_write(c, key, klen, deadline)) != 0)
		return (rc);
	return (client_tls_write(c, val, vlen, deadline));
}

/*
 * Read up to n bytes of ssl's connection to addr, as read(2) reads a
 * non-blocking socket: the bytes; 0 when the server has closed; -1 with
 * errno EAGAIN when TLS must wait (*pollp, if not NULL: POLLIN or
 * POLLOUT); or -2 with err (an alert, a reset).  SIGPIPE is the
 * caller's business: reading may write (a TLS 1.3 key update).
 */
ssize_t
client_tls_read(SSL *ssl, void *buf, size_t n, const char *addr,
    short *pollp, char *err, size_t len)
{
	size_t	got;
	int	rc, e, saved;

	ERR_clear_error();
	errno = 0;
	if ((rc = SSL_read_ex(ssl, buf, n, &got)) == 1)
		return ((ssize_t)got);
	saved = errno;
	e = client_tls_failure(ssl, rc, "read from", addr, err, len);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		if (pollp != NULL)
			*pollp = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
		errno = EAGAIN;
		return (-1);
	}
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL &&
	    saved == 0))
		return (0);
	return (-2);
}

/*
 * Read what is there into buf (at most len bytes): >0 bytes, 0 at
 * EOF (err set), -1 on an error (err set, *rcp the client error), or -2
 * when nothing is ready (*wantp: the poll events to wait for).
 */
static ssize_t
client_read_some(struct client *c, void *buf, size_t len, short *wantp,
    int *rcp)
{
	struct client_sigpipe	sp;
	ssize_t			n;

	if (c->ssl == NULL) {
		n = read(c->fd, buf, len);
		if (n >= 0) {
			if (n == 0)
				snprintf(c->err, sizeof(c->err), "%s: "
				    "connection closed by the server",
				    c->addr.text);
			return (n);
		}
		if (errno == EINTR || errno == EAGAIN) {
			*wantp = errno == EAGAIN ? POLLIN : 0;
			return (-2);
		}
		snprintf(c->err, sizeof(c->err), "read from %s: %s",
		    c->addr.text, strerror(errno));
		*rcp = CLIENT_EIO;
		return (-1);
	}
	client_sigpipe_block(&sp);
	n = client_tls_read(c->ssl, buf, len, c->addr.text, wantp, c->err,
	    sizeof(c->err));
	client_sigpipe_restore(&sp);
	if (n == -1)
		return (-2);
	if (n == 0)
		snprintf(c->err, sizeof(c->err), "%s: connection closed by "
		    "the server", c->addr.text);
	if (n == -2) {
		*rcp = CLIENT_EIO;
		return (-1);
	}
	return (n);
}

/* Send one request frame; *idp (if not NULL) gets its request id. */
int
client_send(struct client *c, uint8_t op, const void *key, size_t klen,
    const void *val, size_t vlen, uint32_t *idp)
{
	struct msghdr	mh;
	struct iovec	iov[3];
	uint8_t		hdr[MSG_HDR_LEN];
	uint64_t	deadline;
	uint32_t	id;
	ssize_t		n;
	int		i = 0, rc;

	if (c->fd == -1) {
		snprintf(c->err, sizeof(c->err), "not connected");
		return (CLIENT_EIO);
	}
	if (klen > MSG_KEY_MAX || vlen > UINT32_MAX - klen) {
		snprintf(c->err, sizeof(c->err), "request too large");
		return (CLIENT_EPROTO);
	}
	/* Written now, it would overtake the appended ones. */
	if (c->pend_n > 0 || c->nonblock) {
		snprintf(c->err, sizeof(c->err), "%s", c->nonblock ?
		    "the handle is non-blocking" :
		    "pipelined answers are pending");
		return (CLIENT_EINVAL);
	}
	id = c->next_id++;
	msg_encode_request(hdr, op, id, (uint16_t)klen,
	    (uint32_t)(klen + vlen));
	if (idp != NULL)
		*idp = id;
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)(uintptr_t)key;
	iov[1].iov_len = klen;
	iov[2].iov_base = (void *)(uintptr_t)val;
	iov[2].iov_len = vlen;

	deadline = mono_ms() + (uint64_t)c->timeout_ms;
	if (c->ssl != NULL)
		return (client_tls_send(c, hdr, key, klen, val, vlen, deadline));
	while (i < 3) {
		/* sendmsg for MSG_NOSIGNAL: a closed peer is an error, not
		 * a SIGPIPE that kills the caller. */
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov + i;
		mh.msg_iovlen = (size_t)(3 - i);
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if ((rc = client_wait(c, POLLOUT, deadline)) != 0)
					return (rc);
				continue;
			}
			snprintf(c->err, sizeof(c->err), "send to %s: %s",
			    c->addr.text, strerror(errno));
			return (CLIENT_EIO);
		}
		while (i < 3 && (size_t)n >= iov[i].iov_len) {
			n -= (ssize_t)iov[i].iov_len;
			i++;
		}
		if (i < 3) {
			iov[i].iov_base = (char *)iov[i].iov_base + n;
			iov[i].iov_len -= (size_t)n;
		}
	}
	return (CLIENT_OK);
}

/*
 * The answer at the front of c->in, if it is all there: CLIENT_OK (r
 * filled, its bytes consumed but left in place), CLIENT_EAGAIN (*needp:
 * the bytes the frame needs in all) or CLIENT_EPROTO (err set).
 */
static int
client_parse(struct client *c, struct client_resp *r, size_t *needp)
{
	const char	*why;
	size_t		 need;

	*needp = MSG_HDR_LEN;
	if (buf_used(&c->in) < MSG_HDR_LEN)
		return (CLIENT_EAGAIN);
	if (msg_check_response(buf_head(&c->in), buf_used(&c->in), &r->hdr,
	    &why) == -1) {
		snprintf(c->err, sizeof(c->err), "%s: %s", c->addr.text, why);
		return (CLIENT_EPROTO);
	}
	if (r->hdr.body_len > c->max_resp) {
		snprintf(c->err, sizeof(c->err), "%s: response of %u bytes is "
		    "over the client limit (%llu)", c->addr.text,
		    r->hdr.body_len, (unsigned long long)c->max_resp);
		return (CLIENT_EPROTO);
	}
	need = MSG_HDR_LEN + (size_t)r->hdr.body_len;
	*needp = need;
	if (buf_used(&c->in) < need)
		return (CLIENT_EAGAIN);
	r->key = buf_head(&c->in) + MSG_HDR_LEN;
	r->klen = r->hdr.key_len;
	r->val = r->key + r->klen;
	r->vlen = r->hdr.body_len - r->hdr.key_len;
	/* Consumed now; the bytes stay in place until the next read. */
	c->in.off += need;
	return (CLIENT_OK);
}

/*
 * Read what the connection has, once, toward a frame of need bytes:
 * CLIENT_OK (some bytes), CLIENT_EAGAIN (c->want: what to wait for), or
 * an error (the server closed: CLIENT_EIO).  Room grows with the bytes
 * that arrive, never by a length only the header claims.
 */
static int
client_read_once(struct client *c, size_t need)
{
	size_t	step;
	ssize_t	n;
	short	want = 0;
	int	rc = CLIENT_EIO;

	step = need > buf_used(&c->in) ? need - buf_used(&c->in) : 0;
	if (step > CLIENT_READ_STEP)
		step = CLIENT_READ_STEP;
	if (step < CLIENT_READ_MIN)
		step = CLIENT_READ_MIN;
	if (buf_reserve(&c->in, step) == -1) {
		snprintf(c->err, sizeof(c->err), "out of memory");
		return (CLIENT_ENOMEM);
	}
	n = client_read_some(c, buf_tail(&c->in), buf_room(&c->in), &want,
	    &rc);
	if (n > 0) {
		c->in.len += (size_t)n;
		return (CLIENT_OK);
	}
	if (n == 0)
		return (CLIENT_EIO);
	if (n == -1)
		return (rc);
	c->want = want;
	return (CLIENT_EAGAIN);
}

/*
 * Receive the next response frame.  Bytes of the previous response are
 * dropped first; the returned pointers stay valid until the next call.
 */
int
client_recv(struct client *c, struct client_resp *r)
{
	uint64_t	 deadline;
	size_t		 need;
	int		 rc;

	deadline = mono_ms() + (uint64_t)c->timeout_ms;
	for (;;) {
		if ((rc = client_parse(c, r, &need)) != CLIENT_EAGAIN)
			return (rc);
		c->want = 0;
		rc = client_read_once(c, need);
		if (rc == CLIENT_OK)
			continue;
		if (rc != CLIENT_EAGAIN)
			return (rc);
		if (c->want != 0 && (rc = client_wait(c, c->want,
		    deadline)) != 0)
			return (rc);
	}
}

/*
 * Queue one request frame for a later flush; *idp (if not NULL) gets its
 * id, which its answer must carry (the answers come in order).
 */
int
client_append(struct client *c, uint8_t op, const void *key, size_t klen,
    const void *val, size_t vlen, uint32_t *idp)
{
	uint8_t		 hdr[MSG_HDR_LEN];
	uint32_t	*np;
	size_t		 ncap, i;

	if (c->fd == -1) {
		snprintf(c->err, sizeof(c->err), "not connected");
		return (CLIENT_EIO);
	}
	if (klen > MSG_KEY_MAX || vlen > UINT32_MAX - klen ||
	    (klen > 0 && key == NULL) || (vlen > 0 && val == NULL)) {
		snprintf(c->err, sizeof(c->err), "request too large or "
		    "without its bytes");
		return (CLIENT_EINVAL);
	}
	if (c->pend_n == c->pend_cap) {
		ncap = c->pend_cap == 0 ? 16 : c->pend_cap * 2;
		if ((np = calloc(ncap, sizeof(*np))) == NULL) {
			snprintf(c->err, sizeof(c->err), "out of memory");
			return (CLIENT_ENOMEM);
		}
		for (i = 0; i < c->pend_n; i++)
			np[i] = c->pend[(c->pend_head + i) % c->pend_cap];
		free(c->pend);
		c->pend = np;
		c->pend_cap = ncap;
		c->pend_head = 0;
	}
	if (buf_reserve(&c->out, MSG_HDR_LEN + klen + vlen) == -1) {
		snprintf(c->err, sizeof(c->err), "out of memory");
		return (CLIENT_ENOMEM);
	}
	msg_encode_request(hdr, op, c->next_id, (uint16_t)klen,
	    (uint32_t)(klen + vlen));
	(void)buf_append(&c->out, hdr, sizeof(hdr));
	if (klen > 0)
		(void)buf_append(&c->out, key, klen);
	if (vlen > 0)
		(void)buf_append(&c->out, val, vlen);
	c->pend[(c->pend_head + c->pend_n) % c->pend_cap] = c->next_id;
	c->pend_n++;
	if (idp != NULL)
		*idp = c->next_id;
	c->next_id++;
	return (CLIENT_OK);
}

/*
 * Write what is queued without waiting: CLIENT_OK when all of it is
 * out, CLIENT_EAGAIN when the socket is full (c->want), or an error.
 */
int
client_flush(struct client *c)
{
	struct client_sigpipe	sp;
	ssize_t			n;
	size_t			w;
	int			rc, e;

	if (c->fd == -1) {
		snprintf(c->err, sizeof(c->err), "not connected");
		return (CLIENT_EIO);
	}
	while (buf_used(&c->out) > 0) {
		if (c->ssl != NULL) {
			ERR_clear_error();
			errno = 0;
			client_sigpipe_block(&sp);
			rc = SSL_write_ex(c->ssl, buf_head(&c->out),
			    buf_used(&c->out), &w);
			client_sigpipe_restore(&sp);
			if (rc == 1) {
				buf_consume(&c->out, w);
				continue;
			}
			e = client_tls_failure(c->ssl, rc, "send to",
			    c->addr.text, c->err, sizeof(c->err));
			if (e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE) {
				c->want = e == SSL_ERROR_WANT_READ ? POLLIN :
				    POLLOUT;
				return (CLIENT_EAGAIN);
			}
			if (e == SSL_ERROR_SYSCALL)
				client_tls_alert(c);
			return (CLIENT_EIO);
		}
		n = send(c->fd, buf_head(&c->out), buf_used(&c->out),
		    MSG_NOSIGNAL);
		if (n >= 0) {
			buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			c->want = POLLOUT;
			return (CLIENT_EAGAIN);
		}
		snprintf(c->err, sizeof(c->err), "send to %s: %s",
		    c->addr.text, strerror(errno));
		return (CLIENT_EIO);
	}
	return (CLIENT_OK);
}

/*
 * Read what the connection has without waiting, until it would block or
 * the input holds more than a whole pending answer: CLIENT_OK or an
 * error.  At EOF with answers owed: CLIENT_EIO.
 */
int
client_feed(struct client *c)
{
	struct client_resp	r;
	size_t			need;
	int			rc;

	if (c->fd == -1) {
		snprintf(c->err, sizeof(c->err), "not connected");
		return (CLIENT_EIO);
	}
	for (;;) {
		/* Peek at the frame's size without taking it. */
		rc = client_parse(c, &r, &need);
		if (rc == CLIENT_OK) {
			c->in.off -= need;
			return (CLIENT_OK);	/* one is whole: take it */
		}
		if (rc != CLIENT_EAGAIN)
			return (rc);
		if ((rc = client_read_once(c, need)) != CLIENT_OK)
			return (rc == CLIENT_EAGAIN ? CLIENT_OK : rc);
	}
}

/*
 * The next answer, without waiting: CLIENT_OK (r filled), CLIENT_EAGAIN
 * (none is whole and the socket would block: c->want), or an error.  An
 * answer must carry the id of the oldest request not yet answered (or 0,
 * the server's answer to a frame it could not read).
 */
int
client_take(struct client *c, struct client_resp *r)
{
	size_t	need;
	int	rc;

	for (;;) {
		rc = client_parse(c, r, &need);
		if (rc == CLIENT_OK)
			break;
		if (rc != CLIENT_EAGAIN)
			return (rc);
		if (c->pend_n == 0 && buf_used(&c->in) == 0) {
			c->want = 0;
			return (CLIENT_EAGAIN);	/* nothing owed */
		}
		if (c->fd == -1) {
			snprintf(c->err, sizeof(c->err), "not connected");
			return (CLIENT_EIO);
		}
		c->want = 0;
		if ((rc = client_read_once(c, need)) != CLIENT_OK)
			return (rc);
	}
	if (c->pend_n == 0) {
		snprintf(c->err, sizeof(c->err), "%s: answer %u to no request",
		    c->addr.text, r->hdr.request_id);
		return (CLIENT_EPROTO);
	}
	if (r->hdr.request_id != c->pend[c->pend_head] &&
	    r->hdr.request_id != 0) {
		snprintf(c->err, sizeof(c->err), "%s: answer for request %u, "
		    "expected %u", c->addr.text, r->hdr.request_id,
		    c->pend[c->pend_head]);
		return (CLIENT_EPROTO);
	}
	c->pend_head = (c->pend_head + 1) % c->pend_cap;
	c->pend_n--;
	return (CLIENT_OK);
}

/*
 * The next pipelined answer, waiting for it within the timeout.  What is
 * queued is written as the socket takes it, and an answer is returned as
 * soon as it is whole, the rest written by the next calls: the server,
 * which stops reading a client that does not read its answers, never
 * waits for us while we wait for it, and the input holds one answer.
 */
int
client_get_reply(struct client *c, struct client_resp *r)
{
	uint64_t	deadline;
	short		ev;
	int		rc;

	if (c->pend_n == 0) {
		snprintf(c->err, sizeof(c->err), "no request is waiting for "
		    "its answer");
		return (CLIENT_EINVAL);
	}
	deadline = mono_ms() + (uint64_t)c->timeout_ms;
	for (;;) {
		ev = 0;
		if (buf_used(&c->out) > 0) {
			c->want = 0;
			rc = client_flush(c);
			if (rc != CLIENT_OK && rc != CLIENT_EAGAIN)
				return (rc);
			ev = c->want;
		}
		if ((rc = client_take(c, r)) != CLIENT_EAGAIN)
			return (rc);
		ev |= c->want != 0 ? c->want : POLLIN;
		if ((rc = client_wait(c, ev, deadline)) != CLIENT_OK)
			return (rc);
	}
}

/* One request, one response, matched by request id. */
int
client_call(struct client *c, uint8_t op, const void *key, size_t klen,
    const void *val, size_t vlen, struct client_resp *r)
{
	uint32_t	id;
	int		rc;

	if ((rc = client_send(c, op, key, klen, val, vlen, &id)) != 0)
		return (rc);
	/* (client_send refuses while appended answers are pending) */
	if ((rc = client_recv(c, r)) != 0)
		return (rc);
	if (r->hdr.request_id != id && r->hdr.request_id != 0) {
		snprintf(c->err, sizeof(c->err), "%s: answer for request %u, "
		    "expected %u", c->addr.text, r->hdr.request_id, id);
		return (CLIENT_EPROTO);
	}
	return (CLIENT_OK);
}

/*
 * Take an OK EXEC answer apart: key = exit status in decimal (1..3 digits,
 * 0..255), value = 4-byte big-endian stdout length, stdout, stderr.  The
 * key is not NUL-terminated and comes from the server: read exactly its
 * bytes.  Returns 0, or -1 for anything else (a malformed answer).
 */
int
client_exec_answer(const struct client_resp *r, struct msgdc_exec *x)
{
	uint32_t	olen;
	size_t		i;
	int		st = 0;

	if (r->klen < 1 || r->klen > 3 || r->vlen < 4)
		return (-1);
	for (i = 0; i < r->klen; i++) {
		if (r->key[i] < '0' || r->key[i] > '9')
			return (-1);
		st = st * 10 + (r->key[i] - '0');
	}
	if (st > 255)
		return (-1);
	olen = (uint32_t)r->val[0] << 24 | (uint32_t)r->val[1] << 16 |
	    (uint32_t)r->val[2] << 8 | r->val[3];
	if (olen > r->vlen - 4)
		return (-1);
	x->status = st;
	x->out = r->val + 4;
	x->olen = olen;
	x->err = x->out + olen;
	x->elen = r->vlen - 4 - olen;
	return (0);
}

/* Close the connection and free what it holds, TLS context included. */
void
client_close(struct client *c)
{
	client_disconnect(c);
	free(c->pend);
	c->pend = NULL;
	c->pend_cap = 0;
	if (c->tls_sess != NULL)
		SSL_SESSION_free(c->tls_sess);
	c->tls_sess = NULL;
	SSL_CTX_free(c->tls_ctx);
	c->tls_ctx = NULL;
}

/*
 * The request datagram into buf[0..len).  msgd never answers with a
 * datagram larger than the request, so PING and TIME (whose values are
 * ignored) are padded to fit their answers.  Returns its length, or 0
 * when it does not fit.
 */
static size_t
client_udp_frame(uint8_t op, uint32_t id, const void *val, size_t vlen,
    uint8_t *buf, size_t len)
{
	size_t	pad = 0, flen;

	if (op == MSG_OP_PING && vlen < 4)
		pad = 4 - vlen;
	else if (op == MSG_OP_TIME && vlen < RFC3339_LEN)
		pad = RFC3339_LEN - vlen;
	flen = MSG_HDR_LEN + vlen + pad;
	if (flen > len)
		return (0);
	msg_encode_request(buf, op, id, 0, (uint32_t)(vlen + pad));
	if (vlen > 0)
		memcpy(buf + MSG_HDR_LEN, val, vlen);
	memset(buf + MSG_HDR_LEN + vlen, 0, pad);
	return (flen);
}

/* Wait up to timeout_ms for one datagram on fd; its length in *np. */
static int
client_udp_recv(int fd, const char *addr, int timeout_ms, uint8_t *buf,
    size_t len, size_t *np, char *err, size_t errlen)
{
	struct pollfd	pfd;
	ssize_t		n;

	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		if ((n = poll(&pfd, 1, timeout_ms)) == 0) {
			snprintf(err, errlen, "%s: no UDP answer within %d ms "
			    "(dropped, or UDP is off)", addr, timeout_ms);
			return (CLIENT_ETIMEOUT);
		}
		if (n == -1 && errno == EINTR)
			continue;
		if ((n = recv(fd, buf, len, 0)) == -1) {
			snprintf(err, errlen, "recv from %s: %s", addr,
			    strerror(errno));
			return (CLIENT_EIO);
		}
		*np = (size_t)n;
		return (CLIENT_OK);
	}
}

/* Check the answer in buf[0..n) is one whole frame for request id. */
static int
client_udp_answer(const char *addr, uint32_t id, uint8_t *buf, size_t n,
    struct client_resp *r, char *err, size_t errlen)
{
	const char	*why;

	if (msg_check_response(buf, n, &r->hdr, &why) == -1 ||
	    MSG_HDR_LEN + (size_t)r->hdr.body_len != n) {
		snprintf(err, errlen, "%s: bad UDP answer: %s", addr,
		    why != NULL ? why : "length mismatch");
		return (CLIENT_EPROTO);
	}
	if (r->hdr.request_id != id) {
		snprintf(err, errlen, "%s: UDP answer for another request",
		    addr);
		return (CLIENT_EPROTO);
	}
	r->key = buf + MSG_HDR_LEN;
	r->klen = r->hdr.key_len;
	r->val = r->key + r->klen;
	r->vlen = r->hdr.body_len - r->hdr.key_len;
	return (CLIENT_OK);
}

/* One request over UDP; the answer lands in buf (at most len bytes). */
int
client_udp_call(const char *addr, int timeout_ms, uint8_t op, const void *val,
    size_t vlen, uint8_t *buf, size_t len, struct client_resp *r,
    char *err, size_t errlen)
{
	struct net_addr	a;
	size_t		flen, n;
	uint32_t	id;
	int		fd, rc;

	if (net_parse_addr(addr, &a, err, errlen) == -1)
		return (CLIENT_ECONNECT);
	if (a.family == AF_UNIX) {
		snprintf(err, errlen, "%s: UDP needs host:port", addr);
		return (CLIENT_ECONNECT);
	}
	id = (uint32_t)mono_us();
	if ((flen = client_udp_frame(op, id, val, vlen, buf, len)) == 0) {
		snprintf(err, errlen, "request too large for one datagram");
		return (CLIENT_EPROTO);
	}
	if ((fd = socket(a.family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return (CLIENT_ECONNECT);
	}
	if (sendto(fd, buf, flen, 0, (struct sockaddr *)&a.ss, a.sslen) == -1) {
		snprintf(err, errlen, "sendto %s: %s", addr, strerror(errno));
		rc = CLIENT_EIO;
	} else if ((rc = client_udp_recv(fd, addr, timeout_ms, buf, len, &n,
	    err, errlen)) == CLIENT_OK)
		rc = client_udp_answer(addr, id, buf, n, r, err, errlen);
	close(fd);
	return (rc);
}

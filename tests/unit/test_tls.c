/*
 * test_tls.c: the TLS context's checks of its configuration and files
 * (what msgd -t and a reload report, each with its setting's file:line),
 * and the "tls:" listeners and tls group of the configuration.  The
 * certificates are made here, with OpenSSL, in a temporary directory.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <time.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config.h"
#include "tls.h"

static char	dir[256];
static time_t	fake_now;	/* 0: the real time */

/* The ticket keys' clock (tls.c calls time()), -Wl,--wrap=time. */
time_t	__real_time(time_t *);
time_t	__wrap_time(time_t *);

time_t
__wrap_time(time_t *tp)
{
	time_t	v = fake_now != 0 ? fake_now : __real_time(NULL);

	if (tp != NULL)
		*tp = v;
	return (v);
}

/* A file of dir. */
static const char *
at(const char *name)
{
	static char	path[4][512];
	static int	n;

	n = (n + 1) % 4;
	snprintf(path[n], sizeof(path[n]), "%s/%s", dir, name);
	return (path[n]);
}

/* A new P-256 key, written to name (mode 0600). */
static EVP_PKEY *
make_key(const char *name)
{
	EVP_PKEY	*k = EVP_EC_gen("P-256");
	FILE		*fp;

	assert_non_null(k);
	fp = fopen(at(name), "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL,
	    NULL), 1);
	fclose(fp);
	assert_int_equal(chmod(at(name), 0600), 0);
	return (k);
}

/* A self-signed certificate for k, valid from..to days from now. */
static void
make_cert(const char *name, EVP_PKEY *k, long from, long to)
{
	X509		*x = X509_new();
	X509_NAME	*n;
	FILE		*fp;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), from * 86400 - 60);
	X509_gmtime_adj(X509_getm_notAfter(x), to * 86400);
	X509_set_pubkey(x, k);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, n);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	fp = fopen(at(name), "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_X509(fp, x), 1);
	fclose(fp);
	X509_free(x);
}

static int
setup(void **state)
{
	const char	*tmp = getenv("TMPDIR");
	EVP_PKEY	*k, *k2;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/test_tls.XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return (-1);
	k = make_key("good.key");
	k2 = make_key("other.key");
	make_cert("good.crt", k, 0, 365);
	make_cert("soon.crt", k, 0, 10);
	make_cert("expired.crt", k, -30, -1);
	make_cert("future.crt", k, 2, 365);
	make_cert("other.crt", k2, 0, 365);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
	return (0);
}

static int
teardown(void **state)
{
	char	cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return (system(cmd) == 0 ? 0 : -1);
}

/* A configuration with cert and key, every setting placed at a line. */
static void
conf_for(struct msgd_conf *c, const char *cert, const char *key)
{
	int	i;

	conf_defaults(c);
	snprintf(c->path, sizeof(c->path), "/etc/msgd.conf");
	c->ntls = 1;
	c->listen_tls[0] = 1;
	snprintf(c->tls_cert, sizeof(c->tls_cert), "%s", at(cert));
	snprintf(c->tls_key, sizeof(c->tls_key), "%s", at(key));
	for (i = 0; i < CONF_AT_COUNT; i++)
		snprintf(c->tls_at[i], sizeof(c->tls_at[i]),
		    "/etc/msgd.conf:%d: tls.setting%d", 10 + i, i);
}

/* tls_new fails, and its cause starts with the setting's place. */
static void
assert_refused(struct msgd_conf *c, int where, const char *what)
{
	struct tls_ctx	*t;
	char		 cause[1024], warn[512];

	t = tls_new(c, cause, sizeof(cause), warn, sizeof(warn));
	if (t != NULL)
		fail_msg("accepted; wanted \"%s\"", what);
	if (where >= 0 && strncmp(cause, c->tls_at[where],
	    strlen(c->tls_at[where])) != 0)
		fail_msg("\"%s\" does not start with \"%s\"", cause,
		    c->tls_at[where]);
	if (strstr(cause, what) == NULL)
		fail_msg("\"%s\" does not say \"%s\"", cause, what);
}

static void
test_tls_good(void **state)
{
	struct msgd_conf	c;
	struct tls_ctx		*t;
	char			cause[1024], warn[512];

	(void)state;
	conf_for(&c, "good.crt", "good.key");
	t = tls_new(&c, cause, sizeof(cause), warn, sizeof(warn));
	if (t == NULL)
		fail_msg("%s", cause);
	assert_string_equal(warn, "");
	tls_free(t);
	tls_free(NULL);
}

static void
test_tls_expiry(void **state)
{
	struct msgd_conf	c;
	struct tls_ctx		*t;
	char			cause[1024], warn[512];

	(void)state;
	conf_for(&c, "soon.crt", "good.key");
	t = tls_new(&c, cause, sizeof(cause), warn, sizeof(warn));
	if (t == NULL)
		fail_msg("%s", cause);
	assert_non_null(strstr(warn, "/etc/msgd.conf:10: "));
	/* 10 days from now, less the moment since. */
	assert_true(strstr(warn, "expires in 9 days") != NULL ||
	    strstr(warn, "expires in 10 days") != NULL);
	tls_free(t);
	conf_for(&c, "expired.crt", "good.key");
	assert_refused(&c, CONF_AT_CERT, "has expired");
	conf_for(&c, "future.crt", "good.key");
	assert_refused(&c, CONF_AT_CERT, "not valid yet");
}

static void
test_tls_key(void **state)
{
	struct msgd_conf	c;

	(void)state;
	conf_for(&c, "good.crt", "other.key");
	assert_refused(&c, CONF_AT_KEY, "does not match");
	conf_for(&c, "good.crt", "missing.key");
	assert_refused(&c, CONF_AT_KEY, "No such file");
	/* Readable by its group: refused before OpenSSL reads it. */
	assert_int_equal(chmod(at("other.key"), 0640), 0);
	conf_for(&c, "other.crt", "other.key");
	assert_refused(&c, CONF_AT_KEY, "owner only (chmod 600), is mode "
	    "0640");
	assert_int_equal(chmod(at("other.key"), 0400), 0);
	conf_for(&c, "other.crt", "other.key");
	c.tls_cert[0] = '\0';
	assert_refused(&c, -1, "TLS needs tls.cert and tls.key");
}

static void
test_tls_files(void **state)
{
	struct msgd_conf	c;
	FILE			*fp;

	(void)state;
	conf_for(&c, "missing.crt", "good.key");
	assert_refused(&c, CONF_AT_CERT, "cannot load the certificate chain");
	fp = fopen(at("junk.pem"), "w");
	assert_non_null(fp);
	fputs("-----BEGIN CERTIFICATE-----\nnot base64\n"
	    "-----END CERTIFICATE-----\n", fp);
	fclose(fp);
	conf_for(&c, "junk.pem", "good.key");
	assert_refused(&c, CONF_AT_CERT, "cannot load the certificate chain");
	conf_for(&c, "good.crt", "good.key");
	snprintf(c.tls_ca, sizeof(c.tls_ca), "%s", at("junk.pem"));
	assert_refused(&c, CONF_AT_CA, "cannot load the CA certificates");
	conf_for(&c, "good.crt", "good.key");
	snprintf(c.tls_ciphers, sizeof(c.tls_ciphers), "NOT-A-CIPHER");
	assert_refused(&c, CONF_AT_CIPHERS, "NOT-A-CIPHER");
	conf_for(&c, "good.crt", "good.key");
	snprintf(c.tls_suites, sizeof(c.tls_suites), "TLS_NOPE");
	assert_refused(&c, CONF_AT_SUITES, "TLS_NOPE");
}

static void
test_tls_wanted(void **state)
{
	struct msgd_conf	c;

	(void)state;
	conf_defaults(&c);
	assert_false(tls_wanted(&c));
	snprintf(c.tls_cert, sizeof(c.tls_cert), "/x");
	assert_true(tls_wanted(&c));
	conf_defaults(&c);
	c.ntls = 1;
	assert_true(tls_wanted(&c));
	/* Only a TLS listener that requires certificates is protected. */
	c.tls_verify = CONF_VERIFY_REQUIRE;
	assert_true(conf_certified(&c, 1));
	assert_false(conf_certified(&c, 0));
	c.tls_verify = CONF_VERIFY_OPTIONAL;
	assert_false(conf_certified(&c, 1));
}

/* Load text as a configuration: 0, or -1 with err. */
static int
load_text(const char *text, struct msgd_conf *c, char *err, size_t len)
{
	FILE	*fp;
	int	 rc;

	fp = fopen(at("t.conf"), "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	rc = conf_load(at("t.conf"), c, err, len);
	return (rc);
}

static void
test_tls_config(void **state)
{
	struct msgd_conf	c;
	char			err[CONF_ERRORS_MAX], text[2048];

	(void)state;
	snprintf(text, sizeof(text),
	    "listen = [ \"127.0.0.1:7000\", \"tls:127.0.0.1:7001\" ];\n"
	    "tls = {\n"
	    "\tcert = \"%s\";\n"
	    "\tkey = \"%s\";\n"
	    "\tca = \"%s\";\n"
	    "\tverify_client = \"require\";\n"
	    "\tmin_protocol = \"TLSv1.3\";\n"
	    "};\n", at("good.crt"), at("good.key"), at("good.crt"));
	if (load_text(text, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.nlisten, 2);
	assert_int_equal(c.ntls, 1);
	assert_string_equal(c.listen[1], "127.0.0.1:7001");
	assert_int_equal(c.listen_tls[0], 0);
	assert_int_equal(c.listen_tls[1], 1);
	assert_int_equal(c.tls_verify, CONF_VERIFY_REQUIRE);
	assert_int_equal(c.tls_min_proto, CONF_TLS13);
	assert_non_null(strstr(c.tls_at[CONF_AT_CERT], "t.conf:3: tls.cert"));
	assert_non_null(strstr(c.tls_at[CONF_AT_KEY], "t.conf:4: tls.key"));
	/* Not where it was set: the file and the setting's name. */
	assert_non_null(strstr(c.tls_at[CONF_AT_CIPHERS],
	    "t.conf: tls.ciphers"));

	/* The same address twice, with and without tls: */
	assert_int_equal(load_text("listen = [ \"127.0.0.1:7000\", "
	    "\"tls:127.0.0.1:7000\" ];\n", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "t.conf:1: listen: \"127.0.0.1:7000\" is "
	    "listed twice"));
	/* No TLS over unix sockets. */
	assert_int_equal(load_text("listen = [ \"tls:unix:/tmp/x\" ];\n", &c,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "TLS needs host:port"));
	/* A TLS listener needs a certificate and a key. */
	assert_int_equal(load_text("\n\nlisten = [ \"tls:127.0.0.1:7001\" ];\n",
	    &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "t.conf:3: listen: a \"tls:\" listener "
	    "needs tls.cert and tls.key"));
	/* Checking client certificates needs a CA. */
	assert_int_equal(load_text("tls = { verify_client = \"optional\"; };\n",
	    &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "t.conf:1: tls.verify_client: checking "
	    "client certificates needs tls.ca"));
	assert_int_equal(load_text("tls = { min_protocol = \"SSLv3\"; };\n",
	    &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tls.min_protocol: must be \"TLSv1.2\" or "
	    "\"TLSv1.3\", got \"SSLv3\""));
	assert_int_equal(load_text("tls = { verify_client = 1; };\n",
	    &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "must be \"off\", \"optional\" or "
	    "\"require\", got an integer"));
}

/*
 * A handshake between an OpenSSL client offering sess (may be NULL) and
 * a server connection of t, over a socket pair, driven by turns as the
 * worker's loop would.  Returns whether the server resumed; *out gets the
 * client's session after it read its ticket.
 */
static int
handshake(struct tls_ctx *t, SSL_SESSION *sess, SSL_SESSION **out)
{
	struct ssl_st	*srv;
	struct tls_info	 ti;
	enum tls_fail	 why;
	enum tls_io	 st = TLS_IO_WANT_READ;
	SSL_CTX		*cctx;
	SSL		*cli;
	char		 msg[256], b[16];
	int		 sv[2], i, rc = 0;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sv), 0);
	cctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(cctx);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	cli = SSL_new(cctx);
	assert_non_null(cli);
	SSL_set_fd(cli, sv[0]);
	SSL_set_connect_state(cli);
	if (sess != NULL)
		assert_int_equal(SSL_set_session(cli, sess), 1);
	srv = tls_conn_new(t, sv[1]);
	assert_non_null(srv);
	for (i = 0; i < 100 && (rc != 1 || st != TLS_IO_OK); i++) {
		if (rc != 1)
			rc = SSL_do_handshake(cli);
		if (st != TLS_IO_OK)
			st = tls_handshake(srv, &ti, &why, msg, sizeof(msg));
		if (st == TLS_IO_ERR)
			fail_msg("server handshake: %s", msg);
	}
	assert_int_equal(rc, 1);
	assert_int_equal(st, TLS_IO_OK);
	/* TLS 1.3: the ticket comes after the handshake. */
	(void)SSL_read(cli, b, sizeof(b));
	*out = SSL_get1_session(cli);
	assert_non_null(*out);
	/*
	 * Freed without a shutdown, OpenSSL marks the session unusable (so
	 * would a client session cache, flushed with its context).
	 */
	SSL_set_shutdown(cli, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(cli);
	SSL_CTX_free(cctx);
	tls_conn_free(srv);
	close(sv[0]);
	close(sv[1]);
	return (ti.resumed);
}

/*
 * Ticket keys: one per TLS_TICKET_PERIOD, the previous period's still
 * accepted, older ones not; the same for every context of this process
 * (a reload's generation resumes the sessions of the one before).
 */
static void
test_tls_tickets(void **state)
{
	struct msgd_conf	 c;
	struct tls_ctx		*t, *t2;
	SSL_SESSION		*s0, *s1, *s2, *s3, *s4;
	char			 cause[1024];

	(void)state;
	conf_for(&c, "good.crt", "good.key");
	t = tls_new(&c, cause, sizeof(cause), NULL, 0);
	if (t == NULL)
		fail_msg("%s", cause);
	fake_now = (time_t)1000 * TLS_TICKET_PERIOD + 10;
	assert_false(handshake(t, NULL, &s0));
	assert_true(handshake(t, s0, &s1));
	/* A resumption brings a new ticket, which resumes in turn. */
	assert_ptr_not_equal(s1, s0);
	assert_true(handshake(t, s1, &s4));
	SSL_SESSION_free(s4);
	/* The next period: still accepted (and a new ticket issued). */
	fake_now += TLS_TICKET_PERIOD;
	assert_true(handshake(t, s0, &s2));
	/* Two periods on: too old, a full handshake. */
	fake_now += TLS_TICKET_PERIOD;
	assert_false(handshake(t, s0, &s3));
	/* A context made later (a reload) takes this one's tickets. */
	t2 = tls_new(&c, cause, sizeof(cause), NULL, 0);
	assert_non_null(t2);
	assert_true(handshake(t2, s3, &s4));
	fake_now = 0;
	SSL_SESSION_free(s0);
	SSL_SESSION_free(s1);
	SSL_SESSION_free(s2);
	SSL_SESSION_free(s3);
	SSL_SESSION_free(s4);
	tls_free(t);
	tls_free(t2);
}

/*
 * A connected client (TLS 1.2 at most if tls12) and server connection of
 * t over a socket pair; sv gets the pair.
 */
static void
connected(struct tls_ctx *t, int tls12, SSL **cli, struct ssl_st **srv,
    int sv[2])
{
	struct tls_info	 ti;
	enum tls_fail	 why;
	enum tls_io	 st = TLS_IO_WANT_READ;
	SSL_CTX		*cctx;
	char		 msg[256];
	int		 i, rc = 0;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sv), 0);
	cctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(cctx);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	if (tls12)
		SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
	*cli = SSL_new(cctx);
	SSL_CTX_free(cctx);		/* the SSL holds a reference */
	assert_non_null(*cli);
	SSL_set_fd(*cli, sv[0]);
	SSL_set_connect_state(*cli);
	*srv = tls_conn_new(t, sv[1]);
	assert_non_null(*srv);
	for (i = 0; i < 100 && (rc != 1 || st != TLS_IO_OK); i++) {
		if (rc != 1)
			rc = SSL_do_handshake(*cli);
		if (st != TLS_IO_OK)
			st = tls_handshake(*srv, &ti, &why, msg, sizeof(msg));
		if (st == TLS_IO_ERR)
			fail_msg("server handshake: %s", msg);
	}
	assert_int_equal(rc, 1);
	assert_int_equal(st, TLS_IO_OK);
}

/*
 * A client that asks to renegotiate (TLS 1.2) makes tls_read say
 * TLS_IO_RENEG, after data read normally before; a TLS 1.3 key update,
 * which is no renegotiation, does not.
 */
static void
test_tls_renegotiation(void **state)
{
	struct msgd_conf	 c;
	struct tls_ctx		*t;
	struct ssl_st		*srv;
	enum tls_io		 io;
	SSL			*cli;
	char			 cause[1024], b[16];
	int			 sv[2], i, tls12;

	(void)state;
	conf_for(&c, "good.crt", "good.key");
	t = tls_new(&c, cause, sizeof(cause), NULL, 0);
	if (t == NULL)
		fail_msg("%s", cause);
	for (tls12 = 1; tls12 >= 0; tls12--) {
		connected(t, tls12, &cli, &srv, sv);
		assert_int_equal(SSL_write(cli, "ping", 4), 4);
		assert_int_equal(tls_read(srv, b, sizeof(b), &io), 4);
		assert_int_equal(io, TLS_IO_OK);
		if (tls12) {
			assert_int_equal(SSL_renegotiate(cli), 1);
			(void)SSL_do_handshake(cli);	/* its ClientHello */
		} else {
			assert_int_equal(SSL_key_update(cli,
			    SSL_KEY_UPDATE_REQUESTED), 1);
			assert_int_equal(SSL_write(cli, "more", 4), 4);
		}
		io = TLS_IO_WANT_READ;
		for (i = 0; i < 10 && io == TLS_IO_WANT_READ; i++)
			(void)tls_read(srv, b, sizeof(b), &io);
		assert_int_equal(io, tls12 ? TLS_IO_RENEG : TLS_IO_OK);
		SSL_free(cli);
		tls_conn_free(srv);
		close(sv[0]);
		close(sv[1]);
	}
	tls_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_good),
		cmocka_unit_test(test_tls_expiry),
		cmocka_unit_test(test_tls_key),
		cmocka_unit_test(test_tls_files),
		cmocka_unit_test(test_tls_wanted),
		cmocka_unit_test(test_tls_config),
		cmocka_unit_test(test_tls_tickets),
		cmocka_unit_test(test_tls_renegotiation),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}

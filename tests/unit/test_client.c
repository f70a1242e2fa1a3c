/*
 * test_client.c: the client library's TLS set-up (issue 12): the name a
 * connection verifies, the context's file errors, and the deadline on a
 * handshake the server never answers or answers with something else.
 * Handshakes that succeed run against a real TLS server in
 * tests/integration/test_tls_client.py.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/ssl.h>

#include "client.h"
#include "unix_fx.h"
#include "util.h"

/* A private directory with a unix listener in it, or a file. */
static int
fx_setup(void **state)
{
	struct unix_fx	*fx;

	fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	unix_fx_open(fx, "client");
	*state = fx;
	return (0);
}

static int
fx_teardown(void **state)
{
	struct unix_fx	*fx = *state;
	char		 p[192];

	snprintf(p, sizeof(p), "%s/junk.pem", fx->dir);
	unlink(p);
	unix_fx_close(fx);
	free(fx);
	return (0);
}

/* The name verified: --sni, else the host of a TCP address, else none. */
static void
test_client_tls_name(void **state)
{
	static const struct {
		const char	*addr;
		const char	*sni;
		const char	*want;
	} cases[] = {
		{ "127.0.0.1:7878",	NULL,		"127.0.0.1" },
		{ "localhost:7878",	NULL,		"localhost" },
		{ "[::1]:7878",		NULL,		"::1" },
		{ "unix:/run/x.sock",	NULL,		"" },
		{ "unix:/run/x.sock",	"msgd.example",	"msgd.example" },
		{ "127.0.0.1:7878",	"msgd.example",	"msgd.example" },
	};
	struct client_tls	t;
	struct net_addr		a;
	char			name[CLIENT_TLS_NAME_MAX], err[256];
	size_t			i;

	(void)state;
	for (i = 0; i < nitems(cases); i++) {
		memset(&t, 0, sizeof(t));
		t.sni = cases[i].sni;
		assert_int_equal(net_parse_addr(cases[i].addr, &a, err,
		    sizeof(err)), 0);
		assert_int_equal(client_tls_name(&t, &a, name, sizeof(name),
		    err, sizeof(err)), 0);
		assert_string_equal(name, cases[i].want);
	}
}

/* An empty or overlong --sni is refused with its length rule. */
static void
test_client_tls_name_bad(void **state)
{
	struct client_tls	t;
	struct net_addr		a;
	char			name[CLIENT_TLS_NAME_MAX], err[256];
	char			longname[CLIENT_TLS_NAME_MAX + 8];

	(void)state;
	assert_int_equal(net_parse_addr("127.0.0.1:1", &a, err, sizeof(err)),
	    0);
	memset(&t, 0, sizeof(t));
	t.sni = "";
	assert_int_equal(client_tls_name(&t, &a, name, sizeof(name), err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "must be 1..255 bytes"));
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	t.sni = longname;
	assert_int_equal(client_tls_name(&t, &a, name, sizeof(name), err,
	    sizeof(err)), -1);
}

/* The context's file problems, named before anything is sent. */
static void
test_client_tls_ctx_errors(void **state)
{
	struct unix_fx		*fx = *state;
	struct client_tls	 t;
	SSL_CTX			*ctx;
	char			 err[256], junk[192];
	int			 fd;

	memset(&t, 0, sizeof(t));
	t.key_file = "/nonexistent/key.pem";
	assert_null(client_tls_ctx(&t, err, sizeof(err)));
	assert_string_equal(err, "a client key needs its certificate");

	memset(&t, 0, sizeof(t));
	t.ca_file = "/nonexistent/ca.pem";
	assert_null(client_tls_ctx(&t, err, sizeof(err)));
	assert_string_equal(err, "CA file /nonexistent/ca.pem: No such file "
	    "or directory");

	snprintf(junk, sizeof(junk), "%s/junk.pem", fx->dir);
	fd = open(junk, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_int_not_equal(fd, -1);
	assert_int_equal(write(fd, "not a certificate\n", 18), 18);
	close(fd);
	t.ca_file = junk;
	assert_null(client_tls_ctx(&t, err, sizeof(err)));
	assert_non_null(strstr(err, "CA file "));
	assert_non_null(strstr(err, "no certificate or crl found"));

	memset(&t, 0, sizeof(t));
	t.cert_file = junk;
	t.insecure = 1;
	assert_null(client_tls_ctx(&t, err, sizeof(err)));
	assert_non_null(strstr(err, "certificate "));

	memset(&t, 0, sizeof(t));
	t.insecure = 1;
	ctx = client_tls_ctx(&t, err, sizeof(err));
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_NONE);
	SSL_CTX_free(ctx);
}

/*
 * A server that accepts and says nothing: the handshake gives up after
 * the timeout, as a connect would (CLIENT_ECONNECT), and says so.
 */
static void
test_client_tls_handshake_deadline(void **state)
{
	struct unix_fx		*fx = *state;
	struct client_tls	 t;
	struct client		 c;
	uint64_t		 t0, ms;

	memset(&t, 0, sizeof(t));
	t.insecure = 1;
	t0 = mono_ms();
	/* The listen backlog completes the connection; nobody reads it. */
	assert_int_equal(client_open_tls(&c, fx->addr, 300, &t),
	    CLIENT_ECONNECT);
	ms = mono_ms() - t0;
	assert_true(ms >= 290 && ms < 3000);
	assert_non_null(strstr(c.err, "TLS handshake with"));
	assert_non_null(strstr(c.err, "no answer within 300 ms"));
	assert_int_equal(c.fd, -1);
	assert_null(c.ssl);
	client_close(&c);
}

/* A server that answers msgd frames, not TLS: a named protocol error. */
static void
test_client_tls_not_tls(void **state)
{
	struct unix_fx		*fx = *state;
	struct client_tls	 t;
	struct client		 c;
	uint8_t			 junk[64];
	pid_t			 pid;
	int			 fd, st;

	pid = fork();
	assert_int_not_equal(pid, -1);
	if (pid == 0) {
		if ((fd = accept(fx->lfd, NULL, NULL)) == -1)
			_exit(1);
		(void)read(fd, junk, sizeof(junk));
		memset(junk, 0, sizeof(junk));
		memcpy(junk, "MG\x01\x01\x01\x02", 6);
		(void)write(fd, junk, sizeof(junk));
		close(fd);
		_exit(0);
	}
	memset(&t, 0, sizeof(t));
	t.insecure = 1;
	assert_int_equal(client_open_tls(&c, fx->addr, 5000, &t),
	    CLIENT_ECONNECT);
	assert_non_null(strstr(c.err, "TLS handshake with unix:"));
	assert_non_null(strstr(c.err, "TLS: "));
	client_close(&c);
	assert_int_equal(waitpid(pid, &st, 0), pid);
}

/* A failed open holds nothing (the context is freed); close is harmless. */
static void
test_client_close_twice(void **state)
{
	struct client_tls	t;
	struct client		c;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.insecure = 1;
	assert_int_equal(client_open_tls(&c, "unix:/nonexistent/sock", 100,
	    &t), CLIENT_ECONNECT);
	assert_null(c.tls_ctx);		/* made before connecting, freed */
	assert_int_equal(c.fd, -1);
	client_close(&c);
	assert_null(client_tls_version(&c));
	assert_int_equal(client_tls_resumed(&c), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_tls_name),
		cmocka_unit_test(test_client_tls_name_bad),
		cmocka_unit_test_setup_teardown(test_client_tls_ctx_errors,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
		    test_client_tls_handshake_deadline, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_client_tls_not_tls,
		    fx_setup, fx_teardown),
		cmocka_unit_test(test_client_close_twice),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

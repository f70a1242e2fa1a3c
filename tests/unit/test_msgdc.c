/*
 * test_msgdc.c: libmsgdclient's public API (<msgd/client.h>) against fake
 * servers: a unix listener whose accepted end this thread writes answers
 * into (before or after the requests: they fit the socket buffers), or an
 * echo thread for what must run concurrently (AUTH while connecting, a
 * pipeline larger than the socket buffers).  Ids, pipelining, the
 * non-blocking mode, errors and the answer limit.  The real msgd is in
 * tests/integration (test_msgctl.py, ...) and tests/install/libmsgdclient.sh.
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "msgd/client.h"

#include "proto.h"
#include "unix_fx.h"
#include "util.h"

struct fx {
	struct unix_fx	 u;
	int		 sfd;		/* the server's end, once accepted */
	pthread_t	 th;
	int		 echoing;
	struct msgdc	*c;
};

static int
fx_setup(void **state)
{
	struct fx	*fx;

	fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	unix_fx_open(&fx->u, "msgdc");
	fx->sfd = -1;
	*state = fx;
	return (0);
}

static int
fx_teardown(void **state)
{
	struct fx	*fx = *state;

	msgdc_free(fx->c);
	if (fx->echoing)
		pthread_join(fx->th, NULL);
	if (fx->sfd != -1)
		close(fx->sfd);
	unix_fx_close(&fx->u);
	free(fx);
	return (0);
}

/* Connect with timeout_ms and max_answer, and accept the server's end. */
static void
fx_connect(struct fx *fx, int timeout_ms, uint64_t max_answer)
{
	struct msgdc_options	o;

	msgdc_options_init(&o);
	o.timeout_ms = timeout_ms;
	o.max_answer = max_answer;
	fx->c = msgdc_connect(fx->u.addr, &o);
	assert_non_null(fx->c);
	assert_int_equal(msgdc_err(fx->c), MSGDC_OK);
	assert_string_equal(msgdc_errstr(fx->c), "");
	fx->sfd = accept4(fx->u.lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_int_not_equal(fx->sfd, -1);
}

/* Write or read all n bytes (the fake server's side). */
static void
wr(int fd, const void *p, size_t n)
{
	assert_int_equal(write_full(fd, p, n), (ssize_t)n);
}

static void
rd(int fd, void *p, size_t n)
{
	assert_int_equal(read_full(fd, p, n), (ssize_t)n);
}

/* The server writes one answer frame. */
static void
answer(int fd, uint8_t op, uint8_t st, uint32_t id, const char *key,
    const char *val)
{
	uint8_t	hdr[MSG_HDR_LEN];
	size_t	klen = key != NULL ? strlen(key) : 0;
	size_t	vlen = val != NULL ? strlen(val) : 0;

	msg_encode_response(hdr, op, st, id, (uint16_t)klen,
	    (uint32_t)(klen + vlen));
	wr(fd, hdr, sizeof(hdr));
	if (klen > 0)
		wr(fd, key, klen);
	if (vlen > 0)
		wr(fd, val, vlen);
}

/* The server reads one request frame; its header in *h, value in val. */
static void
request(int fd, struct msg_hdr *h, char *val, size_t len)
{
	uint8_t	hdr[MSG_HDR_LEN];

	rd(fd, hdr, sizeof(hdr));
	msg_hdr_decode(hdr, h);
	assert_true(h->body_len < len);
	rd(fd, val, h->body_len);
	val[h->body_len] = '\0';
}

/* The echo thread: every request answered OK with its value. */
static void *
echo_main(void *arg)
{
	struct fx	*fx = arg;
	struct msg_hdr	 h;
	uint8_t		 hdr[MSG_HDR_LEN], *body;
	int		 fd;

	if ((fd = accept4(fx->u.lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		return (NULL);
	for (;;) {
		if (read_full(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
			break;
		msg_hdr_decode(hdr, &h);
		if ((body = malloc(h.body_len + 1)) == NULL ||
		    read_full(fd, body, h.body_len) != (ssize_t)h.body_len) {
			free(body);
			break;
		}
		/* AUTH "wrong" is refused. */
		msg_encode_response(hdr, h.opcode, h.opcode == MSG_OP_AUTH &&
		    h.body_len == 5 && memcmp(body, "wrong", 5) == 0 ?
		    MSG_ST_DENIED : MSG_ST_OK, h.request_id, 0,
		    h.body_len - h.key_len);
		if (write_full(fd, hdr, sizeof(hdr)) == -1 ||
		    write_full(fd, body + h.key_len, h.body_len - h.key_len) ==
		    -1) {
			free(body);
			break;
		}
		free(body);
	}
	close(fd);
	return (NULL);
}

static void
echo_start(struct fx *fx)
{
	assert_int_equal(pthread_create(&fx->th, NULL, echo_main, fx), 0);
	fx->echoing = 1;
}

/* Blocking operations: their requests on the wire, their answers. */
static void
test_msgdc_ops(void **state)
{
	struct fx		*fx = *state;
	struct msgdc_reply	 r;
	struct msg_hdr		 h;
	char			 v[64];

	fx_connect(fx, 2000, 0);
	answer(fx->sfd, MSG_OP_PING, MSG_ST_OK, 1, NULL, "PONG");
	assert_int_equal(msgdc_ping(fx->c), MSGDC_OK);
	request(fx->sfd, &h, v, sizeof(v));
	assert_int_equal(h.opcode, MSG_OP_PING);
	assert_int_equal(h.request_id, 1);

	answer(fx->sfd, MSG_OP_ECHO, MSG_ST_OK, 2, NULL, "hello");
	assert_int_equal(msgdc_echo(fx->c, "hello", 5, &r), MSGDC_OK);
	assert_int_equal(r.id, 2);
	assert_int_equal(r.opcode, MSGDC_OP_ECHO);
	assert_int_equal(r.vlen, 5);
	assert_memory_equal(r.val, "hello", 5);
	request(fx->sfd, &h, v, sizeof(v));
	assert_string_equal(v, "hello");

	answer(fx->sfd, MSG_OP_PUT, MSG_ST_OK, 3, NULL, NULL);
	assert_int_equal(msgdc_put(fx->c, "a.txt", "data", 4), MSGDC_OK);
	request(fx->sfd, &h, v, sizeof(v));
	assert_int_equal(h.opcode, MSG_OP_PUT);
	assert_int_equal(h.key_len, 5);
	assert_string_equal(v, "a.txtdata");

	/* A status other than OK: its name in the message, the reply kept. */
	answer(fx->sfd, MSG_OP_GET, MSG_ST_NOT_FOUND, 4, NULL, "no such file");
	assert_int_equal(msgdc_get(fx->c, "b.txt", &r), MSGDC_ESTATUS);
	assert_int_equal(msgdc_err(fx->c), MSGDC_ESTATUS);
	assert_int_equal(r.status, MSGDC_ST_NOT_FOUND);
	assert_non_null(strstr(msgdc_errstr(fx->c), "NOT_FOUND"));
	assert_non_null(strstr(msgdc_errstr(fx->c), "no such file"));
	request(fx->sfd, &h, v, sizeof(v));

	/* A bad name never reaches the wire. */
	assert_int_equal(msgdc_del(fx->c, "../x"), MSGDC_EINVAL);
	assert_int_equal(msgdc_get(fx->c, NULL, &r), MSGDC_EINVAL);

	/* EXEC: status, stdout, stderr. */
	{
		static const uint8_t	body[] = { '3', 0, 0, 0, 2, 'o', 'k',
		    'e' };
		struct msgdc_exec	x;
		uint8_t			hdr[MSG_HDR_LEN];

		msg_encode_response(hdr, MSG_OP_EXEC, MSG_ST_OK, 5, 1,
		    sizeof(body));
		wr(fx->sfd, hdr, sizeof(hdr));
		wr(fx->sfd, body, sizeof(body));
		assert_int_equal(msgdc_exec(fx->c, "date", &x), MSGDC_OK);
		assert_int_equal(x.status, 3);
		assert_int_equal(x.olen, 2);
		assert_memory_equal(x.out, "ok", 2);
		assert_int_equal(x.elen, 1);
		request(fx->sfd, &h, v, sizeof(v));
		assert_string_equal(v, "date");
	}
	assert_string_equal(msgdc_status_name(MSGDC_ST_DENIED), "DENIED");
	assert_null(msgdc_status_name(99));
	assert_string_equal(msgdc_op_name(MSGDC_OP_LIST), "LIST");
	assert_non_null(msgdc_version());
}

/* Pipelined: N appended, N answers in order, the requests N frames. */
static void
test_msgdc_pipeline(void **state)
{
	struct fx		*fx = *state;
	struct msgdc_reply	 r;
	struct msg_hdr		 h;
	uint32_t		 id;
	char			 v[64];
	int			 i;

	fx_connect(fx, 2000, 0);
	for (i = 0; i < 16; i++) {
		snprintf(v, sizeof(v), "m%d", i);
		assert_int_equal(msgdc_append(fx->c, MSGDC_OP_ECHO, NULL, 0, v,
		    strlen(v), &id), MSGDC_OK);
		assert_int_equal(id, (uint32_t)i + 1);
		answer(fx->sfd, MSG_OP_ECHO, MSG_ST_OK, id, NULL, v);
	}
	assert_int_equal(msgdc_pending(fx->c), 16);
	/* No blocking call may overtake the appended ones. */
	assert_int_equal(msgdc_call(fx->c, MSGDC_OP_PING, NULL, 0, NULL, 0,
	    &r), MSGDC_EINVAL);
	for (i = 0; i < 16; i++) {
		assert_int_equal(msgdc_get_reply(fx->c, &r), MSGDC_OK);
		assert_int_equal(r.id, (uint32_t)i + 1);
		snprintf(v, sizeof(v), "m%d", i);
		assert_int_equal(r.vlen, strlen(v));
		assert_memory_equal(r.val, v, r.vlen);
	}
	assert_int_equal(msgdc_pending(fx->c), 0);
	assert_int_equal(msgdc_get_reply(fx->c, &r), MSGDC_EINVAL);
	for (i = 0; i < 16; i++) {
		request(fx->sfd, &h, v, sizeof(v));
		assert_int_equal(h.request_id, (uint32_t)i + 1);
	}
	/* Blocking calls work again. */
	answer(fx->sfd, MSG_OP_PING, MSG_ST_OK, 17, NULL, "PONG");
	assert_int_equal(msgdc_ping(fx->c), MSGDC_OK);
}

/* A pipeline larger than both sockets' buffers does not deadlock. */
static void
test_msgdc_pipeline_large(void **state)
{
	struct fx		*fx = *state;
	struct msgdc_options	 o;
	struct msgdc_reply	 r;
	static char		 big[65536];
	int			 i, n = 64;

	echo_start(fx);
	msgdc_options_init(&o);
	o.timeout_ms = 10000;
	fx->c = msgdc_connect(fx->u.addr, &o);
	assert_int_equal(msgdc_err(fx->c), MSGDC_OK);
	memset(big, 'x', sizeof(big));
	for (i = 0; i < n; i++) {
		big[0] = (char)('a' + i % 26);
		assert_int_equal(msgdc_append(fx->c, MSGDC_OP_ECHO, NULL, 0,
		    big, sizeof(big), NULL), MSGDC_OK);
	}
	for (i = 0; i < n; i++) {
		assert_int_equal(msgdc_get_reply(fx->c, &r), MSGDC_OK);
		assert_int_equal(r.vlen, sizeof(big));
		assert_int_equal(r.val[0], 'a' + i % 26);
	}
}

/* AUTH while connecting (the token option); a refused one fails it. */
static void
test_msgdc_auth(void **state)
{
	struct fx		*fx = *state;
	struct msgdc_options	 o;

	echo_start(fx);
	msgdc_options_init(&o);
	o.token = "secret";
	fx->c = msgdc_connect(fx->u.addr, &o);
	assert_int_equal(msgdc_err(fx->c), MSGDC_OK);
	assert_int_equal(msgdc_ping(fx->c), MSGDC_OK);
}

static void
test_msgdc_auth_refused(void **state)
{
	struct fx		*fx = *state;
	struct msgdc_options	 o;

	echo_start(fx);
	msgdc_options_init(&o);
	o.token = "wrong";
	fx->c = msgdc_connect(fx->u.addr, &o);
	assert_non_null(fx->c);
	assert_int_equal(msgdc_err(fx->c), MSGDC_ECONNECT);
	assert_non_null(strstr(msgdc_errstr(fx->c), "DENIED"));
	assert_int_equal(msgdc_fd(fx->c), -1);
	assert_int_equal(msgdc_ping(fx->c), MSGDC_EIO);
}

/* A listener that never answers AUTH: the connect timeout. */
static void
test_msgdc_auth_silent(void **state)
{
	struct fx		*fx = *state;
	struct msgdc_options	 o;

	msgdc_options_init(&o);
	o.token = "secret";
	o.connect_timeout_ms = 200;
	fx->c = msgdc_connect(fx->u.addr, &o);
	assert_non_null(fx->c);
	assert_int_equal(msgdc_err(fx->c), MSGDC_ETIMEOUT);
	assert_string_not_equal(msgdc_errstr(fx->c), "");
	assert_int_equal(msgdc_fd(fx->c), -1);
}

/* Bad answers: each a clear error, never a crash or a large allocation. */
static void
test_msgdc_bad_answers(void **state)
{
	struct fx		*fx = *state;
	struct msgdc_reply	 r;
	uint8_t			 hdr[MSG_HDR_LEN];

	/* A wrong id. */
	fx_connect(fx, 2000, 0);
	answer(fx->sfd, MSG_OP_PING, MSG_ST_OK, 7, NULL, "PONG");
	assert_int_equal(msgdc_ping(fx->c), MSGDC_EPROTO);
	assert_non_null(strstr(msgdc_errstr(fx->c), "expected 1"));
	msgdc_free(fx->c);
	close(fx->sfd);

	/* Garbage. */
	fx_connect(fx, 2000, 0);
	wr(fx->sfd, "HTTP/1.1 400 Bad\r\n\r\n", 20);
	assert_int_equal(msgdc_ping(fx->c), MSGDC_EPROTO);
	msgdc_free(fx->c);
	close(fx->sfd);

	/* A length over the handle's limit: refused from the header. */
	fx_connect(fx, 2000, 1024);
	msg_encode_response(hdr, MSG_OP_GET, MSG_ST_OK, 1, 0, UINT32_MAX);
	wr(fx->sfd, hdr, sizeof(hdr));
	assert_int_equal(msgdc_get(fx->c, "x", &r), MSGDC_EPROTO);
	assert_non_null(strstr(msgdc_errstr(fx->c), "over the client limit"));
	msgdc_free(fx->c);
	close(fx->sfd);

	/* Truncated: half an answer, then the server closes. */
	fx_connect(fx, 2000, 0);
	msg_encode_response(hdr, MSG_OP_ECHO, MSG_ST_OK, 1, 0, 10);
	wr(fx->sfd, hdr, sizeof(hdr));
	wr(fx->sfd, "abc", 3);
	assert_int_equal(shutdown(fx->sfd, SHUT_WR), 0);
	assert_int_equal(msgdc_echo(fx->c, "abcdefghij", 10, &r), MSGDC_EIO);
	assert_non_null(strstr(msgdc_errstr(fx->c), "closed"));
	msgdc_free(fx->c);
	close(fx->sfd);

	/* Silence: the timeout. */
	fx_connect(fx, 100, 0);
	assert_int_equal(msgdc_ping(fx->c), MSGDC_ETIMEOUT);
	/* An answer to nothing, in non-blocking mode. */
	assert_int_equal(msgdc_reconnect(fx->c), MSGDC_OK);
	close(fx->sfd);
	fx->sfd = accept4(fx->u.lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_int_not_equal(fx->sfd, -1);
	assert_int_equal(msgdc_set_nonblock(fx->c, 1), MSGDC_OK);
	answer(fx->sfd, MSG_OP_PING, MSG_ST_OK, 1, NULL, "PONG");
	assert_int_equal(msgdc_feed(fx->c), MSGDC_OK);
	assert_int_equal(msgdc_take(fx->c, &r), MSGDC_EPROTO);
	assert_non_null(strstr(msgdc_errstr(fx->c), "to no request"));
}

/* Connecting to nothing: a handle with the error, freed without harm. */
static void
test_msgdc_connect_fail(void **state)
{
	struct msgdc	*c;

	(void)state;
	c = msgdc_connect("unix:/nonexistent/msgd.sock", NULL);
	assert_non_null(c);
	assert_int_equal(msgdc_err(c), MSGDC_ECONNECT);
	assert_non_null(strstr(msgdc_errstr(c), "/nonexistent/msgd.sock"));
	assert_int_equal(msgdc_fd(c), -1);
	assert_int_equal(msgdc_ping(c), MSGDC_EIO);
	msgdc_free(c);
	c = msgdc_connect("no-port-here", NULL);
	assert_int_equal(msgdc_err(c), MSGDC_ECONNECT);
	msgdc_free(c);
	msgdc_free(NULL);
}

/*
 * A TLS connect that failed (a listener that never answers the
 * handshake) cannot be reconnected in plain text: the handle refuses.
 */
static void
test_msgdc_tls_no_plain_reconnect(void **state)
{
	struct fx		*fx = *state;
	struct msgdc_options	 o;

	msgdc_options_init(&o);
	o.tls = 1;
	o.insecure = 1;
	o.connect_timeout_ms = 200;
	fx->c = msgdc_connect(fx->u.addr, &o);
	assert_non_null(fx->c);
	assert_int_equal(msgdc_err(fx->c), MSGDC_ECONNECT);
	assert_int_equal(msgdc_reconnect(fx->c), MSGDC_ECONNECT);
	assert_non_null(strstr(msgdc_errstr(fx->c), "TLS"));
	assert_int_equal(msgdc_fd(fx->c), -1);
}

/* Wait until the handle's fd is ready for what it wants. */
static void
nb_wait(struct msgdc *c)
{
	struct pollfd	pfd;
	int		w = msgdc_want(c);

	assert_int_not_equal(w, 0);
	pfd.fd = msgdc_fd(c);
	pfd.events = (short)(((w & MSGDC_WANT_READ) ? POLLIN : 0) |
	    ((w & MSGDC_WANT_WRITE) ? POLLOUT : 0));
	assert_int_equal(poll(&pfd, 1, 2000), 1);
}

/* Non-blocking: want, flush, feed, take, answers cut anywhere. */
static void
test_msgdc_nonblock(void **state)
{
	struct fx		*fx = *state;
	struct msgdc_reply	 r;
	struct msg_hdr		 h;
	uint8_t			 frames[3 * (MSG_HDR_LEN + 2)];
	char			 v[64];
	size_t			 off;
	int			 i, got;

	fx_connect(fx, 2000, 0);
	assert_int_equal(msgdc_set_nonblock(fx->c, 1), MSGDC_OK);
	assert_int_equal(msgdc_want(fx->c), 0);
	assert_int_equal(msgdc_take(fx->c, &r), MSGDC_EAGAIN);
	for (i = 0; i < 3; i++)
		assert_int_equal(msgdc_append(fx->c, MSGDC_OP_UPPER, NULL, 0,
		    "ab", 2, NULL), MSGDC_OK);
	assert_int_equal(msgdc_want(fx->c), MSGDC_WANT_READ |
	    MSGDC_WANT_WRITE);
	/* Blocking calls are refused in this mode. */
	assert_int_equal(msgdc_ping(fx->c), MSGDC_EINVAL);
	nb_wait(fx->c);
	assert_int_equal(msgdc_flush(fx->c), MSGDC_OK);
	assert_int_equal(msgdc_want(fx->c), MSGDC_WANT_READ);
	assert_int_equal(msgdc_take(fx->c, &r), MSGDC_EAGAIN);
	for (i = 0; i < 3; i++) {
		request(fx->sfd, &h, v, sizeof(v));
		assert_int_equal(h.request_id, (uint32_t)i + 1);
		msg_encode_response(frames + i * (MSG_HDR_LEN + 2),
		    MSG_OP_UPPER, MSG_ST_OK, h.request_id, 0, 2);
		memcpy(frames + i * (MSG_HDR_LEN + 2) + MSG_HDR_LEN, "AB", 2);
	}
	/* The answers a byte at a time: each taken once it is whole. */
	got = 0;
	for (off = 0; off < sizeof(frames); off++) {
		wr(fx->sfd, frames + off, 1);
		nb_wait(fx->c);
		assert_int_equal(msgdc_feed(fx->c), MSGDC_OK);
		while (msgdc_take(fx->c, &r) == MSGDC_OK) {
			got++;
			assert_int_equal(r.id, (uint32_t)got);
			assert_memory_equal(r.val, "AB", 2);
		}
		assert_int_equal(msgdc_err(fx->c), MSGDC_EAGAIN);
	}
	assert_int_equal(got, 3);
	assert_int_equal(msgdc_pending(fx->c), 0);
	assert_int_equal(msgdc_want(fx->c), 0);
	/* The server goes: feeding says so. */
	assert_int_equal(msgdc_append(fx->c, MSGDC_OP_PING, NULL, 0, NULL, 0,
	    NULL), MSGDC_OK);
	assert_int_equal(msgdc_flush(fx->c), MSGDC_OK);
	close(fx->sfd);
	fx->sfd = -1;
	nb_wait(fx->c);
	assert_int_equal(msgdc_take(fx->c, &r), MSGDC_EIO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_msgdc_ops, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_msgdc_pipeline, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_msgdc_pipeline_large,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_msgdc_auth, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_msgdc_auth_refused,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_msgdc_auth_silent,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_msgdc_bad_answers,
		    fx_setup, fx_teardown),
		cmocka_unit_test(test_msgdc_connect_fail),
		cmocka_unit_test_setup_teardown(
		    test_msgdc_tls_no_plain_reconnect, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_msgdc_nonblock, fx_setup,
		    fx_teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

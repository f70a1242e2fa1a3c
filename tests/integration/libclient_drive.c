/*
 * libclient_drive.c: libmsgdclient's public API against a real msgd, for
 * tests/integration/test_libclient.py: every operation blocking, a
 * pipeline of 200, the non-blocking mode driven by poll(2) (100 small
 * answers, then one large value that needs many writable events).
 *
 *	libclient_drive ADDRESS [ca CAFILE] [token TOKEN]
 *
 * With CAFILE: TLS verified against it; TOKEN: AUTH while connecting.
 * Prints "ok" lines; on a failure its reason on stderr, exit 1.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgd/client.h>

static struct msgdc	*c;

#define NEED(cond, what) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "libclient_drive: %s: %s\n", what,	\
		    msgdc_errstr(c));					\
		exit(1);						\
	}								\
} while (0)

/* Poll the handle's fd for what it wants; 0 when it wants nothing. */
static int
nb_wait(void)
{
	struct pollfd	p;
	int		w;

	if ((w = msgdc_want(c)) == 0)
		return (0);
	p.fd = msgdc_fd(c);
	p.events = (short)(((w & MSGDC_WANT_READ) ? POLLIN : 0) |
	    ((w & MSGDC_WANT_WRITE) ? POLLOUT : 0));
	NEED(poll(&p, 1, 5000) == 1, "poll");
	return (1);
}

static void
blocking(void)
{
	struct msgdc_reply	r;
	struct msgdc_exec	x;
	int			rc;

	NEED(msgdc_ping(c) == MSGDC_OK, "ping");
	NEED(msgdc_echo(c, "hi", 2, &r) == MSGDC_OK && r.vlen == 2 &&
	    memcmp(r.val, "hi", 2) == 0, "echo");
	NEED(msgdc_upper(c, "hi", 2, &r) == MSGDC_OK && r.vlen == 2 &&
	    memcmp(r.val, "HI", 2) == 0, "upper");
	NEED(msgdc_time(c, &r) == MSGDC_OK && r.vlen >= 20, "time");
	NEED(msgdc_stats(c, &r) == MSGDC_OK && r.vlen > 2 && r.val[0] == '{',
	    "stats");
	NEED(msgdc_put(c, "drive.txt", "content", 7) == MSGDC_OK, "put");
	NEED(msgdc_get(c, "drive.txt", &r) == MSGDC_OK && r.vlen == 7 &&
	    memcmp(r.val, "content", 7) == 0, "get");
	NEED(msgdc_list(c, &r) == MSGDC_OK && r.vlen >= 9 &&
	    memmem(r.val, r.vlen, "drive.txt", 9) != NULL, "list");
	NEED(msgdc_del(c, "drive.txt") == MSGDC_OK, "del");
	NEED(msgdc_get(c, "drive.txt", &r) == MSGDC_ESTATUS &&
	    r.status == MSGDC_ST_NOT_FOUND && strstr(msgdc_errstr(c),
	    "NOT_FOUND") != NULL, "get after del");
	/* No command is allowed: DENIED, and the handle goes on. */
	rc = msgdc_exec(c, "nothing", &x);
	NEED(rc == MSGDC_ESTATUS, "exec of a command not allowed");
	NEED(msgdc_ping(c) == MSGDC_OK, "ping after an error status");
	printf("ok blocking%s%s\n", msgdc_tls_version(c) != NULL ? " over " :
	    "", msgdc_tls_version(c) != NULL ? msgdc_tls_version(c) : "");
}

static void
pipelined(void)
{
	struct msgdc_reply	r;
	char			v[32];
	uint32_t		id, first = 0;
	int			i;

	for (i = 0; i < 200; i++) {
		snprintf(v, sizeof(v), "value %d", i);
		NEED(msgdc_append(c, MSGDC_OP_ECHO, NULL, 0, v, strlen(v),
		    &id) == MSGDC_OK, "append");
		if (i == 0)
			first = id;
	}
	NEED(msgdc_pending(c) == 200, "pending");
	for (i = 0; i < 200; i++) {
		snprintf(v, sizeof(v), "value %d", i);
		NEED(msgdc_get_reply(c, &r) == MSGDC_OK, "get_reply");
		NEED(r.status == MSGDC_ST_OK && r.id == first + (uint32_t)i &&
		    r.vlen == strlen(v) && memcmp(r.val, v, r.vlen) == 0,
		    "pipelined answer");
	}
	printf("ok pipelined 200\n");
}

static void
nonblocking(void)
{
	struct msgdc_reply	 r;
	size_t			 big = 4 * 1024 * 1024, i;
	char			*val;
	int			 got = 0, rc, want = 100;

	NEED(msgdc_set_nonblock(c, 1) == MSGDC_OK, "set_nonblock");
	for (i = 0; i < 100; i++)
		NEED(msgdc_append(c, MSGDC_OP_UPPER, NULL, 0, "abc", 3,
		    NULL) == MSGDC_OK, "append");
	NEED((val = malloc(big)) != NULL, "malloc");
	for (i = 0; i < big; i++)
		val[i] = (char)('a' + i % 26);
	NEED(msgdc_append(c, MSGDC_OP_ECHO, NULL, 0, val, big, NULL) ==
	    MSGDC_OK, "append large");
	while (nb_wait()) {
		rc = msgdc_flush(c);
		NEED(rc == MSGDC_OK || rc == MSGDC_EAGAIN, "flush");
		while ((rc = msgdc_take(c, &r)) == MSGDC_OK) {
			if (got < want)
				NEED(r.vlen == 3 && memcmp(r.val, "ABC", 3) ==
				    0, "small answer");
			else
				NEED(r.vlen == big && memcmp(r.val, val,
				    big) == 0, "large answer");
			got++;
		}
		NEED(rc == MSGDC_EAGAIN, "take");
	}
	NEED(got == want + 1 && msgdc_pending(c) == 0, "all answers");
	free(val);
	NEED(msgdc_set_nonblock(c, 0) == MSGDC_OK, "blocking again");
	NEED(msgdc_ping(c) == MSGDC_OK, "ping after non-blocking");
	printf("ok nonblocking %d\n", got);
}

int
main(int argc, char *argv[])
{
	struct msgdc_options	o;
	int			i;

	if (argc < 2 || argc % 2 != 0) {
		fprintf(stderr, "usage: libclient_drive ADDRESS [ca CAFILE] "
		    "[token TOKEN]\n");
		return (2);
	}
	msgdc_options_init(&o);
	o.max_answer = 8 * 1024 * 1024;
	for (i = 2; i < argc; i += 2) {
		if (strcmp(argv[i], "ca") == 0) {
			o.tls = 1;
			o.ca_file = argv[i + 1];
		} else if (strcmp(argv[i], "token") == 0)
			o.token = argv[i + 1];
		else
			return (2);
	}
	if ((c = msgdc_connect(argv[1], &o)) == NULL)
		return (1);
	NEED(msgdc_err(c) == MSGDC_OK, "connect");
	blocking();
	pipelined();
	nonblocking();
	msgdc_free(c);
	return (0);
}

/*
 * test_conn.c: one client connection as a worker runs it, driven through
 * conn.h over a real unix socketpair and a small epoll loop of the test's
 * own: frames split anyhow and pipelined, answered in order; output_limit
 * stops the reading of a client that does not read its answers; an
 * oversize frame, a frame before AUTH above the pre-auth limit, bad magic
 * and a wrong token end the connection after their answer, a lesser frame
 * error does not; EOF, idle and read deadlines, draining and close_all;
 * short writes and reads, EINTR, EAGAIN and a failed send on the server's
 * socket (-Wl,--wrap=send,--wrap=recv; the client's calls pass through);
 * no memory for a run's answers (--wrap=buf_reserve);
 * counters published before the client sees an answer or a close; large
 * ECHOs by splice, moved a block at a time (--wrap=splice) whatever the
 * number of steps an event takes, a client that writes its whole frame
 * before reading, one that stops within it.  Batched I/O (iob.c): the
 * same exchanges with receives and sends through the ring, pump making a
 * batch of each turn as the worker does; a connection closed while its
 * send is queued, a batched receive no event took, a batched send the
 * socket takes in part, a batched receive that finds nothing.
 *
 * Only what a client sees (bytes and the end of the stream) and what the
 * public functions return are checked (and the worker's stats slot, as
 * msgctl reads it), never the connection's fields: the
 * connection is added with no peer address (as the master's probe is),
 * so the tests do not depend on the peer-address type either.
 */
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "config.h"
#include "conn.h"
#include "hist.h"
#include "ops.h"
#include "pool.h"
#include "proto.h"
#include "sha256.h"
#include "spool.h"
#include "stats.h"
#include "util.h"
#include "xfer.h"

#define MAX_BODY	(1024 * 1024)
#define OUTPUT_LIMIT	(64 * 1024)
#define SMALL_LIMIT	8192
#define IDLE_MS		5000
#define READ_MS		1000
#define TOKEN		"conn-token"
#define TURNS		10000	/* bound of every loop that waits */

ssize_t	__real_send(int, const void *, size_t, int);
ssize_t	__wrap_send(int, const void *, size_t, int);
ssize_t	__real_recv(int, void *, size_t, int);
ssize_t	__wrap_recv(int, void *, size_t, int);
ssize_t	__real_splice(int, loff_t *, int, loff_t *, size_t, unsigned int);
ssize_t	__wrap_splice(int, loff_t *, int, loff_t *, size_t, unsigned int);
uint64_t __real_mono_us(void);
uint64_t __wrap_mono_us(void);
ssize_t	__real_sendmsg(int, const struct msghdr *, int);
ssize_t	__wrap_sendmsg(int, const struct msghdr *, int);
int	__real_buf_reserve(struct buf *, size_t);
int	__wrap_buf_reserve(struct buf *, size_t);

/* The server's readings of the clock (mono_us), and how far it is ahead. */
static int		clock_reads;
static uint64_t		clock_ahead;

uint64_t
__wrap_mono_us(void)
{
	clock_reads++;
	return (__real_mono_us() + clock_ahead);
}

/*
 * Faults of the server's socket (fault_fd), after the next pass calls go
 * through untouched: at most max bytes a call (0: no limit), every
 * eintr-th call interrupted (0: none), the next call failing with err (0:
 * none), and the next eagain calls failing with EAGAIN (a socket that
 * takes nothing for a while).
 */
struct fault {
	int	pass;
	size_t	max;
	int	eintr;
	int	err;
	int	eagain;
	int	calls;
};

static int		fault_fd = -1;
static struct fault	send_fault, read_fault, splice_fault;
/* The next sendmsg (the hand-over channel's, xfer_send) fails so. */
static int		sendmsg_err;
/* The next buf_reserve (the server's) finds no memory. */
static int		reserve_fail;

int
__wrap_buf_reserve(struct buf *b, size_t n)
{
	if (reserve_fail) {
		reserve_fail = 0;
		errno = ENOMEM;
		return (-1);
	}
	return (__real_buf_reserve(b, n));
}

/* Apply f to a call of len bytes: 0 to go on with *len, or -1 (errno). */
static int
fault_apply(struct fault *f, size_t *len)
{
	if (f->pass > 0) {
		f->pass--;
		return (0);
	}
	f->calls++;
	if (f->err != 0) {
		errno = f->err;
		f->err = 0;
		return (-1);
	}
	if (f->eagain > 0) {
		f->eagain--;
		errno = EAGAIN;
		return (-1);
	}
	if (f->eintr > 0 && f->calls % f->eintr == 0) {
		errno = EINTR;
		return (-1);
	}
	if (f->max > 0 && *len > f->max)
		*len = f->max;
	return (0);
}

ssize_t
__wrap_sendmsg(int fd, const struct msghdr *mh, int flags)
{
	if (sendmsg_err != 0) {
		errno = sendmsg_err;
		sendmsg_err = 0;
		return (-1);
	}
	return (__real_sendmsg(fd, mh, flags));
}

ssize_t
__wrap_send(int fd, const void *p, size_t len, int flags)
{
	if (fd == fault_fd && fault_apply(&send_fault, &len) == -1)
		return (-1);
	return (__real_send(fd, p, len, flags));
}

/* The server reads its sockets with recv (MSG_DONTWAIT). */
ssize_t
__wrap_recv(int fd, void *p, size_t len, int flags)
{
	if (fd == fault_fd && !(flags & MSG_OOB) &&
	    fault_apply(&read_fault, &len) == -1)
		return (-1);
	return (__real_recv(fd, p, len, flags));
}

/* splice(2) to or from the server's socket, as send and read. */
ssize_t
__wrap_splice(int in, loff_t *inoff, int out, loff_t *outoff, size_t len,
    unsigned int flags)
{
	if ((in == fault_fd || out == fault_fd) &&
	    fault_apply(&splice_fault, &len) == -1)
		return (-1);
	return (__real_splice(in, inoff, out, outoff, len, flags));
}

struct fixture {
	char			 path[64];	/* the stats file */
	int			 epfd;
	int			 sv[2];		/* [0] the server's, [1] the client's */
	struct msgd_conf	 conf;
	struct stats_seg	 seg;
	struct ops_env		 env;
	struct wctx		 wc;
	struct conn		*c;
	uint64_t		 skew;		/* ms the test moved the clock */
	int			 reset;		/* the stream ended in a reset */
	struct iob		 iob;		/* wc.iob when batching */
};

/* Counter f of the test's worker slot, as msgctl reads it. */
#define SLOT(fx, f)	(stats_slot(&(fx)->seg, 0)->c.f)

/* The loop's clock: now, plus what the test moved it on. */
static void
tick(struct fixture *fx)
{
	fx->wc.now = mono_ms() + fx->skew;
	fx->wc.now_us = __real_mono_us() + fx->skew * 1000;
}

/* Move the clock on by ms, then run the deadlines. */
static void
advance(struct fixture *fx, uint64_t ms)
{
	fx->skew += ms;
	tick(fx);
	(void)conn_expire(&fx->wc);
	conn_reap(&fx->wc);
}

/* The next setup connects over TCP on loopback, not a unix socketpair. */
static int	use_tcp;
/* The next setup batches I/O (wc.iob): pump then runs turns as a worker. */
static int	use_batch;

/* A TCP connection to ourselves: sv[0] accepted (the server's), sv[1]. */
static int
tcp_pair(int sv[2])
{
	struct sockaddr_in	a;
	socklen_t		alen = sizeof(a);
	int			l, one = 1, rc = -1;

	sv[0] = sv[1] = -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    listen(l, 1) == 0 &&
	    getsockname(l, (struct sockaddr *)&a, &alen) == 0 &&
	    (sv[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) != -1 &&
	    connect(sv[1], (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    (sv[0] = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) !=
	    -1 &&
	    setsockopt(sv[1], IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) == 0 &&
	    fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0)
		rc = 0;
	close(l);
	if (rc == -1) {
		if (sv[0] != -1)
			close(sv[0]);
		if (sv[1] != -1)
			close(sv[1]);
	}
	return (rc);
}

/*
 * A worker context with the usual limits but output_limit, a token
 * configured or not, and one connection in it.
 */
static int
setup_with(void **state, int token, uint64_t output_limit, int restricted)
{
	struct fixture	*fx;
	char		 cause[256];

	if ((fx = calloc(1, sizeof(*fx))) == NULL)
		return (-1);
	*state = fx;
	fault_fd = -1;
	clock_reads = 0;
	clock_ahead = 0;
	memset(&send_fault, 0, sizeof(send_fault));
	memset(&read_fault, 0, sizeof(read_fault));
	memset(&splice_fault, 0, sizeof(splice_fault));
	sendmsg_err = 0;
	snprintf(fx->path, sizeof(fx->path), "/tmp/msgd-test-conn.%d",
	    (int)getpid());
	conf_defaults(&fx->conf);
	if (token) {
		sha256(TOKEN, strlen(TOKEN), fx->conf.auth_digest);
		fx->conf.auth_set = 1;
	}
	if ((fx->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (use_tcp ? tcp_pair(fx->sv) : socketpair(AF_UNIX,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fx->sv)) == -1)
		return (-1);
	if (stats_create(&fx->seg, fx->path, 1, cause, sizeof(cause)) == -1) {
		print_error("stats_create: %s\n", cause);
		return (-1);
	}
	fx->env.conf = &fx->conf;
	fx->env.stats = &fx->seg;
	wctx_init(&fx->wc, fx->epfd, MAX_BODY, output_limit, IDLE_MS, READ_MS,
	    stats_slot(&fx->seg, 0), &fx->env);
	tick(fx);
	if ((fx->c = conn_new(&fx->wc, fx->sv[0], NULL, restricted)) == NULL)
		return (-1);
	/* Without io_uring here the batch tests skip (batch_ring). */
	if (use_batch) {
		if (iob_open(&fx->iob) == 0)
			fx->wc.iob = &fx->iob;
		else
			print_message("no io_uring here: %s\n",
			    strerror(errno));
	}
	return (0);
}

static int
setup(void **state)
{
	return (setup_with(state, 0, OUTPUT_LIMIT, 0));
}

static int
setup_small(void **state)
{
	return (setup_with(state, 0, SMALL_LIMIT, 0));
}

/* Over TCP (edge-triggered: see conn_interest), with output_limit. */
static int
setup_tcp_with(void **state, uint64_t output_limit)
{
	int	rc;

	use_tcp = 1;
	rc = setup_with(state, 0, output_limit, 0);
	use_tcp = 0;
	return (rc);
}

static int
setup_tcp(void **state)
{
	return (setup_tcp_with(state, OUTPUT_LIMIT));
}

static int
setup_tcp_small(void **state)
{
	return (setup_tcp_with(state, SMALL_LIMIT));
}

/* Setup f, batching I/O. */
static int
with_batch(void **state, int (*f)(void **))
{
	int	rc;

	use_batch = 1;
	rc = f(state);
	use_batch = 0;
	return (rc);
}

static int
setup_batch(void **state)
{
	return (with_batch(state, setup));
}

static int
setup_batch_small(void **state)
{
	return (with_batch(state, setup_small));
}

static int
setup_batch_tcp(void **state)
{
	return (with_batch(state, setup_tcp));
}

static int
setup_batch_tcp_small(void **state)
{
	return (with_batch(state, setup_tcp_small));
}

static int
setup_token(void **state)
{
	return (setup_with(state, 1, OUTPUT_LIMIT, 0));
}

/* A peer in protected mode (beyond loopback, no token): PING only. */
static int
setup_restricted(void **state)
{
	return (setup_with(state, 0, OUTPUT_LIMIT, 1));
}

static int
teardown(void **state)
{
	struct fixture	*fx = *state;

	conn_close_all(&fx->wc);	/* closes sv[0] */
	if (fx->wc.iob != NULL)
		iob_close(fx->wc.iob);
	close(fx->sv[1]);
	close(fx->epfd);
	stats_close(&fx->seg);
	(void)unlink(fx->path);
	free(fx);
	return (0);
}

/*
 * Run the worker's loop until it has nothing to do right now: what waits
 * on wc->ready (no event will come for it), then the events.
 */
static void
pump(struct fixture *fx)
{
	struct epoll_event	evs[8];
	int			i, k, n, more, turns;

	for (turns = 0; turns < TURNS; turns++) {
		tick(fx);
		more = conn_serve_ready(&fx->wc);
		if ((n = epoll_wait(fx->epfd, evs, 8, 0)) <= 0 && !more)
			break;
		/*
		 * Batching, as worker_turn does, but for one connection too
		 * (the tests have one): its sends are batched as well.
		 */
		if (fx->wc.iob != NULL) {
			for (i = 0, k = 0; i < n; i++)
				k += conn_batch_read(&fx->wc, evs[i].data.ptr,
				    evs[i].events);
			conn_batch_reads(&fx->wc, k);
			fx->wc.parking = 1;
		}
		for (i = 0; i < n; i++)
			conn_event(&fx->wc, evs[i].data.ptr, evs[i].events);
		if (fx->wc.iob != NULL)
			conn_batch_end(&fx->wc);
		conn_budget(&fx->wc);
		conn_reap(&fx->wc);
	}
	assert_true(turns < TURNS);
}

/* A request frame into p; returns its length. */
static size_t
frame(uint8_t *p, uint8_t op, uint32_t id, const char *key, const void *val,
    size_t vlen)
{
	size_t	klen = key != NULL ? strlen(key) : 0;

	msg_encode_request(p, op, id, (uint16_t)klen, (uint32_t)(klen + vlen));
	if (klen > 0)
		memcpy(p + MSG_HDR_LEN, key, klen);
	if (vlen > 0)
		memcpy(p + MSG_HDR_LEN + klen, val, vlen);
	return (MSG_HDR_LEN + klen + vlen);
}

/* The client sends all of p, the worker running meanwhile. */
static void
csend(struct fixture *fx, const void *p, size_t len)
{
	const uint8_t	*b = p;
	ssize_t		 n;
	int		 turns;

	for (turns = 0; len > 0 && turns < TURNS; turns++) {
		if ((n = send(fx->sv[1], b, len, MSG_NOSIGNAL)) == -1) {
			assert_true(errno == EAGAIN || errno == EINTR);
			pump(fx);
			(void)poll(NULL, 0, 1);
			continue;
		}
		b += n;
		len -= (size_t)n;
		pump(fx);
	}
	assert_int_equal(len, 0);
}

/*
 * The client reads len bytes, the worker running meanwhile.  Returns the
 * bytes read: fewer when the stream ended (fx->reset: by a reset).
 */
static size_t
cread(struct fixture *fx, void *p, size_t len)
{
	uint8_t	*b = p;
	size_t	 got = 0;
	ssize_t	 n;
	int	 turns;

	for (turns = 0; got < len && turns < TURNS; turns++) {
		pump(fx);
		n = recv(fx->sv[1], b + got, len - got, 0);
		if (n == 0)
			break;
		if (n == -1 && errno == ECONNRESET) {
			fx->reset = 1;
			break;
		}
		if (n == -1) {
			assert_true(errno == EAGAIN || errno == EINTR);
			(void)poll(NULL, 0, 1);
			continue;
		}
		got += (size_t)n;
	}
	assert_true(turns < TURNS);
	return (got);
}

/* One answer: its header and its body (at most cap bytes kept). */
static void
answer(struct fixture *fx, struct msg_hdr *h, void *body, size_t cap)
{
	uint8_t		 hb[MSG_HDR_LEN], sink[4096];
	const char	*why;
	size_t		 left, n;

	assert_int_equal(cread(fx, hb, sizeof(hb)), sizeof(hb));
	if (msg_check_response(hb, sizeof(hb), h, &why) == -1)
		fail_msg("bad response: %s", why);
	left = h->body_len;
	assert_true(left <= cap || body == NULL);
	if (body != NULL) {
		assert_int_equal(cread(fx, body, left), left);
		return;
	}
	while (left > 0) {
		n = left < sizeof(sink) ? left : sizeof(sink);
		assert_int_equal(cread(fx, sink, n), n);
		left -= n;
	}
}

/* The answer to request id is status st with value s (NULL: any). */
static void
expect(struct fixture *fx, uint8_t op, uint32_t id, enum msg_status st,
    const char *s)
{
	struct msg_hdr	h;
	char		body[4096];

	answer(fx, &h, body, sizeof(body) - 1);
	assert_int_equal(h.opcode, op);
	assert_int_equal(h.request_id, id);
	assert_int_equal(h.status, st);
	body[h.body_len] = '\0';
	if (s != NULL) {
		assert_int_equal(h.body_len - h.key_len, strlen(s));
		assert_memory_equal(body + h.key_len, s, strlen(s));
	}
}

/* A PING with request id id is answered PONG. */
static void
expect_ping(struct fixture *fx, uint32_t id)
{
	uint8_t	f[64];

	csend(fx, f, frame(f, MSG_OP_PING, id, NULL, NULL, 0));
	expect(fx, MSG_OP_PING, id, MSG_ST_OK, "PONG");
}

/* The server closed the connection: the stream ends, nothing before. */
static void
expect_eof(struct fixture *fx)
{
	uint8_t	b;

	assert_int_equal(cread(fx, &b, 1), 0);
	assert_false(fx->reset);
}

/* The server closed with input unread: the client sees a reset. */
static void
expect_reset(struct fixture *fx)
{
	uint8_t	b;

	assert_int_equal(cread(fx, &b, 1), 0);
	assert_true(fx->reset);
}

/* Nothing to read now, and the connection is open. */
static void
expect_quiet(struct fixture *fx)
{
	uint8_t	b;

	pump(fx);
	assert_int_equal(recv(fx->sv[1], &b, 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

static void
test_conn_ping(void **state)
{
	struct fixture	*fx = *state;

	expect_ping(fx, 1);
	expect_quiet(fx);
}

/* A frame that arrives a byte at a time is answered once, whole. */
static void
test_conn_bytewise(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		 f[64];
	size_t		 i, n;

	n = frame(f, MSG_OP_UPPER, 2, NULL, "bytewise", 8);
	for (i = 0; i < n; i++) {
		csend(fx, f + i, 1);
		if (i + 1 < n)
			expect_quiet(fx);
	}
	expect(fx, MSG_OP_UPPER, 2, MSG_ST_OK, "BYTEWISE");
}

/* Frames split across sends at every offset are answered in order. */
static void
test_conn_splits(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		 f[256];
	size_t		 n, cut;
	uint32_t	 id = 10;

	for (cut = 1; cut < 60; cut += 7) {
		n = frame(f, MSG_OP_ECHO, id, NULL, "first", 5);
		n += frame(f + n, MSG_OP_GET + 0x50, id + 1, "k", "v", 1);
		n += frame(f + n, MSG_OP_UPPER, id + 2, NULL, "third", 5);
		csend(fx, f, cut);
		csend(fx, f + cut, n - cut);
		expect(fx, MSG_OP_ECHO, id, MSG_ST_OK, "first");
		expect(fx, MSG_OP_GET + 0x50, id + 1, MSG_ST_UNKNOWN_OP, NULL);
		expect(fx, MSG_OP_UPPER, id + 2, MSG_ST_OK, "THIRD");
		id += 3;
	}
	expect_quiet(fx);
}

/* Many requests in one send: every answer, in request order. */
static void
test_conn_pipeline(void **state)
{
	struct fixture	*fx = *state;
	static uint8_t	 f[200 * 64];
	static const uint8_t ops[] = { MSG_OP_PING, MSG_OP_ECHO,
	    MSG_OP_UPPER, 0x7e };
	char		 v[16], up[16];
	size_t		 n = 0, k;
	uint32_t	 i;

	for (i = 0; i < 200; i++) {
		snprintf(v, sizeof(v), "v%u", i);
		n += frame(f + n, ops[i % 4], 1000 + i, NULL, v, strlen(v));
	}
	csend(fx, f, n);
	for (i = 0; i < 200; i++) {
		snprintf(v, sizeof(v), "v%u", i);
		for (k = 0; k <= strlen(v); k++)
			up[k] = v[k] == 'v' ? 'V' : v[k];
		switch (ops[i % 4]) {
		case MSG_OP_PING:
			expect(fx, MSG_OP_PING, 1000 + i, MSG_ST_OK, "PONG");
			break;
		case MSG_OP_ECHO:
			expect(fx, MSG_OP_ECHO, 1000 + i, MSG_ST_OK, v);
			break;
		case MSG_OP_UPPER:
			expect(fx, MSG_OP_UPPER, 1000 + i, MSG_ST_OK, up);
			break;
		default:
			expect(fx, ops[i % 4], 1000 + i, MSG_ST_UNKNOWN_OP,
			    NULL);
		}
	}
	expect_quiet(fx);
}

/*
 * Runs of ECHO and UPPER are answered together (conn_run); whatever ends
 * a run (another opcode, a key, a bad frame, a frame not yet whole) is
 * answered as ever, and every answer comes in request order, counted.
 */
static void
test_conn_runs(void **state)
{
	struct fixture	*fx = *state;
	static uint8_t	 f[300 * 64];
	char		 v[32], up[32];
	size_t		 n = 0, cut = 0, k;
	uint32_t	 i;

	for (i = 0; i < 300; i++) {
		snprintf(v, sizeof(v), i % 7 ? "run%u" : "", i);
		if (i == 100)
			n += frame(f + n, MSG_OP_ECHO, i, "key", v, strlen(v));
		else if (i == 150) {
			n += frame(f + n, MSG_OP_ECHO, i, NULL, v, strlen(v));
			f[n - strlen(v) - MSG_HDR_LEN + 3] = 0x80; /* reserved */
		} else if (i == 200)
			n += frame(f + n, MSG_OP_PING, i, NULL, NULL, 0);
		else
			n += frame(f + n, i < 60 || i > 250 ? MSG_OP_ECHO :
			    MSG_OP_UPPER, i, NULL, v, strlen(v));
		if (i == 280)
			cut = n - 3;	/* a frame split across two sends */
	}
	csend(fx, f, cut);
	csend(fx, f + cut, n - cut);
	for (i = 0; i < 300; i++) {
		snprintf(v, sizeof(v), i % 7 ? "run%u" : "", i);
		for (k = 0; k <= strlen(v); k++)
			up[k] = (char)(v[k] >= 'a' && v[k] <= 'z' ? v[k] - 32 :
			    v[k]);
		if (i == 150)
			expect(fx, MSG_OP_ECHO, i, MSG_ST_BAD_REQUEST, NULL);
		else if (i == 200)
			expect(fx, MSG_OP_PING, i, MSG_ST_OK, "PONG");
		else if (i < 60 || i > 250 || i == 100)
			expect(fx, MSG_OP_ECHO, i, MSG_ST_OK, v);
		else
			expect(fx, MSG_OP_UPPER, i, MSG_ST_OK, up);
	}
	expect_quiet(fx);
	assert_int_equal(SLOT(fx, req_echo), 60 + 49 + 2);
	assert_int_equal(SLOT(fx, req_upper), 300 - 60 - 49 - 3);
	assert_int_equal(SLOT(fx, req_ping), 1);
	assert_int_equal(SLOT(fx, st_ok), 299);
	assert_int_equal(SLOT(fx, proto_errors), 1);
	assert_int_equal(SLOT(fx, latency.count), 300);
}

/*
 * A run stops where the answers pass output_limit, as frame by frame: a
 * worker that cannot send answers 8192 / 116 + 1 = 71 frames of the 141
 * its read took, the rest once the answers leave.
 */
static void
test_conn_run_output_limit(void **state)
{
	struct fixture		*fx = *state;
	struct epoll_event	 evs[8];
	static uint8_t		 f[200 * 116];
	uint8_t			 val[100], body[128];
	struct msg_hdr		 h;
	size_t			 n = 0;
	int			 i, nev;

	memset(val, 'r', sizeof(val));
	for (i = 0; i < 200; i++)
		n += frame(f + n, MSG_OP_ECHO, (uint32_t)i, NULL, val,
		    sizeof(val));
	assert_int_equal(send(fx->sv[1], f, n, MSG_NOSIGNAL), (ssize_t)n);
	/* One turn, its send refused: only what passed the limit is done. */
	fault_fd = fx->sv[0];
	send_fault.err = EAGAIN;
	tick(fx);
	assert_int_equal(nev = epoll_wait(fx->epfd, evs, 8, 1000), 1);
	conn_event(&fx->wc, evs[0].data.ptr, evs[0].events);
	assert_int_equal(send_fault.err, 0);
	assert_int_equal(SLOT(fx, req_echo), 71);
	assert_int_equal(SLOT(fx, bytes_in), 16384);
	for (i = 0; i < 200; i++) {
		answer(fx, &h, body, sizeof(body));
		assert_int_equal(h.request_id, (uint32_t)i);
		assert_int_equal(h.body_len, sizeof(val));
		assert_memory_equal(body, val, sizeof(val));
	}
	expect_quiet(fx);
	assert_int_equal(SLOT(fx, req_echo), 200);
}

/*
 * No memory for a run's answers (its first frames whole, the last not,
 * so they would be copied out): the run is given back as it came and
 * answered frame by frame, each answer what the client asked for.
 */
static void
test_conn_run_no_memory(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		 f[256];
	size_t		 n = 0;

	n += frame(f + n, MSG_OP_ECHO, 1, NULL, "one", 3);
	n += frame(f + n, MSG_OP_ECHO, 2, NULL, "two", 3);
	n += frame(f + n, MSG_OP_ECHO, 3, NULL, "three", 5);
	n += frame(f + n, MSG_OP_ECHO, 4, NULL, "four", 4);
	reserve_fail = 1;
	csend(fx, f, n - 2);
	expect(fx, MSG_OP_ECHO, 1, MSG_ST_OK, "one");
	expect(fx, MSG_OP_ECHO, 2, MSG_ST_OK, "two");
	expect(fx, MSG_OP_ECHO, 3, MSG_ST_OK, "three");
	assert_int_equal(reserve_fail, 0);
	csend(fx, f + n - 2, 2);
	expect(fx, MSG_OP_ECHO, 4, MSG_ST_OK, "four");
	expect_quiet(fx);
	assert_int_equal(SLOT(fx, req_echo), 4);
	assert_int_equal(SLOT(fx, st_ok), 4);
	assert_int_equal(SLOT(fx, proto_errors), 0);
}

/* Bytes the server has not read yet from its socket. */
static int
unread(struct fixture *fx)
{
	int	n = 0;

	assert_int_equal(ioctl(fx->sv[0], FIONREAD, &n), 0);
	return (n);
}

/* Wait (bounded) until n bytes sent wait in the server's socket. */
static void
arrived(struct fixture *fx, int n)
{
	int	turns;

	for (turns = 0; unread(fx) < n && turns < TURNS; turns++)
		(void)poll(NULL, 0, 1);
	assert_int_equal(unread(fx), n);
}

/* Wait (bounded) until the client's end reached the server's socket. */
static void
ended(struct fixture *fx)
{
	struct pollfd	pfd = { .fd = fx->sv[0], .events = POLLRDHUP };

	assert_int_equal(poll(&pfd, 1, 10000), 1);
	assert_true(pfd.revents & POLLRDHUP);
}

/*
 * Two requests with what stops a read short between them, all queued
 * before the server looks: how 'T', over TCP, an urgent byte (MSG_OOB:
 * the read stops at its mark, epoll says EPOLLPRI); 'S', the same, and
 * the read at the mark refused with EAGAIN, as when a signal is pending
 * for the worker; over a unix socket, 'U', an urgent byte, or 'F', a
 * descriptor passed with the first request (the read stops after it).
 * Both requests are answered at once, no new byte needed.
 */
static void
short_by(struct fixture *fx, int how)
{
	uint8_t		 f1[64], f2[64];
	size_t		 n1, n2;
	int		 outq = -1, turns;
	ssize_t		 w;

	n1 = frame(f1, MSG_OP_PING, 1, NULL, NULL, 0);
	n2 = frame(f2, MSG_OP_UPPER, 2, NULL, "two", 3);
	if (how == 'F')
		assert_int_equal(fd_send(fx->sv[1], f1, n1, fx->epfd, NULL, 0,
		    MSG_NOSIGNAL), (ssize_t)n1);
	else {
		assert_int_equal(send(fx->sv[1], f1, n1, MSG_NOSIGNAL),
		    (ssize_t)n1);
		/* Unix sockets have urgent data since Linux 5.15. */
		if ((w = send(fx->sv[1], "X", 1, MSG_OOB | MSG_NOSIGNAL)) ==
		    -1 && errno == EOPNOTSUPP && how == 'U')
			skip();
		assert_int_equal(w, 1);
	}
	assert_int_equal(send(fx->sv[1], f2, n2, MSG_NOSIGNAL), (ssize_t)n2);
	if (how == 'S') {
		/* The first read stops at the mark, the next is refused. */
		fault_fd = fx->sv[0];
		read_fault.pass = 1;
		read_fault.eagain = 1;
	}
	/*
	 * All of it queued before the server looks: over TCP once the
	 * client's every byte is acknowledged (FIONREAD stops at the mark).
	 */
	if (how == 'T' || how == 'S') {
		for (turns = 0; turns < TURNS && (ioctl(fx->sv[1], SIOCOUTQ,
		    &outq) == -1 || outq > 0); turns++)
			(void)poll(NULL, 0, 1);
		assert_int_equal(outq, 0);
		arrived(fx, (int)n1);
	} else
		arrived(fx, (int)(n1 + n2 + (how == 'U')));
	expect(fx, MSG_OP_PING, 1, MSG_ST_OK, "PONG");
	expect(fx, MSG_OP_UPPER, 2, MSG_ST_OK, "TWO");
	expect_quiet(fx);
}

static void
test_conn_short_by_urgent_tcp(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		 f[64];
	size_t		 n;

	short_by(fx, 'T');
	/* The urgent byte is behind: a short read means empty again. */
	n = frame(f, MSG_OP_PING, 3, NULL, NULL, 0);
	fault_fd = fx->sv[0];
	read_fault.calls = 0;
	assert_int_equal(send(fx->sv[1], f, n, MSG_NOSIGNAL), (ssize_t)n);
	arrived(fx, (int)n);
	expect(fx, MSG_OP_PING, 3, MSG_ST_OK, "PONG");
	assert_int_equal(read_fault.calls, 1);
}

static void
test_conn_short_by_urgent_refused(void **state)
{
	short_by(*state, 'S');
	assert_int_equal(read_fault.eagain, 0);
}

static void
test_conn_short_by_urgent_unix(void **state)
{
	short_by(*state, 'U');
}

static void
test_conn_short_by_fd(void **state)
{
	short_by(*state, 'F');
}

/*
 * Edge-triggered, epoll reports input once.  Reading stopped at the output
 * limit, and the answers all went out within the same event: the
 * registration did not change, and no event will come for the input left
 * in the socket.  It is read all the same (wc->ready), in order.
 */
static void
test_conn_edge_output_limit(void **state)
{
	struct fixture		*fx = *state;
	struct epoll_event	 evs[8];
	static uint8_t		 f[40 * (MSG_HDR_LEN + 1024)];
	uint8_t			 val[1024], body[1024];
	struct msg_hdr		 h;
	size_t			 n = 0;
	int			 i;

	memset(val, 'e', sizeof(val));
	for (i = 0; i < 40; i++)
		n += frame(f + n, MSG_OP_ECHO, (uint32_t)i, NULL, val,
		    sizeof(val));
	assert_int_equal(send(fx->sv[1], f, n, MSG_NOSIGNAL), (ssize_t)n);
	arrived(fx, (int)n);
	tick(fx);
	assert_int_equal(epoll_wait(fx->epfd, evs, 8, 1000), 1);
	/* Batched (setup_batch_tcp_small): the read and the send by the ring. */
	if (fx->wc.iob != NULL) {
		assert_int_equal(conn_batch_read(&fx->wc, evs[0].data.ptr,
		    evs[0].events), 1);
		conn_batch_reads(&fx->wc, 1);
		fx->wc.parking = 1;
	}
	conn_event(&fx->wc, evs[0].data.ptr, evs[0].events);
	if (fx->wc.iob != NULL) {
		conn_batch_end(&fx->wc);
		assert_int_equal(fx->iob.runs, 2);
	}
	/* Answers went out; input waits, and epoll says nothing of it. */
	assert_true(SLOT(fx, req_echo) > 0);
	assert_true(SLOT(fx, req_echo) < 40);
	assert_true(unread(fx) > 0);
	assert_int_equal(epoll_wait(fx->epfd, evs, 8, 0), 0);
	for (i = 0; i < 40; i++) {
		answer(fx, &h, body, sizeof(body));
		assert_int_equal(h.request_id, (uint32_t)i);
		assert_int_equal(h.body_len, sizeof(val));
		assert_memory_equal(body, val, sizeof(val));
	}
	expect_quiet(fx);
	assert_int_equal(unread(fx), 0);
	assert_int_equal(SLOT(fx, req_echo), 40);
}

/*
 * Requests and the client's end arrive before the server looks: one event
 * reports both, and its read of the requests stops short of the end.  The
 * end is read all the same (no later event would report it): answers,
 * then the close.
 */
static void
test_conn_edge_eof_with_data(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		 f[128];
	size_t		 n;

	n = frame(f, MSG_OP_PING, 31, NULL, NULL, 0);
	n += frame(f + n, MSG_OP_UPPER, 32, NULL, "end", 3);
	assert_int_equal(send(fx->sv[1], f, n, MSG_NOSIGNAL), (ssize_t)n);
	assert_int_equal(shutdown(fx->sv[1], SHUT_WR), 0);
	arrived(fx, (int)n);
	ended(fx);
	expect(fx, MSG_OP_PING, 31, MSG_ST_OK, "PONG");
	expect(fx, MSG_OP_UPPER, 32, MSG_ST_OK, "END");
	expect_eof(fx);
}

/* The client sends what the socket takes now of p[*off..len). */
static void
csend_some(struct fixture *fx, const uint8_t *p, size_t len, size_t *off)
{
	ssize_t	w;

	while (*off < len && (w = send(fx->sv[1], p + *off, len - *off,
	    MSG_NOSIGNAL | MSG_DONTWAIT)) > 0)
		*off += (size_t)w;
	pump(fx);
}

/*
 * A client that sends and never reads: once the answers queued for it
 * pass output_limit, the server reads no more of it (its input stays in
 * the socket).  When the client reads, everything is answered, in order.
 */
static void
test_conn_backpressure(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		*stream, val[4096], body[4096];
	struct msg_hdr	 h;
	size_t		 flen = MSG_HDR_LEN + sizeof(val), len, off = 0, last;
	int		 sndbuf = 4096, i, got = 0, total = 400, turns;

	/* A small socket buffer: the output queue in the server fills. */
	assert_int_equal(setsockopt(fx->sv[0], SOL_SOCKET, SO_SNDBUF,
	    &sndbuf, sizeof(sndbuf)), 0);
	memset(val, 'p', sizeof(val));
	len = flen * (size_t)total;
	assert_non_null(stream = malloc(len));
	for (i = 0; i < total; i++)
		frame(stream + flen * (size_t)i, MSG_OP_ECHO, (uint32_t)i, NULL,
		    val, sizeof(val));
	/* Send until the server takes no more. */
	for (turns = 0, last = (size_t)-1; off != last && turns < TURNS;
	    turns++) {
		last = off;
		csend_some(fx, stream, len, &off);
	}
	/* Stopped: what was sent waits unread in the server's socket. */
	assert_true(off < len);
	assert_true((i = unread(fx)) > 0);
	pump(fx);
	assert_int_equal(unread(fx), i);
	/* Reading resumes it: all answers, in order. */
	for (turns = 0; got < total && turns < TURNS; turns++) {
		answer(fx, &h, body, sizeof(body));
		assert_int_equal(h.request_id, (uint32_t)got);
		assert_int_equal(h.status, MSG_ST_OK);
		assert_int_equal(h.body_len, sizeof(val));
		assert_memory_equal(body, val, sizeof(val));
		got++;
		csend_some(fx, stream, len, &off);
	}
	free(stream);
	assert_int_equal(got, total);
	assert_int_equal(off, len);
	expect_quiet(fx);
}

/* Larger than max_body: TOO_LARGE for that request, then the end. */
static void
test_conn_oversize(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		 f[64];
	size_t		 n;

	n = frame(f, MSG_OP_PING, 3, NULL, NULL, 0);
	/* Only the header: the body is never read. */
	msg_encode_request(f + n, MSG_OP_ECHO, 4, 0, MAX_BODY + 1);
	csend(fx, f, n + MSG_HDR_LEN);
	expect(fx, MSG_OP_PING, 3, MSG_ST_OK, "PONG");
	expect(fx, MSG_OP_ECHO, 4, MSG_ST_TOO_LARGE, NULL);
	expect_eof(fx);
}

/* Before AUTH no frame may be large; after it max_body holds. */
static void
test_conn_preauth_limit(void **state)
{
	struct fixture	*fx = *state;
	static uint8_t	 f[MSG_HDR_LEN + MSG_PREAUTH_BODY_MAX + 1];
	static uint8_t	 v[MSG_PREAUTH_BODY_MAX + 1];
	struct msg_hdr	 h;
	size_t		 n;

	memset(v, 'a', sizeof(v));
	n = frame(f, MSG_OP_AUTH, 5, NULL, TOKEN, strlen(TOKEN));
	csend(fx, f, n);
	expect(fx, MSG_OP_AUTH, 5, MSG_ST_OK, NULL);
	n = frame(f, MSG_OP_ECHO, 6, NULL, v, sizeof(v));
	csend(fx, f, n);
	answer(fx, &h, NULL, 0);
	assert_int_equal(h.request_id, 6);
	assert_int_equal(h.status, MSG_ST_OK);
	assert_int_equal(h.body_len, sizeof(v));
	expect_quiet(fx);
}

static void
test_conn_preauth_too_large(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		 f[MSG_HDR_LEN];

	msg_encode_request(f, MSG_OP_AUTH, 7, 0, MSG_PREAUTH_BODY_MAX + 1);
	csend(fx, f, sizeof(f));
	expect(fx, MSG_OP_AUTH, 7, MSG_ST_TOO_LARGE, NULL);
	expect_eof(fx);
}

/* Before AUTH only PING and AUTH; a wrong token ends the connection. */
static void
test_conn_auth(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		 f[128];
	size_t		 n;

	n = frame(f, MSG_OP_ECHO, 8, NULL, "x", 1);
	n += frame(f + n, MSG_OP_PING, 9, NULL, NULL, 0);
	csend(fx, f, n);
	expect(fx, MSG_OP_ECHO, 8, MSG_ST_DENIED, NULL);
	expect(fx, MSG_OP_PING, 9, MSG_ST_OK, "PONG");
	/* What follows a wrong token is never answered. */
	n = frame(f, MSG_OP_AUTH, 10, NULL, "wrong", 5);
	n += frame(f + n, MSG_OP_PING, 11, NULL, NULL, 0);
	csend(fx, f, n);
	expect(fx, MSG_OP_AUTH, 10, MSG_ST_DENIED, "wrong token");
	expect_eof(fx);
}

/* A wrong first byte: framing is lost, BAD_REQUEST and the end. */
static void
test_conn_bad_magic(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		 f[64];
	size_t		 n;

	n = frame(f, MSG_OP_PING, 12, NULL, NULL, 0);
	memcpy(f + n, "GET / HTTP/1.0\r\n", 16);
	csend(fx, f, n + 16);
	expect(fx, MSG_OP_PING, 12, MSG_ST_OK, "PONG");
	expect(fx, MSG_OP_NONE, 0, MSG_ST_BAD_REQUEST, NULL);
	expect_eof(fx);
}

/* A frame error that keeps framing: its body is skipped, the rest served. */
static void
test_conn_bad_frame_skipped(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		 f[128];
	size_t		 n;

	n = frame(f, MSG_OP_ECHO, 13, NULL, "skipped", 7);
	f[3] |= MSG_F_RESPONSE;		/* flags: a response, not a request */
	n += frame(f + n, MSG_OP_ECHO, 14, NULL, "served", 6);
	csend(fx, f, n);
	expect(fx, MSG_OP_ECHO, 13, MSG_ST_BAD_REQUEST, NULL);
	expect(fx, MSG_OP_ECHO, 14, MSG_ST_OK, "served");
	expect_quiet(fx);
}

/* The client finished sending: answered, then closed. */
static void
test_conn_eof(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		 f[128];
	size_t		 n;

	n = frame(f, MSG_OP_PING, 15, NULL, NULL, 0);
	n += frame(f + n, MSG_OP_UPPER, 16, NULL, "last", 4);
	csend(fx, f, n);
	assert_int_equal(shutdown(fx->sv[1], SHUT_WR), 0);
	expect(fx, MSG_OP_PING, 15, MSG_ST_OK, "PONG");
	expect(fx, MSG_OP_UPPER, 16, MSG_ST_OK, "LAST");
	expect_eof(fx);
}

/* No request for idle_timeout: closed; the loop knows when to wake. */
static void
test_conn_idle_timeout(void **state)
{
	struct fixture	*fx = *state;
	int		 wait;

	expect_ping(fx, 17);
	wait = conn_expire(&fx->wc);
	assert_true(wait > 0 && wait <= IDLE_MS);
	advance(fx, IDLE_MS - 100);
	expect_quiet(fx);
	advance(fx, 200);
	expect_eof(fx);
}

/*
 * What a client sees is counted first: its answer, its connection's
 * close (EOF, an idle timeout).  Nothing here calls conn_publish(); the
 * gauge conn_active goes down by the pending record's (uint64_t)-1.
 */
static void
test_conn_counted_before_seen(void **state)
{
	struct fixture	*fx = *state;

	expect_ping(fx, 30);
	assert_int_equal(SLOT(fx, conn_accepted), 1);
	assert_int_equal(SLOT(fx, conn_active), 1);
	assert_int_equal(SLOT(fx, req_ping), 1);
	assert_int_equal(SLOT(fx, conn_closed), 0);
	assert_int_equal(shutdown(fx->sv[1], SHUT_WR), 0);
	expect_eof(fx);
	assert_int_equal(SLOT(fx, conn_active), 0);
	assert_int_equal(SLOT(fx, conn_closed), 1);
}

static void
test_conn_idle_timeout_counted(void **state)
{
	struct fixture	*fx = *state;

	expect_ping(fx, 31);
	advance(fx, IDLE_MS + 100);
	expect_eof(fx);
	assert_int_equal(SLOT(fx, idle_timeouts), 1);
	assert_int_equal(SLOT(fx, conn_active), 0);
	assert_int_equal(SLOT(fx, conn_closed), 1);
}

/*
 * Bytes sent are counted after their send, so they miss the publish that
 * precedes it; the end of the loop turn publishes them at once (the loop
 * then sleeps without a short timeout), even within the millisecond of
 * the last publish.
 */
static void
test_conn_bytes_published_at_turn_end(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		 f[64];
	size_t		 n;

	n = frame(f, MSG_OP_PING, 32, NULL, NULL, 0);
	csend(fx, f, n);
	expect(fx, MSG_OP_PING, 32, MSG_ST_OK, "PONG");
	assert_int_equal(SLOT(fx, bytes_in), n);
	assert_int_equal(SLOT(fx, bytes_out), 0);
	conn_publish_end(&fx->wc);
	assert_int_equal(SLOT(fx, bytes_out), MSG_HDR_LEN + 4);
	assert_int_equal(fx->wc.pend.dirty, 0);
}

/*
 * The frames answered from one read are timed with one reading of the
 * clock, taken before their answers are sent: a reading per frame cost
 * more than the rest of the statistics at pipeline depth 16.
 */
static void
test_conn_one_clock_per_read(void **state)
{
	struct fixture	*fx = *state;
	struct hist	*h = &stats_slot(&fx->seg, 0)->c.latency;
	static uint8_t	 f[64 * 32];
	size_t		 n = 0;
	uint32_t	 i;

	for (i = 0; i < 64; i++)
		n += frame(f + n, i % 2 ? MSG_OP_ECHO : MSG_OP_PING, 500 + i,
		    NULL, "x", 1);
	clock_ahead = 7;	/* every frame took at least 7 us */
	clock_reads = 0;
	csend(fx, f, n);
	assert_int_equal(clock_reads, 1);
	for (i = 0; i < 64; i++)
		expect(fx, i % 2 ? MSG_OP_ECHO : MSG_OP_PING, 500 + i,
		    MSG_ST_OK, i % 2 ? "x" : "PONG");
	assert_int_equal(SLOT(fx, req_echo), 32);
	assert_int_equal(SLOT(fx, req_ping), 32);
	assert_int_equal(h->count, 64);
	assert_true(h->max >= 7);
	/* One reading: the same time for all, so one bucket holds them. */
	assert_int_equal(h->bucket[hist_bucket(h->max)], 64);
	assert_int_equal(h->sum, 64 * h->max);
}

/* A frame begun and not finished within read_timeout: closed. */
static void
test_conn_read_timeout(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		 f[64];
	size_t		 n;
	int		 wait;

	n = frame(f, MSG_OP_ECHO, 18, NULL, "slow", 4);
	csend(fx, f, n - 1);
	wait = conn_expire(&fx->wc);
	assert_true(wait > 0 && wait <= READ_MS);
	advance(fx, READ_MS - 100);
	expect_quiet(fx);
	advance(fx, 200);
	expect_eof(fx);
}

/*
 * The worker stops: requests already received are all answered, then the
 * connection closes (FIN after the last answer).
 */
static void
test_conn_drain(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		 f[128];
	size_t		 n;
	ssize_t		 w;

	n = frame(f, MSG_OP_PING, 19, NULL, NULL, 0);
	n += frame(f + n, MSG_OP_ECHO, 20, NULL, "in flight", 9);
	n += frame(f + n, MSG_OP_UPPER, 21, NULL, "too", 3);
	/* Sent, not yet read by the server: no pump. */
	w = send(fx->sv[1], f, n, MSG_NOSIGNAL);
	assert_int_equal(w, (ssize_t)n);
	conn_drain_all(&fx->wc, 1000, 0);
	expect(fx, MSG_OP_PING, 19, MSG_ST_OK, "PONG");
	expect(fx, MSG_OP_ECHO, 20, MSG_ST_OK, "in flight");
	expect(fx, MSG_OP_UPPER, 21, MSG_ST_OK, "TOO");
	/* The server shuts its side once all is answered. */
	expect_eof(fx);
}

/* Draining, an idle connection waits the grace period, then closes. */
static void
test_conn_drain_idle(void **state)
{
	struct fixture	*fx = *state;

	conn_drain_all(&fx->wc, 200, 0);
	advance(fx, 100);
	expect_quiet(fx);
	advance(fx, 200);
	expect_eof(fx);
}

/*
 * Handing over while draining, the channel refuses for a while: EAGAIN
 * (full) or ETOOMANYREFS (the workers' user has as many descriptors in
 * flight as its limit of open files, while the master reads none):
 * either way the connection is kept and tried again, never closed.
 */
static void
test_conn_handoff_refused_retried(void **state)
{
	static const int	 errs[] = { EAGAIN, ETOOMANYREFS };
	struct fixture		*fx = *state;
	struct net_peer		 peer;
	struct xfer_info	 info;
	char			 x;
	int			 ch[2], sp[2], fd, i;

	for (i = 0; i < 2; i++) {
		assert_int_equal(xfer_pair(ch), 0);
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM |
		    SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
		fx->wc.handoff_fd = ch[0];
		memset(&peer, 0, sizeof(peer));
		peer.family = AF_UNIX;
		assert_non_null(conn_new(&fx->wc, sp[0], &peer, 0));
		sendmsg_err = errs[i];
		conn_drain_all(&fx->wc, 1000, 1);
		/* Refused: still ours and open, nothing in the channel. */
		assert_int_equal(recv(sp[1], &x, 1, MSG_DONTWAIT), -1);
		assert_int_equal(errno, EAGAIN);
		assert_int_equal(xfer_recv(ch[1], &fd, &info), 0);
		/* The retry, CONN_HANDOFF_RETRY_MS later, goes through. */
		advance(fx, 20);
		assert_int_equal(xfer_recv(ch[1], &fd, &info), 1);
		/* It is that connection: what goes in comes out at sp[1]. */
		assert_int_equal(write(fd, "y", 1), 1);
		assert_int_equal(read(sp[1], &x, 1), 1);
		assert_int_equal(x, 'y');
		close(fd);
		close(sp[1]);
		close(ch[1]);
		close(ch[0]);
		fx->wc.handoff_fd = -1;
		fx->wc.draining = fx->wc.handoff = 0;
	}
}

/*
 * A connection another worker hands over may come blocking (a compromised
 * worker's), or be made blocking later by a sender that kept a copy:
 * adopting makes it non-blocking, and each read and send on it asks not
 * to wait.  Here a read fills the block exactly, so the next one finds
 * the socket empty: it must say EAGAIN, not wait (alarm: a wait fails).
 */
static void
test_conn_adopt_blocking(void **state)
{
	struct fixture		*fx = *state;
	struct xfer_info	 info;
	struct msg_hdr		 h;
	static uint8_t		 f[BUF_STD], body[BUF_STD];
	int			 sp[2], keep;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sp), 0);
	memset(&info, 0, sizeof(info));
	info.version = XFER_VERSION;
	info.peer.family = AF_UNIX;
	/* Its first read, at adoption, finds nothing. */
	alarm(10);
	assert_int_equal(conn_adopt(&fx->wc, sp[0], &info, 0), 0);
	assert_true(fcntl(sp[0], F_GETFL) & O_NONBLOCK);
	/* The sender's copy (here the same) makes it blocking again. */
	assert_int_equal(fcntl(sp[0], F_SETFL, 0), 0);
	memset(f + MSG_HDR_LEN, 'b', sizeof(f) - MSG_HDR_LEN);
	msg_encode_request(f, MSG_OP_ECHO, 9, 0, sizeof(f) - MSG_HDR_LEN);
	assert_int_equal(fcntl(sp[1], F_SETFL, O_NONBLOCK), 0);
	keep = fx->sv[1];
	fx->sv[1] = sp[1];	/* the client: csend, answer */
	csend(fx, f, sizeof(f));
	answer(fx, &h, body, sizeof(body));
	alarm(0);
	assert_int_equal(h.request_id, 9);
	assert_int_equal(h.body_len, sizeof(f) - MSG_HDR_LEN);
	assert_memory_equal(body, f + MSG_HDR_LEN, h.body_len);
	fx->sv[1] = keep;
	close(sp[1]);
}

/*
 * The same over TCP with an ECHO of splice's size: an adopted connection
 * is never spliced (splice waits on a TCP socket made blocking), and its
 * answer, far larger than the small socket buffers here while the client
 * reads nothing, goes out without waiting.
 */
static void
test_conn_adopt_blocking_tcp(void **state)
{
	struct fixture		*fx = *state;
	struct xfer_info	 info;
	struct msg_hdr		 h;
	static uint8_t		 f[MSG_HDR_LEN + 256 * 1024], body[256 * 1024];
	int			 tp[2], keep, small = 4096;

	assert_int_equal(tcp_pair(tp), 0);
	assert_int_equal(setsockopt(tp[0], SOL_SOCKET, SO_SNDBUF, &small,
	    sizeof(small)), 0);
	assert_int_equal(setsockopt(tp[1], SOL_SOCKET, SO_RCVBUF, &small,
	    sizeof(small)), 0);
	memset(&info, 0, sizeof(info));
	info.version = XFER_VERSION;
	info.peer.family = AF_INET;
	alarm(20);
	assert_int_equal(conn_adopt(&fx->wc, tp[0], &info, 0), 0);
	assert_int_equal(fcntl(tp[0], F_SETFL, 0), 0);
	memset(f + MSG_HDR_LEN, 't', sizeof(f) - MSG_HDR_LEN);
	msg_encode_request(f, MSG_OP_ECHO, 11, 0, sizeof(f) - MSG_HDR_LEN);
	keep = fx->sv[1];
	fx->sv[1] = tp[1];
	csend(fx, f, sizeof(f));
	answer(fx, &h, body, sizeof(body));
	alarm(0);
	assert_int_equal(h.request_id, 11);
	assert_int_equal(h.body_len, sizeof(body));
	assert_memory_equal(body, f + MSG_HDR_LEN, sizeof(body));
	fx->sv[1] = keep;
	close(tp[1]);
}

/*
 * An adopted connection is closed without lingering, whatever its sender
 * set through the copy it kept (a last close that lingers waits, the loop
 * with it).  Seen through that copy, which outlives the close.
 */
static void
test_conn_adopt_no_linger(void **state)
{
	struct fixture		*fx = *state;
	struct xfer_info	 info;
	struct linger		 l;
	socklen_t		 len = sizeof(l);
	int			 sp[2], copy;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sp), 0);
	assert_true((copy = dup(sp[0])) != -1);
	memset(&info, 0, sizeof(info));
	info.version = XFER_VERSION;
	info.peer.family = AF_UNIX;
	assert_int_equal(conn_adopt(&fx->wc, sp[0], &info, 0), 0);
	l.l_onoff = 1;
	l.l_linger = 3600;
	assert_int_equal(setsockopt(copy, SOL_SOCKET, SO_LINGER, &l,
	    sizeof(l)), 0);
	conn_close_all(&fx->wc);
	memset(&l, 0xff, sizeof(l));
	assert_int_equal(getsockopt(copy, SOL_SOCKET, SO_LINGER, &l, &len),
	    0);
	assert_int_equal(l.l_onoff, 0);
	close(copy);
	close(sp[1]);
}

static void
test_conn_close_all(void **state)
{
	struct fixture	*fx = *state;

	expect_ping(fx, 22);
	conn_close_all(&fx->wc);
	expect_eof(fx);
}

/* Requests 0..n-1, ECHO of "value <i>", in one send; answered in order. */
static void
echo_run(struct fixture *fx, uint32_t n)
{
	static uint8_t	f[100 * 64];
	char		v[32];
	size_t		len = 0;
	uint32_t	i;

	assert_true(n <= 100);
	for (i = 0; i < n; i++) {
		snprintf(v, sizeof(v), "value %u", i);
		len += frame(f + len, MSG_OP_ECHO, i, NULL, v, strlen(v));
	}
	csend(fx, f, len);
	for (i = 0; i < n; i++) {
		snprintf(v, sizeof(v), "value %u", i);
		expect(fx, MSG_OP_ECHO, i, MSG_ST_OK, v);
	}
	expect_quiet(fx);
}

/* Answers written a few bytes at a time, sends interrupted: all arrive. */
static void
test_conn_short_writes(void **state)
{
	struct fixture	*fx = *state;

	fault_fd = fx->sv[0];
	send_fault.max = 5;
	send_fault.eintr = 3;
	echo_run(fx, 40);
	assert_true(send_fault.calls > 40);
}

/* Requests read a few bytes at a time, reads interrupted: all answered. */
static void
test_conn_short_reads(void **state)
{
	struct fixture	*fx = *state;

	fault_fd = fx->sv[0];
	read_fault.max = 3;
	read_fault.eintr = 2;
	echo_run(fx, 40);
	assert_true(read_fault.calls > 40);
}

/* The socket will not take the answer now: it goes out when it can. */
static void
test_conn_send_eagain(void **state)
{
	struct fixture	*fx = *state;

	fault_fd = fx->sv[0];
	send_fault.err = EAGAIN;
	echo_run(fx, 3);
	assert_true(send_fault.calls >= 2);
}

/* A send that fails for good closes the connection, nothing sent. */
static void
test_conn_send_error(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		 f[64];

	fault_fd = fx->sv[0];
	send_fault.err = ECONNRESET;
	csend(fx, f, frame(f, MSG_OP_PING, 23, NULL, NULL, 0));
	expect_eof(fx);
	assert_int_equal(send_fault.calls, 1);
}

/*
 * A read that fails for good closes the connection; the request it left
 * unread makes the close a reset.
 */
static void
test_conn_read_error(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		 f[64];

	fault_fd = fx->sv[0];
	read_fault.err = EIO;
	csend(fx, f, frame(f, MSG_OP_PING, 24, NULL, NULL, 0));
	expect_reset(fx);
}

/* An ECHO of len bytes of a pattern keyed by id, sent whole. */
static void
big_echo_send(struct fixture *fx, uint32_t id, size_t len)
{
	uint8_t	*f;
	size_t	 i;

	assert_non_null(f = malloc(MSG_HDR_LEN + len));
	msg_encode_request(f, MSG_OP_ECHO, id, 0, (uint32_t)len);
	for (i = 0; i < len; i++)
		f[MSG_HDR_LEN + i] = (uint8_t)(i * 7 + id);
	csend(fx, f, MSG_HDR_LEN + len);
	free(f);
}

/* Its answer: the same bytes. */
static void
big_echo_expect(struct fixture *fx, uint32_t id, size_t len)
{
	struct msg_hdr	 h;
	uint8_t		*b;
	size_t		 i, bad = 0;

	assert_non_null(b = malloc(len));
	answer(fx, &h, b, len);
	assert_int_equal(h.request_id, id);
	assert_int_equal(h.status, MSG_ST_OK);
	assert_int_equal(h.body_len, len);
	for (i = 0; i < len; i++)
		bad += b[i] != (uint8_t)(i * 7 + id);
	assert_int_equal(bad, 0);
	free(b);
}

/*
 * TCP urgent data in the middle of a spliced ECHO's body: splice(2) stops
 * at its mark for good while epoll reports the bytes after it.  The rest
 * is read past the urgent byte instead (before: a level-triggered busy
 * loop until read_timeout; here pump's bound of turns runs out).
 */
static void
test_conn_splice_urgent(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		*f;
	size_t		 len = 200 * 1024, i, first = 32 * 1024;

	assert_non_null(f = malloc(MSG_HDR_LEN + len));
	msg_encode_request(f, MSG_OP_ECHO, 5, 0, (uint32_t)len);
	for (i = 0; i < len; i++)
		f[MSG_HDR_LEN + i] = (uint8_t)(i * 7 + 5);
	csend(fx, f, MSG_HDR_LEN + first);
	assert_int_equal(send(fx->sv[1], "U", 1, MSG_OOB | MSG_NOSIGNAL), 1);
	csend(fx, f + MSG_HDR_LEN + first, len - first);
	free(f);
	big_echo_expect(fx, 5, len);
	expect_ping(fx, 6);
}

/*
 * Large ECHOs spliced 4 KiB a call, bodies of every length from 64 KiB
 * in 4 KiB steps: whatever step of an event's bounded number the answer
 * completes on, it is counted and the connection serves the next one
 * (before: one that completed on the last step was left with nothing to
 * wait for, and stalled).
 */
static void
test_conn_splice_steps(void **state)
{
	struct fixture	*fx = *state;
	uint32_t	 k;
	size_t		 len;

	fault_fd = fx->sv[0];
	splice_fault.max = 4096;
	for (k = 0; k < 48; k++) {
		len = BUF_STD - MSG_HDR_LEN + 4096 * (12 + k);
		big_echo_send(fx, k + 1, len);
		big_echo_expect(fx, k + 1, len);
	}
	assert_true(splice_fault.calls > 48 * 2 * 12);
	expect_ping(fx, 99);
}

/*
 * A client that writes a frame larger than the socket buffers before it
 * reads a byte: the worker reads it all the same (the answer's rest is
 * spilled to memory) and the client gets every byte back.
 */
static void
test_conn_splice_spill(void **state)
{
	struct fixture	*fx = *state;

	big_echo_send(fx, 7, 900 * 1024);
	big_echo_expect(fx, 7, 900 * 1024);
	expect_ping(fx, 8);
}

/*
 * The socket takes nothing of a spliced answer's start for n sends while
 * the whole frame is in: the body is spilled.  Whichever send the socket
 * takes again at, the spilled rest follows (before: when the last of
 * c->out left in conn_event's flush, after conn_splice, the spilled bytes
 * stayed in c->in with no interest registered, and the answer stalled).
 */
static void
test_conn_splice_spill_blocked(void **state)
{
	struct fixture	*fx = *state;
	int		 n;

	fault_fd = fx->sv[0];
	for (n = 1; n <= 16; n++) {
		send_fault.eagain = n;
		big_echo_send(fx, (uint32_t)n, 100 * 1024);
		big_echo_expect(fx, (uint32_t)n, 100 * 1024);
	}
	expect_ping(fx, 99);
}

/*
 * 1 MiB ECHOs written whole while the socket takes nothing of the answer
 * for a while (0, step, ... max sends refused): spilled, part of the
 * spill sent while the client still sends.  Within a buffer_budget of
 * budget each is answered, none closed as over it.
 */
static void
spill_within(struct fixture *fx, uint64_t budget, int step, int max)
{
	int	n;

	fx->wc.budget = budget;
	fault_fd = fx->sv[0];
	for (n = 0; n <= max; n += step) {
		send_fault.eagain = n;
		big_echo_send(fx, (uint32_t)n + 1, MAX_BODY);
		big_echo_expect(fx, (uint32_t)n + 1, MAX_BODY);
	}
	expect_ping(fx, 8);
	assert_int_equal(fx->wc.nconns, 1);
}

/*
 * The frame and 128 KiB suffice (before: what moved to c->out stayed
 * reserved for c->in too, 1.26 MiB held for one 1 MiB frame).
 */
static void
test_conn_splice_spill_budget(void **state)
{
	spill_within(*state, MAX_BODY + 16 + 128 * 1024, 2, 8);
}

/*
 * So does the least buffer_budget a configuration may set (max_body +
 * 16): a spilled ECHO holds no more than the frame, as one read whole
 * does (before: the spill buffer's doubling and the rest's reservation
 * passed it, and the connection was closed).
 */
static void
test_conn_splice_spill_min_budget(void **state)
{
	spill_within(*state, MAX_BODY + 16, 3, 12);
}

/*
 * A client that may not ECHO gets no ECHO by splice either: before AUTH
 * a large frame is refused by the pre-auth limit (and the connection
 * ends), in protected mode it is read whole and DENIED (the connection
 * stays); no splice call either way.  After AUTH it is spliced.
 */
static void
test_conn_splice_before_auth(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		 f[MSG_HDR_LEN + 1024];

	fault_fd = fx->sv[0];
	msg_encode_request(f, MSG_OP_ECHO, 4, 0, 200 * 1024);
	memset(f + MSG_HDR_LEN, 'e', 1024);
	csend(fx, f, sizeof(f));
	expect(fx, MSG_OP_ECHO, 4, MSG_ST_TOO_LARGE, NULL);
	expect_eof(fx);
	assert_int_equal(splice_fault.calls, 0);
}

static void
test_conn_splice_after_auth(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		 f[128];

	fault_fd = fx->sv[0];
	csend(fx, f, frame(f, MSG_OP_AUTH, 1, NULL, TOKEN, strlen(TOKEN)));
	expect(fx, MSG_OP_AUTH, 1, MSG_ST_OK, NULL);
	big_echo_send(fx, 2, 200 * 1024);
	big_echo_expect(fx, 2, 200 * 1024);
	assert_true(splice_fault.calls > 0);
}

static void
test_conn_splice_restricted(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		*f;
	size_t		 len = 200 * 1024;

	fault_fd = fx->sv[0];
	assert_non_null(f = calloc(1, MSG_HDR_LEN + len));
	msg_encode_request(f, MSG_OP_ECHO, 5, 0, (uint32_t)len);
	csend(fx, f, MSG_HDR_LEN + len);
	free(f);
	expect(fx, MSG_OP_ECHO, 5, MSG_ST_DENIED, NULL);
	expect_ping(fx, 6);
	assert_int_equal(splice_fault.calls, 0);
}

/*
 * A spliced ECHO is counted, timed, before the client has all of its
 * answer, as every answer is (nothing here ends a loop turn, whose
 * publish would hide a count made after the send): whole sends, and
 * 4 KiB splices, whatever step the answer completes on.  (Before: counted
 * once its last byte had left, published only at the turn's end.)
 */
static void
test_conn_splice_counted_before_seen(void **state)
{
	struct fixture	*fx = *state;
	struct hist	*h = &stats_slot(&fx->seg, 0)->c.latency;
	uint32_t	 k;
	size_t		 len;

	fault_fd = fx->sv[0];
	for (k = 0; k < 16; k++) {
		splice_fault.max = k % 2 ? 4096 : 0;
		len = 64 * 1024 + 4096 * k;
		big_echo_send(fx, k + 1, len);
		big_echo_expect(fx, k + 1, len);
		assert_int_equal(SLOT(fx, req_echo), k + 1);
		assert_int_equal(h->count, k + 1);
	}
	assert_true(splice_fault.calls > 0);
}

/* A client that stops within a spliced frame: the connection ends. */
static void
test_conn_splice_eof(void **state)
{
	struct fixture	*fx = *state;
	uint8_t		*f, sink[4096];
	size_t		 len = 256 * 1024;
	int		 turns;

	assert_non_null(f = calloc(1, MSG_HDR_LEN + len));
	msg_encode_request(f, MSG_OP_ECHO, 3, 0, (uint32_t)len);
	csend(fx, f, MSG_HDR_LEN + len / 2);
	free(f);
	assert_int_equal(shutdown(fx->sv[1], SHUT_WR), 0);
	/* Part of the answer may come; then the end, not the rest. */
	for (turns = 0; turns < TURNS; turns++)
		if (cread(fx, sink, sizeof(sink)) < sizeof(sink))
			break;
	assert_true(turns < TURNS);
	assert_int_equal(fx->wc.nconns, 0);
}

/* The batch tests need the ring: without io_uring here they skip. */
static void
batch_ring(struct fixture *fx)
{
	if (fx->wc.iob == NULL)
		skip();
}

/*
 * Batched, a request and its answer cost the server no recv and no send
 * of its own: both went through the ring, a run each.
 */
static void
test_conn_batch_used(void **state)
{
	struct fixture	*fx = *state;

	batch_ring(fx);
	fault_fd = fx->sv[0];
	expect_ping(fx, 1);
	assert_int_equal(read_fault.calls, 0);
	assert_int_equal(send_fault.calls, 0);
	assert_int_equal(fx->iob.runs, 2);
	echo_run(fx, 40);
}

/* One turn's batch up to the events: what epoll reports, read by the ring. */
static void
batch_turn(struct fixture *fx, struct epoll_event *ev)
{
	tick(fx);
	assert_int_equal(epoll_wait(fx->epfd, ev, 1, 5000), 1);
	assert_int_equal(conn_batch_read(&fx->wc, ev->data.ptr, ev->events),
	    1);
	conn_batch_reads(&fx->wc, 1);
	fx->wc.parking = 1;
}

/*
 * A connection closed while its answer waits in the batch sends nothing:
 * not even to a socket that took its descriptor's number meanwhile.
 */
static void
test_conn_batch_closed_parked(void **state)
{
	struct fixture		*fx = *state;
	struct epoll_event	 ev;
	uint8_t			 f[64], b;
	size_t			 len;
	int			 np[2], fd = fx->sv[0];

	batch_ring(fx);
	len = frame(f, MSG_OP_PING, 1, NULL, NULL, 0);
	assert_int_equal(send(fx->sv[1], f, len, 0), (ssize_t)len);
	batch_turn(fx, &ev);
	conn_event(&fx->wc, ev.data.ptr, ev.events);
	conn_close_all(&fx->wc);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    np), 0);
	assert_int_equal(dup2(np[0], fd), fd);
	conn_batch_end(&fx->wc);
	conn_reap(&fx->wc);
	assert_int_equal(recv(np[1], &b, 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	expect_eof(fx);
	close(fd);
	close(np[0]);
	close(np[1]);
}

/* Bytes a batched recv took count as read even if the connection closes. */
static void
test_conn_batch_closed_counted(void **state)
{
	struct fixture		*fx = *state;
	struct epoll_event	 ev;
	uint8_t			 f[64];
	uint64_t		 before;
	size_t			 len;

	batch_ring(fx);
	len = frame(f, MSG_OP_PING, 5, NULL, NULL, 0);
	assert_int_equal(send(fx->sv[1], f, len, 0), (ssize_t)len);
	before = SLOT(fx, bytes_in);
	batch_turn(fx, &ev);
	conn_close_all(&fx->wc);
	conn_batch_end(&fx->wc);
	assert_int_equal(SLOT(fx, bytes_in), before + len);
}

/* Bytes a batched recv took that no event used are input all the same. */
static void
test_conn_batch_kept(void **state)
{
	struct fixture		*fx = *state;
	struct epoll_event	 ev;
	uint8_t			 f[64];
	size_t			 len;

	batch_ring(fx);
	len = frame(f, MSG_OP_PING, 7, NULL, NULL, 0);
	assert_int_equal(send(fx->sv[1], f, len, 0), (ssize_t)len);
	batch_turn(fx, &ev);
	conn_batch_end(&fx->wc);
	expect(fx, MSG_OP_PING, 7, MSG_ST_OK, "PONG");
	expect_quiet(fx);
}

/*
 * A batched receive that finds nothing is an EAGAIN as recv's: the
 * connection waits for its next edge (TCP) and serves what comes.
 */
static void
test_conn_batch_nothing(void **state)
{
	struct fixture	*fx = *state;

	batch_ring(fx);
	tick(fx);
	assert_int_equal(conn_batch_read(&fx->wc, fx->c, EPOLLIN), 1);
	conn_batch_reads(&fx->wc, 1);
	conn_event(&fx->wc, fx->c, EPOLLIN);
	conn_batch_end(&fx->wc);
	expect_quiet(fx);
	expect_ping(fx, 2);
	echo_run(fx, 20);
}

/*
 * A batched send the socket takes in part: the rest follows as the client
 * reads, in order, whole.
 */
static void
test_conn_batch_partial(void **state)
{
	struct fixture	*fx = *state;
	static uint8_t	 f[MSG_HDR_LEN + 48 * 1024], body[48 * 1024];
	struct msg_hdr	 h;
	size_t		 i, len;
	int		 sz = 4096;

	batch_ring(fx);
	assert_int_equal(setsockopt(fx->sv[0], SOL_SOCKET, SO_SNDBUF, &sz,
	    sizeof(sz)), 0);
	for (i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 7 + i / 251);
	len = frame(f, MSG_OP_ECHO, 3, NULL, body, sizeof(body));
	memset(body, 0, sizeof(body));
	csend(fx, f, len);
	answer(fx, &h, body, sizeof(body));
	assert_int_equal(h.request_id, 3);
	assert_int_equal(h.status, MSG_ST_OK);
	assert_int_equal(h.body_len, sizeof(body));
	assert_memory_equal(body, f + MSG_HDR_LEN, sizeof(body));
	assert_true(fx->iob.runs > 2);
	expect_ping(fx, 4);
}

/*
 * A file job finishes in the turn where the connection's earlier answers
 * would go to the batch: its answer is added to c->out, which moves.  A
 * connection waiting for a job sends by itself, and every byte arrives
 * as it was answered.
 */
static void
test_conn_batch_job_not_parked(void **state)
{
	struct fixture		*fx = *state;
	static uint8_t		 f[MSG_HDR_LEN + 60000 + 64], file[100000];
	static uint8_t		 got[MSG_HDR_LEN + 60000];
	struct epoll_event	 ev;
	struct errtext		 err;
	struct spool		 sp;
	struct pool		 pool;
	struct pollfd		 pfd;
	struct msg_hdr		 h;
	const char		*why;
	char			 dir[64], cause[256];
	size_t			 i, len, have;
	ssize_t			 r;
	int			 n, sz = 4096;

	batch_ring(fx);
	snprintf(dir, sizeof(dir), "/tmp/msgd-test-conn-files.%d",
	    (int)getpid());
	assert_int_equal(mkdir(dir, 0700), 0);
	if (spool_open(&sp, dir, cause, sizeof(cause)) == -1)
		fail_msg("spool_open: %s", cause);
	sp.max_size = sizeof(file);
	sp.max_resp = sizeof(file) + 1024;
	sp.max_count = 4;
	for (i = 0; i < sizeof(file); i++)
		file[i] = (uint8_t)(i % 251);
	assert_int_equal(spool_put(&sp, (const uint8_t *)"big", 3, file,
	    sizeof(file), &err), MSG_ST_OK);
	assert_int_equal(pool_init(&pool, 1, 4), 0);
	assert_int_equal(pool_start(&pool), 0);
	fx->env.spool = &sp;
	fx->env.pool = &pool;
	fx->env.file_done = conn_file_done;
	assert_int_equal(setsockopt(fx->sv[0], SOL_SOCKET, SO_SNDBUF, &sz,
	    sizeof(sz)), 0);
	/* Memory freed is scribbled on: a send from it shows. */
	(void)mallopt(M_PERTURB, 0x5a);

	/* An UPPER whose answer the socket takes in part, then a GET. */
	for (i = 0; i < 60000; i++)
		f[MSG_HDR_LEN + i] = (uint8_t)('a' + i % 26);
	len = frame(f, MSG_OP_UPPER, 1, NULL, f + MSG_HDR_LEN, 60000);
	len += frame(f + len, MSG_OP_GET, 2, "big", NULL, 0);
	csend(fx, f, len);
	/* The client takes what its socket holds: the next turn sends. */
	for (have = 0; (r = recv(fx->sv[1], got + have, sizeof(got) - have,
	    MSG_DONTWAIT)) > 0; have += (size_t)r)
		continue;
	assert_true(have > 0 && have < sizeof(got));
	pfd.fd = pool.efd;
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 10000), 1);	/* the GET is done */
	tick(fx);
	for (i = 0; i < TURNS && (n = epoll_wait(fx->epfd, &ev, 1,
	    10000)) == -1 && errno == EINTR; i++)
		continue;
	assert_int_equal(n, 1);
	fx->wc.parking = 1;
	conn_event(&fx->wc, ev.data.ptr, ev.events);
	assert_int_equal(pool_event(&pool), 1);	/* answers the GET */
	conn_batch_end(&fx->wc);

	/* The UPPER's answer, then the GET's, whole and in order. */
	assert_int_equal(cread(fx, got + have, sizeof(got) - have),
	    sizeof(got) - have);
	assert_int_equal(msg_check_response(got, MSG_HDR_LEN, &h, &why), 0);
	assert_int_equal(h.request_id, 1);
	for (i = 0; i < 60000; i++)
		if (got[MSG_HDR_LEN + i] != 'A' + i % 26)
			fail_msg("UPPER answer byte %zu wrong", i);
	answer(fx, &h, NULL, 0);
	assert_int_equal(h.request_id, 2);
	assert_int_equal(h.status, MSG_ST_OK);
	assert_int_equal(h.body_len - h.key_len, sizeof(file));
	(void)mallopt(M_PERTURB, 0);
	assert_int_equal(pool_shutdown(&pool, 5000), 0);
	spool_close(&sp);
	fx->env.spool = NULL;
	fx->env.pool = NULL;
	snprintf(cause, sizeof(cause), "%s/big", dir);
	(void)unlink(cause);
	(void)rmdir(dir);
}

/*
 * The budget is judged once every batched send is done: a client whose
 * large answer the batch delivered keeps its connection; before, the
 * trim run from another's event closed it for bytes already sent.
 */
static void
test_conn_batch_trim_after(void **state)
{
	struct fixture		*fx = *state;
	static uint8_t		 pf[MSG_HDR_LEN + 100000], body[100000];
	uint8_t			 qf[MSG_HDR_LEN + 12000];
	struct epoll_event	 ev[2];
	struct msg_hdr		 h;
	struct conn		*q;
	size_t			 i, plen, qlen;
	int			 qs[2], n, k, sz = 4096;

	batch_ring(fx);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, qs), 0);
	assert_int_equal(setsockopt(qs[0], SOL_SOCKET, SO_SNDBUF, &sz,
	    sizeof(sz)), 0);
	assert_non_null(q = conn_new(&fx->wc, qs[0], NULL, 0));
	/* Q reads nothing: its answers stay with the worker. */
	memset(qf + MSG_HDR_LEN, 'q', 12000);
	qlen = frame(qf, MSG_OP_ECHO, 1, NULL, qf + MSG_HDR_LEN, 12000);
	for (i = 0; i < 3; i++) {
		assert_int_equal(send(qs[1], qf, qlen, 0), (ssize_t)qlen);
		pump(fx);
	}
	/* P's large UPPER is admitted (its header), the budget just above. */
	for (i = 0; i < sizeof(body); i++)
		pf[MSG_HDR_LEN + i] = (uint8_t)('a' + i % 26);
	plen = frame(pf, MSG_OP_UPPER, 9, NULL, pf + MSG_HDR_LEN,
	    sizeof(body));
	assert_int_equal(send(fx->sv[1], pf, MSG_HDR_LEN, 0), MSG_HDR_LEN);
	pump(fx);
	fx->wc.budget = fx->wc.held + 8192;
	/* One turn: Q's two more ECHOs first, then the rest of P's frame. */
	assert_int_equal(send(qs[1], qf, qlen, 0), (ssize_t)qlen);
	assert_int_equal(send(qs[1], qf, qlen, 0), (ssize_t)qlen);
	for (i = MSG_HDR_LEN; i < plen; i += (size_t)n)
		assert_true((n = (int)send(fx->sv[1], pf + i, plen - i, 0)) >
		    0);
	tick(fx);
	assert_int_equal(epoll_wait(fx->epfd, ev, 2, 10000), 2);
	for (i = 0, k = 0; i < 2; i++)
		k += conn_batch_read(&fx->wc, ev[i].data.ptr, ev[i].events);
	conn_batch_reads(&fx->wc, k);
	fx->wc.parking = 1;
	for (i = 0; i < 2; i++)
		conn_event(&fx->wc, ev[i].data.ptr, ev[i].events);
	conn_batch_end(&fx->wc);
	conn_reap(&fx->wc);

	answer(fx, &h, body, sizeof(body));
	assert_int_equal(h.request_id, 9);
	for (i = 0; i < sizeof(body); i++)
		if (body[i] != 'A' + i % 26)
			fail_msg("UPPER answer byte %zu wrong", i);
	expect_ping(fx, 10);
	close(qs[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TT(f)	cmocka_unit_test_setup_teardown(f, setup_token, teardown)
#define B(f)	cmocka_unit_test_setup_teardown(f, setup_batch, teardown)
		T(test_conn_ping),
		T(test_conn_bytewise),
		T(test_conn_splits),
		T(test_conn_pipeline),
		T(test_conn_runs),
		T(test_conn_run_no_memory),
		T(test_conn_adopt_blocking),
		T(test_conn_adopt_blocking_tcp),
		T(test_conn_adopt_no_linger),
		cmocka_unit_test_setup_teardown(test_conn_run_output_limit,
		    setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_conn_edge_output_limit,
		    setup_tcp_small, teardown),
		cmocka_unit_test_setup_teardown(test_conn_edge_eof_with_data,
		    setup_tcp, teardown),
		cmocka_unit_test_setup_teardown(test_conn_short_by_urgent_tcp,
		    setup_tcp, teardown),
		cmocka_unit_test_setup_teardown(
		    test_conn_short_by_urgent_refused, setup_tcp, teardown),
		cmocka_unit_test_setup_teardown(test_conn_splice_urgent,
		    setup_tcp, teardown),
		T(test_conn_short_by_urgent_unix),
		T(test_conn_short_by_fd),
		cmocka_unit_test_setup_teardown(test_conn_backpressure,
		    setup_small, teardown),
		T(test_conn_oversize),
		TT(test_conn_preauth_limit),
		TT(test_conn_preauth_too_large),
		TT(test_conn_auth),
		T(test_conn_bad_magic),
		T(test_conn_bad_frame_skipped),
		T(test_conn_eof),
		T(test_conn_idle_timeout),
		T(test_conn_counted_before_seen),
		T(test_conn_idle_timeout_counted),
		T(test_conn_bytes_published_at_turn_end),
		T(test_conn_one_clock_per_read),
		T(test_conn_read_timeout),
		T(test_conn_drain),
		T(test_conn_drain_idle),
		T(test_conn_handoff_refused_retried),
		T(test_conn_close_all),
		T(test_conn_short_writes),
		T(test_conn_short_reads),
		T(test_conn_send_eagain),
		T(test_conn_send_error),
		T(test_conn_read_error),
		T(test_conn_splice_steps),
		T(test_conn_splice_spill),
		T(test_conn_splice_spill_blocked),
		T(test_conn_splice_spill_budget),
		T(test_conn_splice_spill_min_budget),
		T(test_conn_splice_counted_before_seen),
		T(test_conn_splice_eof),
		TT(test_conn_splice_before_auth),
		TT(test_conn_splice_after_auth),
		cmocka_unit_test_setup_teardown(test_conn_splice_restricted,
		    setup_restricted, teardown),
		/* Batched I/O: its own cases, then exchanges of the above. */
		B(test_conn_batch_used),
		B(test_conn_batch_closed_parked),
		B(test_conn_batch_kept),
		B(test_conn_batch_closed_counted),
		cmocka_unit_test_setup_teardown(test_conn_batch_nothing,
		    setup_batch_tcp, teardown),
		B(test_conn_batch_partial),
		B(test_conn_batch_job_not_parked),
		B(test_conn_batch_trim_after),
		B(test_conn_ping),
		B(test_conn_bytewise),
		B(test_conn_splits),
		B(test_conn_pipeline),
		B(test_conn_runs),
		cmocka_unit_test_setup_teardown(test_conn_run_output_limit,
		    setup_batch_small, teardown),
		cmocka_unit_test_setup_teardown(test_conn_edge_output_limit,
		    setup_batch_tcp_small, teardown),
		cmocka_unit_test_setup_teardown(test_conn_edge_eof_with_data,
		    setup_batch_tcp, teardown),
		B(test_conn_short_by_fd),
		cmocka_unit_test_setup_teardown(test_conn_backpressure,
		    setup_batch_small, teardown),
		B(test_conn_oversize),
		B(test_conn_bad_magic),
		B(test_conn_bad_frame_skipped),
		B(test_conn_eof),
		B(test_conn_counted_before_seen),
		B(test_conn_bytes_published_at_turn_end),
		B(test_conn_read_timeout),
		B(test_conn_close_all),
		B(test_conn_splice_steps),
		B(test_conn_splice_eof),
#undef T
#undef TT
#undef B
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

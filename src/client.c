/*
 * client.c: blocking request/response over a non-blocking socket, so every
 * wait is a poll() with the remaining time of the caller's deadline.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "util.h"

#define CLIENT_MAX_RESP_DEFAULT	(1024ULL * 1024 * 1024)

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

/* Connect to addr ("host:port", "[v6]:port", "unix:/path"). */
int
client_open(struct client *c, const char *addr, int timeout_ms)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->timeout_ms = timeout_ms;
	c->next_id = 1;
	c->max_resp = CLIENT_MAX_RESP_DEFAULT;
	if (net_parse_addr(addr, &c->addr, c->err, sizeof(c->err)) == -1)
		return (CLIENT_ECONNECT);
	return (client_reconnect(c));
}

/* Drop any connection and buffered input, then connect again. */
int
client_reconnect(struct client *c)
{
	if (c->fd != -1)
		close(c->fd);
	buf_release(&c->in);
	c->fd = net_connect(&c->addr, c->timeout_ms, c->err, sizeof(c->err));
	return (c->fd == -1 ? CLIENT_ECONNECT : CLIENT_OK);
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
 * Receive the next response frame.  Bytes of the previous response are
 * dropped first; the returned pointers stay valid until the next call.
 */
int
client_recv(struct client *c, struct client_resp *r)
{
	const char	*why;
	uint64_t	 deadline;
	size_t		 need = MSG_HDR_LEN;
	ssize_t		 n;
	int		 rc, have_hdr = 0;

	deadline = mono_ms() + (uint64_t)c->timeout_ms;
	for (;;) {
		if (!have_hdr && buf_used(&c->in) >= MSG_HDR_LEN) {
			if (msg_check_response(buf_head(&c->in),
			    buf_used(&c->in), &r->hdr, &why) == -1) {
				snprintf(c->err, sizeof(c->err), "%s: %s",
				    c->addr.text, why);
				return (CLIENT_EPROTO);
			}
			if (r->hdr.body_len > c->max_resp) {
				snprintf(c->err, sizeof(c->err), "%s: response "
				    "of %u bytes is over the client limit",
				    c->addr.text, r->hdr.body_len);
				return (CLIENT_EPROTO);
			}
			have_hdr = 1;
			need = MSG_HDR_LEN + (size_t)r->hdr.body_len;
		}
		if (have_hdr && buf_used(&c->in) >= need)
			break;
		if (buf_reserve(&c->in, need - buf_used(&c->in) > 65536 ?
		    need - buf_used(&c->in) : 65536) == -1) {
			snprintf(c->err, sizeof(c->err), "out of memory");
			return (CLIENT_EIO);
		}
		n = read(c->fd, buf_tail(&c->in), buf_room(&c->in));
		if (n > 0) {
			c->in.len += (size_t)n;
			continue;
		}
		if (n == 0) {
			snprintf(c->err, sizeof(c->err), "%s: connection closed "
			    "by the server", c->addr.text);
			return (CLIENT_EIO);
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			snprintf(c->err, sizeof(c->err), "read from %s: %s",
			    c->addr.text, strerror(errno));
			return (CLIENT_EIO);
		}
		if ((rc = client_wait(c, POLLIN, deadline)) != 0)
			return (rc);
	}
	r->key = buf_head(&c->in) + MSG_HDR_LEN;
	r->klen = r->hdr.key_len;
	r->val = r->key + r->klen;
	r->vlen = r->hdr.body_len - r->hdr.key_len;
	/* Consumed now; the bytes stay in place until the next read. */
	c->in.off += need;
	return (CLIENT_OK);
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
client_exec_answer(const struct client_resp *r, struct client_exec *x)
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

void
client_close(struct client *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	buf_release(&c->in);
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

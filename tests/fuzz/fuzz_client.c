/*
 * fuzz_client.c: libFuzzer target for libmsgdclient's answer parser, the
 * bytes a server (or whatever answers in its place) sends back.
 *
 * Input: byte 0 = the number of requests appended (1..32, low 5 bits) and
 * the mode (high bit: non-blocking feed/take, else blocking get_reply);
 * byte 1 = the handle's answer limit (16 << (byte % 27): 16 B .. 1 GiB);
 * the rest = the server's bytes, then EOF.  The requests go out over a
 * socketpair, the answers are taken until an error.  Checked: each answer
 * carries its request's id (or 0) in order, is within the limit and the
 * input buffer, no more answers than requests, the end is a named error
 * with a message, and the input buffer never grows past twice the bytes
 * that arrived plus one read step, whatever length a header claims.
 *
 * Build and run: make fuzz && ./tests/fuzz/fuzz_client corpus-dir
 */
#include <sys/socket.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "fuzz.h"
#include "util.h"

int
LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	struct client		 c;
	struct client_resp	 r;
	uint32_t		 want;
	size_t			 k, got = 0;
	int			 sv[2], nb, rc;

	/* All of it must fit the socket buffer: the writer is this thread. */
	if (n < 2 || n > 65536 + 2)
		return (0);
	k = 1 + (p[0] & 31);
	nb = (p[0] & 0x80) != 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	if (n > 2 && write_full(sv[1], p + 2, n - 2) != (ssize_t)(n - 2))
		abort();
	/* EOF after the bytes; the requests can still be written. */
	if (shutdown(sv[1], SHUT_WR) == -1 || fd_nonblock(sv[0]) == -1)
		abort();
	memset(&c, 0, sizeof(c));
	c.fd = sv[0];
	c.timeout_ms = 1000;
	c.next_id = 1;
	c.max_resp = (uint64_t)16 << (p[1] % 27);
	c.nonblock = nb;
	snprintf(c.addr.text, sizeof(c.addr.text), "fuzz");
	for (want = 1; want <= k; want++)
		CHECK(client_append(&c, MSG_OP_ECHO, NULL, 0, "x", 1,
		    NULL) == CLIENT_OK);
	if (nb)
		CHECK(client_flush(&c) == CLIENT_OK);
	for (;;) {
		if (nb) {
			rc = client_feed(&c);
			if (rc == CLIENT_OK)
				rc = client_take(&c, &r);
		} else
			rc = client_get_reply(&c, &r);
		CHECK(c.in.cap <= 2 * (n + 1024 * 1024 + 65536));
		if (rc != CLIENT_OK)
			break;
		got++;
		CHECK(got <= k);
		CHECK(r.hdr.request_id == got || r.hdr.request_id == 0);
		CHECK(r.hdr.flags & MSG_F_RESPONSE);
		CHECK(r.hdr.body_len <= c.max_resp);
		CHECK(r.klen == r.hdr.key_len && r.klen <= r.hdr.body_len);
		CHECK(r.vlen == r.hdr.body_len - r.hdr.key_len);
		CHECK(r.key >= c.in.data && r.val + r.vlen <= c.in.data +
		    c.in.len);
		CHECK(c.pend_n == k - got);
		if (got == k)
			break;
	}
	if (got < k) {
		CHECK(rc == CLIENT_EPROTO || rc == CLIENT_EIO ||
		    rc == CLIENT_ENOMEM);
		CHECK(c.err[0] != '\0');
	}
	client_close(&c);
	close(sv[1]);
	return (0);
}

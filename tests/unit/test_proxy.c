/*
 * test_proxy.c: the PROXY protocol parser against hostile input: both
 * versions accepted in every form msgd takes, every prefix of a valid
 * header asking for more, each named error, bounds on length, bytes after
 * the header left alone.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proxy.h"

static const uint8_t	sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

/* A v2 header at p: ver/cmd, fam/proto, then len bytes of body. */
static size_t
v2(uint8_t *p, uint8_t vc, uint8_t fp, const uint8_t *body, size_t len)
{
	memcpy(p, sig, sizeof(sig));
	p[12] = vc;
	p[13] = fp;
	p[14] = (uint8_t)(len >> 8);
	p[15] = (uint8_t)len;
	if (len > 0)
		memcpy(p + 16, body, len);
	return (16 + len);
}

/* The v2 INET block: 10.1.2.3:4567 -> 127.0.0.1:7878. */
static const uint8_t	inet4[12] = { 10, 1, 2, 3, 127, 0, 0, 1,
    0x11, 0xd7, 0x1e, 0xc6 };

static enum proxy_result
parse(const void *p, size_t n, struct proxy_hdr *h, enum proxy_error *e)
{
	return (proxy_parse(p, n, h, e));
}

/* Every proper prefix of a valid header asks for more. */
static void
assert_prefixes_more(const uint8_t *p, size_t len)
{
	struct proxy_hdr	h;
	enum proxy_error	e;
	size_t			k;

	for (k = 0; k < len; k++) {
		if (parse(p, k, &h, &e) != PROXY_MORE)
			fail_msg("prefix of %zu of %zu bytes: not MORE (%s)", k,
			    len, proxy_error_name(e));
	}
}

/* Every prefix of a refused header is MORE or that same error. */
static void
assert_refused(const void *vp, size_t len, enum proxy_error want)
{
	const uint8_t		*p = vp;
	struct proxy_hdr	 h;
	enum proxy_error	 e;
	size_t			 k;

	assert_int_equal(parse(p, len, &h, &e), PROXY_ERROR);
	if (e != want)
		fail_msg("%.*s: %s, want %s", (int)len, (const char *)p,
		    proxy_error_name(e), proxy_error_name(want));
	for (k = 0; k < len; k++) {
		if (parse(p, k, &h, &e) == PROXY_MORE)
			continue;
		assert_int_equal(e, want);
	}
}

static void
assert_v1_refused(const char *s, enum proxy_error want)
{
	assert_refused(s, strlen(s), want);
}

static void
test_v1_tcp4(void **state)
{
	const char		*s = "PROXY TCP4 192.0.2.7 127.0.0.1 56324 "
				    "7878\r\n";
	struct proxy_hdr	 h;
	enum proxy_error	 e;
	uint8_t			 want[4] = { 192, 0, 2, 7 };

	(void)state;
	assert_int_equal(parse(s, strlen(s), &h, &e), PROXY_DONE);
	assert_int_equal(h.len, strlen(s));
	assert_int_equal(h.version, 1);
	assert_false(h.local);
	assert_int_equal(h.src.family, AF_INET);
	assert_memory_equal(h.src.addr, want, 4);
	assert_int_equal(h.src.port, 56324);
	assert_int_equal(h.dst.port, 7878);
	assert_prefixes_more((const uint8_t *)s, strlen(s));
}

static void
test_v1_tcp6_and_trailing_bytes(void **state)
{
	const char		*s = "PROXY TCP6 2001:db8::1 ::1 65535 0\r\nMG";
	struct proxy_hdr	 h;
	enum proxy_error	 e;
	uint8_t			 want[16];

	(void)state;
	inet_pton(AF_INET6, "2001:db8::1", want);
	assert_int_equal(parse(s, strlen(s), &h, &e), PROXY_DONE);
	assert_int_equal(h.len, strlen(s) - 2);
	assert_int_equal(h.src.family, AF_INET6);
	assert_memory_equal(h.src.addr, want, 16);
	assert_int_equal(h.src.port, 65535);
	assert_int_equal(h.dst.port, 0);
}

static void
test_v1_unknown(void **state)
{
	const char		*a = "PROXY UNKNOWN\r\n";
	const char		*b = "PROXY UNKNOWN ffff::1 ::1 1 2\r\n";
	struct proxy_hdr	 h;
	enum proxy_error	 e;

	(void)state;
	assert_int_equal(parse(a, strlen(a), &h, &e), PROXY_DONE);
	assert_false(h.local);
	assert_int_equal(h.src.family, 0);
	assert_int_equal(h.len, strlen(a));
	assert_int_equal(parse(b, strlen(b), &h, &e), PROXY_DONE);
	assert_false(h.local);
	assert_int_equal(h.src.family, 0);
	assert_int_equal(h.len, strlen(b));
	assert_v1_refused("PROXY UNKNOWNX\r\n", PROXY_E_SYNTAX);
}

/* The longest legal line is 107 bytes; one more is too long. */
static void
test_v1_length_bound(void **state)
{
	char			 s[256];
	struct proxy_hdr	 h;
	enum proxy_error	 e;
	size_t			 pad;

	(void)state;
	/* "PROXY UNKNOWN " + pad + CRLF = 107. */
	pad = PROXY_V1_MAX - 14 - 2;
	snprintf(s, sizeof(s), "PROXY UNKNOWN %.*s\r\n", (int)pad,
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	assert_int_equal(strlen(s), PROXY_V1_MAX);
	assert_int_equal(parse(s, strlen(s), &h, &e), PROXY_DONE);
	snprintf(s, sizeof(s), "PROXY UNKNOWN %.*s\r\n", (int)pad + 1,
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	assert_v1_refused(s, PROXY_E_TOO_LONG);
	/* No CRLF at all: refused at 107 bytes, not held forever. */
	memset(s, 'A', sizeof(s));
	memcpy(s, "PROXY ", 6);
	assert_refused(s, sizeof(s), PROXY_E_TOO_LONG);
	assert_int_equal(parse(s, PROXY_V1_MAX - 1, &h, &e), PROXY_MORE);
	assert_int_equal(parse(s, PROXY_V1_MAX, &h, &e), PROXY_ERROR);
}

static void
test_v1_syntax(void **state)
{
	(void)state;
	assert_v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", PROXY_E_SYNTAX);
	assert_v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
	    PROXY_E_SYNTAX);
	assert_v1_refused("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
	    PROXY_E_SYNTAX);
	assert_v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
	    PROXY_E_SYNTAX);
	assert_v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", PROXY_E_SYNTAX);
	assert_v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
	    PROXY_E_SYNTAX);
	assert_v1_refused("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
	    PROXY_E_SYNTAX);
	assert_v1_refused("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
	    PROXY_E_SYNTAX);
	assert_v1_refused("PROXY \r\n", PROXY_E_SYNTAX);
	assert_v1_refused("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
	    PROXY_E_SYNTAX);
	assert_refused("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", 33,
	    PROXY_E_SYNTAX);
	assert_v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\xff\r\n",
	    PROXY_E_SYNTAX);
}

static void
test_v1_numbers(void **state)
{
	(void)state;
	assert_v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
	    PROXY_E_ADDRESS);
	assert_v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n",
	    PROXY_E_ADDRESS);
	assert_v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 123456 2\r\n",
	    PROXY_E_ADDRESS);
	assert_v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
	    PROXY_E_ADDRESS);
	assert_v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
	    PROXY_E_ADDRESS);
	assert_v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
	    PROXY_E_ADDRESS);
	assert_v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 0x10 2\r\n",
	    PROXY_E_ADDRESS);
	assert_v1_refused("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
	    PROXY_E_ADDRESS);
	assert_v1_refused("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
	    PROXY_E_ADDRESS);
	assert_v1_refused("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
	    PROXY_E_ADDRESS);
	assert_v1_refused("PROXY TCP4 localhost 5.6.7.8 1 2\r\n",
	    PROXY_E_ADDRESS);
	assert_v1_refused("PROXY TCP6 ::1::2 ::1 1 2\r\n", PROXY_E_ADDRESS);
}

static void
test_v1_family_mismatch(void **state)
{
	(void)state;
	assert_v1_refused("PROXY TCP4 ::1 5.6.7.8 1 2\r\n", PROXY_E_FAMILY);
	assert_v1_refused("PROXY TCP4 1.2.3.4 ::1 1 2\r\n", PROXY_E_FAMILY);
	assert_v1_refused("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", PROXY_E_FAMILY);
}

static void
test_signature(void **state)
{
	uint8_t	b[32];

	(void)state;
	/* An msgd frame where a header must be: refused at its first byte. */
	assert_refused("MG\x01\x01", 4, PROXY_E_SIGNATURE);
	assert_v1_refused("PROXX TCP4", PROXY_E_SIGNATURE);
	assert_v1_refused("proxy TCP4", PROXY_E_SIGNATURE);
	assert_v1_refused("GET / HTTP/1.0\r\n", PROXY_E_SIGNATURE);
	v2(b, 0x21, 0x11, inet4, sizeof(inet4));
	b[11] = 0x0b;
	assert_refused(b, 28, PROXY_E_SIGNATURE);
	v2(b, 0x21, 0x11, inet4, sizeof(inet4));
	b[4] = 'x';
	assert_refused(b, 28, PROXY_E_SIGNATURE);
	/* A TLS ClientHello: the header must come first. */
	assert_refused("\x16\x03\x01\x02\x00", 5, PROXY_E_SIGNATURE);
}

static void
test_v2_inet(void **state)
{
	uint8_t			 b[64];
	struct proxy_hdr	 h;
	enum proxy_error	 e;
	size_t			 n;
	uint8_t			 want[4] = { 10, 1, 2, 3 };

	(void)state;
	n = v2(b, 0x21, 0x11, inet4, sizeof(inet4));
	memcpy(b + n, "MGxx", 4);	/* the client's first bytes */
	assert_int_equal(parse(b, n + 4, &h, &e), PROXY_DONE);
	assert_int_equal(h.len, 28);
	assert_int_equal(h.version, 2);
	assert_false(h.local);
	assert_int_equal(h.src.family, AF_INET);
	assert_memory_equal(h.src.addr, want, 4);
	assert_int_equal(h.src.port, 4567);
	assert_int_equal(h.dst.port, 7878);
	assert_prefixes_more(b, n);
}

static void
test_v2_inet6_with_tlvs(void **state)
{
	uint8_t			 body[36 + 3 + 5 + 3], b[128];
	struct proxy_hdr	 h;
	enum proxy_error	 e;
	size_t			 n;

	(void)state;
	memset(body, 0, sizeof(body));
	inet_pton(AF_INET6, "2001:db8::7", body);
	inet_pton(AF_INET6, "::1", body + 16);
	body[32] = 0x04;
	body[33] = 0xd2;	/* 1234 */
	/* A TLV of 5 bytes (PP2_TYPE_AUTHORITY), then an empty NOOP. */
	body[36] = 0x02;
	body[38] = 5;
	memcpy(body + 39, "hosta", 5);
	body[44] = 0x04;
	n = v2(b, 0x21, 0x21, body, sizeof(body));
	assert_int_equal(parse(b, n, &h, &e), PROXY_DONE);
	assert_int_equal(h.len, n);
	assert_int_equal(h.src.family, AF_INET6);
	assert_memory_equal(h.src.addr, body, 16);
	assert_int_equal(h.src.port, 1234);
	assert_prefixes_more(b, n);
	/* The last TLV claims a byte more than there is. */
	body[46] = 1;
	n = v2(b, 0x21, 0x21, body, sizeof(body));
	assert_refused(b, n, PROXY_E_TLV);
	/* Two bytes of a TLV header. */
	n = v2(b, 0x21, 0x21, body, sizeof(body) - 1);
	assert_refused(b, n, PROXY_E_TLV);
}

/*
 * LOCAL (health checks) is the balancer's own; UNSPEC and UNIX give no
 * address: all keep the connection's.
 */
static void
test_v2_local_kinds(void **state)
{
	uint8_t			 b[300], body[216];
	struct proxy_hdr	 h;
	enum proxy_error	 e;
	size_t			 n;

	(void)state;
	n = v2(b, 0x20, 0x00, NULL, 0);
	assert_int_equal(parse(b, n, &h, &e), PROXY_DONE);
	assert_true(h.local);
	assert_int_equal(h.len, 16);
	assert_int_equal(h.src.family, 0);
	/* LOCAL ignores what follows, whatever the family says. */
	n = v2(b, 0x20, 0xff, inet4, 3);
	assert_int_equal(parse(b, n, &h, &e), PROXY_DONE);
	assert_true(h.local);
	n = v2(b, 0x21, 0x00, inet4, 5);
	assert_int_equal(parse(b, n, &h, &e), PROXY_DONE);
	assert_false(h.local);
	assert_int_equal(h.src.family, 0);
	assert_int_equal(h.len, 21);
	memset(body, 0, sizeof(body));
	memcpy(body, "/run/haproxy.sock", 17);
	n = v2(b, 0x21, 0x31, body, sizeof(body));
	assert_int_equal(parse(b, n, &h, &e), PROXY_DONE);
	assert_false(h.local);
	assert_int_equal(h.src.family, 0);
	assert_int_equal(h.len, 16 + 216);
}

static void
test_v2_refusals(void **state)
{
	uint8_t	b[64];
	size_t	n;

	(void)state;
	n = v2(b, 0x11, 0x11, inet4, sizeof(inet4));
	assert_refused(b, n, PROXY_E_VERSION);
	n = v2(b, 0x31, 0x11, inet4, sizeof(inet4));
	assert_refused(b, n, PROXY_E_VERSION);
	n = v2(b, 0x22, 0x11, inet4, sizeof(inet4));
	assert_refused(b, n, PROXY_E_COMMAND);
	n = v2(b, 0x21, 0x12, inet4, sizeof(inet4));	/* DGRAM */
	assert_refused(b, n, PROXY_E_PROTOCOL);
	n = v2(b, 0x21, 0x10, inet4, sizeof(inet4));
	assert_refused(b, n, PROXY_E_PROTOCOL);
	n = v2(b, 0x21, 0x41, inet4, sizeof(inet4));	/* family 4 */
	assert_refused(b, n, PROXY_E_PROTOCOL);
	n = v2(b, 0x21, 0x13, inet4, sizeof(inet4));
	assert_refused(b, n, PROXY_E_PROTOCOL);
	/* INET6 announced, INET's 12 bytes given. */
	n = v2(b, 0x21, 0x21, inet4, sizeof(inet4));
	assert_refused(b, n, PROXY_E_LENGTH);
	n = v2(b, 0x21, 0x11, inet4, 11);
	assert_refused(b, n, PROXY_E_LENGTH);
}

/* A length past PROXY_MAX is refused at the length, not after the bytes. */
static void
test_v2_too_long(void **state)
{
	uint8_t			 b[PROXY_MAX + 1], body[PROXY_MAX];
	struct proxy_hdr	 h;
	enum proxy_error	 e;
	size_t			 len = PROXY_MAX - 16;

	(void)state;
	/* The addresses, then one NOOP TLV filling the rest. */
	memset(body, 0, sizeof(body));
	memcpy(body, inet4, sizeof(inet4));
	body[12] = 0x04;
	body[13] = (uint8_t)((len - 15) >> 8);
	body[14] = (uint8_t)(len - 15);
	v2(b, 0x21, 0x11, body, len);
	assert_int_equal(parse(b, 16 + len, &h, &e), PROXY_DONE);
	assert_int_equal(h.len, PROXY_MAX);
	v2(b, 0x21, 0x11, body, len + 1);
	assert_int_equal(parse(b, 16, &h, &e), PROXY_ERROR);
	assert_int_equal(e, PROXY_E_TOO_LONG);
	b[14] = 0xff;
	b[15] = 0xff;
	assert_int_equal(parse(b, 16, &h, &e), PROXY_ERROR);
	assert_int_equal(e, PROXY_E_TOO_LONG);
	assert_int_equal(parse(b, 15, &h, &e), PROXY_MORE);
}

/* Truncations: every prefix of every accepted header is MORE (not DONE). */
static void
test_truncations(void **state)
{
	const char	*v1s[] = { "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
			    "PROXY UNKNOWN\r\n", "PROXY TCP6 ::1 ::2 3 4\r\n" };
	uint8_t		 b[64];
	size_t		 i, n;

	(void)state;
	for (i = 0; i < sizeof(v1s) / sizeof(v1s[0]); i++)
		assert_prefixes_more((const uint8_t *)v1s[i], strlen(v1s[i]));
	n = v2(b, 0x20, 0x00, NULL, 0);
	assert_prefixes_more(b, n);
}

static void
test_error_names(void **state)
{
	int	e;

	(void)state;
	for (e = PROXY_E_NONE; e <= PROXY_E_TLV; e++)
		assert_non_null(proxy_error_name((enum proxy_error)e));
	assert_string_equal(proxy_error_name((enum proxy_error)99),
	    "unknown error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_tcp4),
		cmocka_unit_test(test_v1_tcp6_and_trailing_bytes),
		cmocka_unit_test(test_v1_unknown),
		cmocka_unit_test(test_v1_length_bound),
		cmocka_unit_test(test_v1_syntax),
		cmocka_unit_test(test_v1_numbers),
		cmocka_unit_test(test_v1_family_mismatch),
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_v2_inet),
		cmocka_unit_test(test_v2_inet6_with_tlvs),
		cmocka_unit_test(test_v2_local_kinds),
		cmocka_unit_test(test_v2_refusals),
		cmocka_unit_test(test_v2_too_long),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_error_names),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

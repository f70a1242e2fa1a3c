/*
 * fuzz_proxy.c: libFuzzer target for the PROXY protocol header parser.
 *
 * The input is what a connection on a "proxy:" listener receives first.
 * proxy_parse() is run on it and on every prefix of it (each copied into
 * an exactly sized buffer, so a read past the end is caught), and the
 * verdicts must agree: a prefix is MORE or the whole input's verdict (an
 * error stays the same error; a header ends at the same byte with the
 * same address), MORE is never given for PROXY_MAX bytes or more (a
 * worker holds no more than that), and every DONE obeys the format.
 *
 * Build and run: make fuzz && ./tests/fuzz/fuzz_proxy corpus-dir
 */
#include <sys/socket.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proxy.h"

/* Parse the first n bytes of data from a buffer of exactly n bytes. */
static enum proxy_result
parse_exact(const uint8_t *data, size_t n, struct proxy_hdr *h,
    enum proxy_error *e)
{
	enum proxy_result	 r;
	uint8_t			*p;

	if ((p = malloc(n > 0 ? n : 1)) == NULL)
		abort();
	memcpy(p, data, n);
	r = proxy_parse(p, n, h, e);
	free(p);
	return (r);
}

/* One verdict on n bytes obeys the rules. */
static void
check_one(const uint8_t *data, size_t n, enum proxy_result r,
    const struct proxy_hdr *h, enum proxy_error e)
{
	switch (r) {
	case PROXY_MORE:
		CHECK(n < PROXY_MAX);
		CHECK(e == PROXY_E_NONE);
		break;
	case PROXY_DONE:
		CHECK(e == PROXY_E_NONE);
		CHECK(h->len > 0 && h->len <= n && h->len <= PROXY_MAX);
		CHECK(h->version == 1 || h->version == 2);
		if (h->version == 1) {
			CHECK(h->len <= PROXY_V1_MAX);
			CHECK(memcmp(data, "PROXY ", 6) == 0);
			CHECK(data[h->len - 2] == '\r' &&
			    data[h->len - 1] == '\n');
		} else
			CHECK(h->len >= PROXY_V2_HDR && data[0] == '\r');
		if (h->local)
			CHECK(h->version == 2 && h->src.family == 0);
		else
			CHECK(h->src.family == 0 ||
			    h->src.family == AF_INET ||
			    h->src.family == AF_INET6);
		CHECK(h->src.family == h->dst.family);
		break;
	case PROXY_ERROR:
		CHECK(e != PROXY_E_NONE);
		CHECK(proxy_error_name(e) != NULL);
		break;
	default:
		CHECK(!"unknown result");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_hdr	h, hk;
	enum proxy_error	e, ek;
	enum proxy_result	r, rk;
	size_t			k, upto;

	r = parse_exact(data, size, &h, &e);
	check_one(data, size, r, &h, e);
	/* Beyond PROXY_MAX + 1 bytes nothing can change: stop there. */
	upto = size < PROXY_MAX + 1 ? size : PROXY_MAX + 1;
	for (k = 0; k < upto; k++) {
		rk = parse_exact(data, k, &hk, &ek);
		check_one(data, k, rk, &hk, ek);
		if (rk == PROXY_MORE) {
			/* Not yet decided: the whole header is not there. */
			if (r == PROXY_DONE)
				CHECK(k < h.len);
			continue;
		}
		CHECK(rk == r);
		if (r == PROXY_ERROR)
			CHECK(ek == e);
		else {
			CHECK(hk.len == h.len && hk.version == h.version &&
			    hk.local == h.local);
			CHECK(memcmp(&hk.src, &h.src, sizeof(h.src)) == 0);
			CHECK(memcmp(&hk.dst, &h.dst, sizeof(h.dst)) == 0);
		}
	}
	return (0);
}

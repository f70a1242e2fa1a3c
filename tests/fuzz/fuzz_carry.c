/*
 * fuzz_carry.c: libFuzzer target for the decoder of the totals a binary
 * upgrade carries (stats_carry.c).  The old master writes them, but the
 * new one parses them: any input must be refused or decoded within the
 * bounds, and what decodes must encode again and decode to the same
 * counters (the encoding is canonical for what the new release knows).
 *
 * Build and run: make fuzz && ./tests/fuzz/fuzz_carry tests/fuzz/carry
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "stats_carry.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stats_counters	*a, *b;
	char			*buf, cause[128];
	int			 unknown, n;

	a = calloc(1, sizeof(*a));
	b = calloc(1, sizeof(*b));
	buf = malloc(CARRY_MAX);
	CHECK(a != NULL && b != NULL && buf != NULL);
	cause[0] = '\0';
	if (stats_carry_decode((const char *)data, size, a, &unknown, cause,
	    sizeof(cause)) == -1) {
		CHECK(cause[0] != '\0');
		CHECK(memchr(cause, '\0', sizeof(cause)) != NULL);
	} else {
		CHECK(size <= CARRY_MAX);
		CHECK(unknown >= 0 && unknown <= CARRY_LINES_MAX);
		/* Gauges never come through. */
		CHECK(a->conn_active == 0 && a->tls_active == 0);
		n = stats_carry_encode(a, buf, CARRY_MAX);
		CHECK(n >= 0 && n < CARRY_MAX);
		CHECK(stats_carry_decode(buf, (size_t)n, b, &unknown, cause,
		    sizeof(cause)) == 0);
		CHECK(unknown == 0);
		CHECK(memcmp(a, b, sizeof(*a)) == 0);
	}
	free(a);
	free(b);
	free(buf);
	return (0);
}

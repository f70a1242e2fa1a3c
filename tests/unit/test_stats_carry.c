/*
 * test_stats_carry.c: the totals a binary upgrade carries by name: a round
 * trip keeps every counter and the histogram, gauges stay behind, a name
 * the new release does not know is dropped and counted, a histogram bound
 * it does not have lands in the bucket that covers it, sums saturate, and
 * malformed input (line length, line count, no newline, bad names and
 * numbers, NUL bytes, oversize) is refused without touching more than
 * the bounds allow.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hist.h"
#include "stats_carry.h"

/* Decode s (a C string) into *c (zeroed first); returns the rc. */
static int
decode(const char *s, struct stats_counters *c, int *unknown)
{
	char	cause[128];

	memset(c, 0, sizeof(*c));
	return (stats_carry_decode(s, strlen(s), c, unknown, cause,
	    sizeof(cause)));
}

static void
test_carry_round_trip(void **state)
{
	struct stats_counters	*a, *b;
	char			*buf;
	char			 cause[128];
	int			 n, unknown = -1;

	(void)state;
	a = calloc(1, sizeof(*a));
	b = calloc(1, sizeof(*b));
	buf = malloc(CARRY_MAX);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(buf);
	a->conn_accepted = 12345;
	a->conn_closed = 12000;
	a->conn_active = 345;		/* a gauge: not carried */
	a->tls_active = 7;		/* a gauge: not carried */
	a->req_ping = UINT64_MAX;
	a->st_ok = 99;
	hist_add(&a->latency, 1);
	hist_add(&a->latency, 1000);
	hist_add(&a->latency, 20000000);	/* clamped into the last */
	n = stats_carry_encode(a, buf, CARRY_MAX);
	assert_true(n > 0 && n < CARRY_MAX);
	assert_int_equal(stats_carry_decode(buf, (size_t)n, b, &unknown,
	    cause, sizeof(cause)), 0);
	assert_int_equal(unknown, 0);
	assert_true(b->conn_accepted == 12345);
	assert_true(b->conn_closed == 12000);
	assert_true(b->conn_active == 0);
	assert_true(b->tls_active == 0);
	assert_true(b->req_ping == UINT64_MAX);
	assert_true(b->st_ok == 99);
	assert_memory_equal(&a->latency, &b->latency, sizeof(a->latency));
	free(a);
	free(b);
	free(buf);
}

static void
test_carry_encode_too_small(void **state)
{
	struct stats_counters	c;
	char			buf[32];

	(void)state;
	memset(&c, 0, sizeof(c));
	c.conn_accepted = 1;
	assert_int_equal(stats_carry_encode(&c, buf, sizeof(buf)), -1);
	assert_int_equal(stats_carry_encode(&c, buf, 0), -1);
}

static void
test_carry_unknown_names_dropped(void **state)
{
	struct stats_counters	c;
	int			unknown;

	(void)state;
	assert_int_equal(decode("c conn_accepted 5\nc counter_of_2030 7\n"
	    "h median 3\nz anything 1\nc conn_active 9\n", &c, &unknown), 0);
	assert_true(c.conn_accepted == 5);
	/* A gauge named is not a counter: dropped, counted. */
	assert_true(c.conn_active == 0);
	assert_int_equal(unknown, 4);
}

static void
test_carry_sums_saturate(void **state)
{
	struct stats_counters	c;
	int			unknown;

	(void)state;
	assert_int_equal(decode("c st_ok 18446744073709551615\nc st_ok 2\n"
	    "h count 18446744073709551615\nh count 1\nh max 5\nh max 3\n",
	    &c, &unknown), 0);
	assert_true(c.st_ok == UINT64_MAX);
	assert_true(c.latency.count == UINT64_MAX);
	assert_true(c.latency.max == 5);
}

static void
test_carry_bucket_by_bound(void **state)
{
	struct stats_counters	c;
	uint64_t		upper;
	size_t			i;
	char			line[64];
	int			unknown;

	(void)state;
	/* An exact bound goes to its own bucket. */
	upper = hist_bucket_upper(100);
	snprintf(line, sizeof(line), "b %llu 4\n", (unsigned long long)upper);
	assert_int_equal(decode(line, &c, &unknown), 0);
	assert_true(c.latency.bucket[100] == 4);
	/* One between two bounds to the first that covers it. */
	snprintf(line, sizeof(line), "b %llu 3\n",
	    (unsigned long long)hist_bucket_upper(100) + 1);
	assert_int_equal(decode(line, &c, &unknown), 0);
	assert_true(c.latency.bucket[101] == 3);
	/* Beyond the last bound: the last bucket. */
	assert_int_equal(decode("b 18446744073709551615 2\nb 0 1\n", &c,
	    &unknown), 0);
	assert_true(c.latency.bucket[HIST_NBUCKETS - 1] == 2);
	assert_true(c.latency.bucket[0] == 1);
	for (i = 1; i < HIST_NBUCKETS - 1; i++)
		assert_true(c.latency.bucket[i] == 0);
}

static void
test_carry_malformed(void **state)
{
	static const char *const bad[] = {
		"c conn_accepted 5",		/* no newline */
		"c conn_accepted\n",		/* two fields */
		"c conn_accepted 5 6\n",	/* four */
		"c  conn_accepted 5\n",		/* empty field */
		"c conn_accepted -5\n",
		"c conn_accepted 5x\n",
		"c conn_accepted 18446744073709551616\n",
		"c conn_accepted \n",
		"c Conn_accepted 5\n",		/* not a name's characters */
		"c conn-accepted 5\n",
		"c conn_accepted 5\r\n",
		"b x 5\n",
		"\n",
	};
	struct stats_counters	c;
	size_t			i;
	int			unknown;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(decode(bad[i], &c, &unknown), -1);
}

static void
test_carry_nul_and_bounds(void **state)
{
	struct stats_counters	 c;
	char			 cause[128], *big;
	size_t			 i, n;
	int			 unknown;

	(void)state;
	/* A NUL inside a line. */
	assert_int_equal(stats_carry_decode("c st_ok 1\0\n", 11, &c, &unknown,
	    cause, sizeof(cause)), -1);
	/* A line longer than CARRY_LINE_MAX. */
	big = malloc(CARRY_MAX + 2);
	assert_non_null(big);
	memset(big, 'a', CARRY_LINE_MAX + 1);
	big[CARRY_LINE_MAX + 1] = '\n';
	assert_int_equal(stats_carry_decode(big, CARRY_LINE_MAX + 2, &c,
	    &unknown, cause, sizeof(cause)), -1);
	/* More than CARRY_LINES_MAX lines, each fine. */
	for (i = n = 0; i <= CARRY_LINES_MAX; i++) {
		memcpy(big + n, "c st_ok 1\n", 10);
		n += 10;
	}
	memset(&c, 0, sizeof(c));
	assert_int_equal(stats_carry_decode(big, n, &c, &unknown, cause,
	    sizeof(cause)), -1);
	/* Exactly CARRY_LINES_MAX lines: fine. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(stats_carry_decode(big, n - 10, &c, &unknown, cause,
	    sizeof(cause)), 0);
	assert_true(c.st_ok == CARRY_LINES_MAX);
	/* Larger than CARRY_MAX. */
	assert_int_equal(stats_carry_decode(big, CARRY_MAX + 1, &c, &unknown,
	    cause, sizeof(cause)), -1);
	/* Nothing at all: nothing carried. */
	assert_int_equal(stats_carry_decode(big, 0, &c, &unknown, cause,
	    sizeof(cause)), 0);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_carry_round_trip),
		cmocka_unit_test(test_carry_encode_too_small),
		cmocka_unit_test(test_carry_unknown_names_dropped),
		cmocka_unit_test(test_carry_sums_saturate),
		cmocka_unit_test(test_carry_bucket_by_bound),
		cmocka_unit_test(test_carry_malformed),
		cmocka_unit_test(test_carry_nul_and_bounds),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}

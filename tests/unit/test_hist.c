/*
 * test_hist.c: the latency histogram's bucket layout, error bound,
 * percentiles and merging.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "hist.h"

/* Largest relative overstatement of reporting a bucket's upper bound. */
#define REL_ERR		(1.0 / HIST_SUB)

/* Whether got is a bucket-upper-bound answer for the exact value want. */
static int
within_bucket(uint64_t got, uint64_t want)
{
	return (got >= want && (double)(got - want) <= REL_ERR * (double)want);
}

static void
test_hist_bucket_one(void **state)
{
	(void)state;
	assert_int_equal(hist_bucket(1), 0);
	assert_int_equal(hist_bucket_lower(0), 1);
	assert_int_equal(hist_bucket_upper(0), 1);
}

static void
test_hist_bucket_zero_clamps(void **state)
{
	(void)state;
	assert_int_equal(hist_bucket(0), hist_bucket(1));
}

static void
test_hist_bucket_linear_start(void **state)
{
	uint64_t	v;

	(void)state;
	/* Below 2 * HIST_SUB every microsecond has its own bucket. */
	for (v = 1; v < 2 * HIST_SUB; v++) {
		assert_int_equal(hist_bucket(v), v - 1);
		assert_int_equal(hist_bucket_upper(hist_bucket(v)), v);
	}
}

static void
test_hist_bucket_powers_of_two(void **state)
{
	uint64_t	v;
	size_t		i;

	(void)state;
	/* 2^k opens a bucket and 2^k - 1 closes the one before. */
	for (v = 2; v <= HIST_MAX_US; v <<= 1) {
		i = hist_bucket(v);
		assert_int_equal(hist_bucket_lower(i), v);
		assert_int_equal(hist_bucket(v - 1), i - 1);
		assert_int_equal(hist_bucket_upper(i - 1), v - 1);
	}
	/* From 2^5 on an octave holds HIST_SUB buckets. */
	assert_int_equal(hist_bucket(64) - hist_bucket(32), HIST_SUB);
	assert_int_equal(hist_bucket(1 << 20) - hist_bucket(1 << 19),
	    HIST_SUB);
}

static void
test_hist_bucket_ten_seconds(void **state)
{
	(void)state;
	assert_int_equal(hist_bucket(HIST_MAX_US), HIST_NBUCKETS - 1);
	assert_int_equal(hist_bucket_upper(HIST_NBUCKETS - 1), HIST_MAX_US);
	assert_true(hist_bucket_lower(HIST_NBUCKETS - 1) <= HIST_MAX_US);
	assert_int_equal(hist_bucket(HIST_MAX_US - 1), HIST_NBUCKETS - 1);
}

static void
test_hist_bucket_above_max_clamps(void **state)
{
	(void)state;
	assert_int_equal(hist_bucket(HIST_MAX_US + 1), HIST_NBUCKETS - 1);
	assert_int_equal(hist_bucket(3600ULL * 1000000), HIST_NBUCKETS - 1);
	assert_int_equal(hist_bucket(UINT64_MAX), HIST_NBUCKETS - 1);
}

static void
test_hist_bucket_upper_monotonic(void **state)
{
	size_t	i;

	(void)state;
	/* Buckets tile 1 .. HIST_MAX_US with no gap and no overlap. */
	for (i = 0; i + 1 < HIST_NBUCKETS; i++) {
		assert_true(hist_bucket_lower(i) <= hist_bucket_upper(i));
		assert_true(hist_bucket_upper(i) < hist_bucket_upper(i + 1));
		assert_int_equal(hist_bucket_lower(i + 1),
		    hist_bucket_upper(i) + 1);
		assert_int_equal(hist_bucket(hist_bucket_lower(i)), i);
		assert_int_equal(hist_bucket(hist_bucket_upper(i)), i);
	}
}

static void
test_hist_bucket_relative_error(void **state)
{
	uint64_t	v, up;

	(void)state;
	/* Every value, then a geometric walk: the bound holds throughout. */
	for (v = 1; v <= 100000; v++) {
		up = hist_bucket_upper(hist_bucket(v));
		assert_true(within_bucket(up, v));
	}
	for (v = 100000; v <= HIST_MAX_US; v += v / 997 + 1) {
		up = hist_bucket_upper(hist_bucket(v));
		assert_true(within_bucket(up, v));
	}
}

static void
test_hist_percentile_empty(void **state)
{
	struct hist	h;

	(void)state;
	hist_init(&h);
	assert_int_equal(hist_percentile(&h, 0), 0);
	assert_int_equal(hist_percentile(&h, 50), 0);
	assert_int_equal(hist_percentile(&h, 100), 0);
	assert_int_equal(hist_max(&h), 0);
	assert_int_equal(hist_mean(&h), 0);
}

static void
test_hist_percentile_uniform(void **state)
{
	struct hist	h;
	uint64_t	v;

	(void)state;
	hist_init(&h);
	for (v = 1; v <= 1000; v++)
		hist_add(&h, v);
	assert_int_equal(h.count, 1000);
	assert_true(within_bucket(hist_percentile(&h, 50), 500));
	assert_true(within_bucket(hist_percentile(&h, 90), 900));
	assert_true(within_bucket(hist_percentile(&h, 99), 990));
	assert_true(within_bucket(hist_percentile(&h, 99.9), 999));
	assert_int_equal(hist_percentile(&h, 0), 1);
	assert_int_equal(hist_percentile(&h, 100), 1000);
	assert_int_equal(hist_max(&h), 1000);
	assert_int_equal(hist_mean(&h), 500);
}

static void
test_hist_percentile_single_value(void **state)
{
	struct hist	h;
	int		i;

	(void)state;
	hist_init(&h);
	for (i = 0; i < 10; i++)
		hist_add(&h, 500);
	/* Capped at the maximum, so no bucket rounding shows. */
	assert_int_equal(hist_percentile(&h, 1), 500);
	assert_int_equal(hist_percentile(&h, 50), 500);
	assert_int_equal(hist_percentile(&h, 100), 500);
}

static void
test_hist_percentile_bimodal(void **state)
{
	struct hist	h;
	int		i;

	(void)state;
	hist_init(&h);
	for (i = 0; i < 990; i++)
		hist_add(&h, 100);
	for (i = 0; i < 10; i++)
		hist_add(&h, 50000);
	assert_true(within_bucket(hist_percentile(&h, 50), 100));
	assert_true(within_bucket(hist_percentile(&h, 99), 100));
	assert_true(within_bucket(hist_percentile(&h, 99.1), 50000));
	assert_int_equal(hist_percentile(&h, 100), 50000);
}

static void
test_hist_percentile_out_of_range(void **state)
{
	struct hist	h;

	(void)state;
	hist_init(&h);
	hist_add(&h, 10);
	hist_add(&h, 20);
	assert_int_equal(hist_percentile(&h, -5), 10);
	assert_int_equal(hist_percentile(&h, 250), 20);
}

static void
test_hist_add_clamped(void **state)
{
	struct hist	h;

	(void)state;
	hist_init(&h);
	hist_add(&h, 0);
	hist_add(&h, 20 * HIST_MAX_US);
	assert_int_equal(h.bucket[0], 1);
	assert_int_equal(h.bucket[HIST_NBUCKETS - 1], 1);
	/* The bucket is clamped, max and sum keep the real value. */
	assert_int_equal(hist_max(&h), 20 * HIST_MAX_US);
	assert_int_equal(h.sum, 20 * HIST_MAX_US);
	assert_int_equal(hist_percentile(&h, 100), HIST_MAX_US);
	assert_int_equal(hist_percentile(&h, 50), 1);
}

static void
test_hist_merge_sums(void **state)
{
	struct hist	a, b, all;
	uint64_t	v;

	(void)state;
	hist_init(&a);
	hist_init(&b);
	hist_init(&all);
	for (v = 1; v <= 2000; v++) {
		hist_add(v % 2 ? &a : &b, v * 3);
		hist_add(&all, v * 3);
	}
	hist_merge(&a, &b);
	assert_memory_equal(&a, &all, sizeof(a));
	assert_int_equal(hist_max(&a), 6000);
	assert_int_equal(hist_percentile(&a, 50),
	    hist_percentile(&all, 50));
}

static void
test_hist_merge_empty(void **state)
{
	struct hist	a, e, copy;

	(void)state;
	hist_init(&a);
	hist_init(&e);
	hist_add(&a, 42);
	copy = a;
	hist_merge(&a, &e);
	assert_memory_equal(&a, &copy, sizeof(a));
	hist_merge(&e, &a);
	assert_memory_equal(&e, &copy, sizeof(e));
}

/* Merged totals stop at UINT64_MAX instead of wrapping to small values. */
static void
test_hist_merge_saturates(void **state)
{
	struct hist	a, b;
	size_t		i;

	(void)state;
	hist_init(&a);
	hist_init(&b);
	a.count = a.sum = UINT64_MAX - 1;
	b.count = b.sum = 5;
	for (i = 0; i < HIST_NBUCKETS; i++) {
		a.bucket[i] = UINT64_MAX - i;
		b.bucket[i] = i + 1;
	}
	a.max = 7;
	b.max = UINT64_MAX;
	hist_merge(&a, &b);
	assert_true(a.count == UINT64_MAX);
	assert_true(a.sum == UINT64_MAX);
	assert_true(a.max == UINT64_MAX);
	for (i = 0; i < HIST_NBUCKETS; i++)
		assert_true(a.bucket[i] == UINT64_MAX);
	/* Exactly up to the top: UINT64_MAX - 1 + 1 is not saturation. */
	hist_init(&a);
	hist_init(&b);
	a.count = UINT64_MAX - 1;
	b.count = 1;
	hist_merge(&a, &b);
	assert_true(a.count == UINT64_MAX);
	a.count = 1;
	hist_merge(&a, &b);
	assert_true(a.count == 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_bucket_one),
		cmocka_unit_test(test_hist_bucket_zero_clamps),
		cmocka_unit_test(test_hist_bucket_linear_start),
		cmocka_unit_test(test_hist_bucket_powers_of_two),
		cmocka_unit_test(test_hist_bucket_ten_seconds),
		cmocka_unit_test(test_hist_bucket_above_max_clamps),
		cmocka_unit_test(test_hist_bucket_upper_monotonic),
		cmocka_unit_test(test_hist_bucket_relative_error),
		cmocka_unit_test(test_hist_percentile_empty),
		cmocka_unit_test(test_hist_percentile_uniform),
		cmocka_unit_test(test_hist_percentile_single_value),
		cmocka_unit_test(test_hist_percentile_bimodal),
		cmocka_unit_test(test_hist_percentile_out_of_range),
		cmocka_unit_test(test_hist_add_clamped),
		cmocka_unit_test(test_hist_merge_sums),
		cmocka_unit_test(test_hist_merge_empty),
		cmocka_unit_test(test_hist_merge_saturates),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}

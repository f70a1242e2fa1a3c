/*
 * hist.c: log-linear latency histogram; the bucket layout is described in
 * hist.h.  Pure functions over plain data.
 */
#include <string.h>

#include "hist.h"

/* The shift of the octave v lies in: 0 below 2 * HIST_SUB. */
static unsigned int
hist_shift(uint64_t v)
{
	unsigned int	log2v;

	log2v = 63 - (unsigned int)__builtin_clzll(v);
	return (log2v > HIST_SUB_BITS ? log2v - HIST_SUB_BITS : 0);
}

void
hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

/* Index of the bucket holding v, after clamping v to 1 .. HIST_MAX_US. */
size_t
hist_bucket(uint64_t v)
{
	unsigned int	s;

	if (v < 1)
		v = 1;
	else if (v > HIST_MAX_US)
		v = HIST_MAX_US;
	s = hist_shift(v);
	return ((size_t)s * HIST_SUB + (size_t)(v >> s) - 1);
}

/*
 * Invert the index formula: i + 1 = s * HIST_SUB + t, with t the value's
 * top HIST_SUB_BITS + 1 bits (HIST_SUB .. 2 * HIST_SUB - 1) when s > 0.
 */
static void
hist_split(size_t i, unsigned int *s, uint64_t *t)
{
	size_t	q = i + 1;

	if (q < 2 * HIST_SUB) {
		*s = 0;
		*t = q;
	} else {
		*s = (unsigned int)(q / HIST_SUB - 1);
		*t = q - (size_t)*s * HIST_SUB;
	}
}

/* The smallest value in bucket i. */
uint64_t
hist_bucket_lower(size_t i)
{
	unsigned int	s;
	uint64_t	t;

	if (i >= HIST_NBUCKETS)
		i = HIST_NBUCKETS - 1;
	hist_split(i, &s, &t);
	return (t << s);
}

/* The largest value in bucket i; the last bucket ends at HIST_MAX_US. */
uint64_t
hist_bucket_upper(size_t i)
{
	unsigned int	s;
	uint64_t	t;

	if (i >= HIST_NBUCKETS - 1)
		return (HIST_MAX_US);
	hist_split(i, &s, &t);
	return (((t + 1) << s) - 1);
}

void
hist_add(struct hist *h, uint64_t v)
{
	h->bucket[hist_bucket(v)]++;
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

/* a + b, or UINT64_MAX where it would wrap. */
static uint64_t
hist_sat(uint64_t a, uint64_t b)
{
	uint64_t	s;

	return (__builtin_add_overflow(a, b, &s) ? UINT64_MAX : s);
}

/*
 * Add src into dst, so per-thread or per-worker histograms can be summed.
 * Saturating: the master folds dead workers' histograms into retired
 * totals that promise never to wrap, whatever a slot said.
 */
void
hist_merge(struct hist *dst, const struct hist *src)
{
	size_t	i;

	for (i = 0; i < HIST_NBUCKETS; i++)
		dst->bucket[i] = hist_sat(dst->bucket[i], src->bucket[i]);
	dst->count = hist_sat(dst->count, src->count);
	dst->sum = hist_sat(dst->sum, src->sum);
	if (src->max > dst->max)
		dst->max = src->max;
}

/*
 * The p-th percentile (p in 0..100): the upper bound of the bucket holding
 * the value of rank ceil(p/100 * count), but never more than the largest
 * value seen, so p100 is the exact maximum.  0 for an empty histogram.
 */
uint64_t
hist_percentile(const struct hist *h, double p)
{
	uint64_t	rank, seen = 0, up;
	double		r;
	size_t		i;

	if (h->count == 0)
		return (0);
	if (!(p > 0.0))		/* also NaN */
		p = 0.0;
	else if (p > 100.0)
		p = 100.0;
	/* Round up, but not for the float noise of e.g. 99.9 * 1000. */
	r = p * (double)h->count / 100.0;
	rank = (uint64_t)r;
	if (r - (double)rank > 1e-6)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (i = 0; i < HIST_NBUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank)
			break;
	}
	if (i == HIST_NBUCKETS)		/* counts and buckets disagree */
		i = HIST_NBUCKETS - 1;
	up = hist_bucket_upper(i);
	return (up < h->max ? up : h->max);
}

uint64_t
hist_max(const struct hist *h)
{
	return (h->max);
}

/* The exact mean of the values added, rounded down; 0 when empty. */
uint64_t
hist_mean(const struct hist *h)
{
	return (h->count != 0 ? h->sum / h->count : 0);
}

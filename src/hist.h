/*
 * hist.h: a log-linear latency histogram in microseconds.
 *
 * The struct is fixed-size plain data (no pointers) so that it can be
 * copied, summed and placed in a shared-memory segment as it is.  All
 * functions are pure: no I/O, no allocation, no globals.
 *
 * Bucket layout.  A value v (clamped to 1 .. HIST_MAX_US) falls in
 *
 *	s = max(0, floor(log2(v)) - HIST_SUB_BITS)
 *	index = s * HIST_SUB + (v >> s) - 1
 *
 * Values below 2 * HIST_SUB (1 .. 31 us) get a bucket each.  From there on
 * every power of two [2^k, 2^(k+1)) is cut into HIST_SUB equal sub-buckets
 * of width 2^(k - HIST_SUB_BITS), so a bucket is never wider than 1/HIST_SUB
 * of its lower bound: reporting a bucket's upper bound overstates a value by
 * less than 1/16 (6.25%).  10 s = 10^7 us lies in [2^23, 2^24), s = 19,
 * v >> s = 19, giving the last index 322 and HIST_NBUCKETS 323.  The last
 * bucket's upper bound is clamped to HIST_MAX_US.
 */
#ifndef MSGD_HIST_H
#define MSGD_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BITS	4
#define HIST_SUB	(1 << HIST_SUB_BITS)	/* sub-buckets per octave */
#define HIST_MAX_US	10000000ULL		/* 10 s; larger is clamped */
#define HIST_NBUCKETS	323			/* hist_bucket(HIST_MAX_US) + 1 */

struct hist {
	uint64_t	count;		/* values added */
	uint64_t	sum;		/* of the values as given, unclamped */
	uint64_t	max;		/* largest value as given, unclamped */
	uint64_t	bucket[HIST_NBUCKETS];
};

void		hist_init(struct hist *);
size_t		hist_bucket(uint64_t);
uint64_t	hist_bucket_lower(size_t);
uint64_t	hist_bucket_upper(size_t);
void		hist_add(struct hist *, uint64_t);
void		hist_merge(struct hist *, const struct hist *);
uint64_t	hist_percentile(const struct hist *, double);
uint64_t	hist_max(const struct hist *);
uint64_t	hist_mean(const struct hist *);

#endif /* MSGD_HIST_H */

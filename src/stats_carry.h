/*
 * stats_carry.h: the totals a binary upgrade carries from the old master
 * to the new one, by name, so that a counter both releases know keeps
 * counting and one only the old release had is dropped (and counted),
 * whatever the two struct layouts are.  Text, one "c NAME VALUE" line per
 * counter, "h count|sum|max VALUE" and "b UPPER_US COUNT" for the latency
 * histogram, a bucket by its upper bound (a bound the new release does
 * not have goes to the first of its buckets that covers it).  The old
 * master writes it; the new one decodes it with every length, name,
 * number and line count bounded (tests/fuzz/fuzz_carry.c).
 */
#ifndef MSGD_STATS_CARRY_H
#define MSGD_STATS_CARRY_H

#include <stddef.h>

#include "stats.h"

#define CARRY_MAX	65536	/* bytes of an encoding, at most */
#define CARRY_LINE_MAX	128
#define CARRY_LINES_MAX	2048

int	stats_carry_encode(const struct stats_counters *, char *, size_t);
int	stats_carry_decode(const char *, size_t, struct stats_counters *,
	    int *, char *, size_t);

#endif /* MSGD_STATS_CARRY_H */

/*
 * stats_snap.h: the reader of the statistics segment (msgctl and the STATS
 * op): stats_open() checks a segment once and keeps its layout;
 * stats_snapshot() copies it consistently without locks; the snap_*
 * accessors read a copied slot through the descriptor table, never
 * through struct stats_counters, so that a segment of another release
 * with the same layout reads right.  Calls go down to stats.h only.
 */
#ifndef MSGD_STATS_SNAP_H
#define MSGD_STATS_SNAP_H

#include <stddef.h>
#include <stdint.h>

#include "hist.h"
#include "stats.h"

/* Offsets of the histogram's parts, relative to a HISTOGRAM descriptor. */
#define SNAP_H_COUNT	offsetof(struct hist, count)
#define SNAP_H_SUM	offsetof(struct hist, sum)
#define SNAP_H_MAX	offsetof(struct hist, max)
#define SNAP_H_BUCKET	offsetof(struct hist, bucket)

/*
 * A consistent copy for rendering: header fields, every slot and the
 * retired totals, read without locks.  Counters are read through the
 * descriptor table, never through struct stats_counters, so the renderers
 * work on a segment of another release with the same layout.
 */
struct stats_snap {
	struct stats_hdr	 hdr;
	uint8_t			*slots;		/* nslots * slot_size */
	uint8_t			*retired;	/* slot_size */
	uint8_t			*total;		/* retired + live slots */
	uint64_t		 now_ms;	/* CLOCK_MONOTONIC at read */
	uint64_t		 now_us;	/* CLOCK_REALTIME at read */
	int			 torn;		/* slots that never settled */
};

/*
 * The part of the header frozen since STATS_LAYOUT_UPGRADE (stats.h),
 * read from any later layout: who runs and how its upgrades went.
 */
struct stats_preamble {
	uint32_t		 layout;
	int32_t			 master_pid;
	uint64_t		 master_start_us;
	char			 version[32];
	struct stats_upgrade	 up;
};

int	 stats_preamble_open(const char *, char *, size_t);
int	 stats_preamble_read(int, struct stats_preamble *, char *, size_t);
int	 stats_open(struct stats_seg *, const char *, char *, size_t);
int	 stats_open_fd(struct stats_seg *, int, const char *, char *, size_t);
int	 stats_snapshot(const struct stats_seg *, struct stats_snap *,
	    char *, size_t);
int	 stats_snapshot_nowait(const struct stats_seg *, struct stats_snap *,
	    char *, size_t);
void	 stats_snap_free(struct stats_snap *);
void	 stats_set_read_budget(uint64_t);
uint64_t stats_get(const struct stats_snap *, const uint8_t *, const char *);

uint64_t snap_raw(const uint8_t *, uint32_t);
uint32_t snap_u32(const uint8_t *, size_t);
const char *snap_subject(const uint8_t *, char *, size_t);
const uint8_t *snap_slot(const struct stats_snap *, uint32_t);
int	 snap_live(const uint8_t *);
const struct stats_desc *snap_hist(const struct stats_snap *);
uint64_t snap_bucket(const uint8_t *, const struct stats_desc *, uint32_t);
uint64_t snap_percentile(const struct stats_snap *, const uint8_t *, double);
uint64_t snap_sum_name(const struct stats_snap *, const uint8_t *,
	    const char *);

#endif /* MSGD_STATS_SNAP_H */

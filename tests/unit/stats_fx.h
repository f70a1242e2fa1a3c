/*
 * stats_fx.h: what the stats unit tests share (test_stats, test_stats_snap,
 * test_stats_render): a fixture holding a fresh segment, readers of raw
 * slot copies, forged worker updates, a populated segment and rendering.
 */
#ifndef MSGD_TEST_STATS_FX_H
#define MSGD_TEST_STATS_FX_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "stats.h"
#include "stats_snap.h"

#define NSLOTS		4

#define WADD(s, f, n)	worker_add(s, offsetof(struct stats_counters, f), n)

/*
 * A populated segment: slot 0 and 1 live, slot 2 lived and was folded,
 * slot 3 never used; two listeners; master figures set.
 */
#define POP_ECHO	7	/* ECHO requests over all slots */
#define POP_REQUESTS	10	/* all requests */
#define POP_ACCEPTED	9	/* connections accepted, all slots */

/* A temporary directory holding a fresh segment of NSLOTS slots. */
struct fx {
	char		 dir[256];
	char		 path[300];
	struct stats_seg seg;
};

enum render { R_JSON, R_PROM, R_TABLE };

/* Where the creator put things: the offsets it wrote at creation. */
struct geom {
	uint32_t	slot_size, nslots, slot_offset, retired_offset, ndesc;
};

int	fx_setup(void **);
int	fx_teardown(void **);
size_t	page_up(size_t);
size_t	seg_size(size_t);
uint64_t	real_us(void);
void	fx_file(const struct fx *, const char *, char *, size_t);
void	write_file(const char *, const void *, size_t);
void	assert_refused(const char *, const char *);
uint64_t	raw64(const uint8_t *, size_t);
uint32_t	raw32(const uint8_t *, size_t);
const uint8_t *snap_at(const struct stats_snap *, int);
int32_t	snap_pid(const struct stats_snap *, int);
uint32_t	snap_state(const struct stats_snap *, int);
const struct stats_desc *find_desc(const struct stats_hdr *, const char *);
const struct stats_desc *lat_desc(const struct stats_snap *);
uint64_t	lat_count(const struct stats_snap *, const uint8_t *);
uint64_t	lat_bucket(const struct stats_snap *, const uint8_t *,
	    uint32_t);
uint64_t	lat_buckets(const struct stats_snap *, const uint8_t *);
uint64_t	sum_prefix(const struct stats_snap *, const uint8_t *,
	    const char *);
void	take(const struct stats_seg *, struct stats_snap *);
void	worker_add(struct stats_slot *, size_t, uint64_t);
void	requests(struct stats_slot *, unsigned int, unsigned int, uint64_t,
	    int);
char *render(const struct stats_snap *, const struct stats_snap *, enum render);
void	expect_text(const struct stats_snap *, enum render, ...);
int	find_line(const char *, const char *, char *, size_t);
int	words(char *, char **, int);
void	populate(struct fx *);
int	have_python(void);
int	python_json(const char *, const char *);
void	geom_of(const struct stats_hdr *, struct geom *);
void	smash_header(struct stats_hdr *);
void	busy_worker(struct fx *, int, int);

#endif /* MSGD_TEST_STATS_FX_H */

/*
 * test_stats_snap.c: the reader (stats_snap.c): opening a segment read-only
 * and refusing bad ones, the per-slot seqlock against a writer in another
 * process, torn slots, and a reader that keeps the layout it checked.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "hist.h"
#include "proto.h"
#include "stats.h"
#include "stats_render.h"
#include "stats_snap.h"
#include "util.h"
#include "stats_fx.h"

#define HAMMER_US	500000		/* how long the writer child runs */
#define HAMMER_SNAPS	200000		/* most snapshots the reader takes */
#define HAMMER_LIMIT_US	10000000	/* the reader gives up after this */
#define HAMMER_BURST	4096		/* updates between breaths */
#define HAMMER_BREATH_NS 20000

/* ------------------------------------------------- stats_open and slots */

static void
test_stats_open_read_only(void **state)
{
	struct fx		*fx = *state;
	struct stats_seg	 ro;
	struct stats_slot	*w, *r;
	char			 cause[512];
	int			 pfd[2];

	assert_int_equal(stats_open(&ro, fx->path, cause, sizeof(cause)), 0);
	assert_false(ro.writable);
	assert_int_equal(ro.size, fx->seg.size);
	assert_true(ro.hdr != fx->seg.hdr);
	assert_true(ro.hdr->magic == STATS_MAGIC);
	assert_int_equal(ro.hdr->nslots, NSLOTS);
	/* The same file: what the writer's mapping stores, the reader sees. */
	w = stats_slot(&fx->seg, 1);
	r = stats_slot(&ro, 1);
	stats_slot_start(w, 4321, 9);
	requests(w, MSG_OP_PUT, MSG_ST_OK, 20, 3);
	assert_int_equal(r->pid, 4321);
	assert_int_equal(r->generation, 9);
	assert_int_equal(r->c.req_put, 3);
	/*
	 * The kernel may not store into the reader's mapping: read(2) into
	 * it fails with EFAULT where it succeeds into the writer's.
	 */
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(write(pfd[1], "xy", 2), 2);
	errno = 0;
	assert_int_equal(read(pfd[0], &r->generation, 1), -1);
	assert_int_equal(errno, EFAULT);
	assert_int_equal(read(pfd[0], &w->generation, 1), 1);
	/* Little or big endian, 9 had one byte set; now it is x or y. */
	assert_true(w->generation == 'x' || w->generation == 'y' ||
	    w->generation == ((uint64_t)'x' << 56) + 9 ||
	    w->generation == ((uint64_t)'y' << 56) + 9);
	assert_int_equal(r->generation, w->generation);
	close(pfd[0]);
	close(pfd[1]);
	stats_close(&ro);
	assert_null(ro.hdr);
	stats_close(&ro);		/* twice is harmless */
}

static void
test_stats_open_missing(void **state)
{
	struct fx	*fx = *state;
	char		 p[512];

	fx_file(fx, "absent", p, sizeof(p));
	assert_refused(p, "no such file");
}

static void
test_stats_open_empty(void **state)
{
	struct fx	*fx = *state;
	char		 p[512];

	fx_file(fx, "empty", p, sizeof(p));
	write_file(p, "", 0);
	assert_refused(p, "0 bytes: too short");
}

/* Shorter than magic and layout: refused before mapping anything. */
static void
test_stats_open_short(void **state)
{
	struct fx	*fx = *state;
	char		 p[512];

	fx_file(fx, "short", p, sizeof(p));
	write_file(p, fx->seg.hdr, 15);
	assert_refused(p, "15 bytes: too short");
}

static void
test_stats_open_bad_magic(void **state)
{
	struct fx	*fx = *state;
	char		 p[512], junk[8192];

	fx_file(fx, "garbage", p, sizeof(p));
	memset(junk, 0xa5, sizeof(junk));
	write_file(p, junk, sizeof(junk));
	assert_refused(p, "bad magic");
	/* A real segment but for one byte of its magic. */
	((volatile uint8_t *)&fx->seg.hdr->magic)[7] ^= 0x20;
	assert_refused(fx->path, "bad magic");
}

static void
test_stats_open_wrong_layout(void **state)
{
	struct fx		*fx = *state;
	struct stats_seg	 ro;
	char			 cause[512], want[64];

	fx->seg.hdr->layout = STATS_LAYOUT + 1;
	snprintf(want, sizeof(want), "layout %u", STATS_LAYOUT + 1);
	assert_refused(fx->path, want);
	fx->seg.hdr->layout = STATS_LAYOUT;
	assert_int_equal(stats_open(&ro, fx->path, cause, sizeof(cause)), 0);
	stats_close(&ro);
}

/*
 * The frozen preamble (msgctl upgrade, status): read from a later layout
 * too, refused from an older one or a foreign file, its strings made safe
 * to print, and read through the descriptor after the path was replaced.
 */
static void
test_stats_preamble(void **state)
{
	struct fx		*fx = *state;
	struct stats_preamble	 pr;
	struct stats_upgrade	 u;
	char			 cause[512], p[512], junk[8192];
	int			 fd, fd2;

	memset(&u, 0, sizeof(u));
	u.count = 3;
	u.last_us = 1234;
	snprintf(u.from, sizeof(u.from), "0.9\033[2J");
	snprintf(u.exe, sizeof(u.exe), "/usr/sbin/msgd");
	snprintf(u.disk, sizeof(u.disk), "1.0");
	stats_set_upgrade_info(&fx->seg, &u);
	stats_set_upgrade(&fx->seg, 0, "refused: a reload is in progress");
	assert_true((fd = stats_preamble_open(fx->path, cause,
	    sizeof(cause))) != -1);
	assert_int_equal(stats_preamble_read(fd, &pr, cause, sizeof(cause)),
	    0);
	assert_int_equal(pr.layout, STATS_LAYOUT);
	assert_int_equal(pr.master_pid, getpid());
	assert_true(pr.up.seq == 1 && pr.up.ok == 0 && pr.up.count == 3 &&
	    pr.up.last_us == 1234);
	assert_string_equal(pr.up.msg, "refused: a reload is in progress");
	assert_string_equal(pr.up.from, "0.9?[2J");
	assert_string_equal(pr.up.exe, "/usr/sbin/msgd");
	assert_string_equal(pr.up.disk, "1.0");
	/* A later layout: still read (the preamble does not move). */
	fx->seg.hdr->layout = STATS_LAYOUT + 5;
	assert_int_equal(stats_preamble_read(fd, &pr, cause, sizeof(cause)),
	    0);
	/* An older one: refused, saying so. */
	fx->seg.hdr->layout = STATS_LAYOUT_UPGRADE - 1;
	assert_int_equal(stats_preamble_read(fd, &pr, cause, sizeof(cause)),
	    -1);
	assert_non_null(strstr(cause, "older than in-place upgrades"));
	fx->seg.hdr->layout = STATS_LAYOUT;
	/* Unterminated strings come back terminated. */
	memset(fx->seg.hdr->up.msg, 'x', sizeof(fx->seg.hdr->up.msg));
	assert_int_equal(stats_preamble_read(fd, &pr, cause, sizeof(cause)),
	    0);
	assert_int_equal(strlen(pr.up.msg), sizeof(pr.up.msg) - 1);
	/* Another file put at the path: the descriptor reads the old one. */
	fx_file(fx, "garbage", p, sizeof(p));
	memset(junk, 0xa5, sizeof(junk));
	write_file(p, junk, sizeof(junk));
	assert_int_equal(rename(p, fx->path), 0);
	assert_int_equal(stats_preamble_read(fd, &pr, cause, sizeof(cause)),
	    0);
	assert_true((fd2 = stats_preamble_open(fx->path, cause,
	    sizeof(cause))) != -1);
	assert_int_equal(stats_preamble_read(fd2, &pr, cause, sizeof(cause)),
	    -1);
	assert_non_null(strstr(cause, "bad magic"));
	close(fd2);
	/* Too short a file. */
	write_file(p, junk, 100);
	assert_true((fd2 = stats_preamble_open(p, cause, sizeof(cause))) !=
	    -1);
	assert_int_equal(stats_preamble_read(fd2, &pr, cause, sizeof(cause)),
	    -1);
	close(fd2);
	close(fd);
	assert_int_equal(stats_preamble_open("/nonexistent/stats", cause,
	    sizeof(cause)), -1);
	assert_non_null(strstr(cause, "no such file"));
}

static void
test_stats_open_truncated(void **state)
{
	struct fx		*fx = *state;
	const off_t		 cut[] = {
		(off_t)fx->seg.size - 1,
		(off_t)fx->seg.size - (off_t)sizeof(struct stats_slot),
		(off_t)sizeof(struct stats_hdr),
		(off_t)sizeof(struct stats_hdr) / 2,
		4096,
	};
	size_t			 i;

	for (i = 0; i < nitems(cut); i++) {
		assert_int_equal(ftruncate(fx->seg.fd_rw, cut[i]), 0);
		assert_refused(fx->path, "inconsistent or truncated");
	}
}

/* Longer than its header says: not the file the header describes. */
static void
test_stats_open_extended(void **state)
{
	struct fx	*fx = *state;

	assert_int_equal(ftruncate(fx->seg.fd_rw,
	    (off_t)fx->seg.size + 4096), 0);
	assert_refused(fx->path, "inconsistent or truncated");
}

/* Header fields that would place slots outside the file are refused. */
static void
test_stats_open_inconsistent_header(void **state)
{
	struct fx		*fx = *state;
	struct stats_hdr	*h = fx->seg.hdr;
	struct stats_hdr	 keep;
	struct stats_seg	 ro;
	char			 cause[512];
	int			 i;

	memcpy(&keep, h, sizeof(keep));
	for (i = 0; i < 6; i++) {
		switch (i) {
		case 0: h->nslots = NSLOTS + 2; break;
		case 1: h->retired_offset = (uint32_t)h->total_size; break;
		case 2: h->slot_offset = 64; break;
		case 3: h->hdr_size = 64; break;
		case 4: h->slot_size = 8; break;
		case 5: h->ndesc = STATS_MAX_DESC + 1; break;
		}
		assert_refused(fx->path, "inconsistent or truncated");
		memcpy(h, &keep, sizeof(keep));
	}
	assert_int_equal(stats_open(&ro, fx->path, cause, sizeof(cause)), 0);
	stats_close(&ro);
}

/*
 * A descriptor that points outside the slot would have the snapshot read
 * past its copy: stats_open promises such a segment is refused, never
 * misread.
 */
static void
test_stats_open_desc_outside_slot(void **state)
{
	struct fx		*fx = *state;
	struct stats_hdr	*h = fx->seg.hdr;
	struct stats_desc	*hd = NULL;
	struct stats_desc	 keep;
	uint32_t		 k;
	int			 i;

	for (k = 0; k < h->ndesc; k++)
		if (h->desc[k].kind == STATS_HISTOGRAM)
			hd = &h->desc[k];
	assert_non_null(hd);
	for (i = 0; i < 3; i++) {
		memcpy(&keep, &h->desc[0], sizeof(keep));
		switch (i) {
		case 0: h->desc[0].offset = h->slot_size + 1024 * 1024; break;
		case 1: h->desc[0].offset = h->slot_size - 4; break;
		case 2: hd->nbuckets = STATS_MAX_BUCKETS; break;
		}
		assert_refused(fx->path, "");
		memcpy(&h->desc[0], &keep, sizeof(keep));
		hd->nbuckets = HIST_NBUCKETS;
	}
}

/* -------------------------------------------- seqlock across processes */

static const unsigned int hammer_ops[] = {
	MSG_OP_PING, MSG_OP_ECHO, MSG_OP_UPPER, MSG_OP_TIME, MSG_OP_STATS,
	MSG_OP_AUTH, MSG_OP_PUT, MSG_OP_GET, MSG_OP_LIST, MSG_OP_DEL,
	MSG_OP_EXEC, 0x7f,
};

/* One counter update as a section of its own: pending, published at once. */
static void
add_now(struct stats_slot *s, size_t off, uint64_t n)
{
	struct stats_pend	p;

	memset(&p, 0, sizeof(p));
	stats_pend_add(&p, s, off, n);
	stats_publish(&p, s);
}

/*
 * The child: a worker answering as fast as it can until HAMMER_US is up,
 * in bursts with a short breath between (a real worker waits in epoll), so
 * that readers on a machine with a core to spare still get a quiet moment.
 */
static void
hammer_child(struct stats_slot *s, int wfd)
{
	struct timespec	ts = { 0, HAMMER_BREATH_NS };
	uint64_t	deadline, n = 0;

	stats_slot_start(s, (int)getpid(), 1);
	if (write_full(wfd, "r", 1) != 1)
		_exit(2);
	deadline = mono_us() + HAMMER_US;
	while ((n & 255) != 0 || mono_us() < deadline) {
		stats_request(s, hammer_ops[n % nitems(hammer_ops)],
		    (unsigned int)(n % (MSG_ST_MAX + 1)),
		    1 + (n * 7919) % 50000);
		add_now(s, offsetof(struct stats_counters, bytes_in), 3);
		add_now(s, offsetof(struct stats_counters, bytes_out), 5);
		if (++n % HAMMER_BURST == 0)
			nanosleep(&ts, NULL);
	}
	if (write_full(wfd, &n, sizeof(n)) != sizeof(n))
		_exit(2);
	_exit(0);
}

/*
 * What a torn copy would break: requests, responses, latency samples and
 * buckets are one section and must agree; the two byte counters are
 * sections of their own, one request behind at most.
 */
static uint64_t
check_consistent(const struct stats_snap *sn, const uint8_t *p)
{
	uint64_t	req, bin, bout;

	req = sum_prefix(sn, p, "req_");
	assert_int_equal(sum_prefix(sn, p, "st_"), req);
	assert_int_equal(lat_count(sn, p), req);
	assert_int_equal(lat_buckets(sn, p), req);
	bin = stats_get(sn, p, "bytes_in");
	bout = stats_get(sn, p, "bytes_out");
	assert_int_equal(bin % 3, 0);
	assert_int_equal(bout % 5, 0);
	assert_true(bin / 3 <= req && bin / 3 + 1 >= req);
	assert_true(bout / 5 <= bin / 3 && bout / 5 + 1 >= bin / 3);
	return (req);
}

/* Nothing counted in prev may be less in cur. */
static void
check_monotonic(const struct stats_snap *sn, const uint8_t *prev,
    const uint8_t *cur)
{
	const struct stats_desc	*d;
	uint32_t		 k, b;

	for (k = 0; k < sn->hdr.ndesc; k++) {
		d = &sn->hdr.desc[k];
		if (d->kind != STATS_HISTOGRAM) {
			if (raw64(cur, d->offset) < raw64(prev, d->offset))
				fail_msg("%s went back from %" PRIu64 " to %"
				    PRIu64, d->field, raw64(prev, d->offset),
				    raw64(cur, d->offset));
			continue;
		}
		assert_true(lat_count(sn, cur) >= lat_count(sn, prev));
		for (b = 0; b < d->nbuckets; b++)
			assert_true(lat_bucket(sn, cur, b) >=
			    lat_bucket(sn, prev, b));
	}
}

static void
test_stats_snapshot_seqlock_fork(void **state)
{
	struct fx		*fx = *state;
	struct stats_seg	 ro;
	struct stats_snap	 sn;
	uint8_t			*last;
	uint64_t		 n, req, prev_req = 0, limit;
	char			 cause[512], c;
	pid_t			 pid;
	int			 pfd[2], status = 0, good = 0, torn = 0;
	int			 moved = 0, snaps = 0, done = 0;

	assert_int_equal(stats_open(&ro, fx->path, cause, sizeof(cause)), 0);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		close(pfd[0]);
		hammer_child(stats_slot(&fx->seg, 1), pfd[1]);
	}
	close(pfd[1]);
	assert_int_equal(read_full(pfd[0], &c, 1), 1);
	last = calloc(1, ro.hdr->slot_size);
	assert_non_null(last);
	limit = mono_us() + HAMMER_LIMIT_US;
	/* Read through a mapping of our own, as msgctl does. */
	while (!done && snaps < HAMMER_SNAPS && mono_us() < limit) {
		done = waitpid(pid, &status, WNOHANG) == pid;
		take(&ro, &sn);
		snaps++;
		if (sn.torn != 0) {
			torn++;
			stats_snap_free(&sn);
			continue;
		}
		req = check_consistent(&sn, snap_at(&sn, 1));
		check_monotonic(&sn, last, snap_at(&sn, 1));
		if (req != prev_req)
			moved++;
		prev_req = req;
		memcpy(last, snap_at(&sn, 1), sn.hdr.slot_size);
		good++;
		stats_snap_free(&sn);
	}
	if (!done) {
		/* Out of time or snapshots: the writer stops by itself. */
		assert_int_equal(waitpid(pid, &status, 0), pid);
	}
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(read_full(pfd[0], &n, sizeof(n)), sizeof(n));
	close(pfd[0]);
	print_message("seqlock: %d snapshots, %d consistent, %d torn, "
	    "%d saw progress, writer made %" PRIu64 " updates\n", snaps,
	    good, torn, moved, n);
	/* The reader must really have overlapped the writer. */
	assert_true(good >= 10);
	assert_true(moved >= 2);
	/* Quiet now: exactly what the writer did. */
	take(&ro, &sn);
	assert_int_equal(sn.torn, 0);
	assert_int_equal(check_consistent(&sn, snap_at(&sn, 1)), n);
	check_monotonic(&sn, last, snap_at(&sn, 1));
	assert_int_equal(stats_get(&sn, snap_at(&sn, 1), "bytes_in"),
	    3 * n);
	assert_int_equal(stats_get(&sn, sn.total, "bytes_out"),
	    5 * n);
	assert_int_equal(snap_pid(&sn, 1), pid);
	stats_snap_free(&sn);
	free(last);
	stats_close(&ro);
}

/* ------------------------------------------------------------ torn slots */

/* A writer stuck mid-update: the snapshot says so and still returns. */
static void
test_stats_snapshot_torn_reported(void **state)
{
	struct fx		*fx = *state;
	struct stats_slot	*s = stats_slot(&fx->seg, 2);
	struct stats_snap	 sn;
	uint64_t		 t0;

	busy_worker(fx, 0, 3008);
	busy_worker(fx, 2, 3009);
	stats_begin(s);
	t0 = mono_us();
	take(&fx->seg, &sn);
	assert_true(mono_us() - t0 < 5000000);
	assert_int_equal(sn.torn, 1);
	/* The other slots are copied as usual. */
	assert_int_equal(snap_pid(&sn, 0), 3008);
	assert_int_equal(stats_get(&sn, snap_at(&sn, 0), "req_echo"), 6);
	expect_text(&sn, R_TABLE, "warning: 1 slot(s) were mid-update", NULL);
	expect_text(&sn, R_JSON, "\"torn_slots\": 1}", NULL);
	stats_snap_free(&sn);
	stats_end(s);
	take(&fx->seg, &sn);
	assert_int_equal(sn.torn, 0);
	assert_int_equal(stats_get(&sn, sn.total, "req_echo"), 12);
	stats_snap_free(&sn);
}

/* sched_yield, counted: how often a reader waited for a writer. */
int	__real_sched_yield(void);
int	__wrap_sched_yield(void);
static int	yields;

int
__wrap_sched_yield(void)
{
	yields++;
	return (__real_sched_yield());
}

/*
 * The root master's read (stats_snapshot_nowait) never waits for a writer:
 * a worker that leaves its slot mid-update cannot hold the master's loop.
 * stats_snapshot, msgctl's, does wait (yielding) before calling it torn.
 */
static void
test_stats_snapshot_nowait(void **state)
{
	struct fx		*fx = *state;
	struct stats_slot	*s = stats_slot(&fx->seg, 1);
	struct stats_snap	 sn;
	char			 cause[256];

	busy_worker(fx, 0, 3011);
	busy_worker(fx, 1, 3012);
	stats_begin(s);
	yields = 0;
	assert_int_equal(stats_snapshot_nowait(&fx->seg, &sn, cause,
	    sizeof(cause)), 0);
	assert_int_equal(yields, 0);
	assert_int_equal(sn.torn, 1);
	assert_int_equal(snap_pid(&sn, 0), 3011);
	assert_int_equal(snap_pid(&sn, 1), 3012);
	assert_int_equal(stats_get(&sn, sn.total, "req_echo"), 12);
	stats_snap_free(&sn);
	/* Long enough that a preemption cannot pass it before one yield. */
	stats_set_read_budget(200000);
	take(&fx->seg, &sn);
	stats_set_read_budget(50000);
	assert_true(yields > 0);
	assert_int_equal(sn.torn, 1);
	stats_snap_free(&sn);
	stats_end(s);
	yields = 0;
	assert_int_equal(stats_snapshot_nowait(&fx->seg, &sn, cause,
	    sizeof(cause)), 0);
	assert_int_equal(sn.torn, 0);
	stats_snap_free(&sn);
}

/*
 * stats_snapshot: "A slot whose writer stopped mid-update (a stuck worker)
 * is used as copied".  Its figures must stay in the snapshot and the
 * totals, or the totals drop while a worker is stuck and jump back when
 * it moves on.
 */
static void
test_stats_snapshot_torn_keeps_figures(void **state)
{
	struct fx		*fx = *state;
	struct stats_slot	*s = stats_slot(&fx->seg, 2);
	struct stats_snap	 sn;
	uint64_t		 slot_echo, total_echo;
	int32_t			 pid;
	int			 torn;

	busy_worker(fx, 2, 3010);
	stats_begin(s);
	take(&fx->seg, &sn);
	torn = sn.torn;
	pid = snap_pid(&sn, 2);
	slot_echo = stats_get(&sn, snap_at(&sn, 2), "req_echo");
	total_echo = stats_get(&sn, sn.total, "req_echo");
	stats_snap_free(&sn);
	stats_end(s);
	assert_int_equal(torn, 1);
	assert_int_equal(pid, 3010);
	assert_int_equal(slot_echo, 6);
	assert_int_equal(total_echo, 6);
}

/*
 * A reader (msgctl) keeps the layout it checked at open: a header changed
 * afterwards cannot make a snapshot read outside its copies, and strings
 * without an end are cut.
 */
static void
test_stats_reader_keeps_layout(void **state)
{
	struct fx		*fx = *state;
	struct stats_seg	 ro;
	struct stats_snap	 sn;
	char			 cause[512], *out;

	busy_worker(fx, 0, 3201);
	assert_int_equal(stats_open(&ro, fx->path, cause, sizeof(cause)), 0);
	smash_header(fx->seg.hdr);
	take(&ro, &sn);
	assert_int_equal(sn.hdr.nslots, NSLOTS);
	assert_int_equal(sn.hdr.slot_size, page_up(sizeof(struct stats_slot)));
	assert_int_equal(snap_pid(&sn, 0), 3201);
	assert_int_equal(stats_get(&sn, sn.total, "req_echo"), 6);
	assert_true(strlen(sn.hdr.version) < sizeof(sn.hdr.version));
	assert_true(strlen(sn.hdr.listeners[0].addr) <
	    sizeof(sn.hdr.listeners[0].addr));
	out = render(&sn, NULL, R_JSON);
	free(out);
	out = render(&sn, NULL, R_TABLE);
	free(out);
	stats_snap_free(&sn);
	stats_close(&ro);
	/* A new reader refuses what the file says now. */
	assert_refused(fx->path, "bad magic");
}

int
main(void)
{
#define T(f)	cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_stats_open_read_only),
		T(test_stats_open_missing),
		T(test_stats_open_empty),
		T(test_stats_open_short),
		T(test_stats_open_bad_magic),
		T(test_stats_open_wrong_layout),
		T(test_stats_preamble),
		T(test_stats_open_truncated),
		T(test_stats_open_extended),
		T(test_stats_open_inconsistent_header),
		T(test_stats_open_desc_outside_slot),
		T(test_stats_snapshot_seqlock_fork),
		T(test_stats_snapshot_torn_reported),
		T(test_stats_snapshot_torn_keeps_figures),
		T(test_stats_snapshot_nowait),
		T(test_stats_reader_keeps_layout),
	};
#undef T

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

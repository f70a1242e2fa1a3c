/*
 * test_stats.c: the segment (stats.c): creating it and its header, slots
 * and the workers' updates, folding a dead worker into the retired totals,
 * the master's header fields, and the segment as input, not truth.
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

/* ------------------------------------------------------- stats_create */

static void
test_stats_create_file(void **state)
{
	struct fx	*fx = *state;
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	assert_int_equal(stat(fx->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	/* Read-only for all: its owner cannot open it for writing by path. */
	assert_int_equal(st.st_mode & 07777, 0440);
	if (geteuid() != 0) {
		assert_int_equal(open(fx->path, O_RDWR | O_CLOEXEC), -1);
		assert_int_equal(errno, EACCES);
	}
	assert_int_equal((size_t)st.st_size, seg_size(NSLOTS));
	assert_int_equal(fx->seg.size, (size_t)st.st_size);
	assert_true(fx->seg.writable);
	/* Built under a temporary name, renamed: nothing else is left. */
	assert_non_null(d = opendir(fx->dir));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		assert_string_equal(de->d_name, "stats");
		n++;
	}
	closedir(d);
	assert_int_equal(n, 1);
}

static void
test_stats_create_header(void **state)
{
	struct fx		*fx = *state;
	const struct stats_hdr	*h = fx->seg.hdr;
	size_t			 pg = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t		 now;
	uint32_t		 i;

	assert_true(h->magic == STATS_MAGIC);
	assert_memory_equal(&h->magic, "GSGDSTAT", 8);
	assert_int_equal(h->layout, STATS_LAYOUT);
	assert_int_equal(h->hdr_size, sizeof(struct stats_hdr));
	assert_int_equal(h->total_size, fx->seg.size);
	/* Whole pages per slot, so a worker can map its own alone. */
	assert_int_equal(h->slot_size, page_up(sizeof(struct stats_slot)));
	assert_int_equal(h->slot_size % pg, 0);
	assert_int_equal(h->slot_size % STATS_ALIGN, 0);
	assert_int_equal(h->nslots, NSLOTS);
	assert_int_equal(h->slot_offset, page_up(sizeof(struct stats_hdr)));
	assert_int_equal(h->slot_offset % pg, 0);
	assert_int_equal(h->retired_offset,
	    h->slot_offset + NSLOTS * h->slot_size);
	assert_int_equal(h->retired_offset + h->slot_size, h->total_size);
	assert_int_equal(h->master_pid, getpid());
	assert_int_equal(h->generation, 1);
	assert_int_equal(h->nlisteners, 0);
	assert_string_equal(h->version, PACKAGE_VERSION);
	/*
	 * Stamped with CLOCK_REALTIME during the fixture's set-up: not after
	 * now on that clock (time(2) reads a coarser clock that can lag a
	 * tick: comparing with it failed near a second boundary).
	 */
	now = real_us();
	assert_true(h->master_start_us <= now &&
	    h->master_start_us + 60000000 >= now);
	assert_true(atomic_load(&h->master_heartbeat_ms) <= mono_ms());
	assert_int_equal(atomic_load(&h->mseq) % 2, 0);
	assert_true(h->ndesc > 0 && h->ndesc <= STATS_MAX_DESC);
	/* Histogram bounds: one per bucket, strictly increasing, to 10 s. */
	assert_int_equal(h->nbuckets, HIST_NBUCKETS);
	assert_int_equal(h->bucket_upper_us[0], hist_bucket_upper(0));
	for (i = 1; i < h->nbuckets; i++)
		assert_true(h->bucket_upper_us[i] > h->bucket_upper_us[i - 1]);
	assert_int_equal(h->bucket_upper_us[h->nbuckets - 1], HIST_MAX_US);
	/* Every slot starts empty and even. */
	for (i = 0; i < NSLOTS; i++) {
		assert_int_equal(atomic_load(&stats_slot(&fx->seg,
		    (int)i)->seq), 0);
		assert_int_equal(stats_slot(&fx->seg, (int)i)->pid, 0);
		assert_int_equal(stats_slot(&fx->seg, (int)i)->c.req_echo, 0);
	}
}

/* A descriptor names its counter's slot offset, kind, metric and label. */
static void
check_desc(const struct stats_hdr *h, const char *field, const char *name,
    const char *label, uint32_t kind, size_t off)
{
	const struct stats_desc	*d = find_desc(h, field);

	if (d == NULL)
		fail_msg("no descriptor for %s", field);
	assert_string_equal(d->name, name);
	assert_string_equal(d->label, label);
	assert_int_equal(d->kind, kind);
	assert_int_equal(d->offset, off);
	assert_true(d->offset + sizeof(uint64_t) <= h->slot_size);
	assert_true(d->help[0] != '\0' || strcmp(name, "requests") == 0 ||
	    strcmp(name, "responses") == 0);
}

static void
test_stats_create_descriptors(void **state)
{
	struct fx		*fx = *state;
	const struct stats_hdr	*h = fx->seg.hdr;
	const struct stats_desc	*d;
	uint32_t		 n = 0;

#define X(f, m, l, k, u, hp)						\
	check_desc(h, #f, m, l, STATS_##k, offsetof(struct stats_slot, c) + \
	    offsetof(struct stats_counters, f));			\
	n++;
	STATS_COUNTERS(X)
#undef X
	assert_int_equal(h->ndesc, n + 1);
	d = find_desc(h, "latency");
	assert_non_null(d);
	assert_int_equal(d->kind, STATS_HISTOGRAM);
	assert_int_equal(d->nbuckets, HIST_NBUCKETS);
	assert_int_equal(d->offset, offsetof(struct stats_slot, c) +
	    offsetof(struct stats_counters, latency));
	assert_true(d->offset + sizeof(struct hist) <= h->slot_size);
}

/*
 * Every opcode of MSG_OPCODES has its request counter and every status
 * of MSG_STATUSES its response counter, named after the row: a new row
 * in proto.h is counted without a line here or in stats.h.
 */
static void
test_stats_create_proto_counters(void **state)
{
	struct fx		*fx = *state;
	const struct stats_hdr	*h = fx->seg.hdr;

#define X(N, n, code, udp, auth, inplace)				\
	check_desc(h, "req_" #n, "requests", "op=" #N, STATS_COUNTER,	\
	    offsetof(struct stats_slot, c) +				\
	    offsetof(struct stats_counters, req_##n));
	MSG_OPCODES(X)
#undef X
	check_desc(h, "req_other", "requests", "op=other", STATS_COUNTER,
	    offsetof(struct stats_slot, c) +
	    offsetof(struct stats_counters, req_other));
#define X(N, n, code)							\
	check_desc(h, "st_" #n, "responses", "status=" #N, STATS_COUNTER, \
	    offsetof(struct stats_slot, c) +				\
	    offsetof(struct stats_counters, st_##n));
	MSG_STATUSES(X)
#undef X
}

static void
test_stats_create_sizes(void **state)
{
	struct fx		*fx = *state;
	static const int	 ns[] = { 1, 2, 17, 64 };
	struct stats_seg	 seg, ro;
	struct stat		 st;
	char			 p[512], cause[512];
	size_t			 i;

	for (i = 0; i < nitems(ns); i++) {
		snprintf(p, sizeof(p), "%s/s%d", fx->dir, ns[i]);
		assert_int_equal(stats_create(&seg, p, ns[i], cause,
		    sizeof(cause)), 0);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal((size_t)st.st_size, seg_size((size_t)ns[i]));
		assert_int_equal(seg.hdr->nslots, ns[i]);
		assert_non_null(stats_slot(&seg, ns[i] - 1));
		assert_null(stats_slot(&seg, ns[i]));
		assert_int_equal(stats_open(&ro, p, cause, sizeof(cause)), 0);
		stats_close(&ro);
		stats_close(&seg);
		assert_null(seg.hdr);
	}
}

/* An existing file is replaced by a fresh segment, never reused. */
static void
test_stats_create_replaces_existing(void **state)
{
	struct fx		*fx = *state;
	struct stats_seg	 seg;
	struct stats_slot	*s;
	char			 cause[512];

	s = stats_slot(&fx->seg, 0);
	stats_slot_start(s, 77, 1);
	requests(s, MSG_OP_PING, MSG_ST_OK, 10, 5);
	assert_int_equal(stats_create(&seg, fx->path, NSLOTS, cause,
	    sizeof(cause)), 0);
	s = stats_slot(&seg, 0);
	assert_int_equal(s->pid, 0);
	assert_int_equal(s->c.req_ping, 0);
	assert_int_equal(s->c.latency.count, 0);
	/* The old mapping is of the unlinked file and keeps its figures. */
	assert_int_equal(stats_slot(&fx->seg, 0)->c.req_ping, 5);
	stats_close(&seg);
}

/* A process that calls itself name and waits to be killed. */
static pid_t
spawn_named(const char *name)
{
	pid_t	pid;
	int	pfd[2];
	char	c;

	assert_int_equal(pipe(pfd), 0);
	if ((pid = fork()) == 0) {
		close(pfd[0]);
		prctl(PR_SET_NAME, name, 0, 0, 0);
		if (write_full(pfd[1], "r", 1) != 1)
			_exit(2);
		for (;;)
			pause();
	}
	assert_true(pid != -1);
	close(pfd[1]);
	assert_int_equal(read_full(pfd[0], &c, 1), 1);
	close(pfd[0]);
	return (pid);
}

static void
reap(pid_t pid)
{
	int	st;

	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/*
 * The segment of another running msgd is not replaced under it; one whose
 * master is gone, or is some other program now, is.
 */
static void
test_stats_create_refuses_live_msgd(void **state)
{
	struct fx		*fx = *state;
	struct stats_seg	 seg;
	char			 cause[1024], want[64];
	pid_t			 msgd, other;
	int			 rc_msgd, rc_other, rc_dead;

	msgd = spawn_named("msgd");
	other = spawn_named("not-it");
	fx->seg.hdr->master_pid = msgd;
	rc_msgd = stats_create(&seg, fx->path, NSLOTS, cause, sizeof(cause));
	if (rc_msgd == 0)
		stats_close(&seg);
	fx->seg.hdr->master_pid = other;
	rc_other = stats_create(&seg, fx->path, NSLOTS, cause + 512,
	    sizeof(cause) - 512);
	reap(msgd);
	reap(other);
	assert_int_equal(rc_msgd, -1);
	snprintf(want, sizeof(want), "in use by another msgd (pid %d)",
	    (int)msgd);
	assert_non_null(strstr(cause, want));
	assert_non_null(strstr(cause, fx->path));
	assert_int_equal(rc_other, 0);
	assert_int_equal(seg.hdr->master_pid, getpid());
	/* That one is the file now; its master reaped is a dead one. */
	seg.hdr->master_pid = msgd;
	stats_close(&fx->seg);
	rc_dead = stats_create(&fx->seg, fx->path, NSLOTS, cause,
	    sizeof(cause));
	stats_close(&seg);
	assert_int_equal(rc_dead, 0);
}

static void
test_stats_create_bad_path(void **state)
{
	struct fx		*fx = *state;
	struct stats_seg	 seg;
	char			 p[700], cause[1024];

	memset(&seg, 0, sizeof(seg));
	snprintf(p, sizeof(p), "%s/no/such/dir/stats", fx->dir);
	assert_int_equal(stats_create(&seg, p, 2, cause, sizeof(cause)), -1);
	assert_non_null(strstr(cause, p));
	assert_non_null(strstr(cause, strerror(ENOENT)));
	assert_null(seg.hdr);
	/* A name too long for the temporary one is refused up front. */
	memset(p, 'a', 600);
	p[0] = '/';
	p[600] = '\0';
	assert_int_equal(stats_create(&seg, p, 2, cause, sizeof(cause)), -1);
	assert_non_null(strstr(cause, "path too long"));
}

static void
test_stats_slot_bounds(void **state)
{
	struct fx	*fx = *state;
	struct stats_seg none;
	int		 i;

	assert_null(stats_slot(&fx->seg, -1));
	assert_null(stats_slot(&fx->seg, NSLOTS));
	for (i = 0; i < NSLOTS; i++)
		assert_ptr_equal(stats_slot(&fx->seg, i),
		    (char *)fx->seg.hdr + fx->seg.hdr->slot_offset +
		    (size_t)i * page_up(sizeof(struct stats_slot)));
	assert_int_equal((uintptr_t)stats_slot(&fx->seg, 1) % STATS_ALIGN, 0);
	memset(&none, 0, sizeof(none));
	assert_null(stats_slot(&none, 0));
	/* The master calls on an absent segment are no-ops. */
	stats_set_master(&none, 1, 1);
	stats_set_listener(&none, 0, "x", 1, 1, 1);
	stats_set_pid(&none, 1);
	stats_master_beat(&none);
	stats_fold(&none, 0, NULL);
}

/* ------------------------------------------------------- the writer side */

static void
test_stats_slot_start_state(void **state)
{
	struct fx		*fx = *state;
	struct stats_slot	*s = stats_slot(&fx->seg, 2);
	uint64_t		 seq, before, after;

	/* Bounds on the clock the slot is stamped with (see _header). */
	before = real_us();
	stats_slot_start(s, 555, 42);
	after = real_us();
	assert_int_equal(s->pid, 555);
	assert_int_equal(s->state, STATS_STARTING);
	assert_int_equal(s->generation, 42);
	assert_true(s->start_us >= before && s->start_us <= after);
	assert_true(atomic_load(&s->heartbeat_ms) != 0 &&
	    atomic_load(&s->heartbeat_ms) <= mono_ms());
	seq = atomic_load(&s->seq);
	assert_int_equal(seq, 2);
	/*
	 * The state is one word stored atomically, outside the seqlock (it
	 * flips every loop turn; a section each time would starve readers).
	 */
	stats_slot_state(s, STATS_BUSY);
	assert_int_equal(s->state, STATS_BUSY);
	assert_int_equal(atomic_load(&s->seq), seq);
	stats_slot_state(s, STATS_IDLE);
	assert_int_equal(s->state, STATS_IDLE);
	assert_int_equal(atomic_load(&s->seq), seq);
	stats_beat(s, 123456);
	assert_int_equal(atomic_load(&s->heartbeat_ms), 123456);
	assert_int_equal(atomic_load(&s->seq), seq);
	assert_string_equal(stats_state_name(STATS_EMPTY), "empty");
	assert_string_equal(stats_state_name(STATS_BUSY), "busy");
	assert_string_equal(stats_state_name(STATS_DEAD), "dead");
	assert_string_equal(stats_state_name(STATS_DEAD + 1), "unknown");
}

/*
 * stats_fewer: only live, fresh, accepting slots other than our own
 * count; the accepted sum is that of the workers holding fewer.
 */
static void
test_stats_fewer(void **state)
{
	struct fx		*fx = *state;
	struct stats_slot	*s[NSLOTS];
	uint64_t		 now = 100000, acc = 7;
	int			 i;

	for (i = 0; i < NSLOTS; i++) {
		s[i] = stats_slot(&fx->seg, i);
		stats_slot_start(s[i], 1000 + i, 1);
		stats_slot_state(s[i], STATS_IDLE);
		stats_beat(s[i], now);
	}
	/* 0: us, 3 active; 1: 1 active; 2: 5 active; 3: starting. */
	s[0]->c.conn_active = 3;
	s[1]->c.conn_active = 1;
	s[1]->c.conn_accepted = 40;
	s[2]->c.conn_active = 5;
	s[2]->c.conn_accepted = 900;
	stats_slot_state(s[3], STATS_STARTING);
	assert_int_equal(stats_fewer(&fx->seg, 0, 3, now, 1500, &acc), 1);
	assert_int_equal(acc, 40);
	assert_int_equal(stats_fewer(&fx->seg, 0, 3, now, 1500, NULL), 1);
	/* Equal is not fewer; nobody holds fewer than 1. */
	assert_int_equal(stats_fewer(&fx->seg, 0, 1, now, 1500, &acc), 0);
	assert_int_equal(acc, 0);
	/* Busy counts as accepting; a stale heartbeat or draining does not. */
	stats_slot_state(s[1], STATS_BUSY);
	assert_int_equal(stats_fewer(&fx->seg, 0, 3, now, 1500, NULL), 1);
	stats_beat(s[1], now - 1501);
	assert_int_equal(stats_fewer(&fx->seg, 0, 3, now, 1500, &acc), 0);
	stats_beat(s[1], now - 1500);
	assert_int_equal(stats_fewer(&fx->seg, 0, 3, now, 1500, NULL), 1);
	stats_slot_state(s[1], STATS_DRAINING);
	assert_int_equal(stats_fewer(&fx->seg, 0, 3, now, 1500, NULL), 0);
	/* Both others under 6: their sum; our own slot never counts. */
	stats_slot_state(s[1], STATS_IDLE);
	stats_slot_state(s[3], STATS_IDLE);
	assert_int_equal(stats_fewer(&fx->seg, 2, 6, now, 1500, &acc), 1);
	assert_int_equal(acc, 40 + 0);
	s[3]->c.conn_accepted = 2;
	s[0]->c.conn_accepted = 5;
	assert_int_equal(stats_fewer(&fx->seg, 2, 6, now, 1500, &acc), 1);
	assert_int_equal(acc, 40 + 2 + 5);
}

/* Each opcode and status lands in its own counter, in one section. */
static void
test_stats_request_counters(void **state)
{
	struct fx		*fx = *state;
	struct stats_slot	*s = stats_slot(&fx->seg, 0);
	struct stats_snap	 sn;
	const uint8_t		*p;
	static const struct {
		unsigned int	 op;
		const char	*field;
	} ops[] = {
		{ MSG_OP_PING, "req_ping" }, { MSG_OP_ECHO, "req_echo" },
		{ MSG_OP_UPPER, "req_upper" }, { MSG_OP_TIME, "req_time" },
		{ MSG_OP_STATS, "req_stats" }, { MSG_OP_AUTH, "req_auth" },
		{ MSG_OP_PUT, "req_put" }, { MSG_OP_GET, "req_get" },
		{ MSG_OP_LIST, "req_list" }, { MSG_OP_DEL, "req_del" },
		{ MSG_OP_EXEC, "req_exec" }, { MSG_OP_NONE, "req_other" },
	};
	static const char *const sts[] = {
		"st_ok", "st_bad_request", "st_unknown_op", "st_too_large",
		"st_not_found", "st_denied", "st_busy", "st_timeout",
		"st_internal", "st_bad_version",
	};
	uint64_t		 seq;
	size_t			 i;

	stats_slot_start(s, 99, 1);
	seq = atomic_load(&s->seq);
	/* op i is answered i + 1 times with status i % 10. */
	for (i = 0; i < nitems(ops); i++)
		requests(s, ops[i].op, (unsigned int)(i % nitems(sts)),
		    10 * (i + 1), (int)i + 1);
	requests(s, 0xee, MSG_ST_OK, 1, 1);		/* unknown: other */
	requests(s, MSG_OP_PING, MSG_ST_MAX + 1, 20000000, 1);
	assert_int_equal(atomic_load(&s->seq), seq + 2 * (78 + 2));
	take(&fx->seg, &sn);
	p = snap_at(&sn, 0);
	for (i = 0; i < nitems(ops); i++) {
		if (ops[i].op == MSG_OP_NONE)
			assert_int_equal(stats_get(&sn, p, ops[i].field), 13);
		else if (ops[i].op == MSG_OP_PING)
			assert_int_equal(stats_get(&sn, p, ops[i].field), 2);
		else
			assert_int_equal(stats_get(&sn, p, ops[i].field),
			    i + 1);
	}
	/* Statuses: i in 0..9 plus 10, 11 (status 0, 1 again); one OK more. */
	for (i = 0; i < nitems(sts); i++)
		assert_int_equal(stats_get(&sn, p, sts[i]),
		    (i + 1) + (i < 2 ? i + 11 : 0) + (i == 0));
	/* A status beyond the table counts the request, no response. */
	assert_int_equal(sum_prefix(&sn, p, "req_"), 80);
	assert_int_equal(sum_prefix(&sn, p, "st_"), 79);
	assert_int_equal(lat_count(&sn, p), 80);
	assert_int_equal(lat_buckets(&sn, p), 80);
	assert_int_equal(raw64(p, lat_desc(&sn)->offset +
	    offsetof(struct hist, max)), 20000000);
	assert_int_equal(lat_bucket(&sn, p, (uint32_t)hist_bucket(120)), 12);
	assert_int_equal(lat_bucket(&sn, p, HIST_NBUCKETS - 1), 1);
	/* The snapshot's totals are this one live slot. */
	assert_int_equal(stats_get(&sn, sn.total, "req_list"), 9);
	assert_int_equal(lat_count(&sn, sn.total), 80);
	assert_int_equal(stats_get(&sn, p, "no_such_counter"), 0);
	assert_int_equal(stats_get(&sn, p, "latency"), 0);
	stats_snap_free(&sn);
	assert_null(sn.slots);
	assert_null(sn.total);
}

/*
 * Frames timed since a loop turn's clock share one reading, taken when
 * they are published (-Wl,--wrap=mono_us: fake_us when not 0).
 */
uint64_t	__real_mono_us(void);
uint64_t	__wrap_mono_us(void);

static uint64_t	fake_us;	/* what the clock says (0: the real one) */
static int	clock_reads;	/* readings of the fake clock */

uint64_t
__wrap_mono_us(void)
{
	if (fake_us == 0)
		return (__real_mono_us());
	clock_reads++;
	return (fake_us);
}

static void
test_stats_pend_since(void **state)
{
	struct fx		*fx = *state;
	struct stats_slot	*s = stats_slot(&fx->seg, 0);
	struct stats_pend	 p;
	struct stats_snap	 sn;
	const uint8_t		*sp;
	int			 i;

	stats_slot_start(s, 99, 1);
	memset(&p, 0, sizeof(p));
	fake_us = 1000;
	clock_reads = 0;
	/* 16 frames of one turn (t0 993): counted, not timed yet. */
	for (i = 0; i < 16; i++)
		STATS_PEND_SINCE(&p, s, MSG_OP_ECHO, MSG_ST_OK, 993);
	assert_int_equal(clock_reads, 0);
	assert_int_equal(s->c.latency.count, 0);
	/* A frame of a later turn: the 16 are published first, 10 us each. */
	fake_us = 1003;
	STATS_PEND_SINCE(&p, s, MSG_OP_PING, MSG_ST_DENIED, 1001);
	assert_int_equal(clock_reads, 1);
	assert_int_equal(s->c.latency.count, 16);
	stats_publish(&p, s);
	assert_int_equal(clock_reads, 2);
	/* Nothing pending: publishing again reads no clock. */
	stats_publish(&p, s);
	assert_int_equal(clock_reads, 2);
	/* A clock behind t0 counts 0, not a wrapped difference. */
	STATS_PEND_SINCE(&p, s, MSG_OP_PING, MSG_ST_OK, 2000);
	stats_publish(&p, s);
	fake_us = 0;
	take(&fx->seg, &sn);
	sp = snap_at(&sn, 0);
	assert_int_equal(stats_get(&sn, sp, "req_echo"), 16);
	assert_int_equal(stats_get(&sn, sp, "req_ping"), 2);
	assert_int_equal(stats_get(&sn, sp, "st_ok"), 17);
	assert_int_equal(stats_get(&sn, sp, "st_denied"), 1);
	assert_int_equal(lat_count(&sn, sp), 18);
	assert_int_equal(lat_buckets(&sn, sp), 18);
	assert_int_equal(lat_bucket(&sn, sp, (uint32_t)hist_bucket(10)), 16);
	assert_int_equal(lat_bucket(&sn, sp, (uint32_t)hist_bucket(2)), 1);
	assert_int_equal(lat_bucket(&sn, sp, (uint32_t)hist_bucket(0)), 1);
	assert_int_equal(raw64(sp, lat_desc(&sn)->offset +
	    offsetof(struct hist, sum)), 16 * 10 + 2);
	assert_int_equal(raw64(sp, lat_desc(&sn)->offset +
	    offsetof(struct hist, max)), 10);
	stats_snap_free(&sn);
}

/*
 * A run of frames counted at once is n frames of STATS_PEND_SINCE: one
 * clock reading for them, n in one bucket; a run of another turn
 * publishes those pending first, and a count that would wrap nsince too.
 */
static void
test_stats_pend_since_n(void **state)
{
	struct fx		*fx = *state;
	struct stats_slot	*s = stats_slot(&fx->seg, 0);
	struct stats_pend	 p;
	struct stats_snap	 sn;
	const uint8_t		*sp;

	stats_slot_start(s, 99, 1);
	memset(&p, 0, sizeof(p));
	fake_us = 1000;
	clock_reads = 0;
	/* A frame and a run of 15 of one turn: 16, not timed yet. */
	STATS_PEND_SINCE(&p, s, MSG_OP_ECHO, MSG_ST_OK, 993);
	stats_pend_since_n(&p, s, MSG_OP_ECHO, MSG_ST_OK, 993, 15);
	assert_int_equal(clock_reads, 0);
	assert_int_equal(p.nsince, 16);
	/* A run of a later turn publishes them first: 10 us each. */
	fake_us = 1003;
	stats_pend_since_n(&p, s, MSG_OP_UPPER, MSG_ST_OK, 1001, 4);
	assert_int_equal(clock_reads, 1);
	assert_int_equal(s->c.latency.count, 16);
	assert_int_equal(p.nsince, 4);
	/* One more would not fit in nsince: the 4 are published first. */
	p.nsince = UINT32_MAX - 2;
	stats_pend_since_n(&p, s, MSG_OP_UPPER, MSG_ST_OK, 1001, 3);
	assert_int_equal(clock_reads, 2);
	assert_int_equal(p.nsince, 3);
	stats_publish(&p, s);
	fake_us = 0;
	take(&fx->seg, &sn);
	sp = snap_at(&sn, 0);
	assert_int_equal(stats_get(&sn, sp, "req_echo"), 16);
	assert_int_equal(stats_get(&sn, sp, "req_upper"), 7);
	assert_int_equal(stats_get(&sn, sp, "st_ok"), 23);
	assert_int_equal(lat_bucket(&sn, sp, (uint32_t)hist_bucket(10)), 16);
	assert_int_equal(raw64(sp, lat_desc(&sn)->offset +
	    offsetof(struct hist, sum)), 16 * 10 + (uint64_t)(UINT32_MAX - 2) *
	    2 + 3 * 2);
	stats_snap_free(&sn);
}

/* ----------------------------------------------------------- stats_fold */

static void
test_stats_fold_moves_counters(void **state)
{
	struct fx		*fx = *state;
	struct stats_slot	*s = stats_slot(&fx->seg, 0);
	struct stats_snap	 sn;
	const uint8_t		*p;

	busy_worker(fx, 0, 3001);
	busy_worker(fx, 1, 3002);
	stats_fold(&fx->seg, 0, NULL);
	/* The slot is reset for a successor. */
	assert_int_equal(s->pid, 0);
	assert_int_equal(s->state, STATS_DEAD);
	assert_int_equal(s->start_us, 0);
	assert_int_equal(atomic_load(&s->heartbeat_ms), 0);
	assert_int_equal(atomic_load(&s->seq) % 2, 0);
	assert_int_equal(s->c.req_echo, 0);
	assert_int_equal(s->c.conn_accepted, 0);
	assert_int_equal(s->c.conn_active, 0);
	assert_int_equal(s->c.latency.count, 0);
	assert_int_equal(s->c.latency.max, 0);
	assert_int_equal(atomic_load(&fx->seg.hdr->mseq) % 2, 0);
	assert_true(atomic_load(&fx->seg.hdr->mseq) > 0);
	take(&fx->seg, &sn);
	/* Retired has what slot 0 counted, slot 1 untouched. */
	p = sn.retired;
	assert_int_equal(stats_get(&sn, p, "req_echo"), 6);
	assert_int_equal(stats_get(&sn, p, "req_get"), 2);
	assert_int_equal(stats_get(&sn, p, "st_not_found"), 2);
	assert_int_equal(stats_get(&sn, p, "conn_accepted"), 5);
	assert_int_equal(stats_get(&sn, p, "bytes_in"), 700);
	assert_int_equal(stats_get(&sn, p, "idle_timeouts"), 1);
	assert_int_equal(lat_count(&sn, p), 8);
	assert_int_equal(lat_buckets(&sn, p), 8);
	assert_int_equal(lat_bucket(&sn, p, (uint32_t)hist_bucket(9000)), 2);
	assert_int_equal(raw64(p, lat_desc(&sn)->offset +
	    offsetof(struct hist, sum)), 6 * 150 + 2 * 9000);
	assert_int_equal(raw64(p, lat_desc(&sn)->offset +
	    offsetof(struct hist, max)), 9000);
	assert_int_equal(snap_pid(&sn, 1), 3002);
	assert_int_equal(stats_get(&sn, snap_at(&sn, 1), "req_echo"), 6);
	assert_int_equal(snap_state(&sn, 1), STATS_BUSY);
	stats_snap_free(&sn);
	/* A second death adds up. */
	stats_fold(&fx->seg, 1, NULL);
	take(&fx->seg, &sn);
	assert_int_equal(stats_get(&sn, sn.retired, "req_echo"), 12);
	assert_int_equal(lat_count(&sn, sn.retired), 16);
	assert_int_equal(stats_get(&sn, sn.total, "req_echo"), 12);
	stats_snap_free(&sn);
}

static void
test_stats_fold_totals_unchanged(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 a, b;
	const struct stats_desc	*d;
	uint32_t		 k, i;

	busy_worker(fx, 0, 3001);
	busy_worker(fx, 2, 3003);
	requests(stats_slot(&fx->seg, 2), MSG_OP_DEL, MSG_ST_OK, 1, 4);
	take(&fx->seg, &a);
	stats_fold(&fx->seg, 2, NULL);
	take(&fx->seg, &b);
	for (k = 0; k < a.hdr.ndesc; k++) {
		d = &a.hdr.desc[k];
		if (d->kind == STATS_COUNTER)
			assert_int_equal(raw64(b.total, d->offset),
			    raw64(a.total, d->offset));
	}
	assert_int_equal(lat_count(&b, b.total), lat_count(&a, a.total));
	for (i = 0; i < HIST_NBUCKETS; i++)
		assert_int_equal(lat_bucket(&b, b.total, i),
		    lat_bucket(&a, a.total, i));
	assert_int_equal(stats_get(&b, b.total, "req_del"), 4);
	/* What was open is gone with the worker. */
	assert_int_equal(stats_get(&a, a.total, "conn_active"), 6);
	assert_int_equal(stats_get(&b, b.total, "conn_active"), 3);
	stats_snap_free(&a);
	stats_snap_free(&b);
}

static void
test_stats_fold_gauges_not_retired(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	const struct stats_desc	*d;
	uint32_t		 k;

	busy_worker(fx, 3, 3004);
	stats_fold(&fx->seg, 3, NULL);
	take(&fx->seg, &sn);
	for (k = 0; k < sn.hdr.ndesc; k++) {
		d = &sn.hdr.desc[k];
		if (d->kind == STATS_GAUGE)
			assert_int_equal(raw64(sn.retired, d->offset), 0);
	}
	assert_int_equal(stats_get(&sn, sn.retired, "conn_active"), 0);
	assert_int_equal(stats_get(&sn, sn.total, "conn_active"), 0);
	assert_int_equal(stats_get(&sn, sn.retired, "conn_accepted"), 5);
	assert_int_equal(stats_get(&sn, sn.retired, "conn_closed"), 2);
	stats_snap_free(&sn);
}

/* A writer that died mid-update leaves its slot odd: the fold evens it. */
static void
test_stats_fold_evens_odd_seq(void **state)
{
	struct fx		*fx = *state;
	struct stats_slot	*s = stats_slot(&fx->seg, 1);
	struct stats_snap	 sn;
	uint64_t		 seq, t0;

	busy_worker(fx, 1, 3005);
	stats_begin(s);
	s->c.req_time++;		/* and then it was killed */
	seq = atomic_load(&s->seq);
	assert_int_equal(seq % 2, 1);
	stats_fold(&fx->seg, 1, NULL);
	assert_int_equal(atomic_load(&s->seq) % 2, 0);
	assert_true(atomic_load(&s->seq) > seq);
	t0 = mono_us();
	take(&fx->seg, &sn);
	assert_true(mono_us() - t0 < 1000000);
	assert_int_equal(sn.torn, 0);
	assert_int_equal(stats_get(&sn, sn.retired, "req_echo"), 6);
	assert_int_equal(stats_get(&sn, sn.retired, "req_time"), 1);
	stats_snap_free(&sn);
	/* A successor writes the slot normally. */
	stats_slot_start(s, 3006, 2);
	requests(s, MSG_OP_PING, MSG_ST_OK, 5, 1);
	assert_int_equal(atomic_load(&s->seq) % 2, 0);
	take(&fx->seg, &sn);
	assert_int_equal(sn.torn, 0);
	assert_int_equal(snap_pid(&sn, 1), 3006);
	assert_int_equal(stats_get(&sn, snap_at(&sn, 1), "req_ping"), 1);
	assert_int_equal(stats_get(&sn, sn.total, "req_echo"), 6);
	stats_snap_free(&sn);
}

/* What the master learns from the slot it folds, and clears. */
static void
test_stats_fold_info(void **state)
{
	struct fx		*fx = *state;
	struct stats_slot	*s = stats_slot(&fx->seg, 2);
	struct stats_fold_info	 fi;
	uint64_t		 hb;

	busy_worker(fx, 2, 3013);
	stats_beat(s, mono_ms() - 5);
	s->cur.active = 1;
	s->cur.op = MSG_OP_GET;
	s->cur.body_len = 77;
	memset(&fi, 0xff, sizeof(fi));
	hb = atomic_load(&s->heartbeat_ms);
	stats_fold(&fx->seg, 2, &fi);
	assert_int_equal(fi.requests, 8);
	assert_int_equal(fi.heartbeat_ms, hb);
	assert_int_equal(fi.cur.active, 1);
	assert_int_equal(fi.cur.op, MSG_OP_GET);
	assert_int_equal(fi.cur.body_len, 77);
	assert_int_equal(s->cur.active, 0);
	assert_int_equal(s->cur.op, 0);
	assert_int_equal(s->pid, 0);
}

static void
test_stats_fold_out_of_range(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 a, b;

	busy_worker(fx, 0, 3007);
	take(&fx->seg, &a);
	stats_fold(&fx->seg, -1, NULL);
	stats_fold(&fx->seg, NSLOTS, NULL);
	take(&fx->seg, &b);
	assert_memory_equal(a.retired, b.retired, a.hdr.slot_size);
	assert_memory_equal(snap_at(&a, 0), snap_at(&b, 0), a.hdr.slot_size);
	assert_int_equal(atomic_load(&b.hdr.mseq), atomic_load(&a.hdr.mseq));
	stats_snap_free(&a);
	stats_snap_free(&b);
}

/* --------------------------------------- the segment is input, not truth */

/*
 * The master finds its slots, folds a dead worker and takes snapshots
 * where it put things, whatever the header says now (before: the fold
 * wrote through retired_offset from the file, SIGSEGV; a snapshot read
 * through desc[0].offset, a heap-buffer-overflow under ASan).
 */
static void
test_stats_master_ignores_header(void **state)
{
	struct fx		*fx = *state;
	struct stats_hdr	*h = fx->seg.hdr;
	struct stats_slot	*r;
	struct stats_snap	 sn;
	struct geom		 g;
	char			*out;
	int			 i;

	geom_of(h, &g);
	busy_worker(fx, 1, 3101);
	busy_worker(fx, 3, 3103);
	smash_header(h);
	for (i = 0; i < NSLOTS; i++)
		assert_ptr_equal(stats_slot(&fx->seg, i), (char *)h +
		    g.slot_offset + (size_t)i * g.slot_size);
	assert_null(stats_slot(&fx->seg, NSLOTS));
	stats_fold(&fx->seg, 1, NULL);
	r = (struct stats_slot *)(void *)((char *)h + g.retired_offset);
	assert_int_equal(r->c.req_echo, 6);
	assert_int_equal(r->c.latency.count, 8);
	take(&fx->seg, &sn);
	assert_int_equal(sn.hdr.slot_size, g.slot_size);
	assert_int_equal(sn.hdr.nslots, g.nslots);
	assert_int_equal(sn.hdr.ndesc, g.ndesc);
	assert_int_equal(sn.hdr.layout, STATS_LAYOUT);
	assert_true(sn.hdr.nlisteners <= STATS_MAX_LISTENERS);
	assert_int_equal(stats_get(&sn, sn.retired, "req_echo"), 6);
	assert_int_equal(stats_get(&sn, sn.total, "req_echo"), 12);
	assert_int_equal(snap_pid(&sn, 3), 3103);
	out = render(&sn, NULL, R_JSON);
	free(out);
	out = render(&sn, NULL, R_PROM);
	free(out);
	out = render(&sn, NULL, R_TABLE);
	free(out);
	stats_snap_free(&sn);
}

/*
 * The master puts a changed header back from its own copy, says what was
 * wrong, and then readers accept the file again; an odd sequence counter
 * left there is made even by its next write.
 */
static void
test_stats_restore_header(void **state)
{
	struct fx		*fx = *state;
	struct stats_hdr	*h = fx->seg.hdr;
	struct stats_seg	 ro;
	char			 what[128], cause[512];

	what[0] = '\0';
	assert_int_equal(stats_restore_header(&fx->seg, what, sizeof(what)),
	    0);
	assert_string_equal(what, "");
	stats_set_listener(&fx->seg, 0, "127.0.0.1:7000", 1, 5, 128);
	smash_header(h);
	atomic_store(&h->mseq, 41);
	assert_int_equal(stats_restore_header(&fx->seg, what, sizeof(what)),
	    1);
	assert_string_equal(what, "magic");
	assert_int_equal(atomic_load(&h->mseq) % 2, 0);
	assert_int_equal(stats_open(&ro, fx->path, cause, sizeof(cause)), 0);
	stats_close(&ro);
	assert_int_equal(h->master_pid, getpid());
	assert_string_equal(h->version, PACKAGE_VERSION);
	assert_int_equal(stats_restore_header(&fx->seg, what, sizeof(what)),
	    0);
	/* Each part is checked, not only the magic. */
	h->desc[3].offset += 8;
	assert_int_equal(stats_restore_header(&fx->seg, what, sizeof(what)),
	    1);
	assert_string_equal(what, "counter descriptors");
	h->retired_offset = 64;
	assert_int_equal(stats_restore_header(&fx->seg, what, sizeof(what)),
	    1);
	assert_string_equal(what, "sizes and offsets");
	h->master_pid = 1;
	assert_int_equal(stats_restore_header(&fx->seg, what, sizeof(what)),
	    1);
	assert_string_equal(what, "master pid or start time");
	assert_int_equal(h->master_pid, getpid());
	/* stats_set_pid moves what the header must say. */
	stats_set_pid(&fx->seg, 4242);
	assert_int_equal(stats_restore_header(&fx->seg, what, sizeof(what)),
	    0);
	assert_int_equal(h->master_pid, 4242);
	/* The master's own writes survive a garbage sequence counter. */
	atomic_store(&h->mseq, 77);
	stats_set_master(&fx->seg, 3, 9);
	assert_int_equal(atomic_load(&h->mseq) % 2, 0);
}

/* A slot as a hostile worker leaves it: every byte set. */
static void
test_stats_fold_checks_slot(void **state)
{
	struct fx		*fx = *state;
	struct stats_slot	*s = stats_slot(&fx->seg, 2);
	struct stats_fold_info	 fi;
	struct stats_snap	 sn;
	char			 what[160];

	busy_worker(fx, 0, 3301);
	stats_fold(&fx->seg, 0, NULL);
	memset(s, 0xff, sizeof(*s));
	memset(&fi, 0, sizeof(fi));
	stats_fold(&fx->seg, 2, &fi);
	/* Saturated, never wrapped: totals cannot go backwards. */
	assert_true(fi.requests == UINT64_MAX);
	assert_int_equal(fi.heartbeat_ms, 0);	/* in the future */
	assert_int_equal(fi.cur.active, STATS_CUR_INVALID);
	assert_int_equal(fi.cur.op, 0);
	stats_current_format(&fi.cur, mono_us(), what, sizeof(what));
	assert_string_equal(what, "its stats slot held an impossible request "
	    "record (refused)");
	take(&fx->seg, &sn);
	assert_true(stats_get(&sn, sn.retired, "req_echo") == UINT64_MAX);
	assert_true(stats_get(&sn, sn.retired, "conn_accepted") ==
	    UINT64_MAX);
	assert_int_equal(stats_get(&sn, sn.retired, "conn_active"), 0);
	assert_int_equal(snap_pid(&sn, 2), 0);
	assert_int_equal(sn.torn, 0);
	stats_snap_free(&sn);
	assert_int_equal(atomic_load(&s->seq) % 2, 0);
}

/* What a request record may hold, read once into a copy. */
static void
test_stats_current_read(void **state)
{
	struct fx		*fx = *state;
	struct stats_current	 in, out;
	char			 what[160];

	(void)fx;
	memset(&in, 0x5a, sizeof(in));
	in.active = 0;
	stats_current_read(&in, &out);
	assert_int_equal(out.active, 0);
	assert_int_equal(out.body_len, 0);
	memset(&in, 0, sizeof(in));
	in.active = 1;
	in.op = MSG_OP_GET;
	in.family = AF_INET;
	in.port = 4242;
	in.body_len = 1048576;
	in.start_us = mono_us() - 2500000;
	memcpy(in.addr, "\x7f\x00\x00\x01", 4);
	stats_current_read(&in, &out);
	assert_memory_equal(&in, &out, sizeof(in));
	stats_current_format(&in, in.start_us + 2500000, what, sizeof(what));
	assert_string_equal(what, "handling GET (0x11) from 127.0.0.1:4242, "
	    "1048576 bytes, for 2.500 s");
	in.family = AF_UNIX;
	stats_current_read(&in, &out);
	assert_int_equal(out.active, 1);
	in.family = 0;		/* the master's probe */
	stats_current_read(&in, &out);
	assert_int_equal(out.active, 1);
	in.family = 99;
	stats_current_read(&in, &out);
	assert_int_equal(out.active, STATS_CUR_INVALID);
	assert_int_equal(out.port, 0);
	in.family = AF_INET6;
	in.active = 2;
	stats_current_read(&in, &out);
	assert_int_equal(out.active, STATS_CUR_INVALID);
	in.active = 1;
	in.start_us = mono_us() + 60000000;
	stats_current_read(&in, &out);
	assert_int_equal(out.active, STATS_CUR_INVALID);
	stats_current_format(&in, mono_us(), what, sizeof(what));
	assert_non_null(strstr(what, "(refused)"));
}

static sigjmp_buf	fault_jmp;

static void
fault_handler(int sig)
{
	(void)sig;
	siglongjmp(fault_jmp, 1);
}

/* Does storing one byte at p fault? */
static int
store_faults(volatile uint8_t *p)
{
	if (sigsetjmp(fault_jmp, 1) != 0)
		return (1);
	*p = *p;
	return (0);
}

/* The child's checks, each with its own exit code. */
static int
worker_map_child(struct fx *fx, int slot)
{
	struct stats_seg	*seg = &fx->seg;
	struct stats_slot	*mine, *other;
	struct sigaction	 sa;
	uint8_t			*base = (uint8_t *)seg->hdr;
	char			 cause[256];
	int			 rw = seg->fd_rw, ro = seg->fd_ro;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fault_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) == -1 ||
	    sigaction(SIGBUS, &sa, NULL) == -1)
		return (10);
	if (stats_worker_map(seg, slot, cause, sizeof(cause)) == -1)
		return (11);
	if (fcntl(rw, F_GETFD) != -1 || fcntl(ro, F_GETFD) != -1 ||
	    seg->fd_rw != -1 || seg->fd_ro != -1)
		return (12);
	mine = stats_slot(seg, slot);
	other = stats_slot(seg, slot == 0 ? 1 : 0);
	if ((uint8_t *)mine != base + seg->lay.slot_offset +
	    (size_t)slot * seg->lay.slot_size)
		return (13);
	/* Its own slot, all of it, as a worker writes it. */
	stats_slot_start(mine, (int)getpid(), 5);
	requests(mine, MSG_OP_PUT, MSG_ST_OK, 30, 2);
	if (store_faults((uint8_t *)mine + seg->lay.slot_size - 1))
		return (14);
	/* Nothing else: header, other slots, retired totals. */
	if (!store_faults(base) ||
	    !store_faults((uint8_t *)&seg->hdr->mseq) ||
	    !store_faults((uint8_t *)other) ||
	    !store_faults((uint8_t *)mine - 1) ||
	    !store_faults((uint8_t *)mine + seg->lay.slot_size) ||
	    !store_faults(base + seg->lay.retired_offset))
		return (15);
	/* And mprotect cannot give it back (a read-only descriptor). */
	if (mprotect(base, (size_t)seg->lay.slot_offset,
	    PROT_READ | PROT_WRITE) != -1 || errno != EACCES)
		return (16);
	if (mprotect(other, seg->lay.slot_size, PROT_READ | PROT_WRITE) !=
	    -1 || errno != EACCES)
		return (17);
	/* It still reads everything (the STATS op renders it). */
	if (seg->hdr->magic != STATS_MAGIC || other->pid != 3401)
		return (18);
	return (0);
}

/*
 * After fork a worker can write its own slot and nothing else of the
 * segment, and keeps no descriptor of it.
 */
static void
test_stats_worker_map(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	pid_t			 pid;
	int			 st;

	busy_worker(fx, 0, 3401);
	busy_worker(fx, 1, 3401);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0)
		_exit(worker_map_child(fx, 2));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("worker_map_child: status 0x%x", st);
	take(&fx->seg, &sn);
	assert_int_equal(snap_pid(&sn, 2), pid);
	assert_int_equal(stats_get(&sn, snap_at(&sn, 2), "req_put"), 2);
	assert_int_equal(snap_pid(&sn, 0), 3401);
	stats_snap_free(&sn);
	/* The master keeps its descriptors and its writable mapping. */
	assert_true(fcntl(fx->seg.fd_rw, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(fx->seg.fd_ro, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fcntl(fx->seg.fd_ro, F_GETFL) & O_ACCMODE, O_RDONLY);
	assert_true(fx->seg.writable);
	stats_set_master(&fx->seg, 1, 2);
	/* No segment, no slot: refused, never a half mapping. */
	{
		struct stats_seg	ro;
		char			cause[512];

		assert_int_equal(stats_open(&ro, fx->path, cause,
		    sizeof(cause)), 0);
		assert_int_equal(stats_worker_map(&ro, 0, cause,
		    sizeof(cause)), -1);
		stats_close(&ro);
	}
}

/*
 * The segment is built under a name nobody can guess or plant: a file or
 * a symlink waiting at the name the pid would give is left alone (before:
 * a planted file became the live segment, owner and all; a symlink made
 * the start fail).
 */
static void
test_stats_create_planted_temp(void **state)
{
	struct fx		*fx = *state;
	struct stats_seg	 seg;
	struct stat		 planted, made, victim;
	char			 p[600], tmp[700], vict[600], cause[512];
	int			 fd;

	fx_file(fx, "s-planted", p, sizeof(p));
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", p, (long)getpid());
	write_file(tmp, "planted", 7);
	if (geteuid() == 0)
		assert_int_equal(chown(tmp, 65534, 65534), 0);
	assert_int_equal(stat(tmp, &planted), 0);
	assert_int_equal(stats_create(&seg, p, 2, cause, sizeof(cause)), 0);
	assert_int_equal(stat(p, &made), 0);
	assert_true(made.st_ino != planted.st_ino);
	assert_int_equal(made.st_uid, geteuid());
	assert_int_equal(made.st_mode & 07777, 0440);
	assert_int_equal(stat(tmp, &planted), 0);
	assert_int_equal(planted.st_size, 7);
	stats_close(&seg);
	/* A symlink to a file of someone's. */
	fx_file(fx, "victim", vict, sizeof(vict));
	write_file(vict, "keep", 4);
	fx_file(fx, "s-link", p, sizeof(p));
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", p, (long)getpid());
	assert_int_equal(symlink(vict, tmp), 0);
	assert_int_equal(stats_create(&seg, p, 2, cause, sizeof(cause)), 0);
	assert_int_equal(lstat(tmp, &made), 0);
	assert_true(S_ISLNK(made.st_mode));
	assert_int_equal(stat(vict, &victim), 0);
	assert_int_equal(victim.st_size, 4);
	assert_int_equal(victim.st_mode & 07777, 0644);
	/* Its descriptors are close-on-exec. */
	fd = seg.fd_rw;
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	stats_close(&seg);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
}

/* ------------------------------------------------- master header fields */

static void
test_stats_set_master(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	uint64_t		 mseq = atomic_load(&fx->seg.hdr->mseq);

	stats_set_master(&fx->seg, 6, 17);
	stats_set_pid(&fx->seg, 31337);
	assert_int_equal(atomic_load(&fx->seg.hdr->mseq), mseq + 4);
	take(&fx->seg, &sn);
	assert_int_equal(sn.hdr.workers, 6);
	assert_int_equal(sn.hdr.generation, 17);
	assert_int_equal(sn.hdr.master_pid, 31337);
	expect_text(&sn, R_JSON, "\"master\": {\"pid\": 31337, ",
	    "\"generation\": 17, \"workers\": 6, \"slots\": 4, ", NULL);
	expect_text(&sn, R_PROM, "\nmsgd_generation 17\n",
	    "\nmsgd_workers 6\n", NULL);
	expect_text(&sn, R_TABLE, "master pid 31337",
	    "generation 17  workers 6", NULL);
	stats_snap_free(&sn);
}

static void
test_stats_set_listener(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	const struct stats_listener *l;
	char			*out;

	stats_set_listener(&fx->seg, 0, "127.0.0.1:7000", 1, 5, 128);
	stats_set_listener(&fx->seg, 1, "unix:/run/msgd.sock", 0, 0, 0);
	take(&fx->seg, &sn);
	assert_int_equal(sn.hdr.nlisteners, 2);
	l = &sn.hdr.listeners[0];
	assert_string_equal(l->addr, "127.0.0.1:7000");
	assert_int_equal(l->tcp, 1);
	assert_int_equal(l->queue, 5);
	assert_int_equal(l->queue_max, 128);
	assert_int_equal(l->queue_peak, 5);
	assert_string_equal(sn.hdr.listeners[1].addr, "unix:/run/msgd.sock");
	assert_int_equal(sn.hdr.listeners[1].tcp, 0);
	stats_snap_free(&sn);
	/* A lower sample keeps the peak; a new address starts it again. */
	stats_set_listener(&fx->seg, 0, "127.0.0.1:7000", 1, 2, 128);
	take(&fx->seg, &sn);
	assert_int_equal(sn.hdr.listeners[0].queue, 2);
	assert_int_equal(sn.hdr.listeners[0].queue_peak, 5);
	stats_snap_free(&sn);
	stats_set_listener(&fx->seg, 0, "127.0.0.1:7001", 1, 1, 64);
	stats_set_listener(&fx->seg, STATS_MAX_LISTENERS, "x", 1, 1, 1);
	stats_set_listener(&fx->seg, -1, "x", 1, 1, 1);
	take(&fx->seg, &sn);
	assert_int_equal(sn.hdr.nlisteners, 2);
	assert_string_equal(sn.hdr.listeners[0].addr, "127.0.0.1:7001");
	assert_int_equal(sn.hdr.listeners[0].queue_peak, 1);
	assert_int_equal(sn.hdr.listeners[0].queue_max, 64);
	expect_text(&sn, R_JSON, "\"listeners\": [{\"address\": "
	    "\"127.0.0.1:7001\", \"accept_queue\": 1, "
	    "\"accept_queue_max\": 64, \"accept_queue_peak\": 1}, "
	    "{\"address\": \"unix:/run/msgd.sock\"}]", NULL);
	expect_text(&sn, R_PROM, "\nmsgd_listener_accept_queue{listener="
	    "\"127.0.0.1:7001\"} 1\n", "\nmsgd_listener_accept_queue_max{"
	    "listener=\"127.0.0.1:7001\"} 64\n", NULL);
	expect_text(&sn, R_TABLE, "accept queue 1/64 (peak 1)",
	    "\nlisten unix:/run/msgd.sock\n", NULL);
	/* No accept queue figures for a unix socket. */
	out = render(&sn, NULL, R_PROM);
	assert_null(strstr(out, "msgd.sock"));
	free(out);
	stats_snap_free(&sn);
}

int
main(void)
{
#define T(f)	cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_stats_create_file),
		T(test_stats_create_header),
		T(test_stats_create_descriptors),
		T(test_stats_create_proto_counters),
		T(test_stats_create_sizes),
		T(test_stats_create_replaces_existing),
		T(test_stats_create_refuses_live_msgd),
		T(test_stats_create_bad_path),
		T(test_stats_slot_bounds),
		T(test_stats_slot_start_state),
		T(test_stats_fewer),
		T(test_stats_request_counters),
		T(test_stats_pend_since),
		T(test_stats_pend_since_n),
		T(test_stats_fold_moves_counters),
		T(test_stats_fold_totals_unchanged),
		T(test_stats_fold_gauges_not_retired),
		T(test_stats_fold_evens_odd_seq),
		T(test_stats_fold_info),
		T(test_stats_fold_out_of_range),
		T(test_stats_master_ignores_header),
		T(test_stats_restore_header),
		T(test_stats_fold_checks_slot),
		T(test_stats_current_read),
		T(test_stats_worker_map),
		T(test_stats_create_planted_temp),
		T(test_stats_set_master),
		T(test_stats_set_listener),
	};
#undef T

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

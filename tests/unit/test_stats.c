/*
 * test_stats.c: the shared-memory statistics segment: creating it and its
 * header, opening it read-only and refusing bad segments, the per-slot
 * seqlock against a writer in another process, folding a dead worker into
 * the retired totals, torn slots, and the JSON, Prometheus and table
 * renderers.
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

#define NSLOTS		4
#define HAMMER_US	500000		/* how long the writer child runs */
#define HAMMER_SNAPS	200000		/* most snapshots the reader takes */
#define HAMMER_LIMIT_US	10000000	/* the reader gives up after this */
#define HAMMER_BURST	4096		/* updates between breaths */
#define HAMMER_BREATH_NS 20000

/* A temporary directory holding a fresh segment of NSLOTS slots. */
struct fx {
	char		 dir[256];
	char		 path[300];
	struct stats_seg seg;
};

enum render { R_JSON, R_PROM, R_TABLE };

/* ------------------------------------------------------------ helpers */

static int
fx_setup(void **state)
{
	struct fx	*fx;
	const char	*tmp;
	char		 cause[512];
	mode_t		 old;
	int		 rc;

	if ((fx = calloc(1, sizeof(*fx))) == NULL)
		return (-1);
	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(fx->dir, sizeof(fx->dir), "%s/test_stats.XXXXXX", tmp);
	if (mkdtemp(fx->dir) == NULL) {
		print_error("mkdtemp %s: %s\n", fx->dir, strerror(errno));
		free(fx);
		return (-1);
	}
	snprintf(fx->path, sizeof(fx->path), "%s/stats", fx->dir);
	/* The mode asked for must survive the umask of a usual daemon. */
	old = umask(022);
	rc = stats_create(&fx->seg, fx->path, NSLOTS, cause, sizeof(cause));
	umask(old);
	if (rc == -1) {
		print_error("stats_create: %s\n", cause);
		rmdir(fx->dir);
		free(fx);
		return (-1);
	}
	*state = fx;
	return (0);
}

static int
fx_teardown(void **state)
{
	struct fx	*fx = *state;
	struct dirent	*de;
	DIR		*d;
	char		 p[600];

	stats_close(&fx->seg);
	if ((d = opendir(fx->dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", fx->dir, de->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(fx->dir);
	free(fx);
	return (0);
}

/* n rounded up to whole pages: how the segment lays out its parts. */
static size_t
page_up(size_t n)
{
	size_t	pg = (size_t)sysconf(_SC_PAGESIZE);

	return ((n + pg - 1) / pg * pg);
}

/* The segment's size for n slots. */
static size_t
seg_size(size_t n)
{
	return (page_up(sizeof(struct stats_hdr)) +
	    (n + 1) * page_up(sizeof(struct stats_slot)));
}

/* CLOCK_REALTIME in us: the clock stats.c stamps start times with. */
static uint64_t
real_us(void)
{
	struct timespec	ts;

	assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

/* A file name inside the fixture's directory. */
static void
fx_file(const struct fx *fx, const char *name, char *p, size_t len)
{
	snprintf(p, len, "%s/%s", fx->dir, name);
}

static void
write_file(const char *path, const void *data, size_t len)
{
	int	fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd != -1);
	assert_int_equal(write_full(fd, data, len), (ssize_t)len);
	close(fd);
}

/* stats_open refuses path with a message naming it and saying what. */
static void
assert_refused(const char *path, const char *what)
{
	struct stats_seg	ro;
	char			cause[1024];
	int			rc;

	rc = stats_open(&ro, path, cause, sizeof(cause));
	if (rc == 0)
		stats_close(&ro);
	assert_int_equal(rc, -1);
	assert_null(ro.hdr);
	if (strstr(cause, path) == NULL || strstr(cause, what) == NULL)
		fail_msg("\"%s\" does not name %s and say \"%s\"", cause,
		    path, what);
}

static uint64_t
raw64(const uint8_t *p, size_t off)
{
	uint64_t	v;

	memcpy(&v, p + off, sizeof(v));
	return (v);
}

static uint32_t
raw32(const uint8_t *p, size_t off)
{
	uint32_t	v;

	memcpy(&v, p + off, sizeof(v));
	return (v);
}

static const uint8_t *
snap_at(const struct stats_snap *sn, int i)
{
	return (sn->slots + (size_t)i * sn->hdr.slot_size);
}

static int32_t
snap_pid(const struct stats_snap *sn, int i)
{
	return ((int32_t)raw32(snap_at(sn, i),
	    offsetof(struct stats_slot, pid)));
}

static uint32_t
snap_state(const struct stats_snap *sn, int i)
{
	return (raw32(snap_at(sn, i), offsetof(struct stats_slot, state)));
}

static const struct stats_desc *
find_desc(const struct stats_hdr *h, const char *field)
{
	uint32_t	k;

	for (k = 0; k < h->ndesc; k++)
		if (strcmp(h->desc[k].field, field) == 0)
			return (&h->desc[k]);
	return (NULL);
}

static const struct stats_desc *
lat_desc(const struct stats_snap *sn)
{
	const struct stats_desc	*d = find_desc(&sn->hdr, "latency");

	assert_non_null(d);
	assert_int_equal(d->kind, STATS_HISTOGRAM);
	return (d);
}

/* The latency histogram's count, and the sum of its buckets. */
static uint64_t
lat_count(const struct stats_snap *sn, const uint8_t *slot)
{
	return (raw64(slot, lat_desc(sn)->offset + offsetof(struct hist,
	    count)));
}

static uint64_t
lat_bucket(const struct stats_snap *sn, const uint8_t *slot, uint32_t b)
{
	return (raw64(slot, lat_desc(sn)->offset +
	    offsetof(struct hist, bucket) + b * sizeof(uint64_t)));
}

static uint64_t
lat_buckets(const struct stats_snap *sn, const uint8_t *slot)
{
	const struct stats_desc	*d = lat_desc(sn);
	uint64_t		 v = 0;
	uint32_t		 b;

	for (b = 0; b < d->nbuckets; b++)
		v += lat_bucket(sn, slot, b);
	return (v);
}

/* Sum of the counters whose field starts with prefix ("req_", "st_"). */
static uint64_t
sum_prefix(const struct stats_snap *sn, const uint8_t *slot,
    const char *prefix)
{
	const struct stats_desc	*d;
	uint64_t		 v = 0;
	uint32_t		 k;

	for (k = 0; k < sn->hdr.ndesc; k++) {
		d = &sn->hdr.desc[k];
		if (d->kind == STATS_COUNTER &&
		    strncmp(d->field, prefix, strlen(prefix)) == 0)
			v += raw64(slot, d->offset);
	}
	return (v);
}

static void
take(const struct stats_seg *seg, struct stats_snap *sn)
{
	char	cause[256];

	if (stats_snapshot(seg, sn, cause, sizeof(cause)) == -1)
		fail_msg("stats_snapshot: %s", cause);
}

/* A worker's update of one counter, in its own seqlock section. */
static void
worker_add(struct stats_slot *s, size_t off, uint64_t n)
{
	uint64_t	*p;

	stats_begin(s);
	p = (uint64_t *)(void *)((char *)&s->c + off);
	*p += n;
	stats_end(s);
}

#define WADD(s, f, n)	worker_add(s, offsetof(struct stats_counters, f), n)

/* Answer n requests of op with status, each taking us. */
static void
requests(struct stats_slot *s, unsigned int op, unsigned int status,
    uint64_t us, int n)
{
	while (n-- > 0)
		stats_request(s, op, status, us);
}

/* A rendering as a NUL-terminated string, to free. */
static char *
render(const struct stats_snap *sn, const struct stats_snap *prev,
    enum render how)
{
	struct buf	b;
	char		*s;
	int		 rc;

	memset(&b, 0, sizeof(b));
	if (how == R_JSON)
		rc = stats_render_json(sn, &b);
	else if (how == R_PROM)
		rc = stats_render_prometheus(sn, &b);
	else
		rc = stats_render_table(sn, prev, &b);
	assert_int_equal(rc, 0);
	assert_non_null(b.data);
	assert_int_equal(buf_append(&b, "", 1), 0);
	s = strdup((const char *)buf_head(&b));
	assert_non_null(s);
	buf_release(&b);
	return (s);
}

/* The rendering holds every string of the NULL-terminated list. */
static void
expect_text(const struct stats_snap *sn, enum render how, ...)
{
	va_list		 ap;
	const char	*want;
	char		*out;

	out = render(sn, NULL, how);
	va_start(ap, how);
	while ((want = va_arg(ap, const char *)) != NULL)
		if (strstr(out, want) == NULL) {
			print_error("rendered:\n%s\n", out);
			fail_msg("no \"%s\" in that", want);
		}
	va_end(ap);
	free(out);
}

/* The line of text that starts with prefix, copied into line. */
static int
find_line(const char *text, const char *prefix, char *line, size_t len)
{
	const char	*p = text, *e;

	while (*p != '\0') {
		if ((e = strchr(p, '\n')) == NULL)
			e = p + strlen(p);
		if (strncmp(p, prefix, strlen(prefix)) == 0) {
			snprintf(line, len, "%.*s", (int)(e - p), p);
			return (0);
		}
		p = *e != '\0' ? e + 1 : e;
	}
	return (-1);
}

/* Split a line on blanks; returns how many words. */
static int
words(char *line, char **w, int max)
{
	char	*save = NULL, *t;
	int	 n = 0;

	for (t = strtok_r(line, " \t", &save); t != NULL && n < max;
	    t = strtok_r(NULL, " \t", &save))
		w[n++] = t;
	return (n);
}

/*
 * A populated segment: slot 0 and 1 live, slot 2 lived and was folded,
 * slot 3 never used; two listeners; master figures set.
 */
#define POP_ECHO	7	/* ECHO requests over all slots */
#define POP_REQUESTS	10	/* all requests */
#define POP_ACCEPTED	9	/* connections accepted, all slots */

static void
populate(struct fx *fx)
{
	struct stats_slot	*s0, *s1, *s2;

	s0 = stats_slot(&fx->seg, 0);
	s1 = stats_slot(&fx->seg, 1);
	s2 = stats_slot(&fx->seg, 2);
	stats_slot_start(s0, 1001, 3);
	stats_slot_start(s1, 1002, 3);
	stats_slot_start(s2, 1003, 2);
	requests(s0, MSG_OP_ECHO, MSG_ST_OK, 100, 2);
	requests(s0, MSG_OP_ECHO, MSG_ST_OK, 5000, 1);
	requests(s1, MSG_OP_PING, MSG_ST_OK, 50, 1);
	requests(s1, MSG_OP_GET, MSG_ST_NOT_FOUND, 70000, 1);
	requests(s1, 0x7f, MSG_ST_UNKNOWN_OP, 3, 1);
	requests(s2, MSG_OP_ECHO, MSG_ST_OK, 250, 4);
	stats_slot_state(s0, STATS_IDLE);
	stats_slot_state(s1, STATS_BUSY);
	WADD(s0, conn_accepted, 4);
	WADD(s0, conn_active, 2);
	WADD(s0, bytes_in, 1000);
	WADD(s0, bytes_out, 2000);
	WADD(s1, conn_accepted, 2);
	WADD(s1, conn_active, 1);
	WADD(s2, conn_accepted, 3);
	WADD(s2, conn_active, 1);
	WADD(s2, proto_errors, 1);
	stats_fold(&fx->seg, 2, NULL);
	stats_set_master(&fx->seg, 2, 3);
	stats_set_listener(&fx->seg, 0, "127.0.0.1:7000", 1, 5, 128);
	stats_set_listener(&fx->seg, 1, "unix:/run/msgd/\"sock\"\\1", 0, 0,
	    0);
}

static int
have_python(void)
{
	return (system("command -v python3 >/dev/null 2>&1") == 0);
}

/*
 * Run python3 on the JSON in file: with expr NULL, json.tool must parse
 * it; otherwise expr (about the parsed document d) must hold.
 */
static int
python_json(const char *file, const char *expr)
{
	char	cmd[2048];
	int	st;

	if (expr == NULL)
		snprintf(cmd, sizeof(cmd), "python3 -m json.tool '%s' "
		    ">/dev/null", file);
	else
		snprintf(cmd, sizeof(cmd), "python3 -c 'import json, sys; "
		    "d = json.load(open(sys.argv[1])); "
		    "sys.exit(0 if (%s) else 1)' '%s'", expr, file);
	st = system(cmd);
	return (st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

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

/* ----------------------------------------------------------- stats_fold */

/* Slot i of fx as a worker leaves it: some of everything. */
static void
busy_worker(struct fx *fx, int i, int pid)
{
	struct stats_slot	*s = stats_slot(&fx->seg, i);

	stats_slot_start(s, pid, 1);
	requests(s, MSG_OP_ECHO, MSG_ST_OK, 150, 6);
	requests(s, MSG_OP_GET, MSG_ST_NOT_FOUND, 9000, 2);
	WADD(s, conn_accepted, 5);
	WADD(s, conn_closed, 2);
	WADD(s, conn_active, 3);
	WADD(s, bytes_in, 700);
	WADD(s, idle_timeouts, 1);
	stats_slot_state(s, STATS_BUSY);
}

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

/* --------------------------------------- the segment is input, not truth */

/* Where the creator put things: the offsets it wrote at creation. */
struct geom {
	uint32_t	slot_size, nslots, slot_offset, retired_offset, ndesc;
};

static void
geom_of(const struct stats_hdr *h, struct geom *g)
{
	g->slot_size = h->slot_size;
	g->nslots = h->nslots;
	g->slot_offset = h->slot_offset;
	g->retired_offset = h->retired_offset;
	g->ndesc = h->ndesc;
}

/* Garbage over every header field a reader could take a size from. */
static void
smash_header(struct stats_hdr *h)
{
	h->magic = 0x4141414141414141ULL;
	h->layout = 0xdeadbeef;
	h->hdr_size = 1;
	h->total_size = UINT64_MAX;
	h->slot_size = 0x7fffffff;
	h->nslots = 0x41414141;
	h->slot_offset = 0xfffffff0;
	h->retired_offset = 0x7ffffff0;
	h->ndesc = 0x41414141;
	h->nbuckets = 0x41414141;
	h->nlisteners = 0x41414141;
	h->desc[0].offset = 0x40000000;
	h->desc[0].kind = STATS_HISTOGRAM;
	h->desc[0].nbuckets = 0x41414141;
	memset(h->desc[1].name, 'x', sizeof(h->desc[1].name));
	memset(h->version, 'v', sizeof(h->version));
	memset(h->listeners[0].addr, 'a', sizeof(h->listeners[0].addr));
}

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

/* --------------------------------------------------------------- JSON */

static void
test_stats_render_json_parses(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	char			 p[512], key[128], *out;
	uint32_t		 k;

	populate(fx);
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_JSON);
	/* Key fields, counters by their field names. */
	assert_true(out[0] == '{');
	assert_non_null(strstr(out, "\"totals\": {\"counters\": {"));
	assert_non_null(strstr(out, "\"retired\": {\"counters\": {"));
	assert_non_null(strstr(out, "\"workers\": [{\"slot\": 0, "
	    "\"pid\": 1001, \"state\": \"idle\", \"generation\": 3, "));
	assert_non_null(strstr(out, "\"latency_us\": {\"count\": "));
	assert_non_null(strstr(out, "\"p99.9\": "));
	assert_non_null(strstr(out, "\"listeners\": ["));
	assert_non_null(strstr(out, "\"msgd\": {\"version\": \""));
	for (k = 0; k < sn.hdr.ndesc; k++) {
		if (sn.hdr.desc[k].kind == STATS_HISTOGRAM)
			continue;
		snprintf(key, sizeof(key), "\"%s\": ", sn.hdr.desc[k].field);
		assert_non_null(strstr(out, key));
	}
	/* The listener name is escaped. */
	assert_non_null(strstr(out, "\"unix:/run/msgd/\\\"sock\\\"\\\\1\""));
	fx_file(fx, "stats.json", p, sizeof(p));
	write_file(p, out, strlen(out));
	free(out);
	stats_snap_free(&sn);
	if (!have_python()) {
		print_message("python3 not found: not checking that the JSON "
		    "parses\n");
		return;
	}
	assert_int_equal(python_json(p, NULL), 0);
	assert_int_equal(python_json(p,
	    "d[\"totals\"][\"counters\"][\"req_echo\"] == 7 and "
	    "d[\"retired\"][\"counters\"][\"req_echo\"] == 4 and "
	    "d[\"retired\"][\"counters\"][\"conn_active\"] == 0 and "
	    "d[\"totals\"][\"counters\"][\"conn_accepted\"] == 9 and "
	    "d[\"totals\"][\"latency_us\"][\"count\"] == 10 and "
	    "d[\"totals\"][\"latency_us\"][\"max\"] == 70000 and "
	    "d[\"workers\"][1][\"pid\"] == 1002 and "
	    "d[\"workers\"][0][\"counters\"][\"bytes_out\"] == 2000 and "
	    "d[\"listeners\"][1][\"address\"] == "
	    "\"unix:/run/msgd/\\\"sock\\\"\\\\1\" and "
	    "d[\"master\"][\"workers\"] == 2 and d[\"torn_slots\"] == 0"), 0);
}

/* A folded slot is no worker: pid 0 means nobody is there (slot_live). */
static void
test_stats_render_json_folded_slot_not_listed(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	char			*out;

	busy_worker(fx, 0, 3011);
	busy_worker(fx, 1, 3012);
	stats_fold(&fx->seg, 0, NULL);
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_JSON);
	assert_non_null(strstr(out, "\"workers\": [{\"slot\": 1, "));
	assert_null(strstr(out, "\"pid\": 0,"));
	free(out);
	out = render(&sn, NULL, R_PROM);
	assert_null(strstr(out, "worker=\"0\""));
	free(out);
	stats_snap_free(&sn);
}

/* ---------------------------------------------------------- Prometheus */

/* A sample line of the text format as msgd writes it. */
#define PROM_LINE							\
	"^msgd_[a-z_]+(\\{[a-z_]+=\"[^\"]*\"(,[a-z_]+=\"[^\"]*\")*\\})?" \
	" [0-9]+(\\.[0-9]+)?$"
#define MAX_FAMILIES	64

struct family {
	char	name[128];
	char	type[16];
	int	help, ntype, samples;
};

static struct family *
family_get(struct family *f, int *n, const char *name)
{
	int	i;

	for (i = 0; i < *n; i++)
		if (strcmp(f[i].name, name) == 0)
			return (&f[i]);
	assert_true(*n < MAX_FAMILIES);
	memset(&f[*n], 0, sizeof(f[*n]));
	snprintf(f[*n].name, sizeof(f[*n].name), "%s", name);
	return (&f[(*n)++]);
}

/* The family a sample belongs to: its name less a histogram suffix. */
static void
sample_family(const struct family *cur, const char *line, char *fam,
    size_t len)
{
	static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
	size_t	n = strcspn(line, "{ "), i, sl;

	snprintf(fam, len, "%.*s", (int)n, line);
	if (cur == NULL || strcmp(cur->type, "histogram") != 0)
		return;
	for (i = 0; i < nitems(suffixes); i++) {
		sl = strlen(suffixes[i]);
		if (n > sl && strcmp(fam + n - sl, suffixes[i]) == 0 &&
		    strncmp(fam, cur->name, n - sl) == 0 &&
		    cur->name[n - sl] == '\0') {
			fam[n - sl] = '\0';
			return;
		}
	}
}

/*
 * Every sample line has the exposition syntax; each family has one HELP
 * and one TYPE, before its samples, and its samples come together.
 */
static void
check_prometheus(const char *text)
{
	struct family	 f[MAX_FAMILIES], *cur = NULL, *g;
	regex_t		 re;
	char		*copy, *line, *save = NULL, name[128], fam[128];
	int		 nf = 0, i, nsamples = 0;

	assert_int_equal(regcomp(&re, PROM_LINE, REG_EXTENDED | REG_NOSUB),
	    0);
	/* The pattern itself tells good lines from bad ones. */
	assert_int_equal(regexec(&re, "msgd_a_b{c=\"d e\",f=\"\"} 12.5", 0,
	    NULL, 0), 0);
	assert_int_not_equal(regexec(&re, "msgd_a{c=d} 1", 0, NULL, 0), 0);
	assert_int_not_equal(regexec(&re, "msgd_a -1", 0, NULL, 0), 0);
	assert_int_not_equal(regexec(&re, "msgd_a{c=\"d\"}  1", 0, NULL, 0),
	    0);
	assert_non_null(copy = strdup(text));
	assert_true(text[strlen(text) - 1] == '\n');
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# HELP ", 7) == 0) {
			assert_int_equal(sscanf(line + 7, "%127s", name), 1);
			g = family_get(f, &nf, name);
			assert_int_equal(g->samples, 0);
			assert_int_equal(g->ntype, 0);
			g->help++;
			if (g->help != 1)
				fail_msg("second HELP for %s", name);
			cur = g;
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			assert_int_equal(sscanf(line + 7, "%127s", name), 1);
			g = family_get(f, &nf, name);
			if (g != cur || g->help != 1 || g->ntype != 0)
				fail_msg("TYPE for %s not right after its only "
				    "HELP", name);
			g->ntype++;
			assert_int_equal(sscanf(line + 7, "%*s %15s", g->type),
			    1);
			assert_true(strcmp(g->type, "counter") == 0 ||
			    strcmp(g->type, "gauge") == 0 ||
			    strcmp(g->type, "histogram") == 0);
			continue;
		}
		if (line[0] == '#')
			fail_msg("stray comment: %s", line);
		if (regexec(&re, line, 0, NULL, 0) != 0)
			fail_msg("not a sample line: \"%s\"", line);
		sample_family(cur, line, fam, sizeof(fam));
		if (cur == NULL || strcmp(cur->name, fam) != 0)
			fail_msg("sample \"%s\" outside its family's block",
			    line);
		if (cur->ntype != 1)
			fail_msg("sample \"%s\" before its TYPE", line);
		if (strcmp(cur->type, "counter") == 0 &&
		    strstr(fam, "_total") == NULL)
			fail_msg("counter %s without _total", fam);
		cur->samples++;
		nsamples++;
	}
	for (i = 0; i < nf; i++)
		if (f[i].help != 1 || f[i].ntype != 1)
			fail_msg("%s: %d HELP, %d TYPE", f[i].name, f[i].help,
			    f[i].ntype);
	assert_true(nsamples > 0);
	free(copy);
	regfree(&re);
}

static void
test_stats_render_prometheus_format(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	char			*out;

	/* An empty segment, then a busy one. */
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_PROM);
	check_prometheus(out);
	free(out);
	stats_snap_free(&sn);
	populate(fx);
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_PROM);
	check_prometheus(out);
	assert_non_null(strstr(out, "\n# TYPE msgd_requests_total counter\n"));
	assert_non_null(strstr(out, "\n# TYPE msgd_connections_active "
	    "gauge\n"));
	assert_non_null(strstr(out, "\n# TYPE msgd_request_duration_seconds "
	    "histogram\n"));
	assert_non_null(strstr(out, "\nmsgd_info{version=\""));
	free(out);
	stats_snap_free(&sn);
}

/* Per-worker samples and worker="retired" add up to the totals. */
static void
test_stats_render_prometheus_sums(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	char			*out;

	populate(fx);
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_PROM);
	assert_non_null(strstr(out, "\nmsgd_requests_total{op=\"ECHO\","
	    "worker=\"0\"} 3\n"));
	assert_non_null(strstr(out, "\nmsgd_requests_total{op=\"ECHO\","
	    "worker=\"1\"} 0\n"));
	assert_non_null(strstr(out, "\nmsgd_requests_total{op=\"ECHO\","
	    "worker=\"retired\"} 4\n"));
	assert_non_null(strstr(out, "\nmsgd_requests_total{op=\"other\","
	    "worker=\"1\"} 1\n"));
	assert_non_null(strstr(out, "\nmsgd_responses_total{status="
	    "\"NOT_FOUND\",worker=\"1\"} 1\n"));
	assert_non_null(strstr(out, "\nmsgd_connections_accepted_total{"
	    "worker=\"retired\"} 3\n"));
	assert_non_null(strstr(out, "\nmsgd_connections_active{worker=\"0\"} "
	    "2\n"));
	/* Gauges have no retired sample. */
	assert_null(strstr(out, "msgd_connections_active{worker=\"retired\""));
	assert_non_null(strstr(out, "\nmsgd_worker_heartbeat_age_seconds{"
	    "worker=\"1\"} "));
	assert_null(strstr(out, "worker=\"3\""));
	free(out);
	stats_snap_free(&sn);
}

struct le_bucket {
	double		le;		/* -1: +Inf */
	uint64_t	n;
};

/* The histogram's bucket lines, in order; returns how many. */
static int
prom_buckets(const char *text, struct le_bucket *bk, int max,
    uint64_t *count, double *sum)
{
	static const char	 pfx[] = "msgd_request_duration_seconds_bucket"
				    "{le=\"";
	const char		*p;
	char			 le[32];
	int			 n = 0;

	for (p = strstr(text, pfx); p != NULL; p = strstr(p + 1, pfx)) {
		assert_true(n < max);
		assert_int_equal(sscanf(p + sizeof(pfx) - 1, "%31[^\"]\"} %"
		    SCNu64, le, &bk[n].n), 2);
		bk[n].le = strcmp(le, "+Inf") == 0 ? -1 : strtod(le, NULL);
		n++;
	}
	p = strstr(text, "\nmsgd_request_duration_seconds_count ");
	assert_non_null(p);
	assert_int_equal(sscanf(p, "\nmsgd_request_duration_seconds_count %"
	    SCNu64, count), 1);
	p = strstr(text, "\nmsgd_request_duration_seconds_sum ");
	assert_non_null(p);
	assert_int_equal(sscanf(p, "\nmsgd_request_duration_seconds_sum %lf",
	    sum), 1);
	return (n);
}

static void
test_stats_render_prometheus_histogram(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	struct le_bucket	 bk[HIST_NBUCKETS + 1];
	uint64_t		 count;
	double			 sum;
	char			*out;
	int			 n, i;

	populate(fx);
	/* Beyond the histogram's range: clamped into its last bucket. */
	requests(stats_slot(&fx->seg, 1), MSG_OP_EXEC, MSG_ST_TIMEOUT,
	    20000000, 1);
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_PROM);
	n = prom_buckets(out, bk, (int)nitems(bk), &count, &sum);
	assert_true(n >= 2);
	for (i = 1; i < n - 1; i++) {
		assert_true(bk[i].le > bk[i - 1].le);
		assert_true(bk[i].n >= bk[i - 1].n);
	}
	assert_true(bk[n - 1].le == -1);
	assert_true(bk[n - 1].n >= bk[n - 2].n);
	assert_int_equal(bk[n - 1].n, count);
	assert_int_equal(count, POP_REQUESTS + 1);
	assert_int_equal(count, lat_count(&sn, sn.total));
	/* 2*100 + 5000 + 50 + 70000 + 3 + 4*250 us, and 20 s */
	assert_true(sum > 20.076253 - 1e-9 && sum < 20.076253 + 1e-9);
	/* The 20 s request is under no finite bound, all the others are. */
	assert_true(bk[n - 2].le <= 10.0);
	assert_int_equal(bk[n - 2].n, count - 1);
	/* Nothing is as quick as 1 us. */
	assert_true(bk[0].le == 0.000001);
	assert_int_equal(bk[0].n, 0);
	free(out);
	stats_snap_free(&sn);
}

/*
 * "Octave edges only: enough resolution, few lines": one bucket line per
 * power of two from 1 us to 10 s, so adjacent bounds are at most about a
 * factor of two apart and a 100 us and a 70 ms request are told apart.
 */
static void
test_stats_render_prometheus_octave_buckets(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	struct le_bucket	 bk[HIST_NBUCKETS + 1];
	uint64_t		 count;
	double			 sum;
	char			*out;
	int			 n, i, split = 0;

	populate(fx);
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_PROM);
	n = prom_buckets(out, bk, (int)nitems(bk), &count, &sum);
	print_message("%d bucket lines, last finite le=%f\n", n,
	    n > 1 ? bk[n - 2].le : 0.0);
	for (i = 1; i < n - 1; i++) {
		if (bk[i].le > 3.0 * bk[i - 1].le + 1e-9)
			fail_msg("no bucket between le=%f and le=%f",
			    bk[i - 1].le, bk[i].le);
		/* Some bound parts the 5 ms requests from the 70 ms one. */
		if (bk[i].le > 0.005 && bk[i].le < 0.07 &&
		    bk[i].n == count - 1)
			split = 1;
	}
	assert_true(split);
	assert_true(n - 1 >= 20);
	free(out);
	stats_snap_free(&sn);
}

/* --------------------------------------------------------------- table */

/*
 * The total row's words less its share column (which may be blank):
 * total, active, accepted, requests, bytes_in, bytes_out[, req/s].  A
 * share shown goes to *share, else -1.
 */
static int
total_row(const char *out, char *line, size_t len, char **w, long *share)
{
	char	*all[16];
	int	 n, i, k = 0;

	*share = -1;
	assert_int_equal(find_line(out, "total ", line, len), 0);
	n = words(line, all, 16);
	for (i = 0; i < n; i++) {
		if (all[i][strlen(all[i]) - 1] == '%')
			*share = strtol(all[i], NULL, 10);
		else
			w[k++] = all[i];
	}
	return (k);
}

static void
test_stats_render_table_rows(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	char			 line[512], *w[16], *out;
	long			 share;
	int			 n;

	populate(fx);
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_TABLE);
	assert_non_null(strstr(out, "msgd " PACKAGE_VERSION " (stats layout "));
	assert_int_equal(find_line(out, "slot ", line, sizeof(line)), 0);
	n = words(line, w, 16);
	assert_int_equal(n, 11);
	assert_string_equal(w[1], "pid");
	assert_string_equal(w[2], "state");
	assert_string_equal(w[4], "active");
	assert_string_equal(w[5], "accepted");
	assert_string_equal(w[7], "requests");
	assert_string_equal(w[10], "beat");
	/* One row per live worker: slot, pid, state, ..., requests. */
	assert_int_equal(find_line(out, "0 ", line, sizeof(line)), 0);
	n = words(line, w, 16);
	assert_int_equal(n, 11);
	assert_string_equal(w[1], "1001");
	assert_string_equal(w[2], "idle");
	assert_string_equal(w[4], "2");
	assert_string_equal(w[5], "4");
	assert_string_equal(w[7], "3");
	assert_string_equal(w[8], "1000");
	assert_int_equal(find_line(out, "1 ", line, sizeof(line)), 0);
	assert_int_equal(find_line(out, "3 ", line, sizeof(line)), -1);
	/* The total: retired included. */
	assert_int_equal(total_row(out, line, sizeof(line), w, &share), 6);
	assert_string_equal(w[1], "3");
	assert_string_equal(w[2], "9");
	assert_string_equal(w[3], "10");
	assert_string_equal(w[4], "1000");
	assert_non_null(strstr(out, "\nlatency (all requests since start): "
	    "p50 "));
	assert_non_null(strstr(out, "\nerrors: protocol 1, busy 0, "
	    "idle timeouts 0, read timeouts 0\n"));
	assert_null(strstr(out, "mid-update"));
	assert_null(strstr(out, "req/s"));
	free(out);
	stats_snap_free(&sn);
}

/* A slot's row in a --watch table ends with req/s and beat. */
static const char *
slot_rate(const char *out, const char *prefix, char *line, size_t len)
{
	char	*w[16];

	assert_int_equal(find_line(out, prefix, line, len), 0);
	assert_int_equal(words(line, w, 16), 12);
	return (w[10]);
}

/*
 * --watch rates: a worker's rate is its requests since the last refresh,
 * whether or not it went from idle to busy meanwhile.
 */
static void
test_stats_render_table_rate(void **state)
{
	struct fx		*fx = *state;
	struct stats_slot	*s0, *s1;
	struct stats_snap	 a, b;
	char			 line[512], *w[16], *out;
	long			 share;

	s0 = stats_slot(&fx->seg, 0);
	s1 = stats_slot(&fx->seg, 1);
	stats_slot_start(s0, 4001, 1);
	stats_slot_start(s1, 4002, 1);
	requests(s0, MSG_OP_ECHO, MSG_ST_OK, 10, 1000);
	requests(s1, MSG_OP_ECHO, MSG_ST_OK, 10, 2000);
	take(&fx->seg, &a);
	requests(s0, MSG_OP_ECHO, MSG_ST_OK, 10, 10);
	requests(s1, MSG_OP_ECHO, MSG_ST_OK, 10, 20);
	stats_slot_state(s0, STATS_BUSY);	/* s1 stays idle */
	take(&fx->seg, &b);
	b.now_ms = a.now_ms + 1000;
	out = render(&b, &a, R_TABLE);
	assert_non_null(strstr(out, " req/s "));
	assert_non_null(strstr(out, "\nrates over 1.0s: "));
	assert_string_equal(slot_rate(out, "1 ", line, sizeof(line)), "20");
	assert_int_equal(total_row(out, line, sizeof(line), w, &share), 7);
	assert_string_equal(w[6], "30");
	assert_string_equal(slot_rate(out, "0 ", line, sizeof(line)), "10");
	free(out);
	stats_snap_free(&a);
	stats_snap_free(&b);
}

/*
 * Shares are of the live workers' accepted connections; the total row,
 * which includes retired workers, may show none but never over 100%.
 */
static void
test_stats_render_table_total_share(void **state)
{
	struct fx		*fx = *state;
	struct stats_snap	 sn;
	char			 line[512], *w[16], *out;
	long			 share;

	populate(fx);
	take(&fx->seg, &sn);
	out = render(&sn, NULL, R_TABLE);
	assert_int_equal(find_line(out, "0 ", line, sizeof(line)), 0);
	assert_int_equal(words(line, w, 16), 11);
	assert_string_equal(w[6], "67%");
	assert_int_equal(find_line(out, "1 ", line, sizeof(line)), 0);
	assert_int_equal(words(line, w, 16), 11);
	assert_string_equal(w[6], "33%");
	assert_int_equal(total_row(out, line, sizeof(line), w, &share), 6);
	if (share > 100)
		fail_msg("total row share %ld%%", share);
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
		T(test_stats_create_sizes),
		T(test_stats_create_replaces_existing),
		T(test_stats_create_refuses_live_msgd),
		T(test_stats_create_bad_path),
		T(test_stats_open_read_only),
		T(test_stats_slot_bounds),
		T(test_stats_open_missing),
		T(test_stats_open_empty),
		T(test_stats_open_short),
		T(test_stats_open_bad_magic),
		T(test_stats_open_wrong_layout),
		T(test_stats_open_truncated),
		T(test_stats_open_extended),
		T(test_stats_open_inconsistent_header),
		T(test_stats_open_desc_outside_slot),
		T(test_stats_slot_start_state),
		T(test_stats_request_counters),
		T(test_stats_snapshot_seqlock_fork),
		T(test_stats_fold_moves_counters),
		T(test_stats_fold_totals_unchanged),
		T(test_stats_fold_gauges_not_retired),
		T(test_stats_fold_evens_odd_seq),
		T(test_stats_fold_info),
		T(test_stats_fold_out_of_range),
		T(test_stats_snapshot_torn_reported),
		T(test_stats_snapshot_torn_keeps_figures),
		T(test_stats_master_ignores_header),
		T(test_stats_reader_keeps_layout),
		T(test_stats_restore_header),
		T(test_stats_fold_checks_slot),
		T(test_stats_current_read),
		T(test_stats_worker_map),
		T(test_stats_create_planted_temp),
		T(test_stats_set_master),
		T(test_stats_set_listener),
		T(test_stats_render_json_parses),
		T(test_stats_render_json_folded_slot_not_listed),
		T(test_stats_render_prometheus_format),
		T(test_stats_render_prometheus_sums),
		T(test_stats_render_prometheus_histogram),
		T(test_stats_render_prometheus_octave_buckets),
		T(test_stats_render_table_rows),
		T(test_stats_render_table_rate),
		T(test_stats_render_table_total_share),
	};
#undef T

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

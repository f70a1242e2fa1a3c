/*
 * stats_fx.c: the helpers the stats unit tests share (stats_fx.h).
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

int
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

int
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
size_t
page_up(size_t n)
{
	size_t	pg = (size_t)sysconf(_SC_PAGESIZE);

	return ((n + pg - 1) / pg * pg);
}

/* The segment's size for n slots. */
size_t
seg_size(size_t n)
{
	return (page_up(sizeof(struct stats_hdr)) +
	    (n + 1) * page_up(sizeof(struct stats_slot)));
}

/* CLOCK_REALTIME in us: the clock stats.c stamps start times with. */
uint64_t
real_us(void)
{
	struct timespec	ts;

	assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

/* A file name inside the fixture's directory. */
void
fx_file(const struct fx *fx, const char *name, char *p, size_t len)
{
	snprintf(p, len, "%s/%s", fx->dir, name);
}

void
write_file(const char *path, const void *data, size_t len)
{
	int	fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd != -1);
	assert_int_equal(write_full(fd, data, len), (ssize_t)len);
	close(fd);
}

/* stats_open refuses path with a message naming it and saying what. */
void
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

uint64_t
raw64(const uint8_t *p, size_t off)
{
	uint64_t	v;

	memcpy(&v, p + off, sizeof(v));
	return (v);
}

uint32_t
raw32(const uint8_t *p, size_t off)
{
	uint32_t	v;

	memcpy(&v, p + off, sizeof(v));
	return (v);
}

const uint8_t *
snap_at(const struct stats_snap *sn, int i)
{
	return (sn->slots + (size_t)i * sn->hdr.slot_size);
}

int32_t
snap_pid(const struct stats_snap *sn, int i)
{
	return ((int32_t)raw32(snap_at(sn, i),
	    offsetof(struct stats_slot, pid)));
}

uint32_t
snap_state(const struct stats_snap *sn, int i)
{
	return (raw32(snap_at(sn, i), offsetof(struct stats_slot, state)));
}

const struct stats_desc *
find_desc(const struct stats_hdr *h, const char *field)
{
	uint32_t	k;

	for (k = 0; k < h->ndesc; k++)
		if (strcmp(h->desc[k].field, field) == 0)
			return (&h->desc[k]);
	return (NULL);
}

const struct stats_desc *
lat_desc(const struct stats_snap *sn)
{
	const struct stats_desc	*d = find_desc(&sn->hdr, "latency");

	assert_non_null(d);
	assert_int_equal(d->kind, STATS_HISTOGRAM);
	return (d);
}

/* The latency histogram's count, and the sum of its buckets. */
uint64_t
lat_count(const struct stats_snap *sn, const uint8_t *slot)
{
	return (raw64(slot, lat_desc(sn)->offset + offsetof(struct hist,
	    count)));
}

uint64_t
lat_bucket(const struct stats_snap *sn, const uint8_t *slot, uint32_t b)
{
	return (raw64(slot, lat_desc(sn)->offset +
	    offsetof(struct hist, bucket) + b * sizeof(uint64_t)));
}

uint64_t
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
uint64_t
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

void
take(const struct stats_seg *seg, struct stats_snap *sn)
{
	char	cause[256];

	if (stats_snapshot(seg, sn, cause, sizeof(cause)) == -1)
		fail_msg("stats_snapshot: %s", cause);
}

/* A worker's update of one counter, in its own seqlock section. */
void
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
void
requests(struct stats_slot *s, unsigned int op, unsigned int status,
    uint64_t us, int n)
{
	while (n-- > 0)
		stats_request(s, op, status, us);
}

/* A rendering as a NUL-terminated string, to free. */
char *
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
void
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
int
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
int
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

void
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

int
have_python(void)
{
	return (system("command -v python3 >/dev/null 2>&1") == 0);
}

/*
 * Run python3 on the JSON in file: with expr NULL, json.tool must parse
 * it; otherwise expr (about the parsed document d) must hold.
 */
int
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

void
geom_of(const struct stats_hdr *h, struct geom *g)
{
	g->slot_size = h->slot_size;
	g->nslots = h->nslots;
	g->slot_offset = h->slot_offset;
	g->retired_offset = h->retired_offset;
	g->ndesc = h->ndesc;
}

/* Garbage over every header field a reader could take a size from. */
void
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

/* Slot i of fx as a worker leaves it: some of everything. */
void
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

/*
 * stats_snap.c: the reader of the statistics segment (msgctl and the STATS
 * op): open a segment another process made and check it once, then take
 * consistent snapshots of it without locks, and read counters out of them
 * through the descriptor table.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stats.h"
#include "stats_snap.h"
#include "util.h"

#define SNAP_BUDGET_US	50000	/* per slot (workers), then marked torn */
#define SNAP_SPINS	64	/* tries before yielding the CPU */
#define SNAP_ROUNDS	100	/* whole-segment retries around a fold */

/*
 * How long a reader may wait for one slot.  A worker preempted inside a
 * publish section (a loaded machine) holds it for a scheduling period:
 * msgctl can afford to wait longer than a worker answering STATS, whose
 * other clients would wait with it.
 */
static uint64_t	snap_budget_us = SNAP_BUDGET_US;

static void	str_clean(char *, size_t, const char *);
static int	snapshot(const struct stats_seg *, struct stats_snap *,
		    uint64_t, char *, size_t);

void
stats_set_read_budget(uint64_t us)
{
	snap_budget_us = us;
}

/* The layout a header describes (checked by the caller). */
static void
layout_get(const struct stats_hdr *h, struct stats_layout *lay)
{
	struct stats_desc	*d;
	uint32_t		 k;

	memset(lay, 0, sizeof(*lay));
	lay->total_size = h->total_size;
	lay->hdr_size = h->hdr_size;
	lay->slot_size = h->slot_size;
	lay->nslots = h->nslots;
	lay->slot_offset = h->slot_offset;
	lay->retired_offset = h->retired_offset;
	lay->ndesc = h->ndesc;
	lay->nbuckets = h->nbuckets;
	memcpy(lay->bucket_upper_us, h->bucket_upper_us,
	    sizeof(lay->bucket_upper_us));
	memcpy(lay->desc, h->desc, sizeof(lay->desc));
	/* Names are printed with %s: always terminated here. */
	for (k = 0; k < STATS_MAX_DESC; k++) {
		d = &lay->desc[k];
		d->name[sizeof(d->name) - 1] = '\0';
		d->label[sizeof(d->label) - 1] = '\0';
		d->field[sizeof(d->field) - 1] = '\0';
		d->unit[sizeof(d->unit) - 1] = '\0';
		d->help[sizeof(d->help) - 1] = '\0';
	}
}

/* Say who may read the segment: its mode, owner uid and group name. */
static void
access_cause(const char *path, char *cause, size_t len)
{
	struct stat	 st;
	struct group	*gr;

	if (stat(path, &st) == -1) {
		snprintf(cause, len, "%s: permission denied", path);
		return;
	}
	if ((gr = getgrgid(st.st_gid)) != NULL)
		snprintf(cause, len, "%s: permission denied: mode %04o, "
		    "readable by uid %u and members of group %s", path,
		    (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
		    gr->gr_name);
	else
		snprintf(cause, len, "%s: permission denied: mode %04o, readable "
		    "by uid %u and members of gid %u", path,
		    (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
		    (unsigned)st.st_gid);
}

/*
 * Every descriptor must point inside a slot (a histogram with all its
 * buckets), so a damaged or hostile file can never make a reader touch
 * memory outside its copies.
 */
static int
desc_check(const struct stats_hdr *h, const char *path, char *cause,
    size_t len)
{
	const struct stats_desc	*d;
	uint64_t		 end;
	uint32_t		 k;

	if ((uint64_t)h->slot_offset + (uint64_t)h->nslots * h->slot_size >
	    h->retired_offset) {
		snprintf(cause, len, "%s: slots overlap the retired totals",
		    path);
		return (-1);
	}
	for (k = 0; k < h->ndesc; k++) {
		d = &h->desc[k];
		if (d->kind == STATS_HISTOGRAM) {
			if (d->nbuckets > STATS_MAX_BUCKETS ||
			    d->nbuckets > h->nbuckets)
				goto bad;
			end = (uint64_t)d->offset + SNAP_H_BUCKET +
			    (uint64_t)d->nbuckets * sizeof(uint64_t);
		} else if (d->kind == STATS_COUNTER || d->kind == STATS_GAUGE)
			end = (uint64_t)d->offset + sizeof(uint64_t);
		else
			goto bad;
		if (end > h->slot_size)
			goto bad;
	}
	return (0);
bad:
	snprintf(cause, len, "%s: counter descriptor %u lies outside a slot "
	    "(damaged segment)", path, k);
	return (-1);
}

/*
 * Open a segment for stats_preamble_read(): the descriptor keeps the file
 * (an upgrade's new master puts its own at the path; msgctl upgrade
 * follows the old one's outcome in the old file).
 */
int
stats_preamble_open(const char *path, char *cause, size_t len)
{
	int	fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			snprintf(cause, len, "%s: no such file (is msgd "
			    "running, and is this its stats_file?)", path);
		else if (errno == EACCES)
			access_cause(path, cause, len);
		else
			snprintf(cause, len, "%s: %s", path, strerror(errno));
	}
	return (fd);
}

/*
 * Map the file open as fd (named path) read-only, whole, into *pp and its
 * size into *size: one too short to hold a magic is refused.
 */
static int
seg_map(int fd, const char *path, void **pp, size_t *size, char *cause,
    size_t len)
{
	struct stat	 st;
	void		*p;

	if (fstat(fd, &st) == -1) {
		snprintf(cause, len, "%s: fstat: %s", path, strerror(errno));
		return (-1);
	}
	if ((size_t)st.st_size < sizeof(uint64_t) + sizeof(uint32_t) * 2) {
		snprintf(cause, len, "%s: %lld bytes: too short to be a msgd "
		    "stats segment", path, (long long)st.st_size);
		return (-1);
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(cause, len, "%s: mmap: %s", path, strerror(errno));
		return (-1);
	}
	*pp = p;
	*size = (size_t)st.st_size;
	return (0);
}

/*
 * Check a copy of the header of a file of size bytes: ours (magic), of
 * the layout this program reads, with sizes, offsets and descriptors
 * that all fit the file.
 */
static int
hdr_check(const struct stats_hdr *h, size_t size, const char *path,
    char *cause, size_t len)
{
	if (h->magic != STATS_MAGIC) {
		snprintf(cause, len, "%s: not a msgd stats segment (bad magic)",
		    path);
		return (-1);
	}
	if (h->layout != STATS_LAYOUT) {
		snprintf(cause, len, "%s: stats layout %u, this msgctl reads "
		    "layout %u", path, h->layout, STATS_LAYOUT);
		return (-1);
	}
	if (h->hdr_size != sizeof(struct stats_hdr) ||
	    h->total_size != (uint64_t)size ||
	    h->slot_size < offsetof(struct stats_slot, c) ||
	    h->slot_size % sizeof(uint64_t) != 0 ||
	    h->slot_offset % sizeof(uint64_t) != 0 ||
	    h->retired_offset % sizeof(uint64_t) != 0 ||
	    h->nslots > STATS_MAX_SLOTS ||
	    h->slot_offset < h->hdr_size ||
	    (uint64_t)h->slot_offset + (uint64_t)h->nslots * h->slot_size >
	    h->total_size ||
	    (uint64_t)h->retired_offset + h->slot_size > h->total_size ||
	    h->ndesc > STATS_MAX_DESC || h->nbuckets > STATS_MAX_BUCKETS ||
	    h->nlisteners > STATS_MAX_LISTENERS) {
		snprintf(cause, len, "%s: inconsistent or truncated segment "
		    "(%lld bytes)", path, (long long)size);
		return (-1);
	}
	return (desc_check(h, path, cause, len));
}

/*
 * Map an existing segment read-only and check it is one we can read: a
 * missing file, another layout, a truncated or foreign file are refused
 * with a message, never misread.  The header is checked once, in a copy,
 * and its layout kept: later changes to the file cannot move what the
 * snapshots read.
 */
int
stats_open(struct stats_seg *seg, const char *path, char *cause, size_t len)
{
	int	fd, rc;

	memset(seg, 0, sizeof(*seg));
	seg->fd_rw = seg->fd_ro = -1;
	if ((fd = stats_preamble_open(path, cause, len)) == -1)
		return (-1);
	rc = stats_open_fd(seg, fd, path, cause, len);
	close(fd);
	return (rc);
}

/*
 * As stats_open(), through a descriptor already open on the segment
 * (named path in messages): the metrics exporter maps its own master's
 * segment this way, which during a binary upgrade is not yet at its path.
 */
int
stats_open_fd(struct stats_seg *seg, int fd, const char *path, char *cause,
    size_t len)
{
	struct stats_hdr	*h = NULL;
	size_t			 size;
	void			*p;

	memset(seg, 0, sizeof(*seg));
	seg->fd_rw = seg->fd_ro = -1;
	if (seg_map(fd, path, &p, &size, cause, len) == -1)
		return (-1);
	if ((h = malloc(sizeof(*h))) == NULL) {
		snprintf(cause, len, "out of memory");
		goto fail;
	}
	memset(h, 0, sizeof(*h));
	memcpy(h, p, size < sizeof(*h) ? size : sizeof(*h));
	if (hdr_check(h, size, path, cause, len) == -1)
		goto fail;
	layout_get(h, &seg->lay);
	free(h);
	seg->hdr = p;
	seg->size = size;
	seg->writable = 0;
	return (0);
fail:
	free(h);
	munmap(p, size);
	return (-1);
}

/*
 * The frozen preamble of the segment open as fd, consistent (the master's
 * sequence even and unchanged around the copy), its strings made safe to
 * print.  Refused: not a segment, or a layout older than the preamble.
 */
int
stats_preamble_read(int fd, struct stats_preamble *pr, char *cause,
    size_t len)
{
	struct stats_hdr	*h;
	size_t			 n = offsetof(struct stats_hdr, up) +
				    sizeof(struct stats_upgrade);
	uint64_t		 a, b;
	int			 round, rc = -1;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(cause, len, "out of memory");
		return (-1);
	}
	for (round = 0; round < SNAP_ROUNDS; round++) {
		if (pread(fd, h, n, 0) != (ssize_t)n) {
			snprintf(cause, len, "stats file too short or "
			    "unreadable");
			goto out;
		}
		a = atomic_load_explicit(&h->mseq, memory_order_relaxed);
		if (pread(fd, &b, sizeof(b), (off_t)offsetof(struct stats_hdr,
		    mseq)) != (ssize_t)sizeof(b)) {
			snprintf(cause, len, "stats file unreadable");
			goto out;
		}
		if (!(a & 1) && a == b)
			break;
		sched_yield();
	}
	if (h->magic != STATS_MAGIC) {
		snprintf(cause, len, "not a msgd stats segment (bad magic)");
		goto out;
	}
	if (h->layout < STATS_LAYOUT_UPGRADE) {
		snprintf(cause, len, "stats layout %u: that msgd is older than "
		    "in-place upgrades (layout %u)", h->layout,
		    STATS_LAYOUT_UPGRADE);
		goto out;
	}
	memset(pr, 0, sizeof(*pr));
	pr->layout = h->layout;
	pr->master_pid = h->master_pid;
	pr->master_start_us = h->master_start_us;
	memcpy(pr->version, h->version, sizeof(pr->version));
	memcpy(&pr->up, &h->up, sizeof(pr->up));
	str_clean(pr->version, sizeof(pr->version), NULL);
	str_clean(pr->up.msg, sizeof(pr->up.msg), NULL);
	str_clean(pr->up.from, sizeof(pr->up.from), NULL);
	str_clean(pr->up.exe, sizeof(pr->up.exe), NULL);
	str_clean(pr->up.disk, sizeof(pr->up.disk), NULL);
	rc = 0;
out:
	free(h);
	return (rc);
}

/* One copy attempt under the slot's sequence counter; 0 if consistent. */
static int
copy_try(const struct stats_slot *s, uint8_t *dst, size_t size, int force)
{
	uint64_t	a, b;

	a = atomic_load_explicit(&s->seq, memory_order_acquire);
	if ((a & 1) && !force)
		return (-1);
	memcpy(dst, (const void *)s, size);
	atomic_thread_fence(memory_order_acquire);
	b = atomic_load_explicit(&s->seq, memory_order_relaxed);
	return (a == b && !(a & 1) ? 0 : -1);
}

/*
 * Copy one slot consistently, between the writer's updates (spinning,
 * then yielding for up to budget_us; 0: spinning only).  A writer stopped mid-update
 * (SIGSTOP, hung) leaves its counter odd for good: its slot is copied as
 * it is and reported torn (-1), so a stuck worker still shows.
 */
static int
copy_slot(const struct stats_slot *s, uint8_t *dst, size_t size,
    uint64_t budget_us)
{
	uint64_t	deadline;
	int		i;

	for (i = 0; i < SNAP_SPINS; i++)
		if (copy_try(s, dst, size, 0) == 0)
			return (0);
	deadline = budget_us == 0 ? 0 : mono_us() + budget_us;
	while (deadline != 0 && mono_us() < deadline) {
		if (copy_try(s, dst, size, 0) == 0)
			return (0);
		sched_yield();
	}
	(void)copy_try(s, dst, size, 1);
	return (-1);
}

/* The value of a descriptor's counter in a raw slot copy. */
uint64_t
snap_raw(const uint8_t *slot, uint32_t off)
{
	uint64_t	v;

	memcpy(&v, slot + off, sizeof(v));
	return (v);
}

/*
 * A copied slot's client certificate subject into buf, NUL-terminated,
 * every byte outside printable ASCII shown as '?': a worker wrote it, and
 * it goes into tables, JSON and Prometheus labels.  Returns buf.
 */
const char *
snap_subject(const uint8_t *slot, char *buf, size_t len)
{
	const uint8_t	*p = slot + offsetof(struct stats_slot, tls_subject);
	size_t		 i;

	for (i = 0; i + 1 < len && i < STATS_SUBJECT_LEN && p[i] != '\0';
	    i++)
		buf[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	if (len > 0)
		buf[i] = '\0';
	return (buf);
}

static void
raw_add(uint8_t *slot, uint32_t off, uint64_t n)
{
	uint64_t	v = snap_raw(slot, off) + n;

	memcpy(slot + off, &v, sizeof(v));
}

/* total = retired + every live slot, through the descriptor table. */
static void
snap_sum(struct stats_snap *sn)
{
	const struct stats_desc	*d;
	const uint8_t		*s;
	uint32_t		 i, k, b;
	uint64_t		 v;

	memcpy(sn->total, sn->retired, sn->hdr.slot_size);
	for (i = 0; i < sn->hdr.nslots; i++) {
		s = sn->slots + (size_t)i * sn->hdr.slot_size;
		if (!snap_live(s))
			continue;
		for (k = 0; k < sn->hdr.ndesc; k++) {
			d = &sn->hdr.desc[k];
			if (d->kind != STATS_HISTOGRAM) {
				raw_add(sn->total, d->offset,
				    snap_raw(s, d->offset));
				continue;
			}
			raw_add(sn->total, d->offset + SNAP_H_COUNT,
			    snap_raw(s, d->offset + SNAP_H_COUNT));
			raw_add(sn->total, d->offset + SNAP_H_SUM,
			    snap_raw(s, d->offset + SNAP_H_SUM));
			v = snap_raw(s, d->offset + SNAP_H_MAX);
			if (v > snap_raw(sn->total, d->offset + SNAP_H_MAX))
				memcpy(sn->total + d->offset + SNAP_H_MAX, &v,
				    sizeof(v));
			for (b = 0; b < d->nbuckets; b++)
				raw_add(sn->total, (uint32_t)(d->offset +
				    SNAP_H_BUCKET + b * sizeof(uint64_t)),
				    snap_raw(s, (uint32_t)(d->offset + SNAP_H_BUCKET +
				    b * sizeof(uint64_t))));
		}
	}
}

/*
 * The header copy of a snapshot as readers may trust it: the layout is
 * this process's own (never the file's), counts are clamped (snap_clean
 * then makes its strings safe).
 */
static void
snap_fix_hdr(struct stats_hdr *h, const struct stats_layout *lay)
{
	stats_layout_put(lay, h);
	if (h->nlisteners > STATS_MAX_LISTENERS)
		h->nlisteners = STATS_MAX_LISTENERS;
}

/*
 * Keep a string of a copied header terminated and printable ASCII; with
 * keep, only those characters (others become '_').
 */
static void
str_clean(char *s, size_t size, const char *keep)
{
	size_t	i;

	s[size - 1] = '\0';
	for (i = 0; s[i] != '\0'; i++)
		if (keep != NULL ? strchr(keep, s[i]) == NULL :
		    ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e))
			s[i] = keep != NULL ? '_' : '?';
}

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" \
	"0123456789_"

/*
 * The strings of a segment msgctl did not write end up on terminals and in
 * JSON and Prometheus documents: no control bytes, no unterminated string,
 * metric names and label keys in the characters Prometheus allows.
 */
static void
snap_clean(struct stats_hdr *h)
{
	struct stats_desc	*d;
	char			*eq;
	uint32_t		 i;

	str_clean(h->version, sizeof(h->version), NULL);
	str_clean(h->reload_msg, sizeof(h->reload_msg), NULL);
	str_clean(h->up.msg, sizeof(h->up.msg), NULL);
	str_clean(h->up.from, sizeof(h->up.from), NULL);
	str_clean(h->up.exe, sizeof(h->up.exe), NULL);
	str_clean(h->up.disk, sizeof(h->up.disk), NULL);
	str_clean(h->metrics_addr, sizeof(h->metrics_addr), NULL);
	for (i = 0; i < STATS_MAX_LISTENERS; i++)
		str_clean(h->listeners[i].addr, sizeof(h->listeners[i].addr),
		    NULL);
	for (i = 0; i < STATS_MAX_DESC; i++) {
		d = &h->desc[i];
		str_clean(d->name, sizeof(d->name), NAME_CHARS);
		str_clean(d->label, sizeof(d->label), NULL);
		if ((eq = strchr(d->label, '=')) != NULL) {
			*eq = '\0';
			str_clean(d->label, (size_t)(eq - d->label) + 1,
			    NAME_CHARS);
			/* A label name may not start with a digit either. */
			if (d->label[0] >= '0' && d->label[0] <= '9')
				d->label[0] = '_';
			*eq = '=';
		}
		str_clean(d->field, sizeof(d->field), NULL);
		str_clean(d->unit, sizeof(d->unit), NULL);
		str_clean(d->help, sizeof(d->help), NULL);
	}
}

/*
 * Take a consistent snapshot of the whole segment without blocking any
 * writer: retry while the master is folding, retry each slot while its
 * worker is mid-update.  A slot whose writer stopped mid-update (a stuck
 * worker) is used as copied and counted in sn->torn.  Where things are
 * comes from seg->lay, never from the header in the file.
 */
int
stats_snapshot(const struct stats_seg *seg, struct stats_snap *sn,
    char *cause, size_t len)
{
	return (snapshot(seg, sn, snap_budget_us, cause, len));
}

/*
 * stats_snapshot without waiting for a writer: a slot found mid-update
 * after a few tries is copied as it is and counted torn at once.  For the
 * root master, whose loop a worker must not hold by leaving its slot's
 * counter odd.
 */
int
stats_snapshot_nowait(const struct stats_seg *seg, struct stats_snap *sn,
    char *cause, size_t len)
{
	return (snapshot(seg, sn, 0, cause, len));
}

static int
snapshot(const struct stats_seg *seg, struct stats_snap *sn,
    uint64_t budget_us, char *cause, size_t len)
{
	const struct stats_layout *lay = &seg->lay;
	const struct stats_hdr	*h = seg->hdr;
	uint64_t		 a, b;
	size_t			 ss;
	uint32_t		 i;
	int			 round;

	memset(sn, 0, sizeof(*sn));
	if (h == NULL || lay->slot_size == 0) {
		snprintf(cause, len, "no stats segment");
		return (-1);
	}
	ss = lay->slot_size;
	sn->slots = calloc((size_t)lay->nslots + 1, ss);
	sn->retired = calloc(1, ss);
	sn->total = calloc(1, ss);
	if (sn->slots == NULL || sn->retired == NULL || sn->total == NULL) {
		snprintf(cause, len, "out of memory");
		stats_snap_free(sn);
		return (-1);
	}
	for (round = 0; round < SNAP_ROUNDS; round++) {
		a = atomic_load_explicit(&h->mseq, memory_order_acquire);
		if (a & 1) {
			sched_yield();
			continue;
		}
		memcpy(&sn->hdr, (const void *)h, sizeof(sn->hdr));
		memcpy(sn->retired, (const void *)stats_retired(seg), ss);
		sn->torn = 0;
		for (i = 0; i < lay->nslots; i++)
			if (copy_slot(stats_slot(seg, (int)i),
			    sn->slots + (size_t)i * ss, ss, budget_us) == -1)
				sn->torn++;
		atomic_thread_fence(memory_order_acquire);
		b = atomic_load_explicit(&h->mseq, memory_order_relaxed);
		if (a == b)
			break;
	}
	if (round == SNAP_ROUNDS) {
		snprintf(cause, len, "the segment kept changing; try again");
		stats_snap_free(sn);
		return (-1);
	}
	snap_fix_hdr(&sn->hdr, lay);
	snap_clean(&sn->hdr);
	sn->now_ms = mono_ms();
	sn->now_us = realtime_us();
	snap_sum(sn);
	return (0);
}

void
stats_snap_free(struct stats_snap *sn)
{
	free(sn->slots);
	free(sn->retired);
	free(sn->total);
	sn->slots = sn->retired = sn->total = NULL;
}

/* A counter by field name from a raw slot copy (0 if unknown). */
uint64_t
stats_get(const struct stats_snap *sn, const uint8_t *slot, const char *field)
{
	uint32_t	k;

	for (k = 0; k < sn->hdr.ndesc; k++)
		if (strcmp(sn->hdr.desc[k].field, field) == 0 &&
		    sn->hdr.desc[k].kind != STATS_HISTOGRAM)
			return (snap_raw(slot, sn->hdr.desc[k].offset));
	return (0);
}

/* The latency histogram's descriptor, or NULL. */
const struct stats_desc *
snap_hist(const struct stats_snap *sn)
{
	uint32_t	k;

	for (k = 0; k < sn->hdr.ndesc; k++)
		if (sn->hdr.desc[k].kind == STATS_HISTOGRAM)
			return (&sn->hdr.desc[k]);
	return (NULL);
}

/* Bucket b of histogram d in a copied slot. */
uint64_t
snap_bucket(const uint8_t *slot, const struct stats_desc *d, uint32_t b)
{
	return (snap_raw(slot, (uint32_t)(d->offset + SNAP_H_BUCKET +
	    b * sizeof(uint64_t))));
}

/* Percentile p (0..100) of a raw histogram: its bucket's upper bound. */
uint64_t
snap_percentile(const struct stats_snap *sn, const uint8_t *slot, double p)
{
	const struct stats_desc	*d = snap_hist(sn);
	uint64_t		 count, rank, seen = 0;
	uint32_t		 b;

	if (d == NULL || (count = snap_raw(slot, d->offset + SNAP_H_COUNT)) == 0)
		return (0);
	rank = (uint64_t)((p / 100.0) * (double)count + 0.999999);
	if (rank < 1)
		rank = 1;
	for (b = 0; b < d->nbuckets && b < sn->hdr.nbuckets; b++) {
		seen += snap_bucket(slot, d, b);
		if (seen >= rank)
			return (sn->hdr.bucket_upper_us[b]);
	}
	return (snap_raw(slot, d->offset + SNAP_H_MAX));
}

/* Sum of every descriptor with metric name (e.g. all "requests" by op). */
uint64_t
snap_sum_name(const struct stats_snap *sn, const uint8_t *slot,
    const char *name)
{
	uint64_t	v = 0;
	uint32_t	k;

	for (k = 0; k < sn->hdr.ndesc; k++)
		if (sn->hdr.desc[k].kind != STATS_HISTOGRAM &&
		    strcmp(sn->hdr.desc[k].name, name) == 0)
			v += snap_raw(slot, sn->hdr.desc[k].offset);
	return (v);
}

/* Slot i of a snapshot, as copied. */
const uint8_t *
snap_slot(const struct stats_snap *sn, uint32_t i)
{
	return (sn->slots + (size_t)i * sn->hdr.slot_size);
}

/* A copied slot is a live worker's: it has a pid. */
int
snap_live(const uint8_t *s)
{
	int32_t	pid;

	memcpy(&pid, s + offsetof(struct stats_slot, pid), sizeof(pid));
	return (pid != 0);
}

/* A 32-bit field of a copied slot. */
uint32_t
snap_u32(const uint8_t *s, size_t off)
{
	uint32_t	v;

	memcpy(&v, s + off, sizeof(v));
	return (v);
}

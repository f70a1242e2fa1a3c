/*
 * stats.c: the shared-memory statistics segment: layout, single-writer
 * updates, lock-free snapshots, sums and renderers (table, JSON,
 * Prometheus text format 0.0.4).
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "stats.h"
#include "util.h"

#define SNAP_BUDGET_US	50000	/* per slot (workers), then marked torn */

/*
 * How long a reader may wait for one slot.  A worker preempted inside a
 * publish section (a loaded machine) holds it for a scheduling period:
 * msgctl can afford to wait longer than a worker answering STATS, whose
 * other clients would wait with it.
 */
static uint64_t	snap_budget_us = SNAP_BUDGET_US;

void
stats_set_read_budget(uint64_t us)
{
	snap_budget_us = us;
}
#define SNAP_SPINS	64	/* tries before yielding the CPU */
#define SNAP_ROUNDS	100	/* whole-segment retries around a fold */

/* Offsets of the histogram's parts, relative to a HISTOGRAM descriptor. */
#define H_COUNT		offsetof(struct hist, count)
#define H_SUM		offsetof(struct hist, sum)
#define H_MAX		offsetof(struct hist, max)
#define H_BUCKET	offsetof(struct hist, bucket)

static const char *const state_names[] = {
	[STATS_EMPTY] = "empty",
	[STATS_STARTING] = "starting",
	[STATS_IDLE] = "idle",
	[STATS_BUSY] = "busy",
	[STATS_DRAINING] = "draining",
	[STATS_DEAD] = "dead",
};

/* Request counters by opcode and response counters by status. */
static size_t
req_offset(unsigned int op)
{
	switch (op) {
#define X(N, n, code, udp, auth, inplace)				\
	case MSG_OP_##N: return (offsetof(struct stats_counters, req_##n));
	MSG_OPCODES(X)
#undef X
	default: return (offsetof(struct stats_counters, req_other));
	}
}

static const size_t st_offsets[] = {
#define X(N, n, code)							\
	[MSG_ST_##N] = offsetof(struct stats_counters, st_##n),
	MSG_STATUSES(X)
#undef X
};

const char *
stats_state_name(unsigned int st)
{
	if (st >= nitems(state_names))
		return ("unknown");
	return (state_names[st]);
}

static uint64_t
realtime_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

/* Fill the descriptor table from the X-macro list. */
static void
stats_describe(struct stats_layout *lay)
{
	struct stats_desc	*d;
	uint32_t		 n = 0;
	size_t			 i;

#define X(f, m, l, k, u, hp)						\
	d = &lay->desc[n++];						\
	snprintf(d->name, sizeof(d->name), "%s", m);			\
	snprintf(d->label, sizeof(d->label), "%s", l);			\
	snprintf(d->field, sizeof(d->field), "%s", #f);			\
	snprintf(d->unit, sizeof(d->unit), "%s", u);			\
	snprintf(d->help, sizeof(d->help), "%s", hp);			\
	d->kind = STATS_##k;						\
	d->offset = (uint32_t)(offsetof(struct stats_slot, c) +	\
	    offsetof(struct stats_counters, f));
	STATS_COUNTERS(X)
#undef X
	d = &lay->desc[n++];
	snprintf(d->name, sizeof(d->name), "request_duration");
	snprintf(d->field, sizeof(d->field), "latency");
	snprintf(d->unit, sizeof(d->unit), "microseconds");
	snprintf(d->help, sizeof(d->help), "Request handling time");
	d->kind = STATS_HISTOGRAM;
	d->offset = (uint32_t)(offsetof(struct stats_slot, c) +
	    offsetof(struct stats_counters, latency));
	d->nbuckets = HIST_NBUCKETS;
	lay->ndesc = n;
	lay->nbuckets = HIST_NBUCKETS;
	for (i = 0; i < HIST_NBUCKETS; i++)
		lay->bucket_upper_us[i] = hist_bucket_upper(i);
}

/* The layout's fields into a header (the master's copy is the truth). */
static void
layout_put(const struct stats_layout *lay, struct stats_hdr *h)
{
	h->layout = STATS_LAYOUT;
	h->hdr_size = lay->hdr_size;
	h->total_size = lay->total_size;
	h->slot_size = lay->slot_size;
	h->nslots = lay->nslots;
	h->slot_offset = lay->slot_offset;
	h->retired_offset = lay->retired_offset;
	h->ndesc = lay->ndesc;
	h->nbuckets = lay->nbuckets;
	memcpy(h->bucket_upper_us, lay->bucket_upper_us,
	    sizeof(h->bucket_upper_us));
	memcpy(h->desc, lay->desc, sizeof(h->desc));
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

static size_t
page_round(size_t n)
{
	long	pg = sysconf(_SC_PAGESIZE);
	size_t	p = pg > 0 ? (size_t)pg : 4096;

	return ((n + p - 1) / p * p);
}

/*
 * Another running msgd's segment must not be replaced under it: if path
 * holds a segment whose master is alive and is msgd, refuse.
 */
static int
stats_in_use(const char *path, char *cause, size_t len)
{
	struct stats_hdr	h;
	char			proc[64], comm[32];
	ssize_t			n;
	int			fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return (0);
	n = read(fd, &h, sizeof(h));
	close(fd);
	if (n != (ssize_t)sizeof(h) || h.magic != STATS_MAGIC ||
	    h.master_pid <= 0 || h.master_pid == getpid() ||
	    (kill(h.master_pid, 0) == -1 && errno == ESRCH))
		return (0);
	snprintf(proc, sizeof(proc), "/proc/%d/comm", (int)h.master_pid);
	if ((fd = open(proc, O_RDONLY | O_CLOEXEC)) == -1)
		return (0);
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (n <= 0)
		return (0);
	comm[n] = '\0';
	if (strncmp(comm, "msgd", 4) != 0)
		return (0);
	snprintf(cause, len, "%s is in use by another msgd (pid %d)", path,
	    (int)h.master_pid);
	return (1);
}

/*
 * Create the segment file for nslots workers (the configured maximum, so
 * the pool can grow without remapping) and map it shared.  The file is
 * replaced, never reused: a new master starts from zero.  It is built
 * under a temporary name nobody can guess or plant (O_EXCL, which never
 * follows a symlink), so readers never see it half made.  Both of its
 * descriptors stay open (close-on-exec) for the workers' mappings.
 */
int
stats_create(struct stats_seg *seg, const char *path, int nslots,
    char *cause, size_t len)
{
	struct stats_layout	*lay = &seg->lay;
	struct stats_hdr	*h;
	struct stat		 st, sr;
	char			 tmp[512];
	size_t			 size;
	void			*p = MAP_FAILED;
	int			 fd, ro = -1, saved;

	_Static_assert(HIST_NBUCKETS <= STATS_MAX_BUCKETS, "buckets");
	memset(seg, 0, sizeof(*seg));
	seg->fd_rw = seg->fd_ro = -1;
	if (stats_in_use(path, cause, len))
		return (-1);
	if (nslots < 1 || nslots > STATS_MAX_SLOTS) {
		snprintf(cause, len, "%s: %d slots: 1 to %d", path, nslots,
		    STATS_MAX_SLOTS);
		return (-1);
	}
	/* One page or more per slot, so a worker can map its own alone. */
	lay->hdr_size = sizeof(struct stats_hdr);
	lay->slot_offset = (uint32_t)page_round(sizeof(struct stats_hdr));
	lay->slot_size = (uint32_t)page_round(sizeof(struct stats_slot));
	lay->nslots = (uint32_t)nslots;
	lay->retired_offset = lay->slot_offset +
	    (uint32_t)nslots * lay->slot_size;
	lay->total_size = (uint64_t)lay->retired_offset + lay->slot_size;
	stats_describe(lay);
	size = (size_t)lay->total_size;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >=
	    sizeof(tmp)) {
		snprintf(cause, len, "%s: path too long", path);
		return (-1);
	}
	/* mkostemp: O_CREAT | O_EXCL, mode 0600, a random name. */
	if ((fd = mkostemp(tmp, O_CLOEXEC | O_NOFOLLOW)) == -1) {
		snprintf(cause, len, "%s: %s", tmp, strerror(errno));
		return (-1);
	}
	if (ftruncate(fd, (off_t)size) == -1) {
		snprintf(cause, len, "%s: ftruncate: %s", tmp, strerror(errno));
		goto fail;
	}
	/*
	 * 0440 whatever the umask: the group is who may read stats, and
	 * nobody may open it for writing by its path, not even its owner (a
	 * worker running as the master's user: the seccomp filter has no
	 * chmod to undo this).  We keep writing through fd, opened before;
	 * nothing reopens the file for writing (msgctl reads it, a restart
	 * makes a new one).
	 */
	if (fchmod(fd, 0440) == -1) {
		snprintf(cause, len, "%s: fchmod: %s", tmp, strerror(errno));
		goto fail;
	}
	/*
	 * A read-only descriptor of the same file (checked: same inode) for
	 * the workers' view: mprotect cannot make its mapping writable.
	 */
	if ((ro = open(tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1 || fstat(ro, &sr) == -1 ||
	    st.st_dev != sr.st_dev || st.st_ino != sr.st_ino) {
		snprintf(cause, len, "%s: reopen read-only: %s", tmp,
		    ro == -1 ? strerror(errno) : "another file");
		goto fail;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(cause, len, "%s: mmap: %s", tmp, strerror(errno));
		goto fail;
	}
	h = p;
	layout_put(lay, h);
	seg->master_pid = (int32_t)getpid();
	seg->master_start_us = realtime_us();
	h->master_pid = seg->master_pid;
	h->master_start_us = seg->master_start_us;
	h->generation = 1;
	snprintf(h->version, sizeof(h->version), "%s", PACKAGE_VERSION);
	atomic_store(&h->master_heartbeat_ms, mono_ms());
	/* The magic last: a reader that sees it sees a complete header. */
	atomic_thread_fence(memory_order_release);
	h->magic = STATS_MAGIC;
	if (rename(tmp, path) == -1) {
		snprintf(cause, len, "rename %s to %s: %s", tmp, path,
		    strerror(errno));
		goto fail;
	}
	seg->hdr = h;
	seg->size = size;
	seg->writable = 1;
	seg->fd_rw = fd;
	seg->fd_ro = ro;
	return (0);
fail:
	saved = errno;
	if (p != MAP_FAILED)
		munmap(p, size);
	if (ro != -1)
		close(ro);
	close(fd);
	unlink(tmp);
	memset(lay, 0, sizeof(*lay));
	errno = saved;
	return (-1);
}

/*
 * Worker, right after fork: give up write access to everything but its
 * own slot.  The inherited read-write mapping is replaced in place by one
 * of the read-only descriptor (which mprotect cannot make writable), then
 * the slot's pages by a read-write mapping of their own; both descriptors
 * are closed.  Pointers into the segment stay valid.
 */
int
stats_worker_map(struct stats_seg *seg, int i, char *cause, size_t len)
{
	const struct stats_layout *lay = &seg->lay;
	char			*base = (char *)seg->hdr;
	size_t			 off;
	void			*p;
	int			 rc = -1;

	if (base == NULL || seg->fd_rw == -1 || seg->fd_ro == -1 || i < 0 ||
	    (uint32_t)i >= lay->nslots) {
		snprintf(cause, len, "no stats segment to map slot %d of", i);
		goto out;
	}
	off = lay->slot_offset + (size_t)i * lay->slot_size;
	p = mmap(base, seg->size, PROT_READ, MAP_SHARED | MAP_FIXED,
	    seg->fd_ro, 0);
	if (p != base) {
		snprintf(cause, len, "mmap stats read-only: %s",
		    strerror(errno));
		goto out;
	}
	p = mmap(base + off, lay->slot_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_FIXED, seg->fd_rw, (off_t)off);
	if (p != base + off) {
		snprintf(cause, len, "mmap stats slot %d: %s", i,
		    strerror(errno));
		goto out;
	}
	seg->writable = 0;
	rc = 0;
out:
	if (seg->fd_rw != -1)
		close(seg->fd_rw);
	if (seg->fd_ro != -1)
		close(seg->fd_ro);
	seg->fd_rw = seg->fd_ro = -1;
	return (rc);
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
			end = (uint64_t)d->offset + H_BUCKET +
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
 * Map an existing segment read-only and check it is one we can read: a
 * missing file, another layout, a truncated or foreign file are refused
 * with a message, never misread.  The header is checked once, in a copy,
 * and its layout kept: later changes to the file cannot move what the
 * snapshots read.
 */
int
stats_open(struct stats_seg *seg, const char *path, char *cause, size_t len)
{
	struct stats_hdr	*h = NULL;
	struct stat		 st;
	void			*p;
	int			 fd;

	memset(seg, 0, sizeof(*seg));
	seg->fd_rw = seg->fd_ro = -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			snprintf(cause, len, "%s: no such file (is msgd "
			    "running, and is this its stats_file?)", path);
		else if (errno == EACCES)
			access_cause(path, cause, len);
		else
			snprintf(cause, len, "%s: %s", path, strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		snprintf(cause, len, "%s: fstat: %s", path, strerror(errno));
		close(fd);
		return (-1);
	}
	if ((size_t)st.st_size < sizeof(uint64_t) + sizeof(uint32_t) * 2) {
		snprintf(cause, len, "%s: %lld bytes: too short to be a msgd "
		    "stats segment", path, (long long)st.st_size);
		close(fd);
		return (-1);
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		snprintf(cause, len, "%s: mmap: %s", path, strerror(errno));
		return (-1);
	}
	if ((h = malloc(sizeof(*h))) == NULL) {
		snprintf(cause, len, "out of memory");
		goto fail;
	}
	memset(h, 0, sizeof(*h));
	memcpy(h, p, (size_t)st.st_size < sizeof(*h) ? (size_t)st.st_size :
	    sizeof(*h));
	if (h->magic != STATS_MAGIC) {
		snprintf(cause, len, "%s: not a msgd stats segment (bad magic)",
		    path);
		goto fail;
	}
	if (h->layout != STATS_LAYOUT) {
		snprintf(cause, len, "%s: stats layout %u, this msgctl reads "
		    "layout %u", path, h->layout, STATS_LAYOUT);
		goto fail;
	}
	if (h->hdr_size != sizeof(struct stats_hdr) ||
	    h->total_size != (uint64_t)st.st_size ||
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
		    "(%lld bytes)", path, (long long)st.st_size);
		goto fail;
	}
	if (desc_check(h, path, cause, len) == -1)
		goto fail;
	layout_get(h, &seg->lay);
	free(h);
	seg->hdr = p;
	seg->size = (size_t)st.st_size;
	seg->writable = 0;
	return (0);
fail:
	free(h);
	munmap(p, (size_t)st.st_size);
	return (-1);
}

void
stats_close(struct stats_seg *seg)
{
	if (seg->hdr != NULL) {
		munmap(seg->hdr, seg->size);
		if (seg->fd_rw != -1)
			close(seg->fd_rw);
		if (seg->fd_ro != -1)
			close(seg->fd_ro);
		seg->fd_rw = seg->fd_ro = -1;
	}
	seg->hdr = NULL;
}

int
stats_unlink(const char *path)
{
	if (unlink(path) == -1 && errno != ENOENT)
		return (-1);
	return (0);
}

/* Slot i, where this process's own layout says it is. */
struct stats_slot *
stats_slot(const struct stats_seg *seg, int i)
{
	if (seg->hdr == NULL || i < 0 || (uint32_t)i >= seg->lay.nslots)
		return (NULL);
	return ((struct stats_slot *)((char *)seg->hdr +
	    seg->lay.slot_offset + (size_t)i * seg->lay.slot_size));
}

static struct stats_slot *
stats_retired(const struct stats_seg *seg)
{
	return ((struct stats_slot *)((char *)seg->hdr +
	    seg->lay.retired_offset));
}

/* Odd while the master writes; an odd value found here is made even. */
static void
master_begin(struct stats_hdr *h)
{
	uint64_t	v;

	v = atomic_load_explicit(&h->mseq, memory_order_relaxed);
	atomic_store_explicit(&h->mseq, (v | 1) == v ? v + 2 : v + 1,
	    memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static void
master_end(struct stats_hdr *h)
{
	atomic_store_explicit(&h->mseq,
	    atomic_load_explicit(&h->mseq, memory_order_relaxed) + 1,
	    memory_order_release);
}

/* Master: current worker count and generation. */
void
stats_set_master(struct stats_seg *seg, int workers, uint64_t generation)
{
	struct stats_hdr	*h = seg->hdr;

	if (h == NULL)
		return;
	master_begin(h);
	h->workers = (uint32_t)workers;
	h->generation = generation;
	master_end(h);
}

/* Master: name listener i and record its sampled accept queue. */
void
stats_set_listener(struct stats_seg *seg, int i, const char *addr, int tcp,
    uint32_t queue, uint32_t queue_max)
{
	struct stats_hdr	*h = seg->hdr;
	struct stats_listener	*l;

	if (h == NULL || i < 0 || i >= STATS_MAX_LISTENERS)
		return;
	l = &h->listeners[i];
	master_begin(h);
	if (strncmp(l->addr, addr, sizeof(l->addr)) != 0) {
		snprintf(l->addr, sizeof(l->addr), "%s", addr);
		l->queue_peak = 0;
	}
	l->tcp = (uint32_t)tcp;
	l->queue = queue;
	l->queue_max = queue_max;
	if (queue > l->queue_peak)
		l->queue_peak = queue;
	if ((uint32_t)i + 1 > h->nlisteners)
		h->nlisteners = (uint32_t)i + 1;
	master_end(h);
}

/* Master: record its pid again after detaching (fork changed it). */
void
stats_set_pid(struct stats_seg *seg, int pid)
{
	if (seg->hdr == NULL)
		return;
	seg->master_pid = pid;
	master_begin(seg->hdr);
	seg->hdr->master_pid = pid;
	master_end(seg->hdr);
}

void
stats_master_beat(struct stats_seg *seg)
{
	if (seg->hdr != NULL)
		atomic_store_explicit(&seg->hdr->master_heartbeat_ms, mono_ms(),
		    memory_order_relaxed);
}

/*
 * Master, once a second: the header's fixed part (magic, layout, master
 * pid, start time, release, listener count) must be what the master
 * wrote.  Nothing of
 * the master depends on it, but readers do: if someone changed it, put
 * the master's copy back and say which part was wrong (1), else 0.
 */
int
stats_restore_header(struct stats_seg *seg, char *what, size_t len)
{
	struct stats_hdr	*h = seg->hdr;
	struct stats_hdr	*want;
	const char		*bad = NULL;

	if (h == NULL || !seg->writable || seg->lay.nslots == 0)
		return (0);
	if ((want = calloc(1, sizeof(*want))) == NULL)
		return (0);
	layout_put(&seg->lay, want);
	snprintf(want->version, sizeof(want->version), "%s", PACKAGE_VERSION);
	if (h->magic != STATS_MAGIC)
		bad = "magic";
	else if (memcmp(&h->layout, &want->layout,
	    offsetof(struct stats_hdr, master_pid) -
	    offsetof(struct stats_hdr, layout)) != 0)
		bad = "sizes and offsets";
	else if (h->master_pid != seg->master_pid ||
	    h->master_start_us != seg->master_start_us)
		bad = "master pid or start time";
	else if (memcmp(h->version, want->version, sizeof(h->version)) != 0)
		bad = "release";
	else if (memcmp(h->bucket_upper_us, want->bucket_upper_us,
	    sizeof(h->bucket_upper_us)) != 0)
		bad = "histogram bounds";
	else if (memcmp(h->desc, want->desc, sizeof(h->desc)) != 0)
		bad = "counter descriptors";
	else if (h->nlisteners > STATS_MAX_LISTENERS)
		bad = "listener count";
	if (bad != NULL) {
		master_begin(h);
		h->magic = 0;
		atomic_thread_fence(memory_order_release);
		layout_put(&seg->lay, h);
		h->master_pid = seg->master_pid;
		h->master_start_us = seg->master_start_us;
		memcpy(h->version, want->version, sizeof(h->version));
		if (h->nlisteners > STATS_MAX_LISTENERS)
			h->nlisteners = 0;	/* the next sample sets it */
		atomic_thread_fence(memory_order_release);
		h->magic = STATS_MAGIC;
		master_end(h);
		snprintf(what, len, "%s", bad);
	}
	free(want);
	return (bad != NULL);
}

/* Master: publish the outcome of a reload for msgctl reload. */
void
stats_set_reload(struct stats_seg *seg, int ok, const char *msg)
{
	struct stats_hdr	*h = seg->hdr;

	if (h == NULL)
		return;
	master_begin(h);
	h->reload_ok = (uint32_t)ok;
	snprintf(h->reload_msg, sizeof(h->reload_msg), "%s", msg);
	h->reload_seq++;
	master_end(h);
}

/*
 * A checked copy of a request record another process writes: read once,
 * and refused (active = STATS_CUR_INVALID, the rest zero) unless every
 * field is one the worker could have written (family 0: the master's
 * probe).
 */
void
stats_current_read(const struct stats_current *src, struct stats_current *cur)
{
	memcpy(cur, (const void *)src, sizeof(*cur));
	if (cur->active == 0)
		memset(cur, 0, sizeof(*cur));
	else if (cur->active != 1 || (cur->family != 0 &&
	    cur->family != AF_INET && cur->family != AF_INET6 &&
	    cur->family != AF_UNIX) || cur->start_us > mono_us()) {
		memset(cur, 0, sizeof(*cur));
		cur->active = STATS_CUR_INVALID;
	}
}

/* "GET from 127.0.0.1:4242, 1048576 bytes, for 2.5 s" for crash logs;
 * now_us is mono_us(). */
void
stats_current_format(const struct stats_current *src, uint64_t now_us,
    char *buf, size_t len)
{
	struct stats_current	 c, *cur = &c;
	char			 host[64], peer[80];
	const char		*name;

	if (src->active == STATS_CUR_INVALID)
		memcpy(cur, src, sizeof(*cur));
	else
		stats_current_read(src, cur);
	if (cur->active == STATS_CUR_INVALID) {
		snprintf(buf, len, "its stats slot held an impossible request "
		    "record (refused)");
		return;
	}
	if (!cur->active) {
		snprintf(buf, len, "no request in progress");
		return;
	}
	if (cur->family == AF_INET)
		inet_ntop(AF_INET, cur->addr, host, sizeof(host));
	else if (cur->family == AF_INET6)
		inet_ntop(AF_INET6, cur->addr, host, sizeof(host));
	else
		snprintf(host, sizeof(host), "unix");
	if (cur->family == AF_INET6)
		snprintf(peer, sizeof(peer), "[%s]:%u", host, cur->port);
	else if (cur->family == AF_INET)
		snprintf(peer, sizeof(peer), "%s:%u", host, cur->port);
	else
		snprintf(peer, sizeof(peer), "%s", host);
	name = msg_op_name(cur->op);
	snprintf(buf, len, "handling %s (0x%02x) from %s, %u bytes, for "
	    "%.3f s", name != NULL ? name : "unknown op", cur->op, peer,
	    cur->body_len, now_us > cur->start_us ?
	    (double)(now_us - cur->start_us) / 1e6 : 0.0);
}

/* Worker: claim its (reset) slot. */
void
stats_slot_start(struct stats_slot *s, int pid, uint64_t generation)
{
	stats_begin(s);
	s->pid = pid;
	s->state = STATS_STARTING;
	s->generation = generation;
	s->start_us = realtime_us();
	stats_end(s);
	stats_beat(s, mono_ms());
}

/*
 * The state is one word readers take as it is (busy/idle flips every loop
 * turn): a plain atomic store, no section.
 */
void
stats_slot_state(struct stats_slot *s, enum stats_state st)
{
	if (s->state != st)
		__atomic_store_n(&s->state, (uint32_t)st, __ATOMIC_RELAXED);
}

/* Worker: show life; now is the loop's CLOCK_MONOTONIC ms. */
void
stats_beat(struct stats_slot *s, uint64_t now)
{
	atomic_store_explicit(&s->heartbeat_ms, now, memory_order_relaxed);
}

/*
 * Worker: account one answered frame (opcode, status, handling time) as a
 * single seqlock section, so requests, responses and latency samples always
 * agree in any snapshot.
 */
void
stats_request(struct stats_slot *s, unsigned int op, unsigned int status,
    uint64_t us)
{
	struct stats_pend	p;

	memset(&p, 0, sizeof(p));
	stats_pend_request(&p, s, op, status, us);
	stats_publish(&p, s);
}

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
	return (a + b < a ? UINT64_MAX : a + b);
}

/*
 * Add counters src into dst (gauges are not carried into retired),
 * saturating: whatever a dead worker's slot said, the totals never wrap.
 */
static void
counters_add(struct stats_counters *dst, const struct stats_counters *src,
    int with_gauges)
{
#define X(f, m, l, k, u, h)						\
	if (STATS_##k != STATS_GAUGE || with_gauges)			\
		dst->f = sat_add(dst->f, src->f);
	STATS_COUNTERS(X)
#undef X
	hist_merge(&dst->latency, &src->latency);
}

/*
 * Master: a worker is gone.  Fold its last counters into the retired
 * totals and reset the slot for its successor, in one master seqlock
 * section, so a reader never counts it twice or not at all and totals
 * never go backwards.  The slot is read once, into a copy: what the
 * master learns from it (fi) is checked, nothing in it is trusted.
 */
void
stats_fold(struct stats_seg *seg, int i, struct stats_fold_info *fi)
{
	struct stats_slot	*s, *r, copy, *c = &copy;
	uint64_t		 n = 0, hb;
	size_t			 k;

	if ((s = stats_slot(seg, i)) == NULL)
		return;
	memcpy(c, (const void *)s, sizeof(*c));
	r = stats_retired(seg);
	if (fi != NULL) {
		for (k = 0; k < nitems(st_offsets); k++)
			n = sat_add(n, *(uint64_t *)((char *)&c->c +
			    st_offsets[k]));
		fi->requests = n;
		stats_current_read(&c->cur, &fi->cur);
		hb = atomic_load_explicit(&c->heartbeat_ms,
		    memory_order_relaxed);
		fi->heartbeat_ms = hb <= mono_ms() ? hb : 0;
	}
	master_begin(seg->hdr);
	counters_add(&r->c, &c->c, 0);
	memset(&s->c, 0, sizeof(s->c));
	memset(&s->cur, 0, sizeof(s->cur));
	s->pid = 0;
	s->state = STATS_DEAD;
	s->start_us = 0;
	atomic_store_explicit(&s->heartbeat_ms, 0, memory_order_relaxed);
	/* Even, so readers do not wait on a slot a dead writer left odd. */
	if (atomic_load_explicit(&s->seq, memory_order_relaxed) & 1)
		atomic_fetch_add_explicit(&s->seq, 1, memory_order_relaxed);
	master_end(seg->hdr);
}

/* Add n to the counter at byte offset off, later. */
void
stats_pend_add(struct stats_pend *p, struct stats_slot *s, size_t off,
    uint64_t n)
{
	size_t	i = off / sizeof(uint64_t);

	p->add[i] += n;
	p->dirty |= (uint64_t)1 << i;
}

/* One answered frame (opcode, status, handling time), later. */
void
stats_pend_request(struct stats_pend *p, struct stats_slot *s,
    unsigned int op, unsigned int status, uint64_t us)
{
	size_t	i;

	if (p->nb == STATS_PEND_BUCKETS)
		stats_publish(p, s);
	i = req_offset(op) / sizeof(uint64_t);
	p->add[i]++;
	p->dirty |= (uint64_t)1 << i;
	if (status < nitems(st_offsets)) {
		i = st_offsets[status] / sizeof(uint64_t);
		p->add[i]++;
		p->dirty |= (uint64_t)1 << i;
	}
	p->bucket[p->nb++] = (uint16_t)hist_bucket(us);
	p->hsum += us;
	if (us > p->hmax)
		p->hmax = us;
}

/*
 * Apply the pending updates in one seqlock section: a reader sees all
 * of them or none, so requests, responses and latency samples agree.
 */
void
stats_publish(struct stats_pend *p, struct stats_slot *s)
{
	struct hist	*h = &s->c.latency;
	uint64_t	*c = (uint64_t *)&s->c, d;
	uint32_t	 i;

	_Static_assert(offsetof(struct stats_counters, latency) <=
	    STATS_PEND_COUNTERS * sizeof(uint64_t), "pending counters");
	if (p->dirty == 0 && p->nb == 0)
		return;
	stats_begin(s);
	for (d = p->dirty; d != 0; d &= d - 1) {
		i = (uint32_t)__builtin_ctzll(d);
		c[i] += p->add[i];
		p->add[i] = 0;
	}
	for (i = 0; i < p->nb; i++)
		h->bucket[p->bucket[i]]++;
	h->count += p->nb;
	h->sum += p->hsum;
	if (p->hmax > h->max)
		h->max = p->hmax;
	stats_end(s);
	p->dirty = 0;
	p->nb = 0;
	p->hsum = p->hmax = 0;
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
 * then yielding), for up to SNAP_BUDGET_US.  A writer stopped mid-update
 * (SIGSTOP, hung) leaves its counter odd for good: its slot is copied as
 * it is and reported torn (-1), so a stuck worker still shows.
 */
static int
copy_slot(const struct stats_slot *s, uint8_t *dst, size_t size)
{
	uint64_t	deadline;
	int		i;

	for (i = 0; i < SNAP_SPINS; i++)
		if (copy_try(s, dst, size, 0) == 0)
			return (0);
	deadline = mono_us() + snap_budget_us;
	while (mono_us() < deadline) {
		if (copy_try(s, dst, size, 0) == 0)
			return (0);
		sched_yield();
	}
	(void)copy_try(s, dst, size, 1);
	return (-1);
}

/* The value of a descriptor's counter in a raw slot copy. */
static uint64_t
raw_get(const uint8_t *slot, uint32_t off)
{
	uint64_t	v;

	memcpy(&v, slot + off, sizeof(v));
	return (v);
}

static void
raw_add(uint8_t *slot, uint32_t off, uint64_t n)
{
	uint64_t	v = raw_get(slot, off) + n;

	memcpy(slot + off, &v, sizeof(v));
}

static int	slot_live(const uint8_t *);

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
		if (!slot_live(s))
			continue;
		for (k = 0; k < sn->hdr.ndesc; k++) {
			d = &sn->hdr.desc[k];
			if (d->kind != STATS_HISTOGRAM) {
				raw_add(sn->total, d->offset,
				    raw_get(s, d->offset));
				continue;
			}
			raw_add(sn->total, d->offset + H_COUNT,
			    raw_get(s, d->offset + H_COUNT));
			raw_add(sn->total, d->offset + H_SUM,
			    raw_get(s, d->offset + H_SUM));
			v = raw_get(s, d->offset + H_MAX);
			if (v > raw_get(sn->total, d->offset + H_MAX))
				memcpy(sn->total + d->offset + H_MAX, &v,
				    sizeof(v));
			for (b = 0; b < d->nbuckets; b++)
				raw_add(sn->total, (uint32_t)(d->offset +
				    H_BUCKET + b * sizeof(uint64_t)),
				    raw_get(s, (uint32_t)(d->offset + H_BUCKET +
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
	layout_put(lay, h);
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
			    sn->slots + (size_t)i * ss, ss) == -1)
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
			return (raw_get(slot, sn->hdr.desc[k].offset));
	return (0);
}

/* printf into a buffer. */
static int
bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
bprintf(struct buf *b, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n + 1) == -1)
		return (-1);
	va_start(ap, fmt);
	vsnprintf((char *)buf_tail(b), (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return (0);
}

/* JSON string body: escape quotes, backslashes and control bytes. */
static void
json_str(struct buf *b, const char *s)
{
	bprintf(b, "\"");
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			bprintf(b, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			bprintf(b, "\\u%04x", (unsigned char)*s);
		else
			bprintf(b, "%c", *s);
	}
	bprintf(b, "\"");
}

static const struct stats_desc *
snap_hist_desc(const struct stats_snap *sn)
{
	uint32_t	k;

	for (k = 0; k < sn->hdr.ndesc; k++)
		if (sn->hdr.desc[k].kind == STATS_HISTOGRAM)
			return (&sn->hdr.desc[k]);
	return (NULL);
}

static uint64_t
hist_bucket_count(const uint8_t *slot, const struct stats_desc *d, uint32_t b)
{
	return (raw_get(slot, (uint32_t)(d->offset + H_BUCKET +
	    b * sizeof(uint64_t))));
}

/* Percentile p (0..100) of a raw histogram: its bucket's upper bound. */
static uint64_t
snap_percentile(const struct stats_snap *sn, const uint8_t *slot, double p)
{
	const struct stats_desc	*d = snap_hist_desc(sn);
	uint64_t		 count, rank, seen = 0;
	uint32_t		 b;

	if (d == NULL || (count = raw_get(slot, d->offset + H_COUNT)) == 0)
		return (0);
	rank = (uint64_t)((p / 100.0) * (double)count + 0.999999);
	if (rank < 1)
		rank = 1;
	for (b = 0; b < d->nbuckets && b < sn->hdr.nbuckets; b++) {
		seen += hist_bucket_count(slot, d, b);
		if (seen >= rank)
			return (sn->hdr.bucket_upper_us[b]);
	}
	return (raw_get(slot, d->offset + H_MAX));
}

/* Sum of every descriptor with metric name (e.g. all "requests" by op). */
static uint64_t
snap_sum_name(const struct stats_snap *sn, const uint8_t *slot,
    const char *name)
{
	uint64_t	v = 0;
	uint32_t	k;

	for (k = 0; k < sn->hdr.ndesc; k++)
		if (sn->hdr.desc[k].kind != STATS_HISTOGRAM &&
		    strcmp(sn->hdr.desc[k].name, name) == 0)
			v += raw_get(slot, sn->hdr.desc[k].offset);
	return (v);
}

static const uint8_t *
snap_slot(const struct stats_snap *sn, uint32_t i)
{
	return (sn->slots + (size_t)i * sn->hdr.slot_size);
}

static int
slot_live(const uint8_t *s)
{
	int32_t	pid;

	memcpy(&pid, s + offsetof(struct stats_slot, pid), sizeof(pid));
	return (pid != 0);
}

static uint32_t
slot_u32(const uint8_t *s, size_t off)
{
	uint32_t	v;

	memcpy(&v, s + off, sizeof(v));
	return (v);
}

static const double pcts[] = { 50.0, 90.0, 99.0, 99.9 };
static const char *const pct_names[] = { "p50", "p90", "p99", "p99.9" };

static void
json_counters(const struct stats_snap *sn, const uint8_t *s, struct buf *b)
{
	const struct stats_desc	*d;
	uint32_t		 k;
	int			 first = 1;

	bprintf(b, "\"counters\": {");
	for (k = 0; k < sn->hdr.ndesc; k++) {
		d = &sn->hdr.desc[k];
		if (d->kind == STATS_HISTOGRAM)
			continue;
		bprintf(b, "%s", first ? "" : ", ");
		json_str(b, d->field);
		bprintf(b, ": %" PRIu64, raw_get(s, d->offset));
		first = 0;
	}
	bprintf(b, "}, \"latency_us\": {");
	d = snap_hist_desc(sn);
	if (d != NULL) {
		bprintf(b, "\"count\": %" PRIu64 ", \"sum\": %" PRIu64
		    ", \"max\": %" PRIu64, raw_get(s, d->offset + H_COUNT),
		    raw_get(s, d->offset + H_SUM), raw_get(s, d->offset + H_MAX));
		for (k = 0; k < nitems(pcts); k++)
			bprintf(b, ", \"%s\": %" PRIu64, pct_names[k],
			    snap_percentile(sn, s, pcts[k]));
	}
	bprintf(b, "}");
}

static uint64_t
age_ms(uint64_t now, uint64_t then)
{
	return (then != 0 && now > then ? now - then : 0);
}

/*
 * The stats document as JSON (msgctl stats --json and the STATS op).
 * Fields are described in msgctl(1).
 */
int
stats_render_json(const struct stats_snap *sn, struct buf *b)
{
	const struct stats_hdr	*h = &sn->hdr;
	const struct stats_listener *l;
	const uint8_t		*s;
	char			 ts[RFC3339_LEN + 1];
	struct timespec		 t;
	uint64_t		 acc_all, start;
	uint32_t		 i;
	int			 first;
	size_t			 mark = b->len;

	t.tv_sec = (time_t)(h->master_start_us / 1000000);
	t.tv_nsec = (long)(h->master_start_us % 1000000) * 1000;
	if (fmt_rfc3339(ts, sizeof(ts), &t) == -1)
		ts[0] = '\0';
	bprintf(b, "{\"msgd\": {\"version\": ");
	json_str(b, h->version);
	bprintf(b, ", \"layout\": %u}, ", h->layout);
	bprintf(b, "\"master\": {\"pid\": %d, \"start_time\": \"%s\", "
	    "\"uptime_seconds\": %" PRIu64 ", \"generation\": %" PRIu64
	    ", \"workers\": %u, \"slots\": %u, \"heartbeat_age_ms\": %" PRIu64
	    "}, ", h->master_pid, ts,
	    (sn->now_us - h->master_start_us) / 1000000, h->generation,
	    h->workers, h->nslots, age_ms(sn->now_ms, h->master_heartbeat_ms));
	bprintf(b, "\"listeners\": [");
	for (i = 0; i < h->nlisteners; i++) {
		l = &h->listeners[i];
		bprintf(b, "%s{\"address\": ", i ? ", " : "");
		json_str(b, l->addr);
		if (l->tcp)
			bprintf(b, ", \"accept_queue\": %u, "
			    "\"accept_queue_max\": %u, \"accept_queue_peak\": %u",
			    l->queue, l->queue_max, l->queue_peak);
		bprintf(b, "}");
	}
	acc_all = 0;
	for (i = 0; i < h->nslots; i++)
		if (slot_live(snap_slot(sn, i)))
			acc_all += stats_get(sn, snap_slot(sn, i),
			    "conn_accepted");
	bprintf(b, "], \"workers\": [");
	first = 1;
	for (i = 0; i < h->nslots; i++) {
		s = snap_slot(sn, i);
		if (!slot_live(s))
			continue;
		start = raw_get(s, offsetof(struct stats_slot, start_us));
		bprintf(b, "%s{\"slot\": %u, \"pid\": %u, \"state\": \"%s\", "
		    "\"generation\": %" PRIu64 ", \"uptime_seconds\": %" PRIu64
		    ", \"heartbeat_age_ms\": %" PRIu64
		    ", \"accept_share\": %.4f, ", first ? "" : ", ", i,
		    slot_u32(s, offsetof(struct stats_slot, pid)),
		    stats_state_name(slot_u32(s,
		    offsetof(struct stats_slot, state))),
		    raw_get(s, offsetof(struct stats_slot, generation)),
		    start != 0 && sn->now_us > start ?
		    (sn->now_us - start) / 1000000 : 0,
		    age_ms(sn->now_ms, raw_get(s,
		    offsetof(struct stats_slot, heartbeat_ms))),
		    acc_all ? (double)stats_get(sn, s, "conn_accepted") /
		    (double)acc_all : 0.0);
		json_counters(sn, s, b);
		bprintf(b, "}");
		first = 0;
	}
	bprintf(b, "], \"retired\": {");
	json_counters(sn, sn->retired, b);
	bprintf(b, "}, \"totals\": {");
	json_counters(sn, sn->total, b);
	bprintf(b, "}, \"torn_slots\": %d}\n", sn->torn);
	if (b->data == NULL || b->len == mark)
		return (-1);
	return (0);
}

/* A Prometheus label value (quote) or HELP text, escaped. */
static void
prom_str(struct buf *b, const char *s, int quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || (quote && *s == '"'))
			bprintf(b, "\\%c", *s);
		else if (*s == '\n')
			bprintf(b, "\\n");
		else
			bprintf(b, "%c", *s);
	}
}

/* One Prometheus sample line with optional extra label. */
static void
prom_line(struct buf *b, const char *name, const char *suffix,
    const char *label, const char *worker, uint64_t v)
{
	char	 key[STATS_NAME_LEN], *eq = NULL;

	/* A label is "key=value" with a key; anything else is left out. */
	snprintf(key, sizeof(key), "%s", label);
	if ((eq = strchr(key, '=')) == NULL || eq == key)
		key[0] = '\0';
	else
		*eq = '\0';
	bprintf(b, "msgd_%s%s", name, suffix);
	if (key[0] != '\0' || worker != NULL)
		bprintf(b, "{");
	if (key[0] != '\0') {
		bprintf(b, "%s=\"", key);
		prom_str(b, eq + 1, 1);
		bprintf(b, "\"");
	}
	if (worker != NULL)
		bprintf(b, "%sworker=\"%s\"", key[0] != '\0' ? "," : "",
		    worker);
	if (key[0] != '\0' || worker != NULL)
		bprintf(b, "}");
	bprintf(b, " %" PRIu64 "\n", v);
}

/*
 * Prometheus text exposition format 0.0.4.  Counters are per live worker
 * (worker="N") plus worker="retired" for what dead workers counted, so the
 * sum over workers is the exact total and never goes backwards.
 */
int
stats_render_prometheus(const struct stats_snap *sn, struct buf *b)
{
	const struct stats_hdr	*h = &sn->hdr;
	const struct stats_desc	*d;
	const char		*prev = "";
	const char		*suffix;
	char			 wname[16];
	uint64_t		 cum = 0, up;
	uint32_t		 i, k;

	bprintf(b, "# HELP msgd_info Release and stats layout of the "
	    "running msgd.\n# TYPE msgd_info gauge\nmsgd_info{version=\"");
	prom_str(b, h->version, 1);
	bprintf(b, "\",layout=\"%u\"} 1\n", h->layout);
	bprintf(b, "# HELP msgd_start_time_seconds Start time of the master "
	    "since the epoch.\n# TYPE msgd_start_time_seconds gauge\n"
	    "msgd_start_time_seconds %" PRIu64 "\n",
	    h->master_start_us / 1000000);
	bprintf(b, "# HELP msgd_generation Configuration generation.\n"
	    "# TYPE msgd_generation gauge\nmsgd_generation %" PRIu64 "\n",
	    h->generation);
	bprintf(b, "# HELP msgd_workers Configured number of workers.\n"
	    "# TYPE msgd_workers gauge\nmsgd_workers %u\n", h->workers);
	bprintf(b, "# HELP msgd_worker_heartbeat_age_seconds Time since each "
	    "worker last showed life.\n"
	    "# TYPE msgd_worker_heartbeat_age_seconds gauge\n");
	for (i = 0; i < h->nslots; i++) {
		if (!slot_live(snap_slot(sn, i)))
			continue;
		up = age_ms(sn->now_ms, raw_get(snap_slot(sn, i),
		    offsetof(struct stats_slot, heartbeat_ms)));
		bprintf(b, "msgd_worker_heartbeat_age_seconds{worker=\"%u\"} "
		    "%" PRIu64 ".%03" PRIu64 "\n", i, up / 1000, up % 1000);
	}
	bprintf(b, "# HELP msgd_listener_accept_queue Connections waiting "
	    "in a TCP listener's accept queue.\n"
	    "# TYPE msgd_listener_accept_queue gauge\n");
	for (i = 0; i < h->nlisteners; i++)
		if (h->listeners[i].tcp) {
			bprintf(b, "msgd_listener_accept_queue{listener=\"");
			prom_str(b, h->listeners[i].addr, 1);
			bprintf(b, "\"} %u\n", h->listeners[i].queue);
		}
	bprintf(b, "# HELP msgd_listener_accept_queue_max Accept queue "
	    "limit of a TCP listener.\n"
	    "# TYPE msgd_listener_accept_queue_max gauge\n");
	for (i = 0; i < h->nlisteners; i++)
		if (h->listeners[i].tcp) {
			bprintf(b, "msgd_listener_accept_queue_max{listener="
			    "\"");
			prom_str(b, h->listeners[i].addr, 1);
			bprintf(b, "\"} %u\n", h->listeners[i].queue_max);
		}

	for (k = 0; k < h->ndesc; k++) {
		d = &h->desc[k];
		if (d->kind == STATS_HISTOGRAM)
			continue;
		suffix = d->kind == STATS_COUNTER ? "_total" : "";
		if (strcmp(prev, d->name) != 0) {
			bprintf(b, "# HELP msgd_%s%s ", d->name, suffix);
			prom_str(b, d->help[0] ? d->help : d->name, 0);
			bprintf(b, "\n# TYPE msgd_%s%s %s\n", d->name, suffix,
			    d->kind == STATS_COUNTER ? "counter" : "gauge");
			prev = d->name;
		}
		for (i = 0; i < h->nslots; i++) {
			if (!slot_live(snap_slot(sn, i)))
				continue;
			snprintf(wname, sizeof(wname), "%u", i);
			prom_line(b, d->name, suffix, d->label, wname,
			    raw_get(snap_slot(sn, i), d->offset));
		}
		if (d->kind == STATS_COUNTER)
			prom_line(b, d->name, suffix, d->label, "retired",
			    raw_get(sn->retired, d->offset));
	}

	if ((d = snap_hist_desc(sn)) != NULL) {
		bprintf(b, "# HELP msgd_request_duration_seconds Request "
		    "handling time, all workers.\n"
		    "# TYPE msgd_request_duration_seconds histogram\n");
		for (i = 0; i < d->nbuckets && i < h->nbuckets; i++) {
			cum += hist_bucket_count(sn->total, d, i);
			/*
			 * Octave edges only (inclusive bounds 2^k - 1): enough
			 * resolution, few lines.  The last bucket also holds
			 * everything clamped above 10 s: only +Inf covers it.
			 */
			if (i + 1 == d->nbuckets)
				break;
			if (((h->bucket_upper_us[i] + 1) &
			    h->bucket_upper_us[i]) != 0)
				continue;
			bprintf(b, "msgd_request_duration_seconds_bucket{le=\""
			    "%" PRIu64 ".%06" PRIu64 "\"} %" PRIu64 "\n",
			    h->bucket_upper_us[i] / 1000000,
			    h->bucket_upper_us[i] % 1000000, cum);
		}
		bprintf(b, "msgd_request_duration_seconds_bucket{le=\"+Inf\"} "
		    "%" PRIu64 "\n", raw_get(sn->total, d->offset + H_COUNT));
		up = raw_get(sn->total, d->offset + H_SUM);
		bprintf(b, "msgd_request_duration_seconds_sum %" PRIu64 ".%06"
		    PRIu64 "\n", up / 1000000, up % 1000000);
		bprintf(b, "msgd_request_duration_seconds_count %" PRIu64 "\n",
		    raw_get(sn->total, d->offset + H_COUNT));
	}
	return (b->data == NULL ? -1 : 0);
}

/* "3d04h", "2h03m", "4m05s", "12s". */
static void
fmt_dur(char *buf, size_t len, uint64_t secs)
{
	if (secs >= 86400)
		snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", secs / 86400,
		    secs % 86400 / 3600);
	else if (secs >= 3600)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", secs / 3600,
		    secs % 3600 / 60);
	else if (secs >= 60)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", secs / 60,
		    secs % 60);
	else
		snprintf(buf, len, "%" PRIu64 "s", secs);
}

/* 1234567 -> "1.2M": bytes and counts in 6 columns. */
static void
fmt_num(char *buf, size_t len, double v)
{
	const char	*units = " KMGTP";
	int		 u = 0;

	while (v >= 10000.0 && u < 5) {
		v /= 1000.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.1f%c", v, units[u]);
}

static void
table_row(const struct stats_snap *sn, const uint8_t *s, const char *label,
    uint64_t acc_all, const struct stats_snap *prev, const uint8_t *ps,
    double dt, struct buf *b)
{
	char		up[16], req[16], bin[16], bout[16], rate[16], beat[16];
	uint64_t	start, hb, acc;

	start = raw_get(s, offsetof(struct stats_slot, start_us));
	fmt_dur(up, sizeof(up), start && sn->now_us > start ?
	    (sn->now_us - start) / 1000000 : 0);
	fmt_num(req, sizeof(req), (double)snap_sum_name(sn, s, "requests"));
	fmt_num(bin, sizeof(bin), (double)stats_get(sn, s, "bytes_in"));
	fmt_num(bout, sizeof(bout), (double)stats_get(sn, s, "bytes_out"));
	acc = stats_get(sn, s, "conn_accepted");
	hb = raw_get(s, offsetof(struct stats_slot, heartbeat_ms));
	if (label != NULL)
		bprintf(b, "%-5s %-7s %-9s %-7s", label, "", "", "");
	else {
		snprintf(beat, sizeof(beat), "%.1fs",
		    (double)age_ms(sn->now_ms, hb) / 1000.0);
		bprintf(b, "%-5u %-7u %-9s %-7s", (unsigned)((s - sn->slots) /
		    sn->hdr.slot_size), slot_u32(s,
		    offsetof(struct stats_slot, pid)), stats_state_name(
		    slot_u32(s, offsetof(struct stats_slot, state))), up);
	}
	if (label != NULL)	/* totals include retired workers: no share */
		bprintf(b, " %7" PRIu64 " %9" PRIu64 " %6s %9s %9s %9s",
		    stats_get(sn, s, "conn_active"), acc, "", req, bin, bout);
	else
		bprintf(b, " %7" PRIu64 " %9" PRIu64 " %5.0f%% %9s %9s %9s",
		    stats_get(sn, s, "conn_active"), acc,
		    acc_all ? 100.0 * (double)acc / (double)acc_all : 0.0, req,
		    bin, bout);
	if (prev != NULL && dt > 0) {
		fmt_num(rate, sizeof(rate), (double)(snap_sum_name(sn, s,
		    "requests") - (ps != NULL ? snap_sum_name(prev, ps,
		    "requests") : 0)) / dt);
		bprintf(b, " %9s", rate);
	}
	if (label == NULL)
		bprintf(b, " %6s", beat);
	bprintf(b, "\n");
}

/*
 * The human-readable table.  With prev (an earlier snapshot, --watch),
 * per-second rates over the interval are added.
 */
int
stats_render_table(const struct stats_snap *sn, const struct stats_snap *prev,
    struct buf *b)
{
	const struct stats_hdr	*h = &sn->hdr;
	const struct stats_listener *l;
	const uint8_t		*s, *ps;
	char			 up[16], v1[16], v2[16];
	double			 dt = 0;
	uint64_t		 acc_all = 0;
	uint32_t		 i;

	if (prev != NULL && sn->now_ms > prev->now_ms)
		dt = (double)(sn->now_ms - prev->now_ms) / 1000.0;
	fmt_dur(up, sizeof(up), (sn->now_us - h->master_start_us) / 1000000);
	bprintf(b, "msgd %s (stats layout %u)  master pid %d  up %s  "
	    "generation %" PRIu64 "  workers %u  master heartbeat %.1fs ago\n",
	    h->version, h->layout, h->master_pid, up, h->generation,
	    h->workers, (double)age_ms(sn->now_ms, h->master_heartbeat_ms) /
	    1000.0);
	for (i = 0; i < h->nlisteners; i++) {
		l = &h->listeners[i];
		if (l->tcp)
			bprintf(b, "listen %-30s accept queue %u/%u (peak %u)\n",
			    l->addr, l->queue, l->queue_max, l->queue_peak);
		else
			bprintf(b, "listen %s\n", l->addr);
	}
	for (i = 0; i < h->nslots; i++)
		if (slot_live(snap_slot(sn, i)))
			acc_all += stats_get(sn, snap_slot(sn, i),
			    "conn_accepted");
	bprintf(b, "\n%-5s %-7s %-9s %-7s %7s %9s %6s %9s %9s %9s", "slot",
	    "pid", "state", "uptime", "active", "accepted", "share",
	    "requests", "bytes_in", "bytes_out");
	if (dt > 0)
		bprintf(b, " %9s", "req/s");
	bprintf(b, " %6s\n", "beat");
	for (i = 0; i < h->nslots; i++) {
		s = snap_slot(sn, i);
		if (!slot_live(s))
			continue;
		ps = NULL;
		if (prev != NULL && i < prev->hdr.nslots &&
		    slot_u32(prev->slots + (size_t)i * prev->hdr.slot_size,
		    offsetof(struct stats_slot, pid)) ==
		    slot_u32(s, offsetof(struct stats_slot, pid)))
			ps = prev->slots + (size_t)i * prev->hdr.slot_size;
		table_row(sn, s, NULL, acc_all, prev, ps, dt, b);
	}
	table_row(sn, sn->total, "total", acc_all, prev,
	    prev != NULL ? prev->total : NULL, dt, b);
	if (dt > 0) {
		fmt_num(v1, sizeof(v1), (double)(stats_get(sn, sn->total,
		    "bytes_in") - stats_get(prev, prev->total, "bytes_in")) / dt);
		fmt_num(v2, sizeof(v2), (double)(stats_get(sn, sn->total,
		    "bytes_out") - stats_get(prev, prev->total, "bytes_out")) /
		    dt);
		bprintf(b, "rates over %.1fs: bytes in %s/s, out %s/s\n", dt,
		    v1, v2);
	}
	bprintf(b, "\nlatency (all requests since start):");
	for (i = 0; i < nitems(pcts); i++)
		bprintf(b, " %s %" PRIu64 "us", pct_names[i],
		    snap_percentile(sn, sn->total, pcts[i]));
	bprintf(b, "\nerrors: protocol %" PRIu64 ", busy %" PRIu64
	    ", idle timeouts %" PRIu64 ", read timeouts %" PRIu64 "\n",
	    stats_get(sn, sn->total, "proto_errors"),
	    stats_get(sn, sn->total, "conn_busy"),
	    stats_get(sn, sn->total, "idle_timeouts"),
	    stats_get(sn, sn->total, "read_timeouts"));
	if (sn->torn > 0)
		bprintf(b, "warning: %d slot(s) were mid-update (worker "
		    "stuck?); their figures may be inexact\n", sn->torn);
	return (b->data == NULL ? -1 : 0);
}

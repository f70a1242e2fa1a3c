/*
 * stats.c: the shared-memory statistics segment, what the master and the
 * workers use: its creation and layout, the workers' slots and their
 * single-writer updates (pending record, seqlock publish), the master's
 * header fields and the fold of a dead worker's slot into the retired
 * totals.  Readers are in stats_snap.c, renderers in stats_render.c.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "stats.h"
#include "util.h"

static void	counters_add(struct stats_counters *,
		    const struct stats_counters *, int);

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

static const char *const mstate_names[] = {
	[STATS_M_STARTING] = "starting",
	[STATS_M_SERVING] = "serving",
	[STATS_M_DRAINING] = "draining",
	[STATS_M_STOPPING] = "stopping"
};

/* The master's state (the header's mstate) as a word. */
const char *
stats_mstate_name(unsigned int st)
{
	if (st >= nitems(mstate_names))
		return ("unknown");
	return (mstate_names[st]);
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
void
stats_layout_put(const struct stats_layout *lay, struct stats_hdr *h)
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

/* One page or more per slot, so a worker can map its own alone. */
static void
stats_plan(struct stats_layout *lay, int nslots)
{
	lay->hdr_size = sizeof(struct stats_hdr);
	lay->slot_offset = (uint32_t)page_round(sizeof(struct stats_hdr));
	lay->slot_size = (uint32_t)page_round(sizeof(struct stats_slot));
	lay->nslots = (uint32_t)nslots;
	lay->retired_offset = lay->slot_offset +
	    (uint32_t)nslots * lay->slot_size;
	lay->total_size = (uint64_t)lay->retired_offset + lay->slot_size;
	stats_describe(lay);
}

/*
 * Size the new file tmp (open read-write as fd), take away its write
 * permission and open it once more read-only into *ro.  On error cause
 * says which step failed; *ro may be open all the same.
 */
static int
stats_prepare(int fd, const char *tmp, size_t size, int *ro, char *cause,
    size_t len)
{
	struct stat	st, sr;

	if (ftruncate(fd, (off_t)size) == -1) {
		snprintf(cause, len, "%s: ftruncate: %s", tmp, strerror(errno));
		return (-1);
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
		return (-1);
	}
	/*
	 * A read-only descriptor of the same file (checked: same inode) for
	 * the workers' view: mprotect cannot make its mapping writable.
	 */
	if ((*ro = open(tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1 || fstat(*ro, &sr) == -1 ||
	    st.st_dev != sr.st_dev || st.st_ino != sr.st_ino) {
		snprintf(cause, len, "%s: reopen read-only: %s", tmp,
		    *ro == -1 ? strerror(errno) : "another file");
		return (-1);
	}
	return (0);
}

/* The master's header in the new mapping, its magic written last. */
static void
stats_hdr_init(struct stats_seg *seg, struct stats_hdr *h)
{
	stats_layout_put(&seg->lay, h);
	seg->master_pid = (int32_t)getpid();
	seg->master_start_us = realtime_us();
	h->master_pid = seg->master_pid;
	h->master_start_us = seg->master_start_us;
	h->generation = 1;
	snprintf(h->version, sizeof(h->version), "%s", msgd_release);
	h->up.first_start_us = seg->master_start_us;
	atomic_store(&h->master_heartbeat_ms, mono_ms());
	/* The magic last: a reader that sees it sees a complete header. */
	atomic_thread_fence(memory_order_release);
	h->magic = STATS_MAGIC;
}

/* stats_create(), staged or not. */
static int
stats_make(struct stats_seg *seg, const char *path, int nslots, int staged,
    char *cause, size_t len)
{
	struct stats_layout	*lay = &seg->lay;
	char			 tmp[512];
	size_t			 size;
	void			*p = MAP_FAILED;
	int			 fd, ro = -1, saved;

	_Static_assert(HIST_NBUCKETS <= STATS_MAX_BUCKETS, "buckets");
	memset(seg, 0, sizeof(*seg));
	seg->fd_rw = seg->fd_ro = -1;
	if (!staged && stats_in_use(path, cause, len))
		return (-1);
	if (nslots < 1 || nslots > STATS_MAX_SLOTS) {
		snprintf(cause, len, "%s: %d slots: 1 to %d", path, nslots,
		    STATS_MAX_SLOTS);
		return (-1);
	}
	stats_plan(lay, nslots);
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
	if (stats_prepare(fd, tmp, size, &ro, cause, len) == -1)
		goto fail;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(cause, len, "%s: mmap: %s", tmp, strerror(errno));
		goto fail;
	}
	stats_hdr_init(seg, p);
	if (staged)
		snprintf(seg->staged, sizeof(seg->staged), "%s", tmp);
	else if (rename(tmp, path) == -1) {
		snprintf(cause, len, "rename %s to %s: %s", tmp, path,
		    strerror(errno));
		goto fail;
	}
	seg->hdr = p;
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
	return (stats_make(seg, path, nslots, 0, cause, len));
}

/*
 * The same for a binary upgrade's new master: the segment stays under its
 * temporary name, where readers do not look, until stats_commit() puts it
 * in place of the old master's (which is in use, by the old master: not
 * refused here).
 */
int
stats_create_staged(struct stats_seg *seg, const char *path, int nslots,
    char *cause, size_t len)
{
	return (stats_make(seg, path, nslots, 1, cause, len));
}

/* A staged segment replaces the one at path, atomically for readers. */
int
stats_commit(struct stats_seg *seg, const char *path, char *cause, size_t len)
{
	if (seg->staged[0] == '\0')
		return (0);
	if (rename(seg->staged, path) == -1) {
		snprintf(cause, len, "rename %s to %s: %s", seg->staged, path,
		    strerror(errno));
		return (-1);
	}
	seg->staged[0] = '\0';
	return (0);
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

struct stats_slot *
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
	stats_layout_put(&seg->lay, want);
	snprintf(want->version, sizeof(want->version), "%s", msgd_release);
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
		stats_layout_put(&seg->lay, h);
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

/* Master: what it is doing now (starting, serving, draining, stopping). */
void
stats_set_mstate(struct stats_seg *seg, enum stats_mstate st)
{
	struct stats_hdr	*h = seg->hdr;

	if (h == NULL || h->mstate == (uint32_t)st)
		return;
	master_begin(h);
	h->mstate = (uint32_t)st;
	master_end(h);
}

/*
 * Master: the HTTP exporter's pid (0: not running), address ("": none)
 * and how often it died unasked.
 */
void
stats_set_metrics(struct stats_seg *seg, int pid, const char *addr,
    uint64_t restarts)
{
	struct stats_hdr	*h = seg->hdr;

	if (h == NULL)
		return;
	master_begin(h);
	if (h->metrics_pid == 0 && pid != 0)
		h->metrics_start_us = realtime_us();
	h->metrics_pid = pid;
	h->metrics_restarts = restarts;
	snprintf(h->metrics_addr, sizeof(h->metrics_addr), "%s", addr);
	master_end(h);
}

/* Master: publish the outcome of a binary upgrade for msgctl upgrade. */
void
stats_set_upgrade(struct stats_seg *seg, int ok, const char *msg)
{
	struct stats_hdr	*h = seg->hdr;

	if (h == NULL)
		return;
	master_begin(h);
	h->up.ok = (uint32_t)ok;
	snprintf(h->up.msg, sizeof(h->up.msg), "%s", msg);
	h->up.seq++;
	master_end(h);
}

/*
 * Master: what it carries across upgrades, its binary and that file's
 * release (the outcome fields, seq, ok and msg, are stats_set_upgrade's).
 */
void
stats_set_upgrade_info(struct stats_seg *seg, const struct stats_upgrade *u)
{
	struct stats_hdr	*h = seg->hdr;

	if (h == NULL)
		return;
	master_begin(h);
	h->up.count = u->count;
	h->up.last_us = u->last_us;
	h->up.first_start_us = u->first_start_us;
	memcpy(h->up.from, u->from, sizeof(h->up.from));
	h->up.from[sizeof(h->up.from) - 1] = '\0';
	memcpy(h->up.exe, u->exe, sizeof(h->up.exe));
	h->up.exe[sizeof(h->up.exe) - 1] = '\0';
	memcpy(h->up.disk, u->disk, sizeof(h->up.disk));
	h->up.disk[sizeof(h->up.disk) - 1] = '\0';
	master_end(h);
}

/*
 * Master: add totals carried over from the previous binary (checked and
 * saturated by their decoder) to the retired ones.
 */
void
stats_add_retired(struct stats_seg *seg, const struct stats_counters *c)
{
	if (seg->hdr == NULL)
		return;
	master_begin(seg->hdr);
	counters_add(&stats_retired(seg)->c, c, 0);
	master_end(seg->hdr);
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

/*
 * Worker: the subject of the client certificate it just verified, for
 * msgctl stats (cut to STATS_SUBJECT_LEN - 1 bytes).  Readers copy it
 * under the seqlock and treat it as untrusted text all the same.
 */
void
stats_slot_subject(struct stats_slot *s, const char *subject)
{
	stats_begin(s);
	strncpy(s->tls_subject, subject, sizeof(s->tls_subject) - 1);
	s->tls_subject[sizeof(s->tls_subject) - 1] = '\0';
	stats_end(s);
}

/* Worker: show life; now is the loop's CLOCK_MONOTONIC ms. */
void
stats_beat(struct stats_slot *s, uint64_t now)
{
	atomic_store_explicit(&s->heartbeat_ms, now, memory_order_relaxed);
}

/*
 * Worker, before taking another connection: does another worker that is
 * accepting now (idle or busy, with a heartbeat no older than stale_ms)
 * hold fewer than own connections?  If accepted is not NULL, it gets the
 * sum of those workers' conn_accepted: it moves while they take
 * connections, which tells a worker that stepped back for them whether
 * they are taking what waits.  A slot is read without the seqlock, one
 * relaxed load per word (state, heartbeat, two counters): a stale or torn
 * value can only make the answer wrong for a moment, which the caller
 * allows for (worker.c: it looks again, and never lets accepting stop).
 */
int
stats_fewer(const struct stats_seg *seg, int self, uint64_t own,
    uint64_t now_ms, uint64_t stale_ms, uint64_t *accepted)
{
	const struct stats_slot	*s;
	uint64_t		 hb, sum = 0;
	uint32_t		 i, st;
	int			 fewer = 0;

	for (i = 0; seg->hdr != NULL && i < seg->lay.nslots; i++) {
		if ((int)i == self)
			continue;
		s = stats_slot(seg, (int)i);
		st = __atomic_load_n(&s->state, __ATOMIC_RELAXED);
		if (st != STATS_IDLE && st != STATS_BUSY)
			continue;
		hb = atomic_load_explicit(&s->heartbeat_ms,
		    memory_order_relaxed);
		if (hb + stale_ms < now_ms)
			continue;	/* stopped or stuck: not accepting */
		if (__atomic_load_n(&s->c.conn_active, __ATOMIC_RELAXED) >=
		    own)
			continue;
		if (accepted == NULL)
			return (1);
		fewer = 1;
		sum += __atomic_load_n(&s->c.conn_accepted, __ATOMIC_RELAXED);
	}
	if (accepted != NULL)
		*accepted = sum;
	return (fewer);
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
	memset(s->tls_subject, 0, sizeof(s->tls_subject));
	s->pid = 0;
	s->state = STATS_DEAD;
	s->start_us = 0;
	atomic_store_explicit(&s->heartbeat_ms, 0, memory_order_relaxed);
	/* Even, so readers do not wait on a slot a dead writer left odd. */
	if (atomic_load_explicit(&s->seq, memory_order_relaxed) & 1)
		atomic_fetch_add_explicit(&s->seq, 1, memory_order_relaxed);
	master_end(seg->hdr);
}

/* Count n answered frames of one opcode and status, later. */
static inline void
stats_pend_count(struct stats_pend *p, unsigned int op, unsigned int status,
    uint32_t n)
{
	size_t	i;

	i = req_offset(op) / sizeof(uint64_t);
	p->add[i] += n;
	p->dirty |= (uint64_t)1 << i;
	if (status < nitems(st_offsets)) {
		i = st_offsets[status] / sizeof(uint64_t);
		p->add[i] += n;
		p->dirty |= (uint64_t)1 << i;
	}
}

/* stats_pend_since_n for frames whose t0 differs from those pending. */
static void __attribute__((noinline))
stats_pend_since_new(struct stats_pend *p, struct stats_slot *s,
    unsigned int op, unsigned int status, uint64_t t0, uint32_t n)
{
	stats_publish(p, s);
	stats_pend_count(p, op, status, n);
	p->since_t0 = t0;
	p->nsince = n;
}

/*
 * n answered frames of one opcode and status (one frame, or a run
 * answered at once, conn.c), timed from t0 until they are published.
 * Frames since another t0 (an earlier loop turn's) are published first,
 * so that all those pending share their start, and so are they when the
 * count would not fit.  The common case (the same turn) is kept a leaf:
 * nothing lives across a call, so nothing is saved.
 */
void
stats_pend_since_n(struct stats_pend *p, struct stats_slot *s,
    unsigned int op, unsigned int status, uint64_t t0, uint32_t n)
{
	if (p->nsince > 0 && (p->since_t0 != t0 || p->nsince > UINT32_MAX - n)) {
		stats_pend_since_new(p, s, op, status, t0, n);
		return;
	}
	stats_pend_count(p, op, status, n);
	p->since_t0 = t0;
	p->nsince += n;
}

/* One answered frame (opcode, status, handling time), later. */
void
stats_pend_request(struct stats_pend *p, struct stats_slot *s,
    unsigned int op, unsigned int status, uint64_t us)
{
	if (p->nb == STATS_PEND_BUCKETS)
		stats_publish(p, s);
	stats_pend_count(p, op, status, 1);
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
	uint64_t	*c = (uint64_t *)&s->c, d, us = 0, now;
	uint32_t	 i;
	size_t		 b = 0;

	_Static_assert(offsetof(struct stats_counters, latency) <=
	    STATS_PEND_COUNTERS * sizeof(uint64_t), "pending counters");
	if ((p->dirty | p->nb | p->nsince) == 0)
		return;
	/* One clock reading times every frame pending since since_t0. */
	if (p->nsince > 0) {
		if ((now = STATS_CLOCK()) > p->since_t0)
			us = now - p->since_t0;
		b = hist_bucket(us);
	}
	stats_begin(s);
	for (d = p->dirty; d != 0; d &= d - 1) {
		i = (uint32_t)__builtin_ctzll(d);
		c[i] += p->add[i];
		p->add[i] = 0;
	}
	if (p->nb > 0) {
		for (i = 0; i < p->nb; i++)
			h->bucket[p->bucket[i]]++;
		h->count += p->nb;
		h->sum += p->hsum;
		if (p->hmax > h->max)
			h->max = p->hmax;
		p->nb = 0;
		p->hsum = p->hmax = 0;
	}
	if (p->nsince > 0) {
		h->bucket[b] += p->nsince;
		h->count += p->nsince;
		h->sum += us * p->nsince;
		if (us > h->max)
			h->max = us;
		p->nsince = 0;
	}
	stats_end(s);
	p->dirty = 0;
}

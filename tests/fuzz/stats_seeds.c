/*
 * stats_seeds.c: seed segments for fuzz_stats, made by the current
 * stats_create() so that they follow whatever layout this tree writes.
 *
 *	stats_seeds DIR		write the seeds into DIR (it must exist)
 *
 * replay_stats links fuzz_gen_seeds() (built with STATS_SEEDS_NO_MAIN) and
 * runs the seeds under make check; .ci/run makes them before fuzzing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "proto.h"
#include "stats.h"
#include "util.h"

/* Copy the segment file as it is now into dir/name. */
static int
save(const struct stats_seg *seg, const char *dir, const char *name)
{
	char	path[4096];
	int	fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1 || write_full(fd, seg->hdr, seg->size) == -1) {
		fprintf(stderr, "stats_seeds: %s: %s\n", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	close(fd);
	return (0);
}

static void
add(struct stats_slot *s, size_t off, uint64_t n)
{
	uint64_t	v;

	stats_begin(s);
	memcpy(&v, (char *)&s->c + off, sizeof(v));
	v += n;
	memcpy((char *)&s->c + off, &v, sizeof(v));
	stats_end(s);
}

#define ADD(s, f, n)	add(s, offsetof(struct stats_counters, f), n)

/* A running server: workers that counted, listeners, a reload. */
static void
populate(struct stats_seg *seg, int nslots)
{
	struct stats_slot	*s;
	int			 i, k;

	stats_set_master(seg, nslots, 3);
	stats_set_listener(seg, 0, "127.0.0.1:7878", 1, 2, 128);
	stats_set_listener(seg, 1, "[::1]:7878", 1, 0, 4096);
	stats_set_listener(seg, 2, "unix:/run/msgd/msgd.sock", 0, 0, 0);
	stats_set_reload(seg, 1, "reloaded: 2 workers, generation 3");
	for (i = 0; i < nslots; i++) {
		s = stats_slot(seg, i);
		stats_slot_start(s, 1000 + i, 3);
		stats_slot_state(s, i % 2 ? STATS_BUSY : STATS_IDLE);
		for (k = 0; k < 5 + i; k++) {
			stats_request(s, MSG_OP_ECHO, MSG_ST_OK, 40u << k);
			stats_request(s, MSG_OP_GET, MSG_ST_NOT_FOUND, 900);
		}
		stats_request(s, 0x7f, MSG_ST_UNKNOWN_OP, 3);
		ADD(s, conn_accepted, 10 + (uint64_t)i);
		ADD(s, conn_active, 2);
		ADD(s, bytes_in, 123456789);
		ADD(s, bytes_out, 987654321);
		ADD(s, proto_errors, 1);
	}
}

/*
 * What a damaged or hostile writer could leave behind: every string full
 * of quotes, backslashes, newlines and escape sequences, none terminated.
 */
static void
hostile(struct stats_seg *seg)
{
	static const char	 junk[] = "\"\\\n\033[2J\r\t}{,=x\x7f\xc2\x9b";
	struct stats_hdr	*h = seg->hdr;
	uint32_t		 k;

#define FILL(a) do {							\
	size_t i_;							\
	for (i_ = 0; i_ < sizeof(a); i_++)				\
		(a)[i_] = junk[i_ % (sizeof(junk) - 1)];		\
} while (0)
	FILL(h->version);
	FILL(h->reload_msg);
	FILL(h->listeners[0].addr);
	FILL(h->listeners[2].addr);
	for (k = 0; k < h->ndesc; k += 3) {
		FILL(h->desc[k].help);
		FILL(h->desc[k].unit);
		if (k % 2)
			FILL(h->desc[k].label);
	}
#undef FILL
}

int
fuzz_gen_seeds(const char *dir)
{
	struct stats_seg	 seg;
	struct stats_slot	*s;
	char			 path[4096], cause[256];
	int			 rc = 0;

	snprintf(path, sizeof(path), "%s/.segment", dir);
	/* Fresh, one slot. */
	if (stats_create(&seg, path, 1, cause, sizeof(cause)) == -1)
		goto fail;
	rc |= save(&seg, dir, "fresh-1slot");
	stats_close(&seg);

	/* Two busy workers. */
	if (stats_create(&seg, path, 2, cause, sizeof(cause)) == -1)
		goto fail;
	populate(&seg, 2);
	rc |= save(&seg, dir, "live-2slots");
	/* A worker stopped mid-update (odd sequence), a fold under way. */
	s = stats_slot(&seg, 1);
	stats_begin(s);
	rc |= save(&seg, dir, "torn-slot");
	stats_end(s);
	hostile(&seg);
	rc |= save(&seg, dir, "hostile-strings");
	stats_close(&seg);

	/* Three slots, one worker dead and folded into the retired totals. */
	if (stats_create(&seg, path, 3, cause, sizeof(cause)) == -1)
		goto fail;
	populate(&seg, 3);
	stats_fold(&seg, 1, NULL);
	rc |= save(&seg, dir, "retired-3slots");
	stats_close(&seg);
	unlink(path);
	return (rc == 0 ? 0 : -1);
fail:
	fprintf(stderr, "stats_seeds: %s\n", cause);
	unlink(path);
	return (-1);
}

#ifndef STATS_SEEDS_NO_MAIN
int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: stats_seeds DIR\n");
		return (2);
	}
	return (fuzz_gen_seeds(argv[1]) == 0 ? 0 : 1);
}
#endif

/*
 * spool.h: the flat file directory behind PUT, GET, LIST and DEL.
 *
 * The directory is opened once; every access goes through that descriptor
 * with no symlink ever followed (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS
 * where the kernel has it, O_NOFOLLOW on a validated flat name otherwise).
 * A PUT is durable before it is answered and atomic: temporary file,
 * fsync, rename over the target, fsync of the directory.
 */
#ifndef MSGD_SPOOL_H
#define MSGD_SPOOL_H

#include <sys/types.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "proto.h"
#include "util.h"

/*
 * The lock file inside the directory: only the workers' user can open it
 * (0600), and no client can name it (names never start with '.').
 */
#define SPOOL_LOCK_NAME	".lock"

/*
 * One per worker, shared by its pool threads: what changes (seq, the
 * count record in the lock file) changes only under the spool lock,
 * which takes mu before the flock (the threads share the lock file's
 * open description, so the flock alone would not keep them apart).
 */
struct spool {
	int		dirfd;		/* O_RDONLY|O_DIRECTORY, -1: none */
	int		lockfd;		/* SPOOL_LOCK_NAME, -1: none */
	int		lock_errno;	/* why there is none */
	uint32_t	max_size;
	uint32_t	max_count;
	uint64_t	max_resp;	/* largest response value */
	unsigned int	seq;		/* temporary names */
	pthread_mutex_t	mu;		/* this process's part of the lock */
};

int	spool_prepare(const char *, int, uid_t, gid_t, char *, size_t);
int	spool_open(struct spool *, const char *, char *, size_t);
void	spool_close(struct spool *);
enum msg_status spool_put(struct spool *, const uint8_t *, size_t,
	    const uint8_t *, size_t, struct errtext *);
enum msg_status spool_get(struct spool *, const uint8_t *, size_t,
	    struct buf *, struct errtext *);
enum msg_status spool_list(struct spool *, struct buf *, struct errtext *);
enum msg_status spool_del(struct spool *, const uint8_t *, size_t,
	    struct errtext *);

#endif /* MSGD_SPOOL_H */

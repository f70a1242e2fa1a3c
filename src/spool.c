/*
 * spool.c: files for PUT, GET, LIST and DEL, confined to one directory.
 */
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/openat2.h>

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "priv.h"
#include "spool.h"
#include "util.h"

#define TMP_PREFIX	".tmp."
#define REC_MAGIC	0x6d736463u	/* "msdc": a count record */

/* Set once, cleared by whichever pool thread learns otherwise. */
static atomic_int	have_openat2 = 1;	/* cleared on ENOSYS */
static atomic_int	have_tmpfile = 1;	/* cleared when O_TMPFILE fails */

/*
 * The number of files, kept in the lock file so that every worker sees
 * the others' PUTs and DELs, with the directory's identity and mtime when
 * it was written: a directory changed since by anyone else (its owner by
 * hand, the master's cleaning) no longer matches, and is counted again.
 */
struct spool_rec {
	uint32_t	magic;
	uint32_t	pad;
	uint64_t	count;
	uint64_t	ino;
	int64_t		sec;
	int64_t		nsec;
};

/*
 * Open name (validated: flat, no '/', no leading '.') beneath the
 * directory without following any symlink on the way.
 */
static int
spool_openat(const struct spool *sp, const char *name, int flags, mode_t mode)
{
	struct open_how	how;
	int		fd;

	if (have_openat2) {
		memset(&how, 0, sizeof(how));
		how.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC);
		how.mode = (flags & O_CREAT) ||
		    (flags & O_TMPFILE) == O_TMPFILE ? mode : 0;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		    RESOLVE_NO_MAGICLINKS;
		fd = (int)syscall(SYS_openat2, sp->dirfd, name, &how,
		    sizeof(how));
		if (fd != -1 || errno != ENOSYS)
			return (fd);
		have_openat2 = 0;
	}
	/* A flat name and O_NOFOLLOW: the last (only) component. */
	return (openat(sp->dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode));
}

/* Copy a wire name into a C string; the caller validated it. */
static int
spool_name(const uint8_t *key, size_t klen, char *name)
{
	if (!msg_valid_name(key, klen))
		return (-1);
	memcpy(name, key, klen);
	name[klen] = '\0';
	return (0);
}

/*
 * Make dir for uid:gid without chowning anything by path.  In a parent
 * only we can write, mkdir and fchown the directory we open (nobody can
 * swap it meanwhile); in a parent others can write, the directory is made
 * with the workers' filesystem ids, so it is born theirs and root changes
 * nothing there.
 */
static int
spool_mkdir(const char *dir, uid_t uid, gid_t gid, char *cause, size_t len)
{
	struct stat	 st;
	char		 parent[PATH_MAX], *slash;
	int		 fd, rc, saved;
	uid_t		 ouid;
	gid_t		 ogid;

	snprintf(parent, sizeof(parent), "%s", dir);
	if ((slash = strrchr(parent, '/')) != NULL)
		slash[slash == parent ? 1 : 0] = '\0';
	else
		snprintf(parent, sizeof(parent), ".");
	if (stat(parent, &st) == -1) {
		snprintf(cause, len, "files.dir %s: %s: %s", dir, parent,
		    strerror(errno));
		return (-1);
	}
	if (!priv_dir_private(&st)) {
		ogid = (gid_t)setfsgid(gid);
		ouid = (uid_t)setfsuid(uid);
		rc = mkdir(dir, 0750);
		saved = errno;
		(void)setfsuid(ouid);
		(void)setfsgid(ogid);
		errno = saved;
		if (rc == -1 && errno != EEXIST)
			snprintf(cause, len, "files.dir %s: cannot create it as "
			    "uid %u: %s", dir, (unsigned)uid, strerror(errno));
		return (rc == -1 && errno != EEXIST ? -1 : 0);
	}
	if (mkdir(dir, 0750) == -1)
		return (errno == EEXIST ? 0 : -1);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || fchown(fd, uid, gid) == -1) {
		snprintf(cause, len, "files.dir %s: chown: %s", dir,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	close(fd);
	return (0);
}

/*
 * Is the temporary file name (a regular file, or anything planted) free
 * of any writer?  A worker holds an flock on a named temporary from its
 * creation to its rename; the caller holds the spool lock, under which
 * such files are created, so a name that is not locked is left from a
 * crash.  Only regular files are opened (O_NONBLOCK: no FIFO can block).
 */
static int
tmp_stale(int dfd, const char *name)
{
	struct stat	st;
	int		fd, stale;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return (0);
	if (!S_ISREG(st.st_mode))
		return (1);
	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC)) == -1)
		return (0);
	stale = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    flock(fd, LOCK_EX | LOCK_NB) == 0;
	close(fd);
	return (stale);
}

/*
 * Master: may the temporaries of dir (descriptor dfd) be cleaned now?
 * Yes under the workers' lock file, taken without waiting (the master
 * never blocks on a lock a worker holds: a busy lock defers the cleaning
 * to the next reload), or when there is no lock file at all.  No lock
 * file means no worker has opened the directory yet: each creates it
 * before it serves, and this runs before the generation's workers are
 * forked; at start none runs.  The one window left is a reload within
 * moments of a start (or of the workers' user removing the file), with a
 * worker that creates it and names a temporary during this cleaning: that
 * PUT fails with INTERNAL, nothing answered OK is lost.  Creating the
 * file here (as the workers' user, with setfsuid) would close it, at the
 * price of root making one more file where the workers write: not worth
 * one failed PUT that the client can repeat.
 * Anything else at that name (not a regular file, another owner) is not
 * our lock: nothing is cleaned.  Returns the descriptor holding the lock,
 * -2 for no lock file, -1 for no cleaning.
 */
static int
spool_lock_master(int dfd, uid_t uid)
{
	struct stat	st;
	int		fd;

	if ((fd = openat(dfd, SPOOL_LOCK_NAME, O_RDONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_NOCTTY | O_CLOEXEC)) == -1)
		return (errno == ENOENT ? -2 : -1);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_uid != uid || flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/*
 * Master, at start and at each reload: make the directory (for the
 * workers' user) if it is missing and remove temporary files a crash left
 * behind, never one a worker is still writing: under the spool lock (see
 * spool_put) only unlocked names go.
 */
int
spool_prepare(const char *dir, int chown_it, uid_t uid, gid_t gid,
    char *cause, size_t len)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd, lfd;

	cause[0] = '\0';
	if ((chown_it ? spool_mkdir(dir, uid, gid, cause, len) :
	    mkdir(dir, 0750)) == -1 && errno != EEXIST) {
		if (cause[0] == '\0')
			snprintf(cause, len, "files.dir %s: %s", dir,
			    strerror(errno));
		return (-1);
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || (d = fdopendir(fd)) == NULL) {
		snprintf(cause, len, "files.dir %s: %s", dir, strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	if ((lfd = spool_lock_master(fd, chown_it ? uid : geteuid())) != -1) {
		while ((de = readdir(d)) != NULL)
			if (strncmp(de->d_name, TMP_PREFIX,
			    strlen(TMP_PREFIX)) == 0 &&
			    tmp_stale(fd, de->d_name))
				(void)unlinkat(fd, de->d_name, 0);
		if (lfd >= 0)
			close(lfd);	/* and the lock with it */
	}
	closedir(d);
	return (0);
}

/*
 * Worker: open (create) the lock file once, with the directory.  Ours
 * alone: made 0600 by the workers' user, and only a regular file of that
 * user is taken, so a member of the directory's group (which can open the
 * directory itself) cannot hold it.  Without it PUT fails (see
 * spool_lock); GET, LIST and DEL, which need no lock, keep working, as in
 * a directory the workers can only read.
 */
static void
spool_open_lock(struct spool *sp, const char *dir)
{
	struct stat	st;
	int		fd;

	/*
	 * Read-write: it holds the count record too.  One we may not write
	 * is opened to be looked at: it is someone else's (refused below).
	 */
	fd = spool_openat(sp, SPOOL_LOCK_NAME, O_RDWR | O_CREAT |
	    O_NONBLOCK | O_NOCTTY, 0600);
	if (fd == -1 && errno == EACCES)
		fd = spool_openat(sp, SPOOL_LOCK_NAME, O_RDONLY | O_NONBLOCK |
		    O_NOCTTY, 0);
	if (fd == -1) {
		sp->lock_errno = errno;
		log_warnx("files.dir %s: lock file %s: %s: PUT is refused",
		    dir, SPOOL_LOCK_NAME, strerror(errno));
		return;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || ((st.st_mode & 07777) != 0600 &&
	    fchmod(fd, 0600) == -1)) {
		sp->lock_errno = EPERM;
		log_warnx("files.dir %s: lock file %s is not a private regular "
		    "file of uid %u: PUT is refused", dir, SPOOL_LOCK_NAME,
		    (unsigned)geteuid());
		close(fd);
		return;
	}
	sp->lockfd = fd;
}

/* Worker: open the directory and its lock file once, as the workers' user. */
int
spool_open(struct spool *sp, const char *dir, char *cause, size_t len)
{
	sp->lockfd = -1;
	pthread_mutex_init(&sp->mu, NULL);
	sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sp->dirfd == -1) {
		snprintf(cause, len, "files.dir %s: %s", dir, strerror(errno));
		return (-1);
	}
	spool_open_lock(sp, dir);
	return (0);
}

void
spool_close(struct spool *sp)
{
	if (sp->lockfd != -1)
		close(sp->lockfd);
	if (sp->dirfd != -1)
		close(sp->dirfd);
	sp->lockfd = sp->dirfd = -1;
}

/* Regular files in the directory (hidden and temporary ones excepted). */
static long
spool_count(struct spool *sp)
{
	struct dirent	*de;
	DIR		*d;
	long		 n = 0;
	int		 fd;

	if ((fd = openat(sp->dirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return (-1);
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return (n);
}

/*
 * The spool lock: an flock on the lock file, held only around the moments
 * that must not interleave between processes (every worker opened the
 * file itself, so their locks conflict): count + publish of a PUT, so
 * that two workers storing new names at once cannot both see room for one
 * more file (files.max_count stays exact); creation of a named temporary
 * file and the master's removal of stale ones, so that it never removes
 * one a worker is writing.  Not the directory: anyone who can open that
 * (its group) could hold it and stall every PUT and the loop with them.
 * Also the count record (spool_count_locked) and DEL, which changes it.
 * Only a pool thread waits for it, never the event loop; nothing slow
 * (no write of data, no fsync) happens under it, so a peer holds it for
 * microseconds.  The master never waits for it (LOCK_NB).
 */
static int
spool_lock(struct spool *sp)
{
	if (sp->lockfd == -1) {
		errno = sp->lock_errno;
		return (-1);
	}
	pthread_mutex_lock(&sp->mu);
	while (flock(sp->lockfd, LOCK_EX) == -1)
		if (errno != EINTR) {
			pthread_mutex_unlock(&sp->mu);
			return (-1);
		}
	return (0);
}

static void
spool_unlock(struct spool *sp)
{
	(void)flock(sp->lockfd, LOCK_UN);
	pthread_mutex_unlock(&sp->mu);
}

/* Under the spool lock: record n files for the directory as it is now. */
static void
rec_write(struct spool *sp, long n)
{
	struct spool_rec	rec;
	struct stat		st;

	memset(&rec, 0, sizeof(rec));
	if (n >= 0 && fstat(sp->dirfd, &st) == 0) {
		rec.magic = REC_MAGIC;
		rec.count = (uint64_t)n;
		rec.ino = (uint64_t)st.st_ino;
		rec.sec = (int64_t)st.st_mtim.tv_sec;
		rec.nsec = (int64_t)st.st_mtim.tv_nsec;
	}
	/* Failing, the next count reads the directory: slower, still exact. */
	(void)pwrite(sp->lockfd, &rec, sizeof(rec), 0);
}

/*
 * Under the spool lock, before the directory changes: no valid record, so
 * a worker that dies before the real one is written (rec_write after the
 * change) leaves a recount behind, never an old count that a coarse mtime
 * (the same tick) would still let pass.
 */
static void
rec_void(struct spool *sp)
{
	rec_write(sp, -1);
}

/* Under the spool lock: count the directory and record it; -1: unreadable. */
static long
spool_recount(struct spool *sp)
{
	long	n;

	if ((n = spool_count(sp)) >= 0)
		rec_write(sp, n);
	return (n);
}

/*
 * Under the spool lock: the files in the directory, from the record when
 * nothing changed the directory since it was written (no read of the
 * directory: a PUT in 100,000 files costs a stat), else counted and
 * recorded.  -1 when the directory cannot be read.
 */
static long
spool_count_locked(struct spool *sp, int *kept)
{
	struct spool_rec	rec;
	struct stat		st;

	*kept = 0;
	if (pread(sp->lockfd, &rec, sizeof(rec), 0) == (ssize_t)sizeof(rec) &&
	    rec.magic == REC_MAGIC && fstat(sp->dirfd, &st) == 0 &&
	    rec.ino == (uint64_t)st.st_ino &&
	    rec.sec == (int64_t)st.st_mtim.tv_sec &&
	    rec.nsec == (int64_t)st.st_mtim.tv_nsec) {
		*kept = 1;
		return ((long)rec.count);
	}
	return (spool_recount(sp));
}

/* A fresh temporary name in the directory. */
static void
tmp_name(struct spool *sp, char *tmp, size_t len)
{
	snprintf(tmp, len, TMP_PREFIX "%ld.%u", (long)getpid(), sp->seq++);
}

/*
 * The data of a PUT, written and synced in a file that has no name yet
 * (O_TMPFILE): a reload, a crash or a concurrent cleaning cannot remove
 * it, and a crash leaves nothing behind.  Returns the descriptor, -1 with
 * errno set on failure, or -2 when the file system or the sandbox cannot
 * do it (no O_TMPFILE; no /proc to link it by): the caller falls back to a
 * named temporary file.
 */
static int
put_unnamed(struct spool *sp, const uint8_t *data, size_t len)
{
	int	fd, saved;

	if (!have_tmpfile)
		return (-2);
	if ((fd = spool_openat(sp, ".", O_WRONLY | O_TMPFILE, 0640)) == -1) {
		/* EISDIR: a kernel older than O_TMPFILE (3.11). */
		if (errno == EOPNOTSUPP || errno == EISDIR ||
		    errno == EINVAL) {
			have_tmpfile = 0;
			return (-2);
		}
		return (-1);
	}
	if (write_full(fd, data, len) == -1 || fsync(fd) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}

/*
 * Give the unnamed file fd a temporary name (linkat cannot replace a name;
 * renameat over the target then can).  Under the spool lock, so no
 * cleaning sees the name.  Returns 0, -1 with errno, or -2 when /proc is
 * not there to link through (then O_TMPFILE is given up).
 */
static int
link_unnamed(struct spool *sp, int fd, char *tmp, size_t len)
{
	char	path[64];
	int	i;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	for (i = 0; i < 8; i++) {
		tmp_name(sp, tmp, len);
		if (linkat(AT_FDCWD, path, sp->dirfd, tmp,
		    AT_SYMLINK_FOLLOW) == 0)
			return (0);
		if (errno == ENOENT && access("/proc/self/fd", X_OK) == -1) {
			have_tmpfile = 0;
			return (-2);
		}
		if (errno != EEXIST)	/* else a crash left that name */
			return (-1);
	}
	return (-1);
}

/*
 * No O_TMPFILE: write a named temporary file, created under the spool
 * lock and flock-ed until it is renamed or removed, so the master's
 * cleaning (under the same spool lock) knows it is in use.
 */
static int
put_named(struct spool *sp, const uint8_t *data, size_t len, char *tmp,
    size_t tlen)
{
	long	n;
	int	fd, saved, kept;

	if (spool_lock(sp) == -1)
		return (-1);
	n = spool_count_locked(sp, &kept);
	tmp_name(sp, tmp, tlen);
	fd = spool_openat(sp, tmp, O_WRONLY | O_CREAT | O_EXCL, 0640);
	if (fd != -1 && flock(fd, LOCK_EX | LOCK_NB) == -1) {
		saved = errno;
		(void)unlinkat(sp->dirfd, tmp, 0);
		close(fd);
		errno = saved;
		fd = -1;
	}
	saved = errno;
	rec_write(sp, n);	/* the directory changed, its count did not */
	spool_unlock(sp);
	errno = saved;
	if (fd == -1)
		return (-1);
	if (write_full(fd, data, len) == -1 || fsync(fd) == -1) {
		saved = errno;
		(void)unlinkat(sp->dirfd, tmp, 0);
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}

/*
 * Under the spool lock: may name be stored?  An existing regular file
 * (replaced), or a new name (*isnew) while there are fewer than
 * files.max_count files.  *count is the files there are, -1 unknown.
 */
static enum msg_status
put_room(struct spool *sp, const char *name, long *count, int *isnew,
    struct errtext *err)
{
	struct stat	st;
	int		kept;

	*count = spool_count_locked(sp, &kept);
	*isnew = 0;
	if (fstatat(sp->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISREG(st.st_mode))
			return (MSG_ST_OK);
		err->msg = "not a regular file (symlinks are never followed)";
		return (MSG_ST_DENIED);
	}
	*isnew = 1;
	/*
	 * Never refuse on a kept count alone: a change by hand within the
	 * tick of its record (a coarse mtime) leaves it stale, and a refusal
	 * costs a directory read at most, as every PUT once did.
	 */
	if (*count >= (long)sp->max_count && kept)
		*count = spool_recount(sp);
	if (*count >= (long)sp->max_count) {
		err->msg = "files.max_count reached";
		return (MSG_ST_TOO_LARGE);
	}
	return (MSG_ST_OK);
}

/* Refuse early, before a byte is written, what can be refused already. */
static enum msg_status
put_precheck(struct spool *sp, const char *name, struct errtext *err)
{
	enum msg_status	st;
	long		n;
	int		isnew;

	if (spool_lock(sp) == -1)
		return (MSG_ST_OK);	/* the PUT itself says why */
	st = put_room(sp, name, &n, &isnew, err);
	spool_unlock(sp);
	return (st);
}

/*
 * PUT: write the data in a temporary file and fsync it; then, under the
 * spool lock, check files.max_count for a new name and rename the
 * file over the target; fsync the directory.  A crash at any point leaves
 * the old content or the new, never a torn file; what was answered OK is
 * on disk.
 */
enum msg_status
spool_put(struct spool *sp, const uint8_t *key, size_t klen,
    const uint8_t *data, size_t len, struct errtext *err)
{
	char		name[MSG_NAME_MAX + 1], tmp[64];
	enum msg_status	st_refused;
	long		count;
	int		fd, rc, saved, isnew, named = 0;

	if (spool_name(key, klen, name) == -1) {
		err->msg = "bad file name: 1..255 bytes of [A-Za-z0-9._-], not "
		    "starting with '.'";
		return (MSG_ST_BAD_REQUEST);
	}
	if (len > sp->max_size) {
		err->msg = "file larger than files.max_size";
		return (MSG_ST_TOO_LARGE);
	}
	if ((st_refused = put_precheck(sp, name, err)) != MSG_ST_OK)
		return (st_refused);
	if ((fd = put_unnamed(sp, data, len)) == -2) {
		named = 1;
		fd = put_named(sp, data, len, tmp, sizeof(tmp));
	}
	if (fd == -1)
		goto fail;
	if (spool_lock(sp) == -1)
		goto fail_fd;
	/* Again, exactly: another worker may have stored a name meanwhile. */
	if ((st_refused = put_room(sp, name, &count, &isnew, err)) !=
	    MSG_ST_OK)
		goto refuse;
	rec_void(sp);
	if (!named && (rc = link_unnamed(sp, fd, tmp, sizeof(tmp))) != 0) {
		spool_unlock(sp);
		if (rc == -2) {
			/* No /proc here: the next PUTs go the named way. */
			close(fd);
			return (spool_put(sp, key, klen, data, len, err));
		}
		goto fail_fd;
	}
	if (renameat(sp->dirfd, tmp, sp->dirfd, name) == -1) {
		saved = errno;
		(void)unlinkat(sp->dirfd, tmp, 0);
		spool_unlock(sp);
		errno = saved;
		goto fail_fd;
	}
	/* A new name is one more file; a replaced one changed the mtime. */
	rec_write(sp, count < 0 ? -1 : count + isnew);
	spool_unlock(sp);
	close(fd);
	if (fsync(sp->dirfd) == -1)
		goto fail;
	return (MSG_ST_OK);
refuse:
	if (named) {
		(void)unlinkat(sp->dirfd, tmp, 0);
		rec_write(sp, count);
	}
	spool_unlock(sp);
	close(fd);
	return (st_refused);
fail_fd:
	saved = errno;
	if (named)
		(void)unlinkat(sp->dirfd, tmp, 0);
	close(fd);
	errno = saved;
fail:
	errtext_fmt(err, "cannot store the file: %s", strerror(errno));
	return (MSG_ST_INTERNAL);
}

/* GET: the file as the value (the key is the name, appended by the op). */
enum msg_status
spool_get(struct spool *sp, const uint8_t *key, size_t klen, struct buf *out,
    struct errtext *err)
{
	struct stat	st;
	char		name[MSG_NAME_MAX + 1];
	ssize_t		n;
	int		fd;

	if (spool_name(key, klen, name) == -1) {
		err->msg = "bad file name: 1..255 bytes of [A-Za-z0-9._-], not "
		    "starting with '.'";
		return (MSG_ST_BAD_REQUEST);
	}
	if ((fd = spool_openat(sp, name, O_RDONLY | O_NONBLOCK, 0)) == -1) {
		if (errno == ENOENT) {
			err->msg = "no such file";
			return (MSG_ST_NOT_FOUND);
		}
		if (errno == ELOOP || errno == EXDEV) {
			err->msg = "not a regular file (symlinks are never "
			    "followed)";
			return (MSG_ST_DENIED);
		}
		goto fail;
	}
	if (fstat(fd, &st) == -1)
		goto fail_fd;
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		err->msg = "not a regular file";
		return (MSG_ST_DENIED);
	}
	if ((uint64_t)st.st_size + klen > sp->max_resp) {
		close(fd);
		err->msg = "file larger than a response may be (max_body)";
		return (MSG_ST_TOO_LARGE);
	}
	if (buf_reserve(out, (size_t)st.st_size) == -1)
		goto fail_fd;
	if ((n = read_full(fd, buf_tail(out), (size_t)st.st_size)) == -1)
		goto fail_fd;
	out->len += (size_t)n;
	close(fd);
	return (MSG_ST_OK);
fail_fd:
	n = errno;
	close(fd);
	errno = (int)n;
fail:
	errtext_fmt(err, "cannot read the file: %s", strerror(errno));
	return (MSG_ST_INTERNAL);
}

static int
name_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* LIST: "name\tsize\tmtime\n" per regular file, sorted by name. */
enum msg_status
spool_list(struct spool *sp, struct buf *out, struct errtext *err)
{
	struct dirent	 *de;
	struct stat	  st;
	DIR		 *d;
	char		**names = NULL, line[MSG_NAME_MAX + 64];
	size_t		  n = 0, cap = 0, i, start = buf_used(out);
	enum msg_status	  rc = MSG_ST_OK;
	int		  fd, len;

	if ((fd = openat(sp->dirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		err->msg = "cannot read the files directory";
		return (MSG_ST_INTERNAL);
	}
	while ((de = readdir(d)) != NULL) {
		if (!msg_valid_name((const uint8_t *)de->d_name,
		    strlen(de->d_name)))
			continue;
		/* Only regular files count toward the bound. */
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1 || !S_ISREG(st.st_mode))
			continue;
		if (n == sp->max_count)
			break;		/* bounded, like the directory */
		if (n == cap) {
			char **nn;

			cap = cap ? cap * 2 : 64;
			if ((nn = realloc(names, cap * sizeof(*nn))) == NULL) {
				rc = MSG_ST_INTERNAL;
				err->msg = "out of memory";
				goto done;
			}
			names = nn;
		}
		if ((names[n] = strdup(de->d_name)) == NULL) {
			rc = MSG_ST_INTERNAL;
			err->msg = "out of memory";
			goto done;
		}
		n++;
	}
	if (n > 1)	/* qsort wants a non-NULL array, even for 0 */
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(st.st_mode))
			continue;
		len = snprintf(line, sizeof(line), "%s\t%lld\t%lld\n", names[i],
		    (long long)st.st_size, (long long)st.st_mtime);
		/*
		 * Sizes relative to the unsent head: an append may compact
		 * the buffer (drop what was sent, move the rest to the front),
		 * which moves every absolute offset.
		 */
		if (buf_used(out) - start + (size_t)len > sp->max_resp) {
			buf_truncate(out, out->off + start);
			rc = MSG_ST_TOO_LARGE;
			err->msg = "listing larger than a response may be";
			goto done;
		}
		if (buf_append(out, line, (size_t)len) == -1) {
			rc = MSG_ST_INTERNAL;
			err->msg = "out of memory";
			goto done;
		}
	}
done:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return (rc);
}

/*
 * DEL: remove a regular file (a symlink or anything else is refused),
 * under the spool lock when there is one, which keeps the count record.
 */
enum msg_status
spool_del(struct spool *sp, const uint8_t *key, size_t klen,
    struct errtext *err)
{
	struct stat	st;
	char		name[MSG_NAME_MAX + 1];
	long		n = -1;
	int		locked, kept;

	if (spool_name(key, klen, name) == -1) {
		err->msg = "bad file name: 1..255 bytes of [A-Za-z0-9._-], not "
		    "starting with '.'";
		return (MSG_ST_BAD_REQUEST);
	}
	/* Without a lock file (a read-only directory) DEL works unlocked. */
	if ((locked = spool_lock(sp) == 0))
		n = spool_count_locked(sp, &kept);
	if (fstatat(sp->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno == ENOENT) {
			err->msg = "no such file";
			goto refuse;
		}
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		err->msg = "not a regular file (symlinks are never followed)";
		if (locked)
			spool_unlock(sp);
		return (MSG_ST_DENIED);
	}
	if (locked)
		rec_void(sp);
	if (unlinkat(sp->dirfd, name, 0) == -1) {
		if (errno == ENOENT) {
			err->msg = "no such file";
			goto refuse;
		}
		goto fail;
	}
	if (locked) {
		rec_write(sp, n < 1 ? -1 : n - 1);
		spool_unlock(sp);
	}
	(void)fsync(sp->dirfd);
	return (MSG_ST_OK);
refuse:
	if (locked)
		spool_unlock(sp);
	return (MSG_ST_NOT_FOUND);
fail:
	errtext_fmt(err, "cannot remove the file: %s", strerror(errno));
	if (locked)
		spool_unlock(sp);
	return (MSG_ST_INTERNAL);
}

/*
 * pidfile.c: create, lock, write and check the pidfile.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pidfile.h"

/* Read the pid recorded in an open pidfile; 0 if none. */
static pid_t
pidfile_read(int fd)
{
	char	buf[32];
	ssize_t	n;
	long	pid;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return (0);
	buf[n] = '\0';
	pid = strtol(buf, NULL, 10);
	return (pid > 0 ? (pid_t)pid : 0);
}

/*
 * Open path without trusting what is there: a file we create (O_EXCL), or
 * an existing regular file with one link that belongs to want or root
 * ((uid_t)-1: anyone), never through a symlink, and O_NONBLOCK so that a
 * FIFO cannot hang us.  Returns the fd or -1 with cause.
 */
static int
pidfile_open(const char *path, int flags, uid_t want, char *cause, size_t len)
{
	struct stat	st;
	int		fd;

	fd = -1;
	if (flags & O_CREAT)
		fd = open(path, flags | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd == -1 && (!(flags & O_CREAT) || errno == EEXIST))
		fd = open(path, (flags & ~O_CREAT) | O_NOFOLLOW | O_NONBLOCK |
		    O_NOCTTY | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ELOOP)
			snprintf(cause, len, "pidfile %s is a symbolic link: "
			    "refused", path);
		else
			snprintf(cause, len, "pidfile %s: %s", path,
			    strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		snprintf(cause, len, "pidfile %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		snprintf(cause, len, "pidfile %s is not a regular file with one "
		    "link: refused", path);
		goto fail;
	}
	if (want != (uid_t)-1 && st.st_uid != want && st.st_uid != 0) {
		snprintf(cause, len, "pidfile %s belongs to uid %u, not to uid "
		    "%u or root: refused", path, (unsigned)st.st_uid,
		    (unsigned)want);
		goto fail;
	}
	return (fd);
fail:
	close(fd);
	errno = EPERM;
	return (-1);
}

/*
 * Open and lock path.  Returns the locked fd (close-on-exec), or -1 with
 * cause saying who holds it.
 */
int
pidfile_acquire(const char *path, char *cause, size_t len)
{
	pid_t	pid;
	int	fd;

	if ((fd = pidfile_open(path, O_RDWR | O_CREAT, geteuid(), cause,
	    len)) == -1)
		return (-1);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK) {
			pid = pidfile_read(fd);
			snprintf(cause, len, "msgd is already running as pid %ld "
			    "(pidfile %s is locked)", (long)pid, path);
		} else
			snprintf(cause, len, "pidfile %s: flock: %s", path,
			    strerror(errno));
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Record pid (again after detaching: fork changed it). */
int
pidfile_write(int fd, pid_t pid)
{
	char	buf[32];
	int	n;

	n = snprintf(buf, sizeof(buf), "%ld\n", (long)pid);
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, (size_t)n, 0) != n)
		return (-1);
	return (0);
}

/* Remove and unlock at a clean stop. */
void
pidfile_release(const char *path, int fd)
{
	if (fd == -1)
		return;
	(void)unlink(path);
	close(fd);
}

/*
 * For msgctl: the pid of the msgd holding path's lock, 0 when none runs
 * (no file, or nobody holds the lock), -1 on error with cause.
 */
pid_t
pidfile_running(const char *path, char *cause, size_t len)
{
	pid_t	pid;
	int	fd;

	if ((fd = pidfile_open(path, O_RDONLY, (uid_t)-1, cause,
	    len)) == -1)
		return (errno == ENOENT ? 0 : -1);
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		/* We got the lock: nobody holds it, the file is stale. */
		close(fd);
		return (0);
	}
	if (errno != EWOULDBLOCK) {
		snprintf(cause, len, "pidfile %s: flock: %s", path,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	pid = pidfile_read(fd);
	close(fd);
	if (pid == 0) {
		snprintf(cause, len, "pidfile %s is locked but holds no pid",
		    path);
		return (-1);
	}
	return (pid);
}

/* Does pid hold an exclusive flock on the file of st (its fdinfo says)? */
static int
pidfile_holder(pid_t pid, const struct stat *st)
{
	struct dirent	*de;
	struct stat	 fst;
	DIR		*d;
	FILE		*fp;
	char		 p[64], line[256];
	int		 found = 0;

	snprintf(p, sizeof(p), "/proc/%ld/fd", (long)pid);
	if ((d = opendir(p)) == NULL)
		return (-1);
	while (!found && (de = readdir(d)) != NULL) {
		snprintf(p, sizeof(p), "/proc/%ld/fd/%.16s", (long)pid,
		    de->d_name);
		if (de->d_name[0] == '.' || stat(p, &fst) == -1 ||
		    fst.st_dev != st->st_dev || fst.st_ino != st->st_ino)
			continue;
		snprintf(p, sizeof(p), "/proc/%ld/fdinfo/%.16s", (long)pid,
		    de->d_name);
		if ((fp = fopen(p, "re")) == NULL)
			continue;
		while (fgets(line, sizeof(line), fp) != NULL)
			if (strncmp(line, "lock:", 5) == 0 &&
			    strstr(line, " FLOCK ") != NULL &&
			    strstr(line, " WRITE ") != NULL)
				found = 1;
		fclose(fp);
	}
	closedir(d);
	return (found);
}

/*
 * For msgctl, before it signals pid: is it really the msgd master of path?
 * The pidfile is a regular file (pidfile_open) of root's, ours, or of the
 * user pid runs as (the msgd user under systemd: signalling its own
 * process is no harm); pid runs a program named msgd (a replaced binary
 * shows as "msgd (deleted)"); and pid itself holds the pidfile's lock.  A
 * pidfile another user could write names any process; the lock is the
 * one thing it cannot fake for another process.  Returns 0, or -1 with
 * cause.
 */
int
pidfile_verify(const char *path, pid_t pid, char *cause, size_t len)
{
	struct stat	 st, pst;
	char		 p[64], exe[PATH_MAX], *base;
	ssize_t		 n;
	int		 fd, rc;

	if ((fd = pidfile_open(path, O_RDONLY, (uid_t)-1, cause, len)) == -1)
		return (-1);
	rc = fstat(fd, &st);
	close(fd);
	snprintf(p, sizeof(p), "/proc/%ld", (long)pid);
	if (rc == -1 || stat(p, &pst) == -1) {
		snprintf(cause, len, "pid %ld (from %s): %s", (long)pid, path,
		    strerror(errno));
		return (-1);
	}
	if (st.st_uid != 0 && st.st_uid != geteuid() &&
	    st.st_uid != pst.st_uid) {
		snprintf(cause, len, "pidfile %s belongs to uid %u, neither "
		    "root, nor us, nor the user of pid %ld: not signalled",
		    path, (unsigned)st.st_uid, (long)pid);
		return (-1);
	}
	snprintf(p, sizeof(p), "/proc/%ld/exe", (long)pid);
	if ((n = readlink(p, exe, sizeof(exe) - 1)) == -1) {
		snprintf(cause, len, "pid %ld (from %s): cannot tell which "
		    "program it runs: %s", (long)pid, path, strerror(errno));
		return (-1);
	}
	exe[n] = '\0';
	if (n > 10 && strcmp(exe + n - 10, " (deleted)") == 0)
		exe[n - 10] = '\0';
	base = strrchr(exe, '/') != NULL ? strrchr(exe, '/') + 1 : exe;
	if (strcmp(base, "msgd") != 0) {
		snprintf(cause, len, "pid %ld (from %s) runs %s, not msgd: not "
		    "signalled", (long)pid, path, exe);
		return (-1);
	}
	if ((rc = pidfile_holder(pid, &st)) != 1) {
		snprintf(cause, len, "pid %ld (from %s) does not hold the "
		    "pidfile's lock%s%s: not signalled", (long)pid, path,
		    rc == -1 ? ": " : "", rc == -1 ? strerror(errno) : "");
		return (-1);
	}
	return (0);
}

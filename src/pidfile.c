/*
 * pidfile.c: create, lock, write and check the pidfile.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
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
 * Open and lock path.  Returns the locked fd (close-on-exec), or -1 with
 * cause saying who holds it.
 */
int
pidfile_acquire(const char *path, char *cause, size_t len)
{
	pid_t	pid;
	int	fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd == -1) {
		snprintf(cause, len, "pidfile %s: %s", path, strerror(errno));
		return (-1);
	}
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

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return (0);
		snprintf(cause, len, "pidfile %s: %s", path, strerror(errno));
		return (-1);
	}
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

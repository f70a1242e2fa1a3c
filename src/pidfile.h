/*
 * pidfile.h: a pidfile that is also a lock.  The master holds an flock on
 * it for its whole life, so "is msgd running?" has an exact answer: the
 * lock is held.  A pidfile left by a crash is not locked and is replaced.
 */
#ifndef MSGD_PIDFILE_H
#define MSGD_PIDFILE_H

#include <sys/types.h>
#include <stddef.h>

int	pidfile_acquire(const char *, char *, size_t);
int	pidfile_write(int, pid_t);
void	pidfile_release(const char *, int);
pid_t	pidfile_running(const char *, char *, size_t);
int	pidfile_verify(const char *, pid_t, char *, size_t);

#endif /* MSGD_PIDFILE_H */

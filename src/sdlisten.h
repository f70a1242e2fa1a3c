/*
 * sdlisten.h: listening sockets passed by systemd (socket activation) or
 * by a previous msgd binary, the sd_listen_fds(3) protocol implemented
 * without libsystemd, as sdnotify.h is:
 *
 *	LISTEN_PID	the pid the sockets are for: must be getpid(), else
 *			the variables are not ours and are ignored (as
 *			sd_listen_fds(3) does: a parent's leftovers)
 *	LISTEN_FDS	n: the sockets are the fds 3 .. 3+n-1
 *	LISTEN_FDNAMES	optional, n names separated by ':' (systemd's
 *			FileDescriptorName=, default the socket unit's name);
 *			only shown in messages, never used to match
 *
 * The variables are unset once read, so no child sees them.  Each socket
 * is checked (a socket, SOCK_STREAM listening or SOCK_DGRAM, AF_INET,
 * AF_INET6 or a named AF_UNIX) and described by its bound address, in the
 * text form of a listen entry (net.h): "127.0.0.1:7878", "[::1]:7878",
 * "unix:/run/msgd/msgd.sock", "0.0.0.0:7878" for all IPv4.  A config
 * entry matches a socket by address (sdlisten_find), not by text, so
 * "localhost:7878" and "*:7878" match what they mean.
 *
 * The table is the master's, one per process (like sdnotify's state).
 * The fds are never closed by msgd while it runs: the generations use
 * them as they are (master_gen.c asks sdlisten_held() before closing or
 * unlinking a listener), so a reload that drops an entry and a later one
 * that adds it back get the same socket, and a unix socket systemd made
 * is never removed by msgd.
 */
#ifndef MSGD_SDLISTEN_H
#define MSGD_SDLISTEN_H

#include <sys/types.h>

#include "net.h"

#define SDLISTEN_FDS_START	3	/* SD_LISTEN_FDS_START */
#define SDLISTEN_MAX		64	/* more: refused (a config has 16) */
#define SDLISTEN_NAME_MAX	256	/* systemd's FDNAME_MAX is 255 */

/* One passed socket. */
struct sdsock {
	int		fd;
	int		dgram;		/* SOCK_DGRAM; else listening stream */
	struct net_addr	addr;		/* its bound address, text as above */
	char		name[SDLISTEN_NAME_MAX];	/* or "" */
	int		taken;		/* matched by sdlisten_find */
	int		owned;		/* 0 (systemd's): never closed, never
					 * unlinked; a binary upgrade may set
					 * 1 for sockets its old master made */
};

/*
 * Pure parts (no environment, no fds), for the unit tests and hostile
 * values: the count that pid/fds (each may be NULL) give for self (0: no
 * sockets for us, *ignored set when they were for another pid), and the
 * names split into out (NULL names: all "").  -1 with cause on a value
 * that is not what the protocol allows.
 */
int	sdlisten_parse(const char *pid, const char *fds, pid_t self, int *n,
	    int *ignored, char *cause, size_t len);
int	sdlisten_split_names(const char *names, int n,
	    char (*out)[SDLISTEN_NAME_MAX], char *cause, size_t len);

/* Check fd and describe it in *s (fd, dgram, addr); -1 with cause. */
int	sdlisten_describe(int fd, struct sdsock *s, char *cause, size_t len);

/*
 * Read the variables (then unset them), check and describe every socket,
 * set FD_CLOEXEC on each.  Returns the number of sockets (0: none, msgd
 * binds its own), or -1 with cause: nothing is taken then.
 */
int	sdlisten_init(char *cause, size_t len);

int	sdlisten_count(void);
struct sdsock *sdlisten_at(int);

/*
 * The passed socket bound to a, of that kind (dgram), marked taken:
 * its fd, or -1 when none was passed for it.
 */
int	sdlisten_find(const struct net_addr *a, int dgram);

/* The fd is a passed one (not owned) that msgd must not close nor unlink. */
int	sdlisten_held(int fd);

/*
 * Some passed socket is held (not owned): systemd's socket unit lists
 * them, so a listener msgd binds is one the next start refuses.
 */
int	sdlisten_any_held(void);

/*
 * After the first generation is bound: every passed socket was taken,
 * else -1 with cause naming the first one that was not (address, name,
 * fd), for the caller to add the config's entries.
 */
int	sdlisten_all_taken(char *cause, size_t len);

/* The passed sockets as "addr (stream), addr (UDP)", for messages. */
void	sdlisten_list(char *buf, size_t len);

/* Forget the table (tests; a child that must not use it). */
void	sdlisten_reset(void);

#endif /* MSGD_SDLISTEN_H */

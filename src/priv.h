/*
 * priv.h: run workers as an unprivileged user.  Names are resolved by the
 * master (before forking, so no NSS lookups happen in a worker); workers
 * drop supplementary groups, gid and uid before touching a client.
 */
#ifndef MSGD_PRIV_H
#define MSGD_PRIV_H

#include <sys/types.h>
#include <stddef.h>

struct priv {
	int	change;		/* 0: keep the current identity */
	uid_t	uid;
	gid_t	gid;
	char	user[33];
};

int	priv_resolve(const char *, const char *, int, struct priv *, char *,
	    size_t);
int	priv_drop(const struct priv *, char *, size_t);
void	priv_deathsig(pid_t);
void	priv_become(const struct priv *, pid_t, int);
struct stat;
int	priv_dir_private(const struct stat *);
int	priv_check_dir(const char *, const char *, char *, size_t);

#endif /* MSGD_PRIV_H */

/*
 * unix_fx.h: a unit test fixture, a private directory with a unix
 * listener in it (the client tests' fake servers).
 */
#ifndef MSGD_UNIX_FX_H
#define MSGD_UNIX_FX_H

struct unix_fx {
	char	dir[64];
	char	path[96];	/* dir/sock */
	char	addr[160];	/* "unix:" path */
	int	lfd;
};

void	unix_fx_open(struct unix_fx *, const char *);
void	unix_fx_close(struct unix_fx *);

#endif /* MSGD_UNIX_FX_H */

/*
 * pipes.h: a worker's pool of pipes for splice(2), bounded in number.
 */
#ifndef MSGD_PIPES_H
#define MSGD_PIPES_H

#define PIPES_KEEP	8		/* empty pipes kept for reuse */
#define PIPES_SIZE	(1024 * 1024)	/* asked of the kernel (F_SETPIPE_SZ) */

struct pipes {
	int	free[PIPES_KEEP][2];
	int	nfree;
	int	used;		/* handed out now */
	int	max;		/* at most this many handed out */
};

void	pipes_init(struct pipes *, int);
int	pipes_get(struct pipes *, int[2]);
void	pipes_put(struct pipes *, int[2], int);
void	pipes_close(struct pipes *);

#endif /* MSGD_PIPES_H */

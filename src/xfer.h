/*
 * xfer.h: pass a client connection between processes (SCM_RIGHTS over a
 * unix SOCK_STREAM socketpair, one small message per connection; see
 * xfer_pair() for why not SOCK_SEQPACKET).  On a reload the old workers hand their
 * connections, through the master, to the new generation instead of
 * closing them: a client never sees its connection end, so no request can
 * race a close.
 */
#ifndef MSGD_XFER_H
#define MSGD_XFER_H

#include <sys/socket.h>
#include <stdint.h>

#include "net.h"

#define XFER_VERSION	1
#define XFER_FDS_MAX	253	/* SCM_MAX_FD: the most a message carries */

/* What travels with the descriptor. */
struct xfer_info {
	uint8_t		version;
	uint8_t		authed;		/* passed AUTH with digest below */
	struct net_peer	peer;		/* for the allow list, protected mode */
	uint8_t		digest[32];	/* the token it authenticated with */
};

ssize_t	fd_send(int, const void *, size_t, int, const void *, socklen_t, int);
int	xfer_pair(int *);
int	xfer_send(int, int, const struct xfer_info *);
int	xfer_recv(int, int *, struct xfer_info *);
void	xfer_close(int);
void	xfer_dispose(int);
void	xfer_set_disposer(void (*)(int));
ssize_t	xfer_read(int, void *, size_t);

#endif /* MSGD_XFER_H */

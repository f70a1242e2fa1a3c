/*
 * udp.h: requests over UDP.  One datagram is one request frame; the answer
 * is one datagram back to the sender, never larger than the request (no
 * amplification: an answer that would be larger is dropped and counted).
 * Only PING, ECHO, UPPER and TIME are served (others: DENIED); with a token
 * configured only PING.  A datagram whose length is not 16 + body_len, or
 * with a wrong magic or version, is dropped and counted.
 */
#ifndef MSGD_UDP_H
#define MSGD_UDP_H

#include <sys/socket.h>

#include "buf.h"
#include "conn.h"

#define UDP_BATCH	16		/* datagrams per recvmmsg */
#define UDP_MAX		65536		/* largest datagram */

struct udp_ctx {
	uint8_t			*bufs;		/* UDP_BATCH * UDP_MAX */
	struct buf		 out;
	int			 restricted;	/* protected mode is on */
};

int	udp_init(struct udp_ctx *, int);
void	udp_event(struct udp_ctx *, struct wctx *, int);
void	udp_free(struct udp_ctx *);

#endif /* MSGD_UDP_H */

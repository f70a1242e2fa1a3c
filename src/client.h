/*
 * client.h: a small blocking client for msgd with deadlines on every step.
 * A dead or stalled server produces CLIENT_ETIMEOUT, never a hang.
 */
#ifndef MSGD_CLIENT_H
#define MSGD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "net.h"
#include "proto.h"

enum client_err {
	CLIENT_OK = 0,
	CLIENT_ECONNECT = -1,	/* could not connect */
	CLIENT_ETIMEOUT = -2,	/* no answer in time */
	CLIENT_EIO = -3,	/* connection lost or reset */
	CLIENT_EPROTO = -4	/* the peer does not speak msgd v1 */
};

struct client {
	int		fd;
	int		timeout_ms;
	uint32_t	next_id;
	uint64_t	max_resp;	/* largest response body accepted */
	struct net_addr	addr;
	struct buf	in;
	char		err[256];
};

struct client_resp {
	struct msg_hdr	 hdr;
	const uint8_t	*key;	/* valid until the next client call */
	size_t		 klen;
	const uint8_t	*val;
	size_t		 vlen;
};

/* An EXEC answer taken apart (see exec_result() for its format). */
struct client_exec {
	int		 status;	/* the command's exit status, 0..255 */
	const uint8_t	*out;		/* its stdout */
	size_t		 olen;
	const uint8_t	*err;		/* its stderr */
	size_t		 elen;
};

int	client_open(struct client *, const char *, int);
int	client_reconnect(struct client *);
int	client_send(struct client *, uint8_t, const void *, size_t,
	    const void *, size_t, uint32_t *);
int	client_recv(struct client *, struct client_resp *);
int	client_call(struct client *, uint8_t, const void *, size_t,
	    const void *, size_t, struct client_resp *);
void	client_close(struct client *);
int	client_exec_answer(const struct client_resp *, struct client_exec *);
int	client_udp_call(const char *, int, uint8_t, const void *, size_t,
	    uint8_t *, size_t, struct client_resp *, char *, size_t);

#endif /* MSGD_CLIENT_H */

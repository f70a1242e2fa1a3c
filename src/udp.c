/*
 * udp.c: read a batch of datagrams, answer each in one datagram, send the
 * answers in a batch.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "net.h"
#include "ops.h"
#include "proto.h"
#include "udp.h"
#include "util.h"

int
udp_init(struct udp_ctx *u, int restricted)
{
	memset(u, 0, sizeof(*u));
	u->restricted = restricted;
	if ((u->bufs = malloc((size_t)UDP_BATCH * UDP_MAX)) == NULL)
		return (-1);
	return (0);
}

void
udp_free(struct udp_ctx *u)
{
	free(u->bufs);
	u->bufs = NULL;
	buf_release(&u->out);
}

/*
 * Answer one datagram into u->out.  Returns the answer's length, or 0 when
 * the datagram is dropped.
 */
static size_t
udp_answer(struct udp_ctx *u, struct wctx *wc, const uint8_t *p,
    size_t len, const struct net_peer *peer)
{
	const struct msgd_conf	*conf = wc->ops->conf;
	struct msg_parse	 mp;
	struct op_client	 cl;
	struct op_outcome	 oc;
	uint8_t			 st;
	size_t			 start = buf_used(&u->out), alen;
	uint64_t		 t0;

	if (!net_peer_allowed(conf->allow, conf->nallow, peer)) {
		STATS_PEND(&wc->pend, wc->slot, allow_rejected, 1);
		return (0);
	}
	msg_parse_request(p, len, wc->max_body, &mp);
	/*
	 * Only a well-formed request is answered.  Anything else, an answer
	 * (RESPONSE flag) above all, is dropped without a word: answering an
	 * answer lets one forged datagram make two servers, or a server and
	 * itself, ping-pong forever (the "loop DoS" of CVE-2024-2169).  Every
	 * answer msgd sends carries the RESPONSE flag, so no answer of ours
	 * can ever trigger another one.
	 */
	if (mp.result != MSG_PARSE_FRAME || mp.need != len ||
	    peer->port == 0)
		goto drop;
	t0 = STATS_CLOCK();
	cl.authed = !conf->auth_set;
	cl.restricted = u->restricted && !net_peer_is_loopback(peer);
	cl.udp = 1;
	cl.conn = NULL;
	if (ops_dispatch(wc->ops, &cl, &mp.hdr, p + MSG_HDR_LEN, &u->out,
	    &oc) == -1)
		goto drop;
	if (oc.denied)
		STATS_PEND(&wc->pend, wc->slot, denied, 1);
	if (oc.st != MSG_ST_OK) {
		/* Over UDP an error carries no message: 16 bytes. */
		st = (uint8_t)oc.st;
		buf_truncate(&u->out, u->out.off + start);
		if (ops_error(&u->out, mp.hdr.opcode, st, mp.hdr.request_id,
		    NULL) == -1)
			goto drop;
	}
	alen = buf_used(&u->out) - start;
	if (alen > len) {
		/* No amplification: the sender must pad its request. */
		buf_truncate(&u->out, u->out.off + start);
		goto drop;
	}
	STATS_PEND_REQUEST(&wc->pend, wc->slot, mp.hdr.opcode, oc.st, STATS_CLOCK() - t0);
	wc->answered++;
	return (alen);
drop:
	STATS_PEND(&wc->pend, wc->slot, udp_dropped, 1);
	return (0);
}

/* The UDP socket fd is readable: one batch in, one batch out. */
void
udp_event(struct udp_ctx *u, struct wctx *wc, int fd)
{
	struct mmsghdr		in[UDP_BATCH], out[UDP_BATCH];
	struct iovec		iov[UDP_BATCH], oiov[UDP_BATCH];
	struct sockaddr_storage	peers[UDP_BATCH];
	struct net_peer		peer;
	size_t			off[UDP_BATCH], alen[UDP_BATCH];
	int			i, n, nout = 0, sent;

	memset(in, 0, sizeof(in));
	for (i = 0; i < UDP_BATCH; i++) {
		iov[i].iov_base = u->bufs + (size_t)i * UDP_MAX;
		iov[i].iov_len = UDP_MAX;
		in[i].msg_hdr.msg_iov = &iov[i];
		in[i].msg_hdr.msg_iovlen = 1;
		in[i].msg_hdr.msg_name = &peers[i];
		in[i].msg_hdr.msg_namelen = sizeof(peers[i]);
	}
	n = recvmmsg(fd, in, UDP_BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return;
	buf_truncate(&u->out, 0);
	for (i = 0; i < n; i++) {
		STATS_PEND(&wc->pend, wc->slot, udp_received, 1);
		STATS_PEND(&wc->pend, wc->slot, bytes_in, in[i].msg_len);
		off[i] = buf_used(&u->out);
		if (in[i].msg_hdr.msg_flags & MSG_TRUNC) {
			STATS_PEND(&wc->pend, wc->slot, udp_dropped, 1);
			alen[i] = 0;
			continue;
		}
		net_peer_set(&peer, (struct sockaddr *)&peers[i],
		    in[i].msg_hdr.msg_namelen);
		alen[i] = udp_answer(u, wc, iov[i].iov_base, in[i].msg_len,
		    &peer);
	}
	conn_publish(wc);	/* counted before the answers leave */
	/* The buffer may have moved while answering: point at it now. */
	memset(out, 0, sizeof(out));
	for (i = 0; i < n; i++) {
		if (alen[i] == 0)
			continue;
		oiov[nout].iov_base = buf_head(&u->out) + off[i];
		oiov[nout].iov_len = alen[i];
		out[nout].msg_hdr.msg_iov = &oiov[nout];
		out[nout].msg_hdr.msg_iovlen = 1;
		out[nout].msg_hdr.msg_name = &peers[i];
		out[nout].msg_hdr.msg_namelen = in[i].msg_hdr.msg_namelen;
		nout++;
	}
	for (i = 0; i < nout; i += sent) {
		sent = sendmmsg(fd, out + i, (unsigned int)(nout - i),
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (sent <= 0) {
			/* A full send buffer: UDP may drop, and so do we. */
			STATS_PEND(&wc->pend, wc->slot, udp_dropped, (uint64_t)(nout - i));
			break;
		}
		for (n = i; n < i + sent; n++)
			STATS_PEND(&wc->pend, wc->slot, bytes_out,
			    out[n].msg_len);
	}
}

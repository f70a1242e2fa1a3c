/*
 * proxy.h: the PROXY protocol header (HAProxy's proxy-protocol.txt,
 * versions 1 and 2), the pure parser.
 *
 * A load balancer that forwards a TCP connection sends, before any byte of
 * its client's, who that client is.  proxy_parse() looks at the bytes
 * received so far and says: more are needed, the header is complete (its
 * length and the client's address), or the input is not an acceptable
 * header (a named error).  It does no I/O, keeps no state and logs
 * nothing; the verdict on a prefix never changes as more bytes arrive
 * (an error stays that error, a header ends where it ended).
 *
 * Accepted:
 *	v1	"PROXY TCP4 <src> <dst> <sport> <dport>\r\n" (TCP6 likewise),
 *		"PROXY UNKNOWN[ anything]\r\n"; single spaces, addresses as
 *		inet_pton(3) reads them, ports 0..65535 without leading zeros,
 *		107 bytes at most
 *	v2	the 12-byte signature, version 2, command LOCAL or PROXY,
 *		family UNSPEC, INET, INET6 or UNIX over STREAM (or UNSPEC),
 *		TLVs after the addresses well formed (and skipped); 16 + the
 *		length field <= PROXY_MAX bytes
 * LOCAL is the balancer's own connection (a health check): local is set.
 * UNKNOWN, UNSPEC and UNIX give no address an allow list could check: src
 * is left empty (family 0) and the connection keeps its own address.
 */
#ifndef MSGD_PROXY_H
#define MSGD_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "net.h"

#define PROXY_V1_MAX	107	/* the specification's bound, CRLF included */
#define PROXY_V2_HDR	16	/* signature, ver/cmd, fam/proto, length */
#define PROXY_MAX	536	/* the most we hold: the spec's "fits in a
				   minimal TCP segment"; v2 with TLVs beyond
				   it is refused */

enum proxy_result {
	PROXY_MORE,	/* a valid prefix: read more */
	PROXY_DONE,	/* a header of len bytes */
	PROXY_ERROR	/* not acceptable: err says why */
};

/* Why a header is refused; proxy_error_name() gives the words. */
enum proxy_error {
	PROXY_E_NONE = 0,
	PROXY_E_SIGNATURE,	/* not a PROXY header at all */
	PROXY_E_TOO_LONG,	/* v1 without CRLF in 107 bytes, v2 > MAX */
	PROXY_E_SYNTAX,		/* v1: grammar, a lone CR or LF, bad bytes */
	PROXY_E_ADDRESS,	/* v1: an address or port that is not one */
	PROXY_E_FAMILY,		/* v1 TCP4 with an IPv6 address etc. */
	PROXY_E_VERSION,	/* v2: version other than 2 */
	PROXY_E_COMMAND,	/* v2: command other than LOCAL, PROXY */
	PROXY_E_PROTOCOL,	/* v2: unknown family, or not STREAM */
	PROXY_E_LENGTH,		/* v2: addresses longer than the length */
	PROXY_E_TLV		/* v2: a TLV past the end */
};

struct proxy_hdr {
	size_t		 len;		/* bytes of the header (DONE) */
	int		 version;	/* 1 or 2 (DONE) */
	int		 local;		/* v2 LOCAL: the balancer's own */
	struct net_peer	 src;		/* the client; family 0: unknown */
	struct net_peer	 dst;		/* the address it connected to */
};

enum proxy_result proxy_parse(const uint8_t *, size_t, struct proxy_hdr *,
	    enum proxy_error *);
const char	*proxy_error_name(enum proxy_error);

#endif /* MSGD_PROXY_H */

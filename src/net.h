/*
 * net.h: listen addresses and sockets, peers and the allow list.
 *
 * Address syntax (config and msgctl -H/-U):
 *	host:port	IPv4 literal, "*" (all IPv4) or "localhost"
 *	[v6addr]:port	IPv6 literal, "[::]" for all IPv6
 *	unix:/path	UNIX stream socket
 * Names other than localhost are refused: a daemon must not block on DNS
 * at start, and a listen address should mean one thing.
 */
#ifndef MSGD_NET_H
#define MSGD_NET_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stddef.h>
#include <stdint.h>

#define NET_ADDRSTRLEN	128

struct net_addr {
	int			family;	/* AF_INET, AF_INET6, AF_UNIX */
	struct sockaddr_storage	ss;
	socklen_t		sslen;
	char			text[NET_ADDRSTRLEN];	/* as given */
};

/* An address block of an allow list: "10.0.0.0/8", "::1/128", "1.2.3.4". */
struct net_cidr {
	int	family;		/* AF_INET or AF_INET6 */
	uint8_t	addr[16];
	int	prefix;
};

/*
 * A client's address, compact (20 bytes, not a 128-byte sockaddr): what a
 * connection keeps, what a hand-over carries to another worker (xfer.h),
 * and what the allow list and protected mode look at.  An IPv4-mapped
 * IPv6 peer stays as it arrived (logs show it so); only the checks see it
 * as the IPv4 address it stands for.
 */
struct net_peer {
	uint8_t		family;		/* AF_INET(6), AF_UNIX; 0: none */
	uint8_t		pad;
	uint16_t	port;		/* host order; 0 for unix */
	uint8_t		addr[16];	/* IPv4: the first 4 bytes */
};

int	net_parse_addr(const char *, struct net_addr *, char *, size_t);
int	net_listen_udp(const struct net_addr *, char *, size_t);
int	net_parse_cidr(const char *, struct net_cidr *, char *, size_t);
int	net_cidr_match(const struct net_cidr *, const struct net_peer *);
int	net_addr_is_loopback(const struct net_addr *);
int	net_listen(const struct net_addr *, int, char *, size_t);
int	net_listen_mode(const struct net_addr *, int, mode_t, gid_t, char *,
	    size_t);
int	net_unlink_unix(const struct net_addr *);
int	net_connect(const struct net_addr *, int, char *, size_t);
void	net_peer_str(const struct sockaddr *, socklen_t, char *, size_t);
int	net_is_unix(const struct net_addr *);

void	net_peer_set(struct net_peer *, const struct sockaddr *, socklen_t);
void	net_peer_fmt(const struct net_peer *, int, char *, size_t);
int	net_peer_is_loopback(const struct net_peer *);
int	net_peer_allowed(const struct net_cidr *, int, const struct net_peer *);

#endif /* MSGD_NET_H */

/*
 * net.c: parse addresses, open listeners, connect with a deadline.
 * Every socket is created non-blocking and close-on-exec in one call, so no
 * descriptor can leak into a child between creation and a later fcntl().
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "util.h"

/* close(fd) on an error path, keeping the errno that caused it; -1. */
static int
close_keep_errno(int fd)
{
	int	saved = errno;

	close(fd);
	errno = saved;
	return (-1);
}

/* Parse "port" into 1..65535. */
static int
parse_port(const char *s, in_port_t *port, char *cause, size_t len,
    const char *addr)
{
	uint64_t	 v;
	const char	*errstr;

	if (parse_u64(s, 1, 65535, &v, &errstr) == -1) {
		snprintf(cause, len, "\"%s\": port must be 1..65535, got "
		    "\"%s\" (%s)", addr, s, errstr);
		return (-1);
	}
	*port = htons((in_port_t)v);
	return (0);
}

/* "unix:/path": the path must fit sun_path with its NUL. */
static int
parse_unix(const char *s, struct net_addr *a, char *cause, size_t len)
{
	struct sockaddr_un	*sun = (struct sockaddr_un *)&a->ss;

	if (s[5] == '\0') {
		snprintf(cause, len, "\"%s\": empty socket path", s);
		return (-1);
	}
	if (strlen(s + 5) >= sizeof(sun->sun_path)) {
		snprintf(cause, len, "\"%s\": socket path longer than "
		    "%zu bytes", s, sizeof(sun->sun_path) - 1);
		return (-1);
	}
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, s + 5, strlen(s + 5) + 1);
	a->family = AF_UNIX;
	a->sslen = sizeof(*sun);
	return (0);
}

/* "[v6addr]:port", a numeric IPv6 address in brackets. */
static int
parse_inet6(const char *s, struct net_addr *a, char *cause, size_t len)
{
	struct sockaddr_in6	*sin6;
	char			 host[NET_ADDRSTRLEN];
	const char		*end;
	size_t			 hlen;

	if ((end = strchr(s, ']')) == NULL || end[1] != ':') {
		snprintf(cause, len, "\"%s\": expected [v6addr]:port", s);
		return (-1);
	}
	hlen = (size_t)(end - s - 1);
	memcpy(host, s + 1, hlen);
	host[hlen] = '\0';
	sin6 = (struct sockaddr_in6 *)&a->ss;
	sin6->sin6_family = AF_INET6;
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
		snprintf(cause, len, "\"%s\": \"%s\" is not an IPv6 "
		    "address", s, host);
		return (-1);
	}
	if (parse_port(end + 2, &sin6->sin6_port, cause, len, s) == -1)
		return (-1);
	a->family = AF_INET6;
	a->sslen = sizeof(*sin6);
	return (0);
}

/* "host:port": a numeric IPv4 address, "*" or "localhost". */
static int
parse_inet(const char *s, struct net_addr *a, char *cause, size_t len)
{
	struct sockaddr_in	*sin;
	char			 host[NET_ADDRSTRLEN];
	const char		*colon;
	size_t			 hlen;

	if ((colon = strrchr(s, ':')) == NULL) {
		snprintf(cause, len, "\"%s\": expected host:port, [v6addr]:port "
		    "or unix:/path", s);
		return (-1);
	}
	hlen = (size_t)(colon - s);
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (strchr(host, ':') != NULL) {
		snprintf(cause, len, "\"%s\": put IPv6 addresses in brackets, "
		    "like [::1]:7878", s);
		return (-1);
	}
	sin = (struct sockaddr_in *)&a->ss;
	sin->sin_family = AF_INET;
	if (strcmp(host, "*") == 0)
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (strcmp(host, "localhost") == 0)
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
		snprintf(cause, len, "\"%s\": \"%s\" is not an IPv4 address "
		    "(names other than localhost are not resolved)", s, host);
		return (-1);
	}
	if (parse_port(colon + 1, &sin->sin_port, cause, len, s) == -1)
		return (-1);
	a->family = AF_INET;
	a->sslen = sizeof(*sin);
	return (0);
}

/*
 * Parse an address in one of the forms in net.h.  On error, cause names
 * the address and what is wrong with it.
 */
int
net_parse_addr(const char *s, struct net_addr *a, char *cause, size_t len)
{
	memset(a, 0, sizeof(*a));
	if (strlen(s) >= sizeof(a->text)) {
		snprintf(cause, len, "\"%.32s...\": address too long", s);
		return (-1);
	}
	snprintf(a->text, sizeof(a->text), "%s", s);
	if (strncmp(s, "unix:", 5) == 0)
		return (parse_unix(s, a, cause, len));
	if (s[0] == '[')
		return (parse_inet6(s, a, cause, len));
	return (parse_inet(s, a, cause, len));
}

int
net_is_unix(const struct net_addr *a)
{
	return (a->family == AF_UNIX);
}

/*
 * A unix socket path already exists.  If a server answers on it, refuse;
 * if nothing listens (a crash left it behind), remove it.  Anything that is
 * not a socket is never removed.
 */
static int
unix_reclaim(const struct net_addr *a, char *cause, size_t len)
{
	const struct sockaddr_un	*sun = (const struct sockaddr_un *)&a->ss;
	struct stat			 st;
	int				 fd, rc;

	if (lstat(sun->sun_path, &st) == -1)
		return (errno == ENOENT ? 0 : -1);
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(cause, len, "%s: exists and is not a socket",
		    a->text);
		errno = EEXIST;
		return (-1);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	rc = connect(fd, (const struct sockaddr *)sun, a->sslen);
	close(fd);
	if (rc == 0) {
		snprintf(cause, len, "%s: another server is listening on it",
		    a->text);
		errno = EADDRINUSE;
		return (-1);
	}
	if (errno != ECONNREFUSED && errno != ENOENT) {
		snprintf(cause, len, "%s: cannot check the existing socket: %s",
		    a->text, strerror(errno));
		return (-1);
	}
	if (unlink(sun->sun_path) == -1 && errno != ENOENT) {
		snprintf(cause, len, "%s: cannot remove the stale socket: %s",
		    a->text, strerror(errno));
		return (-1);
	}
	return (0);
}

/*
 * Bind a unix socket whose file is born with mode and group gid ((gid_t)-1:
 * ours): the umask and the effective gid are set around bind, so the file
 * is never more open than asked, even for an instant, and nothing is
 * changed later by path in a directory someone else may write.
 */
static int
unix_bind(int fd, const struct net_addr *a, mode_t mode, gid_t gid)
{
	mode_t	omask;
	gid_t	ogid = getegid();
	int	rc, saved;

	/* Workers of that group could not start either: they will say so. */
	if (gid != (gid_t)-1 && gid != ogid && setegid(gid) == -1)
		log_warn("%s: cannot give the socket group %u", a->text,
		    (unsigned)gid);
	omask = umask(~mode & 0777);
	rc = bind(fd, (const struct sockaddr *)&a->ss, a->sslen);
	saved = errno;
	umask(omask);
	if (getegid() != ogid && setegid(ogid) == -1)
		abort();	/* cannot happen: we held ogid a moment ago */
	errno = saved;
	return (rc);
}

/*
 * Open a listening socket for a: non-blocking, close-on-exec, SO_REUSEADDR
 * (so a restart does not wait for TIME_WAIT), IPV6_V6ONLY for IPv6 (so
 * "[::]:p" and "*:p" can be listed together).  Returns the fd or -1.
 */
int
net_listen(const struct net_addr *a, int backlog, char *cause, size_t len)
{
	return (net_listen_mode(a, backlog, 0660, (gid_t)-1, cause, len));
}

/* net_listen, and a unix socket gets mode and group gid (see unix_bind). */
int
net_listen_mode(const struct net_addr *a, int backlog, mode_t mode, gid_t gid,
    char *cause, size_t len)
{
	int	fd, on = 1, rc;

	cause[0] = '\0';
	if (a->family == AF_UNIX && unix_reclaim(a, cause, len) == -1) {
		if (cause[0] == '\0')
			snprintf(cause, len, "%s: %s", a->text,
			    strerror(errno));
		return (-1);
	}
	fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(cause, len, "%s: socket: %s", a->text,
		    strerror(errno));
		return (-1);
	}
	if (a->family != AF_UNIX && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR,
	    &on, sizeof(on)) == -1) {
		snprintf(cause, len, "%s: setsockopt(SO_REUSEADDR): %s",
		    a->text, strerror(errno));
		goto fail;
	}
	/* Accepted sockets inherit it: msgd batches its own writes. */
	if (a->family != AF_UNIX && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
	    &on, sizeof(on)) == -1) {
		snprintf(cause, len, "%s: setsockopt(TCP_NODELAY): %s",
		    a->text, strerror(errno));
		goto fail;
	}
	if (a->family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1) {
		snprintf(cause, len, "%s: setsockopt(IPV6_V6ONLY): %s",
		    a->text, strerror(errno));
		goto fail;
	}
	if (a->family == AF_UNIX)
		rc = unix_bind(fd, a, mode, gid);
	else
		rc = bind(fd, (const struct sockaddr *)&a->ss, a->sslen);
	if (rc == -1) {
		snprintf(cause, len, "%s: bind: %s", a->text, strerror(errno));
		goto fail;
	}
	if (listen(fd, backlog) == -1) {
		snprintf(cause, len, "%s: listen: %s", a->text,
		    strerror(errno));
		goto fail;
	}
	return (fd);
fail:
	return (close_keep_errno(fd));
}

/* Remove the file of a unix listener we created; other kinds: no-op. */
int
net_unlink_unix(const struct net_addr *a)
{
	const struct sockaddr_un	*sun = (const struct sockaddr_un *)&a->ss;

	if (a->family != AF_UNIX)
		return (0);
	if (unlink(sun->sun_path) == -1 && errno != ENOENT)
		return (-1);
	return (0);
}

/*
 * Connect to a within timeout_ms.  The returned fd is blocking-free
 * (O_NONBLOCK stays set: callers wait with poll), close-on-exec, and TCP
 * sockets have TCP_NODELAY.
 */
int
net_connect(const struct net_addr *a, int timeout_ms, char *cause, size_t len)
{
	struct pollfd	pfd;
	socklen_t	slen;
	int		fd, err, on = 1, rc;

	fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(cause, len, "socket: %s", strerror(errno));
		return (-1);
	}
	if (a->family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (connect(fd, (const struct sockaddr *)&a->ss, a->sslen) == 0)
		return (fd);
	/*
	 * Only EINPROGRESS means a connection is under way.  EAGAIN (a unix
	 * listener's queue is full, or no local TCP port is free) leaves the
	 * socket unconnected: polling it would report it writable at once.
	 */
	if (errno != EINPROGRESS) {
		snprintf(cause, len, "connect to %s: %s", a->text,
		    strerror(errno));
		goto fail;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	do {
		rc = poll(&pfd, 1, timeout_ms);
	} while (rc == -1 && errno == EINTR);
	if (rc == 0) {
		snprintf(cause, len, "connect to %s: timed out after %d ms",
		    a->text, timeout_ms);
		errno = ETIMEDOUT;
		goto fail;
	}
	if (rc == -1) {
		snprintf(cause, len, "poll: %s", strerror(errno));
		goto fail;
	}
	slen = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &slen) == -1)
		err = errno;
	if (err != 0) {
		errno = err;
		snprintf(cause, len, "connect to %s: %s", a->text,
		    strerror(err));
		goto fail;
	}
	return (fd);
fail:
	return (close_keep_errno(fd));
}

/*
 * The compact form of a peer address of length slen (a truncated one, or
 * NULL, is no peer: family 0).  The one place a sockaddr becomes a peer.
 */
void
net_peer_set(struct net_peer *p, const struct sockaddr *sa, socklen_t slen)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	memset(p, 0, sizeof(*p));
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET && slen >= sizeof(*sin)) {
		sin = (const void *)sa;
		p->family = AF_INET;
		p->port = ntohs(sin->sin_port);
		memcpy(p->addr, &sin->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6 && slen >= sizeof(*sin6)) {
		sin6 = (const void *)sa;
		p->family = AF_INET6;
		p->port = ntohs(sin6->sin6_port);
		memcpy(p->addr, &sin6->sin6_addr, 16);
	} else if (sa->sa_family == AF_UNIX)
		p->family = AF_UNIX;
}

/*
 * A peer for logs: "1.2.3.4:5", "[::1]:5" (without the port: "1.2.3.4",
 * "::1"), "unix" or "unknown".
 */
void
net_peer_fmt(const struct net_peer *p, int with_port, char *buf, size_t len)
{
	char	host[INET6_ADDRSTRLEN];

	if (p->family == AF_INET || p->family == AF_INET6)
		inet_ntop(p->family, p->addr, host, sizeof(host));
	if (p->family == AF_INET && with_port)
		snprintf(buf, len, "%s:%u", host, p->port);
	else if (p->family == AF_INET6 && with_port)
		snprintf(buf, len, "[%s]:%u", host, p->port);
	else if (p->family == AF_INET || p->family == AF_INET6)
		snprintf(buf, len, "%s", host);
	else if (p->family == AF_UNIX)
		snprintf(buf, len, "unix");
	else
		snprintf(buf, len, "unknown");
}

/* Render a peer address for logs: "1.2.3.4:5", "[::1]:5" or "unix". */
void
net_peer_str(const struct sockaddr *sa, socklen_t slen, char *buf, size_t len)
{
	struct net_peer	p;

	net_peer_set(&p, sa, slen);
	net_peer_fmt(&p, 1, buf, len);
}

/*
 * A UDP socket for a: non-blocking, close-on-exec.  No SO_REUSEADDR:
 * UDP has no TIME_WAIT to wait out, and with it on both sockets a
 * second server binds the same port and takes its datagrams, where it
 * must be refused as on TCP.
 */
int
net_listen_udp(const struct net_addr *a, char *cause, size_t len)
{
	int	fd, on = 1;

	if (a->family == AF_UNIX) {
		snprintf(cause, len, "%s: UDP needs host:port or [v6]:port",
		    a->text);
		return (-1);
	}
	fd = socket(a->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(cause, len, "%s: socket: %s", a->text,
		    strerror(errno));
		return (-1);
	}
	if (a->family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1) {
		snprintf(cause, len, "%s: setsockopt: %s", a->text,
		    strerror(errno));
		goto fail;
	}
	if (bind(fd, (const struct sockaddr *)&a->ss, a->sslen) == -1) {
		snprintf(cause, len, "%s: bind (udp): %s", a->text,
		    strerror(errno));
		goto fail;
	}
	return (fd);
fail:
	return (close_keep_errno(fd));
}

/* Parse "addr/prefix" (IPv4 or IPv6; no prefix: a single host). */
int
net_parse_cidr(const char *s, struct net_cidr *c, char *cause, size_t len)
{
	char		 host[INET6_ADDRSTRLEN + 1];
	const char	*slash, *errstr;
	uint64_t	 prefix;
	size_t		 hlen;
	int		 max, i, bits;

	memset(c, 0, sizeof(*c));
	slash = strchr(s, '/');
	hlen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (hlen == 0 || hlen >= sizeof(host)) {
		snprintf(cause, len, "\"%s\": expected an address or "
		    "address/prefix", s);
		return (-1);
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		snprintf(cause, len, "\"%s\": \"%s\" is not an IPv4 or IPv6 "
		    "address", s, host);
		return (-1);
	}
	c->prefix = max;
	if (slash != NULL) {
		if (parse_u64(slash + 1, 0, (uint64_t)max, &prefix,
		    &errstr) == -1) {
			snprintf(cause, len, "\"%s\": prefix must be 0..%d",
			    s, max);
			return (-1);
		}
		c->prefix = (int)prefix;
	}
	/* Host bits must be zero: "10.1.2.3/8" is a typo, not a network. */
	for (i = 0; i < max / 8; i++) {
		bits = c->prefix - i * 8;
		if (bits >= 8)
			continue;
		if ((c->addr[i] & (bits <= 0 ? 0xff : 0xff >> bits)) != 0) {
			snprintf(cause, len, "\"%s\": address has bits set "
			    "beyond the /%d prefix", s, c->prefix);
			return (-1);
		}
	}
	return (0);
}

/* The first 96 bits of an IPv4-mapped IPv6 address, ::ffff:0:0/96. */
static const uint8_t	v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0xff, 0xff };

/* The address bytes of an IP peer (IPv4-mapped IPv6 seen as IPv4). */
static int
peer_bytes(const struct net_peer *p, const uint8_t **b)
{
	if (p->family == AF_INET) {
		*b = p->addr;
		return (AF_INET);
	}
	if (p->family == AF_INET6) {
		if (memcmp(p->addr, v4mapped, sizeof(v4mapped)) == 0) {
			*b = p->addr + sizeof(v4mapped);
			return (AF_INET);
		}
		*b = p->addr;
		return (AF_INET6);
	}
	return (-1);
}

/*
 * Is the peer inside block c?  Both sides are compared in one form: a
 * peer that is IPv4-mapped IPv6 (an IPv4 client of a dual-stack socket)
 * is seen as IPv4 (peer_bytes), and so is a block written inside
 * ::ffff:0:0/96 (::ffff:127.0.0.1 is 127.0.0.1/32, ::ffff:0:0/96 is
 * 0.0.0.0/0); either then matches an IPv4 peer however it arrived.  A
 * shorter IPv6 block (::/0, ::/80) stays IPv6-only: it never lets
 * in IPv4 peers, which an allow list that meant "any IPv6" did not ask for.
 */
int
net_cidr_match(const struct net_cidr *c, const struct net_peer *peer)
{
	const uint8_t	*p = NULL, *a = c->addr;
	int		 i, bits, family = c->family, prefix = c->prefix;

	if (family == AF_INET6 && prefix >= 96 &&
	    memcmp(a, v4mapped, sizeof(v4mapped)) == 0) {
		family = AF_INET;
		a += sizeof(v4mapped);
		prefix -= 96;
	}
	if (peer_bytes(peer, &p) != family)
		return (0);
	for (i = 0; i * 8 < prefix; i++) {
		bits = prefix - i * 8;
		if (bits >= 8) {
			if (p[i] != a[i])
				return (0);
		} else if (((p[i] ^ a[i]) & (0xff << (8 - bits)) & 0xff))
			return (0);
	}
	return (1);
}

/*
 * May this peer use the server at all: the allow list's n blocks (none:
 * everyone).  Unix peers always may: the socket's mode decides for them.
 * The one check, for TCP at accept, UDP per datagram and hand-overs.
 */
int
net_peer_allowed(const struct net_cidr *allow, int n,
    const struct net_peer *p)
{
	int	i;

	if (n == 0 || p->family == AF_UNIX)
		return (1);
	for (i = 0; i < n; i++)
		if (net_cidr_match(&allow[i], p))
			return (1);
	return (0);
}

/* A peer on this host's loopback (127.0.0.0/8, ::1) or a unix socket. */
int
net_peer_is_loopback(const struct net_peer *peer)
{
	static const uint8_t	one[16] = { [15] = 1 };
	const uint8_t		*p = NULL;
	int			 fam;

	if (peer->family == AF_UNIX)
		return (1);
	fam = peer_bytes(peer, &p);
	if (fam == AF_INET)
		return (p[0] == 127);
	if (fam == AF_INET6)
		return (memcmp(p, one, 16) == 0);
	return (0);
}

/* A listen address that only loopback peers can reach. */
int
net_addr_is_loopback(const struct net_addr *a)
{
	struct net_peer	p;

	net_peer_set(&p, (const struct sockaddr *)&a->ss, a->sslen);
	return (net_peer_is_loopback(&p));
}

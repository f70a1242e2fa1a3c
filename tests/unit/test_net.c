/*
 * test_net.c: address parsing, listeners (TCP and unix, with stale socket
 * reclaim), connecting, descriptor flags, the compact peer (its forms,
 * names, loopback, the allow list, the hand-over) and peer names.  Sockets
 * are opened on 127.0.0.1 and in a private temporary directory only.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "net.h"
#include "util.h"
#include "xfer.h"

#define TIMEOUT_MS	2000

/* Per test: a private directory and a socket path inside it. */
struct tmp {
	char	dir[64];
	char	path[96];	/* dir/sock */
	char	addr[112];	/* unix:dir/sock */
};

static int
tmp_setup(void **state)
{
	struct tmp	*t;
	const char	*base = getenv("TMPDIR");

	/* A unix socket path must stay short: ignore a long $TMPDIR. */
	if (base == NULL || base[0] == '\0' || strlen(base) > 40)
		base = "/tmp";
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (-1);
	snprintf(t->dir, sizeof(t->dir), "%s/test_net.XXXXXX", base);
	if (mkdtemp(t->dir) == NULL) {
		free(t);
		return (-1);
	}
	snprintf(t->path, sizeof(t->path), "%s/sock", t->dir);
	snprintf(t->addr, sizeof(t->addr), "unix:%s", t->path);
	*state = t;
	return (0);
}

static int
tmp_teardown(void **state)
{
	struct tmp	*t = *state;

	unlink(t->path);
	rmdir(t->dir);
	free(t);
	return (0);
}

static void
parse_ok(const char *s, struct net_addr *a)
{
	char	cause[256] = "";

	if (net_parse_addr(s, a, cause, sizeof(cause)) != 0)
		fail_msg("%s: %s", s, cause);
	assert_string_equal(a->text, s);
}

/* s is refused and the cause names it and says what is wrong. */
static void
parse_bad(const char *s, const char *what)
{
	struct net_addr	a;
	char		cause[256] = "", quoted[200];

	assert_int_equal(net_parse_addr(s, &a, cause, sizeof(cause)), -1);
	snprintf(quoted, sizeof(quoted), "\"%s\"", s);
	if (strstr(cause, quoted) == NULL || strstr(cause, what) == NULL)
		fail_msg("%s: cause \"%s\" lacks the address or \"%s\"", s,
		    cause, what);
}

static void
assert_fd_flags(int fd)
{
	assert_true(fd >= 0);
	assert_int_not_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	assert_int_not_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
}

static int
listen_ok(const struct net_addr *a)
{
	char	cause[256] = "";
	int	fd;

	if ((fd = net_listen(a, 16, cause, sizeof(cause))) == -1)
		fail_msg("listen %s: %s", a->text, cause);
	assert_fd_flags(fd);
	return (fd);
}

static int
connect_ok(const struct net_addr *a)
{
	char	cause[256] = "";
	int	fd;

	if ((fd = net_connect(a, TIMEOUT_MS, cause, sizeof(cause))) == -1)
		fail_msg("connect %s: %s", a->text, cause);
	assert_fd_flags(fd);
	return (fd);
}

static int
accept_one(int lfd)
{
	struct pollfd	pfd = { lfd, POLLIN, 0 };
	int		fd;

	assert_int_equal(poll(&pfd, 1, TIMEOUT_MS), 1);
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	return (fd);
}

/* Bytes written on one end arrive at the other: the pair is connected. */
static void
assert_connected(int a, int b)
{
	struct pollfd	pfd = { b, POLLIN, 0 };
	char		buf[8];

	assert_int_equal(write(a, "ping", 4), 4);
	assert_int_equal(poll(&pfd, 1, TIMEOUT_MS), 1);
	assert_int_equal(read(b, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "ping", 4);
}

/* A TCP port on 127.0.0.1 that nothing listens on right now. */
static unsigned int
free_tcp_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		slen = sizeof(sin);
	int			fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	close(fd);
	return (ntohs(sin.sin_port));
}

static int
sockopt(int fd, int level, int name)
{
	socklen_t	len;
	int		v = -1;

	len = sizeof(v);
	assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
	return (v);
}

/* s parses as IPv4 address ip (host order), port. */
static void
assert_inet(const char *s, uint32_t ip, unsigned int port)
{
	struct net_addr			 a;
	const struct sockaddr_in	*sin = (const void *)&a.ss;

	parse_ok(s, &a);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(a.sslen, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(sin->sin_port), port);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), ip);
	assert_false(net_is_unix(&a));
}

/* s parses as IPv6 address ip, port. */
static void
assert_inet6(const char *s, const struct in6_addr *ip, unsigned int port)
{
	struct net_addr			 a;
	const struct sockaddr_in6	*sin6 = (const void *)&a.ss;

	parse_ok(s, &a);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(a.sslen, sizeof(struct sockaddr_in6));
	assert_int_equal(ntohs(sin6->sin6_port), port);
	assert_memory_equal(&sin6->sin6_addr, ip, sizeof(*ip));
	assert_false(net_is_unix(&a));
}

static void
test_net_parse_addr_ipv4(void **state)
{
	(void)state;
	assert_inet("127.0.0.1:7878", INADDR_LOOPBACK, 7878);
	assert_inet("10.1.2.3:65535", 0x0a010203, 65535);
}

static void
test_net_parse_addr_ipv4_any(void **state)
{
	(void)state;
	assert_inet("*:80", INADDR_ANY, 80);
}

static void
test_net_parse_addr_localhost(void **state)
{
	(void)state;
	assert_inet("localhost:1", INADDR_LOOPBACK, 1);
}

static void
test_net_parse_addr_ipv6(void **state)
{
	(void)state;
	assert_inet6("[::1]:7878", &in6addr_loopback, 7878);
	assert_inet6("[::]:1", &in6addr_any, 1);
}

static void
test_net_parse_addr_unix(void **state)
{
	struct net_addr			 a;
	const struct sockaddr_un	*sun = (const void *)&a.ss;
	char				 s[5 + 108 + 1];

	(void)state;
	parse_ok("unix:/tmp/x", &a);
	assert_int_equal(a.family, AF_UNIX);
	assert_int_equal(sun->sun_family, AF_UNIX);
	assert_string_equal(sun->sun_path, "/tmp/x");
	assert_true(net_is_unix(&a));

	/* 107 bytes and the NUL fill sun_path exactly. */
	memcpy(s, "unix:/", 6);
	memset(s + 6, 'p', 106);
	s[5 + 107] = '\0';
	parse_ok(s, &a);
	assert_int_equal(strlen(sun->sun_path), 107);
}

static void
test_net_parse_addr_bad(void **state)
{
	(void)state;
	parse_bad("127.0.0.1", "expected host:port");
	parse_bad("", "expected host:port");
	parse_bad("127.0.0.1:", "port must be 1..65535");
	parse_bad("127.0.0.1:0", "port must be 1..65535");
	parse_bad("127.0.0.1:65536", "port must be 1..65535");
	parse_bad("127.0.0.1:abc", "port must be 1..65535");
	parse_bad("127.0.0.1:-1", "port must be 1..65535");
	parse_bad("127.0.0.1: 80", "port must be 1..65535");
	parse_bad("example.com:80", "not an IPv4 address");
	parse_bad("256.0.0.1:80", "not an IPv4 address");
	parse_bad(":80", "not an IPv4 address");
	parse_bad("::1:7878", "brackets");
	parse_bad("::1", "brackets");
	parse_bad("[::1:7878", "expected [v6addr]:port");
	parse_bad("[::1]", "expected [v6addr]:port");
	parse_bad("[::1]7878", "expected [v6addr]:port");
	parse_bad("[::1]:", "port must be 1..65535");
	parse_bad("[::1]:0", "port must be 1..65535");
	parse_bad("[1.2.3.4]:80", "not an IPv6 address");
	parse_bad("[]:80", "not an IPv6 address");
	parse_bad("unix:", "empty socket path");
}

static void
test_net_parse_addr_unix_too_long(void **state)
{
	char	s[5 + 108 + 1];

	(void)state;
	memcpy(s, "unix:/", 6);
	memset(s + 6, 'p', 107);
	s[5 + 108] = '\0';
	parse_bad(s, "longer than 107 bytes");
}

static void
test_net_parse_addr_too_long(void **state)
{
	struct net_addr	a;
	char		s[NET_ADDRSTRLEN + 10], cause[256] = "";

	(void)state;
	memset(s, '1', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	assert_int_equal(net_parse_addr(s, &a, cause, sizeof(cause)), -1);
	assert_non_null(strstr(cause, "address too long"));
	assert_non_null(strstr(cause, "\"1111"));
}

static void
test_net_listen_unix_connect(void **state)
{
	struct tmp	*t = *state;
	struct net_addr	 a;
	struct stat	 st;
	int		 lfd, cfd, sfd;

	parse_ok(t->addr, &a);
	lfd = listen_ok(&a);
	assert_int_equal(lstat(t->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));

	cfd = connect_ok(&a);
	sfd = accept_one(lfd);
	assert_connected(cfd, sfd);
	assert_connected(sfd, cfd);
	close(sfd);
	close(cfd);
	close(lfd);

	assert_int_equal(net_unlink_unix(&a), 0);
	assert_int_equal(lstat(t->path, &st), -1);
	assert_int_equal(errno, ENOENT);
	/* Already gone is not an error. */
	assert_int_equal(net_unlink_unix(&a), 0);
}

static void
test_net_listen_tcp_connect(void **state)
{
	struct net_addr	 a;
	struct sockaddr_storage ss;
	socklen_t	 slen = sizeof(ss);
	char		 s[64], peer[64], want[64];
	int		 lfd, cfd, sfd;

	(void)state;
	snprintf(s, sizeof(s), "127.0.0.1:%u", free_tcp_port());
	parse_ok(s, &a);
	lfd = listen_ok(&a);
	assert_int_equal(sockopt(lfd, SOL_SOCKET, SO_REUSEADDR), 1);
	assert_int_equal(sockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN), 1);

	cfd = connect_ok(&a);
	assert_int_not_equal(sockopt(cfd, IPPROTO_TCP, TCP_NODELAY), 0);
	sfd = accept_one(lfd);
	assert_connected(cfd, sfd);

	/* The accepted side names the peer as it is logged. */
	assert_int_equal(getpeername(sfd, (struct sockaddr *)&ss, &slen), 0);
	net_peer_str((struct sockaddr *)&ss, slen, peer, sizeof(peer));
	slen = sizeof(ss);
	assert_int_equal(getsockname(cfd, (struct sockaddr *)&ss, &slen), 0);
	snprintf(want, sizeof(want), "127.0.0.1:%u",
	    ntohs(((struct sockaddr_in *)&ss)->sin_port));
	assert_string_equal(peer, want);

	/* A TCP address has no file to remove. */
	assert_int_equal(net_unlink_unix(&a), 0);
	close(sfd);
	close(cfd);
	close(lfd);
}

static void
test_net_listen_tcp_in_use(void **state)
{
	struct net_addr	a;
	char		s[64], cause[256] = "";
	int		lfd;

	(void)state;
	snprintf(s, sizeof(s), "127.0.0.1:%u", free_tcp_port());
	parse_ok(s, &a);
	lfd = listen_ok(&a);
	errno = 0;
	assert_int_equal(net_listen(&a, 16, cause, sizeof(cause)), -1);
	assert_int_equal(errno, EADDRINUSE);
	assert_non_null(strstr(cause, s));
	assert_non_null(strstr(cause, "bind"));
	close(lfd);
}

/* A UDP port already bound, by anyone: refused, not shared. */
static void
test_net_listen_udp_in_use(void **state)
{
	struct net_addr		a;
	struct sockaddr_in	sin;
	socklen_t		slen = sizeof(sin);
	char			s[64], cause[256] = "";
	int			fd, on = 1;

	(void)state;
	/* The other owner as permissive as it can be. */
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_int_not_equal(fd, -1);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
	    sizeof(on)), 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	snprintf(s, sizeof(s), "127.0.0.1:%u", ntohs(sin.sin_port));
	parse_ok(s, &a);
	errno = 0;
	assert_int_equal(net_listen_udp(&a, cause, sizeof(cause)), -1);
	assert_int_equal(errno, EADDRINUSE);
	assert_non_null(strstr(cause, s));
	assert_non_null(strstr(cause, "bind (udp)"));
	close(fd);
}

/*
 * The other way round: another local user, with SO_REUSEADDR, must not
 * bind msgd's UDP port beside it and take its datagrams.
 */
static void
test_net_listen_udp_not_shared(void **state)
{
	struct net_addr	a;
	char		s[64], cause[256] = "";
	int		fd, lfd = -1, on = 1, i;

	(void)state;
	/* A port free for TCP may be taken for UDP: another, a few times. */
	for (i = 0; i < 5 && lfd == -1; i++) {
		snprintf(s, sizeof(s), "127.0.0.1:%u", free_tcp_port());
		parse_ok(s, &a);
		lfd = net_listen_udp(&a, cause, sizeof(cause));
	}
	assert_int_not_equal(lfd, -1);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_int_not_equal(fd, -1);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
	    sizeof(on)), 0);
	errno = 0;
	assert_int_equal(bind(fd, (struct sockaddr *)&a.ss, a.sslen), -1);
	assert_int_equal(errno, EADDRINUSE);
	close(fd);
	close(lfd);
}

static void
test_net_listen_ipv6_v6only(void **state)
{
	struct net_addr	a;
	char		s[64], cause[256] = "";
	int		lfd;

	(void)state;
	snprintf(s, sizeof(s), "[::1]:%u", free_tcp_port());
	parse_ok(s, &a);
	if ((lfd = net_listen(&a, 16, cause, sizeof(cause))) == -1) {
		if (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)
			skip();		/* no IPv6 loopback here */
		fail_msg("%s", cause);
	}
	assert_fd_flags(lfd);
	/* So that "*:p" and "[::]:p" can both be listed. */
	assert_int_equal(sockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY), 1);
	close(lfd);
}

static void
test_net_listen_unix_stale(void **state)
{
	struct tmp		*t = *state;
	struct net_addr		 a;
	struct stat		 st;
	int			 fd, lfd, cfd;

	parse_ok(t->addr, &a);
	/* A crashed server leaves its socket file behind. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (const struct sockaddr *)&a.ss, a.sslen), 0);
	close(fd);
	assert_int_equal(lstat(t->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));

	lfd = listen_ok(&a);
	cfd = connect_ok(&a);
	close(cfd);
	close(lfd);
}

static void
test_net_listen_unix_live_refused(void **state)
{
	struct tmp	*t = *state;
	struct net_addr	 a;
	char		 cause[256] = "";
	int		 lfd, cfd, sfd;

	parse_ok(t->addr, &a);
	lfd = listen_ok(&a);
	errno = 0;
	assert_int_equal(net_listen(&a, 16, cause, sizeof(cause)), -1);
	assert_int_equal(errno, EADDRINUSE);
	assert_non_null(strstr(cause, "another server"));
	assert_non_null(strstr(cause, t->addr));

	/* The first server keeps its socket and still answers. */
	cfd = connect_ok(&a);
	sfd = accept_one(lfd);
	/* The refused attempt's probe connection is queued first. */
	close(sfd);
	sfd = accept_one(lfd);
	assert_connected(cfd, sfd);
	close(sfd);
	close(cfd);
	close(lfd);
}

static void
test_net_listen_unix_regular_file(void **state)
{
	struct tmp	*t = *state;
	struct net_addr	 a;
	struct stat	 st;
	char		 cause[256] = "";
	int		 fd;

	parse_ok(t->addr, &a);
	fd = open(t->path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);

	assert_int_equal(net_listen(&a, 16, cause, sizeof(cause)), -1);
	assert_non_null(strstr(cause, "not a socket"));
	assert_non_null(strstr(cause, t->addr));
	assert_int_equal(lstat(t->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 4);
}

static void
test_net_listen_unix_no_dir(void **state)
{
	struct tmp	*t = *state;
	struct net_addr	 a;
	char		 s[128], cause[256] = "";

	snprintf(s, sizeof(s), "unix:%s/missing/sock", t->dir);
	parse_ok(s, &a);
	assert_int_equal(net_listen(&a, 16, cause, sizeof(cause)), -1);
	assert_non_null(strstr(cause, s));
}

static void
test_net_connect_refused(void **state)
{
	struct tmp	*t = *state;
	struct net_addr	 a;
	char		 s[64], cause[256] = "";

	parse_ok(t->addr, &a);
	errno = 0;
	assert_int_equal(net_connect(&a, TIMEOUT_MS, cause, sizeof(cause)),
	    -1);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(cause, t->addr));

	snprintf(s, sizeof(s), "127.0.0.1:%u", free_tcp_port());
	parse_ok(s, &a);
	cause[0] = '\0';
	errno = 0;
	assert_int_equal(net_connect(&a, TIMEOUT_MS, cause, sizeof(cause)),
	    -1);
	assert_int_equal(errno, ECONNREFUSED);
	assert_non_null(strstr(cause, s));
}

static void
test_net_connect_unix_queue_full(void **state)
{
	struct tmp	*t = *state;
	struct net_addr	 a;
	struct sockaddr_storage ss;
	socklen_t	 slen;
	char		 cause[256];
	int		 lfd, fds[8], i, n = 0, failed = 0;

	parse_ok(t->addr, &a);
	lfd = net_listen(&a, 0, cause, sizeof(cause));
	assert_true(lfd >= 0);
	/*
	 * Nobody accepts, so the queue fills.  Every descriptor returned
	 * must be connected; the rest must fail, not hand back a socket
	 * that is writable only because it is connected to nothing.
	 */
	for (i = 0; i < 8; i++) {
		cause[0] = '\0';
		fds[n] = net_connect(&a, 200, cause, sizeof(cause));
		if (fds[n] == -1) {
			assert_non_null(strstr(cause, t->addr));
			failed++;
			continue;
		}
		slen = sizeof(ss);
		if (getpeername(fds[n], (struct sockaddr *)&ss, &slen) == -1)
			fail_msg("connect %d returned an unconnected socket", i);
		n++;
	}
	assert_true(failed > 0);
	while (n > 0)
		close(fds[--n]);
	close(lfd);
}

static void
test_net_peer_str_forms(void **state)
{
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;
	struct sockaddr_un	sun;
	char			buf[64];

	(void)state;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(5);
	sin.sin_addr.s_addr = htonl(0x01020304);
	net_peer_str((struct sockaddr *)&sin, sizeof(sin), buf, sizeof(buf));
	assert_string_equal(buf, "1.2.3.4:5");
	/* A truncated address is not read past its length. */
	net_peer_str((struct sockaddr *)&sin, 4, buf, sizeof(buf));
	assert_string_equal(buf, "unknown");

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(65535);
	sin6.sin6_addr = in6addr_loopback;
	net_peer_str((struct sockaddr *)&sin6, sizeof(sin6), buf, sizeof(buf));
	assert_string_equal(buf, "[::1]:65535");

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	net_peer_str((struct sockaddr *)&sun, sizeof(sa_family_t), buf,
	    sizeof(buf));
	assert_string_equal(buf, "unix");

	sun.sun_family = AF_UNSPEC;
	net_peer_str((struct sockaddr *)&sun, sizeof(sun), buf, sizeof(buf));
	assert_string_equal(buf, "unknown");
}

/* A peer address of family af from its text form. */
static struct sockaddr_storage
peer(int af, const char *text)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)af;
	if (af == AF_INET)
		assert_int_equal(inet_pton(AF_INET, text, &sin->sin_addr), 1);
	else
		assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr),
		    1);
	return (ss);
}

static int
match(const char *block, int af, const char *addr)
{
	struct net_cidr		c;
	struct sockaddr_storage	ss = peer(af, addr);
	struct net_peer		p;
	char			cause[256];

	assert_int_equal(net_parse_cidr(block, &c, cause, sizeof(cause)), 0);
	net_peer_set(&p, (struct sockaddr *)&ss, sizeof(ss));
	return (net_cidr_match(&c, &p));
}

/*
 * Allow blocks: IPv4 and IPv6 as written, and IPv4-mapped IPv6 blocks
 * and peers treated as the IPv4 they stand for, whichever side is mapped.
 */
static void
test_net_cidr_match_mapped(void **state)
{
	(void)state;
	/* Plain blocks, plain peers. */
	assert_true(match("127.0.0.1", AF_INET, "127.0.0.1"));
	assert_false(match("127.0.0.1", AF_INET, "127.0.0.2"));
	assert_true(match("10.0.0.0/8", AF_INET, "10.200.3.4"));
	assert_false(match("10.0.0.0/8", AF_INET, "11.0.0.1"));
	assert_true(match("::1", AF_INET6, "::1"));
	assert_true(match("2001:db8::/32", AF_INET6, "2001:db8:1::5"));
	assert_false(match("2001:db8::/32", AF_INET6, "2001:db9::5"));
	/* An IPv4 block and a mapped peer (dual-stack socket). */
	assert_true(match("127.0.0.1", AF_INET6, "::ffff:127.0.0.1"));
	assert_true(match("10.0.0.0/8", AF_INET6, "::ffff:10.1.2.3"));
	assert_false(match("10.0.0.0/8", AF_INET6, "::ffff:11.1.2.3"));
	/* A mapped block and an IPv4 peer, or a mapped one. */
	assert_true(match("::ffff:127.0.0.1", AF_INET, "127.0.0.1"));
	assert_true(match("::ffff:127.0.0.1", AF_INET6, "::ffff:127.0.0.1"));
	assert_false(match("::ffff:127.0.0.1", AF_INET, "127.0.0.2"));
	assert_true(match("::ffff:0:0/96", AF_INET, "192.0.2.7"));
	assert_true(match("::ffff:0:0/96", AF_INET6, "::ffff:192.0.2.7"));
	assert_false(match("::ffff:0:0/96", AF_INET6, "::1"));
	assert_false(match("::ffff:0:0/96", AF_INET6, "2001:db8::1"));
	assert_true(match("::ffff:10.0.0.0/104", AF_INET, "10.9.8.7"));
	assert_false(match("::ffff:10.0.0.0/104", AF_INET, "11.9.8.7"));
	assert_true(match("::ffff:10.1.2.3/128", AF_INET, "10.1.2.3"));
	/* Not mapped: 64:ff9b::/96 (NAT64) is IPv6, not an IPv4 block. */
	assert_false(match("64:ff9b::/96", AF_INET, "10.1.2.3"));
	assert_true(match("64:ff9b::/96", AF_INET6, "64:ff9b::a01:203"));
	/* Shorter IPv6 blocks stay IPv6-only. */
	assert_false(match("::/0", AF_INET, "127.0.0.1"));
	assert_false(match("::/0", AF_INET6, "::ffff:127.0.0.1"));
	assert_true(match("::/0", AF_INET6, "::1"));
	assert_false(match("::/80", AF_INET, "127.0.0.1"));
	/* An IPv4 block never matches an IPv6 peer. */
	assert_false(match("0.0.0.0/0", AF_INET6, "::1"));
	assert_true(match("0.0.0.0/0", AF_INET6, "::ffff:1.2.3.4"));
}

/* The compact form of a peer of family af, port and address text. */
static struct net_peer
compact(int af, unsigned int port, const char *text)
{
	struct sockaddr_storage	 ss = peer(af, text);
	struct net_peer		 p;

	if (af == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
	net_peer_set(&p, (struct sockaddr *)&ss, sizeof(ss));
	return (p);
}

/*
 * sockaddr to compact peer: IPv4, IPv6, IPv4-mapped (kept as it came),
 * unix; a truncated address, NULL or another family is no peer.
 */
static void
test_net_peer_set_forms(void **state)
{
	static const uint8_t	v4[16] = { 192, 0, 2, 7 };
	static const uint8_t	mapped[16] = { [10] = 0xff, [11] = 0xff,
				    [12] = 10, [13] = 1, [14] = 2, [15] = 3 };
	static const uint8_t	none[16];
	struct sockaddr_in	sin;
	struct sockaddr_un	sun;
	struct net_peer		p;

	(void)state;
	assert_int_equal(sizeof(struct net_peer), 20);
	p = compact(AF_INET, 4242, "192.0.2.7");
	assert_int_equal(p.family, AF_INET);
	assert_int_equal(p.port, 4242);		/* host order */
	assert_memory_equal(p.addr, v4, 16);

	p = compact(AF_INET6, 1, "::1");
	assert_int_equal(p.family, AF_INET6);
	assert_int_equal(p.port, 1);
	assert_memory_equal(p.addr, in6addr_loopback.s6_addr, 16);

	p = compact(AF_INET6, 65535, "::ffff:10.1.2.3");
	assert_int_equal(p.family, AF_INET6);
	assert_int_equal(p.port, 65535);
	assert_memory_equal(p.addr, mapped, 16);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	/* An unnamed client socket: accept() gives the family only. */
	net_peer_set(&p, (struct sockaddr *)&sun, sizeof(sa_family_t));
	assert_int_equal(p.family, AF_UNIX);
	assert_int_equal(p.port, 0);
	assert_memory_equal(p.addr, none, 16);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(5);
	sin.sin_addr.s_addr = htonl(0x01020304);
	net_peer_set(&p, (struct sockaddr *)&sin, sizeof(sin) - 1);
	assert_int_equal(p.family, 0);
	assert_int_equal(p.port, 0);
	net_peer_set(&p, NULL, 0);
	assert_int_equal(p.family, 0);
	sun.sun_family = AF_UNSPEC;
	net_peer_set(&p, (struct sockaddr *)&sun, sizeof(sun));
	assert_int_equal(p.family, 0);
}

static void
test_net_peer_fmt_forms(void **state)
{
	struct net_peer	p;
	char		buf[64];

	(void)state;
	p = compact(AF_INET, 5, "1.2.3.4");
	net_peer_fmt(&p, 1, buf, sizeof(buf));
	assert_string_equal(buf, "1.2.3.4:5");
	net_peer_fmt(&p, 0, buf, sizeof(buf));
	assert_string_equal(buf, "1.2.3.4");
	p = compact(AF_INET6, 7878, "2001:db8::1");
	net_peer_fmt(&p, 1, buf, sizeof(buf));
	assert_string_equal(buf, "[2001:db8::1]:7878");
	net_peer_fmt(&p, 0, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::1");
	/* Logs show a mapped peer as it arrived. */
	p = compact(AF_INET6, 9, "::ffff:127.0.0.1");
	net_peer_fmt(&p, 1, buf, sizeof(buf));
	assert_string_equal(buf, "[::ffff:127.0.0.1]:9");
	memset(&p, 0, sizeof(p));
	p.family = AF_UNIX;
	net_peer_fmt(&p, 1, buf, sizeof(buf));
	assert_string_equal(buf, "unix");
	p.family = 0;
	net_peer_fmt(&p, 0, buf, sizeof(buf));
	assert_string_equal(buf, "unknown");
	/* Cut to the buffer, still a string. */
	p = compact(AF_INET6, 7878, "2001:db8::1");
	net_peer_fmt(&p, 1, buf, 6);
	assert_string_equal(buf, "[2001");
}

/* Protected mode's test: peers and listen addresses on loopback. */
static void
test_net_peer_is_loopback(void **state)
{
	static const struct {
		int		 af;
		const char	*text;
		int		 loopback;
	} peers[] = {
		{ AF_INET, "127.0.0.1", 1 },
		{ AF_INET, "127.255.0.9", 1 },
		{ AF_INET, "128.0.0.1", 0 },
		{ AF_INET6, "::1", 1 },
		{ AF_INET6, "::2", 0 },
		{ AF_INET6, "::ffff:127.0.0.1", 1 },
		{ AF_INET6, "::ffff:10.0.0.1", 0 },
	};
	struct net_addr	a;
	struct net_peer	p;
	size_t		i;

	(void)state;
	for (i = 0; i < nitems(peers); i++) {
		p = compact(peers[i].af, 1, peers[i].text);
		if (net_peer_is_loopback(&p) != peers[i].loopback)
			fail_msg("%s: loopback is not %d", peers[i].text,
			    peers[i].loopback);
	}
	memset(&p, 0, sizeof(p));
	assert_false(net_peer_is_loopback(&p));
	p.family = AF_UNIX;
	assert_true(net_peer_is_loopback(&p));

	parse_ok("127.0.0.1:7878", &a);
	assert_true(net_addr_is_loopback(&a));
	parse_ok("localhost:7878", &a);
	assert_true(net_addr_is_loopback(&a));
	parse_ok("*:7878", &a);
	assert_false(net_addr_is_loopback(&a));
	parse_ok("[::1]:7878", &a);
	assert_true(net_addr_is_loopback(&a));
	parse_ok("[::]:7878", &a);
	assert_false(net_addr_is_loopback(&a));
	parse_ok("unix:/run/msgd.sock", &a);
	assert_true(net_addr_is_loopback(&a));
}

/* The allow list: empty lets everyone in, unix peers always. */
static void
test_net_peer_allowed(void **state)
{
	struct net_cidr	allow[2];
	struct net_peer	p;
	char		cause[256];

	(void)state;
	assert_int_equal(net_parse_cidr("10.0.0.0/8", &allow[0], cause,
	    sizeof(cause)), 0);
	assert_int_equal(net_parse_cidr("2001:db8::/32", &allow[1], cause,
	    sizeof(cause)), 0);
	p = compact(AF_INET, 1, "192.0.2.1");
	assert_true(net_peer_allowed(allow, 0, &p));
	assert_false(net_peer_allowed(allow, 2, &p));
	p = compact(AF_INET, 1, "10.9.9.9");
	assert_true(net_peer_allowed(allow, 2, &p));
	p = compact(AF_INET6, 1, "::ffff:10.9.9.9");
	assert_true(net_peer_allowed(allow, 2, &p));
	assert_false(net_peer_allowed(allow + 1, 1, &p));
	p = compact(AF_INET6, 1, "2001:db8:5::1");
	assert_true(net_peer_allowed(allow, 2, &p));
	assert_false(net_peer_allowed(allow, 1, &p));
	memset(&p, 0, sizeof(p));
	assert_false(net_peer_allowed(allow, 2, &p));
	p.family = AF_UNIX;
	assert_true(net_peer_allowed(allow, 2, &p));
}

/*
 * A hand-over carries the peer whole; what is not IP arrives as a unix
 * peer (as it left: only unix connections have no address).
 */
static void
test_net_peer_xfer(void **state)
{
	struct xfer_info	in, out;
	int			sv[2], fd;

	(void)state;
	assert_int_equal(xfer_pair(sv), 0);
	memset(&in, 0, sizeof(in));
	in.version = XFER_VERSION;
	in.peer = compact(AF_INET6, 4711, "::ffff:192.0.2.9");
	assert_int_equal(xfer_send(sv[0], sv[1], &in), 0);
	assert_int_equal(xfer_recv(sv[1], &fd, &out), 1);
	assert_true(fd >= 0);
	close(fd);
	assert_memory_equal(&out.peer, &in.peer, sizeof(in.peer));

	in.peer.family = 99;
	assert_int_equal(xfer_send(sv[0], sv[1], &in), 0);
	assert_int_equal(xfer_recv(sv[1], &fd, &out), 1);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(out.peer.family, AF_UNIX);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_net_parse_addr_ipv4),
		cmocka_unit_test(test_net_parse_addr_ipv4_any),
		cmocka_unit_test(test_net_parse_addr_localhost),
		cmocka_unit_test(test_net_parse_addr_ipv6),
		cmocka_unit_test(test_net_parse_addr_unix),
		cmocka_unit_test(test_net_parse_addr_bad),
		cmocka_unit_test(test_net_parse_addr_unix_too_long),
		cmocka_unit_test(test_net_parse_addr_too_long),
		cmocka_unit_test_setup_teardown(test_net_listen_unix_connect,
		    tmp_setup, tmp_teardown),
		cmocka_unit_test(test_net_listen_tcp_connect),
		cmocka_unit_test(test_net_listen_tcp_in_use),
		cmocka_unit_test(test_net_listen_udp_in_use),
		cmocka_unit_test(test_net_listen_udp_not_shared),
		cmocka_unit_test(test_net_listen_ipv6_v6only),
		cmocka_unit_test_setup_teardown(test_net_listen_unix_stale,
		    tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(
		    test_net_listen_unix_live_refused, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(
		    test_net_listen_unix_regular_file, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_net_listen_unix_no_dir,
		    tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_net_connect_refused,
		    tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(
		    test_net_connect_unix_queue_full, tmp_setup, tmp_teardown),
		cmocka_unit_test(test_net_peer_str_forms),
		cmocka_unit_test(test_net_cidr_match_mapped),
		cmocka_unit_test(test_net_peer_set_forms),
		cmocka_unit_test(test_net_peer_fmt_forms),
		cmocka_unit_test(test_net_peer_is_loopback),
		cmocka_unit_test(test_net_peer_allowed),
		cmocka_unit_test(test_net_peer_xfer),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

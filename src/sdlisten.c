/*
 * sdlisten.c: take the listening sockets systemd (or an old msgd) passed
 * as fds 3.. with LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES.  Everything in
 * the variables is checked as hostile input: a count is a plain decimal
 * within SDLISTEN_MAX, each fd must be an open socket of a kind msgd can
 * serve, and each name fits.  Implemented here rather than with
 * libsystemd: it is a few getenv() and getsockopt() calls.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sdlisten.h"
#include "util.h"

static struct sdsock	sd_socks[SDLISTEN_MAX];
static int		sd_n;
/*
 * The variables' strings, kept after unsetenv(): they may be the copies
 * proctitle_init() made, which unsetenv() drops from environ but cannot
 * free (a leak LeakSanitizer reports otherwise).  volatile: never read,
 * the stores would be optimised away.
 */
static const char	*volatile sd_env[3];

/*
 * LISTEN_PID and LISTEN_FDS into the number of sockets for self.  As
 * sd_listen_fds(3): no LISTEN_FDS, or no LISTEN_PID, means none; a
 * LISTEN_PID of another process means the variables were left for
 * someone else (a parent that did not unset them): none, *ignored set.
 */
int
sdlisten_parse(const char *pid, const char *fds, pid_t self, int *n,
    int *ignored, char *cause, size_t len)
{
	const char	*errstr;
	uint64_t	 v;

	*n = 0;
	*ignored = 0;
	if (fds == NULL || pid == NULL)
		return (0);
	if (parse_u64(pid, 1, INT32_MAX, &v, &errstr) == -1) {
		snprintf(cause, len, "LISTEN_PID=\"%.32s\": not a process id "
		    "(%s)", pid, errstr);
		return (-1);
	}
	if ((pid_t)v != self) {
		*ignored = 1;
		return (0);
	}
	if (parse_u64(fds, 0, SDLISTEN_MAX, &v, &errstr) == -1) {
		snprintf(cause, len, "LISTEN_FDS=\"%.32s\": must be a count of "
		    "sockets from 0 to %d (%s)", fds, SDLISTEN_MAX, errstr);
		return (-1);
	}
	*n = (int)v;
	return (0);
}

/*
 * LISTEN_FDNAMES ("a:b:c") into n names.  systemd escapes nothing and
 * refuses ':' in a name, so a plain split is the protocol; a different
 * count is refused, as sd_listen_fds_with_names(3) does.
 */
int
sdlisten_split_names(const char *names, int n, char (*out)[SDLISTEN_NAME_MAX],
    char *cause, size_t len)
{
	const char	*p, *end;
	size_t		 l;
	int		 i;

	for (i = 0; i < n; i++)
		out[i][0] = '\0';
	if (names == NULL || n == 0)
		return (0);
	for (i = 0, p = names; ; i++, p = end + 1) {
		if ((end = strchr(p, ':')) == NULL)
			end = p + strlen(p);
		l = (size_t)(end - p);
		if (i >= n) {
			snprintf(cause, len, "LISTEN_FDNAMES: more names than "
			    "the %d sockets of LISTEN_FDS", n);
			return (-1);
		}
		if (l >= SDLISTEN_NAME_MAX) {
			snprintf(cause, len, "LISTEN_FDNAMES: name %d longer "
			    "than %d bytes", i + 1, SDLISTEN_NAME_MAX - 1);
			return (-1);
		}
		memcpy(out[i], p, l);
		out[i][l] = '\0';
		if (*end == '\0')
			break;
	}
	if (i + 1 != n) {
		snprintf(cause, len, "LISTEN_FDNAMES: %d names for the %d "
		    "sockets of LISTEN_FDS", i + 1, n);
		return (-1);
	}
	return (0);
}

/* The text of a bound address, as a listen entry writes it; -1: none. */
static int
sdlisten_addr_text(struct net_addr *a)
{
	const struct sockaddr_in	*sin = (const void *)&a->ss;
	const struct sockaddr_in6	*sin6 = (const void *)&a->ss;
	const struct sockaddr_un	*sun = (const void *)&a->ss;
	char				 host[INET6_ADDRSTRLEN];
	size_t				 plen;

	switch (a->family) {
	case AF_INET:
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(a->text, sizeof(a->text), "%s:%u", host,
		    (unsigned)ntohs(sin->sin_port));
		return (0);
	case AF_INET6:
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(a->text, sizeof(a->text), "[%s]:%u", host,
		    (unsigned)ntohs(sin6->sin6_port));
		return (0);
	default:
		/* Unnamed or abstract: no listen entry can name it. */
		if (a->sslen <= offsetof(struct sockaddr_un, sun_path) ||
		    sun->sun_path[0] == '\0')
			return (-1);
		plen = a->sslen - offsetof(struct sockaddr_un, sun_path);
		if (strnlen(sun->sun_path, plen) + 6 > sizeof(a->text))
			return (-1);
		snprintf(a->text, sizeof(a->text), "unix:%.*s",
		    (int)strnlen(sun->sun_path, plen), sun->sun_path);
		return (0);
	}
}

/*
 * Check that fd is an open socket msgd can serve (a listening stream or
 * a datagram socket, bound to an IPv4, IPv6 or named unix address) and
 * describe it in s.  Nothing is changed on the fd.
 */
int
sdlisten_describe(int fd, struct sdsock *s, char *cause, size_t len)
{
	struct stat	st;
	socklen_t	sl;
	int		type, acc;

	memset(s, 0, sizeof(*s));
	s->fd = fd;
	if (fstat(fd, &st) == -1) {
		snprintf(cause, len, "fd %d: %s", fd, strerror(errno));
		return (-1);
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(cause, len, "fd %d: not a socket", fd);
		return (-1);
	}
	sl = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) == -1) {
		snprintf(cause, len, "fd %d: getsockopt(SO_TYPE): %s", fd,
		    strerror(errno));
		return (-1);
	}
	s->addr.sslen = sizeof(s->addr.ss);
	if (getsockname(fd, (struct sockaddr *)&s->addr.ss,
	    &s->addr.sslen) == -1) {
		snprintf(cause, len, "fd %d: getsockname: %s", fd,
		    strerror(errno));
		return (-1);
	}
	s->addr.family = s->addr.ss.ss_family;
	if (s->addr.family != AF_INET && s->addr.family != AF_INET6 &&
	    s->addr.family != AF_UNIX) {
		snprintf(cause, len, "fd %d: address family %d, msgd serves "
		    "IPv4, IPv6 and unix sockets", fd, s->addr.family);
		return (-1);
	}
	if (sdlisten_addr_text(&s->addr) == -1) {
		snprintf(cause, len, "fd %d: a unix socket without a path "
		    "(unnamed or abstract) or with one too long, which no "
		    "listen entry can name", fd);
		return (-1);
	}
	if (type == SOCK_DGRAM) {
		if (s->addr.family == AF_UNIX) {
			snprintf(cause, len, "%s (fd %d): a unix datagram "
			    "socket, msgd serves datagrams over UDP only",
			    s->addr.text, fd);
			return (-1);
		}
		s->dgram = 1;
		return (0);
	}
	if (type != SOCK_STREAM) {
		snprintf(cause, len, "%s (fd %d): socket type %d, msgd "
		    "serves stream and datagram sockets", s->addr.text, fd,
		    type);
		return (-1);
	}
	sl = sizeof(acc);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &sl) == -1 ||
	    !acc) {
		snprintf(cause, len, "%s (fd %d): a stream socket that is not "
		    "listening (Accept=yes in the socket unit? msgd wants "
		    "Accept=no)", s->addr.text, fd);
		return (-1);
	}
	return (0);
}

/*
 * Make a passed socket like one msgd binds (net.c): close-on-exec,
 * non-blocking (workers share a listener: a blocking accept would hang
 * the one that lost the race; systemd passes them blocking unless told
 * NonBlocking=yes, and does not mind the flag on its copy), TCP_NODELAY
 * for TCP, which accepted sockets inherit.
 */
static int
sdlisten_adopt(struct sdsock *s, char *cause, size_t len)
{
	int	fl, on = 1;

	if ((fl = fcntl(s->fd, F_GETFD)) == -1 ||
	    fcntl(s->fd, F_SETFD, fl | FD_CLOEXEC) == -1) {
		snprintf(cause, len, "%s: fcntl(FD_CLOEXEC): %s", s->addr.text,
		    strerror(errno));
		return (-1);
	}
	if ((fl = fcntl(s->fd, F_GETFL)) == -1 ||
	    fcntl(s->fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		snprintf(cause, len, "%s: fcntl(O_NONBLOCK): %s", s->addr.text,
		    strerror(errno));
		return (-1);
	}
	if (!s->dgram && s->addr.family != AF_UNIX && setsockopt(s->fd,
	    IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1) {
		snprintf(cause, len, "%s: setsockopt(TCP_NODELAY): %s",
		    s->addr.text, strerror(errno));
		return (-1);
	}
	return (0);
}

/* Forget every passed socket (their fds stay as they are). */
void
sdlisten_reset(void)
{
	memset(sd_socks, 0, sizeof(sd_socks));
	sd_n = 0;
}

/*
 * Read the variables and forget them, then check and describe each
 * socket.  The fds are made close-on-exec (systemd passes them without);
 * workers get them through the master's own hand-down of listeners.
 */
int
sdlisten_init(char *cause, size_t len)
{
	static char	 names[SDLISTEN_MAX][SDLISTEN_NAME_MAX];
	const char	*pid, *fds, *nm;
	char		 why[512];
	int		 i, n, ignored, rc = -1;

	sdlisten_reset();
	sd_env[0] = pid = getenv("LISTEN_PID");
	sd_env[1] = fds = getenv("LISTEN_FDS");
	sd_env[2] = nm = getenv("LISTEN_FDNAMES");
	if (sdlisten_parse(pid, fds, getpid(), &n, &ignored, cause,
	    len) == -1 || sdlisten_split_names(nm, n, names, cause, len) == -1)
		goto done;
	if (ignored)
		log_warnx("LISTEN_PID=%s is not msgd's pid %ld: the LISTEN_FDS "
		    "sockets are another process's, ignored (msgd binds its "
		    "listeners itself)", pid, (long)getpid());
	for (i = 0; i < n; i++) {
		if (sdlisten_describe(SDLISTEN_FDS_START + i, &sd_socks[i],
		    why, sizeof(why)) == -1) {
			snprintf(cause, len, "socket %d of %d passed by "
			    "LISTEN_FDS%s%s%s: %s", i + 1, n,
			    names[i][0] != '\0' ? " (\"" : "", names[i],
			    names[i][0] != '\0' ? "\")" : "", why);
			sdlisten_reset();
			goto done;
		}
		memcpy(sd_socks[i].name, names[i], sizeof(names[i]));
	}
	for (i = 0; i < n; i++)
		if (sdlisten_adopt(&sd_socks[i], cause, len) == -1) {
			sdlisten_reset();
			goto done;
		}
	sd_n = n;
	rc = n;
done:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return (rc);
}

int
sdlisten_count(void)
{
	return (sd_n);
}

struct sdsock *
sdlisten_at(int i)
{
	return (i >= 0 && i < sd_n ? &sd_socks[i] : NULL);
}

/*
 * The same address: family, address and port, or the unix path.  An
 * IPv6 socket's scope and flow label are not part of a listen entry.
 */
static int
sdlisten_same(const struct net_addr *a, const struct net_addr *b)
{
	const struct sockaddr_in	*a4 = (const void *)&a->ss;
	const struct sockaddr_in	*b4 = (const void *)&b->ss;
	const struct sockaddr_in6	*a6 = (const void *)&a->ss;
	const struct sockaddr_in6	*b6 = (const void *)&b->ss;
	const struct sockaddr_un	*au = (const void *)&a->ss;
	const struct sockaddr_un	*bu = (const void *)&b->ss;

	if (a->family != b->family)
		return (0);
	switch (a->family) {
	case AF_INET:
		return (a4->sin_port == b4->sin_port &&
		    a4->sin_addr.s_addr == b4->sin_addr.s_addr);
	case AF_INET6:
		return (a6->sin6_port == b6->sin6_port &&
		    memcmp(&a6->sin6_addr, &b6->sin6_addr,
		    sizeof(a6->sin6_addr)) == 0);
	case AF_UNIX:
		return (strncmp(au->sun_path, bu->sun_path,
		    sizeof(au->sun_path)) == 0);
	default:
		return (0);
	}
}

/* The fd of the passed socket for a (dgram: UDP), marked taken; or -1. */
int
sdlisten_find(const struct net_addr *a, int dgram)
{
	int	i;

	for (i = 0; i < sd_n; i++)
		if (sd_socks[i].dgram == dgram &&
		    sdlisten_same(&sd_socks[i].addr, a)) {
			sd_socks[i].taken = 1;
			return (sd_socks[i].fd);
		}
	return (-1);
}

/* fd was passed to us and is not ours to close. */
int
sdlisten_held(int fd)
{
	int	i;

	if (fd < 0)
		return (0);
	for (i = 0; i < sd_n; i++)
		if (sd_socks[i].fd == fd)
			return (!sd_socks[i].owned);
	return (0);
}

/* Some passed socket is not ours to close (systemd's). */
int
sdlisten_any_held(void)
{
	int	i;

	for (i = 0; i < sd_n; i++)
		if (!sd_socks[i].owned)
			return (1);
	return (0);
}

/* Every passed socket was matched to a listen entry, else which was not. */
int
sdlisten_all_taken(char *cause, size_t len)
{
	int	i;

	for (i = 0; i < sd_n; i++)
		if (!sd_socks[i].taken) {
			snprintf(cause, len, "the %s socket %s%s%s%s (fd %d) "
			    "passed by LISTEN_FDS matches no %s entry of the "
			    "configuration", sd_socks[i].dgram ? "UDP" :
			    "stream", sd_socks[i].addr.text,
			    sd_socks[i].name[0] != '\0' ? " (\"" : "",
			    sd_socks[i].name,
			    sd_socks[i].name[0] != '\0' ? "\")" : "",
			    sd_socks[i].fd, sd_socks[i].dgram ? "udp_listen" :
			    "listen");
			return (-1);
		}
	return (0);
}

/* "a (stream), b (UDP)" for a message: what was passed; "none". */
void
sdlisten_list(char *buf, size_t len)
{
	size_t	off = 0;
	int	i, w;

	snprintf(buf, len, "none");
	for (i = 0; i < sd_n && off < len; i++) {
		w = snprintf(buf + off, len - off, "%s%s (%s)", i ? ", " : "",
		    sd_socks[i].addr.text, sd_socks[i].dgram ? "UDP" :
		    "stream");
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

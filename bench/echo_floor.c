/*
 * echo_floor.c: the smallest correct epoll echo server, the floor that
 * bench/compare measures msgd against.
 *
 * It has msgd's listening model and nothing else: the parent binds every
 * address (SO_REUSEADDR, TCP_NODELAY inherited by accepted sockets) and
 * forks N processes, each of which registers the shared listeners with
 * EPOLLEXCLUSIVE in its own level-triggered epoll set.  A connection reads
 * what arrived and writes the same bytes back; no framing, no timers, no
 * statistics.  Bytes the socket does not take are kept, reading stops and
 * the connection waits for EPOLLOUT, so a client that does not read cannot
 * make the server buffer without bound.
 *
 * usage: echo_floor [-w workers] [-b bytes] address ...
 *	address		host:port (IPv4 literal, "*" or "localhost"),
 *			[v6addr]:port or unix:/path
 * SIGTERM or SIGINT to the parent stops every process; a worker also stops
 * when the parent dies.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* accept4; the build defines it too */
#endif

#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EF_LISTEN_MAX	8
#define EF_WORKERS_MAX	256
#define EF_EVENTS	256
#define EF_ACCEPTS	64		/* accepts per wakeup */
#define EF_BUF_DEFAULT	65536		/* one read, per worker */
#define EF_BUF_MAX	(16 * 1024 * 1024)

enum ef_kind {
	EF_LISTENER,
	EF_CONN
};

struct ef_listener {
	enum ef_kind	 kind;		/* must stay first */
	int		 fd;
	int		 family;
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char	*text;
};

struct ef_conn {
	enum ef_kind	 kind;		/* must stay first */
	int		 fd;
	unsigned char	*pend;		/* read but not yet written back */
	size_t		 plen;
	size_t		 poff;
};

static struct ef_listener	 listeners[EF_LISTEN_MAX];
static int			 nlisteners;
static pid_t			 workers[EF_WORKERS_MAX];
static int			 nworkers;
static volatile sig_atomic_t	 stopping;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: echo_floor [-w workers] [-b bytes] "
	    "address ...\n"
	    "  address: host:port, [v6addr]:port or unix:/path\n"
	    "  -w N     worker processes (default 1, 1..%d)\n"
	    "  -b N     read buffer bytes per worker (default %d)\n",
	    EF_WORKERS_MAX, EF_BUF_DEFAULT);
	exit(2);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	fprintf(stderr, "echo_floor: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (saved != 0)
		fprintf(stderr, ": %s", strerror(saved));
	fprintf(stderr, "\n");
	exit(1);
}

static long
number(const char *s, long min, long max, const char *what)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "echo_floor: %s must be %ld..%ld, got \"%s\"\n",
		    what, min, max, s);
		exit(2);
	}
	return (v);
}

/* Parse an address into ss; 0, or -1 with the reason printed. */
static int
parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *sslen)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_un	*sun = (struct sockaddr_un *)ss;
	char			 host[64];
	const char		*colon, *end;
	size_t			 hlen;
	long			 port;

	memset(ss, 0, sizeof(*ss));
	if (strncmp(s, "unix:", 5) == 0) {
		if (s[5] == '\0' || strlen(s + 5) >= sizeof(sun->sun_path))
			goto bad;
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, s + 5, strlen(s + 5) + 1);
		*sslen = sizeof(*sun);
		return (0);
	}
	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':' ||
		    (hlen = (size_t)(end - s - 1)) >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		sin6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			goto bad;
		port = number(end + 2, 1, 65535, "port");
		sin6->sin6_port = htons((in_port_t)port);
		*sslen = sizeof(*sin6);
		return (0);
	}
	if ((colon = strrchr(s, ':')) == NULL ||
	    (hlen = (size_t)(colon - s)) >= sizeof(host))
		goto bad;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	sin->sin_family = AF_INET;
	if (strcmp(host, "*") == 0)
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (strcmp(host, "localhost") == 0)
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		goto bad;
	port = number(colon + 1, 1, 65535, "port");
	sin->sin_port = htons((in_port_t)port);
	*sslen = sizeof(*sin);
	return (0);
bad:
	fprintf(stderr, "echo_floor: bad address \"%s\"\n", s);
	return (-1);
}

/* Bind and listen on one address, as msgd does. */
static void
listen_on(const char *text)
{
	struct sockaddr_storage	 ss;
	struct ef_listener	*l;
	socklen_t		 sslen;
	int			 on = 1;

	if (nlisteners == EF_LISTEN_MAX) {
		fprintf(stderr, "echo_floor: at most %d addresses\n",
		    EF_LISTEN_MAX);
		exit(2);
	}
	if (parse_addr(text, &ss, &sslen) == -1)
		exit(2);
	l = &listeners[nlisteners];
	l->kind = EF_LISTENER;
	l->text = text;
	l->family = ss.ss_family;
	if ((l->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		die("socket for %s", text);
	if (ss.ss_family == AF_UNIX) {
		memcpy(l->path, ((struct sockaddr_un *)&ss)->sun_path,
		    sizeof(l->path));
		(void)unlink(l->path);
	} else {
		if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &on,
		    sizeof(on)) == -1)
			die("SO_REUSEADDR on %s", text);
		/* Inherited by every accepted socket. */
		if (setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &on,
		    sizeof(on)) == -1)
			die("TCP_NODELAY on %s", text);
	}
	if (bind(l->fd, (struct sockaddr *)&ss, sslen) == -1)
		die("bind %s", text);
	if (listen(l->fd, SOMAXCONN) == -1)
		die("listen %s", text);
	nlisteners++;
}

/* As many descriptors as the hard limit allows: idle-connection tests. */
static void
raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
conn_close(struct ef_conn *c)
{
	close(c->fd);	/* also leaves the epoll set */
	free(c->pend);
	free(c);
}

static int
conn_watch(int ep, struct ef_conn *c, int op, uint32_t events)
{
	struct epoll_event	ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = c;
	return (epoll_ctl(ep, op, c->fd, &ev));
}

static void
worker_accept(int ep, struct ef_listener *l)
{
	struct ef_conn	*c;
	int		 i, fd;

	for (i = 0; i < EF_ACCEPTS; i++) {
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			/* EAGAIN: another worker took it; EMFILE: shed. */
			return;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->kind = EF_CONN;
		c->fd = fd;
		if (conn_watch(ep, c, EPOLL_CTL_ADD, EPOLLIN) == -1)
			conn_close(c);
	}
}

/*
 * Write p[0..n) back; keep what the socket does not take and switch to
 * waiting for EPOLLOUT.  Returns -1 if the connection must close.
 */
static int
conn_send(int ep, struct ef_conn *c, const unsigned char *p, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return (-1);
			break;
		}
		p += w;
		n -= (size_t)w;
	}
	if (n == 0)
		return (0);
	if ((c->pend = malloc(n)) == NULL)
		return (-1);
	memcpy(c->pend, p, n);
	c->plen = n;
	c->poff = 0;
	return (conn_watch(ep, c, EPOLL_CTL_MOD, EPOLLOUT));
}

/* Flush kept bytes; once all are out, read again. */
static int
conn_flush(int ep, struct ef_conn *c)
{
	ssize_t	w;

	while (c->poff < c->plen) {
		w = send(c->fd, c->pend + c->poff, c->plen - c->poff,
		    MSG_NOSIGNAL);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return (0);
			return (-1);
		}
		c->poff += (size_t)w;
	}
	free(c->pend);
	c->pend = NULL;
	c->plen = c->poff = 0;
	return (conn_watch(ep, c, EPOLL_CTL_MOD, EPOLLIN));
}

static int
conn_event(int ep, struct ef_conn *c, uint32_t events, unsigned char *buf,
    size_t bufsz)
{
	ssize_t	n;

	if (c->pend != NULL) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			return (conn_flush(ep, c));
		return (0);
	}
	n = read(c->fd, buf, bufsz);
	if (n == -1)
		return (errno == EAGAIN || errno == EINTR ? 0 : -1);
	if (n == 0)
		return (-1);
	return (conn_send(ep, c, buf, (size_t)n));
}

static void __attribute__((noreturn))
worker_main(size_t bufsz, pid_t parent)
{
	struct epoll_event	 ev[EF_EVENTS];
	unsigned char		*buf;
	enum ef_kind		*kind;
	sigset_t		 none;
	int			 ep, i, n;

	sigemptyset(&none);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_IGN);	/* ^C on a terminal: the parent's */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		die("prctl");
	if (getppid() != parent)
		exit(0);	/* the parent died before prctl took hold */
	if (sigprocmask(SIG_SETMASK, &none, NULL) == -1)
		die("sigprocmask");
	if ((buf = malloc(bufsz)) == NULL)
		die("malloc");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1");
	for (i = 0; i < nlisteners; i++) {
		memset(&ev[0], 0, sizeof(ev[0]));
		ev[0].events = EPOLLIN | EPOLLEXCLUSIVE;
		ev[0].data.ptr = &listeners[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, listeners[i].fd, &ev[0]) == -1)
			die("epoll_ctl %s", listeners[i].text);
	}
	for (;;) {
		if ((n = epoll_wait(ep, ev, EF_EVENTS, -1)) == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			kind = ev[i].data.ptr;
			if (*kind == EF_LISTENER)
				worker_accept(ep, (struct ef_listener *)kind);
			else if (conn_event(ep, (struct ef_conn *)kind,
			    ev[i].events, buf, bufsz) == -1)
				conn_close((struct ef_conn *)kind);
		}
	}
}

static void
on_stop(int sig)
{
	stopping = sig;
}

/* Stop the workers and remove the unix sockets. */
static void
shutdown_all(void)
{
	int	i;

	for (i = 0; i < nworkers; i++)
		if (workers[i] > 0)
			(void)kill(workers[i], SIGTERM);
	for (i = 0; i < nworkers; i++)
		if (workers[i] > 0)
			(void)waitpid(workers[i], NULL, 0);
	for (i = 0; i < nlisteners; i++)
		if (listeners[i].family == AF_UNIX)
			(void)unlink(listeners[i].path);
}

int
main(int argc, char **argv)
{
	struct sigaction	sa;
	sigset_t		block, old;
	size_t			bufsz = EF_BUF_DEFAULT;
	pid_t			pid, parent = getpid();
	int			ch, i, want = 1, status = 0;

	while ((ch = getopt(argc, argv, "b:w:")) != -1) {
		switch (ch) {
		case 'b':
			bufsz = (size_t)number(optarg, 1, EF_BUF_MAX, "-b");
			break;
		case 'w':
			want = (int)number(optarg, 1, EF_WORKERS_MAX, "-w");
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage();
	for (i = 0; i < argc; i++)
		listen_on(argv[i]);
	raise_nofile();

	/* Block the stop signals until the workers exist: none is lost. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &block, &old) == -1)
		die("sigprocmask");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_flags = SA_NOCLDSTOP;	/* only a worker's death */
	sigaction(SIGCHLD, &sa, NULL);

	for (i = 0; i < want; i++) {
		if ((pid = fork()) == -1) {
			shutdown_all();
			die("fork");
		}
		if (pid == 0)
			worker_main(bufsz, parent);
		workers[nworkers++] = pid;
	}
	/* Any signal ends it: a stop request, or a worker that died. */
	while (!stopping)
		sigsuspend(&old);
	if (stopping == SIGCHLD) {
		pid = waitpid(-1, &status, WNOHANG);
		for (i = 0; pid > 0 && i < nworkers; i++)
			if (workers[i] == pid)
				workers[i] = 0;
		fprintf(stderr, "echo_floor: a worker died (status %d)\n",
		    status);
		shutdown_all();
		return (1);
	}
	shutdown_all();
	return (0);
}

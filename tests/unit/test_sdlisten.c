/*
 * test_sdlisten.c: the sd_listen_fds protocol.  The pure parts with
 * hostile values (counts that are huge, negative, not numbers, overflow;
 * names too many, too few, too long), the checks of one descriptor on
 * real sockets (listening TCP, UDP, unix; refused: not listening, not a
 * socket, not open, unnamed or abstract unix, unix datagram, another
 * family), and sdlisten_init() on sockets put at fds 3.. as systemd does.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/netlink.h>

#include <errno.h>
#include <fcntl.h>
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
#include "sdlisten.h"

static char	cause[1024];
static int	saved[2] = { -1, -1 };	/* what held fds 3 and 4 before */

/*
 * The tests that put sockets at fds 3 and 4 (where systemd passes them)
 * first move what the test driver left there out of the way.
 */
static int
fds_save(void **state)
{
	int	i;

	(void)state;
	for (i = 0; i < 2; i++) {
		saved[i] = fcntl(3 + i, F_DUPFD_CLOEXEC, 10);
		close(3 + i);
	}
	return (0);
}

static int
fds_restore(void **state)
{
	int	i;

	(void)state;
	for (i = 0; i < 2; i++) {
		close(3 + i);
		if (saved[i] != -1) {
			dup2(saved[i], 3 + i);
			close(saved[i]);
		}
	}
	return (0);
}

/* A socket of type bound to 127.0.0.1 port 0 (listening for streams). */
static int
inet_sock(int type, int listening, unsigned *port)
{
	struct sockaddr_in	sin;
	socklen_t		sl = sizeof(sin);
	int			fd;

	assert_int_not_equal(fd = socket(AF_INET, type, 0), -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	if (listening)
		assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	*port = ntohs(sin.sin_port);
	return (fd);
}

/* A unix socket of type bound to path (or abstract when path[0] is '@'). */
static int
unix_sock(int type, const char *path, int listening)
{
	struct sockaddr_un	sun;
	socklen_t		sl;
	int			fd;

	assert_int_not_equal(fd = socket(AF_UNIX, type, 0), -1);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(path));
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	else
		sl++;
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sl), 0);
	if (listening)
		assert_int_equal(listen(fd, 8), 0);
	return (fd);
}

/*
 * Values the protocol allows, for a process of pid 42.  No LISTEN_FDS or
 * no LISTEN_PID: none (sd_listen_fds(3) needs both).  Another process's
 * variables are ignored, whatever LISTEN_FDS says.
 */
static void
test_sdlisten_parse_allowed(void **state)
{
	static const struct {
		const char	*pid, *fds;
		int		 n, ignored;
	} cases[] = {
		{ NULL, NULL, 0, 0 },
		{ NULL, "2", 0, 0 },
		{ "42", NULL, 0, 0 },
		{ "42", "2", 2, 0 },
		{ "42", "0", 0, 0 },
		{ "42", "64", SDLISTEN_MAX, 0 },
		{ "41", "2", 0, 1 },
		{ "41", "junk", 0, 1 },
	};
	size_t	i;
	int	n, ign;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = ign = -1;
		assert_int_equal(sdlisten_parse(cases[i].pid, cases[i].fds, 42,
		    &n, &ign, cause, sizeof(cause)), 0);
		assert_int_equal(n, cases[i].n);
		assert_int_equal(ign, cases[i].ignored);
	}
}

static void
test_sdlisten_parse_hostile(void **state)
{
	static const char *pids[] = { "", "0", "-1", "abc", "42x", " 42",
	    "4294967338", "99999999999999999999999", "0x2a" };
	static const char *fds[] = { "", "-1", "65", "abc", "2x", " 2",
	    "4294967298", "18446744073709551617", "0x2", "1e3", "2 " };
	size_t	i;
	int	n, ign;

	(void)state;
	for (i = 0; i < sizeof(pids) / sizeof(pids[0]); i++) {
		cause[0] = '\0';
		assert_int_equal(sdlisten_parse(pids[i], "1", 42, &n, &ign,
		    cause, sizeof(cause)), -1);
		assert_non_null(strstr(cause, "LISTEN_PID"));
		assert_int_equal(n, 0);
	}
	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		cause[0] = '\0';
		assert_int_equal(sdlisten_parse("42", fds[i], 42, &n, &ign,
		    cause, sizeof(cause)), -1);
		assert_non_null(strstr(cause, "LISTEN_FDS"));
		assert_int_equal(n, 0);
	}
}

static void
test_sdlisten_split_names(void **state)
{
	char	out[4][SDLISTEN_NAME_MAX];

	(void)state;
	assert_int_equal(sdlisten_split_names(NULL, 3, out, cause,
	    sizeof(cause)), 0);
	assert_string_equal(out[0], "");
	assert_string_equal(out[2], "");
	assert_int_equal(sdlisten_split_names("msgd.socket:tcp", 2, out,
	    cause, sizeof(cause)), 0);
	assert_string_equal(out[0], "msgd.socket");
	assert_string_equal(out[1], "tcp");
	/* Empty names are names. */
	assert_int_equal(sdlisten_split_names("::", 3, out, cause,
	    sizeof(cause)), 0);
	assert_string_equal(out[0], "");
	assert_string_equal(out[2], "");
	assert_int_equal(sdlisten_split_names("a", 1, out, cause,
	    sizeof(cause)), 0);
	assert_string_equal(out[0], "a");
	/* No sockets: names are not looked at. */
	assert_int_equal(sdlisten_split_names("a:b", 0, out, cause,
	    sizeof(cause)), 0);
}

static void
test_sdlisten_split_names_hostile(void **state)
{
	char	out[4][SDLISTEN_NAME_MAX], *big;

	(void)state;
	assert_int_equal(sdlisten_split_names("a", 2, out, cause,
	    sizeof(cause)), -1);
	assert_non_null(strstr(cause, "1 names for the 2 sockets"));
	assert_int_equal(sdlisten_split_names("a:b:c", 2, out, cause,
	    sizeof(cause)), -1);
	assert_non_null(strstr(cause, "more names"));
	assert_int_equal(sdlisten_split_names("", 2, out, cause,
	    sizeof(cause)), -1);
	assert_int_equal(sdlisten_split_names(":::::::::::", 4, out, cause,
	    sizeof(cause)), -1);
	assert_non_null(big = malloc(100000));
	memset(big, 'x', 99999);
	big[99999] = '\0';
	assert_int_equal(sdlisten_split_names(big, 1, out, cause,
	    sizeof(cause)), -1);
	assert_non_null(strstr(cause, "longer than"));
	big[SDLISTEN_NAME_MAX - 1] = '\0';
	assert_int_equal(sdlisten_split_names(big, 1, out, cause,
	    sizeof(cause)), 0);
	assert_int_equal(strlen(out[0]), SDLISTEN_NAME_MAX - 1);
	big[SDLISTEN_NAME_MAX] = '\0';
	big[SDLISTEN_NAME_MAX - 1] = 'x';
	assert_int_equal(sdlisten_split_names(big, 1, out, cause,
	    sizeof(cause)), -1);
	free(big);
}

static void
test_sdlisten_describe_inet(void **state)
{
	struct sdsock	s;
	struct net_addr	a;
	char		want[64];
	unsigned	port;
	int		fd;

	(void)state;
	fd = inet_sock(SOCK_STREAM, 1, &port);
	assert_int_equal(sdlisten_describe(fd, &s, cause, sizeof(cause)), 0);
	snprintf(want, sizeof(want), "127.0.0.1:%u", port);
	assert_string_equal(s.addr.text, want);
	assert_int_equal(s.dgram, 0);
	assert_int_equal(s.fd, fd);
	/* The text is a listen entry's: it parses back. */
	assert_int_equal(net_parse_addr(s.addr.text, &a, cause,
	    sizeof(cause)), 0);
	close(fd);
	fd = inet_sock(SOCK_DGRAM, 0, &port);
	assert_int_equal(sdlisten_describe(fd, &s, cause, sizeof(cause)), 0);
	assert_int_equal(s.dgram, 1);
	close(fd);
	/* A stream socket that does not listen: Accept=yes's kind. */
	fd = inet_sock(SOCK_STREAM, 0, &port);
	assert_int_equal(sdlisten_describe(fd, &s, cause, sizeof(cause)), -1);
	assert_non_null(strstr(cause, "not listening"));
	close(fd);
}

static void
test_sdlisten_describe_inet6(void **state)
{
	struct sockaddr_in6	sin6;
	struct sdsock		s;
	int			fd;

	(void)state;
	if ((fd = socket(AF_INET6, SOCK_STREAM, 0)) == -1)
		skip();
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	if (bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == -1) {
		close(fd);
		skip();
	}
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(sdlisten_describe(fd, &s, cause, sizeof(cause)), 0);
	assert_memory_equal(s.addr.text, "[::1]:", 6);
	close(fd);
}

static void
test_sdlisten_describe_unix(void **state)
{
	struct sdsock	s;
	char		dir[] = "/tmp/test_sdlisten.XXXXXX", path[64], want[80];
	int		fd, sv[2];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s", dir);
	fd = unix_sock(SOCK_STREAM, path, 1);
	assert_int_equal(sdlisten_describe(fd, &s, cause, sizeof(cause)), 0);
	snprintf(want, sizeof(want), "unix:%s", path);
	assert_string_equal(s.addr.text, want);
	close(fd);
	unlink(path);
	/* Datagrams over unix: not a thing msgd serves. */
	fd = unix_sock(SOCK_DGRAM, path, 0);
	assert_int_equal(sdlisten_describe(fd, &s, cause, sizeof(cause)), -1);
	assert_non_null(strstr(cause, "unix datagram"));
	close(fd);
	unlink(path);
	rmdir(dir);
	/* Abstract and unnamed: no listen entry can name them. */
	fd = unix_sock(SOCK_STREAM, "@test_sdlisten_abstract", 1);
	assert_int_equal(sdlisten_describe(fd, &s, cause, sizeof(cause)), -1);
	assert_non_null(strstr(cause, "without a path"));
	close(fd);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(sdlisten_describe(sv[0], &s, cause, sizeof(cause)),
	    -1);
	close(sv[0]);
	close(sv[1]);
}

static void
test_sdlisten_describe_not_socket(void **state)
{
	struct sdsock	s;
	int		p[2], fd;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(sdlisten_describe(p[0], &s, cause, sizeof(cause)),
	    -1);
	assert_non_null(strstr(cause, "not a socket"));
	close(p[0]);
	close(p[1]);
	/* Not open. */
	assert_int_equal(sdlisten_describe(p[0], &s, cause, sizeof(cause)),
	    -1);
	assert_non_null(strstr(cause, strerror(EBADF)));
	assert_int_equal(sdlisten_describe(-1, &s, cause, sizeof(cause)), -1);
	/* Another family. */
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd == -1)
		return;
	assert_int_equal(sdlisten_describe(fd, &s, cause, sizeof(cause)), -1);
	assert_non_null(strstr(cause, "address family"));
	close(fd);
}

/*
 * Put fd at target (as systemd passes them: no close-on-exec, blocking;
 * the test's sockets are made without SOCK_CLOEXEC, and dup2 clears it).
 */
static void
place(int fd, int target)
{
	if (fd == target)
		return;
	assert_int_equal(dup2(fd, target), target);
	close(fd);
}

static void
set_env(const char *pid, const char *fds, const char *names)
{
	char	self[32];

	if (pid == NULL) {
		snprintf(self, sizeof(self), "%ld", (long)getpid());
		pid = self;
	}
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", fds, 1);
	if (names != NULL)
		setenv("LISTEN_FDNAMES", names, 1);
	else
		unsetenv("LISTEN_FDNAMES");
}

static void
assert_env_gone(void)
{
	assert_null(getenv("LISTEN_PID"));
	assert_null(getenv("LISTEN_FDS"));
	assert_null(getenv("LISTEN_FDNAMES"));
}

static void
test_sdlisten_init_takes(void **state)
{
	struct net_addr	 a;
	struct sdsock	*s;
	char		 text[64];
	unsigned	 tport, uport;
	int		 fd;

	(void)state;
	close(3);
	close(4);
	place(inet_sock(SOCK_STREAM, 1, &tport), 3);
	place(inet_sock(SOCK_DGRAM, 0, &uport), 4);
	set_env(NULL, "2", "msgd.socket:udp");
	assert_int_equal(sdlisten_init(cause, sizeof(cause)), 2);
	assert_env_gone();
	assert_int_equal(sdlisten_count(), 2);
	assert_non_null(s = sdlisten_at(0));
	assert_int_equal(s->fd, 3);
	assert_string_equal(s->name, "msgd.socket");
	assert_int_equal(s->dgram, 0);
	assert_non_null(s = sdlisten_at(1));
	assert_string_equal(s->name, "udp");
	assert_int_equal(s->dgram, 1);
	assert_null(sdlisten_at(2));
	assert_null(sdlisten_at(-1));
	for (fd = 3; fd <= 4; fd++) {
		assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
		assert_int_equal(sdlisten_held(fd), 1);
	}
	assert_int_equal(sdlisten_held(5), 0);
	assert_int_equal(sdlisten_held(-1), 0);
	/* Nothing taken yet. */
	assert_int_equal(sdlisten_all_taken(cause, sizeof(cause)), -1);
	assert_non_null(strstr(cause, "msgd.socket"));
	/* By address, not by text: localhost is 127.0.0.1. */
	snprintf(text, sizeof(text), "localhost:%u", tport);
	assert_int_equal(net_parse_addr(text, &a, cause, sizeof(cause)), 0);
	assert_int_equal(sdlisten_find(&a, 1), -1);	/* not UDP */
	assert_int_equal(sdlisten_find(&a, 0), 3);
	assert_int_equal(sdlisten_all_taken(cause, sizeof(cause)), -1);
	assert_non_null(strstr(cause, "UDP socket"));
	assert_non_null(strstr(cause, "udp_listen"));
	snprintf(text, sizeof(text), "127.0.0.2:%u", uport);
	assert_int_equal(net_parse_addr(text, &a, cause, sizeof(cause)), 0);
	assert_int_equal(sdlisten_find(&a, 1), -1);	/* another address */
	snprintf(text, sizeof(text), "127.0.0.1:%u", uport);
	assert_int_equal(net_parse_addr(text, &a, cause, sizeof(cause)), 0);
	assert_int_equal(sdlisten_find(&a, 0), -1);	/* not a stream */
	assert_int_equal(sdlisten_find(&a, 1), 4);
	assert_int_equal(sdlisten_all_taken(cause, sizeof(cause)), 0);
	sdlisten_list(text, sizeof(text));
	assert_non_null(strstr(text, "(stream), 127.0.0.1:"));
	/* Owned (a binary upgrade's own sockets): ours to close. */
	assert_int_equal(sdlisten_any_held(), 1);
	sdlisten_at(0)->owned = 1;
	assert_int_equal(sdlisten_held(3), 0);
	assert_int_equal(sdlisten_any_held(), 1);
	sdlisten_at(1)->owned = 1;
	assert_int_equal(sdlisten_any_held(), 0);
	sdlisten_reset();
	assert_int_equal(sdlisten_count(), 0);
	sdlisten_list(text, sizeof(text));
	assert_string_equal(text, "none");
	close(3);
	close(4);
}

static void
test_sdlisten_init_refused(void **state)
{
	char		path[] = "/tmp/test_sdlisten.XXXXXX";
	unsigned	port;
	int		fd;

	(void)state;
	close(3);
	close(4);
	/* fd 4 is not open. */
	place(inet_sock(SOCK_STREAM, 1, &port), 3);
	set_env(NULL, "2", "a:b");
	assert_int_equal(sdlisten_init(cause, sizeof(cause)), -1);
	assert_env_gone();
	assert_non_null(strstr(cause, "socket 2 of 2"));
	assert_non_null(strstr(cause, "(\"b\")"));
	assert_non_null(strstr(cause, "fd 4"));
	assert_int_equal(sdlisten_count(), 0);
	assert_int_equal(sdlisten_held(3), 0);
	/* A regular file. */
	assert_int_not_equal(fd = mkstemp(path), -1);
	unlink(path);
	place(fd, 4);
	set_env(NULL, "2", NULL);
	assert_int_equal(sdlisten_init(cause, sizeof(cause)), -1);
	assert_non_null(strstr(cause, "not a socket"));
	close(4);
	/* A UDP socket is fine, but not listening streams. */
	place(inet_sock(SOCK_STREAM, 0, &port), 4);
	set_env(NULL, "2", NULL);
	assert_int_equal(sdlisten_init(cause, sizeof(cause)), -1);
	assert_non_null(strstr(cause, "not listening"));
	/* Names that do not match the count. */
	set_env(NULL, "1", "a:b");
	assert_int_equal(sdlisten_init(cause, sizeof(cause)), -1);
	assert_non_null(strstr(cause, "LISTEN_FDNAMES"));
	assert_env_gone();
	/* A huge count. */
	set_env(NULL, "100000", NULL);
	assert_int_equal(sdlisten_init(cause, sizeof(cause)), -1);
	assert_non_null(strstr(cause, "LISTEN_FDS"));
	close(3);
	close(4);
}

/* Another pid's variables: ignored, forgotten, and the fds left alone. */
static void
test_sdlisten_init_other_pid(void **state)
{
	char		other[32];
	unsigned	port;

	(void)state;
	close(3);
	place(inet_sock(SOCK_STREAM, 1, &port), 3);
	snprintf(other, sizeof(other), "%ld", (long)getpid() + 1);
	set_env(other, "1", "x");
	assert_int_equal(sdlisten_init(cause, sizeof(cause)), 0);
	assert_env_gone();
	assert_int_equal(sdlisten_count(), 0);
	assert_int_equal(sdlisten_held(3), 0);
	assert_false(fcntl(3, F_GETFD) & FD_CLOEXEC);
	close(3);
	/* No variables at all. */
	assert_int_equal(sdlisten_init(cause, sizeof(cause)), 0);
	assert_int_equal(sdlisten_count(), 0);
	assert_int_equal(sdlisten_any_held(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sdlisten_parse_allowed),
		cmocka_unit_test(test_sdlisten_parse_hostile),
		cmocka_unit_test(test_sdlisten_split_names),
		cmocka_unit_test(test_sdlisten_split_names_hostile),
		cmocka_unit_test(test_sdlisten_describe_inet),
		cmocka_unit_test(test_sdlisten_describe_inet6),
		cmocka_unit_test(test_sdlisten_describe_unix),
		cmocka_unit_test(test_sdlisten_describe_not_socket),
		cmocka_unit_test_setup_teardown(test_sdlisten_init_takes,
		    fds_save, fds_restore),
		cmocka_unit_test_setup_teardown(test_sdlisten_init_refused,
		    fds_save, fds_restore),
		cmocka_unit_test_setup_teardown(test_sdlisten_init_other_pid,
		    fds_save, fds_restore),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

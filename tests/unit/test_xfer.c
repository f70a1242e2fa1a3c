/*
 * test_xfer.c: passing a connection's descriptor and its info between
 * processes: a round trip over a real socketpair, message boundaries on
 * the stream, the receiver's answers to a gone, out-of-step or short
 * channel, to a message whose descriptor the kernel could not install and
 * to a sender that sends other than one socket (all of it closed), and
 * xfer_send/xfer_recv under faked sendmsg/recvmsg failures
 * (-Wl,--wrap: EAGAIN, a short send, EINTR, a truncated control message);
 * what came is closed without lingering.
 *
 * The info is treated as opaque bytes but for its version, so that the
 * peer-address fields may change shape without touching this test.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "xfer.h"

ssize_t	__real_sendmsg(int, const struct msghdr *, int);
ssize_t	__wrap_sendmsg(int, const struct msghdr *, int);
ssize_t	__real_recvmsg(int, struct msghdr *, int);
ssize_t	__wrap_recvmsg(int, struct msghdr *, int);

/*
 * The next call's fault: 0 passes the call through, > 0 fails it with
 * that errno, FAULT_SHORT makes sendmsg send one byte less than asked and
 * FAULT_CTRUNC makes recvmsg report its control data truncated.
 */
#define FAULT_SHORT	-1
#define FAULT_CTRUNC	-2

static int	sendmsg_fault;
static int	recvmsg_fault;

ssize_t
__wrap_sendmsg(int fd, const struct msghdr *mh, int flags)
{
	int	f = sendmsg_fault;

	sendmsg_fault = 0;
	if (f > 0) {
		errno = f;
		return (-1);
	}
	if (f == FAULT_SHORT) {
		/* The bytes without their descriptor, one short. */
		return (send(fd, mh->msg_iov[0].iov_base,
		    mh->msg_iov[0].iov_len - 1, flags));
	}
	return (__real_sendmsg(fd, mh, flags));
}

ssize_t
__wrap_recvmsg(int fd, struct msghdr *mh, int flags)
{
	int	f = recvmsg_fault;
	ssize_t	n;

	recvmsg_fault = 0;
	if (f > 0) {
		errno = f;
		return (-1);
	}
	if (f == FAULT_CTRUNC) {
		/* As the kernel does at RLIMIT_NOFILE: data, no descriptor. */
		n = recv(fd, mh->msg_iov[0].iov_base, mh->msg_iov[0].iov_len,
		    flags & ~MSG_CMSG_CLOEXEC);
		mh->msg_controllen = 0;
		mh->msg_flags |= MSG_CTRUNC;
		return (n);
	}
	return (__real_recvmsg(fd, mh, flags));
}

struct fixture {
	int	sv[2];		/* the channel: [0] sends, [1] receives */
	int	conn[2];	/* a connection to pass, and its other end */
};

static int
setup(void **state)
{
	static struct fixture	fx;

	sendmsg_fault = recvmsg_fault = 0;
	if (xfer_pair(fx.sv) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, fx.conn) == -1)
		return (-1);
	*state = &fx;
	return (0);
}

static int
teardown(void **state)
{
	struct fixture	*fx = *state;

	close(fx->sv[0]);
	close(fx->sv[1]);
	close(fx->conn[0]);
	close(fx->conn[1]);
	return (0);
}

/*
 * An info with every byte set from seed, the current version and an IPv6
 * peer (xfer_recv makes any other family AF_UNIX: see test_net).
 */
static void
info_fill(struct xfer_info *info, uint8_t seed)
{
	size_t	i;

	for (i = 0; i < sizeof(*info); i++)
		((uint8_t *)info)[i] = (uint8_t)(seed + i);
	info->version = XFER_VERSION;
	info->peer.family = AF_INET6;
}

/* Is fd open? */
static int
fd_open(int fd)
{
	return (fcntl(fd, F_GETFD) != -1);
}

/* Do a and b name the same open file? */
static int
same_file(int a, int b)
{
	struct stat	sa, sb;

	if (fstat(a, &sa) == -1 || fstat(b, &sb) == -1)
		return (0);
	return (sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino);
}

static void
test_xfer_pair_flags(void **state)
{
	struct fixture	*fx = *state;
	int		 i, type;
	socklen_t	 len = sizeof(type);

	for (i = 0; i < 2; i++) {
		assert_true(fcntl(fx->sv[i], F_GETFL) & O_NONBLOCK);
		assert_true(fcntl(fx->sv[i], F_GETFD) & FD_CLOEXEC);
		assert_int_equal(getsockopt(fx->sv[i], SOL_SOCKET, SO_TYPE,
		    &type, &len), 0);
		assert_int_equal(type, SOCK_STREAM);
	}
}

static void
test_xfer_round_trip(void **state)
{
	struct fixture		*fx = *state;
	struct xfer_info	 in, out;
	int			 fd;
	char			 c = 0;

	info_fill(&in, 0x40);
	assert_int_equal(xfer_send(fx->sv[0], fx->conn[1], &in), 0);
	memset(&out, 0, sizeof(out));
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), 1);
	assert_memory_equal(&in, &out, sizeof(in));
	/* A new descriptor, close-on-exec, for the same socket. */
	assert_true(fd != fx->conn[1]);
	assert_true(same_file(fd, fx->conn[1]));
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(write(fd, "x", 1), 1);
	assert_int_equal(read(fx->conn[0], &c, 1), 1);
	assert_int_equal(c, 'x');
	close(fd);
	/* Nothing more is waiting. */
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), 0);
	assert_int_equal(fd, -1);
}

/* Many messages in a row on the stream come out one by one, in order. */
static void
test_xfer_boundaries(void **state)
{
	struct fixture		*fx = *state;
	struct xfer_info	 in, out;
	int			 fd, i, n = 50;

	for (i = 0; i < n; i++) {
		info_fill(&in, (uint8_t)i);
		assert_int_equal(xfer_send(fx->sv[0],
		    i % 2 ? fx->conn[0] : fx->conn[1], &in), 0);
	}
	for (i = 0; i < n; i++) {
		info_fill(&in, (uint8_t)i);
		assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), 1);
		assert_memory_equal(&in, &out, sizeof(in));
		assert_true(same_file(fd, i % 2 ? fx->conn[0] : fx->conn[1]));
		close(fd);
	}
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), 0);
}

static void
test_xfer_recv_gone(void **state)
{
	struct fixture		*fx = *state;
	struct xfer_info	 out;
	int			 fd;

	close(fx->sv[0]);
	fx->sv[0] = -1;
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), -1);
	assert_int_equal(fd, -1);
}

/* Another version is out of step: its descriptor is closed, not kept. */
static void
test_xfer_recv_bad_version(void **state)
{
	struct fixture		*fx = *state;
	struct xfer_info	 in, out;
	int			 fd, probe;

	info_fill(&in, 1);
	in.version = XFER_VERSION + 1;
	assert_int_equal(xfer_send(fx->sv[0], fx->conn[1], &in), 0);
	/* The lowest free number is where the descriptor would land. */
	probe = dup(0);
	close(probe);
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), -1);
	assert_int_equal(fd, -1);
	assert_false(fd_open(probe));
}

/* A message shorter than an info leaves the channel out of step. */
static void
test_xfer_recv_short(void **state)
{
	struct fixture		*fx = *state;
	struct xfer_info	 in, out;
	int			 fd;

	info_fill(&in, 2);
	assert_int_equal(send(fx->sv[0], &in, sizeof(in) - 1, 0),
	    (ssize_t)sizeof(in) - 1);
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), -1);
	assert_int_equal(fd, -1);
}

/*
 * A whole message without its descriptor (the sender sent none, the
 * kernel dropped none: -3, not the -2 of RLIMIT_NOFILE): that connection
 * is lost, but the channel is in step and the next message comes through.
 */
static void
test_xfer_recv_no_fd(void **state)
{
	struct fixture		*fx = *state;
	struct xfer_info	 in, out;
	int			 fd;

	info_fill(&in, 3);
	assert_int_equal(send(fx->sv[0], &in, sizeof(in), 0),
	    (ssize_t)sizeof(in));
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), -3);
	assert_int_equal(fd, -1);
	info_fill(&in, 4);
	assert_int_equal(xfer_send(fx->sv[0], fx->conn[1], &in), 0);
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), 1);
	assert_memory_equal(&in, &out, sizeof(in));
	close(fd);
}

/* How many descriptors this process has open. */
static int
nfds(void)
{
	DIR		*d;
	struct dirent	*e;
	int		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return (-1);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return (n);
}

/* Send info with the n descriptors of fds in one SCM_RIGHTS message. */
static void
send_fds(int sock, const struct xfer_info *info, const int *fds, int n)
{
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	union {
		char		buf[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr	align;
	} u;

	assert_true(n >= 1 && n <= 8);
	memset(&mh, 0, sizeof(mh));
	memset(&u, 0, sizeof(u));
	iov.iov_base = (void *)(uintptr_t)info;
	iov.iov_len = sizeof(*info);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, (size_t)n * sizeof(int));
	assert_int_equal(sendmsg(sock, &mh, 0), (ssize_t)sizeof(*info));
}

/*
 * A sender that breaks the protocol (two or four descriptors in one
 * message, or one that is no connected stream socket): -3, whatever it
 * sent is closed, none of it stays open here, and the channel is still in
 * step.
 */
static void
test_xfer_recv_not_one_socket(void **state)
{
	struct fixture		*fx = *state;
	struct xfer_info	 in, out;
	struct sockaddr_in	 sin;
	int			 fd, before, two[2], four[4], p[2], lsn, dg, i;

	before = nfds();
	assert_true(before > 0);
	info_fill(&in, 7);
	two[0] = two[1] = fx->conn[1];
	send_fds(fx->sv[0], &in, two, 2);
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), -3);
	assert_int_equal(fd, -1);
	assert_int_equal(nfds(), before);

	/* Four (the same one, four times): all taken and closed. */
	four[0] = four[1] = four[2] = four[3] = fx->conn[0];
	send_fds(fx->sv[0], &in, four, 4);
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), -3);
	assert_int_equal(fd, -1);
	assert_int_equal(nfds(), before);

	/* No connection: a pipe, a listening socket, a datagram socket. */
	assert_int_equal(pipe(p), 0);
	assert_true((lsn = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lsn, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lsn, 1), 0);
	assert_true((dg = socket(AF_INET, SOCK_DGRAM, 0)) != -1);
	before = nfds();
	assert_int_equal(xfer_send(fx->sv[0], p[1], &in), 0);
	assert_int_equal(xfer_send(fx->sv[0], lsn, &in), 0);
	assert_int_equal(xfer_send(fx->sv[0], dg, &in), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), -3);
		assert_int_equal(fd, -1);
	}
	assert_int_equal(nfds(), before);
	close(p[0]);
	close(p[1]);
	close(lsn);
	close(dg);

	info_fill(&in, 8);
	assert_int_equal(xfer_send(fx->sv[0], fx->conn[1], &in), 0);
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), 1);
	assert_memory_equal(&in, &out, sizeof(in));
	assert_true(same_file(fd, fx->conn[1]));
	close(fd);
}

/* The receiver's table is full: the kernel truncates the control data. */
static void
test_xfer_recv_ctrunc(void **state)
{
	struct fixture		*fx = *state;
	struct xfer_info	 in, out;
	int			 fd;

	info_fill(&in, 5);
	assert_int_equal(xfer_send(fx->sv[0], fx->conn[1], &in), 0);
	info_fill(&in, 6);
	assert_int_equal(xfer_send(fx->sv[0], fx->conn[1], &in), 0);
	recvmsg_fault = FAULT_CTRUNC;
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), -2);
	assert_int_equal(fd, -1);
	/* The channel is still in step. */
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), 1);
	assert_memory_equal(&in, &out, sizeof(in));
	close(fd);
}

/* Interrupted or nothing there: try later; any other error: gone. */
static void
test_xfer_recv_errors(void **state)
{
	struct fixture		*fx = *state;
	struct xfer_info	 in, out;
	int			 fd;

	info_fill(&in, 7);
	assert_int_equal(xfer_send(fx->sv[0], fx->conn[1], &in), 0);
	recvmsg_fault = EINTR;
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), 0);
	assert_int_equal(fd, -1);
	recvmsg_fault = EAGAIN;
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), 0);
	recvmsg_fault = ECONNRESET;
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), -1);
	assert_int_equal(fd, -1);
	/* The message was never taken: it is still there. */
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), 1);
	assert_memory_equal(&in, &out, sizeof(in));
	close(fd);
}

/* A full channel is EAGAIN for the caller to retry; nothing was sent. */
static void
test_xfer_send_eagain(void **state)
{
	struct fixture		*fx = *state;
	struct xfer_info	 in, out;
	int			 fd;

	info_fill(&in, 8);
	sendmsg_fault = EAGAIN;
	errno = 0;
	assert_int_equal(xfer_send(fx->sv[0], fx->conn[1], &in), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), 0);
	/* The retry goes through. */
	assert_int_equal(xfer_send(fx->sv[0], fx->conn[1], &in), 0);
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), 1);
	close(fd);
}

/* A real full channel: the non-blocking pair never blocks the sender. */
static void
test_xfer_send_full(void **state)
{
	struct fixture		*fx = *state;
	struct xfer_info	 in, out;
	int			 fd, i, sent = 0, rc = 0;

	info_fill(&in, 9);
	for (i = 0; i < 100000 && (rc = xfer_send(fx->sv[0], fx->conn[1],
	    &in)) == 0; i++)
		sent++;
	/* (Not root: the descriptors in flight may reach RLIMIT_NOFILE.) */
	assert_int_equal(rc, -1);
	assert_true(errno == EAGAIN || errno == ENOBUFS ||
	    errno == ETOOMANYREFS);
	assert_true(sent > 0);
	/* Everything that was accepted arrives whole. */
	for (i = 0; i < sent; i++) {
		assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), 1);
		assert_memory_equal(&in, &out, sizeof(in));
		close(fd);
	}
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), 0);
}

/* A send that took less than the whole message is a failure. */
static void
test_xfer_send_short(void **state)
{
	struct fixture		*fx = *state;
	struct xfer_info	 in;

	info_fill(&in, 10);
	sendmsg_fault = FAULT_SHORT;
	assert_int_equal(xfer_send(fx->sv[0], fx->conn[1], &in), -1);
}

static void
test_xfer_send_closed(void **state)
{
	struct fixture		*fx = *state;
	struct xfer_info	 in;

	info_fill(&in, 11);
	close(fx->sv[1]);
	fx->sv[1] = -1;
	/* MSG_NOSIGNAL: EPIPE, not SIGPIPE. */
	errno = 0;
	assert_int_equal(xfer_send(fx->sv[0], fx->conn[1], &in), -1);
	assert_int_equal(errno, EPIPE);
}

/* A socket (*fd, its peer *peer) its sender made lingering. */
static void
lingering_pair(int *fd, int *peer)
{
	struct linger	l;
	int		sp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	l.l_onoff = 1;
	l.l_linger = 3600;
	assert_int_equal(setsockopt(sp[0], SOL_SOCKET, SO_LINGER, &l,
	    sizeof(l)), 0);
	*fd = sp[0];
	*peer = sp[1];
}

/* Is SO_LINGER on for fd (seen through any copy)? */
static int
lingers(int fd)
{
	struct linger	l;
	socklen_t	len = sizeof(l);

	memset(&l, 0xff, sizeof(l));
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_LINGER, &l, &len), 0);
	return (l.l_onoff != 0);
}

/*
 * A descriptor that came over a channel is closed without lingering: its
 * sender may have set SO_LINGER so that the last close, the receiver's,
 * waits.  Seen through a copy that outlives the close.
 */
static void
test_xfer_close_no_linger(void **state)
{
	int	fd, peer, copy, p[2];

	(void)state;
	lingering_pair(&fd, &peer);
	assert_true((copy = dup(fd)) != -1);
	xfer_close(fd);
	assert_false(fd_open(fd));
	assert_false(lingers(copy));
	/* Not a socket: closed all the same. */
	assert_int_equal(pipe(p), 0);
	xfer_close(p[1]);
	assert_false(fd_open(p[1]));
	close(p[0]);
	close(copy);
	close(peer);
}

/*
 * Eight sockets in one message: every one is installed (the buffer holds
 * the most one message carries) and closed by us without lingering, none
 * dropped by the kernel, which would release a lingering socket in our
 * context.  Seen through the sender's copies.
 */
static void
test_xfer_recv_many_none_dropped(void **state)
{
	struct fixture		*fx = *state;
	struct xfer_info	 in, out;
	int			 fds[8], peers[8], fd, i, before;

	info_fill(&in, 9);
	for (i = 0; i < 8; i++)
		lingering_pair(&fds[i], &peers[i]);
	before = nfds();
	send_fds(fx->sv[0], &in, fds, 8);
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), -3);
	assert_int_equal(fd, -1);
	assert_int_equal(nfds(), before);
	for (i = 0; i < 8; i++) {
		assert_false(lingers(fds[i]));
		close(fds[i]);
		close(peers[i]);
	}
}

/* What the disposer was given (test_xfer_disposer). */
static int	disposed[8];
static int	ndisposed;

static void
record_disposal(int fd)
{
	if (ndisposed < 8)
		disposed[ndisposed++] = fd;
	close(fd);
}

/*
 * What is not kept of what came goes to the process's disposer (the
 * master's buries it: proc_bury), not to close: the extra descriptors of
 * a message, and those xfer_read finds with a probe's bytes.
 */
static void
test_xfer_disposer(void **state)
{
	struct fixture		*fx = *state;
	struct xfer_info	 in, out;
	int			 two[2], fd;

	info_fill(&in, 11);
	xfer_set_disposer(record_disposal);
	ndisposed = 0;
	two[0] = two[1] = fx->conn[0];
	send_fds(fx->sv[0], &in, two, 2);
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), -3);
	assert_int_equal(ndisposed, 2);
	ndisposed = 0;
	send_fds(fx->sv[0], &in, two, 1);
	assert_int_equal(xfer_read(fx->sv[1], &out, sizeof(out)),
	    (ssize_t)sizeof(out));
	assert_int_equal(ndisposed, 1);
	xfer_set_disposer(NULL);
	ndisposed = 0;
	send_fds(fx->sv[0], &in, two, 1);
	assert_int_equal(xfer_recv(fx->sv[1], &fd, &out), 1);
	close(fd);
	assert_int_equal(ndisposed, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_xfer_pair_flags),
		T(test_xfer_round_trip),
		T(test_xfer_boundaries),
		T(test_xfer_recv_gone),
		T(test_xfer_recv_bad_version),
		T(test_xfer_recv_short),
		T(test_xfer_recv_no_fd),
		T(test_xfer_recv_not_one_socket),
		T(test_xfer_recv_ctrunc),
		T(test_xfer_recv_errors),
		T(test_xfer_send_eagain),
		T(test_xfer_send_full),
		T(test_xfer_send_short),
		T(test_xfer_send_closed),
		T(test_xfer_close_no_linger),
		T(test_xfer_recv_many_none_dropped),
		T(test_xfer_disposer),
#undef T
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

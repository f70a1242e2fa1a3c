/*
 * xfer.c: descriptors over a unix stream socketpair.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "xfer.h"

/*
 * A non-blocking, close-on-exec pair.  A stream, not SOCK_SEQPACKET: unix
 * datagram-style sockets queue at most net.unix.max_dgram_qlen (10)
 * messages, and a worker retiring with hundreds of connections must not
 * meet EAGAIN.  Boundaries still hold: the kernel never reads past a
 * segment that carries descriptors, and every message is one small send.
 */
int
xfer_pair(int *sv)
{
	return (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sv));
}

/*
 * Send len bytes of msg with descriptor fd in one sendmsg (to addr of
 * alen bytes, or connected: NULL); returns sendmsg's result.
 */
ssize_t
fd_send(int sock, const void *msg, size_t len, int fd, const void *addr,
    socklen_t alen, int flags)
{
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	union {
		char		buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr	align;
	} u;

	memset(&mh, 0, sizeof(mh));
	memset(&u, 0, sizeof(u));
	iov.iov_base = (void *)(uintptr_t)msg;
	iov.iov_len = len;
	mh.msg_name = (void *)(uintptr_t)addr;
	mh.msg_namelen = alen;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return (sendmsg(sock, &mh, flags));
}

/* Send fd with info; 0, or -1 (EAGAIN: the receiver is behind). */
int
xfer_send(int ctl, int fd, const struct xfer_info *info)
{
	return (fd_send(ctl, info, sizeof(*info), fd, NULL, 0,
	    MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(*info) ? 0 : -1);
}

/*
 * Close a descriptor that came over a channel.  Its sender may have set
 * SO_LINGER on it, and kept no copy: our close is then the last, and it
 * would wait, loop and all, until the peer takes the queued bytes or the
 * linger time ends.  So lingering is turned off first, just before the
 * close (a sender that still holds a copy makes our close not the last).
 * Not a socket: setsockopt fails, and close is all there is to do.
 */
void
xfer_close(int fd)
{
	struct linger	l;

	memset(&l, 0, sizeof(l));
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* How this process disposes of what came over a channel (xfer_dispose). */
static void	(*xfer_disposer)(int) = xfer_close;

/*
 * Dispose of fd, which came over a channel or may hold descriptors that
 * did, as the process says (xfer_set_disposer; xfer_close unless told): a
 * master does not close them itself (see proc_bury).
 */
void
xfer_dispose(int fd)
{
	if (fd >= 0)
		xfer_disposer(fd);
}

/* Set how xfer_dispose disposes (NULL: xfer_close). */
void
xfer_set_disposer(void (*fn)(int))
{
	xfer_disposer = fn != NULL ? fn : xfer_close;
}

/*
 * Is fd a stream socket that is not listening, as a hand-over carries (a
 * connection; one whose peer is gone is the new worker's to find out)?
 * Asked of the socket (getsockopt), never of the file system: fstat on
 * what a worker sent could wait on a FUSE server.
 */
static int
xfer_is_conn(int fd)
{
	socklen_t	len;
	int		type = 0, listening = 1;

	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_STREAM)
		return (0);
	len = sizeof(listening);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == -1)
		return (0);
	return (listening == 0);
}

/*
 * The descriptors that came with mh: *fd gets the one a hand-over
 * carries, a stream socket not listening; every other one is closed at
 * once, as is one that is no such socket (-1 then).  The peer is not
 * trusted to send one: a worker could send more per message, and what it
 * sent and nobody closed would pile up here (in the master, until it
 * could not start a worker).  Returns how many came.
 */
static int
xfer_take_fds(const struct msghdr *mh, int *fd)
{
	struct cmsghdr	*cm;
	const char	*end = (const char *)mh->msg_control + mh->msg_controllen;
	const char	*p;
	int		 got, n = 0;

	*fd = -1;
	for (cm = CMSG_FIRSTHDR(mh); cm != NULL;
	    cm = CMSG_NXTHDR((struct msghdr *)(uintptr_t)mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len < CMSG_LEN(0))
			continue;
		for (p = (const char *)CMSG_DATA(cm);
		    p + sizeof(int) <= (const char *)cm + cm->cmsg_len &&
		    p + sizeof(int) <= end; p += sizeof(int)) {
			memcpy(&got, p, sizeof(got));
			if (n++ == 0)
				*fd = got;
			else
				xfer_dispose(got);
		}
	}
	if (*fd != -1 && (n != 1 || !xfer_is_conn(*fd))) {
		xfer_dispose(*fd);
		*fd = -1;
	}
	return (n);
}

/*
 * Read up to len bytes from a socket a worker writes to (its start-up
 * probe).  Descriptors sent with them are taken and disposed of
 * (xfer_dispose), not left to the kernel, which would release them in
 * our context (read(2) drops them).  As read(2), MSG_DONTWAIT.
 */
ssize_t
xfer_read(int sock, void *buf, size_t len)
{
	struct msghdr	 mh;
	struct iovec	 iov;
	ssize_t		 n;
	int		 fd;
	union {
		char		buf[CMSG_SPACE(XFER_FDS_MAX * sizeof(int))];
		struct cmsghdr	align;
	} u;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n > 0) {
		(void)xfer_take_fds(&mh, &fd);
		xfer_dispose(fd);
	}
	return (n);
}

/*
 * Receive one descriptor (close-on-exec) and its info.  Returns 1, 0 when
 * nothing is waiting, -1 when the channel is gone or out of step (a
 * descriptor that came with a bad message is closed), -2 when a whole
 * message came without its descriptor because the kernel could not
 * install it (we are at RLIMIT_NOFILE), -3 when the sender did not send
 * exactly one stream socket that is not listening (xfer_take_fds closed
 * what it sent).  After -2 or -3 that connection is lost, but the channel
 * is still in step.  The control buffer has room for as many descriptors
 * as one message can carry (XFER_FDS_MAX): the kernel drops those past the
 * room, in our context, and a socket it drops so may linger (xfer_close);
 * so MSG_CTRUNC means only that we are at RLIMIT_NOFILE (with any
 * installed, the sender sent more than one: its doing).
 */
int
xfer_recv(int ctl, int *fd, struct xfer_info *info)
{
	struct msghdr	 mh;
	struct iovec	 iov;
	ssize_t		 n;
	int		 nfds;
	union {
		char		buf[CMSG_SPACE(XFER_FDS_MAX * sizeof(int))];
		struct cmsghdr	align;
	} u;

	*fd = -1;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = info;
	iov.iov_len = sizeof(*info);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	n = recvmsg(ctl, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n == -1)
		return (errno == EAGAIN || errno == EINTR ? 0 : -1);
	nfds = xfer_take_fds(&mh, fd);
	if (n == 0)
		return (-1);	/* the other side is gone */
	if (n != (ssize_t)sizeof(*info) || info->version != XFER_VERSION) {
		/* Out of step: nothing after this can be trusted. */
		if (*fd != -1)
			xfer_dispose(*fd);
		*fd = -1;
		return (-1);
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		if (*fd != -1)
			xfer_dispose(*fd);
		*fd = -1;
		return (nfds > 0 ? -3 : -2);
	}
	if (*fd == -1)
		return (-3);
	/* A peer that is not IP came over a unix socket (0: none sent). */
	if (info->peer.family != AF_INET && info->peer.family != AF_INET6)
		info->peer.family = AF_UNIX;
	return (1);
}

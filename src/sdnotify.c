/*
 * sdnotify.c: READY=1, RELOADING=1, STOPPING=1, STATUS=..., WATCHDOG=1.
 * Implemented here rather than with libsystemd: it is one sendto().
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sdnotify.h"
#include "xfer.h"

static struct sockaddr_un	sd_addr;
static socklen_t		sd_addrlen;
static int			sd_fd = -1;
static uint64_t			sd_watchdog_ms;
static uint64_t			sd_watchdog_usec;	/* as given */
static char			sd_path[sizeof(sd_addr.sun_path)];
static int			sd_held;	/* not main yet: silent */

/*
 * Read and forget the environment, so that children (workers, commands)
 * never talk to systemd in the master's name.  Returns 1 if notifying.
 */
int
sdnotify_init(void)
{
	const char	*path, *usec, *pid;
	size_t		 len;

	path = getenv("NOTIFY_SOCKET");
	usec = getenv("WATCHDOG_USEC");
	pid = getenv("WATCHDOG_PID");
	if (usec != NULL && (pid == NULL || atol(pid) == (long)getpid())) {
		sd_watchdog_usec = strtoull(usec, NULL, 10);
		sd_watchdog_ms = sd_watchdog_usec / 1000;
	}
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return (0);
	len = strlen(path);
	if (len >= sizeof(sd_addr.sun_path))
		return (0);
	memcpy(sd_path, path, len + 1);
	memset(&sd_addr, 0, sizeof(sd_addr));
	sd_addr.sun_family = AF_UNIX;
	memcpy(sd_addr.sun_path, path, len);
	if (path[0] == '@')
		sd_addr.sun_path[0] = '\0';	/* abstract namespace */
	sd_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	sd_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	return (sd_fd != -1);
}

/* Send one notification; silently nothing when not under systemd. */
int
sdnotify(const char *fmt, ...)
{
	char	msg[512];
	va_list	ap;
	int	n;

	if (sd_fd == -1 || sd_held)
		return (0);
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return (-1);
	if (sendto(sd_fd, msg, (size_t)n, MSG_NOSIGNAL,
	    (struct sockaddr *)&sd_addr, sd_addrlen) == -1)
		return (-1);
	return (1);
}

/* The watchdog interval systemd expects (0: none). */
uint64_t
sdnotify_watchdog_ms(void)
{
	return (sd_watchdog_ms);
}

/* In a child: drop the socket. */
void
sdnotify_forget(void)
{
	if (sd_fd != -1)
		close(sd_fd);
	sd_fd = -1;
	sd_watchdog_ms = 0;
}

/*
 * A binary upgrade's new master is not systemd's main process until the
 * old one says so (MAINPID=): until then it stays silent (held), as
 * systemd would refuse (and log) what it sent.
 */
void
sdnotify_hold(int on)
{
	sd_held = on;
}

/* $NOTIFY_SOCKET as it was given ("" when none), for a new binary. */
const char *
sdnotify_socket(void)
{
	return (sd_fd == -1 ? "" : sd_path);
}

/* $WATCHDOG_USEC as it was given (0: none), for a new binary. */
uint64_t
sdnotify_watchdog_usec(void)
{
	return (sd_watchdog_usec);
}

/*
 * BARRIER=1 (sd_notify_barrier(3)): systemd closes the descriptor sent
 * with it once it has processed every earlier notification.  Wait for
 * that up to timeout ms, so that a process that exits next (the old
 * master after MAINPID=) is not taken for the service's death.  1 when
 * the barrier was passed, 0 without systemd, -1 on timeout or error.
 */
int
sdnotify_barrier(int timeout_ms)
{
	struct pollfd	 pfd;
	int		 p[2], rc;

	if (sd_fd == -1 || sd_held)
		return (0);
	if (pipe2(p, O_CLOEXEC) == -1)
		return (-1);
	rc = fd_send(sd_fd, "BARRIER=1", 9, p[1], &sd_addr, sd_addrlen,
	    MSG_NOSIGNAL) == -1 ? -1 : 0;
	close(p[1]);
	if (rc == 0) {
		pfd.fd = p[0];
		pfd.events = 0;		/* POLLHUP comes anyway */
		rc = poll(&pfd, 1, timeout_ms) == 1 ? 1 : -1;
	}
	close(p[0]);
	return (rc);
}

/*
 * sdnotify.c: READY=1, RELOADING=1, STOPPING=1, STATUS=..., WATCHDOG=1.
 * Implemented here rather than with libsystemd: it is one sendto().
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sdnotify.h"

static struct sockaddr_un	sd_addr;
static socklen_t		sd_addrlen;
static int			sd_fd = -1;
static uint64_t			sd_watchdog_ms;

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
	if (usec != NULL && (pid == NULL || atol(pid) == (long)getpid()))
		sd_watchdog_ms = strtoull(usec, NULL, 10) / 1000;
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return (0);
	len = strlen(path);
	if (len >= sizeof(sd_addr.sun_path))
		return (0);
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

	if (sd_fd == -1)
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

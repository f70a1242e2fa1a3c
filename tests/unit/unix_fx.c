/*
 * unix_fx.c: a private directory /tmp/msgd-test-NAME.XXXXXX with a unix
 * socket listening in it; the tests accept on lfd themselves.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "unix_fx.h"

/* Make the directory and the listener; a failure fails the test. */
void
unix_fx_open(struct unix_fx *u, const char *name)
{
	struct sockaddr_un	sun;

	memset(u, 0, sizeof(*u));
	snprintf(u->dir, sizeof(u->dir), "/tmp/msgd-test-%s.XXXXXX", name);
	assert_non_null(mkdtemp(u->dir));
	snprintf(u->path, sizeof(u->path), "%s/sock", u->dir);
	snprintf(u->addr, sizeof(u->addr), "unix:%s", u->path);
	u->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_not_equal(u->lfd, -1);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", u->path);
	assert_int_equal(bind(u->lfd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	assert_int_equal(listen(u->lfd, 4), 0);
}

/* Close the listener, remove the socket and the (emptied) directory. */
void
unix_fx_close(struct unix_fx *u)
{
	close(u->lfd);
	unlink(u->path);
	rmdir(u->dir);
}

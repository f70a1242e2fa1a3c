/*
 * test_master_upgrade.c: the new master's reading of MSGD_UPGRADE, which
 * the old master sets: descriptors that are not what they must be
 * (not open, not sockets, the pidfile not a file, stdio), malformed
 * numbers and fields are refused with the variable named and unset; a
 * good value gives the channels, the pidfile, the owned listeners and the
 * generation to go on from, and holds notifications to systemd.
 */
#include <sys/socket.h>

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

#include "master_upgrade.h"
#include "sdnotify.h"

struct fx {
	struct ptable		pt;
	struct gens		gl;
	struct stats_seg	seg;
	struct upgrade		u;
	int			sv[2], xv[2], pidfd;
	char			path[64];
};

static int
setup(void **state)
{
	struct fx	*f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return (-1);
	gen_init(&f->gl, &f->pt);
	upgrade_init(&f->u, &f->gl, &f->seg, "/usr/sbin/msgd", 1);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, f->sv) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, f->xv) == -1)
		return (-1);
	snprintf(f->path, sizeof(f->path), "/tmp/msgd-test-up.XXXXXX");
	if ((f->pidfd = mkstemp(f->path)) == -1)
		return (-1);
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	struct fx	*f = *state;

	close(f->sv[0]);
	close(f->sv[1]);
	close(f->xv[0]);
	close(f->xv[1]);
	close(f->pidfd);
	unlink(f->path);
	unsetenv("MSGD_UPGRADE");
	free(f);
	return (0);
}

/* upgrade_incoming() with MSGD_UPGRADE=value (NULL: unset). */
static int
incoming(struct fx *f, const char *value, char *cause, size_t len)
{
	if (value != NULL)
		setenv("MSGD_UPGRADE", value, 1);
	else
		unsetenv("MSGD_UPGRADE");
	cause[0] = '\0';
	return (upgrade_incoming(&f->u, cause, len));
}

static void
test_incoming_absent(void **state)
{
	struct fx	*f = *state;
	char		 cause[256];

	assert_int_equal(incoming(f, NULL, cause, sizeof(cause)), 0);
	assert_int_equal(f->u.state, UP_IDLE);
}

static void
test_incoming_good(void **state)
{
	struct fx	*f = *state;
	char		 v[64], cause[256];

	snprintf(v, sizeof(v), "%d,%d,%d,5,41", f->sv[1], f->xv[1], f->pidfd);
	assert_int_equal(incoming(f, v, cause, sizeof(cause)), 1);
	assert_null(getenv("MSGD_UPGRADE"));
	assert_int_equal(f->u.state, UP_INCOMING);
	assert_int_equal(f->u.ctl, f->sv[1]);
	assert_int_equal(f->u.xfer, f->xv[1]);
	assert_int_equal(f->u.pidfd, f->pidfd);
	assert_true(f->u.owned == 5);
	assert_true(f->gl.next_id == 41);
	assert_true(fcntl(f->sv[1], F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(f->xv[1], F_GETFL) & O_NONBLOCK);
	sdnotify_hold(0);
}

static void
test_incoming_hostile(void **state)
{
	struct fx	*f = *state;
	char		 v[16][64], cause[256];
	int		 i, n = 0, dead;

	dead = dup(f->pidfd);
	close(dead);
	snprintf(v[n++], 64, "%s", "");
	snprintf(v[n++], 64, "%d,%d,%d", f->sv[1], f->xv[1], f->pidfd);
	snprintf(v[n++], 64, "%d,%d,%d,0", f->sv[1], f->xv[1], f->pidfd);
	snprintf(v[n++], 64, "%d,%d,%d,zz,1", f->sv[1], f->xv[1], f->pidfd);
	snprintf(v[n++], 64, "%d,%d,%d,0,x", f->sv[1], f->xv[1], f->pidfd);
	snprintf(v[n++], 64, "%d,%d,%d,0,1,", f->sv[1], f->xv[1], f->pidfd);
	snprintf(v[n++], 64, "%d,%d,%d,0,99999999999", f->sv[1], f->xv[1],
	    f->pidfd);
	/* The pidfile where a socket must be, and the other way round. */
	snprintf(v[n++], 64, "%d,%d,%d,0,1", f->pidfd, f->xv[1], f->pidfd);
	snprintf(v[n++], 64, "%d,%d,%d,0,1", f->sv[1], f->xv[1], f->sv[1]);
	/* Standard descriptors, one not open, out of range, negative. */
	snprintf(v[n++], 64, "2,%d,%d,0,1", f->xv[1], f->pidfd);
	snprintf(v[n++], 64, "%d,%d,%d,0,1", dead, f->xv[1], f->pidfd);
	snprintf(v[n++], 64, "%d,70000,%d,0,1", f->sv[1], f->pidfd);
	snprintf(v[n++], 64, "%d,-4,%d,0,1", f->sv[1], f->pidfd);
	snprintf(v[n++], 64, " %d,%d,%d,0,1", f->sv[1], f->xv[1], f->pidfd);
	for (i = 0; i < n; i++) {
		assert_int_equal(incoming(f, v[i], cause, sizeof(cause)), -1);
		assert_non_null(strstr(cause, "MSGD_UPGRADE"));
		assert_null(getenv("MSGD_UPGRADE"));
		assert_int_equal(f->u.state, UP_IDLE);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_incoming_absent, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_incoming_good, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_incoming_hostile, setup,
		    teardown),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}

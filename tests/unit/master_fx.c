/*
 * master_fx.c: the fixture of the master's unit tests (master_fx.h).
 */
#include <sys/prctl.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "master_fx.h"

/* cmocka setup: a fresh segment, table, generation list and reload. */
int
mfx_setup(void **state)
{
	struct mfx	*fx;
	const char	*tmp;
	char		 cause[512];

	if ((fx = calloc(1, sizeof(*fx))) == NULL)
		return (-1);
	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0' ||
	    strlen(tmp) > 40)
		tmp = "/tmp";
	snprintf(fx->dir, sizeof(fx->dir), "%s/test_master.XXXXXX", tmp);
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return (-1);
	}
	snprintf(fx->path, sizeof(fx->path), "%s/stats", fx->dir);
	if (stats_create(&fx->seg, fx->path, MFX_SLOTS, cause,
	    sizeof(cause)) == -1) {
		print_error("stats_create: %s\n", cause);
		rmdir(fx->dir);
		free(fx);
		return (-1);
	}
	proc_init(&fx->pt, MFX_SLOTS, &fx->seg);
	gen_init(&fx->gl, &fx->pt);
	reload_init(&fx->rl, &fx->gl, &fx->seg);
	*state = fx;
	return (0);
}

/*
 * cmocka teardown: kill and reap every child a test listed (even one it
 * marked free), free everything, remove the segment and the directory (a
 * test that makes sockets there removes them).
 */
int
mfx_teardown(void **state)
{
	struct mfx	*fx = *state;
	int		 i;

	for (i = 0; i < fx->pt.nprocs; i++)
		if (fx->pt.procs[i].pid > 0) {
			kill(fx->pt.procs[i].pid, SIGKILL);
			(void)waitpid(fx->pt.procs[i].pid, NULL, 0);
		}
	gen_free_all(&fx->gl);
	proc_free(&fx->pt);
	stats_close(&fx->seg);
	(void)stats_unlink(fx->path);
	rmdir(fx->dir);
	free(fx);
	return (0);
}

/* A configuration (heap: a generation adopts it) without listeners. */
struct msgd_conf *
mfx_conf(int workers)
{
	struct msgd_conf	*c;

	c = malloc(sizeof(*c));
	assert_non_null(c);
	conf_defaults(c);
	c->nlisten = 0;
	c->nudp = 0;
	c->workers = workers;
	c->max_workers = MFX_SLOTS / 2;
	c->allow_root = 1;
	return (c);
}

/* A child that waits to be killed: a worker nothing may really signal. */
pid_t
mfx_child_pause(void)
{
	pid_t	pid;

	if ((pid = fork()) == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	assert_true(pid > 0);
	return (pid);
}

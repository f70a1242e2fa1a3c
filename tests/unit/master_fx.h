/*
 * master_fx.h: the fixture the master's unit tests share: a stats segment
 * in a temporary directory, a process table on it, the generation list and
 * the reload state, as master.c sets them up; and children of the test
 * that stand in for workers.
 */
#ifndef MSGD_TEST_MASTER_FX_H
#define MSGD_TEST_MASTER_FX_H

#include <sys/types.h>

#include "config.h"
#include "master_reload.h"
#include "stats.h"

#define MFX_SLOTS	8

struct mfx {
	char		 dir[80];	/* unix socket paths must be short */
	char		 path[100];	/* the stats segment */
	struct stats_seg seg;
	struct ptable	 pt;
	struct gens	 gl;
	struct reload	 rl;
};

int	 mfx_setup(void **);
int	 mfx_teardown(void **);
struct msgd_conf *mfx_conf(int);
pid_t	 mfx_child_pause(void);

#endif /* MSGD_TEST_MASTER_FX_H */

/*
 * master_reload.h: SIGHUP as a transaction, the layer above generations.
 * A reload starts a generation in state GEN_STARTING and ends by commit or
 * roll back; when to start one (and a queued one) is the loop's decision.
 */
#ifndef MSGD_MASTER_RELOAD_H
#define MSGD_MASTER_RELOAD_H

#include <stdint.h>

#include "master_gen.h"
#include "stats.h"

struct reload {
	struct gens		*gl;
	struct stats_seg	*stats;		/* outcome for msgctl reload */
	uint64_t		 started;	/* mono ms */
	uint64_t		 settle_at;	/* all new serve: commit then */
};

void	reload_init(struct reload *, struct gens *, struct stats_seg *);
int	reload_busy(const struct reload *);
int	reload_start(struct reload *);
int	reload_poll(struct reload *, uint64_t, int *);
void	reload_rollback(struct reload *, const char *);

#endif /* MSGD_MASTER_RELOAD_H */

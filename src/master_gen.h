/*
 * master_gen.h: generations, the layer above the process table.  A
 * generation is one configuration, its listening sockets and the workers
 * started with it, each at a position ("worker N") that keeps its respawn
 * history.  All generations live in one list, each in a state.
 */
#ifndef MSGD_MASTER_GEN_H
#define MSGD_MASTER_GEN_H

#include <sys/queue.h>
#include <stdint.h>

#include "config.h"
#include "master_proc.h"
#include "net.h"
#include "priv.h"
#include "tls.h"

#define GEN_DRAINING_MAX	8	/* more: the oldest is killed */

/*
 * GEN_STARTING -> GEN_CURRENT (a reload commits) -> GEN_DRAINING (the
 * next one commits) -> freed when its last worker has gone.  A reload
 * that fails goes GEN_STARTING -> GEN_DRAINING.  GEN_DRAINING ->
 * GEN_KILLED when too many drain at once.  The first generation starts
 * as GEN_CURRENT.
 */
enum gstate {
	GEN_CURRENT,	/* the serving generation: exactly one */
	GEN_STARTING,	/* a reload's, until it commits or rolls back */
	GEN_DRAINING,	/* replaced or rolled back: its workers finish */
	GEN_KILLED	/* killed to make room, its workers not reaped yet */
};

/* A position of a generation: what "worker N" keeps across respawns. */
struct wpos {
	int		 proc;		/* index in the table, -1 if none */
	int		 young;		/* deaths in a row before a request */
	uint64_t	 respawn_at;	/* mono ms, 0: nothing pending */
	int		 fatal;		/* exited WORKER_EXIT_FATAL */
};

/* A configuration and the workers started with it. */
struct gen {
	TAILQ_ENTRY(gen)	 entry;
	enum gstate		 state;
	uint64_t		 id;
	struct msgd_conf	*conf;
	struct priv		 priv;
	struct listener		 ls[CONF_LISTEN_MAX];
	int			 nls;
	struct tls_ctx		*tls;	/* "tls:" listeners' context, or NULL */
	struct wpos		*pos;	/* conf->max_workers of them */
	int			 npos;	/* in use (SIGTTIN/SIGTTOU move it) */
};

/* Every generation, in the order of their last change of state. */
struct gens {
	TAILQ_HEAD(, gen)	 list;
	struct ptable		*pt;
	uint64_t		 next_id;
};

void	 gen_init(struct gens *, struct ptable *);
struct gen *gen_new(struct gens *, struct msgd_conf *, enum gstate, char *,
	    size_t);
void	 gen_free(struct gens *, struct gen *);
void	 gen_free_all(struct gens *);
struct gen *gen_find(const struct gens *, enum gstate);
int	 gen_prepare(struct gen *, char *, size_t);
int	 gen_bind(struct gen *, const struct gen *, char *, size_t);
void	 gen_entries(const struct msgd_conf *, char *, size_t);
void	 gen_warn_dropped(const struct gen *, const struct gen *);
void	 gen_unbind(struct gen *, const struct gen *);
int	 gen_unshared(const struct gen *, const struct gen *);
int	 gen_spawn(struct gens *, struct gen *, int);
int	 gen_all_serving(const struct gens *, const struct gen *);
void	 gen_drain(struct gens *, struct gen *, int, int);
void	 gen_drain_all(struct gens *, int);
void	 gen_retire(struct gens *, struct gen *, const struct gen *);
void	 gen_promote(struct gens *, struct gen *);
void	 gen_collect(struct gens *);
void	 gen_exited(const struct proc_exit *);
int	 gen_succeed(struct gens *, struct gen *, int, int);
int	 gen_after_death(const struct proc_exit *);
void	 gen_respawn_due(struct gens *, struct gen *, uint64_t, int *);
int	 gen_grow(struct gen *);
void	 gen_shrink(struct gens *, struct gen *);

#endif /* MSGD_MASTER_GEN_H */

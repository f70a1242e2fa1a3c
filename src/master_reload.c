/*
 * master_reload.c: SIGHUP as a transaction.
 *
 * Read and check the new config; bind only the listeners it adds (the ones
 * it keeps are the same sockets, never closed and re-bound, so no queued
 * connection is lost); start a whole new generation of workers; when every
 * one of them has answered its start-up probe and stayed up for a moment,
 * commit: the old generation drains and exits.  Anything that goes wrong
 * before the commit rolls back: the new workers drain, the old generation
 * never stopped serving.  The outcome goes to the log and to the stats
 * segment, where msgctl reload waits for it.  The generations themselves
 * are master_gen.c's; whether a reload may start now, or waits behind
 * another, is the loop's (master.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "master_reload.h"
#include "sdnotify.h"
#include "util.h"

#define RELOAD_SETTLE_MS	500	/* new workers must stay up this long */

/* No reload yet; its outcomes go to stats. */
void
reload_init(struct reload *r, struct gens *gl, struct stats_seg *stats)
{
	memset(r, 0, sizeof(*r));
	r->gl = gl;
	r->stats = stats;
}

/* A reload is in progress: its generation has not committed yet. */
int
reload_busy(const struct reload *r)
{
	return (gen_find(r->gl, GEN_STARTING) != NULL);
}

/* Report an outcome to the log, msgctl reload and systemd. */
static void
reload_report(struct reload *r, int ok, const char *msg)
{
	if (ok)
		log_info("reload: %s", msg);
	else
		log_warnx("reload failed: %s", msg);
	stats_set_reload(r->stats, ok, msg);
	sdnotify("READY=1\nSTATUS=%s", msg);
}

/* Settings that shape the master itself cannot change without a restart. */
static int
reload_immutable(const struct msgd_conf *o, const struct msgd_conf *n,
    char *cause, size_t len)
{
	if (o->max_workers != n->max_workers)
		snprintf(cause, len, "max_workers cannot change on reload "
		    "(%d -> %d): restart msgd", o->max_workers, n->max_workers);
	else if (strcmp(o->stats_file, n->stats_file) != 0)
		snprintf(cause, len, "stats_file cannot change on reload: "
		    "restart msgd");
	else if (strcmp(o->pidfile, n->pidfile) != 0)
		snprintf(cause, len, "pidfile cannot change on reload: restart "
		    "msgd");
	else
		return (0);
	return (-1);
}

/*
 * SIGHUP, when no reload is in progress: load the configuration, make its
 * generation and start its workers.  Returns 0 while it is in progress,
 * -1 when it has already ended (refused, or rolled back): the outcome is
 * reported.
 */
int
reload_start(struct reload *r)
{
	struct msgd_conf	*conf;
	struct gen		*cur = gen_find(r->gl, GEN_CURRENT), *g;
	char			 errs[CONF_ERRORS_MAX], cause[512], *nl;
	char			*line;
	int			 i, nerr = 0;

	sdnotify("RELOADING=1");
	log_info("reloading %s", cur->conf->path);
	if ((conf = malloc(sizeof(*conf))) == NULL) {
		reload_report(r, 0, "out of memory");
		return (-1);
	}
	if (conf_load(cur->conf->path, conf, errs, sizeof(errs)) == -1) {
		/* Every error to the log; the first one to msgctl. */
		for (line = errs; *line != '\0'; line = nl + 1, nerr++) {
			if ((nl = strchr(line, '\n')) == NULL)
				break;
			*nl = '\0';
			log_warnx("%s", line);
		}
		snprintf(cause, sizeof(cause), "%.400s%s; keeping generation %llu",
		    errs, nerr > 1 ? " (and more, see the log)" : "",
		    (unsigned long long)cur->id);
		free(conf);
		reload_report(r, 0, cause);
		return (-1);
	}
	if (reload_immutable(cur->conf, conf, cause, sizeof(cause)) == -1 ||
	    (g = gen_new(r->gl, conf, GEN_STARTING, cause, sizeof(cause))) ==
	    NULL) {
		free(conf);
		reload_report(r, 0, cause);
		return (-1);
	}
	if (gen_prepare(g, cause, sizeof(cause)) == -1 ||
	    gen_bind(g, cur, cause, sizeof(cause)) == -1) {
		gen_free(r->gl, g);
		reload_report(r, 0, cause);
		return (-1);
	}
	r->settle_at = 0;
	r->started = mono_ms();
	for (i = 0; i < g->npos; i++)
		if (gen_spawn(r->gl, g, i) == -1) {
			reload_rollback(r, "cannot start the new workers");
			return (-1);
		}
	return (0);
}

/* Every new worker serves: swap generations, drain the old one. */
static void
reload_commit(struct reload *r, struct gen *g)
{
	struct gen	*old = gen_find(r->gl, GEN_CURRENT);
	char		 msg[256];
	int		 added, removed;

	added = gen_unshared(g, old);
	removed = gen_unshared(old, g);
	gen_warn_dropped(old, g);
	/* Its connections move to the new workers: nobody sees a close. */
	gen_promote(r->gl, g);
	log_setlevel(g->conf->log_level);
	stats_set_master(r->stats, g->npos, g->id);
	snprintf(msg, sizeof(msg), "generation %llu serving with %d workers "
	    "(%d listeners added, %d removed) after %llu ms",
	    (unsigned long long)g->id, g->npos, added, removed,
	    (unsigned long long)(mono_ms() - r->started));
	reload_report(r, 1, msg);
}

/*
 * Called from the loop: once every new worker serves, wait
 * RELOAD_SETTLE_MS (a worker that dies meanwhile rolls the reload back),
 * then commit.  Returns 1 when it has committed; shrinks *wait to the end
 * of the settling.
 */
int
reload_poll(struct reload *r, uint64_t now, int *wait)
{
	struct gen	*g = gen_find(r->gl, GEN_STARTING);
	int		 done = 0;

	if (g != NULL && gen_all_serving(r->gl, g)) {
		if (r->settle_at == 0)
			r->settle_at = now + RELOAD_SETTLE_MS;
		else if (now >= r->settle_at) {
			reload_commit(r, g);
			done = 1;
		}
	}
	if (r->settle_at != 0 && r->settle_at > now &&
	    r->settle_at - now < (uint64_t)*wait)
		*wait = (int)(r->settle_at - now);
	return (done);
}

/* Something failed before the commit: the old generation stays. */
void
reload_rollback(struct reload *r, const char *why)
{
	struct gen	*g = gen_find(r->gl, GEN_STARTING);
	struct gen	*cur = gen_find(r->gl, GEN_CURRENT);
	char		 msg[512];

	if (g == NULL)
		return;
	/* What the new workers accepted goes back to the old ones. */
	gen_retire(r->gl, g, cur);
	snprintf(msg, sizeof(msg), "rolled back: %s; keeping generation %llu",
	    why, (unsigned long long)cur->id);
	reload_report(r, 0, msg);
}

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
 * segment, where msgctl reload waits for it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "net.h"
#include "sdnotify.h"
#include "util.h"

#define RELOAD_SETTLE_MS	500	/* new workers must stay up this long */

/* The fd of address text (stream or datagram) in g, or -1. */
static int
gen_listener(const struct gen *g, const char *text, int dgram)
{
	int	i;

	if (g == NULL)
		return (-1);
	for (i = 0; i < g->nls; i++)
		if (g->ls[i].fd != -1 && g->ls[i].dgram == dgram &&
		    strcmp(g->ls[i].addr.text, text) == 0)
			return (g->ls[i].fd);
	return (-1);
}

/*
 * Close (and for unix sockets, remove) the listeners of g that keep is not
 * using, then forget all of g's: g's workers hold their own copies.
 */
void
master_unbind_gen(struct master *m, struct gen *g)
{
	int	i;

	for (i = 0; i < g->nls; i++) {
		if (g->ls[i].fd == -1)
			continue;
		if (gen_listener(m->cur != g ? m->cur : NULL,
		    g->ls[i].addr.text, g->ls[i].dgram) != g->ls[i].fd) {
			close(g->ls[i].fd);
			if (net_unlink_unix(&g->ls[i].addr) == -1)
				log_warn("unlink %s", g->ls[i].addr.text);
		}
		g->ls[i].fd = -1;
	}
}

/*
 * Give g its listeners: the ones from => reused as they are, new ones
 * bound now.  All or nothing.
 */
int
gen_bind(struct master *m, struct gen *g, const struct gen *from, char *cause,
    size_t len)
{
	const struct msgd_conf	*c = g->conf;
	struct listener		*l;
	const char		*text;
	int			 i, n, fd, dgram;

	for (n = 0; n < c->nlisten + c->nudp; n++) {
		dgram = n >= c->nlisten;
		text = dgram ? c->udp_listen[n - c->nlisten] : c->listen[n];
		l = &g->ls[n];
		l->dgram = dgram;
		if (net_parse_addr(text, &l->addr, cause, len) == -1)
			goto fail;
		fd = gen_listener(from, l->addr.text, dgram);
		if (fd == -1) {
			/* A unix socket: socket_mode, the workers' group. */
			fd = dgram ? net_listen_udp(&l->addr, cause, len) :
			    net_listen_mode(&l->addr, c->backlog,
			    (mode_t)c->socket_mode, g->priv.change ?
			    g->priv.gid : (gid_t)-1, cause, len);
			if (fd == -1)
				goto fail;
		}
		l->fd = fd;
		g->nls = n + 1;
	}
	return (0);
fail:
	for (i = 0; i < g->nls; i++)
		if (g->ls[i].fd != -1 && gen_listener(from, g->ls[i].addr.text,
		    g->ls[i].dgram) != g->ls[i].fd) {
			close(g->ls[i].fd);
			net_unlink_unix(&g->ls[i].addr);
		}
	for (i = 0; i < g->nls; i++)
		g->ls[i].fd = -1;
	g->nls = 0;
	return (-1);
}

/* Report an outcome to the log, msgctl reload and systemd. */
static void
reload_report(struct master *m, int ok, const char *msg)
{
	if (ok)
		log_info("reload: %s", msg);
	else
		log_warnx("reload failed: %s", msg);
	stats_set_reload(&m->stats, ok, msg);
	sdnotify("READY=1\nSTATUS=%s", msg);
}

/* A reload that was asked for meanwhile runs now. */
static void
reload_next(struct master *m)
{
	if (m->reload_pending && !m->stopping) {
		m->reload_pending = 0;
		reload_start(m);
	}
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

/* SIGHUP: begin a reload, or queue it behind the one in progress. */
void
reload_start(struct master *m)
{
	struct msgd_conf	*conf;
	struct gen		*g;
	char			 errs[CONF_ERRORS_MAX], cause[512], *nl;
	char			*line;
	int			 i, nerr = 0;

	if (m->stopping)
		return;
	if (m->next != NULL || !m->ready) {
		log_info("reload requested while starting or reloading: "
		    "queued");
		m->reload_pending = 1;
		return;
	}
	sdnotify("RELOADING=1");
	log_info("reloading %s", m->cur->conf->path);
	if ((conf = malloc(sizeof(*conf))) == NULL) {
		reload_report(m, 0, "out of memory");
		return;
	}
	if (conf_load(m->cur->conf->path, conf, errs, sizeof(errs)) == -1) {
		/* Every error to the log; the first one to msgctl. */
		for (line = errs; *line != '\0'; line = nl + 1, nerr++) {
			if ((nl = strchr(line, '\n')) == NULL)
				break;
			*nl = '\0';
			log_warnx("%s", line);
		}
		snprintf(cause, sizeof(cause), "%.400s%s; keeping generation %llu",
		    errs, nerr > 1 ? " (and more, see the log)" : "",
		    (unsigned long long)m->cur->id);
		free(conf);
		reload_report(m, 0, cause);
		return;
	}
	if (reload_immutable(m->cur->conf, conf, cause, sizeof(cause)) == -1 ||
	    (g = gen_new(m, conf, cause, sizeof(cause))) == NULL) {
		free(conf);
		reload_report(m, 0, cause);
		return;
	}
	if (gen_prepare(m, g, cause, sizeof(cause)) == -1 ||
	    gen_bind(m, g, m->cur, cause, sizeof(cause)) == -1) {
		gen_free(m, g);
		reload_report(m, 0, cause);
		return;
	}
	m->next = g;
	m->settle_at = 0;
	m->reload_started = mono_ms();
	for (i = 0; i < g->npos; i++)
		if (proc_spawn(m, g, i) == -1) {
			reload_rollback(m, "cannot start the new workers");
			return;
		}
}

/*
 * Called from the loop while a reload is in progress: once every new
 * worker serves, wait RELOAD_SETTLE_MS (a worker that dies meanwhile rolls
 * the reload back), then commit.
 */
void
reload_poll(struct master *m, uint64_t now)
{
	if (m->next == NULL || !gen_all_serving(m, m->next))
		return;
	if (m->settle_at == 0) {
		m->settle_at = now + RELOAD_SETTLE_MS;
		return;
	}
	if (now >= m->settle_at)
		reload_commit(m);
}

/* Park a generation that is draining until its last worker has gone. */
static void
gen_retire(struct master *m, struct gen *g)
{
	size_t	i;

	for (i = 0; i < nitems(m->old); i++)
		if (m->old[i] == NULL) {
			m->old[i] = g;
			return;
		}
	/*
	 * Too many draining at once: the oldest goes now.  It is freed, like
	 * the others, once its killed workers have been reaped.
	 */
	gen_drain(m, m->old[0], 1, 0);
	log_warnx("more than %zu generations draining: killing generation "
	    "%llu", nitems(m->old), (unsigned long long)m->old[0]->id);
	m->old[0]->doomed_next = m->doomed;
	m->doomed = m->old[0];
	for (i = 0; i + 1 < nitems(m->old); i++)
		m->old[i] = m->old[i + 1];
	m->old[nitems(m->old) - 1] = g;
}

/* Every new worker serves: swap generations, drain the old one. */
void
reload_commit(struct master *m)
{
	struct gen	*old = m->cur;
	char		 msg[256];
	int		 i, added = 0, removed = 0;

	for (i = 0; i < m->next->nls; i++)
		if (gen_listener(old, m->next->ls[i].addr.text,
		    m->next->ls[i].dgram) == -1)
			added++;
	for (i = 0; i < old->nls; i++)
		if (gen_listener(m->next, old->ls[i].addr.text,
		    old->ls[i].dgram) == -1)
			removed++;
	m->cur = m->next;
	m->next = NULL;
	master_unbind_gen(m, old);
	/* Its connections move to the new workers: nobody sees a close. */
	gen_drain(m, old, 0, 1);
	gen_retire(m, old);
	log_setlevel(m->cur->conf->log_level);
	stats_set_master(&m->stats, m->cur->npos, m->cur->id);
	snprintf(msg, sizeof(msg), "generation %llu serving with %d workers "
	    "(%d listeners added, %d removed) after %llu ms",
	    (unsigned long long)m->cur->id, m->cur->npos, added, removed,
	    (unsigned long long)(mono_ms() - m->reload_started));
	reload_report(m, 1, msg);
	reload_next(m);
}

/* Something failed before the commit: the old generation stays. */
void
reload_rollback(struct master *m, const char *why)
{
	struct gen	*g = m->next;
	char		 msg[512];

	if (g == NULL)
		return;
	m->next = NULL;
	master_unbind_gen(m, g);
	/* What the new workers accepted goes back to the old ones. */
	gen_drain(m, g, 0, 1);
	gen_retire(m, g);
	snprintf(msg, sizeof(msg), "rolled back: %s; keeping generation %llu",
	    why, (unsigned long long)m->cur->id);
	reload_report(m, 0, msg);
	reload_next(m);
}

/*
 * master_gen.c: generations.  Make one from a configuration (its user,
 * its files directory, its listeners: those an older generation has are
 * shared, never closed and re-bound, so no queued connection is lost),
 * start and respawn its workers with a throttle, drain it, and free it
 * once its last worker has gone.  Below it, the process table; above it,
 * the reload transaction and the loop, which decide when each happens.
 */
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master_gen.h"
#include "sdlisten.h"
#include "spool.h"
#include "util.h"

#define RESPAWN_SECOND_MS	1000	/* after the second young death */
#define YOUNG_DEATHS_THROTTLE	3	/* then respawn_throttle applies */

/* An empty list whose generations' workers live in pt. */
void
gen_init(struct gens *gl, struct ptable *pt)
{
	TAILQ_INIT(&gl->list);
	gl->pt = pt;
	gl->next_id = 0;
}

/*
 * A new generation for conf (adopted: freed with the generation), listed
 * in state st; it has no listeners and no workers yet.
 */
struct gen *
gen_new(struct gens *gl, struct msgd_conf *conf, enum gstate st, char *cause,
    size_t len)
{
	struct gen	*g;
	int		 i;

	if ((g = calloc(1, sizeof(*g))) == NULL ||
	    (g->pos = calloc((size_t)conf->max_workers, sizeof(*g->pos))) ==
	    NULL) {
		free(g);
		snprintf(cause, len, "out of memory");
		return (NULL);
	}
	if (priv_resolve(conf->user, conf->group, conf->allow_root, &g->priv,
	    cause, len) == -1) {
		free(g->pos);
		free(g);
		return (NULL);
	}
	g->conf = conf;
	g->state = st;
	/* Never reused, not even after a rolled-back reload. */
	g->id = ++gl->next_id;
	g->npos = conf->workers;
	for (i = 0; i < conf->max_workers; i++)
		g->pos[i].proc = -1;
	for (i = 0; i < CONF_LISTEN_MAX; i++)
		g->ls[i].fd = -1;
	TAILQ_INSERT_TAIL(&gl->list, g, entry);
	return (g);
}

/* Unlist g and free it with its configuration (its listeners are not). */
void
gen_free(struct gens *gl, struct gen *g)
{
	TAILQ_REMOVE(&gl->list, g, entry);
	tls_free(g->tls);
	free(g->conf);
	free(g->pos);
	free(g);
}

/* The master exits: forget every generation. */
void
gen_free_all(struct gens *gl)
{
	struct gen	*g;

	while ((g = TAILQ_FIRST(&gl->list)) != NULL)
		gen_free(gl, g);
}

/* The first (oldest) generation in state st, or NULL. */
struct gen *
gen_find(const struct gens *gl, enum gstate st)
{
	struct gen	*g;

	TAILQ_FOREACH(g, &gl->list, entry)
		if (g->state == st)
			return (g);
	return (NULL);
}

/* Move g to state st, and to the end of the list (the newest change). */
static void
gen_set_state(struct gens *gl, struct gen *g, enum gstate st)
{
	TAILQ_REMOVE(&gl->list, g, entry);
	g->state = st;
	TAILQ_INSERT_TAIL(&gl->list, g, entry);
}

/*
 * What a generation needs before its workers start: the files directory
 * (made for the workers' user, stale temporaries removed), and a word in
 * the log when protected mode will restrict remote peers.
 */
int
gen_prepare(struct gen *g, char *cause, size_t len)
{
	const struct msgd_conf	*c = g->conf;
	struct net_addr		 a;
	char			 tmp[CONF_WHERE_MAX + CONF_PATH_MAX];
	int			 i, remote = 0;

	if (c->files_enabled && spool_prepare(c->files_dir, g->priv.change,
	    g->priv.uid, g->priv.gid, cause, len) == -1)
		return (-1);
	/*
	 * TLS: read with our privileges, before the workers fork (they
	 * inherit the context).  A reload's bad file fails here, and the
	 * serving generation keeps its own.
	 */
	if (c->ntls > 0) {
		if ((g->tls = tls_new(c, cause, len, tmp, sizeof(tmp))) ==
		    NULL)
			return (-1);
		if (tmp[0] != '\0')
			log_warnx("%s", tmp);
	}
	/* A proxy: listener serves whoever the balancer passes on. */
	for (i = 0; i < c->nlisten + c->nudp; i++)
		if (net_parse_addr(i < c->nlisten ? c->listen[i] :
		    c->udp_listen[i - c->nlisten], &a, tmp, sizeof(tmp)) == 0 &&
		    (!net_addr_is_loopback(&a) || (i < c->nlisten &&
		    c->listen_proxy[i])) && !(i < c->nlisten &&
		    conf_certified(c, c->listen_tls[i])))
			remote = 1;
	if (remote && !c->auth_set && c->protected_mode)
		log_warnx("protected mode: listening beyond loopback without "
		    "auth_token, so remote peers get PING only; set auth_token "
		    "(or auth_token_file), or protected = false");
	return (0);
}

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

/* How many listeners of g other does not have (a reload's summary). */
int
gen_unshared(const struct gen *g, const struct gen *other)
{
	int	i, n = 0;

	for (i = 0; i < g->nls; i++)
		if (gen_listener(other, g->ls[i].addr.text,
		    g->ls[i].dgram) == -1)
			n++;
	return (n);
}

/* The listen and udp_listen entries of c, for a message. */
void
gen_entries(const struct msgd_conf *c, char *buf, size_t len)
{
	size_t	off;
	int	i;

	off = (size_t)snprintf(buf, len, "listen:");
	for (i = 0; i < c->nlisten && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, " %s",
		    c->listen[i]);
	if (c->nlisten == 0 && off < len)
		off += (size_t)snprintf(buf + off, len - off, " none");
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off, "; udp_listen:");
	for (i = 0; i < c->nudp && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, " %s",
		    c->udp_listen[i]);
	if (c->nudp == 0 && off < len)
		snprintf(buf + off, len - off, " none");
}

/*
 * Close a listener g no longer needs, and remove its unix socket file;
 * one that systemd passed (sdlisten_held) is neither: systemd holds it
 * for the next start, and a later reload may list it again.
 */
static void
gen_close_listener(struct listener *l)
{
	if (sdlisten_held(l->fd))
		return;
	close(l->fd);
	if (net_unlink_unix(&l->addr) == -1)
		log_warn("unlink %s", l->addr.text);
}

/*
 * An entry of the first generation has no socket passed for it while
 * others were: refused (socket activation is all or nothing; a socket
 * msgd binds itself would refuse connections while msgd restarts).
 */
static int
gen_not_passed(const struct listener *l, char *cause, size_t len)
{
	char	passed[512];

	sdlisten_list(passed, sizeof(passed));
	snprintf(cause, len, "%s: %s entry %s has no socket among those "
	    "passed by LISTEN_FDS (%s); when sockets are passed, every "
	    "entry needs one (a socket unit's %s=)", l->addr.text,
	    l->dgram ? "the udp_listen" : "the listen", l->addr.text, passed,
	    l->dgram ? "ListenDatagram" : "ListenStream");
	return (-1);
}

/*
 * A reload commits g, replacing old: say which sockets systemd passed
 * that g no longer serves.  msgd keeps them (systemd holds them anyway),
 * and connections to them wait in their queue unanswered.
 */
void
gen_warn_dropped(const struct gen *old, const struct gen *g)
{
	int	i, j;

	for (i = 0; i < old->nls; i++) {
		if (!sdlisten_held(old->ls[i].fd))
			continue;
		for (j = 0; j < g->nls; j++)
			if (g->ls[j].fd == old->ls[i].fd)
				break;
		if (j == g->nls)
			log_warnx("%s: no longer in the configuration, but "
			    "passed by systemd, which keeps it open: its "
			    "connections wait unanswered until it is removed "
			    "from the socket unit or listed again",
			    old->ls[i].addr.text);
	}
}

/*
 * Give g its listeners: the ones generation from already has are reused
 * as they are, then those passed by systemd (sdlisten.h), new ones bound
 * now.  The first generation (from NULL) takes passed sockets only, if
 * any were passed.  All or nothing.
 */
int
gen_bind(struct gen *g, const struct gen *from, char *cause, size_t len)
{
	const struct msgd_conf	*c = g->conf;
	struct listener		*l;
	const char		*text;
	int			 i, n, fd, dgram;

	/* conf_load refuses more; this table is the master's. */
	if (c->nlisten < 0 || c->nudp < 0 ||
	    c->nlisten + c->nudp > (int)(sizeof(g->ls) / sizeof(g->ls[0]))) {
		snprintf(cause, len, "%d listen and %d udp_listen addresses: "
		    "at most %d together", c->nlisten, c->nudp,
		    (int)(sizeof(g->ls) / sizeof(g->ls[0])));
		return (-1);
	}
	for (n = 0; n < c->nlisten + c->nudp; n++) {
		dgram = n >= c->nlisten;
		text = dgram ? c->udp_listen[n - c->nlisten] : c->listen[n];
		l = &g->ls[n];
		l->dgram = dgram;
		l->tls = !dgram && c->listen_tls[n];
		if (net_parse_addr(text, &l->addr, cause, len) == -1)
			goto fail;
		fd = gen_listener(from, l->addr.text, dgram);
		if (fd == -1)
			fd = sdlisten_find(&l->addr, dgram);
		if (fd == -1 && from == NULL && sdlisten_count() > 0) {
			gen_not_passed(l, cause, len);
			goto fail;
		}
		if (fd == -1 && from != NULL && sdlisten_any_held())
			log_warnx("%s: not passed by systemd, so msgd binds "
			    "it; it refuses connections while msgd restarts, "
			    "and the next start refuses it: add it to the "
			    "socket unit", l->addr.text);
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
		    g->ls[i].dgram) != g->ls[i].fd)
			gen_close_listener(&g->ls[i]);
	for (i = 0; i < g->nls; i++)
		g->ls[i].fd = -1;
	g->nls = 0;
	return (-1);
}

/*
 * Close (and for unix sockets, remove) the listeners of g that keep (the
 * serving generation, or NULL) is not using, then forget all of g's: g's
 * workers hold their own copies.
 */
void
gen_unbind(struct gen *g, const struct gen *keep)
{
	int	i;

	for (i = 0; i < g->nls; i++) {
		if (g->ls[i].fd == -1)
			continue;
		if (gen_listener(keep, g->ls[i].addr.text, g->ls[i].dgram) !=
		    g->ls[i].fd)
			gen_close_listener(&g->ls[i]);
		g->ls[i].fd = -1;
	}
}

/*
 * Start the worker for position pos of g.  When it cannot be started,
 * try again in a second (never spin).
 */
int
gen_spawn(struct gens *gl, struct gen *g, int pos)
{
	struct worker_args	a;
	int			idx;

	memset(&a, 0, sizeof(a));
	a.pos = pos;
	a.nworkers = g->npos;
	a.generation = g->id;
	a.conf = g->conf;
	a.ls = g->ls;
	a.nls = g->nls;
	a.priv = &g->priv;
	a.tls = g->tls;
	if ((idx = proc_spawn(gl->pt, g, &a)) == -1) {
		g->pos[pos].respawn_at = mono_ms() + RESPAWN_SECOND_MS;
		return (-1);
	}
	g->pos[pos].proc = idx;
	g->pos[pos].respawn_at = 0;
	return (0);
}

/* Every position of g has a worker that answered its probe. */
int
gen_all_serving(const struct gens *gl, const struct gen *g)
{
	int	i, serving = 0;

	/* A position that failed fatally is not waited for. */
	for (i = 0; i < g->npos; i++) {
		if (g->pos[i].fatal)
			continue;
		if (g->pos[i].proc == -1 ||
		    gl->pt->procs[g->pos[i].proc].state != W_SERVING)
			return (0);
		serving++;
	}
	return (serving > 0);
}

/* Drain every worker of g (quick: SIGKILL now). */
void
gen_drain(struct gens *gl, struct gen *g, int quick, int handoff)
{
	struct ptable	*pt = gl->pt;
	uint64_t	 deadline;
	int		 i;

	deadline = mono_ms() + g->conf->shutdown_timeout_ms + KILL_GRACE_MS;
	for (i = 0; i < pt->nprocs; i++) {
		if (pt->procs[i].state == W_FREE || pt->procs[i].gen != g)
			continue;
		if (quick)
			proc_kill(pt, i);
		else
			proc_drain(pt, i, deadline, handoff);
	}
}

/*
 * msgd stops: drain the serving generation and a reload's new one (quick:
 * kill them), and with quick kill the draining ones too.
 */
void
gen_drain_all(struct gens *gl, int quick)
{
	struct gen	*g;

	if ((g = gen_find(gl, GEN_CURRENT)) != NULL)
		gen_drain(gl, g, quick, 0);
	if ((g = gen_find(gl, GEN_STARTING)) != NULL)
		gen_drain(gl, g, quick, 0);
	if (!quick)
		return;
	TAILQ_FOREACH(g, &gl->list, entry)
		if (g->state == GEN_DRAINING)
			gen_drain(gl, g, 1, 0);
}

/*
 * g is replaced (a commit) or failed (a roll back): release its listeners
 * that keep, the serving generation, does not share, and let its workers
 * finish while handing their connections over to keep's, so that nobody
 * sees a close.  It is freed once its last worker has gone.
 */
void
gen_retire(struct gens *gl, struct gen *g, const struct gen *keep)
{
	struct gen	*o, *oldest = NULL;
	int		 n = 0;

	gen_unbind(g, keep);
	gen_drain(gl, g, 0, 1);
	TAILQ_FOREACH(o, &gl->list, entry)
		if (o->state == GEN_DRAINING && n++ == 0)
			oldest = o;
	if (oldest != NULL && n >= GEN_DRAINING_MAX) {
		/*
		 * Too many draining at once: the oldest goes now.  It is
		 * freed, like the others, once its killed workers have been
		 * reaped.
		 */
		gen_drain(gl, oldest, 1, 0);
		log_warnx("more than %d generations draining: killing "
		    "generation %llu", GEN_DRAINING_MAX,
		    (unsigned long long)oldest->id);
		gen_set_state(gl, oldest, GEN_KILLED);
	}
	gen_set_state(gl, g, GEN_DRAINING);
}

/*
 * A reload commits: g becomes the serving generation, and the one it
 * replaces is retired, its connections handed over to g's workers.
 */
void
gen_promote(struct gens *gl, struct gen *g)
{
	struct gen	*old = gen_find(gl, GEN_CURRENT);

	gen_set_state(gl, g, GEN_CURRENT);
	gen_retire(gl, old, g);
}

/* Free draining (and killed) generations whose last worker has gone. */
void
gen_collect(struct gens *gl)
{
	struct gen	*g, *next;

	for (g = TAILQ_FIRST(&gl->list); g != NULL; g = next) {
		next = TAILQ_NEXT(g, entry);
		if ((g->state != GEN_DRAINING && g->state != GEN_KILLED) ||
		    proc_count(gl->pt, g, W_FREE) > 0)
			continue;
		log_debug("%sgeneration %llu has exited",
		    g->state == GEN_KILLED ? "killed " : "",
		    (unsigned long long)g->id);
		gen_free(gl, g);
	}
}

/* A worker has exited (e): its position in its generation has none now. */
void
gen_exited(const struct proc_exit *e)
{
	struct gen	*g = e->gen;

	if (e->pos < g->npos && g->pos[e->pos].proc == e->slot)
		g->pos[e->pos].proc = -1;
}

/*
 * The worker in slot idx, at position pos of g, has begun to hand its
 * connections over unasked: with max_requests set, it is recycling.  The
 * position is its successor's now, not once it has exited: meanwhile,
 * with workers = 1, nobody else would accept, and what it hands over
 * beyond what the master may hold would wait in it.  It drains as one the
 * master retired: killed at shutdown_timeout if still there, its exit
 * no death of the position's (a compromised worker that only claims to
 * recycle gets itself replaced and killed, nothing more).  Not when the
 * successor would take a slot a reload needs: the next configuration may
 * start up to max_workers, which no reload changes (2 x max_workers slots
 * in all); it is then replaced once it has exited, as before.  Returns 1
 * when succeeded.
 */
int
gen_succeed(struct gens *gl, struct gen *g, int pos, int idx)
{
	struct ptable	*pt = gl->pt;
	struct wpos	*wp;

	if (g->state != GEN_CURRENT || g->conf->max_requests == 0 ||
	    pos < 0 || pos >= g->npos)
		return (0);
	wp = &g->pos[pos];
	if (wp->proc != idx || wp->fatal)
		return (0);
	if (pt->nprocs - proc_count(pt, NULL, W_FREE) - 1 <
	    g->conf->max_workers)
		return (0);
	proc_drain(pt, idx, mono_ms() + g->conf->shutdown_timeout_ms +
	    KILL_GRACE_MS, 1);
	pt->procs[idx].succeeded = 1;
	wp->proc = -1;
	wp->respawn_at = mono_ms();
	return (1);
}

/*
 * A worker of the serving generation died unasked (e): decide when its
 * position gets a new one.  Returns -1 when no position of its generation
 * can run any more (every one failed fatally).
 */
int
gen_after_death(const struct proc_exit *e)
{
	struct gen	*g = e->gen;
	struct wpos	*wp = &g->pos[e->pos];
	uint64_t	 now = mono_ms(), delay;
	int		 i, alive, young;

	young = e->state == W_STARTING || e->requests <= 1;
	if (WIFEXITED(e->status) && WEXITSTATUS(e->status) ==
	    WORKER_EXIT_FATAL) {
		wp->fatal = 1;
		log_warnx("worker %d cannot run (fatal error above): it is not "
		    "respawned", e->pos);
		for (i = alive = 0; i < g->npos; i++)
			if (!g->pos[i].fatal)
				alive++;
		return (alive == 0 ? -1 : 0);
	}
	if (WIFEXITED(e->status) && WEXITSTATUS(e->status) == 0 && !young) {
		log_info("worker %d %s after %llu requests%s; replacing it",
		    e->pos, g->conf->max_requests ? "recycled" : "exited",
		    (unsigned long long)e->requests,
		    g->conf->max_requests ? " (max_requests)" : "");
		wp->young = 0;
		wp->respawn_at = now;
		return (0);
	}
	/*
	 * A worker its seccomp filter killed is replaced like any crashed
	 * one (never giving up: a call missing from the list on a rare path
	 * must not become a way to stop msgd), but its death counts as young
	 * whatever it served: the request that makes the call can follow
	 * any number of harmless ones, so only the throttle bounds a loop.
	 */
	if (e->seccomp)
		young = 1;
	wp->young = young ? wp->young + 1 : 0;
	if (wp->young <= 1)
		delay = 0;
	else if (wp->young < YOUNG_DEATHS_THROTTLE)
		delay = RESPAWN_SECOND_MS;
	else {
		delay = g->conf->respawn_throttle_ms;
		if (wp->young == YOUNG_DEATHS_THROTTLE)
			log_warnx("worker %d died before serving a request %d "
			    "times in a row: respawning it at most once every "
			    "%.0f s", e->pos, wp->young, (double)delay / 1000.0);
	}
	wp->respawn_at = now + delay;
	return (0);
}

/* Respawn what is due in g; shrink *wait to the next pending respawn. */
void
gen_respawn_due(struct gens *gl, struct gen *g, uint64_t now, int *wait)
{
	struct wpos	*wp;
	int		 i;

	for (i = 0; i < g->npos; i++) {
		wp = &g->pos[i];
		if (wp->proc != -1 || wp->fatal || wp->respawn_at == 0)
			continue;
		if (wp->respawn_at <= now)
			(void)gen_spawn(gl, g, i);
		else if (wp->respawn_at - now < (uint64_t)*wait)
			*wait = (int)(wp->respawn_at - now);
	}
}

/* One position more (below max_workers); returns it, to be spawned. */
int
gen_grow(struct gen *g)
{
	struct wpos	*wp;

	wp = &g->pos[g->npos];
	memset(wp, 0, sizeof(*wp));
	wp->proc = -1;
	return (g->npos++);
}

/* One position fewer (above one): its worker drains, handing over. */
void
gen_shrink(struct gens *gl, struct gen *g)
{
	struct wpos	*wp;

	g->npos--;
	wp = &g->pos[g->npos];
	if (wp->proc != -1)
		proc_drain(gl->pt, wp->proc, mono_ms() +
		    g->conf->shutdown_timeout_ms + KILL_GRACE_MS, 1);
	wp->proc = -1;
}

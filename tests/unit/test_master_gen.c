/*
 * test_master_gen.c: the master's generations on their own: the list's
 * states (a commit, a roll back, too many draining, freeing the gone),
 * the respawn throttle a worker's exit leads to, positions, and the
 * listeners a new generation shares with the serving one.  Workers are
 * entries of a process table, standing for children of the test where
 * something could signal them; nothing is spawned.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
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

#include "config.h"
#include "master_fx.h"
#include "master_gen.h"
#include "sdlisten.h"
#include "util.h"
#include "worker.h"

#define THROTTLE_MS	3000

/* A new generation of workers positions, in state st. */
static struct gen *
new_gen(struct mfx *fx, int workers, enum gstate st)
{
	struct gen	*g;
	char		 cause[512];

	g = gen_new(&fx->gl, mfx_conf(workers), st, cause, sizeof(cause));
	if (g == NULL)
		fail_msg("gen_new: %s", cause);
	g->conf->respawn_throttle_ms = THROTTLE_MS;
	return (g);
}

/* How many generations are in state st. */
static int
count(const struct mfx *fx, enum gstate st)
{
	struct gen	*g;
	int		 n = 0;

	TAILQ_FOREACH(g, &fx->gl.list, entry)
		if (g->state == st)
			n++;
	return (n);
}

/* A commit: the starting generation serves, the serving one drains. */
static void
test_commit(void **state)
{
	struct mfx	*fx = *state;
	struct gen	*a, *b;

	a = new_gen(fx, 2, GEN_CURRENT);
	b = new_gen(fx, 2, GEN_STARTING);
	assert_true(a->id == 1 && b->id == 2);
	assert_ptr_equal(gen_find(&fx->gl, GEN_CURRENT), a);
	assert_ptr_equal(gen_find(&fx->gl, GEN_STARTING), b);

	gen_promote(&fx->gl, b);
	assert_ptr_equal(gen_find(&fx->gl, GEN_CURRENT), b);
	assert_null(gen_find(&fx->gl, GEN_STARTING));
	assert_int_equal(a->state, GEN_DRAINING);
	assert_int_equal(count(fx, GEN_CURRENT), 1);

	/* No worker left: the drained generation is freed. */
	gen_collect(&fx->gl);
	assert_ptr_equal(TAILQ_FIRST(&fx->gl.list), b);
	assert_null(TAILQ_NEXT(b, entry));
}

/* A roll back: the new generation drains, the serving one stays. */
static void
test_rollback(void **state)
{
	struct mfx	*fx = *state;
	struct gen	*a, *b, *c;

	a = new_gen(fx, 2, GEN_CURRENT);
	b = new_gen(fx, 2, GEN_STARTING);
	gen_retire(&fx->gl, b, a);
	assert_int_equal(b->state, GEN_DRAINING);
	assert_ptr_equal(gen_find(&fx->gl, GEN_CURRENT), a);
	assert_null(gen_find(&fx->gl, GEN_STARTING));
	gen_collect(&fx->gl);
	assert_int_equal(count(fx, GEN_DRAINING), 0);
	/* Ids are never reused, not even after a roll back. */
	c = new_gen(fx, 1, GEN_STARTING);
	assert_true(c->id == 3);
}

/* A draining generation is freed only when its last worker has gone. */
static void
test_collect_waits_for_workers(void **state)
{
	struct mfx	*fx = *state;
	struct gen	*a, *b;
	struct wproc	*p = &fx->pt.procs[5];

	a = new_gen(fx, 1, GEN_CURRENT);
	b = new_gen(fx, 1, GEN_STARTING);
	gen_promote(&fx->gl, b);
	p->pid = mfx_child_pause();
	p->gen = a;
	p->state = W_DRAINING;
	gen_collect(&fx->gl);
	assert_int_equal(a->state, GEN_DRAINING);
	assert_int_equal(count(fx, GEN_DRAINING), 1);
	p->state = W_FREE;		/* reaped */
	gen_collect(&fx->gl);
	assert_int_equal(count(fx, GEN_DRAINING), 0);
}

/*
 * Nine draining: the one retired first is killed (not the lowest id), and
 * freed like the others once gone.
 */
static void
test_too_many_draining(void **state)
{
	struct mfx	*fx = *state;
	struct gen	*g, *killed;
	int		 i;

	(void)new_gen(fx, 1, GEN_CURRENT);			/* 1 */
	gen_promote(&fx->gl, new_gen(fx, 1, GEN_STARTING));	/* 2; 1 */
	g = new_gen(fx, 1, GEN_STARTING);			/* 3 */
	gen_retire(&fx->gl, g, gen_find(&fx->gl, GEN_CURRENT));	/* 1 3 */
	for (i = 4; i <= 9; i++)			/* 1 3 2 4 5 6 7 8 */
		gen_promote(&fx->gl, new_gen(fx, 1, GEN_STARTING));
	assert_int_equal(count(fx, GEN_DRAINING), GEN_DRAINING_MAX);
	assert_null(gen_find(&fx->gl, GEN_KILLED));

	gen_promote(&fx->gl, new_gen(fx, 1, GEN_STARTING));	/* 10 */
	killed = gen_find(&fx->gl, GEN_KILLED);
	assert_non_null(killed);
	assert_true(killed->id == 1);
	assert_int_equal(count(fx, GEN_DRAINING), GEN_DRAINING_MAX);

	g = new_gen(fx, 1, GEN_STARTING);			/* 11 */
	gen_retire(&fx->gl, g, gen_find(&fx->gl, GEN_CURRENT));
	assert_int_equal(count(fx, GEN_KILLED), 2);
	TAILQ_FOREACH(g, &fx->gl.list, entry)
		if (g->state == GEN_KILLED)
			assert_true(g->id == 1 || g->id == 3);
	assert_true(gen_find(&fx->gl, GEN_CURRENT)->id == 10);

	gen_collect(&fx->gl);
	assert_int_equal(count(fx, GEN_KILLED), 0);
	assert_int_equal(count(fx, GEN_DRAINING), 0);
	assert_int_equal(count(fx, GEN_CURRENT), 1);
}

/* An exit of a worker at pos of g: status, state, requests. */
static struct proc_exit
exit_of(struct gen *g, int pos, int status, enum wstate st, uint64_t reqs)
{
	struct proc_exit	e;

	memset(&e, 0, sizeof(e));
	e.gen = g;
	e.pos = pos;
	e.slot = pos;
	e.status = status;
	e.state = st;
	e.requests = reqs;
	e.seccomp = WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
	return (e);
}

#define EXITED(code)	(((code) & 0xff) << 8)	/* as waitpid(2) says */
#define KILLED(sig)	(sig)

/* When wp is due again, relative to before and after the call. */
static void
assert_due(const struct wpos *wp, uint64_t before, uint64_t after,
    uint64_t delay)
{
	assert_true(wp->respawn_at >= before + delay);
	assert_true(wp->respawn_at <= after + delay);
}

/*
 * Deaths before a request: at once, then after a second, then once every
 * respawn_throttle; a worker that served resets the count.
 */
static void
test_after_death_throttle(void **state)
{
	struct mfx		*fx = *state;
	struct proc_exit	 e;
	struct gen		*g;
	struct wpos		*wp;
	uint64_t		 t0;
	int			 i;
	static const uint64_t	 delay[] = { 0, 1000, THROTTLE_MS,
	    THROTTLE_MS };

	g = new_gen(fx, 2, GEN_CURRENT);
	wp = &g->pos[0];
	for (i = 0; i < (int)nitems(delay); i++) {
		e = exit_of(g, 0, EXITED(1), W_STARTING, 0);
		t0 = mono_ms();
		assert_int_equal(gen_after_death(&e), 0);
		assert_int_equal(wp->young, i + 1);
		assert_due(wp, t0, mono_ms(), delay[i]);
	}
	/* Recycled after serving: replaced at once, the count reset. */
	e = exit_of(g, 0, EXITED(0), W_SERVING, 100);
	t0 = mono_ms();
	assert_int_equal(gen_after_death(&e), 0);
	assert_int_equal(wp->young, 0);
	assert_due(wp, t0, mono_ms(), 0);
	/* A crash after requests is not young; one after a single one is. */
	e = exit_of(g, 0, KILLED(SIGSEGV), W_SERVING, 50);
	assert_int_equal(gen_after_death(&e), 0);
	assert_int_equal(wp->young, 0);
	e = exit_of(g, 0, KILLED(SIGSEGV), W_SERVING, 1);
	assert_int_equal(gen_after_death(&e), 0);
	assert_int_equal(wp->young, 1);
	/* Killed by its seccomp filter: young whatever it served. */
	e = exit_of(g, 0, KILLED(SIGSYS), W_SERVING, 1000);
	t0 = mono_ms();
	assert_int_equal(gen_after_death(&e), 0);
	assert_int_equal(wp->young, 2);
	assert_due(wp, t0, mono_ms(), 1000);
}

/* A fatal exit is not respawned; when every position is fatal, -1. */
static void
test_after_death_fatal(void **state)
{
	struct mfx		*fx = *state;
	struct proc_exit	 e;
	struct gen		*g;
	int			 wait = 5000;

	g = new_gen(fx, 2, GEN_CURRENT);
	e = exit_of(g, 0, EXITED(WORKER_EXIT_FATAL), W_STARTING, 0);
	assert_int_equal(gen_after_death(&e), 0);
	assert_int_equal(g->pos[0].fatal, 1);
	assert_true(g->pos[0].respawn_at == 0);
	/* A fatal position is not waited for, nor respawned. */
	gen_respawn_due(&fx->gl, g, mono_ms(), &wait);
	assert_int_equal(wait, 5000);
	e = exit_of(g, 1, EXITED(WORKER_EXIT_FATAL), W_STARTING, 0);
	assert_int_equal(gen_after_death(&e), -1);
}

/* An exit frees its position only if the position still names it. */
static void
test_exited_frees_position(void **state)
{
	struct mfx		*fx = *state;
	struct proc_exit	 e;
	struct gen		*g;

	g = new_gen(fx, 2, GEN_CURRENT);
	g->pos[1].proc = 6;
	e = exit_of(g, 1, EXITED(0), W_DRAINING, 0);
	e.slot = 4;			/* an older worker of that position */
	gen_exited(&e);
	assert_int_equal(g->pos[1].proc, 6);
	e.slot = 6;
	gen_exited(&e);
	assert_int_equal(g->pos[1].proc, -1);
	/* A position removed (SIGTTOU) since: nothing to free. */
	e = exit_of(g, 3, EXITED(0), W_DRAINING, 0);
	gen_exited(&e);
}

/* List slot idx as a serving worker of g at position pos. */
static struct wproc *
serving_proc(struct mfx *fx, int idx, struct gen *g, int pos)
{
	struct wproc	*p = &fx->pt.procs[idx];

	p->pid = mfx_child_pause();
	p->gen = g;
	p->pos = pos;
	p->state = W_SERVING;
	p->probe = p->ctl = p->note = -1;
	g->pos[pos].proc = idx;
	return (p);
}

/*
 * A worker handing over unasked with max_requests set (recycling) gives
 * its position to a successor at once and drains as one the master
 * retired, killed at shutdown_timeout: only the serving generation's,
 * only the worker the position names, never a fatal position, and only
 * while max_workers slots (what a reload may start) stay free.
 */
static void
test_succeed(void **state)
{
	struct mfx	*fx = *state;
	struct gen	*g, *old;
	struct wproc	*p, *q;
	uint64_t	 t0;

	old = new_gen(fx, 1, GEN_DRAINING);
	old->conf->max_requests = 100;
	p = serving_proc(fx, 0, old, 0);
	assert_int_equal(gen_succeed(&fx->gl, old, 0, 0), 0);	/* retired */
	assert_int_equal(old->pos[0].proc, 0);
	p->state = W_FREE;

	g = new_gen(fx, 2, GEN_CURRENT);
	p = serving_proc(fx, 1, g, 0);
	assert_int_equal(gen_succeed(&fx->gl, g, 0, 1), 0);	/* no max_req. */
	g->conf->max_requests = 100;
	assert_int_equal(gen_succeed(&fx->gl, g, 0, 2), 0);	/* not its own */
	assert_int_equal(gen_succeed(&fx->gl, g, 2, 1), 0);	/* no such pos */
	assert_int_equal(gen_succeed(&fx->gl, g, -1, 1), 0);
	assert_int_equal(g->pos[0].proc, 1);
	assert_int_equal(p->state, W_SERVING);
	t0 = mono_ms();
	assert_int_equal(gen_succeed(&fx->gl, g, 0, 1), 1);
	assert_int_equal(g->pos[0].proc, -1);
	assert_due(&g->pos[0], t0, mono_ms(), 0);
	assert_int_equal(p->state, W_DRAINING);
	assert_int_equal(p->succeeded, 1);
	assert_true(p->kill_at >= t0 + g->conf->shutdown_timeout_ms);
	assert_true(p->kill_at <= mono_ms() + g->conf->shutdown_timeout_ms +
	    KILL_GRACE_MS);
	assert_int_equal(gen_succeed(&fx->gl, g, 0, 1), 0);	/* once */

	/* A fatal position is not given a successor. */
	q = serving_proc(fx, 2, g, 1);
	g->pos[1].fatal = 1;
	assert_int_equal(gen_succeed(&fx->gl, g, 1, 2), 0);
	assert_int_equal(q->state, W_SERVING);
	g->pos[1].fatal = 0;

	/*
	 * 8 slots, max_workers 4 (what a reload may start): with 4 in use a
	 * successor would leave 3; with 3 in use, 4.
	 */
	serving_proc(fx, 3, old, 0)->state = W_DRAINING;
	serving_proc(fx, 4, old, 0)->state = W_DRAINING;
	assert_int_equal(g->conf->max_workers, 4);
	assert_int_equal(proc_count(&fx->pt, NULL, W_FREE), 4);
	assert_int_equal(gen_succeed(&fx->gl, g, 1, 2), 0);
	assert_int_equal(q->state, W_SERVING);
	fx->pt.procs[4].state = W_FREE;
	assert_int_equal(gen_succeed(&fx->gl, g, 1, 2), 1);
	assert_int_equal(q->state, W_DRAINING);
}

/* A respawn not due yet only shortens the loop's wait. */
static void
test_respawn_due_wait(void **state)
{
	struct mfx	*fx = *state;
	struct gen	*g;
	uint64_t	 now = mono_ms();
	int		 wait = 1000;

	g = new_gen(fx, 2, GEN_CURRENT);
	g->pos[0].respawn_at = now + 300;
	g->pos[1].respawn_at = 0;		/* nothing pending */
	gen_respawn_due(&fx->gl, g, now, &wait);
	assert_int_equal(wait, 300);
	assert_int_equal(proc_count(&fx->pt, NULL, W_FREE), 0);
	assert_int_equal(g->pos[0].proc, -1);
}

/* Every position (but the fatal) serves: no sooner. */
static void
test_all_serving(void **state)
{
	struct mfx	*fx = *state;
	struct gen	*g;

	g = new_gen(fx, 2, GEN_STARTING);
	assert_false(gen_all_serving(&fx->gl, g));
	g->pos[0].proc = 0;
	g->pos[1].proc = 1;
	fx->pt.procs[0].state = W_SERVING;
	fx->pt.procs[1].state = W_STARTING;
	assert_false(gen_all_serving(&fx->gl, g));
	fx->pt.procs[1].state = W_SERVING;
	assert_true(gen_all_serving(&fx->gl, g));
	g->pos[1].proc = -1;
	g->pos[1].fatal = 1;
	assert_true(gen_all_serving(&fx->gl, g));
	g->pos[0].fatal = 1;
	assert_false(gen_all_serving(&fx->gl, g));	/* none at all */
	fx->pt.procs[0].state = W_FREE;
	fx->pt.procs[1].state = W_FREE;
}

/* SIGTTIN / SIGTTOU move the positions in use. */
static void
test_grow_shrink(void **state)
{
	struct mfx	*fx = *state;
	struct gen	*g;

	g = new_gen(fx, 2, GEN_CURRENT);
	g->pos[2].young = 5;			/* left from before */
	assert_int_equal(gen_grow(g), 2);
	assert_int_equal(g->npos, 3);
	assert_int_equal(g->pos[2].proc, -1);
	assert_int_equal(g->pos[2].young, 0);
	gen_shrink(&fx->gl, g);
	assert_int_equal(g->npos, 2);
	assert_int_equal(g->pos[2].proc, -1);
}

/* A generation keeps the serving one's sockets and binds only new ones. */
static void
test_bind_shares_listeners(void **state)
{
	struct mfx		*fx = *state;
	struct msgd_conf	*c;
	struct gen		*a, *b, *bad;
	struct stat		 st;
	char			 cause[512], pa[100], pb[100];

	snprintf(pa, sizeof(pa), "%s/a", fx->dir);
	snprintf(pb, sizeof(pb), "%s/b", fx->dir);

	a = new_gen(fx, 1, GEN_CURRENT);
	snprintf(a->conf->listen[0], CONF_ADDR_MAX, "unix:%s", pa);
	a->conf->nlisten = 1;
	assert_int_equal(gen_bind(a, NULL, cause, sizeof(cause)), 0);
	assert_int_equal(a->nls, 1);

	b = new_gen(fx, 1, GEN_STARTING);
	c = b->conf;
	snprintf(c->listen[0], CONF_ADDR_MAX, "unix:%s", pb);
	snprintf(c->listen[1], CONF_ADDR_MAX, "unix:%s", pa);
	c->nlisten = 2;
	assert_int_equal(gen_bind(b, a, cause, sizeof(cause)), 0);
	assert_int_equal(b->ls[1].fd, a->ls[0].fd);	/* the same socket */
	assert_true(b->ls[0].fd != a->ls[0].fd);
	assert_int_equal(gen_unshared(b, a), 1);
	assert_int_equal(gen_unshared(a, b), 0);

	/* All or nothing: a bad address leaves the shared socket alone. */
	bad = new_gen(fx, 1, GEN_STARTING);
	snprintf(bad->conf->listen[0], CONF_ADDR_MAX, "unix:%s", pa);
	snprintf(bad->conf->listen[1], CONF_ADDR_MAX, "no such address");
	bad->conf->nlisten = 2;
	assert_int_equal(gen_bind(bad, a, cause, sizeof(cause)), -1);
	assert_int_equal(bad->nls, 0);
	assert_true(fcntl(a->ls[0].fd, F_GETFD) != -1);
	gen_free(&fx->gl, bad);

	/*
	 * More addresses than the table holds (conf_load refuses them: a
	 * configuration built otherwise): refused before any is touched.
	 */
	bad = new_gen(fx, 1, GEN_STARTING);
	bad->conf->nlisten = CONF_LISTEN_MAX;
	bad->conf->nudp = 1;
	assert_int_equal(gen_bind(bad, a, cause, sizeof(cause)), -1);
	assert_non_null(strstr(cause, "at most 16 together"));
	assert_int_equal(bad->nls, 0);
	assert_true(fcntl(a->ls[0].fd, F_GETFD) != -1);
	gen_free(&fx->gl, bad);

	/* The commit: a's own socket goes, the shared one stays with b. */
	gen_promote(&fx->gl, b);
	assert_int_equal(a->ls[0].fd, -1);
	assert_true(fcntl(b->ls[1].fd, F_GETFD) != -1);
	assert_int_equal(stat(pa, &st), 0);
	/* The master's exit: everything is closed and removed. */
	gen_unbind(b, NULL);
	assert_int_equal(b->ls[0].fd, -1);
	assert_int_equal(b->ls[1].fd, -1);
	assert_int_equal(stat(pa, &st), -1);
	assert_int_equal(stat(pb, &st), -1);
}

/* A listening unix socket at path, moved to fd to (as systemd passes it). */
static void
passed_unix(const char *path, int to)
{
	struct sockaddr_un	sun;
	int			fd;

	assert_int_not_equal(fd = socket(AF_UNIX, SOCK_STREAM, 0), -1);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 8), 0);
	if (fd != to) {
		assert_int_equal(dup2(fd, to), to);
		close(fd);
	}
}

/*
 * Sockets passed by systemd: the first generation takes them and nothing
 * else; a reload may drop one (kept open, its file kept) and add one msgd
 * binds; a later reload gets the passed one back; exit leaves it alone.
 */
static void
test_bind_passed(void **state)
{
	struct mfx	*fx = *state;
	struct gen	*a, *b, *c, *bad;
	struct stat	 st;
	char		 cause[512], pp[100], pq[100], pid[32];
	int		 saved;

	snprintf(pp, sizeof(pp), "%s/p", fx->dir);
	snprintf(pq, sizeof(pq), "%s/q", fx->dir);
	/*
	 * fd 3 stands for systemd's first socket: what holds it now (the
	 * test driver's, the fixture's) waits elsewhere meanwhile.
	 */
	saved = fcntl(3, F_DUPFD_CLOEXEC, 10);
	passed_unix(pp, 3);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "1", 1);
	assert_int_equal(sdlisten_init(cause, sizeof(cause)), 1);

	/* An entry without a passed socket: refused, nothing bound. */
	bad = new_gen(fx, 1, GEN_CURRENT);
	snprintf(bad->conf->listen[0], CONF_ADDR_MAX, "unix:%s", pp);
	snprintf(bad->conf->listen[1], CONF_ADDR_MAX, "unix:%s", pq);
	bad->conf->nlisten = 2;
	assert_int_equal(gen_bind(bad, NULL, cause, sizeof(cause)), -1);
	assert_non_null(strstr(cause, "has no socket among those passed"));
	assert_non_null(strstr(cause, pq));
	assert_int_equal(stat(pq, &st), -1);
	assert_true(fcntl(3, F_GETFD) != -1);
	assert_int_equal(stat(pp, &st), 0);
	gen_free(&fx->gl, bad);

	a = new_gen(fx, 1, GEN_CURRENT);
	snprintf(a->conf->listen[0], CONF_ADDR_MAX, "unix:%s", pp);
	a->conf->nlisten = 1;
	assert_int_equal(gen_bind(a, NULL, cause, sizeof(cause)), 0);
	assert_int_equal(a->ls[0].fd, 3);
	assert_int_equal(sdlisten_all_taken(cause, sizeof(cause)), 0);

	/* A reload drops p, adds q: q bound by msgd, p kept open. */
	b = new_gen(fx, 1, GEN_STARTING);
	snprintf(b->conf->listen[0], CONF_ADDR_MAX, "unix:%s", pq);
	b->conf->nlisten = 1;
	assert_int_equal(gen_bind(b, a, cause, sizeof(cause)), 0);
	assert_true(b->ls[0].fd != 3);
	assert_int_equal(stat(pq, &st), 0);
	gen_promote(&fx->gl, b);
	assert_true(fcntl(3, F_GETFD) != -1);
	assert_int_equal(stat(pp, &st), 0);

	/* And back: the same passed socket, q closed and removed. */
	c = new_gen(fx, 1, GEN_STARTING);
	snprintf(c->conf->listen[0], CONF_ADDR_MAX, "unix:%s", pp);
	c->conf->nlisten = 1;
	assert_int_equal(gen_bind(c, b, cause, sizeof(cause)), 0);
	assert_int_equal(c->ls[0].fd, 3);
	gen_promote(&fx->gl, c);
	assert_int_equal(stat(pq, &st), -1);

	/* The master's exit: systemd's socket and file stay. */
	gen_unbind(c, NULL);
	assert_true(fcntl(3, F_GETFD) != -1);
	assert_int_equal(stat(pp, &st), 0);
	sdlisten_reset();
	close(3);
	unlink(pp);
	if (saved != -1) {
		assert_int_equal(dup2(saved, 3), 3);
		close(saved);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit, mfx_setup,
		    mfx_teardown),
		cmocka_unit_test_setup_teardown(test_rollback, mfx_setup,
		    mfx_teardown),
		cmocka_unit_test_setup_teardown(test_collect_waits_for_workers,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_too_many_draining,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_after_death_throttle,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_after_death_fatal,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_exited_frees_position,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_succeed,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_respawn_due_wait,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_all_serving, mfx_setup,
		    mfx_teardown),
		cmocka_unit_test_setup_teardown(test_grow_shrink, mfx_setup,
		    mfx_teardown),
		cmocka_unit_test_setup_teardown(test_bind_passed, mfx_setup,
		    mfx_teardown),
		cmocka_unit_test_setup_teardown(test_bind_shares_listeners,
		    mfx_setup, mfx_teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

/*
 * test_master_reload.c: a reload's end on its own: the new generation
 * commits only when every new worker serves and has settled, the loop's
 * wait shrinks to the settling's end, and a commit or a roll back is
 * reported in the stats segment, where msgctl reload waits for it.  The
 * new workers are table entries for children of the test; no
 * configuration is loaded and nothing is spawned.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "master_fx.h"
#include "master_reload.h"
#include "util.h"

/* A serving generation of one and a reload's of two, starting. */
static struct gen *
start_reload(struct mfx *fx)
{
	struct gen	*cur, *next;
	char		 cause[512];
	int		 i;

	cur = gen_new(&fx->gl, mfx_conf(1), GEN_CURRENT, cause,
	    sizeof(cause));
	next = gen_new(&fx->gl, mfx_conf(2), GEN_STARTING, cause,
	    sizeof(cause));
	assert_non_null(cur);
	assert_non_null(next);
	for (i = 0; i < next->npos; i++) {
		fx->pt.procs[i].pid = mfx_child_pause();
		fx->pt.procs[i].gen = next;
		fx->pt.procs[i].pos = i;
		fx->pt.procs[i].state = W_STARTING;
		next->pos[i].proc = i;
	}
	fx->rl.started = mono_ms();
	return (next);
}

/* Commit: all serve, then RELOAD_SETTLE_MS (500) later, not sooner. */
static void
test_commit_after_settling(void **state)
{
	struct mfx		*fx = *state;
	struct stats_hdr	*h = fx->seg.hdr;
	struct gen		*next, *old;
	uint64_t		 now = mono_ms();
	int			 wait;

	next = start_reload(fx);
	old = gen_find(&fx->gl, GEN_CURRENT);
	assert_true(reload_busy(&fx->rl));
	wait = 1000;
	assert_int_equal(reload_poll(&fx->rl, now, &wait), 0);
	assert_int_equal(wait, 1000);			/* one still starts */

	fx->pt.procs[0].state = W_SERVING;
	fx->pt.procs[1].state = W_SERVING;
	assert_int_equal(reload_poll(&fx->rl, now, &wait), 0);
	assert_int_equal(wait, 500);
	wait = 1000;
	assert_int_equal(reload_poll(&fx->rl, now + 499, &wait), 0);
	assert_int_equal(wait, 1);
	assert_int_equal(h->reload_seq, 0);

	assert_int_equal(reload_poll(&fx->rl, now + 500, &wait), 1);
	assert_false(reload_busy(&fx->rl));
	assert_ptr_equal(gen_find(&fx->gl, GEN_CURRENT), next);
	assert_int_equal(old->state, GEN_DRAINING);
	assert_int_equal(h->reload_seq, 1);
	assert_int_equal(h->reload_ok, 1);
	assert_true(strncmp(h->reload_msg, "generation 2 serving with 2 "
	    "workers (0 listeners added, 0 removed) after ", 63) == 0);
	assert_int_equal(h->workers, 2);
	assert_true(h->generation == 2);
	/* The new workers were left alone. */
	assert_int_equal(proc_count(&fx->pt, next, W_SERVING), 2);
}

/* A roll back: reported, the old generation stays; without one, nothing. */
static void
test_rollback_reported(void **state)
{
	struct mfx		*fx = *state;
	struct stats_hdr	*h = fx->seg.hdr;
	struct gen		*next, *cur;
	int			 wait = 1000;

	next = start_reload(fx);
	cur = gen_find(&fx->gl, GEN_CURRENT);
	reload_rollback(&fx->rl, "new worker 1 (pid 9) exited 1 while "
	    "starting");
	assert_false(reload_busy(&fx->rl));
	assert_int_equal(next->state, GEN_DRAINING);
	assert_ptr_equal(gen_find(&fx->gl, GEN_CURRENT), cur);
	assert_int_equal(h->reload_seq, 1);
	assert_int_equal(h->reload_ok, 0);
	assert_string_equal(h->reload_msg, "rolled back: new worker 1 (pid 9) "
	    "exited 1 while starting; keeping generation 1");
	/* Its workers were told to hand over and go. */
	assert_int_equal(proc_count(&fx->pt, next, W_DRAINING), 2);

	reload_rollback(&fx->rl, "nothing in progress");
	assert_int_equal(h->reload_seq, 1);
	assert_int_equal(reload_poll(&fx->rl, mono_ms(), &wait), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit_after_settling,
		    mfx_setup, mfx_teardown),
		cmocka_unit_test_setup_teardown(test_rollback_reported,
		    mfx_setup, mfx_teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

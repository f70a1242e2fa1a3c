/*
 * test_exec.c: exec_start() with a struct exec_req, driven by a small
 * epoll loop in the test process (which plays the worker: the spawner is
 * forked from it and the commands are its children).  A command's stdin
 * comes back as its stdout in the answer frame; exec.max_running answers
 * BUSY; a program that cannot start is INTERNAL with its name and errno
 * and keeps no place; a job whose connection goes away is never answered;
 * a command that exits leaving its stdout held by an escaped process is
 * answered at once.
 */
#include <sys/epoll.h>

#include <errno.h>
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
#include "exec.h"
#include "proto.h"
#include "util.h"

#define LOOP_TURNS	100	/* x 50 ms: how long a command may take */

/* What the done callback saw. */
struct answer {
	int		calls;
	enum msg_status	status;
	struct buf	frame;	/* exec_result's frame, request id 7 */
};

struct fixture {
	struct msgd_conf	conf;
	struct exec_ctx		ctx;
	int			epfd;
	struct answer		ans;
};

/* The commands these tests run, one per line of an exec section. */
static const char conf_text[] =
    "exec = {\n"
    "  enabled = true;\n"
    "  max_running = 1;\n"
    "  commands = {\n"
    "    cat = [ \"/bin/cat\" ];\n"
    "    sleep = [ \"/bin/sleep\", \"5\" ];\n"
    "    missing = [ \"/nonexistent/msgd-test-exec\" ];\n"
    "    escape = [ \"/bin/sh\", \"-c\", \"/usr/bin/setsid /bin/sleep 8 & "
    "i=0; until [ $(cut -d' ' -f6 /proc/$!/stat) = $! ] || [ $i = 500 ]; "
    "do sleep 0.01; i=$((i+1)); done; echo started\" ];\n"
    "  };\n"
    "};\n";

static void
on_done(struct exec_job *j, void *arg)
{
	struct answer	*a = arg;

	a->calls++;
	a->status = j->status;
	assert_int_equal(exec_result(j, &a->frame, 7), 0);
}

static int
setup(void **state)
{
	struct fixture	*f;
	const char	*dir = getenv("TMPDIR");
	char		 path[256], err[1024];
	int		 fd;

	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(path, sizeof(path), "%s/test_exec.XXXXXX", dir);
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, conf_text, strlen(conf_text)),
	    (ssize_t)strlen(conf_text));
	assert_int_equal(close(fd), 0);
	if (conf_load(path, &f->conf, err, sizeof(err)) != 0)
		fail_msg("conf_load: %s", err);
	unlink(path);
	assert_true((f->epfd = epoll_create1(EPOLL_CLOEXEC)) >= 0);
	exec_init(&f->ctx, f->epfd, &f->conf);
	assert_int_not_equal(f->ctx.spawner, -1);
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	exec_shutdown(&f->ctx);
	close(f->epfd);
	buf_release(&f->ans.frame);
	free(f);
	return (0);
}

/* A request for the command called name, answered to f->ans. */
static struct exec_req
request(struct fixture *f, const char *name, const char *in)
{
	struct exec_req	req;

	memset(&req, 0, sizeof(req));
	req.conf = &f->conf;
	req.cmd = conf_cmd_find(&f->conf, name, strlen(name));
	assert_non_null(req.cmd);
	req.in = (const uint8_t *)in;
	req.inlen = in != NULL ? strlen(in) : 0;
	req.done = on_done;
	req.arg = &f->ans;
	req.now = mono_ms();
	return (req);
}

/* Run the job's events until it is answered and gone (bounded). */
static void
run_until_idle(struct fixture *f)
{
	struct epoll_event	evs[8];
	int			i, n, turn;

	for (turn = 0; turn < LOOP_TURNS && f->ctx.running > 0; turn++) {
		n = epoll_wait(f->epfd, evs, 8, 50);
		assert_true(n >= 0 || errno == EINTR);
		for (i = 0; i < n; i++)
			exec_event(&f->ctx, evs[i].data.ptr, evs[i].events,
			    mono_ms());
		(void)exec_expire(&f->ctx, mono_ms());
		exec_reap(&f->ctx);
	}
	assert_int_equal(f->ctx.running, 0);
}

static void
test_exec_stdin_to_stdout(void **state)
{
	static const uint8_t	 want[] = {
		0x4d, 0x47, 1, MSG_F_RESPONSE, MSG_OP_EXEC, MSG_ST_OK, 0, 1,
		0, 0, 0, 7, 0, 0, 0, 1 + 4 + 5,
		'0', 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'
	};
	struct fixture		*f = *state;
	struct exec_req		 req = request(f, "cat", "hello");
	struct exec_job		*j = NULL;
	struct errtext		 err = { NULL, "" };

	assert_int_equal(exec_start(&f->ctx, &req, &j, &err), MSG_ST_OK);
	assert_non_null(j);
	assert_int_equal(f->ctx.running, 1);
	run_until_idle(f);
	assert_int_equal(f->ans.calls, 1);
	assert_int_equal(f->ans.status, MSG_ST_OK);
	assert_int_equal(buf_used(&f->ans.frame), sizeof(want));
	assert_memory_equal(buf_head(&f->ans.frame), want, sizeof(want));
	assert_int_equal(f->ctx.started, 1);
}

static void
test_exec_max_running_busy(void **state)
{
	struct fixture		*f = *state;
	struct exec_req		 slow = request(f, "sleep", NULL);
	struct exec_req		 next = request(f, "cat", "x");
	struct exec_job		*j = NULL, *j2 = NULL;
	struct errtext		 err = { NULL, "" };

	assert_int_equal(exec_start(&f->ctx, &slow, &j, &err), MSG_ST_OK);
	assert_int_equal(exec_start(&f->ctx, &next, &j2, &err), MSG_ST_BUSY);
	assert_null(j2);
	assert_string_equal(err.msg,
	    "exec.max_running commands are already running");
	/* Its connection went away: killed, reaped, never answered. */
	exec_detach(&f->ctx, j);
	run_until_idle(f);
	assert_int_equal(f->ans.calls, 0);
}

static void
test_exec_cannot_start(void **state)
{
	struct fixture		*f = *state;
	struct exec_req		 req = request(f, "missing", "ignored");
	struct exec_job		*j = NULL;
	struct errtext		 err = { NULL, "" }, err2 = { NULL, "" };

	assert_int_equal(exec_start(&f->ctx, &req, &j, &err),
	    MSG_ST_INTERNAL);
	assert_null(j);
	assert_string_equal(err.msg, "cannot start /nonexistent/msgd-test-exec: "
	    "No such file or directory");
	/* The text is the caller's: a second failure does not change it. */
	assert_int_equal(exec_start(&f->ctx, &req, &j, &err2),
	    MSG_ST_INTERNAL);
	assert_ptr_not_equal(err.msg, err2.msg);
	err2.buf[0] = 'X';
	assert_string_equal(err.msg, "cannot start "
	    "/nonexistent/msgd-test-exec: No such file or directory");
	/* No place kept: the next command runs. */
	assert_int_equal(f->ctx.running, 0);
	req = request(f, "cat", NULL);
	assert_int_equal(exec_start(&f->ctx, &req, &j, &err), MSG_ST_OK);
	run_until_idle(f);
	assert_int_equal(f->ans.calls, 1);
	assert_int_equal(f->ans.status, MSG_ST_OK);
}

/*
 * A command that leaves a process in a session of its own holding its
 * stdout (it waits until the process has left its session, else the
 * group's kill could take it first), and exits: answered with its status and what it wrote within
 * EXEC_END_MS of its exit, not when that process ends (8 s, past the
 * 5 s run_until_idle waits) or exec.timeout (30 s) kills nothing.
 */
static void
test_exec_escaped_holder(void **state)
{
	static const uint8_t	 want[] = {
		'0', 0, 0, 0, 8, 's', 't', 'a', 'r', 't', 'e', 'd', '\n'
	};
	struct fixture		*f = *state;
	struct exec_req		 req = request(f, "escape", NULL);
	struct exec_job		*j = NULL;
	struct errtext		 err = { NULL, "" };

	assert_int_equal(exec_start(&f->ctx, &req, &j, &err), MSG_ST_OK);
	run_until_idle(f);
	assert_int_equal(f->ans.calls, 1);
	assert_int_equal(f->ans.status, MSG_ST_OK);
	assert_int_equal(buf_used(&f->ans.frame), MSG_HDR_LEN + sizeof(want));
	assert_memory_equal(buf_head(&f->ans.frame) + MSG_HDR_LEN, want,
	    sizeof(want));
	assert_int_equal(f->ctx.timeouts, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exec_stdin_to_stdout,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_max_running_busy,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_cannot_start,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_escaped_holder,
		    setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

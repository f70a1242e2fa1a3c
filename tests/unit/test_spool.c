/*
 * test_spool.c: the file store's answers and their error text, which the
 * caller owns (struct errtext): a constant for the expected refusals, the
 * caller's buffer for a failed system call, never a buffer shared between
 * requests.  Files live in a private temporary directory.  The count of
 * files.max_count is kept, not read from the directory at each PUT
 * (fdopendir, wrapped, is how the directory is read); a process that dies
 * between a rename and the count's record (renameat, wrapped, can end the
 * process there) leaves a recount behind.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "spool.h"
#include "util.h"

/* Per test: a private directory and the spool on it. */
struct tmp {
	char		dir[64];
	char		file[96];	/* dir/not-a-dir, a regular file */
	struct spool	sp;
};

static int
tmp_setup(void **state)
{
	struct tmp	*t;
	const char	*base = getenv("TMPDIR");
	char		 cause[256];
	int		 fd;

	if (base == NULL || base[0] == '\0' || strlen(base) > 40)
		base = "/tmp";
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (-1);
	snprintf(t->dir, sizeof(t->dir), "%s/test_spool.XXXXXX", base);
	if (mkdtemp(t->dir) == NULL) {
		free(t);
		return (-1);
	}
	snprintf(t->file, sizeof(t->file), "%s/not-a-dir", t->dir);
	if ((fd = open(t->file, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1 ||
	    close(fd) == -1 ||
	    spool_open(&t->sp, t->dir, cause, sizeof(cause)) == -1) {
		free(t);
		return (-1);
	}
	t->sp.max_size = 1024;
	t->sp.max_count = 10;
	t->sp.max_resp = 4096;
	*state = t;
	return (0);
}

static int
tmp_teardown(void **state)
{
	struct tmp	*t = *state;
	char		 path[128];

	spool_close(&t->sp);
	unlink(t->file);
	snprintf(path, sizeof(path), "%s/%s", t->dir, SPOOL_LOCK_NAME);
	unlink(path);
	snprintf(path, sizeof(path), "%s/x", t->dir);
	unlink(path);
	rmdir(t->dir);
	free(t);
	return (0);
}

#define KEY(s)	(const uint8_t *)(s), strlen(s)

/* PUT, GET, LIST and DEL of one file; refusals answer a constant. */
static void
test_spool_answers(void **state)
{
	struct tmp	*t = *state;
	struct errtext	 e;
	struct buf	 out;

	memset(&out, 0, sizeof(out));
	e.msg = NULL;
	assert_int_equal(spool_put(&t->sp, KEY("x"), (const uint8_t *)"hello",
	    5, &e), MSG_ST_OK);
	assert_null(e.msg);
	assert_int_equal(spool_get(&t->sp, KEY("x"), &out, &e), MSG_ST_OK);
	assert_int_equal(buf_used(&out), 5);
	assert_memory_equal(buf_head(&out), "hello", 5);
	buf_truncate(&out, 0);
	assert_int_equal(spool_list(&t->sp, &out, &e), MSG_ST_OK);
	/* Sorted: the regular file of the setup, then ours. */
	assert_non_null(memmem(buf_head(&out), buf_used(&out), "\nx\t5\t",
	    5));
	assert_int_equal(spool_del(&t->sp, KEY("x"), &e), MSG_ST_OK);

	assert_int_equal(spool_del(&t->sp, KEY("x"), &e), MSG_ST_NOT_FOUND);
	assert_string_equal(e.msg, "no such file");
	assert_ptr_not_equal(e.msg, e.buf);
	assert_int_equal(spool_get(&t->sp, KEY(".x"), &out, &e),
	    MSG_ST_BAD_REQUEST);
	assert_ptr_not_equal(e.msg, e.buf);
	assert_int_equal(spool_put(&t->sp, KEY("y"), (const uint8_t *)"",
	    2000, &e), MSG_ST_TOO_LARGE);
	assert_string_equal(e.msg, "file larger than files.max_size");
	buf_release(&out);
}

/*
 * A failed system call is told in the caller's buffer: two answers of one
 * function keep their own text (a static buffer gave both the last one).
 */
static void
test_spool_errors_in_callers_buffer(void **state)
{
	struct tmp	*t = *state;
	struct spool	 bad = t->sp;
	struct errtext	 e1, e2, e3, e4;
	struct buf	 out;
	int		 fd;

	memset(&out, 0, sizeof(out));
	assert_true((fd = open(t->file, O_RDONLY | O_CLOEXEC)) >= 0);
	bad.dirfd = fd;		/* every name beneath it: ENOTDIR */
	bad.lockfd = -1;
	assert_int_equal(spool_get(&bad, KEY("a"), &out, &e1),
	    MSG_ST_INTERNAL);
	bad.dirfd = -1;		/* EBADF */
	assert_int_equal(spool_get(&bad, KEY("a"), &out, &e2),
	    MSG_ST_INTERNAL);
	assert_ptr_equal(e1.msg, e1.buf);
	assert_ptr_equal(e2.msg, e2.buf);
	assert_string_equal(e1.msg, "cannot read the file: Not a directory");
	assert_string_equal(e2.msg, "cannot read the file: Bad file "
	    "descriptor");

	bad.dirfd = fd;
	assert_int_equal(spool_del(&bad, KEY("a"), &e3), MSG_ST_INTERNAL);
	assert_string_equal(e3.msg, "cannot remove the file: Not a "
	    "directory");
	assert_ptr_equal(e3.msg, e3.buf);
	assert_int_equal(spool_put(&bad, KEY("a"), (const uint8_t *)"v", 1,
	    &e4), MSG_ST_INTERNAL);
	assert_ptr_equal(e4.msg, e4.buf);
	assert_int_equal(strncmp(e4.msg, "cannot store the file: ", 23), 0);
	/* Each still holds its own. */
	assert_string_equal(e1.msg, "cannot read the file: Not a directory");
	close(fd);
	buf_release(&out);
}

static int	opendirs;	/* directory reads (LIST, counting) */

DIR	*__real_fdopendir(int);
DIR	*__wrap_fdopendir(int);

DIR *
__wrap_fdopendir(int fd)
{
	opendirs++;
	return (__real_fdopendir(fd));
}

/* max_count 3, of which not-a-dir and a PUT "a" are two: one count. */
static void
count_start(struct tmp *t, struct errtext *e)
{
	t->sp.max_count = 3;
	e->msg = NULL;
	opendirs = 0;
	assert_int_equal(spool_put(&t->sp, KEY("a"), (const uint8_t *)"1", 1,
	    e), MSG_ST_OK);
	assert_int_equal(opendirs, 1);
}

/*
 * files.max_count from the kept count: one count of the directory, then
 * none for PUTs of new names and DELs; a refusal counts again first (it
 * never rests on the kept count alone); a change by someone else
 * (another mtime) is counted again.
 */
static void
test_spool_count_kept(void **state)
{
	struct tmp	*t = *state;
	struct errtext	 e;
	struct timespec	 ts[2] = { { 1, 0 }, { 1, 0 } };
	char		 path[128];
	const char	*n;
	int		 i;

	count_start(t, &e);
	assert_int_equal(spool_put(&t->sp, KEY("b"), (const uint8_t *)"2", 1,
	    &e), MSG_ST_OK);
	assert_int_equal(spool_put(&t->sp, KEY("b"), (const uint8_t *)"3", 1,
	    &e), MSG_ST_OK);
	assert_int_equal(spool_put(&t->sp, KEY("c"), (const uint8_t *)"4", 1,
	    &e), MSG_ST_TOO_LARGE);
	assert_string_equal(e.msg, "files.max_count reached");
	assert_int_equal(opendirs, 2);
	assert_int_equal(spool_del(&t->sp, KEY("b"), &e), MSG_ST_OK);
	assert_int_equal(spool_put(&t->sp, KEY("c"), (const uint8_t *)"5", 1,
	    &e), MSG_ST_OK);
	assert_int_equal(opendirs, 2);
	/* By hand: a removed, and the directory's mtime is another. */
	snprintf(path, sizeof(path), "%s/a", t->dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(utimensat(AT_FDCWD, t->dir, ts, 0), 0);
	assert_int_equal(spool_put(&t->sp, KEY("d"), (const uint8_t *)"6", 1,
	    &e), MSG_ST_OK);
	assert_int_equal(opendirs, 3);
	assert_int_equal(spool_put(&t->sp, KEY("e"), (const uint8_t *)"7", 1,
	    &e), MSG_ST_TOO_LARGE);
	assert_int_equal(opendirs, 4);
	for (i = 0; i < 3; i++) {
		n = i == 0 ? "c" : i == 1 ? "d" : "e";
		snprintf(path, sizeof(path), "%s/%s", t->dir, n);
		(void)unlink(path);
	}
}

/*
 * A file removed by hand within the tick of the count's record (coarse
 * timestamps: the mtime set back by hand here): the kept count is one
 * too many, and a PUT that it would refuse counts again and is stored.
 */
static void
test_spool_count_stale(void **state)
{
	struct tmp	*t = *state;
	struct errtext	 e;
	struct stat	 st;
	struct timespec	 ts[2];
	char		 path[128];

	count_start(t, &e);
	assert_int_equal(spool_put(&t->sp, KEY("b"), (const uint8_t *)"2", 1,
	    &e), MSG_ST_OK);
	assert_int_equal(stat(t->dir, &st), 0);
	snprintf(path, sizeof(path), "%s/a", t->dir);
	assert_int_equal(unlink(path), 0);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, t->dir, ts, 0), 0);
	/* not-a-dir and b: room for c. */
	assert_int_equal(spool_put(&t->sp, KEY("c"), (const uint8_t *)"3", 1,
	    &e), MSG_ST_OK);
	assert_int_equal(opendirs, 2);
	snprintf(path, sizeof(path), "%s/b", t->dir);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/c", t->dir);
	(void)unlink(path);
}

static int	die_after_rename;	/* renameat ends the process */

int	__real_renameat(int, const char *, int, const char *);
int	__wrap_renameat(int, const char *, int, const char *);

int
__wrap_renameat(int ofd, const char *from, int nfd, const char *to)
{
	int	rc = __real_renameat(ofd, from, nfd, to);

	if (die_after_rename)
		_exit(rc == 0 ? 0 : 1);
	return (rc);
}

/*
 * A worker killed between the rename of a new name and the count's
 * record, with the directory's mtime in the same tick as the last record
 * (coarse timestamps: set back by hand here): the next PUT counts the
 * directory again and sees the file, instead of trusting the old count
 * one short forever.
 */
static void
test_spool_count_crash(void **state)
{
	struct tmp	*t = *state;
	struct errtext	 e;
	struct stat	 st;
	struct timespec	 ts[2];
	char		 path[128];
	pid_t		 pid;
	int		 status;

	count_start(t, &e);
	assert_int_equal(stat(t->dir, &st), 0);
	if ((pid = fork()) == 0) {
		die_after_rename = 1;
		(void)spool_put(&t->sp, KEY("b"), (const uint8_t *)"2", 1, &e);
		_exit(2);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, t->dir, ts, 0), 0);
	/* not-a-dir, a, b: full. */
	assert_int_equal(spool_put(&t->sp, KEY("c"), (const uint8_t *)"3", 1,
	    &e), MSG_ST_TOO_LARGE);
	assert_string_equal(e.msg, "files.max_count reached");
	assert_int_equal(opendirs, 2);
	snprintf(path, sizeof(path), "%s/a", t->dir);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/b", t->dir);
	(void)unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spool_count_kept,
		    tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_spool_count_crash,
		    tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_spool_count_stale,
		    tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_spool_answers, tmp_setup,
		    tmp_teardown),
		cmocka_unit_test_setup_teardown(
		    test_spool_errors_in_callers_buffer, tmp_setup,
		    tmp_teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

/*
 * test_config.c: conf_load() on temporary files: every setting stored,
 * defaults, the shipped etc/msgd.conf, and the exact "file:line: setting:
 * message" lines for each kind of bad file.
 */
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

#include "config.h"
#include "log.h"
#include "util.h"

/* The build's default, as config.c gets it. */
#ifndef MSGD_STATS_PATH
#define MSGD_STATS_PATH	"/run/msgd/stats"
#endif

/* One load of one temporary file. */
struct load {
	char			path[256];
	struct msgd_conf	conf;
	char			err[CONF_ERRORS_MAX];
	int			rc;
};

/*
 * Write text to a new temporary file, load it with errlen bytes for the
 * messages, remove it.
 */
static void
load_text_n(struct load *l, const char *text, size_t errlen)
{
	const char	*dir = getenv("TMPDIR");
	size_t		 len = strlen(text);
	int		 fd;

	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	snprintf(l->path, sizeof(l->path), "%s/test_config.XXXXXX", dir);
	fd = mkstemp(l->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	memset(l->err, 'x', sizeof(l->err));
	l->rc = conf_load(l->path, &l->conf, l->err, errlen);
	unlink(l->path);
}

static void
load_text(struct load *l, const char *text)
{
	load_text_n(l, text, sizeof(l->err));
}

static void
load_good(struct load *l, const char *text)
{
	load_text(l, text);
	if (l->rc != 0)
		fail_msg("conf_load failed: %s", l->err);
	assert_string_equal(l->err, "");
	assert_string_equal(l->conf.path, l->path);
}

/* The load failed with exactly one message: "FILE:line: msg". */
static void
assert_only_error(const struct load *l, int line, const char *msg)
{
	char	want[512];

	assert_int_equal(l->rc, -1);
	snprintf(want, sizeof(want), "%s:%d: %s\n", l->path, line, msg);
	assert_string_equal(l->err, want);
}

/* Among the messages is a line starting "FILE:line: msg". */
static void
assert_has_error(const struct load *l, int line, const char *msg)
{
	char	want[512];

	assert_int_equal(l->rc, -1);
	snprintf(want, sizeof(want), "%s:%d: %s", l->path, line, msg);
	if (strstr(l->err, want) == NULL)
		fail_msg("no \"%s\" in:\n%s", want, l->err);
}

static int
count_lines(const char *s)
{
	int	n = 0;

	for (; *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return (n);
}

/* text fails with the one message msg on line 1. */
static void
assert_bad_line1(const char *text, const char *msg)
{
	struct load	l;

	load_text(&l, text);
	assert_only_error(&l, 1, msg);
}

static void
test_conf_load_every_setting(void **state)
{
	struct load	l;

	(void)state;
	load_good(&l,
	    "listen = [ \"127.0.0.1:9000\", \"[::1]:9001\",\n"
	    "    \"unix:/tmp/msgd-test.sock\", \"*:9002\" ];\n"
	    "workers = 3;\n"
	    "max_workers = 8;\n"
	    "stats_file = \"/tmp/msgd-test.stats\";\n"
	    "backlog = 128;\n"
	    "max_body = 65536;\n"
	    "max_connections = 50;\n"
	    "output_limit = 1073741824;\n"
	    "idle_timeout = 0.5;\n"
	    "read_timeout = 2;\n"
	    "shutdown_timeout = 1.25;\n"
	    "worker_timeout = 4.5;\n"
	    "respawn_throttle = 2;\n"
	    "max_requests = 1000;\n"
	    "cpu_affinity = \"off\";\n"
	    "pidfile = \"/tmp/msgd-test.pid\";\n"
	    "user = \"nobody\";\n"
	    "group = \"nogroup\";\n"
	    "allow_root = true;\n"
	    "log = {\n"
	    "\tlevel = \"debug\";\n"
	    "\ttarget = \"syslog\";\n"
	    "\tfile = \"/tmp/msgd-test.log\";\n"
	    "};\n");
	assert_int_equal(l.conf.nlisten, 4);
	assert_string_equal(l.conf.listen[0], "127.0.0.1:9000");
	assert_string_equal(l.conf.listen[1], "[::1]:9001");
	assert_string_equal(l.conf.listen[2], "unix:/tmp/msgd-test.sock");
	assert_string_equal(l.conf.listen[3], "*:9002");
	assert_int_equal(l.conf.workers, 3);
	assert_int_equal(l.conf.max_workers, 8);
	assert_string_equal(l.conf.stats_file, "/tmp/msgd-test.stats");
	assert_int_equal(l.conf.backlog, 128);
	assert_int_equal(l.conf.max_body, 65536);
	assert_int_equal(l.conf.max_connections, 50);
	assert_true(l.conf.output_limit == 1073741824);
	assert_int_equal(l.conf.idle_timeout_ms, 500);
	assert_int_equal(l.conf.read_timeout_ms, 2000);
	assert_int_equal(l.conf.shutdown_timeout_ms, 1250);
	assert_int_equal(l.conf.worker_timeout_ms, 4500);
	assert_int_equal(l.conf.respawn_throttle_ms, 2000);
	assert_int_equal(l.conf.max_requests, 1000);
	assert_int_equal(l.conf.cpu_affinity, CONF_AFFINITY_OFF);
	assert_string_equal(l.conf.pidfile, "/tmp/msgd-test.pid");
	assert_string_equal(l.conf.user, "nobody");
	assert_string_equal(l.conf.group, "nogroup");
	assert_int_equal(l.conf.allow_root, 1);
	assert_int_equal(l.conf.log_level, LOG_LVL_DEBUG);
	assert_int_equal(l.conf.log_target, LOG_TO_SYSLOG);
	assert_string_equal(l.conf.log_file, "/tmp/msgd-test.log");
}

/* What a file without settings means, as msgd.conf(5) documents it. */
static void
assert_documented_defaults(const struct msgd_conf *c)
{
	int	cpus = ncpus();

	assert_int_equal(c->nlisten, 2);
	assert_string_equal(c->listen[0], "127.0.0.1:7878");
	assert_string_equal(c->listen[1], "[::1]:7878");
	assert_int_equal(c->max_workers, 64);
	/* "auto", capped by max_workers. */
	assert_int_equal(c->workers, cpus < 64 ? cpus : 64);
	assert_string_equal(c->stats_file, MSGD_STATS_PATH);
	assert_int_equal(c->backlog, 511);
	assert_int_equal(c->max_body, 16777216);
	assert_int_equal(c->max_connections, 10000);
	assert_true(c->output_limit == 1048576);
	assert_int_equal(c->idle_timeout_ms, 300000);
	assert_int_equal(c->read_timeout_ms, 10000);
	assert_int_equal(c->shutdown_timeout_ms, 10000);
	assert_int_equal(c->worker_timeout_ms, 30000);
	assert_int_equal(c->respawn_throttle_ms, 60000);
	assert_int_equal(c->max_requests, 0);
	assert_int_equal(c->cpu_affinity, CONF_AFFINITY_AUTO);
	assert_string_equal(c->pidfile, MSGD_PID_PATH);
	assert_string_equal(c->user, "");
	assert_string_equal(c->group, "");
	assert_int_equal(c->allow_root, 0);
	assert_int_equal(c->log_level, LOG_LVL_INFO);
	assert_int_equal(c->log_target, LOG_TO_STDERR);
	assert_string_equal(c->log_file, "");
}

static void
test_conf_load_empty_file(void **state)
{
	struct load	l;

	(void)state;
	load_good(&l, "");
	assert_documented_defaults(&l.conf);
	/* Comments only is empty too. */
	load_good(&l, "# nothing\n// here\n/* at all */\n");
	assert_documented_defaults(&l.conf);
}

static void
test_conf_load_shipped_file(void **state)
{
	struct load		 l;
	struct msgd_conf	 c;
	const char		*builddir = getenv("MSGD_BUILDDIR");
	char			 path[CONF_PATH_MAX], err[CONF_ERRORS_MAX];

	(void)state;
	if (builddir == NULL)
		skip();		/* run by hand, outside make check */
	/* Generated from etc/msgd.conf.in with the build's paths. */
	snprintf(path, sizeof(path), "%s/etc/msgd.conf", builddir);
	if (conf_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	/* It says it shows every setting with its default. */
	assert_documented_defaults(&c);
	/* And nothing else: field for field, what an empty file loads. */
	load_good(&l, "");
	memset(c.path, 0, sizeof(c.path));
	memset(l.conf.path, 0, sizeof(l.conf.path));
	/* Where the TLS settings were read is no setting. */
	memset(c.tls_at, 0, sizeof(c.tls_at));
	memset(l.conf.tls_at, 0, sizeof(l.conf.tls_at));
	assert_memory_equal(&c, &l.conf, sizeof(c));
}

static void
test_conf_load_workers_auto(void **state)
{
	struct load	l;
	int		cpus = ncpus();

	(void)state;
	load_good(&l, "workers = \"auto\";\nmax_workers = 1024;\n");
	assert_int_equal(l.conf.workers, cpus);
	/* "auto" never asks for more workers than there are slots. */
	load_good(&l, "workers = \"auto\";\nmax_workers = 1;\n");
	assert_int_equal(l.conf.workers, 1);
	load_good(&l, "max_workers = 1024;\nworkers = 1024;\n");
	assert_int_equal(l.conf.workers, 1024);
}

static void
test_conf_load_workers_above_max_workers(void **state)
{
	struct load	l;

	(void)state;
	assert_bad_line1("workers = 65;\n",
	    "workers: must be at most max_workers (64), got 65");
	load_text(&l, "max_workers = 4;\n\nworkers = 5;\n");
	assert_only_error(&l, 3,
	    "workers: must be at most max_workers (4), got 5");
	assert_bad_line1("max_workers = 0;\n",
	    "max_workers: must be 1..1024, got 0");
}

static void
test_conf_load_stats_file(void **state)
{
	char	text[400];

	(void)state;
	assert_bad_line1("stats_file = \"\";\n",
	    "stats_file: must be a path of 1..255 bytes, got 0");
	snprintf(text, sizeof(text), "stats_file = \"/%0299d\";\n", 0);
	assert_bad_line1(text,
	    "stats_file: must be a path of 1..255 bytes, got 300");
	assert_bad_line1("stats_file = 1;\n",
	    "stats_file: must be a string (a file path), got an integer");
}

static void
test_conf_load_seconds(void **state)
{
	struct load	l;

	(void)state;
	load_good(&l, "idle_timeout = 0;\nread_timeout = 0.1;\n"
	    "shutdown_timeout = 3600;\n");
	assert_int_equal(l.conf.idle_timeout_ms, 0);
	assert_int_equal(l.conf.read_timeout_ms, 100);
	assert_int_equal(l.conf.shutdown_timeout_ms, 3600000);
	load_good(&l, "idle_timeout = 86400;\nread_timeout = 1.5;\n");
	assert_int_equal(l.conf.idle_timeout_ms, 86400000);
	assert_int_equal(l.conf.read_timeout_ms, 1500);
	/* Fractions of a millisecond round up: never 0, which is "never". */
	load_good(&l, "idle_timeout = 0.0004;\nread_timeout = 1.0001;\n");
	assert_int_equal(l.conf.idle_timeout_ms, 1);
	assert_int_equal(l.conf.read_timeout_ms, 1001);

	assert_bad_line1("read_timeout = 0.099;\n",
	    "read_timeout: must be 0.1..3600 seconds, got 0.099");
	assert_bad_line1("idle_timeout = -1;\n",
	    "idle_timeout: must be 0..86400 seconds, got -1");
	assert_bad_line1("shutdown_timeout = 3601;\n",
	    "shutdown_timeout: must be 0.1..3600 seconds, got 3601");
	assert_bad_line1("read_timeout = \"10s\";\n",
	    "read_timeout: must be a number of seconds, got a string");
}

/* socket_mode: the digits are octal (libconfig reads 0660 as 660). */
static void
test_conf_load_socket_mode(void **state)
{
	struct load	l;

	(void)state;
	load_good(&l, "");
	assert_int_equal(l.conf.socket_mode, 0660);
	load_good(&l, "socket_mode = 0600;\n");
	assert_int_equal(l.conf.socket_mode, 0600);
	load_good(&l, "socket_mode = 0777;\n");
	assert_int_equal(l.conf.socket_mode, 0777);
	load_good(&l, "socket_mode = 0;\n");
	assert_int_equal(l.conf.socket_mode, 0);
	load_good(&l, "socket_mode = 0x1b0;\n");
	assert_int_equal(l.conf.socket_mode, 0660);

	assert_bad_line1("socket_mode = 0680;\n",
	    "socket_mode: must be an octal mode 0..0777, got 680");
	assert_bad_line1("socket_mode = 01000;\n",
	    "socket_mode: must be an octal mode 0..0777, got 1000");
	assert_bad_line1("socket_mode = -1;\n",
	    "socket_mode: must be an octal mode 0..0777, got -1");
	assert_bad_line1("socket_mode = 0x200;\n",
	    "socket_mode: must be an octal mode 0..0777, got hex 512");
	assert_bad_line1("socket_mode = \"0660\";\n",
	    "socket_mode: must be an octal mode like 0660, got a string");
}

static void
test_conf_load_uint64_setting(void **state)
{
	struct load	l;

	(void)state;
	/* libconfig makes this an int64; the field is 64 bits wide. */
	load_good(&l, "output_limit = 4096L;\n");
	assert_true(l.conf.output_limit == 4096);
	/*
	 * Written without L, libconfig 1.5 wraps such a literal to 32 bits
	 * before msgd sees it (reported); with L it is range-checked.
	 */
	assert_bad_line1("output_limit = 5000000000L;\n",
	    "output_limit: must be 4096..1073741824, got 5000000000");
}

/* Large literals without L are refused by the pre-scan, with their line. */
static void
test_conf_load_large_literal(void **state)
{
	struct load	l;

	(void)state;
	load_text(&l, "max_body = 1024;\n"
	    "# 99999999999 in a comment is fine\n"
	    "stats_file = \"/tmp/88888888888\"; /* 77777777777 */\n"
	    "output_limit = 5000000000;\n");
	assert_only_error(&l, 4, "integer 5000000000 is above 2147483647: "
	    "write it as 5000000000L (libconfig reads it wrongly otherwise)");
	load_text(&l, "workers = 4294967298;\n");
	assert_only_error(&l, 1, "integer 4294967298 is above 2147483647: "
	    "write it as 4294967298L (libconfig reads it wrongly otherwise)");
	/* The largest plain int, floats and L literals pass the scan. */
	load_good(&l, "max_requests = 2147483647;\nidle_timeout = 1.5;\n"
	    "output_limit = 8192L;\n");
	assert_int_equal(l.conf.max_requests, 2147483647);
}

/*
 * An @include'd file gets the same pre-scan, each error with its own file
 * and line: "max_body = 4294967312" there used to load as 16, silently.
 */
static void
test_conf_load_large_literal_included(void **state)
{
	struct load	l;
	const char	*dir = getenv("TMPDIR");
	char		 inc[256], inc2[256], text[700], want[2048];
	int		 fd;

	(void)state;
	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	snprintf(inc2, sizeof(inc2), "%s/test_config_inc2.XXXXXX", dir);
	assert_true((fd = mkstemp(inc2)) >= 0);
	dprintf(fd, "# nested\nworkers = 3000000000;\n");
	close(fd);
	snprintf(inc, sizeof(inc), "%s/test_config_inc.XXXXXX", dir);
	assert_true((fd = mkstemp(inc)) >= 0);
	dprintf(fd, "backlog = 10;\nmax_body = 4294967312;\n"
	    "@include \"%s\"\n", inc2);
	close(fd);
	snprintf(text, sizeof(text), "max_requests = 1;\n@include \"%s\"\n"
	    "output_limit = 5000000000;\n", inc);
	load_text(&l, text);
	assert_int_equal(l.rc, -1);
	snprintf(want, sizeof(want), "%s:3: integer 5000000000 is above "
	    "2147483647: write it as 5000000000L (libconfig reads it wrongly "
	    "otherwise)\n"
	    "%s:2: integer 4294967312 is above 2147483647: write it as "
	    "4294967312L (libconfig reads it wrongly otherwise)\n"
	    "%s:2: integer 3000000000 is above 2147483647: write it as "
	    "3000000000L (libconfig reads it wrongly otherwise)\n",
	    l.path, inc, inc2);
	assert_string_equal(l.err, want);

	/* The same files with L suffixes load, values intact. */
	assert_true((fd = open(inc2, O_WRONLY | O_TRUNC)) >= 0);
	dprintf(fd, "workers = 3;\n");
	close(fd);
	assert_true((fd = open(inc, O_WRONLY | O_TRUNC)) >= 0);
	dprintf(fd, "max_body = 1048576L;\n@include \"%s\"\n", inc2);
	close(fd);
	snprintf(text, sizeof(text), "@include \"%s\"\n", inc);
	load_good(&l, text);
	assert_int_equal(l.conf.max_body, 1048576);
	assert_int_equal(l.conf.workers, 3);
	unlink(inc);
	unlink(inc2);
}

/* buffer_budget: derived when 0, else at least one largest request. */
static void
test_conf_load_buffer_budget(void **state)
{
	struct load	l;

	(void)state;
	load_good(&l, "max_body = 1048576;\noutput_limit = 65536;\n");
	assert_true(l.conf.buffer_budget == 4 * 1048576 + 2 * 65536);
	load_good(&l, "buffer_budget = 0;\n");
	assert_true(l.conf.buffer_budget == 4ULL * 16777216 + 2 * 1048576);
	load_good(&l, "max_body = 1048576;\nbuffer_budget = 1048592;\n");
	assert_true(l.conf.buffer_budget == 1048592);
	load_good(&l, "buffer_budget = 8589934592L;\n");
	assert_true(l.conf.buffer_budget == 8589934592ULL);
	load_text(&l, "max_body = 1048576;\nbuffer_budget = 1048591;\n");
	assert_only_error(&l, 2, "buffer_budget: must be 0 (derived) or at "
	    "least max_body + 16 (1048592), got 1048591");
	assert_bad_line1("buffer_budget = 1099511627777L;\n",
	    "buffer_budget: must be 0..1099511627776, got 1099511627777");
}

static void
test_conf_load_syntax_error(void **state)
{
	struct load	l;
	char		want[300];

	(void)state;
	load_text(&l, "workers = 2;\nbacklog = ;\n");
	assert_int_equal(l.rc, -1);
	snprintf(want, sizeof(want), "%s:2: ", l.path);
	assert_memory_equal(l.err, want, strlen(want));
	assert_true(strlen(l.err) > strlen(want) + 1);
	assert_int_equal(count_lines(l.err), 1);

	load_text(&l, "a = 1;\nb = 2;\nlog = {\n level = \"info\"\n");
	assert_int_equal(l.rc, -1);
	assert_int_equal(count_lines(l.err), 1);
	assert_non_null(strstr(l.err, l.path));
}

static void
test_conf_load_unknown_setting(void **state)
{
	struct load	l;

	(void)state;
	assert_bad_line1("wokers = 3;\n", "wokers: unknown setting");
	load_text(&l, "log = {\n\tlevel = \"info\";\n\tcolour = \"red\";\n};\n");
	assert_only_error(&l, 3, "log.colour: unknown setting");
	load_text(&l, "\n\nextra = { a = 1; };\n");
	assert_only_error(&l, 3, "extra: unknown setting");
}

static void
test_conf_load_wrong_type(void **state)
{
	(void)state;
	assert_bad_line1("backlog = \"many\";\n",
	    "backlog: must be an integer, got a string");
	assert_bad_line1("max_body = 1.5;\n",
	    "max_body: must be an integer, got a number");
	assert_bad_line1("max_connections = true;\n",
	    "max_connections: must be an integer, got a boolean");
	assert_bad_line1("workers = 2.0;\n",
	    "workers: must be an integer or \"auto\", got a number");
	assert_bad_line1("workers = \"many\";\n",
	    "workers: must be 1..1024 or \"auto\", got \"many\"");
	assert_bad_line1("log = \"stderr\";\n",
	    "log: must be a group { ... }, got a string");
	assert_bad_line1("log = { level = 7; };\n",
	    "log.level: must be a string, got an integer");
	assert_bad_line1("log = { target = 1; };\n",
	    "log.target: must be a string, got an integer");
}

static void
test_conf_load_out_of_range(void **state)
{
	(void)state;
	assert_bad_line1("workers = 0;\n", "workers: must be 1..1024, got 0");
	assert_bad_line1("workers = 1025;\n",
	    "workers: must be 1..1024, got 1025");
	assert_bad_line1("workers = -1;\n", "workers: must be 1..1024, got -1");
	assert_bad_line1("backlog = 0;\n", "backlog: must be 1..65535, got 0");
	assert_bad_line1("backlog = 65536;\n",
	    "backlog: must be 1..65535, got 65536");
	assert_bad_line1("max_body = 15;\n",
	    "max_body: must be 16..1073741824, got 15");
	assert_bad_line1("max_body = 1073741825;\n",
	    "max_body: must be 16..1073741824, got 1073741825");
	assert_bad_line1("max_connections = 0;\n",
	    "max_connections: must be 1..1000000, got 0");
	assert_bad_line1("output_limit = 4095;\n",
	    "output_limit: must be 4096..1073741824, got 4095");
}

static void
test_conf_load_bad_listen(void **state)
{
	struct load	l;

	(void)state;
	assert_bad_line1("listen = [ \"127.0.0.1:0\" ];\n",
	    "listen: \"127.0.0.1:0\": port must be 1..65535, got \"0\" "
	    "(too small)");
	/* Each address is reported on its own line of the file. */
	load_text(&l, "listen = [\n\t\"127.0.0.1:1\",\n\t\"example.com:80\",\n"
	    "\t\"[::1]:1\"\n];\n");
	assert_has_error(&l, 3, "listen: \"example.com:80\": ");
	assert_int_equal(count_lines(l.err), 1);

	assert_bad_line1("listen = \"127.0.0.1:1\";\n",
	    "listen: must be a list of addresses like "
	    "[ \"127.0.0.1:7878\" ], got a string");
	assert_bad_line1("listen = [ 7878 ];\n",
	    "listen: element 1 must be a string, got an integer");
}

static void
test_conf_load_duplicate_listen(void **state)
{
	struct load	l;

	(void)state;
	load_text(&l, "listen = [ \"127.0.0.1:1\", \"[::1]:1\",\n"
	    "    \"127.0.0.1:1\" ];\n");
	assert_only_error(&l, 2, "listen: \"127.0.0.1:1\" is listed twice");
}

static void
test_conf_load_listen_count(void **state)
{
	struct load	l;
	char		text[2048];
	size_t		n;
	int		i;

	(void)state;
	assert_bad_line1("listen = [ ];\n",
	    "listen: must hold 1..16 addresses, got 0");

	n = (size_t)snprintf(text, sizeof(text), "listen = [");
	for (i = 1; i <= CONF_LISTEN_MAX + 1; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "%s\"127.0.0.1:%d\"", i > 1 ? ", " : " ", i);
	snprintf(text + n, sizeof(text) - n, " ];\n");
	assert_bad_line1(text, "listen: must hold 1..16 addresses, got 17");

	/* Exactly the maximum is fine. */
	n = (size_t)snprintf(text, sizeof(text), "listen = [");
	for (i = 1; i <= CONF_LISTEN_MAX; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "%s\"127.0.0.1:%d\"", i > 1 ? ", " : " ", i);
	snprintf(text + n, sizeof(text) - n, " ];\n");
	load_good(&l, text);
	assert_int_equal(l.conf.nlisten, CONF_LISTEN_MAX);
	assert_string_equal(l.conf.listen[CONF_LISTEN_MAX - 1],
	    "127.0.0.1:16");

	/*
	 * listen and udp_listen share the master's table: 16 in all, the
	 * error on udp_listen's line (15 + 1 is fine).
	 */
	n = (size_t)snprintf(text, sizeof(text), "listen = [");
	for (i = 1; i <= CONF_LISTEN_MAX; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "%s\"127.0.0.1:%d\"", i > 1 ? ", " : " ", i);
	snprintf(text + n, sizeof(text) - n, " ];\n"
	    "udp_listen = [ \"127.0.0.1:99\" ];\n");
	load_text(&l, text);
	assert_only_error(&l, 2, "udp_listen: listen and udp_listen take "
	    "at most 16 addresses together, got 16 + 1");
	n = (size_t)snprintf(text, sizeof(text), "listen = [");
	for (i = 1; i < CONF_LISTEN_MAX; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "%s\"127.0.0.1:%d\"", i > 1 ? ", " : " ", i);
	snprintf(text + n, sizeof(text) - n, " ];\n"
	    "udp_listen = [ \"127.0.0.1:99\" ];\n");
	load_good(&l, text);
	assert_int_equal(l.conf.nlisten + l.conf.nudp, CONF_LISTEN_MAX);
}

static void
test_conf_load_log_settings(void **state)
{
	struct load	l;

	(void)state;
	load_good(&l, "log = { level = \"error\"; target = \"stderr\"; };\n");
	assert_int_equal(l.conf.log_level, LOG_LVL_ERR);
	assert_int_equal(l.conf.log_target, LOG_TO_STDERR);
	load_good(&l, "log = { target = \"file\"; file = \"/tmp/x.log\"; };\n");
	assert_int_equal(l.conf.log_target, LOG_TO_FILE);
	assert_string_equal(l.conf.log_file, "/tmp/x.log");
	load_good(&l, "log = { level = \"warning\"; };\n");
	assert_int_equal(l.conf.log_level, LOG_LVL_WARN);

	assert_bad_line1("log = { level = \"verbose\"; };\n",
	    "log.level: must be one of error, warning, info, debug, "
	    "got \"verbose\"");
	assert_bad_line1("log = { target = \"journal\"; };\n",
	    "log.target: must be \"stderr\", \"syslog\" or \"file\", "
	    "got \"journal\"");
	assert_bad_line1("log = { target = \"file\"; };\n",
	    "log.target: \"file\" needs log.file");
	assert_bad_line1("worker_timeout = 1;\n",
	    "worker_timeout: must be 0 (off) or 3..3600 seconds, got 1");
	assert_bad_line1("user = \"bad name\";\n",
	    "user: must be a user or group name of at most 32 characters "
	    "[A-Za-z0-9._-], got \"bad name\"");
	assert_bad_line1("allow_root = 1;\n",
	    "allow_root: must be true or false, got an integer");
}

static void
test_conf_load_many_errors(void **state)
{
	struct load	l;

	(void)state;
	load_text(&l,
	    "workers = 0;\n"
	    "backlog = 100;\n"
	    "typo = 1;\n"
	    "max_body = \"big\";\n"
	    "log = {\n"
	    "\tlevel = \"loud\";\n"
	    "\ttarget = \"syslog\";\n"
	    "\tnope = 1;\n"
	    "};\n"
	    "listen = [ \"localhost:1\", \"localhost:1\" ];\n");
	assert_int_equal(l.rc, -1);
	assert_int_equal(count_lines(l.err), 6);
	assert_has_error(&l, 1, "workers: must be 1..1024, got 0\n");
	assert_has_error(&l, 3, "typo: unknown setting\n");
	assert_has_error(&l, 4, "max_body: must be an integer");
	assert_has_error(&l, 6, "log.level: must be one of");
	assert_has_error(&l, 8, "log.nope: unknown setting\n");
	assert_has_error(&l, 10, "listen: \"localhost:1\" is listed twice\n");
	/* In the order of the file. */
	assert_true(strstr(l.err, "workers") < strstr(l.err, "typo"));
	assert_true(strstr(l.err, "log.nope") < strstr(l.err, "listen"));
}

static void
test_conf_load_small_error_buffer(void **state)
{
	struct load	l;
	size_t		n;

	(void)state;
	/* Messages are cut to fit, NUL-terminated, nothing written past. */
	load_text_n(&l, "workers = 0;\nbacklog = 0;\n", 24);
	assert_int_equal(l.rc, -1);
	n = strlen(l.err);
	assert_true(n > 0 && n < 24);
	assert_memory_equal(l.err, l.path, n < strlen(l.path) ? n :
	    strlen(l.path));
	assert_int_equal(l.err[24], 'x');

	/* No room at all: still an error, and the buffer is not touched. */
	load_text_n(&l, "workers = 0;\n", 0);
	assert_int_equal(l.rc, -1);
	assert_int_equal(l.err[0], 'x');
}

static void
test_conf_load_missing_file(void **state)
{
	struct msgd_conf	 c;
	char			 err[CONF_ERRORS_MAX], want[512];
	const char		*path = "/nonexistent/msgd-test/msgd.conf";

	(void)state;
	assert_int_equal(conf_load(path, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: %s\n", path, strerror(ENOENT));
	assert_string_equal(err, want);
}

static void
test_conf_load_path_too_long(void **state)
{
	struct msgd_conf	c;
	char			path[CONF_PATH_MAX + 8], err[CONF_ERRORS_MAX];

	(void)state;
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(conf_load(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ": path too long\n"));
}

/*
 * A relative unix socket path that fits sun_path as written but not once
 * made absolute is refused at load time, not at bind (found by
 * fuzz_config: tests/fuzz/config/long-unix).
 */
static void
test_conf_load_unix_too_long_absolute(void **state)
{
	struct load	 l;
	char		 text[256], name[105];
	int		 cwd;

	(void)state;
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(text, sizeof(text), "listen = [ \"unix:%s\" ];\n", name);
	/* "/tmp/" + 104 bytes = 109: over sun_path's 107. */
	cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(cwd >= 0);
	assert_int_equal(chdir("/tmp"), 0);
	load_text(&l, text);
	assert_int_equal(fchdir(cwd), 0);
	close(cwd);
	assert_int_equal(l.rc, -1);
	assert_non_null(strstr(l.err, "listen: "));
}

/*
 * @include of a directory: libconfig's scanner would exit() the process
 * (msgd -t, or the master on reload); the load refuses it instead (found
 * by fuzz_config: tests/fuzz/config/include-directory).
 */
static void
test_conf_load_include_directory(void **state)
{
	struct load	 l;
	char		 dir[] = "/tmp/test_config_inc.XXXXXX", text[256];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(text, sizeof(text), "listen = [ \"127.0.0.1:7878\" ];\n"
	    "@include \"%s\"\n", dir);
	load_text(&l, text);
	rmdir(dir);
	assert_int_equal(l.rc, -1);
	assert_non_null(strstr(l.err, ":2: @include \""));
	assert_non_null(strstr(l.err, "\": not a regular file\n"));
}

/* A file including itself three times: a bounded check, not 3^10 reads. */
static void
test_conf_load_include_bounded(void **state)
{
	struct load	 l;
	char		 text[1024], path[256];
	const char	*dir = getenv("TMPDIR");
	int		 fd;

	(void)state;
	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	snprintf(path, sizeof(path), "%s/test_config_self.XXXXXX", dir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	snprintf(text, sizeof(text), "@include \"%s\"\n@include \"%s\"\n"
	    "@include \"%s\"\n", path, path, path);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	load_text(&l, text);
	unlink(path);
	assert_int_equal(l.rc, -1);
	assert_non_null(strstr(l.err, "more than 64 files included\n"));
}

/* metrics_listen: off by default, a TCP address none of listen's. */
static void
test_conf_load_metrics_listen(void **state)
{
	struct load	l;

	(void)state;
	load_good(&l, "listen = [ \"127.0.0.1:7878\" ];\n");
	assert_string_equal(l.conf.metrics_listen, "");
	load_good(&l, "metrics_listen = \"[::1]:9878\";\n");
	assert_string_equal(l.conf.metrics_listen, "[::1]:9878");
	load_text(&l, "metrics_listen = \"unix:/run/m.sock\";\n");
	assert_has_error(&l, 1, "metrics_listen: must be a TCP address");
	load_text(&l, "metrics_listen = \"example.org:80\";\n");
	assert_has_error(&l, 1, "metrics_listen: ");
	load_text(&l, "metrics_listen = 9878;\n");
	assert_has_error(&l, 1, "metrics_listen: must be a string");
	load_text(&l, "listen = [ \"127.0.0.1:7878\" ];\n"
	    "metrics_listen = \"127.0.0.1:7878\";\n");
	assert_only_error(&l, 2, "metrics_listen: 127.0.0.1:7878 is also a "
	    "listen address");
}

/* "proxy:" and "tls:" in either order; proxy_trusted like allow. */
static void
test_conf_load_proxy_listeners(void **state)
{
	struct load	l;

	(void)state;
	load_good(&l,
	    "listen = [ \"proxy:127.0.0.1:9000\", \"127.0.0.1:9001\",\n"
	    "    \"proxy:tls:[::1]:9002\", \"tls:proxy:*:9003\" ];\n"
	    "proxy_trusted = [ \"192.0.2.5\", \"10.0.0.0/8\" ];\n"
	    "tls = { cert = \"/nonexistent/c.pem\"; "
	    "key = \"/nonexistent/k.pem\"; };\n");
	assert_int_equal(l.conf.nlisten, 4);
	assert_string_equal(l.conf.listen[0], "127.0.0.1:9000");
	assert_string_equal(l.conf.listen[2], "[::1]:9002");
	assert_string_equal(l.conf.listen[3], "*:9003");
	assert_int_equal(l.conf.nproxy, 3);
	assert_int_equal(l.conf.ntls, 2);
	assert_int_equal(l.conf.listen_proxy[0], 1);
	assert_int_equal(l.conf.listen_proxy[1], 0);
	assert_int_equal(l.conf.listen_tls[1], 0);
	assert_int_equal(l.conf.listen_proxy[2], 1);
	assert_int_equal(l.conf.listen_tls[2], 1);
	assert_int_equal(l.conf.listen_proxy[3], 1);
	assert_int_equal(l.conf.listen_tls[3], 1);
	assert_int_equal(l.conf.nproxy_trusted, 2);
	assert_int_equal(l.conf.proxy_trusted[1].prefix, 8);
	assert_int_equal(l.conf.nallow, 0);
	/* Trusted balancers alone, without a proxy: listener: fine. */
	load_good(&l, "listen = [ \"127.0.0.1:9000\" ];\n"
	    "proxy_trusted = [ \"::1\" ];\n");
	assert_int_equal(l.conf.nproxy, 0);
	assert_int_equal(l.conf.nproxy_trusted, 1);
}

static void
test_conf_load_proxy_refusals(void **state)
{
	struct load	l;

	(void)state;
	load_text(&l, "listen = [ \"proxy:127.0.0.1:9000\" ];\n");
	assert_only_error(&l, 1, "listen: a \"proxy:\" listener needs "
	    "proxy_trusted, the balancers' address blocks like "
	    "[ \"10.0.0.5/32\" ]");
	load_text(&l, "proxy_trusted = [ \"127.0.0.1\" ];\n"
	    "listen = [ \"proxy:unix:/tmp/x.sock\" ];\n");
	assert_only_error(&l, 2, "listen: \"proxy:unix:/tmp/x.sock\": the "
	    "PROXY protocol needs host:port or [v6addr]:port");
	/* Each prefix once: a second is taken as the address. */
	load_text(&l, "proxy_trusted = [ \"127.0.0.1\" ];\n"
	    "listen = [ \"proxy:proxy:127.0.0.1:1\" ];\n");
	assert_has_error(&l, 2, "listen: ");
	load_text(&l, "proxy_trusted = [ \"127.0.0.1/33\" ];\n");
	assert_has_error(&l, 1, "proxy_trusted: \"127.0.0.1/33\"");
	load_text(&l, "proxy_trusted = \"127.0.0.1\";\n");
	assert_only_error(&l, 1, "proxy_trusted: must be a list of address "
	    "blocks like [ \"10.0.0.0/8\" ], got a string");
	/* The same address twice, with and without proxy:, is one. */
	load_text(&l, "proxy_trusted = [ \"127.0.0.1\" ];\n"
	    "listen = [ \"proxy:127.0.0.1:1\", \"127.0.0.1:1\" ];\n");
	assert_only_error(&l, 2, "listen: \"127.0.0.1:1\" is listed twice");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_load_every_setting),
		cmocka_unit_test(test_conf_load_empty_file),
		cmocka_unit_test(test_conf_load_shipped_file),
		cmocka_unit_test(test_conf_load_workers_auto),
		cmocka_unit_test(test_conf_load_workers_above_max_workers),
		cmocka_unit_test(test_conf_load_stats_file),
		cmocka_unit_test(test_conf_load_seconds),
		cmocka_unit_test(test_conf_load_socket_mode),
		cmocka_unit_test(test_conf_load_uint64_setting),
		cmocka_unit_test(test_conf_load_large_literal),
		cmocka_unit_test(test_conf_load_large_literal_included),
		cmocka_unit_test(test_conf_load_buffer_budget),
		cmocka_unit_test(test_conf_load_syntax_error),
		cmocka_unit_test(test_conf_load_unknown_setting),
		cmocka_unit_test(test_conf_load_wrong_type),
		cmocka_unit_test(test_conf_load_out_of_range),
		cmocka_unit_test(test_conf_load_bad_listen),
		cmocka_unit_test(test_conf_load_duplicate_listen),
		cmocka_unit_test(test_conf_load_listen_count),
		cmocka_unit_test(test_conf_load_log_settings),
		cmocka_unit_test(test_conf_load_many_errors),
		cmocka_unit_test(test_conf_load_small_error_buffer),
		cmocka_unit_test(test_conf_load_missing_file),
		cmocka_unit_test(test_conf_load_path_too_long),
		cmocka_unit_test(test_conf_load_unix_too_long_absolute),
		cmocka_unit_test(test_conf_load_include_directory),
		cmocka_unit_test(test_conf_load_include_bounded),
		cmocka_unit_test(test_conf_load_metrics_listen),
		cmocka_unit_test(test_conf_load_proxy_listeners),
		cmocka_unit_test(test_conf_load_proxy_refusals),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

/*
 * test_config_table.c: the settings table (config.c's conf_table), the one
 * place that holds each setting's type, range and default: every default
 * lies in its range, conf_defaults() is the table, and etc/msgd.conf.in
 * and msgd.conf(5) say what the table says (test_config.c loads the
 * shipped file).
 */
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
#include "net.h"
#include "util.h"

/* MSGD_STATS_PATH and the other build paths: from Makefile.am. */

/* Load text from a new temporary file; 0 or -1 with err filled. */
static int
load_text(const char *text, struct msgd_conf *c, char *err, size_t errlen)
{
	const char	*dir = getenv("TMPDIR");
	char		 path[256];
	size_t		 len = strlen(text);
	int		 fd, rc;

	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	snprintf(path, sizeof(path), "%s/test_config_table.XXXXXX", dir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	rc = conf_load(path, c, err, errlen);
	unlink(path);
	return (rc);
}

/*
 * The two loads are the same configuration (the file's path aside, and
 * where in it the TLS settings were read).
 */
static void
assert_same_conf(struct msgd_conf *a, struct msgd_conf *b)
{
	memset(a->path, 0, sizeof(a->path));
	memset(b->path, 0, sizeof(b->path));
	memset(a->tls_at, 0, sizeof(a->tls_at));
	memset(b->tls_at, 0, sizeof(b->tls_at));
	assert_memory_equal(a, b, sizeof(*a));
}

/* The load of an empty file: the defaults, relations applied. */
static void
load_empty(struct msgd_conf *c)
{
	char	err[CONF_ERRORS_MAX];

	if (load_text("", c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
}

/*
 * Every default as msgd.conf(5) states it, the settings that
 * test_config.c's documented defaults leave out included.
 */
static void
test_conf_defaults_documented(void **state)
{
	struct msgd_conf	c;

	(void)state;
	conf_defaults(&c);
	assert_int_equal(c.nlisten, 2);
	assert_string_equal(c.listen[0], "127.0.0.1:7878");
	assert_string_equal(c.listen[1], "[::1]:7878");
	assert_int_equal(c.nudp, 0);
	assert_int_equal(c.workers, ncpus());
	assert_int_equal(c.max_workers, 64);
	assert_string_equal(c.stats_file, MSGD_STATS_PATH);
	assert_int_equal(c.backlog, 511);
	assert_int_equal(c.max_body, 16777216);
	assert_int_equal(c.max_connections, 10000);
	assert_true(c.output_limit == 1048576);
	assert_true(c.buffer_budget == 0);	/* derived by the load */
	assert_int_equal(c.idle_timeout_ms, 300000);
	assert_int_equal(c.read_timeout_ms, 10000);
	assert_int_equal(c.shutdown_timeout_ms, 10000);
	assert_int_equal(c.worker_timeout_ms, 30000);
	assert_int_equal(c.respawn_throttle_ms, 60000);
	assert_int_equal(c.max_requests, 0);
	assert_string_equal(c.pidfile, MSGD_PID_PATH);
	assert_string_equal(c.user, "");
	assert_string_equal(c.group, "");
	assert_int_equal(c.allow_root, 0);
	assert_int_equal(c.socket_mode, 0660);
	assert_int_equal(c.log_level, LOG_LVL_INFO);
	assert_int_equal(c.log_target, LOG_TO_STDERR);
	assert_string_equal(c.log_file, "");
	assert_int_equal(c.files_enabled, 0);
	assert_string_equal(c.files_dir, MSGD_FILES_PATH);
	assert_int_equal(c.files_max_size, 16777216);
	assert_int_equal(c.files_max_count, 10000);
	assert_int_equal(c.exec_enabled, 0);
	assert_int_equal(c.exec_timeout_ms, 10000);
	assert_int_equal(c.exec_max_output, 1048576);
	assert_int_equal(c.exec_max_running, 4);
	assert_int_equal(c.nexec_cmds, 0);
	assert_int_equal(c.auth_set, 0);
	assert_string_equal(c.auth_token_file, "");
	assert_int_equal(c.nallow, 0);
	assert_int_equal(c.protected_mode, 1);
	assert_int_equal(c.ntls, 0);
	assert_string_equal(c.tls_cert, "");
	assert_string_equal(c.tls_key, "");
	assert_string_equal(c.tls_ca, "");
	assert_int_equal(c.tls_verify, CONF_VERIFY_OFF);
	assert_int_equal(c.tls_min_proto, CONF_TLS12);
	assert_string_equal(c.tls_ciphers, "ECDHE+AESGCM:ECDHE+CHACHA20");
	assert_string_equal(c.tls_suites, "TLS_AES_128_GCM_SHA256:"
	    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
}

/* A row's default as msgd.conf(5) and etc/msgd.conf write numbers. */
static void
fmt_number(const struct conf_item *it, uint64_t v, char *buf, size_t len)
{
	if (it->type == CT_SECONDS)
		snprintf(buf, len, "%g", (double)v / 1000.0);
	else if (it->type == CT_MODE)
		snprintf(buf, len, "0%llo", (unsigned long long)v);
	else
		snprintf(buf, len, "%llu", (unsigned long long)v);
}

/* Call fn for every row, with its path ("exec.timeout"). */
static void
walk(const struct conf_item *items, const char *prefix,
    void (*fn)(const struct conf_item *, const char *, void *), void *arg)
{
	const struct conf_item	*it;
	char			 path[128];

	for (it = items; it->name != NULL; it++) {
		if ((size_t)snprintf(path, sizeof(path), "%s%s%s", prefix,
		    prefix[0] != '\0' ? "." : "", it->name) >= sizeof(path))
			fail_msg("%s.%s: path too long", prefix, it->name);
		fn(it, path, arg);
		if (it->type == CT_GROUP)
			walk(it->sub, path, fn, arg);
	}
}

static void
check_row(const struct conf_item *it, const char *path, void *arg)
{
	const char *const	*l;
	struct net_addr		 a;
	char			 cause[256];
	int			 n = 0;

	(void)arg;
	if (it->arg == NULL)
		fail_msg("%s: no word for its value", path);
	assert_ptr_equal(conf_item_find(conf_table, path), it);
	switch (it->type) {
	case CT_UINT:
	case CT_SECONDS:
	case CT_MODE:
		if (it->def < it->min || it->def > it->max || it->min > it->max)
			fail_msg("%s: default %llu outside %llu..%llu", path,
			    (unsigned long long)it->def,
			    (unsigned long long)it->min,
			    (unsigned long long)it->max);
		if (it->size == 4 && it->max > UINT32_MAX)
			fail_msg("%s: range wider than its field", path);
		break;
	case CT_WORKERS:
		if (it->defstr == NULL || strcmp(it->defstr, "auto") != 0)
			assert_true(it->def >= it->min && it->def <= it->max);
		break;
	case CT_BOOL:
		assert_true(it->def == 0 || it->def == 1);
		break;
	case CT_LOGLEVEL:
		assert_non_null(it->defstr);
		assert_int_not_equal(log_level_parse(it->defstr), -1);
		break;
	case CT_LOGTARGET:
		assert_non_null(it->defstr);	/* checked by the load below */
		break;
	case CT_PATH:
	case CT_TOKENFILE:
		/* NULL: none; a path is 1..size-1 bytes. */
		if (it->defstr != NULL)
			assert_true(it->defstr[0] != '\0' &&
			    strlen(it->defstr) < it->size);
		break;
	case CT_NAME:
	case CT_STRING:
		assert_non_null(it->defstr);
		assert_true(strlen(it->defstr) < it->size);
		break;
	case CT_WORD:
		/* The default is one of the words. */
		assert_non_null(it->defstr);
		assert_non_null(it->words);
		for (l = it->words; *l != NULL; l++)
			if (strcmp(*l, it->defstr) == 0)
				break;
		if (*l == NULL)
			fail_msg("%s: default \"%s\" is not one of its words",
			    path, it->defstr);
		break;
	case CT_LISTEN:
		for (l = it->deflist; l != NULL && *l != NULL; l++, n++)
			if (net_parse_addr(*l, &a, cause, sizeof(cause)) != 0)
				fail_msg("%s: %s", path, cause);
		assert_true((uint64_t)n >= it->min && (uint64_t)n <= it->max);
		break;
	case CT_UDPLISTEN:
	case CT_ALLOW:
	case CT_COMMANDS:
		/* conf_defaults() copies no other list. */
		assert_null(it->deflist);
		assert_true(it->min == 0);
		break;
	case CT_TOKEN:
		/* "": no token; conf_defaults() sets none. */
		assert_non_null(it->defstr);
		assert_string_equal(it->defstr, "");
		break;
	case CT_GROUP:
		assert_non_null(it->sub);
		break;
	}
}

/* Every row's default lies in its row's range, and every row is found. */
static void
test_conf_table_defaults_in_range(void **state)
{
	(void)state;
	walk(conf_table, "", check_row, NULL);
	assert_null(conf_item_find(conf_table, "nonexistent"));
	assert_null(conf_item_find(conf_table, "max_body.x"));
	assert_null(conf_item_find(conf_table, "log"  ".nonexistent"));
}

/* The table's defaults written as a file, one setting per row. */
static void
render(char *buf, size_t len, size_t *off, const struct conf_item *items)
{
	const struct conf_item	*it;
	const char *const	*l;
	char			 num[64];

	for (it = items; it->name != NULL; it++) {
		switch (it->type) {
		case CT_UINT:
		case CT_SECONDS:
		case CT_MODE:
			fmt_number(it, it->def, num, sizeof(num));
			*off += (size_t)snprintf(buf + *off, len - *off,
			    "%s = %s%s;\n", it->name, num,
			    it->def > 2147483647 ? "L" : "");
			break;
		case CT_BOOL:
			*off += (size_t)snprintf(buf + *off, len - *off,
			    "%s = %s;\n", it->name, it->def ? "true" : "false");
			break;
		case CT_WORKERS:
			if (it->defstr != NULL)
				*off += (size_t)snprintf(buf + *off, len - *off,
				    "%s = \"%s\";\n", it->name, it->defstr);
			else
				*off += (size_t)snprintf(buf + *off, len - *off,
				    "%s = %llu;\n", it->name,
				    (unsigned long long)it->def);
			break;
		case CT_LOGLEVEL:
		case CT_LOGTARGET:
		case CT_PATH:
		case CT_NAME:
		case CT_STRING:
		case CT_WORD:
		case CT_TOKEN:
		case CT_TOKENFILE:
			if (it->defstr != NULL)
				*off += (size_t)snprintf(buf + *off, len - *off,
				    "%s = \"%s\";\n", it->name, it->defstr);
			break;
		case CT_LISTEN:
		case CT_UDPLISTEN:
		case CT_ALLOW:
			*off += (size_t)snprintf(buf + *off, len - *off,
			    "%s = [ ", it->name);
			for (l = it->deflist; l != NULL && *l != NULL; l++)
				*off += (size_t)snprintf(buf + *off, len - *off,
				    "%s\"%s\"", l == it->deflist ? "" : ", ",
				    *l);
			*off += (size_t)snprintf(buf + *off, len - *off,
			    " ];\n");
			break;
		case CT_COMMANDS:
			*off += (size_t)snprintf(buf + *off, len - *off,
			    "%s = { };\n", it->name);
			break;
		case CT_GROUP:
			*off += (size_t)snprintf(buf + *off, len - *off,
			    "%s = {\n", it->name);
			render(buf, len, off, it->sub);
			*off += (size_t)snprintf(buf + *off, len - *off,
			    "};\n");
			break;
		}
		assert_true(*off < len);
	}
}

/*
 * conf_defaults() is the table: a file that sets every setting to its
 * row's default passes the load's own checks and loads to exactly what
 * an empty file loads to.
 */
static void
test_conf_table_is_defaults(void **state)
{
	struct msgd_conf	 from_table, empty;
	char			 text[8192], err[CONF_ERRORS_MAX];
	size_t			 off = 0;

	(void)state;
	render(text, sizeof(text), &off, conf_table);
	if (load_text(text, &from_table, err, sizeof(err)) != 0)
		fail_msg("the table's defaults do not load:\n%s\n%s", err,
		    text);
	load_empty(&empty);
	assert_same_conf(&from_table, &empty);
}

/* The text of a file under the source tree, or skip outside make check. */
static char *
read_source(const char *name)
{
	const char	*srcdir = getenv("MSGD_SRCDIR");
	char		 path[512], *text;
	FILE		*fp;
	long		 n;

	if (srcdir == NULL)
		return (NULL);
	snprintf(path, sizeof(path), "%s/%s", srcdir, name);
	fp = fopen(path, "r");
	if (fp == NULL)
		fail_msg("%s: cannot open", path);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n > 0);
	rewind(fp);
	text = calloc(1, (size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return (text);
}

/*
 * The entry of setting name in msgd.conf(5): from its ".It Cm name No ="
 * line to the next ".It" of its list, lines joined with spaces, or NULL.
 * The head (the .It line) goes to head.
 */
static char *
man_entry(const char *man, const char *name, char *head, size_t hlen)
{
	char		 want[96], *text, *p;
	const char	*at, *eol, *end;
	int		 depth = 0;

	snprintf(want, sizeof(want), "\n.It Cm %s No = ", name);
	if ((at = strstr(man, want)) == NULL)
		return (NULL);
	at++;
	eol = strchr(at, '\n');
	snprintf(head, hlen, "%.*s", (int)(eol - at), at);
	/* To the next .It at this depth (nested lists skipped), or .El. */
	for (end = eol; *end != '\0'; end = strchr(end + 1, '\n')) {
		if (end == NULL)
			break;
		if (strncmp(end, "\n.Bl", 4) == 0)
			depth++;
		else if (strncmp(end, "\n.El", 4) == 0 && depth-- == 0)
			break;
		else if (strncmp(end, "\n.It", 4) == 0 && depth == 0)
			break;
	}
	if (end == NULL)
		end = at + strlen(at);
	text = strndup(at, (size_t)(end - at));
	assert_non_null(text);
	for (p = text; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
	return (text);
}

static void
check_man(const struct conf_item *it, const char *path, void *arg)
{
	const char	*man = arg;
	char		 head[256], want[160], lo[64], hi[64], *text;

	if ((text = man_entry(man, it->name, head, sizeof(head))) == NULL)
		fail_msg("%s: no \".It Cm %s No = \" in msgd.conf(5)", path,
		    it->name);
	/* The value's word: ".It Cm max_body No = Ar bytes". */
	snprintf(want, sizeof(want), " Ar %s", it->arg);
	if (strstr(head, want) == NULL)
		fail_msg("%s: \"%s\" does not say \"%s\"", path, head, want);
	switch (it->type) {
	case CT_UINT:
	case CT_SECONDS:
	case CT_MODE:
		/* "16 to 1073741824"; a 0 with a meaning of its own: "0,". */
		fmt_number(it, it->min, lo, sizeof(lo));
		fmt_number(it, it->max, hi, sizeof(hi));
		if (it->type == CT_MODE)
			snprintf(lo, sizeof(lo), "0");
		snprintf(want, sizeof(want), "%s to %s", lo, hi);
		if (strstr(text, want) == NULL) {
			snprintf(want, sizeof(want), " to %s", hi);
			if (it->min != 0 || strstr(text, want) == NULL ||
			    strstr(text, "0, ") == NULL)
				fail_msg("%s: msgd.conf(5) lacks \"%s to %s\"",
				    path, lo, hi);
		}
		fmt_number(it, it->def, lo, sizeof(lo));
		snprintf(want, sizeof(want), "Default: %s", lo);
		if (strstr(text, want) == NULL)
			fail_msg("%s: msgd.conf(5) lacks \"%s\"", path, want);
		break;
	case CT_BOOL:
		snprintf(want, sizeof(want), "Default: .Li %s", it->def ?
		    "true" : "false");
		if (strstr(text, want) == NULL)
			fail_msg("%s: msgd.conf(5) lacks \"%s\"", path, want);
		break;
	case CT_WORKERS:
	case CT_LOGLEVEL:
	case CT_LOGTARGET:
	case CT_WORD:
		snprintf(want, sizeof(want), "Default: .Qq %s", it->defstr);
		if (strstr(text, want) == NULL)
			fail_msg("%s: msgd.conf(5) lacks \"%s\"", path, want);
		break;
	default:
		break;
	}
	free(text);
}

/*
 * msgd.conf(5) has an entry for every row, naming the value as the row
 * does, and states each number's range and default as the row has them.
 */
static void
test_conf_table_in_man_page(void **state)
{
	char	*man;

	(void)state;
	if ((man = read_source("man/msgd.conf.5")) == NULL)
		skip();		/* run by hand, outside make check */
	walk(conf_table, "", check_man, man);
	free(man);
}

/* Row path appears as "name =" in the file (in its group, if any). */
static void
check_in_file(const struct conf_item *it, const char *path, void *arg)
{
	const char	*text = arg;
	char		 want[96];

	snprintf(want, sizeof(want), "%s = ", it->name);
	if (strstr(text, want) == NULL)
		fail_msg("%s: not in etc/msgd.conf.in", path);
}

/*
 * A range "lo..hi" in etc/msgd.conf.in's comment above a setting is the
 * row's (a 0 the comment gives a meaning of its own, "0 = never", may
 * stand apart from a higher lower bound: worker_timeout's 3 s is a rule
 * between settings, not its range).
 */
static void
check_conf_in_range(const struct conf_item *it, const char *path,
    const char *comment)
{
	char		 lo[64], hi[64], want[160];
	const char	*p;

	if (it->type != CT_UINT && it->type != CT_SECONDS &&
	    it->type != CT_MODE && it->type != CT_WORKERS &&
	    it->type != CT_TOKEN)
		return;
	if ((p = strstr(comment, "..")) == NULL)
		return;
	fmt_number(it, it->min, lo, sizeof(lo));
	fmt_number(it, it->max, hi, sizeof(hi));
	if (it->type == CT_MODE)
		snprintf(lo, sizeof(lo), "0");
	snprintf(want, sizeof(want), "%s..%s", lo, hi);
	if (strstr(comment, want) != NULL)
		return;
	snprintf(want, sizeof(want), "..%s", hi);
	if (it->min == 0 && strstr(comment, want) != NULL &&
	    strstr(comment, "0 = ") != NULL)
		return;
	fail_msg("%s: etc/msgd.conf.in says \"%.40s\", the table %s..%s",
	    path, p - comment > 10 ? p - 10 : comment, lo, hi);
}

/*
 * etc/msgd.conf.in: every row is set there (a setting without a default
 * commented out), and a range its comment gives is the row's.
 */
static void
test_conf_table_in_shipped_file(void **state)
{
	const struct conf_item	*it;
	char			*text, *line, *next, comment[1024];
	char			 prefix[64] = "", path[160], name[64];
	size_t			 clen = 0;
	int			 depth = 0;

	(void)state;
	if ((text = read_source("etc/msgd.conf.in")) == NULL)
		skip();		/* run by hand, outside make check */
	walk(conf_table, "", check_in_file, text);
	comment[0] = '\0';
	for (line = text; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		line += strspn(line, " \t");
		if (strncmp(line, "};", 2) == 0 && --depth == 0)
			prefix[0] = '\0';
		else if (strchr(line, '{') != NULL && strchr(line, '}') == NULL)
			depth++;
		if (*line == '#') {
			clen += (size_t)snprintf(comment + clen,
			    sizeof(comment) - clen, "%s ", line + 1);
			if (clen >= sizeof(comment))
				clen = sizeof(comment) - 1;
			continue;
		}
		if (sscanf(line, "%63[a-z_] = ", name) != 1 ||
		    strstr(line, " = ") == NULL) {
			clen = 0;
			comment[0] = '\0';
			continue;
		}
		snprintf(path, sizeof(path), "%s%s%s", prefix,
		    prefix[0] != '\0' ? "." : "", name);
		if ((it = conf_item_find(conf_table, path)) != NULL) {
			check_conf_in_range(it, path, comment);
			if (it->type == CT_GROUP && prefix[0] == '\0')
				snprintf(prefix, sizeof(prefix), "%s", name);
		}
		/* The comment above user also covers group and allow_root. */
		if (next == NULL || (*next != '\0' && next[strspn(next,
		    " \t")] == '#')) {
			clen = 0;
			comment[0] = '\0';
		}
	}
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_defaults_documented),
		cmocka_unit_test(test_conf_table_defaults_in_range),
		cmocka_unit_test(test_conf_table_is_defaults),
		cmocka_unit_test(test_conf_table_in_man_page),
		cmocka_unit_test(test_conf_table_in_shipped_file),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}

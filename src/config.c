/*
 * config.c: load and validate the libconfig file.
 *
 * The accepted settings are a table, conf_table: one row per setting with
 * its name, type, range, default and where the value goes (config.h).
 * conf_defaults() walks it; everything in the file must be in it (a typo is
 * an error, not a silently ignored line), every value is checked against
 * its row, and every problem is reported as "file:line: setting: what is
 * wrong" with the row's range, all of them at once, so an operator fixes a
 * file in one pass.
 */
#include <errno.h>
#include <inttypes.h>
#include <libconfig.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "net.h"
#include "sha256.h"
#include "util.h"

#ifndef MSGD_STATS_PATH
#define MSGD_STATS_PATH		"/run/msgd/stats"
#endif
#ifndef MSGD_FILES_PATH
#define MSGD_FILES_PATH		"/var/lib/msgd/files"
#endif
#ifndef MSGD_PID_PATH
#define MSGD_PID_PATH		"/run/msgd/msgd.pid"
#endif
#define DEFAULT_PORT_ADDR4	"127.0.0.1:7878"
#define DEFAULT_PORT_ADDR6	"[::1]:7878"

#define F(m)	.off = offsetof(struct msgd_conf, m), \
		.size = sizeof(((struct msgd_conf *)0)->m)
/* A list and the int that counts its entries. */
#define FN(m, n)	F(m), .count = offsetof(struct msgd_conf, n)

struct conf_errs;
static void	absolutize(char *, size_t, const char *, struct conf_errs *,
		    const char *);

/* The settings.  msgd.conf(5) and etc/msgd.conf.in describe each row. */

static const struct conf_item log_items[] = {
	{ .name = "level", .type = CT_LOGLEVEL, .arg = "string",
	  .defstr = "info", F(log_level) },
	{ .name = "target", .type = CT_LOGTARGET, .arg = "string",
	  .defstr = "stderr", F(log_target) },
	{ .name = "file", .type = CT_PATH, .arg = "path",
	  .defstr = NULL, F(log_file) },
	{ .name = NULL }
};

static const struct conf_item files_items[] = {
	{ .name = "enabled", .type = CT_BOOL, .arg = "boolean",
	  .def = 0, F(files_enabled) },
	{ .name = "dir", .type = CT_PATH, .arg = "path",
	  .defstr = MSGD_FILES_PATH, F(files_dir) },
	{ .name = "max_size", .type = CT_UINT, .arg = "bytes",
	  .min = 0, .max = 1073741824, .def = 16 * 1024 * 1024,
	  F(files_max_size) },
	{ .name = "max_count", .type = CT_UINT, .arg = "number",
	  .min = 1, .max = 10000000, .def = 10000, F(files_max_count) },
	{ .name = "threads", .type = CT_UINT, .arg = "number",
	  .min = 1, .max = 64, .def = 2, F(files_threads) },
	{ .name = "queue", .type = CT_UINT, .arg = "number",
	  .min = 1, .max = 65536, .def = 1024, F(files_queue) },
	{ .name = NULL }
};

static const struct conf_item exec_items[] = {
	{ .name = "enabled", .type = CT_BOOL, .arg = "boolean",
	  .def = 0, F(exec_enabled) },
	{ .name = "timeout", .type = CT_SECONDS, .arg = "seconds",
	  .min = 100, .max = 3600000, .def = 10 * 1000, F(exec_timeout_ms) },
	{ .name = "max_output", .type = CT_UINT, .arg = "bytes",
	  .min = 0, .max = 1073741824, .def = 1024 * 1024,
	  F(exec_max_output) },
	{ .name = "max_running", .type = CT_UINT, .arg = "number",
	  .min = 1, .max = 64, .def = 4, F(exec_max_running) },
	{ .name = "commands", .type = CT_COMMANDS, .arg = "name",
	  .deflist = NULL },
	{ .name = NULL }
};

/* The defaults: Mozilla's "intermediate" TLS 1.2 list, OpenSSL's 1.3. */
#define TLS_CIPHERS_DEF	"ECDHE+AESGCM:ECDHE+CHACHA20"
#define TLS_SUITES_DEF	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
			"TLS_CHACHA20_POLY1305_SHA256"

static const struct conf_item tls_items[] = {
	{ .name = "cert", .type = CT_PATH, .arg = "path",
	  .defstr = NULL, F(tls_cert) },
	{ .name = "key", .type = CT_PATH, .arg = "path",
	  .defstr = NULL, F(tls_key) },
	{ .name = "ca", .type = CT_PATH, .arg = "path",
	  .defstr = NULL, F(tls_ca) },
	{ .name = "verify_client", .type = CT_WORD, .arg = "string",
	  .defstr = "off", .words = (const char *const []){ "off",
	  "optional", "require", NULL }, F(tls_verify) },
	{ .name = "min_protocol", .type = CT_WORD, .arg = "string",
	  .defstr = "TLSv1.2", .words = (const char *const []){ "TLSv1.2",
	  "TLSv1.3", NULL }, F(tls_min_proto) },
	{ .name = "ciphers", .type = CT_STRING, .arg = "string",
	  .defstr = TLS_CIPHERS_DEF, F(tls_ciphers) },
	{ .name = "ciphersuites", .type = CT_STRING, .arg = "string",
	  .defstr = TLS_SUITES_DEF, F(tls_suites) },
	{ .name = NULL }
};

const struct conf_item conf_table[] = {
	{ .name = "listen", .type = CT_LISTEN, .arg = "address",
	  .min = 1, .max = CONF_LISTEN_MAX,
	  .deflist = (const char *const []){ DEFAULT_PORT_ADDR4,
	  DEFAULT_PORT_ADDR6, NULL }, F(listen) },
	{ .name = "workers", .type = CT_WORKERS, .arg = "number",
	  .min = 1, .max = 1024, .defstr = "auto", F(workers) },
	{ .name = "max_workers", .type = CT_UINT, .arg = "number",
	  .min = 1, .max = 1024, .def = 64, F(max_workers) },
	{ .name = "stats_file", .type = CT_PATH, .arg = "path",
	  .defstr = MSGD_STATS_PATH, F(stats_file) },
	{ .name = "backlog", .type = CT_UINT, .arg = "number",
	  .min = 1, .max = 65535, .def = 511, F(backlog) },
	{ .name = "max_body", .type = CT_UINT, .arg = "bytes",
	  .min = 16, .max = 1073741824, .def = 16 * 1024 * 1024,
	  F(max_body) },
	{ .name = "max_connections", .type = CT_UINT, .arg = "number",
	  .min = 1, .max = 1000000, .def = 10000, F(max_connections) },
	{ .name = "output_limit", .type = CT_UINT, .arg = "bytes",
	  .min = 4096, .max = 1073741824, .def = 1024 * 1024,
	  F(output_limit) },
	/* 0: derived from max_body and output_limit (check_budget). */
	{ .name = "buffer_budget", .type = CT_UINT, .arg = "bytes",
	  .min = 0, .max = 1099511627776ULL, .def = 0, F(buffer_budget) },
	{ .name = "idle_timeout", .type = CT_SECONDS, .arg = "seconds",
	  .min = 0, .max = 86400000, .def = 300 * 1000, F(idle_timeout_ms) },
	{ .name = "read_timeout", .type = CT_SECONDS, .arg = "seconds",
	  .min = 100, .max = 3600000, .def = 10 * 1000, F(read_timeout_ms) },
	{ .name = "shutdown_timeout", .type = CT_SECONDS, .arg = "seconds",
	  .min = 100, .max = 3600000, .def = 10 * 1000,
	  F(shutdown_timeout_ms) },
	/* Above 0, at least 3 s: see check_relations. */
	{ .name = "worker_timeout", .type = CT_SECONDS, .arg = "seconds",
	  .min = 0, .max = 3600000, .def = 30 * 1000, F(worker_timeout_ms) },
	{ .name = "respawn_throttle", .type = CT_SECONDS, .arg = "seconds",
	  .min = 1000, .max = 3600000, .def = 60 * 1000,
	  F(respawn_throttle_ms) },
	{ .name = "max_requests", .type = CT_UINT, .arg = "number",
	  .min = 0, .max = 4294967295ULL, .def = 0, F(max_requests) },
	{ .name = "io_uring", .type = CT_BOOL, .arg = "boolean",
	  .def = 1, F(io_uring) },
	{ .name = "cpu_affinity", .type = CT_WORD, .arg = "string",
	  .defstr = "auto", .words = (const char *const []){ "off",
	  "auto", NULL }, F(cpu_affinity) },
	{ .name = "pidfile", .type = CT_PATH, .arg = "path",
	  .defstr = MSGD_PID_PATH, F(pidfile) },
	{ .name = "user", .type = CT_NAME, .arg = "name",
	  .defstr = "", F(user) },
	{ .name = "group", .type = CT_NAME, .arg = "name",
	  .defstr = "", F(group) },
	{ .name = "allow_root", .type = CT_BOOL, .arg = "boolean",
	  .def = 0, F(allow_root) },
	{ .name = "socket_mode", .type = CT_MODE, .arg = "mode",
	  .min = 0, .max = 0777, .def = 0660, F(socket_mode) },
	{ .name = "log", .type = CT_GROUP, .arg = "settings",
	  .sub = log_items },
	{ .name = "udp_listen", .type = CT_UDPLISTEN, .arg = "address",
	  .min = 0, .max = CONF_LISTEN_MAX, .deflist = NULL, F(udp_listen) },
	{ .name = "files", .type = CT_GROUP, .arg = "settings",
	  .sub = files_items },
	{ .name = "exec", .type = CT_GROUP, .arg = "settings",
	  .sub = exec_items },
	/* "": no token.  Its length when set. */
	{ .name = "auth_token", .type = CT_TOKEN, .arg = "string",
	  .min = 8, .max = 1024, .defstr = "" },
	{ .name = "auth_token_file", .type = CT_TOKENFILE, .arg = "path",
	  .defstr = NULL, F(auth_token_file) },
	{ .name = "allow", .type = CT_ALLOW, .arg = "block",
	  .min = 0, .max = CONF_ALLOW_MAX, .deflist = NULL,
	  FN(allow, nallow) },
	{ .name = "protected", .type = CT_BOOL, .arg = "boolean",
	  .def = 1, F(protected_mode) },
	{ .name = "tls", .type = CT_GROUP, .arg = "settings",
	  .sub = tls_items },
	/* Who may send a PROXY header to a "proxy:" listener. */
	{ .name = "proxy_trusted", .type = CT_ALLOW, .arg = "block",
	  .min = 0, .max = CONF_ALLOW_MAX, .deflist = NULL,
	  FN(proxy_trusted, nproxy_trusted) },
	/* "": no exporter.  A TCP address: check_relations. */
	{ .name = "metrics_listen", .type = CT_STRING, .arg = "address",
	  .defstr = "", F(metrics_listen) },
	{ .name = NULL }
};

#undef FN
#undef F

/*
 * The row of a setting, by its path in the file ("max_body",
 * "log.level"), or NULL.
 */
const struct conf_item *
conf_item_find(const struct conf_item *items, const char *path)
{
	const struct conf_item	*it;
	const char		*dot = strchr(path, '.');
	size_t			 len = dot != NULL ? (size_t)(dot - path) :
				    strlen(path);

	for (it = items; it->name != NULL; it++) {
		if (strlen(it->name) != len || strncmp(it->name, path,
		    len) != 0)
			continue;
		if (dot == NULL)
			return (it);
		return (it->type == CT_GROUP ? conf_item_find(it->sub,
		    dot + 1) : NULL);
	}
	return (NULL);
}

struct conf_errs {
	char	*buf;
	size_t	 len;
	size_t	 used;
	int	 count;
};

/* Store v into a field of 4 or 8 bytes (the table knows which). */
static void
store_uint(struct msgd_conf *c, const struct conf_item *it, uint64_t v)
{
	char	*p = (char *)c + it->off;

	if (it->size == sizeof(uint64_t)) {
		uint64_t x = v;
		memcpy(p, &x, sizeof(x));
	} else {
		uint32_t x = (uint32_t)v;
		memcpy(p, &x, sizeof(x));
	}
}

/* log.target's words; -1 for any other. */
static int
logtarget_parse(const char *str)
{
	if (strcmp(str, "stderr") == 0)
		return (LOG_TO_STDERR);
	if (strcmp(str, "syslog") == 0)
		return (LOG_TO_SYSLOG);
	if (strcmp(str, "file") == 0)
		return (LOG_TO_FILE);
	return (-1);
}

/* The index of word in a CT_WORD row's list, or -1. */
static int
word_index(const struct conf_item *it, const char *word)
{
	int	i;

	for (i = 0; word != NULL && it->words[i] != NULL; i++)
		if (strcmp(it->words[i], word) == 0)
			return (i);
	return (-1);
}

/*
 * Each row's default into its field, as the load would store the same
 * value read from a file.  Lists, commands, the allow list and the token
 * have empty defaults (tests/unit/test_config_table.c checks it), so
 * only listen's list is copied.
 */
static void
defaults_group(struct msgd_conf *c, const struct conf_item *items)
{
	const struct conf_item	*it;
	const char *const	*l;
	int			 v;

	for (it = items; it->name != NULL; it++) {
		switch (it->type) {
		case CT_UINT:
		case CT_SECONDS:
		case CT_MODE:
			store_uint(c, it, it->def);
			break;
		case CT_BOOL:
			v = it->def != 0;
			memcpy((char *)c + it->off, &v, sizeof(v));
			break;
		case CT_WORKERS:
			/* "auto": one per CPU, capped by check_relations. */
			c->workers = it->defstr != NULL &&
			    strcmp(it->defstr, "auto") == 0 ? ncpus() :
			    (int)it->def;
			break;
		case CT_LOGLEVEL:
			c->log_level = log_level_parse(it->defstr);
			break;
		case CT_LOGTARGET:
			c->log_target = logtarget_parse(it->defstr);
			break;
		case CT_WORD:
			v = word_index(it, it->defstr);
			memcpy((char *)c + it->off, &v, sizeof(v));
			break;
		case CT_PATH:
		case CT_NAME:
		case CT_STRING:
		case CT_TOKENFILE:
			if (it->defstr != NULL)
				snprintf((char *)c + it->off, it->size, "%s",
				    it->defstr);
			break;
		case CT_LISTEN:
			for (l = it->deflist; l != NULL && *l != NULL &&
			    c->nlisten < CONF_LISTEN_MAX; l++)
				snprintf(c->listen[c->nlisten++],
				    CONF_ADDR_MAX, "%s", *l);
			break;
		case CT_GROUP:
			defaults_group(c, it->sub);
			break;
		case CT_UDPLISTEN:
		case CT_ALLOW:
		case CT_COMMANDS:
		case CT_TOKEN:
			break;		/* empty */
		}
	}
}

/*
 * Whether a listener (tls: it speaks TLS) lets in only clients with a
 * verified certificate: protected mode counts it as protected.
 */
int
conf_certified(const struct msgd_conf *c, int tls)
{
	return (tls && c->tls_verify == CONF_VERIFY_REQUIRE);
}

/* Defaults: what a file with no settings at all means (the table's). */
void
conf_defaults(struct msgd_conf *c)
{
	memset(c, 0, sizeof(*c));
	defaults_group(c, conf_table);
}

/* Append "file:line: setting: message" to the error list. */
static void
conf_err(struct conf_errs *e, const config_setting_t *s, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
conf_err(struct conf_errs *e, const config_setting_t *s, const char *path,
    const char *fmt, ...)
{
	va_list		 ap;
	const char	*file;
	unsigned int	 line;
	int		 n;

	e->count++;
	if (e->buf == NULL || e->used >= e->len)
		return;
	file = config_setting_source_file(s);
	line = config_setting_source_line(s);
	n = snprintf(e->buf + e->used, e->len - e->used, "%s:%u: %s: ",
	    file != NULL ? file : "?", line, path);
	if (n < 0 || (size_t)n >= e->len - e->used) {
		e->used = e->len;
		return;
	}
	e->used += (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(e->buf + e->used, e->len - e->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= e->len - e->used) {
		e->used = e->len;
		return;
	}
	e->used += (size_t)n;
	if (e->used + 1 < e->len) {
		e->buf[e->used++] = '\n';
		e->buf[e->used] = '\0';
	}
}

static const char *
type_name(int t)
{
	switch (t) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return ("an integer");
	case CONFIG_TYPE_FLOAT:
		return ("a number");
	case CONFIG_TYPE_STRING:
		return ("a string");
	case CONFIG_TYPE_BOOL:
		return ("a boolean");
	case CONFIG_TYPE_ARRAY:
		return ("an array");
	case CONFIG_TYPE_LIST:
		return ("a list");
	case CONFIG_TYPE_GROUP:
		return ("a group");
	default:
		return ("an unknown type");
	}
}

static int
is_int(const config_setting_t *s)
{
	int	t = config_setting_type(s);

	return (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64);
}

/* An integer setting in [min, max]. */
static void
load_uint(struct msgd_conf *c, const struct conf_item *it,
    const config_setting_t *s, const char *path, struct conf_errs *e)
{
	long long	v;

	if (!is_int(s)) {
		conf_err(e, s, path, "must be an integer, got %s",
		    type_name(config_setting_type(s)));
		return;
	}
	v = config_setting_get_int64(s);
	if (v < 0 || (uint64_t)v < it->min || (uint64_t)v > it->max) {
		conf_err(e, s, path, "must be %" PRIu64 "..%" PRIu64 ", got %lld",
		    it->min, it->max, v);
		return;
	}
	store_uint(c, it, (uint64_t)v);
}

/* Seconds, integer or fractional, kept as milliseconds. */
static void
load_seconds(struct msgd_conf *c, const struct conf_item *it,
    const config_setting_t *s, const char *path, struct conf_errs *e)
{
	double	secs;
	double	ms;

	if (is_int(s))
		secs = (double)config_setting_get_int64(s);
	else if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
		secs = config_setting_get_float(s);
	else {
		conf_err(e, s, path, "must be a number of seconds, got %s",
		    type_name(config_setting_type(s)));
		return;
	}
	ms = secs * 1000.0;
	/* 2.007 * 1000 is 2007.0000000000002 in binary: that is 2007 ms. */
	if (fabs(ms - nearbyint(ms)) < 1e-6)
		ms = nearbyint(ms);
	if (!(ms >= (double)it->min && ms <= (double)it->max)) {
		conf_err(e, s, path, "must be %g..%g seconds, got %g",
		    (double)it->min / 1000.0, (double)it->max / 1000.0, secs);
		return;
	}
	/* Round up: 0.0004 s must not become 0, which may mean "never". */
	store_uint(c, it, (uint64_t)ms + ((double)(uint64_t)ms < ms));
}

static void
load_workers(struct msgd_conf *c, const struct conf_item *it,
    const config_setting_t *s, const char *path, struct conf_errs *e)
{
	const char	*str;

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		str = config_setting_get_string(s);
		if (strcmp(str, "auto") != 0) {
			conf_err(e, s, path, "must be %" PRIu64 "..%" PRIu64
			    " or \"auto\", got \"%s\"", it->min, it->max, str);
			return;
		}
		c->workers = ncpus();
		return;
	}
	if (!is_int(s)) {
		conf_err(e, s, path, "must be an integer or \"auto\", got %s",
		    type_name(config_setting_type(s)));
		return;
	}
	load_uint(c, it, s, path, e);
}

/* A list of listen addresses; each must parse, none may repeat. */
static void
load_listen(struct msgd_conf *c, const struct conf_item *it,
    const config_setting_t *s, const char *path, struct conf_errs *e)
{
	const config_setting_t	*el;
	struct net_addr		 a;
	const char		*str;
	char			 cause[256];
	int			 i, j, n, t, tls, proxy;

	t = config_setting_type(s);
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		conf_err(e, s, path, "must be a list of addresses like "
		    "[ \"127.0.0.1:7878\" ], got %s", type_name(t));
		return;
	}
	n = config_setting_length(s);
	c->ntls = 0;
	c->nproxy = 0;
	if (n < (int)it->min || n > (int)it->max) {
		conf_err(e, s, path, "must hold %" PRIu64 "..%" PRIu64
		    " addresses, got %d", it->min, it->max, n);
		return;
	}
	c->nlisten = 0;
	for (i = 0; i < n; i++) {
		el = config_setting_get_elem(s, (unsigned int)i);
		if (config_setting_type(el) != CONFIG_TYPE_STRING) {
			conf_err(e, el, path, "element %d must be a string, "
			    "got %s", i + 1, type_name(config_setting_type(el)));
			continue;
		}
		str = config_setting_get_string(el);
		/*
		 * "tls:host:port": a TLS listener; "proxy:host:port": a
		 * PROXY header comes first.  Either order, each once, not
		 * for unix sockets.
		 */
		tls = proxy = 0;
		for (;;) {
			if (!tls && strncmp(str, "tls:", 4) == 0) {
				tls = 1;
				str += 4;
			} else if (!proxy && strncmp(str, "proxy:", 6) == 0) {
				proxy = 1;
				str += 6;
			} else
				break;
		}
		if (strlen(str) >= CONF_ADDR_MAX) {
			conf_err(e, el, path, "\"%.40s...\": longer than %d bytes",
			    str, CONF_ADDR_MAX - 1);
			continue;
		}
		if (net_parse_addr(str, &a, cause, sizeof(cause)) == -1) {
			conf_err(e, el, path, "%s", cause);
			continue;
		}
		if (tls && a.family == AF_UNIX) {
			conf_err(e, el, path, "\"tls:%s\": TLS needs host:port "
			    "or [v6addr]:port", str);
			continue;
		}
		if (proxy && a.family == AF_UNIX) {
			conf_err(e, el, path, "\"proxy:%s\": the PROXY protocol "
			    "needs host:port or [v6addr]:port", str);
			continue;
		}
		for (j = 0; j < c->nlisten; j++)
			if (strcmp(c->listen[j], str) == 0)
				break;
		if (j < c->nlisten) {
			conf_err(e, el, path, "\"%s\" is listed twice", str);
			continue;
		}
		snprintf(c->listen[c->nlisten], CONF_ADDR_MAX, "%s", str);
		c->listen_tls[c->nlisten] = tls;
		c->ntls += tls;
		c->listen_proxy[c->nlisten] = proxy;
		c->nproxy += proxy;
		c->nlisten++;
	}
}

static void
load_loglevel(struct msgd_conf *c, const config_setting_t *s,
    const char *path, struct conf_errs *e)
{
	int	lvl;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		conf_err(e, s, path, "must be a string, got %s",
		    type_name(config_setting_type(s)));
		return;
	}
	if ((lvl = log_level_parse(config_setting_get_string(s))) == -1) {
		conf_err(e, s, path, "must be one of error, warning, info, "
		    "debug, got \"%s\"", config_setting_get_string(s));
		return;
	}
	c->log_level = lvl;
}

static void
load_logtarget(struct msgd_conf *c, const config_setting_t *s,
    const char *path, struct conf_errs *e)
{
	const char	*str;
	int		 t;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		conf_err(e, s, path, "must be a string, got %s",
		    type_name(config_setting_type(s)));
		return;
	}
	str = config_setting_get_string(s);
	if ((t = logtarget_parse(str)) == -1) {
		conf_err(e, s, path, "must be \"stderr\", \"syslog\" or "
		    "\"file\", got \"%s\"", str);
		return;
	}
	c->log_target = t;
}

/* A file path: a non-empty string that fits. */
static void
load_path(struct msgd_conf *c, const struct conf_item *it,
    const config_setting_t *s, const char *path, struct conf_errs *e)
{
	const char	*str;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		conf_err(e, s, path, "must be a string (a file path), got %s",
		    type_name(config_setting_type(s)));
		return;
	}
	str = config_setting_get_string(s);
	if (str[0] == '\0' || strlen(str) >= it->size) {
		conf_err(e, s, path, "must be a path of 1..%zu bytes, got %zu",
		    it->size - 1, strlen(str));
		return;
	}
	snprintf((char *)c + it->off, it->size, "%s", str);
}

/* A free string (a cipher list): "" allowed, checked by its user. */
static void
load_string(struct msgd_conf *c, const struct conf_item *it,
    const config_setting_t *s, const char *path, struct conf_errs *e)
{
	const char	*str;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		conf_err(e, s, path, "must be a string, got %s",
		    type_name(config_setting_type(s)));
		return;
	}
	str = config_setting_get_string(s);
	if (strlen(str) >= it->size) {
		conf_err(e, s, path, "must be at most %zu bytes, got %zu",
		    it->size - 1, strlen(str));
		return;
	}
	snprintf((char *)c + it->off, it->size, "%s", str);
}

/* One of the row's words, kept as its index. */
static void
load_word(struct msgd_conf *c, const struct conf_item *it,
    const config_setting_t *s, const char *path, struct conf_errs *e)
{
	char	 list[128];
	size_t	 n = 0;
	int	 i, v;

	if (config_setting_type(s) == CONFIG_TYPE_STRING &&
	    (v = word_index(it, config_setting_get_string(s))) != -1) {
		memcpy((char *)c + it->off, &v, sizeof(v));
		return;
	}
	list[0] = '\0';
	for (i = 0; it->words[i] != NULL && n < sizeof(list); i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s\"%s\"",
		    i == 0 ? "" : it->words[i + 1] == NULL ? " or " : ", ",
		    it->words[i]);
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		conf_err(e, s, path, "must be %s, got %s", list,
		    type_name(config_setting_type(s)));
	else
		conf_err(e, s, path, "must be %s, got \"%s\"", list,
		    config_setting_get_string(s));
}

/* A user or group name: letters, digits, "_", "-", "." or empty. */
static void
load_name(struct msgd_conf *c, const struct conf_item *it,
    const config_setting_t *s, const char *path, struct conf_errs *e)
{
	const char	*str, *p;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		conf_err(e, s, path, "must be a string, got %s",
		    type_name(config_setting_type(s)));
		return;
	}
	str = config_setting_get_string(s);
	for (p = str; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		    *p == '.'))
			break;
	if (*p != '\0' || strlen(str) >= it->size) {
		conf_err(e, s, path, "must be a user or group name of at most "
		    "%zu characters [A-Za-z0-9._-], got \"%s\"", it->size - 1,
		    str);
		return;
	}
	snprintf((char *)c + it->off, it->size, "%s", str);
}

/*
 * A mode like chmod's, 0 to it->max.  libconfig has no octal numbers: it
 * reads 0660 as decimal 660, so the decimal digits are taken as the octal
 * ones (8 and 9 refused); a hex number (0x1b0) is taken as it is.
 */
static void
load_mode(struct msgd_conf *c, const struct conf_item *it,
    const config_setting_t *s, const char *path, struct conf_errs *e)
{
	long long	v, d, mode = 0, place = 1;

	if (!is_int(s)) {
		conf_err(e, s, path, "must be an octal mode like 0660, got %s",
		    type_name(config_setting_type(s)));
		return;
	}
	v = config_setting_get_int64(s);
	if (config_setting_get_format(s) == CONFIG_FORMAT_HEX)
		mode = v;
	else
		for (d = v; d > 0 && mode <= (long long)it->max; d /= 10) {
			if (d % 10 > 7) {
				mode = -1;
				break;
			}
			mode += d % 10 * place;
			place *= 8;
		}
	if (v < 0 || mode < 0 || mode > (long long)it->max) {
		conf_err(e, s, path, "must be an octal mode 0..0%llo, got %s%lld",
		    (unsigned long long)it->max, config_setting_get_format(s) ==
		    CONFIG_FORMAT_HEX ? "hex " : "", v);
		return;
	}
	store_uint(c, it, (uint64_t)mode);
}

static void
load_bool(struct msgd_conf *c, const struct conf_item *it,
    const config_setting_t *s, const char *path, struct conf_errs *e)
{
	int	v;

	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		conf_err(e, s, path, "must be true or false, got %s",
		    type_name(config_setting_type(s)));
		return;
	}
	v = config_setting_get_bool(s);
	memcpy((char *)c + it->off, &v, sizeof(v));
}

/* UDP addresses: like listen, but no unix sockets and may be empty. */
static void
load_udp(struct msgd_conf *c, const struct conf_item *it,
    const config_setting_t *s, const char *path, struct conf_errs *e)
{
	const config_setting_t	*el;
	struct net_addr		 a;
	const char		*str;
	char			 cause[256];
	int			 i, n, t;

	t = config_setting_type(s);
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		conf_err(e, s, path, "must be a list of addresses like "
		    "[ \"127.0.0.1:7878\" ], got %s", type_name(t));
		return;
	}
	if ((n = config_setting_length(s)) > (int)it->max) {
		conf_err(e, s, path, "must hold at most %" PRIu64 " addresses, "
		    "got %d", it->max, n);
		return;
	}
	c->nudp = 0;
	for (i = 0; i < n; i++) {
		el = config_setting_get_elem(s, (unsigned int)i);
		if (config_setting_type(el) != CONFIG_TYPE_STRING) {
			conf_err(e, el, path, "element %d must be a string", i + 1);
			continue;
		}
		str = config_setting_get_string(el);
		if (strlen(str) >= CONF_ADDR_MAX ||
		    net_parse_addr(str, &a, cause, sizeof(cause)) == -1) {
			conf_err(e, el, path, "%s", strlen(str) >= CONF_ADDR_MAX ?
			    "address too long" : cause);
			continue;
		}
		if (a.family == AF_UNIX) {
			conf_err(e, el, path, "\"%s\": UDP needs host:port or "
			    "[v6addr]:port", str);
			continue;
		}
		snprintf(c->udp_listen[c->nudp++], CONF_ADDR_MAX, "%s", str);
	}
}

/*
 * allow = [ "127.0.0.0/8", "::1/128", ... ]: who may connect;
 * proxy_trusted likewise: who may send a PROXY header.
 */
static void
load_allow(struct msgd_conf *c, const struct conf_item *it,
    const config_setting_t *s, const char *path, struct conf_errs *e)
{
	const config_setting_t	*el;
	struct net_cidr		*v = (void *)((char *)c + it->off);
	int			*nv = (void *)((char *)c + it->count);
	char			 cause[256];
	int			 i, n, t;

	t = config_setting_type(s);
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		conf_err(e, s, path, "must be a list of address blocks like "
		    "[ \"10.0.0.0/8\" ], got %s", type_name(t));
		return;
	}
	if ((n = config_setting_length(s)) > (int)it->max) {
		conf_err(e, s, path, "must hold at most %" PRIu64 " blocks, got "
		    "%d", it->max, n);
		return;
	}
	*nv = 0;
	for (i = 0; i < n; i++) {
		el = config_setting_get_elem(s, (unsigned int)i);
		if (config_setting_type(el) != CONFIG_TYPE_STRING) {
			conf_err(e, el, path, "element %d must be a string", i + 1);
			continue;
		}
		if (net_parse_cidr(config_setting_get_string(el), &v[*nv],
		    cause, sizeof(cause)) == -1) {
			conf_err(e, el, path, "%s", cause);
			continue;
		}
		(*nv)++;
	}
}

/* Copy a string into the command pool; returns its offset or -1. */
static int
pool_add(struct msgd_conf *c, const char *str)
{
	size_t	len = strlen(str) + 1;
	size_t	off = c->exec_pool_used;

	if (len > sizeof(c->exec_pool) - off)
		return (-1);
	memcpy(c->exec_pool + off, str, len);
	c->exec_pool_used += len;
	return ((int)off);
}

/*
 * exec.commands = { name = [ "/abs/path", "arg", ... ]; ... }: the only
 * programs EXEC runs, each an argv with an absolute path (no shell, no
 * PATH search).
 */
static void
load_commands(struct msgd_conf *c, const config_setting_t *s,
    const char *path, struct conf_errs *e)
{
	const config_setting_t	*cmd, *el;
	struct conf_cmd		*cc;
	const char		*name, *arg, *p;
	char			 sub[160];
	int			 i, j, n, argc, off;

	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		conf_err(e, s, path, "must be a group { name = [ \"/path\", "
		    "\"arg\" ]; }, got %s", type_name(config_setting_type(s)));
		return;
	}
	n = config_setting_length(s);
	c->nexec_cmds = 0;
	c->exec_pool_used = 0;
	for (i = 0; i < n; i++) {
		cmd = config_setting_get_elem(s, (unsigned int)i);
		name = config_setting_name(cmd);
		snprintf(sub, sizeof(sub), "%s.%s", path, name);
		for (p = name; *p != '\0'; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' &&
			    *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
			    *p == '-' || *p == '.'))
				break;
		if (*p != '\0' || strlen(name) > 64) {
			conf_err(e, cmd, sub, "command names are 1..64 bytes of "
			    "[A-Za-z0-9._-]");
			continue;
		}
		if (config_setting_type(cmd) != CONFIG_TYPE_ARRAY &&
		    config_setting_type(cmd) != CONFIG_TYPE_LIST) {
			conf_err(e, cmd, sub, "must be a list [ \"/abs/path\", "
			    "\"arg\", ... ], got %s",
			    type_name(config_setting_type(cmd)));
			continue;
		}
		argc = config_setting_length(cmd);
		if (argc < 1 || argc > CONF_CMD_ARGS) {
			conf_err(e, cmd, sub, "must hold 1..%d strings (program "
			    "and arguments), got %d", CONF_CMD_ARGS, argc);
			continue;
		}
		if (c->nexec_cmds == CONF_CMDS_MAX) {
			conf_err(e, cmd, sub, "more than %d commands",
			    CONF_CMDS_MAX);
			return;
		}
		cc = &c->exec_cmds[c->nexec_cmds];
		memset(cc, 0, sizeof(*cc));
		if ((off = pool_add(c, name)) == -1)
			goto full;
		cc->name = (uint16_t)off;
		for (j = 0; j < argc; j++) {
			el = config_setting_get_elem(cmd, (unsigned int)j);
			if (config_setting_type(el) != CONFIG_TYPE_STRING)
				break;
			arg = config_setting_get_string(el);
			if (j == 0 && arg[0] != '/')
				break;
			if ((off = pool_add(c, arg)) == -1)
				goto full;
			cc->argv[j] = (uint16_t)off;
		}
		if (j < argc) {
			conf_err(e, cmd, sub, j == 0 ? "the program must be an "
			    "absolute path (no PATH search, no shell)" :
			    "argument %d must be a string", j + 1);
			continue;
		}
		cc->argc = (uint16_t)argc;
		c->nexec_cmds++;
	}
	return;
full:
	conf_err(e, s, path, "commands take more than %zu bytes in all",
	    sizeof(c->exec_pool));
}

/* The allow-listed command called name (length len), or NULL. */
const struct conf_cmd *
conf_cmd_find(const struct msgd_conf *c, const char *name, size_t len)
{
	const char	*n;
	int		 i;

	for (i = 0; i < c->nexec_cmds; i++) {
		n = conf_str(c, c->exec_cmds[i].name);
		if (strlen(n) == len && memcmp(n, name, len) == 0)
			return (&c->exec_cmds[i]);
	}
	return (NULL);
}

/* Keep only the digest of a token: the secret itself is not needed. */
static void
set_token(struct msgd_conf *c, const char *tok, size_t len)
{
	sha256(tok, len, c->auth_digest);
	c->auth_set = 1;
}

static void
load_token(struct msgd_conf *c, const struct conf_item *it,
    const config_setting_t *s, const char *path, struct conf_errs *e)
{
	const char	*str;
	size_t		 len;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		conf_err(e, s, path, "must be a string, got %s",
		    type_name(config_setting_type(s)));
		return;
	}
	str = config_setting_get_string(s);
	len = strlen(str);
	if (len == 0)
		return;		/* "" = no token */
	if (len < it->min || len > it->max) {
		conf_err(e, s, path, "must be %" PRIu64 "..%" PRIu64 " bytes "
		    "long, got %zu", it->min, it->max, len);
		return;
	}
	set_token(c, str, len);
}

/*
 * auth_token_file: the token is the file's first line.  The file must be
 * readable by its owner only: a secret others can read is no secret.
 */
static int	conf_flags;	/* of the load in progress */

static void
load_tokenfile(struct msgd_conf *c, const struct conf_item *it,
    const config_setting_t *s, const char *path, struct conf_errs *e)
{
	const struct conf_item	*tok;
	struct stat		 st;
	char			 buf[1100];
	FILE			*fp;
	size_t			 len;

	load_path(c, it, s, path, e);
	absolutize(c->auth_token_file, sizeof(c->auth_token_file), "", e,
	    "auth_token_file");
	/* A client reading the config needs no secret (nor may read it). */
	if (c->auth_token_file[0] == '\0' || (conf_flags & CONF_NO_SECRETS)) {
		if (c->auth_token_file[0] != '\0')
			c->auth_set = 1;
		return;
	}
	if ((fp = fopen(c->auth_token_file, "re")) == NULL) {
		conf_err(e, s, path, "%s: %s", c->auth_token_file,
		    strerror(errno));
		return;
	}
	if (fstat(fileno(fp), &st) == -1 || (st.st_mode & 077) != 0) {
		conf_err(e, s, path, "%s: must be readable by its owner only "
		    "(chmod 600), is mode %04o", c->auth_token_file,
		    (unsigned)(st.st_mode & 07777));
		fclose(fp);
		return;
	}
	if (fgets(buf, sizeof(buf), fp) == NULL)
		buf[0] = '\0';
	fclose(fp);
	len = strcspn(buf, "\r\n");
	buf[len] = '\0';
	/* The token's length: auth_token's row. */
	tok = conf_item_find(conf_table, "auth_token");
	if (len < tok->min || len > tok->max) {
		conf_err(e, s, path, "%s: the token (first line) must be "
		    "%" PRIu64 "..%" PRIu64 " bytes long, got %zu",
		    c->auth_token_file, tok->min, tok->max, len);
		return;
	}
	set_token(c, buf, len);
	explicit_bzero(buf, sizeof(buf));
}

static void	load_group(struct msgd_conf *, const struct conf_item *,
		    const config_setting_t *, const char *, struct conf_errs *);

/* Load one setting s as its row it says; a group, member by member. */
static void
load_item(struct msgd_conf *c, const struct conf_item *it,
    const config_setting_t *s, const char *path, struct conf_errs *e)
{
	switch (it->type) {
	case CT_UINT:
		load_uint(c, it, s, path, e);
		break;
	case CT_SECONDS:
		load_seconds(c, it, s, path, e);
		break;
	case CT_WORKERS:
		load_workers(c, it, s, path, e);
		break;
	case CT_LISTEN:
		load_listen(c, it, s, path, e);
		break;
	case CT_LOGLEVEL:
		load_loglevel(c, s, path, e);
		break;
	case CT_LOGTARGET:
		load_logtarget(c, s, path, e);
		break;
	case CT_PATH:
		load_path(c, it, s, path, e);
		break;
	case CT_NAME:
		load_name(c, it, s, path, e);
		break;
	case CT_STRING:
		load_string(c, it, s, path, e);
		break;
	case CT_WORD:
		load_word(c, it, s, path, e);
		break;
	case CT_BOOL:
		load_bool(c, it, s, path, e);
		break;
	case CT_UDPLISTEN:
		load_udp(c, it, s, path, e);
		break;
	case CT_ALLOW:
		load_allow(c, it, s, path, e);
		break;
	case CT_COMMANDS:
		load_commands(c, s, path, e);
		break;
	case CT_TOKEN:
		load_token(c, it, s, path, e);
		break;
	case CT_TOKENFILE:
		load_tokenfile(c, it, s, path, e);
		break;
	case CT_MODE:
		load_mode(c, it, s, path, e);
		break;
	case CT_GROUP:
		if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			conf_err(e, s, path, "must be a group { ... }, got %s",
			    type_name(config_setting_type(s)));
			break;
		}
		load_group(c, it->sub, s, path, e);
		break;
	}
}

/* Walk a group: every member must be a known setting of the right kind. */
static void
load_group(struct msgd_conf *c, const struct conf_item *items,
    const config_setting_t *grp, const char *prefix, struct conf_errs *e)
{
	const struct conf_item	*it;
	const config_setting_t	*s;
	const char		*name;
	char			 path[128];
	int			 i, n;

	n = config_setting_length(grp);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(grp, (unsigned int)i);
		name = config_setting_name(s);
		if (name == NULL)
			continue;
		snprintf(path, sizeof(path), "%s%s%s", prefix,
		    prefix[0] != '\0' ? "." : "", name);
		for (it = items; it->name != NULL; it++)
			if (strcmp(it->name, name) == 0)
				break;
		if (it->name == NULL) {
			conf_err(e, s, path, "unknown setting");
			continue;
		}
		load_item(c, it, s, path, e);
	}
}

/*
 * A relative path means relative to the directory msgd was started in;
 * make it absolute now, because the daemon changes to / when it detaches
 * and must find (and remove) the same files later.
 */
static void
absolutize(char *path, size_t size, const char *prefix, struct conf_errs *e,
    const char *what)
{
	char	cwd[PATH_MAX], tmp[CONF_PATH_MAX + PATH_MAX];
	size_t	plen = strlen(prefix);

	if (path[0] == '\0' || path[plen] == '/' ||
	    strncmp(path, prefix, plen) != 0)
		return;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s%s/%s", prefix, cwd, path + plen);
	if (strlen(tmp) >= size) {
		e->count++;
		if (e->buf != NULL && e->used < e->len)
			e->used += (size_t)snprintf(e->buf + e->used,
			    e->len - e->used, "%s: %s: absolute path too "
			    "long\n", what, path);
		return;
	}
	snprintf(path, size, "%s", tmp);
}

/*
 * buffer_budget: 0 derives it from what a worker needs, room for two of
 * the largest requests with a copied answer each and two full output
 * queues; a value set must at least let one largest request in.
 */
static void
check_budget(config_t *cfg, struct msgd_conf *c, struct conf_errs *e)
{
	config_setting_t	*s;
	uint64_t		 least = (uint64_t)c->max_body + 16;

	if (c->buffer_budget == 0) {
		c->buffer_budget = 4 * (uint64_t)c->max_body +
		    2 * c->output_limit;
		return;
	}
	if (c->buffer_budget < least &&
	    (s = config_lookup(cfg, "buffer_budget")) != NULL)
		conf_err(e, s, "buffer_budget", "must be 0 (derived) or at "
		    "least max_body + 16 (%" PRIu64 "), got %" PRIu64, least,
		    c->buffer_budget);
}

/*
 * TLS: a "tls:" listener needs a certificate and its key, a client
 * certificate check needs a CA; and where each file setting was read, for
 * tls.c's checks of the files themselves (they name it).
 */
static void
check_tls(config_t *cfg, struct msgd_conf *c, struct conf_errs *e)
{
	static const char *const names[CONF_AT_COUNT] = { "tls.cert",
	    "tls.key", "tls.ca", "tls.ciphers", "tls.ciphersuites" };
	config_setting_t	*s;
	const char		*file;
	int			 i;

	for (i = 0; i < CONF_AT_COUNT; i++) {
		if ((s = config_lookup(cfg, names[i])) == NULL ||
		    (file = config_setting_source_file(s)) == NULL)
			snprintf(c->tls_at[i], sizeof(c->tls_at[i]), "%s: %s",
			    c->path, names[i]);
		else
			snprintf(c->tls_at[i], sizeof(c->tls_at[i]),
			    "%s:%u: %s", file, config_setting_source_line(s),
			    names[i]);
	}
	if (c->ntls > 0 && (c->tls_cert[0] == '\0' ||
	    c->tls_key[0] == '\0') && (s = config_lookup(cfg, "listen")) !=
	    NULL)
		conf_err(e, s, "listen", "a \"tls:\" listener needs tls.cert "
		    "and tls.key");
	if (c->tls_verify != CONF_VERIFY_OFF && c->tls_ca[0] == '\0' &&
	    (s = config_lookup(cfg, "tls.verify_client")) != NULL)
		conf_err(e, s, "tls.verify_client", "checking client "
		    "certificates needs tls.ca");
	absolutize(c->tls_cert, sizeof(c->tls_cert), "", e, "tls.cert");
	absolutize(c->tls_key, sizeof(c->tls_key), "", e, "tls.key");
	absolutize(c->tls_ca, sizeof(c->tls_ca), "", e, "tls.ca");
}

/*
 * metrics_listen: a TCP address (the exporter speaks HTTP to Prometheus
 * and load balancers, which reach it over the network), none of listen's.
 */
static void
check_metrics(config_t *cfg, struct msgd_conf *c, struct conf_errs *e)
{
	config_setting_t	*s;
	struct net_addr		 a, l;
	char			 cause[256];
	int			 i;

	if (c->metrics_listen[0] == '\0' ||
	    (s = config_lookup(cfg, "metrics_listen")) == NULL)
		return;
	if (net_parse_addr(c->metrics_listen, &a, cause, sizeof(cause)) ==
	    -1) {
		conf_err(e, s, "metrics_listen", "%s", cause);
		return;
	}
	if (net_is_unix(&a)) {
		conf_err(e, s, "metrics_listen", "must be a TCP address "
		    "(host:port or [v6]:port), got %s", c->metrics_listen);
		return;
	}
	for (i = 0; i < c->nlisten; i++)
		if (net_parse_addr(c->listen[i], &l, cause, sizeof(cause)) ==
		    0 && l.sslen == a.sslen && memcmp(&l.ss, &a.ss,
		    a.sslen) == 0)
			conf_err(e, s, "metrics_listen", "%s is also a listen "
			    "address", c->metrics_listen);
}

/* Rules between settings, checked once each value is valid on its own. */
static void
check_relations(config_t *cfg, struct msgd_conf *c, struct conf_errs *e)
{
	const struct conf_item	*wt = conf_item_find(conf_table,
				    "worker_timeout");
	config_setting_t	*s;

	if (c->worker_timeout_ms > 0 && c->worker_timeout_ms < 3000 &&
	    (s = config_lookup(cfg, "worker_timeout")) != NULL)
		/* Workers beat once a second; less would kill healthy ones. */
		conf_err(e, s, "worker_timeout", "must be 0 (off) or 3..%g "
		    "seconds, got %g", (double)wt->max / 1000.0,
		    (double)c->worker_timeout_ms / 1000.0);
	if (c->log_target == LOG_TO_FILE && c->log_file[0] == '\0' &&
	    (s = config_lookup(cfg, "log.target")) != NULL)
		conf_err(e, s, "log.target", "\"file\" needs log.file");
	if ((s = config_lookup(cfg, "auth_token")) != NULL &&
	    config_setting_type(s) == CONFIG_TYPE_STRING &&
	    config_setting_get_string(s)[0] != '\0' &&
	    (s = config_lookup(cfg, "auth_token_file")) != NULL &&
	    c->auth_token_file[0] != '\0')
		conf_err(e, s, "auth_token_file", "set auth_token or "
		    "auth_token_file, not both");
	if (c->files_max_size > c->max_body &&
	    (s = config_lookup(cfg, "files.max_size")) != NULL)
		conf_err(e, s, "files.max_size", "must be at most max_body "
		    "(%u), got %u", c->max_body, c->files_max_size);
	if (c->files_max_size > c->max_body)
		c->files_max_size = c->max_body;
	check_budget(cfg, c, e);
	check_tls(cfg, c, e);
	/* Trusting every address would let any client say who it is. */
	if (c->nproxy > 0 && c->nproxy_trusted == 0 &&
	    (s = config_lookup(cfg, "listen")) != NULL)
		conf_err(e, s, "listen", "a \"proxy:\" listener needs "
		    "proxy_trusted, the balancers' address blocks like "
		    "[ \"10.0.0.5/32\" ]");
	check_metrics(cfg, c, e);
	/* The master keeps both kinds in one table (gen.ls). */
	if (c->nlisten + c->nudp > CONF_LISTEN_MAX &&
	    (s = config_lookup(cfg, "udp_listen")) != NULL)
		conf_err(e, s, "udp_listen", "listen and udp_listen take at "
		    "most %d addresses together, got %d + %d",
		    CONF_LISTEN_MAX, c->nlisten, c->nudp);
	if (c->workers <= c->max_workers)
		return;
	if ((s = config_lookup(cfg, "workers")) != NULL &&
	    config_setting_type(s) != CONFIG_TYPE_STRING) {
		conf_err(e, s, "workers", "must be at most max_workers (%d), "
		    "got %d", c->max_workers, c->workers);
		return;
	}
	/* "auto" on a machine with more CPUs than max_workers: cap it. */
	c->workers = c->max_workers;
}

/*
 * libconfig before 1.7 reads an integer above 2^31-1 written without an L
 * suffix as a 32-bit value, silently: "output_limit = 5000000000;" would
 * load as 705032704.  Scan the text first (skipping strings and comments)
 * and refuse such numbers with their line.  Returns the number found.
 */
static int
prescan_ints(const char *path, struct conf_errs *e)
{
	FILE		*fp;
	char		 num[32];
	unsigned long long v;
	int		 ch, next = 0, line = 1, n, found = 0, prev = ' ';

	if ((fp = fopen(path, "re")) == NULL)
		return (0);
	while ((ch = getc(fp)) != EOF) {
		if (ch == '\n')
			line++;
		if (ch == '"') {		/* a string, with escapes */
			while ((ch = getc(fp)) != EOF && ch != '"') {
				if (ch == '\\')
					ch = getc(fp);
				if (ch == '\n')
					line++;
			}
		} else if (ch == '#' || (ch == '/' && (next = getc(fp)) == '/')) {
			while ((ch = getc(fp)) != EOF && ch != '\n')
				;
			line++;
		} else if (ch == '/' && next == '*') {
			for (prev = ' '; (ch = getc(fp)) != EOF; prev = ch) {
				if (ch == '\n')
					line++;
				if (prev == '*' && ch == '/')
					break;
			}
		} else if (ch >= '0' && ch <= '9' && !((prev >= 'a' &&
		    prev <= 'z') || (prev >= 'A' && prev <= 'Z') ||
		    prev == '_' || prev == '.' || (prev >= '0' && prev <= '9'))) {
			n = 0;
			do {
				if (n < (int)sizeof(num) - 1)
					num[n++] = (char)ch;
			} while ((ch = getc(fp)) != EOF && ((ch >= '0' &&
			    ch <= '9') || ch == 'x' || ch == 'X' ||
			    (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')));
			num[n] = '\0';
			if (ch == '.' || ch == 'e' || ch == 'E' || ch == 'L')
				goto next_char;	/* float, or already 64-bit */
			errno = 0;
			v = strtoull(num, NULL, 0);
			if (errno == ERANGE || v > 2147483647ULL) {
				found++;
				e->count++;
				if (e->buf != NULL && e->used < e->len)
					e->used += (size_t)snprintf(e->buf +
					    e->used, e->len - e->used, "%s:%d: "
					    "integer %s is above 2147483647: "
					    "write it as %sL (libconfig reads it "
					    "wrongly otherwise)\n", path, line,
					    num, num);
				if (e->used > e->len)
					e->used = e->len;
			}
next_char:
			if (ch == '\n')
				line++;
		}
		prev = ch;
	}
	fclose(fp);
	return (found);
}

#define INCLUDE_DEPTH	10	/* libconfig's own limit */
#define CONF_FILES_MAX	64	/* files one load or check may read */
#define CONF_FILES_STR	"64"

/*
 * The file name of an @include as libconfig 1.5's scanner reads it: after
 * the opening quote up to the closing one, newlines included; \\ and \"
 * stand for \ and ", another backslash is dropped, a NUL ends the run of
 * bytes it is in.  Returns the byte after the closing quote, or NULL (no
 * closing quote, or a name too long to be a path).
 */
static const char *
include_name(const char *p, const char *end, char *name, size_t size)
{
	size_t	n = 0, run, k;

	while (p < end && *p != '"') {
		if (*p == '\\') {
			if (p + 1 < end && (p[1] == '\\' || p[1] == '"')) {
				if (n + 1 >= size)
					return (NULL);
				name[n++] = p[1];
				p++;
			}
			p++;
			continue;
		}
		for (run = 0; p + run < end && p[run] != '"' &&
		    p[run] != '\\'; run++)
			;
		/* The scanner appends the run as a C string. */
		k = strnlen(p, run);
		if (n + k >= size)
			return (NULL);
		memcpy(name + n, p, k);
		n += k;
		p += run;
	}
	name[n] = '\0';
	return (p < end ? p + 1 : NULL);
}

/* The whole of a file, NUL-terminated (*lenp bytes before it), or NULL. */
static char *
read_all(const char *path, size_t *lenp)
{
	FILE	*fp;
	char	*buf = NULL, *nb;
	size_t	 len = 0, cap = 0, n;

	if ((fp = fopen(path, "re")) == NULL)
		return (NULL);
	for (;;) {
		if (cap - len < 4096) {
			if (cap > (64U << 20) || (nb = realloc(buf, cap * 2 +
			    4097)) == NULL) {
				free(buf);
				fclose(fp);
				return (NULL);
			}
			buf = nb;
			cap = cap * 2 + 4096;
		}
		if ((n = fread(buf + len, 1, cap - len, fp)) == 0)
			break;
		len += n;
	}
	fclose(fp);
	buf[len] = '\0';
	*lenp = len;
	return (buf);
}

/*
 * libconfig reads an @include'd file as it finds it, and its scanner calls
 * exit() when a read fails: "@include" of a directory made msgd -t, and a
 * reload in the master, exit.  Before libconfig reads anything, every
 * @include at the start of a line (recursively, relative to the working
 * directory as libconfig resolves them) must name a regular file if it
 * names anything at all (a missing one is libconfig's error).  A file that
 * includes itself several times would take this walk k^10 reads
 * (fuzz_config found it): *left bounds the files read, and more are
 * refused.  Returns the errors found.
 */
static int
check_includes(const char *path, int depth, int *left, struct conf_errs *e)
{
	struct stat	 st;
	char		*text, *p, *end, name[PATH_MAX];
	const char	*next;
	size_t		 len;
	int		 line, n = 1, found = 0;

	/* A pipe (msgd -t -c /dev/stdin) can be read once: libconfig's. */
	if (stat(path, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (text = read_all(path, &len)) == NULL)
		return (0);
	end = text + len;
	for (p = text; p < end && *left >= 0; p++, n++) {
		line = n;
		p += strspn(p, " \t");
		next = NULL;
		if (strncmp(p, "@include", 8) == 0 && (p[8] == ' ' ||
		    p[8] == '\t')) {
			p += 8 + strspn(p + 8, " \t");
			if (*p == '"')
				next = include_name(p + 1, end, name,
				    sizeof(name));
		}
		/* Past the name, which may span lines. */
		for (; next != NULL && p < next; p++)
			if (*p == '\n')
				n++;
		if (next == NULL || stat(name, &st) == -1 ||
		    (S_ISREG(st.st_mode) && depth + 1 >= INCLUDE_DEPTH))
			;	/* missing, or too deep: libconfig's error */
		else if (S_ISREG(st.st_mode) && (*left)-- > 0)
			found += check_includes(name, depth + 1, left, e);
		else {
			found++;
			e->count++;
			if (e->buf != NULL && e->used < e->len)
				e->used += (size_t)snprintf(e->buf + e->used,
				    e->len - e->used, "%s:%d: @include \"%s\": "
				    "%s\n", path, line, name,
				    S_ISREG(st.st_mode) ? "more than "
				    CONF_FILES_STR " files included" :
				    "not a regular file");
		}
		if ((p = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
	}
	free(text);
	return (found);
}

/*
 * Collect the distinct files the settings under s came from: the main file
 * and every file @include brought in (libconfig names them as it opened
 * them).  Each integer is a setting, so every file holding one is found.
 */
static void
collect_files(const config_setting_t *s, const char **files, int *n)
{
	const char	*f;
	int		 i, len;

	if ((f = config_setting_source_file(s)) != NULL) {
		for (i = 0; i < *n; i++)
			if (strcmp(files[i], f) == 0)
				break;
		if (i == *n && *n < CONF_FILES_MAX)
			files[(*n)++] = f;
	}
	if (!config_setting_is_aggregate(s))
		return;
	len = config_setting_length(s);
	for (i = 0; i < len; i++)
		collect_files(config_setting_get_elem(s, (unsigned int)i),
		    files, n);
}

/*
 * The pre-scan of every file read: the main one and each @include'd one
 * (an included file is no less able to hold a misread number), each
 * error with its own file and line.  Returns the number of errors.
 */
static int
prescan_files(config_t *cfg, const char *path, struct conf_errs *e)
{
	const char	*files[CONF_FILES_MAX];
	int		 i, n = 0, found;

	found = prescan_ints(path, e);
	collect_files(config_root_setting(cfg), files, &n);
	for (i = 0; i < n; i++)
		if (strcmp(files[i], path) != 0)
			found += prescan_ints(files[i], e);
	return (found);
}

/*
 * Load path into c (defaults first, then the file).  Returns 0, or -1 with
 * every problem found written to errbuf, one per line.  On error *c is left
 * in an unspecified state: callers keep their previous configuration.
 */
int
conf_load(const char *path, struct msgd_conf *c, char *errbuf, size_t errlen)
{
	return (conf_load_flags(path, c, errbuf, errlen, 0));
}

/* conf_load with flags (CONF_NO_SECRETS). */
int
conf_load_flags(const char *path, struct msgd_conf *c, char *errbuf,
    size_t errlen, int flags)
{
	config_t		cfg;
	struct conf_errs	e;
	struct net_addr		a;
	FILE			*fp;
	char			cause[256];
	int			 ret = -1, i, left;

	e.buf = errbuf;
	e.len = errlen;
	e.used = 0;
	e.count = 0;
	if (errlen > 0)
		errbuf[0] = '\0';

	conf_flags = flags;
	conf_defaults(c);
	if (strlen(path) >= sizeof(c->path)) {
		snprintf(errbuf, errlen, "%s: path too long\n", path);
		return (-1);
	}
	snprintf(c->path, sizeof(c->path), "%s", path);

	/* Open it first so a missing file is reported with its errno. */
	if ((fp = fopen(path, "re")) == NULL) {
		snprintf(errbuf, errlen, "%s: %s\n", path, strerror(errno));
		return (-1);
	}
	fclose(fp);
	config_init(&cfg);
	left = CONF_FILES_MAX;
	if (check_includes(path, 0, &left, &e) > 0)
		goto done;
	if (config_read_file(&cfg, path) != CONFIG_TRUE) {
		snprintf(errbuf, errlen, "%s:%d: %s\n",
		    config_error_file(&cfg) ? config_error_file(&cfg) : path,
		    config_error_line(&cfg), config_error_text(&cfg));
		goto done;
	}
	if (prescan_files(&cfg, path, &e) > 0)
		goto done;
	load_group(c, conf_table, config_root_setting(&cfg), "", &e);
	check_relations(&cfg, c, &e);
	absolutize(c->stats_file, sizeof(c->stats_file), "", &e, "stats_file");
	absolutize(c->pidfile, sizeof(c->pidfile), "", &e, "pidfile");
	absolutize(c->log_file, sizeof(c->log_file), "", &e, "log.file");
	absolutize(c->files_dir, sizeof(c->files_dir), "", &e, "files.dir");
	for (i = 0; i < c->nlisten; i++) {
		absolutize(c->listen[i], sizeof(c->listen[i]), "unix:", &e,
		    "listen");
		/* Made absolute, a socket path may no longer fit sun_path. */
		if (net_parse_addr(c->listen[i], &a, cause,
		    sizeof(cause)) == -1) {
			e.count++;
			if (e.buf != NULL && e.used < e.len)
				e.used += (size_t)snprintf(e.buf + e.used,
				    e.len - e.used, "listen: %s\n", cause);
		}
	}
	if (e.count == 0)
		ret = 0;
done:
	config_destroy(&cfg);
	return (ret);
}

/*
 * fuzz_config.c: libFuzzer target for the configuration loader, text to
 * validated config (conf_load, src/config.c).
 *
 * The input is a whole msgd.conf.  conf_load() takes a path, so the input
 * is written to "fuzz.conf" in a private sandbox directory made at the
 * first call, and loaded from there with that directory as the working
 * directory.  The sandbox also holds fixed files an input can name:
 * inc.conf, big.conf and sub/inc.conf for @include, token, token-open and
 * token-short for auth_token_file.
 *
 * Determinism: an input may name any path (@include "/etc/...",
 * auth_token_file = "/root/..."), and what the host holds there must not
 * steer the run.  While the loader runs, this program's fopen(), open(),
 * openat() and stat() (libconfig, a shared library, calls them too: the
 * executable's definitions win) refuse every path outside the sandbox with
 * EACCES:
 * relative paths without "..", and absolute ones below the sandbox (a
 * relative path made absolute) only.  The sandbox has a fixed-length name,
 * so even error texts that quote the working directory have the same
 * lengths from run to run.
 *
 * Checked: an accepted configuration keeps every documented rule
 * (ranges, relations, absolute paths, parseable addresses, a consistent
 * command pool); a refused one says why, in a NUL-terminated buffer of
 * any size.
 *
 * Build and run: make fuzz && ./tests/fuzz/fuzz_config corpus-dir
 */
#include <sys/stat.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "log.h"
#include "net.h"
#include "util.h"

const char	*__lsan_default_suppressions(void);

/*
 * libconfig 1.5's scanner leaks the strings it was building or had built
 * when the parser stops at a syntax error (its strbuf, an empty string
 * token: tests/fuzz/config/leak-libconfig-*).  Not ours to fix, and not a
 * leak msgd can grow: a few bytes per refused load.  Read by
 * LeakSanitizer (clang and gcc) when the target runs under it.
 */
const char *
__lsan_default_suppressions(void)
{
	return ("leak:strbuf_append\nleak:libconfig_yylex\n");
}

static char	sandbox[64];	/* absolute, no trailing '/' */
static int	sandbox_fd = -1;
static int	sandbox_on;	/* refuse paths outside it */

/* May the loader open path now? */
static int
path_allowed(const char *path)
{
	size_t		 n = strlen(sandbox);
	const char	*p;

	if (!sandbox_on)
		return (1);
	if (path == NULL)
		return (0);
	if (path[0] == '/') {
		if (strncmp(path, sandbox, n) != 0 || path[n] != '/')
			return (0);
		path += n + 1;
	}
	/* No ".." component anywhere. */
	for (p = path; *p != '\0'; p++)
		if (p[0] == '.' && p[1] == '.' && (p == path || p[-1] == '/') &&
		    (p[2] == '/' || p[2] == '\0'))
			return (0);
	return (1);
}

/* The libc function this program's definition hides. */
static void *
real(const char *name)
{
	void	*f;

	if ((f = dlsym(RTLD_NEXT, name)) == NULL)
		abort();
	return (f);
}

/* fopen() or fopen64() (*f, found by name), only inside the sandbox. */
static FILE *
sandbox_fopen(FILE *(**f)(const char *, const char *), const char *name,
    const char *path, const char *mode)
{
	if (!path_allowed(path)) {
		errno = EACCES;
		return (NULL);
	}
	if (*f == NULL)
		*f = real(name);
	return ((*f)(path, mode));
}

FILE *
fopen(const char *restrict path, const char *restrict mode)
{
	static FILE	*(*f)(const char *, const char *);

	return (sandbox_fopen(&f, "fopen", path, mode));
}

FILE *
fopen64(const char *restrict path, const char *restrict mode)
{
	static FILE	*(*f)(const char *, const char *);

	return (sandbox_fopen(&f, "fopen64", path, mode));
}

/* open() and openat(): only inside the sandbox. */
static int
sandbox_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	static int	(*f)(int, const char *, int, ...);

	/* Relative to a descriptor: only the sandbox's own. */
	if (!path_allowed(path) || (sandbox_on && path[0] != '/' &&
	    dirfd != AT_FDCWD && dirfd != sandbox_fd)) {
		errno = EACCES;
		return (-1);
	}
	if (f == NULL)
		f = real("openat");
	return (f(dirfd, path, flags, mode));
}

/* The mode argument of an open that creates. */
#define OPEN_MODE(flags, mode) do {					\
	va_list	ap_;							\
	if ((flags) & (O_CREAT | O_TMPFILE)) {				\
		va_start(ap_, flags);					\
		(mode) = (mode_t)va_arg(ap_, int);			\
		va_end(ap_);						\
	}								\
} while (0)

int
open(const char *path, int flags, ...)
{
	mode_t	mode = 0;

	OPEN_MODE(flags, mode);
	return (sandbox_openat(AT_FDCWD, path, flags, mode));
}

int
openat(int dirfd, const char *path, int flags, ...)
{
	mode_t	mode = 0;

	OPEN_MODE(flags, mode);
	return (sandbox_openat(dirfd, path, flags, mode));
}

int
stat(const char *restrict path, struct stat *restrict st)
{
	static int	(*f)(const char *restrict, struct stat *restrict);

	if (!path_allowed(path)) {
		errno = EACCES;
		return (-1);
	}
	if (f == NULL)
		f = real("stat");
	return (f(path, st));
}

static void
put_file(const char *name, const char *text, mode_t mode)
{
	char	path[128];
	int	fd;

	snprintf(path, sizeof(path), "%s/%s", sandbox, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    mode)) == -1 || write_full(fd, text, strlen(text)) == -1 ||
	    fchmod(fd, mode) == -1) {
		perror(path);
		abort();
	}
	close(fd);
}

static const char *const fixtures[] = {
	"fuzz.conf", "inc.conf", "big.conf", "sub/inc.conf", "token",
	"token-open", "token-short", NULL
};

static void
sandbox_remove(void)
{
	char	path[128];
	int	i;

	sandbox_on = 0;
	for (i = 0; fixtures[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/%s", sandbox, fixtures[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/sub", sandbox);
	rmdir(path);
	rmdir(sandbox);
}

/* The sandbox directory and its fixed files, once. */
static void
sandbox_init(void)
{
	char	path[128];

	snprintf(sandbox, sizeof(sandbox), "/tmp/msgd-fuzz-config.XXXXXX");
	if (mkdtemp(sandbox) == NULL) {
		perror("mkdtemp");
		abort();
	}
	snprintf(path, sizeof(path), "%s/sub", sandbox);
	if (mkdir(path, 0700) == -1 ||
	    (sandbox_fd = open(sandbox, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		perror(sandbox);
		abort();
	}
	atexit(sandbox_remove);
	put_file("inc.conf", "max_body = 65536;\n"
	    "files = { max_size = 1024; };\n", 0644);
	put_file("big.conf", "# above 2^31-1 in an included file\n"
	    "max_body = 4294967312;\n", 0644);
	put_file("sub/inc.conf", "@include \"inc.conf\"\nworkers = 2;\n",
	    0644);
	put_file("token", "fuzz-token-0123456789\nsecond line\n", 0600);
	put_file("token-open", "fuzz-token-0123456789\n", 0644);
	put_file("token-short", "short\n", 0600);
}

static int
terminated(const char *s, size_t size)
{
	return (memchr(s, '\0', size) != NULL);
}

static int
absolute_or_empty(const char *s, size_t size)
{
	return (terminated(s, size) && (s[0] == '\0' || s[0] == '/'));
}

/* An accepted configuration obeys every rule msgd.conf(5) states. */
static void
check_conf(const struct msgd_conf *c)
{
	struct net_addr		 a;
	const struct conf_cmd	*cc;
	const char		*name;
	char			 cause[256];
	int			 i, j, n = 0;

	CHECK(c->nlisten >= 1 && c->nlisten <= CONF_LISTEN_MAX);
	for (i = 0; i < c->nlisten; i++) {
		CHECK(terminated(c->listen[i], CONF_ADDR_MAX));
		/* What was checked is what msgd will bind. */
		CHECK(net_parse_addr(c->listen[i], &a, cause,
		    sizeof(cause)) == 0);
		if (strncmp(c->listen[i], "unix:", 5) == 0)
			CHECK(c->listen[i][5] == '/');
		for (j = 0; j < i; j++)
			CHECK(strcmp(c->listen[i], c->listen[j]) != 0);
		/* Prefixes are stripped; PROXY and TLS need TCP. */
		CHECK(c->listen_proxy[i] == 0 || c->listen_proxy[i] == 1);
		CHECK(c->listen_tls[i] == 0 || c->listen_tls[i] == 1);
		if (c->listen_proxy[i] || c->listen_tls[i])
			CHECK(!net_is_unix(&a));
		n += c->listen_proxy[i];
	}
	CHECK(n == c->nproxy);
	/* A PROXY listener never trusts everyone. */
	CHECK(c->nproxy == 0 || c->nproxy_trusted > 0);
	CHECK(c->nproxy_trusted >= 0 && c->nproxy_trusted <= CONF_ALLOW_MAX);
	for (i = 0; i < c->nproxy_trusted; i++)
		CHECK(c->proxy_trusted[i].prefix <=
		    (c->proxy_trusted[i].family == AF_INET ? 32 : 128));
	CHECK(c->nudp >= 0 && c->nudp <= CONF_LISTEN_MAX);
	for (i = 0; i < c->nudp; i++) {
		CHECK(terminated(c->udp_listen[i], CONF_ADDR_MAX));
		CHECK(net_parse_addr(c->udp_listen[i], &a, cause,
		    sizeof(cause)) == 0);
		CHECK(!net_is_unix(&a));
	}
	CHECK(c->workers >= 1 && c->workers <= c->max_workers);
	CHECK(c->max_workers >= 1 && c->max_workers <= 1024);
	CHECK(c->backlog >= 1 && c->backlog <= 65535);
	CHECK(c->max_body >= 16 && c->max_body <= 1073741824);
	CHECK(c->output_limit >= 4096 && c->output_limit <= 1073741824);
	CHECK(c->files_max_size <= c->max_body);
	CHECK(c->files_max_count >= 1);
	CHECK(c->worker_timeout_ms == 0 || c->worker_timeout_ms >= 3000);
	CHECK(c->read_timeout_ms >= 100);
	CHECK(c->log_level == LOG_LVL_ERR || c->log_level == LOG_LVL_WARN ||
	    c->log_level == LOG_LVL_INFO || c->log_level == LOG_LVL_DEBUG);
	CHECK(c->log_target != LOG_TO_FILE || c->log_file[0] != '\0');
	CHECK(absolute_or_empty(c->stats_file, sizeof(c->stats_file)));
	CHECK(absolute_or_empty(c->pidfile, sizeof(c->pidfile)));
	CHECK(absolute_or_empty(c->log_file, sizeof(c->log_file)));
	CHECK(absolute_or_empty(c->files_dir, sizeof(c->files_dir)));
	CHECK(absolute_or_empty(c->auth_token_file,
	    sizeof(c->auth_token_file)));
	CHECK(terminated(c->user, sizeof(c->user)));
	CHECK(terminated(c->group, sizeof(c->group)));
	CHECK(c->exec_max_running >= 1 && c->exec_max_running <= 64);
	CHECK(c->nallow >= 0 && c->nallow <= CONF_ALLOW_MAX);
	for (i = 0; i < c->nallow; i++)
		CHECK(c->allow[i].prefix <= (c->allow[i].family == AF_INET ?
		    32 : 128));

	/* The command pool: every string inside it, every name found. */
	CHECK(c->exec_pool_used <= sizeof(c->exec_pool));
	CHECK(c->nexec_cmds >= 0 && c->nexec_cmds <= CONF_CMDS_MAX);
	for (i = 0; i < c->nexec_cmds; i++) {
		cc = &c->exec_cmds[i];
		CHECK(cc->argc >= 1 && cc->argc <= CONF_CMD_ARGS);
		CHECK(cc->name < c->exec_pool_used);
		name = conf_str(c, cc->name);
		CHECK(terminated(name, c->exec_pool_used - cc->name));
		CHECK(name[0] != '\0');
		CHECK(conf_cmd_find(c, name, strlen(name)) == cc);
		for (j = 0; j < cc->argc; j++) {
			CHECK(cc->argv[j] < c->exec_pool_used);
			CHECK(terminated(conf_str(c, cc->argv[j]),
			    c->exec_pool_used - cc->argv[j]));
		}
		CHECK(conf_str(c, cc->argv[0])[0] == '/');
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct msgd_conf	 c, c2;
	char			 errs[CONF_ERRORS_MAX], small[23];
	char			 path[128];
	int			 fd, cwd, rc, rc2;

	if (sandbox_fd == -1)
		sandbox_init();
	snprintf(path, sizeof(path), "%s/fuzz.conf", sandbox);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1 || write_full(fd, data, size) == -1) {
		perror(path);
		abort();
	}
	close(fd);
	if ((cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fchdir(sandbox_fd) == -1)
		abort();

	sandbox_on = 1;
	memset(errs, 0x5a, sizeof(errs));
	rc = conf_load("fuzz.conf", &c, errs, sizeof(errs));
	CHECK(rc == 0 || rc == -1);
	CHECK(terminated(errs, sizeof(errs)));
	if (rc == 0) {
		CHECK(errs[0] == '\0');
		check_conf(&c);
	} else
		CHECK(errs[0] != '\0');

	/* A client's load (no secrets read) into a tiny error buffer. */
	memset(small, 0x5a, sizeof(small));
	rc2 = conf_load_flags("fuzz.conf", &c2, small, sizeof(small),
	    CONF_NO_SECRETS);
	CHECK(terminated(small, sizeof(small)));
	if (rc == 0) {
		CHECK(rc2 == 0);
		CHECK(c2.auth_set == c.auth_set);
		check_conf(&c2);
	}
	/* And with no error buffer at all. */
	CHECK(conf_load_flags("fuzz.conf", &c2, NULL, 0, 0) == rc);
	sandbox_on = 0;

	if (fchdir(cwd) == -1)
		abort();
	close(cwd);
	return (0);
}

/*
 * msgd.c: the daemon's main(): options, configuration, then the master.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "master.h"
#include "priv.h"
#include "tls.h"
#include "util.h"

#ifndef MSGD_CONF_PATH
#define MSGD_CONF_PATH	"/etc/msgd/msgd.conf"
#endif

#define EXIT_USAGE	2

/* The upgrade tests build a second binary with another release. */
#ifndef MSGD_RELEASE
#define MSGD_RELEASE	PACKAGE_VERSION
#endif

/* Read from the file by release_of_file(): msgctl status, on disk. */
__attribute__((used)) static const char release_ident[] = RELEASE_MARK
    MSGD_RELEASE;

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: msgd [-ftVh] [-c file]\n"
	    "  -c file        configuration file (default %s)\n"
	    "  -f             stay in the foreground, log to stderr\n"
	    "  -t             check the configuration and exit\n"
	    "  -V, --version  print the version and exit\n"
	    "  -h, --help     print this help and exit\n", MSGD_CONF_PATH);
}

/*
 * The command line into *path, *foreground and *test.  Returns -1 to go
 * on, else the exit status (-h and -V are done, or a usage error).
 */
static int
options(int argc, char *argv[], const char **path, int *foreground,
    int *test)
{
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL,	'h' },
		{ "version",	no_argument,	NULL,	'V' },
		{ NULL,		0,		NULL,	0 }
	};
	int	ch;

	while ((ch = getopt_long(argc, argv, "c:fhtV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			*path = optarg;
			break;
		case 'f':
			*foreground = 1;
			break;
		case 'h':
			usage(stdout);
			return (0);
		case 't':
			*test = 1;
			break;
		case 'V':
			printf("msgd %s\n", msgd_release);
			return (0);
		default:
			usage(stderr);
			return (EXIT_USAGE);
		}
	}
	if (optind != argc) {
		usage(stderr);
		return (EXIT_USAGE);
	}
	return (-1);
}

/*
 * -t, after the file itself loaded: also check what start-up would, the
 * workers' user, the directories of the pidfile and the stats file.
 * Returns the exit status.
 */
static int
check_conf(const struct msgd_conf *conf, const char *path)
{
	struct priv	 p;
	struct tls_ctx	*t;
	char		 cause[1024], warn[1024];

	if (priv_resolve(conf->user, conf->group, conf->allow_root, &p,
	    cause, sizeof(cause)) == -1 ||
	    master_check_dirs(conf, &p, cause, sizeof(cause)) == -1) {
		fprintf(stderr, "%s: %s\n", path, cause);
		fprintf(stderr, "%s: configuration has errors\n", path);
		return (1);
	}
	/* The certificate and key: they load, match, and have not expired. */
	if (tls_wanted(conf)) {
		if ((t = tls_new(conf, cause, sizeof(cause), warn,
		    sizeof(warn))) == NULL) {
			fprintf(stderr, "%s\n", cause);
			fprintf(stderr, "%s: configuration has errors\n", path);
			return (1);
		}
		if (warn[0] != '\0')
			fprintf(stderr, "warning: %s\n", warn);
		tls_free(t);
	}
	printf("%s: configuration OK\n", path);
	return (0);
}

/*
 * Switch the log to the configured target.  Without -f msgd detaches and
 * stderr goes nowhere, so "stderr" means syslog then.  Errors before
 * detaching still reach the terminal (log_setstderr).
 */
static int
log_start(const struct msgd_conf *conf, int foreground)
{
	struct priv	p;
	char		cause[512];
	int		target;

	target = conf->log_target;
	if (!foreground && target == LOG_TO_STDERR)
		target = LOG_TO_SYSLOG;
	if (target == LOG_TO_FILE && (priv_resolve(conf->user, conf->group,
	    conf->allow_root, &p, cause, sizeof(cause)) == -1 ||
	    master_log_open(conf, &p, cause, sizeof(cause)) == -1)) {
		fprintf(stderr, "msgd: %s\n", cause);
		return (-1);
	}
	log_init("msgd", target, conf->log_level);
	if (!foreground && target == LOG_TO_SYSLOG)
		log_setstderr(1);
	return (0);
}

/*
 * The binary a binary upgrade runs: the path msgd was started as, made
 * absolute (the daemon changes to /), symlinks not resolved, so that a
 * package's new file at that path is the one run, not the old file
 * /proc/self/exe still names.  "" when it cannot be told.
 */
static void
exe_path(const char *argv0, char *out, size_t len)
{
	char		 cwd[PATH_MAX], dir[PATH_MAX];
	const char	*path, *p, *colon;
	size_t		 n;

	out[0] = '\0';
	if (argv0 == NULL || *argv0 == '\0')
		return;
	if (argv0[0] == '/')
		snprintf(out, len, "%s", argv0);
	else if (strchr(argv0, '/') != NULL) {
		while (strncmp(argv0, "./", 2) == 0)
			argv0 += 2;
		if (getcwd(cwd, sizeof(cwd)) != NULL &&
		    (size_t)snprintf(out, len, "%s/%s", cwd, argv0) >= len)
			out[0] = '\0';
	} else {
		/* Found in $PATH, as the shell did. */
		path = getenv("PATH");
		for (p = path; p != NULL && *p != '\0'; p = colon + 1) {
			colon = strchr(p, ':');
			n = colon != NULL ? (size_t)(colon - p) : strlen(p);
			if (n > 0 && n < sizeof(dir) && p[0] == '/') {
				memcpy(dir, p, n);
				dir[n] = '\0';
				if ((size_t)snprintf(out, len, "%s/%s", dir,
				    argv0) < len && access(out, X_OK) == 0)
					return;
			}
			out[0] = '\0';
			if (colon == NULL)
				break;
		}
	}
}

int
main(int argc, char *argv[])
{
	struct msgd_conf	*conf;
	const char		*path = MSGD_CONF_PATH;
	char			 errs[CONF_ERRORS_MAX], abspath[PATH_MAX];
	char			 exe[PATH_MAX];
	int			 foreground = 0, test = 0, rc;

	msgd_release = MSGD_RELEASE;
	/* Before proctitle_init, which may move argv[0]. */
	exe_path(argv[0], exe, sizeof(exe));
	proctitle_init(argc, argv);
	log_init("msgd", LOG_TO_STDERR, LOG_LVL_INFO);
	if ((rc = options(argc, argv, &path, &foreground, &test)) != -1)
		return (rc);

	if ((conf = malloc(sizeof(*conf))) == NULL) {
		perror("msgd");
		return (1);
	}
	/* Absolute: the daemon changes to / and re-reads it on reload. */
	if (realpath(path, abspath) != NULL)
		path = abspath;
	if (conf_load(path, conf, errs, sizeof(errs)) == -1) {
		fputs(errs, stderr);
		if (test)
			fprintf(stderr, "%s: configuration has errors\n", path);
		free(conf);
		return (1);
	}
	if (test) {
		rc = check_conf(conf, path);
		free(conf);
		return (rc);
	}
	if (log_start(conf, foreground) == -1) {
		free(conf);
		return (1);
	}
	log_info("msgd %s starting with %s", msgd_release, path);
	return (master_main(conf, !foreground, exe));
}

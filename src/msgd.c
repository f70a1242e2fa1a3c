/*
 * msgd.c: the daemon's main(): options, configuration, then the master.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "master.h"
#include "util.h"

#ifndef MSGD_CONF_PATH
#define MSGD_CONF_PATH	"/etc/msgd/msgd.conf"
#endif

#define EXIT_USAGE	2

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: msgd [-ftVh] [-c file]\n"
	    "  -c file  configuration file (default %s)\n"
	    "  -f       stay in the foreground, log to stderr\n"
	    "  -t       check the configuration and exit\n"
	    "  -V       print the version and exit\n"
	    "  -h       print this help and exit\n", MSGD_CONF_PATH);
}

/* Detach from the terminal the classic way: fork, setsid, fork. */
static void
daemonize(void)
{
	pid_t	pid;
	int	fd;

	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid != 0)
		_exit(0);
	if (setsid() == -1)
		fatal("setsid");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid != 0)
		_exit(0);
	if (chdir("/") == -1)
		fatal("chdir /");
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		fatal("open /dev/null");
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

int
main(int argc, char *argv[])
{
	struct msgd_conf	 conf;
	const char		*path = MSGD_CONF_PATH;
	char			 errs[CONF_ERRORS_MAX];
	int			 ch, foreground = 0, test = 0;

	proctitle_init(argc, argv);
	log_init("msgd", LOG_TO_STDERR, LOG_LVL_INFO);
	while ((ch = getopt(argc, argv, "c:fhtV")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'h':
			usage(stdout);
			return (0);
		case 't':
			test = 1;
			break;
		case 'V':
			printf("msgd %s\n", PACKAGE_VERSION);
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

	if (conf_load(path, &conf, errs, sizeof(errs)) == -1) {
		fputs(errs, stderr);
		if (test)
			fprintf(stderr, "%s: configuration has errors\n", path);
		return (1);
	}
	if (test) {
		printf("%s: configuration OK\n", path);
		return (0);
	}

	if (!foreground) {
		daemonize();
		log_init("msgd", LOG_TO_SYSLOG, conf.log_level);
	} else
		log_init("msgd", conf.log_syslog ? LOG_TO_SYSLOG :
		    LOG_TO_STDERR, conf.log_level);
	log_info("msgd %s starting with %s", PACKAGE_VERSION, path);
	return (master_main(&conf));
}

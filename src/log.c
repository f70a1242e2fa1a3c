/*
 * log.c: logging for msgd and msgctl.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static enum log_target	 log_target = LOG_TO_STDERR;
static int		 log_level = LOG_LVL_INFO;
static char		 log_ident[32] = "msgd";
static char		 log_role[32] = "";
static int		 log_journal;	/* stderr goes to journald: "<N>" prefixes */
static int		 log_also_stderr; /* syslog target, not yet detached */
static char		 log_last[256];	/* the last warning or error */

static const struct {
	const char	*name;
	int		 level;
} log_levels[] = {
	{ "error",	LOG_LVL_ERR },
	{ "warning",	LOG_LVL_WARN },
	{ "info",	LOG_LVL_INFO },
	{ "debug",	LOG_LVL_DEBUG },
};

/* Set up logging once at start; syslog is opened here so later forks share it. */
void
log_init(const char *ident, enum log_target target, int level)
{
	snprintf(log_ident, sizeof(log_ident), "%s", ident);
	log_target = target;
	log_level = level;
	/* systemd sets JOURNAL_STREAM when stderr is connected to the journal. */
	log_journal = getenv("JOURNAL_STREAM") != NULL;
	if (target == LOG_TO_SYSLOG)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/* While starting in the background: copy warnings to the terminal too. */
void
log_setstderr(int on)
{
	log_also_stderr = on;
}

/* The last warning or error logged ("" if none): a failed start's why. */
const char *
log_last_warning(void)
{
	return (log_last);
}

void
log_setlevel(int level)
{
	log_level = level;
}

int
log_getlevel(void)
{
	return (log_level);
}

/*
 * Open the log file path for appending without trusting what is there:
 * never through a symlink (O_NOFOLLOW), and an existing file must be a
 * regular file with one link owned by us or by uid (the workers' user;
 * (uid_t)-1: none).  A file we create is given to uid:gid through its
 * descriptor; an existing one is never chowned here.  Returns the fd (*made
 * says whether we created it), or -1 with cause naming the path.
 */
int
log_file_open(const char *path, uid_t uid, gid_t gid, int *made, char *cause,
    size_t len)
{
	struct stat	st;
	int		fd, saved;

	*made = 1;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0640);
	if (fd == -1 && errno == EEXIST) {
		*made = 0;
		/* O_NONBLOCK: a FIFO planted there must not hang us. */
		fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK |
		    O_NOCTTY | O_CLOEXEC);
	}
	if (fd == -1) {
		saved = errno;
		if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
			snprintf(cause, len, "log file %s is a symbolic link: "
			    "refused", path);
		else if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
			snprintf(cause, len, "log file %s is not a regular "
			    "file: refused", path);
		else
			snprintf(cause, len, "log file %s: %s", path,
			    strerror(saved));
		errno = saved;
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		snprintf(cause, len, "log file %s: fstat: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		snprintf(cause, len, "log file %s is not a regular file with "
		    "one link: refused", path);
		errno = EINVAL;
		goto fail;
	}
	if (st.st_uid != geteuid() && (uid == (uid_t)-1 || st.st_uid != uid)) {
		snprintf(cause, len, "log file %s belongs to uid %u, not to "
		    "msgd's user: refused", path, (unsigned)st.st_uid);
		errno = EPERM;
		goto fail;
	}
	if (fcntl(fd, F_SETFL, O_APPEND) == -1 ||
	    (*made && uid != (uid_t)-1 && fchown(fd, uid, gid) == -1)) {
		snprintf(cause, len, "log file %s: %s", path, strerror(errno));
		goto fail;
	}
	return (fd);
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return (-1);
}

/* Make fd our stderr, so that anything a library prints lands there too. */
int
log_to_fd(int fd)
{
	if (fd != STDERR_FILENO) {
		if (dup2(fd, STDERR_FILENO) == -1) {
			close(fd);
			return (-1);
		}
		close(fd);
	}
	return (0);
}

/*
 * LOG_TO_FILE: (re)open path (a file of our own, see log_file_open) and
 * make it our stderr.  Workers call it on SIGUSR1 (log rotation).  Returns
 * 0 or -1 with errno set; stderr is unchanged then.
 */
int
log_reopen(const char *path)
{
	char	cause[256];
	int	fd, made;

	if ((fd = log_file_open(path, (uid_t)-1, (gid_t)-1, &made, cause,
	    sizeof(cause))) == -1)
		return (-1);
	return (log_to_fd(fd));
}

/* Name the role of this process; called right after fork. */
void
log_procname(const char *role)
{
	snprintf(log_role, sizeof(log_role), "%s", role);
}

/* Map a level name from the config to its number, -1 when unknown. */
int
log_level_parse(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
		if (strcmp(name, log_levels[i].name) == 0)
			return (log_levels[i].level);
	return (-1);
}

const char *
log_level_name(int level)
{
	size_t	i;

	for (i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
		if (log_levels[i].level == level)
			return (log_levels[i].name);
	return ("unknown");
}

/* Format one line and send it; errno is preserved for the caller. */
static void
vlog(int pri, const char *fmt, va_list ap, int with_errno)
{
	char	msg[1024];
	int	saved_errno = errno;
	size_t	len;

	if (pri > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		len = strlen(msg);
		snprintf(msg + len, sizeof(msg) - len, ": %s",
		    strerror(saved_errno));
	}
	if (pri <= LOG_LVL_WARN)
		snprintf(log_last, sizeof(log_last), "%s", msg);
	if (log_target == LOG_TO_SYSLOG) {
		if (log_role[0] != '\0')
			syslog(pri, "%s: %s", log_role, msg);
		else
			syslog(pri, "%s", msg);
		if (log_also_stderr && pri <= LOG_LVL_WARN)
			fprintf(stderr, "%s: %s\n", log_ident, msg);
	} else if (log_journal) {
		/* journald adds time and pid itself; "<N>" carries the level. */
		if (log_role[0] != '\0')
			fprintf(stderr, "<%d>%s: %s\n", pri, log_role, msg);
		else
			fprintf(stderr, "<%d>%s\n", pri, msg);
	} else if (log_target == LOG_TO_FILE) {
		/* A file has no journal to add the time. */
		struct timespec	ts;
		struct tm	tm;
		char		when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ %s[%ld]: %s%s%s\n", when,
		    ts.tv_nsec / 1000000, log_ident, (long)getpid(), log_role,
		    log_role[0] != '\0' ? ": " : "", msg);
	} else {
		if (log_role[0] != '\0')
			fprintf(stderr, "%s[%ld]: %s: %s\n", log_ident,
			    (long)getpid(), log_role, msg);
		else
			fprintf(stderr, "%s: %s\n", log_ident, msg);
	}
	errno = saved_errno;
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_WARN, fmt, ap, 1);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_WARN, fmt, ap, 0);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_INFO, fmt, ap, 0);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_DEBUG, fmt, ap, 0);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, fmt, ap, 1);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, fmt, ap, 0);
	va_end(ap);
	exit(1);
}

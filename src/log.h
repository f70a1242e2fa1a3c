/*
 * log.h: process-wide logging to stderr or syslog.
 *
 * Every line carries the process role ("master", "worker 3") so that the
 * interleaved output of a preforked pool stays readable.  fatal()/fatalx()
 * are for setup and impossible states only; the request path never calls them.
 */
#ifndef MSGD_LOG_H
#define MSGD_LOG_H

#include <sys/types.h>
#include <stdarg.h>

enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARN = 4,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7
};

enum log_target {
	LOG_TO_STDERR = 0,
	LOG_TO_SYSLOG,
	LOG_TO_FILE		/* stderr redirected to a file we reopen */
};

void	log_init(const char *ident, enum log_target, int level);
void	log_setlevel(int level);
void	log_setstderr(int);
int	log_getlevel(void);
const char *log_last_warning(void);
void	log_procname(const char *role);
int	log_reopen(const char *);
int	log_file_open(const char *, uid_t, gid_t, int *, char *, size_t);
int	log_to_fd(int);
int	log_level_parse(const char *name);
const char *log_level_name(int level);

void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif /* MSGD_LOG_H */

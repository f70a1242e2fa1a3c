/*
 * util.h: small helpers shared by every program: clocks, number parsing,
 * RFC 3339 time, full read/write loops, descriptor flags, process titles,
 * an answer's error text.
 */
#ifndef MSGD_UTIL_H
#define MSGD_UTIL_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define RFC3339_LEN	27	/* "2026-11-21T10:00:00.123456Z" */

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * The error text of a request's answer: msg is a constant or points into
 * buf, and both belong to the caller (the request's frame), never to a
 * static buffer of the function that wrote it, so no answer can carry
 * another request's text.
 */
#define ERRTEXT_LEN	160

struct errtext {
	const char	*msg;
	char		 buf[ERRTEXT_LEN];
};

/*
 * The release this program reports (msgd -V, the stats header): the
 * package's, unless main() says otherwise (the upgrade tests' second
 * binary).
 */
extern const char *msgd_release;

/*
 * A binary carries its release after this mark (msgd.c), so that the
 * release of a file on disk is known without running it.
 */
#define RELEASE_MARK	"@(#)msgd-release "
#define RELEASE_MAX	32

uint64_t mono_ms(void);
uint64_t mono_us(void);
uint64_t realtime_us(void);
int	 fmt_rfc3339(char *, size_t, const struct timespec *);
int	 parse_u64(const char *, uint64_t, uint64_t, uint64_t *,
	    const char **);
ssize_t	 read_full(int, void *, size_t);
ssize_t	 write_full(int, const void *, size_t);
int	 fd_nonblock(int);
int	 fd_cloexec(int);
int	 ncpus(void);
int	 cpu_nth(int, int *, int *);
void	 fork_prepare(void (*)(void));
pid_t	 fork_child(void);
void	 proctitle_init(int, char **);
void	 detach(void);
int	 release_of_file(const char *, char *, size_t);
void	 proctitle_set(const char *, ...) __attribute__((format(printf, 1, 2)));
const char *errtext_fmt(struct errtext *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

#endif /* MSGD_UTIL_H */

/*
 * priv.c: resolve and drop privileges.
 */
#include <sys/prctl.h>
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "priv.h"
#include "sandbox.h"

/*
 * Decide the workers' identity from the user and group settings.  Running
 * as root without a user is refused unless allow_root is set: a network
 * parser must not run with root's powers by accident.
 */
int
priv_resolve(const char *user, const char *group, int allow_root,
    struct priv *p, char *cause, size_t len)
{
	struct passwd	*pw;
	struct group	*gr;

	memset(p, 0, sizeof(*p));
	if (user[0] == '\0') {
		if (group[0] != '\0') {
			snprintf(cause, len, "group \"%s\" is set but user is "
			    "not", group);
			return (-1);
		}
		if (geteuid() == 0 && !allow_root) {
			snprintf(cause, len, "refusing to run workers as root: "
			    "set user (e.g. user = \"msgd\") or allow_root = "
			    "true");
			return (-1);
		}
		return (0);
	}
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(cause, len, "user \"%s\" does not exist", user);
		return (-1);
	}
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	if (group[0] != '\0') {
		if ((gr = getgrnam(group)) == NULL) {
			snprintf(cause, len, "group \"%s\" does not exist",
			    group);
			return (-1);
		}
		p->gid = gr->gr_gid;
	}
	if (p->uid == 0 && !allow_root) {
		snprintf(cause, len, "user \"%s\" is root: set another user or "
		    "allow_root = true", user);
		return (-1);
	}
	snprintf(p->user, sizeof(p->user), "%s", user);
	p->change = geteuid() != p->uid || getegid() != p->gid ||
	    geteuid() == 0;
	return (0);
}

/*
 * Become p for good: no supplementary groups, real/effective/saved ids
 * all changed, checked afterwards, no capabilities left in any set (the
 * bounding set goes first, while we still hold CAP_SETPCAP), and no way
 * back through setuid binaries (PR_SET_NO_NEW_PRIVS).
 */
int
priv_drop(const struct priv *p, char *cause, size_t len)
{
	uid_t	ru, eu, su;
	gid_t	rg, eg, sg;

	if (sandbox_bounding_drop(cause, len) == -1)
		return (-1);
	if (p->change) {
		if (geteuid() == 0 && setgroups(0, NULL) == -1) {
			snprintf(cause, len, "setgroups: %s", strerror(errno));
			return (-1);
		}
		if (setresgid(p->gid, p->gid, p->gid) == -1) {
			snprintf(cause, len, "setresgid(%u): %s",
			    (unsigned)p->gid, strerror(errno));
			return (-1);
		}
		if (setresuid(p->uid, p->uid, p->uid) == -1) {
			snprintf(cause, len, "setresuid(%u): %s",
			    (unsigned)p->uid, strerror(errno));
			return (-1);
		}
		if (getresuid(&ru, &eu, &su) == -1 ||
		    getresgid(&rg, &eg, &sg) == -1 || ru != p->uid ||
		    eu != p->uid || su != p->uid || rg != p->gid ||
		    eg != p->gid || sg != p->gid) {
			snprintf(cause, len, "ids did not change as asked");
			return (-1);
		}
		if (p->uid != 0 && setuid(0) != -1) {
			snprintf(cause, len, "could regain root after dropping "
			    "it");
			return (-1);
		}
	}
	if (sandbox_caps_clear(cause, len) == -1)
		return (-1);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		snprintf(cause, len, "prctl(PR_SET_NO_NEW_PRIVS): %s",
		    strerror(errno));
		return (-1);
	}
	return (0);
}

/*
 * A child of the master (a worker, the metrics exporter): if the master
 * dies, the kernel sends us SIGTERM, so no orphan keeps serving.  The
 * kernel clears this setting when our credentials change, so it is armed
 * again after priv_drop; a master that died before prctl took hold shows
 * as a changed parent, and we exit.
 */
void
priv_deathsig(pid_t master)
{
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		fatal("prctl(PR_SET_PDEATHSIG)");
	if (getppid() != master)
		exit(0);
}

/*
 * A child of the master becomes p for good (priv_drop), and dies with
 * the master again; if it cannot, it says why and exits with code (no
 * respawn: the master's WORKER_EXIT_FATAL).
 */
void
priv_become(const struct priv *p, pid_t master, int code)
{
	char	cause[256];

	if (priv_drop(p, cause, sizeof(cause)) == -1) {
		log_warnx("cannot drop privileges to %s: %s",
		    p->user[0] ? p->user : "(unchanged)", cause);
		exit(code);
	}
	priv_deathsig(master);
}

/* A directory only we (or root) can change: no other user can plant in it. */
int
priv_dir_private(const struct stat *st)
{
	return ((st->st_uid == 0 || st->st_uid == geteuid()) &&
	    (st->st_mode & (S_IWGRP | S_IWOTH)) == 0);
}

/*
 * The directory that holds file (the pidfile, the stats file) must be one
 * only the master's user can write, and so must every directory above it
 * (unless sticky, like /tmp: others cannot rename what is not theirs), or
 * another user could plant a file or a symlink where root will write.  A
 * directory that does not exist yet is judged by its parent (the master
 * creates it, owned by itself).  Returns 0, or -1 with cause naming the
 * directory and why.
 */
int
priv_check_dir(const char *what, const char *file, char *cause, size_t len)
{
	struct stat	 st;
	char		 dir[PATH_MAX], real[PATH_MAX], *slash;
	int		 first = 1;

	snprintf(dir, sizeof(dir), "%s", file);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	while (realpath(dir, real) == NULL) {
		if (errno != ENOENT || (slash = strrchr(dir, '/')) == NULL ||
		    slash == dir) {
			snprintf(cause, len, "%s %s: directory %s: %s", what,
			    file, dir, strerror(errno));
			return (-1);
		}
		*slash = '\0';
		first = 0;
	}
	for (;;) {
		if (stat(real, &st) == -1) {
			snprintf(cause, len, "%s %s: directory %s: %s", what,
			    file, real, strerror(errno));
			return (-1);
		}
		if (st.st_uid != 0 && st.st_uid != geteuid()) {
			snprintf(cause, len, "%s %s: directory %s belongs to "
			    "uid %u: it must be msgd's (uid %u) or root's "
			    "while the workers run as another user", what,
			    file, real, (unsigned)st.st_uid,
			    (unsigned)geteuid());
			return (-1);
		}
		if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
		    (first || (st.st_mode & S_ISVTX) == 0)) {
			snprintf(cause, len, "%s %s: directory %s is writable "
			    "by %s (mode %04o): only msgd's user may write it "
			    "while the workers run as another user", what, file,
			    real, st.st_mode & S_IWOTH ? "every user" :
			    "its group", (unsigned)(st.st_mode & 07777));
			return (-1);
		}
		first = 0;
		if (strcmp(real, "/") == 0)
			return (0);
		if ((slash = strrchr(real, '/')) == real)
			real[1] = '\0';
		else
			*slash = '\0';
	}
}

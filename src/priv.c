/*
 * priv.c: resolve and drop privileges.
 */
#include <sys/prctl.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

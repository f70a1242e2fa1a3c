/*
 * sandbox.h: what a worker gives up after its privilege drop.
 *
 * The capability bounding set and the ambient set are emptied while the
 * process still has CAP_SETPCAP (priv_drop calls sandbox_bounding_drop
 * between setresgid and setresuid), a Landlock domain keeps the worker
 * from ptrace-access to every process outside it, and a seccomp filter allow-lists the
 * system calls a serving worker makes.  A call outside the list raises
 * SIGSYS: the worker writes a note for the master on a pipe and dies of
 * that signal, and the master names the call in its log.
 */
#ifndef MSGD_SANDBOX_H
#define MSGD_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

/* What a worker killed by its filter writes on its note pipe. */
#define SANDBOX_NOTE_MAGIC	0x53434d50U	/* "SCMP" */
struct sandbox_note {
	uint32_t	magic;
	int32_t		nr;		/* the system call's number */
	uint32_t	arch;		/* AUDIT_ARCH_* of the call */
};

int	sandbox_bounding_drop(char *, size_t);
int	sandbox_caps_clear(char *, size_t);
int	sandbox_filter(int, char *, size_t);
int	sandbox_landlock(char *, size_t);
void	sandbox_enter(int, int, int);
const char *sandbox_syscall_name(int32_t, uint32_t, char *, size_t);

#endif /* MSGD_SANDBOX_H */

/*
 * nofilter.c: LD_PRELOAD'ed by bench/profile into msgd under callgrind, so
 * that seccomp_load() installs no filter.  The workers' filter applies to
 * valgrind's own system calls too (its signal poll, rt_sigtimedwait, and
 * new executable code-cache pages trap), which kills the worker mid-run.
 * The filter runs in the kernel, so the user-space instructions counted are
 * those of the same code with or without it.  Never installed.
 */
int	seccomp_load(void *);

int
seccomp_load(void *ctx)
{
	(void)ctx;
	return (0);
}

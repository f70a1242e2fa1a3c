/*
 * replay.c: a fuzz target's corpus as a make check test, without libFuzzer.
 *
 * Every file of $MSGD_SRCDIR/FUZZ_CORPUS goes once through the target's
 * LLVMFuzzerTestOneInput, so a crash the fuzzer found, once its reproducer
 * is in the corpus, stays fixed in every build (also under
 * --enable-sanitizers).  Targets built with FUZZ_GEN_SEEDS also generate
 * their seeds afresh (from the code as it is now) and run those.  With
 * arguments, the files and directories named are run instead: this is how
 * a reproducer is replayed under gdb or valgrind.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "util.h"

static int	nrun;

/* Feed one file to the target (exactly sized, so overreads are caught). */
static int
run_file(const char *path)
{
	struct stat	 st;
	uint8_t		*p;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	if ((p = malloc(st.st_size > 0 ? (size_t)st.st_size : 1)) == NULL) {
		close(fd);
		return (-1);
	}
	n = read_full(fd, p, (size_t)st.st_size);
	close(fd);
	if (n != (ssize_t)st.st_size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(p);
		return (-1);
	}
	/* Named first: if the target aborts, the log says which input. */
	printf("replay: %s\n", path);
	fflush(stdout);
	LLVMFuzzerTestOneInput(p, (size_t)n);
	free(p);
	nrun++;
	return (0);
}

/* A file, or every regular file of a directory (in name order). */
static int
run_path(const char *path)
{
	struct dirent	**ents;
	struct stat	  st;
	char		  file[4096];
	int		  i, n, rc = 0;

	if (stat(path, &st) == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return (-1);
	}
	if (!S_ISDIR(st.st_mode))
		return (run_file(path));
	if ((n = scandir(path, &ents, NULL, alphasort)) == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return (-1);
	}
	for (i = 0; i < n; i++) {
		snprintf(file, sizeof(file), "%s/%s", path, ents[i]->d_name);
		if (ents[i]->d_name[0] != '.' && stat(file, &st) == 0 &&
		    S_ISREG(st.st_mode) && run_file(file) == -1)
			rc = -1;
		free(ents[i]);
	}
	free(ents);
	return (rc);
}

#ifdef FUZZ_GEN_SEEDS
/* Generate the target's seeds into a temporary directory and run them. */
static int
run_generated(void)
{
	struct dirent	**ents;
	char		  dir[] = "/tmp/msgd-replay.XXXXXX", file[4096];
	int		  i, n, rc;

	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "replay: mkdtemp: %s\n", strerror(errno));
		return (-1);
	}
	rc = fuzz_gen_seeds(dir) == 0 ? run_path(dir) : -1;
	if ((n = scandir(dir, &ents, NULL, NULL)) >= 0) {
		for (i = 0; i < n; i++) {
			snprintf(file, sizeof(file), "%s/%s", dir,
			    ents[i]->d_name);
			if (ents[i]->d_name[0] != '.')
				unlink(file);
			free(ents[i]);
		}
		free(ents);
	}
	rmdir(dir);
	return (rc);
}
#endif

int
main(int argc, char **argv)
{
	const char	*src;
	char		 dir[4096];
	int		 i, rc = 0;

	if (argc > 1) {
		for (i = 1; i < argc; i++)
			if (run_path(argv[i]) == -1)
				rc = 1;
		printf("replay: %d inputs\n", nrun);
		return (rc);
	}
	if ((src = getenv("MSGD_SRCDIR")) == NULL)
		src = ".";
	snprintf(dir, sizeof(dir), "%s/%s", src, FUZZ_CORPUS);
	if (run_path(dir) == -1)
		rc = 1;
#ifdef FUZZ_GEN_SEEDS
	if (run_generated() == -1)
		rc = 1;
#endif
	printf("replay: %s: %d inputs, no crash\n", FUZZ_CORPUS, nrun);
	return (rc == 0 && nrun > 0 ? 0 : 1);
}

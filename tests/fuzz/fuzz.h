/*
 * fuzz.h: what the libFuzzer targets in tests/fuzz/ share.  Each target
 * defines LLVMFuzzerTestOneInput; it is linked either with libFuzzer
 * (make fuzz, clang) or with replay.c (make check, any compiler).
 */
#ifndef MSGD_FUZZ_H
#define MSGD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Seed generators (fuzz_stats): write seeds into an existing directory. */
int	fuzz_gen_seeds(const char *);

/* An invariant of the code under test: abort, which both drivers report. */
#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

#endif /* MSGD_FUZZ_H */

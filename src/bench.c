#include <stdio.h>
#include "bench.h"
int
bench_main(int argc, char **argv, const char *addr, int timeout_ms)
{
	fprintf(stderr, "bench: not built yet\n");
	return (2);
}

/*
 * libclient.c: requests/s of libmsgdclient's public API against one msgd,
 * to compare with msgctl bench on the same server (issue 15's measure).
 *
 *	bench/libclient ADDRESS SECONDS DEPTH [SIZE]
 *
 * One connection; ECHO of SIZE bytes (default 64, as msgctl bench).
 * DEPTH 1: the blocking API, msgdc_echo() in a loop.  DEPTH > 1: the
 * pipelined API, DEPTH msgdc_append() then DEPTH msgdc_get_reply(), each
 * answer's value compared.  Prints one JSON object.  Not installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msgd/client.h>

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* One round: depth requests, their answers checked; 0 or -1. */
static int
round_trip(struct msgdc *c, const char *val, size_t size, int depth)
{
	struct msgdc_reply	r;
	int			i;

	if (depth == 1)
		return (msgdc_echo(c, val, size, &r) == MSGDC_OK &&
		    r.vlen == size && memcmp(r.val, val, size) == 0 ? 0 : -1);
	for (i = 0; i < depth; i++)
		if (msgdc_append(c, MSGDC_OP_ECHO, NULL, 0, val, size,
		    NULL) != MSGDC_OK)
			return (-1);
	for (i = 0; i < depth; i++)
		if (msgdc_get_reply(c, &r) != MSGDC_OK ||
		    r.status != MSGDC_ST_OK || r.vlen != size ||
		    memcmp(r.val, val, size) != 0)
			return (-1);
	return (0);
}

int
main(int argc, char *argv[])
{
	struct msgdc	*c;
	double		 secs, t0, t;
	unsigned long	 n = 0;
	size_t		 size = 64, i;
	char		*val;
	int		 depth;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: libclient ADDRESS SECONDS DEPTH "
		    "[SIZE]\n");
		return (2);
	}
	secs = atof(argv[2]);
	depth = atoi(argv[3]);
	if (argc == 5)
		size = (size_t)atol(argv[4]);
	if (secs <= 0 || depth < 1 || depth > 1024 || size > 1048576 ||
	    (val = malloc(size + 1)) == NULL) {
		fprintf(stderr, "libclient: bad arguments\n");
		return (2);
	}
	for (i = 0; i < size; i++)
		val[i] = (char)('a' + i % 26);
	if ((c = msgdc_connect(argv[1], NULL)) == NULL ||
	    msgdc_err(c) != MSGDC_OK) {
		fprintf(stderr, "libclient: %s\n", c != NULL ?
		    msgdc_errstr(c) : "out of memory");
		return (1);
	}
	t0 = now_s();
	do {
		if (round_trip(c, val, size, depth) == -1) {
			fprintf(stderr, "libclient: %s\n", msgdc_errstr(c));
			return (1);
		}
		n += (unsigned long)depth;
	} while ((t = now_s()) - t0 < secs);
	printf("{\"api\":\"%s\",\"depth\":%d,\"size\":%zu,\"requests\":%lu,"
	    "\"seconds\":%.3f,\"rps\":%.0f}\n", depth == 1 ? "blocking" :
	    "pipelined", depth, size, n, t - t0, (double)n / (t - t0));
	msgdc_free(c);
	free(val);
	return (0);
}

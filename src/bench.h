/*
 * bench.h: msgctl bench, a closed-loop load generator.
 */
#ifndef MSGD_BENCH_H
#define MSGD_BENCH_H

struct client_tls;

int	bench_main(int, char **, const char *, int, const struct client_tls *);

#endif /* MSGD_BENCH_H */

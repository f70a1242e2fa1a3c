/*
 * bench.h: msgctl bench, a closed-loop load generator.
 */
#ifndef MSGD_BENCH_H
#define MSGD_BENCH_H

int	bench_main(int, char **, const char *, int);

#endif /* MSGD_BENCH_H */

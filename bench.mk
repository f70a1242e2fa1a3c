# bench.mk: the benchmark suite in bench/ (built on demand, never
# installed).  Included at the end of Makefile.am.
#
#   make bench          build bench/echo_floor, src/msgd and src/msgctl;
#                       then run bench/compare or bench/tls (see
#                       bench/README.md)
#   make bench-check    rerun the callgrind measurement of msgd and fail
#                       when instructions per request grew more than 10%
#                       over bench/baseline.txt, or its worker sets kernel
#                       timers per request (bench/profile)

EXTRA_PROGRAMS = bench/echo_floor bench/libclient
bench_echo_floor_SOURCES = bench/echo_floor.c
# Nothing of msgd: not the default (the unit tests' LDADD).
bench_echo_floor_LDADD =
# libmsgdclient's blocking and pipelined API (issue 15), on the built
# library; its numbers beside msgctl bench's: bench/README.md.
bench_libclient_SOURCES = bench/libclient.c
bench_libclient_LDADD = src/libmsgdclient.la

EXTRA_DIST += bench/compare bench/profile bench/benchlib.py \
	bench/fileops bench/tls bench/python_clients bench/fleet \
	bench/locality bench/ab \
	bench/baseline.txt bench/README.md
CLEANFILES += bench/echo_floor$(EXEEXT) bench/libclient$(EXEEXT)

bench: bench/echo_floor$(EXEEXT) bench/libclient$(EXEEXT) src/msgd$(EXEEXT) \
	src/msgctl$(EXEEXT)

# Growth of the per-request instruction count is what this checks; the
# script installs valgrind when it is missing (as root).
bench-check: bench
	py='$(PYTHON3)'; $${py:-python3} $(top_srcdir)/bench/profile \
	    --builddir=. --check=$(top_srcdir)/bench/baseline.txt

.PHONY: bench bench-check

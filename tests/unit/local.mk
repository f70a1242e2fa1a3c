# Unit tests (cmocka).  Add a module's test as three lines like these.
UNIT_TESTS += tests/unit/test_proto
tests_unit_test_proto_SOURCES = tests/unit/test_proto.c
tests_unit_test_proto_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_proto_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test_hist
tests_unit_test_hist_SOURCES = tests/unit/test_hist.c
tests_unit_test_hist_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_hist_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test_config
tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_config_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test_net
tests_unit_test_net_SOURCES = tests/unit/test_net.c
tests_unit_test_net_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_net_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test_buf
tests_unit_test_buf_SOURCES = tests/unit/test_buf.c
tests_unit_test_buf_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_buf_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test_timer
tests_unit_test_timer_SOURCES = tests/unit/test_timer.c
tests_unit_test_timer_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_timer_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test_util
tests_unit_test_util_SOURCES = tests/unit/test_util.c
tests_unit_test_util_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_util_LDADD = $(UNIT_LDADD)

# The stats tests share a fixture and helpers.
STATS_FX = tests/unit/stats_fx.c tests/unit/stats_fx.h

UNIT_TESTS += tests/unit/test_stats
tests_unit_test_stats_SOURCES = tests/unit/test_stats.c $(STATS_FX)
tests_unit_test_stats_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_stats_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test_stats_snap
tests_unit_test_stats_snap_SOURCES = tests/unit/test_stats_snap.c $(STATS_FX)
tests_unit_test_stats_snap_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_stats_snap_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test_stats_render
tests_unit_test_stats_render_SOURCES = tests/unit/test_stats_render.c \
	$(STATS_FX)
tests_unit_test_stats_render_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_stats_render_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test_sha256
tests_unit_test_sha256_SOURCES = tests/unit/test_sha256.c
tests_unit_test_sha256_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_sha256_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test_sandbox
tests_unit_test_sandbox_SOURCES = tests/unit/test_sandbox.c
tests_unit_test_sandbox_CFLAGS = $(UNIT_CFLAGS) $(SECCOMP_CFLAGS)
tests_unit_test_sandbox_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test_spool
tests_unit_test_spool_SOURCES = tests/unit/test_spool.c
tests_unit_test_spool_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_spool_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test_config_table
tests_unit_test_config_table_SOURCES = tests/unit/test_config_table.c
tests_unit_test_config_table_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_config_table_LDADD = $(UNIT_LDADD)

# The master's layers, with a shared fixture (stats segment, table, lists).
UNIT_TESTS += tests/unit/test_master_proc
tests_unit_test_master_proc_SOURCES = tests/unit/test_master_proc.c \
	tests/unit/master_fx.c tests/unit/master_fx.h
tests_unit_test_master_proc_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_master_proc_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test_master_gen
tests_unit_test_master_gen_SOURCES = tests/unit/test_master_gen.c \
	tests/unit/master_fx.c tests/unit/master_fx.h
tests_unit_test_master_gen_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_master_gen_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test_master_reload
tests_unit_test_master_reload_SOURCES = tests/unit/test_master_reload.c \
	tests/unit/master_fx.c tests/unit/master_fx.h
tests_unit_test_master_reload_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_master_reload_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test_exec
tests_unit_test_exec_SOURCES = tests/unit/test_exec.c
tests_unit_test_exec_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_exec_LDADD = $(UNIT_LDADD)

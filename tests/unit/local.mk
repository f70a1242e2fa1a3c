# Unit tests (cmocka), one line per module: tests/unit/test_<module>.c,
# compiled with AM_CPPFLAGS/AM_CFLAGS and linked with LDADD (Makefile.am:
# the library and cmocka).  A test with more sources names them in
# _SOURCES; a test that fakes a system call adds
# _LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=<call>.
UNIT_TESTS += tests/unit/test_proto
UNIT_TESTS += tests/unit/test_proxy
UNIT_TESTS += tests/unit/test_hist
UNIT_TESTS += tests/unit/test_config
UNIT_TESTS += tests/unit/test_config_table
UNIT_TESTS += tests/unit/test_net
UNIT_TESTS += tests/unit/test_sdlisten
UNIT_TESTS += tests/unit/test_buf
UNIT_TESTS += tests/unit/test_metrics
UNIT_TESTS += tests/unit/test_timer
tests_unit_test_timer_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=timerfd_settime
UNIT_TESTS += tests/unit/test_util
UNIT_TESTS += tests/unit/test_sha256
UNIT_TESTS += tests/unit/test_tls
tests_unit_test_tls_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=time
UNIT_TESTS += tests/unit/test_sandbox
UNIT_TESTS += tests/unit/test_spool
tests_unit_test_spool_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=fdopendir,--wrap=renameat
UNIT_TESTS += tests/unit/test_pool
UNIT_TESTS += tests/unit/test_pipes
UNIT_TESTS += tests/unit/test_exec
UNIT_TESTS += tests/unit/test_xfer
tests_unit_test_xfer_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=sendmsg,--wrap=recvmsg
UNIT_TESTS += tests/unit/test_iob
UNIT_TESTS += tests/unit/test_ops
UNIT_TESTS += tests/unit/test_conn
tests_unit_test_conn_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=send,--wrap=recv,--wrap=splice \
	-Wl,--wrap=mono_us,--wrap=sendmsg,--wrap=buf_reserve

# The stats tests share a fixture and helpers (segment, reader, renderers).
STATS_FX = tests/unit/stats_fx.c tests/unit/stats_fx.h
UNIT_TESTS += tests/unit/test_stats
tests_unit_test_stats_SOURCES = tests/unit/test_stats.c $(STATS_FX)
tests_unit_test_stats_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=mono_us
UNIT_TESTS += tests/unit/test_stats_snap
tests_unit_test_stats_snap_SOURCES = tests/unit/test_stats_snap.c $(STATS_FX)
tests_unit_test_stats_snap_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=sched_yield
UNIT_TESTS += tests/unit/test_stats_carry
UNIT_TESTS += tests/unit/test_stats_render
tests_unit_test_stats_render_SOURCES = tests/unit/test_stats_render.c \
	$(STATS_FX)

# The master's layers, with a shared fixture (stats segment, table, lists).
MASTER_FX = tests/unit/master_fx.c tests/unit/master_fx.h
UNIT_TESTS += tests/unit/test_master_proc
tests_unit_test_master_proc_SOURCES = tests/unit/test_master_proc.c \
	$(MASTER_FX)
UNIT_TESTS += tests/unit/test_master_gen
tests_unit_test_master_gen_SOURCES = tests/unit/test_master_gen.c $(MASTER_FX)
UNIT_TESTS += tests/unit/test_master_reload
tests_unit_test_master_reload_SOURCES = tests/unit/test_master_reload.c \
	$(MASTER_FX)
UNIT_TESTS += tests/unit/test_master_upgrade
# The client tests' fake servers listen in a private directory.
UNIX_FX = tests/unit/unix_fx.c tests/unit/unix_fx.h
UNIT_TESTS += tests/unit/test_client
tests_unit_test_client_SOURCES = tests/unit/test_client.c $(UNIX_FX)
UNIT_TESTS += tests/unit/test_msgdc
tests_unit_test_msgdc_SOURCES = tests/unit/test_msgdc.c $(UNIX_FX)

# Unit tests (cmocka), one line per module: tests/unit/test_<module>.c,
# compiled with AM_CPPFLAGS/AM_CFLAGS and linked with LDADD (Makefile.am:
# the library and cmocka).  A test that fakes a system call adds
# _LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=<call>.
UNIT_TESTS += tests/unit/test_proto
UNIT_TESTS += tests/unit/test_hist
UNIT_TESTS += tests/unit/test_config
UNIT_TESTS += tests/unit/test_net
UNIT_TESTS += tests/unit/test_buf
UNIT_TESTS += tests/unit/test_timer
UNIT_TESTS += tests/unit/test_util
UNIT_TESTS += tests/unit/test_stats
UNIT_TESTS += tests/unit/test_sha256
UNIT_TESTS += tests/unit/test_sandbox
UNIT_TESTS += tests/unit/test_xfer
tests_unit_test_xfer_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=sendmsg,--wrap=recvmsg
UNIT_TESTS += tests/unit/test_ops
UNIT_TESTS += tests/unit/test_conn
tests_unit_test_conn_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=send,--wrap=read

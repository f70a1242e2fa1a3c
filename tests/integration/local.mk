# Integration tests (python3, standard library only), one scenario family each.
# Each starts its own msgd in a fresh temp dir; helpers are in harness.py.
# The longest first, so that make -j runs the others beside them.
INTEGRATION_TESTS += tests/integration/test_sup_reload_load.py
INTEGRATION_TESTS += tests/integration/test_upgrade_load.py
INTEGRATION_TESTS += tests/integration/test_upgrade.py
INTEGRATION_TESTS += tests/integration/test_sup_reload_gens.py
INTEGRATION_TESTS += tests/integration/test_fleet.py
INTEGRATION_TESTS += tests/integration/test_tls.py
INTEGRATION_TESTS += tests/integration/test_ops.py
INTEGRATION_TESTS += tests/integration/test_framing.py
INTEGRATION_TESTS += tests/integration/test_errors.py
INTEGRATION_TESTS += tests/integration/test_concurrency.py
INTEGRATION_TESTS += tests/integration/test_balance.py
INTEGRATION_TESTS += tests/integration/test_cpu_affinity.py
INTEGRATION_TESTS += tests/integration/test_idle_timeout.py
INTEGRATION_TESTS += tests/integration/test_read_timeout.py
INTEGRATION_TESTS += tests/integration/test_syscalls.py
INTEGRATION_TESTS += tests/integration/test_splice.py
INTEGRATION_TESTS += tests/integration/test_short_reads.py
INTEGRATION_TESTS += tests/integration/test_limits.py
INTEGRATION_TESTS += tests/integration/test_backpressure.py
INTEGRATION_TESTS += tests/integration/test_shutdown.py
INTEGRATION_TESTS += tests/integration/test_config_check.py
INTEGRATION_TESTS += tests/integration/test_listen.py
INTEGRATION_TESTS += tests/integration/test_socket_activation.py
INTEGRATION_TESTS += tests/integration/test_msgctl.py
INTEGRATION_TESTS += tests/integration/test_bench_writes.py
INTEGRATION_TESTS += tests/integration/test_bench_answers.py
INTEGRATION_TESTS += tests/integration/test_bench_tools.py
# libmsgdclient against msgd, through its driver (linked with the library).
INTEGRATION_TESTS += tests/integration/test_libclient.py
INTEGRATION_BINS += tests/integration/libclient_drive
tests_integration_libclient_drive_SOURCES = \
	tests/integration/libclient_drive.c
tests_integration_libclient_drive_LDADD = src/libmsgdclient.la
INTEGRATION_TESTS += tests/integration/test_python_client.py
INTEGRATION_TESTS += tests/integration/test_python_client_remote.py
INTEGRATION_TESTS += tests/integration/test_python_package.py
INTEGRATION_TESTS += tests/integration/test_stats_counters.py
INTEGRATION_TESTS += tests/integration/test_stats_kill.py
INTEGRATION_TESTS += tests/integration/test_stats_torn.py
INTEGRATION_TESTS += tests/integration/test_stats_msgctl.py
INTEGRATION_TESTS += tests/integration/test_stats_hostile.py
INTEGRATION_TESTS += tests/integration/test_sup_respawn.py
INTEGRATION_TESTS += tests/integration/test_sup_reload.py
INTEGRATION_TESTS += tests/integration/test_sup_lifecycle.py
INTEGRATION_TESTS += tests/integration/test_sup_recycle.py
INTEGRATION_TESTS += tests/integration/test_sup_churn.py
INTEGRATION_TESTS += tests/integration/test_remote_files.py
INTEGRATION_TESTS += tests/integration/test_remote_files_offloop.py
INTEGRATION_TESTS += tests/integration/test_remote_spool_lock.py
INTEGRATION_TESTS += tests/integration/test_remote_atomic.py
INTEGRATION_TESTS += tests/integration/test_remote_exec.py
INTEGRATION_TESTS += tests/integration/test_remote_udp.py
INTEGRATION_TESTS += tests/integration/test_remote_auth.py
INTEGRATION_TESTS += tests/integration/test_remote_access.py
INTEGRATION_TESTS += tests/integration/test_remote_msgctl.py
INTEGRATION_TESTS += tests/integration/test_remote_put_reload.py
INTEGRATION_TESTS += tests/integration/test_remote_max_count.py
INTEGRATION_TESTS += tests/integration/test_remote_list_compact.py
INTEGRATION_TESTS += tests/integration/test_trust_xfer.py
INTEGRATION_TESTS += tests/integration/test_trust_orphans.py
INTEGRATION_TESTS += tests/integration/test_trust_socket.py
INTEGRATION_TESTS += tests/integration/test_trust_files.py
INTEGRATION_TESTS += tests/integration/test_client_answers.py
INTEGRATION_TESTS += tests/integration/test_sandbox.py
INTEGRATION_TESTS += tests/integration/test_mem_limits.py
INTEGRATION_TESTS += tests/integration/test_tls_client.py
# The TLS tests' helpers: a PKI made with openssl(1), a fake TLS msgd.
EXTRA_DIST += tests/integration/tlsfake.py
INTEGRATION_TESTS += tests/integration/test_tls_python_client.py
INTEGRATION_TESTS += tests/integration/test_tls_client_msgd.py
INTEGRATION_TESTS += tests/integration/test_metrics_http.py
INTEGRATION_TESTS += tests/integration/test_proxy.py
INTEGRATION_TESTS += tests/integration/test_proxy_haproxy.py
# test_upgrade*'s second binary: msgd with another release string, the
# same code otherwise (an upgrade must be seen to run the other file).
INTEGRATION_BINS += tests/integration/msgd-alt
tests_integration_msgd_alt_SOURCES = src/msgd.c
tests_integration_msgd_alt_CPPFLAGS = $(AM_CPPFLAGS) \
	-DMSGD_RELEASE='"$(PACKAGE_VERSION)+alt"'
tests_integration_msgd_alt_LDADD = $(LDADD_MSGD)
EXTRA_DIST += tests/integration/upgradecases.py
# The fleet (issue 14): the shipped HAProxy and Prometheus files, and the
# real programs run on them; fleetlib.py drives them.
INTEGRATION_TESTS += tests/integration/test_contrib_fleet.py
EXTRA_DIST += tests/integration/fleetlib.py contrib/haproxy/msgd.cfg \
	contrib/prometheus/msgd.yml contrib/prometheus/msgd-rules.yml \
	contrib/grafana/msgd.json \
	tests/integration/msgd-rules.test.yml

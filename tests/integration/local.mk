# Integration tests (python3, standard library only), one scenario family each.
# Each starts its own msgd in a fresh temp dir; helpers are in harness.py.
INTEGRATION_TESTS += tests/integration/test_ops.py
INTEGRATION_TESTS += tests/integration/test_framing.py
INTEGRATION_TESTS += tests/integration/test_errors.py
INTEGRATION_TESTS += tests/integration/test_concurrency.py
INTEGRATION_TESTS += tests/integration/test_idle_timeout.py
INTEGRATION_TESTS += tests/integration/test_read_timeout.py
INTEGRATION_TESTS += tests/integration/test_limits.py
INTEGRATION_TESTS += tests/integration/test_backpressure.py
INTEGRATION_TESTS += tests/integration/test_shutdown.py
INTEGRATION_TESTS += tests/integration/test_config_check.py
INTEGRATION_TESTS += tests/integration/test_listen.py
INTEGRATION_TESTS += tests/integration/test_msgctl.py
INTEGRATION_TESTS += tests/integration/test_python_client.py
INTEGRATION_TESTS += tests/integration/test_python_client_remote.py
INTEGRATION_TESTS += tests/integration/test_stats_counters.py
INTEGRATION_TESTS += tests/integration/test_stats_kill.py
INTEGRATION_TESTS += tests/integration/test_stats_torn.py
INTEGRATION_TESTS += tests/integration/test_stats_msgctl.py
INTEGRATION_TESTS += tests/integration/test_sup_respawn.py
INTEGRATION_TESTS += tests/integration/test_sup_reload.py
INTEGRATION_TESTS += tests/integration/test_sup_lifecycle.py
INTEGRATION_TESTS += tests/integration/test_sup_churn.py

# Integration tests (python3, standard library only), one scenario family each.
INTEGRATION_TESTS += tests/integration/test_ops.py

"""test_sup_reload: reloads that fail or roll back, and the hand-over's
edge cases: bad_config_reload, reload_rollbacks, adopted_close,
handover_no_descriptor (described in reloadcases.py)."""
from reloadcases import run_cases

run_cases("test_sup_reload", ['bad_config_reload', 'reload_rollbacks', 'adopted_close', 'handover_no_descriptor'])

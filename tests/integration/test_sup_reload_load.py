"""test_sup_reload_load: 20 reloads under 32 closed-loop connections lose
no request (reload_under_load, described in reloadcases.py)."""
from reloadcases import run_cases

run_cases("test_sup_reload_load", ['reload_under_load'])

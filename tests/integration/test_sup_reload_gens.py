"""test_sup_reload_gens: the ninth draining generation makes room by
killing the oldest (nine_draining, described in reloadcases.py)."""
from reloadcases import run_cases

run_cases("test_sup_reload_gens", ['nine_draining'])

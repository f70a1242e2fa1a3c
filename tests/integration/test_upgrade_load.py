"""test_upgrade_load: 20 binary upgrades, alternating two binaries, under
64 closed-loop connections lose no request and close no connection
(upgrades_under_load, described in upgradecases.py)."""
from upgradecases import run_cases

run_cases("test_upgrade_load", ['upgrades_under_load'])

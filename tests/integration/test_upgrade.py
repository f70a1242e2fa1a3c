"""test_upgrade: binary upgrades that must fail (missing, not executable,
not msgd, crashing, config rejected, during a reload or an upgrade) leave
the old binary serving under load; msgctl status shows the release on disk
and the last upgrade; TLS connections are closed cleanly; a fake systemd
notification socket sees MAINPID= move with no restart (upgradecases.py)."""
from upgradecases import run_cases

run_cases("test_upgrade", ['failed_upgrades', 'status_on_disk',
                          'tls_finish_and_close', 'systemd_follows',
                          'old_dies_after_commit', 'new_dies_after_commit',
                          'stop_during_commit'])

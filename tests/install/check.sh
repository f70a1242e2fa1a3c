#!/bin/bash
# Install check: make install into a DESTDIR, check what landed and that
# install paths were substituted, run the installed msgd with the installed
# config (runtime paths moved to a temporary directory), check that a second
# install keeps an edited config, and check the systemd units with
# systemd-analyze (verify, and security --threshold=20 for the service) on a
# prefix install; the socket unit's sockets are the config's listen entries.
# Run by .ci/run (needs the source tree configured nowhere in particular).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/msgd-install.XXXXXX)
pid=""
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "install check: FAIL: $*" >&2; exit 1; }
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }

mkdir -p "$T/b"
cd "$T/b"
"$top/configure" --prefix=/usr/local >/dev/null
make -j"$(nproc)" >/dev/null
make install DESTDIR="$T/dest" >/dev/null
D="$T/dest/usr/local"
for f in sbin/msgd bin/msgctl etc/msgd/msgd.conf lib/systemd/system/msgd.service \
    lib/systemd/system/msgd.socket \
    lib/sysusers.d/msgd.conf lib/tmpfiles.d/msgd.conf share/man/man8/msgd.8 \
    share/man/man1/msgctl.1 share/man/man5/msgd.conf.5 share/man/man7/msgd-protocol.7; do
	[ -e "$D/$f" ] || fail "$f not installed"
done
ok "files installed under DESTDIR"

grep -qx 'ExecStart=/usr/local/sbin/msgd -f -c /usr/local/etc/msgd/msgd.conf' \
    "$D/lib/systemd/system/msgd.service" || fail "unit paths not substituted"
grep -q '^stats_file = "/usr/local/var/run/msgd/stats";' "$D/etc/msgd/msgd.conf" ||
    fail "config runstatedir not substituted"
grep -qE '@[a-z]+@' "$D/etc/msgd/msgd.conf" "$D/lib/systemd/system/msgd.service" &&
    fail "unsubstituted @...@ left"
"$D/sbin/msgd" -h | grep -q '/usr/local/etc/msgd/msgd.conf' ||
    fail "msgd's default config path is not the installed one"
ok "install paths substituted (unit, config, msgd -h)"

# Run the installed binaries with the installed config, runtime files moved.
R="$T/run"
mkdir -p "$R"
root=false; [ "$(id -u)" -eq 0 ] && root=true
sed -e "s|^listen = .*|listen = [ \"unix:$R/sock\" ];|" \
    -e "s|^stats_file = .*|stats_file = \"$R/stats\";|" \
    -e "s|^pidfile = .*|pidfile = \"$R/msgd.pid\";|" \
    -e "s|^allow_root = .*|allow_root = $root;|" \
    -e "s|^workers = .*|workers = 2;|" \
    "$D/etc/msgd/msgd.conf" > "$R/msgd.conf"
"$D/sbin/msgd" -t -c "$R/msgd.conf" >/dev/null || fail "msgd -t on the installed config"
"$D/sbin/msgd" -f -c "$R/msgd.conf" 2>"$R/log" &
pid=$!
for _ in $(seq 100); do
	"$D/bin/msgctl" -c "$R/msgd.conf" ping >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { cat "$R/log"; fail "installed msgd exited"; }
	sleep 0.1
done
"$D/bin/msgctl" -c "$R/msgd.conf" ping >/dev/null || fail "installed msgd does not answer"
[ "$("$D/bin/msgctl" -c "$R/msgd.conf" echo installed)" = installed ] || fail "echo"
"$D/bin/msgctl" -c "$R/msgd.conf" status >/dev/null || fail "msgctl status"
"$D/bin/msgctl" -c "$R/msgd.conf" stop >/dev/null || fail "msgctl stop"
wait "$pid" || fail "msgd exit status after stop"
pid=""
[ ! -e "$R/sock" ] && [ ! -e "$R/stats" ] && [ ! -e "$R/msgd.pid" ] ||
    fail "runtime files left after stop"
ok "installed msgd serves with the installed config and stops cleanly"

echo "# edited" >> "$D/etc/msgd/msgd.conf"
make install DESTDIR="$T/dest" >/dev/null
grep -q '^# edited' "$D/etc/msgd/msgd.conf" || fail "make install overwrote an edited config"
ok "make install keeps an existing config"

# The unit as systemd sees it: a real prefix install (binaries and man pages
# where the unit says), then verify and the exposure score.
mkdir -p "$T/p"
cd "$T/p"
"$top/configure" --prefix="$T/inst" >/dev/null
make -j"$(nproc)" >/dev/null
make install >/dev/null
unit="$T/inst/lib/systemd/system/msgd.service"
MANPATH="$T/inst/share/man" systemd-analyze verify "$unit" || fail "systemd-analyze verify"
ok "systemd-analyze verify"
# The socket unit, with its service beside it (socket activation).
sock="$T/inst/lib/systemd/system/msgd.socket"
MANPATH="$T/inst/share/man" systemd-analyze verify "$sock" "$unit" ||
    fail "systemd-analyze verify msgd.socket"
# Its sockets are the shipped config's listen entries (msgd refuses to
# start on a mismatch).
conf_listen=$(sed -n 's/^listen = \[ \(.*\) \];$/\1/p' "$T/inst/etc/msgd/msgd.conf" |
    tr -d '",')
unit_listen=$(sed -n 's/^ListenStream=//p' "$sock" | tr '\n' ' ' | sed 's/ $//')
[ -n "$conf_listen" ] && [ "$conf_listen" = "$unit_listen" ] ||
    fail "msgd.socket listens on '$unit_listen', msgd.conf on '$conf_listen'"
ok "systemd-analyze verify msgd.socket; its sockets are msgd.conf's listen entries"
systemd-analyze security --offline=true --threshold=20 "$unit" | tail -1
systemd-analyze security --offline=true --threshold=20 "$unit" >/dev/null ||
    fail "systemd-analyze security above threshold 20"
ok "systemd-analyze security --threshold=20"
echo "install check: $n passed, 0 failed"

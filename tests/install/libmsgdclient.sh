#!/bin/sh
# libmsgdclient.sh: the installed client library is enough on its own.
# make install into a DESTDIR; the header alone compiles (standard headers
# only); the shared library exports msgdc_* and nothing else; then
# contrib/libmsgdclient/example.c is compiled with nothing but what
# pkg-config says of the DESTDIR's msgdclient.pc (shared, and static with
# --static), and both binaries talk to a real msgd this script starts.
# Run by make check (MSGD_BUILDDIR, MSGD_SRCDIR; CC, MSGD_SAN_FLAGS).
set -u
B=$MSGD_BUILDDIR
S=$MSGD_SRCDIR
cc=${CC:-cc}
command -v pkg-config >/dev/null 2>&1 || { echo "SKIP: no pkg-config"; exit 77; }
T=$(mktemp -d /tmp/msgd-libclient.XXXXXX) || exit 99
pid=""
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		i=0
		while [ $i -lt 50 ] && kill -0 "$pid" 2>/dev/null; do
			sleep 0.1; i=$((i + 1))
		done
		kill -KILL "$pid" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "libmsgdclient.sh: FAIL: $*"; [ -f "$T/log" ] && cat "$T/log"; exit 1; }
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }

# The jobserver of the make check running this is not ours.
MAKEFLAGS= MFLAGS= ${MAKE:-make} -s -C "$B" install DESTDIR="$T/dest" \
    >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "make install"; }
pc=$(find "$T/dest" -name msgdclient.pc -path '*/pkgconfig/*')
[ -n "$pc" ] || fail "msgdclient.pc not installed"
hdr=$(find "$T/dest" -path '*/include/msgd/client.h')
[ -n "$hdr" ] || fail "msgd/client.h not installed"
so=$(find "$T/dest" -name 'libmsgdclient.so.0')
a=$(find "$T/dest" -name 'libmsgdclient.a')
[ -n "$so" ] && [ -n "$a" ] || fail "libmsgdclient.so.0 or .a not installed"
for m in msgdc_connect msgdc_call msgdc_append msgdc_set_nonblock \
    libmsgdclient; do
	[ -n "$(find "$T/dest" -name "$m.3")" ] || fail "$m.3 not installed"
done
for m in msgdc_ping msgdc_get_reply msgdc_take msgdc_errstr; do
	f=$(find "$T/dest" -name "$m.3")
	[ -n "$f" ] && [ -e "$f" ] || fail "no man page $m.3"
done
ok "library, header, pkg-config file and man pages installed"

# Found through pkg-config only, with paths moved into the DESTDIR.
export PKG_CONFIG_PATH="$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_SYSROOT_DIR="$T/dest"
cflags=$(pkg-config --cflags msgdclient) || fail "pkg-config --cflags"
libs=$(pkg-config --libs msgdclient) || fail "pkg-config --libs"
slibs=$(pkg-config --static --libs msgdclient) || fail "pkg-config --static"
case "$cflags $libs" in
*"$T/dest"*) ;;
*) fail "pkg-config points outside the DESTDIR: $cflags $libs" ;;
esac
ok "pkg-config: $cflags $libs"

# The header alone, strict C99 and C++: nothing of the server needed.
printf '#include <msgd/client.h>\nint main(void) { return (MSGDC_OK); }\n' \
    >"$T/h.c"
$cc -std=c99 -Wall -Wextra -pedantic -Werror $cflags -c -o "$T/h.o" \
    "$T/h.c" || fail "the header does not compile alone"
if command -v c++ >/dev/null 2>&1; then
	cp "$T/h.c" "$T/h.cc"
	c++ -Wall -Werror $cflags -c -o "$T/hpp.o" "$T/h.cc" ||
	    fail "the header does not compile as C++"
fi
ok "the header compiles alone (C99 -pedantic, C++)"

bad=$(nm -D --defined-only "$so" | awk '$2 ~ /^[A-Z]$/ && $3 !~ /^msgdc_/ {print $3}' |
    grep -v '^MSGDC_0$')
[ -z "$bad" ] || fail "exported beside msgdc_*: $bad"
objdump -p "$so" | grep -q 'SONAME *libmsgdclient\.so\.0$' || fail "soname"
ok "the shared library exports only msgdc_* (soname libmsgdclient.so.0)"

a="$(dirname "$so")/libmsgdclient.a"
if [ -f "$a" ]; then
	bad=$(nm --defined-only "$a" 2>/dev/null |
	    awk 'NF == 3 && $2 ~ /^[A-Z]$/ && $3 !~ /^msgdc_/ {print $3}')
	[ -z "$bad" ] || fail "the static library's globals beside msgdc_*:" \
	    "$(echo $bad | cut -c1-200)"
	ok "the static library's only global symbols are msgdc_*"
fi

# shellcheck disable=SC2086
$cc ${MSGD_SAN_FLAGS:-} $cflags -o "$T/example" \
    "$S/contrib/libmsgdclient/example.c" $libs || fail "example (shared)"
lib=$(dirname "$so")
# shellcheck disable=SC2086
$cc ${MSGD_SAN_FLAGS:-} $cflags -o "$T/example-static" \
    "$S/contrib/libmsgdclient/example.c" \
    $(echo "$slibs" | sed 's/-lmsgdclient/-l:libmsgdclient.a/') ||
    fail "example (static)"
LD_LIBRARY_PATH="$lib" ldd "$T/example" | grep -q "$lib/libmsgdclient.so.0" ||
    fail "the example does not use the DESTDIR's library"
ok "example built against the installed library (shared and static)"

# A real msgd on a unix socket of our own.
root=false; [ "$(id -u)" -eq 0 ] && root=true
cat >"$T/msgd.conf" <<CONF
listen = [ "unix:$T/sock" ];
workers = 1;
stats_file = "$T/stats";
pidfile = "$T/msgd.pid";
allow_root = $root;
CONF
"$B/src/msgd" -f -c "$T/msgd.conf" 2>"$T/log" &
pid=$!
i=0
until LD_LIBRARY_PATH="$lib" "$T/example" "unix:$T/sock" ping \
    >/dev/null 2>&1; do
	kill -0 "$pid" 2>/dev/null || fail "msgd exited"
	i=$((i + 1))
	[ $i -lt 100 ] || fail "msgd does not answer"
	sleep 0.1
done
out=$(LD_LIBRARY_PATH="$lib" "$T/example" "unix:$T/sock" hello) ||
    fail "example: $out"
[ "$out" = HELLO ] || fail "example printed '$out', not HELLO"
out=$("$T/example-static" "unix:$T/sock" static) || fail "example-static"
[ "$out" = STATIC ] || fail "example-static printed '$out'"
ok "the example sends a message to msgd and prints the answer"
out=$(LD_LIBRARY_PATH="$lib" "$T/example" "unix:$T/nosock" x 2>&1) &&
    fail "example succeeded without a server"
case "$out" in
*"$T/nosock"*) ;;
*) fail "no clear error without a server: $out" ;;
esac
ok "without a server: exit 1 and the reason ($out)"
echo "libmsgdclient.sh: $n passed"

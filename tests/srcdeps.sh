#!/bin/sh
# srcdeps.sh: no file of src/ depends on itself through others, neither by
# its includes nor by the symbols its object needs (contrib/srcdeps over
# this build's objects prints both graphs and every cycle it finds).
#
# First contrib/srcdeps itself, on a made-up tree of two files with a
# cycle through their headers and one through their calls, then without:
# if it misses those, or cannot run, that is a hard error (99), never the
# expected failure.  Then the real tree: exit 1 on a cycle.
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not found"; exit 77; }
command -v "${NM:-nm}" >/dev/null 2>&1 || { echo "SKIP: nm not found"; exit 77; }
srcdeps="python3 -B $MSGD_SRCDIR/contrib/srcdeps"

hard() {
	echo "srcdeps.sh: $*"
	exit 99
}

tmp=$(mktemp -d) || hard "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src" "$tmp/build/src"

# Includes: a.c includes b.h, b.h includes a.h.
echo '#include "b.h"' >"$tmp/src/a.c"
: >"$tmp/src/a.h"
echo '#include "a.h"' >"$tmp/src/b.h"
: >"$tmp/src/b.c"
out=$($srcdeps -q --srcdir "$tmp/src")
[ $? -eq 1 ] || hard "an include cycle not found"
echo "$out" | grep -qx 'CYCLE (includes): a\.c b\.c' ||
    hard "the include cycle misreported: $out"
: >"$tmp/src/b.h"
$srcdeps -q --srcdir "$tmp/src" || hard "a cycle where there is none"

# Calls: a.c's fa calls b.c's fb, which calls fa (objects named as
# automake names those of a target with its own flags).
cc=${CC:-cc}
if command -v "$cc" >/dev/null 2>&1; then
	printf 'void fb(void);\nvoid fa(void);\nvoid fa(void) { fb(); }\n' \
	    >"$tmp/src/a.c"
	printf 'void fa(void);\nvoid fb(void);\nvoid fb(void) { fa(); }\n' \
	    >"$tmp/src/b.c"
	$cc -c -o "$tmp/build/src/libx_a-a.o" "$tmp/src/a.c" &&
	    $cc -c -o "$tmp/build/src/b.o" "$tmp/src/b.c" ||
	    hard "$cc failed"
	out=$($srcdeps -q --srcdir "$tmp/src" "$tmp/build")
	[ $? -eq 1 ] || hard "a call cycle not found"
	echo "$out" | grep -qx '  a\.c -> b\.c: fb' &&
	    echo "$out" | grep -qx '  b\.c -> a\.c: fa' ||
	    hard "the call cycle misreported: $out"
	printf 'void fb(void);\nvoid fb(void) { }\n' >"$tmp/src/b.c"
	$cc -c -o "$tmp/build/src/b.o" "$tmp/src/b.c" || hard "$cc failed"
	$srcdeps -q --srcdir "$tmp/src" "$tmp/build" ||
	    hard "a call cycle where there is none"
else
	echo "no C compiler ($cc): srcdeps' call graph not checked on its own"
fi

$srcdeps --srcdir "$MSGD_SRCDIR/src" "$MSGD_BUILDDIR"
rc=$?
case $rc in
0|1)	exit $rc ;;
*)	hard "srcdeps failed to run (exit $rc)" ;;
esac

#!/bin/sh
# srcdeps.sh: no file of src/ depends on itself through others, neither by
# its includes nor by the symbols its object needs (contrib/srcdeps over
# this build's objects prints both graphs and every cycle it finds).
# Exit 1 on a cycle; a broken run (no objects, no nm) is a hard error (99),
# never an expected failure.
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not found"; exit 77; }
command -v "${NM:-nm}" >/dev/null 2>&1 || { echo "SKIP: nm not found"; exit 77; }
python3 -B "$MSGD_SRCDIR/contrib/srcdeps" --srcdir "$MSGD_SRCDIR/src" \
    "$MSGD_BUILDDIR"
rc=$?
case $rc in
0|1)	exit $rc ;;
*)	echo "srcdeps failed to run (exit $rc)"; exit 99 ;;
esac

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# snap_dump's XML of the shared stores against the shipped Relax NG schemas
# (libmeta/multisnap/multisnap-<type>.rng), with xmllint: for each type this build has
# and ships a schema for, a new store, one with snapshots (mikulas: and a sub-snapshot),
# and one after deletes validate; the same dump with an attribute the schema does not
# know, or with the wrong root element, does not (the check can fail).
# SKIP when xmllint is missing, or when no type is both built and described.
# Exit 0 pass, 1 fail, 77 skip.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool snap_message snap_dump
command -v xmllint >/dev/null 2>&1 || skip "xmllint not installed (libxml2-utils)"

valid() { # valid RNG XML WHAT
	xmllint --noout --relaxng "$1" "$2" >lint.out 2>&1 ||
		{ cat lint.out; fail "$3: does not validate against $(basename "$1")"; }
}
invalid() { # invalid RNG XML WHAT
	! xmllint --noout --relaxng "$1" "$2" >lint.out 2>&1 ||
		fail "$3: validates against $(basename "$1") though it should not"
}

ran=0
for type in ${MS_TYPES:-mikulas daniel}; do
	rng=$SRCDIR/libmeta/multisnap/multisnap-$type.rng
	[ -r "$rng" ] || { note "$type: no schema shipped, skipped"; continue; }
	case $type in mikulas) cs=8 ;; daniel) cs=32 ;; esac
	rm -f cow
	truncate -s 67108864 cow
	run "$BIN/snap_message" --type $type --chunk-size $cs cow
	if grep -q "this build has no $type store" run.err; then
		note "$type: not in this build, skipped"
		continue
	fi
	expect_rc 0 "$type: a new store"
	ran=$((ran + 1))
	run "$BIN/snap_dump" -o empty.xml cow
	expect_rc 0 "$type: dump of an empty store"
	valid "$rng" empty.xml "$type: an empty store"
	for i in 1 2 3; do
		"$BIN/snap_message" -q cow create || fail "$type: create $i"
	done
	[ $type = mikulas ] && { "$BIN/snap_message" -q cow create_subsnap 1 || fail "mikulas: create_subsnap"; }
	run "$BIN/snap_dump" -o snaps.xml cow
	expect_rc 0 "$type: dump with snapshots"
	valid "$rng" snaps.xml "$type: a store with snapshots"
	"$BIN/snap_message" -q cow delete 0 || fail "$type: delete 0"
	run "$BIN/snap_dump" -o deleted.xml cow
	expect_rc 0 "$type: dump after a delete"
	valid "$rng" deleted.xml "$type: a store after a delete"
	# the check can fail
	sed '0,/<multisnap_store /s//<multisnap_store hedgehogs="1" /' snaps.xml >bad-attr.xml
	invalid "$rng" bad-attr.xml "$type: an unknown attribute on the root"
	sed '0,/<multisnap_store/s//<snapshot_store/; s#</multisnap_store>#</snapshot_store>#' snaps.xml >bad-root.xml
	invalid "$rng" bad-root.xml "$type: the classic root element"
	note "$type: dumps validate"
done
[ $ran -gt 0 ] || skip "no shared store type is both built and described by a schema"
echo "multisnap XML schemas: $ran type(s) validated"
exit 0

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Differential test of thin_restore against thin-provisioning-tools (issue 3, "Proof"):
# on every fixture XML and on generated pools (thousands of devices; heavy snapshot sharing
# restored from the <def>/<ref> form; data blocks in 600 leaves), what our thin_restore writes
#  - passes 0.9's thin_check and 1.1's thin_check (each where present), and
#  - dumps with 0.9's thin_dump to exactly the input XML (flat XML; for a <def>/<ref> input,
#    exactly the generator's flat XML of the same pool).
# 1.1's thin_dump of our output is compared with 1.1's thin_dump of a pool 1.1 restored from
# the same XML (where 1.1 exists).
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_restore thin_dump
[ -n "$TPT09" ] || [ -n "$TPT11" ] ||
	skip "reference thin-provisioning-tools (0.9 or 1.1) not found in $TPT_REF_DIR (run tests/tools/fetch-tpt)"
[ -x "$TT/gen_thin_xml" ] || skip "test tool gen_thin_xml not built"

nfail=0
nimg=0

# check_one NAME XML FLAT_XML MiB: restore XML with ours, then compare with the references.
check_one() {
	name=$1 xml=$2 flat=$3 mib=$4
	nimg=$((nimg + 1))
	rm -f "$name.bin"
	truncate -s "${mib}M" "$name.bin" || fail "cannot create $name.bin"
	if ! "$BIN/thin_restore" -q -i "$xml" -o "$name.bin"; then
		echo "DIFF: $name: our thin_restore failed"
		nfail=$((nfail + 1))
		return
	fi
	if [ -n "$TPT09" ]; then
		if ! "$TPT09" thin_check "$name.bin" >c09.out 2>&1; then
			echo "DIFF: $name: 0.9 thin_check rejects our output:"
			sed 's/^/  /' c09.out | head -n 10
			nfail=$((nfail + 1))
		fi
		"$TPT09" thin_dump "$name.bin" >d09.xml 2>d09.err
		if ! cmp -s d09.xml "$flat"; then
			echo "DIFF: $name: 0.9 thin_dump of our output differs from the input XML"
			diff -u "$flat" d09.xml | head -n 20
			nfail=$((nfail + 1))
		fi
	fi
	if [ -n "$TPT11" ]; then
		if ! "$TPT11" thin_check "$name.bin" >c11.out 2>&1; then
			echo "DIFF: $name: 1.1 thin_check rejects our output:"
			sed 's/^/  /' c11.out | head -n 10
			nfail=$((nfail + 1))
		fi
		rm -f "$name.ref"
		truncate -s "${mib}M" "$name.ref"
		if "$TPT11" thin_restore -q -i "$xml" -o "$name.ref" >/dev/null 2>&1; then
			# 1.1's thin_restore drops the needs_check flag (flags="1"); ours keeps it, as 0.9 does
			"$TPT11" thin_dump "$name.ref" 2>/dev/null | sed '1s/ flags="[0-9]*"//' >d11ref.xml
			"$TPT11" thin_dump "$name.bin" 2>/dev/null | sed '1s/ flags="[0-9]*"//' >d11.xml
			if ! cmp -s d11.xml d11ref.xml; then
				echo "DIFF: $name: 1.1 thin_dump of our output differs from 1.1's dump of its own restore"
				diff -u d11ref.xml d11.xml | head -n 20
				nfail=$((nfail + 1))
			fi
		else
			note "$name: 1.1 thin_restore failed on it; 1.1 dump comparison skipped"
		fi
		rm -f "$name.ref"
	fi
	rm -f "$name.bin"
}

for n in empty one-thin snaps many needs-check; do
	check_one "$n" "$FIX/thin/$n.xml" "$FIX/thin/$n.xml" 4
done
# the <def>/<ref> fixture: 0.9's flat dump of the fixture image is the flat form
if [ -n "$TPT09" ]; then
	fixture shared-leaves sl-ref.bin
	"$TPT09" thin_dump sl-ref.bin >sl-flat.xml || fail "0.9 thin_dump of the shared-leaves fixture failed"
	check_one shared-leaves "$FIX/thin/shared-leaves.xml" sl-flat.xml 4
fi

# thousands of devices, snapshots, fragmentation, holes (flat)
"$TT/gen_thin_xml" --devices 2500 --mappings 12 --snapshots 40 --change 20 --gap 10 \
	--fragment 5 --seed 31 >g1.xml || fail "gen_thin_xml failed"
check_one gen-devices g1.xml g1.xml 16

# heavy snapshot sharing (1201 devices), restored from the <def>/<ref> form; compared with the
# flat form of the same pool (its flat restore is not repeated here: 48 MB of XML)
A="--devices 1 --mappings 2000 --snapshots 1200 --change 1 --gap 2 --seed 8"
# shellcheck disable=SC2086
"$TT/gen_thin_xml" $A >g2.xml || fail "gen_thin_xml failed"
# shellcheck disable=SC2086
"$TT/gen_thin_xml" $A --format shared >g2s.xml || fail "gen_thin_xml failed"
check_one gen-sharing-shared g2s.xml g2.xml 32

# every data block in 600 leaves (flat form): counts past one byte per block
"$TT/gen_thin_xml" --mappings 1500 --snapshots 599 --change 0 --seed 5 >g3.xml ||
	fail "gen_thin_xml failed"
check_one gen-count-600 g3.xml g3.xml 64

note "$nimg restored images compared"
[ "$nfail" -eq 0 ] || fail "$nfail differences"
exit 0

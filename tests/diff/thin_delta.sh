#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Differential test of thin_delta against thin-provisioning-tools 0.9.0 (1.1 for --root1/2):
#  - stdout byte for byte equal to 0.9's, plain and --verbose, success/failure alike, on every
#    fixture and on generated pools: snapshot vs snapshot, snapshot vs origin (both ways),
#    unrelated devices, a device vs itself, an untouched snapshot (identical device), unknown
#    device ids (no output, non-zero exit), -m / --metadata-snap=BLOCK with a held root;
#  - pools with real shared subtrees (1.1 thin_restore of <def>/<ref> XML), dense and with
#    holes inside shared leaves (which must not change the output);
#  - --root1/--root2: plain output equal to 1.1's (plus the final newline 0.9-style output has),
#    and equal to the --snap output but for the <diff> attributes.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_delta
require_tpt 0.9
[ -x "$TT/gen_thin_xml" ] || skip "test tool gen_thin_xml not built"

nfail=0
ncmp=0

# compare IMAGE ARGS...: our thin_delta vs 0.9's, same arguments (the image last).
compare() { tpt_compare -i -m thin_delta "$@"; }

# pair IMAGE A B: plain and verbose
pair() {
	compare "$1" --snap1 "$2" --snap2 "$3"
	compare "$1" --thin1 "$2" --thin2 "$3" --verbose
}

# check_image IMAGE MAXDEV: every pair among the first MAXDEV devices, plus errors
check_image() {
	ci_ids=$(tpt_dev_ids "$1" | head -n "$2")
	for a in $ci_ids; do
		for b in $ci_ids; do
			pair "$1" "$a" "$b"
		done
	done
	ci_first=$(echo "$ci_ids" | head -n 1)
	compare "$1" --snap1 4000000000 --snap2 "${ci_first:-0}"
	compare "$1" --snap1 "${ci_first:-0}" --snap2 4000000001 --verbose
}

for gz in "$FIX"/thin/*.bin.gz; do
	name=${gz##*/}
	name=${name%.bin.gz}
	fixture "$name" "$name.bin"
	check_image "$name.bin" 6
	# many: also the last devices (origins vs the snapshots of device 0)
	[ "$name" = many ] && { pair many.bin 63 0; pair many.bin 0 63; pair many.bin 59 60; }
	rm -f "$name.bin"
done

# Generated pools, flat (0.9 restore): origins, snapshots with rewritten runs, holes, fragmentation.
"$TT/gen_thin_xml" --devices 2 --mappings 3000 --snapshots 4 --change 5 --gap 3 --fragment 10 \
	--seed 11 >flat.xml || fail "gen_thin_xml failed"
mk_pool flat.xml flat.bin 1024
check_image flat.bin 6
# an untouched snapshot: identical device
"$TT/gen_thin_xml" --devices 1 --mappings 2000 --snapshots 1 --change 0 --seed 3 >same.xml ||
	fail "gen_thin_xml failed"
mk_pool same.xml same.bin 512
check_image same.bin 2

# Shared subtrees (1.1 restore of <def>/<ref>): dense, with holes, small leaves.
if [ -n "$TPT11" ] && [ -x "$TPT11" ]; then
	i=0
	for args in "--mappings 30000 --snapshots 3 --change 1" \
		"--mappings 20000 --snapshots 3 --change 2 --gap 4 --fragment 20" \
		"--mappings 5000 --snapshots 4 --change 3 --leaf-entries 40 --gap 1" \
		"--devices 2 --mappings 8000 --snapshots 2 --change 1 --leaf-entries 100"; do
		i=$((i + 1))
		# shellcheck disable=SC2086
		"$TT/gen_thin_xml" $args --format shared --seed "$i" >sh$i.xml || fail "gen_thin_xml failed"
		grep -q '<ref ' sh$i.xml || fail "gen_thin_xml $args: no <ref> in shared XML"
		mk_pool11 sh$i.xml sh$i.bin 2048
		check_image sh$i.bin 6
		rm -f sh$i.bin
	done
else
	echo "note: 1.1 reference absent; shared-subtree pools not compared"
fi

# Metadata snapshot: -m, --metadata-snap=BLOCK, and the metadata_snap attribute without -m.
if [ -x "$TT/thin_damage" ]; then
	cp flat.bin held.bin
	compare held.bin -m --snap1 0 --snap2 2
	if snap=$("$TT/thin_damage" held.bin hold-root 2>/dev/null); then
		compare held.bin -m --snap1 0 --snap2 2
		compare held.bin "--metadata-snap=$snap" --snap1 2 --snap2 0 --verbose
		compare held.bin "-m$((snap + 1))" --snap1 2 --snap2 0
		compare held.bin --snap1 0 --snap2 3
	else
		echo "note: thin_damage hold-root failed; -m not compared"
	fi
	# --root1/--root2
	r0=$("$TT/thin_damage" flat.bin find dev-root 0) || fail "thin_damage find dev-root 0 failed"
	r2=$("$TT/thin_damage" flat.bin find dev-root 2) || fail "thin_damage find dev-root 2 failed"
	for v in "" --verbose; do
		"$BIN/thin_delta" --root1 "$r0" --root2 "$r2" $v flat.bin >roots.out 2>roots.err ||
			fail "thin_delta --root1 $r0 --root2 $r2 $v failed: $(cat roots.err)"
		"$BIN/thin_delta" --snap1 0 --snap2 2 $v flat.bin |
			sed "s|<diff left=\"0\" right=\"2\">|<diff left_root=\"$r0\" right_root=\"$r2\">|" >snaps.out
		expect_same snaps.out roots.out "--root1/--root2 $v vs --snap1/--snap2"
		"$BIN/thin_delta" --snap1 0 --root2 "$r2" $v flat.bin >mixed.out ||
			fail "thin_delta --snap1 0 --root2 $r2 failed"
		grep -q "<diff left=\"0\" right_root=\"$r2\">" mixed.out || fail "mixed --snap1/--root2 <diff> line"
		# (1.1's --verbose merges ranges whose data blocks are not consecutive; 0.9's
		# does not, and we follow 0.9, so only plain output is compared with 1.1.)
		if [ -z "$v" ] && [ -n "$TPT11" ] && [ -x "$TPT11" ]; then
			{ "$TPT11" thin_delta --root1 "$r0" --root2 "$r2" $v flat.bin; echo; } >ref11.out
			expect_same ref11.out roots.out "--root1/--root2 $v vs 1.1"
		fi
		ncmp=$((ncmp + 3))
	done
else
	echo "note: test tool thin_damage not built; -m and --root1/--root2 not compared"
fi

echo "$ncmp comparisons, $nfail differences"
[ "$nfail" = 0 ] || fail "$nfail of $ncmp thin_delta runs differ from the reference"
exit 0

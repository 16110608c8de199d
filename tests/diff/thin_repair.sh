#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Differential test of thin_repair against thin-provisioning-tools 0.9.0 (issue 3, "Proof"):
# for each damage class, the same damaged image is repaired by ours and by 0.9's thin_repair.
#  - ours must exit 0, and its output must pass our thin_check and 1.1's thin_check (if present);
#  - every mapping ours writes must be one of the original pool's mappings (device, virtual
#    block, data block, time): a repair never invents or moves a mapping;
#  - ours must keep at least as many mappings as 0.9's repair and at least as many as
#    `thin_dump --repair` reads (every mapping that is still readable);
#  - for the salvage classes (lost internal node), every original mapping.
# 1.1's thin_repair is not compared: it fails ("no compatible roots found") on a damaged leaf.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_repair thin_restore thin_dump thin_check
require_tpt 0.9
[ -x "$TT/gen_thin_xml" ] || skip "test tool gen_thin_xml not built"
[ -x "$TT/thin_damage" ] || skip "test tool thin_damage not built"

nfail=0
ncase=0

# repair_case NAME IMAGE ORIG_XML MIB MODE [OVERRIDES...]
#   MODE: all = every original mapping must be kept; readable = at least what
#   thin_dump --repair reads
repair_case() {
	name=$1 img=$2 orig=$3 mib=$4 mode=$5
	shift 5
	ncase=$((ncase + 1))
	bad=0
	xml_block_map "$orig" >orig.map
	"$BIN/thin_dump" -r "$@" "$img" >readable.xml 2>/dev/null
	xml_block_map readable.xml >readable.map
	rm -f ours.bin ref.bin
	truncate -s "${mib}M" ours.bin ref.bin
	"$BIN/thin_repair" -q "$@" -i "$img" -o ours.bin
	rrc=$?
	if [ "$rrc" -ne 0 ]; then
		echo "DIFF: $name: our thin_repair failed (exit $rrc)"
		nfail=$((nfail + 1))
		return
	fi
	"$BIN/thin_check" -q ours.bin || { echo "DIFF: $name: our thin_check rejects our repair"; bad=1; }
	if [ -n "$TPT11" ] && ! "$TPT11" thin_check "ours.bin" >c11.out 2>&1; then
		echo "DIFF: $name: 1.1 thin_check rejects our repair:"
		sed 's/^/  /' c11.out | head -n 5
		bad=1
	fi
	"$BIN/thin_dump" ours.bin >ours.xml 2>/dev/null
	xml_block_map ours.xml >ours.map
	extra=$(LC_ALL=C comm -13 orig.map ours.map | wc -l)
	if [ "$extra" -ne 0 ]; then
		echo "DIFF: $name: our repair holds $extra mappings that are not in the original pool, e.g.:"
		LC_ALL=C comm -13 orig.map ours.map | head -n 3 | sed 's/^/  dev vblock dblock time: /'
		bad=1
	fi
	n_orig=$(wc -l <orig.map)
	n_read=$(wc -l <readable.map)
	n_ours=$(wc -l <ours.map)
	if "$TPT09" thin_repair "$@" -i "$img" -o ref.bin >ref.err 2>&1; then
		"$TPT09" thin_dump ref.bin >ref.xml 2>/dev/null
		n_ref=$(xml_block_map ref.xml | wc -l)
	else
		n_ref=0
		note "$name: 0.9 thin_repair failed: $(head -n 1 ref.err)"
	fi
	note "$name: original $n_orig, readable $n_read, ours $n_ours, 0.9 $n_ref"
	[ "$n_ours" -ge "$n_ref" ] || { echo "DIFF: $name: ours keeps $n_ours mappings, 0.9 keeps $n_ref"; bad=1; }
	[ "$n_ours" -ge "$n_read" ] ||
		{ echo "DIFF: $name: ours keeps $n_ours mappings, $n_read are readable"; bad=1; }
	if [ "$mode" = all ] && [ "$n_ours" -ne "$n_orig" ]; then
		echo "DIFF: $name: ours keeps $n_ours mappings of $n_orig (salvage expected to keep all)"
		bad=1
	fi
	[ "$bad" -eq 0 ] || nfail=$((nfail + 1))
	rm -f ours.bin ref.bin
}

fixture snaps snaps.bin
snaps_xml=$(fixture_xml snaps)

# 1. clean pool
repair_case clean snaps.bin "$snaps_xml" 4 all

# 2. zeroed superblock, with the three overrides
cp snaps.bin p.bin
"$TT/thin_damage" p.bin zero-block 0 || fail "thin_damage failed"
repair_case zeroed-superblock p.bin "$snaps_xml" 4 all \
	--transaction-id 4 --data-block-size 128 --nr-data-blocks 2048

# 3. one lost leaf (zeroed, and with a bad checksum)
cp snaps.bin p.bin
"$TT/thin_damage" p.bin zero-block "$("$TT/thin_damage" p.bin find leaf 2)" || fail "thin_damage failed"
repair_case lost-leaf-zeroed p.bin "$snaps_xml" 4 readable
cp snaps.bin p.bin
"$TT/thin_damage" p.bin flip-csum "$("$TT/thin_damage" p.bin find last-leaf 0)" || fail "thin_damage failed"
repair_case lost-leaf-checksum p.bin "$snaps_xml" 4 readable

# 4. lost details tree
cp snaps.bin p.bin
"$TT/thin_damage" p.bin zero-block "$("$TT/thin_damage" p.bin find details-root)" || fail "thin_damage failed"
repair_case lost-details-tree p.bin "$snaps_xml" 4 all

# 5. one lost internal node below a device's root (a 3-level device tree)
"$TT/gen_thin_xml" --devices 2 --mappings 70000 --snapshots 1 --change 3 --seed 4 >big.xml ||
	fail "gen_thin_xml failed"
rm -f big.bin
truncate -s 4M big.bin
"$BIN/thin_restore" -q -i big.xml -o big.bin || fail "thin_restore of big.xml failed"
root=$("$TT/thin_damage" big.bin find internal 1) || fail "device 1 has no internal root"
maxe=$(od -An -tu4 -j $((root * 4096 + 20)) -N4 big.bin)
child=$(od -An -tu8 -j $((root * 4096 + 32 + 8 * maxe)) -N8 big.bin)
flags=$(od -An -tu4 -j $((child * 4096 + 4)) -N4 big.bin)
[ $((flags)) -eq 1 ] || fail "block $((child)) (first child of device 1's root) is not an internal node"
"$TT/thin_damage" big.bin zero-block $((child)) || fail "thin_damage failed"
repair_case lost-internal-node big.bin big.xml 16 all

# A lost top-level root with a multi-leaf top-level tree (every top-level leaf is used, none
# is mistaken for a mapping leaf), and a lost device root (its leaves are salvaged).
if true; then
	"$TT/gen_thin_xml" --devices 300 --mappings 20 --snapshots 3 --seed 4 >d300.xml ||
		fail "gen_thin_xml failed"
	rm -f d300.bin
	truncate -s 2M d300.bin
	"$BIN/thin_restore" -q -i d300.xml -o d300.bin || fail "thin_restore of d300.xml failed"
	"$TT/thin_damage" d300.bin zero-block "$("$TT/thin_damage" d300.bin find mapping-root)" ||
		fail "thin_damage failed"
	repair_case lost-top-level-root d300.bin d300.xml 4 all
	cp snaps.bin p.bin
	"$TT/thin_damage" p.bin zero-block "$("$TT/thin_damage" p.bin find internal 0)" ||
		fail "thin_damage failed"
	repair_case lost-device-root p.bin "$snaps_xml" 4 all
fi

note "$ncase damage cases compared"
[ "$nfail" -eq 0 ] || fail "$nfail of $ncase cases failed"
exit 0

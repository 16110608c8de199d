#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Shared leaves spliced next to a short run must not leave an under-full leaf (under a third
# of 252 entries): thin-provisioning-tools 1.1's thin_check rejects one ("missing N mappings",
# exit 64) and lvm2 would not activate the pool.  The shape: a device = a full shared leaf,
# then a few mappings (a small <def> or its own), e.g. gen_thin_xml --format shared when the
# mappings are a few more than a multiple of 252.  Our restore (and thin_repair, which
# restores a shared dump) must write pools both checkers accept, with the mappings of 1.1's
# restore of the same XML and exact data reference counts (thin_check checks them).
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_restore thin_dump thin_check thin_repair
require_tpt 1.1
[ -x "$TT/gen_thin_xml" ] || skip "test tool gen_thin_xml not built"

# check_both IMAGE WHAT: our thin_check and 1.1's accept IMAGE, ours reports nothing under-full
check_both() {
	run "$BIN/thin_check" "$1"
	expect_rc 0 "our thin_check: $2"
	grep -qi 'under' run.err run.out && fail "our thin_check reports an under-full node: $2"
	run tpt11 thin_check "$1"
	expect_rc 0 "1.1 thin_check: $2"
}

# restore_both XML WHAT: ours and 1.1's restore of XML, ours checked by both; same (flat) dumps
restore_both() {
	zero_file o.bin 2048
	zero_file t.bin 2048
	run "$BIN/thin_restore" -q -i "$1" -o o.bin
	expect_rc 0 "our thin_restore: $2"
	check_both o.bin "our restore of $2"
	run tpt11 thin_restore -q -i "$1" -o t.bin
	expect_rc 0 "1.1 thin_restore: $2"
	"$BIN/thin_dump" o.bin >o.xml || fail "thin_dump of our restore: $2"
	"$BIN/thin_dump" t.bin >t.xml || fail "thin_dump of 1.1's restore: $2"
	expect_same t.xml o.xml "our dumps of 1.1's and our restore: $2"
	# 1.1's dump reads our pool (its sharing may differ from 1.1's restore: not compared)
	run tpt11 thin_dump o.bin
	expect_rc 0 "1.1 thin_dump of our restore: $2"
}

# 1. two devices, each a ref to a def of one full leaf (252) and a ref to a def of 10
{
	echo '<superblock uuid="" time="0" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="10000">'
	echo '  <def name="a">'
	echo '    <range_mapping origin_begin="0" data_begin="0" length="252" time="0"/>'
	echo '  </def>'
	echo '  <def name="b">'
	echo '    <range_mapping origin_begin="252" data_begin="5000" length="10" time="0"/>'
	echo '  </def>'
	for d in 0 1; do
		echo "  <device dev_id=\"$d\" mapped_blocks=\"262\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">"
		echo '    <ref name="a"/>'
		echo '    <ref name="b"/>'
		echo '  </device>'
	done
	echo '</superblock>'
} >repro.xml
restore_both repro.xml "full shared leaf + small def"

# 2. the same shapes with the device's own mappings around shared leaves: a short run
# before, between and after two defs of 1, 2 and 3 leaves (and a short run alone)
gen() { # def leaves, run before, run between, run after
	echo '<superblock uuid="" time="1" transaction="3" flags="0" version="2" data_block_size="128" nr_data_blocks="40000">'
	echo '  <def name="x">'
	echo "    <range_mapping origin_begin=\"1000\" data_begin=\"20000\" length=\"$(($1 * 252))\" time=\"0\"/>"
	echo '  </def>'
	echo '  <def name="y">'
	echo "    <range_mapping origin_begin=\"5000\" data_begin=\"30000\" length=\"$(($1 * 200))\" time=\"0\"/>"
	echo '  </def>'
	for d in 1 2 3; do
		echo "  <device dev_id=\"$d\" mapped_blocks=\"$(($2 + $1 * 452 + $3 + $4))\" transaction=\"0\" creation_time=\"0\" snap_time=\"1\">"
		[ "$2" = 0 ] || echo "    <range_mapping origin_begin=\"0\" data_begin=\"$((d * 3000))\" length=\"$2\" time=\"1\"/>"
		echo '    <ref name="x"/>'
		[ "$3" = 0 ] || echo "    <range_mapping origin_begin=\"4000\" data_begin=\"$((d * 3000 + 1000))\" length=\"$3\" time=\"1\"/>"
		echo '    <ref name="y"/>'
		[ "$4" = 0 ] || echo "    <range_mapping origin_begin=\"9000\" data_begin=\"$((d * 3000 + 2000))\" length=\"$4\" time=\"1\"/>"
		echo '  </device>'
	done
	echo '</superblock>'
}
for leaves in 1 2 3; do
	for runs in "0 0 1" "1 0 0" "0 1 0" "5 5 5" "83 0 83" "0 84 0" "200 7 0"; do
		gen $leaves $runs >g.xml
		restore_both g.xml "defs of $leaves leaves, runs $runs"
	done
done

# 3. gen_thin_xml --format shared whose last chunk of device 0 is short: restored by ours,
# checked by both; thin_repair of it keeps the sharing (no fallback to whole trees)
for seed in 1 2 3 4; do
	"$TT/gen_thin_xml" --devices 2 --mappings $((252 * 8 + 10 * seed)) --snapshots 3 --change 1 \
		--fragment 5 --seed $seed --format shared >s.xml || fail "gen_thin_xml seed $seed"
	restore_both s.xml "gen_thin_xml seed $seed"
	zero_file r.bin 2048
	run "$BIN/thin_repair" -i o.bin -o r.bin
	expect_rc 0 "thin_repair seed $seed"
	grep -q 'written whole' run.err && fail "thin_repair fell back to whole trees: seed $seed"
	check_both r.bin "thin_repair of seed $seed"
	"$BIN/thin_dump" r.bin >r.xml || fail "thin_dump of thin_repair's output seed $seed"
	expect_same o.xml r.xml "thin_repair keeps the mappings: seed $seed"
done
exit 0

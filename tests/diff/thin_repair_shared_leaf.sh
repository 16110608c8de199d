#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A key moved out of the range of a leaf two snapshots share: thin_repair (and
# thin_dump --repair | thin_restore) must write metadata that thin-provisioning-tools
# 1.1's thin_check accepts as well as ours.  (Both wrote DATA_BAD_COUNT once: the
# dropped leaf still went out as an unreferenced <def> whose data blocks were counted.)
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_repair thin_restore thin_dump thin_check
require_tpt 1.1
[ -x "$TT/thin_damage" ] || skip "test tool thin_damage not built"

fixture shared-leaves p.bin
set -- $("$TT/thin_damage" p.bin find shared-leaves | head -1)
[ -n "$1" ] || fail "the shared-leaves fixture has no shared leaf"
"$TT/thin_damage" p.bin set-key "$1" $(($2 - 1)) +1000 || fail "thin_damage set-key"
zero_file o.bin 256
zero_file r.bin 256

run "$BIN/thin_repair" -i p.bin -o o.bin
expect_rc 0 "thin_repair"
expect_grep 'NODE_KEY_RANGE' run.err "the damage reported"
run tpt11 thin_check o.bin
expect_rc 0 "1.1 thin_check of thin_repair's output"
run "$BIN/thin_check" o.bin
expect_rc 0 "our thin_check of thin_repair's output"

"$BIN/thin_dump" -r p.bin >r.xml 2>/dev/null
run "$BIN/thin_restore" -i r.xml -o r.bin
expect_rc 0 "thin_restore of thin_dump --repair"
run tpt11 thin_check r.bin
expect_rc 0 "1.1 thin_check of thin_dump --repair | thin_restore"
run "$BIN/thin_check" r.bin
expect_rc 0 "our thin_check of thin_dump --repair | thin_restore"

# both ways give the same pool
"$BIN/thin_dump" o.bin >o.xml
"$BIN/thin_dump" r.bin >r2.xml
expect_same o.xml r2.xml "thin_repair vs thin_dump --repair | thin_restore"

# A shared leaf of 10 entries (a pool written from XML, not by the kernel): 1.1 rejects
# the input (under-full node); thin_repair must not copy the shape into its output.
{
	echo '<superblock uuid="" time="1" transaction="3" flags="0" version="2" data_block_size="128" nr_data_blocks="2000">'
	echo '  <def name="tail">'
	echo '    <range_mapping origin_begin="1000" data_begin="900" length="10" time="0"/>'
	echo '  </def>'
	for d in 1 2; do
		echo "  <device dev_id=\"$d\" mapped_blocks=\"310\" transaction=\"0\" creation_time=\"0\" snap_time=\"1\">"
		echo "    <range_mapping origin_begin=\"0\" data_begin=\"$((d * 300))\" length=\"300\" time=\"1\"/>"
		echo '    <ref name="tail"/>'
		echo '  </device>'
	done
	echo '</superblock>'
} >u.xml
zero_file u.bin 256
zero_file uo.bin 256
"$BIN/thin_restore" -q -i u.xml -o u.bin || fail "thin_restore u.xml"
run "$BIN/thin_repair" -i u.bin -o uo.bin
expect_rc 0 "thin_repair of a pool with an under-full shared leaf"
run tpt11 thin_check uo.bin
expect_rc 0 "1.1 thin_check of thin_repair's output (under-full shared leaf)"
exit 0

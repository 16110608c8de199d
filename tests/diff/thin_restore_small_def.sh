#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A <def> too small for a leaf of its own (under a third of 252 entries) is copied into each
# device that refs it, as tpt 1.x's restore does: thin-provisioning-tools 1.1's thin_check
# rejects every non-root node under a third full ("is missing N mappings"), shared or not.
# Def sizes 1..300, device runs (84 and more) of several remainders mod 252: 1.1 and our thin_check
# accept the restore, ours reports no under-full node, dump | restore | dump is stable.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_restore thin_dump thin_check
require_tpt 1.1

gen() { # def length, device run length
	echo '<superblock uuid="" time="1" transaction="3" flags="0" version="2" data_block_size="128" nr_data_blocks="40000">'
	echo '  <def name="d">'
	echo "    <range_mapping origin_begin=\"100000\" data_begin=\"30000\" length=\"$1\" time=\"0\"/>"
	echo '  </def>'
	for d in 1 2 3; do
		echo "  <device dev_id=\"$d\" mapped_blocks=\"$(($1 + $2))\" transaction=\"0\" creation_time=\"0\" snap_time=\"1\">"
		echo "    <range_mapping origin_begin=\"0\" data_begin=\"$((d * 5000))\" length=\"$2\" time=\"1\"/>"
		echo '    <ref name="d"/>'
		echo '  </device>'
	done
	echo '</superblock>'
}
zero_file p.bin 1024
for def in 1 2 10 83 84 85 100 252 253 300; do
	for dev in 84 100 252 300 757 1000; do
		gen $def $dev >p.xml
		run "$BIN/thin_restore" -q -i p.xml -o p.bin
		expect_rc 0 "thin_restore def=$def dev=$dev"
		run tpt11 thin_check p.bin
		expect_rc 0 "1.1 thin_check def=$def dev=$dev"
		run "$BIN/thin_check" p.bin
		expect_rc 0 "our thin_check def=$def dev=$dev"
		grep -qi 'under' run.err run.out && fail "our thin_check reports an under-full node: def=$def dev=$dev"
		"$BIN/thin_dump" p.bin >d1.xml || fail "thin_dump def=$def dev=$dev"
		"$BIN/thin_restore" -q -i d1.xml -o p.bin || fail "thin_restore of the dump def=$def dev=$dev"
		"$BIN/thin_dump" p.bin >d2.xml || fail "thin_dump 2 def=$def dev=$dev"
		expect_same d1.xml d2.xml "dump, restore, dump def=$def dev=$dev"
	done
done
exit 0

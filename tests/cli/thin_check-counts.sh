#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# thin_check keeps its data-block counts in half a byte each when the pool has at most 14
# devices (a kernel maps a data block at most once per device), a byte each otherwise; a
# count past either top goes to overflow records.  Every path must stay exact:
#  - 20 devices sharing blocks (byte counts): clean; one count lowered is reported as such;
#  - 1 device mapping one data block 40 times (metadata no kernel writes, but consistent:
#    the space map says 40): nibble counts overflow, and the check is still clean; with that
#    count lowered to 39 it is reported with both numbers.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_check thin_restore
[ -x "$TT/gen_thin_xml" ] || skip "gen_thin_xml not built"
[ -x "$TT/thin_damage" ] || skip "thin_damage not built"

# --- byte counts: 1 origin + 19 snapshots
"$TT/gen_thin_xml" --devices 1 --mappings 4000 --snapshots 19 --change 5 --seed 3 \
	--format shared >p.xml || fail "gen_thin_xml"
zero_file p.bin 4096
"$BIN/thin_restore" -q -i p.xml -o p.bin || fail "thin_restore (20 devices)"
run "$BIN/thin_check" p.bin
expect_rc 0 "thin_check, 20 devices"
b=0
until "$TT/thin_damage" p.bin drop-data-ref "$b" 2>/dev/null; do
	b=$((b + 1))
	[ "$b" -lt 4000 ] || fail "no data block to lower"
done
run "$BIN/thin_check" p.bin
expect_rc 1 "thin_check, 20 devices, one count lowered"
grep -q "DATA_BAD_COUNT, data block $b: .*expected \([0-9]*\), space map has " run.err ||
	{ _show_run; fail "lowered count of block $b not reported"; }

# --- nibble counts overflowing: one device, data block 7 mapped at 40 addresses
{
	echo '<superblock uuid="" time="0" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="100">'
	echo '  <device dev_id="0" mapped_blocks="42" transaction="0" creation_time="0" snap_time="0">'
	i=0
	while [ $i -lt 40 ]; do
		echo "    <single_mapping origin_block=\"$i\" data_block=\"7\" time=\"0\"/>"
		i=$((i + 1))
	done
	echo '    <range_mapping origin_begin="40" data_begin="8" length="2" time="0"/>'
	echo '  </device>'
	echo '</superblock>'
} >n.xml
zero_file n.bin 1024
"$BIN/thin_restore" -q -i n.xml -o n.bin || fail "thin_restore (one block mapped 40 times)"
run "$BIN/thin_check" n.bin
expect_rc 0 "thin_check, a count of 40 in a one-device pool"
"$TT/thin_damage" n.bin drop-data-ref 7 || fail "thin_damage drop-data-ref 7"
run "$BIN/thin_check" n.bin
expect_rc 1 "thin_check, the count of 40 lowered"
grep -q "DATA_BAD_COUNT, data block 7: .*expected 40, space map has 39" run.err ||
	{ _show_run; fail "count 40 -> 39 of block 7 not reported"; }
exit 0

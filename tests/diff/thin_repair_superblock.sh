#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Differential test of thin_repair against thin-provisioning-tools 1.1 on a lost superblock:
# the superblock of a pool is zeroed (or filled with garbage) and both thin_repairs rebuild
# the pool from a scan of every block, given --transaction-id, --data-block-size and
# --nr-data-blocks (and given only --data-block-size, the one 1.1 requires).
#  - both must exit 0;
#  - our output must pass our thin_check and 1.1's thin_check;
#  - the device ids and the mappings (device, virtual block, data block, time) of our
#    output's dump must equal those of 1.1's output's dump.
# kernel-deleted is a pool the kernel wrote: its freed blocks hold stale copies of the trees
# (device 1, since deleted, among them) that neither repair may take.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_repair thin_dump thin_check
require_tpt 1.1
[ -x "$TT/thin_damage" ] || skip "test tool thin_damage not built"

nfail=0

# sb_case NAME FIXTURE zero|garbage OPTIONS...
sb_case() {
	name=$1 fx=$2 how=$3
	shift 3
	bad=0
	fixture "$fx" p.bin
	case $how in
	zero) "$TT/thin_damage" p.bin zero-block 0 || fail "thin_damage failed" ;;
	garbage) yes "not a superblock" | head -c 4096 | dd of=p.bin conv=notrunc status=none ||
		fail "cannot write garbage" ;;
	esac
	size=$(wc -c <p.bin)
	rm -f ours.bin ref.bin
	truncate -s "$size" ours.bin ref.bin
	if ! "$BIN/thin_repair" -q "$@" -i p.bin -o ours.bin >ours.err 2>&1; then
		echo "DIFF: $name: our thin_repair fails: $(head -n 1 ours.err)"
		nfail=$((nfail + 1))
		return
	fi
	if ! "$TPT11" thin_repair "$@" -i p.bin -o ref.bin >ref.err 2>&1; then
		echo "DIFF: $name: 1.1 thin_repair fails (ours succeeds): $(head -n 1 ref.err)"
		nfail=$((nfail + 1))
		return
	fi
	"$BIN/thin_check" -q ours.bin || { echo "DIFF: $name: our thin_check rejects our repair"; bad=1; }
	if ! "$TPT11" thin_check ours.bin >c11.out 2>&1; then
		echo "DIFF: $name: 1.1 thin_check rejects our repair:"
		sed 's/^/  /' c11.out | head -n 5
		bad=1
	fi
	"$BIN/thin_dump" ours.bin >ours.xml 2>/dev/null
	# flat XML for both (1.1's thin_dump writes shared leaves as <def>/<ref>)
	"$BIN/thin_dump" ref.bin >ref.xml 2>/dev/null
	xml_block_map -d ours.xml >ours.map
	xml_block_map -d ref.xml >ref.map
	if ! cmp -s ours.map ref.map; then
		echo "DIFF: $name: devices or mappings differ from 1.1's repair (< ours, > 1.1):"
		diff ours.map ref.map | grep '^[<>]' | head -n 5 | sed 's/^/  /'
		bad=1
	fi
	note "$name: $(grep -c '^dev [0-9]*$' ours.map) devices, $(grep -vc '^dev [0-9]*$' ours.map) mappings, same as 1.1"
	[ "$bad" -eq 0 ] || nfail=$((nfail + 1))
}

all="--transaction-id 8 --data-block-size 128 --nr-data-blocks 1024"
sb_case kernel-zeroed kernel-deleted zero $all
sb_case kernel-garbage kernel-deleted garbage $all
sb_case kernel-zeroed-only-block-size kernel-deleted zero --data-block-size 128
sb_case snaps-zeroed snaps zero --transaction-id 4 --data-block-size 128 --nr-data-blocks 2048
sb_case many-garbage many garbage --transaction-id 64 --data-block-size 128 --nr-data-blocks 100000
sb_case shared-leaves-zeroed shared-leaves zero --data-block-size 128

[ "$nfail" -eq 0 ] || fail "$nfail thin_repair superblock case(s) differ from 1.1"
exit 0

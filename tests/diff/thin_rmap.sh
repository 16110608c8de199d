#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Differential test of thin_rmap against thin-provisioning-tools 0.9.0: stdout byte for byte
# equal, and the same success/failure, on every fixture and on generated pools (multi-level
# trees; many snapshots mapping the same data blocks, so many runs share a data_begin and
# 0.9's unstable std::sort order must be reproduced; shared leaves written by the 1.1
# thin_restore, which 0.9 reports only for the first device reaching them).  Regions: the
# whole data device, single blocks, several disjoint ones, overlapping and adjacent ones (runs
# continue across region boundaries), regions past the end, random ones; and the region
# syntax errors both tools reject.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_rmap
require_tpt 0.9
[ -x "$TT/gen_thin_xml" ] || skip "test tool gen_thin_xml not built"

nfail=0
ncmp=0

# compare IMAGE ARGS...: our thin_rmap vs 0.9's, same arguments (the image last).
compare() { tpt_compare -i -s -m thin_rmap "$@"; }

nr_data_blocks() {
	"$TPT09" thin_dump --skip-mappings "$1" | sed -n '1s/.*nr_data_blocks="\([0-9]*\)".*/\1/p'
}

# check_image IMAGE SEED
check_image() {
	n=$(nr_data_blocks "$1")
	[ -n "$n" ] || fail "cannot read nr_data_blocks of $1"
	compare "$1" --region "0..$n"
	compare "$1" --region "0..$((n + 1000))"
	compare "$1" --region 0..1
	compare "$1" --region "$((n - 1))..$n"
	compare "$1" --region "$n..$((n + 5))"
	h=$((n / 2))
	compare "$1" --region "$h..$((h + 1))" --region "0..$((n / 7 + 1))"
	# adjacent and overlapping regions: runs must continue across the boundaries
	compare "$1" --region "10..20" --region "20..35" --region "30..60"
	compare "$1" --region "$((n / 3))..$((n / 2))" --region "$((n / 4))..$((n / 3 + 3))"
	# random regions
	awk -v n="$n" -v seed="$2" 'BEGIN { srand(seed); for (i = 0; i < 6; i++) {
		k = 1 + int(rand() * 4); s = "";
		for (j = 0; j < k; j++) { b = int(rand() * n); l = 1 + int(rand() * n / 10);
			s = s " --region " b ".." (b + l) }
		print s } }' >regions.txt
	while read -r line; do
		# shellcheck disable=SC2086
		compare "$1" $line
	done <regions.txt
}

# --- fixtures
seed=1
for fx in empty one-thin snaps many needs-check; do
	[ -f "$FIX/thin/$fx.bin.gz" ] || { echo "note: fixture $fx missing"; continue; }
	fixture "$fx" "$fx.bin"
	seed=$((seed + 1))
	check_image "$fx.bin" "$seed"
done

# --- generated pools, 0.9 thin_restore
i=0
for args in "--devices 3 --mappings 40000 --snapshots 4 --change 10 --gap 3 --fragment 5 --seed 11" \
	"--devices 1 --mappings 30000 --snapshots 40 --change 1 --seed 12 --fragment 20" \
	"--devices 20 --mappings 500 --snapshots 30 --change 50 --gap 10 --seed 13" \
	"--devices 2 --mappings 3000 --data-block-size 2097152 --seed 14"; do
	i=$((i + 1))
	# shellcheck disable=SC2086
	"$TT/gen_thin_xml" $args >g$i.xml || fail "gen_thin_xml $args"
	mk_pool g$i.xml g$i.bin 16384
	check_image g$i.bin $((100 + i))
done

# --- shared leaves (1.1 thin_restore of <def>/<ref>)
if [ -n "$TPT11" ] && [ -x "$TPT11" ]; then
	for args in "--devices 3 --mappings 30000 --snapshots 8 --change 5 --gap 2 --fragment 5 --seed 21" \
		"--devices 1 --mappings 20000 --snapshots 25 --change 1 --seed 22 --leaf-entries 100"; do
		i=$((i + 1))
		# shellcheck disable=SC2086
		"$TT/gen_thin_xml" $args --format shared >g$i.xml || fail "gen_thin_xml $args"
		mk_pool11 g$i.xml g$i.bin 16384
		check_image g$i.bin $((100 + i))
	done
else
	echo "note: 1.1 reference absent, shared-leaf pools not tested"
fi

# --- region syntax both tools reject
fixture one-thin bad.bin
for rg in 5..5 6..5 a..b 1,2 89.. 89...99 ..5 -1..2 0x10..0x20 \
	1..18446744073709551616 ""; do
	compare bad.bin --region "$rg"
done
compare bad.bin

note "$ncmp comparisons, $nfail differences"
[ "$nfail" -eq 0 ] || exit 1
[ "$ncmp" -gt 100 ] || fail "only $ncmp comparisons ran"
exit 0

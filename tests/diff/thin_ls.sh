#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Differential test of thin_ls against thin-provisioning-tools 0.9.0: stdout byte for byte
# equal, and the same success/failure, on every fixture and on generated pools
# (multi-level mapping trees, snapshots sharing data blocks, shared leaves written by the
# 1.1 thin_restore from <def>/<ref> XML, block sizes that exercise every human-size unit,
# a metadata snapshot for -m); default columns, --no-headers, every field alone, all fields,
# field lists with repeats and a trailing comma, and fields that 0.9 rejects.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_ls
require_tpt 0.9
[ -x "$TT/gen_thin_xml" ] || skip "test tool gen_thin_xml not built"

FIELDS="DEV MAPPED_BLOCKS EXCLUSIVE_BLOCKS SHARED_BLOCKS MAPPED_SECTORS EXCLUSIVE_SECTORS
SHARED_SECTORS MAPPED_BYTES EXCLUSIVE_BYTES SHARED_BYTES MAPPED EXCLUSIVE SHARED TRANSACTION
CREATE_TIME SNAP_TIME"
ALL=$(echo $FIELDS | tr ' ' ',')

nfail=0
ncmp=0

# compare IMAGE ARGS...: our thin_ls vs 0.9's, same arguments (the image last).
compare() { tpt_compare -i -s -m thin_ls "$@"; }

check_image() {
	compare "$1"
	compare "$1" --no-headers
	compare "$1" -o "$ALL"
	compare "$1" --no-headers -o "$ALL"
	for f in $FIELDS; do
		compare "$1" -o "$f"
	done
	compare "$1" -o SHARED,DEV,SHARED,EXCLUSIVE_BLOCKS,
	compare "$1" --format=SNAP_TIME,MAPPED_SECTORS --no-headers
	compare "$1" -o DEV -o TRANSACTION,EXCLUSIVE
}

# --- fixtures
for fx in empty one-thin snaps many needs-check; do
	[ -f "$FIX/thin/$fx.bin.gz" ] || { echo "note: fixture $fx missing"; continue; }
	fixture "$fx" "$fx.bin"
	check_image "$fx.bin"
done

# --- generated pools, 0.9 thin_restore (multi-level trees, snapshots share data blocks)
i=0
for args in "--devices 3 --mappings 40000 --snapshots 4 --change 10 --gap 3 --fragment 5 --seed 11" \
	"--devices 1 --mappings 70000 --snapshots 9 --change 2 --seed 12 --fragment 20" \
	"--devices 20 --mappings 500 --snapshots 30 --change 50 --gap 10 --seed 13" \
	"--devices 2 --mappings 3000 --data-block-size 2097152 --seed 14" \
	"--devices 2 --mappings 3000 --data-block-size 384 --snapshots 2 --seed 15" \
	"--devices 4 --mappings 20 --data-block-size 128 --snapshots 3 --change 30 --seed 16"; do
	i=$((i + 1))
	# shellcheck disable=SC2086
	"$TT/gen_thin_xml" $args >g$i.xml || fail "gen_thin_xml $args"
	mk_pool g$i.xml g$i.bin 16384
	check_image g$i.bin
done

# --- shared leaves (1.1 thin_restore of <def>/<ref>)
if [ -n "$TPT11" ] && [ -x "$TPT11" ]; then
	for args in "--devices 3 --mappings 30000 --snapshots 8 --change 5 --gap 2 --fragment 5 --seed 21" \
		"--devices 1 --mappings 20000 --snapshots 12 --change 1 --seed 22 --leaf-entries 100"; do
		i=$((i + 1))
		# shellcheck disable=SC2086
		"$TT/gen_thin_xml" $args --format shared >g$i.xml || fail "gen_thin_xml $args"
		mk_pool11 g$i.xml g$i.bin 16384
		check_image g$i.bin
	done
else
	echo "note: 1.1 reference absent, shared-leaf pools not tested"
fi

# --- metadata snapshot (-m); without one both tools must fail
if [ -x "$TT/thin_damage" ]; then
	fixture snaps held.bin
	"$TT/thin_damage" held.bin hold-root >/dev/null || fail "thin_damage hold-root"
	compare held.bin -m
	compare held.bin -m -o "$ALL"
	compare held.bin --metadata-snap -o "$ALL" --no-headers
fi
fixture snaps nosnap.bin
compare nosnap.bin -m

# --- rejected field lists: both must fail
fixture one-thin bad.bin
for spec in FOO dev ,DEV DEV,,MAPPED "DEV MAPPED" LOWEST_BLOCK; do
	compare bad.bin -o "$spec"
done

# --- HIGHEST_BLOCK is tpt 1.x's field (0.9 has none): stdout equal to 1.1's
if [ -n "$TPT11" ] && [ -x "$TPT11" ]; then
	for f in one-thin many shared-leaves snaps empty; do
		fixture $f hb.bin
		ncmp=$((ncmp + 1))
		"$TPT11" thin_ls -o DEV,HIGHEST_BLOCK,MAPPED_BLOCKS hb.bin >hb.want 2>/dev/null
		"$BIN/thin_ls" -o DEV,HIGHEST_BLOCK,MAPPED_BLOCKS hb.bin >hb.got 2>&1
		if ! cmp -s hb.want hb.got; then
			nfail=$((nfail + 1))
			note "DIFF: thin_ls -o DEV,HIGHEST_BLOCK,MAPPED_BLOCKS on $f differs from 1.1"
		fi
	done
fi

note "$ncmp comparisons, $nfail differences"
[ "$nfail" -eq 0 ] || exit 1
[ "$ncmp" -gt 100 ] || fail "only $ncmp comparisons ran"
exit 0

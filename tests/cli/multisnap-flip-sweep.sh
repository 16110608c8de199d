#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# asan: check-long
#
# No tool crashes on a byte flip of a shared store: for each type this build has, a small
# store (snapshots, a sub-snapshot on mikulas, a delete) is made by snap_message; then in
# every 4 KiB block of it that is not all zeros, one byte at each of several offsets is
# flipped (0xff xor), and snap_check, snap_dump and snap_message create run on the
# result: each must end with exit 0, 1 or 3 (never a signal, a sanitizer's 99, or 2).
# Only the exit codes are judged (a flip in unused bytes may well pass the check); that
# every flip of a checksummed block is found is the store types' unit tests' job.
# MS_TYPES narrows the types; FLIP_OFFSETS the offsets in each block.
# Exit 0 pass, 1 fail, 77 skip.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool snap_message snap_check snap_dump

OFFSETS=${FLIP_OFFSETS:-0 4 8 12 16 24 32 40 64 100 1000 4095}

# judge TOOL RC WHAT
judge() {
	case $2 in
	0 | 1 | 3) ;;
	*) fail "$1 exit $2 on $3: $(head -3 run.err)" ;;
	esac
}

ran=0
runs=0
for type in ${MS_TYPES:-mikulas daniel}; do
	case $type in mikulas) cs=8 ;; daniel) cs=32 ;; esac
	rm -f base.img
	truncate -s 16777216 base.img
	run "$BIN/snap_message" --type $type --chunk-size $cs base.img create
	if grep -q "this build has no $type store" run.err; then
		note "$type: not in this build, skipped"
		continue
	fi
	expect_rc 0 "$type: a new store"
	ran=$((ran + 1))
	for m in create create "delete 0" create; do
		# shellcheck disable=SC2086
		"$BIN/snap_message" -q base.img $m || fail "$type: $m"
	done
	[ $type = mikulas ] && { "$BIN/snap_message" -q base.img create_subsnap 1 || fail "mikulas: create_subsnap"; }
	run "$BIN/snap_check" base.img
	expect_rc 0 "$type: the base store checks clean"
	# the blocks in use: those that are not all zeros
	blocks=$(od -An -v -tx1 -w4096 base.img | awk '{ for (i = 1; i <= NF; i++) if ($i != "00") { print NR - 1; next } }')
	nb=0
	for b in $blocks; do
		nb=$((nb + 1))
		for off in $OFFSETS; do
			cp base.img t.img
			pos=$((b * 4096 + off))
			byte=$(od -An -tu1 -j $pos -N1 base.img | tr -d ' ')
			printf "$(printf '\\%03o' $((byte ^ 255)))" | dd of=t.img bs=1 seek=$pos conv=notrunc 2>/dev/null
			run "$BIN/snap_check" t.img
			judge snap_check $rc "$type block $b +$off"
			new=0
			grep -q '^new (zeroed header' run.out && new=1
			run "$BIN/snap_dump" t.img
			judge snap_dump $rc "$type block $b +$off"
			run "$BIN/snap_message" -q t.img create
			# a flip that clears the only magic leaves a "new" store: without --type that
			# is a usage error
			[ $new = 1 ] && [ $rc = 2 ] && rc=0
			judge snap_message $rc "$type block $b +$off"
			runs=$((runs + 3))
		done
	done
	note "$type: $nb blocks in use, flips at $(echo $OFFSETS | wc -w) offsets each"
done
[ $ran -gt 0 ] || skip "this build has neither a mikulas nor a daniel store"
echo "multisnap flip sweep: $runs tool runs, none crashed"
exit 0

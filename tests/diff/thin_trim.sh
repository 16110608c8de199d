#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Differential test of thin_trim against thin-provisioning-tools 1.1, on image files.  1.1
# discards with BLKDISCARD only, so on a file it can only be compared up to that point: its
# verdict on the metadata and the data device's size (the discards themselves are compared
# on block devices in tests/kernel/thin-trim.sh).  For each case both run on copies:
#   clean, needs_check set: both accept the metadata (1.1 then fails at the ioctl on a file:
#                 "Inappropriate ioctl"); ours punches the holes;
#   drop-data-ref (a used block counted free), a bad mapping leaf: both refuse; neither
#                 changes a byte of the data image;
#   a data image one byte short: both refuse, untouched;
#   leak-data (a free block counted used): 1.1 refuses, ours trims and keeps the leaked
#                 block (a documented difference: man/thin_trim.8, NOTES).
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_trim
require_tpt 1.1
[ -x "$TT/thin_damage" ] || skip "tests/tools/thin_damage not built"

nfail=0
bad() {
	echo "DIFF: $*"
	nfail=$((nfail + 1))
}

# case NAME DAMAGE-OP [ARG-FINDER] SHORT: make m.bin/d.bin, run both; sets ours/theirs
# (exit statuses), o_same/t_same (1 when the data image is unchanged), t_msg (1.1's last line)
setup() {
	gzip -dc "$FIX/thin/snaps.bin.gz" >m.bin || fail "no snaps fixture"
	yes 'dmmeta diff trim' | head -c 134217728 >orig.bin
	[ "${2:-}" = short ] && truncate -s -1 orig.bin
	case $1 in
	clean) ;;
	needs-check) "$TT/thin_damage" m.bin set-needs-check >/dev/null || fail "thin_damage set-needs-check" ;;
	drop) "$TT/thin_damage" m.bin drop-data-ref "$("$TT/thin_damage" m.bin find used-data 3)" >/dev/null ||
		fail "thin_damage drop-data-ref" ;;
	leaf) "$TT/thin_damage" m.bin flip-csum "$("$TT/thin_damage" m.bin find leaf 2)" >/dev/null ||
		fail "thin_damage flip-csum" ;;
	leak) "$TT/thin_damage" m.bin leak-data "$("$TT/thin_damage" m.bin find free-data 100)" >/dev/null ||
		fail "thin_damage leak-data" ;;
	esac
}
both() {
	setup "$@"
	cp m.bin m1.bin && cp orig.bin d1.bin && cp m.bin m2.bin && cp orig.bin d2.bin ||
		fail "cannot copy the images"
	"$BIN/thin_trim" -q --metadata-dev m1.bin --data-dev d1.bin
	ours=$?
	"$TPT11" thin_trim --metadata-dev m2.bin --data-dev d2.bin >t.out 2>&1
	theirs=$?
	t_msg=$(tail -n 1 t.out)
	cmp -s orig.bin d1.bin && o_same=1 || o_same=0
	cmp -s orig.bin d2.bin && t_same=1 || t_same=0
}

for c in clean needs-check; do
	both $c
	[ "$ours" = 0 ] || bad "$c: ours exit $ours, want 0"
	[ "$o_same" = 0 ] || bad "$c: ours left the data image unchanged (no hole punched)"
	case $t_msg in *"Inappropriate ioctl"*) ;; *) bad "$c: 1.1 did not get past its check: '$t_msg'" ;; esac
	[ "$t_same" = 1 ] || bad "$c: 1.1 changed the data image"
	echo "ok: $c: both accept the metadata (1.1 then: $t_msg)"
done
for c in drop leaf; do
	both $c
	[ "$ours" = 1 ] || bad "$c: ours exit $ours, want 1 (refused)"
	[ "$theirs" != 0 ] || bad "$c: 1.1 accepted damaged metadata"
	case $t_msg in *"Inappropriate ioctl"*) bad "$c: 1.1 got past its check" ;; esac
	[ "$o_same$t_same" = 11 ] || bad "$c: a data image changed (ours $o_same, 1.1 $t_same; 1 = unchanged)"
	echo "ok: $c: both refuse (1.1: $t_msg)"
done
both clean short
[ "$ours" = 3 ] || bad "short data image: ours exit $ours, want 3"
case $t_msg in *"unexpected data device size"*) ;; *) bad "short data image: 1.1 says '$t_msg'" ;; esac
[ "$o_same$t_same" = 11 ] || bad "short data image: a data image changed"
echo "ok: a short data image: both refuse (1.1: $t_msg)"
both leak
[ "$ours" = 0 ] && [ "$o_same" = 0 ] || bad "leak: ours exit $ours (want 0, holes punched)"
[ "$theirs" != 0 ] && [ "$t_same" = 1 ] || bad "leak: 1.1 no longer refuses a leaked data block: update man/thin_trim.8"
echo "ok: leaked data block: ours trims, 1.1 refuses ($t_msg) — the documented difference"

[ "$nfail" = 0 ] || exit 1
exit 0

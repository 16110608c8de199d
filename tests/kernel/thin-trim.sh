#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# thin_trim and the kernel: three pools the 6.1 kernel wrote (on virtio disks backed by
# image files, discard=unmap: a discard in the guest punches the host file) get the same
# writes, a snapshot, a delete (20 blocks freed with their bytes still there), a held
# metadata snapshot and the delete of a device only it still maps.  One VM boot
# (guest/thin-trim.sh): thin_trim is refused on pool a while it is active; then, with the
# pools torn down, our thin_trim trims a's data device (BLKDISCARD on /dev/vdb), tpt 1.1's
# thin_trim b's (when the host has 1.1), c is left; a and b are activated again.
# Host checks:
#   - the live trim was refused (exit 3), the offline one exited 0;
#   - a-data.img: holes exactly at the blocks neither thin_dump nor thin_dump -m maps,
#     data at every block they map (the held snapshot's blocks kept);
#   - c-data.img (not trimmed) still holds data at some free block (the discards were
#     thin_trim's, not the kernel's);
#   - b-data.img (tpt 1.1) has the same holes as a-data.img;
#   - thin 0 of a and b reads the same md5 after the trim as before (then the kernel
#     writes one more block of a, allocated from the trimmed pool);
#   - our thin_check and 1.1's/0.9's accept every metadata image.
# Exit 0 pass, 1 fail, 77 skip.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"
. "$SRCDIR/tests/kernel/lib/kernel.sh"

require_tool thin_trim thin_dump thin_check
k_require_vm

k_guest_tools thin_trim
if [ -n "$TPT11" ]; then
	cp "$TPT11" gt/pdata_tools || fail "cannot copy $TPT11"
	for l in $(ldd "$TPT11" | sed -n 's/.*=> *\(\/[^ ]*\) .*/\1/p'); do
		[ -e "gt/${l##*/}" ] || cp -L "$l" gt/ || fail "cannot copy $l"
	done
	K_FILES=$(ls -d gt/*)
else
	note "no tpt 1.1 reference: its thin_trim is not compared"
fi

for p in a b c; do
	zero_file $p-meta.img 1024     # 4 MiB
	zero_file $p-data.img 4096     # 16 MiB: 256 blocks
done

k_guest thin-trim.sh a-meta.img a-data.img b-meta.img b-data.img c-meta.img c-data.img

# holes IMG: one line per 64 KiB block of IMG, "hole" or "data" (SEEK_HOLE/SEEK_DATA)
holes() {
	perl -e 'open(my $f, "<", $ARGV[0]) or die "$ARGV[0]: $!\n"; my $s = -s $f;
		for (my $o = 0; $o < $s; $o += 65536) {
			my $d = sysseek($f, $o, 3);
			print((defined $d && $d < $o + 65536) ? "data\n" : "hole\n");
		}' "$1"
}
# used META: the data blocks thin_dump and thin_dump -m map, one per line, sorted
used() {
	{ "$BIN/thin_dump" "$1"; "$BIN/thin_dump" -m "$1"; } | k_thin_map /dev/stdin |
		awk '{ print $3 }' | sort -u
}

[ "$(sed -n 's/^LIVE //p' guest.out)" = 3 ] ||
	k_bad "thin_trim on an active pool: exit '$(sed -n 's/^LIVE //p' guest.out)', want 3 (refused)"
ta=$(sed -n 's/^TRIM a //p' guest.out)
case $ta in 0\ discarded*) note "ours: $ta" ;; *) k_bad "our thin_trim in the guest: '$ta'" ;; esac

used a-meta.img >a.used
[ -s a.used ] || k_bad "a: thin_dump maps no data block"
holes a-data.img >a.holes
[ "$(wc -l <a.holes)" = 256 ] || k_bad "a-data.img: $(wc -l <a.holes) blocks, want 256"
awk 'NR == FNR { u[$1 + 1] = 1; next }
     (FNR in u) && $1 == "hole" { print "used block " FNR - 1 " is a hole" }
     !(FNR in u) && $1 == "data" { print "free block " FNR - 1 " is not a hole" }' a.used a.holes >a.bad
[ -s a.bad ] && { head -n 5 a.bad >&2; k_bad "a: the holes are not exactly at the free blocks"; }
note "a: $(wc -l <a.used) used blocks, $(grep -c hole a.holes) holes"

holes c-data.img >c.holes
used c-meta.img >c.used
awk 'NR == FNR { u[$1 + 1] = 1; next } !(FNR in u) && $1 == "data" { n++ } END { exit !n }' \
	c.used c.holes || k_bad "c (not trimmed): no free block holds data (did the kernel discard them itself?)"
[ -z "$(comm -23 c.used a.used)" ] ||
	k_bad "a and c: the kernel mapped different blocks (scenario not deterministic)"

tb=$(sed -n 's/^TRIM b //p' guest.out)
case $tb in
skip) ;;
0*)
	holes b-data.img >b.holes
	if cmp -s a.holes b.holes; then
		note "tpt 1.1 thin_trim: the same holes"
	else
		k_bad "b: tpt 1.1's thin_trim left other holes than ours"
	fi ;;
*) k_bad "tpt 1.1 thin_trim in the guest: '$tb'" ;;
esac

h() { sed -n "s/^HASH $1 $2 $3 //p" guest.out; }
for p in a b; do
	[ -n "$(h 0 $p 0)" ] && [ "$(h 1 $p 0)" = "$(h 0 $p 0)" ] ||
		k_bad "$p: thin 0 reads '$(h 1 $p 0)' after the trim, '$(h 0 $p 0)' before"
done

for img in a-meta.img b-meta.img c-meta.img; do
	run "$BIN/thin_check" "$img"
	[ "$rc" = 0 ] || { _show_run; k_bad "$img: our thin_check exit $rc"; }
	for t in "$TPT11" "$TPT09"; do
		[ -n "$t" ] || continue
		"$t" thin_check "$img" >tc.out 2>&1 || { cat tc.out >&2; k_bad "$img: $t thin_check rejects it"; }
	done
done
k_finish

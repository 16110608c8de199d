#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# thin_merge and the kernel.  One VM boot (guest/thin-merge.sh): the 6.1 kernel writes two
# pools the same way (origin 0 written, snapshot 1 taken, both written after, sharing
# broken both ways) and, in pool a, a thin 2 with an external origin (an 8 MiB disk holding
# the host's pattern) written partially (the kernel copies the origin's bytes) and at its end.
# thin_merge is refused while pool a is active.  With the pools torn down, in the guest:
# a's origin 0 is rolled back to 1 (1 removed), a's thin 2 merged into its origin disk with
# --delete, b's origin rolled back to 1 with --keep-snapshot.  Then the kernel again.
# Host checks:
#   - thin_merge on the active pool exits 3; every offline run exits 0;
#   - a: thin 0 reads what snapshot 1 read; devices 1 and 2 are gone (delete refused);
#   - the origin disk after the merge reads what the kernel's thin 2 read;
#   - b: both thins read what snapshot 1 read; the kernel's writes to each (blocks the
#     rollback left shared) land apart;
#   - after the kernel's writes, each thin rebuilt from thin_dump's mappings reads what the
#     kernel read, and our thin_check and tpt 1.1's/0.9's accept both pools.
# Exit 0 pass, 1 fail, 77 skip.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"
. "$SRCDIR/tests/kernel/lib/kernel.sh"

require_tool thin_merge thin_check thin_dump
k_require_vm
k_guest_tools thin_merge

for p in a b; do
	zero_file $p-meta.img 1024     # 4 MiB
	zero_file $p-data.img 4096     # 16 MiB: 256 blocks
done
yes 'dmmeta external origin image' | head -c 8388608 >origin.img
cp origin.img origin0.img

k_guest thin-merge.sh a-meta.img a-data.img b-meta.img b-data.img origin.img

h() { sed -n "s/^HASH $1 //p" guest.out; }
rc() { sed -n "s/^RC $1 //p" guest.out; }

[ "$(rc live)" = 3 ] || k_bad "thin_merge on an active pool: exit '$(rc live)', want 3"
for r in a-rollback a-merge b-rollback; do
	[ "$(rc $r)" = 0 ] || k_bad "$r: thin_merge exit '$(rc $r)', want 0"
done
[ -n "$(h a-snap)" ] && [ "$(h a-snap)" != "$(h a-origin)" ] || k_bad "a: the snapshot and the origin read the same (scenario broken)"
[ "$(h a-after)" = "$(h a-snap)" ] || k_bad "a: thin 0 reads $(h a-after) after the rollback, the snapshot read $(h a-snap)"
[ "$(rc a-delete-1)" != 0 ] || k_bad "a: device 1 was still there after the rollback"
[ "$(rc a-delete-2)" != 0 ] || k_bad "a: device 2 was still there after the merge with --delete"
[ "$(h a-written)" != "$(h a-after)" ] || k_bad "a: the kernel's write to thin 0 after the rollback changed nothing"
[ -n "$(h a-ext)" ] && [ "$(h vde)" = "$(h a-ext)" ] || k_bad "the origin disk reads $(h vde) after the merge, the kernel's thin 2 read $(h a-ext)"
[ "$(md5sum <origin.img | cut -d' ' -f1)" = "$(h a-ext)" ] || k_bad "origin.img on the host is not the kernel's thin 2"
cmp -s origin.img origin0.img && k_bad "origin.img unchanged by the merge"

[ "$(h b-after0)" = "$(h b-snap)" ] && [ "$(h b-after1)" = "$(h b-snap)" ] ||
	k_bad "b: after the rollback with --keep-snapshot thin 0 reads $(h b-after0), thin 1 $(h b-after1), the snapshot read $(h b-snap)"
[ "$(h b-written0)" != "$(h b-snap)" ] && [ "$(h b-written1)" != "$(h b-snap)" ] &&
	[ "$(h b-written0)" != "$(h b-written1)" ] || k_bad "b: the kernel's writes after the rollback did not land apart"

# on the host: each thin rebuilt from thin_dump's mappings reads what the kernel read
thin_dump_map() { "$BIN/thin_dump" "$1" >"$1.xml" && k_thin_map "$1.xml"; }
thin_dump_map b-meta.img >b.map || k_bad "b: thin_dump fails"
for d in 0 1; do
	got=$(k_vdev_hash b.map $d b-data.img 128 128)
	[ "$got" = "$(h b-written$d)" ] || k_bad "b: thin $d rebuilt from thin_dump's mappings: $got, the kernel read $(h b-written$d)"
done
thin_dump_map a-meta.img >a.map || k_bad "a: thin_dump fails"
[ "$(k_vdev_hash a.map 0 a-data.img 128 128)" = "$(h a-written)" ] || k_bad "a: thin 0 rebuilt from thin_dump's mappings differs from what the kernel read"
awk '$1 != 0 { bad = 1 } END { exit bad }' a.map || k_bad "a: thin_dump still maps devices other than 0"

for img in a-meta.img b-meta.img; do
	run "$BIN/thin_check" "$img"
	[ "$rc" = 0 ] || { _show_run; k_bad "$img: our thin_check exit $rc"; }
	for t in "$TPT11" "$TPT09"; do
		[ -n "$t" ] || continue
		"$t" thin_check "$img" >tc.out 2>&1 || { cat tc.out >&2; k_bad "$img: $t thin_check rejects it"; }
	done
done
k_finish

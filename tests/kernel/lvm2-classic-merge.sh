#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# An LVM classic snapshot merged offline by snap_merge, confirmed by lvconvert --merge on a
# twin.  Exit 0 pass, 1 fail, 77 skip.
#
# One VM boot (guest/lvm2-classic-merge.sh) with Debian's lvm2 (lib/fetch-lvm2) and ext4:
# vg1/lv, 16 MiB of ext4 with files, a classic snapshot of it (lvcreate -s, chunk 8 KiB,
# a COW of 8 MiB; the changes use ~1 MiB of it),
# files changed through both (mounted together), both unmounted and deactivated.  Twins of
# the same geometry in vg2 and vg3 get vg1's origin and COW data (copied raw through
# devices made from lvm2's metadata alone: lvs --segments -o seg_pe_ranges, pe_start,
# extent size).  Then three merges of the same snapshot:
#   vg1  snap_merge(8)'s recipe: lvconvert --splitsnapshot, lvchange -ay of origin and the
#        split-off COW, snap_check, snap_merge, lvremove of the split-off LV;
#   vg3  snap_merge on the devices made from the metadata (lvm2 untouched), then lvremove
#        of the snapshot while the origin is inactive (metadata only);
#   vg2  lvconvert --merge with the origin active (the kernel's snapshot-merge target).
# On the host:
#   - the tables made from lvm2's metadata are the tables lvm2 itself loads for -real and
#     -cow;
#   - snap_merge refuses (status 3) an origin that is mounted, store untouched;
#   - after --splitsnapshot the snapshot is a plain linear LV; neither lvremove (vg1's
#     split-off LV, vg3's snapshot of an inactive origin) changes the origin's bytes;
#   - each merged origin: e2fsck -fn clean, its files exactly the snapshot's (paths and
#     md5s taken through the snapshot before), its bytes those of the snapshot device then;
#     vg1's and vg3's byte-equal to vg2's (cmp);
#   - lvs lists only the three origins at the end.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"
. "$SRCDIR/tests/kernel/lib/kernel.sh"

require_tool snap_merge snap_check
k_require_vm
# Each lvm2 command takes seconds under TCG: the guest needs 50-80 s on an idle host, and
# was seen at 2.4 times that with the load at 13 on 2 cores.  Up to 270 s (the runner stops
# a case at TEST_TIMEOUT, 300 s).
: "${DMMETA_GUEST_TIMEOUT:=270}"
export DMMETA_GUEST_TIMEOUT
k_guest_tools snap_merge snap_check
k_lvm2_files ext4
note "lvm2 $K_LVM2_VERSION (Debian bookworm)"
zero_file pv1.img 16384         # 64 MiB each
zero_file pv2.img 16384
zero_file pv3.img 16384
k_guest lvm2-classic-merge.sh pv1.img pv2.img pv3.img

grep -q '^GUEST-SECONDS' guest.out || fail "the guest did not finish"
note "guest: $(grep '^GUEST-SECONDS' guest.out)"
if grep -q '^CALL ' guest.out; then
	note "lvm2's calls to dmmeta's tools:"
	sed -n 's/^CALL /  /p' guest.out
fi

# The tables made from lvm2's metadata = lvm2's own.
for v in vg1 vg2 vg3; do
	for p in "lv lv-real" "snap snap-cow"; do
		set -- $p
		a=$(sed -n "s/^ACTIVE-TABLE $v $2 //p" guest.out)
		r=$(sed -n "s/^RECIPE-TABLE $v $1 //p" guest.out)
		note "$v/$1: lvm2 loaded '$a', lv_table gives '$r'"
		[ -n "$a" ] && [ "$a" = "$r" ] || k_bad "$v/$1: lv_table's table '$r' is not lvm2's '$a'"
	done
done
# vg1: after --splitsnapshot the snapshot is a plain LV; lvremove leaves the origin alone.
grep -q '^LVS vg1-split vg1,snap,linear,16384S,,,' guest.out ||
	k_bad "after lvconvert --splitsnapshot: $(sed -n 's/^LVS vg1-split //p' guest.out | tr '\n' ';') (expected snap as a plain linear LV)"
set -- $(sed -n 's/^MOUNTED-MERGE //p' guest.out)
[ "${1:-}" = 3 ] || k_bad "snap_merge with the origin mounted: status '${1:-}', expected 3 (in use)"
[ -n "${2:-}" ] && [ "${2:-}" = "$(sed -n 's/^SPLIT-COW //p' guest.out)" ] ||
	k_bad "snap_merge with the origin mounted changed the store"
a=$(sed -n 's/^MERGED-BEFORE-LVREMOVE vg1 //p' guest.out)
b=$(sed -n 's/^MERGED vg1 //p' guest.out)
[ -n "$a" ] && [ "$a" = "$b" ] || k_bad "vg1: lvremove of the split-off snapshot changed the origin ($a -> $b)"
# vg3: lvremove of the snapshot while the origin is inactive changes metadata only.
a=$(sed -n 's/^REAL-HASH vg3 after-merge //p' guest.out)
b=$(sed -n 's/^REAL-HASH vg3 after-lvremove //p' guest.out)
c=$(sed -n 's/^REAL-HASH vg3 before-merge //p' guest.out)
[ -n "$a" ] && [ "$a" = "$b" ] || k_bad "vg3: lvremove of the snapshot changed the inactive origin ($a -> $b)"
[ -n "$c" ] && [ "$c" != "$a" ] || k_bad "vg3: snap_merge did not change the origin ($c -> $a)"

sed -n 's/^SNAPFILE //p' guest.out >snap.files
sed -n 's/^ORIGFILE //p' guest.out >orig.files
[ "$(wc -l <snap.files)" -gt 10 ] || k_bad "only $(wc -l <snap.files) files listed on the snapshot"
cmp -s snap.files orig.files && k_bad "origin and snapshot held the same files before the merge (the changes were lost)"
snapdev=$(sed -n 's/^SNAPDEV //p' guest.out)
for v in vg1 vg2 vg3; do
	sed -n "s/^MERGEDFILE $v //p" guest.out >merged.$v
	cmp -s snap.files merged.$v ||
		k_bad "$v: the merged origin's files differ from the snapshot's: $(diff snap.files merged.$v | grep '^[<>]' | head -n 6 | tr '\n' ';')"
	[ "$(sed -n "s/^FSCK $v //p" guest.out)" = 0 ] || k_bad "$v: e2fsck -fn of the merged origin: status $(sed -n "s/^FSCK $v //p" guest.out)"
	m=$(sed -n "s/^MERGED $v //p" guest.out)
	[ -n "$m" ] && [ "$m" = "$snapdev" ] || k_bad "$v: the merged origin reads $m, the snapshot read $snapdev"
done
[ "$(sed -n 's/^LVS merged \([^,]*,[^,]*\),.*/\1/p' guest.out | tr '\n' ' ')" = "vg1,lv vg2,lv vg3,lv " ] ||
	k_bad "lvs after the merges: $(sed -n 's/^LVS merged //p' guest.out | tr '\n' ';') (expected lv in vg1, vg2, vg3 only)"
for v in vg1 vg3; do
	grep -qx "CMP $v same" guest.out || k_bad "the offline merge ($v) and lvconvert --merge (vg2) differ (cmp)"
done
k_finish

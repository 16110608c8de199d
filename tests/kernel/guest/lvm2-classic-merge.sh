# SPDX-License-Identifier: GPL-2.0-only
# Guest half of tests/kernel/lvm2-classic-merge.sh (runs in the VM; see that file).
# Disks: vda, vdb, vdc = PVs of vg1 (ext4 LV and its snapshot, merged by our snap_merge
# after lvconvert --splitsnapshot), vg2 (a twin merged by the kernel: lvconvert --merge)
# and vg3 (a twin merged by snap_merge on devices made from lvm2's metadata, lvm2 told
# afterwards).  /guest holds Debian's lvm, mke2fs,
# e2fsck (and their libraries), the ext4 modules, our snap_merge and snap_check.
# Output lines for the host:
#   ACTIVE-TABLE VG LV TABLE         the table lvm2 loaded for LV's -real / -cow device
#   RECIPE-TABLE VG LV TABLE         the same, computed from lvm2's metadata alone (lv_table)
#   SNAPFILE PATH MD5 / ORIGFILE ... the snapshot's (origin's) files before the merge
#   SNAPDEV MD5 / ORIGDEV MD5        md5 of the whole snapshot / origin device then
#   REAL-HASH VG STEP MD5            md5 of VG's origin data (through lv_table's table)
#   MOUNTED-MERGE RC MD5             snap_merge's status with vg1/lv mounted, md5 of the COW
#   SPLIT-COW MD5                    md5 of the split-off COW LV (after the refused merge)
#   MERGED-BEFORE-LVREMOVE VG MD5    md5 of vg1/lv between snap_merge and lvremove
#   MERGED VG MD5                    md5 of VG's origin LV after its merge
#   CMP VG same|differ               VG/lv against vg2/lv (cmp)
#   MERGEDFILE VG PATH MD5           the files on it, mounted
#   FSCK VG RC                       e2fsck -fn's status on it
#   LVS STEP ...                     lvs after a step
set -u
. /guest/lib.sh
. /guest/guest-lvm2.sh
g_tools
lvm2_setup
# busybox runs its own mke2fs applet for a bare "mke2fs": the full paths are used.
lvm2_ext4
t0=$(date +%s)

# lv_table VG LV: the device-mapper table of LV's own (linear) data, from lvm2's metadata
# alone: each segment -> "START SIZE linear PV PE_START + FIRST_PE * EXTENT_SIZE".  For an
# origin that is the -real device lvm2 would load, for a classic snapshot its -cow device.
lv_table() {
	es=$(lvm vgs --noheadings --units s --nosuffix -o vg_extent_size "$1" | tr -d ' ')
	lvm lvs --noheadings --segments --units s --nosuffix \
		-o seg_start,seg_size,seg_pe_ranges,segtype "$1/$2" |
		while read -r start size ranges type; do
			case $type in linear|snapshot) ;; *) echo "GUEST-FAIL: $1/$2 has a $type segment"; exit 1 ;; esac
			pv=${ranges%%:*}
			pe=${ranges#*:}
			pe=${pe%%-*}
			ps=$(lvm pvs --noheadings --units s --nosuffix -o pe_start "$pv" | tr -d ' ')
			echo "$start $size linear $pv $((ps + pe * es))"
		done
}

# real_hash VG STEP: md5 of VG/lv's data through a fresh device with lv_table's table
real_hash() {
	g_run dmsetup create h --table "$(lv_table $1 lv)"
	emit "REAL-HASH $1 $2 $(md5sum </dev/mapper/h | cut -d' ' -f1)"
	g_run dmsetup remove h
}

L pvcreate -y /dev/vda /dev/vdb /dev/vdc
L vgcreate vg1 /dev/vda
L vgcreate vg2 /dev/vdb
L vgcreate vg3 /dev/vdc
for v in vg1 vg2 vg3; do
	L lvcreate -y -Wn -Zn -L 16M -n lv $v
done
g_run /guest/mke2fs -q -t ext4 -F /dev/mapper/vg1-lv
mkdir -p /mnt/o /mnt/s
g_run mount -t ext4 /dev/mapper/vg1-lv /mnt/o
i=1
while [ $i -le 12 ]; do
	mkfile /mnt/o/f$i 1 $((i * 40))
	i=$((i + 1))
done
mkdir /mnt/o/d && mkfile /mnt/o/d/inner 1 300
g_run umount /mnt/o
# 8 KiB chunks, a COW of 8 MiB (the changes below take ~1 MiB of it).
L lvcreate -y -s -c 8k -L 8M -n snap vg1/lv
for l in lv-real snap-cow; do
	emit "ACTIVE-TABLE vg1 $l $(dmsetup table vg1-$l)"
done
g_run mount -t ext4 /dev/mapper/vg1-lv /mnt/o
g_run mount -t ext4 /dev/mapper/vg1-snap /mnt/s
# The origin: one file rewritten, one deleted, one added.
mkfile /mnt/o/f1 2 100
rm /mnt/o/f2
mkfile /mnt/o/o-new 2 200
# The snapshot: one file appended to, one rewritten shorter, one deleted, a new directory.
mkfile /tmp/app 3 64 && cat /tmp/app >>/mnt/s/f3
mkfile /mnt/s/f5 3 10
rm /mnt/s/f4
mkdir /mnt/s/s-dir && mkfile /mnt/s/s-dir/a 3 500 && mkfile /mnt/s/s-new 3 120
g_run umount /mnt/o
g_run umount /mnt/s
emit "SNAPDEV $(md5sum </dev/mapper/vg1-snap | cut -d' ' -f1)"
emit "ORIGDEV $(md5sum </dev/mapper/vg1-lv | cut -d' ' -f1)"
g_run mount -t ext4 -o ro /dev/mapper/vg1-snap /mnt/s
files /mnt/s SNAPFILE
g_run umount /mnt/s
g_run mount -t ext4 -o ro /dev/mapper/vg1-lv /mnt/o
files /mnt/o ORIGFILE
g_run umount /mnt/o
lvs_lines vg1-snapshot
L vgchange -an vg1

# The twins: the same geometry on vg2 and vg3, then vg1's origin and COW data copied in,
# through devices made with lv_table (the tables lvm2 itself loads: the host compares).
for v in vg2 vg3; do
	L lvcreate -y -s -c 8k -L 8M -n snap $v/lv
	for l in lv-real snap-cow; do
		emit "ACTIVE-TABLE $v $l $(dmsetup table $v-$l)"
	done
	L vgchange -an $v
done
for v in vg1 vg2 vg3; do
	for lv in lv snap; do
		lv_table $v $lv >/tmp/$v-$lv.table
		[ -s /tmp/$v-$lv.table ] || { echo "GUEST-FAIL: no table for $v/$lv"; exit 1; }
		g_run dmsetup create m-$v-$lv --table "$(cat /tmp/$v-$lv.table)"
		emit "RECIPE-TABLE $v $lv $(dmsetup table m-$v-$lv)"
	done
done
for v in vg2 vg3; do
	for lv in lv snap; do
		g_run dd if=/dev/mapper/m-vg1-$lv of=/dev/mapper/m-$v-$lv bs=1M conv=fsync
	done
done
for v in vg1 vg2; do
	g_run dmsetup remove m-$v-lv
	g_run dmsetup remove m-$v-snap
done
real_hash vg3 before-merge

# vg1, snap_merge(8)'s recipe: split the snapshot off (its LV keeps the exception store),
# activate both, merge, remove the split-off LV.
L lvconvert -y --splitsnapshot vg1/snap
lvs_lines vg1-split
L lvchange -ay vg1/lv vg1/snap
# A mounted origin is refused (exclusive open), nothing written.
g_run mount -t ext4 -o ro /dev/mapper/vg1-lv /mnt/o
snap_merge -q --origin /dev/mapper/vg1-lv /dev/mapper/vg1-snap
emit "MOUNTED-MERGE $? $(md5sum </dev/mapper/vg1-snap | cut -d' ' -f1)"
g_run umount /mnt/o
emit "SPLIT-COW $(md5sum </dev/mapper/vg1-snap | cut -d' ' -f1)"
g_run snap_check --origin /dev/mapper/vg1-lv /dev/mapper/vg1-snap
g_run snap_merge -q --origin /dev/mapper/vg1-lv /dev/mapper/vg1-snap
g_run snap_check /dev/mapper/vg1-snap
L lvchange -an vg1/snap
emit "MERGED-BEFORE-LVREMOVE vg1 $(md5sum </dev/mapper/vg1-lv | cut -d' ' -f1)"
L lvremove -y vg1/snap

# vg3, without touching lvm2's metadata until the end: the devices made with lv_table, then
# lvremove of the snapshot while the origin is inactive (metadata only).
g_run snap_check --origin /dev/mapper/m-vg3-lv /dev/mapper/m-vg3-snap
g_run snap_merge -q --origin /dev/mapper/m-vg3-lv /dev/mapper/m-vg3-snap
g_run snap_check /dev/mapper/m-vg3-snap
g_run dmsetup remove m-vg3-snap
g_run dmsetup remove m-vg3-lv
real_hash vg3 after-merge
L lvremove -y vg3/snap
real_hash vg3 after-lvremove
L lvchange -ay vg3/lv

# vg2: the kernel's merge through lvm2 (origin active, not mounted: lvconvert waits for it).
L lvchange -ay vg2/lv
L lvconvert --merge -i 1 vg2/snap
lvs_lines merged

for v in vg1 vg2 vg3; do
	emit "MERGED $v $(md5sum </dev/mapper/$v-lv | cut -d' ' -f1)"
	/guest/e2fsck -fn /dev/mapper/$v-lv >/tmp/fsck.out 2>&1
	emit "FSCK $v $?"
	sed 's/^/| /' /tmp/fsck.out | tail -n 1
	g_run mount -t ext4 -o ro /dev/mapper/$v-lv /mnt/o
	files /mnt/o "MERGEDFILE $v"
	g_run umount /mnt/o
done
for v in vg1 vg3; do
	if cmp /dev/mapper/$v-lv /dev/mapper/vg2-lv; then emit "CMP $v same"; else emit "CMP $v differ"; fi
done
L vgchange -an vg1 vg2 vg3
lvm2_calls end
emit "GUEST-SECONDS $(( $(date +%s) - t0 ))"

# SPDX-License-Identifier: GPL-2.0-only
# Guest half of tests/kernel/lvm2-thin-convert.sh (runs in the VM; see that file).
# Disk: vda = the PV of VG "vg".  /guest holds trixie's lvm2 (lvm2-trixie.tar: lvm with its
# own loader and libraries), bookworm's mke2fs and e2fsck, the ext4 modules, our thin_check,
# thin_dump, thin_repair, thin_restore and guest-lvm2.sh.
# Output lines for the host:
#   LVM-VERSION V                    lvm2's version
#   CALL STEP lvm2 called: ...       a call lvm2 made to one of our tools during STEP
#   CALL STEP lvm2 call status: TOOL RC
#   THICKFILE PATH MD5               the thick LV's files (mounted read-only) before
#   THICK MD5                        md5 of the whole thick LV before the conversion
#   CONVERT RC                       lvconvert --type thin's status
#   LVS STEP vg,name,segtype,...     lvs after STEP (converted, cycled)
#   THIN STEP MD5                    md5 of the whole LV after STEP (converted, cycled)
#   FSCK STEP RC                     e2fsck -fn's status on it after STEP
#   THINFILE STEP PATH MD5           its files, mounted read-only, after STEP
#   DUMP XML-LINE                    thin_dump of the pool's metadata at the end
set -u
. /guest/lib.sh
. /guest/guest-lvm2.sh
g_tools
lvm2_setup
lvm2_ext4

ver=$(lvm version | sed -n 's/^ *LVM version: *\([0-9.]*\).*/\1/p')
emit "LVM-VERSION $ver"
t0=$(date +%s)

L pvcreate -y /dev/vda
L vgcreate vg /dev/vda
L lvcreate -y -Wn -Zn -L 16M -n lv vg
lvm2_calls create
g_run /guest/mke2fs -q -t ext4 -F /dev/mapper/vg-lv
mkdir -p /mnt/a
g_run mount -t ext4 /dev/mapper/vg-lv /mnt/a
i=1
while [ $i -le 8 ]; do
	mkfile /mnt/a/f$i 1 $((i * 100))
	i=$((i + 1))
done
mkdir /mnt/a/d && mkfile /mnt/a/d/inner 1 900
g_run umount /mnt/a
g_run mount -t ext4 -o ro /dev/mapper/vg-lv /mnt/a
files /mnt/a THICKFILE
g_run umount /mnt/a
emit "THICK $(md5sum </dev/mapper/vg-lv | cut -d' ' -f1)"

# check STEP: the whole LV's md5, e2fsck -fn, its files
check() {
	emit "THIN $1 $(md5sum </dev/mapper/vg-lv | cut -d' ' -f1)"
	/guest/e2fsck -fn /dev/mapper/vg-lv >/tmp/fsck.out 2>&1
	emit "FSCK $1 $?"
	sed 's/^/fsck: /' /tmp/fsck.out
	g_run mount -t ext4 -o ro /dev/mapper/vg-lv /mnt/a
	files /mnt/a "THINFILE $1"
	g_run umount /mnt/a
}

# The thick LV (active, not mounted) becomes a thin LV in a new pool: lvm2 writes the
# metadata mapping it whole with thin_restore.
echo "+ lvm lvconvert -y --type thin vg/lv"
lvm lvconvert -y --type thin vg/lv
emit "CONVERT $?"
lvm2_calls convert
lvs_lines converted
check converted

# Deactivate and activate: lvm2 runs thin_check on the metadata thin_restore wrote.
L vgchange -an vg
lvm2_calls deactivate
L lvchange -ay vg/lv
lvm2_calls activate
lvs_lines cycled
check cycled
L vgchange -an vg
lvm2_calls deactivate2
# The metadata itself, read by our thin_dump through a component activation of the _tmeta.
L lvchange -ay -y vg/lv_tpool0_tmeta
thin_dump /dev/mapper/vg-lv_tpool0_tmeta | sed 's/^/DUMP /'
L lvchange -an vg/lv_tpool0_tmeta
lvm2_calls component
emit "GUEST-SECONDS $(( $(date +%s) - t0 ))"

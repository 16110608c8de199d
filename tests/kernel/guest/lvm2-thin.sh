# SPDX-License-Identifier: GPL-2.0-only
# Guest half of tests/kernel/lvm2-thin.sh (runs in the VM; see that file).
# Disk: vda = the PV of VG "vg".  /guest holds Debian's lvm (and its libraries), our
# thin_check, thin_dump, thin_repair, thin_restore and guest-lvm2.sh.
# Output lines for the host:
#   LVM-VERSION V                    lvm2's version
#   CALL STEP lvm2 called: ...       a call lvm2 made to one of our tools during STEP
#   CALL STEP lvm2 call status: TOOL RC
#   LVS STEP vg,name,segtype,...        lvs after STEP (before, after-cycle, after-repair)
#   HASH STEP LV MD5                 md5 of LV's first 8 MiB
#   DAMAGED BLOCK                    the metadata block zeroed (the metadata space map's index)
#   ACTIVATE-DAMAGED RC              lvchange -ay's status on the damaged pool (must fail)
#   META0 ...                        lvs line of the pool_meta0 LV lvm2 keeps after a repair
#   EXTENDED pool,SIZE,METADATA_SIZE   the pool after lvextend of its metadata and data
#   REPAIR-LOST RC                   lvconvert --repair's status with the _tmeta all zeroes
#   RUNS STEP:LV ...                 pattern runs of thin and snap (guest-lib.sh's runs)
set -u
. /guest/lib.sh
. /guest/guest-lvm2.sh
g_tools
lvm2_setup

ver=$(lvm version | sed -n 's/^ *LVM version: *\([0-9.]*\).*/\1/p')
emit "LVM-VERSION $ver"
t0=$(date +%s)

hashes() {
	for lv in thin snap; do
		emit "HASH $1 $lv $(devhash /dev/mapper/vg-$lv 128)"
	done
}

L pvcreate -y /dev/vda
L vgcreate vg /dev/vda
L lvcreate -y --type thin-pool -L 64M --poolmetadatasize 4M --chunksize 64k -n pool vg
L lvcreate -y -V 16M --thinpool vg/pool -n thin
lvm2_calls create
pwrite /dev/mapper/vg-thin 1 1 0 8192                 # 4 MiB, generation 1
L lvcreate -y -s -n snap vg/thin
L lvchange -ay -K vg/snap
pwrite /dev/mapper/vg-thin 1 2 2048 2048              # 1 MiB of thin, generation 2
pwrite /dev/mapper/vg-snap 2 3 12288 256              # 128 KiB of snap, beyond thin's data
lvm2_calls snapshot
lvs_lines before
hashes before
runs /dev/mapper/vg-thin before:thin
runs /dev/mapper/vg-snap before:snap
tmeta=$(dmsetup table vg-pool_tmeta)
emit "TMETA-TABLE $tmeta"

# Deactivate and activate: lvm2 runs thin_check on the pool's metadata.
L vgchange -an vg
lvm2_calls deactivate
L lvchange -ay vg/pool
lvm2_calls activate
L lvchange -ay vg/thin
L lvchange -ay -K vg/snap
lvs_lines after-cycle
hashes after-cycle
L vgchange -an vg
lvm2_calls deactivate2

# Damage: zero the metadata space map's index block (the block named by the superblock's
# metadata space map root), through a linear device with the _tmeta LV's table.
g_run dmsetup create dmg --table "$tmeta"
set -- $(dd if=/dev/mapper/dmg bs=8 skip=26 count=1 2>/dev/null | od -A n -t u8)
idx=${1:-}
emit "DAMAGED $idx"
[ -n "$idx" ] && [ "$idx" -gt 0 ] || { echo "GUEST-FAIL: no metadata space map index in the superblock"; exit 1; }
g_run dd if=/dev/zero of=/dev/mapper/dmg bs=4096 seek="$idx" count=1 conv=notrunc,fsync
g_run dmsetup remove dmg
echo "+ lvm lvchange -ay vg/pool (must fail: thin_check finds the damage)"
lvm lvchange -ay vg/pool
emit "ACTIVATE-DAMAGED $?"
lvm2_calls activate-damaged
L vgchange -an vg
lvm2_calls deactivate3

L lvconvert -y --repair vg/pool
lvm2_calls repair
L lvchange -ay vg/pool
lvm2_calls activate-repaired
L lvchange -ay vg/thin
L lvchange -ay -K vg/snap
lvs_lines after-repair | grep -v '^LVS after-repair vg,pool_meta0,'
lvm lvs --noheadings --separator , -o lv_name,segtype,lv_size --units s vg/pool_meta0 |
	sed -n 's/^ *\([^ ].*\)/META0 \1/p'
hashes after-repair
runs /dev/mapper/vg-thin after-repair:thin
runs /dev/mapper/vg-snap after-repair:snap
lvm2_calls before-extend

# Grow the active pool's metadata and data (the kernel grows both space maps), write, cycle:
# thin_check reads the grown metadata.
L lvextend -y --poolmetadatasize +4M vg/pool
L lvextend -y -L +16M vg/pool
lvm2_calls extend
pwrite /dev/mapper/vg-thin 1 4 16384 4096             # 2 MiB more of thin, generation 4
L vgchange -an vg
lvm2_calls deactivate4
L lvchange -ay vg/pool
lvm2_calls activate-extended
L lvchange -ay vg/thin
lvm lvs --noheadings --separator , -o lv_name,lv_size,lv_metadata_size --units s vg/pool |
	sed -n 's/^ *\([^ ].*\)/EXTENDED \1/p'
runs /dev/mapper/vg-thin extended:thin
tmeta=$(dmsetup table vg-pool_tmeta)
L vgchange -an vg
lvm2_calls deactivate5

# Metadata lost for good (the whole _tmeta zeroed): thin_repair cannot rebuild a superblock
# without the data block size, which lvm2 does not pass; lvconvert --repair must fail.
g_run dmsetup create dmg --table "$tmeta"
dd if=/dev/zero of=/dev/mapper/dmg bs=65536 conv=fsync 2>/dev/null
g_run dmsetup remove dmg
echo "+ lvm lvconvert -y --repair vg/pool (must fail: no superblock)"
lvm lvconvert -y --repair vg/pool
emit "REPAIR-LOST $?"
lvm2_calls repair-lost

emit "GUEST-SECONDS $(( $(date +%s) - t0 ))"

# SPDX-License-Identifier: GPL-2.0-only
# Guest half of tests/kernel/snapshot-dmmeta-writes.sh (runs in the VM).
# Disks: vda origin (4 MiB, written by the host), vdb COW made by snap_restore (4 MiB),
#        vdc: copy of vdb taken after the writes, before the kernel merges vda/vdb;
#        vdd/vde: origin + COW whose merge snap_merge started and interrupted on the host:
#        the kernel finishes it;
#        vdf/vdg: origin + COW as restored: the kernel starts merging them and is
#        interrupted (the host finishes with snap_merge).
# Output: STATUS cs before|after|merged-end|resumed-end LINE,
#         RUNS before|after|merged|resumed/DEV ...,
#         W cs DEV GEN FIRST N (device 0 = origin, 1 = snapshot)
set -u
. /guest/lib.sh

ORIG=8192
CS=16
w() {   # w MAPPER_NAME DEV GEN FIRST_SECTOR NSECTORS
	pwrite "/dev/mapper/$1" "$2" "$3" "$4" "$5"
	emit "W cs $2 $3 $4 $5"
}

g_run dmsetup create org --table "0 $ORIG snapshot-origin /dev/vda"
g_run dmsetup suspend org
g_run dmsetup create snap --table "0 $ORIG snapshot /dev/vda /dev/vdb P $CS"
g_run dmsetup resume org
emit "STATUS cs before $(dmsetup status snap)"
runs /dev/mapper/snap before/1
runs /dev/mapper/org before/0

w org 0 4 3200 16       # origin chunk 200: a new exception (copy-out)
w snap 1 4 0 8          # snapshot chunk 0: restored exception, lands in the COW
w snap 1 4 4800 16      # snapshot chunk 300: new, whole chunk
w org 0 4 80 4          # origin chunk 5: restored exception, no copy
emit "STATUS cs after $(dmsetup status snap)"
runs /dev/mapper/snap after/1
runs /dev/mapper/org after/0
g_run dmsetup remove snap
g_run dmsetup remove org
g_run dd if=/dev/vdb of=/dev/vdc bs=65536 conv=fsync

# The kernel merges the store (restored + its own exceptions) into the origin.
merge() {        # merge NAME ORIGIN COW TAG
	m_name=$1 m_tag=$4
	g_run dmsetup create "$m_name" --table "0 $ORIG snapshot-merge $2 $3 P $CS"
	n=0
	while :; do
		set -- $(dmsetup status "$m_name")
		[ "${4%/*}" = "$5" ] && break       # only the metadata left: "M/T M"
		n=$((n + 1))
		[ $n -lt 600 ] || { echo "GUEST-FAIL: merge $m_name did not finish: $*"; exit 1; }
		sleep 0.05
	done
	emit "STATUS cs $m_tag-end $(dmsetup status "$m_name")"
	runs "/dev/mapper/$m_name" "$m_tag/0"
	g_run dmsetup remove "$m_name"
}
merge org /dev/vda /dev/vdb merged
merge org2 /dev/vdd /dev/vde resumed

# A kernel merge interrupted part-way (origin writes slowed down by dm-delay, the merge
# target removed after a moment); the host finishes it with snap_merge.
g_run dmsetup create slow --table "0 $ORIG delay /dev/vdf 0 0 /dev/vdf 0 400"
g_run dmsetup create org3 --table "0 $ORIG snapshot-merge /dev/mapper/slow /dev/vdg P $CS"
sleep 0.5
emit "STATUS cs interrupted $(dmsetup status org3)"
g_run dmsetup remove org3
g_run dmsetup remove slow
sync
exit 0

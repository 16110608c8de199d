# SPDX-License-Identifier: GPL-2.0-only
# Guest half of tests/kernel/classic-snapshot-kernel-writes.sh (runs in the VM).
# Disks: vda origin (16 MiB), vdb COW (4 MiB), vdc tiny COW (64 KiB: header, one metadata
#        chunk, 6 data chunks: overflows), vdd/vde: copies of vda/vdb taken after teardown,
#        before the kernel merges vda/vdb (the host merges vdd/vde with snap_merge).
# Chunk size 16 sectors, persistent store (P).
# Output lines for the host (pool field "cs"; device 0 = origin, 1 = snapshot):
#   W cs DEV GEN FIRST_SECTOR NSECTORS    a pattern write, in order
#   SNAP cs 1 0                           the snapshot was taken here
#   STATUS cs snap|snapov|merge LINE      dmsetup status lines
#   HASH cs origin|snap MD5               whole device read through the kernel
#   MERGE-POLLS N                         status polls until the merge finished
set -u
. /guest/lib.sh

ORIG=32768      # origin size in sectors
CS=16           # chunk size in sectors

w() {   # w MAPPER_NAME DEV GEN FIRST_SECTOR NSECTORS
	pwrite "/dev/mapper/$1" "$2" "$3" "$4" "$5"
	emit "W cs $2 $3 $4 $5"
}

# Base content of the origin: the first 2 MiB, written before any snapshot exists.
pwrite /dev/vda 0 1 0 4096
emit "W cs 0 1 0 4096"

g_run dmsetup create org --table "0 $ORIG snapshot-origin /dev/vda"
g_run dmsetup suspend org
g_run dmsetup create snap --table "0 $ORIG snapshot /dev/vda /dev/vdb P $CS"
g_run dmsetup create snapov --table "0 $ORIG snapshot /dev/vda /dev/vdc P $CS"
g_run dmsetup resume org
emit "SNAP cs 1 0"

w org 0 2 0 64          # chunks 0-3, whole: copy-out to both snapshots
w org 0 2 804 4         # chunk 50, partial
w org 0 2 3000 40       # chunks 187-189, partial at both ends
w org 0 2 14400 16      # chunk 900: the origin held zeroes there
w snap 1 3 160 32       # chunks 10-11 of the snapshot, whole chunks
w snap 1 3 4808 4       # chunk 300 of the snapshot, partial: copy, then write
w snap 1 3 16 8         # chunk 1 of the snapshot: already copied out, lands in the COW
w org 0 4 8 8           # chunk 0 of the origin again: no new exception

emit "STATUS cs snap $(dmsetup status snap)"
emit "STATUS cs snapov $(dmsetup status snapov)"
emit "HASH cs origin $(devhash /dev/mapper/org $((ORIG / 128)))"
emit "HASH cs snap $(devhash /dev/mapper/snap $((ORIG / 128)))"
g_run dmsetup remove snapov
g_run dmsetup remove snap
g_run dmsetup remove org

# Copies for the offline merge, then the kernel's own merge of vda/vdb.
g_run dd if=/dev/vda of=/dev/vdd bs=65536 conv=fsync
g_run dd if=/dev/vdb of=/dev/vde bs=65536 conv=fsync
g_run dmsetup create org --table "0 $ORIG snapshot-merge /dev/vda /dev/vdb P $CS"
emit "STATUS cs merge-start $(dmsetup status org)"
# Merging is done when only the metadata remains allocated: "M/T M".
n=0
while :; do
	set -- $(dmsetup status org)
	[ "${4%/*}" = "$5" ] && break
	n=$((n + 1))
	[ $n -lt 600 ] || { echo "GUEST-FAIL: merge did not finish: $*"; exit 1; }
	sleep 0.05
done
emit "MERGE-POLLS $n"
emit "STATUS cs merge-end $(dmsetup status org)"
g_run dmsetup remove org
sync
exit 0

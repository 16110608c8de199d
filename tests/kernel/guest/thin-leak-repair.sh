# SPDX-License-Identifier: GPL-2.0-only
# Guest half of tests/kernel/thin-leak-repair.sh (runs in the VM).
# Disks: vda = metadata whose leaks thin_check --auto-repair repaired (its space-map
#        bitmaps and index now live in other blocks), vdb = data (40000 blocks of 64 KiB).
# The kernel allocates data and metadata blocks through those space maps: 160 new blocks in
# thin 0, a snapshot 1 of it, then writes breaking sharing on both sides (metadata
# shadowing), commits, and reads everything back.
# Output lines for the host:
#   STATUS p pool|pool-after LINE   dmsetup status of the pool
#   RUNS after/DEV ...              the contents of thins 0 and 1 (guest-lib.sh runs)
set -u
. /guest/lib.sh

BS=128
TSECT=$((256 * BS))

thin_on() { g_run dmsetup create "p-t$1" --table "0 $TSECT thin /dev/mapper/p $1"; }
commit() {
	for d in "$@"; do g_run dmsetup suspend "p-t$d"; done
	g_run dmsetup suspend p
	g_run dmsetup resume p
	for d in "$@"; do g_run dmsetup resume "p-t$d"; done
}

g_run dmsetup create p --table "0 $((40000 * BS)) thin-pool /dev/vda /dev/vdb $BS 0"
emit "STATUS p pool $(dmsetup status p)"
thin_on 0
# one sector in each of blocks 0..159 of thin 0 (generation 1): 160 allocations
b=0
while [ $b -lt 160 ]; do
	pwrite /dev/mapper/p-t0 0 1 $((b * BS)) 1
	b=$((b + 1))
done
commit 0
g_run dmsetup suspend p-t0
g_run dmsetup message p 0 "create_snap 1 0"
g_run dmsetup resume p-t0
thin_on 1
# break sharing: thin 0 rewrites every 4th block, thin 1 every 5th (generation 2)
b=0
while [ $b -lt 160 ]; do
	[ $((b % 4)) = 0 ] && pwrite /dev/mapper/p-t0 0 2 $((b * BS)) 1
	[ $((b % 5)) = 0 ] && pwrite /dev/mapper/p-t1 1 2 $((b * BS)) 1
	b=$((b + 1))
done
g_run dmsetup message p 0 "set_transaction_id 2 3"
commit 0 1
for d in 0 1; do runs "/dev/mapper/p-t$d" "after/$d"; done
emit "STATUS p pool-after $(dmsetup status p)"
for d in 1 0; do g_run dmsetup remove "p-t$d"; done
g_run dmsetup remove p
exit 0

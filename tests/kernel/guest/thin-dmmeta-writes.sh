# SPDX-License-Identifier: GPL-2.0-only
# Guest half of tests/kernel/thin-dmmeta-writes.sh (runs in the VM).
# Disks: vda = metadata made by thin_restore (4 MiB), vdb = data the host filled (64 MiB);
#        optional vdc/vdd = thin_repair's copy of vda's metadata and a copy of vdb.
# Pool "p": 64 KiB blocks, thins 0, 1 and 5 of 8 MiB (128 blocks) each.
# Output lines for the host:
#   STATUS p pool|DEV LINE     dmsetup status (phase 1: as restored)
#   RUNS before|after|repaired/DEV ...  the contents of each thin device (guest-lib.sh runs)
#   W p DEV GEN FIRST N / SNAP p NEW ORIGIN / DELETE p DEV   what phase 2 did, in order
set -u
. /guest/lib.sh

BS=128
TSECT=16384

thin_on() { g_run dmsetup create "p-t$1" --table "0 $TSECT thin /dev/mapper/p $1"; }
w() {   # w DEV GEN FIRST_SECTOR NSECTORS
	pwrite "/dev/mapper/p-t$1" "$1" "$2" "$3" "$4"
	emit "W p $1 $2 $3 $4"
}

# With 4 disks: vdc/vdd = metadata made by thin_repair from vda + a copy of vdb.
if [ "${GUEST_DISKS:-2}" -ge 4 ]; then
	g_run dmsetup create r --table "0 131072 thin-pool /dev/vdc /dev/vdd $BS 0"
	emit "STATUS r pool $(dmsetup status r)"
	for d in 0 1 5; do
		g_run dmsetup create "r-t$d" --table "0 $TSECT thin /dev/mapper/r $d"
		runs "/dev/mapper/r-t$d" "repaired/$d"
		g_run dmsetup remove "r-t$d"
	done
	g_run dmsetup remove r
fi

g_run dmsetup create p --table "0 131072 thin-pool /dev/vda /dev/vdb $BS 0"
emit "STATUS p pool $(dmsetup status p)"
for d in 0 1 5; do
	thin_on $d
	emit "STATUS p $d $(dmsetup status "p-t$d")"
	runs "/dev/mapper/p-t$d" "before/$d"
done

# Phase 2: the kernel allocates and frees through the restored space maps.
w 0 2 256 128                   # block 2 of thin 0: shared with thin 1, breaks sharing
w 1 2 1536 64                   # block 12 of thin 1: its own, in place
w 5 2 12808 8                   # block 100 of thin 5, partial, in place
w 0 2 10240 128                 # block 80 of thin 0: new
g_run dmsetup suspend p-t5
g_run dmsetup message p 0 "create_snap 6 5"
g_run dmsetup resume p-t5
emit "SNAP p 6 5"
thin_on 6
w 6 2 16256 128                 # block 127 of thin 6: shared with thin 5
w 5 2 12928 128                 # block 101 of thin 5: shared with thin 6
g_run dmsetup remove p-t1
g_run dmsetup message p 0 "delete 1"
emit "DELETE p 1"
# Let the freed blocks become free (commit), then allocate many.
g_run dmsetup suspend p-t0
g_run dmsetup suspend p-t5
g_run dmsetup suspend p-t6
g_run dmsetup suspend p
g_run dmsetup resume p
g_run dmsetup resume p-t0
g_run dmsetup resume p-t5
g_run dmsetup resume p-t6
w 0 3 11520 1280                # blocks 90-99 of thin 0: new
w 6 3 0 2048                    # blocks 0-15 of thin 6: new
g_run dmsetup message p 0 "set_transaction_id 7 8"
for d in 0 5 6; do
	runs "/dev/mapper/p-t$d" "after/$d"
done
for d in 0 5 6; do g_run dmsetup suspend "p-t$d"; done
g_run dmsetup suspend p
g_run dmsetup resume p
for d in 0 5 6; do g_run dmsetup resume "p-t$d"; done
emit "STATUS p pool-after $(dmsetup status p)"
for d in 6 5 0; do g_run dmsetup remove "p-t$d"; done
g_run dmsetup remove p
exit 0

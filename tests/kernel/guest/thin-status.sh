# SPDX-License-Identifier: GPL-2.0-only
# Guest half of tests/kernel/thin-status.sh (runs in the VM; see that file).
# Disks: vda/vdb = metadata (32 MiB) / data (16 MiB) of pool "pa";
#        vdc/vdd = metadata (4 MiB) / data (1 MiB: 16 blocks) of pool "pb";
#        vde/vdf = metadata (200 MiB) / data (1 MiB) of pool "pc".
# Pool block size 64 KiB (128 sectors); thins of 8 MiB (128 blocks).
# Output lines for the host:
#   STATUS PHASE pool|DEV LINE   `dmsetup status` of the pool or of thin DEV, taken after a
#                                suspend/resume of all (so the metadata is committed)
#   DISCARD DEV MAX_BYTES        the data device's discard_max_bytes (0: no discard, and the
#                                kernel then shows no_discard_passdown)
# Phases:
#   A0  pa, no feature args: thins 0, 1, 2, snapshot 3 of 0, transaction 5 (before
#       reserve_metadata_snap: the state the metadata snapshot keeps)
#   A   pa after reserve_metadata_snap and one more write to thin 0
#   B   pa torn down and activated again with the read_only feature
#   C   pb with no_discard_passdown error_if_no_space, its 16 data blocks filled, one more
#       write refused: out of data space
#   D   pb torn down and activated again with ignore_discard
#   E   pc (51200 metadata blocks: the kernel's reserve stops at 4096), one thin, one write
set -u
. /guest/lib.sh

BS=128
TSECT=16384

thin_on() {   # thin_on POOL DEV
	g_thin "$1" "$2" $TSECT
}

# pool_thin0 POOL TABLE: activate POOL with TABLE, create its thin 0 and activate it
pool_thin0() {
	g_run dmsetup create "$1" --table "$2"
	g_run dmsetup message "$1" 0 "create_thin 0"
	thin_on "$1" 0
}

# status PHASE POOL DEVS...
status() {
	s_ph=$1 s_p=$2
	shift 2
	emit "STATUS $s_ph pool $(dmsetup status "$s_p")"
	for s_d in "$@"; do emit "STATUS $s_ph $s_d $(dmsetup status "$s_p-t$s_d")"; done
}

# last PHASE POOL DEVS...: commit, status PHASE, teardown
last() {
	l_ph=$1
	shift
	g_commit "$@"
	status "$l_ph" "$@"
	g_teardown "$@"
}

emit "DISCARD vdb $(cat /sys/block/vdb/queue/discard_max_bytes)"
emit "DISCARD vdd $(cat /sys/block/vdd/queue/discard_max_bytes)"
emit "DISCARD vdf $(cat /sys/block/vdf/queue/discard_max_bytes)"

# --- pa: 32768 sectors of data = 256 blocks
g_run dmsetup create pa --table "0 32768 thin-pool /dev/vda /dev/vdb $BS 0"
for d in 0 1 2; do
	g_run dmsetup message pa 0 "create_thin $d"
	thin_on pa $d
done
pwrite /dev/mapper/pa-t0 0 1 0 512        # blocks 0-3
pwrite /dev/mapper/pa-t0 0 1 6400 128     # block 50
pwrite /dev/mapper/pa-t2 2 1 0 8          # 4 KiB of block 0 only: highest sector 127
# thin 1 stays empty: "0 -"
g_run dmsetup suspend pa-t0
g_run dmsetup message pa 0 "create_snap 3 0"
g_run dmsetup resume pa-t0
thin_on pa 3
g_run dmsetup message pa 0 "set_transaction_id 0 5"
g_commit pa 0 1 2 3
status A0 pa 0 1 2 3
g_run dmsetup message pa 0 "reserve_metadata_snap"
pwrite /dev/mapper/pa-t0 0 2 7680 128     # block 60 of thin 0, after the snapshot
pwrite /dev/mapper/pa-t3 3 2 0 128        # block 0 of the snapshot: breaks sharing
last A pa 0 1 2 3

g_run dmsetup create pa --table "0 32768 thin-pool /dev/vda /dev/vdb $BS 0 1 read_only"
status B pa
g_teardown pa

# --- pb: 2048 sectors of data = 16 blocks
pool_thin0 pb "0 2048 thin-pool /dev/vdc /dev/vdd $BS 0 2 no_discard_passdown error_if_no_space"
pwrite /dev/mapper/pb-t0 0 1 0 2048       # blocks 0-15: every data block
# one block more: refused at once (error_if_no_space), the pool goes out of data space
awk 'BEGIN { for (s = 0; s < 128; s++) printf "%-511s\n", "overflow " s }' |
	dd of=/dev/mapper/pb-t0 bs=512 seek=2048 conv=notrunc,fsync 2>/dev/null &&
	emit "NOTE the write past the pool's data space succeeded"
last C pb 0

g_run dmsetup create pb --table "0 2048 thin-pool /dev/vdc /dev/vdd $BS 0 1 ignore_discard"
status D pb
g_teardown pb

# --- pc: a large metadata device
pool_thin0 pc "0 2048 thin-pool /dev/vde /dev/vdf $BS 0"
pwrite /dev/mapper/pc-t0 0 1 1280 128     # block 10
last E pc 0
exit 0

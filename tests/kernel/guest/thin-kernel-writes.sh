# SPDX-License-Identifier: GPL-2.0-only
# Guest half of tests/kernel/thin-kernel-writes.sh (runs in the VM; see that file).
# Disks: vda/vdb = metadata/data of pool "pa" (torn down after release_metadata_snap),
#        vdc/vdd = metadata/data of pool "pb" (torn down with the metadata snapshot held).
# Pool: 64 MiB data, 64 KiB blocks (128 sectors); thins of 8 MiB (128 blocks).
# Output lines for the host:
#   W POOL DEV GEN FIRST_SECTOR NSECTORS   a pattern write, in order
#   SNAP POOL NEW ORIGIN                   create_snap NEW ORIGIN happened here
#   RESERVE POOL / RELEASE POOL            reserve_metadata_snap / release_metadata_snap
#   STATUS POOL pool|DEV LINE              dmsetup status before teardown
#   HASH POOL DEV MD5                      md5 of the whole thin device, read by the kernel
set -u
. /guest/lib.sh

BS=128                 # pool block size in sectors
TSECT=16384            # thin size in sectors (128 blocks)

w() {   # w DEV GEN FIRST_SECTOR NSECTORS  (pool $P)
	pwrite "/dev/mapper/$P-t$1" "$1" "$2" "$3" "$4"
	emit "W $P $1 $2 $3 $4"
}

thin_on() {
	g_run dmsetup create "$P-t$1" --table "0 $TSECT thin /dev/mapper/$P $1"
}

run_pool() {
	P=$1
	g_run dmsetup create "$P" --table "0 131072 thin-pool $2 $3 $BS 0"
	g_run dmsetup message "$P" 0 "create_thin 0"
	thin_on 0
	w 0 1 0 2048                 # blocks 0-15
	w 0 1 2576 8                 # block 20, 4 KiB at +8 KiB (provisioned, rest zeroed)
	w 0 1 5120 1024              # blocks 40-47
	g_run dmsetup suspend "$P-t0"
	g_run dmsetup message "$P" 0 "create_snap 1 0"
	g_run dmsetup resume "$P-t0"
	emit "SNAP $P 1 0"
	thin_on 1
	w 0 2 512 512                # blocks 4-7 of the origin: break sharing
	w 0 2 2592 8                 # block 20 again, another 4 KiB: copy + write
	w 0 2 7680 512               # blocks 60-63: new in the origin only
	w 1 2 1280 128               # block 10 of the snapshot: break sharing from that side
	w 1 2 8960 256               # blocks 70-71: new in the snapshot only
	g_run dmsetup message "$P" 0 "create_thin 2"
	thin_on 2
	w 2 3 0 1024                 # blocks 0-7
	w 2 3 12800 256              # blocks 100-101
	g_run dmsetup message "$P" 0 "set_transaction_id 0 1"
	g_run dmsetup message "$P" 0 "reserve_metadata_snap"
	emit "RESERVE $P"
	w 0 4 1024 256               # blocks 8-9 of the origin (still shared)
	w 1 4 3840 64                # half of block 30 of the snapshot (new)
	w 2 4 256 128                # block 2 of thin 2 (unshared: in place)
	w 0 4 10240 8                # block 80 of the origin, partial, new
	g_run dmsetup message "$P" 0 "set_transaction_id 1 2"
	for d in 0 1 2; do
		emit "HASH $P $d $(devhash "/dev/mapper/$P-t$d" $((TSECT / 128)))"
	done
	if [ "$4" = release ]; then
		g_run dmsetup message "$P" 0 "release_metadata_snap"
		emit "RELEASE $P"
	fi
	# Commit: suspending the pool writes the transaction, so the status numbers below
	# are those of the metadata the host will read.
	for d in 2 1 0; do g_run dmsetup suspend "$P-t$d"; done
	g_run dmsetup suspend "$P"
	g_run dmsetup resume "$P"
	for d in 0 1 2; do g_run dmsetup resume "$P-t$d"; done
	emit "STATUS $P pool $(dmsetup status "$P")"
	for d in 0 1 2; do
		emit "STATUS $P $d $(dmsetup status "$P-t$d")"
	done
	for d in 2 1 0; do
		g_run dmsetup remove "$P-t$d"
	done
	g_run dmsetup remove "$P"
}

t0=$(date +%s)
run_pool pa /dev/vda /dev/vdb release
run_pool pb /dev/vdc /dev/vdd hold
emit "GUEST-SECONDS $(( $(date +%s) - t0 ))"
exit 0

# SPDX-License-Identifier: GPL-2.0-only
# Guest half of tests/kernel/thin-migrate.sh (runs in the VM; see that file).
# Disks: vda/vdb = metadata (4 MiB) / data (16 MiB: 256 blocks of 64 KiB) of pool p, zeroed;
#        vdc, vdd  = destination devices of 8 MiB (the thins' size), vdc filled by the
#                    host with other bytes (dev 7 gen 7's pattern); vde = an external
#                    origin of 3 MiB (dev 9 gen 1's pattern, written by the host).
# /guest holds our thin_migrate (and its libraries), tpt 1.1's pdata_tools when the host
# has it.
# Output lines for the host:
#   HASH WHAT MD5          md5 of: src1 / src2 (dd of the read-only thins 1 and 2), file1,
#                          dev1, zdev1 (ours: --dest-file, --dest-dev, --dest-dev
#                          --zero-dest), file2 (thin 2 with its external origin), tpt1
#                          (1.1's --dest-file), tptdev1 (1.1's --dest-dev on vdd)
#   RC WHAT N [LINE]       exit statuses (rw: a writable source; nosnap: no metadata snapshot
#                          held; short: a destination device of another size) and the
#                          last line printed
#   LEFT N                 md5 of vdc after the copy without --zero-dest = after the fill
#                          (1) or not (0)
set -u
. /guest/lib.sh
g_tools

BS=128
T=16384
w() {
	pwrite "/dev/mapper/p-t$1" "$1" "$2" "$3" "$4"
}
hashdev() {   # hashdev WHAT DEV: md5 of the first 8 MiB
	emit "HASH $1 $(dd if="$2" bs=65536 count=128 2>/dev/null | md5sum | cut -d' ' -f1)"
}
rc() {        # rc WHAT CMD...: run, emit its status and last line
	rc_w=$1
	shift
	"$@" >/tmp/rc.out 2>&1
	r=$?
	emit "RC $rc_w $r $(tail -n 1 /tmp/rc.out)"
	sed 's/^/out: /' /tmp/rc.out
	return 0
}

g_run dmsetup create p --table "0 32768 thin-pool /dev/vda /dev/vdb $BS 0"
g_run dmsetup message p 0 "create_thin 0"
g_run dmsetup message p 0 "create_thin 2"
g_thin p 0 $T
g_run dmsetup create p-t2 --table "0 $T thin /dev/mapper/p 2 /dev/vde"
w 0 1 0 1024          # blocks 0-7
w 0 1 2560 384        # blocks 20-22
w 0 1 16000 200       # the last block, partly: the rest zeroed by the pool
g_run dmsetup suspend p-t0
g_run dmsetup message p 0 "create_snap 1 0"
g_run dmsetup resume p-t0
w 0 2 0 128           # block 0 of 0 after the snapshot
w 2 1 1000 300        # thin 2: partial blocks over its origin
w 2 1 8000 256        # past the origin's end
g_commit p 0 2
g_run dmsetup remove p-t2
g_run dmsetup create p-t1 --readonly --table "0 $T thin /dev/mapper/p 1"
g_run dmsetup create p-t2 --readonly --table "0 $T thin /dev/mapper/p 2 /dev/vde"
hashdev src1 /dev/mapper/p-t1
hashdev src2 /dev/mapper/p-t2

rc nosnap thin_migrate --source-dev /dev/mapper/p-t1 --dest-file /tmp/x.img
g_run dmsetup message p 0 "reserve_metadata_snap"
rc rw thin_migrate --source-dev /dev/mapper/p-t0 --dest-file /tmp/x.img

rc file1 thin_migrate --source-dev /dev/mapper/p-t1 --dest-file /tmp/file1.img
hashdev file1 /tmp/file1.img
# the destination holds other bytes (the host's fill)
hashdev fill /dev/vdc
rc dev1 thin_migrate --source-dev /dev/mapper/p-t1 --dest-dev /dev/vdc
hashdev dev1 /dev/vdc
rc zdev1 thin_migrate --zero-dest --buffer-size-meg 1 --source-dev /dev/mapper/p-t1 --dest-dev /dev/vdc
hashdev zdev1 /dev/vdc
rc file2 thin_migrate --source-dev /dev/mapper/p-t2 --dest-file /tmp/file2.img
hashdev file2 /tmp/file2.img
rc short thin_migrate --source-dev /dev/mapper/p-t1 --dest-dev /dev/vdf

if [ -x /guest/pdata_tools ]; then
	rc tpt1 /guest/pdata_tools thin_migrate --source-dev /dev/mapper/p-t1 --dest-file /tmp/tpt1.img
	hashdev tpt1 /tmp/tpt1.img
	rc tptdev1 /guest/pdata_tools thin_migrate --source-dev /dev/mapper/p-t1 --dest-dev /dev/vdd
	hashdev tptdev1 /dev/vdd
fi
g_run dmsetup message p 0 "release_metadata_snap"
g_teardown p 0 1 2

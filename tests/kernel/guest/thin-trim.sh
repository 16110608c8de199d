# SPDX-License-Identifier: GPL-2.0-only
# Guest half of tests/kernel/thin-trim.sh (runs in the VM; see that file).
# Disks: vda/vdb, vdc/vdd, vde/vdf = metadata (4 MiB) / data (16 MiB: 256 blocks of 64 KiB)
#        of pools a, b, c, all zeroed; each gets the same writes, snapshot and delete.
# /guest holds our thin_trim (and the libraries it needs), and tpt 1.1's pdata_tools when
# the host has it.
# Output lines for the host:
#   HASH PHASE POOL DEV MD5    md5 of thin DEV (PHASE 0: before the trim, 1: after)
#   LIVE RC                    our thin_trim's exit status on pool a while it is active
#   TRIM POOL RC LINE          thin_trim's exit status and last output line (a: ours,
#                              b: tpt 1.1's, or "TRIM b skip" without it; c: not trimmed)
set -u
. /guest/lib.sh
g_tools

BS=128
T=16384       # 8 MiB thins: 128 blocks
w() {         # w POOL DEV GEN FIRST_SECTOR NSECTORS
	pwrite "/dev/mapper/$1-t$2" "$2" "$3" "$4" "$5"
}

build() {     # build POOL META DATA: writes, a snapshot, a delete, a held metadata snapshot
	g_run dmsetup create "$1" --table "0 32768 thin-pool $2 $3 $BS 0"
	g_run dmsetup message "$1" 0 "create_thin 0"
	g_run dmsetup message "$1" 0 "create_thin 1"
	g_thin "$1" 0 $T
	g_thin "$1" 1 $T
	w "$1" 0 1 0 1024          # blocks 0-7 of 0
	w "$1" 1 1 0 1280          # blocks 0-9 of 1
	w "$1" 1 1 2560 1280       # blocks 20-29 of 1
	g_run dmsetup suspend "$1-t0"
	g_run dmsetup message "$1" 0 "create_snap 2 0"
	g_run dmsetup resume "$1-t0"
	g_thin "$1" 2 $T
	w "$1" 0 2 256 256         # blocks 2-3 of 0: break sharing with 2
	w "$1" 2 3 640 128         # block 5 of 2
	w "$1" 2 3 6400 128        # block 50 of 2
	g_run dmsetup remove "$1-t1"
	g_run dmsetup message "$1" 0 "delete 1"   # 20 blocks freed; they keep their bytes
	g_commit "$1" 0 2
	for d in 0 2; do emit "HASH 0 $1 $d $(devhash "/dev/mapper/$1-t$d" 128)"; done
	g_run dmsetup message "$1" 0 "reserve_metadata_snap"
	g_run dmsetup remove "$1-t2"
	g_run dmsetup message "$1" 0 "delete 2"   # its own blocks: only the held root maps them
	g_commit "$1" 0
}

build a /dev/vda /dev/vdb
thin_trim --metadata-dev /dev/vda --data-dev /dev/vdb >/tmp/live.out 2>&1
emit "LIVE $?"
sed 's/^/live: /' /tmp/live.out
g_teardown a 0
build b /dev/vdc /dev/vdd
g_teardown b 0
build c /dev/vde /dev/vdf
g_teardown c 0

thin_trim --metadata-dev /dev/vda --data-dev /dev/vdb >/tmp/trim.out 2>&1
emit "TRIM a $? $(tail -n 1 /tmp/trim.out)"
if [ -x /guest/pdata_tools ]; then
	/guest/pdata_tools thin_trim --metadata-dev /dev/vdc --data-dev /dev/vdd >/tmp/tpt.out 2>&1
	emit "TRIM b $? $(tail -n 1 /tmp/tpt.out)"
else
	emit "TRIM b skip"
fi

again() {     # again POOL META DATA: activate, md5 of thin 0, a write (the held metadata
	      # snapshot stays, for the host's thin_dump -m)
	g_run dmsetup create "$1" --table "0 32768 thin-pool $2 $3 $BS 0"
	g_thin "$1" 0 $T
	emit "HASH 1 $1 0 $(devhash "/dev/mapper/$1-t0" 128)"
	w "$1" 0 4 1280 128       # block 10 of 0: the kernel allocates from the trimmed map
	g_commit "$1" 0
	g_teardown "$1" 0
}
again a /dev/vda /dev/vdb
again b /dev/vdc /dev/vdd

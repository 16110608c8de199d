# SPDX-License-Identifier: GPL-2.0-only
# Guest half of tests/kernel/thin-merge.sh (runs in the VM; see that file).
# Disks: vda/vdb = pool a metadata (4 MiB) / data (16 MiB: 256 blocks of 64 KiB), vdc/vdd =
#        pool b, the same; vde = an 8 MiB external origin image (the host's pattern).
# /guest holds our thin_merge (and the libraries it needs).
# Output lines for the host:
#   HASH WHAT MD5           md5 of a thin (or of vde) at a point of the scenario
#   RC WHAT STATUS          thin_merge's exit status
set -u
. /guest/lib.sh
g_tools

BS=128
T=16384       # 8 MiB thins: 128 blocks
w() {         # w POOL DEV GEN FIRST_SECTOR NSECTORS
	pwrite "/dev/mapper/$1-t$2" "$2" "$3" "$4" "$5"
}
h() {         # h POOL DEV: md5 of the whole thin
	devhash "/dev/mapper/$1-t$2" 128
}

build() {     # build POOL META DATA: origin 0 written, snapshot 1, both written after
	g_run dmsetup create "$1" --table "0 32768 thin-pool $2 $3 $BS 0"
	g_run dmsetup message "$1" 0 "create_thin 0"
	g_thin "$1" 0 $T
	w "$1" 0 1 0 2048          # blocks 0-15
	w "$1" 0 1 5000 300        # a partial run over blocks 39-41
	g_run dmsetup suspend "$1-t0"
	g_run dmsetup message "$1" 0 "create_snap 1 0"
	g_run dmsetup resume "$1-t0"
	g_thin "$1" 1 $T
	w "$1" 0 2 256 256         # blocks 2-3 of the origin: sharing broken
	w "$1" 0 2 9000 64         # a new block (70) of the origin, half written
	w "$1" 1 3 1000 100        # the snapshot's own change of block 7-8
	w "$1" 1 3 12800 128       # a new block (100) of the snapshot
	g_commit "$1" 0 1
	emit "HASH $1-snap $(h "$1" 1)"
	emit "HASH $1-origin $(h "$1" 0)"
}

build a /dev/vda /dev/vdb
# thin 2 of pool a has the external origin vde: partial writes copy the origin's bytes
g_run dmsetup message a 0 "create_thin 2"
g_run dmsetup create a-t2 --table "0 $T thin /dev/mapper/a 2 /dev/vde"
w a 2 4 10 20              # inside block 0
w a 2 4 384 128            # block 3 whole
w a 2 4 700 100            # across blocks 5 and 6
w a 2 4 16300 84           # the end of the last block
g_commit a 0 1 2
emit "HASH a-ext $(h a 2)"
thin_merge --metadata-dev /dev/vda --dev-id 1 --origin-id 0 >/tmp/m.out 2>&1
emit "RC live $?"
g_teardown a 0 1 2
build b /dev/vdc /dev/vdd
g_teardown b 0 1

# offline: a's origin rolled back (the snapshot removed), a's thin 2 merged into vde and
# deleted; b's origin rolled back keeping the snapshot
thin_merge --metadata-dev /dev/vda --dev-id 1 --origin-id 0
emit "RC a-rollback $?"
thin_merge --metadata-dev /dev/vda --data-dev /dev/vdb --dev-id 2 --external-origin /dev/vde --delete
emit "RC a-merge $?"
emit "HASH vde $(devhash /dev/vde 128)"
thin_merge --metadata-dev /dev/vdc --dev-id 1 --origin-id 0 --keep-snapshot
emit "RC b-rollback $?"

# the kernel again: a's thin 0 reads as the snapshot did; a write to it
g_run dmsetup create a --table "0 32768 thin-pool /dev/vda /dev/vdb $BS 0"
g_thin a 0 $T
emit "HASH a-after $(h a 0)"
dmsetup message a 0 "delete 1" >/dev/null 2>&1
emit "RC a-delete-1 $?"
dmsetup message a 0 "delete 2" >/dev/null 2>&1
emit "RC a-delete-2 $?"
w a 0 5 1024 64            # block 8: the snapshot's block, now only 0's
g_commit a 0
emit "HASH a-written $(h a 0)"
g_teardown a 0
# b: both read as the snapshot did; a write to 0 must leave 1 alone (sharing broken)
g_run dmsetup create b --table "0 32768 thin-pool /dev/vdc /dev/vdd $BS 0"
g_thin b 0 $T
g_thin b 1 $T
emit "HASH b-after0 $(h b 0)"
emit "HASH b-after1 $(h b 1)"
w b 0 6 0 128              # block 0, shared by both
w b 0 6 12800 64           # block 100, the snapshot's own block, shared now
w b 1 7 256 64             # block 2 of 1
g_commit b 0 1
emit "HASH b-written0 $(h b 0)"
emit "HASH b-written1 $(h b 1)"
g_teardown b 0 1

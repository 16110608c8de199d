# SPDX-License-Identifier: GPL-2.0-only
# Guest half of tests/kernel/thin-message.sh (runs in the VM; see that file).
# Disks: vda/vdb = metadata (4 MiB) / data (16 MiB: 256 blocks) of pool "a", made by
#                  thin_message on the host: thins 0 1, snapshot 2 of 0, snapshot 3 of 2,
#                  4 created and deleted, transaction 7, a metadata snapshot held;
#        vdc/vdd = metadata (1 MiB) / data (128 MiB: 2048 blocks) of pool "b": the snaps
#                  fixture continued by thin_message (create_snap 5 1, delete 0,
#                  set_transaction_id 4 9);
#        vde/vdf = metadata (4 MiB, zeroed) / data (16 MiB) of pool "c", which the kernel
#                  formats and writes, thin_message (here, from /guest) continues offline
#                  and the kernel activates again;
#        vdg     = a copy of c's metadata as thin_message left it (4 MiB).
# /guest holds our thin_message and thin_status (and the libraries they need).
# Pool block size 64 KiB (128 sectors).
# Output lines for the host:
#   DISCARD DEV MAX_BYTES         the data device's discard_max_bytes
#   STATUS PHASE POOL pool|DEV LINE   `dmsetup status` (PHASE a0/b0: right after activation,
#                                 before any write; a1/b1: at the end; c1: kernel's pool
#                                 before thin_message; c2: re-activated after it, before
#                                 writes)
#   OURS c2 pool|DEV LINE         thin_status on c's metadata after thin_message (offline)
#   W POOL DEV GEN FIRST N / SNAP POOL DEV ORIGIN / DELETE POOL DEV   the writes and
#                                 messages, for the host's model (k_thin_model)
#   RUNS POOL/DEV ...             what thin DEV reads at the end (guest-lib's runs)
#   HASH PHASE DEV MD5            md5 of thin DEV of pool c (c1: before thin_message;
#                                 c2: re-activated after it; c3: after writes to 0 and 3)
#   MSG c RC WORDS                thin_message's exit status on c
#   CREATE c 1 RC                 dmsetup create of the deleted thin 1 (must fail)
set -u
. /guest/lib.sh
g_tools

BS=128

w() {         # w POOL DEV GEN FIRST_SECTOR NSECTORS
	pwrite "/dev/mapper/$1-t$2" "$2" "$3" "$4" "$5"
	emit "W $1 $2 $3 $4 $5"
}
status() {    # status PHASE POOL DEVS...
	s_ph=$1 s_p=$2
	shift 2
	emit "STATUS $s_ph $s_p pool $(dmsetup status "$s_p")"
	for s_d in "$@"; do emit "STATUS $s_ph $s_p $s_d $(dmsetup status "$s_p-t$s_d")"; done
}
snap() {      # snap POOL DEV ORIGIN (the origin active and suspended meanwhile); DEV is
	      # activated ($T sectors)
	g_run dmsetup suspend "$1-t$3"
	g_run dmsetup message "$1" 0 "create_snap $2 $3"
	g_run dmsetup resume "$1-t$3"
	emit "SNAP $1 $2 $3"
	g_thin "$1" "$2" $T
}
delete() {    # delete POOL DEV (not active)
	g_run dmsetup message "$1" 0 "delete $2"
	emit "DELETE $1 $2"
}
hash() {      # hash PHASE POOL DEV
	emit "HASH $1 $3 $(devhash "/dev/mapper/$2-t$3" 128)"
}

t0=$(date +%s)
for d in vdb vdd vdf; do emit "DISCARD $d $(cat /sys/block/$d/queue/discard_max_bytes)"; done

# --- a: a pool thin_message made, activated as it is
T=16384
g_run dmsetup create a --table "0 32768 thin-pool /dev/vda /dev/vdb $BS 0"
for d in 0 1 2 3; do g_thin a $d $T; done
status a0 a 0 1 2 3
w a 0 1 0 512             # blocks 0-3 of thin 0
w a 2 1 1280 256          # blocks 10-11 of snapshot 2
w a 3 1 0 128             # block 0 of snapshot 3
w a 1 1 6400 128          # block 50 of thin 1
snap a 5 0                # the kernel's snapshot of our thin
w a 0 2 0 128             # breaks sharing with 5
w a 5 2 128 128
g_run dmsetup remove a-t1
delete a 1
g_run dmsetup message a 0 "create_thin 4"   # thin_message deleted 4: the id is free
g_thin a 4 $T
w a 4 1 640 128
g_run dmsetup message a 0 "release_metadata_snap"   # the one thin_message reserved
g_run dmsetup message a 0 "set_transaction_id 7 8"
g_commit a 0 2 3 4 5
status a1 a 0 2 3 4 5
for d in 0 2 3 4 5; do runs "/dev/mapper/a-t$d" "a/$d"; done
g_teardown a 0 2 3 4 5

# --- b: the snaps fixture continued by thin_message
T=131072
g_run dmsetup create b --table "0 262144 thin-pool /dev/vdc /dev/vdd $BS 0"
for d in 1 2 3 5; do g_thin b $d $T; done
status b0 b 1 2 3 5
w b 5 1 0 1024            # blocks 0-7 of snapshot 5 (shared with 1 before)
w b 1 1 640 640           # blocks 5-9 of thin 1
w b 3 1 92160 1152        # up to the highest mapped block and beyond
snap b 6 5
w b 6 1 0 128
g_commit b 1 2 3 5 6
status b1 b 1 2 3 5 6
g_teardown b 1 2 3 5 6

# --- c: the kernel formats and writes; thin_message continues; the kernel again
T=16384
g_run dmsetup create c --table "0 32768 thin-pool /dev/vde /dev/vdf $BS 0"
g_run dmsetup message c 0 "create_thin 0"
g_run dmsetup message c 0 "create_thin 1"
g_thin c 0 $T
g_thin c 1 $T
w c 0 1 0 1024            # blocks 0-7
w c 1 1 2560 256          # blocks 20-21
snap c 2 0
w c 0 2 128 128           # block 1 of 0 after the snapshot
w c 2 2 384 256           # blocks 3-4 of 2
w c 2 3 12800 128         # block 100 of 2
g_run dmsetup message c 0 "set_transaction_id 0 1"
g_commit c 0 1 2
status c1 c 0 1 2
for d in 0 1 2; do hash c1 c $d; done
g_teardown c 0 1 2

cdisc=passdown
[ "$(cat /sys/block/vdf/queue/discard_max_bytes)" = 0 ] && cdisc=no_passdown
for m in "create_snap 3 2" "delete 1" "set_transaction_id 1 2" "create_snap 4 3" "delete 4" \
	"reserve_metadata_snap"; do
	thin_message /dev/vde $m >/tmp/msg.err 2>&1
	rc=$?
	emit "MSG c $rc $m"
	[ $rc = 0 ] || sed 's/^/| /' /tmp/msg.err
done
emit "OURS c2 c pool $(thin_status --discard $cdisc /dev/vde 2>&1)"
for d in 0 2 3; do emit "OURS c2 c $d $(thin_status --thin $d /dev/vde 2>&1)"; done
g_run dd if=/dev/vde of=/dev/vdg bs=65536 conv=fsync 2>/dev/null

g_run dmsetup create c --table "0 32768 thin-pool /dev/vde /dev/vdf $BS 0"
for d in 0 2 3; do g_thin c $d $T; done
status c2 c 0 2 3
for d in 0 2 3; do hash c2 c $d; done
dmsetup create c-t1 --table "0 $T thin /dev/mapper/c 1" >/dev/null 2>&1
rc=$?
emit "CREATE c 1 $rc"
[ $rc = 0 ] && g_run dmsetup remove c-t1
w c 3 4 0 128             # breaks sharing of block 0 between 0, 2 and 3
w c 0 4 384 128           # block 3 of 0, shared with 2 and 3
g_run dmsetup message c 0 "release_metadata_snap"
g_commit c 0 2 3
for d in 0 2 3; do hash c3 c $d; done
status c3 c 0 2 3
g_teardown c 0 2 3
emit "GUEST-SECONDS $(($(date +%s) - t0))"
exit 0

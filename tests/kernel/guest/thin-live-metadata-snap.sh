# SPDX-License-Identifier: GPL-2.0-only
# Guest half of tests/kernel/thin-live-metadata-snap.sh (runs in the VM; see that file).
# Disks: vda/vdb = metadata/data of pool "lp", which stays active and written all along.
# /guest holds our thin_dump and thin_delta (and the libraries they need).
# Pool: 64 MiB data, 64 KiB blocks (128 sectors); thins of 16 MiB (256 blocks).
# Each round R (1..ROUNDS, /guest/rounds): writes to thins 0 and 1 (round 1 then snapshots thin 0 as 2),
# reserve_metadata_snap, an O_DIRECT copy of the metadata device, each FORM run on the live
# device and on the copy, more writes, release_metadata_snap.
# Output lines for the host:
#   HELD R BLOCK                        the held metadata root after reserve
#   SAME R FORM RC MD5 MAPPED0 MAPPED1 MAPPED2   live and copy gave the same output and status
#                                       (md5 of stdout; mapped_blocks of devices 0 1 2 for dumps)
#   DIFF R FORM LIVE_RC COPY_RC         they differed (followed by "| " lines of diff)
set -u
. /guest/lib.sh
g_tools

BS=128
TSECT=32768
ROUNDS=$(cat /guest/rounds)
P=lp

w() {   # w DEV GEN FIRST_BLOCK NBLOCKS
	pwrite "/dev/mapper/$P-t$1" "$1" "$2" $(($3 * BS)) $(($4 * BS))
}

thin_on() {
	g_thin $P "$1" $TSECT
}

# form NAME ARGS...: run our tool on the live metadata device and on the copy, compare
form() {
	name=$1
	shift
	"$@" /dev/vda >/tmp/live.out 2>/tmp/live.err
	lrc=$?
	"$@" /tmp/copy.img >/tmp/copy.out 2>/tmp/copy.err
	crc=$?
	if [ $lrc != $crc ] || ! cmp -s /tmp/live.out /tmp/copy.out; then
		emit "DIFF $r $name $lrc $crc"
		diff /tmp/copy.out /tmp/live.out | head -n 8 | sed 's/^/| /'
		head -n 2 /tmp/live.err | sed 's/^/| live stderr: /'
		return
	fi
	m=$(for d in 0 1 2; do
		sed -n "s/.*<device dev_id=\"$d\" mapped_blocks=\"\([0-9]*\)\".*/\1/p" /tmp/live.out
	done | tr '\n' ' ')
	emit "SAME $r $name $lrc $(md5sum </tmp/live.out | cut -d' ' -f1) $m"
}

t0=$(date +%s)
g_run dmsetup create $P --table "0 131072 thin-pool /dev/vda /dev/vdb $BS 0"
g_run dmsetup message $P 0 "create_thin 0"
g_run dmsetup message $P 0 "create_thin 1"
thin_on 0
thin_on 1
r=1
while [ $r -le $ROUNDS ]; do
	w 0 $r $((2 * r)) 2                  # two new blocks of thin 0
	w 1 $r $r 1                          # one new block of thin 1
	if [ $r = 1 ]; then
		g_run dmsetup suspend $P-t0
		g_run dmsetup message $P 0 "create_snap 2 0"
		g_run dmsetup resume $P-t0
	fi
	w 0 $((r + 100)) 2 1                 # break sharing with snapshot 2 (again)
	g_run dmsetup message $P 0 "reserve_metadata_snap"
	set -- $(dmsetup status $P)
	held=$7
	emit "HELD $r $held"
	dd if=/dev/vda of=/tmp/copy.img bs=1M iflag=direct 2>/tmp/dd.err ||
		{ echo "GUEST-FAIL: dd iflag=direct: $(cat /tmp/dd.err)"; exit 1; }
	form dump-m thin_dump -m
	form dump-m=N thin_dump --metadata-snap=$held
	form delta-m thin_delta -m --snap1 0 --snap2 2
	form delta-m=N thin_delta --metadata-snap=$held --snap1 0 --snap2 2
	form delta-m-01 thin_delta -m --thin1 0 --thin2 1
	w 0 $((r + 200)) $((200 + r)) 1      # written while the snapshot is held
	w 1 $((r + 200)) $((200 + r)) 1
	g_run dmsetup message $P 0 "release_metadata_snap"
	r=$((r + 1))
done
g_run dmsetup remove $P-t1
g_run dmsetup remove $P-t0
g_run dmsetup remove $P
emit "GUEST-SECONDS $(( $(date +%s) - t0 ))"
exit 0

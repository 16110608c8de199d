# SPDX-License-Identifier: GPL-2.0-only
# Guest half of tests/kernel/thin-io.sh (runs in the VM; see that file).
# "feature WORD" lines of a plan go on both pools' table lines; with a "reopen" line the
# pool is deactivated and activated again before each write.
# Disks: vda = the external origin (P_ORIGIN sectors of the pattern of dev 99 gen 0);
#        then for each plan I (0, 1, ...) four disks: metadata (zeroed) / data of pool kI,
#        which the kernel formats and runs plan I on; metadata / data of pool eI, which
#        the engine (thin_message + thin_write) ran plan I on, on the host.
# /guest/plan.I: the plans (tests/kernel/lib/thin-io-plan's format); /guest/geom: BS VOL
# DATA (pool block in sectors, volume size in blocks, data device size in blocks).
# Output lines for the host:
#   HASH k|e I DEV MD5   md5 of thin DEV's whole volume in pool kI (after the kernel ran the
#                        plan) / eI (as the engine left it)
#   DIRECT 0|1           whether the writes used O_DIRECT (busybox dd oflag=direct)
#   GUEST-SECONDS N
set -u
. /guest/lib.sh

read -r BS VOL DATA </guest/geom
T=$((BS * VOL))
t0=$(date +%s)

# O_DIRECT writes if this dd can (the buffer alignment), else page cache + fsync
DIRECT=1
printf '%512s' x >/tmp/probe
g_run dmsetup create probe --table "0 8 zero"
dd if=/tmp/probe of=/dev/mapper/probe bs=512 count=1 oflag=direct conv=notrunc 2>/dev/null || DIRECT=0
g_run dmsetup remove probe
emit "DIRECT $DIRECT"

gw() {  # gw DEVPATH D G FIRST N
	awk -v d="$2" -v g="$3" -v f="$4" -v n="$5" 'BEGIN {
		for (s = f; s < f + n; s++) printf "%-511s\n", "dmmeta dev=" d " gen=" g " sector=" s
	}' >/tmp/w
	if [ $DIRECT = 1 ]; then
		dd if=/tmp/w of="$1" bs=$(($5 * 512)) seek=$(($4 * 512)) \
			oflag=seek_bytes,direct conv=notrunc,fsync 2>/tmp/dd.err
	else
		dd if=/tmp/w of="$1" bs=$(($5 * 512)) seek=$(($4 * 512)) \
			oflag=seek_bytes conv=notrunc,fsync 2>/tmp/dd.err
	fi || { echo "GUEST-FAIL: write $*: $(cat /tmp/dd.err)"; exit 1; }
}

vol() {  # vol POOL DEV EXT: activate thin DEV as POOL-tDEV (with the origin when EXT=1)
	if [ "$3" = 1 ]; then
		g_run dmsetup create "$1-t$2" --table "0 $T thin /dev/mapper/$1 $2 /dev/vda"
	else
		g_run dmsetup create "$1-t$2" --table "0 $T thin /dev/mapper/$1 $2"
	fi
}

# reactivate: tear the pool down and activate it again (as each thin_write call opens the
# pool afresh, the kernel's data allocator then starts again from block 0)
reactivate() {
	g_teardown $P $live
	g_run dmsetup create $P --table "$ptable"
	for r_d in $live; do eval "vol $P $r_d \$ext_$r_d"; done
}

letters="b c d e f g h i j k l m n o p q r s t u v w x y z"
i=0
n=0
set -- $letters
while [ -f "/guest/plan.$i" ]; do
	km=vd$1 kd=vd$2 em=vd$3 ed=vd$4
	shift 4
	rest=$*
	P=k$i
	feat=$(sed -n 's/^feature //p' "/guest/plan.$i" | tr '\n' ' ')
	set -- $feat
	feat="$# $feat"
	set -- $rest
	ptable="0 $((DATA * BS)) thin-pool /dev/$km /dev/$kd $BS 0 $feat"
	g_run dmsetup create $P --table "$ptable"
	reopen=0
	grep -q '^reopen' "/guest/plan.$i" && reopen=1
	live=
	while read -r op a b c d; do
		case $op in
		thin)
			g_run dmsetup message $P 0 "create_thin $a"
			eval "ext_$a=$b"
			vol $P "$a" "$b"
			live="$live $a" ;;
		snap)
			g_run dmsetup suspend "$P-t$b"
			g_run dmsetup message $P 0 "create_snap $a $b"
			g_run dmsetup resume "$P-t$b"
			eval "ext_$a=\$ext_$b"
			eval "vol $P $a \$ext_$a"
			live="$live $a" ;;
		delete)
			g_run dmsetup remove "$P-t$a"
			g_run dmsetup message $P 0 "delete $a"
			live=$(echo "$live" | tr ' ' '\n' | grep -vx "$a" | tr '\n' ' ') ;;
		txn)
			g_run dmsetup message $P 0 "set_transaction_id $a $b" ;;
		write)
			[ $reopen = 0 ] || reactivate
			gw "/dev/mapper/$P-t$a" "$a" "$b" "$c" "$d" ;;
		discard)
			g_run blkdiscard -o $((b * 512)) -l $((c * 512)) "/dev/mapper/$P-t$a" ;;
		live|feature|reopen) ;;
		*)
			echo "GUEST-FAIL: plan.$i: bad line: $op $a $b $c $d"; exit 1 ;;
		esac
	done <"/guest/plan.$i"
	for d in $live; do emit "HASH k $i $d $(devhash "/dev/mapper/$P-t$d" $((VOL * BS / 128)))"; done
	g_teardown $P $live

	# the engine's pool: read every volume the plan left
	P=e$i
	g_run dmsetup create $P --table "0 $((DATA * BS)) thin-pool /dev/$em /dev/$ed $BS 0 $feat"
	grep '^live ' "/guest/plan.$i" >/tmp/live
	elive=
	while read -r op a b; do
		vol $P "$a" "$b"
		elive="$elive $a"
	done </tmp/live
	for d in $elive; do emit "HASH e $i $d $(devhash "/dev/mapper/$P-t$d" $((VOL * BS / 128)))"; done
	g_teardown $P $elive
	i=$((i + 1))
done
emit "PLANS $i"
emit "GUEST-SECONDS $(($(date +%s) - t0))"
exit 0

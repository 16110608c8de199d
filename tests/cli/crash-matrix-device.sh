#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# asan: check-long
#
# Crash matrix on block devices (loop devices with 4096-byte logical sectors, so the tools'
# O_DIRECT writes of 512-byte pieces go through io.c's read-modify-write): every write of
#   thin_restore -o DEV (snaps.xml over a one-thin pool): afterwards our thin_check (and
#     tpt 1.1's, when present) rejects the device or dumps exactly the old or the new pool;
#   thin_check --auto-repair DEV (leaks in "many"): the same, and running it again
#     finishes: a clean check and the repaired pool's dump;
#   snap_merge --origin DEV DEV (the "areas" store: 512-byte chunks, areas rewritten a sector
#     at a time): running it again leaves origin and COW byte for byte as an uninterrupted
#     merge does;
# crashed in modes kill, tear:512, powerloss and reorder (powerloss and reorder also at exit).
# Needs root and losetup with --sector-size; skips otherwise.  MODES="..." narrows.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

[ -f "$FAULTINJ" ] || skip "fault-injection shim not built: $FAULTINJ (make test-tools)"
require_tool thin_restore thin_check thin_dump snap_merge
require_cmd losetup blockdev
[ "$(id -u)" = 0 ] || skip "not root: no loop devices"
MODES=${MODES:-kill tear:512 powerloss reorder}
crash_init thin_restore "device outputs" # ASan options and HAVE_TPT (tests/lib.sh)

LOOPS=
cleanup() {
	for l in $LOOPS; do losetup -d "$l" 2>/dev/null; done
}
trap cleanup EXIT
loop() { # FILE VAR: a loop device with 4096-byte sectors over FILE, its path in VAR
	l=$(losetup -f --show --sector-size 4096 "$1" 2>/dev/null) ||
		skip "losetup cannot attach a loop device with 4096-byte sectors here"
	LOOPS="$LOOPS $l"
	eval "$2=\$l"
}

nfail=0 nruns=0
bad() {
	nfail=$((nfail + 1))
	[ $nfail -le 30 ] && echo "FAIL: $family: $*"
	return 0
}
# put FILE DEV: write FILE's bytes onto DEV, and drop DEV's buffer cache
put() {
	dd if="$1" of="$2" bs=65536 oflag=direct conv=notrunc status=none || fail "dd to $2"
	blockdev --flushbufs "$2" 2>/dev/null
}
# get DEV FILE: DEV's bytes (read direct)
get() {
	dd if="$1" of="$2" bs=65536 iflag=direct status=none || fail "dd from $1"
}
# thin_verdict DEV: v = old, new, rejected or WRONG (ours, and tpt's when present)
thin_verdict() {
	v=rejected
	if "$BIN/thin_check" -q "$1" >/dev/null 2>&1; then
		"$BIN/thin_dump" "$1" >now.xml 2>/dev/null
		if cmp -s now.xml old.xml; then v=old
		elif cmp -s now.xml new.xml; then v=new
		else v=WRONG
		fi
	fi
	vt=$v
	if [ $HAVE_TPT = 1 ]; then
		vt=rejected
		if "$TPT11" thin_check -q "$1" >/dev/null 2>&1; then
			"$TPT11" thin_dump "$1" >now.xml 2>/dev/null
			if cmp -s now.xml old.tpt.xml; then vt=old
			elif cmp -s now.xml new.tpt.xml; then vt=new
			else vt=WRONG
			fi
		fi
	fi
}
refs() { # DEV TAG: TAG.xml (ours) and TAG.tpt.xml
	"$BIN/thin_dump" "$1" >"$2.xml" 2>/dev/null
	[ $HAVE_TPT = 0 ] || "$TPT11" thin_dump "$1" >"$2.tpt.xml" 2>/dev/null
}

# matrix SETUP VERIFY CMD...
matrix() {
	setup=$1 verify=$2
	shift 2
	$setup
	rm -f count.txt
	shim DMMETA_FAULT_COUNT=count.txt "$@"
	[ "$crc" = 0 ] || { cat crash.err; fail "$family: uninterrupted run exits $crc"; }
	W=$(cat count.txt)
	$REF
	for mode in $MODES; do
		last=$W
		case $mode in powerloss|reorder) last=$((W + 1)) ;; esac
		crash_ns $last
		for n in $CRASH_NS; do
			$setup
			nruns=$((nruns + 1))
			shim DMMETA_FAULT_AT=$n DMMETA_FAULT_MODE=$mode "$@"
			[ "$crc" = 137 ] || bad "$mode at $n/$W: exit $crc, want 137: $(head -c 200 crash.err)"
			$verify "$mode at $n/$W" "$@"
		done
	done
	note "$family: $W writes x {$MODES}: done at $(date +%T)"
}

# ---- thin_restore onto a device ---------------------------------------------------------
family=thin_restore
fixture one-thin old-pool.bin
truncate -s $((256 * 4096)) old-pool.bin
truncate -s $((256 * 4096)) dev-t.bin
loop dev-t.bin LT
setup_restore() { put old-pool.bin "$LT"; }
setup_restore
refs "$LT" old
ref_restore() {
	refs "$LT" new
	"$BIN/thin_check" -q "$LT" || fail "$family: our thin_check rejects the uninterrupted result"
	cmp -s old.xml new.xml && fail "$family: old and new pools dump the same"
}
verify_state() {
	thin_verdict "$DEV"
	[ "$v" != WRONG ] || bad "$1: our thin_check accepts a pool that is neither the old nor the new one"
	[ "$vt" != WRONG ] || bad "$1: tpt 1.1 thin_check accepts a pool that is neither the old nor the new one"
	[ "$v" = "$vt" ] || [ "$v" = WRONG ] || [ "$vt" = WRONG ] || bad "$1: checkers disagree: ours $v, tpt $vt"
}
REF=ref_restore
DEV=$LT
matrix setup_restore verify_state "$BIN/thin_restore" -q --force -i "$FIX/thin/snaps.xml" -o "$LT"

# ---- thin_check --auto-repair on a device ------------------------------------------------
family=thin_autorepair
fixture many leaky.bin
for k in 0 40; do
	"$TT/thin_damage" leaky.bin leak-metadata "$("$TT/thin_damage" leaky.bin find free-metadata $k)" >/dev/null ||
		fail "thin_damage leak-metadata"
done
for k in 0 20000 40000 60000; do
	"$TT/thin_damage" leaky.bin leak-data "$("$TT/thin_damage" leaky.bin find free-data $k)" >/dev/null ||
		fail "thin_damage leak-data"
done
cp leaky.bin dev-l.bin
loop dev-l.bin LL
setup_leaks() { put leaky.bin "$LL"; }
setup_leaks
: >old.xml
: >old.tpt.xml
ref_leaks() {
	refs "$LL" new
	"$BIN/thin_check" -q "$LL" || fail "$family: our thin_check rejects the repaired pool"
}
verify_leaks() {
	verify_state "$1"
	rr=0
	"$BIN/thin_check" -q --auto-repair "$LL" >/dev/null 2>rerun.err || rr=$?
	if [ $rr != 0 ]; then
		bad "$1: running it again exits $rr: $(head -c 200 rerun.err)"
	else
		thin_verdict "$LL"
		[ "$v" = new ] && [ "$vt" = new ] || bad "$1: after running it again: ours $v, tpt $vt, want new"
	fi
}
REF=ref_leaks
DEV=$LL
matrix setup_leaks verify_leaks "$BIN/thin_check" -q --auto-repair "$LL"

# ---- snap_merge on devices ---------------------------------------------------------------
family=snap_merge
gzip -dc "$FIX/snap/areas.bin.gz" >cow0.bin
gzip -dc "$FIX/snap/areas-origin.bin.gz" >origin0.bin
cp cow0.bin dev-c.bin
cp origin0.bin dev-o.bin
loop dev-c.bin LC
loop dev-o.bin LO
setup_merge() { put cow0.bin "$LC"; put origin0.bin "$LO"; }
ref_merge() {
	get "$LO" ref-o.bin
	get "$LC" ref-c.bin
	cmp -s ref-o.bin origin0.bin && fail "$family: the merge did not change the origin"
}
verify_merge() {
	rr=0
	"$BIN/snap_merge" -q --origin "$LO" "$LC" >/dev/null 2>rerun.err || rr=$?
	if [ $rr != 0 ]; then
		bad "$1: running snap_merge again exits $rr: $(head -c 200 rerun.err)"
	else
		get "$LO" o.bin
		get "$LC" c.bin
		cmp -s o.bin ref-o.bin || bad "$1: resumed merge: origin differs from an uninterrupted merge's"
		cmp -s c.bin ref-c.bin || bad "$1: resumed merge: COW differs from an uninterrupted merge's"
	fi
}
REF=ref_merge
matrix setup_merge verify_merge "$BIN/snap_merge" -q --origin "$LO" "$LC"

echo "device crash matrix: $nruns crashed runs, $nfail failures"
[ $nfail = 0 ] || exit 1
exit 0

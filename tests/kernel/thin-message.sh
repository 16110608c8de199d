#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# thin_message and the kernel: pools thin_message made are activated by Debian's 6.1 kernel,
# and a pool the kernel made is continued by thin_message and activated again.
# Exit 0 pass, 1 fail, 77 skip.
#
# Host, before the boot (thin_message on image files):
#   a: a fresh pool (--format --data-dev), thins 0 1, snapshot 2 of 0, snapshot 3 of 2
#      (a snapshot of a snapshot), thin 4 created and deleted, set_transaction_id 0 7,
#      reserve_metadata_snap (a held metadata snapshot);
#   b: the snaps fixture (4 devices with 300 mapped blocks each, shared), continued:
#      create_snap 5 1, delete 0 (an origin with mappings), set_transaction_id 4 9.
# One VM boot (guest/thin-message.sh):
#   a, b: activated as they are; `dmsetup status` of the pool and every thin before any write;
#      then the kernel writes, snapshots our devices, deletes one, creates thin 4 again (the
#      id thin_message freed), releases the metadata snapshot thin_message reserved, sets
#      the transaction id; every thin device of a read back at the end;
#   c: the kernel formats a pool, writes two thins, snapshots one, writes both sides,
#      set_transaction_id 0 1, md5 of every thin; torn down, then our thin_message (in the
#      guest) runs create_snap 3 2, delete 1, set_transaction_id 1 2, create_snap 4 3,
#      delete 4, reserve_metadata_snap on its metadata device and thin_status prints its
#      lines; the kernel activates it again: status, md5 of every thin, the deleted thin 1
#      refused; writes to 0 and 3, release_metadata_snap.
# Host checks:
#   - a0, b0: `dmsetup status` of each pool and thin = thin_status on the image thin_message
#     left (before the boot), byte for byte; c2: = thin_status run by the guest after
#     thin_message;
#   - c: thins 0 and 2 read back the same bytes after thin_message as before, snapshot 3
#     the bytes of its origin 2; after writes to 0 and 3, thin 2 still reads the same;
#     thin 1 cannot be activated; every message exits 0;
#   - a: every thin device reads exactly what the guest's writes, snapshots and delete
#     imply (a wrong reference count in our space maps would let the kernel hand out a
#     block still in use);
#   - our thin_check, 1.1's and 0.9's pass every metadata image: a, b and c as the kernel
#     left them, and c as thin_message left it (copied by the guest); the final dumps have
#     the devices and transaction ids the scenario implies.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"
. "$SRCDIR/tests/kernel/lib/kernel.sh"

require_tool thin_message thin_status thin_check thin_dump
k_require_vm

BS=128

# the tools run in the guest for pool c
k_guest_tools thin_message thin_status

# msg IMG WORDS...: thin_message on a host image, which must succeed
msg() {
	m_img=$1
	shift
	run "$BIN/thin_message" "$m_img" "$@"
	[ "$rc" = 0 ] || { _show_run; fail "thin_message $m_img $*: exit $rc"; }
}

# --- a
zero_file a-meta.img 1024       # 4 MiB
zero_file a-data.img 4096       # 16 MiB: 256 blocks
run "$BIN/thin_message" --format --data-block-size $BS --data-dev a-data.img a-meta.img
[ "$rc" = 0 ] || { _show_run; fail "thin_message --format: exit $rc"; }
msg a-meta.img create_thin 0
msg a-meta.img create_thin 1
msg a-meta.img create_snap 2 0
msg a-meta.img create_snap 3 2
msg a-meta.img create_thin 4
msg a-meta.img delete 4
msg a-meta.img set_transaction_id 0 7
msg a-meta.img reserve_metadata_snap
# --- b
fixture snaps b-meta.img
zero_file b-data.img 32768      # 128 MiB: 2048 blocks (sparse)
msg b-meta.img create_snap 5 1
msg b-meta.img delete 0
msg b-meta.img set_transaction_id 4 9
# --- c
zero_file c-meta.img 1024
zero_file c-data.img 4096
zero_file c-copy.img 1024

for p in a b; do
	cp --sparse=always $p-meta.img $p-meta.before || fail "cannot copy $p-meta.img"
	for t in "$TPT11" "$TPT09"; do
		[ -n "$t" ] || continue
		"$t" thin_check "$p-meta.img" >tc.out 2>&1 ||
			{ cat tc.out >&2; k_bad "$p: $t thin_check rejects thin_message's pool before the boot"; }
	done
done

k_guest thin-message.sh a-meta.img a-data.img b-meta.img b-data.img c-meta.img c-data.img c-copy.img

kline() {   # kline PHASE POOL WHAT: the kernel's status text after "START LEN TARGET "
	sed -n "s/^STATUS $1 $2 $3 [0-9]* [0-9]* thin[-a-z]* //p" guest.out
}
disc() {
	[ "$(sed -n "s/^DISCARD $1 //p" guest.out)" = 0 ] && echo no_passdown || echo passdown
}
same() {    # same LABEL KERNEL OURS
	[ -n "$2" ] || { k_bad "$1: the guest recorded no status line"; return; }
	[ "$2" = "$3" ] || k_bad "$1: kernel '$2', thin_status '$3'"
}
ours() {    # ours ARGS...: thin_status's line in $out
	run "$BIN/thin_status" "$@"
	[ "$rc" = 0 ] || { _show_run; k_bad "thin_status $*: exit $rc"; }
	out=$(cat run.out)
}

# --- a0, b0: the kernel's status of thin_message's pools = thin_status on them
ours --discard "$(disc vdb)" a-meta.before
same "a0 pool (thin_status --discard $(disc vdb))" "$(kline a0 a pool)" "$out"
set -- $(kline a0 a pool)
[ "${1:-}" = 7 ] && [ "${4:-}" != - ] ||
	k_bad "a0: the kernel shows transaction '${1:-}', held root '${4:-}' (want 7 and a block)"
for d in 0 1 2 3; do
	ours --thin $d a-meta.before
	same "a0 thin $d" "$(kline a0 a $d)" "$out"
done
ours --discard "$(disc vdd)" b-meta.before
same "b0 pool (thin_status --discard $(disc vdd))" "$(kline b0 b pool)" "$out"
for d in 1 2 3 5; do
	ours --thin $d b-meta.before
	same "b0 thin $d" "$(kline b0 b $d)" "$out"
done

# --- a: every thin reads what the guest's writes imply
K_BS=$BS k_thin_model a.model a
for d in 0 2 3 4 5; do
	grep "^RUNS a/$d " guest.out >got.runs
	K_BS=$BS k_model_runs a.model $d a/$d >want.runs
	cmp -s want.runs got.runs || {
		diff want.runs got.runs | head -n 10 >&2
		k_bad "a: thin $d reads differently from what the guest wrote (< expected > kernel)"
	}
done

# --- c: thin_message on the kernel's pool
awk '$1 == "MSG" && $3 != 0' guest.out >bad.msg
[ ! -s bad.msg ] || k_bad "c: thin_message failed in the guest: $(tr '\n' ';' <bad.msg)"
[ "$(grep -c '^MSG c 0 ' guest.out)" = 6 ] || k_bad "c: $(grep -c '^MSG c 0 ' guest.out) of 6 messages succeeded"
same "c2 pool (thin_status in the guest after thin_message)" "$(kline c2 c pool)" \
	"$(sed -n 's/^OURS c2 c pool //p' guest.out)"
for d in 0 2 3; do
	same "c2 thin $d" "$(kline c2 c $d)" "$(sed -n "s/^OURS c2 c $d //p" guest.out)"
done
set -- $(kline c2 c pool)
[ "${1:-}" = 2 ] && [ "${4:-}" != - ] ||
	k_bad "c2: the kernel shows transaction '${1:-}', held root '${4:-}' (want 2 and a block)"
h() { sed -n "s/^HASH $1 $2 //p" guest.out; }
for d in 0 1 2; do [ -n "$(h c1 $d)" ] || k_bad "c1: no md5 of thin $d"; done
[ "$(h c2 0)" = "$(h c1 0)" ] || k_bad "c: thin 0 reads differently after thin_message"
[ "$(h c2 2)" = "$(h c1 2)" ] || k_bad "c: thin 2 reads differently after thin_message"
[ "$(h c2 3)" = "$(h c1 2)" ] || k_bad "c: snapshot 3 (made by thin_message) does not read as its origin 2"
[ "$(h c3 2)" = "$(h c1 2)" ] || k_bad "c: thin 2 changed when the kernel wrote to 0 and 3"
[ "$(h c3 0)" != "$(h c1 0)" ] && [ "$(h c3 3)" != "$(h c1 2)" ] ||
	k_bad "c: the writes to 0 and 3 after thin_message did not show (scenario broken?)"
[ "$(sed -n 's/^CREATE c 1 //p' guest.out)" != 0 ] ||
	k_bad "c: the kernel activated thin 1, which thin_message deleted"

# --- every metadata image passes the checkers; the final dumps
for img in a-meta.img b-meta.img c-copy.img c-meta.img; do
	run "$BIN/thin_check" "$img"
	[ "$rc" = 0 ] || { _show_run; k_bad "$img: our thin_check exit $rc"; }
	for t in "$TPT11" "$TPT09"; do
		[ -n "$t" ] || continue
		"$t" thin_check "$img" >tc.out 2>&1 || { cat tc.out >&2; k_bad "$img: $t thin_check rejects it"; }
	done
done
# dump IMG WANT-DEVS WANT-TRANSACTION
dump() {
	"$BIN/thin_dump" "$1" >d.xml 2>/dev/null || { k_bad "$1: thin_dump fails"; return; }
	dv=$(sed -n 's/.*<device dev_id="\([0-9]*\)".*/\1/p' d.xml | tr '\n' ' ')
	[ "$dv" = "$2" ] || k_bad "$1: devices '$dv', want '$2'"
	grep -q "<superblock .*transaction=\"$3\"" d.xml || k_bad "$1: $(head -n 1 d.xml), want transaction $3"
}
dump a-meta.img "0 2 3 4 5 " 8
dump b-meta.img "1 2 3 5 6 " 9
dump c-copy.img "0 2 3 " 2
dump c-meta.img "0 2 3 " 2
"$BIN/thin_dump" -m c-copy.img >/dev/null 2>&1 || k_bad "c-copy.img: no metadata snapshot after reserve_metadata_snap"

for ph in a0 a1 b0 b1 c1 c2 c3; do
	grep "^STATUS $ph " guest.out | sed 's/^/kernel: /'
done
note "guest: $(grep '^GUEST-SECONDS' guest.out)"
k_finish

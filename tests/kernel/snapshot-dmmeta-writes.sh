#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# dmmeta writes, kernel reads: a classic snapshot COW made by $BIN/snap_restore activates
# in Debian's 6.1 kernel and shows the expected snapshot view; the kernel adds exceptions
# to it and finally merges it.  Exit 0 pass, 1 fail, 77 skip.
#
# Host: origin.img and the COW's data chunks filled from a write history (init.log: base
# on the origin, snapshot, origin writes to chunks 0 and 100, snapshot writes to chunks
# 5-7), cow.xml with those 5 exceptions -> snap_restore -> cow.img.
# Guest (one boot): snapshot-origin + snapshot (P, chunk 16); status; read both devices
# back; write through both (one new exception each way, one write into a restored
# exception); read back; copy the COW; snapshot-merge; read the merged origin.
# Checks: the kernel's status = snap_check's; every device reads exactly what the model
# says (sector runs), before and after the kernel's writes; the copied COW passes
# snap_check with the kernel's status, snap_dump lists the restored + the kernel's
# exceptions, each holding the snapshot's data; the merged origin is the snapshot's view.
# Also: a merge started by $BIN/snap_merge and interrupted (--stop-after 1) is finished by
# the kernel's snapshot-merge, giving the snapshot's view and an empty store; and a
# kernel merge interrupted part-way (dm-delay, target removed) is finished by snap_merge,
# giving the same origin bytes.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"
. "$SRCDIR/tests/kernel/lib/kernel.sh"

require_tool snap_restore snap_check snap_dump
k_require_vm

CS=16
cat >init.log <<'LOG'
W cs 0 1 0 4096
SNAP cs 1 0
W cs 0 2 0 16
W cs 0 2 1600 16
W cs 1 3 80 48
LOG
cat >cow.xml <<'XML'
<snapshot_store magic="0x70416e53" valid="1" version="1" chunk_size="16">
  <exception old_chunk="0" new_chunk="2"/>
  <exception old_chunk="100" new_chunk="3"/>
  <exception old_chunk="5" new_chunk="4"/>
  <exception old_chunk="6" new_chunk="5"/>
  <exception old_chunk="7" new_chunk="6"/>
</snapshot_store>
XML
zero_file origin.img 1024
zero_file cow.img 1024
zero_file cow-copy.img 1024
awk '$1 == "W" && $3 == 0 { print $4, $5, $6 }' init.log | while read -r g f n; do
	k_pattern 0 "$g" "$f" "$n" | dd of=origin.img bs=512 seek="$f" conv=notrunc 2>/dev/null ||
		fail "cannot write origin.img"
done
run "$BIN/snap_restore" -i cow.xml -o cow.img
[ "$rc" = 0 ] || { _show_run; fail "snap_restore exit $rc"; }
K_LOG=init.log K_BS=$CS k_thin_model before.model cs
sed -n 's/.*old_chunk="\([0-9]*\)" new_chunk="\([0-9]*\)".*/1 \1 \2/p' cow.xml >restored.map
# COW data chunks: the snapshot's view of each excepted chunk.
awk 'NR == FNR { m[$2] = $3; next } $1 == 1 && ($2 in m) { print m[$2], $3, $4, $5, $6 }' \
	restored.map before.model | while read -r nc i wd g ws; do
	k_pattern "$wd" "$g" "$ws" 1 | dd of=cow.img bs=512 seek=$((nc * CS + i)) conv=notrunc 2>/dev/null ||
		fail "cannot write cow.img"
done
run "$BIN/snap_check" cow.img
[ "$rc" = 0 ] || { _show_run; fail "snap_check exit $rc on snap_restore's output"; }
ours=$(cat run.out)

# A merge started offline and interrupted after one batch; the kernel is to finish it.
cp origin.img origin2.img && cp cow.img cow2.img || fail "cannot copy the images"
run "$BIN/snap_merge" --stop-after 1 --origin origin2.img cow2.img
if [ ! -x "$BIN/snap_merge" ]; then
	note "snap_merge not built: the kernel finishes no interrupted merge (the pair is unmerged)"
elif [ "$rc" != 3 ]; then
	_show_run
	k_bad "snap_merge --stop-after 1: exit $rc, expected 3 (interrupted)"
else
	left=$("$BIN/snap_dump" cow2.img | grep -c '<exception')
	[ "$left" -gt 0 ] && [ "$left" -lt 5 ] ||
		k_bad "after snap_merge --stop-after 1 the store holds $left of 5 exceptions (expected some merged, some left)"
	note "interrupted offline merge: $left of 5 exceptions left for the kernel"
fi

cp origin.img origin3.img && cp cow.img cow3.img || fail "cannot copy the images"

k_guest snapshot-dmmeta-writes.sh origin.img cow.img cow-copy.img origin2.img cow2.img \
	origin3.img cow3.img

st=$(sed -n 's/^STATUS cs before [0-9]* [0-9]* snapshot //p' guest.out)
[ "$st" = "$ours" ] || k_bad "the kernel's status of the restored store is '$st', snap_check said '$ours'"
for d in 1 0; do
	grep "^RUNS before/$d " guest.out >got.runs
	K_BS=$CS k_model_runs before.model $d before/$d >want.runs
	cmp -s want.runs got.runs || {
		diff want.runs got.runs | head -n 10 >&2
		k_bad "device $d (1 = snapshot) as restored reads differently from the model (< expected > kernel)"
	}
done

{ cat init.log; grep '^W cs ' guest.out; } >all.log
K_LOG=all.log K_BS=$CS k_thin_model after.model cs
for d in 1 0; do
	grep "^RUNS after/$d " guest.out >got.runs
	K_BS=$CS k_model_runs after.model $d after/$d >want.runs
	cmp -s want.runs got.runs || {
		diff want.runs got.runs | head -n 10 >&2
		k_bad "device $d (1 = snapshot) after the kernel's writes reads differently from the model (< expected > kernel)"
	}
done
grep '^RUNS merged/0 ' guest.out >got.runs
K_BS=$CS k_model_runs after.model 1 merged/0 >want.runs
cmp -s want.runs got.runs || {
	diff want.runs got.runs | head -n 10 >&2
	k_bad "the kernel's merge of our store did not give the origin the snapshot's view (< expected > kernel)"
}

grep '^RUNS resumed/0 ' guest.out >got.runs
K_BS=$CS k_model_runs before.model 1 resumed/0 >want.runs
cmp -s want.runs got.runs || {
	diff want.runs got.runs | head -n 10 >&2
	k_bad "the kernel finishing snap_merge's interrupted merge did not give the snapshot's view (< expected > kernel)"
}
run "$BIN/snap_check" cow2.img
[ "$rc" = 0 ] && [ "$(cat run.out)" = "32/8192 32" ] ||
	{ _show_run; k_bad "snap_check on the store whose merge the kernel finished: '$(cat run.out)' (exit $rc)"; }

# The kernel's interrupted merge, finished by snap_merge.
ist=$(sed -n 's/^STATUS cs interrupted [0-9]* [0-9]* snapshot-merge //p' guest.out)
left=$("$BIN/snap_dump" cow3.img | grep -c '<exception')
note "kernel merge interrupted at status '$ist', $left of 5 exceptions left for snap_merge"
[ "$left" -lt 5 ] || note "the kernel had merged nothing when interrupted (dm-delay too slow?)"
if [ -x "$BIN/snap_merge" ]; then
	run "$BIN/snap_merge" --origin origin3.img cow3.img
	[ "$rc" = 0 ] || { _show_run; k_bad "snap_merge finishing the kernel's interrupted merge: exit $rc"; }
	cmp -s origin3.img origin2.img ||
		k_bad "snap_merge finishing the kernel's interrupted merge gives another origin than the kernel finishing snap_merge's: $(cmp origin3.img origin2.img 2>&1 | head -n 1)"
	run "$BIN/snap_check" cow3.img
	[ "$rc" = 0 ] && [ "$(cat run.out)" = "32/8192 32" ] ||
		{ _show_run; k_bad "snap_check after snap_merge finished the kernel's merge: '$(cat run.out)' (exit $rc)"; }
fi

st=$(sed -n 's/^STATUS cs after [0-9]* [0-9]* snapshot //p' guest.out)
run "$BIN/snap_check" cow-copy.img
[ "$rc" = 0 ] || { _show_run; k_bad "snap_check exit $rc on the store the kernel extended"; }
[ "$(cat run.out)" = "$st" ] || k_bad "snap_check prints '$(cat run.out)', the kernel's status was '$st'"
run "$BIN/snap_dump" cow-copy.img
[ "$rc" = 0 ] || { _show_run; k_bad "snap_dump exit $rc on the store the kernel extended"; }
sed -n 's/.*<exception old_chunk="\([0-9]*\)" new_chunk="\([0-9]*\)".*/1 \1 \2/p' run.out |
	sort -n -k2,2 >cow.map
awk '{ print $2 }' cow.map >got-chunks
printf '%s\n' 0 5 6 7 100 200 300 >want-chunks
cmp -s want-chunks got-chunks || {
	diff want-chunks got-chunks >&2
	k_bad "snap_dump's old chunks after the kernel's writes differ (< expected > dumped)"
}
k_check_data cow.map after.model cow-copy.img $CS "COW after the kernel's writes"
run "$BIN/snap_check" cow.img
mst=$(sed -n 's/^STATUS cs merged-end [0-9]* [0-9]* snapshot-merge //p' guest.out)
[ "$rc" = 0 ] && [ "$(cat run.out)" = "$mst" ] ||
	{ _show_run; k_bad "snap_check on the store the kernel merged: '$(cat run.out)' (exit $rc), kernel: '$mst'"; }
k_finish

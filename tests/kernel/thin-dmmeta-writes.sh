#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# dmmeta writes, kernel reads: a pool made by $BIN/thin_restore activates in Debian's 6.1
# kernel and serves the expected data; the kernel then writes, snapshots, deletes and
# allocates through the restored space maps, and our tools read the result.
# Exit 0 pass, 1 fail, 77 skip (no thin_restore yet, no qemu, no kernel).
#
# Host: pool.xml (thins 0, 1 = snapshot of 0 with its own blocks, 5; shared data blocks)
# -> thin_restore -> meta.img; data.img filled with the pattern each mapping's history says
# (every sector names device, generation, sector).  Guest (one boot): activate, report
# status and the sector runs each thin device reads; then break sharing from both sides,
# write in place, create_snap 6 5, delete 1, commit, allocate 26 more blocks,
# set_transaction_id 7 8, read everything again, tear down.  Host checks:
#   - the kernel's status: transaction 7, used data blocks and mapped sectors as restored;
#   - every thin device reads exactly what the model says, before and after phase 2
#     (a wrong reference count in our space map would let the kernel hand out a block
#     still in use, and some device would read another's data);
#   - after the kernel's teardown: $BIN/thin_check passes, $BIN/thin_dump shows devices
#     0 5 6, transaction 8 and the model's mapped blocks, each holding the right sectors;
#     the 0.9/1.1 references' thin_check pass too;
#   - when $BIN/thin_repair exists: its copy of the restored metadata activates (on a copy
#     of the data) and every thin device reads as restored.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"
. "$SRCDIR/tests/kernel/lib/kernel.sh"

require_tool thin_restore thin_check thin_dump
k_require_vm

BS=128
cat >pool.xml <<'XML'
<superblock uuid="" time="1" transaction="7" flags="0" version="2" data_block_size="128" nr_data_blocks="1024">
  <device dev_id="0" mapped_blocks="25" transaction="0" creation_time="0" snap_time="1">
    <range_mapping origin_begin="0" data_begin="0" length="16" time="0"/>
    <single_mapping origin_block="20" data_block="40" time="0"/>
    <range_mapping origin_begin="64" data_begin="16" length="8" time="0"/>
  </device>
  <device dev_id="1" mapped_blocks="25" transaction="0" creation_time="1" snap_time="1">
    <range_mapping origin_begin="0" data_begin="0" length="10" time="0"/>
    <range_mapping origin_begin="10" data_begin="24" length="6" time="1"/>
    <single_mapping origin_block="20" data_block="40" time="0"/>
    <range_mapping origin_begin="64" data_begin="16" length="8" time="0"/>
  </device>
  <device dev_id="5" mapped_blocks="5" transaction="0" creation_time="1" snap_time="1">
    <range_mapping origin_begin="100" data_begin="30" length="4" time="1"/>
    <single_mapping origin_block="127" data_block="50" time="1"/>
  </device>
</superblock>
XML
# The history pool.xml stands for, in the guest log's terms.
cat >init.log <<'LOG'
W p 0 1 0 2048
W p 0 1 2560 128
W p 0 1 8192 1024
SNAP p 1 0
W p 1 1 1280 768
W p 5 1 12800 512
W p 5 1 16256 128
LOG

zero_file meta.img 1024
zero_file data.img 16384
run "$BIN/thin_restore" -i pool.xml -o meta.img
[ "$rc" = 0 ] || { _show_run; fail "thin_restore exit $rc"; }
run "$BIN/thin_check" meta.img
[ "$rc" = 0 ] || { _show_run; fail "thin_check exit $rc on thin_restore's output"; }

k_thin_map pool.xml | sort -n -k1,1 -k2,2 >pool.map
awk -v bs=$BS 'NR == FNR { m[$1 " " $2] = $3; next }
	$1 == "W" { for (b = int($5 / bs); b <= int(($5 + $6 - 1) / bs); b++) print $3, $4, b, m[$3 " " b] }' \
	pool.map init.log | while read -r d g b db; do
	[ -n "$db" ] || fail "init.log writes dev $d block $b, which pool.xml does not map"
	k_pattern "$d" "$g" $((b * BS)) $BS |
		dd of=data.img bs=512 seek=$((db * BS)) conv=notrunc 2>/dev/null || fail "cannot write data.img"
done

# thin_repair's copy of the restored metadata, over a copy of the data, when it exists.
EXTRA=
if [ -x "$BIN/thin_repair" ]; then
	zero_file repaired.img 1024
	run "$BIN/thin_repair" -i meta.img -o repaired.img
	if [ "$rc" = 0 ]; then
		cp --sparse=always data.img data2.img || fail "cannot copy data.img"
		EXTRA="repaired.img data2.img"
	else
		_show_run
		k_bad "thin_repair of thin_restore's pool: exit $rc"
	fi
else
	note "thin_repair not built: its output is not activated"
fi

k_guest thin-dmmeta-writes.sh meta.img data.img $EXTRA

# --- phase 1: the kernel's view of what we restored
set -- $(sed -n 's/^STATUS p pool //p' guest.out)
[ "$4" = 7 ] || k_bad "kernel transaction id $4, pool.xml says 7"
used=$(awk '{ print $3 }' pool.map | sort -u | wc -l | tr -d ' ')
[ "$6" = "$used/1024" ] || k_bad "kernel uses $6 data blocks, pool.xml maps $used distinct of 1024"
K_LOG=init.log K_BS=$BS k_thin_model before.model p
for d in 0 1 5; do
	n=$(awk -v d=$d '$1 == d' pool.map | wc -l | tr -d ' ')
	set -- $(sed -n "s/^STATUS p $d //p" guest.out)
	[ "$4" = $((n * BS)) ] || k_bad "kernel says thin $d maps $4 sectors, pool.xml $n blocks"
	grep "^RUNS before/$d " guest.out >got.runs
	K_BS=$BS k_model_runs before.model $d before/$d >want.runs
	cmp -s want.runs got.runs || {
		diff want.runs got.runs | head -n 10 >&2
		k_bad "thin $d as restored reads differently from what pool.xml + data.img hold (< expected > kernel)"
	}
done

if [ -n "$EXTRA" ]; then
	set -- $(sed -n 's/^STATUS r pool //p' guest.out)
	[ "$4" = 7 ] && [ "$6" = "$used/1024" ] ||
		k_bad "the kernel's status of thin_repair's pool: transaction $4, data $6 (expected 7, $used/1024)"
	for d in 0 1 5; do
		grep "^RUNS repaired/$d " guest.out >got.runs
		K_BS=$BS k_model_runs before.model $d repaired/$d >want.runs
		cmp -s want.runs got.runs || {
			diff want.runs got.runs | head -n 10 >&2
			k_bad "thin $d of thin_repair's pool reads differently from the model (< expected > kernel)"
		}
	done
fi

# --- phase 2: what the kernel did with our space maps
{ cat init.log; grep -E '^(W|SNAP|DELETE) p ' guest.out; } >all.log
K_LOG=all.log K_BS=$BS k_thin_model after.model p
for d in 0 5 6; do
	grep "^RUNS after/$d " guest.out >got.runs
	K_BS=$BS k_model_runs after.model $d after/$d >want.runs
	cmp -s want.runs got.runs || {
		diff want.runs got.runs | head -n 10 >&2
		k_bad "after the kernel's writes thin $d reads differently from the model (< expected > kernel)"
	}
done

run "$BIN/thin_check" meta.img
[ "$rc" = 0 ] || { _show_run; k_bad "thin_check exit $rc after the kernel used the pool"; }
run "$BIN/thin_dump" meta.img
[ "$rc" = 0 ] || { _show_run; k_bad "thin_dump exit $rc after the kernel used the pool"; k_finish; }
cp run.out after.xml
grep -q '<superblock .*transaction="8"' after.xml || k_bad "thin_dump transaction: $(head -n 1 after.xml)"
devs=$(sed -n 's/.*<device dev_id="\([0-9]*\)".*/\1/p' after.xml | tr '\n' ' ')
[ "$devs" = "0 5 6 " ] || k_bad "thin_dump devices are '$devs', expected 0 5 6"
k_thin_map after.xml | sort -n -k1,1 -k2,2 >after.map
k_model_blocks after.model >want.blocks
awk '{ print $1, $2 }' after.map >got.blocks
cmp -s want.blocks got.blocks || {
	diff want.blocks got.blocks | head -n 10 >&2
	k_bad "thin_dump's mapped blocks after the kernel's writes differ from the model (< expected > dumped)"
}
k_check_data after.map after.model data.img $BS "after"
set -- $(sed -n 's/^STATUS p pool-after //p' guest.out)
used=$(awk '{ print $3 }' after.map | sort -u | wc -l | tr -d ' ')
[ "$6" = "$used/1024" ] || k_bad "kernel uses $6 data blocks at the end, thin_dump maps $used distinct"
for t in 0.9 1.1; do
	case $t in 0.9) R=$TPT09 ;; 1.1) R=$TPT11 ;; esac
	[ -n "$R" ] || continue
	run "$R" thin_check meta.img
	[ "$rc" = 0 ] || { _show_run; k_bad "reference $t thin_check exit $rc after the kernel used the pool"; }
done
k_finish

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Leak repair, then the kernel: thin_check --auto-repair gives leaked metadata and data
# blocks back by writing new space-map bitmaps and index blocks to free metadata blocks
# and switching the superblock to them.  Debian's 6.1 kernel must then run the pool on
# those space maps: allocate data and metadata blocks (160 new blocks, a snapshot, shared
# blocks broken from both sides) without ever handing out a block in use.  Host checks:
#   - after the repair: our thin_check and the 0.9/1.1 references' pass (no leaks left);
#   - the kernel's status: transaction 3, used data blocks = the distinct data blocks
#     thin_dump shows afterwards;
#   - thins 0 and 1 read what was written (a data block given out twice would show another
#     device's sectors);
#   - after the kernel's teardown: our thin_check and the references' pass.
# Exit 0 pass, 1 fail, 77 skip (no qemu, no kernel, tools not built).

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"
. "$SRCDIR/tests/kernel/lib/kernel.sh"

require_tool thin_restore thin_check thin_dump
[ -x "$TT/thin_damage" ] || skip "test tool thin_damage not built"
k_require_vm

cat >pool.xml <<'XML'
<superblock uuid="" time="0" transaction="2" flags="0" version="2" data_block_size="128" nr_data_blocks="40000">
  <device dev_id="0" mapped_blocks="0" transaction="0" creation_time="0" snap_time="0">
  </device>
</superblock>
XML
zero_file meta.img 1024
zero_file data.img $((40000 * 16))
run "$BIN/thin_restore" -i pool.xml -o meta.img
[ "$rc" = 0 ] || { _show_run; fail "thin_restore exit $rc"; }
# leaks: data blocks in the first and the last of the three data bitmaps, two metadata blocks
for k in 3 20 39000; do
	"$TT/thin_damage" meta.img leak-data "$("$TT/thin_damage" meta.img find free-data $k)" >/dev/null ||
		fail "thin_damage leak-data"
done
for k in 2 30; do
	"$TT/thin_damage" meta.img leak-metadata "$("$TT/thin_damage" meta.img find free-metadata $k)" >/dev/null ||
		fail "thin_damage leak-metadata"
done
run "$BIN/thin_check" meta.img
[ "$rc" = 1 ] || { _show_run; fail "thin_check exit $rc on the leaky pool, want 1"; }
run "$BIN/thin_check" --auto-repair meta.img
[ "$rc" = 0 ] || { _show_run; fail "thin_check --auto-repair exit $rc"; }
grep -q 'repaired space-map leaks: 2 metadata blocks, 3 data blocks' run.err ||
	{ _show_run; fail "thin_check --auto-repair did not repair the leaks"; }
run "$BIN/thin_check" meta.img
[ "$rc" = 0 ] || { _show_run; fail "thin_check exit $rc after --auto-repair"; }
for t in 0.9 1.1; do
	case $t in 0.9) R=$TPT09 ;; 1.1) R=$TPT11 ;; esac
	[ -n "$R" ] || continue
	run "$R" thin_check meta.img
	[ "$rc" = 0 ] || { _show_run; k_bad "reference $t thin_check exit $rc after --auto-repair"; }
done

k_guest thin-leak-repair.sh meta.img data.img

set -- $(sed -n 's/^STATUS p pool-after //p' guest.out)
[ "$4" = 3 ] || k_bad "kernel transaction id '$4' at the end, want 3"
kernel_used=$6
# every sector written reads back as its device and generation wrote it
for d in 0 1; do
	awk -v d=$d -v bs=128 'BEGIN {
		for (b = 0; b < 160; b++) {
			g = 1
			if (d == 0 && b % 4 == 0) g = 2
			if (d == 1 && b % 5 == 0) g = 2
			print "RUNS after/" d, b * bs, 1, (d == 1 && g == 1 ? 0 : d), g, 0
		}
	}' >want.runs
	grep "^RUNS after/$d " guest.out >got.runs
	cmp -s want.runs got.runs || {
		diff want.runs got.runs | head -n 10 >&2
		k_bad "thin $d reads differently from what was written (< expected > kernel)"
	}
done

run "$BIN/thin_check" meta.img
[ "$rc" = 0 ] || { _show_run; k_bad "thin_check exit $rc after the kernel used the repaired space maps"; }
run "$BIN/thin_dump" meta.img
[ "$rc" = 0 ] || { _show_run; k_bad "thin_dump exit $rc"; k_finish; }
cp run.out after.xml
used=$(k_thin_map after.xml | awk '{ print $3 }' | sort -u | wc -l | tr -d ' ')
[ "$kernel_used" = "$used/40000" ] || k_bad "kernel uses $kernel_used data blocks, thin_dump maps $used distinct"
for t in 0.9 1.1; do
	case $t in 0.9) R=$TPT09 ;; 1.1) R=$TPT11 ;; esac
	[ -n "$R" ] || continue
	run "$R" thin_check meta.img
	[ "$rc" = 0 ] || { _show_run; k_bad "reference $t thin_check exit $rc after the kernel used the pool"; }
done
k_finish

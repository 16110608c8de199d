#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# thin_migrate and the kernel, live: a pool the 6.1 kernel wrote, a snapshot (thin 1) and
# a thin with an external origin (thin 2) activated read-only, a metadata snapshot held.
# One VM boot (guest/thin-migrate.sh): our thin_migrate --source-dev copies thin 1 to a
# file, to a device holding other bytes (with and without --zero-dest) and thin 2 to a
# file; it refuses a writable thin, a pool without a held metadata snapshot and a device
# of another size; tpt 1.1's thin_migrate (when the host has it) copies thin 1 the same
# way.
# Host checks:
#   - every copy to a file, and the --zero-dest copy to the device, has the md5 of dd of
#     the thin device; the copy without --zero-dest differs (the device's old bytes are
#     left over unprovisioned ranges, as tpt does) unless nothing was unprovisioned;
#   - the refusals exit 3 (a writable source, a device of another size) and 1 (no metadata
#     snapshot held, as thin_dump -m);
#   - tpt 1.1's copies equal ours (its file: the dd md5), or a note when it cannot run;
#   - the metadata passes our thin_check and the references'.
# Exit 0 pass, 1 fail, 77 skip.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"
. "$SRCDIR/tests/kernel/lib/kernel.sh"

require_tool thin_migrate thin_check
k_require_vm

k_guest_tools thin_migrate
if [ -n "$TPT11" ]; then
	cp "$TPT11" gt/pdata_tools || fail "cannot copy $TPT11"
	for l in $(ldd "$TPT11" | sed -n 's/.*=> *\(\/[^ ]*\) .*/\1/p'); do
		[ -e "gt/${l##*/}" ] || cp -L "$l" gt/ || fail "cannot copy $l"
	done
	K_FILES=$(ls -d gt/*)
else
	note "no tpt 1.1 reference: its thin_migrate is not compared"
fi

zero_file meta.img 1024       # 4 MiB
zero_file data.img 4096       # 16 MiB
# dest1.img holds other bytes (dev 7's pattern), origin.img 3 MiB of dev 9's: written here,
# as the guest's pwrite would (busybox awk under TCG took ~5 s for the 11 MiB)
k_pattern 7 7 0 16384 >dest1.img || fail "cannot write dest1.img"   # 8 MiB
zero_file dest2.img 2048
k_pattern 9 1 0 6144 >origin.img || fail "cannot write origin.img"  # 3 MiB
zero_file small.img 1024      # 4 MiB

k_guest thin-migrate.sh meta.img data.img dest1.img dest2.img origin.img small.img

h() { sed -n "s/^HASH $1 //p" guest.out; }
r() { sed -n "s/^RC $1 \([0-9]*\).*/\1/p" guest.out; }
line() { sed -n "s/^RC $1 [0-9]* //p" guest.out; }

[ -n "$(h src1)" ] && [ -n "$(h src2)" ] || fail "the guest recorded no md5 of the sources"
for c in file1 dev1 zdev1 file2; do
	[ "$(r $c)" = 0 ] || k_bad "$c: thin_migrate exit '$(r $c)': $(line $c)"
done
[ "$(h file1)" = "$(h src1)" ] || k_bad "file1: the copy of thin 1 to a file differs from dd of thin 1"
[ "$(h zdev1)" = "$(h src1)" ] || k_bad "zdev1: the --zero-dest copy to a device differs from dd of thin 1"
[ "$(h file2)" = "$(h src2)" ] || k_bad "file2: the copy of thin 2 (external origin) differs from dd of thin 2"
[ "$(h dev1)" != "$(h src1)" ] ||
	k_bad "dev1: without --zero-dest the device's old bytes over unprovisioned ranges should be left"
[ "$(h dev1)" != "$(h fill)" ] || k_bad "dev1: the copy to a device wrote nothing"
for c in rw:3 nosnap:1 short:3; do
	[ "$(r ${c%:*})" = "${c#*:}" ] ||
		k_bad "${c%:*}: thin_migrate exit '$(r ${c%:*})', want ${c#*:} (refused): $(line ${c%:*})"
done
note "ours: $(line file1)"

if grep -q '^RC tpt1 ' guest.out; then
	if [ "$(r tpt1)" = 0 ]; then
		[ "$(h tpt1)" = "$(h file1)" ] || k_bad "tpt 1.1's copy to a file differs from ours"
		[ "$(r tptdev1)" = 0 ] && [ "$(h tptdev1)" = "$(h src1)" ] ||
			k_bad "tpt 1.1's copy to a zeroed device: exit '$(r tptdev1)', md5 differs from dd"
		note "tpt 1.1 thin_migrate: the same bytes"
	else
		note "tpt 1.1's thin_migrate does not run in the guest ($(line tpt1)): not compared"
	fi
fi

run "$BIN/thin_check" meta.img
[ "$rc" = 0 ] || { _show_run; k_bad "meta.img: our thin_check exit $rc"; }
for t in "$TPT11" "$TPT09"; do
	[ -n "$t" ] || continue
	"$t" thin_check meta.img >tc.out 2>&1 || { cat tc.out >&2; k_bad "meta.img: $t thin_check rejects it"; }
done
k_finish

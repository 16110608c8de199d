#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# thin_status against `dmsetup status`.  Exit 0 pass, 1 fail, 77 skip.
#
# One VM boot (guest/thin-status.sh) runs three thin pools in Debian's 6.1 kernel and records
# the status lines of the pools and their thins after a suspend (so the metadata holds what
# the status shows):
#   pa (32 MiB metadata: low-water 1024, reserve 819): thins 0 (5 blocks), 1 (empty: "0 -"),
#      2 (4 KiB of block 0: highest sector 127), snapshot 3 of 0, transaction 5 [A0];
#      reserve_metadata_snap, writes to 0 and 3 [A]; activated again read_only [B];
#   pb (4 MiB metadata: low-water 256, reserve 102; 16 data blocks) with no_discard_passdown
#      error_if_no_space, filled and then out of data space [C]; activated again with
#      ignore_discard [D];
#   pc (200 MiB metadata: the reserve stops at 4096 blocks), one thin with block 10 [E].
# On the host, on each pool's metadata image as the kernel left it, byte for byte (each
# field named when they differ):
#   - thin_status with the live state of the phase (--mode, --discard, --error-if-no-space;
#     --discard no_passdown where the guest's data disk takes no discards, as the kernel
#     then shows) = the pool line of A, B, C, D; without --mode, thin_status guesses rw for
#     A and D, as the kernel shows;
#   - thin_status --thin N = the thin lines of A, C and E; thin_status --all-thins lists them;
#   - thin_status -m --thin N = the thin lines of A0 (the metadata snapshot's state).

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"
. "$SRCDIR/tests/kernel/lib/kernel.sh"

require_tool thin_status
k_require_vm

zero_file pa-meta.img 8192      # 32 MiB
zero_file pa-data.img 4096      # 16 MiB
zero_file pb-meta.img 1024      # 4 MiB
zero_file pb-data.img 256       # 1 MiB
zero_file pc-meta.img 51200     # 200 MiB (sparse)
zero_file pc-data.img 256       # 1 MiB
k_guest thin-status.sh pa-meta.img pa-data.img pb-meta.img pb-data.img pc-meta.img pc-data.img

POOL_FIELDS="transaction_id used/total_metadata used/total_data held_root mode discard no_space needs_check metadata_low_water"

# kline PHASE WHAT: the kernel's status text (after "START LEN TARGET "), trailing space kept.
kline() {
	sed -n "s/^STATUS $1 $2 [0-9]* [0-9]* thin[-a-z]* //p" guest.out
}

# same LABEL KERNEL OURS [FIELDS]: byte-for-byte, else the differing fields by name.
same() {
	[ "$2" = "$3" ] && return 0
	if [ -z "$2" ]; then
		k_bad "$1: the guest recorded no status line"
		return 1
	fi
	diffs=$(printf '%s\n%s\n' "$2" "$3" | awk -v names="${4:-nr_mapped_sectors highest_mapped_sector}" '
		NR == 1 { n = split($0, k, " ") } NR == 2 { m = split($0, o, " ") }
		END {
			split(names, f, " ")
			for (i = 1; i <= (n > m ? n : m); i++)
				if (k[i] != o[i]) {
					printf "%s%s: kernel %s, ours %s", sep, (i in f ? f[i] : "field " i), (i <= n ? k[i] : "(none)"), (i <= m ? o[i] : "(none)")
					sep = "; "
				}
		}')
	[ -n "$diffs" ] || diffs="same fields, spacing differs: kernel '$2', ours '$3'"
	k_bad "$1: $diffs"
	return 1
}

# ours LABEL ARGS...: run thin_status; its one line in $out (trailing space kept).
ours() {
	o_l=$1
	shift
	run "$BIN/thin_status" "$@"
	out=$(cat run.out)
	[ "$rc" = 0 ] || { _show_run; k_bad "$o_l: thin_status $* exit $rc"; }
}

# The data disks' discard support (the metadata cannot know it).
disc() {
	[ "$(sed -n "s/^DISCARD $1 //p" guest.out)" = 0 ] && echo no_passdown || echo passdown
}
pa_disc=$(disc vdb)
note "pa: data disk discards: $pa_disc"

# --- pa
ours "A pool" --discard "$pa_disc" pa-meta.img
same "A pool (thin_status --discard $pa_disc)" "$(kline A pool)" "$out" "$POOL_FIELDS"
if [ "$pa_disc" = passdown ]; then
	ours "A pool, defaults" pa-meta.img
	same "A pool (thin_status with no option)" "$(kline A pool)" "$out" "$POOL_FIELDS"
fi
for d in 0 1 2 3; do
	ours "A thin $d" --thin $d pa-meta.img
	same "A thin $d" "$(kline A $d)" "$out"
	ours "A0 thin $d" -m --thin $d pa-meta.img
	same "A0 thin $d (thin_status -m: the metadata snapshot)" "$(kline A0 $d)" "$out"
done
run "$BIN/thin_status" --all-thins pa-meta.img
want=$(for d in 0 1 2 3; do echo "$d: $(kline A $d)"; done)
[ "$rc" = 0 ] && [ "$(cat run.out)" = "$want" ] || {
	_show_run
	k_bad "A: thin_status --all-thins is not the four thin lines"
}
set -- $(kline A pool)
[ "${4:-}" != - ] || k_bad "A: the kernel shows no held root after reserve_metadata_snap (scenario broken?)"
ours "B pool" --mode ro --discard "$pa_disc" pa-meta.img
same "B pool (read_only table; thin_status --mode ro)" "$(kline B pool)" "$out" "$POOL_FIELDS"

# --- pb
ours "C pool" --mode out_of_data_space --discard no_passdown --error-if-no-space pb-meta.img
same "C pool (thin_status --mode out_of_data_space --discard no_passdown --error-if-no-space)" \
	"$(kline C pool)" "$out" "$POOL_FIELDS"
ours "C thin 0" --thin 0 pb-meta.img
same "C thin 0" "$(kline C 0)" "$out"
ours "D pool" --discard ignore pb-meta.img
same "D pool (ignore_discard table, data space full: still rw)" "$(kline D pool)" "$out" "$POOL_FIELDS"

# --- pc
ours "E pool" --discard "$(disc vdf)" pc-meta.img
same "E pool (51200 metadata blocks)" "$(kline E pool)" "$out" "$POOL_FIELDS"
ours "E thin 0" --thin 0 pc-meta.img
same "E thin 0" "$(kline E 0)" "$out"

grep '^NOTE ' guest.out | sed 's/^NOTE /guest: /' >&2
for ph in A0 A B C D E; do
	grep "^STATUS $ph " guest.out | sed 's/^/kernel: /'
done
note "VM: guest output $(wc -l <guest.out) lines"
k_finish

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# asan: check-long
#
# Crash matrix of thin_import into a pool: every write of an import (metadata and data
# device alike), crashed in every way (the modes of tests/preload/faultinj.c), must leave
# the target volume reading exactly as before the import or exactly as after it, never
# mixed, in a pool both thin_checks accept.
#
# Source: the pool of the thin_export goldens (tests/func/thin_export/pool.sh: devices 0 and
# 1 differ in rewritten, new, discarded and zero blocks).  Target: a pool formatted with
# thin_message whose device 5 holds device 0's bytes (a committed full import).  Steps:
#   since     the stream `--since 0` of device 1 into device 5 (old: dev 0's bytes, new: dev 1's)
#   full      the full stream of device 1 into device 6, absent before (old: no device 6)
#   every     `since` with --commit-every 1: the interrupted states may be mixed by design;
#             checked: both thin_checks pass and a re-run completes (not old-or-new)
# For every N in 1..W (W the step's writes) and every mode, plus powerloss and reorder at
# N = W+1, the step runs on a fresh copy of the old state and is crashed at write N; then
# our thin_check (and tpt 1.1's when present) accept the target pool, the volume reads as the
# old or the new state, and the same import run again succeeds and leaves the new state.
# Environment: MODES="..." to narrow the modes, ONLY="step..." to run some steps,
# VERBOSE_MATRIX=1 to print every run.
# Run by tests/run-tests.sh; by hand: BUILDDIR=build sh tests/cli/crash-matrix-import.sh

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

[ -f "$FAULTINJ" ] || skip "fault-injection shim not built: $FAULTINJ (make test-tools)"
require_tool thin_import thin_export thin_message thin_check thin_restore
"$BIN/thin_import" --help | grep -q -- --metadata-dev || skip "thin_import has no pool target"
crash_init thin_import "the target pools"
ONLY=${ONLY:-since full every}
W0=$(mktemp -d "${TMPDIR:-/tmp}/crash-import.XXXXXX") || exit 1
trap 'rm -rf "$W0"' EXIT
cd "$W0" || exit 1

nfail=0 nruns=0 step=
bad() {
	nfail=$((nfail + 1))
	[ $nfail -le 40 ] && echo "FAIL: $step: $*"
	return 0
}

. "$SRCDIR/tests/func/thin_export/pool.sh" >/dev/null
SZ=1664
"$BIN/thin_export" $export_args --dev-id 1 --size $SZ --format stream -o full1.st || fail "export"
"$BIN/thin_export" $export_args --dev-id 0 --size $SZ --format stream -o full0.st || fail "export"
"$BIN/thin_export" $export_args --dev-id 1 --since 0 --size $SZ -o since.st || fail "export"
model 0 851968 m0.img
model 1 851968 m1.img
dd if=/dev/zero of=old.bin bs=4096 count=256 2>/dev/null
truncate -s 4M oldd.bin
"$BIN/thin_message" --format --data-block-size 128 --nr-data-blocks 64 old.bin >/dev/null || fail "format"
"$BIN/thin_import" -q -i full0.st --metadata-dev old.bin --data-dev oldd.bin --dev-id 5 || fail "set-up import"

# verdict DEV: old, new, absent or WRONG for the volume DEV of t.bin/td.bin
verdict() {
	if ! "$BIN/thin_export" --metadata-dev t.bin --data-dev td.bin --dev-id "$1" --size $SZ -o got.img 2>got.err; then
		grep -q "no thin device" got.err && { echo absent; return; }
		echo WRONG; return
	fi
	if cmp -s got.img "$want_old"; then echo old
	elif cmp -s got.img m1.img; then echo new
	else echo WRONG
	fi
}

run_step() {
	step=$1
	case $step in
	since) dev=5 st=since.st extra= want_old=m0.img ;;
	full) dev=6 st=full1.st extra= want_old=/nonexistent ;;
	every) dev=5 st=since.st extra="--commit-every 1" want_old=m0.img ;;
	esac
	cp old.bin t.bin && cp oldd.bin td.bin
	shim DMMETA_FAULT_COUNT=count "$BIN/thin_import" -q -i $st --metadata-dev t.bin --data-dev td.bin --dev-id $dev $extra
	[ $crc = 0 ] || { bad "the uninterrupted import failed ($crc): $(head -n 1 crash.err)"; return; }
	[ "$(verdict $dev)" = new ] || bad "the uninterrupted import does not give the new state"
	W=$(cat count)
	nold=0 nnew=0
	for mode in $MODES; do
		last=$W
		case $mode in powerloss | reorder) last=$((W + 1)) ;; esac
		crash_ns $last
		for n in $CRASH_NS; do
			cp old.bin t.bin && cp oldd.bin td.bin
			shim DMMETA_FAULT_AT=$n DMMETA_FAULT_MODE=$mode "$BIN/thin_import" -q -i $st \
				--metadata-dev t.bin --data-dev td.bin --dev-id $dev $extra
			nruns=$((nruns + 1))
			label="$mode at write $n/$W"
			case $mode in
			eio) [ $crc = 3 ] || [ $n -gt $W ] || bad "$label: exit $crc, want 3" ;;
			*) [ $crc = 137 ] || [ $crc = 0 ] || bad "$label: exit $crc (not killed)" ;;
			esac
			"$BIN/thin_check" -q t.bin || bad "$label: our thin_check refuses the pool"
			if [ $HAVE_TPT = 1 ]; then
				# tpt 1.1 takes 0.5 s a run: each distinct metadata state is checked once
				h=$(sha t.bin)
				if ! grep -qx "$h" tpt-ok 2>/dev/null; then
					if "$TPT11" thin_check -q t.bin >/dev/null 2>&1; then
						echo "$h" >>tpt-ok
					else
						bad "$label: tpt 1.1 thin_check refuses the pool"
					fi
				fi
			fi
			v=$(verdict $dev)
			case $v in
			old | absent) nold=$((nold + 1)) ;;
			new) nnew=$((nnew + 1)) ;;
			esac
			if [ "$step" != every ]; then
				[ "$v" != WRONG ] || bad "$label: the volume is neither the old nor the new state"
			fi
			[ -z "${VERBOSE_MATRIX:-}" ] || echo "$step: $label: exit $crc, $v"
			"$BIN/thin_import" -q -i $st --metadata-dev t.bin --data-dev td.bin --dev-id $dev $extra ||
				bad "$label: the import run again failed"
			[ "$(verdict $dev)" = new ] || bad "$label: the import run again does not give the new state"
			"$BIN/thin_check" -q t.bin || bad "$label: our thin_check refuses the pool after the re-run"
		done
	done
	echo "$step: $W writes, crashed runs left old $nold, new $nnew"
	[ "$step" = every ] || [ $nold -gt 0 ] || bad "no crash left the old state: the matrix proves nothing"
}

for s in $ONLY; do
	run_step "$s"
done
echo "$nruns crashed runs (modes: $MODES), $nfail failures"
[ $nfail = 0 ]

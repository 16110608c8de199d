#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# asan: check-long
#
# Crash matrix of thin_message: every message of a sequence, crashed at every write it makes,
# in every way (the modes of crash-matrix.sh and tests/preload/faultinj.c).
#
# The sequence: a blank file formatted; then on the snaps fixture (shared data blocks, 4
# devices with mappings): create_thin, create_snap of the new thin, delete of a mapped origin,
# reserve_metadata_snap, delete of a device while the metadata snapshot holds its tree,
# release_metadata_snap, set_transaction_id; a data device grown (7 new bitmaps); a metadata
# file grown under a message; deletes through leaves shared between devices (shared-leaves),
# across 7 data bitmaps (many) and on a pool the Linux 6.1 kernel wrote (kernel-deleted).
# Each step starts from the state the previous one left ("old") and makes "new" (the
# uninterrupted run).  For every N in 1..W (W the step's writes) and every mode, plus powerloss
# and reorder at N = W+1 (the power cut right after the tool exits), the step runs on a fresh
# copy of the old state and is crashed at write N.  Then:
#   - the crashed run dies by SIGKILL (exit 3 under eio, never by another signal or 99);
#   - our thin_check and tpt 1.1's pass the image (for the format: or its superblock is still
#     all zeros, the blank old state), and each one's dump is exactly the old or the new
#     state's dump, and both say the same one;
#   - the same command run again succeeds (then the image is the new state), or is refused
#     with exit 3 as already done (EEXIST, ENODATA, EBUSY, EINVAL) when the crash left the new
#     state, which it leaves as it is.
#
# Environment: MODES="..." to narrow the modes (default: kill tear:512 tear:2048 tear:4095
# powerloss reorder eio; under ASan builds kill tear:512 powerloss reorder eio), ONLY="step..."
# to run some steps (names below), VERBOSE_MATRIX=1 to print every run.
# Run by tests/run-tests.sh; by hand: BUILDDIR=build sh tests/cli/crash-matrix-message.sh

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

[ -f "$FAULTINJ" ] || skip "fault-injection shim not built: $FAULTINJ (make test-tools)"
require_tool thin_message thin_check thin_dump thin_status
crash_init thin_message images
STEPS='format create_thin create_snap delete reserve delete_held release set_transaction_id
grow_data grow_metadata delete_shared delete_many delete_kernel'
ONLY=${ONLY:-$STEPS}
TPT_JOBS=${TPT_JOBS:-16}

nfail=0 nruns=0 nsame=0 step=
bad() {
	nfail=$((nfail + 1))
	[ $nfail -le 40 ] && echo "FAIL: $step: $*"
	return 0
}

# blank FILE: its superblock (block 0) is all zeros
blank() {
	cmp -s -n 4096 "$1" /dev/zero
}

# dump_ours FILE OUT: our dump of FILE, then the dump of its metadata snapshot (or a line
# saying none is held); "blank" for a blank superblock, "-" when our thin_check rejects it
dump_ours() {
	if blank "$1"; then echo blank >"$2"
	elif "$BIN/thin_check" -q "$1" >/dev/null 2>&1; then
		{ "$BIN/thin_dump" "$1" && { "$BIN/thin_dump" -m "$1" 2>/dev/null || echo "no metadata snapshot"; }; } \
			>"$2" 2>/dev/null || echo - >"$2"
	else echo - >"$2"
	fi
}
dump_tpt() {
	if blank "$1"; then echo blank >"$2"
	elif "$TPT11" thin_check -q "$1" >/dev/null 2>&1; then
		{ "$TPT11" thin_dump "$1" && { "$TPT11" thin_dump -m "$1" 2>/dev/null || echo "no metadata snapshot"; }; } \
			>"$2" 2>/dev/null || echo - >"$2"
	else echo - >"$2"
	fi
}
# judge DUMP KIND: old, new or WRONG (KIND ours or tpt)
judge() {
	if cmp -s "$1" "old.$2"; then echo old
	elif cmp -s "$1" "new.$2"; then echo new
	else echo WRONG
	fi
}

# tpt 1.1's thin_check takes ~0.5 s whatever the image: its verdicts on the distinct images
# are computed at the end of each step, TPT_JOBS at a time
tpt_queue() {
	[ $HAVE_TPT = 1 ] || return 0
	h=$(sha256sum <"$1" | cut -c1-32)
	[ -f "tpt/$h.img" ] || cp --sparse=always "$1" "tpt/$h.img"
	printf '%s|%s|%s|%s\n' "$h" "$2" "$3" "$4" >>tpt/queue
}
tpt_judge() {
	[ $HAVE_TPT = 1 ] || return 0
	[ -f tpt/queue ] || return 0
	export TPT11
	ls tpt/*.img | xargs -P "$TPT_JOBS" -n 1 sh -c '
		img=$1 h=${1%.img}
		if cmp -s -n 4096 "$img" /dev/zero; then echo blank >"$h.tpt"
		elif "$TPT11" thin_check -q "$img" >/dev/null 2>&1; then
			{ "$TPT11" thin_dump "$img" &&
				{ "$TPT11" thin_dump -m "$img" 2>/dev/null || echo "no metadata snapshot"; }; } \
				>"$h.tpt" 2>/dev/null || echo - >"$h.tpt"
		else echo - >"$h.tpt"
		fi' sh
	crash_tpt_verdicts "finds neither the old nor the new state" show
	rm -rf tpt
}

# matrix OLDFILE CMD...: CMD writes ./t.bin, which starts as a copy of OLDFILE
matrix() {
	old=$1
	shift
	rm -rf tpt seen.txt
	mkdir tpt
	cp --sparse=always "$old" t.bin
	dump_ours t.bin old.ours
	[ $HAVE_TPT = 0 ] || dump_tpt t.bin old.tpt
	[ "$(head -c 2 old.ours)" != - ] || fail "$step: our thin_check rejects the old state"
	rm -f count.txt
	shim DMMETA_FAULT_COUNT=count.txt "$@"
	[ "$crc" = 0 ] || { cat crash.out crash.err; fail "$step: uninterrupted run exits $crc: $*"; }
	W=$(cat count.txt)
	[ "$W" -ge 1 ] 2>/dev/null || fail "$step: no writes counted for $*"
	dump_ours t.bin new.ours
	[ $HAVE_TPT = 0 ] || dump_tpt t.bin new.tpt
	case $(head -c 5 new.ours) in -*|blank) fail "$step: our thin_check rejects the uninterrupted result" ;; esac
	[ $HAVE_TPT = 0 ] || [ "$(head -c 2 new.tpt)" != - ] ||
		fail "$step: tpt 1.1 thin_check rejects the uninterrupted result"
	cmp -s old.ours new.ours && fail "$step: the uninterrupted run changes nothing"
	cp --sparse=always t.bin new.bin
	# run again on the new state: refused as already done (3), or a no-op (0)
	rerun_new=0
	"$@" >rerun.out 2>rerun.err || rerun_new=$?
	case $rerun_new in 0|3) ;; *) fail "$step: running it again on the new state exits $rerun_new" ;; esac
	dump_ours t.bin now.ours
	cmp -s now.ours new.ours || fail "$step: running it again on the new state changes it"
	for mode in $MODES; do
		last=$W
		case $mode in powerloss|reorder) last=$((W + 1)) ;; esac
		crash_ns $last
		for n in $CRASH_NS; do
			label="$mode at write $n/$W"
			cp --sparse=always "$old" t.bin
			nruns=$((nruns + 1))
			shim DMMETA_FAULT_AT=$n DMMETA_FAULT_MODE=$mode "$@"
			case $mode in
			eio) [ "$crc" = 3 ] || bad "$label: exit $crc under EIO, want 3: $(head -c 300 crash.err)" ;;
			*) [ "$crc" = 137 ] || [ "$n" -gt "$W" ] ||
				bad "$label: exit $crc, want death by SIGKILL (137): $(head -c 300 crash.err)" ;;
			esac
			h=$(sha256sum <t.bin | cut -c1-32)
			if grep -qx "$h" seen.txt 2>/dev/null; then
				nsame=$((nsame + 1))
				continue
			fi
			echo "$h" >>seen.txt
			dump_ours t.bin now.ours
			v_ours=$(judge now.ours ours)
			if [ "$v_ours" = WRONG ]; then
				bad "$label: our thin_check finds neither the old nor the new state ($(head -c 60 now.ours | head -n 1))"
				cp t.bin "$WORKDIR/wrong-$step-$n-$mode.bin" 2>/dev/null
			fi
			tpt_queue t.bin state "$v_ours" "$label"
			# run again: it succeeds and makes the new state, or it is refused as done
			rerun=0
			"$@" >rerun.out 2>rerun.err || rerun=$?
			dump_ours t.bin now.ours
			v_again=$(judge now.ours ours)
			if [ $rerun = 0 ] || { [ $rerun = 3 ] && [ "$v_ours" = new ] && [ $rerun_new = 3 ]; }; then
				[ "$v_again" = new ] || bad "$label: run again (exit $rerun): our thin_check says $v_again, want new"
				tpt_queue t.bin new "$v_again" "$label, run again"
			else
				bad "$label: running it again exits $rerun (the crash left $v_ours): $(head -c 300 rerun.err | tr '\n' ' ')"
			fi
			[ -z "${VERBOSE_MATRIX:-}" ] || echo "$label: rc $crc ours=$v_ours again=$rerun/$v_again"
		done
	done
	tpt_judge
	note "$step: $W writes x {$MODES} ($(date +%T))"
}

WORKDIR=$PWD

# the sequence's states
fixture snaps s0.bin
truncate -s 4M blank.bin

for step in $STEPS; do
	case " $(echo $ONLY) " in *" $step "*) run_it=1 ;; *) run_it=0 ;; esac
	# each step: its old state, its command; the next step starts from its result
	case $step in
	format) o=blank.bin; set -- "$BIN/thin_message" -q --format --data-block-size 128 --nr-data-blocks 1024 t.bin ;;
	create_thin) o=s0.bin; set -- "$BIN/thin_message" -q t.bin create_thin 10 ;;
	create_snap) o=s1.bin; set -- "$BIN/thin_message" -q t.bin create_snap 11 10 ;;
	delete) o=s2.bin; set -- "$BIN/thin_message" -q t.bin delete 0 ;;
	reserve) o=s3.bin; set -- "$BIN/thin_message" -q t.bin reserve_metadata_snap ;;
	delete_held) o=s4.bin; set -- "$BIN/thin_message" -q t.bin delete 1 ;;
	release) o=s5.bin; set -- "$BIN/thin_message" -q t.bin release_metadata_snap ;;
	set_transaction_id) o=s6.bin; set -- "$BIN/thin_message" -q t.bin set_transaction_id 4 5 ;;
	grow_data) o=s7.bin; set -- "$BIN/thin_message" -q --nr-data-blocks 100000 t.bin ;;
	grow_metadata)
		cp s8.bin g.bin && truncate -s 8M g.bin
		o=g.bin; set -- "$BIN/thin_message" -q t.bin create_snap 12 11 ;;
	delete_shared) fixture shared-leaves sh.bin; o=sh.bin; set -- "$BIN/thin_message" -q t.bin delete 0 ;;
	delete_many) fixture many mn.bin; o=mn.bin; set -- "$BIN/thin_message" -q t.bin delete 0 ;;
	delete_kernel) fixture kernel-deleted kd.bin; o=kd.bin; set -- "$BIN/thin_message" -q t.bin delete 6 ;;
	esac
	if [ $run_it = 1 ]; then
		matrix "$o" "$@"
	fi
	# the next state of the sequence (uninterrupted)
	case $step in
	create_thin) k=1 ;; create_snap) k=2 ;; delete) k=3 ;; reserve) k=4 ;; delete_held) k=5 ;;
	release) k=6 ;; set_transaction_id) k=7 ;; grow_data) k=8 ;; *) k= ;;
	esac
	if [ -n "$k" ]; then
		cp --sparse=always "$o" t.bin
		"$@" || fail "$step: the uninterrupted run fails"
		cp --sparse=always t.bin "s$k.bin"
	fi
done

echo "crash matrix (thin_message): $nruns crashed runs ($nsame left an image identical to an earlier one's), $nfail failures"
[ $nfail = 0 ] || exit 1
exit 0

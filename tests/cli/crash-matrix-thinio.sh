#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# asan: check-long
#
# Crash matrix of thin_write (the thin I/O engine): every write and discard of a sequence,
# crashed at every write it makes (data and metadata alike), in every way (the modes of
# tests/preload/faultinj.c).
#
# The sequence, on a pool of 64 blocks of 64 KiB whose data image starts full of stale bytes:
#   fresh      a write into a fresh volume: three blocks provisioned, the partial ends zeroed
#   overwrite  an overwrite of blocks the volume maps alone (in place, no metadata change)
#   break      after create_snap 1 0: a partial write to a shared block (copied first)
#   zeroing    a partial write to an unmapped block of the snapshot (zeroed first)
#   origin     a volume with an external origin: partial writes to unmapped blocks (the
#              origin's part copied first)
#   discard    a discard freeing one block (passed down) and unmapping a shared one
#   discard2   a discard of the snapshot's blocks (the last references)
# Each step starts from the state the previous one left ("old") and makes "new" (the
# uninterrupted run).  For every N in 1..W (W the step's counted writes) and every mode, plus
# powerloss and reorder at N = W+1, the step runs on a fresh copy of the old state and is
# crashed at write N.  Then:
#   - the crashed run dies by SIGKILL (exit 3 under eio);
#   - our thin_check and tpt 1.1's pass the metadata, and each one's dump is the old or the
#     new state's;
#   - every volume (read with thin_export) holds the old state's bytes or the new state's,
#     all of them the same state, and the one the metadata is in.  The one exception is
#     the overwrite step's in-place write, which thin_write makes as the kernel does, in
#     place: a torn write (tear modes) leaves some of its bytes written, so there every byte
#     must be the old or the new one ("torn" states, counted and reported);
#   - the same command run again succeeds and leaves the new state: metadata and volumes.
#
# Environment: MODES="..." to narrow the modes, ONLY="step..." to run some steps,
# VERBOSE_MATRIX=1 to print every run.
# Run by tests/run-tests.sh; by hand: BUILDDIR=build sh tests/cli/crash-matrix-thinio.sh

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

[ -f "$FAULTINJ" ] || skip "fault-injection shim not built: $FAULTINJ (make test-tools)"
require_tool thin_write thin_message thin_check thin_dump thin_export
crash_init thin_write "the pools"
STEPS='fresh overwrite break zeroing origin discard discard2'
ONLY=${ONLY:-$STEPS}
TPT_JOBS=${TPT_JOBS:-16}
VOL_SECTORS=8192

nfail=0 nruns=0 nsame=0 ntorn=0 step=
bad() {
	nfail=$((nfail + 1))
	[ $nfail -le 40 ] && echo "FAIL: $step: $*"
	return 0
}

dump_ours() {
	if "$BIN/thin_check" -q "$1" >/dev/null 2>&1; then
		"$BIN/thin_dump" "$1" >"$2" 2>/dev/null || echo - >"$2"
	else echo - >"$2"
	fi
}
dump_tpt() {
	if "$TPT11" thin_check -q "$1" >/dev/null 2>&1; then
		"$TPT11" thin_dump "$1" >"$2" 2>/dev/null || echo - >"$2"
	else echo - >"$2"
	fi
}
# judge DUMP KIND: new, old or WRONG (KIND ours or tpt; new first: a step that changes no
# metadata has one dump for both)
judge() {
	if cmp -s "$1" "new.$2"; then echo new
	elif cmp -s "$1" "old.$2"; then echo old
	else echo WRONG
	fi
}

# vols PREFIX: every volume of t.bin/t.data read into PREFIX.D (absent: an empty file)
vols() {
	for d in 0 1 2; do
		extra=
		[ "$d" = 2 ] && extra="--external-origin origin.img"
		# shellcheck disable=SC2086
		"$BIN/thin_export" -q --metadata-dev t.bin --data-dev t.data --dev-id $d \
			--size $VOL_SECTORS $extra -o "$1.$d" 2>/dev/null || : >"$1.$d"
	done
}
# vols_are PREFIX: old, new, torn (every byte old or new, step overwrite only) or WRONG
vols_are() {
	v=old
	for d in 0 1 2; do cmp -s "$1.$d" "old.v.$d" || v=; done
	[ -z "$v" ] || { echo old; return; }
	v=new
	for d in 0 1 2; do cmp -s "$1.$d" "new.v.$d" || v=; done
	[ -z "$v" ] || { echo new; return; }
	if [ "$step" = overwrite ]; then
		for d in 0 1 2; do
			cmp -l "$1.$d" "old.v.$d" 2>/dev/null | awk '{print $1}' | sort >a.pos
			cmp -l "$1.$d" "new.v.$d" 2>/dev/null | awk '{print $1}' | sort >b.pos
			[ "$(comm -12 a.pos b.pos | wc -l)" = 0 ] || { echo WRONG; return; }
		done
		echo torn
		return
	fi
	echo WRONG
}

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
		if "$TPT11" thin_check -q "$img" >/dev/null 2>&1; then
			"$TPT11" thin_dump "$img" >"$h.tpt" 2>/dev/null || echo - >"$h.tpt"
		else echo - >"$h.tpt"
		fi' sh
	crash_tpt_verdicts "finds neither the old nor the new metadata" show
	rm -rf tpt
}

# restore OLD: t.bin and t.data from the state OLD (OLD.m, OLD.d)
restore() {
	cp --sparse=always "$1.m" t.bin
	cp --sparse=always "$1.d" t.data
}

# matrix OLD CMD...: CMD changes t.bin/t.data, which start as copies of state OLD
matrix() {
	old=$1
	shift
	rm -rf tpt seen.txt
	mkdir tpt
	restore "$old"
	dump_ours t.bin old.ours
	[ $HAVE_TPT = 0 ] || dump_tpt t.bin old.tpt
	[ "$(head -c 2 old.ours)" != - ] || fail "$step: our thin_check rejects the old state"
	vols old.v
	rm -f count.txt
	shim DMMETA_FAULT_COUNT=count.txt "$@"
	[ "$crc" = 0 ] || { cat crash.out crash.err; fail "$step: uninterrupted run exits $crc: $*"; }
	W=$(cat count.txt)
	[ "$W" -ge 1 ] 2>/dev/null || fail "$step: no writes counted for $*"
	dump_ours t.bin new.ours
	[ $HAVE_TPT = 0 ] || dump_tpt t.bin new.tpt
	[ "$(head -c 2 new.ours)" != - ] || fail "$step: our thin_check rejects the uninterrupted result"
	[ $HAVE_TPT = 0 ] || [ "$(head -c 2 new.tpt)" != - ] ||
		fail "$step: tpt 1.1 thin_check rejects the uninterrupted result"
	vols new.v
	[ "$(vols_are old.v)" = old ] || fail "$step: reading the volumes is not repeatable"
	v=same
	for d in 0 1 2; do cmp -s old.v.$d new.v.$d || v=; done
	[ -z "$v" ] || fail "$step: the uninterrupted run changes no volume"
	for mode in $MODES; do
		last=$W
		case $mode in powerloss|reorder) last=$((W + 1)) ;; esac
		crash_ns $last
		for n in $CRASH_NS; do
			label="$mode at write $n/$W"
			restore "$old"
			nruns=$((nruns + 1))
			shim DMMETA_FAULT_AT=$n DMMETA_FAULT_MODE=$mode "$@"
			case $mode in
			eio) [ "$crc" = 3 ] || bad "$label: exit $crc under EIO, want 3: $(head -c 300 crash.err)" ;;
			*) [ "$crc" = 137 ] || [ "$n" -gt "$W" ] ||
				bad "$label: exit $crc, want death by SIGKILL (137): $(head -c 300 crash.err)" ;;
			esac
			h=$( (cat t.bin; cat t.data) | sha256sum | cut -c1-32)
			if grep -qx "$h" seen.txt 2>/dev/null; then
				nsame=$((nsame + 1))
				continue
			fi
			echo "$h" >>seen.txt
			dump_ours t.bin now.ours
			v_meta=$(judge now.ours ours)
			[ "$v_meta" != WRONG ] ||
				bad "$label: our thin_check finds neither the old nor the new metadata ($(head -c 60 now.ours | head -n 1))"
			tpt_queue t.bin state "$v_meta" "$label"
			vols now.v
			v_vols=$(vols_are now.v)
			case $v_vols in
			WRONG) bad "$label: the volumes read neither as before nor as after the write" ;;
			torn) ntorn=$((ntorn + 1)) ;;
			*)
				# the volumes are in the state the metadata is in (the same dump for both
				# states: either)
				if ! cmp -s old.ours new.ours && [ "$v_meta" != WRONG ] && [ "$v_vols" != "$v_meta" ]; then
					bad "$label: the metadata is $v_meta but the volumes read as $v_vols"
				fi ;;
			esac
			rerun=0
			"$@" >rerun.out 2>rerun.err || rerun=$?
			[ $rerun = 0 ] || bad "$label: running it again exits $rerun: $(head -c 300 rerun.err | tr '\n' ' ')"
			vols now.v
			[ "$(vols_are now.v)" = new ] || bad "$label: run again: the volumes are not the new state's"
			dump_ours t.bin now.ours
			[ "$(judge now.ours ours)" = new ] || bad "$label: run again: our thin_check says $(judge now.ours ours), want new"
			tpt_queue t.bin new "$v_meta" "$label, run again"
			[ -z "${VERBOSE_MATRIX:-}" ] || echo "$label: rc $crc meta=$v_meta vols=$v_vols again=$rerun"
		done
	done
	tpt_judge
	note "$step: $W writes x {$MODES} ($(date +%T))"
}

# the sequence's states: s0 a pool (dev 0) over a data image of stale bytes
truncate -s 4M s0.m
perl -e 'print "stale " x 700000' | head -c 4194304 >s0.d
"$BIN/thin_message" -q --format --data-block-size 128 --nr-data-blocks 64 s0.m create_thin 0 ||
	fail "set-up: thin_message"
perl -e 'print "fresh data " x 20000' | head -c 200000 >f1.bin
perl -e 'print "OVERWRITE " x 8000' | head -c 70000 >f2.bin
perl -e 'print "break " x 200' | head -c 1000 >f3.bin
perl -e 'print "zeroing " x 700' | head -c 5000 >f4.bin
perl -e 'print "over the origin " x 5000' | head -c 70000 >f5.bin
perl -e 'print "origin " x 30000' | head -c 98304 >origin.img

TW="$BIN/thin_write -q --metadata-dev t.bin --data-dev t.data"
prev=s0
for step in $STEPS; do
	case " $(echo $ONLY) " in *" $step "*) run_it=1 ;; *) run_it=0 ;; esac
	# set-up messages of the step, on its old state (uninterrupted)
	case $step in
	break) "$BIN/thin_message" -q "$prev.m" create_snap 1 0 || fail "$step: create_snap" ;;
	origin) "$BIN/thin_message" -q "$prev.m" create_thin 2 || fail "$step: create_thin" ;;
	esac
	case $step in
	fresh) set -- $TW --dev-id 0 --offset 100 -i f1.bin ;;
	overwrite) set -- $TW --dev-id 0 --offset 10 -i f2.bin ;;
	break) set -- $TW --dev-id 0 --offset 130 -i f3.bin ;;
	zeroing) set -- $TW --dev-id 1 --offset 1000 -i f4.bin ;;
	origin) set -- $TW --dev-id 2 --offset 50 -i f5.bin --external-origin origin.img --size $VOL_SECTORS ;;
	discard) set -- $TW --dev-id 0 --offset 64 --discard 400 ;;
	discard2) set -- $TW --dev-id 1 --offset 0 --discard 1024 ;;
	esac
	[ $run_it = 0 ] || matrix "$prev" "$@"
	# the next state (uninterrupted)
	restore "$prev"
	"$@" || fail "$step: the uninterrupted run fails"
	cp --sparse=always t.bin "$step.m"
	cp --sparse=always t.data "$step.d"
	prev=$step
done

echo "crash matrix (thin_write): $nruns crashed runs ($nsame left images identical to an earlier one's, $ntorn torn in-place writes), $nfail failures"
[ $nfail = 0 ] || exit 1
exit 0

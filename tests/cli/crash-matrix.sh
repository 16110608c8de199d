#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Crash matrix: every thin writer, crashed at every write it makes, in every way
# (crash-matrix-snap.sh does the same for the snapshot writers).
#
# Each writer runs once under the fault-injection shim ($FAULTINJ, tests/preload/faultinj.c)
# to count its writes W and to make the reference "new" state.  Then, for every N in 1..W
# and every mode of MODES (default: kill tear:512 tear:2048 tear:4095 powerloss reorder eio),
# plus powerloss and reorder at N = W+1 (the power cut right after the writer exits), the
# writer runs again on a fresh copy of the "old" state and is crashed at write N.  Afterwards:
#   thin writers (thin_restore, thin_repair, thin_metadata_unpack, thin_check --auto-repair,
#     thin_check --clear-needs-check-flag): each checker (ours, and tpt 1.1 when present)
#     either rejects the output or accepts it and its thin_dump is exactly the old or the new
#     state's dump (or, for --clear-needs-check-flag, the documented middle state: leaks
#     repaired, flag still set); the two checkers agree on which;
#   in-place writers (thin_check --auto-repair / --clear-needs-check-flag): running the
#     same command again finishes the job: exit 0, then the uninterrupted run's dump and a
#     clean check by both checkers;
#   eio: the writer exits 3 (operational error), never by a signal, never 99 (sanitizer).
# Every writer does at most a few dozen writes on these fixtures.  With FULL=1 (make
# check-long) every N is cut; in the CI suite every 4th N, each mode one further, and the
# first and last 3 (crash_init and crash_ns in tests/lib.sh; every 8th in the modes tear:512
# and eio under ASan), and thin_metadata_unpack of tpt's pack of "many" (~200 writes) thins
# that by 8 again.
#
# Environment: MODES="..." to narrow the modes, ONLY="family..." to run some families
# (thin_restore thin_repair thin_unpack thin_autorepair thin_clearflag), XFAIL="family..." families whose failures are expected (reported
# as XFAIL, not failing the script), VERBOSE_MATRIX=1 to print every run.
# Run by tests/run-tests.sh; by hand: BUILDDIR=build sh tests/cli/crash-matrix.sh

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

[ -f "$FAULTINJ" ] || skip "fault-injection shim not built: $FAULTINJ (make test-tools)"
require_tool thin_restore thin_repair thin_check thin_dump thin_metadata_pack thin_metadata_unpack
[ -x "$TT/thin_damage" ] || skip "thin_damage not built: $TT/thin_damage"
crash_init thin_restore "thin outputs"
ONLY=${ONLY:-thin_restore thin_repair thin_unpack thin_autorepair thin_clearflag}
# No family is expected to fail (torn bitmap writes of the old in-place leak repair did,
# until leak repair became copy-on-write; it now runs through the pool engine,
# libmeta/thin/thin_pool.c).
XFAIL=${XFAIL:-}

nfail=0 nxfail=0 nruns=0 nsame=0
family=
fam_fail=0
# bad MSG: one failure of the current run
bad() {
	fam_fail=$((fam_fail + 1))
	case " $XFAIL " in
	*" $family "*) nxfail=$((nxfail + 1)); [ $nxfail -le 10 ] && echo "XFAIL: $family: $*" ;;
	*) nfail=$((nfail + 1)); [ $nfail -le 40 ] && echo "FAIL: $family: $*" ;;
	esac
	return 0
}

# count CMD...: run CMD under the shim, uninterrupted; the number of writes in $W
count() {
	rm -f count.txt
	shim DMMETA_FAULT_COUNT=count.txt "$@"
	[ "$crc" = 0 ] || { cat crash.out crash.err; fail "$family: uninterrupted run exits $crc: $*"; }
	W=$(cat count.txt)
	[ "$W" -ge 1 ] 2>/dev/null || fail "$family: no writes counted for $*"
}

# crashed RUN-LABEL: check the exit status of a crashed run ($mode at $n)
crashed_ok() {
	case $mode in
	eio)
		[ "$crc" = 3 ] || bad "$1: exit $crc under EIO, want 3: $(head -c 300 crash.err)" ;;
	*)
		[ "$crc" = 137 ] || bad "$1: exit $crc, want death by SIGKILL (137): $(head -c 300 crash.err)" ;;
	esac
}

# ---- thin helpers -------------------------------------------------------------------
# tpt 1.1's thin_check takes ~0.5 s of wall time whatever the image (its progress thread
# sleeps), so its verdicts are computed in the background, up to TPT_JOBS at a time, cached
# by the image's sha256, and judged at the end of each family.

# ours_ref FILE TAG: our dump of FILE as TAG.ours, or "-" when our thin_check rejects it
ours_ref() {
	if "$BIN/thin_check" -q "$1" >/dev/null 2>&1; then
		"$BIN/thin_dump" "$1" >"$2.ours" 2>/dev/null || echo - >"$2.ours"
	else
		echo - >"$2.ours"
	fi
}
# tpt_ref FILE TAG: the same with tpt 1.1 (TAG.tpt)
tpt_ref() {
	if "$TPT11" thin_check -q "$1" >/dev/null 2>&1; then
		"$TPT11" thin_dump "$1" >"$2.tpt" 2>/dev/null || echo - >"$2.tpt"
	else
		echo - >"$2.tpt"
	fi
}
# judge DUMP TAG: old, new, rejected or WRONG
judge() {
	if [ "$(head -c 2 "$1")" = - ]; then echo rejected
	elif cmp -s "$1" "old.$2"; then echo old
	elif cmp -s "$1" "new.$2"; then echo new
	elif [ -f "mid.$2" ] && cmp -s "$1" "mid.$2"; then echo mid
	else echo WRONG
	fi
}

TPT_JOBS=${TPT_JOBS:-24}
njobs=0 seq=0
# tpt_queue FILE LABEL WANT: queue tpt 1.1's verdict on FILE; WANT is "state" (old, new or
# rejected, and the same as ours: $v_ours) or "new"
tpt_queue() {
	[ $HAVE_TPT = 1 ] || return 0
	seq=$((seq + 1))
	h=$(sha256sum <"$1" | cut -c1-32)
	if [ ! -f "tpt/$h.job" ]; then
		: >"tpt/$h.job"
		cp --sparse=always "$1" "tpt/$h.img"
		( tpt_ref "tpt/$h.img" "tpt/$h"; rm -f "tpt/$h.img" ) &
		njobs=$((njobs + 1))
		if [ $njobs -ge "$TPT_JOBS" ]; then
			wait
			njobs=0
		fi
	fi
	printf '%s|%s|%s|%s\n' "$h" "$3" "$v_ours" "$2" >>tpt/queue
}
# tpt_judge: wait for the queued verdicts and judge them
tpt_judge() {
	[ $HAVE_TPT = 1 ] || return 0
	wait
	njobs=0
	[ -f tpt/queue ] || return 0
	crash_tpt_verdicts "thin_check accepts content that is neither the old nor the new state"
	rm -f tpt/queue
}

# thin_state_ok LABEL FILE: the old state, the new state, or rejected by both
thin_state_ok() {
	ours_ref "$2" now
	v_ours=$(judge now.ours ours)
	if [ "$v_ours" = WRONG ]; then
		bad "$1: our thin_check accepts content that is neither the old nor the new state ($(diff new.ours now.ours | head -4 | tr '\n' ' '))"
		cp "$2" "$WORKDIR/wrong-$family-$n-$mode.bin" 2>/dev/null
	fi
	tpt_queue "$2" "$1" state
	[ -z "${VERBOSE_MATRIX:-}" ] || echo "$1: rc $crc ours=$v_ours"
}

# thin_matrix SETUP CMD...: SETUP (a function) makes the old state in ./t.bin (and inputs);
# CMD writes ./t.bin.  INPLACE=1: rerunning CMD must finish the job.
thin_matrix() {
	setup=$1
	shift
	rm -rf tpt seen.txt
	mkdir tpt
	rm -f mid.ours mid.tpt
	$setup
	if [ -n "${MID:-}" ]; then
		# a documented intermediate state (e.g. leaks repaired, flag not yet cleared)
		$MID t.bin >/dev/null 2>&1
		ours_ref t.bin mid
		[ $HAVE_TPT = 0 ] || tpt_ref t.bin mid
		$setup
	fi
	ours_ref t.bin old
	[ $HAVE_TPT = 0 ] || tpt_ref t.bin old
	count "$@"
	ours_ref t.bin new
	[ $HAVE_TPT = 0 ] || tpt_ref t.bin new
	[ "$(cat new.ours)" != - ] || fail "$family: our thin_check rejects the uninterrupted result"
	[ $HAVE_TPT = 0 ] || [ "$(cat new.tpt)" != - ] || fail "$family: tpt 1.1 thin_check rejects the uninterrupted result"
	for mode in $MODES; do
		last=$W
		case $mode in powerloss|reorder) last=$((W + 1)) ;; esac
		crash_ns $last
		for n in $CRASH_NS; do
			$setup
			nruns=$((nruns + 1))
			shim DMMETA_FAULT_AT=$n DMMETA_FAULT_MODE=$mode "$@"
			crashed_ok "$mode at write $n/$W"
			# the same image as an earlier crash's (a tear past a short write, a power
			# cut back to the same flush, ...): the verdicts would be the same
			h=$(sha256sum <t.bin | cut -c1-32)
			if grep -qx "$h" seen.txt 2>/dev/null; then
				nsame=$((nsame + 1))
				continue
			fi
			echo "$h" >>seen.txt
			thin_state_ok "$mode at write $n/$W" t.bin
			if [ "${INPLACE:-0}" = 1 ]; then
				rerun=0
				"$@" >rerun.out 2>rerun.err || rerun=$?
				if [ $rerun != 0 ]; then
					bad "$mode at write $n/$W: running it again exits $rerun, want 0: $(head -c 300 rerun.err | tr '\n' ' ')"
				else
					ours_ref t.bin now
					v_ours=$(judge now.ours ours)
					[ "$v_ours" = new ] ||
						bad "$mode at write $n/$W: after running it again our thin_check says $v_ours, want new"
					tpt_queue t.bin "$mode at write $n/$W, run again" new
				fi
			fi
		done
	done
	tpt_judge
	note "$family: $W writes x {$MODES}: $fam_fail failures ($(date +%T))"
}

WORKDIR=$PWD

# ---- thin_restore: snaps.xml over a one-thin pool; many.xml over a snaps pool ----------
# old_pool NAME BLOCKS: ./t.bin = fixture NAME grown to BLOCKS blocks (uncompressed once)
old_pool() {
	[ -f "old-$1-$2.bin" ] || { fixture "$1" "old-$1-$2.bin"; truncate -s $(($2 * 4096)) "old-$1-$2.bin"; }
	cp --sparse=always "old-$1-$2.bin" t.bin
}
setup_restore_snaps() { old_pool one-thin 256; }
setup_restore_many() { old_pool snaps 1024; }
# ---- thin_repair: a leaky snaps pool repaired over a one-thin pool ---------------------------
setup_repair() {
	[ -f in.bin ] || {
		fixture snaps in.bin
		"$TT/thin_damage" in.bin leak-data "$("$TT/thin_damage" in.bin find free-data 2)" >/dev/null ||
			fail "thin_damage leak-data"
		"$TT/thin_damage" in.bin drop-data-ref "$("$TT/thin_damage" in.bin find used-data 5)" >/dev/null ||
			fail "thin_damage drop-data-ref"
	}
	old_pool one-thin 256
}
# ---- thin_metadata_unpack: our pack of snaps; tpt's pack of many ------------------------
setup_unpack() {
	[ -f snaps.pack ] || {
		fixture snaps s.bin
		"$BIN/thin_metadata_pack" -q -i s.bin -o snaps.pack || fail "thin_metadata_pack"
	}
	old_pool one-thin 256
}
setup_unpack_many() { old_pool snaps 1024; }
# ---- in-place leak repair: leaks in data and metadata space maps (several bitmaps) ------
setup_leaks() {
	[ -f leaky.bin ] || {
		fixture many leaky.bin
		for k in 0 40; do
			"$TT/thin_damage" leaky.bin leak-metadata "$("$TT/thin_damage" leaky.bin find free-metadata $k)" >/dev/null ||
				fail "thin_damage leak-metadata"
		done
		for k in 0 20000 40000 60000; do
			"$TT/thin_damage" leaky.bin leak-data "$("$TT/thin_damage" leaky.bin find free-data $k)" >/dev/null ||
				fail "thin_damage leak-data $k"
		done
	}
	cp leaky.bin t.bin
}
setup_needs_check() {
	[ -f nc.bin ] || {
		fixture needs-check nc.bin
		"$TT/thin_damage" nc.bin leak-data "$("$TT/thin_damage" nc.bin find free-data 1)" >/dev/null ||
			fail "thin_damage leak-data"
		"$TT/thin_damage" nc.bin leak-metadata "$("$TT/thin_damage" nc.bin find free-metadata 1)" >/dev/null ||
			fail "thin_damage leak-metadata"
	}
	cp nc.bin t.bin
}

mid_autorepair() { "$BIN/thin_check" -q --auto-repair "$1"; }

for family in $ONLY; do
	fam_fail=0
	case $family in
	thin_restore)
		thin_matrix setup_restore_snaps "$BIN/thin_restore" -q --force -i "$FIX/thin/snaps.xml" -o t.bin
		fam_fail=0
		thin_matrix setup_restore_many "$BIN/thin_restore" -q --force -i "$FIX/thin/many.xml" -o t.bin ;;
	thin_repair)
		thin_matrix setup_repair "$BIN/thin_repair" -q -i in.bin -o t.bin ;;
	thin_unpack)
		thin_matrix setup_unpack "$BIN/thin_metadata_unpack" -q -f -i snaps.pack -o t.bin
		fam_fail=0
		# tpt's pack of "many": ~200 writes, every 8th (all with FULL=1)
		[ "${FULL:-0}" = 1 ] || STEP=8
		[ ! -f "$FIX/thin/many.tpt.pack" ] ||
			thin_matrix setup_unpack_many "$BIN/thin_metadata_unpack" -q -f -i "$FIX/thin/many.tpt.pack" -o t.bin
		STEP=1 ;;
	thin_autorepair)
		INPLACE=1
		thin_matrix setup_leaks "$BIN/thin_check" -q --auto-repair t.bin
		INPLACE=0 ;;
	thin_clearflag)
		# between its leak repair and the flag's clearing, the image is the one
		# --auto-repair makes (no leaks, needs_check still set): a valid middle state
		INPLACE=1 MID=mid_autorepair
		thin_matrix setup_needs_check "$BIN/thin_check" -q --clear-needs-check-flag t.bin
		INPLACE=0 MID= ;;
	*) fail "unknown family $family" ;;
	esac
done

echo "crash matrix: $nruns crashed runs ($nsame left an image identical to an earlier one's), $nfail failures, $nxfail expected failures (XFAIL: ${XFAIL:-none})"
[ $nfail = 0 ] || exit 1
exit 0

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# asan: check-long
#
# Crash matrix of thin_merge: each operation crashed at every write it makes, in every way
# (the modes of tests/preload/faultinj.c), plus powerloss and reorder at N = W+1 (the power
# cut right after the tool exits).
#
# Rollback steps (the metadata is written): rollback (snaps: 3 into 0), keep (--keep-snapshot),
# held (a metadata snapshot held), shared (shared-leaves: 1 into 0).  After each crash:
#   - the crashed run dies by SIGKILL (exit 3 under eio);
#   - our thin_check and tpt 1.1's pass the image, and each one's dump (with the metadata
#     snapshot's) is exactly the old or the new state's, and both say the same one;
#   - the same command run again gives the new state (or, when the crash left the new state,
#     is refused with exit 3: the snapshot is gone); not for keep, where a second run is a
#     second rollback.
# Merge steps (the image is written; the pool only read): merge (device 0 into an image),
# delete (--delete: then the metadata is written after the image's flush).  After each
# crash the pool is the old or the new state (old for merge), and the same command run again
# leaves the image exactly the uninterrupted run's (exit 0; or, when the crash left the device
# deleted, exit 3 with the image already complete).
#
# Environment: MODES="..." to narrow the modes, ONLY="step..." to run some steps,
# VERBOSE_MATRIX=1 to print every run.  By hand: BUILDDIR=build sh tests/cli/crash-matrix-merge.sh

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

[ -f "$FAULTINJ" ] || skip "fault-injection shim not built: $FAULTINJ (make test-tools)"
require_tool thin_merge thin_check thin_dump thin_restore
crash_init thin_merge images
STEPS='rollback keep held shared merge delete'
ONLY=${ONLY:-$STEPS}
TPT_JOBS=${TPT_JOBS:-16}

nfail=0 nruns=0 nsame=0 step=
bad() {
	nfail=$((nfail + 1))
	[ $nfail -le 40 ] && echo "FAIL: $step: $*"
	return 0
}

# dump_ours FILE OUT: our dump of FILE and of its metadata snapshot; "-" when our thin_check rejects it
dump_ours() {
	if "$BIN/thin_check" -q "$1" >/dev/null 2>&1; then
		{ "$BIN/thin_dump" "$1" && { "$BIN/thin_dump" -m "$1" 2>/dev/null || echo "no metadata snapshot"; }; } \
			>"$2" 2>/dev/null || echo - >"$2"
	else echo - >"$2"
	fi
}
dump_tpt() {
	if "$TPT11" thin_check -q "$1" >/dev/null 2>&1; then
		{ "$TPT11" thin_dump "$1" && { "$TPT11" thin_dump -m "$1" 2>/dev/null || echo "no metadata snapshot"; }; } \
			>"$2" 2>/dev/null || echo - >"$2"
	else echo - >"$2"
	fi
}
judge() {
	if cmp -s "$1" "old.$2"; then echo old
	elif cmp -s "$1" "new.$2"; then echo new
	else echo WRONG
	fi
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
			{ "$TPT11" thin_dump "$img" &&
				{ "$TPT11" thin_dump -m "$img" 2>/dev/null || echo "no metadata snapshot"; }; } \
				>"$h.tpt" 2>/dev/null || echo - >"$h.tpt"
		else echo - >"$h.tpt"
		fi' sh
	crash_tpt_verdicts "finds neither the old nor the new state" show
	rm -rf tpt
}

# crashed LABEL: the crashed run's exit status is the mode's
crashed() {
	case $mode in
	eio) [ "$crc" = 3 ] || bad "$1: exit $crc under EIO, want 3: $(head -c 300 crash.err)" ;;
	*) [ "$crc" = 137 ] || [ "$n" -gt "$W" ] ||
		bad "$1: exit $crc, want death by SIGKILL (137): $(head -c 300 crash.err)" ;;
	esac
}

# rollback_matrix OLDFILE RERUN CMD...: CMD writes ./t.bin (a copy of OLDFILE); RERUN 1: run again
rollback_matrix() {
	old=$1 rerun_ok=$2
	shift 2
	rm -rf tpt seen.txt
	mkdir tpt
	cp --sparse=always "$old" t.bin
	dump_ours t.bin old.ours
	[ $HAVE_TPT = 0 ] || dump_tpt t.bin old.tpt
	rm -f count.txt
	shim DMMETA_FAULT_COUNT=count.txt "$@"
	[ "$crc" = 0 ] || { cat crash.out crash.err; fail "$step: uninterrupted run exits $crc: $*"; }
	W=$(cat count.txt)
	[ "$W" -ge 1 ] 2>/dev/null || fail "$step: no writes counted for $*"
	dump_ours t.bin new.ours
	[ $HAVE_TPT = 0 ] || dump_tpt t.bin new.tpt
	[ "$(head -c 2 new.ours)" != - ] || fail "$step: our thin_check rejects the uninterrupted result"
	[ $HAVE_TPT = 0 ] || [ "$(head -c 2 new.tpt)" != - ] || fail "$step: tpt 1.1 thin_check rejects the uninterrupted result"
	cmp -s old.ours new.ours && fail "$step: the uninterrupted run changes nothing"
	for mode in $MODES; do
		last=$W
		case $mode in powerloss|reorder) last=$((W + 1)) ;; esac
		crash_ns $last
		for n in $CRASH_NS; do
			label="$mode at write $n/$W"
			cp --sparse=always "$old" t.bin
			nruns=$((nruns + 1))
			shim DMMETA_FAULT_AT=$n DMMETA_FAULT_MODE=$mode "$@"
			crashed "$label"
			h=$(sha256sum <t.bin | cut -c1-32)
			if grep -qx "$h" seen.txt 2>/dev/null; then
				nsame=$((nsame + 1))
				continue
			fi
			echo "$h" >>seen.txt
			dump_ours t.bin now.ours
			v=$(judge now.ours ours)
			[ "$v" != WRONG ] || bad "$label: our thin_check finds neither the old nor the new state ($(head -c 60 now.ours | head -n 1))"
			tpt_queue t.bin state "$v" "$label"
			if [ "$rerun_ok" = 1 ]; then
				rerun=0
				"$@" >rerun.out 2>rerun.err || rerun=$?
				dump_ours t.bin now.ours
				again=$(judge now.ours ours)
				if [ $rerun = 0 ] || { [ $rerun = 3 ] && [ "$v" = new ]; }; then
					[ "$again" = new ] || bad "$label: run again (exit $rerun): our thin_check says $again, want new"
					tpt_queue t.bin new "$again" "$label, run again"
				else
					bad "$label: running it again exits $rerun (the crash left $v): $(head -c 300 rerun.err | tr '\n' ' ')"
				fi
			fi
			[ -z "${VERBOSE_MATRIX:-}" ] || echo "$label: rc $crc state $v"
		done
	done
	tpt_judge
	note "$step: $W writes x {$MODES} ($(date +%T))"
}

# merge_matrix CMD...: CMD merges into ./i.bin (a copy of i0.bin) from ./t.bin (a copy of p0.bin)
merge_matrix() {
	cp --sparse=always p0.bin t.bin && cp i0.bin i.bin
	dump_ours t.bin old.ours
	rm -f count.txt
	shim DMMETA_FAULT_COUNT=count.txt "$@"
	[ "$crc" = 0 ] || { cat crash.out crash.err; fail "$step: uninterrupted run exits $crc: $*"; }
	W=$(cat count.txt)
	[ "$W" -ge 1 ] 2>/dev/null || fail "$step: no writes counted for $*"
	dump_ours t.bin new.ours
	[ "$(head -c 2 new.ours)" != - ] || fail "$step: our thin_check rejects the uninterrupted result"
	[ $HAVE_TPT = 0 ] || "$TPT11" thin_check -q t.bin || fail "$step: tpt 1.1 thin_check rejects the uninterrupted result"
	cp i.bin want.bin
	cmp -s i0.bin want.bin && fail "$step: the uninterrupted run leaves the image as it was"
	for mode in $MODES; do
		last=$W
		case $mode in powerloss|reorder) last=$((W + 1)) ;; esac
		crash_ns $last
		for n in $CRASH_NS; do
			label="$mode at write $n/$W"
			cp --sparse=always p0.bin t.bin && cp i0.bin i.bin
			nruns=$((nruns + 1))
			shim DMMETA_FAULT_AT=$n DMMETA_FAULT_MODE=$mode "$@"
			crashed "$label"
			dump_ours t.bin now.ours
			v=$(judge now.ours ours)
			[ "$v" != WRONG ] || bad "$label: the pool is neither the old nor the new state"
			rerun=0
			"$@" >rerun.out 2>rerun.err || rerun=$?
			if [ $rerun = 0 ] || { [ $rerun = 3 ] && [ "$v" = new ] && ! cmp -s old.ours new.ours; }; then
				cmp -s want.bin i.bin || bad "$label: run again (exit $rerun, pool $v): the image differs from the uninterrupted run's"
				dump_ours t.bin now.ours
				cmp -s now.ours new.ours || bad "$label: run again: the pool is not the new state"
			else
				bad "$label: running it again exits $rerun (pool $v): $(head -c 300 rerun.err | tr '\n' ' ')"
			fi
			[ -z "${VERBOSE_MATRIX:-}" ] || echo "$label: rc $crc pool $v again $rerun"
		done
	done
	note "$step: $W writes x {$MODES} ($(date +%T))"
}

# a small pool for the merges: 256 blocks of 64 KiB; device 0 maps scattered blocks (runs of
# 1 to 3), device 1 is a snapshot that shares some of them
pool_xml() {
	awk 'BEGIN {
		print "<superblock uuid=\"\" time=\"1\" transaction=\"1\" flags=\"0\" version=\"2\" data_block_size=\"128\" nr_data_blocks=\"256\">"
		n = 0; for (v = 0; v < 60; v++) if (v % 4 != 3) n++
		printf "<device dev_id=\"0\" mapped_blocks=\"%d\" transaction=\"1\" creation_time=\"0\" snap_time=\"1\">\n", n
		for (v = 0; v < 60; v++) if (v % 4 != 3) printf "<single_mapping origin_block=\"%d\" data_block=\"%d\" time=\"0\"/>\n", v, (v * 7) % 251
		print "</device>"
		printf "<device dev_id=\"1\" mapped_blocks=\"10\" transaction=\"1\" creation_time=\"1\" snap_time=\"1\">\n"
		for (v = 0; v < 10; v++) printf "<single_mapping origin_block=\"%d\" data_block=\"%d\" time=\"0\"/>\n", v * 4, (v * 28) % 251
		print "</device>"
		print "</superblock>" }'
}

for step in $STEPS; do
	case " $(echo $ONLY) " in *" $step "*) ;; *) continue ;; esac
	case $step in
	rollback) fixture snaps o.bin; rollback_matrix o.bin 1 "$BIN/thin_merge" -q --metadata-dev t.bin --dev-id 3 --origin-id 0 ;;
	keep) fixture snaps o.bin; rollback_matrix o.bin 0 "$BIN/thin_merge" -q --metadata-dev t.bin --dev-id 3 --origin-id 0 --keep-snapshot ;;
	held)
		fixture snaps o.bin
		"$BIN/thin_message" -q o.bin reserve_metadata_snap || fail "held: reserve_metadata_snap"
		rollback_matrix o.bin 1 "$BIN/thin_merge" -q --metadata-dev t.bin --dev-id 2 --origin-id 1 ;;
	shared) fixture shared-leaves o.bin; rollback_matrix o.bin 1 "$BIN/thin_merge" -q --metadata-dev t.bin --dev-id 1 --origin-id 0 ;;
	merge|delete)
		if [ ! -f p0.bin ]; then
			pool_xml >p.xml && truncate -s 1M p0.bin && "$BIN/thin_restore" -q -i p.xml -o p0.bin || fail "cannot make the merge pool"
			yes 'dmmeta merge data' | head -c 16777216 >d.bin && yes 'origin image' | head -c 4000000 >i0.bin
		fi
		if [ $step = merge ]; then
			merge_matrix "$BIN/thin_merge" -q --metadata-dev t.bin --data-dev d.bin --dev-id 0 --external-origin i.bin
		else
			merge_matrix "$BIN/thin_merge" -q --metadata-dev t.bin --data-dev d.bin --dev-id 0 --external-origin i.bin --delete
		fi ;;
	esac
done

echo "crash matrix (thin_merge): $nruns crashed runs ($nsame left an image identical to an earlier one's), $nfail failures"
[ $nfail = 0 ] || exit 1
exit 0

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# asan: check-long
#
# Crash matrix of thin_shrink --binary with the data copy: a generated pool with snapshots
# (fragmented, so many blocks move in many copies) on a data image whose every block carries
# its own number (tests/func/thin_shrink/pattern.pl).  For every N in 1..W (W = the writes of
# an uninterrupted run: data copies, then the output metadata) and every mode of
# tests/preload/faultinj.c, plus powerloss and reorder at N = W+1 (the power cut right after
# the tool exits), the shrink runs on fresh copies and is crashed at write N.  Then:
#   - it died by SIGKILL (exit 3 under eio), never by another signal;
#   - the input pool is intact: its metadata byte for byte, and every volume reads from the
#     data image exactly the bytes it read before (views.pl);
#   - the output is either complete (our thin_check and tpt 1.1's accept it, and every
#     volume it describes reads the original bytes from the data image, all blocks < NUM)
#     or rejected by both checkers;
#   - at least one crash point left a rejected output, and (with powerloss or reorder, whose
#     cut after the exit is one) at least one a complete output.
# Environment: MODES="..." to narrow the modes, VERBOSE_MATRIX=1 to print every run.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

[ -f "$FAULTINJ" ] || skip "fault-injection shim not built: $FAULTINJ (make test-tools)"
require_tool thin_shrink thin_check thin_dump thin_restore
[ -x "$TT/gen_thin_xml" ] || skip "tests/tools/gen_thin_xml not built"
command -v perl >/dev/null 2>&1 || skip "perl not installed"
crash_init thin_shrink outputs
D=$SRCDIR/tests/func/thin_shrink

nfail=0 nruns=0 ncomplete=0 nrejected=0
bad() {
	echo "CRASH: $*"
	nfail=$((nfail + 1))
}

"$TT/gen_thin_xml" --devices 2 --mappings 120 --snapshots 2 --change 40 --fragment 60 --gap 20 --seed 17 >p.xml ||
	fail "gen_thin_xml"
nr=$(sed -n '1s/.*nr_data_blocks="\([0-9]*\)".*/\1/p' p.xml)
used=$("$BIN/thin_shrink" -i p.xml -o /dev/null --data x --no-copy --nr-blocks 1 2>&1 |
	sed -n 's/.*(\([0-9]*\) of the pool.*/\1/p')
[ -n "$used" ] || fail "cannot learn the used count"
NUM=$used # the tightest shrink: every block above moves
perl "$D/pattern.pl" orig.img "$nr" 65536 || fail "pattern.pl"
truncate -s 1M m0.bin && "$BIN/thin_restore" -i p.xml -o m0.bin && "$BIN/thin_dump" m0.bin >m.xml ||
	fail "thin_restore"
perl "$D/views.pl" m.xml orig.img >before || fail "views.pl"

fresh() {
	cp m0.bin m.bin && cp orig.img d.img && rm -f o.bin && truncate -s 1M o.bin || fail "cp"
}
run() { # extra env
	shim "$@" "$BIN/thin_shrink" -q --binary -i m.bin -o o.bin --data d.img --nr-blocks "$NUM"
}

fresh
run DMMETA_FAULT_COUNT=count
[ "$crc" = 0 ] || fail "the uninterrupted shrink failed (exit $crc): $(cat crash.err)"
W=$(cat count)
[ "$W" -gt 2 ] || fail "only $W writes counted"
"$BIN/thin_check" -q o.bin || fail "the uninterrupted output fails thin_check"

judge() { # LABEL
	cmp -s m0.bin m.bin || bad "$1: the input metadata changed"
	perl "$D/views.pl" m.xml d.img >inview 2>/dev/null && cmp -s before inview ||
		bad "$1: a volume of the input pool reads other bytes"
	if "$BIN/thin_check" -q o.bin 2>/dev/null; then
		ours=accept
	else
		ours=reject
	fi
	theirs=$ours
	if [ $HAVE_TPT = 1 ]; then
		if "$TPT11" thin_check -q o.bin >/dev/null 2>&1; then theirs=accept; else theirs=reject; fi
	fi
	[ "$ours" = "$theirs" ] || bad "$1: our thin_check says $ours, tpt 1.1's $theirs"
	if [ "$ours" = accept ]; then
		ncomplete=$((ncomplete + 1))
		"$BIN/thin_dump" o.bin >o.xml && perl "$D/views.pl" o.xml d.img >outview 2>/dev/null &&
			cmp -s before outview || bad "$1: the output is valid but a volume reads other bytes"
		grep -q "nr_data_blocks=\"$NUM\"" o.xml || bad "$1: the output is valid but not the shrunk pool"
	else
		nrejected=$((nrejected + 1))
	fi
	[ -z "${VERBOSE_MATRIX:-}" ] || echo "$1: output $ours"
}

for mode in $MODES; do
	last=$W
	case $mode in powerloss | reorder) last=$((W + 1)) ;; esac
	crash_ns $last
	for n in $CRASH_NS; do
		fresh
		run DMMETA_FAULT_AT=$n DMMETA_FAULT_MODE=$mode
		nruns=$((nruns + 1))
		case $mode:$crc in
		eio:3 | *:137) ;;
		*) bad "$mode@$n: exit $crc ($(head -n 1 crash.err))" ;;
		esac
		judge "$mode@$n"
	done
done

case " $MODES " in
*" powerloss "* | *" reorder "*) # their cut after the exit leaves the complete output
	[ "$ncomplete" -gt 0 ] || bad "no crash point left a complete output" ;;
esac
[ "$nrejected" -gt 0 ] || bad "no crash point left a rejected output"
[ "$nfail" = 0 ] || { echo "$nfail failure(s) in $nruns runs"; exit 1; }
echo "crash-matrix-shrink: $nruns runs ($W writes, modes: $MODES): input pool intact in every one; output complete in $ncomplete, rejected by both checkers in $nrejected"
exit 0

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# test-timeout: 900
# asan: check-long
#
# Crash matrix for the classic-snapshot writers (crash-matrix.sh does the thin ones): each
# writer is crashed at every write it makes (N = 1..W, W counted by an uninterrupted run
# under $FAULTINJ) in every mode of MODES (default kill tear:512 tear:2048 tear:4095
# powerloss reorder eio; powerloss and reorder also at W+1, right after the writer exits).
#   snap_restore: snap_check rejects the COW, or accepts it and snap_dump is exactly the  Afterwards:
#     old or the new store's;
#   snap_merge: when snap_check accepts the interrupted store, origin + store still show the
#     snapshot's view (snap_export) unchanged, and so does another snapshot of the origin
#     given with --snapshot; running the same snap_merge again exits 0 and
#     leaves origin and COW byte for byte as an uninterrupted merge does;
#   snap_write: snap_check rejects the COW, or accepts it and its exceptions are the old
#     ones plus a part of the new ones (the writer commits chunk by chunk, as the kernel);
#     an origin write never changes what the snapshot shows, nor the origin outside the
#     written range; a snapshot write never changes the origin, nor the snapshot's view
#     outside the written range;
#   snap_convert: the input never changes; snap_check rejects the output, or it is the old
#     output or the uninterrupted conversion's, byte for byte;
#   eio: the writer exits 3 (or 1 when it found and reported damage), never by a signal
#     nor 99 (sanitizer).
# The largest writers here make ~75 writes, so no N is skipped.
# Environment: MODES, ONLY="snap_restore snap_merge snap_write snap_convert", VERBOSE_MATRIX=1.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

[ -f "$FAULTINJ" ] || skip "fault-injection shim not built: $FAULTINJ (make test-tools)"
require_tool snap_restore snap_merge snap_write snap_check snap_dump snap_export snap_convert
crash_init snap_merge # ASan options and MODES (tests/lib.sh)
ONLY=${ONLY:-snap_restore snap_merge snap_write snap_convert}

nfail=0 nruns=0 fam_fail=0 nsame=0
family=
bad() {
	fam_fail=$((fam_fail + 1))
	nfail=$((nfail + 1))
	[ $nfail -le 40 ] && echo "FAIL: $family: $*"
	return 0
}
count() {
	rm -f count.txt
	shim DMMETA_FAULT_COUNT=count.txt "$@"
	[ "$crc" = 0 ] || { cat crash.out crash.err; fail "$family: uninterrupted run exits $crc: $*"; }
	W=$(cat count.txt)
	[ "$W" -ge 1 ] 2>/dev/null || fail "$family: no writes counted for $*"
}
crashed_ok() {
	case $mode in
	eio)
		[ "$crc" = 3 ] || [ "$crc" = 1 ] || bad "$1: exit $crc under EIO, want 3: $(head -c 300 crash.err)" ;;
	*)
		[ "$crc" = 137 ] || bad "$1: exit $crc, want death by SIGKILL (137): $(head -c 300 crash.err)" ;;
	esac
}
# dump_of COW OUT: snap_dump of COW into OUT if snap_check accepts it, else "-"
dump_of() {
	if "$BIN/snap_check" -q "$1" >/dev/null 2>&1; then
		"$BIN/snap_dump" "$1" >"$2" 2>/dev/null || echo - >"$2"
	else
		echo - >"$2"
	fi
}
# view_of ORIGIN COW OUT
view_of() {
	"$BIN/snap_export" -q --origin "$1" --cow "$2" -o "$3" >/dev/null 2>&1 || echo - >"$3"
}
# only_in_range A B LO HI: A and B differ only at byte offsets [LO, HI)
only_in_range() {
	[ "$(wc -c <"$1")" = "$(wc -c <"$2")" ] || return 1
	cmp -l "$1" "$2" 2>/dev/null | awk -v lo="$3" -v hi="$4" '$1 - 1 < lo || $1 - 1 >= hi { bad = 1; exit } END { exit bad }'
}
# subset A B: every line of A is in B
subset() {
	sort "$1" >subset.a
	sort "$2" >subset.b
	[ -z "$(comm -23 subset.a subset.b)" ]
}

# matrix SETUP VERIFY CMD...: for every N and mode: SETUP; crash CMD at N; VERIFY LABEL
matrix() {
	setup=$1 verify=$2
	shift 2
	rm -f seen.txt
	for mode in $MODES; do
		last=$W
		case $mode in powerloss|reorder) last=$((W + 1)) ;; esac
		crash_ns $last
		for n in $CRASH_NS; do
			$setup
			nruns=$((nruns + 1))
			shim DMMETA_FAULT_AT=$n DMMETA_FAULT_MODE=$mode "$@"
			crashed_ok "$mode at write $n/$W"
			# the same files as an earlier crash (a tear past a short write, a power
			# cut back to the same flush, ...): the verdict would be the same
			h=$(cat $STATE_FILES | sha256sum | cut -c1-32)
			if grep -qx "$h" seen.txt 2>/dev/null; then
				nsame=$((nsame + 1))
			else
				echo "$h" >>seen.txt
				$verify "$mode at write $n/$W" "$@"
			fi
		done
	done
	note "$family ($case): $W writes x {$MODES}: $fam_fail failures ($(date +%T))"
}

# ---- snap_restore ----------------------------------------------------------------------
# old: the first K exceptions of a store; new: all of them; COW of SIZE bytes
restore_case() {
	case=$1 fx=$2 k=$3
	gzip -dc "$FIX/snap/$fx.bin.gz" >src.bin
	"$BIN/snap_dump" src.bin >new.xml || fail "snap_dump $fx"
	awk -v k="$k" '/<exception / { if (++i > k) next } { print }' new.xml >old.xml
	size=$(wc -c <src.bin)
	setup_restore
	"$BIN/snap_restore" -q --force -i new.xml -o c.bin || fail "snap_restore $fx"
	dump_of c.bin new.dump
	setup_restore
	dump_of c.bin old.dump
	[ "$(cat old.dump)" != - ] && [ "$(cat new.dump)" != - ] || fail "$case: reference stores rejected"
	cmp -s old.dump new.dump && fail "$case: old and new stores are the same"
	count "$BIN/snap_restore" -q --force -i new.xml -o c.bin
	STATE_FILES=c.bin
	matrix setup_restore verify_restore "$BIN/snap_restore" -q --force -i new.xml -o c.bin
}
setup_restore() {
	rm -f c.bin
	dd if=/dev/zero of=c.bin bs="$size" count=1 2>/dev/null
	"$BIN/snap_restore" -q -i old.xml -o c.bin || fail "$case: cannot restore the old store"
}
verify_restore() {
	dump_of c.bin now.dump
	if [ "$(cat now.dump)" = - ]; then v=rejected
	elif cmp -s now.dump old.dump; then v=old
	elif cmp -s now.dump new.dump; then v=new
	else v=WRONG
		bad "$1: snap_check accepts a store that is neither the old nor the new one ($(diff old.dump now.dump | head -3 | tr '\n' ' '))"
	fi
	[ -z "${VERBOSE_MATRIX:-}" ] || echo "$case $1: rc $crc $v"
}

# ---- snap_merge ----------------------------------------------------------------------
merge_case() {
	case=$1 fx=$2 other=${3:-}
	if [ "$fx" = big-area ]; then
		# 40 exceptions in one 4 KiB area (2 sectors of records: a torn clear leaves
		# records after the terminator), over a 1 MiB origin; data chunks are text
		seq 1 200000 | head -c 1048576 >origin0.bin
		seq 500000 700000 | head -c $((128 * 4096)) >cow0.bin
		awk 'BEGIN { print "<snapshot_store magic=\"0x70416e53\" valid=\"1\" version=\"1\" chunk_size=\"8\">"
			for (i = 0; i < 40; i++) printf "  <exception old_chunk=\"%d\" new_chunk=\"%d\"/>\n", (i * 7) % 256, i + 2
			print "</snapshot_store>" }' >big.xml
		"$BIN/snap_restore" -q --force -i big.xml -o cow0.bin || fail "$case: snap_restore big.xml"
	else
		gzip -dc "$FIX/snap/$fx.bin.gz" >cow0.bin
		gzip -dc "$FIX/snap/$fx-origin.bin.gz" >origin0.bin
	fi
	MERGE_OTHER=
	STATE_FILES="o.bin c.bin"
	if [ -n "$other" ]; then
		# another snapshot of the same origin, with exceptions of its own (origin
		# writes made with both snapshots present): the merge must copy out into it
		dd if=/dev/zero of=other0.bin bs=4096 count=128 2>/dev/null
		printf '<snapshot_store magic="0x70416e53" valid="1" version="1" chunk_size="8">\n</snapshot_store>\n' >empty8.xml
		"$BIN/snap_restore" -q -i empty8.xml -o other0.bin || fail "$case: snap_restore other"
		for off in 3 64 200; do
			printf 'both see this at %s' "$off" >w.txt
			"$BIN/snap_write" -q --origin origin0.bin --cow cow0.bin --cow other0.bin \
				--target origin --offset "$off" --input w.txt || fail "$case: snap_write"
		done
		view_of origin0.bin other0.bin otherview0.bin
		MERGE_OTHER="--snapshot x.bin"
		STATE_FILES="o.bin c.bin x.bin"
	fi
	view_of origin0.bin cow0.bin view0.bin
	setup_merge
	count "$BIN/snap_merge" -q --origin o.bin $MERGE_OTHER c.bin
	cp o.bin ref-o.bin
	cp c.bin ref-c.bin
	[ -z "$other" ] || cp x.bin ref-x.bin
	cmp -s ref-o.bin view0.bin || fail "$case: uninterrupted merge does not give the snapshot's view"
	if [ -n "$other" ]; then
		view_of o.bin x.bin xv.bin
		cmp -s xv.bin otherview0.bin || fail "$case: uninterrupted merge changes the other snapshot's view"
	fi
	matrix setup_merge verify_merge "$BIN/snap_merge" -q --origin o.bin $MERGE_OTHER c.bin
}
setup_merge() {
	cp origin0.bin o.bin
	cp cow0.bin c.bin
	[ -z "$MERGE_OTHER" ] || cp other0.bin x.bin
}
verify_merge() {
	v=rejected
	if "$BIN/snap_check" -q --origin o.bin c.bin >/dev/null 2>&1; then
		v=valid
		view_of o.bin c.bin view.bin
		cmp -s view.bin view0.bin ||
			bad "$1: snap_check accepts the interrupted store but the snapshot's view changed"
	fi
	if [ -n "$MERGE_OTHER" ] && "$BIN/snap_check" -q --origin o.bin x.bin >/dev/null 2>&1; then
		view_of o.bin x.bin xv.bin
		cmp -s xv.bin otherview0.bin ||
			bad "$1: the other snapshot's view changed"
	fi
	rr=0
	"$BIN/snap_merge" -q --origin o.bin $MERGE_OTHER c.bin >rerun.out 2>rerun.err || rr=$?
	if [ $rr != 0 ]; then
		bad "$1: running snap_merge again exits $rr, want 0: $(head -c 300 rerun.err | tr '\n' ' ')"
	else
		cmp -s o.bin ref-o.bin || bad "$1: resumed merge: origin differs from an uninterrupted merge's"
		cmp -s c.bin ref-c.bin || bad "$1: resumed merge: COW differs from an uninterrupted merge's"
		[ -z "$MERGE_OTHER" ] || cmp -s x.bin ref-x.bin ||
			bad "$1: resumed merge: the other snapshot's COW differs from an uninterrupted merge's"
	fi
	[ -z "${VERBOSE_MATRIX:-}" ] || echo "$case $1: rc $crc store $v, rerun $rr"
}

# ---- snap_write ------------------------------------------------------------------------
# write_case NAME FIXTURE TARGET OFFSET BYTES
write_case() {
	case=$1 fx=$2 target=$3 off=$4 nbytes=$5
	gzip -dc "$FIX/snap/$fx.bin.gz" >cow0.bin
	gzip -dc "$FIX/snap/$fx-origin.bin.gz" >origin0.bin
	# deterministic payload
	awk -v n="$nbytes" 'BEGIN { s = ""; while (length(s) < n) s = s sprintf("payload %08d\n", length(s)); printf "%s", substr(s, 1, n) }' >in.bin
	lo=$((off * 512)) hi=$((off * 512 + nbytes))
	dump_of cow0.bin old.dump
	view_of origin0.bin cow0.bin view0.bin
	setup_write
	count "$BIN/snap_write" -q --origin o.bin --cow c.bin --target "$target" --offset "$off" --input in.bin
	dump_of c.bin new.dump
	[ "$(cat new.dump)" != - ] || fail "$case: snap_check rejects the uninterrupted result"
	STATE_FILES="o.bin c.bin"
	matrix setup_write verify_write "$BIN/snap_write" -q --origin o.bin --cow c.bin --target "$target" --offset "$off" --input in.bin
}
setup_write() {
	cp origin0.bin o.bin
	cp cow0.bin c.bin
}
verify_write() {
	v=rejected
	if "$BIN/snap_check" -q --origin o.bin c.bin >/dev/null 2>&1; then
		v=valid
		"$BIN/snap_dump" c.bin >now.dump 2>/dev/null || bad "$1: snap_dump fails on a store snap_check accepts"
		subset old.dump now.dump || bad "$1: exceptions lost: $(comm -23 subset.a subset.b | head -2 | tr '\n' ' ')"
		subset now.dump new.dump || bad "$1: exceptions that the uninterrupted write does not make: $(comm -23 subset.a subset.b | head -2 | tr '\n' ' ')"
		view_of o.bin c.bin view.bin
		if [ "$target" = origin ]; then
			cmp -s view.bin view0.bin || bad "$1: an origin write changed the snapshot's view"
			only_in_range origin0.bin o.bin $lo $hi || bad "$1: origin changed outside the written range"
		else
			cmp -s o.bin origin0.bin || bad "$1: a snapshot write changed the origin"
			only_in_range view0.bin view.bin $lo $hi || bad "$1: the snapshot's view changed outside the written range"
		fi
	fi
	[ -z "${VERBOSE_MATRIX:-}" ] || echo "$case $1: rc $crc store $v"
}

# ---- snap_convert ----------------------------------------------------------------------
# convert_case NAME FIXTURE DIRECTION OLD [two]: FIXTURE's store converted to shared
# (to-shared; with "two", the cow fixture's too, as snapshot 1) or converted to shared first
# and its snapshot 0 back to classic (to-classic), onto an output that is zeroed (OLD=none)
# or holds an older store of the same kind (OLD=old, --force).
# After a crash: snap_check rejects the output, or it is the old output byte for byte, or
# the uninterrupted run's byte for byte; the input never changes.
convert_case() {
	case=$1 fx=$2 dir=$3 old=$4 two=${5:-}
	gzip -dc "$FIX/snap/cow.bin.gz" >in2.bin
	CONVERT_IN="--cow i.bin"
	[ -z "$two" ] || CONVERT_IN="--cow i.bin --cow i2.bin"
	if [ "$fx" = big ]; then
		# 300 exceptions of 4 KiB chunks (two areas), origin chunks scattered; data is text
		seq 900000 1300000 | head -c $((320 * 4096)) >src0.bin
		awk 'BEGIN { print "<snapshot_store magic=\"0x70416e53\" valid=\"1\" version=\"1\" chunk_size=\"8\">"
			for (i = 0; i < 300; i++) printf "  <exception old_chunk=\"%d\" new_chunk=\"%d\"/>\n", (i * 37) % 1000, i + 2 + (i >= 256)
			print "</snapshot_store>" }' >big.xml
		"$BIN/snap_restore" -q --force -i big.xml -o src0.bin || fail "$case: snap_restore big.xml"
	else
		gzip -dc "$FIX/snap/$fx.bin.gz" >src0.bin
	fi
	rm -f shared0.bin
	truncate -s 16M shared0.bin
	"$BIN/snap_convert" -q --cow src0.bin -o shared0.bin || fail "$case: snap_convert $fx"
	rm -f out0.bin
	if [ "$dir" = to-shared ]; then
		in=src0.bin size=16M
	else
		in=shared0.bin size=2M
	fi
	truncate -s $size out0.bin
	if [ "$old" = old ]; then
		# an older store of the output's kind: the cow fixture's
		gzip -dc "$FIX/snap/cow.bin.gz" >oldsrc.bin
		if [ "$dir" = to-shared ]; then
			"$BIN/snap_convert" -q --cow oldsrc.bin -o out0.bin || fail "$case: old store"
		else
			truncate -s 2M oldsrc.bin
			cp oldsrc.bin out0.bin
		fi
	fi
	cp "$in" in0.bin
	dump_of out0.bin old.dump
	setup_convert
	count "$BIN/snap_convert" -q --force $CONVERT_IN -o c.bin $CONVERT_ID
	cp c.bin ref.bin
	dump_of ref.bin new.dump
	[ "$(cat new.dump)" != - ] || fail "$case: snap_check rejects the uninterrupted result"
	STATE_FILES="i.bin i2.bin c.bin"
	matrix setup_convert verify_convert "$BIN/snap_convert" -q --force $CONVERT_IN -o c.bin $CONVERT_ID
}
setup_convert() {
	cp in0.bin i.bin
	cp in2.bin i2.bin
	cp out0.bin c.bin
}
verify_convert() {
	cmp -s i.bin in0.bin || bad "$1: the input changed"
	cmp -s i2.bin in2.bin || bad "$1: the second input changed"
	v=rejected
	if "$BIN/snap_check" -q c.bin >/dev/null 2>&1; then
		if cmp -s c.bin ref.bin; then v=new
		elif cmp -s c.bin out0.bin && [ "$(cat old.dump)" != - ]; then v=old
		else v=WRONG
			bad "$1: snap_check accepts an output that is neither the old one nor the converted one"
		fi
	fi
	[ -z "${VERBOSE_MATRIX:-}" ] || echo "$case $1: rc $crc output $v"
}

for family in $ONLY; do
	fam_fail=0
	case $family in
	snap_restore)
		restore_case cow cow 3
		fam_fail=0
		restore_case areas areas 10 ;;
	snap_merge)
		merge_case cow cow
		fam_fail=0
		merge_case areas areas
		fam_fail=0
		merge_case big-area big-area
		fam_fail=0
		merge_case with-other cow other ;;
	snap_write)
		write_case cow-origin cow origin 40 9000
		fam_fail=0
		write_case cow-snapshot cow 0 1000 9000
		fam_fail=0
		write_case areas-origin areas origin 200 20480 ;;
	snap_convert)
		CONVERT_ID=
		convert_case to-shared cow to-shared none
		fam_fail=0
		convert_case to-shared-two-over-old big to-shared old two
		CONVERT_ID="--snapshot 0"
		fam_fail=0
		convert_case to-classic big to-classic none
		fam_fail=0
		convert_case to-classic-over-old cow to-classic old ;;
	*) fail "unknown family $family" ;;
	esac
done

echo "snap crash matrix: $nruns crashed runs ($nsame left files identical to an earlier one's), $nfail failures"
[ $nfail = 0 ] || exit 1
exit 0

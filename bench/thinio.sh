#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# bench/thinio.sh — a sequential thin_write of a fresh volume against a plain write of the same
# bytes to the data image (issue 13: "sequential thin_write of a fresh volume at >= 80 % of a
# plain write of the same bytes to the data image").
#
# For each size in THINIO_SIZES (MiB): an input file of random bytes; before every run (untimed)
# a fresh pool (metadata formatted, thin device 0 created, data image a new sparse file of
# the size plus 1 %) is made and the caches are synced.  Rows, cold (page cache dropped before
# each run, when root) and warm (the input in the page cache):
#   dd          dd if=INPUT of=DATA bs=32M conv=notrunc,fdatasync   the plain write
#   thin_write  thin_write --metadata-dev M --data-dev DATA --dev-id 0 --offset 0 -i INPUT
#               (provisioning, the data flushed before the one metadata commit, as dd's
#               fdatasync)
# and the ratio dd/thin_write (the goal: >= 0.80).  After the first run the volume is
# checked (untimed): thin_check passes and thin_export of it is the input.
#
# Environment: BUILDDIR (default build), DMMETA_THINIO_DIR (scratch, default
# /var/tmp/dmmeta-thinio; needs about 3 x the largest size), THINIO_SIZES (default "1024";
# "1024 4096" for the 4 GiB row too), THINIO_BLOCK (data block size in sectors, default 128),
# THINIO_RUNS (default 3, after one discarded run).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh" thinio
CACHE=${DMMETA_THINIO_DIR:-/var/tmp/dmmeta-thinio}
SIZES=${THINIO_SIZES:-1024}
BLOCK=${THINIO_BLOCK:-128}
RUNS=${THINIO_RUNS:-3}
case $RUNS in '' | *[!0-9]* | 0) die "THINIO_RUNS must be a positive integer" ;; esac
need_built "$BIN" thin_write thin_message thin_check thin_export
timeit_build
mkdir -p "$CACHE" || die "cannot create $CACHE"
cd "$CACHE" || die "cannot enter $CACHE"

drop_caches() {
	sync
	[ "$(id -u)" = 0 ] && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	return 0
}
can_drop=0
[ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/drop_caches ] && can_drop=1

# fresh MIB: a new pool (m.bin, d.bin) for MIB MiB of writes; plain.bin a new data image
fresh() {
	local bytes=$(($1 * 1048576)) nr
	nr=$(((bytes + bytes / 100) / (BLOCK * 512) + 1))
	rm -f m.bin d.bin plain.bin
	truncate -s $((nr * BLOCK * 512)) d.bin plain.bin
	truncate -s $((4096 * (nr / 64 + 1024))) m.bin
	"$BIN/thin_message" -q --format --data-block-size "$BLOCK" --nr-data-blocks "$nr" m.bin create_thin 0 ||
		die "cannot make the pool"
}

# row NAME MODE MIB CMD...: median wall ms of RUNS runs (one discarded first), each on a
# fresh pool
row() {
	local name=$1 mode=$2 mib=$3 i out walls=
	shift 3
	for i in $(seq 0 "$RUNS"); do
		fresh "$mib"
		if [ "$mode" = cold ]; then drop_caches; else sync; cat in.bin >/dev/null; fi
		out=$("$TIMEIT" -e /dev/null -- "$@") || die "timeit failed for $name"
		[ "$(echo "$out" | awk '{print $4}')" = 0 ] || die "$name: the command failed ($out)"
		if [ "$i" = 0 ] && [ "$name" = thin_write ]; then
			"$BIN/thin_check" -q m.bin || die "thin_check rejects the pool thin_write left"
			"$BIN/thin_export" -q --metadata-dev m.bin --data-dev d.bin --dev-id 0 \
				--size $((mib * 2048)) -o - | cmp -s - in.bin ||
				die "the volume thin_write left is not the input"
		fi
		[ "$i" = 0 ] || walls="$walls $(echo "$out" | awk '{print $1}')"
	done
	echo "$walls" | tr ' ' '\n' | grep . | median
}

ratio() { [ "$1" = - ] && { echo -; return; }; awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

for mib in $SIZES; do
	case $mib in '' | *[!0-9]* | 0) die "bad size '$mib' in THINIO_SIZES" ;; esac
	if [ "$(stat -c %s in.bin 2>/dev/null)" != $((mib * 1048576)) ]; then
		log "generating a $mib MiB input"
		head -c $((mib * 1048576)) /dev/urandom >in.bin || die "cannot write the input"
	fi
	echo "sequential write of a fresh $mib MiB volume ($BLOCK-sector blocks), median wall ms of $RUNS runs"
	printf '%-12s %10s %10s\n' row cold warm
	dd_cold=- tw_cold=-
	for mode in cold warm; do
		[ $mode = cold ] && [ $can_drop = 0 ] && continue
		d=$(row dd $mode "$mib" dd if=in.bin of=plain.bin bs=32M conv=notrunc,fdatasync status=none)
		t=$(row thin_write $mode "$mib" "$BIN/thin_write" -q --metadata-dev m.bin --data-dev d.bin \
			--dev-id 0 --offset 0 -i in.bin)
		eval "dd_$mode=$d tw_$mode=$t"
	done
	[ $can_drop = 1 ] || log "not root: no cold rows"
	printf '%-12s %10s %10s\n' dd "$dd_cold" "$dd_warm" thin_write "$tw_cold" "$tw_warm"
	printf '%-12s %10s %10s\n' dd/thin_write "$(ratio "$dd_cold" "$tw_cold")" "$(ratio "$dd_warm" "$tw_warm")"
	echo
done
rm -f m.bin d.bin plain.bin

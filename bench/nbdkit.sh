#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# bench/nbdkit.sh — sequential read and write of a thin volume through nbdkit-dmmeta-plugin
# with nbdcopy, against nbdkit's file plugin on the same image (issue 16: ">= 70 % of its
# throughput").
#
# For each size in NBDKIT_SIZES (MiB): an input file of random bytes; a pool whose data image
# is a sparse file of the size plus 1 %, thin device 0 created (fresh before every write run).
# Rows (median wall ms of NBDKIT_RUNS runs after one discarded, the two plugins' runs
# interleaved; the whole `nbdkit -U - ...
# --run 'nbdcopy ...'`, so the server's start and the pool's open are in it):
#   write  file    nbdcopy --flush INPUT to `nbdkit file file=DATA` (a fresh sparse image)
#          dmmeta  nbdcopy --flush INPUT to `nbdkit dmmeta metadata=M data=DATA dev=0 rw=true`
#                  (provisioning every block, one commit at the flush)
#   read   file    nbdcopy from `nbdkit -r file file=DATA` to null: (the pool's data
#                  image, holding the volume)
#          dmmeta  nbdcopy from `nbdkit dmmeta ... dev=0` (read-only) to null:, the volume
#                  the write rows left (mapped in order onto the same image)
# CPU ms (nbdkit's and nbdcopy's user+sys) is printed under each pair: on a loaded machine it
# says more than the wall time.  Warm: the images are in the page cache (the file system's speed is not what is measured);
# cold rows too (caches dropped before each run) when root.  The ratio is file/dmmeta (the
# goal: >= 0.70).  After the first dmmeta write the pool is checked (untimed): thin_check
# passes and thin_export of the volume is the input.
#
# Environment: BUILDDIR (default build), DMMETA_NBDKIT_DIR (scratch, default
# /var/tmp/dmmeta-nbdkit; about 3 x the largest size), NBDKIT_SIZES (default 1024),
# NBDKIT_BLOCK (data block size in sectors, default 128), NBDKIT_RUNS (default 3).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh" nbdkit
CACHE=${DMMETA_NBDKIT_DIR:-/var/tmp/dmmeta-nbdkit}
SIZES=${NBDKIT_SIZES:-1024}
BLOCK=${NBDKIT_BLOCK:-128}
RUNS=${NBDKIT_RUNS:-3}
PLUGIN=$BUILDDIR/plugin/nbdkit-dmmeta-plugin.so
case $RUNS in '' | *[!0-9]* | 0) die "NBDKIT_RUNS must be a positive integer" ;; esac
need_built "$BIN" thin_message thin_check thin_export
[ -f "$PLUGIN" ] || die "$PLUGIN not built (nbdkit-plugin-dev missing?)"
for c in nbdkit nbdcopy; do command -v $c >/dev/null || die "$c not found"; done
timeit_build
mkdir -p "$CACHE" || die "cannot create $CACHE"
cd "$CACHE" || die "cannot enter $CACHE"

can_drop=0
[ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/drop_caches ] && can_drop=1
prepare() { # prepare cold|warm FILE...: drop the caches, or read FILEs into them
	sync
	if [ "$1" = cold ]; then
		echo 3 >/proc/sys/vm/drop_caches
	else
		shift
		cat "$@" >/dev/null
	fi
}

# fresh MIB: a new pool (m.bin, d.bin) with thin device 0, and a new plain image f.bin
fresh() {
	local bytes=$(($1 * 1048576)) nr
	nr=$(((bytes + bytes / 100) / (BLOCK * 512) + 1))
	rm -f m.bin d.bin f.bin
	truncate -s $((nr * BLOCK * 512)) d.bin f.bin
	truncate -s $((4096 * (nr / 64 + 1024))) m.bin
	"$BIN/thin_message" -q --format --data-block-size "$BLOCK" --nr-data-blocks "$nr" m.bin \
		create_thin 0 || die "cannot make the pool"
}

# run NAME OP MODE MIB: one timed run; prints the wall ms and the CPU ms (nbdkit and nbdcopy)
run() {
	local name=$1 op=$2 mode=$3 mib=$4 out server copy
	if [ "$op" = write ]; then
		fresh "$mib"
		copy='nbdcopy --flush in.bin "$uri"'
		prepare "$mode" in.bin
	else
		copy='nbdcopy "$uri" null:'
		prepare "$mode" m.bin d.bin
	fi
	case $name.$op in
	file.write) server="file file=f.bin" ;;
	file.read) server="-r file file=d.bin" ;;
	dmmeta.write) server="$PLUGIN metadata=m.bin data=d.bin dev=0 size=${mib}M rw=true" ;;
	dmmeta.read) server="$PLUGIN metadata=m.bin data=d.bin dev=0 size=${mib}M" ;;
	esac
	# shellcheck disable=SC2086
	out=$("$TIMEIT" -e nbdkit.err -- nbdkit -U - $server --run "$copy") ||
		die "timeit failed for $name $op"
	[ "$(echo "$out" | awk '{print $4}')" = 0 ] || die "$name $op failed ($out): $(tail -1 nbdkit.err)"
	echo "$out" | awk '{print $1, $2}'
}

# pair OP MODE MIB: "file-wall file-cpu dm-wall dm-cpu", the medians of RUNS runs of each
# plugin, interleaved (file, dmmeta, file, ...; one pair discarded first) so that the load of
# a shared machine falls on both alike; the last run is dmmeta's, so the read rows read the
# volume the plugin wrote
pair() {
	local i f d l fw= fc= dw= dc=
	for i in $(seq 0 "$RUNS"); do
		f=$(run file "$@") && d=$(run dmmeta "$@") || exit 1
		if [ "$i" = 0 ] && [ "$1" = write ]; then
			"$BIN/thin_check" -q m.bin || die "thin_check rejects the pool the plugin left"
			"$BIN/thin_export" -q --metadata-dev m.bin --data-dev d.bin --dev-id 0 \
				--size $(($3 * 2048)) -o - | cmp -s - in.bin ||
				die "the volume the plugin wrote is not the input"
		fi
		[ "$i" = 0 ] && continue
		fw="$fw ${f% *}" fc="$fc ${f#* }" dw="$dw ${d% *}" dc="$dc ${d#* }"
	done
	for l in "$fw" "$fc" "$dw" "$dc"; do
		echo "$l" | tr ' ' '\n' | grep . | median
	done | tr '\n' ' '
}

mibs() { [ "$1" = - ] && { echo -; return; }; awk -v m="$2" -v t="$1" 'BEGIN { printf "%.0f", m * 1000 / t }'; }
ratio() { [ "$1" = - ] && { echo -; return; }; awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

for mib in $SIZES; do
	case $mib in '' | *[!0-9]* | 0) die "bad size '$mib' in NBDKIT_SIZES" ;; esac
	if [ "$(stat -c %s in.bin 2>/dev/null)" != $((mib * 1048576)) ]; then
		log "generating a $mib MiB input"
		head -c $((mib * 1048576)) /dev/urandom >in.bin || die "cannot write the input"
	fi
	echo "nbdcopy through nbdkit, $mib MiB volume ($BLOCK-sector blocks): median wall ms of $RUNS runs (MiB/s)"
	printf '%-14s %16s %16s\n' row cold warm
	for op in write read; do
		for mode in cold warm; do
			eval "file_$mode=- dm_$mode=- filecpu_$mode=- dmcpu_$mode=-"
			[ $mode = cold ] && [ $can_drop = 0 ] && continue
			# the read rows read what the last write rows left: write first, same mode
			set -- $(pair $op $mode "$mib") || die "$op $mode: a run failed"
			[ $# = 4 ] || die "$op $mode: a run failed"
			eval "file_$mode=$1 filecpu_$mode=$2 dm_$mode=$3 dmcpu_$mode=$4"
		done
		for n in file dm; do
			eval "c=\$${n}_cold w=\$${n}_warm"
			printf '%-14s %16s %16s\n' "$op $n" "$c ($(mibs "$c" "$mib"))" "$w ($(mibs "$w" "$mib"))"
		done
		printf '%-14s %16s %16s\n' "$op file/dm" "$(ratio "$file_cold" "$dm_cold")" \
			"$(ratio "$file_warm" "$dm_warm")"
		printf '%-14s %16s %16s\n' "  CPU ms file" "$filecpu_cold" "$filecpu_warm" \
			"  CPU ms dm" "$dmcpu_cold" "$dmcpu_warm"
	done
	echo
done
[ $can_drop = 1 ] || log "not root: no cold rows"
rm -f m.bin d.bin f.bin nbdkit.err

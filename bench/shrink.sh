#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# bench/shrink.sh — thin_shrink of a 1M-block pool, ours against thin-provisioning-tools 1.1,
# XML and --binary: wall time and peak memory (issue 13: "shrink of a 1M-block pool").
#
# The pool: gen_thin_xml, 2 origins and 4 snapshots of device 0 rewriting 10 % each round,
# 25 % fragmented allocations, about 1M data blocks in use (SHRINK_MAPPINGS 420000) (64 KiB blocks), restored with
# thin_restore for the --binary rows.  Rows (median of RUNS runs after one discarded; warm:
# the files' pages cached; cold: dropped before each run, when root):
#   xml-tight     -i pool.xml --nr-blocks USED --no-copy: the tightest shrink, every used block
#                 above USED moves (the metadata work only: the moves would copy GBs)
#   bin-tight     the same with --binary (output: a scratch metadata file)
#   xml-copy      -i pool.xml --nr-blocks (the highest used block + 1 - COPY_BLOCKS), with the
#                 data copy on a sparse data image (COPY_BLOCKS default 2000 blocks = 125 MiB,
#                 the holes read as zeros and written as data)
# Printed: one line per row and implementation, "ROW IMPL MODE wall_ms peak_rss_kib", and a
# comparison line per row (ours / 1.1 wall).
#
# Environment: BUILDDIR (default build), DMMETA_SHRINK_DIR (scratch, default
# /var/tmp/dmmeta-shrink), SHRINK_MAPPINGS (default 420000 per origin device: about 1M used blocks), COPY_BLOCKS,
# SHRINK_RUNS (default 3), SHRINK_MODES (default "warm cold").
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh" shrink
CACHE=${DMMETA_SHRINK_DIR:-/var/tmp/dmmeta-shrink}
MAPPINGS=${SHRINK_MAPPINGS:-420000}
COPY_BLOCKS=${COPY_BLOCKS:-2000}
RUNS=${SHRINK_RUNS:-3}
MODES=${SHRINK_MODES:-warm cold}
need_built "$BIN" thin_shrink thin_restore
need_built "$TT" gen_thin_xml
timeit_build
mkdir -p "$CACHE" || die "cannot create $CACHE"
cd "$CACHE" || die "cannot enter $CACHE"
bench_refs

drop_caches() {
	sync
	[ "$(id -u)" = 0 ] && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	return 0
}

# row NAME MODE CMD...: "median_wall_ms max_peak_rss_kib" of RUNS runs (one discarded first)
row() {
	local name=$1 mode=$2 i out walls= rss=0 r
	shift 2
	for i in $(seq 0 "$RUNS"); do
		[ "$mode" = cold ] && drop_caches
		out=$("$TIMEIT" -e err.txt -- "$@") || die "timeit failed for $name"
		[ "$(echo "$out" | awk '{print $4}')" = 0 ] || die "$name: the command failed ($out): $(head -n 2 err.txt)"
		r=$(echo "$out" | awk '{print $3}')
		[ "$r" -gt "$rss" ] && rss=$r
		[ "$i" = 0 ] || walls="$walls $(echo "$out" | awk '{print $1}')"
	done
	echo "$(echo "$walls" | tr ' ' '\n' | grep . | median) $rss"
}

key="m$MAPPINGS"
if [ ! -f "pool-$key.bin" ]; then
	log "generating the pool ($MAPPINGS mappings per origin)"
	"$TT/gen_thin_xml" --devices 2 --mappings "$MAPPINGS" --snapshots 4 --change 10 --fragment 25 \
		--seed 13 --format shared >"pool-$key.xml" || die "gen_thin_xml failed"
	truncate -s 1G "pool-$key.tmp" && "$BIN/thin_restore" -i "pool-$key.xml" -o "pool-$key.tmp" &&
		mv "pool-$key.tmp" "pool-$key.bin" || die "thin_restore failed"
fi
nr=$(sed -n '1s/.*nr_data_blocks="\([0-9]*\)".*/\1/p' "pool-$key.xml")
used=$("$BIN/thin_shrink" -i "pool-$key.xml" -o /dev/null --data x --no-copy --nr-blocks 1 2>&1 |
	sed -n 's/.*(\([0-9]*\) of the pool.*/\1/p')
[ -n "$used" ] || die "cannot learn the pool's used blocks"
top=$(perl -ne 'if (/data_begin="(\d+)" length="(\d+)"/) { $m = $1 + $2 if $1 + $2 > $m }
	elsif (/data_block="(\d+)"/) { $m = $1 + 1 if $1 + 1 > $m } END { print $m + 0, "\n" }' "pool-$key.xml")
log "pool: $nr data blocks, $used used, highest used end $top"
rm -f data.img && truncate -s $((nr * 65536)) data.img
truncate -s 1G out.bin

copy_num=$((top - COPY_BLOCKS))
for mode in $MODES; do
	[ "$mode" = cold ] && { [ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/drop_caches ] || { log "not root: no cold rows"; continue; }; }
	for impl in ours 1.1; do
		if [ "$impl" = ours ]; then
			T=("$BIN/thin_shrink")
		else
			[ -n "$R11" ] || continue
			T=("$R11" thin_shrink)
		fi
		echo "xml-tight $impl $mode $(row xml-tight "$mode" "${T[@]}" -i "pool-$key.xml" -o out.xml --data data.img --nr-blocks "$used" --no-copy)"
		echo "bin-tight $impl $mode $(row bin-tight "$mode" "${T[@]}" --binary -i "pool-$key.bin" -o out.bin --data data.img --nr-blocks "$used" --no-copy)"
		echo "xml-copy $impl $mode $(row xml-copy "$mode" "${T[@]}" -i "pool-$key.xml" -o out.xml --data data.img --nr-blocks "$copy_num")"
	done
done | tee rows.txt
awk '{ k = $1 " " $3; w[k, $2] = $4 } END { for (x in w) { split(x, p, SUBSEP); if (p[2] == "ours" && (p[1], "1.1") in w) printf "%s: ours/1.1 wall = %.2f\n", p[1], w[p[1], "ours"] / w[p[1], "1.1"] } }' rows.txt | sort

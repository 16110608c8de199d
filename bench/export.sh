#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# bench/export.sh — thin_export against a sequential read of the same bytes, and the cost of
# --since against the size of the change and of the volume (issue 13: "thin_export of a full
# volume at >= 80 % of a sequential read; --since cost grows with the changes, not the volume
# size").
#
# Full export: a pool whose volume (dev 0) maps every block of a data image of FULL_MIB MiB
# (random bytes), in runs of 16 blocks laid out in a shuffled order on the data device (so
# the export reads runs, not one sequential sweep).  Rows, cold (page cache dropped before
# each run, when root) and warm:
#   dd           dd if=DATA of=/dev/null bs=8M                  the sequential read
#   export-raw   thin_export ... --dev-id 0 -o /dev/null         the raw view
#   export-st    thin_export ... --format stream -o /dev/null    the full stream
#   export-seq   thin_export ... --dev-id 1 -o /dev/null         device 1 maps the same
#                                               bytes in data-device order (one run)
# and the ratio dd/export (>= 0.80 is the goal).
#
# --since: pools of SINCE_SIZES blocks (64 KiB) where device 1 shares all of its leaves with
# device 0 (XML <def>/<ref>) except in the changed part, whose blocks map new data blocks:
# 1 % and 10 % of the volume, and a fixed 1000 blocks.  Timed: thin_export --since 0 --dev-id 1
# -o /dev/null (the data image is sparse: the changed blocks read as zeros from the file's
# holes, so the figure is the metadata walk plus the stream's writing).  The fixed-1000 rows
# at every volume size show that the cost does not follow the volume.
#
# Environment: BUILDDIR (default build), DMMETA_EXPORT_DIR (scratch, default
# /var/tmp/dmmeta-export), FULL_MIB (default 1024), SINCE_SIZES (default "100000 1000000"),
# EXPORT_RUNS (default 3, after one discarded run).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh" export
CACHE=${DMMETA_EXPORT_DIR:-/var/tmp/dmmeta-export}
FULL_MIB=${FULL_MIB:-1024}
SINCE_SIZES=${SINCE_SIZES:-100000 1000000}
RUNS=${EXPORT_RUNS:-3}
need_built "$BIN" thin_export thin_restore thin_check
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

# row NAME MODE(cold|warm) CMD...: median wall ms of RUNS runs (one discarded first)
row() {
	local name=$1 mode=$2 i out walls=
	shift 2
	for i in $(seq 0 "$RUNS"); do
		[ "$mode" = cold ] && drop_caches
		out=$("$TIMEIT" -e /dev/null -- "$@") || die "timeit failed for $name"
		[ "$(echo "$out" | awk '{print $4}')" = 0 ] || die "$name: the command failed ($out)"
		[ "$i" = 0 ] || walls="$walls $(echo "$out" | awk '{print $1}')"
	done
	echo "$walls" | tr ' ' '\n' | grep . | median
}

# ---- full export ----
bs=65536
nblk=$((FULL_MIB * 16))
if [ ! -f full.bin ] || [ ! -f full-data.bin ] || ! grep -q 'dev_id="1"' full.xml 2>/dev/null || [ "$(stat -c %s full-data.bin)" != $((nblk * bs)) ]; then
	log "generating the full-export pool ($FULL_MIB MiB)"
	head -c $((nblk * bs)) /dev/urandom >full-data.bin
	awk -v n="$nblk" 'BEGIN {
		srand(5); runs = n / 16
		for (i = 0; i < runs; i++) p[i] = i
		for (i = runs - 1; i > 0; i--) { j = int(rand() * (i + 1)); t = p[i]; p[i] = p[j]; p[j] = t }
		printf "<superblock uuid=\"\" time=\"0\" transaction=\"1\" flags=\"0\" version=\"2\" data_block_size=\"128\" nr_data_blocks=\"%d\">\n", n
		printf "  <device dev_id=\"0\" mapped_blocks=\"%d\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n", n
		for (i = 0; i < runs; i++)
			printf "    <range_mapping origin_begin=\"%d\" data_begin=\"%d\" length=\"16\" time=\"0\"/>\n", i * 16, p[i] * 16
		print "  </device>"
		printf "  <device dev_id=\"1\" mapped_blocks=\"%d\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n", n
		printf "    <range_mapping origin_begin=\"0\" data_begin=\"0\" length=\"%d\" time=\"0\"/>\n", n
		print "  </device>\n</superblock>" }' >full.xml
	rm -f full.bin
	truncate -s $((4096 * (nblk / 64 + 256))) full.bin
	"$BIN/thin_restore" -q -i full.xml -o full.bin || die "thin_restore of full.xml failed"
fi
EX="--metadata-dev full.bin --data-dev full-data.bin --dev-id 0 -q -o /dev/null"
EX1="--metadata-dev full.bin --data-dev full-data.bin --dev-id 1 -q -o /dev/null"
echo "full export of $FULL_MIB MiB (runs of 16 blocks, shuffled), median wall ms of $RUNS runs"
printf '%-12s %10s %10s\n' row cold warm
for mode in cold warm; do
	[ $mode = cold ] && [ $can_drop = 0 ] && continue
	dd_ms=$(row dd $mode dd if=full-data.bin of=/dev/null bs=8M)
	raw_ms=$(row export-raw $mode "$BIN/thin_export" $EX)
	st_ms=$(row export-st $mode "$BIN/thin_export" $EX --format stream)
	seq_ms=$(row export-seq $mode "$BIN/thin_export" $EX1)
	eval "dd_$mode=$dd_ms raw_$mode=$raw_ms st_$mode=$st_ms seq_$mode=$seq_ms"
done
[ $can_drop = 1 ] || { dd_cold=- raw_cold=- st_cold=- seq_cold=-; log "not root: no cold rows"; }
printf '%-12s %10s %10s\n' dd "$dd_cold" "$dd_warm" export-raw "$raw_cold" "$raw_warm" \
	export-st "$st_cold" "$st_warm" export-seq "$seq_cold" "$seq_warm"
ratio() { [ "$1" = - ] && { echo -; return; }; awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '%-12s %10s %10s\n' "dd/raw" "$(ratio "$dd_cold" "$raw_cold")" "$(ratio "$dd_warm" "$raw_warm")" \
	"dd/stream" "$(ratio "$dd_cold" "$st_cold")" "$(ratio "$dd_warm" "$st_warm")" \
	"dd/seq" "$(ratio "$dd_cold" "$seq_cold")" "$(ratio "$dd_warm" "$seq_warm")"

# ---- --since ----
# since.xml for SIZE blocks and CHANGED changed blocks (at the start of a leaf-aligned part)
gen_since() {
	awk -v n="$1" -v c="$2" 'BEGIN {
		leaf = 120; nl = int((n + leaf - 1) / leaf); cl = int((c + leaf - 1) / leaf)
		printf "<superblock uuid=\"\" time=\"1\" transaction=\"2\" flags=\"0\" version=\"2\" data_block_size=\"128\" nr_data_blocks=\"%d\">\n", n + cl * leaf
		for (l = 0; l < nl; l++) {
			printf "  <def name=\"l%d\">\n", l
			len = (l + 1) * leaf <= n ? leaf : n - l * leaf
			printf "    <range_mapping origin_begin=\"%d\" data_begin=\"%d\" length=\"%d\" time=\"0\"/>\n", l * leaf, l * leaf, len
			print "  </def>"
		}
		printf "  <device dev_id=\"0\" mapped_blocks=\"%d\" transaction=\"1\" creation_time=\"0\" snap_time=\"1\">\n", n
		for (l = 0; l < nl; l++) printf "    <ref name=\"l%d\"/>\n", l
		print "  </device>"
		printf "  <device dev_id=\"1\" mapped_blocks=\"%d\" transaction=\"2\" creation_time=\"1\" snap_time=\"1\">\n", n
		# the changed leaves: spread over the volume (every nl/cl-th leaf)
		step = cl ? int(nl / cl) : nl + 1; if (step < 1) step = 1
		k = 0
		for (l = 0; l < nl; l++) {
			if (k < cl && l % step == 0) {
				len = (l + 1) * leaf <= n ? leaf : n - l * leaf
				printf "    <range_mapping origin_begin=\"%d\" data_begin=\"%d\" length=\"%d\" time=\"1\"/>\n", l * leaf, n + k * leaf, len
				k++
			} else printf "    <ref name=\"l%d\"/>\n", l
		}
		print "  </device>\n</superblock>" }'
}
echo
echo "--since 0 of device 1 (median wall ms of $RUNS runs, warm metadata; changed blocks read from holes)"
printf '%-10s %-10s %10s %10s\n' volume changed blocks ms
for size in $SINCE_SIZES; do
	for ch in fixed 1% 10%; do
		case $ch in fixed) c=1000 ;; 1%) c=$((size / 100)) ;; 10%) c=$((size / 10)) ;; esac
		f=since-$size-$c
		if [ ! -f $f.bin ]; then
			gen_since "$size" "$c" >$f.xml
			truncate -s $((4096 * (size / 50 + 1024))) $f.bin
			"$BIN/thin_restore" -q -i $f.xml -o $f.bin || die "thin_restore of $f.xml failed"
			rm -f $f.xml
		fi
		rm -f sparse-data.bin
		truncate -s $(((size + c + 240) * bs)) sparse-data.bin
		ms=$(row since-$size-$ch warm "$BIN/thin_export" --metadata-dev $f.bin --data-dev sparse-data.bin \
			--dev-id 1 --since 0 --size $((size * 128)) -q -o /dev/null)
		printf '%-10s %-10s %10s %10s\n' "$size" "$ch" "$c" "$ms"
	done
done

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# bench/trim.sh — thin_trim and thin_migrate (issue 13).
#
# thin_trim: pools of TRIM_SIZES data blocks (64 KiB) in which the volume maps runs of 16
# blocks with 16 free between them (half the pool used, one discard per free run); the data
# image is a sparse file, so the figure is the space-map read plus one fallocate per range.
# Rows: blocks, ranges, median wall ms (warm).
#
# thin_migrate: a volume mapping every block of a data image of MIGRATE_MIB MiB (random
# bytes) in runs of 16 blocks shuffled over the data device, copied offline to a file
# (--dest-file on the same file system), against dd of the data image to a file with bs=8M
# (a plain sequential copy of the same bytes).  Cold (page cache dropped before each run,
# when root) and warm; the ratio dd/migrate (1.00 = as fast as the plain copy).
#
# Environment: BUILDDIR (default build), DMMETA_TRIM_DIR (scratch, default
# /var/tmp/dmmeta-trim), TRIM_SIZES (default "100000 1000000"), MIGRATE_MIB (default 1024),
# TRIM_RUNS (default 3, after one discarded run).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh" trim
CACHE=${DMMETA_TRIM_DIR:-/var/tmp/dmmeta-trim}
TRIM_SIZES=${TRIM_SIZES:-100000 1000000}
MIGRATE_MIB=${MIGRATE_MIB:-1024}
RUNS=${TRIM_RUNS:-3}
need_built "$BIN" thin_trim thin_migrate thin_restore
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

# ---- thin_trim ----
echo "thin_trim: half the pool used in runs of 16, sparse data image; median wall ms of $RUNS runs (warm)"
printf '%-10s %10s %10s\n' blocks ranges trim-ms
for n in $TRIM_SIZES; do
	if [ ! -f trim-$n.bin ]; then
		log "generating a pool of $n blocks"
		awk -v n="$n" 'BEGIN {
			printf "<superblock uuid=\"\" time=\"0\" transaction=\"1\" flags=\"0\" version=\"2\" data_block_size=\"128\" nr_data_blocks=\"%d\">\n", n
			printf "  <device dev_id=\"0\" mapped_blocks=\"%d\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n", int(n / 32) * 16
			for (i = 0; i + 32 <= n; i += 32)
				printf "    <range_mapping origin_begin=\"%d\" data_begin=\"%d\" length=\"16\" time=\"0\"/>\n", i / 2, i
			print "  </device>\n</superblock>" }' >trim-$n.xml
		truncate -s $((4096 * (n / 64 + 256))) trim-$n.bin
		"$BIN/thin_restore" -q -i trim-$n.xml -o trim-$n.bin || die "thin_restore of trim-$n.xml failed"
		rm -f trim-$n.xml
	fi
	rm -f trim-$n-data.bin
	truncate -s $((n * 65536)) trim-$n-data.bin
	ranges=$("$BIN/thin_trim" --metadata-dev trim-$n.bin --data-dev trim-$n-data.bin |
		sed -n 's/.*(\([0-9]*\) range.*/\1/p')
	ms=$(row trim-$n warm "$BIN/thin_trim" -q --metadata-dev trim-$n.bin --data-dev trim-$n-data.bin)
	printf '%-10s %10s %10s\n' "$n" "$ranges" "$ms"
done

# ---- thin_migrate ----
bs=65536
nblk=$((MIGRATE_MIB * 16))
if [ ! -f mig.bin ] || [ ! -f mig-data.bin ] || [ "$(stat -c %s mig-data.bin)" != $((nblk * bs)) ]; then
	log "generating the migrate pool ($MIGRATE_MIB MiB)"
	head -c $((nblk * bs)) /dev/urandom >mig-data.bin
	awk -v n="$nblk" 'BEGIN {
		srand(5); runs = n / 16
		for (i = 0; i < runs; i++) p[i] = i
		for (i = runs - 1; i > 0; i--) { j = int(rand() * (i + 1)); t = p[i]; p[i] = p[j]; p[j] = t }
		printf "<superblock uuid=\"\" time=\"0\" transaction=\"1\" flags=\"0\" version=\"2\" data_block_size=\"128\" nr_data_blocks=\"%d\">\n", n
		printf "  <device dev_id=\"0\" mapped_blocks=\"%d\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n", n
		for (i = 0; i < runs; i++)
			printf "    <range_mapping origin_begin=\"%d\" data_begin=\"%d\" length=\"16\" time=\"0\"/>\n", i * 16, p[i] * 16
		print "  </device>\n</superblock>" }' >mig.xml
	rm -f mig.bin
	truncate -s $((4096 * (nblk / 64 + 256))) mig.bin
	"$BIN/thin_restore" -q -i mig.xml -o mig.bin || die "thin_restore of mig.xml failed"
	rm -f mig.xml
fi
MG="-q --metadata-dev mig.bin --data-dev mig-data.bin --dev-id 0 --dest-file mig-out.bin"
echo "thin_migrate of $MIGRATE_MIB MiB (runs of 16 blocks, shuffled) to a file, median wall ms of $RUNS runs"
printf '%-12s %10s %10s\n' row cold warm
for mode in cold warm; do
	[ $mode = cold ] && [ $can_drop = 0 ] && continue
	dd_ms=$(row dd $mode dd if=mig-data.bin of=mig-out.bin bs=8M conv=fdatasync status=none)
	mg_ms=$(row migrate $mode "$BIN/thin_migrate" $MG)
	eval "dd_$mode=$dd_ms mg_$mode=$mg_ms"
done
[ $can_drop = 1 ] || { dd_cold=- mg_cold=-; log "not root: no cold rows"; }
ratio() { [ "$1" = - ] && { echo -; return; }; awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '%-12s %10s %10s\n' dd "$dd_cold" "$dd_warm" migrate "$mg_cold" "$mg_warm" \
	dd/migrate "$(ratio "$dd_cold" "$mg_cold")" "$(ratio "$dd_warm" "$mg_warm")"
rm -f mig-out.bin

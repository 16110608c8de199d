#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# bench/snap_merge.sh — snap_merge throughput against a plain copy of the changed chunks
# (issue 4: target >= 90 %).  For each pattern, a COW of CHUNKS 4-KiB chunks over a 4x larger
# origin is written by snap_restore; then, alternating, snap_merge on a fresh copy of the pair
# and bench/copychunks (the same chunk copies in the same order, one flush at the end) on
# another.  Prints median seconds, MiB/s and the ratio copy time / merge time.
# Patterns: sequential (consecutive old chunks: big kernel batches) and fragmented (random
# old chunks: one-chunk batches, the worst case for the kernel's flush-per-batch order).
# Environment: BUILDDIR (our build), DMMETA_BENCH_DIR (scratch), SNAP_BENCH_CHUNKS (default
# 16384 = 64 MiB), BENCH_RUNS (default 3).
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILDDIR=${BUILDDIR:-$SRC/build}
case $BUILDDIR in /*) ;; *) BUILDDIR=$SRC/$BUILDDIR ;; esac
BIN=$BUILDDIR/bin
DIR=${DMMETA_BENCH_DIR:-/var/tmp/dmmeta-bench}/snap
CHUNKS=${SNAP_BENCH_CHUNKS:-16384}
RUNS=${BENCH_RUNS:-3}
CS=8
[ -x "$BIN/snap_merge" ] || { echo "snap_merge bench: $BIN/snap_merge not built" >&2; exit 1; }
mkdir -p "$DIR"
CC=${CC:-cc}
"$CC" -O2 -o "$DIR/copychunks" "$SRC/bench/copychunks.c"

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

make_pair() { # pattern
	e=$((CS * 512 / 16))
	awk -v n="$CHUNKS" -v e="$e" -v pat="$1" 'BEGIN {
		srand(7); for (i = 0; i < 4 * n; i++) p[i] = i
		if (pat == "fragmented") for (i = 4 * n - 1; i > 0; i--) { j = int(rand() * (i + 1)); t = p[i]; p[i] = p[j]; p[j] = t }
		print "<snapshot_store magic=\"0x70416e53\" valid=\"1\" version=\"1\" chunk_size=\"8\">"
		for (i = 0; i < n; i++) printf "  <exception old_chunk=\"%d\" new_chunk=\"%d\"/>\n", p[i], 2 + i + int(i / e)
		print "</snapshot_store>" }' > "$DIR/$1.xml"
	cow_chunks=$((CHUNKS + CHUNKS / e + 4))
	head -c $((cow_chunks * CS * 512)) /dev/urandom > "$DIR/$1.cow"
	"$BIN/snap_restore" -q --force -i "$DIR/$1.xml" -o "$DIR/$1.cow"
	head -c $((4 * CHUNKS * CS * 512)) /dev/urandom > "$DIR/$1.origin"
	# the copy list in merge order (newest first) is enough: the baseline copies each once
	awk -F'"' '/<exception/ {print $2, $4}' "$DIR/$1.xml" | tac > "$DIR/$1.list"
}

printf '%-11s %9s %9s %10s %10s %7s\n' pattern merge_s copy_s merge_MiBs copy_MiBs ratio
for pat in sequential fragmented; do
	make_pair $pat
	: > "$DIR/m.t"
	: > "$DIR/c.t"
	i=0
	while [ $i -lt "$RUNS" ]; do
		cp "$DIR/$pat.cow" "$DIR/w.cow"
		cp "$DIR/$pat.origin" "$DIR/w.origin"
		sync
		t0=$(now)
		"$BIN/snap_merge" -q --origin "$DIR/w.origin" "$DIR/w.cow"
		t1=$(now)
		calc "$t1 - $t0" >> "$DIR/m.t"; echo >> "$DIR/m.t"
		cp "$DIR/$pat.origin" "$DIR/w.origin"
		sync
		t0=$(now)
		"$DIR/copychunks" "$DIR/$pat.cow" "$DIR/w.origin" $CS < "$DIR/$pat.list"
		t1=$(now)
		calc "$t1 - $t0" >> "$DIR/c.t"; echo >> "$DIR/c.t"
		i=$((i + 1))
	done
	m=$(median < "$DIR/m.t")
	c=$(median < "$DIR/c.t")
	mib=$(calc "$CHUNKS * $CS * 512 / 1048576")
	printf '%-11s %9.3f %9.3f %10.1f %10.1f %6.0f%%\n' $pat "$m" "$c" \
		"$(calc "$mib / $m")" "$(calc "$mib / $c")" "$(calc "100 * $c / $m")"
done
rm -f "$DIR/w.cow" "$DIR/w.origin"
echo "target: merge throughput >= 90% of the plain copy (ratio column)"

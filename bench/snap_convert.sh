#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# bench/snap_convert.sh — snap_convert against a plain copy of the COW (dd bs=1M conv=fsync:
# the data that must move anyway, made durable as the conversion makes it).  A classic COW of CHUNKS 4-KiB chunks of random data (snap_restore's
# layout) is converted to a mikulas store, and that store's snapshot 0 back to a classic
# store; each is timed against that copy, median of RUNS.  Patterns: sequential
# (origin chunks in COW order) and fragmented (origin chunks shuffled: the conversion to
# shared reads the COW in origin-chunk order, so at random).
# Environment: BUILDDIR, DMMETA_BENCH_DIR (scratch), CONVERT_BENCH_CHUNKS (default 65536 =
# 256 MiB), BENCH_RUNS (default 3).
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILDDIR=${BUILDDIR:-$SRC/build}
case $BUILDDIR in /*) ;; *) BUILDDIR=$SRC/$BUILDDIR ;; esac
BIN=$BUILDDIR/bin
DIR=${DMMETA_BENCH_DIR:-/var/tmp/dmmeta-bench}/convert
CHUNKS=${CONVERT_BENCH_CHUNKS:-65536}
RUNS=${BENCH_RUNS:-3}
[ -x "$BIN/snap_convert" ] || { echo "snap_convert bench: $BIN/snap_convert not built" >&2; exit 1; }
mkdir -p "$DIR"

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
# timed FILE CMD...: append the seconds CMD takes to FILE
timed() {
	f=$1
	shift
	sync
	t0=$(now)
	"$@"
	t1=$(now)
	calc "$t1 - $t0" >>"$f"
	echo >>"$f"
}

printf '%-11s %8s %11s %11s %7s %13s\n' pattern copy_s to_shared_s to_classic_s MiB shared/copy
for pat in sequential fragmented; do
	awk -v n="$CHUNKS" -v pat="$pat" 'BEGIN {
		srand(11); for (i = 0; i < n; i++) p[i] = i
		if (pat == "fragmented") for (i = n - 1; i > 0; i--) { j = int(rand() * (i + 1)); t = p[i]; p[i] = p[j]; p[j] = t }
		print "<snapshot_store magic=\"0x70416e53\" valid=\"1\" version=\"1\" chunk_size=\"8\">"
		for (i = 0; i < n; i++) printf "  <exception old_chunk=\"%d\" new_chunk=\"%d\"/>\n", p[i], 2 + i + int(i / 256)
		print "</snapshot_store>" }' >"$DIR/$pat.xml"
	cow_chunks=$((CHUNKS + CHUNKS / 256 + 4))
	head -c $((cow_chunks * 4096)) /dev/urandom >"$DIR/$pat.cow"
	"$BIN/snap_restore" -q --force -i "$DIR/$pat.xml" -o "$DIR/$pat.cow"
	: >"$DIR/cp.t"
	: >"$DIR/s.t"
	: >"$DIR/c.t"
	i=0
	while [ $i -lt "$RUNS" ]; do
		rm -f "$DIR/w.cp" "$DIR/w.ms" "$DIR/w.back"
		timed "$DIR/cp.t" dd if="$DIR/$pat.cow" of="$DIR/w.cp" bs=1M conv=fsync status=none
		truncate -s $((cow_chunks * 4096 + 64 * 1048576)) "$DIR/w.ms"
		timed "$DIR/s.t" "$BIN/snap_convert" -q --cow "$DIR/$pat.cow" -o "$DIR/w.ms"
		truncate -s $((cow_chunks * 4096)) "$DIR/w.back"
		timed "$DIR/c.t" "$BIN/snap_convert" -q --cow "$DIR/w.ms" --snapshot 0 -o "$DIR/w.back"
		i=$((i + 1))
	done
	c=$(median <"$DIR/cp.t")
	s=$(median <"$DIR/s.t")
	b=$(median <"$DIR/c.t")
	printf '%-11s %8.3f %11.3f %11.3f %7d %13.2f\n' "$pat" "$c" "$s" "$b" $((CHUNKS / 256)) \
		"$(calc "$s / $c")"
done
rm -f "$DIR"/w.* "$DIR"/*.cow "$DIR"/*.xml

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# bench/multisnap-engine.sh — the cost of an origin write through a shared (mikulas) store
# as the number of snapshots grows, next to the classic target's (one COW per snapshot,
# one copy per snapshot).  Issue 15's goal: the shared store's cost per chunk flat within
# 2x from 1 snapshot to 10 000 (and 1 000 000).
#
# Each row is one snap_write of N chunks (4 KiB chunks) at offset 0 of an origin of N
# chunks, onto a fresh copy of a store whose snapshots have no exception yet (every chunk
# is copied):
#   shared-S      one mikulas store holding S snapshots (made by snap_restore from XML)
#   classic-K     K classic persistent COWs (snap_write --cow x K)
# Columns: wall seconds of the run (median of ENG_RUNS), wall per chunk (us), and the
# marginal cost per chunk (us): (wall(N) - wall(1 chunk)) / (N - 1), which leaves out what a
# run pays once (opening, the shared store's check, reading the snapshot list).
#
# Environment:
#   BUILDDIR        our build directory (default: build)
#   ENG_DIR         scratch directory (default /var/tmp/dmmeta-msengine)
#   ENG_CHUNKS      N (default 1024)
#   ENG_SNAPS       shared rows (default "1 64 10000 1000000")
#   ENG_COWS        classic rows (default "1 64")
#   ENG_RUNS        runs per row (default 3)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh" multisnap-engine
DIR=${ENG_DIR:-/var/tmp/dmmeta-msengine}
N=${ENG_CHUNKS:-1024}
SNAPS=${ENG_SNAPS:-1 64 10000 1000000}
COWS=${ENG_COWS:-1 64}
RUNS=${ENG_RUNS:-3}
case $N in '' | *[!0-9]* | 0 | 1) die "ENG_CHUNKS must be an integer above 1" ;; esac
case $RUNS in '' | *[!0-9]* | 0) die "ENG_RUNS must be a positive integer" ;; esac
need_built "$BIN" snap_restore snap_write snap_message
mkdir -p "$DIR" || die "cannot create $DIR (set ENG_DIR)"

yes 'dmmeta engine bench origin' | head -c $((N * 4096)) >"$DIR/origin.tmpl"
yes 'new data' | head -c $((N * 4096)) >"$DIR/in.bin"
head -c 4096 "$DIR/in.bin" >"$DIR/in1.bin"

now() { date +%s.%N; }

# shared_store S: $DIR/shared-S-N.bin, S snapshots and no exception, room for N chunks
# (made once)
shared_store() {
	local s=$1 p=$DIR/shared-$1-$N.bin
	[ -f "$p" ] && return 0
	# the snapshot tree: 168 entries a leaf at most, a third full at least after inserts;
	# room for it twice over, the exceptions of N chunks x 2 and the rule's 256 blocks
	local m=$((s / 40 + 2 * N / 40 + 1024)) d=$((N * 3 + 64))
	awk -v s="$s" -v m="$m" -v d="$d" 'BEGIN {
		printf "<multisnap_store type=\"mikulas\" version=\"1\" chunk_size=\"8\" " \
			"metadata_blocks=\"%d\" data_chunks=\"%d\" next_snapshot=\"%d\" " \
			"transaction=\"2\" flags=\"\">\n", m, d, s
		for (i = 0; i < s; i++)
			printf "  <snapshot id=\"%d\" next_sub=\"0\" created=\"2\"/>\n", i
		print "</multisnap_store>"
	}' >"$DIR/shared-$s.xml"
	rm -f "$p.tmp"
	truncate -s $(((m + d) * 4096)) "$p.tmp"
	"$BIN/snap_restore" -q -i "$DIR/shared-$s.xml" -o "$p.tmp" || die "snap_restore of $s snapshots failed"
	rm -f "$DIR/shared-$s.xml"
	mv "$p.tmp" "$p"
}

# classic_store: $DIR/classic-N.bin, an empty P store with room for N chunks
classic_store() {
	[ -f "$DIR/classic-$N.bin" ] && return 0
	printf '<snapshot_store magic="0x70416e53" valid="1" version="1" chunk_size="8">\n</snapshot_store>\n' \
		>"$DIR/empty.xml"
	truncate -s $(((N + N / 256 + 16) * 4096)) "$DIR/classic-$N.bin"
	"$BIN/snap_restore" -q -i "$DIR/empty.xml" -o "$DIR/classic-$N.bin" || die "snap_restore failed"
}

# run_one INPUT COW-ARGS...: wall seconds of one snap_write onto fresh copies
run_one() {
	local in=$1 t0 t1 a
	shift
	cp "$DIR/origin.tmpl" "$DIR/origin.bin"
	for a in "$@"; do
		case $a in
		--cow) ;;
		*) cp --sparse=always "$DIR/$(basename "$a" | sed 's/-run[0-9]*//')" "$a" ;;
		esac
	done
	sync
	t0=$(now)
	"$BIN/snap_write" -q --origin "$DIR/origin.bin" "$@" --target origin --offset 0 \
		--input "$in" || die "snap_write failed ($*)"
	t1=$(now)
	echo "$t1 - $t0" | bc -l
}

# row NAME COW-ARGS...
row() {
	local name=$1 i wn w1
	shift
	wn=$(for ((i = 0; i < RUNS; i++)); do run_one "$DIR/in.bin" "$@" || exit 1; done | median)
	w1=$(for ((i = 0; i < RUNS; i++)); do run_one "$DIR/in1.bin" "$@" || exit 1; done | median)
	[ -n "$wn" ] && [ -n "$w1" ] || die "$name: snap_write failed"
	printf '%-16s %10.3f %12.1f %12.1f\n' "$name" "$wn" "$(echo "$wn * 1000000 / $N" | bc -l)" \
		"$(echo "($wn - $w1) * 1000000 / ($N - 1)" | bc -l)"
}

printf '%-16s %10s %12s %12s   (N = %d chunks of 4 KiB, %d runs)\n' row wall_s us_per_chunk \
	marginal_us "$N" "$RUNS"
for s in $SNAPS; do
	log "shared store with $s snapshots"
	shared_store "$s"
	row "shared-$s" --cow "$DIR/shared-$s-$N.bin-run"
done
classic_store
for k in $COWS; do
	args=()
	for ((i = 0; i < k; i++)); do args+=(--cow "$DIR/classic-$N.bin-run$i"); done
	row "classic-$k" "${args[@]}"
done
rm -f "$DIR"/*-run* "$DIR/origin.bin"

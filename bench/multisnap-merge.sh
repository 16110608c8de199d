#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# bench/multisnap-merge.sh — snap_merge of one snapshot of a shared (mikulas) store next to
# a plain copy of the chunks it changed.  Issue 15's goal: the merge at >= 90% of the speed
# of a plain copy of the changed chunks.
#
# Setup (not timed): an origin of N chunks (4 KiB), a store holding snapshot 0 (and, for
# the row "others-1", snapshot 1, which still reads the origin), snapshot 0 written over
# all N chunks with snap_write.  Each run works on fresh copies (cp, then sync, not timed).
# Rows:
#   dd-N          dd of the N changed chunks into the origin (bs 4 MiB, conv=fsync): the
#                 plain copy
#   merge-0       snap_merge --snapshot 0 (default --batch), no other snapshot: N chunks read from the COW
#                 and written to the origin, commits, flushes, the store check, the delete
#   dd-2N         dd of 2N chunks (a copy of the old origin out, the new data in)
#   merge-1       the same with snapshot 1 reading the origin: N copies first
# Runs of a dd row and its merge row alternate.
# Columns: wall seconds (median of MRG_RUNS), MiB/s of changed data, and the merge's speed
# as a fraction of its dd row's (the goal: >= 0.90).
#
# Environment:
#   BUILDDIR   our build directory (default: build)
#   MRG_DIR    scratch directory (default /var/tmp/dmmeta-msmerge)
#   MRG_CHUNKS N (default 16384: 64 MiB)
#   MRG_RUNS   runs per row (default 3)
#   MRG_BATCH  --batch of snap_merge (default: the tool's default)
#   MRG_SPARSE 1: each run's store copy is sparse (the filesystem allocates the COW chunks
#              the merge's copies land on, as on a thin volume); default: the store file
#              is fully allocated, as a device is
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh" multisnap-merge
DIR=${MRG_DIR:-/var/tmp/dmmeta-msmerge}
N=${MRG_CHUNKS:-16384}
RUNS=${MRG_RUNS:-3}
case $N in '' | *[!0-9]* | 0) die "MRG_CHUNKS must be a positive integer" ;; esac
case $RUNS in '' | *[!0-9]* | 0) die "MRG_RUNS must be a positive integer" ;; esac
case ${MRG_BATCH:-1} in *[!0-9]* | 0) die "MRG_BATCH must be a positive integer" ;; esac
need_built "$BIN" snap_message snap_write snap_merge
mkdir -p "$DIR" || die "cannot create $DIR (set MRG_DIR)"
MIB=$(echo "$N * 4096 / 1048576" | bc -l)

now() { date +%s.%N; }

# setup K: $DIR/origin.tmpl and $DIR/store-K.tmpl, snapshot 0 written whole, K others
setup() {
	local k=$1 i
	yes 'dmmeta merge bench origin' | head -c $((N * 4096)) >"$DIR/origin.tmpl"
	yes 'snapshot data' | head -c $((N * 4096)) >"$DIR/in.bin"
	cp "$DIR/origin.tmpl" "$DIR/origin.bin"
	rm -f "$DIR/store-$k.tmpl"
	truncate -s $(((N * (k + 1) * 2 + 4096) * 4096)) "$DIR/store-$k.tmpl"
	"$BIN/snap_message" --type mikulas --chunk-size 8 "$DIR/store-$k.tmpl" create >/dev/null ||
		die "snap_message failed"
	for ((i = 0; i < k; i++)); do
		"$BIN/snap_message" "$DIR/store-$k.tmpl" create >/dev/null || die "snap_message failed"
	done
	"$BIN/snap_write" -q --origin "$DIR/origin.bin" --cow "$DIR/store-$k.tmpl" --target 0 \
		--offset 0 --input "$DIR/in.bin" || die "snap_write failed"
}

fresh() {
	cp "$DIR/origin.tmpl" "$DIR/origin.bin"
	if [ -n "${1:-}" ]; then
		if [ "${MRG_SPARSE:-0}" = 1 ]; then
			cp --sparse=always "$DIR/store-$1.tmpl" "$DIR/store.bin"
		else
			cp --sparse=never "$DIR/store-$1.tmpl" "$DIR/store.bin"
		fi
	fi
	sync
}

# run_merge K / run_dd FACTOR: wall seconds of one run
run_merge() {
	local t0 t1
	fresh "$1"
	t0=$(now)
	"$BIN/snap_merge" -q ${MRG_BATCH:+--batch "$MRG_BATCH"} --origin "$DIR/origin.bin" \
		--cow "$DIR/store.bin" --snapshot 0 ||
		die "snap_merge failed"
	t1=$(now)
	echo "$t1 - $t0" | bc -l
}

run_dd() {
	local t0 t1 f=$1
	fresh
	t0=$(now)
	for ((i = 0; i < f; i++)); do
		dd if="$DIR/in.bin" of="$DIR/origin.bin" bs=4M conv=notrunc,fsync status=none ||
			die "dd failed"
	done
	t1=$(now)
	echo "$t1 - $t0" | bc -l
}

row() {
	local name=$1 w=$2 ref=${3:-}
	printf '%-10s %9.3f %9.1f' "$name" "$w" "$(echo "$MIB / $w" | bc -l)"
	[ -z "$ref" ] || printf ' %9.2f' "$(echo "$ref / $w" | bc -l)"
	echo
}

printf '%-10s %9s %9s %9s   (N = %d chunks of 4 KiB, %d runs, %s store)\n' row wall_s MiB_s vs_dd \
	"$N" "$RUNS" "$([ "${MRG_SPARSE:-0}" = 1 ] && echo sparse || echo allocated)"
for k in 0 1; do
	log "setup: snapshot 0 over $N chunks, $k other"
	setup "$k"
	# interleaved (dd, merge, dd, merge, ...): a change in the machine's load shifts both rows
	: >"$DIR/dd.t"
	: >"$DIR/merge.t"
	for ((r = 0; r < RUNS; r++)); do
		run_dd $((k + 1)) >>"$DIR/dd.t"
		run_merge "$k" >>"$DIR/merge.t"
	done
	d=$(median <"$DIR/dd.t")
	m=$(median <"$DIR/merge.t")
	row "dd-$((k + 1))N" "$d"
	row "merge-$k" "$m" "$d"
done
rm -f "$DIR"/*.tmpl "$DIR"/*.t "$DIR/origin.bin" "$DIR/store.bin" "$DIR/in.bin"

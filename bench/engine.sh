#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# bench/engine.sh — the offline pool engine (thin_message) against the volume's size: issue 12's
# "create_snap is O(1) whatever the volume size; delete of a device with 1M exclusive blocks;
# memory bounded by the cache size".  See bench/README ("The pool engine: thin_message").
#
# Pools: one thin device (dev 0) whose 10k, 100k, 1M or 10M blocks are all mapped and all
# exclusive, generated once with gen_thin_xml and restored with our thin_restore, cached.
# Rows, each on a fresh sparse copy of the pool made (untimed, synced) before every run:
#   trans_id      thin_message POOL set_transaction_id 1 2   the smallest message: open, a
#                                               superblock commit, close (the part of every
#                                               row that is not the message's own work)
#   create_snap   thin_message POOL create_snap 1 0          the snapshot of the whole volume
#   delete-snap   thin_message POOL delete 1    after an (untimed) create_snap 1 0: a snapshot
#                                               sharing everything with its origin
#   delete-excl   thin_message POOL delete 0    the origin, every block exclusive: every leaf
#                                               and every data block freed
# Each is one message and its commit, as the kernel does it.  There is no peer to compare with:
# thin-provisioning-tools has no offline message tool (the kernel runs messages online).
# After the first run of each row its result is checked (untimed) with our thin_check and
# the free data block count of thin_status.
#
# Environment:
#   BUILDDIR           our build directory (default: build); tools in $BUILDDIR/bin
#   DMMETA_ENGINE_DIR  cache of generated pools and scratch copies (default
#                      /var/tmp/dmmeta-engine; ~1 GB really used with the 10M pool)
#   ENGINE_SIZES       subset of "10k 100k 1m 10m" (default all four)
#   ENGINE_ROWS        subset of "trans_id create_snap delete-snap delete-excl" (default all)
#   ENGINE_RUNS        measured runs per row (default 3), after one discarded run
#   ENGINE_NICE        nice value of every timed run (default -10 as root, else 0)
#
# Reported per row: median wall time with min-max, median user+sys, median peak RSS with
# min-max; for delete-excl the data blocks freed per second (median wall) and the peak RSS
# above trans_id's (else create_snap's) on the same pool, per freed block.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh" engine
CACHE=${DMMETA_ENGINE_DIR:-/var/tmp/dmmeta-engine}
SIZES=${ENGINE_SIZES:-10k 100k 1m 10m}
ROWSEL=${ENGINE_ROWS:-trans_id create_snap delete-snap delete-excl}
RUNS=${ENGINE_RUNS:-3}
bench_nice "${ENGINE_NICE:-}"

case $RUNS in '' | *[!0-9]* | 0) die "ENGINE_RUNS must be a positive integer" ;; esac
for s in $SIZES; do case $s in 10k | 100k | 1m | 10m) ;; *) die "unknown size '$s' (known: 10k 100k 1m 10m)" ;; esac; done
for r in $ROWSEL; do case $r in trans_id | create_snap | delete-snap | delete-excl) ;; *) die "unknown row '$r'" ;; esac; done
need_built "$BIN" thin_message thin_restore thin_check thin_status
need_built "$TT" gen_thin_xml
timeit_build
mkdir -p "$CACHE" || die "cannot create $CACHE (set DMMETA_ENGINE_DIR)"

blocks_of() { case $1 in 10k) echo 10000 ;; 100k) echo 100000 ;; 1m) echo 1000000 ;; 10m) echo 10000000 ;; esac; }
# metadata file size (MiB): room for the tree (about 250 mappings a leaf) and the messages
mib_of() { case $1 in 10k) echo 16 ;; 100k) echo 64 ;; 1m) echo 256 ;; 10m) echo 1024 ;; esac; }

# make_pool SIZE: dev 0 with every one of its blocks mapped, 5% of allocations jumping
# (fragmentation, as the other benches' pools); one device, no snapshot: every block exclusive.
GEN_VERSION=1
make_pool() {
	local m p params
	m=$(blocks_of "$1") p=$CACHE/e$1
	params="v$GEN_VERSION gen --devices 1 --mappings $m --snapshots 0 --fragment 5 --seed 1 --format flat; $(mib_of "$1") MiB; our thin_restore"
	if [ -f "$p.params" ] && [ "$(cat "$p.params")" = "$params" ] && [ -f "$p.bin" ]; then
		return 0
	fi
	log "generating pool e$1 ($m mapped blocks) in $CACHE (once) ..."
	rm -f "$p.params" "$p.bin"
	"$TT/gen_thin_xml" --devices 1 --mappings "$m" --snapshots 0 --fragment 5 --seed 1 \
		--format flat >"$p.xml.tmp" || die "gen_thin_xml failed"
	rm -f "$p.bin.tmp" && truncate -s "$(mib_of "$1")M" "$p.bin.tmp" || die "cannot create $p.bin.tmp"
	"$BIN/thin_restore" -q -i "$p.xml.tmp" -o "$p.bin.tmp" || die "thin_restore failed on $p.xml.tmp"
	rm -f "$p.xml.tmp"
	mv "$p.bin.tmp" "$p.bin" || die "cannot move $p.bin into place"
	echo "$params" >"$p.params"
}

W=$CACHE/work.bin
ERR=$CACHE/last.err
# fresh POOL [MESSAGE...]: W becomes a sparse copy of POOL, then the untimed MESSAGE is run
fresh() {
	local src=$1
	shift
	rm -f "$W" && cp --sparse=always "$src" "$W" || die "cannot copy $src to $W"
	if [ $# -gt 0 ]; then
		"$BIN/thin_message" -q "$W" "$@" || die "setup: thin_message $* failed on a copy of $src"
	fi
	# written back now: else the timed message's commit (fsync) would write the whole copy
	sync "$W" || die "cannot sync $W"
}
# run_once MESSAGE... -> W_ (wall ms) C_ (cpu ms) M_ (peak RSS KiB) X_ (status)
run_once() {
	# shellcheck disable=SC2046
	set -- $("$TIMEIT" -n "$NICE" -o /dev/null -e "$ERR" -- "$BIN/thin_message" "$W" "$@")
	W_=${1:-0} C_=${2:-0} M_=${3:-0} X_=${4:-?}
}
# stats COLUMN < runs: median, min and max of column COLUMN
stats() {
	cut -d' ' -f"$1" | sort -n | awk '{ v[NR] = $1 } END { if (!NR) exit
		print ((NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[1], v[NR] }'
}
free_data() { "$BIN/thin_status" "$1" 2>/dev/null | awk '{ split($3, d, "/"); print d[2] - d[1] }'; }

ROWS=$CACHE/rows.tsv
: >"$ROWS"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for size in $SIZES; do
	make_pool "$size"
	P=$CACHE/e$size.bin
	m=$(blocks_of "$size")
	for row in $ROWSEL; do
		case $row in
		trans_id) setup='' msg='set_transaction_id 1 2' ;;
		create_snap) setup='' msg='create_snap 1 0' ;;
		delete-snap) setup='create_snap 1 0' msg='delete 1' ;;
		delete-excl) setup='' msg='delete 0' ;;
		esac
		log "e$size $row"
		d=$CACHE/runs/e$size.$row
		rm -rf "$d" && mkdir -p "$d"
		# shellcheck disable=SC2086
		for i in $(seq 0 "$RUNS"); do
			fresh "$P" $setup
			f0=$(free_data "$W")
			# shellcheck disable=SC2086
			run_once $msg
			if [ "$i" = 0 ]; then # the discarded run: check what it left
				cp "$ERR" "$d/first.err"
				[ "$X_" = 0 ] || die "thin_message $msg failed ($X_) on e$size: $(head -n 1 "$ERR")"
				"$BIN/thin_check" -q "$W" || die "thin_check fails after $msg on e$size"
				f1=$(free_data "$W")
				echo "$((f1 - f0))" >"$d/freed"
				continue
			fi
			echo "$W_ $C_ $M_ $X_" >>"$d/runs"
		done
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$m" "$row" "$(stats 1 <"$d/runs")" \
			"$(stats 2 <"$d/runs")" "$(stats 3 <"$d/runs")" \
			"$(cut -d' ' -f4 "$d/runs" | sort -u | tr '\n' ' ' | sed 's/ $//')" \
			"$(cat "$d/freed")" >>"$ROWS"
	done
done
rm -f "$W"

echo
echo "dmmeta engine bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, runs=$RUNS (wall and cpu in s, RSS in MiB)"
echo "ours=$BIN  load average at start: $LOAD0, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -F'\t' '
function s(v) { return sprintf("%.3f", v / 1000) }
function mb(v) { return sprintf("%.1f", v / 1024) }
{
	split($4, w, " "); split($5, c, " "); split($6, r, " ")
	if ($3 == "trans_id" || ($3 == "create_snap" && !($1 in baserss))) baserss[$1] = r[1]
	extra = ""
	if ($3 == "delete-excl") {
		extra = sprintf("%.2fM blocks/s", $8 / (w[1] / 1000) / 1e6)
		if ($1 in baserss)
			extra = extra sprintf(", +%.1f MiB = %.0f B/block", (r[1] - baserss[$1]) / 1024,
				(r[1] - baserss[$1]) * 1024 / ($8 ? $8 : 1))
	}
	rows[++n] = sprintf("%-5s %9d %-12s %8s %-17s %8s %7s %-13s %4s %9d  %s", $1, $2, $3, s(w[1]),
		s(w[2]) "-" s(w[3]), s(c[1]), mb(r[1]), mb(r[2]) "-" mb(r[3]), $7, $8, extra)
}
END {
	printf "%-5s %9s %-12s %8s %-17s %8s %7s %-13s %4s %9s  %s\n", "pool", "mapped", "row", "wall",
		"(min-max)", "cpu", "RSS", "(min-max)", "exit", "freed", "delete-excl"
	for (i = 1; i <= n; i++) { sub(/ +$/, "", rows[i]); print rows[i] }
}' "$ROWS"
echo "Medians of $RUNS runs, each on a fresh copy of the pool (one discarded run before them)."
echo "freed: data blocks the message freed (thin_status, first run); delete-excl: freed per second"
echo "of median wall, and the peak RSS above trans_id's per freed block.  No peer: tpt has no offline"
echo "message tool (the kernel runs messages online).  Raw runs: $CACHE/runs, rows: $ROWS"

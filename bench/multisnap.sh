#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# bench/multisnap.sh — the mikulas multisnapshot store at scale: snap_check and snap_dump of a
# store of 1 M and 10 M exceptions, warm and cold page cache, wall time, CPU time and peak
# RSS, next to our thin_check and thin_dump on the 10M-mapping pool p10m of bench/scale.sh.
# See bench/README ("The mikulas store at scale").
#
# Environment:
#   BUILDDIR          our build directory (default: build); tools in $BUILDDIR/bin
#   DMMETA_SCALE_DIR  cache of generated stores and pools (default /var/tmp/dmmeta-scale;
#                     sparse files: mk10m takes ~54 GB apparent, ~0.5 GB really used)
#   MS_SIZES          subset of "1m 10m" (default both)
#   MS_MODES          subset of "warm cold" (default both)
#   MS_RUNS           measured runs per row (default 3)
#   MS_NICE           nice value of every timed run (default -10 as root, else 0)
#
# The stores are made once (kept while the recipe is unchanged): bench/gen_mikulas_xml writes
# the XML (snapshots 0..7 and sub-snapshots 2.0, 2.1, 5.0; 1 to 3 exceptions per origin chunk
# over runs of those ids; COW chunks (n * 7919) mod D; the device 4/3 of what the exceptions
# need, its metadata area sized by the man page's rule), our snap_restore writes the store
# (timed once: the "restore" rows).  p10m comes from bench/scale.sh when it is not there.
# warm: one discarded run, then MS_RUNS runs; cold: the store's pages evicted before every
# run (as bench/scale.sh does).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh" multisnap
CACHE=${DMMETA_SCALE_DIR:-/var/tmp/dmmeta-scale}
SIZES=${MS_SIZES:-1m 10m}
MODES=${MS_MODES:-warm cold}
RUNS=${MS_RUNS:-3}
bench_nice "${MS_NICE:-}"

case $RUNS in '' | *[!0-9]* | 0) die "MS_RUNS must be a positive integer" ;; esac
for s in $SIZES; do case $s in 1m | 10m) ;; *) die "unknown size '$s' (known: 1m 10m)" ;; esac; done
for m in $MODES; do case $m in warm | cold) ;; *) die "unknown mode '$m' (known: warm cold)" ;; esac; done
need_built "$BIN" snap_restore snap_check snap_dump thin_check thin_dump
timeit_build
mkdir -p "$CACHE" || die "cannot create $CACHE (set DMMETA_SCALE_DIR)"

GEN=$BUILDDIR/bench/gen_mikulas_xml
if [ ! -x "$GEN" ] || [ "$SRCDIR/bench/gen_mikulas_xml.c" -nt "$GEN" ]; then
	${CC:-cc} -O2 -Wall -Wextra -o "$GEN" "$SRCDIR/bench/gen_mikulas_xml.c" || die "cannot build $GEN"
fi

ROWS=$CACHE/ms-rows.tsv
: >"$ROWS"
ERR=$CACHE/ms-last.err

# row NAME MODE TOOL W C M X
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$ROWS"; }

# make_store NAME EXCEPTIONS: $CACHE/NAME.bin, restored from generated XML (timed once)
GEN_VERSION=1
make_store() {
	local name=$1 n=$2 p=$CACHE/$1
	local bytes=$((n * 4096 * 4 / 3))
	local params="v$GEN_VERSION gen_mikulas_xml -c 8 -n $n $bytes"
	if [ -f "$p.params" ] && [ "$(cat "$p.params")" = "$params" ] && [ -f "$p.bin" ]; then
		return 0
	fi
	log "generating mikulas store $name ($n exceptions) in $CACHE (once) ..."
	rm -f "$p.params" "$p.bin" "$p.bin.tmp"
	"$GEN" -c 8 -n "$n" "$bytes" >"$p.xml.tmp" || die "gen_mikulas_xml failed"
	truncate -s "$bytes" "$p.bin.tmp" || die "cannot create $p.bin.tmp"
	# shellcheck disable=SC2046
	set -- $("$TIMEIT" -n "$NICE" -o /dev/null -e "$ERR" -- "$BIN/snap_restore" -q \
		-i "$p.xml.tmp" -o "$p.bin.tmp")
	[ "${4:-1}" = 0 ] || die "snap_restore failed on $p.xml.tmp: $(cat "$ERR")"
	echo "$1 $2 $3 $4" >"$p.restore"
	rm -f "$p.xml.tmp"
	mv "$p.bin.tmp" "$p.bin" || die "cannot move $p.bin into place"
	echo "$params" >"$p.params"
}

evict() {
	sync "$1" 2>/dev/null
	dd if="$1" iflag=nocache count=0 status=none 2>/dev/null
	if [ "$(id -u)" = 0 ]; then echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; fi
}

# measure NAME FILE MODE TOOL: MS_RUNS runs (warm: after a discarded one), medians in a row
measure() {
	local name=$1 f=$2 mode=$3 tool=$4 d=$CACHE/runs/ms.$1.$3.$4
	rm -rf "$d" && mkdir -p "$d"
	log "$name $mode $tool"
	[ "$mode" = warm ] && "$TIMEIT" -n "$NICE" -o /dev/null -e "$ERR" -- "$BIN/$tool" "$f" >/dev/null
	for _ in $(seq "$RUNS"); do
		[ "$mode" = cold ] && evict "$f"
		"$TIMEIT" -n "$NICE" -o /dev/null -e "$ERR" -- "$BIN/$tool" "$f" >>"$d/runs"
	done
	cp "$ERR" "$d/last.err"
	row "$name" "$mode" "$tool" "$(cut -d' ' -f1 "$d/runs" | median)" \
		"$(cut -d' ' -f2 "$d/runs" | median)" "$(cut -d' ' -f3 "$d/runs" | sort -n | tail -n 1)" \
		"$(cut -d' ' -f4 "$d/runs" | sort -u | tr '\n' ' ' | sed 's/ $//')"
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for size in $SIZES; do
	case $size in 1m) n=1000000 ;; 10m) n=10000000 ;; esac
	make_store "mk$size" "$n"
	read -r W C M X <"$CACHE/mk$size.restore"
	row "mk$size" once snap_restore "$W" "$C" "$M" "$X"
	for mode in $MODES; do
		for tool in snap_check snap_dump; do
			measure "mk$size" "$CACHE/mk$size.bin" "$mode" "$tool"
		done
	done
done
if [ ! -f "$CACHE/p10m.bin" ]; then
	log "p10m not in $CACHE: bench/scale.sh makes it"
	SCALE_POOLS=p10m SCALE_IMPLS=ours SCALE_MODES=warm SCALE_RUNS=1 \
		sh "$SRCDIR/bench/scale.sh" >/dev/null || die "bench/scale.sh could not make p10m"
fi
for mode in $MODES; do
	for tool in thin_check thin_dump; do
		measure p10m "$CACHE/p10m.bin" "$mode" "$tool"
	done
done

echo
echo "dmmeta multisnap: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $RUNS runs (median wall s, median user+sys s, peak RSS MiB)"
echo "ours=$BIN  load average at start: $LOAD0, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
for s in $SIZES; do
	echo "mk$s: $(head -n 1 "$CACHE/mk$s.params" | cut -d' ' -f2-); $(du -k "$CACHE/mk$s.bin" | cut -f1) KiB used"
done
awk -F'\t' '
BEGIN { printf "%-6s %-5s %-13s %9s %9s %9s  %s\n", "store", "mode", "tool", "wall", "cpu", "RSS", "exit" }
{ printf "%-6s %-5s %-13s %9.3f %9.3f %9.1f  %s\n", $1, $2, $3, $4 / 1000, $5 / 1000, $6 / 1024, $7 }' "$ROWS"
echo "Raw runs: $CACHE/runs/ms.*, rows: $ROWS"

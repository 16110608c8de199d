#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# bench/scale.sh — thin_check at scale: ours against thin-provisioning-tools 1.1 and 0.9.0
# on generated pools of 10M and 100M mappings, warm and cold page cache, wall time, CPU time
# and peak RSS.  See bench/README ("thin_check at scale").
#
# Environment:
#   BUILDDIR          our build directory (default: build); tools in $BUILDDIR/bin
#   DMMETA_SCALE_DIR  cache of generated pools (default /var/tmp/dmmeta-scale; the 100M pool
#                     needs ~8 GB of disk there, generated once and reused)
#   SCALE_POOLS       subset of "p10m p100m" (default both)
#   SCALE_IMPLS       subset of "ours 1.1 0.9" (default all three; the references are skipped
#                     with one line when tests/tools/fetch-tpt cannot provide them)
#   SCALE_MODES       subset of "warm cold" (default both)
#   SCALE_RUNS        measured runs per row (default 3; runs of more than SCALE_SLOW seconds
#                     count once)
#   SCALE_SLOW        seconds (default 20)
#   SCALE_NICE        nice value of every timed run (default -10 as root, else 0), the same
#                     for all three: less noise from other work on the machine
#
# warm: one discarded run, then SCALE_RUNS runs with the pool in the page cache.
# Runs alternate between the implementations (SCALE_RUNS rounds of ours, 1.1, 0.9).
# cold: before every run the pool file's pages are evicted from the page cache
#       (posix_fadvise(POSIX_FADV_DONTNEED) through `dd iflag=nocache count=0`, checked with
#       fincore; as root also `echo 3 > /proc/sys/vm/drop_caches` for the kernel's own caches).
# Both references open the pool with O_DIRECT, so they read from the device in both modes.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh" scale
CACHE=${DMMETA_SCALE_DIR:-/var/tmp/dmmeta-scale}
POOLS=${SCALE_POOLS:-p10m p100m}
IMPLS=${SCALE_IMPLS:-ours 1.1 0.9}
MODES=${SCALE_MODES:-warm cold}
RUNS=${SCALE_RUNS:-3}
SLOW=${SCALE_SLOW:-20}
bench_nice "${SCALE_NICE:-}"

case $RUNS in '' | *[!0-9]* | 0) die "SCALE_RUNS must be a positive integer" ;; esac
for p in $POOLS; do case $p in p10m | p100m) ;; *) die "unknown pool '$p' (known: p10m p100m)" ;; esac; done
for m in $MODES; do case $m in warm | cold) ;; *) die "unknown mode '$m' (known: warm cold)" ;; esac; done
for i in $IMPLS; do case $i in ours | 1.1 | 0.9) ;; *) die "unknown implementation '$i'" ;; esac; done
need_built "$BIN" thin_check
need_built "$TT" gen_thin_xml
timeit_build
mkdir -p "$CACHE" || die "cannot create $CACHE (set DMMETA_SCALE_DIR)"

bench_refs
if [ -n "$R11" ]; then RESTORER="$R11 thin_restore"; else RESTORER="$BIN/thin_restore"; fi

# make_pool NAME ORIGIN_BLOCKS MiB: one origin of ORIGIN_BLOCKS blocks and 9 snapshots taken
# in sequence, 1% of the origin rewritten after each, 5% of allocations fragmented: the
# recipe of bench/run.sh's p10m, scaled (p100m: a 10M-block origin, 100M mappings).
GEN_VERSION=1
make_pool() {
	local name=$1 m=$2 mib=$3 p=$CACHE/$1
	local params="v$GEN_VERSION gen --devices 1 --mappings $m --snapshots 9 --change 1 --fragment 5 --seed 1 --format shared; $mib MiB; restorer ${RESTORER##*/}"
	if [ -f "$p.params" ] && [ "$(cat "$p.params")" = "$params" ] && [ -f "$p.bin" ]; then
		return 0
	fi
	log "generating pool $name ($((m * 10)) mappings) in $CACHE (once) ..."
	rm -f "$p.params" "$p.bin"
	"$TT/gen_thin_xml" --devices 1 --mappings "$m" --snapshots 9 --change 1 --fragment 5 \
		--seed 1 --format shared >"$p.xml.tmp" || die "gen_thin_xml failed"
	rm -f "$p.bin.tmp" && truncate -s "${mib}M" "$p.bin.tmp" || die "cannot create $p.bin.tmp"
	$RESTORER -q -i "$p.xml.tmp" -o "$p.bin.tmp" || die "$RESTORER failed on $p.xml.tmp"
	rm -f "$p.xml.tmp"
	mv "$p.bin.tmp" "$p.bin" || die "cannot move $p.bin into place"
	echo "$params" >"$p.params"
}

cmd_prefix() { # IMPL -> command words
	case $1 in
	ours) echo "$BIN/thin_check" ;;
	1.1) [ -n "$R11" ] && echo "$R11 thin_check" ;;
	0.9) [ -n "$R09" ] && echo "$R09 thin_check" ;;
	esac
}

# evict FILE: drop FILE's pages from the page cache and check that they are gone
evict() {
	sync "$1" 2>/dev/null
	dd if="$1" iflag=nocache count=0 status=none 2>/dev/null
	if [ "$(id -u)" = 0 ]; then echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; fi
	if command -v fincore >/dev/null; then
		local res
		res=$(fincore -nb -o RES "$1" 2>/dev/null | tr -d ' ')
		[ -z "$res" ] || [ "$res" -lt 1048576 ] ||
			log "warning: $res bytes of $1 still cached after eviction"
	fi
}

ERR=$CACHE/last.err
# run_once IMPL POOLFILE MODE -> W (wall ms) C (cpu ms) M (peak RSS KiB) X (status)
run_once() {
	[ "$3" = cold ] && evict "$2"
	# shellcheck disable=SC2046
	set -- $("$TIMEIT" -n "$NICE" -o /dev/null -e "$ERR" -- $(cmd_prefix "$1") "$2")
	W=${1:-0} C=${2:-0} M=${3:-0} X=${4:-?}
}

ROWS=$CACHE/rows.tsv
: >"$ROWS"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for pool in $POOLS; do
	case $pool in p10m) make_pool p10m 1000000 1024 ;; p100m) make_pool p100m 10000000 8192 ;; esac
	P=$CACHE/$pool.bin
	for mode in $MODES; do
		# the implementations run interleaved (ours, 1.1, 0.9, ours, ...), so that a spell of
		# load from other work on the machine falls on all of them alike
		run='' have=''
		for impl in $IMPLS; do
			[ -n "$(cmd_prefix "$impl")" ] || { log "$impl absent: skipped"; continue; }
			have="$have $impl"
			d=$CACHE/runs/$pool.$mode.$impl
			rm -rf "$d" && mkdir -p "$d"
			if [ "$mode" = warm ]; then
				run_once "$impl" "$P" warm # discarded: warms the page cache
				if awk -v w="$W" -v s="$SLOW" 'BEGIN { exit !(w >= s * 1000) }'; then
					echo "$W $C $M $X" >>"$d/runs" # slow: this run counts, alone
					cp "$ERR" "$d/last.err"
					continue
				fi
			fi
			run="$run $impl"
		done
		for i in $(seq "$RUNS"); do
			for impl in $run; do
				log "$pool $mode $impl (run $i of $RUNS)"
				d=$CACHE/runs/$pool.$mode.$impl
				run_once "$impl" "$P" "$mode"
				echo "$W $C $M $X" >>"$d/runs"
				cp "$ERR" "$d/last.err"
				# slow: no more runs of this one
				awk -v w="$W" -v s="$SLOW" 'BEGIN { exit !(w >= s * 1000) }' &&
					run=$(echo "$run" | tr ' ' '\n' | grep -vx "$impl" | tr '\n' ' ')
			done
		done
		for impl in $have; do
			d=$CACHE/runs/$pool.$mode.$impl
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$pool" "$mode" "$impl" \
				"$(cut -d' ' -f1 "$d/runs" | median)" "$(cut -d' ' -f2 "$d/runs" | median)" \
				"$(cut -d' ' -f3 "$d/runs" | sort -n | tail -n 1)" \
				"$(cut -d' ' -f4 "$d/runs" | sort -u | tr '\n' ' ' | sed 's/ $//')" \
				"$(wc -l <"$d/runs")" "$(cut -d' ' -f1 "$d/runs" | sort -n | head -n 1)" >>"$ROWS"
		done
	done
done

echo
echo "dmmeta scale: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs (median wall s, median user+sys s, peak RSS MiB)"
echo "ours=$BIN  refs=${refdir:-none}  load average at start: $LOAD0, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -F'\t' '
{ key = $1 " " $2; w[key, $3] = $4; c[key, $3] = $5; m[key, $3] = $6; x[key, $3] = $7; n[key, $3] = $8
  b[key, $3] = $9
  if (!(key in seen)) { seen[key] = 1; order[++nk] = key } }
function s(v) { return v == "" ? "-" : sprintf("%.3f", v / 1000) }
function mb(v) { return v == "" ? "-" : sprintf("%.1f", v / 1024) }
function r(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%.2f", a / b) }
END {
	printf "%-6s %-5s %8s %8s %8s %8s %8s %8s %8s %8s %7s %7s %7s %10s  %s\n", "pool", "mode",
		"ours", "cpuours", "1.1", "0.9", "ours/1.1", "RSSours", "RSS1.1", "RSS0.9", "RSSo/1.1",
		"0.3x", "1/4mem", "best o/1.1", "exit o/1.1/0.9"
	for (i = 1; i <= nk; i++) {
		k = order[i]
		rt = r(w[k, "ours"], w[k, "1.1"]); rm = r(m[k, "ours"], m[k, "1.1"])
		printf "%-6s %-5s %8s %8s %8s %8s %8s %8s %8s %8s %7s %7s %7s %10s  %s/%s/%s\n", substr(k, 1, index(k, " ") - 1),
			substr(k, index(k, " ") + 1), s(w[k, "ours"]), s(c[k, "ours"]), s(w[k, "1.1"]),
			s(w[k, "0.9"]), rt, mb(m[k, "ours"]), mb(m[k, "1.1"]), mb(m[k, "0.9"]), rm,
			rt == "-" ? "-" : (rt <= 0.3 ? "ok" : "MISS"), rm == "-" ? "-" : (rm <= 0.25 ? "ok" : "MISS"),
			r(b[k, "ours"], b[k, "1.1"]),
			x[k, "ours"] == "" ? "-" : x[k, "ours"], x[k, "1.1"] == "" ? "-" : x[k, "1.1"],
			x[k, "0.9"] == "" ? "-" : x[k, "0.9"]
	}
}' "$ROWS"
echo "targets: 0.3x = ours at most 0.3x the wall time of 1.1; 1/4mem = ours' peak RSS at most a quarter"
echo "of 1.1's (medians).  best o/1.1 = ours' fastest run over 1.1's fastest: on a busy machine"
echo "the runs least disturbed by other work.  Raw runs: $CACHE/runs, rows: $ROWS"

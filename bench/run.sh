#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# bench/run.sh — time dmmeta's thin tools side by side with thin-provisioning-tools 1.1 and
# 0.9.0 on generated pools of 1M and 10M mappings.  `make bench` runs it; see bench/README.
#
# Environment:
#   BUILDDIR          our build directory (default: build); tools in $BUILDDIR/bin
#   TPT_REF_DIR       where the references are / go (default /var/tmp/tpt-ref)
#   DMMETA_BENCH_DIR  cache of generated pools (default /var/tmp/dmmeta-bench)
#   BENCH_RUNS        measured runs per tool and implementation (default 3)
#   BENCH_QUICK=1     only the 1M pool (and a 1M-mapping device for the 1000-block delta), 1 run
#   BENCH_TOOLS       subset, e.g. "thin_check thin_dump" (default: all six)
#   BENCH_SLOW        seconds; an implementation whose discarded first run took longer is
#                     measured by that run alone (default 30; 0.9 needs 45-150 s to repair p10m)
#   BENCH_NICE        nice value for every timed run (default -10 when root, else 0): the same
#                     priority for all three, less noise from other work on the machine
#   BENCH_PERF=1      also record a `perf record` profile of ours for each row (in the cache)
#   BENCH_MODES       which inputs (default "warm cold dev"): warm = the pool files, page
#                     cache warm; cold = the read tools on the pool files with the file's pages
#                     dropped before every run (POSIX_FADV_DONTNEED); dev = a loop device over
#                     each pool (read tools) and over a scratch file (thin_restore/thin_repair
#                     output): every implementation reads and writes devices with O_DIRECT
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh" bench
CACHE=${DMMETA_BENCH_DIR:-/var/tmp/dmmeta-bench}
QUICK=${BENCH_QUICK:-0}
RUNS=${BENCH_RUNS:-3}
[ "$QUICK" = 1 ] && RUNS=1
ALL_TOOLS="thin_check thin_dump thin_ls thin_delta thin_restore thin_repair"
TOOLS=${BENCH_TOOLS:-$ALL_TOOLS}
SLOW=${BENCH_SLOW:-30}
MODES=${BENCH_MODES:-warm cold dev}
bench_nice "${BENCH_NICE:-}"

for t in $TOOLS; do
	case " $ALL_TOOLS " in *" $t "*) ;; *) die "unknown tool '$t' in BENCH_TOOLS (known: $ALL_TOOLS)" ;; esac
done
case $RUNS in '' | *[!0-9]* | 0) die "BENCH_RUNS must be a positive integer" ;; esac
for m in $MODES; do
	case $m in warm | cold | dev) ;; *) die "unknown mode '$m' in BENCH_MODES (known: warm cold dev)" ;; esac
done
mode() { case " $MODES " in *" $1 "*) return 0 ;; esac; return 1; }
if mode dev; then
	[ "$(id -u)" = 0 ] && command -v losetup >/dev/null 2>&1 ||
		{ log "dev mode needs root and losetup: skipped"; MODES=$(echo " $MODES " | sed 's/ dev / /'); }
fi
timeit_build
need_built "$BIN" thin_check thin_dump thin_ls thin_delta thin_restore thin_repair
need_built "$TT" gen_thin_xml thin_damage
mkdir -p "$CACHE" || die "cannot create $CACHE (set DMMETA_BENCH_DIR)"

# ---- references ----------------------------------------------------------------------
bench_refs

# ---- pools ---------------------------------------------------------------------------
# Each pool: $CACHE/<name>.bin (restored), <name>.flat.xml (0.9 flat XML, the thin_restore
# input every implementation accepts), <name>.params (what it was made from; a change of
# parameters regenerates it).  Pools are made by the 1.1 thin_restore when present (neutral
# and it builds shared leaves from <def>/<ref>), ours otherwise.
RESTORER=
if [ -n "$R11" ]; then RESTORER="$R11 thin_restore"; else RESTORER="$BIN/thin_restore"; fi
GEN_VERSION=1   # bump when the recipe below changes

# zero_file FILE MiB: a fresh sparse file
zero_file() { rm -f "$1" && truncate -s "$2M" "$1"; }

# make_pool NAME MAPPINGS SNAPSHOTS CHANGE FRAGMENT MiB
# One origin device of MAPPINGS blocks and SNAPSHOTS snapshots of it; total mappings
# = MAPPINGS * (1 + SNAPSHOTS).
make_pool() {
	local name=$1 m=$2 k=$3 chg=$4 frag=$5 mib=$6 p=$CACHE/$1
	local params="v$GEN_VERSION gen --devices 1 --mappings $m --snapshots $k --change $chg --fragment $frag --seed 1 --format shared; $mib MiB; restorer ${RESTORER##*/}"
	if [ -f "$p.params" ] && [ "$(cat "$p.params")" = "$params" ] && [ -f "$p.bin" ] &&
		[ -f "$p.flat.xml" ]; then
		make_damaged "$name"
		return 0
	fi
	log "generating pool $name ($((m * (k + 1))) mappings) in $CACHE ..."
	rm -f "$p.params" "$p.dmg.bin" "$p.dmgs.bin"
	"$TT/gen_thin_xml" --devices 1 --mappings "$m" --snapshots "$k" --change "$chg" \
		--fragment "$frag" --seed 1 --format shared >"$p.xml.tmp" || die "gen_thin_xml failed"
	zero_file "$p.bin.tmp" "$mib" || die "cannot create $p.bin.tmp"
	$RESTORER -q -i "$p.xml.tmp" -o "$p.bin.tmp" || die "$RESTORER failed on $p.xml.tmp"
	# The flat XML (0.9's format): 0.9's thin_dump when present, else ours.
	if [ -n "$R09" ]; then
		"$R09" thin_dump "$p.bin.tmp" >"$p.flat.xml.tmp" || die "0.9 thin_dump of $p.bin.tmp failed"
	else
		"$BIN/thin_dump" "$p.bin.tmp" >"$p.flat.xml.tmp" || die "thin_dump of $p.bin.tmp failed"
	fi
	{ mv "$p.xml.tmp" "$p.xml" && mv "$p.bin.tmp" "$p.bin" && mv "$p.flat.xml.tmp" "$p.flat.xml"; } ||
		die "cannot move pool files into $CACHE"
	echo "$params" >"$p.params"
	make_damaged "$name"
}

# make_damaged NAME: copies of the pool with one damaged leaf (bad checksum):
#   NAME.dmg.bin   the last leaf of the origin device (a leaf of the origin alone)
#   NAME.dmgs.bin  the first leaf of the origin (written first by thin_restore from the
#                  <def> of chunk 0: a leaf shared by the origin and its snapshots)
make_damaged() {
	local p=$CACHE/$1 sfx what leaf
	for sfx in dmg dmgs; do
		[ -f "$p.$sfx.bin" ] && continue
		if [ $sfx = dmg ]; then what=last-leaf; else what=leaf; fi
		cp --sparse=always "$p.bin" "$p.$sfx.bin.tmp" || die "cannot copy $p.bin"
		leaf=$("$TT/thin_damage" "$p.$sfx.bin.tmp" find $what 0) || die "thin_damage find failed"
		"$TT/thin_damage" "$p.$sfx.bin.tmp" flip-csum "$leaf" || die "thin_damage flip-csum failed"
		echo "$what 0 = block $leaf" >"$p.$sfx.leaf"
		mv "$p.$sfx.bin.tmp" "$p.$sfx.bin" || die "cannot move $p.$sfx.bin into $CACHE"
	done
}

# make_diff_pool NAME MAPPINGS MiB: one device of MAPPINGS blocks and two snapshots of it
# (dev 1, dev 2) that differ in exactly 1000 blocks, spread evenly over the device.
make_diff_pool() {
	local name=$1 m=$2 mib=$3 p=$CACHE/$1
	local nrd=$((m + m / 4 + 2048)) nrefs=$(((m + 251) / 252))
	local params="v$GEN_VERSION gen --devices 1 --mappings $m --snapshots 2 --change 0 --fragment 0 --nr-data-blocks $nrd --format shared | diff1k.awk 1000; $mib MiB; restorer ${RESTORER##*/}"
	if [ -f "$p.params" ] && [ "$(cat "$p.params")" = "$params" ] && [ -f "$p.bin" ]; then
		return 0
	fi
	log "generating pool $name (a $m-mapping device, two snapshots differing in 1000 blocks) ..."
	rm -f "$p.params"
	"$TT/gen_thin_xml" --devices 1 --mappings "$m" --snapshots 2 --change 0 --fragment 0 \
		--nr-data-blocks "$nrd" --format shared |
		awk -v dev=2 -v nchange=1000 -v nrefs="$nrefs" -v newbase=$((m + m / 8)) \
			-f "$SRCDIR/bench/diff1k.awk" >"$p.xml.tmp" || die "generating $name failed"
	zero_file "$p.bin.tmp" "$mib" || die "cannot create $p.bin.tmp"
	$RESTORER -q -i "$p.xml.tmp" -o "$p.bin.tmp" || die "$RESTORER failed on $p.xml.tmp"
	local n
	n=$("$BIN/thin_delta" --snap1 1 --snap2 2 "$p.bin.tmp" | grep -c '<different ')
	[ "$n" = 1000 ] || log "warning: $name: thin_delta reports $n different runs, expected 1000"
	{ mv "$p.xml.tmp" "$p.xml" && mv "$p.bin.tmp" "$p.bin"; } || die "cannot move pool files into $CACHE"
	echo "$params" >"$p.params"
}

# 1M pool: 100k-block origin + 9 snapshots, 1% of the origin rewritten after each snapshot,
# 5% of allocations fragmented.  10M pool: the same with a 1M-block origin.
make_pool p1m 100000 9 1 5 128
if [ "$QUICK" = 1 ]; then
	POOLS="p1m"
	DPOOL=d1k1m
	make_diff_pool d1k1m 1000000 128
else
	POOLS="p1m p10m"
	DPOOL=d1k10m
	make_pool p10m 1000000 9 1 5 1024
	make_diff_pool d1k10m 10000000 1024
fi

# ---- measurement ---------------------------------------------------------------------
IMPLS="ours 1.1 0.9"
cmd_prefix() { # IMPL TOOL -> command words
	case $1 in
	ours) echo "$BIN/$2" ;;
	1.1) [ -n "$R11" ] && echo "$R11 $2" ;;
	0.9) [ -n "$R09" ] && echo "$R09 $2" ;;
	esac
}

SCRATCH=$CACHE/scratch.bin
VOUT=$SCRATCH   # what the write rows' output is verified on
ERR=$CACHE/last.err
if [ -n "$R11" ]; then
	VERIFY="$R11 thin_check -q" VERIFY_NAME="1.1's thin_check"
else
	VERIFY="$BIN/thin_check -q" VERIFY_NAME="our thin_check (1.1 absent)"
fi

# run_once IMPL -> sets W (wall ms), M (peak RSS KiB), X (exit status), C (user+sys ms)
run_once() {
	local impl=$1
	[ -n "$PRE" ] && eval "$PRE"
	# word splitting of the command and its arguments is intended
	# shellcheck disable=SC2046,SC2086
	set -- $("$TIMEIT" -n "$NICE" -o /dev/null -e "$ERR" -- $(cmd_prefix "$impl" "$TOOL") $ARGS)
	W=${1:-0} C=${2:-0} M=${3:-0} X=${4:-?}
}


ROWS=$CACHE/rows.tsv
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$ROWS"

# bench_row TOOL POOL ARGS [PRE] [KIND] [LABEL]
# KIND: read (issue 2 targets), write (issue 3 targets), delta1k (under 50 ms),
# repair-dmg (ours must succeed; 1.1 is known to fail)
bench_row() {
	TOOL=$1 POOL=$2 ARGS=$3 PRE=${4:-} KIND=${5:-read} LABEL=${6:-$1}
	local impl dir line
	dir=$CACHE/runs/$TOOL.$POOL.$(echo "$ARGS" | cksum | cut -d' ' -f1)
	rm -rf "$dir" && mkdir -p "$dir"
	log "$TOOL $POOL: $ARGS"
	local active=""
	for impl in $IMPLS; do
		[ -n "$(cmd_prefix "$impl" "$TOOL")" ] || continue
		# discarded first run: warms the page cache (input and binary)
		run_once "$impl"
		cp "$ERR" "$dir/$impl.err"
		echo "$X" >"$dir/$impl.rc"
		if awk -v w="$W" -v s="$SLOW" 'BEGIN { exit !(w >= s * 1000) }'; then
			log "  $impl took ${W} ms: measured by that run alone"
			echo "$W" >>"$dir/$impl.w"
			echo "$M" >>"$dir/$impl.m"
			echo "$C" >>"$dir/$impl.c"
		else
			active="$active $impl"
		fi
		if [ "$impl" = ours ] && { [ "$KIND" = write ] || [ "$KIND" = repair-dmg ]; } && [ "$X" = 0 ]; then
			$VERIFY "$VOUT" >/dev/null 2>&1
			echo $? >"$dir/verify"
		fi
	done
	for _ in $(seq "$RUNS"); do
		for impl in $active; do
			run_once "$impl"
			echo "$W" >>"$dir/$impl.w"
			echo "$M" >>"$dir/$impl.m"
			echo "$C" >>"$dir/$impl.c"
			[ "$X" = 0 ] || echo "$X" >"$dir/$impl.rc"
		done
	done
	if [ "${BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
		[ -n "$PRE" ] && eval "$PRE"
		# shellcheck disable=SC2086
		perf record -q -g -o "$dir/perf.data" "$BIN/$TOOL" $ARGS >/dev/null 2>&1
		perf report -i "$dir/perf.data" --no-children --stdio 2>/dev/null |
			grep -E '^ +[0-9.]+%' | head -n 12 >"$dir/perf.top"
	fi
	line="$LABEL	$POOL	$KIND	$(median <"$dir/ours.c")"
	for impl in $IMPLS; do
		if [ -f "$dir/$impl.w" ]; then
			line="$line	$(median <"$dir/$impl.w")	$(sort -n "$dir/$impl.m" | tail -n 1)	$(cat "$dir/$impl.rc")"
		else
			line="$line	-	-	-"
		fi
	done
	line="$line	$(cat "$dir/verify" 2>/dev/null || echo -)"
	echo "$line" >>"$ROWS"
}

want() { case " $TOOLS " in *" $1 "*) return 0 ;; esac; return 1; }

# drop_cache FILE: evict FILE's (clean) pages from the page cache: POSIX_FADV_DONTNEED
# through GNU dd (count=0 with iflag=nocache drops the whole file).
drop_cache() { dd if="$1" iflag=nocache count=0 status=none; }

# Loop devices of the dev mode; detached on exit.
LOOPS=
loop_attach() { # FILE [-r] -> the device in $LOOP (not in a subshell: LOOPS must persist)
	LOOP=$(losetup -f --show ${2:-} "$1") || return 1
	LOOPS="$LOOPS $LOOP"
}
loop_detach_all() {
	local d
	for d in $LOOPS; do losetup -d "$d" 2>/dev/null; done
	LOOPS=
}
trap loop_detach_all EXIT
trap 'exit 130' INT TERM HUP

for pool in $POOLS; do
	P=$CACHE/$pool.bin
	# a fresh sparse output of the pool's size before each thin_restore / thin_repair run
	FRESH="rm -f '$SCRATCH' && truncate -s $(stat -c %s "$P") '$SCRATCH'"
	if mode cold; then
		# the same file, its pages dropped before every run (ours reads it buffered, the
		# references with O_DIRECT: both from the disk now)
		COLD="drop_cache '$P'"
		want thin_check && bench_row thin_check "$pool-cold" "$P" "$COLD"
		want thin_dump && bench_row thin_dump "$pool-cold" "$P" "$COLD"
		want thin_ls && bench_row thin_ls "$pool-cold" "-o DEV,MAPPED,EXCLUSIVE,SHARED $P" "$COLD" read thin_ls-x
		want thin_delta && bench_row thin_delta "$pool-cold" "--snap1 4 --snap2 5 $P" "$COLD"
	fi
	if mode dev; then
		# a read-only loop device over the pool (its backing file's pages stay warm, like
		# a disk with a cache) and one over a scratch file for the outputs: all three
		# implementations read and write devices with O_DIRECT
		loop_attach "$P" -r || die "losetup $P failed"
		DEVP=$LOOP
		rm -f "$SCRATCH.dev" && truncate -s "$(stat -c %s "$P")" "$SCRATCH.dev" || die "cannot create $SCRATCH.dev"
		loop_attach "$SCRATCH.dev" || die "losetup $SCRATCH.dev failed"
		SDEV=$LOOP
		ZAP="dd if=/dev/zero of='$SDEV' bs=4096 count=1 oflag=direct conv=notrunc status=none"
		want thin_check && bench_row thin_check "$pool-dev" "$DEVP"
		want thin_dump && bench_row thin_dump "$pool-dev" "$DEVP"
		want thin_ls && bench_row thin_ls "$pool-dev" "-o DEV,MAPPED,EXCLUSIVE,SHARED $DEVP" "" read thin_ls-x
		want thin_delta && bench_row thin_delta "$pool-dev" "--snap1 4 --snap2 5 $DEVP"
		VOUT=$SDEV
		want thin_restore && bench_row thin_restore "$pool-dev" "-i $CACHE/$pool.flat.xml -o $SDEV" "$ZAP" write
		want thin_repair && bench_row thin_repair "$pool-dev" "-i $DEVP -o $SDEV" "$ZAP" write
		VOUT=$SCRATCH
		loop_detach_all
		rm -f "$SCRATCH.dev"
	fi
	mode warm || continue
	want thin_check && bench_row thin_check "$pool" "$P"
	want thin_dump && bench_row thin_dump "$pool" "$P"
	want thin_ls && bench_row thin_ls "$pool" "$P"
	want thin_ls && bench_row thin_ls "$pool" "-o DEV,MAPPED,EXCLUSIVE,SHARED $P" "" read thin_ls-x
	# snapshot vs snapshot: two neighbouring snapshots (1% of the origin apart)
	want thin_delta && bench_row thin_delta "$pool" "--snap1 4 --snap2 5 $P"
	want thin_restore && bench_row thin_restore "$pool" "-i $CACHE/$pool.flat.xml -o $SCRATCH" "$FRESH" write
	want thin_repair && bench_row thin_repair "$pool" "-i $P -o $SCRATCH" "$FRESH" write
	want thin_repair && bench_row thin_repair "$pool-dmg" "-i $CACHE/$pool.dmg.bin -o $SCRATCH" "$FRESH" repair-dmg
	want thin_repair && bench_row thin_repair "$pool-dmgs" "-i $CACHE/$pool.dmgs.bin -o $SCRATCH" "$FRESH" repair-dmg
done
mode warm && want thin_delta &&
	bench_row thin_delta "$DPOOL" "--snap1 1 --snap2 2 $CACHE/$DPOOL.bin" "" delta1k
mode cold && want thin_delta && bench_row thin_delta "$DPOOL-cold" "--snap1 1 --snap2 2 $CACHE/$DPOOL.bin" \
	"drop_cache '$CACHE/$DPOOL.bin'" delta1k
if mode dev && want thin_delta; then
	loop_attach "$CACHE/$DPOOL.bin" -r || die "losetup $CACHE/$DPOOL.bin failed"
	DEVP=$LOOP
	bench_row thin_delta "$DPOOL-dev" "--snap1 1 --snap2 2 $DEVP" "" delta1k
	loop_detach_all
fi
rm -f "$SCRATCH"

# ---- table ---------------------------------------------------------------------------
echo
echo "dmmeta bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, runs=$RUNS (median wall s, peak RSS MiB)"
echo "ours=$BIN  refs=${refdir:-none}  load average at start: $LOAD0, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -F'\t' -v runs="$RUNS" '
function sec(ms) { return ms == "-" ? "-" : sprintf("%.3f", ms / 1000) }
function mib(k) { return k == "-" ? "-" : sprintf("%.1f", k / 1024) }
function cell(ms, rc) { return rc == "-" ? "-" : (rc != 0 ? "FAIL(" rc ")" : sec(ms)) }
function ok(c) { return c ? "ok" : "MISS" }
BEGIN {
	printf "%-12s %-12s %9s %9s %9s %8s %8s %7s %7s %8s %7s  %s\n", "tool", "pool", "ours", "1.1",
		"0.9", "ours/1.1", "0.9/ours", "RSSours", "RSS1.1", "RSSo/1.1", "cpuours", "targets"
}
{
	tool = $1; pool = $2; kind = $3; oc = $4
	ow = $5; om = $6; orc = $7; nw = $8; nm = $9; nrc = $10; zw = $11; zm = $12; zrc = $13; ver = $14
	ogood = (orc == 0); ngood = (nrc == "0"); zgood = (zrc == "0")
	r1 = (ogood && ngood && nw > 0) ? ow / nw : -1
	r9 = (ogood && zgood && ow > 0) ? zw / ow : -1
	rm = (ogood && ngood && nm > 0) ? om / nm : -1
	t = ""
	if (!ogood) t = "ours FAILED"
	else if (kind == "repair-dmg") {
		t = "repairs:" ok(ver == 0) (nrc == "-" ? "" : " (1.1 " (ngood ? "repairs it too" : "fails, as known") ")")
		if (r1 >= 0) t = t " 0.8x:" ok(r1 <= 0.8)
		if (rm >= 0) t = t " mem:" ok(rm <= 1)
	} else {
		if (kind == "delta1k") t = t "<50ms:" ok(ow < 50) " "
		if (r1 >= 0) t = t "0.8x:" ok(r1 <= 0.8) " "
		if (r9 >= 0 && kind != "write") t = t "5x:" ok(r9 >= 5) " "
		if (rm >= 0) t = t "mem:" ok(rm <= 1) " "
		if (kind == "write") t = t "valid:" ok(ver == 0)
	}
	printf "%-12s %-12s %9s %9s %9s %8s %8s %7s %7s %8s %7s  %s\n", tool, pool, cell(ow, orc),
		cell(nw, nrc), cell(zw, zrc), r1 < 0 ? "-" : sprintf("%.2f", r1),
		r9 < 0 ? "-" : sprintf("%.1f", r9), mib(om), mib(nm), rm < 0 ? "-" : sprintf("%.2f", rm),
		sec(oc), t
}' "$ROWS"
echo "cpuours = median user+sys seconds of ours (wall above that = waiting for a CPU or I/O)."
echo "targets: 0.8x = ours at most 0.8x the time of 1.1; 5x = at least 5x faster than 0.9.0 (read"
echo "tools, issue 2); mem = peak RSS at most 1.1's; <50ms = 1000-block thin_delta; valid/repairs ="
echo "our output passes $VERIFY_NAME.  POOL-cold: the pool file's pages dropped before every run;"
echo "POOL-dev: a loop device over the pool (and the output), read and written with O_DIRECT by all."
echo "Raw runs: $CACHE/runs, rows: $ROWS"

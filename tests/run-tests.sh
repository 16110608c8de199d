#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# dmmeta test runner (POSIX sh).  Called by `make check` / `make check-func` as
#   LC_ALL=C TZ=UTC BUILDDIR=<abs build dir> DMMETA_BIN=<abs build>/bin sh tests/run-tests.sh [SUBSTR...]
#
# Runs, in this order:
#   tests/func/<tool>/<case>/   golden cases: `cmd`, `expect`, optional `needs-tpt` (skip when
#                               the 0.9 reference is absent)
#   tests/cli/*.sh              scripts: exit 0 pass, 1 fail, 77 skip (prints `SKIP: reason`)
#   tests/diff/*.sh             same
#   tests/kernel/*.sh           same
# Each case runs in a fresh temp dir under ${TMPDIR:-/tmp} (its cwd), stdin </dev/null,
# under `timeout ${TEST_TIMEOUT:-300}`.
#
# Output: one line per case, `PASS name`, `FAIL name` (followed by a unified diff of
# expected vs actual, or by the script's output) or `SKIP name: reason`; then the plain line
# `N passed, N failed, N skipped`.  Exit status 1 if anything failed.
#
# Arguments: substrings; only cases whose name (e.g. `func/thin_dump/0001-empty`,
# `diff/dump-roundtrip`) contains one of them are run.
#
# Environment:
#   UPDATE=1      rewrite each golden case's `expect` from the actual output (review them!)
#   JOBS=N        cases run in parallel (default 2; 1 = sequential)
#   VERBOSE=1     also print the output of passing/skipped scripts
#   KEEP=1        keep the temp dirs of failed cases (path printed)
#   TIMES=1       print each case's wall time (seconds) on a line after its result
#   TEST_TIMEOUT  seconds per case (default 300; kernel/ cases twice that; a script with a
#                 line `# test-timeout: N` gets N x TEST_TIMEOUT / 300 when that is more)
#   TPT_REF_DIR   where the reference thin-provisioning-tools live (default /var/tmp/tpt-ref)
#   FULL=1        the full runs (make check-long): without it, make check and make
#                 check-asan are the CI suite, which must fit its time budget, and the heavy,
#                 repetitive cases run a representative sample, each saying so in one note
#                 line (tests/lib.sh: sampled, crash_init, crash_ns): the crash matrices cut
#                 every 4th write N (each mode one further) plus the first and last 3, the
#                 damage sweep every 3rd image, thin_repair_shared_keys, leak-repair-crash,
#                 diff/thin_metadata_size and diff/thin_shrink a subset.  With FULL=1 every
#                 N, every image, every case.
#   DMMETA_ASAN=1 the tools are ASan builds (make check-asan sets it): the kernel/ cases skip
#                 (KERNEL_ASAN=1 runs them), and so do, without FULL=1, the diff/ cases,
#                 fuzz-smoke (its targets are sanitized builds of their own, run by the plain
#                 make check) and the scripts with a line `# asan: check-long` (the crash
#                 matrices but crash-matrix.sh, the sweeps, the random model runs: hundreds of
#                 runs of the same tools each); crash-matrix.sh cuts every 8th write in the
#                 modes tear:512 and eio only.
#   CRASH_STEP=K  the crash matrices cut every K-th write N (1: every N)
#
# Variables exported to cases: BIN (our tools), FIX (fixtures dir, absolute), TT (built test
# tools), TPT09 / TPT11 (reference multi-call binaries, empty if absent), TPT (= TPT09),
# SRCDIR (source tree), TESTLIB (tests/lib.sh), CASE (golden case dir), BUILDDIR,
# FAULTINJ (the LD_PRELOAD fault-injection shim, $BUILDDIR/tests/preload/faultinj.so; its
# interface is documented at the top of tests/preload/faultinj.c).
#
# Golden `cmd` format: a shell script run with sh.  Its first line, when it starts with `#`, is
# the case's one-line description (printed above the diff when the case fails); the command
# may span several lines (`&&`/`|` at a line's end continue it; lines of one long quoted word
# are joined by a backslash at the end of each but the last, and start in column 0).
#
# Golden `expect` format: stdout, a line `--- stderr`, stderr, a final line `exit status N`.
# A stream not ending in a newline gets one added plus the marker line `[no newline at end]`.
# Before comparison the absolute paths of $CASE, the temp dir, $BIN, $TT, $FIX and $SRCDIR in
# the output are replaced by those literal names (`$WORK` for the temp dir), so expect files
# do not depend on where the tree or the build lives.

LC_ALL=C
TZ=UTC
export LC_ALL TZ

SRCDIR=$(cd "$(dirname "$0")/.." && pwd) || exit 2
BUILDDIR=${BUILDDIR:-$SRCDIR/build}
case $BUILDDIR in /*) ;; *) BUILDDIR=$SRCDIR/$BUILDDIR ;; esac
BIN=${DMMETA_BIN:-$BUILDDIR/bin}
TT=$BUILDDIR/tests/tools
FIX=$SRCDIR/fixtures
TESTLIB=$SRCDIR/tests/lib.sh
TPT_REF_DIR=${TPT_REF_DIR:-/var/tmp/tpt-ref}
TPT09=
TPT11=
[ -x "$TPT_REF_DIR/0.9/usr/sbin/pdata_tools" ] && TPT09=$TPT_REF_DIR/0.9/usr/sbin/pdata_tools
[ -x "$TPT_REF_DIR/1.1/usr/sbin/pdata_tools" ] && TPT11=$TPT_REF_DIR/1.1/usr/sbin/pdata_tools
TPT=$TPT09
FAULTINJ=$BUILDDIR/tests/preload/faultinj.so
DMMETA_NO_PROGRESS=1
export SRCDIR BUILDDIR BIN TT FIX TESTLIB TPT_REF_DIR TPT09 TPT11 TPT DMMETA_NO_PROGRESS FAULTINJ

# Sanitizer defaults (check-asan); the caller's settings win.  A sanitizer report exits 99,
# which no tool uses, so scripts that only compare exit statuses still notice it.
: "${ASAN_OPTIONS:=abort_on_error=0:detect_leaks=1:exitcode=99}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1:exitcode=99}"
export ASAN_OPTIONS UBSAN_OPTIONS

JOBS=${JOBS:-2}
case $JOBS in ''|*[!0-9]*|0) JOBS=1 ;; esac
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
UPDATE=${UPDATE:-0}
VERBOSE=${VERBOSE:-0}
KEEP=${KEEP:-0}
TIMES=${TIMES:-0}
TMPBASE=${TMPDIR:-/tmp}

command -v timeout >/dev/null 2>&1 || { echo "run-tests.sh: 'timeout' (coreutils) not found" >&2; exit 2; }

RES=$(mktemp -d "$TMPBASE/dmmeta-run.XXXXXX") || { echo "run-tests.sh: cannot create a temp dir in $TMPBASE" >&2; exit 2; }
trap 'rm -rf "$RES"' EXIT
trap 'exit 130' INT TERM HUP

# ---------------------------------------------------------------------------
# Case list: one line per case, "kind<TAB>name<TAB>path".
TAB=$(printf '\t')
# The long cases first (the kernel tier's boots, then the scripts), the many short golden
# cases last, so that with JOBS > 1 no long case starts when the others are nearly done.
list_cases() {
	for grp in kernel cli diff; do
		for s in "$SRCDIR"/tests/$grp/*.sh; do
			[ -f "$s" ] || continue
			n=${s##*/}
			printf 'script\t%s\t%s\n' "$grp/${n%.sh}" "$s"
		done
	done
	for d in "$SRCDIR"/tests/func/*/*/; do
		[ -f "${d}cmd" ] || continue
		d=${d%/}
		printf 'func\t%s\t%s\n' "func/${d#"$SRCDIR"/tests/func/}" "$d"
	done
}

selected() {
	sel_name=$1
	shift
	[ $# -eq 0 ] && return 0
	for sel_pat in "$@"; do
		case $sel_name in *"$sel_pat"*) return 0 ;; esac
	done
	return 1
}

# Escape a literal string for the pattern side of a sed s||| expression.
sed_lit() {
	printf '%s\n' "$1" | sed 's/[][\\.*^$|/]/\\&/g'
}

# Replace absolute paths by their variable names (longest, most specific first).
mk_filter() {
	: >"$2"
	for mf_pair in "CASE=${CASE:-}" "WORK=$1" "TT=$TT" "BIN=$BIN" "FIX=$FIX" "SRCDIR=$SRCDIR"; do
		mf_name=${mf_pair%%=*}
		mf_val=${mf_pair#*=}
		[ -n "$mf_val" ] || continue
		[ "$mf_val" = / ] && continue
		printf 's|%s|$%s|g\n' "$(sed_lit "$mf_val")" "$mf_name" >>"$2"
	done
}

# Append file $1 to file $2, terminating an unterminated last line with a marker.
append_stream() {
	cat "$1" >>"$2"
	if [ -s "$1" ] && [ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" != '\n' ]; then
		printf '\n[no newline at end]\n' >>"$2"
	fi
}

# Run one case in the background-able subshell; writes $RES/$idx.{kind,line,detail}.
run_case() {
	idx=$1 kind=$2 name=$3 path=$4
	out=$RES/$idx
	: >"$out.detail"
	t_start=$(date +%s)
	work=$(mktemp -d "$TMPBASE/dmmeta-case.XXXXXX") || {
		echo fail >"$out.kind"; echo "FAIL $name" >"$out.line"
		echo "  cannot create a temp dir in $TMPBASE" >"$out.detail"; return; }
	if [ "$kind" = func ]; then
		run_golden "$name" "$path" "$work" "$out"
	else
		run_script "$name" "$path" "$work" "$out"
	fi
	result=$(cat "$out.kind")
	[ "$TIMES" = 1 ] && echo "  time: $(( $(date +%s) - t_start ))s" >>"$out.detail"
	if [ "$result" = fail ] && [ "$KEEP" = 1 ]; then
		echo "  (temp dir kept: $work)" >>"$out.detail"
	else
		chmod -R u+rwx "$work" 2>/dev/null
		rm -rf "$work"
	fi
}

run_golden() {
	name=$1 CASE=$2 work=$3 out=$4
	export CASE
	if [ -f "$CASE/needs-tpt" ] && [ -z "$TPT" ]; then
		echo skip >"$out.kind"
		echo "SKIP $name: reference thin-provisioning-tools 0.9 not found in $TPT_REF_DIR (run tests/tools/fetch-tpt)" >"$out.line"
		return
	fi
	(cd "$work" && exec timeout -k 10 "$TEST_TIMEOUT" sh "$CASE/cmd" </dev/null >"$out.stdout" 2>"$out.stderr")
	st=$?
	: >"$out.actual.raw"
	append_stream "$out.stdout" "$out.actual.raw"
	echo '--- stderr' >>"$out.actual.raw"
	append_stream "$out.stderr" "$out.actual.raw"
	[ $st -eq 124 ] && echo "[timed out after ${TEST_TIMEOUT}s]" >>"$out.actual.raw"
	echo "exit status $st" >>"$out.actual.raw"
	mk_filter "$work" "$out.sed"
	sed -f "$out.sed" "$out.actual.raw" >"$out.actual"
	if [ "$UPDATE" = 1 ]; then
		if [ -f "$CASE/expect" ] && cmp -s "$CASE/expect" "$out.actual"; then
			echo pass >"$out.kind"; echo "PASS $name" >"$out.line"
		else
			cp "$out.actual" "$CASE/expect"
			echo pass >"$out.kind"; echo "PASS $name (expect updated)" >"$out.line"
		fi
		return
	fi
	if [ ! -f "$CASE/expect" ]; then
		echo fail >"$out.kind"; echo "FAIL $name" >"$out.line"
		{ echo "  no expect file; actual output was:"; sed 's/^/  | /' "$out.actual"
		  echo "  (create it with: UPDATE=1 sh tests/run-tests.sh $name, then review it)"; } >"$out.detail"
		return
	fi
	if diff -u --label "$name/expect" --label "$name/actual" "$CASE/expect" "$out.actual" >"$out.diff" 2>&1; then
		echo pass >"$out.kind"; echo "PASS $name" >"$out.line"
	else
		echo fail >"$out.kind"; echo "FAIL $name" >"$out.line"
		sed -n '1s/^#/  #/p' "$CASE/cmd" >"$out.detail"
		cat "$out.diff" >>"$out.detail"
	fi
}

run_script() {
	name=$1 script=$2 work=$3 out=$4
	CASE=
	# Under ASan some scripts are left to another pass (why= says which and why):
	# - the kernel tier: our tools run inside the qemu guest, where ASan adds nothing;
	# - the differential cases judge our output against tpt's, which the plain pass does;
	#   under ASan they would repeat the goldens' code paths at ten times the cost;
	# - a script with a line `# asan: check-long` (a crash matrix, a sweep: hundreds of
	#   runs of the same tools, minutes under ASan).
	why=
	if [ "${DMMETA_ASAN:-0}" = 1 ]; then
		case $name in
		kernel/*)
			[ "${KERNEL_ASAN:-0}" = 1 ] ||
				why="kernel tier runs in the plain make check only (ASan adds nothing in the qemu guest; KERNEL_ASAN=1 forces it)" ;;
		diff/*)
			[ "${FULL:-0}" = 1 ] ||
				why="differential cases run in the plain make check; under ASan in make check-long (FULL=1)" ;;
		*)
			[ "${FULL:-0}" = 1 ] || ! grep -q '^# asan: check-long' "$script" ||
				why="under ASan in make check-long only (FULL=1); the plain make check runs it" ;;
		esac
	fi
	if [ -n "$why" ]; then
		echo skip >"$out.kind"
		echo "SKIP $name: $why" >"$out.line"
		return 0
	fi
	# Run through the interpreter named on the #! line (default sh); exec bits not needed.
	interp='sh'
	first=$(head -n 1 "$script")
	case $first in '#!'*) interp=${first#\#!} ;; esac
	# A kernel-tier case boots qemu (TCG): on a loaded machine its guest alone may take
	# minutes, so it gets twice the per-case limit.
	limit=$TEST_TIMEOUT
	case $name in kernel/*) limit=$((TEST_TIMEOUT * 2)) ;; esac
	# A script may ask for more: a line `# test-timeout: N` (seconds, at the default
	# TEST_TIMEOUT of 300; scaled with a larger TEST_TIMEOUT).
	want=$(sed -n 's/^# test-timeout: *\([0-9][0-9]*\).*/\1/p' "$script" | head -n 1)
	if [ -n "$want" ]; then
		want=$((want * TEST_TIMEOUT / 300))
		[ "$want" -gt "$limit" ] && limit=$want
	fi
	# shellcheck disable=SC2086 # the interpreter line may carry an argument (env bash)
	(cd "$work" && exec timeout -k 10 "$limit" $interp "$script" </dev/null >"$out.log" 2>&1)
	st=$?
	case $st in
	0)
		echo pass >"$out.kind"; echo "PASS $name" >"$out.line"
		[ "$VERBOSE" = 1 ] && sed 's/^/  | /' "$out.log" >"$out.detail"
		;;
	77)
		reason=$(sed -n 's/^SKIP: *//p' "$out.log" | tail -n 1)
		[ -n "$reason" ] || reason="skipped (exit 77)"
		echo skip >"$out.kind"; echo "SKIP $name: $reason" >"$out.line"
		[ "$VERBOSE" = 1 ] && sed 's/^/  | /' "$out.log" >"$out.detail"
		;;
	*)
		echo fail >"$out.kind"; echo "FAIL $name" >"$out.line"
		{ sed 's/^/  | /' "$out.log"
		  if [ $st -eq 124 ]; then echo "  timed out after ${limit}s"
		  else echo "  exit status $st"; fi; } >"$out.detail"
		;;
	esac
}

# ---------------------------------------------------------------------------
npass=0 nfail=0 nskip=0 nsel=0
report() {
	f=$RES/$1
	if [ ! -f "$f.kind" ]; then
		echo "FAIL $2"; echo "  (runner: case produced no result)"
		nfail=$((nfail + 1)); return
	fi
	cat "$f.line"
	[ -s "$f.detail" ] && cat "$f.detail"
	case $(cat "$f.kind") in
	pass) npass=$((npass + 1)) ;;
	skip) nskip=$((nskip + 1)) ;;
	*) nfail=$((nfail + 1)) ;;
	esac
	rm -f "$f".*
}

# Parallel runs: each case is a background job that ends by creating $RES/<idx>.done (from an
# outer subshell, so even a case that dies abnormally is marked).  Results are printed in
# case order; a new case starts as soon as any running one finishes.
queue=''     # "idx:pid idx:pid ..." not yet reported, oldest first
running=0
reap() {
	while [ -n "$queue" ]; do
		head=${queue%% *}
		[ -f "$RES/${head%%:*}.done" ] || break
		wait "${head#*:}"
		report "${head%%:*}" "$(cat "$RES/${head%%:*}.name")"
		queue=${queue#"$head"}
		queue=${queue# }
	done
	running=0
	for q in $queue; do
		[ -f "$RES/${q%%:*}.done" ] || running=$((running + 1))
	done
}

list_cases >"$RES/cases"
idx=0
while IFS="$TAB" read -r kind name path; do
	selected "$name" "$@" || continue
	idx=$((idx + 1)); nsel=$((nsel + 1))
	echo "$name" >"$RES/$idx.name"
	if [ "$JOBS" -le 1 ]; then
		(run_case "$idx" "$kind" "$name" "$path" </dev/null)
		report "$idx" "$name"
		continue
	fi
	{ (run_case "$idx" "$kind" "$name" "$path" </dev/null); : >"$RES/$idx.done"; } &
	queue="${queue:+$queue }$idx:$!"
	reap
	while [ "$running" -ge "$JOBS" ]; do
		sleep 0.1
		reap
	done
done <"$RES/cases"
while [ -n "$queue" ]; do
	reap
	[ -n "$queue" ] && sleep 0.1
done

echo "$npass passed, $nfail failed, $nskip skipped"
if [ $# -gt 0 ] && [ "$nsel" -eq 0 ]; then
	echo "run-tests.sh: no case name contains any of: $*" >&2
	exit 1
fi
[ "$nfail" -eq 0 ] || exit 1
exit 0

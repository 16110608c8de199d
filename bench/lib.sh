# SPDX-License-Identifier: GPL-2.0-only
#
# bench/lib.sh — what the benches (bench/run.sh, bench/scale.sh, bench/engine.sh) share.
# Bash; source it right after the bench's re-exec under bash, with the bench's name (the
# prefix of its messages):
#   . "$(dirname "$0")/lib.sh" NAME
# It sets -u, exports LC_ALL=C TZ=UTC DMMETA_NO_PROGRESS=1 and sets SRCDIR (the source
# tree), BUILDDIR (absolute; default: build), BIN (our tools) and TT (the test tools).
#   die MSG / log MSG        print "NAME: MSG" on stderr (die: then exit 1)
#   bench_nice VALUE         NICE = VALUE, or when it is empty -10 as root and 0 otherwise
#   need_built DIR TOOL...   die unless every DIR/TOOL is built
#   timeit_build             TIMEIT = bench/timeit in the build directory, (re)built when
#                            missing or older than bench/timeit.c
#   bench_refs               R11 and R09 = tpt 1.1's and 0.9's pdata_tools and refdir their
#                            directory, from tests/tools/fetch-tpt (its stderr in
#                            $CACHE/fetch-tpt.err); when it fails R11 and R09 are empty and
#                            a line says that only ours is timed
#   median                   the median of the numbers on stdin (nothing when there are none)
set -u
export LC_ALL=C TZ=UTC DMMETA_NO_PROGRESS=1

BENCH_NAME=$1
SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
BUILDDIR=${BUILDDIR:-build}
case $BUILDDIR in /*) ;; *) BUILDDIR=$SRCDIR/$BUILDDIR ;; esac
BIN=$BUILDDIR/bin
TT=$BUILDDIR/tests/tools

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
log() { echo "$BENCH_NAME: $*" >&2; }

bench_nice() {
	if [ "$(id -u)" = 0 ]; then NICE=${1:--10}; else NICE=${1:-0}; fi
}

need_built() {
	local dir=$1 t
	shift
	for t in "$@"; do
		[ -x "$dir/$t" ] || die "$dir/$t not built (run make first, or set BUILDDIR)"
	done
}

# timeit: our precise runner (wall, CPU, peak RSS of the child alone; see bench/timeit.c)
timeit_build() {
	TIMEIT=$BUILDDIR/bench/timeit
	if [ ! -x "$TIMEIT" ] || [ "$SRCDIR/bench/timeit.c" -nt "$TIMEIT" ]; then
		{ mkdir -p "$BUILDDIR/bench" &&
			${CC:-cc} -O2 -Wall -Wextra -o "$TIMEIT" "$SRCDIR/bench/timeit.c"; } ||
			die "cannot build $TIMEIT"
	fi
}

bench_refs() {
	R11='' R09='' refdir=''
	if refdir=$("$SRCDIR/tests/tools/fetch-tpt" 2>"$CACHE/fetch-tpt.err"); then
		R11=$refdir/1.1/usr/sbin/pdata_tools
		R09=$refdir/0.9/usr/sbin/pdata_tools
	else
		log "references unavailable ($(tail -n 1 "$CACHE/fetch-tpt.err")); timing ours only"
	fi
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (!NR) exit; print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

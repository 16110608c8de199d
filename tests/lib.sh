# SPDX-License-Identifier: GPL-2.0-only
# Shell helpers for tests/cli/*.sh, tests/diff/*.sh and tests/kernel/*.sh (POSIX sh).
# Source it with:   . "${TESTLIB:-$(dirname "$0")/../lib.sh}"
# Scripts run with cwd = a fresh temp dir; exit 0 pass, 1 fail, 77 skip.
#
# Variables (set by tests/run-tests.sh; derived here when a script is run by hand):
#   SRCDIR BUILDDIR BIN FIX TT TPT09 TPT11 TPT TPT_REF_DIR
#
# Helpers:
#   skip REASON             print `SKIP: REASON`, exit 77
#   fail MSG                print `FAIL: MSG` (stderr), exit 1
#   note MSG                print MSG (shown by the runner on failure / VERBOSE=1)
#   require_tpt [0.9|1.1|both]   skip unless the reference(s) exist (default 0.9)
#   require_tool NAME...    skip unless $BIN/NAME exists (tools not written yet)
#   require_cmd NAME...     skip unless the commands are on PATH
#   tpt09 ARGS / tpt11 ARGS run a reference tool: `tpt09 thin_dump x.bin`
#   mk_pool XML OUT [BLOCKS]     zeroed (sparse) OUT of BLOCKS 4 KiB blocks (default: sized
#                           from the XML's mapped_blocks), restored with the 0.9 thin_restore
#   mk_pool11 XML OUT [BLOCKS]   same with the 1.1 thin_restore (needed for <def>/<ref>)
#   zero_file OUT BLOCKS    create a zeroed file of BLOCKS 4 KiB blocks
#   fixture NAME OUT        uncompress fixtures/thin/NAME.bin.gz to OUT
#   fixture_xml NAME        path of fixtures/thin/NAME.xml
#   run CMD ARGS...         run, stdout -> ./run.out, stderr -> ./run.err, status -> $rc
#   expect_rc N [WHAT]      fail unless $rc = N (prints run.out/run.err on failure)
#   expect_empty FILE [WHAT]      fail unless FILE is empty
#   expect_nonempty FILE [WHAT]   fail unless FILE is non-empty
#   expect_lines FILE N [WHAT]    fail unless FILE has exactly N lines
#   expect_grep PATTERN FILE [WHAT]  fail unless grep -E PATTERN matches FILE
#   expect_same A B [WHAT]  fail (showing diff -u) unless files A and B are identical
#   tpt_compare [OPTS] TOOL ARGS...   run our TOOL and 0.9's with the same ARGS and compare
#                           (described at the function; counts in $ncmp, differences in $nfail)
#   tpt_dev_ids IMAGE       the device ids of a pool image, one per line (0.9's thin_dump)
#   xml_block_map [-d] FILE.xml  one line "dev vblock dblock time" per mapped block of a thin
#                           XML dump, sorted (-d: also a line "dev ID" per device)
#   sha FILE                print the sha256 of FILE
#   tools_list              print our built tools (one per line)
#   crash_init TOOL WHAT / shim ENV... -- CMD... / crash_tpt_verdicts WRONG [show]   the
#                           crash matrices' setup, run under the fault-injection shim and
#                           tpt 1.1's verdicts (described at the functions)
#   crash_ns LAST           the write numbers N in 1..LAST a crash matrix cuts at, in $CRASH_NS
#                           (sampled unless FULL=1: described at the function)
#   sanitized [TOOL]        true when the tools under test are ASan builds
#   sampled WHAT            true (with a note) when a heavy case runs a sampled subset: any
#                           run without FULL=1 (described at the function)

: "${SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${BUILDDIR:=$SRCDIR/build}"
: "${BIN:=${DMMETA_BIN:-$BUILDDIR/bin}}"
: "${TT:=$BUILDDIR/tests/tools}"
: "${FIX:=$SRCDIR/fixtures}"
: "${TPT_REF_DIR:=/var/tmp/tpt-ref}"
if [ -z "${TPT09+set}" ]; then
	TPT09=
	[ -x "$TPT_REF_DIR/0.9/usr/sbin/pdata_tools" ] && TPT09=$TPT_REF_DIR/0.9/usr/sbin/pdata_tools
fi
if [ -z "${TPT11+set}" ]; then
	TPT11=
	[ -x "$TPT_REF_DIR/1.1/usr/sbin/pdata_tools" ] && TPT11=$TPT_REF_DIR/1.1/usr/sbin/pdata_tools
fi
: "${TPT:=$TPT09}"
: "${FAULTINJ:=$BUILDDIR/tests/preload/faultinj.so}"
export FAULTINJ
LC_ALL=C
TZ=UTC
DMMETA_NO_PROGRESS=1
export SRCDIR BUILDDIR BIN TT FIX TPT_REF_DIR TPT09 TPT11 TPT LC_ALL TZ DMMETA_NO_PROGRESS

skip() {
	echo "SKIP: $*"
	exit 77
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

note() {
	echo "$*"
}

require_tpt() {
	case ${1:-0.9} in
	0.9) [ -n "$TPT09" ] && [ -x "$TPT09" ] ||
		skip "reference thin-provisioning-tools 0.9 not found in $TPT_REF_DIR (run tests/tools/fetch-tpt)" ;;
	1.1) [ -n "$TPT11" ] && [ -x "$TPT11" ] ||
		skip "reference thin-provisioning-tools 1.1 not found in $TPT_REF_DIR (run tests/tools/fetch-tpt)" ;;
	both) require_tpt 0.9; require_tpt 1.1 ;;
	*) fail "require_tpt: unknown version '$1'" ;;
	esac
}

require_tool() {
	for rt_t in "$@"; do
		[ -x "$BIN/$rt_t" ] || skip "tool $rt_t not built (no $BIN/$rt_t)"
	done
}

require_cmd() {
	for rc_c in "$@"; do
		command -v "$rc_c" >/dev/null 2>&1 || skip "command $rc_c not found"
	done
}

tpt09() {
	"$TPT09" "$@"
}

tpt11() {
	"$TPT11" "$@"
}

zero_file() {
	rm -f "$1"
	dd if=/dev/zero of="$1" bs=4096 count=0 seek="$2" 2>/dev/null || fail "cannot create $1"
}

# Metadata blocks a pool restored from XML needs, with slack (0.9 leaves end up about half
# full): 1 block per 64 mapped blocks + 4 per device + 64.  The file is sparse anyway.
_pool_blocks() {
	awk '/<device / { d++; if (match($0, /mapped_blocks="[0-9]+"/)) m += substr($0, RSTART + 15, RLENGTH - 16) }
	     END { printf "%d\n", m / 64 + 4 * d + 64 }' "$1"
}

_mk_pool() {
	mp_tool=$1 mp_xml=$2 mp_out=$3 mp_blocks=${4:-}
	[ -f "$mp_xml" ] || fail "mk_pool: no such XML file $mp_xml"
	[ -n "$mp_blocks" ] || mp_blocks=$(_pool_blocks "$mp_xml")
	[ "$mp_blocks" -ge 10 ] || mp_blocks=10
	zero_file "$mp_out" "$mp_blocks"
	"$mp_tool" thin_restore -q -i "$mp_xml" -o "$mp_out" >mk_pool.log 2>&1 ||
		{ cat mk_pool.log >&2; fail "thin_restore of $mp_xml into $mp_blocks blocks failed"; }
	rm -f mk_pool.log
}

mk_pool() {
	require_tpt 0.9
	_mk_pool "$TPT09" "$@"
}

mk_pool11() {
	require_tpt 1.1
	_mk_pool "$TPT11" "$@"
}

fixture() {
	[ -f "$FIX/thin/$1.bin.gz" ] || fail "no fixture $FIX/thin/$1.bin.gz"
	gzip -dc "$FIX/thin/$1.bin.gz" >"$2" || fail "cannot uncompress fixture $1"
}

fixture_xml() {
	[ -f "$FIX/thin/$1.xml" ] || fail "no fixture $FIX/thin/$1.xml"
	echo "$FIX/thin/$1.xml"
}

run() {
	"$@" >run.out 2>run.err
	rc=$?
	return 0
}

_show_run() {
	echo "  command status: $rc" >&2
	[ -s run.out ] && { echo "  stdout:" >&2; head -n 20 run.out | sed 's/^/    /' >&2; }
	[ -s run.err ] && { echo "  stderr:" >&2; head -n 20 run.err | sed 's/^/    /' >&2; }
	return 0
}

expect_rc() {
	[ "$rc" = "$1" ] || { _show_run; fail "${2:-command}: exit status $rc, expected $1"; }
}

expect_empty() {
	[ ! -s "$1" ] || { _show_run; fail "${2:-$1}: expected no output"; }
}

expect_nonempty() {
	[ -s "$1" ] || { _show_run; fail "${2:-$1}: expected output, got none"; }
}

expect_lines() {
	el_n=$(wc -l <"$1" | tr -d ' ')
	[ "$el_n" = "$2" ] || { _show_run; fail "${3:-$1}: $el_n lines, expected $2"; }
}

expect_grep() {
	grep -Eq -- "$1" "$2" || { _show_run; fail "${3:-$2}: no match for /$1/"; }
}

expect_same() {
	cmp -s "$1" "$2" && return 0
	diff -u "$1" "$2" | head -n 60 >&2
	fail "${3:-$1 and $2 differ}"
}

# tpt_compare [-x] [-s] [-m] [-n] [-i] TOOL ARGS...: the differential comparison of diff/ scripts.
# Runs "$BIN/TOOL ARGS..." (stdout -> ours.out, stderr -> ours.err, status -> $ours_rc) and
# the 0.9 reference "$TPT09 TOOL ARGS..." (ref.out, ref.err, $ref_rc) in the current directory
# (-i: the first of ARGS is an image, passed to both tools after the others), then compares, in
# this order, stopping at the first difference:
#   - the exit statuses: both succeed or both fail (-x: the same number);
#   - stdout byte for byte (-s: only when ours succeeded; -n: never, statuses only);
#   - with -m, that a failure of ours says something on stderr.
# Each call adds 1 to $ncmp; a difference adds 1 to $nfail and prints a `DIFF: TOOL ARGS...:`
# line saying what differs, then the first lines of both stderrs (status) or of
# `diff -u ref.out ours.out` (stdout).  The caller sets ncmp=0 nfail=0 and fails at the end.
tpt_compare() {
	tc_exact=0 tc_stdout=always tc_msg=0 tc_img=0
	while :; do
		case $1 in
		-i) tc_img=1 ;;
		-x) tc_exact=1 ;;
		-s) tc_stdout=success ;;
		-n) tc_stdout=never ;;
		-m) tc_msg=1 ;;
		*) break ;;
		esac
		shift
	done
	tc_tool=$1
	shift
	if [ "$tc_img" = 1 ]; then
		tc_i=$1
		shift
		set -- "$@" "$tc_i"
	fi
	"$BIN/$tc_tool" "$@" >ours.out 2>ours.err
	ours_rc=$?
	"$TPT09" "$tc_tool" "$@" >ref.out 2>ref.err
	ref_rc=$?
	ncmp=$((ncmp + 1))
	if [ "$tc_exact" = 1 ]; then
		[ "$ours_rc" = "$ref_rc" ]
	else
		[ "$ours_rc" = 0 ] && [ "$ref_rc" = 0 ] || { [ "$ours_rc" != 0 ] && [ "$ref_rc" != 0 ]; }
	fi || {
		echo "DIFF: $tc_tool $*: exit status $ours_rc, 0.9 gives $ref_rc"
		sed 's/^/  ours stderr: /' ours.err | head -n 3
		sed 's/^/  0.9 stderr: /' ref.err | head -n 3
		nfail=$((nfail + 1))
		return 0
	}
	case $tc_stdout in
	always) tc_cmp=1 ;;
	success) [ "$ours_rc" = 0 ] && tc_cmp=1 || tc_cmp=0 ;;
	*) tc_cmp=0 ;;
	esac
	if [ "$tc_cmp" = 1 ] && ! cmp -s ours.out ref.out; then
		echo "DIFF: $tc_tool $*: stdout differs from 0.9"
		diff -u ref.out ours.out | head -n 20
		nfail=$((nfail + 1))
	elif [ "$tc_msg" = 1 ] && [ "$ours_rc" != 0 ] && [ ! -s ours.err ]; then
		echo "DIFF: $tc_tool $*: failed (status $ours_rc) without a message"
		nfail=$((nfail + 1))
	fi
	return 0
}

tpt_dev_ids() {
	"$TPT09" thin_dump --skip-mappings "$1" | sed -n 's/.*<device dev_id="\([0-9]*\)".*/\1/p'
}

xml_block_map() {
	xb_devs=0
	[ "$1" = -d ] && { xb_devs=1; shift; }
	awk -F'"' -v devs="$xb_devs" '
		/<device / {
			for (i = 1; i < NF; i++) if ($i ~ /dev_id=$/) dev = $(i + 1)
			if (devs) print "dev", dev
		}
		/<single_mapping / {
			for (i = 1; i < NF; i++) {
				if ($i ~ /origin_block=$/) o = $(i + 1)
				if ($i ~ /data_block=$/) d = $(i + 1)
				if ($i ~ /time=$/) t = $(i + 1)
			}
			print dev, o, d, t
		}
		/<range_mapping / {
			for (i = 1; i < NF; i++) {
				if ($i ~ /origin_begin=$/) o = $(i + 1)
				if ($i ~ /data_begin=$/) d = $(i + 1)
				if ($i ~ /length=$/) n = $(i + 1)
				if ($i ~ /time=$/) t = $(i + 1)
			}
			for (k = 0; k < n; k++) print dev, o + k, d + k, t
		}' "$1" | LC_ALL=C sort
}

sha() {
	sha256sum "$1" | cut -d' ' -f1
}

tools_list() {
	for tl_f in "$BIN"/*; do
		[ -f "$tl_f" ] && [ -x "$tl_f" ] && echo "${tl_f##*/}"
	done
	return 0
}

# Loop devices for tests that need a block device: loop_attach FILE VAR [losetup options]
# attaches one over FILE and puts its path in VAR (skips the test when losetup cannot);
# every device attached so is detached when the script exits.
LOOPS=
loop_detach_all() {
	for _l in $LOOPS; do losetup -d "$_l" 2>/dev/null; done
}
loop_attach() {
	_f=$1 _v=$2
	shift 2
	_l=$(losetup -f --show "$@" "$_f" 2>/dev/null) || skip "losetup cannot attach a loop device here"
	[ -n "$LOOPS" ] || trap loop_detach_all EXIT
	LOOPS="$LOOPS $_l"
	eval "$_v=\$_l"
}

# expect_same_storage_refusal WHAT OUTPUT-PATH CMD...: the writer exits 2 with one line
# naming the output as the same file or device as an input.
expect_same_storage_refusal() {
	_what=$1 _p=$2
	shift 2
	run "$@"
	expect_rc 2 "$_what"
	expect_lines run.err 1 "$_what"
	expect_grep "$_p: .*same file or device" run.err "$_what"
}

# sanitized [TOOL]: true when the tools under test are ASan builds: DMMETA_ASAN=1 (make
# check-asan sets it) or $BIN/TOOL (default thin_check) linked with libasan (a sanitized tree
# run by hand).  Each sanitized run of a tool costs about ten plain ones.
sanitized() {
	[ "${DMMETA_ASAN:-0}" = 1 ] && return 0
	ldd "$BIN/${1:-thin_check}" 2>/dev/null | grep -q libasan
}

# sampled WHAT: true, after the note "sampled: WHAT (FULL=1: the full run)", unless FULL=1;
# else false, silently.  Two tiers (tests/run-tests.sh, README): `make check` and `make
# check-asan` are the CI suite, which must fit its time budget, so the heavy, repetitive
# cases run a representative subset there (every branch they exist for, fewer seeds, sizes
# or repetitions); `make check-long` sets FULL=1 and runs them in full, plain and sanitized.
sampled() {
	[ "${FULL:-0}" = 1 ] && return 1
	note "sampled: $* (FULL=1: the full run)"
}

# The crash matrices (tests/cli/crash-matrix*.sh), under the fault-injection shim $FAULTINJ:
# crash_init TOOL WHAT: ASan's link-order check off (the shim is preloaded before the ASan
# runtime); MODES, unless set: every crash mode; HAVE_TPT=1 when tpt 1.1 is there, else 0
# and a note that WHAT are checked by our thin_check only (no note without WHAT: a matrix tpt
# does not judge); CRASH_STEP for crash_ns, unless set: 1 with FULL=1 (every N, the proof
# that each write is safe to lose, `make check-long`); else, in the CI suite, 4 (each mode
# cuts a different quarter of the writes, so the seven modes together still cut every N
# about twice; a script may set CRASH_STEP_CI to another step for the CI suite); when TOOL
# is an ASan build, twice that, 8, with the modes tear:512 (a cut in the middle
# of a block: the checkers and the resuming tool read torn states) and eio (the tool's own
# error paths, where leaks and use-after-free hide) only: the other modes leave states
# those two already give ASan to read, and the plain run judges the states themselves.
crash_init() {
	: "${ASAN_OPTIONS:=}"
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
	export ASAN_OPTIONS
	cr_step=${CRASH_STEP_CI:-4}
	cr_what="every ${cr_step}th write N, each mode starting one further"
	if [ "${FULL:-0}" != 1 ] && sanitized "$1"; then
		[ -n "${MODES:-}" ] || MODES="tear:512 eio"
		cr_step=$((cr_step * 2))
		cr_what="every ${cr_step}th write N, modes tear:512 and eio"
	fi
	MODES=${MODES:-kill tear:512 tear:2048 tear:4095 powerloss reorder eio}
	if [ -z "${CRASH_STEP:-}" ]; then
		CRASH_STEP=1
		sampled "crash matrix: $cr_what, and the first and last ${CRASH_ENDS:-3} (CRASH_STEP=1: every N)" &&
			CRASH_STEP=$cr_step
	fi
	HAVE_TPT=0
	[ -n "$TPT11" ] && [ -x "$TPT11" ] && HAVE_TPT=1
	[ $HAVE_TPT = 1 ] || [ -z "${2:-}" ] || note "tpt 1.1 not found: $2 are checked by our thin_check only"
}

# crash_ns LAST: the write numbers N a crash matrix cuts at, in $CRASH_NS (a list for `for`):
# from 1..LAST, every STEP-th (a script's own thinning of a long sequence; default 1) times
# every CRASH_STEP-th (crash_init; FULL=1: both 1, every N), always with the first and last
# CRASH_ENDS (default 3).  A thinned list moves one N further at each call, so the modes of one
# writer cut different writes and together cover most of them.
_crash_phase=0
crash_ns() {
	cn_step=$(( ${STEP:-1} * ${CRASH_STEP:-1} ))
	[ "${FULL:-0}" = 1 ] && cn_step=1
	CRASH_NS=$(awk -v last="$1" -v step="$cn_step" -v ends="${CRASH_ENDS:-3}" -v ph="$_crash_phase" '
		BEGIN { for (n = 1; n <= last; n++)
			if (step <= 1 || n <= ends || n > last - ends || (n + ph) % step == 0) printf "%d ", n }')
	[ "$cn_step" -le 1 ] || _crash_phase=$((_crash_phase + 1))
}

# crash_tpt_verdicts WRONG [show]: judge tpt 1.1's verdicts queued in tpt/queue (lines
# "H|WANT|OURS|LABEL": tpt/H.tpt holds its answer on an image; WANT "state": old, new or
# rejected, and the same as OURS; WANT "new": the new state) with the script's judge, and
# report each miss with the script's bad; WRONG words what tpt 1.1 did when it found neither
# state (show: followed by the start of its answer)
crash_tpt_verdicts() {
	while IFS='|' read -r h want vo label; do
		vt=$(judge "tpt/$h.tpt" tpt)
		case $want in
		state)
			if [ "$vt" = WRONG ]; then
				if [ "${2:-}" = show ]; then
					bad "$label: tpt 1.1 $1 ($(head -c 60 "tpt/$h.tpt" | head -n 1))"
				else
					bad "$label: tpt 1.1 $1"
				fi
			fi
			[ "$vt" = "$vo" ] || [ "$vt" = WRONG ] || [ "$vo" = WRONG ] ||
				bad "$label: checkers disagree: ours says $vo, tpt 1.1 says $vt" ;;
		new)
			[ "$vt" = new ] || bad "$label: tpt 1.1 says $vt, want new" ;;
		esac
		[ -z "${VERBOSE_MATRIX:-}" ] || echo "$label: tpt=$vt (want $want, ours $vo)"
	done <tpt/queue
}

# shim ENV... -- CMD...: run CMD under the shim; status in $crc, output in crash.out/err
shim() {
	crc=0
	env LD_PRELOAD="$FAULTINJ" "$@" >crash.out 2>crash.err || crc=$?
}

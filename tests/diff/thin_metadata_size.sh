#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# test-timeout: 600
# thin_metadata_size against thin-provisioning-tools 1.1 (the 1.x output form we follow): over
# a grid of block sizes, pool sizes, thin counts, output units and -n forms (valid and invalid
# values), where 1.1 succeeds our stdout must be byte-identical and we must succeed; where 1.1
# refuses a value (exit 64: block size not a multiple of 64 KiB or above 1 GiB, pool smaller
# than a block) we must exit 2 with one message line plus the --help hint on stderr and nothing
# on stdout.  Intended differences, counted apart: 1.1 labels the t unit "terabytes" (we print
# "tebibytes"); we refuse a value that overflows 64 bits where 1.1 wraps and prints a
# meaningless number; we refuse --max-thins 0 (1.1 estimates it); the syntax 1.1's parser rejects
# (exit 2: unit names, -m with a unit, -nlong, repeated options) is 0.9's, which we keep: there
# we must either succeed with one well-formed line or exit 2 with a message, and succeed where
# 0.9 does unless the block size breaks the kernel's rule.  Sanitized (tests/lib.sh: sampled):
# the two large grids at every 8th pair, one further on in each row, so every value of both
# axes is still used.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tpt both
require_tool thin_metadata_size

our_tool=$BIN/thin_metadata_size
n=0
nfail=0
nok=0
nerr=0
nsyntax=0
nzero=0
nwrap=0

usage_err_ok() {
	{ read -r l1; read -r l2; read -r l3; } <our.err
	case $l1 in "thin_metadata_size: "?*) ;; *) bad="usage error line: '$l1'" ;; esac
	case $l2 in "Try 'thin_metadata_size --help'"*) ;; *) bad="no --help hint: '$l2'" ;; esac
	[ -z "$l3" ] || bad="more than one message line"
	[ -z "${ours%.*}" ] || bad="output on stdout with a usage error"
}

# check ARGS...: compare one invocation.  Output is captured with the exit status appended, so
# the comparison is byte-exact including trailing newlines.
check() {
	ref=$("$TPT11" thin_metadata_size "$@" 2>ref.err; echo ".$?")
	ref_rc=${ref##*.}
	ours=$("$our_tool" "$@" 2>our.err; echo ".$?")
	our_rc=${ours##*.}
	n=$((n + 1))
	bad=
	case $ref_rc:$our_rc in
	*[!0-9:]*|:*|*:) fail "could not run: thin_metadata_size $* (1.1: '$ref_rc', ours: '$our_rc')" ;;
	esac
	ours_cmp=$(printf '%s' "$ours" | sed 's/tebibytes/terabytes/')
	ours_cmp=${ours_cmp%.*}
	if [ "$ref_rc" -eq 0 ] && [ "$our_rc" -eq 2 ] && grep -q 'max thins.*zero' our.err; then
		nzero=$((nzero + 1))
		usage_err_ok
	elif [ "$ref_rc" -eq 0 ] && [ "$our_rc" -eq 2 ] && grep -q 'overflow' our.err; then
		# 1.1's 64-bit arithmetic wraps (max_thins x 8): it prints a meaningless number.
		nwrap=$((nwrap + 1))
		usage_err_ok
	elif [ "$ref_rc" -eq 0 ]; then
		[ "$our_rc" -eq 0 ] || bad="1.1 succeeded, we exit $our_rc"
		[ "${ref%.*}" = "$ours_cmp" ] || bad="stdout differs"
	elif [ "$ref_rc" -eq 64 ]; then
		[ "$our_rc" -eq 2 ] || bad="1.1 refused (exit 64), we exit $our_rc, expected 2"
		usage_err_ok
	else
		# 1.1's parser refuses the syntax: 0.9's rules (ours) decide.
		nsyntax=$((nsyntax + 1))
		if [ "$our_rc" -eq 0 ]; then
			printf '%s' "${ours%.*}" | grep -Eqx '[0-9][0-9.]*( ?[a-z]+|[a-zA-Z])?' ||
				bad="malformed output"
		elif [ "$our_rc" -eq 2 ]; then
			usage_err_ok
			if "$TPT09" thin_metadata_size "$@" >/dev/null 2>&1 &&
				! grep -q -e 'multiple of 128' -e 'more than 2097152' -e overflow \
					-e 'smaller than the block' -e 'more than once' -e 'zero' our.err; then
				bad="0.9 accepts this syntax, we refuse it"
			fi
		else
			bad="we exit $our_rc"
		fi
	fi
	[ "$ref_rc" -eq 0 ] && nok=$((nok + 1)) || nerr=$((nerr + 1))
	if [ -n "$bad" ]; then
		nfail=$((nfail + 1))
		if [ "$nfail" -le 20 ]; then
			echo "MISMATCH ($bad): thin_metadata_size $*"
			echo "  1.1 (exit $ref_rc): ${ref%.*} $(cat ref.err)"
			echo "  ours (exit $our_rc): ${ours%.*} $(cat our.err)"
		fi
	fi
}

# Block sizes: bare sectors (multiples of 128 and not, powers of two below 128 and above 1 GiB; zero;
# huge and overflowing), with every kind of suffix, and malformed.
blocks='128 64 1 2097152 2097280 4194304 384 256 640 100 192 0 00128 36028797018963968 99999999999999999999
64k 2m 2g 64K 65536b 1000b 100b 1s 128sectors 128sec 2megabytes 1t 16e 8e 1z 1Z 1Y 12x -128
0x80 128sectorsX 64k 96k 192k 1g 512k 128s'
pools='2097152 1 16128 16256 1g 100G 200t 16e 15e 8E 1z 1Z 9223372036854775807
36028797018963967 123456789012345678901234 1000000b 7kilo 1x -5'
thins='1 0 2 1000 100000 1k 1K 1s 1b 15e 2p 4p 1z 1Z 4503599627370494 4503599627370495
18446744073709551615 abc -1'
units='b s k K m M g G t T p P e E z Z y Y bytes sectors kib kilo meg mega gi tera
petabytes eb zet yotta x secs'

# pick: true for every GRID-th pair of the two large grids (all when GRID=1); row and
# column counted by the loops in $gr and $gc
GRID=1
sampled "the block x pool and thins x units grids at every 8th pair" && GRID=8
pick() {
	gc=$((gc + 1))
	[ $(((gr + gc) % GRID)) -eq 0 ]
}
# The main grid: block x pool x thins (default unit, plain and -n).
gr=0
for b in $blocks; do
	gr=$((gr + 1)) gc=0
	for s in $pools; do
		pick || continue
		check -b "$b" -s "$s" -m 1
		check -b "$b" -s "$s" -m 1k -n
	done
done
# Thin counts and output units.
gr=0
for m in $thins; do
	gr=$((gr + 1)) gc=0
	for u in $units; do
		pick || continue
		check -b 128 -s 1t -m "$m" -u "$u"
		check -b 2m -s 100G -m "$m" -u "$u" -n
	done
done
for u in $units; do
	for b in 1 64k 1g; do
		check -b "$b" -s 10t -m 100 -u "$u" --numeric-only=long
		check -u "$u" -b "$b" -s 10t -m 100 -nshort
		check --unit="$u" --block-size="$b" --pool-size=3T --max-thins=5
	done
done
# Number formatting: fractions >= 0.01 ("%.2f"), < 0.01 ("%.2e"), integers, huge.
for s in 1g 1t 5t 100t 1p 1P 3e 7E; do
	for u in b k m M g G t T p P e E; do
		check -b 128 -s "$s" -m 3 -u "$u" -n
	done
done
for m in 1 2 3 4 5 100 1000 10000 4095 4096 4097 1000000; do
	check -b 64k -s 1m -m "$m" -u m
	check -b 1 -s 126 -m "$m" -u K
done
# -n forms, options given twice, missing values, unknown options, operands.
for nopt in -n -ns -nl -nshort -nlong -nsh -nlo -nx -nshortx --numeric-only --numeric-only=s \
	--numeric-only=long --numeric-only= --numeric-only=lon; do
	check -b 128 -s 1g -m 1 "$nopt"
done
check -b 128 -s 1g -m 1 -n -n
check -b 128 -s 1g -m 1 -n short
check -b 128 -s 1g -m 1 -n long
check -b 128 -s 1g -m 1 extra operands
check -b 128 -b 256 -s 1g -m 1
check -b 0 -b 256 -s 1g -m 1
check -b 100b -b 256 -s 1g -m 1
check -b 128 -s 1g -s 2g -m 1
check -b 128 -s 1g -m 1 -m 2
check -b 128 -s 1g -m 0 -m 2
check -b 128 -s 1g -m 1 -u k -u m
check -b 128 -s 1g -m 1 -u ''
check -b '' -s 1g -m 1
check -b 128 -s '' -m 1
check -b 128 -s 1g -m ''
check
check -s 1g -m 1
check -b 128 -m 1
check -b 128 -s 1g
check -b 128 -s 128 -m 1
check -b 128 -s 129 -m 1
check -b 2m -s 2m -m 1
check -b 128 -s 1g -m 1 -x
check -b 128 -s 1g -m 1 --bogus
check -b 128 -s 1g -m 1 --help=yes
check -b 128 -s 1g -m 1 -u
check -b 128 -s 1g -m
check -b
check --block=128 --pool=1g --max=1
check -b 128 -s 1g -m 1 --

note "$n cases ($nok where 1.1 succeeds, $nerr where it fails; $nsyntax in 0.9 syntax 1.1 rejects; $nzero with --max-thins 0; $nwrap where 1.1 wraps and we refuse), $nfail mismatches"
[ "$nok" -gt 100 ] || fail "too few successful cases ($nok): is the grid broken?"
[ "$nerr" -gt 50 ] || fail "too few failing cases ($nerr): is the grid broken?"
[ "$nfail" -eq 0 ] || fail "$nfail of $n cases differ from thin-provisioning-tools 1.1"
exit 0

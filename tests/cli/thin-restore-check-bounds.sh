#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# thin_restore --force over existing metadata must never run out of room half-way (that
# would destroy what the output held): its check pass refuses every output that may be too
# small.  For fixtures and generated pools (flat and <def>/<ref>), find the smallest blank
# output a restore fits in (bisection), then restore --force over a pool on outputs around
# that size: each must either succeed with a pool thin_check passes, or be refused with the
# old pool left byte for byte; refused at the smallest size minus one, and never failed
# after writing.  Also the upper bound the refusal names must be enough.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_restore thin_check
require_cmd sha256sum truncate

G=$TT/gen_thin_xml
[ -x "$G" ] || skip "gen_thin_xml not built"
cp "$FIX/thin/many.xml" "$FIX/thin/snaps.xml" "$FIX/thin/shared-leaves.xml" . || fail "fixtures"
"$G" --devices 3 --mappings 20000 --snapshots 4 --format shared --fragment 30 >g1.xml || fail "gen"
"$G" --devices 20 --mappings 3000 --snapshots 10 --change 3 --format shared --gap 20 --seed 7 \
	>g2.xml || fail "gen"
"$G" --devices 1 --mappings 100000 --fragment 100 --gap 50 --seed 3 >g3.xml || fail "gen"
"$G" --devices 300 --mappings 10 --seed 5 >g4.xml || fail "gen"

pool() { # BLOCKS: p.bin of BLOCKS 4 KiB blocks holding a small valid pool
	rm -f p.bin
	truncate -s $(($1 * 4096)) p.bin || fail "truncate"
	"$BIN/thin_restore" -q -i "$FIX/thin/empty.xml" -o p.bin || fail "empty pool in $1 blocks"
}

for x in many snaps shared-leaves g1 g2 g3 g4; do
	lo=10 hi=65536
	while [ $((hi - lo)) -gt 1 ]; do
		mid=$(((lo + hi) / 2))
		rm -f t.bin
		truncate -s $((mid * 4096)) t.bin
		if "$BIN/thin_restore" -q -i $x.xml -o t.bin 2>/dev/null; then hi=$mid; else lo=$mid; fi
	done
	upper=
	for n in $lo $hi $((hi + 1)) $((hi + hi / 50)) $((hi + hi / 10)); do
		pool $n
		sha256sum p.bin >sum
		run "$BIN/thin_restore" --force -i $x.xml -o p.bin
		if [ "$rc" = 0 ]; then
			"$BIN/thin_check" -q p.bin || fail "$x: restored over a pool in $n blocks: thin_check fails"
		else
			expect_grep "was not changed" run.err "$x in $n blocks (smallest blank: $hi)"
			sha256sum -c --quiet sum || fail "$x: a refused restore changed the pool ($n blocks)"
			u=$(sed -n 's/.* and \([0-9]*\) blocks of 4 KiB.*/\1/p' run.err)
			[ -n "$u" ] && upper=$u
		fi
		[ "$n" = "$lo" ] && [ "$rc" = 0 ] && fail "$x: restored into $n blocks, less than a blank restore needs"
	done
	if [ -n "$upper" ]; then
		[ "$upper" -ge "$hi" ] || fail "$x: upper bound $upper below the $hi blocks needed"
		pool "$upper"
		"$BIN/thin_restore" -q --force -i $x.xml -o p.bin || fail "$x: refused at its own upper bound $upper"
	fi
	note "$x: smallest blank output $hi blocks; upper bound named ${upper:-none}"
done
exit 0

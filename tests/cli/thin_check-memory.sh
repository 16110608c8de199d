#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# thin_check's memory is bounded by its per-block arrays (a few bytes per metadata and data
# block) and fixed-size buffers, not by the size of the reference-count tree: a 20M-mapping
# pool (a 2M-block origin, 9 snapshots, 5% rewritten after each: about 2M data blocks with
# counts >= 3 in the ref-count tree) is checked in a 32 MiB address space.  (Holding the
# whole ref-count tree as sorted arrays needed 48 to 64 MiB here.)  Then the counts the
# check reads from that tree (a window of its leaves at a time) must still be exact: three
# tree-held counts far apart are lowered by one, and exactly those three are reported, in
# block order, each as "expected N, space map has N-1".  Skips for sanitizer builds, which
# cannot run under an address-space limit.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_check thin_restore
[ -x "$TT/gen_thin_xml" ] || skip "gen_thin_xml not built"
(ulimit -v 262144 && "$BIN/thin_check" -V) >/dev/null 2>&1 ||
	skip "thin_check cannot run under a 256 MiB address-space limit (sanitizer build?)"

"$TT/gen_thin_xml" --devices 1 --mappings 2016000 --snapshots 9 --change 5 --seed 1 \
	--format shared >p.xml || fail "gen_thin_xml"
zero_file p.bin 131072
"$BIN/thin_restore" -q -i p.xml -o p.bin || fail "thin_restore"
rm -f p.xml

run "$BIN/thin_check" p.bin
expect_rc 0 "thin_check without a limit"

run sh -c 'ulimit -v 32768 && exec "$1" p.bin' sh "$BIN/thin_check"
expect_rc 0 "thin_check in a 32 MiB address space"

[ -x "$TT/thin_damage" ] || skip "thin_damage not built"
n=$("$TT/thin_damage" p.bin find nr-data-blocks) || fail "thin_damage find"
want=
for f in 7 3 2; do
	b=$((n / f))
	# the first block from there whose count is held in the tree (>= 4: stays there)
	until "$TT/thin_damage" p.bin drop-data-ref "$b" 2>/dev/null; do
		b=$((b + 1))
		[ "$b" -lt "$n" ] || fail "no tree-held count >= 4 after $((n / f))"
	done
	want="$want $b"
done
run sh -c 'ulimit -v 32768 && exec "$1" p.bin' sh "$BIN/thin_check"
expect_rc 1 "thin_check of the lowered counts"
got=$(sed -n 's/.*DATA_BAD_COUNT, data block \([0-9]*\): .*(expected \([0-9]*\), space map has \([0-9]*\)).*/\1 \2 \3/p' run.err |
	awk '$3 != $2 - 1 { print "bad"; next } { printf " %s", $1 }')
[ "$got" = "$want" ] || { _show_run; fail "reported:$got, lowered:$want"; }
[ "$(grep -c 'thin_check: ' run.err)" = 3 ] || { _show_run; fail "other damage reported"; }
exit 0

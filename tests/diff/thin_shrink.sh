#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Differential test of thin_shrink against thin-provisioning-tools 1.1 on generated pools
# (flat and <def>/<ref> XML, fragmented, with holes, shared snapshots), for several new
# sizes (the smallest possible, between, the old size, above it), on copies of a data image
# whose every block carries its own number (tests/func/thin_shrink/pattern.pl):
#   XML mode: 1.1's output, with its superblock's nr_data_blocks set to NUM (1.1 keeps the
#     old value) and a final newline added (1.1 writes none), equals ours byte for byte; the
#     two data images after the copies are identical; every volume reads the same bytes
#     after as before (views.pl), all blocks < NUM;
#   --binary: the same through restored metadata: thin_dump of both outputs equal up to
#     nr_data_blocks and block for block equal to the XML mode's on the input's thin_dump, ours accepted by our thin_check and 1.1's, data images identical;
#   one block too few: both refuse (1.1 exit 64 "Insufficient free space", ours 3), neither
#     changes the data image nor creates an output.
# Sanitized (tests/lib.sh: sampled): each pool at the smallest size and one of the other
# three, a different one from pool to pool, instead of at all four.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_shrink
require_tpt 1.1
[ -x "$TT/gen_thin_xml" ] || skip "tests/tools/gen_thin_xml not built"
command -v perl >/dev/null 2>&1 || skip "perl not installed"
D=$SRCDIR/tests/func/thin_shrink

nfail=0
bad() {
	echo "DIFF: $*"
	nfail=$((nfail + 1))
}

# norm NUM FILE: 1.1's output as ours would write it
norm() {
	sed "1s/nr_data_blocks=\"[0-9]*\"/nr_data_blocks=\"$1\"/" "$2"
	[ -z "$(tail -c 1 "$2")" ] || echo
}

# singles FILE: the XML with every range_mapping written as its single_mappings (the
# binary output's dump merges runs the remapping cut into pieces that meet again)
singles() {
	perl -pe 's{^(\s*)<range_mapping origin_begin="(\d+)" data_begin="(\d+)" length="(\d+)" time="(\d+)"/>\n}{join "", map { "$1<single_mapping origin_block=\"" . ($2 + $_) . "\" data_block=\"" . ($3 + $_) . "\" time=\"$5\"/>\n" } 0 .. $4 - 1}e' "$1"
}

ncases=0
npool=0
SOME=0
sampled "each pool at the smallest new size and one other (in turn) of the three others" && SOME=1
pool() { # NAME GEN-ARGS...
	npool=$((npool + 1))
	name=$1
	shift
	"$TT/gen_thin_xml" "$@" >p.xml || fail "gen_thin_xml $*"
	nr=$(sed -n '1s/.*nr_data_blocks="\([0-9]*\)".*/\1/p' p.xml)
	used=$("$BIN/thin_shrink" -i p.xml -o /dev/null --data x --no-copy --nr-blocks 1 2>&1 |
		sed -n 's/.*(\([0-9]*\) of the pool.*/\1/p')
	[ -n "$used" ] || fail "$name: cannot learn the used count"
	perl "$D/pattern.pl" orig.img $((nr + 100)) 65536 || fail "pattern.pl" # NUM up to nr + 100
	perl "$D/views.pl" p.xml orig.img >before || fail "views.pl on the input"
	truncate -s 8M m.bin && "$BIN/thin_restore" -i p.xml -o m.bin && "$BIN/thin_dump" m.bin >mb.xml ||
		fail "$name: thin_restore"
	sizes="$used $(((used + nr) / 2)) $nr $((nr + 100))"
	# shellcheck disable=SC2086 # the list of sizes
	[ $SOME = 0 ] || sizes="$used $(set -- $sizes; shift $((1 + npool % 3)); echo $1)"
	for n in $sizes; do
		ncases=$((ncases + 1))
		l="$name NUM=$n"
		# XML
		cp orig.img d1.img && cp orig.img d2.img || fail "cp"
		rm -f o.xml t.xml
		"$BIN/thin_shrink" -q -i p.xml -o o.xml --data d1.img --nr-blocks "$n" || bad "$l: ours exit $?"
		"$TPT11" thin_shrink -i p.xml -o t.xml --data d2.img --nr-blocks "$n" >/dev/null 2>&1 ||
			bad "$l: 1.1 exit $?"
		norm "$n" t.xml | cmp -s - o.xml || bad "$l: XML differs from 1.1's"
		cmp -s d1.img d2.img || bad "$l: data images differ after the copies"
		perl "$D/views.pl" o.xml d1.img >after || bad "$l: views.pl on our output"
		cmp -s before after || bad "$l: a volume's bytes changed"
		# --binary
		cp orig.img d1.img && cp orig.img d2.img && truncate -s 8M o.bin t.bin || fail "cp"
		"$BIN/thin_shrink" -q --binary -i m.bin -o o.bin --data d1.img --nr-blocks "$n" ||
			bad "$l: ours --binary exit $?"
		"$TPT11" thin_shrink --binary -i m.bin -o t.bin --data d2.img --nr-blocks "$n" >/dev/null 2>&1 ||
			bad "$l: 1.1 --binary exit $?"
		"$BIN/thin_check" -q o.bin || bad "$l: our thin_check rejects our --binary output"
		"$TPT11" thin_check -q o.bin || bad "$l: 1.1 thin_check rejects our --binary output"
		"$BIN/thin_dump" o.bin >ob.xml && "$BIN/thin_dump" t.bin >tb.xml || bad "$l: thin_dump"
		norm "$n" tb.xml | cmp -s - ob.xml || bad "$l: --binary outputs differ from 1.1's"
		"$BIN/thin_shrink" -q -i mb.xml -o ox.xml --data d1.img --nr-blocks "$n" --no-copy &&
			singles ox.xml >ox1 && singles ob.xml >ob1 && cmp -s ox1 ob1 || bad "$l: --binary output differs from the XML mode's on thin_dump's XML"
		cmp -s d1.img d2.img || bad "$l: --binary data images differ after the copies"
	done
	# one block too few
	ncases=$((ncases + 1))
	n=$((used - 1))
	cp orig.img d1.img && cp orig.img d2.img && rm -f o.xml t.xml || fail "cp"
	"$BIN/thin_shrink" -q -i p.xml -o o.xml --data d1.img --nr-blocks "$n"
	r=$?
	[ "$r" = 3 ] || bad "$name NUM=$n: ours exit $r, want 3"
	"$TPT11" thin_shrink -i p.xml -o t.xml --data d2.img --nr-blocks "$n" >t.out 2>&1
	r=$?
	[ "$r" != 0 ] || bad "$name NUM=$n: 1.1 accepts"
	grep -q 'Insufficient free space' t.out || bad "$name NUM=$n: 1.1 says $(head -n 1 t.out)"
	cmp -s orig.img d1.img && cmp -s orig.img d2.img || bad "$name NUM=$n: a data image changed"
	[ ! -e o.xml ] || bad "$name NUM=$n: ours created an output"
}

pool flat-fragmented --devices 2 --mappings 300 --snapshots 3 --change 30 --fragment 40 --gap 20 --seed 7
pool shared-snapshots --devices 1 --mappings 2000 --snapshots 4 --change 10 --fragment 20 --seed 11 --format shared --leaf-entries 126
pool many-devices --devices 8 --mappings 200 --snapshots 2 --change 50 --fragment 80 --gap 40 --seed 3
pool contiguous --devices 1 --mappings 1000 --snapshots 1 --change 5 --seed 5

[ "$nfail" = 0 ] || { echo "$nfail difference(s) in $ncases cases"; exit 1; }
echo "thin_shrink: $ncases cases agree with tpt 1.1 (XML byte for byte up to nr_data_blocks, --binary dumps, data images)"
exit 0

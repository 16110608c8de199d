#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Differential test of thin_metadata_pack / thin_metadata_unpack against thin-provisioning-tools
# 1.1 (the pack format's origin): on every thin fixture and on a generated pool with thousands
# of devices, 1.1 unpacks our packs to the original image, and we unpack 1.1's packs to exactly
# what 1.1 itself unpacks from them (the fixture tests/func/thin_metadata_unpack/0001 checks a
# 1.1 pack that does hold the whole image).  Size: wherever 1.1's pack holds the whole image,
# ours must not be larger (1.1 leaves out every block of small images, so its pack of those is
# not comparable); the sizes are printed.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_metadata_pack thin_metadata_unpack thin_restore
require_tpt 1.1
[ -x "$TT/gen_thin_xml" ] || skip "test tool gen_thin_xml not built"

nfail=0
n=0

compare_image() {
	name=$1 img=$2
	n=$((n + 1))
	# ours -> 1.1
	rm -f ours.pack ref.out ours.out ref.pack
	if ! "$BIN/thin_metadata_pack" -q -i "$img" -o ours.pack; then
		echo "DIFF: $name: our thin_metadata_pack failed"; nfail=$((nfail + 1)); return
	fi
	if ! "$TPT11" thin_metadata_unpack -i ours.pack -o ref.out >u11.err 2>&1; then
		echo "DIFF: $name: 1.1 thin_metadata_unpack rejects our pack: $(head -n 1 u11.err)"
		nfail=$((nfail + 1))
	elif ! cmp -s ref.out "$img"; then
		echo "DIFF: $name: 1.1's unpack of our pack differs from the image: $(cmp ref.out "$img" 2>&1)"
		nfail=$((nfail + 1))
	fi
	# 1.1 -> ours
	if ! "$TPT11" thin_metadata_pack -i "$img" -o ref.pack >p11.err 2>&1; then
		note "$name: 1.1 thin_metadata_pack failed: $(head -n 1 p11.err)"
		return
	fi
	# 1.1's own unpack is the reference: 1.1's packer leaves out every block of images of
	# under 1 MiB or so (its pack of one-thin is empty), so the image itself is not.
	rm -f ref11.out
	"$TPT11" thin_metadata_unpack -i ref.pack -o ref11.out >/dev/null 2>&1 ||
		{ note "$name: 1.1 cannot unpack its own pack"; return; }
	ours_size=$(wc -c <ours.pack) ref_size=$(wc -c <ref.pack)
	if cmp -s ref11.out "$img"; then
		note "$name: pack size: ours $ours_size bytes, 1.1 $ref_size bytes"
		if [ "$ours_size" -gt "$ref_size" ]; then
			echo "DIFF: $name: our pack is larger than 1.1's ($ours_size > $ref_size bytes)"
			nfail=$((nfail + 1))
		fi
	else
		note "$name: 1.1's pack does not hold the whole image (1.1 behaviour)"
	fi
	if ! "$BIN/thin_metadata_unpack" -q -i ref.pack -o ours.out; then
		echo "DIFF: $name: our thin_metadata_unpack rejects 1.1's pack"
		nfail=$((nfail + 1))
	elif ! cmp -s ours.out ref11.out; then
		echo "DIFF: $name: our unpack of 1.1's pack differs from 1.1's: $(cmp ours.out ref11.out 2>&1)"
		nfail=$((nfail + 1))
	fi
}

for f in empty one-thin snaps many needs-check shared-leaves; do
	fixture "$f" "$f.bin"
	compare_image "$f" "$f.bin"
done

"$TT/gen_thin_xml" --devices 3000 --mappings 12 --snapshots 40 --change 20 --fragment 5 \
	--seed 21 >g.xml || fail "gen_thin_xml failed"
rm -f g.bin
truncate -s 16M g.bin
"$BIN/thin_restore" -q -i g.xml -o g.bin || fail "thin_restore of the generated pool failed"
compare_image generated g.bin

# a few devices with long chains of snapshots that each rewrite part of the origin: many
# leaves that differ in a few entries
"$TT/gen_thin_xml" --devices 4 --mappings 20000 --snapshots 30 --change 10 --fragment 10 \
	--seed 3 >c.xml || fail "gen_thin_xml failed"
rm -f c.bin
truncate -s 16M c.bin
"$BIN/thin_restore" -q -i c.xml -o c.bin || fail "thin_restore of the snapshot chain failed"
compare_image snapshot-chain c.bin

# damaged pool: a block with a bad checksum is dropped by both packers the same way
fixture snaps d.bin
"$TT/thin_damage" d.bin flip-csum "$("$TT/thin_damage" d.bin find leaf 2)" || fail "thin_damage failed"
rm -f d-ours.pack d-ref.pack d-ours.out d-ref.out
"$BIN/thin_metadata_pack" -q -i d.bin -o d-ours.pack &&
	"$TPT11" thin_metadata_pack -i d.bin -o d-ref.pack >/dev/null 2>&1 &&
	"$BIN/thin_metadata_unpack" -q -i d-ref.pack -o d-ref.out &&
	"$TPT11" thin_metadata_unpack -i d-ours.pack -o d-ours.out >/dev/null 2>&1 ||
	{ echo "DIFF: damaged pool: a pack or unpack failed"; nfail=$((nfail + 1)); }
if [ -f d-ours.out ] && [ -f d-ref.out ] && ! cmp -s d-ours.out d-ref.out; then
	echo "DIFF: damaged pool: 1.1's unpack of our pack and our unpack of 1.1's pack differ: $(cmp d-ours.out d-ref.out 2>&1)"
	nfail=$((nfail + 1))
fi

note "$n images packed both ways"
[ "$nfail" -eq 0 ] || fail "$nfail differences"
exit 0

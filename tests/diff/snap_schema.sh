#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# snap_dump's XML against the shipped RelaxNG schema (libmeta/snap/snapshot-store.rng), validated
# with libxml2's xmllint (package libxml2-utils): the dumps of both COW fixtures, of empty
# stores of several chunk sizes, of an invalidated store, of a full area, of stores made by
# snap_write over two chunk sizes, and of a store after snap_merge.  So that the test can fail,
# the schema must also reject hand-broken documents (a missing attribute, new_chunk 0, an
# unknown element, a non-hex magic).
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool snap_dump snap_restore snap_write snap_merge
command -v xmllint >/dev/null 2>&1 || skip "xmllint not found (install libxml2-utils)"
rng=$SRCDIR/libmeta/snap/snapshot-store.rng
[ -f "$rng" ] || fail "no schema at $rng"

nfail=0
nvalid=0

validate() {
	if xmllint --noout --relaxng "$rng" "$1" >xl.out 2>&1; then
		nvalid=$((nvalid + 1))
	else
		echo "INVALID: $1 ($2):"
		sed 's/^/  /' xl.out | head -n 5
		nfail=$((nfail + 1))
	fi
}

reject() {
	if xmllint --noout --relaxng "$rng" "$1" >xl.out 2>&1; then
		echo "ACCEPTED: the schema accepts $1 ($2)"
		nfail=$((nfail + 1))
	fi
}

dump() {
	"$BIN/snap_dump" "$1" >"$2" 2>dump.err
	[ -s "$2" ] || fail "snap_dump $1 wrote nothing: $(cat dump.err)"
}

# fixtures
gzip -dc "$FIX/snap/cow.bin.gz" >cow.bin || fail "cannot uncompress cow.bin.gz"
gzip -dc "$FIX/snap/cow-origin.bin.gz" >cow-origin.bin || fail "cannot uncompress cow-origin.bin.gz"
gzip -dc "$FIX/snap/areas.bin.gz" >areas.bin || fail "cannot uncompress areas.bin.gz"
dump cow.bin cow.xml
validate cow.xml "fixture cow"
dump areas.bin areas.xml
validate areas.xml "fixture areas (3 areas)"

# empty stores, chunk sizes 1 .. 1024 sectors
for cs in 1 8 32 128 1024; do
	printf '<snapshot_store magic="0x70416e53" valid="1" version="1" chunk_size="%s">\n</snapshot_store>\n' \
		"$cs" >e$cs.xml
	rm -f e$cs.bin
	truncate -s $((cs * 512 * 4)) e$cs.bin
	"$BIN/snap_restore" -q -i e$cs.xml -o e$cs.bin || fail "snap_restore of an empty store (chunk $cs) failed"
	dump e$cs.bin e$cs.dump.xml
	validate e$cs.dump.xml "empty store, chunk $cs"
done

# invalidated store
cp cow.bin inv.bin
printf '\000' | dd of=inv.bin bs=1 seek=4 conv=notrunc 2>/dev/null
dump inv.bin inv.xml
validate inv.xml "invalidated store"

# a full area (and the zeroed next one)
i=0
{
	echo '<snapshot_store magic="0x70416e53" valid="1" version="1" chunk_size="1">'
	while [ $i -lt 32 ]; do
		echo "  <exception old_chunk=\"$((i * 3))\" new_chunk=\"$((i + 2))\"/>"
		i=$((i + 1))
	done
	echo '</snapshot_store>'
} >full.xml
rm -f full.bin
truncate -s 65536 full.bin
"$BIN/snap_restore" -q -i full.xml -o full.bin || fail "snap_restore of a full area failed"
dump full.bin full.dump.xml
validate full.dump.xml "one full area"

# stores written by the engine over two chunk sizes
seq 1 100000 | head -c 65536 >origin.bin
rm -f w1.bin w8.bin
truncate -s 16384 w1.bin
truncate -s 65536 w8.bin
"$BIN/snap_restore" -q -i e1.xml -o w1.bin || fail "snap_restore failed"
"$BIN/snap_restore" -q -i e8.xml -o w8.bin || fail "snap_restore failed"
for off in 0 9 17 64 100; do
	printf 'write at %s' "$off" >in
	"$BIN/snap_write" -q --origin origin.bin --cow w1.bin --cow w8.bin --target origin \
		--offset "$off" --input in || fail "snap_write failed"
done
dump w1.bin w1.xml
validate w1.xml "snap_write, chunk 1"
dump w8.bin w8.xml
validate w8.xml "snap_write, chunk 8"

# after a merge: empty again
"$BIN/snap_merge" -q --origin cow-origin.bin cow.bin || fail "snap_merge failed"
dump cow.bin merged.xml
validate merged.xml "after snap_merge"

# the schema must reject broken documents
sed '2s/ new_chunk="[0-9]*"//' areas.xml >bad1.xml
reject bad1.xml "exception without new_chunk"
sed '2s/new_chunk="[0-9]*"/new_chunk="0"/' areas.xml >bad2.xml
reject bad2.xml "new_chunk 0"
sed '2s/<exception /<exceptio /' areas.xml >bad3.xml
reject bad3.xml "unknown element"
sed '1s/0x70416e53/SnAp/' areas.xml >bad4.xml
reject bad4.xml "magic not in hex"
sed '1s/ chunk_size="1"//' areas.xml >bad5.xml
reject bad5.xml "no chunk_size"

note "$nvalid dumps valid against $rng"
[ "$nfail" -eq 0 ] || fail "$nfail schema failures"
exit 0

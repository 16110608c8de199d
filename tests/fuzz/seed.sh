#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Rebuild the fuzz seeds from fixtures/ into DIR/<target>/ (default tests/fuzz/seeds-new):
#   [BIN=<our tools>] [TT=<test tools>] sh tests/fuzz/seed.sh FZ_SEED [DIR]
# FZ_SEED is the built converter (FUZZ_BUILDDIR/fuzzers/fz_seed).  The committed corpus
# (tests/fuzz/corpus/) is these seeds plus what fuzzing found, minimised with
#   fuzz_T -merge=1 tests/fuzz/corpus/T NEW_DIR...
set -eu
SEED=${1:?usage: seed.sh FZ_SEED [DIR]}
SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${2:-$SRCDIR/tests/fuzz/seeds-new}
FIX=$SRCDIR/fixtures
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT/thin_check" "$OUT/thin_repair" "$OUT/pack" "$OUT/thin_restore" "$OUT/snap_engine" \
	"$OUT/snap" "$OUT/snap_restore" "$OUT/unpack" "$OUT/multisnap" "$OUT/multisnap_restore"
for f in "$FIX"/thin/*.bin.gz; do
	case $f in */many.bin.gz) continue ;; esac # 4 MiB: too big a seed
	n=$(basename "$f" .bin.gz)
	gzip -dc "$f" >"$TMP/$n.bin"
	# thin_check: plain, and with REPAIR|SHARED dumps plus ls/rmap/delta (flags 0x46)
	"$SEED" "$TMP/$n.bin" >"$OUT/thin_check/$n"
	"$SEED" -f 0x46 "$TMP/$n.bin" >"$OUT/thin_check/$n-extras"
	"$SEED" "$TMP/$n.bin" >"$OUT/thin_repair/$n"
	"$SEED" "$TMP/$n.bin" >"$OUT/pack/$n"
done
# thin_check aux bits: in-place leak repair of a pool with one metadata and one data leak
# (needs TT=<built test tools> for thin_damage), and clearing needs_check
if [ -x "${TT:-}/thin_damage" ]; then
	gzip -dc "$FIX/thin/one-thin.bin.gz" >"$TMP/leak.bin"
	"$TT/thin_damage" "$TMP/leak.bin" leak-metadata "$("$TT/thin_damage" "$TMP/leak.bin" find free-metadata)"
	"$TT/thin_damage" "$TMP/leak.bin" leak-data "$("$TT/thin_damage" "$TMP/leak.bin" find free-data 3)"
	"$SEED" -a 1 "$TMP/leak.bin" >"$OUT/thin_check/leaks-auto-repair"
fi
"$SEED" -a 2 "$TMP/needs-check.bin" >"$OUT/thin_check/needs-check-clear"
for f in "$FIX"/thin/*.xml; do
	case $f in */many.xml) continue ;; esac
	cp "$f" "$OUT/thin_restore/$(basename "$f")"
done
for n in cow areas; do
	gzip -dc "$FIX/snap/$n.bin.gz" >"$TMP/$n.bin"
	osize=$(gzip -dc "$FIX/snap/$n-origin.bin.gz" | wc -c)
	"$SEED" -a "$osize" "$TMP/$n.bin" >"$OUT/snap/$n"
	"$SEED" -f 2 -a "$osize" "$TMP/$n.bin" >"$OUT/snap/$n-origin-check"
done
# mode byte 0: the pack file follows as is
{ printf '\000'; cat "$FIX"/thin/many.tpt.pack; } >"$OUT/unpack/tpt-many"
# mode byte 1: le32 nr_blocks and the decompressed chunks of a pack made by the 1.1
# thin_metadata_pack (its compact block programs), when the reference and python3 exist
TPT11=${TPT11:-/var/tmp/tpt-ref/1.1/usr/sbin/pdata_tools}
if [ -x "$TPT11" ] && command -v python3 >/dev/null; then
	for n in snaps one-thin; do
		gzip -dc "$FIX/thin/$n.bin.gz" >"$TMP/$n.bin"
		"$TPT11" thin_metadata_pack -i "$TMP/$n.bin" -o "$TMP/$n.pack"
		python3 - "$TMP/$n.pack" "$OUT/unpack/tpt11-$n-chunks" <<'PY'
import struct, sys, zlib
d = open(sys.argv[1], 'rb').read()
nr = struct.unpack('<Q', d[24:32])[0]
pos, raw = 32, b''
while pos < len(d):
    zl = struct.unpack('<Q', d[pos:pos + 8])[0]
    raw += zlib.decompress(d[pos + 8:pos + 8 + zl])
    pos += 8 + zl
open(sys.argv[2], 'wb').write(b'\x01' + struct.pack('<I', nr - 1) + raw)
PY
	done
fi
# snap_restore: snap_dump of the two COW fixtures (needs BIN=<our tools>) and a full area
if [ -x "${BIN:-}/snap_dump" ]; then
	for n in cow areas; do
		gzip -dc "$FIX/snap/$n.bin.gz" >"$TMP/$n.bin"
		"$BIN/snap_dump" "$TMP/$n.bin" >"$OUT/snap_restore/$n.xml"
	done
fi
i=0
{
	echo '<snapshot_store magic="0x70416e53" valid="1" version="1" chunk_size="1">'
	while [ $i -lt 33 ]; do
		echo "  <exception old_chunk=\"$i\" new_chunk=\"$((i + 2 + i / 32))\"/>"
		i=$((i + 1))
	done
	echo '</snapshot_store>'
} >"$OUT/snap_restore/full-area.xml"
# snap_engine: set-up bytes and operations (fuzz_snap_engine.c): mixed writes and read-backs
# with both snapshots, a tiny COW that overflows, 32-sector chunks
printf '\003\017\001\007\003\000\000\000\000\020\101\001\000\004\000\004\102\002\000\002\000\002\103\003\000\000\000\000\000' >"$OUT/snap_engine/mixed"
printf '\000\001\000\001\002\001\000\000\000\200\141\000\000\000\000\377\142\003\000\000\000\000\000' >"$OUT/snap_engine/tiny-overflow"
printf '\005\077\002\077\001\000\000\200\000\100\060\001\000\000\000\001\061\003\000\000\000\000\000\000\000\000\000\000\000\377\062\003\000\000\000\000\000' >"$OUT/snap_engine/big-chunks"
# thin_size: block size, pool size, max thins and unit, NUL-separated
mkdir -p "$OUT/thin_size"
printf '128\0001g\0001000\000m' >"$OUT/thin_size/basic"
printf '64k\00010T\00016\000sectors' >"$OUT/thin_size/units"
printf '1\0002\00099999999999999999999\000Y' >"$OUT/thin_size/overflow"
printf '128\000999999999Z\0001\000zeta' >"$OUT/thin_size/zeta"
# unpack, mode 0: other families' magics for the sniffer (snap header, ddsnap at 4096, XML)
printf '\000SnAp\001\000\000\000\001\000\000\000\010\000\000\000' >"$OUT/unpack/family-snap"
{ printf '\000'; head -c 4096 /dev/zero; printf 'test\335\007\006\004'; } >"$OUT/unpack/family-daniel"
printf '\000  <snapshot_store magic="0x70416e53">' >"$OUT/unpack/family-xml"
# multisnap_restore: the fixtures' XML, and two 4 MiB stores with shared and separate
# exceptions over several btree leaves (mikulas: snapshots, sub-snapshots; daniel: 2 leaves)
cp "$FIX"/multisnap/*.xml "$OUT/multisnap_restore/"
awk 'BEGIN {
	print "<multisnap_store type=\"mikulas\" version=\"1\" chunk_size=\"8\" metadata_blocks=\"309\" data_chunks=\"715\" next_snapshot=\"4\" transaction=\"7\" flags=\"preserve-on-error\">"
	print "  <snapshot id=\"0\" next_sub=\"0\" created=\"2\"/>"
	print "  <snapshot id=\"1.0\" next_sub=\"0\" created=\"4\"/>"
	print "  <snapshot id=\"1.1\" next_sub=\"0\" created=\"5\"/>"
	print "  <snapshot id=\"1\" next_sub=\"2\" created=\"3\"/>"
	print "  <snapshot id=\"3\" next_sub=\"0\" created=\"6\"/>"
	f = "  <exception origin_chunk=\"%d\" first_id=\"%s\" last_id=\"%s\" cow_chunk=\"%d\"/>\n"
	for (o = 0; o < 300; o++) {
		if (o % 3 == 0) {
			printf f, o, "0", "3", c++
		} else if (o % 3 == 1) {
			printf f, o, "0", "0", c++
			printf f, o, "1.0", "1.1", c++
		} else {
			printf f, o, "1.1", "3", c++
		}
	}
	print "</multisnap_store>"
}' >"$OUT/multisnap_restore/mikulas-4m.xml"
awk 'BEGIN {
	print "<multisnap_store type=\"daniel\" version=\"1\" chunk_size=\"32\" chunks=\"1024\" create_time=\"1000\" orgoffset=\"0\" orgsectors=\"65536\" flags=\"sync-snapshots\" sequence=\"3\" next_tag=\"5\">"
	print "  <snapshot id=\"0\" bit=\"0\" ctime=\"1001\" prio=\"0\" usecount=\"0\" sectors=\"0\"/>"
	print "  <snapshot id=\"2\" bit=\"1\" ctime=\"1002\" prio=\"1\" usecount=\"0\" sectors=\"0\"/>"
	print "  <snapshot id=\"4\" bit=\"2\" ctime=\"1003\" prio=\"-1\" usecount=\"2\" sectors=\"8\"/>"
	f = "  <exception origin_chunk=\"%d\" cow_chunk=\"%d\" snapshots=\"%s\"/>\n"
	c = 40
	for (o = 0; o < 260; o += 2) {
		if (o % 4 == 0) {
			printf f, o, c++, "0 2 4"
		} else {
			printf f, o, c++, "0"
			printf f, o, c++, "2 4"
		}
	}
	print "</multisnap_store>"
}' >"$OUT/multisnap_restore/daniel-4m.xml"
# multisnap: those two restored onto 4 MiB, stores made by snap_message on 2 MiB, and a
# blank image (left blank; made mikulas; made daniel: flags bits 0-1), each with a program
# of four op bytes in aux (fuzz_multisnap.c: op = b & 3, index = b >> 2)
if [ -x "${BIN:-}/snap_message" ]; then
	M="$BIN/snap_message -q"
	for t in mikulas daniel; do
		truncate -s 4M "$TMP/$t-4m"
		"$BIN/snap_restore" -q -i "$OUT/multisnap_restore/$t-4m.xml" -o "$TMP/$t-4m"
	done
	"$SEED" -a 0x0f070e01 "$TMP/mikulas-4m" >"$OUT/multisnap/mikulas-4m"
	"$SEED" -a 0x03000201 "$TMP/daniel-4m" >"$OUT/multisnap/daniel-4m"
	truncate -s 2M "$TMP/m" "$TMP/d" "$TMP/z"
	$M --type mikulas --chunk-size 8 --sync-snapshots 0,1,1.0 "$TMP/m" && $M "$TMP/m" create &&
		$M "$TMP/m" create_subsnap 0
	$M --type daniel --chunk-size 32 --preserve-on-error "$TMP/d" create && $M "$TMP/d" create
	"$SEED" -a 0x07030201 "$TMP/m" >"$OUT/multisnap/mikulas-2m"
	"$SEED" -a 0x0b070501 "$TMP/d" >"$OUT/multisnap/daniel-2m"
	"$SEED" -f 0 -a 0x06050101 "$TMP/z" >"$OUT/multisnap/blank"
	"$SEED" -f 1 -a 0x0e010101 "$TMP/z" >"$OUT/multisnap/blank-mikulas"
	"$SEED" -f 0x0a -a 0x0d010101 "$TMP/z" >"$OUT/multisnap/blank-daniel"
fi

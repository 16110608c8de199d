#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# bench/multisnap-daniel.sh — a `daniel` shared store with N exceptions (default 10 M),
# made by our own snap_restore from generated XML, then snap_check, snap_dump (XML) and
# snap_restore timed: wall time, CPU time and peak RSS (bench/timeit).
#
#   bench/multisnap-daniel.sh [N]        (DIR: default /var/tmp/dmmeta-scale)
#
# The store: 8 snapshots (bits 0..7); exception i (0 <= i < N) sits at origin chunk
# 3*floor(i/2) (two exceptions per origin chunk: snapshots 1-4 and 5-8), its COW chunk
# scattered over the data area as F + (i*7919) mod N (F: the first data chunk after the
# bitmaps and journal).  16 KiB chunks: N = 10 M is a ~160 GB sparse file (the data chunks
# are never written).  Files are kept and reused (the XML and the store): delete them to
# regenerate.  The lead may fold daniel_xml() / the table into bench/multisnap.sh.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh" multisnap-daniel
N=${1:-10000000}
DIR=${DIR:-/var/tmp/dmmeta-scale}
need_built "$BIN" snap_restore snap_check snap_dump
timeit_build
mkdir -p "$DIR" || die "cannot make $DIR"

# daniel_xml N: the store's XML on stdout.  Units: 4 KiB; a data chunk is 4 units.
daniel_xml() {
	awk -v n="$1" 'BEGIN {
		units = 4 * n + int(n / 50) + 4096 # data chunks; leaves (~200 exceptions each), nodes, slack
		bb = int((units + 32767) / 32768) # bitmap blocks
		fixed = 2 + bb + 100              # superblock area, bitmaps, journal
		first = int((fixed + 3) / 4) + 1  # first data chunk (16 KiB), one chunk of slack
		units += 4 * first
		printf "<multisnap_store type=\"daniel\" version=\"1\" chunk_size=\"32\" chunks=\"%d\" create_time=\"1700000000\" orgoffset=\"0\" orgsectors=\"%d\" flags=\"\" sequence=\"0\" next_tag=\"9\">\n", units, 3 * n * 16 + 32
		for (t = 1; t <= 8; t++)
			printf "  <snapshot id=\"%d\" bit=\"%d\" ctime=\"1700000000\" prio=\"0\" usecount=\"0\" sectors=\"0\"/>\n", t, t - 1
		for (i = 0; i + 1 < n; i += 2) {
			o = 3 * (i / 2)
			a = first + (i * 7919) % n; b = first + ((i + 1) * 7919) % n
			if (a < b) {
				printf "  <exception origin_chunk=\"%d\" cow_chunk=\"%d\" snapshots=\"1 2 3 4\"/>\n", o, a
				printf "  <exception origin_chunk=\"%d\" cow_chunk=\"%d\" snapshots=\"5 6 7 8\"/>\n", o, b
			} else {
				printf "  <exception origin_chunk=\"%d\" cow_chunk=\"%d\" snapshots=\"5 6 7 8\"/>\n", o, b
				printf "  <exception origin_chunk=\"%d\" cow_chunk=\"%d\" snapshots=\"1 2 3 4\"/>\n", o, a
			}
		}
		print "</multisnap_store>"
	}'
}

XML=$DIR/daniel-$N.xml
STORE=$DIR/daniel-$N.store
if [ ! -s "$XML" ]; then
	log "generating $XML"
	daniel_xml "$N" >"$XML.tmp" && mv "$XML.tmp" "$XML" || die "cannot write $XML"
fi
units=$(sed -n '1s/.* chunks="\([0-9]*\)".*/\1/p' "$XML")
row() { # LABEL COMMAND...: one table row (wall s, cpu s, peak RSS MiB, exit status)
	local label=$1
	shift
	set -- $("$TIMEIT" -o /dev/null -- "$@")
	awk -v l="$label" -v w="$1" -v c="$2" -v r="$3" -v s="$4" \
		'BEGIN { printf "%-22s %9.2f %9.2f %10.1f %4d\n", l, w / 1000, c / 1000, r / 1024, s }'
}
printf "%-22s %9s %9s %10s %4s\n" "daniel, $N exc" "wall s" "cpu s" "RSS MiB" "exit"
if [ ! -s "$STORE" ] || [ "$XML" -nt "$STORE" ]; then
	rm -f "$STORE"
	truncate -s $((units * 4096)) "$STORE" || die "cannot make $STORE"
	row "snap_restore" "$BIN/snap_restore" -i "$XML" -o "$STORE"
fi
row "snap_check" "$BIN/snap_check" "$STORE"
row "snap_dump (xml)" "$BIN/snap_dump" "$STORE"
row "snap_dump (human)" "$BIN/snap_dump" --format human "$STORE"

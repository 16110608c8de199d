#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# check-layers.sh — the library's layering rules, checked on the source text (`make
# check-layers`, run by `make check`).  Exit 0 when every rule holds, 1 with one line per
# breach (file:line: rule) otherwise, 2 on a usage error.
#
#   sh tests/tools/check-layers.sh [SRCDIR]
#
# Rules (comments and string literals are not read):
#  1. libmeta/ never prints, exits, aborts or asserts: no printf/puts/putchar/perror, no
#     stdout/stderr, no exit/_exit/abort/assert, no <assert.h>.  Writing to a FILE * the
#     caller hands in (the XML emitters' fprintf(out, ...)) is allowed.
#  2. An include never goes up the layers.  Each module has a rank:
#        0 base helpers   api error damage crc32c endian util xml_util hash, and
#                         pdata/ondisk.h (the persistent-data structures, definitions only)
#        1 I/O engine     io
#        2 block manager  bm
#        3 btree          btree, tm (the transaction manager: block manager + a space), and
#                         walk (the batched level reader of btrees, which the space maps use)
#        4 space maps     sm, sm_bitmap (a bitmap block's entries), sm_read (the reader's private
#                         full form), and btree_write
#                         (transactional btree writes over tm)
#        5 pdata above    refcount pdata_write (and any other file of libmeta/pdata/)
#        6 formats        thin* pack emitter (thin)   snap* (snap)
#        7 above formats  family (knows every family's magic)
#        8 writers over existing devices  *_restore thin_repair (they sniff the family of what
#                         they would overwrite and refuse another family's metadata)
#     A file may include a header of its own rank or lower, and the two format families
#     (thin, snap) never include each other.  A private header is named by its folder
#     ("pdata/ondisk.h"); its rank is its folder's (base 0, pdata 5, thin and snap 6), or its
#     module's when the name says one.
#  3. cli/ uses the public format and operation API only: no private libmeta header
#     ("base/...", "pdata/...", "thin/...", "snap/..."), and none of the block manager, btree,
#     space map or walker headers (<libmeta/bm.h>, btree.h, sm.h, walk.h).
set -u
SRC=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
[ -d "$SRC/libmeta" ] && [ -d "$SRC/cli" ] || { echo "check-layers: no libmeta/ and cli/ under $SRC" >&2; exit 2; }
cd "$SRC" || exit 2

# Strip comments and string/char literals, keep line numbers: prints "file:line:text".
strip() {
	awk '
	FNR == 1 { inc = 0 }
	{
		line = $0; out = ""; i = 1; n = length(line)
		while (i <= n) {
			c = substr(line, i, 1); c2 = substr(line, i, 2)
			if (inc) { if (c2 == "*/") { inc = 0; i += 2 } else i++; continue }
			if (c2 == "/*") { inc = 1; i += 2; continue }
			if (c2 == "//") break
			if (c == "\"" || c == "\047") {
				# keep the quotes of #include "x.h" so rule 2 sees the name
				if (line ~ /^[ \t]*#[ \t]*include/) { out = out c; i++; continue }
				q = c; out = out q; i++
				while (i <= n) {
					c = substr(line, i, 1)
					if (c == "\\") { i += 2; continue }
					i++
					if (c == q) break
				}
				out = out q
				continue
			}
			out = out c; i++
		}
		print FILENAME ":" FNR ":" out
	}' "$@"
}

bad=0
report() {
	echo "$1" | sed 's/^\([^:]*:[0-9]*\):.*$/\1/' | tr -d '\n'
	echo ": $2"
	bad=1
}

LIBFILES=$(find libmeta -name '*.[ch]' | sort)
CLIFILES=$(find cli -name '*.[ch]' | sort)

# Rule 1.
strip $LIBFILES | grep -E '(\b(printf|puts|putchar|perror|exit|_exit|abort|assert)[ \t]*\(|\b(stdout|stderr)\b|#[ \t]*include[ \t]*<assert\.h>)' |
while IFS= read -r l; do
	echo "$l" | sed 's/^\([^:]*:[0-9]*\):.*$/\1: libmeta prints, exits, aborts or asserts/'
done >"${TMPDIR:-/tmp}/check-layers.$$"

rank_of() { # rank_of NAME (module name without .c/.h) FOLDER
	case $1 in
	api | error | damage | crc32c | endian | util | xml_util | hash | ondisk) echo 0 ;;
	io) echo 1 ;;
	bm) echo 2 ;;
	btree | tm | walk) echo 3 ;;
	sm | sm_read | btree_write | sm_bitmap) echo 4 ;;
	refcount | pdata_write) echo 5 ;;
	*_restore | thin_repair) echo 8 ;;
	thin* | pack | emitter | snap* | ondisk_thin) echo 6 ;;
	family) echo 7 ;;
	*)
		case $2 in
		base) echo 0 ;; pdata) echo 5 ;; thin | snap) echo 6 ;; *) echo 7 ;;
		esac ;;
	esac
}
family_of() { # thin, snap or -
	case $1 in
	thin* | pack | emitter) echo thin ;;
	snap*) echo snap ;;
	*) case $2 in thin | snap) echo "$2" ;; *) echo - ;; esac ;;
	esac
}

# Rule 2.
for f in $LIBFILES; do
	mod=$(basename "$f"); mod=${mod%.*}
	dir=$(dirname "$f"); dir=${dir#libmeta}; dir=${dir#/}
	r=$(rank_of "$mod" "$dir"); fam=$(family_of "$mod" "$dir")
	# <libmeta/x.h> and "folder/x.h"; other <...> are system headers
	strip "$f" | sed -n -e 's/^\([^:]*:[0-9]*\):[ \t]*#[ \t]*include[ \t]*<\(libmeta\/[^>]*\)>.*/\1 \2/p' \
		-e 's/^\([^:]*:[0-9]*\):[ \t]*#[ \t]*include[ \t]*"\([^"]*\)".*/\1 \2/p' |
	while read -r where h; do
		case $h in
		libmeta/*) hd=; hm=${h#libmeta/} ;;
		*/*) hd=${h%%/*}; hm=${h#*/} ;;
		*) continue ;; # system header
		esac
		hm=${hm%.h}
		hr=$(rank_of "$hm" "$hd"); hf=$(family_of "$hm" "$hd")
		if [ "$hr" -gt "$r" ]; then
			echo "$where: include goes up the layers: $f (rank $r) includes $h (rank $hr)"
		elif [ "$fam" != - ] && [ "$hf" != - ] && [ "$fam" != "$hf" ]; then
			echo "$where: one format family includes another: $f ($fam) includes $h ($hf)"
		fi
	done
done >>"${TMPDIR:-/tmp}/check-layers.$$"

# Rule 3.
strip $CLIFILES | sed -n 's/^\([^:]*:[0-9]*\):[ \t]*#[ \t]*include[ \t]*[<"]\([^>"]*\)[>"].*/\1 \2/p' |
while read -r where h; do
	case $h in
	base/* | pdata/* | thin/* | snap/*) echo "$where: cli/ includes a private libmeta header: $h" ;;
	libmeta/bm.h | libmeta/btree.h | libmeta/sm.h | libmeta/walk.h)
		echo "$where: cli/ reaches below the format API: $h" ;;
	esac
done >>"${TMPDIR:-/tmp}/check-layers.$$"

out=${TMPDIR:-/tmp}/check-layers.$$
if [ -s "$out" ]; then
	cat "$out"
	echo "check-layers: $(wc -l <"$out") breach(es) of the layering rules (see tests/tools/check-layers.sh)"
	rm -f "$out"
	exit 1
fi
rm -f "$out"
echo "check-layers: libmeta/ and cli/ keep their layers"
exit 0

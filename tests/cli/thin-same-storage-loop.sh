#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# The thin-side writers refuse a loop device over their input as the output, before anything
# is opened for writing: thin_restore (XML under a loop device), thin_metadata_pack
# (metadata), thin_metadata_unpack (pack), also with --force / -f; one line, exit 2, every
# file untouched.  Needs root and losetup; skips otherwise.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_restore thin_metadata_pack thin_metadata_unpack
require_cmd losetup sha256sum
[ "$(id -u)" = 0 ] || skip "not root: no loop devices"

gzip -dc "$FIX/thin/snaps.bin.gz" >m.bin || fail "fixture"
cp "$FIX/thin/snaps.xml" x.xml || fail "fixture"
cp "$FIX/thin/many.tpt.pack" p.pack || fail "fixture"
# loop devices need whole sectors
truncate -s 64K x.xml p.pack || fail "truncate"
LOOPS=
cleanup() {
	for l in $LOOPS; do losetup -d "$l" 2>/dev/null; done
}
trap cleanup EXIT
loop() { # FILE VAR: attach a loop device over FILE, its path in VAR
	l=$(losetup -f --show "$1" 2>/dev/null) || skip "losetup cannot attach a loop device here"
	LOOPS="$LOOPS $l"
	eval "$2=\$l"
}
loop m.bin LM
loop x.xml LX
loop p.pack LP
sha256sum m.bin x.xml p.pack >sum

refused() { # WHAT OUTPUT-PATH CMD...: exit 2 and one line naming the path
	what=$1
	p=$2
	shift 2
	run "$@"
	expect_rc 2 "$what"
	expect_lines run.err 1 "$what"
	expect_grep "$p: .*same file or device" run.err "$what"
}

refused "restore -o loop(xml)" "$LX" "$BIN/thin_restore" --force -i x.xml -o "$LX"
refused "restore -i loop(xml) -o xml" x.xml "$BIN/thin_restore" --force -i "$LX" -o x.xml
refused "pack -o loop(metadata)" "$LM" "$BIN/thin_metadata_pack" -f -i m.bin -o "$LM"
refused "pack -i loop(metadata) -o metadata" m.bin "$BIN/thin_metadata_pack" -f -i "$LM" -o m.bin
refused "unpack -o loop(pack)" "$LP" "$BIN/thin_metadata_unpack" -f -i p.pack -o "$LP"
sha256sum -c --quiet sum || fail "an input was written"
exit 0

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# The classic-snapshot writers refuse a loop device over one of their inputs as an output
# (snap_export -o, snap_dump -o, snap_restore -o), and a loop device over one role's file in
# another role (snap_merge, snap_write: origin vs COW), before anything is opened for writing:
# one line, exit 2, every file untouched.  Needs root and losetup; skips otherwise.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool snap_export snap_dump snap_restore snap_merge snap_write
require_cmd losetup sha256sum
[ "$(id -u)" = 0 ] || skip "not root: no loop devices"

gzip -dc "$FIX/snap/cow.bin.gz" >c.bin || fail "fixture"
gzip -dc "$FIX/snap/cow-origin.bin.gz" >o.bin || fail "fixture"
"$BIN/snap_dump" c.bin >s.xml || fail "snap_dump"
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
loop o.bin LO
loop c.bin LC
loop s.xml LX
sha256sum o.bin c.bin s.xml >sum

refused() { # WHAT OUTPUT-PATH CMD...: exit 2 and one line naming the path
	what=$1
	p=$2
	shift 2
	run "$@"
	expect_rc 2 "$what"
	expect_lines run.err 1 "$what"
	expect_grep "$p: .*same file or device" run.err "$what"
}

refused "export -o loop(origin)" "$LO" "$BIN/snap_export" --origin o.bin --cow c.bin -o "$LO"
refused "export -o loop(cow)" "$LC" "$BIN/snap_export" --origin o.bin --cow c.bin -o "$LC"
refused "dump -o loop(cow)" "$LC" "$BIN/snap_dump" -o "$LC" c.bin
refused "restore -o loop(xml)" "$LX" "$BIN/snap_restore" --force -i s.xml -o "$LX"
refused "merge origin=loop(cow)" c.bin "$BIN/snap_merge" --origin "$LC" c.bin
refused "merge cow=loop(origin)" "$LO" "$BIN/snap_merge" --origin o.bin "$LO"
printf x >in.bin
refused "write cow=loop(origin)" "$LO" "$BIN/snap_write" --origin o.bin --cow "$LO" \
	--target origin --offset 0 --input in.bin
refused "write --input loop(cow)" c.bin "$BIN/snap_write" --origin o.bin --cow c.bin \
	--target origin --offset 0 --input "$LC"
sha256sum -c --quiet sum || fail "an input was written"
exit 0

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
loop_attach o.bin LO
loop_attach c.bin LC
loop_attach s.xml LX
sha256sum o.bin c.bin s.xml >sum


expect_same_storage_refusal "export -o loop(origin)" "$LO" "$BIN/snap_export" --origin o.bin --cow c.bin -o "$LO"
expect_same_storage_refusal "export -o loop(cow)" "$LC" "$BIN/snap_export" --origin o.bin --cow c.bin -o "$LC"
expect_same_storage_refusal "dump -o loop(cow)" "$LC" "$BIN/snap_dump" -o "$LC" c.bin
expect_same_storage_refusal "restore -o loop(xml)" "$LX" "$BIN/snap_restore" --force -i s.xml -o "$LX"
expect_same_storage_refusal "merge origin=loop(cow)" c.bin "$BIN/snap_merge" --origin "$LC" c.bin
expect_same_storage_refusal "merge cow=loop(origin)" "$LO" "$BIN/snap_merge" --origin o.bin "$LO"
printf x >in.bin
expect_same_storage_refusal "write cow=loop(origin)" "$LO" "$BIN/snap_write" --origin o.bin --cow "$LO" \
	--target origin --offset 0 --input in.bin
expect_same_storage_refusal "write --input loop(cow)" c.bin "$BIN/snap_write" --origin o.bin --cow c.bin \
	--target origin --offset 0 --input "$LC"
sha256sum -c --quiet sum || fail "an input was written"
exit 0

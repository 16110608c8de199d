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
loop_attach m.bin LM
loop_attach x.xml LX
loop_attach p.pack LP
sha256sum m.bin x.xml p.pack >sum


expect_same_storage_refusal "restore -o loop(xml)" "$LX" "$BIN/thin_restore" --force -i x.xml -o "$LX"
expect_same_storage_refusal "restore -i loop(xml) -o xml" x.xml "$BIN/thin_restore" --force -i "$LX" -o x.xml
expect_same_storage_refusal "pack -o loop(metadata)" "$LM" "$BIN/thin_metadata_pack" -f -i m.bin -o "$LM"
expect_same_storage_refusal "pack -i loop(metadata) -o metadata" m.bin "$BIN/thin_metadata_pack" -f -i "$LM" -o m.bin
expect_same_storage_refusal "unpack -o loop(pack)" "$LP" "$BIN/thin_metadata_unpack" -f -i p.pack -o "$LP"
sha256sum -c --quiet sum || fail "an input was written"
exit 0

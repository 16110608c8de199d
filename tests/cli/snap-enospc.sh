#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# A full filesystem under a COW or an origin is not a full COW store.  On a tiny tmpfs
# (sparse files whose holes cannot be filled): snap_write stops before the origin write and
# invalidates nothing (it used to take ENOSPC for an overflow: snapshot invalidated, origin
# written, exit 0); snap_merge stops with the store still listing every chunk; snap_restore
# says the filesystem is full, not that the device is too small.  Each prints one line naming
# the file and the filesystem, and exits 3.  Needs root (mount); skips otherwise.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool snap_write snap_merge snap_restore snap_check snap_dump
require_cmd mount umount sha256sum
[ "$(id -u)" = 0 ] || skip "not root: cannot mount a small filesystem"
mkdir mnt || fail "mkdir"
mount -t tmpfs -o size=256k dmmeta-enospc mnt 2>/dev/null || skip "cannot mount a tmpfs here"
trap 'umount mnt 2>/dev/null' EXIT

fill() { # fill the filesystem to the last block
	dd if=/dev/zero of=mnt/fill bs=4096 2>/dev/null
	dd if=/dev/zero of=mnt/fill2 bs=512 2>/dev/null
	true
}
gzip -dc "$FIX/snap/cow.bin.gz" >cow.bin || fail "fixture"
gzip -dc "$FIX/snap/cow-origin.bin.gz" >o.bin || fail "fixture"
"$BIN/snap_dump" cow.bin >s.xml || fail "snap_dump"
printf '<snapshot_store magic="0x70416e53" valid="1" version="1" chunk_size="8">\n</snapshot_store>\n' >e.xml
head -c 65536 /dev/zero | tr '\000' 'w' >in.bin

# 1. the COW's filesystem is full: copy-out fails; no invalidation, origin untouched
truncate -s 4M mnt/c.bin && "$BIN/snap_restore" -i e.xml -o mnt/c.bin || fail "restore onto tmpfs"
fill
sha256sum o.bin mnt/c.bin >sum
run "$BIN/snap_write" --origin o.bin --cow mnt/c.bin --target origin --offset 0 --input in.bin
expect_rc 3 "snap_write, COW filesystem full"
expect_grep '^snap_write: mnt/c\.bin: no space left on the filesystem .*not the snapshot.s COW store' \
	run.err "snap_write names the COW's filesystem"
grep -v '^[0-9]*/[0-9]* [0-9]*$' run.err | grep -v '^snap_write: mnt/c' && fail "more than one message line"
sha256sum -c --quiet sum || fail "snap_write changed the origin or the COW after ENOSPC"
run "$BIN/snap_check" mnt/c.bin
expect_rc 0 "the snapshot is still valid"
run "$BIN/snap_write" --origin o.bin --cow mnt/c.bin --target 0 --offset 8 --input in.bin
expect_rc 3 "snap_write to the snapshot, COW filesystem full"
expect_grep '^snap_write: mnt/c\.bin: no space left on the filesystem' run.err "snapshot write"
run "$BIN/snap_check" mnt/c.bin
expect_rc 0 "the snapshot is still valid after a snapshot write"

# 2. the origin's filesystem is full (a sparse origin): the origin write fails
rm -f mnt/fill mnt/fill2 mnt/c.bin
truncate -s 512k mnt/o.bin
truncate -s 4M c2.bin && "$BIN/snap_restore" -i e.xml -o c2.bin || fail "restore"
fill
run "$BIN/snap_write" --origin mnt/o.bin --cow c2.bin --target origin --offset 0 --input in.bin
expect_rc 3 "snap_write, origin filesystem full"
expect_grep '^snap_write: mnt/o\.bin: no space left on the filesystem' run.err "names the origin"

# 3. snap_merge into an origin on a full filesystem: stops, every chunk still listed
"$BIN/snap_dump" cow.bin >before.xml
run "$BIN/snap_merge" --origin mnt/o.bin cow.bin
expect_rc 3 "snap_merge, origin filesystem full"
expect_lines run.err 1 "snap_merge"
expect_grep '^snap_merge: mnt/o\.bin: no space left on the filesystem .*run snap_merge again' run.err \
	"snap_merge names the origin"
"$BIN/snap_dump" cow.bin >after.xml
expect_same before.xml after.xml "the store still lists every chunk"

# 4. snap_restore onto a sparse COW on a full filesystem
rm -f mnt/o.bin
truncate -s 4M mnt/r.bin
fill
run "$BIN/snap_restore" -i s.xml -o mnt/r.bin
expect_rc 3 "snap_restore, filesystem full"
expect_lines run.err 1 "snap_restore"
expect_grep '^snap_restore: mnt/r\.bin: no space left on the filesystem' run.err "snap_restore names it"

# 5. readers' outputs on a full filesystem: the cause is named
run "$BIN/snap_dump" -o mnt/d.xml cow.bin
expect_rc 3 "snap_dump -o, filesystem full"
expect_grep '^snap_dump: mnt/d\.xml: .*No space left on device' run.err "snap_dump names ENOSPC"
run "$BIN/snap_export" --origin o.bin --cow cow.bin -o mnt/v.bin
expect_rc 3 "snap_export -o, filesystem full"
expect_grep '^snap_export: mnt/v\.bin: .*No space left on device' run.err "snap_export names ENOSPC"
exit 0

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# thin_restore (and thin_metadata_unpack, thin_metadata_pack) onto a sparse output file on a
# full filesystem: the message must say that the filesystem holding the file is full, not that
# the metadata device is too small; and an output that really is too small must say that
# instead.  Exit 3 every time; a pack that fails leaves the pack it was to replace intact, and
# a restore --force over a pool finds the full filesystem before its first write.
# Needs root (mounts a 64 KiB tmpfs); skips otherwise.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_restore thin_metadata_unpack thin_metadata_pack
require_cmd mount umount truncate
[ "$(id -u)" = 0 ] || skip "not root: cannot mount a small tmpfs"

mkdir mnt || fail "mkdir"
mount -t tmpfs -o size=64k tmpfs mnt 2>/dev/null || skip "cannot mount a tmpfs here"
trap 'umount mnt 2>/dev/null' EXIT

truncate -s 16M mnt/o.bin || fail "truncate"
run "$BIN/thin_restore" -i "$FIX/thin/many.xml" -o mnt/o.bin
expect_rc 3 "full filesystem"
expect_grep "^thin_restore: mnt/o.bin: the filesystem holding the output file is full" run.err \
	"full filesystem"
grep -q "too small" run.err && fail "a full filesystem reported as a too small output: $(cat run.err)"

# --force over a pool on a full filesystem: found before the first write, the pool survives
rm -f mnt/o.bin
truncate -s 16M mnt/pool.bin || fail "truncate"
"$BIN/thin_restore" -q -i "$FIX/thin/empty.xml" -o mnt/pool.bin || fail "small pool"
sha256sum mnt/pool.bin >pool.sum || fail "sha256sum"
dd if=/dev/zero of=mnt/fill bs=4096 count=64 2>/dev/null # fill it up (dd fails when full)
run "$BIN/thin_restore" --force -i "$FIX/thin/many.xml" -o mnt/pool.bin
expect_rc 3 "--force over a pool, full filesystem"
expect_grep "^thin_restore: mnt/pool.bin: the filesystem holding the output file has no room" \
	run.err "--force over a pool, full filesystem"
expect_grep "mnt/pool.bin was not changed" run.err "--force over a pool, full filesystem"
sha256sum -c --quiet pool.sum || fail "a restore on a full filesystem destroyed the pool"
rm -f mnt/pool.bin mnt/fill

# unpack -f over an existing file on a full filesystem: the file survives, no file left over
truncate -s 16M mnt/pool.bin || fail "truncate"
"$BIN/thin_restore" -q -i "$FIX/thin/empty.xml" -o mnt/pool.bin || fail "small pool"
sha256sum mnt/pool.bin >pool.sum || fail "sha256sum"
dd if=/dev/zero of=mnt/fill bs=4096 count=64 2>/dev/null # fill it up (dd fails when full)
run "$BIN/thin_metadata_unpack" -f -i "$FIX/thin/many.tpt.pack" -o mnt/pool.bin
expect_rc 3 "unpack -f over a file, full filesystem"
sha256sum -c --quiet pool.sum || fail "an unpack on a full filesystem destroyed the file it replaced"
[ "$(ls mnt)" = "fill
pool.bin" ] || fail "files left behind: $(ls mnt)"
rm -f mnt/pool.bin mnt/fill

truncate -s 40960 small.bin || fail "truncate"
run "$BIN/thin_restore" -i "$FIX/thin/many.xml" -o small.bin
expect_rc 3 "small output"
expect_grep "^thin_restore: small.bin: the output is too small" run.err "small output"
grep -q "filesystem" run.err && fail "a small output reported as a full filesystem: $(cat run.err)"
rm -f mnt/o.bin
run "$BIN/thin_metadata_unpack" -i "$FIX/thin/many.tpt.pack" -o mnt/u.bin
expect_rc 3 "unpack, full filesystem"
expect_grep "^thin_metadata_unpack: mnt/u.bin: the filesystem holding the output file is full" \
	run.err "unpack, full filesystem"
rm -f mnt/u.bin
gzip -dc "$FIX/thin/many.bin.gz" >many.bin || fail "fixture"
# a pack that fits, then no room for its replacement: the old pack must survive
"$BIN/thin_metadata_pack" -i many.bin -o mnt/p.pack || fail "first pack"
sha256sum mnt/p.pack >sum || fail "sha256sum"
dd if=/dev/zero of=mnt/fill bs=4096 count=64 2>/dev/null # fill it up (dd fails when full)
run "$BIN/thin_metadata_pack" -i many.bin -o mnt/p.pack
expect_rc 3 "pack, full filesystem"
expect_grep "^thin_metadata_pack: mnt/p.pack: the filesystem holding the pack file is full" \
	run.err "pack, full filesystem"
sha256sum -c --quiet sum || fail "a failed pack destroyed the pack it was to replace"
[ "$(ls mnt)" = "fill
p.pack" ] || fail "files left behind: $(ls mnt)"
exit 0

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Every thin tool on a block device (a loop device over a fixture) answers what it answers
# on the file: thin_check, thin_dump, thin_ls, thin_delta, thin_rmap, thin_metadata_pack;
# thin_repair -i DEVICE (it opens its input more than once: the nested opens must not ask
# for O_EXCL again, which failed with "device is in use" on every device), thin_repair and
# thin_restore -o DEVICE; snap_check and snap_dump on a COW device; snap_restore and
# thin_check --clear-needs-check-flag on a device with 4096-byte logical sectors.  Devices are read with
# O_DIRECT (strace, when present, shows the flag).  Needs root and losetup; skips otherwise.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_check thin_dump thin_ls thin_delta thin_rmap thin_repair thin_restore \
	thin_metadata_pack snap_check snap_dump
require_cmd losetup
[ "$(id -u)" = 0 ] || skip "not root: no loop devices"

gzip -dc "$FIX/thin/many.bin.gz" >m.bin || fail "fixture"
gzip -dc "$FIX/snap/cow.bin.gz" >c.bin || fail "fixture"
truncate -s 4M out.bin o2.bin || fail "truncate"
LOOPS=
cleanup() {
	for l in $LOOPS; do losetup -d "$l" 2>/dev/null; done
}
trap cleanup EXIT
loop() { # FILE VAR [-r]: attach a loop device over FILE, its path in VAR
	l=$(losetup -f --show ${3:-} "$1" 2>/dev/null) || skip "losetup cannot attach a loop device here"
	LOOPS="$LOOPS $l"
	eval "$2=\$l"
}
loop m.bin LM -r
loop c.bin LC -r
loop out.bin LO

# same_answer WHAT ARGS...: the tool's output and status on the device equal those on the file
same_answer() {
	what=$1
	shift
	"$BIN/$@" m.bin >file.out 2>file.err
	frc=$?
	"$BIN/$@" "$LM" >dev.out 2>dev.err
	drc=$?
	[ "$frc" = "$drc" ] || { cat dev.err >&2; fail "$what: exit $drc on $LM, $frc on the file"; }
	expect_same file.out dev.out "$what on $LM vs on the file"
}
same_answer "thin_check" thin_check
same_answer "thin_dump" thin_dump
same_answer "thin_ls" thin_ls -o DEV,MAPPED,EXCLUSIVE,SHARED
same_answer "thin_delta" thin_delta --snap1 0 --snap2 1
same_answer "thin_rmap" thin_rmap --region 0..100000

# shared subtrees (<def>s): their tops are prefetched in runs on a device
gzip -dc "$FIX/thin/shared-leaves.bin.gz" >sl.bin || fail "fixture"
loop sl.bin LS -r
"$BIN/thin_dump" --shared sl.bin >file.out || fail "thin_dump --shared sl.bin"
grep -q '<def ' file.out || fail "shared-leaves fixture dumps no <def>"
run "$BIN/thin_dump" --shared "$LS"
expect_rc 0 "thin_dump --shared $LS"
expect_same file.out run.out "thin_dump --shared on $LS vs on the file"
"$BIN/thin_repair" -i sl.bin -o o2.bin >/dev/null 2>&1 || fail "thin_repair -i sl.bin"
"$BIN/thin_dump" o2.bin >file.out
run "$BIN/thin_repair" -i "$LS" -o o2.bin
expect_rc 0 "thin_repair -i $LS"
"$BIN/thin_dump" o2.bin >dev.out
expect_same file.out dev.out "thin_repair of shared leaves from $LS vs from the file"

run "$BIN/thin_repair" -i "$LM" -o o2.bin
expect_rc 0 "thin_repair -i $LM (a device)"
run "$BIN/thin_dump" o2.bin
expect_rc 0 "thin_dump of thin_repair's output"
cp run.out repaired.xml
"$BIN/thin_dump" m.bin >orig.xml
expect_same orig.xml repaired.xml "thin_repair -i DEVICE: the repaired pool dumps as the input"

run "$BIN/thin_repair" -i m.bin -o "$LO"
expect_rc 0 "thin_repair -o $LO (a device)"
run "$BIN/thin_dump" "$LO"
expect_rc 0 "thin_dump of thin_repair's output device"
expect_same orig.xml run.out "thin_repair -o DEVICE"
dd if=/dev/zero of="$LO" bs=4096 count=1 oflag=direct conv=notrunc status=none || fail "dd"
run "$BIN/thin_restore" -i orig.xml -o "$LO"
expect_rc 0 "thin_restore -o $LO (a device)"
run "$BIN/thin_dump" "$LO"
expect_same orig.xml run.out "thin_restore -o DEVICE"
"$BIN/thin_dump" out.bin >file.xml
expect_same orig.xml file.xml "thin_restore -o DEVICE, read through the backing file"

run "$BIN/thin_metadata_pack" -i "$LM" -o dev.pack
expect_rc 0 "thin_metadata_pack -i $LM"
run "$BIN/thin_metadata_pack" -i m.bin -o file.pack
expect_same file.pack dev.pack "thin_metadata_pack of the device vs the file"

"$BIN/snap_check" c.bin >file.out 2>&1
frc=$?
run "$BIN/snap_check" "$LC"
[ "$rc" = "$frc" ] || fail "snap_check: exit $rc on $LC, $frc on the file"
"$BIN/snap_dump" c.bin >file.out
run "$BIN/snap_dump" "$LC"
expect_rc 0 "snap_dump $LC"
expect_same file.out run.out "snap_dump on $LC vs on the file"

# Writers on a device with 4096-byte logical sectors: snap_restore writes 512-byte sectors
# (read-modify-write through io.c's bounce buffer), thin_check rewrites the superblock.
truncate -s 8M s4.bin || fail "truncate"
l4=$(losetup -f --show --sector-size 4096 s4.bin 2>/dev/null)
if [ -n "$l4" ]; then
	LOOPS="$LOOPS $l4"
	"$BIN/snap_dump" c.bin >want.xml || fail "snap_dump c.bin"
	run "$BIN/snap_restore" -i want.xml -o "$l4"
	expect_rc 0 "snap_restore -o $l4 (4096-byte sectors)"
	run "$BIN/snap_dump" "$l4"
	expect_rc 0 "snap_dump $l4"
	expect_same want.xml run.out "snap_restore -o a 4096-byte-sector device, dumped back"
	gzip -dc "$FIX/thin/needs-check.bin.gz" | dd of="$l4" bs=1M oflag=direct status=none ||
		fail "dd needs-check to $l4"
	run "$BIN/thin_check" --clear-needs-check-flag "$l4"
	expect_rc 0 "thin_check --clear-needs-check-flag $l4"
	run "$BIN/thin_dump" "$l4"
	expect_rc 0 "thin_dump $l4 after clearing"
	grep -q 'flags="1"' run.out && fail "thin_check --clear-needs-check-flag left the flag set on $l4"
else
	note "losetup --sector-size 4096 not available: 4096-byte-sector writes not tested"
fi

if command -v strace >/dev/null 2>&1; then
	strace -f -e trace=open,openat -o st.out "$BIN/thin_dump" "$LM" >/dev/null 2>&1
	grep "\"$LM\"" st.out | grep -qv O_DIRECT && { grep "\"$LM\"" st.out >&2; fail "thin_dump opened $LM without O_DIRECT"; }
	grep -q "\"$LM\".*O_DIRECT" st.out || fail "thin_dump did not open $LM with O_DIRECT"
fi
exit 0

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Key phrases of thin-provisioning-tools 1.x in our messages.  Our messages keep the form
# `tool: path: message`, but where tpt 1.1 prints a stable key phrase for a condition, our
# message contains it (case-sensitive substring), so scripts and log filters written for tpt
# keep matching.  Each record of the table at the end is one condition: it is set up twice in
# fresh directories, run through tpt 1.1 and through ours; the test fails when tpt 1.1's
# stderr lacks the phrase (the table is stale), when ours lacks it, or when our stderr lacks
# the `after` line.  `before` is our message before the phrase was embedded (`=`: it already
# contained it).  Fields (one per line, TAB after the key; a blank line ends a record):
#   cond  the condition        tool   the tool           setup  sh run first (optional)
#   args  the tool's arguments phrase tpt 1.1's phrase   before / after  our stderr line
# Without tpt 1.1 the test skips (one line).
#
# Conditions deliberately left without tpt's phrase (it would mislead for our behaviour, or
# it is not a stable phrase):
#   - usage errors: tpt 1.x's texts come from its argument parser ("error: the following
#     required arguments were not provided", "unexpected argument 'X' found", "invalid value
#     'X' for '--opt <V>'"); ours stay getopt-style with a `Try '... --help'` line; exit 2 both.
#   - XML given as binary input: tpt says "Metadata device/file too small"; we say
#     "This looks like XML" (the file may well be large enough).
#   - a classic snapshot COW store or a thin_metadata_pack file as input: tpt says "bad checksum
#     in superblock"; we name the format and its reader instead.
#   - damaged btree nodes (thin_check, thin_dump, thin_delta, thin_rmap): tpt prints summaries
#     ("N nodes in data mapping tree contain errors") or "node error: checksum error <encoded
#     path>"; we report each damaged node with its code, block and keys.
#   - thin_check wrong data reference counts: tpt prints "Bad reference count for data block N"
#     per block; our records cover ranges ("data block reference counts are wrong").
#   - thin_restore of non-XML input: tpt's phrase is its parser's ("unknown start tag at
#     byte N").
#   - output write errors: tpt prints "output error: <strerror> (os error N)"; ours name the
#     path and the strerror text.
#   - thin_dump --dev-id of an absent device: tpt is silent (exit 0); we warn.
#   - a superblock with bad magic but a valid checksum: tpt 1.1 does not look at the magic
#     (it carries on, or fails later on the trees); ours stop with "bad magic" / SB_MAGIC.
#   - thin_metadata_unpack into a small output file: both grow the file; no message.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tpt 1.1
require_tool thin_check thin_dump thin_delta thin_ls thin_rmap thin_repair thin_restore \
	thin_metadata_pack thin_metadata_unpack
[ -x "$TT/thin_damage" ] || skip "test tool thin_damage not built"

nfail=0
nrec=0
top=$PWD

# one_run WHO DIR: set up DIR and run the record's tool there (WHO: ours or tpt);
# stderr -> DIR/err, exit status -> DIR/rc.
one_run() {
	mkdir "$2" && (
		cd "$2" || exit 3
		if [ -n "$setup" ]; then
			eval "$setup" >/dev/null 2>setup.err || { echo "setup failed: $setup"; cat setup.err; exit 3; }
		fi
		if [ "$1" = ours ]; then
			eval "\"\$BIN/\$tool\" $args" </dev/null >/dev/null 2>err
		else
			eval "\"\$TPT11\" \$tool $args" </dev/null >/dev/null 2>err
		fi
		echo $? >rc
	)
}

check_record() {
	[ -n "$tool" ] || return 0
	nrec=$((nrec + 1))
	d=$top/r$nrec
	mkdir "$d" || exit 1
	if ! one_run ours "$d/ours" || ! one_run tpt "$d/tpt"; then
		echo "FAIL: $tool $cond: setup failed"
		nfail=$((nfail + 1))
		return 0
	fi
	if ! grep -Fq -e "$phrase" "$d/tpt/err"; then
		echo "FAIL: $tool $cond: tpt 1.1 no longer prints '$phrase' (exit $(cat "$d/tpt/rc")):"
		sed 's/^/  tpt: /' "$d/tpt/err" | head -n 3
		nfail=$((nfail + 1))
	fi
	if ! grep -Fq -e "$phrase" "$d/ours/err"; then
		echo "FAIL: $tool $cond: our stderr lacks tpt's '$phrase' (exit $(cat "$d/ours/rc")):"
		sed 's/^/  ours: /' "$d/ours/err" | head -n 3
		nfail=$((nfail + 1))
	elif ! grep -Fxq -e "$after" "$d/ours/err"; then
		echo "FAIL: $tool $cond: our stderr lacks the table's line '$after':"
		sed 's/^/  ours: /' "$d/ours/err" | head -n 3
		nfail=$((nfail + 1))
	fi
}

TAB=$(printf '\t')
cond= tool= setup= args= phrase= before= after=
while IFS= read -r line; do
	if [ -z "$line" ]; then
		check_record
		cond= tool= setup= args= phrase= before= after=
		continue
	fi
	key=${line%%"$TAB"*}
	val=${line#*"$TAB"}
	case $key in
	cond) cond=$val ;;
	tool) tool=$val ;;
	setup) setup=$val ;;
	args) args=$val ;;
	phrase) phrase=$val ;;
	before) before=$val ;;
	after) after=$val ;;
	*) fail "key-phrases table: unknown key '$key'" ;;
	esac
done <<'TABLE'
cond	superblock checksum wrong
tool	thin_check
setup	fixture many m.bin && $TT/thin_damage m.bin flip-csum 0
args	m.bin
phrase	bad checksum in superblock
before	thin_check: SB_CHECKSUM at block 0: superblock checksum is wrong; run thin_repair
after	thin_check: SB_CHECKSUM at block 0: bad checksum in superblock; run thin_repair

cond	superblock zeroed
tool	thin_check
setup	fixture many m.bin && $TT/thin_damage m.bin zero-block 0
args	m.bin
phrase	bad checksum in superblock
before	thin_check: SB_CHECKSUM at block 0: superblock checksum is wrong; run thin_repair
after	thin_check: SB_CHECKSUM at block 0: bad checksum in superblock; run thin_repair

cond	missing input file
tool	thin_check
args	nothere.bin
phrase	Couldn't find input file
before	=
after	thin_check: nothere.bin: Couldn't find input file (no such file or directory)

cond	directory as input
tool	thin_check
setup	mkdir d
args	d
phrase	Not a block device or regular file
before	=
after	thin_check: d: Not a block device or regular file

cond	input too small
tool	thin_check
setup	head -c 1024 /dev/zero > t.bin
args	t.bin
phrase	Metadata device/file too small.  Is this binary metadata?
before	=
after	thin_check: t.bin: Metadata device/file too small.  Is this binary metadata?

cond	--metadata-snap without a held snapshot
tool	thin_check
setup	fixture many m.bin
args	-m m.bin
phrase	no current metadata snap
before	thin_check: m.bin: no metadata snapshot is held; reserve one with 'dmsetup message <pool> 0 reserve_metadata_snap' or run without --metadata-snap
after	thin_check: m.bin: no current metadata snap: no metadata snapshot is held; reserve one with 'dmsetup message <pool> 0 reserve_metadata_snap' or run without --metadata-snap

cond	--metadata-snap with a damaged snapshot superblock
tool	thin_check
setup	fixture one-thin p.bin && $TT/thin_damage p.bin bad-held-root >/dev/null
args	-m p.bin
phrase	metadata snap: bad checksum in superblock
before	thin_check: HELD_ROOT at block 6: metadata snapshot (held root) is damaged (bad checksum); release the metadata snapshot (dmsetup message <pool> 0 release_metadata_snap) or run thin_repair
after	thin_check: HELD_ROOT at block 6: metadata snapshot (held root) is damaged (metadata snap: bad checksum in superblock); release the metadata snapshot (dmsetup message <pool> 0 release_metadata_snap) or run thin_repair

cond	data block leaked
tool	thin_check
setup	fixture many m.bin && b=$($TT/thin_damage m.bin find free-data) && $TT/thin_damage m.bin leak-data $b
args	m.bin
phrase	data blocks have leaked
before	thin_check: DATA_LEAK, data block 29: data blocks leaked (counted in use, not referenced); non-fatal: the space is only lost; --ignore-non-fatal-errors accepts it, thin_repair reclaims it
after	thin_check: DATA_LEAK, data block 29: data blocks have leaked (counted in use, not referenced); non-fatal: the space is only lost; --ignore-non-fatal-errors accepts it, thin_repair reclaims it

cond	device mapped_blocks wrong
tool	thin_check
setup	fixture many m.bin && $TT/thin_damage m.bin set-mapped-blocks 3 7
args	m.bin
phrase	has unexpected number of mappings
before	thin_check: DEV_MAPPED_COUNT at block 25, device 3: device mapped_blocks differs from the mappings found (details say 7 mapped blocks, the tree has 330); run thin_repair
after	thin_check: DEV_MAPPED_COUNT at block 25, device 3: thin device has unexpected number of mappings (details say 7 mapped blocks, the tree has 330); run thin_repair

cond	superblock checksum wrong
tool	thin_dump
setup	fixture one-thin p.bin && $TT/thin_damage p.bin flip-csum 0
args	p.bin
phrase	bad checksum in superblock
before	thin_dump: p.bin: damaged superblock: bad checksum; run thin_check for details, or thin_dump --repair
after	thin_dump: p.bin: damaged superblock: bad checksum in superblock; run thin_check for details, or thin_dump --repair

cond	--metadata-snap without a held snapshot
tool	thin_dump
setup	fixture one-thin p.bin
args	-m p.bin
phrase	no current metadata snap
before	thin_dump: p.bin: no metadata snapshot is held; reserve one with dmsetup message <pool> 0 reserve_metadata_snap
after	thin_dump: p.bin: no current metadata snap: no metadata snapshot is held; reserve one with dmsetup message <pool> 0 reserve_metadata_snap

cond	--metadata-snap with a damaged snapshot superblock
tool	thin_dump
setup	fixture one-thin p.bin && $TT/thin_damage p.bin bad-held-root >/dev/null
args	-m p.bin
phrase	bad checksum in superblock
before	thin_dump: p.bin: damaged metadata snapshot superblock: bad checksum; release the metadata snapshot and reserve a new one, or dump the live metadata without -m
after	thin_dump: p.bin: damaged metadata snapshot superblock: bad checksum in superblock; release the metadata snapshot and reserve a new one, or dump the live metadata without -m

cond	--repair, destroyed superblock, no --data-block-size
tool	thin_dump
setup	fixture kernel-deleted p.bin && $TT/thin_damage p.bin zero-block 0
args	-r --transaction-id 8 --nr-data-blocks 1024 p.bin
phrase	data block size needs to be provided due to corruption in the superblock
before	=
after	thin_dump: p.bin: data block size needs to be provided due to corruption in the superblock: give --data-block-size (the pool's chunk size in sectors)

cond	--repair, destroyed superblock, no trees found
tool	thin_dump
setup	truncate -s 1M p.bin
args	-r --transaction-id 1 --data-block-size 128 --nr-data-blocks 4096 p.bin
phrase	no compatible roots found
before	thin_dump: p.bin: the superblock is destroyed and no top-level mapping tree with a device details tree of the same devices was found by scanning: nothing to dump
after	thin_dump: p.bin: no compatible roots found: the superblock is destroyed and no top-level mapping tree with a device details tree of the same devices was found by scanning: nothing to dump

cond	missing input file
tool	thin_dump
args	nothere.bin
phrase	Couldn't find input file
before	=
after	thin_dump: nothere.bin: Couldn't find input file (no such file or directory)

cond	directory as input
tool	thin_dump
setup	mkdir d
args	d
phrase	Not a block device or regular file
before	=
after	thin_dump: d: Not a block device or regular file

cond	no --thin2/--snap2/--root2
tool	thin_delta
setup	fixture snaps x.bin
args	--thin1 0 x.bin
phrase	--thin2 or --root2 not specified
before	thin_delta: --snap2 (or --thin2, --root2) not specified.
after	thin_delta: --thin2 or --root2 not specified (--snap2 is an alias of --thin2).

cond	device id not found
tool	thin_delta
setup	fixture snaps x.bin
args	--thin1 0 --thin2 99 x.bin
phrase	Unable to find mapping tree for snap2 (99)
before	=
after	thin_delta: Unable to find mapping tree for snap2 (99)

cond	missing input file
tool	thin_delta
args	--thin1 0 --thin2 1 nothere.bin
phrase	Couldn't find input file
before	=
after	thin_delta: nothere.bin: Couldn't find input file (no such file or directory)

cond	--metadata-snap without a held snapshot
tool	thin_delta
setup	fixture snaps x.bin
args	-m --thin1 0 --thin2 1 x.bin
phrase	no current metadata snap
before	=
after	thin_delta: x.bin: no current metadata snapshot (reserve one with 'dmsetup message <pool> 0 reserve_metadata_snap')

cond	superblock checksum wrong
tool	thin_ls
setup	fixture snaps x.bin && $TT/thin_damage x.bin flip-csum 0
args	x.bin
phrase	bad checksum in superblock
before	=
after	thin_ls: x.bin: bad checksum in superblock: not thin-pool metadata, or a damaged superblock; run thin_check (thin_repair can rebuild it)

cond	--metadata-snap without a held snapshot
tool	thin_ls
setup	fixture snaps x.bin
args	-m x.bin
phrase	no current metadata snap
before	thin_ls: x.bin: no metadata snapshot is held; reserve one with 'dmsetup message <pool> 0 reserve_metadata_snap' or run without --metadata-snap
after	thin_ls: x.bin: no current metadata snap: no metadata snapshot is held; reserve one with 'dmsetup message <pool> 0 reserve_metadata_snap' or run without --metadata-snap

cond	damaged mapping leaf
tool	thin_ls
setup	fixture snaps x.bin && $TT/thin_damage x.bin flip-csum $($TT/thin_damage x.bin find leaf 2)
args	-o DEV,MAPPED,EXCLUSIVE x.bin
phrase	metadata contains errors
before	thin_ls: x.bin: metadata is damaged: btree node checksum is wrong in mapping tree, metadata block 17 (run thin_check for details)
after	thin_ls: x.bin: metadata contains errors: btree node checksum is wrong in mapping tree, metadata block 17 (run thin_check for details)

cond	input too small
tool	thin_ls
setup	head -c 1024 /dev/zero > t.bin
args	t.bin
phrase	Metadata device/file too small.  Is this binary metadata?
before	=
after	thin_ls: t.bin: Metadata device/file too small.  Is this binary metadata?

cond	missing input file
tool	thin_ls
args	nothere.bin
phrase	Couldn't find input file
before	=
after	thin_ls: nothere.bin: Couldn't find input file (no such file or directory)

cond	missing input file
tool	thin_rmap
args	--region 0..5 nothere.bin
phrase	Couldn't find input file
before	=
after	thin_rmap: nothere.bin: Couldn't find input file (no such file or directory)

cond	directory as input
tool	thin_rmap
setup	mkdir d
args	--region 0..5 d
phrase	Not a block device or regular file
before	=
after	thin_rmap: d: Not a block device or regular file

cond	missing input file
tool	thin_repair
setup	truncate -s 8M o.bin
args	-i nothere.bin -o o.bin
phrase	Couldn't find input file
before	thin_repair: nothere.bin: no such file or directory
after	thin_repair: nothere.bin: Couldn't find input file (no such file or directory)

cond	missing output file
tool	thin_repair
setup	fixture one-thin p.bin
args	-i p.bin -o nothere.bin
phrase	Couldn't find output file
before	thin_repair: nothere.bin: no such file or directory
after	thin_repair: nothere.bin: Couldn't find output file (create it, or the logical volume, first)

cond	directory as input
tool	thin_repair
setup	mkdir d && truncate -s 8M o.bin
args	-i d -o o.bin
phrase	Not a block device or regular file
before	thin_repair: d: not a block device or regular file
after	thin_repair: d: Not a block device or regular file

cond	directory as output
tool	thin_repair
setup	mkdir d && fixture one-thin p.bin
args	-i p.bin -o d
phrase	Not a block device or regular file
before	thin_repair: d: not a block device or regular file
after	thin_repair: d: Invalid output file: Not a block device or regular file

cond	output too small
tool	thin_repair
setup	fixture snaps p.bin && truncate -s 40000 o.bin
args	-i p.bin -o o.bin
phrase	Output file too small
before	thin_repair: o.bin: metadata device/file too small
after	thin_repair: o.bin: Output file too small (metadata device/file too small)

cond	input too small
tool	thin_repair
setup	head -c 1024 /dev/zero > t.bin && truncate -s 8M o.bin
args	-i t.bin -o o.bin
phrase	Metadata device/file too small.  Is this binary metadata?
before	thin_repair: t.bin: metadata device/file too small
after	thin_repair: t.bin: Metadata device/file too small.  Is this binary metadata?

cond	destroyed superblock, no trees found
tool	thin_repair
setup	truncate -s 1M p.bin && truncate -s 8M o.bin
args	--transaction-id 1 --data-block-size 128 --nr-data-blocks 4096 -i p.bin -o o.bin
phrase	no compatible roots found
before	thin_repair: no top-level mapping tree could be found in p.bin: the device trees cannot be matched to device ids, nothing can be repaired
after	thin_repair: no compatible roots found: no top-level mapping tree could be found in p.bin: the device trees cannot be matched to device ids, nothing can be repaired

cond	missing input file
tool	thin_restore
setup	truncate -s 8M o.bin
args	-i nothere.xml -o o.bin
phrase	Couldn't find input file
before	=
after	thin_restore: nothere.xml: Couldn't find input file (No such file or directory)

cond	missing output file
tool	thin_restore
setup	cp "$FIX/thin/one-thin.xml" x.xml
args	-i x.xml -o nothere.bin
phrase	Couldn't find output file
before	thin_restore: nothere.bin: output does not exist (create it, or the logical volume, first)
after	thin_restore: nothere.bin: Couldn't find output file (create it, or the logical volume, first)

cond	directory as output
tool	thin_restore
setup	cp "$FIX/thin/one-thin.xml" x.xml && mkdir d
args	-i x.xml -o d
phrase	Not a block device or regular file
before	thin_restore: d: output is not a block device or regular file
after	thin_restore: d: Invalid output file: Not a block device or regular file

cond	output too small
tool	thin_restore
setup	cp "$FIX/thin/one-thin.xml" x.xml && truncate -s 8192 o.bin
args	-i x.xml -o o.bin
phrase	Output file too small
before	=
after	thin_restore: o.bin: Output file too small (at least 40960 bytes are needed)

cond	missing input file
tool	thin_metadata_pack
args	-i nothere.bin -o o.pack
phrase	Couldn't find input file
before	=
after	thin_metadata_pack: nothere.bin: Couldn't find input file (no such file or directory)

cond	directory as input
tool	thin_metadata_pack
setup	mkdir d
args	-i d -o o.pack
phrase	Not a block device or regular file
before	thin_metadata_pack: o.pack: output is not a block device or regular file
after	thin_metadata_pack: d: Not a block device or regular file

cond	input too small
tool	thin_metadata_pack
setup	head -c 1024 /dev/zero > t.bin
args	-i t.bin -o o.pack
phrase	Metadata device/file too small.  Is this binary metadata?
before	=
after	thin_metadata_pack: t.bin: Metadata device/file too small.  Is this binary metadata?

cond	missing input file
tool	thin_metadata_unpack
args	-i nothere.pack -o o.bin
phrase	Couldn't find input file
before	=
after	thin_metadata_unpack: nothere.pack: Couldn't find input file (no such file or directory)

cond	input is not a pack
tool	thin_metadata_unpack
setup	cp "$FIX/thin/one-thin.xml" x.xml
args	-i x.xml -o o.bin
phrase	Not a pack file
before	=
after	thin_metadata_unpack: x.xml: Not a pack file

TABLE
check_record

[ "$nrec" -gt 0 ] || fail "key-phrases table is empty"
note "$nrec conditions, $nfail failures"
[ "$nfail" = 0 ] || exit 1
exit 0

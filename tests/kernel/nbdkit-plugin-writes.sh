#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# nbdkit-dmmeta-plugin writes, the kernel reads (issue 16): volumes written over NBD through
# the plugin activate in Debian's 6.1 kernel and read the same bytes our exporters read.
# Exit 0 pass, 1 fail, 77 skip (no plugin, nbdkit or qemu-io, no qemu or kernel).
#
# Host:
#   thin     pool.xml (thin 0; thin 1 a snapshot of it sharing blocks 0-29, with blocks of
#            its own) -> thin_restore -> meta.img over a random data.img; the plugin serves
#            thin 1 then thin 0 rw=true, qemu-io writes (partial writes into shared blocks,
#            new blocks, write -z, write -z -u, a discard of whole shared blocks, a flush);
#            thin_export of each device = a model of the writes over its bytes before;
#   classic  snap_restore of an empty store (chunk 16) over a random origin.img; the plugin
#            writes the origin (view=origin: copy-outs), then the snapshot; snap_export = the
#            origin as it was + the snapshot writes, origin.img = the origin writes;
#   sha256 of every volume as thin_export / snap_export (and origin.img) hold it.
# Guest (one boot): thin-pool + thin tables over meta.img/data.img, snapshot-origin +
#   snapshot over origin.img/cow.img; sha256 of every volume; teardown.
# Host after: every hash the kernel read = the host's; thin_export / snap_export unchanged;
#   thin_check and snap_check (ours) clean.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"
. "$SRCDIR/tests/kernel/lib/kernel.sh"
. "$SRCDIR/tests/cli/lib/nbdkit.sh"

nbd_require qemu-io
require_tool thin_restore thin_export thin_check snap_restore snap_export snap_check
k_require_vm
trap '[ -z "$NBDKIT_PID" ] || kill -9 $NBDKIT_PID 2>/dev/null' EXIT

BS=128                  # 64 KiB data blocks
NB=256                  # data blocks (16 MiB)
TSECT=8192              # each thin volume: 4 MiB, 64 blocks
VOL=$((TSECT * 512))
OSECT=8192              # classic origin: 4 MiB
CS=16                   # classic chunk: 8 KiB

# ---- thin: a restored pool written through the plugin ------------------------------------
cat >pool.xml <<'XML'
<superblock uuid="" time="1" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="256">
  <device dev_id="0" mapped_blocks="41" transaction="0" creation_time="0" snap_time="1">
    <range_mapping origin_begin="0" data_begin="0" length="40" time="0"/>
    <single_mapping origin_block="50" data_block="60" time="0"/>
  </device>
  <device dev_id="1" mapped_blocks="35" transaction="0" creation_time="1" snap_time="1">
    <range_mapping origin_begin="0" data_begin="0" length="30" time="0"/>
    <range_mapping origin_begin="30" data_begin="40" length="5" time="1"/>
  </device>
</superblock>
XML
zero_file meta.img 1024
head -c $((NB * BS * 512)) /dev/urandom >data.img || fail "cannot write data.img"
"$BIN/thin_restore" -q -i pool.xml -o meta.img || fail "thin_restore of pool.xml"
texport() { # texport DEV OUT
	"$BIN/thin_export" -q --metadata-dev meta.img --data-dev data.img --dev-id "$1" \
		--size $TSECT -o "$2" || fail "thin_export of thin $1"
}
texport 0 m.0
texport 1 m.1
cmp -s m.0 m.1 && fail "thin 0 and its snapshot 1 read the same before any write"

serve metadata=meta.img data=data.img dev=1 size=$VOL rw=true
qio -c "write -P 0x5a 12345 100000" -c "write -P 0x33 1966080 65536" \
	-c "write -z 655360 131072" -c "write -z -u 2050000 70000" \
	-c "discard 1048576 262144" -c "write -P 0x77 3500000 100000" -c flush "$URI" ||
	{ cat qio.log >&2; fail "qemu-io writes to thin 1"; }
stop
model m.1 12345 100000 132      # blocks 0-1: shared with thin 0, breaks sharing
model m.1 1966080 65536 063     # block 30: its own, in place
model m.1 655360 131072 zero    # blocks 10-11 (shared): zeroes
model m.1 2050000 70000 zero    # inside blocks 31-32 (its own): zeroes, unmap
model m.1 1048576 262144 zero   # blocks 16-19 (shared): discarded
model m.1 3500000 100000 167    # blocks 53-54: new
serve metadata=meta.img data=data.img dev=0 size=$VOL rw=true
qio -c "write -P 0x21 70000 5000" -c "write -P 0x22 3276800 65536" -c "write -z 1100000 4096" \
	-c flush "$URI" || { cat qio.log >&2; fail "qemu-io writes to thin 0"; }
stop
model m.0 70000 5000 041        # block 1: shared with thin 1 before its write broke it
model m.0 3276800 65536 042     # block 50: its own, in place
model m.0 1100000 4096 zero     # block 16: thin 1 discarded its mapping, thin 0 keeps it
run "$BIN/thin_check" meta.img
[ "$rc" = 0 ] || { _show_run; fail "thin_check exit $rc after the plugin's writes"; }
for d in 0 1; do
	texport $d e.$d
	cmp -s e.$d m.$d || fail "thin $d after the plugin's writes differs from the model"
done

# ---- classic snapshot written through the plugin ---------------------------------------
head -c $((OSECT * 512)) /dev/urandom >origin.img || fail "cannot write origin.img"
cp origin.img ms.img
zero_file cow.img 512
printf '<snapshot_store magic="0x70416e53" valid="1" version="1" chunk_size="%s">\n</snapshot_store>\n' \
	$CS >empty.xml
"$BIN/snap_restore" -q -i empty.xml -o cow.img || fail "snap_restore of an empty store"
cp origin.img mo.img
serve origin=origin.img cow=cow.img view=origin rw=true
qio -c "write -P 0x41 4096 20000" -c "write -P 0x42 3000000 100000" -c "write -z 1000000 9000" \
	-c flush "$URI" || { cat qio.log >&2; fail "qemu-io writes to the origin"; }
stop
model mo.img 4096 20000 101
model mo.img 3000000 100000 102
model mo.img 1000000 9000 zero
serve origin=origin.img cow=cow.img rw=true
qio -c "write -P 0x51 65536 8192" -c "write -P 0x52 3010000 30000" -c "write -z 2000000 16384" \
	-c flush "$URI" || { cat qio.log >&2; fail "qemu-io writes to the snapshot"; }
stop
model ms.img 65536 8192 121
model ms.img 3010000 30000 122
model ms.img 2000000 16384 zero
run "$BIN/snap_check" cow.img
[ "$rc" = 0 ] || { _show_run; fail "snap_check exit $rc after the plugin's writes"; }
"$BIN/snap_export" -q --origin origin.img --cow cow.img -o s.img || fail "snap_export"
cmp -s origin.img mo.img || fail "the origin after the plugin's writes differs from the model"
cmp -s s.img ms.img || fail "the snapshot after the plugin's writes differs from the model"

{
	echo "thin/0 $(sha e.0)"
	echo "thin/1 $(sha e.1)"
	echo "origin $(sha origin.img)"
	echo "snap $(sha s.img)"
} >want.sha

# ---- the kernel reads them --------------------------------------------------------------
k_guest nbdkit-plugin-writes.sh meta.img data.img origin.img cow.img
sed -n 's/^SHA //p' guest.out >got.sha
cmp -s want.sha got.sha || {
	diff want.sha got.sha >&2
	k_bad "the kernel reads volumes the plugin wrote differently from thin_export / snap_export (< host > kernel)"
}
[ "$(wc -l <got.sha)" = 4 ] || k_bad "the guest hashed $(wc -l <got.sha) volumes, expected 4"
sed -n 's/^STATUS /note: kernel status /p' guest.out

# ---- and leaves them as they were -------------------------------------------------------
run "$BIN/thin_check" meta.img
[ "$rc" = 0 ] || { _show_run; k_bad "thin_check exit $rc after the kernel's teardown"; }
run "$BIN/snap_check" cow.img
[ "$rc" = 0 ] || { _show_run; k_bad "snap_check exit $rc after the kernel's teardown"; }
for d in 0 1; do
	texport $d a.$d
	cmp -s a.$d e.$d || k_bad "thin_export of thin $d changed across the kernel's activation"
done
"$BIN/snap_export" -q --origin origin.img --cow cow.img -o s2.img || k_bad "snap_export after the kernel"
cmp -s s2.img s.img || k_bad "snap_export changed across the kernel's activation"
k_finish

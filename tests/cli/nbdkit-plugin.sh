#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# nbdkit-dmmeta-plugin with real clients (nbdcopy, qemu-img, qemu-io, nbdfuse):
#   thin   a pool restored from fixtures/thin/snaps.xml (an origin and three snapshots sharing
#          its blocks) plus thin_write: every volume read through the plugin (nbdcopy and
#          qemu-img compare) equals thin_export's; writes, write-zeroes (with and without
#          unmap), trims and an nbdcopy through rw=true land where a model of the same
#          operations says, the other volumes keep their bytes, and thin_check (ours, and
#          tpt 1.1's when tests/tools/fetch-tpt has it) accepts the pool;
#   ro     without rw=true a write fails and the pool is not touched;
#   crash  kill -9 of nbdkit after unflushed writes (the pool holds the last flush), after a
#          flush (it holds the writes), at a random moment of a run of write+flush pairs (it
#          holds a prefix of them); SIGTERM commits what was not flushed (a clean exit, as the
#          kernel commits at deactivation); every time the checkers accept the metadata;
#   snap   a classic snapshot made by snap_write: view=snapshot equals snap_export, view=origin
#          the origin; writes to the origin copy out first (the snapshot's view is unchanged),
#          writes to the snapshot change its view only; snap_check accepts the stores, also
#          after a kill -9;
#   ext4   mkfs.ext4 through nbdfuse over a thin volume, a file written with debugfs,
#          e2fsck -fn clean and the file read back, through the plugin and from thin_export.
#   extents nbdinfo --map equals thin_dump's mappings (with and without an external origin);
#   concurrent nbdcopy reads (4 connections) beside qemu-io writes and discards: every read
#          consistent chunk by chunk, the final volume as modelled, thin_check clean;
#   config errors name the key.
# Skips (one line) when nbdkit, nbdcopy, qemu-img or qemu-io is missing or the plugin was not
# built; the ext4 part is skipped (noted) without nbdfuse, /dev/fuse, mkfs.ext4 or debugfs.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

. "$SRCDIR/tests/cli/lib/nbdkit.sh"
nbd_require nbdcopy qemu-img qemu-io
require_tool thin_restore thin_write thin_export thin_check thin_message thin_dump snap_restore snap_write \
	snap_export snap_check

cleanup() {
	[ -n "$NBDKIT_PID" ] && kill -9 $NBDKIT_PID 2>/dev/null
	[ -d mnt ] && { umount mnt 2>/dev/null || fusermount3 -u mnt 2>/dev/null; }
	return 0
}
trap cleanup EXIT

# checks META: our thin_check, and tpt 1.1's when present, accept the pool
checks() {
	"$BIN/thin_check" -q "$1" || fail "$2: thin_check finds damage in $1"
	if [ -n "$TPT11" ] && [ -x "$TPT11" ]; then
		"$TPT11" thin_check -q "$1" || fail "$2: tpt 1.1 thin_check finds damage in $1"
	fi
}

VOL=50331648 # bytes of every thin volume served (the fixture maps blocks below 729 of 64 KiB)
VOL_S=$((VOL / 512))
texport() { # texport DEV OUT
	"$BIN/thin_export" -q --metadata-dev meta.bin --data-dev data.bin --dev-id "$1" \
		--size $VOL_S -o "$2" || fail "thin_export of device $1"
}
thin() { # thin DEV ARGS...: serve thin device DEV of meta.bin/data.bin
	d=$1
	shift
	serve metadata=meta.bin data=data.bin dev="$d" size=$VOL "$@"
}

# ---- thin: views ----------------------------------------------------------------------
zero_file meta.bin 1024
"$BIN/thin_restore" -q -i "$FIX/thin/snaps.xml" -o meta.bin || fail "thin_restore"
head -c 134217728 /dev/urandom >data.bin # 2048 blocks of 64 KiB: the fixture's data blocks
head -c 1000000 /dev/urandom >in.bin
"$BIN/thin_write" -q --metadata-dev meta.bin --data-dev data.bin --dev-id 3 --offset 1001 \
	-i in.bin || fail "thin_write"
for d in 0 1 2 3; do
	texport $d e.$d
	thin $d
	nbdcopy "$URI" v.$d || fail "nbdcopy of device $d"
	qemu-img compare -q -f raw -F raw e.$d "$URI" || fail "qemu-img compare: device $d differs"
	stop
	cmp -s v.$d e.$d || fail "device $d: nbdcopy's bytes differ from thin_export's"
done
note "thin: views of devices 0-3 equal thin_export's (nbdcopy, qemu-img compare)"

# ---- thin: extents (nbdinfo --map) against thin_dump's mappings ---------------------------
# mapped blocks and the bytes below an external origin's end are data; the rest is a hole
# that reads zeros.  Both sides merged into maximal runs: "offset length type" (0 data,
# 3 hole,zero).
merge_runs() {
	awk '{ if (NR > 1 && $3 == t && $1 == o + l) { l += $2; next }
	       if (NR > 1) print o, l, t; o = $1; l = $2; t = $3 }
	     END { if (NR) print o, l, t }'
}
expect_map() { # expect_map DEV ORIGIN_BYTES < thin_dump's XML
	awk -v dev="$1" -v obytes="$2" -v vol=$VOL '
	function attr(name,   v) {
		if (!match($0, name "=\"[0-9]+\"")) return -1
		v = substr($0, RSTART + length(name) + 2, RLENGTH - length(name) - 3)
		return v + 0
	}
	function seg(a, b, t) { if (b > a) print a, b - a, t }
	/<superblock/ { bs = attr("data_block_size") * 512 }
	/<device / { cur = attr("dev_id") }
	/<\/device>/ { cur = -1 }
	cur == dev && /<single_mapping/ { m[attr("origin_block")] = 1 }
	cur == dev && /<range_mapping/ {
		o = attr("origin_begin"); n = attr("length")
		for (b = o; b < o + n; b++) m[b] = 1
	}
	END {
		for (s = 0; s < vol; s += bs) {
			e = s + bs > vol ? vol : s + bs
			if (m[s / bs]) { seg(s, e, 0); continue }
			c = obytes < s ? s : (obytes > e ? e : obytes)
			seg(s, c, 0); seg(c, e, 3)
		}
	}' | merge_runs
}
got_map() {
	nbdinfo --map "$URI" >map.raw || fail "nbdinfo --map: $*"
	awk '{ print $1, $2, $3 }' map.raw | merge_runs
}
if command -v nbdinfo >/dev/null 2>&1; then
	"$BIN/thin_dump" -o dump.xml meta.bin || fail "thin_dump"
	for d in 0 1 3; do
		expect_map $d 0 <dump.xml >map.want
		thin $d
		got_map "device $d" >map.got
		stop
		[ "$(wc -l <map.want)" -gt 2 ] || fail "device $d: the expected map has no holes"
		cmp -s map.want map.got || { diff map.want map.got | head >&2; fail "device $d: nbdinfo --map differs from thin_dump's mappings"; }
	done
	# an external origin of 1000000 bytes (999936 in whole sectors): unmapped bytes below
	# it are data
	expect_map 3 999936 <dump.xml >map.want
	thin 3 origin=in.bin
	got_map "device 3 with an external origin" >map.got
	nbdcopy "$URI" v3o.img || fail "nbdcopy of device 3 with an external origin"
	stop
	"$BIN/thin_export" -q --metadata-dev meta.bin --data-dev data.bin --dev-id 3 \
		--external-origin in.bin --size $VOL_S -o e3o.img || fail "thin_export --external-origin"
	cmp -s v3o.img e3o.img || fail "device 3 with an external origin: nbdcopy differs from thin_export"
	cmp -s map.want map.got || { diff map.want map.got | head >&2; fail "device 3 with an origin: nbdinfo --map differs"; }
	note "thin: extents (nbdinfo --map) equal thin_dump's mappings, with and without an external origin (whose view equals thin_export's)"
else
	note "thin: extents not tested (needs nbdinfo from libnbd-bin)"
fi

# ---- read-only: a write fails, nothing changes ------------------------------------------
sha0=$(sha meta.bin)
thin 1
qemu-io -f raw -c "write -P 0x11 0 4096" "$URI" >qio.log 2>&1 && fail "a write to a read-only export worked"
stop
[ "$(sha meta.bin)" = "$sha0" ] || fail "serving read-only changed the metadata"

# ---- thin: writes through rw=true -------------------------------------------------------
# device 1 shares blocks with device 0 (a snapshot): partial writes break sharing; device 2
# gets an nbdcopy of 3 MiB.
cp e.1 m.1
thin 1 rw=true
qio -c "write -P 0x5a 12345 100000" -c "write -P 0x33 5242880 65536" \
	-c "write -z 1048576 131072" -c "write -z -u 2097152 196608" -c "write -z -u 3000000 100000" \
	-c "discard 4194304 262144" -c "write -P 0x77 16000000 700000" -c flush "$URI" ||
	{ cat qio.log; fail "qemu-io writes to device 1"; }
# image files are locked: a second server on the same pool, writable or not, fails to start
for mode in rw=true rw=false; do
	if (NB_TIMEOUT=20 nbdkit_san -f -U "$PWD/x.sock" "$PLUGIN" metadata=meta.bin data=data.bin \
		dev=0 size=$VOL $mode) >lock.out 2>&1; then
		stop
		fail "a second server ($mode) started on the images a writable one serves"
	fi
	grep -q "metadata=.*meta.bin: another server of this plugin has it open" lock.out ||
		{ cat lock.out; stop; fail "second server ($mode): no line naming the locked file"; }
done
stop
model m.1 12345 100000 132
model m.1 5242880 65536 063
model m.1 1048576 131072 zero
model m.1 2097152 196608 zero
model m.1 3000000 100000 zero
model m.1 4194304 262144 zero
model m.1 16000000 700000 167
head -c 3145728 /dev/urandom >in3.bin
cp e.2 m.2
dd if=in3.bin of=m.2 conv=notrunc 2>/dev/null
thin 2 rw=true
nbdcopy --flush in3.bin "$URI" || fail "nbdcopy into device 2"
stop
checks meta.bin "after the writes"
for d in 0 1 2 3; do
	texport $d a.$d
done
cmp -s a.1 m.1 || fail "device 1 after qemu-io writes differs from the model"
cmp -s a.2 m.2 || fail "device 2 after nbdcopy differs from the model"
cmp -s a.0 e.0 || fail "writes to its snapshots changed device 0"
cmp -s a.3 e.3 || fail "writes to other devices changed device 3"
note "thin: qemu-io and nbdcopy writes land as modelled; thin_check${TPT11:+ and tpt 1.1} accept the pool"

# ---- thin: reads on several connections while another connection writes -------------------
# device 13, a snapshot of device 3 served as its first 4 MiB (64 chunks of 64 KiB): qemu-io
# writes, discards and flushes chunks (chunk c only ever gets byte c+1 or a discard; writes
# break sharing, discards free blocks later writes reuse) while nbdcopy (4 connections) reads
# the volume again and again.  In every read each chunk is its old bytes, zeros or byte c+1
# whole: a chunk torn, or holding another chunk's byte, fails.  Then the volume equals the
# model of the writer's operations; thin_check accepts the pool.
CH=65536
RS=$((64 * CH))
"$BIN/thin_message" -q meta.bin create_snap 13 3 || fail "create_snap 13 3"
head -c $RS a.3 >o.13
cp o.13 m.13
set --
r=1
while [ $r -le 8 ]; do
	j=0
	while [ $j -lt 64 ]; do
		c=$(((j * 37 + r * 11) % 64))
		if [ $(((c + r) % 3)) = 0 ]; then
			set -- "$@" -c "discard $((c * CH)) $CH"
			model m.13 $((c * CH)) $CH zero
		else
			set -- "$@" -c "write -P $((c + 1)) $((c * CH)) $CH"
			model m.13 $((c * CH)) $CH "$(printf %03o $((c + 1)))"
		fi
		[ $((j % 8)) = 7 ] && set -- "$@" -c flush
		j=$((j + 1))
	done
	r=$((r + 1))
done
# chunk_sums FILE: "chunk cksum" of each 64 KiB chunk of FILE
chunk_sums() {
	rm -f ch.*
	split -b $CH -d -a 2 "$1" ch. && cksum ch.* | awk '{ sub(/^ch\./, "", $3); print $3 + 0, $1 }'
}
chunk_sums o.13 >allowed
c=0
while [ $c -lt 64 ]; do
	pattern pat $CH "$(printf %03o $((c + 1)))"
	echo "$c $(cksum <pat | cut -d' ' -f1)" >>allowed
	c=$((c + 1))
done
zsum=$(head -c $CH /dev/zero | cksum | cut -d' ' -f1)
serve metadata=meta.bin data=data.bin dev=13 size=$RS rw=true
qemu-io -f raw "$@" "$URI" >qio.log 2>&1 &
qpid=$!
nr=0 ov=0
while [ $nr -lt 40 ] && { [ $nr -lt 2 ] || kill -0 $qpid 2>/dev/null; }; do
	kill -0 $qpid 2>/dev/null && ov=$((ov + 1))
	nbdcopy "$URI" rd.bin || fail "nbdcopy read $nr while qemu-io writes"
	chunk_sums rd.bin | awk -v z="$zsum" -v n=$nr '
		FILENAME == "allowed" { ok[$1 " " $2] = 1; next }
		!ok[$1 " " $2] && $2 != z { print "read " n ": chunk " $1 " is neither its old bytes, zeros nor byte " $1 + 1; bad = 1 }
		END { exit bad }' allowed - >bad.txt || fail "$(head -1 bad.txt) (reads beside writes)"
	nr=$((nr + 1))
done
wait $qpid || { cat qio.log; fail "qemu-io writes beside the reads"; }
stop
checks meta.bin "reads beside writes"
"$BIN/thin_export" -q --metadata-dev meta.bin --data-dev data.bin --dev-id 13 \
	--size $((RS / 512)) -o a.13 || fail "thin_export of device 13"
cmp -s a.13 m.13 || fail "device 13 after writes beside reads differs from the model"
texport 3 a3.after
cmp -s a3.after a.3 || fail "writes to its snapshot changed device 3"
note "thin: $nr nbdcopy reads (4 connections; $ov started while qemu-io wrote) beside writes and discards: each read consistent, the volume as modelled"

# ---- thin: crashes ----------------------------------------------------------------------
"$BIN/thin_message" -q meta.bin create_thin 10 || fail "create_thin 10"
# unflushed writes come from nbdcopy without --flush (qemu-io flushes when it closes, even
# with -t unsafe); they start at offset 0, which device 10 has not mapped
thin 10 rw=true
qio -c "write -P 0x21 8388608 1048576" -c flush "$URI" || fail "qemu-io (flushed)"
pattern p22 1048576 042
nbdcopy p22 "$URI" || fail "nbdcopy (unflushed)"
stop KILL
checks meta.bin "kill -9 after unflushed writes"
texport 10 c.10
zero_file m.10 $((VOL / 4096))
model m.10 8388608 1048576 041
cmp -s c.10 m.10 || fail "kill -9 after unflushed writes: the volume is not the last flush's"
thin 10 rw=true
pattern p24 2097152 044
nbdcopy p24 "$URI" || fail "nbdcopy (unflushed, TERM)"
stop TERM
checks meta.bin "SIGTERM after unflushed writes"
texport 10 c.10
model m.10 0 2097152 044
cmp -s c.10 m.10 || fail "SIGTERM: the writes not flushed were not committed at exit"
thin 10 rw=true
qio -c "write -P 0x25 6291456 65536" -c flush "$URI" || fail "qemu-io (flushed, kill)"
stop KILL
checks meta.bin "kill -9 after a flush"
texport 10 c.10
model m.10 6291456 65536 045
cmp -s c.10 m.10 || fail "kill -9 after a flush: the flushed writes are lost"
# a random moment: N pairs (write 64 KiB of byte k % 250 + 1 at 4 MiB + k * 64 KiB, flush),
# killed while they run; the volume must hold exactly writes 1..j for some j
"$BIN/thin_message" -q meta.bin create_thin 11 || fail "create_thin 11"
thin 11 rw=true
set --
k=1
N=600
while [ $k -le $N ]; do
	set -- "$@" -c "write -P $((k % 250 + 1)) $((4194304 + k * 65536)) 65536" -c flush
	k=$((k + 1))
done
qemu-io -f raw "$@" "$URI" >/dev/null 2>&1 &
qpid=$!
sleep 0.$(($$ % 3 + 1))
stop KILL
wait $qpid 2>/dev/null
checks meta.bin "kill -9 during write+flush pairs"
texport 11 c.11
j=0 k=1 bad=
while [ $k -le $N ]; do
	b=$(od -An -tu1 -j $((4194304 + k * 65536)) -N 1 c.11 | tr -d ' ')
	e=$(od -An -tu1 -j $((4194304 + k * 65536 + 65535)) -N 1 c.11 | tr -d ' ')
	[ "$b" = "$e" ] || bad="write $k torn"
	if [ "$b" = $((k % 250 + 1)) ] && [ $j = $((k - 1)) ]; then j=$k
	elif [ "$b" != 0 ]; then bad="write $k present after a missing one"
	fi
	k=$((k + 1))
done
[ -z "$bad" ] || fail "kill -9 during write+flush pairs: $bad"
note "thin: crashes leave the last flush (kill -9 at a random moment: writes 1..$j of $N)"

# ---- thin: out of data space --------------------------------------------------------------
# a pool of 16 blocks: a write past its space fails with ENOSPC, the pool takes nothing more,
# and keeps the last flush
zero_file small.meta 256
rm -f small.data
truncate -s 1M small.data
"$BIN/thin_message" -q --format --data-block-size 128 --nr-data-blocks 16 small.meta create_thin 0 ||
	fail "cannot make the small pool"
serve metadata=small.meta data=small.data dev=0 size=4M rw=true
qio -c "write -P 0x31 0 524288" -c flush -c "write -P 0x32 524288 2097152" "$URI" &&
	fail "a write past the pool's data space worked"
grep -q "No space left on device" qio.log || { cat qio.log; fail "the client was not told ENOSPC"; }
qio -c "write -P 0x33 0 4096" "$URI" && fail "a write after the pool failed worked"
stop
grep -q "no free data block in the pool" nbdkit.err || fail "no error line for the full pool"
checks small.meta "out of data space"
"$BIN/thin_export" -q --metadata-dev small.meta --data-dev small.data --dev-id 0 --size 8192 \
	-o c.small || fail "thin_export of the small pool"
zero_file m.small 1024
model m.small 0 524288 061
cmp -s c.small m.small || fail "out of data space: the pool does not hold the last flush"
note "thin: out of data space: ENOSPC to the client, the pool holds the last flush"

# ---- classic snapshot -------------------------------------------------------------------
head -c 8388608 /dev/urandom >origin.img
zero_file cow.img 1024
printf '<snapshot_store magic="0x70416e53" valid="1" version="1" chunk_size="16">\n</snapshot_store>\n' >empty.xml
"$BIN/snap_restore" -q -i empty.xml -o cow.img || fail "snap_restore"
for off in 0 16 100 5000 9999; do
	head -c 20000 /dev/urandom >w.bin
	"$BIN/snap_write" -q --origin origin.img --cow cow.img --target origin --offset $off \
		--input w.bin || fail "snap_write at $off"
done
"$BIN/snap_export" -q --origin origin.img --cow cow.img -o s.img || fail "snap_export"
serve origin=origin.img cow=cow.img
nbdcopy "$URI" sv.img || fail "nbdcopy of the snapshot"
qemu-img compare -q -f raw -F raw s.img "$URI" || fail "qemu-img compare: snapshot view differs"
stop
cmp -s sv.img s.img || fail "snapshot view: nbdcopy's bytes differ from snap_export's"
serve origin=origin.img cow=cow.img view=origin
qemu-img compare -q -f raw -F raw origin.img "$URI" || fail "qemu-img compare: origin view differs"
stop
# origin writes copy out first: the snapshot keeps its view
cp origin.img mo.img
serve origin=origin.img cow=cow.img view=origin rw=true
qio -c "write -P 0x41 4096 20000" -c "write -P 0x42 7000000 100000" -c "write -z 3000000 9000" \
	-c flush "$URI" || fail "qemu-io origin writes"
stop
model mo.img 4096 20000 101
model mo.img 7000000 100000 102
model mo.img 3000000 9000 zero
"$BIN/snap_check" -q cow.img || fail "snap_check after origin writes"
cmp -s origin.img mo.img || fail "origin writes through the plugin differ from the model"
"$BIN/snap_export" -q --origin origin.img --cow cow.img -o s2.img || fail "snap_export"
cmp -s s2.img s.img || fail "origin writes changed the snapshot's view"
# snapshot writes change its view only; a kill -9 after unflushed writes leaves them (each
# exception is committed as the kernel commits it)
cp s.img ms.img
cp origin.img o.before
serve origin=origin.img cow=cow.img rw=true
qio -c "write -P 0x51 65536 8192" -c "write -P 0x52 6000000 30000" -c flush "$URI" ||
	fail "qemu-io snapshot writes"
pattern p53 5000 123
nbdcopy p53 "$URI" || fail "nbdcopy snapshot write (unflushed)"
stop KILL
model ms.img 65536 8192 121
model ms.img 6000000 30000 122
model ms.img 0 5000 123
"$BIN/snap_check" -q cow.img || fail "snap_check after snapshot writes and kill -9"
"$BIN/snap_export" -q --origin origin.img --cow cow.img -o s3.img || fail "snap_export"
cmp -s s3.img ms.img || fail "snapshot writes through the plugin differ from the model"
cmp -s origin.img o.before || fail "snapshot writes changed the origin"
note "snap: views equal snap_export's; origin and snapshot writes as modelled; snap_check clean"

# ---- shared multisnapshot store (mikulas) ----------------------------------------------
# snapshots 0 and 1 of an 8 MiB origin, origin writes between them; each view through the
# plugin equals snap_export --snapshot's; origin writes through the plugin copy out once and
# keep both views; a write to snapshot 1 changes its view only; snap_check clean
head -c 8388608 /dev/urandom >msorigin.img
zero_file ms.store 16384
"$BIN/snap_message" -q --type mikulas --chunk-size 8 ms.store create || fail "snap_message create"
head -c 300000 /dev/urandom >w.bin
"$BIN/snap_write" -q --origin msorigin.img --cow ms.store --target origin --offset 100 \
	--input w.bin || fail "snap_write (shared store)"
"$BIN/snap_message" -q ms.store create || fail "snap_message create (2)"
for id in 0 1; do
	"$BIN/snap_export" -q --origin msorigin.img --cow ms.store --snapshot $id -o ms$id.img ||
		fail "snap_export --snapshot $id"
	serve origin=msorigin.img store=ms.store snapshot=$id
	nbdcopy "$URI" msv$id.img || fail "nbdcopy of shared snapshot $id"
	stop
	cmp -s msv$id.img ms$id.img || fail "shared snapshot $id: the plugin's bytes differ from snap_export's"
done
serve origin=msorigin.img store=ms.store
qemu-img compare -q -f raw -F raw msorigin.img "$URI" || fail "qemu-img compare: shared store's origin differs"
stop
cp msorigin.img mso.img
serve origin=msorigin.img store=ms.store rw=true
qio -c "write -P 0x61 0 40000" -c "write -P 0x62 5000000 70000" -c flush "$URI" ||
	fail "qemu-io origin writes (shared store)"
stop
model mso.img 0 40000 141
model mso.img 5000000 70000 142
cmp -s msorigin.img mso.img || fail "origin writes through the plugin (shared store) differ from the model"
"$BIN/snap_check" -q ms.store || fail "snap_check after origin writes (shared store)"
for id in 0 1; do
	"$BIN/snap_export" -q --origin msorigin.img --cow ms.store --snapshot $id -o msa$id.img ||
		fail "snap_export --snapshot $id"
	cmp -s msa$id.img ms$id.img || fail "origin writes changed shared snapshot $id's view"
done
cp ms1.img ms1m.img
serve origin=msorigin.img store=ms.store snapshot=1 rw=true
qio -c "write -P 0x63 8192 12288" -c flush "$URI" || fail "qemu-io write to shared snapshot 1"
stop
model ms1m.img 8192 12288 143
"$BIN/snap_check" -q ms.store || fail "snap_check after a snapshot write (shared store)"
"$BIN/snap_export" -q --origin msorigin.img --cow ms.store --snapshot 1 -o msb1.img || fail "snap_export"
"$BIN/snap_export" -q --origin msorigin.img --cow ms.store --snapshot 0 -o msb0.img || fail "snap_export"
cmp -s msb1.img ms1m.img || fail "a write to shared snapshot 1 differs from the model"
cmp -s msb0.img ms0.img || fail "a write to shared snapshot 1 changed snapshot 0's view"
cmp -s msorigin.img mso.img || fail "a write to shared snapshot 1 changed the origin"
note "shared store: views equal snap_export's; origin and snapshot writes as modelled; snap_check clean"

# ---- ext4 through nbdfuse ---------------------------------------------------------------
if command -v nbdfuse >/dev/null 2>&1 && [ -c /dev/fuse ] && command -v mkfs.ext4 >/dev/null 2>&1 &&
	command -v debugfs >/dev/null 2>&1 && command -v e2fsck >/dev/null 2>&1; then
	"$BIN/thin_message" -q meta.bin create_thin 12 || fail "create_thin 12"
	thin 12 rw=true
	mkdir mnt
	nbdfuse mnt/disk "$URI" >fuse.log 2>&1 &
	fpid=$!
	i=0
	while [ ! -f mnt/disk ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	if [ -f mnt/disk ]; then
		seq 1 20000 >file.txt
		mkfs.ext4 -q -F mnt/disk >fs.log 2>&1 || { cat fs.log; fail "mkfs.ext4 through nbdfuse"; }
		debugfs -w -R "write file.txt file.txt" mnt/disk >fs.log 2>&1 || fail "debugfs write"
		e2fsck -fn mnt/disk >fs.log 2>&1 || { cat fs.log; fail "e2fsck -fn through the plugin"; }
		debugfs -R "cat file.txt" mnt/disk 2>/dev/null >back.txt
		cmp -s back.txt file.txt || fail "the file read back through the plugin differs"
		umount mnt 2>/dev/null || fusermount3 -u mnt 2>/dev/null
		wait $fpid 2>/dev/null
		stop
		checks meta.bin "after mkfs.ext4"
		texport 12 fs.img
		e2fsck -fn fs.img >fs.log 2>&1 || { cat fs.log; fail "e2fsck -fn of thin_export's image"; }
		debugfs -R "cat file.txt" fs.img 2>/dev/null >back.txt
		cmp -s back.txt file.txt || fail "the file read back from thin_export differs"
		note "ext4: mkfs.ext4 through nbdfuse, e2fsck -fn clean, file read back"
	else
		kill $fpid 2>/dev/null
		stop
		note "ext4: not run (nbdfuse could not mount here: $(head -1 fuse.log))"
	fi
else
	note "ext4: not run (needs nbdfuse, /dev/fuse, mkfs.ext4 and debugfs)"
fi

# ---- configuration errors name the key --------------------------------------------------
conf() { # conf PATTERN ARGS...: nbdkit refuses ARGS with an error matching PATTERN
	pat=$1
	shift
	if (NB_TIMEOUT=20 nbdkit_san -f -U "$PWD/x.sock" "$PLUGIN" "$@") >conf.out 2>&1; then
		fail "nbdkit accepted $*"
	fi
	grep -q -- "$pat" conf.out || { cat conf.out; fail "nbdkit $*: no error naming $pat"; }
}
conf "dev=" metadata=meta.bin data=data.bin
conf "size=" metadata=meta.bin data=data.bin dev=1
conf "dev=99" metadata=meta.bin data=data.bin dev=99 size=1M
conf "dev=" metadata=meta.bin data=data.bin dev=16777216 size=1M
conf "bogus=" bogus=1
conf "origin=" cow=cow.img
conf "view=" origin=origin.img cow=cow.img view=other
conf "cow=" metadata=meta.bin data=data.bin dev=1 size=1M cow=cow.img
conf "same storage" metadata=meta.bin data=meta.bin dev=1 size=1M
ln -s origin.img origin.link
conf "same storage" origin=origin.img cow=origin.link
exit 0

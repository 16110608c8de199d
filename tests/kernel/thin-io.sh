#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# The thin I/O engine (thin_message + thin_write, thin_export) against Linux 6.1's dm-thin.
# Exit 0 pass, 1 fail, 77 skip.
#
# Seeded plans (tests/kernel/lib/thin-io-plan: create_thin, create_snap of thins and of
# snapshots, delete, set_transaction_id, writes of random offsets and lengths, partial
# blocks included, overwrites after snapshots, discards whole and partial, thins with an
# external origin whose end falls inside a block), each run twice:
#   host, before the boot: the engine runs plan I on a fresh pool eI (thin_message
#     --format, then thin_message for each message and one thin_write per write or
#     discard, with --external-origin for the thins that have it);
#   guest (guest/thin-io.sh), one boot: the kernel formats pool kI and runs plan I
#     (dmsetup message; writes with dd oflag=direct conv=fsync, so that the kernel commits
#     after each; blkdiscard), md5 of every volume left; then it activates eI as the engine
#     left it and takes the md5 of every volume.
# Host checks, for each plan:
#   1. the kernel reads from every volume of eI exactly the bytes the plan implies (the
#      model, computed on the host), and so do thin_export and a plain read of the data
#      image through thin_dump's mappings;
#   2. every volume of kI (the kernel wrote it; external origin included) is exported by
#      thin_export byte for byte as the kernel read it (and equals the model);
#   3. thin_dump of kI = thin_dump of eI once data-block numbers are renumbered in order
#      of first appearance over the sorted mappings (a note says when they are equal as
#      they are); both thin_checks accept all four metadata images.
# Knobs: THIN_IO_SEEDS (default "1 2 3 4"), THIN_IO_OPS (operations per plan, default 40;
# FULL=1: 60), THIN_IO_REOPEN_OPS (operations of plan 3, the skip_block_zeroing one, whose
# guest tears the pool down and activates it again before each write: default 30; FULL=1:
# THIN_IO_OPS, the 105 s of guest time that plan took with 60).  At 40 (30) operations
# every plan still has whole and partial writes, whole and partial discards, snapshots, a
# thin with the external origin and transaction ids; deletes and snapshots of snapshots
# are in plans 1-3 (seed 2 at 40: 2 deletes, 2 snapshots of snapshots, 8 discards under
# no_discard_passdown).

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"
. "$SRCDIR/tests/kernel/lib/kernel.sh"

require_tool thin_message thin_write thin_dump thin_check
k_require_vm

PLAN="sh $KLIB/thin-io-plan"
BS=128          # pool block (sectors)
VOL=64          # volume size (blocks)
DATA=512        # data device (blocks): P_MAXDEV (6) volumes of VOL blocks fit
ORIGIN=5000     # external origin (sectors)
T=$((BS * VOL))
export P_BS=$BS P_VOL=$VOL P_ORIGIN=$ORIGIN P_MAXDEV=6
SEEDS=${THIN_IO_SEEDS:-1 2 3 4}
EXPORT=
[ -x "$BIN/thin_export" ] && EXPORT=$BIN/thin_export
[ -n "$EXPORT" ] || note "thin_export not built: volumes read through thin_dump's mappings only"

k_pattern 99 0 0 $ORIGIN >origin.img || fail "cannot write origin.img"
# The data devices start full of junk (the pattern of dev 77; its first JUNK blocks, the
# rest reads zeros), so that a block provisioned without its zeroing or copy shows.
JUNK=192
k_pattern 77 0 0 $((JUNK * BS)) >junk.img || fail "cannot write junk.img"
echo "$BS $VOL $DATA" >geom

# eng META DATA WORDS...: thin_message; engw META DATA DEV ARGS...: thin_write
eng() {
	e_m=$1
	shift 2
	run "$BIN/thin_message" -q "$e_m" "$@"
	[ "$rc" = 0 ] || { _show_run; fail "engine: thin_message $e_m $*: exit $rc"; }
}
engw() {
	e_m=$1 e_d=$2 e_v=$3
	shift 3
	e_x=
	eval "[ \"\$ext_$e_v\" = 1 ]" && e_x="--external-origin origin.img"
	# shellcheck disable=SC2086
	run "$BIN/thin_write" -q --metadata-dev "$e_m" --data-dev "$e_d" --dev-id "$e_v" \
		--size $T $e_x $e_feat "$@" </dev/null
	[ "$rc" = 0 ] || { _show_run; fail "engine: thin_write --dev-id $e_v $*: exit $rc"; }
}
engine() {  # engine PLAN META DATA
	run "$BIN/thin_message" -q --format --data-block-size $BS --data-dev "$3" "$2"
	[ "$rc" = 0 ] || { _show_run; fail "engine: thin_message --format: exit $rc"; }
	e_feat=
	while read -r op a b c d; do
		case $op in
		feature) e_feat="$e_feat --$(echo "$a" | tr _ -)" ;;
		thin) eng "$2" "$3" create_thin "$a"; eval "ext_$a=$b" ;;
		snap) eng "$2" "$3" create_snap "$a" "$b"; eval "ext_$a=\$ext_$b" ;;
		delete) eng "$2" "$3" delete "$a" ;;
		txn) eng "$2" "$3" set_transaction_id "$a" "$b" ;;
		write)
			k_pattern "$a" "$b" "$c" "$d" >w.bin
			engw "$2" "$3" "$a" --offset "$c" -i w.bin ;;
		discard) engw "$2" "$3" "$a" --offset "$b" --discard "$c" ;;
		live|reopen) ;;
		*) fail "$1: bad plan line: $op $a $b $c $d" ;;
		esac
	done <"$1"
}

# volread META DATA DEV EXT OUT: the volume rebuilt from thin_dump's mappings and the data
# image (over the origin or zeros); thin_dump runs once per META (its map kept in
# META.map), and each run of blocks consecutive on both sides is one dd
volread() {
	rm -f "$5"
	if [ "$4" = 1 ]; then cp origin.img "$5"; else : >"$5"; fi
	truncate -s $((T * 512)) "$5"
	if [ ! -f "$1.map" ]; then
		"$BIN/thin_dump" "$1" >vr.xml 2>vr.err || { cat vr.err >&2; k_bad "thin_dump $1 fails"; return; }
		k_thin_map vr.xml >"$1.map"
	fi
	awk -v d="$3" '
	$1 != d { next }
	n && $2 == v + n && $3 == b + n { n++; next }
	{ if (n) print v, b, n; v = $2; b = $3; n = 1 }
	END { if (n) print v, b, n }' "$1.map" | while read -r vb db nb; do
		dd if="$2" of="$5" bs=$((BS * 512)) skip="$db" seek="$vb" count="$nb" conv=notrunc 2>/dev/null
	done
}
# volexport META DATA DEV EXT OUT
volexport() {
	ve_x=
	[ "$4" = 1 ] && ve_x="--external-origin origin.img"
	# shellcheck disable=SC2086
	run "$EXPORT" -q --metadata-dev "$1" --data-dev "$2" --dev-id "$3" --size $T $ve_x -o "$5"
	[ "$rc" = 0 ] || { _show_run; k_bad "thin_export --dev-id $3 of $1: exit $rc"; }
}
imgruns() {  # imgruns FILE TAG: the sector runs of a file, as the guest's runs
	(. "$KLIB/guest-lib.sh"; runs "$1" "$2")
}
md5() { md5sum "$1" | cut -d' ' -f1; }
# why LABEL FILE PLAN DEV: name the first sector run where FILE differs from the model
why() {
	imgruns "$2" x >got.runs
	$PLAN runs "$3" "$4" x >want.runs
	diff want.runs got.runs | sed -n '2,5s/^/  /p' >&2
	k_bad "$1 (runs: < model, > read)"
}

# canon XML: thin_dump with every mapping on its own line and data blocks renumbered in
# order of first appearance
canon() {
	awk '
	function attr(s, name) {
		if (match(s, name "=\"[0-9]+\"")) return substr(s, RSTART + length(name) + 2, RLENGTH - length(name) - 3) + 0
		return -1
	}
	function db(b) { if (!(b in nb)) nb[b] = n++; return nb[b] }
	/<device / { dev = attr($0, "dev_id") }
	/<range_mapping / {
		o = attr($0, "origin_begin"); d = attr($0, "data_begin"); l = attr($0, "length"); t = attr($0, "time")
		for (i = 0; i < l; i++) print "map", dev, o + i, db(d + i), t
		next
	}
	/<single_mapping / { print "map", dev, attr($0, "origin_block"), db(attr($0, "data_block")), attr($0, "time"); next }
	{ print }' "$1"
}

if sampled "thin-io: ${THIN_IO_OPS:-40} operations per plan, ${THIN_IO_REOPEN_OPS:-30} in plan 3"; then
	OPS=${THIN_IO_OPS:-40}
	REOPEN_OPS=${THIN_IO_REOPEN_OPS:-30}
else
	OPS=${THIN_IO_OPS:-60}
	REOPEN_OPS=${THIN_IO_REOPEN_OPS:-$OPS}
fi
imgs=origin.img
files=geom
i=0
for seed in $SEEDS; do
	# the pool features, as the table's words (plan 1: no_discard_passdown, 3:
	# skip_block_zeroing: its volumes show junk where zeroing is skipped, so they are
	# compared with the kernel's, not with the model; the guest activates that pool
	# again before each write, as thin_write opens it, so that the kernel's allocator
	# starts from block 0 each time as the engine's does: the same blocks on both sides)
	case $i in
	1) echo "feature no_discard_passdown" ;;
	3) echo "feature skip_block_zeroing"; echo reopen ;;
	esac >plan.$i
	ops=$OPS
	[ $i = 3 ] && ops=$REOPEN_OPS
	$PLAN plan "$seed" "$ops" >>plan.$i || fail "cannot make plan $seed"
	for p in k e; do
		zero_file $p$i-meta.img 1024                # 4 MiB
		cp junk.img $p$i-data.img && truncate -s $((DATA * BS * 512)) $p$i-data.img ||
			fail "cannot write $p$i-data.img"
	done
	engine plan.$i e$i-meta.img e$i-data.img
	cp --sparse=always e$i-meta.img e$i-meta.before || fail "cannot copy e$i-meta.img"
	imgs="$imgs k$i-meta.img k$i-data.img e$i-meta.img e$i-data.img"
	files="$files plan.$i"
	i=$((i + 1))
done
NPLANS=$i

K_FILES=$files
# shellcheck disable=SC2086
k_guest thin-io.sh $imgs
[ "$(sed -n 's/^PLANS //p' guest.out)" = "$NPLANS" ] ||
	k_bad "the guest ran $(sed -n 's/^PLANS //p' guest.out) plans of $NPLANS"
[ "$(sed -n 's/^DIRECT //p' guest.out)" = 1 ] ||
	note "the guest's dd cannot write O_DIRECT: writes went through the page cache + fsync"

exact=0
i=0
for seed in $SEEDS; do
	L="plan $i (seed $seed)"
	# both checkers accept all four metadata images
	for img in k$i-meta.img e$i-meta.before e$i-meta.img; do
		run "$BIN/thin_check" "$img"
		[ "$rc" = 0 ] || { _show_run; k_bad "$L: our thin_check rejects $img (exit $rc)"; }
		if [ -n "$TPT11" ]; then
			"$TPT11" thin_check "$img" >tc.out 2>&1 ||
				{ cat tc.out >&2; k_bad "$L: tpt 1.1 thin_check rejects $img"; }
		fi
	done
	# 3. the same thin_dump up to data-block numbering
	"$BIN/thin_dump" k$i-meta.img >k$i.xml 2>&1 || k_bad "$L: thin_dump k$i-meta.img fails"
	"$BIN/thin_dump" e$i-meta.before >e$i.xml 2>&1 || k_bad "$L: thin_dump e$i-meta.before fails"
	skipz=0
	grep -q '^feature skip_block_zeroing' plan.$i && skipz=1
	same=0
	if cmp -s k$i.xml e$i.xml; then
		exact=$((exact + 1))
		same=1
		# the same blocks: the data devices must match byte for byte too (zeroing,
		# copies, discards passed down or not)
		if ! cmp -s k$i-data.img e$i-data.img; then
			set -- $(cmp k$i-data.img e$i-data.img 2>/dev/null | sed -n 's/.* byte \([0-9]*\).*/\1/p')
			k_bad "$L: the data devices of the kernel's and the engine's pool differ (first at data block $(((${1:-1} - 1) / (BS * 512))))"
		fi
	else
		[ $skipz = 0 ] || k_bad "$L: skip_block_zeroing: the pools map different data blocks, so the volumes cannot be compared"
		canon k$i.xml >k$i.canon
		canon e$i.xml >e$i.canon
		cmp -s k$i.canon e$i.canon || {
			diff k$i.canon e$i.canon | head -n 8 >&2
			k_bad "$L: thin_dump of the kernel's pool (<) and the engine's (>) differ beyond data-block numbering"
		}
	fi
	# every volume's bytes
	while read -r op d x; do
		[ "$op" = live ] || continue
		$PLAN image plan.$i "$d" >want.img
		want=$(md5 want.img)
		hk=$(sed -n "s/^HASH k $i $d //p" guest.out)
		he=$(sed -n "s/^HASH e $i $d //p" guest.out)
		[ -n "$hk" ] && [ -n "$he" ] || k_bad "$L: thin $d: no HASH line from the guest"
		if [ $skipz = 1 ]; then
			# no model (junk where zeroing was skipped): the engine's volume reads as the
			# kernel's (when they map the same blocks)
			[ $same = 0 ] || [ "$he" = "$hk" ] ||
				k_bad "$L: thin $d: skip_block_zeroing: the kernel reads other bytes from the engine's pool than from its own"
			want=$he
		else
			[ "$hk" = "$want" ] || k_bad "$L: thin $d: the kernel ran the plan and reads other bytes than the model (md5 '$hk')"
			# 1. the kernel reads the engine's volumes as the model says
			[ "$he" = "$want" ] || k_bad "$L: thin $d: the kernel reads from the engine's pool other bytes than the plan wrote (md5 '$he')"
		fi
		volread e$i-meta.before e$i-data.img "$d" "$x" vol.img
		[ "$(md5 vol.img)" = "$want" ] || why "$L: thin $d of the engine's pool, read through its mappings, is not the model" vol.img plan.$i "$d"
		volread k$i-meta.img k$i-data.img "$d" "$x" vol.img
		[ "$(md5 vol.img)" = "$hk" ] || why "$L: thin $d of the kernel's pool, read through its mappings, is not what the kernel read" vol.img plan.$i "$d"
		if [ -n "$EXPORT" ]; then
			volexport e$i-meta.before e$i-data.img "$d" "$x" vol.img
			[ "$(md5 vol.img)" = "$want" ] || why "$L: thin_export of thin $d of the engine's pool is not the model" vol.img plan.$i "$d"
			# 2. a volume the kernel wrote, exported byte for byte
			volexport k$i-meta.img k$i-data.img "$d" "$x" vol.img
			[ "$(md5 vol.img)" = "$hk" ] || why "$L: thin_export of thin $d of the kernel's pool differs from what the kernel read" vol.img plan.$i "$d"
		fi
	done <plan.$i
	i=$((i + 1))
done

note "$NPLANS plans ($(cat plan.* | wc -l) lines); thin_dump equal as is in $exact, up to data-block numbering in the rest"
note "guest: $(grep '^GUEST-SECONDS' guest.out)"
k_finish

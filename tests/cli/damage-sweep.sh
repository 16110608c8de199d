#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# test-timeout: 900
# asan: check-long
#
# Damage sweep: every metadata block of every fixture, damaged in turn, through every read
# tool.  Damage ($TT/meta_damage): a raw bit flip (checksum left wrong), the block zeroed,
# the block swapped with the next block in use, and bit flips with the checksum re-stamped
# (so the damage reaches the parsers) at positions chosen by the block's kind: node header
# fields (leaf flag, nr_entries, max_entries, value_size) and a key; superblock roots,
# sizes and version; bitmap and index entries; and cycles: a node's first value (child
# pointer or device root) aimed at the node itself, the mapping root, the details root.
#
# Thin pools (empty, one-thin, snaps, shared-leaves, many: every 8th block in use, all with
# FULL=1; needs-check too with ONLY=...):
#   - no tool dies by a signal or a sanitizer report, or exits 2 (usage): thin_check,
#     thin_dump, thin_dump --repair, thin_ls, thin_rmap, thin_delta, thin_repair,
#     thin_metadata_pack (thin_repair may exit 2 asking for --transaction-id etc. when the
#     superblock is lost, as tpt 1.x: then it runs again with them);
#   - thin_check exits 1 naming the damaged block (`block B` in its messages) after raw
#     damage (flip, zero, swap), or exits 0 (the block is not in use); tpt 1.1's thin_check
#     agrees (fails, or passes);
#   - what thin_dump --repair prints restores (our thin_restore) to a pool our thin_check
#     passes; what thin_repair writes passes our thin_check.
# Snapshot stores (cow, areas): the header and every exception area in use (and the next,
# empty one), flipped at several positions, zeroed, swapped with the next chunk: snap_check,
# snap_dump, snap_export, snap_merge --dry-run never die by a signal or exit 2 or 99.
# (A snapshot store has no checksums: damage that reads as a valid store is not detectable.)
#
# Every damaged image with FULL=1 (make check-long); in the CI suite (tests/lib.sh: sampled)
# every 3rd (every 11th in an ASan run by hand: make check-asan leaves the sweep to
# check-long); SWEEP_STEP=N overrides (1 = all).  ONLY="fixture..." narrows, VERBOSE_SWEEP=1
# prints every variant.  Failures print a command that reproduces them.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_check thin_dump thin_ls thin_rmap thin_delta thin_repair thin_restore \
	thin_metadata_pack snap_check snap_dump snap_export snap_merge
[ -x "$TT/meta_damage" ] || skip "meta_damage not built: $TT/meta_damage"
MD=$TT/meta_damage

if [ -z "${SWEEP_STEP:-}" ]; then
	SWEEP_STEP=1
	if sanitized; then
		sampled "every 11th damaged image" && SWEEP_STEP=11
	else
		sampled "every 3rd damaged image" && SWEEP_STEP=3
	fi
fi
ONLY=${ONLY:-empty one-thin snaps shared-leaves many cow areas}
HAVE_TPT=0
[ -n "$TPT11" ] && [ -x "$TPT11" ] && HAVE_TPT=1

nfail=0 nvar=0 nrun=0 vidx=0
bad() {
	nfail=$((nfail + 1))
	[ $nfail -le 40 ] && echo "FAIL: $fx: $what: $*"
	return 0
}
# tool NAME ARGS...: run one of our tools on the damaged image; status in $rc, output in
# t.out / t.err; signal deaths, sanitizer reports and usage errors are failures
tool() {
	rc=0
	nrun=$((nrun + 1))
	"$BIN/$@" >t.out 2>t.err </dev/null || rc=$?
	case $rc in
	0|1|3) ;;
	2) [ "${ALLOW2:-0}" = 1 ] || bad "$* exits 2 (usage error): $(head -c 400 t.err | tr '\n' ' ')" ;;
	*) bad "$* exits $rc: $(head -c 400 t.err | tr '\n' ' ')"
	   cp d.bin "$KEEPDIR/$fx-$vidx.bin" 2>/dev/null
	   echo "  reproduce: gzip -dc FIX/$fxfile > d.bin && meta_damage $mdargs && $*" ;;
	esac
}

KEEPDIR=$PWD/kept
mkdir -p "$KEEPDIR" tpt

# ---- thin ------------------------------------------------------------------------------
# positions (BYTE:BIT) for flipfix, by block kind
fixpos() {
	case $1 in
	node) echo "4:1 16:7 19:7 23:7 24:2 45:5" ;;
	sb) echo "41:0 59:2 72:1 200:4 323:6 330:1 346:3" ;;
	bitmap) echo "8:0 16:1 2000:6" ;;
	index) echo "17:0 24:7 28:1 31:7" ;;
	*) echo "" ;;
	esac
}

tpt_pending=0
# tpt_expect LABEL pass|fail: queue tpt 1.1's thin_check of d.bin; it must pass (we say the
# block is unused) or fail (we found damage)
tpt_expect() {
	[ $HAVE_TPT = 1 ] || return 0
	h=$(sha256sum <d.bin | cut -c1-32)
	if [ ! -f "tpt/$h.img" ] && [ ! -f "tpt/$h.rc" ]; then
		cp --sparse=always d.bin "tpt/$h.img"
		( r=0; "$TPT11" thin_check -q "tpt/$h.img" >/dev/null 2>&1 || r=$?; echo $r >"tpt/$h.rc"; rm -f "tpt/$h.img" ) &
		tpt_pending=$((tpt_pending + 1))
		[ $tpt_pending -lt 24 ] || { wait; tpt_pending=0; }
	fi
	printf '%s|%s|%s|%s\n' "$h" "$fx" "$1" "$2" >>tpt/queue
}
tpt_judge() {
	wait
	tpt_pending=0
	[ -f tpt/queue ] || return 0
	while IFS='|' read -r h qfx label want; do
		r=$(cat "tpt/$h.rc" 2>/dev/null)
		fx=$qfx what=$label
		case $want in
		pass) [ "$r" = 0 ] || bad "our thin_check passes, tpt 1.1 thin_check exits ${r:-?}: damage missed" ;;
		fail) [ "$r" != 0 ] || bad "our thin_check finds damage, tpt 1.1 thin_check passes" ;;
		esac
	done <tpt/queue
	rm -f tpt/queue
}

# pick: true for every SWEEP_STEP-th damaged image (counted over all fixtures); called
# before the image is made
pick() {
	vidx=$((vidx + 1))
	[ $((vidx % SWEEP_STEP)) = 0 ]
}

# thin_variant RAW BLOCKS...: run the tools on d.bin (damaged); RAW=1: checksum-breaking
# damage of BLOCKS that the checker must name
thin_variant() {
	raw=$1
	shift
	nvar=$((nvar + 1))
	[ -z "${VERBOSE_SWEEP:-}" ] || echo "$fx: $what"
	tool thin_check d.bin
	if [ "$raw" = 1 ]; then
		case $rc in
		1)
			named=0
			for b in "$@"; do
				grep -Eq "block $b([^0-9]|\$)" t.err t.out && named=1
			done
			[ $named = 1 ] || bad "thin_check exits 1 without naming block $*: $(grep -v '^Checking\|^device details\|^mapping tree\|space map$' t.err | head -3 | tr '\n' ' ')"
			tpt_expect "$what" fail ;;
		0)
			tpt_expect "$what" pass ;;
		*)
			bad "thin_check exits $rc, want 1 (damage) or 0 (block unused): $(head -c 300 t.err | tr '\n' ' ')" ;;
		esac
	fi
	tool thin_dump d.bin
	ALLOW2=1
	tool thin_dump --repair d.bin
	ALLOW2=0
	if [ $rc = 2 ]; then
		# the superblock is destroyed: the scan needs the data block size (as tpt 1.x)
		grep -q -- '--data-block-size' t.err || bad "thin_dump --repair exits 2: $(head -c 300 t.err | tr '\n' ' ')"
		tool thin_dump --repair --data-block-size "$dbs" d.bin
	fi
	if [ $rc = 0 ]; then
		mv t.out rep.xml
		zero_file r.bin "$nblocks"
		tool thin_restore -q -i rep.xml -o r.bin
		if [ $rc != 0 ]; then
			bad "thin_restore rejects thin_dump --repair's XML: $(head -c 300 t.err | tr '\n' ' ')"
		else
			"$BIN/thin_check" -q r.bin >/dev/null 2>&1 ||
				bad "thin_dump --repair's XML restores to a pool thin_check rejects"
		fi
	fi
	tool thin_ls d.bin
	tool thin_rmap --region "0..$ndata" d.bin
	tool thin_delta --snap1 "$dev1" --snap2 "$dev2" d.bin
	zero_file r.bin "$nblocks"
	ALLOW2=1
	tool thin_repair -i d.bin -o r.bin
	ALLOW2=0
	if [ $rc = 2 ]; then
		# the superblock is lost: thin_repair needs the pool's parameters (as tpt 1.x)
		grep -q -- '--data-block-size' t.err || bad "thin_repair exits 2: $(head -c 300 t.err | tr '\n' ' ')"
		tool thin_repair -i d.bin -o r.bin --transaction-id "$trans" \
			--data-block-size "$dbs" --nr-data-blocks "$ndata"
	fi
	if [ $rc = 0 ]; then
		"$BIN/thin_check" -q r.bin >/dev/null 2>&1 || bad "thin_repair exits 0 but its output fails thin_check"
	fi
	tool thin_metadata_pack -i d.bin -o d.pack
}

thin_fixture() {
	fx=$1
	fxfile=thin/$fx.bin.gz
	fixture "$fx" p.bin
	nblocks=$(($(wc -c <p.bin) / 4096))
	ndata=$(sed -n '1s/.* nr_data_blocks="\([0-9]*\)".*/\1/p' "$FIX/thin/$fx.xml")
	dbs=$(sed -n '1s/.* data_block_size="\([0-9]*\)".*/\1/p' "$FIX/thin/$fx.xml")
	trans=$(sed -n '1s/.* transaction="\([0-9]*\)".*/\1/p' "$FIX/thin/$fx.xml")
	[ -n "$ndata" ] && [ -n "$dbs" ] && [ -n "$trans" ] || fail "$fx.xml: cannot read the superblock line"
	devs=$(grep -o '<device dev_id="[0-9]*"' "$FIX/thin/$fx.xml" | grep -o '[0-9]*' | head -2 | tr '\n' ' ')
	set -- $devs
	dev1=${1:-0} dev2=${2:-${1:-0}}
	"$MD" p.bin used >used.txt || fail "meta_damage used"
	maproot=$(od -An -t u8 -j 320 -N 8 p.bin | tr -d ' ')
	detroot=$(od -An -t u8 -j 328 -N 8 p.bin | tr -d ' ')
	bstep=1
	[ "$fx" = many ] && [ "${FULL:-0}" != 1 ] && bstep=8
	first=$(head -n 1 used.txt)
	k=0
	while read -r b; do
		k=$((k + 1))
		[ $(((k - 1) % bstep)) = 0 ] || continue
		next=$(awk -v b="$b" -v f="$first" '$1 > b { print; found = 1; exit } END { if (!found) print f }' used.txt)
		kind=$("$MD" p.bin kind "$b")
		for v in "flip $b 100 3" "zero $b" "swap $b $next"; do
			pick || continue
			cp p.bin d.bin
			mdargs="d.bin $v"
			"$MD" d.bin $v || fail "meta_damage $v"
			what="$kind block $b: $v"
			case $v in swap*) thin_variant 1 "$b" "$next" ;; *) thin_variant 1 "$b" ;; esac
		done
		for pos in $(fixpos "$kind"); do
			pick || continue
			cp p.bin d.bin
			mdargs="d.bin flipfix $b ${pos%:*} ${pos#*:}"
			"$MD" d.bin flipfix "$b" "${pos%:*}" "${pos#*:}" || fail "meta_damage flipfix"
			what="$kind block $b: flipfix at byte ${pos%:*} bit ${pos#*:}"
			thin_variant 0
		done
		# cycles: the node's first value (a child, or a device's tree root) aimed at
		# the node itself, the mapping root and the details root
		[ "$kind" = node ] || continue
		for v in "$b" "$maproot" "$detroot"; do
			pick || continue
			cp p.bin d.bin
			mdargs="d.bin setval $b 0 $v"
			"$MD" d.bin setval "$b" 0 "$v" 2>/dev/null || continue
			what="node $b: value 0 := $v"
			thin_variant 0
		done
	done <used.txt
	tpt_judge
	note "$fx: $(wc -l <used.txt) blocks in use (every ${bstep}), done at $(date +%T)"
}

# ---- snap ------------------------------------------------------------------------------
snap_variant() {
	nvar=$((nvar + 1))
	[ -z "${VERBOSE_SWEEP:-}" ] || echo "$fx: $what"
	tool snap_check --origin o.bin d.bin
	tool snap_dump d.bin
	tool snap_export --origin o.bin --cow d.bin -o view.bin
	tool snap_merge --dry-run --origin o.bin d.bin
}

snap_fixture() {
	fx=$1
	fxfile=snap/$fx.bin.gz
	gzip -dc "$FIX/snap/$fx.bin.gz" >p.bin || fail "no fixture $fx"
	gzip -dc "$FIX/snap/$fx-origin.bin.gz" >o.bin || fail "no origin for $fx"
	cs=$(od -An -t u4 -j 12 -N 4 p.bin | tr -d ' ')
	cs=$((cs * 512))
	nch=$(($(wc -c <p.bin) / cs))
	epa=$((cs / 16))
	# header, then each area while it holds exceptions, and the first empty one
	chunks=0
	a=1
	while [ $a -lt "$nch" ]; do
		chunks="$chunks $a"
		[ -n "$(od -An -v -t x1 -j $((a * cs)) -N 16 p.bin | tr -d ' 0\n')" ] || break
		a=$((a + epa + 1))
	done
	for c in $chunks; do
		nxt=$((c + 1))
		for v in "flip $c 0 0" "flip $c 4 0" "flip $c 8 1" "flip $c 12 4" "flip $c 7 7" \
			"flip $c 15 7" "flip $c $((cs - 1)) 7" "zero $c" "swap $c $nxt"; do
			pick || continue
			cp p.bin d.bin
			mdargs="-b $cs d.bin $v"
			"$MD" -b "$cs" d.bin $v || fail "meta_damage $v"
			what="chunk $c: $v"
			snap_variant
		done
	done
	note "$fx: metadata chunks $chunks, done at $(date +%T)"
}

for f in $ONLY; do
	case $f in
	cow|areas) snap_fixture "$f" ;;
	*) thin_fixture "$f" ;;
	esac
done

echo "damage sweep: $nvar damaged images, $nrun tool runs, $nfail failures (every ${SWEEP_STEP} variant)"
[ $nfail = 0 ] || exit 1
exit 0

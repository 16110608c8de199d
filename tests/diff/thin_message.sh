#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Differential test of thin_message against thin-provisioning-tools 1.1 (and 0.9): sequences
# of messages (a fresh pool, snapshots of snapshots, deletes of devices with mappings and
# shared subtrees, transaction ids, a held metadata snapshot, data and metadata growth) on a
# formatted pool and on fixture pools (0.9- and 1.1-restored, and one the kernel wrote).
# After every message:
#  - our thin_check, 1.1's and 0.9's thin_check pass it;
#  - 1.1's thin_dump equals ours: superblock, devices and every mapping (1.1 writes shared
#    leaves as <def>/<ref>: they are inlined; it omits flags="0"), and with a held metadata
#    snapshot, its thin_dump -m equals ours too;
#  - 0.9's thin_dump equals ours byte for byte.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_message thin_check thin_dump
require_tpt both

nfail=0
nstep=0

# flat FILE: a thin_dump XML reduced to comparable lines (defs inlined, flags="0" dropped,
# header lines then one line per mapped block)
flat() {
	awk '
		/<def name=/ { match($0, /name="[^"]*"/); cur = substr($0, RSTART + 6, RLENGTH - 7); n[cur] = 0; next }
		/<\/def>/ { cur = ""; next }
		cur != "" { n[cur]++; body[cur, n[cur]] = $0; next }
		/<ref name=/ { match($0, /name="[^"]*"/); r = substr($0, RSTART + 6, RLENGTH - 7)
			for (i = 1; i <= n[r]; i++) print body[r, i]; next }
		{ print }' "$1" >flat.tmp
	grep -E '<superblock|<device ' flat.tmp | sed 's/ flags="0"//'
	xml_block_map -d flat.tmp
	rm -f flat.tmp
}

# ref_check WHAT VERSION PDATA_TOOLS: that reference's thin_check passes m.bin
ref_check() {
	if ! "$3" thin_check m.bin >c.out 2>&1; then
		echo "DIFF: $1: $2 thin_check rejects it:"
		sed 's/^/  /' c.out | head -n 5
		nfail=$((nfail + 1))
	fi
}

# cmp11 WHAT FORM: ours.xml and 1.1's ref11.xml (from FORM) are the same once flattened
cmp11() {
	flat ours.xml >ours.flat
	flat ref11.xml >ref11.flat
	if ! cmp -s ours.flat ref11.flat; then
		echo "DIFF: $1: 1.1 $2 differs from ours (< ours, > 1.1):"
		diff ours.flat ref11.flat | grep '^[<>]' | head -n 5 | sed 's/^/  /'
		nfail=$((nfail + 1))
	fi
}

# verify WHAT: the checks above on m.bin
verify() {
	nstep=$((nstep + 1))
	"$BIN/thin_check" -q m.bin || { echo "DIFF: $1: our thin_check rejects it"; nfail=$((nfail + 1)); }
	ref_check "$1" 1.1 "$TPT11"
	ref_check "$1" 0.9 "$TPT09"
	"$BIN/thin_dump" m.bin >ours.xml 2>ours.err || { echo "DIFF: $1: our thin_dump fails"; nfail=$((nfail + 1)); }
	"$TPT11" thin_dump m.bin >ref11.xml 2>ref.err || { echo "DIFF: $1: 1.1 thin_dump fails"; nfail=$((nfail + 1)); }
	"$TPT09" thin_dump m.bin >ref09.xml 2>ref.err || { echo "DIFF: $1: 0.9 thin_dump fails"; nfail=$((nfail + 1)); }
	cmp11 "$1" thin_dump
	if ! cmp -s ours.xml ref09.xml; then
		echo "DIFF: $1: 0.9 thin_dump differs from ours:"
		diff ours.xml ref09.xml | head -n 5 | sed 's/^/  /'
		nfail=$((nfail + 1))
	fi
	if "$BIN/thin_status" m.bin | awk '{ exit $4 == "-" }'; then
		"$BIN/thin_dump" -m m.bin >ours.xml 2>/dev/null
		"$TPT11" thin_dump -m m.bin >ref11.xml 2>/dev/null
		cmp11 "$1" "thin_dump -m"
	fi
}

# seq_run NAME MESSAGE...: each MESSAGE (one quoted word; "@grow-data N" runs thin_message
# --nr-data-blocks N; "@grow-meta N" makes the metadata file N blocks long and runs it with the
# pool's own data size, which grows only the metadata map) on m.bin, verified
seq_run() {
	sname=$1
	shift
	for msg in "$@"; do
		case $msg in
		@grow-meta\ *)
			truncate -s $((${msg#@grow-meta } * 4096)) m.bin
			set -- --nr-data-blocks "$("$BIN/thin_status" m.bin | awk '{ sub(/.*\//, "", $3); print $3 }')" m.bin ;;
		@grow-data\ *) set -- --nr-data-blocks "${msg#@grow-data }" m.bin ;;
		*) set -- m.bin "$msg" ;;
		esac
		if ! "$BIN/thin_message" "$@" >msg.err 2>&1; then
			echo "DIFF: $sname: thin_message $msg fails: $(head -n 1 msg.err)"
			nfail=$((nfail + 1))
			return
		fi
		case $msg in
		@grow-meta\ *)
			"$BIN/thin_status" m.bin | grep -q "^[0-9]* [0-9]*/${msg#@grow-meta } " ||
				{ echo "DIFF: $sname: $msg: the metadata map did not grow"; nfail=$((nfail + 1)); } ;;
		esac
		verify "$sname: after '$msg'"
	done
}

# a fresh pool, formatted as the kernel does
truncate -s 0 m.bin
truncate -s 8M m.bin
"$BIN/thin_message" --format --data-block-size 128 --nr-data-blocks 4096 m.bin ||
	fail "format failed"
verify "fresh: the format"
seq_run fresh "create_thin 0" "create_snap 1 0" "create_snap 2 1" "create_snap 3 2" \
	"set_transaction_id 0 1" "reserve_metadata_snap" "create_thin 16777215" "delete 1" \
	"release_metadata_snap" "create_snap 4 3" "delete 0" "delete 2" "@grow-data 100000" \
	"@grow-meta 20000" "create_thin 5" "set_transaction_id 1 2" "delete 3" "delete 4" \
	"delete 5" "delete 16777215"

# snapshots with mappings (0.9-restored): delete origins and snapshots, a held snapshot
fixture snaps m.bin
seq_run snaps "create_snap 9 2" "delete 0" "reserve_metadata_snap" "delete 9" \
	"create_snap 10 3" "create_snap 11 10" "delete 3" "release_metadata_snap" "delete 1" \
	"set_transaction_id 4 5" "delete 10" "delete 2" "delete 11"

# leaves shared between devices (1.1-restored, as the kernel shares them)
fixture shared-leaves m.bin
seq_run shared-leaves "create_snap 7 1" "delete 0" "reserve_metadata_snap" "delete 1" \
	"delete 2" "create_snap 8 7" "release_metadata_snap" "delete 7" "delete 3" "delete 8"

# 64 devices over 7 data bitmaps
fixture many m.bin
seq_run many "delete 0" "create_snap 100 60" "delete 30" "delete 61" "create_thin 0" \
	"delete 100" "delete 59" "@grow-meta 2048" "delete 1"

# a pool the kernel wrote
fixture kernel-deleted m.bin
ids=$("$BIN/thin_dump" --skip-mappings m.bin | sed -n 's/.*<device dev_id="\([0-9]*\)".*/\1/p')
set --
for i in $ids; do set -- "$@" "create_snap $((i + 100)) $i"; done
for i in $ids; do set -- "$@" "delete $i"; done
seq_run kernel-deleted "$@"

note "$nstep states checked"
[ "$nfail" = 0 ] || fail "$nfail differences"
exit 0

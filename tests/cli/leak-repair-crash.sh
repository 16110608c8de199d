#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# asan: check-long
# In-place leak repair survives a crash at any write: thin_check --auto-repair and
# --clear-needs-check-flag on pools with metadata and data leaks in several bitmaps (a
# data space map whose index btree has an internal node, a metadata space map with two
# bitmaps), killed at every write N, torn at 512, 2048 and 4095 bytes of write N, or
# powered off at N (and right after a clean exit).  Afterwards the same command run
# again exits 0, and the result passes our thin_check and tpt 1.1's (when present) with
# no leaks and holds the same mappings.  (A torn bitmap written in place used to leave
# checksum damage no second run could repair.)
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

[ -f "$FAULTINJ" ] || skip "fault-injection shim not built: $FAULTINJ (make test-tools)"
require_tool thin_restore thin_check thin_dump
[ -x "$TT/thin_damage" ] || skip "test tool thin_damage not built"
: "${ASAN_OPTIONS:=}"
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
export ASAN_OPTIONS
HAVE_TPT=0
[ -n "$TPT11" ] && [ -x "$TPT11" ] && HAVE_TPT=1
[ $HAVE_TPT = 1 ] || note "tpt 1.1 not found: results are checked by our thin_check only"
nfail=0 nruns=0
bad() {
	nfail=$((nfail + 1))
	[ $nfail -le 30 ] && echo "FAIL: $*"
	return 0
}
dmg() { "$TT/thin_damage" "$@" >/dev/null || fail "thin_damage $*"; }

# big.bin: 3000000 data blocks (184 bitmaps: two index leaves under a root), 20000
# metadata blocks (two bitmaps); leaks in the first and last data bitmaps and in both
# metadata bitmaps
cat >big.xml <<'XML'
<superblock uuid="" time="1" transaction="2" flags="0" version="2" data_block_size="128" nr_data_blocks="3000000">
  <device dev_id="1" mapped_blocks="3" transaction="0" creation_time="0" snap_time="0">
    <range_mapping origin_begin="0" data_begin="0" length="2" time="0"/>
    <single_mapping origin_block="10" data_block="2999999" time="0"/>
  </device>
</superblock>
XML
zero_file big.bin 20000
"$BIN/thin_restore" -q -i big.xml -o big.bin || fail "thin_restore big.xml"
for k in 5 2990000; do dmg big.bin leak-data "$("$TT/thin_damage" big.bin find free-data $k)"; done
for k in 3 17000; do dmg big.bin leak-metadata "$("$TT/thin_damage" big.bin find free-metadata $k)"; done
# nc.bin: needs_check set, one leak of each kind (what lvm2's activation repairs)
fixture needs-check nc.bin
dmg nc.bin leak-data "$("$TT/thin_damage" nc.bin find free-data 1)"
dmg nc.bin leak-metadata "$("$TT/thin_damage" nc.bin find free-metadata 1)"
for f in big.bin nc.bin; do
	"$BIN/thin_check" -q "$f" && fail "$f: the leaks are not seen"
done

# verdict FILE: "ok" when both checkers accept FILE (exit 0: no leaks either)
verdict() {
	"$BIN/thin_check" -q "$1" >/dev/null 2>&1 || { echo "our thin_check rejects it"; return; }
	if [ $HAVE_TPT = 1 ]; then
		s=$(sha "$1")
		[ -f "tpt.$s" ] || {
			if "$TPT11" thin_check -q "$1" >/dev/null 2>&1; then echo ok; else echo "tpt 1.1 thin_check rejects it"; fi >"tpt.$s"
		}
		cat "tpt.$s"
		return
	fi
	echo ok
}

# The CI suite (tests/lib.sh: sampled) cuts a sample of the (write, mode) pairs, each write
# in a different mode; FULL=1 every pair.
LR_STEP=1
if sanitized; then
	sampled "one crash mode per write N, in turn" && LR_STEP=5
else
	sampled "every 2nd (write N, crash mode) pair" && LR_STEP=2
fi

# matrix IMAGE ARGS...: thin_check ARGS t.bin, crashed every way at every write
matrix() {
	img=$1
	shift
	cp "$img" t.bin
	rm -f count.txt
	env LD_PRELOAD="$FAULTINJ" DMMETA_FAULT_COUNT=count.txt "$BIN/thin_check" "$@" t.bin >/dev/null 2>&1 ||
		fail "$img: uninterrupted thin_check $* fails"
	W=$(cat count.txt)
	[ "$W" -ge 2 ] 2>/dev/null || fail "$img: thin_check $*: $W writes counted"
	"$BIN/thin_dump" t.bin >new.xml || fail "thin_dump"
	[ "$(verdict t.bin)" = ok ] || fail "$img: uninterrupted thin_check $*: $(verdict t.bin)"
	# copy on write: apart from the superblock, only blocks free before were written
	changed=$(cmp -l "$img" t.bin | awk '{ b = int(($1 - 1) / 4096); if (!(b in s)) { s[b] = 1; print b } }')
	[ -n "$changed" ] || fail "$img: thin_check $* changed nothing"
	for b in $changed; do
		[ "$b" = 0 ] && continue
		c=$("$TT/thin_damage" "$img" find metadata-count "$b")
		[ "$c" = 0 ] || bad "$img: thin_check $* overwrote block $b, in use (count $c) before"
	done
	n=1
	while [ $n -le $((W + 1)) ]; do
		modes="kill tear:512 tear:2048 tear:4095 powerloss"
		[ $n -le "$W" ] || modes=powerloss
		mi=0
		for mode in $modes; do
			mi=$((mi + 1))
			[ $n -gt "$W" ] || [ $(((n + mi) % LR_STEP)) = 0 ] || continue
			nruns=$((nruns + 1))
			what="$img: thin_check $* crashed ($mode at write $n of $W)"
			cp "$img" t.bin
			rc=0
			env LD_PRELOAD="$FAULTINJ" DMMETA_FAULT_AT=$n DMMETA_FAULT_MODE=$mode \
				"$BIN/thin_check" "$@" t.bin >crash.out 2>crash.err || rc=$?
			[ $rc = 137 ] || { bad "$what: exit $rc, want death by SIGKILL"; continue; }
			rc=0
			"$BIN/thin_check" "$@" t.bin >again.out 2>again.err || rc=$?
			[ $rc = 0 ] || {
				bad "$what: run again exits $rc: $("$BIN/thin_check" t.bin 2>&1 | grep -m1 'thin_check:')"
				continue
			}
			v=$(verdict t.bin)
			[ "$v" = ok ] || { bad "$what, then run again: $v"; continue; }
			"$BIN/thin_dump" t.bin >again.xml 2>/dev/null
			cmp -s again.xml new.xml || bad "$what, then run again: not the mappings of the uninterrupted run"
		done
		n=$((n + 1))
	done
	note "$img: thin_check $*: $W writes"
}

matrix big.bin -q --auto-repair
matrix nc.bin -q --clear-needs-check-flag
note "$nruns crashed runs, $nfail failures"
[ $nfail = 0 ] || exit 1
exit 0

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# asan: check-long
# Every key of every leaf that two or more devices share, changed in turn (moved up by
# 2^20: out of order, or out of the parent's range for a last key; and down by one at the
# leaf's edges and every 16th entry: a duplicate, out of range, or a valid other mapping):
# thin_repair either fails non-zero or writes metadata that our thin_check accepts and
# that thin-provisioning-tools 1.1's accepts too (each distinct output once; 1.1 is
# optional here, tests/diff/thin_repair_shared_leaf.sh requires it).  The same for
# thin_dump --repair | thin_restore at the leaves' edges and every 16th entry (the
# entries between drop the same leaf the same way).  Sanitized (tests/lib.sh: sampled): every
# 64th entry instead of every 16th, and of the entries between every 8th (a different 8th in
# each leaf) instead of all; the leaves' edges always.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_repair thin_restore thin_dump thin_check
[ -x "$TT/thin_damage" ] || skip "test tool thin_damage not built"
[ -n "$TPT11" ] && [ -x "$TPT11" ] || note "1.1 thin_check not found in $TPT_REF_DIR: our checker only"

nfail=0
ncase=0
: >outputs
fixture shared-leaves orig.bin
"$TT/thin_damage" orig.bin find shared-leaves >leaves || fail "thin_damage find shared-leaves"
[ -s leaves ] || fail "the shared-leaves fixture has no shared leaf"

# keep FILE WHAT: remember a distinct output for 1.1's thin_check
keep() {
	s=$(cksum <"$1" | cut -d' ' -f1)
	[ -f "uniq.$s" ] && return 0
	cp "$1" "uniq.$s"
	echo "$s $2" >>outputs
}

# one_case BLOCK ENTRY CHANGE [repair-only]
one_case() {
	ncase=$((ncase + 1))
	what="block $1 entry $2 key $3"
	cp orig.bin d.bin
	"$TT/thin_damage" d.bin set-key "$1" "$2" "$3" 2>/dev/null || return 0 # key would wrap
	zero_file o.bin 256
	if "$BIN/thin_repair" -q -i d.bin -o o.bin 2>err; then
		if ! "$BIN/thin_check" -q o.bin; then
			note "$what: thin_repair exited 0, its output fails our thin_check"
			nfail=$((nfail + 1))
		fi
		keep o.bin "$what: thin_repair"
	elif grep -q 'report this bug' err; then
		note "$what: thin_repair's output failed its own check: $(cat err)"
		nfail=$((nfail + 1))
	fi
	[ -z "$4" ] || return 0
	zero_file r.bin 256
	if "$BIN/thin_dump" -r d.bin 2>/dev/null | "$BIN/thin_restore" -q -i - -o r.bin 2>/dev/null; then
		if ! "$BIN/thin_check" -q r.bin; then
			note "$what: thin_dump --repair | thin_restore exited 0, fails our thin_check"
			nfail=$((nfail + 1))
		fi
		keep r.bin "$what: thin_dump --repair | thin_restore"
	fi
}

every=16 between=1
sampled "the leaves' edges, every 64th entry, and every 8th of the entries between" &&
	every=64 between=8
while read -r blk nr; do
	i=0
	while [ "$i" -lt "$nr" ]; do
		if [ "$i" -lt 2 ] || [ "$i" -ge $((nr - 2)) ] || [ $((i % every)) -eq 0 ]; then
			one_case "$blk" "$i" +1048576
			one_case "$blk" "$i" -1
		elif [ $(((i + blk) % between)) -eq 0 ]; then
			one_case "$blk" "$i" +1048576 repair-only
		fi
		i=$((i + 1))
	done
done <leaves

# 1.1's thin_check once per distinct output (most cases drop the same leaf)
if [ -n "$TPT11" ] && [ -x "$TPT11" ]; then
	# in parallel: its wall time is mostly sleep
	while read -r s what; do
		{ tpt11 thin_check -q "uniq.$s" >/dev/null 2>&1; echo $? >"rc.$s"; } &
	done <outputs
	wait
	while read -r s what; do
		if [ "$(cat "rc.$s")" != 0 ]; then
			note "$what: 1.1 thin_check rejects the output"
			nfail=$((nfail + 1))
		fi
	done <outputs
	note "1.1 thin_check run on $(wc -l <outputs) distinct outputs"
fi
note "$ncase cases over $(wc -l <leaves) shared leaves"
[ "$nfail" -eq 0 ] || fail "$nfail failures"
exit 0

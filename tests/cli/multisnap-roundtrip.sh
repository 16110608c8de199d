#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# The shared multisnapshot stores through the tools, per type (mikulas, daniel): a store
# made on a zeroed COW by snap_message, its messages, the status line of snap_check,
# dump -> restore -> dump identical, --force, --sync-snapshots, the refusals (unknown
# id, daniel sub-snapshots and its 65th snapshot, a table that does not match the store,
# a truncated device).  A type this build lacks ("this build has no TYPE store") is
# skipped; both lacking: SKIP.  MS_TYPES="daniel" runs only the types named.
# Exit 0 pass, 1 fail, 77 skip.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool snap_message snap_check snap_dump snap_restore

# status_ok FILE: the line's first word counts the words after it, <#ids> matches the ids
status_ok() {
	awk '{ if (NF != $1 + 1 || $7 != NF - 7 || $3 != "-") exit 1 }' "$1"
}

ran=0
for type in ${MS_TYPES:-mikulas daniel}; do
	case $type in mikulas) cs=8 ;; daniel) cs=32 ;; esac
	rm -f cow cow2 cow3 a.xml b.xml
	truncate -s 67108864 cow
	run "$BIN/snap_message" --type $type --chunk-size $cs cow create
	if grep -q "this build has no $type store" run.err; then
		note "$type: not in this build, skipped"
		continue
	fi
	ran=$((ran + 1))
	expect_rc 0 "$type: create on a new store"
	first=$(cat run.out)
	expect_lines run.out 1 "$type: create prints the new id"
	run "$BIN/snap_message" cow create
	expect_rc 0 "$type: second create"
	second=$(cat run.out)
	[ "$first" != "$second" ] || fail "$type: two creates gave one id ($first)"
	run "$BIN/snap_message" -q cow create
	expect_rc 0 "$type: create -q"
	expect_empty run.out "$type: create -q prints nothing"
	if [ $type = mikulas ]; then
		run "$BIN/snap_message" cow create_subsnap "$first"
		expect_rc 0 "mikulas: create_subsnap"
		expect_grep "^$first\.[0-9]+\$" run.out "mikulas: the sub-snapshot id is N.M"
		sub=$(cat run.out)
		run "$BIN/snap_message" cow delete "$first"
		[ $rc = 3 ] || fail "mikulas: deleting a master with sub-snapshots: exit $rc, not 3"
		run "$BIN/snap_message" cow delete "$first.4294967295"
		expect_rc 2 "mikulas: N.4294967295 is no id"
	else
		run "$BIN/snap_message" cow create_subsnap "$first"
		expect_rc 3 "daniel: create_subsnap refused"
		expect_grep "no snapshots of snapshots" run.err
	fi
	run "$BIN/snap_message" cow delete 4000000000
	expect_rc 3 "$type: delete of an unknown id"
	run "$BIN/snap_message" --type $([ $type = mikulas ] && echo daniel || echo mikulas) cow create
	expect_rc 2 "$type: a table of the other type"

	# the status line
	run "$BIN/snap_check" cow
	expect_rc 0 "$type: snap_check of a fresh store"
	expect_lines run.out 1 "$type: one status line"
	status_ok run.out || fail "$type: status line malformed: $(cat run.out)"
	nids=$(awk '{print $7}' run.out)
	[ $type = mikulas ] && want=4 || want=3
	[ "$nids" = $want ] || fail "$type: $nids ids in the status line, not $want: $(cat run.out)"
	run "$BIN/snap_check" -q cow
	expect_rc 0 "$type: snap_check -q"
	expect_empty run.out
	expect_empty run.err

	# dump -> restore -> dump
	run "$BIN/snap_dump" -o a.xml cow
	expect_rc 0 "$type: snap_dump"
	expect_grep "<multisnap_store[^>]* type=\"$type\"" a.xml "$type: the root element names the type"
	truncate -s 67108864 cow2
	run "$BIN/snap_restore" -i a.xml -o cow2
	expect_rc 0 "$type: snap_restore"
	run "$BIN/snap_dump" -o b.xml cow2
	expect_rc 0 "$type: snap_dump of the restored store"
	expect_same a.xml b.xml "$type: dump -> restore -> dump"
	run "$BIN/snap_check" cow2
	expect_rc 0 "$type: snap_check of the restored store"
	# from a pipe too, and a store is not overwritten without --force
	run sh -c "cat a.xml | '$BIN/snap_restore' -i - -o cow2"
	expect_rc 3 "$type: restore over a store without --force"
	expect_grep "force" run.err
	run sh -c "cat a.xml | '$BIN/snap_restore' --force -i - -o cow2"
	expect_rc 0 "$type: restore --force from a pipe"
	run "$BIN/snap_dump" cow2
	expect_same a.xml run.out "$type: the piped restore"

	# sync-snapshots: keep only the first id
	run "$BIN/snap_message" --sync-snapshots "$first" cow
	expect_rc 0 "$type: --sync-snapshots"
	run "$BIN/snap_check" cow
	expect_rc 0
	[ "$(awk '{print $7, $8}' run.out)" = "1 $first" ] || fail "$type: after sync: $(cat run.out)"

	# daniel: the 65th snapshot
	if [ $type = daniel ]; then
		truncate -s 0 cow3 && truncate -s 268435456 cow3
		i=0
		while [ $i -lt 64 ]; do
			"$BIN/snap_message" -q --type daniel --chunk-size 32 cow3 create || fail "daniel: create $i failed"
			i=$((i + 1))
		done
		run "$BIN/snap_message" cow3 create
		expect_rc 3 "daniel: the 65th snapshot"
		expect_grep "at most 64" run.err
	fi

	# a truncated device: refused or reported, never a crash
	head -c 8192 cow >short
	run "$BIN/snap_check" short
	[ $rc = 1 ] || [ $rc = 3 ] || fail "$type: snap_check of a truncated store: exit $rc"
	run "$BIN/snap_dump" short
	[ $rc = 1 ] || [ $rc = 3 ] || fail "$type: snap_dump of a truncated store: exit $rc"
	run "$BIN/snap_message" short create
	[ $rc = 1 ] || [ $rc = 3 ] || fail "$type: snap_message on a truncated store: exit $rc"
	note "$type: checked"
done
[ $ran -gt 0 ] || skip "this build has neither a mikulas nor a daniel store"
echo "multisnap round trips: $ran type(s) checked"
exit 0

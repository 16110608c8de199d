#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# asan: check-long
#
# snap_message on the shared stores crashed at every write (faultinj.so: kill, powerloss,
# reorder at write N, for every N of each message; powerloss also after the exit):
#   mikulas  (two-phase commit) the store checks clean (snap_check exit 0) and holds the
#            snapshots of before or of after the message, nothing else;
#   daniel   (no journal) the store checks clean with the before or after snapshots, or
#            snap_check finds the damage (exit 1); never a crash or an operational error.
# The messages: create, create, create_subsnap (mikulas), delete of a sub-snapshot
# (mikulas), delete of a snapshot, create again; on a store made by snap_message from a
# zeroed file (itself crashed at every write: afterwards the file is new, or a clean
# empty store, or (daniel) found damaged).
# A type this build lacks is skipped; both lacking: SKIP.  MS_TYPES narrows the types.
# Exit 0 pass, 1 fail, 77 skip.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool snap_message snap_check
[ -f "$FAULTINJ" ] || skip "fault-injection shim not built: $FAULTINJ (make test-tools)"
MODES=${CRASH_MODES:-kill powerloss reorder}
crash_init snap_message # ASan options, CRASH_STEP (tests/lib.sh)

# ids FILE: the snapshot ids of a store ("-" when new: blank), or "?" and the exit status
ids() {
	"$BIN/snap_check" "$1" >ids.out 2>ids.err
	c=$?
	if grep -q '^new (zeroed header' ids.out; then
		echo "new"
	elif [ $c = 0 ]; then
		cut -d' ' -f8- ids.out
	else
		echo "exit$c"
	fi
}

total=0
ran=0
found=0
for type in ${MS_TYPES:-mikulas daniel}; do
	case $type in mikulas) cs=8 ;; daniel) cs=32 ;; esac
	truncate -s 0 probe && truncate -s 16777216 probe
	"$BIN/snap_message" --type $type --chunk-size $cs probe >probe.out 2>probe.err
	if grep -q "this build has no $type store" probe.err; then
		note "$type: not in this build, skipped"
		continue
	fi
	ran=$((ran + 1))
	if [ $type = mikulas ]; then
		set -- "create" "create" "create_subsnap 0" "delete 0.0" "delete 1" "create"
	else
		set -- "create" "create" "delete 0" "create"
	fi
	# step 0: making the store; then each message
	truncate -s 0 cur.img && truncate -s 16777216 cur.img
	step=0
	for msg in "format" "$@"; do
		if [ "$msg" = format ]; then
			args="--type $type --chunk-size $cs"
		else
			args=$msg
		fi
		before=$(ids cur.img)
		cp cur.img after.img
		# shellcheck disable=SC2086
		"$BIN/snap_message" -q after.img $args || fail "$type: '$msg' failed without a fault"
		after=$(ids after.img)
		cp cur.img cnt.img
		# shellcheck disable=SC2086
		shim DMMETA_FAULT_COUNT=count.txt "$BIN/snap_message" -q cnt.img $args
		nw=$(cat count.txt)
		[ "$nw" -gt 0 ] || fail "$type: '$msg' made no counted write"
		for mode in $MODES; do
			last=$nw
			[ $mode = powerloss ] && last=$((nw + 1))
			crash_ns $last
			for n in $CRASH_NS; do
				cp cur.img t.img
				# shellcheck disable=SC2086
				shim DMMETA_FAULT_AT=$n DMMETA_FAULT_MODE=$mode "$BIN/snap_message" -q t.img $args
				got=$(ids t.img)
				total=$((total + 1))
				case $got in
				"$before" | "$after") ;;
				exit1)
					[ $type = daniel ] ||
						fail "$type: '$msg' cut at write $n ($mode): snap_check finds damage: $(head -3 ids.err)"
					grep -q "^snap_check: MS" ids.err ||
						fail "$type: '$msg' cut at write $n ($mode): exit 1 without a damage report"
					found=$((found + 1))
					;;
				*)
					fail "$type: '$msg' cut at write $n ($mode): ids '$got', not '$before' or '$after' ($(head -2 ids.err))"
					;;
				esac
			done
		done
		note "$type: '$msg': $nw writes, cut at each in: $MODES"
		cp after.img cur.img
		step=$((step + 1))
	done
done
[ $ran -gt 0 ] || skip "this build has neither a mikulas nor a daniel store"
echo "crash matrix (multisnap): $total cut runs, every store before or after; daniel damage found by snap_check in $found"
exit 0

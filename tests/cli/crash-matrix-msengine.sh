#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# test-timeout: 900
# asan: check-long
#
# The crash matrix of the shared multisnapshot engine on a mikulas store (issue 15):
# tests/tools/ms_model --crash runs a fixed sequence (create, origin write, create,
# create_subsnap, snapshot writes breaking sharing, origin writes copied once for two
# snapshots (also two ids apart, so that two ranges share the chunk), a refused delete,
# deletes, creates again, merges of a sub-snapshot and of two masters (batches of one and two
# chunks), a merge of a master with two live sub-snapshots (they stay, one sharing its
# chunk, one owning its own), a write to and a merge of such an orphan sub-snapshot;
# one-sector writes, so that a torn data write cannot mix a sector)
# and cuts every step at every write (FULL=1; else a sample: crash_init in tests/lib.sh) in
# each mode of the fault-injection shim (kill, tears, eio; powerloss and reorder also at the
# exit).  After
# each cut snap_check must exit 0, sectors_allocated be that of before or after the step,
# and the ids, every view (snap_export) and the origin be all of the state before the step
# or all of the state after it: no lost or mixed data.  A merge cut between two of its
# batches may also leave every snapshot's view as before and the origin part merged: run
# again, it must resume to exactly the state after.
# Skipped (one line) while snap_write / snap_export do not know shared stores.
# Exit 0 pass, 1 fail, 77 skip.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool snap_message snap_write snap_merge snap_export snap_check snap_dump
[ -x "$TT/ms_model" ] || skip "tests/tools/ms_model not built: $TT/ms_model"
[ -f "$FAULTINJ" ] || skip "fault-injection shim not built: $FAULTINJ (make test-tools)"
# the heaviest matrix (36 steps; each cut judged by snap_check and an export of every view):
# in the CI suite every 8th write, each mode one further, so the seven modes still cut most N,
# and the first and last of each step (the state before, the commit)
CRASH_STEP_CI=8
: "${CRASH_ENDS:=1}"
crash_init snap_write # MODES and CRASH_STEP (tests/lib.sh: sampled unless FULL=1)

mkdir -p m
"$TT/ms_model" --bin "$BIN" --dir m --chunks 4 --crash "$MODES" \
	--crash-step "$CRASH_STEP" --crash-ends "$CRASH_ENDS" --faultinj "$FAULTINJ" >m.out 2>&1
rc=$?
case $rc in
0) cat m.out ;;
77) skip "$(sed -n 's/^SKIP: //p' m.out | head -1)" ;;
*) cat m.out; fail "ms_model --crash '$MODES': exit $rc" ;;
esac
exit 0

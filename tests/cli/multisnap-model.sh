#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# asan: check-long
#
# The model test of shared multisnapshot stores (issue 15): tests/tools/ms_model runs seeded
# random sequences of creates, sub-snapshots, origin writes, snapshot writes, deletes and
# merges (snap_merge of any snapshot: a master's live sub-snapshots stay) on a mikulas store
# through snap_message / snap_write / snap_merge / snap_export, and after every step
# compares every snapshot's view and the origin with a plain in-memory model, requires
# snap_check to exit 0 with the model's ids, and the status line's sectors_allocated to be
# the metadata plus the COW chunks the model's sharing needs (what snap_dump lists).
# A mismatch prints the seed, the step and the command line; rerun it with -v (-vv: every
# command):  ms_model --bin build/bin --dir /tmp/x --seed S --steps K -v
# More seeds (a 150-step seed takes ~5 s):
#   MS_MODEL_SEEDS="$(seq 100 199)" MS_MODEL_STEPS=150 sh tests/cli/multisnap-model.sh
# Skipped (one line) while snap_write / snap_export do not know shared stores.
# Exit 0 pass, 1 fail, 77 skip.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool snap_message snap_write snap_merge snap_export snap_check snap_dump
[ -x "$TT/ms_model" ] || skip "tests/tools/ms_model not built: $TT/ms_model"

SEEDS=${MS_MODEL_SEEDS:-1 2 3 4}
STEPS=${MS_MODEL_STEPS:-50}
# a sanitized build runs each tool ~10 times slower: fewer seeds and steps
if [ -z "${MS_MODEL_SEEDS:-}${MS_MODEL_STEPS:-}" ] && ldd "$BIN/snap_write" 2>/dev/null | grep -q libasan; then
	SEEDS="1 2"
	STEPS=25
fi
n=0
for s in $SEEDS; do
	mkdir -p "seed$s"
	"$TT/ms_model" --bin "$BIN" --dir "seed$s" --seed "$s" --steps "$STEPS" >"seed$s.out" 2>&1
	rc=$?
	case $rc in
	0) n=$((n + 1)); rm -rf "seed$s" ;;
	77) skip "$(sed -n 's/^SKIP: //p' "seed$s.out" | head -1)" ;;
	*) cat "seed$s.out"; fail "ms_model --seed $s --steps $STEPS: exit $rc" ;;
	esac
done
# a long run with few snapshots and a tiny origin: much sharing, many breaks of it
mkdir -p tiny
"$TT/ms_model" --bin "$BIN" --dir tiny --seed 4242 --steps "$STEPS" --chunks 4 --max-snaps 5 >tiny.out 2>&1 ||
	{ cat tiny.out; fail "ms_model --seed 4242 --chunks 4 --max-snaps 5: exit $?"; }
echo "multisnap model: $((n + 1)) seeds x $STEPS steps, every view equal to the model after every step"
exit 0

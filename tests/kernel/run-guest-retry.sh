#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# run-guest's one retry after a silent timeout (tests/kernel/lib/run-guest).  Exit 0 pass,
# 1 fail, 77 skip.
#
# The guest writes a mark to its disk and then hangs; a boot that finds the mark ends at
# once.  So the retry must come (one "run-guest: retrying" line), must boot from the disk as
# it was before the first boot (else it would find the mark and pass), and a hang that
# repeats must still fail with status 125 and the usual "timed out" line.  (Two boots of
# 30 s: about a minute.)

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"
. "$SRCDIR/tests/kernel/lib/kernel.sh"

k_require_vm
zero_file disk.img 16
sh "$KLIB/run-guest" -t 30 -o out "$KGUEST/run-guest-retry.sh" disk.img 2>err
rc=$?
[ "$rc" = 125 ] || k_bad "a guest that hangs on every boot: run-guest exited $rc, expected 125"
n=$(grep -c '^run-guest: retrying' err)
[ "$n" = 1 ] || k_bad "$n retry lines, expected 1"
grep -q '^run-guest: timed out after 30s' err || k_bad "no 'timed out' line after the retry"
grep -q 'SAW-MARK' out err 2>/dev/null && k_bad "the retry saw the first boot's mark: the disk was not restored"
[ "$(dd if=disk.img bs=6 count=1 2>/dev/null)" = HUNG-1 ] || k_bad "the guest's write did not reach disk.img"

k_finish

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# lvm2's contracts with thin_check (lvm.conf thin_check_options defaults to
# "-q --clear-needs-check-flag"; users add --skip-mappings for speed and
# --ignore-non-fatal-errors to accept leaks), checked against thin-provisioning-tools 1.1.0:
#   - `-V` prints a bare X.Y.Z first line (lvm2 parses it);
#   - `-q --clear-needs-check-flag` on a clean pool prints nothing and exits 0, and writes
#     nothing when the flag is not set;
#   - with needs_check set it clears flag bit 0, changing only the superblock, and leaves the
#     same image 1.1 leaves;  the same with --skip-mappings and --super-block-only;
#   - on fatal damage it exits non-zero, prints nothing and writes nothing;
#   - --clear-needs-check-flag with -m is a usage error (exit 2), as in 1.1.
#   - like 1.1 (since 1.0.9), space-map leaks are repaired under --clear-needs-check-flag,
#     then the flag is cleared and the check passes; the result passes 1.1's thin_check.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tpt 1.1
require_tool thin_check
[ -x "$TT/thin_damage" ] || skip "test tool thin_damage not built (no $TT/thin_damage)"

TC=$BIN/thin_check
D=$TT/thin_damage

# 1. version
run "$TC" -V
expect_rc 0 "thin_check -V"
head -n 1 run.out | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+$' || fail "-V first line is not X.Y.Z: $(head -n 1 run.out)"

# 2. clean pool, flag not set: nothing printed, exit 0, nothing written
for fx in many snaps one-thin empty; do
	fixture "$fx" clean.bin
	before=$(sha clean.bin)
	for opts in "" "--skip-mappings" "--super-block-only" "--ignore-non-fatal-errors"; do
		# shellcheck disable=SC2086
		run "$TC" -q --clear-needs-check-flag $opts clean.bin
		expect_rc 0 "$fx: -q --clear-needs-check-flag $opts"
		expect_empty run.out "$fx: stdout of -q --clear-needs-check-flag $opts"
		expect_empty run.err "$fx: stderr of -q --clear-needs-check-flag $opts"
		[ "$(sha clean.bin)" = "$before" ] || fail "$fx: image written although needs_check was clear ($opts)"
	done
done

# 3. needs_check set: cleared, only block 0 changes, same image as 1.1 leaves
flag_of() { od -An -tu4 -j4 -N4 "$1" | tr -d ' '; }
for opts in "" "--skip-mappings" "--super-block-only"; do
	fixture needs-check ours.bin
	[ "$(flag_of ours.bin)" = 1 ] || fail "fixture needs-check has flags $(flag_of ours.bin)"
	cp ours.bin orig.bin
	cp ours.bin ref.bin
	# shellcheck disable=SC2086
	run "$TC" -q --clear-needs-check-flag $opts ours.bin
	expect_rc 0 "needs-check: -q --clear-needs-check-flag $opts"
	expect_empty run.out
	expect_empty run.err
	[ "$(flag_of ours.bin)" = 0 ] || fail "needs_check not cleared ($opts)"
	# shellcheck disable=SC2086
	tpt11 thin_check -q --clear-needs-check-flag $opts ref.bin || fail "1.1 failed on needs-check ($opts)"
	expect_same ref.bin ours.bin "our image differs from 1.1's after clearing ($opts)"
	dd if=orig.bin of=a.tail bs=4096 skip=1 2>/dev/null
	dd if=ours.bin of=b.tail bs=4096 skip=1 2>/dev/null
	expect_same a.tail b.tail "blocks other than the superblock changed ($opts)"
	run "$TC" ours.bin
	expect_rc 0 "thin_check after clearing ($opts)"
	tpt11 thin_check -q ours.bin || fail "1.1 rejects the image we cleared ($opts)"
done

# 4. fatal damage: non-zero, silent, nothing written (needs_check stays set)
fixture needs-check bad.bin
leaf=$("$D" bad.bin find leaf 1) || fail "find leaf"
"$D" bad.bin flip-csum "$leaf" || fail "flip-csum"
before=$(sha bad.bin)
run "$TC" -q --clear-needs-check-flag bad.bin
expect_rc 1 "damaged: -q --clear-needs-check-flag"
expect_empty run.out
expect_empty run.err
[ "$(sha bad.bin)" = "$before" ] || fail "damaged image was written"
tpt11 thin_check -q --clear-needs-check-flag bad.bin && fail "1.1 passes the damaged image (test is wrong)"
[ "$(sha bad.bin)" = "$before" ] || fail "1.1 wrote the damaged image (test assumption broken)"

# 5. leaks: like 1.1 (>= 1.0.9), lvm2's default options repair space-map leaks, clear the
#    flag and pass; the repaired image passes both checkers
fixture needs-check leak.bin
"$D" leak.bin leak-metadata "$("$D" leak.bin find free-metadata)" || fail "leak-metadata"
"$D" leak.bin leak-data "$("$D" leak.bin find free-data)" || fail "leak-data"
cp leak.bin leak11.bin
run "$TC" -q leak.bin
expect_rc 1 "leaked: -q (no repair without --clear-needs-check-flag/--auto-repair)"
run "$TC" -q --clear-needs-check-flag leak.bin
expect_rc 0 "leaked: -q --clear-needs-check-flag"
expect_empty run.out
expect_empty run.err
[ "$(flag_of leak.bin)" = 0 ] || fail "needs_check not cleared after the leak repair"
run "$TC" -q leak.bin
expect_rc 0 "leaked, repaired: plain check"
tpt11 thin_check -q leak.bin || fail "1.1 rejects our leak repair"
tpt11 thin_check -q --clear-needs-check-flag leak11.bin || fail "1.1 does not repair leaks (test assumption broken)"

# 6. usage errors as 1.1
fixture one-thin u.bin
for opts in "-m" "--override-mapping-root 7" "--override-details-root 6"; do
	# shellcheck disable=SC2086
	run "$TC" --clear-needs-check-flag $opts u.bin
	expect_rc 2 "--clear-needs-check-flag $opts"
	# shellcheck disable=SC2086
	tpt11 thin_check --clear-needs-check-flag $opts u.bin >/dev/null 2>&1
	[ $? = 2 ] || fail "1.1 accepts --clear-needs-check-flag $opts (test assumption broken)"
done
exit 0

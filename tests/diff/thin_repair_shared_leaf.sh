#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A key moved out of the range of a leaf two snapshots share: thin_repair (and
# thin_dump --repair | thin_restore) must write metadata that thin-provisioning-tools
# 1.1's thin_check accepts as well as ours.  (Both wrote DATA_BAD_COUNT once: the
# dropped leaf still went out as an unreferenced <def> whose data blocks were counted.)
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_repair thin_restore thin_dump thin_check
require_tpt 1.1
[ -x "$TT/thin_damage" ] || skip "test tool thin_damage not built"

fixture shared-leaves p.bin
set -- $("$TT/thin_damage" p.bin find shared-leaves | head -1)
[ -n "$1" ] || fail "the shared-leaves fixture has no shared leaf"
"$TT/thin_damage" p.bin set-key "$1" $(($2 - 1)) +1000 || fail "thin_damage set-key"
zero_file o.bin 256
zero_file r.bin 256

run "$BIN/thin_repair" -i p.bin -o o.bin
expect_rc 0 "thin_repair"
expect_grep 'NODE_KEY_RANGE' run.err "the damage reported"
run tpt11 thin_check o.bin
expect_rc 0 "1.1 thin_check of thin_repair's output"
run "$BIN/thin_check" o.bin
expect_rc 0 "our thin_check of thin_repair's output"

"$BIN/thin_dump" -r p.bin >r.xml 2>/dev/null
run "$BIN/thin_restore" -i r.xml -o r.bin
expect_rc 0 "thin_restore of thin_dump --repair"
run tpt11 thin_check r.bin
expect_rc 0 "1.1 thin_check of thin_dump --repair | thin_restore"
run "$BIN/thin_check" r.bin
expect_rc 0 "our thin_check of thin_dump --repair | thin_restore"

# both ways give the same pool
"$BIN/thin_dump" o.bin >o.xml
"$BIN/thin_dump" r.bin >r2.xml
expect_same o.xml r2.xml "thin_repair vs thin_dump --repair | thin_restore"
exit 0

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# The LD_PRELOAD fault-injection shim (tests/preload/faultinj.c) does exactly what each
# mode says, driven by the scripted writer $TT/fi_writer:
#   counting: only writes to regular files opened for writing count (stdout does not);
#   kill at N: SIGKILL, writes 1..N-1 landed, N not;
#   tear:K at N: the first K bytes of write N landed, then SIGKILL;
#   eio at N: write N and every later write (and fsync) fail with EIO, no kill;
#   powerloss at N: writes since the last fsync/fdatasync undone (bytes and file size);
#     at count+1: the same when the program exits;
#   reorder at N: the same, but the latest unsynced write survives;
#   bad settings: one `faultinj:` line, exit 2.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

[ -f "$FAULTINJ" ] || skip "shim not built: $FAULTINJ"
[ -x "$TT/fi_writer" ] || skip "fi_writer not built: $TT/fi_writer"
: "${ASAN_OPTIONS:=}"
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
export ASAN_OPTIONS

# fi [ENV=VAL...] -- OPS...: run fi_writer on ./f under the shim; status in $rc
fi_run() {
	rc=0
	env LD_PRELOAD="$FAULTINJ" "$@" >run.out 2>run.err || rc=$?
}
# hexdump-free content check: bytes OFF..OFF+LEN of FILE are all C
is_all() {
	got=$(dd if="$1" bs=1 skip="$2" count="$3" 2>/dev/null | tr -d "$4" | wc -c)
	n=$(dd if="$1" bs=1 skip="$2" count="$3" 2>/dev/null | wc -c)
	[ "$got" -eq 0 ] && [ "$n" -eq "$3" ]
}
size() { wc -c <"$1" | tr -d ' '; }

OPS="p:0:4096:a o:10:x p:4096:4096:b w:100:z v:8192:4096:c s p:0:4096:d p:12288:4096:e"
# counted writes: p, p, w, v, p, p = 6 (o goes to stdout)

# 1. counting
rm -f f cnt
fi_run DMMETA_FAULT_COUNT=cnt "$TT/fi_writer" f $OPS
expect_rc 0 "plain run"
[ "$(cat cnt)" = 6 ] || fail "counted $(cat cnt) writes, want 6"
[ "$(size f)" = 16384 ] || fail "plain run: size $(size f)"
# stdout redirected to a regular file is still not counted
rm -f f cnt
env LD_PRELOAD="$FAULTINJ" DMMETA_FAULT_COUNT=cnt "$TT/fi_writer" f o:5:q p:0:1:a >out.file
[ "$(cat cnt)" = 1 ] || fail "stdout-to-file counted: $(cat cnt), want 1"
# a file opened read-only is not counted, nor pipes
rm -f cnt
env LD_PRELOAD="$FAULTINJ" DMMETA_FAULT_COUNT=cnt sh -c 'cat f >/dev/null; echo hi | cat >/dev/null' || true
[ "$(cat cnt 2>/dev/null)" = 0 ] || fail "reads/pipes counted: $(cat cnt 2>/dev/null)"

# 2. kill at 3 (the w:100:z after p:0 a, p:4096 b)
rm -f f
fi_run DMMETA_FAULT_AT=3 DMMETA_FAULT_MODE=kill "$TT/fi_writer" f $OPS
[ "$rc" = 137 ] || fail "kill: exit status $rc, want 137 (SIGKILL)"
[ "$(size f)" = 8192 ] || fail "kill: size $(size f), want 8192"
is_all f 0 4096 a && is_all f 4096 4096 b || fail "kill: writes 1-2 did not land"
grep -q "w:100:z" run.out && fail "kill: write 3 reported"

# 3. tear:100 at 4 (pwritev of 4096 c at 8192): 100 bytes land
rm -f f
fi_run DMMETA_FAULT_AT=4 DMMETA_FAULT_MODE=tear:100 "$TT/fi_writer" f $OPS
[ "$rc" = 137 ] || fail "tear: exit status $rc, want 137"
[ "$(size f)" = 8292 ] || fail "tear: size $(size f), want 8292"
is_all f 8192 100 c || fail "tear: first 100 bytes of write 4 missing"
is_all f 0 100 z || fail "tear: write 3 missing"
# tear:K past the length writes it all, then dies
rm -f f
fi_run DMMETA_FAULT_AT=1 DMMETA_FAULT_MODE=tear:9999 "$TT/fi_writer" f $OPS
[ "$rc" = 137 ] && [ "$(size f)" = 4096 ] || fail "tear past length: rc $rc size $(size f)"

# 4. eio at 5: writes 5, 6 fail, fsync before them is fine, no kill
rm -f f
fi_run DMMETA_FAULT_AT=5 DMMETA_FAULT_MODE=eio "$TT/fi_writer" f $OPS s
expect_rc 0 "eio"
[ "$(grep -c 'error: Input/output error' run.out)" = 3 ] || { cat run.out; fail "eio: want 3 EIO results (2 writes, 1 fsync)"; }
grep -q '^s ok' run.out || fail "eio: fsync before the fault failed"
is_all f 100 3996 a && [ "$(size f)" = 12288 ] || fail "eio: failed writes landed"

# 5. powerloss at 6: write 5 (d at 0) was after the fsync -> undone; 1-4 synced stay
rm -f f
fi_run DMMETA_FAULT_AT=6 DMMETA_FAULT_MODE=powerloss "$TT/fi_writer" f $OPS
[ "$rc" = 137 ] || fail "powerloss: exit status $rc"
is_all f 0 100 z && is_all f 100 3996 a || fail "powerloss: write 5 not undone"
[ "$(size f)" = 12288 ] || fail "powerloss: size $(size f), want 12288"
# powerloss undoes growth too: nothing synced -> back to the old file
printf 'old!' >f
fi_run DMMETA_FAULT_AT=3 DMMETA_FAULT_MODE=powerloss "$TT/fi_writer" f p:0:8:x p:4096:100:y d p:0:1:q p:9000:1:r
# writes: 1 x, 2 y, [fdatasync], 3 q -> fault at 3: nothing to undo since the sync
[ "$rc" = 137 ] && [ "$(size f)" = 4196 ] && is_all f 0 8 x || fail "powerloss after fdatasync: rc $rc size $(size f)"
printf 'old!' >f
fi_run DMMETA_FAULT_AT=4 DMMETA_FAULT_MODE=powerloss "$TT/fi_writer" f p:0:8:x p:4096:100:y p:0:1:q p:9000:1:r
[ "$rc" = 137 ] && [ "$(cat f)" = "old!" ] || fail "powerloss without sync: rc $rc size $(size f), want the old 4-byte file"

# powerloss at (count + 1) cuts the power at exit: unsynced writes are lost
printf 'old!' >f
fi_run DMMETA_FAULT_AT=3 DMMETA_FAULT_MODE=powerloss "$TT/fi_writer" f p:0:8:x s p:4096:100:y
[ "$rc" = 137 ] && [ "$(size f)" = 8 ] && is_all f 0 8 x || fail "powerloss at exit: rc $rc size $(size f), want the synced 8 bytes"
printf 'old!' >f
fi_run DMMETA_FAULT_AT=3 DMMETA_FAULT_MODE=powerloss "$TT/fi_writer" f p:0:8:x p:4096:100:y s
[ "$rc" = 137 ] && [ "$(size f)" = 4196 ] || fail "powerloss at exit after a final fsync: rc $rc size $(size f)"

# reorder: the latest unsynced write survives, the earlier unsynced ones are lost
printf 'old!' >f
fi_run DMMETA_FAULT_AT=5 DMMETA_FAULT_MODE=reorder "$TT/fi_writer" f p:0:8:x s p:4096:100:y p:0:2:q p:1:1:r p:9000:1:z
# synced x; then y (lost), q at 0-1 (lost), r at 1 survives over the restored x
[ "$rc" = 137 ] && [ "$(size f)" = 8 ] && is_all f 0 1 x && is_all f 1 1 r && is_all f 2 6 x ||
	fail "reorder: rc $rc size $(size f) content $(od -An -c f | head -1)"
printf 'old!' >f
fi_run DMMETA_FAULT_AT=4 DMMETA_FAULT_MODE=reorder "$TT/fi_writer" f p:0:8:x p:4096:100:y p:100:1:q
[ "$rc" = 137 ] && [ "$(size f)" = 101 ] && [ "$(head -c 4 f)" = "old!" ] && is_all f 100 1 q &&
	[ "$(dd if=f bs=1 skip=4 count=96 2>/dev/null | tr -d '\0' | wc -c)" = 0 ] ||
	fail "reorder at exit: rc $rc size $(size f)"

# 6. no fault point: the mode alone does nothing
rm -f f
fi_run DMMETA_FAULT_MODE=kill "$TT/fi_writer" f $OPS
expect_rc 0 "mode without FAULT_AT"

# 7. bad settings
for bad in "DMMETA_FAULT_AT=x" "DMMETA_FAULT_AT=-1" "DMMETA_FAULT_MODE=boom" "DMMETA_FAULT_MODE=tear:"; do
	fi_run DMMETA_FAULT_AT=1 "$bad" "$TT/fi_writer" f $OPS
	[ "$rc" = 2 ] || fail "$bad: exit $rc, want 2"
	grep -q '^faultinj: ' run.err || fail "$bad: no faultinj: message"
	expect_lines run.err 1 "$bad"
done
exit 0

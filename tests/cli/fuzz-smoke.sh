#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Smoke run of the libFuzzer targets (tests/fuzz/, built by `make check` / `make fuzz-build`
# into ${FUZZ_BUILDDIR:-$BUILDDIR/fuzz}/fuzzers):
#   1. every saved crash (tests/fuzz/regress/<target>/*) is replayed: each must now pass;
#   2. every target runs over a copy of its corpus (tests/fuzz/corpus/<target>) and then
#      mutates it for FUZZ_SMOKE_SECONDS (default 5) seconds; any crash, leak, sanitizer
#      report or oracle abort fails the test (the crashing input is kept in the temp dir and
#      named in the output).
# SKIPs with one line when clang's libFuzzer runtime is missing or the targets are not built.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

# the targets are built with ASan and UBSan whatever the tools' build: make check-asan would
# run the same binaries on the same corpora again
[ "${DMMETA_ASAN:-0}" = 1 ] &&
	skip "the fuzz targets are sanitized builds of their own, run by the plain make check"

FZ=${FUZZ_BUILDDIR:-$BUILDDIR/fuzz}
case $FZ in /*) ;; *) FZ=$SRCDIR/$FZ ;; esac
FZ=$FZ/fuzzers
FUZZ_SMOKE_SECONDS=${FUZZ_SMOKE_SECONDS:-5}
FUZZ_DIR=$SRCDIR/tests/fuzz

targets=$(cd "$FUZZ_DIR" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
missing=
for t in $targets; do
	[ -x "$FZ/fuzz_$t" ] || missing="$missing $t"
done
if [ -n "$missing" ]; then
	probe=probe.c
	printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' >$probe
	if ! ${FUZZ_CC:-clang} -fsanitize=fuzzer,address,undefined -o probe $probe >/dev/null 2>&1; then
		skip "clang's libFuzzer runtime is missing (install clang and libclang-rt-14-dev)"
	fi
	skip "fuzz targets not built in $FZ (the plain make check builds them: make fuzz-build)"
fi

# The sanitizer settings of run-tests.sh (exitcode=99) are kept; libFuzzer's own limits:
# big single allocations are the library's NOMEM path, not a crash (fuzz_common.h).
FLAGS="-timeout=30 -rss_limit_mb=2048 -malloc_limit_mb=1000000"
failed=0

for t in $targets; do
	# 1. regressions
	if [ -d "$FUZZ_DIR/regress/$t" ] && [ -n "$(ls "$FUZZ_DIR/regress/$t")" ]; then
		if ! "$FZ/fuzz_$t" $FLAGS "$FUZZ_DIR/regress/$t"/* >"regress-$t.log" 2>&1; then
			note "FAIL: fuzz_$t: a saved crash of tests/fuzz/regress/$t crashes again:"
			grep -E 'Running:|ERROR|SUMMARY|#[0-9]+ 0x' "regress-$t.log" | head -20
			failed=1
			continue
		fi
		note "fuzz_$t: $(ls "$FUZZ_DIR/regress/$t" | wc -l | tr -d ' ') saved crashes replayed"
	fi
	# 2. corpus plus mutations
	mkdir -p "corpus-$t"
	cp "$FUZZ_DIR/corpus/$t"/* "corpus-$t/" 2>/dev/null
	dict=
	[ -f "$FUZZ_DIR/$t.dict" ] && dict=-dict=$FUZZ_DIR/$t.dict
	if ! "$FZ/fuzz_$t" $FLAGS -max_total_time="$FUZZ_SMOKE_SECONDS" -print_final_stats=1 \
		-artifact_prefix="$PWD/crash-$t-" $dict "corpus-$t" >"fuzz-$t.log" 2>&1; then
		note "FAIL: fuzz_$t found a crash (input kept as $(ls crash-$t-* 2>/dev/null | head -1)):"
		grep -E 'ERROR|SUMMARY|#[0-9]+ 0x|abort' "fuzz-$t.log" | head -20
		failed=1
		continue
	fi
	note "fuzz_$t: $(sed -n 's/^stat::number_of_executed_units: *//p' "fuzz-$t.log") runs"
done
[ $failed = 0 ] || fail "fuzz smoke: see above"
exit 0

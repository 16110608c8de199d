#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# run-units.sh BIN...: run the Check unit-test binaries, UNIT_JOBS at a time (default: the
# number of CPUs), each with CK_FORK=yes; print each one's output as a block, in the order
# given ("== BIN" and then what it printed), whatever order they finish in.  Exit 1 if any
# binary exits non-zero (its block then ends with "exit status N"), else 0.
# Check's per-test time limits guard against hangs, not speed (speed goals live in bench/):
# with suites running side by side on a busy machine they are tripled unless
# CK_TIMEOUT_MULTIPLIER says otherwise.
LC_ALL=C
CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-3}
export LC_ALL CK_TIMEOUT_MULTIPLIER
jobs=${UNIT_JOBS:-$(nproc 2>/dev/null || echo 2)}
case $jobs in '' | *[!0-9]* | 0) jobs=1 ;; esac
dir=$(mktemp -d "${TMPDIR:-/tmp}/dmmeta-units.XXXXXX") || exit 2
trap 'rm -rf "$dir"' EXIT
trap 'exit 130' INT TERM HUP

i=0
for t in "$@"; do
	i=$((i + 1))
	printf '%s\t%s\n' "$i" "$t"
done >"$dir/list"
# each line "I<TAB>BIN" runs as: BIN >dir/I.out 2>&1; status in dir/I.rc
# shellcheck disable=SC2016 # expanded by the inner sh
tr '\t' ' ' <"$dir/list" | xargs -P "$jobs" -n 2 sh -c \
	'CK_FORK=yes "$2" >"$0/$1.out" 2>&1; echo $? >"$0/$1.rc"' "$dir"

fail=0
while IFS="$(printf '\t')" read -r i t; do
	echo "== $t"
	cat "$dir/$i.out"
	rc=$(cat "$dir/$i.rc" 2>/dev/null || echo 127)
	if [ "$rc" != 0 ]; then
		echo "exit status $rc"
		fail=1
	fi
done <"$dir/list"
exit $fail

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Differential check of verdicts: replay every golden case of the tools tpt 1.1 also has
# (tests/func/<tool>/*, tool in TOOLS below) with $BIN = a temp dir of symlinks to the 1.1
# pdata_tools, each case in its own fresh temp dir (cwd, stdin </dev/null, FIX/TT/CASE/SRCDIR
# ... exported as tests/run-tests.sh does), and compare its verdict with the golden `expect`
# (= our output on this tree).  Verdict = the `exit N` lines the case prints on stdout plus the
# final `exit status N`, each reduced to accept (0) / reject (non-zero).
# Cases listed in EXCEPTIONS (case-name  reason) are expected to differ; one that agrees is a
# "stale exception" and fails the script.  Every other case must agree.
# Internal mode: `golden-vs-tpt11.sh --one CASEDIR OUTFILE` runs one case against tpt 1.1.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

TOOLS='thin_check thin_dump thin_delta thin_ls thin_rmap thin_repair thin_restore
thin_metadata_size thin_metadata_pack thin_metadata_unpack'

# case-name (tool/case)  reason -- keep short and true (each checked by running it)
EXCEPTIONS='
thin_check/0051-auto-repair-fatal-untouched            auto-repair: 1.1 exits 0, writes despite fatal damage
thin_check/0080-auto-repair-leaks-no-free-metadata     auto-repair: 1.1 rewrites with no free metadata
thin_check/0094-index-loses-many-bitmaps               1.1 accepts bitmaps missing from the index
thin_dump/0004-snaps-equals-source-xml                 1.1 dump omits flags="0" (fixture XML has it)
thin_dump/0005-many-equals-source-xml                  1.1 dump omits flags="0" (fixture XML has it)
thin_dump/0011-output-file                             1.1 dump omits flags="0" (fixture XML has it)
thin_dump/0015-metadata-snap-block                     1.1 lacks -m<BLOCK> (attached value)
thin_dump/0018-shared-without-sharing                  1.1 lacks --shared
thin_dump/0019-shared                                  1.1 lacks --shared
thin_dump/0021-damaged-leaf-repair                     repair: 1.1 finds no compatible roots
thin_dump/0023-bad-superblock-repair                   repair: 1.1 needs --data-block-size
thin_dump/0027-mapping-tree-damaged-repair             repair: 1.1 finds no compatible roots
thin_dump/0029-quiet-repair-and-ok                     repair: 1.1 fails on a damaged leaf
thin_dump/0038-output-is-input                         output = input: 1.1 clobbers the input
thin_ls/0007-field-order-repeats                       1.1 rejects a trailing comma in -o
thin_ls/0026-damaged-leaf-default-fields               1.1 refuses damaged metadata
thin_rmap/0017-metadata-snap                           1.1 lacks thin_rmap -m
thin_repair/0001-clean-pool-identical                  1.1 dump omits flags="0" (fixture XML has it)
thin_repair/0002-zeroed-superblock-overrides           repair: 1.1 writes transaction id + 1
thin_repair/0004-lost-leaf                             repair: 1.1 finds no compatible roots
thin_repair/0005-lost-internal-node                    repair: 1.1 finds no compatible roots
thin_repair/0006-lost-details-tree                     repair: 1.1 drops trees without details
thin_repair/0008-input-is-output                       output = input: 1.1 clobbers the input
thin_repair/0014-lost-top-level-root                   repair: 1.1 recovers less
thin_repair/0015-lost-device-root                      repair: 1.1 finds no compatible roots
thin_repair/0017-shared-leaf-key-range                 repair: 1.1 finds no compatible roots
thin_restore/0001-fixtures-roundtrip                   1.1 dump omits flags="0" (fixture XML has it)
thin_restore/0002-shared-fixture-roundtrip             1.1 lacks --shared
thin_restore/0003-generated-thousands-of-devices       1.1 dump omits flags="0" (fixture XML has it)
thin_restore/0004-generated-heavy-sharing              1.1 dump omits flags="0" (fixture XML has it)
thin_restore/0006-overwrite-thin-metadata              1.1 lacks thin_restore --force
thin_restore/0014-duplicate-device                     1.1 accepts a duplicate device
thin_restore/0019-stdin-input                          1.1 lacks -i - (stdin)
thin_restore/0023-override-nr-data-blocks-too-small    1.1 accepts --nr-data-blocks below mappings
thin_restore/0024-usage-bad-overrides                  1.1 accepts some bad overrides
thin_restore/0025-foreign-xml-forms                    1.1 rejects an XML declaration
thin_restore/0026-data-blocks-shared-600-times         1.1 dump omits flags="0" (fixture XML has it)
thin_restore/0028-other-family                         1.1 lacks thin_restore --force
thin_restore/0030-huge-nr-data-blocks-fails-fast       1.1 aborts allocating for huge nr_data_blocks
thin_restore/0031-force-check-before-writing           1.1 lacks thin_restore --force
thin_restore/0034-force-output-maybe-too-small         1.1 lacks thin_restore --force
thin_restore/0037-metadata-snap-dump-nr-data-blocks-0  1.1 thin_dump -m: block out of bounds
thin_metadata_size/0004-numeric-short                  metadata_size: 1.1 option syntax differs
thin_metadata_size/0005-numeric-long                   metadata_size: 1.1 option syntax differs
thin_metadata_size/0007-max-thins-with-unit            metadata_size: 1.1 option syntax differs
thin_metadata_size/0029-bad-output-unit                metadata_size: 1.1 accepts -u KiB
thin_metadata_size/0036-zero-max-thins                 metadata_size: 1.1 accepts -m 0
thin_metadata_size/0040-warn-ignored-operand           metadata_size: 1.1 option syntax differs
thin_metadata_size/0041-result-overflow                metadata_size: 1.1 option syntax differs
thin_metadata_size/0043-warn-empty-unit                metadata_size: 1.1 option syntax differs
thin_metadata_size/0045-overflowing-values             metadata_size: 1.1 range checks differ
thin_metadata_pack/0003-no-metadata                    1.1 packs a zeroed device
thin_metadata_pack/0006-output-is-input                output = input: 1.1 clobbers the input
thin_metadata_pack/0007-other-family                   1.1 overwrites non-thin output files
thin_metadata_unpack/0005-existing-metadata            1.1 prompts then fails without -f
thin_metadata_unpack/0008-output-is-input              output = input: 1.1 clobbers the input
thin_metadata_unpack/0009-other-family                 1.1 overwrites non-thin output files
'

verdict() { # $1 = stdout (+ `--- stderr` + stderr, ignored) + a final `exit status N`
	sed -e '/^--- stderr$/,$ { /^exit status [0-9]*$/!d; }' "$1" |
	sed -n -e 's/^exit \([0-9][0-9]*\)$/\1/p' -e 's/^exit status \([0-9][0-9]*\)$/S\1/p' |
		sed -e 's/^\(S*\)0$/\1acc/' -e 's/^\(S*\)[0-9]*$/\1rej/' | tr '\n' ' '
}

if [ "${1:-}" = --one ]; then
	CASE=$2; out=$3
	export CASE
	w=$(mktemp -d "${TMPDIR:-/tmp}/dmmeta-g11.XXXXXX") || exit 2
	(cd "$w" && exec timeout -k 5 60 sh "$CASE/cmd" </dev/null >"$out.raw" 2>"$out.err")
	st=$?
	cp "$out.raw" "$out.tmp"
	printf '\nexit status %s\n' "$st" >>"$out.tmp"   # stdout may lack a final newline
	verdict "$out.tmp" >"$out"
	rm -f "$out.tmp"
	chmod -R u+rwx "$w" 2>/dev/null; rm -rf "$w"
	exit 0
fi

[ -n "$TPT11" ] || skip "thin-provisioning-tools 1.1 not found in $TPT_REF_DIR (run tests/tools/fetch-tpt)"

W=$(mktemp -d "${TMPDIR:-/tmp}/dmmeta-g11run.XXXXXX") || fail "mktemp"
trap 'chmod -R u+rwx "$W" 2>/dev/null; rm -rf "$W"' EXIT
mkdir "$W/bin" "$W/res"
for t in $TOOLS; do ln -s "$TPT11" "$W/bin/$t"; done
BIN=$W/bin
export BIN

: >"$W/list"
for t in $TOOLS; do
	for d in "$SRCDIR"/tests/func/$t/*/; do
		[ -f "${d}cmd" ] && [ -f "${d}expect" ] || continue
		d=${d%/}
		echo "$t/${d##*/}" >>"$W/list"
	done
done

self=$SRCDIR/tests/diff/golden-vs-tpt11.sh
while read -r c; do
	printf '%s %s\n' "$SRCDIR/tests/func/$c" "$W/res/$(echo "$c" | tr / :)"
done <"$W/list" | xargs -P "${JOBS:-4}" -n 2 sh "$self" --one

printf '%s\n' "$EXCEPTIONS" | sed -e 's/^[[:space:]]*//' -e '/^$/d' -e '/^#/d' >"$W/exc"

total=0 agree=0 diffs=0 bad=0
: >"$W/reasons"
while read -r c; do
	total=$((total + 1))
	ours=$(verdict "$SRCDIR/tests/func/$c/expect")
	r=$W/res/$(echo "$c" | tr / :)
	theirs=$(cat "$r" 2>/dev/null)
	reason=$(awk -v c="$c" '$1 == c { $1 = ""; sub(/^ /, ""); print; exit }' "$W/exc")
	if [ "$ours" = "$theirs" ]; then
		if [ -n "$reason" ]; then
			echo "FAIL: stale exception $c ($reason): now agrees: $ours"
			bad=$((bad + 1))
		else
			agree=$((agree + 1))
		fi
	elif [ -n "$reason" ]; then
		diffs=$((diffs + 1))
		echo "$reason" >>"$W/reasons"
		note "documented: $c: ours [$ours] tpt 1.1 [$theirs] -- $reason"
	else
		echo "FAIL: $c: verdicts differ: ours [$ours] tpt 1.1 [$theirs]"
		bad=$((bad + 1))
	fi
done <"$W/list"
# listed cases that no longer exist are stale too
while read -r c _; do
	grep -qxF "$c" "$W/list" || { echo "FAIL: stale exception $c: no such case"; bad=$((bad + 1)); }
done <"$W/exc"

echo "$total cases replayed, $agree agree, $diffs documented differences"
sort "$W/reasons" | uniq -c | sed 's/^ */  /'
[ "$bad" -eq 0 ] || fail "$bad case(s) disagree or stale exceptions"
exit 0

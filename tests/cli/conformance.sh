#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# CLI conformance matrix for every dmmeta tool (docs: common brief, conventions.md §2 #12).
#
# Every tool:  -h / --help        stdout non-empty, stderr empty, exit 0
#              -V / --version     first line ^[0-9]+\.[0-9]+\.[0-9]+$, stderr empty, exit 0
#              --hedgehogs-only   stdout empty, stderr non-empty, exit 2 (pdata_tools, the
#                                 multi-call binary: 64, an unknown command as in tpt 1.x;
#                                 its commands are compared with the tools by pdata_tools.sh)
# Tools that read metadata (table below; input passed as @IN@):
#   no input             exit 2, stdout empty, stderr non-empty
#   nonexistent file     exit 3, stdout empty, exactly one stderr line
#   a directory          exit 3, stdout empty, one stderr line
#   1024-byte file       non-zero, one stderr line mentioning "too small"
#   an XML file (112 KB) non-zero, one stderr line mentioning XML
#   zeroed 40 KiB file   non-zero, one stderr line
#   the same bad inputs with -q (when --help mentions --quiet): no output at all, same status
#   a read-only (chmod 444) copy of a valid fixture: exit 0 and the file is unchanged (sha256)
# Writers (@OUT@): the output file must be unchanged when the input is bad.
# Tools not built yet are simply absent; tools built from cli/*.c must exist in $BIN.
# Prints what was checked; exits 1 listing every failure.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

# tool|kind|args|fixture[|exempt]
#   kind: bin = reads binary thin metadata, xml = reads XML (*_restore), cow = reads a
#         dm-snapshot COW store (a zeroed header means "new store" there, and the XML/size
#         messages are thin-specific, so only nonexistent, directory and a 1024-byte file
#         of 0xff bytes apply), pack = reads a thin_metadata_pack file (nonexistent,
#         directory, a 1024-byte file of 0xff bytes), none = no input
#   args: the tool's arguments; @IN@ = input, @OUT@ = a zeroed 4 MiB output file
#   fixture: the valid input for the read-only check (NAME = fixtures/thin/NAME.bin.gz,
#            NAME.xml = the XML source, packed:NAME = NAME packed with our
#            thin_metadata_pack, - = no fixture yet, check not done)
#   exempt: bad-input cases that do not apply to the tool (space-separated: nonexistent
#           directory tiny xml zeroed).  thin_metadata_pack: zeroed, because packing a
#           device whose superblock is destroyed is what a pack is for (1.1 also accepts it).
TABLE='
thin_check|bin|@IN@|one-thin
thin_dump|bin|@IN@|one-thin
thin_ls|bin|@IN@|one-thin
thin_status|bin|@IN@|one-thin
thin_message|bin|@IN@ create_thin 9|-
thin_delta|bin|--snap1 1 --snap2 2 @IN@|snaps
thin_rmap|bin|--region 0..1 @IN@|one-thin
thin_repair|bin|-i @IN@ -o @OUT@|one-thin
thin_restore|xml|-i @IN@ -o @OUT@|one-thin.xml
thin_metadata_pack|bin|-i @IN@ -o @OUT@|one-thin|zeroed
thin_metadata_size|none||
thin_metadata_unpack|pack|-i @IN@ -o @OUT@|packed:one-thin
snap_check|cow|@IN@|-
snap_dump|cow|@IN@|-
snap_restore|xml|-i @IN@ -o @OUT@|-
snap_message|cow|@IN@ create|-
thin_write|bin|--metadata-dev @IN@ --data-dev @IN@.data --dev-id 0 --offset 0 --discard 8|-
thin_trim|bin|--metadata-dev @IN@ --data-dev @IN@.data|-
thin_migrate|bin|--metadata-dev @IN@ --data-dev @IN@.data --dev-id 0 --dest-file @OUT@|-
thin_export|bin|--metadata-dev @IN@ --data-dev @IN@.data --dev-id 1 -o @OUT@|-
thin_merge|bin|--metadata-dev @IN@ --data-dev @IN@.data --dev-id 0 --external-origin @OUT@|-
thin_shrink|bin|--binary -i @IN@ -o @OUT@ --data @IN@.data --nr-blocks 200 --no-copy|one-thin
pdata_tools|none||
'

FAILS=0
: >failures

bad() {
	echo "  FAIL $tool: $*" >>failures
	FAILS=$((FAILS + 1))
}

# t ARGS...: run $BIN/$tool with ARGS; sets rc, files o (stdout) and e (stderr).
t() {
	"$BIN/$tool" "$@" </dev/null >o 2>e
	rc=$?
}

nlines() {
	wc -l <"$1" | tr -d ' '
}

# Build the argument list from the template with @IN@ replaced by $1 (dropped if empty,
# together with a preceding -i) and @OUT@ by ./out.bin; result in $ARGS (no spaces in args).
mkargs() {
	ARGS=
	prev=
	for w in $args; do
		case $w in
		@IN@)
			if [ -z "$1" ]; then
				[ "$prev" = -i ] && ARGS=${ARGS% -i}
				prev=$w
				continue
			fi
			w=$1 ;;
		@OUT@) w=out.bin ;;
		esac
		ARGS="$ARGS $w"
		prev=$w
	done
}

reset_out() {
	rm -f out.bin
	dd if=/dev/zero of=out.bin bs=4096 count=1024 2>/dev/null
	out_sha=$(sha out.bin)
}

check_out_untouched() {
	case $args in *@OUT@*) ;; *) return 0 ;; esac
	[ "$(sha out.bin)" = "$out_sha" ] || bad "$1: output file was modified"
}

# Inputs.
mkdir adir
head -c 1024 /dev/zero >tiny.bin
head -c 1024 /dev/zero | tr '\0' '\377' >tinyff.bin
head -c 40960 /dev/zero >zero40k.bin
# A large XML file, so that only XML detection (not a size check) can reject it.
cp "$FIX/thin/many.xml" input.xml

# Tools: built ones, and those that should be built (cli/*.c).
expected=$(for f in "$SRCDIR"/cli/*.c; do
	[ -f "$f" ] || continue
	n=${f##*/}; n=${n%.c}
	case $n in common*|util_*) continue ;; esac
	echo "$n"
done)
tools=$(tools_list)
[ -n "$tools$expected" ] || skip "no tools built in $BIN"

for tool in $expected; do
	[ -x "$BIN/$tool" ] || echo "$tool: not built (cli/$tool.c exists; not checked)"
done

for tool in $tools; do
	checked=''

	for h in -h --help; do
		t "$h"
		[ "$rc" = 0 ] || bad "$h: exit $rc, expected 0"
		[ -s o ] || bad "$h: nothing on stdout"
		[ -s e ] && bad "$h: wrote to stderr: $(head -n 1 e)"
	done
	grep -q -- '--quiet' o && has_q=1 || has_q=0
	checked="$checked help"

	for v in -V --version; do
		t "$v"
		[ "$rc" = 0 ] || bad "$v: exit $rc, expected 0"
		head -n 1 o | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+$' || bad "$v: first line '$(head -n 1 o)' is not a bare X.Y.Z"
		[ -s e ] && bad "$v: wrote to stderr: $(head -n 1 e)"
	done
	checked="$checked version"

	t --hedgehogs-only
	want_bad=2
	[ "$tool" = pdata_tools ] && want_bad=64
	[ "$rc" = "$want_bad" ] || bad "--hedgehogs-only: exit $rc, expected $want_bad"
	[ -s o ] && bad "--hedgehogs-only: wrote to stdout"
	[ -s e ] || bad "--hedgehogs-only: nothing on stderr"
	checked="$checked bad-option"

	row=$(echo "$TABLE" | grep "^$tool|" || true)
	kind=$(echo "$row" | cut -d'|' -f2)
	args=$(echo "$row" | cut -d'|' -f3)
	fixname=$(echo "$row" | cut -d'|' -f4)
	exempt=" $(echo "$row" | cut -d'|' -f5) "
	if [ -z "$row" ]; then
		echo "$tool:$checked (no input table entry)"
		continue
	fi
	if [ "$kind" = none ]; then
		echo "$tool:$checked"
		continue
	fi

	# Missing input.
	reset_out
	mkargs ''
	# shellcheck disable=SC2086
	t $ARGS
	[ "$rc" = 2 ] || bad "no input: exit $rc, expected 2"
	[ -s o ] && bad "no input: wrote to stdout"
	[ -s e ] || bad "no input: nothing on stderr"
	check_out_untouched "no input"
	checked="$checked no-input"

	# Bad inputs: name|file|expected status (n = any non-zero)|stderr pattern
	cases='nonexistent|no-such-file.bin|3||nonexistent
directory|adir|3||directory
1024-byte file|tiny.bin|n|[Tt]oo small|tiny
XML file|input.xml|n|XML|xml
zeroed 40 KiB|zero40k.bin|n||zeroed'
	[ "$kind" = xml ] && cases='nonexistent|no-such-file.xml|3||nonexistent
directory|adir|3||directory'
	[ "$kind" = cow ] || [ "$kind" = pack ] && cases='nonexistent|no-such-file.bin|3||nonexistent
directory|adir|3||directory
1024-byte 0xff file|tinyff.bin|n||tiny'
	echo "$cases" >cases.txt
	while IFS='|' read -r what file want pat key; do
		case $exempt in *" $key "*) continue ;; esac
		for q in '' -q; do
			[ -n "$q" ] && [ "$has_q" = 0 ] && continue
			reset_out
			mkargs "$file"
			# shellcheck disable=SC2086
			t $q $ARGS
			label="$what${q:+ with -q}"
			if [ "$want" = n ]; then
				[ "$rc" != 0 ] || bad "$label: exit 0, expected failure"
			else
				[ "$rc" = "$want" ] || bad "$label: exit $rc, expected $want"
			fi
			if [ -n "$q" ]; then
				[ -s o ] && bad "$label: wrote to stdout: $(head -n 1 o)"
				[ -s e ] && bad "$label: wrote to stderr: $(head -n 1 e)"
				[ "$rc" = "$rc_noq" ] || bad "$label: exit $rc, but $rc_noq without -q"
			else
				rc_noq=$rc
				[ -s o ] && bad "$label: wrote to stdout: $(head -n 1 o)"
				n=$(nlines e)
				[ "$n" = 1 ] || bad "$label: $n stderr lines, expected 1: $(tr '\n' '|' <e)"
				if [ -n "$pat" ]; then
					grep -Eq "$pat" e || bad "$label: stderr does not mention /$pat/: $(head -n 1 e)"
				fi
			fi
			check_out_untouched "$label"
		done
	done <cases.txt
	checked="$checked$(sed -n 's/.*|//p' cases.txt | while read -r k; do
		case $exempt in *" $k "*) ;; *) printf ' %s' "$k" ;; esac; done)"
	[ "$has_q" = 1 ] && checked="$checked quiet"

	if [ "$fixname" = - ]; then
		echo "$tool:$checked (no fixture for the read-only check yet)"
		continue
	fi
	# Read-only valid input.
	rm -f ro.in
	case $fixname in
	*.xml) cp "$FIX/thin/$fixname" ro.in ;;
	packed:*)
		gzip -dc "$FIX/thin/${fixname#packed:}.bin.gz" >ro.src
		if [ ! -x "$BIN/thin_metadata_pack" ] ||
			! "$BIN/thin_metadata_pack" -q -i ro.src -o ro.in >/dev/null 2>&1; then
			echo "$tool:$checked (no thin_metadata_pack to make its fixture)"
			continue
		fi ;;
	*) gzip -dc "$FIX/thin/$fixname.bin.gz" >ro.in ;;
	esac
	chmod 444 ro.in
	before=$(sha ro.in)
	reset_out
	mkargs ro.in
	# shellcheck disable=SC2086
	t $ARGS
	[ "$rc" = 0 ] || bad "read-only $fixname: exit $rc, expected 0: $(head -n 1 e)"
	[ "$(sha ro.in)" = "$before" ] || bad "read-only $fixname: input was modified"
	checked="$checked read-only"
	echo "$tool:$checked"
done

if [ "$FAILS" -gt 0 ]; then
	echo "$FAILS conformance failures:"
	cat failures
	exit 1
fi
echo "all conformance checks passed"
exit 0

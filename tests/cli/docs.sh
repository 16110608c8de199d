#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Man pages and bash completions against the built tools.  Exit 0 pass, 1 fail.
#
# For every tool in $BIN:
#   - man/<tool>.8 exists, `groff -man -Tutf8 -ww -z` prints nothing, and it has an
#     EXIT STATUS section listing 0, 1, 2 and 3;
#   - completion/<tool> exists, passes `bash -n` and registers a function for <tool>;
#   - every long option printed by `<tool> --help` appears in the man page (as \-\-name
#     or --name) and in the completion file, and the completion file offers no long
#     option that --help does not list;
#   - with bash-completion installed: completing `<tool> --` offers every one of those
#     options (and `thin_check --sk` completes to --skip-mappings).
# Every man page (man/*.[0-9], also sections 5 and 7) is linted with groff as well.
#
# Run by tests/run-tests.sh (BIN set); by hand:  BIN=/tmp/b/bin sh tests/cli/docs.sh
# DOCS_SRCDIR=DIR checks the man/ and completion/ directories of another tree (used to
# prove the test fails on broken pages).

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

SRC=${DOCS_SRCDIR:-$SRCDIR}
MAN=$SRC/man
COMP=$SRC/completion
BC=${BASH_COMPLETION_SCRIPT:-/usr/share/bash-completion/bash_completion}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/docs.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT

nfail=0
nchecks=0
bad() {
	echo "FAIL: $*"
	nfail=$((nfail + 1))
}
ok() {
	nchecks=$((nchecks + 1))
}

have_groff=0
if command -v groff >/dev/null 2>&1; then
	have_groff=1
else
	echo "skipped: groff not installed, man pages not linted"
fi
have_bash=0
if command -v bash >/dev/null 2>&1; then
	have_bash=1
else
	echo "skipped: bash not installed, completion files not checked"
fi
have_bc=0
if [ $have_bash = 1 ] && [ -r "$BC" ]; then
	have_bc=1
else
	echo "skipped: bash-completion not installed ($BC), completions not exercised"
fi

# lint FILE: groff must print nothing.
lint() {
	[ $have_groff = 1 ] || return 0
	# a page whose first line is '\" t has tables: run tbl as man(1) does
	lint_t=
	head -n 1 "$1" | grep -q "^'\\\\\" t" && lint_t=-t
	if groff $lint_t -man -Tutf8 -ww -z "$1" >"$WORK/lint" 2>&1 && [ ! -s "$WORK/lint" ]; then
		ok
	else
		bad "groff warnings in ${1#"$SRC"/}:"
		sed 's/^/    /' "$WORK/lint"
	fi
}

# has_opt FILE OPT: OPT (e.g. --skip-mappings) occurs in FILE as a whole word, with
# man(7) escapes \- read as plain hyphens.
has_opt() {
	sed 's/\\-/-/g' "$1" | grep -Eq -- "(^|[^A-Za-z0-9_-])$2([^A-Za-z0-9_-]|\$)"
}

# complete_words TOOL WORD...: print the COMPREPLY of TOOL's completion function for the
# command line "TOOL WORD..." (the last word being completed), one per line.
complete_words() {
	cw_tool=$1
	shift
	bash -c '
		BC=$1 F=$2 T=$3
		shift 3
		. "$BC" >/dev/null 2>&1 || exit 3
		. "$F" || exit 3
		fn=$(complete -p "$T" 2>/dev/null | sed -n "s/.*-F \([^ ]*\) .*/\1/p")
		[ -n "$fn" ] || exit 4
		COMP_WORDS=("$T" "$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="${COMP_WORDS[*]}"
		COMP_POINT=${#COMP_LINE}
		COMPREPLY=()
		"$fn" "$T" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}"
	' complete_words "$BC" "$COMP/$cw_tool" "$cw_tool" "$@"
}

# ---- the tools ----------------------------------------------------------------
# the built tools, plus every tool that has a section 8 page
tools=$(tools_list | tr '\n' ' ')
[ -n "$tools" ] || echo "skipped: no built tools in $BIN, --help not compared"
for f in "$MAN"/*.8; do
	[ -f "$f" ] || continue
	t=${f##*/}
	t=${t%.8}
	case " $tools " in *" $t "*) ;; *) tools="$tools $t" ;; esac
done

for t in $tools; do
	page=$MAN/$t.8
	cf=$COMP/$t
	opts=
	if [ -x "$BIN/$t" ]; then
		if "$BIN/$t" --help >"$WORK/help" 2>"$WORK/help.err"; then
			# long options from the option lines only (an indented line starting with
			# "-x, --name" or "--name"; up to the two spaces before the description),
			# not "--words" quoted in descriptions
			opts=$(sed -n 's/^[[:space:]]*\(-[A-Za-z0-9],[[:space:]]*\)\{0,1\}\(--[A-Za-z0-9].*\)$/\2/p' \
				"$WORK/help" | sed 's/  .*//' |
				grep -Eo -- '--[A-Za-z0-9][A-Za-z0-9_-]*' | sort -u)
			[ -n "$opts" ] || bad "$t --help lists no long options"
		else
			bad "$t --help failed (exit $?)"
		fi
	fi
	nopts=$(echo $opts | wc -w)

	# man page
	if [ ! -f "$page" ]; then
		bad "$t: man/$t.8 missing"
	else
		ok
		lint "$page"
		sed -n '/^\.SH "*EXIT STATUS"*$/,/^\.SH/p' "$page" >"$WORK/exit"
		if [ ! -s "$WORK/exit" ]; then
			bad "$t: man/$t.8 has no EXIT STATUS section"
		else
			for n in 0 1 2 3; do
				if grep -Eq "^(\.[BI]R? +)?\"?$n\"?( |\$)" "$WORK/exit"; then
					ok
				else
					bad "$t: EXIT STATUS of man/$t.8 does not list status $n"
				fi
			done
		fi
		for o in $opts; do
			if has_opt "$page" "$o"; then ok; else bad "$t: $o (from --help) not in man/$t.8"; fi
		done
	fi

	# completion file
	if [ ! -f "$cf" ]; then
		bad "$t: completion/$t missing"
	elif [ $have_bash = 1 ]; then
		ok
		if bash -n "$cf" 2>"$WORK/bashn"; then
			ok
		else
			bad "$t: completion/$t fails bash -n:"
			sed 's/^/    /' "$WORK/bashn"
		fi
		if bash -c '. "$1" >/dev/null 2>&1; complete -p "$2"' sh "$cf" "$t" 2>/dev/null |
			grep -Eq -- "-F [^ ]+ $t\$"; then
			ok
		else
			bad "$t: completion/$t does not register a completion function for $t"
		fi
		for o in $opts; do
			if has_opt "$cf" "$o"; then ok; else bad "$t: $o (from --help) not in completion/$t"; fi
		done
		# and nothing stale: every long option the completion knows is in --help
		if [ -n "$opts" ]; then
			for o in $(grep -Eo -- '--[A-Za-z0-9][A-Za-z0-9_-]*' "$cf" | sort -u); do
				case " $(echo $opts) " in
				*" $o "*) ok ;;
				*) bad "$t: completion/$t offers $o, which $t --help does not list" ;;
				esac
			done
		fi
		if [ $have_bc = 1 ] && [ -n "$opts" ]; then
			complete_words "$t" -- >"$WORK/reply" 2>"$WORK/reply.err"
			crc=$?
			if [ $crc -ne 0 ]; then
				bad "$t: completing '$t --' failed (status $crc)"
				sed 's/^/    /' "$WORK/reply.err"
			else
				for o in $opts; do
					if grep -Fxq -- "$o" "$WORK/reply"; then
						ok
					else
						bad "$t: completing '$t --' does not offer $o"
					fi
				done
			fi
		fi
	fi
	if [ -x "$BIN/$t" ]; then
		echo "checked $t: man page, completion, $nopts long options from --help"
	else
		echo "checked $t: man page, completion (not built: --help not compared)"
	fi
done

# ---- one completion exercised exactly as the brief states -----------------------
if [ $have_bc = 1 ] && [ -f "$COMP/thin_check" ]; then
	complete_words thin_check --sk >"$WORK/reply" 2>&1
	if grep -Fxq -- --skip-mappings "$WORK/reply"; then
		ok
		echo "checked completion: 'thin_check --sk' -> --skip-mappings"
	else
		bad "completing 'thin_check --sk' did not offer --skip-mappings; got:"
		sed 's/^/    /' "$WORK/reply"
	fi
	# metadata inputs: *_tmeta block devices under /dev/mapper are offered (a fake
	# mapper directory stands in for /dev/mapper; needs mknod, i.e. root)
	mkdir "$WORK/mapper"
	if mknod "$WORK/mapper/vg-pool_tmeta" b 7 250 2>/dev/null; then
		: >"$WORK/mapper/vg-file_tmeta" # a regular file, not a block device
		_dmmeta_mapper_dir=$WORK/mapper complete_words thin_check "" >"$WORK/reply" 2>&1
		if grep -Fxq -- "$WORK/mapper/vg-pool_tmeta" "$WORK/reply" &&
			! grep -Fq -- "$WORK/mapper/vg-file_tmeta" "$WORK/reply"; then
			ok
			echo "checked completion: 'thin_check ' offers /dev/mapper/*_tmeta block devices"
		else
			bad "completing 'thin_check ' did not offer exactly the *_tmeta block device; got:"
			sed 's/^/    /' "$WORK/reply"
		fi
		if [ -f "$COMP/snap_check" ] && mknod "$WORK/mapper/vg-snap-cow" b 7 251 2>/dev/null; then
			_dmmeta_mapper_dir=$WORK/mapper complete_words snap_check "" >"$WORK/reply" 2>&1
			if grep -Fxq -- "$WORK/mapper/vg-snap-cow" "$WORK/reply" &&
				! grep -Fq -- "$WORK/mapper/vg-pool_tmeta" "$WORK/reply"; then
				ok
				echo "checked completion: 'snap_check ' offers /dev/mapper/*-cow block devices"
			else
				bad "completing 'snap_check ' did not offer exactly the *-cow block device; got:"
				sed 's/^/    /' "$WORK/reply"
			fi
		fi
	else
		echo "skipped: mknod not permitted, *_tmeta device completion not exercised"
	fi
	if [ -f "$COMP/thin_dump" ]; then
		complete_words thin_dump --format "" >"$WORK/reply" 2>&1
		if grep -Fxq xml "$WORK/reply" && grep -Fxq human_readable "$WORK/reply"; then
			ok
			echo "checked completion: 'thin_dump --format ' -> xml human_readable"
		else
			bad "completing 'thin_dump --format ' did not offer xml and human_readable"
		fi
	fi
fi

# ---- every page, including the section 5 ones -----------------------------------
npages=0
for f in "$MAN"/*.[0-9]; do
	[ -f "$f" ] || continue
	npages=$((npages + 1))
	case " $tools " in
	*" $(basename "$f" .8) "*) continue ;; # linted above
	esac
	lint "$f"
	grep -q '^\.SH NAME' "$f" || bad "${f#"$SRC"/}: no NAME section"
	echo "checked ${f#"$SRC"/}: lint"
done
[ $npages -gt 0 ] || bad "no man pages in $MAN"

# ---- parts pasted into a page (man/multisnap-store.5's type sections) ----------------
# man/NAME.part is pulled into the page that holds the comment lines
#   .\" ---- begin man/NAME.part ...      and      .\" ---- end man/NAME.part ----
# and what lies between them must be the part, verbatim.
for part in "$MAN"/*.part; do
	[ -f "$part" ] || continue
	name=${part#"$SRC"/}
	page=$(grep -l -F ".\\\" ---- begin $name " "$MAN"/*.[0-9] 2>/dev/null | head -n 1)
	if [ -z "$page" ]; then
		bad "$name is pulled into no man page (no '.\\\" ---- begin $name' line)"
		continue
	fi
	# (through the environment: awk -v would take the backslash as an escape)
	PART_B=".\\\" ---- begin $name " PART_E=".\\\" ---- end $name ----" awk '
		index($0, ENVIRON["PART_B"]) == 1 { on = 1; next }
		$0 == ENVIRON["PART_E"] { on = 0 }
		on' "$page" >"$WORK/pasted"
	if cmp -s "$WORK/pasted" "$part"; then
		ok
		echo "checked $name: pasted verbatim into ${page#"$SRC"/}"
	else
		bad "${page#"$SRC"/}: the copy of $name differs from it (paste the part again)"
		diff -u "$part" "$WORK/pasted" | head -20 | sed 's/^/    /'
	fi
done

echo "docs: $nchecks checks passed, $nfail failed"
[ $nfail -eq 0 ]

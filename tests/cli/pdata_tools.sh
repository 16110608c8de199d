#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# asan: check-long
# pdata_tools, the multi-call binary (man/pdata_tools.8):
#   - for every other built tool, `pdata_tools <tool> ARGS` and `<tool> ARGS` run through a
#     link named <tool> pointing at pdata_tools give byte for byte the stdout, stderr, exit
#     status (and written output file) of the separate binary, for --help, -h, -V,
#     --version, an unknown option, no arguments and a real job on a fixture;
#   - `pdata_tools` alone: usage on stderr, nothing on stdout, exit 64;
#   - an unknown command (also through a link with an unknown name): a line naming it and
#     the usage on stderr, exit 64;
#   - -h/--help: usage on stdout listing every tool, exit 0; -V/--version: bare X.Y.Z, exit 0;
#   - the man page and the completion name every tool; completing after a command uses
#     that command's completion (with bash-completion installed).

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool pdata_tools

FAILS=0
bad() {
	echo "FAIL: $*"
	FAILS=$((FAILS + 1))
}

mkdir links sep multi
ln -s "$BIN/pdata_tools" links/pdata_tools

# Inputs for the real jobs (relative names, so the messages are the same in both runs).
gzip -dc "$FIX/thin/one-thin.bin.gz" >one-thin.bin
gzip -dc "$FIX/thin/snaps.bin.gz" >snaps.bin
cp "$FIX/thin/one-thin.xml" one-thin.xml
gzip -dc "$FIX/snap/cow.bin.gz" >cow.bin
gzip -dc "$FIX/snap/cow-origin.bin.gz" >origin.bin
"$BIN/thin_metadata_pack" -q -i one-thin.bin -o one-thin.pack 2>/dev/null || true
"$BIN/snap_dump" cow.bin >cow.xml 2>/dev/null || true
head -c 1048576 /dev/zero >blank.bin
truncate -s 16777216 mcow.bin # a zeroed COW: snap_message makes a mikulas store on it
head -c 4096 /dev/zero | tr '\0' 'x' >data.bin
truncate -s 268435456 tdata.bin # one-thin's 4096 data blocks of 64 KiB (sparse)
"$BIN/thin_export" --metadata-dev one-thin.bin --data-dev tdata.bin --dev-id 1 -q --format stream -o one-thin.st 2>/dev/null || true

# The real job of each tool; @OUT@ is a file the tool writes (compared too).
job() {
	case $1 in
	thin_check) echo "one-thin.bin" ;;
	thin_dump) echo "one-thin.bin" ;;
	thin_ls) echo "one-thin.bin" ;;
	thin_status) echo "one-thin.bin" ;;
	thin_message) echo "--format --data-block-size 128 --nr-data-blocks 100 blank.bin" ;;
	thin_delta) echo "--snap1 1 --snap2 2 snaps.bin" ;;
	thin_rmap) echo "--region 0..1 one-thin.bin" ;;
	thin_repair) echo "-i one-thin.bin -o @OUT@" ;;
	thin_restore) echo "-i one-thin.xml -o @OUT@" ;;
	thin_metadata_pack) echo "-i one-thin.bin -o @OUT@" ;;
	thin_metadata_unpack) echo "-i one-thin.pack -o @OUT@" ;;
	thin_metadata_size) echo "-b 64k -s 1t -m 100" ;;
	snap_check) echo "cow.bin" ;;
	snap_dump) echo "cow.bin" ;;
	snap_restore) echo "-i cow.xml -o @OUT@" ;;
	snap_convert) echo "--cow cow.bin --origin origin.bin -o @OUT@" ;;
	snap_message) echo "--type mikulas --chunk-size 8 --quiet mcow.bin create" ;;
	snap_export) echo "--origin origin.bin --cow cow.bin -o @OUT@" ;;
	snap_merge) echo "--dry-run --origin origin.bin cow.bin" ;;
	snap_write) echo "--origin @OUT@ --target origin --offset 0 --input data.bin" ;;
	thin_write) echo "--metadata-dev one-thin.bin --data-dev tdata.bin --dev-id 1 --offset 0 -i data.bin -q" ;;
	thin_trim) echo "--metadata-dev one-thin.bin --data-dev tdata.bin" ;;
	thin_migrate) echo "--metadata-dev snaps.bin --data-dev tdata.bin --dev-id 2 --size 1000 --dest-file @OUT@" ;;
	thin_export) echo "--metadata-dev one-thin.bin --data-dev tdata.bin --dev-id 1 -q -o @OUT@" ;;
	thin_import) echo "-q -i one-thin.st -o @OUT@" ;;
	thin_merge) echo "--metadata-dev snaps.bin --dev-id 3 --origin-id 0" ;;
	thin_shrink) echo "--binary -i one-thin.bin -o @OUT@ --data tdata.bin --nr-blocks 200" ;;
	*) echo "" ;;
	esac
}

# run1 DIR MODE TOOL ARGS...: run TOOL in DIR's copy of the inputs as MODE (sep = the
# separate binary, multi = pdata_tools TOOL, link = a link named TOOL); results in
# DIR/out DIR/err DIR/rc (and DIR/out.bin when written).
run1() {
	r_dir=$1 r_mode=$2 r_tool=$3
	shift 3
	rm -f "$r_dir/out.bin"
	# writers that need an existing output: a zeroed 4 MiB one
	case $r_tool in thin_repair | thin_restore | snap_restore | snap_convert | thin_shrink)
		dd if=/dev/zero of="$r_dir/out.bin" bs=4096 count=1024 2>/dev/null ;;
	esac
	[ "$r_tool" = snap_message ] && truncate -s 0 "$r_dir/mcow.bin" && truncate -s 16777216 "$r_dir/mcow.bin"
	# snap_write writes into its origin: give it a fresh copy
	cp origin.bin "$r_dir/origin-w.bin"
	# the thin I/O tools write into their pool's images: every run starts from fresh copies
	case $r_tool in thin_write | thin_trim | thin_merge | thin_shrink)
		cp one-thin.bin snaps.bin "$r_dir/" && cp --sparse=always tdata.bin "$r_dir/" ;;
	esac
	(
		cd "$r_dir" || exit 99
		case $r_mode in
		sep) PATH=$BIN:$PATH; exec "$r_tool" "$@" ;;
		multi) PATH=$BIN:$PATH; exec pdata_tools "$r_tool" "$@" ;;
		link) PATH=$WORKDIR/links:$PATH; exec "$r_tool" "$@" ;;
		esac
	) </dev/null >"$r_dir/out" 2>"$r_dir/err"
	echo $? >"$r_dir/rc"
}

WORKDIR=$(pwd)
for f in one-thin.bin snaps.bin one-thin.xml cow.bin origin.bin one-thin.pack cow.xml data.bin blank.bin tdata.bin one-thin.st; do
	cp "$f" sep/ && cp "$f" multi/
done

# same TOOL MODE ARGS...: compare MODE against the separate binary.
same() {
	s_tool=$1 s_mode=$2
	shift 2
	run1 sep sep "$s_tool" "$@"
	run1 multi "$s_mode" "$s_tool" "$@"
	what="$s_mode $s_tool $*"
	cmp -s sep/out multi/out || { bad "$what: stdout differs"; diff -u sep/out multi/out | head -20; }
	cmp -s sep/err multi/err || { bad "$what: stderr differs"; diff -u sep/err multi/err | head -20; }
	cmp -s sep/rc multi/rc || bad "$what: exit $(cat multi/rc), separate tool $(cat sep/rc)"
	if [ -e sep/out.bin ] || [ -e multi/out.bin ]; then
		cmp -s sep/out.bin multi/out.bin || bad "$what: written output differs"
	fi
}

tools=$(tools_list | grep -v '^pdata_tools$')
[ -n "$tools" ] || skip "no tools built in $BIN"
n=0
for tool in $tools; do
	ln -s "$BIN/pdata_tools" "links/$tool"
	args=$(job "$tool")
	[ -n "$args" ] || bad "$tool: no job in tests/cli/pdata_tools.sh for this tool"
	args=$(echo "$args" | sed 's/@OUT@/out.bin/')
	[ "$tool" = snap_write ] && args=$(echo "$args" | sed 's/--origin out.bin/--origin origin-w.bin/')
	for mode in multi link; do
		same "$tool" $mode --help
		same "$tool" $mode -h
		same "$tool" $mode -V
		same "$tool" $mode --version
		same "$tool" $mode --hedgehogs-only
		same "$tool" $mode
		# shellcheck disable=SC2086
		same "$tool" $mode $args
	done
	# the job must really have worked (not two identical failures)
	[ "$(cat sep/rc)" = 0 ] || bad "$tool $args: exit $(cat sep/rc): $(head -n 1 sep/err)"
	[ "$tool" = snap_write ] && { cmp -s sep/origin-w.bin multi/origin-w.bin || bad "snap_write: written origins differ"; }
	[ "$tool" = thin_message ] && { cmp -s sep/blank.bin multi/blank.bin || bad "thin_message: formatted pools differ"; }
	case $tool in thin_write | thin_merge)
		cmp -s sep/one-thin.bin multi/one-thin.bin && cmp -s sep/snaps.bin multi/snaps.bin &&
			cmp -s sep/tdata.bin multi/tdata.bin || bad "$tool: written pools differ" ;;
	esac
	n=$((n + 1))
done
echo "compared $n tools: separate binary, pdata_tools <tool>, link named <tool>"

# ---- pdata_tools itself --------------------------------------------------------
p() {
	"$@" </dev/null >o 2>e
	rc=$?
}
P=$BIN/pdata_tools

p "$P"
[ "$rc" = 64 ] || bad "no command: exit $rc, expected 64"
[ -s o ] && bad "no command: wrote to stdout"
grep -q '^Usage: ' e || bad "no command: no usage on stderr"
cp e usage.err

for h in -h --help; do
	p "$P" $h
	[ "$rc" = 0 ] || bad "$h: exit $rc, expected 0"
	[ -s e ] && bad "$h: wrote to stderr"
	cmp -s o usage.err || bad "$h: stdout is not the usage printed without a command"
	for tool in $tools; do
		grep -Eq "^  $tool\$" o || bad "$h: does not list $tool"
	done
done
for v in -V --version; do
	p "$P" $v
	[ "$rc" = 0 ] || bad "$v: exit $rc, expected 0"
	[ -s e ] && bad "$v: wrote to stderr"
	[ "$(cat o)" = "$("$BIN/thin_check" -V)" ] || bad "$v: '$(cat o)' is not the tools' version"
done

for c in hedgehog_check --hedgehogs-only pdata_tools ''; do
	p "$P" "$c" thin_check -V
	[ "$rc" = 64 ] || bad "command '$c': exit $rc, expected 64"
	[ -s o ] && bad "command '$c': wrote to stdout"
	[ "$(head -n 1 e)" = "pdata_tools: unrecognised command '$c'" ] || bad "command '$c': first line '$(head -n 1 e)'"
	tail -n +2 e | cmp -s - usage.err || bad "command '$c': usage does not follow"
done

# a link with an unknown name is an unknown command (as thin-provisioning-tools 1.x)
ln -s "$BIN/pdata_tools" links/hedgehog_dump
p links/hedgehog_dump thin_check -V
[ "$rc" = 64 ] || bad "link hedgehog_dump: exit $rc, expected 64"
[ "$(head -n 1 e)" = "pdata_tools: unrecognised command 'hedgehog_dump'" ] || bad "link hedgehog_dump: first line '$(head -n 1 e)'"
# a link named pdata_tools is pdata_tools
p links/pdata_tools thin_check -V
[ "$rc" = 0 ] && [ "$(cat o)" = "$("$BIN/thin_check" -V)" ] || bad "link pdata_tools: thin_check -V: exit $rc"
echo "checked pdata_tools: no command, -h, --help, -V, --version, unknown commands, links"

# the completion and the man page name every command
for tool in $tools; do
	grep -Eq "(^|[ '])$tool([ ']|\$)" "$SRCDIR/completion/pdata_tools" ||
		bad "completion/pdata_tools does not offer the command $tool"
	grep -q "^\.BR $tool (8)" "$SRCDIR/man/pdata_tools.8" ||
		bad "man/pdata_tools.8 does not list the command $tool"
done

# completion: the commands, then the command's own completion, loaded on demand by
# bash-completion from a completions directory holding ours (as `make install` does)
BC=${BASH_COMPLETION_SCRIPT:-/usr/share/bash-completion/bash_completion}
if command -v bash >/dev/null 2>&1 && [ -r "$BC" ]; then
	mkdir -p bcdir/completions
	cp "$SRCDIR"/completion/* bcdir/completions/
	BASH_COMPLETION_USER_DIR=$WORKDIR/bcdir bash -c '
		. "$1" >/dev/null 2>&1 || exit 3
		. "$2" || exit 3
		c() {
			COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
			COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
			_dmmeta_pdata_tools pdata_tools "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
			echo "$* -> ${COMPREPLY[*]}"
		}
		c pdata_tools thin_c
		c pdata_tools --
		c pdata_tools thin_check --sk
		c pdata_tools thin_dump --format ""
		c pdata_tools snap_merge --dr
	' sh "$BC" "$SRCDIR/completion/pdata_tools" >comp.out 2>&1
	cat >comp.want <<'EOT'
pdata_tools thin_c -> thin_check
pdata_tools -- -> --help --version
pdata_tools thin_check --sk -> --skip-mappings
pdata_tools thin_dump --format  -> xml human_readable
pdata_tools snap_merge --dr -> --dry-run
EOT
	cmp -s comp.want comp.out || { bad "completion of pdata_tools"; diff -u comp.want comp.out; }
	echo "checked completion: commands, then the command's own completion"
else
	echo "skipped: bash-completion not installed ($BC), completion not exercised"
fi

if [ "$FAILS" -gt 0 ]; then
	echo "$FAILS failures"
	exit 1
fi
exit 0

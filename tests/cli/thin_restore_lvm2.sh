#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# thin_restore as lvm2 (>= 2.03.22) runs it for `lvconvert --type thin` of a thick volume
# (lib/metadata/thin_manip.c, thin_pool_prepare_metadata): lvm2 writes a one-device XML with
# a single range_mapping and no `flags` attribute (and no final newline) to a tmpfile(),
# i.e. a file already deleted, flushes it, leaves its offset at the end, and runs
#     thin_restore [thin_restore_options] -i /proc/<its pid>/fd/<n> -o <metadata LV>
# The metadata LV may hold anything: zeros, random bytes, old thin-pool metadata, damaged
# thin-pool metadata, garbage with a thin superblock magic.  For each, with the options empty
# (lvm.conf's default) and `-q`: exit 0, nothing printed, our thin_check accepts the result
# and our thin_dump gives the mapping back; where thin-provisioning-tools 1.1 is present, its
# thin_check accepts it and its thin_dump gives the same mapping too.
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tool thin_restore thin_check thin_dump
[ -d "/proc/$$/fd" ] || skip "no /proc/PID/fd"
[ -n "$TPT11" ] || note "thin-provisioning-tools 1.1 not found in $TPT_REF_DIR: checked with ours only"

# lvm2's XML, byte for byte (its format string, no newline after </superblock>)
# lvm_xml CHUNK DATA_BLOCKS DATA_BEGIN DATA_LENGTH
lvm_xml() {
	printf '<superblock uuid="" time="0" transaction="1" version="2" data_block_size="%s" nr_data_blocks="%s">\n <device dev_id="1" mapped_blocks="%s" transaction="0" creation_time="0" snap_time="0">\n  <range_mapping origin_begin="0" data_begin="%s" length="%s" time="0"/>\n </device>\n</superblock>' \
		"$1" "$2" "$4" "$3" "$4"
}

# what thin_dump prints for it (tpt 1.1 prints no flags attribute)
dump_xml() {
	printf '<superblock uuid="" time="0" transaction="1"%s version="2" data_block_size="%s" nr_data_blocks="%s">\n  <device dev_id="1" mapped_blocks="%s" transaction="0" creation_time="0" snap_time="0">\n    <range_mapping origin_begin="0" data_begin="%s" length="%s" time="0"/>\n  </device>\n</superblock>\n' \
		"$1" "$2" "$3" "$5" "$4" "$5"
}

# deterministic bytes that look random: the compressed fixtures, over and over
noise() {
	: >noise.src
	while [ "$(wc -c <noise.src)" -lt "$1" ]; do
		cat "$FIX"/thin/*.bin.gz >>noise.src
	done
	head -c "$1" noise.src >"$2"
	rm -f noise.src
}

# make_output STATE FILE BYTES
make_output() {
	rm -f "$2"
	case $1 in
	zeros) truncate -s "$3" "$2" ;;
	random) noise "$3" "$2" ;;
	old-pool)
		truncate -s "$3" "$2"
		"$BIN/thin_restore" -q -i "$FIX/thin/snaps.xml" -o "$2" || fail "cannot make an old pool"
		;;
	damaged-pool)
		truncate -s "$3" "$2"
		"$BIN/thin_restore" -q -i "$FIX/thin/many.xml" -o "$2" || fail "cannot make an old pool"
		# a stray write over the superblock and the first tree blocks: bad checksums
		noise 12288 n.bin
		dd if=n.bin of="$2" bs=1 seek=100 conv=notrunc 2>/dev/null || fail "dd failed"
		rm -f n.bin
		;;
	thin-magic)
		noise "$3" "$2"
		printf '\272\122\234\001\000\000\000\000' |
			dd of="$2" bs=1 seek=32 conv=notrunc 2>/dev/null || fail "dd failed"
		;;
	esac
}

ncase=0
# one chunk size, pool size, data offset and length per line; the metadata LV size in bytes
while read -r chunk nblocks begin len mdsize; do
	for state in zeros random old-pool damaged-pool thin-magic; do
		for opts in "" "-q"; do
			ncase=$((ncase + 1))
			what="chunk $chunk, $len blocks at $begin of $nblocks, output $state, options '$opts'"
			make_output "$state" tmeta.bin "$mdsize"
			# the call, as lvm2 makes it: an XML in a deleted file, named by /proc/PID/fd/N
			exec 7<>lvm-md.tmp || fail "cannot open lvm-md.tmp"
			rm -f lvm-md.tmp
			lvm_xml "$chunk" "$nblocks" "$begin" "$len" >&7
			# shellcheck disable=SC2086
			"$BIN/thin_restore" $opts -i "/proc/$$/fd/7" -o tmeta.bin >run.out 2>run.err
			rc=$?
			exec 7<&-
			expect_rc 0 "$what"
			expect_empty run.out "$what: stdout"
			expect_empty run.err "$what: stderr"
			run "$BIN/thin_check" tmeta.bin
			expect_rc 0 "$what: thin_check"
			dump_xml ' flags="0"' "$chunk" "$nblocks" "$begin" "$len" >want.xml
			"$BIN/thin_dump" tmeta.bin >got.xml || fail "$what: thin_dump failed"
			expect_same want.xml got.xml "$what: thin_dump does not give the mapping back"
			if [ -n "$TPT11" ]; then
				run "$TPT11" thin_check tmeta.bin
				expect_rc 0 "$what: 1.1 thin_check"
				dump_xml '' "$chunk" "$nblocks" "$begin" "$len" >want11.xml
				"$TPT11" thin_dump tmeta.bin >got11.xml 2>run.err ||
					fail "$what: 1.1 thin_dump failed: $(cat run.err)"
				# 1.1 ends its dump without a newline
				[ -z "$(tail -c 1 got11.xml)" ] || echo >>got11.xml
				expect_same want11.xml got11.xml "$what: 1.1 thin_dump does not give the mapping back"
			fi
		done
	done
done <<EOF
128 16384 0 16384 2097152
1024 8000 16 5000 2097152
256 262144 0 262143 16777216
EOF
note "$ncase lvm2-shaped restores checked"
exit 0

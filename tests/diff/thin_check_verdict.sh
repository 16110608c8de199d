#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# thin_check verdicts against thin-provisioning-tools 1.1.0.  For every damage class made by
# tests/tools/thin_damage on the fixtures, our verdict must equal 1.1's:
#   clean    = exit 0
#   nonfatal = non-zero, but 0 with --ignore-non-fatal-errors
#   fatal    = non-zero with and without --ignore-non-fatal-errors
# 1.1 exits 64 for damage; we exit 1.  Any other status (usage, operational) is a failure.
#
# Known, deliberate differences are listed with both expected verdicts (KNOWN lines); the
# test fails if either side changes.  0.9's verdict is printed for information only (0.9
# misses leaked data blocks, data ref-count errors, mapped_blocks mismatches and mappings
# past the end of the data device).
. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

require_tpt 1.1
require_tool thin_check
[ -x "$TT/thin_damage" ] || skip "test tool thin_damage not built (no $TT/thin_damage)"

D=$TT/thin_damage
fixture many many.bin
fixture snaps snaps.bin
fixture one-thin one-thin.bin

# verdict OURS|REF|R09 OPTS IMAGE -> clean | nonfatal | fatal | status:N
verdict() {
	v_who=$1 v_opts=$2 v_img=$3
	case $v_who in
	ours) set -- "$BIN/thin_check" ;;
	ref) set -- "$TPT11" thin_check ;;
	r09) set -- "$TPT09" thin_check ;;
	esac
	# shellcheck disable=SC2086
	"$@" $v_opts "$v_img" >/dev/null 2>&1
	v_a=$?
	# shellcheck disable=SC2086
	"$@" $v_opts --ignore-non-fatal-errors "$v_img" >/dev/null 2>&1
	v_b=$?
	case $v_who in ours) v_bad=1 ;; ref) v_bad=64 ;; r09) v_bad=1 ;; esac
	for v_s in $v_a $v_b; do
		[ "$v_s" = 0 ] || [ "$v_s" = "$v_bad" ] || { echo "status:$v_s"; return; }
	done
	if [ "$v_a" = 0 ]; then
		echo clean
	elif [ "$v_b" = 0 ]; then
		echo nonfatal
	else
		echo fatal
	fi
}

n=0
nfail=0
seen_clean=0
seen_nonfatal=0
seen_fatal=0

# check NAME FIXTURE "OPTS" "OPS" [OURS REF]: damage a copy of FIXTURE with the ops (separated
# by ';', each `thin_damage IMG OP ARGS`), then compare verdicts.  With OURS REF given, the
# case is a known difference: both sides must give exactly those verdicts.
check() {
	c_name=$1 c_fix=$2 c_opts=$3 c_ops=$4 c_want_ours=${5:-} c_want_ref=${6:-}
	n=$((n + 1))
	cp "$c_fix.bin" d.bin || fail "cannot copy $c_fix.bin"
	if [ -n "$c_ops" ]; then
		c_rest=$c_ops
		while [ -n "$c_rest" ]; do
			c_op=${c_rest%%;*}
			case $c_rest in *\;*) c_rest=${c_rest#*;} ;; *) c_rest= ;; esac
			# shellcheck disable=SC2086
			"$D" d.bin $c_op >/dev/null 2>dmg.err || {
				cat dmg.err
				echo "FAIL $c_name: thin_damage $c_op failed"
				nfail=$((nfail + 1))
				return
			}
		done
		cmp -s d.bin "$c_fix.bin" && {
			echo "FAIL $c_name: the damage changed nothing"
			nfail=$((nfail + 1))
			return
		}
	fi
	c_ours=$(verdict ours "$c_opts" d.bin)
	c_ref=$(verdict ref "$c_opts" d.bin)
	c_09=$(verdict r09 "$c_opts" d.bin)
	case $c_ours in clean) seen_clean=1 ;; nonfatal) seen_nonfatal=1 ;; fatal) seen_fatal=1 ;; esac
	if [ -n "$c_want_ours" ]; then
		if [ "$c_ours" = "$c_want_ours" ] && [ "$c_ref" = "$c_want_ref" ]; then
			echo "ok   $c_name: ours $c_ours, 1.1 $c_ref (known difference), 0.9 $c_09"
		else
			echo "FAIL $c_name: ours $c_ours (want $c_want_ours), 1.1 $c_ref (want $c_want_ref)"
			nfail=$((nfail + 1))
		fi
	elif [ "$c_ours" = "$c_ref" ]; then
		echo "ok   $c_name: $c_ours (0.9: $c_09)"
	else
		echo "FAIL $c_name: ours $c_ours, 1.1 $c_ref (0.9: $c_09)"
		"$BIN/thin_check" $c_opts d.bin 2>&1 | sed 's/^/    ours: /' | head -n 8
		"$TPT11" thin_check $c_opts d.bin 2>&1 | sed 's/^/    1.1:  /' | head -n 8
		nfail=$((nfail + 1))
	fi
}

f() { "$D" many.bin find "$@" || fail "thin_damage find $* failed"; }
L=$(f leaf 0)
LL=$(f last-leaf 3)
I=$(f internal 0)
DR=$(f details-root)
MR=$(f mapping-root)
FREE_MD=$(f free-metadata)
FREE_MD2=$(f free-metadata 1)
FREE_DATA=$(f free-data)
USED_DATA=$(f used-data)
OL=$(f leaf 1)

check clean many "" ""
check clean-snaps snaps "" ""
check clean-one-thin one-thin "" ""
check needs-check many "" "set-needs-check"
check leaf-checksum many "" "flip-csum $L"
check leaf-blocknr many "" "set-blocknr $L $LL"
check leaf-key-order many "" "swap-keys $L"
check leaf-zeroed many "" "zero-block $L"
check internal-checksum many "" "flip-csum $I"
check internal-key-order many "" "swap-keys $I"
check details-root-checksum many "" "flip-csum $DR"
check details-root-zeroed many "" "zero-block $DR"
check mapping-root-checksum many "" "flip-csum $MR"
check mapping-root-blocknr many "" "set-blocknr $MR 0"
check md-index-checksum many "" "flip-csum $(f md-index)"
check md-bitmap-checksum many "" "flip-csum $(f md-bitmap)"
check md-ref-tree-checksum many "" "flip-csum $(f md-ref-root)"
check data-index-tree-checksum many "" "flip-csum $(f data-bitmap-root)"
check data-ref-tree-checksum many "" "flip-csum $(f data-ref-root)"
check superblock-checksum many "" "flip-csum 0"
check superblock-zeroed many "" "zero-block 0"
check metadata-leak many "" "leak-metadata $FREE_MD"
check metadata-missing-ref-leaf many "" "drop-metadata-ref $L"
check metadata-missing-ref-details many "" "drop-metadata-ref $DR"
check metadata-missing-ref-bottom-root many "" "drop-metadata-ref $I"
check data-leak many "" "leak-data $FREE_DATA"
check data-missing-ref many "" "drop-data-ref $USED_DATA"
check two-leaks many "" "leak-data $FREE_DATA;leak-metadata $FREE_MD"
check leak-and-missing-ref many "" "leak-data $FREE_DATA;drop-metadata-ref $OL"
check mapping-past-end-shared many "" "mapping-past-end 0"
check mapped-blocks-low many "" "set-mapped-blocks 3 7"
check mapped-blocks-high many "" "set-mapped-blocks 1 100000"
check held-root many "" "hold-root"
check held-root-m many "-m" "hold-root"
check held-root-leak many "" "hold-root;leak-metadata $FREE_MD2"
check held-root-copy-checksum many "" "hold-root;flip-csum $FREE_MD"
check held-root-copy-missing-ref many "" "hold-root;drop-metadata-ref $FREE_MD"
check bad-held-root many "" "bad-held-root"
check no-held-root-m many "-m" ""
check skip-mappings-leaf-damage many "--skip-mappings" "flip-csum $L"
check skip-mappings-details-damage many "--skip-mappings" "flip-csum $DR"
check sb-only-leaf-damage many "--super-block-only" "flip-csum $L"
check sb-only-sb-damage many "--super-block-only" "flip-csum 0"

# Known differences.  1.1.0 compares mappings with the data space map only, so a mapping to
# a block >= nr_data_blocks whose old data block had count 1 shows up in 1.1 as a leak only
# (non-fatal); the kernel would fail I/O to that block, so we call it fatal.
check mapping-past-end-single one-thin "" "mapping-past-end 1" fatal nonfatal
check mapping-past-end-far one-thin "" "mapping-past-end 1 1099511627775" fatal nonfatal

[ "$seen_clean$seen_nonfatal$seen_fatal" = 111 ] ||
	fail "the cases did not produce all three verdicts (clean/nonfatal/fatal: $seen_clean$seen_nonfatal$seen_fatal)"
echo "$n cases, $nfail failed"
[ "$nfail" = 0 ] || exit 1
exit 0

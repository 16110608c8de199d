#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Kernel writes, dmmeta reads: thin pools.  Exit 0 pass, 1 fail, 77 skip.
#
# One VM boot (guest/thin-kernel-writes.sh) drives two identical thin pools in Debian's
# 6.1 kernel: create_thin 0, pattern writes, create_snap 1 0, writes breaking sharing from
# both sides, create_thin 2, writes, set_transaction_id, reserve_metadata_snap, more writes,
# set_transaction_id again; pool "pa" then releases the metadata snapshot, pool "pb" keeps
# it held; both are torn down.  Every written sector names (device, generation, sector).
# On the host, for each pool:
#   - $BIN/thin_check passes; its METADATA_FREE_BLOCKS matches the kernel's used metadata;
#   - $BIN/thin_dump lists exactly the devices and mapped blocks the write log implies,
#     mapped_blocks and the kernel's per-thin status agree, the transaction id is the
#     kernel's, used data blocks = distinct mapped data blocks;
#   - every mapped data block holds, sector by sector, the pattern the log says (a mismatch
#     names device/block/sector); each thin device rebuilt from the dump hashes the same as
#     the kernel's read-back;
#   - $BIN/thin_ls: mapped sectors = the kernel's, exclusive/shared blocks = the mappings';
#     $BIN/thin_rmap over all data blocks = thin_dump's mappings reversed;
#   - $BIN/thin_dump -m: pb shows the state at reserve_metadata_snap, pa has no snapshot;
#   - $BIN/thin_delta --snap1 0 --snap2 1 classifies every block as the log implies;
#   - the 0.9 / 1.1 references (when present) pass thin_check and dump the same mappings.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"
. "$SRCDIR/tests/kernel/lib/kernel.sh"

require_tool thin_check thin_dump
k_require_vm

BS=128          # pool block size in sectors (guest script)
NB=128          # thin device size in blocks
zero_file pa-meta.img 1024      # 4 MiB
zero_file pa-data.img 16384     # 64 MiB
zero_file pb-meta.img 1024
zero_file pb-data.img 16384
k_guest thin-kernel-writes.sh pa-meta.img pa-data.img pb-meta.img pb-data.img

for P in pa pb; do
	M=$P-meta.img
	D=$P-data.img

	# --- thin_check
	run "$BIN/thin_check" "$M"
	[ "$rc" = 0 ] || { _show_run; k_bad "$P: thin_check exit $rc on the kernel's metadata"; }
	st=$(sed -n "s/^STATUS $P pool //p" guest.out)
	# 0 131072 thin-pool TID USEDMETA/TOTALMETA USEDDATA/TOTALDATA HELD ...
	set -- $st
	k_tid=$4 k_meta=$5 k_data=$6 k_held=$7
	# The kernel reports as used, besides the blocks its metadata space map counts, a
	# reserve of min(total / 10, 4096) blocks it keeps back (102 of 1024 here).
	free=$(sed -n 's/^METADATA_FREE_BLOCKS=//p' run.out)
	if [ -n "$free" ]; then
		tot=${k_meta#*/}
		resv=$((tot / 10))
		[ $resv -le 4096 ] || resv=4096
		[ $((tot - free + resv)) = "${k_meta%/*}" ] ||
			k_bad "$P: thin_check METADATA_FREE_BLOCKS=$free, so $((tot - free)) + $resv reserved used, but the kernel says $k_meta"
	else
		note "$P: thin_check printed no METADATA_FREE_BLOCKS line; metadata usage not compared"
	fi

	# --- thin_dump against the write log
	run "$BIN/thin_dump" "$M"
	[ "$rc" = 0 ] || { _show_run; k_bad "$P: thin_dump exit $rc"; continue; }
	cp run.out "$P.xml"
	k_thin_map "$P.xml" | sort -n -k1,1 -k2,2 >"$P.map"
	K_BS=$BS k_thin_model "$P.model" "$P"
	k_model_blocks "$P.model" >"$P.want-blocks"
	awk '{ print $1, $2 }' "$P.map" >"$P.got-blocks"
	cmp -s "$P.want-blocks" "$P.got-blocks" || {
		diff "$P.want-blocks" "$P.got-blocks" | head -n 10 >&2
		k_bad "$P: thin_dump's mapped blocks differ from those the kernel was given writes for (< expected > dumped)"
	}
	grep -q "<superblock .*transaction=\"$k_tid\"" "$P.xml" ||
		k_bad "$P: thin_dump transaction differs from the kernel's $k_tid: $(head -n 1 "$P.xml")"
	grep -q 'data_block_size="128" nr_data_blocks="1024"' "$P.xml" ||
		k_bad "$P: thin_dump data_block_size/nr_data_blocks: $(head -n 1 "$P.xml")"
	devs=$(sed -n 's/.*<device dev_id="\([0-9]*\)".*/\1/p' "$P.xml" | tr '\n' ' ')
	[ "$devs" = "0 1 2 " ] || k_bad "$P: thin_dump devices are '$devs', the kernel made 0 1 2"
	used=$(awk '{ print $3 }' "$P.map" | sort -u | wc -l | tr -d ' ')
	[ "$used" = "${k_data%/*}" ] ||
		k_bad "$P: $used distinct data blocks mapped in the dump, the kernel uses ${k_data%/*}"
	[ "${k_data#*/}" = 1024 ] || k_bad "$P: kernel data size ${k_data#*/}, expected 1024"
	for d in 0 1 2; do
		n=$(awk -v d=$d '$1 == d' "$P.map" | wc -l | tr -d ' ')
		hi=$(awk -v d=$d '$1 == d { h = $2 } END { print h + 0 }' "$P.map")
		attr=$(sed -n "s/.*<device dev_id=\"$d\" mapped_blocks=\"\([0-9]*\)\".*/\1/p" "$P.xml")
		[ "$attr" = "$n" ] || k_bad "$P: device $d mapped_blocks=\"$attr\" but $n mappings listed"
		# thin status: START LEN thin MAPPED_SECTORS HIGHEST_MAPPED_SECTOR
		set -- $(sed -n "s/^STATUS $P $d //p" guest.out)
		[ "$4" = $((n * BS)) ] || k_bad "$P: kernel says device $d maps $4 sectors, the dump $n blocks"
		[ "$5" = $(((hi + 1) * BS - 1)) ] ||
			k_bad "$P: kernel's highest mapped sector of device $d is $5, the dump's last block $hi"
	done

	# --- thin_ls and thin_rmap against the kernel's status and the dumped mappings
	if [ -x "$BIN/thin_ls" ]; then
		run "$BIN/thin_ls" -o DEV,MAPPED_SECTORS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS --no-headers "$M"
		[ "$rc" = 0 ] || { _show_run; k_bad "$P: thin_ls exit $rc"; }
		awk 'NR == FNR { n[$3]++; next } { c[$1]++; if (n[$3] > 1) sh[$1]++; else ex[$1]++ }
			END { for (d in c) print d, ex[d] + 0, sh[d] + 0 }' "$P.map" "$P.map" | sort -n >ls.want
		for d in 0 1 2; do
			set -- $(awk -v d=$d '$1 == d' run.out)
			[ "$2" = "$(sed -n "s/^STATUS $P $d [0-9]* [0-9]* thin \([0-9]*\) .*/\1/p" guest.out)" ] ||
				k_bad "$P: thin_ls MAPPED_SECTORS of device $d is '$2', the kernel's status says otherwise"
			[ "$d $3 $4" = "$(awk -v d=$d '$1 == d' ls.want)" ] ||
				k_bad "$P: thin_ls exclusive/shared blocks of device $d are '$3 $4', the mappings give '$(awk -v d=$d '$1 == d { print $2, $3 }' ls.want)'"
		done
	fi
	if [ -x "$BIN/thin_rmap" ]; then
		run "$BIN/thin_rmap" --region 0..1024 "$M"
		[ "$rc" = 0 ] || { _show_run; k_bad "$P: thin_rmap exit $rc"; }
		sed -n 's/^data \([0-9]*\)\.\.\([0-9]*\) -> thin(\([0-9]*\)) \([0-9]*\)\.\.[0-9]*$/\1 \2 \3 \4/p' run.out |
			awk '{ for (i = 0; i < $2 - $1; i++) print $3, $4 + i, $1 + i }' | sort -n -k1,1 -k2,2 >rmap.map
		cmp -s rmap.map "$P.map" || {
			diff rmap.map "$P.map" | head -n 6 >&2
			k_bad "$P: thin_rmap's reverse map differs from thin_dump's mappings (< rmap > dump)"
		}
	fi

	# --- data: sector by sector, and whole devices against the kernel's read-back
	k_check_data "$P.map" "$P.model" "$D" $BS "$P"
	for d in 0 1 2; do
		want=$(sed -n "s/^HASH $P $d //p" guest.out)
		got=$(k_vdev_hash "$P.map" $d "$D" $BS $NB)
		[ "$want" = "$got" ] ||
			k_bad "$P: thin device $d rebuilt from thin_dump + data image hashes $got, the kernel read $want"
	done

	# --- the metadata snapshot
	run "$BIN/thin_dump" -m "$M"
	if [ "$P" = pb ]; then
		[ "$k_held" != - ] || k_bad "pb: the kernel reports no held metadata root"
		if [ "$rc" != 0 ]; then
			_show_run
			k_bad "pb: thin_dump -m exit $rc with a held metadata root"
		else
			cp run.out pb-snap.xml
			k_thin_map pb-snap.xml | sort -n -k1,1 -k2,2 >pb-snap.map
			K_BS=$BS k_thin_model pb-snap.model pb reserve
			k_model_blocks pb-snap.model >pb-snap.want
			awk '{ print $1, $2 }' pb-snap.map >pb-snap.got
			cmp -s pb-snap.want pb-snap.got || {
				diff pb-snap.want pb-snap.got | head -n 10 >&2
				k_bad "pb: thin_dump -m mapped blocks differ from the state at reserve_metadata_snap"
			}
			grep -q '<superblock .*transaction="1"' pb-snap.xml ||
				k_bad "pb: thin_dump -m transaction is not 1 (set before reserve): $(head -n 1 pb-snap.xml)"
			# Data blocks of the snapshot view: a mapping the live tree shares still points
			# at the block the kernel kept writing in place (the metadata snapshot does not
			# protect data); any other mapping points at a block left as it was at reserve.
			awk 'NR == FNR { live[$0] = 1; next } $0 in live' pb.map pb-snap.map >pb-snap.shared
			awk 'NR == FNR { live[$0] = 1; next } !($0 in live)' pb.map pb-snap.map >pb-snap.old
			[ -s pb-snap.old ] || k_bad "pb: no mapping changed after reserve_metadata_snap (scenario broken?)"
			k_check_data pb-snap.shared pb.model "$D" $BS "pb (metadata snapshot, shared mappings)"
			k_check_data pb-snap.old pb-snap.model "$D" $BS "pb (metadata snapshot, mappings replaced since)"
		fi
	else
		[ "$k_held" = - ] || k_bad "pa: the kernel still holds metadata root $k_held after release"
		[ "$rc" != 0 ] || k_bad "pa: thin_dump -m succeeded with no metadata snapshot held"
		[ "$(wc -l <run.err)" = 1 ] || { _show_run; k_bad "pa: thin_dump -m without a snapshot: not one line on stderr"; }
	fi

	# --- thin_delta 0 vs 1, expected from the write log
	awk '$1 <= 1 { print $1, $2 }' "$P.model" | sort -u >delta.blocks
	awk -v bs=$BS '
		$1 == "SNAP" && $2 == pool { after = 1; next }
		after && $1 == "W" && $2 == pool && $3 <= 1 {
			for (b = int($5 / bs); b <= int(($5 + $6 - 1) / bs); b++) w[b] = 1
		}
		END { for (b in w) print b }' pool=$P guest.out >delta.written
	awk 'NR == FNR { w[$1] = 1; next }
		{ in0[$2] = in0[$2] || $1 == 0; in1[$2] = in1[$2] || $1 == 1; all[$2] = 1 }
		END {
			for (b in all) {
				c = in0[b] && in1[b] ? (b in w ? "different" : "same") : (in0[b] ? "left_only" : "right_only")
				print b, c
			}
		}' delta.written delta.blocks | sort -n >"$P.delta-want"
	for t in ours 0.9 1.1; do
		case $t in
		ours) [ -x "$BIN/thin_delta" ] || { note "$P: thin_delta not built: delta check skipped"; continue; }
			run "$BIN/thin_delta" --snap1 0 --snap2 1 "$M" ;;
		0.9) [ -n "$TPT09" ] || continue; run "$TPT09" thin_delta --snap1 0 --snap2 1 "$M" ;;
		1.1) [ -n "$TPT11" ] || continue; run "$TPT11" thin_delta --snap1 0 --snap2 1 "$M" ;;
		esac
		[ "$rc" = 0 ] || { _show_run; k_bad "$P: thin_delta ($t) exit $rc"; continue; }
		awk '
		function attr(s, name) {
			if (match(s, name "=\"[0-9]+\"")) return substr(s, RSTART + length(name) + 2, RLENGTH - length(name) - 3) + 0
			return -1
		}
		/<(same|different|left_only|right_only) / {
			c = $1; sub(/^</, "", c)
			b = attr($0, "begin"); n = attr($0, "length")
			for (i = 0; i < n; i++) print b + i, c
		}' run.out | sort -n >"$P.delta-$t"
		# Tools may leave out "same" runs: compare the rest, and "same" where listed.
		grep -v ' same$' "$P.delta-want" >delta.w
		grep -v ' same$' "$P.delta-$t" >delta.g
		cmp -s delta.w delta.g || {
			diff delta.w delta.g | head -n 10 >&2
			k_bad "$P: thin_delta ($t) --snap1 0 --snap2 1 differs from the blocks written after the snapshot (< expected > reported)"
		}
		grep ' same$' "$P.delta-$t" | while read -r b c; do
			grep -qx "$b same" "$P.delta-want" || echo "$b"
		done >delta.badsame
		[ -s delta.badsame ] && k_bad "$P: thin_delta ($t) calls blocks $(tr '\n' ' ' <delta.badsame)'same' though they were written after the snapshot or are mapped on one side"
	done

	# --- the references agree where present
	for t in 0.9 1.1; do
		case $t in 0.9) R=$TPT09 ;; 1.1) R=$TPT11 ;; esac
		[ -n "$R" ] || continue
		run "$R" thin_check "$M"
		[ "$rc" = 0 ] || { _show_run; k_bad "$P: reference $t thin_check exit $rc"; }
		run "$R" thin_dump "$M"
		[ "$rc" = 0 ] || { _show_run; k_bad "$P: reference $t thin_dump exit $rc"; continue; }
		k_thin_map run.out | sort -n -k1,1 -k2,2 >ref.map
		cmp -s ref.map "$P.map" || k_bad "$P: reference $t thin_dump maps differently from ours"
		if [ $t = 0.9 ]; then
			cmp -s run.out "$P.xml" || { diff run.out "$P.xml" | head >&2; k_bad "$P: thin_dump XML differs from the 0.9 reference's"; }
		fi
		if [ "$P" = pb ]; then
			run "$R" thin_dump -m "$M"
			[ "$rc" = 0 ] || { _show_run; k_bad "pb: reference $t thin_dump -m exit $rc"; continue; }
			k_thin_map run.out | sort -n -k1,1 -k2,2 >ref.map
			[ -f pb-snap.map ] && ! cmp -s ref.map pb-snap.map &&
				k_bad "pb: reference $t thin_dump -m maps differently from ours"
		fi
	done
	note "$P: kernel status: $st"
done
note "VM: $(cat console.log | wc -l) console lines; guest $(sed -n 's/^GUEST-SECONDS //p' guest.out) s"
k_finish

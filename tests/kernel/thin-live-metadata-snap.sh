#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# A live pool's metadata snapshot, read again and again.  Exit 0 pass, 1 fail, 77 skip.
#
# One VM boot (guest/thin-live-metadata-snap.sh) keeps a thin pool active in Debian's 6.1
# kernel and writes to it over ROUNDS rounds of: writes, reserve_metadata_snap, our thin_dump -m,
# thin_dump --metadata-snap=N, thin_delta -m and thin_delta --metadata-snap=N on the live
# metadata device (/dev/vda, held open by the pool), the same on an O_DIRECT copy of the
# device taken at that moment (dd iflag=direct), more writes, release_metadata_snap.
# The kernel writes its metadata beneath the device's page cache, so a tool that read the
# device through that cache got the pages an earlier round left there (round 1's mappings,
# or a superblock that no longer matches); dmmeta reads devices with O_DIRECT.
# On the host:
#   - every form gave, every round, the same output and exit status 0 on the live device
#     and on the copy (the guest compares; a difference is shown);
#   - the dumps' mapped_blocks are those the rounds' writes imply (thin 0: 3R-1, thin 1:
#     2R-1, snapshot 2: 2), and every round's dump and delta differ from the last round's.
# ROUNDS: THIN_LIVE_ROUNDS, default 6 (each round costs ~2.3 s of TCG guest time): from
# round 2 on a tool reading through the page cache gets the pages of an earlier round, and
# the pool's 3 new blocks a round stay in the same btree leaves, so later rounds add no
# branch; FULL=1: 20, as before.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"
. "$SRCDIR/tests/kernel/lib/kernel.sh"

require_tool thin_dump thin_delta
k_require_vm

if sampled "thin-live-metadata-snap: ${THIN_LIVE_ROUNDS:-6} rounds"; then
	ROUNDS=${THIN_LIVE_ROUNDS:-6}
else
	ROUNDS=${THIN_LIVE_ROUNDS:-20}
fi
# The tools run in the guest; the number of rounds goes in /guest/rounds.
k_guest_tools thin_dump thin_delta
echo "$ROUNDS" >rounds
K_FILES="$K_FILES rounds"
zero_file meta.img 1024         # 4 MiB
zero_file data.img 16384        # 64 MiB
k_guest thin-live-metadata-snap.sh meta.img data.img

grep -q '^GUEST-SECONDS' guest.out || fail "the guest did not finish its rounds"
note "guest: $(grep '^GUEST-SECONDS' guest.out)"
if grep -q '^DIFF' guest.out; then
	grep -A 10 '^DIFF' guest.out | head -n 40 >&2
	k_bad "$(grep -c '^DIFF' guest.out) answer(s) on the live metadata device differ from those on an O_DIRECT copy taken at the same moment"
fi
nforms=5
n=$(grep -c '^SAME ' guest.out)
[ "$n" = $((ROUNDS * nforms)) ] || k_bad "$n equal answers, expected $((ROUNDS * nforms)) ($ROUNDS rounds x $nforms forms)"
awk '$1 == "SAME" && $4 != 0 { print }' guest.out >bad-rc
[ -s bad-rc ] && k_bad "non-zero exit on both live and copy: $(head -n 3 bad-rc | tr '\n' ';')"
for f in dump-m dump-m=N; do   # the first round where the counts are wrong, if any
	r=1
	while [ $r -le $ROUNDS ]; do
		set -- $(awk -v r=$r -v f=$f '$1 == "SAME" && $2 == r && $3 == f { print $6, $7, $8 }' guest.out)
		[ "$*" = "$((3 * r - 1)) $((2 * r - 1)) 2" ] || {
			k_bad "round $r: $f mapped_blocks of thins 0 1 2 are '$*', the writes imply '$((3 * r - 1)) $((2 * r - 1)) 2'"
			break
		}
		r=$((r + 1))
	done
done
for f in dump-m dump-m=N delta-m delta-m=N delta-m-01; do
	awk -v f=$f '$1 == "SAME" && $3 == f { print $5 }' guest.out >md5.$f
	[ "$(uniq <md5.$f | wc -l)" = "$(wc -l <md5.$f)" ] ||
		k_bad "$f printed the same answer in two consecutive rounds though the pool changed in between"
done
k_finish

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# lvconvert --type thin of a thick LV holding ext4: lvm2 2.03.22+ writes the new pool's
# metadata with thin_restore, ours.  Exit 0 pass, 1 fail, 77 skip.
#
# lvm2 2.03.22 and later convert a thick LV into a thin LV of a new pool whose data is the
# old LV's extents; the pool's metadata (one thin device mapping every data block in order)
# is written by thin_restore_executable from an XML file lvm2 keeps as an unlinked tmpfile
# (-i /proc/PID/fd/N -o /dev/VG/METADATA_LV).  Debian bookworm's lvm2 (2.03.16) lacks it,
# so this uses trixie's (lib/fetch-lvm2 LVM2_SUITE=trixie: run in the guest with trixie's own
# loader and libraries; skip with one line when it cannot be had).  One VM boot
# (guest/lvm2-thin-convert.sh) with lvm.conf's thin_check, thin_dump, thin_repair and
# thin_restore executables the logging wrappers of guest-lvm2.sh: on one virtio disk,
# vg/lv (16 MiB, linear) gets an ext4 filesystem with files; unmounted, `lvconvert -y
# --type thin vg/lv`; then vgchange -an / lvchange -ay (lvm2 runs thin_check on the
# metadata thin_restore wrote), the _tmeta activated alone and dumped.  On the host:
#   - every call lvm2 made to our tools is printed with its arguments and status;
#   - the conversion ran thin_restore -i /proc/PID/fd/N -o /dev/vg/LV with status 0 (any
#     thin_restore_options lvm2 adds are shown; none with the default configuration),
#     activation ran thin_check on the pool's _tmeta with status 0; no call failed;
#   - lvs: vg/lv is a thin LV of a new pool (lv_tpool0), fully provisioned (data 100%);
#   - thin_dump (ours, in the guest, through a component activation of the _tmeta): one thin
#     device, id 1, its 256 blocks of 64 KiB mapped 1:1 onto the pool's data;
#   - after the conversion and after the activation cycle, the whole LV reads the same
#     bytes as the thick LV did (md5), e2fsck -fn is clean and the files (paths and md5s,
#     mounted read-only) are those written.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"
. "$SRCDIR/tests/kernel/lib/kernel.sh"

require_tool thin_check thin_dump thin_repair thin_restore
k_require_vm
# A few lvm2 commands (seconds each under TCG) and one 16 MiB filesystem: 20-40 s on an
# idle host; up to 200 s under load.
: "${DMMETA_GUEST_TIMEOUT:=200}"
export DMMETA_GUEST_TIMEOUT
k_guest_tools thin_check thin_dump thin_repair thin_restore
k_lvm2_files ext4 trixie
note "lvm2 $K_LVM2_VERSION (Debian trixie, its own loader and libraries)"
zero_file pv.img 16384          # 64 MiB
k_guest lvm2-thin-convert.sh pv.img

grep -q '^GUEST-SECONDS' guest.out || fail "the guest did not finish"
note "guest: $(grep '^GUEST-SECONDS' guest.out)"
note "lvm2's calls to dmmeta's tools:"
sed -n 's/^CALL /  /p' guest.out

calls() {       # calls STEP: that step's call lines, "lvm2 called: " cut
	sed -n "s/^CALL $1 lvm2 called: //p" guest.out
}
status() {      # status STEP TOOL: the statuses of TOOL's calls in STEP
	sed -n "s/^CALL $1 lvm2 call status: $2 //p" guest.out | tr '\n' ' ' | sed 's/ $//'
}
set -- $(sed -n 's/^CONVERT //p' guest.out)
[ "${1:-}" = 0 ] || k_bad "lvconvert --type thin failed (status ${1:-none})"
restore=$(calls convert | grep '^thin_restore ')
[ -n "$restore" ] || k_bad "lvconvert --type thin did not run thin_restore (calls: $(calls convert | tr '\n' ';'))"
note "lvm2 ran: $restore"
printf '%s\n' "$restore" | grep -Eq '^thin_restore( .*)? -i /proc/[0-9]+/fd/[0-9]+ -o /dev/vg/[A-Za-z0-9_.+-]+$' ||
	k_bad "thin_restore's arguments are not '-i /proc/PID/fd/N -o /dev/vg/LV': $restore"
[ "$(status convert thin_restore)" = 0 ] || k_bad "thin_restore's status: '$(status convert thin_restore)', expected 0"
calls activate | grep -Eq '^thin_check .*/dev/mapper/vg-lv_tpool0_tmeta$' ||
	k_bad "lvchange -ay did not run thin_check on vg-lv_tpool0_tmeta (calls: $(calls activate | tr '\n' ';'))"
[ "$(status activate thin_check)" = 0 ] || k_bad "thin_check's status on activation: '$(status activate thin_check)', expected 0"
sed -n 's/^CALL \([^ ]*\) lvm2 call status: \([^ ]*\) \([0-9]*\)$/\1 \2 \3/p' guest.out |
	awk '$3 != 0' >bad-status
[ -s bad-status ] && k_bad "lvm2's calls that failed: $(tr '\n' ';' <bad-status)"

for step in converted cycled; do
	sed -n "s/^LVS $step //p" guest.out >lvs.$step
	note "lvs $step: $(tr '\n' ';' <lvs.$step)"
	# vg,name,segtype,size,pool,origin,data%,...
	grep -Eq '^vg,lv,thin,32768S,lv_tpool0,,100\.00,' lvs.$step ||
		k_bad "lvs $step: vg/lv is not a fully provisioned 16 MiB thin LV of lv_tpool0: $(tr '\n' ';' <lvs.$step)"
done
cmp -s lvs.converted lvs.cycled || k_bad "lvs differs after the activation cycle: $(diff lvs.converted lvs.cycled | grep '^[<>]' | tr '\n' ';')"

thick=$(sed -n 's/^THICK //p' guest.out)
sed -n 's/^THICKFILE //p' guest.out >files.thick
# ".", f1-f8, d, d/inner
[ "$(grep -c . files.thick)" = 11 ] || k_bad "the thick LV held $(grep -c . files.thick) files and directories, expected 11"
for step in converted cycled; do
	h=$(sed -n "s/^THIN $step //p" guest.out)
	[ -n "$thick" ] && [ "$h" = "$thick" ] || k_bad "the thin LV reads '$h' $step, the thick LV read '$thick'"
	set -- $(sed -n "s/^FSCK $step //p" guest.out)
	[ "${1:-}" = 0 ] || k_bad "e2fsck -fn $step: status ${1:-none}"
	sed -n "s/^THINFILE $step //p" guest.out >files.$step
	cmp -s files.thick files.$step || k_bad "the files $step differ: $(diff files.thick files.$step | grep '^[<>]' | head -n 4 | tr '\n' ';')"
done
# The metadata thin_restore wrote, as our thin_dump reads it: one thin device (id 1) mapping
# each of the 256 blocks of 64 KiB (lvm2's default chunk size) to the same data block.
sed -n 's/^DUMP //p' guest.out >dump.xml
grep -q '<superblock .*data_block_size="128" nr_data_blocks="256"' dump.xml ||
	k_bad "thin_dump's superblock: $(grep '<superblock' dump.xml), expected data_block_size 128, 256 data blocks"
grep -c '<device ' dump.xml | grep -qx 1 && grep -q '<device dev_id="1" mapped_blocks="256"' dump.xml ||
	k_bad "thin_dump's devices: $(grep '<device ' dump.xml | tr '\n' ';'), expected dev_id 1 with 256 mapped blocks"
k_thin_map dump.xml >map
awk '$1 != 1 || $2 != $3 || $2 != NR - 1 { bad = 1 } END { exit bad || NR != 256 }' map ||
	k_bad "thin_dump's mappings are not 1:1 for blocks 0-255: $(head -n 3 map | tr '\n' ';')"
[ "$(status component thin_check)" != 1 ] || k_bad "thin_check failed on the component activation"
note "thick LV md5 $thick = the thin LV's after the conversion and after the activation cycle"
k_finish

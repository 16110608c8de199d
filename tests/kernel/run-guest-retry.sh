#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# run-guest's one retry after a silent timeout (tests/kernel/lib/run-guest).  Exit 0 pass,
# 1 fail, 77 skip.
#
# The guest writes a mark to its disk and then hangs; a boot that finds the mark ends at
# once.  So the retry must come (one "run-guest: retrying" line), must boot from the disk as
# it was before the first boot (else it would find the mark and pass), and a hang that
# repeats must still fail with status 125 and the usual "timed out" line.
#
# What is tested is run-guest's logic (timeout, retry, disks restored, status), not the VM:
# by default run-guest starts a stand-in for qemu (DMMETA_QEMU=./fake-qemu, TCG asked
# for), which behaves as guest/run-guest-retry.sh does in a VM (on the first -drive file,
# the guest's output on the second -serial file), with a 3 s timeout: a few seconds.
# FULL=1 (or RETRY_REAL_VM=1) boots the real VM twice with a 30 s timeout, about a minute.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"
. "$SRCDIR/tests/kernel/lib/kernel.sh"

k_require_vm
zero_file disk.img 16
if [ "${RETRY_REAL_VM:-0}" = 1 ] ||
	! sampled "run-guest-retry: qemu replaced by a stand-in, 3 s timeouts (RETRY_REAL_VM=1: the real VM)"; then
	T=30
else
	T=3
	cat >fake-qemu <<'FAKE'
#!/bin/sh
# A stand-in for qemu-system-x86_64 with guest/run-guest-retry.sh as its guest.
disk= out= nser=0
while [ $# -gt 0 ]; do
	case $1 in
	-drive) [ -n "$disk" ] || { disk=${2#file=}; disk=${disk%%,*}; }; shift ;;
	-serial) nser=$((nser + 1)); [ $nser = 2 ] && out=${2#file:}; shift ;;
	esac
	shift
done
[ -n "$disk" ] && [ -n "$out" ] || { echo "fake-qemu: no -drive or no second -serial" >&2; exit 1; }
echo "@@DMMETA-GUEST-BEGIN@@" >"$out"
if [ "$(dd if="$disk" bs=6 count=1 2>/dev/null)" = HUNG-1 ]; then
	printf 'SAW-MARK\n@@DMMETA-GUEST-END rc=0@@\n' >>"$out"
	exit 0
fi
printf 'HUNG-1' | dd of="$disk" conv=notrunc 2>/dev/null
echo "WROTE-MARK" >>"$out"
exec sleep 100000
FAKE
	chmod 755 fake-qemu
	DMMETA_QEMU=$PWD/fake-qemu
	DMMETA_ACCEL=tcg
	export DMMETA_QEMU DMMETA_ACCEL
fi
sh "$KLIB/run-guest" -t $T -o out "$KGUEST/run-guest-retry.sh" disk.img 2>err
rc=$?
[ "$rc" = 125 ] || k_bad "a guest that hangs on every boot: run-guest exited $rc, expected 125"
n=$(grep -c '^run-guest: retrying' err)
[ "$n" = 1 ] || k_bad "$n retry lines, expected 1"
grep -q "^run-guest: timed out after ${T}s" err || k_bad "no 'timed out' line after the retry"
grep -q 'SAW-MARK' out err 2>/dev/null && k_bad "the retry saw the first boot's mark: the disk was not restored"
[ "$(dd if=disk.img bs=6 count=1 2>/dev/null)" = HUNG-1 ] || k_bad "the guest's write did not reach disk.img"

k_finish

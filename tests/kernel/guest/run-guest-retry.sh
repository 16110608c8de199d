# SPDX-License-Identifier: GPL-2.0-only
# Guest half of tests/kernel/run-guest-retry.sh: hangs unless /dev/vda already starts with
# the mark a hanging boot writes, so a retry from restored disks hangs too.
set -u
m=$(dd if=/dev/vda bs=6 count=1 2>/dev/null)
if [ "$m" = HUNG-1 ]; then
	echo "SAW-MARK"
	exit 0
fi
printf 'HUNG-1' | dd of=/dev/vda conv=notrunc,fsync 2>/dev/null
echo "WROTE-MARK"
sleep 100000

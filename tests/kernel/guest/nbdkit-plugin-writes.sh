# SPDX-License-Identifier: GPL-2.0-only
# Guest half of tests/kernel/nbdkit-plugin-writes.sh (runs in the VM).
# Disks: vda/vdb = thin pool metadata + data the plugin wrote (64 KiB blocks, 256 of them);
#        vdc/vdd = classic origin + COW (persistent, chunk 16) the plugin wrote.
# Output: SHA thin/0|thin/1|origin|snap HASH   (sha256 of the whole volume)
#         STATUS pool|snap LINE                dmsetup status
set -u
. /guest/lib.sh

BS=128
TSECT=8192
OSECT=8192
vsha() { dd if="$1" bs=65536 2>/dev/null | sha256sum | cut -d' ' -f1; }

g_run dmsetup create p --table "0 $((256 * BS)) thin-pool /dev/vda /dev/vdb $BS 0"
emit "STATUS pool $(dmsetup status p)"
for d in 0 1; do
	g_thin p $d $TSECT
	emit "SHA thin/$d $(vsha /dev/mapper/p-t$d)"
done
g_teardown p 0 1

g_run dmsetup create org --table "0 $OSECT snapshot-origin /dev/vdc"
g_run dmsetup suspend org
g_run dmsetup create snap --table "0 $OSECT snapshot /dev/vdc /dev/vdd P 16"
g_run dmsetup resume org
emit "STATUS snap $(dmsetup status snap)"
emit "SHA origin $(vsha /dev/mapper/org)"
emit "SHA snap $(vsha /dev/mapper/snap)"
g_run dmsetup remove snap
g_run dmsetup remove org
exit 0

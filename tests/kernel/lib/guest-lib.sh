# SPDX-License-Identifier: GPL-2.0-only
# Helpers for guest scripts (runs inside the VM under busybox sh, as /guest/lib.sh).
# Source it with:   . /guest/lib.sh
#
# Data pattern: every written 512-byte sector holds the text
#   "dmmeta dev=D gen=G sector=S" padded with spaces to 511 bytes, then "\n"
# (D = the device the write was issued to, G = a generation number chosen by the script,
# S = the sector number on that device), so any block names where it came from.
#
#   pwrite DEV D G FIRST_SECTOR NSECTORS   write the pattern (fsync'ed; the flush also makes
#                                          a thin pool commit)
#   devhash DEV N64K                       md5 of the first N64K * 64 KiB of DEV
#   runs DEV TAG                           read all of DEV; print "RUNS TAG FIRST N WDEV GEN OFF" for
#                                          each run of sectors holding the pattern of
#                                          (WDEV, GEN) with sector = own sector + OFF;
#                                          "RUNS TAG FIRST N garbage" for anything else
#                                          non-zero (zero sectors are not listed).  In a
#                                          guest with a runs disk (GUEST_RUNS_DISK, run-guest
#                                          -R) DEV's bytes are copied there and the line
#                                          "RUNS-AT TAG SECTOR NSECTORS" printed instead:
#                                          run-guest replaces it with the RUNS lines, decoded
#                                          on the host (busybox awk under TCG takes seconds
#                                          for each 8 MiB)
#   runs_decode TAG                        the RUNS lines of the bytes on stdin (as runs)
#   g_run CMD ARGS...                      run CMD, echo it as "+ CMD" first; on failure print
#                                          the kernel log's tail and "GUEST-FAIL: CMD (status N)",
#                                          exit 1
#   emit WORDS...                          print WORDS (a result line for the host)
#   g_tools                                our tools copied to /guest (and the libraries
#                                          they need) first in PATH and LD_LIBRARY_PATH
#   g_thin POOL DEV SECTORS                activate thin DEV of POOL as POOL-tDEV
#   g_commit POOL DEVS...                  suspend the thins and the pool (the pool
#                                          commits), resume all
#   g_teardown POOL DEVS...                remove the thins, then the pool

pwrite() {
	awk -v d="$2" -v g="$3" -v f="$4" -v n="$5" 'BEGIN {
		for (s = f; s < f + n; s++) printf "%-511s\n", "dmmeta dev=" d " gen=" g " sector=" s
	}' | dd of="$1" bs=512 seek="$4" conv=notrunc,fsync 2>/tmp/dd.err ||
		{ echo "GUEST-FAIL: pwrite $*: $(cat /tmp/dd.err)"; exit 1; }
}

devhash() {
	dd if="$1" bs=65536 count="$2" 2>/dev/null | md5sum | cut -d' ' -f1
}

runs() {
	if [ -n "${GUEST_RUNS_DISK:-}" ]; then
		ru_at=$(cat /tmp/runs.next 2>/dev/null) || ru_at=0
		ru_n=$(blockdev --getsz "$1") || { echo "GUEST-FAIL: runs $*: no size"; exit 1; }
		dd if="$1" of="$GUEST_RUNS_DISK" bs=65536 seek=$((ru_at * 512)) oflag=seek_bytes \
			conv=notrunc,fsync 2>/tmp/dd.err || { echo "GUEST-FAIL: runs $*: $(cat /tmp/dd.err)"; exit 1; }
		echo $((ru_at + ru_n)) >/tmp/runs.next
		emit "RUNS-AT $2 $ru_at $ru_n"
		return 0
	fi
	dd if="$1" bs=65536 2>/dev/null | runs_decode "$2"
}

runs_decode() {
	tr '\000\n' '..' | fold -w 512 | awk -v tag="$1" '
	function flush() { if (n) print "RUNS", tag, first, n, key; n = 0 }
	{
		s = NR - 1
		if ($0 ~ /^dmmeta dev=[0-9]+ gen=[0-9]+ sector=[0-9]+ *\.$/) {
			split($0, f, /[ =]+/)
			k = f[3] " " f[5] " " (f[7] - s)
		} else if ($0 !~ /[^.]/) {
			flush(); next
		} else {
			k = "garbage"
		}
		if (n && k == key && s == first + n) { n++; next }
		flush(); first = s; n = 1; key = k
	}
	END { flush() }'
}

g_run() {
	echo "+ $*"
	"$@" || {
		st=$?
		dmesg | tail -n 8 | sed 's/^/dmesg: /'
		echo "GUEST-FAIL: $* (status $st)"
		exit 1
	}
}

emit() {
	echo "$*"
}

g_tools() {
	PATH=/guest:$PATH
	LD_LIBRARY_PATH=/guest
	export PATH LD_LIBRARY_PATH
}

g_thin() {
	g_run dmsetup create "$1-t$2" --table "0 $3 thin /dev/mapper/$1 $2"
}

g_commit() {
	gc_p=$1
	shift
	for gc_d in "$@"; do g_run dmsetup suspend "$gc_p-t$gc_d"; done
	g_run dmsetup suspend "$gc_p"
	g_run dmsetup resume "$gc_p"
	for gc_d in "$@"; do g_run dmsetup resume "$gc_p-t$gc_d"; done
}

g_teardown() {
	gt_p=$1
	shift
	for gt_d in "$@"; do g_run dmsetup remove "$gt_p-t$gt_d"; done
	g_run dmsetup remove "$gt_p"
}

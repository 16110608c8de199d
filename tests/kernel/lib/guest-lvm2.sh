# SPDX-License-Identifier: GPL-2.0-only
# Guest helpers for the lvm2 scenarios (runs in the VM as /guest/guest-lvm2.sh, sourced after
# /guest/lib.sh).  The host puts Debian's lvm (and the libraries it needs) in /guest through
# K_FILES (tests/kernel/lib/fetch-lvm2, kernel.sh's k_lvm2_files), or trixie's as
# /guest/lvm2-trixie.tar.
#
#   lvm2_setup        trixie's lvm2 unpacked into /tmp/lvm2-trixie and its bin/ first in
#                     PATH when /guest/lvm2-trixie.tar is there; /etc/lvm/lvm.conf for a
#                     guest without udev, lvmetad, lvmpolld or dmeventd (locking in
#                     /run/lock/lvm, backups in /tmp; with lvm2 2.03.22+ also
#                     thin_restore_executable), and wrappers
#                     /tmp/wrap/thin_{check,dump,repair,restore} that lvm2 runs as its
#                     thin_*_executable: each appends "lvm2 called: TOOL ARGS" (an empty
#                     argument or one with other characters than [A-Za-z0-9_./=:,+-] in
#                     single quotes) to /tmp/lvm2-calls.log, runs our /guest/TOOL with
#                     the same arguments and appends "lvm2 call status: TOOL RC" (stdout
#                     and stderr go to lvm2)
#   lvm2_ext4         the ext4 modules loaded, MKE2FS_CONFIG=/guest/mke2fs.conf (k_lvm2_files
#                     ext4 put them and mke2fs, e2fsck in /guest)
#   lvm2_calls TAG    print the calls logged since the last lvm2_calls as
#                     "CALL TAG <line>" result lines and empty the log
#   L ARGS...         g_run lvm ARGS... (every lvm2 command is echoed)
#   lvs_lines TAG     "LVS TAG vg,name,segtype,size,pool,origin,data%,transaction_id,thin_id"
#                     for the visible LVs, sorted
#   files DIR TAG     "TAG PATH MD5" for every file under DIR, "TAG PATH dir" for directories
#   mkfile PATH SEED KIB   KIB KiB of text that names PATH and SEED

lvm2_setup() {
	mkdir -p /etc/lvm /run/lock/lvm /tmp/lvm/backup /tmp/lvm/archive /tmp/wrap || exit 1
	# trixie's lvm2 (k_lvm2_files trixie) comes as a tar with its own loader and libraries:
	# its bin/lvm wrapper goes first in PATH.
	if [ -f /guest/lvm2-trixie.tar ]; then
		g_run tar -xf /guest/lvm2-trixie.tar -C /tmp
		PATH=/tmp/lvm2-trixie/bin:$PATH
		export PATH
	fi
	cat >/etc/lvm/lvm.conf <<'EOF'
devices {
	dir = "/dev"
	scan = [ "/dev" ]
	obtain_device_list_from_udev = 0
	external_device_info_source = "none"
	use_devicesfile = 0
	filter = [ "a|^/dev/vd[a-z]$|", "r|.*|" ]
	md_component_detection = 0
	multipath_component_detection = 0
	fw_raid_component_detection = 0
}
activation {
	udev_sync = 0
	udev_rules = 0
	verify_udev_operations = 0
	monitoring = 0
}
global {
	use_lvmpolld = 0
	use_lvmlockd = 0
	event_activation = 0
	locking_dir = "/run/lock/lvm"
	thin_check_executable = "/tmp/wrap/thin_check"
	thin_dump_executable = "/tmp/wrap/thin_dump"
	thin_repair_executable = "/tmp/wrap/thin_repair"
	thin_check_options = [ "-q", "--clear-needs-check-flag" ]
}
backup {
	backup_dir = "/tmp/lvm/backup"
	archive_dir = "/tmp/lvm/archive"
}
log {
	syslog = 0
}
EOF
	# lvm2 2.03.22 and later know thin_restore_executable (lvconvert --type thin runs it);
	# older ones warn about the unknown setting.
	case $(lvm version 2>/dev/null | sed -n 's/^ *LVM version: *\([0-9.]*\).*/\1/p') in
	2.0[0-2].*|2.03.[0-9]|2.03.1[0-9]|2.03.2[01]) ;;
	*) sed -i '/thin_repair_executable/a\
	thin_restore_executable = "/tmp/wrap/thin_restore"' /etc/lvm/lvm.conf ;;
	esac
	for t in thin_check thin_dump thin_repair thin_restore; do
		cat >/tmp/wrap/$t <<EOF
#!/bin/sh
a=
for x in "\$@"; do
	case \$x in
	''|*[!A-Za-z0-9_./=:,+-]*) a="\$a '\$x'" ;;
	*) a="\$a \$x" ;;
	esac
done
echo "lvm2 called: $t\$a" >>/tmp/lvm2-calls.log
LD_LIBRARY_PATH=/guest /guest/$t "\$@"
rc=\$?
echo "lvm2 call status: $t \$rc" >>/tmp/lvm2-calls.log
exit \$rc
EOF
		chmod 755 /tmp/wrap/$t
	done
	: >/tmp/lvm2-calls.log
}

lvm2_ext4() {
	MKE2FS_CONFIG=/guest/mke2fs.conf
	export MKE2FS_CONFIG
	for m in crc16 mbcache jbd2 ext4; do
		grep -q "^$m " /proc/modules || g_run insmod /guest/$m.ko
	done
}

lvm2_calls() {
	sed "s/^/CALL $1 /" /tmp/lvm2-calls.log
	: >/tmp/lvm2-calls.log
}

L() {
	g_run lvm "$@"
}

lvs_lines() {
	lvm lvs --noheadings --separator , \
		-o vg_name,lv_name,segtype,lv_size,pool_lv,origin,data_percent,transaction_id,thin_id \
		--units s 2>/dev/null | sed -n "s/^ *\([^ ].*\)/LVS $1 \1/p" | sort
}

files() {
	(cd "$1" && find . ! -name lost+found ! -path './lost+found/*' | LC_ALL=C sort |
		while read -r f; do
			if [ -d "$f" ]; then echo "$2 $f dir"; else echo "$2 $f $(md5sum <"$f" | cut -d' ' -f1)"; fi
		done)
}

mkfile() {
	awk -v p="$1" -v s="$2" -v k="$3" 'BEGIN { for (i = 0; i < k * 16; i++) printf "%-63s\n", p " seed=" s " line=" i }' >"$1"
}

# SPDX-License-Identifier: GPL-2.0-only
# Host-side helpers for the kernel conformance scenarios (tests/kernel/*.sh), POSIX sh.
# Source after tests/lib.sh:
#   . "${TESTLIB:-$(dirname "$0")/../lib.sh}"
#   . "$SRCDIR/tests/kernel/lib/kernel.sh"
#
#   k_require_vm            skip (one line) unless qemu and the Debian kernel can be had;
#                           as root with CI=true, installs qemu-system-x86 when missing
#   k_guest SCRIPT IMG...   run a guest script (tests/kernel/guest/SCRIPT) on the images;
#                           output -> ./guest.out, kernel console -> ./console.log; fails on a
#                           VM failure or a non-zero guest status (guest output shown);
#                           the guest's `runs` go through a runs disk (run-guest -R,
#                           ./guest-runs.img, removed after) and are decoded on the host
#                           DMMETA_KERNEL_REUSE=1: the guest output and the images after the
#                           run are saved in $CACHE/results/, keyed by the guest script, the
#                           harness, the kernel and the input images; a later run with the
#                           same key reuses them instead of booting (e.g. the ASan pass);
#                           only the latest result of each scenario is kept
#                           K_FILES="F1 F2 ...": extra files put beside the guest script in
#                           /guest (e.g. our tools and their libraries; part of the key)
#   k_guest_tools TOOL...   copy our TOOLs and the shared libraries they need (an ASan build
#                           needs its runtime too; the guest's loader is the host's, from the
#                           base initramfs) to ./gt/ and set K_FILES to them
#   k_lvm2_files [ext4] [trixie]  skip (one line) unless Debian's lvm2 can be had
#                           (lib/fetch-lvm2); add lvm, its libraries and guest-lvm2.sh to
#                           ./gt/ (after k_guest_tools) and K_FILES; with `ext4` also mke2fs,
#                           e2fsck, mke2fs.conf and the ext4, jbd2, mbcache modules; with
#                           `trixie` trixie's lvm2 instead of bookworm's, as lvm2-trixie.tar
#                           (its own loader and libraries; the guest's lvm2_setup unpacks
#                           it); K_LVM2_VERSION = lvm2's version
#   k_thin_map XML          "dev vblock dblock" for every mapping in a thin_dump XML
#   k_thin_model OUT POOL [reserve]   from the W/SNAP/DELETE lines of ${K_LOG:-guest.out} (for POOL; with
#                           `reserve` only those before RESERVE) write OUT: one line per
#                           written sector "dev vblock idx wdev gen wsector" (idx = sector
#                           within the block; wdev/gen/wsector = the pattern it must hold)
#   k_model_blocks MODEL    "dev vblock" mapped blocks a model implies
#   k_model_runs MODEL DEV TAG  the sector runs of DEV as the guest's `runs` prints them
#   k_pattern DEV GEN FIRST N   the pattern sectors the guest's pwrite writes, on stdout
#   k_check_data MAP MODEL DATA_IMG BS LABEL   read each mapped block of DATA_IMG and compare
#                           each sector with MODEL (zero where MODEL has nothing); fails
#                           (k_bad) naming the first bad device/block/sector
#   k_vdev_hash MAP DEV DATA_IMG BS NBLOCKS  md5 of thin device DEV rebuilt from MAP
#   k_bad MSG / k_finish    record a failed check and go on / exit 1 if any was recorded, else 0

KLIB=$SRCDIR/tests/kernel/lib
KGUEST=$SRCDIR/tests/kernel/guest
K_NBAD=0

k_bad() {
	echo "FAIL: $*" >&2
	K_NBAD=$((K_NBAD + 1))
}

k_finish() {
	[ "$K_NBAD" = 0 ] || { echo "$K_NBAD check(s) failed" >&2; exit 1; }
	exit 0
}

k_require_vm() {
	kq=${DMMETA_QEMU:-qemu-system-x86_64}
	if ! command -v "$kq" >/dev/null 2>&1 && [ "${CI:-}" = true ] && [ "$(id -u)" = 0 ] &&
		[ "${DMMETA_NO_INSTALL:-0}" != 1 ]; then
		# Serialise with other scenarios installing at the same time.
		if command -v flock >/dev/null 2>&1; then
			flock -w 600 /tmp/dmmeta-qemu-install.lock sh -c \
				"command -v $kq >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends qemu-system-x86" \
				>qemu-install.log 2>&1
		else
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
				qemu-system-x86 >qemu-install.log 2>&1
		fi
	fi
	command -v "$kq" >/dev/null 2>&1 || skip "$kq not installed (apt-get install qemu-system-x86)"
	sh "$KLIB/fetch-kernel" -q 2>fetch.err ||
		skip "Debian kernel cannot be had: $(tail -n 1 fetch.err | sed 's/^fetch-kernel: //')"
	rm -f fetch.err qemu-install.log
	return 0
}

k_guest_tools() {
	mkdir -p gt || fail "cannot create gt/"
	for kt_t in "$@"; do
		cp "$BIN/$kt_t" gt/ || fail "cannot copy $BIN/$kt_t"
	done
	for kt_l in $(for kt_t in "$@"; do ldd "$BIN/$kt_t"; done |
		sed -n 's/.*=> *\(\/[^ ]*\) .*/\1/p' | sort -u); do
		cp -L "$kt_l" gt/ || fail "cannot copy $kt_l"
	done
	K_FILES=$(ls -d gt/*)
}

k_lvm2_files() {
	kl_ext4=
	kl_suite=bookworm
	for kl_a in "$@"; do
		case $kl_a in
		ext4) kl_ext4=1 ;;
		trixie) kl_suite=trixie ;;
		*) fail "k_lvm2_files: unknown argument $kl_a" ;;
		esac
	done
	sh "$KLIB/fetch-lvm2" -q 2>fetch-lvm2.err ||
		skip "Debian's lvm2 cannot be had: $(tail -n 1 fetch-lvm2.err | sed 's/^fetch-lvm2: //')"
	kl_d=${DMMETA_KERNEL_CACHE:-/var/tmp/dmmeta-kernel}/lvm2
	mkdir -p gt || fail "cannot create gt/"
	if [ "$kl_suite" = trixie ]; then
		LVM2_SUITE=trixie sh "$KLIB/fetch-lvm2" -q 2>fetch-lvm2.err ||
			skip "trixie's lvm2 cannot be had: $(tail -n 1 fetch-lvm2.err | sed 's/^fetch-lvm2: //')"
		cp "$kl_d-trixie/files/lvm2-trixie.tar" gt/ || fail "cannot copy lvm2-trixie.tar"
		K_LVM2_VERSION=$(cat "$kl_d-trixie/ready")
	else
		K_LVM2_VERSION=$(cat "$kl_d/ready")
	fi
	rm -f fetch-lvm2.err
	for kl_f in "$kl_d"/files/*; do
		case ${kl_f##*/} in
		*.ko|mke2fs|e2fsck|debugfs|mke2fs.conf) [ -n "$kl_ext4" ] || continue ;;
		lvm) [ "$kl_suite" = bookworm ] || continue ;;
		esac
		cp -n "$kl_f" gt/ || fail "cannot copy $kl_f"
	done
	cp "$KLIB/guest-lvm2.sh" gt/ || fail "cannot copy guest-lvm2.sh"
	K_FILES=$(ls -d gt/*)
}

k_guest() {
	kg_s=$1
	shift
	kg_key=
	if [ "${DMMETA_KERNEL_REUSE:-0}" = 1 ]; then
		kg_cache=${DMMETA_KERNEL_CACHE:-/var/tmp/dmmeta-kernel}
		# shellcheck disable=SC2086
		kg_key=$(cat "$KGUEST/$kg_s" "$KLIB/guest-lib.sh" "$KLIB/mkinitramfs" "$KLIB/run-guest" \
			"$kg_cache/ready" "$@" ${K_FILES:-} | cksum | tr ' ' -)
		kg_dir=$kg_cache/results/$kg_s-$kg_key
		if [ -f "$kg_dir/done" ]; then
			note "DMMETA_KERNEL_REUSE=1: reusing the VM results in $kg_dir"
			cp "$kg_dir/guest.out" "$kg_dir/console.log" .
			for kg_i in "$@"; do
				cp --sparse=always "$kg_dir/${kg_i##*/}" "$kg_i" || fail "cannot copy $kg_dir/${kg_i##*/}"
			done
			return 0
		fi
	fi
	kg_f=
	for kg_i in ${K_FILES:-}; do kg_f="$kg_f -f $kg_i"; done
	# shellcheck disable=SC2086
	# guest-runs.img: run-guest's runs disk (the guest's `runs` decoded on the host)
	rm -f guest-runs.img
	truncate -s 1G guest-runs.img || fail "cannot create guest-runs.img"
	sh "$KLIB/run-guest" -o guest.out -l console.log $kg_f -R guest-runs.img "$KGUEST/$kg_s" "$@" 2>run-guest.err
	kg_rc=$?
	rm -f guest-runs.img
	grep '^run-guest: retrying' run-guest.err 2>/dev/null | sed 's/^/note: /'
	if [ "$kg_rc" = 125 ]; then
		cat run-guest.err >&2
		fail "the VM did not run $kg_s to its end"
	fi
	if [ "$kg_rc" != 0 ]; then
		echo "--- guest output (tail)" >&2
		tail -n 30 guest.out >&2
		fail "guest script $kg_s exited with status $kg_rc"
	fi
	grep -q '^GUEST-FAIL' guest.out && { grep '^GUEST-FAIL' guest.out >&2; fail "guest reported a failure"; }
	if [ -n "$kg_key" ]; then
		kg_tmp=$kg_cache/results/.tmp-$kg_s.$$
		rm -rf "$kg_tmp"
		if mkdir -p "$kg_tmp" && cp guest.out console.log "$kg_tmp/" &&
			(for kg_i in "$@"; do cp --sparse=always "$kg_i" "$kg_tmp/" || exit 1; done) &&
			touch "$kg_tmp/done"; then
			rm -rf "$kg_cache/results/$kg_s-"*
			mv "$kg_tmp" "$kg_dir" || note "cannot save the VM results in $kg_dir"
		else
			note "cannot save the VM results in $kg_dir"
		fi
		rm -rf "$kg_tmp"
	fi
	return 0
}

k_thin_map() {
	awk '
	function attr(s, name,   r) {
		if (match(s, name "=\"[0-9]+\"")) {
			r = substr(s, RSTART + length(name) + 2, RLENGTH - length(name) - 3)
			return r + 0
		}
		return -1
	}
	/<device / { dev = attr($0, "dev_id") }
	/<range_mapping / {
		o = attr($0, "origin_begin"); d = attr($0, "data_begin"); n = attr($0, "length")
		for (i = 0; i < n; i++) print dev, o + i, d + i
	}
	/<single_mapping / { print dev, attr($0, "origin_block"), attr($0, "data_block") }
	' "$1"
}

k_thin_model() {
	awk -v pool="$2" -v upto="${3:-}" -v bs="${K_BS:-128}" '
	$2 != pool { next }
	$1 == "RESERVE" && upto == "reserve" { stop = 1 }
	stop { next }
	$1 == "W" {
		for (s = $5; s < $5 + $6; s++) { c[$3, s] = $3 " " $4 " " s; devs[$3] = 1 }
	}
	$1 == "DELETE" {
		for (k in c) { split(k, p, SUBSEP); if (p[1] == $3) delete c[k] }
		delete devs[$3]
	}
	$1 == "SNAP" {
		for (k in c) { split(k, p, SUBSEP); if (p[1] == $4) n[$3, p[2]] = c[k] }
		for (k in n) { split(k, p, SUBSEP); c[p[1], p[2]] = n[k] }
		delete n
		devs[$3] = 1
	}
	END {
		for (k in c) {
			split(k, p, SUBSEP)
			print p[1], int(p[2] / bs), p[2] % bs, c[k]
		}
	}' "${K_LOG:-guest.out}" | sort -n -k1,1 -k2,2 -k3,3 >"$1"
}

# Sector runs implied by a model, as the guest's `runs` prints them:
#   k_model_runs MODEL DEV TAG  ->  "RUNS TAG FIRST N WDEV GEN OFF"
k_model_runs() {
	awk -v d="$2" -v tag="$3" -v bs="${K_BS:-128}" '
	function flush() { if (n) print "RUNS", tag, first, n, key; n = 0 }
	$1 == d {
		s = $2 * bs + $3
		k = $4 " " $5 " " ($6 - s)
		if (n && k == key && s == first + n) { n++; next }
		flush(); first = s; n = 1; key = k
	}
	END { flush() }' "$1"
}

# Pattern sectors as the guest writes them (tests/kernel/lib/guest-lib.sh pwrite).
#   k_pattern DEV GEN FIRST_SECTOR NSECTORS  ->  stdout
k_pattern() {
	awk -v d="$1" -v g="$2" -v f="$3" -v n="$4" 'BEGIN {
		for (s = f; s < f + n; s++) printf "%-511s\n", "dmmeta dev=" d " gen=" g " sector=" s
	}'
}

# Mapped block set implied by a model: "dev vblock".
k_model_blocks() {
	awk '{ print $1, $2 }' "$1" | sort -u -n -k1,1 -k2,2
}

k_check_data() {
	kc_bs=$4
	kc_label=$5
	# The mapped blocks, in MAP's order, into one file: one dd per run of consecutive data
	# blocks (not four processes per block); then one pass over all their sectors.
	awk 'n && $3 == b + n { n++; next } { if (n) print b, n; b = $3; n = 1 } END { if (n) print b, n }' "$1" |
		while read -r kc_db kc_n; do
			dd if="$3" bs=$((kc_bs * 512)) skip="$kc_db" count="$kc_n" 2>/dev/null
		done | tr '\000\n' '..' | fold -w 512 |
		awk -v bs="$kc_bs" '
			NR == FNR { d[FNR - 1] = $1; v[FNR - 1] = $2; next }
			{
				k = FNR - 1; i = int(k / bs)
				if ($0 ~ /^dmmeta dev=[0-9]+ gen=[0-9]+ sector=[0-9]+ *\.$/) {
					split($0, f, /[ =]+/)
					print d[i], v[i], k % bs, f[3], f[5], f[7]
				} else if ($0 !~ /[^.]/) {
					# all zero: not listed
				} else {
					print d[i], v[i], k % bs, "garbage"
				}
			}' "$1" - >data.read
	sort -n -k1,1 -k2,2 -k3,3 data.read >data.read.s
	# The model, restricted to mapped blocks (unmapped ones are checked by the map
	# comparison), must equal what the data device holds.
	awk 'NR == FNR { m[$1 " " $2] = 1; next } ($1 " " $2) in m' "$1" "$2" >data.want
	if ! cmp -s data.want data.read.s; then
		diff data.want data.read.s | sed -n '2,6p' | while read -r kc_l; do
			echo "  $kc_l" >&2
		done
		kc_first=$(diff data.want data.read.s | sed -n 2p)
		set -- $kc_first
		k_bad "$kc_label: data block contents differ from the written pattern at dev $2 block $3 sector-in-block $4 (< expected, > found in the data image through the dumped mapping)"
		return 1
	fi
	return 0
}

k_vdev_hash() {
	rm -f vdev.img
	dd if=/dev/zero of=vdev.img bs=512 count=0 seek=$(($4 * $5)) 2>/dev/null
	# one dd per run of blocks consecutive in both the device and the data image
	awk -v d="$2" '
		$1 != d { next }
		n && $2 == v + n && $3 == b + n { n++; next }
		{ if (n) print v, b, n; v = $2; b = $3; n = 1 }
		END { if (n) print v, b, n }' "$1" | while read -r kv_vb kv_db kv_n; do
		dd if="$3" of=vdev.img bs=$(($4 * 512)) skip="$kv_db" seek="$kv_vb" count="$kv_n" \
			conv=notrunc 2>/dev/null
	done
	md5sum vdev.img | cut -d' ' -f1
	rm -f vdev.img
}

# SPDX-License-Identifier: GPL-2.0-only
# Helpers of the thin_merge golden cases (sourced by their cmd files).

# devs DUMP [FROM TO]: the thin_dump DUMP's device sections one line each ("ID|<device ...>|
# mappings..."), with device FROM renamed TO, sorted by id: the pool's devices, order-free
devs() {
	awk -v from="${2:--1}" -v to="${3:--1}" '
		/<device / { if (s != "") print s; id = $0; sub(/.*dev_id="/, "", id); sub(/".*/, "", id)
			if (id == from) { id = to; sub(/dev_id="[0-9]+"/, "dev_id=\"" to "\"") }
			s = id "|" $0; next }
		/<\/device>/ { print s; s = ""; next }
		s != "" { s = s "|" $0 }' "$1" | sort -t '|' -k1,1n
}

# both_check M: our thin_check and tpt 1.1's (when present) accept M
both_check() {
	$BIN/thin_check -q "$1" || { echo "our thin_check rejects $1"; return 1; }
	[ -z "$TPT11" ] || $TPT11 thin_check -q "$1" || { echo "tpt 1.1 thin_check rejects $1"; return 1; }
}

# rollback_oracle OLD NEW SNAP ORIGIN [keep]: NEW is what the kernel leaves after lvm2's merge
# (delete ORIGIN; SNAP renamed ORIGIN), or with keep after delete ORIGIN, create_snap ORIGIN
# SNAP; both checkers accept NEW
rollback_oracle() {
	cp "$1" oracle.bin
	$BIN/thin_message -q oracle.bin delete "$4" || return 1
	if [ "${5:-}" = keep ]; then
		$BIN/thin_message -q oracle.bin create_snap "$4" "$3" || return 1
		$BIN/thin_dump oracle.bin | devs /dev/stdin >want.devs
	else
		$BIN/thin_dump oracle.bin | devs /dev/stdin "$3" "$4" >want.devs
	fi
	$BIN/thin_dump "$2" | devs /dev/stdin >got.devs
	cmp -s want.devs got.devs || { echo "rollback: the devices differ from the oracle's"; diff want.devs got.devs | head; return 1; }
	$BIN/thin_dump "$2" | head -n 1 >got.sb && $BIN/thin_dump oracle.bin | head -n 1 >want.sb &&
		cmp -s want.sb got.sb || { echo "rollback: superblock differs"; return 1; }
	both_check "$2"
}

# fill FILE NBLOCKS WORD: NBLOCKS blocks of 64 KiB, block b holding "WORD b" lines
fill() {
	perl -e 'my ($n, $w) = @ARGV; for my $b (0 .. $n - 1) { my $l = sprintf("%s %07d\n", $w, $b);
		$l .= "." x (16 - length($l) % 16) if length($l) % 16; print substr($l x 65536, 0, 65536) }' \
		"$2" "$3" >"$1"
}

# view DUMP DEV DATA IMAGE OUT [LEN]: OUT = thin device DEV's view with IMAGE as its external
# origin (mapped blocks from DATA, the rest from IMAGE), LEN bytes (default IMAGE's size)
view() {
	perl -e '
		my ($dump, $dev, $data, $img, $out, $len) = @ARGV;
		open(my $d, "<", $dump) or die; open(my $D, "<:raw", $data) or die;
		open(my $I, "<:raw", $img) or die; local $/; my $v = <$I>; $len = length($v) unless $len;
		$v .= "\0" x ($len - length($v)) if $len > length($v); $v = substr($v, 0, $len);
		$/ = "\n"; my ($on, $bs) = (0, 0);
		while (<$d>) {
			$bs = $1 * 512 if /data_block_size="(\d+)"/;
			if (/<device dev_id="(\d+)"/) { $on = $1 == $dev; next }
			next unless $on;
			my @m;
			@m = ($1, $2, $3) if /origin_begin="(\d+)" data_begin="(\d+)" length="(\d+)"/;
			@m = ($1, $2, 1) if /origin_block="(\d+)" data_block="(\d+)"/;
			next unless @m;
			for my $i (0 .. $m[2] - 1) {
				my $o = ($m[0] + $i) * $bs; next if $o >= $len;
				my $n = $len - $o < $bs ? $len - $o : $bs; my $buf;
				seek($D, ($m[1] + $i) * $bs, 0); read($D, $buf, $n) == $n or die "short data";
				substr($v, $o, $n) = $buf;
			}
		}
		open(my $O, ">:raw", $out) or die; print $O $v;' "$@"
}

# Shared set-up of the thin_write golden cases (sourced by their cmd): a fresh pool m.bin
# (64 KiB blocks, 32 data blocks, thin device 0) and a data image d.bin full of "stale "
# (what a skipped zeroing leaves visible); tw ARGS runs thin_write on them and prints its
# exit; checks runs our thin_check and tpt 1.1's (when present) and says when one fails;
# view DEV SIZE OUT [ORIGIN] builds a volume's bytes from thin_dump's mappings and d.bin
# with dd (unmapped blocks: zeros, or ORIGIN's bytes), the independent model; same A B prints "same" or "DIFFER".
truncate -s 4M m.bin
perl -e 'print "stale " x 350000' | head -c 2097152 >d.bin
"$BIN"/thin_message -q --format --data-block-size 128 --nr-data-blocks 32 m.bin create_thin 0 ||
	echo "pool set-up failed"
tw() {
	"$BIN"/thin_write --metadata-dev m.bin --data-dev d.bin "$@"
	echo "exit $?"
}
checks() {
	"$BIN"/thin_check -q m.bin || echo "our thin_check rejects the pool"
	if [ -n "$TPT11" ]; then "$TPT11" thin_check -q m.bin || echo "tpt 1.1 thin_check rejects the pool"; fi
}
view() {
	rm -f "$3"
	[ -z "${4:-}" ] || cp "$4" "$3"
	truncate -s "$2" "$3"
	"$BIN"/thin_dump m.bin | awk -F'"' -v d="$1" '
		/<device / { dev = $2 }
		/<single_mapping / && dev == d { print $2, $4 }
		/<range_mapping / && dev == d { for (k = 0; k < $6; k++) print $2 + k, $4 + k }' |
	while read -r o b; do
		dd if=d.bin of="$3" bs=65536 skip="$b" seek="$o" count=1 conv=notrunc 2>/dev/null
	done
}
same() {
	if cmp -s "$1" "$2"; then echo same; else echo "DIFFER: $1 $2"; fi
}
# put FILE SECTOR OUT: FILE's bytes into OUT at a sector (the expected view)
put() {
	dd if="$1" of="$3" bs=512 seek="$2" conv=notrunc 2>/dev/null
}

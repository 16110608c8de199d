# Shared set-up of the thin_export / thin_import golden cases (sourced by their cmd):
# a pool m.bin (64 KiB blocks, 64 data blocks) restored from XML and a data image d.bin
# whose every 4 KiB piece names its data block and piece; model DEV SIZE OUT builds the
# volume's expected bytes with dd, block by block, from the XML (the independent model).
cat >pool.xml <<'XML'
<superblock uuid="" time="1" transaction="2" flags="0" version="2" data_block_size="128" nr_data_blocks="64">
  <device dev_id="0" mapped_blocks="7" transaction="1" creation_time="0" snap_time="1">
    <range_mapping origin_begin="0" data_begin="0" length="4" time="0"/>
    <range_mapping origin_begin="6" data_begin="10" length="2" time="0"/>
    <single_mapping origin_block="12" data_block="20" time="0"/>
  </device>
  <device dev_id="1" mapped_blocks="8" transaction="2" creation_time="1" snap_time="1">
    <range_mapping origin_begin="0" data_begin="0" length="4" time="0"/>
    <single_mapping origin_block="6" data_block="30" time="1"/>
    <single_mapping origin_block="7" data_block="11" time="0"/>
    <single_mapping origin_block="9" data_block="31" time="1"/>
    <single_mapping origin_block="10" data_block="21" time="1"/>
  </device>
  <device dev_id="2" mapped_blocks="0" transaction="2" creation_time="1" snap_time="1">
  </device>
</superblock>
XML
dd if=/dev/zero of=m.bin bs=4096 count=256 2>/dev/null
"$BIN"/thin_restore -q -i pool.xml -o m.bin || echo "pool set-up failed"
perl -e 'for $b (0..63) { for $k (0..15) { $s = sprintf("data block %3d piece %2d ", $b, $k); print substr($s x 200, 0, 4096) } }' >d.bin
# data block 21 holds zeros (a mapped block of zeros)
dd if=/dev/zero of=d.bin bs=65536 seek=21 count=1 conv=notrunc 2>/dev/null
model() {
	rm -f "$3"
	truncate -s "$2" "$3"
	awk -F'"' -v d="$1" '
		/<device / { dev = $2 }
		/<single_mapping / && dev == d { print $2, $4 }
		/<range_mapping / && dev == d { for (k = 0; k < $6; k++) print $2 + k, $4 + k }' pool.xml |
	while read -r o b; do
		[ $((o * 65536)) -lt "$2" ] || continue
		dd if=d.bin of="$3" bs=65536 skip="$b" seek="$o" count=1 conv=notrunc 2>/dev/null
	done
}
export_args="--metadata-dev m.bin --data-dev d.bin"

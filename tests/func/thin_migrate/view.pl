#!/usr/bin/perl
# SPDX-License-Identifier: GPL-2.0-only
# view.pl DUMP.xml DEV DATA SIZE_BYTES [ORIGIN]: write to stdout the view of thin device
# DEV that thin_dump's XML describes: each mapped block from the data image DATA at its
# data block, each unmapped one from ORIGIN (below its size) or zeros; SIZE_BYTES long.
# The reference for thin_migrate, independent of libmeta's copy.
use strict;
use warnings;
my ($dump, $dev, $data, $size, $origin) = @ARGV;
open(my $x, '<', $dump) or die "$dump: $!\n";
my ($bs, $in, %map);
while (<$x>) {
	$bs = $1 * 512 if /<superblock .*data_block_size="(\d+)"/;
	if (/<device dev_id="(\d+)"/) { $in = $1 == $dev; next; }
	next unless $in;
	if (/<range_mapping origin_begin="(\d+)" data_begin="(\d+)" length="(\d+)"/) {
		$map{$1 + $_} = $2 + $_ for 0 .. $3 - 1;
	} elsif (/<single_mapping origin_block="(\d+)" data_block="(\d+)"/) {
		$map{$1} = $2;
	}
}
open(my $d, '<', $data) or die "$data: $!\n";
my ($o, $osize);
if (defined $origin) { open($o, '<', $origin) or die "$origin: $!\n"; $osize = -s $o; }
binmode STDOUT;
for (my $off = 0; $off < $size; $off += $bs) {
	my $n = $size - $off < $bs ? $size - $off : $bs;
	my $b = $off / $bs;
	my $buf = "\0" x $n;
	if (exists $map{$b}) {
		sysseek($d, $map{$b} * $bs, 0);
		sysread($d, $buf, $n) == $n or die "short read of data block $map{$b}\n";
	} elsif ($o && $off < $osize) {
		my $m = $osize - $off < $n ? $osize - $off : $n;
		sysseek($o, $off, 0);
		sysread($o, $buf, $m);
		$buf .= "\0" x ($n - $m);
	}
	print $buf;
}

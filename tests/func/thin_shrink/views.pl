#!/usr/bin/perl
# SPDX-License-Identifier: GPL-2.0-only
# views.pl DUMP.xml DATA_IMAGE: every thin device's view of the data, one line per device:
# "dev D: M blocks, md5 H" (H over the virtual block numbers and the bytes each reads,
# <def>/<ref> expanded).  Exit 1 (with a message) when a mapping's data block is at or
# above the superblock's nr_data_blocks or past the image's end.
use strict;
use warnings;
use Digest::MD5;
my ($xml, $img) = @ARGV;
open(my $x, '<', $xml) or die "$xml: $!\n";
open(my $d, '<', $img) or die "$img: $!\n";
binmode $d;
my ($bs, $nr, %defs, $cur, $dev, @out);
my $bad = 0;
my @maps; # [vb, db, len] of the current device
sub flush_dev {
	my $md5 = Digest::MD5->new;
	my $n = 0;
	for my $m (sort { $a->[0] <=> $b->[0] } @maps) {
		for my $i (0 .. $m->[2] - 1) {
			my $db = $m->[1] + $i;
			if ($db >= $nr) {
				print STDERR "dev $dev: virtual block ", $m->[0] + $i, " maps data block $db >= nr_data_blocks $nr\n" unless $bad++;
			}
			my $buf = '';
			sysseek($d, $db * $bs, 0);
			my $got = sysread($d, $buf, $bs);
			if (!defined $got || $got != $bs) {
				print STDERR "dev $dev: data block $db is past the image's end\n" unless $bad++;
			}
			$md5->add(($m->[0] + $i) . ":", $buf);
			$n++;
		}
	}
	push @out, "dev $dev: $n blocks, md5 " . $md5->hexdigest . "\n";
}
while (<$x>) {
	if (/<superblock .*data_block_size="(\d+)" nr_data_blocks="(\d+)"/) {
		($bs, $nr) = ($1 * 512, $2);
	} elsif (/<def name="([^"]+)"/) {
		$cur = $defs{$1} = [];
	} elsif (/<\/def>/) {
		undef $cur;
	} elsif (/<device dev_id="(\d+)"/) {
		$dev = $1;
		@maps = ();
	} elsif (/<\/device>/) {
		flush_dev();
		undef $dev;
	} elsif (/<ref name="([^"]+)"/) {
		push @maps, @{$defs{$1}};
	} elsif (/<range_mapping origin_begin="(\d+)" data_begin="(\d+)" length="(\d+)"/) {
		push @{$cur // \@maps}, [$1, $2, $3];
	} elsif (/<single_mapping origin_block="(\d+)" data_block="(\d+)"/) {
		push @{$cur // \@maps}, [$1, $2, 1];
	}
}
die "no superblock in $xml\n" unless $bs;
print @out;
exit($bad ? 1 : 0);

#!/usr/bin/perl
# SPDX-License-Identifier: GPL-2.0-only
# pattern.pl IMAGE NR_BLOCKS BLOCK_BYTES: a sparse data image whose every block carries
# its own number at its start and at its end ("<block N>"), zeros between: any block
# read in another's place shows.
use strict;
use warnings;
my ($img, $nr, $bs) = @ARGV;
open(my $f, '>', $img) or die "$img: $!\n";
binmode $f;
for my $b (0 .. $nr - 1) {
	my $tag = sprintf("<block %d>", $b);
	sysseek($f, $b * $bs, 0) or die;
	syswrite($f, $tag) == length($tag) or die "$img: $!\n";
	sysseek($f, ($b + 1) * $bs - length($tag), 0) or die;
	syswrite($f, $tag) == length($tag) or die "$img: $!\n";
}
truncate($f, $nr * $bs) or die "$img: $!\n";
close($f) or die "$img: $!\n";

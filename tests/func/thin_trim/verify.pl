#!/usr/bin/perl
# SPDX-License-Identifier: GPL-2.0-only
# verify.pl ORIG TRIMMED DUMP.xml...: after thin_trim, the trimmed data image has holes
# (SEEK_HOLE/SEEK_DATA) over every data block no dump maps (free), whole, and every block
# a dump maps (used: thin_dump and thin_dump -m of a pool holding a metadata snapshot)
# reads as in ORIG, byte for byte; bytes past the pool's last block too.  Prints one
# summary line; exit 1 on a mismatch.
use strict;
use warnings;
my ($orig, $trim, @dumps) = @ARGV;
my ($bs, $nr, %used);
for my $dump (@dumps) {
open(my $x, '<', $dump) or die "$dump: $!\n";
while (<$x>) {
	if (/<superblock .*data_block_size="(\d+)" nr_data_blocks="(\d+)"/) {
		($bs, $nr) = ($1 * 512, $2) if !defined $nr || $2 > $nr;
	} elsif (/<range_mapping .*data_begin="(\d+)" length="(\d+)"/) {
		$used{$_} = 1 for $1 .. $1 + $2 - 1;
	} elsif (/<single_mapping .*data_block="(\d+)"/) {
		$used{$1} = 1;
	}
}
}
die "no superblock in @dumps\n" unless $bs;
open(my $o, '<', $orig) or die "$orig: $!\n";
open(my $t, '<', $trim) or die "$trim: $!\n";
my $size = -s $t;
# hole ranges of the trimmed image, in bytes
my @holes;
my $off = 0;
while ($off < $size) {
	my $h = sysseek($t, $off, 4);    # SEEK_HOLE
	last unless defined $h && $h < $size;
	my $d = sysseek($t, $h, 3);      # SEEK_DATA
	$d = $size unless defined $d;
	push @holes, [$h, $d];
	$off = $d;
}
sub in_hole {
	my ($b, $e) = @_;
	for (@holes) { return 1 if $_->[0] <= $b && $e <= $_->[1]; }
	return 0;
}
my ($bad, $nused, $nfree, $nruns) = (0, 0, 0, 0);
for my $b (0 .. $nr - 1) {
	my ($s, $e) = ($b * $bs, ($b + 1) * $bs);
	if ($used{$b}) {
		$nused++;
		my ($a, $c);
		sysseek($o, $s, 0); sysread($o, $a, $bs);
		sysseek($t, $s, 0); sysread($t, $c, $bs);
		if ($a ne $c) { print "used block $b changed\n"; $bad++; }
	} else {
		$nfree++;
		$nruns++ if $b == 0 || $used{$b - 1};
		unless (in_hole($s, $e)) { print "free block $b is not a hole\n"; $bad++; }
	}
	last if $bad > 10;
}
my $tail = $nr * $bs;
my $osize = -s $o;
if ($size != $osize) { print "size changed: $osize -> $size\n"; $bad++; }
if (!$bad && $tail < $size) {
	my ($a, $c);
	sysseek($o, $tail, 0); sysread($o, $a, $size - $tail);
	sysseek($t, $tail, 0); sysread($t, $c, $size - $tail);
	if ($a ne $c) { print "bytes past the pool's data blocks changed\n"; $bad++; }
	else { printf "%d bytes past the pool's data blocks unchanged\n", $size - $tail; }
}
printf "%s: %d used blocks unchanged, %d free blocks in %d ranges are holes\n",
	$bad ? "MISMATCH" : "ok", $nused, $nfree, $nruns;
exit($bad ? 1 : 0);

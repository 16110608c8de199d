/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fz_seed — write an image file in the fuzz targets' sparse image format (fuzz_common.h).
 *   fz_seed [-f FLAGS] [-a AUX] IMAGE > SEED
 *   fz_seed -d SEED > IMAGE      the other way: the image a target sees (checksums fixed
 *                                up), to replay a finding with the command-line tools
 * Every non-zero 4 KiB block becomes one record holding the block up to its last non-zero
 * byte; a block whose checksum is valid for one of the four persistent-data block types
 * gets the 'F' 'Z' T 0 tag in place of its checksum, so the targets fix it up again after
 * mutation.  The header's size is the image size.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"

static void le32(uint8_t *p, uint32_t v)
{
	fz_put_le32(p, v);
}

static int decode_seed(const char *path)
{
	struct fz_image im;
	uint8_t *in = NULL, *img;
	size_t n = 0, len;
	FILE *f = fopen(path, "rb");
	int c;
	if (!f) {
		perror(path);
		return 3;
	}
	while ((c = getc(f)) != EOF) {
		if (!(n & 4095) && !(in = realloc(in, n + 4096)))
			return 3;
		in[n++] = (uint8_t)c;
	}
	fclose(f);
	if (fz_image(&im, in, n, 0)) {
		fprintf(stderr, "%s: shorter than the %u-byte header\n", path, FZ_HDR);
		return 1;
	}
	fprintf(stderr, "flags 0x%02x aux %u size %llu\n", im.flags, im.aux,
		(unsigned long long)im.size);
	img = fz_slurp(&im.f, &len);
	fwrite(img, 1, len, stdout);
	free(img);
	free(in);
	fz_image_close(&im);
	return fflush(stdout) ? 3 : 0;
}

int main(int argc, char **argv)
{
	unsigned long flags = 0, aux = 0;
	uint8_t hdr[FZ_HDR], rec[6], *blk;
	uint64_t size = 0, off = 0;
	FILE *in;
	int c;

	int decode = 0;

	while ((c = getopt(argc, argv, "f:a:d")) != -1) {
		if (c == 'd')
			decode = 1;
		else if (c == 'f')
			flags = strtoul(optarg, NULL, 0);
		else if (c == 'a')
			aux = strtoul(optarg, NULL, 0);
		else
			return 2;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: fz_seed [-f FLAGS] [-a AUX] IMAGE > SEED | fz_seed -d SEED > IMAGE\n");
		return 2;
	}
	if (decode)
		return decode_seed(argv[optind]);
	in = fopen(argv[optind], "rb");
	blk = malloc(FZ_BLOCK);
	if (!in || !blk) {
		perror(argv[optind]);
		return 3;
	}
	if (fseek(in, 0, SEEK_END) == 0)
		size = (uint64_t)ftell(in);
	rewind(in);
	hdr[0] = (uint8_t)flags;
	le32(hdr + 1, (uint32_t)size);
	le32(hdr + 5, (uint32_t)aux);
	fwrite(hdr, 1, sizeof(hdr), stdout);
	for (;;) {
		size_t n = fread(blk, 1, FZ_BLOCK, in), len = n;
		if (!n)
			break;
		while (len && !blk[len - 1])
			len--;
		if (len) {
			if (n == FZ_BLOCK) {
				for (uint8_t t = 1; t <= 4; t++) {
					if (fz_le32(blk) == meta_block_csum(blk, FZ_BLOCK, fz_salts[t])) {
						blk[0] = 'F';
						blk[1] = 'Z';
						blk[2] = t;
						blk[3] = 0;
						break;
					}
				}
			}
			/* records hold at most 65535 bytes: a block always fits */
			le32(rec, (uint32_t)off);
			rec[4] = (uint8_t)len;
			rec[5] = (uint8_t)(len >> 8);
			fwrite(rec, 1, sizeof(rec), stdout);
			fwrite(blk, 1, len, stdout);
		}
		off += n;
	}
	free(blk);
	fclose(in);
	return fflush(stdout) ? 3 : 0;
}

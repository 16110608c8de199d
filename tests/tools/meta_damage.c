// SPDX-License-Identifier: GPL-2.0-only
/*
 * meta_damage — damage one block of a metadata image in a generic way, for the damage sweep
 * (tests/cli/damage-sweep.sh).  thin_damage makes targeted, checksum-correct damage; this
 * tool breaks any block by number.
 *
 *   meta_damage [-b BYTES] IMAGE OP [ARGS]
 *     -b BYTES          block size (default 4096; classic snapshot stores: the chunk size)
 *   Ops:
 *     used              print the numbers of the blocks that are not all zero, one a line
 *     kind B            print the block's validator by its checksum: sb, node, bitmap,
 *                       index or none (thin-pool salts; 4 KiB blocks)
 *     flip B BYTE BIT   invert bit BIT (0-7) of byte BYTE of block B; a checksum is left wrong
 *     flipfix B BYTE BIT  the same, then re-stamp the block's checksum with the validator salt
 *                       it had (so the damage reaches the parsers); as flip when it had none
 *     zero B            overwrite block B with zeros
 *     swap A B          exchange blocks A and B
 *     setval B IDX V    set value IDX of btree node B (8-byte values only) to V and re-stamp
 *                       its checksum: a child pointer aimed at the node itself or at a root
 *                       makes a cycle
 * Exit 0 done, 1 cannot (message on stderr), 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmeta/crc32c.h>

static const struct { const char *name; uint32_t salt; } kinds[] = {
	{ "sb", 160774u }, { "node", 121107u }, { "bitmap", 240779u }, { "index", 160478u },
};

static size_t bs = 4096;
static int fd = -1;
static const char *img;
static uint8_t *blk_a, *blk_b;

static void cleanup(void)
{
	free(blk_a);
	free(blk_b);
	if (fd >= 0)
		close(fd);
}

static int usage(void)
{
	fprintf(stderr, "usage: meta_damage [-b BYTES] IMAGE used|kind B|flip B BYTE BIT|"
			"flipfix B BYTE BIT|zero B|swap A B|setval B IDX V\n");
	return 2;
}

static uint64_t num(const char *s)
{
	char *end;
	uint64_t v;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end) {
		fprintf(stderr, "meta_damage: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static void rd(uint64_t b, uint8_t *buf)
{
	if (pread(fd, buf, bs, (off_t)(b * bs)) != (ssize_t)bs) {
		fprintf(stderr, "meta_damage: cannot read block %" PRIu64 " of %s\n", b, img);
		exit(1);
	}
}

static void wr(uint64_t b, const uint8_t *buf)
{
	if (pwrite(fd, buf, bs, (off_t)(b * bs)) != (ssize_t)bs) {
		fprintf(stderr, "meta_damage: cannot write block %" PRIu64 " of %s: %s\n", b, img,
			strerror(errno));
		exit(1);
	}
}

static int kind_of(const uint8_t *buf)
{
	uint32_t stored;
	unsigned i;
	if (bs < 8)
		return -1;
	memcpy(&stored, buf, 4);	/* little-endian hosts only, as the tests */
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (meta_block_csum(buf, bs, kinds[i].salt) == stored)
			return (int)i;
	return -1;
}

int main(int argc, char **argv)
{
	uint8_t *a, *b;
	struct stat st;
	uint64_t nblocks, x, y;
	const char *op;
	int ai = 1;

	if (argc > 2 && !strcmp(argv[1], "-b")) {
		bs = (size_t)num(argv[2]);
		if (bs < 16 || bs > (1u << 24))
			return usage();
		ai = 3;
	}
	if (argc - ai < 2)
		return usage();
	img = argv[ai];
	op = argv[ai + 1];
	fd = open(img, O_RDWR);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "meta_damage: %s: %s\n", img, strerror(errno));
		return 1;
	}
	nblocks = (uint64_t)st.st_size / bs;
	a = blk_a = calloc(1, bs);
	b = blk_b = calloc(1, bs);
	atexit(cleanup);
	if (!a || !b)
		return 1;
	argv += ai + 2;
	argc -= ai + 2;
	if (!strcmp(op, "used") && argc == 0) {
		for (x = 0; x < nblocks; x++) {
			size_t i;
			rd(x, a);
			for (i = 0; i < bs && !a[i]; i++)
				;
			if (i < bs)
				printf("%" PRIu64 "\n", x);
		}
		return 0;
	}
	if (argc < 1)
		return usage();
	x = num(argv[0]);
	if (x >= nblocks) {
		fprintf(stderr, "meta_damage: block %" PRIu64 " past the end (%" PRIu64 " blocks)\n",
			x, nblocks);
		return 1;
	}
	rd(x, a);
	if (!strcmp(op, "kind") && argc == 1) {
		int k = kind_of(a);
		puts(k < 0 ? "none" : kinds[k].name);
		return 0;
	}
	if ((!strcmp(op, "flip") || !strcmp(op, "flipfix")) && argc == 3) {
		uint64_t byte = num(argv[1]), bit = num(argv[2]);
		int k = kind_of(a);
		if (byte >= bs || bit > 7)
			return usage();
		a[byte] ^= (uint8_t)(1u << bit);
		if (!strcmp(op, "flipfix") && k >= 0) {
			uint32_t c = meta_block_csum(a, bs, kinds[k].salt);
			memcpy(a, &c, 4);
		}
		wr(x, a);
		return 0;
	}
	if (!strcmp(op, "zero") && argc == 1) {
		memset(a, 0, bs);
		wr(x, a);
		return 0;
	}
	if (!strcmp(op, "swap") && argc == 2) {
		y = num(argv[1]);
		if (y >= nblocks)
			return usage();
		rd(y, b);
		wr(x, b);
		wr(y, a);
		return 0;
	}
	if (!strcmp(op, "setval") && argc == 3) {
		uint64_t idx = num(argv[1]), v = num(argv[2]);
		uint32_t max, vs, c;
		memcpy(&max, a + 20, 4);
		memcpy(&vs, a + 24, 4);
		if (bs != 4096 || kind_of(a) != 1 || vs != 8 || idx >= max ||
		    32 + (uint64_t)max * 16 > bs) {
			fprintf(stderr, "meta_damage: block %" PRIu64 " is not a btree node with "
				"8-byte values and a value %" PRIu64 "\n", x, idx);
			return 1;
		}
		memcpy(a + 32 + 8 * (size_t)max + 8 * idx, &v, 8);
		c = meta_block_csum(a, bs, kinds[1].salt);
		memcpy(a, &c, 4);
		wr(x, a);
		return 0;
	}
	return usage();
}

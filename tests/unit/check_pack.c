/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests of the pack format (libmeta/thin/pack.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <libmeta/bm.h>
#include <libmeta/crc32c.h>
#include <libmeta/error.h>
#include <libmeta/pack.h>

#include "base/endian.h"
#include "pdata/ondisk.h"
#include "unit_base.h"

static char dir[UB_PATH_MAX];

static void path_in(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

/* Write a pack file holding one chunk with the given raw (uncompressed) chunk bytes. */
static void write_pack(const char *p, uint64_t nr_blocks, const uint8_t *raw, size_t rawlen)
{
	uint8_t hdr[40];
	uLongf clen = compressBound(rawlen);
	uint8_t *z = malloc(clen);
	FILE *f = fopen(p, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(compress(z, &clen, raw, rawlen), Z_OK);
	put_le64p(hdr, META_PACK_MAGIC);
	put_le64p(hdr + 8, 3);
	put_le64p(hdr + 16, 4096);
	put_le64p(hdr + 24, nr_blocks);
	put_le64p(hdr + 32, clen);
	fwrite(hdr, 1, 40, f);
	fwrite(z, 1, clen, f);
	fclose(f);
	free(z);
}

/*
 * A btree-node-like block built by a program that uses every instruction, then a
 * literal tail; the expected block is built by hand.
 */
START_TEST(test_vm_every_instruction)
{
	static uint8_t want[4096], got[4096], prog[8192];
	char pk[UB_PATH_MAX + 16], out[UB_PATH_MAX + 16];
	size_t n = 0, w = 0;
	uint32_t csum;
	FILE *f;
	struct meta_pack_stats st;
#define E64(v) (put_le64p(want + w, (v)), w += 8)
	prog[n++] = 0x98;                   /* Lit 8: checksum slot + 4 bytes, patched below */
	memset(prog + n, 0, 8);
	n += 8;
	memset(want, 0, 8);
	w += 8;
	prog[n++] = 0x08;                   /* Set width 8 */
	put_le64p(prog + n, 0x1122334455667788ull);
	n += 8;
	E64(0x1122334455667788ull);
	prog[n++] = 0x13;                   /* Pos 3 */
	E64(0x112233445566778bull);
	prog[n++] = 0x73;                   /* Count 3 */
	prog[n++] = 0x32;                   /* Neg 2 (x3) */
	E64(0x1122334455667789ull);
	E64(0x1122334455667787ull);
	E64(0x1122334455667785ull);
	prog[n++] = 0x22;                   /* PosW 2 */
	prog[n++] = 0x00;
	prog[n++] = 0x01;                   /* +256 */
	E64(0x1122334455667885ull);
	prog[n++] = 0x41;                   /* NegW 1 */
	prog[n++] = 0x05;
	E64(0x1122334455667880ull);
	prog[n++] = 0x54;                   /* Const 4 */
	for (int i = 0; i < 4; i++)
		E64(0x1122334455667880ull);
	prog[n++] = 0x01;                   /* Set width 1: 7 */
	prog[n++] = 7;
	E64(7);
	prog[n++] = 0x60;                   /* Const8 0x10 = 16 */
	prog[n++] = 0x10;
	for (int i = 0; i < 16; i++)
		E64(7);
	prog[n++] = 0x80;                   /* Count8 20 */
	prog[n++] = 20;
	prog[n++] = 0x11;                   /* Pos 1 (x20) */
	for (int i = 0; i < 20; i++)
		E64(8 + i);
	/* ShiftedRun of 3 values: high = 5,6,7 ; low = 1,1,1 */
	prog[n++] = 0xB0;
	prog[n++] = 3;
	prog[n++] = 0x01;
	prog[n++] = 5;                      /* high: Set 5 */
	prog[n++] = 0x21;
	prog[n++] = 1;                      /* PosW 1 */
	prog[n++] = 0x11;                   /* Pos 1 */
	prog[n++] = 0x01;
	prog[n++] = 1;                      /* low: Set 1 */
	prog[n++] = 0x52;                   /* Const 2 */
	for (int i = 0; i < 3; i++)
		E64((uint64_t)(5 + i) << 24 | 1);
	prog[n++] = 0x93;                   /* Lit 3 */
	memcpy(prog + n, "abc", 3);
	n += 3;
	memcpy(want + w, "abc", 3);
	w += 3;
	/* LitW 2 for the rest */
	{
		size_t rest = 4096 - w;
		prog[n++] = 0xA2;
		prog[n++] = rest & 0xff;
		prog[n++] = (uint8_t)(rest >> 8);
		for (size_t i = 0; i < rest; i++)
			want[w + i] = prog[n + i] = (uint8_t)(i * 7);
		n += rest;
		w += rest;
	}
	/* make it a valid btree node checksum: the unpacker verifies it */
	csum = meta_block_csum(want, 4096, 121107);
	put_le32p(want, csum);
	put_le32p(prog + 1, csum);         /* into the leading literal */
	{
		uint8_t raw[8 + sizeof(prog)];
		put_le64p(raw, 1); /* block 1 */
		memcpy(raw + 8, prog, n);
		path_in(pk, sizeof(pk), "vm.pack");
		write_pack(pk, 3, raw, 8 + n);
	}
	path_in(out, sizeof(out), "vm.out");
	ck_assert_int_eq(meta_unpack(pk, out, false, &st), META_OK);
	ck_assert_uint_eq(st.nr_packed, 1);
	f = fopen(out, "rb");
	fseek(f, 4096, SEEK_SET);
	ck_assert_int_eq(fread(got, 1, 4096, f), 4096);
	fclose(f);
	ck_assert_mem_eq(got, want, 4096);
	unlink(pk);
	unlink(out);
#undef E64
}
END_TEST

START_TEST(test_unpack_rejects)
{
	char pk[UB_PATH_MAX + 16], out[UB_PATH_MAX + 16];
	struct meta_pack_stats st;
	uint8_t raw[8 + 3 + 4096];
	FILE *f;
	path_in(pk, sizeof(pk), "bad.pack");
	path_in(out, sizeof(out), "bad.out");
	/* not a pack */
	f = fopen(pk, "wb");
	fputs("hello, this is not a pack file at all....", f);
	fclose(f);
	ck_assert_int_eq(meta_unpack(pk, out, false, &st), META_E_BADMAGIC);
	/* a block whose checksum is no metadata type */
	put_le64p(raw, 0);
	raw[8] = 0xA2;
	raw[9] = 0;
	raw[10] = 16;
	memset(raw + 11, 0x42, 4096);
	write_pack(pk, 2, raw, sizeof(raw));
	unlink(out);
	ck_assert_int_eq(meta_unpack(pk, out, false, &st), META_E_CHECKSUM);
	/* a program that runs off its end */
	raw[10] = 17; /* literal longer than the data */
	write_pack(pk, 2, raw, sizeof(raw));
	unlink(out);
	ck_assert_int_eq(meta_unpack(pk, out, false, &st), META_E_CORRUPT);
	/* a block number past nr_blocks */
	raw[10] = 16;
	put_le32p(raw + 11, meta_block_csum(raw + 11, 4096, 121107));
	put_le64p(raw, 5);
	write_pack(pk, 2, raw, sizeof(raw));
	unlink(out);
	ck_assert_int_eq(meta_unpack(pk, out, false, &st), META_E_CORRUPT);
	unlink(pk);
	unlink(out);
}
END_TEST

/* thin-provisioning-tools' own pack of fixtures/thin/many.bin.gz unpacks to it exactly,
 * and our pack of it unpacks to it exactly too */
START_TEST(test_tpt_pack_fixture)
{
	const char *pk = ub_fixture("thin/many.tpt.pack");
	char out[UB_PATH_MAX + 16], img[UB_PATH_MAX], cmd[1024], ours[UB_PATH_MAX + 16];
	struct meta_pack_stats st;
	path_in(out, sizeof(out), "many.out");
	path_in(ours, sizeof(ours), "many.pack");
	ub_fixture_gunzip("thin/many.bin.gz", img, "pack");
	ck_assert_int_eq(meta_unpack(pk, out, false, &st), META_OK);
	ck_assert_uint_eq(st.nr_blocks, 1024);
	ck_assert_uint_gt(st.nr_packed, 100);
	snprintf(cmd, sizeof(cmd), "cmp -s %s %s", img, out);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(meta_pack(img, ours, &st), META_OK);
	ck_assert_int_eq(meta_unpack(ours, out, true, &st), META_OK);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(meta_unpack(ours, out, false, &st), META_E_EXISTS);
	unlink(out);
	unlink(img);
	unlink(ours);
}
END_TEST

static uint64_t lcg(uint64_t *x)
{
	*x = *x * 6364136223846793005ull + 1442695040888963407ull;
	return *x >> 11;
}

/* A btree node at blk (block b) with the given keys/values pattern and a valid checksum. */
static void make_node(uint8_t *blk, uint64_t b, uint32_t flags, uint32_t max, uint32_t vsize,
		      uint64_t *rnd, int pattern)
{
	struct disk_node_header *h = (struct disk_node_header *)blk;
	uint32_t nr = max ? (uint32_t)(lcg(rnd) % (max + 1)) : 0;
	ub_node(blk, flags, vsize, max, 0, NULL, NULL);
	h->blocknr = le64_of(b);
	h->nr_entries = le32_of(nr);
	for (size_t off = sizeof(*h); off + 8 <= 4096; off += 8) {
		uint64_t i = (off - 32) / 8, v;
		switch (pattern) {
		case 0: v = lcg(rnd) << (lcg(rnd) % 20); break;            /* noise, huge values */
		case 1: v = i < 40 ? 1000 - 3 * i : i % 7 ? i : UINT64_MAX - i; break;
		case 2: v = (i / 9) * 17 + ((lcg(rnd) % 11) == 0) * 1000000007ull; break;
		default: v = i % 5 == 0 ? 0 : (uint64_t)1 << (i % 64); break;
		}
		put_le64p(blk + off, v);
	}
	h->csum = le32_of(meta_block_csum(blk, 4096, 121107));
}

/*
 * Nodes of every shape (leaves and internal nodes, value sizes 8, 4, 24 and
 * absurd ones, max_entries 0 to past the block, keys and values that rise,
 * fall, repeat, jump past 2^63) survive a pack and unpack unchanged; and the
 * copies of one leaf that sit far apart in the image (as in a chain of
 * snapshots) are packed next to each other: the pack is a fraction of what
 * zlib alone achieves on the blocks in disk order.
 */
START_TEST(test_pack_encoder_roundtrip)
{
	static const uint32_t maxes[] = {0, 1, 2, 15, 16, 126, 252, 254, 255, 336, 508, 509, 70000};
	static const uint32_t vsizes[] = {8, 4, 24, 1, 0, 4064, 0xfffffffcu};
	enum { NB = 640, NDISTINCT = 64 };
	char img[UB_PATH_MAX + 16], pk[UB_PATH_MAX + 16], out[UB_PATH_MAX + 16], cmd[1024];
	struct meta_pack_stats st;
	uint8_t *blk = malloc(4096);
	uint64_t rnd = 42;
	FILE *f;
	size_t i;

	path_in(img, sizeof(img), "enc.bin");
	path_in(pk, sizeof(pk), "enc.pack");
	path_in(out, sizeof(out), "enc.out");
	f = fopen(img, "wb");
	ck_assert_ptr_nonnull(f);
	for (i = 0; i < NB; i++) {
		if (i < 400) {
			make_node(blk, i, i % 3 == 0 ? 1 : 2, maxes[i % 13], vsizes[(i / 13) % 7], &rnd,
				  (int)(i % 4));
		} else {
			/* leaf copy (i - 400) / NDISTINCT of leaf (i % NDISTINCT): a few entries differ */
			uint64_t r2 = 1000 + i % NDISTINCT;
			make_node(blk, 0, 2, 252, 8, &r2, 0);
			for (int k = 0; k < 3; k++)
				put_le64p(blk + 32 + 252 * 8 + 8 * (lcg(&rnd) % 252), lcg(&rnd));
			put_le64p(blk + 8, i);
			put_le32p(blk, meta_block_csum(blk, 4096, 121107));
		}
		ck_assert_int_eq(fwrite(blk, 1, 4096, f), 4096);
	}
	fclose(f);
	{
		/* the 240 snapshot-like leaves alone: their pack against zlib in disk order */
		char cp[UB_PATH_MAX + 16];
		uLongf zl = compressBound(240 * 4096);
		uint8_t *all = malloc(240 * 4096), *z = malloc(zl);
		f = fopen(img, "rb");
		fseek(f, 400 * 4096, SEEK_SET);
		ck_assert_int_eq(fread(all, 1, 240 * 4096, f), 240 * 4096);
		fclose(f);
		path_in(cp, sizeof(cp), "copies.bin");
		f = fopen(cp, "wb");
		ck_assert_int_eq(fwrite(all, 1, 240 * 4096, f), 240 * 4096);
		fclose(f);
		ck_assert_int_eq(compress2(z, &zl, all, 240 * 4096, 9), Z_OK);
		ck_assert_int_eq(meta_pack(cp, pk, &st), META_OK);
		ck_assert_uint_lt(st.bytes, zl / 3);
		unlink(cp);
		unlink(pk);
		free(all);
		free(z);
	}
	ck_assert_int_eq(meta_pack(img, pk, &st), META_OK);
	ck_assert_uint_eq(st.nr_packed, NB);
	ck_assert_int_eq(meta_unpack(pk, out, false, &st), META_OK);
	snprintf(cmd, sizeof(cmd), "cmp -s %s %s", img, out);
	ck_assert_int_eq(system(cmd), 0);
	unlink(img);
	unlink(pk);
	unlink(out);
	free(blk);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pack");
	int failed;
	TCase *tc = ub_tcase(s, "pack", 0);
	if (ub_tmpdir(dir, "pack"))
		return 1;
	tcase_add_test(tc, test_vm_every_instruction);
	tcase_add_test(tc, test_unpack_rejects);
	tcase_add_test(tc, test_tpt_pack_fixture);
	tcase_add_test(tc, test_pack_encoder_roundtrip);
	failed = ub_run(s);
	rmdir(dir);
	return failed;
}

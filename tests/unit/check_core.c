/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests of libmeta's core layers: crc32c, io, validators, cache, btree, space maps, thin sb. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmeta/bm.h>
#include <libmeta/btree.h>
#include <libmeta/crc32c.h>
#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/sm.h>
#include <libmeta/thin.h>

#include "base/endian.h"
#include "base/util.h"
#include "pdata/ondisk.h"
#include "unit_base.h"

static char tmpl[UB_PATH_MAX];

static const char *tmpfile_blocks(unsigned nr_blocks)
{
	ub_tmpfile(tmpl, "unit", (uint64_t)nr_blocks * META_BLOCK_SIZE);
	return tmpl;
}

/* Build a btree node in buf (checksum stamped for location b). */
static void mk_node(uint8_t *buf, uint64_t b, uint32_t flags, uint32_t vs, uint32_t n,
		    const uint64_t *keys, const void *values)
{
	ub_node(buf, flags, vs, UB_MAX, n, keys, values);
	meta_node_validator.prepare(&meta_node_validator, buf, b);
}

/* ---- crc32c --------------------------------------------------------------- */

START_TEST(test_crc_known_vector)
{
	/* standard crc32c("123456789") = 0xE3069283; the raw form omits the final inversion */
	ck_assert_uint_eq(meta_crc32c(0xffffffffu, "123456789", 9) ^ 0xffffffffu, 0xE3069283u);
	ck_assert_uint_eq(meta_crc32c_sw(0xffffffffu, "123456789", 9) ^ 0xffffffffu, 0xE3069283u);
}
END_TEST

START_TEST(test_crc_hw_equals_sw)
{
	uint8_t buf[5000];
	srand(7);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rand();
	for (size_t off = 0; off < 9; off++)
		for (size_t len = 0; len < 300; len += 7)
			ck_assert_uint_eq(meta_crc32c(0x12345678u, buf + off, len),
					  meta_crc32c_sw(0x12345678u, buf + off, len));
	ck_assert_uint_eq(meta_crc32c(0xffffffffu, buf, 4092), meta_crc32c_sw(0xffffffffu, buf, 4092));
	/* around the three-stream pieces of the hardware path (3 * 1360 bytes) */
	for (size_t off = 0; off < 9; off++)
		for (size_t len = 4070; len < 4100; len++)
			ck_assert_uint_eq(meta_crc32c(0xffffffffu, buf + off, len),
					  meta_crc32c_sw(0xffffffffu, buf + off, len));
	ck_assert_uint_eq(meta_crc32c(0u, buf, 4990), meta_crc32c_sw(0u, buf, 4990));
	ck_assert_uint_eq(meta_crc32c(0xabcdef01u, buf + 4, 8168 / 2), meta_crc32c_sw(0xabcdef01u, buf + 4, 8168 / 2));
}
END_TEST

/* ---- validators ------------------------------------------------------------ */

START_TEST(test_node_validator)
{
	static uint8_t buf[META_BLOCK_SIZE];
	uint64_t keys[3] = {1, 5, 9}, vals[3] = {10, 50, 90};
	struct disk_node_header *h = (struct disk_node_header *)buf;
	mk_node(buf, 42, META_NODE_LEAF, 8, 3, keys, vals);
	ck_assert_int_eq(meta_node_validator.check(&meta_node_validator, buf, 42), META_OK);
	ck_assert_int_eq(meta_node_validator.check(&meta_node_validator, buf, 43), META_E_BLOCKNR);
	buf[100] ^= 1;
	ck_assert_int_eq(meta_node_validator.check(&meta_node_validator, buf, 42), META_E_CHECKSUM);
	buf[100] ^= 1;
	/* nr_entries > max_entries */
	h->nr_entries = le32_of(253);
	meta_node_validator.prepare(&meta_node_validator, buf, 42);
	ck_assert_int_eq(meta_node_validator.check(&meta_node_validator, buf, 42), META_E_CORRUPT);
	h->nr_entries = le32_of(3);
	/* both flags */
	h->flags = le32_of(META_NODE_LEAF | META_NODE_INTERNAL);
	meta_node_validator.prepare(&meta_node_validator, buf, 42);
	ck_assert_int_eq(meta_node_validator.check(&meta_node_validator, buf, 42), META_E_CORRUPT);
	/* values overflow the block */
	h->flags = le32_of(META_NODE_LEAF);
	h->value_size = le32_of(100);
	meta_node_validator.prepare(&meta_node_validator, buf, 42);
	ck_assert_int_eq(meta_node_validator.check(&meta_node_validator, buf, 42), META_E_CORRUPT);
}
END_TEST

/*
 * The shared steps in every validator, and a validator of a format the block manager does
 * not know (blocknr at 16): a block wrong in location and checksum is a checksum error.
 */
static int demo_check(const struct meta_validator *v, const void *data, uint64_t b)
{
	return meta_block_check(v, data, b, 16);
}

static void demo_prepare(const struct meta_validator *v, void *data, uint64_t b)
{
	meta_block_prepare(v, data, b, 16);
}

START_TEST(test_validator_order)
{
	static const struct meta_validator demo = {"demo", 12345u, demo_check, demo_prepare};
	const struct meta_validator *vs[] = {&meta_thin_sb_validator, &meta_node_validator,
					     &meta_bitmap_validator, &meta_index_validator, &demo};
	static uint8_t buf[META_BLOCK_SIZE];
	uint64_t keys[1] = {1}, vals[1] = {2};
	for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
		const struct meta_validator *v = vs[i];
		mk_node(buf, 0, META_NODE_LEAF, 8, 1, keys, vals); /* valid node bounds */
		put_le64p(buf + 32, META_THIN_MAGIC);              /* the superblock's magic */
		v->prepare(v, buf, 7);
		ck_assert_int_eq(v->check(v, buf, 7), META_OK);
		ck_assert_int_eq(v->check(v, buf, 8), META_E_BLOCKNR);
		buf[4000] ^= 1;
		ck_assert_int_eq(v->check(v, buf, 7), META_E_CHECKSUM);
		ck_assert_int_eq(v->check(v, buf, 8), META_E_CHECKSUM); /* wrong in both */
	}
	ck_assert_uint_eq(get_le64p(buf + 16), 7); /* demo stamped its own field */
}
END_TEST

START_TEST(test_salts_differ)
{
	static uint8_t buf[META_BLOCK_SIZE];
	memset(buf, 0, sizeof(buf));
	meta_bitmap_validator.prepare(&meta_bitmap_validator, buf, 7);
	ck_assert_int_eq(meta_bitmap_validator.check(&meta_bitmap_validator, buf, 7), META_OK);
	ck_assert_int_eq(meta_index_validator.check(&meta_index_validator, buf, 7), META_E_CHECKSUM);
	ck_assert_int_eq(meta_node_validator.check(&meta_node_validator, buf, 7), META_E_CHECKSUM);
	ck_assert_uint_eq(meta_thin_sb_validator.csum_xor, 160774);
	ck_assert_uint_eq(meta_node_validator.csum_xor, 121107);
	ck_assert_uint_eq(meta_bitmap_validator.csum_xor, 240779);
	ck_assert_uint_eq(meta_index_validator.csum_xor, 160478);
}
END_TEST

START_TEST(test_max_entries)
{
	ck_assert_uint_eq(meta_btree_max_entries(8), 252);
	ck_assert_uint_eq(meta_btree_max_entries(24), 126);
	ck_assert_uint_eq(meta_btree_max_entries(16), 168);
	ck_assert_uint_eq(meta_btree_max_entries(4), 336);
}
END_TEST

/* ---- io / cache ---------------------------------------------------------- */

START_TEST(test_io_open_errors)
{
	struct meta_io *io;
	ck_assert_int_eq(meta_io_open("/nonexistent/dmmeta", 0, &io), META_E_NOENT);
	ck_assert_int_eq(meta_io_open("/tmp", 0, &io), META_E_ISDIR);
	ck_assert_ptr_null(io);
}
END_TEST

struct batch_seen {
	uint64_t last;
	int n, errs;
};

static int batch_cb(void *ctx, uint64_t b, const void *data, int err)
{
	struct batch_seen *s = ctx;
	ck_assert(s->n == 0 || b > s->last);
	s->last = b;
	s->n++;
	if (err)
		s->errs++;
	else
		ck_assert_uint_eq(le64_get(((const struct disk_node_header *)data)->blocknr), b);
	return 0;
}

START_TEST(test_cache_and_batch)
{
	const char *p = tmpfile_blocks(300);
	static uint8_t buf[META_BLOCK_SIZE];
	struct meta_io *io;
	struct meta_bm *bm;
	uint64_t list[] = {250, 3, 3, 17, 299, 16, 400, 120, 121};
	struct batch_seen seen = {0, 0, 0};
	for (uint64_t b = 0; b < 300; b++) {
		uint64_t k = b;
		mk_node(buf, b, META_NODE_LEAF, 8, 1, &k, &k);
		ub_write_block(p, b, buf);
	}
	ck_assert_int_eq(meta_io_open(p, 0, &io), META_OK);
	ck_assert_int_eq(meta_bm_create(io, 4, &bm), META_OK);
	ck_assert_uint_eq(meta_bm_nr_blocks(bm), 300);
	srand(3);
	for (int i = 0; i < 5000; i++) {
		const void *d1, *d2;
		uint64_t b1 = (uint64_t)rand() % 300, b2 = (uint64_t)rand() % 300;
		ck_assert_int_eq(meta_bm_get(bm, b1, &meta_node_validator, &d1), META_OK);
		ck_assert_int_eq(meta_bm_get(bm, b2, &meta_node_validator, &d2), META_OK);
		ck_assert_uint_eq(meta_node_key(d1, 0), b1);
		ck_assert_uint_eq(meta_node_key(d2, 0), b2);
		meta_bm_put(bm, d2);
		meta_bm_put(bm, d1);
	}
	{
		const void *d;
		ck_assert_int_eq(meta_bm_get(bm, 300, NULL, &d), META_E_RANGE);
		ck_assert_int_eq(meta_bm_get(bm, 5, &meta_bitmap_validator, &d), META_E_CHECKSUM);
	}
	ck_assert_int_eq(meta_bm_read_batch(bm, list, sizeof(list) / sizeof(list[0]),
					    &meta_node_validator, batch_cb, &seen),
			 META_OK);
	ck_assert_int_eq(seen.n, 8); /* duplicate 3 folded */
	ck_assert_int_eq(seen.errs, 1); /* block 400 is past the end */
	meta_bm_destroy(bm);
	unlink(p);
}
END_TEST

START_TEST(test_io_fail_writes)
{
	const char *p = tmpfile_blocks(4);
	static uint8_t buf[META_BLOCK_SIZE];
	struct meta_io *io;
	ck_assert_int_eq(meta_io_open(p, META_IO_WRITE, &io), META_OK);
	meta_io_fail_writes_after(io, 2);
	ck_assert_int_eq(meta_io_pwrite(io, buf, sizeof(buf), 0), META_OK);
	ck_assert_int_eq(meta_io_pwrite(io, buf, sizeof(buf), 4096), META_OK);
	ck_assert_int_eq(meta_io_pwrite(io, buf, sizeof(buf), 8192), META_E_IO);
	ck_assert_uint_eq(meta_io_nr_writes(io), 2);
	meta_io_close(io);
	ck_assert_int_eq(meta_io_open(p, 0, &io), META_OK);
	ck_assert_int_eq(meta_io_pwrite(io, buf, sizeof(buf), 0), META_E_PERM);
	meta_io_close(io);
	unlink(p);
}
END_TEST

/* ---- btree ------------------------------------------------------------------ */

struct walk_rec {
	uint64_t keys[64];
	int nkeys;
	enum meta_damage_kind dk[8];
	uint64_t dlo[8], dhi[8];
	int nd;
	int skip_underfull;
};

static int rec_leaf(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	struct walk_rec *w = ctx;
	for (uint32_t i = 0; i < ni->nr_entries; i++)
		w->keys[w->nkeys++] = meta_node_key(node, i);
	return 0;
}

static void rec_damage(void *ctx, const struct meta_damage *d)
{
	struct walk_rec *w = ctx;
	if (d->kind == META_DMG_NODE_UNDERFULL && w->skip_underfull)
		return;
	if (w->nd < 8) {
		w->dk[w->nd] = d->kind;
		w->dlo[w->nd] = d->begin;
		w->dhi[w->nd] = d->end;
	}
	w->nd++;
}

/* root (block 1) → leaves 2 [0,1,2], 3 [10,11], 4 [20,30] */
static const char *mk_tree(void)
{
	const char *p = tmpfile_blocks(8);
	static uint8_t buf[META_BLOCK_SIZE];
	uint64_t rk[3] = {0, 10, 20}, rv[3] = {2, 3, 4};
	uint64_t k2[3] = {0, 1, 2}, v2[3] = {100, 101, 102};
	uint64_t k3[2] = {10, 11}, v3[2] = {110, 111};
	uint64_t k4[2] = {20, 30}, v4[2] = {120, 130};
	mk_node(buf, 1, META_NODE_INTERNAL, 8, 3, rk, rv);
	ub_write_block(p, 1, buf);
	mk_node(buf, 2, META_NODE_LEAF, 8, 3, k2, v2);
	ub_write_block(p, 2, buf);
	mk_node(buf, 3, META_NODE_LEAF, 8, 2, k3, v3);
	ub_write_block(p, 3, buf);
	mk_node(buf, 4, META_NODE_LEAF, 8, 2, k4, v4);
	ub_write_block(p, 4, buf);
	return p;
}

START_TEST(test_btree_lookup_walk)
{
	const char *p = mk_tree();
	struct meta_io *io;
	struct meta_bm *bm;
	struct walk_rec w;
	struct meta_btree_walk_ops ops = {rec_leaf, rec_damage};
	uint64_t v;
	static const uint64_t expect[] = {0, 1, 2, 10, 11, 20, 30};
	ck_assert_int_eq(meta_io_open(p, 0, &io), META_OK);
	ck_assert_int_eq(meta_bm_create(io, 0, &bm), META_OK);
	ck_assert_int_eq(meta_btree_lookup(bm, 1, 11, &v, 8), META_OK);
	ck_assert_uint_eq(v, 111);
	ck_assert_int_eq(meta_btree_lookup(bm, 1, 30, &v, 8), META_OK);
	ck_assert_uint_eq(v, 130);
	ck_assert_int_eq(meta_btree_lookup(bm, 1, 12, &v, 8), META_E_NOTFOUND);
	ck_assert_int_eq(meta_btree_lookup(bm, 1, 31, &v, 8), META_E_NOTFOUND);
	memset(&w, 0, sizeof(w));
	w.skip_underfull = 1;
	meta_btree_walk(bm, 1, 8, &ops, &w);
	ck_assert_int_eq(w.nkeys, 7);
	ck_assert_int_eq(w.nd, 0);
	for (int i = 0; i < 7; i++)
		ck_assert_uint_eq(w.keys[i], expect[i]);
	meta_bm_destroy(bm);
	unlink(p);
}
END_TEST

START_TEST(test_btree_walk_past_damage)
{
	const char *p = mk_tree();
	struct meta_io *io;
	struct meta_bm *bm;
	struct walk_rec w;
	struct meta_btree_walk_ops ops = {rec_leaf, rec_damage};
	static uint8_t junk[META_BLOCK_SIZE];
	memset(junk, 0xab, sizeof(junk));
	ub_write_block(p, 3, junk); /* lose the middle leaf */
	ck_assert_int_eq(meta_io_open(p, 0, &io), META_OK);
	ck_assert_int_eq(meta_bm_create(io, 0, &bm), META_OK);
	memset(&w, 0, sizeof(w));
	w.skip_underfull = 1;
	meta_btree_walk(bm, 1, 8, &ops, &w);
	ck_assert_int_eq(w.nkeys, 5);
	ck_assert_int_eq(w.nd, 1);
	ck_assert_int_eq(w.dk[0], META_DMG_NODE_CHECKSUM);
	ck_assert_uint_eq(w.dlo[0], 10);
	ck_assert_uint_eq(w.dhi[0], 20);
	/* wrong value size for a leaf is damage too */
	memset(&w, 0, sizeof(w));
	meta_btree_walk(bm, 1, 24, &ops, &w);
	ck_assert_int_eq(w.nkeys, 0);
	ck_assert_int_ge(w.nd, 2);
	ck_assert_int_eq(w.dk[0], META_DMG_NODE_VALUE_SIZE);
	meta_bm_destroy(bm);
	unlink(p);
}
END_TEST

START_TEST(test_node_check_keys)
{
	static uint8_t buf[META_BLOCK_SIZE];
	uint64_t keys[3] = {5, 3, 9}, vals[3] = {0, 0, 0};
	struct walk_rec w;
	memset(&w, 0, sizeof(w));
	mk_node(buf, 9, META_NODE_LEAF, 8, 3, keys, vals);
	ck_assert_int_eq(meta_node_check(buf, 9, 8, 0, UINT64_MAX, 1, rec_damage, &w), META_SEV_FATAL);
	ck_assert_int_eq(w.dk[0], META_DMG_NODE_KEY_ORDER);
	keys[1] = 7;
	mk_node(buf, 9, META_NODE_LEAF, 8, 3, keys, vals);
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(meta_node_check(buf, 9, 8, 6, 100, 1, rec_damage, &w), META_SEV_FATAL);
	ck_assert_int_eq(w.dk[0], META_DMG_NODE_KEY_RANGE);
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(meta_node_check(buf, 9, 8, 0, 100, 0, rec_damage, &w), META_SEV_NONFATAL);
	ck_assert_int_eq(w.dk[0], META_DMG_NODE_UNDERFULL);
}
END_TEST

/* ---- space maps ----------------------------------------------------------- */

struct sum {
	uint64_t total, n, c5;
};

static int sum_cb(void *ctx, uint64_t first, const uint32_t *c, uint32_t n)
{
	struct sum *s = ctx;
	for (uint32_t i = 0; i < n; i++) {
		s->total += c[i];
		if (first + i == 19999)
			s->c5 = c[i];
	}
	s->n += n;
	return 0;
}

START_TEST(test_metadata_sm)
{
	/* 20000 blocks: index at 1, bitmaps at 2 and 3, ref count tree leaf at 4 */
	const char *p = tmpfile_blocks(8);
	static uint8_t buf[META_BLOCK_SIZE];
	struct disk_metadata_index *mi = (struct disk_metadata_index *)buf;
	struct meta_sm_root root = {20000, 0, 1, 4};
	struct meta_io *io;
	struct meta_bm *bm;
	struct sum s = {0, 0, 0};
	uint32_t c;
	uint64_t rk = 19999;
	uint8_t rv[4];
	memset(buf, 0, sizeof(buf));
	mi->index[0].blocknr = le64_of(2);
	mi->index[1].blocknr = le64_of(3);
	meta_index_validator.prepare(&meta_index_validator, buf, 1);
	ub_write_block(p, 1, buf);
	memset(buf, 0, sizeof(buf));
	ub_bitmap_set(buf, 0, 1);
	ub_bitmap_set(buf, 1, 2);
	ub_bitmap_set(buf, 16319, 1);
	meta_bitmap_validator.prepare(&meta_bitmap_validator, buf, 2);
	ub_write_block(p, 2, buf);
	memset(buf, 0, sizeof(buf));
	ub_bitmap_set(buf, 19999 - 16320, 3);
	meta_bitmap_validator.prepare(&meta_bitmap_validator, buf, 3);
	ub_write_block(p, 3, buf);
	put_le32p(rv, 5);
	mk_node(buf, 4, META_NODE_LEAF, 4, 1, &rk, rv);
	ub_write_block(p, 4, buf);

	ck_assert_int_eq(meta_io_open(p, 0, &io), META_OK);
	ck_assert_int_eq(meta_bm_create(io, 0, &bm), META_OK);
	ck_assert_int_eq(meta_sm_read_counts(bm, META_SM_METADATA, &root, sum_cb, NULL, &s), META_OK);
	ck_assert_uint_eq(s.n, 20000);
	ck_assert_uint_eq(s.total, 1 + 2 + 1 + 5);
	ck_assert_uint_eq(s.c5, 5);
	ck_assert_int_eq(meta_sm_get_count(bm, META_SM_METADATA, &root, 1, &c), META_OK);
	ck_assert_uint_eq(c, 2);
	ck_assert_int_eq(meta_sm_get_count(bm, META_SM_METADATA, &root, 19999, &c), META_OK);
	ck_assert_uint_eq(c, 5);
	ck_assert_int_eq(meta_sm_get_count(bm, META_SM_METADATA, &root, 20000, &c), META_E_RANGE);
	meta_bm_destroy(bm);
	unlink(p);
}
END_TEST

/* ---- thin superblock ------------------------------------------------------- */

START_TEST(test_thin_sb_roundtrip)
{
	static uint8_t buf[META_BLOCK_SIZE], buf2[META_BLOCK_SIZE];
	const struct disk_thin_sb *dsb = (const struct disk_thin_sb *)buf;
	struct meta_thin_sb sb, sb2;
	memset(&sb, 0, sizeof(sb));
	sb.flags = 1;
	sb.magic = META_THIN_MAGIC;
	sb.version = 2;
	sb.time = 7;
	sb.trans_id = 123456789012ull;
	sb.held_root = 99;
	sb.data_sm.nr_blocks = 1000;
	sb.metadata_sm.bitmap_root = 1;
	sb.data_mapping_root = 8;
	sb.device_details_root = 7;
	sb.data_block_size = 128;
	sb.metadata_block_size = 8;
	sb.metadata_nr_blocks = 64;
	sb.incompat_flags = 0;
	meta_thin_sb_pack(&sb, buf);
	ck_assert_uint_eq(le64_get(dsb->magic), 27022010);
	ck_assert_uint_eq(le64_get(dsb->held_root), 99);
	ck_assert_uint_eq(le32_get(dsb->data_block_size), 128);
	meta_thin_sb_unpack(buf, &sb2);
	meta_thin_sb_pack(&sb2, buf2);
	ck_assert_mem_eq(buf, buf2, META_BLOCK_SIZE);
	ck_assert_uint_eq(sb2.trans_id, sb.trans_id);
	ck_assert_int_eq(meta_thin_sb_check(&sb2, 64, NULL, NULL), META_SEV_INFO); /* needs_check */
	sb2.data_block_size = 100;
	ck_assert_int_eq(meta_thin_sb_check(&sb2, 64, NULL, NULL), META_SEV_FATAL);
}
END_TEST

START_TEST(test_thin_open_errors)
{
	struct meta_thin *t;
	const char *p;
	FILE *f;
	ck_assert_int_eq(meta_thin_open("/nonexistent/x", NULL, &t), META_E_NOENT);
	ck_assert_int_eq(meta_thin_open("/tmp", NULL, &t), META_E_ISDIR);
	p = tmpfile_blocks(10);
	ck_assert_int_eq(meta_thin_open(p, NULL, &t), META_E_CHECKSUM); /* zeroed superblock */
	f = fopen(p, "r+");
	fputs("<superblock uuid=\"\"", f);
	fclose(f);
	ck_assert_int_eq(meta_thin_open(p, NULL, &t), META_E_LOOKSXML);
	ck_assert_int_eq(truncate(p, 1024), 0);
	f = fopen(p, "r+");
	fputs("xx", f);
	fclose(f);
	ck_assert_int_eq(meta_thin_open(p, NULL, &t), META_E_TOOSMALL);
	unlink(p);
}
END_TEST

/* The large arrays' allocator: zeroed, page-aligned from META_HUGE_MIN bytes (on a 2 MiB
 * boundary when mapped); growth across the calloc/mapping line keeps the contents; a size
 * that overflows is refused with the array unchanged. */
START_TEST(test_huge_arrays)
{
	uint8_t *s = meta_huge_alloc(100);
	ck_assert_ptr_nonnull(s);
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(s[i], 0);
	meta_huge_free(s, 100);
	size_t big = META_HUGE_MIN + 12345;
	uint8_t *b = meta_huge_alloc(big);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq((uintptr_t)b % 4096, 0);
	if (META_HUGE_MAPPED)
		ck_assert_uint_eq((uintptr_t)b % META_HUGE_MIN, 0);
	ck_assert_uint_eq(b[0] | b[big / 2] | b[big - 1], 0);
	memset(b, 0xab, big);
	meta_huge_free(b, big);
	meta_huge_free(NULL, big);

	uint32_t *v = NULL;
	size_t cap = 0, n = 3 * META_HUGE_MIN / sizeof(*v);
	for (size_t i = 0; i < n; i++) {
		if (meta_huge_grow((void **)&v, &cap, i + 1, sizeof(*v)) || cap < i + 1)
			ck_abort_msg("growth to %zu elements failed (capacity %zu)", i + 1, cap);
		v[i] = (uint32_t)i * 2654435761u;
	}
	ck_assert_uint_ge(cap * sizeof(*v), META_HUGE_MIN);
	for (size_t i = 0; i < n; i++)
		if (v[i] != (uint32_t)i * 2654435761u)
			ck_abort_msg("element %zu lost in growth", i);
	ck_assert_int_eq(meta_huge_grow((void **)&v, &cap, SIZE_MAX / 2, sizeof(*v)), META_E_NOMEM);
	uint64_t *w = NULL;
	size_t wcap = 0;
	ck_assert_int_eq(meta_grow((void **)&w, &wcap, SIZE_MAX / 4, sizeof(*w)), META_E_NOMEM);
	ck_assert_ptr_null(w);
	ck_assert_uint_eq(wcap, 0);
	ck_assert_uint_eq(v[n - 1], (uint32_t)(n - 1) * 2654435761u);
	meta_huge_free(v, cap * sizeof(*v));
}
END_TEST

START_TEST(test_errors_table)
{
	ck_assert_str_eq(meta_errname(META_E_CHECKSUM), "META_E_CHECKSUM");
	ck_assert_str_eq(meta_strerror(META_OK), "success");
	ck_assert_str_eq(meta_strerror(-5), "unknown error");
	ck_assert_str_eq(meta_damage_name(META_DMG_META_LEAK), "META_LEAK");
	ck_assert_int_eq(meta_damage_default_severity(META_DMG_META_LEAK), META_SEV_NONFATAL);
	ck_assert_int_eq(meta_damage_default_severity(META_DMG_DATA_BAD_COUNT), META_SEV_FATAL);
	for (int e = 0; e < META_E__COUNT; e++)
		ck_assert_ptr_nonnull(meta_strerror(e));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core");
	TCase *tc = ub_tcase(s, "core", 0);
	tcase_add_test(tc, test_crc_known_vector);
	tcase_add_test(tc, test_crc_hw_equals_sw);
	tcase_add_test(tc, test_node_validator);
	tcase_add_test(tc, test_validator_order);
	tcase_add_test(tc, test_salts_differ);
	tcase_add_test(tc, test_max_entries);
	tcase_add_test(tc, test_io_open_errors);
	tcase_add_test(tc, test_cache_and_batch);
	tcase_add_test(tc, test_io_fail_writes);
	tcase_add_test(tc, test_btree_lookup_walk);
	tcase_add_test(tc, test_btree_walk_past_damage);
	tcase_add_test(tc, test_node_check_keys);
	tcase_add_test(tc, test_metadata_sm);
	tcase_add_test(tc, test_huge_arrays);
	tcase_add_test(tc, test_thin_sb_roundtrip);
	tcase_add_test(tc, test_thin_open_errors);
	tcase_add_test(tc, test_errors_table);
	return ub_run(s);
}

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of the mapping forest, meta_thin_ls(), meta_thin_rmap() and their
 * helpers.  Pools are hand-built in a temporary image: device mapping trees
 * share subtrees at different heights (as after a snapshot whose origin's root
 * later split), share whole roots, and have exclusive parts; results are
 * compared against brute force over the same in-memory model.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/bm.h>
#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/thin.h>
#include <libmeta/thin_ls.h>
#include <libmeta/thin_rmap.h>

#include "base/endian.h"
#include "unit_base.h"

#define NBLOCKS 512u
#define NR_DATA 2000u
#define MAXN 64

/* ---- in-memory model of the trees ----------------------------------------- */

struct mnode {
	int leaf;
	uint32_t n;
	uint64_t keys[MAXN], vals[MAXN]; /* leaf vals: data block; internal: model node index */
	uint64_t block;
};

static struct mnode model[64];
static int nmodel;

static int mleaf(uint64_t vbegin, uint32_t n, const uint64_t *data)
{
	struct mnode *m = &model[nmodel];
	m->leaf = 1;
	m->n = n;
	for (uint32_t i = 0; i < n; i++) {
		m->keys[i] = vbegin + i;
		m->vals[i] = data[i];
	}
	return nmodel++;
}

static int mint(uint32_t n, const int *kids)
{
	struct mnode *m = &model[nmodel];
	m->leaf = 0;
	m->n = n;
	for (uint32_t i = 0; i < n; i++) {
		m->vals[i] = (uint64_t)kids[i];
		m->keys[i] = model[kids[i]].keys[0];
	}
	return nmodel++;
}

/* ---- image writing ---------------------------------------------------------- */

static char path[UB_PATH_MAX];
static struct meta_bm *wbm;
static uint64_t next_block;

static uint64_t put_raw_node(int leaf, uint32_t n, const uint64_t *keys, const uint64_t *vals,
			     uint32_t vs)
{
	uint8_t blk[UB_BLOCK_SIZE];
	uint64_t b = next_block++;
	ck_assert_uint_lt(b, NBLOCKS);
	ub_node(blk, leaf ? META_NODE_LEAF : META_NODE_INTERNAL, vs, UB_MAX, n, keys, NULL);
	for (uint32_t i = 0; i < n; i++) {
		if (vs == 8)
			put_le64p(ub_node_value(blk, i), vals[i]);
		else /* details: {mapped_blocks, transaction, ctime, stime} from vals[i] = dev */
			ub_details(ub_node_value(blk, i), 1000 + vals[i], 7 * vals[i], (uint32_t)vals[i],
				   (uint32_t)vals[i] + 1);
	}
	ck_assert_int_eq(meta_bm_write(wbm, b, &meta_node_validator, blk), 0);
	return b;
}

/* Write model node i (children first); returns its block. */
static uint64_t write_model(int i)
{
	struct mnode *m = &model[i];
	uint64_t vals[MAXN];
	if (m->block)
		return m->block;
	for (uint32_t k = 0; k < m->n; k++)
		vals[k] = m->leaf ? (m->vals[k] << 24) | 3u : write_model((int)m->vals[k]);
	m->block = put_raw_node(m->leaf, m->n, m->keys, vals, 8);
	return m->block;
}

static void image_begin(void)
{
	struct meta_io *io;
	ub_tmpfile(path, "thin_ls", (uint64_t)NBLOCKS * UB_BLOCK_SIZE);
	ck_assert_int_eq(meta_io_open(path, META_IO_WRITE, &io), 0);
	ck_assert_int_eq(meta_bm_create(io, 64, &wbm), 0);
	next_block = 1;
	nmodel = 0;
	memset(model, 0, sizeof(model));
}

/* Superblock + top-level tree + details tree for devices dev_ids[i] -> model roots[i]. */
static void image_finish(size_t n, const uint64_t *dev_ids, const int *roots)
{
	uint64_t rblocks[MAXN], top, det;
	uint8_t blk[4096];
	struct meta_thin_sb sb;
	for (size_t i = 0; i < n; i++)
		rblocks[i] = write_model(roots[i]);
	top = put_raw_node(1, (uint32_t)n, dev_ids, rblocks, 8);
	det = put_raw_node(1, (uint32_t)n, dev_ids, dev_ids, 24);
	memset(&sb, 0, sizeof(sb));
	sb.magic = META_THIN_MAGIC;
	sb.version = 2;
	sb.data_sm.nr_blocks = NR_DATA;
	sb.metadata_sm.nr_blocks = NBLOCKS;
	sb.data_mapping_root = top;
	sb.device_details_root = det;
	sb.data_block_size = 128;
	sb.metadata_block_size = 8;
	sb.metadata_nr_blocks = NBLOCKS;
	meta_thin_sb_pack(&sb, blk);
	ck_assert_int_eq(meta_bm_write(wbm, 0, &meta_thin_sb_validator, blk), 0);
	ck_assert_int_eq(meta_bm_flush(wbm), 0);
	meta_bm_destroy(wbm);
	wbm = NULL;
}

static struct meta_thin *open_image(void)
{
	struct meta_thin *t;
	ck_assert_int_eq(meta_thin_open(path, NULL, &t), 0);
	return t;
}

static void image_end(struct meta_thin *t)
{
	meta_thin_close(t);
	unlink(path);
}

/* ---- the standard shared pool ------------------------------------------------ */

enum { A, B, C, D, E, F, NDEV };
static const uint64_t devids[NDEV] = {1, 2, 5, 6, 9, 12};
static int droots[NDEV];
static int L[8];

/*
 * A: RA -> {X -> {L1, L2}, Y -> {L3, L4}}   height 2
 * B: X                                       height 1, shares A's subtree
 * C: L4                                      height 0, shares A's leaf at another height
 * D: RA                                      shares A's whole tree
 * E: L5 (maps data 500..504 and, at v5, data 100 which L1 maps too)
 * F: Z -> {L6, L7}; L7 maps one of L3's data blocks
 */
static void build_shared_pool(void)
{
	uint64_t d[MAXN];
	int x, y, ra, z;
	image_begin();
	for (int i = 0; i < 10; i++)
		d[i] = 100 + (uint64_t)i;
	L[1] = mleaf(0, 10, d);
	for (int i = 0; i < 10; i++)
		d[i] = 200 + (uint64_t)i;
	L[2] = mleaf(10, 10, d);
	for (int i = 0; i < 10; i++)
		d[i] = 300 + (uint64_t)i;
	L[3] = mleaf(20, 10, d);
	for (int i = 0; i < 10; i++)
		d[i] = i < 5 ? 400 + (uint64_t)i : 406 + (uint64_t)i; /* a hole in the data run */
	L[4] = mleaf(30, 10, d);
	for (int i = 0; i < 5; i++)
		d[i] = 500 + (uint64_t)i;
	d[5] = 100;
	L[5] = mleaf(0, 6, d);
	for (int i = 0; i < 8; i++)
		d[i] = 600 + (uint64_t)i;
	L[6] = mleaf(0, 8, d);
	d[0] = 608;
	d[1] = 305;
	d[2] = 609;
	L[7] = mleaf(8, 3, d);
	{
		int k1[2] = {L[1], L[2]}, k2[2] = {L[3], L[4]};
		x = mint(2, k1);
		y = mint(2, k2);
	}
	{
		int k[2] = {x, y};
		ra = mint(2, k);
	}
	{
		int k[2] = {L[6], L[7]};
		z = mint(2, k);
	}
	droots[A] = ra;
	droots[B] = x;
	droots[C] = L[4];
	droots[D] = ra;
	droots[E] = L[5];
	droots[F] = z;
	image_finish(NDEV, devids, droots);
}

/* Brute force: append the mappings under model node i. */
struct bmap {
	uint64_t v, d;
};

static size_t collect(int i, struct bmap *out, size_t n)
{
	struct mnode *m = &model[i];
	for (uint32_t k = 0; k < m->n; k++) {
		if (m->leaf) {
			out[n].v = m->keys[k];
			out[n].d = m->vals[k];
			n++;
		} else {
			n = collect((int)m->vals[k], out, n);
		}
	}
	return n;
}

/* ---- forest -------------------------------------------------------------------- */

struct leafrec {
	uint64_t block, mult;
	int64_t owner;
	uint32_t n;
};

struct fctx {
	struct leafrec l[64];
	uint32_t nl;
	uint32_t order[64];
	uint32_t no;
};

static int leaf_cb(void *ctx, uint32_t id, uint64_t b, const void *node, uint64_t mult,
		   int64_t owner)
{
	struct fctx *f = ctx;
	struct meta_node_info ni;
	meta_node_get_info(node, &ni);
	ck_assert_uint_eq(id, f->nl);
	ck_assert_uint_lt(f->nl, 64);
	if (f->nl)
		ck_assert_uint_gt(b, f->l[f->nl - 1].block); /* one batched pass, ascending */
	f->l[f->nl].block = b;
	f->l[f->nl].mult = mult;
	f->l[f->nl].owner = owner;
	f->l[f->nl].n = ni.nr_entries;
	f->nl++;
	return 0;
}

static int visit_cb(void *ctx, uint32_t id)
{
	struct fctx *f = ctx;
	f->order[f->no++] = id;
	return 0;
}

static const struct leafrec *rec_of(const struct fctx *f, int model_leaf)
{
	for (uint32_t i = 0; i < f->nl; i++)
		if (f->l[i].block == model[model_leaf].block)
			return &f->l[i];
	ck_abort_msg("leaf not reported");
	return NULL;
}

START_TEST(test_forest_multiplicity)
{
	struct meta_thin *t;
	struct meta_thin_forest *f;
	struct fctx fc;
	uint64_t roots[NDEV];
	build_shared_pool();
	t = open_image();
	for (int i = 0; i < NDEV; i++)
		roots[i] = model[droots[i]].block;
	memset(&fc, 0, sizeof(fc));
	ck_assert_int_eq(meta_thin_forest_load(t, roots, NDEV, false, leaf_cb, NULL, &fc, &f), 0);
	ck_assert_uint_eq(fc.nl, 7); /* every distinct leaf exactly once */
	ck_assert_uint_eq(meta_thin_forest_nr_leaves(f), 7);
	/* L1,L2: A, B, D; L3: A, D; L4: A, C, D; L5: E only; L6, L7: F only */
	ck_assert_uint_eq(rec_of(&fc, L[1])->mult, 3);
	ck_assert_uint_eq(rec_of(&fc, L[2])->mult, 3);
	ck_assert_uint_eq(rec_of(&fc, L[3])->mult, 2);
	ck_assert_uint_eq(rec_of(&fc, L[4])->mult, 3);
	ck_assert_int_eq(rec_of(&fc, L[4])->owner, -1);
	ck_assert_uint_eq(rec_of(&fc, L[5])->mult, 1);
	ck_assert_int_eq(rec_of(&fc, L[5])->owner, E);
	ck_assert_uint_eq(rec_of(&fc, L[6])->mult, 1);
	ck_assert_int_eq(rec_of(&fc, L[6])->owner, F);
	ck_assert_int_eq(rec_of(&fc, L[7])->owner, F);
	/* without keep_shape there is nothing to visit */
	ck_assert_int_eq(meta_thin_forest_visit(f, 0, NULL, 0, visit_cb, &fc), META_E_INVAL);
	meta_thin_forest_free(f);
	image_end(t);
}
END_TEST

START_TEST(test_forest_visit)
{
	struct meta_thin *t;
	struct meta_thin_forest *f;
	struct fctx fc;
	uint64_t roots[NDEV];
	uint8_t marks[64];
	build_shared_pool();
	t = open_image();
	for (int i = 0; i < NDEV; i++)
		roots[i] = model[droots[i]].block;
	memset(&fc, 0, sizeof(fc));
	ck_assert_int_eq(meta_thin_forest_load(t, roots, NDEV, true, leaf_cb, NULL, &fc, &f), 0);

	/* key order of A's leaves */
	fc.no = 0;
	ck_assert_int_eq(meta_thin_forest_visit(f, A, NULL, 0, visit_cb, &fc), 0);
	ck_assert_uint_eq(fc.no, 4);
	ck_assert_uint_eq(fc.l[fc.order[0]].block, model[L[1]].block);
	ck_assert_uint_eq(fc.l[fc.order[1]].block, model[L[2]].block);
	ck_assert_uint_eq(fc.l[fc.order[2]].block, model[L[3]].block);
	ck_assert_uint_eq(fc.l[fc.order[3]].block, model[L[4]].block);

	/* marks prune: only L3 marked */
	memset(marks, 0, sizeof(marks));
	marks[rec_of(&fc, L[3]) - fc.l] = 1;
	fc.no = 0;
	ck_assert_int_eq(meta_thin_forest_visit(f, A, marks, 0, visit_cb, &fc), 0);
	ck_assert_uint_eq(fc.no, 1);
	ck_assert_uint_eq(fc.l[fc.order[0]].block, model[L[3]].block);
	fc.no = 0;
	ck_assert_int_eq(meta_thin_forest_visit(f, B, marks, 0, visit_cb, &fc), 0);
	ck_assert_uint_eq(fc.no, 0);

	/* ONCE: later devices skip what earlier ones reached */
	fc.no = 0;
	for (size_t i = 0; i < NDEV; i++)
		ck_assert_int_eq(meta_thin_forest_visit(f, i, NULL, META_THIN_FOREST_ONCE, visit_cb, &fc),
				 0);
	ck_assert_uint_eq(fc.no, 7); /* A's 4 leaves, then nothing for B, C, D; E's 1; F's 2 */
	ck_assert_uint_eq(fc.l[fc.order[4]].block, model[L[5]].block);
	ck_assert_int_eq(meta_thin_forest_visit(f, NDEV, NULL, 0, visit_cb, &fc), META_E_INVAL);
	meta_thin_forest_free(f);
	image_end(t);
}
END_TEST

struct dmg_log {
	int n;
	enum meta_damage_kind first;
};

static void log_damage(void *ctx, const struct meta_damage *d)
{
	struct dmg_log *l = ctx;
	if (!l->n++)
		l->first = d->kind;
}

static int noop_leaf(void *ctx, uint32_t id, uint64_t b, const void *node, uint64_t mult,
		     int64_t owner)
{
	(void)b;
	(void)node;
	(void)mult;
	(void)owner;
	(void)id;
	/* the damage log is the ctx for both callbacks in these tests */
	(void)ctx;
	return 0;
}

START_TEST(test_forest_damage)
{
	struct meta_thin *t;
	struct meta_thin_forest *f = NULL;
	struct dmg_log dl;
	uint64_t roots[2];
	uint8_t blk[4096];
	uint64_t d[3] = {1, 2, 3};
	int lf, in;
	build_shared_pool();
	/* reopen for writing: a bad-checksum leaf, and an internal node whose
	 * children have different heights */
	{
		struct meta_io *io;
		ck_assert_int_eq(meta_io_open(path, META_IO_WRITE, &io), 0);
		ck_assert_int_eq(meta_bm_create(io, 64, &wbm), 0);
	}
	next_block = 200;
	lf = mleaf(100, 3, d);
	{
		int k[2] = {L[1], model[droots[B]].leaf ? L[1] : droots[B]};
		in = mint(2, k); /* child 0 a leaf, child 1 the internal node X */
		model[in].keys[1] = 1000; /* keep keys increasing */
	}
	write_model(lf);
	write_model(in);
	ck_assert_int_eq(meta_io_pread(meta_bm_io(wbm), blk, 4096, model[lf].block * 4096), 0);
	blk[0] ^= 0xff;
	ck_assert_int_eq(meta_io_pwrite(meta_bm_io(wbm), blk, 4096, model[lf].block * 4096), 0);
	meta_bm_destroy(wbm);
	wbm = NULL;

	t = open_image();
	roots[0] = model[droots[A]].block;
	roots[1] = model[lf].block;
	memset(&dl, 0, sizeof(dl));
	ck_assert_int_eq(meta_thin_forest_load(t, roots, 2, false, noop_leaf, log_damage, &dl, &f),
			 META_E_CORRUPT);
	ck_assert_ptr_null(f);
	ck_assert_int_ge(dl.n, 1);
	ck_assert_int_eq(dl.first, META_DMG_NODE_CHECKSUM);

	roots[0] = model[in].block;
	memset(&dl, 0, sizeof(dl));
	ck_assert_int_eq(meta_thin_forest_load(t, roots, 1, true, noop_leaf, log_damage, &dl, &f),
			 META_E_CORRUPT);
	ck_assert_int_eq(dl.first, META_DMG_NODE_DEPTH);

	roots[0] = NBLOCKS + 5; /* past the end */
	memset(&dl, 0, sizeof(dl));
	ck_assert_int_eq(meta_thin_forest_load(t, roots, 1, false, noop_leaf, log_damage, &dl, &f),
			 META_E_CORRUPT);
	ck_assert_int_ge(dl.n, 1);
	image_end(t);
}
END_TEST

/* ---- thin_ls ---------------------------------------------------------------------- */

START_TEST(test_ls_brute_force)
{
	static struct bmap maps[NDEV][256];
	size_t nm[NDEV];
	static unsigned count[NR_DATA];
	struct meta_thin *t;
	struct meta_thin_ls_dev *res;
	uint64_t n;
	build_shared_pool();
	memset(count, 0, sizeof(count));
	for (int i = 0; i < NDEV; i++) {
		nm[i] = collect(droots[i], maps[i], 0);
		for (size_t k = 0; k < nm[i]; k++)
			count[maps[i][k].d]++;
	}
	t = open_image();
	ck_assert_int_eq(meta_thin_ls(t, &res, &n, NULL, NULL), 0);
	ck_assert_uint_eq(n, NDEV);
	for (int i = 0; i < NDEV; i++) {
		uint64_t ex = 0;
		for (size_t k = 0; k < nm[i]; k++)
			ex += count[maps[i][k].d] == 1;
		ck_assert_uint_eq(res[i].dev_id, devids[i]);
		ck_assert_uint_eq(res[i].mapped_blocks, 1000 + devids[i]);
		ck_assert_uint_eq(res[i].transaction_id, 7 * devids[i]);
		ck_assert_uint_eq(res[i].creation_time, devids[i]);
		ck_assert_uint_eq(res[i].snapshotted_time, devids[i] + 1);
		ck_assert_uint_eq(res[i].exclusive_blocks, ex);
		ck_assert_uint_eq(res[i].shared_blocks, res[i].mapped_blocks - ex);
	}
	/* spot values: E owns 500..504 only; F owns 600..609 (10), not 305 */
	ck_assert_uint_eq(res[E].exclusive_blocks, 5);
	ck_assert_uint_eq(res[F].exclusive_blocks, 10);
	ck_assert_uint_eq(res[A].exclusive_blocks, 0);
	free(res);
	image_end(t);
}
END_TEST

START_TEST(test_ls_missing_mapping_tree)
{
	struct meta_thin *t;
	struct meta_thin_ls_dev *res = NULL;
	struct dmg_log dl;
	uint64_t n = 0, d[1] = {1}, dev[2] = {1, 2};
	int roots[2];
	uint8_t blk[4096];
	image_begin();
	roots[0] = mleaf(0, 1, d);
	roots[1] = roots[0];
	image_finish(2, dev, roots);
	/* rewrite the top-level tree with device 1 only */
	{
		struct meta_io *io;
		struct meta_thin_sb sb;
		uint64_t top, rb = model[roots[0]].block;
		ck_assert_int_eq(meta_io_open(path, META_IO_WRITE, &io), 0);
		ck_assert_int_eq(meta_bm_create(io, 64, &wbm), 0);
		top = put_raw_node(1, 1, dev, &rb, 8);
		ck_assert_int_eq(meta_io_pread(io, blk, 4096, 0), 0);
		meta_thin_sb_unpack(blk, &sb);
		sb.data_mapping_root = top;
		meta_thin_sb_pack(&sb, blk);
		ck_assert_int_eq(meta_bm_write(wbm, 0, &meta_thin_sb_validator, blk), 0);
		meta_bm_destroy(wbm);
		wbm = NULL;
	}
	t = open_image();
	memset(&dl, 0, sizeof(dl));
	ck_assert_int_eq(meta_thin_ls(t, &res, &n, log_damage, &dl), META_E_CORRUPT);
	ck_assert_ptr_null(res);
	ck_assert_int_eq(dl.first, META_DMG_DEV_NO_MAPPINGS);
	image_end(t);
}
END_TEST

START_TEST(test_ls_past_end)
{
	struct meta_thin *t;
	struct meta_thin_ls_dev *res = NULL;
	struct dmg_log dl;
	uint64_t n = 0, d[2] = {5, NR_DATA}, dev[1] = {3};
	int roots[1];
	image_begin();
	roots[0] = mleaf(0, 2, d);
	image_finish(1, dev, roots);
	t = open_image();
	memset(&dl, 0, sizeof(dl));
	ck_assert_int_eq(meta_thin_ls(t, &res, &n, log_damage, &dl), META_E_CORRUPT);
	ck_assert_int_eq(dl.first, META_DMG_MAPPING_PAST_END);
	image_end(t);
}
END_TEST

START_TEST(test_ls_empty_pool)
{
	struct meta_thin *t;
	struct meta_thin_ls_dev *res = NULL;
	uint64_t n = 7;
	image_begin();
	image_finish(0, NULL, NULL);
	t = open_image();
	ck_assert_int_eq(meta_thin_ls(t, &res, &n, NULL, NULL), 0);
	ck_assert_uint_eq(n, 0);
	free(res);
	image_end(t);
}
END_TEST

START_TEST(test_human)
{
	static const struct {
		uint64_t bytes;
		const char *s;
	} cases[] = {
		{0, "0"},
		{512, "512"},
		{8192, "8192"},
		{8193, "8KiB"},
		{8704, "9KiB"}, /* 8.5 KiB rounds up */
		{8703, "8KiB"},
		{65536, "64KiB"},
		{1048576, "1024KiB"},
		{1048577, "1024KiB"},
		{1114112, "1088KiB"},
		{4718592, "4608KiB"},
		{67043328, "64MiB"},  /* 63.94 MiB */
		{100728832, "96MiB"}, /* 96.06 MiB */
		{1073741824, "1024MiB"},
		{16106127360ull, "15GiB"},
		{1099511627776ull, "1024GiB"},
		{1100585369600ull, "1025GiB"},
		{UINT64_MAX, "16EiB"},
	};
	char buf[32];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_str_eq(meta_thin_ls_human(cases[i].bytes, buf, sizeof(buf)), cases[i].s);
}
END_TEST

/* ---- rmap ---------------------------------------------------------------------------- */

/*
 * The order 0.9 (libstdc++ std::sort) gives the 79 runs of a pool of 40 devices that all
 * map data 0..4 at virtual 0..4 and data (7d mod 20)+5 .. +3 at virtual 5+d .. (device 0's
 * two runs merge into 0..8).  Pairs data_begin:dev, as 0.9 printed them.
 */
static const char expected_many[] =
	"0:27 0:14 0:15 0:16 0:17 0:18 0:19 0:20 0:21 0:22 0:23 0:24 0:25 0:26 0:1 0:28 0:29 "
	"0:30 0:31 0:32 0:33 0:34 0:35 0:36 0:37 0:38 0:39 0:4 0:13 0:5 0:6 0:12 0:0 0:3 0:7 "
	"0:11 0:8 0:9 0:10 0:2 5:20 6:23 6:3 7:26 7:6 8:9 8:29 9:32 9:12 10:15 10:35 11:18 "
	"11:38 12:21 12:1 13:4 13:24 14:27 14:7 15:30 15:10 16:33 16:13 17:16 17:36 18:39 "
	"18:19 19:2 19:22 20:5 20:25 21:28 21:8 22:31 22:11 23:34 23:14 24:37 24:17 ";

START_TEST(test_sort_matches_libstdcxx)
{
	struct meta_thin_rmap_run runs[80];
	size_t n = 0;
	char buf[2048] = "";
	for (uint32_t dv = 0; dv < 40; dv++) {
		uint64_t b = (dv * 7) % 20 + 5;
		if (dv == 0) {
			runs[n++] = (struct meta_thin_rmap_run){0, 8, 0, dv};
			continue;
		}
		runs[n++] = (struct meta_thin_rmap_run){0, 5, 0, dv};
		runs[n++] = (struct meta_thin_rmap_run){b, b + 3, 5 + dv, dv};
	}
	ck_assert_uint_eq(n, 79);
	meta_thin_rmap_sort(runs, n);
	for (size_t i = 0; i < n; i++) {
		char one[32];
		snprintf(one, sizeof(one), "%llu:%u ", (unsigned long long)runs[i].data_begin,
			 runs[i].dev_id);
		strcat(buf, one);
	}
	ck_assert_str_eq(buf, expected_many);
}
END_TEST

START_TEST(test_sort_property)
{
	static struct meta_thin_rmap_run runs[5000];
	uint64_t seen[64];
	unsigned seed = 12345;
	for (size_t n = 0; n < 5000; n = n * 3 + 1) {
		memset(seen, 0, sizeof(seen));
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			runs[i].data_begin = (seed >> 16) % 64; /* many equal keys */
			runs[i].data_end = runs[i].data_begin + 1;
			runs[i].thin_begin = i;
			runs[i].dev_id = 0;
			seen[runs[i].data_begin]++;
		}
		meta_thin_rmap_sort(runs, n);
		for (size_t i = 0; i < n; i++) {
			if (i)
				ck_assert_uint_le(runs[i - 1].data_begin, runs[i].data_begin);
			seen[runs[i].data_begin]--;
		}
		for (int k = 0; k < 64; k++)
			ck_assert_uint_eq(seen[k], 0); /* a permutation */
	}
}
END_TEST

static int cmp_run_full(const void *a, const void *b)
{
	const struct meta_thin_rmap_run *x = a, *y = b;
	if (x->data_begin != y->data_begin)
		return x->data_begin < y->data_begin ? -1 : 1;
	if (x->dev_id != y->dev_id)
		return x->dev_id < y->dev_id ? -1 : 1;
	return x->thin_begin < y->thin_begin ? -1 : x->thin_begin > y->thin_begin;
}

/* Brute force of the 0.9 walk: devices in order, each node only the first time. */
static int bseen[64];
static struct meta_thin_rmap_run bruns[512];
static size_t nbr;
static int have;

static void brute_walk(int i, uint32_t dev, const struct meta_thin_region *rg, size_t nrg)
{
	struct mnode *m = &model[i];
	if (bseen[i])
		return;
	bseen[i] = 1;
	for (uint32_t k = 0; k < m->n; k++) {
		if (!m->leaf) {
			brute_walk((int)m->vals[k], dev, rg, nrg);
			continue;
		}
		{
			uint64_t v = m->keys[k], d = m->vals[k];
			int in = 0;
			struct meta_thin_rmap_run *c = have ? &bruns[nbr - 1] : NULL;
			for (size_t r = 0; r < nrg; r++)
				in |= d >= rg[r].begin && d < rg[r].end;
			if (!in)
				continue;
			if (c && c->dev_id == dev && c->data_end == d &&
			    c->thin_begin + (c->data_end - c->data_begin) == v) {
				c->data_end++;
				continue;
			}
			bruns[nbr++] = (struct meta_thin_rmap_run){d, d + 1, v, dev};
			have = 1;
		}
	}
}

START_TEST(test_rmap_brute_force)
{
	static const struct meta_thin_region sets[][3] = {
		{{0, NR_DATA}, {0, 0}, {0, 0}},
		{{100, 101}, {0, 0}, {0, 0}},
		{{300, 306}, {305, 320}, {0, 0}}, /* overlapping */
		{{400, 403}, {403, 420}, {99, 101}}, /* adjacent; the hole at 405 */
		{{5000, 6000}, {0, 0}, {0, 0}},  /* nothing */
		{{600, 609}, {608, 609}, {0, 1}},
	};
	build_shared_pool();
	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		struct meta_thin *t = open_image();
		struct meta_thin_rmap_run *runs;
		size_t n, nrg = 0;
		while (nrg < 3 && sets[s][nrg].end)
			nrg++;
		memset(bseen, 0, sizeof(bseen));
		nbr = 0;
		have = 0;
		for (int dv = 0; dv < NDEV; dv++) {
			have = 0; /* runs never continue across devices */
			brute_walk(droots[dv], (uint32_t)devids[dv], sets[s], nrg);
		}
		ck_assert_int_eq(meta_thin_rmap(t, sets[s], nrg, &runs, &n, NULL, NULL), 0);
		ck_assert_uint_eq(n, nbr);
		for (size_t i = 1; i < n; i++)
			ck_assert_uint_le(runs[i - 1].data_begin, runs[i].data_begin);
		if (n)
			qsort(runs, n, sizeof(*runs), cmp_run_full);
		qsort(bruns, nbr, sizeof(*bruns), cmp_run_full);
		for (size_t i = 0; i < n; i++) {
			ck_assert_uint_eq(runs[i].data_begin, bruns[i].data_begin);
			ck_assert_uint_eq(runs[i].data_end, bruns[i].data_end);
			ck_assert_uint_eq(runs[i].thin_begin, bruns[i].thin_begin);
			ck_assert_uint_eq(runs[i].dev_id, bruns[i].dev_id);
		}
		free(runs);
		meta_thin_close(t);
	}
	unlink(path);
}
END_TEST

START_TEST(test_rmap_known_runs)
{
	/* whole range: A gets L1..L4 (L4's hole splits its run), E gets L5 (v5 -> 100 is
	 * its own run), F gets L6+L7 merged up to v8 -> 608, then 305, then 609 */
	static const struct meta_thin_region all = {0, NR_DATA};
	struct meta_thin *t;
	struct meta_thin_rmap_run *runs;
	size_t n;
	int found_f = 0;
	build_shared_pool();
	t = open_image();
	ck_assert_int_eq(meta_thin_rmap(t, &all, 1, &runs, &n, NULL, NULL), 0);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_ne(runs[i].dev_id, devids[B]);
		ck_assert_uint_ne(runs[i].dev_id, devids[C]);
		ck_assert_uint_ne(runs[i].dev_id, devids[D]);
		if (runs[i].dev_id == devids[F] && runs[i].data_begin == 600) {
			ck_assert_uint_eq(runs[i].data_end, 609);
			ck_assert_uint_eq(runs[i].thin_begin, 0);
			found_f = 1;
		}
	}
	ck_assert_int_eq(found_f, 1);
	ck_assert_uint_eq(n, 1 + 1 + 1 + 2 + 2 + 3); /* A: L1,L2,L3 runs, L4 two; E two; F three */
	free(runs);
	image_end(t);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("thin_ls");
	TCase *tc = ub_tcase(s, "forest", 0);
	tcase_add_test(tc, test_forest_multiplicity);
	tcase_add_test(tc, test_forest_visit);
	tcase_add_test(tc, test_forest_damage);
	tc = ub_tcase(s, "ls", 0);
	tcase_add_test(tc, test_ls_brute_force);
	tcase_add_test(tc, test_ls_missing_mapping_tree);
	tcase_add_test(tc, test_ls_past_end);
	tcase_add_test(tc, test_ls_empty_pool);
	tcase_add_test(tc, test_human);
	tc = ub_tcase(s, "rmap", 0);
	tcase_add_test(tc, test_sort_matches_libstdcxx);
	tcase_add_test(tc, test_sort_property);
	tcase_add_test(tc, test_rmap_brute_force);
	tcase_add_test(tc, test_rmap_known_runs);
	return s;
}

int main(void)
{
	return ub_run(suite());
}

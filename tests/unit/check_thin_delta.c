/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of meta_delta_compare(): hand-built mapping trees written into a
 * temporary image, compared against a brute-force classification of the two
 * mapping lists.  Trees share leaves and internal nodes like snapshots do, use
 * random leaf sizes and shapes, and (optionally) kernel-style stale parent keys.
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
#include <libmeta/thin_delta.h>

#include "base/endian.h"
#include "unit_base.h"

#define NBLOCKS 8192u

/* ---- image building ------------------------------------------------------ */

struct img {
	char path[UB_PATH_MAX];
	struct meta_bm *bm;
	uint64_t next; /* next free block */
};

static void img_open(struct img *im)
{
	struct meta_io *io;
	ub_tmpfile(im->path, "thin_delta", (uint64_t)NBLOCKS * UB_BLOCK_SIZE);
	ck_assert_int_eq(meta_io_open(im->path, META_IO_WRITE, &io), 0);
	ck_assert_int_eq(meta_bm_create(io, 64, &im->bm), 0);
	im->next = 1;
}

static void img_close(struct img *im)
{
	meta_bm_destroy(im->bm);
	unlink(im->path);
}

/* Write a node with n keys/values; returns its block. */
static uint64_t put_node(struct img *im, int leaf, uint32_t n, const uint64_t *keys,
			 const uint64_t *vals)
{
	uint8_t blk[UB_BLOCK_SIZE];
	uint64_t b = im->next++;
	ck_assert_uint_lt(b, NBLOCKS);
	ub_node(blk, leaf ? META_NODE_LEAF : META_NODE_INTERNAL, 8, UB_MAX, n, keys, NULL);
	for (uint32_t i = 0; i < n; i++)
		put_le64p(ub_node_value(blk, i), vals[i]);
	ck_assert_int_eq(meta_bm_write(im->bm, b, &meta_node_validator, blk), 0);
	return b;
}

/* ---- mapping lists and the brute-force reference --------------------------- */

struct map {
	uint64_t v, d;
};

struct ranges {
	struct meta_delta_range *r;
	size_t n, cap;
};

static int collect(void *ctx, const struct meta_delta_range *r)
{
	struct ranges *rs = ctx;
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 64;
		rs->r = realloc(rs->r, rs->cap * sizeof(*rs->r));
		ck_assert_ptr_nonnull(rs->r);
	}
	rs->r[rs->n++] = *r;
	return 0;
}

static void radd(struct ranges *rs, int data, enum meta_delta_kind k, uint64_t v, uint64_t ld,
		 uint64_t rd)
{
	struct meta_delta_range *c = rs->n ? &rs->r[rs->n - 1] : NULL;
	if (c && c->kind == k && c->begin + c->len == v) {
		int cont = 1;
		if (data) {
			if (k == META_DELTA_LEFT_ONLY || k == META_DELTA_SAME)
				cont = c->left_data + c->len == ld;
			else if (k == META_DELTA_RIGHT_ONLY)
				cont = c->right_data + c->len == rd;
			else
				cont = c->left_data + c->len == ld && c->right_data + c->len == rd;
		}
		if (cont) {
			c->len++;
			return;
		}
	}
	{
		struct meta_delta_range r = {k, v, 1, 0, 0};
		if (data) {
			r.left_data = k == META_DELTA_RIGHT_ONLY ? 0 : ld;
			r.right_data = k == META_DELTA_LEFT_ONLY ? 0 : rd;
		}
		collect(rs, &r);
	}
}

static void reference(const struct map *l, size_t nl, const struct map *r, size_t nr, int data,
		      struct ranges *out)
{
	size_t i = 0, j = 0;
	while (i < nl || j < nr) {
		if (j == nr || (i < nl && l[i].v < r[j].v)) {
			radd(out, data, META_DELTA_LEFT_ONLY, l[i].v, l[i].d, 0);
			i++;
		} else if (i == nl || r[j].v < l[i].v) {
			radd(out, data, META_DELTA_RIGHT_ONLY, r[j].v, 0, r[j].d);
			j++;
		} else {
			radd(out, data, l[i].d == r[j].d ? META_DELTA_SAME : META_DELTA_DIFFERENT, l[i].v,
			     l[i].d, r[j].d);
			i++;
			j++;
		}
	}
}

static void expect_same_ranges(const struct ranges *a, const struct ranges *b, int data)
{
	ck_assert_uint_eq(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		ck_assert_int_eq(a->r[i].kind, b->r[i].kind);
		ck_assert_uint_eq(a->r[i].begin, b->r[i].begin);
		ck_assert_uint_eq(a->r[i].len, b->r[i].len);
		if (data) {
			ck_assert_uint_eq(a->r[i].left_data, b->r[i].left_data);
			ck_assert_uint_eq(a->r[i].right_data, b->r[i].right_data);
		}
	}
}

/* ---- tree building with sharing ------------------------------------------- */

static uint64_t val(uint64_t d) { return (d << 24) | 7u; }

/*
 * A tree level: children (blocks) with their key bounds.  The right tree is built
 * over the same leaf boundaries as the left one, so equal leaf contents (and equal
 * groups of children) reuse the left tree's blocks, as snapshots do.
 */
struct level {
	uint64_t *blk, *key;
	size_t n;
};

struct memo { /* content → block, for sharing */
	int leaf;
	uint32_t n;
	uint64_t keys[16], vals[16];
	uint64_t b;
};

static struct memo memos[NBLOCKS];
static size_t nmemo;

static uint64_t put_shared(struct img *im, int leaf, uint32_t n, const uint64_t *keys,
			   const uint64_t *vals, int share)
{
	if (share && n <= 16) {
		for (size_t i = 0; i < nmemo; i++) {
			struct memo *m = &memos[i];
			if (m->leaf == leaf && m->n == n && !memcmp(m->keys, keys, n * 8) &&
			    !memcmp(m->vals, vals, n * 8))
				return m->b;
		}
	}
	{
		uint64_t b = put_node(im, leaf, n, keys, vals);
		if (n <= 16 && nmemo < NBLOCKS) {
			struct memo *m = &memos[nmemo++];
			m->leaf = leaf;
			m->n = n;
			memcpy(m->keys, keys, n * 8);
			memcpy(m->vals, vals, n * 8);
			m->b = b;
		}
		return b;
	}
}

/*
 * Build a tree over maps[0..n), cutting leaves at the keys in cuts[] (sorted),
 * internal fan-out 2..4 decided by the seed-driven rand().  stale: lower parent
 * keys below the child's first key where possible (kernel after removals).
 */
static uint64_t build(struct img *im, const struct map *maps, size_t n, const uint64_t *cuts,
		      size_t ncuts, int share, int stale, unsigned fan_seed)
{
	struct level lv = {calloc(ncuts + 2, 8), calloc(ncuts + 2, 8), 0};
	uint64_t keys[252], vals[252];
	size_t i = 0;
	unsigned s = fan_seed;
	uint64_t prev_last = 0;
	int have_prev = 0;

	for (size_t c = 0; c <= ncuts; c++) {
		uint64_t end = c < ncuts ? cuts[c] : UINT64_MAX;
		uint32_t k = 0;
		while (i < n && maps[i].v < end) {
			keys[k] = maps[i].v;
			vals[k] = val(maps[i].d);
			k++;
			i++;
		}
		if (!k)
			continue;
		lv.blk[lv.n] = put_shared(im, 1, k, keys, vals, share);
		lv.key[lv.n] = keys[0];
		if (stale && have_prev && keys[0] > prev_last + 1 && (c & 1))
			lv.key[lv.n] = prev_last + 1; /* a lower, still valid, parent key */
		prev_last = keys[k - 1];
		have_prev = 1;
		lv.n++;
	}
	if (lv.n == 0) {
		free(lv.blk);
		free(lv.key);
		return put_node(im, 1, 0, NULL, NULL);
	}
	while (lv.n > 1) {
		size_t o = 0;
		for (size_t j = 0; j < lv.n;) {
			size_t f;
			s = s * 1103515245u + 12345u;
			f = 2 + (s >> 16) % 3;
			if (j + f > lv.n)
				f = lv.n - j;
			lv.blk[o] = put_shared(im, 0, (uint32_t)f, &lv.key[j], &lv.blk[j], share);
			lv.key[o] = lv.key[j];
			o++;
			j += f;
		}
		lv.n = o;
	}
	{
		uint64_t root = lv.blk[0];
		free(lv.blk);
		free(lv.key);
		return root;
	}
}

/* ---- scenario runner ------------------------------------------------------ */

static void check_pair(struct img *im, const struct map *l, size_t nl, const struct map *r,
		       size_t nr, uint64_t lroot, uint64_t rroot)
{
	for (int data = 0; data < 2; data++) {
		struct ranges want = {0}, got = {0};
		reference(l, nl, r, nr, data, &want);
		/* modes: counts right (left/right/both), unknown, exact, wrong counts */
		for (int mode = 0; mode < 6; mode++) {
			struct meta_delta_opts o = {data ? META_DELTA_DATA : 0, nl, nr};
			struct meta_delta_stats st;
			switch (mode) {
			case 1: o.right_mapped = META_DELTA_UNKNOWN; break;
			case 2: o.left_mapped = META_DELTA_UNKNOWN; break;
			case 3: o.left_mapped = o.right_mapped = META_DELTA_UNKNOWN; break;
			case 4: o.flags |= META_DELTA_EXACT; break;
			case 5: o.left_mapped = nl ? nl - 1 : META_DELTA_UNKNOWN; o.right_mapped = nr ? nr - 1 : META_DELTA_UNKNOWN; break;
			}
			got.n = 0;
			ck_assert_int_eq(meta_delta_compare(im->bm, lroot, rroot, &o, collect, &got, &st), 0);
			expect_same_ranges(&got, &want, data);
			if (mode == 5 && !data)
				ck_assert(!st.inferred);
		}
		free(want.r);
		free(got.r);
	}
}

static unsigned rnd(unsigned *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

/* Random origin; snapshot = origin with a few changes; trees share unchanged parts. */
static void random_case(unsigned seed, int stale)
{
	struct img im;
	struct map *o = calloc(600, sizeof(*o)), *p = calloc(700, sizeof(*p));
	uint64_t cuts[400];
	size_t no = 0, np = 0, nc = 0;
	unsigned s = seed;
	uint64_t v = rnd(&s) % 5, d = 1000;
	uint64_t lroot, rroot;

	img_open(&im);
	nmemo = 0;
	/* origin: runs with holes and data jumps */
	while (no < 400 + rnd(&s) % 150) {
		o[no].v = v;
		o[no].d = d;
		no++;
		v += (rnd(&s) % 8 == 0) ? 1 + rnd(&s) % 4 : 1;
		d += (rnd(&s) % 6 == 0) ? 1 + rnd(&s) % 50 : 1;
	}
	/* snapshot: change data, drop, or add a few mappings */
	for (size_t i = 0; i < no; i++) {
		unsigned x = rnd(&s) % 100;
		if (x < 3)
			continue;                             /* dropped: left_only */
		p[np] = o[i];
		if (x < 6)
			p[np].d = 50000 + rnd(&s) % 100;      /* different */
		np++;
		if (x >= 97 && (i + 1 == no || o[i + 1].v > o[i].v + 1)) {
			p[np].v = o[i].v + 1;                 /* right only */
			p[np].d = 60000 + i;
			np++;
		}
	}
	/* leaf boundaries: random sizes 1..12 over the key space */
	for (uint64_t k = 1 + rnd(&s) % 12; k < v + 5 && nc < 400; k += 1 + rnd(&s) % 12)
		cuts[nc++] = k;

	lroot = build(&im, o, no, cuts, nc, 1, stale, seed);
	rroot = build(&im, p, np, cuts, nc, 1, stale, seed);
	check_pair(&im, o, no, p, np, lroot, rroot);
	check_pair(&im, p, np, o, no, rroot, lroot);
	/* unrelated trees (no sharing, different shapes) */
	rroot = build(&im, p, np, cuts + 1, nc - 1, 0, !stale, seed + 1);
	check_pair(&im, o, no, p, np, lroot, rroot);
	/* a device against itself */
	check_pair(&im, o, no, o, no, lroot, lroot);
	img_close(&im);
	free(o);
	free(p);
}

START_TEST(test_random_shared)
{
	for (unsigned seed = 1; seed <= 60; seed++)
		random_case(seed * 7919u, 0);
}
END_TEST

START_TEST(test_random_stale_keys)
{
	for (unsigned seed = 1; seed <= 40; seed++)
		random_case(seed * 104729u, 1);
}
END_TEST

/* Dense device vs itself: nothing but the roots compared, nothing read. */
START_TEST(test_identical_root_reads_nothing)
{
	struct img im;
	struct map m[300];
	uint64_t cuts[30], root;
	struct ranges got = {0};
	struct meta_delta_stats st;
	struct meta_delta_opts o = {0, 300, 300};
	img_open(&im);
	nmemo = 0;
	for (int i = 0; i < 300; i++) {
		m[i].v = 100 + i;
		m[i].d = 5 + i * 2;
	}
	for (int i = 0; i < 30; i++)
		cuts[i] = 100 + 10 * (i + 1);
	root = build(&im, m, 300, cuts, 30, 1, 0, 3);
	ck_assert_int_eq(meta_delta_compare(im.bm, root, root, &o, collect, &got, &st), 0);
	ck_assert_uint_eq(got.n, 1);
	ck_assert_int_eq(got.r[0].kind, META_DELTA_SAME);
	ck_assert_uint_eq(got.r[0].begin, 100);
	ck_assert_uint_eq(got.r[0].len, 300);
	ck_assert_uint_eq(st.nodes_read, 0);
	ck_assert(st.inferred);
	/* the two spines only */
	ck_assert_uint_le(st.shared_nodes, 12);
	/* verbose: data runs of length 1 (data stride 2) */
	o.flags = META_DELTA_DATA;
	got.n = 0;
	ck_assert_int_eq(meta_delta_compare(im.bm, root, root, &o, collect, &got, &st), 0);
	ck_assert_uint_eq(got.n, 300);
	ck_assert_uint_eq(got.r[7].left_data, 5 + 14);
	ck_assert_uint_eq(got.r[7].right_data, 5 + 14);
	free(got.r);
	img_close(&im);
}
END_TEST

/* One changed leaf out of many: only the changed paths are read. */
START_TEST(test_cost_follows_difference)
{
	enum { N = 4000 };
	struct img im;
	struct map *a = calloc(N, sizeof(*a)), *b = calloc(N, sizeof(*b));
	uint64_t cuts[N / 10], lr, rr;
	struct ranges got = {0};
	struct meta_delta_stats st;
	struct meta_delta_opts o = {0, N, N};
	uint64_t left_internal;
	img_open(&im);
	nmemo = 0;
	for (int i = 0; i < N; i++) {
		a[i].v = b[i].v = i;
		a[i].d = b[i].d = 10 + i;
	}
	b[1234].d = 99999;
	for (int i = 0; i < N / 10; i++)
		cuts[i] = 10 * (i + 1);
	lr = build(&im, a, N, cuts, N / 10, 1, 0, 11);
	left_internal = im.next - 1 - N / 10;
	rr = build(&im, b, N, cuts, N / 10, 1, 0, 11);
	ck_assert_int_eq(meta_delta_compare(im.bm, lr, rr, &o, collect, &got, &st), 0);
	ck_assert_uint_eq(got.n, 3);
	ck_assert_int_eq(got.r[1].kind, META_DELTA_DIFFERENT);
	ck_assert_uint_eq(got.r[1].begin, 1234);
	ck_assert_uint_eq(got.r[1].len, 1);
	ck_assert_uint_eq(got.r[2].begin, 1235);
	ck_assert_uint_eq(got.r[2].len, N - 1235);
	/* 400 leaves, fan-out 2..4: a path is ~7 nodes per side */
	ck_assert_uint_le(st.nodes_read, 40);
	ck_assert(st.inferred);
	/* Same leaves, differently shaped internal levels (a restore packs them its own
	 * way): internal nodes are read, shared leaves are not. */
	{
		uint64_t before = im.next, rr2;
		rr2 = build(&im, b, N, cuts, N / 10, 1, 0, 12345);
		got.n = 0;
		ck_assert_int_eq(meta_delta_compare(im.bm, lr, rr2, &o, collect, &got, &st), 0);
		ck_assert_uint_eq(got.n, 3);
		/* at most every internal node of both trees, plus the leaves holding 1234 */
		ck_assert_uint_le(st.nodes_read, left_internal + (im.next - before) + 2);
		ck_assert_uint_gt(st.shared_skipped, 0);
	}
	free(got.r);
	free(a);
	free(b);
	img_close(&im);
}
END_TEST

/* A hole inside a shared leaf: the counts disagree and the exact pass is used. */
START_TEST(test_hole_in_shared_leaf_falls_back)
{
	struct img im;
	struct map a[40], b[41];
	uint64_t cuts[3] = {10, 20, 30}, lr, rr;
	struct ranges got = {0}, want = {0};
	struct meta_delta_stats st;
	int n = 0;
	img_open(&im);
	nmemo = 0;
	for (int i = 0; i < 40; i++) {
		if (i == 15)
			continue; /* hole in the shared leaf [10,20) */
		a[n].v = i;
		a[n].d = 100 + i;
		n++;
	}
	memcpy(b, a, sizeof(a));
	b[35].d = 7; /* leaf [30,40) differs */
	lr = build(&im, a, (size_t)n, cuts, 3, 1, 0, 5);
	rr = build(&im, b, (size_t)n, cuts, 3, 1, 0, 5);
	{
		struct meta_delta_opts o = {0, (uint64_t)n, (uint64_t)n};
		ck_assert_int_eq(meta_delta_compare(im.bm, lr, rr, &o, collect, &got, &st), 0);
	}
	reference(a, (size_t)n, b, (size_t)n, 0, &want);
	expect_same_ranges(&got, &want, 0);
	ck_assert(st.fell_back);
	ck_assert_uint_eq(got.r[0].len, 15);
	free(got.r);
	free(want.r);
	img_close(&im);
}
END_TEST

START_TEST(test_empty_and_damage)
{
	struct img im;
	uint64_t e1, e2, keys[2] = {5, 3}, vals[2] = {val(1), val(2)}, bad;
	struct ranges got = {0};
	struct meta_delta_stats st;
	uint8_t junk[4096];
	img_open(&im);
	e1 = put_node(&im, 1, 0, NULL, NULL);
	e2 = put_node(&im, 1, 0, NULL, NULL);
	ck_assert_int_eq(meta_delta_compare(im.bm, e1, e2, NULL, collect, &got, NULL), 0);
	ck_assert_uint_eq(got.n, 0);
	/* keys out of order */
	bad = put_node(&im, 1, 2, keys, vals);
	ck_assert_int_eq(meta_delta_compare(im.bm, bad, e1, NULL, collect, &got, &st), META_E_CORRUPT);
	ck_assert_uint_eq(st.bad_block, bad);
	/* bad checksum */
	memset(junk, 0x5a, sizeof(junk));
	ck_assert_int_eq(meta_io_pwrite(meta_bm_io(im.bm), junk, 4096, 100 * 4096), 0);
	meta_bm_invalidate(im.bm);
	ck_assert_int_eq(meta_delta_compare(im.bm, e1, 100, NULL, collect, &got, &st), META_E_CHECKSUM);
	ck_assert_uint_eq(st.bad_block, 100);
	/* past the end */
	ck_assert_int_ne(meta_delta_compare(im.bm, NBLOCKS + 5, e1, NULL, collect, &got, &st), 0);
	/* a tree that points at itself */
	{
		uint64_t k[1] = {0}, v[1];
		uint64_t self = im.next;
		v[0] = self;
		ck_assert_uint_eq(put_node(&im, 0, 1, k, v), self);
		ck_assert_int_eq(meta_delta_compare(im.bm, self, e1, NULL, collect, &got, &st),
				 META_E_CORRUPT);
	}
	free(got.r);
	img_close(&im);
}
END_TEST

/* Damage inside a shared subtree: found when it is read (exact mode), not otherwise. */
START_TEST(test_damage_in_shared_subtree)
{
	struct img im;
	uint64_t k1[2] = {0, 1}, v1[2] = {val(5), val(6)}, v1b[2] = {val(5), val(9)};
	uint64_t kx[1] = {25}, vx[1] = {val(7)}, k3[1] = {20}, v3[1] = {val(8)};
	uint64_t l1, l1b, x, l3, pk[3] = {0, 10, 20}, pv[3], lr, rr, bad_leaf;
	uint64_t ky[10], vy[10];
	struct ranges got = {0};
	struct meta_delta_stats st;
	struct meta_delta_opts exact = {META_DELTA_DATA, 4, 4};
	uint8_t junk[4096];
	img_open(&im);
	l1 = put_node(&im, 1, 2, k1, v1);
	l1b = put_node(&im, 1, 2, k1, v1b);
	x = put_node(&im, 1, 1, kx, vx); /* key 25 under parent range [10, 20) */
	l3 = put_node(&im, 1, 1, k3, v3);
	pv[0] = l1; pv[1] = x; pv[2] = l3;
	lr = put_node(&im, 0, 3, pk, pv);
	pv[0] = l1b;
	rr = put_node(&im, 0, 3, pk, pv);
	ck_assert_int_eq(meta_delta_compare(im.bm, lr, rr, &exact, collect, &got, &st), META_E_CORRUPT);
	ck_assert_uint_eq(st.bad_block, x);
	/* a shared leaf (dense: keys 10..19) with a bad checksum */
	for (int i = 0; i < 10; i++) {
		ky[i] = 10 + (uint64_t)i;
		vy[i] = val(100 + (uint64_t)i);
	}
	bad_leaf = put_node(&im, 1, 10, ky, vy);
	pv[1] = bad_leaf;
	pv[0] = l1;
	lr = put_node(&im, 0, 3, pk, pv);
	pv[0] = l1b;
	rr = put_node(&im, 0, 3, pk, pv);
	memset(junk, 0x33, sizeof(junk));
	ck_assert_int_eq(meta_io_pwrite(meta_bm_io(im.bm), junk, 4096, bad_leaf * 4096), 0);
	meta_bm_invalidate(im.bm);
	got.n = 0;
	ck_assert_int_eq(meta_delta_compare(im.bm, lr, rr, &exact, collect, &got, &st), META_E_CHECKSUM);
	ck_assert_uint_eq(st.bad_block, bad_leaf);
	/* Inferred from the counts (2 + 10 + 1 = 13 mapped): the shared leaves are not
	 * read, so the damage goes unseen -- thin_delta is not a checker. */
	{
		struct meta_delta_opts fast = {0, 13, 13};
		got.n = 0;
		ck_assert_int_eq(meta_delta_compare(im.bm, lr, rr, &fast, collect, &got, &st), 0);
		ck_assert(st.inferred);
		ck_assert_uint_eq(got.n, 3);
		ck_assert_int_eq(got.r[1].kind, META_DELTA_DIFFERENT);
		ck_assert_uint_eq(got.r[2].begin, 10);
		ck_assert_uint_eq(got.r[2].len, 11);
		/* wrong counts: the exact pass reads the leaf and reports it */
		fast.left_mapped = fast.right_mapped = 12;
		ck_assert_int_eq(meta_delta_compare(im.bm, lr, rr, &fast, collect, &got, &st),
				 META_E_CHECKSUM);
	}
	free(got.r);
	img_close(&im);
}
END_TEST

/*
 * Exact mode reads a shared subtree a level at a time (pdata/walk): children whose
 * blocks descend while their keys ascend still come out in key order, and a node
 * whose max_entries is not a multiple of 3 is read like any other.
 */
START_TEST(test_shared_children_out_of_block_order)
{
	struct img im;
	struct map l[9] = {{0, 1}, {1, 2}, {10, 3}, {11, 4}, {20, 5}, {21, 6}, {30, 7}, {31, 8},
			   {100, 50}};
	struct map r[10] = {{0, 1}, {1, 2}, {10, 3}, {11, 4}, {20, 5}, {21, 6}, {30, 7}, {31, 8},
			    {100, 51}, {101, 52}};
	uint64_t c[4], sk[4] = {0, 10, 20, 30}, rk[2] = {0, 100}, rv[2], s, a, b, lr, rr;
	struct meta_delta_opts exact = {META_DELTA_DATA, META_DELTA_UNKNOWN, META_DELTA_UNKNOWN};
	struct meta_delta_stats st;
	struct ranges got = {0}, want = {0};
	img_open(&im);
	for (int i = 3; i >= 0; i--) { /* highest keys first: the blocks descend */
		uint64_t k[2] = {l[2 * i].v, l[2 * i + 1].v};
		uint64_t v[2] = {val(l[2 * i].d), val(l[2 * i + 1].d)};
		if (i == 1) {
			uint8_t blk[UB_BLOCK_SIZE];
			c[i] = im.next++;
			ub_node(blk, META_NODE_LEAF, 8, 251, 2, k, NULL);
			for (uint32_t j = 0; j < 2; j++)
				put_le64p(ub_node_value(blk, j), v[j]);
			ck_assert_int_eq(meta_bm_write(im.bm, c[i], &meta_node_validator, blk), 0);
		} else {
			c[i] = put_node(&im, 1, 2, k, v);
		}
	}
	ck_assert_uint_gt(c[0], c[3]);
	s = put_node(&im, 0, 4, sk, c);
	a = put_node(&im, 1, 1, &rk[1], (uint64_t[]){val(50)});
	b = put_node(&im, 1, 2, (uint64_t[]){100, 101}, (uint64_t[]){val(51), val(52)});
	rv[0] = s;
	rv[1] = a;
	lr = put_node(&im, 0, 2, rk, rv);
	rv[1] = b;
	rr = put_node(&im, 0, 2, rk, rv);
	ck_assert_int_eq(meta_delta_compare(im.bm, lr, rr, &exact, collect, &got, &st), 0);
	reference(l, 9, r, 10, 1, &want);
	expect_same_ranges(&got, &want, 1);
	ck_assert_uint_eq(st.shared_skipped, 1);
	ck_assert_uint_eq(st.shared_nodes, 5);
	free(got.r);
	free(want.r);
	img_close(&im);
}
END_TEST

static int stop_at_two(void *ctx, const struct meta_delta_range *r)
{
	int *n = ctx;
	(void)r;
	return ++*n == 2 ? 42 : 0;
}

START_TEST(test_callback_stops)
{
	struct img im;
	struct map a[6] = {{0, 1}, {2, 3}, {4, 5}, {6, 7}, {8, 9}, {10, 11}};
	uint64_t cuts[1] = {5}, lr, e;
	int n = 0;
	img_open(&im);
	nmemo = 0;
	lr = build(&im, a, 6, cuts, 1, 0, 0, 1);
	e = put_node(&im, 1, 0, NULL, NULL);
	ck_assert_int_eq(meta_delta_compare(im.bm, lr, e, NULL, stop_at_two, &n, NULL), 42);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(meta_delta_kind_name(META_DELTA_RIGHT_ONLY), "right_only");
	img_close(&im);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("thin_delta");
	TCase *tc = ub_tcase(s, "core", 120);
	tcase_add_test(tc, test_random_shared);
	tcase_add_test(tc, test_random_stale_keys);
	tcase_add_test(tc, test_identical_root_reads_nothing);
	tcase_add_test(tc, test_cost_follows_difference);
	tcase_add_test(tc, test_hole_in_shared_leaf_falls_back);
	tcase_add_test(tc, test_empty_and_damage);
	tcase_add_test(tc, test_damage_in_shared_subtree);
	tcase_add_test(tc, test_shared_children_out_of_block_order);
	tcase_add_test(tc, test_callback_stops);
	return ub_run(s);
}

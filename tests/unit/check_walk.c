/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of the shared walking stores and reader: the hash table (libmeta/base/hash.c),
 * the reference-count store (libmeta/pdata/refcount.c), the batched level reader and its node
 * verdict and meta_walk_tree() (libmeta/pdata/walk.c), meta_radix_sort() (libmeta/base/util.c).
 * The reader's nodes are laid out by hand in a temp file.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/bm.h>
#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/io.h>

#include "base/hash.h"
#include "base/util.h"
#include "pdata/refcount.h"
#include "pdata/walk.h"
#include "unit_base.h"

/* ---- hash table ---------------------------------------------------------------- */

START_TEST(test_hash_grows_and_finds)
{
	struct meta_hash h;
	int created;
	meta_hash_init(&h);
	ck_assert_ptr_null(meta_hash_find(&h, 7));
	for (uint64_t k = 0; k < 20000; k++) {
		uint64_t *v = meta_hash_insert(&h, k * 4096, &created);
		ck_assert_ptr_nonnull(v);
		ck_assert_int_eq(created, 1);
		ck_assert_uint_eq(*v, 0);
		*v = k + 1;
	}
	ck_assert_uint_eq(h.used, 20000);
	ck_assert_uint_ge(h.cap, 40000);
	for (uint64_t k = 0; k < 20000; k++) {
		uint64_t *v = meta_hash_find(&h, k * 4096);
		ck_assert_ptr_nonnull(v);
		ck_assert_uint_eq(*v, k + 1);
	}
	ck_assert_ptr_null(meta_hash_find(&h, 1));
	/* an existing key is found again, not added */
	ck_assert_uint_eq(*meta_hash_insert(&h, 4096, &created), 2);
	ck_assert_int_eq(created, 0);
	ck_assert_uint_eq(h.used, 20000);
	/* the one key a table refuses */
	ck_assert_ptr_null(meta_hash_insert(&h, UINT64_MAX, &created));
	ck_assert_ptr_null(meta_hash_find(&h, UINT64_MAX));
	meta_hash_free(&h);
	ck_assert_uint_eq(h.cap, 0);
}
END_TEST

START_TEST(test_hash_str)
{
	ck_assert_uint_ne(meta_hash_str("a"), meta_hash_str("b"));
	ck_assert_uint_eq(meta_hash_str("def 17"), meta_hash_str("def 17"));
	ck_assert_uint_ne(meta_hash_str(""), UINT64_MAX);
}
END_TEST

static uint64_t rec_key(const void *ctx, uint32_t i)
{
	const uint64_t *keys = ctx;
	return keys[i];
}

START_TEST(test_hidx)
{
	static uint64_t keys[5000];
	struct meta_hidx h;
	meta_hidx_init(&h);
	ck_assert_int_eq(meta_hidx_find(&h, 1, rec_key, keys), -1);
	for (uint32_t i = 0; i < 5000; i++) {
		keys[i] = (uint64_t)i * 7919 + 3;
		ck_assert_int_eq(meta_hidx_add(&h, i, rec_key, keys), 0);
	}
	for (uint32_t i = 0; i < 5000; i++)
		ck_assert_int_eq(meta_hidx_find(&h, keys[i], rec_key, keys), i);
	ck_assert_int_eq(meta_hidx_find(&h, 4, rec_key, keys), -1);
	ck_assert_uint_ge(h.cap, 10000);
	meta_hidx_free(&h);
}
END_TEST

/* Deletion moves later entries of a probe run back: with a tiny table and keys of few home
 * slots, runs wrap around the end; after deleting every other record the rest is still found
 * and the deleted ones are not, and a fixed-size index (init_cap) never reallocates. */
START_TEST(test_hidx_del)
{
	static uint64_t keys[64];
	struct meta_hidx h;
	uint32_t *slots;
	ck_assert_int_eq(meta_hidx_init_cap(&h, 64), 0);
	ck_assert_uint_eq(h.cap, 128);
	slots = h.s;
	for (int round = 0; round < 3; round++) {
		for (uint32_t i = 0; i < 64; i++) {
			keys[i] = (uint64_t)(i % 5) * 1000003 + (uint64_t)i * 128 * 65536 + round;
			ck_assert_int_eq(meta_hidx_add(&h, i, rec_key, keys), 0);
		}
		ck_assert_uint_eq(h.used, 64);
		for (uint32_t i = 0; i < 64; i += 2)
			meta_hidx_del(&h, i, rec_key, keys);
		ck_assert_uint_eq(h.used, 32);
		for (uint32_t i = 0; i < 64; i++)
			ck_assert_int_eq(meta_hidx_find(&h, keys[i], rec_key, keys), i % 2 ? (int64_t)i : -1);
		meta_hidx_del(&h, 0, rec_key, keys); /* not indexed: no change */
		ck_assert_uint_eq(h.used, 32);
		for (uint32_t i = 1; i < 64; i += 2)
			meta_hidx_del(&h, i, rec_key, keys);
		ck_assert_uint_eq(h.used, 0);
		for (size_t k = 0; k < h.cap; k++)
			ck_assert_uint_eq(h.s[k], 0);
	}
	ck_assert_ptr_eq(h.s, slots);
	/* clear forgets everything, keeping the slots */
	ck_assert_int_eq(meta_hidx_add(&h, 5, rec_key, keys), 0);
	meta_hidx_clear(&h);
	ck_assert_uint_eq(h.used, 0);
	ck_assert_int_eq(meta_hidx_find(&h, keys[5], rec_key, keys), -1);
	ck_assert_ptr_eq(h.s, slots);
	meta_hidx_free(&h);
}
END_TEST

/* Random churn on a full-size cache index: records re-keyed as a cache's slots are. */
START_TEST(test_hidx_churn)
{
	static uint64_t keys[200];
	static int in[200];
	struct meta_hidx h;
	uint64_t x = 88172645463325252ull;
	ck_assert_int_eq(meta_hidx_init_cap(&h, 200), 0);
	for (int op = 0; op < 100000; op++) {
		uint32_t i;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		i = (uint32_t)(x % 200);
		if (in[i]) {
			meta_hidx_del(&h, i, rec_key, keys);
			in[i] = 0;
		} else {
			keys[i] = (x >> 20) % 1000; /* few keys: runs collide; unique among records */
			for (uint32_t k = 0; k < 200; k++)
				if (in[k] && keys[k] == keys[i])
					keys[i] = 1000 + i;
			ck_assert_int_eq(meta_hidx_add(&h, i, rec_key, keys), 0);
			in[i] = 1;
		}
		if (op % 997 == 0)
			for (uint32_t k = 0; k < 200; k++)
				if (in[k] && meta_hidx_find(&h, keys[k], rec_key, keys) != k)
					ck_abort_msg("op %d: record %u lost", op, k);
	}
	ck_assert_uint_eq(h.cap, 512);
	meta_hidx_free(&h);
}
END_TEST

/* ---- reference counts ---------------------------------------------------------- */

START_TEST(test_refcount_overflow)
{
	struct meta_refcount rc;
	ck_assert_int_eq(meta_rc_init(&rc, 10), META_OK);
	for (int i = 0; i < 254; i++)
		ck_assert_int_eq(meta_rc_inc(&rc, 3), META_OK);
	ck_assert_uint_eq(meta_rc_get(&rc, 3), 254);
	ck_assert_uint_eq(rc.ovf.used, 0);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(meta_rc_inc(&rc, 3), META_OK);
	ck_assert_uint_eq(rc.c[3], 255);
	ck_assert_uint_eq(meta_rc_get(&rc, 3), 1254);
	ck_assert_uint_eq(rc.ovf.used, 1);
	ck_assert_uint_eq(meta_rc_get(&rc, 4), 0);
	ck_assert_uint_eq(meta_rc_get(&rc, 10), 0); /* past nr */
	meta_rc_free(&rc);
}
END_TEST

/* Many blocks past 254 in interleaved rounds: the overflow table grows several times (the
 * data counts of thin_restore's space map). */
START_TEST(test_refcount_many_overflow)
{
	struct meta_refcount rc;
	const uint64_t nr = 5000;
	ck_assert_int_eq(meta_rc_init(&rc, nr), META_OK);
	/* block b gets (b * 7) % 900 references */
	for (uint32_t round = 0; round < 900; round++)
		for (uint64_t b = 0; b < nr; b++)
			if (round < (b * 7) % 900 && meta_rc_inc(&rc, b) != META_OK)
				ck_abort_msg("block %llu: no memory", (unsigned long long)b);
	for (uint64_t b = 0; b < nr; b++)
		if (meta_rc_get(&rc, b) != (b * 7) % 900)
			ck_abort_msg("block %llu: count %u, expected %llu", (unsigned long long)b,
				     meta_rc_get(&rc, b), (unsigned long long)((b * 7) % 900));
	ck_assert_uint_gt(rc.ovf.used, 2048); /* the index grown from 1024 slots several times */
	ck_assert_uint_ge(rc.ovf.cap, 2 * rc.ovf.used);
	meta_rc_free(&rc);
}
END_TEST

START_TEST(test_refcount_share)
{
	struct meta_refcount lo, hi;
	ck_assert_int_eq(meta_rc_init(&lo, 8), META_OK);
	meta_rc_share(&hi, &lo);
	for (int i = 0; i < 300; i++) {
		ck_assert_int_eq(meta_rc_inc(&lo, 1), META_OK);
		ck_assert_int_eq(meta_rc_inc(&hi, 6), META_OK);
	}
	/* one byte array, two overflow tables */
	ck_assert_uint_eq(lo.c[6], 255);
	ck_assert_uint_eq(meta_rc_get(&lo, 1), 300);
	ck_assert_uint_eq(meta_rc_get(&hi, 6), 300);
	ck_assert_uint_eq(meta_rc_get(&lo, 6), 255); /* the upper part's excess is hi's */
	meta_rc_free(&hi);
	ck_assert_uint_eq(lo.c[1], 255); /* hi did not free the shared bytes */
	meta_rc_free(&lo);
}
END_TEST

/* Nibble counters: exact to 14 in half a byte, the overflow records past it; odd and
 * even neighbours (one byte) do not disturb each other; a shared store counts its own
 * overflow. */
START_TEST(test_refcount_nibbles)
{
	struct meta_refcount rc, hi;
	const uint64_t nr = 101;
	ck_assert_int_eq(meta_rc_init4(&rc, nr), META_OK);
	meta_rc_share(&hi, &rc);
	/* block b gets (b * 3) % 40 references: below, at and past 15; b >= 50 through hi */
	for (uint32_t round = 0; round < 40; round++)
		for (uint64_t b = 0; b < nr; b++)
			if (round < (b * 3) % 40 && meta_rc_inc(b >= 50 ? &hi : &rc, b) != META_OK)
				ck_abort_msg("block %llu: no memory", (unsigned long long)b);
	for (uint64_t b = 0; b < nr; b++)
		if (meta_rc_get(b >= 50 ? &hi : &rc, b) != (b * 3) % 40)
			ck_abort_msg("block %llu: count %u, expected %llu", (unsigned long long)b,
				     meta_rc_get(b >= 50 ? &hi : &rc, b),
				     (unsigned long long)((b * 3) % 40));
	/* 14 is exact in the nibble; 15 is the top and goes to the records */
	ck_assert_uint_eq(rc.c[2] & 15u, 12);        /* block 4: 12, in the low half */
	ck_assert_uint_eq(rc.c[2] >> 4, 15);         /* block 5: 15, at the top */
	ck_assert_uint_eq(meta_rc_get(&rc, 5), 15);
	ck_assert_uint_eq(meta_rc_get(&rc, 48), 24); /* 144 % 40 */
	ck_assert_uint_eq(meta_rc_get(&rc, 101), 0);  /* past nr */
	ck_assert_uint_gt(rc.nbig, 0);
	ck_assert_uint_gt(hi.nbig, 0);
	meta_rc_free(&hi);
	meta_rc_free(&rc);
}
END_TEST

/* meta_rc_match(): the length of the leading run of equal counts, from even and odd
 * blocks, in nibbles and bytes; it stops at the first difference, at a counter at its top
 * (even when the count is right: the caller asks meta_rc_get()) and at nr. */
START_TEST(test_refcount_match)
{
	for (int nib = 0; nib <= 1; nib++) {
		struct meta_refcount rc;
		const uint64_t nr = 41;
		uint32_t want[41];
		ck_assert_int_eq(nib ? meta_rc_init4(&rc, nr) : meta_rc_init(&rc, nr), META_OK);
		for (uint64_t b = 0; b < nr; b++) {
			want[b] = (uint32_t)(b * 7 % 5);
			for (uint32_t k = 0; k < want[b]; k++)
				ck_assert_int_eq(meta_rc_inc(&rc, b), META_OK);
		}
		for (uint64_t f = 0; f < nr; f++) /* equal to the end: stops at nr */
			ck_assert_uint_eq(meta_rc_match(&rc, f, want + f, 64), nr - f);
		ck_assert_uint_eq(meta_rc_match(&rc, 3, want + 3, 0), 0);
		ck_assert_uint_eq(meta_rc_match(&rc, nr, want, 4), 0);
		for (uint64_t d = 0; d < nr; d++) { /* one difference at d, from every start <= d */
			want[d]++;
			for (uint64_t f = 0; f <= d; f++)
				if (meta_rc_match(&rc, f, want + f, (uint32_t)(nr - f)) != d - f)
					ck_abort_msg("nib %d, difference at %llu, from %llu: %u", nib,
						     (unsigned long long)d, (unsigned long long)f,
						     meta_rc_match(&rc, f, want + f, (uint32_t)(nr - f)));
			want[d]--;
		}
		/* a counter at its top stops the run although the count is right */
		for (uint32_t k = want[10]; k < (nib ? 15u : 255u) + 3; k++)
			ck_assert_int_eq(meta_rc_inc(&rc, 10), META_OK);
		want[10] = (nib ? 15u : 255u) + 3;
		ck_assert_uint_eq(meta_rc_get(&rc, 10), want[10]);
		ck_assert_uint_eq(meta_rc_match(&rc, 0, want, 41), 10);
		ck_assert_uint_eq(meta_rc_match(&rc, 9, want + 9, 32), 1);
		ck_assert_uint_eq(meta_rc_match(&rc, 11, want + 11, 30), 30);
		meta_rc_free(&rc);
	}
}
END_TEST

/* ---- level reader ---------------------------------------------------------------- */

#define NBLK 8u
static char path[UB_PATH_MAX];
static struct meta_bm *bm;

/* Leaf b holds keys b*10 and b*10+5 (value size 8); block 6 has a bad checksum. */
static void setup(void)
{
	uint8_t blk[UB_BLOCK_SIZE];
	struct meta_io *io;
	ub_tmpfile(path, "walk", (uint64_t)NBLK * UB_BLOCK_SIZE);
	for (uint64_t b = 1; b <= 6; b++) {
		uint64_t keys[2] = {b * 10, b * 10 + 5}, vals[2] = {b, b};
		ub_node(blk, META_NODE_LEAF, 8, UB_MAX, 2, keys, vals);
		meta_node_validator.prepare(&meta_node_validator, blk, b);
		if (b == 6)
			blk[100] ^= 1;
		ub_write_block(path, b, blk);
	}
	ck_assert_int_eq(meta_io_open(path, 0, &io), META_OK);
	ck_assert_int_eq(meta_bm_create(io, 0, &bm), META_OK);
}

static void teardown(void)
{
	meta_bm_destroy(bm);
	unlink(path);
}

struct seen {
	const uint64_t *want;
	size_t n, calls;
	uint64_t got[16];
	int err[16];
	size_t stop_at; /* SIZE_MAX: never */
};

static uint64_t want_block(void *ctx, size_t i)
{
	const struct seen *s = ctx;
	return s->want[i];
}

static int note(void *ctx, size_t i, const void *data, int err)
{
	struct seen *s = ctx;
	struct meta_node_info ni;
	ck_assert_uint_eq(i, s->calls); /* entry order */
	s->calls++;
	s->err[i] = err;
	if (!data) {
		ck_assert_int_eq(err, 0);
		s->got[i] = META_WALK_SKIP;
	} else {
		meta_node_get_info(data, &ni);
		s->got[i] = err ? 6 : ni.blocknr;
	}
	return i == s->stop_at ? 42 : 0;
}

static void read_and_compare(const uint64_t *want, size_t n, size_t stop_at)
{
	struct meta_walker w;
	struct seen s = {.want = want, .n = n, .stop_at = stop_at};
	meta_walker_init(&w, bm);
	int r = meta_walk_read(&w, n, want_block, note, &s);
	meta_walker_free(&w);
	ck_assert_int_eq(r, stop_at < n ? 42 : 0);
	ck_assert_uint_eq(s.calls, stop_at < n ? stop_at + 1 : n);
	for (size_t i = 0; i < s.calls; i++) {
		ck_assert_uint_eq(s.got[i], want[i]);
		if (want[i] == 6)
			ck_assert_int_eq(s.err[i], META_E_CHECKSUM);
		else
			ck_assert_int_eq(s.err[i], 0);
	}
}

START_TEST(test_read_ascending)
{
	static const uint64_t want[] = {META_WALK_SKIP, 1, 1, 2, META_WALK_SKIP, 3, 6, META_WALK_SKIP};
	read_and_compare(want, 8, SIZE_MAX);
	read_and_compare(want, 8, 3);
}
END_TEST

START_TEST(test_read_out_of_order)
{
	static const uint64_t want[] = {5, 1, META_WALK_SKIP, 6, 1, 3, 2, 4};
	read_and_compare(want, 8, SIZE_MAX);
	read_and_compare(want, 8, 4);
}
END_TEST

struct dmg {
	int n;
	struct meta_damage last;
};

static void on_damage(void *ctx, const struct meta_damage *d)
{
	struct dmg *g = ctx;
	g->n++;
	g->last = *d;
}

START_TEST(test_verdict)
{
	const void *node;
	struct dmg g = {0};
	ck_assert_int_eq(meta_bm_get(bm, 2, &meta_node_validator, &node), META_OK);
	/* clean against its parent's range (as a root: two entries are not under-full) */
	ck_assert_int_eq(meta_walk_verdict(node, 0, 2, 8, 20, 30, 1, NULL, on_damage, &g), -1);
	ck_assert_int_eq(g.n, 0);
	/* not a root: under a third full, which is not fatal */
	ck_assert_int_eq(meta_walk_verdict(node, 0, 2, 8, 20, 30, 0, NULL, on_damage, &g),
			 META_SEV_NONFATAL);
	ck_assert_int_eq(g.last.kind, META_DMG_NODE_UNDERFULL);
	g.n = 0;
	/* a key outside [lo, hi) */
	ck_assert_int_eq(meta_walk_verdict(node, 0, 2, 8, 0, 25, 0, NULL, on_damage, &g),
			 META_SEV_FATAL);
	ck_assert_int_eq(g.n, 1);
	ck_assert_int_eq(g.last.kind, META_DMG_NODE_KEY_RANGE);
	ck_assert_uint_eq(g.last.block, 2);
	ck_assert_uint_eq(g.last.end, 25);
	/* the wrong value size for this tree */
	ck_assert_int_eq(meta_walk_verdict(node, 0, 2, 24, 0, 100, 0, NULL, on_damage, &g),
			 META_SEV_FATAL);
	ck_assert_int_eq(g.last.kind, META_DMG_NODE_VALUE_SIZE);
	meta_bm_put(bm, node);
	/* a node the validator refused: its range is lost */
	ck_assert_int_eq(meta_walk_verdict(NULL, META_E_CHECKSUM, 6, 8, 60, 70, 0, "why", on_damage,
					   &g), META_SEV_FATAL);
	ck_assert_int_eq(g.n, 3);
	ck_assert_int_eq(g.last.kind, META_DMG_NODE_CHECKSUM);
	ck_assert_uint_eq(g.last.begin, 60);
	ck_assert_str_eq(g.last.detail, "why");
	/* no callback: the verdict alone */
	ck_assert_int_eq(meta_walk_verdict(NULL, META_E_RANGE, 99, 8, 0, 1, 1, NULL, NULL, NULL),
			 META_SEV_FATAL);
}
END_TEST

/* ---- meta_walk_tree() against meta_btree_walk() --------------------------------------- */

/*
 * A hand-made tree of 4-byte values (a reference-count tree's shape) in a temp file: root
 * internal node 1 over internal nodes 2 (keys from 400) and 3 (from 600); node 2 over
 * leaves 4 and 5; node 3 over leaves 6, 7 and 8, block 999 (past the device) and internal
 * node 11, whose one child is leaf 9: a leaf one level deeper than the others.  Leaf k
 * holds keys k*100 + 0..2 (leaf 9: 900..902).  Leaf 7 gets a bad checksum when bad_csum,
 * leaf 5 a key outside its parent's range when bad_key.
 */
static void tree_file(char *p, int bad_csum, int bad_key)
{
	static const struct {
		uint64_t b;
		uint32_t n;
		uint64_t keys[5], kids[5];
	} inner[] = {
		{1, 2, {400, 600}, {2, 3}},
		{2, 2, {400, 500}, {4, 5}},
		{3, 5, {600, 700, 800, 850, 880}, {6, 7, 8, 999, 11}},
		{11, 1, {900}, {9}},
	};
	uint8_t blk[UB_BLOCK_SIZE];
	ub_tmpfile(p, "walktree", 16u * UB_BLOCK_SIZE);
	for (size_t i = 0; i < sizeof(inner) / sizeof(inner[0]); i++) {
		ub_node(blk, META_NODE_INTERNAL, 8, UB_MAX, inner[i].n, inner[i].keys, inner[i].kids);
		meta_node_validator.prepare(&meta_node_validator, blk, inner[i].b);
		ub_write_block(p, inner[i].b, blk);
	}
	for (uint64_t b = 4; b <= 9; b++) {
		uint64_t k[3] = {b * 100, b * 100 + 1, b * 100 + 2};
		uint32_t v[3] = {3, 4, 5};
		if (bad_key && b == 5)
			k[2] = 650; /* past node 5's range [500, 600) */
		ub_node(blk, META_NODE_LEAF, 4, UB_MAX, 3, k, v);
		meta_node_validator.prepare(&meta_node_validator, blk, b);
		if (bad_csum && b == 7)
			blk[200] ^= 1;
		ub_write_block(p, b, blk);
	}
}

struct tw_log {
	uint64_t leaves[16];
	size_t nleaves;
	uint64_t dmg[16][4]; /* kind, block, begin, end */
	size_t ndmg;
};

static int tw_on_leaf(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	struct tw_log *l = ctx;
	(void)node;
	ck_assert_uint_eq(ni->nr_entries, 3);
	ck_assert_uint_lt(l->nleaves, 16);
	l->leaves[l->nleaves++] = b;
	return 0;
}

static void tw_on_damage(void *ctx, const struct meta_damage *d)
{
	struct tw_log *l = ctx;
	ck_assert_uint_lt(l->ndmg, 16);
	l->dmg[l->ndmg][0] = d->kind;
	l->dmg[l->ndmg][1] = d->block;
	l->dmg[l->ndmg][2] = d->begin;
	l->dmg[l->ndmg][3] = d->end;
	l->ndmg++;
}

static int cmp_u64v(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_dmg(const void *a, const void *b)
{
	return memcmp(a, b, 4 * sizeof(uint64_t));
}

static void tw_run(struct meta_bm *b, uint64_t root, int batched, struct tw_log *l)
{
	struct meta_btree_walk_ops ops = {tw_on_leaf, tw_on_damage};
	memset(l, 0, sizeof(*l));
	if (batched)
		ck_assert_int_eq(meta_walk_tree(b, root, 4, &ops, l), 0);
	else
		ck_assert_int_eq(meta_btree_walk(b, root, 4, &ops, l), 0);
	qsort(l->leaves, l->nleaves, sizeof(uint64_t), cmp_u64v);
	qsort(l->dmg, l->ndmg, sizeof(l->dmg[0]), cmp_dmg);
}

static size_t tw_count(const struct tw_log *l, uint64_t kind, uint64_t block)
{
	size_t n = 0;
	for (size_t i = 0; i < l->ndmg; i++)
		n += l->dmg[i][0] == kind && l->dmg[i][1] == block;
	return n;
}

START_TEST(test_walk_tree_as_btree_walk)
{
	/* _i: bad_csum = i & 1, bad_key = i & 2; with the batch's read-ahead thread when i & 4 */
	char p[UB_PATH_MAX];
	struct meta_io *io;
	struct meta_bm *b;
	struct tw_log depth_first, batched;
	tree_file(p, _i & 1, _i & 2);
	ck_assert_int_eq(meta_io_open(p, 0, &io), META_OK);
	ck_assert_int_eq(meta_bm_create(io, 0, &b), META_OK);
	meta_bm_set_read_ahead(b, _i & 4);
	tw_run(b, 1, 0, &depth_first);
	tw_run(b, 1, 1, &batched);
	/* the same leaves and the same damage (order aside) */
	ck_assert_uint_eq(batched.nleaves, depth_first.nleaves);
	ck_assert_mem_eq(batched.leaves, depth_first.leaves, batched.nleaves * sizeof(uint64_t));
	ck_assert_uint_eq(batched.ndmg, depth_first.ndmg);
	ck_assert_mem_eq(batched.dmg, depth_first.dmg, batched.ndmg * sizeof(batched.dmg[0]));
	/* and what they are: leaf 9 too deep (still handed over), block 999 past the end,
	 * leaf 7's checksum, leaf 5's key */
	ck_assert_uint_eq(batched.nleaves, 6u - (_i & 1) - !!(_i & 2));
	ck_assert_uint_eq(tw_count(&batched, META_DMG_NODE_DEPTH, 9), 1);
	ck_assert_uint_eq(tw_count(&batched, META_DMG_BLOCK_OUT_OF_RANGE, 999), 1);
	ck_assert_uint_eq(tw_count(&batched, META_DMG_NODE_CHECKSUM, 7), _i & 1);
	ck_assert_uint_eq(tw_count(&batched, META_DMG_NODE_KEY_ORDER, 5) +
			  tw_count(&batched, META_DMG_NODE_KEY_RANGE, 5), !!(_i & 2));
	meta_bm_destroy(b);
	unlink(p);
}
END_TEST

/* Write an internal node of two entries at block b of file p. */
static void tw_node2(const char *p, uint64_t b, uint64_t k0, uint64_t c0, uint64_t k1, uint64_t c1)
{
	uint8_t blk[UB_BLOCK_SIZE];
	uint64_t keys[2] = {k0, k1}, kids[2] = {c0, c1};
	ub_node(blk, META_NODE_INTERNAL, 8, UB_MAX, 2, keys, kids);
	meta_node_validator.prepare(&meta_node_validator, blk, b);
	ub_write_block(p, b, blk);
}

/* A tree that is one leaf, a node that points back at itself, a child and a root past the
 * device: as meta_btree_walk. */
START_TEST(test_walk_tree_root_leaf_and_loop)
{
	char p[UB_PATH_MAX];
	struct meta_io *io;
	struct meta_bm *b;
	struct tw_log depth_first, batched;
	tree_file(p, 0, 0);
	/* block 10: an internal node whose two entries point at itself */
	tw_node2(p, 10, 0, 10, 10, 10);
	/* block 12: children 4 and all ones (the walker's "skip" value; found by fuzz_thin_check:
	 * it reached the visit as a node without data) */
	tw_node2(p, 12, 400, 4, 500, UINT64_MAX);
	ck_assert_int_eq(meta_io_open(p, 0, &io), META_OK);
	ck_assert_int_eq(meta_bm_create(io, 0, &b), META_OK);
	tw_run(b, 4, 1, &batched);
	ck_assert_uint_eq(batched.nleaves, 1);
	ck_assert_uint_eq(batched.leaves[0], 4);
	ck_assert_uint_eq(batched.ndmg, 0);
	/* the children's ranges cannot hold the parent's keys: each lost, never walked on */
	tw_run(b, 10, 0, &depth_first);
	tw_run(b, 10, 1, &batched);
	ck_assert_uint_eq(batched.nleaves, 0);
	ck_assert_uint_eq(batched.ndmg, 2);
	ck_assert_uint_eq(depth_first.ndmg, 2);
	ck_assert_mem_eq(batched.dmg, depth_first.dmg, 2 * sizeof(batched.dmg[0]));
	tw_run(b, 12, 0, &depth_first);
	tw_run(b, 12, 1, &batched);
	ck_assert_uint_eq(batched.nleaves, 1);
	ck_assert_uint_eq(batched.ndmg, depth_first.ndmg);
	ck_assert_mem_eq(batched.dmg, depth_first.dmg, batched.ndmg * sizeof(batched.dmg[0]));
	ck_assert_uint_eq(tw_count(&batched, META_DMG_BLOCK_OUT_OF_RANGE, UINT64_MAX), 1);
	/* and a root past the device */
	tw_run(b, UINT64_MAX, 1, &batched);
	ck_assert_uint_eq(batched.nleaves, 0);
	ck_assert_uint_eq(batched.ndmg, 1);
	ck_assert_uint_eq(tw_count(&batched, META_DMG_BLOCK_OUT_OF_RANGE, UINT64_MAX), 1);
	meta_bm_destroy(b);
	unlink(p);
}
END_TEST

/* ---- meta_radix_sort() against a stable qsort ------------------------------------------- */

struct rs_elem {
	uint64_t key;
	uint32_t pos, pad[3];
};

static uint64_t rs_key(const void *p)
{
	return ((const struct rs_elem *)p)->key;
}

static int cmp_rs(const void *a, const void *b)
{
	const struct rs_elem *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

START_TEST(test_radix_sort)
{
	static const unsigned bits[] = {1, 11, 12, 22, 23, 40, 64};
	static const size_t sizes[] = {0, 1, 2, 5000, 70000};
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	for (size_t bi = 0; bi < sizeof(bits) / sizeof(bits[0]); bi++)
		for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
			size_t n = sizes[si];
			struct rs_elem *v = calloc(n + 1, sizeof(*v)), *w = calloc(n + 1, sizeof(*w));
			void *tmp = malloc((n + 1) * sizeof(*v));
			ck_assert_ptr_nonnull(v);
			ck_assert_ptr_nonnull(w);
			ck_assert_ptr_nonnull(tmp);
			for (size_t i = 0; i < n; i++) {
				seed = seed * 6364136223846793005ull + 1442695040888963407ull;
				uint64_t k = seed ^ (seed >> 29);
				if (bits[bi] < 64)
					k &= (1ull << bits[bi]) - 1;
				if (i % 7 == 3) /* repeated keys, to see that equal keys keep their order */
					k = v[i / 2].key;
				v[i] = (struct rs_elem){.key = k, .pos = (uint32_t)i};
			}
			memcpy(w, v, n * sizeof(*v));
			meta_radix_sort(v, n, sizeof(*v), rs_key, bits[bi], tmp);
			qsort(w, n, sizeof(*w), cmp_rs);
			ck_assert_mem_eq(v, w, n * sizeof(*v));
			free(v);
			free(w);
			free(tmp);
		}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("walk");
	TCase *tc = ub_tcase(s, "hash", 0);
	tcase_add_test(tc, test_hash_grows_and_finds);
	tcase_add_test(tc, test_hash_str);
	tcase_add_test(tc, test_hidx);
	tcase_add_test(tc, test_hidx_del);
	tcase_add_test(tc, test_hidx_churn);
	tc = ub_tcase(s, "refcount", 0);
	tcase_add_test(tc, test_refcount_overflow);
	tcase_add_test(tc, test_refcount_many_overflow);
	tcase_add_test(tc, test_refcount_share);
	tcase_add_test(tc, test_refcount_nibbles);
	tcase_add_test(tc, test_refcount_match);
	tc = ub_tcase(s, "reader", 0);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_read_ascending);
	tcase_add_test(tc, test_read_out_of_order);
	tcase_add_test(tc, test_verdict);
	tcase_add_loop_test(tc, test_walk_tree_as_btree_walk, 0, 8);
	tcase_add_test(tc, test_walk_tree_root_leaf_and_loop);
	tcase_add_test(tc, test_radix_sort);
	return s;
}

int main(void)
{
	return ub_run(suite());
}

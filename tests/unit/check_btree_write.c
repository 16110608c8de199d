/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of the transactional btree (libmeta/pdata/btree_write.c): seeded random
 * insert/remove sequences against a plain model (an array indexed by key), values of 4, 8,
 * 16 and 24 bytes that hold a reference to a "data block" (counted by the value type),
 * trees of one and two levels, and two roots sharing subtrees after a snapshot.  After
 * every commit:
 *   (a) the trees read back through the existing readers (meta_btree_walk,
 *       meta_btree_lookup) equal the model;
 *   (b) every node passes meta_node_check through the walk (no non-root node under a third
 *       full, leaves at one depth, keys in order and in range);
 *   (c) every metadata block's count (the tm's space) and every data block's count (the
 *       value type's) equal the references actually present in the trees.
 * Also: a commit whose Nth write fails, for every N (the trees of the last commit stay
 * readable with their counts), values with their own equality, nodes refused by their
 * validator.  The tm allocates from an array-backed space (test-only).  DMMETA_LONG=1 runs
 * more seeds and operations, DMMETA_SEED=n other seeds; DMMETA_BENCH=1 times 1M inserts
 * and removes and prints ops/s and depth.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmeta/bm.h>
#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/io.h>

#include "base/endian.h"
#include "pdata/btree_write.h"
#include "pdata/tm.h"
#include "unit_base.h"

/*
 * Check records every passing ck_assert (a write(2) each): the hot loops use these, which
 * cost nothing until they fail.
 */
#define REQ_EQ(a, b)                                                                         \
	do {                                                                                 \
		unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b); \
		if (a_ != b_)                                                                \
			ck_abort_msg("%s == %s failed: %llu != %llu", #a, #b, a_, b_);       \
	} while (0)
#define REQ(c)                                                                               \
	do {                                                                                 \
		if (!(c))                                                                    \
			ck_abort_msg("%s failed", #c);                                       \
	} while (0)
#define REQ_MEM(a, b, n)                                                                     \
	do {                                                                                 \
		if (memcmp((a), (b), (n)))                                                   \
			ck_abort_msg("%s and %s differ", #a, #b);                            \
	} while (0)

/* DMMETA_SEED=n shifts the seeds of the random sequences (to look further). */
static unsigned seed_base(void)
{
	const char *e = getenv("DMMETA_SEED");
	return e ? (unsigned)strtoul(e, NULL, 10) * 1000003u : 0;
}

/* ---- the data space (what values refer to) ------------------------------------------ */

#define NDATA 4096u

struct dspace {
	uint32_t cnt[NDATA];
	unsigned bad; /* a dec below 0 */
};

static uint32_t value_id(const void *v)
{
	return get_le32p(v) % NDATA;
}

static int d_inc(void *ctx, const void *v)
{
	struct dspace *d = ctx;
	d->cnt[value_id(v)]++;
	return META_OK;
}

static int d_dec(void *ctx, const void *v)
{
	struct dspace *d = ctx;
	if (!d->cnt[value_id(v)]) {
		d->bad++;
		return META_E_CORRUPT;
	}
	d->cnt[value_id(v)]--;
	return META_OK;
}

/* ---- fixture ------------------------------------------------------------------------ */

static const struct meta_validator sb_v = {"test_sb", 99u, ub_block_check, ub_block_prepare};

struct fx {
	struct ub_tm_fx t; /* the image, its bm, the space, the tm */
	struct dspace *data;
	struct meta_btree_info info;
	uint64_t nr_commits;
};

static void fx_init(struct fx *f, uint64_t nblocks, uint32_t width, unsigned levels, size_t cache)
{
	memset(f, 0, sizeof(*f));
	ub_tm_init(&f->t, "btw", nblocks, cache);
	f->data = calloc(1, sizeof(*f->data));
	ck_assert_ptr_nonnull(f->data);
	f->info.tm = f->t.tm;
	f->info.levels = levels;
	f->info.vt.size = width;
	f->info.vt.ctx = f->data;
	f->info.vt.inc = d_inc;
	f->info.vt.dec = d_dec;
	f->info.vt.equal = NULL;
}

static void fx_done(struct fx *f)
{
	ub_tm_done(&f->t);
	free(f->data);
}

static void fx_commit(struct fx *f)
{
	uint8_t sb[UB_BLOCK_SIZE];
	memset(sb, 0, sizeof(sb));
	put_le64p(sb + 16, ++f->nr_commits);
	ck_assert_int_eq(meta_tm_pre_commit(f->t.tm), 0);
	ck_assert_int_eq(meta_tm_commit(f->t.tm, 0, &sb_v, sb), 0);
	ub_space_commit(&f->t.sp);
}

/* ---- the model ---------------------------------------------------------------------- */

#define MAXW 24u

/*
 * Entry m of the model: keys (levels 1) m * 3 + 1, (levels 2) m / kb and (m % kb) * 5.
 */
struct model {
	uint32_t n, kb;
	unsigned levels;
	uint32_t w;
	uint8_t *present;
	uint8_t (*val)[MAXW];
	uint32_t nr_present;
};

static void model_init(struct model *m, uint32_t n, unsigned levels, uint32_t w)
{
	m->n = n;
	m->kb = levels == 2 ? (n + 7) / 8 : n;
	m->levels = levels;
	m->w = w;
	m->present = calloc(n, 1);
	m->val = calloc(n, MAXW);
	m->nr_present = 0;
	ck_assert(m->present && m->val);
}

static void model_copy(struct model *dst, const struct model *src)
{
	model_init(dst, src->n, src->levels, src->w);
	memcpy(dst->present, src->present, src->n);
	memcpy(dst->val, src->val, (size_t)src->n * MAXW);
	dst->nr_present = src->nr_present;
}

static void model_free(struct model *m)
{
	free(m->present);
	free(m->val);
}

static void model_keys(const struct model *m, uint32_t i, uint64_t *keys)
{
	if (m->levels == 1) {
		keys[0] = (uint64_t)i * 3 + 1;
	} else {
		keys[0] = i / m->kb;
		keys[1] = (uint64_t)(i % m->kb) * 5;
	}
}

static void random_value(uint8_t *v, uint32_t w)
{
	uint64_t x = ub_rnd();
	memset(v, 0, MAXW);
	put_le32p(v, ub_rnd_below(NDATA));
	for (uint32_t j = 4; j < w; j++) {
		v[j] = (uint8_t)x;
		x = x >> 8 | x << 56;
	}
}

/* ---- operations ---------------------------------------------------------------------- */

/* Insert entry i (the caller's reference on the value passes to the tree). */
static void op_insert(struct fx *f, struct model *m, uint64_t *root, uint32_t i, const uint8_t *v)
{
	const struct meta_btree_vtype *vt = &f->info.vt;
	uint64_t keys[2], nr;
	bool inserted, same;
	model_keys(m, i, keys);
	/* an equal value overwrites without a dec: then the caller keeps its reference */
	same = m->present[i] &&
	       (vt->equal ? vt->equal(vt->ctx, m->val[i], v) : !memcmp(m->val[i], v, m->w));
	if (!same)
		f->data->cnt[value_id(v)]++;
	REQ_EQ(meta_btree_tx_insert(&f->info, *root, keys, v, &nr, &inserted), 0);
	REQ_EQ(inserted, !m->present[i]);
	*root = nr;
	if (!m->present[i])
		m->nr_present++;
	m->present[i] = 1;
	memcpy(m->val[i], v, m->w);
}

static void op_remove(struct fx *f, struct model *m, uint64_t *root, uint32_t i)
{
	uint64_t keys[2], nr = UINT64_MAX;
	int r;
	model_keys(m, i, keys);
	r = meta_btree_tx_remove(&f->info, *root, keys, &nr);
	if (!m->present[i]) {
		REQ_EQ(r, META_E_NOTFOUND);
		REQ_EQ(nr, UINT64_MAX);
		return;
	}
	REQ_EQ(r, 0);
	*root = nr;
	m->present[i] = 0;
	m->nr_present--;
}

static void op_lookup(struct fx *f, const struct model *m, uint64_t root, uint32_t i)
{
	uint64_t keys[2];
	uint8_t v[MAXW];
	model_keys(m, i, keys);
	if (m->present[i]) {
		REQ_EQ(meta_btree_tx_lookup(&f->info, root, keys, v), 0);
		REQ_MEM(v, m->val[i], m->w);
	} else {
		REQ_EQ(meta_btree_tx_lookup(&f->info, root, keys, v), META_E_NOTFOUND);
	}
}

/* ---- checks after a commit ---------------------------------------------------------- */

struct rb {
	struct model *m;
	uint64_t k0;
	uint32_t w;
	uint64_t *subroots, *subkeys;
	uint32_t nsub, capsub;
	uint32_t seen;   /* entries read back */
	uint64_t last;   /* key order across leaves */
	int any;
	unsigned damage;
	int first_kind;
};

static void on_damage(void *ctx, const struct meta_damage *d)
{
	struct rb *r = ctx;
	if (!r->damage++)
		r->first_kind = d->kind;
}

static uint32_t model_index(const struct model *m, uint64_t k0, uint64_t k1)
{
	if (m->levels == 1) {
		REQ_EQ(k1 % 3, 1);
		return (uint32_t)(k1 / 3);
	}
	REQ_EQ(k1 % 5, 0);
	return (uint32_t)(k0 * m->kb + k1 / 5);
}

static int on_leaf(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	struct rb *r = ctx;
	for (uint32_t i = 0; i < ni->nr_entries; i++) {
		uint64_t k = meta_node_key(node, i);
		uint32_t mi;
		if (r->any)
			REQ(k > r->last);
		r->any = 1;
		r->last = k;
		mi = model_index(r->m, r->k0, k);
		REQ(mi < r->m->n);
		if (!r->m->present[mi])
			ck_abort_msg("key %llu read back, not in the model", (unsigned long long)k);
		REQ_MEM(meta_node_value(node, i), r->m->val[mi], r->w);
		r->seen++;
	}
	(void)b;
	return 0;
}

static int on_top_leaf(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	struct rb *r = ctx;
	for (uint32_t i = 0; i < ni->nr_entries; i++) {
		if (r->nsub == r->capsub) {
			r->capsub = r->capsub ? r->capsub * 2 : 64;
			r->subroots = realloc(r->subroots, r->capsub * sizeof(uint64_t));
			r->subkeys = realloc(r->subkeys, r->capsub * sizeof(uint64_t));
			REQ(r->subroots && r->subkeys);
		}
		r->subkeys[r->nsub] = meta_node_key(node, i);
		r->subroots[r->nsub++] = meta_node_value64(node, i);
	}
	(void)b;
	return 0;
}

/* (a) and (b): the tree at root reads back as the model through meta_btree_walk. */
static void check_readback(struct fx *f, struct model *m, uint64_t root)
{
	struct meta_btree_walk_ops ops = {on_leaf, on_damage};
	struct rb r;
	memset(&r, 0, sizeof(r));
	r.m = m;
	r.w = m->w;
	if (m->levels == 1) {
		REQ_EQ(meta_btree_walk(f->t.bm, root, m->w, &ops, &r), 0);
	} else {
		struct meta_btree_walk_ops top = {on_top_leaf, on_damage};
		REQ_EQ(meta_btree_walk(f->t.bm, root, 8, &top, &r), 0);
		for (uint32_t s = 0; s < r.nsub; s++) {
			r.k0 = r.subkeys[s];
			r.any = 0;
			REQ_EQ(meta_btree_walk(f->t.bm, r.subroots[s], m->w, &ops, &r), 0);
		}
		free(r.subroots);
		free(r.subkeys);
	}
	ck_assert_msg(r.damage == 0, "%u damage(s) in the tree, first %s", r.damage,
		      meta_damage_name(r.first_kind));
	REQ_EQ(r.seen, m->nr_present);
	/* and the one-key reader agrees, for a few keys */
	if (m->levels == 1) {
		for (int k = 0; k < 20; k++) {
			uint32_t i = ub_rnd_below(m->n);
			uint64_t keys[2];
			uint8_t v[MAXW];
			int rr;
			model_keys(m, i, keys);
			rr = meta_btree_lookup(f->t.bm, root, keys[0], v, m->w);
			REQ_EQ(rr, m->present[i] ? 0 : META_E_NOTFOUND);
			if (!rr)
				REQ_MEM(v, m->val[i], m->w);
		}
	}
}

/* (c): the references present in the trees under roots[0..n). */
struct refs {
	struct fx *f;
	uint32_t *meta, *data;
	uint8_t *visited;
	unsigned max_depth;
};

static void count_node(struct refs *c, uint64_t b, unsigned level, unsigned depth)
{
	const void *node;
	struct meta_node_info ni;
	REQ(b < c->f->t.sp.n);
	if (c->visited[b])
		return;
	c->visited[b] = 1;
	if (depth > c->max_depth)
		c->max_depth = depth;
	REQ_EQ(meta_bm_get(c->f->t.bm, b, &meta_node_validator, &node), 0);
	meta_node_get_info(node, &ni);
	for (uint32_t i = 0; i < ni.nr_entries; i++) {
		if ((ni.flags & META_NODE_INTERNAL) || level + 1 < c->f->info.levels) {
			uint64_t child = meta_node_value64(node, i);
			c->meta[child]++;
			count_node(c, child, (ni.flags & META_NODE_INTERNAL) ? level : level + 1,
				   depth + 1);
		} else {
			c->data[value_id(meta_node_value(node, i))]++;
		}
	}
	meta_bm_put(c->f->t.bm, node);
}

static unsigned check_counts(struct fx *f, const uint64_t *roots, unsigned n)
{
	struct refs c;
	c.f = f;
	c.meta = calloc(f->t.sp.n, sizeof(uint32_t));
	c.data = calloc(NDATA, sizeof(uint32_t));
	c.visited = calloc(f->t.sp.n, 1);
	c.max_depth = 0;
	REQ(c.meta && c.data && c.visited);
	c.meta[0] = 1; /* the superblock */
	for (unsigned i = 0; i < n; i++) {
		c.meta[roots[i]]++;
		count_node(&c, roots[i], 0, 1);
	}
	for (uint64_t b = 0; b < f->t.sp.n; b++)
		if (c.meta[b] != f->t.sp.cnt[b])
			ck_abort_msg("block %llu: %u references, count %u", (unsigned long long)b,
				     c.meta[b], f->t.sp.cnt[b]);
	for (uint32_t d = 0; d < NDATA; d++)
		if (c.data[d] != f->data->cnt[d])
			ck_abort_msg("data block %u: %u references, count %u", d, c.data[d],
				     f->data->cnt[d]);
	REQ_EQ(f->data->bad, 0);
	free(c.meta);
	free(c.data);
	free(c.visited);
	return c.max_depth;
}

static unsigned commit_and_check(struct fx *f, struct model **ms, const uint64_t *roots, unsigned n)
{
	fx_commit(f);
	for (unsigned i = 0; i < n; i++)
		check_readback(f, ms[i], roots[i]);
	return check_counts(f, roots, n);
}

/* ---- random sequences ---------------------------------------------------------------- */

/*
 * ops random operations on tree `which` of roots[0..n) (models all[]): inserts first
 * outnumber removes (the tree grows to a few levels), then removes win (it shrinks back); a
 * commit and the checks of every tree every 1..span ops.  Returns the deepest tree seen.
 */
static unsigned random_ops(struct fx *f, struct model **all, uint64_t *roots, unsigned n,
			   unsigned which, unsigned ops, unsigned span)
{
	struct model *m = all[which];
	unsigned until = 1 + ub_rnd_below(span), depth = 0;
	for (unsigned k = 0; k < ops; k++) {
		unsigned ins = k < ops / 2 ? 70 : 30, dice = ub_rnd_below(100);
		uint32_t i = ub_rnd_below(m->n);
		if (dice < ins) {
			uint8_t v[MAXW];
			if (m->present[i] && ub_rnd_below(4) == 0)
				memcpy(v, m->val[i], MAXW); /* the same value again */
			else
				random_value(v, m->w);
			op_insert(f, m, &roots[which], i, v);
		} else if (dice < 97) {
			op_remove(f, m, &roots[which], i);
		} else {
			op_lookup(f, m, roots[which], i);
		}
		if (k + 1 == until || k + 1 == ops) {
			unsigned d = commit_and_check(f, all, roots, n);
			if (d > depth)
				depth = d;
			until = k + 2 + ub_rnd_below(span);
		}
	}
	return depth;
}

/* A random permutation of 0..n-1 (the caller frees it). */
static uint32_t *permutation(uint32_t n)
{
	uint32_t *p = malloc((size_t)n * sizeof(*p));
	ck_assert_ptr_nonnull(p);
	for (uint32_t i = 0; i < n; i++)
		p[i] = i;
	for (uint32_t i = n; i > 1; i--) {
		uint32_t j = ub_rnd_below(i), t = p[i - 1];
		p[i - 1] = p[j];
		p[j] = t;
	}
	return p;
}

/*
 * Insert (remove) the entries of order[0..n) into (from) tree `which`, a commit and the
 * checks every `every` operations and at the end.  Returns the deepest tree seen.
 */
static unsigned sweep(struct fx *f, struct model **all, uint64_t *roots, unsigned nroots,
		      unsigned which, const uint32_t *order, uint32_t n, int insert, uint32_t every)
{
	struct model *m = all[which];
	unsigned depth = 0, d;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = order ? order[k] : k;
		if (insert) {
			uint8_t v[MAXW];
			random_value(v, m->w);
			op_insert(f, m, &roots[which], i, v);
		} else if (m->present[i]) {
			op_remove(f, m, &roots[which], i);
		}
		if ((k + 1) % every == 0 && k + 1 < n) {
			d = commit_and_check(f, all, roots, nroots);
			depth = d > depth ? d : depth;
		}
	}
	d = commit_and_check(f, all, roots, nroots);
	return d > depth ? d : depth;
}

/* Remove every entry of tree `which` (ascending), then commit and check. */
static void remove_all(struct fx *f, struct model **all, uint64_t *roots, unsigned n,
		       unsigned which)
{
	sweep(f, all, roots, n, which, NULL, all[which]->n, 0, UINT32_MAX);
}

/*
 * One tree: fill entries fill of nkeys (in random order, or ascending for odd seeds: the
 * sequential case splits one into two), ops random operations, then everything removed (in
 * random order, or ascending), a commit and the checks all along.
 */
static void run_random(uint32_t width, unsigned levels, uint32_t nkeys, uint32_t fill,
		       unsigned ops, unsigned seeds, unsigned min_depth)
{
	unsigned max_depth = 0;
	if (ub_long_run()) {
		seeds *= 5;
		ops *= 3;
	}
	for (unsigned seed = 1; seed <= seeds; seed++) {
		struct fx f;
		struct model m, *all[1] = {&m};
		uint64_t roots[1];
		uint32_t *order;
		unsigned d;
		ub_rnd_state = 0x9e3779b97f4a7c15ull *
			    (seed + 1000u * width + 77u * levels + seed_base());
		fx_init(&f, 65536, width, levels, 0);
		model_init(&m, nkeys, levels, width);
		ck_assert_int_eq(meta_btree_tx_empty(&f.info, &roots[0]), 0);
		commit_and_check(&f, all, roots, 1);
		order = permutation(nkeys);
		d = sweep(&f, all, roots, 1, 0, seed % 2 ? NULL : order, fill, 1, 5000);
		max_depth = d > max_depth ? d : max_depth;
		d = random_ops(&f, all, roots, 1, 0, ops, 1500);
		max_depth = d > max_depth ? d : max_depth;
		/* everything goes: the superblock and the empty root remain */
		free(order);
		order = permutation(nkeys);
		sweep(&f, all, roots, 1, 0, seed % 2 ? order : NULL, nkeys, 0, 3000);
		ck_assert_uint_eq(m.nr_present, 0);
		free(order);
		model_free(&m);
		fx_done(&f);
	}
	ck_assert_uint_ge(max_depth, min_depth);
}

/*
 * Two roots sharing subtrees: a tree is built, then snapshotted (its root gets a second
 * reference, as a thin snapshot's mapping tree does) -- once after a commit, once in the
 * transaction that changed it -- and both trees are changed on their own; then one is
 * deleted (meta_btree_tx_del), then the other: every count goes back to zero.
 */
static void run_shared(uint32_t width, unsigned levels, uint32_t nkeys, unsigned ops,
		       unsigned seeds)
{
	if (ub_long_run())
		seeds *= 5;
	for (unsigned seed = 1; seed <= seeds; seed++) {
		struct fx f;
		struct model m[3], *all[3] = {&m[0], &m[1], &m[2]};
		uint64_t roots[3];
		ub_rnd_state = 0x51ed27ull * (seed + 1000u * width + 77u * levels + seed_base());
		fx_init(&f, 32768, width, levels, 0);
		model_init(&m[0], nkeys, levels, width);
		ck_assert_int_eq(meta_btree_tx_empty(&f.info, &roots[0]), 0);
		random_ops(&f, all, roots, 1, 0, ops / 2, 1000);
		/* a snapshot of a committed tree */
		roots[1] = roots[0];
		ck_assert_int_eq(meta_tm_inc(f.t.tm, roots[0]), 0);
		model_copy(&m[1], &m[0]);
		commit_and_check(&f, all, roots, 2);
		random_ops(&f, all, roots, 2, 0, ops / 4, 300);
		random_ops(&f, all, roots, 2, 1, ops / 4, 300);
		/* a snapshot of a tree changed in this transaction (its new blocks get shared) */
		for (unsigned k = 0; k < 50; k++) {
			uint8_t v[MAXW];
			random_value(v, width);
			op_insert(&f, &m[1], &roots[1], ub_rnd_below(nkeys), v);
		}
		roots[2] = roots[1];
		ck_assert_int_eq(meta_tm_inc(f.t.tm, roots[1]), 0);
		model_copy(&m[2], &m[1]);
		for (unsigned k = 0; k < 50; k++) {
			op_remove(&f, &m[1], &roots[1], ub_rnd_below(nkeys));
			op_remove(&f, &m[2], &roots[2], ub_rnd_below(nkeys));
		}
		commit_and_check(&f, all, roots, 3);
		/* delete the snapshot while it still shares most of its nodes */
		ck_assert_int_eq(meta_btree_tx_del(&f.info, roots[2]), 0);
		commit_and_check(&f, all, roots, 2);
		roots[2] = roots[0];
		ck_assert_int_eq(meta_tm_inc(f.t.tm, roots[0]), 0);
		model_free(&m[2]);
		model_copy(&m[2], &m[0]);
		random_ops(&f, all, roots, 3, 2, ops / 4, 300);
		random_ops(&f, all, roots, 3, 1, ops / 4, 300);
		/* delete the first tree: what only it held goes, the rest keeps its counts */
		ck_assert_int_eq(meta_btree_tx_del(&f.info, roots[0]), 0);
		commit_and_check(&f, all + 1, roots + 1, 2);
		/* empty the second one key by key, delete the third whole */
		remove_all(&f, all + 1, roots + 1, 2, 0);
		ck_assert_int_eq(meta_btree_tx_del(&f.info, roots[2]), 0);
		commit_and_check(&f, all + 1, roots + 1, 1);
		ck_assert_int_eq(meta_btree_tx_del(&f.info, roots[1]), 0);
		commit_and_check(&f, all, roots, 0);
		for (uint32_t d = 0; d < NDATA; d++)
			REQ_EQ(f.data->cnt[d], 0);
		for (unsigned i = 0; i < 3; i++)
			model_free(&m[i]);
		fx_done(&f);
	}
}

/*
 * A full leaf whose siblings are shared (the tree was snapshotted): it is split in two,
 * never evened out with a sibling another tree still uses.
 */
START_TEST(test_full_leaf_shared_siblings)
{
	struct fx f;
	struct model m[2], *all[2] = {&m[0], &m[1]};
	uint64_t roots[2];
	uint32_t even[2000];
	ub_rnd_state = 4242;
	fx_init(&f, 8192, 8, 1, 0);
	model_init(&m[0], 4000, 1, 8);
	ck_assert_int_eq(meta_btree_tx_empty(&f.info, &roots[0]), 0);
	/* ascending even entries: half-full leaves of 126, each spanning 252 entries */
	for (uint32_t i = 0; i < 2000; i++)
		even[i] = 2 * i;
	sweep(&f, all, roots, 1, 0, even, 2000, 1, UINT32_MAX);
	roots[1] = roots[0];
	ck_assert_int_eq(meta_tm_inc(f.t.tm, roots[0]), 0);
	model_copy(&m[1], &m[0]);
	commit_and_check(&f, all, roots, 2);
	/* fill the fourth leaf's range with the odd entries between, and one more */
	for (uint32_t i = 3 * 252 + 1; i < 4 * 252 + 3; i += 2) {
		uint8_t v[MAXW];
		random_value(v, 8);
		op_insert(&f, &m[0], &roots[0], i, v);
	}
	commit_and_check(&f, all, roots, 2);
	remove_all(&f, all, roots, 2, 1);
	ck_assert_int_eq(meta_btree_tx_del(&f.info, roots[1]), 0);
	remove_all(&f, all, roots, 1, 0);
	model_free(&m[0]);
	model_free(&m[1]);
	fx_done(&f);
}
END_TEST

/*
 * A root left with one child (its two children merged), then snapshotted: a remove from
 * one tree makes its root take the shared child's entries, which gain a parent.
 */
START_TEST(test_collapse_shared_child)
{
	struct fx f;
	struct model m[2], *all[2] = {&m[0], &m[1]};
	uint64_t roots[2];
	const void *node;
	ub_rnd_state = 777;
	fx_init(&f, 8192, 16, 1, 0);
	model_init(&m[0], 1000, 1, 16);
	ck_assert_int_eq(meta_btree_tx_empty(&f.info, &roots[0]), 0);
	/* 169 entries: the leaf of 168 splits beneath itself into two */
	sweep(&f, all, roots, 1, 0, NULL, 169, 1, UINT32_MAX);
	ck_assert_int_eq(meta_bm_get(f.t.bm, roots[0], &meta_node_validator, &node), 0);
	ck_assert_uint_eq(ub_node_flags(node), META_NODE_INTERNAL);
	ck_assert_uint_eq(ub_node_nr(node), 2);
	meta_bm_put(f.t.bm, node);
	/*
	 * Under 2 * (56 + 1) entries the two children merge before a remove goes down: the
	 * 57th remove leaves the root with one child (the next would take its entries).
	 */
	for (uint32_t i = 0; i < 57; i++)
		op_remove(&f, &m[0], &roots[0], i);
	commit_and_check(&f, all, roots, 1);
	ck_assert_int_eq(meta_bm_get(f.t.bm, roots[0], &meta_node_validator, &node), 0);
	ck_assert_uint_eq(ub_node_flags(node), META_NODE_INTERNAL);
	ck_assert_uint_eq(ub_node_nr(node), 1);
	meta_bm_put(f.t.bm, node);
	roots[1] = roots[0];
	ck_assert_int_eq(meta_tm_inc(f.t.tm, roots[0]), 0);
	model_copy(&m[1], &m[0]);
	op_remove(&f, &m[0], &roots[0], 100);
	commit_and_check(&f, all, roots, 2);
	ck_assert_int_eq(meta_bm_get(f.t.bm, roots[0], &meta_node_validator, &node), 0);
	ck_assert_uint_eq(ub_node_flags(node), META_NODE_LEAF);
	meta_bm_put(f.t.bm, node);
	ck_assert_int_eq(meta_btree_tx_del(&f.info, roots[0]), 0);
	commit_and_check(&f, all + 1, roots + 1, 1);
	model_free(&m[0]);
	model_free(&m[1]);
	fx_done(&f);
}
END_TEST

/* A node that fails its validator is an error, never a crash; an absent key changes nothing. */
START_TEST(test_refused_node)
{
	struct fx f;
	struct model m, *all[1] = {&m};
	uint64_t roots[1], keys[1], nr;
	uint8_t v[MAXW], zero[UB_BLOCK_SIZE];
	const void *node;
	uint64_t leaf;
	ub_rnd_state = 99;
	fx_init(&f, 4096, 8, 1, 0);
	model_init(&m, 2000, 1, 8);
	ck_assert_int_eq(meta_btree_tx_empty(&f.info, &roots[0]), 0);
	sweep(&f, all, roots, 1, 0, NULL, 1000, 1, UINT32_MAX);
	/* an absent key: META_E_NOTFOUND, no block allocated */
	keys[0] = 3 * 1500 + 1;
	ck_assert_int_eq(meta_btree_tx_remove(&f.info, roots[0], keys, &nr), META_E_NOTFOUND);
	ck_assert(!meta_tm_is_new(f.t.tm, roots[0]));
	/* zero the first leaf on disk, behind the cache */
	ck_assert_int_eq(meta_bm_get(f.t.bm, roots[0], &meta_node_validator, &node), 0);
	leaf = get_le64p(ub_node_value((void *)node, 0));
	meta_bm_put(f.t.bm, node);
	memset(zero, 0, sizeof(zero));
	ub_write_block(f.t.path, leaf, zero);
	meta_bm_invalidate(f.t.bm);
	keys[0] = 1;
	ck_assert_int_eq(meta_btree_tx_lookup(&f.info, roots[0], keys, v), META_E_CHECKSUM);
	random_value(v, 8);
	ck_assert_int_eq(meta_btree_tx_insert(&f.info, roots[0], keys, v, &nr, NULL),
			 META_E_CHECKSUM);
	/* bad arguments */
	f.info.vt.size = 0;
	ck_assert_int_eq(meta_btree_tx_empty(&f.info, &nr), META_E_INVAL);
	model_free(&m);
	fx_done(&f);
}
END_TEST

#define NCASES(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The random cases: value width, levels, keys, fill, operations, seeds, minimum depth. */
static const struct {
	uint32_t width;
	unsigned levels;
	uint32_t nkeys, fill;
	unsigned ops, seeds, min_depth;
} random_cases[] = {
	{8, 1, 80000, 60000, 20000, 2, 3},  {4, 1, 20000, 10000, 10000, 2, 2},
	{16, 1, 20000, 10000, 10000, 2, 2}, {24, 1, 40000, 30000, 20000, 2, 3},
	{16, 2, 64000, 40000, 20000, 2, 3},
};

START_TEST(test_random)
{
	run_random(random_cases[_i].width, random_cases[_i].levels, random_cases[_i].nkeys,
		   random_cases[_i].fill, random_cases[_i].ops, random_cases[_i].seeds,
		   random_cases[_i].min_depth);
}
END_TEST

/* The shared cases: value width, levels, keys, operations, seeds. */
static const struct {
	uint32_t width;
	unsigned levels;
	uint32_t nkeys;
	unsigned ops, seeds;
} shared_cases[] = {{8, 1, 30000, 24000, 2}, {24, 2, 24000, 24000, 2}};

START_TEST(test_shared)
{
	run_shared(shared_cases[_i].width, shared_cases[_i].levels, shared_cases[_i].nkeys,
		   shared_cases[_i].ops, shared_cases[_i].seeds);
}
END_TEST

/* Values equal when they refer to one data block (the rest may differ, as a time stamp). */
static bool same_block(void *ctx, const void *a, const void *b)
{
	(void)ctx;
	return value_id(a) == value_id(b);
}

/* With vt->equal, an overwrite by an equal value keeps the old reference: counts stay right. */
START_TEST(test_equal_values)
{
	struct fx f;
	struct model m, *all[1] = {&m};
	uint64_t roots[1];
	ub_rnd_state = 2024;
	fx_init(&f, 8192, 8, 1, 0);
	f.info.vt.equal = same_block;
	model_init(&m, 6000, 1, 8);
	ck_assert_int_eq(meta_btree_tx_empty(&f.info, &roots[0]), 0);
	sweep(&f, all, roots, 1, 0, NULL, 3000, 1, UINT32_MAX);
	for (unsigned k = 0; k < 4000; k++) {
		uint32_t i = ub_rnd_below(3000);
		uint8_t v[MAXW];
		random_value(v, 8);
		if (k % 2)
			memcpy(v, m.val[i], 4); /* the same block, another stamp */
		op_insert(&f, &m, &roots[0], i, v);
		if (k % 1000 == 999)
			commit_and_check(&f, all, roots, 1);
	}
	remove_all(&f, all, roots, 1, 0);
	model_free(&m);
	fx_done(&f);
}
END_TEST

/* A fresh start on the same image: a new io, block manager and tm (the space stays). */
static void fx_reopen(struct fx *f)
{
	ub_tm_close(&f->t);
	ub_tm_open(&f->t, 0);
	f->info.tm = f->t.tm;
}

struct saved {
	uint64_t root, pos;
	uint32_t *cnt;
	struct dspace data;
	struct model m;
};

static void save_state(struct saved *sv, const struct fx *f, const struct model *m, uint64_t root)
{
	sv->root = root;
	sv->pos = f->t.sp.pos;
	sv->cnt = malloc(f->t.sp.n * sizeof(uint32_t));
	ck_assert_ptr_nonnull(sv->cnt);
	memcpy(sv->cnt, f->t.sp.committed, f->t.sp.n * sizeof(uint32_t));
	sv->data = *f->data;
	model_copy(&sv->m, m);
}

/* Back to the last commit: the counts, the data counts, the model and the root. */
static void restore_state(const struct saved *sv, struct fx *f, struct model *m, uint64_t *root)
{
	memcpy(f->t.sp.cnt, sv->cnt, f->t.sp.n * sizeof(uint32_t));
	memcpy(f->t.sp.committed, sv->cnt, f->t.sp.n * sizeof(uint32_t));
	f->t.sp.pos = sv->pos;
	*f->data = sv->data;
	memcpy(m->present, sv->m.present, m->n);
	memcpy(m->val, sv->m.val, (size_t)m->n * MAXW);
	m->nr_present = sv->m.nr_present;
	*root = sv->root;
}

/*
 * The Nth write of a commit fails, for every N: the trees of the last commit read back as
 * they were, with their counts, on a fresh start (the transaction abandoned); once every
 * write lands, the new tree does.
 */
START_TEST(test_crash_every_write)
{
	struct fx f;
	struct model m, *all[1] = {&m};
	uint64_t roots[1], seed;
	uint32_t *order;
	struct saved sv;
	unsigned n;
	ub_rnd_state = 31337;
	fx_init(&f, 4096, 16, 2, 0);
	model_init(&m, 16000, 2, 16);
	ck_assert_int_eq(meta_btree_tx_empty(&f.info, &roots[0]), 0);
	order = permutation(16000);
	sweep(&f, all, roots, 1, 0, order, 4000, 1, UINT32_MAX);
	free(order);
	save_state(&sv, &f, &m, roots[0]);
	seed = ub_rnd();
	for (n = 0;; n++) {
		struct meta_io *io;
		uint8_t sb[UB_BLOCK_SIZE];
		int r;
		restore_state(&sv, &f, &m, &roots[0]);
		fx_reopen(&f);
		ub_rnd_state = seed;
		for (unsigned k = 0; k < 300; k++) {
			uint32_t i = ub_rnd_below(m.n);
			if (ub_rnd_below(3)) {
				uint8_t v[MAXW];
				random_value(v, 16);
				op_insert(&f, &m, &roots[0], i, v);
			} else {
				op_remove(&f, &m, &roots[0], i);
			}
		}
		io = meta_bm_io(f.t.bm);
		meta_io_fail_writes_after(io, meta_io_nr_writes(io) + n);
		r = meta_tm_pre_commit(f.t.tm);
		if (!r) {
			memset(sb, 0, sizeof(sb));
			r = meta_tm_commit(f.t.tm, 0, &sb_v, sb);
		}
		if (r) {
			REQ_EQ(r, META_E_IO);
			restore_state(&sv, &f, &m, &roots[0]);
			fx_reopen(&f);
			check_readback(&f, &m, roots[0]);
			check_counts(&f, roots, 1);
			continue;
		}
		ub_space_commit(&f.t.sp);
		check_readback(&f, &m, roots[0]);
		check_counts(&f, roots, 1);
		break;
	}
	ck_assert_uint_gt(n, 20); /* the transaction wrote that many blocks */
	free(sv.cnt);
	model_free(&sv.m);
	model_free(&m);
	fx_done(&f);
}
END_TEST

/* ---- bench (DMMETA_BENCH=1) ----------------------------------------------------------- */

/* CPU seconds of this process (the machine may be shared: wall time says little). */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct depth_walk {
	unsigned damage;
	uint64_t entries, leaves;
};

static int bench_leaf(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	struct depth_walk *w = ctx;
	w->entries += ni->nr_entries;
	w->leaves++;
	(void)b;
	(void)node;
	return 0;
}

static void bench_damage(void *ctx, const struct meta_damage *d)
{
	struct depth_walk *w = ctx;
	w->damage++;
	(void)d;
}

/* Depth of the tree (levels of nodes) down its first path, and a walk that must be clean. */
static unsigned bench_check(struct fx *f, uint64_t root, uint64_t expect)
{
	struct meta_btree_walk_ops ops = {bench_leaf, bench_damage};
	struct depth_walk w = {0, 0, 0};
	unsigned depth = 0;
	uint64_t b = root;
	for (;;) {
		const void *node;
		uint32_t flags;
		ck_assert_int_eq(meta_bm_get(f->t.bm, b, &meta_node_validator, &node), 0);
		depth++;
		flags = ub_node_flags(node);
		if (flags & META_NODE_LEAF || !ub_node_nr(node)) {
			meta_bm_put(f->t.bm, node);
			break;
		}
		b = get_le64p(ub_node_value((void *)node, 0));
		meta_bm_put(f->t.bm, node);
	}
	ck_assert_int_eq(meta_btree_walk(f->t.bm, root, f->info.vt.size, &ops, &w), 0);
	ck_assert_uint_eq(w.damage, 0);
	ck_assert_uint_eq(w.entries, expect);
	return depth;
}

static void bench_run(const char *what, uint32_t width, uint32_t n, int random_order)
{
	struct fx f;
	uint64_t root, nr, keys[1];
	uint8_t v[MAXW];
	uint32_t *order;
	double t0, t_ins, t_rem;
	unsigned depth;
	uint64_t blocks = 0;
	ub_rnd_state = 12345;
	fx_init(&f, 1u << 19, width, 1, 4096);
	f.info.vt.inc = f.info.vt.dec = NULL; /* plain values: the tree alone is timed */
	order = permutation(n);
	ck_assert_int_eq(meta_btree_tx_empty(&f.info, &root), 0);
	memset(v, 0, sizeof(v));
	t0 = now_s();
	for (uint32_t k = 0; k < n; k++) {
		keys[0] = random_order ? order[k] : k;
		put_le64p(v, keys[0]);
		if (meta_btree_tx_insert(&f.info, root, keys, v, &nr, NULL))
			ck_abort_msg("insert %u failed", k);
		root = nr;
		if ((k + 1) % 10000 == 0)
			fx_commit(&f);
	}
	fx_commit(&f);
	t_ins = now_s() - t0;
	depth = bench_check(&f, root, n);
	for (uint64_t b = 0; b < f.t.sp.n; b++)
		blocks += f.t.sp.cnt[b] != 0;
	free(order);
	order = permutation(n);
	t0 = now_s();
	for (uint32_t k = 0; k < n; k++) {
		keys[0] = order[k];
		if (meta_btree_tx_remove(&f.info, root, keys, &nr))
			ck_abort_msg("remove %u failed", k);
		root = nr;
		if ((k + 1) % 10000 == 0)
			fx_commit(&f);
	}
	fx_commit(&f);
	t_rem = now_s() - t0;
	bench_check(&f, root, 0);
	printf("bench %-10s %u keys, value %2u: insert %8.0f ops/s, remove (random) %8.0f ops/s "
	       "(CPU time), depth %u, %llu blocks (commit every 10000)\n",
	       what, n, width, n / t_ins, n / t_rem, depth, (unsigned long long)blocks);
	free(order);
	fx_done(&f);
}

START_TEST(test_bench)
{
	uint32_t n = 1000000;
	bench_run("ascending", 8, n, 0);
	bench_run("random", 8, n, 1);
	bench_run("random", 24, n, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("btree_write");
	TCase *tc = ub_tcase(s, "btree_write", 120);
	tcase_add_loop_test(tc, test_random, 0, NCASES(random_cases));
	tcase_add_test(tc, test_full_leaf_shared_siblings);
	tcase_add_test(tc, test_collapse_shared_child);
	tcase_add_test(tc, test_refused_node);
	tcase_add_test(tc, test_crash_every_write);
	tcase_add_test(tc, test_equal_values);
	tcase_add_loop_test(tc, test_shared, 0, NCASES(shared_cases));
	if (getenv("DMMETA_BENCH") && *getenv("DMMETA_BENCH") && *getenv("DMMETA_BENCH") != '0')
		tcase_add_test(ub_tcase(s, "bench", 600), test_bench);
	return ub_run(s);
}

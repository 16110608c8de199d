/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libmeta: full consistency check of thin-pool metadata.
 *
 * Trees are read breadth first, one level at a time: the block numbers of the
 * next level are collected while a level is processed, then read with
 * meta_walk_read() (pdata/walk.h: sorted, coalesced, validated) and judged with
 * meta_walk_verdict().  Every metadata block is
 * read at most once (state[] per block), so shared subtrees cost nothing extra;
 * their reference counts still grow once per parent.  Mapping counts per device
 * are computed afterwards, bottom up, memoised per node.
 *
 * Reference counts live in pdata/refcount.h stores: one saturating byte per block
 * plus an overflow table for the (rare) counts of 255 and more.
 */
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <stdio.h>

#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/sm.h>
#include <libmeta/thin.h>
#include <libmeta/thin_check.h>

#include "base/endian.h"
#include "base/util.h"
#include "pdata/refcount.h"
#include "pdata/sm_read.h"
#include "pdata/walk.h"

#define NONE UINT64_MAX
#define MAX_BAD_REPORTS 64u

/* ----------------------------------------------------------- the checker */

enum tkind {
	K_DETAILS, /* device details tree, value 24 */
	K_TOP,     /* top-level mapping tree, value 8 (bottom roots) */
	K_MAP,     /* bottom-level mapping tree, value 8 (block/time) */
};

static const uint32_t kind_vs[] = {24, 8, 8};

enum bstate { ST_NONE = 0, ST_QUEUED, ST_LEAF, ST_INTERNAL, ST_BAD };

/*
 * A queued node: 32 bytes, the level queue being thin_check's largest array after the
 * counts.  b < dev_blocks (checked before queuing), and a metadata device has fewer than
 * 2^51 blocks, so 56 bits hold it.
 */
struct item {
	uint64_t lo, hi, dev;
	uint64_t b : 56;
	uint64_t kind : 4, view : 1, is_root : 1;
	uint64_t revisit : 1; /* a details/top-level node another view read first: values only */
};
_Static_assert(sizeof(struct item) == 32, "struct item: 32 bytes");

struct det {
	uint64_t dev, mapped;
};

struct devroot {
	uint64_t dev, root;
};

struct view {
	uint64_t details_root, mapping_root;
	struct det *dets;
	size_t ndets, capdets;
	struct devroot *roots;
	size_t nroots, caproots;
	bool details_damaged, top_damaged;
};

struct ck {
	struct meta_thin *t;
	struct meta_bm *bm;
	const struct meta_thin_check_opts *o;
	struct meta_thin_check_result *r;
	int err; /* first operational error (NOMEM) */

	uint64_t dev_blocks; /* metadata device size in blocks */
	uint64_t nr_data;    /* data blocks (data sm nr_blocks) */
	bool count_meta, count_data, walk_bottom;

	struct meta_refcount mc, dc;
	/*
	 * The data counts are bumped on two threads during the mapping walk: blocks below
	 * dsplit by the walk (leaf_values), the others by pre_check() on the reader thread,
	 * for the same leaves.  Both share dc.c (disjoint bytes); counts of 255 and more of
	 * the upper part go to dcr's own overflow table.
	 */
	uint64_t dsplit;
	struct meta_refcount dcr; /* shares dc.c; own .ovf */
	int dcr_nomem;     /* set by the reader thread, read after the batch */
	uint8_t *state; /* enum bstate per metadata block */
	uint8_t *kindof; /* enum tkind of the tree a queued/read block belongs to */
	uint8_t *vmask;  /* details/top-level nodes: bit v = queued for view v */
	uint8_t *prechk; /* 1: the node passed meta_node_check() silently on the reader thread */
	size_t pre_pos;  /* pre_check()'s cursor in cur[] (blocks come in ascending order) */
	uint8_t *memo;  /* bottom-up pass: 0 none, 1 busy, 2 done, |4 errors, |8 depth reported */
	uint8_t *height;
	uint32_t *aux;  /* leaf: nr_entries; internal: offset into kids */
	uint32_t *sub;  /* memoised subtree mapping count */
	uint64_t *kids; /* internal nodes: nr, child... */
	size_t nkids, capkids;

	struct view views[2];
	int nviews;

	struct item *cur, *next;
	size_t ncur, capcur, nnext, capnext;
	struct meta_walker walker;

	/* damage relay */
	uint64_t relay_dev;
	int silent;   /* swallow damage (a revisit: the first view's pass reported) */
	int saw_damage;

	enum meta_thin_check_phase phase;
	uint64_t nodes_read;
	bool trees_damaged; /* fatal damage in a tree: computed counts are lower bounds */
};

static void emit(struct ck *c, const struct meta_damage *d)
{
	struct meta_thin_check_result *r = c->r;
	int s = (int)d->severity;
	if (s < 0)
		s = 0;
	if (s > 2)
		s = 2;
	c->saw_damage = 1;
	r->nr_damage[s]++;
	if (s > r->worst)
		r->worst = s;
	if (c->o->damage)
		c->o->damage(c->o->damage_ctx, d);
}

static void relay(void *ctx, const struct meta_damage *d)
{
	struct ck *c = ctx;
	struct meta_damage x = *d;
	if (c->silent) {
		c->saw_damage = 1;
		return;
	}
	if (x.dev_id == NONE)
		x.dev_id = c->relay_dev;
	emit(c, &x);
}

static void damage(struct ck *c, enum meta_damage_kind k, uint64_t block, uint64_t dev,
		   uint64_t begin, uint64_t end, uint64_t count, const char *detail)
{
	struct meta_damage d;
	if (c->silent) {
		c->saw_damage = 1;
		return;
	}
	d = meta_damage_make(k, block, dev, begin, end, count, detail);
	emit(c, &d);
}

static void progress(struct ck *c, enum meta_thin_check_phase p, uint64_t done, uint64_t total)
{
	c->phase = p;
	if (c->o->progress)
		c->o->progress(c->o->progress_ctx, p, done, total);
}

static void set_err(struct ck *c, int e)
{
	if (!c->err)
		c->err = e;
}

/* A growth's result (meta_grow, meta_huge_grow): false, with the error kept, if it failed. */
static bool ck_grown(struct ck *c, int e)
{
	if (!e)
		return true;
	set_err(c, e);
	return false;
}

/* Room for `need` elements in *p (see meta_grow); false, with the error kept, if none. */
static bool ck_room(struct ck *c, void **p, size_t *cap, size_t need, size_t elem)
{
	return ck_grown(c, meta_grow(p, cap, need, elem));
}

/* The levels' queues are the check's largest arrays after the counts (p100m's leaf level:
 * 4 MiB): meta_huge_grow(), not meta_grow() */
static void push_item(struct ck *c, const struct item *x)
{
	if (ck_grown(c, meta_huge_grow((void **)&c->next, &c->capnext, c->nnext + 1, sizeof(*c->next))))
		c->next[c->nnext++] = *x;
}

/*
 * A reference from a parent to metadata block b: count it and queue b for the
 * next level unless it was already seen.  Details and top-level nodes carry
 * per-view values (the live and the held root's devices), so a node another
 * view queued first is queued again for this view as a "revisit": its values
 * are collected, nothing is counted or reported twice.
 */
static void ref_node_(struct ck *c, uint64_t b, enum tkind kind, int view, uint64_t dev,
		      uint64_t lo, uint64_t hi, int is_root, int revisit)
{
	bool per_view = kind == K_DETAILS || kind == K_TOP;
	uint8_t vbit = (uint8_t)(1u << view);
	struct item x = {.b = b, .lo = lo, .hi = hi, .dev = dev, .kind = (uint8_t)kind,
			 .view = (uint8_t)view, .is_root = (uint8_t)is_root};
	if (b >= c->dev_blocks) {
		if (revisit) {
			if (kind == K_DETAILS)
				c->views[view].details_damaged = true;
			else if (kind == K_TOP)
				c->views[view].top_damaged = true;
			return;
		}
		char buf[96];
		snprintf(buf, sizeof(buf), "block %" PRIu64 " is past the end (%" PRIu64 " blocks)",
			 b, c->dev_blocks);
		damage(c, META_DMG_BLOCK_OUT_OF_RANGE, b, dev, lo, hi, 1, buf);
		c->trees_damaged = true;
		if (kind == K_DETAILS)
			c->views[view].details_damaged = true;
		else if (kind == K_TOP)
			c->views[view].top_damaged = true;
		return;
	}
	if (revisit) {
		if (!(c->vmask[b] & vbit)) {
			c->vmask[b] |= vbit;
			x.revisit = 1;
			push_item(c, &x);
		}
		return;
	}
	if (c->count_meta && meta_rc_inc(&c->mc, b))
		set_err(c, META_E_NOMEM);
	if (c->state[b] != ST_NONE) {
		if (c->kindof[b] != (uint8_t)kind) {
			damage(c, META_DMG_NODE_VALUE_SIZE, b, dev, lo, hi, 0,
			       "the block is also part of a different tree");
			c->trees_damaged = true;
			if (kind == K_DETAILS)
				c->views[view].details_damaged = true;
			else if (kind == K_TOP)
				c->views[view].top_damaged = true;
		} else if (per_view && !(c->vmask[b] & vbit)) {
			c->vmask[b] |= vbit;
			x.revisit = 1;
			push_item(c, &x);
		}
		return;
	}
	c->state[b] = ST_QUEUED;
	c->kindof[b] = (uint8_t)kind;
	if (per_view)
		c->vmask[b] |= vbit;
	push_item(c, &x);
}

static void ref_node(struct ck *c, uint64_t b, enum tkind kind, int view, uint64_t dev,
		     uint64_t lo, uint64_t hi, int is_root)
{
	ref_node_(c, b, kind, view, dev, lo, hi, is_root, 0);
}

static void ref_plain(struct ck *c, uint64_t b, uint64_t dev)
{
	if (b >= c->dev_blocks) {
		damage(c, META_DMG_BLOCK_OUT_OF_RANGE, b, dev, NONE, NONE, 1, NULL);
		return;
	}
	if (c->count_meta && meta_rc_inc(&c->mc, b))
		set_err(c, META_E_NOMEM);
}



static void add_det(struct ck *c, int view, uint64_t dev, uint64_t mapped)
{
	struct view *v = &c->views[view];
	if (ck_room(c, (void **)&v->dets, &v->capdets, v->ndets + 1, sizeof(*v->dets)))
		v->dets[v->ndets++] = (struct det){dev, mapped};
}

static void add_root(struct ck *c, int view, uint64_t dev, uint64_t root)
{
	struct view *v = &c->views[view];
	if (ck_room(c, (void **)&v->roots, &v->caproots, v->nroots + 1, sizeof(*v->roots)))
		v->roots[v->nroots++] = (struct devroot){dev, root};
}

static void mark_view_damage(struct ck *c, const struct item *it)
{
	if (it->kind == K_DETAILS)
		c->views[it->view].details_damaged = true;
	else if (it->kind == K_TOP)
		c->views[it->view].top_damaged = true;
}

/*
 * Ask the cache for the counters of a mapping leaf's data blocks in [lo, hi) (vals: its n
 * values) before counting them: they lie all over the array, and the misses then overlap
 * instead of coming one after the other.
 */
static void prefetch_counts(const struct meta_refcount *rc, const uint8_t *vals, uint32_t n,
			    uint64_t lo, uint64_t hi)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t db = get_le64p(vals + 8u * i) >> 24;
		if (db >= lo && db < hi)
			meta_rc_prefetch(rc, db);
	}
}

static void leaf_values(struct ck *c, const struct item *it, const void *node,
			const struct meta_node_info *ni)
{
	uint32_t n = ni->nr_entries;
	switch ((enum tkind)it->kind) {
	case K_DETAILS:
		for (uint32_t i = 0; i < n; i++) {
			add_det(c, it->view, meta_node_key(node, i), meta_node_value64(node, i));
		}
		break;
	case K_TOP:
		for (uint32_t i = 0; i < n; i++) {
			uint64_t dev = meta_node_key(node, i), root = meta_node_value64(node, i);
			add_root(c, it->view, dev, root);
			if (it->revisit)
				continue;
			if (c->walk_bottom)
				ref_node(c, root, K_MAP, it->view, dev, 0, NONE, 1);
			else
				ref_plain(c, root, dev);
		}
		break;
	case K_MAP: {
		/* hot loop: values read in place (the node passed meta_node_check) */
		const uint8_t *keys = (const uint8_t *)node + META_NODE_HEADER_SIZE;
		const uint8_t *vals = keys + 8u * ni->max_entries;
		struct meta_refcount *dc = c->count_data ? &c->dc : NULL;
		uint64_t past = 0, pbegin = 0, pend = 0, nr_data = c->nr_data, split = c->dsplit;
		c->r->nr_mappings += n;
		if (dc)
			prefetch_counts(dc, vals, n, 0, split);
		for (uint32_t i = 0; i < n; i++) {
			uint64_t db = get_le64p(vals + 8u * i) >> 24;
			if (db >= nr_data) {
				uint64_t k = get_le64p(keys + 8u * i);
				if (!past++)
					pbegin = k;
				pend = k + 1;
				continue;
			}
			if (!dc || db >= split) /* the upper part: counted by pre_check() */
				continue;
			if (meta_rc_inc(dc, db))
				set_err(c, META_E_NOMEM);
		}
		if (past) {
			char buf[96];
			snprintf(buf, sizeof(buf), "%" PRIu64 " mapping(s) to data blocks >= %" PRIu64,
				 past, c->nr_data);
			damage(c, META_DMG_MAPPING_PAST_END, it->b, it->dev, pbegin, pend, past, buf);
		}
		break;
	}
	}
}

/* Another view's pass over a details/top-level node: collect its values only. */
static void revisit(struct ck *c, const struct item *it, const void *data, int err)
{
	struct meta_node_info ni;
	if (err) {
		mark_view_damage(c, it);
		return;
	}
	meta_node_get_info(data, &ni);
	c->silent++;
	int sev = meta_node_check(data, it->b, ni.flags & META_NODE_INTERNAL ? 8 : kind_vs[it->kind],
				  it->lo, it->hi, it->is_root, relay, c);
	c->silent--;
	if (sev >= (int)META_SEV_FATAL) {
		mark_view_damage(c, it);
		return;
	}
	if (ni.flags & META_NODE_INTERNAL) {
		for (uint32_t i = 0; i < ni.nr_entries; i++) {
			uint64_t lo = meta_node_key(data, i);
			uint64_t hi = i + 1 < ni.nr_entries ? meta_node_key(data, i + 1) : it->hi;
			ref_node_(c, meta_node_value64(data, i), (enum tkind)it->kind, it->view, it->dev,
				  lo, hi, 0, 1);
		}
	} else {
		leaf_values(c, it, data, &ni);
	}
}

static int visit_one(struct ck *c, struct item *it, uint64_t b, const void *data, int err)
{
	c->nodes_read++;
	c->r->nr_nodes++;
	c->relay_dev = it->dev;
	int sev = !err && c->prechk[b] ? -1 /* clean: nothing to report */
		: meta_walk_verdict(data, err, b, kind_vs[it->kind], it->lo, it->hi, it->is_root,
				    err ? meta_strerror(err) : NULL, relay, c);
	c->relay_dev = NONE;
	if (sev >= (int)META_SEV_FATAL) {
		c->state[b] = ST_BAD;
		c->trees_damaged = true;
		mark_view_damage(c, it);
		return 0;
	}
	struct meta_node_info ni;
	meta_node_get_info(data, &ni);
	if (ni.flags & META_NODE_INTERNAL) {
		if (c->nkids > UINT32_MAX - 1 - ni.nr_entries ||
		    meta_grow((void **)&c->kids, &c->capkids, c->nkids + 1 + ni.nr_entries,
			      sizeof(*c->kids))) {
			set_err(c, META_E_NOMEM);
			return META_E_NOMEM;
		}
		uint64_t *k = c->kids; /* ref_node() below does not grow kids */
		c->state[b] = ST_INTERNAL;
		c->aux[b] = (uint32_t)c->nkids;
		k[c->nkids++] = ni.nr_entries;
		for (uint32_t i = 0; i < ni.nr_entries; i++) {
			uint64_t child = meta_node_value64(data, i);
			uint64_t lo = meta_node_key(data, i);
			uint64_t hi = i + 1 < ni.nr_entries ? meta_node_key(data, i + 1) : it->hi;
			k[c->nkids++] = child;
			ref_node(c, child, (enum tkind)it->kind, it->view, it->dev, lo, hi, 0);
		}
	} else {
		c->state[b] = ST_LEAF;
		c->aux[b] = ni.nr_entries;
		leaf_values(c, it, data, &ni);
	}
	if (c->o->progress && (c->nodes_read & 1023) == 0)
		c->o->progress(c->o->progress_ctx, c->phase, c->nodes_read, 0);
	return c->err ? c->err : 0;
}

/* The walker hands over the level's items in order (sorted by block). */
static int visit(void *ctx, size_t i, const void *data, int err)
{
	struct ck *c = ctx;
	struct item *it = &c->cur[i];
	int r = 0;
	if (it->revisit)
		revisit(c, it, data, err);
	else
		r = visit_one(c, it, it->b, data, err);
	return r ? r : c->err;
}

static uint64_t item_block(void *ctx, size_t i)
{
	const struct ck *c = ctx;
	return c->cur[i].b;
}

static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	if (x->b != y->b)
		return x->b < y->b ? -1 : 1;
	return (int)x->revisit - (int)y->revisit;
}

/* cmp_item()'s order as one number: the block, then first visits before revisits */
static uint64_t item_key(const void *p)
{
	const struct item *x = p;
	return (uint64_t)x->b << 1 | x->revisit;
}

/* A level in cmp_item() order (radix on the large leaf levels of a big pool: ~25 ms of
 * qsort on p100m's with the reader thread idle). */
static void sort_items(struct ck *c)
{
	meta_sort_by_key(c->cur, c->ncur, sizeof(*c->cur), item_key, c->dev_blocks << 1 | 1, cmp_item);
}

/*
 * Runs on meta_bm_read_batch()'s reader thread, ahead of visit(): the structural check of
 * the node b's first visit will make, without a report.  Reads only the level's items
 * (c->cur, unchanged during the batch) and the node; writes prechk[b], read by visit_one()
 * for b alone after the batch handed b over.
 */
static void pre_check(void *ctx, uint64_t b, const void *data)
{
	struct ck *c = ctx;
	const struct item *cur = c->cur;
	size_t lo = c->pre_pos;
	while (lo < c->ncur && cur[lo].b < b)
		lo++;
	c->pre_pos = lo;
	if (lo >= c->ncur || cur[lo].b != b || cur[lo].revisit)
		return; /* sorted: b's first visit, if any, comes before its revisits */
	struct meta_node_info ni;
	meta_node_get_info(data, &ni);
	int sev = meta_node_check(data, b, ni.flags & META_NODE_INTERNAL ? 8 : kind_vs[cur[lo].kind],
				  cur[lo].lo, cur[lo].hi, cur[lo].is_root, NULL, NULL);
	if (sev < 0)
		c->prechk[b] = 1;
	/* a mapping leaf visit_one() will pass to leaf_values(): count its upper part */
	if (sev < (int)META_SEV_FATAL && !(ni.flags & META_NODE_INTERNAL) &&
	    cur[lo].kind == K_MAP && c->count_data) {
		const uint8_t *vals = (const uint8_t *)data + META_NODE_HEADER_SIZE + 8u * ni.max_entries;
		struct meta_refcount *dc = &c->dcr;
		uint64_t split = c->dsplit, nr_data = c->nr_data;
		prefetch_counts(dc, vals, ni.nr_entries, split, nr_data);
		for (uint32_t i = 0; i < ni.nr_entries; i++) {
			uint64_t db = get_le64p(vals + 8u * i) >> 24;
			if (db < split || db >= nr_data)
				continue;
			if (meta_rc_inc(dc, db))
				c->dcr_nomem = 1;
		}
	}
}

/*
 * The data counts, made once the details trees are read.  A kernel maps a data block at
 * most once per device, so with at most 14 devices (both views together) no count passes
 * 14: half a byte each, which halves thin_check's largest array.  Otherwise, or when a
 * details tree is damaged, a byte each.  Either way the counts are exact: a count past
 * the counter's top goes to the overflow records (rare with nibbles unless the metadata
 * maps one block many times over, which the space-map comparison then reports).
 */
static int init_data_counts(struct ck *c)
{
	uint64_t devs = 0;
	bool damaged = false;
	for (int v = 0; v < c->nviews; v++) {
		devs += c->views[v].ndets;
		damaged |= c->views[v].details_damaged;
	}
	int e = !damaged && devs <= 14 ? meta_rc_init4(&c->dc, c->nr_data)
				       : meta_rc_init(&c->dc, c->nr_data);
	if (e)
		return e;
	/* the reader thread also copies, checksums and checks every node, which keeps it the
	 * busier of the two even with an eighth of the counts (p100m: 3/8 left the walk
	 * waiting on it, 1/8 ran 6% faster, none slower again); split at an even block, as
	 * two nibbles share a byte */
	c->dsplit = (c->nr_data - c->nr_data / 8) & ~(uint64_t)1;
	meta_rc_share(&c->dcr, &c->dc);
	return 0;
}

/* Read the queued levels until nothing is left. */
static int run_levels(struct ck *c)
{
	while (c->nnext && !c->err) {
		c->cur = c->next;
		c->ncur = c->nnext;
		c->capcur = c->capnext;
		c->next = NULL;
		c->nnext = 0;
		c->capnext = 0;
		sort_items(c); /* ncur > 0 here */
		c->pre_pos = 0;
		meta_bm_set_batch_pre(c->bm, pre_check, c);
		int e = meta_walk_read(&c->walker, c->ncur, item_block, visit, c);
		meta_bm_set_batch_pre(c->bm, NULL, NULL);
		if (c->dcr_nomem)
			set_err(c, META_E_NOMEM);
		if (e && !c->err)
			set_err(c, e);
		meta_huge_free(c->cur, c->capcur * sizeof(*c->cur));
		c->cur = NULL;
		c->ncur = 0;
		c->capcur = 0;
	}
	return c->err;
}

/* ---------------------------------------------- bottom-up mapping counts */

#define M_BUSY 1u
#define M_DONE 2u
#define M_ERR 4u

/* Mapping count below b; *err set when damage lies below.  *h = height. */
static uint64_t subtree(struct ck *c, uint64_t b, int *err, unsigned *h, int depth)
{
	*h = 0;
	if (b >= c->dev_blocks || depth > 64) {
		*err = 1;
		return 0;
	}
	switch (c->state[b]) {
	case ST_LEAF:
		return c->aux[b];
	case ST_INTERNAL:
		break;
	default:
		*err = 1;
		return 0;
	}
	if (c->memo[b] & M_DONE) {
		if (c->memo[b] & M_ERR)
			*err = 1;
		*h = c->height[b];
		return c->sub[b];
	}
	if (c->memo[b] & M_BUSY) { /* a cycle */
		*err = 1;
		return 0;
	}
	c->memo[b] |= M_BUSY;
	const uint64_t *k = &c->kids[c->aux[b]];
	uint64_t nr = k[0], total = 0;
	int e = 0;
	unsigned hh = 0, first = 1, depth_bad = 0;
	for (uint64_t i = 0; i < nr; i++) {
		int ce = 0;
		unsigned ch;
		total += subtree(c, k[1 + i], &ce, &ch, depth + 1);
		if (ce) {
			e = 1;
			continue;
		}
		if (first) {
			hh = ch;
			first = 0;
		} else if (ch != hh) {
			depth_bad = 1;
		}
	}
	if (depth_bad) {
		damage(c, META_DMG_NODE_DEPTH, b, NONE, NONE, NONE, 0, NULL);
		e = 1;
	}
	c->memo[b] = (uint8_t)(M_DONE | (e ? M_ERR : 0));
	c->sub[b] = total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
	c->height[b] = (uint8_t)(hh + 1);
	*h = hh + 1;
	if (e)
		*err = 1;
	return total;
}

static int cmp_det(const void *a, const void *b)
{
	const struct det *x = a, *y = b;
	return x->dev < y->dev ? -1 : x->dev > y->dev;
}

static int cmp_root(const void *a, const void *b)
{
	const struct devroot *x = a, *y = b;
	return x->dev < y->dev ? -1 : x->dev > y->dev;
}

static void compare_devices(struct ck *c, int view, bool counts)
{
	struct view *v = &c->views[view];
	if (v->ndets)
		qsort(v->dets, v->ndets, sizeof(*v->dets), cmp_det);
	if (v->nroots)
		qsort(v->roots, v->nroots, sizeof(*v->roots), cmp_root);
	size_t i = 0, j = 0;
	char buf[128];
	while (i < v->ndets || j < v->nroots) {
		if (j >= v->nroots || (i < v->ndets && v->dets[i].dev < v->roots[j].dev)) {
			if (!v->top_damaged)
				damage(c, META_DMG_DEV_NO_MAPPINGS, v->details_root, v->dets[i].dev,
				       NONE, NONE, 0, view ? "in the metadata snapshot" : NULL);
			i++;
		} else if (i >= v->ndets || v->roots[j].dev < v->dets[i].dev) {
			if (!v->details_damaged)
				damage(c, META_DMG_DEV_NO_DETAILS, v->mapping_root, v->roots[j].dev,
				       NONE, NONE, 0, view ? "in the metadata snapshot" : NULL);
			j++;
		} else {
			if (counts) {
				int err = 0;
				unsigned h;
				uint64_t n = subtree(c, v->roots[j].root, &err, &h, 0);
				if (!err && n != v->dets[i].mapped) {
					snprintf(buf, sizeof(buf),
						 "details say %" PRIu64 " mapped blocks, the tree has %" PRIu64
						 "%s",
						 v->dets[i].mapped, n, view ? " (metadata snapshot)" : "");
					damage(c, META_DMG_DEV_MAPPED_COUNT, v->roots[j].root,
					       v->dets[i].dev, NONE, NONE, 0, buf);
				}
			}
			if (view == 0)
				c->r->nr_devices++;
			i++;
			j++;
		}
	}
}

/* ------------------------------------------------- space map comparison */

/* Blocks a space map counts as used that nothing references. */
struct leak_list {
	uint64_t **b;
	size_t *n, *cap;
	int nomem;
};

static void leak_push(struct leak_list *l, uint64_t b)
{
	if (meta_grow((void **)l->b, l->cap, *l->n + 1, sizeof(**l->b))) {
		l->nomem = 1;
		return;
	}
	(*l->b)[(*l->n)++] = b;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void meta_thin_leaks_free(struct meta_thin_leaks *l)
{
	if (!l)
		return;
	free(l->metadata);
	free(l->data);
	memset(l, 0, sizeof(*l));
}

struct cmp_ctx {
	struct ck *c;
	struct meta_refcount *computed;
	struct meta_refcount *computed_hi; /* counts of blocks >= split (the data counts' dcr) */
	uint64_t split;
	enum meta_sm_kind kind;
	uint64_t nr_blocks; /* sm nr_blocks */
	uint64_t leaked, leak_first, leak_last;
	uint64_t bad, bad_reported;
	uint64_t compared_to; /* blocks compared: [0, compared_to) modulo skipped ranges */
	bool lower_bound;     /* computed counts are lower bounds */
	bool sm_damaged;      /* the space map reader reported damage: no per-block lines */
	struct leak_list *leaks; /* with opts.leaks: every leaked block */
};

static void report_bad(struct cmp_ctx *x, uint64_t b, uint32_t expected, uint32_t got)
{
	struct ck *c = x->c;
	x->bad++;
	if (x->bad_reported >= MAX_BAD_REPORTS || x->sm_damaged)
		return;
	x->bad_reported++;
	char buf[96];
	snprintf(buf, sizeof(buf), "expected %" PRIu32 ", space map has %" PRIu32, expected, got);
	damage(c, x->kind == META_SM_METADATA ? META_DMG_META_BAD_COUNT : META_DMG_DATA_BAD_COUNT,
	       x->kind == META_SM_METADATA ? b : NONE, NONE, b, b + 1, 1, buf);
}

static int cmp_counts(void *ctx, uint64_t first, const uint32_t *counts, uint32_t n)
{
	struct cmp_ctx *x = ctx;
	struct meta_refcount *k = x->computed;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t b = first + i;
		struct meta_refcount *rc = b >= x->split ? x->computed_hi : k;
		/* the run of equal counts up to the split: compared in a tight loop */
		uint32_t run = n - i;
		if (b < x->split && x->split - b < run)
			run = (uint32_t)(x->split - b);
		i += meta_rc_match(rc, b, counts + i, run);
		if (i >= n)
			break;
		b = first + i;
		rc = b >= x->split ? x->computed_hi : k;
		uint32_t disk = counts[i];
		uint32_t want = meta_rc_get(rc, b);
		if (disk == want)
			continue;
		/* Parts of the trees were lost: only too-low on-disk counts are certain. */
		if (x->lower_bound && disk > want)
			continue;
		if (want == 0) {
			if (!x->leaked++)
				x->leak_first = b;
			x->leak_last = b;
			if (x->leaks)
				leak_push(x->leaks, b);
		} else {
			report_bad(x, b, want, disk);
		}
	}
	if (first + n > x->compared_to)
		x->compared_to = first + n;
	if (x->c->o->progress && x->nr_blocks)
		x->c->o->progress(x->c->o->progress_ctx, x->c->phase, first + n, x->nr_blocks);
	return 0;
}

static void sm_relay(void *ctx, const struct meta_damage *d)
{
	struct cmp_ctx *x = ctx;
	x->sm_damaged = true;
	relay(x->c, d);
}

/*
 * A metadata block the space map's own structure uses (pdata/sm_read.h), counted as the
 * reader reaches it, before it hands over the first counts.  A lost tree node, or one a
 * details or mapping tree uses too, makes the computed counts lower bounds.
 */
static void count_sm_block(struct ck *c, uint64_t b, unsigned how)
{
	if ((how & META_SM_BLK_NODE) &&
	    ((how & META_SM_BLK_LOST) || (b < c->dev_blocks && c->state[b] != ST_NONE)))
		c->trees_damaged = true;
	if (b >= c->dev_blocks)
		return; /* past the device: no counter (the space-map reader reports it) */
	if (how & META_SM_BLK_NODE)
		c->r->nr_nodes++;
	if (meta_rc_inc(&c->mc, b))
		set_err(c, META_E_NOMEM);
}

static void sm_block(void *ctx, uint64_t b, unsigned how)
{
	struct cmp_ctx *x = ctx;
	count_sm_block(x->c, b, how);
	if (x->c->trees_damaged)
		x->lower_bound = true;
}

static void sm_block_only(void *ctx, uint64_t b, unsigned how)
{
	count_sm_block(ctx, b, how);
}

static void check_sm(struct ck *c, enum meta_sm_kind kind, const struct meta_sm_root *root,
		     struct meta_refcount *computed, struct leak_list *leaks)
{
	struct cmp_ctx x = {.c = c, .computed = computed, .kind = kind,
			    .nr_blocks = root->nr_blocks, .lower_bound = c->trees_damaged,
			    .leaks = leaks, .computed_hi = computed, .split = UINT64_MAX};
	if (computed == &c->dc) {
		x.computed_hi = &c->dcr;
		x.split = c->dsplit;
	}
	c->saw_damage = 0;
	int e = meta_sm_read_counts_blocks(c->bm, kind, root, cmp_counts, sm_relay, sm_block, &x);
	if (e == META_E_NOMEM) {
		set_err(c, e);
		return;
	}
	if (e && !c->saw_damage)
		damage(c, META_DMG_SM_ROOT, kind == META_SM_METADATA ? root->bitmap_root : NONE,
		       NONE, NONE, NONE, 0,
		       kind == META_SM_METADATA ? "metadata space map" : "data space map");
	if (e)
		return; /* unusable: no comparison */
	/* Blocks we counted that the space map does not cover. */
	for (uint64_t b = root->nr_blocks; b < computed->nr; b++) {
		uint32_t want = meta_rc_get(b >= x.split ? x.computed_hi : computed, b);
		if (want)
			report_bad(&x, b, want, 0);
	}
	if (x.bad > x.bad_reported) {
		char buf[96];
		snprintf(buf, sizeof(buf), "%" PRIu64 " %sblocks with wrong counts",
			 x.bad - x.bad_reported, x.bad_reported ? "more " : "");
		damage(c, kind == META_SM_METADATA ? META_DMG_META_BAD_COUNT : META_DMG_DATA_BAD_COUNT,
		       NONE, NONE, NONE, NONE, x.bad - x.bad_reported, buf);
	}
	if (x.leaked && !leaks)
		damage(c, kind == META_SM_METADATA ? META_DMG_META_LEAK : META_DMG_DATA_LEAK,
		       kind == META_SM_METADATA ? x.leak_first : NONE, NONE, x.leak_first,
		       x.leak_last + 1, x.leaked, NULL);
	if (kind == META_SM_METADATA) {
		c->r->metadata_leaked = x.leaked;
		c->r->metadata_bad = x.bad;
	} else {
		c->r->data_leaked = x.leaked;
		c->r->data_bad = x.bad;
	}
}

/* ------------------------------------------------------------- driver */

static const char *const phase_names[] = {
	[META_THIN_CHECK_SUPERBLOCK] = "superblock",
	[META_THIN_CHECK_DETAILS] = "device details tree",
	[META_THIN_CHECK_MAPPINGS] = "mapping tree",
	[META_THIN_CHECK_DATA_SM] = "data space map",
	[META_THIN_CHECK_METADATA_SM] = "metadata space map",
};

const char *meta_thin_check_phase_name(enum meta_thin_check_phase p)
{
	if ((unsigned)p >= META_THIN_CHECK__NR_PHASES)
		return NULL;
	return phase_names[p];
}

static void ck_free(struct ck *c)
{
	meta_rc_free(&c->mc);
	meta_rc_free(&c->dcr); /* shares dc.c */
	meta_rc_free(&c->dc);
	free(c->state);
	free(c->kindof);
	free(c->vmask);
	free(c->prechk);
	free(c->memo);
	free(c->height);
	free(c->aux);
	free(c->sub);
	free(c->kids);
	meta_huge_free(c->cur, c->capcur * sizeof(*c->cur));
	meta_huge_free(c->next, c->capnext * sizeof(*c->next));
	meta_walker_free(&c->walker);
	for (int i = 0; i < 2; i++) {
		free(c->views[i].dets);
		free(c->views[i].roots);
	}
}

/* The held root is unusable: the trees only it reaches are unknown. */
static void held_damage(struct ck *c, uint64_t held, const char *why)
{
	damage(c, META_DMG_HELD_ROOT, held, NONE, NONE, NONE, 0, why);
	c->trees_damaged = true;
}

/* Read and validate the held root; sets up view 1.  Returns true if usable. */
static bool load_held_root(struct ck *c, uint64_t held)
{
	const void *data;
	char buf[96];
	if (held >= c->dev_blocks) {
		snprintf(buf, sizeof(buf), "held root %" PRIu64 " is past the end of the device", held);
		held_damage(c, held, buf);
		return false;
	}
	int e = meta_bm_get(c->bm, held, &meta_thin_sb_validator, &data);
	if (e) {
		snprintf(buf, sizeof(buf), "block %" PRIu64 " is not a superblock copy: %s", held,
			 meta_strerror(e));
		held_damage(c, held, buf);
		return false;
	}
	struct meta_thin_sb s;
	meta_thin_sb_unpack(data, &s);
	meta_bm_put(c->bm, data);
	if (s.magic != META_THIN_MAGIC) {
		held_damage(c, held, "metadata snapshot has a bad magic number");
		return false;
	}
	c->views[1].details_root = s.device_details_root;
	c->views[1].mapping_root = s.data_mapping_root;
	c->nviews = 2;
	c->state[held] = ST_BAD; /* a superblock, never a btree node */
	if (c->count_meta && meta_rc_inc(&c->mc, held))
		set_err(c, META_E_NOMEM);
	return true;
}

int meta_thin_check(struct meta_thin *t, const struct meta_thin_check_opts *o,
		    struct meta_thin_check_result *r)
{
	static const struct meta_thin_check_opts defaults;
	struct leak_list mleaks = {0}, dleaks = {0};
	struct meta_thin_leaks *lk = o ? o->leaks : NULL;
	struct ck c;
	if (!t || !r)
		return META_E_INVAL;
	if (!o)
		o = &defaults;
	if (lk) {
		mleaks = (struct leak_list){&lk->metadata, &lk->nr_metadata, &lk->cap_metadata, 0};
		dleaks = (struct leak_list){&lk->data, &lk->nr_data, &lk->cap_data, 0};
	}
	memset(r, 0, sizeof(*r));
	r->worst = -1;
	memset(&c, 0, sizeof(c));
	c.t = t;
	c.bm = meta_thin_bm(t);
	c.o = o;
	c.r = r;
	c.relay_dev = NONE;
	meta_walker_init(&c.walker, c.bm);

	const struct meta_thin_sb *live = meta_thin_live_sb(t);
	const struct meta_thin_sb *used = meta_thin_sb(t);
	bool snap_mode = used != live || used->blocknr != 0;
	r->transaction_id = live->trans_id;
	r->metadata_free_blocks = live->metadata_sm.nr_blocks > live->metadata_sm.nr_allocated
		? live->metadata_sm.nr_blocks - live->metadata_sm.nr_allocated : 0;

	c.dev_blocks = meta_bm_nr_blocks(c.bm);
	progress(&c, META_THIN_CHECK_SUPERBLOCK, 0, 1);
	/* --super-block-only works on a superblock copied out on its own (as 1.1's does):
	 * the device's size is then no measure of the space map's */
	int sb_sev = meta_thin_sb_check(live, o->super_block_only ? UINT64_MAX : c.dev_blocks, relay, &c);
	progress(&c, META_THIN_CHECK_SUPERBLOCK, 1, 1);
	if (o->super_block_only)
		return 0;
	/* levels and bitmaps are read and validated on a second thread, ahead of the walk */
	meta_bm_set_read_ahead(c.bm, 1);

	c.nr_data = meta_thin_nr_data_blocks(t);
	c.walk_bottom = !o->skip_mappings;
	c.count_meta = c.walk_bottom && !snap_mode;
	c.count_data = c.count_meta && c.nr_data <= META_THIN_MAX_DATA_BLOCK + 1;
	(void)sb_sev;

	int e = 0;
	uint64_t nb = c.dev_blocks ? c.dev_blocks : 1;
	c.state = calloc(nb, 1);
	c.kindof = calloc(nb, 1);
	c.vmask = calloc(nb, 1);
	c.prechk = calloc(nb, 1);
	c.aux = calloc(nb, sizeof(*c.aux));
	if (!c.state || !c.kindof || !c.vmask || !c.prechk || !c.aux) {
		e = META_E_NOMEM;
		goto out;
	}
	if (c.walk_bottom) {
		c.memo = calloc(nb, 1);
		c.height = calloc(nb, 1);
		c.sub = calloc(nb, sizeof(*c.sub));
		if (!c.memo || !c.height || !c.sub) {
			e = META_E_NOMEM;
			goto out;
		}
	}
	if (c.count_meta && (e = meta_rc_init(&c.mc, c.dev_blocks)))
		goto out;

	/* Views: 0 = the trees in use; 1 = the held root's (live mode only). */
	c.nviews = 1;
	c.views[0].details_root = meta_thin_details_root(t);
	c.views[0].mapping_root = meta_thin_mapping_root(t);
	if (c.count_meta)
		ref_plain(&c, 0, NONE); /* the superblock */

	/* Device details trees (and the held root, which names a second pair of trees). */
	progress(&c, META_THIN_CHECK_DETAILS, 0, 0);
	if (!snap_mode && live->held_root)
		load_held_root(&c, live->held_root);
	for (int v = 0; v < c.nviews; v++)
		ref_node(&c, c.views[v].details_root, K_DETAILS, v, NONE, 0, NONE, 1);
	if ((e = run_levels(&c)))
		goto out;
	if (c.count_data && (e = init_data_counts(&c)))
		goto out;

	/* Top-level and bottom-level mapping trees. */
	if (c.walk_bottom)
		progress(&c, META_THIN_CHECK_MAPPINGS, 0, 0);
	c.nodes_read = 0;
	for (int v = 0; v < c.nviews; v++)
		ref_node(&c, c.views[v].mapping_root, K_TOP, v, NONE, 0, NONE, 1);
	if ((e = run_levels(&c)))
		goto out;
	for (int v = 0; v < c.nviews; v++)
		compare_devices(&c, v, c.walk_bottom);

	if (!c.count_meta)
		goto out;

	/*
	 * Space maps: each counts its own blocks as it is read (the data space map's before the
	 * metadata space map compares), then compares.
	 */
	r->space_maps_checked = true;
	if (c.count_data) {
		progress(&c, META_THIN_CHECK_DATA_SM, 0, live->data_sm.nr_blocks);
		check_sm(&c, META_SM_DISK, &live->data_sm, &c.dc, lk ? &dleaks : NULL);
	} else if ((e = meta_sm_read_disk_blocks(c.bm, &live->data_sm, sm_block_only, &c))) {
		goto out; /* the superblock's nr_data_blocks is absurd (reported): blocks only */
	}
	progress(&c, META_THIN_CHECK_METADATA_SM, 0, live->metadata_sm.nr_blocks);
	check_sm(&c, META_SM_METADATA, &live->metadata_sm, &c.mc, lk ? &mleaks : NULL);
	e = c.err;
	if (!e && (mleaks.nomem || dleaks.nomem))
		e = META_E_NOMEM;
	if (!e && lk && lk->nr_metadata)
		qsort(lk->metadata, lk->nr_metadata, sizeof(uint64_t), cmp_u64);
	if (!e && lk && lk->nr_data)
		qsort(lk->data, lk->nr_data, sizeof(uint64_t), cmp_u64);
out:
	if (!e)
		e = c.err;
	ck_free(&c);
	meta_bm_set_read_ahead(c.bm, 0);
	return e;
}

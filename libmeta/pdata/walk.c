/* SPDX-License-Identifier: GPL-2.0-only */
/* Batched level reader of persistent-data btrees (see pdata/walk.h). */
#include "pdata/walk.h"

#include <stdlib.h>
#include <string.h>

#include <libmeta/btree.h>
#include <libmeta/error.h>

#include "base/util.h"

void meta_walker_init(struct meta_walker *w, struct meta_bm *bm)
{
	memset(w, 0, sizeof(*w));
	w->bm = bm;
}

void meta_walker_free(struct meta_walker *w)
{
	free(w->pairs);
	free(w->blocks);
	free(w->cbuf);
	free(w->cerr);
	memset(w, 0, sizeof(*w));
}

struct batch {
	struct meta_walker *w;
	size_t base, n;   /* the part: entries [base, base + n) */
	int direct;       /* hand over inside the batch callback (block order == entry order) */
	size_t cursor;    /* direct: next entry to hand over; else next pair */
	size_t np;        /* pairs of the part (not direct) */
	meta_walk_block_fn block_of;
	meta_walk_fn fn;
	void *ctx;
};

static int cmp_pair(const void *a, const void *b)
{
	const struct meta_walk_pair *x = a, *y = b;
	if (x->b != y->b)
		return x->b < y->b ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int batch_cb(void *ctx, uint64_t b, const void *data, int err)
{
	struct batch *c = ctx;
	struct meta_walker *w = c->w;
	size_t end = c->base + c->n;
	int r;
	if (!c->direct) {
		for (; c->cursor < c->np && w->pairs[c->cursor].b == b; c->cursor++) {
			size_t k = w->pairs[c->cursor].idx - c->base;
			memcpy(w->cbuf + k * META_BLOCK_SIZE, data, META_BLOCK_SIZE);
			w->cerr[k] = err;
		}
		return META_OK;
	}
	/* entries ascend: the skipped ones before b's, then every entry of b */
	for (; c->cursor < end; c->cursor++) {
		uint64_t eb = c->block_of(c->ctx, c->cursor);
		if (eb == META_WALK_SKIP)
			r = c->fn(c->ctx, c->cursor, NULL, 0);
		else if (eb == b)
			r = c->fn(c->ctx, c->cursor, data, err);
		else
			break;
		if (r) {
			c->cursor++;
			return r;
		}
	}
	return META_OK;
}

/* Read the entries [base, base + n) (n <= META_WALK_CHUNK unless they ascend) and hand them over. */
static int read_part(struct meta_walker *w, size_t base, size_t n, int sorted,
		     meta_walk_block_fn block_of, meta_walk_fn fn, void *ctx)
{
	struct batch c = {.w = w, .base = base, .n = n, .direct = sorted, .cursor = sorted ? base : 0,
			  .block_of = block_of, .fn = fn, .ctx = ctx};
	size_t nb = 0, i;
	int r;
	if (meta_grow((void **)&w->blocks, &w->cap_blocks, n, sizeof(*w->blocks)))
		return META_E_NOMEM;
	for (i = 0; i < n; i++) {
		uint64_t b = block_of(ctx, base + i);
		if (b == META_WALK_SKIP)
			continue;
		if (!sorted) {
			w->pairs[c.np].b = b;
			w->pairs[c.np++].idx = base + i;
		} else if (!nb || w->blocks[nb - 1] != b) {
			w->blocks[nb++] = b;
		}
	}
	if (!sorted) {
		qsort(w->pairs, c.np, sizeof(*w->pairs), cmp_pair);
		for (i = 0; i < c.np; i++)
			w->blocks[i] = w->pairs[i].b;
		nb = c.np;
	}
	r = meta_bm_read_batch(w->bm, w->blocks, nb, &meta_node_validator, batch_cb, &c);
	if (r)
		return r;
	if (sorted) { /* skipped entries after the last block */
		for (i = c.cursor; i < base + n; i++)
			if ((r = fn(ctx, i, NULL, 0)))
				return r;
		return META_OK;
	}
	for (i = 0; i < n; i++) {
		if (block_of(ctx, base + i) == META_WALK_SKIP)
			r = fn(ctx, base + i, NULL, 0);
		else
			r = fn(ctx, base + i, w->cbuf + i * META_BLOCK_SIZE, w->cerr[i]);
		if (r)
			return r;
	}
	return META_OK;
}

static int ascending(size_t base, size_t n, meta_walk_block_fn block_of, void *ctx)
{
	uint64_t prev = 0;
	for (size_t i = base; i < base + n; i++) {
		uint64_t b = block_of(ctx, i);
		if (b == META_WALK_SKIP)
			continue;
		if (b < prev)
			return 0;
		prev = b;
	}
	return 1;
}

int meta_walk_read(struct meta_walker *w, size_t n, meta_walk_block_fn block_of, meta_walk_fn fn,
		   void *ctx)
{
	int r;
	if (ascending(0, n, block_of, ctx))
		return read_part(w, 0, n, 1, block_of, fn, ctx);
	if (!w->cbuf) {
		w->cbuf = meta_io_buf_alloc((size_t)META_WALK_CHUNK * META_BLOCK_SIZE);
		w->cerr = calloc(META_WALK_CHUNK, sizeof(*w->cerr));
		w->pairs = calloc(META_WALK_CHUNK, sizeof(*w->pairs));
		if (!w->cbuf || !w->cerr || !w->pairs)
			return META_E_NOMEM;
	}
	for (size_t s = 0; s < n; s += META_WALK_CHUNK) {
		size_t k = n - s < META_WALK_CHUNK ? n - s : META_WALK_CHUNK;
		if ((r = read_part(w, s, k, ascending(s, k, block_of, ctx), block_of, fn, ctx)))
			return r;
	}
	return META_OK;
}

int meta_walk_verdict(const void *data, int err, uint64_t b, uint32_t leaf_vs, uint64_t lo,
		      uint64_t hi, int is_root, const char *lost_detail, meta_damage_fn fn,
		      void *ctx)
{
	if (err)
		return meta_report(fn, ctx, meta_node_damage_kind(err, data), b, lo, hi, 0,
				   lost_detail);
	return meta_node_check(data, b, leaf_vs, lo, hi, is_root, fn, ctx);
}

/* ---- meta_walk_tree(): meta_btree_walk()'s contract, a level at a time ---- */

#define TREE_MAX_DEPTH 32 /* as meta_btree_walk(): deeper is a loop */

struct tw_item {
	uint64_t b, lo, hi;
};

struct tree_walk {
	uint32_t vs;
	uint64_t nr_blocks; /* the device's */
	const struct meta_btree_walk_ops *ops;
	meta_walk_node_fn node;
	void *ctx;
	struct tw_item *cur, *next;
	size_t nnext, capnext;
	int depth, leaf_depth, nomem;
};

static uint64_t tw_block(void *ctx, size_t i)
{
	return ((const struct tree_walk *)ctx)->cur[i].b;
}

static int cmp_tw(const void *a, const void *b)
{
	const struct tw_item *x = a, *y = b;
	return x->b < y->b ? -1 : x->b > y->b;
}

static uint64_t tw_key(const void *p)
{
	return ((const struct tw_item *)p)->b;
}

/*
 * Queue node b for the next level (room made by the caller), or report it lost when it lies
 * past the device, as meta_btree_walk() does; a block number the walker takes for "skip"
 * (META_WALK_SKIP, all ones) never reaches it.
 */
static void tw_push(struct tree_walk *t, uint64_t b, uint64_t lo, uint64_t hi)
{
	if (b >= t->nr_blocks) {
		meta_report(t->ops->damage, t->ctx, meta_node_damage_kind(META_E_RANGE, NULL), b, lo,
			    hi, 0, NULL);
		if (t->node)
			t->node(t->ctx, b, 1);
		return;
	}
	t->next[t->nnext++] = (struct tw_item){b, lo, hi};
}

static int tw_visit(void *ctx, size_t i, const void *data, int err)
{
	struct tree_walk *t = ctx;
	const struct tw_item *it = &t->cur[i];
	struct meta_node_info ni;
	int lost = meta_walk_verdict(data, err, it->b, t->vs, it->lo, it->hi, t->depth == 0, NULL,
				     t->ops->damage, t->ctx) >= (int)META_SEV_FATAL;
	if (t->node)
		t->node(t->ctx, it->b, lost);
	if (lost)
		return 0;
	meta_node_get_info(data, &ni);
	if (ni.flags & META_NODE_LEAF) {
		if (t->leaf_depth < 0)
			t->leaf_depth = t->depth;
		else if (t->leaf_depth != t->depth)
			meta_report(t->ops->damage, t->ctx, META_DMG_NODE_DEPTH, it->b, it->lo, it->hi,
				    0, NULL);
		return t->ops->leaf ? t->ops->leaf(t->ctx, it->b, data, &ni) : 0;
	}
	if (meta_grow((void **)&t->next, &t->capnext, t->nnext + ni.nr_entries, sizeof(*t->next))) {
		t->nomem = 1;
		return META_E_NOMEM;
	}
	for (uint32_t k = 0; k < ni.nr_entries; k++)
		tw_push(t, meta_node_value64(data, k), meta_node_key(data, k),
			k + 1 < ni.nr_entries ? meta_node_key(data, k + 1) : it->hi);
	return 0;
}

int meta_walk_tree(struct meta_bm *bm, uint64_t root, uint32_t value_size,
		   const struct meta_btree_walk_ops *ops, void *ctx)
{
	return meta_walk_tree_nodes(bm, root, value_size, ops, NULL, ctx);
}

int meta_walk_tree_nodes(struct meta_bm *bm, uint64_t root, uint32_t value_size,
			 const struct meta_btree_walk_ops *ops, meta_walk_node_fn node, void *ctx)
{
	struct tree_walk t = {.vs = value_size, .nr_blocks = meta_bm_nr_blocks(bm), .ops = ops,
			      .node = node, .ctx = ctx, .leaf_depth = -1};
	struct meta_walker w;
	int r = 0;
	meta_walker_init(&w, bm);
	t.next = malloc(sizeof(*t.next));
	if (!t.next)
		return META_E_NOMEM;
	t.capnext = 1;
	tw_push(&t, root, 0, UINT64_MAX);
	for (; t.nnext && !r; t.depth++) {
		size_t n = t.nnext;
		free(t.cur);
		t.cur = t.next;
		t.next = NULL;
		t.nnext = t.capnext = 0;
		if (t.depth > TREE_MAX_DEPTH) {
			for (size_t i = 0; i < n; i++) {
				meta_report(ops->damage, ctx, META_DMG_NODE_DEPTH, t.cur[i].b, t.cur[i].lo,
					    t.cur[i].hi, 0, "tree too deep (loop?)");
				if (node)
					node(ctx, t.cur[i].b, 1);
			}
			break;
		}
		/* in block order, so that the walker hands nodes over straight from its reads */
		meta_sort_by_key(t.cur, n, sizeof(*t.cur), tw_key, t.nr_blocks, cmp_tw);
		r = meta_walk_read(&w, n, tw_block, tw_visit, &t);
	}
	meta_walker_free(&w);
	free(t.cur);
	free(t.next);
	return t.nomem ? META_E_NOMEM : r;
}

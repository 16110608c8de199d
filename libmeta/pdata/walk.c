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
	size_t np, cursor;
	int direct;      /* hand over inside the batch callback (block order == index order) */
	size_t base;     /* index of the part's first entry */
	size_t next_idx; /* direct: next index to hand over */
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
	int r;
	while (c->cursor < c->np && w->pairs[c->cursor].b == b) {
		size_t idx = w->pairs[c->cursor++].idx;
		if (c->direct) {
			/* skipped indices before idx first, keeping index order */
			while (c->next_idx < idx)
				if ((r = c->fn(c->ctx, c->next_idx++, NULL, 0)))
					return r;
			c->next_idx = idx + 1;
			if ((r = c->fn(c->ctx, idx, data, err)))
				return r;
		} else {
			memcpy(w->cbuf + (idx - c->base) * META_BLOCK_SIZE, data, META_BLOCK_SIZE);
			w->cerr[idx - c->base] = err;
		}
	}
	return META_OK;
}

static int ascending(const uint64_t *blocks, size_t n)
{
	uint64_t prev = 0;
	for (size_t i = 0; i < n; i++) {
		if (blocks[i] == META_WALK_SKIP)
			continue;
		if (blocks[i] < prev)
			return 0;
		prev = blocks[i];
	}
	return 1;
}

/*
 * Read blocks[0..n) (n <= META_WALK_CHUNK unless they ascend) and hand them over
 * as indices base + i.
 */
static int read_part(struct meta_walker *w, const uint64_t *blocks, size_t n, size_t base,
		     meta_walk_fn fn, void *ctx)
{
	int sorted = ascending(blocks, n);
	struct batch c = {.w = w, .direct = sorted, .base = base, .next_idx = base, .fn = fn,
			  .ctx = ctx};
	size_t np = 0, i;
	int r;
	for (i = 0; i < n; i++) {
		if (blocks[i] == META_WALK_SKIP)
			continue;
		w->pairs[np].b = blocks[i];
		w->pairs[np].idx = base + i;
		np++;
	}
	if (!sorted)
		qsort(w->pairs, np, sizeof(*w->pairs), cmp_pair);
	for (i = 0; i < np; i++)
		w->blocks[i] = w->pairs[i].b;
	c.np = np;
	r = meta_bm_read_batch(w->bm, w->blocks, np, &meta_node_validator, batch_cb, &c);
	if (r)
		return r;
	for (i = sorted ? c.next_idx - base : 0; i < n; i++) {
		if (blocks[i] == META_WALK_SKIP || sorted)
			r = fn(ctx, base + i, NULL, 0);
		else
			r = fn(ctx, base + i, w->cbuf + i * META_BLOCK_SIZE, w->cerr[i]);
		if (r)
			return r;
	}
	return META_OK;
}

int meta_walk_read(struct meta_walker *w, const uint64_t *blocks, size_t n, meta_walk_fn fn,
		   void *ctx)
{
	int r;
	size_t part = n;
	if (!ascending(blocks, n)) {
		part = n < META_WALK_CHUNK ? n : META_WALK_CHUNK;
		if (!w->cbuf) {
			w->cbuf = malloc((size_t)META_WALK_CHUNK * META_BLOCK_SIZE);
			w->cerr = calloc(META_WALK_CHUNK, sizeof(*w->cerr));
			if (!w->cbuf || !w->cerr)
				return META_E_NOMEM;
		}
	}
	if (meta_grow((void **)&w->pairs, &w->cap_pairs, part, sizeof(*w->pairs)) ||
	    meta_grow((void **)&w->blocks, &w->cap_blocks, part, sizeof(*w->blocks)))
		return META_E_NOMEM;
	for (size_t s = 0; s < n; s += part)
		if ((r = read_part(w, blocks + s, n - s < part ? n - s : part, s, fn, ctx)))
			return r;
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

/* SPDX-License-Identifier: GPL-2.0-only */
/* thin_trim: discard the unused data blocks of a pool.  See include/libmeta/thin_trim.h. */
#include <libmeta/thin_trim.h>

#include <stdbool.h>
#include <stdlib.h>

#include <libmeta/error.h>
#include <libmeta/sm.h>

struct range {
	uint64_t begin, end;
};

struct collect {
	struct range *r;
	size_t n, cap;
	bool damaged;
	int err;
};

static int push(struct collect *c, uint64_t b, uint64_t e)
{
	if (c->n && c->r[c->n - 1].end == b) {
		c->r[c->n - 1].end = e;
		return 0;
	}
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 64;
		struct range *p = realloc(c->r, nc * sizeof(*p));
		if (!p) {
			c->err = META_E_NOMEM;
			return META_E_NOMEM;
		}
		c->r = p;
		c->cap = nc;
	}
	c->r[c->n].begin = b;
	c->r[c->n].end = e;
	c->n++;
	return 0;
}

static int on_counts(void *ctx, uint64_t first, const uint32_t *counts, uint32_t n)
{
	struct collect *c = ctx;
	uint32_t i = 0;
	while (i < n) {
		uint32_t j;
		if (counts[i]) {
			i++;
			continue;
		}
		for (j = i; j < n && !counts[j]; j++)
			;
		if (push(c, first + i, first + j))
			return c->err;
		i = j;
	}
	return 0;
}

static void on_damage(void *ctx, const struct meta_damage *d)
{
	(void)d;
	((struct collect *)ctx)->damaged = true;
}

static int by_begin(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	return x->begin < y->begin ? -1 : x->begin > y->begin;
}

int meta_thin_free_data_ranges(struct meta_thin *t, meta_thin_range_fn fn, void *ctx)
{
	const struct meta_thin_sb *sb = meta_thin_live_sb(t);
	struct collect c = {0};
	size_t i, m = 0;
	int r;

	r = meta_sm_read_counts(meta_thin_bm(t), META_SM_DISK, &sb->data_sm, on_counts, on_damage,
				&c);
	if (!r && c.damaged)
		r = META_E_CORRUPT;
	if (r) {
		free(c.r);
		return r;
	}
	/* bitmaps come in on-disk order: sort, then join ranges that meet at a bitmap's edge */
	if (c.n)
		qsort(c.r, c.n, sizeof(*c.r), by_begin);
	for (i = 0; i < c.n; i++) {
		if (m && c.r[m - 1].end == c.r[i].begin)
			c.r[m - 1].end = c.r[i].end;
		else
			c.r[m++] = c.r[i];
	}
	for (i = 0; i < m && !r; i++) {
		uint64_t e = c.r[i].end < sb->data_sm.nr_blocks ? c.r[i].end : sb->data_sm.nr_blocks;
		if (c.r[i].begin < e)
			r = fn(ctx, c.r[i].begin, e);
	}
	free(c.r);
	return r;
}

struct trim_ctx {
	struct meta_io *data;
	uint64_t bs;
	struct meta_thin_trim_stats *st;
};

static int discard_range(void *ctx, uint64_t b, uint64_t e)
{
	struct trim_ctx *tc = ctx;
	int r = meta_io_discard(tc->data, b * tc->bs, (e - b) * tc->bs);
	if (r)
		return r;
	tc->st->nr_free += e - b;
	tc->st->nr_ranges++;
	return 0;
}

int meta_thin_trim(struct meta_thin *t, struct meta_io *data, struct meta_thin_trim_stats *st)
{
	const struct meta_thin_sb *sb = meta_thin_live_sb(t);
	struct meta_thin_trim_stats dummy;
	struct trim_ctx tc;
	uint64_t bytes;

	if (!st)
		st = &dummy;
	st->nr_blocks = sb->data_sm.nr_blocks;
	st->nr_free = st->nr_ranges = 0;
	st->block_bytes = (uint64_t)sb->data_block_size * 512u;
	if (__builtin_mul_overflow(st->nr_blocks, st->block_bytes, &bytes) ||
	    bytes > (uint64_t)INT64_MAX)
		return META_E_RANGE;
	if (bytes > meta_io_size(data))
		return META_E_DATA_SIZE;
	tc.data = data;
	tc.bs = st->block_bytes;
	tc.st = st;
	return meta_thin_free_data_ranges(t, discard_range, &tc);
}

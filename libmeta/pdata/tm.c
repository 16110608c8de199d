/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Transaction manager (see pdata/tm.h).  The blocks handed out in a transaction live in
 * tm-owned buffers until the commit: records (block number, validator) indexed by
 * base/hash.h's table, their buffers in chunks of CHUNK_BLOCKS blocks, each chunk
 * aligned to its own size so that a buffer's address names its chunk (meta_tm_release()
 * tells a tm buffer from a block-cache one through the second table).  Committed blocks
 * are read through the block manager and never written before the commit.
 */
#include "pdata/tm.h"

#include <libmeta/error.h>

#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/util.h"

#define CHUNK_BLOCKS 64u
#define CHUNK_BYTES ((size_t)CHUNK_BLOCKS * META_BLOCK_SIZE)
#define KEEP_CHUNKS 16u /* kept from one transaction to the next: 4 MiB */

struct rec {
	uint64_t b;
	const struct meta_validator *v;
};

struct meta_tm {
	struct meta_bm *bm;
	struct meta_tm_space sp;
	int err;           /* sticky: a write or flush failed */
	int pre_committed; /* between meta_tm_pre_commit() and meta_tm_commit() */
	struct rec *recs;  /* the new blocks of this transaction */
	size_t nr, cap;
	uint8_t **chunks;  /* buffer of record i: chunks[i / CHUNK_BLOCKS] + i % CHUNK_BLOCKS */
	size_t nr_chunks, chunks_cap;
	struct meta_hidx idx;    /* block number -> record */
	struct meta_hash owned;  /* chunk address / CHUNK_BYTES -> 1 */
};

static uint64_t rec_key(const void *ctx, uint32_t i)
{
	const struct meta_tm *tm = ctx;
	return tm->recs[i].b;
}

static inline uint8_t *rec_buf(const struct meta_tm *tm, size_t i)
{
	return tm->chunks[i / CHUNK_BLOCKS] + (i % CHUNK_BLOCKS) * (size_t)META_BLOCK_SIZE;
}

static int64_t find_rec(const struct meta_tm *tm, uint64_t b)
{
	return meta_hidx_find(&tm->idx, b, rec_key, tm);
}

/*
 * Forget the transaction's blocks (nothing is written).  The first `keep` chunks of buffers
 * stay for the next transaction (a stream of small transactions then causes no page
 * faults); the rest are freed.
 */
static void drop_blocks(struct meta_tm *tm, size_t keep)
{
	if (tm->nr_chunks > keep) {
		for (size_t c = keep; c < tm->nr_chunks; c++)
			free(tm->chunks[c]);
		tm->nr_chunks = keep;
		meta_hash_free(&tm->owned);
		for (size_t c = 0; c < tm->nr_chunks; c++) {
			uintptr_t key = (uintptr_t)tm->chunks[c] / CHUNK_BYTES;
			uint64_t *slot = meta_hash_insert(&tm->owned, key, NULL);
			if (!slot) { /* no memory to index them: keep none */
				for (size_t d = 0; d < tm->nr_chunks; d++)
					free(tm->chunks[d]);
				meta_hash_free(&tm->owned);
				tm->nr_chunks = 0;
				break;
			}
			*slot = 1;
		}
	}
	if (!tm->nr_chunks) {
		free(tm->chunks);
		tm->chunks = NULL;
		tm->chunks_cap = 0;
	}
	free(tm->recs);
	meta_hidx_free(&tm->idx);
	tm->recs = NULL;
	tm->nr = tm->cap = 0;
	tm->pre_committed = 0;
}

int meta_tm_create(struct meta_bm *bm, const struct meta_tm_space *space, struct meta_tm **out)
{
	struct meta_tm *tm;
	*out = NULL;
	if (!bm || !space || !space->alloc || !space->inc || !space->dec || !space->count)
		return META_E_INVAL;
	tm = calloc(1, sizeof(*tm));
	if (!tm)
		return META_E_NOMEM;
	tm->bm = bm;
	tm->sp = *space;
	meta_hidx_init(&tm->idx);
	meta_hash_init(&tm->owned);
	*out = tm;
	return META_OK;
}

void meta_tm_destroy(struct meta_tm *tm)
{
	if (!tm)
		return;
	drop_blocks(tm, 0);
	free(tm);
}

struct meta_bm *meta_tm_bm(struct meta_tm *tm) { return tm->bm; }

/* The record of new block b (its buffer zeroed if zero), made if b has none yet. */
static int add_rec(struct meta_tm *tm, uint64_t b, const struct meta_validator *v, bool zero,
		   size_t *out)
{
	int64_t i = find_rec(tm, b);
	int r;
	if (i < 0) {
		if (tm->nr >= UINT32_MAX - 2)
			return META_E_NOMEM;
		r = meta_grow((void **)&tm->recs, &tm->cap, tm->nr + 1, sizeof(*tm->recs));
		if (r)
			return r;
		if (tm->nr == tm->nr_chunks * CHUNK_BLOCKS) {
			uint8_t *c;
			uint64_t *slot;
			r = meta_grow((void **)&tm->chunks, &tm->chunks_cap, tm->nr_chunks + 1,
				      sizeof(*tm->chunks));
			if (r)
				return r;
			c = aligned_alloc(CHUNK_BYTES, CHUNK_BYTES);
			if (!c)
				return META_E_NOMEM;
			slot = meta_hash_insert(&tm->owned, (uintptr_t)c / CHUNK_BYTES, NULL);
			if (!slot) {
				free(c);
				return META_E_NOMEM;
			}
			*slot = 1;
			tm->chunks[tm->nr_chunks++] = c;
		}
		tm->recs[tm->nr].b = b;
		if (meta_hidx_add(&tm->idx, (uint32_t)tm->nr, rec_key, tm))
			return META_E_NOMEM;
		i = (int64_t)tm->nr++;
	}
	/* a block freed and handed out again in this transaction starts afresh */
	tm->recs[i].v = v;
	if (zero)
		memset(rec_buf(tm, (size_t)i), 0, META_BLOCK_SIZE);
	*out = (size_t)i;
	return META_OK;
}

/* Blocks can be made or shadowed: no earlier error, not between the two commit phases. */
static int can_write(const struct meta_tm *tm)
{
	if (tm->err)
		return tm->err;
	return tm->pre_committed ? META_E_INVAL : META_OK;
}

int meta_tm_new_block(struct meta_tm *tm, const struct meta_validator *v, uint64_t *b, void **data)
{
	size_t i;
	int r;
	*data = NULL;
	r = can_write(tm);
	if (r)
		return r;
	r = tm->sp.alloc(tm->sp.ctx, b);
	if (r)
		return r;
	r = add_rec(tm, *b, v, true, &i);
	if (r)
		return r;
	*data = rec_buf(tm, i);
	return META_OK;
}

int meta_tm_shadow(struct meta_tm *tm, uint64_t b, const struct meta_validator *v, uint64_t *nb,
		   void **data, bool *inc_children)
{
	int64_t old = find_rec(tm, b);
	const void *src;
	uint32_t count;
	size_t i;
	int r;
	*data = NULL;
	*inc_children = false;
	r = can_write(tm);
	if (r)
		return r;
	r = tm->sp.count(tm->sp.ctx, b, &count);
	if (r)
		return r;
	if (count == 0)
		return META_E_CORRUPT; /* a reference to a free block */
	if (old >= 0 && count == 1) {
		*nb = b;
		*data = rec_buf(tm, (size_t)old);
		return META_OK;
	}
	/* committed, or new but shared: copy it (read first, so a refused block changes nothing) */
	if (old >= 0) {
		src = rec_buf(tm, (size_t)old);
	} else {
		r = meta_bm_get(tm->bm, b, v, &src);
		if (r)
			return r;
	}
	r = tm->sp.alloc(tm->sp.ctx, nb);
	if (!r)
		r = tm->sp.dec(tm->sp.ctx, b);
	if (!r)
		r = add_rec(tm, *nb, v, false, &i); /* chunk buffers never move: src stays valid */
	if (!r) {
		memcpy(rec_buf(tm, i), src, META_BLOCK_SIZE);
		*data = rec_buf(tm, i);
		*inc_children = count > 1;
	}
	if (old < 0)
		meta_bm_put(tm->bm, src);
	return r;
}

int meta_tm_read(struct meta_tm *tm, uint64_t b, const struct meta_validator *v, const void **data)
{
	int64_t i;
	*data = NULL;
	if (tm->err)
		return tm->err;
	i = find_rec(tm, b);
	if (i >= 0) {
		/* not stamped before the pre-commit: the tm made it, nothing to validate */
		*data = rec_buf(tm, (size_t)i);
		return META_OK;
	}
	return meta_bm_get(tm->bm, b, v, data);
}

void meta_tm_release(struct meta_tm *tm, const void *data)
{
	if (!data)
		return;
	if (meta_hash_find(&tm->owned, (uintptr_t)data / CHUNK_BYTES))
		return;
	meta_bm_put(tm->bm, data);
}

int meta_tm_inc(struct meta_tm *tm, uint64_t b)
{
	return tm->err ? tm->err : tm->sp.inc(tm->sp.ctx, b);
}

int meta_tm_dec(struct meta_tm *tm, uint64_t b)
{
	return tm->err ? tm->err : tm->sp.dec(tm->sp.ctx, b);
}

int meta_tm_count(struct meta_tm *tm, uint64_t b, uint32_t *count)
{
	*count = 0;
	return tm->err ? tm->err : tm->sp.count(tm->sp.ctx, b, count);
}

bool meta_tm_is_new(const struct meta_tm *tm, uint64_t b)
{
	return find_rec(tm, b) >= 0;
}

struct order {
	uint64_t b;
	size_t i;
};

static int cmp_order(const void *a, const void *b)
{
	const struct order *x = a, *y = b;
	return x->b < y->b ? -1 : x->b > y->b;
}

int meta_tm_pre_commit(struct meta_tm *tm)
{
	struct order *o;
	int r = META_OK;
	if (tm->err)
		return tm->err;
	o = malloc((tm->nr ? tm->nr : 1) * sizeof(*o));
	if (!o)
		return META_E_NOMEM;
	for (size_t i = 0; i < tm->nr; i++) {
		o[i].b = tm->recs[i].b;
		o[i].i = i;
	}
	qsort(o, tm->nr, sizeof(*o), cmp_order);
	for (size_t k = 0; k < tm->nr && !r; k++) {
		uint32_t count;
		r = tm->sp.count(tm->sp.ctx, o[k].b, &count);
		if (r || count == 0) /* freed again in this transaction: nothing refers to it */
			continue;
		r = meta_bm_write(tm->bm, o[k].b, tm->recs[o[k].i].v, rec_buf(tm, o[k].i));
		if (r)
			tm->err = r;
	}
	free(o);
	if (r)
		return r;
	r = meta_bm_flush(tm->bm);
	if (r)
		return tm->err = r;
	tm->pre_committed = 1;
	return META_OK;
}

int meta_tm_commit(struct meta_tm *tm, uint64_t sb_block, const struct meta_validator *v,
		   void *sb_data)
{
	int r;
	if (tm->err)
		return tm->err;
	if (!tm->pre_committed || meta_tm_is_new(tm, sb_block))
		return META_E_INVAL;
	r = meta_bm_write(tm->bm, sb_block, v, sb_data);
	if (!r)
		r = meta_bm_flush(tm->bm);
	if (r)
		return tm->err = r;
	drop_blocks(tm, KEEP_CHUNKS);
	return META_OK;
}

/* SPDX-License-Identifier: GPL-2.0-only */
/* Bulk writers of persistent-data structures (see pdata_write.h). */
#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/sm.h>

#include <stdlib.h>
#include <string.h>

#include "pdata/ondisk.h"
#include "pdata/pdata_write.h"
#include "pdata/sm_bitmap.h"

#define BW_BUF_BLOCKS 256u

/* ---- block writer -------------------------------------------------------------- */

int bw_init(struct bw *w, struct meta_io *io, uint64_t nr_blocks, uint64_t first_free)
{
	memset(w, 0, sizeof(*w));
	w->io = io;
	w->nr_blocks = nr_blocks;
	w->next = first_free;
	w->mcount = calloc(nr_blocks ? nr_blocks : 1, sizeof(uint32_t));
	w->buf = aligned_alloc(META_BLOCK_SIZE, (size_t)BW_BUF_BLOCKS * META_BLOCK_SIZE);
	w->buf_cap = BW_BUF_BLOCKS;
	if (!w->mcount || !w->buf) {
		bw_free(w);
		return META_E_NOMEM;
	}
	for (uint64_t b = 0; b < first_free && b < nr_blocks; b++)
		w->mcount[b] = 1;
	return META_OK;
}

void bw_free(struct bw *w)
{
	free(w->mcount);
	free(w->buf);
	w->mcount = NULL;
	w->buf = NULL;
}

uint64_t bw_alloc(struct bw *w)
{
	if (w->err)
		return 0;
	if (w->next >= w->nr_blocks) {
		w->err = META_E_NOSPC;
		return 0;
	}
	w->mcount[w->next] = 1;
	return w->next++;
}

void bw_inc(struct bw *w, uint64_t b)
{
	if (!w->err && b < w->nr_blocks)
		w->mcount[b]++;
}

static void bw_dec(struct bw *w, uint64_t b)
{
	if (!w->err && b < w->nr_blocks && w->mcount[b])
		w->mcount[b]--;
}

static int bw_write_buf(struct bw *w)
{
	int r;
	if (!w->buf_n)
		return META_OK;
	r = meta_io_pwrite(w->io, w->buf, (size_t)w->buf_n * META_BLOCK_SIZE,
			   w->buf_first * META_BLOCK_SIZE);
	w->buf_n = 0;
	if (r && !w->err)
		w->err = r;
	return r;
}

void bw_put(struct bw *w, uint64_t b, const struct meta_validator *v, void *data)
{
	if (w->err)
		return;
	if (v)
		v->prepare(v, data, b);
	if (w->buf_n && (b != w->buf_first + w->buf_n || w->buf_n == w->buf_cap))
		bw_write_buf(w);
	if (!w->buf_n)
		w->buf_first = b;
	memcpy(w->buf + (size_t)w->buf_n * META_BLOCK_SIZE, data, META_BLOCK_SIZE);
	w->buf_n++;
}

int bw_flush(struct bw *w)
{
	bw_write_buf(w);
	return w->err;
}

int bw_read(struct bw *w, uint64_t b, void *data)
{
	int r;
	if (w->err)
		return w->err;
	if (w->buf_n && b >= w->buf_first && b < w->buf_first + w->buf_n) {
		memcpy(data, w->buf + (size_t)(b - w->buf_first) * META_BLOCK_SIZE, META_BLOCK_SIZE);
		return META_OK;
	}
	r = meta_io_pread(w->io, data, META_BLOCK_SIZE, b * META_BLOCK_SIZE);
	if (r)
		w->err = r;
	return r;
}

/* ---- btree builder ------------------------------------------------------------- */

static inline uint8_t *node_key(uint8_t *node, uint32_t i)
{
	return node + META_NODE_HEADER_SIZE + 8u * i;
}

static inline uint8_t *node_val(uint8_t *node, uint32_t max, uint32_t vs, uint32_t i)
{
	return node + META_NODE_HEADER_SIZE + 8u * max + (size_t)vs * i;
}

void bbuild_init(struct bbuild *b, struct bw *w, uint32_t value_size)
{
	memset(b, 0, sizeof(*b));
	b->w = w;
	b->value_size = value_size;
	b->max = meta_btree_max_entries(value_size);
	b->cur = aligned_alloc(META_BLOCK_SIZE, META_BLOCK_SIZE);
	b->prev = aligned_alloc(META_BLOCK_SIZE, META_BLOCK_SIZE);
	if (!b->cur || !b->prev)
		w->err = w->err ? w->err : META_E_NOMEM;
	else {
		memset(b->cur, 0, META_BLOCK_SIZE);
		memset(b->prev, 0, META_BLOCK_SIZE);
	}
}

static void push_child(struct bbuild *b, uint64_t key, uint64_t block)
{
	if (b->n == b->cap) {
		uint64_t cap = b->cap ? b->cap * 2 : 64;
		uint64_t *k = realloc(b->keys, cap * sizeof(*k));
		uint64_t *bl = k ? realloc(b->blocks, cap * sizeof(*bl)) : NULL;
		if (k)
			b->keys = k;
		if (!k || !bl) {
			b->w->err = b->w->err ? b->w->err : META_E_NOMEM;
			return;
		}
		b->blocks = bl;
		b->cap = cap;
	}
	b->keys[b->n] = key;
	b->blocks[b->n] = block;
	b->n++;
}

/* Write a node image holding n entries; returns its block. */
static uint64_t write_node(struct bw *w, uint8_t *node, uint32_t flags, uint32_t n, uint32_t max,
			   uint32_t vs)
{
	struct disk_node_header *h = (struct disk_node_header *)node;
	uint64_t blk = bw_alloc(w);
	if (w->err)
		return 0;
	h->flags = le32_of(flags);
	h->nr_entries = le32_of(n);
	h->max_entries = le32_of(max);
	h->value_size = le32_of(vs);
	h->padding = le32_of(0);
	/* unused slots are zero: the image is deterministic */
	memset(node_key(node, n), 0, 8u * (max - n));
	memset(node_val(node, max, vs, n), 0, (size_t)vs * (max - n));
	bw_put(w, blk, &meta_node_validator, node);
	return blk;
}

static void emit_leaf(struct bbuild *b, uint8_t *node, uint32_t n)
{
	uint64_t first = get_le64p(node_key(node, 0));
	uint64_t blk = write_node(b->w, node, META_NODE_LEAF, n, b->max, b->value_size);
	if (!b->w->err)
		push_child(b, first, blk);
	b->tail_spliced = false;
}

/* Move the last k entries of `from` (n_from) to the front of `to` (n_to). */
static void shift_right(uint8_t *from, uint32_t n_from, uint8_t *to, uint32_t n_to, uint32_t k,
			uint32_t max, uint32_t vs)
{
	memmove(node_key(to, k), node_key(to, 0), 8u * n_to);
	memmove(node_val(to, max, vs, k), node_val(to, max, vs, 0), (size_t)vs * n_to);
	memcpy(node_key(to, 0), node_key(from, n_from - k), 8u * k);
	memcpy(node_val(to, max, vs, 0), node_val(from, max, vs, n_from - k), (size_t)vs * k);
}

/*
 * Read back the spliced leaf `leaf` into b->prev (free: prev_n is 0); false when
 * it is not a leaf of this builder's value size (it is then spliced as it is), or
 * on a read error (in w->err).
 */
static bool read_spliced(struct bbuild *b, uint64_t leaf, uint32_t *n)
{
	const struct disk_node_header *h = (const struct disk_node_header *)b->prev;
	if (bw_read(b->w, leaf, b->prev))
		return false;
	if (meta_node_validator.check(&meta_node_validator, b->prev, leaf) ||
	    !(le32_get(h->flags) & META_NODE_LEAF) || le32_get(h->max_entries) != b->max ||
	    le32_get(h->value_size) != b->value_size || le32_get(h->nr_entries) > b->max)
		return false;
	*n = le32_get(h->nr_entries);
	return true;
}

static void report_copy(struct bbuild *b, uint64_t leaf, uint8_t *node, uint32_t n)
{
	int r;
	if (!b->copied || b->w->err)
		return;
	r = b->copied(b->copied_ctx, leaf, node_val(node, b->max, b->value_size, 0), n);
	if (r)
		b->w->err = r;
}

/*
 * The pending entries (prev_n 0, cur_n under a third of a leaf) end the tree right
 * after a spliced leaf: that leaf is taken back (one parent less) and its entries
 * go before the pending ones, so that the usual balancing of the last two leaves
 * applies.  A shared leaf is never changed: the copy is a new leaf.
 */
static void unsplice_tail(struct bbuild *b)
{
	uint64_t leaf = b->blocks[b->n - 1];
	uint32_t s, total;
	uint8_t *t;
	if (!read_spliced(b, leaf, &s) || !s)
		return;
	b->n--;
	b->tail_spliced = false;
	bw_dec(b->w, leaf);
	report_copy(b, leaf, b->prev, s);
	total = s + b->cur_n;
	if (total <= b->max) {
		/* one leaf: the copied entries, then the pending ones */
		memcpy(node_key(b->prev, s), node_key(b->cur, 0), 8u * b->cur_n);
		memcpy(node_val(b->prev, b->max, b->value_size, s),
		       node_val(b->cur, b->max, b->value_size, 0), (size_t)b->value_size * b->cur_n);
		t = b->prev;
		b->prev = b->cur;
		b->cur = t;
		b->cur_n = total;
		b->prev_n = 0;
	} else
		b->prev_n = s; /* two leaves: flush_leaves balances them */
}

/* Write the pending leaves, balancing the last two so neither is under a third full. */
static void flush_leaves(struct bbuild *b)
{
	if (!b->prev_n && b->cur_n && b->cur_n < b->max / 3 && b->n && b->tail_spliced)
		unsplice_tail(b);
	if (b->prev_n) {
		if (b->cur_n < b->max / 3) {
			uint32_t total = b->prev_n + b->cur_n, right = total / 2;
			uint32_t k = right - b->cur_n;
			shift_right(b->prev, b->prev_n, b->cur, b->cur_n, k, b->max, b->value_size);
			b->prev_n -= k;
			b->cur_n += k;
		}
		emit_leaf(b, b->prev, b->prev_n);
		b->prev_n = 0;
	}
	if (b->cur_n)
		emit_leaf(b, b->cur, b->cur_n);
	b->cur_n = 0;
}

/* Make room in the current leaf: a full one becomes prev (the one before is written). */
static void next_leaf(struct bbuild *b)
{
	uint8_t *t;
	if (b->prev_n)
		emit_leaf(b, b->prev, b->prev_n);
	t = b->prev;
	b->prev = b->cur;
	b->cur = t;
	b->prev_n = b->max;
	b->cur_n = 0;
}

void bbuild_add(struct bbuild *b, uint64_t key, const void *value)
{
	if (b->w->err)
		return;
	if (b->any && key <= b->last_key) {
		b->w->err = META_E_INVAL;
		return;
	}
	b->any = true;
	b->last_key = key;
	if (b->cur_n == b->max)
		next_leaf(b);
	put_le64p(node_key(b->cur, b->cur_n), key);
	memcpy(node_val(b->cur, b->max, b->value_size, b->cur_n), value, b->value_size);
	b->cur_n++;
}

void bbuild_add_seq(struct bbuild *b, uint64_t key, uint64_t n, uint64_t value, uint64_t step)
{
	if (b->w->err || !n)
		return;
	if ((b->any && key <= b->last_key) || b->value_size != 8 || key + (n - 1) < key) {
		b->w->err = META_E_INVAL;
		return;
	}
	b->any = true;
	b->last_key = key + (n - 1);
	while (n && !b->w->err) {
		uint32_t k;
		uint8_t *kp, *vp;
		if (b->cur_n == b->max)
			next_leaf(b);
		k = b->max - b->cur_n < n ? b->max - b->cur_n : (uint32_t)n;
		kp = node_key(b->cur, b->cur_n);
		vp = node_val(b->cur, b->max, 8, b->cur_n);
		for (uint32_t j = 0; j < k; j++) {
			put_le64p(kp + 8u * j, key + j);
			put_le64p(vp + 8u * j, value + j * step);
		}
		b->cur_n += k;
		key += k;
		value += k * step;
		n -= k;
	}
}

/*
 * Copy the entries of the spliced leaf `leaf` after the pending ones (prev_n 0,
 * cur_n under a third of a leaf): true when done.
 */
static bool copy_spliced(struct bbuild *b, uint64_t leaf)
{
	uint32_t s, take;
	uint8_t *t;
	if (!read_spliced(b, leaf, &s) || !s)
		return false;
	report_copy(b, leaf, b->prev, s);
	take = b->max - b->cur_n < s ? b->max - b->cur_n : s;
	memcpy(node_key(b->cur, b->cur_n), node_key(b->prev, 0), 8u * take);
	memcpy(node_val(b->cur, b->max, b->value_size, b->cur_n),
	       node_val(b->prev, b->max, b->value_size, 0), (size_t)b->value_size * take);
	b->cur_n += take;
	b->last_key = get_le64p(node_key(b->prev, s - 1));
	if (take < s) {
		/* more than a leaf: cur (full) becomes prev, the rest of the copy cur */
		uint32_t rest = s - take;
		memmove(node_key(b->prev, 0), node_key(b->prev, take), 8u * rest);
		memmove(node_val(b->prev, b->max, b->value_size, 0),
			node_val(b->prev, b->max, b->value_size, take), (size_t)b->value_size * rest);
		t = b->prev;
		b->prev = b->cur;
		b->cur = t;
		b->prev_n = b->max;
		b->cur_n = rest;
	}
	return true;
}

void bbuild_add_subtree(struct bbuild *b, uint64_t first_key, uint64_t root)
{
	if (b->w->err)
		return;
	if (b->any && first_key <= b->last_key) {
		b->w->err = META_E_INVAL;
		return;
	}
	b->any = true;
	/* a short run before it would be an under-full leaf: take the leaf's entries instead */
	if (!b->prev_n && b->cur_n && b->cur_n < b->max / 3 && copy_spliced(b, root))
		return;
	if (b->w->err)
		return;
	flush_leaves(b);
	/* the subtree's own highest key is unknown here: the caller keeps keys ordered */
	b->last_key = first_key;
	push_child(b, first_key, root);
	bw_inc(b->w, root);
	b->tail_spliced = true;
}

void bbuild_take_leaves(struct bbuild *b, uint64_t **keys, uint64_t **blocks, uint64_t *n)
{
	struct bw *w = b->w;
	flush_leaves(b);
	/* many small lists are kept (one per def): no spare capacity */
	if (b->n && b->n < b->cap) {
		uint64_t *k = realloc(b->keys, b->n * sizeof(*k)), *bl;
		if (k)
			b->keys = k;
		bl = realloc(b->blocks, b->n * sizeof(*bl));
		if (bl)
			b->blocks = bl;
	}
	*keys = b->keys;
	*blocks = b->blocks;
	*n = w->err ? 0 : b->n;
	free(b->cur);
	free(b->prev);
	memset(b, 0, sizeof(*b));
	b->w = w;
}

uint64_t bbuild_finish(struct bbuild *b)
{
	struct bw *w = b->w;
	uint32_t imax = meta_btree_max_entries(8);
	uint64_t root = 0;
	uint8_t *node = b->prev; /* reuse a node buffer for internal levels */

	if (!w->err) {
		if (!b->n && !b->prev_n && !b->cur_n) /* empty tree: one empty leaf */
			emit_leaf(b, b->cur, 0);
		else
			flush_leaves(b);
	}
	while (!w->err && b->n > 1) {
		uint64_t n = b->n, groups = (n + imax - 1) / imax, out = 0;
		uint64_t *nk = malloc(groups * sizeof(*nk)), *nb = malloc(groups * sizeof(*nb));
		uint64_t i = 0;
		if (!nk || !nb) {
			free(nk);
			free(nb);
			w->err = META_E_NOMEM;
			break;
		}
		while (i < n) {
			uint64_t left = n - i, take = left > imax ? imax : left;
			/* balance the last two nodes of the level */
			if (left > imax && left - imax < imax / 3)
				take = left - left / 2;
			memset(node, 0, META_BLOCK_SIZE);
			for (uint64_t j = 0; j < take; j++) {
				put_le64p(node_key(node, (uint32_t)j), b->keys[i + j]);
				put_le64p(node_val(node, imax, 8, (uint32_t)j), b->blocks[i + j]);
			}
			nk[out] = b->keys[i];
			nb[out] = write_node(w, node, META_NODE_INTERNAL, (uint32_t)take, imax, 8);
			out++;
			i += take;
		}
		free(b->keys);
		free(b->blocks);
		b->keys = nk;
		b->blocks = nb;
		b->n = out;
		b->cap = groups;
	}
	if (!w->err && b->n == 1)
		root = b->blocks[0];
	free(b->cur);
	free(b->prev);
	free(b->keys);
	free(b->blocks);
	memset(b, 0, sizeof(*b));
	b->w = w;
	return w->err ? 0 : root;
}

/* ---- space maps ---------------------------------------------------------------- */

/*
 * Fill one bitmap block for blocks [0, n) of counts (a count of 3 or more
 * stands for "in the ref-count tree"); returns the index entry.
 */
static void fill_bitmap(uint8_t *bm, const uint8_t *counts, uint32_t n, struct disk_index_entry *ie)
{
	uint8_t *words = bm + sizeof(struct disk_bitmap_header);
	uint32_t nr_free, nfb;
	memset(bm, 0, META_BLOCK_SIZE);
	for (uint32_t j = 0; j < n; j += 32) {
		uint64_t word = 0;
		uint32_t lim = n - j < 32 ? n - j : 32;
		for (uint32_t k = 0; k < lim; k++)
			word |= sm_bitmap_bits(counts[j + k] > 3 ? 3 : counts[j + k], k);
		put_le64p(words + 8 * (j / 32), word);
	}
	sm_bitmap_free(bm, n, &nr_free, &nfb);
	ie->nr_free = le32_of(nr_free);
	ie->none_free_before = le32_of(nfb);
}

static uint32_t count_u32(const void *src, uint64_t i)
{
	return ((const uint32_t *)src)[i];
}

static uint32_t count_rc(const void *src, uint64_t i)
{
	return meta_rc_get(src, i);
}

/*
 * The ref-count tree of blocks [0, nr): an entry for every count >= 3, streamed
 * in block order straight into the builder.  (The source may be w->mcount:
 * blocks the builder allocates meanwhile get count 1 and no entry.)
 */
static uint64_t build_rc_tree(struct bw *w, uint32_t (*count)(const void *, uint64_t),
			      const void *src, uint64_t nr)
{
	struct bbuild b;
	bbuild_init(&b, w, 4);
	for (uint64_t i = 0; i < nr && !w->err; i++) {
		uint32_t c = count(src, i);
		if (c >= 3) {
			uint8_t v[4];
			put_le32p(v, c);
			bbuild_add(&b, i, v);
		}
	}
	return bbuild_finish(&b);
}

int sm_write_disk(struct bw *w, const struct meta_refcount *s, struct meta_sm_root *root)
{
	uint64_t nr = s->nr;
	uint64_t nbm = (nr + META_SM_ENTRIES_PER_BITMAP - 1) / META_SM_ENTRIES_PER_BITMAP;
	uint8_t *bm = aligned_alloc(META_BLOCK_SIZE, META_BLOCK_SIZE);
	struct disk_index_entry *ies = calloc(nbm ? nbm : 1, sizeof(*ies));
	struct bbuild ib;
	uint64_t allocated = 0;

	if (!bm || !ies) {
		free(bm);
		free(ies);
		return w->err = META_E_NOMEM;
	}
	for (uint64_t i = 0; i < nr; i++)
		allocated += s->c[i] != 0;
	/* the ref-count tree first, then the bitmaps and their index */
	root->ref_count_root = build_rc_tree(w, count_rc, s, nr);
	for (uint64_t i = 0; !w->err && i < nbm; i++) {
		uint64_t first = i * META_SM_ENTRIES_PER_BITMAP;
		uint32_t n = (uint32_t)(nr - first < META_SM_ENTRIES_PER_BITMAP ? nr - first
									 : META_SM_ENTRIES_PER_BITMAP);
		uint64_t blk = bw_alloc(w);
		fill_bitmap(bm, s->c + first, n, &ies[i]);
		ies[i].blocknr = le64_of(blk);
		bw_put(w, blk, &meta_bitmap_validator, bm);
	}
	bbuild_init(&ib, w, sizeof(struct disk_index_entry));
	for (uint64_t i = 0; i < nbm; i++)
		bbuild_add(&ib, i, &ies[i]);
	root->bitmap_root = bbuild_finish(&ib);
	root->nr_blocks = nr;
	root->nr_allocated = allocated;
	free(bm);
	free(ies);
	return w->err;
}

int sm_write_metadata(struct bw *w, struct meta_sm_root *root)
{
	uint64_t nr = w->nr_blocks;
	uint64_t nbm = (nr + META_SM_ENTRIES_PER_BITMAP - 1) / META_SM_ENTRIES_PER_BITMAP;
	struct disk_metadata_index *idx;
	uint64_t bitmaps[META_SM_MAX_METADATA_BITMAPS], index_blk, allocated = 0;
	uint8_t *bm, small[META_SM_ENTRIES_PER_BITMAP];

	if (nbm > META_SM_MAX_METADATA_BITMAPS)
		return w->err = META_E_INVAL;
	/* 1. the ref-count tree: its entries (counts >= 3) do not depend on what follows */
	root->ref_count_root = build_rc_tree(w, count_u32, w->mcount, nr);
	if (w->err)
		return w->err;
	/* 2. the map's own blocks, counted before any bitmap is filled */
	for (uint64_t i = 0; i < nbm; i++)
		bitmaps[i] = bw_alloc(w);
	index_blk = bw_alloc(w);
	if (w->err)
		return w->err;
	bm = aligned_alloc(META_BLOCK_SIZE, META_BLOCK_SIZE);
	idx = aligned_alloc(META_BLOCK_SIZE, META_BLOCK_SIZE);
	if (!bm || !idx) {
		free(bm);
		free(idx);
		return w->err = META_E_NOMEM;
	}
	memset(idx, 0, META_BLOCK_SIZE);
	for (uint64_t i = 0; i < nr; i++)
		if (w->mcount[i])
			allocated++;
	/* 3. bitmaps and index, in allocation order */
	for (uint64_t i = 0; i < nbm; i++) {
		uint64_t first = i * META_SM_ENTRIES_PER_BITMAP;
		uint32_t n = (uint32_t)(nr - first < META_SM_ENTRIES_PER_BITMAP ? nr - first
									 : META_SM_ENTRIES_PER_BITMAP);
		for (uint32_t j = 0; j < n; j++) /* the bitmap needs 0, 1, 2 or "3 or more" */
			small[j] = w->mcount[first + j] > 3 ? 3 : (uint8_t)w->mcount[first + j];
		fill_bitmap(bm, small, n, &idx->index[i]);
		idx->index[i].blocknr = le64_of(bitmaps[i]);
		bw_put(w, bitmaps[i], &meta_bitmap_validator, bm);
	}
	bw_put(w, index_blk, &meta_index_validator, idx);
	root->nr_blocks = nr;
	root->nr_allocated = allocated;
	root->bitmap_root = index_blk;
	free(bm);
	free(idx);
	return w->err;
}

/* SPDX-License-Identifier: GPL-2.0-only */
/* Space maps, read side (layout in include/libmeta/sm.h). */
#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/sm.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pdata/ondisk.h"
#include "pdata/sm_bitmap.h"
#include "pdata/sm_read.h"
#include "pdata/walk.h"
#include "base/util.h"

/* ---- validators: checksum and location; their bounds are the readers' ---- */

static int bitmap_check(const struct meta_validator *v, const void *data, uint64_t b)
{
	return meta_block_check(v, data, b, offsetof(struct disk_bitmap_header, blocknr));
}

static void bitmap_prepare(const struct meta_validator *v, void *data, uint64_t b)
{
	meta_block_prepare(v, data, b, offsetof(struct disk_bitmap_header, blocknr));
}

static int index_check(const struct meta_validator *v, const void *data, uint64_t b)
{
	return meta_block_check(v, data, b, offsetof(struct disk_metadata_index, blocknr));
}

static void index_prepare(const struct meta_validator *v, void *data, uint64_t b)
{
	meta_block_prepare(v, data, b, offsetof(struct disk_metadata_index, blocknr));
}

const struct meta_validator meta_bitmap_validator = {"sm_bitmap", DISK_BITMAP_CSUM_XOR,
						     bitmap_check, bitmap_prepare};
const struct meta_validator meta_index_validator = {"sm_index", DISK_INDEX_CSUM_XOR, index_check,
						    index_prepare};

/* an index entry the index does not hold (read_index() with missing) */
#define META_SM_NO_BITMAP UINT64_MAX

static uint64_t nr_bitmaps(const struct meta_sm_root *root)
{
	return (root->nr_blocks + META_SM_ENTRIES_PER_BITMAP - 1) / META_SM_ENTRIES_PER_BITMAP;
}

struct idx_walk {
	struct meta_sm_index_entry *e;
	uint64_t n;
	uint8_t *seen;
	meta_damage_fn dfn;
	meta_sm_block_fn bfn; /* may be NULL */
	void *dctx;
};

static void tree_node(meta_sm_block_fn bfn, void *ctx, uint64_t b, int lost)
{
	if (bfn)
		bfn(ctx, b, META_SM_BLK_NODE | (lost ? META_SM_BLK_LOST : 0));
}

static void idx_node(void *ctx, uint64_t b, int lost)
{
	struct idx_walk *w = ctx;
	tree_node(w->bfn, w->dctx, b, lost);
}

static void idx_damage(void *ctx, const struct meta_damage *d)
{
	struct idx_walk *w = ctx;
	struct meta_damage dd = *d;
	if (!w->dfn)
		return;
	dd.kind = META_DMG_SM_INDEX;
	dd.severity = META_SEV_FATAL;
	dd.detail = meta_damage_name(d->kind);
	w->dfn(w->dctx, &dd);
}

static int idx_leaf(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	struct idx_walk *w = ctx;
	for (uint32_t i = 0; i < ni->nr_entries; i++) {
		uint64_t k = meta_node_key(node, i);
		const struct disk_index_entry *ie = meta_node_value(node, i);
		if (w->bfn)
			w->bfn(w->dctx, le64_get(ie->blocknr), 0);
		if (k >= w->n)
			continue;
		w->e[k].blocknr = le64_get(ie->blocknr);
		w->e[k].nr_free = le32_get(ie->nr_free);
		w->e[k].none_free_before = le32_get(ie->none_free_before);
		w->seen[k] = 1;
	}
	return 0;
}

static int read_index(struct meta_bm *bm, enum meta_sm_kind kind, const struct meta_sm_root *root,
		      struct meta_sm_index_entry **out, uint64_t *n_out, meta_damage_fn dfn,
		      meta_sm_block_fn bfn, void *ctx, bool missing)
{
	uint64_t n = nr_bitmaps(root);
	struct meta_sm_index_entry *e;
	*out = NULL;
	*n_out = 0;
	if (kind == META_SM_METADATA && n > META_SM_MAX_METADATA_BITMAPS) {
		meta_report(dfn, ctx, META_DMG_SM_ROOT, UINT64_MAX, 0, root->nr_blocks, 0,
			    "metadata space map larger than one index block can describe");
		return META_E_CORRUPT;
	}
	e = calloc(n ? n : 1, sizeof(*e));
	if (!e)
		return META_E_NOMEM;
	if (kind == META_SM_METADATA) {
		const struct disk_metadata_index *mi;
		if (bfn)
			bfn(ctx, root->bitmap_root, 0);
		int r = meta_bm_get(bm, root->bitmap_root, &meta_index_validator, (const void **)&mi);
		if (r) {
			meta_report(dfn, ctx, META_DMG_SM_INDEX, root->bitmap_root, 0, root->nr_blocks, 0,
				    meta_strerror(r));
			free(e);
			return META_E_CORRUPT;
		}
		for (uint64_t i = 0; i < n; i++) {
			e[i].blocknr = le64_get(mi->index[i].blocknr);
			e[i].nr_free = le32_get(mi->index[i].nr_free);
			e[i].none_free_before = le32_get(mi->index[i].none_free_before);
			if (bfn && e[i].blocknr)
				bfn(ctx, e[i].blocknr, 0);
		}
		meta_bm_put(bm, mi);
	} else {
		struct idx_walk w = {e, n, calloc(n ? n : 1, 1), dfn, bfn, ctx};
		struct meta_btree_walk_ops ops = {idx_leaf, idx_damage};
		if (!w.seen) {
			free(e);
			return META_E_NOMEM;
		}
		if (meta_walk_tree_nodes(bm, root->bitmap_root, sizeof(struct disk_index_entry), &ops,
					 idx_node, &w)) {
			free(w.seen);
			free(e);
			return META_E_NOMEM;
		}
		/* one report per run of missing bitmaps (a damaged root can lose millions) */
		for (uint64_t i = 0; i < n; i++) {
			uint64_t j = i;
			if (w.seen[i])
				continue;
			while (j + 1 < n && !w.seen[j + 1])
				j++;
			meta_report(dfn, ctx, META_DMG_SM_INDEX, UINT64_MAX, i * META_SM_ENTRIES_PER_BITMAP,
				    (j + 1) * META_SM_ENTRIES_PER_BITMAP, 0,
				    j > i ? "bitmaps missing from index" : "bitmap missing from index");
			if (missing)
				for (uint64_t k = i; k <= j; k++)
					e[k].blocknr = META_SM_NO_BITMAP;
			i = j;
		}
		free(w.seen);
	}
	*out = e;
	*n_out = n;
	return META_OK;
}

int meta_sm_read_index(struct meta_bm *bm, enum meta_sm_kind kind, const struct meta_sm_root *root,
		       struct meta_sm_index_entry **out, uint64_t *n_out)
{
	return read_index(bm, kind, root, out, n_out, NULL, NULL, NULL, false);
}

/*
 * The ref-count tree: the walk validates it (and reports its damage) and keeps each leaf's
 * entries packed, mostly a byte each: an entry whose key is 1-15 past the previous
 * one's and whose count is at most 15 is the byte (delta << 4 | count); any other is a 0
 * byte and then the delta and the count as LEB128 varints.  When a bitmap entry of 3 asks
 * for counts they are unpacked a window of RC_WIN leaves (in key order) at a time; bitmaps
 * come in ascending order, so the window slides forward.  Memory: the leaf list (24 bytes
 * per leaf of up to 336 entries), about a byte per entry, and one window, never the tree
 * as read; and no leaf is read twice (p100m's data space map: 20k leaves, read again
 * window by window before, 0.3 s on a device).
 */
#define RC_WIN 32u

struct rc_leafref {
	uint64_t first;        /* first key */
	const uint8_t *enc;    /* its packed entries */
	uint32_t nr, seq;      /* entries, position in the walk */
};

/*
 * The packed entries live in chunks, filled in turn: no copies as they grow.  The first is
 * 1 MiB, the others META_HUGE_MIN bytes of huge pages (p100m's data ref-count tree packs
 * into 7.4 MB: 1,850 page faults in 4 KiB pages).
 */
#define RC_CHUNK0 ((size_t)1 << 20)
static size_t rc_chunk_size(size_t k)
{
	return k ? META_HUGE_MIN : RC_CHUNK0;
}

struct rc_array {
	struct rc_leafref *leaf;
	size_t nleaf, capleaf;
	uint8_t **chunk;       /* chunk[nchunk - 1] is being filled, up to chunk_used */
	size_t nchunk, capchunk, chunk_used;
	int nomem;
	/* the window: the entries of leaves [wlo, whi), in leaf order */
	size_t wlo, whi, wn, wpos;
	int loaded;
	uint64_t *key;
	uint32_t *val;
};

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static const uint8_t *get_varint(const uint8_t *p, uint64_t *v)
{
	uint64_t x = 0;
	for (unsigned sh = 0; sh < 64; sh += 7) {
		uint8_t c = *p++;
		x |= (uint64_t)(c & 0x7f) << sh;
		if (!(c & 0x80))
			break;
	}
	*v = x;
	return p;
}

static int rc_leaf(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	struct rc_array *a = ctx;
	(void)b;
	if (!ni->nr_entries)
		return 0;
	/* the walk checked the keys: strictly increasing; at most 1 + 10 + 5 bytes an entry */
	size_t need = (size_t)ni->nr_entries * 16;
	if (meta_grow((void **)&a->leaf, &a->capleaf, a->nleaf + 1, sizeof(*a->leaf))) {
		a->nomem = 1;
		return META_E_NOMEM;
	}
	if (!a->nchunk || rc_chunk_size(a->nchunk - 1) - a->chunk_used < need) {
		uint8_t *c = meta_huge_alloc(rc_chunk_size(a->nchunk)); /* need <= 16 * 336 */
		if (!c || meta_grow((void **)&a->chunk, &a->capchunk, a->nchunk + 1, sizeof(*a->chunk))) {
			meta_huge_free(c, rc_chunk_size(a->nchunk));
			a->nomem = 1;
			return META_E_NOMEM;
		}
		a->chunk[a->nchunk++] = c;
		a->chunk_used = 0;
	}
	/* keys and values read in place: the walk checked the node's layout (value size 4) */
	const uint8_t *keys = (const uint8_t *)node + META_NODE_HEADER_SIZE;
	const uint8_t *vals = keys + 8u * ni->max_entries;
	uint64_t first = get_le64p(keys), prev = first;
	uint8_t *start = a->chunk[a->nchunk - 1] + a->chunk_used, *p = start;
	a->leaf[a->nleaf] = (struct rc_leafref){first, start, ni->nr_entries, (uint32_t)a->nleaf};
	a->nleaf++;
	for (uint32_t i = 0; i < ni->nr_entries; i++) {
		uint64_t k = get_le64p(keys + 8u * i), d = k - prev;
		uint32_t v = get_le32p(vals + 4u * i);
		if (i && d <= 15 && v <= 15) {
			*p++ = (uint8_t)(d << 4 | v);
		} else {
			*p++ = 0;
			p = put_varint(put_varint(p, d), v);
		}
		prev = k;
	}
	a->chunk_used += (size_t)(p - start);
	return 0;
}

struct rc_damage_ctx {
	meta_damage_fn fn;
	void *ctx;
};

static void rc_damage(void *ctx, const struct meta_damage *d)
{
	struct rc_damage_ctx *c = ctx;
	struct meta_damage dd = *d;
	if (!c->fn)
		return;
	dd.kind = META_DMG_SM_REF_COUNT_TREE;
	dd.severity = META_SEV_FATAL;
	dd.detail = meta_damage_name(d->kind);
	c->fn(c->ctx, &dd);
}

struct rc_walk_ctx {
	struct rc_array a;
	struct rc_damage_ctx dc;
	meta_sm_block_fn bfn;
};

static void rc_node_w(void *ctx, uint64_t b, int lost)
{
	struct rc_walk_ctx *w = ctx;
	tree_node(w->bfn, w->dc.ctx, b, lost);
}

static int rc_leaf_w(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	return rc_leaf(&((struct rc_walk_ctx *)ctx)->a, b, node, ni);
}

static void rc_damage_w(void *ctx, const struct meta_damage *d)
{
	rc_damage(&((struct rc_walk_ctx *)ctx)->dc, d);
}

static int cmp_leafref(const void *x, const void *y)
{
	const struct rc_leafref *a = x, *b = y;
	if (a->first != b->first)
		return a->first < b->first ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int load_rc(struct meta_bm *bm, uint64_t root, struct rc_array *out, meta_damage_fn dfn,
		   meta_sm_block_fn bfn, void *ctx)
{
	struct rc_walk_ctx w;
	struct meta_btree_walk_ops ops = {rc_leaf_w, rc_damage_w};
	memset(&w, 0, sizeof(w));
	w.dc.fn = dfn;
	w.dc.ctx = ctx;
	w.bfn = bfn;
	if (meta_walk_tree_nodes(bm, root, 4, &ops, rc_node_w, &w))
		w.a.nomem = 1; /* its only error */
	if (w.a.nleaf)
		qsort(w.a.leaf, w.a.nleaf, sizeof(*w.a.leaf), cmp_leafref);
	*out = w.a;
	return w.a.nomem ? META_E_NOMEM : META_OK;
}

static void rc_free(struct rc_array *a)
{
	free(a->leaf);
	for (size_t i = 0; i < a->nchunk; i++)
		meta_huge_free(a->chunk[i], rc_chunk_size(i));
	free(a->chunk);
	free(a->key);
	free(a->val);
	memset(a, 0, sizeof(*a));
}

/* Unpack the window of leaves [lo, lo + RC_WIN).  0 or META_E_NOMEM. */
static int rc_load(struct rc_array *a, size_t lo)
{
	size_t hi = lo + RC_WIN < a->nleaf ? lo + RC_WIN : a->nleaf, n = 0;
	a->loaded = 0;
	if (!a->key) {
		size_t cap = (size_t)RC_WIN * meta_btree_max_entries(4);
		a->key = malloc(cap * sizeof(*a->key));
		a->val = malloc(cap * sizeof(*a->val));
		if (!a->key || !a->val)
			return META_E_NOMEM;
	}
	for (size_t j = lo; j < hi; j++) {
		const uint8_t *p = a->leaf[j].enc;
		uint64_t k = a->leaf[j].first;
		for (uint32_t i = 0; i < a->leaf[j].nr; i++, n++) {
			uint8_t c = *p++;
			if (c) {
				k += c >> 4;
				a->val[n] = c & 15u;
			} else {
				uint64_t d, v;
				p = get_varint(get_varint(p, &d), &v);
				k += d;
				a->val[n] = (uint32_t)v;
			}
			a->key[n] = k;
		}
	}
	a->wlo = lo;
	a->whi = hi;
	a->wn = n;
	a->wpos = 0;
	a->loaded = 1;
	return 0;
}

static int rc_find(struct rc_array *a, uint64_t b, uint32_t *v)
{
	if (!a->nleaf)
		return 0;
	if (!a->loaded || b < a->leaf[a->wlo].first || (a->whi < a->nleaf && b >= a->leaf[a->whi].first)) {
		/* the last leaf whose first key is <= b */
		size_t lo = 0, hi = a->nleaf;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (a->leaf[mid].first <= b)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (!lo || rc_load(a, lo - 1))
			return 0;
	}
	/* forward from the last hit (bitmaps ask in ascending order), else binary search */
	size_t p = a->wpos;
	for (unsigned k = 0; k < 8 && p < a->wn && a->key[p] < b; k++)
		p++;
	if (p >= a->wn || a->key[p] != b) {
		size_t lo = 0, hi = a->wn;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (a->key[mid] < b)
				lo = mid + 1;
			else
				hi = mid;
		}
		p = lo;
	}
	if (p < a->wn && a->key[p] == b) {
		a->wpos = p;
		*v = a->val[p];
		return 1;
	}
	return 0;
}

struct bm_pair {
	uint64_t blocknr, idx;
};

struct counts_ctx {
	const struct meta_sm_root *root;
	struct bm_pair *pairs;
	uint64_t npairs;
	struct rc_array rc;
	uint64_t rc_used; /* ref-count tree entries a bitmap entry of 3 asked for */
	uint32_t *counts;
	meta_sm_counts_fn fn;
	meta_damage_fn dfn;
	void *ctx;
};

static int cmp_pair(const void *a, const void *b)
{
	const struct bm_pair *x = a, *y = b;
	if (x->blocknr != y->blocknr)
		return x->blocknr < y->blocknr ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* bitmap_lut[byte][k]: the 2-bit entry k of a bitmap byte (bit 2k high, bit 2k+1 low) */
static uint32_t bitmap_lut[256][4];

__attribute__((constructor)) static void bitmap_lut_init(void)
{
	for (unsigned b = 0; b < 256; b++)
		for (unsigned k = 0; k < 4; k++)
			bitmap_lut[b][k] = sm_bitmap_entry(b, k);
}

/* The count of block b, whose bitmap entry is 3: its ref-count tree entry; false if none. */
static bool rc_count(struct counts_ctx *c, uint64_t b, uint32_t *v)
{
	struct rc_array *a = &c->rc;
	/* the common case: b's entry is the one after the last hit */
	if (a->loaded && a->wpos + 1 < a->wn && a->key[a->wpos + 1] == b)
		*v = a->val[++a->wpos];
	else if (!rc_find(a, b, v))
		return false;
	c->rc_used++;
	return true;
}

static int decode_bitmap(struct counts_ctx *c, uint64_t idx, const void *data)
{
	uint64_t first = idx * META_SM_ENTRIES_PER_BITMAP;
	uint64_t left = c->root->nr_blocks - first;
	uint32_t n = left < META_SM_ENTRIES_PER_BITMAP ? (uint32_t)left : META_SM_ENTRIES_PER_BITMAP;
	const uint8_t *words = sm_bitmap_words(data);
	int bad_overflow = 0;
	for (uint32_t i = 0; i < n; i += 32) {
		uint64_t w = get_le64p(words + 8 * (i / 32));
		uint32_t lim = n - i < 32 ? n - i : 32;
		uint32_t *out = c->counts + i;
		if (!w) { /* the common case in a sparse map */
			memset(out, 0, lim * sizeof(*out));
			continue;
		}
		/* entries past n (in the last word) are ignored: 0 */
		if (lim < 32)
			w &= (1ull << (2 * lim)) - 1;
		/* four entries a byte from the table (an entry of 3 reads 3), then the 3s */
		uint32_t tmp[32], *dst = lim < 32 ? tmp : out;
		for (unsigned j = 0; j < 32; j += 4)
			memcpy(dst + j, bitmap_lut[(w >> (2 * j)) & 0xff], sizeof(bitmap_lut[0]));
		for (uint64_t t = w & w >> 1 & SM_BITMAP_LOW_BITS; t; t &= t - 1) {
			unsigned k = (unsigned)__builtin_ctzll(t) / 2;
			if (!rc_count(c, first + i + k, &dst[k])) {
				dst[k] = 3;
				bad_overflow++;
			}
		}
		if (dst == tmp)
			memcpy(out, tmp, lim * sizeof(*out));
	}
	if (bad_overflow)
		meta_report(c->dfn, c->ctx, META_DMG_SM_REF_COUNT_TREE, UINT64_MAX, first, first + n,
			    (uint64_t)bad_overflow,
			    "bitmap says count >= 3 but the reference count tree has no entry");
	return c->fn(c->ctx, first, c->counts, n);
}

static int counts_cb(void *ctx, uint64_t b, const void *data, int err)
{
	struct counts_ctx *c = ctx;
	/* find every index entry pointing at b (normally exactly one) */
	size_t lo = 0, hi = c->npairs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->pairs[mid].blocknr < b)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < c->npairs && c->pairs[lo].blocknr == b; lo++) {
		uint64_t idx = c->pairs[lo].idx;
		int r;
		if (err || (lo > 0 && c->pairs[lo - 1].blocknr == b)) {
			meta_report(c->dfn, c->ctx, META_DMG_SM_BITMAP, b, idx * META_SM_ENTRIES_PER_BITMAP,
				    (idx + 1) * META_SM_ENTRIES_PER_BITMAP, 0,
				    err ? meta_strerror(err) : "bitmap block used twice");
			continue;
		}
		r = decode_bitmap(c, idx, data);
		if (r)
			return r;
	}
	return 0;
}

int meta_sm_read_counts(struct meta_bm *bm, enum meta_sm_kind kind, const struct meta_sm_root *root,
			meta_sm_counts_fn fn, meta_damage_fn dfn, void *ctx)
{
	return meta_sm_read_counts_blocks(bm, kind, root, fn, dfn, NULL, ctx);
}

int meta_sm_read_counts_blocks(struct meta_bm *bm, enum meta_sm_kind kind,
			       const struct meta_sm_root *root, meta_sm_counts_fn fn,
			       meta_damage_fn dfn, meta_sm_block_fn bfn, void *ctx)
{
	struct counts_ctx c;
	struct meta_sm_index_entry *ie;
	uint64_t n, *blocks;
	int r;

	memset(&c, 0, sizeof(c));
	r = read_index(bm, kind, root, &ie, &n, dfn, bfn, ctx, true);
	if (r)
		return r;
	c.root = root;
	c.fn = fn;
	c.dfn = dfn;
	c.ctx = ctx;
	c.pairs = malloc((n ? n : 1) * sizeof(*c.pairs));
	blocks = malloc((n ? n : 1) * sizeof(*blocks));
	c.counts = malloc(META_SM_ENTRIES_PER_BITMAP * sizeof(uint32_t));
	if (!c.pairs || !blocks || !c.counts) {
		r = META_E_NOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < n; i++) {
		if (ie[i].blocknr == META_SM_NO_BITMAP)
			continue; /* reported once per run by read_index(); no counts to compare */
		c.pairs[c.npairs].blocknr = ie[i].blocknr;
		c.pairs[c.npairs].idx = i;
		blocks[c.npairs] = ie[i].blocknr;
		c.npairs++;
	}
	qsort(c.pairs, c.npairs, sizeof(*c.pairs), cmp_pair);
	r = load_rc(bm, root->ref_count_root, &c.rc, dfn, bfn, ctx);
	if (r)
		goto out;
	r = meta_bm_read_batch(bm, blocks, c.npairs, &meta_bitmap_validator, counts_cb, &c);
	if (!r) {
		/* entries no bitmap asked for: the kernel drops an entry when its count falls to 2 */
		uint64_t entries = 0;
		for (size_t j = 0; j < c.rc.nleaf; j++)
			entries += c.rc.leaf[j].nr;
		if (entries > c.rc_used)
			meta_report(dfn, ctx, META_DMG_SM_REF_COUNT_TREE, root->ref_count_root, 0,
				    root->nr_blocks, entries - c.rc_used,
				    "reference count tree holds entries for blocks whose bitmap count is "
				    "below 3");
	}
out:
	free(ie);
	free(blocks);
	free(c.pairs);
	free(c.counts);
	rc_free(&c.rc);
	return r;
}

/* meta_sm_read_disk_blocks(): the index leaves' bitmaps (the trees' nodes come through idx_node) */
static int blocks_idx_leaf(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	struct idx_walk *w = ctx;
	(void)b;
	for (uint32_t i = 0; i < ni->nr_entries; i++)
		w->bfn(w->dctx, le64_get(((const struct disk_index_entry *)meta_node_value(node, i))->blocknr), 0);
	return 0;
}

int meta_sm_read_disk_blocks(struct meta_bm *bm, const struct meta_sm_root *root,
			     meta_sm_block_fn bfn, void *ctx)
{
	struct idx_walk w = {.bfn = bfn, .dctx = ctx};
	struct meta_btree_walk_ops idx_ops = {blocks_idx_leaf, NULL}, rc_ops = {NULL, NULL};
	if (meta_walk_tree_nodes(bm, root->bitmap_root, sizeof(struct disk_index_entry), &idx_ops,
				 idx_node, &w))
		return META_E_NOMEM;
	return meta_walk_tree_nodes(bm, root->ref_count_root, 4, &rc_ops, idx_node, &w);
}

int meta_sm_get_count(struct meta_bm *bm, enum meta_sm_kind kind, const struct meta_sm_root *root,
		      uint64_t b, uint32_t *count)
{
	struct meta_sm_index_entry ie;
	const uint8_t *bitmap;
	uint64_t idx = b / META_SM_ENTRIES_PER_BITMAP;
	uint32_t i = (uint32_t)(b % META_SM_ENTRIES_PER_BITMAP), v;
	int r;

	if (b >= root->nr_blocks)
		return META_E_RANGE;
	if (kind == META_SM_METADATA) {
		const struct disk_metadata_index *mi;
		if (idx >= META_SM_MAX_METADATA_BITMAPS)
			return META_E_RANGE;
		r = meta_bm_get(bm, root->bitmap_root, &meta_index_validator, (const void **)&mi);
		if (r)
			return r;
		ie.blocknr = le64_get(mi->index[idx].blocknr);
		meta_bm_put(bm, mi);
	} else {
		struct disk_index_entry die;
		r = meta_btree_lookup(bm, root->bitmap_root, idx, &die, sizeof(die));
		if (r)
			return r == META_E_NOTFOUND ? META_E_CORRUPT : r;
		ie.blocknr = le64_get(die.blocknr);
	}
	r = meta_bm_get(bm, ie.blocknr, &meta_bitmap_validator, (const void **)&bitmap);
	if (r)
		return r;
	v = sm_bitmap_get(bitmap, i);
	meta_bm_put(bm, bitmap);
	if (v == 3) {
		uint8_t val[4];
		r = meta_btree_lookup(bm, root->ref_count_root, b, val, 4);
		if (r)
			return r == META_E_NOTFOUND ? META_E_CORRUPT : r;
		v = get_le32p(val);
	}
	*count = v;
	return META_OK;
}

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libmeta: in-place repair of space-map leaks (thin_check --auto-repair and
 * --clear-needs-check-flag).
 */
#include <stdlib.h>
#include <string.h>

#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/sm.h>
#include <libmeta/thin.h>

#include "endian.h"
#include "thin_leak_repair.h"
#include "util.h"

static int cmp_u64_asc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Locate the leaf of a one-level btree holding key; returns its block and slot. */
static int find_leaf_slot(struct meta_bm *bm, uint64_t root, uint64_t key, uint64_t *leaf,
			  uint32_t *slot)
{
	uint64_t b = root;
	for (int depth = 0; depth < 32; depth++) {
		const void *n;
		struct meta_node_info ni;
		uint32_t i = 0;
		int e = meta_bm_get(bm, b, &meta_node_validator, &n);
		if (e)
			return e;
		meta_node_get_info(n, &ni);
		while (i + 1 < ni.nr_entries && meta_node_key(n, i + 1) <= key)
			i++;
		if (!ni.nr_entries || meta_node_key(n, i) > key) {
			meta_bm_put(bm, n);
			return META_E_NOTFOUND;
		}
		if (ni.flags & META_NODE_LEAF) {
			meta_bm_put(bm, n);
			if (meta_node_key(n, i) != key)
				return META_E_NOTFOUND;
			*leaf = b;
			*slot = i;
			return META_OK;
		}
		b = meta_node_value64(n, i);
		meta_bm_put(bm, n);
	}
	return META_E_CORRUPT;
}

/* Rewrite a block in place: copy, let edit() change it, stamp and write. */
static int rewrite(struct meta_bm *bm, uint64_t b, const struct meta_validator *v, uint8_t *buf)
{
	const void *d;
	int e = meta_bm_get(bm, b, v, &d);
	if (e)
		return e;
	memcpy(buf, d, META_BLOCK_SIZE);
	meta_bm_put(bm, d);
	return META_OK;
}

static int fix_sm_leaks(struct meta_bm *bm, enum meta_sm_kind kind, const struct meta_sm_root *root,
			struct leak_list *l, uint8_t *buf)
{
	struct meta_sm_index_entry *ents = NULL;
	uint64_t n = 0;
	uint8_t *touched;
	int e;
	if (!l->n)
		return META_OK;
	qsort(l->b, l->n, sizeof(uint64_t), cmp_u64_asc);
	e = meta_sm_read_index(bm, kind, root, &ents, &n);
	if (e)
		return e;
	touched = calloc(n ? n : 1, 1);
	if (!touched) {
		free(ents);
		return META_E_NOMEM;
	}
	/* 1. bitmaps */
	for (size_t i = 0; !e && i < l->n;) {
		uint64_t idx = l->b[i] / META_SM_ENTRIES_PER_BITMAP;
		if (idx >= n) {
			e = META_E_CORRUPT;
			break;
		}
		e = rewrite(bm, ents[idx].blocknr, &meta_bitmap_validator, buf);
		for (; !e && i < l->n && l->b[i] / META_SM_ENTRIES_PER_BITMAP == idx; i++) {
			uint32_t j = (uint32_t)(l->b[i] % META_SM_ENTRIES_PER_BITMAP);
			uint8_t *w = buf + 16 + 8 * (j / 32);
			uint64_t word = get_le64p(w);
			word &= ~(3ull << (2 * (j % 32)));
			put_le64p(w, word);
			ents[idx].nr_free++;
			if (j < ents[idx].none_free_before)
				ents[idx].none_free_before = j;
		}
		if (!e)
			e = meta_bm_write(bm, ents[idx].blocknr, &meta_bitmap_validator, buf);
		touched[idx] = 1;
	}
	if (!e)
		e = meta_bm_flush(bm);
	/* 2. index entries */
	if (!e && kind == META_SM_METADATA) {
		e = rewrite(bm, root->bitmap_root, &meta_index_validator, buf);
		for (uint64_t idx = 0; !e && idx < n; idx++) {
			uint8_t *ie = buf + 16 + 16 * idx;
			if (!touched[idx])
				continue;
			put_le32p(ie + 8, ents[idx].nr_free);
			put_le32p(ie + 12, ents[idx].none_free_before);
		}
		if (!e)
			e = meta_bm_write(bm, root->bitmap_root, &meta_index_validator, buf);
	} else {
		for (uint64_t idx = 0; !e && idx < n; idx++) {
			uint64_t leaf;
			uint32_t slot;
			uint8_t *val;
			if (!touched[idx])
				continue;
			e = find_leaf_slot(bm, root->bitmap_root, idx, &leaf, &slot);
			if (!e)
				e = rewrite(bm, leaf, &meta_node_validator, buf);
			if (e)
				break;
			val = (uint8_t *)meta_node_value(buf, slot);
			put_le32p(val + 8, ents[idx].nr_free);
			put_le32p(val + 12, ents[idx].none_free_before);
			e = meta_bm_write(bm, leaf, &meta_node_validator, buf);
		}
	}
	if (!e)
		e = meta_bm_flush(bm);
	free(touched);
	free(ents);
	return e;
}

int meta_thin_fix_leaks(struct meta_thin *t, struct leak_list *ml, struct leak_list *dl)
{
	struct meta_bm *bm = meta_thin_bm(t);
	const struct meta_thin_sb *live = meta_thin_live_sb(t);
	uint8_t *buf = aligned_alloc(META_BLOCK_SIZE, META_BLOCK_SIZE);
	int e;
	if (!buf)
		return META_E_NOMEM;
	e = fix_sm_leaks(bm, META_SM_DISK, &live->data_sm, dl, buf);
	if (!e)
		e = fix_sm_leaks(bm, META_SM_METADATA, &live->metadata_sm, ml, buf);
	/* 3. the superblock's nr_allocated, last */
	if (!e)
		e = rewrite(bm, 0, &meta_thin_sb_validator, buf);
	if (!e) {
		uint64_t da = get_le64p(buf + 64 + 8), ma = get_le64p(buf + 192 + 8);
		put_le64p(buf + 64 + 8, da >= dl->n ? da - dl->n : 0);
		put_le64p(buf + 192 + 8, ma >= ml->n ? ma - ml->n : 0);
		e = meta_bm_write(bm, 0, &meta_thin_sb_validator, buf);
	}
	if (!e)
		e = meta_bm_flush(bm);
	free(buf);
	return e;
}

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libmeta: repair of space-map leaks in place (thin_check --auto-repair, and
 * --clear-needs-check-flag, which lvm2 runs at every activation).
 *
 * A leak is a block a space map counts as used that nothing references.  The
 * repair gives the leaked blocks back without ever overwriting a block the
 * committed superblock still depends on: the persistent-data way, copy on write.
 *
 *   1. Every space-map block that must change is written to a block that is
 *      free in the committed state: the data bitmaps holding leaked data
 *      blocks, the nodes of the data space map's index btree on the path to
 *      their entries (leaf up to the root), the metadata bitmaps that change,
 *      and the metadata space map's index block.  The metadata space map is
 *      its own client: the new blocks count 1 and the blocks they replace 0 in
 *      the same new bitmaps, found by iterating to a fixed point (a bitmap that
 *      changes needs a new block, which may be in another bitmap...).
 *   2. Flush.
 *   3. The superblock, last: new space-map roots and nr_allocated.  Its changes
 *      lie in its first 512-byte sector, which the kernel, too, assumes is
 *      written atomically.  Flush.
 *
 * Killed, torn or powered off anywhere before step 3 reaches the disk, the
 * committed metadata is untouched (only free blocks were written) and still
 * has its leaks: running the repair again does the whole job.  After step 3
 * the new space maps are complete.  So every crash leaves the old state or
 * the new one, never a torn bitmap or index block that a second run could
 * not read.  (Rewriting bitmaps in place and rebuilding torn ones on the next
 * run was the alternative; it still needs index entries written somewhere,
 * and a torn index block or index btree node loses the way to every bitmap.)
 *
 * The ref-count trees are not touched: a leaked block whose count was three or
 * more keeps a stale ref-count entry behind a bitmap entry of 0, which nothing
 * reads.  Needs free metadata blocks: about two per changed bitmap and index
 * node; META_E_NOSPC otherwise (nothing written; the check reports the leaks
 * as not repaired).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/sm.h>
#include <libmeta/thin.h>

#include "base/endian.h"
#include "thin/thin_leak_repair.h"
#include "thin/thin_ondisk.h"
#include "base/util.h"

#define EPB META_SM_ENTRIES_PER_BITMAP

static int cmp_u64_asc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Sort and drop duplicates. */
static void sort_unique(struct leak_list *l)
{
	size_t k = 0;
	if (!l->n)
		return;
	qsort(l->b, l->n, sizeof(uint64_t), cmp_u64_asc);
	for (size_t i = 1; i < l->n; i++)
		if (l->b[i] != l->b[k])
			l->b[++k] = l->b[i];
	l->n = k + 1;
}

struct ulist {
	uint64_t *v;
	size_t n, cap;
};

static int ulist_push(struct ulist *u, uint64_t x)
{
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 64;
		uint64_t *p = realloc(u->v, cap * sizeof(*p));
		if (!p)
			return META_E_NOMEM;
		u->v = p;
		u->cap = cap;
	}
	u->v[u->n++] = x;
	return META_OK;
}

struct lr {
	struct meta_bm *bm;
	struct meta_sm_root dsm, msm;
	uint64_t nr_meta;                  /* metadata blocks the map covers (and the device has) */
	uint8_t *mc;                       /* metadata counts, 3 = three or more */
	struct meta_sm_index_entry *di, *mi;
	uint64_t ndi, nmi;
	uint8_t *td, *tm;                  /* data / metadata bitmaps that change */
	struct ulist freed;                /* space-map blocks replaced (count 1 -> 0) */
	struct ulist fresh;                /* free blocks taken (count 0 -> 1), in order */
	size_t fixed_freed;                /* freed[0, fixed_freed): the data side's */
	size_t taken;                      /* fresh blocks handed out by take() */
	uint64_t cursor;                   /* allocator position */
	int damaged;
};

static void lr_damage(void *ctx, const struct meta_damage *d)
{
	(void)d;
	((struct lr *)ctx)->damaged = 1;
}

static int store_counts(void *ctx, uint64_t first, const uint32_t *counts, uint32_t n)
{
	struct lr *l = ctx;
	for (uint32_t i = 0; i < n && first + i < l->nr_meta; i++)
		l->mc[first + i] = counts[i] > 3 ? 3 : (uint8_t)counts[i];
	return 0;
}

static uint64_t take(struct lr *l)
{
	return l->fresh.v[l->taken++];
}

/* Offset in a bitmap block of the le64 word that holds entry j. */
static size_t bm_word(uint32_t j)
{
	return sizeof(struct disk_bitmap_header) + sizeof(le64_t) * (j / 32);
}

static void index_entry_pack(struct disk_index_entry *d, const struct meta_sm_index_entry *e)
{
	d->blocknr = le64_of(e->blocknr);
	d->nr_free = le32_of(e->nr_free);
	d->none_free_before = le32_of(e->none_free_before);
}

/* 2-bit entry j of a bitmap block (0, 1, 2 or 3). */
static unsigned bm_entry(const uint8_t *bm, uint32_t j)
{
	uint64_t w = get_le64p(bm + bm_word(j));
	unsigned s = 2 * (j % 32);
	return (unsigned)(((w >> s) & 1) << 1 | ((w >> (s + 1)) & 1));
}

static void bm_set(uint8_t *bm, uint32_t j, unsigned v)
{
	uint8_t *p = bm + bm_word(j);
	uint64_t w = get_le64p(p);
	unsigned s = 2 * (j % 32);
	w &= ~(3ull << s);
	w |= (uint64_t)((v >> 1) & 1) << s | (uint64_t)(v & 1) << (s + 1);
	put_le64p(p, w);
}

/* nr_free and none_free_before of a bitmap holding n entries. */
static void bm_stats(const uint8_t *bm, uint32_t n, struct meta_sm_index_entry *ie)
{
	ie->nr_free = 0;
	ie->none_free_before = n;
	for (uint32_t j = 0; j < n; j++)
		if (!bm_entry(bm, j)) {
			if (!ie->nr_free)
				ie->none_free_before = j;
			ie->nr_free++;
		}
}

static uint32_t entries_in(uint64_t nr_blocks, uint64_t idx)
{
	uint64_t left = nr_blocks - idx * EPB;
	return left < EPB ? (uint32_t)left : EPB;
}

/* Copy block b (checked by v) into buf. */
static int copy_block(struct meta_bm *bm, uint64_t b, const struct meta_validator *v, uint8_t *buf)
{
	const void *d;
	int e = meta_bm_get(bm, b, v, &d);
	if (e)
		return e;
	memcpy(buf, d, META_BLOCK_SIZE);
	meta_bm_put(bm, d);
	return META_OK;
}

/*
 * The data space map's index btree under b: every node on the way to an entry of
 * a changing bitmap is copied.  dry: only note the nodes replaced (l->freed).
 * Otherwise write the copies (entries from l->di, children's new blocks) to
 * fresh blocks.  Returns 1 when the subtree changes (*out: its new root), 0 when
 * not (*out = b), or a negative error.
 */
static int shadow_index(struct lr *l, uint64_t b, int depth, bool dry, uint64_t *out)
{
	struct meta_node_info ni;
	bool changed = false;
	int e;
	uint8_t *n = aligned_alloc(META_BLOCK_SIZE, META_BLOCK_SIZE);
	*out = b;
	if (!n)
		return -META_E_NOMEM;
	if (depth > 32) {
		free(n);
		return -META_E_CORRUPT;
	}
	e = copy_block(l->bm, b, &meta_node_validator, n);
	if (e) {
		free(n);
		return -e;
	}
	meta_node_get_info(n, &ni);
	if (ni.value_size != (ni.flags & META_NODE_LEAF ? 16u : 8u) || ni.nr_entries > ni.max_entries) {
		free(n);
		return -META_E_CORRUPT; /* the check would have said so: write nothing */
	}
	for (uint32_t i = 0; i < ni.nr_entries; i++) {
		uint8_t *val = (uint8_t *)meta_node_value(n, i);
		if (ni.flags & META_NODE_LEAF) {
			uint64_t k = meta_node_key(n, i);
			if (k >= l->ndi || !l->td[k])
				continue;
			changed = true;
			if (!dry)
				index_entry_pack((struct disk_index_entry *)val, &l->di[k]);
		} else {
			uint64_t nc;
			int r = shadow_index(l, get_le64p(val), depth + 1, dry, &nc);
			if (r < 0) {
				free(n);
				return r;
			}
			if (r) {
				changed = true;
				if (!dry)
					put_le64p(val, nc);
			}
		}
	}
	e = META_OK;
	if (changed && dry)
		e = ulist_push(&l->freed, b);
	else if (changed) {
		*out = take(l);
		e = meta_bm_write(l->bm, *out, &meta_node_validator, n);
	}
	free(n);
	return e ? -e : changed;
}

static void mark_tm(struct lr *l, uint64_t b, bool *grew)
{
	uint64_t idx = b / EPB;
	if (idx < l->nmi && !l->tm[idx]) {
		l->tm[idx] = 1;
		*grew = true;
	}
}

/*
 * Which metadata bitmaps change and which free blocks hold the copies: the
 * bitmaps of the leaked, replaced and fresh blocks, each changed bitmap and the
 * index block being replaced too, until nothing more changes.
 */
static int plan_metadata(struct lr *l, const struct leak_list *ml)
{
	for (;;) {
		bool grew = true;
		size_t need, ntm = 0;
		while (grew) {
			grew = false;
			for (size_t i = 0; i < ml->n; i++)
				mark_tm(l, ml->b[i], &grew);
			for (size_t i = 0; i < l->freed.n; i++)
				mark_tm(l, l->freed.v[i], &grew);
			for (size_t i = 0; i < l->fresh.n; i++)
				mark_tm(l, l->fresh.v[i], &grew);
			for (uint64_t i = 0; i < l->nmi; i++)
				if (l->tm[i])
					mark_tm(l, l->mi[i].blocknr, &grew);
			mark_tm(l, l->msm.bitmap_root, &grew);
		}
		for (uint64_t i = 0; i < l->nmi; i++)
			ntm += l->tm[i];
		/* data bitmaps and index nodes, metadata bitmaps, the metadata index block */
		need = l->fixed_freed + ntm + 1;
		if (l->fresh.n >= need) {
			/* the metadata side's replaced blocks */
			l->freed.n = l->fixed_freed;
			for (uint64_t i = 0; i < l->nmi; i++)
				if (l->tm[i] && ulist_push(&l->freed, l->mi[i].blocknr))
					return META_E_NOMEM;
			return ulist_push(&l->freed, l->msm.bitmap_root);
		}
		while (l->fresh.n < need) {
			while (l->cursor < l->nr_meta && l->mc[l->cursor])
				l->cursor++;
			if (l->cursor >= l->nr_meta)
				return META_E_NOSPC;
			if (ulist_push(&l->fresh, l->cursor++))
				return META_E_NOMEM;
		}
	}
}

static int write_all(struct lr *l, const struct leak_list *ml, const struct leak_list *dl,
		     uint8_t *buf)
{
	uint64_t new_droot = l->dsm.bitmap_root, new_mindex;
	size_t i = 0;
	int e = META_OK;

	/* new metadata counts: leaked and replaced blocks free, fresh ones used once */
	for (size_t k = 0; k < ml->n; k++)
		l->mc[ml->b[k]] = 0;
	for (size_t k = 0; k < l->freed.n; k++)
		l->mc[l->freed.v[k]] = 0;
	for (size_t k = 0; k < l->fresh.n; k++)
		l->mc[l->fresh.v[k]] = 1;

	/* 1a. data bitmaps */
	while (!e && i < dl->n) {
		uint64_t idx = dl->b[i] / EPB, nb;
		e = copy_block(l->bm, l->di[idx].blocknr, &meta_bitmap_validator, buf);
		for (; !e && i < dl->n && dl->b[i] / EPB == idx; i++)
			bm_set(buf, (uint32_t)(dl->b[i] % EPB), 0);
		if (e)
			break;
		bm_stats(buf, entries_in(l->dsm.nr_blocks, idx), &l->di[idx]);
		nb = take(l);
		l->di[idx].blocknr = nb;
		e = meta_bm_write(l->bm, nb, &meta_bitmap_validator, buf);
	}
	/* 1b. the data index btree, leaves to root */
	if (!e && dl->n) {
		int r = shadow_index(l, l->dsm.bitmap_root, 0, false, &new_droot);
		if (r < 0)
			e = -r;
	}
	/* 1c. metadata bitmaps, from the new counts */
	for (uint64_t idx = 0; !e && idx < l->nmi; idx++) {
		uint32_t n;
		uint64_t nb;
		if (!l->tm[idx])
			continue;
		e = copy_block(l->bm, l->mi[idx].blocknr, &meta_bitmap_validator, buf);
		if (e)
			break;
		n = entries_in(l->msm.nr_blocks, idx);
		for (uint32_t j = 0; j < n && idx * EPB + j < l->nr_meta; j++)
			bm_set(buf, j, l->mc[idx * EPB + j]);
		bm_stats(buf, n, &l->mi[idx]);
		nb = take(l);
		l->mi[idx].blocknr = nb;
		e = meta_bm_write(l->bm, nb, &meta_bitmap_validator, buf);
	}
	/* 1d. the metadata index block */
	if (!e)
		e = copy_block(l->bm, l->msm.bitmap_root, &meta_index_validator, buf);
	if (!e) {
		for (uint64_t idx = 0; idx < l->nmi; idx++) {
			if (l->tm[idx])
				index_entry_pack(&((struct disk_metadata_index *)buf)->index[idx], &l->mi[idx]);
		}
		new_mindex = take(l);
		e = meta_bm_write(l->bm, new_mindex, &meta_index_validator, buf);
	}
	if (!e && l->taken != l->fresh.n)
		e = META_E_CORRUPT; /* the plan and the writes disagree: write no superblock */
	/* 2. everything the new superblock points at is durable first */
	if (!e)
		e = meta_bm_flush(l->bm);
	/* 3. the superblock: new roots, nr_allocated; then flush */
	if (!e)
		e = copy_block(l->bm, 0, &meta_thin_sb_validator, buf);
	if (!e) {
		struct disk_thin_sb *sb = (struct disk_thin_sb *)buf;
		struct disk_sm_root *dr = (struct disk_sm_root *)sb->data_space_map_root;
		struct disk_sm_root *mr = (struct disk_sm_root *)sb->metadata_space_map_root;
		uint64_t da = le64_get(dr->nr_allocated), ma = le64_get(mr->nr_allocated);
		dr->nr_allocated = le64_of(da >= dl->n ? da - dl->n : 0);
		dr->bitmap_root = le64_of(new_droot);
		/* fresh and replaced blocks balance: only the leaks change the total */
		mr->nr_allocated = le64_of(ma >= ml->n ? ma - ml->n : 0);
		mr->bitmap_root = le64_of(new_mindex);
		e = meta_bm_write(l->bm, 0, &meta_thin_sb_validator, buf);
	}
	if (!e)
		e = meta_bm_flush(l->bm);
	return e;
}

int meta_thin_fix_leaks(struct meta_thin *t, struct leak_list *ml, struct leak_list *dl)
{
	const struct meta_thin_sb *live = meta_thin_live_sb(t);
	struct lr l;
	uint8_t *buf = NULL;
	int e;

	if (!ml->n && !dl->n)
		return META_OK;
	sort_unique(ml);
	sort_unique(dl);
	memset(&l, 0, sizeof(l));
	l.bm = meta_thin_bm(t);
	l.dsm = live->data_sm;
	l.msm = live->metadata_sm;
	l.nr_meta = l.msm.nr_blocks < meta_bm_nr_blocks(l.bm) ? l.msm.nr_blocks
							      : meta_bm_nr_blocks(l.bm);
	l.cursor = 1;
	e = meta_sm_read_index(l.bm, META_SM_DISK, &l.dsm, &l.di, &l.ndi);
	if (!e)
		e = meta_sm_read_index(l.bm, META_SM_METADATA, &l.msm, &l.mi, &l.nmi);
	if (e)
		goto out;
	buf = aligned_alloc(META_BLOCK_SIZE, META_BLOCK_SIZE);
	l.mc = calloc(l.nr_meta ? l.nr_meta : 1, 1);
	l.td = calloc(l.ndi ? l.ndi : 1, 1);
	l.tm = calloc(l.nmi ? l.nmi : 1, 1);
	if (!buf || !l.mc || !l.td || !l.tm) {
		e = META_E_NOMEM;
		goto out;
	}
	e = meta_sm_read_counts(l.bm, META_SM_METADATA, &l.msm, store_counts, lr_damage, &l);
	if (!e && l.damaged)
		e = META_E_CORRUPT;
	for (size_t i = 0; !e && i < ml->n; i++)
		if (ml->b[i] >= l.nr_meta || ml->b[i] / EPB >= l.nmi || !ml->b[i])
			e = META_E_CORRUPT;
	for (size_t i = 0; !e && i < dl->n; i++) {
		if (dl->b[i] >= l.dsm.nr_blocks || dl->b[i] / EPB >= l.ndi)
			e = META_E_CORRUPT;
		else if (!l.td[dl->b[i] / EPB]) {
			l.td[dl->b[i] / EPB] = 1;
			e = ulist_push(&l.freed, l.di[dl->b[i] / EPB].blocknr);
		}
	}
	if (e)
		goto out;
	/* the data side's replaced blocks (bitmaps, then index nodes) */
	if (dl->n) {
		uint64_t unused;
		int r = shadow_index(&l, l.dsm.bitmap_root, 0, true, &unused);
		if (r < 0) {
			e = -r;
			goto out;
		}
	}
	l.fixed_freed = l.freed.n;
	e = plan_metadata(&l, ml);
	for (size_t i = 0; !e && i < l.freed.n; i++)
		if (!l.freed.v[i] || l.freed.v[i] >= l.nr_meta)
			e = META_E_CORRUPT;
	if (!e)
		e = write_all(&l, ml, dl, buf);
out:
	free(buf);
	free(l.mc);
	free(l.td);
	free(l.tm);
	free(l.di);
	free(l.mi);
	free(l.freed.v);
	free(l.fresh.v);
	return e;
}

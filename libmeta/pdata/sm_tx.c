/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Transactional space maps (contract in pdata/sm_tx.h).
 *
 * Counts.  A block's count at the last commit is read lazily from the committed
 * bitmap (and the committed ref-count tree for an entry of 3).  The first change
 * in a bitmap in a transaction copies its entries (4 KiB, the committed bitmap's
 * or zeros) and the changes go there; a block whose count was or becomes 3 or
 * more also has its committed and current counts in a table (base/hash.h: block
 * -> committed | current << 32), which the ref-count tree is brought in line with
 * at the commit.  So a transaction costs memory per bitmap it touches, not per
 * block.  Every bitmap keeps its current index entry in memory (nr_free,
 * none_free_before, maintained as the kernel does: a block freed lowers
 * none_free_before to it, the block at none_free_before allocated moves it one
 * on), which the allocator uses to skip.
 *
 * Commit, in two phases.
 *  A. Make room: the ref-count tree gets the entries of the counts that moved
 *     across 3, every bitmap with a change is shadowed (a new zeroed block for a
 *     bitmap that has none yet), and the metadata map's index block too.  Each of
 *     these may allocate and free metadata blocks; in the metadata map that
 *     changes counts and so dirties more bitmaps.  Phase A repeats until a pass
 *     does nothing: a block already shadowed in this transaction is shadowed again
 *     for free, so this ends once every changed bitmap has its copy.
 *  B. Fill: the copies get the current counts (nothing allocates any more), then
 *     the index: the metadata map's index block, or the disk map's index btree
 *     (whose nodes are metadata blocks: the disk map commits before the metadata
 *     map).
 */
#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/sm.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "pdata/btree_write.h"
#include "pdata/ondisk.h"
#include "pdata/sm_bitmap.h"
#include "pdata/sm_tx.h"

#define EPB META_SM_ENTRIES_PER_BITMAP

/* One bitmap: where it is, and its index entry as this transaction sees it. */
struct smtx_bitmap {
	uint64_t cblocknr; /* the committed bitmap (0: none yet, all counts 0) */
	uint64_t blocknr;  /* this transaction's copy (valid when shadowed) */
	uint8_t *data;     /* its buffer, the tm's */
	uint8_t *cur;      /* this transaction's entries (a bitmap block), once one changed */
	uint32_t nr_free, nfb;
	bool dirty;    /* a count changed in this transaction */
	bool shadowed; /* has its copy in this transaction */
};

struct meta_sm_tx {
	struct meta_bm *bm;
	enum meta_sm_kind kind;
	struct meta_sm_root croot; /* as of the last commit (nr_blocks 0: nothing committed) */
	struct meta_sm_root nroot; /* what the last meta_sm_tx_commit() wrote */
	uint64_t nr_blocks, nr_allocated;
	uint64_t begin; /* the allocator's search position */
	struct smtx_bitmap *bms;
	uint64_t nbms, capbms;
	struct meta_hash big;   /* block -> committed | current << 32, either of them >= 3 */
	struct meta_hash rcw;   /* block -> 1 + count in this transaction's ref-count tree */
	/* the metadata map's index block */
	uint64_t idx_blocknr;
	uint8_t *idx_data;
	bool idx_shadowed;
	bool created;  /* nothing committed yet: every structure is new */
	bool any;      /* something changed since the last commit */
};

/* Entries of bitmap i when the map has nr blocks. */
static uint32_t bitmap_entries(uint64_t nr, uint64_t i)
{
	uint64_t first = i * EPB;
	return nr - first < EPB ? (uint32_t)(nr - first) : EPB;
}

static uint64_t div_up(uint64_t n, uint64_t d)
{
	return n / d + (n % d != 0);
}

/* ---- counts -------------------------------------------------------------------- */

/* The count of b at the last commit. */
static int committed_count(struct meta_sm_tx *s, uint64_t b, uint32_t *count)
{
	const void *data;
	uint64_t cb;
	unsigned v;
	int r;
	if (b >= s->croot.nr_blocks) {
		*count = 0;
		return META_OK;
	}
	cb = s->bms[b / EPB].cblocknr;
	if (!cb) {
		*count = 0;
		return META_OK;
	}
	r = meta_bm_get(s->bm, cb, &meta_bitmap_validator, &data);
	if (r)
		return r;
	v = sm_bitmap_get(data, (uint32_t)(b % EPB));
	meta_bm_put(s->bm, data);
	if (v == 3) {
		uint8_t val[4];
		r = meta_btree_lookup(s->bm, s->croot.ref_count_root, b, val, sizeof(val));
		if (r)
			return r == META_E_NOTFOUND ? META_E_CORRUPT : r;
		v = get_le32p(val);
		if (v < 3)
			return META_E_CORRUPT;
	}
	*count = v;
	return META_OK;
}

/* The current count of b (< nr_blocks). */
static int get_count(struct meta_sm_tx *s, uint64_t b, uint32_t *count)
{
	const struct smtx_bitmap *bm = &s->bms[b / EPB];
	if (bm->cur) {
		unsigned e = sm_bitmap_get(bm->cur, (uint32_t)(b % EPB));
		const uint64_t *v;
		if (e < 3) {
			*count = e;
			return META_OK;
		}
		v = meta_hash_find(&s->big, b);
		if (v) {
			*count = (uint32_t)(*v >> 32);
			return META_OK;
		}
	}
	return committed_count(s, b, count); /* not changed in this transaction */
}

/* Bitmap i's entries for this transaction: the committed ones (or zeros), copied. */
static int bitmap_cur(struct meta_sm_tx *s, uint64_t i)
{
	struct smtx_bitmap *bm = &s->bms[i];
	const void *data;
	int r;
	if (bm->cur)
		return META_OK;
	bm->cur = malloc(META_BLOCK_SIZE);
	if (!bm->cur)
		return META_E_NOMEM;
	if (!bm->cblocknr || i * EPB >= s->croot.nr_blocks) {
		memset(bm->cur, 0, META_BLOCK_SIZE);
		return META_OK;
	}
	r = meta_bm_get(s->bm, bm->cblocknr, &meta_bitmap_validator, &data);
	if (r) {
		free(bm->cur);
		bm->cur = NULL;
		return r;
	}
	memcpy(bm->cur, data, META_BLOCK_SIZE);
	meta_bm_put(s->bm, data);
	return META_OK;
}

/* Change b's current count from old to now. */
static int set_count(struct meta_sm_tx *s, uint64_t b, uint32_t old, uint32_t now)
{
	struct smtx_bitmap *bm = &s->bms[b / EPB];
	uint32_t bit = (uint32_t)(b % EPB);
	uint64_t *v;
	int r = bitmap_cur(s, b / EPB);
	if (r)
		return r;
	v = meta_hash_find(&s->big, b);
	if (!v && (old >= 3 || now >= 3)) {
		uint32_t com;
		r = committed_count(s, b, &com);
		if (r)
			return r;
		v = meta_hash_insert(&s->big, b, NULL);
		if (!v)
			return META_E_NOMEM;
		*v = com;
	}
	if (v)
		*v = (*v & UINT32_MAX) | (uint64_t)now << 32;
	sm_bitmap_set(bm->cur, bit, now > 3 ? 3 : now);
	if (!old && now) {
		s->nr_allocated++;
		if (bm->nr_free)
			bm->nr_free--;
		if (bm->nfb == bit)
			bm->nfb = bit + 1;
	} else if (old && !now) {
		s->nr_allocated--;
		bm->nr_free++;
		if (bit < bm->nfb)
			bm->nfb = bit;
	}
	bm->dirty = true;
	s->any = true;
	return META_OK;
}

int meta_sm_tx_count(struct meta_sm_tx *s, uint64_t b, uint32_t *count)
{
	if (b >= s->nr_blocks)
		return META_E_RANGE;
	return get_count(s, b, count);
}

/* b's count becomes cur + 1 (delta > 0), cur - 1 (delta < 0) or `to` (delta 0). */
static int change(struct meta_sm_tx *s, uint64_t b, int delta, uint32_t to)
{
	uint32_t cur;
	int r;
	if (b >= s->nr_blocks)
		return META_E_RANGE;
	r = get_count(s, b, &cur);
	if (r)
		return r;
	if (delta > 0 && cur == UINT32_MAX)
		return META_E_RANGE;
	if (delta < 0 && !cur)
		return META_E_CORRUPT;
	if (delta)
		to = delta > 0 ? cur + 1 : cur - 1;
	return to == cur ? META_OK : set_count(s, b, cur, to);
}

int meta_sm_tx_inc(struct meta_sm_tx *s, uint64_t b)
{
	return change(s, b, 1, 0);
}

int meta_sm_tx_dec(struct meta_sm_tx *s, uint64_t b)
{
	return change(s, b, -1, 0);
}

int meta_sm_tx_set(struct meta_sm_tx *s, uint64_t b, uint32_t count)
{
	return change(s, b, 0, count);
}

uint64_t meta_sm_tx_nr_blocks(const struct meta_sm_tx *s)
{
	return s->nr_blocks;
}

uint64_t meta_sm_tx_nr_free(const struct meta_sm_tx *s)
{
	return s->nr_blocks > s->nr_allocated ? s->nr_blocks - s->nr_allocated : 0;
}

/* ---- allocation ---------------------------------------------------------------- */

/*
 * The first entry in [lo, hi) of bitmap i that is free now and was free at the last
 * commit (*found), reading the committed bitmap and this transaction's a word at a time.
 */
static int find_in_bitmap(struct meta_sm_tx *s, uint64_t i, uint32_t lo, uint32_t hi,
			  uint32_t *pos, bool *found)
{
	const struct smtx_bitmap *bm = &s->bms[i];
	const void *data = NULL;
	const uint8_t *words = NULL;
	int r;
	*found = false;
	if (bm->cblocknr && i * EPB < s->croot.nr_blocks) {
		r = meta_bm_get(s->bm, bm->cblocknr, &meta_bitmap_validator, &data);
		if (r)
			return r;
		words = sm_bitmap_words(data);
	}
	for (uint32_t e = lo; e < hi;) {
		uint64_t nz = 0; /* bit 2k set: entry k of this word is not 0, then or now */
		uint32_t k = e % 32, wend = e - k + 32 < hi ? e - k + 32 : hi;
		if (words)
			nz |= sm_bitmap_nonzero(get_le64p(words + 8 * (e / 32)));
		if (bm->cur)
			nz |= sm_bitmap_nonzero(get_le64p(sm_bitmap_words(bm->cur) + 8 * (e / 32)));
		for (; e < wend && nz != SM_BITMAP_LOW_BITS; e++, k++)
			if (!(nz >> (2 * k) & 1)) {
				*pos = e;
				*found = true;
				goto out;
			}
		e = wend;
	}
out:
	if (data)
		meta_bm_put(s->bm, data);
	return META_OK;
}

/* The first block in [begin, end) free now and at the last commit: 0 or META_E_NOSPC. */
static int find_common_free(struct meta_sm_tx *s, uint64_t begin, uint64_t end, uint64_t *b)
{
	for (uint64_t i = begin / EPB; i < div_up(end, EPB); i++) {
		const struct smtx_bitmap *bm = &s->bms[i];
		uint64_t first = i * EPB;
		uint32_t lo = begin > first ? (uint32_t)(begin - first) : 0;
		uint32_t hi = end - first < EPB ? (uint32_t)(end - first) : EPB;
		uint32_t pos;
		bool found;
		int r;
		if (!bm->nr_free)
			continue;
		if (lo < bm->nfb)
			lo = bm->nfb;
		if (lo >= hi)
			continue;
		r = find_in_bitmap(s, i, lo, hi, &pos, &found);
		if (r)
			return r;
		if (found) {
			*b = first + pos;
			return META_OK;
		}
	}
	return META_E_NOSPC;
}

int meta_sm_tx_alloc(struct meta_sm_tx *s, uint64_t *b)
{
	uint64_t nb;
	int r = find_common_free(s, s->begin, s->nr_blocks, &nb);
	if (r == META_E_NOSPC) /* wrap once: something before the position may have been freed */
		r = find_common_free(s, 0, s->begin < s->nr_blocks ? s->begin : s->nr_blocks, &nb);
	if (r)
		return r;
	r = set_count(s, nb, 0, 1);
	if (r)
		return r;
	s->begin = nb + 1;
	*b = nb;
	return META_OK;
}

/* ---- open, create, extend ------------------------------------------------------ */

static int grow_bitmaps(struct meta_sm_tx *s, uint64_t n)
{
	if (n > s->capbms) {
		uint64_t cap = s->capbms ? s->capbms : 16;
		struct smtx_bitmap *nb;
		while (cap < n)
			cap *= 2;
		nb = realloc(s->bms, cap * sizeof(*nb));
		if (!nb)
			return META_E_NOMEM;
		s->bms = nb;
		s->capbms = cap;
	}
	return META_OK;
}

static struct meta_sm_tx *sm_new(struct meta_bm *bm, enum meta_sm_kind kind)
{
	struct meta_sm_tx *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->bm = bm;
	s->kind = kind;
	meta_hash_init(&s->big);
	meta_hash_init(&s->rcw);
	return s;
}

int meta_sm_tx_open(struct meta_bm *bm, enum meta_sm_kind kind, const struct meta_sm_root *root,
		    struct meta_sm_tx **out)
{
	struct meta_sm_index_entry *ie = NULL;
	struct meta_sm_tx *s;
	uint64_t n = 0, mb = meta_bm_nr_blocks(bm);
	int r;

	*out = NULL;
	if (root->nr_allocated > root->nr_blocks || !root->bitmap_root || root->bitmap_root >= mb ||
	    !root->ref_count_root || root->ref_count_root >= mb)
		return META_E_CORRUPT;
	if (kind == META_SM_METADATA && root->nr_blocks > META_SM_METADATA_MAX_BLOCKS)
		return META_E_CORRUPT;
	s = sm_new(bm, kind);
	if (!s)
		return META_E_NOMEM;
	r = meta_sm_read_index(bm, kind, root, &ie, &n);
	if (!r)
		r = grow_bitmaps(s, n);
	for (uint64_t i = 0; !r && i < n; i++) {
		/*
		 * A bitmap missing from a damaged index reads as block 0, the superblock.  nr_free
		 * may count the entries past the end of the last bitmap (some writers do): it
		 * only says where to look, and the commit counts it again.
		 */
		if (!ie[i].blocknr || ie[i].blocknr >= mb)
			r = META_E_CORRUPT;
		s->bms[i] = (struct smtx_bitmap){.cblocknr = ie[i].blocknr,
						 .nr_free = ie[i].nr_free,
						 .nfb = ie[i].none_free_before};
	}
	free(ie);
	if (r) {
		meta_sm_tx_close(s);
		return r;
	}
	s->nbms = n;
	s->croot = *root;
	s->nroot = *root;
	s->nr_blocks = root->nr_blocks;
	s->nr_allocated = root->nr_allocated;
	s->idx_blocknr = kind == META_SM_METADATA ? root->bitmap_root : 0;
	*out = s;
	return META_OK;
}

int meta_sm_tx_extend(struct meta_sm_tx *s, uint64_t extra)
{
	uint64_t nr = s->nr_blocks + extra, n = div_up(nr, EPB);
	int r;
	if (nr < s->nr_blocks || (s->kind == META_SM_METADATA && nr > META_SM_METADATA_MAX_BLOCKS))
		return META_E_RANGE;
	if (!extra)
		return META_OK;
	r = grow_bitmaps(s, n);
	if (r)
		return r;
	/* the last bitmap gains entries, new bitmaps are all free */
	if (s->nbms) {
		struct smtx_bitmap *last = &s->bms[s->nbms - 1];
		last->nr_free += bitmap_entries(nr, s->nbms - 1) - bitmap_entries(s->nr_blocks, s->nbms - 1);
		last->dirty = true;
	}
	for (uint64_t i = s->nbms; i < n; i++)
		s->bms[i] = (struct smtx_bitmap){.nr_free = bitmap_entries(nr, i), .dirty = true};
	s->nbms = n;
	s->nr_blocks = nr;
	s->any = true;
	return META_OK;
}

int meta_sm_tx_create(struct meta_bm *bm, enum meta_sm_kind kind, uint64_t nr_blocks,
		      uint64_t reserve, struct meta_sm_tx **out)
{
	struct meta_sm_tx *s;
	int r;
	*out = NULL;
	if (reserve > nr_blocks)
		return META_E_INVAL;
	s = sm_new(bm, kind);
	if (!s)
		return META_E_NOMEM;
	s->created = true;
	s->any = true;
	r = meta_sm_tx_extend(s, nr_blocks);
	for (uint64_t b = 0; !r && b < reserve; b++)
		r = set_count(s, b, 0, 1);
	if (r) {
		meta_sm_tx_close(s);
		return r;
	}
	s->begin = reserve;
	*out = s;
	return META_OK;
}

void meta_sm_tx_close(struct meta_sm_tx *s)
{
	if (!s)
		return;
	meta_hash_free(&s->big);
	meta_hash_free(&s->rcw);
	for (uint64_t i = 0; i < s->nbms; i++)
		free(s->bms[i].cur);
	free(s->bms);
	free(s);
}

/* ---- the tm's space ------------------------------------------------------------ */

static int space_alloc(void *ctx, uint64_t *b)
{
	return meta_sm_tx_alloc(ctx, b);
}

static int space_inc(void *ctx, uint64_t b)
{
	return meta_sm_tx_inc(ctx, b);
}

static int space_dec(void *ctx, uint64_t b)
{
	return meta_sm_tx_dec(ctx, b);
}

static int space_count(void *ctx, uint64_t b, uint32_t *count)
{
	return meta_sm_tx_count(ctx, b, count);
}

struct meta_tm_space meta_sm_tx_space(struct meta_sm_tx *s)
{
	struct meta_tm_space sp = {s, space_alloc, space_inc, space_dec, space_count};
	return sp;
}

/* ---- commit -------------------------------------------------------------------- */

/* A one-level tree of plain values (index entries, counts) in the tm. */
static struct meta_btree_info plain_tree(struct meta_tm *tm, uint32_t value_size)
{
	struct meta_btree_info info;
	memset(&info, 0, sizeof(info));
	info.tm = tm;
	info.levels = 1;
	info.vt.size = value_size;
	return info;
}

struct rc_change {
	uint64_t b;
	uint32_t count; /* 0: remove */
};

/*
 * Bring the new ref-count tree in line with the counts of 3 and more: *did says
 * whether anything changed.
 */
static int rc_update(struct meta_sm_tx *s, struct meta_tm *tm, bool *did)
{
	struct meta_btree_info info = plain_tree(tm, 4);
	struct rc_change *ch = NULL;
	size_t n = 0, cap = 0;
	int r = META_OK;
	for (size_t i = 0; i < s->big.cap; i++) {
		const struct meta_hash_slot *sl = &s->big.s[i];
		uint32_t com, cur, in_tree, want;
		const uint64_t *w;
		if (!sl->key)
			continue;
		com = (uint32_t)sl->val;
		cur = (uint32_t)(sl->val >> 32);
		/* an entry this commit made may have to go again (a shadow dropped the count) */
		w = meta_hash_find(&s->rcw, sl->key - 1);
		if (com < 3 && cur < 3 && !w)
			continue;
		in_tree = w ? (uint32_t)(*w - 1) : com >= 3 ? com : 0;
		want = cur >= 3 ? cur : 0;
		if (in_tree == want)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct rc_change *c = realloc(ch, nc * sizeof(*c));
			if (!c) {
				free(ch);
				return META_E_NOMEM;
			}
			ch = c;
			cap = nc;
		}
		ch[n++] = (struct rc_change){sl->key - 1, want};
	}
	/* the changes were listed first: the tree's allocations may add to the table */
	for (size_t i = 0; !r && i < n; i++) {
		uint64_t root = s->nroot.ref_count_root, *w;
		if (ch[i].count) {
			uint8_t v[4];
			put_le32p(v, ch[i].count);
			r = meta_btree_tx_insert(&info, root, &ch[i].b, v, &s->nroot.ref_count_root, NULL);
		} else {
			r = meta_btree_tx_remove(&info, root, &ch[i].b, &s->nroot.ref_count_root);
		}
		if (r)
			break;
		w = meta_hash_insert(&s->rcw, ch[i].b, NULL);
		if (!w)
			r = META_E_NOMEM;
		else
			*w = (uint64_t)ch[i].count + 1;
	}
	free(ch);
	*did = n != 0;
	return r;
}

/* Phase A: room for every change (see the top of this file). */
static int make_room(struct meta_sm_tx *s, struct meta_tm *tm)
{
	for (;;) {
		bool did;
		int r = rc_update(s, tm, &did);
		if (r)
			return r;
		for (uint64_t i = 0; i < s->nbms; i++) {
			struct smtx_bitmap *bm = &s->bms[i];
			void *data;
			if (!bm->dirty || bm->shadowed)
				continue;
			if (bm->cblocknr)
				r = meta_tm_shadow(tm, bm->cblocknr, &meta_bitmap_validator, &bm->blocknr, &data,
						   &(bool){false});
			else
				r = meta_tm_new_block(tm, &meta_bitmap_validator, &bm->blocknr, &data);
			if (r)
				return r;
			bm->data = data;
			bm->shadowed = true;
			did = true;
		}
		if (s->kind == META_SM_METADATA && !s->idx_shadowed) {
			void *data;
			uint64_t nb;
			if (s->created || !s->croot.bitmap_root)
				r = meta_tm_new_block(tm, &meta_index_validator, &nb, &data);
			else
				r = meta_tm_shadow(tm, s->croot.bitmap_root, &meta_index_validator, &nb, &data,
						   &(bool){false});
			if (r)
				return r;
			s->idx_blocknr = nb;
			s->idx_data = data;
			s->idx_shadowed = true;
			did = true;
		}
		if (!did)
			return META_OK;
	}
}

/* Phase B, the bitmaps: the current counts into every copy, nr_free counted again. */
static void fill_bitmaps(struct meta_sm_tx *s)
{
	for (uint64_t i = 0; i < s->nbms; i++) {
		struct smtx_bitmap *bm = &s->bms[i];
		uint32_t n = bitmap_entries(s->nr_blocks, i), first_free;
		if (!bm->shadowed)
			continue;
		/* a bitmap with a changed count was made dirty, hence shadowed */
		if (bm->cur)
			memcpy(bm->data + sizeof(struct disk_bitmap_header),
			       bm->cur + sizeof(struct disk_bitmap_header),
			       META_BLOCK_SIZE - sizeof(struct disk_bitmap_header));
		sm_bitmap_free(bm->data, n, &bm->nr_free, &first_free);
		/* the kernel's none_free_before, a lower bound of the first free entry */
		if (bm->nfb > first_free)
			bm->nfb = first_free;
	}
}

static void index_entry(const struct smtx_bitmap *bm, struct disk_index_entry *d)
{
	d->blocknr = le64_of(bm->shadowed ? bm->blocknr : bm->cblocknr);
	d->nr_free = le32_of(bm->nr_free);
	d->none_free_before = le32_of(bm->nfb);
}

int meta_sm_tx_commit(struct meta_sm_tx *s, struct meta_tm *tm, struct meta_sm_root *root)
{
	int r;
	if (!s->any) {
		*root = s->croot;
		s->nroot = s->croot;
		return META_OK;
	}
	if (s->created) {
		/* empty trees, as the kernel makes a new map */
		struct meta_btree_info rc = plain_tree(tm, 4);
		struct meta_btree_info idx = plain_tree(tm, sizeof(struct disk_index_entry));
		r = meta_btree_tx_empty(&rc, &s->nroot.ref_count_root);
		if (!r && s->kind == META_SM_DISK)
			r = meta_btree_tx_empty(&idx, &s->nroot.bitmap_root);
		if (r)
			return r;
	} else {
		s->nroot.ref_count_root = s->croot.ref_count_root;
		s->nroot.bitmap_root = s->croot.bitmap_root;
	}
	r = make_room(s, tm);
	if (r)
		return r;
	fill_bitmaps(s);
	if (s->kind == META_SM_METADATA) {
		struct disk_metadata_index *mi = (struct disk_metadata_index *)s->idx_data;
		memset(mi->index, 0, sizeof(mi->index));
		for (uint64_t i = 0; i < s->nbms; i++)
			index_entry(&s->bms[i], &mi->index[i]);
		s->nroot.bitmap_root = s->idx_blocknr;
	} else {
		/* the index btree's nodes are metadata blocks: the disk map's counts stay put */
		struct meta_btree_info idx = plain_tree(tm, sizeof(struct disk_index_entry));
		for (uint64_t i = 0; i < s->nbms; i++) {
			struct disk_index_entry e;
			if (!s->bms[i].shadowed)
				continue;
			index_entry(&s->bms[i], &e);
			r = meta_btree_tx_insert(&idx, s->nroot.bitmap_root, &i, &e, &s->nroot.bitmap_root,
						 NULL);
			if (r)
				return r;
		}
	}
	s->nroot.nr_blocks = s->nr_blocks;
	s->nroot.nr_allocated = s->nr_allocated;
	*root = s->nroot;
	return META_OK;
}

void meta_sm_tx_committed(struct meta_sm_tx *s)
{
	for (uint64_t i = 0; i < s->nbms; i++) {
		struct smtx_bitmap *bm = &s->bms[i];
		if (bm->shadowed)
			bm->cblocknr = bm->blocknr;
		bm->shadowed = false;
		bm->dirty = false;
		bm->data = NULL;
		free(bm->cur);
		bm->cur = NULL;
	}
	s->croot = s->nroot;
	s->idx_data = NULL;
	s->idx_shadowed = false;
	s->created = false;
	s->any = false;
	meta_hash_free(&s->big);
	meta_hash_free(&s->rcw);
}

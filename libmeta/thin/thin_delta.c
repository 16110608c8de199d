/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_delta: compare two bottom-level mapping trees (see include/libmeta/thin_delta.h).
 *
 * Two cursors walk the trees in key order.  A cursor's current item is either a
 * leaf entry or a not-yet-read subtree (a child pointer with the key range its
 * parents give it).  The merge always looks at the item with the lowest key
 * bound: a subtree there is read ("expanded") unless the other cursor's item is
 * the very same block, in which case both are skipped as a shared subtree.
 * Entries are merged like two sorted lists.  Classified blocks go through a
 * coalescer that builds the maximal ranges the caller sees.
 */
#include <libmeta/thin_delta.h>
#include <libmeta/btree.h>
#include <libmeta/error.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/io.h>

#include "base/util.h"
#include "pdata/walk.h"

#define DELTA_MAX_DEPTH 64
#define KEY_INF UINT64_MAX
#define DELTA_PENDING 256

const char *meta_delta_kind_name(enum meta_delta_kind k)
{
	switch (k) {
	case META_DELTA_LEFT_ONLY:
		return "left_only";
	case META_DELTA_RIGHT_ONLY:
		return "right_only";
	case META_DELTA_DIFFERENT:
		return "different";
	case META_DELTA_SAME:
		return "same";
	}
	return "?";
}

/* ---- range coalescer ---------------------------------------------------- */

struct coal {
	bool data;     /* split at data discontinuities */
	bool have;
	struct meta_delta_range cur;
	/* delivery: straight to fn, or into buf (shortcut mode, delivered after verification) */
	bool buffered;
	struct meta_delta_range *buf;
	size_t nbuf, cap;
	meta_delta_fn fn;
	void *ctx;
};

static int coal_deliver(struct coal *c, const struct meta_delta_range *r)
{
	if (!c->buffered)
		return c->fn ? c->fn(c->ctx, r) : 0;
	if (meta_grow((void **)&c->buf, &c->cap, c->nbuf + 1, sizeof(*c->buf)))
		return META_E_NOMEM;
	c->buf[c->nbuf++] = *r;
	return 0;
}

static bool coal_continues(const struct coal *c, enum meta_delta_kind k, uint64_t v, uint64_t ld,
			   uint64_t rd)
{
	const struct meta_delta_range *r = &c->cur;
	if (!c->have || r->kind != k || r->begin + r->len != v)
		return false;
	if (!c->data)
		return true;
	switch (k) {
	case META_DELTA_LEFT_ONLY:
	case META_DELTA_SAME:
		return r->left_data + r->len == ld;
	case META_DELTA_RIGHT_ONLY:
		return r->right_data + r->len == rd;
	case META_DELTA_DIFFERENT:
		return r->left_data + r->len == ld && r->right_data + r->len == rd;
	}
	return false;
}

static int coal_add(struct coal *c, enum meta_delta_kind k, uint64_t v, uint64_t len, uint64_t ld,
		    uint64_t rd)
{
	int r = 0;
	if (coal_continues(c, k, v, ld, rd)) {
		c->cur.len += len;
		return 0;
	}
	if (c->have)
		r = coal_deliver(c, &c->cur);
	c->have = true;
	c->cur.kind = k;
	c->cur.begin = v;
	c->cur.len = len;
	c->cur.left_data = (k == META_DELTA_RIGHT_ONLY) ? 0 : ld;
	c->cur.right_data = (k == META_DELTA_LEFT_ONLY) ? 0 : rd;
	return r;
}

static int coal_finish(struct coal *c)
{
	int r = 0;
	if (c->have)
		r = coal_deliver(c, &c->cur);
	c->have = false;
	return r;
}

/* ---- cursors ------------------------------------------------------------- */

enum item_type { IT_END, IT_SUB, IT_ENT };

struct item {
	enum item_type type;
	uint64_t key;   /* ENT: the key; SUB: lower bound of the subtree's keys */
	uint64_t hi;    /* SUB: upper bound (exclusive), KEY_INF when unbounded */
	uint64_t val;   /* ENT: the mapping value; SUB: the child block */
	bool lo_known;  /* SUB: key comes from a parent's key (else 0 from nowhere) */
	bool hi_known;  /* SUB: hi comes from a parent's key */
};

struct frame {
	const void *node;
	uint64_t hi;
	uint32_t i, n;
	bool leaf, hi_known;
};

struct walk;

struct cursor {
	struct frame st[DELTA_MAX_DEPTH];
	int depth;
	bool root_pending;
	uint64_t root;
	int height;       /* levels below the root (0: the root is a leaf) */
	uint64_t entries; /* leaf entries consumed */
};

struct walk {
	struct meta_bm *bm;
	struct meta_walker rd; /* exact mode: the levels of shared subtrees */
	struct coal co;
	struct meta_delta_stats *st;
	bool exact;
	uint64_t shared_width; /* keys attributed to inferred shared subtrees */
	/* exact mode: shared subtrees waiting to be read in one batch, in key order */
	uint64_t pend_blk[DELTA_PENDING], pend_lo[DELTA_PENDING], pend_hi[DELTA_PENDING];
	uint32_t npend;
	struct cursor c[2];
};

static void note_damage(void *ctx, const struct meta_damage *d)
{
	if (d->kind != META_DMG_NODE_MAX_ENTRIES) /* not thin_delta's to judge: it reads such nodes */
		*(bool *)ctx = true;
}

/*
 * Checks beyond the validator, the verdict of pdata/walk taken as a root's (an
 * empty or underfull node is fine here): value size 8, keys strictly increasing
 * and within [lo, hi).
 */
static bool node_ok(const void *node, uint64_t b, uint64_t lo, uint64_t hi)
{
	bool bad = false;
	meta_walk_verdict(node, 0, b, 8, lo, hi, 1, NULL, note_damage, &bad);
	return !bad;
}

static int read_node(struct walk *w, uint64_t b, uint64_t lo, uint64_t hi, const void **out,
		     struct meta_node_info *ni)
{
	const void *node;
	int r = meta_bm_get(w->bm, b, &meta_node_validator, &node);
	if (r) {
		w->st->bad_block = b;
		return r;
	}
	meta_node_get_info(node, ni);
	if (!node_ok(node, b, lo, hi)) {
		meta_bm_put(w->bm, node);
		w->st->bad_block = b;
		return META_E_CORRUPT;
	}
	*out = node;
	return 0;
}

static void cursor_init(struct cursor *c, uint64_t root)
{
	memset(c, 0, sizeof(*c));
	c->root = root;
	c->root_pending = true;
}

static void cursor_release(struct walk *w, struct cursor *c)
{
	while (c->depth > 0)
		meta_bm_put(w->bm, c->st[--c->depth].node);
}

/* Pop exhausted frames, then describe the current item. */
static void cursor_peek(struct walk *w, struct cursor *c, struct item *it)
{
	struct frame *f;
	if (c->root_pending) {
		it->type = IT_SUB;
		it->key = 0;
		it->hi = KEY_INF;
		it->val = c->root;
		it->lo_known = it->hi_known = false;
		return;
	}
	while (c->depth > 0 && c->st[c->depth - 1].i >= c->st[c->depth - 1].n) {
		meta_bm_put(w->bm, c->st[--c->depth].node);
		if (c->depth > 0)
			c->st[c->depth - 1].i++;
	}
	if (c->depth == 0) {
		it->type = IT_END;
		return;
	}
	f = &c->st[c->depth - 1];
	it->key = meta_node_key(f->node, f->i);
	it->val = meta_node_value64(f->node, f->i);
	if (f->leaf) {
		it->type = IT_ENT;
		return;
	}
	it->type = IT_SUB;
	it->lo_known = true;
	if (f->i + 1 < f->n) {
		it->hi = meta_node_key(f->node, f->i + 1);
		it->hi_known = true;
	} else {
		it->hi = f->hi;
		it->hi_known = f->hi_known;
	}
}

/* Step past the current item (a skipped subtree or a consumed entry). */
static void cursor_next(struct cursor *c, const struct item *it)
{
	if (c->root_pending) {
		c->root_pending = false;
		return;
	}
	if (it->type == IT_ENT)
		c->entries++;
	c->st[c->depth - 1].i++;
}

/* Read the subtree of the current item and make its first item current. */
static int cursor_expand(struct walk *w, struct cursor *c, const struct item *it)
{
	struct meta_node_info ni;
	const void *node;
	struct frame *f;
	int r;
	if (c->depth >= DELTA_MAX_DEPTH) {
		w->st->bad_block = it->val;
		return META_E_CORRUPT;
	}
	r = read_node(w, it->val, it->key, it->hi, &node, &ni);
	if (r)
		return r;
	w->st->nodes_read++;
	c->root_pending = false;
	f = &c->st[c->depth++];
	f->node = node;
	f->i = 0;
	f->n = ni.nr_entries;
	f->leaf = !(ni.flags & META_NODE_INTERNAL);
	f->hi = it->hi;
	f->hi_known = it->hi_known;
	return 0;
}

/* ---- shared subtrees ----------------------------------------------------- */

/* The mappings of one (shared) leaf, all "same". */
static int emit_leaf(struct walk *w, const void *node, const struct meta_node_info *ni)
{
	int r = 0;
	for (uint32_t i = 0; i < ni->nr_entries && !r; i++) {
		uint64_t d = meta_node_value64(node, i) >> 24;
		r = coal_add(&w->co, META_DELTA_SAME, meta_node_key(node, i), 1, d, d);
	}
	return r;
}

/* One level of shared subtrees, read through pdata/walk and kept in entry order. */
struct level {
	const uint64_t *blk;
	uint8_t *buf; /* n blocks, in entry order */
	int *err;
};

static uint64_t level_block(void *ctx, size_t i)
{
	return ((const struct level *)ctx)->blk[i];
}

static int level_keep(void *ctx, size_t i, const void *data, int err)
{
	struct level *lv = ctx;
	memcpy(lv->buf + i * META_BLOCK_SIZE, data, META_BLOCK_SIZE);
	lv->err[i] = err;
	return 0;
}

static int scan_shared(struct walk *w, uint64_t b, uint64_t lo, uint64_t hi, int depth);

/*
 * Exact mode: report every mapping of the shared subtrees blk[i] (keys within
 * [lo[i], hi[i]), in increasing order) as same.  The n roots are read in one
 * batch; internal ones are descended, their children again in one batch.
 */
static int scan_batch(struct walk *w, const uint64_t *blk, const uint64_t *lo, const uint64_t *hi,
		      uint32_t n, int depth)
{
	struct level lv = {blk, NULL, NULL};
	int r = META_E_NOMEM;
	if (!n)
		return 0;
	if (depth >= DELTA_MAX_DEPTH) {
		w->st->bad_block = blk[0];
		return META_E_CORRUPT;
	}
	lv.buf = meta_io_buf_alloc((size_t)n * META_BLOCK_SIZE);
	lv.err = calloc(n, sizeof(*lv.err));
	if (!lv.buf || !lv.err)
		goto out;
	r = meta_walk_read(&w->rd, n, level_block, level_keep, &lv);
	for (uint32_t i = 0; i < n && !r; i++) {
		const uint8_t *node = lv.buf + (size_t)i * META_BLOCK_SIZE;
		struct meta_node_info ni;
		if (lv.err[i]) {
			w->st->bad_block = blk[i];
			r = lv.err[i];
			break;
		}
		meta_node_get_info(node, &ni);
		if (!node_ok(node, blk[i], lo[i], hi[i])) {
			w->st->bad_block = blk[i];
			r = META_E_CORRUPT;
			break;
		}
		if (ni.flags & META_NODE_INTERNAL) {
			r = scan_shared(w, blk[i], lo[i], hi[i], depth);
		} else {
			w->st->shared_nodes++;
			r = emit_leaf(w, node, &ni);
		}
	}
out:
	free(lv.buf);
	free(lv.err);
	return r;
}

/* Exact mode: one shared subtree; the children of an internal node go in one batch. */
static int scan_shared(struct walk *w, uint64_t b, uint64_t lo, uint64_t hi, int depth)
{
	struct meta_node_info ni;
	const void *node;
	uint64_t *arr;
	uint32_t n;
	int r;
	if (depth >= DELTA_MAX_DEPTH) {
		w->st->bad_block = b;
		return META_E_CORRUPT;
	}
	r = read_node(w, b, lo, hi, &node, &ni);
	if (r)
		return r;
	w->st->shared_nodes++;
	if (!(ni.flags & META_NODE_INTERNAL)) {
		r = emit_leaf(w, node, &ni);
		meta_bm_put(w->bm, node);
		return r;
	}
	n = ni.nr_entries;
	arr = malloc(3 * (size_t)n * sizeof(*arr) + 1);
	if (!arr) {
		meta_bm_put(w->bm, node);
		return META_E_NOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		arr[i] = meta_node_value64(node, i);
		arr[n + i] = meta_node_key(node, i);
		arr[2 * n + i] = i + 1 < n ? meta_node_key(node, i + 1) : hi;
	}
	meta_bm_put(w->bm, node);
	r = scan_batch(w, arr, arr + n, arr + 2 * n, n, depth + 1);
	free(arr);
	return r;
}

/* Exact mode: shared subtrees met by the merge wait here to be read together. */
static int flush_pending(struct walk *w)
{
	int r = scan_batch(w, w->pend_blk, w->pend_lo, w->pend_hi, w->npend, 0);
	w->npend = 0;
	return r;
}

static int add_pending(struct walk *w, uint64_t b, uint64_t lo, uint64_t hi)
{
	w->pend_blk[w->npend] = b;
	w->pend_lo[w->npend] = lo;
	w->pend_hi[w->npend] = hi;
	if (++w->npend == DELTA_PENDING)
		return flush_pending(w);
	return 0;
}

/* First (want_last = false) or last key of a subtree, following one spine. *empty if none. */
static int spine_key(struct walk *w, uint64_t b, uint64_t lo, uint64_t hi, bool want_last,
		     uint64_t *key, bool *empty)
{
	for (int depth = 0; depth < DELTA_MAX_DEPTH; depth++) {
		struct meta_node_info ni;
		const void *node;
		uint32_t i;
		int r = read_node(w, b, lo, hi, &node, &ni);
		if (r)
			return r;
		w->st->shared_nodes++;
		if (ni.nr_entries == 0) {
			meta_bm_put(w->bm, node);
			*empty = true;
			return 0;
		}
		i = want_last ? ni.nr_entries - 1 : 0;
		if (!(ni.flags & META_NODE_INTERNAL)) {
			*key = meta_node_key(node, i);
			*empty = false;
			meta_bm_put(w->bm, node);
			return 0;
		}
		lo = meta_node_key(node, i);
		if (i + 1 < ni.nr_entries)
			hi = meta_node_key(node, i + 1);
		b = meta_node_value64(node, i);
		meta_bm_put(w->bm, node);
	}
	w->st->bad_block = b;
	return META_E_CORRUPT;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static int shared(struct walk *w, const struct item *l, const struct item *r)
{
	uint64_t lo, hi, k;
	bool lo_known, hi_known, empty = false;
	int e;

	/* The tighter of the two sides' bounds. */
	lo = l->key > r->key ? l->key : r->key;
	lo_known = l->key > r->key ? l->lo_known : (r->lo_known || l->lo_known);
	hi = l->hi < r->hi ? l->hi : r->hi;
	hi_known = l->hi < r->hi ? l->hi_known : (r->hi_known || l->hi_known);

	w->st->shared_skipped++;
	if (w->exact)
		return add_pending(w, l->val, lo, hi);

	/* Inferred: assume every key of [lo, hi) is mapped; verified by the counts at the end. */
	if (!lo_known) {
		e = spine_key(w, l->val, lo, hi, false, &k, &empty);
		if (e)
			return e;
		if (empty)
			return 0;
		lo = k;
	}
	if (!hi_known) {
		e = spine_key(w, l->val, lo, hi, true, &k, &empty);
		if (e)
			return e;
		if (empty)
			return 0;
		hi = k + 1;
	}
	if (hi <= lo)
		return 0;
	w->shared_width = sat_add(w->shared_width, hi - lo);
	return coal_add(&w->co, META_DELTA_SAME, lo, hi - lo, 0, 0);
}

/* ---- read-ahead ----------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * Two internal nodes at the same place in both trees were just read: the
 * children of one that are not children of the other will be read next (the
 * shared ones are skipped).  Ask for all of them at once so the reads overlap.
 */
static void prefetch_unshared(struct walk *w)
{
	const struct frame *fa, *fb;
	uint64_t bl[2][256], want[512];
	uint32_t n[2];
	size_t nwant = 0;
	if (!w->c[0].depth || !w->c[1].depth)
		return;
	fa = &w->c[0].st[w->c[0].depth - 1];
	fb = &w->c[1].st[w->c[1].depth - 1];
	if (fa->leaf || fb->leaf || fa->n > 256 || fb->n > 256)
		return;
	n[0] = fa->n;
	n[1] = fb->n;
	for (uint32_t i = 0; i < n[0]; i++)
		bl[0][i] = meta_node_value64(fa->node, i);
	for (uint32_t i = 0; i < n[1]; i++)
		bl[1][i] = meta_node_value64(fb->node, i);
	qsort(bl[0], n[0], 8, cmp_u64);
	qsort(bl[1], n[1], 8, cmp_u64);
	for (int s = 0; s < 2; s++) {
		const uint64_t *o = bl[!s];
		uint32_t j = 0;
		for (uint32_t i = 0; i < n[s]; i++) {
			uint64_t b = bl[s][i];
			while (j < n[!s] && o[j] < b)
				j++;
			if (j < n[!s] && o[j] == b)
				continue;
			want[nwant++] = b;
		}
	}
	meta_bm_prefetch(w->bm, want, nwant);
}

/* ---- the merge ----------------------------------------------------------- */

/* Level of the node the current (subtree) item points to, leaves being 0. */
static int item_level(const struct cursor *c)
{
	return c->root_pending ? c->height : c->height - c->depth;
}

/* Height of a tree from its leftmost spine (used only to steer the walk). */
static int tree_height(struct walk *w, uint64_t root, int *height)
{
	uint64_t b = root, lo = 0, hi = KEY_INF;
	for (int h = 0; h < DELTA_MAX_DEPTH; h++) {
		struct meta_node_info ni;
		const void *node;
		int r = read_node(w, b, lo, hi, &node, &ni);
		if (r)
			return r;
		w->st->nodes_read++;
		if (!(ni.flags & META_NODE_INTERNAL) || ni.nr_entries == 0) {
			meta_bm_put(w->bm, node);
			*height = h;
			return 0;
		}
		lo = meta_node_key(node, 0);
		if (ni.nr_entries > 1)
			hi = meta_node_key(node, 1);
		b = meta_node_value64(node, 0);
		meta_bm_put(w->bm, node);
	}
	w->st->bad_block = b;
	return META_E_CORRUPT;
}

static uint64_t bound(const struct item *it)
{
	return it->type == IT_END ? KEY_INF : it->key;
}

static int merge(struct walk *w)
{
	struct cursor *L = &w->c[0], *R = &w->c[1];
	struct item a, b;
	int r = 0;

	for (;;) {
		uint64_t m, ba, bb;
		cursor_peek(w, L, &a);
		cursor_peek(w, R, &b);
		if (a.type == IT_END && b.type == IT_END)
			break;
		if (a.type == IT_SUB && b.type == IT_SUB && a.val == b.val) {
			r = shared(w, &a, &b);
			if (r)
				break;
			cursor_next(L, &a);
			cursor_next(R, &b);
			continue;
		}
		ba = bound(&a);
		bb = bound(&b);
		m = ba < bb ? ba : bb;
		if (a.type == IT_SUB && ba == m && b.type == IT_SUB && bb == m) {
			/* Read the higher one first: it may contain the other's block.
			 * (Levels only steer the cost; any order gives the same result.) */
			int la = item_level(L), lb = item_level(R);
			if (la > lb || (la == lb && a.hi > b.hi))
				r = cursor_expand(w, L, &a);
			else if (lb > la || b.hi > a.hi)
				r = cursor_expand(w, R, &b);
			else if (!(r = cursor_expand(w, L, &a)) && !(r = cursor_expand(w, R, &b)))
				prefetch_unshared(w);
			if (r)
				break;
			continue;
		}
		if (a.type == IT_SUB && ba == m) {
			if ((r = cursor_expand(w, L, &a)))
				break;
			continue;
		}
		if (b.type == IT_SUB && bb == m) {
			if ((r = cursor_expand(w, R, &b)))
				break;
			continue;
		}
		/* The lowest item is an entry (of one side or both). */
		if (w->npend && (r = flush_pending(w)))
			break;
		if (a.type == IT_ENT && b.type == IT_ENT && a.key == b.key) {
			uint64_t ld = a.val >> 24, rd = b.val >> 24;
			r = coal_add(&w->co, ld == rd ? META_DELTA_SAME : META_DELTA_DIFFERENT, a.key, 1,
				     ld, rd);
			cursor_next(L, &a);
			cursor_next(R, &b);
		} else if (a.type == IT_ENT && a.key == m) {
			r = coal_add(&w->co, META_DELTA_LEFT_ONLY, a.key, 1, a.val >> 24, 0);
			cursor_next(L, &a);
		} else {
			r = coal_add(&w->co, META_DELTA_RIGHT_ONLY, b.key, 1, 0, b.val >> 24);
			cursor_next(R, &b);
		}
		if (r)
			break;
	}
	if (!r && w->npend)
		r = flush_pending(w);
	if (!r)
		r = coal_finish(&w->co);
	cursor_release(w, L);
	cursor_release(w, R);
	return r;
}

static int run(struct walk *w, uint64_t left_root, uint64_t right_root)
{
	int r;
	cursor_init(&w->c[0], left_root);
	cursor_init(&w->c[1], right_root);
	w->shared_width = 0;
	w->npend = 0;
	w->co.have = false;
	w->co.nbuf = 0;
	if (left_root != right_root) {
		if ((r = tree_height(w, left_root, &w->c[0].height)) ||
		    (r = tree_height(w, right_root, &w->c[1].height)))
			return r;
	}
	return merge(w);
}

int meta_delta_compare(struct meta_bm *bm, uint64_t left_root, uint64_t right_root,
		       const struct meta_delta_opts *o, meta_delta_fn fn, void *ctx,
		       struct meta_delta_stats *st)
{
	struct meta_delta_opts dflt = {0, META_DELTA_UNKNOWN, META_DELTA_UNKNOWN};
	struct meta_delta_stats st_local;
	struct walk *w;
	int r;

	if (!bm)
		return META_E_INVAL;
	if (!o)
		o = &dflt;
	if (!st)
		st = &st_local;
	memset(st, 0, sizeof(*st));
	w = calloc(1, sizeof(*w));
	if (!w)
		return META_E_NOMEM;
	w->bm = bm;
	meta_walker_init(&w->rd, bm);
	w->st = st;
	w->co.data = (o->flags & META_DELTA_DATA) != 0;
	w->co.fn = fn;
	w->co.ctx = ctx;
	w->exact = (o->flags & (META_DELTA_DATA | META_DELTA_EXACT)) ||
		   (o->left_mapped == META_DELTA_UNKNOWN && o->right_mapped == META_DELTA_UNKNOWN);
	w->co.buffered = !w->exact;
	st->inferred = !w->exact;

	r = run(w, left_root, right_root);
	if (!r && !w->exact) {
		uint64_t nl = sat_add(w->c[0].entries, w->shared_width);
		uint64_t nr = sat_add(w->c[1].entries, w->shared_width);
		if ((o->left_mapped != META_DELTA_UNKNOWN && nl == o->left_mapped) ||
		    (o->right_mapped != META_DELTA_UNKNOWN && nr == o->right_mapped)) {
			for (size_t i = 0; i < w->co.nbuf && !r; i++)
				r = fn ? fn(ctx, &w->co.buf[i]) : 0;
		} else {
			/* Some shared subtree has holes (or the counts are wrong): do it exactly. */
			w->exact = true;
			w->co.buffered = false;
			r = run(w, left_root, right_root);
			st->inferred = false;
			st->fell_back = true;
		}
	}
	meta_walker_free(&w->rd);
	free(w->co.buf);
	free(w);
	return r;
}

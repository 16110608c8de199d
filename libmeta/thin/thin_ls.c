/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Mapping forest reader and thin_ls accounting.  See include/libmeta/thin_ls.h.
 */
#include <libmeta/thin_ls.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmeta/bm.h>
#include <libmeta/btree.h>
#include <libmeta/error.h>

#include "base/endian.h"
#include "base/hash.h"
#include "base/util.h"
#include "pdata/walk.h"

#define FOREST_MAX_HEIGHT 64u

/* ---- damage helpers --------------------------------------------------- */

static void report(meta_damage_fn dfn, void *ctx, enum meta_damage_kind k, uint64_t block,
		   uint64_t dev_id, const char *detail)
{
	struct meta_damage d;
	if (!dfn)
		return;
	d = meta_damage_make(k, block, dev_id, 0, 0, 0, detail);
	dfn(ctx, &d);
}


/* Forwards only fatal damage and remembers that some was seen. */
struct dmg_filter {
	meta_damage_fn dfn;
	void *ctx;
	int fatal;
};

static void filter_damage(void *ctx, const struct meta_damage *d)
{
	struct dmg_filter *f = ctx;
	if (d->severity < META_SEV_FATAL)
		return;
	f->fatal = 1;
	if (f->dfn)
		f->dfn(f->ctx, d);
}

/* ---- forest ------------------------------------------------------------ */

struct pend {
	uint64_t block, mult;
	int64_t owner;
	uint32_t is_root;
};

struct pvec {
	struct pend *p;
	size_t n, cap;
};

struct fnode {
	uint64_t block;
	uint64_t child_off;   /* internal: first child in f->children */
	uint32_t nr_children; /* internal only */
	uint32_t leaf_id;     /* UINT32_MAX for internal nodes */
	uint8_t memo;         /* visit pruning: 0 unknown, 1 nothing marked, 2 marked */
	uint8_t seen;         /* visited by an earlier META_THIN_FOREST_ONCE visit */
};

struct meta_thin_forest {
	uint64_t *roots;
	size_t nr_roots;
	int keep_shape;
	struct fnode *nodes;
	size_t nr_nodes, cap_nodes;
	struct meta_hidx index; /* nodes by block */
	uint64_t *children;
	size_t nr_children, cap_children;
	uint32_t nr_leaves;
	const uint8_t *memo_marks;
};

static int pvec_push(struct pvec *v, uint64_t block, uint64_t mult, int64_t owner, uint32_t is_root)
{
	if (v->n == v->cap && meta_grow((void **)&v->p, &v->cap, v->n + 1, sizeof(*v->p)))
		return META_E_NOMEM;
	v->p[v->n].block = block;
	v->p[v->n].mult = mult;
	v->p[v->n].owner = owner;
	v->p[v->n].is_root = is_root;
	v->n++;
	return 0;
}

static int cmp_pend(const void *a, const void *b)
{
	const struct pend *x = a, *y = b;
	return x->block < y->block ? -1 : x->block > y->block;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* Sort and merge duplicates: multiplicities add, owners must agree. */
static void pvec_merge(struct pvec *v)
{
	size_t o = 0;
	if (!v->n)
		return;
	qsort(v->p, v->n, sizeof(*v->p), cmp_pend);
	for (size_t i = 1; i < v->n; i++) {
		if (v->p[i].block == v->p[o].block) {
			v->p[o].mult = sat_add(v->p[o].mult, v->p[i].mult);
			if (v->p[o].owner != v->p[i].owner)
				v->p[o].owner = -1;
			v->p[o].is_root |= v->p[i].is_root;
		} else {
			v->p[++o] = v->p[i];
		}
	}
	v->n = o + 1;
}

static uint64_t node_block(const void *ctx, uint32_t i)
{
	const struct meta_thin_forest *f = ctx;
	return f->nodes[i].block;
}

static int64_t node_find(const struct meta_thin_forest *f, uint64_t b)
{
	return meta_hidx_find(&f->index, b, node_block, f);
}

static int node_add(struct meta_thin_forest *f, uint64_t b, uint32_t leaf_id, const uint64_t *kids,
		    uint32_t nr_kids)
{
	struct fnode *n;
	if (f->nr_nodes >= UINT32_MAX - 1)
		return META_E_NOMEM;
	if (meta_grow((void **)&f->nodes, &f->cap_nodes, f->nr_nodes + 1, sizeof(*f->nodes)))
		return META_E_NOMEM;
	if (nr_kids && meta_grow((void **)&f->children, &f->cap_children, f->nr_children + nr_kids,
			    sizeof(*f->children)))
		return META_E_NOMEM;
	n = &f->nodes[f->nr_nodes];
	n->block = b;
	n->leaf_id = leaf_id;
	n->nr_children = nr_kids;
	n->child_off = f->nr_children;
	n->memo = 0;
	n->seen = 0;
	if (nr_kids) {
		memcpy(f->children + f->nr_children, kids, nr_kids * sizeof(*kids));
		f->nr_children += nr_kids;
	}
	if (meta_hidx_add(&f->index, (uint32_t)f->nr_nodes, node_block, f))
		return META_E_NOMEM;
	f->nr_nodes++;
	return 0;
}

struct level_ctx {
	struct meta_thin_forest *f;
	const struct pend *items;
	uint32_t height;
	struct pvec *below; /* pending list of height - 1 */
	meta_thin_forest_leaf_fn fn;
	void *ctx;
	struct dmg_filter *dmg;
	uint64_t *kids; /* scratch */
};

static uint64_t level_block(void *vctx, size_t i)
{
	const struct level_ctx *lc = vctx;
	return lc->items[i].block;
}

/* Node i of a level (distinct blocks, ascending), handed over by the walker. */
static int level_cb(void *vctx, size_t idx, const void *node, int err)
{
	struct level_ctx *lc = vctx;
	const struct pend *it = &lc->items[idx];
	uint64_t b = it->block;
	struct meta_node_info ni;
	int r;

	if (err) {
		report(filter_damage, lc->dmg, meta_node_damage_kind(err, node), b,
		       it->owner >= 0 ? (uint64_t)it->owner : UINT64_MAX, "mapping tree");
		return META_E_CORRUPT;
	}
	meta_node_get_info(node, &ni);
	if ((lc->height && !(ni.flags & META_NODE_INTERNAL)) ||
	    (!lc->height && (!(ni.flags & META_NODE_LEAF) || (ni.flags & META_NODE_INTERNAL)))) {
		report(filter_damage, lc->dmg, META_DMG_NODE_DEPTH, b, UINT64_MAX,
		       "mapping tree leaves at different depths");
		return META_E_CORRUPT;
	}
	if (meta_node_check(node, b, 8, 0, UINT64_MAX, (int)it->is_root, filter_damage, lc->dmg) >=
	    META_SEV_FATAL)
		return META_E_CORRUPT;

	if (lc->height) {
		for (uint32_t i = 0; i < ni.nr_entries; i++) {
			uint64_t c = meta_node_value64(node, i);
			lc->kids[i] = c;
			r = pvec_push(lc->below, c, it->mult, it->owner, 0);
			if (r)
				return r;
		}
		if (lc->f->keep_shape) {
			r = node_add(lc->f, b, UINT32_MAX, lc->kids, ni.nr_entries);
			if (r)
				return r;
		}
		return 0;
	}
	{
		uint32_t id = lc->f->nr_leaves;
		if (id == UINT32_MAX)
			return META_E_NOMEM;
		if (lc->f->keep_shape) {
			r = node_add(lc->f, b, id, NULL, 0);
			if (r)
				return r;
		}
		lc->f->nr_leaves++;
		return lc->fn ? lc->fn(lc->ctx, id, b, node, it->mult, it->owner) : 0;
	}
}

/* Height of the tree under root: follow the first child down to a leaf. */
static int root_height(struct meta_bm *bm, uint64_t root, uint32_t *h, struct dmg_filter *dmg)
{
	uint64_t b = root;
	for (uint32_t depth = 0; depth <= FOREST_MAX_HEIGHT; depth++) {
		const void *data;
		struct meta_node_info ni;
		int r = meta_bm_get(bm, b, &meta_node_validator, &data);
		if (r) {
			report(filter_damage, dmg, meta_node_damage_kind(r, NULL), b, UINT64_MAX, "mapping tree");
			return META_E_CORRUPT;
		}
		meta_node_get_info(data, &ni);
		if (ni.flags & META_NODE_LEAF && !(ni.flags & META_NODE_INTERNAL)) {
			meta_bm_put(bm, data);
			*h = depth;
			return 0;
		}
		if (!(ni.flags & META_NODE_INTERNAL) || ni.nr_entries == 0) {
			meta_bm_put(bm, data);
			report(filter_damage, dmg, ni.nr_entries ? META_DMG_NODE_FLAGS : META_DMG_NODE_EMPTY,
			       b, UINT64_MAX, "mapping tree");
			return META_E_CORRUPT;
		}
		b = meta_node_value64(data, 0);
		meta_bm_put(bm, data);
	}
	report(filter_damage, dmg, META_DMG_NODE_DEPTH, root, UINT64_MAX, "mapping tree too deep");
	return META_E_CORRUPT;
}

void meta_thin_forest_free(struct meta_thin_forest *f)
{
	if (!f)
		return;
	free(f->roots);
	free(f->nodes);
	meta_hidx_free(&f->index);
	free(f->children);
	free(f);
}

uint32_t meta_thin_forest_nr_leaves(const struct meta_thin_forest *f)
{
	return f->nr_leaves;
}

int meta_thin_forest_load(struct meta_thin *t, const uint64_t *roots, size_t nr_roots,
			  bool keep_shape, meta_thin_forest_leaf_fn fn, meta_damage_fn dfn, void *ctx,
			  struct meta_thin_forest **out)
{
	struct meta_bm *bm = meta_thin_bm(t);
	struct dmg_filter dmg = {dfn, ctx, 0};
	struct pvec pv[FOREST_MAX_HEIGHT + 1];
	struct meta_thin_forest *f;
	uint64_t *kids = NULL;
	struct meta_walker walker;
	uint32_t max_h = 0;
	int r = 0;

	*out = NULL;
	memset(pv, 0, sizeof(pv));
	meta_walker_init(&walker, bm);
	f = calloc(1, sizeof(*f));
	if (!f)
		return META_E_NOMEM;
	f->keep_shape = keep_shape;
	f->nr_roots = nr_roots;
	f->roots = malloc((nr_roots ? nr_roots : 1) * sizeof(*f->roots));
	kids = malloc(4096 / 8 * sizeof(*kids));
	if (!f->roots || !kids) {
		r = META_E_NOMEM;
		goto out;
	}
	if (nr_roots)
		memcpy(f->roots, roots, nr_roots * sizeof(*roots));

	/* Heights of the roots (sorted copy so that shared roots are measured once). */
	{
		struct pvec rv = {NULL, 0, 0};
		for (size_t i = 0; i < nr_roots && !r; i++)
			r = pvec_push(&rv, roots[i], 1, (int64_t)i, 1);
		if (!r && rv.n) {
			qsort(rv.p, rv.n, sizeof(*rv.p), cmp_pend);
			for (size_t i = 0; i < rv.n && !r; i++) {
				uint32_t h = 0;
				if (i && rv.p[i].block == rv.p[i - 1].block)
					h = (uint32_t)rv.p[i - 1].mult; /* stashed height */
				else
					r = root_height(bm, rv.p[i].block, &h, &dmg);
				if (!r)
					r = pvec_push(&pv[h], rv.p[i].block, 1, rv.p[i].owner, 1);
				rv.p[i].mult = h;
				if (h > max_h)
					max_h = h;
			}
		}
		free(rv.p);
		if (r)
			goto out;
	}

	for (uint32_t h = max_h + 1; h-- > 0;) {
		struct level_ctx lc;
		struct pvec *v = &pv[h];
		if (!v->n)
			continue;
		pvec_merge(v);
		if (keep_shape) {
			for (size_t i = 0; i < v->n; i++)
				if (node_find(f, v->p[i].block) >= 0) {
					report(filter_damage, &dmg, META_DMG_NODE_DEPTH, v->p[i].block,
					       UINT64_MAX, "mapping tree node reached at two heights");
					r = META_E_CORRUPT;
					goto out;
				}
		}
		lc.f = f;
		lc.items = v->p;
		lc.height = h;
		lc.below = h ? &pv[h - 1] : NULL;
		lc.fn = fn;
		lc.ctx = ctx;
		lc.dmg = &dmg;
		lc.kids = kids;
		r = meta_walk_read(&walker, v->n, level_block, level_cb, &lc);
		free(v->p);
		v->p = NULL;
		v->n = v->cap = 0;
		if (r)
			goto out;
	}
out:
	for (uint32_t h = 0; h <= FOREST_MAX_HEIGHT; h++)
		free(pv[h].p);
	meta_walker_free(&walker);
	free(kids);
	if (!r && dmg.fatal)
		r = META_E_CORRUPT;
	if (r) {
		meta_thin_forest_free(f);
		return r;
	}
	*out = f;
	return 0;
}

/* Does the subtree of node idx hold a marked leaf?  Memoised per node. */
static int subtree_marked(struct meta_thin_forest *f, size_t idx, const uint8_t *marks, unsigned depth)
{
	struct fnode *n = &f->nodes[idx];
	int any = 0;
	if (n->leaf_id != UINT32_MAX)
		return marks[n->leaf_id] != 0;
	if (n->memo)
		return n->memo == 2;
	if (depth > FOREST_MAX_HEIGHT)
		return 1;
	for (uint32_t i = 0; i < n->nr_children && !any; i++) {
		int64_t c = node_find(f, f->children[n->child_off + i]);
		if (c < 0 || subtree_marked(f, (size_t)c, marks, depth + 1))
			any = 1;
	}
	f->nodes[idx].memo = any ? 2 : 1;
	return any;
}

static int visit_node(struct meta_thin_forest *f, uint64_t b, const uint8_t *marks, unsigned flags,
		      meta_thin_forest_visit_fn fn, void *ctx, unsigned depth)
{
	int64_t idx = node_find(f, b);
	struct fnode *n;
	if (idx < 0 || depth > FOREST_MAX_HEIGHT)
		return META_E_INVAL;
	n = &f->nodes[idx];
	if (n->leaf_id != UINT32_MAX) {
		if (marks && !marks[n->leaf_id])
			return 0;
		if (flags & META_THIN_FOREST_ONCE) {
			if (n->seen)
				return 0;
			n->seen = 1;
		}
		return fn(ctx, n->leaf_id);
	}
	/* An unmarked subtree yields nothing, so skipping it without marking its
	 * nodes seen changes nothing for later ONCE visits either. */
	if (marks && !subtree_marked(f, (size_t)idx, marks, depth))
		return 0;
	if (flags & META_THIN_FOREST_ONCE) {
		if (n->seen)
			return 0;
		n->seen = 1;
	}
	for (uint32_t i = 0; i < n->nr_children; i++) {
		/* nodes are not added during a visit, so n stays valid */
		int r = visit_node(f, f->children[n->child_off + i], marks, flags, fn, ctx, depth + 1);
		if (r)
			return r;
	}
	return 0;
}

int meta_thin_forest_visit(struct meta_thin_forest *f, size_t root_index, const uint8_t *marks,
			   unsigned flags, meta_thin_forest_visit_fn fn, void *ctx)
{
	if (!f->keep_shape || root_index >= f->nr_roots)
		return META_E_INVAL;
	if (marks != f->memo_marks) {
		for (size_t i = 0; i < f->nr_nodes; i++)
			f->nodes[i].memo = 0;
		f->memo_marks = marks;
	}
	return visit_node(f, f->roots[root_index], marks, flags, fn, ctx, 0);
}

/* ---- thin_ls ------------------------------------------------------------ */

struct excl_leaf {
	uint64_t block;
	uint64_t owner;
};

struct ls_ctx {
	uint8_t *counts; /* 2 bits per data block: 0, 1, 2 = "2 or more" */
	uint64_t nr_data;
	const struct meta_thin_details *det;
	struct excl_leaf *ex;
	size_t nr_ex, cap_ex, cur;
	uint64_t *exclusive;
	struct dmg_filter *dmg;
};

static unsigned count_get(const uint8_t *c, uint64_t b)
{
	return (c[b >> 2] >> ((b & 3) * 2)) & 3u;
}

static void count_add(uint8_t *c, uint64_t b, uint64_t m)
{
	unsigned v = count_get(c, b);
	unsigned nv = m >= 2 || v + m >= 2 ? 2u : v + (unsigned)m;
	unsigned sh = (unsigned)(b & 3) * 2;
	c[b >> 2] = (uint8_t)((c[b >> 2] & ~(3u << sh)) | (nv << sh));
}

static int ls_leaf(void *vctx, uint32_t leaf_id, uint64_t b, const void *node, uint64_t mult,
		   int64_t owner)
{
	struct ls_ctx *lc = vctx;
	struct meta_node_info ni;
	meta_node_get_info(node, &ni);
	for (uint32_t i = 0; i < ni.nr_entries; i++) {
		uint64_t data = meta_node_value64(node, i) >> 24;
		if (data >= lc->nr_data) {
			report(filter_damage, lc->dmg, META_DMG_MAPPING_PAST_END, b,
			       owner >= 0 ? lc->det[owner].dev_id : UINT64_MAX, NULL);
			return META_E_CORRUPT;
		}
		count_add(lc->counts, data, mult);
	}
	if (mult == 1 && owner >= 0) {
		if (meta_grow((void **)&lc->ex, &lc->cap_ex, lc->nr_ex + 1, sizeof(*lc->ex)))
			return META_E_NOMEM;
		lc->ex[lc->nr_ex].block = b;
		lc->ex[lc->nr_ex].owner = (uint64_t)owner;
		lc->nr_ex++;
	}
	return 0;
}

static int ls_excl_cb(void *vctx, uint64_t b, const void *node, int err)
{
	struct ls_ctx *lc = vctx;
	struct meta_node_info ni;
	uint64_t cnt = 0;
	while (lc->cur < lc->nr_ex && lc->ex[lc->cur].block < b)
		lc->cur++;
	if (lc->cur >= lc->nr_ex || lc->ex[lc->cur].block != b)
		return META_E_INVAL;
	if (err) {
		report(filter_damage, lc->dmg, meta_node_damage_kind(err, node), b, UINT64_MAX, "mapping tree");
		return META_E_CORRUPT;
	}
	meta_node_get_info(node, &ni);
	for (uint32_t i = 0; i < ni.nr_entries; i++) {
		uint64_t data = meta_node_value64(node, i) >> 24;
		if (data < lc->nr_data && count_get(lc->counts, data) == 1)
			cnt++;
	}
	lc->exclusive[lc->ex[lc->cur].owner] += cnt;
	return 0;
}

static void ls_damage(void *ctx, const struct meta_damage *d)
{
	struct ls_ctx *lc = ctx;
	filter_damage(lc->dmg, d);
}

static int cmp_root(const void *key, const void *elem)
{
	uint64_t k = *(const uint64_t *)key;
	const struct meta_thin_dev_root *e = elem;
	return k < e->dev_id ? -1 : k > e->dev_id;
}

static int ls_impl(struct meta_thin *t, bool sharing, struct meta_thin_ls_dev **out, uint64_t *n,
		   meta_damage_fn dfn, void *ctx)
{
	struct dmg_filter dmg = {dfn, ctx, 0};
	struct meta_thin_details *det = NULL;
	struct meta_thin_dev_root *dr = NULL;
	struct meta_thin_forest *f = NULL;
	struct meta_thin_ls_dev *res = NULL;
	uint64_t nd = 0, nr = 0, *roots = NULL, *blocks = NULL;
	struct ls_ctx lc;
	int r;

	*out = NULL;
	*n = 0;
	memset(&lc, 0, sizeof(lc));
	r = meta_thin_read_details(t, &det, &nd, filter_damage, &dmg);
	if (!r)
		r = meta_thin_read_dev_roots(t, &dr, &nr, filter_damage, &dmg);
	if (!r && dmg.fatal)
		r = META_E_CORRUPT;
	if (r)
		goto out;
	roots = malloc((nd ? nd : 1) * sizeof(*roots));
	lc.exclusive = calloc(nd ? nd : 1, sizeof(*lc.exclusive));
	if (!roots || !lc.exclusive) {
		r = META_E_NOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < nd; i++) {
		const struct meta_thin_dev_root *e =
			nr ? bsearch(&det[i].dev_id, dr, nr, sizeof(*dr), cmp_root) : NULL;
		if (!e) {
			report(filter_damage, &dmg, META_DMG_DEV_NO_MAPPINGS, UINT64_MAX, det[i].dev_id, NULL);
			r = META_E_CORRUPT;
			goto out;
		}
		roots[i] = e->root;
	}
	if (!sharing)
		goto records; /* the details tree is all that is needed */
	lc.nr_data = meta_thin_nr_data_blocks(t);
	if (lc.nr_data > (UINT64_MAX >> 3) || (size_t)(lc.nr_data / 4 + 1) != lc.nr_data / 4 + 1) {
		r = META_E_NOMEM;
		goto out;
	}
	lc.counts = calloc((size_t)(lc.nr_data / 4 + 1), 1);
	if (!lc.counts) {
		r = META_E_NOMEM;
		goto out;
	}
	lc.det = det;
	lc.dmg = &dmg;
	r = meta_thin_forest_load(t, roots, (size_t)nd, false, ls_leaf, ls_damage, &lc, &f);
	if (r)
		goto out;
	if (lc.nr_ex) {
		blocks = malloc(lc.nr_ex * sizeof(*blocks));
		if (!blocks) {
			r = META_E_NOMEM;
			goto out;
		}
		/* leaves arrive in ascending block order, so lc.ex is sorted and unique */
		for (size_t i = 0; i < lc.nr_ex; i++)
			blocks[i] = lc.ex[i].block;
		r = meta_bm_read_batch(meta_thin_bm(t), blocks, lc.nr_ex, &meta_node_validator,
				       ls_excl_cb, &lc);
		if (r)
			goto out;
	}
records:
	res = calloc(nd ? nd : 1, sizeof(*res));
	if (!res) {
		r = META_E_NOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < nd && !sharing; i++) {
		res[i].dev_id = det[i].dev_id;
		res[i].mapped_blocks = det[i].mapped_blocks;
		res[i].transaction_id = det[i].transaction_id;
		res[i].creation_time = det[i].creation_time;
		res[i].snapshotted_time = det[i].snapshotted_time;
	}
	for (uint64_t i = 0; i < nd && sharing; i++) {
		res[i].dev_id = det[i].dev_id;
		res[i].mapped_blocks = det[i].mapped_blocks;
		res[i].transaction_id = det[i].transaction_id;
		res[i].creation_time = det[i].creation_time;
		res[i].snapshotted_time = det[i].snapshotted_time;
		res[i].exclusive_blocks = lc.exclusive[i];
		res[i].shared_blocks = det[i].mapped_blocks - lc.exclusive[i];
	}
	*out = res;
	*n = nd;
	res = NULL;
out:
	meta_thin_forest_free(f);
	free(res);
	free(blocks);
	free(lc.ex);
	free(lc.counts);
	free(lc.exclusive);
	free(roots);
	free(det);
	free(dr);
	return r;
}

int meta_thin_ls(struct meta_thin *t, struct meta_thin_ls_dev **out, uint64_t *n,
		 meta_damage_fn dfn, void *ctx)
{
	return ls_impl(t, true, out, n, dfn, ctx);
}

int meta_thin_ls_details(struct meta_thin *t, struct meta_thin_ls_dev **out, uint64_t *n,
			 meta_damage_fn dfn, void *ctx)
{
	return ls_impl(t, false, out, n, dfn, ctx);
}

char *meta_thin_ls_human(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = {"", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	unsigned i = 0;
	while (bytes > 1024ull * 1024ull) {
		bytes /= 1024;
		i++;
	}
	if (bytes > 8ull * 1024ull) {
		bytes = (bytes + 512) / 1024; /* to nearest, halves up */
		i++;
	}
	if (len)
		snprintf(buf, len, "%llu%s", (unsigned long long)bytes, units[i]);
	return buf;
}

int meta_thin_highest_block(struct meta_thin *t, uint64_t dev_id, uint64_t *out)
{
	struct meta_bm *bm = meta_thin_bm(t);
	uint8_t root[8];
	uint64_t b;
	int r;

	*out = 0;
	r = meta_btree_lookup(bm, meta_thin_sb(t)->data_mapping_root, dev_id, root, sizeof(root));
	if (r)
		return r;
	{
		bool found;
		r = meta_btree_last_key(bm, get_le64p(root), &found, &b);
		if (!r && found)
			*out = b;
	}
	return r;
}

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Reverse map of data blocks (thin_rmap).  See include/libmeta/thin_rmap.h.
 */
#include <libmeta/thin_rmap.h>

#include <stdlib.h>
#include <string.h>

#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/thin_ls.h>

#include "base/util.h"

/* ---- libstdc++-compatible std::sort (introsort) by data_begin ------------
 * The reference tool sorts its runs with std::sort, which is not stable; to
 * print runs with equal data_begin in the same order we reproduce the same
 * sequence of comparisons and moves: median-of-three pivot moved to the
 * front, unguarded Hoare partition, depth limit 2*floor(log2 n) with a heap
 * sort fallback, and a final insertion sort (threshold 16).
 */
#define SORT_THRESHOLD 16

typedef struct meta_thin_rmap_run run_t;

static int lt(const run_t *a, const run_t *b)
{
	return a->data_begin < b->data_begin;
}

static void swap_runs(run_t *a, run_t *b)
{
	run_t t = *a;
	*a = *b;
	*b = t;
}

static void median_to_first(run_t *result, run_t *a, run_t *b, run_t *c)
{
	if (lt(a, b)) {
		if (lt(b, c))
			swap_runs(result, b);
		else if (lt(a, c))
			swap_runs(result, c);
		else
			swap_runs(result, a);
	} else if (lt(a, c)) {
		swap_runs(result, a);
	} else if (lt(b, c)) {
		swap_runs(result, c);
	} else {
		swap_runs(result, b);
	}
}

static run_t *partition_unguarded(run_t *lo, run_t *hi, const run_t *pivot)
{
	for (;;) {
		while (lt(lo, pivot))
			lo++;
		hi--;
		while (lt(pivot, hi))
			hi--;
		if (!(lo < hi))
			return lo;
		swap_runs(lo, hi);
		lo++;
	}
}

static void heap_sift(run_t *base, ptrdiff_t hole, ptrdiff_t len, run_t value)
{
	ptrdiff_t top = hole, child = hole, parent;
	while (child < (len - 1) / 2) {
		child = 2 * (child + 1);
		if (lt(&base[child], &base[child - 1]))
			child--;
		base[hole] = base[child];
		hole = child;
	}
	if ((len & 1) == 0 && child == (len - 2) / 2) {
		child = 2 * (child + 1);
		base[hole] = base[child - 1];
		hole = child - 1;
	}
	parent = (hole - 1) / 2;
	while (hole > top && lt(&base[parent], &value)) {
		base[hole] = base[parent];
		hole = parent;
		parent = (hole - 1) / 2;
	}
	base[hole] = value;
}

static void heap_sort(run_t *first, run_t *last)
{
	ptrdiff_t len = last - first;
	if (len >= 2) {
		for (ptrdiff_t parent = (len - 2) / 2;; parent--) {
			heap_sift(first, parent, len, first[parent]);
			if (parent == 0)
				break;
		}
	}
	while (last - first > 1) {
		run_t v;
		last--;
		v = *last;
		*last = *first;
		heap_sift(first, 0, last - first, v);
	}
}

static void introsort_loop(run_t *first, run_t *last, unsigned depth)
{
	while (last - first > SORT_THRESHOLD) {
		run_t *mid, *cut;
		if (depth == 0) {
			heap_sort(first, last);
			return;
		}
		depth--;
		mid = first + (last - first) / 2;
		median_to_first(first, first + 1, mid, last - 1);
		cut = partition_unguarded(first + 1, last, first);
		introsort_loop(cut, last, depth);
		last = cut;
	}
}

static void linear_insert_unguarded(run_t *pos)
{
	run_t v = *pos;
	run_t *prev = pos - 1;
	while (lt(&v, prev)) {
		*pos = *prev;
		pos = prev;
		prev--;
	}
	*pos = v;
}

static void insertion_sort(run_t *first, run_t *last)
{
	if (first == last)
		return;
	for (run_t *i = first + 1; i != last; i++) {
		if (lt(i, first)) {
			run_t v = *i;
			memmove(first + 1, first, (size_t)(i - first) * sizeof(*first));
			*first = v;
		} else {
			linear_insert_unguarded(i);
		}
	}
}

void meta_thin_rmap_sort(struct meta_thin_rmap_run *runs, size_t n)
{
	unsigned lg = 0;
	if (n < 2)
		return;
	while ((n >> lg) > 1)
		lg++;
	introsort_loop(runs, runs + n, lg * 2);
	if (n > SORT_THRESHOLD) {
		insertion_sort(runs, runs + SORT_THRESHOLD);
		for (run_t *i = runs + SORT_THRESHOLD; i != runs + n; i++)
			linear_insert_unguarded(i);
	} else {
		insertion_sort(runs, runs + n);
	}
}

/* ---- reverse map ---------------------------------------------------------- */

struct lrun {
	uint64_t vbegin, dbegin, len;
};

struct dmg_flag {
	meta_damage_fn dfn;
	void *ctx;
	int fatal;
};

struct rmap_ctx {
	struct meta_thin_region *reg; /* sorted, disjoint */
	size_t nr_reg;
	struct lrun *lr; /* runs of all leaves, leaf by leaf */
	size_t nr_lr, cap_lr;
	uint64_t *leaf_first; /* per leaf_id: first run in lr */
	uint32_t *leaf_count;
	uint8_t *marks;
	size_t cap_leaves;
	/* output */
	run_t *out;
	size_t nr_out, cap_out;
	run_t cur;
	int have_cur;
	uint32_t dev;
	struct dmg_flag *dmg;
};

static int in_regions(const struct rmap_ctx *rc, uint64_t b)
{
	size_t lo = 0, hi = rc->nr_reg;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (b < rc->reg[mid].begin)
			hi = mid;
		else if (b >= rc->reg[mid].end)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

static int rmap_leaf(void *vctx, uint32_t leaf_id, uint64_t b, const void *node, uint64_t mult,
		     int64_t owner)
{
	struct rmap_ctx *rc = vctx;
	struct meta_node_info ni;
	size_t first = rc->nr_lr;
	size_t old_cap = rc->cap_leaves;

	if (leaf_id >= rc->cap_leaves) {
		size_t c1 = rc->cap_leaves, c2 = rc->cap_leaves, c3 = rc->cap_leaves;
		if (meta_grow((void **)&rc->leaf_first, &c1, (size_t)leaf_id + 1, sizeof(*rc->leaf_first)) ||
		    meta_grow((void **)&rc->leaf_count, &c2, (size_t)leaf_id + 1, sizeof(*rc->leaf_count)) ||
		    meta_grow((void **)&rc->marks, &c3, (size_t)leaf_id + 1, sizeof(*rc->marks)))
			return META_E_NOMEM;
		rc->cap_leaves = c1;
		memset(rc->marks + old_cap, 0, rc->cap_leaves - old_cap);
	}
	meta_node_get_info(node, &ni);
	for (uint32_t i = 0; i < ni.nr_entries; i++) {
		uint64_t v = meta_node_key(node, i);
		uint64_t d = meta_node_value64(node, i) >> 24;
		struct lrun *last;
		if (!in_regions(rc, d))
			continue;
		last = rc->nr_lr > first ? &rc->lr[rc->nr_lr - 1] : NULL;
		if (last && d == last->dbegin + last->len && v == last->vbegin + last->len) {
			last->len++;
			continue;
		}
		if (meta_grow((void **)&rc->lr, &rc->cap_lr, rc->nr_lr + 1, sizeof(*rc->lr)))
			return META_E_NOMEM;
		rc->lr[rc->nr_lr].vbegin = v;
		rc->lr[rc->nr_lr].dbegin = d;
		rc->lr[rc->nr_lr].len = 1;
		rc->nr_lr++;
	}
	rc->leaf_first[leaf_id] = first;
	rc->leaf_count[leaf_id] = (uint32_t)(rc->nr_lr - first);
	rc->marks[leaf_id] = rc->nr_lr > first;
	return 0;
}

static int push_cur(struct rmap_ctx *rc)
{
	if (!rc->have_cur)
		return 0;
	if (meta_grow((void **)&rc->out, &rc->cap_out, rc->nr_out + 1, sizeof(*rc->out)))
		return META_E_NOMEM;
	rc->out[rc->nr_out++] = rc->cur;
	rc->have_cur = 0;
	return 0;
}

static int rmap_visit(void *vctx, uint32_t leaf_id)
{
	struct rmap_ctx *rc = vctx;
	const struct lrun *lr = rc->lr + rc->leaf_first[leaf_id];
	for (uint32_t i = 0; i < rc->leaf_count[leaf_id]; i++) {
		if (rc->have_cur && rc->cur.dev_id == rc->dev && lr[i].dbegin == rc->cur.data_end &&
		    lr[i].vbegin == rc->cur.thin_begin + (rc->cur.data_end - rc->cur.data_begin)) {
			rc->cur.data_end += lr[i].len;
			continue;
		}
		if (push_cur(rc))
			return META_E_NOMEM;
		rc->cur.data_begin = lr[i].dbegin;
		rc->cur.data_end = lr[i].dbegin + lr[i].len;
		rc->cur.thin_begin = lr[i].vbegin;
		rc->cur.dev_id = rc->dev;
		rc->have_cur = 1;
	}
	return 0;
}

static int cmp_region(const void *a, const void *b)
{
	const struct meta_thin_region *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

static void flag_damage(void *ctx, const struct meta_damage *d)
{
	struct dmg_flag *f = ctx;
	if (d->severity < META_SEV_FATAL)
		return;
	f->fatal = 1;
	if (f->dfn)
		f->dfn(f->ctx, d);
}

static void rmap_damage(void *ctx, const struct meta_damage *d)
{
	struct rmap_ctx *rc = ctx;
	flag_damage(rc->dmg, d);
}

int meta_thin_rmap(struct meta_thin *t, const struct meta_thin_region *regions, size_t nr_regions,
		   struct meta_thin_rmap_run **out, size_t *n, meta_damage_fn dfn, void *ctx)
{
	struct dmg_flag dmg = {dfn, ctx, 0};
	struct rmap_ctx rc;
	struct meta_thin_dev_root *dr = NULL;
	struct meta_thin_forest *f = NULL;
	uint64_t nr = 0, *roots = NULL;
	int r;

	*out = NULL;
	*n = 0;
	memset(&rc, 0, sizeof(rc));
	rc.reg = malloc((nr_regions ? nr_regions : 1) * sizeof(*rc.reg));
	if (!rc.reg)
		return META_E_NOMEM;
	for (size_t i = 0; i < nr_regions; i++)
		if (regions[i].end > regions[i].begin)
			rc.reg[rc.nr_reg++] = regions[i];
	qsort(rc.reg, rc.nr_reg, sizeof(*rc.reg), cmp_region);
	if (rc.nr_reg) {
		size_t o = 0;
		for (size_t i = 1; i < rc.nr_reg; i++) {
			if (rc.reg[i].begin <= rc.reg[o].end) {
				if (rc.reg[i].end > rc.reg[o].end)
					rc.reg[o].end = rc.reg[i].end;
			} else {
				rc.reg[++o] = rc.reg[i];
			}
		}
		rc.nr_reg = o + 1;
	}

	r = meta_thin_read_dev_roots(t, &dr, &nr, flag_damage, &dmg);
	if (!r && dmg.fatal)
		r = META_E_CORRUPT;
	if (r)
		goto out;
	roots = malloc((nr ? nr : 1) * sizeof(*roots));
	if (!roots) {
		r = META_E_NOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < nr; i++)
		roots[i] = dr[i].root;
	rc.dmg = &dmg;
	r = meta_thin_forest_load(t, roots, (size_t)nr, true, rmap_leaf, rmap_damage, &rc, &f);
	if (r)
		goto out;
	for (uint64_t i = 0; i < nr && !r; i++) {
		rc.dev = (uint32_t)dr[i].dev_id;
		r = meta_thin_forest_visit(f, (size_t)i, rc.marks, META_THIN_FOREST_ONCE, rmap_visit,
					   &rc);
		if (!r)
			r = push_cur(&rc);
	}
	if (r)
		goto out;
	meta_thin_rmap_sort(rc.out, rc.nr_out);
	*out = rc.out;
	*n = rc.nr_out;
	rc.out = NULL;
out:
	meta_thin_forest_free(f);
	free(rc.out);
	free(rc.reg);
	free(rc.lr);
	free(rc.leaf_first);
	free(rc.leaf_count);
	free(rc.marks);
	free(roots);
	free(dr);
	return r;
}

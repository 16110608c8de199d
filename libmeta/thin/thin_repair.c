/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_repair (see include/libmeta/thin_repair.h).
 *
 * Reads: the scan of every block for btree nodes (do_scan) stays a plain
 * meta_bm_read_batch() over block numbers in ascending chunks: it is no level
 * walk (no parent, no key range, no verdict; a refused block is simply not a
 * node) and its blocks already come in disk order.  The walk of the live trees
 * that marks what the salvage may not take (mark_reachable) reads a level at a
 * time through pdata/walk.
 */
#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/thin.h>
#include <libmeta/thin_check.h>
#include <libmeta/thin_dump.h>
#include <libmeta/thin_repair.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "base/hash.h"
#include "base/util.h"
#include "pdata/walk.h"

/* ---- block scan --------------------------------------------------------------- */

struct snode {
	uint64_t b, first_key, last_key;
	uint32_t flags, nr, vs;
};

struct scan {
	struct snode *v;
	uint64_t n, cap, nr_blocks;
	uint8_t *is_node;    /* block holds a valid btree node */
	uint8_t *referenced; /* some valid internal node points at it */
	int nomem;
};

static int scan_cb(void *ctx, uint64_t b, const void *data, int err)
{
	struct scan *s = ctx;
	struct meta_node_info ni;
	struct snode *sn;
	if (err)
		return 0;
	meta_node_get_info(data, &ni);
	if (s->n == s->cap) {
		uint64_t cap = s->cap ? s->cap * 2 : 1024;
		struct snode *p = realloc(s->v, cap * sizeof(*p));
		if (!p) {
			s->nomem = 1;
			return META_E_NOMEM;
		}
		s->v = p;
		s->cap = cap;
	}
	sn = &s->v[s->n++];
	sn->b = b;
	sn->flags = ni.flags;
	sn->nr = ni.nr_entries;
	sn->vs = ni.value_size;
	sn->first_key = ni.nr_entries ? meta_node_key(data, 0) : 0;
	sn->last_key = ni.nr_entries ? meta_node_key(data, ni.nr_entries - 1) : 0;
	s->is_node[b] = 1;
	if (ni.flags & META_NODE_INTERNAL)
		for (uint32_t i = 0; i < ni.nr_entries; i++) {
			uint64_t c = meta_node_value64(data, i);
			if (c < s->nr_blocks)
				s->referenced[c] = 1;
		}
	return 0;
}

static int do_scan(struct meta_bm *bm, struct scan *s)
{
	uint64_t nr = meta_bm_nr_blocks(bm), chunk = 65536;
	uint64_t *list = malloc(chunk * sizeof(*list));
	int r = META_OK;
	memset(s, 0, sizeof(*s));
	s->nr_blocks = nr;
	s->is_node = calloc(nr ? nr : 1, 1);
	s->referenced = calloc(nr ? nr : 1, 1);
	if (!list || !s->is_node || !s->referenced) {
		free(list);
		return META_E_NOMEM;
	}
	for (uint64_t b = 0; b < nr && !r; b += chunk) {
		uint64_t n = nr - b < chunk ? nr - b : chunk;
		for (uint64_t i = 0; i < n; i++)
			list[i] = b + i;
		r = meta_bm_read_batch(bm, list, n, &meta_node_validator, scan_cb, s);
	}
	free(list);
	return s->nomem ? META_E_NOMEM : r;
}

static void scan_free(struct scan *s)
{
	free(s->v);
	free(s->is_node);
	free(s->referenced);
}

/* ---- classifying trees --------------------------------------------------------- */

enum tree_kind { T_UNKNOWN, T_DETAILS, T_TOP, T_MAPPING };

/* First leaf of the tree at root (0 if unreadable); *depth_ok false on a loop. */
static uint64_t first_leaf(struct meta_bm *bm, uint64_t root, struct meta_node_info *leaf)
{
	uint64_t b = root;
	for (int d = 0; d < 16; d++) {
		const void *n;
		if (meta_bm_get(bm, b, &meta_node_validator, &n))
			return 0;
		meta_node_get_info(n, leaf);
		if (leaf->flags & META_NODE_LEAF) {
			meta_bm_put(bm, n);
			return b;
		}
		if (!leaf->nr_entries) {
			meta_bm_put(bm, n);
			return 0;
		}
		b = meta_node_value64(n, 0);
		meta_bm_put(bm, n);
	}
	return 0;
}

static enum tree_kind classify(struct meta_bm *bm, const uint8_t *is_node, uint64_t nr_meta,
			       uint64_t root)
{
	struct meta_node_info li;
	const void *n;
	uint64_t leaf = first_leaf(bm, root, &li), v;
	if (!leaf)
		return T_UNKNOWN;
	if (li.value_size == META_THIN_DETAILS_VALUE_SIZE)
		return T_DETAILS;
	if (li.value_size != 8)
		return T_UNKNOWN;
	if (!li.nr_entries)
		return T_MAPPING; /* an empty leaf: a device with no mappings */
	if (meta_bm_get(bm, leaf, &meta_node_validator, &n))
		return T_UNKNOWN;
	/* a top-level value is the root of a mapping tree; some may be lost: look at several */
	for (uint32_t i = 0; i < li.nr_entries && i < 16; i++) {
		struct meta_node_info ci;
		v = meta_node_value64(n, i);
		if (v < nr_meta && (is_node ? is_node[v] : 1) && first_leaf(bm, v, &ci) &&
		    ci.value_size == 8) {
			meta_bm_put(bm, n);
			return T_TOP;
		}
	}
	meta_bm_put(bm, n);
	return T_MAPPING;
}

struct count_ctx {
	uint64_t n;
};

static int count_leaf(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	((struct count_ctx *)ctx)->n += ni->nr_entries;
	return 0;
}

static uint64_t count_entries(struct meta_bm *bm, uint64_t root, uint32_t vs)
{
	struct count_ctx c = {0};
	struct meta_btree_walk_ops ops = {count_leaf, NULL};
	meta_btree_walk(bm, root, vs, &ops, &c);
	return c.n;
}

/* ---- salvage of orphaned leaves --------------------------------------------- */

struct lost {
	uint64_t dev, lo, hi;
};

struct salvage {
	uint64_t dev;
	struct meta_thin_mapping *m;
	uint64_t n, cap;
};

struct rctx {
	struct meta_thin *t;
	struct meta_thin_emitter out;
	/* lost ranges from the first pass */
	struct lost *lost;
	uint64_t nlost, caplost;
	/* salvaged mappings per device, sorted by device */
	struct salvage *sv;
	uint64_t nsv;
	/* the device being emitted */
	struct salvage *cur;
	uint64_t cur_pos;
	uint32_t sb_time;
	bool fix_time, no_details, sb_sent, last_pass;
	uint64_t top;
	struct meta_thin_repair_stats *st;
	meta_damage_fn damage;
	void *damage_ctx;
	int nomem;
};

static void pass1_damage(void *ctx, const struct meta_damage *d)
{
	struct rctx *c = ctx;
	/* with no details tree the walker is pointed at the top-level tree: expected */
	if (c->no_details && d->block == c->top &&
	    (d->kind == META_DMG_NODE_VALUE_SIZE || d->kind == META_DMG_DEV_NO_DETAILS))
		return;
	if (c->no_details && d->kind == META_DMG_DEV_NO_DETAILS)
		return;
	if (c->damage)
		c->damage(c->damage_ctx, d);
	c->st->nr_damage++;
	/* only ranges lost under a damaged node can have orphaned leaves of their own */
	if (d->dev_id == UINT64_MAX || d->end <= d->begin || d->kind == META_DMG_DEV_NO_MAPPINGS ||
	    d->kind == META_DMG_DEV_NO_DETAILS)
		return;
	if (c->nlost == c->caplost) {
		uint64_t cap = c->caplost ? c->caplost * 2 : 16;
		struct lost *p = realloc(c->lost, cap * sizeof(*p));
		if (!p) {
			c->nomem = 1;
			return;
		}
		c->lost = p;
		c->caplost = cap;
	}
	c->lost[c->nlost].dev = d->dev_id;
	c->lost[c->nlost].lo = d->begin;
	c->lost[c->nlost].hi = d->end;
	c->nlost++;
}

static struct salvage *salvage_for(struct rctx *c, uint64_t dev, bool create)
{
	for (uint64_t i = 0; i < c->nsv; i++)
		if (c->sv[i].dev == dev)
			return &c->sv[i];
	if (!create)
		return NULL;
	{
		struct salvage *p = realloc(c->sv, (c->nsv + 1) * sizeof(*p));
		if (!p)
			return NULL;
		c->sv = p;
		memset(&c->sv[c->nsv], 0, sizeof(c->sv[0]));
		c->sv[c->nsv].dev = dev;
		return &c->sv[c->nsv++];
	}
}

static int cmp_map(const void *a, const void *b)
{
	const struct meta_thin_mapping *x = a, *y = b;
	return x->vblock < y->vblock ? -1 : x->vblock > y->vblock;
}

/*
 * Mark every node reachable from the live trees, a level at a time through
 * pdata/walk (every node is read; a leaf of the top-level tree names the roots of
 * mapping trees).  A block is marked when first named and queued once; a tree is
 * followed at most 16 internal levels down.  0 or META_E_NOMEM.
 */
struct reach_item {
	uint64_t b;
	uint32_t depth;
	uint32_t follow; /* values of a leaf with 8-byte values are tree roots */
};

struct reach_level {
	struct reach_item *cur, *next;
	size_t ncur, capcur, nnext, capnext;
	uint8_t *reach;
	uint64_t nr;
};

static int reach_queue(struct reach_level *l, uint64_t b, uint32_t depth, uint32_t follow)
{
	if (b >= l->nr || depth > 16 || l->reach[b])
		return 0;
	l->reach[b] = 1;
	if (meta_grow((void **)&l->next, &l->capnext, l->nnext + 1, sizeof(*l->next)))
		return META_E_NOMEM;
	l->next[l->nnext].b = b;
	l->next[l->nnext].depth = depth;
	l->next[l->nnext].follow = follow;
	l->nnext++;
	return 0;
}

static uint64_t reach_block(void *ctx, size_t i)
{
	return ((struct reach_level *)ctx)->cur[i].b;
}

static int reach_cb(void *ctx, size_t i, const void *data, int err)
{
	struct reach_level *l = ctx;
	const struct reach_item *it = &l->cur[i];
	struct meta_node_info ni;
	int r = 0;
	if (err)
		return 0;
	meta_node_get_info(data, &ni);
	for (uint32_t e = 0; e < ni.nr_entries && !r; e++) {
		uint64_t v = meta_node_value64(data, e);
		if (ni.flags & META_NODE_INTERNAL)
			r = reach_queue(l, v, it->depth + 1, it->follow);
		else if (it->follow && ni.value_size == 8)
			r = reach_queue(l, v, 0, 0); /* top-level value → mapping tree */
	}
	return r;
}

static int cmp_reach(const void *a, const void *b)
{
	const struct reach_item *x = a, *y = b;
	return x->b < y->b ? -1 : x->b > y->b;
}

static int mark_reachable(struct meta_bm *bm, const uint64_t *tops, uint64_t ntops, uint8_t *reach,
			  uint64_t nr)
{
	struct reach_level l;
	struct meta_walker w;
	int r = 0;
	memset(&l, 0, sizeof(l));
	l.reach = reach;
	l.nr = nr;
	meta_walker_init(&w, bm);
	for (uint64_t i = 0; i < ntops && !r; i++)
		r = reach_queue(&l, tops[i], 0, 1);
	while (!r && l.nnext) {
		/* the level just queued is read; the one read before takes the next */
		struct reach_item *t = l.cur;
		size_t cap = l.capcur;
		l.cur = l.next;
		l.capcur = l.capnext;
		l.ncur = l.nnext;
		l.next = t;
		l.capnext = cap;
		l.nnext = 0;
		qsort(l.cur, l.ncur, sizeof(*l.cur), cmp_reach);
		r = meta_walk_read(&w, l.ncur, reach_block, reach_cb, &l);
	}
	meta_walker_free(&w);
	free(l.cur);
	free(l.next);
	return r;
}

/*
 * A leaf of a device's mapping tree: every value decodes to a data block inside
 * the data device, and its values are not block numbers of btree nodes (that is
 * a top-level leaf, whose values are the roots of mapping trees).
 */
static bool looks_like_mapping_leaf(struct meta_bm *bm, const struct scan *s, uint64_t b,
				    uint64_t nr_data)
{
	const void *n;
	struct meta_node_info ni;
	uint32_t pointers = 0;
	bool ok = true;
	if (meta_bm_get(bm, b, &meta_node_validator, &n))
		return false;
	meta_node_get_info(n, &ni);
	for (uint32_t i = 0; i < ni.nr_entries && ok; i++) {
		uint64_t v = meta_node_value64(n, i);
		if ((v >> 24) >= nr_data)
			ok = false;
		if (v < s->nr_blocks && s->is_node[v])
			pointers++;
	}
	meta_bm_put(bm, n);
	return ok && pointers * 2 < ni.nr_entries;
}

static int find_salvage(struct rctx *c, struct meta_bm *bm, struct scan *s, const uint64_t *tops,
			uint64_t ntops, const struct meta_thin_sb *sb, bool sm_usable)
{
	uint64_t nr = meta_bm_nr_blocks(bm), ncand = 0;
	uint8_t *reach = calloc(nr ? nr : 1, 1);
	uint64_t *cand = malloc((s->n ? s->n : 1) * sizeof(uint64_t));
	if (!reach || !cand) {
		free(reach);
		free(cand);
		return META_E_NOMEM;
	}
	if (mark_reachable(bm, tops, ntops, reach, nr)) {
		free(reach);
		free(cand);
		return META_E_NOMEM;
	}
	/* candidate leaves: valid mapping leaves nothing live reaches, still counted in use */
	for (uint64_t i = 0; i < s->n; i++) {
		struct snode *sn = &s->v[i];
		uint32_t count = 1;
		if (!(sn->flags & META_NODE_LEAF) || sn->vs != 8 || !sn->nr || reach[sn->b])
			continue;
		if (!looks_like_mapping_leaf(bm, s, sn->b, meta_thin_nr_data_blocks(c->t)))
			continue;
		if (sm_usable &&
		    (meta_sm_get_count(bm, META_SM_METADATA, &sb->metadata_sm, sn->b, &count) || !count))
			continue;
		cand[ncand++] = i;
	}
	for (uint64_t k = 0; k < c->nlost; k++) {
		struct lost *l = &c->lost[k];
		for (uint64_t j = 0; j < ncand; j++) {
			struct snode *sn = &s->v[cand[j]];
			bool ambiguous = false;
			const void *node;
			struct salvage *sv;
			if (sn->first_key < l->lo || sn->last_key >= l->hi)
				continue;
			for (uint64_t q = 0; q < ncand && !ambiguous; q++) {
				struct snode *o = &s->v[cand[q]];
				if (q != j && o->first_key <= sn->last_key && sn->first_key <= o->last_key)
					ambiguous = true;
			}
			if (ambiguous || meta_bm_get(bm, sn->b, &meta_node_validator, &node))
				continue;
			sv = salvage_for(c, l->dev, true);
			if (!sv) {
				meta_bm_put(bm, node);
				break;
			}
			for (uint32_t e = 0; e < sn->nr; e++) {
				uint64_t v = meta_node_value64(node, e);
				if ((v >> 24) >= meta_thin_nr_data_blocks(c->t))
					continue;
				if (sv->n == sv->cap) {
					uint64_t cap = sv->cap ? sv->cap * 2 : 256;
					struct meta_thin_mapping *p = realloc(sv->m, cap * sizeof(*p));
					if (!p)
						break;
					sv->m = p;
					sv->cap = cap;
				}
				sv->m[sv->n].vblock = meta_node_key(node, e);
				sv->m[sv->n].data_block = v >> 24;
				sv->m[sv->n].time = (uint32_t)(v & 0xffffff);
				sv->n++;
				c->st->nr_salvaged++;
			}
			meta_bm_put(bm, node);
		}
	}
	for (uint64_t i = 0; i < c->nsv; i++)
		if (c->sv[i].n)
			qsort(c->sv[i].m, c->sv[i].n, sizeof(c->sv[i].m[0]), cmp_map);
	free(reach);
	free(cand);
	return META_OK;
}

/* ---- the filter between the walker and the restorer ------------------------------ */

static int flush_salvage(struct rctx *c, uint64_t below)
{
	while (c->cur && c->cur_pos < c->cur->n && c->cur->m[c->cur_pos].vblock < below) {
		const struct meta_thin_mapping *m = &c->cur->m[c->cur_pos++];
		int r = c->out.ops->single_map(c->out.ctx, m->vblock, m->data_block, m->time);
		if (r)
			return r;
	}
	return 0;
}

static int f_begin_sb(void *ctx, const struct meta_thin_xml_sb *sb)
{
	struct rctx *c = ctx;
	struct meta_thin_xml_sb s = *sb;
	if (c->sb_sent)
		return 0;
	c->sb_sent = true;
	if (c->fix_time)
		s.time = c->sb_time;
	s.flags = 0; /* a repaired pool does not need checking */
	return c->out.ops->begin_superblock(c->out.ctx, &s);
}

static int f_end_sb(void *ctx)
{
	struct rctx *c = ctx;
	return c->last_pass ? c->out.ops->end_superblock(c->out.ctx) : 0;
}

static int f_begin_dev(void *ctx, const struct meta_thin_details *d)
{
	struct rctx *c = ctx;
	c->cur = salvage_for(c, d->dev_id, false);
	c->cur_pos = 0;
	c->st->nr_devices++;
	return c->out.ops->begin_device(c->out.ctx, d);
}

static int f_end_dev(void *ctx)
{
	struct rctx *c = ctx;
	int r = flush_salvage(c, UINT64_MAX);
	c->cur = NULL;
	return r ? r : c->out.ops->end_device(c->out.ctx);
}

static int f_begin_def(void *ctx, const char *name)
{
	struct rctx *c = ctx;
	return c->out.ops->begin_def(c->out.ctx, name);
}

static int f_end_def(void *ctx)
{
	struct rctx *c = ctx;
	return c->out.ops->end_def(c->out.ctx);
}

static int f_ref(void *ctx, const char *name)
{
	struct rctx *c = ctx;
	return c->out.ops->ref(c->out.ctx, name);
}

static int f_range(void *ctx, uint64_t ob, uint64_t db, uint32_t time, uint64_t len)
{
	struct rctx *c = ctx;
	int r = flush_salvage(c, ob);
	c->st->nr_mappings += len;
	return r ? r : c->out.ops->range_map(c->out.ctx, ob, db, time, len);
}

static int f_single(void *ctx, uint64_t ob, uint64_t db, uint32_t time)
{
	struct rctx *c = ctx;
	int r = flush_salvage(c, ob);
	c->st->nr_mappings++;
	return r ? r : c->out.ops->single_map(c->out.ctx, ob, db, time);
}

static const struct meta_thin_emitter_ops filter_ops = {
	f_begin_sb, f_end_sb, f_begin_dev, f_end_dev, f_begin_def, f_end_def, f_ref, f_range, f_single,
};

static int null_begin_sb(void *ctx, const struct meta_thin_xml_sb *sb) { return 0; }
static int null_0(void *ctx) { return 0; }
static int null_dev(void *ctx, const struct meta_thin_details *d) { return 0; }
static int null_name(void *ctx, const char *n) { return 0; }
static int null_range(void *ctx, uint64_t a, uint64_t b, uint32_t t, uint64_t l) { return 0; }
static int null_single(void *ctx, uint64_t a, uint64_t b, uint32_t t) { return 0; }
static const struct meta_thin_emitter_ops null_ops = {
	null_begin_sb, null_0, null_dev, null_0, null_name, null_0, null_name, null_range, null_single,
};

/* ---- sources: top-level trees and the devices taken from each ---------------- */

struct src {
	uint64_t root;
	uint64_t *devs; /* NULL: every device */
	uint64_t n;
};

struct cand {
	uint64_t b, n;
};

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return x->b > y->b ? -1 : x->b < y->b;
}

static int cmp_u64v(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int add_src(struct src **v, uint64_t *n, uint64_t root, uint64_t *devs, uint64_t ndevs)
{
	struct src *p = realloc(*v, (*n + 1) * sizeof(*p));
	if (!p)
		return META_E_NOMEM;
	*v = p;
	p[*n].root = root;
	p[*n].devs = devs;
	p[*n].n = ndevs;
	(*n)++;
	return META_OK;
}

struct keys_ctx {
	uint64_t *k;
	size_t n, cap;
	int nomem;
};

static int keys_leaf(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	struct keys_ctx *k = ctx;
	for (uint32_t i = 0; i < ni->nr_entries; i++) {
		if (meta_grow((void **)&k->k, &k->cap, k->n + 1, sizeof(*k->k))) {
			k->nomem = 1;
			return META_E_NOMEM;
		}
		k->k[k->n++] = meta_node_key(node, i);
	}
	return 0;
}

/* Accept candidates, largest first, whose device ids are all new. */
static int pick_sources(struct meta_bm *bm, const struct cand *cands, uint64_t ncand,
			struct src **srcs, uint64_t *nsrc)
{
	uint64_t *have = NULL, nhave = 0;
	int r = META_OK;
	for (uint64_t i = 0; i < ncand && !r; i++) {
		struct keys_ctx k = {0};
		struct meta_btree_walk_ops ops = {keys_leaf, NULL};
		bool clash = false;
		meta_btree_walk(bm, cands[i].b, 8, &ops, &k);
		if (k.nomem) {
			free(k.k);
			r = META_E_NOMEM;
			break;
		}
		for (uint64_t j = 0; j < k.n && !clash && nhave; j++)
			clash = bsearch(&k.k[j], have, nhave, sizeof(uint64_t), cmp_u64v) != NULL;
		if (clash || !k.n) {
			free(k.k);
			continue;
		}
		{
			uint64_t *p = realloc(have, (nhave + k.n) * sizeof(*p));
			if (!p) {
				free(k.k);
				r = META_E_NOMEM;
				break;
			}
			have = p;
			memcpy(have + nhave, k.k, k.n * sizeof(uint64_t));
			nhave += k.n;
			qsort(have, nhave, sizeof(uint64_t), cmp_u64v);
		}
		r = add_src(srcs, nsrc, cands[i].b, k.k, k.n);
		if (r)
			free(k.k);
	}
	/* one source: take every device (those only in the details tree too) */
	if (!r && *nsrc == 1) {
		free((*srcs)[0].devs);
		(*srcs)[0].devs = NULL;
		(*srcs)[0].n = 0;
	}
	free(have);
	return r;
}

/* A last source for the devices of the details tree that no source has. */
static int add_leftovers(struct meta_thin *t, struct src **srcs, uint64_t *nsrc)
{
	struct meta_thin_details *d;
	uint64_t nd, nl = 0, *left;
	int r = meta_thin_read_details(t, &d, &nd, NULL, NULL);
	if (r)
		return META_OK; /* unreadable details: nothing to add */
	left = malloc((nd ? nd : 1) * sizeof(*left));
	if (!left) {
		free(d);
		return META_E_NOMEM;
	}
	for (uint64_t i = 0; i < nd; i++) {
		bool found = false;
		for (uint64_t j = 0; j < *nsrc && !found; j++)
			found = (*srcs)[j].n && bsearch(&d[i].dev_id, (*srcs)[j].devs, (*srcs)[j].n,
							 sizeof(uint64_t), cmp_u64v) != NULL;
		if (!found)
			left[nl++] = d[i].dev_id;
	}
	free(d);
	if (!nl) {
		free(left);
		return META_OK;
	}
	r = add_src(srcs, nsrc, (*srcs)[0].root, left, nl);
	if (r)
		free(left);
	return r;
}

/* Run the walker over every source in turn (each with its own device list). */
static int run_sources(const char *in, const struct meta_thin_open_opts *base,
		       const struct src *srcs, uint64_t nsrc, struct meta_thin_dump_opts *dopts,
		       const struct meta_thin_emitter *e, struct rctx *c)
{
	int r = META_OK;
	for (uint64_t i = 0; i < nsrc && !r; i++) {
		struct meta_thin_open_opts oo = *base;
		struct meta_thin *t;
		/* the caller's open holds the device exclusively: a second O_EXCL open is EBUSY */
		oo.flags &= ~(unsigned)META_THIN_OPEN_EXCL;
		oo.override_mapping_root = srcs[i].root;
		r = meta_thin_open(in, &oo, &t);
		if (r)
			break;
		dopts->dev_ids = srcs[i].devs;
		dopts->nr_dev_ids = srcs[i].devs ? srcs[i].n : 0;
		c->last_pass = i + 1 == nsrc;
		r = meta_thin_dump(t, dopts, e, NULL);
		meta_thin_close(t);
	}
	dopts->dev_ids = NULL;
	dopts->nr_dev_ids = 0;
	return r;
}

/* ---- pairing a top-level tree with a details tree (the newest consistent pair) ---- */

/* What a tree holds: its keys, mappings per time, the highest mapped data block. */
struct tinfo {
	uint64_t b;
	uint64_t *keys, nkeys;
	uint64_t nr_mappings, highest; /* highest: data block + 1 (0: none) */
	uint32_t *times;               /* distinct mapping times, ascending */
	uint64_t *counts;              /* mappings per time */
	uint32_t ntimes;
	uint64_t max_tid;              /* details: highest device transaction id */
	uint32_t age;                  /* details: newest creation/snapshot time */
	bool has_tid;
	int nomem;
};

static void tinfo_free(struct tinfo *i)
{
	free(i->keys);
	free(i->times);
	free(i->counts);
}

static int tinfo_add_time(struct tinfo *i, uint32_t t, uint64_t n)
{
	uint32_t lo = 0, hi = i->ntimes;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (i->times[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < i->ntimes && i->times[lo] == t) {
		i->counts[lo] += n;
		return 0;
	}
	if (!(i->ntimes & (i->ntimes + 1)) || !i->ntimes) {
		/* grow at 0, 1, 3, 7, ... entries: capacity the next power of two */
		uint32_t cap = i->ntimes ? (i->ntimes + 1) * 2 : 2;
		uint32_t *t2 = realloc(i->times, cap * sizeof(*t2));
		uint64_t *c2;
		if (!t2)
			return META_E_NOMEM;
		i->times = t2;
		c2 = realloc(i->counts, cap * sizeof(*c2));
		if (!c2)
			return META_E_NOMEM;
		i->counts = c2;
	}
	memmove(i->times + lo + 1, i->times + lo, (i->ntimes - lo) * sizeof(*i->times));
	memmove(i->counts + lo + 1, i->counts + lo, (i->ntimes - lo) * sizeof(*i->counts));
	i->times[lo] = t;
	i->counts[lo] = n;
	i->ntimes++;
	return 0;
}

static int map_leaf_info(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	struct tinfo *i = ctx;
	(void)b;
	for (uint32_t e = 0; e < ni->nr_entries; e++) {
		uint64_t v = meta_node_value64(node, e);
		if ((v >> 24) + 1 > i->highest)
			i->highest = (v >> 24) + 1;
		if (tinfo_add_time(i, (uint32_t)(v & 0xffffff), 1)) {
			i->nomem = 1;
			return META_E_NOMEM;
		}
	}
	i->nr_mappings += ni->nr_entries;
	return 0;
}

static int top_leaf_info(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	struct keys_ctx *k = ctx;
	(void)b;
	for (uint32_t e = 0; e < ni->nr_entries; e++) {
		if (meta_grow((void **)&k->k, &k->cap, k->n + 2, sizeof(*k->k))) {
			k->nomem = 1;
			return META_E_NOMEM;
		}
		k->k[k->n++] = meta_node_key(node, e);
		k->k[k->n++] = meta_node_value64(node, e);
	}
	return 0;
}

static int details_leaf_info(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	struct tinfo *i = ctx;
	uint64_t *p = realloc(i->keys, (i->nkeys + ni->nr_entries + 1) * sizeof(*p));
	(void)b;
	if (!p) {
		i->nomem = 1;
		return META_E_NOMEM;
	}
	i->keys = p;
	for (uint32_t e = 0; e < ni->nr_entries; e++) {
		const uint8_t *v = meta_node_value(node, e);
		uint64_t tid = get_le64p(v + 8);
		uint32_t ct = get_le32p(v + 16), stime = get_le32p(v + 20);
		i->keys[i->nkeys++] = meta_node_key(node, e);
		i->nr_mappings += get_le64p(v);
		if (!i->has_tid || tid > i->max_tid)
			i->max_tid = tid;
		i->has_tid = true;
		if (ct > i->age)
			i->age = ct;
		if (stime > i->age)
			i->age = stime;
	}
	return 0;
}

/* Mapping trees are shared between candidate top-level trees: each is read once. */
struct memo {
	uint64_t root;
	struct tinfo info;
};

struct pairing {
	struct meta_bm *bm;
	struct memo *m;
	uint64_t nm;
	size_t capm;
	struct meta_hidx index; /* memos by root */
	uint64_t nr_blocks;
};

static uint64_t memo_root(const void *ctx, uint32_t i)
{
	return ((const struct pairing *)ctx)->m[i].root;
}

static int mapping_info(struct pairing *p, uint64_t root, const struct tinfo **out)
{
	struct meta_btree_walk_ops ops = {map_leaf_info, NULL};
	struct tinfo *i;
	int64_t k;
	if (root >= p->nr_blocks)
		return META_E_NOTFOUND;
	k = meta_hidx_find(&p->index, root, memo_root, p);
	if (k >= 0) {
		*out = &p->m[k].info;
		return 0;
	}
	if (meta_grow((void **)&p->m, &p->capm, p->nm + 1, sizeof(*p->m)))
		return META_E_NOMEM;
	i = &p->m[p->nm].info;
	memset(&p->m[p->nm], 0, sizeof(p->m[0]));
	p->m[p->nm].root = root;
	meta_btree_walk(p->bm, root, 8, &ops, i);
	if (i->nomem) {
		tinfo_free(i);
		return META_E_NOMEM;
	}
	if (meta_hidx_add(&p->index, (uint32_t)p->nm, memo_root, p)) {
		tinfo_free(i);
		return META_E_NOMEM;
	}
	p->nm++;
	*out = i;
	return 0;
}

static int top_info(struct pairing *p, uint64_t b, struct tinfo *ti)
{
	struct keys_ctx k = {0};
	struct meta_btree_walk_ops ops = {top_leaf_info, NULL};
	int r = 0;
	memset(ti, 0, sizeof(*ti));
	ti->b = b;
	meta_btree_walk(p->bm, b, 8, &ops, &k);
	if (k.nomem) {
		free(k.k);
		return META_E_NOMEM;
	}
	ti->keys = malloc((k.n / 2 + 1) * sizeof(uint64_t));
	if (!ti->keys) {
		free(k.k);
		return META_E_NOMEM;
	}
	for (uint64_t e = 0; e + 1 < k.n && !r; e += 2) {
		const struct tinfo *mi;
		ti->keys[ti->nkeys++] = k.k[e];
		r = mapping_info(p, k.k[e + 1], &mi);
		if (r == META_E_NOTFOUND) {
			r = 0;
			continue;
		}
		if (r)
			break;
		ti->nr_mappings += mi->nr_mappings;
		if (mi->highest > ti->highest)
			ti->highest = mi->highest;
		for (uint32_t t = 0; t < mi->ntimes && !r; t++)
			r = tinfo_add_time(ti, mi->times[t], mi->counts[t]);
	}
	free(k.k);
	return r;
}

/* Newest first: compares the mappings per time from the newest time down (as tpt 1.x). */
static int cmp_top(const void *a, const void *b)
{
	const struct tinfo *x = a, *y = b;
	uint32_t i = x->ntimes, j = y->ntimes;
	while (i && j) {
		i--, j--;
		if (x->times[i] != y->times[j])
			return x->times[i] > y->times[j] ? -1 : 1;
		if (x->counts[i] != y->counts[j])
			return x->counts[i] > y->counts[j] ? -1 : 1;
	}
	if (i != j)
		return i < j ? -1 : 1; /* the same newest history, one has less before: first */
	return x->b > y->b ? -1 : x->b < y->b;
}

static bool same_keys(const struct tinfo *x, const struct tinfo *y)
{
	return x->nkeys == y->nkeys && (!x->nkeys || !memcmp(x->keys, y->keys, x->nkeys * sizeof(uint64_t)));
}

/* Details candidates tied for a top-level tree: the highest transaction id, then the
 * newest time, then the higher block. */
static bool better_details(const struct tinfo *x, const struct tinfo *y)
{
	if (!y)
		return true;
	if (x->max_tid != y->max_tid)
		return x->max_tid > y->max_tid;
	if (x->age != y->age)
		return x->age > y->age;
	return x->b > y->b;
}

/*
 * Pick the newest top-level tree that has a details tree with the same device ids
 * and (first choice) as many mapped blocks as its mapping trees hold.  tops and dets
 * are the candidate roots.  fr receives the pair (roots 0 when none) and the values
 * derived from it (time, transaction id, number of data blocks).  any: without an
 * agreeing pair, take the first top-level tree and the best details tree anyway.
 */
static int pair_roots(struct meta_bm *bm, const uint64_t *tops, uint64_t ntops, const uint64_t *dets,
		      uint64_t ndets, bool any, struct meta_thin_found_roots *fr)
{
	struct pairing p;
	struct tinfo *ti = NULL, *di = NULL;
	const struct tinfo *bt = NULL, *bd = NULL;
	int r = 0;
	memset(&p, 0, sizeof(p));
	memset(fr, 0, sizeof(*fr));
	p.bm = bm;
	p.nr_blocks = meta_bm_nr_blocks(bm);
	meta_hidx_init(&p.index);
	ti = calloc(ntops ? ntops : 1, sizeof(*ti));
	di = calloc(ndets ? ndets : 1, sizeof(*di));
	if (!ti || !di) {
		r = META_E_NOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < ntops && !r; i++)
		r = top_info(&p, tops[i], &ti[i]);
	for (uint64_t i = 0; i < ndets && !r; i++) {
		struct meta_btree_walk_ops ops = {details_leaf_info, NULL};
		di[i].b = dets[i];
		meta_btree_walk(bm, dets[i], META_THIN_DETAILS_VALUE_SIZE, &ops, &di[i]);
		if (di[i].nomem)
			r = META_E_NOMEM;
	}
	if (r)
		goto out;
	qsort(ti, ntops, sizeof(*ti), cmp_top);
	/* pass 0: ids and mapped blocks agree; pass 1: the ids agree; pass 2 (any): the
	 * first of each, only to derive the values */
	for (int pass = 0; pass < (any ? 3 : 2) && !bt; pass++)
		for (uint64_t i = 0; i < ntops && !bt; i++) {
			if (!ti[i].nkeys && pass < 2)
				continue;
			for (uint64_t j = 0; j < ndets; j++)
				if ((pass == 2 || same_keys(&ti[i], &di[j])) &&
				    (pass || ti[i].nr_mappings == di[j].nr_mappings) &&
				    better_details(&di[j], bd))
					bd = &di[j];
			if (bd || pass == 2)
				bt = &ti[i];
		}
	if (bt) {
		uint32_t age = bt->ntimes ? bt->times[bt->ntimes - 1] : 0;
		fr->mapping_root = bt->b;
		fr->details_root = bd ? bd->b : 0;
		fr->time = bd && bd->age > age ? bd->age : age;
		fr->transaction_id = bd && bd->has_tid ? bd->max_tid + 1 : 0;
		fr->nr_data_blocks = bt->highest ? bt->highest : 1;
	}
out:
	for (uint64_t i = 0; ti && i < ntops; i++)
		tinfo_free(&ti[i]);
	for (uint64_t i = 0; di && i < ndets; i++)
		tinfo_free(&di[i]);
	for (uint64_t i = 0; i < p.nm; i++)
		tinfo_free(&p.m[i].info);
	free(ti);
	free(di);
	free(p.m);
	meta_hidx_free(&p.index);
	return r;
}

/* ---- driver ---------------------------------------------------------------------- */

static void set_err(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static bool tree_is(struct meta_bm *bm, uint64_t root, enum tree_kind k)
{
	return root && classify(bm, NULL, meta_bm_nr_blocks(bm), root) == k;
}

/* ---- verification of the output ------------------------------------------------ */

struct vctx {
	bool any;
	struct meta_damage first;
};

static void verify_damage(void *ctx, const struct meta_damage *d)
{
	struct vctx *v = ctx;
	if (v->any)
		return;
	v->any = true;
	v->first = *d;
	v->first.detail = NULL;
}

/* Make the output unusable: a zeroed superblock is no pool to activate. */
static void invalidate_output(const char *out)
{
	struct meta_io *io;
	void *z = aligned_alloc(META_BLOCK_SIZE, META_BLOCK_SIZE);
	if (z && !meta_io_open(out, META_IO_WRITE, &io)) {
		memset(z, 0, META_BLOCK_SIZE);
		if (!meta_io_pwrite(io, z, META_BLOCK_SIZE, 0))
			meta_io_flush(io);
		meta_io_close(io);
	}
	free(z);
}

/* The full check over what was written (see thin_repair.h); *mapped (may be NULL)
 * receives the sum of the devices' mapped_blocks (shared mappings once per device),
 * *kind (may be NULL) the first damage found (-1: none, or the output does not open). */
static int verify(const char *out, char *err, size_t errlen, uint64_t *mapped, int *kind)
{
	struct meta_thin_open_opts oo;
	struct meta_thin_check_opts co;
	struct meta_thin_check_result res;
	struct meta_thin *t;
	struct vctx v;
	int r;
	memset(&oo, 0, sizeof(oo));
	memset(&co, 0, sizeof(co));
	memset(&v, 0, sizeof(v));
	if (kind)
		*kind = -1;
	r = meta_thin_open(out, &oo, &t);
	if (r == META_E_NOMEM || r == META_E_IO) {
		set_err(err, errlen, "%s: reading the repaired metadata back: %s", out,
			meta_strerror(r));
		return r;
	}
	if (r) {
		set_err(err, errlen, "%s: the repaired metadata does not open (%s): it was not "
			"written correctly; keep the original metadata and report this bug", out,
			meta_strerror(r));
		invalidate_output(out);
		return META_E_CORRUPT;
	}
	co.damage = verify_damage;
	co.damage_ctx = &v;
	r = meta_thin_check(t, &co, &res);
	if (!r && mapped && res.worst < 0 && !v.any) {
		struct meta_thin_details *d;
		uint64_t nd;
		*mapped = 0;
		r = meta_thin_read_details(t, &d, &nd, NULL, NULL);
		for (uint64_t i = 0; !r && i < nd; i++)
			*mapped += d[i].mapped_blocks;
		if (!r)
			free(d);
	}
	meta_thin_close(t);
	if (r) {
		set_err(err, errlen, "%s: checking the repaired metadata: %s", out, meta_strerror(r));
		return r;
	}
	if (res.worst < 0 && !v.any)
		return META_OK;
	if (kind && v.any)
		*kind = (int)v.first.kind;
	set_err(err, errlen, "%s: the repaired metadata fails its check (%s%s%" PRIu64 "): it was "
		"invalidated; keep the original metadata and report this bug", out,
		meta_damage_name(v.first.kind),
		v.first.block != UINT64_MAX ? " at block " : ", block ",
		v.first.block != UINT64_MAX ? v.first.block : v.first.begin);
	invalidate_output(out);
	return META_E_CORRUPT;
}

int meta_thin_find_roots(struct meta_thin *t, struct meta_thin_found_roots *fr)
{
	struct meta_bm *bm = meta_thin_bm(t);
	struct scan s;
	uint64_t *tops = NULL, *dets = NULL, ntops = 0, ndets = 0;
	int r;
	memset(fr, 0, sizeof(*fr));
	r = do_scan(bm, &s);
	if (r) {
		scan_free(&s);
		return r;
	}
	tops = malloc((s.n ? s.n : 1) * sizeof(*tops));
	dets = malloc((s.n ? s.n : 1) * sizeof(*dets));
	if (!tops || !dets) {
		r = META_E_NOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < s.n; i++) {
		enum tree_kind k;
		if (s.referenced[s.v[i].b])
			continue;
		k = classify(bm, s.is_node, s.nr_blocks, s.v[i].b);
		if (k == T_TOP)
			tops[ntops++] = s.v[i].b;
		else if (k == T_DETAILS)
			dets[ndets++] = s.v[i].b;
	}
	r = pair_roots(bm, tops, ntops, dets, ndets, false, fr);
	if (!r && !fr->mapping_root)
		r = META_E_NOTFOUND;
out:
	free(tops);
	free(dets);
	scan_free(&s);
	return r;
}

int meta_thin_repair_verify(const char *path, char *err, size_t errlen)
{
	return verify(path, err, errlen, NULL, NULL);
}

int meta_thin_repair(const char *in, const char *out, const struct meta_thin_repair_opts *o,
		     struct meta_thin_repair_stats *st, char *err, size_t errlen)
{
	struct meta_thin_open_opts oo;
	struct meta_thin *t = NULL;
	struct meta_bm *bm;
	struct meta_thin_sb sb;
	struct scan s;
	bool sb_ok, have_scan = false, paired = false;
	struct meta_thin_found_roots found;
	uint64_t top = 0, details = 0;
	struct rctx c;
	struct meta_thin_dump_opts dopts;
	struct meta_thin_emitter fe, ne = {&null_ops, NULL};
	struct meta_thin_restorer *rs = NULL;
	struct meta_thin_restore_opts ro;
	struct src *srcs = NULL;
	struct cand *cands = NULL;
	uint64_t nsrc = 0, ncand = 0;
	int r = META_OK;

	memset(st, 0, sizeof(*st));
	memset(&c, 0, sizeof(c));
	memset(&s, 0, sizeof(s));
	memset(&found, 0, sizeof(found));
	if (err && errlen)
		err[0] = 0;
	memset(&oo, 0, sizeof(oo));
	oo.flags = META_THIN_OPEN_NO_SB_CHECK | META_THIN_OPEN_EXCL;
	oo.cache_blocks = 256; /* the walks read in batches; the cache holds internal nodes */
	r = meta_thin_open(in, &oo, &t);
	if (r) {
		set_err(err, errlen, "%s: %s", in, meta_strerror(r));
		return r;
	}
	bm = meta_thin_bm(t);
	{
		const void *d;
		sb_ok = meta_bm_get(bm, 0, &meta_thin_sb_validator, &d) == META_OK;
		if (sb_ok)
			meta_bm_put(bm, d);
	}
	sb = *meta_thin_live_sb(t);
	st->used_superblock = sb_ok;
	if (!sb_ok && !o->out.set_data_block_size) {
		set_err(err, errlen,
			"data block size needs to be provided due to corruption in the superblock: "
			"give --data-block-size (the pool's chunk size in sectors, from lvm's "
			"metadata: lvs -o+chunk_size)");
		meta_thin_close(t);
		return META_E_INVAL;
	}
	if (sb_ok && tree_is(bm, sb.data_mapping_root, T_TOP))
		top = sb.data_mapping_root;
	if (sb_ok && tree_is(bm, sb.device_details_root, T_DETAILS))
		details = sb.device_details_root;
	if (!top || !details) {
		uint64_t best_det = 0, best_det_n = 0, *dets = NULL, ndets = 0;
		r = do_scan(bm, &s);
		have_scan = true; /* what it allocated is freed also on failure */
		if (r) {
			set_err(err, errlen, "scanning %s: %s", in, meta_strerror(r));
			goto out;
		}
		st->scanned = true;
		for (uint64_t i = 0; i < s.n; i++) {
			enum tree_kind k;
			uint64_t n;
			if (s.referenced[s.v[i].b])
				continue;
			k = classify(bm, s.is_node, s.nr_blocks, s.v[i].b);
			if (k == T_TOP && !top) {
				struct cand *p = realloc(cands, (ncand + 1) * sizeof(*p));
				if (!p) {
					r = META_E_NOMEM;
					goto out;
				}
				cands = p;
				cands[ncand].b = s.v[i].b;
				cands[ncand].n = count_entries(bm, s.v[i].b, 8);
				ncand++;
			} else if (k == T_DETAILS && !details) {
				uint64_t *p = realloc(dets, (ndets + 1) * sizeof(*p));
				if (!p) {
					free(dets);
					r = META_E_NOMEM;
					goto out;
				}
				dets = p;
				dets[ndets++] = s.v[i].b;
				n = count_entries(bm, s.v[i].b, META_THIN_DETAILS_VALUE_SIZE);
				if (n > best_det_n || (n == best_det_n && s.v[i].b > best_det))
					best_det = s.v[i].b, best_det_n = n;
			}
		}
		/* stale copies of both trees stay in freed blocks of a pool the kernel wrote:
		 * the newest pair that agrees on its device ids first */
		{
			uint64_t *tb = malloc((ncand + 1) * sizeof(*tb));
			if (!tb) {
				free(dets);
				r = META_E_NOMEM;
				goto out;
			}
			for (uint64_t i = 0; i < ncand; i++)
				tb[i] = cands[i].b;
			if (top)
				tb[0] = top;
			r = pair_roots(bm, tb, top ? 1 : ncand, details ? &details : dets,
				       details ? 1 : ndets, false, &found);
			free(tb);
		}
		free(dets);
		if (r) {
			set_err(err, errlen, "scanning %s: %s", in, meta_strerror(r));
			goto out;
		}
		if (found.mapping_root) {
			top = found.mapping_root;
			details = found.details_root;
			paired = true;
		}
		if (!details)
			details = best_det;
	}
	if (top) {
		r = add_src(&srcs, &nsrc, top, NULL, 0);
	} else if (ncand) {
		/* the largest candidate first; others join when their devices are all new
		 * (the leaves of a top-level tree whose root was lost are such candidates) */
		qsort(cands, ncand, sizeof(*cands), cmp_cand);
		r = pick_sources(bm, cands, ncand, &srcs, &nsrc);
	}
	if (r)
		goto out;
	if (!nsrc) {
		set_err(err, errlen, "no top-level mapping tree could be found in %s: the device trees "
			"cannot be matched to device ids, nothing can be repaired", in);
		r = META_E_NOTFOUND;
		invalidate_output(out);
		goto out;
	}
	top = srcs[0].root;
	st->mapping_root = top;
	st->details_root = details;
	meta_thin_close(t);
	t = NULL;
	memset(&oo, 0, sizeof(oo));
	oo.flags = META_THIN_OPEN_NO_SB_CHECK | META_THIN_OPEN_EXCL;
	oo.cache_blocks = 256; /* the walks read in batches; the cache holds internal nodes */
	oo.override_mapping_root = top;
	/* without a details tree the walker synthesises details from the mapping trees */
	oo.override_details_root = details ? details : top;
	r = meta_thin_open(in, &oo, &t);
	if (r) {
		set_err(err, errlen, "%s: %s", in, meta_strerror(r));
		goto out;
	}
	bm = meta_thin_bm(t);
	if (nsrc > 1 && details) {
		/* devices with details in no source: emitted (without mappings) by a last pass */
		r = add_leftovers(t, &srcs, &nsrc);
		if (r)
			goto out;
	}
	c.t = t;
	c.st = st;
	c.damage = o->damage;
	c.damage_ctx = o->damage_ctx;
	c.fix_time = !sb_ok;
	c.no_details = !details;
	c.top = top;
	if (!sb_ok && !paired) {
		/* the values the trees in use imply (no agreeing pair was found) */
		r = pair_roots(bm, &top, 1, details ? &details : NULL, details ? 1 : 0, true, &found);
		if (r) {
			set_err(err, errlen, "reading %s: %s", in, meta_strerror(r));
			goto out;
		}
	}
	if (!sb_ok)
		c.sb_time = found.time;
	memset(&dopts, 0, sizeof(dopts));
	dopts.flags = META_THIN_DUMP_REPAIR;
	dopts.set_transaction_id = o->out.set_transaction_id;
	dopts.transaction_id = o->out.transaction_id;
	dopts.set_data_block_size = o->out.set_data_block_size;
	dopts.data_block_size = o->out.data_block_size;
	dopts.set_nr_data_blocks = o->out.set_nr_data_blocks;
	dopts.nr_data_blocks = o->out.nr_data_blocks;
	if (!sb_ok && !dopts.set_transaction_id) {
		/* as tpt 1.x: the superblock's transaction id is one ahead of the devices' */
		dopts.set_transaction_id = true;
		dopts.transaction_id = found.transaction_id;
	}
	if (!sb_ok && !dopts.set_nr_data_blocks) {
		dopts.set_nr_data_blocks = true;
		dopts.nr_data_blocks = found.nr_data_blocks;
	}
	dopts.damage = pass1_damage;
	dopts.damage_ctx = &c;
	/* pass 1: what is lost */
	ne.ctx = &c;
	r = run_sources(in, &oo, srcs, nsrc, &dopts, &ne, &c);
	if (!r && c.nomem)
		r = META_E_NOMEM;
	if (r) {
		set_err(err, errlen, "reading %s: %s", in, meta_strerror(r));
		goto out;
	}
	if (c.nlost) {
		uint64_t roots[64];
		uint64_t nroots = nsrc < 64 ? nsrc : 64;
		if (!have_scan) {
			r = do_scan(bm, &s);
			have_scan = true;
			if (r) {
				set_err(err, errlen, "scanning %s: %s", in, meta_strerror(r));
				goto out;
			}
		}
		for (uint64_t i = 0; i < nroots; i++)
			roots[i] = srcs[i].root;
		r = find_salvage(&c, bm, &s, roots, nroots, &sb, sb_ok);
		if (r)
			goto out;
	}
	/* pass 2: write; shared subtrees stay shared (as defs) unless leaves are salvaged
	 * into a device (which needs every mapping of it in one ordered stream) or the
	 * devices come from several sources (def names must stay unique) */
	if (!c.nsv && nsrc == 1)
		dopts.flags |= META_THIN_DUMP_SHARED;
	ro = o->out;
	ro.set_transaction_id = ro.set_data_block_size = ro.set_nr_data_blocks = false;
	fe.ops = &filter_ops;
	fe.ctx = &c;
	dopts.damage = NULL;
	for (;;) {
		int kind = -1;
		r = meta_thin_restorer_create(out, &ro, &rs);
		if (r) {
			set_err(err, errlen, "%s: %s", out, meta_strerror(r));
			goto out;
		}
		c.out = meta_thin_restorer_emitter(rs);
		st->nr_devices = st->nr_mappings = 0;
		c.sb_sent = false;
		r = run_sources(in, &oo, srcs, nsrc, &dopts, &fe, &c);
		if (!r)
			r = meta_thin_restorer_commit(rs);
		if (r)
			set_err(err, errlen, "%s: %s", out,
				meta_thin_restorer_message(rs) ? meta_thin_restorer_message(rs)
							       : meta_strerror(r));
		st->nr_mappings += st->nr_salvaged;
		meta_thin_restorer_destroy(rs);
		rs = NULL;
		/* the proof; and the mappings per device (those in shared subtrees went by as refs) */
		if (!r)
			r = verify(out, err, errlen, &st->nr_mappings, &kind);
		/* shared subtrees are copied whole, shape included (an under-full shared leaf
		 * of a pool the kernel did not write is under-full again): once more, with
		 * every device's tree written whole */
		if (r != META_E_CORRUPT || !(dopts.flags & META_THIN_DUMP_SHARED))
			break;
		dopts.flags &= ~(unsigned)META_THIN_DUMP_SHARED;
		st->rewritten_unshared = true;
		st->unshared_reason = kind;
	}
	if (r == META_E_CORRUPT)
		st->check_failed = true;
out:
	for (uint64_t i = 0; i < nsrc; i++)
		free(srcs[i].devs);
	free(srcs);
	free(cands);
	meta_thin_restorer_destroy(rs);
	if (have_scan)
		scan_free(&s);
	for (uint64_t i = 0; i < c.nsv; i++)
		free(c.sv[i].m);
	free(c.sv);
	free(c.lost);
	meta_thin_close(t);
	return r;
}

/* SPDX-License-Identifier: GPL-2.0-only */
/* Thin-pool metadata walker driving an emitter (see include/libmeta/thin_dump.h). */
#include <libmeta/thin_dump.h>
#include <libmeta/btree.h>
#include <libmeta/error.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "base/util.h"
#include "pdata/ondisk.h"
#include "pdata/walk.h"

#define MAX_DEPTH 16          /* deeper than any valid tree (252^8 > 2^64) */
#define MAPPING_VALUE_SIZE 8u
#define KEY_END UINT64_MAX    /* exclusive upper bound of the key space */

struct ent {
	uint64_t block, lo, hi; /* node and the key range [lo, hi) it must cover */
};

struct vec {
	struct ent *v;
	size_t n, cap;
};

/* A subtree (leaf or internal node) emitted once as a def (shared mode). */
struct def_info {
	uint64_t block, first, last; /* first/last mapped key */
	uint64_t nr;                 /* mappings */
	bool ok;                     /* read cleanly: devices ref it */
};

enum stop_mode {
	STOP_NONE,   /* expand everything */
	STOP_SHARED, /* don't expand nodes reached from several devices */
	STOP_DEF,    /* don't expand nodes emitted as defs */
};

struct dumper {
	struct meta_thin *t;
	struct meta_bm *bm;
	uint64_t nr_blocks;
	const struct meta_thin_dump_opts *o;
	const struct meta_thin_emitter *e;
	bool repair;
	bool quiet;    /* don't report damage (pre-passes) */
	const char *tree; /* names the tree for libmeta's damage reports without detail */
	bool counting; /* count mappings, emit nothing */
	uint64_t nr_damage;  /* reported */
	uint64_t seen_damage; /* found, also while quiet */
	uint64_t cur_dev;
	uint64_t dev_mappings;
	/* current run */
	uint64_t r_ob, r_db, r_len;
	uint32_t r_time;
	/* level reading: the blocks of a level's entries (META_WALK_SKIP: not read) */
	struct meta_walker w;
	uint64_t *blocks;
	size_t cap_blocks;
	/* shared mode */
	bool shared_mode;
	enum stop_mode stop;
	uint32_t mark_devno;  /* expand_tree marks the nodes it reaches for this device (1-based) */
	uint32_t *last_dev;   /* per metadata block: 1 + index of the last device reaching it */
	uint8_t *shared_bits; /* per metadata block: reached from more than one device */
	uint8_t *def_bits;    /* per metadata block: top of a shared subtree */
	struct def_info *defs; /* sorted by block */
	size_t ndefs;
	uint64_t nr_defs;
	uint64_t first_key, last_key; /* of the mappings emitted by the last walk */
};

/* ---- damage ---------------------------------------------------------------- */

static int report(struct dumper *d, enum meta_damage_kind k, uint64_t block, uint64_t lo,
		  uint64_t hi, const char *detail)
{
	struct meta_damage dm;
	if (meta_damage_default_severity(k) < META_SEV_FATAL)
		return META_OK;
	d->seen_damage++;
	if (!d->quiet) {
		d->nr_damage++;
		if (d->o->damage) {
			dm = meta_damage_make(k, block, d->cur_dev, lo, hi, 0, detail ? detail : d->tree);
			d->o->damage(d->o->damage_ctx, &dm);
		}
	}
	return d->repair ? META_OK : META_E_CORRUPT;
}

/* Callback for libmeta checkers: forward fatal damage, adding the current device. */
static void damage_cb(void *ctx, const struct meta_damage *dm)
{
	struct dumper *d = ctx;
	struct meta_damage c;
	if (dm->severity < META_SEV_FATAL)
		return;
	d->seen_damage++;
	if (d->quiet)
		return;
	d->nr_damage++;
	if (!d->o->damage)
		return;
	c = *dm;
	if (c.dev_id == UINT64_MAX)
		c.dev_id = d->cur_dev;
	if (!c.detail)
		c.detail = d->tree;
	d->o->damage(d->o->damage_ctx, &c);
}


/*
 * The walker's verdict on a node handed over with err (lost: the subtree's range),
 * or checked against its parent: true when it can be used.
 */
static bool node_ok(struct dumper *d, const void *node, int err, const struct ent *en, bool is_root)
{
	return meta_walk_verdict(node, err, en->block, MAPPING_VALUE_SIZE, en->lo, en->hi, is_root,
				 NULL, damage_cb, d) < META_SEV_FATAL;
}

/* What a walk does after a node it cannot use: stop, unless repairing. */
static int node_bad(const struct dumper *d)
{
	return d->repair ? META_OK : META_E_CORRUPT;
}

/* ---- vectors --------------------------------------------------------------- */

static int vec_push(struct vec *v, uint64_t block, uint64_t lo, uint64_t hi)
{
	if (meta_grow((void **)&v->v, &v->cap, v->n + 1, sizeof(*v->v)))
		return META_E_NOMEM;
	v->v[v->n].block = block;
	v->v[v->n].lo = lo;
	v->v[v->n].hi = hi;
	v->n++;
	return META_OK;
}

/* ---- emitting mappings ----------------------------------------------------- */

static int flush_run(struct dumper *d)
{
	int r = META_OK;
	if (!d->r_len || d->counting) {
		d->r_len = 0;
		return META_OK;
	}
	if (d->r_len == 1)
		r = d->e->ops->single_map(d->e->ctx, d->r_ob, d->r_db, d->r_time);
	else
		r = d->e->ops->range_map(d->e->ctx, d->r_ob, d->r_db, d->r_time, d->r_len);
	d->r_len = 0;
	return r;
}

/* Emit the mappings of a checked leaf, merging runs across leaves. */
static int emit_leaf(struct dumper *d, const void *node)
{
	const struct disk_node_header *h = node;
	uint32_t nr = le32_get(h->nr_entries), max = le32_get(h->max_entries);
	const uint8_t *keys = (const uint8_t *)(h + 1);
	const uint8_t *vals = keys + 8u * max;
	uint64_t ob = d->r_ob, db = d->r_db, len = d->r_len;
	uint32_t tm = d->r_time;
	int r;

	d->dev_mappings += nr;
	if (nr) {
		if (d->first_key == UINT64_MAX)
			d->first_key = get_le64p(keys);
		d->last_key = get_le64p(keys + 8u * (nr - 1));
	}
	if (d->counting)
		return META_OK;
	for (uint32_t i = 0; i < nr; i++) {
		uint64_t vb = get_le64p(keys + 8u * i);
		uint64_t v = get_le64p(vals + 8u * i);
		uint64_t b = v >> 24;
		uint32_t t = (uint32_t)(v & 0xffffffu);
		if (len && vb == ob + len && b == db + len && t == tm) {
			len++;
			continue;
		}
		if (len) {
			if (len == 1)
				r = d->e->ops->single_map(d->e->ctx, ob, db, tm);
			else
				r = d->e->ops->range_map(d->e->ctx, ob, db, tm, len);
			if (r) {
				d->r_len = 0;
				return r;
			}
		}
		ob = vb;
		db = b;
		tm = t;
		len = 1;
	}
	d->r_ob = ob;
	d->r_db = db;
	d->r_len = len;
	d->r_time = tm;
	return META_OK;
}

/* ---- tree walking ---------------------------------------------------------- */

/* One level of a walk, read through the walker in entry (= key) order. */
struct pass {
	struct dumper *d;
	const struct ent *ents;
	struct vec *next;  /* expansion: children go here */
	bool root_level;
};

static int push_children(struct dumper *d, const void *node, const struct ent *en, struct vec *next)
{
	struct meta_node_info ni;
	int r;
	meta_node_get_info(node, &ni);
	for (uint32_t j = 0; j < ni.nr_entries; j++) {
		uint64_t lo = meta_node_key(node, j);
		uint64_t hi = j + 1 < ni.nr_entries ? meta_node_key(node, j + 1) : en->hi;
		if ((r = vec_push(next, meta_node_value64(node, j), lo, hi)))
			return r;
	}
	/* a level can never hold more nodes than the device has blocks: a cycle */
	if (next->n > d->nr_blocks)
		return META_E_RANGE;
	return META_OK;
}

static int expand_fn(void *ctx, size_t idx, const void *data, int err)
{
	struct pass *p = ctx;
	struct dumper *d = p->d;
	const struct ent *en = &p->ents[idx];
	struct meta_node_info ni;
	if (!data && !err) /* a def: kept as it is */
		return vec_push(p->next, en->block, en->lo, en->hi);
	if (err)
		return node_ok(d, data, err, en, p->root_level) ? META_OK : node_bad(d);
	meta_node_get_info(data, &ni);
	if (ni.flags & META_NODE_LEAF) /* shallower than expected: read again later */
		return vec_push(p->next, en->block, en->lo, en->hi);
	if (!node_ok(d, data, 0, en, p->root_level))
		return node_bad(d);
	return push_children(d, data, en, p->next);
}

static int emit_subtree(struct dumper *d, const struct ent *en, int depth, bool is_root);

static int emit_node(struct dumper *d, const struct ent *en, const void *data, int depth, bool is_root)
{
	struct meta_node_info ni;
	int r;
	meta_node_get_info(data, &ni);
	if (!node_ok(d, data, 0, en, is_root))
		return node_bad(d);
	if (ni.flags & META_NODE_LEAF)
		return emit_leaf(d, data);
	/* deeper than expected: walk it recursively */
	if (depth >= MAX_DEPTH)
		return report(d, META_DMG_NODE_DEPTH, en->block, en->lo, en->hi, "tree too deep");
	for (uint32_t j = 0; j < ni.nr_entries; j++) {
		struct ent c;
		c.block = meta_node_value64(data, j);
		c.lo = meta_node_key(data, j);
		c.hi = j + 1 < ni.nr_entries ? meta_node_key(data, j + 1) : en->hi;
		if ((r = emit_subtree(d, &c, depth + 1, false)))
			return r;
	}
	return META_OK;
}

static int emit_subtree(struct dumper *d, const struct ent *en, int depth, bool is_root)
{
	const void *data;
	int r = meta_bm_get(d->bm, en->block, &meta_node_validator, &data);
	if (r == META_E_NOMEM)
		return r;
	if (r)
		return node_ok(d, NULL, r, en, is_root) ? META_OK : node_bad(d);
	r = emit_node(d, en, data, depth, is_root);
	meta_bm_put(d->bm, data);
	return r;
}

static struct def_info *find_def(struct dumper *d, uint64_t b)
{
	size_t lo = 0, hi = d->ndefs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->defs[mid].block == b)
			return &d->defs[mid];
		if (d->defs[mid].block < b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool test_bit(const uint8_t *bits, uint64_t b)
{
	return (bits[b >> 3] >> (b & 7)) & 1;
}

static void set_bit(uint8_t *bits, uint64_t b)
{
	bits[b >> 3] |= (uint8_t)(1u << (b & 7));
}

static bool is_shared(const struct dumper *d, uint64_t b)
{
	return d->shared_bits && b < d->nr_blocks && test_bit(d->shared_bits, b);
}

/* Is the subtree at this entry emitted as a ref to its def? */
static bool use_ref(struct dumper *d, const struct ent *en)
{
	struct def_info *di;
	if (!d->def_bits || en->block >= d->nr_blocks || !test_bit(d->def_bits, en->block))
		return false;
	di = find_def(d, en->block);
	return di && di->ok;
}

/* Does expansion stop at (not read) this entry? */
static bool stops_at(struct dumper *d, const struct ent *en)
{
	switch (d->stop) {
	case STOP_SHARED:
		return is_shared(d, en->block);
	case STOP_DEF:
		return use_ref(d, en);
	default:
		return false;
	}
}

/* Is this leaf-level entry emitted as a ref (not read)? */
static bool refs_def(struct dumper *d, const struct ent *en)
{
	return d->stop == STOP_DEF && use_ref(d, en);
}

static int emit_ref(struct dumper *d, const struct ent *en)
{
	struct def_info *di = find_def(d, en->block);
	char name[24];
	int r;
	if (!di || !di->ok)
		return META_E_INVAL; /* caller checked */
	if (di->nr == 0)
		return META_OK;
	if (di->first < en->lo || di->last >= en->hi)
		return report(d, META_DMG_NODE_KEY_RANGE, en->block, en->lo, en->hi, "shared subtree");
	d->dev_mappings += di->nr;
	if (d->counting)
		return META_OK;
	if ((r = flush_run(d)))
		return r;
	snprintf(name, sizeof(name), "%" PRIu64, en->block);
	return d->e->ops->ref(d->e->ctx, name);
}

static int leaf_fn(void *ctx, size_t idx, const void *data, int err)
{
	struct pass *p = ctx;
	struct dumper *d = p->d;
	const struct ent *en = &p->ents[idx];
	if (!data && !err)
		return emit_ref(d, en);
	if (err)
		return node_ok(d, data, err, en, p->root_level) ? META_OK : node_bad(d);
	return emit_node(d, en, data, 0, p->root_level);
}

static uint64_t level_block(void *ctx, size_t i)
{
	const struct pass *p = ctx;
	return p->d->blocks[i];
}

/*
 * Read the level v through the walker, in entry order: the entries stop() names
 * are handed over unread.
 */
static int read_level(struct dumper *d, const struct vec *v,
		      bool (*stop)(struct dumper *, const struct ent *), meta_walk_fn fn, struct pass *p)
{
	if (meta_grow((void **)&d->blocks, &d->cap_blocks, v->n, sizeof(*d->blocks)))
		return META_E_NOMEM;
	for (size_t i = 0; i < v->n; i++)
		d->blocks[i] = stop(d, &v->v[i]) ? META_WALK_SKIP : v->v[i].block;
	p->d = d;
	p->ents = v->v;
	return meta_walk_read(&d->w, v->n, level_block, fn, p);
}

/*
 * Height of the tree under root: the number of internal levels on the leftmost
 * path (0 for a leaf root or an unreadable root).
 */
static int tree_height(struct dumper *d, uint64_t root)
{
	uint64_t b = root;
	int h = 0;
	while (h < MAX_DEPTH) {
		const void *data;
		struct meta_node_info ni;
		if (meta_bm_get(d->bm, b, &meta_node_validator, &data))
			break;
		meta_node_get_info(data, &ni);
		if (!(ni.flags & META_NODE_INTERNAL) || ni.nr_entries == 0 || ni.value_size != 8) {
			meta_bm_put(d->bm, data);
			break;
		}
		b = meta_node_value64(data, 0);
		meta_bm_put(d->bm, data);
		h++;
	}
	return h;
}

/* Shared-mode pre-pass: note that device mark_devno reaches the nodes of this level. */
static void mark_level(struct dumper *d, const struct vec *v)
{
	if (!d->mark_devno)
		return;
	for (size_t k = 0; k < v->n; k++) {
		uint64_t b = v->v[k].block;
		if (b >= d->nr_blocks)
			continue;
		if (d->last_dev[b] && d->last_dev[b] != d->mark_devno)
			set_bit(d->shared_bits, b);
		d->last_dev[b] = d->mark_devno;
	}
}

/*
 * Expand the internal levels of a device's tree: on return *cur holds the
 * entries of the leaf level in key order.
 */
static int expand_tree(struct dumper *d, uint64_t root, struct vec *cur, struct vec *next)
{
	int h = tree_height(d, root), r;
	cur->n = 0;
	if ((r = vec_push(cur, root, 0, KEY_END)))
		return r;
	for (int lvl = 0; lvl < h; lvl++) {
		struct pass p;
		struct vec tmp;
		next->n = 0;
		p.next = next;
		p.root_level = lvl == 0;
		mark_level(d, cur);
		if ((r = read_level(d, cur, stops_at, expand_fn, &p))) {
			if (r == META_E_RANGE)
				r = report(d, META_DMG_NODE_DEPTH, root, 0, KEY_END,
					   "cycle in the mapping tree");
			if (r)
				return r;
			next->n = 0;
		}
		tmp = *cur;
		*cur = *next;
		*next = tmp;
		if (cur->n == 0)
			break;
	}
	mark_level(d, cur);
	return META_OK;
}

/* Walk one device's mapping tree, emitting (or counting) its mappings. */
static int walk_device(struct dumper *d, uint64_t root, struct vec *cur, struct vec *next)
{
	int r;
	struct pass p;
	bool root_level;
	d->r_len = 0;
	d->dev_mappings = 0;
	if ((r = expand_tree(d, root, cur, next)))
		return r;
	root_level = cur->n == 1 && cur->v[0].block == root && cur->v[0].lo == 0;
	p.next = NULL;
	p.root_level = root_level;
	if ((r = read_level(d, cur, refs_def, leaf_fn, &p)))
		return r;
	return flush_run(d);
}

/* ---- shared mode ----------------------------------------------------------- */

/*
 * Shared mode, before the devices:
 *  A. expand every selected device's tree, noting which nodes are reached from
 *     more than one device (internal nodes and leaves alike);
 *  B. expand again, stopping at shared nodes: those reached are the tops of
 *     shared subtrees and become defs (a shared node under another one needs a
 *     def of its own only when some device reaches it some other way);
 *  C. emit each def by walking its subtree (with --repair, a subtree with damage
 *     is not a def: devices then walk it themselves and report the damage).
 */
#define DEF_PREFETCH 64 /* defs whose top blocks are read ahead at once on O_DIRECT devices */

static int emit_defs(struct dumper *d, const uint64_t *roots, size_t nroots, struct vec *cur,
		     struct vec *next)
{
	size_t n = 0;
	int r = META_OK;
	bool repair = d->repair;

	d->last_dev = calloc(d->nr_blocks ? d->nr_blocks : 1, sizeof(*d->last_dev));
	d->shared_bits = calloc(d->nr_blocks / 8 + 1, 1);
	d->def_bits = calloc(d->nr_blocks / 8 + 1, 1);
	if (!d->last_dev || !d->shared_bits || !d->def_bits)
		return META_E_NOMEM;
	d->quiet = true;
	d->repair = true; /* damage is reported later, by the device walks */
	d->stop = STOP_NONE;
	for (size_t i = 0; i < nroots && !r; i++) {
		if (roots[i] == UINT64_MAX)
			continue;
		d->mark_devno = (uint32_t)i + 1;
		r = expand_tree(d, roots[i], cur, next);
	}
	d->mark_devno = 0;
	free(d->last_dev);
	d->last_dev = NULL;
	d->stop = STOP_SHARED;
	for (size_t i = 0; i < nroots && !r; i++) {
		if (roots[i] == UINT64_MAX)
			continue;
		if ((r = expand_tree(d, roots[i], cur, next)))
			break;
		for (size_t k = 0; k < cur->n; k++)
			if (is_shared(d, cur->v[k].block))
				set_bit(d->def_bits, cur->v[k].block);
	}
	d->stop = STOP_NONE;
	d->quiet = false;
	d->repair = repair;
	if (r)
		return r;

	for (uint64_t b = 0; b < d->nr_blocks; b++)
		if (test_bit(d->def_bits, b))
			n++;
	if (!n)
		return META_OK;
	d->defs = calloc(n, sizeof(*d->defs));
	if (!d->defs)
		return META_E_NOMEM;
	for (uint64_t b = 0; b < d->nr_blocks; b++)
		if (test_bit(d->def_bits, b))
			d->defs[d->ndefs++].block = b;

	/* C: the walks below expand everything and never ref */
	for (size_t i = 0; i < d->ndefs; i++) {
		struct def_info *di = &d->defs[i];
		char name[24];
		uint64_t damage0 = d->seen_damage;
		if (i % DEF_PREFETCH == 0 && meta_io_is_direct(meta_bm_io(d->bm))) {
			/* no kernel read-ahead on a device: the next defs' tops in coalesced runs */
			uint64_t want[DEF_PREFETCH];
			size_t nw = 0;
			for (size_t k = i; k < d->ndefs && nw < DEF_PREFETCH; k++)
				want[nw++] = d->defs[k].block;
			meta_bm_prefetch(d->bm, want, nw);
		}
		d->cur_dev = UINT64_MAX;
		d->tree = "subtree shared by several devices";
		/* one counting walk: mapping count, and (with --repair) whether it is clean */
		d->counting = true;
		d->quiet = repair;
		r = walk_device(d, di->block, cur, next);
		d->counting = false;
		d->quiet = false;
		d->tree = NULL;
		if (r)
			return r;
		if (repair && d->seen_damage != damage0)
			continue; /* the devices walk it themselves */
		di->ok = true;
		di->nr = d->dev_mappings;
		if (!di->nr)
			continue;
		snprintf(name, sizeof(name), "%" PRIu64, di->block);
		if ((r = d->e->ops->begin_def(d->e->ctx, name)))
			return r;
		d->first_key = UINT64_MAX;
		if ((r = walk_device(d, di->block, cur, next)))
			return r;
		di->first = d->first_key;
		di->last = d->last_key;
		if ((r = d->e->ops->end_def(d->e->ctx)))
			return r;
		d->nr_defs++;
	}
	return META_OK;
}

/* ---- devices --------------------------------------------------------------- */

struct dev {
	struct meta_thin_details det;
	uint64_t root; /* UINT64_MAX: no mapping tree */
	bool has_details;
};

static int cmp_details(const void *a, const void *b)
{
	const struct meta_thin_details *x = a, *y = b;
	return x->dev_id < y->dev_id ? -1 : x->dev_id > y->dev_id;
}

static int cmp_roots(const void *a, const void *b)
{
	const struct meta_thin_dev_root *x = a, *y = b;
	return x->dev_id < y->dev_id ? -1 : x->dev_id > y->dev_id;
}

static bool selected(const struct meta_thin_dump_opts *o, uint64_t id)
{
	bool sel = false;
	if (!o->dev_ids || !o->nr_dev_ids)
		return true;
	for (size_t i = 0; i < o->nr_dev_ids; i++)
		if (o->dev_ids[i] == id) {
			sel = true;
			if (o->dev_found)
				o->dev_found[i] = true;
		}
	return sel;
}

/* The merged, filtered list of devices from the details tree and the top-level tree. */
static int build_devices(struct dumper *d, struct dev **out, size_t *nout)
{
	struct meta_thin_details *det = NULL;
	struct meta_thin_dev_root *roots = NULL;
	uint64_t nd = 0, nr = 0;
	size_t i = 0, j = 0, n = 0;
	struct dev *devs;
	const struct meta_thin_sb *sb = meta_thin_sb(d->t);
	int r;

	*out = NULL;
	*nout = 0;
	d->cur_dev = UINT64_MAX;
	d->tree = "device details tree";
	r = meta_thin_read_details(d->t, &det, &nd, damage_cb, d);
	d->tree = "top-level mapping tree";
	if (!r)
		r = meta_thin_read_dev_roots(d->t, &roots, &nr, damage_cb, d);
	d->tree = NULL;
	if (r)
		goto out;
	if (d->nr_damage && !d->repair) {
		r = META_E_CORRUPT;
		goto out;
	}
	if (nd)
		qsort(det, nd, sizeof(*det), cmp_details);
	if (nr)
		qsort(roots, nr, sizeof(*roots), cmp_roots);
	devs = calloc(nd + nr + 1, sizeof(*devs));
	if (!devs) {
		r = META_E_NOMEM;
		goto out;
	}
	while (i < nd || j < nr) {
		struct dev dv;
		memset(&dv, 0, sizeof(dv));
		dv.root = UINT64_MAX;
		if (j >= nr || (i < nd && det[i].dev_id < roots[j].dev_id)) {
			dv.det = det[i++];
			dv.has_details = true;
		} else if (i >= nd || roots[j].dev_id < det[i].dev_id) {
			dv.det.dev_id = roots[j].dev_id;
			dv.det.transaction_id = sb->trans_id;
			dv.det.creation_time = sb->time;
			dv.det.snapshotted_time = sb->time;
			dv.root = roots[j++].root;
		} else {
			dv.det = det[i++];
			dv.has_details = true;
			dv.root = roots[j++].root;
		}
		/* duplicates (damaged trees): keep the first */
		if (n && devs[n - 1].det.dev_id == dv.det.dev_id)
			continue;
		if (!selected(d->o, dv.det.dev_id))
			continue;
		d->cur_dev = dv.det.dev_id;
		if (!dv.has_details)
			r = report(d, META_DMG_DEV_NO_DETAILS, UINT64_MAX, 0, KEY_END, NULL);
		else if (dv.root == UINT64_MAX)
			r = report(d, META_DMG_DEV_NO_MAPPINGS, UINT64_MAX, 0, KEY_END, NULL);
		if (r) {
			free(devs);
			goto out;
		}
		devs[n++] = dv;
	}
	d->cur_dev = UINT64_MAX;
	*out = devs;
	*nout = n;
out:
	free(det);
	free(roots);
	return r;
}

int meta_thin_dump(struct meta_thin *t, const struct meta_thin_dump_opts *o,
		   const struct meta_thin_emitter *e, struct meta_thin_dump_stats *stats)
{
	struct dumper d;
	struct meta_thin_dump_opts none;
	const struct meta_thin_sb *sb;
	struct meta_thin_xml_sb xsb;
	struct dev *devs = NULL;
	size_t ndev = 0;
	struct vec cur = { 0 }, next = { 0 };
	bool skip;
	uint64_t nr_mappings = 0, nr_devices = 0;
	int r;

	if (stats)
		memset(stats, 0, sizeof(*stats));
	if (!t || !e || !e->ops)
		return META_E_INVAL;
	if (!o) {
		memset(&none, 0, sizeof(none));
		o = &none;
	}
	if (o->dev_found)
		for (size_t i = 0; i < o->nr_dev_ids; i++)
			o->dev_found[i] = false;
	memset(&d, 0, sizeof(d));
	d.t = t;
	d.bm = meta_thin_bm(t);
	d.nr_blocks = meta_bm_nr_blocks(d.bm);
	d.o = o;
	d.e = e;
	d.repair = !!(o->flags & META_THIN_DUMP_REPAIR);
	d.cur_dev = UINT64_MAX;
	skip = !!(o->flags & META_THIN_DUMP_SKIP_MAPPINGS);
	d.shared_mode = !skip && (o->flags & META_THIN_DUMP_SHARED);

	meta_walker_init(&d.w, d.bm);

	if ((r = build_devices(&d, &devs, &ndev)))
		goto out;

	sb = meta_thin_sb(t);
	memset(&xsb, 0, sizeof(xsb));
	xsb.uuid = "";
	xsb.time = o->rebuilt_sb ? o->time : sb->time;
	xsb.transaction = o->set_transaction_id ? o->transaction_id : sb->trans_id;
	xsb.flags = sb->flags;
	xsb.version = o->rebuilt_sb ? 2 : sb->version;
	xsb.data_block_size = o->set_data_block_size ? o->data_block_size : sb->data_block_size;
	xsb.nr_data_blocks = o->set_nr_data_blocks ? o->nr_data_blocks : sb->data_sm.nr_blocks;
	if ((r = e->ops->begin_superblock(e->ctx, &xsb)))
		goto out;

	if (d.shared_mode) {
		uint64_t *roots = malloc((ndev + 1) * sizeof(*roots));
		if (!roots) {
			r = META_E_NOMEM;
			goto out;
		}
		for (size_t i = 0; i < ndev; i++)
			roots[i] = devs[i].root;
		r = emit_defs(&d, roots, ndev, &cur, &next);
		free(roots);
		if (r)
			goto out;
		d.stop = STOP_DEF;
	}

	for (size_t i = 0; i < ndev; i++) {
		struct dev *dv = &devs[i];
		d.cur_dev = dv->det.dev_id;
		/* repair: mapped_blocks becomes the number of mappings really emitted */
		if (dv->root == UINT64_MAX) {
			if (d.repair)
				dv->det.mapped_blocks = 0;
		} else if (d.repair && (!skip || !dv->has_details)) {
			d.counting = true;
			d.quiet = true;
			r = walk_device(&d, dv->root, &cur, &next);
			d.counting = false;
			d.quiet = false;
			if (r)
				goto out;
			dv->det.mapped_blocks = d.dev_mappings;
		}
		if ((r = e->ops->begin_device(e->ctx, &dv->det)))
			goto out;
		if (!skip && dv->root != UINT64_MAX) {
			if ((r = walk_device(&d, dv->root, &cur, &next)))
				goto out;
			nr_mappings += d.dev_mappings;
		}
		if ((r = e->ops->end_device(e->ctx)))
			goto out;
		nr_devices++;
	}
	d.cur_dev = UINT64_MAX;
	r = e->ops->end_superblock(e->ctx);
out:
	if (stats) {
		stats->nr_devices = nr_devices;
		stats->nr_mappings = nr_mappings;
		stats->nr_defs = d.nr_defs;
		stats->nr_damage = d.nr_damage;
	}
	free(devs);
	free(cur.v);
	free(next.v);
	meta_walker_free(&d.w);
	free(d.blocks);
	free(d.last_dev);
	free(d.shared_bits);
	free(d.def_bits);
	free(d.defs);
	return r;
}

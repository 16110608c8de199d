/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Transactional btree writes (see pdata/btree_write.h).  Every operation walks a spine
 * from the root down, shadowing each node through the tm and patching its parent's
 * pointer to the shadow.
 *
 * Insert splits top-down: a full node met on the way is split before the walk goes on,
 * so a parent always has room for one more child.  The root splits beneath itself (it
 * keeps its block and becomes an internal node over two new children); another full node
 * first gives entries to an unshared sibling with at least SPACE_THRESHOLD free slots
 * (left, then right), else it is split in two (a shared sibling, a parent of two entries,
 * or the first or last child: sequential inserts) or, with its left sibling, two into
 * three -- the 6.1 kernel's rules.
 *
 * Remove rebalances top-down: before the walk enters a child, the child and one or two
 * siblings are shadowed and evened out (two nodes under 2 * (max / 3 + 1) entries merge;
 * three under 4 * (max / 3) + 1 lose the middle one), so that a child entered has more
 * than a third of its entries and none is left under a third after the removal.  A root
 * with one child takes that child's entries (the tree loses a level).  Unlike the
 * kernel, a key that is absent is found out before anything is shadowed, so that
 * META_E_NOTFOUND leaves the transaction as it was.
 *
 * Entries moved between nodes keep their references: a node's entries gain or lose a
 * parent only when a shared node is shadowed (inc_children) or copied into the root.
 */
#include "pdata/btree_write.h"

#include <libmeta/btree.h>
#include <libmeta/error.h>

#include <string.h>

#include "base/endian.h"
#include "pdata/ondisk.h"

#define MAX_DEPTH 32        /* deeper than any tree of a real device: a loop */
#define SPACE_THRESHOLD 8u  /* free slots a sibling needs to take entries on insert */
#define MAX_VALUE_SIZE ((DISK_BLOCK_SIZE - sizeof(struct disk_node_header)) / 2 - 8)
/* The most entries a node the validator accepts can hold (8-byte keys, values of 1 byte). */
#define NODE_MAX_ANY ((DISK_BLOCK_SIZE - sizeof(struct disk_node_header)) / 9)

/* ---- node layout ------------------------------------------------------------------ */

static inline const struct disk_node_header *hdr(const void *n)
{
	return n;
}

static inline uint32_t nr_of(const void *n) { return le32_get(hdr(n)->nr_entries); }
static inline uint32_t max_of(const void *n) { return le32_get(hdr(n)->max_entries); }
static inline uint32_t vs_of(const void *n) { return le32_get(hdr(n)->value_size); }
static inline uint32_t flags_of(const void *n) { return le32_get(hdr(n)->flags); }
static inline bool is_leaf(const void *n) { return (flags_of(n) & META_NODE_LEAF) != 0; }

static inline void set_nr(void *n, uint32_t v)
{
	((struct disk_node_header *)n)->nr_entries = le32_of(v);
}

static inline uint8_t *key_p(const void *n, uint32_t i)
{
	return (uint8_t *)n + sizeof(struct disk_node_header) + 8u * (size_t)i;
}

static inline uint64_t key_at(const void *n, uint32_t i) { return get_le64p(key_p(n, i)); }

static inline uint8_t *val_p(const void *n, uint32_t i)
{
	return key_p(n, max_of(n)) + (size_t)vs_of(n) * i;
}

static inline uint64_t val64(const void *n, uint32_t i) { return get_le64p(val_p(n, i)); }

static void init_node(void *n, uint32_t flags, uint32_t max, uint32_t vs)
{
	struct disk_node_header *h = n;
	memset(n, 0, DISK_BLOCK_SIZE);
	h->flags = le32_of(flags);
	h->max_entries = le32_of(max);
	h->value_size = le32_of(vs);
}

/* The last entry whose key is <= key, or -1. */
static int64_t lower_bound(const void *n, uint64_t key)
{
	uint32_t lo = 0, hi = nr_of(n);
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (key_at(n, mid) <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (int64_t)lo - 1;
}

static void insert_at(void *n, uint32_t i, uint64_t key, const void *value)
{
	uint32_t nr = nr_of(n), vs = vs_of(n);
	memmove(key_p(n, i + 1), key_p(n, i), 8u * (size_t)(nr - i));
	memmove(val_p(n, i + 1), val_p(n, i), (size_t)vs * (nr - i));
	put_le64p(key_p(n, i), key);
	memcpy(val_p(n, i), value, vs);
	set_nr(n, nr + 1);
}

static void delete_at(void *n, uint32_t i)
{
	uint32_t nr = nr_of(n), vs = vs_of(n);
	memmove(key_p(n, i), key_p(n, i + 1), 8u * (size_t)(nr - i - 1));
	memmove(val_p(n, i), val_p(n, i + 1), (size_t)vs * (nr - i - 1));
	set_nr(n, nr - 1);
}

/* ---- one level of the tree ---------------------------------------------------------- */

struct lvl {
	const struct meta_btree_info *info;
	struct meta_tm *tm;
	bool last;   /* values through info->vt, else roots of the next level's trees */
	uint32_t vs; /* the leaves' value size */
};

static void lvl_init(struct lvl *lv, const struct meta_btree_info *info, unsigned level)
{
	lv->info = info;
	lv->tm = info->tm;
	lv->last = level + 1 == info->levels;
	lv->vs = lv->last ? info->vt.size : 8u;
}

static int info_ok(const struct meta_btree_info *info)
{
	if (!info || !info->tm || info->levels < 1 || info->levels > 8 || info->vt.size < 1 ||
	    info->vt.size > MAX_VALUE_SIZE)
		return META_E_INVAL;
	return META_OK;
}

/*
 * What every node this code reads must be (new blocks are not validated before the
 * pre-commit): one of leaf and internal, the level's value size, entries within the block.
 */
static int node_ok(const struct lvl *lv, const void *n)
{
	uint32_t f = flags_of(n) & (META_NODE_INTERNAL | META_NODE_LEAF), max = max_of(n);
	uint32_t vs = vs_of(n);
	if (f == META_NODE_LEAF ? vs != lv->vs : f != META_NODE_INTERNAL || vs != 8)
		return META_E_CORRUPT;
	if (max < 3 ||
	    (uint64_t)max * (8u + vs) + sizeof(struct disk_node_header) > DISK_BLOCK_SIZE)
		return META_E_CORRUPT;
	if (nr_of(n) > max || (f == META_NODE_INTERNAL && nr_of(n) == 0))
		return META_E_CORRUPT;
	return META_OK;
}

static int read_node(const struct lvl *lv, uint64_t b, const void **n)
{
	int r = meta_tm_read(lv->tm, b, &meta_node_validator, n);
	if (r)
		return r;
	r = node_ok(lv, *n);
	if (r) {
		meta_tm_release(lv->tm, *n);
		*n = NULL;
	}
	return r;
}

/* n's entries gained a parent: its children (or values) get one reference more. */
static int inc_children(const struct lvl *lv, const void *n)
{
	const struct meta_btree_vtype *vt = &lv->info->vt;
	uint32_t nr = nr_of(n);
	int r = META_OK;
	if (!is_leaf(n) || !lv->last) {
		for (uint32_t i = 0; i < nr && !r; i++)
			r = meta_tm_inc(lv->tm, val64(n, i));
	} else if (vt->inc) {
		for (uint32_t i = 0; i < nr && !r; i++)
			r = vt->inc(vt->ctx, val_p(n, i));
	}
	return r;
}

static int shadow_node(const struct lvl *lv, uint64_t b, uint64_t *nb, void **n)
{
	bool inc;
	int r = meta_tm_shadow(lv->tm, b, &meta_node_validator, nb, n, &inc);
	if (!r)
		r = node_ok(lv, *n);
	if (!r && inc)
		r = inc_children(lv, *n);
	return r;
}

/* Shadow child i of parent and point the parent at the shadow. */
static int shadow_child(const struct lvl *lv, void *parent, uint32_t i, void **n)
{
	uint64_t nb;
	int r = shadow_node(lv, val64(parent, i), &nb, n);
	if (!r)
		put_le64p(val_p(parent, i), nb);
	return r;
}

/* A new node shaped like model (flags, capacity, value size), empty. */
static int new_node_like(const struct lvl *lv, const void *model, uint64_t *b, void **n)
{
	int r = meta_tm_new_block(lv->tm, &meta_node_validator, b, n);
	if (!r)
		init_node(*n, flags_of(model) & (META_NODE_INTERNAL | META_NODE_LEAF),
			  max_of(model), vs_of(model));
	return r;
}

/* Siblings exchange entries only when they are the same kind of node. */
static int same_shape(const void *a, const void *b)
{
	if (max_of(a) != max_of(b) || vs_of(a) != vs_of(b) || is_leaf(a) != is_leaf(b))
		return META_E_CORRUPT;
	return META_OK;
}

/*
 * Move entries across the boundary of neighbours l and r (same shape): count > 0 takes
 * l's last count entries to r's front, count < 0 takes r's first -count entries to l's end.
 */
static void shift(void *l, void *r, int64_t count)
{
	uint32_t vs = vs_of(l), nl = nr_of(l), nr = nr_of(r), c;
	if (count > 0) {
		c = (uint32_t)count;
		memmove(key_p(r, c), key_p(r, 0), 8u * (size_t)nr);
		memmove(val_p(r, c), val_p(r, 0), (size_t)vs * nr);
		memcpy(key_p(r, 0), key_p(l, nl - c), 8u * (size_t)c);
		memcpy(val_p(r, 0), val_p(l, nl - c), (size_t)vs * c);
		set_nr(l, nl - c);
		set_nr(r, nr + c);
	} else if (count < 0) {
		c = (uint32_t)-count;
		memcpy(key_p(l, nl), key_p(r, 0), 8u * (size_t)c);
		memcpy(val_p(l, nl), val_p(r, 0), (size_t)vs * c);
		memmove(key_p(r, 0), key_p(r, c), 8u * (size_t)(nr - c));
		memmove(val_p(r, 0), val_p(r, c), (size_t)vs * (nr - c));
		set_nr(l, nl + c);
		set_nr(r, nr - c);
	}
}

/* The general case: every entry out to a buffer and back. */
static void gather_scatter(void **nodes, unsigned k, const uint32_t *target)
{
	uint8_t keys[3 * NODE_MAX_ANY * 8]; /* as on disk */
	uint8_t vals[3 * (DISK_BLOCK_SIZE - sizeof(struct disk_node_header))];
	uint32_t vs = vs_of(nodes[0]), total = 0, at = 0;
	for (unsigned j = 0; j < k; j++) {
		uint32_t nr = nr_of(nodes[j]);
		memcpy(keys + 8u * (size_t)total, key_p(nodes[j], 0), 8u * (size_t)nr);
		memcpy(vals + (size_t)total * vs, val_p(nodes[j], 0), (size_t)nr * vs);
		total += nr;
	}
	for (unsigned j = 0; j < k; j++) {
		memcpy(key_p(nodes[j], 0), keys + 8u * (size_t)at, 8u * (size_t)target[j]);
		memcpy(val_p(nodes[j], 0), vals + (size_t)at * vs, (size_t)target[j] * vs);
		set_nr(nodes[j], target[j]);
		at += target[j];
	}
}

/*
 * Spread the entries of nodes[0..k) (k 2 or 3, same shape, in key order, targets within
 * their capacity) over them again, in order: node j ends with target[j] entries.  Only
 * the entries that cross a boundary move between nodes; three nodes fall back to a copy
 * through a buffer when the middle one could hold neither order of the two moves.
 */
static void redistribute(void **nodes, unsigned k, const uint32_t *target)
{
	int64_t n0 = nr_of(nodes[0]), n1 = nr_of(nodes[1]), f01 = n0 - target[0], f12, mid;
	if (k == 2) {
		shift(nodes[0], nodes[1], f01);
		return;
	}
	f12 = n0 + n1 - target[0] - target[1];
	mid = n1 + f01; /* the middle node after the left boundary moved first */
	if (mid >= 0 && mid <= max_of(nodes[1])) {
		shift(nodes[0], nodes[1], f01);
		shift(nodes[1], nodes[2], f12);
		return;
	}
	mid = n1 - f12; /* ... after the right boundary moved first */
	if (mid >= 0 && mid <= max_of(nodes[1])) {
		shift(nodes[1], nodes[2], f12);
		shift(nodes[0], nodes[1], f01);
		return;
	}
	gather_scatter(nodes, k, target);
}

/* Of nodes[0..k) after an insert-side split, the one key belongs in. */
static void *pick(void **nodes, unsigned k, uint64_t key)
{
	unsigned j = 0;
	while (j + 1 < k && nr_of(nodes[j + 1]) && key_at(nodes[j + 1], 0) <= key)
		j++;
	return nodes[j];
}

/* ---- insert ------------------------------------------------------------------------- */

/* The full root keeps its block and becomes an internal node over two new halves. */
static int split_beneath(const struct lvl *lv, void *root)
{
	uint64_t lb, rb;
	void *l, *r2, *g[2];
	uint32_t nr = nr_of(root), t[2] = {nr / 2, nr - nr / 2};
	uint8_t v[8];
	int r = new_node_like(lv, root, &lb, &l);
	if (!r)
		r = new_node_like(lv, root, &rb, &r2);
	if (r)
		return r;
	/* the halves take the root's entries (and its references) */
	memcpy(key_p(l, 0), key_p(root, 0), 8u * (size_t)nr);
	memcpy(val_p(l, 0), val_p(root, 0), (size_t)vs_of(root) * nr);
	set_nr(l, nr);
	g[0] = l;
	g[1] = r2;
	redistribute(g, 2, t);
	init_node(root, META_NODE_INTERNAL, meta_btree_max_entries(8), 8);
	put_le64p(v, lb);
	insert_at(root, 0, key_at(l, 0), v);
	put_le64p(v, rb);
	insert_at(root, 1, key_at(r2, 0), v);
	return META_OK;
}

/* Free slots of an unshared node (*shared tells; then *room is 0). */
static int sibling_room(const struct lvl *lv, uint64_t b, bool *shared, uint32_t *room)
{
	const void *n;
	uint32_t c;
	int r = meta_tm_count(lv->tm, b, &c);
	*room = 0;
	*shared = false;
	if (r)
		return r;
	if (c > 1) {
		*shared = true;
		return META_OK;
	}
	r = read_node(lv, b, &n);
	if (r)
		return r;
	*room = max_of(n) - nr_of(n);
	meta_tm_release(lv->tm, n);
	return META_OK;
}

/*
 * *cur, child pidx of parent, is full: make room (the 6.1 kernel's rebalance_or_split),
 * and point *cur at the node key now belongs in.
 */
static int make_room(const struct lvl *lv, void *parent, uint32_t pidx, void **cur, uint64_t key)
{
	uint32_t np = nr_of(parent), room, t[3], total;
	bool lshared = false, rshared = false;
	void *node = *cur, *g[3];
	uint64_t mb;
	uint8_t v[8];
	int r;

	if (pidx > 0) {
		r = sibling_room(lv, val64(parent, pidx - 1), &lshared, &room);
		if (r)
			return r;
		if (!lshared && room >= SPACE_THRESHOLD) {
			r = shadow_child(lv, parent, pidx - 1, &g[0]);
			if (!r)
				r = same_shape(g[0], node);
			if (r)
				return r;
			g[1] = node;
			total = nr_of(g[0]) + nr_of(node);
			t[0] = total / 2;
			t[1] = total - t[0];
			redistribute(g, 2, t);
			put_le64p(key_p(parent, pidx), key_at(node, 0));
			*cur = pick(g, 2, key);
			return META_OK;
		}
	}
	if (pidx + 1 < np) {
		r = sibling_room(lv, val64(parent, pidx + 1), &rshared, &room);
		if (r)
			return r;
		if (!rshared && room >= SPACE_THRESHOLD) {
			r = shadow_child(lv, parent, pidx + 1, &g[1]);
			if (!r)
				r = same_shape(g[1], node);
			if (r)
				return r;
			g[0] = node;
			total = nr_of(node) + nr_of(g[1]);
			t[0] = total / 2;
			t[1] = total - t[0];
			redistribute(g, 2, t);
			put_le64p(key_p(parent, pidx + 1), key_at(g[1], 0));
			*cur = pick(g, 2, key);
			return META_OK;
		}
	}
	if (lshared || rshared || np <= 2 || pidx == 0 || pidx + 1 == np) {
		/* one into two (sequential inserts fill the new node) */
		r = new_node_like(lv, node, &mb, &g[1]);
		if (r)
			return r;
		g[0] = node;
		total = nr_of(node);
		t[0] = total / 2;
		t[1] = total - t[0];
		redistribute(g, 2, t);
		put_le64p(v, mb);
		insert_at(parent, pidx + 1, key_at(g[1], 0), v);
		*cur = pick(g, 2, key);
		return META_OK;
	}
	/* two into three: the left sibling, a new middle node, this one */
	r = shadow_child(lv, parent, pidx - 1, &g[0]);
	if (!r)
		r = same_shape(g[0], node);
	if (!r)
		r = new_node_like(lv, node, &mb, &g[1]);
	if (r)
		return r;
	g[2] = node;
	total = nr_of(g[0]) + nr_of(node);
	t[0] = total / 3;
	t[1] = (total - t[0]) / 2;
	t[2] = total - t[0] - t[1];
	redistribute(g, 3, t);
	put_le64p(key_p(parent, pidx), key_at(node, 0));
	put_le64p(v, mb);
	insert_at(parent, pidx, key_at(g[1], 0), v);
	*cur = pick(g, 3, key);
	return META_OK;
}

/* Shadow node b of a spine: the copy takes b's place in its parent (or is the new root). */
static int shadow_into(const struct lvl *lv, uint64_t b, void *parent, uint32_t pidx,
		       uint64_t *new_root, void **node)
{
	uint64_t nb;
	int r = shadow_node(lv, b, &nb, node);
	if (r)
		return r;
	if (parent)
		put_le64p(val_p(parent, pidx), nb);
	else
		*new_root = nb;
	return META_OK;
}

static int rebalance_children(const struct lvl *lv, void *node, bool is_root, uint64_t key,
			      bool *collapsed);

/*
 * Shadow the spine from root to the leaf where key is or belongs, and hand back that
 * leaf (*leaf) and key's entry in it (*index).  For an insert, room is made on the way
 * (the leaf is not full; *index is where key goes if it is not there); for a remove,
 * nodes are evened out on the way and a missing key is META_E_NOTFOUND.
 */
static int spine(const struct lvl *lv, uint64_t root, uint64_t key, bool insert,
		 uint64_t *new_root, void **leaf, uint32_t *index)
{
	uint64_t b = root;
	void *parent = NULL, *node;
	uint32_t pidx = 0;
	int64_t i;
	bool collapsed;
	int r;
	for (int depth = 0; depth < MAX_DEPTH; depth++) {
		r = shadow_into(lv, b, parent, pidx, new_root, &node);
		if (r)
			return r;
		if (insert && nr_of(node) == max_of(node)) {
			r = parent ? make_room(lv, parent, pidx, &node, key) : split_beneath(lv, node);
			if (r)
				return r;
		}
		while (!insert && !is_leaf(node)) {
			r = rebalance_children(lv, node, parent == NULL, key, &collapsed);
			if (r)
				return r;
			if (!collapsed)
				break;
		}
		i = lower_bound(node, key);
		if (is_leaf(node)) {
			if (!insert && (i < 0 || key_at(node, (uint32_t)i) != key))
				return META_E_NOTFOUND;
			if (insert && (i < 0 || key_at(node, (uint32_t)i) != key))
				i++;
			*leaf = node;
			*index = (uint32_t)i;
			return META_OK;
		}
		if (i < 0 && !insert)
			return META_E_NOTFOUND;
		if (i < 0) { /* a new lowest key: the first child's key follows it down */
			put_le64p(key_p(node, 0), key);
			i = 0;
		}
		parent = node;
		pidx = (uint32_t)i;
		b = val64(node, pidx);
	}
	return META_E_CORRUPT;
}

static int empty_tree(const struct meta_btree_info *info, unsigned level, uint64_t *root)
{
	struct lvl lv;
	void *n;
	int r;
	lvl_init(&lv, info, level);
	r = meta_tm_new_block(info->tm, &meta_node_validator, root, &n);
	if (!r)
		init_node(n, META_NODE_LEAF, meta_btree_max_entries(lv.vs), lv.vs);
	return r;
}

int meta_btree_tx_empty(const struct meta_btree_info *info, uint64_t *root)
{
	int r = info_ok(info);
	return r ? r : empty_tree(info, 0, root);
}

static bool values_equal(const struct meta_btree_vtype *vt, const void *a, const void *b)
{
	return vt->equal ? vt->equal(vt->ctx, a, b) : memcmp(a, b, vt->size) == 0;
}

static int insert_level(const struct meta_btree_info *info, unsigned level, uint64_t root,
			const uint64_t *keys, const void *value, uint64_t *new_root, bool *inserted)
{
	const struct meta_btree_vtype *vt = &info->vt;
	struct lvl lv;
	void *leaf;
	uint32_t i;
	bool fresh;
	uint64_t sub, nsub;
	uint8_t v[8];
	int r;
	lvl_init(&lv, info, level);
	r = spine(&lv, root, keys[level], true, new_root, &leaf, &i);
	if (r)
		return r;
	fresh = i >= nr_of(leaf) || key_at(leaf, i) != keys[level];
	if (lv.last) {
		if (fresh) {
			insert_at(leaf, i, keys[level], value);
		} else {
			if (vt->dec && !values_equal(vt, val_p(leaf, i), value)) {
				r = vt->dec(vt->ctx, val_p(leaf, i));
				if (r)
					return r;
			}
			memcpy(val_p(leaf, i), value, vt->size);
		}
		if (inserted)
			*inserted = fresh;
		return META_OK;
	}
	if (fresh) {
		r = empty_tree(info, level + 1, &sub);
		if (r)
			return r;
		put_le64p(v, sub);
		insert_at(leaf, i, keys[level], v);
	}
	/* the leaf is a new block: its buffer stays put while the next level is written */
	r = insert_level(info, level + 1, val64(leaf, i), keys, value, &nsub, inserted);
	if (!r)
		put_le64p(val_p(leaf, i), nsub);
	return r;
}

int meta_btree_tx_insert(const struct meta_btree_info *info, uint64_t root, const uint64_t *keys,
			 const void *value, uint64_t *new_root, bool *inserted)
{
	int r = info_ok(info);
	if (r)
		return r;
	return insert_level(info, 0, root, keys, value, new_root, inserted);
}

/* ---- lookup ------------------------------------------------------------------------- */

int meta_btree_tx_lookup(const struct meta_btree_info *info, uint64_t root, const uint64_t *keys,
			 void *value)
{
	struct lvl lv;
	uint64_t b = root;
	int r = info_ok(info);
	if (r)
		return r;
	for (unsigned level = 0; level < info->levels; level++) {
		int depth;
		lvl_init(&lv, info, level);
		for (depth = 0; depth < MAX_DEPTH; depth++) {
			const void *n;
			int64_t i;
			bool leaf;
			r = read_node(&lv, b, &n);
			if (r)
				return r;
			i = lower_bound(n, keys[level]);
			leaf = is_leaf(n);
			if (i < 0 || (leaf && key_at(n, (uint32_t)i) != keys[level])) {
				meta_tm_release(lv.tm, n);
				return META_E_NOTFOUND;
			}
			if (leaf && lv.last)
				memcpy(value, val_p(n, (uint32_t)i), lv.vs);
			else
				b = val64(n, (uint32_t)i);
			meta_tm_release(lv.tm, n);
			if (leaf)
				break;
		}
		if (depth == MAX_DEPTH)
			return META_E_CORRUPT;
	}
	return META_OK;
}

/* ---- remove ------------------------------------------------------------------------- */

/* Children li and li + 1 of parent: merged or evened out. */
static int rebalance2(const struct lvl *lv, void *parent, uint32_t li)
{
	void *g[2];
	uint32_t nl, nr, thr, t[2];
	int r = shadow_child(lv, parent, li, &g[0]);
	if (!r)
		r = shadow_child(lv, parent, li + 1, &g[1]);
	if (!r)
		r = same_shape(g[0], g[1]);
	if (r)
		return r;
	nl = nr_of(g[0]);
	nr = nr_of(g[1]);
	thr = max_of(g[0]) / 3;
	if (nl + nr < 2 * (thr + 1)) {
		/* the right node goes; its entries (and references) move to the left one */
		uint64_t rb = val64(parent, li + 1);
		t[0] = nl + nr;
		t[1] = 0;
		redistribute(g, 2, t);
		delete_at(parent, li + 1);
		return meta_tm_dec(lv->tm, rb);
	}
	t[0] = (nl + nr) / 2;
	t[1] = nl + nr - t[0];
	redistribute(g, 2, t);
	put_le64p(key_p(parent, li + 1), key_at(g[1], 0));
	return META_OK;
}

/* Children li .. li + 2 of parent: the middle one goes, or the three are evened out. */
static int rebalance3(const struct lvl *lv, void *parent, uint32_t li)
{
	void *g[3];
	uint32_t total, thr, t[3];
	uint64_t cb, rb;
	int r = META_OK;
	for (unsigned j = 0; j < 3 && !r; j++)
		r = shadow_child(lv, parent, li + j, &g[j]);
	if (!r)
		r = same_shape(g[0], g[1]);
	if (!r)
		r = same_shape(g[1], g[2]);
	if (r)
		return r;
	total = nr_of(g[0]) + nr_of(g[1]) + nr_of(g[2]);
	thr = max_of(g[0]) / 3;
	if (total >= 4 * thr + 1) {
		t[2] = total / 3;
		t[0] = t[2] + (t[2] * 3 != total);
		t[1] = total - t[0] - t[2];
		redistribute(g, 3, t);
		put_le64p(key_p(parent, li + 1), key_at(g[1], 0));
		put_le64p(key_p(parent, li + 2), key_at(g[2], 0));
		return META_OK;
	}
	cb = val64(parent, li + 1);
	rb = val64(parent, li + 2);
	if (total < 2 * (thr + 1)) {
		/* all into the left node */
		t[0] = total;
		t[1] = t[2] = 0;
		redistribute(g, 3, t);
		delete_at(parent, li + 2);
		delete_at(parent, li + 1);
		r = meta_tm_dec(lv->tm, cb);
		return r ? r : meta_tm_dec(lv->tm, rb);
	}
	t[0] = total / 2;
	t[1] = 0;
	t[2] = total - t[0];
	redistribute(g, 3, t);
	delete_at(parent, li + 1);
	put_le64p(key_p(parent, li + 1), key_at(g[2], 0));
	return meta_tm_dec(lv->tm, cb);
}

/*
 * Before the walk enters the child of node that holds key: even the child out with its
 * siblings, or, when node is the root with one child, take that child's entries
 * (*collapsed).
 */
static int rebalance_children(const struct lvl *lv, void *node, bool is_root, uint64_t key,
			      bool *collapsed)
{
	uint32_t nr = nr_of(node), c;
	int64_t i;
	int r;
	*collapsed = false;
	if (nr == 1) {
		const void *child;
		uint64_t b = val64(node, 0);
		if (!is_root)
			return META_OK; /* nothing to even out with; the tree keeps its depth */
		r = meta_tm_count(lv->tm, b, &c);
		if (!r)
			r = read_node(lv, b, &child);
		if (r)
			return r;
		memcpy(node, child, DISK_BLOCK_SIZE);
		meta_tm_release(lv->tm, child);
		if (c > 1) { /* the child stays for its other parents: its entries gain one */
			r = inc_children(lv, node);
			if (r)
				return r;
		}
		*collapsed = true;
		return meta_tm_dec(lv->tm, b);
	}
	i = lower_bound(node, key);
	if (i < 0)
		return META_E_NOTFOUND;
	if (i == 0)
		return rebalance2(lv, node, 0);
	if ((uint32_t)i == nr - 1)
		return rebalance2(lv, node, (uint32_t)i - 1);
	return rebalance3(lv, node, (uint32_t)i - 1);
}

static int remove_level(const struct meta_btree_info *info, unsigned level, uint64_t root,
			const uint64_t *keys, uint64_t *new_root)
{
	const struct meta_btree_vtype *vt = &info->vt;
	struct lvl lv;
	void *leaf;
	uint32_t i;
	uint64_t nsub;
	int r;
	lvl_init(&lv, info, level);
	r = spine(&lv, root, keys[level], false, new_root, &leaf, &i);
	if (r)
		return r;
	if (lv.last) {
		if (vt->dec) {
			r = vt->dec(vt->ctx, val_p(leaf, i));
			if (r)
				return r;
		}
		delete_at(leaf, i);
		return META_OK;
	}
	r = remove_level(info, level + 1, val64(leaf, i), keys, &nsub);
	if (!r)
		put_le64p(val_p(leaf, i), nsub);
	return r;
}

int meta_btree_tx_remove(const struct meta_btree_info *info, uint64_t root, const uint64_t *keys,
			 uint64_t *new_root)
{
	uint8_t value[DISK_BLOCK_SIZE];
	int r = meta_btree_tx_lookup(info, root, keys, value);
	if (r)
		return r; /* META_E_NOTFOUND: nothing shadowed, the root stays */
	return remove_level(info, 0, root, keys, new_root);
}

/* ---- del ---------------------------------------------------------------------------- */

static int del_tree(const struct meta_btree_info *info, unsigned level, uint64_t b, int depth)
{
	const struct meta_btree_vtype *vt = &info->vt;
	struct lvl lv;
	const void *n;
	uint32_t c, nr;
	int r;
	if (depth > MAX_DEPTH * (int)info->levels)
		return META_E_CORRUPT;
	r = meta_tm_count(info->tm, b, &c);
	if (r)
		return r;
	if (c == 0)
		return META_E_CORRUPT;
	if (c > 1)
		return meta_tm_dec(info->tm, b); /* still another parent's: its contents stay */
	lvl_init(&lv, info, level);
	r = read_node(&lv, b, &n);
	if (r)
		return r;
	nr = nr_of(n);
	if (!is_leaf(n)) {
		for (uint32_t i = 0; i < nr && !r; i++)
			r = del_tree(info, level, val64(n, i), depth + 1);
	} else if (!lv.last) {
		for (uint32_t i = 0; i < nr && !r; i++)
			r = del_tree(info, level + 1, val64(n, i), depth + 1);
	} else if (vt->dec) {
		for (uint32_t i = 0; i < nr && !r; i++)
			r = vt->dec(vt->ctx, val_p(n, i));
	}
	meta_tm_release(info->tm, n);
	return r ? r : meta_tm_dec(info->tm, b);
}

int meta_btree_tx_del(const struct meta_btree_info *info, uint64_t root)
{
	int r = info_ok(info);
	return r ? r : del_tree(info, 0, root, 0);
}

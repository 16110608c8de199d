/* SPDX-License-Identifier: GPL-2.0-only */
/* Persistent-data btree, read side (layout in include/libmeta/btree.h). */
#include <libmeta/btree.h>
#include <libmeta/error.h>

#include <string.h>

#include "pdata/ondisk.h"
#include "base/util.h"

uint32_t meta_btree_max_entries(uint32_t value_size)
{
	uint32_t n = (META_BLOCK_SIZE - META_NODE_HEADER_SIZE) / (8u + value_size);
	return n / 3 * 3;
}

/* Node validator: checksum, location, then the header bounds every reader relies on. */
static int node_check(const struct meta_validator *v, const void *data, uint64_t b)
{
	const struct disk_node_header *h = data;
	uint32_t flags, nr, max, vs;
	int r = meta_block_check(v, data, b, offsetof(struct disk_node_header, blocknr));
	if (r)
		return r;
	flags = le32_get(h->flags) & (META_NODE_INTERNAL | META_NODE_LEAF);
	nr = le32_get(h->nr_entries);
	max = le32_get(h->max_entries);
	vs = le32_get(h->value_size);
	if (vs == 0 || (uint64_t)max * (sizeof(le64_t) + vs) + sizeof(*h) > META_BLOCK_SIZE)
		return META_E_CORRUPT;
	if (nr > max)
		return META_E_CORRUPT;
	if (flags == 0 || flags == (META_NODE_INTERNAL | META_NODE_LEAF))
		return META_E_CORRUPT;
	return META_OK;
}

static void node_prepare(const struct meta_validator *v, void *data, uint64_t b)
{
	meta_block_prepare(v, data, b, offsetof(struct disk_node_header, blocknr));
}

const struct meta_validator meta_node_validator = {"btree_node", DISK_NODE_CSUM_XOR, node_check,
						   node_prepare};

void meta_node_get_info(const void *node, struct meta_node_info *ni)
{
	const struct disk_node_header *h = node;
	ni->blocknr = le64_get(h->blocknr);
	ni->flags = le32_get(h->flags);
	ni->nr_entries = le32_get(h->nr_entries);
	ni->max_entries = le32_get(h->max_entries);
	ni->value_size = le32_get(h->value_size);
}

uint64_t meta_node_key(const void *node, uint32_t i)
{
	return get_le64p((const uint8_t *)node + META_NODE_HEADER_SIZE + 8u * i);
}

const void *meta_node_value(const void *node, uint32_t i)
{
	const struct disk_node_header *h = node;
	uint32_t max = le32_get(h->max_entries), vs = le32_get(h->value_size);
	return (const uint8_t *)node + META_NODE_HEADER_SIZE + 8u * max + (size_t)vs * i;
}

uint64_t meta_node_value64(const void *node, uint32_t i)
{
	return get_le64p(meta_node_value(node, i));
}

int meta_node_check(const void *node, uint64_t b, uint32_t expected_vs, uint64_t lo, uint64_t hi,
		    int is_root, meta_damage_fn fn, void *ctx)
{
	struct meta_node_info ni;
	int worst = -1;
	uint64_t prev = 0;
	meta_node_get_info(node, &ni);
#define WORSE(k) do { int s_ = meta_damage_default_severity(k); if (s_ > worst) worst = s_; } while (0)
	if (ni.flags & META_NODE_INTERNAL) {
		if (ni.value_size != 8) {
			meta_report(fn, ctx, META_DMG_NODE_VALUE_SIZE, b, lo, hi, 0, "internal node");
			WORSE(META_DMG_NODE_VALUE_SIZE);
			return worst;
		}
	} else if (expected_vs && ni.value_size != expected_vs) {
		meta_report(fn, ctx, META_DMG_NODE_VALUE_SIZE, b, lo, hi, 0, "leaf");
		WORSE(META_DMG_NODE_VALUE_SIZE);
		return worst;
	}
	if (!is_root && ni.nr_entries == 0) {
		meta_report(fn, ctx, META_DMG_NODE_EMPTY, b, lo, hi, 0, NULL);
		WORSE(META_DMG_NODE_EMPTY);
		return worst;
	}
	const uint8_t *keys = (const uint8_t *)node + META_NODE_HEADER_SIZE; /* the hot loop */
	for (uint32_t i = 0; i < ni.nr_entries; i++) {
		uint64_t k = get_le64p(keys + 8u * i);
		if (i && k <= prev) {
			meta_report(fn, ctx, META_DMG_NODE_KEY_ORDER, b, lo, hi, 0, NULL);
			WORSE(META_DMG_NODE_KEY_ORDER);
			return worst;
		}
		if (k < lo || k >= hi) {
			meta_report(fn, ctx, META_DMG_NODE_KEY_RANGE, b, lo, hi, 0, NULL);
			WORSE(META_DMG_NODE_KEY_RANGE);
			return worst;
		}
		prev = k;
	}
	if (ni.max_entries % 3) {
		meta_report(fn, ctx, META_DMG_NODE_MAX_ENTRIES, b, lo, hi, 0, NULL);
		WORSE(META_DMG_NODE_MAX_ENTRIES);
	}
	if (!is_root && ni.nr_entries < ni.max_entries / 3) {
		meta_report(fn, ctx, META_DMG_NODE_UNDERFULL, b, lo, hi, 0, NULL);
		WORSE(META_DMG_NODE_UNDERFULL);
	}
#undef WORSE
	return worst;
}

enum meta_damage_kind meta_node_damage_kind(int err, const void *raw)
{
	struct meta_node_info ni;
	switch (err) {
	case META_E_CHECKSUM:
		return META_DMG_NODE_CHECKSUM;
	case META_E_BLOCKNR:
		return META_DMG_NODE_BLOCKNR;
	case META_E_RANGE:
		return META_DMG_BLOCK_OUT_OF_RANGE;
	case META_E_CORRUPT:
		if (!raw)
			return META_DMG_NODE_FLAGS;
		meta_node_get_info(raw, &ni);
		if (!(ni.flags & (META_NODE_INTERNAL | META_NODE_LEAF)))
			return META_DMG_NODE_FLAGS;
		if (ni.value_size == 0 ||
		    META_NODE_HEADER_SIZE + (uint64_t)ni.max_entries * (8u + ni.value_size) > META_BLOCK_SIZE)
			return META_DMG_NODE_VALUE_SIZE;
		if (ni.nr_entries > ni.max_entries)
			return META_DMG_NODE_NR_ENTRIES;
		return META_DMG_NODE_FLAGS;
	default:
		return META_DMG_IO_ERROR;
	}
}

int meta_btree_last_key(struct meta_bm *bm, uint64_t root, bool *found, uint64_t *key)
{
	uint64_t b = root;

	*found = false;
	/* at most a handful of levels; the bound stops a cycle in damaged metadata */
	for (int depth = 0; depth < 64; depth++) {
		const void *node;
		struct meta_node_info ni;
		uint64_t next;
		int r = meta_bm_get(bm, b, &meta_node_validator, &node);
		if (r)
			return r == META_E_IO || r == META_E_NOMEM ? r : META_E_CORRUPT;
		meta_node_get_info(node, &ni);
		if (ni.nr_entries == 0) {
			meta_bm_put(bm, node);
			return META_OK;
		}
		if (ni.flags & META_NODE_LEAF) {
			*key = meta_node_key(node, ni.nr_entries - 1);
			*found = true;
			meta_bm_put(bm, node);
			return META_OK;
		}
		next = meta_node_value64(node, ni.nr_entries - 1);
		meta_bm_put(bm, node);
		b = next;
	}
	return META_E_CORRUPT;
}

int meta_btree_lookup(struct meta_bm *bm, uint64_t root, uint64_t key, void *value,
		      uint32_t value_size)
{
	uint64_t b = root;
	for (int depth = 0; depth < 64; depth++) {
		const void *node;
		struct meta_node_info ni;
		uint32_t lo = 0, hi, i;
		int r = meta_bm_get(bm, b, &meta_node_validator, &node);
		if (r)
			return r;
		meta_node_get_info(node, &ni);
		hi = ni.nr_entries;
		/* last index with key <= search key */
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (meta_node_key(node, mid) <= key)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == 0) {
			meta_bm_put(bm, node);
			return META_E_NOTFOUND;
		}
		i = lo - 1;
		if (ni.flags & META_NODE_INTERNAL) {
			b = meta_node_value64(node, i);
			meta_bm_put(bm, node);
			continue;
		}
		if (meta_node_key(node, i) != key) {
			meta_bm_put(bm, node);
			return META_E_NOTFOUND;
		}
		if (ni.value_size != value_size) {
			meta_bm_put(bm, node);
			return META_E_CORRUPT;
		}
		memcpy(value, meta_node_value(node, i), value_size);
		meta_bm_put(bm, node);
		return META_OK;
	}
	return META_E_CORRUPT; /* deeper than any real tree: a loop */
}

struct walk {
	struct meta_bm *bm;
	uint32_t value_size;
	const struct meta_btree_walk_ops *ops;
	void *ctx;
	int leaf_depth; /* -1 until the first leaf */
};

static int walk_node(struct walk *w, uint64_t b, uint64_t lo, uint64_t hi, int depth)
{
	const void *node;
	struct meta_node_info ni;
	int r, sev;
	if (depth > 32) {
		meta_report(w->ops->damage, w->ctx, META_DMG_NODE_DEPTH, b, lo, hi, 0,
			    "tree too deep (loop?)");
		return 0;
	}
	r = meta_bm_get(w->bm, b, &meta_node_validator, &node);
	if (r) {
		const void *raw = NULL;
		if (r == META_E_CORRUPT && meta_bm_get(w->bm, b, NULL, &raw) == 0) {
			meta_report(w->ops->damage, w->ctx, meta_node_damage_kind(r, raw), b, lo, hi, 0,
				    NULL);
			meta_bm_put(w->bm, raw);
		} else {
			meta_report(w->ops->damage, w->ctx, meta_node_damage_kind(r, NULL), b, lo, hi, 0, NULL);
		}
		return 0;
	}
	sev = meta_node_check(node, b, w->value_size, lo, hi, depth == 0, w->ops->damage, w->ctx);
	if (sev >= META_SEV_FATAL) {
		meta_bm_put(w->bm, node);
		return 0;
	}
	meta_node_get_info(node, &ni);
	if (ni.flags & META_NODE_LEAF) {
		if (w->leaf_depth < 0)
			w->leaf_depth = depth;
		else if (w->leaf_depth != depth)
			meta_report(w->ops->damage, w->ctx, META_DMG_NODE_DEPTH, b, lo, hi, 0, NULL);
		r = w->ops->leaf ? w->ops->leaf(w->ctx, b, node, &ni) : 0;
		meta_bm_put(w->bm, node);
		return r;
	}
	/*
	 * Read the children (leaves, once the depth of the leaves is known) in coalesced runs
	 * now rather than one block per get: on O_DIRECT devices, which have no read-ahead,
	 * and on files, where a read per block costs a system call each (the reference-count
	 * tree of a 100M-mapping pool: 20k leaves).
	 */
	if (ni.nr_entries > 1 && ni.nr_entries <= 512 && (w->leaf_depth < 0 || w->leaf_depth == depth + 1)) {
		uint64_t kids[512];
		for (uint32_t i = 0; i < ni.nr_entries; i++)
			kids[i] = meta_node_value64(node, i);
		meta_bm_prefetch_now(w->bm, kids, ni.nr_entries);
	}
	for (uint32_t i = 0; i < ni.nr_entries; i++) {
		uint64_t clo = meta_node_key(node, i);
		uint64_t chi = i + 1 < ni.nr_entries ? meta_node_key(node, i + 1) : hi;
		r = walk_node(w, meta_node_value64(node, i), clo, chi, depth + 1);
		if (r) {
			meta_bm_put(w->bm, node);
			return r;
		}
	}
	meta_bm_put(w->bm, node);
	return 0;
}

int meta_btree_walk(struct meta_bm *bm, uint64_t root, uint32_t value_size,
		    const struct meta_btree_walk_ops *ops, void *ctx)
{
	struct walk w = {bm, value_size, ops, ctx, -1};
	return walk_node(&w, root, 0, UINT64_MAX, 0);
}

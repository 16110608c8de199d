/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Persistent-data btree (kernel drivers/md/persistent-data/dm-btree*), read side.
 *
 * Node (one 4096-byte block):
 *   0  le32 csum        crc32c(~0, bytes 4..4095) ^ 121107
 *   4  le32 flags       1 = INTERNAL, 2 = LEAF
 *   8  le64 blocknr     the node's own location
 *  16  le32 nr_entries
 *  20  le32 max_entries floor((4096-32)/(8+value_size)/3)*3
 *  24  le32 value_size  internal nodes: 8 (le64 child block)
 *  28  le32 padding
 *  32  le64 keys[max_entries]
 *  32+8*max_entries  values[max_entries] of value_size bytes
 * Internal key[i] is the lowest key of child i.  Keys strictly increase.
 */
#ifndef LIBMETA_BTREE_H
#define LIBMETA_BTREE_H

#include <stdbool.h>
#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/bm.h>
#include <libmeta/damage.h>

#define META_NODE_INTERNAL 1u
#define META_NODE_LEAF 2u
#define META_NODE_HEADER_SIZE 32u

struct meta_node_info {
	uint64_t blocknr;
	uint32_t flags, nr_entries, max_entries, value_size;
};

/*
 * Validator of a node block (see bm.h): checksum (xor 121107), self-location, then
 * value_size > 0, the header and max_entries keys and values within the block,
 * nr_entries <= max_entries and exactly one of INTERNAL and LEAF
 * (META_E_CORRUPT, which meta_node_damage_kind() tells apart).
 */
META_API extern const struct meta_validator meta_node_validator;

/* max_entries the kernel uses for a value size (value 8 → 252, 16 → 168, 24 → 126, 4 → 336). */
META_API uint32_t meta_btree_max_entries(uint32_t value_size);
META_API void meta_node_get_info(const void *node, struct meta_node_info *ni);
META_API uint64_t meta_node_key(const void *node, uint32_t i);
META_API const void *meta_node_value(const void *node, uint32_t i);
META_API uint64_t meta_node_value64(const void *node, uint32_t i);

/*
 * Deep structural check of a node that already passed meta_node_validator:
 * value size (expected_vs for leaves, 8 for internal; 0 = don't care), key order,
 * keys within [lo, hi).  Reports through fn; returns the worst severity found
 * (-1 when clean).
 */
META_API int meta_node_check(const void *node, uint64_t b, uint32_t expected_vs, uint64_t lo,
			     uint64_t hi, int is_root, meta_damage_fn fn, void *ctx);

/*
 * Damage kind for a node that a read or meta_node_validator refused with err;
 * raw (may be NULL) is the block as read, to tell which header field is wrong.
 */
META_API enum meta_damage_kind meta_node_damage_kind(int err, const void *raw);

/* Lookup of key in a one-level tree. META_E_NOTFOUND if absent. */
META_API int meta_btree_lookup(struct meta_bm *bm, uint64_t root, uint64_t key, void *value,
			       uint32_t value_size);

/*
 * The highest key of a one-level tree, down its rightmost path: *found is false
 * when that path ends at an empty node (an empty tree), as the kernel's
 * dm_btree_find_highest_key() answers.  META_E_CORRUPT for a node that fails its
 * checks or a path deeper than 64 levels (a cycle); META_E_IO, META_E_NOMEM.
 */
META_API int meta_btree_last_key(struct meta_bm *bm, uint64_t root, bool *found, uint64_t *key);

/*
 * Ordered depth-first walk of a one-level tree, keeps going past damage.
 * leaf() is called for each readable leaf in key order; damage() for every
 * problem, with the key range [begin,end) that was lost.  Either callback may be
 * NULL.  leaf() returning non-zero stops the walk (that value is returned).
 * Returns 0 or the stop value; damage never turns into a return code.
 */
struct meta_btree_walk_ops {
	int (*leaf)(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni);
	meta_damage_fn damage;
};
META_API int meta_btree_walk(struct meta_bm *bm, uint64_t root, uint32_t value_size,
			     const struct meta_btree_walk_ops *ops, void *ctx);

#endif

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The batched, damage-tolerant level reader of persistent-data btrees, the one
 * every tool that reads whole trees uses (thin_check, thin_dump, thin_ls,
 * thin_delta, thin_repair).  A tool walks its trees breadth first: it keeps
 * the entries of one level (node block, the key range [lo, hi) the parent gives
 * it), reads them all with meta_walk_read() and queues the children it wants
 * for the next level.
 *
 * meta_walk_read() reads through meta_bm_read_batch(): block numbers sorted and
 * de-duplicated, neighbours coalesced into large reads, read ahead on the block
 * manager's second thread when the tool turned it on.  A block several entries
 * name is read once.  Every block is validated by meta_node_validator:
 *   checks   the checksum, then the block number the node names (its location),
 *            then the header bounds every reader relies on: a non-zero value
 *            size, max_entries keys and values inside the block, nr_entries <=
 *            max_entries, exactly one of the internal/leaf flags;
 *   hands    a refused node over with the reason (META_E_CHECKSUM, _BLOCKNR,
 *            _CORRUPT), a block past the device with META_E_RANGE, a block that
 *            cannot be read with META_E_IO (zeros); the walk goes on.
 *
 * meta_walk_verdict() then judges one node against its parent:
 *   checks   the validator's verdict (a refused node loses its whole range);
 *            value size (the tree's leaf size, 8 for internal nodes), a non-root
 *            node not empty, keys strictly increasing and inside the parent's
 *            [lo, hi), max_entries a multiple of 3, a non-root node at least a
 *            third full (meta_node_check);
 *   reports  as struct meta_damage through the caller's callback, with the node's
 *            block and its key range: the first of the value-size / empty /
 *            key-order / key-range problems only (the keys are not trusted past
 *            it), then max_entries and under-fill, each at most once;
 *   does not check the values (child block numbers, mappings, device details),
 *            that leaves lie at one depth, that the tree has no cycle, that a
 *            block belongs to one tree only, or reference counts: the caller
 *            knows its trees' shapes and keeps those (thin_check counts each
 *            block once per parent in a pdata/refcount.h store and reads it once).
 */
#ifndef LIBMETA_PDATA_WALK_H
#define LIBMETA_PDATA_WALK_H

#include <stddef.h>
#include <stdint.h>

#include <libmeta/bm.h>
#include <libmeta/damage.h>

#define META_WALK_SKIP UINT64_MAX /* an entry handed over without a read */
#define META_WALK_CHUNK 512u      /* nodes buffered at once when a level is out of block order */

struct meta_walk_pair {
	uint64_t b;
	size_t idx;
};

struct meta_walker {
	struct meta_bm *bm;
	uint64_t *blocks; /* a part's distinct blocks, as meta_bm_read_batch() wants them */
	size_t cap_blocks;
	/* levels out of block order: META_WALK_CHUNK entries at a time, allocated once */
	struct meta_walk_pair *pairs;
	uint8_t *cbuf;
	int *cerr;
};

void meta_walker_init(struct meta_walker *w, struct meta_bm *bm);
void meta_walker_free(struct meta_walker *w);

/*
 * fn(ctx, i, data, err) for every entry i of [0, n), in entry order; block_of(ctx, i)
 * names entry i's node, or META_WALK_SKIP to hand it over unread (data NULL, err 0).
 * data is the node (valid during the call) and err 0 or why it was refused (data
 * then is what was read, zeros after an I/O error).  When the entries' blocks
 * ascend (repeats allowed) each node is handed over straight from the batch;
 * else the level is read META_WALK_CHUNK entries at a time, their nodes copied.
 * fn returns non-zero to stop: that value is returned, as is a read's error.
 */
typedef uint64_t (*meta_walk_block_fn)(void *ctx, size_t i);
typedef int (*meta_walk_fn)(void *ctx, size_t i, const void *data, int err);
int meta_walk_read(struct meta_walker *w, size_t n, meta_walk_block_fn block_of, meta_walk_fn fn,
		   void *ctx);

/*
 * Verdict on node b as handed over: err non-zero reports the lost range [lo, hi)
 * (kind meta_node_damage_kind(err, data), detail lost_detail); else
 * meta_node_check() with leaf_vs (0: any) for a leaf, 8 for an internal node.
 * Returns the worst severity reported, -1 when clean; fn may be NULL.
 */
int meta_walk_verdict(const void *data, int err, uint64_t b, uint32_t leaf_vs, uint64_t lo,
		      uint64_t hi, int is_root, const char *lost_detail, meta_damage_fn fn,
		      void *ctx);

/*
 * meta_btree_walk() (libmeta/btree.h) read level by level through meta_walk_read():
 * coalesced reads, validated on the block manager's second thread when read-ahead is
 * on, instead of a block cache get per node.  The same checks and damage reports
 * (meta_walk_verdict() per node against its parent's key range; a leaf deeper or
 * shallower than the first level holding leaves is NODE_DEPTH, its leaf() still
 * called; nothing below depth 32); but leaf() comes in block order within a level,
 * not in key order, and reports in level order.  For callers that collect leaves
 * without caring for their order (the space maps' index and reference-count trees).
 * Returns 0, leaf()'s stop value or META_E_NOMEM.
 */
struct meta_btree_walk_ops;
int meta_walk_tree(struct meta_bm *bm, uint64_t root, uint32_t value_size,
		   const struct meta_btree_walk_ops *ops, void *ctx);
/*
 * meta_walk_tree() telling node(ctx, b, lost) about every node it reaches, once per
 * parent entry naming it (a node two parents name comes twice, as its subtree), before
 * the node's leaf() or children: lost is non-zero when the node was refused, lies past
 * the device or too deep (nothing under it is known).  For a caller that counts the
 * tree's blocks as it reads its values (thin_check's metadata reference counts).
 */
typedef void (*meta_walk_node_fn)(void *ctx, uint64_t b, int lost);
int meta_walk_tree_nodes(struct meta_bm *bm, uint64_t root, uint32_t value_size,
			 const struct meta_btree_walk_ops *ops, meta_walk_node_fn node, void *ctx);

#endif

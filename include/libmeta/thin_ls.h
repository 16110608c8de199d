/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Per-device space accounting of a thin pool (thin_ls), and the "mapping
 * forest" reader it is built on.
 *
 * Mapping forest.  The bottom-level mapping trees of a set of devices form a
 * DAG: snapshots share whole subtrees with their origin, and a shared subtree
 * can sit at different depths in different devices (the origin's root split
 * after the snapshot was taken).  The forest reader visits every distinct node
 * once, in order of decreasing height (a node's height is the same in every
 * tree that holds it: leaves are 0), reading each height's nodes with one
 * batched, sorted, coalesced read.  Because every parent of a node is higher
 * than the node, a node's multiplicity (how many root-to-node paths lead to
 * it, summed over all roots) is final when it is read; each leaf is handed to
 * the caller exactly once with that multiplicity and, when all those paths
 * start at one root, that root's index (the "owner"; -1 when mixed).
 * With keep_shape the internal nodes are kept in memory so that one root's
 * leaves can then be visited in key order without further I/O.
 * Any btree damage (bad checksum, bad node, inconsistent heights) is reported
 * through the damage callback and makes the load fail with META_E_CORRUPT.
 *
 * thin_ls accounting (thin-provisioning-tools 0.9 semantics):
 *   for every device in the device-details tree, walk its mapping tree; a data
 *   block's use count is the number of (device, virtual block) mappings of it
 *   over those devices.  exclusive_blocks of a device = its mappings whose data
 *   block has use count 1; shared_blocks = details mapped_blocks - exclusive
 *   (modulo 2^64, like 0.9).  Devices that are in the top-level mapping tree
 *   but not in the details tree are not walked.
 */
#ifndef LIBMETA_THIN_LS_H
#define LIBMETA_THIN_LS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/damage.h>
#include <libmeta/thin.h>

struct meta_thin_forest;

/*
 * Called once per distinct leaf: leaf_id numbers leaves 0,1,2... in call
 * order; node is the validated leaf block (valid during the call); mult >= 1;
 * owner is the index of the only root above the leaf, or -1.  Non-zero stops
 * the load (that value is returned).
 */
typedef int (*meta_thin_forest_leaf_fn)(void *ctx, uint32_t leaf_id, uint64_t b, const void *node,
					uint64_t mult, int64_t owner);

META_API int meta_thin_forest_load(struct meta_thin *t, const uint64_t *roots, size_t nr_roots,
				   bool keep_shape, meta_thin_forest_leaf_fn fn, meta_damage_fn dfn,
				   void *ctx, struct meta_thin_forest **out);
META_API void meta_thin_forest_free(struct meta_thin_forest *f);
META_API uint32_t meta_thin_forest_nr_leaves(const struct meta_thin_forest *f);

/*
 * Visit the leaves under roots[root_index] in key order (needs keep_shape):
 * fn(ctx, leaf_id).  With marks (one byte per leaf_id), subtrees holding no
 * leaf with a non-zero mark are skipped.  With META_THIN_FOREST_ONCE, a node
 * (internal or leaf) already entered by an earlier ONCE visit is skipped with
 * its whole subtree, as 0.9's single walk over the two-level mapping tree
 * does.  Non-zero from fn stops the visit.
 */
enum { META_THIN_FOREST_ONCE = 1u << 0 };
typedef int (*meta_thin_forest_visit_fn)(void *ctx, uint32_t leaf_id);
META_API int meta_thin_forest_visit(struct meta_thin_forest *f, size_t root_index,
				    const uint8_t *marks, unsigned flags,
				    meta_thin_forest_visit_fn fn, void *ctx);

struct meta_thin_ls_dev {
	uint64_t dev_id;
	uint64_t mapped_blocks;    /* from the device details */
	uint64_t transaction_id;
	uint32_t creation_time, snapshotted_time;
	uint64_t exclusive_blocks; /* mappings whose data block no other mapping uses */
	uint64_t shared_blocks;    /* mapped_blocks - exclusive_blocks (mod 2^64) */
};

/*
 * One record per device of the details tree, in dev_id order.  Uses the trees
 * of meta_thin_sb(t) (the metadata snapshot's when opened with -m).  Damage:
 * reported through dfn, returns META_E_CORRUPT (a mapping to a data block
 * past the end of the data device is MAPPING_PAST_END).  Caller frees *out.
 */
META_API int meta_thin_ls(struct meta_thin *t, struct meta_thin_ls_dev **out, uint64_t *n,
			  meta_damage_fn dfn, void *ctx);

/*
 * The same records without reading any mapping leaf (exclusive_blocks and
 * shared_blocks are 0): for listings that show no EXCLUSIVE or SHARED field,
 * as 0.9 does then.  Damage inside the mapping trees goes unnoticed.
 */
META_API int meta_thin_ls_details(struct meta_thin *t, struct meta_thin_ls_dev **out, uint64_t *n,
				  meta_damage_fn dfn, void *ctx);

/*
 * thin_ls's HIGHEST_BLOCK (tpt 1.x): the highest mapped virtual block of device
 * dev_id, found down the rightmost path of its mapping tree (a few block reads,
 * no walk); 0 for a device without mappings, as 1.x prints it.  Errors:
 * META_E_NOTFOUND (no such device), META_E_CORRUPT (a node on the path is
 * damaged), META_E_IO.
 */
META_API int meta_thin_highest_block(struct meta_thin *t, uint64_t dev_id, uint64_t *out);

/*
 * Human size as 0.9 prints it: while bytes > 1 MiB, divide by 1024 (truncating)
 * and step one unit up; then if the number is > 8192, divide by 1024 rounding
 * to nearest and step once more.  Units "", KiB, MiB, GiB, TiB, PiB, EiB: so
 * 1 MiB prints "1024KiB", 65472 KiB "64MiB", 0 "0".  Writes at most len bytes
 * including the NUL; returns buf.
 */
META_API char *meta_thin_ls_human(uint64_t bytes, char *buf, size_t len);

#endif

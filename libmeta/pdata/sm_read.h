/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The space-map reader's full form, private to libmeta (the public one is
 * meta_sm_read_counts() in include/libmeta/sm.h): the same counts and damage, and
 * also every metadata block the space map's own structure uses, once per reference,
 * as it reads them:
 *   the metadata space map's index block (how 0), then its bitmaps (how 0);
 *   the disk space map's index-tree nodes (META_SM_BLK_NODE), then its bitmaps as the
 *   index leaves name them (how 0; every entry of a leaf that passed its checks);
 *   the ref-count tree's nodes (META_SM_BLK_NODE);
 * all before the first counts.  META_SM_BLK_LOST marks a tree node refused, past the
 * device or too deep: what lies under it is unknown.  thin_check counts these blocks
 * here instead of reading the space map's trees a second time.
 */
#ifndef LIBMETA_PDATA_SM_READ_H
#define LIBMETA_PDATA_SM_READ_H

#include <libmeta/sm.h>

#define META_SM_BLK_NODE 1u
#define META_SM_BLK_LOST 2u

typedef void (*meta_sm_block_fn)(void *ctx, uint64_t b, unsigned how);

int meta_sm_read_counts_blocks(struct meta_bm *bm, enum meta_sm_kind kind,
			       const struct meta_sm_root *root, meta_sm_counts_fn fn,
			       meta_damage_fn dfn, meta_sm_block_fn bfn, void *ctx);

/*
 * Only the blocks of a disk (data) space map, as above, reporting no damage and reading no
 * bitmap: for one whose counts are not wanted (too large to count).  0 or META_E_NOMEM.
 */
int meta_sm_read_disk_blocks(struct meta_bm *bm, const struct meta_sm_root *root,
			     meta_sm_block_fn bfn, void *ctx);

#endif

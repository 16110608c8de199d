/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Transactional btree writes (private to libmeta): insert, remove and delete on a
 * shadow spine through the transaction manager (pdata/tm.h), the node format of
 * include/libmeta/btree.h (64-bit keys, fixed-width values).  The model is the
 * kernel's dm-btree.c / dm-btree-remove.c / dm-btree-spine.c.
 *
 * The contract.
 *  - Every call takes a root and gives back the new root: the path from the root
 *    to the leaf is shadowed (pdata/tm.h), so the tree of the last commit is
 *    never touched.  Callers store the new root (in the superblock, a parent
 *    tree's value) and commit through the tm.
 *  - Nodes keep the kernel's shape: a full node is split (the root beneath
 *    itself; other nodes rebalanced with a sibling, or split two into three, as
 *    the 6.1 kernel does); after a remove, a node under a third full is merged or
 *    rebalanced with its siblings; no non-root node is left under a third full,
 *    which our thin_check and thin-provisioning-tools' require.  Implemented as
 *    the 6.1 kernel: a full node gives entries to an unshared sibling with at
 *    least 8 free slots, else splits in two (first or last child, a shared
 *    sibling, a parent of two) or two into three with its left sibling; a remove
 *    evens out the child it enters with one or two siblings first (two merge
 *    under 2 * (max / 3 + 1) entries, three lose the middle one under
 *    4 * (max / 3) + 1), and a root with one child takes that child's entries.
 *  - Values: a value type says how wide a value is and what a value holds a
 *    reference to.  When a shadowed node was shared (meta_tm_shadow's
 *    inc_children), its children gain a parent: internal nodes inc their child
 *    blocks through the tm, leaves call vt->inc on every value (a data block in
 *    the data space map; a subtree root in the tm).  A value overwritten or
 *    removed is released with vt->dec.  inc/dec may be NULL (plain values).
 *    An overwrite with an equal value (vt->equal) does no dec: the new value's
 *    reference then stays the caller's.
 *  - Composite keys are levels of nested trees (the kernel's dm_btree_info
 *    levels): the value of every level but the last is the root of the next
 *    level's tree (8 bytes, counted in the tm); keys[i] is the key at level i.
 *    An insert makes a missing lower-level tree; a remove leaves an emptied one
 *    in place (as the kernel does); del frees them with their parent.
 *  - Errors (META_E_NOSPC from the space map, I/O, META_E_CORRUPT on a node that
 *    fails its validator or the node checks) leave the transaction to be
 *    abandoned: the committed metadata is intact.
 */
#ifndef LIBMETA_PDATA_BTREE_WRITE_H
#define LIBMETA_PDATA_BTREE_WRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "pdata/tm.h"

struct meta_btree_vtype {
	uint32_t size; /* bytes of a value, 1..(4096 - 32) / 2 - 8 */
	void *ctx;
	int (*inc)(void *ctx, const void *value);
	int (*dec)(void *ctx, const void *value);
	/* NULL: bytewise; used to skip the dec/inc of an insert that changes nothing */
	bool (*equal)(void *ctx, const void *a, const void *b);
};

struct meta_btree_info {
	struct meta_tm *tm;
	unsigned levels;                  /* 1 for a plain tree */
	struct meta_btree_vtype vt;       /* the last level's values */
};

/* An empty tree: one empty leaf (values of the last level's width), as the kernel makes it. */
int meta_btree_tx_empty(const struct meta_btree_info *info, uint64_t *root);

/* Look keys up as this transaction sees the tree: 0, META_E_NOTFOUND or an error. */
int meta_btree_tx_lookup(const struct meta_btree_info *info, uint64_t root, const uint64_t *keys,
			 void *value);

/*
 * Insert or overwrite.  *inserted (may be NULL) tells whether the key was new.
 * The value's reference is the caller's to give: the tree takes it over (no inc);
 * an overwritten value is dec'd.
 */
int meta_btree_tx_insert(const struct meta_btree_info *info, uint64_t root, const uint64_t *keys,
			 const void *value, uint64_t *new_root, bool *inserted);

/* Remove: META_E_NOTFOUND (root unchanged) or the value dec'd and the tree rebalanced. */
int meta_btree_tx_remove(const struct meta_btree_info *info, uint64_t root, const uint64_t *keys,
			 uint64_t *new_root);

/*
 * Drop one reference on a whole tree: when the root's count reaches 0 its
 * children (or values, through vt->dec) lose one each, recursively.
 */
int meta_btree_tx_del(const struct meta_btree_info *info, uint64_t root);

#endif

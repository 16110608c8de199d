/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Transaction manager: the only way to change persistent-data metadata in place
 * (private to libmeta; the model is the kernel's dm-transaction-manager.h).
 *
 * The contract.
 *  - A transaction runs from one commit to the next.  A block is "new" when it was
 *    handed out by meta_tm_new_block() or meta_tm_shadow() in this transaction;
 *    every other block is committed and is never written before the next commit has
 *    landed.  To change a committed block, shadow it: the tm copies it to a new
 *    block, the caller edits the copy, the original loses one reference.
 *  - Shadowing a block that is already new in this transaction, and not shared
 *    (count 1), returns that block itself at no cost (same number, same buffer, no
 *    reference change).  A new block that gained a second reference (a snapshot
 *    taken in the transaction that made the tree) is copied like a committed one.
 *  - The space map the tm allocates from (struct meta_tm_space) hands out only
 *    blocks that are free now AND were free at the last commit: a block freed in
 *    this transaction is not reused before the commit, so the committed metadata
 *    stays intact whatever happens before the superblock is written.
 *  - The buffer of a new block stays valid and writable until the commit (or
 *    meta_tm_destroy); the tm owns it.  Reads see the transaction's own writes.
 *  - Commit is two-phase.  meta_tm_pre_commit() stamps (validator prepare) and
 *    writes every new block, then flushes; meta_tm_commit() writes the superblock
 *    the caller built, last, and flushes again.  The space map's own blocks must
 *    be written (through this tm) before meta_tm_pre_commit(): its commit may
 *    shadow and allocate blocks, which become new blocks of this transaction.
 *    Between the two phases no block can be made or shadowed (META_E_INVAL), and
 *    what is written into a new block's buffer then is lost.  A new block whose
 *    count is back to 0 at the pre-commit (made and freed in this transaction) is
 *    not written.
 *  - After an error in a write or a flush the tm refuses every further call with
 *    that error: the caller abandons the transaction (the device then still holds
 *    the last commit, plus unreferenced new blocks).
 *  - Not thread-safe; one tm per open metadata device.
 *
 * What it does not do: it knows no superblock layout, no btree and no space-map
 * encoding; the counts themselves live in the space map behind meta_tm_space.
 */
#ifndef LIBMETA_PDATA_TM_H
#define LIBMETA_PDATA_TM_H

#include <stdbool.h>
#include <stdint.h>
#include <libmeta/bm.h>

/*
 * The metadata space map, as the tm sees it.  Each returns 0 or a META_E_* code.
 * alloc: a block free now and at the last commit, its count set to 1
 *        (META_E_NOSPC when there is none).
 * inc/dec: one reference more / less (dec of a block at 0 is META_E_CORRUPT).
 * count: the current count (this transaction's view).
 */
struct meta_tm_space {
	void *ctx;
	int (*alloc)(void *ctx, uint64_t *b);
	int (*inc)(void *ctx, uint64_t b);
	int (*dec)(void *ctx, uint64_t b);
	int (*count)(void *ctx, uint64_t b, uint32_t *count);
};

struct meta_tm;

/* bm and the space are borrowed: both must outlive the tm. */
int meta_tm_create(struct meta_bm *bm, const struct meta_tm_space *space, struct meta_tm **out);
/* Drops an uncommitted transaction's buffers (nothing is written). */
void meta_tm_destroy(struct meta_tm *tm);
struct meta_bm *meta_tm_bm(struct meta_tm *tm);

/* A new zeroed block, count 1, writable until the commit; v stamps it at pre-commit. */
int meta_tm_new_block(struct meta_tm *tm, const struct meta_validator *v, uint64_t *b, void **data);

/*
 * A writable copy of block b (validated by v on the way in).  *nb is the copy's
 * number (b itself when b is new in this transaction and not shared).
 * *inc_children is true when b was shared (count > 1 before the shadow): the
 * copy's children now have one more parent, and the caller (the btree) must inc
 * them.  A block whose count is 0 is META_E_CORRUPT (nothing changes).
 */
int meta_tm_shadow(struct meta_tm *tm, uint64_t b, const struct meta_validator *v, uint64_t *nb,
		   void **data, bool *inc_children);

/* Read block b as this transaction sees it (v may be NULL); release with meta_tm_release. */
int meta_tm_read(struct meta_tm *tm, uint64_t b, const struct meta_validator *v, const void **data);
void meta_tm_release(struct meta_tm *tm, const void *data);

/* References on metadata blocks, through the space. */
int meta_tm_inc(struct meta_tm *tm, uint64_t b);
int meta_tm_dec(struct meta_tm *tm, uint64_t b);
int meta_tm_count(struct meta_tm *tm, uint64_t b, uint32_t *count);
/* Whether b was handed out in this transaction. */
bool meta_tm_is_new(const struct meta_tm *tm, uint64_t b);

/* Phase one: write every new block (stamped by its validator), then flush. */
int meta_tm_pre_commit(struct meta_tm *tm);
/*
 * Phase two: stamp and write the superblock (block sb_block, through v), flush;
 * the transaction ends and the next one starts from here.
 */
int meta_tm_commit(struct meta_tm *tm, uint64_t sb_block, const struct meta_validator *v,
		   void *sb_data);

#endif

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Transactional space maps (private to libmeta): the counts of a disk (data) or a
 * metadata space map, changed in a transaction and written back at its commit in
 * the format include/libmeta/sm.h reads (bitmaps of 2-bit entries, the index —
 * a btree for a disk map, one index block for the metadata map — and the
 * ref-count btree for counts above 2).  The model is the kernel's
 * dm-space-map-common.c, -disk.c and -metadata.c.
 *
 * The contract.
 *  - Counts are read lazily from the committed structures and changed in memory;
 *    the committed counts stay known until meta_sm_tx_committed(), so
 *    meta_sm_tx_alloc() hands out only blocks free now and at the last commit.
 *  - Allocation order: the first block at or after the search position that is free
 *    in both, wrapping once, as the kernel does; the position moves past the block
 *    handed out.
 *  - meta_sm_tx_commit() writes what changed through the tm: bitmaps, index and
 *    ref-count tree entries are shadowed, never written in place.  The metadata map
 *    allocates its own blocks from itself and describes itself when it returns
 *    (its commit repeats until nothing more changes), so it commits last: after the
 *    disk map (whose bitmaps and trees are metadata blocks) and every other change
 *    through the tm.  A map nothing changed since the last commit gives back its
 *    committed root and writes nothing.  Then the caller writes the
 *    root into its superblock, runs meta_tm_pre_commit()/meta_tm_commit(), and
 *    calls meta_sm_tx_committed().
 *  - The metadata map serves the tm: meta_sm_tx_space() is its struct meta_tm_space.
 *  - Growing (meta_sm_tx_extend) adds zeroed bitmaps for the new blocks at commit.
 *  - Memory: a few bytes per bitmap, plus a 4 KiB copy of each bitmap a count
 *    changed in during the transaction (at most the size of all the bitmaps,
 *    whatever the number of changes), plus a hash-table slot (32 to 64 bytes) per
 *    block whose count was or became 3 or more in it.
 */
#ifndef LIBMETA_PDATA_SM_TX_H
#define LIBMETA_PDATA_SM_TX_H

#include <stdint.h>
#include <libmeta/sm.h>

#include "pdata/tm.h"

struct meta_sm_tx;

/* Open a map at its committed root (the superblock's sm root). bm is borrowed. */
int meta_sm_tx_open(struct meta_bm *bm, enum meta_sm_kind kind, const struct meta_sm_root *root,
		    struct meta_sm_tx **out);
/*
 * A new, empty map of nr_blocks blocks: nothing is written before its commit.
 * For a metadata map, reserve says how many blocks at the start are already taken
 * (the superblock): they get count 1.
 */
int meta_sm_tx_create(struct meta_bm *bm, enum meta_sm_kind kind, uint64_t nr_blocks,
		      uint64_t reserve, struct meta_sm_tx **out);
void meta_sm_tx_close(struct meta_sm_tx *s);

uint64_t meta_sm_tx_nr_blocks(const struct meta_sm_tx *s);
uint64_t meta_sm_tx_nr_free(const struct meta_sm_tx *s);
int meta_sm_tx_count(struct meta_sm_tx *s, uint64_t b, uint32_t *count);
int meta_sm_tx_inc(struct meta_sm_tx *s, uint64_t b);
int meta_sm_tx_dec(struct meta_sm_tx *s, uint64_t b);
int meta_sm_tx_alloc(struct meta_sm_tx *s, uint64_t *b);
/* Set b's count outright (a repair: a count the check found wrong), in one step. */
int meta_sm_tx_set(struct meta_sm_tx *s, uint64_t b, uint32_t count);
int meta_sm_tx_extend(struct meta_sm_tx *s, uint64_t extra_blocks);

/* The metadata map as the tm's space (s must be a META_SM_METADATA map). */
struct meta_tm_space meta_sm_tx_space(struct meta_sm_tx *s);

/* Write the changes through tm; *root is what the superblock must then hold. */
int meta_sm_tx_commit(struct meta_sm_tx *s, struct meta_tm *tm, struct meta_sm_root *root);
/* The superblock has landed: the current counts become the committed ones. */
void meta_sm_tx_committed(struct meta_sm_tx *s);

#endif

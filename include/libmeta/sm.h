/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Persistent-data space maps (kernel dm-space-map-{disk,metadata,common}), read side.
 *
 * Root (first 32 bytes of the 128-byte field in the superblock):
 *   le64 nr_blocks, le64 nr_allocated, le64 bitmap_root, le64 ref_count_root
 * Bitmap block: le32 csum (xor 240779), le32 not_used, le64 blocknr, then 510
 *   le64 words; 2 bits per block, 16320 entries per bitmap.  Entry i of a word:
 *   bit 2i is the high bit, bit 2i+1 the low bit.  0,1,2 = count, 3 = "look in
 *   the ref-count tree" (a btree of le32 counts keyed by block).
 * Index entry (16 bytes): le64 blocknr, le32 nr_free, le32 none_free_before.
 * Disk (data) space map: bitmap_root is a btree (value 16 bytes) of index entries
 *   keyed by bitmap number.  Metadata space map: bitmap_root is one index block:
 *   le32 csum (xor 160478), le32 padding, le64 blocknr, index_entry[255].
 */
#ifndef LIBMETA_SM_H
#define LIBMETA_SM_H

#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/bm.h>
#include <libmeta/damage.h>

#define META_SM_ENTRIES_PER_BITMAP 16320u
#define META_SM_MAX_METADATA_BITMAPS 255u
#define META_SM_METADATA_MAX_BLOCKS (255ull * 16320ull)

/* Validators (see bm.h) of a bitmap block (xor 240779) and of the metadata space map's
 * index block (xor 160478): checksum, then self-location. */
META_API extern const struct meta_validator meta_bitmap_validator;
META_API extern const struct meta_validator meta_index_validator;

struct meta_sm_root {
	uint64_t nr_blocks, nr_allocated, bitmap_root, ref_count_root;
};

struct meta_sm_index_entry {
	uint64_t blocknr;
	uint32_t nr_free, none_free_before;
};

enum meta_sm_kind { META_SM_DISK, META_SM_METADATA };

/*
 * Read every reference count of a space map, bitmap by bitmap (bitmaps come in
 * on-disk order, which is not necessarily block order):
 * fn(ctx, first_block, counts, n) with counts[i] the count of first_block+i
 * (overflow entries resolved through the ref-count tree).  Damage (bad index,
 * bitmap or ref-count tree) goes to dfn and the affected range is skipped.
 * Returns 0, a stop value from fn, or an error for unusable input (bad root).
 */
typedef int (*meta_sm_counts_fn)(void *ctx, uint64_t first, const uint32_t *counts, uint32_t n);
META_API int meta_sm_read_counts(struct meta_bm *bm, enum meta_sm_kind kind,
				 const struct meta_sm_root *root, meta_sm_counts_fn fn,
				 meta_damage_fn dfn, void *ctx);

/* The index entries of a space map (n_out = number of bitmaps). Caller frees *out. */
META_API int meta_sm_read_index(struct meta_bm *bm, enum meta_sm_kind kind,
				const struct meta_sm_root *root, struct meta_sm_index_entry **out,
				uint64_t *n_out);

/* Count of one block (slow path; tools that need a few). */
META_API int meta_sm_get_count(struct meta_bm *bm, enum meta_sm_kind kind,
			       const struct meta_sm_root *root, uint64_t b, uint32_t *count);

#endif

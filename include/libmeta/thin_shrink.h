/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_shrink: move the data blocks a pool maps at or above a new size NUM to
 * free blocks below it, so the data device can shrink to NUM blocks.
 *
 * Two passes over the same emitter call sequence (emitter.h: the XML reader's
 * or the metadata walker's):
 *   1. the collector emitter records every mapped data range; meta_thin_shrink_plan()
 *      then pairs the used blocks >= NUM, in ascending order, with the free
 *      blocks < NUM (free = mapped by nothing), in ascending order, as long
 *      contiguous remaps (from, to, len);
 *   2. the remapping emitter forwards the sequence to another emitter (an XML
 *      writer, a restorer) with every mapping rewritten through the remaps and
 *      the superblock's nr_data_blocks set to NUM.  A mapping is cut where its
 *      blocks go to different places: its unmoved part (below NUM) first, then
 *      one piece per remap it crosses; pieces are never merged with their
 *      neighbours.  This is the choice thin-provisioning-tools 1.x makes, so
 *      both write the same XML for the same input.
 * Between the passes meta_thin_shrink_copy() copies the moved blocks on the
 * data device, one long copy per remap.  It writes only blocks that no mapping
 * uses (the remaps' targets): an interrupted copy leaves every volume of the
 * input pool reading as before.
 */
#ifndef LIBMETA_THIN_SHRINK_H
#define LIBMETA_THIN_SHRINK_H

#include <stddef.h>
#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/emitter.h>
#include <libmeta/io.h>

struct meta_thin_shrink;

struct meta_thin_shrink_remap {
	uint64_t from, to, len; /* data blocks [from, from+len) move to [to, to+len) */
};

struct meta_thin_shrink_stats {
	uint64_t old_nr_blocks;  /* the input superblock's nr_data_blocks */
	uint64_t new_nr_blocks;  /* NUM */
	uint32_t data_block_size; /* sectors, from the input superblock */
	uint64_t nr_used;        /* distinct data blocks mapped by any device */
	uint64_t nr_above;       /* of them, >= NUM: to move */
	uint64_t nr_free_below;  /* blocks < NUM that nothing maps */
	uint64_t max_used_end;   /* 1 + the highest mapped data block (0: none) */
	uint64_t nr_remaps;      /* remaps in the plan (= copies) */
};

/* A shrink to new_nr_blocks (> 0, else META_E_INVAL).  META_E_NOMEM. */
META_API int meta_thin_shrink_create(uint64_t new_nr_blocks, struct meta_thin_shrink **out);
META_API void meta_thin_shrink_destroy(struct meta_thin_shrink *s);
/* Pass 1: the emitter that records the mapped data ranges (errors: META_E_NOMEM,
 * META_E_RANGE for a mapping whose data range wraps 64 bits). */
META_API struct meta_thin_emitter meta_thin_shrink_collector(struct meta_thin_shrink *s);
/*
 * After pass 1: build the remaps.  META_E_DATA_NOSPC when the used blocks >= NUM
 * outnumber the free blocks < NUM (stats tell how many of each); META_E_INVAL when
 * pass 1 saw no superblock.  st may be NULL.
 */
META_API int meta_thin_shrink_plan(struct meta_thin_shrink *s, struct meta_thin_shrink_stats *st);
/* The plan: remaps ordered by from (and by to). */
META_API size_t meta_thin_shrink_nr_remaps(const struct meta_thin_shrink *s);
META_API const struct meta_thin_shrink_remap *meta_thin_shrink_remaps(const struct meta_thin_shrink *s);
/*
 * Copy every remap on data (opened META_IO_WRITE), then flush it.  Errors:
 * META_E_DATA_SIZE (data is smaller than the highest mapped block: nothing is
 * written), META_E_RANGE (block size times block numbers overflows), META_E_NOMEM,
 * META_E_IO (errno on data).  Only remap targets (blocks free in the input) are
 * written.  *nr_bytes (may be NULL) gets the bytes copied.
 */
META_API int meta_thin_shrink_copy(struct meta_thin_shrink *s, struct meta_io *data,
				   uint64_t *nr_bytes);
/*
 * Pass 2: an emitter forwarding to `next` with the mappings remapped and
 * nr_data_blocks = NUM.  Valid while s lives; only after a successful plan.
 * A mapping >= NUM that no remap covers (the pass 2 input differs from pass 1's)
 * is META_E_INVAL.  The error message for a non-zero return of next comes from next.
 */
META_API struct meta_thin_emitter meta_thin_shrink_remapper(struct meta_thin_shrink *s,
							    const struct meta_thin_emitter *next);

#endif

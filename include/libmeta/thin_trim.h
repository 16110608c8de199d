/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_trim: discard every data block a pool does not use.
 *
 * The unused blocks are those whose count is 0 in the committed (live
 * superblock's) data space map.  A held metadata snapshot changes nothing: the
 * space map counts the blocks its trees map as used.  Free blocks are reported
 * as ranges [begin, end) of data blocks, ascending and coalesced (no two ranges
 * touch).  The caller should have checked the metadata first (thin_check.h): a
 * damaged space map that calls a used block free would have its data discarded.
 */
#ifndef LIBMETA_THIN_TRIM_H
#define LIBMETA_THIN_TRIM_H

#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/io.h>
#include <libmeta/thin.h>

/* fn(ctx, begin, end): data blocks [begin, end) are free; a non-zero return stops the walk. */
typedef int (*meta_thin_range_fn)(void *ctx, uint64_t begin, uint64_t end);

/*
 * The free ranges of the live data space map, in order.  Returns 0, fn's stop
 * value, META_E_CORRUPT when the space map is damaged (its index, a bitmap or
 * its ref-count tree; nothing is reported then), META_E_NOMEM or META_E_IO.
 */
META_API int meta_thin_free_data_ranges(struct meta_thin *t, meta_thin_range_fn fn, void *ctx);

struct meta_thin_trim_stats {
	uint64_t nr_blocks;   /* the pool's data blocks */
	uint64_t nr_free;     /* of them, unused: discarded */
	uint64_t nr_ranges;   /* discard requests issued (one per coalesced range) */
	uint64_t block_bytes; /* data block size in bytes */
};

/*
 * Discard the free ranges on data (opened META_IO_WRITE; meta_io_discard: holes
 * punched in an image, BLKDISCARD on a device).  Only the pool's data blocks are
 * touched: a data device larger than the pool keeps its tail.  Errors:
 * META_E_DATA_SIZE (data is smaller than nr_blocks * block size; nothing is
 * discarded), META_E_CORRUPT (as above, nothing discarded), META_E_RANGE (the
 * superblock's sizes overflow 64 bits), META_E_UNSUPPORTED (the file system or
 * device cannot discard), META_E_IO/META_E_PERM from the data device (some
 * ranges may have been discarded: all of them were free).  st may be NULL.
 */
META_API int meta_thin_trim(struct meta_thin *t, struct meta_io *data,
			    struct meta_thin_trim_stats *st);

#endif

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_merge: a thin snapshot merged back, offline.
 *
 * Rollback (meta_thin_rollback): ORIGIN takes SNAP's mappings, what
 * `lvconvert --merge` of a thin snapshot does, with one difference in ids.
 * lvm2 sends `delete ORIGIN` and lets the snapshot's thin id serve the origin's
 * LV (the surviving device id is SNAP's); here the surviving id is ORIGIN's, so
 * that the tables of an offline image need no edit.  What the pool holds is the
 * same up to that id:
 *   - default: ORIGIN's old tree is dropped (its data blocks freed as a delete
 *     frees them), ORIGIN's top-level entry takes SNAP's tree (the reference
 *     moves, no copy), ORIGIN's details become SNAP's (mapped_blocks,
 *     transaction_id, creation_time, snapshotted_time: the snapshotted_time keeps
 *     every block SNAP shared counted as shared), and SNAP is gone.  Exactly the
 *     kernel's state after lvm2's merge, with SNAP's id renamed to ORIGIN.
 *   - keep_snap: `delete ORIGIN` then `create_snap ORIGIN SNAP`, as the kernel runs
 *     those two messages: both devices map the same tree (one more reference) and
 *     both are snapshotted at the new time.
 * Lineage is not required: the kernel records none (a snapshot's details do not
 * name its origin), so any device can be rolled into any other; lvm2 asks that
 * SNAP be a snapshot of ORIGIN from its own metadata, which an offline pool does
 * not have.
 * Nothing is committed: the caller commits (meta_thin_pool_commit) or abandons.
 * Errors: META_E_INVAL snap == origin; META_E_RANGE an id past 24 bits;
 * META_E_NOTFOUND no such device (*missing, may be NULL, says which); META_E_CORRUPT
 * a device without details; META_E_NOSPC, nothing changed: no metadata block is free
 * beyond the kernel's reserve (min(4096, a tenth)), where the kernel takes no message;
 * the pool's errors (META_E_NOSPC, I/O: the pool then
 * refuses all but close).
 *
 * Merge into an external origin (meta_thin_merge_external): every block device
 * dev maps is copied from the data device into the image at its place, so that
 * the image then reads as the volume does (the volume's unmapped blocks read
 * from the image already).  The pool is only read.  Idempotent: the same bytes
 * go to the same places, so an interrupted merge is completed by running it
 * again.  The volume's length: size bytes (0: the image's size); a mapped block
 * is cut at that length, and a block wholly past it is not part of the volume
 * (skipped) when size is given, refused when it is not.  Refused before any write
 * (the image untouched): META_E_VOL_END, the volume's mapped range runs past the
 * image's end (st->end says where it ends); META_E_DATA_SIZE, a mapped block lies
 * past the data device's end; META_E_CORRUPT, a mapping names a data block past
 * the pool's; META_E_NOTFOUND, no such device; META_E_RANGE, offsets overflow.
 * Then META_E_IO (from either side: meta_io_errno tells) with part of the image
 * written.  The image is flushed (meta_io_flush) before success is returned.
 */
#ifndef LIBMETA_THIN_MERGE_H
#define LIBMETA_THIN_MERGE_H

#include <stdbool.h>
#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/io.h>
#include <libmeta/thin.h>
#include <libmeta/thin_pool.h>

META_API int meta_thin_rollback(struct meta_thin_pool *p, uint64_t snap, uint64_t origin,
				bool keep_snap, uint64_t *missing);

struct meta_thin_merge_stats {
	uint64_t nr_mapped;   /* the device's mappings */
	uint64_t nr_copied;   /* of them, copied into the image (not past the volume's end) */
	uint64_t end;         /* bytes: the end of the last copied range (the volume's mapped range) */
	uint64_t block_bytes; /* data block size in bytes */
};

META_API int meta_thin_merge_external(struct meta_thin *t, struct meta_io *data, uint64_t dev,
				      struct meta_io *image, uint64_t size,
				      struct meta_thin_merge_stats *st);

#endif

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Private to libmeta/snap/: the opened store, and what its files give each other.
 * The files, from the bottom up (each calls only files listed before it):
 *   snap_format.c   layout arithmetic, header decode/encode, records of an area read and written
 *   snap_store.c    the store: open (load as the kernel's read_exceptions), the exception list,
 *                   accessors, usage and status
 *   snap_check.c    check and verify (record checks shared with restore)
 *   snap_restore.c  write a whole store from a list
 *   snap_commit.c   one record committed, or the store invalidated, as the kernel does
 *   snap_view.c     the snapshot's view read from a store and its origin
 *   snap_engine.c   the offline snapshot/snapshot-origin I/O logic
 *   snap_merge.c    the offline merge, writing the origin through the engine
 *   snap_xml.c      XML and human text (public API only)
 */
#ifndef LIBMETA_SNAP_INTERNAL_H
#define LIBMETA_SNAP_INTERNAL_H

#include <libmeta/error.h>
#include <libmeta/snap.h>

#include "snap/snap_ondisk.h"

struct meta_snap {
	struct meta_io *io;
	struct meta_snap_header h;
	bool is_new, truncated;
	uint64_t chunk_bytes, epa, cow_chunks;
	struct meta_snap_exception *ex;
	uint64_t n;
	size_t cap;
	uint64_t *by_old; /* indices sorted by old_chunk, built on demand by the view */
	bool view_ok;     /* meta_snap_verify() passed for the view against ... */
	uint64_t view_origin_sectors; /* ... an origin of this size */
	struct meta_io *failed; /* the device whose I/O stopped the last merge */
};

/* r of an I/O call on io: remember io in *failed when it failed (not for want of memory). */
static inline int snap_io_at(struct meta_io **failed, struct meta_io *io, int r)
{
	if (r && r != META_E_NOMEM)
		*failed = io;
	return r;
}

/*
 * An I/O error of the engine's devices: ENOSPC from the filesystem or device
 * (META_E_NOSPC of meta_io) becomes META_E_IO, its errno kept by the io, so
 * that META_E_NOSPC from the engine only ever means "the COW store is full".
 */
static inline int snap_io_err(int r)
{
	return r == META_E_NOSPC ? META_E_IO : r;
}

/* ---- snap_format.c ---- */

/* The header as read (no check made). */
void snap_header_decode(const struct disk_snap_header *dh, struct meta_snap_header *h);
/* The header chunk, the kernel's way: magic, version, chunk_size of h, `valid`, the rest zero. */
int snap_write_header(struct meta_io *io, const struct meta_snap_header *h, uint32_t valid);
/*
 * Read the records of metadata area `area` from slot first_slot on, in pieces, and
 * hand each to fn (slot in the area, the record as on disk) until fn returns non-zero.
 * Returns the error of a read, else META_OK.
 */
typedef int (*snap_record_fn)(void *ctx, uint64_t slot, const struct disk_exception *de);
int snap_area_walk(struct meta_io *io, uint32_t chunk_size, uint64_t area, uint64_t first_slot,
		   snap_record_fn fn, void *ctx);
/* Write slots [first_slot, first_slot + nr_slots) of area `area` from ex (zeros past n). */
int snap_write_area_range(struct meta_io *io, uint32_t chunk_size,
			  const struct meta_snap_exception *ex, uint64_t n, uint64_t area,
			  uint64_t first_slot, uint64_t nr_slots);
/* Sectors of an area holding slots [lo, hi], as a slot range [*s0, *s1) clamped to epa. */
void snap_sector_slots(uint64_t epa, uint64_t lo, uint64_t hi, uint64_t *s0, uint64_t *s1);

/* ---- snap_store.c ---- */

/* Append (old, new) to the in-memory list. */
int snap_push_exception(struct meta_snap *s, uint64_t old_chunk, uint64_t new_chunk);
/* The list or the header changed: the view's index and verdict no longer hold. */
void snap_changed(struct meta_snap *s);

/* ---- snap_check.c ---- */

/* meta_report() keeping the worst severity in *worst. */
void snap_report(meta_damage_fn fn, void *ctx, enum meta_damage_kind k, uint64_t chunk,
		 uint64_t index, uint64_t count, const char *detail, int *worst);
/* Record i's new chunk: not the header or an area, inside a COW of cow_chunks chunks. */
void snap_check_new_chunk(uint32_t chunk_size, uint64_t cow_chunks, uint64_t i,
			  const struct meta_snap_exception *e, meta_damage_fn fn, void *ctx,
			  int *worst);
/* New chunks used twice, then old chunks remapped twice.  META_E_NOMEM or META_OK. */
int snap_check_duplicates(const struct meta_snap_exception *ex, uint64_t n, meta_damage_fn fn,
			  void *ctx, int *worst);

/* ---- snap_commit.c ---- */

/*
 * Append (old,new) as the kernel's commit_exception does and make it durable.
 * META_E_NOSPC: the next metadata area does not fit (the store is full);
 * META_E_IO: a write or flush of the COW failed (see meta_io_errno()).
 */
int snap_commit_exception(struct meta_snap *s, uint64_t old_chunk, uint64_t new_chunk);
/* Mark the store invalid on disk (header valid = 0), as the kernel does on overflow. */
int snap_invalidate(struct meta_snap *s);

#endif

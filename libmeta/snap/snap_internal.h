/* SPDX-License-Identifier: GPL-2.0-only */
/* Private to libmeta/snap*.c: the opened-store structure and on-disk records. */
#ifndef LIBMETA_SNAP_INTERNAL_H
#define LIBMETA_SNAP_INTERNAL_H

#include <libmeta/error.h>
#include <libmeta/snap.h>

#include "base/endian.h"

#define SECTOR 512u
#define IO_PIECE (1u << 20) /* bytes per read/write piece for big chunks */

struct disk_snap_header {
	le32_t magic;
	le32_t valid;
	le32_t version;
	le32_t chunk_size;
};
_Static_assert(sizeof(struct disk_snap_header) == 16, "snap header size");

struct disk_exception {
	le64_t old_chunk;
	le64_t new_chunk;
};
_Static_assert(sizeof(struct disk_exception) == META_SNAP_EXCEPTION_SIZE, "exception size");

struct meta_snap {
	struct meta_io *io;
	struct meta_snap_header h;
	bool is_new, truncated;
	uint64_t chunk_bytes, epa, cow_chunks;
	struct meta_snap_exception *ex;
	uint64_t n, cap;
	uint64_t *by_old; /* indices sorted by old_chunk, built on demand */
	bool view_ok;     /* meta_snap_verify() passed for the view against ... */
	uint64_t view_origin_sectors; /* ... an origin of this size */
};

/*
 * An I/O error of the engine's devices: ENOSPC from the filesystem or device
 * (META_E_NOSPC of meta_io) becomes META_E_IO, its errno kept by the io, so
 * that META_E_NOSPC from the engine only ever means "the COW store is full".
 */
static inline int snap_io_err(int r)
{
	return r == META_E_NOSPC ? META_E_IO : r;
}

/*
 * Append (old,new) as the kernel's commit_exception does and make it durable.
 * META_E_NOSPC: the next metadata area does not fit (the store is full);
 * META_E_IO: a write or flush of the COW failed (see meta_io_errno()).
 */
int snap_commit_exception(struct meta_snap *s, uint64_t old_chunk, uint64_t new_chunk);
/* Mark the store invalid on disk (header valid = 0), as the kernel does on overflow. */
int snap_invalidate(struct meta_snap *s);

#endif

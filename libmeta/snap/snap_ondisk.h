/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The classic snapshot store on disk (format: include/libmeta/snap.h): its two
 * structures, and every size, offset and derived value the code relies on,
 * pinned at compile time in this one place.  Private to libmeta/snap/.
 */
#ifndef LIBMETA_SNAP_ONDISK_H
#define LIBMETA_SNAP_ONDISK_H

#include <stddef.h>
#include <libmeta/snap.h>

#include "base/endian.h"

#define SECTOR 512u
#define IO_PIECE (1u << 20) /* bytes per read/write piece of an area or a big chunk */

/* Chunk 0, first sector; the rest of the chunk is zero. */
struct disk_snap_header {
	le32_t magic;
	le32_t valid;
	le32_t version;
	le32_t chunk_size; /* sectors */
};

/* One slot of a metadata area; new_chunk 0 ends the list. */
struct disk_exception {
	le64_t old_chunk;
	le64_t new_chunk;
};

/* Slots of one metadata area (one chunk of records), as an integer constant expression. */
#define SNAP_EXCEPTIONS_PER_AREA(cs) ((uint64_t)(cs) * SECTOR / sizeof(struct disk_exception))
/* Chunk of metadata area a: the header, then each area followed by its data chunks. */
#define SNAP_AREA_LOCATION(cs, a) (1 + (uint64_t)(a) * (SNAP_EXCEPTIONS_PER_AREA(cs) + 1))

_Static_assert(sizeof(struct disk_snap_header) == 16, "snap header size");
_Static_assert(offsetof(struct disk_snap_header, magic) == 0, "header: magic at 0");
_Static_assert(offsetof(struct disk_snap_header, valid) == 4, "header: valid at 4");
_Static_assert(offsetof(struct disk_snap_header, version) == 8, "header: version at 8");
_Static_assert(offsetof(struct disk_snap_header, chunk_size) == 12, "header: chunk_size at 12");
_Static_assert(sizeof(struct disk_snap_header) <= SECTOR, "the header fits in its sector");
_Static_assert(META_SNAP_MAGIC == ('S' | 'n' << 8 | 'A' << 16 | (uint32_t)'p' << 24),
	       "magic reads \"SnAp\" on disk");

_Static_assert(sizeof(struct disk_exception) == META_SNAP_EXCEPTION_SIZE, "exception size");
_Static_assert(offsetof(struct disk_exception, old_chunk) == 0, "exception: old_chunk at 0");
_Static_assert(offsetof(struct disk_exception, new_chunk) == 8, "exception: new_chunk at 8");
_Static_assert(SECTOR % sizeof(struct disk_exception) == 0, "records tile a sector");
_Static_assert(IO_PIECE % SECTOR == 0 && IO_PIECE % sizeof(struct disk_exception) == 0,
	       "an I/O piece holds whole sectors and whole records");

/* Derived values: areas of the smallest and the largest chunk, and where they lie. */
_Static_assert(SNAP_EXCEPTIONS_PER_AREA(1) == 32, "32 records per area of 1-sector chunks");
_Static_assert(SNAP_EXCEPTIONS_PER_AREA(8) == 256, "256 records per area of 4 KiB chunks");
_Static_assert(SNAP_EXCEPTIONS_PER_AREA(META_SNAP_MAX_CHUNK_SIZE) == 1u << 26,
	       "2^26 records per area of the largest chunk");
_Static_assert((uint64_t)META_SNAP_MAX_CHUNK_SIZE * SECTOR <= 1u << 30,
	       "the largest chunk (1 GiB) fits in size_t and int byte counts");
_Static_assert(SNAP_AREA_LOCATION(8, 0) == 1 && SNAP_AREA_LOCATION(8, 1) == 258,
	       "area 0 at chunk 1, area 1 after area 0's 256 data chunks");

#endif

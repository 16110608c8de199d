/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The kernel's way of changing a live store, for the offline engine: one
 * exception committed (commit_exception), or the store invalidated.
 */
#include <libmeta/error.h>
#include <libmeta/snap.h>

#include <stdlib.h>

#include "snap/snap_internal.h"

int snap_commit_exception(struct meta_snap *s, uint64_t old_chunk, uint64_t new_chunk)
{
	uint64_t idx = s->n, area = idx / s->epa, slot = idx % s->epa, s0, s1;
	int r = snap_io_err(meta_io_flush(s->io)); /* PREFLUSH: the data copy is durable first */
	if (r)
		return r;
	r = snap_push_exception(s, old_chunk, new_chunk);
	if (r)
		return r;
	snap_changed(s);
	if (slot + 1 == s->epa) {
		/* area full: the next area is zeroed first (a reader always finds a terminator) */
		uint64_t next = meta_snap_area_location(s->h.chunk_size, area + 1);
		uint8_t *zero;
		if (next >= s->cow_chunks)
			return META_E_NOSPC;
		zero = calloc(1, IO_PIECE);
		if (!zero)
			return META_E_NOMEM;
		for (uint64_t off = 0; !r && off < s->chunk_bytes; off += IO_PIECE) {
			size_t now = s->chunk_bytes - off < IO_PIECE ? (size_t)(s->chunk_bytes - off) : IO_PIECE;
			r = meta_io_pwrite(s->io, zero, now, next * s->chunk_bytes + off);
		}
		free(zero);
		if (r)
			return snap_io_err(r);
	}
	/* the sector holding the new record (the rest of the area is already on disk) */
	snap_sector_slots(s->epa, slot, slot, &s0, &s1);
	r = snap_write_area_range(s->io, s->h.chunk_size, s->ex, s->n, area, s0, s1 - s0);
	if (!r)
		r = meta_io_flush(s->io); /* FUA */
	return snap_io_err(r);
}

int snap_invalidate(struct meta_snap *s)
{
	uint8_t buf[SECTOR];
	struct disk_snap_header *dh = (void *)buf;
	int r = meta_io_pread(s->io, buf, SECTOR, 0);
	if (r)
		return r;
	dh->valid = le32_of(0);
	snap_changed(s);
	r = meta_io_pwrite(s->io, buf, SECTOR, 0);
	if (!r)
		r = meta_io_flush(s->io);
	s->h.valid = 0;
	return snap_io_err(r);
}

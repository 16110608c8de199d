/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The classic snapshot store's on-disk format (include/libmeta/snap.h,
 * snap/snap_ondisk.h): layout arithmetic, the header, and the records of a
 * metadata area read and written in pieces of at most IO_PIECE bytes.
 */
#include <libmeta/error.h>
#include <libmeta/snap.h>

#include <stdlib.h>
#include <string.h>

#include "snap/snap_internal.h"

uint64_t meta_snap_exceptions_per_area(uint32_t chunk_size)
{
	return SNAP_EXCEPTIONS_PER_AREA(chunk_size);
}

uint64_t meta_snap_area_location(uint32_t chunk_size, uint64_t area)
{
	return SNAP_AREA_LOCATION(chunk_size, area);
}

bool meta_snap_is_area_chunk(uint32_t chunk_size, uint64_t chunk)
{
	return chunk % (meta_snap_exceptions_per_area(chunk_size) + 1) == 1;
}

uint64_t meta_snap_nth_new_chunk(uint32_t chunk_size, uint64_t i)
{
	return 2 + i + i / meta_snap_exceptions_per_area(chunk_size);
}

int meta_snap_check_chunk_size(uint32_t cs)
{
	if (cs == 0 || (cs & (cs - 1)) || cs > META_SNAP_MAX_CHUNK_SIZE)
		return META_E_INVAL;
	return META_OK;
}

void snap_header_decode(const struct disk_snap_header *dh, struct meta_snap_header *h)
{
	h->magic = le32_get(dh->magic);
	h->valid = le32_get(dh->valid);
	h->version = le32_get(dh->version);
	h->chunk_size = le32_get(dh->chunk_size);
}

int snap_write_header(struct meta_io *io, const struct meta_snap_header *h, uint32_t valid)
{
	static const uint8_t zero[SECTOR];
	uint8_t buf[SECTOR];
	struct disk_snap_header *dh = (void *)buf;
	uint64_t chunk_bytes = (uint64_t)h->chunk_size * SECTOR;
	int r;
	memset(buf, 0, sizeof(buf));
	dh->magic = le32_of(META_SNAP_MAGIC);
	dh->valid = le32_of(valid);
	dh->version = le32_of(META_SNAP_VERSION);
	dh->chunk_size = le32_of(h->chunk_size);
	r = meta_io_pwrite(io, buf, SECTOR, 0);
	/* the kernel writes the whole header chunk: the rest of it is zero */
	for (uint64_t off = SECTOR; !r && off < chunk_bytes; off += SECTOR)
		r = meta_io_pwrite(io, zero, SECTOR, off);
	return r;
}

int snap_area_walk(struct meta_io *io, uint32_t chunk_size, uint64_t area, uint64_t first_slot,
		   snap_record_fn fn, void *ctx)
{
	uint64_t chunk_bytes = (uint64_t)chunk_size * SECTOR;
	uint64_t base = meta_snap_area_location(chunk_size, area) * chunk_bytes;
	size_t piece = chunk_bytes < IO_PIECE ? (size_t)chunk_bytes : IO_PIECE;
	size_t per_piece = piece / sizeof(struct disk_exception);
	const struct disk_exception *de;
	uint8_t *buf = meta_io_buf_alloc(piece);
	int r = META_OK;
	if (!buf)
		return META_E_NOMEM;
	de = (const void *)buf;
	for (uint64_t off = first_slot * sizeof(*de) / piece * piece; off < chunk_bytes; off += piece) {
		uint64_t slot = off / sizeof(*de);
		r = meta_io_pread(io, buf, piece, base + off);
		if (r)
			break;
		for (size_t i = 0; i < per_piece; i++)
			if (slot + i >= first_slot && fn(ctx, slot + i, &de[i]))
				goto out;
	}
out:
	free(buf);
	return r;
}

int snap_write_area_range(struct meta_io *io, uint32_t cs, const struct meta_snap_exception *ex,
			  uint64_t n, uint64_t area, uint64_t first_slot, uint64_t nr_slots)
{
	uint64_t epa = meta_snap_exceptions_per_area(cs);
	uint64_t base = meta_snap_area_location(cs, area) * (uint64_t)cs * SECTOR;
	size_t piece_slots = IO_PIECE / sizeof(struct disk_exception);
	struct disk_exception *de = meta_io_buf_alloc(IO_PIECE);
	int r = META_OK;
	if (!de)
		return META_E_NOMEM;
	for (uint64_t s0 = first_slot; s0 < first_slot + nr_slots; s0 += piece_slots) {
		uint64_t cnt = first_slot + nr_slots - s0;
		if (cnt > piece_slots)
			cnt = piece_slots;
		memset(de, 0, (size_t)cnt * sizeof(*de));
		for (uint64_t i = 0; i < cnt; i++) {
			uint64_t idx = area * epa + s0 + i;
			if (idx < n) {
				de[i].old_chunk = le64_of(ex[idx].old_chunk);
				de[i].new_chunk = le64_of(ex[idx].new_chunk);
			}
		}
		r = meta_io_pwrite(io, de, (size_t)cnt * sizeof(*de), base + s0 * sizeof(*de));
		if (r)
			break;
	}
	free(de);
	return r;
}

void snap_sector_slots(uint64_t epa, uint64_t lo, uint64_t hi, uint64_t *s0, uint64_t *s1)
{
	const uint64_t per_sector = SECTOR / sizeof(struct disk_exception);
	*s0 = lo / per_sector * per_sector;
	*s1 = (hi / per_sector + 1) * per_sector;
	if (*s1 > epa)
		*s1 = epa;
}

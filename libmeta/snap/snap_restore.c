/* SPDX-License-Identifier: GPL-2.0-only */
/* Write a whole classic snapshot store from a list, as the kernel would have (include/libmeta/snap.h). */
#include <libmeta/error.h>
#include <libmeta/family.h>
#include <libmeta/snap.h>

#include "snap/snap_internal.h"

int meta_snap_restore(const char *path, const struct meta_snap_header *h,
		      const struct meta_snap_exception *ex, uint64_t n, bool force, meta_damage_fn fn,
		      void *ctx)
{
	struct meta_snap *old = NULL;
	struct meta_io *io;
	uint64_t epa, last_area, cow_chunks;
	uint64_t chunk_bytes;
	int r;

	if (meta_snap_check_chunk_size(h->chunk_size) || h->version != META_SNAP_VERSION)
		return META_E_INVAL;
	chunk_bytes = (uint64_t)h->chunk_size * SECTOR;
	epa = meta_snap_exceptions_per_area(h->chunk_size);
	last_area = n / epa; /* the partial area, or the zeroed one after a full area */
	if (!force) {
		/* metadata of another family (thin pool, daniel store, pack, XML) is kept too, however small */
		enum meta_family f = META_FAMILY_NONE;
		if (meta_io_open(path, META_IO_EXCL, &io) == META_OK) {
			f = meta_family_sniff(io);
			meta_io_close(io);
		}
		if (f != META_FAMILY_NONE && f != META_FAMILY_SNAP)
			return META_E_EXISTS;
	}
	r = meta_snap_open(path, 0, &old);
	if (r == META_OK) {
		bool valid_store = !meta_snap_is_new(old) && meta_snap_get_header(old)->valid;
		meta_snap_close(old);
		if (valid_store && !force)
			return META_E_EXISTS;
	} else if (r == META_E_NOENT || r == META_E_ISDIR || r == META_E_PERM || r == META_E_IO ||
		   r == META_E_BUSY || r == META_E_TOOSMALL) {
		return r;
	}
	r = meta_io_open(path, META_IO_WRITE | META_IO_EXCL, &io);
	if (r)
		return r;
	cow_chunks = meta_io_size(io) / chunk_bytes;
	if (meta_snap_area_location(h->chunk_size, last_area) >= cow_chunks) {
		meta_io_close(io);
		return META_E_TOOSMALL;
	}
	if (h->valid) {
		/* validate the records: a restore never writes a store the kernel would misread */
		int worst = -1;
		for (uint64_t i = 0; i < n; i++)
			snap_check_new_chunk(h->chunk_size, cow_chunks, i, &ex[i], fn, ctx, &worst);
		if (snap_check_duplicates(ex, n, fn, ctx, &worst)) {
			meta_io_close(io);
			return META_E_NOMEM;
		}
		if (worst >= META_SEV_FATAL) {
			meta_io_close(io);
			return META_E_INVAL;
		}
	}
	r = snap_write_header(io, h, 0);
	if (!r)
		r = meta_io_flush(io);
	for (uint64_t a = 0; !r && h->valid && a <= last_area; a++)
		r = snap_write_area_range(io, h->chunk_size, ex, n, a, 0, epa);
	if (!r)
		r = meta_io_flush(io);
	if (!r && h->valid)
		r = snap_write_header(io, h, h->valid);
	if (!r)
		r = meta_io_flush(io);
	meta_io_close(io);
	return r;
}

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The classic snapshot store opened (format in include/libmeta/snap.h): its
 * header and exception list loaded as the kernel's read_exceptions does, the
 * accessors, and the usage the kernel reports.
 */
#include <libmeta/error.h>
#include <libmeta/snap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "snap/snap_internal.h"

int snap_push_exception(struct meta_snap *s, uint64_t old, uint64_t new)
{
	if (meta_grow((void **)&s->ex, &s->cap, (size_t)s->n + 1, sizeof(*s->ex)))
		return META_E_NOMEM;
	s->ex[s->n].old_chunk = old;
	s->ex[s->n].new_chunk = new;
	s->n++;
	return META_OK;
}

void snap_changed(struct meta_snap *s)
{
	s->view_ok = false;
	free(s->by_old);
	s->by_old = NULL;
}

struct load {
	struct meta_snap *s;
	bool full; /* no terminator seen in the area */
	int r;
};

static int load_record(void *ctx, uint64_t slot, const struct disk_exception *de)
{
	struct load *l = ctx;
	uint64_t nc = le64_get(de->new_chunk);
	(void)slot;
	if (nc == 0) {
		l->full = false;
		return 1;
	}
	l->r = snap_push_exception(l->s, le64_get(de->old_chunk), nc);
	return l->r;
}

/* Load the exception list as read_exceptions does. */
static int load(struct meta_snap *s)
{
	struct load l = {s, true, META_OK};
	for (uint64_t area = 0; l.full; area++) {
		int r;
		if (meta_snap_area_location(s->h.chunk_size, area) >= s->cow_chunks) {
			s->truncated = true;
			break;
		}
		r = snap_area_walk(s->io, s->h.chunk_size, area, 0, load_record, &l);
		if (r || l.r)
			return r ? r : l.r;
	}
	return META_OK;
}

int meta_snap_open(const char *path, unsigned flags, struct meta_snap **out)
{
	struct meta_snap *s;
	struct meta_io *io;
	uint8_t hdr[SECTOR];
	unsigned ioflags = 0;
	int r;

	*out = NULL;
	if (flags & META_SNAP_OPEN_WRITE)
		ioflags |= META_IO_WRITE;
	if (flags & META_SNAP_OPEN_EXCL)
		ioflags |= META_IO_EXCL;
	r = meta_io_open_input(path, ioflags, SECTOR, &io);
	if (r)
		return r;
	r = meta_io_pread(io, hdr, SECTOR, 0);
	if (r) {
		meta_io_close(io);
		return r;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		meta_io_close(io);
		return META_E_NOMEM;
	}
	s->io = io;
	snap_header_decode((const struct disk_snap_header *)hdr, &s->h);
	if (s->h.magic == 0) {
		s->is_new = true;
		*out = s;
		return META_OK;
	}
	r = META_E_BADMAGIC;
	if (s->h.magic != META_SNAP_MAGIC)
		goto fail;
	r = META_E_VERSION;
	if (s->h.version != META_SNAP_VERSION)
		goto fail;
	r = META_E_CORRUPT;
	if (meta_snap_check_chunk_size(s->h.chunk_size))
		goto fail;
	s->chunk_bytes = (uint64_t)s->h.chunk_size * SECTOR;
	s->epa = meta_snap_exceptions_per_area(s->h.chunk_size);
	s->cow_chunks = meta_io_size(io) / s->chunk_bytes;
	if (s->cow_chunks < 1) {
		r = META_E_TOOSMALL;
		goto fail;
	}
	if (s->h.valid) {
		r = load(s);
		if (r)
			goto fail;
	}
	*out = s;
	return META_OK;
fail:
	meta_snap_close(s);
	return r;
}
void meta_snap_close(struct meta_snap *s)
{
	if (!s)
		return;
	meta_io_close(s->io);
	free(s->ex);
	free(s->by_old);
	free(s);
}

const struct meta_snap_header *meta_snap_get_header(const struct meta_snap *s) { return &s->h; }
bool meta_snap_is_new(const struct meta_snap *s) { return s->is_new; }
bool meta_snap_truncated(const struct meta_snap *s) { return s->truncated; }
uint64_t meta_snap_cow_sectors(const struct meta_snap *s) { return meta_io_size(s->io) / SECTOR; }
struct meta_io *meta_snap_get_io(const struct meta_snap *s) { return s->io; }

const struct meta_snap_exception *meta_snap_exceptions(const struct meta_snap *s, uint64_t *n)
{
	*n = s->n;
	return s->ex;
}

void meta_snap_get_usage(const struct meta_snap *s, struct meta_snap_usage *u)
{
	memset(u, 0, sizeof(*u));
	u->total_sectors = meta_snap_cow_sectors(s);
	if (s->is_new || !s->epa)
		return;
	u->current_area = s->n / s->epa;
	u->current_committed = s->n % s->epa;
	u->next_free = 2;
	for (uint64_t i = 0; i < s->n; i++)
		if (s->ex[i].new_chunk >= u->next_free)
			u->next_free = s->ex[i].new_chunk + 1;
	if (meta_snap_is_area_chunk(s->h.chunk_size, u->next_free))
		u->next_free++;
	u->sectors_allocated = u->next_free * s->h.chunk_size;
	u->metadata_sectors = (u->current_area + 2) * s->h.chunk_size;
}

void meta_snap_status(const struct meta_snap *s, char *buf, size_t len)
{
	struct meta_snap_usage u;
	if (!s->is_new && !s->h.valid) {
		snprintf(buf, len, "Invalid");
		return;
	}
	meta_snap_get_usage(s, &u);
	snprintf(buf, len, "%llu/%llu %llu", (unsigned long long)u.sectors_allocated,
		 (unsigned long long)u.total_sectors, (unsigned long long)u.metadata_sectors);
}


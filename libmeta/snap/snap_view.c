/* SPDX-License-Identifier: GPL-2.0-only */
/* The snapshot view: a store's origin chunks overlaid by its exceptions (include/libmeta/snap.h). */
#include <libmeta/error.h>
#include <libmeta/snap.h>

#include <stdlib.h>

#include "snap/snap_internal.h"

static int cmp_by_old(const void *a, const void *b, void *arg)
{
	const struct meta_snap *s = arg;
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	if (s->ex[x].old_chunk != s->ex[y].old_chunk)
		return s->ex[x].old_chunk < s->ex[y].old_chunk ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int build_by_old(struct meta_snap *s)
{
	if (s->by_old || !s->n)
		return META_OK;
	s->by_old = malloc(s->n * sizeof(uint64_t));
	if (!s->by_old)
		return META_E_NOMEM;
	for (uint64_t i = 0; i < s->n; i++)
		s->by_old[i] = i;
	qsort_r(s->by_old, s->n, sizeof(uint64_t), cmp_by_old, s);
	return META_OK;
}

/* First exception (in on-disk order) for origin chunk c, or -1. */
static int64_t find_old(const struct meta_snap *s, uint64_t c)
{
	uint64_t lo = 0, hi = s->n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (s->ex[s->by_old[mid]].old_chunk < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->n && s->ex[s->by_old[lo]].old_chunk == c)
		return (int64_t)s->by_old[lo];
	return -1;
}

int meta_snap_read_view(struct meta_snap *s, struct meta_io *origin, uint64_t off, void *buf,
			size_t len)
{
	uint8_t *p = buf;
	uint64_t osec = meta_io_size(origin) / SECTOR;
	int r;
	if (!s->view_ok || s->view_origin_sectors != osec) {
		r = meta_snap_verify(s, osec, 0, NULL, NULL);
		if (r)
			return r;
		s->view_ok = true;
		s->view_origin_sectors = osec;
	}
	if (!s->n) /* a new or empty store: the origin shows through */
		return meta_io_pread(origin, buf, len, off);
	r = build_by_old(s);
	if (r)
		return r;
	while (len) {
		uint64_t cb = s->chunk_bytes;
		uint64_t chunk = off / cb, in = off % cb;
		size_t now = (size_t)(cb - in < len ? cb - in : len);
		int64_t e = find_old(s, chunk);
		if (e >= 0)
			r = meta_io_pread(s->io, p, now, s->ex[e].new_chunk * cb + in);
		else
			r = meta_io_pread(origin, p, now, off);
		if (r)
			return r;
		p += now;
		off += now;
		len -= now;
	}
	return META_OK;
}

#define EXPORT_PIECE (1u << 20)

int meta_snap_export_view(struct meta_snap *s, struct meta_io *origin, uint64_t begin, uint64_t end,
			  meta_snap_out_fn out, void *ctx, uint64_t *at)
{
	uint8_t *buf;
	int r = META_OK;
	*at = begin;
	if (end > meta_io_size(origin))
		end = meta_io_size(origin);
	if (begin >= end)
		return META_OK;
	if (!(buf = meta_io_buf_alloc(EXPORT_PIECE)))
		return META_E_NOMEM;
	for (uint64_t off = begin; off < end && !r; off += EXPORT_PIECE) {
		size_t now = (size_t)(end - off < EXPORT_PIECE ? end - off : EXPORT_PIECE);
		*at = off;
		r = s ? meta_snap_read_view(s, origin, off, buf, now) : meta_io_pread(origin, buf, now, off);
		if (!r)
			r = out(ctx, buf, now);
	}
	free(buf);
	return r;
}

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The offline merge of a classic snapshot into its origin, in the kernel's
 * order (include/libmeta/snap.h).  It sits above the engine: with other
 * snapshots of the origin, the origin is written through it.
 */
#include <libmeta/error.h>
#include <libmeta/snap.h>

#include <stdlib.h>
#include <string.h>

#include "snap/snap_internal.h"

#define MERGE_COPY_BUF (4u << 20)

static int copy_chunks(struct meta_snap *s, struct meta_io *origin, struct meta_snap_engine *others,
		       uint8_t *buf, uint64_t from_chunk, uint64_t to_chunk, uint64_t nr)
{
	uint64_t src = from_chunk * s->chunk_bytes, dst = to_chunk * s->chunk_bytes;
	uint64_t len = nr * s->chunk_bytes, osize = meta_io_size(origin);
	size_t bufsz = MERGE_COPY_BUF;
	int r = META_OK;
	if (dst >= osize)
		return META_OK;
	if (dst + len > osize)
		len = osize - dst; /* the kernel clamps the copy at the end of the origin */
	for (uint64_t done = 0; done < len && !r;) {
		size_t now = (size_t)(len - done < bufsz ? len - done : bufsz);
		r = snap_io_at(&s->failed, s->io, meta_io_pread(s->io, buf, now, src + done));
		if (!r && others && (r = meta_snap_engine_write_origin(others, dst + done, buf, now)))
			s->failed = meta_snap_engine_failed_io(others);
		else if (!r && !others)
			r = snap_io_at(&s->failed, origin, meta_io_pwrite(origin, buf, now, dst + done));
		done += now;
	}
	return r;
}

/*
 * Batches are grouped under one origin flush and one store flush: the data of
 * every batch in the group is copied, the origin flushed, then all their records
 * are cleared (the list's tail, newest area first) and the store flushed.  A
 * crash anywhere leaves every still-listed record pointing at data not yet
 * known durable on the origin, exactly the kernel's invariant, with far fewer
 * flushes than one pair per batch.
 */
#define MERGE_GROUP_BYTES (64u << 20)
#define MERGE_GROUP_BATCHES 65536u

/* Make [end, group_end) of the list durable as merged: flush origin, clear, flush store. */
static int merge_commit(struct meta_snap *s, struct meta_io *origin, uint64_t end, uint64_t group_end)
{
	int r = snap_io_at(&s->failed, origin, meta_io_flush(origin));
	if (end == group_end)
		return r;
	for (uint64_t area = (group_end - 1) / s->epa; !r; area--) {
		uint64_t a0 = area * s->epa;
		uint64_t lo = (end > a0 ? end : a0) - a0;
		uint64_t hi = (group_end < a0 + s->epa ? group_end : a0 + s->epa) - a0;
		uint64_t s0, s1;
		/* whole sectors around the cleared slots; slots below `end` keep their records */
		snap_sector_slots(s->epa, lo, hi - 1, &s0, &s1);
		r = snap_io_at(&s->failed, s->io,
			       snap_write_area_range(s->io, s->h.chunk_size, s->ex, end, area, s0, s1 - s0));
		if (area == 0 || a0 <= end)
			break;
		/*
		 * This area's clearing must be durable before a lower one's: a device that
		 * kept a lower area's zeros but lost this area's would leave merged records
		 * after the terminator, which a resumed merge cannot see to clear.
		 */
		if (!r)
			r = snap_io_at(&s->failed, s->io, meta_io_flush(s->io));
	}
	if (!r)
		r = snap_io_at(&s->failed, s->io, meta_io_flush(s->io));
	if (!r)
		s->n = end;
	snap_changed(s);
	return r;
}

/*
 * Clear the records a torn or reordered clearing left after the terminator of the last
 * area (the kernel ignores them; they are records already merged), so that a resumed merge
 * ends with the bytes of an uninterrupted one.  Nothing is written when there are none.
 */
static int last_record(void *ctx, uint64_t slot, const struct disk_exception *de)
{
	static const struct disk_exception zero;
	if (memcmp(de, &zero, sizeof(zero)))
		*(int64_t *)ctx = (int64_t)slot;
	return 0;
}

static int merge_clear_garbage(struct meta_snap *s)
{
	uint64_t area = s->n / s->epa, slot = s->n % s->epa, s0, s1;
	uint64_t loc = meta_snap_area_location(s->h.chunk_size, area);
	int64_t last = -1;
	int r;
	if (s->truncated || (loc + 1) * s->chunk_bytes > meta_io_size(s->io))
		return META_OK;
	r = snap_area_walk(s->io, s->h.chunk_size, area, slot, last_record, &last);
	if (r || last < 0)
		return snap_io_at(&s->failed, s->io, r);
	snap_sector_slots(s->epa, slot, (uint64_t)last, &s0, &s1);
	r = snap_write_area_range(s->io, s->h.chunk_size, s->ex, s->n, area, s0, s1 - s0);
	return snap_io_at(&s->failed, s->io, r ? r : meta_io_flush(s->io));
}

int meta_snap_merge(struct meta_snap *s, struct meta_io *origin, const struct meta_snap_merge_opts *o)
{
	static const struct meta_snap_merge_opts none;
	uint64_t end, batches = 0, done = 0, total, origin_chunks;
	uint64_t group_end, group_bytes = 0, group_batches = 0;
	uint8_t *buf = NULL;
	int r;
	if (!o)
		o = &none;
	s->failed = NULL;
	/* duplicate or illegal chunks, a list past the device: merging would write the wrong data */
	r = meta_snap_verify(s, 0, 0, o->damage, o->damage_ctx);
	if (r)
		return r;
	if (s->is_new)
		return META_OK;
	if (!o->dry_run && (r = merge_clear_garbage(s)))
		return r;
	if (s->n == 0)
		return META_OK;
	origin_chunks = (meta_io_size(origin) + s->chunk_bytes - 1) / s->chunk_bytes;
	for (uint64_t i = 0; i < s->n; i++)
		if (s->ex[i].old_chunk >= origin_chunks)
			return META_E_RANGE;
	total = s->n;
	end = group_end = s->n;
	if (!o->dry_run && !(buf = meta_io_buf_alloc(MERGE_COPY_BUF)))
		return META_E_NOMEM;
	while (end) {
		uint64_t area = (end - 1) / s->epa, area_first = area * s->epa;
		const struct meta_snap_exception *last = &s->ex[end - 1];
		uint64_t nr = 1;
		struct meta_snap_batch b;
		if ((o->stop && *o->stop) || (o->max_batches && batches >= o->max_batches)) {
			r = o->dry_run ? META_OK : merge_commit(s, origin, end, group_end);
			free(buf);
			return r ? r : META_E_INTERRUPTED;
		}
		while (end - nr > area_first &&
		       s->ex[end - 1 - nr].old_chunk == last->old_chunk - nr &&
		       s->ex[end - 1 - nr].new_chunk == last->new_chunk - nr)
			nr++;
		b.old_chunk = last->old_chunk + 1 - nr;
		b.new_chunk = last->new_chunk + 1 - nr;
		b.nr_chunks = nr;
		if (o->on_batch) {
			r = o->on_batch(o->ctx, &b, done, total);
			if (r) {
				int r2 = o->dry_run ? META_OK : merge_commit(s, origin, end, group_end);
				free(buf);
				return r2 ? r2 : r;
			}
		}
		if (!o->dry_run) {
			r = copy_chunks(s, origin, o->others, buf, b.new_chunk, b.old_chunk, nr);
			if (r) {
				free(buf);
				return r; /* nothing of this group is cleared: it will be copied again */
			}
			group_bytes += nr * s->chunk_bytes;
			group_batches++;
		}
		end -= nr;
		done += nr;
		batches++;
		if (!o->dry_run &&
		    (!end || group_bytes >= MERGE_GROUP_BYTES || group_batches >= MERGE_GROUP_BATCHES)) {
			r = merge_commit(s, origin, end, group_end);
			if (r) {
				free(buf);
				return r;
			}
			group_end = end;
			group_bytes = group_batches = 0;
		}
	}
	if (o->on_batch && !o->dry_run)
		o->on_batch(o->ctx, NULL, done, total);
	free(buf);
	snap_changed(s);
	return META_OK;
}

struct meta_io *meta_snap_merge_failed_io(const struct meta_snap *s)
{
	return s->failed;
}

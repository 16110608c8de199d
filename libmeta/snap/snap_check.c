/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Check and verify a classic snapshot store (include/libmeta/snap.h): every
 * invariant a careful reader can enforce, and the fatal part of it that merge,
 * the view and the engine rely on.  The record checks serve restore too.
 */
#include <libmeta/error.h>
#include <libmeta/snap.h>

#include <stdlib.h>
#include <string.h>

#include "snap/snap_internal.h"
#include "base/util.h"

void snap_report(meta_damage_fn fn, void *ctx, enum meta_damage_kind k, uint64_t chunk,
		 uint64_t index, uint64_t count, const char *detail, int *worst)
{
	int sev = meta_report(fn, ctx, k, chunk, index, index + 1, count, detail);
	if (sev > *worst)
		*worst = sev;
}

void snap_check_new_chunk(uint32_t chunk_size, uint64_t cow_chunks, uint64_t i,
			  const struct meta_snap_exception *e, meta_damage_fn fn, void *ctx,
			  int *worst)
{
	if (e->new_chunk < 2 || meta_snap_is_area_chunk(chunk_size, e->new_chunk))
		snap_report(fn, ctx, META_DMG_SNAP_NEW_CHUNK, e->new_chunk, i, 1,
			    "COW chunk is the header or a metadata area", worst);
	else if (e->new_chunk >= cow_chunks)
		snap_report(fn, ctx, META_DMG_SNAP_NEW_CHUNK, e->new_chunk, i, 1,
			    "COW chunk lies past the end of the COW device", worst);
}

struct keyidx {
	uint64_t key, idx;
};

static int cmp_keyidx(const void *a, const void *b)
{
	const struct keyidx *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int report_dups(const struct meta_snap_exception *ex, uint64_t n, bool by_new,
		       enum meta_damage_kind k, meta_damage_fn fn, void *ctx, int *worst)
{
	struct keyidx *v = malloc((n ? n : 1) * sizeof(*v));
	if (!v)
		return META_E_NOMEM;
	for (uint64_t i = 0; i < n; i++) {
		v[i].key = by_new ? ex[i].new_chunk : ex[i].old_chunk;
		v[i].idx = i;
	}
	qsort(v, n, sizeof(*v), cmp_keyidx);
	for (uint64_t i = 1; i < n; i++)
		if (v[i].key == v[i - 1].key)
			snap_report(fn, ctx, k, by_new ? v[i].key : ex[v[i].idx].new_chunk, v[i].idx, 1,
				    by_new ? "COW chunk already used by an earlier exception"
					   : "origin chunk already remapped by an earlier exception",
				    worst);
	free(v);
	return META_OK;
}

int snap_check_duplicates(const struct meta_snap_exception *ex, uint64_t n, meta_damage_fn fn,
			  void *ctx, int *worst)
{
	int r = report_dups(ex, n, true, META_DMG_SNAP_DUP_NEW, fn, ctx, worst);
	return r ? r : report_dups(ex, n, false, META_DMG_SNAP_DUP_OLD, fn, ctx, worst);
}

static int count_garbage(void *ctx, uint64_t slot, const struct disk_exception *de)
{
	static const struct disk_exception zero;
	(void)slot;
	if (memcmp(de, &zero, sizeof(zero)))
		++*(uint64_t *)ctx;
	return 0;
}

int meta_snap_check(struct meta_snap *s, uint64_t origin_sectors, meta_damage_fn fn, void *ctx)
{
	int worst = -1;
	uint64_t out_of_order = 0, first_ooo = 0;
	if (s->is_new)
		return worst;
	if (!s->h.valid) {
		snap_report(fn, ctx, META_DMG_SNAP_INVALID, 0, 0, 0,
			    "the kernel invalidated this snapshot (COW overflow or I/O error)", &worst);
		return worst;
	}
	if (s->truncated) {
		uint64_t area = s->n / s->epa;
		snap_report(fn, ctx, META_DMG_SNAP_AREA, meta_snap_area_location(s->h.chunk_size, area),
			    s->n, 0, "the list continues into an area past the end of the COW device",
			    &worst);
	}
	for (uint64_t i = 0; i < s->n; i++) {
		const struct meta_snap_exception *e = &s->ex[i];
		snap_check_new_chunk(s->h.chunk_size, s->cow_chunks, i, e, fn, ctx, &worst);
		if (origin_sectors && e->old_chunk >= origin_sectors / s->h.chunk_size +
							      (origin_sectors % s->h.chunk_size ? 1 : 0))
			snap_report(fn, ctx, META_DMG_SNAP_OLD_CHUNK, e->new_chunk, i, 1,
				    "origin chunk lies past the end of the origin", &worst);
		if (e->new_chunk != meta_snap_nth_new_chunk(s->h.chunk_size, i)) {
			if (!out_of_order)
				first_ooo = i;
			out_of_order++;
		}
	}
	if (snap_check_duplicates(s->ex, s->n, fn, ctx, &worst))
		return META_SEV_FATAL;
	if (out_of_order)
		snap_report(fn, ctx, META_DMG_SNAP_ORDER, s->ex[first_ooo].new_chunk, first_ooo,
			    out_of_order, "exceptions not in the kernel's in-order allocation", &worst);
	/* records after the terminator in the last area (a failed read ends the count) */
	if (!s->truncated) {
		uint64_t area = s->n / s->epa, garbage = 0;
		if (snap_area_walk(s->io, s->h.chunk_size, area, s->n % s->epa + 1, count_garbage,
				   &garbage) == META_E_NOMEM)
			return META_SEV_FATAL;
		if (garbage)
			snap_report(fn, ctx, META_DMG_SNAP_GARBAGE,
				    meta_snap_area_location(s->h.chunk_size, area), s->n, garbage,
				    "non-zero records after the terminator (ignored by the kernel)", &worst);
	}
	return worst;
}

struct fatal_only {
	meta_damage_fn fn;
	void *ctx;
};

static void pass_fatal(void *ctx, const struct meta_damage *d)
{
	const struct fatal_only *f = ctx;
	if (d->severity >= META_SEV_FATAL && f->fn)
		f->fn(f->ctx, d);
}

int meta_snap_verify(struct meta_snap *s, uint64_t origin_sectors, unsigned flags,
		     meta_damage_fn fn, void *ctx)
{
	struct fatal_only f = {fn, ctx};
	if (s->is_new)
		return META_OK;
	if (!s->h.valid && (flags & META_SNAP_VERIFY_ALLOW_INVALID))
		return META_OK; /* nothing is loaded from an invalid store: nothing to rely on */
	return meta_snap_check(s, origin_sectors, pass_fatal, &f) >= META_SEV_FATAL ? META_E_CORRUPT
										    : META_OK;
}

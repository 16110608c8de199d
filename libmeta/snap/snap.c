/* SPDX-License-Identifier: GPL-2.0-only */
/* Classic dm-snapshot persistent exception store (format in include/libmeta/snap.h). */
#include <libmeta/error.h>
#include <libmeta/family.h>
#include <libmeta/snap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"

#include "snap/snap_internal.h"
#include "base/util.h"

uint64_t meta_snap_exceptions_per_area(uint32_t chunk_size)
{
	return (uint64_t)chunk_size * SECTOR / META_SNAP_EXCEPTION_SIZE;
}

uint64_t meta_snap_area_location(uint32_t chunk_size, uint64_t area)
{
	return 1 + area * (meta_snap_exceptions_per_area(chunk_size) + 1);
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

static int push_ex(struct meta_snap *s, uint64_t old, uint64_t new)
{
	if (s->n == s->cap) {
		uint64_t cap = s->cap ? s->cap * 2 : 256;
		struct meta_snap_exception *p = realloc(s->ex, cap * sizeof(*p));
		if (!p)
			return META_E_NOMEM;
		s->ex = p;
		s->cap = cap;
	}
	s->ex[s->n].old_chunk = old;
	s->ex[s->n].new_chunk = new;
	s->n++;
	return META_OK;
}

/* Load the exception list as read_exceptions does. */
static int load(struct meta_snap *s)
{
	size_t piece = s->chunk_bytes < IO_PIECE ? (size_t)s->chunk_bytes : IO_PIECE;
	uint8_t *buf = malloc(piece);
	int r = META_OK;
	if (!buf)
		return META_E_NOMEM;
	for (uint64_t area = 0;; area++) {
		uint64_t loc = meta_snap_area_location(s->h.chunk_size, area);
		uint64_t slot = 0;
		bool full = true;
		if (loc >= s->cow_chunks) {
			s->truncated = true;
			break;
		}
		for (uint64_t off = 0; off < s->chunk_bytes && full; off += piece) {
			r = meta_io_pread(s->io, buf, piece, loc * s->chunk_bytes + off);
			if (r)
				goto out;
			for (size_t i = 0; i < piece / META_SNAP_EXCEPTION_SIZE; i++, slot++) {
				const struct disk_exception *de = (const void *)(buf + i * 16);
				uint64_t nc = le64_get(de->new_chunk);
				if (nc == 0) {
					full = false;
					break;
				}
				r = push_ex(s, le64_get(de->old_chunk), nc);
				if (r)
					goto out;
			}
		}
		if (!full)
			break;
	}
out:
	free(buf);
	return r;
}

int meta_snap_open(const char *path, unsigned flags, struct meta_snap **out)
{
	struct meta_snap *s;
	struct meta_io *io;
	uint8_t hdr[SECTOR];
	const struct disk_snap_header *dh = (const void *)hdr;
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
	s->h.magic = le32_get(dh->magic);
	s->h.valid = le32_get(dh->valid);
	s->h.version = le32_get(dh->version);
	s->h.chunk_size = le32_get(dh->chunk_size);
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

/* ---- check ------------------------------------------------------------------ */

static void snap_report(meta_damage_fn fn, void *ctx, enum meta_damage_kind k, uint64_t chunk,
			uint64_t index, uint64_t count, const char *detail, int *worst)
{
	int sev = meta_report(fn, ctx, k, chunk, index, index + 1, count, detail);
	if (sev > *worst)
		*worst = sev;
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

static int report_dups(struct meta_snap *s, bool by_new, enum meta_damage_kind k,
		       meta_damage_fn fn, void *ctx, int *worst)
{
	struct keyidx *v = malloc((s->n ? s->n : 1) * sizeof(*v));
	if (!v)
		return META_E_NOMEM;
	for (uint64_t i = 0; i < s->n; i++) {
		v[i].key = by_new ? s->ex[i].new_chunk : s->ex[i].old_chunk;
		v[i].idx = i;
	}
	qsort(v, s->n, sizeof(*v), cmp_keyidx);
	for (uint64_t i = 1; i < s->n; i++)
		if (v[i].key == v[i - 1].key)
			snap_report(fn, ctx, k, by_new ? v[i].key : s->ex[v[i].idx].new_chunk, v[i].idx, 1,
				    by_new ? "COW chunk already used by an earlier exception"
					   : "origin chunk already remapped by an earlier exception",
				    worst);
	free(v);
	return META_OK;
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
		if (e->new_chunk < 2 || meta_snap_is_area_chunk(s->h.chunk_size, e->new_chunk))
			snap_report(fn, ctx, META_DMG_SNAP_NEW_CHUNK, e->new_chunk, i, 1,
				    "COW chunk is the header or a metadata area", &worst);
		else if (e->new_chunk >= s->cow_chunks)
			snap_report(fn, ctx, META_DMG_SNAP_NEW_CHUNK, e->new_chunk, i, 1,
				    "COW chunk lies past the end of the COW device", &worst);
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
	if (report_dups(s, true, META_DMG_SNAP_DUP_NEW, fn, ctx, &worst) ||
	    report_dups(s, false, META_DMG_SNAP_DUP_OLD, fn, ctx, &worst))
		return META_SEV_FATAL;
	if (out_of_order)
		snap_report(fn, ctx, META_DMG_SNAP_ORDER, s->ex[first_ooo].new_chunk, first_ooo,
			    out_of_order, "exceptions not in the kernel's in-order allocation", &worst);
	/* records after the terminator in the last area */
	if (!s->truncated) {
		uint64_t area = s->n / s->epa, slot = s->n % s->epa, garbage = 0;
		uint64_t loc = meta_snap_area_location(s->h.chunk_size, area);
		size_t piece = s->chunk_bytes < IO_PIECE ? (size_t)s->chunk_bytes : IO_PIECE;
		uint8_t *buf = malloc(piece);
		if (!buf)
			return META_SEV_FATAL;
		for (uint64_t off = (slot + 1) * 16 / piece * piece; off < s->chunk_bytes; off += piece) {
			if (meta_io_pread(s->io, buf, piece, loc * s->chunk_bytes + off))
				break;
			for (size_t i = 0; i < piece / 16; i++) {
				uint64_t idx = off / 16 + i;
				static const uint8_t zero[16];
				if (idx > slot && memcmp(buf + i * 16, zero, 16))
					garbage++;
			}
		}
		free(buf);
		if (garbage)
			snap_report(fn, ctx, META_DMG_SNAP_GARBAGE, loc, s->n, garbage,
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

/* ---- writing ---------------------------------------------------------------- */

/* Write records [first, first + count) of area `area` from ex (zeros past n). */
static int write_area_range(struct meta_io *io, uint32_t cs, const struct meta_snap_exception *ex,
			    uint64_t n, uint64_t area, uint64_t first_slot, uint64_t nr_slots)
{
	uint64_t epa = meta_snap_exceptions_per_area(cs);
	uint64_t base = meta_snap_area_location(cs, area) * (uint64_t)cs * SECTOR;
	size_t piece_slots = IO_PIECE / 16;
	uint8_t *buf = malloc(IO_PIECE);
	int r = META_OK;
	if (!buf)
		return META_E_NOMEM;
	for (uint64_t s0 = first_slot; s0 < first_slot + nr_slots; s0 += piece_slots) {
		uint64_t cnt = first_slot + nr_slots - s0;
		if (cnt > piece_slots)
			cnt = piece_slots;
		memset(buf, 0, (size_t)cnt * 16);
		for (uint64_t i = 0; i < cnt; i++) {
			uint64_t idx = area * epa + s0 + i;
			if (idx < n) {
				struct disk_exception *de = (void *)(buf + i * 16);
				de->old_chunk = le64_of(ex[idx].old_chunk);
				de->new_chunk = le64_of(ex[idx].new_chunk);
			}
		}
		r = meta_io_pwrite(io, buf, (size_t)cnt * 16, base + s0 * 16);
		if (r)
			break;
	}
	free(buf);
	return r;
}

static int write_header(struct meta_io *io, const struct meta_snap_header *h, uint32_t valid)
{
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
	for (uint64_t off = SECTOR; !r && off < chunk_bytes; off += SECTOR) {
		static const uint8_t zero[SECTOR];
		r = meta_io_pwrite(io, zero, SECTOR, off);
	}
	return r;
}

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
		bool valid_store = !meta_snap_is_new(old) && old->h.valid;
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
		struct meta_snap tmp;
		int worst;
		memset(&tmp, 0, sizeof(tmp));
		tmp.h = *h;
		tmp.h.magic = META_SNAP_MAGIC;
		tmp.chunk_bytes = chunk_bytes;
		tmp.epa = epa;
		tmp.cow_chunks = cow_chunks;
		tmp.ex = (struct meta_snap_exception *)ex;
		tmp.n = n;
		tmp.truncated = true; /* skips the on-disk garbage scan */
		worst = -1;
		for (uint64_t i = 0; i < n; i++) {
			if (ex[i].new_chunk < 2 || meta_snap_is_area_chunk(h->chunk_size, ex[i].new_chunk)) {
				snap_report(fn, ctx, META_DMG_SNAP_NEW_CHUNK, ex[i].new_chunk, i, 1,
					    "COW chunk is the header or a metadata area", &worst);
			} else if (ex[i].new_chunk >= cow_chunks) {
				snap_report(fn, ctx, META_DMG_SNAP_NEW_CHUNK, ex[i].new_chunk, i, 1,
					    "COW chunk lies past the end of the COW device", &worst);
			}
		}
		if (report_dups(&tmp, true, META_DMG_SNAP_DUP_NEW, fn, ctx, &worst) ||
		    report_dups(&tmp, false, META_DMG_SNAP_DUP_OLD, fn, ctx, &worst)) {
			meta_io_close(io);
			return META_E_NOMEM;
		}
		if (worst >= META_SEV_FATAL) {
			meta_io_close(io);
			return META_E_INVAL;
		}
	}
	r = write_header(io, h, 0);
	if (!r)
		r = meta_io_flush(io);
	for (uint64_t a = 0; !r && h->valid && a <= last_area; a++)
		r = write_area_range(io, h->chunk_size, ex, n, a, 0, epa);
	if (!r)
		r = meta_io_flush(io);
	if (!r && h->valid)
		r = write_header(io, h, h->valid);
	if (!r)
		r = meta_io_flush(io);
	meta_io_close(io);
	return r;
}

/* ---- snapshot view ------------------------------------------------------------- */

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
	r = build_by_old(s);
	if (r)
		return r;
	while (len) {
		uint64_t cb = s->chunk_bytes ? s->chunk_bytes : SECTOR;
		uint64_t chunk = off / cb, in = off % cb;
		size_t now = (size_t)(cb - in < len ? cb - in : len);
		int64_t e = s->n ? find_old(s, chunk) : -1;
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

/* ---- offline merge ------------------------------------------------------------- */

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
		r = meta_io_pread(s->io, buf, now, src + done);
		if (!r)
			r = others ? meta_snap_engine_write_origin(others, dst + done, buf, now)
				   : meta_io_pwrite(origin, buf, now, dst + done);
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
	int r = meta_io_flush(origin);
	if (end == group_end)
		return r;
	for (uint64_t area = (group_end - 1) / s->epa; !r; area--) {
		uint64_t a0 = area * s->epa;
		uint64_t lo = (end > a0 ? end : a0) - a0;
		uint64_t hi = (group_end < a0 + s->epa ? group_end : a0 + s->epa) - a0;
		/* whole sectors around the cleared slots; slots below `end` keep their records */
		uint64_t s0 = lo * 16 / SECTOR * SECTOR / 16;
		uint64_t s1 = ((hi - 1) * 16 / SECTOR + 1) * SECTOR / 16;
		if (s1 > s->epa)
			s1 = s->epa;
		r = write_area_range(s->io, s->h.chunk_size, s->ex, end, area, s0, s1 - s0);
		if (area == 0 || a0 <= end)
			break;
		/*
		 * This area's clearing must be durable before a lower one's: a device that
		 * kept a lower area's zeros but lost this area's would leave merged records
		 * after the terminator, which a resumed merge cannot see to clear.
		 */
		if (!r)
			r = meta_io_flush(s->io);
	}
	if (!r)
		r = meta_io_flush(s->io);
	if (!r)
		s->n = end;
	s->view_ok = false;
	return r;
}

/*
 * Clear the records a torn or reordered clearing left after the terminator of the last
 * area (the kernel ignores them; they are records already merged), so that a resumed merge
 * ends with the bytes of an uninterrupted one.  Nothing is written when there are none.
 */
static int merge_clear_garbage(struct meta_snap *s)
{
	uint64_t area = s->n / s->epa, slot = s->n % s->epa, last = 0, s0, s1;
	uint64_t loc = meta_snap_area_location(s->h.chunk_size, area);
	size_t piece = s->chunk_bytes < IO_PIECE ? (size_t)s->chunk_bytes : IO_PIECE;
	static const uint8_t zero[16];
	bool found = false;
	uint8_t *buf;
	int r = META_OK;
	if (s->truncated || (loc + 1) * s->chunk_bytes > meta_io_size(s->io))
		return META_OK;
	if (!(buf = malloc(piece)))
		return META_E_NOMEM;
	for (uint64_t off = slot * 16 / piece * piece; off < s->chunk_bytes && !r; off += piece) {
		r = meta_io_pread(s->io, buf, piece, loc * s->chunk_bytes + off);
		for (size_t i = 0; !r && i < piece / 16; i++) {
			uint64_t idx = off / 16 + i;
			if (idx >= slot && idx < s->epa && memcmp(buf + i * 16, zero, 16)) {
				last = idx;
				found = true;
			}
		}
	}
	free(buf);
	if (r || !found)
		return r;
	s0 = slot * 16 / SECTOR * SECTOR / 16;
	s1 = ((last * 16) / SECTOR + 1) * SECTOR / 16;
	if (s1 > s->epa)
		s1 = s->epa;
	r = write_area_range(s->io, s->h.chunk_size, s->ex, s->n, area, s0, s1 - s0);
	return r ? r : meta_io_flush(s->io);
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
	if (!o->dry_run && !(buf = malloc(MERGE_COPY_BUF)))
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
	free(s->by_old);
	s->by_old = NULL;
	return META_OK;
}

/* ---- kernel-style commit, used by the offline write engine ----------------- */

int snap_commit_exception(struct meta_snap *s, uint64_t old_chunk, uint64_t new_chunk)
{
	uint64_t idx = s->n, area = idx / s->epa, slot = idx % s->epa;
	int r = snap_io_err(meta_io_flush(s->io)); /* PREFLUSH: the data copy is durable first */
	if (r)
		return r;
	r = push_ex(s, old_chunk, new_chunk);
	if (r)
		return r;
	s->view_ok = false;
	free(s->by_old);
	s->by_old = NULL;
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
	{
		uint64_t first = slot * 16 / SECTOR * SECTOR / 16;
		uint64_t cnt = SECTOR / 16;
		if (first + cnt > s->epa)
			cnt = s->epa - first;
		r = write_area_range(s->io, s->h.chunk_size, s->ex, s->n, area, first, cnt);
	}
	if (!r)
		r = meta_io_flush(s->io); /* FUA */
	return snap_io_err(r);
}

int snap_invalidate(struct meta_snap *s)
{
	uint8_t buf[SECTOR];
	int r = meta_io_pread(s->io, buf, SECTOR, 0);
	if (r)
		return r;
	put_le32p(buf + 4, 0);
	s->view_ok = false;
	r = meta_io_pwrite(s->io, buf, SECTOR, 0);
	if (!r)
		r = meta_io_flush(s->io);
	s->h.valid = 0;
	return snap_io_err(r);
}

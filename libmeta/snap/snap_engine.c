/* SPDX-License-Identifier: GPL-2.0-only */
/* Offline snapshot engine: the snapshot/snapshot-origin I/O logic (see include/libmeta/snap.h). */
#include <libmeta/error.h>
#include <libmeta/snap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "snap/snap_internal.h"

/*
 * old chunk → new chunk of one member.  The first exception for a chunk wins, as
 * on load; an old chunk of UINT64_MAX (no origin has it) is never found.
 */
static int map_put(struct meta_hash *m, uint64_t k, uint64_t v)
{
	int created;
	uint64_t *val;
	if (k == UINT64_MAX)
		return META_OK;
	if (!(val = meta_hash_insert(m, k, &created)))
		return META_E_NOMEM;
	if (created)
		*val = v;
	return META_OK;
}

static int map_get(const struct meta_hash *m, uint64_t k, uint64_t *v)
{
	const uint64_t *val = meta_hash_find(m, k);
	if (val)
		*v = *val;
	return val != NULL;
}

struct member {
	struct meta_snap *s;  /* persistent store, or NULL */
	struct meta_io *cow;  /* the COW device */
	uint32_t chunk_size;
	uint64_t chunk_bytes, cow_sectors;
	uint64_t next_free;   /* persistent: chunk; transient: sector */
	bool overflow_ok;
	enum meta_snap_state state;
	struct meta_hash map;
};

struct meta_snap_engine {
	struct meta_io *origin;
	struct meta_io *failed; /* the device of the last failed read, write or flush */
	meta_damage_fn damage;  /* fatal damage of a store meta_snap_engine_add() refuses */
	void *damage_ctx;
	struct member *m;
	unsigned n;
	uint8_t *buf;
	size_t bufsz;
};

int meta_snap_engine_create(struct meta_io *origin, struct meta_snap_engine **out)
{
	struct meta_snap_engine *e = calloc(1, sizeof(*e));
	*out = NULL;
	if (!e)
		return META_E_NOMEM;
	e->origin = origin;
	*out = e;
	return META_OK;
}

void meta_snap_engine_destroy(struct meta_snap_engine *e)
{
	if (!e)
		return;
	for (unsigned i = 0; i < e->n; i++)
		meta_hash_free(&e->m[i].map);
	free(e->m);
	free(e->buf);
	free(e);
}

void meta_snap_engine_set_damage(struct meta_snap_engine *e, meta_damage_fn fn, void *ctx)
{
	e->damage = fn;
	e->damage_ctx = ctx;
}

static struct member *new_member(struct meta_snap_engine *e, unsigned *idx)
{
	struct member *m = realloc(e->m, (e->n + 1) * sizeof(*m));
	if (!m)
		return NULL;
	e->m = m;
	memset(&m[e->n], 0, sizeof(*m));
	meta_hash_init(&m[e->n].map);
	*idx = e->n;
	return &m[e->n++];
}

static int ensure_buf(struct meta_snap_engine *e, uint64_t bytes)
{
	if (e->bufsz >= bytes)
		return META_OK;
	free(e->buf);
	e->buf = meta_io_buf_alloc((size_t)bytes);
	e->bufsz = e->buf ? (size_t)bytes : 0;
	return e->buf ? META_OK : META_E_NOMEM;
}

int meta_snap_engine_add(struct meta_snap_engine *e, struct meta_snap *s, bool overflow_ok,
			 unsigned *idx)
{
	struct meta_snap_usage u;
	struct member *m;
	int r;
	if (s->is_new)
		return META_E_INVAL;
	r = meta_snap_verify(s, meta_io_size(e->origin) / SECTOR, META_SNAP_VERIFY_ALLOW_INVALID,
			     e->damage, e->damage_ctx);
	if (r)
		return r;
	m = new_member(e, idx);
	if (!m)
		return META_E_NOMEM;
	m->s = s;
	m->cow = s->io;
	m->chunk_size = s->h.chunk_size;
	m->chunk_bytes = s->chunk_bytes;
	m->cow_sectors = meta_snap_cow_sectors(s);
	m->overflow_ok = overflow_ok;
	m->state = s->h.valid ? META_SNAP_ACTIVE : META_SNAP_INVALID;
	meta_snap_get_usage(s, &u);
	m->next_free = u.next_free;
	for (uint64_t i = 0; i < s->n; i++)
		if (map_put(&m->map, s->ex[i].old_chunk, s->ex[i].new_chunk))
			return META_E_NOMEM;
	return ensure_buf(e, m->chunk_bytes);
}

int meta_snap_engine_add_transient(struct meta_snap_engine *e, struct meta_io *cow,
				   uint32_t chunk_size, unsigned *idx)
{
	struct member *m;
	if (meta_snap_check_chunk_size(chunk_size))
		return META_E_INVAL;
	m = new_member(e, idx);
	if (!m)
		return META_E_NOMEM;
	m->cow = cow;
	m->chunk_size = chunk_size;
	m->chunk_bytes = (uint64_t)chunk_size * SECTOR;
	m->cow_sectors = meta_io_size(cow) / SECTOR;
	m->state = META_SNAP_ACTIVE;
	m->next_free = 0;
	return ensure_buf(e, m->chunk_bytes);
}

/* r of an I/O call on io: remember io when it failed; ENOSPC is an I/O error (snap_io_err). */
static int io_done(struct meta_snap_engine *e, struct meta_io *io, int r)
{
	return snap_io_err(snap_io_at(&e->failed, io, r));
}

struct meta_io *meta_snap_engine_failed_io(const struct meta_snap_engine *e)
{
	return e->failed;
}

/* Allocate a COW chunk as prepare_exception does; META_E_NOSPC when full. */
static int allocate(struct member *m, uint64_t *new_chunk)
{
	if (!m->s) {
		if (m->cow_sectors < m->next_free + m->chunk_size)
			return META_E_NOSPC;
		*new_chunk = m->next_free / m->chunk_size;
		m->next_free += m->chunk_size;
		return META_OK;
	}
	if (m->cow_sectors < (m->next_free + 1) * m->chunk_size)
		return META_E_NOSPC;
	*new_chunk = m->next_free++;
	if (meta_snap_is_area_chunk(m->chunk_size, m->next_free))
		m->next_free++;
	return META_OK;
}

static int invalidate(struct meta_snap_engine *e, struct member *m)
{
	int r;
	m->state = META_SNAP_INVALID;
	r = m->s ? snap_invalidate(m->s) : META_OK;
	if (r == META_E_IO)
		e->failed = m->cow;
	return r;
}

/* Copy origin chunk `chunk` into the allocated COW chunk nc (clamped at the origin's end). */
static int copy_chunk(struct meta_snap_engine *e, struct member *m, uint64_t chunk, uint64_t nc)
{
	uint64_t osize = meta_io_size(e->origin), off = chunk * m->chunk_bytes, len = m->chunk_bytes;
	int r = META_OK;
	if (off < osize) {
		if (off + len > osize)
			len = osize - off;
		r = io_done(e, e->origin, meta_io_pread(e->origin, e->buf, (size_t)len, off));
		if (!r)
			r = io_done(e, m->cow,
				    meta_io_pwrite(m->cow, e->buf, (size_t)len, nc * m->chunk_bytes));
	}
	return r;
}

static int commit(struct meta_snap_engine *e, struct member *m, uint64_t chunk, uint64_t nc)
{
	if (m->s) {
		int r = snap_commit_exception(m->s, chunk, nc);
		if (r == META_E_IO)
			e->failed = m->cow;
		if (r)
			return r;
	}
	return map_put(&m->map, chunk, nc);
}

/*
 * Create the missing exceptions of one write's chunk range [c0, c1] of member m,
 * as the kernel does: each chunk is prepared (allocated) and its copy started in
 * turn.  When one finds the COW full: if the snapshot is about to be invalidated,
 * the copies already started land in the COW but none of the write's exceptions
 * is committed (pending exceptions of an invalid snapshot are dropped); if it
 * only overflows (keep_prepared: a PO snapshot write), the store stays valid and
 * the exceptions prepared before the full one are committed.  (In the kernel the
 * outcome of invalidation races with the copies already in flight; this is the
 * outcome when all chunks are prepared before any copy completes.)
 */
static int copy_out_range(struct meta_snap_engine *e, struct member *m, uint64_t c0, uint64_t c1,
			  bool keep_prepared)
{
	uint64_t n = 0, *chunks, *news, nc;
	int r = META_OK;
	for (uint64_t c = c0; c <= c1; c++)
		if (!map_get(&m->map, c, &nc))
			n++;
	if (!n)
		return META_OK;
	chunks = malloc(n * sizeof(*chunks));
	news = malloc(n * sizeof(*news));
	if (!chunks || !news) {
		free(chunks);
		free(news);
		return META_E_NOMEM;
	}
	n = 0;
	for (uint64_t c = c0; c <= c1 && !r; c++) {
		if (map_get(&m->map, c, &nc))
			continue;
		r = allocate(m, &news[n]);
		if (!r)
			r = copy_chunk(e, m, c, news[n]);
		if (!r)
			chunks[n++] = c;
	}
	if (!r || (r == META_E_NOSPC && keep_prepared)) {
		int rc = META_OK;
		for (uint64_t i = 0; !rc && i < n; i++)
			rc = commit(e, m, chunks[i], news[i]);
		if (rc)
			r = rc;
	}
	free(chunks);
	free(news);
	return r;
}

int meta_snap_engine_write_origin(struct meta_snap_engine *e, uint64_t off, const void *buf,
				  size_t len)
{
	if (off > meta_io_size(e->origin) || len > meta_io_size(e->origin) - off)
		return META_E_RANGE;
	for (unsigned i = 0; i < e->n && len; i++) {
		struct member *m = &e->m[i];
		int r;
		if (m->state == META_SNAP_INVALID)
			continue;
		r = copy_out_range(e, m, off / m->chunk_bytes, (off + len - 1) / m->chunk_bytes, false);
		if (r == META_E_NOSPC) {
			r = invalidate(e, m); /* the origin write still proceeds */
			if (r)
				return r;
		} else if (r) {
			/*
			 * An I/O error (a full filesystem under the COW, ...): unlike the
			 * kernel, which must let the origin write go on and so invalidates
			 * the snapshot, stop here with the snapshot intact and the origin
			 * not yet written: the write can be made again once space is freed.
			 */
			return r;
		}
	}
	return io_done(e, e->origin, meta_io_pwrite(e->origin, buf, len, off));
}

/* Snapshot I/O, chunk by chunk; writes first create every missing exception. */
static int snap_io(struct meta_snap_engine *e, unsigned idx, uint64_t off, uint8_t *rbuf,
		   const uint8_t *wbuf, size_t len)
{
	struct member *m;
	int r;
	if (idx >= e->n)
		return META_E_INVAL;
	m = &e->m[idx];
	if (m->state == META_SNAP_INVALID || (wbuf && m->state == META_SNAP_OVERFLOWED))
		return META_E_IO;
	if (off > meta_io_size(e->origin) || len > meta_io_size(e->origin) - off)
		return META_E_RANGE;
	bool full = false;
	if (wbuf && len) {
		r = copy_out_range(e, m, off / m->chunk_bytes, (off + len - 1) / m->chunk_bytes,
				   m->overflow_ok);
		if (r == META_E_NOSPC) {
			if (!m->overflow_ok) {
				r = invalidate(e, m);
				return r ? r : META_E_NOSPC;
			}
			/* overflow: the chunks that got their exception are written, the rest fail */
			m->state = META_SNAP_OVERFLOWED;
			full = true;
		} else if (r) {
			return r;
		}
	}
	while (len) {
		uint64_t c = off / m->chunk_bytes, in = off % m->chunk_bytes, nc;
		size_t now = (size_t)(m->chunk_bytes - in < len ? m->chunk_bytes - in : len);
		int have = map_get(&m->map, c, &nc);
		r = META_OK;
		if (wbuf && have)
			r = io_done(e, m->cow, meta_io_pwrite(m->cow, wbuf, now, nc * m->chunk_bytes + in));
		else if (wbuf)
			; /* overflowed before this chunk: its write fails */
		else if (have)
			r = io_done(e, m->cow, meta_io_pread(m->cow, rbuf, now, nc * m->chunk_bytes + in));
		else
			r = io_done(e, e->origin, meta_io_pread(e->origin, rbuf, now, off));
		if (r)
			return r;
		if (wbuf)
			wbuf += now;
		else
			rbuf += now;
		off += now;
		len -= now;
	}
	return full ? META_E_NOSPC : META_OK;
}

int meta_snap_engine_write_snapshot(struct meta_snap_engine *e, unsigned idx, uint64_t off,
				    const void *buf, size_t len)
{
	return snap_io(e, idx, off, NULL, buf, len);
}

int meta_snap_engine_read_snapshot(struct meta_snap_engine *e, unsigned idx, uint64_t off,
				   void *buf, size_t len)
{
	return snap_io(e, idx, off, buf, NULL, len);
}

enum meta_snap_state meta_snap_engine_state(const struct meta_snap_engine *e, unsigned idx)
{
	return idx < e->n ? e->m[idx].state : META_SNAP_INVALID;
}

void meta_snap_engine_status(const struct meta_snap_engine *e, unsigned idx, char *buf, size_t len)
{
	const struct member *m;
	if (idx >= e->n || e->m[idx].state == META_SNAP_INVALID) {
		snprintf(buf, len, "Invalid");
		return;
	}
	m = &e->m[idx];
	if (m->state == META_SNAP_OVERFLOWED) {
		snprintf(buf, len, "Overflow");
		return;
	}
	if (!m->s) {
		snprintf(buf, len, "%llu/%llu 0", (unsigned long long)m->next_free,
			 (unsigned long long)m->cow_sectors);
		return;
	}
	snprintf(buf, len, "%llu/%llu %llu", (unsigned long long)(m->next_free * m->chunk_size),
		 (unsigned long long)m->cow_sectors,
		 (unsigned long long)((m->s->n / m->s->epa + 2) * m->chunk_size));
}

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Thin I/O (include/libmeta/thin_io.h): the data path of the `thin` target on an
 * offline pool, through the pool engine's transaction (thin_pool_internal.h).
 *
 * Speed: a call works through its range in chunks of virtual blocks.  For each
 * chunk the device's mappings inside it are collected in one walk of its mapping
 * tree (not one lookup per block); then the data moves in runs: consecutive
 * virtual blocks whose data blocks are consecutive too are one pread or pwrite
 * (a fresh volume's sequential write allocates consecutive blocks, so its data goes
 * out in large writes).  Only the partial blocks at either end of a range take a
 * block-sized bounce buffer.
 *
 * Write order inside one call: the data of newly allocated blocks first (invisible
 * until the commit maps them), the in-place overwrites of unshared mapped blocks
 * last, so that a call failing before its end has changed no byte the last commit
 * maps, unless it failed in the in-place writes themselves (as the kernel writes
 * such blocks in place too).
 */
#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/thin_io.h>

#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "base/util.h"
#include "pdata/btree_write.h"
#include "pdata/ondisk.h"
#include "pdata/sm_tx.h"
#include "pdata/tm.h"
#include "thin/thin_ondisk.h"
#include "thin/thin_pool_internal.h"

#define CHUNK_BLOCKS 4096u        /* virtual blocks per mapping walk */
#define RUN_MAX (64u << 20)       /* bytes per coalesced pread/pwrite */
#define WALK_MAX_DEPTH 32         /* deeper than any real tree: a loop */

struct meta_thin_io {
	struct meta_io *data;
	unsigned flags;
	uint64_t bsize;           /* bytes per data block */
	bool dirty;               /* data written since the last commit */
	uint64_t *freed;          /* data blocks discards unmapped since the last commit */
	size_t nr_freed, cap_freed;
	uint8_t *blk;             /* one data block (partial-block fills) */
};

struct meta_thin_vol {
	struct meta_thin_pool *p;
	uint64_t dev;
	struct meta_io *origin;
	uint64_t origin_size;     /* bytes, whole sectors (the kernel's origin_size) */
	uint64_t size;            /* bytes; 0: no limit */
};

/* ---- the pool's side ------------------------------------------------------------- */

void meta_thin_io_free(struct meta_thin_io *io)
{
	if (!io)
		return;
	free(io->freed);
	free(io->blk);
	free(io);
}

/* Whether the data device holds every block of the data map. */
static int data_fits(const struct meta_thin_pool *p)
{
	return meta_io_size(p->io->data) / p->io->bsize >= meta_sm_tx_nr_blocks(p->dsm)
		       ? 0
		       : META_E_DATA_SIZE;
}

int meta_thin_pool_attach_data(struct meta_thin_pool *p, struct meta_io *data, unsigned flags)
{
	struct meta_thin_io *io;
	void *blk;
	int r;
	if (!p || !data || (flags & ~(unsigned)(META_THIN_IO_SKIP_ZEROING | META_THIN_IO_NO_PASSDOWN)))
		return META_E_INVAL;
	r = meta_thin_pool_usable(p);
	if (r)
		return r;
	if (p->io) { /* a second attach replaces the device and the features */
		p->io->data = data;
		p->io->flags = flags;
		return data_fits(p);
	}
	io = calloc(1, sizeof(*io));
	if (!io)
		return META_E_NOMEM;
	io->data = data;
	io->flags = flags;
	io->bsize = (uint64_t)p->sb.data_block_size * META_SECTOR_SIZE;
	if (!io->bsize) {
		free(io);
		return META_E_CORRUPT;
	}
	if (!(blk = meta_io_buf_alloc((size_t)io->bsize))) {
		free(io);
		return META_E_NOMEM;
	}
	io->blk = blk;
	p->io = io;
	r = data_fits(p);
	if (r) {
		p->io = NULL;
		meta_thin_io_free(io);
	}
	return r;
}

int meta_thin_io_pre_commit(struct meta_thin_pool *p)
{
	int r = 0;
	if (p->io->dirty)
		r = meta_io_flush(p->io->data);
	if (!r)
		p->io->dirty = false;
	return r;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * Discard passdown, once the commit has landed: the blocks discards freed whose count
 * is still 0, in runs of consecutive blocks.  A device or file system that cannot
 * discard, or a discard that fails, is ignored: the blocks are free in the metadata
 * either way, as the kernel leaves a pool whose data device does not pass discards
 * down.
 */
void meta_thin_io_committed(struct meta_thin_pool *p)
{
	struct meta_thin_io *io = p->io;
	uint64_t start = 0, n = 0;
	if (io->flags & META_THIN_IO_NO_PASSDOWN)
		io->nr_freed = 0;
	if (!io->nr_freed)
		return;
	qsort(io->freed, io->nr_freed, sizeof(*io->freed), cmp_u64);
	for (size_t i = 0; i < io->nr_freed; i++) {
		uint64_t b = io->freed[i];
		uint32_t c;
		if ((i && b == io->freed[i - 1]) || meta_sm_tx_count(p->dsm, b, &c) || c)
			continue;
		if (n && b == start + n) {
			n++;
			continue;
		}
		if (n)
			(void)meta_io_discard(io->data, start * io->bsize, n * io->bsize);
		start = b;
		n = 1;
	}
	if (n)
		(void)meta_io_discard(io->data, start * io->bsize, n * io->bsize);
	io->nr_freed = 0;
}

static int freed_add(struct meta_thin_io *io, uint64_t b)
{
	if (io->nr_freed == io->cap_freed) {
		size_t cap = io->cap_freed ? io->cap_freed * 2 : 256;
		uint64_t *n = realloc(io->freed, cap * sizeof(*n));
		if (!n)
			return META_E_NOMEM;
		io->freed = n;
		io->cap_freed = cap;
	}
	io->freed[io->nr_freed++] = b;
	return 0;
}

/* ---- the mappings of a range, in one walk ---------------------------------------- */

struct mapping {
	uint64_t vb, value; /* virtual block, data block << 24 | time */
};

struct maplist {
	struct mapping *m;
	size_t n, cap;
};

static int map_add(struct maplist *l, uint64_t vb, uint64_t value)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct mapping *n = realloc(l->m, cap * sizeof(*n));
		if (!n)
			return META_E_NOMEM;
		l->m = n;
		l->cap = cap;
	}
	l->m[l->n++] = (struct mapping){vb, value};
	return 0;
}

static uint64_t nkey(const uint8_t *n, uint32_t i)
{
	return get_le64p(n + sizeof(struct disk_node_header) + 8u * (size_t)i);
}

static uint64_t nval(const uint8_t *n, uint32_t max, uint32_t i)
{
	return get_le64p(n + sizeof(struct disk_node_header) + 8u * (size_t)max + 8u * (size_t)i);
}

/* Append the mappings of [lo, hi) under node b, in key order. */
static int collect(struct meta_thin_pool *p, uint64_t b, uint64_t lo, uint64_t hi, int depth,
		   struct maplist *l)
{
	const struct disk_node_header *h;
	const void *data;
	const uint8_t *n;
	uint32_t nr, max, flags, i, a, z;
	int r;
	if (depth >= WALK_MAX_DEPTH)
		return META_E_CORRUPT;
	r = meta_tm_read(p->tm, b, &meta_node_validator, &data);
	if (r)
		return r;
	n = data;
	h = data;
	nr = le32_get(h->nr_entries);
	max = le32_get(h->max_entries);
	flags = le32_get(h->flags) & (META_NODE_LEAF | META_NODE_INTERNAL);
	if ((flags != META_NODE_LEAF && flags != META_NODE_INTERNAL) ||
	    le32_get(h->value_size) != 8 || nr > max ||
	    (uint64_t)max * 16 + sizeof(*h) > META_BLOCK_SIZE) {
		meta_tm_release(p->tm, data);
		return META_E_CORRUPT;
	}
	/* a: the first entry with key >= lo */
	for (a = 0, z = nr; a < z;) {
		uint32_t mid = a + (z - a) / 2;
		if (nkey(n, mid) < lo)
			a = mid + 1;
		else
			z = mid;
	}
	if (flags == META_NODE_INTERNAL) {
		/* the child holding lo is the last whose first key is <= lo */
		if (a < nr && nkey(n, a) == lo)
			;
		else if (a > 0)
			a--;
		for (i = a; i < nr && nkey(n, i) < hi && !r; i++)
			r = collect(p, nval(n, max, i), lo, hi, depth + 1, l);
	} else {
		for (i = a; i < nr && nkey(n, i) < hi && !r; i++)
			r = map_add(l, nkey(n, i), nval(n, max, i));
	}
	meta_tm_release(p->tm, data);
	return r;
}

/* The device's mapping tree root: 0, META_E_NOTFOUND or an error. */
static int dev_root(struct meta_thin_pool *p, uint64_t dev, uint64_t *root)
{
	uint8_t v[8];
	int r = meta_btree_tx_lookup(&p->top, p->sb.data_mapping_root, &dev, v);
	if (!r)
		*root = get_le64p(v);
	return r;
}

static int mappings(struct meta_thin_vol *v, uint64_t lo, uint64_t hi, struct maplist *l)
{
	uint64_t root;
	int r = dev_root(v->p, v->dev, &root);
	l->n = 0;
	if (r)
		return r == META_E_NOTFOUND ? META_E_CORRUPT : r; /* details without a tree */
	return collect(v->p, root, lo, hi, 0, l);
}

/* ---- runs of I/O ------------------------------------------------------------------- */

/* A pending read (mem is the destination) or write (mem the source) of len bytes at off. */
struct run {
	struct meta_io *io;
	uint64_t off;
	uint8_t *mem;
	size_t len;
};

struct runs {
	struct run *a;
	size_t n, cap;
};

static int run_do(struct run *r, bool write)
{
	int e = 0;
	if (r->len)
		e = write ? meta_io_pwrite(r->io, r->mem, r->len, r->off)
			  : meta_io_pread(r->io, r->mem, r->len, r->off);
	r->len = 0;
	return e;
}

/* Add to the current run when it continues it, else do the run and start anew. */
static int run_add(struct run *r, bool write, struct meta_io *io, uint64_t off, uint8_t *mem,
		   size_t len)
{
	int e;
	if (r->len && r->io == io && r->off + r->len == off && r->mem + r->len == mem &&
	    r->len + len <= RUN_MAX) {
		r->len += len;
		return 0;
	}
	e = run_do(r, write);
	*r = (struct run){io, off, mem, len};
	return e;
}

/* Deferred writes (the in-place ones): kept, coalesced, done at the end. */
static int runs_add(struct runs *rs, struct meta_io *io, uint64_t off, const uint8_t *mem,
		    size_t len)
{
	struct run *last = rs->n ? &rs->a[rs->n - 1] : NULL;
	if (last && last->io == io && last->off + last->len == off &&
	    last->mem + last->len == mem && last->len + len <= RUN_MAX) {
		last->len += len;
		return 0;
	}
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 16;
		struct run *n = realloc(rs->a, cap * sizeof(*n));
		if (!n)
			return META_E_NOMEM;
		rs->a = n;
		rs->cap = cap;
	}
	rs->a[rs->n++] = (struct run){io, off, (uint8_t *)mem, len};
	return 0;
}

/* ---- volumes ------------------------------------------------------------------------- */

int meta_thin_vol_open(struct meta_thin_pool *p, uint64_t dev, struct meta_io *origin,
		       uint64_t size, struct meta_thin_vol **out)
{
	struct meta_thin_details d;
	struct meta_thin_vol *v;
	int r;
	*out = NULL;
	if (!p || p->sb_only || !p->io)
		return META_E_INVAL;
	if (dev > META_THIN_MAX_DEV_ID)
		return META_E_NOTFOUND;
	r = meta_thin_pool_details_get(p, dev, &d);
	if (r)
		return r;
	v = calloc(1, sizeof(*v));
	if (!v)
		return META_E_NOMEM;
	v->p = p;
	v->dev = dev;
	v->origin = origin;
	v->origin_size = origin ? meta_io_size(origin) & ~(uint64_t)(META_SECTOR_SIZE - 1) : 0;
	v->size = size;
	*out = v;
	return 0;
}

void meta_thin_vol_close(struct meta_thin_vol *v)
{
	free(v);
}

/* [off, off+len) inside the volume (and the 2^64-byte space). */
static int in_volume(const struct meta_thin_vol *v, uint64_t off, uint64_t len)
{
	if (len > UINT64_MAX - off)
		return META_E_VOL_END;
	if (v->size && off + len > v->size)
		return META_E_VOL_END;
	return 0;
}

/* A device's details for a changing call; the pool must be usable. */
static int begin(struct meta_thin_vol *v, struct meta_thin_details *d)
{
	int r = meta_thin_pool_usable(v->p);
	if (!r)
		r = meta_thin_pool_details_get(v->p, v->dev, d);
	if (r == META_E_NOTFOUND)
		return r; /* deleted since the open */
	return r ? meta_thin_pool_fail(v->p, r) : 0;
}

/*
 * Fill new block nb for the part [s, e) of virtual block vb that src writes: from the
 * shared block old (when has_old), else from the external origin below its end, else
 * zeros (or nothing with skip_block_zeroing); then the write.  One block-sized write.
 */
static int fill_partial(struct meta_thin_vol *v, uint64_t vb, bool has_old, uint64_t old,
			uint64_t nb, uint32_t s, uint32_t e, const uint8_t *src)
{
	struct meta_thin_io *io = v->p->io;
	uint64_t bs = io->bsize, vstart = vb * bs;
	bool zero = !(io->flags & META_THIN_IO_SKIP_ZEROING);
	int r = 0;
	if (has_old) {
		r = meta_io_pread(io->data, io->blk, bs, old * bs);
	} else if (v->origin && vstart < v->origin_size) {
		uint64_t n = v->origin_size - vstart < bs ? v->origin_size - vstart : bs;
		r = meta_io_pread(v->origin, io->blk, n, vstart);
		if (!r && n < bs) {
			if (zero)
				memset(io->blk + n, 0, bs - n);
			else /* the tail keeps what the data device held */
				r = meta_io_pread(io->data, io->blk + n, bs - n, nb * bs + n);
		}
	} else if (zero) {
		memset(io->blk, 0, bs);
	} else {
		return meta_io_pwrite(io->data, src, e - s, nb * bs + s);
	}
	if (r)
		return r;
	memcpy(io->blk + s, src, e - s);
	return meta_io_pwrite(io->data, io->blk, bs, nb * bs);
}

static int map_insert(struct meta_thin_pool *p, uint64_t dev, uint64_t vb, uint64_t nb,
		      struct meta_thin_details *d)
{
	uint64_t keys[2] = {dev, vb};
	uint8_t val[8];
	bool inserted = false;
	int r;
	put_le64p(val, disk_thin_map_value(nb, p->sb.time));
	r = meta_btree_tx_insert(&p->both, p->sb.data_mapping_root, keys, val,
				 &p->sb.data_mapping_root, &inserted);
	if (!r && inserted)
		d->mapped_blocks++;
	return r;
}

int meta_thin_vol_write(struct meta_thin_vol *v, uint64_t off, const void *buf, size_t len)
{
	struct meta_thin_pool *p = v->p;
	struct meta_thin_io *io = p->io;
	struct meta_thin_details d;
	struct maplist l = {0};
	struct runs inplace = {0};
	struct run fresh = {0};
	const uint8_t *src = buf;
	uint64_t bs = io->bsize, first, last, c0;
	bool changed = false;
	int r = in_volume(v, off, len);
	if (r || !len)
		return r;
	r = begin(v, &d);
	if (r)
		return r;
	r = data_fits(p);
	if (r)
		return r;
	first = off / bs;
	last = (off + len - 1) / bs;
	for (c0 = first; !r && c0 <= last; c0 += CHUNK_BLOCKS) {
		uint64_t c1 = last - c0 < CHUNK_BLOCKS ? last + 1 : c0 + CHUNK_BLOCKS;
		size_t k = 0;
		r = mappings(v, c0, c1, &l);
		for (uint64_t vb = c0; !r && vb < c1; vb++) {
			uint64_t vstart = vb * bs, nb;
			uint32_t s = vb == first ? (uint32_t)(off - vstart) : 0;
			uint32_t e = vb == last ? (uint32_t)(off + len - vstart) : (uint32_t)bs;
			const uint8_t *from = src + (vstart + s - off);
			bool mapped = k < l.n && l.m[k].vb == vb;
			uint64_t old = mapped ? disk_thin_map_block(l.m[k].value) : 0;
			if (mapped)
				k++;
			if (mapped && disk_thin_map_time(l.m[k - 1].value) >= d.snapshotted_time) {
				r = runs_add(&inplace, io->data, old * bs + s, from, e - s);
				continue;
			}
			r = meta_sm_tx_alloc(p->dsm, &nb);
			if (r == META_E_NOSPC)
				r = META_E_DATA_NOSPC;
			if (r)
				break;
			changed = true;
			io->dirty = true;
			if (s == 0 && e == bs)
				r = run_add(&fresh, true, io->data, nb * bs, (uint8_t *)from, bs);
			else
				r = fill_partial(v, vb, mapped, old, nb, s, e, from);
			if (!r)
				r = map_insert(p, v->dev, vb, nb, &d);
		}
	}
	if (!r)
		r = run_do(&fresh, true);
	for (size_t i = 0; !r && i < inplace.n; i++) {
		io->dirty = true;
		r = run_do(&inplace.a[i], true);
	}
	if (!r && changed)
		r = meta_thin_pool_details_put(p, &d);
	free(l.m);
	free(inplace.a);
	return meta_thin_pool_fail(p, r);
}

int meta_thin_vol_discard(struct meta_thin_vol *v, uint64_t off, uint64_t len)
{
	struct meta_thin_pool *p = v->p;
	struct meta_thin_details d;
	struct maplist l = {0};
	uint64_t bs = p->io->bsize, first, end, c0;
	bool changed = false;
	int r = in_volume(v, off, len);
	if (r || !len)
		return r;
	r = begin(v, &d);
	if (r)
		return r;
	/* whole blocks only, as the kernel ignores the parts of blocks at either end */
	first = off / bs + (off % bs != 0);
	end = (off + len) / bs;
	for (c0 = first; !r && c0 < end; c0 += CHUNK_BLOCKS) {
		uint64_t c1 = end - c0 < CHUNK_BLOCKS ? end : c0 + CHUNK_BLOCKS;
		r = mappings(v, c0, c1, &l);
		for (size_t k = 0; !r && k < l.n; k++) {
			uint64_t keys[2] = {v->dev, l.m[k].vb};
			r = meta_btree_tx_remove(&p->both, p->sb.data_mapping_root, keys,
						 &p->sb.data_mapping_root);
			if (!r)
				r = freed_add(p->io, disk_thin_map_block(l.m[k].value));
			if (!r) {
				d.mapped_blocks--;
				changed = true;
			}
		}
	}
	if (!r && changed)
		r = meta_thin_pool_details_put(p, &d);
	free(l.m);
	return meta_thin_pool_fail(p, r);
}

/* ---- reads: the map of a range, then its bytes ------------------------------------- */

void meta_thin_map_free(struct meta_thin_map *m)
{
	if (!m)
		return;
	free(m->run);
	*m = (struct meta_thin_map){0};
}

/* Append a run, or extend the last one when this continues it. */
static int map_push(struct meta_thin_map *m, enum meta_thin_at where, uint64_t off, uint64_t len,
		    uint64_t at)
{
	struct meta_thin_run *last = m->n ? &m->run[m->n - 1] : NULL;
	if (!len)
		return 0;
	if (last && last->where == where && last->off + last->len == off &&
	    (where == META_THIN_AT_ZERO || last->at + last->len == at)) {
		last->len += len;
		return 0;
	}
	if (meta_grow((void **)&m->run, &m->cap, m->n + 1, sizeof(*m->run)))
		return META_E_NOMEM;
	m->run[m->n++] = (struct meta_thin_run){off, len, at, where};
	return 0;
}

/* Unmapped bytes [off, off+len): the origin's below its end, zeros past it. */
static int map_unmapped(const struct meta_thin_vol *v, struct meta_thin_map *m, uint64_t off,
			uint64_t len)
{
	int r = 0;
	if (v->origin && off < v->origin_size && len) {
		uint64_t n = v->origin_size - off < len ? v->origin_size - off : len;
		r = map_push(m, META_THIN_AT_ORIGIN, off, n, off);
		off += n;
		len -= n;
	}
	return r ? r : map_push(m, META_THIN_AT_ZERO, off, len, 0);
}

int meta_thin_vol_map(struct meta_thin_vol *v, uint64_t off, uint64_t len, struct meta_thin_map *m)
{
	struct meta_thin_pool *p = v->p;
	struct maplist l = {0};
	uint64_t bs = p->io->bsize, first, last, c0, end = off + len, pos = off;
	int r = in_volume(v, off, len);
	m->n = 0;
	if (r || !len)
		return r;
	if (p->sb_only)
		return META_E_INVAL;
	first = off / bs;
	last = (end - 1) / bs;
	for (c0 = first; !r && c0 <= last; c0 += CHUNK_BLOCKS) {
		uint64_t c1 = last - c0 < CHUNK_BLOCKS ? last + 1 : c0 + CHUNK_BLOCKS;
		r = mappings(v, c0, c1, &l);
		for (size_t k = 0; !r && k < l.n; k++) {
			uint64_t vstart = l.m[k].vb * bs;
			uint64_t s = vstart > off ? vstart : off;
			uint64_t e = end - vstart > bs ? vstart + bs : end;
			if (s < pos || l.m[k].vb < c0 || l.m[k].vb >= c1) {
				r = META_E_CORRUPT; /* keys out of order */
				break;
			}
			r = map_unmapped(v, m, pos, s - pos);
			if (!r)
				r = map_push(m, META_THIN_AT_DATA, s, e - s,
					     disk_thin_map_block(l.m[k].value) * bs + (s - vstart));
			pos = e;
		}
	}
	if (!r)
		r = map_unmapped(v, m, pos, end - pos);
	free(l.m);
	if (r)
		m->n = 0;
	return r;
}

int meta_thin_vol_read_mapped(struct meta_thin_vol *v, const struct meta_thin_map *m, uint64_t off,
			      void *buf, struct meta_io *data, struct meta_io *origin)
{
	uint8_t *dst = buf;
	int r = 0;
	if (!data)
		data = v->p->io->data;
	if (!origin)
		origin = v->origin;
	for (size_t i = 0; !r && i < m->n; i++) {
		const struct meta_thin_run *u = &m->run[i];
		uint8_t *to = dst + (u->off - off);
		if (u->where == META_THIN_AT_DATA)
			r = meta_io_pread(data, to, (size_t)u->len, u->at);
		else if (u->where == META_THIN_AT_ORIGIN)
			r = meta_io_pread(origin, to, (size_t)u->len, u->at);
		else
			memset(to, 0, (size_t)u->len);
	}
	return r;
}

int meta_thin_vol_read(struct meta_thin_vol *v, uint64_t off, void *buf, size_t len)
{
	struct meta_thin_map m = {0};
	int r = meta_thin_vol_map(v, off, len, &m);
	if (!r)
		r = meta_thin_vol_read_mapped(v, &m, off, buf, NULL, NULL);
	meta_thin_map_free(&m);
	return r;
}

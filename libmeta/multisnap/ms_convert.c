/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Converting a classic snapshot store to a mikulas store and back
 * (include/libmeta/ms_convert.h).  The mikulas side is written by the one-pass builder
 * (mikulas_build.h), the classic side by meta_snap_restore(); here: the records, the
 * data chunks' copy, the sizing and the order of the writes.
 */
#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/ms_convert.h>
#include <libmeta/snap.h>

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "multisnap/daniel_ondisk.h"
#include "multisnap/mikulas_build.h"
#include "multisnap/mikulas_internal.h"
#include "multisnap/mikulas_ondisk.h"
#include "multisnap/ms_generic.h"

#define COPY_BUF (1u << 20)

/* ---- copying data chunks ------------------------------------------------------------------ */

/*
 * Chunks of cb bytes from in to out, chunk i from src[i] to dst[i] (byte offsets), through
 * a buffer of COPY_BUF bytes: pieces whose sources run on are read in one read, pieces whose
 * destinations run on are written in one write.  Then out is flushed.
 */
struct copy {
	struct meta_io *const *ins; /* chunk i is read from ins[which[i]] (which NULL: ins[0]) */
	struct meta_io *out;
	struct meta_ms_convert_result *res;
	uint8_t *buf;
	size_t fill;   /* bytes in buf */
	uint64_t at;   /* destination of buf[0] */
	size_t rpos;   /* the pending read: buf[rpos .. fill) from ins[rin] at rsrc */
	uint64_t rsrc;
	uint32_t rin;
};

static int copy_io(struct copy *c, bool out, int r)
{
	if (r == META_E_IO || r == META_E_NOSPC) {
		c->res->failed_out = out;
		c->res->input = out ? 0 : c->rin;
		c->res->failed_errno = meta_io_errno(out ? c->out : c->ins[c->rin]);
		return META_E_IO;
	}
	return r;
}

static int copy_read(struct copy *c)
{
	int r = 0;
	if (c->fill > c->rpos)
		r = copy_io(c, false, meta_io_pread(c->ins[c->rin], c->buf + c->rpos,
						    c->fill - c->rpos, c->rsrc));
	c->rpos = c->fill;
	return r;
}

static int copy_flush(struct copy *c)
{
	int r = copy_read(c);
	if (!r && c->fill)
		r = copy_io(c, true, meta_io_pwrite(c->out, c->buf, c->fill, c->at));
	c->at += c->fill;
	c->fill = c->rpos = 0;
	return r;
}

static int copy_piece(struct copy *c, uint32_t in, uint64_t src, uint64_t dst, size_t len)
{
	int r = 0;
	if (c->fill && (dst != c->at + c->fill || c->fill + len > COPY_BUF))
		r = copy_flush(c);
	if (r)
		return r;
	if (!c->fill)
		c->at = dst;
	if (c->fill > c->rpos && (in != c->rin || src != c->rsrc + (c->fill - c->rpos)))
		r = copy_read(c);
	if (c->fill == c->rpos) {
		c->rin = in;
		c->rsrc = src;
	}
	c->fill += len;
	return r;
}

static int copy_chunks(struct copy *c, uint64_t cb, const uint32_t *which, const uint64_t *src,
		       const uint64_t *dst, uint64_t n)
{
	size_t piece = cb < COPY_BUF ? (size_t)cb : COPY_BUF;
	int r = 0;
	c->buf = meta_io_buf_alloc(COPY_BUF);
	if (!c->buf)
		return META_E_NOMEM;
	c->fill = c->rpos = 0;
	for (uint64_t i = 0; i < n && !r; i++)
		for (uint64_t off = 0; off < cb && !r; off += piece)
			r = copy_piece(c, which ? which[i] : 0, src[i] + off, dst[i] + off, piece);
	if (!r)
		r = copy_flush(c);
	if (!r)
		r = copy_io(c, true, meta_io_flush(c->out));
	free(c->buf);
	c->buf = NULL;
	return r;
}

/* ---- classic -> mikulas ------------------------------------------------------------------- */

/* A classic exception of input k; after grouping, it stands for inputs k .. last too. */
struct item {
	uint64_t old_chunk, new_chunk;
	uint32_t k, last;
};

/*
 * Do the COW chunks of exceptions x (input x->k) and y (input y->k) hold the same bytes?
 * 1 yes, 0 no, or a read error (res names the input).
 */
static int same_data(struct meta_io *const *ins, const struct item *x, const struct item *y,
		     uint64_t cb, uint8_t *a, uint8_t *b, struct meta_ms_convert_result *res)
{
	for (uint64_t off = 0; off < cb; off += COPY_BUF / 2) {
		size_t len = cb - off < COPY_BUF / 2 ? (size_t)(cb - off) : COPY_BUF / 2;
		const struct item *which = x;
		int r = meta_io_pread(ins[x->k], a, len, x->new_chunk * cb + off);
		if (!r) {
			which = y;
			r = meta_io_pread(ins[y->k], b, len, y->new_chunk * cb + off);
		}
		if (r) {
			if (r == META_E_IO || r == META_E_NOSPC) {
				res->input = which->k;
				res->failed_errno = meta_io_errno(ins[which->k]);
				r = META_E_IO;
			}
			return r;
		}
		if (memcmp(a, b, len))
			return 0;
	}
	return 1;
}

/*
 * Copies of one origin chunk in consecutive snapshots k, k+1, ... with the same bytes become
 * one item (k .. last): one data chunk and one exception [k.0, last.0xffffffff], which covers
 * exactly those snapshots and their sub-snapshots.  ex is in (origin chunk, k) order; *n
 * becomes the number of items left.
 */
static int group_items(struct meta_io *const *ins, struct item *ex, uint64_t *n, uint64_t cb,
		       struct meta_ms_convert_result *res)
{
	uint8_t *a = NULL, *b = NULL;
	uint64_t w = 0;
	int r = 0;
	for (uint64_t i = 0; i < *n && !r; i++) {
		ex[i].last = ex[i].k;
		if (w && ex[w - 1].old_chunk == ex[i].old_chunk && ex[w - 1].last + 1 == ex[i].k) {
			if (!a) {
				a = meta_io_buf_alloc(COPY_BUF / 2);
				b = meta_io_buf_alloc(COPY_BUF / 2);
				if (!a || !b) {
					r = META_E_NOMEM;
					break;
				}
			}
			r = same_data(ins, &ex[w - 1], &ex[i], cb, a, b, res);
			if (r == 1) {
				ex[w - 1].last = ex[i].k;
				r = 0;
				continue;
			}
		}
		ex[w++] = ex[i];
	}
	free(a);
	free(b);
	if (!r)
		*n = w;
	return r;
}

static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	if (x->old_chunk != y->old_chunk)
		return x->old_chunk < y->old_chunk ? -1 : 1;
	return x->k < y->k ? -1 : x->k > y->k;
}

/*
 * The smallest device a format gives at least `chunks` data chunks of cs sectors: the
 * metadata area grows with the device (mikulas_meta_blocks_for()), so grow until it fits.
 */
static uint64_t mikulas_need(uint32_t cs, uint64_t chunks)
{
	uint64_t cb = (uint64_t)cs * META_SECTOR_SIZE, size = chunks * cb, need;
	for (int i = 0; i < 64; i++) {
		uint64_t m = mikulas_meta_blocks_for(size, cs);
		need = mikulas_data_start(m, cs) + chunks * cb;
		if (need <= size)
			break;
		size = need;
	}
	return size;
}

static int open_classic(const char *path, const struct meta_ms_convert_opts *o,
			struct meta_ms_convert_result *res, struct meta_snap **out)
{
	struct meta_snap *s;
	int r = meta_snap_open(path, 0, &s);
	if (r)
		return r;
	if (meta_snap_is_new(s)) {
		res->why = META_MSC_NEW;
		r = META_E_INVAL;
	} else if (!meta_snap_get_header(s)->valid) {
		res->why = META_MSC_INVALID;
		r = META_E_INVAL;
	} else {
		r = meta_snap_verify(s, o->origin_sectors, 0, o->damage, o->damage_ctx);
	}
	if (r) {
		meta_snap_close(s);
		return r;
	}
	*out = s;
	return 0;
}

int meta_ms_from_classic_n(const char *const *classic, size_t nin, const char *out,
			   const struct meta_ms_convert_opts *o, struct meta_ms_convert_result *res)
{
	struct meta_snap **s = NULL;
	struct meta_io **ins = NULL;
	struct item *ex = NULL;
	struct meta_io *io = NULL;
	struct mikulas_builder b;
	bool have_b = false;
	uint64_t n = 0, cb, mblocks = 0, dchunks = 0, start, *src = NULL, *dst = NULL;
	uint32_t cs = 0, *which = NULL;
	int r = 0;

	memset(res, 0, sizeof(*res));
	if (!nin || nin > MIKULAS_NUMBER_MAX)
		return META_E_INVAL;
	for (size_t k = 0; k < nin; k++) {
		bool same = meta_io_same_storage(classic[k], out);
		for (size_t j = 0; j < k && !same; j++)
			same = meta_io_same_storage(classic[j], classic[k]);
		if (same) {
			res->why = META_MSC_SAME_STORAGE;
			res->input = k;
			return META_E_INVAL;
		}
	}
	s = calloc(nin, sizeof(*s));
	ins = calloc(nin, sizeof(*ins));
	if (!s || !ins) {
		r = META_E_NOMEM;
		goto out;
	}
	/* every input opened and judged (one chunk size) before anything is written */
	for (size_t k = 0; k < nin && !r; k++) {
		uint64_t nk;
		res->input = k;
		r = open_classic(classic[k], o, res, &s[k]);
		if (r)
			break;
		ins[k] = meta_snap_get_io(s[k]);
		if (!k)
			cs = meta_snap_get_header(s[k])->chunk_size;
		res->chunk_size = meta_snap_get_header(s[k])->chunk_size;
		if (!mikulas_chunk_size_ok(res->chunk_size)) {
			res->why = META_MSC_CHUNK_SIZE;
			r = META_E_INVAL;
		} else if (res->chunk_size != cs) {
			res->why = META_MSC_CHUNK_MISMATCH;
			r = META_E_INVAL;
		}
		meta_snap_exceptions(s[k], &nk);
		n += nk;
	}
	if (r)
		goto out;
	res->input = 0;
	res->exceptions = n;
	cb = (uint64_t)cs * META_SECTOR_SIZE;
	ex = malloc((n ? n : 1) * sizeof(*ex));
	src = malloc((n ? n : 1) * sizeof(*src));
	dst = malloc((n ? n : 1) * sizeof(*dst));
	which = malloc((n ? n : 1) * sizeof(*which));
	if (!ex || !src || !dst || !which) {
		r = META_E_NOMEM;
		goto out;
	}
	n = 0;
	for (size_t k = 0; k < nin; k++) {
		uint64_t nk;
		const struct meta_snap_exception *e = meta_snap_exceptions(s[k], &nk);
		for (uint64_t i = 0; i < nk; i++)
			ex[n++] = (struct item){e[i].old_chunk, e[i].new_chunk, (uint32_t)k, (uint32_t)k};
	}
	qsort(ex, n, sizeof(*ex), cmp_item);
	if (n && ex[n - 1].old_chunk >= MIKULAS_CHUNK_LIMIT) {
		res->why = META_MSC_ORIGIN_RANGE;
		res->input = ex[n - 1].k;
		r = META_E_INVAL;
		goto out;
	}
	if (nin > 1)
		r = group_items(ins, ex, &n, cb, res);
	res->data_chunks = n;
	if (r)
		goto out;
	r = ms_open_for_new(out, o->force, &io);
	if (r)
		goto out;
	r = mikulas_geometry(meta_io_size(io), cs, 0, &mblocks, &dchunks);
	if (r == META_E_INVAL) /* metadata_blocks: the device is too small for the least */
		r = META_E_TOOSMALL;
	if (!r && dchunks < n)
		r = META_E_TOOSMALL;
	if (r == META_E_TOOSMALL)
		res->need_bytes = mikulas_need(cs, n ? n : 1);
	if (r)
		goto out;
	{
		/* as if formatted (transaction 1), then snapshot k created in transaction 2 + k */
		struct mikulas_sb sb = {.chunk_size = cs, .metadata_blocks = mblocks,
					.data_chunks = dchunks, .next_snapshot = nin,
					.transaction = 1 + nin};
		r = mikulas_build_begin(&b, io, &sb);
		have_b = true;
	}
	if (r)
		goto out;
	/* the data first, flushed; then the records */
	start = mikulas_data_start(mblocks, cs);
	for (uint64_t i = 0; i < n; i++) {
		which[i] = ex[i].k;
		src[i] = ex[i].new_chunk * cb;
		dst[i] = start + i * cb;
	}
	{
		struct copy c = {ins, io, res, NULL, 0, 0, 0, 0, 0};
		r = copy_chunks(&c, cb, which, src, dst, n);
	}
	for (size_t k = 0; k < nin && !r; k++)
		r = mikulas_build_snapshot(&b, ((uint64_t)k << 32) | META_MS_SUB_NONE, 2 + k, 0);
	for (uint64_t i = 0; i < n && !r; i++)
		r = mikulas_build_exception(&b, ex[i].old_chunk, (uint64_t)ex[i].k << 32,
					    ((uint64_t)ex[i].last << 32) | META_MS_SUB_NONE, i);
	if (!r)
		r = mikulas_build_finish(&b);
	if (r == META_E_NOSPC && !res->failed_errno && !meta_io_errno(io))
		goto out; /* the builder's: the metadata area is full */
	if (r == META_E_IO || r == META_E_NOSPC) {
		if (!res->failed_errno) {
			res->failed_out = true;
			res->failed_errno = meta_io_errno(io);
		}
		r = META_E_IO;
	}
out:
	if (have_b)
		mikulas_build_free(&b);
	if (io)
		meta_io_close(io);
	for (size_t k = 0; s && k < nin; k++)
		meta_snap_close(s[k]);
	free(s);
	free(ins);
	free(ex);
	free(src);
	free(dst);
	free(which);
	return r;
}

int meta_ms_from_classic(const char *classic, const char *out, const struct meta_ms_convert_opts *o,
			 struct meta_ms_convert_result *res)
{
	return meta_ms_from_classic_n(&classic, 1, out, o, res);
}

/* ---- mikulas -> classic ------------------------------------------------------------------- */

/* The exceptions one snapshot reads: origin chunk and the byte offset of its COW chunk. */
struct pick {
	meta_ms_id id;
	uint64_t start, cb; /* mikulas: data_start and the chunk's bytes */
	struct picked {
		uint64_t chunk, src;
	} *v;
	size_t n, cap;
};

static int pick_add(void *ctx, uint64_t chunk, uint64_t src)
{
	struct pick *p = ctx;
	if (meta_grow((void **)&p->v, &p->cap, p->n + 1, sizeof(*p->v)))
		return META_E_NOMEM;
	p->v[p->n++] = (struct picked){chunk, src};
	return 0;
}

/* Keys ascend: at most one exception of each origin chunk covers a live id. */
static int pick_mikulas(void *ctx, uint64_t key, const void *value)
{
	struct pick *p = ctx;
	const struct mikulas_disk_exc *v = value;
	if (le64_get(v->first_id) > p->id || le64_get(v->last_id) < p->id)
		return 0;
	return pick_add(p, key >> 16, p->start + le64_get(v->cow_chunk) * p->cb);
}

static int cmp_picked(const void *a, const void *b)
{
	uint64_t x = ((const struct picked *)a)->chunk, y = ((const struct picked *)b)->chunk;
	return x < y ? -1 : x > y;
}

struct fatal_only {
	meta_damage_fn fn;
	void *ctx;
};

static void pass_fatal(void *ctx, const struct meta_damage *d)
{
	struct fatal_only *f = ctx;
	if (f->fn && d->severity >= META_SEV_FATAL)
		f->fn(f->ctx, d);
}

/* The smallest classic store holding n exceptions of cs sectors, in bytes. */
static uint64_t classic_need(uint32_t cs, uint64_t n)
{
	uint64_t area = meta_snap_area_location(cs, n / meta_snap_exceptions_per_area(cs));
	uint64_t last = n ? meta_snap_nth_new_chunk(cs, n - 1) : 0;
	return ((area > last ? area : last) + 1) * (uint64_t)cs * META_SECTOR_SIZE;
}

int meta_ms_to_classic(const char *store, meta_ms_id id, const char *out,
		       const struct meta_ms_convert_opts *o, struct meta_ms_convert_result *res)
{
	struct fatal_only fo = {o->damage, o->damage_ctx};
	struct pick p = {id, 0, 0, NULL, 0, 0};
	struct meta_snap_exception *ex = NULL;
	struct meta_snap_header h;
	struct meta_ms *ms = NULL;
	struct meta_io *io = NULL;
	meta_ms_id *ids = NULL;
	uint64_t nids = 0, cb, *src = NULL, *dst = NULL;
	uint32_t cs;
	bool live = false;
	int r;

	memset(res, 0, sizeof(*res));
	if (meta_io_same_storage(store, out)) {
		res->why = META_MSC_SAME_STORAGE;
		return META_E_INVAL;
	}
	r = meta_ms_open(store, 0, &ms);
	if (r)
		return r;
	if (meta_ms_is_new(ms)) {
		r = META_E_NOTFOUND; /* a blank store holds no snapshot */
		goto out;
	}
	if (meta_ms_check(store, o->origin_sectors, pass_fatal, &fo) >= META_SEV_FATAL) {
		r = META_E_CORRUPT;
		goto out;
	}
	r = meta_ms_snapshots(ms, &ids, &nids);
	for (uint64_t i = 0; !r && i < nids; i++)
		live |= ids[i] == id;
	if (!r && !live)
		r = META_E_NOTFOUND;
	cs = meta_ms_chunk_size(ms);
	cb = (uint64_t)cs * META_SECTOR_SIZE;
	p.cb = cb;
	if (r)
		goto out;
	if (meta_ms_get_type(ms) == META_MS_MIKULAS) {
		p.start = mikulas_data_start(mikulas_get_sb(ms_state(ms))->metadata_blocks, cs);
		r = mikulas_iter(ms_state(ms), true, pick_mikulas, &p);
	} else {
		r = msd_snapshot_exceptions(ms_state(ms), id, pick_add, &p);
		if (!r && p.n)
			qsort(p.v, p.n, sizeof(*p.v), cmp_picked);
	}
	if (r)
		goto out;
	res->chunk_size = cs;
	res->exceptions = p.n;
	r = meta_io_open(out, 0, &io);
	if (!r && meta_io_size(io) < classic_need(cs, p.n)) {
		res->need_bytes = classic_need(cs, p.n);
		r = META_E_TOOSMALL;
	}
	if (io)
		meta_io_close(io);
	io = NULL;
	if (r)
		goto out;
	ex = malloc((p.n ? p.n : 1) * sizeof(*ex));
	src = malloc((p.n ? p.n : 1) * sizeof(*src));
	dst = malloc((p.n ? p.n : 1) * sizeof(*dst));
	if (!ex || !src || !dst) {
		r = META_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < p.n; i++) {
		ex[i].old_chunk = p.v[i].chunk;
		ex[i].new_chunk = meta_snap_nth_new_chunk(cs, i);
		src[i] = p.v[i].src;
		dst[i] = ex[i].new_chunk * cb;
	}
	/* the header invalid first (the refusals of an existing store are made here) */
	h = (struct meta_snap_header){META_SNAP_MAGIC, 0, META_SNAP_VERSION, cs};
	r = meta_snap_restore(out, &h, NULL, 0, o->force, NULL, NULL);
	if (!r)
		r = meta_io_open(out, META_IO_WRITE | META_IO_EXCL, &io);
	if (!r) {
		struct meta_io *in = ms_io(ms);
		struct copy c = {&in, io, res, NULL, 0, 0, 0, 0, 0};
		r = copy_chunks(&c, cb, NULL, src, dst, p.n);
		meta_io_close(io);
		io = NULL;
	}
	if (!r) {
		h.valid = 1;
		r = meta_snap_restore(out, &h, ex, p.n, true, NULL, NULL);
		if (r == META_E_IO || r == META_E_NOSPC) {
			res->failed_out = true;
			r = META_E_IO;
		}
	}
out:
	meta_ms_close(ms);
	free(ids);
	free(p.v);
	free(ex);
	free(src);
	free(dst);
	return r;
}

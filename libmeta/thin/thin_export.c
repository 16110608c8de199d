/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_export: a thin volume's view and the delta stream (see
 * include/libmeta/thin_export.h and man/thin-delta-stream.5).
 */
#include <libmeta/thin_export.h>
#include <libmeta/btree.h>
#include <libmeta/crc32c.h>
#include <libmeta/error.h>
#include <libmeta/thin_delta.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"

#define STREAM_MAX_BLOCK_SIZE (1u << 30)
#define STREAM_MIN_BLOCK_SIZE (64u << 10)

static uint32_t crc(const void *p, size_t n)
{
	return meta_crc32c(0xffffffffu, p, n);
}

uint64_t meta_thin_dev_tag(const struct meta_thin_details *d)
{
	return ((uint64_t)d->creation_time << 32) ^ d->transaction_id ^ (d->dev_id << 48);
}

/* ---- writer ---- */

struct meta_stream_writer {
	struct meta_stream_header h;
	meta_stream_out_fn out;
	void *ctx;
	bool zero_detect;
	int err;                 /* sticky */
	uint64_t end;            /* end of the last record (pending included) */
	uint64_t nr, bytes;
	bool pending;            /* a ZERO/UNMAP record not yet written */
	enum meta_stream_rec_type ptype;
	uint64_t poff, plen;
};

static bool header_ok(const struct meta_stream_header *h)
{
	if (h->version != META_STREAM_VERSION || (h->flags & ~(uint32_t)META_STREAM_INCREMENTAL))
		return false;
	if (h->block_size < STREAM_MIN_BLOCK_SIZE || h->block_size > STREAM_MAX_BLOCK_SIZE ||
	    h->block_size % 512)
		return false;
	if (!(h->flags & META_STREAM_INCREMENTAL) && (h->base_dev || h->base_tag))
		return false;
	return true;
}

static int emit_record(struct meta_stream_writer *w, uint32_t type, uint32_t dcrc, uint64_t off,
		       uint64_t len)
{
	uint8_t b[META_STREAM_RECORD_SIZE];
	int r;
	put_le32p(b, type);
	put_le32p(b + 4, dcrc);
	put_le64p(b + 8, off);
	put_le64p(b + 16, len);
	put_le32p(b + 24, (uint32_t)w->nr);
	put_le32p(b + 28, crc(b, 28));
	r = w->out(w->ctx, b, sizeof(b));
	if (r)
		return w->err = r;
	w->nr++;
	return 0;
}

static int flush_pending(struct meta_stream_writer *w)
{
	if (!w->pending)
		return 0;
	w->pending = false;
	return emit_record(w, w->ptype, 0, w->poff, w->plen);
}

int meta_stream_writer_open(const struct meta_stream_header *h, bool zero_detect,
			    meta_stream_out_fn out, void *ctx, struct meta_stream_writer **wp)
{
	struct meta_stream_writer *w;
	uint8_t b[META_STREAM_HEADER_SIZE];
	int r;
	*wp = NULL;
	if (!header_ok(h))
		return META_E_INVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return META_E_NOMEM;
	w->h = *h;
	w->out = out;
	w->ctx = ctx;
	w->zero_detect = zero_detect;
	memset(b, 0, sizeof(b));
	memcpy(b, META_STREAM_MAGIC, 8);
	put_le32p(b + 8, h->version);
	put_le32p(b + 12, h->flags);
	put_le32p(b + 16, h->block_size);
	put_le64p(b + 24, h->volume_size);
	put_le64p(b + 32, h->source_dev);
	put_le64p(b + 40, h->source_tag);
	put_le64p(b + 48, h->base_dev);
	put_le64p(b + 56, h->base_tag);
	put_le64p(b + 64, h->pool_transaction_id);
	put_le32p(b + 76, crc(b, 76));
	r = out(ctx, b, sizeof(b));
	if (r) {
		free(w);
		return r;
	}
	*wp = w;
	return 0;
}

/* Is [off, off+len) a valid next range? */
static int check_range(struct meta_stream_writer *w, uint64_t off, uint64_t len)
{
	if (w->err)
		return w->err;
	if (!len || off < w->end || off > w->h.volume_size || len > w->h.volume_size - off)
		return META_E_INVAL;
	return 0;
}

int meta_stream_put_range(struct meta_stream_writer *w, enum meta_stream_rec_type t, uint64_t off,
			  uint64_t len)
{
	int r = check_range(w, off, len);
	if (r)
		return r;
	if (t != META_STREAM_ZERO && t != META_STREAM_UNMAP)
		return META_E_INVAL;
	if (w->pending && w->ptype == t && w->poff + w->plen == off) {
		w->plen += len;
	} else {
		r = flush_pending(w);
		if (r)
			return r;
		w->pending = true;
		w->ptype = t;
		w->poff = off;
		w->plen = len;
	}
	w->end = off + len;
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	static const uint8_t z[512];
	while (n >= sizeof(z)) {
		if (memcmp(p, z, sizeof(z)))
			return false;
		p += sizeof(z);
		n -= sizeof(z);
	}
	return !n || !memcmp(p, z, n);
}

static int put_data_record(struct meta_stream_writer *w, uint64_t off, const uint8_t *p, size_t n)
{
	int r = flush_pending(w);
	if (r)
		return r;
	r = emit_record(w, META_STREAM_DATA, crc(p, n), off, n);
	if (r)
		return r;
	r = w->out(w->ctx, p, n);
	if (r)
		return w->err = r;
	w->bytes += n;
	w->end = off + n;
	return 0;
}

int meta_stream_put_data(struct meta_stream_writer *w, uint64_t off, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int r = check_range(w, off, len);
	if (r)
		return r;
	while (len) {
		size_t n = len < META_STREAM_MAX_DATA ? len : META_STREAM_MAX_DATA;
		if (w->zero_detect) {
			/* runs of 4 KiB pieces that are all zeros, or not */
			size_t piece = 4096, k = 0;
			bool z = all_zero(p, n < piece ? n : piece);
			while (k < n) {
				size_t m = n - k < piece ? n - k : piece;
				if (all_zero(p + k, m) != z)
					break;
				k += m;
			}
			n = k;
			r = z ? meta_stream_put_range(w, META_STREAM_ZERO, off, n)
			      : put_data_record(w, off, p, n);
		} else {
			r = put_data_record(w, off, p, n);
		}
		if (r)
			return r;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

int meta_stream_writer_finish(struct meta_stream_writer *w, uint64_t *nr_records,
			      uint64_t *data_bytes)
{
	int r = w->err ? w->err : flush_pending(w);
	if (r)
		return r;
	if (nr_records)
		*nr_records = w->nr;
	if (data_bytes)
		*data_bytes = w->bytes;
	return emit_record(w, META_STREAM_END, 0, w->nr, w->bytes);
}

void meta_stream_writer_free(struct meta_stream_writer *w)
{
	free(w);
}

/* ---- reader ---- */

struct meta_stream_reader {
	meta_stream_in_fn in;
	void *ctx;
	const char *reason;
	struct meta_stream_header h;
	bool have_header, done, failed;
	uint64_t nr, bytes, end, pos, rec_pos;
	uint8_t *payload;
};

int meta_stream_reader_open(meta_stream_in_fn in, void *ctx, struct meta_stream_reader **rp)
{
	struct meta_stream_reader *r = calloc(1, sizeof(*r));
	*rp = NULL;
	if (!r)
		return META_E_NOMEM;
	r->in = in;
	r->ctx = ctx;
	*rp = r;
	return 0;
}

void meta_stream_reader_free(struct meta_stream_reader *r)
{
	if (r) {
		free(r->payload);
		free(r);
	}
}

const char *meta_stream_reason(const struct meta_stream_reader *r)
{
	return r->reason ? r->reason : "malformed";
}

uint64_t meta_stream_position(const struct meta_stream_reader *r)
{
	return r->rec_pos;
}

static int bad(struct meta_stream_reader *r, const char *why)
{
	r->reason = why;
	r->failed = true;
	return META_E_STREAM;
}

/* Exactly n bytes: 0, META_E_STREAM (the stream ends first), META_E_IO. */
static int read_full(struct meta_stream_reader *r, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n) {
		long k = r->in(r->ctx, p, n);
		if (k < 0) {
			r->failed = true;
			r->reason = "read error";
			return META_E_IO;
		}
		if (k == 0)
			return bad(r, "truncated");
		if ((size_t)k > n)
			return bad(r, "input callback overran");
		p += k;
		n -= (size_t)k;
		r->pos += (uint64_t)k;
	}
	return 0;
}

int meta_stream_read_header(struct meta_stream_reader *r, struct meta_stream_header *h)
{
	uint8_t b[META_STREAM_HEADER_SIZE];
	int e;
	if (r->have_header || r->failed)
		return META_E_INVAL;
	e = read_full(r, b, sizeof(b));
	if (e)
		return e == META_E_STREAM ? bad(r, "truncated header") : e;
	if (memcmp(b, META_STREAM_MAGIC, 8))
		return bad(r, "bad magic (not a delta stream)");
	if (get_le32p(b + 76) != crc(b, 76))
		return bad(r, "bad header checksum");
	h->version = get_le32p(b + 8);
	h->flags = get_le32p(b + 12);
	h->block_size = get_le32p(b + 16);
	h->volume_size = get_le64p(b + 24);
	h->source_dev = get_le64p(b + 32);
	h->source_tag = get_le64p(b + 40);
	h->base_dev = get_le64p(b + 48);
	h->base_tag = get_le64p(b + 56);
	h->pool_transaction_id = get_le64p(b + 64);
	if (h->version != META_STREAM_VERSION)
		return bad(r, "unsupported version");
	if (get_le32p(b + 20) || get_le32p(b + 72))
		return bad(r, "reserved header field not zero");
	if (!header_ok(h))
		return bad(r, "bad header field");
	r->h = *h;
	r->have_header = true;
	return 0;
}

int meta_stream_next(struct meta_stream_reader *r, struct meta_stream_record *rec,
		     const void **data)
{
	uint8_t b[META_STREAM_RECORD_SIZE];
	uint32_t type, dcrc;
	uint64_t off, len;
	int e;
	*data = NULL;
	if (!r->have_header || r->done || r->failed)
		return META_E_INVAL;
	r->rec_pos = r->pos;
	e = read_full(r, b, sizeof(b));
	if (e)
		return e;
	if (get_le32p(b + 28) != crc(b, 28))
		return bad(r, "bad record checksum");
	type = get_le32p(b);
	dcrc = get_le32p(b + 4);
	off = get_le64p(b + 8);
	len = get_le64p(b + 16);
	if (get_le32p(b + 24) != (uint32_t)r->nr)
		return bad(r, "record out of sequence (lost or repeated)");
	if (type == META_STREAM_END) {
		uint8_t x;
		if (off != r->nr || len != r->bytes || dcrc)
			return bad(r, "end record disagrees with the records read");
		r->pos++;
		if (r->in(r->ctx, &x, 1) != 0)
			return bad(r, "bytes after the end record");
		r->done = true;
		rec->type = META_STREAM_END;
		rec->offset = off;
		rec->length = len;
		return 0;
	}
	if (type != META_STREAM_DATA && type != META_STREAM_ZERO && type != META_STREAM_UNMAP)
		return bad(r, "unknown record type");
	if (!len)
		return bad(r, "empty record");
	if (off < r->end)
		return bad(r, "record overlaps or precedes the previous one");
	if (off > r->h.volume_size || len > r->h.volume_size - off)
		return bad(r, "record past the volume's end");
	if (type == META_STREAM_DATA) {
		if (len > META_STREAM_MAX_DATA)
			return bad(r, "data record too long");
		if (!r->payload && !(r->payload = meta_io_buf_alloc(META_STREAM_MAX_DATA)))
			return META_E_NOMEM;
		e = read_full(r, r->payload, (size_t)len);
		if (e)
			return e;
		if (crc(r->payload, (size_t)len) != dcrc)
			return bad(r, "bad data checksum");
		r->bytes += len;
		*data = r->payload;
	} else if (dcrc) {
		return bad(r, "checksum field of a range record not zero");
	}
	r->nr++;
	r->end = off + len;
	rec->type = type;
	rec->offset = off;
	rec->length = len;
	return 0;
}

/* ---- export ---- */

struct exp {
	struct meta_thin *t;
	struct meta_io *data;
	const struct meta_export_opts *o;
	const struct meta_export_sink *s;
	struct meta_export_stats *st;
	uint64_t bs;             /* block size, bytes */
	uint64_t data_blocks;    /* blocks the data device holds */
	uint64_t cur;            /* full mode: next offset to deliver */
	uint64_t dev_root;
	uint8_t *buf;
	/* the run being gathered: virtual blocks [v, v+n) at data blocks [d, d+n) */
	uint64_t v, d, n;
	bool damaged, past_end;
	uint64_t bad_block;
};

/* [a, b) unmapped: origin bytes below its end, then a hole. */
static int gap(struct exp *e, uint64_t a, uint64_t b)
{
	int r;
	if (a >= b)
		return 0;
	if (e->o->origin) {
		uint64_t oend = meta_io_size(e->o->origin);
		while (a < b && a < oend) {
			uint64_t lim = b < oend ? b : oend;
			size_t n = lim - a < META_EXPORT_CHUNK ? (size_t)(lim - a) : META_EXPORT_CHUNK;
			r = meta_io_pread(e->o->origin, e->buf, n, a);
			if (r)
				return r;
			e->st->origin_bytes += n;
			r = e->s->data(e->s->ctx, a, e->buf, n);
			if (r)
				return r;
			a += n;
		}
	}
	if (a < b) {
		e->st->hole_bytes += b - a;
		return e->s->hole(e->s->ctx, a, b - a);
	}
	return 0;
}

static uint64_t nr_vblocks(const struct exp *e)
{
	return e->o->size / e->bs + (e->o->size % e->bs != 0);
}

/* Deliver the gathered run (and, in full mode, the gap before it), in pieces. */
static int flush_run(struct exp *e)
{
	uint64_t off, end, src;
	int r;
	if (!e->n)
		return 0;
	off = e->v * e->bs;
	end = e->v + e->n >= nr_vblocks(e) ? e->o->size : (e->v + e->n) * e->bs;
	e->n = 0;
	if (!e->o->since) {
		r = gap(e, e->cur, off);
		if (r)
			return r;
	}
	if (e->d >= e->data_blocks || e->data_blocks - e->d < (end - off + e->bs - 1) / e->bs)
		return META_E_DATA_SIZE;
	src = e->d * e->bs;
	while (off < end) {
		size_t len = end - off < META_EXPORT_CHUNK ? (size_t)(end - off) : META_EXPORT_CHUNK;
		r = meta_io_pread(e->data, e->buf, len, src);
		if (r)
			return r;
		e->st->data_reads++;
		e->st->mapped_bytes += len;
		r = e->s->data(e->s->ctx, off, e->buf, len);
		if (r)
			return r;
		off += len;
		src += len;
	}
	e->cur = end;
	return 0;
}

/* One mapping (vblock → data block) into the run. */
static int add_map(struct exp *e, uint64_t vb, uint64_t db)
{
	int r;
	if (vb >= nr_vblocks(e)) {
		e->past_end = true;
		return 0;
	}
	if (e->n && e->v + e->n == vb && e->d + e->n == db) {
		e->n++;
		return 0;
	}
	r = flush_run(e);
	if (r)
		return r;
	e->v = vb;
	e->d = db;
	e->n = 1;
	return 0;
}

static void on_damage(void *ctx, const struct meta_damage *d)
{
	struct exp *e = ctx;
	if (!e->damaged) {
		e->damaged = true;
		e->bad_block = d->block;
	}
}

/*
 * Read-ahead of the data runs of one leaf's mappings (up to META_EXPORT_CHUNK * 4 bytes,
 * below the volume's end) before they are read one by one, when they are scattered: the
 * runs then reach the device together.  A leaf that is one run (a volume laid out in
 * order) is left to the kernel's sequential read-ahead, which is faster than a
 * WILLNEED of the whole run (measured: bench/export.sh, export-seq).
 */
static void prefetch(struct exp *e, const struct meta_thin_mapping *m, uint32_t n)
{
	uint64_t budget = (uint64_t)META_EXPORT_CHUNK * 4, lim = nr_vblocks(e);
	uint32_t i = 0, runs = 0;
	for (uint32_t j = 1; j < n && runs < 2; j++)
		if (m[j].vblock != m[j - 1].vblock + 1 || m[j].data_block != m[j - 1].data_block + 1)
			runs++;
	if (runs < 1)
		return;
	while (i < n && budget && m[i].vblock < lim) {
		uint32_t j = i + 1;
		uint64_t len;
		while (j < n && m[j].vblock == m[j - 1].vblock + 1 && m[j].vblock < lim &&
		       m[j].data_block == m[j - 1].data_block + 1)
			j++;
		len = (uint64_t)(j - i) * e->bs;
		if (len > budget)
			len = budget;
		if (m[i].data_block < e->data_blocks)
			meta_io_willneed(e->data, m[i].data_block * e->bs, len);
		budget -= len;
		i = j;
	}
}

static int on_maps(void *ctx, const struct meta_thin_mapping *m, uint32_t n)
{
	struct exp *e = ctx;
	if (e->damaged)
		return META_E_CORRUPT;
	prefetch(e, m, n);
	for (uint32_t i = 0; i < n; i++) {
		int r = add_map(e, m[i].vblock, m[i].data_block);
		if (r)
			return r;
		if (e->past_end)
			return 0;
	}
	return 0;
}

static int on_delta(void *ctx, const struct meta_delta_range *d)
{
	struct exp *e = ctx;
	uint64_t nblocks = nr_vblocks(e);
	uint64_t end = d->begin + d->len;
	int r;
	if (d->kind == META_DELTA_SAME || d->begin >= nblocks)
		return 0;
	if (end > nblocks)
		end = nblocks;
	if (d->kind == META_DELTA_LEFT_ONLY) {
		uint64_t b = end * e->bs;
		r = flush_run(e);
		if (r)
			return r;
		return gap(e, d->begin * e->bs, b < e->o->size ? b : e->o->size);
	}
	for (uint64_t vb = d->begin; vb < end; vb++) {
		uint8_t val[8];
		r = meta_btree_lookup(meta_thin_bm(e->t), e->dev_root, vb, val, 8);
		if (r == META_E_NOTFOUND)
			return META_E_CORRUPT; /* the delta said it is mapped */
		if (r)
			return r;
		r = add_map(e, vb, get_le64p(val) >> 24);
		if (r)
			return r;
	}
	return 0;
}

int meta_thin_export_end(struct meta_thin *t, uint64_t dev, uint64_t *end)
{
	uint64_t root, key, bs = (uint64_t)meta_thin_sb(t)->data_block_size * 512;
	bool found;
	int r = meta_thin_dev_root(t, dev, &root);
	*end = 0;
	if (r)
		return r;
	r = meta_btree_last_key(meta_thin_bm(t), root, &found, &key);
	if (r)
		return r;
	if (found) {
		if (key >= UINT64_MAX / bs)
			return META_E_RANGE;
		*end = (key + 1) * bs;
	}
	return 0;
}

static uint64_t mapped_of(const struct meta_thin_details *d, uint64_t n, uint64_t dev)
{
	for (uint64_t i = 0; i < n; i++)
		if (d[i].dev_id == dev)
			return d[i].mapped_blocks;
	return META_DELTA_UNKNOWN;
}

int meta_thin_export(struct meta_thin *t, struct meta_io *data, const struct meta_export_opts *o,
		     const struct meta_export_sink *s, struct meta_export_stats *st)
{
	struct meta_export_stats dummy;
	struct exp e;
	int r;
	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	memset(&e, 0, sizeof(e));
	e.t = t;
	e.data = data;
	e.o = o;
	e.s = s;
	e.st = st;
	e.bs = (uint64_t)meta_thin_sb(t)->data_block_size * 512;
	if (!e.bs || !s || !s->data || !s->hole)
		return META_E_INVAL;
	e.data_blocks = meta_io_size(data) / e.bs;
	r = meta_thin_dev_root(t, o->dev, &e.dev_root);
	if (r)
		return r;
	e.buf = meta_io_buf_alloc(META_EXPORT_CHUNK);
	if (!e.buf)
		return META_E_NOMEM;
	if (!o->since) {
		r = meta_thin_walk_mappings(t, e.dev_root, on_maps, on_damage, &e);
		if (!r && e.damaged)
			r = META_E_CORRUPT;
		if (!r)
			r = flush_run(&e);
		if (!r)
			r = gap(&e, e.cur, o->size);
		if (r == META_E_CORRUPT)
			st->bad_block = e.bad_block;
	} else {
		struct meta_delta_opts dopts = {0, META_DELTA_UNKNOWN, META_DELTA_UNKNOWN};
		struct meta_delta_stats ds;
		struct meta_thin_details *d = NULL;
		uint64_t base_root, nd = 0;
		r = meta_thin_dev_root(t, o->base_dev, &base_root);
		if (!r && !meta_thin_read_details(t, &d, &nd, NULL, NULL)) {
			dopts.left_mapped = mapped_of(d, nd, o->base_dev);
			dopts.right_mapped = mapped_of(d, nd, o->dev);
		}
		free(d);
		if (!r) {
			memset(&ds, 0, sizeof(ds));
			r = meta_delta_compare(meta_thin_bm(t), base_root, e.dev_root, &dopts, on_delta,
					       &e, &ds);
			st->nodes_read = ds.nodes_read;
			if (r && ds.bad_block)
				st->bad_block = ds.bad_block;
		}
		if (!r)
			r = flush_run(&e);
	}
	free(e.buf);
	return r;
}

/* SPDX-License-Identifier: GPL-2.0-only */
/* thin_migrate: copy a thin volume's view.  See include/libmeta/thin_migrate.h. */
#include <libmeta/thin_migrate.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libmeta/error.h>

#define DEFAULT_BUFFER (64u << 20)

struct scan_ctx {
	struct meta_thin_migrate_scan *s;
	meta_damage_fn dfn;
	void *ctx;
	bool damaged;
};

static int scan_leaf(void *ctx, const struct meta_thin_mapping *m, uint32_t n)
{
	struct scan_ctx *c = ctx;
	c->s->nr_mapped += n;
	if (n && m[n - 1].vblock + 1 > c->s->end_block)
		c->s->end_block = m[n - 1].vblock + 1;
	return 0;
}

static void scan_damage(void *ctx, const struct meta_damage *d)
{
	struct scan_ctx *c = ctx;
	c->damaged = true;
	if (c->dfn)
		c->dfn(c->ctx, d);
}

int meta_thin_migrate_scan(struct meta_thin *t, uint64_t dev_id, meta_damage_fn dfn, void *ctx,
			   struct meta_thin_migrate_scan *out)
{
	struct scan_ctx c = {out, dfn, ctx, false};
	uint64_t root;
	int r;
	memset(out, 0, sizeof(*out));
	out->block_sectors = meta_thin_live_sb(t)->data_block_size;
	r = meta_thin_dev_root(t, dev_id, &root);
	if (r)
		return r;
	r = meta_thin_walk_mappings(t, root, scan_leaf, scan_damage, &c);
	if (!r && c.damaged)
		r = META_E_CORRUPT;
	return r;
}

struct copy_ctx {
	const struct meta_thin_migrate_opts *o;
	struct meta_thin_migrate_stats *st;
	uint8_t *buf;
	size_t cap;
	uint64_t bs;         /* data block bytes */
	uint64_t pos;        /* volume bytes handled so far */
	uint64_t total;
	uint64_t nr_blocks;  /* blocks the volume's size touches */
	/* the pending run of mappings: vblocks [vb, vb + len) at data blocks [db, db + len) */
	uint64_t vb, db, len;
	int err;
};

static void progress(struct copy_ctx *c)
{
	if (c->o->progress)
		c->o->progress(c->o->ctx, c->pos, c->total);
}

/* Copy len bytes from `from` at off_in to dest at off_out, in pieces. */
static int copy_bytes(struct copy_ctx *c, struct meta_io *from, uint64_t off_in, uint64_t off_out,
		      uint64_t len)
{
	while (len) {
		size_t n = len < c->cap ? (size_t)len : c->cap;
		int r = meta_io_pread(from, c->buf, n, off_in);
		if (r)
			return r;
		r = meta_io_pwrite(c->o->dest, c->buf, n, off_out);
		if (r)
			return r;
		off_in += n;
		off_out += n;
		len -= n;
		c->pos = off_out;
		progress(c);
	}
	return 0;
}

/* [b, e) of the volume reads zero: leave, zero or punch it. */
static int zero_range(struct copy_ctx *c, uint64_t b, uint64_t e)
{
	int r = 0;
	c->st->zero_bytes += e - b;
	switch (c->o->gaps) {
	case META_THIN_MIGRATE_GAPS_LEAVE:
		break;
	case META_THIN_MIGRATE_GAPS_PUNCH:
		r = meta_io_discard(c->o->dest, b, e - b);
		break;
	case META_THIN_MIGRATE_GAPS_ZERO:
		memset(c->buf, 0, c->cap);
		while (!r && b < e) {
			size_t n = e - b < c->cap ? (size_t)(e - b) : c->cap;
			r = meta_io_pwrite(c->o->dest, c->buf, n, b);
			b += n;
		}
		break;
	}
	return r;
}

/* The unprovisioned [b, e): the origin's bytes below its end, then zeros. */
static int gap(struct copy_ctx *c, uint64_t b, uint64_t e)
{
	int r;
	if (b >= e)
		return 0;
	if (c->o->origin) {
		uint64_t oe = meta_io_size(c->o->origin);
		if (oe > b) {
			uint64_t m = oe < e ? oe : e;
			r = copy_bytes(c, c->o->origin, b, b, m - b);
			if (r)
				return r;
			c->st->origin_bytes += m - b;
			b = m;
		}
	}
	if (b >= e)
		return 0;
	r = zero_range(c, b, e);
	c->pos = e;
	progress(c);
	return r;
}

/* Copy the pending run (cut at the volume's size), after the gap before it. */
static int flush_run(struct copy_ctx *c)
{
	uint64_t b, e, in;
	int r;
	if (!c->len)
		return 0;
	b = c->vb * c->bs;
	e = (c->vb + c->len) * c->bs;
	if (e > c->o->size)
		e = c->o->size;
	c->len = 0;
	if (b >= e)
		return 0;
	r = gap(c, c->pos, b);
	if (r)
		return r;
	if (c->o->src) {
		in = b;
		r = copy_bytes(c, c->o->src, in, b, e - b);
	} else {
		in = c->db * c->bs;
		if (in + (e - b) > meta_io_size(c->o->data))
			return META_E_DATA_SIZE;
		r = copy_bytes(c, c->o->data, in, b, e - b);
	}
	if (r)
		return r;
	c->st->copied_bytes += e - b;
	c->st->nr_runs++;
	c->pos = e;
	return 0;
}

/* Read-ahead of a leaf's data blocks (an image: runs spread over the data device overlap). */
static void leaf_willneed(struct copy_ctx *c, const struct meta_thin_mapping *m, uint32_t n)
{
	uint32_t i = 0;
	while (i < n && m[i].vblock < c->nr_blocks) {
		uint32_t j = i + 1;
		while (j < n && m[j].vblock < c->nr_blocks && m[j].data_block == m[j - 1].data_block + 1)
			j++;
		meta_io_willneed(c->o->data, m[i].data_block * c->bs, (uint64_t)(j - i) * c->bs);
		i = j;
	}
}

static int copy_leaf(void *ctx, const struct meta_thin_mapping *m, uint32_t n)
{
	struct copy_ctx *c = ctx;
	if (c->o->data)
		leaf_willneed(c, m, n);
	for (uint32_t i = 0; i < n; i++) {
		if (m[i].vblock >= c->nr_blocks)
			break; /* at or past the volume's end */
		/* a live source reads at the volume's offsets: any consecutive vblocks join */
		if (c->len && m[i].vblock == c->vb + c->len &&
		    (c->o->src || m[i].data_block == c->db + c->len)) {
			c->len++;
			continue;
		}
		c->err = flush_run(c);
		if (c->err)
			return c->err;
		c->vb = m[i].vblock;
		c->db = m[i].data_block;
		c->len = 1;
	}
	return 0;
}

int meta_thin_migrate(struct meta_thin *t, const struct meta_thin_migrate_opts *o,
		      struct meta_thin_migrate_stats *st)
{
	struct meta_thin_migrate_stats dummy;
	struct meta_thin_migrate_scan sc;
	struct copy_ctx c;
	uint64_t root, lim;
	int r;

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	if (!o->dest || !o->src == !o->data)
		return META_E_INVAL;
	r = meta_thin_migrate_scan(t, o->dev_id, o->dfn, o->ctx, &sc);
	if (r)
		return r;
	memset(&c, 0, sizeof(c));
	c.o = o;
	c.st = st;
	c.bs = (uint64_t)sc.block_sectors * 512u;
	c.total = o->size;
	if (!c.bs)
		return META_E_CORRUPT;
	c.nr_blocks = o->size / c.bs + (o->size % c.bs != 0);
	if (__builtin_mul_overflow(sc.end_block, c.bs, &lim) || o->size > (uint64_t)INT64_MAX)
		return META_E_RANGE;
	c.cap = o->buffer_bytes ? o->buffer_bytes : DEFAULT_BUFFER;
	if (c.cap < c.bs)
		c.cap = (size_t)c.bs; /* at least one block per piece */
	c.buf = meta_io_buf_alloc(c.cap);
	if (!c.buf)
		return META_E_NOMEM;
	r = meta_thin_dev_root(t, o->dev_id, &root);
	if (!r)
		r = meta_thin_walk_mappings(t, root, copy_leaf, NULL, &c);
	if (r && c.err)
		r = c.err;
	if (!r)
		r = flush_run(&c);
	if (!r)
		r = gap(&c, c.pos, o->size);
	if (!r)
		r = meta_io_flush(o->dest);
	free(c.buf);
	return r;
}

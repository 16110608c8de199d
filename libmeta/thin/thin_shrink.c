/* SPDX-License-Identifier: GPL-2.0-only */
/* thin_shrink: remap the data blocks at or above a new pool size.  See include/libmeta/thin_shrink.h. */
#include <libmeta/thin_shrink.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libmeta/error.h>

#define COPY_CHUNK (8u << 20) /* bytes per read/write of a copy */

struct range {
	uint64_t begin, end;
};

struct meta_thin_shrink {
	uint64_t nr; /* NUM */
	/* pass 1 */
	bool seen_sb;
	struct meta_thin_xml_sb sb;
	struct range *r;
	size_t n, cap, merged; /* r[0..merged) is sorted and merged */
	/* the plan */
	bool planned;
	struct meta_thin_shrink_remap *m;
	size_t nm;
	struct meta_thin_shrink_stats st;
	/* pass 2 */
	struct meta_thin_emitter next;
};

int meta_thin_shrink_create(uint64_t new_nr_blocks, struct meta_thin_shrink **out)
{
	struct meta_thin_shrink *s;
	*out = NULL;
	if (!new_nr_blocks)
		return META_E_INVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return META_E_NOMEM;
	s->nr = new_nr_blocks;
	*out = s;
	return META_OK;
}

void meta_thin_shrink_destroy(struct meta_thin_shrink *s)
{
	if (!s)
		return;
	free(s->r);
	free(s->m);
	free(s);
}

/* ---- pass 1: the used ranges ---- */

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

/* Sort and merge r[] (overlapping or touching ranges become one). */
static void compact(struct meta_thin_shrink *s)
{
	size_t i, o = 0;
	if (!s->n)
		return;
	qsort(s->r, s->n, sizeof(*s->r), cmp_range);
	for (i = 1; i < s->n; i++) {
		if (s->r[i].begin <= s->r[o].end) {
			if (s->r[i].end > s->r[o].end)
				s->r[o].end = s->r[i].end;
		} else {
			s->r[++o] = s->r[i];
		}
	}
	s->n = o + 1;
	s->merged = s->n;
}

static int add_range(struct meta_thin_shrink *s, uint64_t b, uint64_t len)
{
	uint64_t e = b + len;
	if (e < b)
		return META_E_RANGE;
	if (s->n > s->merged) { /* extend the last recorded run when this one follows it */
		struct range *last = &s->r[s->n - 1];
		if (last->end == b) {
			last->end = e;
			return META_OK;
		}
	}
	if (s->n == s->cap) {
		compact(s);
		if (!s->cap || s->n > s->cap / 2) {
			size_t nc = s->cap ? s->cap * 2 : 1024;
			struct range *p;
			if (nc > SIZE_MAX / sizeof(*p))
				return META_E_NOMEM;
			p = realloc(s->r, nc * sizeof(*p));
			if (!p)
				return META_E_NOMEM;
			s->r = p;
			s->cap = nc;
		}
	}
	s->r[s->n].begin = b;
	s->r[s->n].end = e;
	s->n++;
	return META_OK;
}

static int c_begin_sb(void *ctx, const struct meta_thin_xml_sb *sb)
{
	struct meta_thin_shrink *s = ctx;
	s->seen_sb = true;
	s->sb = *sb;
	s->sb.uuid = NULL; /* not kept */
	return META_OK;
}

static int c_nop(void *ctx)
{
	(void)ctx;
	return META_OK;
}

static int c_dev(void *ctx, const struct meta_thin_details *d)
{
	(void)ctx;
	(void)d;
	return META_OK;
}

static int c_name(void *ctx, const char *name)
{
	(void)ctx;
	(void)name;
	return META_OK;
}

static int c_range(void *ctx, uint64_t ob, uint64_t db, uint32_t t, uint64_t len)
{
	(void)ob;
	(void)t;
	return add_range(ctx, db, len);
}

static int c_single(void *ctx, uint64_t ob, uint64_t db, uint32_t t)
{
	(void)ob;
	(void)t;
	return add_range(ctx, db, 1);
}

static const struct meta_thin_emitter_ops collector_ops = {
	.begin_superblock = c_begin_sb,
	.end_superblock = c_nop,
	.begin_device = c_dev,
	.end_device = c_nop,
	.begin_def = c_name,
	.end_def = c_nop,
	.ref = c_name,
	.range_map = c_range,
	.single_map = c_single,
};

struct meta_thin_emitter meta_thin_shrink_collector(struct meta_thin_shrink *s)
{
	struct meta_thin_emitter e = {&collector_ops, s};
	return e;
}

/* ---- the plan ---- */

static int push_remap(struct meta_thin_shrink *s, size_t *cap, uint64_t from, uint64_t to,
		      uint64_t len)
{
	if (s->nm == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		struct meta_thin_shrink_remap *p;
		if (nc > SIZE_MAX / sizeof(*p))
			return META_E_NOMEM;
		p = realloc(s->m, nc * sizeof(*p));
		if (!p)
			return META_E_NOMEM;
		s->m = p;
		*cap = nc;
	}
	s->m[s->nm].from = from;
	s->m[s->nm].to = to;
	s->m[s->nm].len = len;
	s->nm++;
	return META_OK;
}

int meta_thin_shrink_plan(struct meta_thin_shrink *s, struct meta_thin_shrink_stats *st)
{
	const uint64_t nr = s->nr;
	size_t i, cap = 0, fi;
	uint64_t used = 0, above = 0, free_below, fb, fe; /* free run [fb, fe) */
	int r = META_OK;

	if (!s->seen_sb)
		return META_E_INVAL;
	compact(s);
	free(s->m);
	s->m = NULL;
	s->nm = 0;
	s->planned = false;
	for (i = 0; i < s->n; i++) {
		used += s->r[i].end - s->r[i].begin;
		if (s->r[i].end > nr)
			above += s->r[i].end - (s->r[i].begin > nr ? s->r[i].begin : nr);
	}
	free_below = nr - (used - above);
	memset(&s->st, 0, sizeof(s->st));
	s->st.old_nr_blocks = s->sb.nr_data_blocks;
	s->st.new_nr_blocks = nr;
	s->st.data_block_size = s->sb.data_block_size;
	s->st.nr_used = used;
	s->st.nr_above = above;
	s->st.nr_free_below = free_below;
	s->st.max_used_end = s->n ? s->r[s->n - 1].end : 0;
	if (above > free_below) {
		r = META_E_DATA_NOSPC;
		goto out;
	}
	/*
	 * Walk the used runs >= NUM (ranges i..) and the free runs < NUM (the gaps
	 * between ranges, fi = index of the range after the gap) together.
	 */
	fi = 0;
	fb = 0;
	fe = s->n ? (s->r[0].begin < nr ? s->r[0].begin : nr) : nr;
	for (i = 0; i < s->n && r == META_OK; i++) {
		uint64_t b = s->r[i].begin > nr ? s->r[i].begin : nr, e = s->r[i].end;
		while (b < e) {
			uint64_t len;
			while (fb == fe) { /* next gap below NUM */
				if (fi >= s->n)
					return META_E_INVAL; /* cannot happen: counted above */
				fb = s->r[fi].end;
				fi++;
				fe = fi < s->n && s->r[fi].begin < nr ? s->r[fi].begin : nr;
				if (fb > fe)
					fb = fe; /* a range crossing NUM: no gap */
			}
			len = e - b < fe - fb ? e - b : fe - fb;
			r = push_remap(s, &cap, b, fb, len);
			if (r)
				break;
			b += len;
			fb += len;
		}
	}
	if (r)
		goto out;
	s->st.nr_remaps = s->nm;
	s->planned = true;
out:
	if (st)
		*st = s->st;
	return r;
}

size_t meta_thin_shrink_nr_remaps(const struct meta_thin_shrink *s)
{
	return s->nm;
}

const struct meta_thin_shrink_remap *meta_thin_shrink_remaps(const struct meta_thin_shrink *s)
{
	return s->m;
}

/* ---- the data copy ---- */

int meta_thin_shrink_copy(struct meta_thin_shrink *s, struct meta_io *data, uint64_t *nr_bytes)
{
	uint64_t bs = (uint64_t)s->sb.data_block_size * 512u, end = 0, done = 0;
	size_t i, chunk;
	char *buf;
	int r = META_OK;

	if (nr_bytes)
		*nr_bytes = 0;
	if (!s->planned)
		return META_E_INVAL;
	for (i = 0; i < s->nm; i++)
		if (s->m[i].from + s->m[i].len > end)
			end = s->m[i].from + s->m[i].len;
	if (!s->nm)
		return META_OK;
	if (!bs || end > UINT64_MAX / bs)
		return META_E_RANGE;
	if (meta_io_size(data) < end * bs)
		return META_E_DATA_SIZE;
	chunk = COPY_CHUNK;
	buf = meta_io_buf_alloc(chunk);
	if (!buf)
		return META_E_NOMEM;
	for (i = 0; i < s->nm && !r; i++) {
		uint64_t src = s->m[i].from * bs, dst = s->m[i].to * bs, left = s->m[i].len * bs;
		while (left) {
			size_t n = left < chunk ? (size_t)left : chunk;
			r = meta_io_pread(data, buf, n, src);
			if (!r)
				r = meta_io_pwrite(data, buf, n, dst);
			if (r)
				break;
			src += n;
			dst += n;
			left -= n;
			done += n;
		}
	}
	free(buf);
	if (!r)
		r = meta_io_flush(data);
	if (nr_bytes)
		*nr_bytes = done;
	return r;
}

/* ---- pass 2: the remapper ---- */

static int r_begin_sb(void *ctx, const struct meta_thin_xml_sb *sb)
{
	struct meta_thin_shrink *s = ctx;
	struct meta_thin_xml_sb x = *sb;
	x.nr_data_blocks = s->nr;
	return s->next.ops->begin_superblock(s->next.ctx, &x);
}

static int r_end_sb(void *ctx)
{
	struct meta_thin_shrink *s = ctx;
	return s->next.ops->end_superblock(s->next.ctx);
}

static int r_begin_dev(void *ctx, const struct meta_thin_details *d)
{
	struct meta_thin_shrink *s = ctx;
	return s->next.ops->begin_device(s->next.ctx, d);
}

static int r_end_dev(void *ctx)
{
	struct meta_thin_shrink *s = ctx;
	return s->next.ops->end_device(s->next.ctx);
}

static int r_begin_def(void *ctx, const char *name)
{
	struct meta_thin_shrink *s = ctx;
	return s->next.ops->begin_def(s->next.ctx, name);
}

static int r_end_def(void *ctx)
{
	struct meta_thin_shrink *s = ctx;
	return s->next.ops->end_def(s->next.ctx);
}

static int r_ref(void *ctx, const char *name)
{
	struct meta_thin_shrink *s = ctx;
	return s->next.ops->ref(s->next.ctx, name);
}

static int emit(struct meta_thin_shrink *s, uint64_t ob, uint64_t db, uint32_t t, uint64_t len)
{
	if (len == 1)
		return s->next.ops->single_map(s->next.ctx, ob, db, t);
	return s->next.ops->range_map(s->next.ctx, ob, db, t, len);
}

/* The remap holding block b (from <= b < from + len), or NULL. */
static const struct meta_thin_shrink_remap *find_remap(const struct meta_thin_shrink *s, uint64_t b)
{
	size_t lo = 0, hi = s->nm;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct meta_thin_shrink_remap *m = &s->m[mid];
		if (b < m->from)
			hi = mid;
		else if (b - m->from >= m->len)
			lo = mid + 1;
		else
			return m;
	}
	return NULL;
}

static int r_map(void *ctx, uint64_t ob, uint64_t db, uint32_t t, uint64_t len)
{
	struct meta_thin_shrink *s = ctx;
	uint64_t e = db + len;
	int r;

	if (e < db)
		return META_E_RANGE;
	if (e <= s->nr) /* nothing moves */
		return emit(s, ob, db, t, len);
	if (db < s->nr) { /* the part below NUM stays */
		uint64_t n = s->nr - db;
		r = emit(s, ob, db, t, n);
		if (r)
			return r;
		ob += n;
		db += n;
	}
	while (db < e) {
		const struct meta_thin_shrink_remap *m = find_remap(s, db);
		uint64_t n;
		if (!m)
			return META_E_INVAL;
		n = m->from + m->len - db;
		if (n > e - db)
			n = e - db;
		r = emit(s, ob, m->to + (db - m->from), t, n);
		if (r)
			return r;
		ob += n;
		db += n;
	}
	return META_OK;
}

static int r_range(void *ctx, uint64_t ob, uint64_t db, uint32_t t, uint64_t len)
{
	return r_map(ctx, ob, db, t, len);
}

static int r_single(void *ctx, uint64_t ob, uint64_t db, uint32_t t)
{
	return r_map(ctx, ob, db, t, 1);
}

static const struct meta_thin_emitter_ops remapper_ops = {
	.begin_superblock = r_begin_sb,
	.end_superblock = r_end_sb,
	.begin_device = r_begin_dev,
	.end_device = r_end_dev,
	.begin_def = r_begin_def,
	.end_def = r_end_def,
	.ref = r_ref,
	.range_map = r_range,
	.single_map = r_single,
};

struct meta_thin_emitter meta_thin_shrink_remapper(struct meta_thin_shrink *s,
						   const struct meta_thin_emitter *next)
{
	struct meta_thin_emitter e = {&remapper_ops, s};
	s->next = *next;
	return e;
}

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_shrink's library (include/libmeta/thin_shrink.h): the plan, the remapper and the data
 * copy, on seeded random mapping sets (several devices, shared and overlapping data ranges)
 * against a plain model: a bool per data block.  The plan must send the k-th used block at
 * or above NUM to the k-th free block below NUM (tpt 1.x's choice), in maximal runs; it must
 * refuse exactly when the used blocks above outnumber the free ones below; the remapper must
 * give every device the same virtual -> (moved) data mapping, all below NUM; the copy must
 * put every moved block's bytes at its target and write nothing else, and a copy failed at
 * its Nth write must leave every used block as it was.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/emitter.h>
#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/thin_shrink.h>

#include "unit_base.h"

#define MAXB 600u     /* data blocks of a random pool */
#define MAXDEV 4
#define MAXV 200u     /* virtual blocks per device */
#define BS_SECTORS 8u /* 4 KiB data blocks in the copy tests */

struct pool {
	uint64_t nr;                  /* nr_data_blocks */
	int64_t map[MAXDEV][MAXV];    /* -1 unmapped */
	uint32_t time[MAXDEV][MAXV];
	int ndev;
};

/* A random pool: devices map runs of consecutive data blocks, snapshots share some. */
static void random_pool(struct pool *p)
{
	int d;
	memset(p, 0, sizeof(*p));
	p->nr = 50 + ub_rnd_below(MAXB - 50);
	p->ndev = 1 + (int)ub_rnd_below(MAXDEV);
	for (d = 0; d < p->ndev; d++) {
		uint64_t v = 0;
		for (v = 0; v < MAXV; v++)
			p->map[d][v] = -1;
		v = 0;
		while (v < MAXV) {
			uint64_t len = 1 + ub_rnd_below(12), db, i;
			if (ub_rnd_below(3) == 0) { /* a hole */
				v += len;
				continue;
			}
			if (d > 0 && ub_rnd_below(2) == 0) { /* shared with device 0 */
				for (i = 0; i < len && v < MAXV; i++, v++) {
					p->map[d][v] = p->map[0][v];
					p->time[d][v] = p->time[0][v];
				}
				continue;
			}
			db = ub_rnd_below(p->nr);
			for (i = 0; i < len && v < MAXV && db + i < p->nr; i++, v++) {
				p->map[d][v] = (int64_t)(db + i);
				p->time[d][v] = (uint32_t)ub_rnd_below(3);
			}
		}
	}
}

/* Drive e with p: runs of consecutive virtual and data blocks of one time as range_map. */
static int drive(const struct pool *p, const struct meta_thin_emitter *e)
{
	struct meta_thin_xml_sb sb;
	int d, r;
	memset(&sb, 0, sizeof(sb));
	sb.uuid = "";
	sb.transaction = 7;
	sb.version = 2;
	sb.data_block_size = BS_SECTORS;
	sb.nr_data_blocks = p->nr;
	r = e->ops->begin_superblock(e->ctx, &sb);
	for (d = 0; d < p->ndev && !r; d++) {
		struct meta_thin_details det;
		uint64_t v = 0;
		memset(&det, 0, sizeof(det));
		det.dev_id = (uint64_t)d;
		r = e->ops->begin_device(e->ctx, &det);
		while (v < MAXV && !r) {
			uint64_t len = 1;
			if (p->map[d][v] < 0) {
				v++;
				continue;
			}
			while (v + len < MAXV && p->map[d][v + len] == p->map[d][v] + (int64_t)len &&
			       p->time[d][v + len] == p->time[d][v])
				len++;
			if (len == 1)
				r = e->ops->single_map(e->ctx, v, (uint64_t)p->map[d][v], p->time[d][v]);
			else
				r = e->ops->range_map(e->ctx, v, (uint64_t)p->map[d][v], p->time[d][v], len);
			v += len;
		}
		if (!r)
			r = e->ops->end_device(e->ctx);
	}
	if (!r)
		r = e->ops->end_superblock(e->ctx);
	return r;
}

/* A recording emitter: what the remapper sends on. */
struct rec {
	uint64_t nr;
	int dev;
	int64_t map[MAXDEV][MAXV];
	uint32_t time[MAXDEV][MAXV];
	int bad; /* a range_map of length < 2, a block mapped twice */
};

static int rec_sb(void *c, const struct meta_thin_xml_sb *sb)
{
	struct rec *r = c;
	r->nr = sb->nr_data_blocks;
	return 0;
}
static int rec_nop(void *c)
{
	(void)c;
	return 0;
}
static int rec_dev(void *c, const struct meta_thin_details *d)
{
	((struct rec *)c)->dev = (int)d->dev_id;
	return 0;
}
static int rec_name(void *c, const char *n)
{
	(void)c;
	(void)n;
	return 0;
}
static void rec_put(struct rec *r, uint64_t v, uint64_t db, uint32_t t)
{
	if (v >= MAXV || r->map[r->dev][v] >= 0) {
		r->bad = 1;
		return;
	}
	r->map[r->dev][v] = (int64_t)db;
	r->time[r->dev][v] = t;
}
static int rec_range(void *c, uint64_t ob, uint64_t db, uint32_t t, uint64_t len)
{
	uint64_t i;
	if (len < 2)
		((struct rec *)c)->bad = 1;
	for (i = 0; i < len; i++)
		rec_put(c, ob + i, db + i, t);
	return 0;
}
static int rec_single(void *c, uint64_t ob, uint64_t db, uint32_t t)
{
	rec_put(c, ob, db, t);
	return 0;
}
static const struct meta_thin_emitter_ops rec_ops = {rec_sb, rec_nop, rec_dev, rec_nop, rec_name,
						     rec_nop, rec_name, rec_range, rec_single};

/* The model's plan: target[b] for every used b >= nr (k-th above -> k-th free below). */
static int model_plan(const struct pool *p, uint64_t nr, int64_t *target, uint64_t *nused)
{
	static bool used[MAXB + 1];
	uint64_t b, f = 0, n = 0;
	int d, v;
	memset(used, 0, sizeof(used));
	for (d = 0; d < p->ndev; d++)
		for (v = 0; v < (int)MAXV; v++)
			if (p->map[d][v] >= 0)
				used[p->map[d][v]] = true;
	for (b = 0; b < p->nr; b++) {
		target[b] = (int64_t)b;
		n += used[b];
	}
	*nused = n;
	for (b = nr; b < p->nr; b++) {
		if (!used[b])
			continue;
		while (f < nr && used[f])
			f++;
		if (f >= nr)
			return META_E_DATA_NOSPC;
		target[b] = (int64_t)f++;
	}
	return 0;
}

static void one_plan_case(uint64_t seed)
{
	struct pool p;
	static struct rec rec;
	static int64_t target[MAXB];
	struct meta_thin_shrink *s;
	struct meta_thin_shrink_stats st;
	struct meta_thin_emitter ce, re, next = {&rec_ops, &rec};
	uint64_t nr, nused, i;
	int want, got, d, v;
	size_t k;

	ub_rnd_state = seed;
	random_pool(&p);
	nr = 1 + ub_rnd_below(p.nr + 20);
	want = model_plan(&p, nr, target, &nused);
	ck_assert_int_eq(meta_thin_shrink_create(nr, &s), 0);
	ce = meta_thin_shrink_collector(s);
	ck_assert_int_eq(drive(&p, &ce), 0);
	got = meta_thin_shrink_plan(s, &st);
	ck_assert_msg(got == want, "seed %llu nr %llu: plan %d, model %d", (unsigned long long)seed,
		      (unsigned long long)nr, got, want);
	ck_assert_uint_eq(st.nr_used, nused);
	ck_assert_uint_eq(st.old_nr_blocks, p.nr);
	if (got) {
		ck_assert_uint_gt(st.nr_above, st.nr_free_below);
		meta_thin_shrink_destroy(s);
		return;
	}
	ck_assert_uint_le(st.nr_above, st.nr_free_below);
	/* the remaps: exactly the model's moves, maximal runs, ordered */
	{
		const struct meta_thin_shrink_remap *m = meta_thin_shrink_remaps(s);
		uint64_t moved = 0;
		for (k = 0; k < meta_thin_shrink_nr_remaps(s); k++) {
			ck_assert_uint_gt(m[k].len, 0);
			ck_assert_uint_ge(m[k].from, nr);
			ck_assert_uint_le(m[k].to + m[k].len, nr);
			for (i = 0; i < m[k].len; i++)
				ck_assert_int_eq(target[m[k].from + i], (int64_t)(m[k].to + i));
			if (k) {
				ck_assert_uint_ge(m[k].from, m[k - 1].from + m[k - 1].len);
				ck_assert_uint_ge(m[k].to, m[k - 1].to + m[k - 1].len);
				ck_assert(!(m[k].from == m[k - 1].from + m[k - 1].len &&
					    m[k].to == m[k - 1].to + m[k - 1].len));
			}
			moved += m[k].len;
		}
		ck_assert_uint_eq(moved, st.nr_above);
		ck_assert_uint_eq(st.nr_remaps, meta_thin_shrink_nr_remaps(s));
	}
	/* the remapper: every device's mapping through the model's targets */
	memset(&rec, 0, sizeof(rec));
	memset(rec.map, 0xff, sizeof(rec.map));
	re = meta_thin_shrink_remapper(s, &next);
	ck_assert_int_eq(drive(&p, &re), 0);
	ck_assert_int_eq(rec.bad, 0);
	ck_assert_uint_eq(rec.nr, nr);
	for (d = 0; d < p.ndev; d++)
		for (v = 0; v < (int)MAXV; v++) {
			int64_t want_db = p.map[d][v] < 0 ? -1 : target[p.map[d][v]];
			ck_assert_int_eq(rec.map[d][v], want_db);
			if (want_db >= 0) {
				ck_assert_int_lt(want_db, (int64_t)nr);
				ck_assert_uint_eq(rec.time[d][v], p.time[d][v]);
			}
		}
	meta_thin_shrink_destroy(s);
}

START_TEST(plan_random)
{
	uint64_t seed, n = ub_long_run() ? 20000 : 2000;
	for (seed = 1; seed <= n; seed++)
		one_plan_case(seed);
}
END_TEST

/* tpt 1.x's example: 100..120 split over the free runs 0..5, 20..23, 30..50. */
START_TEST(plan_split)
{
	struct meta_thin_shrink *s;
	struct meta_thin_emitter e;
	struct meta_thin_xml_sb sb;
	struct meta_thin_details det;
	const struct meta_thin_shrink_remap *m;
	memset(&sb, 0, sizeof(sb));
	memset(&det, 0, sizeof(det));
	sb.nr_data_blocks = 200;
	sb.data_block_size = 128;
	ck_assert_int_eq(meta_thin_shrink_create(100, &s), 0);
	e = meta_thin_shrink_collector(s);
	ck_assert_int_eq(e.ops->begin_superblock(e.ctx, &sb), 0);
	ck_assert_int_eq(e.ops->begin_device(e.ctx, &det), 0);
	ck_assert_int_eq(e.ops->range_map(e.ctx, 0, 5, 0, 15), 0);
	ck_assert_int_eq(e.ops->range_map(e.ctx, 15, 23, 0, 7), 0);
	ck_assert_int_eq(e.ops->range_map(e.ctx, 22, 50, 0, 70), 0); /* 50..120, crosses 100 */
	ck_assert_int_eq(meta_thin_shrink_plan(s, NULL), 0);
	ck_assert_uint_eq(meta_thin_shrink_nr_remaps(s), 3);
	m = meta_thin_shrink_remaps(s);
	ck_assert(m[0].from == 100 && m[0].to == 0 && m[0].len == 5);
	ck_assert(m[1].from == 105 && m[1].to == 20 && m[1].len == 3);
	ck_assert(m[2].from == 108 && m[2].to == 30 && m[2].len == 12);
	meta_thin_shrink_destroy(s);
}
END_TEST

START_TEST(plan_errors)
{
	struct meta_thin_shrink *s;
	struct meta_thin_emitter e;
	struct meta_thin_xml_sb sb;
	ck_assert_int_eq(meta_thin_shrink_create(0, &s), META_E_INVAL);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(meta_thin_shrink_create(10, &s), 0);
	ck_assert_int_eq(meta_thin_shrink_plan(s, NULL), META_E_INVAL); /* no superblock seen */
	memset(&sb, 0, sizeof(sb));
	e = meta_thin_shrink_collector(s);
	ck_assert_int_eq(e.ops->begin_superblock(e.ctx, &sb), 0);
	ck_assert_int_eq(e.ops->range_map(e.ctx, 0, UINT64_MAX - 1, 0, 5), META_E_RANGE);
	meta_thin_shrink_destroy(s);
}
END_TEST

/* The copy on a 4 KiB-block image: moved blocks' bytes at their targets, nothing else
 * written; then the same with the Nth write failing: every used block as it was. */
static void fill(char *img, uint64_t nr)
{
	uint64_t b;
	for (b = 0; b < nr; b++) {
		memset(img + b * 4096, (int)(b * 7 + 1), 4096);
		snprintf(img + b * 4096, 32, "block %llu", (unsigned long long)b);
	}
}

static void one_copy_case(uint64_t seed, uint64_t fail_after)
{
	struct pool p;
	static int64_t target[MAXB];
	static char before[MAXB * 4096], after[MAXB * 4096];
	static bool used[MAXB], is_target[MAXB];
	char path[UB_PATH_MAX];
	struct meta_thin_shrink *s;
	struct meta_thin_emitter ce;
	struct meta_io *io;
	uint64_t nr, nused, b, bytes;
	int d, v, r;

	ub_rnd_state = seed;
	random_pool(&p);
	if (model_plan(&p, p.nr, target, &nused)) /* never: NUM = nr */
		ck_abort();
	nr = nused + ub_rnd_below(p.nr - nused + 1);
	if (!nr)
		nr = 1;
	if (model_plan(&p, nr, target, &nused))
		return;
	memset(used, 0, sizeof(used));
	memset(is_target, 0, sizeof(is_target));
	for (d = 0; d < p.ndev; d++)
		for (v = 0; v < (int)MAXV; v++)
			if (p.map[d][v] >= 0)
				used[p.map[d][v]] = true;
	for (b = 0; b < p.nr; b++)
		if (used[b] && target[b] != (int64_t)b)
			is_target[target[b]] = true;
	fill(before, p.nr);
	ub_tmpfile(path, "shrink", 0);
	ub_write_at(path, 0, before, p.nr * 4096);
	ck_assert_int_eq(meta_thin_shrink_create(nr, &s), 0);
	ce = meta_thin_shrink_collector(s);
	ck_assert_int_eq(drive(&p, &ce), 0);
	ck_assert_int_eq(meta_thin_shrink_plan(s, NULL), 0);
	ck_assert_int_eq(meta_io_open(path, META_IO_WRITE, &io), 0);
	if (fail_after)
		meta_io_fail_writes_after(io, fail_after - 1);
	r = meta_thin_shrink_copy(s, io, &bytes);
	meta_io_close(io);
	ub_read_at(path, 0, after, p.nr * 4096);
	unlink(path);
	for (b = 0; b < p.nr; b++) {
		if (used[b]) /* the input pool's view: never written */
			ck_assert_msg(!memcmp(after + b * 4096, before + b * 4096, 4096),
				      "seed %llu: used block %llu written", (unsigned long long)seed,
				      (unsigned long long)b);
		else if (!is_target[b])
			ck_assert(!memcmp(after + b * 4096, before + b * 4096, 4096));
	}
	if (!r) {
		uint64_t n = 0;
		for (b = 0; b < p.nr; b++)
			if (used[b] && target[b] != (int64_t)b) {
				ck_assert(!memcmp(after + target[b] * 4096, before + b * 4096, 4096));
				n++;
			}
		ck_assert_uint_eq(bytes, n * 4096);
	} else {
		ck_assert_uint_ne(fail_after, 0);
		ck_assert_int_eq(r, META_E_IO);
	}
	meta_thin_shrink_destroy(s);
}

START_TEST(copy_random)
{
	uint64_t seed, n = ub_long_run() ? 2000 : 150;
	for (seed = 1; seed <= n; seed++) {
		one_copy_case(seed, 0);
		one_copy_case(seed, 1 + seed % 5);
	}
}
END_TEST

START_TEST(copy_data_too_small)
{
	struct meta_thin_shrink *s;
	struct meta_thin_emitter e;
	struct meta_thin_xml_sb sb;
	struct meta_thin_details det;
	struct meta_io *io;
	char path[UB_PATH_MAX];
	memset(&sb, 0, sizeof(sb));
	memset(&det, 0, sizeof(det));
	sb.nr_data_blocks = 100;
	sb.data_block_size = BS_SECTORS;
	ck_assert_int_eq(meta_thin_shrink_create(50, &s), 0);
	e = meta_thin_shrink_collector(s);
	ck_assert_int_eq(e.ops->begin_superblock(e.ctx, &sb), 0);
	ck_assert_int_eq(e.ops->begin_device(e.ctx, &det), 0);
	ck_assert_int_eq(e.ops->range_map(e.ctx, 0, 90, 0, 10), 0);
	ck_assert_int_eq(meta_thin_shrink_copy(s, NULL, NULL), META_E_INVAL); /* before the plan */
	ck_assert_int_eq(meta_thin_shrink_plan(s, NULL), 0);
	ub_tmpfile(path, "shrink", 99 * 4096); /* block 99 missing */
	ck_assert_int_eq(meta_io_open(path, META_IO_WRITE, &io), 0);
	ck_assert_int_eq(meta_thin_shrink_copy(s, io, NULL), META_E_DATA_SIZE);
	ck_assert_uint_eq(meta_io_nr_writes(io), 0);
	meta_io_close(io);
	unlink(path);
	meta_thin_shrink_destroy(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("thin_shrink");
	TCase *tc = ub_tcase(s, "plan", 60);
	tcase_add_test(tc, plan_random);
	tcase_add_test(tc, plan_split);
	tcase_add_test(tc, plan_errors);
	tc = ub_tcase(s, "copy", 60);
	tcase_add_test(tc, copy_random);
	tcase_add_test(tc, copy_data_too_small);
	return ub_run(s);
}

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of thin_trim (libmeta/thin/thin_trim.c): seeded random data space
 * maps (counts set through the engine's set_count, several bitmaps, counts above 2
 * in the ref-count tree) against a plain array model: the free ranges are exactly
 * the zero-count blocks, ascending and coalesced (none touch, across bitmap edges
 * too); meta_thin_trim punches holes exactly there in a data image (SEEK_HOLE /
 * SEEK_DATA) and leaves the used blocks' bytes and the tail past the pool alone; a
 * data image smaller than the pool is refused untouched.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/sm.h>
#include <libmeta/thin.h>
#include <libmeta/thin_pool.h>
#include <libmeta/thin_trim.h>

#include "unit_base.h"

#define BS 65536u /* 128-sector data blocks */

static char mpath[UB_PATH_MAX], dpath[UB_PATH_MAX];

/* A pool of nr data blocks whose counts are cnt[] (committed). */
static void make_pool(uint64_t nr, const uint32_t *cnt)
{
	struct meta_thin_pool_opts o = {META_THIN_POOL_FORMAT, 128, nr, 0};
	struct meta_thin_pool *p;
	ub_tmpfile(mpath, "trim_meta", 8u << 20);
	ck_assert_int_eq(meta_thin_pool_open(mpath, &o, &p, NULL), 0);
	for (uint64_t b = 0; b < nr; b++)
		if (cnt[b])
			ck_assert_int_eq(meta_thin_pool_set_count(p, META_THIN_POOL_DATA_MAP, b, cnt[b]),
					 0);
	ck_assert_int_eq(meta_thin_pool_commit(p), 0);
	meta_thin_pool_close(p);
}

struct got {
	uint64_t (*r)[2];
	size_t n, cap;
};

static int on_range(void *ctx, uint64_t b, uint64_t e)
{
	struct got *g = ctx;
	if (g->n == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 64;
		g->r = realloc(g->r, g->cap * sizeof(*g->r));
		ck_assert_ptr_nonnull(g->r);
	}
	g->r[g->n][0] = b;
	g->r[g->n][1] = e;
	g->n++;
	return 0;
}

/* The ranges are the model's zero runs, in order, maximal. */
static void check_ranges(const struct got *g, uint64_t nr, const uint32_t *cnt)
{
	size_t k = 0;
	uint64_t b = 0;
	while (b < nr) {
		uint64_t e;
		if (cnt[b]) {
			b++;
			continue;
		}
		for (e = b; e < nr && !cnt[e]; e++)
			;
		ck_assert_uint_lt(k, g->n);
		ck_assert_uint_eq(g->r[k][0], b);
		ck_assert_uint_eq(g->r[k][1], e);
		k++;
		b = e;
	}
	ck_assert_uint_eq(k, g->n);
}

static void random_counts(uint64_t nr, uint32_t *cnt)
{
	uint64_t b = 0;
	unsigned dens = (unsigned)ub_rnd_below(4);
	while (b < nr) {
		uint64_t run = 1 + ub_rnd_below(ub_rnd_below(3) ? 40 : 3000);
		uint32_t c = 0;
		if (ub_rnd_below(4) < dens + (dens == 3 ? 0 : 1))
			c = ub_rnd_below(10) ? 1 : 2 + (uint32_t)ub_rnd_below(4);
		for (uint64_t i = 0; i < run && b < nr; i++, b++)
			cnt[b] = c;
	}
	/* the bitmap edges: a free or used block each side, at random */
	for (uint64_t e = META_SM_ENTRIES_PER_BITMAP; e < nr; e += META_SM_ENTRIES_PER_BITMAP) {
		cnt[e - 1] = ub_rnd_below(2) ? 0 : 1;
		cnt[e] = ub_rnd_below(2) ? 0 : 1;
	}
}

START_TEST(test_random_free_ranges)
{
	int rounds = ub_long_run() ? 40 : 8;
	for (int round = 0; round < rounds; round++) {
		/* round 0: all free, one range over 3 bitmaps */
		uint64_t nr = round ? 1 + ub_rnd_below(4 * META_SM_ENTRIES_PER_BITMAP)
				    : 3 * META_SM_ENTRIES_PER_BITMAP;
		uint32_t *cnt = calloc(nr, sizeof(*cnt));
		struct meta_thin_open_opts oo = {0};
		struct meta_thin *t;
		struct got g = {0};
		ck_assert_ptr_nonnull(cnt);
		if (round == 1)
			for (uint64_t b = 0; b < nr; b++)
				cnt[b] = 1; /* all used: none */
		else if (round > 1)
			random_counts(nr, cnt);
		make_pool(nr, cnt);
		ck_assert_int_eq(meta_thin_open(mpath, &oo, &t), 0);
		ck_assert_int_eq(meta_thin_free_data_ranges(t, on_range, &g), 0);
		check_ranges(&g, nr, cnt);
		if (round == 0)
			ck_assert_uint_eq(g.n, 1);
		meta_thin_close(t);
		unlink(mpath);
		free(g.r);
		free(cnt);
	}
}
END_TEST

/* Is [b, e) wholly inside a hole of fd? */
static int is_hole(int fd, off_t b, off_t e)
{
	off_t d = lseek(fd, b, SEEK_DATA);
	if (d < 0)
		return 1; /* no data from b on */
	return d >= e;
}

START_TEST(test_trim_image)
{
	for (int round = 0; round < 4; round++) {
		uint64_t nr = 1 + ub_rnd_below(600), tail = round & 1 ? 12345 : 0;
		uint32_t *cnt = calloc(nr, sizeof(*cnt));
		struct meta_thin_open_opts oo = {0};
		struct meta_thin_trim_stats st;
		struct meta_thin *t;
		struct meta_io *io;
		uint8_t *blk = malloc(BS), *rd = malloc(BS);
		uint64_t nfree = 0;
		int fd;
		ck_assert_ptr_nonnull(cnt);
		ck_assert_ptr_nonnull(blk);
		ck_assert_ptr_nonnull(rd);
		random_counts(nr, cnt);
		make_pool(nr, cnt);
		ub_tmpfile(dpath, "trim_data", 0);
		for (uint64_t b = 0; b < nr; b++) {
			memset(blk, (int)(b % 251) + 1, BS);
			ub_write_at(dpath, b * BS, blk, BS);
			nfree += !cnt[b];
		}
		memset(blk, 0xee, BS);
		ub_write_at(dpath, nr * BS, blk, (size_t)tail);
		ck_assert_int_eq(meta_thin_open(mpath, &oo, &t), 0);
		ck_assert_int_eq(meta_io_open(dpath, META_IO_WRITE, &io), 0);
		ck_assert_int_eq(meta_thin_trim(t, io, &st), 0);
		ck_assert_uint_eq(st.nr_blocks, nr);
		ck_assert_uint_eq(st.nr_free, nfree);
		ck_assert_uint_eq(st.block_bytes, BS);
		meta_io_close(io);
		meta_thin_close(t);
		fd = open(dpath, O_RDONLY);
		ck_assert_int_ge(fd, 0);
		for (uint64_t b = 0; b < nr; b++) {
			if (!cnt[b]) {
				ck_assert_msg(is_hole(fd, (off_t)(b * BS), (off_t)((b + 1) * BS)),
					      "free block %llu is not a hole", (unsigned long long)b);
				continue;
			}
			ub_read_at(dpath, b * BS, rd, BS);
			memset(blk, (int)(b % 251) + 1, BS);
			ck_assert_msg(!memcmp(rd, blk, BS), "used block %llu changed",
				      (unsigned long long)b);
		}
		if (tail) {
			memset(blk, 0xee, BS);
			ub_read_at(dpath, nr * BS, rd, (size_t)tail);
			ck_assert(!memcmp(rd, blk, (size_t)tail));
			ck_assert(!is_hole(fd, (off_t)(nr * BS), (off_t)(nr * BS + tail)));
		}
		close(fd);
		unlink(dpath);
		unlink(mpath);
		free(cnt);
		free(blk);
		free(rd);
	}
}
END_TEST

START_TEST(test_data_too_small)
{
	uint32_t cnt[40] = {0};
	struct meta_thin_open_opts oo = {0};
	struct meta_thin_trim_stats st;
	struct meta_thin *t;
	struct meta_io *io;
	uint8_t *blk = malloc(BS), *rd = malloc(BS);
	ck_assert_ptr_nonnull(blk);
	ck_assert_ptr_nonnull(rd);
	cnt[3] = 1;
	make_pool(40, cnt);
	ub_tmpfile(dpath, "trim_data", 0);
	memset(blk, 0x5a, BS);
	for (uint64_t b = 0; b < 39; b++)
		ub_write_at(dpath, b * BS, blk, BS);
	ub_write_at(dpath, 39 * BS, blk, BS - 1);
	ck_assert_int_eq(meta_thin_open(mpath, &oo, &t), 0);
	ck_assert_int_eq(meta_io_open(dpath, META_IO_WRITE, &io), 0);
	ck_assert_int_eq(meta_thin_trim(t, io, &st), META_E_DATA_SIZE);
	ck_assert_uint_eq(st.nr_free, 0);
	meta_io_close(io);
	/* read-only data device: the discard is refused */
	ck_assert_int_eq(meta_io_open(dpath, 0, &io), 0);
	ck_assert_int_eq(meta_io_discard(io, 0, BS), META_E_PERM);
	meta_io_close(io);
	meta_thin_close(t);
	for (uint64_t b = 0; b < 39; b++) {
		ub_read_at(dpath, b * BS, rd, BS);
		ck_assert(!memcmp(rd, blk, BS));
	}
	unlink(dpath);
	unlink(mpath);
	free(blk);
	free(rd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("thin_trim");
	TCase *tc = ub_tcase(s, "trim", 60);
	tcase_add_test(tc, test_random_free_ranges);
	tcase_add_test(tc, test_trim_image);
	tcase_add_test(tc, test_data_too_small);
	return ub_run(s);
}

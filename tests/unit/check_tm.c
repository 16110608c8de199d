/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of the transaction manager (libmeta/pdata/tm.c) over a temp image and a tiny
 * array-backed space map (test-only, a conforming struct meta_tm_space: it hands out only
 * blocks free now and at the last commit).  Blocks carry a test validator (checksum and
 * location at 8, like every persistent-data block); the superblock is block 0.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/bm.h>
#include <libmeta/error.h>
#include <libmeta/io.h>

#include "base/endian.h"
#include "pdata/tm.h"
#include "unit_base.h"

#define NB 64u /* blocks of the test image */

/* ---- a test block type --------------------------------------------------------- */

static const struct meta_validator tb_v = {"test_block", 4242u, ub_block_check, ub_block_prepare};
static const struct meta_validator other_v = {"other_block", 777u, ub_block_check, ub_block_prepare};

/* A block's payload: a le64 tag at 16, and a child block at 24 (the "reference" it holds). */
static void tb_fill(void *blk, uint64_t tag)
{
	put_le64p((uint8_t *)blk + 16, tag);
}

static uint64_t tb_tag(const void *blk)
{
	return get_le64p((const uint8_t *)blk + 16);
}

/* ---- fixture: an image, its bm, a space, a tm (struct ub_tm_fx) ---------------- */

/* Commit with a superblock holding tag and root (a le64 at 24). */
static void commit_sb(struct ub_tm_fx *f, uint64_t tag, uint64_t root)
{
	uint8_t sb[UB_BLOCK_SIZE];
	memset(sb, 0, sizeof(sb));
	tb_fill(sb, tag);
	put_le64p(sb + 24, root);
	ck_assert_int_eq(meta_tm_pre_commit(f->tm), 0);
	ck_assert_int_eq(meta_tm_commit(f->tm, 0, &tb_v, sb), 0);
	ub_space_commit(&f->sp);
}

/* A committed block with tag, its number returned. */
static uint64_t committed_block(struct ub_tm_fx *f, uint64_t tag)
{
	uint64_t b;
	void *d;
	ck_assert_int_eq(meta_tm_new_block(f->tm, &tb_v, &b, &d), 0);
	tb_fill(d, tag);
	commit_sb(f, 1000 + tag, b);
	ck_assert(!meta_tm_is_new(f->tm, b));
	return b;
}

/* ---- tests --------------------------------------------------------------------- */

START_TEST(test_new_block)
{
	struct ub_tm_fx f;
	uint64_t b, b2;
	void *d, *d2;
	const void *r;
	uint32_t c;
	ub_tm_init(&f, "tm", NB, 16);
	ck_assert_int_eq(meta_tm_new_block(f.tm, &tb_v, &b, &d), 0);
	ck_assert_uint_eq(b, 1);
	ck_assert(meta_tm_is_new(f.tm, b));
	ck_assert_int_eq(meta_tm_count(f.tm, b, &c), 0);
	ck_assert_uint_eq(c, 1);
	for (unsigned i = 0; i < UB_BLOCK_SIZE; i++)
		ck_assert_uint_eq(((uint8_t *)d)[i], 0);
	tb_fill(d, 77);
	/* reads see the transaction's own writes, with or without a validator */
	ck_assert_int_eq(meta_tm_read(f.tm, b, &tb_v, &r), 0);
	ck_assert_ptr_eq(r, d);
	ck_assert_uint_eq(tb_tag(r), 77);
	meta_tm_release(f.tm, r);
	ck_assert_int_eq(meta_tm_new_block(f.tm, &tb_v, &b2, &d2), 0);
	ck_assert_uint_eq(b2, 2);
	ck_assert_ptr_ne(d, d2);
	ck_assert_uint_eq(tb_tag(d), 77);
	/* many blocks: buffers keep their contents as the tm grows */
	for (unsigned i = 0; i < 40; i++) {
		uint64_t x;
		void *dx;
		ck_assert_int_eq(meta_tm_new_block(f.tm, &tb_v, &x, &dx), 0);
		tb_fill(dx, 100 + x);
	}
	ck_assert_uint_eq(tb_tag(d), 77);
	for (uint64_t x = 3; x < 43; x++) {
		ck_assert_int_eq(meta_tm_read(f.tm, x, NULL, &r), 0);
		ck_assert_uint_eq(tb_tag(r), 100 + x);
		meta_tm_release(f.tm, r);
	}
	/* nothing reached the image before the commit */
	{
		uint8_t raw[UB_BLOCK_SIZE];
		ub_read_block(f.path, b, raw);
		ck_assert_uint_eq(tb_tag(raw), 0);
	}
	commit_sb(&f, 1, b);
	ck_assert(!meta_tm_is_new(f.tm, b));
	ck_assert_int_eq(meta_tm_read(f.tm, b, &tb_v, &r), 0);
	ck_assert_uint_eq(tb_tag(r), 77);
	meta_tm_release(f.tm, r);
	ub_tm_done(&f);
}
END_TEST

START_TEST(test_shadow)
{
	struct ub_tm_fx f;
	uint64_t a, nb, nb2;
	void *d, *d2;
	const void *r;
	bool inc;
	uint32_t c;
	ub_tm_init(&f, "tm", NB, 16);
	a = committed_block(&f, 5);
	/* shadow of a committed, unshared block: a copy, the original loses its reference */
	ck_assert_int_eq(meta_tm_shadow(f.tm, a, &tb_v, &nb, &d, &inc), 0);
	ck_assert_uint_ne(nb, a);
	ck_assert(!inc);
	ck_assert(meta_tm_is_new(f.tm, nb));
	ck_assert_uint_eq(tb_tag(d), 5);
	ck_assert_int_eq(meta_tm_count(f.tm, a, &c), 0);
	ck_assert_uint_eq(c, 0);
	ck_assert_int_eq(meta_tm_count(f.tm, nb, &c), 0);
	ck_assert_uint_eq(c, 1);
	tb_fill(d, 6);
	/* the committed block is untouched */
	ck_assert_int_eq(meta_tm_read(f.tm, a, &tb_v, &r), 0);
	ck_assert_uint_eq(tb_tag(r), 5);
	meta_tm_release(f.tm, r);
	/* shadow of a shadow is free: same block, same buffer, no count change */
	unsigned allocs = f.sp.allocs;
	ck_assert_int_eq(meta_tm_shadow(f.tm, nb, &tb_v, &nb2, &d2, &inc), 0);
	ck_assert_uint_eq(nb2, nb);
	ck_assert_ptr_eq(d2, d);
	ck_assert(!inc);
	ck_assert_uint_eq(f.sp.allocs, allocs);
	ck_assert_int_eq(meta_tm_count(f.tm, nb, &c), 0);
	ck_assert_uint_eq(c, 1);
	ub_tm_done(&f);
}
END_TEST

START_TEST(test_shadow_shared)
{
	struct ub_tm_fx f;
	uint64_t a, nb, nb2, nb3;
	void *d, *d2, *d3;
	bool inc;
	uint32_t c;
	ub_tm_init(&f, "tm", NB, 16);
	a = committed_block(&f, 9);
	/* a second parent: the shadow says the children must be inc'd */
	ck_assert_int_eq(meta_tm_inc(f.tm, a), 0);
	ck_assert_int_eq(meta_tm_shadow(f.tm, a, &tb_v, &nb, &d, &inc), 0);
	ck_assert(inc);
	ck_assert_uint_ne(nb, a);
	ck_assert_uint_eq(tb_tag(d), 9);
	ck_assert_int_eq(meta_tm_count(f.tm, a, &c), 0);
	ck_assert_uint_eq(c, 1);
	/* a new block shared in its own transaction is copied, not edited in place */
	tb_fill(d, 10);
	ck_assert_int_eq(meta_tm_inc(f.tm, nb), 0);
	ck_assert_int_eq(meta_tm_shadow(f.tm, nb, &tb_v, &nb2, &d2, &inc), 0);
	ck_assert(inc);
	ck_assert_uint_ne(nb2, nb);
	ck_assert_ptr_ne(d2, d);
	ck_assert_uint_eq(tb_tag(d2), 10);
	tb_fill(d2, 11);
	ck_assert_uint_eq(tb_tag(d), 10);
	ck_assert_int_eq(meta_tm_count(f.tm, nb, &c), 0);
	ck_assert_uint_eq(c, 1);
	/* ... and once it is back to one parent, shadowing it is free again */
	ck_assert_int_eq(meta_tm_shadow(f.tm, nb, &tb_v, &nb3, &d3, &inc), 0);
	ck_assert_uint_eq(nb3, nb);
	ck_assert_ptr_eq(d3, d);
	ck_assert(!inc);
	ub_tm_done(&f);
}
END_TEST

START_TEST(test_shadow_refused)
{
	struct ub_tm_fx f;
	uint64_t a, nb;
	void *d;
	bool inc;
	uint32_t c;
	ub_tm_init(&f, "tm", NB, 16);
	a = committed_block(&f, 3);
	unsigned allocs = f.sp.allocs;
	/* the wrong validator: refused before anything changes */
	ck_assert_int_eq(meta_tm_shadow(f.tm, a, &other_v, &nb, &d, &inc), META_E_CHECKSUM);
	ck_assert_ptr_null(d);
	ck_assert_uint_eq(f.sp.allocs, allocs);
	ck_assert_int_eq(meta_tm_count(f.tm, a, &c), 0);
	ck_assert_uint_eq(c, 1);
	/* a free block is no block to shadow */
	ck_assert_int_eq(meta_tm_shadow(f.tm, 40, &tb_v, &nb, &d, &inc), META_E_CORRUPT);
	ck_assert_uint_eq(f.sp.allocs, allocs);
	ub_tm_done(&f);
}
END_TEST

START_TEST(test_freed_not_reused)
{
	struct ub_tm_fx f;
	uint64_t a, nb, x;
	void *d;
	bool inc;
	int r;
	ub_tm_init(&f, "tm", NB, 16);
	a = committed_block(&f, 1);
	ck_assert_int_eq(meta_tm_shadow(f.tm, a, &tb_v, &nb, &d, &inc), 0);
	/* a is free now, but was in use at the last commit: a conforming space keeps it */
	while ((r = meta_tm_new_block(f.tm, &tb_v, &x, &d)) == 0)
		ck_assert_uint_ne(x, a);
	ck_assert_int_eq(r, META_E_NOSPC);
	ub_tm_done(&f);
}
END_TEST

START_TEST(test_freed_new_block)
{
	struct ub_tm_fx f;
	uint64_t b, b2;
	void *d, *d2;
	uint8_t raw[UB_BLOCK_SIZE];
	ub_tm_init(&f, "tm", NB, 16);
	/* a block made and freed in one transaction may come back: it starts zeroed */
	ck_assert_int_eq(meta_tm_new_block(f.tm, &tb_v, &b, &d), 0);
	tb_fill(d, 55);
	ck_assert_int_eq(meta_tm_dec(f.tm, b), 0);
	f.sp.pos = b;
	ck_assert_int_eq(meta_tm_new_block(f.tm, &tb_v, &b2, &d2), 0);
	ck_assert_uint_eq(b2, b);
	ck_assert_ptr_eq(d2, d);
	ck_assert_uint_eq(tb_tag(d2), 0);
	tb_fill(d2, 56);
	/* freed for good: not written at the commit */
	ck_assert_int_eq(meta_tm_dec(f.tm, b), 0);
	uint64_t w0 = meta_io_nr_writes(meta_bm_io(f.bm));
	commit_sb(&f, 2, 0);
	ck_assert_uint_eq(meta_io_nr_writes(meta_bm_io(f.bm)) - w0, 1); /* the superblock alone */
	ub_read_block(f.path, b, raw);
	ck_assert_uint_eq(tb_tag(raw), 0);
	ub_tm_done(&f);
}
END_TEST

START_TEST(test_commit_phases)
{
	struct ub_tm_fx f;
	uint64_t b, x;
	void *d;
	uint8_t sb[UB_BLOCK_SIZE];
	ub_tm_init(&f, "tm", NB, 16);
	ck_assert_int_eq(meta_tm_new_block(f.tm, &tb_v, &b, &d), 0);
	memset(sb, 0, sizeof(sb));
	/* commit needs the pre-commit first */
	ck_assert_int_eq(meta_tm_commit(f.tm, 0, &tb_v, sb), META_E_INVAL);
	ck_assert_int_eq(meta_tm_pre_commit(f.tm), 0);
	/* between the phases nothing new is made */
	ck_assert_int_eq(meta_tm_new_block(f.tm, &tb_v, &x, &d), META_E_INVAL);
	ck_assert_int_eq(meta_tm_commit(f.tm, 0, &tb_v, sb), 0);
	/* the stamped blocks read back through their validator */
	{
		uint8_t raw[UB_BLOCK_SIZE];
		ub_read_block(f.path, b, raw);
		ck_assert_int_eq(tb_v.check(&tb_v, raw, b), 0);
		ub_read_block(f.path, 0, raw);
		ck_assert_int_eq(tb_v.check(&tb_v, raw, 0), 0);
	}
	ub_tm_done(&f);
}
END_TEST

/*
 * The crash matrix: a committed image (superblock -> blocks tagged 1..4), then a
 * transaction that shadows two of them, frees one, adds three.  For every N, the N+1-th
 * write fails: the tm refuses every further call, and the image reopens with the old
 * superblock and the old blocks intact -- unless every write landed.  The blocks that did
 * land are the N lowest-numbered new blocks (pre-commit writes in block order).
 */
struct img_state {
	uint64_t sb_tag;
	uint64_t blocks[8];
	uint64_t tags[8];
	unsigned n;
};

static void expect_image(const char *path, const struct img_state *st)
{
	uint8_t raw[UB_BLOCK_SIZE];
	ub_read_block(path, 0, raw);
	ck_assert_int_eq(tb_v.check(&tb_v, raw, 0), 0);
	ck_assert_uint_eq(tb_tag(raw), st->sb_tag);
	for (unsigned i = 0; i < st->n; i++) {
		ub_read_block(path, st->blocks[i], raw);
		ck_assert_int_eq(tb_v.check(&tb_v, raw, st->blocks[i]), 0);
		ck_assert_uint_eq(tb_tag(raw), st->tags[i]);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

START_TEST(test_crash_matrix)
{
	struct ub_tm_fx f;
	struct img_state before = {0}, after = {0};
	uint64_t blk[4], nb, newb[8];
	unsigned nnew = 0, total = 0;
	void *d;
	bool inc;
	char base[UB_PATH_MAX];
	uint8_t buf[UB_BLOCK_SIZE];

	ub_tm_init(&f, "tm", NB, 16);
	for (unsigned i = 0; i < 4; i++) {
		ck_assert_int_eq(meta_tm_new_block(f.tm, &tb_v, &blk[i], &d), 0);
		tb_fill(d, i + 1);
		before.blocks[i] = blk[i];
		before.tags[i] = i + 1;
	}
	before.n = 4;
	before.sb_tag = 100;
	commit_sb(&f, 100, blk[0]);
	ub_tm_close(&f);
	memcpy(base, f.path, sizeof(base));
	expect_image(base, &before);

	for (unsigned n = 0;; n++) {
		struct ub_tm_fx g;
		struct meta_io *io;
		uint8_t sb[UB_BLOCK_SIZE];
		int r;
		memset(&g, 0, sizeof(g));
		ub_tmpfile(g.path, "tm-crash", (uint64_t)NB * UB_BLOCK_SIZE);
		for (uint64_t b = 0; b < NB; b++) {
			ub_read_block(base, b, buf);
			ub_write_block(g.path, b, buf);
		}
		ub_space_copy(&g.sp, &f.sp);
		ub_tm_open(&g, 16);
		nnew = 0;
		/* the transaction */
		ck_assert_int_eq(meta_tm_shadow(g.tm, blk[1], &tb_v, &nb, &d, &inc), 0);
		tb_fill(d, 21);
		newb[nnew++] = nb;
		ck_assert_int_eq(meta_tm_shadow(g.tm, blk[3], &tb_v, &nb, &d, &inc), 0);
		tb_fill(d, 23);
		newb[nnew++] = nb;
		ck_assert_int_eq(meta_tm_dec(g.tm, blk[2]), 0);
		for (unsigned i = 0; i < 3; i++) {
			ck_assert_int_eq(meta_tm_new_block(g.tm, &tb_v, &nb, &d), 0);
			tb_fill(d, 30 + i);
			newb[nnew++] = nb;
		}
		io = meta_bm_io(g.bm);
		meta_io_fail_writes_after(io, meta_io_nr_writes(io) + n);
		r = meta_tm_pre_commit(g.tm);
		if (!r) {
			memset(sb, 0, sizeof(sb));
			tb_fill(sb, 200);
			r = meta_tm_commit(g.tm, 0, &tb_v, sb);
		}
		if (r) {
			ck_assert_int_eq(r, META_E_IO);
			/* refused from now on */
			ck_assert_int_eq(meta_tm_new_block(g.tm, &tb_v, &nb, &d), META_E_IO);
			ck_assert_int_eq(meta_tm_pre_commit(g.tm), META_E_IO);
		}
		ub_tm_close(&g);
		ub_space_free(&g.sp);
		/* a machine stopped after n writes: a flush then fails too, though all landed */
		if (r && n <= nnew) {
			uint64_t sorted[8];
			expect_image(g.path, &before);
			/* the n lowest new blocks landed, in order */
			memcpy(sorted, newb, nnew * sizeof(*sorted));
			qsort(sorted, nnew, sizeof(*sorted), cmp_u64);
			for (unsigned i = 0; i < nnew; i++) {
				ub_read_block(g.path, sorted[i], buf);
				ck_assert_int_eq(tb_v.check(&tb_v, buf, sorted[i]) == 0, i < n);
			}
			unlink(g.path);
			continue;
		}
		if (!r)
			total = n;
		after.sb_tag = 200;
		after.n = 0;
		for (unsigned i = 0; i < nnew; i++) {
			after.blocks[after.n] = newb[i];
			after.tags[after.n++] = i < 2 ? 21 + 2 * i : 30 + (i - 2);
		}
		after.blocks[after.n] = blk[0];
		after.tags[after.n++] = 1;
		expect_image(g.path, &after);
		unlink(g.path);
		if (!r)
			break;
	}
	/*
	 * Every new block, then the superblock: nnew + 1 writes, and one more allowed for the
	 * flushes (the fault injection fails a flush once the write limit is reached).
	 */
	ck_assert_uint_eq(total, nnew + 2);
	ub_space_free(&f.sp);
	unlink(base);
}
END_TEST

START_TEST(test_sticky_flush_error)
{
	struct ub_tm_fx f;
	uint64_t b;
	void *d;
	const void *r;
	ub_tm_init(&f, "tm", NB, 16);
	ck_assert_int_eq(meta_tm_new_block(f.tm, &tb_v, &b, &d), 0);
	/* no write allowed: the pre-commit's first write fails */
	meta_io_fail_writes_after(meta_bm_io(f.bm), meta_io_nr_writes(meta_bm_io(f.bm)));
	ck_assert_int_eq(meta_tm_pre_commit(f.tm), META_E_IO);
	ck_assert_int_eq(meta_tm_read(f.tm, b, NULL, &r), META_E_IO);
	ck_assert_int_eq(meta_tm_inc(f.tm, b), META_E_IO);
	ub_tm_done(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tm");
	TCase *tc = ub_tcase(s, "tm", 30);
	tcase_add_test(tc, test_new_block);
	tcase_add_test(tc, test_shadow);
	tcase_add_test(tc, test_shadow_shared);
	tcase_add_test(tc, test_shadow_refused);
	tcase_add_test(tc, test_freed_not_reused);
	tcase_add_test(tc, test_freed_new_block);
	tcase_add_test(tc, test_commit_phases);
	tcase_add_test(tc, test_crash_matrix);
	tcase_add_test(tc, test_sticky_flush_error);
	return ub_run(s);
}

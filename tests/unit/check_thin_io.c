/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of thin I/O (libmeta/thin/thin_io.c): seeded random sequences of
 * create_thin / create_snap / delete / write / discard / commit over a few volumes
 * against a plain model (the bytes of each volume); after every commit every volume
 * reads back as the model (through the open pool and through a fresh open), the pool
 * passes the full thin_check (trees, both space maps, every reference count) and each
 * device's mapped_blocks is the number of its mappings.  Then the kernel's rules one
 * by one: zeroing of partial new blocks (and none with skip_block_zeroing), sharing
 * broken by copy (by the time rule, not the count), no copy for a whole-block
 * overwrite, the external origin's copy, whole-block discards, passdown of exactly the
 * freed blocks, out of data space, the volume's end and offset overflow; the map of a
 * range (origin, data and zero runs) and reads through it.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/thin.h>
#include <libmeta/thin_check.h>
#include <libmeta/thin_io.h>
#include <libmeta/thin_pool.h>
#include <libmeta/sm.h>

#include "unit_base.h"

#define BS (128u * 512u) /* the smallest data block: 64 KiB */
#define NVOL 4

static char mpath[UB_PATH_MAX], dpath[UB_PATH_MAX], opath[UB_PATH_MAX];

static void on_damage(void *ctx, const struct meta_damage *d)
{
	(void)ctx;
	fprintf(stderr, "damage: %s %s block %llu\n", meta_damage_name(d->kind),
		d->detail ? d->detail : "", (unsigned long long)d->block);
}

/* A pool over fresh images: nr_data blocks of BS, the data image filled with fill. */
struct fx {
	struct meta_thin_pool *p;
	struct meta_io *data;
	unsigned flags;
};

static void fx_attach(struct fx *f)
{
	ck_assert_int_eq(meta_io_open(dpath, META_IO_WRITE, &f->data), 0);
	ck_assert_int_eq(meta_thin_pool_attach_data(f->p, f->data, f->flags), 0);
}

static void fx_reopen(struct fx *f)
{
	meta_thin_pool_close(f->p);
	meta_io_close(f->data);
	ck_assert_int_eq(meta_thin_pool_open(mpath, NULL, &f->p, NULL), 0);
	fx_attach(f);
}

static void fx_init(struct fx *f, uint64_t nr_data, int fill, unsigned flags)
{
	struct meta_thin_pool_opts o = {META_THIN_POOL_FORMAT, 128, nr_data, 0};
	uint8_t *b = malloc(BS);
	ck_assert_ptr_nonnull(b);
	memset(b, fill, BS);
	ub_tmpfile(mpath, "thin_io_meta", 8u << 20);
	ub_tmpfile(dpath, "thin_io_data", nr_data * BS);
	for (uint64_t i = 0; fill && i < nr_data; i++)
		ub_write_at(dpath, i * BS, b, BS);
	free(b);
	f->flags = flags;
	ck_assert_int_eq(meta_thin_pool_open(mpath, &o, &f->p, NULL), 0);
	fx_attach(f);
}

static void fx_done(struct fx *f)
{
	meta_thin_pool_close(f->p);
	meta_io_close(f->data);
	unlink(mpath);
	unlink(dpath);
}

static int msg(struct meta_thin_pool *p, const char *text)
{
	char buf[128], *w[8];
	int n = 0;
	snprintf(buf, sizeof(buf), "%s", text);
	for (char *s = strtok(buf, " "); s && n < 8; s = strtok(NULL, " "))
		w[n++] = s;
	return meta_thin_pool_message(p, n, (const char *const *)w);
}

struct counter {
	uint64_t n;
};

static int count_maps(void *ctx, const struct meta_thin_mapping *m, uint32_t n)
{
	(void)m;
	((struct counter *)ctx)->n += n;
	return 0;
}

/* The committed pool passes the full check; each device's mapped_blocks is right. */
static void check_pool(void)
{
	struct meta_thin *t;
	struct meta_thin_open_opts oo = {0};
	struct meta_thin_check_opts o = {.damage = on_damage};
	struct meta_thin_check_result r;
	struct meta_thin_details *d = NULL;
	uint64_t n = 0;

	ck_assert_int_eq(meta_thin_open(mpath, &oo, &t), 0);
	ck_assert_int_eq(meta_thin_check(t, &o, &r), 0);
	ck_assert(r.space_maps_checked);
	ck_assert_int_eq(r.worst, -1);
	ck_assert_int_eq(meta_thin_read_details(t, &d, &n, NULL, NULL), 0);
	for (uint64_t i = 0; i < n; i++) {
		struct counter c = {0};
		uint64_t root;
		ck_assert_int_eq(meta_thin_dev_root(t, d[i].dev_id, &root), 0);
		ck_assert_int_eq(meta_thin_walk_mappings(t, root, count_maps, NULL, &c), 0);
		ck_assert_uint_eq(c.n, d[i].mapped_blocks);
	}
	free(d);
	meta_thin_close(t);
}

static uint32_t data_count(uint64_t b)
{
	struct meta_thin *t;
	struct meta_thin_open_opts oo = {0};
	uint32_t c;
	ck_assert_int_eq(meta_thin_open(mpath, &oo, &t), 0);
	ck_assert_int_eq(meta_sm_get_count(meta_thin_bm(t), META_SM_DISK, &meta_thin_sb(t)->data_sm, b, &c), 0);
	meta_thin_close(t);
	return c;
}

/* The data block dev's vblock maps to, in the last commit. */
struct lookup {
	uint64_t vb, b;
	bool found;
};

static int find(void *ctx, const struct meta_thin_mapping *m, uint32_t n)
{
	struct lookup *l = ctx;
	for (uint32_t i = 0; i < n; i++)
		if (m[i].vblock == l->vb) {
			l->b = m[i].data_block;
			l->found = true;
		}
	return 0;
}

static uint64_t data_block_of(uint64_t dev, uint64_t vb)
{
	struct meta_thin *t;
	struct meta_thin_open_opts oo = {0};
	struct lookup l = {vb, 0, false};
	uint64_t root;
	ck_assert_int_eq(meta_thin_open(mpath, &oo, &t), 0);
	ck_assert_int_eq(meta_thin_dev_root(t, dev, &root), 0);
	ck_assert_int_eq(meta_thin_walk_mappings(t, root, find, NULL, &l), 0);
	meta_thin_close(t);
	ck_assert(l.found);
	return l.b;
}

static struct meta_thin_vol *vol(struct fx *f, uint64_t dev, struct meta_io *origin, uint64_t size)
{
	struct meta_thin_vol *v;
	ck_assert_int_eq(meta_thin_vol_open(f->p, dev, origin, size, &v), 0);
	return v;
}

static void fill_rnd(uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)ub_rnd();
}

/* ---- the property test ------------------------------------------------------------ */

#define VBLOCKS 24u
#define VSIZE ((uint64_t)VBLOCKS * BS)

struct vmodel {
	bool live[NVOL];
	uint8_t *bytes[NVOL];
};

static void model_copy(struct vmodel *dst, const struct vmodel *src)
{
	for (int i = 0; i < NVOL; i++) {
		dst->live[i] = src->live[i];
		memcpy(dst->bytes[i], src->bytes[i], VSIZE);
	}
}

static void verify_vols(struct fx *f, const struct vmodel *m, uint8_t *buf)
{
	for (int i = 0; i < NVOL; i++) {
		struct meta_thin_vol *v;
		int r = meta_thin_vol_open(f->p, (uint64_t)i, NULL, VSIZE, &v);
		if (!m->live[i]) {
			ck_assert_int_eq(r, META_E_NOTFOUND);
			continue;
		}
		ck_assert_int_eq(r, 0);
		ck_assert_int_eq(meta_thin_vol_read(v, 0, buf, VSIZE), 0);
		ck_assert_msg(!memcmp(buf, m->bytes[i], VSIZE), "volume %d differs", i);
		/* an unaligned piece reads the same */
		ck_assert_int_eq(meta_thin_vol_read(v, BS - 7, buf, 2 * BS + 9), 0);
		ck_assert(!memcmp(buf, m->bytes[i] + BS - 7, 2 * BS + 9));
		meta_thin_vol_close(v);
	}
}

/*
 * nr_data data blocks.  A small pool runs out of data space: then the call fails with
 * DATA_NOSPC, the pool refuses more, and the reopened pool is the last commit.  As
 * overwrites of unshared blocks go in place (as in the kernel) and survive an
 * abandoned transaction, a run that can run out commits after each write
 * (each_write), so that the last commit is exactly the model before the failed call.
 */
static void property_run(uint64_t seed, int steps, uint64_t nr_data, bool each_write)
{
	struct fx f;
	struct vmodel m = {0}, committed = {0};
	uint8_t *buf = malloc(VSIZE), *wbuf = malloc(3 * BS);
	int nospc = 0;
	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(wbuf);
	for (int i = 0; i < NVOL; i++) {
		m.bytes[i] = calloc(1, VSIZE);
		committed.bytes[i] = calloc(1, VSIZE);
		ck_assert_ptr_nonnull(m.bytes[i]);
		ck_assert_ptr_nonnull(committed.bytes[i]);
	}
	ub_rnd_state = seed;
	fx_init(&f, nr_data, 0xa5, 0);
	for (int step = 0; step < steps; step++) {
		unsigned op = (unsigned)ub_rnd_below(100);
		int dev = (int)ub_rnd_below(NVOL), other = (int)ub_rnd_below(NVOL);
		char text[64];
		int r = 0;
		if (op < 8) { /* create_thin */
			snprintf(text, sizeof(text), "create_thin %d", dev);
			r = msg(f.p, text);
			ck_assert_int_eq(r, m.live[dev] ? META_E_DEV_EXISTS : 0);
			if (!r) {
				m.live[dev] = true;
				memset(m.bytes[dev], 0, VSIZE);
			}
		} else if (op < 14) { /* create_snap */
			snprintf(text, sizeof(text), "create_snap %d %d", dev, other);
			r = msg(f.p, text);
			if (m.live[dev])
				ck_assert_int_eq(r, META_E_DEV_EXISTS);
			else if (!m.live[other])
				ck_assert_int_eq(r, META_E_NOTFOUND);
			else
				ck_assert_int_eq(r, 0);
			if (!r) {
				m.live[dev] = true;
				memcpy(m.bytes[dev], m.bytes[other], VSIZE);
			}
		} else if (op < 18) { /* delete */
			snprintf(text, sizeof(text), "delete %d", dev);
			r = msg(f.p, text);
			ck_assert_int_eq(r, m.live[dev] ? 0 : META_E_NOTFOUND);
			m.live[dev] = false;
		}
		if (op < 18 && !r) { /* a message commits the transaction */
			model_copy(&committed, &m);
		} else if (op < 90 && m.live[dev]) { /* write or discard */
			struct meta_thin_vol *v = vol(&f, (uint64_t)dev, NULL, VSIZE);
			uint64_t off = ub_rnd_below(VSIZE);
			uint64_t len = 1 + ub_rnd_below(ub_rnd_below(4) ? 3 * BS : BS / 8);
			if (ub_rnd_below(3) == 0) /* block-aligned pieces too */
				off -= off % BS;
			if (len > VSIZE - off)
				len = VSIZE - off;
			if (op < 75) {
				fill_rnd(wbuf, len);
				r = meta_thin_vol_write(v, off, wbuf, len);
				if (r == META_E_DATA_NOSPC && each_write) {
					/* abandon: the pool holds the last commit */
					ck_assert_int_eq(meta_thin_vol_write(v, 0, wbuf, 1), META_E_INVAL);
					meta_thin_vol_close(v);
					fx_reopen(&f);
					model_copy(&m, &committed);
					verify_vols(&f, &m, buf);
					nospc++;
					continue;
				}
				ck_assert_int_eq(r, 0);
				memcpy(m.bytes[dev] + off, wbuf, len);
			} else {
				uint64_t a = (off + BS - 1) / BS * BS, z = (off + len) / BS * BS;
				ck_assert_int_eq(meta_thin_vol_discard(v, off, len), 0);
				if (a < z)
					memset(m.bytes[dev] + a, 0, z - a);
			}
			meta_thin_vol_close(v);
			if (each_write) {
				ck_assert_int_eq(meta_thin_pool_commit(f.p), 0);
				model_copy(&committed, &m);
			}
		} else if (op >= 90) { /* commit */
			ck_assert_int_eq(meta_thin_pool_commit(f.p), 0);
			model_copy(&committed, &m);
			verify_vols(&f, &m, buf);
			check_pool();
			fx_reopen(&f);
			verify_vols(&f, &m, buf);
		}
	}
	ck_assert_int_eq(meta_thin_pool_commit(f.p), 0);
	check_pool();
	fx_reopen(&f);
	verify_vols(&f, &m, buf);
	fx_done(&f);
	for (int i = 0; i < NVOL; i++) {
		free(m.bytes[i]);
		free(committed.bytes[i]);
	}
	free(buf);
	free(wbuf);
	if (each_write)
		ck_assert_int_gt(nospc, 0);
}

START_TEST(test_property)
{
	int runs = ub_long_run() ? 40 : 6;
	for (int i = 0; i < runs; i++)
		property_run(0x9e3779b97f4a7c15ull * (uint64_t)(i + 1), 300, 512, false);
	for (int i = 0; i < runs; i++)
		property_run(0xc2b2ae3d27d4eb4full * (uint64_t)(i + 1), 300, 40, true);
}
END_TEST

/* ---- the rules one by one ---------------------------------------------------------- */

static void expect_bytes(struct meta_thin_vol *v, uint64_t off, size_t len, const uint8_t *want)
{
	uint8_t *b = malloc(len);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(meta_thin_vol_read(v, off, b, len), 0);
	ck_assert(!memcmp(b, want, len));
	free(b);
}

static void expect_fill(struct meta_thin_vol *v, uint64_t off, size_t len, int c)
{
	uint8_t *w = malloc(len);
	ck_assert_ptr_nonnull(w);
	memset(w, c, len);
	expect_bytes(v, off, len, w);
	free(w);
}

static void partial_zeroing(unsigned flags, int rest)
{
	struct fx f;
	struct meta_thin_vol *v;
	fx_init(&f, 8, 0xaa, flags);
	ck_assert_int_eq(msg(f.p, "create_thin 0"), 0);
	v = vol(&f, 0, NULL, 0);
	ck_assert_int_eq(meta_thin_vol_write(v, 1000, "hello", 5), 0);
	expect_fill(v, 0, 1000, rest);
	expect_bytes(v, 1000, 5, (const uint8_t *)"hello");
	expect_fill(v, 1005, BS - 1005, rest);
	expect_fill(v, BS, BS, 0); /* unmapped */
	/* a whole-block write needs no zeroing */
	ck_assert_int_eq(meta_thin_pool_commit(f.p), 0);
	check_pool();
	fx_reopen(&f);
	meta_thin_vol_close(v);
	v = vol(&f, 0, NULL, 0);
	expect_fill(v, 0, 1000, rest);
	expect_bytes(v, 1000, 5, (const uint8_t *)"hello");
	meta_thin_vol_close(v);
	fx_done(&f);
}

START_TEST(test_partial_write_zeroes)
{
	partial_zeroing(0, 0);
}
END_TEST

START_TEST(test_skip_zeroing_keeps_old_bytes)
{
	partial_zeroing(META_THIN_IO_SKIP_ZEROING, 0xaa);
}
END_TEST

START_TEST(test_sharing_broken_by_copy)
{
	struct fx f;
	struct meta_thin_vol *v0, *v1;
	uint8_t *a = malloc(BS);
	uint64_t b0, b1;
	ck_assert_ptr_nonnull(a);
	fx_init(&f, 8, 0, 0);
	ck_assert_int_eq(msg(f.p, "create_thin 0"), 0);
	v0 = vol(&f, 0, NULL, 0);
	memset(a, 'A', BS);
	ck_assert_int_eq(meta_thin_vol_write(v0, 0, a, BS), 0);
	ck_assert_int_eq(meta_thin_pool_commit(f.p), 0);
	b0 = data_block_of(0, 0);
	ck_assert_int_eq(msg(f.p, "create_snap 1 0"), 0);
	v1 = vol(&f, 1, NULL, 0);
	ck_assert_int_eq(meta_thin_vol_write(v0, 5, "xyz", 3), 0);
	ck_assert_int_eq(meta_thin_pool_commit(f.p), 0);
	check_pool();
	b1 = data_block_of(0, 0);
	ck_assert_uint_ne(b0, b1);
	ck_assert_uint_eq(data_block_of(1, 0), b0);
	ck_assert_uint_eq(data_count(b0), 1);
	ck_assert_uint_eq(data_count(b1), 1);
	memcpy(a + 5, "xyz", 3);
	expect_bytes(v0, 0, BS, a);
	expect_fill(v1, 0, BS, 'A');
	/* now unshared: in place */
	ck_assert_int_eq(meta_thin_vol_write(v0, 100, "q", 1), 0);
	ck_assert_int_eq(meta_thin_pool_commit(f.p), 0);
	ck_assert_uint_eq(data_block_of(0, 0), b1);
	/* the time rule, not the count: after the snapshot's delete the count is 1, yet
	 * the snapshot's old mapping (time < snapshotted_time) is still copied */
	meta_thin_vol_close(v1);
	ck_assert_int_eq(msg(f.p, "delete 0"), 0);
	ck_assert_uint_eq(data_count(b0), 1);
	ck_assert_int_eq(msg(f.p, "create_snap 2 1"), 0);
	ck_assert_int_eq(msg(f.p, "delete 2"), 0);
	v1 = vol(&f, 1, NULL, 0);
	ck_assert_int_eq(meta_thin_vol_write(v1, 7, "k", 1), 0);
	ck_assert_int_eq(meta_thin_pool_commit(f.p), 0);
	check_pool();
	ck_assert_uint_ne(data_block_of(1, 0), b0);
	ck_assert_uint_eq(data_count(b0), 0);
	memset(a, 'A', BS);
	a[7] = 'k';
	expect_bytes(v1, 0, BS, a);
	meta_thin_vol_close(v0);
	meta_thin_vol_close(v1);
	free(a);
	fx_done(&f);
}
END_TEST

/*
 * A whole-block overwrite of a shared block is not copied: the shared block is put at
 * the data image's last block and the image is cut short behind the pool's back, so
 * that any read of it fails; a whole-block write still succeeds, a partial one
 * (which must copy) fails.
 */
START_TEST(test_full_overwrite_not_copied)
{
	struct fx f;
	struct meta_thin_vol *v0, *v9;
	uint8_t *a = malloc(8 * BS);
	ck_assert_ptr_nonnull(a);
	fx_init(&f, 8, 0, 0);
	memset(a, 'F', 8 * BS);
	ck_assert_int_eq(msg(f.p, "create_thin 9"), 0);
	ck_assert_int_eq(msg(f.p, "create_thin 0"), 0);
	v9 = vol(&f, 9, NULL, 0);
	v0 = vol(&f, 0, NULL, 0);
	ck_assert_int_eq(meta_thin_vol_write(v9, 0, a, 7 * BS), 0);
	ck_assert_int_eq(meta_thin_vol_write(v0, 0, a, BS), 0);
	meta_thin_vol_close(v9);
	ck_assert_int_eq(meta_thin_pool_commit(f.p), 0);
	ck_assert_uint_eq(data_block_of(0, 0), 7);
	ck_assert_int_eq(msg(f.p, "delete 9"), 0);
	ck_assert_int_eq(msg(f.p, "create_snap 1 0"), 0);
	ck_assert_int_eq(truncate(dpath, 7 * BS), 0);
	memset(a, 'G', BS);
	ck_assert_int_eq(meta_thin_vol_write(v0, 0, a, BS), 0); /* to block 0, no read */
	ck_assert_int_eq(meta_thin_pool_commit(f.p), 0);
	ck_assert_uint_eq(data_block_of(0, 0), 0);
	expect_fill(v0, 0, BS, 'G');
	ck_assert_int_eq(msg(f.p, "create_snap 2 1"), 0);
	meta_thin_vol_close(v0);
	v0 = vol(&f, 1, NULL, 0);
	ck_assert_int_eq(meta_thin_vol_write(v0, 1, a, 10), META_E_IO); /* must copy block 7 */
	meta_thin_vol_close(v0);
	free(a);
	fx_done(&f);
}
END_TEST

static void external_origin(unsigned flags, int tail)
{
	struct fx f;
	struct meta_thin_vol *v;
	struct meta_io *o;
	uint8_t *org = malloc(3 * BS), *want = malloc(3 * BS);
	uint64_t osize = BS + BS / 2;
	ck_assert_ptr_nonnull(org);
	ck_assert_ptr_nonnull(want);
	fill_rnd(org, osize);
	ub_tmpfile(opath, "thin_io_origin", 0);
	ub_write_at(opath, 0, org, osize);
	ck_assert_int_eq(meta_io_open(opath, 0, &o), 0);
	fx_init(&f, 8, 0xaa, flags);
	ck_assert_int_eq(msg(f.p, "create_thin 0"), 0);
	v = vol(&f, 0, o, 3 * BS);
	/* unmapped: the origin below its end, zeros past it */
	memcpy(want, org, osize);
	memset(want + osize, 0, 3 * BS - osize);
	expect_bytes(v, 0, 3 * BS, want);
	/* partial writes to unmapped blocks copy the origin first (zeroing past its end) */
	ck_assert_int_eq(meta_thin_vol_write(v, 10, "abc", 3), 0);
	ck_assert_int_eq(meta_thin_vol_write(v, BS + 20, "de", 2), 0);
	ck_assert_int_eq(meta_thin_vol_write(v, 2 * BS + 30, "f", 1), 0);
	memcpy(want + 10, "abc", 3);
	memcpy(want + BS + 20, "de", 2);
	memset(want + osize, tail, BS / 2);
	memset(want + 2 * BS, tail, BS);
	want[2 * BS + 30] = 'f';
	expect_bytes(v, 0, 3 * BS, want);
	ck_assert_int_eq(meta_thin_pool_commit(f.p), 0);
	check_pool();
	fx_reopen(&f);
	meta_thin_vol_close(v);
	v = vol(&f, 0, o, 3 * BS);
	expect_bytes(v, 0, 3 * BS, want);
	/* a discarded block reads from the origin again */
	ck_assert_int_eq(meta_thin_vol_discard(v, 0, BS), 0);
	memcpy(want, org, BS);
	expect_bytes(v, 0, 3 * BS, want);
	meta_thin_vol_close(v);
	meta_io_close(o);
	unlink(opath);
	free(org);
	free(want);
	fx_done(&f);
}

/* One run of a map: where, volume bytes [off, off+len), at. */
static void expect_run(const struct meta_thin_map *m, size_t i, enum meta_thin_at where,
		       uint64_t off, uint64_t len, uint64_t at)
{
	ck_assert_uint_lt(i, m->n);
	ck_assert_int_eq(m->run[i].where, where);
	ck_assert_uint_eq(m->run[i].off, off);
	ck_assert_uint_eq(m->run[i].len, len);
	ck_assert_uint_eq(m->run[i].at, at);
}

/*
 * The map of a range: origin below its end, data runs (consecutive data blocks merged,
 * a gap in the volume splitting them), zeros past the origin; read_mapped == read.
 */
START_TEST(test_map_runs)
{
	struct fx f;
	struct meta_thin_map m = {0};
	struct meta_thin_vol *v;
	struct meta_io *o;
	uint8_t *org = malloc(3 * BS), *blk = malloc(3 * BS), *a = malloc(8 * BS),
		*b = malloc(8 * BS);
	uint64_t osize = 2 * BS + BS / 2, d1, d2, d5, off = BS / 2, len = 7 * BS - BS / 2 - 3;
	ck_assert_ptr_nonnull(org);
	ck_assert_ptr_nonnull(blk);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	fill_rnd(org, osize);
	fill_rnd(blk, 3 * BS);
	ub_tmpfile(opath, "thin_io_origin", 0);
	ub_write_at(opath, 0, org, osize);
	ck_assert_int_eq(meta_io_open(opath, 0, &o), 0);
	fx_init(&f, 16, 0xaa, 0);
	ck_assert_int_eq(msg(f.p, "create_thin 0"), 0);
	v = vol(&f, 0, o, 8 * BS);
	ck_assert_int_eq(meta_thin_vol_write(v, BS, blk, 2 * BS), 0);
	ck_assert_int_eq(meta_thin_vol_write(v, 5 * BS, blk + 2 * BS, BS), 0);
	ck_assert_int_eq(meta_thin_pool_commit(f.p), 0);
	d1 = data_block_of(0, 1);
	d2 = data_block_of(0, 2);
	d5 = data_block_of(0, 5);
	ck_assert_uint_eq(d2, d1 + 1); /* a sequential write allocates in order */
	ck_assert_int_eq(meta_thin_vol_map(v, off, len, &m), 0);
	ck_assert_uint_eq(m.n, 5);
	expect_run(&m, 0, META_THIN_AT_ORIGIN, off, BS - off, off);
	expect_run(&m, 1, META_THIN_AT_DATA, BS, 2 * BS, d1 * BS);
	expect_run(&m, 2, META_THIN_AT_ZERO, 3 * BS, 2 * BS, 0);
	expect_run(&m, 3, META_THIN_AT_DATA, 5 * BS, BS, d5 * BS);
	expect_run(&m, 4, META_THIN_AT_ZERO, 6 * BS, off + len - 6 * BS, 0);
	ck_assert_int_eq(meta_thin_vol_read_mapped(v, &m, off, a, NULL, NULL), 0);
	ck_assert_int_eq(meta_thin_vol_read(v, off, b, len), 0);
	ck_assert_mem_eq(a, b, len);
	{ /* through other opens of the data image and the origin */
		struct meta_io *dio, *oio;
		ck_assert_int_eq(meta_io_open(dpath, 0, &dio), 0);
		ck_assert_int_eq(meta_io_open(opath, 0, &oio), 0);
		memset(a, 0x5c, len);
		ck_assert_int_eq(meta_thin_vol_read_mapped(v, &m, off, a, dio, oio), 0);
		ck_assert_mem_eq(a, b, len);
		meta_io_close(dio);
		meta_io_close(oio);
	}
	/* inside one block: a data run starting mid-block; the map is reused */
	ck_assert_int_eq(meta_thin_vol_map(v, 2 * BS + 7, 100, &m), 0);
	ck_assert_uint_eq(m.n, 1);
	expect_run(&m, 0, META_THIN_AT_DATA, 2 * BS + 7, 100, d2 * BS + 7);
	/* the origin's end inside an unmapped block: origin, then zeros */
	meta_thin_vol_close(v);
	v = vol(&f, 0, o, 8 * BS);
	ck_assert_int_eq(meta_thin_vol_discard(v, 2 * BS, BS), 0);
	ck_assert_int_eq(meta_thin_vol_map(v, 2 * BS, 2 * BS, &m), 0);
	ck_assert_uint_eq(m.n, 2);
	expect_run(&m, 0, META_THIN_AT_ORIGIN, 2 * BS, BS / 2, 2 * BS);
	expect_run(&m, 1, META_THIN_AT_ZERO, osize, 2 * BS - BS / 2, 0);
	/* empty range, past the end */
	ck_assert_int_eq(meta_thin_vol_map(v, 3, 0, &m), 0);
	ck_assert_uint_eq(m.n, 0);
	ck_assert_int_eq(meta_thin_vol_map(v, 8 * BS - 1, 2, &m), META_E_VOL_END);
	ck_assert_uint_eq(m.n, 0);
	meta_thin_map_free(&m);
	ck_assert_ptr_null(m.run);
	meta_thin_vol_close(v);
	meta_io_close(o);
	unlink(opath);
	free(org);
	free(blk);
	free(a);
	free(b);
	fx_done(&f);
}
END_TEST

START_TEST(test_external_origin_copy)
{
	external_origin(0, 0);
}
END_TEST

START_TEST(test_external_origin_skip_zeroing)
{
	external_origin(META_THIN_IO_SKIP_ZEROING, 0xaa);
}
END_TEST

static struct meta_thin_pool_info info(struct fx *f)
{
	struct meta_thin_pool_info i;
	meta_thin_pool_info(f->p, &i);
	return i;
}

START_TEST(test_discard_whole_blocks_only)
{
	struct fx f;
	struct meta_thin_vol *v;
	uint8_t *a = malloc(3 * BS);
	ck_assert_ptr_nonnull(a);
	memset(a, 'D', 3 * BS);
	fx_init(&f, 8, 0, 0);
	ck_assert_int_eq(msg(f.p, "create_thin 0"), 0);
	v = vol(&f, 0, NULL, 0);
	ck_assert_int_eq(meta_thin_vol_write(v, 0, a, 3 * BS), 0);
	ck_assert_int_eq(meta_thin_vol_discard(v, BS / 2, BS), 0); /* no whole block */
	ck_assert_uint_eq(info(&f).nr_free_data_blocks, 5);
	ck_assert_int_eq(meta_thin_vol_discard(v, BS / 2, 2 * BS), 0); /* block 1 */
	ck_assert_int_eq(meta_thin_pool_commit(f.p), 0);
	check_pool();
	ck_assert_uint_eq(info(&f).nr_free_data_blocks, 6);
	memset(a + BS, 0, BS);
	expect_bytes(v, 0, 3 * BS, a);
	meta_thin_vol_close(v);
	free(a);
	fx_done(&f);
}
END_TEST

static void passdown(unsigned flags, bool punch)
{
	struct fx f;
	struct meta_thin_vol *v0, *v1;
	uint8_t *a = malloc(4 * BS), *img = malloc(BS);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(img);
	memset(a, 'P', 4 * BS);
	fx_init(&f, 8, 0xaa, flags);
	ck_assert_int_eq(msg(f.p, "create_thin 0"), 0);
	v0 = vol(&f, 0, NULL, 0);
	ck_assert_int_eq(meta_thin_vol_write(v0, 0, a, 4 * BS), 0); /* data blocks 0..3 */
	ck_assert_int_eq(meta_thin_pool_commit(f.p), 0);
	ck_assert_int_eq(msg(f.p, "create_snap 1 0"), 0);
	v1 = vol(&f, 1, NULL, 0);
	/* freed: block 1 (both dropped it); blocks 0 and 2 keep one reference */
	ck_assert_int_eq(meta_thin_vol_discard(v0, 0, 2 * BS), 0);
	ck_assert_int_eq(meta_thin_vol_discard(v1, BS, 2 * BS), 0);
	/* nothing is passed down before the commit */
	ub_read_at(dpath, BS, img, BS);
	ck_assert_int_eq(img[0], 'P');
	ck_assert_int_eq(meta_thin_pool_commit(f.p), 0);
	check_pool();
	for (uint64_t b = 0; b < 8; b++) {
		int want = b < 4 ? 'P' : 0xaa;
		if (b == 1 && punch)
			want = 0;
		ub_read_at(dpath, b * BS, img, BS);
		for (size_t i = 0; i < BS; i++)
			if (img[i] != want)
				ck_abort_msg("data block %llu byte %zu: %d, want %d",
					     (unsigned long long)b, i, img[i], want);
	}
	meta_thin_vol_close(v0);
	meta_thin_vol_close(v1);
	free(a);
	free(img);
	fx_done(&f);
}

START_TEST(test_passdown_punches_freed_blocks)
{
	passdown(0, true);
}
END_TEST

START_TEST(test_no_passdown)
{
	passdown(META_THIN_IO_NO_PASSDOWN, false);
}
END_TEST

/* An abandoned transaction passes nothing down. */
START_TEST(test_passdown_not_on_abandon)
{
	struct fx f;
	struct meta_thin_vol *v;
	uint8_t *a = malloc(BS), *img = malloc(BS);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(img);
	memset(a, 'Q', BS);
	fx_init(&f, 4, 0, 0);
	ck_assert_int_eq(msg(f.p, "create_thin 0"), 0);
	v = vol(&f, 0, NULL, 0);
	ck_assert_int_eq(meta_thin_vol_write(v, 0, a, BS), 0);
	ck_assert_int_eq(meta_thin_pool_commit(f.p), 0);
	ck_assert_int_eq(meta_thin_vol_discard(v, 0, BS), 0);
	meta_thin_vol_close(v);
	fx_reopen(&f);
	ub_read_at(dpath, 0, img, BS);
	ck_assert(!memcmp(img, a, BS));
	v = vol(&f, 0, NULL, 0);
	expect_bytes(v, 0, BS, a);
	meta_thin_vol_close(v);
	free(a);
	free(img);
	fx_done(&f);
}
END_TEST

START_TEST(test_data_nospc)
{
	struct fx f;
	struct meta_thin_vol *v;
	uint8_t *a = malloc(5 * BS);
	ck_assert_ptr_nonnull(a);
	memset(a, 'N', 5 * BS);
	fx_init(&f, 4, 0, 0);
	ck_assert_int_eq(msg(f.p, "create_thin 0"), 0);
	v = vol(&f, 0, NULL, 0);
	ck_assert_int_eq(meta_thin_vol_write(v, 0, a, BS), 0);
	ck_assert_int_eq(meta_thin_pool_commit(f.p), 0);
	memset(a, 'M', 5 * BS);
	ck_assert_int_eq(meta_thin_vol_write(v, 0, a, 5 * BS), META_E_DATA_NOSPC);
	ck_assert_int_eq(meta_thin_vol_write(v, 0, a, 1), META_E_INVAL); /* the pool failed */
	ck_assert_int_eq(meta_thin_pool_commit(f.p), META_E_INVAL);
	meta_thin_vol_close(v);
	fx_reopen(&f);
	check_pool();
	v = vol(&f, 0, NULL, 0);
	expect_fill(v, 0, BS, 'N'); /* the in-place part was not written either */
	expect_fill(v, BS, 4 * BS, 0);
	ck_assert_uint_eq(info(&f).nr_free_data_blocks, 3);
	meta_thin_vol_close(v);
	free(a);
	fx_done(&f);
}
END_TEST

START_TEST(test_vol_end_and_overflow)
{
	struct fx f;
	struct meta_thin_vol *v;
	uint8_t b[32] = {0};
	fx_init(&f, 4, 0, 0);
	ck_assert_int_eq(msg(f.p, "create_thin 0"), 0);
	v = vol(&f, 0, NULL, 1u << 20);
	ck_assert_int_eq(meta_thin_vol_write(v, (1u << 20) - 10, b, 20), META_E_VOL_END);
	ck_assert_int_eq(meta_thin_vol_discard(v, (1u << 20) - 10, 20), META_E_VOL_END);
	ck_assert_int_eq(meta_thin_vol_read(v, (1u << 20) - 10, b, 20), META_E_VOL_END);
	ck_assert_int_eq(meta_thin_vol_write(v, (1u << 20) - 10, b, 10), 0);
	ck_assert_int_eq(meta_thin_vol_read(v, (1u << 20) - 10, b, 10), 0);
	meta_thin_vol_close(v);
	v = vol(&f, 0, NULL, 0); /* no size: the 2^64-byte space */
	ck_assert_int_eq(meta_thin_vol_write(v, UINT64_MAX - 5, b, 10), META_E_VOL_END);
	ck_assert_int_eq(meta_thin_vol_discard(v, UINT64_MAX - 5, 10), META_E_VOL_END);
	ck_assert_int_eq(meta_thin_vol_read(v, UINT64_MAX - 5, b, 10), META_E_VOL_END);
	/* refusals are not failures: the pool goes on */
	ck_assert_int_eq(meta_thin_vol_write(v, 0, b, 10), 0);
	ck_assert_int_eq(meta_thin_pool_commit(f.p), 0);
	meta_thin_vol_close(v);
	ck_assert_int_eq(meta_thin_vol_open(f.p, 5, NULL, 0, &v), META_E_NOTFOUND);
	ck_assert_ptr_null(v);
	fx_done(&f);
}
END_TEST

START_TEST(test_data_device_too_small)
{
	struct fx f;
	struct meta_io *small;
	fx_init(&f, 4, 0, 0);
	ck_assert_int_eq(truncate(dpath, 3 * BS), 0);
	ck_assert_int_eq(meta_io_open(dpath, META_IO_WRITE, &small), 0);
	meta_thin_pool_close(f.p);
	ck_assert_int_eq(meta_thin_pool_open(mpath, NULL, &f.p, NULL), 0);
	ck_assert_int_eq(meta_thin_pool_attach_data(f.p, small, 0), META_E_DATA_SIZE);
	meta_io_close(small);
	fx_done(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("thin_io");
	TCase *tc = ub_tcase(s, "thin_io", 60);
	tcase_add_test(tc, test_property);
	tcase_add_test(tc, test_partial_write_zeroes);
	tcase_add_test(tc, test_skip_zeroing_keeps_old_bytes);
	tcase_add_test(tc, test_sharing_broken_by_copy);
	tcase_add_test(tc, test_full_overwrite_not_copied);
	tcase_add_test(tc, test_map_runs);
	tcase_add_test(tc, test_external_origin_copy);
	tcase_add_test(tc, test_external_origin_skip_zeroing);
	tcase_add_test(tc, test_discard_whole_blocks_only);
	tcase_add_test(tc, test_passdown_punches_freed_blocks);
	tcase_add_test(tc, test_no_passdown);
	tcase_add_test(tc, test_passdown_not_on_abandon);
	tcase_add_test(tc, test_data_nospc);
	tcase_add_test(tc, test_vol_end_and_overflow);
	tcase_add_test(tc, test_data_device_too_small);
	return ub_run(s);
}

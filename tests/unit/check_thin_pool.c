/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of the offline thin-pool engine (libmeta/thin/thin_pool.c): a fresh pool,
 * every message and every refusal, seeded random message sequences against a model of
 * the devices, pools of every fixture continued by the engine.  After every commit the
 * pool is re-read through the read side: the full thin_check (trees, both space maps,
 * reference counts) must pass, and the device details must equal the model's.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/error.h>
#include <libmeta/thin.h>
#include <libmeta/thin_check.h>
#include <libmeta/thin_pool.h>
#include <libmeta/sm.h>

#include "unit_base.h"

#define MAXDEV 512

struct model {
	bool live[MAXDEV];
	struct meta_thin_details d[MAXDEV];
	uint64_t trans_id, held;
	uint32_t time;
};

static char path[UB_PATH_MAX];

static void on_damage(void *ctx, const struct meta_damage *d)
{
	(void)ctx;
	fprintf(stderr, "damage: %s %s block %llu\n", meta_damage_name(d->kind),
		d->detail ? d->detail : "", (unsigned long long)d->block);
}

/* The committed pool passes the full check; its devices are the model's. */
static void verify(const struct model *m)
{
	struct meta_thin *t;
	struct meta_thin_open_opts oo = {0};
	struct meta_thin_check_opts o = {.damage = on_damage};
	struct meta_thin_check_result r;
	struct meta_thin_details *d = NULL;
	uint64_t n = 0, k = 0;

	ck_assert_int_eq(meta_thin_open(path, &oo, &t), 0);
	ck_assert_int_eq(meta_thin_check(t, &o, &r), 0);
	ck_assert(r.space_maps_checked);
	ck_assert_int_eq(r.worst, -1);
	ck_assert_uint_eq(meta_thin_live_sb(t)->trans_id, m->trans_id);
	ck_assert_uint_eq(meta_thin_live_sb(t)->held_root != 0, m->held != 0);
	ck_assert_uint_eq(meta_thin_live_sb(t)->time, m->time);
	ck_assert_int_eq(meta_thin_read_details(t, &d, &n, NULL, NULL), 0);
	for (uint64_t dev = 0; dev < MAXDEV; dev++) {
		if (!m->live[dev])
			continue;
		ck_assert_uint_lt(k, n);
		ck_assert_uint_eq(d[k].dev_id, dev);
		ck_assert_uint_eq(d[k].mapped_blocks, m->d[dev].mapped_blocks);
		ck_assert_uint_eq(d[k].transaction_id, m->d[dev].transaction_id);
		ck_assert_uint_eq(d[k].creation_time, m->d[dev].creation_time);
		ck_assert_uint_eq(d[k].snapshotted_time, m->d[dev].snapshotted_time);
		k++;
	}
	ck_assert_uint_eq(k, n);
	free(d);
	meta_thin_close(t);
}

static struct meta_thin_pool *fresh(uint64_t meta_bytes, uint64_t nr_data)
{
	struct meta_thin_pool_opts o = {META_THIN_POOL_FORMAT, 128, nr_data, 0};
	struct meta_thin_pool *p;
	bool formatted;
	ub_tmpfile(path, "thin_pool", meta_bytes);
	ck_assert_int_eq(meta_thin_pool_open(path, &o, &p, &formatted), 0);
	ck_assert(formatted);
	return p;
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

/* The model's side of each message (only called when the engine succeeded). */
static void m_create(struct model *m, uint64_t dev)
{
	m->live[dev] = true;
	memset(&m->d[dev], 0, sizeof(m->d[dev]));
	m->d[dev].dev_id = dev;
	m->d[dev].transaction_id = m->trans_id;
	m->d[dev].creation_time = m->d[dev].snapshotted_time = m->time;
}

static void m_snap(struct model *m, uint64_t dev, uint64_t origin)
{
	m->time++;
	m_create(m, dev);
	m->d[dev].mapped_blocks = m->d[origin].mapped_blocks;
	m->d[origin].snapshotted_time = m->time;
}

START_TEST(test_fresh_pool_and_messages)
{
	struct model m = {0};
	struct meta_thin_pool *p = fresh(4u << 20, 1000);
	struct meta_thin_pool_info in;

	meta_thin_pool_info(p, &in);
	ck_assert_uint_eq(in.nr_metadata_blocks, 1024);
	ck_assert_uint_eq(in.nr_data_blocks, 1000);
	ck_assert_uint_eq(in.nr_free_data_blocks, 1000);
	ck_assert_uint_eq(in.data_block_size, 128);
	verify(&m);

	ck_assert_int_eq(msg(p, "create_thin 0"), 0);
	m_create(&m, 0);
	verify(&m);
	ck_assert_int_eq(msg(p, "create_snap 1 0"), 0);
	m_snap(&m, 1, 0);
	verify(&m);
	ck_assert_int_eq(msg(p, "create_snap 2 1"), 0);
	m_snap(&m, 2, 1);
	verify(&m);
	ck_assert_int_eq(msg(p, "set_transaction_id 0 5"), 0);
	m.trans_id = 5;
	verify(&m);
	ck_assert_int_eq(msg(p, "CREATE_THIN 7"), 0); /* the kernel compares names case-blind */
	m_create(&m, 7);
	verify(&m);
	ck_assert_int_eq(msg(p, "reserve_metadata_snap"), 0);
	m.held = 1;
	verify(&m);
	ck_assert_int_eq(msg(p, "delete 1"), 0);
	m.live[1] = false;
	verify(&m);
	ck_assert_int_eq(msg(p, "release_metadata_snap"), 0);
	m.held = 0;
	verify(&m);
	ck_assert_int_eq(msg(p, "delete 0"), 0);
	m.live[0] = false;
	ck_assert_int_eq(msg(p, "delete 2"), 0);
	m.live[2] = false;
	ck_assert_int_eq(msg(p, "delete 7"), 0);
	m.live[7] = false;
	verify(&m);
	meta_thin_pool_close(p);
	unlink(path);
}
END_TEST

/* Refused messages change nothing on disk and leave the pool usable. */
START_TEST(test_refusals)
{
	static const struct {
		const char *text;
		int err;
	} bad[] = {
		{"create_thin 0", META_E_DEV_EXISTS},       {"create_snap 0 3", META_E_DEV_EXISTS},
		{"create_snap 4 3", META_E_NOTFOUND},       {"delete 3", META_E_NOTFOUND},
		{"set_transaction_id 1 2", META_E_TRANS_ID}, {"release_metadata_snap", META_E_NOSNAP},
		{"create_thin 16777216", META_E_RANGE},     {"create_thin x", META_E_MSG_ARGS},
		{"create_thin", META_E_MSG_ARGS},           {"create_thin 1 2", META_E_MSG_ARGS},
		{"trim 0 1", META_E_MSG_UNKNOWN},           {"frobnicate", META_E_MSG_UNKNOWN},
		{"set_transaction_id 0 -1", META_E_MSG_ARGS},
		{"create_thin 99999999999999999999", META_E_MSG_ARGS},
	};
	struct model m = {0};
	struct meta_thin_pool *p = fresh(1u << 20, 64);
	uint8_t *before = malloc(1u << 20), *after = malloc(1u << 20);
	ck_assert_int_eq(msg(p, "create_thin 0"), 0);
	m_create(&m, 0);
	ub_read_at(path, 0, before, 1u << 20);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(msg(p, bad[i].text) == bad[i].err, "%s", bad[i].text);
		ub_read_at(path, 0, after, 1u << 20);
		ck_assert_msg(!memcmp(before, after, 1u << 20), "%s wrote", bad[i].text);
	}
	ck_assert_int_eq(msg(p, "reserve_metadata_snap"), 0);
	ck_assert_int_eq(msg(p, "reserve_metadata_snap"), META_E_SNAP_HELD);
	m.held = 1;
	ck_assert_int_eq(msg(p, "create_thin 1"), 0); /* still usable */
	m_create(&m, 1);
	meta_thin_pool_close(p);
	verify(&m);
	free(before);
	free(after);
	unlink(path);
}
END_TEST

START_TEST(test_blank_needs_check_and_growth)
{
	struct meta_thin_pool_opts o = {0};
	struct meta_thin_pool *p;
	struct meta_thin_pool_info in;
	struct model m = {0};
	uint8_t blk[UB_BLOCK_SIZE];
	struct disk_thin_sb *sb = (struct disk_thin_sb *)blk;

	ub_tmpfile(path, "thin_pool", 1u << 20);
	ck_assert_int_eq(meta_thin_pool_open(path, &o, &p, NULL), META_E_BLANK);
	ck_assert_ptr_null(p);
	o.flags = META_THIN_POOL_FORMAT; /* a format needs a valid block size and data size */
	ck_assert_int_eq(meta_thin_pool_open(path, &o, &p, NULL), META_E_INVAL);
	o.data_block_size = 128;
	o.nr_data_blocks = 100;
	ck_assert_int_eq(meta_thin_pool_open(path, &o, &p, NULL), 0);
	meta_thin_pool_close(p);
	verify(&m);

	/* the metadata file grows: the map follows at the next open; the data grows by option */
	ck_assert_int_eq(truncate(path, 4u << 20), 0);
	o.flags = 0;
	o.nr_data_blocks = 50000;
	ck_assert_int_eq(meta_thin_pool_open(path, &o, &p, NULL), 0);
	meta_thin_pool_info(p, &in);
	ck_assert_uint_eq(in.nr_metadata_blocks, 1024);
	ck_assert_uint_eq(in.nr_data_blocks, 50000);
	meta_thin_pool_close(p);
	verify(&m);
	o.nr_data_blocks = 40000;
	ck_assert_int_eq(meta_thin_pool_open(path, &o, &p, NULL), META_E_SHRINK);
	o.nr_data_blocks = 0;
	o.data_block_size = 256; /* the kernel refuses to change a pool's block size */
	ck_assert_int_eq(meta_thin_pool_open(path, &o, &p, NULL), META_E_BLOCK_SIZE);
	o.data_block_size = 128;
	ck_assert_int_eq(meta_thin_pool_open(path, &o, &p, NULL), 0);
	meta_thin_pool_close(p);

	/* needs_check: refused, as the kernel keeps such a pool read-only */
	ub_read_block(path, 0, blk);
	sb->flags = le32_of(le32_get(sb->flags) | META_THIN_FLAG_NEEDS_CHECK);
	meta_thin_sb_validator.prepare(&meta_thin_sb_validator, blk, 0);
	ub_write_block(path, 0, blk);
	o.nr_data_blocks = 0;
	ck_assert_int_eq(meta_thin_pool_open(path, &o, &p, NULL), META_E_NEEDS_CHECK);
	unlink(path);
}
END_TEST

/*
 * Leaks made and repaired through set_count; the needs_check flag; KEEP_SIZE.  The
 * check reports the leaks as damage, or as data with opts.leaks (then not as damage).
 */
static void leaks_of(uint64_t *ml, uint64_t *dl, int *worst)
{
	struct meta_thin *t;
	struct meta_thin_open_opts oo = {0};
	struct meta_thin_check_opts o = {0};
	struct meta_thin_check_result r;
	struct meta_thin_leaks l = {0};
	ck_assert_int_eq(meta_thin_open(path, &oo, &t), 0);
	ck_assert_int_eq(meta_thin_check(t, &o, &r), 0);
	ck_assert(r.space_maps_checked);
	*ml = r.metadata_leaked;
	*dl = r.data_leaked;
	*worst = r.worst;
	o.leaks = &l;
	ck_assert_int_eq(meta_thin_check(t, &o, &r), 0);
	ck_assert_int_eq(r.worst, -1);
	ck_assert_uint_eq(l.nr_metadata, *ml);
	ck_assert_uint_eq(l.nr_data, *dl);
	if (l.nr_metadata) {
		ck_assert_uint_eq(l.metadata[0], 250);
		ck_assert_uint_eq(l.metadata[1], 251);
	}
	if (l.nr_data) {
		ck_assert_uint_eq(l.data[0], 17);
		ck_assert_uint_eq(l.data[1], 999);
	}
	meta_thin_leaks_free(&l);
	meta_thin_close(t);
}

START_TEST(test_set_count_and_needs_check)
{
	struct meta_thin_pool_opts o = {0};
	struct meta_thin_pool *p = fresh(1u << 20, 1000);
	struct meta_thin_pool_info in;
	struct model m = {0};
	uint64_t ml, dl, free_before;
	int worst;
	static const uint32_t counts[] = {1, 2, 3, 7, 4000000000u, 2, 0}; /* 4e9: one step, not 4e9 */

	ck_assert_int_eq(msg(p, "create_thin 1"), 0);
	m_create(&m, 1);
	meta_thin_pool_info(p, &in);
	free_before = in.nr_free_metadata_blocks;
	ck_assert_int_eq(meta_thin_pool_set_count(p, META_THIN_POOL_METADATA_MAP, 0, 0), META_E_INVAL);
	ck_assert_int_eq(meta_thin_pool_set_count(p, META_THIN_POOL_DATA_MAP, 1000, 1), META_E_RANGE);
	ck_assert_int_eq(meta_thin_pool_set_count(p, META_THIN_POOL_METADATA_MAP, 256, 1), META_E_RANGE);
	/* counts up and down through the ref-count trees (above 2), committed each time */
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		ck_assert_int_eq(meta_thin_pool_set_count(p, META_THIN_POOL_METADATA_MAP, 250, counts[i]), 0);
		ck_assert_int_eq(meta_thin_pool_set_count(p, META_THIN_POOL_METADATA_MAP, 251, counts[i]), 0);
		ck_assert_int_eq(meta_thin_pool_set_count(p, META_THIN_POOL_DATA_MAP, 17, counts[i]), 0);
		ck_assert_int_eq(meta_thin_pool_set_count(p, META_THIN_POOL_DATA_MAP, 999, counts[i]), 0);
		ck_assert_int_eq(meta_thin_pool_commit(p), 0);
		meta_thin_pool_close(p);
		leaks_of(&ml, &dl, &worst);
		ck_assert_uint_eq(ml, counts[i] ? 2 : 0);
		ck_assert_uint_eq(dl, counts[i] ? 2 : 0);
		ck_assert_int_eq(worst, counts[i] ? (int)META_SEV_NONFATAL : -1);
		ck_assert_int_eq(meta_thin_pool_open(path, &o, &p, NULL), 0);
	}
	meta_thin_pool_info(p, &in);
	ck_assert_uint_eq(in.nr_free_metadata_blocks, free_before);
	verify(&m);

	/* a leaked metadata block given back is not reused before the commit */
	ck_assert_int_eq(meta_thin_pool_set_count(p, META_THIN_POOL_METADATA_MAP, 250, 1), 0);
	ck_assert_int_eq(meta_thin_pool_commit(p), 0);
	ck_assert_int_eq(meta_thin_pool_set_count(p, META_THIN_POOL_METADATA_MAP, 250, 0), 0);
	for (int i = 2; i < 60; i++) {
		char text[32];
		snprintf(text, sizeof(text), "create_thin %d", i);
		ck_assert_int_eq(msg(p, text), 0);
		m_create(&m, (uint64_t)i);
	}
	meta_thin_pool_close(p);
	verify(&m);

	/* needs_check: set and committed; refused without NEEDS_CHECK_OK, cleared with it */
	ck_assert_int_eq(meta_thin_pool_open(path, &o, &p, NULL), 0);
	ck_assert_int_eq(meta_thin_pool_set_needs_check(p, true), 0);
	ck_assert_int_eq(meta_thin_pool_commit(p), 0);
	meta_thin_pool_close(p);
	ck_assert_int_eq(meta_thin_pool_open(path, &o, &p, NULL), META_E_NEEDS_CHECK);
	o.flags = META_THIN_POOL_NEEDS_CHECK_OK;
	ck_assert_int_eq(meta_thin_pool_open(path, &o, &p, NULL), 0);
	meta_thin_pool_info(p, &in);
	ck_assert_uint_eq(in.flags & META_THIN_FLAG_NEEDS_CHECK, META_THIN_FLAG_NEEDS_CHECK);
	ck_assert_int_eq(meta_thin_pool_set_needs_check(p, false), 0);
	ck_assert_int_eq(meta_thin_pool_commit(p), 0);
	meta_thin_pool_close(p);
	o.flags = 0;
	ck_assert_int_eq(meta_thin_pool_open(path, &o, &p, NULL), 0);
	meta_thin_pool_close(p);
	verify(&m);

	/* SUPERBLOCK_ONLY: the flag and nothing else, even with a space map's index gone */
	o.flags = 0;
	ck_assert_int_eq(meta_thin_pool_open(path, &o, &p, NULL), 0);
	ck_assert_int_eq(meta_thin_pool_set_needs_check(p, true), 0);
	ck_assert_int_eq(meta_thin_pool_commit(p), 0);
	meta_thin_pool_close(p);
	{
		uint8_t blk[UB_BLOCK_SIZE], idx[UB_BLOCK_SIZE], zero[UB_BLOCK_SIZE] = {0};
		struct disk_thin_sb *sb = (struct disk_thin_sb *)blk;
		uint64_t mroot;
		ub_read_block(path, 0, blk);
		mroot = get_le64p(sb->metadata_space_map_root + 16); /* bitmap_root */
		ub_read_block(path, mroot, idx);
		ub_write_block(path, mroot, zero);
		o.flags = META_THIN_POOL_NEEDS_CHECK_OK;
		ck_assert_int_ne(meta_thin_pool_open(path, &o, &p, NULL), 0);
		o.flags = META_THIN_POOL_NEEDS_CHECK_OK | META_THIN_POOL_SUPERBLOCK_ONLY;
		ck_assert_int_eq(meta_thin_pool_open(path, &o, &p, NULL), 0);
		meta_thin_pool_info(p, &in);
		ck_assert_uint_eq(in.nr_metadata_blocks, 256);
		ck_assert_uint_eq(in.nr_data_blocks, 1000);
		ck_assert_int_eq(meta_thin_pool_create_thin(p, 100), META_E_INVAL);
		ck_assert_int_eq(msg(p, "create_thin 100"), META_E_INVAL);
		ck_assert_int_eq(meta_thin_pool_set_count(p, META_THIN_POOL_DATA_MAP, 1, 0), META_E_INVAL);
		ck_assert_int_eq(meta_thin_pool_set_needs_check(p, false), 0);
		ck_assert_int_eq(meta_thin_pool_commit(p), 0);
		meta_thin_pool_close(p);
		ub_write_block(path, mroot, idx);
	}
	o.flags = 0;
	ck_assert_int_eq(meta_thin_pool_open(path, &o, &p, NULL), 0);
	meta_thin_pool_close(p);
	verify(&m);

	/* KEEP_SIZE: a larger device does not grow the map */
	ck_assert_int_eq(truncate(path, 2u << 20), 0);
	o.flags = META_THIN_POOL_KEEP_SIZE;
	o.nr_data_blocks = 2000;
	ck_assert_int_eq(meta_thin_pool_open(path, &o, &p, NULL), 0);
	meta_thin_pool_info(p, &in);
	ck_assert_uint_eq(in.nr_metadata_blocks, 256);
	ck_assert_uint_eq(in.nr_data_blocks, 1000);
	meta_thin_pool_close(p);
	unlink(path);
}
END_TEST

static void count_kinds(void *ctx, const struct meta_damage *d)
{
	if (d->kind == META_DMG_SM_REF_COUNT_TREE)
		++*(int *)ctx;
}

/*
 * A ref-count tree entry whose bitmap entry is below 3 (the kernel removes the entry when
 * a count drops to 2) is damage the check reports, as tpt 1.1's does.
 */
START_TEST(test_stale_ref_count_entry)
{
	struct meta_thin_pool *p = fresh(1u << 20, 1000);
	struct meta_thin *t;
	struct meta_thin_open_opts oo = {0};
	struct meta_thin_check_opts co = {.damage = count_kinds};
	struct meta_thin_check_result r;
	struct meta_sm_index_entry *ie;
	uint8_t blk[UB_BLOCK_SIZE];
	uint64_t n;
	int rc_damage = 0;

	ck_assert_int_eq(meta_thin_pool_set_count(p, META_THIN_POOL_DATA_MAP, 17, 5), 0);
	ck_assert_int_eq(meta_thin_pool_commit(p), 0);
	meta_thin_pool_close(p);
	ck_assert_int_eq(meta_thin_open(path, &oo, &t), 0);
	ck_assert_int_eq(meta_sm_read_index(meta_thin_bm(t), META_SM_DISK, &meta_thin_live_sb(t)->data_sm,
					    &ie, &n), 0);
	ck_assert_uint_eq(n, 1);
	meta_thin_close(t);
	/* the bitmap says 0 (block 17 is mapped nowhere), the tree still says 5 */
	ub_read_block(path, ie[0].blocknr, blk);
	ck_assert_uint_eq(ub_bitmap_get(blk, 17), 3);
	ub_bitmap_set(blk, 17, 0);
	meta_bitmap_validator.prepare(&meta_bitmap_validator, blk, ie[0].blocknr);
	ub_write_block(path, ie[0].blocknr, blk);
	free(ie);
	co.damage_ctx = &rc_damage;
	ck_assert_int_eq(meta_thin_open(path, &oo, &t), 0);
	ck_assert_int_eq(meta_thin_check(t, &co, &r), 0);
	meta_thin_close(t);
	ck_assert_int_eq(rc_damage, 1);
	ck_assert_int_ne(r.worst, -1);
	unlink(path);
}
END_TEST

static uint64_t rnd_state;
static uint64_t rnd_below(uint64_t n)
{
	rnd_state = rnd_state * 6364136223846793005ull + 1442695040888963407ull;
	return (rnd_state >> 33) % n;
}

/*
 * Seeded random messages against the model: enough devices that the top-level and
 * details trees split and merge, snapshots of snapshots, deletes in any order, held
 * metadata snapshots.  Every commit is verified.
 */
START_TEST(test_random_sequences)
{
	int seeds = getenv("DMMETA_LONG") ? 20 : 3, steps = getenv("DMMETA_LONG") ? 3000 : 600;
	for (int seed = 1; seed <= seeds; seed++) {
		struct model m = {0};
		struct meta_thin_pool *p = fresh(8u << 20, 4096);
		char text[96];
		rnd_state = (uint64_t)seed;
		for (int i = 0; i < steps; i++) {
			uint64_t a = rnd_below(MAXDEV), b = rnd_below(MAXDEV), op = rnd_below(100);
			int r, want;
			if (op < 40) {
				snprintf(text, sizeof(text), "create_thin %llu", (unsigned long long)a);
				want = m.live[a] ? META_E_DEV_EXISTS : 0;
			} else if (op < 65) {
				snprintf(text, sizeof(text), "create_snap %llu %llu", (unsigned long long)a,
					 (unsigned long long)b);
				want = m.live[a] ? META_E_DEV_EXISTS : !m.live[b] ? META_E_NOTFOUND : 0;
			} else if (op < 92) {
				snprintf(text, sizeof(text), "delete %llu", (unsigned long long)a);
				want = m.live[a] ? 0 : META_E_NOTFOUND;
			} else if (op < 95) {
				snprintf(text, sizeof(text), "set_transaction_id %llu %llu",
					 (unsigned long long)m.trans_id, (unsigned long long)m.trans_id + 1);
				want = 0;
			} else if (op < 98) {
				snprintf(text, sizeof(text), "reserve_metadata_snap");
				want = m.held ? META_E_SNAP_HELD : 0;
			} else {
				snprintf(text, sizeof(text), "release_metadata_snap");
				want = m.held ? 0 : META_E_NOSNAP;
			}
			r = msg(p, text);
			ck_assert_msg(r == want, "seed %d step %d: %s gave %s, not %s", seed, i, text,
				      meta_errname(r), meta_errname(want));
			if (r)
				continue;
			if (op < 40)
				m_create(&m, a);
			else if (op < 65)
				m_snap(&m, a, b);
			else if (op < 92)
				m.live[a] = false;
			else if (op < 95)
				m.trans_id++;
			else
				m.held = !m.held;
			if (i % 50 == 0 || i == steps - 1)
				verify(&m);
		}
		meta_thin_pool_close(p);
		verify(&m);
		unlink(path);
	}
}
END_TEST

/*
 * Pools with mappings, as the kernel and our restorer left them: the engine deletes
 * every device in turn (freeing data through shared subtrees) and snapshots what is
 * left; the check must pass after each message, and at the end no data block is used.
 */
START_TEST(test_fixture_pools)
{
	static const char *const fx[] = {"thin/snaps.bin.gz", "thin/kernel-deleted.bin.gz",
					 "thin/shared-leaves.bin.gz", "thin/many.bin.gz"};
	for (size_t f = 0; f < sizeof(fx) / sizeof(fx[0]); f++) {
		struct meta_thin *t;
		struct meta_thin_open_opts oo = {0};
		struct meta_thin_details *d = NULL;
		struct meta_thin_pool *p;
		struct meta_thin_pool_opts o = {0};
		struct meta_thin_pool_info in;
		struct model m = {0};
		uint64_t n = 0;
		char text[64];

		ub_fixture_gunzip(fx[f], path, "thin_pool");
		ck_assert_int_eq(meta_thin_open(path, &oo, &t), 0);
		ck_assert_int_eq(meta_thin_read_details(t, &d, &n, NULL, NULL), 0);
		m.trans_id = meta_thin_live_sb(t)->trans_id;
		m.time = meta_thin_live_sb(t)->time;
		m.held = meta_thin_live_sb(t)->held_root;
		for (uint64_t i = 0; i < n; i++) {
			ck_assert_uint_lt(d[i].dev_id, MAXDEV);
			m.live[d[i].dev_id] = true;
			m.d[d[i].dev_id] = d[i];
		}
		meta_thin_close(t);
		free(d);
		ck_assert_int_eq(meta_thin_pool_open(path, &o, &p, NULL), 0);
		if (m.held) {
			ck_assert_int_eq(msg(p, "release_metadata_snap"), 0);
			m.held = 0;
		}
		for (uint64_t dev = 0; dev < MAXDEV; dev++) {
			if (!m.live[dev])
				continue;
			if (dev % 3 == 0 && dev + 300 < MAXDEV && !m.live[dev + 300]) {
				snprintf(text, sizeof(text), "create_snap %llu %llu",
					 (unsigned long long)dev + 300, (unsigned long long)dev);
				ck_assert_int_eq(msg(p, text), 0);
				m_snap(&m, dev + 300, dev);
				verify(&m);
			}
			snprintf(text, sizeof(text), "delete %llu", (unsigned long long)dev);
			ck_assert_int_eq(msg(p, text), 0);
			m.live[dev] = false;
			verify(&m);
		}
		for (uint64_t dev = 0; dev < MAXDEV; dev++) {
			if (!m.live[dev])
				continue;
			snprintf(text, sizeof(text), "delete %llu", (unsigned long long)dev);
			ck_assert_int_eq(msg(p, text), 0);
			m.live[dev] = false;
		}
		meta_thin_pool_info(p, &in);
		ck_assert_uint_eq(in.nr_free_data_blocks, in.nr_data_blocks);
		meta_thin_pool_close(p);
		verify(&m);
		unlink(path);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("thin_pool");
	TCase *tc = ub_tcase(s, "engine", 120);
	tcase_add_test(tc, test_fresh_pool_and_messages);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_blank_needs_check_and_growth);
	tcase_add_test(tc, test_set_count_and_needs_check);
	tcase_add_test(tc, test_stale_ref_count_entry);
	tcase_add_test(tc, test_random_sequences);
	tcase_add_test(tc, test_fixture_pools);
	return ub_run(s);
}

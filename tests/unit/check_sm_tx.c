/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of the transactional space maps (libmeta/pdata/sm_tx.c).  A committed
 * metadata space map is laid down by the bulk builder (pdata_write.c: bw, sm_write_metadata)
 * with random counts, some above 2 (the ref-count tree); then seeded random inc / dec /
 * alloc / count / extend sequences run against a plain model (the current and the
 * committed count of every block), and every commit through a tm (the map is the tm's
 * space) is read back with the existing readers (meta_sm_read_counts, meta_sm_read_index)
 * and compared: the user's counts, plus one for every block of the map itself (index
 * block, bitmaps, ref-count tree nodes), nr_allocated, nr_free of every bitmap.
 * DMMETA_LONG=1 runs more seeds.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/bm.h>
#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/sm.h>
#include <libmeta/thin.h>
#include <libmeta/thin_check.h>
#include <libmeta/thin_restore.h>
#include <libmeta/thin_xml_read.h>

#include "base/endian.h"
#include "pdata/pdata_write.h"
#include "pdata/sm_tx.h"
#include "pdata/tm.h"
#include "unit_base.h"

#define EPB META_SM_ENTRIES_PER_BITMAP

static unsigned nr_seeds(unsigned dflt)
{
	return ub_long_run() ? dflt * 10 : dflt;
}

/* ---- a superblock for the tm's commit (block 0) ---------------------------------- */

static const struct meta_validator sb_v = {"test_sb", 4243u, ub_block_check, ub_block_prepare};

/* ---- the fixture: an image, a committed map, the model --------------------------- */

struct fx {
	char path[UB_PATH_MAX];
	uint64_t dev_blocks; /* of the image */
	uint64_t nr;         /* of the map */
	struct meta_bm *bm;
	struct meta_sm_root root;
	struct meta_sm_tx *s;
	struct meta_tm_space space;
	struct meta_tm *tm;
	/* the model */
	uint32_t *cur, *com; /* dev_blocks each */
	uint8_t *is_map;     /* block of the map itself (as of the last commit) */
	uint64_t begin;      /* the allocator's position */
	bool begin_unknown;  /* after a commit (the map's own allocations moved it) */
	unsigned commits;
	bool small_only;     /* keep counts of the user's blocks <= 2 (no ref-count tree changes) */
};

/* Every node of the btree at root. */
static void mark_tree(struct meta_bm *bm, uint64_t root, uint8_t *mark)
{
	const void *node;
	struct meta_node_info ni;
	ck_assert_int_eq(meta_bm_get(bm, root, &meta_node_validator, &node), 0);
	ck_assert_msg(!mark[root], "block %llu used twice", (unsigned long long)root);
	mark[root] = 1;
	meta_node_get_info(node, &ni);
	if (ni.flags & META_NODE_INTERNAL)
		for (uint32_t i = 0; i < ni.nr_entries; i++)
			mark_tree(bm, meta_node_value64(node, i), mark);
	meta_bm_put(bm, node);
}

/*
 * Mark the blocks of the map at root (index block or index tree, bitmaps, ref-count tree) in
 * mark[n], none twice.
 */
static void add_map_blocks(struct meta_bm *bm, enum meta_sm_kind kind,
			   const struct meta_sm_root *root, uint8_t *mark, uint64_t n)
{
	struct meta_sm_index_entry *ie;
	uint64_t nie;
	if (kind == META_SM_METADATA) {
		ck_assert(!mark[root->bitmap_root]);
		mark[root->bitmap_root] = 1;
	} else {
		mark_tree(bm, root->bitmap_root, mark);
	}
	ck_assert_int_eq(meta_sm_read_index(bm, kind, root, &ie, &nie), 0);
	for (uint64_t i = 0; i < nie; i++) {
		ck_assert_uint_lt(ie[i].blocknr, n);
		ck_assert_int_eq(mark[ie[i].blocknr], 0);
		mark[ie[i].blocknr] = 1;
	}
	free(ie);
	mark_tree(bm, root->ref_count_root, mark);
}

/* The blocks of the metadata map at root. */
static void map_blocks(struct meta_bm *bm, const struct meta_sm_root *root, uint8_t *mark,
		       uint64_t n)
{
	memset(mark, 0, n);
	add_map_blocks(bm, META_SM_METADATA, root, mark, n);
}

/* A random count for a user block: mostly free, 1 or 2, sometimes 3..40. */
static uint32_t rnd_count(void)
{
	uint64_t x = ub_rnd_below(100);
	return x < 45 ? 0 : x < 75 ? 1 : x < 90 ? 2 : 3 + (uint32_t)ub_rnd_below(38);
}

static void fx_open_bm(struct fx *f)
{
	struct meta_io *io;
	ck_assert_int_eq(meta_io_open(f->path, META_IO_WRITE, &io), 0);
	ck_assert_int_eq(meta_bm_create(io, 64, &f->bm), 0);
}

/*
 * An image of dev_blocks blocks holding a committed metadata map of nr blocks: block 0 the
 * superblock, blocks [1, users) random counts, the map's own blocks after them.
 */
static void fx_init(struct fx *f, uint64_t dev_blocks, uint64_t nr, uint64_t users, uint64_t seed)
{
	struct meta_io *io;
	struct bw w;
	memset(f, 0, sizeof(*f));
	ub_rnd_state = seed * 0x9e3779b97f4a7c15ull + 1;
	f->dev_blocks = dev_blocks;
	f->nr = nr;
	ub_tmpfile(f->path, "sm_tx", dev_blocks * UB_BLOCK_SIZE);
	f->cur = calloc(dev_blocks, sizeof(*f->cur));
	f->com = calloc(dev_blocks, sizeof(*f->com));
	f->is_map = calloc(dev_blocks, 1);
	ck_assert(f->cur && f->com && f->is_map);
	ck_assert_int_eq(meta_io_open(f->path, META_IO_WRITE, &io), 0);
	ck_assert_int_eq(bw_init(&w, io, nr, 1), 0);
	for (uint64_t b = 1; b < users; b++)
		w.mcount[b] = rnd_count();
	w.next = users;
	ck_assert_int_eq(sm_write_metadata(&w, &f->root), 0);
	ck_assert_int_eq(bw_flush(&w), 0);
	memcpy(f->cur, w.mcount, nr * sizeof(*f->cur));
	memcpy(f->com, w.mcount, nr * sizeof(*f->com));
	bw_free(&w);
	meta_io_close(io);
	fx_open_bm(f);
	map_blocks(f->bm, &f->root, f->is_map, dev_blocks);
	for (uint64_t b = 0; b < dev_blocks; b++)
		if (f->is_map[b])
			ck_assert_uint_eq(f->cur[b], 1);
}

static void fx_open_map(struct fx *f)
{
	ck_assert_int_eq(meta_sm_tx_open(f->bm, META_SM_METADATA, &f->root, &f->s), 0);
	f->space = meta_sm_tx_space(f->s);
	ck_assert_int_eq(meta_tm_create(f->bm, &f->space, &f->tm), 0);
}

static void fx_done(struct fx *f)
{
	meta_tm_destroy(f->tm);
	meta_sm_tx_close(f->s);
	meta_bm_destroy(f->bm);
	unlink(f->path);
	free(f->cur);
	free(f->com);
	free(f->is_map);
}

/* ---- the model's operations, checked against the map ----------------------------- */

static uint64_t model_nr_allocated(const struct fx *f)
{
	uint64_t n = 0;
	for (uint64_t b = 0; b < f->nr; b++)
		n += f->cur[b] != 0;
	return n;
}

/* The kernel's order: the first block free now and at the last commit from begin, wrapping once. */
static bool model_alloc(struct fx *f, uint64_t *out)
{
	for (uint64_t k = 0; k < f->nr; k++) {
		uint64_t b = f->begin + k < f->nr ? f->begin + k : f->begin + k - f->nr;
		if (!f->cur[b] && !f->com[b]) {
			*out = b;
			return true;
		}
	}
	return false;
}

/*
 * A user block (not the map's, not the superblock) with a count the test may change: to inc
 * (inc) or dec (!inc).
 */
static bool pick_user(struct fx *f, bool inc, uint64_t *out)
{
	for (int tries = 0; tries < 64; tries++) {
		uint64_t b = 1 + ub_rnd_below(f->nr - 1);
		if (f->is_map[b] || (!inc && !f->cur[b]))
			continue;
		if (f->small_only && ((inc && f->cur[b] >= 2) || f->com[b] >= 3))
			continue;
		*out = b;
		return true;
	}
	return false;
}

static void check_count(struct fx *f, uint64_t b)
{
	uint32_t c = UINT32_MAX;
	ck_assert_int_eq(meta_sm_tx_count(f->s, b, &c), 0);
	ck_assert_msg(c == f->cur[b], "block %llu: count %u, model %u", (unsigned long long)b, c,
		      f->cur[b]);
}

static void one_op(struct fx *f)
{
	uint64_t x = ub_rnd_below(100), b;
	if (x < 30) {
		if (!pick_user(f, true, &b))
			return;
		ck_assert_int_eq(meta_sm_tx_inc(f->s, b), 0);
		f->cur[b]++;
	} else if (x < 60) {
		if (!pick_user(f, false, &b))
			return;
		ck_assert_int_eq(meta_sm_tx_dec(f->s, b), 0);
		f->cur[b]--;
	} else if (x < 85) {
		uint64_t want;
		bool any = model_alloc(f, &want);
		int r = meta_sm_tx_alloc(f->s, &b);
		if (!any) {
			ck_assert_int_eq(r, META_E_NOSPC);
			return;
		}
		ck_assert_int_eq(r, 0);
		ck_assert_msg(b == want || f->begin_unknown, "alloc gave %llu, model %llu", (unsigned long long)b,
			      (unsigned long long)want);
		/* never a block in use at the last commit, nor one taken now */
		ck_assert_uint_eq(f->com[b], 0);
		ck_assert_uint_eq(f->cur[b], 0);
		f->cur[b] = 1;
		f->begin = b + 1;
		f->begin_unknown = false;
	} else {
		b = ub_rnd_below(f->nr);
		check_count(f, b);
	}
}

static void check_all_counts(struct fx *f)
{
	for (uint64_t b = 0; b < f->nr; b++)
		check_count(f, b);
	ck_assert_uint_eq(meta_sm_tx_nr_free(f->s), f->nr - model_nr_allocated(f));
	ck_assert_uint_eq(meta_sm_tx_nr_blocks(f->s), f->nr);
}

/* ---- reading a committed map back ------------------------------------------------ */

struct rd {
	const uint32_t *want;
	uint64_t seen, bad;
	int damage;
};

static int rd_counts(void *ctx, uint64_t first, const uint32_t *counts, uint32_t n)
{
	struct rd *r = ctx;
	for (uint32_t i = 0; i < n; i++)
		if (counts[i] != r->want[first + i]) {
			if (!r->bad)
				fprintf(stderr, "block %llu: on disk %u, model %u\n",
					(unsigned long long)(first + i), counts[i], r->want[first + i]);
			r->bad++;
		}
	r->seen += n;
	return 0;
}

static void rd_damage(void *ctx, const struct meta_damage *d)
{
	struct rd *r = ctx;
	fprintf(stderr, "damage: %s %s\n", meta_damage_name(d->kind), d->detail ? d->detail : "");
	r->damage++;
}

struct rc_rd {
	const uint32_t *want;
	uint64_t nr, n, bad;
};

static int rc_leaf(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	struct rc_rd *r = ctx;
	for (uint32_t i = 0; i < ni->nr_entries; i++) {
		uint64_t k = meta_node_key(node, i);
		uint32_t c = get_le32p(meta_node_value(node, i));
		if (k >= r->nr || r->want[k] != c || c < 3) {
			if (!r->bad)
				fprintf(stderr, "ref-count tree: block %llu count %u, model %u\n",
					(unsigned long long)k, c, k < r->nr ? r->want[k] : 0);
			r->bad++;
		}
		r->n++;
	}
	return 0;
}

/*
 * The committed map at root equals want[] (nr blocks); its ref-count tree holds exactly the
 * counts above 2; its index is right.
 */
static void check_map(struct meta_bm *bm, enum meta_sm_kind kind, const struct meta_sm_root *root,
		      const uint32_t *want, uint64_t nr)
{
	struct rd r = {want, 0, 0, 0};
	struct meta_sm_index_entry *ie;
	uint64_t nie, alloc = 0;
	ck_assert_uint_eq(root->nr_blocks, nr);
	ck_assert_int_eq(meta_sm_read_counts(bm, kind, root, rd_counts, rd_damage, &r), 0);
	ck_assert_int_eq(r.damage, 0);
	ck_assert_uint_eq(r.bad, 0);
	ck_assert_uint_eq(r.seen, nr);
	{
		struct rc_rd rr = {want, nr, 0, 0};
		struct meta_btree_walk_ops ops = {rc_leaf, rd_damage};
		uint64_t big = 0;
		ck_assert_int_eq(meta_btree_walk(bm, root->ref_count_root, 4, &ops, &rr), 0);
		for (uint64_t b = 0; b < nr; b++)
			big += want[b] >= 3;
		ck_assert_uint_eq(rr.bad, 0);
		ck_assert_uint_eq(rr.n, big);
	}
	for (uint64_t b = 0; b < nr; b++)
		alloc += want[b] != 0;
	ck_assert_uint_eq(root->nr_allocated, alloc);
	ck_assert_int_eq(meta_sm_read_index(bm, kind, root, &ie, &nie), 0);
	ck_assert_uint_eq(nie, (nr + EPB - 1) / EPB);
	for (uint64_t i = 0; i < nie; i++) {
		uint64_t first = i * EPB, n = nr - first < EPB ? nr - first : EPB, nfree = 0, ff = n;
		for (uint64_t j = 0; j < n; j++)
			if (!want[first + j]) {
				nfree++;
				if (ff == n)
					ff = j;
			}
		ck_assert_uint_eq(ie[i].nr_free, nfree);
		ck_assert_uint_le(ie[i].none_free_before, ff);
	}
	free(ie);
}

static void check_on_disk(struct meta_bm *bm, const struct meta_sm_root *root, const uint32_t *want,
			  uint64_t nr)
{
	check_map(bm, META_SM_METADATA, root, want, nr);
}

/*
 * Commit through the tm, then check the image: the user's counts, plus one for every block
 * of the new map; the map's new blocks were free at the last commit and are free of users.
 */
static void fx_commit(struct fx *f)
{
	struct meta_sm_root root;
	uint8_t sb[UB_BLOCK_SIZE];
	uint8_t *now = calloc(f->dev_blocks, 1);
	uint32_t *want = calloc(f->nr, sizeof(*want));
	ck_assert(now && want);
	ck_assert_int_eq(meta_sm_tx_commit(f->s, f->tm, &root), 0);
	ck_assert_int_eq(meta_tm_pre_commit(f->tm), 0);
	memset(sb, 0, sizeof(sb));
	put_le64p(sb + 16, ++f->commits);
	ck_assert_int_eq(meta_tm_commit(f->tm, 0, &sb_v, sb), 0);
	meta_sm_tx_committed(f->s);

	map_blocks(f->bm, &root, now, f->dev_blocks);
	for (uint64_t b = 0; b < f->nr; b++) {
		uint32_t user = f->cur[b] - f->is_map[b];
		if (now[b] && !f->is_map[b]) {
			/* a block the map took in this commit */
			ck_assert_uint_eq(f->com[b], 0);
			ck_assert_uint_eq(f->cur[b], 0);
		}
		want[b] = user + now[b];
	}
	check_on_disk(f->bm, &root, want, f->nr);
	memcpy(f->cur, want, f->nr * sizeof(*want));
	memcpy(f->com, want, f->nr * sizeof(*want));
	memcpy(f->is_map, now, f->dev_blocks);
	f->root = root;
	f->begin_unknown = true; /* the map's own allocations moved its position */
	free(now);
	free(want);
}

/* ---- tests ------------------------------------------------------------------------ */

/* The count layer alone: lazy committed counts (ref-count tree too), inc/dec/alloc, no commit. */
START_TEST(test_counts_no_commit)
{
	unsigned seeds = nr_seeds(4);
	for (unsigned seed = 1; seed <= seeds; seed++) {
		struct fx f;
		fx_init(&f, 40000, 40000, 30000, seed);
		fx_open_map(&f);
		check_all_counts(&f);
		for (int i = 0; i < 20000; i++)
			one_op(&f);
		check_all_counts(&f);
		fx_done(&f);
	}
}
END_TEST

/* Allocation: the kernel's order, never a block freed in this transaction, wrapping once. */
START_TEST(test_alloc_order)
{
	struct fx f;
	uint64_t b, first;
	fx_init(&f, 2000, 2000, 1000, 7);
	fx_open_map(&f);
	/* free a block in use: it is not handed out again in this transaction */
	ck_assert(pick_user(&f, false, &first));
	while (f.cur[first]) {
		ck_assert_int_eq(meta_sm_tx_dec(f.s, first), 0);
		f.cur[first]--;
	}
	for (;;) {
		uint64_t want;
		int r = meta_sm_tx_alloc(f.s, &b);
		if (!model_alloc(&f, &want)) {
			ck_assert_int_eq(r, META_E_NOSPC);
			break;
		}
		ck_assert_int_eq(r, 0);
		ck_assert_uint_eq(b, want);
		ck_assert_uint_ne(b, first);
		f.cur[b] = 1;
		f.begin = b + 1;
	}
	ck_assert_uint_eq(meta_sm_tx_nr_free(f.s), 1); /* the freed block only */
	fx_done(&f);
}
END_TEST

/* Six commits of the map, each after up to max_ops - 1 random operations. */
static void commit_rounds(struct fx *f, unsigned max_ops)
{
	for (int t = 0; t < 6; t++) {
		int ops = (int)ub_rnd_below(max_ops);
		for (int i = 0; i < ops; i++)
			one_op(f);
		fx_commit(f);
	}
}

/* The map reopened from the image (its last commit) has the model's counts. */
static void reopen_and_check(struct fx *f)
{
	meta_tm_destroy(f->tm);
	meta_sm_tx_close(f->s);
	fx_open_map(f);
	f->begin = 0;
	f->begin_unknown = false;
	check_all_counts(f);
}

/* Commits of the metadata map, counts kept <= 2 on the user's side. */
START_TEST(test_commit_small)
{
	unsigned seeds = nr_seeds(3);
	for (unsigned seed = 1; seed <= seeds; seed++) {
		struct fx f;
		fx_init(&f, 40000, 40000, 20000, 100 + seed);
		f.small_only = true;
		fx_open_map(&f);
		commit_rounds(&f, 3000);
		/* a commit with nothing changed keeps the root */
		{
			struct meta_sm_root before = f.root;
			fx_commit(&f);
			ck_assert_uint_eq(f.root.bitmap_root, before.bitmap_root);
		}
		/* and the map reopened from the image says the same */
		reopen_and_check(&f);
		for (int i = 0; i < 2000; i++)
			one_op(&f);
		fx_commit(&f);
		fx_done(&f);
	}
}
END_TEST

/*
 * A block of the map itself with more references (a bitmap at 3): the tm copies it at the
 * commit, which drops it back to 2 within the commit; the ref-count tree must not keep it.
 */
START_TEST(test_map_block_shared)
{
	struct fx f;
	struct meta_sm_index_entry *ie;
	uint64_t x, nie;
	fx_init(&f, 40000, 40000, 20000, 77);
	fx_open_map(&f);
	ck_assert_int_eq(meta_sm_read_index(f.bm, META_SM_METADATA, &f.root, &ie, &nie), 0);
	x = ie[1].blocknr; /* a bitmap */
	free(ie);
	ck_assert_int_eq(meta_sm_tx_inc(f.s, x), 0);
	ck_assert_int_eq(meta_sm_tx_inc(f.s, x), 0);
	f.cur[x] += 2;
	fx_commit(&f);
	ck_assert_uint_eq(f.cur[x], 2);
	ck_assert_uint_eq(f.is_map[x], 0);
	ck_assert_int_eq(meta_sm_tx_dec(f.s, x), 0);
	ck_assert_int_eq(meta_sm_tx_dec(f.s, x), 0);
	f.cur[x] = 0;
	fx_commit(&f);
	fx_done(&f);
}
END_TEST

/* ---- crashes ---------------------------------------------------------------------- */

/* The test superblock holds a map's root at 16. */
static void sb_put_root(uint8_t *sb, const struct meta_sm_root *r)
{
	memset(sb, 0, UB_BLOCK_SIZE);
	put_le64p(sb + 16, r->nr_blocks);
	put_le64p(sb + 24, r->nr_allocated);
	put_le64p(sb + 32, r->bitmap_root);
	put_le64p(sb + 40, r->ref_count_root);
}

static void sb_get_root(const uint8_t *sb, struct meta_sm_root *r)
{
	r->nr_blocks = get_le64p(sb + 16);
	r->nr_allocated = get_le64p(sb + 24);
	r->bitmap_root = get_le64p(sb + 32);
	r->ref_count_root = get_le64p(sb + 40);
}

static int rd_counts_any(void *ctx, uint64_t first, const uint32_t *counts, uint32_t n)
{
	(void)ctx;
	(void)first;
	(void)counts;
	(void)n;
	return 0;
}

/*
 * One seeded transaction on a fresh image (counts above 2 too), its writes failing from the
 * (fail_after + 1)th on (UINT64_MAX: none).  *writes: how many it made; returns whether the
 * commit went through.  Then the image is read again: the superblock's map is the new one,
 * readable, or (failed) the one before, whole.
 */
static bool crash_run(uint64_t fail_after, uint64_t *writes)
{
	struct fx f;
	struct meta_sm_root root, got;
	uint8_t sb[UB_BLOCK_SIZE];
	uint32_t *before;
	struct meta_io *io;
	uint64_t w0;
	int r;
	fx_init(&f, 3 * EPB, 3 * EPB, 3 * EPB - 300, 31);
	sb_put_root(sb, &f.root);
	ck_assert_int_eq(meta_bm_write(f.bm, 0, &sb_v, sb), 0);
	ck_assert_int_eq(meta_bm_flush(f.bm), 0);
	before = malloc(f.nr * sizeof(*before));
	ck_assert_ptr_nonnull(before);
	memcpy(before, f.cur, f.nr * sizeof(*before));
	fx_open_map(&f);
	io = meta_bm_io(f.bm);
	w0 = meta_io_nr_writes(io);
	if (fail_after != UINT64_MAX)
		meta_io_fail_writes_after(io, w0 + fail_after);
	for (int i = 0; i < 1500; i++)
		one_op(&f);
	r = meta_sm_tx_commit(f.s, f.tm, &root);
	if (!r)
		r = meta_tm_pre_commit(f.tm);
	if (!r) {
		sb_put_root(sb, &root);
		r = meta_tm_commit(f.tm, 0, &sb_v, sb);
	}
	*writes = meta_io_nr_writes(io) - w0;
	meta_tm_destroy(f.tm);
	meta_sm_tx_close(f.s);
	meta_bm_destroy(f.bm);
	f.tm = NULL;
	f.s = NULL;
	/* what a restart finds */
	fx_open_bm(&f);
	{
		const void *data;
		ck_assert_int_eq(meta_bm_get(f.bm, 0, &sb_v, &data), 0);
		sb_get_root(data, &got);
		meta_bm_put(f.bm, data);
	}
	if (r) {
		ck_assert_int_eq(memcmp(&got, &f.root, sizeof(got)), 0);
		check_on_disk(f.bm, &got, before, f.nr);
	} else {
		ck_assert_int_eq(memcmp(&got, &root, sizeof(got)), 0);
		struct rd any = {NULL, 0, 0, 0};
		ck_assert_int_eq(meta_sm_read_counts(f.bm, META_SM_METADATA, &got, rd_counts_any, rd_damage,
						     &any),
				 0);
		ck_assert_int_eq(any.damage, 0);
	}
	free(before);
	fx_done(&f);
	return r == 0;
}

/* Every write of a commit failing in turn: the image keeps the map of the last commit. */
START_TEST(test_crash)
{
	uint64_t total, w;
	ck_assert(crash_run(UINT64_MAX, &total));
	ck_assert_uint_gt(total, 3);
	if (getenv("DMMETA_LONG"))
		fprintf(stderr, "crash: %llu writes\n", (unsigned long long)total);
	for (uint64_t n = 0; n < total; n++) {
		/* only the superblock's write makes the commit: any failure before leaves the old map */
		ck_assert(!crash_run(n, &w));
		ck_assert_uint_eq(w, n);
	}
}
END_TEST

/* A new map: the superblock reserved, the map describes itself. */
START_TEST(test_create)
{
	struct fx f;
	struct meta_sm_root root;
	uint8_t sb[UB_BLOCK_SIZE];
	uint32_t *want;
	uint8_t *mark;
	uint64_t nr = 3 * EPB + 100;
	memset(&f, 0, sizeof(f));
	ub_tmpfile(f.path, "sm_tx", nr * UB_BLOCK_SIZE);
	fx_open_bm(&f);
	ck_assert_int_eq(meta_sm_tx_create(f.bm, META_SM_METADATA, nr, 1, &f.s), 0);
	ck_assert_uint_eq(meta_sm_tx_nr_free(f.s), nr - 1);
	f.space = meta_sm_tx_space(f.s);
	ck_assert_int_eq(meta_tm_create(f.bm, &f.space, &f.tm), 0);
	ck_assert_int_eq(meta_sm_tx_commit(f.s, f.tm, &root), 0);
	ck_assert_int_eq(meta_tm_pre_commit(f.tm), 0);
	memset(sb, 0, sizeof(sb));
	ck_assert_int_eq(meta_tm_commit(f.tm, 0, &sb_v, sb), 0);
	meta_sm_tx_committed(f.s);
	want = calloc(nr, sizeof(*want));
	mark = calloc(nr, 1);
	map_blocks(f.bm, &root, mark, nr);
	for (uint64_t b = 0; b < nr; b++)
		want[b] = b == 0 || mark[b];
	/* four bitmaps, the index block, an empty ref-count tree: right after the superblock */
	for (uint64_t b = 1; b <= 6; b++)
		ck_assert_uint_eq(mark[b], 1);
	check_on_disk(f.bm, &root, want, nr);
	free(want);
	free(mark);
	meta_tm_destroy(f.tm);
	meta_sm_tx_close(f.s);
	meta_bm_destroy(f.bm);
	unlink(f.path);
}
END_TEST

/* Growing the map: new bitmaps at commit, new blocks free; then used. */
START_TEST(test_extend)
{
	struct fx f;
	fx_init(&f, 3 * EPB, EPB + 10, 5000, 55);
	f.small_only = true;
	fx_open_map(&f);
	for (int i = 0; i < 500; i++)
		one_op(&f);
	ck_assert_int_eq(meta_sm_tx_extend(f.s, EPB), 0);
	f.nr += EPB;
	check_all_counts(&f);
	fx_commit(&f);
	ck_assert_int_eq(meta_sm_tx_extend(f.s, EPB - 10), 0);
	f.nr += EPB - 10;
	for (int i = 0; i < 3000; i++)
		one_op(&f);
	fx_commit(&f);
	/* past the largest map an index block can describe */
	ck_assert_int_eq(meta_sm_tx_extend(f.s, META_SM_METADATA_MAX_BLOCKS), META_E_RANGE);
	fx_done(&f);
}
END_TEST

/* Errors: out of range, dec of a free block. */
START_TEST(test_errors)
{
	struct fx f;
	uint32_t c;
	uint64_t b;
	fx_init(&f, 1000, 1000, 500, 9);
	fx_open_map(&f);
	ck_assert_int_eq(meta_sm_tx_count(f.s, 1000, &c), META_E_RANGE);
	ck_assert_int_eq(meta_sm_tx_inc(f.s, 1000), META_E_RANGE);
	ck_assert_int_eq(meta_sm_tx_dec(f.s, 5000), META_E_RANGE);
	for (b = 1; f.cur[b] || f.is_map[b]; b++)
		;
	ck_assert_int_eq(meta_sm_tx_dec(f.s, b), META_E_CORRUPT);
	check_all_counts(&f);
	fx_done(&f);
}
END_TEST


/*
 * A disk (data) map and the metadata map, both new: random changes of the data counts (some
 * above 2: the ref-count tree) against a model, each commit read back; the metadata map
 * counts the superblock and the blocks of both maps, once each.
 */
/* A file of mb metadata blocks holding a new metadata map (md, which gives tm its space) and
 * a new data map of nd blocks (dd). */
static void maps_create(char *path, uint64_t mb, uint64_t nd, struct meta_bm **bm,
			struct meta_sm_tx **md, struct meta_sm_tx **dd, struct meta_tm **tm)
{
	struct meta_io *io;
	struct meta_tm_space sp;
	ub_tmpfile(path, "sm_tx", mb * UB_BLOCK_SIZE);
	ck_assert_int_eq(meta_io_open(path, META_IO_WRITE, &io), 0);
	ck_assert_int_eq(meta_bm_create(io, 64, bm), 0);
	ck_assert_int_eq(meta_sm_tx_create(*bm, META_SM_METADATA, mb, 1, md), 0);
	ck_assert_int_eq(meta_sm_tx_create(*bm, META_SM_DISK, nd, 0, dd), 0);
	sp = meta_sm_tx_space(*md);
	ck_assert_int_eq(meta_tm_create(*bm, &sp, tm), 0);
}

/* Commit the data map dd and the metadata map md through tm, with a blank superblock. */
static void commit_both(struct meta_sm_tx *dd, struct meta_sm_tx *md, struct meta_tm *tm,
			struct meta_sm_root *droot, struct meta_sm_root *mroot)
{
	uint8_t sb[UB_BLOCK_SIZE];
	ck_assert_int_eq(meta_sm_tx_commit(dd, tm, droot), 0);
	ck_assert_int_eq(meta_sm_tx_commit(md, tm, mroot), 0);
	ck_assert_int_eq(meta_tm_pre_commit(tm), 0);
	memset(sb, 0, sizeof(sb));
	ck_assert_int_eq(meta_tm_commit(tm, 0, &sb_v, sb), 0);
	meta_sm_tx_committed(dd);
	meta_sm_tx_committed(md);
}

static void disk_case(uint64_t seed, unsigned rounds, unsigned ops, uint64_t nd)
{
	char path[UB_PATH_MAX];
	const uint64_t mb = 3000;
	uint64_t dbegin = 0, grow = EPB + 5;
	struct meta_bm *bm;
	struct meta_sm_tx *md, *dd;
	struct meta_tm *tm;
	struct meta_sm_root mroot, droot;
	uint32_t *cur, *com, *mwant = calloc(mb, sizeof(*mwant));
	uint8_t *mark = calloc(mb, 1);

	ub_rnd_state = seed * 0x9e3779b97f4a7c15ull + 7;
	cur = calloc(nd + grow, sizeof(*cur));
	com = calloc(nd + grow, sizeof(*com));
	ck_assert(cur && com && mwant && mark);
	maps_create(path, mb, nd, &bm, &md, &dd, &tm);
	for (unsigned t = 0; t < rounds; t++) {
		if (t == rounds / 2) {
			ck_assert_int_eq(meta_sm_tx_extend(dd, grow), 0);
			nd += grow;
		}
		for (unsigned i = 0; i < ops; i++) {
			uint64_t x = ub_rnd_below(100), b = ub_rnd_below(nd);
			uint32_t c;
			if (x < 35) {
				/* mostly blocks in use: counts climb past 2 */
				if (!cur[b] && ub_rnd_below(4))
					continue;
				ck_assert_int_eq(meta_sm_tx_inc(dd, b), 0);
				cur[b]++;
			} else if (x < 60) {
				if (!cur[b])
					continue;
				ck_assert_int_eq(meta_sm_tx_dec(dd, b), 0);
				cur[b]--;
			} else if (x < 90) {
				uint64_t want = UINT64_MAX;
				for (uint64_t k = 0; k < nd && want == UINT64_MAX; k++) {
					uint64_t y = (dbegin + k) % nd;
					if (!cur[y] && !com[y])
						want = y;
				}
				if (want == UINT64_MAX) {
					ck_assert_int_eq(meta_sm_tx_alloc(dd, &b), META_E_NOSPC);
					continue;
				}
				ck_assert_int_eq(meta_sm_tx_alloc(dd, &b), 0);
				ck_assert_uint_eq(b, want);
				cur[b] = 1;
				dbegin = b + 1;
			} else {
				ck_assert_int_eq(meta_sm_tx_count(dd, b, &c), 0);
				ck_assert_uint_eq(c, cur[b]);
			}
		}
		commit_both(dd, md, tm, &droot, &mroot);
		check_map(bm, META_SM_DISK, &droot, cur, nd);
		memcpy(com, cur, nd * sizeof(*cur));
		memset(mark, 0, mb);
		mark[0] = 1;
		add_map_blocks(bm, META_SM_METADATA, &mroot, mark, mb);
		add_map_blocks(bm, META_SM_DISK, &droot, mark, mb);
		for (uint64_t b = 0; b < mb; b++)
			mwant[b] = mark[b];
		check_map(bm, META_SM_METADATA, &mroot, mwant, mb);
	}
	if ((nd + EPB - 1) / EPB > meta_btree_max_entries(sizeof(struct disk_index_entry))) {
		const void *node;
		struct meta_node_info ni;
		ck_assert_int_eq(meta_bm_get(bm, droot.bitmap_root, &meta_node_validator, &node), 0);
		meta_node_get_info(node, &ni);
		meta_bm_put(bm, node);
		ck_assert_uint_eq(ni.flags & META_NODE_INTERNAL, META_NODE_INTERNAL);
	}
	/* reopened from the roots: the same counts */
	meta_tm_destroy(tm);
	meta_sm_tx_close(dd);
	meta_sm_tx_close(md);
	ck_assert_int_eq(meta_sm_tx_open(bm, META_SM_DISK, &droot, &dd), 0);
	for (uint64_t b = 0; b < nd; b++) {
		uint32_t c;
		ck_assert_int_eq(meta_sm_tx_count(dd, b, &c), 0);
		ck_assert_uint_eq(c, cur[b]);
	}
	meta_sm_tx_close(dd);
	meta_bm_destroy(bm);
	unlink(path);
	free(cur);
	free(com);
	free(mwant);
	free(mark);
}

START_TEST(test_disk_map)
{
	unsigned seeds = nr_seeds(3);
	for (unsigned seed = 1; seed <= seeds; seed++)
		disk_case(seed, 6, 20000, 2 * EPB + 17);
}
END_TEST

/* A disk map of 190 bitmaps and more: its index tree has internal nodes. */
START_TEST(test_disk_map_big)
{
	disk_case(99, 3, 20000, 189 * EPB + 3);
}
END_TEST

/*
 * Counts read back by meta_sm_read_counts(), which keeps the ref-count tree's entries packed
 * (a byte for a key 1-15 past the last with a count up to 15, else varints): counts at each
 * edge of the packing (15/16, 127/128, 16383/16384, 2^32 - 1) and keys 1, 15, 16, 128, 2^14
 * and (twice) 2^21 apart.
 */
START_TEST(test_disk_map_counts_packed)
{
	static const uint32_t counts[] = {3,     15,    16,        127,       128,
					  16383, 16384, 1u << 31, UINT32_MAX, 4};
	static const uint64_t gaps[] = {1, 15, 16, 128, 1u << 14, 1u << 21, 2, 3};
	const uint64_t nd = 3u << 21, mb = 3000;
	char path[UB_PATH_MAX];
	struct meta_bm *bm;
	struct meta_sm_tx *md, *dd;
	struct meta_tm *tm;
	struct meta_sm_root mroot, droot;
	uint32_t *want = calloc(nd, sizeof(*want));
	ck_assert_ptr_nonnull(want);
	maps_create(path, mb, nd, &bm, &md, &dd, &tm);
	/* every count after every gap, and runs of small counts between (one-byte entries) */
	uint64_t b = 5;
	for (size_t g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++)
		for (size_t k = 0; k < (gaps[g] >> 21 ? 2 : sizeof(counts) / sizeof(counts[0])); k++) {
			want[b] = counts[k];
			for (uint64_t r = 1; r <= 40 && b + r < nd; r++)
				want[b + r] = 3 + (uint32_t)(r % 13);
			b += 40 + gaps[g];
		}
	ck_assert_uint_lt(b, nd);
	for (b = 0; b < nd; b++)
		if (want[b])
			ck_assert_int_eq(meta_sm_tx_set(dd, b, want[b]), 0);
	commit_both(dd, md, tm, &droot, &mroot);
	check_map(bm, META_SM_DISK, &droot, want, nd);
	meta_tm_destroy(tm);
	meta_sm_tx_close(dd);
	meta_sm_tx_close(md);
	meta_bm_destroy(bm);
	unlink(path);
	free(want);
}
END_TEST

/* Commits of the metadata map with counts above 2 on the user's side (its ref-count tree). */
START_TEST(test_commit_big)
{
	unsigned seeds = nr_seeds(3);
	for (unsigned seed = 1; seed <= seeds; seed++) {
		struct fx f;
		fx_init(&f, 40000, 40000, 20000, 200 + seed);
		fx_open_map(&f);
		commit_rounds(&f, 4000);
		reopen_and_check(&f);
		fx_done(&f);
	}
}
END_TEST

/* ---- a thin pool ------------------------------------------------------------------ */

static void pool_damage(void *ctx, const struct meta_damage *d)
{
	(void)ctx;
	fprintf(stderr, "thin_check: %s %s [%llu, %llu) block %llu\n", meta_damage_name(d->kind),
		d->detail ? d->detail : "", (unsigned long long)d->begin, (unsigned long long)d->end,
		(unsigned long long)d->block);
}

/* Run our thin_check on the pool at path: clean, or (!clean) not. */
static void pool_check_is(const char *path, bool clean)
{
	struct meta_thin *t;
	struct meta_thin_open_opts oo = {0};
	struct meta_thin_check_opts o = {.damage = clean ? pool_damage : NULL};
	struct meta_thin_check_result r;
	ck_assert_int_eq(meta_thin_open(path, &oo, &t), 0);
	ck_assert_int_eq(meta_thin_check(t, &o, &r), 0);
	meta_thin_close(t);
	ck_assert(r.space_maps_checked);
	if (!clean) {
		ck_assert_uint_gt(r.metadata_leaked + r.metadata_bad + r.data_leaked + r.data_bad, 0);
		return;
	}
	ck_assert_int_eq(r.worst, -1);
	ck_assert_uint_eq(r.metadata_leaked + r.metadata_bad + r.data_leaked + r.data_bad, 0);
}

static void pool_check(const char *path)
{
	pool_check_is(path, true);
}

/*
 * Two more references on up to n live blocks (over, *nover: counts now above 2, in the
 * ref-count tree), or (back) two fewer on those of the last call.  (A block of the map
 * itself that is over-counted looks shared to the tm: its commit copies it, and the old
 * block keeps two references until they are put back.)
 */
static void overcount(struct meta_sm_tx *s, uint64_t *over, unsigned *nover, unsigned n, bool back)
{
	if (back) {
		for (unsigned i = 0; i < *nover; i++) {
			ck_assert_int_eq(meta_sm_tx_dec(s, over[i]), 0);
			ck_assert_int_eq(meta_sm_tx_dec(s, over[i]), 0);
		}
		*nover = 0;
		return;
	}
	*nover = 0;
	for (unsigned i = 0; i < 20 * n && *nover < n; i++) {
		uint64_t b = ub_rnd_below(meta_sm_tx_nr_blocks(s));
		uint32_t c;
		bool dup = false;
		ck_assert_int_eq(meta_sm_tx_count(s, b, &c), 0);
		for (unsigned j = 0; j < *nover; j++)
			dup |= over[j] == b;
		if (!c || dup)
			continue;
		ck_assert_int_eq(meta_sm_tx_inc(s, b), 0);
		ck_assert_int_eq(meta_sm_tx_inc(s, b), 0);
		over[(*nover)++] = b;
	}
}

/*
 * Changes that leave every count as the pool's trees need it: blocks allocated and freed
 * again, live blocks inc'd and dec'd back.  Returns how many blocks it allocated.
 */
static unsigned churn(struct meta_sm_tx *s, unsigned n)
{
	uint64_t *got = malloc(n * sizeof(*got)), nr = meta_sm_tx_nr_blocks(s);
	unsigned k = 0;
	ck_assert_ptr_nonnull(got);
	for (unsigned i = 0; i < n; i++) {
		uint64_t b = ub_rnd_below(nr);
		uint32_t c;
		if (meta_sm_tx_alloc(s, &got[k]) == 0)
			k++;
		ck_assert_int_eq(meta_sm_tx_count(s, b, &c), 0);
		if (c) { /* a live block: one reference more, then one less */
			ck_assert_int_eq(meta_sm_tx_inc(s, b), 0);
			ck_assert_int_eq(meta_sm_tx_dec(s, b), 0);
		}
	}
	for (unsigned i = 0; i < k; i++)
		ck_assert_int_eq(meta_sm_tx_dec(s, got[i]), 0);
	free(got);
	return k;
}

/* Two maps of the pool at path: three transactions of churn, each checked. */
static void pool_case(const char *path)
{
	struct meta_io *io;
	struct meta_bm *bm;
	struct meta_sm_tx *md, *dd = NULL;
	struct meta_tm_space sp;
	struct meta_tm *tm;
	struct meta_thin_sb sb;
	const void *raw;
	uint8_t blk[UB_BLOCK_SIZE];

	pool_check(path);
	ck_assert_int_eq(meta_io_open(path, META_IO_WRITE, &io), 0);
	ck_assert_int_eq(meta_bm_create(io, 64, &bm), 0);
	ck_assert_int_eq(meta_bm_get(bm, 0, &meta_thin_sb_validator, &raw), 0);
	meta_thin_sb_unpack(raw, &sb);
	meta_bm_put(bm, raw);
	ck_assert_int_eq(meta_sm_tx_open(bm, META_SM_METADATA, &sb.metadata_sm, &md), 0);
	ck_assert_int_eq(meta_sm_tx_open(bm, META_SM_DISK, &sb.data_sm, &dd), 0);
	sp = meta_sm_tx_space(md);
	ck_assert_int_eq(meta_tm_create(bm, &sp, &tm), 0);
	uint64_t mover[8], dover[8];
	unsigned nmover = 0, ndover = 0;
	for (int t = 0; t < 4; t++) {
		/* the counts of untouched blocks are the committed map's */
		for (int i = 0; i < 50; i++) {
			uint64_t b = ub_rnd_below(sb.metadata_sm.nr_blocks);
			uint32_t c, want;
			ck_assert_int_eq(meta_sm_tx_count(md, b, &c), 0);
			ck_assert_int_eq(meta_sm_get_count(bm, META_SM_METADATA, &sb.metadata_sm, b, &want), 0);
			ck_assert_uint_eq(c, want);
		}
		churn(md, 300);
		churn(dd, 300);
		/* transaction 1 over-counts a few blocks (ref-count tree entries), 2 puts them back */
		if (t == 1 || t == 2) {
			overcount(md, mover, &nmover, 8, t == 2);
			overcount(dd, dover, &ndover, 8, t == 2);
		}
		ck_assert_int_eq(meta_sm_tx_commit(dd, tm, &sb.data_sm), 0);
		ck_assert_int_eq(meta_sm_tx_commit(md, tm, &sb.metadata_sm), 0);
		ck_assert_int_eq(meta_tm_pre_commit(tm), 0);
		meta_thin_sb_pack(&sb, blk);
		ck_assert_int_eq(meta_tm_commit(tm, 0, &meta_thin_sb_validator, blk), 0);
		meta_sm_tx_committed(md);
		meta_sm_tx_committed(dd);
		pool_check_is(path, t != 1);
	}
	meta_tm_destroy(tm);
	meta_sm_tx_close(md);
	meta_sm_tx_close(dd);
	meta_bm_destroy(bm);
}

/* A fixture's XML restored by our bulk builder into an image of blocks blocks. */
static void restore_xml(const char *xml, uint64_t blocks, char *path)
{
	struct meta_thin_restorer *r;
	struct meta_thin_emitter e;
	char err[256] = "";
	FILE *in = fopen(ub_fixture(xml), "r");
	int rc;
	ck_assert_ptr_nonnull(in);
	ub_tmpfile(path, "sm_tx", blocks * UB_BLOCK_SIZE);
	ck_assert_int_eq(meta_thin_restorer_create(path, NULL, &r), 0);
	e = meta_thin_restorer_emitter(r);
	rc = meta_thin_xml_parse(in, &e, meta_thin_restorer_message, err, sizeof(err));
	fclose(in);
	ck_assert_msg(rc == 0, "%s: %s", xml, err);
	ck_assert_int_eq(meta_thin_restorer_commit(r), 0);
	meta_thin_restorer_destroy(r);
}

/*
 * Pools built by our thin_restore, by tpt's (0.9; 1.1 for shared leaves) and by the kernel:
 * both maps changed, committed, checked.
 */
START_TEST(test_pool)
{
	static const char *const bins[] = {"thin/snaps.bin.gz", "thin/shared-leaves.bin.gz",
					   "thin/kernel-deleted.bin.gz", "thin/many.bin.gz"};
	static const struct {
		const char *xml;
		uint64_t blocks;
	} xmls[] = {{"thin/snaps.xml", 256}, {"thin/many.xml", 1024}};
	char path[UB_PATH_MAX];
	ub_rnd_state = 12345;
	for (size_t i = 0; i < sizeof(bins) / sizeof(bins[0]); i++) {
		ub_fixture_gunzip(bins[i], path, "sm_tx");
		pool_case(path);
		unlink(path);
	}
	for (size_t i = 0; i < sizeof(xmls) / sizeof(xmls[0]); i++) {
		restore_xml(xmls[i].xml, xmls[i].blocks, path);
		pool_case(path);
		unlink(path);
	}
}
END_TEST

/* Damaged maps are refused with an error, never trusted: a bad root, index, bitmap. */
START_TEST(test_damage)
{
	struct fx f;
	struct meta_sm_root bad;
	struct meta_sm_index_entry *ie;
	struct meta_sm_tx *s;
	uint8_t blk[UB_BLOCK_SIZE];
	uint64_t nie, bitmap1, b;
	uint32_t c;
	fx_init(&f, 3 * EPB, 3 * EPB, 3 * EPB - 300, 5);
	bad = f.root;
	bad.bitmap_root = 0;
	ck_assert_int_eq(meta_sm_tx_open(f.bm, META_SM_METADATA, &bad, &s), META_E_CORRUPT);
	bad = f.root;
	bad.nr_allocated = bad.nr_blocks + 1;
	ck_assert_int_eq(meta_sm_tx_open(f.bm, META_SM_METADATA, &bad, &s), META_E_CORRUPT);
	bad = f.root;
	bad.nr_blocks = META_SM_METADATA_MAX_BLOCKS + 1;
	ck_assert_int_eq(meta_sm_tx_open(f.bm, META_SM_METADATA, &bad, &s), META_E_CORRUPT);
	ck_assert_int_eq(meta_sm_read_index(f.bm, META_SM_METADATA, &f.root, &ie, &nie), 0);
	bitmap1 = ie[1].blocknr;
	free(ie);
	/* a bitmap gone bad: counts in it cannot be read, the others can */
	meta_bm_destroy(f.bm);
	ub_read_block(f.path, bitmap1, blk);
	blk[100] ^= 1;
	ub_write_block(f.path, bitmap1, blk);
	fx_open_bm(&f);
	ck_assert_int_eq(meta_sm_tx_open(f.bm, META_SM_METADATA, &f.root, &f.s), 0);
	ck_assert_int_eq(meta_sm_tx_count(f.s, EPB + 5, &c), META_E_CHECKSUM);
	ck_assert_int_eq(meta_sm_tx_inc(f.s, EPB + 5), META_E_CHECKSUM);
	ck_assert_int_eq(meta_sm_tx_count(f.s, 5, &c), 0);
	ck_assert_uint_eq(c, f.cur[5]);
	/* the allocator reaches it once the first bitmap is full */
	for (;;) {
		int r = meta_sm_tx_alloc(f.s, &b);
		if (r) {
			ck_assert_int_eq(r, META_E_CHECKSUM);
			break;
		}
		ck_assert_uint_lt(b, EPB);
	}
	meta_sm_tx_close(f.s);
	f.s = NULL;
	/* the index block gone bad: the map does not open */
	meta_bm_destroy(f.bm);
	ub_read_block(f.path, f.root.bitmap_root, blk);
	blk[200] ^= 1;
	ub_write_block(f.path, f.root.bitmap_root, blk);
	fx_open_bm(&f);
	ck_assert_int_ne(meta_sm_tx_open(f.bm, META_SM_METADATA, &f.root, &s), 0);
	fx_done(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sm_tx");
	TCase *tc = ub_tcase(s, "counts", 60);
	tcase_add_test(tc, test_counts_no_commit);
	tcase_add_test(tc, test_alloc_order);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_damage);
	tc = ub_tcase(s, "commit", 60);
	tcase_add_test(tc, test_commit_small);
	tcase_add_test(tc, test_create);
	tcase_add_test(tc, test_extend);
	tcase_add_test(tc, test_commit_big);
	tcase_add_test(tc, test_map_block_shared);
	tcase_add_test(tc, test_crash);
	tcase_add_test(tc, test_disk_map);
	tcase_add_test(tc, test_disk_map_big);
	tcase_add_test(tc, test_disk_map_counts_packed);
	tc = ub_tcase(s, "pool", 60);
	tcase_add_test(tc, test_pool);
	return ub_run(s);
}

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of meta_thin_check() (libmeta/thin/thin_check.c) on damaged images.
 *
 * Images are the fixtures fixtures/thin/NAME.bin.gz (found through $SRCDIR, else the
 * current directory or its parents), uncompressed into a temporary file and then damaged
 * block by block here: btree values edited and restamped with the library's validators,
 * space-map bitmap entries rewritten.  Each test checks the damage records (kind,
 * severity, block, device, key range) and the result counters.
 */
#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/bm.h>
#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/sm.h>
#include <libmeta/thin.h>
#include <libmeta/thin_check.h>

#include "base/endian.h"
#include "pdata/ondisk.h"
#include "unit_base.h"

#define BS 4096u
#define NONE UINT64_MAX

static char path[UB_PATH_MAX];
static int fd = -1;

/* ---- fixtures -------------------------------------------------------------- */

static void load(const char *name)
{
	char rel[128];
	snprintf(rel, sizeof(rel), "thin/%s.bin.gz", name);
	ub_fixture_gunzip(rel, path, "thin_check");
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
}

static void teardown(void)
{
	if (fd >= 0) {
		close(fd);
		unlink(path);
		fd = -1;
	}
}

/* ---- raw block access ------------------------------------------------------- */

static void rd(uint64_t b, uint8_t *p)
{
	ck_assert_int_eq(pread(fd, p, BS, (off_t)(b * BS)), (ssize_t)BS);
}

static void wr(uint64_t b, uint8_t *p, const struct meta_validator *v)
{
	if (v)
		v->prepare(v, p, b);
	ck_assert_int_eq(pwrite(fd, p, BS, (off_t)(b * BS)), (ssize_t)BS);
}

/* The superblock as it is on disk now; SB64(f) is its le64 field f. */
static struct disk_thin_sb sb_now(void)
{
	uint8_t p[BS];
	struct disk_thin_sb sb;
	rd(0, p);
	memcpy(&sb, p, sizeof(sb));
	return sb;
}
#define SB64(f) le64_get(sb_now().f)

static uint64_t data_nr_blocks(void)
{
	struct disk_thin_sb sb = sb_now();
	struct disk_sm_root dsm;
	memcpy(&dsm, sb.data_space_map_root, sizeof(dsm));
	return le64_get(dsm.nr_blocks);
}

/* Value of key in the one-level tree at root (leaf block in *leaf, entry in *idx). */
static void find_key(uint64_t root, uint64_t key, uint64_t *leaf, uint32_t *idx)
{
	uint8_t n[BS];
	uint64_t b = root;
	for (;;) {
		rd(b, n);
		uint32_t nr = ub_node_nr(n);
		if (ub_node_flags(n) & META_NODE_LEAF) {
			for (uint32_t i = 0; i < nr; i++)
				if (get_le64p(ub_node_key(n, i)) == key) {
					*leaf = b;
					*idx = i;
					return;
				}
			ck_abort_msg("key %" PRIu64 " not found", key);
		}
		uint32_t i = 0;
		while (i + 1 < nr && get_le64p(ub_node_key(n, i + 1)) <= key)
			i++;
		b = get_le64p(ub_node_value(n, i));
	}
}

static uint64_t dev_root(uint64_t dev)
{
	uint64_t leaf;
	uint32_t i;
	uint8_t n[BS];
	find_key(SB64(data_mapping_root), dev, &leaf, &i);
	rd(leaf, n);
	return get_le64p(ub_node_value(n, i));
}

static uint64_t first_child(uint64_t b)
{
	uint8_t n[BS];
	rd(b, n);
	ck_assert(ub_node_flags(n) & META_NODE_INTERNAL);
	return get_le64p(ub_node_value(n, 0));
}

/* Space-map bitmap entry of block b (bitmap block from the index). */
static uint64_t bitmap_of(enum meta_sm_kind kind, uint64_t b)
{
	struct meta_thin *t;
	struct meta_sm_index_entry *ents;
	uint64_t n;
	ck_assert_int_eq(meta_thin_open(path, NULL, &t), 0);
	const struct meta_thin_sb *sb = meta_thin_live_sb(t);
	ck_assert_int_eq(meta_sm_read_index(meta_thin_bm(t), kind,
					    kind == META_SM_DISK ? &sb->data_sm : &sb->metadata_sm,
					    &ents, &n), 0);
	ck_assert_uint_lt(b / META_SM_ENTRIES_PER_BITMAP, n);
	uint64_t bm = ents[b / META_SM_ENTRIES_PER_BITMAP].blocknr;
	free(ents);
	meta_thin_close(t);
	return bm;
}

static unsigned sm_get(enum meta_sm_kind kind, uint64_t b)
{
	uint8_t p[BS];
	uint32_t i = (uint32_t)(b % META_SM_ENTRIES_PER_BITMAP);
	rd(bitmap_of(kind, b), p);
	return ub_bitmap_get(p, i);
}

static void sm_set(enum meta_sm_kind kind, uint64_t b, unsigned v)
{
	uint8_t p[BS];
	uint64_t bm = bitmap_of(kind, b);
	uint32_t i = (uint32_t)(b % META_SM_ENTRIES_PER_BITMAP);
	ck_assert_uint_lt(v, 3);
	rd(bm, p);
	ub_bitmap_set(p, i, v);
	wr(bm, p, &meta_bitmap_validator);
}

static uint64_t first_with(enum meta_sm_kind kind, unsigned want, uint64_t from)
{
	for (uint64_t b = from;; b++)
		if (sm_get(kind, b) == want)
			return b;
}

/* ---- running the check -------------------------------------------------------- */

#define MAXD 512
static struct meta_damage dmg[MAXD];
static unsigned nd;
static int phases[16];
static unsigned nphases;

static void on_damage(void *ctx, const struct meta_damage *d)
{
	(void)ctx;
	if (nd < MAXD) {
		dmg[nd] = *d;
		dmg[nd].detail = NULL;
		nd++;
	}
}

static void on_progress(void *ctx, enum meta_thin_check_phase p, uint64_t done, uint64_t total)
{
	(void)ctx;
	(void)total;
	if (done == 0 && nphases < 16 && (nphases == 0 || phases[nphases - 1] != (int)p))
		phases[nphases++] = (int)p;
}

static struct meta_thin_check_result run_opts(unsigned open_flags, bool sb_only, bool skip)
{
	struct meta_thin *t;
	struct meta_thin_open_opts oo = {.flags = open_flags};
	struct meta_thin_check_opts o = {.super_block_only = sb_only, .skip_mappings = skip,
					 .damage = on_damage, .progress = on_progress};
	struct meta_thin_check_result r;
	nd = 0;
	nphases = 0;
	ck_assert_int_eq(meta_thin_open(path, &oo, &t), 0);
	ck_assert_int_eq(meta_thin_check(t, &o, &r), 0);
	meta_thin_close(t);
	return r;
}

static struct meta_thin_check_result run(void)
{
	return run_opts(0, false, false);
}

static const struct meta_damage *find_dmg(enum meta_damage_kind k)
{
	for (unsigned i = 0; i < nd; i++)
		if (dmg[i].kind == k)
			return &dmg[i];
	return NULL;
}

static unsigned count_dmg(enum meta_damage_kind k)
{
	unsigned n = 0;
	for (unsigned i = 0; i < nd; i++)
		n += dmg[i].kind == k;
	return n;
}

static void dump_dmg(void)
{
	for (unsigned i = 0; i < nd; i++)
		fprintf(stderr, "  %s block %" PRIu64 " dev %" PRIu64 " [%" PRIu64 ",%" PRIu64
			") n %" PRIu64 "\n", meta_damage_name(dmg[i].kind), dmg[i].block,
			dmg[i].dev_id, dmg[i].begin, dmg[i].end, dmg[i].count);
}

/* ---- tests ------------------------------------------------------------------ */

START_TEST(test_clean_fixtures)
{
	static const char *const names[] = {"empty", "one-thin", "snaps", "many"};
	static const uint64_t devs[] = {0, 1, 4, 64};
	static const uint64_t free_md[] = {54, 53, 234, 816};
	load(names[_i]);
	struct meta_thin_check_result r = run();
	if (r.worst != -1)
		dump_dmg();
	ck_assert_int_eq(r.worst, -1);
	ck_assert_uint_eq(nd, 0);
	ck_assert_uint_eq(r.nr_devices, devs[_i]);
	ck_assert_uint_eq(r.metadata_free_blocks, free_md[_i]);
	ck_assert(r.space_maps_checked);
	ck_assert_uint_eq(r.metadata_leaked + r.metadata_bad + r.data_leaked + r.data_bad, 0);
	ck_assert_int_eq(nphases, 5);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(phases[i], i);
	if (_i == 1)
		ck_assert_uint_eq(r.nr_mappings, 106);
}
END_TEST

START_TEST(test_leaf_checksum)
{
	load("many");
	uint64_t leaf = first_child(dev_root(0));
	uint8_t p[BS];
	rd(leaf, p);
	p[0] ^= 0xff;
	wr(leaf, p, NULL);
	struct meta_thin_check_result r = run();
	ck_assert_int_eq(r.worst, META_SEV_FATAL);
	const struct meta_damage *d = find_dmg(META_DMG_NODE_CHECKSUM);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->block, leaf);
	ck_assert_uint_eq(d->dev_id, 0);
	ck_assert_uint_eq(d->begin, 0);
	ck_assert_uint_gt(d->end, 0);
	ck_assert_int_eq(d->severity, META_SEV_FATAL);
	/* the lost leaf makes counts lower bounds: no mapped-count or leak noise */
	ck_assert_ptr_null(find_dmg(META_DMG_DEV_MAPPED_COUNT));
	ck_assert_ptr_null(find_dmg(META_DMG_DATA_LEAK));
	ck_assert_ptr_null(find_dmg(META_DMG_DATA_BAD_COUNT));
	ck_assert_ptr_null(find_dmg(META_DMG_META_LEAK));
	ck_assert_uint_eq(nd, 1);
}
END_TEST

START_TEST(test_key_order_and_blocknr)
{
	load("many");
	uint64_t leaf = first_child(dev_root(2));
	uint8_t p[BS];
	rd(leaf, p);
	uint64_t k0 = get_le64p(ub_node_key(p, 0)), k1 = get_le64p(ub_node_key(p, 1));
	put_le64p(ub_node_key(p, 0), k1);
	put_le64p(ub_node_key(p, 1), k0);
	wr(leaf, p, &meta_node_validator);
	struct meta_thin_check_result r = run();
	ck_assert_int_eq(r.worst, META_SEV_FATAL);
	const struct meta_damage *d = find_dmg(META_DMG_NODE_KEY_ORDER);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->block, leaf);
	ck_assert_uint_eq(d->dev_id, 2);

	/* a node that names the wrong location */
	uint64_t leaf3 = first_child(dev_root(3));
	rd(leaf3, p);
	wr(leaf3, p, NULL);
	((struct disk_node_header *)p)->blocknr = le64_of(leaf3 + 1);
	meta_node_validator.prepare(&meta_node_validator, p, leaf3 + 1);
	wr(leaf3, p, NULL);
	r = run();
	d = find_dmg(META_DMG_NODE_BLOCKNR);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->block, leaf3);
	ck_assert_uint_eq(d->dev_id, 3);
}
END_TEST

START_TEST(test_metadata_leak)
{
	load("many");
	uint64_t b = first_with(META_SM_METADATA, 0, 1);
	sm_set(META_SM_METADATA, b, 1);
	struct meta_thin_check_result r = run();
	ck_assert_int_eq(r.worst, META_SEV_NONFATAL);
	ck_assert_uint_eq(nd, 1);
	ck_assert_int_eq(dmg[0].kind, META_DMG_META_LEAK);
	ck_assert_int_eq(dmg[0].severity, META_SEV_NONFATAL);
	ck_assert_uint_eq(dmg[0].block, b);
	ck_assert_uint_eq(dmg[0].count, 1);
	ck_assert_uint_eq(r.metadata_leaked, 1);
	ck_assert_uint_eq(r.nr_damage[META_SEV_NONFATAL], 1);
	ck_assert_uint_eq(r.nr_damage[META_SEV_FATAL], 0);
}
END_TEST

START_TEST(test_metadata_missing_ref)
{
	load("many");
	uint64_t leaf = first_child(dev_root(5));
	ck_assert_uint_eq(sm_get(META_SM_METADATA, leaf), 1);
	sm_set(META_SM_METADATA, leaf, 0);
	struct meta_thin_check_result r = run();
	ck_assert_int_eq(r.worst, META_SEV_FATAL);
	ck_assert_uint_eq(nd, 1);
	ck_assert_int_eq(dmg[0].kind, META_DMG_META_BAD_COUNT);
	ck_assert_uint_eq(dmg[0].block, leaf);
	ck_assert_uint_eq(r.metadata_bad, 1);
}
END_TEST

START_TEST(test_data_leak_and_missing_ref)
{
	load("many");
	uint64_t fb = first_with(META_SM_DISK, 0, 0);
	uint64_t ub = first_with(META_SM_DISK, 1, 0);
	sm_set(META_SM_DISK, fb, 1);
	struct meta_thin_check_result r = run();
	ck_assert_int_eq(r.worst, META_SEV_NONFATAL);
	ck_assert_uint_eq(nd, 1);
	ck_assert_int_eq(dmg[0].kind, META_DMG_DATA_LEAK);
	ck_assert_uint_eq(dmg[0].begin, fb);
	ck_assert_uint_eq(r.data_leaked, 1);

	sm_set(META_SM_DISK, ub, 0);
	r = run();
	ck_assert_int_eq(r.worst, META_SEV_FATAL);
	const struct meta_damage *d = find_dmg(META_DMG_DATA_BAD_COUNT);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->begin, ub);
	ck_assert_ptr_nonnull(find_dmg(META_DMG_DATA_LEAK));
	ck_assert_uint_eq(r.data_bad, 1);
}
END_TEST

START_TEST(test_mapping_past_end)
{
	load("one-thin");
	uint64_t root = dev_root(1);
	uint8_t p[BS];
	rd(root, p);
	ck_assert(ub_node_flags(p) & META_NODE_LEAF);
	uint64_t nr_data = data_nr_blocks();
	uint64_t v = get_le64p(ub_node_value(p, 3));
	put_le64p(ub_node_value(p, 3), (nr_data + 5) << 24 | (v & 0xffffff));
	wr(root, p, &meta_node_validator);
	struct meta_thin_check_result r = run();
	ck_assert_int_eq(r.worst, META_SEV_FATAL);
	const struct meta_damage *d = find_dmg(META_DMG_MAPPING_PAST_END);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->block, root);
	ck_assert_uint_eq(d->dev_id, 1);
	ck_assert_uint_eq(d->begin, get_le64p(ub_node_key(p, 3)));
	ck_assert_uint_eq(d->count, 1);
	ck_assert_int_eq(d->severity, META_SEV_FATAL);
}
END_TEST

START_TEST(test_mapped_blocks)
{
	load("many");
	uint64_t leaf;
	uint32_t i;
	uint8_t p[BS];
	find_key(SB64(device_details_root), 7, &leaf, &i);
	rd(leaf, p);
	uint64_t was = get_le64p(ub_node_value(p, i));
	put_le64p(ub_node_value(p, i), was + 1);
	wr(leaf, p, &meta_node_validator);
	struct meta_thin_check_result r = run();
	ck_assert_int_eq(r.worst, META_SEV_FATAL);
	ck_assert_uint_eq(nd, 1);
	ck_assert_int_eq(dmg[0].kind, META_DMG_DEV_MAPPED_COUNT);
	ck_assert_uint_eq(dmg[0].dev_id, 7);
	ck_assert_uint_eq(dmg[0].block, dev_root(7));
}
END_TEST

/* Make device 1 share device 0's tree: dev 1's own tree is then read no more. */
START_TEST(test_shared_subtree_read_once)
{
	load("many");
	struct meta_thin_check_result clean = run();
	uint64_t r0 = dev_root(0), r1 = dev_root(1);
	uint8_t p[BS];
	rd(r1, p);
	ck_assert(ub_node_flags(p) & META_NODE_INTERNAL);
	uint64_t dev1_nodes = 1 + ub_node_nr(p);
	uint64_t leaf;
	uint32_t i;
	find_key(SB64(data_mapping_root), 1, &leaf, &i);
	rd(leaf, p);
	put_le64p(ub_node_value(p, i), r0);
	wr(leaf, p, &meta_node_validator);
	sm_set(META_SM_METADATA, r0, 2); /* two parents now */
	struct meta_thin_check_result r = run();
	ck_assert_uint_eq(clean.nr_nodes - r.nr_nodes, dev1_nodes);
	/* dev 1's old tree is leaked, nothing else is wrong (both devices map 330 blocks) */
	if (r.worst != META_SEV_NONFATAL)
		dump_dmg();
	ck_assert_int_eq(r.worst, META_SEV_NONFATAL);
	const struct meta_damage *d = find_dmg(META_DMG_META_LEAK);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->count, dev1_nodes);
	ck_assert_ptr_nonnull(find_dmg(META_DMG_DATA_LEAK));
	ck_assert_ptr_null(find_dmg(META_DMG_META_BAD_COUNT));
}
END_TEST

START_TEST(test_cycle_terminates)
{
	load("many");
	uint64_t r0 = dev_root(0);
	uint8_t p[BS];
	rd(r0, p);
	put_le64p(ub_node_value(p, 1), r0); /* second child: the node itself */
	wr(r0, p, &meta_node_validator);
	struct meta_thin_check_result r = run();
	ck_assert_int_eq(r.worst, META_SEV_FATAL);
	ck_assert_ptr_null(find_dmg(META_DMG_DEV_MAPPED_COUNT));
	ck_assert_ptr_nonnull(find_dmg(META_DMG_META_BAD_COUNT));
}
END_TEST

/* A metadata snapshot made as reserve_metadata_snap does. */
static uint64_t hold_root(bool count_copy)
{
	uint8_t p[BS];
	struct disk_thin_sb *sb = (struct disk_thin_sb *)p;
	uint64_t copy = first_with(META_SM_METADATA, 0, 1);
	rd(0, p);
	uint64_t mroot = le64_get(sb->data_mapping_root), droot = le64_get(sb->device_details_root);
	sb->held_root = le64_of(0);
	memset(sb->data_space_map_root, 0, sizeof(sb->data_space_map_root));
	memset(sb->metadata_space_map_root, 0, sizeof(sb->metadata_space_map_root));
	wr(copy, p, &meta_thin_sb_validator);
	rd(0, p);
	sb->held_root = le64_of(copy);
	wr(0, p, &meta_thin_sb_validator);
	if (count_copy)
		sm_set(META_SM_METADATA, copy, 1);
	sm_set(META_SM_METADATA, mroot, sm_get(META_SM_METADATA, mroot) + 1);
	sm_set(META_SM_METADATA, droot, sm_get(META_SM_METADATA, droot) + 1);
	return copy;
}

START_TEST(test_held_root)
{
	load("many");
	hold_root(true);
	struct meta_thin_check_result r = run();
	if (r.worst != -1)
		dump_dmg();
	ck_assert_int_eq(r.worst, -1);
	ck_assert_uint_eq(r.nr_devices, 64);

	/* -m: the snapshot's trees, no space maps */
	r = run_opts(META_THIN_OPEN_METADATA_SNAP, false, false);
	ck_assert_int_eq(r.worst, -1);
	ck_assert(!r.space_maps_checked);
	ck_assert_int_eq(nphases, 3); /* superblock, details, mappings */
	ck_assert_uint_eq(r.nr_devices, 64);
}
END_TEST

/*
 * After reserve_metadata_snap the kernel shadows what it changes: a new top-level leaf T'
 * and a new root R' for device 0, both copies.  The old T and R are then reachable only
 * from the held root; every block both versions point at has two parents.
 */
static void shadow_dev0(bool count_children)
{
	uint8_t p[BS];
	uint64_t t = SB64(data_mapping_root), r = dev_root(0);
	uint64_t t2 = first_with(META_SM_METADATA, 0, 1);
	sm_set(META_SM_METADATA, t2, 1);
	uint64_t r2 = first_with(META_SM_METADATA, 0, 1);
	sm_set(META_SM_METADATA, r2, 1);

	rd(r, p); /* R' = copy of R: its children get a second parent */
	ck_assert(ub_node_flags(p) & META_NODE_INTERNAL);
	wr(r2, p, &meta_node_validator);
	for (uint32_t i = 0; count_children && i < ub_node_nr(p); i++) {
		uint64_t ch = get_le64p(ub_node_value(p, i));
		sm_set(META_SM_METADATA, ch, sm_get(META_SM_METADATA, ch) + 1);
	}

	rd(t, p); /* T' = copy of T with device 0 -> R' */
	ck_assert(ub_node_flags(p) & META_NODE_LEAF);
	for (uint32_t i = 0; i < ub_node_nr(p); i++) {
		uint64_t dr = get_le64p(ub_node_value(p, i));
		if (get_le64p(ub_node_key(p, i)) == 0)
			put_le64p(ub_node_value(p, i), r2);
		else
			sm_set(META_SM_METADATA, dr, sm_get(META_SM_METADATA, dr) + 1);
	}
	wr(t2, p, &meta_node_validator);
	sm_set(META_SM_METADATA, t, sm_get(META_SM_METADATA, t) - 1); /* live sb no longer */

	rd(0, p);
	((struct disk_thin_sb *)p)->data_mapping_root = le64_of(t2);
	wr(0, p, &meta_thin_sb_validator);
}

START_TEST(test_held_root_only_trees)
{
	load("many");
	hold_root(true);
	struct meta_thin_check_result before = run();
	ck_assert_int_eq(before.worst, -1);
	shadow_dev0(true);
	struct meta_thin_check_result r = run();
	if (r.worst != -1)
		dump_dmg();
	ck_assert_int_eq(r.worst, -1);
	ck_assert_uint_eq(r.nr_nodes, before.nr_nodes + 2); /* T' and R' */
	/* the snapshot view alone */
	r = run_opts(META_THIN_OPEN_METADATA_SNAP, false, false);
	ck_assert_int_eq(r.worst, -1);
}
END_TEST

START_TEST(test_held_root_only_trees_miscounted)
{
	load("many");
	hold_root(true);
	uint64_t leaf = first_child(dev_root(0));
	shadow_dev0(false); /* children of R/R' keep count 1 */
	struct meta_thin_check_result r = run();
	ck_assert_int_eq(r.worst, META_SEV_FATAL);
	ck_assert_uint_eq(count_dmg(META_DMG_META_BAD_COUNT), 2); /* R's two children */
	const struct meta_damage *d = find_dmg(META_DMG_META_BAD_COUNT);
	ck_assert_uint_eq(d->block, leaf);
	ck_assert_uint_eq(r.metadata_bad, 2);
}
END_TEST

START_TEST(test_held_root_uncounted)
{
	load("many");
	uint64_t copy = hold_root(false);
	struct meta_thin_check_result r = run();
	ck_assert_int_eq(r.worst, META_SEV_FATAL);
	ck_assert_uint_eq(nd, 1);
	ck_assert_int_eq(dmg[0].kind, META_DMG_META_BAD_COUNT);
	ck_assert_uint_eq(dmg[0].block, copy);
}
END_TEST

START_TEST(test_bad_held_root)
{
	load("many");
	uint8_t p[BS];
	struct disk_thin_sb *sb = (struct disk_thin_sb *)p;
	rd(0, p);
	uint64_t droot = le64_get(sb->device_details_root);
	sb->held_root = le64_of(droot);
	wr(0, p, &meta_thin_sb_validator);
	struct meta_thin_check_result r = run();
	ck_assert_int_eq(r.worst, META_SEV_FATAL);
	const struct meta_damage *d = find_dmg(META_DMG_HELD_ROOT);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->block, droot);
	ck_assert_uint_eq(count_dmg(META_DMG_META_BAD_COUNT), 0);
}
END_TEST

START_TEST(test_modes)
{
	load("many");
	uint64_t leaf = first_child(dev_root(0));
	uint8_t p[BS];
	rd(leaf, p);
	p[0] ^= 0xff;
	wr(leaf, p, NULL);
	struct meta_thin_check_result r = run_opts(0, true, false);
	ck_assert_int_eq(r.worst, -1);
	ck_assert_uint_eq(r.nr_nodes, 0);
	ck_assert_int_eq(nphases, 1);
	r = run_opts(0, false, true);
	ck_assert_int_eq(r.worst, -1);
	ck_assert(!r.space_maps_checked);
	ck_assert_int_eq(nphases, 2); /* superblock, details (+ top-level) */
	ck_assert_uint_eq(r.nr_devices, 64);

	/* --skip-mappings still sees a broken details tree */
	uint64_t droot = SB64(device_details_root);
	rd(droot, p);
	p[0] ^= 0xff;
	wr(droot, p, NULL);
	r = run_opts(0, false, true);
	ck_assert_int_eq(r.worst, META_SEV_FATAL);
	ck_assert_ptr_nonnull(find_dmg(META_DMG_NODE_CHECKSUM));
	ck_assert_ptr_null(find_dmg(META_DMG_DEV_NO_DETAILS));
}
END_TEST

START_TEST(test_out_of_range_root)
{
	load("one-thin");
	uint64_t leaf;
	uint32_t i;
	uint8_t p[BS];
	find_key(SB64(data_mapping_root), 1, &leaf, &i);
	rd(leaf, p);
	put_le64p(ub_node_value(p, i), 1ull << 40);
	wr(leaf, p, &meta_node_validator);
	struct meta_thin_check_result r = run();
	ck_assert_int_eq(r.worst, META_SEV_FATAL);
	const struct meta_damage *d = find_dmg(META_DMG_BLOCK_OUT_OF_RANGE);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->block, 1ull << 40);
	ck_assert_uint_eq(d->dev_id, 1);
}
END_TEST

/*
 * A data space map too large to count (nr_blocks past the 2^40 limit): its data counts are
 * not compared, but its index and ref-count trees and bitmaps are still metadata blocks the
 * metadata space map counts, so none of them may show as a leak.
 */
START_TEST(test_huge_data_sm_blocks_counted)
{
	load("many");
	uint8_t p[BS];
	rd(0, p);
	struct disk_thin_sb *sb = (struct disk_thin_sb *)p;
	put_le64p(sb->data_space_map_root, 1ull << 41); /* nr_blocks */
	wr(0, p, &meta_thin_sb_validator);
	struct meta_thin_check_result r = run();
	if (find_dmg(META_DMG_META_LEAK) || find_dmg(META_DMG_META_BAD_COUNT))
		dump_dmg();
	ck_assert_ptr_null(find_dmg(META_DMG_META_LEAK));
	ck_assert_ptr_null(find_dmg(META_DMG_META_BAD_COUNT));
	ck_assert_uint_eq(r.metadata_leaked + r.metadata_bad, 0);
	ck_assert(r.space_maps_checked);
	ck_assert_int_ge(r.worst, META_SEV_NONFATAL); /* the superblock's absurd size */
}
END_TEST

START_TEST(test_phase_names)
{
	ck_assert_str_eq(meta_thin_check_phase_name(META_THIN_CHECK_MAPPINGS), "mapping tree");
	ck_assert_str_eq(meta_thin_check_phase_name(META_THIN_CHECK_METADATA_SM),
			 "metadata space map");
	ck_assert_ptr_null(meta_thin_check_phase_name(META_THIN_CHECK__NR_PHASES));
	ck_assert_int_eq(meta_thin_check(NULL, NULL, NULL), META_E_INVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("thin_check");
	TCase *tc = ub_tcase(s, "check", 60);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_loop_test(tc, test_clean_fixtures, 0, 4);
	tcase_add_test(tc, test_leaf_checksum);
	tcase_add_test(tc, test_key_order_and_blocknr);
	tcase_add_test(tc, test_metadata_leak);
	tcase_add_test(tc, test_metadata_missing_ref);
	tcase_add_test(tc, test_data_leak_and_missing_ref);
	tcase_add_test(tc, test_mapping_past_end);
	tcase_add_test(tc, test_mapped_blocks);
	tcase_add_test(tc, test_shared_subtree_read_once);
	tcase_add_test(tc, test_cycle_terminates);
	tcase_add_test(tc, test_held_root);
	tcase_add_test(tc, test_held_root_only_trees);
	tcase_add_test(tc, test_held_root_only_trees_miscounted);
	tcase_add_test(tc, test_held_root_uncounted);
	tcase_add_test(tc, test_bad_held_root);
	tcase_add_test(tc, test_modes);
	tcase_add_test(tc, test_out_of_range_root);
	tcase_add_test(tc, test_huge_data_sm_blocks_counted);
	tcase_add_test(tc, test_phase_names);
	return ub_run(s);
}

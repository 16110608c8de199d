/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of the thin_dump walker (libmeta/thin/thin_dump.c) and the XML/human writers
 * (libmeta/thin/thin_xml_write.c).  Metadata images are built block by block in memory (btree
 * nodes laid out by hand, checksums stamped with the library's validators), written to a
 * temporary file, opened with meta_thin_open() and dumped into a memory stream.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/bm.h>
#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/thin.h>
#include <libmeta/thin_dump.h>
#include <libmeta/thin_xml.h>

#include "base/endian.h"
#include "unit_base.h"

#define NBLK 64u
#define BS 4096u

static uint8_t img[NBLK][BS];
static char path[UB_PATH_MAX];

/* ---- image builder -------------------------------------------------------- */

static void node(uint64_t b, uint32_t flags, uint32_t vs, uint32_t n, const uint64_t *keys,
		 const void *vals)
{
	ub_node(img[b], flags, vs, UB_MAX, n, keys, vals);
	meta_node_validator.prepare(&meta_node_validator, img[b], b);
}

/* Mapping leaf: n mappings vb[i] -> db[i] with time tm[i] (tm NULL = 0). */
static void map_leaf(uint64_t b, uint32_t n, const uint64_t *vb, const uint64_t *db,
		     const uint32_t *tm)
{
	uint64_t v[256];
	uint8_t vals[256 * 8];
	for (uint32_t i = 0; i < n; i++) {
		v[i] = db[i] << 24 | (tm ? tm[i] : 0);
		put_le64p(vals + 8 * i, v[i]);
	}
	node(b, META_NODE_LEAF, 8, n, vb, vals);
}

/* Leaf of n consecutive mappings from vb0 -> db0, time tm. */
static void run_leaf(uint64_t b, uint64_t vb0, uint64_t db0, uint32_t n, uint32_t tm)
{
	uint64_t vb[256], db[256];
	uint32_t t[256];
	for (uint32_t i = 0; i < n; i++) {
		vb[i] = vb0 + i;
		db[i] = db0 + i;
		t[i] = tm;
	}
	map_leaf(b, n, vb, db, t);
}

static void internal(uint64_t b, uint32_t n, const uint64_t *keys, const uint64_t *children)
{
	uint8_t vals[256 * 8];
	for (uint32_t i = 0; i < n; i++)
		put_le64p(vals + 8 * i, children[i]);
	node(b, META_NODE_INTERNAL, 8, n, keys, vals);
}

struct det {
	uint64_t id, mapped, trans;
	uint32_t ctime, stime;
};

static void details_leaf(uint64_t b, uint32_t n, const struct det *d)
{
	uint64_t keys[64];
	uint8_t vals[64 * 24];
	for (uint32_t i = 0; i < n; i++) {
		keys[i] = d[i].id;
		ub_details(vals + 24 * i, d[i].mapped, d[i].trans, d[i].ctime, d[i].stime);
	}
	node(b, META_NODE_LEAF, 24, n, keys, vals);
}

/* Top-level mapping tree leaf: dev ids -> roots. */
static void top_leaf(uint64_t b, uint32_t n, const uint64_t *ids, const uint64_t *roots)
{
	uint8_t vals[64 * 8];
	for (uint32_t i = 0; i < n; i++)
		put_le64p(vals + 8 * i, roots[i]);
	node(b, META_NODE_LEAF, 8, n, ids, vals);
}

static void superblock(uint64_t b, uint64_t details_root, uint64_t mapping_root, uint32_t time,
		       uint64_t trans, uint64_t held)
{
	struct meta_thin_sb sb;
	memset(&sb, 0, sizeof(sb));
	sb.magic = META_THIN_MAGIC;
	sb.version = 2;
	sb.time = time;
	sb.trans_id = trans;
	sb.held_root = held;
	sb.data_mapping_root = mapping_root;
	sb.device_details_root = details_root;
	sb.data_block_size = 128;
	sb.metadata_block_size = 8;
	sb.metadata_nr_blocks = NBLK;
	sb.data_sm.nr_blocks = 100000;
	sb.blocknr = b;
	meta_thin_sb_pack(&sb, img[b]);
	meta_thin_sb_validator.prepare(&meta_thin_sb_validator, img[b], b);
}

static void write_image(void)
{
	if (path[0])
		unlink(path);
	ub_tmpfile(path, "thin_dump", 0);
	ub_write_at(path, 0, img, sizeof(img));
}

static void setup(void)
{
	memset(img, 0, sizeof(img));
	path[0] = '\0';
}

static void teardown(void)
{
	if (path[0])
		unlink(path);
}

/* ---- dumping into a string ------------------------------------------------ */

struct dmg_log {
	int n;
	struct meta_damage first;
	enum meta_damage_kind kinds[32];
};

static void on_damage(void *ctx, const struct meta_damage *d)
{
	struct dmg_log *l = ctx;
	if (l->n == 0)
		l->first = *d;
	if (l->n < 32)
		l->kinds[l->n] = d->kind;
	l->n++;
}

static char *out_buf;
static size_t out_len;
static struct dmg_log dlog;
static struct meta_thin_dump_stats st;

static int dump_fmt(struct meta_thin_dump_opts *o, enum meta_thin_text_format fmt, unsigned open_flags,
		    uint64_t snap_block)
{
	struct meta_thin_open_opts oo;
	struct meta_thin *t;
	struct meta_thin_writer *w;
	struct meta_thin_emitter e;
	struct meta_thin_dump_opts none;
	FILE *f;
	int r;

	write_image();
	memset(&oo, 0, sizeof(oo));
	oo.flags = open_flags;
	oo.metadata_snap_block = snap_block;
	ck_assert_int_eq(meta_thin_open(path, &oo, &t), META_OK);
	free(out_buf);
	out_buf = NULL;
	f = open_memstream(&out_buf, &out_len);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(meta_thin_writer_create(f, fmt, &w), META_OK);
	e = meta_thin_writer_emitter(w);
	if (!o) {
		memset(&none, 0, sizeof(none));
		o = &none;
	}
	memset(&dlog, 0, sizeof(dlog));
	o->damage = on_damage;
	o->damage_ctx = &dlog;
	r = meta_thin_dump(t, o, &e, &st);
	meta_thin_writer_flush(w);
	meta_thin_writer_destroy(w);
	fclose(f);
	meta_thin_close(t);
	return r;
}

static int dump(struct meta_thin_dump_opts *o)
{
	return dump_fmt(o, META_THIN_FORMAT_XML, 0, 0);
}

#define SB_LINE(time, trans)                                                                  \
	"<superblock uuid=\"\" time=\"" #time "\" transaction=\"" #trans                           \
	"\" flags=\"0\" version=\"2\" data_block_size=\"128\" nr_data_blocks=\"100000\">\n"
#define DEV_LINE(id, mapped, trans, ct, st)                                                   \
	"  <device dev_id=\"" #id "\" mapped_blocks=\"" #mapped "\" transaction=\"" #trans        \
	"\" creation_time=\"" #ct "\" snap_time=\"" #st "\">\n"
#define RANGE(o, d, l, t)                                                                     \
	"    <range_mapping origin_begin=\"" #o "\" data_begin=\"" #d "\" length=\"" #l           \
	"\" time=\"" #t "\"/>\n"
#define SINGLE(o, d, t)                                                                       \
	"    <single_mapping origin_block=\"" #o "\" data_block=\"" #d "\" time=\"" #t "\"/>\n"
#define END_DEV "  </device>\n"
#define END_SB "</superblock>\n"

/* Pool: details in 1, top-level in 2, device 1 root leaf in 3. */
static void simple_pool(void)
{
	uint64_t vb[] = { 0, 1, 2, 5, 6, 7, 9 };
	uint64_t db[] = { 10, 11, 12, 100, 101, 102, 7 };
	uint32_t tm[] = { 0, 0, 0, 1, 2, 2, 0 };
	struct det d[] = { { 1, 7, 0, 0, 2 } };
	uint64_t ids[] = { 1 }, roots[] = { 3 };
	details_leaf(1, 1, d);
	top_leaf(2, 1, ids, roots);
	map_leaf(3, 7, vb, db, tm);
	superblock(0, 1, 2, 3, 7, 0);
}

START_TEST(test_simple_xml)
{
	simple_pool();
	ck_assert_int_eq(dump(NULL), META_OK);
	ck_assert_str_eq(out_buf, SB_LINE(3, 7) DEV_LINE(1, 7, 0, 0, 2) RANGE(0, 10, 3, 0)
				  SINGLE(5, 100, 1) RANGE(6, 101, 2, 2) SINGLE(9, 7, 0) END_DEV END_SB);
	ck_assert_int_eq(st.nr_devices, 1);
	ck_assert_int_eq(st.nr_mappings, 7);
	ck_assert_int_eq(dlog.n, 0);
}
END_TEST

START_TEST(test_empty_pool)
{
	details_leaf(1, 0, NULL);
	top_leaf(2, 0, NULL, NULL);
	superblock(0, 1, 2, 0, 0, 0);
	ck_assert_int_eq(dump(NULL), META_OK);
	ck_assert_str_eq(out_buf, SB_LINE(0, 0) END_SB);
	ck_assert_int_eq(dump_fmt(NULL, META_THIN_FORMAT_HUMAN, 0, 0), META_OK);
	ck_assert_str_eq(out_buf, "begin superblock: \"\", 0, 0, 0, 2, 128, 100000\nend superblock\n");
}
END_TEST

START_TEST(test_simple_human)
{
	simple_pool();
	ck_assert_int_eq(dump_fmt(NULL, META_THIN_FORMAT_HUMAN, 0, 0), META_OK);
	ck_assert_str_eq(out_buf, "begin superblock: \"\", 3, 7, 0, 2, 128, 100000\n"
				  "device: 1\nmapped_blocks: 7\ntransaction: 0\ncreation time: 0\n"
				  "snap time: 2\n"
				  "    (0..2) -> (10..12), 0\n"
				  "    5 -> 100, 1\n"
				  "    (6..7) -> (101..102), 2\n"
				  "    9 -> 7, 0\n"
				  "\nend superblock\n");
}
END_TEST

START_TEST(test_skip_mappings_and_overrides)
{
	struct meta_thin_dump_opts o;
	simple_pool();
	memset(&o, 0, sizeof(o));
	o.flags = META_THIN_DUMP_SKIP_MAPPINGS;
	o.set_transaction_id = true;
	o.transaction_id = 42;
	o.set_data_block_size = true;
	o.data_block_size = 256;
	o.set_nr_data_blocks = true;
	o.nr_data_blocks = 5;
	ck_assert_int_eq(dump(&o), META_OK);
	ck_assert_str_eq(out_buf, "<superblock uuid=\"\" time=\"3\" transaction=\"42\" flags=\"0\" "
				  "version=\"2\" data_block_size=\"256\" nr_data_blocks=\"5\">\n"
				  DEV_LINE(1, 7, 0, 0, 2) END_DEV END_SB);
}
END_TEST

/* Two leaves under an internal root; the run continues across the leaf boundary. */
START_TEST(test_run_across_leaves)
{
	struct det d[] = { { 4, 300, 1, 0, 0 } };
	uint64_t ids[] = { 4 }, roots[] = { 5 };
	uint64_t keys[] = { 0, 200 }, kids[] = { 6, 7 };
	details_leaf(1, 1, d);
	top_leaf(2, 1, ids, roots);
	internal(5, 2, keys, kids);
	run_leaf(6, 0, 1000, 200, 3);
	run_leaf(7, 200, 1200, 100, 3);
	superblock(0, 1, 2, 3, 1, 0);
	ck_assert_int_eq(dump(NULL), META_OK);
	ck_assert_str_eq(out_buf, SB_LINE(3, 1) DEV_LINE(4, 300, 1, 0, 0) RANGE(0, 1000, 300, 3)
				  END_DEV END_SB);
}
END_TEST

/*
 * Height-2 tree whose leaves lie in descending block order (the chunk reader must
 * reorder them), and a time change splitting a run exactly at a leaf boundary.
 */
START_TEST(test_deep_tree_unsorted_blocks)
{
	struct det d[] = { { 0, 40, 0, 0, 0 } };
	uint64_t ids[] = { 0 }, roots[] = { 10 };
	uint64_t k_root[] = { 0, 20 }, c_root[] = { 11, 12 };
	uint64_t k_a[] = { 0, 10 }, c_a[] = { 40, 39 };
	uint64_t k_b[] = { 20, 30 }, c_b[] = { 38, 37 };
	details_leaf(1, 1, d);
	top_leaf(2, 1, ids, roots);
	internal(10, 2, k_root, c_root);
	internal(11, 2, k_a, c_a);
	internal(12, 2, k_b, c_b);
	run_leaf(40, 0, 500, 10, 0);
	run_leaf(39, 10, 510, 10, 0);
	run_leaf(38, 20, 520, 10, 1);
	run_leaf(37, 30, 530, 10, 1);
	superblock(0, 1, 2, 1, 1, 0);
	ck_assert_int_eq(dump(NULL), META_OK);
	ck_assert_str_eq(out_buf, SB_LINE(1, 1) DEV_LINE(0, 40, 0, 0, 0) RANGE(0, 500, 20, 0)
				  RANGE(20, 520, 20, 1) END_DEV END_SB);
}
END_TEST

/* Leaves at different depths on both sides (not made by the kernel, but readable). */
START_TEST(test_mixed_depth)
{
	struct det d[] = { { 1, 8, 0, 0, 0 }, { 2, 8, 0, 0, 0 } };
	uint64_t ids[] = { 1, 2 }, roots[] = { 10, 20 };
	/* dev 1: leftmost path shallow (leaf), right child deeper */
	uint64_t k10[] = { 0, 4 }, c10[] = { 11, 12 };
	uint64_t k12[] = { 4 }, c12[] = { 13 };
	/* dev 2: leftmost path deep, right child a leaf */
	uint64_t k20[] = { 0, 4 }, c20[] = { 21, 23 };
	uint64_t k21[] = { 0 }, c21[] = { 22 };
	details_leaf(1, 2, d);
	top_leaf(2, 2, ids, roots);
	internal(10, 2, k10, c10);
	run_leaf(11, 0, 100, 4, 0);
	internal(12, 1, k12, c12);
	run_leaf(13, 4, 104, 4, 0);
	internal(20, 2, k20, c20);
	internal(21, 1, k21, c21);
	run_leaf(22, 0, 200, 4, 0);
	run_leaf(23, 4, 204, 4, 0);
	superblock(0, 1, 2, 0, 1, 0);
	ck_assert_int_eq(dump(NULL), META_OK);
	ck_assert_str_eq(out_buf, SB_LINE(0, 1) DEV_LINE(1, 8, 0, 0, 0) RANGE(0, 100, 8, 0) END_DEV
				  DEV_LINE(2, 8, 0, 0, 0) RANGE(0, 200, 8, 0) END_DEV END_SB);
	ck_assert_int_eq(dlog.n, 0);
}
END_TEST

static void two_leaf_pool(void)
{
	struct det d[] = { { 1, 300, 0, 0, 0 }, { 2, 2, 0, 0, 0 } };
	uint64_t ids[] = { 1, 2 }, roots[] = { 5, 8 };
	uint64_t keys[] = { 0, 200 }, kids[] = { 6, 7 };
	details_leaf(1, 2, d);
	top_leaf(2, 2, ids, roots);
	internal(5, 2, keys, kids);
	run_leaf(6, 0, 1000, 200, 0);
	run_leaf(7, 200, 1200, 100, 0);
	run_leaf(8, 0, 50, 2, 0);
	superblock(0, 1, 2, 0, 1, 0);
}

START_TEST(test_damaged_leaf)
{
	struct meta_thin_dump_opts o;
	two_leaf_pool();
	img[7][100] ^= 1; /* checksum of leaf 7 now wrong */
	ck_assert_int_eq(dump(NULL), META_E_CORRUPT);
	ck_assert_int_eq(dlog.n, 1);
	ck_assert_int_eq(dlog.first.kind, META_DMG_NODE_CHECKSUM);
	ck_assert_int_eq(dlog.first.block, 7);
	ck_assert_int_eq(dlog.first.dev_id, 1);
	ck_assert_int_eq(dlog.first.begin, 200);
	/* no closing elements after the damage */
	ck_assert_ptr_null(strstr(out_buf, "</superblock>"));

	memset(&o, 0, sizeof(o));
	o.flags = META_THIN_DUMP_REPAIR;
	ck_assert_int_eq(dump(&o), META_OK);
	ck_assert_str_eq(out_buf, SB_LINE(0, 1) DEV_LINE(1, 200, 0, 0, 0) RANGE(0, 1000, 200, 0)
				  END_DEV DEV_LINE(2, 2, 0, 0, 0) RANGE(0, 50, 2, 0) END_DEV END_SB);
	ck_assert_int_eq(dlog.n, 1);
	ck_assert_int_eq(st.nr_damage, 1);
}
END_TEST

START_TEST(test_key_out_of_range)
{
	struct meta_thin_dump_opts o;
	two_leaf_pool();
	run_leaf(6, 0, 1000, 201, 0); /* key 200 belongs to the second child */
	ck_assert_int_eq(dump(NULL), META_E_CORRUPT);
	ck_assert_int_eq(dlog.first.kind, META_DMG_NODE_KEY_RANGE);
	ck_assert_int_eq(dlog.first.block, 6);
	memset(&o, 0, sizeof(o));
	o.flags = META_THIN_DUMP_REPAIR;
	ck_assert_int_eq(dump(&o), META_OK);
	ck_assert_ptr_nonnull(strstr(out_buf, DEV_LINE(1, 100, 0, 0, 0) RANGE(200, 1200, 100, 0) END_DEV));
}
END_TEST

START_TEST(test_cycle)
{
	struct meta_thin_dump_opts o;
	struct det d[] = { { 1, 0, 0, 0, 0 } };
	uint64_t ids[] = { 1 }, roots[] = { 5 };
	uint64_t keys[] = { 0, 10 }, kids[] = { 6, 5 };
	details_leaf(1, 1, d);
	top_leaf(2, 1, ids, roots);
	internal(5, 2, keys, kids); /* second child is the node itself */
	run_leaf(6, 0, 1, 3, 0);
	superblock(0, 1, 2, 0, 1, 0);
	memset(&o, 0, sizeof(o));
	o.flags = META_THIN_DUMP_REPAIR;
	ck_assert_int_eq(dump(&o), META_OK); /* terminates */
	ck_assert_int_gt(dlog.n, 0);
	ck_assert_ptr_nonnull(strstr(out_buf, RANGE(0, 1, 3, 0)));
	ck_assert_int_eq(dump(NULL), META_E_CORRUPT);
}
END_TEST

START_TEST(test_dev_filter)
{
	struct meta_thin_dump_opts o;
	uint64_t want[] = { 2, 9, 2 };
	bool found[3];
	two_leaf_pool();
	memset(&o, 0, sizeof(o));
	o.dev_ids = want;
	o.nr_dev_ids = 3;
	o.dev_found = found;
	ck_assert_int_eq(dump(&o), META_OK);
	ck_assert_str_eq(out_buf, SB_LINE(0, 1) DEV_LINE(2, 2, 0, 0, 0) RANGE(0, 50, 2, 0) END_DEV END_SB);
	ck_assert(found[0] && !found[1] && found[2]);
}
END_TEST

/* Device 3 has details but no mapping tree, device 4 a mapping tree but no details. */
START_TEST(test_missing_details_or_tree)
{
	struct meta_thin_dump_opts o;
	struct det d[] = { { 3, 5, 1, 1, 1 } };
	uint64_t ids[] = { 4 }, roots[] = { 3 };
	details_leaf(1, 1, d);
	top_leaf(2, 1, ids, roots);
	run_leaf(3, 7, 70, 2, 1);
	superblock(0, 1, 2, 6, 9, 0);
	ck_assert_int_eq(dump(NULL), META_E_CORRUPT);
	ck_assert_int_eq(dlog.first.kind, META_DMG_DEV_NO_MAPPINGS);
	ck_assert_int_eq(dlog.first.dev_id, 3);
	ck_assert_uint_eq(out_len, 0); /* found before anything was written */
	memset(&o, 0, sizeof(o));
	o.flags = META_THIN_DUMP_REPAIR;
	ck_assert_int_eq(dump(&o), META_OK);
	ck_assert_int_eq(dlog.n, 2);
	ck_assert_int_eq(dlog.kinds[1], META_DMG_DEV_NO_DETAILS);
	ck_assert_str_eq(out_buf, SB_LINE(6, 9) DEV_LINE(3, 0, 1, 1, 1) END_DEV
				  DEV_LINE(4, 2, 9, 6, 6) RANGE(7, 70, 2, 1) END_DEV END_SB);
}
END_TEST

/*
 * Sharing: devices 1 and 2 share leaf 6 (through different internal roots) and device 3's
 * root leaf 9 is also device 4's root.  Leaf 6 continues a run of device 1's first leaf.
 */
static void shared_pool(void)
{
	struct det d[] = { { 1, 30, 0, 0, 1 }, { 2, 20, 0, 1, 1 }, { 3, 2, 0, 0, 1 }, { 4, 2, 0, 1, 1 } };
	uint64_t ids[] = { 1, 2, 3, 4 }, roots[] = { 4, 5, 9, 9 };
	uint64_t k4[] = { 0, 10, 20 }, c4[] = { 7, 6, 8 };
	uint64_t k5[] = { 10, 20 }, c5[] = { 6, 10 };
	details_leaf(1, 4, d);
	top_leaf(2, 4, ids, roots);
	internal(4, 3, k4, c4);
	internal(5, 2, k5, c5);
	run_leaf(7, 0, 90, 10, 0);
	run_leaf(6, 10, 100, 10, 0);
	run_leaf(8, 20, 110, 10, 0);
	run_leaf(10, 20, 300, 10, 1);
	run_leaf(9, 0, 7, 2, 0);
	superblock(0, 1, 2, 1, 1, 0);
}

START_TEST(test_shared)
{
	struct meta_thin_dump_opts o;
	shared_pool();
	/* flat: runs merge across the shared leaf */
	ck_assert_int_eq(dump(NULL), META_OK);
	ck_assert_str_eq(out_buf, SB_LINE(1, 1) DEV_LINE(1, 30, 0, 0, 1) RANGE(0, 90, 30, 0) END_DEV
				  DEV_LINE(2, 20, 0, 1, 1) RANGE(10, 100, 10, 0) RANGE(20, 300, 10, 1)
				  END_DEV DEV_LINE(3, 2, 0, 0, 1) RANGE(0, 7, 2, 0) END_DEV
				  DEV_LINE(4, 2, 0, 1, 1) RANGE(0, 7, 2, 0) END_DEV END_SB);
	memset(&o, 0, sizeof(o));
	o.flags = META_THIN_DUMP_SHARED;
	ck_assert_int_eq(dump(&o), META_OK);
	ck_assert_str_eq(out_buf, SB_LINE(1, 1)
				  "  <def name=\"6\">\n" RANGE(10, 100, 10, 0) "  </def>\n"
				  "  <def name=\"9\">\n" RANGE(0, 7, 2, 0) "  </def>\n"
				  DEV_LINE(1, 30, 0, 0, 1) RANGE(0, 90, 10, 0) "    <ref name=\"6\"/>\n"
				  RANGE(20, 110, 10, 0) END_DEV
				  DEV_LINE(2, 20, 0, 1, 1) "    <ref name=\"6\"/>\n" RANGE(20, 300, 10, 1)
				  END_DEV DEV_LINE(3, 2, 0, 0, 1) "    <ref name=\"9\"/>\n" END_DEV
				  DEV_LINE(4, 2, 0, 1, 1) "    <ref name=\"9\"/>\n" END_DEV END_SB);
	ck_assert_int_eq(st.nr_defs, 2);
	ck_assert_int_eq(st.nr_mappings, 54);
	/* human-readable spelling of defs and refs */
	ck_assert_int_eq(dump_fmt(&o, META_THIN_FORMAT_HUMAN, 0, 0), META_OK);
	ck_assert_ptr_nonnull(strstr(out_buf, "def: 6\n    (10..19) -> (100..109), 0\n\ndef: 9\n"));
	ck_assert_ptr_nonnull(strstr(out_buf, "snap time: 1\n    ref: 6\n    (20..29) -> (300..309), 1\n"));
	/* with --dev-id only the selected devices count for sharing */
	{
		uint64_t want[] = { 1, 3 };
		o.dev_ids = want;
		o.nr_dev_ids = 2;
		ck_assert_int_eq(dump(&o), META_OK);
		ck_assert_ptr_null(strstr(out_buf, "<def"));
	}
}
END_TEST

/* A shared internal node (device 5 is a fresh snapshot of device 1) is one def. */
START_TEST(test_shared_subtree)
{
	struct meta_thin_dump_opts o;
	shared_pool();
	{
		struct det d[] = { { 1, 30, 0, 0, 1 }, { 2, 20, 0, 1, 1 }, { 3, 2, 0, 0, 1 },
				   { 4, 2, 0, 1, 1 }, { 5, 30, 0, 1, 1 } };
		uint64_t ids[] = { 1, 2, 3, 4, 5 }, roots[] = { 4, 5, 9, 9, 4 };
		details_leaf(1, 5, d);
		top_leaf(2, 5, ids, roots);
	}
	memset(&o, 0, sizeof(o));
	o.flags = META_THIN_DUMP_SHARED;
	ck_assert_int_eq(dump(&o), META_OK);
	ck_assert_str_eq(out_buf, SB_LINE(1, 1)
				  "  <def name=\"4\">\n" RANGE(0, 90, 30, 0) "  </def>\n"
				  "  <def name=\"6\">\n" RANGE(10, 100, 10, 0) "  </def>\n"
				  "  <def name=\"9\">\n" RANGE(0, 7, 2, 0) "  </def>\n"
				  DEV_LINE(1, 30, 0, 0, 1) "    <ref name=\"4\"/>\n" END_DEV
				  DEV_LINE(2, 20, 0, 1, 1) "    <ref name=\"6\"/>\n" RANGE(20, 300, 10, 1)
				  END_DEV DEV_LINE(3, 2, 0, 0, 1) "    <ref name=\"9\"/>\n" END_DEV
				  DEV_LINE(4, 2, 0, 1, 1) "    <ref name=\"9\"/>\n" END_DEV
				  DEV_LINE(5, 30, 0, 1, 1) "    <ref name=\"4\"/>\n" END_DEV END_SB);
	ck_assert_int_eq(st.nr_defs, 3);
	ck_assert_int_eq(st.nr_mappings, 84);
	/* repair: same output (mapped_blocks recounted through the refs) */
	o.flags = META_THIN_DUMP_SHARED | META_THIN_DUMP_REPAIR;
	{
		char *prev = strdup(out_buf);
		ck_assert_int_eq(dump(&o), META_OK);
		ck_assert_str_eq(out_buf, prev);
		free(prev);
	}
	/* a damaged leaf inside the shared subtree: with repair, no def 4; both devices lose it */
	img[8][300] ^= 1;
	ck_assert_int_eq(dump(&o), META_OK);
	ck_assert_ptr_null(strstr(out_buf, "<def name=\"4\""));
	ck_assert_ptr_nonnull(strstr(out_buf, DEV_LINE(1, 20, 0, 0, 1) RANGE(0, 90, 10, 0)
					      "    <ref name=\"6\"/>\n" END_DEV));
	ck_assert_ptr_nonnull(strstr(out_buf, DEV_LINE(5, 20, 0, 1, 1) RANGE(0, 90, 10, 0)
					      "    <ref name=\"6\"/>\n" END_DEV));
	ck_assert_int_eq(dlog.n, 2);
}
END_TEST

START_TEST(test_shared_damaged_def)
{
	struct meta_thin_dump_opts o;
	shared_pool();
	img[6][200] ^= 1;
	memset(&o, 0, sizeof(o));
	o.flags = META_THIN_DUMP_SHARED;
	ck_assert_int_eq(dump(&o), META_E_CORRUPT);
	ck_assert_int_eq(dlog.first.kind, META_DMG_NODE_CHECKSUM);
	ck_assert_int_eq(dlog.first.block, 6);
	/* found while writing the defs, before any device */
	ck_assert(dlog.first.dev_id == UINT64_MAX);
	ck_assert_str_eq(dlog.first.detail, "subtree shared by several devices");
	o.flags = META_THIN_DUMP_SHARED | META_THIN_DUMP_REPAIR;
	ck_assert_int_eq(dump(&o), META_OK);
	ck_assert_int_eq(dlog.n, 2); /* once per device reaching it */
	ck_assert_int_eq(dlog.kinds[0], META_DMG_NODE_CHECKSUM);
	ck_assert_int_eq(dlog.first.dev_id, 1);
	ck_assert_ptr_null(strstr(out_buf, "<def name=\"6\""));
	ck_assert_ptr_nonnull(strstr(out_buf, DEV_LINE(1, 20, 0, 0, 1) RANGE(0, 90, 10, 0)
					      RANGE(20, 110, 10, 0) END_DEV));
}
END_TEST

START_TEST(test_metadata_snap)
{
	simple_pool();
	/* snapshot superblock at block 20 with different trees: device 1 without mappings */
	{
		struct det d[] = { { 1, 0, 0, 0, 0 } };
		uint64_t ids[] = { 1 }, roots[] = { 23 };
		details_leaf(21, 1, d);
		top_leaf(22, 1, ids, roots);
		map_leaf(23, 0, NULL, NULL, NULL);
		superblock(20, 21, 22, 2, 6, 0);
		/* the kernel zeroes the space-map roots of the copy */
		memset(img[20] + 64, 0, 256);
		meta_thin_sb_validator.prepare(&meta_thin_sb_validator, img[20], 20);
		superblock(0, 1, 2, 3, 7, 20);
	}
	ck_assert_int_eq(dump_fmt(NULL, META_THIN_FORMAT_XML, META_THIN_OPEN_METADATA_SNAP, 0), META_OK);
	ck_assert_str_eq(out_buf, "<superblock uuid=\"\" time=\"2\" transaction=\"6\" flags=\"0\" "
				  "version=\"2\" data_block_size=\"128\" nr_data_blocks=\"0\">\n"
				  DEV_LINE(1, 0, 0, 0, 0) END_DEV END_SB);
	ck_assert_int_eq(dump_fmt(NULL, META_THIN_FORMAT_XML, META_THIN_OPEN_METADATA_SNAP, 20), META_OK);
	ck_assert_ptr_nonnull(strstr(out_buf, "transaction=\"6\""));
	ck_assert_int_eq(dump(NULL), META_OK);
	ck_assert_ptr_nonnull(strstr(out_buf, SINGLE(9, 7, 0)));
}
END_TEST

/*
 * meta_thin_open_ex() says which superblock it refused, meta_thin_live_sb_verdict() what the
 * validator thought of a live superblock opened anyway, meta_thin_dev_root() where a device's
 * tree starts.
 */
START_TEST(test_open_failure_and_lookups)
{
	struct meta_thin_open_opts oo;
	struct meta_thin_open_failure why;
	struct meta_thin *t;
	uint64_t root;

	simple_pool();
	superblock(0, 1, 2, 3, 7, 20); /* held root 20: not a superblock */
	write_image();
	memset(&oo, 0, sizeof(oo));
	oo.flags = META_THIN_OPEN_METADATA_SNAP;
	ck_assert_int_eq(meta_thin_open_ex(path, &oo, &t, &why), META_E_CHECKSUM);
	ck_assert_ptr_null(t);
	ck_assert(why.snap);
	ck_assert_uint_eq(why.block, 20);
	ck_assert_uint_eq(why.held_root, 20);
	oo.metadata_snap_block = 3; /* a btree node: the superblock validator refuses it */
	ck_assert_int_ne(meta_thin_open_ex(path, &oo, &t, &why), META_OK);
	ck_assert(why.snap);
	ck_assert_uint_eq(why.block, 3);

	/* the live superblock itself fails: not the snapshot's fault */
	img[0][100] ^= 1;
	write_image();
	ck_assert_int_eq(meta_thin_open_ex(path, &oo, &t, &why), META_E_CHECKSUM);
	ck_assert(!why.snap);
	ck_assert_uint_eq(why.block, 0);
	ck_assert_uint_eq(why.held_root, 0);
	oo.flags = META_THIN_OPEN_NO_SB_CHECK;
	ck_assert_int_eq(meta_thin_open_ex(path, &oo, &t, NULL), META_OK);
	ck_assert_int_eq(meta_thin_live_sb_verdict(t), META_E_CHECKSUM);
	meta_thin_close(t);

	img[0][100] ^= 1;
	write_image();
	ck_assert_int_eq(meta_thin_open_ex(path, &oo, &t, &why), META_OK);
	ck_assert_int_eq(meta_thin_live_sb_verdict(t), META_OK);
	ck_assert_uint_eq(meta_thin_nr_metadata_blocks(t), NBLK);
	ck_assert_int_eq(meta_thin_dev_root(t, 1, &root), META_OK);
	ck_assert_uint_eq(root, 3);
	ck_assert_int_eq(meta_thin_dev_root(t, 2, &root), META_E_NOTFOUND);
	meta_thin_close(t);
}
END_TEST

/* ---- writers -------------------------------------------------------------- */

START_TEST(test_writer_large_numbers_and_escaping)
{
	struct meta_thin_writer *w;
	struct meta_thin_emitter e;
	struct meta_thin_xml_sb sb;
	struct meta_thin_details d = { UINT64_MAX, 1234567890123ull, 10, UINT32_MAX, 99 };
	FILE *f;
	free(out_buf);
	out_buf = NULL;
	f = open_memstream(&out_buf, &out_len);
	ck_assert_int_eq(meta_thin_writer_create(f, META_THIN_FORMAT_XML, &w), META_OK);
	e = meta_thin_writer_emitter(w);
	memset(&sb, 0, sizeof(sb));
	sb.uuid = "a\"<&>";
	sb.version = 2;
	sb.has_metadata_snap = true;
	sb.metadata_snap = 77;
	ck_assert_int_eq(e.ops->begin_superblock(e.ctx, &sb), 0);
	ck_assert_int_eq(e.ops->begin_device(e.ctx, &d), 0);
	ck_assert_int_eq(e.ops->range_map(e.ctx, 18446744073709551000ull, 1099511627775ull, 16777215, 615), 0);
	ck_assert_int_eq(e.ops->single_map(e.ctx, 0, 9, 10), 0);
	ck_assert_int_eq(e.ops->end_device(e.ctx), 0);
	ck_assert_int_eq(e.ops->end_superblock(e.ctx), 0);
	meta_thin_writer_destroy(w);
	fclose(f);
	ck_assert_str_eq(out_buf, "<superblock uuid=\"a&quot;&lt;&amp;&gt;\" time=\"0\" transaction=\"0\" "
				  "flags=\"0\" version=\"2\" data_block_size=\"0\" nr_data_blocks=\"0\" "
				  "metadata_snap=\"77\">\n"
				  "  <device dev_id=\"18446744073709551615\" mapped_blocks=\"1234567890123\" "
				  "transaction=\"10\" creation_time=\"4294967295\" snap_time=\"99\">\n"
				  RANGE(18446744073709551000, 1099511627775, 615, 16777215)
				  SINGLE(0, 9, 10) END_DEV END_SB);
}
END_TEST

START_TEST(test_writer_big_output_and_write_error)
{
	struct meta_thin_writer *w;
	struct meta_thin_emitter e;
	struct meta_thin_xml_sb sb;
	FILE *f = fopen("/dev/full", "w");
	int r = 0;
	if (!f)
		return; /* no /dev/full here */
	setvbuf(f, NULL, _IONBF, 0);
	ck_assert_int_eq(meta_thin_writer_create(f, META_THIN_FORMAT_XML, &w), META_OK);
	e = meta_thin_writer_emitter(w);
	memset(&sb, 0, sizeof(sb));
	sb.uuid = "";
	ck_assert_int_eq(e.ops->begin_superblock(e.ctx, &sb), 0);
	/* more than one buffer's worth: the first flush fails */
	for (uint64_t i = 0; i < 100000 && !r; i++)
		r = e.ops->single_map(e.ctx, i, i, 0);
	ck_assert_int_eq(r, META_E_IO);
	ck_assert_int_eq(meta_thin_writer_errno(w), ENOSPC);
	ck_assert_int_eq(meta_thin_writer_flush(w), META_E_IO);
	meta_thin_writer_destroy(w);
	fclose(f);
}
END_TEST

START_TEST(test_writer_invalid)
{
	struct meta_thin_writer *w;
	ck_assert_int_eq(meta_thin_writer_create(NULL, META_THIN_FORMAT_XML, &w), META_E_INVAL);
	ck_assert_int_eq(meta_thin_writer_create(stdout, (enum meta_thin_text_format)7, &w), META_E_INVAL);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("thin_dump");
	TCase *tc = ub_tcase(s, "walker", 0);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_simple_xml);
	tcase_add_test(tc, test_open_failure_and_lookups);
	tcase_add_test(tc, test_empty_pool);
	tcase_add_test(tc, test_simple_human);
	tcase_add_test(tc, test_skip_mappings_and_overrides);
	tcase_add_test(tc, test_run_across_leaves);
	tcase_add_test(tc, test_deep_tree_unsorted_blocks);
	tcase_add_test(tc, test_mixed_depth);
	tcase_add_test(tc, test_damaged_leaf);
	tcase_add_test(tc, test_key_out_of_range);
	tcase_add_test(tc, test_cycle);
	tcase_add_test(tc, test_dev_filter);
	tcase_add_test(tc, test_missing_details_or_tree);
	tcase_add_test(tc, test_shared);
	tcase_add_test(tc, test_shared_subtree);
	tcase_add_test(tc, test_shared_damaged_def);
	tcase_add_test(tc, test_metadata_snap);
	tc = ub_tcase(s, "writer", 0);
	tcase_add_test(tc, test_writer_large_numbers_and_escaping);
	tcase_add_test(tc, test_writer_big_output_and_write_error);
	tcase_add_test(tc, test_writer_invalid);
	return s;
}

int main(void)
{
	int failed = ub_run(suite());
	free(out_buf);
	return failed;
}

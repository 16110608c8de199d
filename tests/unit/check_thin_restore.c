/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests of the write side: bulk btree builder, space-map writers, thin restorer. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/thin.h>
#include <libmeta/thin_restore.h>
#include <libmeta/thin_xml_read.h>

#include "base/endian.h"
#include "pdata/pdata_write.h"
#include "unit_base.h"

static char path[UB_PATH_MAX];

static const char *mkfile(uint64_t bytes)
{
	ub_tmpfile(path, "restore", bytes);
	return path;
}

static const char *fixture(const char *name)
{
	char rel[128];
	snprintf(rel, sizeof(rel), "thin/%s.xml", name);
	return ub_fixture(rel);
}

/* ---- builder ------------------------------------------------------------------- */

struct leafstat {
	uint64_t n, keys, minfill, last;
	int ordered, dmg;
};

static int stat_leaf(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	struct leafstat *s = ctx;
	if (ni->nr_entries < s->minfill)
		s->minfill = ni->nr_entries;
	for (uint32_t i = 0; i < ni->nr_entries; i++) {
		uint64_t k = meta_node_key(node, i);
		if (s->keys && k <= s->last)
			s->ordered = 0;
		s->last = k;
		s->keys++;
		if (get_le64p(meta_node_value(node, i)) != k * 3)
			s->ordered = 0;
	}
	s->n++;
	return 0;
}

static void any_damage(void *ctx, const struct meta_damage *d)
{
	((struct leafstat *)ctx)->dmg++;
}

START_TEST(test_builder_sizes)
{
	static const uint64_t sizes[] = {0, 1, 83, 84, 251, 252, 253, 300, 504, 505, 63505, 63750};
	for (size_t t = 0; t < sizeof(sizes) / sizeof(sizes[0]); t++) {
		struct meta_io *io;
		struct meta_bm *bm;
		struct bw w;
		struct bbuild b;
		uint64_t root;
		struct leafstat s = {0, 0, UINT64_MAX, 0, 1, 0};
		struct meta_btree_walk_ops ops = {stat_leaf, any_damage};
		mkfile(4096 * 400);
		ck_assert_int_eq(meta_io_open(path, META_IO_WRITE, &io), META_OK);
		ck_assert_int_eq(bw_init(&w, io, 400, 1), META_OK);
		bbuild_init(&b, &w, 8);
		for (uint64_t k = 0; k < sizes[t]; k++) {
			uint8_t v[8];
			put_le64p(v, k * 10 * 3);
			bbuild_add(&b, k * 10, v);
		}
		root = bbuild_finish(&b);
		ck_assert_int_eq(bw_flush(&w), META_OK);
		ck_assert_uint_ne(root, 0);
		bw_free(&w);
		ck_assert_int_eq(meta_bm_create(io, 0, &bm), META_OK);
		meta_btree_walk(bm, root, 8, &ops, &s);
		ck_assert_uint_eq(s.keys, sizes[t]);
		ck_assert(s.ordered);
		ck_assert_int_eq(s.dmg, 0); /* no damage at all: not even under-full nodes */
		meta_bm_destroy(bm);
		unlink(path);
	}
}
END_TEST

/* Build the runs [key, key+len) (value key*3) one entry at a time or a run at a time. */
static void build_runs(const char *file, const uint64_t (*runs)[2], size_t nruns, int seq)
{
	struct meta_io *io;
	struct bw w;
	struct bbuild b;
	ck_assert_int_eq(meta_io_open(file, META_IO_WRITE, &io), META_OK);
	ck_assert_int_eq(bw_init(&w, io, 400, 1), META_OK);
	bbuild_init(&b, &w, 8);
	for (size_t r = 0; r < nruns; r++) {
		if (seq) {
			bbuild_add_seq(&b, runs[r][0], runs[r][1], runs[r][0] * 3, 3);
			continue;
		}
		for (uint64_t k = runs[r][0]; k < runs[r][0] + runs[r][1]; k++) {
			uint8_t v[8];
			put_le64p(v, k * 3);
			bbuild_add(&b, k, v);
		}
	}
	ck_assert_uint_ne(bbuild_finish(&b), 0);
	ck_assert_int_eq(bw_flush(&w), META_OK);
	bw_free(&w);
	meta_io_close(io);
}

/* bbuild_add_seq() writes exactly what the same entries added one by one write. */
START_TEST(test_builder_seq_same_image)
{
	static const uint64_t runs[][2] = {{0, 1},     {5, 7},       {12, 240},  {300, 1},
					   {301, 600}, {1000, 251},  {1251, 252}, {2000, 3},
					   {4000, 20000}, {30000, 83}, {40000, 1}};
	char a[UB_PATH_MAX], bpath[UB_PATH_MAX];
	FILE *fa, *fb;
	int ca, cb;
	long off = 0;
	for (size_t n = 1; n <= sizeof(runs) / sizeof(runs[0]); n++) {
		strcpy(a, mkfile(4096 * 400));
		strcpy(bpath, mkfile(4096 * 400));
		build_runs(a, runs, n, 0);
		build_runs(bpath, runs, n, 1);
		fa = fopen(a, "rb");
		fb = fopen(bpath, "rb");
		ck_assert_ptr_nonnull(fa);
		ck_assert_ptr_nonnull(fb);
		do {
			ca = getc(fa);
			cb = getc(fb);
			if (ca != cb)
				ck_abort_msg("%zu runs: images differ at byte %ld", n, off);
			off++;
		} while (ca != EOF);
		fclose(fa);
		fclose(fb);
		unlink(a);
		unlink(bpath);
	}
}
END_TEST

START_TEST(test_builder_rejects_disorder)
{
	struct meta_io *io;
	struct bw w;
	struct bbuild b;
	uint8_t v[8] = {0};
	mkfile(4096 * 10);
	ck_assert_int_eq(meta_io_open(path, META_IO_WRITE, &io), META_OK);
	ck_assert_int_eq(bw_init(&w, io, 10, 1), META_OK);
	bbuild_init(&b, &w, 8);
	bbuild_add(&b, 5, v);
	bbuild_add(&b, 5, v);
	ck_assert_uint_eq(bbuild_finish(&b), 0);
	ck_assert_int_eq(w.err, META_E_INVAL);
	/* a run overlapping what came before */
	w.err = 0;
	bbuild_init(&b, &w, 8);
	bbuild_add_seq(&b, 5, 10, 0, 1);
	bbuild_add_seq(&b, 14, 2, 0, 1);
	ck_assert_uint_eq(bbuild_finish(&b), 0);
	ck_assert_int_eq(w.err, META_E_INVAL);
	bw_free(&w);
	meta_io_close(io);
	unlink(path);
}
END_TEST

START_TEST(test_builder_nospc)
{
	struct meta_io *io;
	struct bw w;
	struct bbuild b;
	uint8_t v[8] = {0};
	mkfile(4096 * 4);
	ck_assert_int_eq(meta_io_open(path, META_IO_WRITE, &io), META_OK);
	ck_assert_int_eq(bw_init(&w, io, 4, 1), META_OK);
	bbuild_init(&b, &w, 8);
	for (uint64_t k = 0; k < 2000; k++)
		bbuild_add(&b, k, v);
	ck_assert_uint_eq(bbuild_finish(&b), 0);
	ck_assert_int_eq(w.err, META_E_NOSPC);
	bw_free(&w);
	meta_io_close(io);
	unlink(path);
}
END_TEST

/* ---- restorer -------------------------------------------------------------------- */

static int restore_file(const char *xml, const char *out, const struct meta_thin_restore_opts *o,
			char *err, size_t errlen)
{
	struct meta_thin_restorer *r;
	struct meta_thin_emitter e;
	FILE *in = fopen(xml, "r");
	int rc;
	ck_assert_ptr_nonnull(in);
	rc = meta_thin_restorer_create(out, o, &r);
	if (rc) {
		fclose(in);
		return rc;
	}
	e = meta_thin_restorer_emitter(r);
	rc = meta_thin_xml_parse(in, &e, meta_thin_restorer_message, err, errlen);
	fclose(in);
	if (!rc)
		rc = meta_thin_restorer_commit(r);
	meta_thin_restorer_destroy(r);
	return rc;
}

static int restore_string(const char *xmltext, const char *out, char *err, size_t errlen)
{
	char xp[UB_PATH_MAX];
	int rc;
	ub_tmpfile(xp, "xml", 0);
	ub_write_at(xp, 0, xmltext, strlen(xmltext));
	rc = restore_file(xp, out, NULL, err, errlen);
	unlink(xp);
	return rc;
}

struct sumc {
	uint64_t nonzero;
};

static int sum_nonzero(void *ctx, uint64_t first, const uint32_t *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (c[i])
			((struct sumc *)ctx)->nonzero++;
	return 0;
}

static int count_maps(void *ctx, const struct meta_thin_mapping *m, uint32_t n)
{
	*(uint64_t *)ctx += n;
	return 0;
}

START_TEST(test_restore_fixture_reads_back)
{
	static const char *names[] = {"empty", "one-thin", "snaps", "many"};
	for (size_t t = 0; t < 4; t++) {
		struct meta_thin *th;
		struct meta_thin_details *d;
		struct meta_thin_dev_root *roots;
		uint64_t nd, nr;
		struct sumc mc = {0}, dc = {0};
		char err[256];
		const struct meta_thin_sb *sb;
		mkfile(4096 * 1024);
		ck_assert_int_eq(restore_file(fixture(names[t]), path, NULL, err, sizeof(err)), META_OK);
		ck_assert_int_eq(meta_thin_open(path, NULL, &th), META_OK);
		sb = meta_thin_sb(th);
		ck_assert_uint_eq(sb->metadata_nr_blocks, 1024);
		ck_assert_int_eq(meta_thin_read_details(th, &d, &nd, NULL, NULL), META_OK);
		ck_assert_int_eq(meta_thin_read_dev_roots(th, &roots, &nr, NULL, NULL), META_OK);
		ck_assert_uint_eq(nd, nr);
		for (uint64_t i = 0; i < nd; i++) {
			uint64_t n = 0;
			ck_assert_uint_eq(d[i].dev_id, roots[i].dev_id);
			meta_thin_walk_mappings(th, roots[i].root, count_maps, NULL, &n);
			ck_assert_uint_eq(n, d[i].mapped_blocks);
		}
		/* nr_allocated agrees with the bitmaps in both space maps */
		ck_assert_int_eq(meta_sm_read_counts(meta_thin_bm(th), META_SM_METADATA, &sb->metadata_sm,
						     sum_nonzero, NULL, &mc), META_OK);
		ck_assert_uint_eq(mc.nonzero, sb->metadata_sm.nr_allocated);
		ck_assert_int_eq(meta_sm_read_counts(meta_thin_bm(th), META_SM_DISK, &sb->data_sm,
						     sum_nonzero, NULL, &dc), META_OK);
		ck_assert_uint_eq(dc.nonzero, sb->data_sm.nr_allocated);
		free(d);
		free(roots);
		meta_thin_close(th);
		unlink(path);
	}
}
END_TEST

START_TEST(test_restore_refusals)
{
	char err[256];
	mkfile(4096 * 64);
	ck_assert_int_eq(restore_file(fixture("one-thin"), path, NULL, err, sizeof(err)), META_OK);
	/* valid metadata present: refused without force */
	ck_assert_int_eq(restore_file(fixture("one-thin"), path, NULL, err, sizeof(err)), META_E_EXISTS);
	{
		struct meta_thin_restore_opts o;
		memset(&o, 0, sizeof(o));
		o.force = true;
		ck_assert_int_eq(restore_file(fixture("one-thin"), path, &o, err, sizeof(err)), META_OK);
	}
	unlink(path);
	mkfile(4096 * 9);
	ck_assert_int_eq(restore_file(fixture("one-thin"), path, NULL, err, sizeof(err)),
			 META_E_TOOSMALL);
	unlink(path);
	/* too small for the content: NOSPC, and no valid superblock left behind */
	mkfile(4096 * 12);
	ck_assert_int_eq(restore_file(fixture("many"), path, NULL, err, sizeof(err)), META_E_NOSPC);
	{
		struct meta_thin *th;
		ck_assert_int_eq(meta_thin_open(path, NULL, &th), META_E_CHECKSUM);
	}
	unlink(path);
}
END_TEST

START_TEST(test_restore_bad_xml)
{
	static const struct {
		const char *xml, *want;
	} cases[] = {
		{"<superblock uuid=\"\" time=\"0\" transaction=\"1\" data_block_size=\"128\" nr_data_blocks=\"10\">\n"
		 "  <device dev_id=\"1\" mapped_blocks=\"1\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n"
		 "    <single_mapping origin_block=\"0\" data_block=\"10\" time=\"0\"/>\n",
		 "line 3: mapping to data block 10 is past the end"},
		{"<superblock uuid=\"\" time=\"0\" transaction=\"1\" data_block_size=\"128\" nr_data_blocks=\"10\">\n"
		 "  <device dev_id=\"1\" mapped_blocks=\"2\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n"
		 "    <range_mapping origin_begin=\"0\" data_begin=\"1\" length=\"3\" time=\"0\"/>\n"
		 "    <single_mapping origin_block=\"2\" data_block=\"5\" time=\"0\"/>\n",
		 "line 4: mapping of virtual block 2 overlaps"},
		{"<superblock uuid=\"\" time=\"0\" transaction=\"1\" data_block_size=\"128\" nr_data_blocks=\"10\">\n"
		 "  <device dev_id=\"1\" mapped_blocks=\"0\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\" colour=\"red\">\n",
		 "line 2: unknown attribute 'colour'"},
		{"<superblock uuid=\"\" time=\"0\" transaction=\"1\" data_block_size=\"100\" nr_data_blocks=\"10\">\n",
		 "line 1: data_block_size 100"},
		{"<superblock uuid=\"\" time=\"0\" transaction=\"1\" data_block_size=\"128\" nr_data_blocks=\"10\">\n"
		 "  <device dev_id=\"1\" mapped_blocks=\"0\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n"
		 "  </device>\n"
		 "  <device dev_id=\"1\" mapped_blocks=\"0\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n"
		 "  </device>\n</superblock>\n",
		 "device 1 appears twice"},
		{"<superblock uuid=\"\" time=\"0\" transaction=\"1\" data_block_size=\"128\" nr_data_blocks=\"10\">\n"
		 "  <device dev_id=\"1\" mapped_blocks=\"0\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n"
		 "    <ref name=\"7\"/>\n",
		 "line 3: Couldn't find sub tree '7'."},
		{"<superblock uuid=\"\" time=\"0\" transaction=\"1\" data_block_size=\"128\" nr_data_blocks=\"10\">\n"
		 "  <wibble/>\n",
		 "line 2: unknown element <wibble>"},
		{"<superblock uuid=\"\" time=\"0\" transaction=\"1\" data_block_size=\"128\">\n",
		 "line 1: <superblock> needs the attribute nr_data_blocks"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		struct meta_thin *th;
		int rc;
		mkfile(4096 * 64);
		rc = restore_string(cases[i].xml, path, err, sizeof(err));
		ck_assert_int_ne(rc, META_OK);
		if (!err[0]) {
			/* errors found at commit come through the restorer, not the parser */
			ck_assert_str_eq(cases[i].want, "device 1 appears twice");
		} else {
			ck_assert_msg(strstr(err, cases[i].want), "case %zu: got '%s'", i, err);
		}
		ck_assert_int_eq(meta_thin_open(path, NULL, &th), META_E_CHECKSUM);
		unlink(path);
	}
}
END_TEST

/* Total mappings of every device, -1 if a tree cannot be read completely. */
static int64_t total_mappings(struct meta_thin *th)
{
	struct meta_thin_dev_root *roots;
	uint64_t nr, total = 0;
	if (meta_thin_read_dev_roots(th, &roots, &nr, NULL, NULL))
		return -1;
	for (uint64_t i = 0; i < nr; i++)
		meta_thin_walk_mappings(th, roots[i].root, count_maps, NULL, &total);
	free(roots);
	return (int64_t)total;
}

/* A write that fails at any point leaves either the new pool or no valid superblock. */
START_TEST(test_restore_crash_every_write)
{
	uint64_t n;
	int completed = 0, late = 0;
	int64_t want;
	{
		char err[256];
		struct meta_thin *th;
		mkfile(4096 * 256);
		ck_assert_int_eq(restore_file(fixture("snaps"), path, NULL, err, sizeof(err)), META_OK);
		ck_assert_int_eq(meta_thin_open(path, NULL, &th), META_OK);
		want = total_mappings(th);
		meta_thin_close(th);
		unlink(path);
		ck_assert_int_gt(want, 0);
	}
	for (n = 1; n < 100000 && !completed; n++) {
		struct meta_thin_restore_opts o;
		char err[256];
		struct meta_thin *th;
		int rc;
		memset(&o, 0, sizeof(o));
		o.fail_writes_after = n;
		mkfile(4096 * 256);
		rc = restore_file(fixture("snaps"), path, &o, err, sizeof(err));
		if (rc == META_OK) {
			completed = 1;
			ck_assert_int_eq(meta_thin_open(path, NULL, &th), META_OK);
			meta_thin_close(th);
		} else {
			ck_assert_int_eq(rc, META_E_IO);
			rc = meta_thin_open(path, NULL, &th);
			if (rc == META_OK) {
				/* only once the superblock itself was written: then it is all there */
				ck_assert_int_eq(total_mappings(th), want);
				meta_thin_close(th);
				late++;
			} else {
				ck_assert_int_eq(rc, META_E_CHECKSUM);
			}
		}
		unlink(path);
	}
	ck_assert(completed);
	ck_assert_int_le(late, 1);
	ck_assert_uint_gt(n, 3); /* the zeroing write, data, the superblock at least */
}
END_TEST

/* Read a whole file into a malloc'd buffer. */
static uint8_t *slurp(const char *p, size_t *len)
{
	FILE *f = fopen(p, "rb");
	uint8_t *b;
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	b = malloc(*len ? *len : 1);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(fread(b, 1, *len, f), *len);
	fclose(f);
	return b;
}

/* One check pass over xmltext with force over `out`; returns the first error. */
static int check_pass(const char *xmltext, const char *out, bool *touched, char *err,
		      size_t errlen)
{
	struct meta_thin_restore_opts o;
	struct meta_thin_restorer *r;
	struct meta_thin_emitter e;
	FILE *in = fmemopen((void *)xmltext, strlen(xmltext), "r");
	int rc;
	ck_assert_ptr_nonnull(in);
	memset(&o, 0, sizeof(o));
	o.force = true;
	ck_assert_int_eq(meta_thin_restorer_create(out, &o, &r), META_OK);
	ck_assert_int_eq(meta_thin_restorer_check_begin(r), META_OK);
	e = meta_thin_restorer_emitter(r);
	err[0] = 0;
	rc = meta_thin_xml_parse(in, &e, meta_thin_restorer_message, err, errlen);
	if (!rc) {
		rc = meta_thin_restorer_check_end(r);
		if (rc && meta_thin_restorer_message(r))
			snprintf(err, errlen, "%s", meta_thin_restorer_message(r));
	}
	if (!rc) {
		/* the real pass over the same input */
		rewind(in);
		rc = meta_thin_xml_parse(in, &e, meta_thin_restorer_message, err, errlen);
		if (!rc)
			rc = meta_thin_restorer_commit(r);
	}
	*touched = meta_thin_restorer_touched(r);
	fclose(in);
	meta_thin_restorer_destroy(r);
	return rc;
}

#define SB_LINE "<superblock uuid=\"\" time=\"0\" transaction=\"1\" data_block_size=\"128\" "
#define DEV_LINE(id) "  <device dev_id=\"" #id "\" mapped_blocks=\"0\" transaction=\"0\" " \
		     "creation_time=\"0\" snap_time=\"0\">\n"

/* A check pass finds every error before the first write: the old pool stays as it was. */
START_TEST(test_restore_check_pass)
{
	static const struct {
		const char *xml, *want;
	} bad[] = {
		/* errors at the very end: only a whole pass finds them */
		{SB_LINE "nr_data_blocks=\"10\">\n" DEV_LINE(1)
		 "    <single_mapping origin_block=\"0\" data_block=\"1\" time=\"0\"/>\n"
		 "  </device>\n" DEV_LINE(2) "    <ref name=\"missing\"/>\n  </device>\n</superblock>\n",
		 "Couldn't find sub tree 'missing'"},
		{SB_LINE "nr_data_blocks=\"10\">\n" DEV_LINE(1)
		 "    <single_mapping origin_block=\"0\" data_block=\"1\" time=\"0\"/>\n"
		 "  </device>\n" DEV_LINE(1) "  </device>\n</superblock>\n",
		 "device 1 appears twice"},
		{SB_LINE "nr_data_blocks=\"10\">\n  <def name=\"a\">\n"
		 "    <single_mapping origin_block=\"5\" data_block=\"1\" time=\"0\"/>\n"
		 "  </def>\n" DEV_LINE(1)
		 "    <single_mapping origin_block=\"5\" data_block=\"2\" time=\"0\"/>\n"
		 "    <ref name=\"a\"/>\n  </device>\n</superblock>\n",
		 "ref 'a' overlaps"},
		{SB_LINE "nr_data_blocks=\"10\">\n" DEV_LINE(1)
		 "    <single_mapping origin_block=\"0\" data_block=\"10\" time=\"0\"/>\n"
		 "  </device>\n</superblock>\n",
		 "past the end of the data device"},
		{SB_LINE "nr_data_blocks=\"10\">\n" DEV_LINE(1) "  </device>\n",
		 "no element found"},
		/* the mapping leaves alone need more than the 64 blocks of the output */
		{SB_LINE "nr_data_blocks=\"100000\">\n" DEV_LINE(1)
		 "    <range_mapping origin_begin=\"0\" data_begin=\"0\" length=\"90000\" time=\"0\"/>\n"
		 "  </device>\n</superblock>\n",
		 "the output is too small for this pool"},
	};
	char err[512];
	size_t before_len, after_len;
	uint8_t *before, *after;
	bool touched;
	mkfile(4096 * 64);
	ck_assert_int_eq(restore_file(fixture("one-thin"), path, NULL, err, sizeof(err)), META_OK);
	before = slurp(path, &before_len);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = check_pass(bad[i].xml, path, &touched, err, sizeof(err));
		ck_assert_int_ne(rc, META_OK);
		ck_assert_msg(strstr(err, bad[i].want), "case %zu: got '%s'", i, err);
		ck_assert_msg(!touched, "case %zu: the output was written", i);
		after = slurp(path, &after_len);
		ck_assert_uint_eq(after_len, before_len);
		ck_assert_msg(!memcmp(after, before, before_len), "case %zu: the output changed", i);
		free(after);
	}
	free(before);
	/* a good input: checked, then restored over the old pool */
	ck_assert_int_eq(check_pass(SB_LINE "nr_data_blocks=\"10\">\n" DEV_LINE(7)
				    "    <single_mapping origin_block=\"3\" data_block=\"4\" "
				    "time=\"0\"/>\n  </device>\n</superblock>\n",
				    path, &touched, err, sizeof(err)),
			 META_OK);
	ck_assert(touched);
	{
		struct meta_thin *th;
		struct meta_thin_details *d;
		uint64_t nd;
		ck_assert_int_eq(meta_thin_open(path, NULL, &th), META_OK);
		ck_assert_int_eq(meta_thin_read_details(th, &d, &nd, NULL, NULL), META_OK);
		ck_assert_uint_eq(nd, 1);
		ck_assert_uint_eq(d[0].dev_id, 7);
		ck_assert_uint_eq(d[0].mapped_blocks, 1);
		free(d);
		meta_thin_close(th);
	}
	unlink(path);
}
END_TEST

/* check_begin only before the emitter is used; check_end only after check_begin. */
START_TEST(test_restore_check_misuse)
{
	struct meta_thin_restorer *r;
	struct meta_thin_emitter e;
	struct meta_thin_xml_sb sb;
	mkfile(4096 * 64);
	ck_assert_int_eq(meta_thin_restorer_create(path, NULL, &r), META_OK);
	ck_assert_int_eq(meta_thin_restorer_check_end(r), META_E_INVAL);
	ck_assert(!meta_thin_restorer_touched(r));
	e = meta_thin_restorer_emitter(r);
	memset(&sb, 0, sizeof(sb));
	sb.uuid = "";
	sb.data_block_size = 128;
	sb.nr_data_blocks = 10;
	ck_assert_int_eq(e.ops->begin_superblock(e.ctx, &sb), META_OK);
	ck_assert(meta_thin_restorer_touched(r));
	ck_assert_int_eq(meta_thin_restorer_check_begin(r), META_E_INVAL);
	meta_thin_restorer_destroy(r);
	unlink(path);
}
END_TEST

/* nr_data_blocks whose space map cannot fit fails at once, before allocating for it. */
START_TEST(test_restore_space_map_too_big)
{
	char err[512];
	bool touched;
	mkfile(4096 * 64);
	ck_assert_int_eq(check_pass(SB_LINE "nr_data_blocks=\"1099511627776\">\n</superblock>\n",
				    path, &touched, err, sizeof(err)),
			 META_E_NOSPC);
	ck_assert_msg(strstr(err, "any metadata device"), "got '%s'", err);
	ck_assert(!touched);
	ck_assert_int_eq(restore_string(SB_LINE "nr_data_blocks=\"16777216\">\n</superblock>\n",
					path, err, sizeof(err)),
			 META_E_NOSPC);
	ck_assert_msg(strstr(err, "it needs at least"), "got '%s'", err);
	unlink(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("thin_restore");
	TCase *tc = ub_tcase(s, "thin_restore", 120);
	tcase_add_test(tc, test_builder_sizes);
	tcase_add_test(tc, test_builder_seq_same_image);
	tcase_add_test(tc, test_builder_rejects_disorder);
	tcase_add_test(tc, test_builder_nospc);
	tcase_add_test(tc, test_restore_fixture_reads_back);
	tcase_add_test(tc, test_restore_refusals);
	tcase_add_test(tc, test_restore_bad_xml);
	tcase_add_test(tc, test_restore_crash_every_write);
	tcase_add_test(tc, test_restore_check_pass);
	tcase_add_test(tc, test_restore_check_misuse);
	tcase_add_test(tc, test_restore_space_map_too_big);
	return ub_run(s);
}

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of meta_thin_repair(): crash safety (issue 3, "Proof").  The repair's output
 * device fails every write after the N-th (opts.out.fail_writes_after = N), for every N
 * until the repair completes.  After each failure the output must either have no valid
 * superblock (it does not open) or hold the complete repaired pool — never a pool with
 * other mappings.  Run on a damaged input (one lost leaf: the normal walk plus skip) and on
 * an input whose superblock is zeroed (the roots are found by scanning), over a zeroed output
 * and over an output holding another valid pool (lvconvert's spare).
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/btree.h>
#include <libmeta/crc32c.h>
#include <libmeta/error.h>
#include <libmeta/thin.h>
#include <libmeta/thin_repair.h>
#include <libmeta/thin_restore.h>
#include <libmeta/thin_xml_read.h>

#include "base/endian.h"
#include "pdata/ondisk.h"
#include "unit_base.h"

#define BLK 4096u

static const char *fixture_xml(const char *name)
{
	char rel[128];
	snprintf(rel, sizeof(rel), "thin/%s.xml", name);
	return ub_fixture(rel);
}

/* Restore fixture XML into path (an existing file). */
static void restore_xml(const char *xml, const char *path)
{
	struct meta_thin_restorer *r;
	struct meta_thin_emitter e;
	struct meta_thin_restore_opts o;
	char err[256] = "";
	FILE *in = fopen(xml, "r");
	int rc;
	ck_assert_msg(in != NULL, "cannot open %s (is SRCDIR set?)", xml);
	memset(&o, 0, sizeof(o));
	o.force = true;
	ck_assert_int_eq(meta_thin_restorer_create(path, &o, &r), META_OK);
	e = meta_thin_restorer_emitter(r);
	rc = meta_thin_xml_parse(in, &e, meta_thin_restorer_message, err, sizeof(err));
	fclose(in);
	ck_assert_msg(rc == META_OK, "restoring %s: %s", xml, err);
	ck_assert_int_eq(meta_thin_restorer_commit(r), META_OK);
	meta_thin_restorer_destroy(r);
}

static void zero_block(const char *path, uint64_t b)
{
	uint8_t buf[BLK];
	memset(buf, 0, sizeof(buf));
	ub_write_block(path, b, buf);
}

/* First child of device dev_id's (internal) root: a bottom-level leaf in the snaps pool;
 * *entries receives its number of mappings. */
static uint64_t first_leaf_of(const char *path, uint64_t dev_id, uint64_t *entries)
{
	struct meta_thin *th;
	struct meta_thin_dev_root *roots;
	uint64_t nr, root = 0, child;
	uint8_t buf[BLK];
	ck_assert_int_eq(meta_thin_open(path, NULL, &th), META_OK);
	ck_assert_int_eq(meta_thin_read_dev_roots(th, &roots, &nr, NULL, NULL), META_OK);
	for (uint64_t i = 0; i < nr; i++)
		if (roots[i].dev_id == dev_id)
			root = roots[i].root;
	free(roots);
	meta_thin_close(th);
	ck_assert_uint_ne(root, 0);
	ub_read_block(path, root, buf);
	ck_assert_uint_eq(ub_node_flags(buf), META_NODE_INTERNAL);
	child = get_le64p(ub_node_value(buf, 0));
	ub_read_block(path, child, buf);
	ck_assert_uint_eq(ub_node_flags(buf), META_NODE_LEAF);
	*entries = ub_node_nr(buf);
	return child;
}

/* ---- what a pool holds: a digest over every device's details and mappings ---------- */

struct digest {
	uint64_t h, n;
};

static void mix(struct digest *d, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		d->h ^= (v >> (8 * i)) & 0xffu;
		d->h *= 1099511628211ULL;
	}
}

static int digest_maps(void *ctx, const struct meta_thin_mapping *m, uint32_t n)
{
	struct digest *d = ctx;
	for (uint32_t i = 0; i < n; i++) {
		mix(d, m[i].vblock);
		mix(d, m[i].data_block);
		mix(d, m[i].time);
	}
	d->n += n;
	return 0;
}

/* META_OK and the digest when path holds a readable pool, else the open error. */
static int pool_digest(const char *path, struct digest *d)
{
	struct meta_thin *th;
	struct meta_thin_details *det;
	struct meta_thin_dev_root *roots;
	uint64_t nd, nr;
	int rc = meta_thin_open(path, NULL, &th);
	if (rc)
		return rc;
	d->h = 1469598103934665603ULL;
	d->n = 0;
	mix(d, meta_thin_sb(th)->trans_id);
	mix(d, meta_thin_nr_data_blocks(th));
	ck_assert_int_eq(meta_thin_read_details(th, &det, &nd, NULL, NULL), META_OK);
	ck_assert_int_eq(meta_thin_read_dev_roots(th, &roots, &nr, NULL, NULL), META_OK);
	ck_assert_uint_eq(nd, nr);
	for (uint64_t i = 0; i < nd; i++) {
		mix(d, det[i].dev_id);
		mix(d, det[i].mapped_blocks);
		ck_assert_int_eq(meta_thin_walk_mappings(th, roots[i].root, digest_maps, NULL, d), META_OK);
	}
	free(det);
	free(roots);
	meta_thin_close(th);
	return META_OK;
}

/* ---- the crash loop ------------------------------------------------------------------ */

enum out_kind { OUT_ZERO, OUT_OLD_POOL };

static void prepare_output(const char *out, enum out_kind k)
{
	int fd = open(out, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 256 * BLK), 0);
	close(fd);
	if (k == OUT_OLD_POOL)
		restore_xml(fixture_xml("one-thin"), out);
}

static void crash_loop(const char *in, const struct meta_thin_repair_opts *base,
		       enum out_kind kind, uint64_t want_mappings)
{
	char out[UB_PATH_MAX], err[512];
	struct meta_thin_repair_opts o = *base;
	struct meta_thin_repair_stats st;
	struct digest want, got;
	uint64_t n;
	int completed = 0, late = 0, rejected = 0;

	ub_tmpfile(out, "repair", 256 * BLK);
	prepare_output(out, kind);
	o.out.force = true;
	o.out.fail_writes_after = 0;
	ck_assert_msg(meta_thin_repair(in, out, &o, &st, err, sizeof(err)) == META_OK, "repair: %s", err);
	ck_assert_int_eq(pool_digest(out, &want), META_OK);
	ck_assert_uint_eq(want.n, want_mappings);

	for (n = 1; n < 100000 && !completed; n++) {
		int rc;
		prepare_output(out, kind);
		o.out.fail_writes_after = n;
		rc = meta_thin_repair(in, out, &o, &st, err, sizeof(err));
		if (rc == META_OK) {
			completed = 1;
			ck_assert_int_eq(pool_digest(out, &got), META_OK);
		} else {
			ck_assert_msg(rc == META_E_IO, "write %llu failed: %s (%s)", (unsigned long long)n,
				      meta_errname(rc), err);
			rc = pool_digest(out, &got);
			if (rc != META_OK) {
				rejected++;
				continue;
			}
			/* it opens: then it must be the complete new pool, not the old one */
			late++;
		}
		ck_assert_msg(got.n == want.n && got.h == want.h,
			      "after %llu writes the output holds %llu mappings (want %llu) or other content",
			      (unsigned long long)n, (unsigned long long)got.n, (unsigned long long)want.n);
	}
	ck_assert(completed);
	ck_assert_int_le(late, 1);
	/* at least the superblock zeroing and the trees were cut off before the end */
	ck_assert_int_ge(rejected, 2);
	unlink(out);
}

START_TEST(test_repair_crash_lost_leaf)
{
	char in[UB_PATH_MAX];
	struct meta_thin_repair_opts o;
	uint64_t lost;
	ub_tmpfile(in, "repair", 256 * BLK);
	restore_xml(fixture_xml("snaps"), in);
	zero_block(in, first_leaf_of(in, 2, &lost));
	ck_assert_uint_gt(lost, 0);
	memset(&o, 0, sizeof(o));
	/* snaps: 4 devices x 300 mappings; the lost leaf held device 2's first ones */
	crash_loop(in, &o, OUT_ZERO, 1200 - lost);
	crash_loop(in, &o, OUT_OLD_POOL, 1200 - lost);
	unlink(in);
}
END_TEST

START_TEST(test_repair_crash_zeroed_superblock)
{
	char in[UB_PATH_MAX];
	struct meta_thin_repair_opts o;
	ub_tmpfile(in, "repair", 256 * BLK);
	restore_xml(fixture_xml("snaps"), in);
	zero_block(in, 0);
	memset(&o, 0, sizeof(o));
	o.out.set_transaction_id = o.out.set_data_block_size = o.out.set_nr_data_blocks = true;
	o.out.transaction_id = 4;
	o.out.data_block_size = 128;
	o.out.nr_data_blocks = 2048;
	crash_loop(in, &o, OUT_ZERO, 1200);
	crash_loop(in, &o, OUT_OLD_POOL, 1200);
	unlink(in);
}
END_TEST

/* Without --data-block-size a zeroed superblock is refused before the output is touched
 * (the transaction id and the number of data blocks are derived, as tpt 1.x). */
START_TEST(test_repair_needs_overrides)
{
	char in[UB_PATH_MAX], out[UB_PATH_MAX], err[512];
	struct meta_thin_repair_opts o;
	struct meta_thin_repair_stats st;
	struct digest d;
	ub_tmpfile(in, "repair", 256 * BLK);
	ub_tmpfile(out, "repair", 256 * BLK);
	restore_xml(fixture_xml("snaps"), in);
	zero_block(in, 0);
	restore_xml(fixture_xml("one-thin"), out);
	memset(&o, 0, sizeof(o));
	o.out.force = true;
	ck_assert_int_eq(meta_thin_repair(in, out, &o, &st, err, sizeof(err)), META_E_INVAL);
	ck_assert_ptr_nonnull(strstr(err, "--data-block-size"));
	/* the old pool in the output is untouched */
	ck_assert_int_eq(pool_digest(out, &d), META_OK);
	ck_assert_uint_eq(d.n, 106);
	/* the data block size alone is enough */
	o.out.set_data_block_size = true;
	o.out.data_block_size = 128;
	ck_assert_int_eq(meta_thin_repair(in, out, &o, &st, err, sizeof(err)), META_OK);
	ck_assert_int_eq(pool_digest(out, &d), META_OK);
	ck_assert_uint_eq(d.n, 1200);
	unlink(in);
	unlink(out);
}
END_TEST

/* meta_thin_find_roots on a zeroed superblock: the pair of trees and the values derived
 * from them (snaps: devices' highest transaction 4, newest time 3, highest data block 2037). */
START_TEST(test_find_roots)
{
	char in[UB_PATH_MAX];
	struct meta_thin_open_opts oo;
	struct meta_thin_found_roots fr;
	struct meta_thin *t;
	ub_tmpfile(in, "repair", 256 * BLK);
	restore_xml(fixture_xml("snaps"), in);
	zero_block(in, 0);
	memset(&oo, 0, sizeof(oo));
	oo.flags = META_THIN_OPEN_NO_SB_CHECK;
	ck_assert_int_eq(meta_thin_open(in, &oo, &t), META_OK);
	ck_assert_int_eq(meta_thin_find_roots(t, &fr), META_OK);
	meta_thin_close(t);
	ck_assert_uint_ne(fr.mapping_root, 0);
	ck_assert_uint_ne(fr.details_root, 0);
	ck_assert_uint_eq(fr.transaction_id, 5);
	ck_assert_uint_eq(fr.time, 3);
	ck_assert_uint_eq(fr.nr_data_blocks, 2038);
	/* nothing to find in a blank image */
	zero_block(in, fr.mapping_root);
	zero_block(in, fr.details_root);
	ck_assert_int_eq(meta_thin_open(in, &oo, &t), META_OK);
	ck_assert_int_eq(meta_thin_find_roots(t, &fr), META_E_NOTFOUND);
	meta_thin_close(t);
	unlink(in);
}
END_TEST

/* meta_thin_repair_verify: a clean pool passes; one wrong mapping (data counts off) fails,
 * names the damage and leaves no superblock behind. */
START_TEST(test_repair_verify)
{
	char p[UB_PATH_MAX], err[512] = "";
	uint8_t buf[BLK];
	uint64_t n, leaf, v;
	ub_tmpfile(p, "repair", 256 * BLK);
	restore_xml(fixture_xml("snaps"), p);
	ck_assert_int_eq(meta_thin_repair_verify(p, err, sizeof(err)), META_OK);
	/* map the leaf's first entry to another data block: the data space map disagrees */
	leaf = first_leaf_of(p, 1, &n);
	ub_read_block(p, leaf, buf);
	v = get_le64p(ub_node_value(buf, 0));
	put_le64p(ub_node_value(buf, 0), v + ((uint64_t)1000 << 24));
	((struct disk_node_header *)buf)->csum = le32_of(meta_block_csum(buf, BLK, 121107u));
	ub_write_block(p, leaf, buf);
	ck_assert_int_eq(meta_thin_repair_verify(p, err, sizeof(err)), META_E_CORRUPT);
	ck_assert_msg(strstr(err, "DATA_") != NULL, "err: %s", err);
	ck_assert_msg(strstr(err, "report this bug") != NULL, "err: %s", err);
	ub_read_block(p, 0, buf);
	for (uint32_t i = 0; i < BLK; i++)
		ck_assert_uint_eq(buf[i], 0);
	unlink(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("thin_repair");
	TCase *tc = ub_tcase(s, "thin_repair", 120);
	tcase_add_test(tc, test_repair_crash_lost_leaf);
	tcase_add_test(tc, test_repair_crash_zeroed_superblock);
	tcase_add_test(tc, test_repair_needs_overrides);
	tcase_add_test(tc, test_find_roots);
	tcase_add_test(tc, test_repair_verify);
	return ub_run(s);
}

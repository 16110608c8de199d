/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of the status lines (libmeta/thin/thin_status.c): the words and spacing of
 * the pool line, the thin line's "-" and its 64-bit arithmetic, the default mode, the
 * metadata reserve and low-water rules, and the figures read from fixtures.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/error.h>
#include <libmeta/thin.h>
#include <libmeta/thin_status.h>

#include "unit_base.h"

static const struct meta_thin_pool_features defaults = {
	META_THIN_POOL_RW, META_THIN_POOL_DISCARD_PASSDOWN, false,
};

START_TEST(pool_line_words)
{
	struct meta_thin_pool_status s;
	struct meta_thin_pool_features f = defaults;
	char buf[256];
	size_t n;

	memset(&s, 0, sizeof(s));
	s.transaction_id = 5;
	s.used_metadata_blocks = 836;
	s.total_metadata_blocks = 8192;
	s.used_data_blocks = 8;
	s.total_data_blocks = 256;
	s.metadata_threshold = 1024;
	n = meta_thin_pool_status_line(&s, &f, buf, sizeof(buf));
	ck_assert_str_eq(buf, "5 836/8192 8/256 - rw discard_passdown queue_if_no_space - 1024 ");
	ck_assert_uint_eq(n, strlen(buf));

	s.held_root = 53;
	s.needs_check = true;
	f.mode = META_THIN_POOL_OUT_OF_DATA_SPACE;
	f.discard = META_THIN_POOL_DISCARD_NO_PASSDOWN;
	f.error_if_no_space = true;
	meta_thin_pool_status_line(&s, &f, buf, sizeof(buf));
	ck_assert_str_eq(buf, "5 836/8192 8/256 53 out_of_data_space no_discard_passdown "
			      "error_if_no_space needs_check 1024 ");
	f.mode = META_THIN_POOL_RO;
	f.discard = META_THIN_POOL_DISCARD_IGNORE;
	meta_thin_pool_status_line(&s, &f, buf, sizeof(buf));
	ck_assert_str_eq(buf, "5 836/8192 8/256 53 ro ignore_discard error_if_no_space "
			      "needs_check 1024 ");

	/* the widest line fits the documented 256 bytes; a short buffer is cut, as snprintf */
	s.transaction_id = s.used_metadata_blocks = s.total_metadata_blocks = UINT64_MAX;
	s.used_data_blocks = s.total_data_blocks = s.held_root = UINT64_MAX;
	s.metadata_threshold = UINT64_MAX;
	f.mode = META_THIN_POOL_OUT_OF_DATA_SPACE;
	f.discard = META_THIN_POOL_DISCARD_NO_PASSDOWN;
	n = meta_thin_pool_status_line(&s, &f, buf, sizeof(buf));
	ck_assert_uint_lt(n, sizeof(buf));
	ck_assert_uint_eq(n, strlen(buf));
	n = meta_thin_pool_status_line(&s, &f, buf, 8);
	ck_assert_uint_gt(n, 7);
	ck_assert_uint_eq(strlen(buf), 7);
}
END_TEST

START_TEST(thin_line)
{
	struct meta_thin_dev_status d;
	char buf[64];

	memset(&d, 0, sizeof(d));
	d.data_block_size = 128;
	meta_thin_dev_status_line(&d, buf, sizeof(buf));
	ck_assert_str_eq(buf, "0 -");
	d.mapped = true; /* only block 0: its last sector, not "-" */
	d.mapped_blocks = 1;
	meta_thin_dev_status_line(&d, buf, sizeof(buf));
	ck_assert_str_eq(buf, "128 127");
	d.mapped_blocks = 106;
	d.highest_block = 10001;
	meta_thin_dev_status_line(&d, buf, sizeof(buf));
	ck_assert_str_eq(buf, "13568 1280255");
	/* the kernel's products wrap at 2^64 (damaged counts): so do ours */
	d.mapped_blocks = UINT64_MAX;
	d.highest_block = UINT64_MAX;
	meta_thin_dev_status_line(&d, buf, sizeof(buf));
	ck_assert_str_eq(buf, "18446744073709551488 18446744073709551615");
	ck_assert_uint_lt(meta_thin_dev_status_line(&d, buf, sizeof(buf)), 64);
}
END_TEST

START_TEST(default_mode)
{
	struct meta_thin_pool_status s;

	memset(&s, 0, sizeof(s));
	s.total_metadata_blocks = 64;
	s.used_metadata_blocks = 17;
	ck_assert_int_eq(meta_thin_pool_default_mode(&s), META_THIN_POOL_RW);
	s.needs_check = true;
	ck_assert_int_eq(meta_thin_pool_default_mode(&s), META_THIN_POOL_RO);
	s.needs_check = false;
	s.used_metadata_blocks = 64;
	ck_assert_int_eq(meta_thin_pool_default_mode(&s), META_THIN_POOL_RO);
	/* a full data space is not a mode the metadata shows */
	s.used_metadata_blocks = 17;
	s.used_data_blocks = s.total_data_blocks = 16;
	ck_assert_int_eq(meta_thin_pool_default_mode(&s), META_THIN_POOL_RW);
}
END_TEST

static void open_fixture(const char *rel, char *path, struct meta_thin **t)
{
	struct meta_thin_open_opts o;

	memset(&o, 0, sizeof(o));
	ub_fixture_gunzip(rel, path, "status");
	ck_assert_int_eq(meta_thin_open(path, &o, t), META_OK);
}

START_TEST(fixture_figures)
{
	char path[UB_PATH_MAX];
	struct meta_thin *t;
	struct meta_thin_pool_status s;
	struct meta_thin_dev_status d;

	open_fixture("thin/one-thin.bin.gz", path, &t);
	ck_assert_int_eq(meta_thin_pool_status(t, &s), META_OK);
	ck_assert_uint_eq(s.transaction_id, 1);
	ck_assert_uint_eq(s.total_metadata_blocks, 64);
	ck_assert_uint_eq(s.metadata_reserve, 6);      /* 64 / 10 */
	ck_assert_uint_eq(s.used_metadata_blocks, 17); /* 11 allocated + the reserve */
	ck_assert_uint_eq(s.used_data_blocks, 106);
	ck_assert_uint_eq(s.total_data_blocks, 4096);
	ck_assert_uint_eq(s.held_root, 0);
	ck_assert(!s.needs_check);
	ck_assert_uint_eq(s.metadata_threshold, 16);   /* 64 blocks / 4 */
	ck_assert_int_eq(meta_thin_dev_status(t, 1, &d), META_OK);
	ck_assert_uint_eq(d.mapped_blocks, 106);
	ck_assert(d.mapped);
	ck_assert_uint_eq(d.highest_block, 10001);
	ck_assert_uint_eq(d.data_block_size, 128);
	ck_assert_int_eq(meta_thin_dev_status(t, 7, &d), META_E_NOTFOUND);
	ck_assert_int_eq(meta_thin_dev_status(t, 0, &d), META_E_NOTFOUND);
	meta_thin_close(t);

	/* a metadata file past the kernel's limit: the low water stays at its cap */
	ck_assert_int_eq(truncate(path, (off_t)20 << 30), 0);
	{
		struct meta_thin_open_opts o;
		memset(&o, 0, sizeof(o));
		ck_assert_int_eq(meta_thin_open(path, &o, &t), META_OK);
	}
	ck_assert_int_eq(meta_thin_pool_status(t, &s), META_OK);
	ck_assert_uint_eq(s.metadata_threshold, META_THIN_STATUS_METADATA_THRESHOLD_MAX);
	ck_assert_uint_eq(s.total_metadata_blocks, 64); /* the space map's, not the file's */
	meta_thin_close(t);
	unlink(path);

	open_fixture("thin/needs-check.bin.gz", path, &t);
	ck_assert_int_eq(meta_thin_pool_status(t, &s), META_OK);
	ck_assert(s.needs_check);
	ck_assert_int_eq(meta_thin_pool_default_mode(&s), META_THIN_POOL_RO);
	meta_thin_close(t);
	unlink(path);

	open_fixture("thin/many.bin.gz", path, &t);
	ck_assert_int_eq(meta_thin_pool_status(t, &s), META_OK);
	ck_assert_uint_eq(s.metadata_reserve, 102);    /* 1024 / 10 */
	ck_assert_uint_eq(s.metadata_threshold, 256);
	meta_thin_close(t);
	unlink(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("thin_status");
	TCase *tc = ub_tcase(s, "lines", 0);
	tcase_add_test(tc, pool_line_words);
	tcase_add_test(tc, thin_line);
	tcase_add_test(tc, default_mode);
	tc = ub_tcase(s, "fixtures", 0);
	tcase_add_test(tc, fixture_figures);
	return ub_run(s);
}

/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests of meta_family_sniff(): every family's magic, found in fixtures and in made bytes. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/error.h>
#include <libmeta/family.h>
#include <libmeta/io.h>

#include "unit_base.h"

/* Sniff the file at path, then remove it. */
static enum meta_family sniff_path(const char *path)
{
	struct meta_io *io;
	enum meta_family f;
	ck_assert_int_eq(meta_io_open(path, 0, &io), META_OK);
	f = meta_family_sniff(io);
	meta_io_close(io);
	unlink(path);
	return f;
}

static enum meta_family sniff_bytes(const void *data, size_t len)
{
	char path[UB_PATH_MAX];
	ub_tmpfile(path, "family", 0);
	ub_write_at(path, 0, data, len);
	return sniff_path(path);
}

static enum meta_family sniff_fixture(const char *name)
{
	char path[UB_PATH_MAX];
	ub_fixture_gunzip(name, path, "family");
	return sniff_path(path);
}

START_TEST(test_fixtures)
{
	ck_assert_int_eq(sniff_fixture("thin/snaps.bin.gz"), META_FAMILY_THIN);
	ck_assert_int_eq(sniff_fixture("thin/empty.bin.gz"), META_FAMILY_THIN);
	ck_assert_int_eq(sniff_fixture("snap/cow.bin.gz"), META_FAMILY_SNAP);
	ck_assert_int_eq(sniff_fixture("snap/cow-origin.bin.gz"), META_FAMILY_NONE);
}
END_TEST

START_TEST(test_made_bytes)
{
	static uint8_t buf[8192];
	static const uint8_t daniel[8] = {0x74, 0x65, 0x73, 0x74, 0xdd, 0x07, 0x06, 0x04};
	static const uint8_t pack[8] = {0x77, 0xef, 0x09, 0x63, 0xaa, 0xa0, 0x37, 0xa5};
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(sniff_bytes(buf, sizeof(buf)), META_FAMILY_NONE);
	ck_assert_int_eq(sniff_bytes(buf, 0), META_FAMILY_NONE);
	memcpy(buf + 4096, daniel, 8);
	ck_assert_int_eq(sniff_bytes(buf, sizeof(buf)), META_FAMILY_DANIEL);
	ck_assert_int_eq(sniff_bytes(buf, 4100), META_FAMILY_NONE); /* cut short */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, pack, 8);
	ck_assert_int_eq(sniff_bytes(buf, 8), META_FAMILY_PACK);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "\n  <superblock uuid=\"\"", 22);
	ck_assert_int_eq(sniff_bytes(buf, 22), META_FAMILY_XML);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "DMMSMIKU", 8);
	ck_assert_int_eq(sniff_bytes(buf, 8), META_FAMILY_MIKULAS);
	ck_assert_int_eq(sniff_bytes(buf, 7), META_FAMILY_NONE); /* cut short */
	buf[7] = 'u';
	ck_assert_int_eq(sniff_bytes(buf, 8), META_FAMILY_NONE);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, " <multisnap_store type=\"daniel\"", 32);
	ck_assert_int_eq(sniff_bytes(buf, 32), META_FAMILY_XML);
	ck_assert_str_eq(meta_family_name(META_FAMILY_MIKULAS), "a shared multisnapshot store (mikulas)");
	ck_assert_str_eq(meta_family_checker(META_FAMILY_MIKULAS), "snap_check");
	ck_assert_str_eq(meta_family_name(META_FAMILY_SNAP), "a classic dm-snapshot COW store");
	ck_assert_str_eq(meta_family_checker(META_FAMILY_THIN), "thin_check");
	ck_assert_ptr_null(meta_family_checker(META_FAMILY_NONE));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("family");
	TCase *tc = ub_tcase(s, "family", 0);
	tcase_add_test(tc, test_fixtures);
	tcase_add_test(tc, test_made_bytes);
	return ub_run(s);
}

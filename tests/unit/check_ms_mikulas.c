/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The mikulas shared store (libmeta/multisnap/mikulas.c) through its vtable: format,
 * messages, status, reopen, ids near 2^32, the (origin chunk, id) lookup, delete's
 * cleanup of exceptions, and the crash matrix (fail the Nth write of a message
 * sequence, for every N: the store reopens to the state before or after the message).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/multisnap.h>

#include "multisnap/mikulas.h"
#include "multisnap/mikulas_internal.h"
#include "multisnap/mikulas_ondisk.h"
#include "multisnap/ms_internal.h"
#include "unit_base.h"

#define MIB (1024ull * 1024ull)
#define ID(n) (((uint64_t)(n) << 32) | META_MS_SUB_NONE)
#define SUB(n, k) (((uint64_t)(n) << 32) | (k))

static const struct ms_ops *ops = &ms_mikulas_ops;

struct fx {
	char path[UB_PATH_MAX];
	struct meta_io *io;
	void *st;
};

static void fx_open(struct fx *f)
{
	ck_assert_int_eq(meta_io_open(f->path, META_IO_WRITE, &f->io), 0);
	ck_assert_int_eq(ops->open(f->io, true, &f->st), 0);
}

static void fx_close(struct fx *f)
{
	ops->close(f->st);
	meta_io_close(f->io);
	f->st = NULL;
	f->io = NULL;
}

static void fx_format(struct fx *f, uint64_t bytes, uint32_t chunk)
{
	struct meta_ms_params p = {META_MS_MIKULAS, chunk, 0, META_MS_PRESERVE_ON_ERROR};
	struct meta_io *io;
	ub_tmpfile(f->path, "ms_mikulas", bytes);
	ck_assert_int_eq(meta_io_open(f->path, META_IO_WRITE, &io), 0);
	ck_assert_int_eq(ops->format(io, &p), 0);
	meta_io_close(io);
	fx_open(f);
}

static void fx_done(struct fx *f)
{
	if (f->st)
		fx_close(f);
	unlink(f->path);
}

static void expect_ids(void *st, const meta_ms_id *want, uint64_t n)
{
	meta_ms_id *ids;
	uint64_t got;
	ck_assert_int_eq(ops->snapshots(st, &ids, &got), 0);
	ck_assert_uint_eq(got, n);
	for (uint64_t i = 0; i < n; i++)
		ck_assert_uint_eq(ids[i], want[i]);
	free(ids);
}

START_TEST(test_format_params)
{
	char path[UB_PATH_MAX];
	struct meta_io *io;
	struct meta_ms_params p = {META_MS_MIKULAS, 16, 0, 0};
	uint8_t head[8192] = {0};
	ub_tmpfile(path, "ms_mikulas", 64 * MIB);
	ck_assert_int_eq(meta_io_open(path, META_IO_WRITE, &io), 0);
	p.chunk_size = 4; /* below 4 KiB */
	ck_assert_int_eq(ops->format(io, &p), META_E_INVAL);
	p.chunk_size = 24; /* not a power of two */
	ck_assert_int_eq(ops->format(io, &p), META_E_INVAL);
	p.chunk_size = 1u << 22;
	ck_assert_int_eq(ops->format(io, &p), META_E_INVAL);
	p.chunk_size = 16;
	p.generic = 1u << 5;
	ck_assert_int_eq(ops->format(io, &p), META_E_INVAL);
	p.generic = META_MS_SYNC_SNAPSHOTS;
	ck_assert_int_eq(ops->format(io, &p), 0);
	ck_assert_int_eq(meta_io_pread(io, head, sizeof(head), 0), 0);
	ck_assert(ops->sniff(head));
	ck_assert(memcmp(head, "DMMSMIKU", 8) == 0);
	head[0] = 'X';
	ck_assert(!ops->sniff(head));
	meta_io_close(io);
	unlink(path);
	/* a device too small for the metadata area and one chunk */
	ub_tmpfile(path, "ms_mikulas", 64 * 4096);
	ck_assert_int_eq(meta_io_open(path, META_IO_WRITE, &io), 0);
	ck_assert_int_eq(ops->format(io, &p), META_E_TOOSMALL);
	meta_io_close(io);
	unlink(path);
}
END_TEST

START_TEST(test_sizing)
{
	/* 64 MiB, 8 KiB chunks: D0 = 8192, M = 1 + 2*196 + 2*1 + 256 = 651 */
	ck_assert_uint_eq(mikulas_meta_blocks_for(64 * MIB, 16), 651);
	ck_assert_uint_eq(mikulas_data_start(651, 16), 652 * 4096ull);
	ck_assert_uint_eq(mikulas_meta_blocks_for(4096ull * 100, 8), 265);
	ck_assert_uint_eq(mikulas_meta_blocks_for(1ull << 50, 8), META_SM_METADATA_MAX_BLOCKS);
}
END_TEST

START_TEST(test_messages)
{
	struct fx f;
	meta_ms_id id;
	struct meta_ms_status s;
	const struct mikulas_sb *sb;
	fx_format(&f, 64 * MIB, 16);
	ck_assert_uint_eq(ops->chunk_size(f.st), 16);
	sb = mikulas_get_sb(f.st);
	ck_assert_uint_eq(sb->metadata_blocks, 651);
	ck_assert_uint_eq(sb->data_chunks, (64 * MIB - 652 * 4096ull) / 8192);
	ck_assert_uint_eq(sb->transaction, 1);
	ck_assert_uint_eq(sb->flags, 2);
	expect_ids(f.st, NULL, 0);

	for (unsigned i = 0; i < 3; i++) {
		ck_assert_int_eq(ops->create(f.st, &id), 0);
		ck_assert_uint_eq(id, ID(i));
	}
	ck_assert_int_eq(ops->create_subsnap(f.st, ID(1), &id), 0);
	ck_assert_uint_eq(id, SUB(1, 0));
	ck_assert_int_eq(ops->create_subsnap(f.st, ID(1), &id), 0);
	ck_assert_uint_eq(id, SUB(1, 1));
	ck_assert_int_eq(ops->create_subsnap(f.st, SUB(1, 0), &id), META_E_INVAL);
	ck_assert_int_eq(ops->create_subsnap(f.st, ID(7), &id), META_E_NOTFOUND);
	ck_assert_int_eq(ops->delete_snap(f.st, ID(1)), META_E_BUSY);
	ck_assert_int_eq(ops->delete_snap(f.st, ID(9)), META_E_NOTFOUND);
	ck_assert_int_eq(ops->delete_snap(f.st, SUB(1, 0)), 0);
	ck_assert_int_eq(ops->delete_snap(f.st, SUB(1, 0)), META_E_NOTFOUND);
	{
		meta_ms_id want[] = {ID(0), SUB(1, 1), ID(1), ID(2)};
		expect_ids(f.st, want, 4);
		fx_close(&f);
		fx_open(&f);
		expect_ids(f.st, want, 4);
	}
	/* sub numbers are never reused: the next is 1.2 */
	ck_assert_int_eq(ops->create_subsnap(f.st, ID(1), &id), 0);
	ck_assert_uint_eq(id, SUB(1, 2));
	ck_assert_int_eq(ops->delete_snap(f.st, SUB(1, 1)), 0);
	ck_assert_int_eq(ops->delete_snap(f.st, SUB(1, 2)), 0);
	ck_assert_int_eq(ops->delete_snap(f.st, ID(1)), 0);
	ck_assert_int_eq(ops->create(f.st, &id), 0);
	ck_assert_uint_eq(id, ID(3));
	{
		meta_ms_id want[] = {ID(0), ID(2), ID(3)};
		expect_ids(f.st, want, 3);
	}
	ck_assert_int_eq(ops->status(f.st, &s), 0);
	ck_assert_uint_eq(s.total_sectors, 64 * MIB / 512);
	ck_assert_uint_eq(s.nr_ids, 3);
	ck_assert_uint_gt(s.metadata_sectors, 0);
	ck_assert_uint_eq(s.metadata_sectors % 8, 0);
	ck_assert_uint_eq(s.sectors_allocated, s.metadata_sectors); /* no data chunk yet */
	fx_done(&f);
}
END_TEST

START_TEST(test_readonly)
{
	struct fx f;
	struct meta_io *io;
	void *st;
	meta_ms_id id;
	fx_format(&f, 16 * MIB, 8);
	ck_assert_int_eq(ops->create(f.st, &id), 0);
	fx_close(&f);
	ck_assert_int_eq(meta_io_open(f.path, 0, &io), 0);
	ck_assert_int_eq(ops->open(io, false, &st), 0);
	ck_assert_int_eq(ops->create(st, &id), META_E_INVAL);
	{
		meta_ms_id want[] = {ID(0)};
		expect_ids(st, want, 1);
	}
	ops->close(st);
	meta_io_close(io);
	fx_done(&f);
}
END_TEST

START_TEST(test_ids_near_2_32)
{
	struct fx f;
	meta_ms_id id;
	char buf[META_MS_ID_STRLEN];
	fx_format(&f, 16 * MIB, 8);
	ck_assert_int_eq(mikulas_set_next_snapshot(f.st, 0xfffffffeull), 0);
	ck_assert_int_eq(ops->create(f.st, &id), 0);
	ck_assert_uint_eq(id, ID(0xfffffffeu));
	ck_assert_int_eq(ops->create(f.st, &id), META_E_RANGE);
	ck_assert_int_eq(ops->create_subsnap(f.st, ID(0xfffffffeu), &id), 0);
	ck_assert_uint_eq(id, SUB(0xfffffffeu, 0));
	fx_close(&f);
	fx_open(&f);
	ck_assert_int_eq(ops->create(f.st, &id), META_E_RANGE);
	{
		meta_ms_id want[] = {SUB(0xfffffffeu, 0), ID(0xfffffffeu)};
		expect_ids(f.st, want, 2);
	}
	ck_assert_uint_eq(mikulas_get_sb(f.st)->next_snapshot, 0xffffffffull);
	(void)buf;
	fx_done(&f);
}
END_TEST

START_TEST(test_lookup_and_delete_cleanup)
{
	struct fx f;
	meta_ms_id id;
	uint64_t cow;
	struct meta_ms_status s0, s1;
	fx_format(&f, 16 * MIB, 8);
	for (unsigned i = 0; i < 3; i++)
		ck_assert_int_eq(ops->create(f.st, &id), 0);
	ck_assert_int_eq(ops->create_subsnap(f.st, ID(1), &id), 0);
	ck_assert_int_eq(ops->status(f.st, &s0), 0);
	/* chunk 10: {0} -> 3, {1.0 .. 1} -> 4, {2} -> 4 (shared COW chunk); chunk 11: {0..2} -> 5 */
	ck_assert_int_eq(mikulas_add_exception(f.st, 10, ID(2), ID(2), 4), 0);
	ck_assert_int_eq(mikulas_add_exception(f.st, 10, ID(0), ID(0), 3), 0);
	ck_assert_int_eq(mikulas_add_exception(f.st, 10, SUB(1, 0), ID(1), 4), 0);
	ck_assert_int_eq(mikulas_add_exception(f.st, 11, ID(0), ID(2), 5), 0);
	/* overlaps, bad ranges, a chunk outside the data area */
	ck_assert_int_eq(mikulas_add_exception(f.st, 10, ID(0), SUB(1, 0), 6), META_E_INVAL);
	ck_assert_int_eq(mikulas_add_exception(f.st, 12, ID(2), ID(1), 6), META_E_INVAL);
	ck_assert_int_eq(mikulas_add_exception(f.st, 12, ID(0), ID(0), 1u << 30), META_E_INVAL);
	ck_assert_int_eq(mikulas_add_exception(f.st, 1ull << 48, ID(0), ID(0), 6), META_E_INVAL);
	ck_assert_int_eq(mikulas_commit(f.st), 0);

	ck_assert_int_eq(mikulas_lookup(f.st, 10, ID(0), &cow), 0);
	ck_assert_uint_eq(cow, 3);
	ck_assert_int_eq(mikulas_lookup(f.st, 10, SUB(1, 0), &cow), 0);
	ck_assert_uint_eq(cow, 4);
	ck_assert_int_eq(mikulas_lookup(f.st, 10, ID(1), &cow), 0);
	ck_assert_uint_eq(cow, 4);
	ck_assert_int_eq(mikulas_lookup(f.st, 10, ID(2), &cow), 0);
	ck_assert_uint_eq(cow, 4);
	ck_assert_int_eq(mikulas_lookup(f.st, 11, ID(1), &cow), 0);
	ck_assert_uint_eq(cow, 5);
	ck_assert_int_eq(mikulas_lookup(f.st, 9, ID(1), &cow), META_E_NOTFOUND);
	ck_assert_int_eq(mikulas_lookup(f.st, 10, ID(3), &cow), META_E_NOTFOUND);
	ck_assert_int_eq(ops->status(f.st, &s1), 0);
	/* three data chunks in use (3, 4, 5) */
	ck_assert_uint_eq(s1.sectors_allocated - s1.metadata_sectors, 3 * 8);

	/* delete 0: {0} -> 3 goes, chunk 10 renumbered; {0..2} -> 5 stays (1, 2 live) */
	ck_assert_int_eq(ops->delete_snap(f.st, ID(0)), 0);
	ck_assert_int_eq(mikulas_lookup(f.st, 10, ID(0), &cow), META_E_NOTFOUND);
	ck_assert_int_eq(mikulas_lookup(f.st, 10, ID(2), &cow), 0);
	ck_assert_uint_eq(cow, 4);
	ck_assert_int_eq(ops->status(f.st, &s1), 0);
	ck_assert_uint_eq(s1.sectors_allocated - s1.metadata_sectors, 2 * 8);
	/* delete 2: {2} -> 4 goes but chunk 4 is still named by {1.0..1} */
	ck_assert_int_eq(ops->delete_snap(f.st, ID(2)), 0);
	ck_assert_int_eq(ops->status(f.st, &s1), 0);
	ck_assert_uint_eq(s1.sectors_allocated - s1.metadata_sectors, 2 * 8);
	/* delete 1.0 then 1: everything goes */
	ck_assert_int_eq(ops->delete_snap(f.st, SUB(1, 0)), 0);
	ck_assert_int_eq(mikulas_lookup(f.st, 10, ID(1), &cow), 0);
	ck_assert_int_eq(ops->delete_snap(f.st, ID(1)), 0);
	ck_assert_int_eq(mikulas_lookup(f.st, 10, ID(1), &cow), META_E_NOTFOUND);
	ck_assert_int_eq(mikulas_lookup(f.st, 11, ID(1), &cow), META_E_NOTFOUND);
	fx_close(&f);
	fx_open(&f);
	ck_assert_int_eq(ops->status(f.st, &s1), 0);
	ck_assert_uint_eq(s1.sectors_allocated, s1.metadata_sectors);
	ck_assert_uint_eq(s1.nr_ids, 0);
	fx_done(&f);
}
END_TEST

START_TEST(test_many)
{
	/* enough snapshots and exceptions for multi-level trees */
	struct fx f;
	meta_ms_id id;
	uint64_t cow;
	fx_format(&f, 64 * MIB, 8);
	for (unsigned i = 0; i < 300; i++)
		ck_assert_int_eq(ops->create(f.st, &id), 0);
	for (uint64_t c = 0; c < 600; c++) {
		ck_assert_int_eq(mikulas_add_exception(f.st, c, ID(c % 300), ID(c % 300), c), 0);
		if (c % 300 != 299) /* a second key naming the same COW chunk */
			ck_assert_int_eq(mikulas_add_exception(f.st, c, ID(299), ID(299), c), 0);
	}
	ck_assert_int_eq(mikulas_commit(f.st), 0);
	for (unsigned i = 0; i < 300; i += 2)
		ck_assert_int_eq(ops->delete_snap(f.st, ID(i)), 0);
	fx_close(&f);
	fx_open(&f);
	for (uint64_t c = 0; c < 600; c++) {
		int r = mikulas_lookup(f.st, c, ID(c % 300), &cow);
		if ((c % 300) % 2 == 0) {
			ck_assert_int_eq(r, META_E_NOTFOUND);
		} else {
			ck_assert_int_eq(r, 0);
			ck_assert_uint_eq(cow, c);
		}
	}
	fx_done(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ms_mikulas");
	TCase *tc = ub_tcase(s, "mikulas", 120);
	tcase_add_test(tc, test_format_params);
	tcase_add_test(tc, test_sizing);
	tcase_add_test(tc, test_messages);
	tcase_add_test(tc, test_readonly);
	tcase_add_test(tc, test_ids_near_2_32);
	tcase_add_test(tc, test_lookup_and_delete_cleanup);
	tcase_add_test(tc, test_many);
	return ub_run(s);
}

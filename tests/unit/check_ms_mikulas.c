/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The mikulas shared store (libmeta/multisnap/mikulas.c) through its vtable: format,
 * messages, status, reopen, ids near 2^32, the (origin chunk, id) lookup, delete's
 * cleanup of exceptions, and the crash matrix (fail the Nth write of a message
 * sequence, for every N: the store reopens to the state before or after the message), check
 * (damage named with its block), XML (round trip, schema, errors), and a byte-flip sweep over
 * every metadata block in use.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/multisnap.h>
#include <libmeta/sm.h>

#include "base/endian.h"

#include "multisnap/mikulas.h"
#include "multisnap/mikulas_internal.h"
#include "multisnap/mikulas_ondisk.h"
#include "multisnap/ms_internal.h"
#include "unit_base.h"

#include <libxml/parser.h>
#include <libxml/relaxng.h>

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

struct seen;
static int check_path(const char *path, struct seen *s);
static void expect_clean(struct fx *f);
static int restore_str(const char *xml, const char *path, char *err, size_t errlen);

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
	expect_clean(&f);
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
	expect_clean(&f);
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
	ck_assert_int_eq(mikulas_add_exception(f.st, 10, SUB(2, 0), ID(2), 4), 0);
	ck_assert_int_eq(mikulas_add_exception(f.st, 10, SUB(0, 0), ID(0), 3), 0);
	ck_assert_int_eq(mikulas_add_exception(f.st, 10, SUB(1, 0), ID(1), 4), 0);
	ck_assert_int_eq(mikulas_add_exception(f.st, 11, SUB(0, 0), ID(2), 5), 0);
	/* overlaps, bad ranges, a chunk outside the data area */
	ck_assert_int_eq(mikulas_add_exception(f.st, 10, ID(0), SUB(1, 0), 6), META_E_INVAL);
	ck_assert_int_eq(mikulas_add_exception(f.st, 12, ID(2), ID(1), 6), META_E_INVAL);
	ck_assert_int_eq(mikulas_add_exception(f.st, 12, SUB(0, 0), ID(0), 1u << 30), META_E_INVAL);
	ck_assert_int_eq(mikulas_add_exception(f.st, 1ull << 48, SUB(0, 0), ID(0), 6), META_E_INVAL);
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
	expect_clean(&f);
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
		ck_assert_int_eq(mikulas_add_exception(f.st, c, SUB(c % 300, 0), ID(c % 300), c), 0);
		if (c % 300 != 299) /* a second key naming the same COW chunk */
			ck_assert_int_eq(mikulas_add_exception(f.st, c, SUB(299, 0), ID(299), c), 0);
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
	expect_clean(&f);
	fx_done(&f);
}
END_TEST


/* ---- check ------------------------------------------------------------------------------ */

#define MAX_SEEN 64
struct seen {
	int n;
	struct meta_damage d[MAX_SEEN];
};

static void collect(void *ctx, const struct meta_damage *d)
{
	struct seen *s = ctx;
	if (s->n < MAX_SEEN) {
		s->d[s->n] = *d;
		s->d[s->n].detail = NULL;
	}
	s->n++;
}

static int check_path(const char *path, struct seen *s)
{
	struct meta_io *io;
	int worst;
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(meta_io_open(path, 0, &io), 0);
	worst = ops->check(io, collect, s);
	meta_io_close(io);
	return worst;
}

static bool has(const struct seen *s, enum meta_damage_kind k, uint64_t block)
{
	for (int i = 0; i < s->n && i < MAX_SEEN; i++)
		if (s->d[i].kind == k && (block == UINT64_MAX || s->d[i].block == block))
			return true;
	return false;
}

/* A store with snapshots 0, 1, 1.0, 2 and exceptions on 200 origin chunks. */
static void build_store_on(struct fx *f, uint64_t bytes)
{
	meta_ms_id id;
	fx_format(f, bytes, 8);
	for (unsigned i = 0; i < 3; i++)
		ck_assert_int_eq(ops->create(f->st, &id), 0);
	ck_assert_int_eq(ops->create_subsnap(f->st, ID(1), &id), 0);
	for (uint64_t c = 0; c < 200; c++) {
		ck_assert_int_eq(mikulas_add_exception(f->st, c, SUB(0, 0), ID(0), 2 * c), 0);
		ck_assert_int_eq(mikulas_add_exception(f->st, c, SUB(1, 0), ID(2), 2 * c + 1), 0);
	}
	ck_assert_int_eq(mikulas_commit(f->st), 0);
}

static void build_store(struct fx *f)
{
	build_store_on(f, 16 * MIB);
}

static void flip(const char *path, uint64_t block, unsigned off)
{
	uint8_t b[4096];
	ub_read_block(path, block, b);
	b[off] ^= 0x5a;
	ub_write_block(path, block, b);
}

static void expect_clean(struct fx *f)
{
	struct seen s;
	if (f->st)
		fx_close(f);
	ck_assert_int_eq(check_path(f->path, &s), -1);
	ck_assert_int_eq(s.n, 0);
}

START_TEST(test_check_clean)
{
	struct fx f;
	struct seen s;
	build_store(&f);
	fx_close(&f);
	ck_assert_int_eq(check_path(f.path, &s), -1);
	ck_assert_int_eq(s.n, 0);
	fx_done(&f);
}
END_TEST

START_TEST(test_check_superblock)
{
	struct fx f;
	struct seen s;
	build_store(&f);
	fx_close(&f);
	flip(f.path, 0, 200); /* a zero byte: the checksum no longer matches */
	ck_assert_int_eq(check_path(f.path, &s), META_SEV_FATAL);
	ck_assert(has(&s, META_DMG_MSK_SUPERBLOCK, 0));
	{
		struct meta_io *io;
		void *st;
		ck_assert_int_eq(meta_io_open(f.path, 0, &io), 0);
		ck_assert_int_eq(ops->open(io, false, &st), META_E_CORRUPT);
		meta_io_close(io);
	}
	flip(f.path, 0, 200);
	ck_assert_int_eq(check_path(f.path, &s), -1);
	{
		/* a reserved byte set, checksum right: still reported */
		uint8_t b[4096];
		ub_read_block(f.path, 0, b);
		b[3000] = 1;
		mikulas_sb_validator.prepare(&mikulas_sb_validator, b, 0);
		ub_write_block(f.path, 0, b);
		ck_assert_int_eq(check_path(f.path, &s), META_SEV_FATAL);
		ck_assert(has(&s, META_DMG_MSK_SUPERBLOCK, 0));
		ck_assert_int_eq(s.n, 1);
		b[3000] = 0;
		mikulas_sb_validator.prepare(&mikulas_sb_validator, b, 0);
		ub_write_block(f.path, 0, b);
		ck_assert_int_eq(check_path(f.path, &s), -1);
	}
	flip(f.path, 0, 0); /* the magic */
	ck_assert_int_eq(check_path(f.path, &s), META_SEV_FATAL);
	ck_assert(has(&s, META_DMG_MSK_SUPERBLOCK, 0));
	fx_done(&f);
}
END_TEST

START_TEST(test_check_node)
{
	struct fx f;
	struct seen s;
	uint64_t leaf;
	uint8_t b[4096];
	build_store(&f);
	/* the exception tree has 400 entries: its root is internal; damage its first child */
	ub_read_block(f.path, mikulas_get_sb(f.st)->exception_root, b);
	ck_assert_uint_eq(ub_node_flags(b), 1);
	leaf = get_le64p(ub_node_value(b, 0));
	fx_close(&f);
	flip(f.path, leaf, 100);
	ck_assert_int_eq(check_path(f.path, &s), META_SEV_FATAL);
	ck_assert(has(&s, META_DMG_MSK_NODE, leaf));
	fx_done(&f);
}
END_TEST

START_TEST(test_check_leaf_depth)
{
	/* the root's second child moved one level down, under a new internal node (checksums
	 * valid): its leaf lies deeper than the others, which check and dump refuse */
	struct fx f;
	struct seen s;
	uint64_t root, leaf, spare;
	uint8_t b[4096], n[4096];
	build_store(&f);
	root = mikulas_get_sb(f.st)->exception_root;
	spare = mikulas_get_sb(f.st)->metadata_blocks - 1; /* free in a store this small */
	fx_close(&f);
	ub_read_block(f.path, root, b);
	ck_assert_uint_eq(ub_node_flags(b), 1);
	ck_assert_uint_ge(ub_node_nr(b), 3);
	leaf = get_le64p(ub_node_value(b, 1));
	memcpy(n, b, sizeof(n));
	put_le32p(n + 16, 1); /* nr_entries */
	memcpy(ub_node_key(n, 0), ub_node_key(b, 1), 8);
	put_le64p(ub_node_value(n, 0), leaf);
	meta_node_validator.prepare(&meta_node_validator, n, spare);
	ub_write_block(f.path, spare, n);
	put_le64p(ub_node_value(b, 1), spare);
	meta_node_validator.prepare(&meta_node_validator, b, root);
	ub_write_block(f.path, root, b);
	ck_assert_int_eq(check_path(f.path, &s), META_SEV_FATAL);
	ck_assert(has(&s, META_DMG_MSK_NODE, leaf));
	fx_open(&f);
	{
		char *x;
		size_t len;
		FILE *out = open_memstream(&x, &len);
		ck_assert_int_eq(ops->dump_xml(f.st, out), META_E_CORRUPT);
		fclose(out);
		free(x);
	}
	fx_done(&f);
}
END_TEST

START_TEST(test_check_bitmap)
{
	struct fx f;
	struct seen s;
	struct meta_sm_index_entry *ents;
	uint64_t n, bm_block;
	struct meta_io *io;
	struct meta_bm *bm;
	struct meta_sm_root root;
	build_store(&f);
	root = mikulas_get_sb(f.st)->data_sm;
	fx_close(&f);
	ck_assert_int_eq(meta_io_open(f.path, 0, &io), 0);
	ck_assert_int_eq(meta_bm_create(io, 0, &bm), 0);
	ck_assert_int_eq(meta_sm_read_index(bm, META_SM_DISK, &root, &ents, &n), 0);
	ck_assert_uint_ge(n, 1);
	bm_block = ents[0].blocknr;
	free(ents);
	meta_bm_destroy(bm);
	flip(f.path, bm_block, 300);
	ck_assert_int_eq(check_path(f.path, &s), META_SEV_FATAL);
	ck_assert(has(&s, META_DMG_MSK_SPACE_MAP, bm_block));
	fx_done(&f);
}
END_TEST

START_TEST(test_check_values)
{
	struct fx f;
	struct seen s;
	build_store(&f);
	/* an exception for ids that were never live: non-fatal */
	ck_assert_int_eq(mikulas_set_next_snapshot(f.st, 7), 0);
	ck_assert_int_eq(mikulas_add_exception(f.st, 500, SUB(5, 0), ID(6), 1000), 0);
	ck_assert_int_eq(mikulas_commit(f.st), 0);
	fx_close(&f);
	ck_assert_int_eq(check_path(f.path, &s), META_SEV_NONFATAL);
	ck_assert(has(&s, META_DMG_MSK_EXC_DEAD, UINT64_MAX));
	ck_assert_int_eq(s.n, 1);
	fx_done(&f);
}
END_TEST

/*
 * Orphan subs (their master merged into the origin): valid, as are ranges over the gone
 * master's id and its unborn subs; with the master live, a sub past its next_sub is not.
 */
START_TEST(test_check_orphan_subs)
{
	static const char *head =
		"<multisnap_store type=\"mikulas\" version=\"1\" chunk_size=\"8\" "
		"metadata_blocks=\"300\" data_chunks=\"100\" next_snapshot=\"2\" "
		"transaction=\"5\" flags=\"\">\n";
	char path[UB_PATH_MAX], err[256], xml[1024];
	struct seen s;
	ub_tmpfile(path, "ms_mikulas", 4 * MIB);
	snprintf(xml, sizeof(xml), "%s"
		 "  <snapshot id=\"0.0\" next_sub=\"0\" created=\"3\"/>\n"
		 "  <snapshot id=\"0.2\" next_sub=\"0\" created=\"4\"/>\n"
		 "  <snapshot id=\"1\" next_sub=\"0\" created=\"2\"/>\n"
		 "  <exception origin_chunk=\"3\" first_id=\"0.0\" last_id=\"0\" cow_chunk=\"1\"/>\n"
		 "  <exception origin_chunk=\"4\" first_id=\"0.2\" last_id=\"1\" cow_chunk=\"2\"/>\n"
		 "</multisnap_store>\n", head);
	ck_assert_msg(restore_str(xml, path, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(check_path(path, &s), -1);
	ck_assert_int_eq(s.n, 0);
	/* the same subs under a live master 0 whose next_sub is 1: 0.2 is refused */
	snprintf(xml, sizeof(xml), "%s"
		 "  <snapshot id=\"0.0\" next_sub=\"0\" created=\"3\"/>\n"
		 "  <snapshot id=\"0.2\" next_sub=\"0\" created=\"4\"/>\n"
		 "  <snapshot id=\"0\" next_sub=\"1\" created=\"2\"/>\n"
		 "</multisnap_store>\n", head);
	ck_assert_int_ne(restore_str(xml, path, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "snapshot 0.2: sub number not below its master's next_sub"));
	unlink(path);
}
END_TEST


static void sink(void *ctx, const struct meta_damage *d)
{
	(void)ctx;
	(void)d;
}

/* Restamp a flipped block's checksum when it is a node or the superblock, so the
 * flip reaches the parsers behind the validators. */
static void restamp(uint8_t *b, uint64_t block)
{
	if (block == 0 && !memcmp(b, "DMMSMIKU", 8))
		mikulas_sb_validator.prepare(&mikulas_sb_validator, b, 0);
	else if (get_le32p(b + 4) == 1 || get_le32p(b + 4) == 2)
		meta_node_validator.prepare(&meta_node_validator, b, block);
}

START_TEST(test_flip_sweep)
{
	/* every metadata block in use, several offsets, raw and restamped: no crash, and
	 * check, open, snapshots and dump end normally */
	static const unsigned offs[] = {0, 4, 8, 16, 20, 24, 28, 32, 40, 48, 56, 88, 120, 128, 136,
					 144, 300, 2100, 4000};
	struct fx f;
	uint64_t used;
	uint8_t orig[4096], b[4096];
	FILE *null = fopen("/dev/null", "w");
	struct meta_sm_root mroot;
	uint32_t counts[1024];
	uint64_t nmeta;
	int fatal_seen = 0;
	build_store(&f);
	mroot = mikulas_get_sb(f.st)->metadata_sm;
	nmeta = mikulas_get_sb(f.st)->metadata_blocks;
	used = 0;
	{
		struct meta_ms_status st;
		ck_assert_int_eq(ops->status(f.st, &st), 0);
		used = st.metadata_sectors / 8;
	}
	fx_close(&f);
	ck_assert_ptr_nonnull(null);
	{
		struct meta_io *io;
		struct meta_bm *bm;
		ck_assert_int_eq(meta_io_open(f.path, 0, &io), 0);
		ck_assert_int_eq(meta_bm_create(io, 0, &bm), 0);
		ck_assert_uint_le(nmeta, 1024);
		for (uint64_t blk = 0; blk < nmeta; blk++)
			ck_assert_int_eq(meta_sm_get_count(bm, META_SM_METADATA, &mroot, blk,
							   &counts[blk]), 0);
		meta_bm_destroy(bm);
	}
	for (uint64_t blk = 0; blk < nmeta; blk++) {
		if (!counts[blk])
			continue;
		ub_read_block(f.path, blk, orig);
		for (size_t o = 0; o < sizeof(offs) / sizeof(offs[0]); o++)
			for (int stamp = 0; stamp < 2; stamp++) {
				struct meta_io *io;
				void *st;
				memcpy(b, orig, sizeof(b));
				b[offs[o]] ^= 0x41;
				if (stamp)
					restamp(b, blk);
				ub_write_block(f.path, blk, b);
				ck_assert_int_eq(meta_io_open(f.path, 0, &io), 0);
				{
					int worst = ops->check(io, sink, NULL);
					/* a raw flip in a block in use breaks its checksum */
					if (!stamp && counts[blk]) {
						ck_assert_msg(worst == META_SEV_FATAL,
							      "block %llu offset %u: not found",
							      (unsigned long long)blk, offs[o]);
						fatal_seen++;
					}
				}
				if (ops->open(io, false, &st) == 0) {
					meta_ms_id *ids;
					uint64_t n;
					if (ops->snapshots(st, &ids, &n) == 0)
						free(ids);
					(void)ops->dump_xml(st, null);
					ops->close(st);
				}
				meta_io_close(io);
			}
		ub_write_block(f.path, blk, orig);
	}
	fclose(null);
	ck_assert_int_eq(fatal_seen, 19 * (int)used);
	expect_clean(&f);
	fx_done(&f);
}
END_TEST


START_TEST(test_grow_shrink)
{
	struct fx f;
	struct seen s;
	uint64_t d0;
	meta_ms_id id;
	struct meta_io *io;
	void *st;
	fx_format(&f, 8 * MIB, 8);
	ck_assert_int_eq(ops->create(f.st, &id), 0);
	d0 = mikulas_get_sb(f.st)->data_chunks;
	fx_close(&f);
	ck_assert_int_eq(truncate(f.path, 12 * MIB), 0);
	/* a read-only open changes nothing */
	ck_assert_int_eq(meta_io_open(f.path, 0, &io), 0);
	ck_assert_int_eq(ops->open(io, false, &st), 0);
	ck_assert_uint_eq(mikulas_get_sb(st)->data_chunks, d0);
	ops->close(st);
	meta_io_close(io);
	fx_open(&f);
	ck_assert_uint_eq(mikulas_get_sb(f.st)->data_chunks, d0 + 4 * MIB / 4096);
	ck_assert_int_eq(mikulas_add_exception(f.st, 1, SUB(0, 0), ID(0), d0 + 5), 0);
	ck_assert_int_eq(mikulas_commit(f.st), 0);
	expect_clean(&f);
	/* shrunk below the data area: no write open, check says so */
	ck_assert_int_eq(truncate(f.path, 8 * MIB), 0);
	ck_assert_int_eq(meta_io_open(f.path, META_IO_WRITE, &io), 0);
	ck_assert_int_eq(ops->open(io, true, &st), META_E_TOOSMALL);
	meta_io_close(io);
	ck_assert_int_eq(check_path(f.path, &s), META_SEV_FATAL);
	ck_assert(has(&s, META_DMG_MSK_SUPERBLOCK, 0));
	fx_done(&f);
}
END_TEST

START_TEST(test_metadata_full)
{
	/* a store restored with the smallest metadata area fills it: META_E_NOSPC, never damage */
	static const char xml[] =
		"<multisnap_store type=\"mikulas\" version=\"1\" chunk_size=\"8\" "
		"metadata_blocks=\"64\" data_chunks=\"100000\" next_snapshot=\"1\" "
		"transaction=\"2\" flags=\"\">\n"
		"  <snapshot id=\"0\" next_sub=\"0\" created=\"2\"/>\n</multisnap_store>\n";
	struct fx f;
	char err[256];
	uint64_t c, committed = 0;
	int r = 0;
	ub_tmpfile(f.path, "ms_mikulas", 512 * MIB);
	ck_assert_int_eq(restore_str(xml, f.path, err, sizeof(err)), 0);
	fx_open(&f);
	for (c = 0; c < 100000 && !r; c++) {
		r = mikulas_add_exception(f.st, c, SUB(0, 0), ID(0), c);
		if (!r && c % 500 == 499) {
			r = mikulas_commit(f.st);
			if (!r)
				committed = c + 1;
		}
	}
	ck_assert_int_eq(r, META_E_NOSPC);
	ck_assert_uint_gt(committed, 0);
	fx_close(&f);
	fx_open(&f);
	{
		uint64_t cow;
		ck_assert_int_eq(mikulas_lookup(f.st, committed - 1, ID(0), &cow), 0);
		ck_assert_int_eq(mikulas_lookup(f.st, committed, ID(0), &cow), META_E_NOTFOUND);
	}
	expect_clean(&f);
	fx_done(&f);
}
END_TEST


/* XML of a store of bytes whose every data chunk one exception names (three per origin chunk). */
static char *worst_case_xml(uint64_t bytes, uint32_t cs, uint64_t mblocks, uint64_t *dchunks)
{
	uint64_t m = mikulas_meta_blocks_for(bytes, cs), d, step = 7919;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	d = (bytes - mikulas_data_start(m, cs)) / (cs * 512ull);
	for (;;) { /* a step prime to d: every chunk once, scattered */
		uint64_t a = step, b = d;
		while (b) {
			uint64_t t = a % b;
			a = b;
			b = t;
		}
		if (a == 1)
			break;
		step += 2;
	}
	fprintf(f, "<multisnap_store type=\"mikulas\" version=\"1\" chunk_size=\"%u\" "
		"metadata_blocks=\"%llu\" data_chunks=\"%llu\" next_snapshot=\"3\" "
		"transaction=\"9\" flags=\"\">\n", cs, (unsigned long long)(mblocks ? mblocks : m),
		(unsigned long long)d);
	for (unsigned i = 0; i < 3; i++)
		fprintf(f, "  <snapshot id=\"%u\" next_sub=\"0\" created=\"%u\"/>\n", i, 2 + i);
	for (uint64_t n = 0; n < d; n++)
		fprintf(f, "  <exception origin_chunk=\"%llu\" first_id=\"%llu.0\" last_id=\"%llu\" "
			"cow_chunk=\"%llu\"/>\n", (unsigned long long)(n / 3),
			(unsigned long long)(n % 3), (unsigned long long)(n % 3),
			(unsigned long long)(n * step % d));
	fputs("</multisnap_store>\n", f);
	ck_assert_int_eq(fclose(f), 0);
	*dchunks = d;
	return buf;
}

START_TEST(test_restore_rule_size)
{
	/* man/multisnap-store.5's sizing rule: a device of exactly B bytes holds the worst
	 * case, every data chunk named by one exception, restored */
	static const struct {
		uint64_t bytes;
		uint32_t cs;
	} cases[] = {{64 * MIB, 16}, {512 * MIB + 7 * 4096, 8}};
	char path[UB_PATH_MAX], err[256];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t d, m = mikulas_meta_blocks_for(cases[i].bytes, cases[i].cs);
		char *xml = worst_case_xml(cases[i].bytes, cases[i].cs, 0, &d);
		struct meta_ms_status st;
		struct seen s;
		struct fx f;
		meta_ms_id id;
		ub_tmpfile(path, "ms_mikulas_rule", cases[i].bytes);
		ck_assert_msg(restore_str(xml, path, err, sizeof(err)) == 0, "case %zu: %s", i, err);
		ck_assert_int_eq(check_path(path, &s), -1);
		memcpy(f.path, path, sizeof(path));
		fx_open(&f);
		ck_assert_uint_eq(mikulas_get_sb(f.st)->metadata_blocks, m);
		ck_assert_uint_eq(mikulas_get_sb(f.st)->data_chunks, d);
		ck_assert_int_eq(ops->status(f.st, &st), 0);
		ck_assert_uint_eq(st.sectors_allocated - st.metadata_sectors, d * cases[i].cs);
		ck_assert_uint_le(st.metadata_sectors, m * 8);
		/* and it works on: a message commits */
		ck_assert_int_eq(ops->create(f.st, &id), 0);
		ck_assert_uint_eq(id, ID(3));
		expect_clean(&f);
		fx_done(&f);
		free(xml);
	}
	{
		/* the same exceptions in too small a metadata area: refused, said so */
		uint64_t d;
		char *xml = worst_case_xml(cases[1].bytes, cases[1].cs, 64, &d);
		ub_tmpfile(path, "ms_mikulas_rule", cases[1].bytes);
		ck_assert_int_eq(restore_str(xml, path, err, sizeof(err)), META_E_NOSPC);
		ck_assert_msg(strstr(err, "the metadata area (metadata_blocks 64) cannot hold") != NULL,
			      "%s", err);
		unlink(path);
		free(xml);
	}
}
END_TEST

START_TEST(test_format_crash)
{
	/* format over an old store, every write failing in turn: block 0 all zeros (a new
	 * store to the target) or a complete empty store; never the old store half gone */
	struct fx f;
	struct meta_ms_params p = {META_MS_MIKULAS, 16, 0, 0};
	int n_zero = 0;
	build_store_on(&f, 8 * MIB);
	fx_close(&f);
	for (uint64_t n = 0;; n++) {
		struct meta_io *io;
		void *st;
		uint8_t b[4096];
		int r, o;
		ck_assert_uint_lt(n, 5000);
		ck_assert_int_eq(meta_io_open(f.path, META_IO_WRITE, &io), 0);
		meta_io_fail_writes_after(io, n);
		r = ops->format(io, &p);
		meta_io_close(io);
		ub_read_block(f.path, 0, b);
		ck_assert_int_eq(meta_io_open(f.path, 0, &io), 0);
		o = ops->open(io, false, &st);
		if (o == 0) {
			ck_assert_uint_eq(ops->chunk_size(st), n == 0 && r ? 8 : 16);
			if (ops->chunk_size(st) == 16)
				expect_ids(st, NULL, 0);
			ops->close(st);
		} else {
			for (size_t i = 0; i < sizeof(b); i++)
				ck_assert_msg(!b[i], "n=%llu: block 0 neither zero nor a store",
					      (unsigned long long)n);
			n_zero++;
		}
		meta_io_close(io);
		if (r == 0)
			break;
		/* start every round from the old store again */
		fx_done(&f);
		build_store_on(&f, 8 * MIB);
		fx_close(&f);
	}
	ck_assert_int_gt(n_zero, 3);
	expect_clean(&f);
	fx_done(&f);
}
END_TEST

/* ---- crash matrix ---------------------------------------------------------------------- */

static void copy_file(const char *from, const char *to, uint64_t bytes)
{
	struct meta_io *a, *b;
	void *buf = malloc(MIB);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(meta_io_open(from, 0, &a), 0);
	ck_assert_int_eq(meta_io_open(to, META_IO_WRITE, &b), 0);
	for (uint64_t off = 0; off < bytes; off += MIB) {
		ck_assert_int_eq(meta_io_pread(a, buf, MIB, off), 0);
		ck_assert_int_eq(meta_io_pwrite(b, buf, MIB, off), 0);
	}
	meta_io_close(a);
	meta_io_close(b);
	free(buf);
}

/* The messages of the sequence; step i's result is the state list states[i + 1]. */
static int run_step(void *st, int i)
{
	meta_ms_id id;
	switch (i) {
	case 0: return ops->create(st, &id);
	case 1: return ops->create(st, &id);
	case 2: return ops->create_subsnap(st, ID(1), &id);
	case 3: return ops->delete_snap(st, ID(0));
	case 4: return ops->delete_snap(st, SUB(1, 0));
	default: return ops->create(st, &id);
	}
}
#define NSTEPS 6

static uint64_t state_of(void *st)
{
	/* a fingerprint of the snapshot list */
	meta_ms_id *ids;
	uint64_t n, h = 1469598103934665603ull;
	ck_assert_int_eq(ops->snapshots(st, &ids, &n), 0);
	for (uint64_t i = 0; i < n; i++)
		h = (h ^ ids[i]) * 1099511628211ull + n;
	free(ids);
	return h ^ mikulas_get_sb(st)->next_snapshot;
}

static void no_damage(void *ctx, const struct meta_damage *d)
{
	(void)d;
	++*(int *)ctx;
}

START_TEST(test_crash_matrix)
{
	const uint64_t bytes = 8 * MIB;
	struct fx base;
	uint64_t states[NSTEPS + 1];
	char path[UB_PATH_MAX];
	int completed = 0, n_runs = 0;
	fx_format(&base, bytes, 8);
	/* the exceptions deletes will drop */
	ck_assert_int_eq(ops->create(base.st, &(meta_ms_id){0}), 0);
	ck_assert_int_eq(mikulas_add_exception(base.st, 5, SUB(0, 0), ID(0), 1), 0);
	ck_assert_int_eq(mikulas_commit(base.st), 0);
	fx_close(&base);
	/* the states, from an uninterrupted run */
	ub_tmpfile(path, "ms_mikulas_crash", bytes);
	copy_file(base.path, path, bytes);
	{
		struct fx f;
		strcpy(f.path, path);
		fx_open(&f);
		states[0] = state_of(f.st);
		for (int i = 0; i < NSTEPS; i++) {
			ck_assert_int_eq(run_step(f.st, i), 0);
			states[i + 1] = state_of(f.st);
		}
		fx_close(&f);
	}
	for (uint64_t n = 0; !completed; n++) {
		struct fx f;
		int done = 0, r = 0, dmg = 0;
		uint64_t now;
		copy_file(base.path, path, bytes);
		strcpy(f.path, path);
		fx_open(&f);
		meta_io_fail_writes_after(f.io, n);
		for (done = 0; done < NSTEPS; done++)
			if ((r = run_step(f.st, done)) != 0)
				break;
		if (done == NSTEPS)
			completed = 1;
		else
			ck_assert_int_eq(r, META_E_IO);
		fx_close(&f);
		fx_open(&f);
		now = state_of(f.st);
		ck_assert_msg(now == states[done] || (done < NSTEPS && now == states[done + 1]),
			      "n=%llu: step %d interrupted, state neither before nor after",
			      (unsigned long long)n, done);
		fx_close(&f);
		{
			struct meta_io *io;
			int worst;
			ck_assert_int_eq(meta_io_open(path, 0, &io), 0);
			worst = ops->check(io, no_damage, &dmg);
			meta_io_close(io);
			ck_assert_msg(worst == -1 && dmg == 0, "n=%llu: check found %d damage",
				      (unsigned long long)n, dmg);
		}
		n_runs++;
	}
	ck_assert_int_gt(n_runs, NSTEPS * 3);
	unlink(path);
	fx_done(&base);
}
END_TEST


/* ---- XML ------------------------------------------------------------------------------------ */

static char *dump_of(void *st, bool human)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(human ? ops->dump_human(st, f) : ops->dump_xml(st, f), 0);
	fclose(f);
	return buf;
}

static int restore_str(const char *xml, const char *path, char *err, size_t errlen)
{
	struct meta_io *io;
	FILE *in = fmemopen((void *)xml, strlen(xml), "r");
	int r;
	ck_assert_ptr_nonnull(in);
	ck_assert_int_eq(meta_io_open(path, META_IO_WRITE, &io), 0);
	err[0] = 0;
	r = ops->restore_xml(NULL, 0, in, io, err, errlen);
	meta_io_close(io);
	fclose(in);
	return r;
}

START_TEST(test_xml_roundtrip)
{
	struct fx f, g;
	char *x1, *x2, *h, err[256];
	meta_ms_id id;
	build_store(&f);
	ck_assert_int_eq(mikulas_set_next_snapshot(f.st, 0xfffffffeull), 0);
	ck_assert_int_eq(ops->create(f.st, &id), 0);
	ck_assert_int_eq(ops->create_subsnap(f.st, id, &id), 0);
	ck_assert_int_eq(mikulas_add_exception(f.st, (1ull << 48) - 1, SUB(0xfffffffeu, 0),
					       ID(0xfffffffeu), 7), 0);
	ck_assert_int_eq(mikulas_commit(f.st), 0);
	x1 = dump_of(f.st, false);
	ck_assert_ptr_nonnull(strstr(x1, "<multisnap_store type=\"mikulas\" version=\"1\" chunk_size=\"8\""));
	ck_assert_ptr_nonnull(strstr(x1, "flags=\"preserve-on-error\""));
	ck_assert_ptr_nonnull(strstr(x1, "<snapshot id=\"1.0\" next_sub=\"0\""));
	ck_assert_ptr_nonnull(strstr(x1, "<snapshot id=\"4294967294\" next_sub=\"1\""));
	ck_assert_ptr_nonnull(strstr(x1, "<exception origin_chunk=\"281474976710655\" "
					 "first_id=\"4294967294.0\" last_id=\"4294967294\" cow_chunk=\"7\"/>"));
	ck_assert_ptr_nonnull(strstr(x1, "next_snapshot=\"4294967295\""));
	h = dump_of(f.st, true);
	ck_assert_ptr_nonnull(strstr(h, "mikulas store: version 1, chunk_size 8 sectors"));
	free(h);
	ub_tmpfile(g.path, "ms_mikulas", 16 * MIB);
	ck_assert_int_eq(restore_str(x1, g.path, err, sizeof(err)), 0);
	fx_open(&g);
	x2 = dump_of(g.st, false);
	ck_assert_str_eq(x1, x2);
	free(x2);
	/* and the restored store works */
	ck_assert_int_eq(ops->create(g.st, &id), META_E_RANGE);
	ck_assert_int_eq(ops->delete_snap(g.st, ID(0)), 0);
	expect_clean(&g);
	/* restore over a store (ms.c decides about --force) */
	ck_assert_int_eq(restore_str(x1, g.path, err, sizeof(err)), 0);
	fx_open(&g);
	x2 = dump_of(g.st, false);
	ck_assert_str_eq(x1, x2);
	free(x2);
	expect_clean(&g);
	fx_done(&g);
	free(x1);
	fx_done(&f);
}
END_TEST


/* The shipped schema, found through $SRCDIR or from the build directory's parents. */
static const char *schema_path(void)
{
	static char p[UB_PATH_MAX];
	static const char *const dirs[] = {".", "..", "../..", "../../.."};
	const char *src = getenv("SRCDIR");
	if (src && *src) {
		snprintf(p, sizeof(p), "%s/libmeta/multisnap/multisnap-mikulas.rng", src);
		return p;
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(p, sizeof(p), "%s/libmeta/multisnap/multisnap-mikulas.rng", dirs[i]);
		if (access(p, R_OK) == 0)
			return p;
	}
	return NULL;
}

static void quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static int rng_valid(const char *xml)
{
	const char *path = schema_path();
	xmlRelaxNGParserCtxtPtr pc;
	xmlRelaxNGPtr schema;
	xmlRelaxNGValidCtxtPtr vc;
	xmlDocPtr doc;
	int r;
	ck_assert_msg(path != NULL, "multisnap-mikulas.rng not found (set SRCDIR)");
	pc = xmlRelaxNGNewParserCtxt(path);
	schema = xmlRelaxNGParse(pc);
	ck_assert_ptr_nonnull(schema);
	vc = xmlRelaxNGNewValidCtxt(schema);
	xmlRelaxNGSetValidErrors(vc, quiet, quiet, NULL);
	xmlSetGenericErrorFunc(NULL, quiet);
	doc = xmlReadMemory(xml, (int)strlen(xml), "dump.xml", NULL, XML_PARSE_NONET);
	ck_assert_ptr_nonnull(doc);
	r = xmlRelaxNGValidateDoc(vc, doc);
	xmlFreeDoc(doc);
	xmlRelaxNGFreeValidCtxt(vc);
	xmlRelaxNGFree(schema);
	xmlRelaxNGFreeParserCtxt(pc);
	return r == 0;
}

START_TEST(test_xml_fast_and_expat)
{
	/* exception lines in forms the fast path leaves to expat (an end tag, a character
	 * reference, an element over two lines) restore as the plain lines do, and an error
	 * on a fast line and on an expat line names the same line */
	static const char head[] =
		"<multisnap_store type=\"mikulas\" version=\"1\" chunk_size=\"8\" "
		"metadata_blocks=\"300\" data_chunks=\"100\" next_snapshot=\"2\" "
		"transaction=\"3\" flags=\"\">\n"
		"  <snapshot id=\"0\" next_sub=\"0\" created=\"2\"/>\n"
		"  <snapshot id=\"1\" next_sub=\"0\" created=\"3\"/>\n"
		"  <exception origin_chunk=\"1\" first_id=\"0.0\" last_id=\"0\" cow_chunk=\"1\"/>\n";
	static const char plain[] =
		"  <exception origin_chunk=\"1\" first_id=\"1.0\" last_id=\"1\" cow_chunk=\"2\"/>\n"
		"  <exception origin_chunk=\"5\" first_id=\"0.0\" last_id=\"1\" cow_chunk=\"3\"/>\n"
		"  <exception origin_chunk=\"6\" first_id=\"0.0\" last_id=\"1\" cow_chunk=\"4\"/>\n"
		"</multisnap_store>\n";
	static const char odd[] =
		"  <exception origin_chunk=\"1\" first_id=\"1.0\" last_id=\"1\" cow_chunk=\"2\">"
		"</exception>\n"
		"  <exception origin_chunk=\"&#53;\" first_id=\"0.0\" last_id=\"1\" cow_chunk=\"3\"/>\n"
		"  <exception origin_chunk=\"6\" first_id=\"0.0\"\n last_id=\"1\" cow_chunk=\"4\"/>\n"
		"</multisnap_store>\n";
	char path[UB_PATH_MAX], err[256], x[2048];
	char *a, *b;
	struct fx f;
	ub_tmpfile(path, "ms_mikulas_fast", 4 * MIB);
	memcpy(f.path, path, sizeof(path));
	snprintf(x, sizeof(x), "%s%s", head, plain);
	ck_assert_msg(restore_str(x, path, err, sizeof(err)) == 0, "%s", err);
	fx_open(&f);
	a = dump_of(f.st, false);
	fx_close(&f);
	snprintf(x, sizeof(x), "%s%s", head, odd);
	ck_assert_msg(restore_str(x, path, err, sizeof(err)) == 0, "%s", err);
	fx_open(&f);
	b = dump_of(f.st, false);
	fx_close(&f);
	ck_assert_str_eq(a, b);
	ck_assert_ptr_nonnull(strstr(a, "origin_chunk=\"5\" first_id=\"0.0\" last_id=\"1\""));
	/* line 5: a fast line overlapping the one before; then the same as an expat line */
	snprintf(x, sizeof(x), "%s%s", head,
		 "  <exception origin_chunk=\"1\" first_id=\"0.0\" last_id=\"1\" cow_chunk=\"2\"/>\n"
		 "</multisnap_store>\n");
	ck_assert_int_eq(restore_str(x, path, err, sizeof(err)), META_E_XML);
	ck_assert_str_eq(err, "line 5: origin_chunk 1: range 0.0..1 overlaps or precedes the one before");
	snprintf(x, sizeof(x), "%s%s", head,
		 "  <exception origin_chunk=\"1\" first_id=\"0.0\" last_id=\"1\" cow_chunk=\"2\">"
		 "</exception>\n</multisnap_store>\n");
	ck_assert_int_eq(restore_str(x, path, err, sizeof(err)), META_E_XML);
	ck_assert_str_eq(err, "line 5: origin_chunk 1: range 0.0..1 overlaps or precedes the one before");
	free(a);
	free(b);
	unlink(path);
}
END_TEST

START_TEST(test_xml_schema)
{
	struct fx f;
	char *x, *at;
	meta_ms_id id;
	build_store(&f);
	x = dump_of(f.st, false);
	ck_assert(rng_valid(x));
	free(x);
	ck_assert_int_eq(mikulas_set_next_snapshot(f.st, 0xfffffffeull), 0);
	ck_assert_int_eq(ops->create(f.st, &id), 0);
	ck_assert_int_eq(ops->create_subsnap(f.st, id, &id), 0);
	x = dump_of(f.st, false);
	ck_assert(rng_valid(x));
	/* so that the test can fail: a malformed id, an unknown attribute value */
	at = strstr(x, "id=\"1.0\"");
	ck_assert_ptr_nonnull(at);
	at[5] = 'x';
	ck_assert(!rng_valid(x));
	at[5] = '0';
	at = strstr(x, "type=\"mikulas\"");
	memcpy(at + 6, "daniel\" ", 8);
	ck_assert(!rng_valid(x));
	free(x);
	fx_done(&f);
}
END_TEST

START_TEST(test_xml_errors)
{
	static const struct {
		const char *xml, *err;
	} cases[] = {
		{"<multisnap_store type=\"daniel\" version=\"1\" chunk_size=\"8\" metadata_blocks=\"300\" "
		 "data_chunks=\"100\" next_snapshot=\"0\" transaction=\"1\" flags=\"\"/>",
		 "line 1: type=\"daniel\""},
		{"<multisnap_store type=\"mikulas\" version=\"1\" chunk_size=\"12\" metadata_blocks=\"300\" "
		 "data_chunks=\"100\" next_snapshot=\"0\" transaction=\"1\" flags=\"\"/>",
		 "line 1: chunk_size 12"},
		{"<multisnap_store type=\"mikulas\" version=\"1\" chunk_size=\"8\" metadata_blocks=\"300\" "
		 "data_chunks=\"100000\" next_snapshot=\"0\" transaction=\"1\" flags=\"\"/>",
		 "line 1: the device cannot hold"},
		{"<multisnap_store type=\"mikulas\" version=\"1\" chunk_size=\"8\" metadata_blocks=\"300\" "
		 "data_chunks=\"100\" next_snapshot=\"2\" transaction=\"3\" flags=\"\">\n"
		 "  <snapshot id=\"1\" next_sub=\"0\" created=\"2\"/>\n"
		 "  <snapshot id=\"0\" next_sub=\"0\" created=\"2\"/>\n</multisnap_store>\n",
		 "line 3: snapshot 0: snapshots must ascend"},
		{"<multisnap_store type=\"mikulas\" version=\"1\" chunk_size=\"8\" metadata_blocks=\"300\" "
		 "data_chunks=\"100\" next_snapshot=\"2\" transaction=\"3\" flags=\"\">\n"
		 "  <snapshot id=\"2\" next_sub=\"0\" created=\"2\"/>\n</multisnap_store>\n",
		 "line 2: snapshot 2: number not below next_snapshot"},
		{"<multisnap_store type=\"mikulas\" version=\"1\" chunk_size=\"8\" metadata_blocks=\"300\" "
		 "data_chunks=\"100\" next_snapshot=\"2\" transaction=\"3\" flags=\"\">\n"
		 "  <snapshot id=\"0.1\" next_sub=\"0\" created=\"2\"/>\n"
		 "  <snapshot id=\"0\" next_sub=\"1\" created=\"2\"/>\n</multisnap_store>\n",
		 "snapshot 0.1: sub number not below its master's next_sub"},
		{"<multisnap_store type=\"mikulas\" version=\"1\" chunk_size=\"8\" metadata_blocks=\"300\" "
		 "data_chunks=\"100\" next_snapshot=\"2\" transaction=\"3\" flags=\"\">\n"
		 "  <snapshot id=\"0\" next_sub=\"0\" created=\"2\"/>\n"
		 "  <exception origin_chunk=\"4\" first_id=\"0.0\" last_id=\"0\" cow_chunk=\"1\"/>\n"
		 "  <exception origin_chunk=\"4\" first_id=\"0.0\" last_id=\"1\" cow_chunk=\"2\"/>\n"
		 "</multisnap_store>\n",
		 "line 4: origin_chunk 4: range 0.0..1 overlaps"},
		{"<multisnap_store type=\"mikulas\" version=\"1\" chunk_size=\"8\" metadata_blocks=\"300\" "
		 "data_chunks=\"100\" next_snapshot=\"2\" transaction=\"3\" flags=\"\">\n"
		 "  <exception origin_chunk=\"4\" first_id=\"1.0\" last_id=\"0\" cow_chunk=\"1\"/>\n"
		 "</multisnap_store>\n",
		 "line 2: first_id 1.0 above last_id 0"},
		{"<multisnap_store type=\"mikulas\" version=\"1\" chunk_size=\"8\" metadata_blocks=\"300\" "
		 "data_chunks=\"100\" next_snapshot=\"2\" transaction=\"3\" flags=\"\">\n"
		 "  <exception origin_chunk=\"4\" first_id=\"0.0\" last_id=\"0\" cow_chunk=\"100\"/>\n"
		 "</multisnap_store>\n",
		 "line 2: cow_chunk 100 not below data_chunks 100"},
		{"<multisnap_store type=\"mikulas\" version=\"1\" chunk_size=\"8\" metadata_blocks=\"300\" "
		 "data_chunks=\"100\" next_snapshot=\"2\" transaction=\"3\" flags=\"\">\n"
		 "  <exception origin_chunk=\"4\" first_id=\"0.x\" last_id=\"0\" cow_chunk=\"1\"/>\n"
		 "</multisnap_store>\n",
		 "line 2: first_id/last_id: not N or N.M"},
	};
	char path[UB_PATH_MAX], err[256];
	struct seen s;
	ub_tmpfile(path, "ms_mikulas", 4 * MIB);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = restore_str(cases[i].xml, path, err, sizeof(err));
		ck_assert_msg(r != 0, "case %zu accepted", i);
		ck_assert_msg(strstr(err, cases[i].err) != NULL, "case %zu: \"%s\"", i, err);
	}
	/* the last failed after the invalid superblock went down: no valid store */
	ck_assert_int_eq(check_path(path, &s), META_SEV_FATAL);
	ck_assert(has(&s, META_DMG_MSK_INVALID, UINT64_MAX));
	{
		struct meta_io *io;
		void *st;
		ck_assert_int_eq(meta_io_open(path, 0, &io), 0);
		ck_assert_int_eq(ops->open(io, false, &st), META_E_CORRUPT);
		meta_io_close(io);
	}
	unlink(path);
}
END_TEST

START_TEST(test_restore_crash)
{
	/* restore over an old store, every write failing in turn: old, invalid, or new */
	const uint64_t bytes = 8 * MIB;
	struct fx f;
	char *old_xml, *new_xml, err[256], path[UB_PATH_MAX];
	int n_invalid = 0;
	build_store_on(&f, bytes); /* dump it, then make an old store */
	new_xml = dump_of(f.st, false);
	fx_done(&f);
	fx_format(&f, bytes, 8);
	ck_assert_int_eq(ops->create(f.st, &(meta_ms_id){0}), 0);
	old_xml = dump_of(f.st, false);
	fx_close(&f);
	ub_tmpfile(path, "ms_mikulas_rcrash", bytes);
	for (uint64_t n = 0;; n++) {
		struct meta_io *io;
		ck_assert_uint_lt(n, 5000);
		FILE *in = fmemopen(new_xml, strlen(new_xml), "r");
		void *st;
		int r, o;
		struct seen s;
		copy_file(f.path, path, bytes);
		ck_assert_int_eq(meta_io_open(path, META_IO_WRITE, &io), 0);
		meta_io_fail_writes_after(io, n);
		r = ops->restore_xml(NULL, 0, in, io, err, sizeof(err));
		fclose(in);
		meta_io_close(io);
		ck_assert_int_eq(meta_io_open(path, 0, &io), 0);
		o = ops->open(io, false, &st);
		if (o == 0) {
			char *now = dump_of(st, false);
			ck_assert_msg(!strcmp(now, old_xml) || !strcmp(now, new_xml),
				      "n=%llu: neither the old nor the new store", (unsigned long long)n);
			ck_assert_msg(r == 0 || !strcmp(now, old_xml) || n > 0, "n=%llu", (unsigned long long)n);
			free(now);
			ops->close(st);
		} else {
			ck_assert_int_eq(o, META_E_CORRUPT);
			n_invalid++;
		}
		meta_io_close(io);
		if (o == 0) {
			ck_assert_int_eq(check_path(path, &s), -1);
		} else {
			ck_assert_int_eq(check_path(path, &s), META_SEV_FATAL);
			ck_assert(has(&s, META_DMG_MSK_INVALID, UINT64_MAX));
		}
		if (r == 0)
			break;
	}
	/* the bulk restore writes the invalid superblock, the metadata blocks in sequential
	 * runs, the superblock: a failure after the first and before the last leaves it invalid */
	ck_assert_int_ge(n_invalid, 2);
	unlink(path);
	free(old_xml);
	free(new_xml);
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
	tcase_add_test(tc, test_crash_matrix);
	tcase_add_test(tc, test_check_clean);
	tcase_add_test(tc, test_check_superblock);
	tcase_add_test(tc, test_check_node);
	tcase_add_test(tc, test_check_leaf_depth);
	tcase_add_test(tc, test_check_bitmap);
	tcase_add_test(tc, test_check_values);
	tcase_add_test(tc, test_check_orphan_subs);
	tcase_add_test(tc, test_flip_sweep);
	tcase_add_test(tc, test_grow_shrink);
	tcase_add_test(tc, test_metadata_full);
	tcase_add_test(tc, test_restore_rule_size);
	tcase_add_test(tc, test_format_crash);
	tcase_add_test(tc, test_xml_roundtrip);
	tcase_add_test(tc, test_xml_errors);
	tcase_add_test(tc, test_xml_fast_and_expat);
	tcase_add_test(tc, test_xml_schema);
	tcase_add_test(tc, test_restore_crash);
	return ub_run(s);
}

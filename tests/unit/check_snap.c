/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests of the classic snapshot store module (libmeta/snap/, snap_xml.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/snap.h>
#include <libmeta/snap_xml.h>

#include "base/endian.h"
#include "unit_base.h"

static char path[UB_PATH_MAX], opath[UB_PATH_MAX];

/* A temp file of bytes zeroes, or of random bytes. */
static const char *mkfile(char *buf, uint64_t bytes, int random)
{
	ub_tmpfile(buf, "snap", bytes);
	if (random) {
		uint8_t b[4096];
		for (uint64_t off = 0; off < bytes; off += sizeof(b)) {
			for (size_t i = 0; i < sizeof(b); i++)
				b[i] = (uint8_t)(rand() >> 7);
			ub_write_at(buf, off, b, sizeof(b));
		}
	}
	return buf;
}

/* n exceptions in kernel allocation order; old chunks from a permutation */
static struct meta_snap_exception *mk_ex(uint32_t cs, uint64_t n, uint64_t old_mod)
{
	struct meta_snap_exception *ex = calloc(n ? n : 1, sizeof(*ex));
	for (uint64_t i = 0; i < n; i++) {
		ex[i].old_chunk = (i * 7) % old_mod;
		ex[i].new_chunk = meta_snap_nth_new_chunk(cs, i);
	}
	return ex;
}

static const struct meta_snap_header H1 = {META_SNAP_MAGIC, 1, 1, 1};

START_TEST(test_layout)
{
	ck_assert_uint_eq(meta_snap_exceptions_per_area(8), 256);
	ck_assert_uint_eq(meta_snap_exceptions_per_area(16), 512);
	ck_assert_uint_eq(meta_snap_exceptions_per_area(1024), 32768);
	ck_assert_uint_eq(meta_snap_area_location(8, 0), 1);
	ck_assert_uint_eq(meta_snap_area_location(8, 1), 258);
	ck_assert_uint_eq(meta_snap_area_location(32, 2), 1 + 2 * 1025);
	ck_assert(meta_snap_is_area_chunk(8, 258));
	ck_assert(!meta_snap_is_area_chunk(8, 257));
	ck_assert_uint_eq(meta_snap_nth_new_chunk(8, 0), 2);
	ck_assert_uint_eq(meta_snap_nth_new_chunk(8, 255), 257);
	ck_assert_uint_eq(meta_snap_nth_new_chunk(8, 256), 259);
	ck_assert_int_eq(meta_snap_check_chunk_size(0), META_E_INVAL);
	ck_assert_int_eq(meta_snap_check_chunk_size(24), META_E_INVAL);
	ck_assert_int_eq(meta_snap_check_chunk_size(1), META_OK);
	ck_assert_int_eq(meta_snap_check_chunk_size(1u << 21), META_OK);
	ck_assert_int_eq(meta_snap_check_chunk_size(1u << 22), META_E_INVAL);
}
END_TEST

/* restore then open: same list, area bytes as the kernel writes them, status numbers */
START_TEST(test_restore_roundtrip_boundaries)
{
	static const uint64_t counts[] = {0, 1, 31, 32, 33, 64, 65};
	for (size_t t = 0; t < sizeof(counts) / sizeof(counts[0]); t++) {
		uint64_t n = counts[t], got, E = 32;
		struct meta_snap_exception *ex = mk_ex(1, n, 1000);
		const struct meta_snap_exception *rd;
		struct meta_snap *s;
		struct meta_snap_usage u;
		uint8_t rec[16];
		char st[64];
		mkfile(path, 512 * 300, 1); /* garbage everywhere: restore must zero what matters */
		ck_assert_int_eq(meta_snap_restore(path, &H1, ex, n, false, NULL, NULL), META_OK);
		ck_assert_int_eq(meta_snap_open(path, 0, &s), META_OK);
		rd = meta_snap_exceptions(s, &got);
		ck_assert_uint_eq(got, n);
		for (uint64_t i = 0; i < n; i++) {
			ck_assert_uint_eq(rd[i].old_chunk, ex[i].old_chunk);
			ck_assert_uint_eq(rd[i].new_chunk, ex[i].new_chunk);
		}
		meta_snap_get_usage(s, &u);
		ck_assert_uint_eq(u.current_area, n / E);
		ck_assert_uint_eq(u.metadata_sectors, n / E + 2);
		ck_assert_uint_eq(u.next_free, n ? meta_snap_nth_new_chunk(1, n) + 0 : 2);
		ck_assert_uint_eq(u.sectors_allocated, u.next_free);
		meta_snap_status(s, st, sizeof(st));
		ck_assert_int_eq(meta_snap_check(s, 0, NULL, NULL), -1);
		meta_snap_close(s);
		/* the record after the last one is zero, and the whole tail of that area */
		for (uint64_t slot = n % E; slot < E; slot++) {
			static const uint8_t zero[16];
			ub_read_at(path, 512 * meta_snap_area_location(1, n / E) + 16 * slot, rec, 16);
			ck_assert_mem_eq(rec, zero, 16);
		}
		/* header chunk: exactly 16 meaningful bytes */
		ub_read_at(path, 0, rec, 16);
		ck_assert_uint_eq(get_le32p(rec), META_SNAP_MAGIC);
		ck_assert_uint_eq(get_le32p(rec + 4), 1);
		ck_assert_uint_eq(get_le32p(rec + 8), 1);
		ck_assert_uint_eq(get_le32p(rec + 12), 1);
		free(ex);
		unlink(path);
	}
}
END_TEST

START_TEST(test_restore_refusals)
{
	struct meta_snap_exception ex[2] = {{5, 2}, {6, 34}}; /* 34 is area 1 with E=32 */
	mkfile(path, 512 * 100, 0);
	ck_assert_int_eq(meta_snap_restore(path, &H1, ex, 2, false, NULL, NULL), META_E_INVAL);
	ex[1].new_chunk = 2; /* duplicate */
	ck_assert_int_eq(meta_snap_restore(path, &H1, ex, 2, false, NULL, NULL), META_E_INVAL);
	ex[1].new_chunk = 100; /* past the end */
	ck_assert_int_eq(meta_snap_restore(path, &H1, ex, 2, false, NULL, NULL), META_E_INVAL);
	ex[1].new_chunk = 3;
	ck_assert_int_eq(meta_snap_restore(path, &H1, ex, 2, false, NULL, NULL), META_OK);
	ck_assert_int_eq(meta_snap_restore(path, &H1, ex, 2, false, NULL, NULL), META_E_EXISTS);
	ck_assert_int_eq(meta_snap_restore(path, &H1, ex, 2, true, NULL, NULL), META_OK);
	/* thin-pool metadata (magic at byte 32) is another family's: kept without force */
	{
		uint8_t junk[40], back[40];
		memset(junk, 0x5a, sizeof(junk));
		put_le64p(junk + 32, 27022010); /* the thin superblock's magic */
		ub_write_at(path, 0, junk, sizeof(junk));
		ck_assert_int_eq(meta_snap_restore(path, &H1, ex, 2, false, NULL, NULL), META_E_EXISTS);
		ub_read_at(path, 0, back, sizeof(back));
		ck_assert_mem_eq(back, junk, sizeof(junk));
		ck_assert_int_eq(meta_snap_restore(path, &H1, ex, 2, true, NULL, NULL), META_OK);
	}
	unlink(path);
	/* too small for the areas: 32 exceptions need area 1 at chunk 34 */
	{
		struct meta_snap_exception *big = mk_ex(1, 32, 1000);
		mkfile(path, 512 * 34, 0);
		ck_assert_int_eq(meta_snap_restore(path, &H1, big, 32, false, NULL, NULL),
				 META_E_TOOSMALL);
		free(big);
		unlink(path);
	}
}
END_TEST

struct kinds {
	int seen[META_DMG__COUNT];
};

static void count_kind(void *ctx, const struct meta_damage *d)
{
	((struct kinds *)ctx)->seen[d->kind]++;
}

START_TEST(test_check_damage_classes)
{
	struct meta_snap_exception ex[3] = {{5, 2}, {6, 3}, {7, 4}};
	struct meta_snap *s;
	struct kinds k;
	uint8_t rec[16];
	mkfile(path, 512 * 100, 0);
	ck_assert_int_eq(meta_snap_restore(path, &H1, ex, 3, false, NULL, NULL), META_OK);
	/* duplicate new chunk and old chunk, written behind the library's back */
	put_le64p(rec, 5);
	put_le64p(rec + 8, 2);
	ub_write_at(path, 512 + 32, rec, 16);
	/* garbage after the terminator */
	put_le64p(rec, 1);
	put_le64p(rec + 8, 1);
	ub_write_at(path, 512 + 16 * 10, rec, 16);
	ck_assert_int_eq(meta_snap_open(path, 0, &s), META_OK);
	memset(&k, 0, sizeof(k));
	ck_assert_int_eq(meta_snap_check(s, 3 /* sectors: chunks 0..2 */, count_kind, &k),
			 META_SEV_FATAL);
	ck_assert_int_eq(k.seen[META_DMG_SNAP_DUP_NEW], 1);
	ck_assert_int_eq(k.seen[META_DMG_SNAP_DUP_OLD], 1);
	ck_assert_int_eq(k.seen[META_DMG_SNAP_OLD_CHUNK], 3);
	ck_assert_int_eq(k.seen[META_DMG_SNAP_GARBAGE], 1);
	meta_snap_close(s);
	/* new chunk on an area chunk and past the end */
	put_le64p(rec, 9);
	put_le64p(rec + 8, 34);
	ub_write_at(path, 512 + 32, rec, 16);
	put_le64p(rec + 8, 1000);
	ub_write_at(path, 512 + 16, rec, 16);
	ck_assert_int_eq(meta_snap_open(path, 0, &s), META_OK);
	memset(&k, 0, sizeof(k));
	meta_snap_check(s, 0, count_kind, &k);
	ck_assert_int_eq(k.seen[META_DMG_SNAP_NEW_CHUNK], 2);
	meta_snap_close(s);
	/* invalidated store: no exceptions read, status Invalid */
	put_le32p(rec, 0);
	ub_write_at(path, 4, rec, 4);
	ck_assert_int_eq(meta_snap_open(path, 0, &s), META_OK);
	{
		uint64_t n;
		char st[64];
		meta_snap_exceptions(s, &n);
		ck_assert_uint_eq(n, 0);
		meta_snap_status(s, st, sizeof(st));
		ck_assert_str_eq(st, "Invalid");
		memset(&k, 0, sizeof(k));
		ck_assert_int_eq(meta_snap_check(s, 0, count_kind, &k), META_SEV_FATAL);
		ck_assert_int_eq(k.seen[META_DMG_SNAP_INVALID], 1);
	}
	meta_snap_close(s);
	unlink(path);
}
END_TEST

START_TEST(test_open_errors)
{
	struct meta_snap *s;
	uint8_t hdr[16];
	mkfile(path, 512 * 10, 0);
	ck_assert_int_eq(meta_snap_open(path, 0, &s), META_OK); /* zeroed: new store */
	ck_assert(meta_snap_is_new(s));
	meta_snap_close(s);
	put_le32p(hdr, 0x12345678);
	ub_write_at(path, 0, hdr, 4);
	ck_assert_int_eq(meta_snap_open(path, 0, &s), META_E_BADMAGIC);
	put_le32p(hdr, META_SNAP_MAGIC);
	put_le32p(hdr + 4, 1);
	put_le32p(hdr + 8, 2);
	put_le32p(hdr + 12, 8);
	ub_write_at(path, 0, hdr, 16);
	ck_assert_int_eq(meta_snap_open(path, 0, &s), META_E_VERSION);
	put_le32p(hdr + 8, 1);
	put_le32p(hdr + 12, 12);
	ub_write_at(path, 0, hdr, 16);
	ck_assert_int_eq(meta_snap_open(path, 0, &s), META_E_CORRUPT);
	/* chunk 8 (4 KiB) on a 5 KiB device: area 0 lies past the end */
	put_le32p(hdr + 12, 8);
	ub_write_at(path, 0, hdr, 16);
	ck_assert_int_eq(meta_snap_open(path, 0, &s), META_OK);
	ck_assert(meta_snap_truncated(s));
	meta_snap_close(s);
	ck_assert_int_eq(truncate(path, 100), 0);
	ck_assert_int_eq(meta_snap_open(path, 0, &s), META_E_TOOSMALL);
	unlink(path);
}
END_TEST

/* merge: kernel batch order, result equals the snapshot view, resumable at any batch */
static int rec_batch(void *ctx, const struct meta_snap_batch *b, uint64_t done, uint64_t total)
{
	struct meta_snap_batch *out = ctx;
	if (b) {
		for (; out->nr_chunks; out++)
			;
		*out = *b;
	}
	return 0;
}

START_TEST(test_merge_order_and_resume)
{
	/* chunk size 1 (E=32): 40 exceptions; runs of consecutive old chunks */
	uint64_t n = 40;
	struct meta_snap_exception *ex = calloc(n, sizeof(*ex));
	struct meta_snap_batch batches[64];
	struct meta_snap_merge_opts o;
	struct meta_snap *s;
	struct meta_io *oio;
	uint8_t *view, *merged, *resumed;
	uint64_t osz = 512 * 80;
	for (uint64_t i = 0; i < n; i++) {
		ex[i].new_chunk = meta_snap_nth_new_chunk(1, i);
		ex[i].old_chunk = i < 10 ? 20 + i : (i < 30 ? 50 + (i - 10) : (i - 30) * 2);
	}
	srand(11);
	mkfile(path, 512 * 200, 1);
	mkfile(opath, osz, 1);
	ck_assert_int_eq(meta_snap_restore(path, &H1, ex, n, false, NULL, NULL), META_OK);
	/* the expected result: the snapshot view */
	view = malloc(osz);
	ck_assert_int_eq(meta_snap_open(path, 0, &s), META_OK);
	ck_assert_int_eq(meta_io_open(opath, 0, &oio), META_OK);
	ck_assert_int_eq(meta_snap_read_view(s, oio, 0, view, osz), META_OK);
	meta_io_close(oio);
	/* dry run: batch order */
	memset(batches, 0, sizeof(batches));
	memset(&o, 0, sizeof(o));
	o.dry_run = true;
	o.on_batch = rec_batch;
	o.ctx = batches;
	ck_assert_int_eq(meta_io_open(opath, 0, &oio), META_OK);
	ck_assert_int_eq(meta_snap_merge(s, oio, &o), META_OK);
	meta_io_close(oio);
	meta_snap_close(s);
	/* area 1 holds records 32..39 (old 4,6,..,18: not consecutive) → 8 singles first */
	ck_assert_uint_eq(batches[0].old_chunk, 18);
	ck_assert_uint_eq(batches[0].nr_chunks, 1);
	ck_assert_uint_eq(batches[7].old_chunk, 4);
	/* then area 0 from its end: records 30,31 single; 10..29 one batch of 20 (old 50..69) */
	ck_assert_uint_eq(batches[8].old_chunk, 2);
	ck_assert_uint_eq(batches[9].old_chunk, 0);
	ck_assert_uint_eq(batches[10].old_chunk, 50);
	ck_assert_uint_eq(batches[10].new_chunk, 12);
	ck_assert_uint_eq(batches[10].nr_chunks, 20);
	ck_assert_uint_eq(batches[11].old_chunk, 20);
	ck_assert_uint_eq(batches[11].nr_chunks, 10);
	ck_assert_uint_eq(batches[12].nr_chunks, 0);

	/* interrupted after every possible batch count, then resumed: same origin bytes */
	merged = malloc(osz);
	resumed = malloc(osz);
	for (uint64_t stop = 1; stop <= 12; stop++) {
		char copy[UB_PATH_MAX + 8], cowcopy[UB_PATH_MAX + 8];
		FILE *f;
		int r;
		snprintf(copy, sizeof(copy), "%s.o", opath);
		snprintf(cowcopy, sizeof(cowcopy), "%s.c", path);
		{
			char cmd[4 * UB_PATH_MAX + 32];
			snprintf(cmd, sizeof(cmd), "cp %s %s && cp %s %s", opath, copy, path, cowcopy);
			ck_assert_int_eq(system(cmd), 0);
		}
		memset(&o, 0, sizeof(o));
		o.max_batches = stop;
		ck_assert_int_eq(meta_snap_open(cowcopy, META_SNAP_OPEN_WRITE, &s), META_OK);
		ck_assert_int_eq(meta_io_open(copy, META_IO_WRITE, &oio), META_OK);
		r = meta_snap_merge(s, oio, &o);
		ck_assert_int_eq(r, stop < 12 ? META_E_INTERRUPTED : META_OK);
		meta_io_close(oio);
		meta_snap_close(s);
		/* on disk: exactly the records the kernel still lists after `stop` batches */
		{
			uint64_t left, nmerged = 0;
			for (uint64_t k = 0; k < stop && batches[k].nr_chunks; k++)
				nmerged += batches[k].nr_chunks;
			ck_assert_int_eq(meta_snap_open(cowcopy, 0, &s), META_OK);
			meta_snap_exceptions(s, &left);
			ck_assert_uint_eq(left, n - nmerged);
			meta_snap_close(s);
		}
		/* resume with a fresh open, as a new process (or the kernel) would */
		ck_assert_int_eq(meta_snap_open(cowcopy, META_SNAP_OPEN_WRITE, &s), META_OK);
		ck_assert_int_eq(meta_io_open(copy, META_IO_WRITE, &oio), META_OK);
		ck_assert_int_eq(meta_snap_merge(s, oio, NULL), META_OK);
		meta_io_close(oio);
		meta_snap_close(s);
		f = fopen(copy, "rb");
		ck_assert_int_eq(fread(resumed, 1, osz, f), osz);
		fclose(f);
		ck_assert_mem_eq(resumed, view, osz);
		/* the store is empty and valid: status as the kernel leaves it */
		ck_assert_int_eq(meta_snap_open(cowcopy, 0, &s), META_OK);
		{
			char st[64];
			uint64_t left;
			meta_snap_exceptions(s, &left);
			ck_assert_uint_eq(left, 0);
			meta_snap_status(s, st, sizeof(st));
			ck_assert_str_eq(st, "2/200 2");
		}
		meta_snap_close(s);
		unlink(copy);
		unlink(cowcopy);
	}
	(void)merged;
	free(merged);
	free(resumed);
	free(view);
	free(ex);
	unlink(path);
	unlink(opath);
}
END_TEST

/* XML: dump → parse gives the same list; errors carry a line number */
struct col {
	struct meta_snap_header h;
	uint64_t n, last_old;
};

static int c_begin(void *ctx, const struct meta_snap_header *h)
{
	((struct col *)ctx)->h = *h;
	return 0;
}

static int c_ex(void *ctx, uint64_t o, uint64_t n)
{
	struct col *c = ctx;
	c->n++;
	c->last_old = o;
	return 0;
}

static int c_end(void *ctx)
{
	return 0;
}

static const struct meta_snap_emitter_ops col_ops = {c_begin, c_ex, c_end};

START_TEST(test_xml_roundtrip_and_errors)
{
	struct meta_snap_exception *ex = mk_ex(8, 300, 100000);
	struct meta_snap_header h = {META_SNAP_MAGIC, 1, 1, 8};
	struct meta_snap *s;
	struct col c;
	char err[256];
	FILE *f = tmpfile();
	mkfile(path, 4096 * 600, 0);
	ck_assert_int_eq(meta_snap_restore(path, &h, ex, 300, false, NULL, NULL), META_OK);
	ck_assert_int_eq(meta_snap_open(path, 0, &s), META_OK);
	ck_assert_int_eq(meta_snap_emit(s, meta_snap_xml_writer(), f), META_OK);
	meta_snap_close(s);
	rewind(f);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(meta_snap_xml_parse(f, &col_ops, &c, err, sizeof(err)), META_OK);
	ck_assert_uint_eq(c.n, 300);
	ck_assert_uint_eq(c.h.chunk_size, 8);
	ck_assert_uint_eq(c.last_old, ex[299].old_chunk);
	fclose(f);
	{
		static const char *bad[] = {
			"<snapshot_store valid=\"1\" version=\"1\" chunk_size=\"8\">\n<exception old_chunk=\"1\"/>\n</snapshot_store>\n",
			"<snapshot_store valid=\"1\" version=\"1\" chunk_size=\"8\">\n<exeption old_chunk=\"1\" new_chunk=\"2\"/>\n</snapshot_store>\n",
			"<snapshot_store valid=\"1\" version=\"1\" chunk_size=\"-8\">\n</snapshot_store>\n",
			"<snapshot_store valid=\"1\" version=\"1\" chunk_size=\"8\" colour=\"red\">\n</snapshot_store>\n",
			"<snapshot_store valid=\"1\" version=\"1\" chunk_size=\"8\">\n<exception old_chunk=\"1\" new_chunk=\"2\">\n</snapshot_store>\n",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			f = tmpfile();
			fputs(bad[i], f);
			rewind(f);
			memset(&c, 0, sizeof(c));
			ck_assert_int_eq(meta_snap_xml_parse(f, &col_ops, &c, err, sizeof(err)), META_E_XML);
			ck_assert_msg(!strncmp(err, "line ", 5), "error without a line: %s", err);
			fclose(f);
		}
	}
	free(ex);
	unlink(path);
}
END_TEST


/* engine: origin writes copy out into every snapshot (different chunk sizes); snapshot
 * writes stay private; what the engine committed reads back through meta_snap_open */
START_TEST(test_engine_copy_out)
{
	char p8[UB_PATH_MAX], porig[UB_PATH_MAX];
	struct meta_snap_header h8 = {META_SNAP_MAGIC, 1, 1, 8};
	struct meta_snap *s1, *s8;
	struct meta_snap_engine *e;
	struct meta_io *oio;
	unsigned i1, i8;
	uint64_t osz = 512 * 256, n;
	uint8_t *orig0 = malloc(osz), *view = malloc(osz), blk[1024];
	char st[64];
	srand(5);
	mkfile(porig, osz, 1);
	mkfile(path, 512 * 400, 0);
	mkfile(p8, 512 * 400, 0);
	ub_read_at(porig, 0, orig0, osz);
	ck_assert_int_eq(meta_snap_restore(path, &H1, NULL, 0, false, NULL, NULL), META_OK);
	ck_assert_int_eq(meta_snap_restore(p8, &h8, NULL, 0, false, NULL, NULL), META_OK);
	ck_assert_int_eq(meta_snap_open(path, META_SNAP_OPEN_WRITE, &s1), META_OK);
	ck_assert_int_eq(meta_snap_open(p8, META_SNAP_OPEN_WRITE, &s8), META_OK);
	ck_assert_int_eq(meta_io_open(porig, META_IO_WRITE, &oio), META_OK);
	ck_assert_int_eq(meta_snap_engine_create(oio, &e), META_OK);
	ck_assert_int_eq(meta_snap_engine_add(e, s1, false, &i1), META_OK);
	ck_assert_int_eq(meta_snap_engine_add(e, s8, false, &i8), META_OK);
	memset(blk, 0xA5, sizeof(blk));
	/* 40 origin writes of 1 KiB at scattered places: more than one area of s1 (E=32) */
	for (int k = 0; k < 40; k++)
		ck_assert_int_eq(meta_snap_engine_write_origin(e, (uint64_t)((k * 37) % 250) * 512,
							       blk, sizeof(blk)), META_OK);
	/* both snapshots still show the original origin */
	ck_assert_int_eq(meta_snap_engine_read_snapshot(e, i1, 0, view, osz), META_OK);
	ck_assert_mem_eq(view, orig0, osz);
	ck_assert_int_eq(meta_snap_engine_read_snapshot(e, i8, 0, view, osz), META_OK);
	ck_assert_mem_eq(view, orig0, osz);
	/* a snapshot write is visible in that snapshot only */
	memset(blk, 0x5A, 512);
	ck_assert_int_eq(meta_snap_engine_write_snapshot(e, i8, 512 * 3, blk, 512), META_OK);
	ck_assert_int_eq(meta_snap_engine_read_snapshot(e, i8, 512 * 3, view, 512), META_OK);
	ck_assert_mem_eq(view, blk, 512);
	ck_assert_int_eq(meta_snap_engine_read_snapshot(e, i1, 512 * 3, view, 512), META_OK);
	ck_assert_mem_eq(view, orig0 + 512 * 3, 512);
	meta_snap_engine_status(e, i1, st, sizeof(st));
	meta_snap_engine_destroy(e);
	meta_io_close(oio);
	meta_snap_close(s1);
	meta_snap_close(s8);
	/* reopen: the store on disk is what the engine reported, checks clean, same view */
	ck_assert_int_eq(meta_snap_open(path, 0, &s1), META_OK);
	{
		char st2[64];
		meta_snap_status(s1, st2, sizeof(st2));
		ck_assert_str_eq(st, st2);
	}
	meta_snap_exceptions(s1, &n);
	ck_assert_uint_ge(n, 33); /* crossed into area 1 */
	ck_assert_int_eq(meta_snap_check(s1, osz / 512, NULL, NULL), -1);
	ck_assert_int_eq(meta_io_open(porig, 0, &oio), META_OK);
	ck_assert_int_eq(meta_snap_read_view(s1, oio, 0, view, osz), META_OK);
	ck_assert_mem_eq(view, orig0, osz);
	meta_io_close(oio);
	meta_snap_close(s1);
	unlink(path);
	unlink(p8);
	unlink(porig);
	free(orig0);
	free(view);
}
END_TEST

/* COW full: origin write invalidates (P) and proceeds; snapshot write overflows (PO) */
START_TEST(test_engine_full)
{
	char porig[UB_PATH_MAX];
	struct meta_snap *s;
	struct meta_snap_engine *e;
	struct meta_io *oio;
	unsigned i;
	uint8_t blk[512];
	char st[64];
	memset(blk, 1, sizeof(blk));
	mkfile(porig, 512 * 64, 1);
	mkfile(path, 512 * 6, 0); /* header, area 0, data chunks 2..5 */
	ck_assert_int_eq(meta_snap_restore(path, &H1, NULL, 0, false, NULL, NULL), META_OK);
	ck_assert_int_eq(meta_snap_open(path, META_SNAP_OPEN_WRITE, &s), META_OK);
	ck_assert_int_eq(meta_io_open(porig, META_IO_WRITE, &oio), META_OK);
	ck_assert_int_eq(meta_snap_engine_create(oio, &e), META_OK);
	ck_assert_int_eq(meta_snap_engine_add(e, s, true, &i), META_OK);
	for (int k = 0; k < 4; k++)
		ck_assert_int_eq(meta_snap_engine_write_snapshot(e, i, (uint64_t)k * 512, blk, 512),
				 META_OK);
	meta_snap_engine_status(e, i, st, sizeof(st));
	ck_assert_str_eq(st, "6/6 2");
	ck_assert_int_eq(meta_snap_engine_write_snapshot(e, i, 10 * 512, blk, 512), META_E_NOSPC);
	ck_assert_int_eq(meta_snap_engine_state(e, i), META_SNAP_OVERFLOWED);
	meta_snap_engine_status(e, i, st, sizeof(st));
	ck_assert_str_eq(st, "Overflow");
	/* reads still work; the origin write needs a copy-out that cannot be made: invalid */
	ck_assert_int_eq(meta_snap_engine_read_snapshot(e, i, 0, blk, 512), META_OK);
	ck_assert_int_eq(meta_snap_engine_write_origin(e, 20 * 512, blk, 512), META_OK);
	ck_assert_int_eq(meta_snap_engine_state(e, i), META_SNAP_INVALID);
	meta_snap_engine_destroy(e);
	meta_io_close(oio);
	meta_snap_close(s);
	ck_assert_int_eq(meta_snap_open(path, 0, &s), META_OK);
	meta_snap_status(s, st, sizeof(st));
	ck_assert_str_eq(st, "Invalid");
	meta_snap_close(s);
	unlink(path);
	unlink(porig);
}
END_TEST

/* an offset whose end wraps past 2^64 is out of range, not a write near sector 0 */
START_TEST(test_engine_range_wrap)
{
	char porig[UB_PATH_MAX];
	struct meta_snap *s;
	struct meta_snap_engine *e;
	struct meta_io *oio;
	unsigned i;
	uint8_t blk[4096], orig[4096];
	static const uint64_t offs[] = {UINT64_MAX, UINT64_MAX - 511, UINT64_MAX - 4095,
					(uint64_t)1 << 63, UINT64_MAX - 512 * 8 + 1};
	memset(blk, 0xee, sizeof(blk));
	mkfile(porig, 512 * 64, 1);
	ub_read_at(porig, 0, orig, sizeof(orig));
	mkfile(path, 512 * 16, 0);
	ck_assert_int_eq(meta_snap_restore(path, &H1, NULL, 0, false, NULL, NULL), META_OK);
	ck_assert_int_eq(meta_snap_open(path, META_SNAP_OPEN_WRITE, &s), META_OK);
	ck_assert_int_eq(meta_io_open(porig, META_IO_WRITE, &oio), META_OK);
	ck_assert_int_eq(meta_snap_engine_create(oio, &e), META_OK);
	ck_assert_int_eq(meta_snap_engine_add(e, s, false, &i), META_OK);
	for (size_t k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
		ck_assert_int_eq(meta_snap_engine_write_origin(e, offs[k], blk, sizeof(blk)),
				 META_E_RANGE);
		ck_assert_int_eq(meta_snap_engine_write_snapshot(e, i, offs[k], blk, sizeof(blk)),
				 META_E_RANGE);
		ck_assert_int_eq(meta_snap_engine_read_snapshot(e, i, offs[k], blk, sizeof(blk)),
				 META_E_RANGE);
	}
	ck_assert_int_eq(meta_snap_engine_state(e, i), META_SNAP_ACTIVE);
	meta_snap_engine_destroy(e);
	meta_io_close(oio);
	meta_snap_close(s);
	ub_read_at(porig, 0, blk, sizeof(blk));
	ck_assert_mem_eq(blk, orig, sizeof(orig));
	ck_assert_int_eq(meta_snap_open(path, 0, &s), META_OK);
	{
		uint64_t n;
		meta_snap_exceptions(s, &n);
		ck_assert_uint_eq(n, 0);
	}
	meta_snap_close(s);
	unlink(path);
	unlink(porig);
}
END_TEST

/* an I/O error under a COW is not an overflow: nothing invalidated, origin not written */
START_TEST(test_engine_io_error_keeps_snapshot)
{
	char porig[UB_PATH_MAX];
	struct meta_snap *s;
	struct meta_snap_engine *e;
	struct meta_io *oio;
	unsigned i;
	uint8_t blk[512], orig[512];
	char st[64];
	memset(blk, 0xab, sizeof(blk));
	mkfile(porig, 512 * 64, 1);
	ub_read_at(porig, 512 * 3, orig, sizeof(orig));
	mkfile(path, 512 * 16, 0);
	ck_assert_int_eq(meta_snap_restore(path, &H1, NULL, 0, false, NULL, NULL), META_OK);
	ck_assert_int_eq(meta_snap_open(path, META_SNAP_OPEN_WRITE, &s), META_OK);
	ck_assert_int_eq(meta_io_open(porig, META_IO_WRITE, &oio), META_OK);
	ck_assert_int_eq(meta_snap_engine_create(oio, &e), META_OK);
	ck_assert_int_eq(meta_snap_engine_add(e, s, false, &i), META_OK);
	ck_assert_ptr_null(meta_snap_engine_failed_io(e));
	meta_io_fail_writes_after(meta_snap_get_io(s), 0);
	ck_assert_int_eq(meta_snap_engine_write_origin(e, 512 * 3, blk, sizeof(blk)), META_E_IO);
	ck_assert_ptr_eq(meta_snap_engine_failed_io(e), meta_snap_get_io(s));
	ck_assert_int_eq(meta_snap_engine_state(e, i), META_SNAP_ACTIVE);
	ck_assert_int_eq(meta_snap_engine_write_snapshot(e, i, 512 * 3, blk, sizeof(blk)), META_E_IO);
	ck_assert_int_eq(meta_snap_engine_state(e, i), META_SNAP_ACTIVE);
	meta_snap_engine_destroy(e);
	meta_io_close(oio);
	meta_snap_close(s);
	ub_read_at(porig, 512 * 3, blk, sizeof(blk));
	ck_assert_mem_eq(blk, orig, sizeof(orig));
	ck_assert_int_eq(meta_snap_open(path, 0, &s), META_OK);
	meta_snap_status(s, st, sizeof(st));
	ck_assert_str_eq(st, "2/16 2");
	meta_snap_close(s);
	unlink(path);
	unlink(porig);
}
END_TEST

static void keep_kind(void *ctx, const struct meta_damage *d)
{
	int *k = ctx;
	ck_assert_int_ge(d->severity, META_SEV_FATAL);
	if (*k < 0)
		*k = d->kind;
}

/* merge, the view and the engine refuse what meta_snap_verify refuses, and say why */
START_TEST(test_verify_refusals)
{
	char porig[UB_PATH_MAX];
	struct meta_snap *s;
	struct meta_snap_engine *e;
	struct meta_io *oio;
	struct meta_snap_merge_opts mo;
	struct meta_snap_exception *ex = mk_ex(1, 40, 1000);
	uint8_t blk[512], zero[16] = {0};
	unsigned idx;
	int kind;
	mkfile(porig, 512 * 1024, 1);
	ck_assert_int_eq(meta_io_open(porig, META_IO_WRITE, &oio), META_OK);
	/* 1. cut after the header: no exception loaded, yet nothing is "clean to merge" */
	mkfile(path, 512 * 64, 0);
	ck_assert_int_eq(meta_snap_restore(path, &H1, ex, 40, false, NULL, NULL), META_OK);
	ck_assert_int_eq(truncate(path, 512), 0);
	ck_assert_int_eq(meta_snap_open(path, META_SNAP_OPEN_WRITE, &s), META_OK);
	kind = -1;
	ck_assert_int_eq(meta_snap_verify(s, 0, 0, keep_kind, &kind), META_E_CORRUPT);
	ck_assert_int_eq(kind, META_DMG_SNAP_AREA);
	memset(&mo, 0, sizeof(mo));
	kind = -1;
	mo.damage = keep_kind;
	mo.damage_ctx = &kind;
	ck_assert_int_eq(meta_snap_merge(s, oio, &mo), META_E_CORRUPT);
	ck_assert_int_eq(kind, META_DMG_SNAP_AREA);
	ck_assert_int_eq(meta_snap_read_view(s, oio, 0, blk, sizeof(blk)), META_E_CORRUPT);
	ck_assert_int_eq(meta_snap_engine_create(oio, &e), META_OK);
	ck_assert_int_eq(meta_snap_engine_add(e, s, false, &idx), META_E_CORRUPT);
	meta_snap_engine_destroy(e);
	meta_snap_close(s);
	/* 2. a duplicate origin chunk (record 5 remaps record 4's chunk) */
	ck_assert_int_eq(truncate(path, 512 * 64), 0);
	ck_assert_int_eq(meta_snap_restore(path, &H1, ex, 40, true, NULL, NULL), META_OK);
	ub_write_at(path, 512 * 1 + 5 * 16, &ex[4].old_chunk, 8);
	ck_assert_int_eq(meta_snap_open(path, META_SNAP_OPEN_WRITE, &s), META_OK);
	kind = -1;
	ck_assert_int_eq(meta_snap_verify(s, 1024, 0, keep_kind, &kind), META_E_CORRUPT);
	ck_assert_int_eq(kind, META_DMG_SNAP_DUP_OLD);
	ck_assert_int_eq(meta_snap_read_view(s, oio, 0, blk, sizeof(blk)), META_E_CORRUPT);
	ck_assert_int_eq(meta_snap_engine_create(oio, &e), META_OK);
	ck_assert_int_eq(meta_snap_engine_add(e, s, false, &idx), META_E_CORRUPT);
	meta_snap_engine_destroy(e);
	kind = -1;
	ck_assert_int_eq(meta_snap_merge(s, oio, &mo), META_E_CORRUPT);
	ck_assert_int_eq(kind, META_DMG_SNAP_DUP_OLD);
	meta_snap_close(s);
	/* 3. invalid: refused by merge and the view, kept (as Invalid) by the engine */
	ub_write_at(path, 512 * 1 + 5 * 16, &ex[5].old_chunk, 8);
	ub_write_at(path, 4, zero, 4);
	ck_assert_int_eq(meta_snap_open(path, META_SNAP_OPEN_WRITE, &s), META_OK);
	kind = -1;
	ck_assert_int_eq(meta_snap_verify(s, 0, 0, keep_kind, &kind), META_E_CORRUPT);
	ck_assert_int_eq(kind, META_DMG_SNAP_INVALID);
	ck_assert_int_eq(meta_snap_verify(s, 0, META_SNAP_VERIFY_ALLOW_INVALID, keep_kind, &kind),
			 META_OK);
	ck_assert_int_eq(meta_snap_read_view(s, oio, 0, blk, sizeof(blk)), META_E_CORRUPT);
	ck_assert_int_eq(meta_snap_engine_create(oio, &e), META_OK);
	ck_assert_int_eq(meta_snap_engine_add(e, s, false, &idx), META_OK);
	ck_assert_int_eq(meta_snap_engine_state(e, idx), META_SNAP_INVALID);
	meta_snap_engine_destroy(e);
	meta_snap_close(s);
	meta_io_close(oio);
	free(ex);
	unlink(path);
	unlink(porig);
}
END_TEST

/* merging one snapshot must not change what another snapshot of the origin shows */
START_TEST(test_merge_keeps_other_snapshots)
{
	char pother[UB_PATH_MAX], porig[UB_PATH_MAX];
	struct meta_snap_header h8 = {META_SNAP_MAGIC, 1, 1, 8};
	struct meta_snap *s, *other;
	struct meta_snap_engine *e;
	struct meta_io *oio;
	struct meta_snap_merge_opts mo;
	unsigned i_s, i_o;
	uint64_t osz = 512 * 256;
	uint8_t *orig0 = malloc(osz), *view = malloc(osz), *want = malloc(osz), blk[2048];
	srand(17);
	mkfile(porig, osz, 1);
	mkfile(path, 512 * 200, 0);
	mkfile(pother, 512 * 400, 0);
	ub_read_at(porig, 0, orig0, osz);
	ck_assert_int_eq(meta_snap_restore(path, &H1, NULL, 0, false, NULL, NULL), META_OK);
	ck_assert_int_eq(meta_snap_restore(pother, &h8, NULL, 0, false, NULL, NULL), META_OK);
	/* the snapshot to merge gets private writes; the other one only sees the origin */
	ck_assert_int_eq(meta_snap_open(path, META_SNAP_OPEN_WRITE, &s), META_OK);
	ck_assert_int_eq(meta_snap_open(pother, META_SNAP_OPEN_WRITE, &other), META_OK);
	ck_assert_int_eq(meta_io_open(porig, META_IO_WRITE, &oio), META_OK);
	ck_assert_int_eq(meta_snap_engine_create(oio, &e), META_OK);
	ck_assert_int_eq(meta_snap_engine_add(e, s, false, &i_s), META_OK);
	ck_assert_int_eq(meta_snap_engine_add(e, other, false, &i_o), META_OK);
	memset(blk, 0x77, sizeof(blk));
	for (int k = 0; k < 12; k++)
		ck_assert_int_eq(meta_snap_engine_write_snapshot(e, i_s, (uint64_t)(k * 19 % 250) * 512,
								 blk, 512), META_OK);
	ck_assert_int_eq(meta_snap_engine_read_snapshot(e, i_s, 0, want, osz), META_OK);
	meta_snap_engine_destroy(e);
	meta_snap_close(s);
	/* merge s into the origin, with `other` as the other snapshot */
	ck_assert_int_eq(meta_snap_open(path, META_SNAP_OPEN_WRITE, &s), META_OK);
	ck_assert_int_eq(meta_snap_engine_create(oio, &e), META_OK);
	ck_assert_int_eq(meta_snap_engine_add(e, other, false, &i_o), META_OK);
	memset(&mo, 0, sizeof(mo));
	mo.others = e;
	ck_assert_int_eq(meta_snap_merge(s, oio, &mo), META_OK);
	/* the origin now shows the merged snapshot; the other snapshot still the old origin */
	ck_assert_int_eq(meta_io_pread(oio, view, osz, 0), META_OK);
	ck_assert_mem_eq(view, want, osz);
	ck_assert_int_eq(meta_snap_engine_read_snapshot(e, i_o, 0, view, osz), META_OK);
	ck_assert_mem_eq(view, orig0, osz);
	meta_snap_engine_destroy(e);
	meta_snap_close(s);
	meta_snap_close(other);
	meta_io_close(oio);
	/* and on disk: reopen the other store and read its view */
	ck_assert_int_eq(meta_snap_open(pother, 0, &other), META_OK);
	ck_assert_int_eq(meta_io_open(porig, 0, &oio), META_OK);
	ck_assert_int_eq(meta_snap_read_view(other, oio, 0, view, osz), META_OK);
	ck_assert_mem_eq(view, orig0, osz);
	ck_assert_int_eq(meta_snap_check(other, osz / 512, NULL, NULL), -1);
	meta_io_close(oio);
	meta_snap_close(other);
	unlink(path);
	unlink(pother);
	unlink(porig);
	free(orig0);
	free(view);
	free(want);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("snap");
	TCase *tc = ub_tcase(s, "snap", 60);
	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_restore_roundtrip_boundaries);
	tcase_add_test(tc, test_restore_refusals);
	tcase_add_test(tc, test_check_damage_classes);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_merge_order_and_resume);
	tcase_add_test(tc, test_xml_roundtrip_and_errors);
	tcase_add_test(tc, test_engine_copy_out);
	tcase_add_test(tc, test_engine_full);
	tcase_add_test(tc, test_engine_range_wrap);
	tcase_add_test(tc, test_verify_refusals);
	tcase_add_test(tc, test_engine_io_error_keeps_snapshot);
	tcase_add_test(tc, test_merge_keeps_other_snapshots);
	return ub_run(s);
}

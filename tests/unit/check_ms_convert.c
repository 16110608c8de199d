/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * meta_ms_from_classic / meta_ms_to_classic (libmeta/multisnap/ms_convert.c): random
 * classic stores converted to mikulas stores (every origin chunk looked up for snapshot 0,
 * its sub-snapshots 0.0 and 0.9, against the classic view) and back (exceptions and view
 * equal); several classic snapshots of one origin into one store; chunks larger than the
 * copy buffer; the size needed, exactly; the refusals.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/ms_convert.h>
#include <libmeta/multisnap.h>
#include <libmeta/snap.h>

#include "multisnap/mikulas.h"
#include "multisnap/ms_generic.h"
#include "unit_base.h"

#define MIB (1024ull * 1024ull)
#define ID0 ((uint64_t)META_MS_SUB_NONE)

static const struct meta_ms_convert_opts OPTS;

/* A classic store of n exceptions (random distinct origin chunks below nchunks) over an
 * origin of nchunks chunks, both filled with tagged bytes. */
static void make_classic(const char *cow, const char *origin, uint32_t cs, uint64_t nchunks,
			 uint64_t n)
{
	struct meta_snap_header h = {META_SNAP_MAGIC, 1, META_SNAP_VERSION, cs};
	struct meta_snap_exception *ex = calloc(n ? n : 1, sizeof(*ex));
	uint64_t cb = (uint64_t)cs * 512;
	uint8_t *buf = malloc(cb), *used = calloc(nchunks, 1);
	ck_assert_ptr_nonnull(ex);
	ck_assert_ptr_nonnull(buf);
	for (uint64_t c = 0; c < nchunks; c++) {
		memset(buf, (int)(c * 7 + 1), cb);
		memcpy(buf, &c, sizeof(c));
		ub_write_at(origin, c * cb, buf, cb);
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t c;
		do
			c = ub_rnd_below(nchunks);
		while (used[c]);
		used[c] = 1;
		ex[i].old_chunk = c;
		ex[i].new_chunk = meta_snap_nth_new_chunk(cs, i);
		memset(buf, (int)(i * 13 + 5), cb);
		memcpy(buf + 8, &i, sizeof(i));
		ub_write_at(cow, ex[i].new_chunk * cb, buf, cb);
	}
	ck_assert_int_eq(meta_snap_restore(cow, &h, ex, n, true, NULL, NULL), META_OK);
	free(ex);
	free(buf);
	free(used);
}

/* Every origin chunk of the shared store's id reads what the classic view reads there. */
static void expect_shared_view(const char *store, const char *cow, const char *origin,
			       uint64_t nchunks, meta_ms_id id)
{
	struct meta_ms *ms;
	struct meta_snap *s;
	struct meta_io *oio, *sio;
	uint32_t cs;
	uint64_t cb, start;
	uint8_t *a, *b;
	ck_assert_int_eq(meta_ms_open(store, 0, &ms), 0);
	ck_assert_int_eq(meta_snap_open(cow, 0, &s), 0);
	ck_assert_int_eq(meta_io_open(origin, 0, &oio), 0);
	ck_assert_int_eq(meta_io_open(store, 0, &sio), 0);
	cs = meta_ms_chunk_size(ms);
	cb = (uint64_t)cs * 512;
	start = mikulas_data_start(mikulas_get_sb(ms_state(ms))->metadata_blocks, cs);
	a = malloc(cb);
	b = malloc(cb);
	for (uint64_t c = 0; c < nchunks; c++) {
		uint64_t cow_chunk;
		int r = mikulas_lookup(ms_state(ms), c, id, &cow_chunk);
		ck_assert_int_eq(meta_snap_read_view(s, oio, c * cb, a, cb), 0);
		if (r == META_E_NOTFOUND) {
			ck_assert_int_eq(meta_io_pread(oio, b, cb, c * cb), 0);
		} else {
			ck_assert_int_eq(r, 0);
			ck_assert_int_eq(meta_io_pread(sio, b, cb, start + cow_chunk * cb), 0);
		}
		ck_assert_msg(!memcmp(a, b, cb), "origin chunk %llu differs", (unsigned long long)c);
	}
	free(a);
	free(b);
	meta_io_close(sio);
	meta_io_close(oio);
	meta_snap_close(s);
	meta_ms_close(ms);
}

static void expect_same_view(const char *cow1, const char *cow2, const char *origin,
			     uint64_t bytes)
{
	struct meta_snap *s1, *s2;
	struct meta_io *oio;
	uint8_t *a = malloc(MIB), *b = malloc(MIB);
	ck_assert_int_eq(meta_snap_open(cow1, 0, &s1), 0);
	ck_assert_int_eq(meta_snap_open(cow2, 0, &s2), 0);
	ck_assert_int_eq(meta_io_open(origin, 0, &oio), 0);
	for (uint64_t off = 0; off < bytes; off += MIB) {
		size_t len = bytes - off < MIB ? (size_t)(bytes - off) : MIB;
		ck_assert_int_eq(meta_snap_read_view(s1, oio, off, a, len), 0);
		ck_assert_int_eq(meta_snap_read_view(s2, oio, off, b, len), 0);
		ck_assert_msg(!memcmp(a, b, len), "view differs in the MiB at %llu",
			      (unsigned long long)off);
	}
	free(a);
	free(b);
	meta_io_close(oio);
	meta_snap_close(s1);
	meta_snap_close(s2);
}

static void roundtrip(uint32_t cs, uint64_t nchunks, uint64_t n, uint64_t store_bytes)
{
	char cow[UB_PATH_MAX], origin[UB_PATH_MAX], store[UB_PATH_MAX], back[UB_PATH_MAX];
	struct meta_ms_convert_result res;
	uint64_t cb = (uint64_t)cs * 512, cow_bytes = (meta_snap_nth_new_chunk(cs, n) + 2) * cb;
	ub_tmpfile(cow, "msconv_cow", cow_bytes);
	ub_tmpfile(origin, "msconv_origin", nchunks * cb);
	ub_tmpfile(store, "msconv_store", store_bytes);
	ub_tmpfile(back, "msconv_back", cow_bytes);
	make_classic(cow, origin, cs, nchunks, n);
	ck_assert_int_eq(meta_ms_from_classic(cow, store, &OPTS, &res), 0);
	ck_assert_uint_eq(res.exceptions, n);
	ck_assert_int_eq(meta_ms_check_path(store, NULL, NULL), -1);
	expect_shared_view(store, cow, origin, nchunks, ID0);
	expect_shared_view(store, cow, origin, nchunks, 0);     /* 0.0 */
	expect_shared_view(store, cow, origin, nchunks, 9);     /* 0.9 */
	ck_assert_int_eq(meta_ms_to_classic(store, ID0, back, &OPTS, &res), 0);
	ck_assert_uint_eq(res.exceptions, n);
	expect_same_view(cow, back, origin, nchunks * cb);
	{
		struct meta_snap *s;
		ck_assert_int_eq(meta_snap_open(back, 0, &s), 0);
		ck_assert_int_eq(meta_snap_check(s, nchunks * cs, NULL, NULL), -1);
		meta_snap_close(s);
	}
	unlink(cow);
	unlink(origin);
	unlink(store);
	unlink(back);
}

START_TEST(test_roundtrip_random)
{
	static const uint32_t sizes[] = {8, 16, 64, 128};
	ub_rnd_state = 0x5eed15;
	for (int i = 0; i < 8; i++) {
		uint32_t cs = sizes[i % 4];
		uint64_t nchunks = 64 + ub_rnd_below(2000), n = ub_rnd_below(nchunks);
		if (i == 0)
			n = 0;
		if (i == 1)
			n = 700; /* areas: 256 records of 8-sector chunks each */
		if (n > nchunks)
			nchunks = n + 10;
		roundtrip(cs, nchunks, n, 64 * MIB);
	}
}
END_TEST

START_TEST(test_several_snapshots)
{
	/* three classic snapshots of one origin (overlapping origin chunks) into one store */
	enum { NIN = 3 };
	char cows[NIN][UB_PATH_MAX], origin[UB_PATH_MAX], store[UB_PATH_MAX], back[UB_PATH_MAX];
	const char *paths[NIN];
	struct meta_ms_convert_result res;
	const uint32_t cs = 16;
	const uint64_t nchunks = 600, cb = cs * 512;
	uint64_t total = 0;
	ub_rnd_state = 0xabc;
	ub_tmpfile(origin, "msconv_origin", nchunks * cb);
	ub_tmpfile(store, "msconv_store", 64 * MIB);
	for (int k = 0; k < NIN; k++) {
		uint64_t n = 100 + ub_rnd_below(400);
		ub_tmpfile(cows[k], "msconv_cow", (meta_snap_nth_new_chunk(cs, n) + 2) * cb);
		make_classic(cows[k], origin, cs, nchunks, n);
		paths[k] = cows[k];
		total += n;
	}
	ck_assert_int_eq(meta_ms_from_classic_n(paths, NIN, store, &OPTS, &res), 0);
	ck_assert_uint_eq(res.exceptions, total);
	ck_assert_int_eq(meta_ms_check_path(store, NULL, NULL), -1);
	for (int k = 0; k < NIN; k++) {
		meta_ms_id id = ((uint64_t)k << 32) | META_MS_SUB_NONE;
		expect_shared_view(store, cows[k], origin, nchunks, id);
		expect_shared_view(store, cows[k], origin, nchunks, (uint64_t)k << 32); /* k.0 */
		ub_tmpfile(back, "msconv_back", 4 * MIB);
		ck_assert_int_eq(meta_ms_to_classic(store, id, back, &OPTS, &res), 0);
		expect_same_view(cows[k], back, origin, nchunks * cb);
		unlink(back);
	}
	ck_assert_uint_le(res.data_chunks, total);
	/* two stores of the same exceptions and bytes: one data chunk per exception, shared */
	{
		char twin[UB_PATH_MAX];
		const char *pair[2] = {cows[0], twin};
		uint64_t n0;
		struct meta_snap *s0;
		ck_assert_int_eq(meta_snap_open(cows[0], 0, &s0), 0);
		meta_snap_exceptions(s0, &n0);
		meta_snap_close(s0);
		ub_tmpfile(twin, "msconv_twin", 0);
		{
			char cmd[2 * UB_PATH_MAX + 16];
			snprintf(cmd, sizeof(cmd), "cp %s %s", cows[0], twin);
			ck_assert_int_eq(system(cmd), 0);
		}
		ck_assert_int_eq(meta_ms_from_classic_n(pair, 2, store, &(struct meta_ms_convert_opts){
			.force = true}, &res), 0);
		ck_assert_uint_eq(res.exceptions, 2 * n0);
		ck_assert_uint_eq(res.data_chunks, n0);
		ck_assert_int_eq(meta_ms_check_path(store, NULL, NULL), -1);
		expect_shared_view(store, cows[0], origin, nchunks, META_MS_SUB_NONE);
		expect_shared_view(store, twin, origin, nchunks, (1ull << 32) | META_MS_SUB_NONE);
		expect_shared_view(store, twin, origin, nchunks, 1ull << 32); /* 1.0 */
		unlink(twin);
	}
	/* one input twice: refused, naming the second */
	paths[1] = paths[0];
	ck_assert_int_eq(meta_ms_from_classic_n(paths, NIN, store, &OPTS, &res), META_E_INVAL);
	ck_assert_int_eq(res.why, META_MSC_SAME_STORAGE);
	ck_assert_uint_eq(res.input, 1);
	for (int k = 0; k < NIN; k++)
		unlink(cows[k]);
	unlink(origin);
	unlink(store);
}
END_TEST

START_TEST(test_big_chunks)
{
	/* 2 MiB chunks: copied in pieces of the 1 MiB buffer */
	ub_rnd_state = 77;
	roundtrip(4096, 12, 5, 64 * MIB);
}
END_TEST

START_TEST(test_sizes_needed)
{
	char cow[UB_PATH_MAX], origin[UB_PATH_MAX], out[UB_PATH_MAX];
	struct meta_ms_convert_result res;
	uint64_t need;
	ub_rnd_state = 3;
	ub_tmpfile(cow, "msconv_cow", 4 * MIB);
	ub_tmpfile(origin, "msconv_origin", 8 * MIB);
	make_classic(cow, origin, 8, 2048, 600);
	ub_tmpfile(out, "msconv_out", MIB);
	ck_assert_int_eq(meta_ms_from_classic(cow, out, &OPTS, &res), META_E_TOOSMALL);
	need = res.need_bytes;
	ck_assert_uint_gt(need, 600 * 4096);
	ck_assert_int_eq(truncate(out, (off_t)(need - 4096)), 0);
	ck_assert_int_eq(meta_ms_from_classic(cow, out, &OPTS, &res), META_E_TOOSMALL);
	ck_assert_uint_eq(res.need_bytes, need);
	ck_assert_int_eq(truncate(out, (off_t)need), 0);
	ck_assert_int_eq(meta_ms_from_classic(cow, out, &OPTS, &res), 0);
	ck_assert_int_eq(meta_ms_check_path(out, NULL, NULL), -1);
	{
		char back[UB_PATH_MAX];
		ub_tmpfile(back, "msconv_back", 64 * 1024);
		ck_assert_int_eq(meta_ms_to_classic(out, ID0, back, &OPTS, &res), META_E_TOOSMALL);
		need = res.need_bytes;
		/* 600 chunks, 3 areas of 256 records: chunk 0, areas at 1, 258, 515 */
		ck_assert_uint_eq(need, (meta_snap_nth_new_chunk(8, 599) + 1) * 4096);
		ck_assert_int_eq(truncate(back, (off_t)(need - 4096)), 0);
		ck_assert_int_eq(meta_ms_to_classic(out, ID0, back, &OPTS, &res), META_E_TOOSMALL);
		ck_assert_int_eq(truncate(back, (off_t)need), 0);
		ck_assert_int_eq(meta_ms_to_classic(out, ID0, back, &OPTS, &res), 0);
		unlink(back);
	}
	unlink(cow);
	unlink(origin);
	unlink(out);
}
END_TEST

START_TEST(test_refusals)
{
	char cow[UB_PATH_MAX], origin[UB_PATH_MAX], out[UB_PATH_MAX], blank[UB_PATH_MAX];
	struct meta_ms_convert_result res;
	struct meta_ms_convert_opts o = OPTS;
	struct meta_snap_header h = {META_SNAP_MAGIC, 0, META_SNAP_VERSION, 8};
	ub_rnd_state = 9;
	ub_tmpfile(cow, "msconv_cow", MIB);
	ub_tmpfile(origin, "msconv_origin", MIB);
	ub_tmpfile(out, "msconv_out", 16 * MIB);
	ub_tmpfile(blank, "msconv_blank", MIB);
	make_classic(cow, origin, 8, 200, 20);
	/* the same storage */
	ck_assert_int_eq(meta_ms_from_classic(cow, cow, &OPTS, &res), META_E_INVAL);
	ck_assert_int_eq(res.why, META_MSC_SAME_STORAGE);
	/* new (zeroed) */
	ck_assert_int_eq(meta_ms_from_classic(blank, out, &OPTS, &res), META_E_INVAL);
	ck_assert_int_eq(res.why, META_MSC_NEW);
	/* exceptions past a smaller origin: damage, nothing written */
	o.origin_sectors = 8 * 10;
	ck_assert_int_eq(meta_ms_from_classic(cow, out, &o, &res), META_E_CORRUPT);
	/* converted; then the output holds a store: kept without force */
	ck_assert_int_eq(meta_ms_from_classic(cow, out, &OPTS, &res), 0);
	ck_assert_int_eq(meta_ms_from_classic(cow, out, &OPTS, &res), META_E_EXISTS);
	o = OPTS;
	o.force = true;
	ck_assert_int_eq(meta_ms_from_classic(cow, out, &o, &res), 0);
	/* shared -> classic: no such snapshot; past a smaller origin; over a valid store */
	ck_assert_int_eq(meta_ms_to_classic(out, (1ull << 32) | META_MS_SUB_NONE, blank, &OPTS, &res),
			 META_E_NOTFOUND);
	o = OPTS;
	o.origin_sectors = 8 * 10;
	/* (the store's check reports exceptions past the origin: MSK_ORIGIN, damage) */
	ck_assert_int_eq(meta_ms_to_classic(out, ID0, blank, &o, &res), META_E_CORRUPT);
	ck_assert_int_eq(meta_ms_to_classic(out, ID0, cow, &OPTS, &res), META_E_EXISTS);
	ck_assert_int_eq(meta_ms_to_classic(out, ID0, out, &OPTS, &res), META_E_INVAL);
	ck_assert_int_eq(res.why, META_MSC_SAME_STORAGE);
	/* an invalid classic store */
	ck_assert_int_eq(meta_snap_restore(cow, &h, NULL, 0, true, NULL, NULL), 0);
	ck_assert_int_eq(meta_ms_from_classic(cow, out, &o, &res), META_E_INVAL);
	ck_assert_int_eq(res.why, META_MSC_INVALID);
	/* chunks below 8 sectors; two inputs of different chunk sizes */
	{
		struct meta_snap_header h4 = {META_SNAP_MAGIC, 1, META_SNAP_VERSION, 4};
		ck_assert_int_eq(meta_snap_restore(cow, &h4, NULL, 0, true, NULL, NULL), 0);
		ck_assert_int_eq(meta_ms_from_classic(cow, out, &o, &res), META_E_INVAL);
		ck_assert_int_eq(res.why, META_MSC_CHUNK_SIZE);
		ck_assert_uint_eq(res.chunk_size, 4);
	}
	{
		char c8[UB_PATH_MAX], c16[UB_PATH_MAX];
		const char *two[2] = {c8, c16};
		ub_tmpfile(c8, "msconv_c8", MIB);
		ub_tmpfile(c16, "msconv_c16", MIB);
		make_classic(c8, origin, 8, 100, 3);
		make_classic(c16, origin, 16, 50, 3);
		ck_assert_int_eq(meta_ms_from_classic_n(two, 2, out, &OPTS, &res), META_E_INVAL);
		ck_assert_int_eq(res.why, META_MSC_CHUNK_MISMATCH);
		ck_assert_uint_eq(res.input, 1);
		unlink(c8);
		unlink(c16);
	}
	/* a daniel store: an unknown snapshot; an empty one converts */
	{
		struct meta_ms_params p = {META_MS_DANIEL, 32, 0, 0};
		char dan[UB_PATH_MAX];
		struct meta_ms *ms;
		meta_ms_id id;
		ub_tmpfile(dan, "msconv_dan", 16 * MIB);
		ck_assert_int_eq(meta_ms_format(dan, &p, false), 0);
		ck_assert_int_eq(meta_ms_open(dan, META_MS_OPEN_WRITE, &ms), 0);
		ck_assert_int_eq(meta_ms_create(ms, &id), 0);
		meta_ms_close(ms);
		ck_assert_int_eq(meta_ms_to_classic(dan, id + 1, blank, &OPTS, &res), META_E_NOTFOUND);
		ck_assert_int_eq(meta_ms_to_classic(dan, id, blank, &o, &res), 0);
		ck_assert_uint_eq(res.exceptions, 0);
		ck_assert_uint_eq(res.chunk_size, 32);
		unlink(dan);
	}
	unlink(cow);
	unlink(origin);
	unlink(out);
	unlink(blank);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ms_convert");
	TCase *tc = ub_tcase(s, "convert", 120);
	tcase_add_test(tc, test_roundtrip_random);
	tcase_add_test(tc, test_several_snapshots);
	tcase_add_test(tc, test_big_chunks);
	tcase_add_test(tc, test_sizes_needed);
	tcase_add_test(tc, test_refusals);
	return ub_run(s);
}

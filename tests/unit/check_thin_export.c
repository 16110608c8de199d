/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The delta stream (include/libmeta/thin_export.h): seeded random streams written and
 * read back against a plain byte-array model of the volume; every truncation and every
 * one-byte change of a stream refused; the writer's and the reader's checks one by one;
 * the export of a fixture pool against its mappings read independently.
 */
#include "unit_base.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <libmeta/btree.h>
#include <libmeta/crc32c.h>
#include <libmeta/error.h>
#include <libmeta/thin_export.h>

/* ---- an in-memory stream ---- */

struct mem {
	uint8_t *p;
	size_t n, cap, at;
};

static int mem_out(void *ctx, const void *buf, size_t len)
{
	struct mem *m = ctx;
	if (m->n + len > m->cap) {
		m->cap = (m->n + len) * 2;
		m->p = realloc(m->p, m->cap);
		ck_assert_ptr_nonnull(m->p);
	}
	memcpy(m->p + m->n, buf, len);
	m->n += len;
	return 0;
}

static long mem_in(void *ctx, void *buf, size_t len)
{
	struct mem *m = ctx;
	/* odd-sized pieces: the reader must gather */
	size_t k = m->n - m->at;
	if (k > len)
		k = len;
	if (k > 7 && (m->at & 1))
		k = 7;
	memcpy(buf, m->p + m->at, k);
	m->at += k;
	return (long)k;
}

static struct meta_stream_header hdr(uint64_t size)
{
	struct meta_stream_header h;
	memset(&h, 0, sizeof(h));
	h.version = META_STREAM_VERSION;
	h.block_size = 65536;
	h.volume_size = size;
	h.source_dev = 5;
	h.source_tag = 0x1234;
	h.pool_transaction_id = 9;
	return h;
}

/* Read the whole stream, applying it to vol (may be NULL); the first error, or 0. */
static int read_all(struct mem *m, uint8_t *vol, uint64_t *nrec)
{
	struct meta_stream_reader *r;
	struct meta_stream_header h;
	struct meta_stream_record rec;
	const void *p;
	int e;
	m->at = 0;
	ck_assert_int_eq(meta_stream_reader_open(mem_in, m, &r), 0);
	e = meta_stream_read_header(r, &h);
	if (nrec)
		*nrec = 0;
	while (!e) {
		e = meta_stream_next(r, &rec, &p);
		if (e || rec.type == META_STREAM_END)
			break;
		if (nrec)
			(*nrec)++;
		if (!vol)
			continue;
		if (rec.type == META_STREAM_DATA)
			memcpy(vol + rec.offset, p, rec.length);
		else
			memset(vol + rec.offset, 0, rec.length);
	}
	meta_stream_reader_free(r);
	return e;
}

/* A random stream over a volume of size bytes, and the model of what it holds. */
static void random_stream(struct mem *m, uint8_t *model, uint64_t size, bool zd, unsigned ops)
{
	struct meta_stream_header h = hdr(size);
	struct meta_stream_writer *w;
	uint8_t *buf = malloc(size);
	uint64_t off = 0, nr, bytes;
	ck_assert_ptr_nonnull(buf);
	memset(model, 0xee, size); /* what the target held before: ranges not in the stream stay */
	ck_assert_int_eq(meta_stream_writer_open(&h, zd, mem_out, m, &w), 0);
	for (unsigned i = 0; i < ops && off < size; i++) {
		uint64_t gap = ub_rnd_below(4) ? 0 : ub_rnd_below(70000);
		uint64_t len = 1 + (ub_rnd_below(8) ? ub_rnd_below(70000) : ub_rnd_below(9u << 20));
		off += gap;
		if (off >= size)
			break;
		if (len > size - off)
			len = size - off;
		switch (ub_rnd_below(4)) {
		case 0:
		case 1:
			for (uint64_t k = 0; k < len; k++)
				buf[k] = (uint8_t)ub_rnd();
			if (ub_rnd_below(3) == 0) /* a zero run inside */
				memset(buf, 0, len / 2);
			ck_assert_int_eq(meta_stream_put_data(w, off, buf, len), 0);
			memcpy(model + off, buf, len);
			break;
		case 2:
			ck_assert_int_eq(meta_stream_put_range(w, META_STREAM_ZERO, off, len), 0);
			memset(model + off, 0, len);
			break;
		default:
			ck_assert_int_eq(meta_stream_put_range(w, META_STREAM_UNMAP, off, len), 0);
			memset(model + off, 0, len);
			break;
		}
		off += len;
	}
	ck_assert_int_eq(meta_stream_writer_finish(w, &nr, &bytes), 0);
	meta_stream_writer_free(w);
	free(buf);
}

START_TEST(test_random_round_trip)
{
	uint64_t size = 24u << 20;
	uint8_t *model = malloc(size), *vol = malloc(size);
	int rounds = ub_long_run() ? 60 : 12;
	ck_assert_ptr_nonnull(model);
	ck_assert_ptr_nonnull(vol);
	for (int i = 0; i < rounds; i++) {
		struct mem m = {0};
		ub_rnd_state = 0x5eed0000u + (uint64_t)i;
		random_stream(&m, model, size, i & 1, 40);
		memset(vol, 0xee, size);
		ck_assert_int_eq(read_all(&m, vol, NULL), 0);
		ck_assert_msg(!memcmp(vol, model, size), "round %d: the stream differs from the model", i);
		free(m.p);
	}
	free(model);
	free(vol);
}
END_TEST

/* A small stream: header, data, zero, unmap, data, end. */
static void small_stream(struct mem *m, uint8_t *model)
{
	uint8_t buf[3000];
	struct meta_stream_header h = hdr(20000);
	struct meta_stream_writer *w;
	memset(model, 0, 20000);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	ck_assert_int_eq(meta_stream_writer_open(&h, true, mem_out, m, &w), 0);
	ck_assert_int_eq(meta_stream_put_data(w, 100, buf, 1000), 0);
	ck_assert_int_eq(meta_stream_put_range(w, META_STREAM_ZERO, 1100, 500), 0);
	ck_assert_int_eq(meta_stream_put_range(w, META_STREAM_UNMAP, 4000, 4000), 0);
	ck_assert_int_eq(meta_stream_put_data(w, 9000, buf, 3000), 0);
	ck_assert_int_eq(meta_stream_writer_finish(w, NULL, NULL), 0);
	meta_stream_writer_free(w);
	memcpy(model + 100, buf, 1000);
	memcpy(model + 9000, buf, 3000);
}

START_TEST(test_every_truncation_refused)
{
	struct mem m = {0};
	uint8_t model[20000], vol[20000];
	uint64_t nrec;
	size_t full;
	small_stream(&m, model);
	full = m.n;
	memset(vol, 0, sizeof(vol));
	ck_assert_int_eq(read_all(&m, vol, &nrec), 0);
	ck_assert_int_eq(nrec, 4);
	ck_assert(!memcmp(vol, model, sizeof(vol)));
	for (size_t n = 0; n < full; n++) {
		m.n = n;
		ck_assert_msg(read_all(&m, NULL, NULL) == META_E_STREAM, "prefix %zu accepted", n);
	}
	free(m.p);
}
END_TEST

START_TEST(test_every_byte_change_refused)
{
	struct mem m = {0};
	uint8_t model[20000];
	small_stream(&m, model);
	/* every byte; under ASan in the CI suite the first 128 and every 7th after them */
	size_t stride = ub_ci(1, 1, 7);
	for (size_t i = 0; i < m.n; i++) {
		if (i >= 128 && i % stride)
			continue;
		for (int bit = 0; bit < 8; bit += 3) {
			m.p[i] ^= (uint8_t)(1u << bit);
			ck_assert_msg(read_all(&m, NULL, NULL) == META_E_STREAM, "byte %zu bit %d accepted",
				      i, bit);
			m.p[i] ^= (uint8_t)(1u << bit);
		}
	}
	ck_assert_int_eq(read_all(&m, NULL, NULL), 0);
	/* a byte more after END */
	mem_out(&m, "", 1);
	ck_assert_int_eq(read_all(&m, NULL, NULL), META_E_STREAM);
	free(m.p);
}
END_TEST

START_TEST(test_writer_checks)
{
	struct mem m = {0};
	struct meta_stream_header h = hdr(10000);
	struct meta_stream_writer *w;
	uint8_t b[10] = {1};
	h.block_size = 1000;
	ck_assert_int_eq(meta_stream_writer_open(&h, false, mem_out, &m, &w), META_E_INVAL);
	h = hdr(10000);
	h.base_dev = 3; /* base fields without INCREMENTAL */
	ck_assert_int_eq(meta_stream_writer_open(&h, false, mem_out, &m, &w), META_E_INVAL);
	h = hdr(10000);
	h.flags = 4;
	ck_assert_int_eq(meta_stream_writer_open(&h, false, mem_out, &m, &w), META_E_INVAL);
	h = hdr(10000);
	ck_assert_int_eq(meta_stream_writer_open(&h, false, mem_out, &m, &w), 0);
	ck_assert_int_eq(meta_stream_put_data(w, 9995, b, 10), META_E_INVAL);   /* past the end */
	ck_assert_int_eq(meta_stream_put_data(w, 100, b, 0), META_E_INVAL);     /* empty */
	ck_assert_int_eq(meta_stream_put_data(w, 100, b, 10), 0);
	ck_assert_int_eq(meta_stream_put_data(w, 105, b, 10), META_E_INVAL);    /* overlap */
	ck_assert_int_eq(meta_stream_put_range(w, META_STREAM_DATA, 200, 5), META_E_INVAL);
	ck_assert_int_eq(meta_stream_put_range(w, META_STREAM_UNMAP, UINT64_MAX - 2, 5),
			 META_E_INVAL);
	ck_assert_int_eq(meta_stream_put_range(w, META_STREAM_UNMAP, 110, 9890), 0);
	ck_assert_int_eq(meta_stream_writer_finish(w, NULL, NULL), 0);
	meta_stream_writer_free(w);
	ck_assert_int_eq(read_all(&m, NULL, NULL), 0);
	free(m.p);
}
END_TEST

/* Hand-made records with correct checksums: what only the field checks catch. */
static void put_rec(struct mem *m, uint32_t type, uint32_t dcrc, uint64_t off, uint64_t len,
		    uint32_t seq)
{
	uint8_t b[32];
	uint32_t c;
	memcpy(b, &type, 4); /* the test host is little-endian (x86-64, aarch64) */
	memcpy(b + 4, &dcrc, 4);
	memcpy(b + 8, &off, 8);
	memcpy(b + 16, &len, 8);
	memcpy(b + 24, &seq, 4);
	c = meta_crc32c(0xffffffffu, b, 28);
	memcpy(b + 28, &c, 4);
	mem_out(m, b, 32);
}

static int crafted(uint32_t type, uint32_t dcrc, uint64_t off, uint64_t len, uint32_t seq,
		   bool end)
{
	struct mem m = {0};
	struct meta_stream_header h = hdr(1u << 30);
	struct meta_stream_writer *w;
	int e;
	ck_assert_int_eq(meta_stream_writer_open(&h, false, mem_out, &m, &w), 0);
	meta_stream_writer_free(w);
	put_rec(&m, type, dcrc, off, len, seq);
	if (end)
		put_rec(&m, META_STREAM_END, 0, 1, 0, 1);
	e = read_all(&m, NULL, NULL);
	free(m.p);
	return e;
}

START_TEST(test_reader_field_checks)
{
	ck_assert_int_eq(crafted(META_STREAM_UNMAP, 0, 0, 4096, 0, true), 0);
	ck_assert_int_eq(crafted(9, 0, 0, 4096, 0, true), META_E_STREAM);                /* type */
	ck_assert_int_eq(crafted(META_STREAM_UNMAP, 0, 0, 4096, 1, true), META_E_STREAM); /* seq */
	ck_assert_int_eq(crafted(META_STREAM_UNMAP, 0, 0, 0, 0, true), META_E_STREAM);    /* empty */
	ck_assert_int_eq(crafted(META_STREAM_UNMAP, 5, 0, 4096, 0, true), META_E_STREAM); /* crc */
	ck_assert_int_eq(crafted(META_STREAM_UNMAP, 0, (1u << 30) - 10, 11, 0, true), META_E_STREAM);
	ck_assert_int_eq(crafted(META_STREAM_UNMAP, 0, UINT64_MAX, 2, 0, true), META_E_STREAM);
	ck_assert_int_eq(crafted(META_STREAM_DATA, 0, 0, META_STREAM_MAX_DATA + 1, 0, true),
			 META_E_STREAM);
	ck_assert_int_eq(crafted(META_STREAM_UNMAP, 0, 0, 4096, 0, false), META_E_STREAM); /* no END */
	/* END with a wrong count */
	{
		struct mem m = {0};
		struct meta_stream_header h = hdr(1000);
		struct meta_stream_writer *w;
		ck_assert_int_eq(meta_stream_writer_open(&h, false, mem_out, &m, &w), 0);
		meta_stream_writer_free(w);
		put_rec(&m, META_STREAM_END, 0, 3, 0, 0);
		ck_assert_int_eq(read_all(&m, NULL, NULL), META_E_STREAM);
		free(m.p);
	}
}
END_TEST

/* ---- export of a fixture pool ---- */

struct sinkbuf {
	uint8_t *vol;
	uint64_t size, last;
	int calls;
};

static int sink_data(void *ctx, uint64_t off, const void *buf, size_t len)
{
	struct sinkbuf *s = ctx;
	ck_assert_uint_ge(off, s->last);
	ck_assert_uint_le(off + len, s->size);
	memcpy(s->vol + off, buf, len);
	s->last = off + len;
	s->calls++;
	return 0;
}

static int sink_hole(void *ctx, uint64_t off, uint64_t len)
{
	struct sinkbuf *s = ctx;
	ck_assert_uint_ge(off, s->last);
	ck_assert_uint_le(off + len, s->size);
	memset(s->vol + off, 0, len);
	s->last = off + len;
	return 0;
}

START_TEST(test_export_fixture)
{
	char meta[UB_PATH_MAX], data[UB_PATH_MAX];
	struct meta_thin *t;
	struct meta_io *dio;
	struct meta_thin_open_opts oo = {0};
	uint64_t bs = 65536, nblocks = 2048, size = 300 * 65536ull;
	uint8_t *img = malloc(nblocks * bs), *exp = malloc(size), *vol = malloc(size);
	struct sinkbuf sb = {vol, size, 0, 0};
	struct meta_export_sink sink = {sink_data, sink_hole, &sb};
	struct meta_export_opts eo = {0};
	struct meta_export_stats st;
	uint64_t root;
	ck_assert_ptr_nonnull(img);
	ub_fixture_gunzip("thin/snaps.bin.gz", meta, "exp-meta");
	ub_tmpfile(data, "exp-data", 0);
	ub_rnd_state = 77;
	for (uint64_t i = 0; i < nblocks * bs / 8; i++) {
		uint64_t v = ub_rnd();
		memcpy(img + i * 8, &v, 8);
	}
	ub_write_at(data, 0, img, nblocks * bs);
	ck_assert_int_eq(meta_thin_open(meta, &oo, &t), 0);
	ck_assert_int_eq(meta_io_open(data, 0, &dio), 0);
	for (uint64_t dev = 0; dev < 4; dev++) {
		/* the model: each block looked up on its own in the device's tree */
		ck_assert_int_eq(meta_thin_dev_root(t, dev, &root), 0);
		for (uint64_t vb = 0; vb < size / bs; vb++) {
			uint8_t v[8];
			uint64_t x;
			if (meta_btree_lookup(meta_thin_bm(t), root, vb, v, 8)) {
				memset(exp + vb * bs, 0, bs);
				continue;
			}
			memcpy(&x, v, 8);
			memcpy(exp + vb * bs, img + (x >> 24) * bs, bs);
		}
		memset(vol, 0xaa, size);
		sb.last = 0;
		eo.dev = dev;
		eo.size = size;
		ck_assert_int_eq(meta_thin_export(t, dio, &eo, &sink, &st), 0);
		ck_assert_uint_eq(sb.last, size);
		ck_assert_msg(!memcmp(vol, exp, size), "dev %" PRIu64 " differs from the model", dev);
		/* --since dev-1: applied over dev-1's view gives dev's */
		if (dev) {
			struct meta_export_opts d = eo;
			struct sinkbuf sb2 = {vol, size, 0, 0};
			struct meta_export_sink s2 = {sink_data, sink_hole, &sb2};
			eo.dev = dev - 1;
			sb.last = 0;
			ck_assert_int_eq(meta_thin_export(t, dio, &eo, &sink, &st), 0);
			d.since = true;
			d.base_dev = dev - 1;
			ck_assert_int_eq(meta_thin_export(t, dio, &d, &s2, &st), 0);
			ck_assert_msg(!memcmp(vol, exp, size), "dev %" PRIu64 " since %" PRIu64 " differs",
				      dev, dev - 1);
		}
	}
	eo.dev = 9;
	ck_assert_int_eq(meta_thin_export(t, dio, &eo, &sink, &st), META_E_NOTFOUND);
	meta_io_close(dio);
	meta_thin_close(t);
	free(img);
	free(exp);
	free(vol);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("thin_export");
	TCase *tc = ub_tcase(s, "core", 120);
	tcase_add_test(tc, test_random_round_trip);
	tcase_add_test(tc, test_every_truncation_refused);
	tcase_add_test(tc, test_every_byte_change_refused);
	tcase_add_test(tc, test_writer_checks);
	tcase_add_test(tc, test_reader_field_checks);
	tcase_add_test(tc, test_export_fixture);
	return ub_run(s);
}

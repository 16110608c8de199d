/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The shared-store engine (meta_ms_read / meta_ms_write_origin / meta_ms_write_snapshot on
 * mikulas stores) against a plain in-memory model: the origin and every live view as byte
 * arrays.  Seeded random sequences of create, create_subsnap, delete, origin writes and
 * snapshot writes (masters and subs, partial and whole chunks, up to three chunks); after
 * every step every live view reads as the model says, meta_ms_check_path() reports
 * nothing and the status' allocated sectors are the metadata plus the COW chunks the
 * exceptions name.  The seed is printed on a failure (DMMETA_LONG: more seeds and steps).
 * Hand-written cases: a sub-snapshot made after its master was written reads what the
 * master reads (the unborn-id rule); one origin write costs one COW chunk with 1 and with
 * 1000 snapshots; a full COW is META_E_NOSPC with the store and the origin untouched; the
 * crash matrix (the store's Nth write fails, for every N, during an origin write and a
 * snapshot write of several chunks: the store reopens clean and every view reads all old
 * or all new; the origin is unchanged unless the commit landed).
 * daniel stores: the same model run (no sub-snapshots), thousands of exceptions (leaves
 * split; DMMETA_LONG: index nodes and the root too), a full store changes not one byte, and
 * a crash matrix fitted to a store without a journal (fatal damage the check reports, or
 * every view old or new chunk by chunk; never new origin data in a snapshot).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/multisnap.h>

#include "multisnap/ms_generic.h"
#include "unit_base.h"

#define CHUNK 4096u
#define CS 8u /* sectors */
#define MAX_VIEWS 12
#define MIB (1024ull * 1024ull)
#define ID(n) (((uint64_t)(n) << 32) | META_MS_SUB_NONE)
#define SUB(n, k) (((uint64_t)(n) << 32) | (k))

struct env {
	char dir[UB_PATH_MAX], opath[UB_PATH_MAX + 16], spath[UB_PATH_MAX + 16];
	struct meta_io *origin;
	struct meta_ms *ms;
	uint64_t obytes;
	enum meta_ms_type type;
	uint64_t cb; /* chunk bytes */
	uint32_t cs; /* chunk sectors */
};

static void env_open(struct env *e)
{
	ck_assert_int_eq(meta_ms_open(e->spath, META_MS_OPEN_WRITE, &e->ms), 0);
}

static void env_init_type(struct env *e, enum meta_ms_type t, uint64_t origin_chunks,
			  uint64_t store_bytes)
{
	struct meta_ms_params p = {t, t == META_MS_DANIEL ? 32 : CS, 0, 0};
	FILE *f;
	e->type = t;
	e->cs = p.chunk_size;
	e->cb = (uint64_t)p.chunk_size * 512;
	ck_assert_int_eq(ub_tmpdir(e->dir, "ms_engine"), 0);
	snprintf(e->opath, sizeof(e->opath), "%s/origin", e->dir);
	snprintf(e->spath, sizeof(e->spath), "%s/store", e->dir);
	e->obytes = origin_chunks * e->cb;
	f = fopen(e->opath, "wb");
	ck_assert_ptr_nonnull(f);
	for (uint64_t i = 0; i < e->obytes; i++) /* a pattern: every chunk differs */
		fputc((int)((i * 7 + i / e->cb * 13) & 0xff), f);
	ck_assert_int_eq(fclose(f), 0);
	f = fopen(e->spath, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(truncate(e->spath, (off_t)store_bytes), 0);
	ck_assert_int_eq(meta_ms_format(e->spath, &p, false), 0);
	ck_assert_int_eq(meta_io_open(e->opath, META_IO_WRITE, &e->origin), 0);
	env_open(e);
}

static void env_init(struct env *e, uint64_t origin_chunks, uint64_t store_bytes)
{
	env_init_type(e, META_MS_MIKULAS, origin_chunks, store_bytes);
}

static void env_done(struct env *e)
{
	meta_ms_close(e->ms);
	meta_io_close(e->origin);
	unlink(e->opath);
	unlink(e->spath);
	rmdir(e->dir);
}

struct seen {
	unsigned n;
	char first[200];
};

static void on_damage(void *ctx, const struct meta_damage *d)
{
	struct seen *s = ctx;
	if (!s->n++)
		snprintf(s->first, sizeof(s->first), "%s: %s", meta_damage_name(d->kind),
			 d->detail ? d->detail : "");
}

/* The distinct COW chunks the exceptions name, from the XML dump. */
static uint64_t chunks_named(struct meta_ms *ms)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	uint64_t *v = NULL, n = 0, distinct = 0;
	size_t cap = 0;
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(meta_ms_dump_xml(ms, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	for (char *p = buf; (p = strstr(p, "cow_chunk=\"")); p++) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = realloc(v, cap * sizeof(*v));
			ck_assert_ptr_nonnull(v);
		}
		v[n++] = strtoull(p + 11, NULL, 10);
	}
	for (uint64_t i = 0; i < n; i++) {
		bool dup = false;
		for (uint64_t j = 0; j < i && !dup; j++)
			dup = v[j] == v[i];
		distinct += !dup;
	}
	free(v);
	free(buf);
	return distinct;
}

static uint64_t data_sectors(struct meta_ms *ms)
{
	struct meta_ms_status st;
	ck_assert_int_eq(meta_ms_status(ms, &st), 0);
	return st.sectors_allocated - st.metadata_sectors;
}

/* ---- the model ---------------------------------------------------------------------- */

struct view {
	meta_ms_id id;
	uint8_t *data;
};

struct model {
	uint8_t *origin;
	struct view v[MAX_VIEWS];
	unsigned n;
};

static struct view *find_view(struct model *md, meta_ms_id id)
{
	for (unsigned i = 0; i < md->n; i++)
		if (md->v[i].id == id)
			return &md->v[i];
	return NULL;
}

static void add_view(struct model *md, meta_ms_id id, const uint8_t *from, uint64_t bytes)
{
	struct view *v = &md->v[md->n++];
	v->id = id;
	v->data = malloc(bytes);
	ck_assert_ptr_nonnull(v->data);
	memcpy(v->data, from, bytes);
}

static void drop_view(struct model *md, meta_ms_id id)
{
	struct view *v = find_view(md, id);
	free(v->data);
	*v = md->v[--md->n];
}

static bool has_subs(const struct model *md, meta_ms_id master)
{
	for (unsigned i = 0; i < md->n; i++)
		if (md->v[i].id != master && md->v[i].id >> 32 == master >> 32)
			return true;
	return false;
}

/* Every view read through the engine equals the model; the check is clean; counts match. */
static void verify(struct env *e, struct model *md, uint64_t seed, unsigned step)
{
	uint8_t *buf = malloc(e->obytes);
	struct seen s = {0};
	int sev;
	ck_assert_ptr_nonnull(buf);
	for (unsigned i = 0; i < md->n; i++) {
		ck_assert_int_eq(meta_ms_read(e->ms, e->origin, md->v[i].id, 0, e->obytes, buf), 0);
		uint64_t b = 0;
		if (!memcmp(buf, md->v[i].data, e->obytes)) /* (ck_assert per byte is slow) */
			continue;
		while (buf[b] == md->v[i].data[b])
			b++;
		ck_abort_msg("seed %llu step %u: view %llx byte %llu reads %u, model %u",
			     (unsigned long long)seed, step, (unsigned long long)md->v[i].id,
			     (unsigned long long)b, buf[b], md->v[i].data[b]);
	}
	ub_read_at(e->opath, 0, buf, e->obytes);
	ck_assert_msg(!memcmp(buf, md->origin, e->obytes), "seed %llu step %u: origin differs",
		      (unsigned long long)seed, step);
	free(buf);
	sev = meta_ms_check_path(e->spath, on_damage, &s);
	ck_assert_msg(sev == -1 && s.n == 0, "seed %llu step %u: check: %s",
		      (unsigned long long)seed, step, s.first);
	ck_assert_msg(data_sectors(e->ms) == chunks_named(e->ms) * e->cs,
		      "seed %llu step %u: status %llu data sectors, exceptions name %llu chunks",
		      (unsigned long long)seed, step, (unsigned long long)data_sectors(e->ms),
		      (unsigned long long)chunks_named(e->ms));
}

/* A random write range: one byte .. three chunks, sometimes whole chunks. */
static void rnd_range(const struct env *e, uint64_t *off, uint64_t *len)
{
	uint64_t nch = e->obytes / e->cb;
	if (ub_rnd_below(2)) {
		uint64_t c = ub_rnd_below(nch), k = 1 + ub_rnd_below(3);
		if (c + k > nch)
			k = nch - c;
		*off = c * e->cb;
		*len = k * e->cb;
	} else {
		*off = ub_rnd_below(e->obytes);
		*len = 1 + ub_rnd_below(3 * e->cb);
		if (*len > e->obytes - *off)
			*len = e->obytes - *off;
	}
}

static void fill(uint8_t *buf, uint64_t len)
{
	uint8_t b = (uint8_t)ub_rnd();
	for (uint64_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(b + i * 31);
}

static void run_seed(enum meta_ms_type t, uint64_t seed, unsigned steps)
{
	struct env e;
	struct model md = {0};
	uint8_t *wbuf = malloc(3 * 16384);
	ck_assert_ptr_nonnull(wbuf);
	ub_rnd_state = seed * 0x9e3779b97f4a7c15ull + 1;
	env_init_type(&e, t, 16 + ub_rnd_below(49), 16 * MIB);
	md.origin = malloc(e.obytes);
	ck_assert_ptr_nonnull(md.origin);
	ub_read_at(e.opath, 0, md.origin, e.obytes);
	for (unsigned step = 0; step < steps; step++) {
		unsigned op = (unsigned)ub_rnd_below(11);
		meta_ms_id id;
		uint64_t off, len;
		if (getenv("MS_ENGINE_TRACE"))
			fprintf(stderr, "step %u op %u\n", step, op);
		if (getenv("MS_ENGINE_DUMP") && step == strtoul(getenv("MS_ENGINE_DUMP"), NULL, 0))
			meta_ms_dump_xml(e.ms, stderr);
		if (op < 2 && md.n < MAX_VIEWS) { /* create */
			ck_assert_int_eq(meta_ms_create(e.ms, &id), 0);
			add_view(&md, id, md.origin, e.obytes);
		} else if (op == 2 && md.n && md.n < MAX_VIEWS) { /* create_subsnap (mikulas) */
			if (t == META_MS_DANIEL)
				continue;
			struct view *m = &md.v[ub_rnd_below(md.n)];
			meta_ms_id master = m->id | META_MS_SUB_NONE;
			struct view *mv = find_view(&md, master);
			if (!mv)
				continue;
			ck_assert_int_eq(meta_ms_create_subsnap(e.ms, master, &id), 0);
			add_view(&md, id, mv->data, e.obytes);
		} else if (op == 3 && md.n) { /* delete */
			id = md.v[ub_rnd_below(md.n)].id;
			if ((uint32_t)id == META_MS_SUB_NONE && has_subs(&md, id)) {
				ck_assert_int_eq(meta_ms_delete(e.ms, id), META_E_BUSY);
				continue;
			}
			ck_assert_int_eq(meta_ms_delete(e.ms, id), 0);
			drop_view(&md, id);
		} else if (op < 7) { /* origin write: at most one new COW chunk per origin chunk */
			uint64_t before = data_sectors(e.ms);
			rnd_range(&e, &off, &len);
			fill(wbuf, len);
			if (getenv("MS_ENGINE_TRACE"))
				fprintf(stderr, "  origin off %llu len %llu\n", (unsigned long long)off,
					(unsigned long long)len);
			ck_assert_int_eq(meta_ms_write_origin(e.ms, e.origin, off, len, wbuf), 0);
			memcpy(md.origin + off, wbuf, len);
			ck_assert_msg(data_sectors(e.ms) - before <=
					      ((off + len - 1) / e.cb - off / e.cb + 1) * e.cs,
				      "seed %llu step %u: origin write copied more than once",
				      (unsigned long long)seed, step);
		} else if (op == 10 && md.n) { /* merge: the origin takes a view, which goes */
			struct meta_ms_merge_opts mo = {0};
			id = md.v[ub_rnd_below(md.n)].id;
			mo.batch = 1 + (uint32_t)ub_rnd_below(4);
			/* a master with live subs too: they stay, orphans, with their views */
			ck_assert_int_eq(meta_ms_merge(e.ms, e.origin, id, &mo), 0);
			memcpy(md.origin, find_view(&md, id)->data, e.obytes);
			drop_view(&md, id);
		} else if (md.n) { /* snapshot write */
			struct view *v = &md.v[ub_rnd_below(md.n)];
			rnd_range(&e, &off, &len);
			fill(wbuf, len);
			if (getenv("MS_ENGINE_TRACE"))
				fprintf(stderr, "  write %llx off %llu len %llu\n",
					(unsigned long long)v->id, (unsigned long long)off,
					(unsigned long long)len);
			ck_assert_int_eq(meta_ms_write_snapshot(e.ms, e.origin, v->id, off, len, wbuf), 0);
			memcpy(v->data + off, wbuf, len);
		}
		/* now and then through a fresh handle */
		if (ub_rnd_below(16) == 0) {
			meta_ms_close(e.ms);
			env_open(&e);
		}
		verify(&e, &md, seed, step);
	}
	while (md.n)
		drop_view(&md, md.v[0].id);
	free(md.origin);
	free(wbuf);
	env_done(&e);
}

/*
 * Seeds of a random run (200 steps each, about 3 s a seed plain, ten times that under ASan):
 * the CI suite 12, under ASan 3; FULL=1 (make check-long) 50, under ASan 10; DMMETA_LONG
 * 500 (of 1000 steps).
 */
static unsigned model_seeds(void)
{
	if (ub_long_run())
		return 500;
	return ub_ci(ub_sanitized() ? 10 : 50, 12, 3);
}

START_TEST(test_random_model)
{
	unsigned seeds = model_seeds(), steps = ub_long_run() ? 1000 : 200;
	uint64_t first = 1;
	if (getenv("MS_ENGINE_SEED")) /* one seed: the one a failure printed */
		first = seeds = (unsigned)strtoul(getenv("MS_ENGINE_SEED"), NULL, 0);
	for (uint64_t seed = first; seed <= seeds; seed++)
		run_seed(META_MS_MIKULAS, seed, steps);
}
END_TEST

/* The same model run on daniel stores (no sub-snapshots there). */
START_TEST(test_random_model_daniel)
{
	unsigned seeds = model_seeds(), steps = ub_long_run() ? 1000 : 200;
	uint64_t first = 1;
	if (getenv("MS_ENGINE_SEED"))
		first = seeds = (unsigned)strtoul(getenv("MS_ENGINE_SEED"), NULL, 0);
	for (uint64_t seed = first; seed <= seeds; seed++)
		run_seed(META_MS_DANIEL, seed, steps);
}
END_TEST

/* ---- hand-written cases -------------------------------------------------------------- */

static void read_chunk(struct env *e, meta_ms_id id, uint64_t c, uint8_t *buf)
{
	ck_assert_int_eq(meta_ms_read(e->ms, e->origin, id, c * CHUNK, CHUNK, buf), 0);
}

START_TEST(test_sub_made_later)
{
	struct env e;
	uint8_t w[CHUNK], a[CHUNK], b[CHUNK], old1[CHUNK];
	meta_ms_id s0, s1, sub, sub2;
	struct seen s = {0};
	env_init(&e, 8, 16 * MIB);
	ck_assert_int_eq(meta_ms_create(e.ms, &s0), 0);
	ck_assert_uint_eq(s0, ID(0));
	/* master 0 written (chunk 0), origin written (chunk 1) */
	memset(w, 0xa5, sizeof(w));
	ck_assert_int_eq(meta_ms_write_snapshot(e.ms, e.origin, s0, 0, CHUNK, w), 0);
	read_chunk(&e, s0, 1, old1);
	memset(w, 0x5a, sizeof(w));
	ck_assert_int_eq(meta_ms_write_origin(e.ms, e.origin, CHUNK, CHUNK, w), 0);
	/* a sub made now reads what 0 reads: its chunk 0 and the origin's old chunk 1 */
	ck_assert_int_eq(meta_ms_create_subsnap(e.ms, s0, &sub), 0);
	ck_assert_uint_eq(sub, SUB(0, 0));
	for (uint64_t c = 0; c < 8; c++) {
		read_chunk(&e, s0, c, a);
		read_chunk(&e, sub, c, b);
		ck_assert_msg(!memcmp(a, b, CHUNK), "chunk %llu", (unsigned long long)c);
	}
	read_chunk(&e, sub, 1, b);
	ck_assert(!memcmp(b, old1, CHUNK));
	/* a snapshot made now reads the origin */
	ck_assert_int_eq(meta_ms_create(e.ms, &s1), 0);
	read_chunk(&e, s1, 1, b);
	ck_assert(!memcmp(b, w, CHUNK));
	/* a write to the sub splits it alone out; a second sub still reads as 0 */
	memset(w, 0x11, sizeof(w));
	ck_assert_int_eq(meta_ms_write_snapshot(e.ms, e.origin, sub, 100, 10, w), 0);
	ck_assert_int_eq(meta_ms_create_subsnap(e.ms, s0, &sub2), 0);
	read_chunk(&e, s0, 0, a);
	read_chunk(&e, sub2, 0, b);
	ck_assert(!memcmp(a, b, CHUNK));
	read_chunk(&e, sub, 0, b);
	ck_assert(memcmp(a, b, CHUNK));
	ck_assert(!memcmp(b + 100, w, 10));
	/* a write to master 0 now (in place? no: the sub2 shares it) leaves sub2 as it was */
	memset(w, 0x22, sizeof(w));
	ck_assert_int_eq(meta_ms_write_snapshot(e.ms, e.origin, s0, 0, 1, w), 0);
	read_chunk(&e, sub2, 0, b);
	ck_assert_uint_eq(b[0], 0xa5);
	read_chunk(&e, s0, 0, a);
	ck_assert_uint_eq(a[0], 0x22);
	ck_assert_int_eq(meta_ms_check_path(e.spath, on_damage, &s), -1);
	ck_assert_msg(s.n == 0, "%s", s.first);
	env_done(&e);
}
END_TEST

/* One origin write of one chunk with n snapshots: one COW chunk. */
static void one_copy(unsigned n)
{
	struct env e;
	uint8_t w[CHUNK], old[CHUNK], buf[CHUNK];
	meta_ms_id id;
	uint64_t before;
	env_init(&e, 4, 64 * MIB);
	for (unsigned i = 0; i < n; i++)
		ck_assert_int_eq(meta_ms_create(e.ms, &id), 0);
	ub_read_at(e.opath, 2 * CHUNK, old, CHUNK);
	before = data_sectors(e.ms);
	memset(w, 0x77, sizeof(w));
	ck_assert_int_eq(meta_ms_write_origin(e.ms, e.origin, 2 * CHUNK + 5, 100, w), 0);
	ck_assert_uint_eq(data_sectors(e.ms) - before, CS);
	ck_assert_uint_eq(chunks_named(e.ms), 1);
	/* a second write to the chunk copies nothing */
	ck_assert_int_eq(meta_ms_write_origin(e.ms, e.origin, 2 * CHUNK, CHUNK, w), 0);
	ck_assert_uint_eq(data_sectors(e.ms) - before, CS);
	for (unsigned i = 0; i < n; i += n > 10 ? n / 10 : 1) {
		read_chunk(&e, ID(i), 2, buf);
		ck_assert(!memcmp(buf, old, CHUNK));
	}
	ck_assert_int_eq(meta_ms_check_path(e.spath, NULL, NULL), -1);
	env_done(&e);
}

START_TEST(test_one_copy_1_and_1000)
{
	one_copy(1);
	one_copy(1000);
}
END_TEST

START_TEST(test_nospc)
{
	struct env e;
	uint8_t w[CHUNK], buf[CHUNK], before_o[CHUNK];
	meta_ms_id id;
	struct meta_ms_status st0, st1;
	uint64_t c = 0;
	int r = 0;
	env_init(&e, 256, 1536 * 1024);
	ck_assert_int_eq(meta_ms_create(e.ms, &id), 0);
	memset(w, 0x33, sizeof(w));
	for (c = 0; c < 256; c++) {
		r = meta_ms_write_origin(e.ms, e.origin, c * CHUNK, CHUNK, w);
		if (r)
			break;
	}
	ck_assert_int_eq(r, META_E_NOSPC);
	ck_assert_uint_gt(c, 50);
	/* nothing changed: the origin chunk, the status, the check; the handle still works */
	ub_read_at(e.opath, c * CHUNK, before_o, CHUNK);
	ck_assert(before_o[0] != 0x33 || before_o[1] != 0x33);
	ck_assert_int_eq(meta_ms_status(e.ms, &st0), 0);
	ck_assert_int_eq(meta_ms_write_origin(e.ms, e.origin, c * CHUNK, 2 * CHUNK, w), META_E_NOSPC);
	ck_assert_int_eq(meta_ms_write_snapshot(e.ms, e.origin, id, c * CHUNK, 1, w), META_E_NOSPC);
	ck_assert_int_eq(meta_ms_status(e.ms, &st1), 0);
	ck_assert_uint_eq(st0.sectors_allocated, st1.sectors_allocated);
	ub_read_at(e.opath, c * CHUNK, buf, CHUNK);
	ck_assert(!memcmp(buf, before_o, CHUNK));
	read_chunk(&e, id, c, buf);
	ck_assert(!memcmp(buf, before_o, CHUNK));
	/* a write to a chunk the snapshot already has is in place: still fine */
	ck_assert_int_eq(meta_ms_write_snapshot(e.ms, e.origin, id, 0, 3, w), 0);
	/* deleting the snapshot frees everything: the write goes through */
	ck_assert_int_eq(meta_ms_delete(e.ms, id), 0);
	ck_assert_int_eq(meta_ms_write_origin(e.ms, e.origin, c * CHUNK, CHUNK, w), 0);
	ck_assert_int_eq(meta_ms_check_path(e.spath, NULL, NULL), -1);
	env_done(&e);
}
END_TEST

START_TEST(test_errors)
{
	struct env e;
	uint8_t buf[16] = {0};
	meta_ms_id id;
	struct meta_ms *ro;
	env_init(&e, 4, 16 * MIB);
	ck_assert_int_eq(meta_ms_read(e.ms, e.origin, ID(0), 0, 1, buf), META_E_NOTFOUND);
	ck_assert_int_eq(meta_ms_write_snapshot(e.ms, e.origin, ID(0), 0, 1, buf), META_E_NOTFOUND);
	ck_assert_int_eq(meta_ms_create(e.ms, &id), 0);
	ck_assert_int_eq(meta_ms_read(e.ms, e.origin, id, 4 * CHUNK - 1, 2, buf), META_E_RANGE);
	ck_assert_int_eq(meta_ms_write_origin(e.ms, e.origin, 4 * CHUNK, 1, buf), META_E_RANGE);
	ck_assert_int_eq(meta_ms_write_snapshot(e.ms, e.origin, SUB(0, 0), 0, 1, buf),
			 META_E_NOTFOUND);
	ck_assert_int_eq(meta_ms_open(e.spath, 0, &ro), 0);
	ck_assert_int_eq(meta_ms_write_origin(ro, e.origin, 0, 1, buf), META_E_INVAL);
	ck_assert_int_eq(meta_ms_read(ro, e.origin, id, 0, 1, buf), 0);
	meta_ms_close(ro);
	env_done(&e);
}
END_TEST

/* Every view of the model read back. */
static bool views_equal(struct env *e, const struct model *md)
{
	uint8_t *buf = malloc(e->obytes);
	bool same = true;
	ck_assert_ptr_nonnull(buf);
	for (unsigned i = 0; i < md->n && same; i++) {
		ck_assert_int_eq(meta_ms_read(e->ms, e->origin, md->v[i].id, 0, e->obytes, buf), 0);
		same = !memcmp(buf, md->v[i].data, e->obytes);
	}
	free(buf);
	return same;
}

static void copy_model(struct model *to, const struct model *from, uint64_t bytes)
{
	to->origin = malloc(bytes);
	ck_assert_ptr_nonnull(to->origin);
	memcpy(to->origin, from->origin, bytes);
	to->n = 0;
	for (unsigned i = 0; i < from->n; i++)
		add_view(to, from->v[i].id, from->v[i].data, bytes);
}

static void free_model(struct model *md)
{
	while (md->n)
		drop_view(md, md->v[0].id);
	free(md->origin);
}

/* op 0: origin write over chunks 1..3; op 1: a write to master 0 over chunks 2..4 */
static void crash_matrix(int op)
{
	struct env e;
	struct model before = {0}, after;
	uint8_t w[3 * CHUNK];
	uint64_t sbytes = 2 * MIB, off = (op ? 2 : 1) * CHUNK + 100, len = 2 * CHUNK + 50;
	uint8_t *store0 = malloc(sbytes), *origin0;
	meta_ms_id id;
	uint64_t n;
	int r = -1;
	ck_assert_ptr_nonnull(store0);
	env_init(&e, 8, sbytes);
	before.origin = malloc(e.obytes);
	origin0 = malloc(e.obytes);
	ck_assert_ptr_nonnull(before.origin);
	ck_assert_ptr_nonnull(origin0);
	ub_read_at(e.opath, 0, origin0, e.obytes);
	memcpy(before.origin, origin0, e.obytes);
	/* 0, 1, 0.0; snapshot 1 has chunk 3 of its own, 0 and 0.0 share chunk 2 */
	ck_assert_int_eq(meta_ms_create(e.ms, &id), 0);
	add_view(&before, id, origin0, e.obytes);
	ck_assert_int_eq(meta_ms_create(e.ms, &id), 0);
	add_view(&before, id, origin0, e.obytes);
	memset(w, 0xc3, sizeof(w));
	ck_assert_int_eq(meta_ms_write_snapshot(e.ms, e.origin, id, 3 * CHUNK + 7, 9, w), 0);
	memcpy(find_view(&before, id)->data + 3 * CHUNK + 7, w, 9);
	ck_assert_int_eq(meta_ms_write_origin(e.ms, e.origin, 2 * CHUNK, 1, w), 0);
	before.origin[2 * CHUNK] = 0xc3;
	memcpy(origin0, before.origin, e.obytes);
	ck_assert_int_eq(meta_ms_create_subsnap(e.ms, ID(0), &id), 0);
	add_view(&before, id, find_view(&before, ID(0))->data, e.obytes);
	meta_ms_close(e.ms);
	e.ms = NULL;
	ub_read_at(e.spath, 0, store0, sbytes);
	copy_model(&after, &before, e.obytes);
	memset(w, 0x3c, sizeof(w));
	if (op)
		memcpy(find_view(&after, ID(0))->data + off, w, len);
	else
		memcpy(after.origin + off, w, len);
	for (n = 0; r; n++) {
		struct meta_io *io;
		uint8_t *obuf = malloc(e.obytes);
		bool old, new;
		ck_assert_ptr_nonnull(obuf);
		ck_assert_uint_lt(n, 1000);
		ub_write_at(e.spath, 0, store0, sbytes);
		ub_write_at(e.opath, 0, origin0, e.obytes);
		ck_assert_int_eq(meta_io_open(e.spath, META_IO_WRITE, &io), 0);
		meta_io_fail_writes_after(io, n);
		ck_assert_int_eq(ms_open_io(io, NULL, true, &e.ms), 0);
		r = op ? meta_ms_write_snapshot(e.ms, e.origin, ID(0), off, len, w)
		       : meta_ms_write_origin(e.ms, e.origin, off, len, w);
		meta_ms_close(e.ms);
		env_open(&e);
		ck_assert_msg(meta_ms_check_path(e.spath, NULL, NULL) == -1, "op %d n %llu: damage", op,
			      (unsigned long long)n);
		ub_read_at(e.opath, 0, obuf, e.obytes);
		old = views_equal(&e, &before);
		new = views_equal(&e, &after);
		ck_assert_msg(old || new, "op %d n %llu: views neither old nor new", op,
			      (unsigned long long)n);
		if (r)
			ck_assert_msg(!memcmp(obuf, origin0, e.obytes),
				      "op %d n %llu: the origin written by a failed write", op,
				      (unsigned long long)n);
		else
			ck_assert(new && !memcmp(obuf, after.origin, e.obytes));
		free(obuf);
		meta_ms_close(e.ms);
		e.ms = NULL;
	}
	/* the write takes several store writes (data, tree, maps, superblock): each failed */
	ck_assert_uint_gt(n, 4);
	env_open(&e);
	free_model(&before);
	free_model(&after);
	free(store0);
	free(origin0);
	env_done(&e);
}

START_TEST(test_crash_matrix)
{
	crash_matrix(0);
	crash_matrix(1);
}
END_TEST


/*
 * Merge: snapshots 0, 1, 2 and sub 0.0 of 8-chunk origin; 1 wrote chunks 1..5 (5 own
 * chunks); the origin changed chunk 2 (0, 0.0 and 2 read the old bytes from one copy).
 * Merging 1 (batches of 2): the origin reads as 1 read, 0, 0.0 and 2 read as before, the
 * copies made only where they still read the origin (chunks 1, 3, 4, 5: not 2), 1 is gone
 * and its chunks freed.  Merging master 0 with sub 0.0 live: 0 goes, 0.0 stays.
 */
struct merge_env {
	struct env e;
	struct model md;
};

/* A store of n snapshots of the origin (ids 0..n-1), the model holding their views. */
static void merge_env_begin(struct merge_env *m, uint64_t sbytes, unsigned n)
{
	meta_ms_id id;
	env_init(&m->e, 8, sbytes);
	memset(&m->md, 0, sizeof(m->md));
	m->md.origin = malloc(m->e.obytes);
	ck_assert_ptr_nonnull(m->md.origin);
	ub_read_at(m->e.opath, 0, m->md.origin, m->e.obytes);
	for (unsigned i = 0; i < n; i++) {
		ck_assert_int_eq(meta_ms_create(m->e.ms, &id), 0);
		add_view(&m->md, id, m->md.origin, m->e.obytes);
	}
}

/* The model after a merge of id: the origin reads as id did, id is gone. */
static void model_merged(struct merge_env *m, meta_ms_id id)
{
	memcpy(m->md.origin, find_view(&m->md, id)->data, m->e.obytes);
	drop_view(&m->md, id);
}

static void merge_setup(struct merge_env *m, uint64_t sbytes)
{
	uint8_t w[5 * CHUNK];
	meta_ms_id id;
	merge_env_begin(m, sbytes, 3);
	fill(w, sizeof(w));
	ck_assert_int_eq(meta_ms_write_snapshot(m->e.ms, m->e.origin, ID(1), CHUNK, 5 * CHUNK, w), 0);
	memcpy(find_view(&m->md, ID(1))->data + CHUNK, w, 5 * CHUNK);
	memset(w, 0x9d, CHUNK);
	ck_assert_int_eq(meta_ms_write_origin(m->e.ms, m->e.origin, 2 * CHUNK + 9, 99, w), 0);
	memcpy(m->md.origin + 2 * CHUNK + 9, w, 99);
	ck_assert_int_eq(meta_ms_create_subsnap(m->e.ms, ID(0), &id), 0);
	add_view(&m->md, id, find_view(&m->md, ID(0))->data, m->e.obytes);
}

START_TEST(test_merge)
{
	struct merge_env m;
	struct meta_ms_merge_opts mo = {.batch = 2};
	struct meta_ms_status st;
	uint64_t before;
	meta_ms_id *ids;
	uint64_t n;
	merge_setup(&m, 16 * MIB);
	verify(&m.e, &m.md, 0, 0);
	ck_assert_int_eq(meta_ms_merge(m.e.ms, m.e.origin, ID(7), NULL), META_E_NOTFOUND);
	before = data_sectors(m.e.ms);
	mo.dry_run = true;
	ck_assert_int_eq(meta_ms_merge(m.e.ms, m.e.origin, ID(1), &mo), 0);
	ck_assert_uint_eq(mo.chunks, 5);
	ck_assert_uint_eq(mo.copies, 4);
	ck_assert_uint_eq(data_sectors(m.e.ms), before);
	verify(&m.e, &m.md, 0, 1);
	mo.dry_run = false;
	ck_assert_int_eq(meta_ms_merge(m.e.ms, m.e.origin, ID(1), &mo), 0);
	ck_assert_uint_eq(mo.chunks, 5);
	ck_assert_uint_eq(mo.copies, 4);
	/* 4 copies made, 1's 5 chunks freed */
	ck_assert_uint_eq(data_sectors(m.e.ms), before + 4 * CS - 5 * CS);
	model_merged(&m, ID(1));
	verify(&m.e, &m.md, 0, 2);
	ck_assert_int_eq(meta_ms_snapshots(m.e.ms, &ids, &n), 0);
	ck_assert_uint_eq(n, 3);
	free(ids);
	ck_assert_int_eq(meta_ms_status(m.e.ms, &st), 0);
	/* a sub merges; then its master; then 2, whose view is the origin's old one */
	ck_assert_int_eq(meta_ms_merge(m.e.ms, m.e.origin, SUB(0, 0), NULL), 0);
	model_merged(&m, SUB(0, 0));
	verify(&m.e, &m.md, 0, 3);
	ck_assert_int_eq(meta_ms_merge(m.e.ms, m.e.origin, ID(0), NULL), 0);
	drop_view(&m.md, ID(0));
	verify(&m.e, &m.md, 0, 4);
	ck_assert_int_eq(meta_ms_merge(m.e.ms, m.e.origin, ID(2), NULL), 0);
	model_merged(&m, ID(2));
	verify(&m.e, &m.md, 0, 5);
	ck_assert_uint_eq(data_sectors(m.e.ms), 0);
	free_model(&m.md);
	env_done(&m.e);
}
END_TEST

/*
 * A master with live subs: 0 and 1 of an 8-chunk origin; 0 wrote chunks 1..3, then subs
 * 0.0 and 0.1 (sharing 0's chunks 1..3); 0.1 wrote chunk 2; the origin changed chunk 5
 * (one copy for all four); 0 wrote chunk 6 (0.0 and 0.1 still read the origin there).
 * Merging 0 touches chunks 1, 2, 3, 5, 6: 1 needs copies at 1, 2, 3 and 6, 0.0 and 0.1
 * one at 6; 0.0 keeps 0's old chunks 1..3, 0.1 its own chunk 2.
 */
static void merge_master_setup(struct merge_env *m, uint64_t sbytes)
{
	uint8_t w[3 * CHUNK];
	meta_ms_id id;
	merge_env_begin(m, sbytes, 2);
	fill(w, sizeof(w));
	ck_assert_int_eq(meta_ms_write_snapshot(m->e.ms, m->e.origin, ID(0), CHUNK, 3 * CHUNK, w), 0);
	memcpy(find_view(&m->md, ID(0))->data + CHUNK, w, 3 * CHUNK);
	for (unsigned i = 0; i < 2; i++) {
		ck_assert_int_eq(meta_ms_create_subsnap(m->e.ms, ID(0), &id), 0);
		ck_assert_uint_eq(id, SUB(0, i));
		add_view(&m->md, id, find_view(&m->md, ID(0))->data, m->e.obytes);
	}
	memset(w, 0x5a, CHUNK);
	ck_assert_int_eq(meta_ms_write_snapshot(m->e.ms, m->e.origin, SUB(0, 1), 2 * CHUNK + 7, 70,
						w), 0);
	memcpy(find_view(&m->md, SUB(0, 1))->data + 2 * CHUNK + 7, w, 70);
	memset(w, 0x9d, CHUNK);
	ck_assert_int_eq(meta_ms_write_origin(m->e.ms, m->e.origin, 5 * CHUNK, CHUNK, w), 0);
	memcpy(m->md.origin + 5 * CHUNK, w, CHUNK);
	memset(w, 0xc3, CHUNK);
	ck_assert_int_eq(meta_ms_write_snapshot(m->e.ms, m->e.origin, ID(0), 6 * CHUNK + 1, 9, w), 0);
	memcpy(find_view(&m->md, ID(0))->data + 6 * CHUNK + 1, w, 9);
}

/* The merged store through dump, restore, dump again: the same text, and a clean check. */
static void roundtrip(struct env *e)
{
	char *a = NULL, *b = NULL, path[UB_PATH_MAX + 16], err[256];
	size_t alen = 0, blen = 0;
	FILE *f = open_memstream(&a, &alen), *in;
	struct meta_ms *ms;
	ck_assert_int_eq(meta_ms_dump_xml(e->ms, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(path, sizeof(path), "%s/restored", e->dir);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(truncate(path, (off_t)(16 * MIB)), 0);
	in = fmemopen(a, alen, "r");
	ck_assert_ptr_nonnull(in);
	ck_assert_msg(meta_ms_restore_xml(in, path, true, err, sizeof(err)) == 0, "restore: %s", err);
	fclose(in);
	ck_assert_int_eq(meta_ms_check_path(path, NULL, NULL), -1);
	ck_assert_int_eq(meta_ms_open(path, 0, &ms), 0);
	f = open_memstream(&b, &blen);
	ck_assert_int_eq(meta_ms_dump_xml(ms, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	meta_ms_close(ms);
	ck_assert_str_eq(a, b);
	unlink(path);
	free(a);
	free(b);
}

START_TEST(test_merge_master_with_subs)
{
	struct merge_env m;
	struct meta_ms_merge_opts mo = {.batch = 2};
	uint64_t before, n;
	meta_ms_id *ids, id;
	uint8_t w[CHUNK];
	merge_master_setup(&m, 16 * MIB);
	verify(&m.e, &m.md, 0, 0);
	ck_assert_int_eq(meta_ms_delete(m.e.ms, ID(0)), META_E_BUSY);
	before = data_sectors(m.e.ms);
	mo.dry_run = true;
	ck_assert_int_eq(meta_ms_merge(m.e.ms, m.e.origin, ID(0), &mo), 0);
	ck_assert_uint_eq(mo.chunks, 5);
	ck_assert_uint_eq(mo.copies, 4);
	mo.dry_run = false;
	ck_assert_int_eq(meta_ms_merge(m.e.ms, m.e.origin, ID(0), &mo), 0);
	ck_assert_uint_eq(mo.chunks, 5);
	ck_assert_uint_eq(mo.copies, 4);
	/* 4 copies; 0's own chunk 6 freed; its chunks 1, 3 stay with 0.0 and 0.1, 2 with
	 * 0.0, 5 with 0.0, 0.1 and 1 */
	ck_assert_uint_eq(data_sectors(m.e.ms), before + 4 * CS - 1 * CS);
	model_merged(&m, ID(0));
	verify(&m.e, &m.md, 0, 1);
	ck_assert_int_eq(meta_ms_snapshots(m.e.ms, &ids, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(ids[0], SUB(0, 0));
	ck_assert_uint_eq(ids[1], SUB(0, 1));
	ck_assert_uint_eq(ids[2], ID(1));
	free(ids);
	/* the gone master gets no new subs; its orphans are written, merged, deleted */
	ck_assert_int_eq(meta_ms_create_subsnap(m.e.ms, ID(0), &id), META_E_NOTFOUND);
	roundtrip(&m.e);
	memset(w, 0x11, sizeof(w));
	ck_assert_int_eq(meta_ms_write_origin(m.e.ms, m.e.origin, 0, CHUNK, w), 0);
	memcpy(m.md.origin, w, CHUNK);
	ck_assert_int_eq(meta_ms_write_snapshot(m.e.ms, m.e.origin, SUB(0, 0), 7 * CHUNK, 5, w), 0);
	memcpy(find_view(&m.md, SUB(0, 0))->data + 7 * CHUNK, w, 5);
	verify(&m.e, &m.md, 0, 2);
	ck_assert_int_eq(meta_ms_merge(m.e.ms, m.e.origin, SUB(0, 1), NULL), 0);
	model_merged(&m, SUB(0, 1));
	verify(&m.e, &m.md, 0, 3);
	ck_assert_int_eq(meta_ms_delete(m.e.ms, SUB(0, 0)), 0);
	drop_view(&m.md, SUB(0, 0));
	verify(&m.e, &m.md, 0, 4);
	ck_assert_int_eq(meta_ms_delete(m.e.ms, ID(1)), 0);
	drop_view(&m.md, ID(1));
	verify(&m.e, &m.md, 0, 5);
	ck_assert_uint_eq(data_sectors(m.e.ms), 0);
	free_model(&m.md);
	env_done(&m.e);
}
END_TEST

/*
 * The merge of 1 (batches of 2: three commits and a delete) with the Nth write failing,
 * (and of master 0 with its live subs, merge_master_setup),
 * for every N: of the store, then of the origin.  Each time the store reopens clean, the
 * other views read as before, and a second merge finishes it: the origin reads as 1 did.
 */
static void merge_crash(bool fail_origin, void (*setup)(struct merge_env *, uint64_t),
			meta_ms_id id)
{
	struct merge_env m;
	struct model after;
	uint64_t sbytes = 2 * MIB, n, reruns = 0;
	uint8_t *store0 = malloc(sbytes), *origin0, b;
	int r = -1;
	ck_assert_ptr_nonnull(store0);
	setup(&m, sbytes);
	origin0 = malloc(m.e.obytes);
	ck_assert_ptr_nonnull(origin0);
	memcpy(origin0, m.md.origin, m.e.obytes);
	meta_ms_close(m.e.ms);
	m.e.ms = NULL;
	ub_read_at(m.e.spath, 0, store0, sbytes);
	copy_model(&after, &m.md, m.e.obytes);
	memcpy(after.origin, find_view(&after, id)->data, m.e.obytes);
	drop_view(&after, id);
	for (n = 0; r; n++) {
		struct meta_ms_merge_opts mo = {.batch = 2};
		struct meta_io *io, *oio;
		ck_assert_uint_lt(n, 1000);
		ub_write_at(m.e.spath, 0, store0, sbytes);
		ub_write_at(m.e.opath, 0, origin0, m.e.obytes);
		ck_assert_int_eq(meta_io_open(m.e.spath, META_IO_WRITE, &io), 0);
		ck_assert_int_eq(meta_io_open(m.e.opath, META_IO_WRITE, &oio), 0);
		meta_io_fail_writes_after(fail_origin ? oio : io, n);
		ck_assert_int_eq(ms_open_io(io, NULL, true, &m.e.ms), 0);
		r = meta_ms_merge(m.e.ms, oio, id, &mo);
		meta_ms_close(m.e.ms);
		meta_io_close(oio);
		env_open(&m.e);
		ck_assert_msg(meta_ms_check_path(m.e.spath, NULL, NULL) == -1, "n %llu: damage",
			      (unsigned long long)n);
		/* a failure after the delete's commit landed leaves 1 gone: done; else 1 is
		 * still live, every view as before, and the re-run finishes it */
		if (r && meta_ms_read(m.e.ms, m.e.origin, id, 0, 1, &b) == 0) {
			ck_assert_msg(views_equal(&m.e, &m.md), "n %llu: views changed",
				      (unsigned long long)n);
			ck_assert_int_eq(meta_ms_merge(m.e.ms, m.e.origin, id, NULL), 0);
			reruns++;
		}
		verify(&m.e, &after, n, fail_origin);
		meta_ms_close(m.e.ms);
		m.e.ms = NULL;
	}
	ck_assert_uint_gt(reruns, fail_origin ? 2 : 6);
	env_open(&m.e);
	free_model(&m.md);
	free_model(&after);
	free(store0);
	free(origin0);
	env_done(&m.e);
}

START_TEST(test_merge_crash)
{
	merge_crash(false, merge_setup, ID(1));
	merge_crash(true, merge_setup, ID(1));
	/* a master with live subs: they keep their views through every cut */
	merge_crash(false, merge_master_setup, ID(0));
	merge_crash(true, merge_master_setup, ID(0));
}
END_TEST

/* ---- daniel stores ------------------------------------------------------------------ */

/* The number before `word` in the human dump ("... 3 leaves, ..."). */
static uint64_t human_count(struct meta_ms *ms, const char *word)
{
	char *buf = NULL, *p;
	size_t len = 0;
	uint64_t v = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(meta_ms_dump_human(ms, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	p = strstr(buf, word);
	ck_assert_ptr_nonnull(p);
	while (p > buf && p[-1] == ' ')
		p--;
	while (p > buf && p[-1] >= '0' && p[-1] <= '9')
		p--;
	v = strtoull(p, NULL, 10);
	free(buf);
	return v;
}

/*
 * Thousands of exceptions: leaves split (at shuffled origin chunks, so new leaves go
 * between old ones), snapshot writes split shares; every view and the check stay right,
 * also through a fresh handle.  DMMETA_LONG: enough for index nodes to split too.
 */
START_TEST(test_daniel_splits)
{
	struct env e;
	struct model md = {0};
	uint64_t nch = ub_long_run() ? 40000 : 2500, *order = malloc(nch * sizeof(*order));
	meta_ms_id id;
	uint8_t b;
	ck_assert_ptr_nonnull(order);
	ub_rnd_state = 7;
	env_init_type(&e, META_MS_DANIEL, nch, (nch * 3 + 2048) * 16384);
	md.origin = malloc(e.obytes);
	ck_assert_ptr_nonnull(md.origin);
	ub_read_at(e.opath, 0, md.origin, e.obytes);
	for (uint64_t i = 0; i < nch; i++)
		order[i] = i;
	for (uint64_t i = nch - 1; i > 0; i--) {
		uint64_t j = ub_rnd_below(i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned round = 0; round < 3; round++) {
		ck_assert_int_eq(meta_ms_create(e.ms, &id), 0);
		add_view(&md, id, md.origin, e.obytes);
		for (uint64_t i = round; i < nch; i += 1 + round) { /* origin: one byte a chunk */
			uint64_t off = order[i] * e.cb + 100;
			b = (uint8_t)(i + round + 1);
			ck_assert_int_eq(meta_ms_write_origin(e.ms, e.origin, off, 1, &b), 0);
			md.origin[off] = b;
		}
		for (uint64_t i = round; i < nch; i += 3) { /* the first snapshot, shared chunks */
			uint64_t off = order[nch - 1 - i] * e.cb + 7;
			b = (uint8_t)(i * 3 + round);
			ck_assert_int_eq(meta_ms_write_snapshot(e.ms, e.origin, md.v[0].id, off, 1, &b), 0);
			md.v[0].data[off] = b;
		}
	}
	ck_assert_uint_gt(human_count(e.ms, "leaves"), 10);
	if (ub_long_run())
		ck_assert_uint_gt(human_count(e.ms, "index levels"), 1);
	verify(&e, &md, 0, 0);
	meta_ms_close(e.ms);
	env_open(&e);
	verify(&e, &md, 0, 1);
	/* deleting a snapshot keeps the others right */
	ck_assert_int_eq(meta_ms_delete(e.ms, md.v[1].id), 0);
	drop_view(&md, md.v[1].id);
	verify(&e, &md, 0, 2);
	free_model(&md);
	free(order);
	env_done(&e);
}
END_TEST

/* A full daniel store: META_E_NOSPC, and not one byte of the store or the origin changed. */
START_TEST(test_daniel_nospc)
{
	struct env e;
	uint64_t sbytes = 1024 * 1024, c;
	uint8_t *s0 = malloc(sbytes), *s1 = malloc(sbytes), w = 0x33;
	meta_ms_id id, id2;
	int r = 0;
	ck_assert_ptr_nonnull(s0);
	ck_assert_ptr_nonnull(s1);
	env_init_type(&e, META_MS_DANIEL, 64, sbytes);
	ck_assert_int_eq(meta_ms_create(e.ms, &id), 0);
	for (c = 0; c < 64; c++)
		if ((r = meta_ms_write_origin(e.ms, e.origin, c * e.cb, 1, &w)))
			break;
	ck_assert_int_eq(r, META_E_NOSPC);
	ck_assert_uint_gt(c, 10);
	ck_assert_int_eq(meta_ms_create(e.ms, &id2), 0); /* shares nothing yet */
	ub_read_at(e.spath, 0, s0, sbytes);
	ck_assert_int_eq(meta_ms_write_origin(e.ms, e.origin, c * e.cb, 2 * e.cb, &w), META_E_NOSPC);
	ck_assert_int_eq(meta_ms_write_snapshot(e.ms, e.origin, id, c * e.cb, 1, &w), META_E_NOSPC);
	/* chunk 0 is shared by nobody yet: id2 reads the origin there, a copy is needed */
	ck_assert_int_eq(meta_ms_write_snapshot(e.ms, e.origin, id2, 0, 1, &w), META_E_NOSPC);
	ub_read_at(e.spath, 0, s1, sbytes);
	ck_assert(!memcmp(s0, s1, sbytes));
	/* id holds chunk 0 alone: in place */
	ck_assert_int_eq(meta_ms_write_snapshot(e.ms, e.origin, id, 0, 1, &w), 0);
	ck_assert_int_eq(meta_ms_check_path(e.spath, NULL, NULL), -1);
	/* deleting the snapshot frees its chunks: the write goes through */
	ck_assert_int_eq(meta_ms_delete(e.ms, id), 0);
	ck_assert_int_eq(meta_ms_write_origin(e.ms, e.origin, c * e.cb, 1, &w), 0);
	ck_assert_int_eq(meta_ms_check_path(e.spath, NULL, NULL), -1);
	free(s0);
	free(s1);
	env_done(&e);
}
END_TEST

/*
 * The daniel crash matrix: the store's Nth write fails, for every N, during an origin write
 * and a snapshot write of three chunks that make a leaf split.  The store has no journal:
 * either the check finds fatal damage, or every other view reads as before, the written
 * view reads each chunk all old or all new (an origin write: as before), and the origin is
 * unchanged unless the call succeeded.
 */
static void daniel_crash(int op)
{
	struct env e;
	struct model before = {0}, after;
	uint64_t sbytes = 8 * MIB, nch = 400, off, len, n, damaged = 0;
	uint8_t *store0 = malloc(sbytes), *origin0, *w;
	meta_ms_id id;
	int r = -1;
	ck_assert_ptr_nonnull(store0);
	env_init_type(&e, META_MS_DANIEL, nch, sbytes);
	before.origin = malloc(e.obytes);
	origin0 = malloc(e.obytes);
	w = malloc(3 * e.cb);
	ck_assert_ptr_nonnull(before.origin);
	ck_assert_ptr_nonnull(origin0);
	ck_assert_ptr_nonnull(w);
	ub_read_at(e.opath, 0, origin0, e.obytes);
	memcpy(before.origin, origin0, e.obytes);
	/* two snapshots sharing one exception for each of 168 chunks: the one leaf is nearly full */
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(meta_ms_create(e.ms, &id), 0);
		add_view(&before, id, origin0, e.obytes);
	}
	for (uint64_t c = 0; c < 168; c++) {
		uint8_t b = (uint8_t)c;
		ck_assert_int_eq(meta_ms_write_origin(e.ms, e.origin, c * e.cb, 1, &b), 0);
		before.origin[c * e.cb] = b;
	}
	memcpy(origin0, before.origin, e.obytes);
	ck_assert_uint_eq(human_count(e.ms, "leaves"), 1);
	meta_ms_close(e.ms);
	e.ms = NULL;
	ub_read_at(e.spath, 0, store0, sbytes);
	copy_model(&after, &before, e.obytes);
	memset(w, 0x3c, 3 * e.cb);
	off = (op ? 100 : 300) * e.cb + 100; /* a snapshot write splits shared chunks */
	len = 2 * e.cb + 50;
	if (op)
		memcpy(after.v[0].data + off, w, len);
	else
		memcpy(after.origin + off, w, len);
	for (n = 0; r; n++) {
		struct meta_io *io;
		uint8_t *obuf = malloc(e.obytes), *vbuf = malloc(e.obytes);
		struct seen sn = {0};
		int sev;
		ck_assert_ptr_nonnull(obuf);
		ck_assert_ptr_nonnull(vbuf);
		ck_assert_uint_lt(n, 1000);
		ub_write_at(e.spath, 0, store0, sbytes);
		ub_write_at(e.opath, 0, origin0, e.obytes);
		ck_assert_int_eq(meta_io_open(e.spath, META_IO_WRITE, &io), 0);
		meta_io_fail_writes_after(io, n);
		ck_assert_int_eq(ms_open_io(io, NULL, true, &e.ms), 0);
		r = op ? meta_ms_write_snapshot(e.ms, e.origin, before.v[0].id, off, len, w)
		       : meta_ms_write_origin(e.ms, e.origin, off, len, w);
		meta_ms_close(e.ms);
		e.ms = NULL;
		ub_read_at(e.opath, 0, obuf, e.obytes);
		ck_assert_msg(!memcmp(obuf, r ? origin0 : after.origin, e.obytes),
			      "op %d n %llu: origin", op, (unsigned long long)n);
		sev = meta_ms_check_path(e.spath, on_damage, &sn);
		if (sev >= META_SEV_FATAL) {
			ck_assert(r);
			damaged++;
		} else {
			env_open(&e);
			for (unsigned i = 0; i < before.n; i++) {
				const uint8_t *o = before.v[i].data, *nw = after.v[i].data;
				ck_assert_int_eq(meta_ms_read(e.ms, e.origin, before.v[i].id, 0, e.obytes, vbuf), 0);
				for (uint64_t c = 0; c < nch; c++) {
					uint64_t at = c * e.cb;
					ck_assert_msg(!memcmp(vbuf + at, o + at, e.cb) ||
						      !memcmp(vbuf + at, nw + at, e.cb),
						      "op %d n %llu: view %u chunk %llu neither old nor new "
						      "(check: %s)", op, (unsigned long long)n, i,
						      (unsigned long long)c, sn.n ? sn.first : "clean");
				}
			}
			meta_ms_close(e.ms);
			e.ms = NULL;
		}
		free(obuf);
		free(vbuf);
	}
	ck_assert_uint_gt(n, 4);
	if (op) /* the split's writes: some crash points leave damage the check reports */
		ck_assert_uint_gt(damaged, 0);
	env_open(&e);
	ck_assert_int_eq(meta_ms_check_path(e.spath, NULL, NULL), -1);
	ck_assert_uint_gt(human_count(e.ms, "leaves"), 1);
	free_model(&before);
	free_model(&after);
	free(store0);
	free(origin0);
	free(w);
	env_done(&e);
}

/*
 * A daniel merge (no journal: a sequence of origin writes, then the delete) of snapshot 1
 * (its own 40 chunks and a copy of 20 more shared with 0 and 2) in batches of 8, with the
 * Nth store write failing, for every N.  Unless the check finds the damage a daniel store
 * may take from a cut node split (multisnap-store(5)), 0 and 2 read as before, 1 (if still
 * live) too, and the merge run again ends with the origin as 1 read and 0, 2 unchanged.
 */
START_TEST(test_daniel_merge_crash)
{
	struct env e;
	struct model before = {0}, after;
	uint64_t sbytes = 8 * MIB, nch = 96, n, damaged = 0, resumed = 0;
	uint8_t *store0 = malloc(sbytes), *origin0, *w;
	meta_ms_id id;
	int r = -1;
	ck_assert_ptr_nonnull(store0);
	env_init_type(&e, META_MS_DANIEL, nch, sbytes);
	before.origin = malloc(e.obytes);
	origin0 = malloc(e.obytes);
	w = malloc(40 * e.cb);
	ck_assert_ptr_nonnull(before.origin);
	ck_assert_ptr_nonnull(origin0);
	ck_assert_ptr_nonnull(w);
	ub_read_at(e.opath, 0, before.origin, e.obytes);
	for (int k = 0; k < 3; k++) {
		ck_assert_int_eq(meta_ms_create(e.ms, &id), 0);
		add_view(&before, id, before.origin, e.obytes);
	}
	fill(w, 40 * e.cb);
	ck_assert_int_eq(meta_ms_write_snapshot(e.ms, e.origin, 1, 10 * e.cb, 40 * e.cb, w), 0);
	memcpy(find_view(&before, 1)->data + 10 * e.cb, w, 40 * e.cb);
	fill(w, 20 * e.cb);
	ck_assert_int_eq(meta_ms_write_origin(e.ms, e.origin, 60 * e.cb, 20 * e.cb, w), 0);
	memcpy(before.origin + 60 * e.cb, w, 20 * e.cb);
	memcpy(origin0, before.origin, e.obytes);
	meta_ms_close(e.ms);
	e.ms = NULL;
	ub_read_at(e.spath, 0, store0, sbytes);
	copy_model(&after, &before, e.obytes);
	memcpy(after.origin, find_view(&after, 1)->data, e.obytes);
	drop_view(&after, 1);
	for (n = 0; r; n++) {
		struct meta_ms_merge_opts mo = {.batch = 8};
		struct meta_io *io;
		struct seen sn = {0};
		uint8_t b;
		ck_assert_uint_lt(n, 2000);
		ub_write_at(e.spath, 0, store0, sbytes);
		ub_write_at(e.opath, 0, origin0, e.obytes);
		ck_assert_int_eq(meta_io_open(e.spath, META_IO_WRITE, &io), 0);
		meta_io_fail_writes_after(io, n);
		ck_assert_int_eq(ms_open_io(io, NULL, true, &e.ms), 0);
		r = meta_ms_merge(e.ms, e.origin, 1, &mo);
		meta_ms_close(e.ms);
		e.ms = NULL;
		if (meta_ms_check_path(e.spath, on_damage, &sn) >= META_SEV_FATAL) {
			ck_assert(r);
			damaged++;
			continue;
		}
		env_open(&e);
		if (r && meta_ms_read(e.ms, e.origin, 1, 0, 1, &b) == 0) {
			ck_assert_msg(views_equal(&e, &before), "n %llu: views changed (check: %s)",
				      (unsigned long long)n, sn.n ? sn.first : "clean");
			ck_assert_int_eq(meta_ms_merge(e.ms, e.origin, 1, NULL), 0);
			resumed++;
		}
		verify(&e, &after, n, 0);
		meta_ms_close(e.ms);
		e.ms = NULL;
	}
	ck_assert_uint_gt(resumed, 5);
	ck_assert_uint_lt(damaged, n / 2);
	env_open(&e);
	free_model(&before);
	free_model(&after);
	free(store0);
	free(origin0);
	free(w);
	env_done(&e);
}
END_TEST

START_TEST(test_daniel_crash_matrix)
{
	daniel_crash(0);
	daniel_crash(1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ms_engine");
	TCase *tc = ub_tcase(s, "engine", 600);
	tcase_add_test(tc, test_sub_made_later);
	tcase_add_test(tc, test_one_copy_1_and_1000);
	tcase_add_test(tc, test_nospc);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_crash_matrix);
	tcase_add_test(tc, test_merge);
	tcase_add_test(tc, test_merge_master_with_subs);
	tcase_add_test(tc, test_merge_crash);
	tcase_add_test(tc, test_random_model);
	tcase_add_test(tc, test_random_model_daniel);
	tcase_add_test(tc, test_daniel_splits);
	tcase_add_test(tc, test_daniel_nospc);
	tcase_add_test(tc, test_daniel_crash_matrix);
	tcase_add_test(tc, test_daniel_merge_crash);
	return ub_run(s);
}

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of thin_merge (include/libmeta/thin_merge.h).
 *
 * Rollback: seeded random pools (devices sharing data blocks, restored from generated XML)
 * and seeded random sequences of create_thin, create_snap, delete and rollback (with and
 * without keep_snap, and refused ones), each committed, against a plain model of every
 * device's mappings and details: after each step every device maps exactly what the model
 * says, the details are the model's, our full check finds nothing (no leak: the blocks only
 * the old origin held are freed, and the free count is the model's), and at the end of each
 * seed tpt 1.1's thin_check accepts the pool (when /var/tmp/tpt-ref holds it).
 *
 * Merge into an external origin: a random pool's device merged into a random image gives the
 * volume's view computed here; every write of the merge failed in turn (meta_io fault
 * injection) leaves an image that a second, clean run completes to the exact bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/thin.h>
#include <libmeta/thin_check.h>
#include <libmeta/thin_merge.h>
#include <libmeta/thin_pool.h>
#include <libmeta/thin_restore.h>
#include <libmeta/thin_xml_read.h>

#include "unit_base.h"

#define MAXDEV 24
#define NV 600      /* virtual blocks per device at most */
#define ND 1024     /* data blocks */
#define BS 65536u   /* 128 sectors */
#define NONE UINT64_MAX

struct model {
	bool live[MAXDEV];
	uint64_t map[MAXDEV][NV];
	struct meta_thin_details d[MAXDEV];
	uint32_t time;
	uint64_t trans_id;
};

static char path[UB_PATH_MAX];

static void on_damage(void *ctx, const struct meta_damage *d)
{
	(void)ctx;
	fprintf(stderr, "damage: %s %s block %llu\n", meta_damage_name(d->kind),
		d->detail ? d->detail : "", (unsigned long long)d->block);
}

static uint64_t mapped(const struct model *m, unsigned dev)
{
	uint64_t n = 0;
	for (unsigned v = 0; v < NV; v++)
		n += m->map[dev][v] != NONE;
	return n;
}

/* A random pool: 3 to 8 devices, each mapping random blocks from a shared set or its own. */
static void random_pool(struct model *m)
{
	char err[256];
	FILE *f = tmpfile();
	struct meta_thin_restore_opts ro = {0};
	struct meta_thin_restorer *r;
	struct meta_thin_emitter e;
	uint64_t next = 64; /* data blocks 0..63: the shared set */
	unsigned ndev = 3 + (unsigned)ub_rnd_below(6);

	ck_assert_ptr_nonnull(f);
	memset(m, 0, sizeof(*m));
	for (unsigned i = 0; i < MAXDEV; i++)
		for (unsigned v = 0; v < NV; v++)
			m->map[i][v] = NONE;
	m->time = 2 + (uint32_t)ub_rnd_below(4);
	m->trans_id = 1 + ub_rnd_below(9);
	fprintf(f, "<superblock uuid=\"\" time=\"%u\" transaction=\"%llu\" flags=\"0\" version=\"2\" "
		   "data_block_size=\"128\" nr_data_blocks=\"%u\">\n",
		m->time, (unsigned long long)m->trans_id, ND);
	for (unsigned i = 0; i < ndev; i++) {
		unsigned dev = (unsigned)ub_rnd_below(MAXDEV);
		unsigned nv = 1 + (unsigned)ub_rnd_below(NV);
		uint32_t ct = (uint32_t)ub_rnd_below(m->time + 1);
		if (m->live[dev])
			continue;
		m->live[dev] = true;
		for (unsigned v = 0; v < nv && next < ND; v++) {
			uint64_t k = ub_rnd_below(8);
			if (k < 3)
				continue;
			m->map[dev][v] = k < 5 ? ub_rnd_below(64) : next++;
		}
		m->d[dev].dev_id = dev;
		m->d[dev].mapped_blocks = mapped(m, dev);
		m->d[dev].transaction_id = ub_rnd_below(m->trans_id + 1);
		m->d[dev].creation_time = ct;
		m->d[dev].snapshotted_time = ct + (uint32_t)ub_rnd_below(m->time - ct + 1);
	}
	for (unsigned dev = 0; dev < MAXDEV; dev++) {
		if (!m->live[dev])
			continue;
		fprintf(f, "<device dev_id=\"%u\" mapped_blocks=\"%llu\" transaction=\"%llu\" "
			   "creation_time=\"%u\" snap_time=\"%u\">\n",
			dev, (unsigned long long)m->d[dev].mapped_blocks,
			(unsigned long long)m->d[dev].transaction_id, m->d[dev].creation_time,
			m->d[dev].snapshotted_time);
		for (unsigned v = 0; v < NV; v++)
			if (m->map[dev][v] != NONE)
				fprintf(f, "<single_mapping origin_block=\"%u\" data_block=\"%llu\" "
					   "time=\"%llu\"/>\n",
					v, (unsigned long long)m->map[dev][v],
					(unsigned long long)ub_rnd_below(m->time + 1));
		fprintf(f, "</device>\n");
	}
	fprintf(f, "</superblock>\n");
	rewind(f);
	ub_tmpfile(path, "thin_merge", 4u << 20);
	ck_assert_int_eq(meta_thin_restorer_create(path, &ro, &r), 0);
	e = meta_thin_restorer_emitter(r);
	ck_assert_int_eq(meta_thin_xml_parse(f, &e, meta_thin_restorer_message, err, sizeof(err)), 0);
	ck_assert_int_eq(meta_thin_restorer_commit(r), 0);
	meta_thin_restorer_destroy(r);
	fclose(f);
}

struct walk {
	const uint64_t *want;
	uint64_t n;
};

static int on_maps(void *ctx, const struct meta_thin_mapping *mp, uint32_t n)
{
	struct walk *w = ctx;
	for (uint32_t i = 0; i < n; i++) {
		ck_assert_uint_lt(mp[i].vblock, NV);
		ck_assert_uint_eq(w->want[mp[i].vblock], mp[i].data_block);
		w->n++;
	}
	return 0;
}

/* The committed pool checks clean; every device maps the model's blocks; details are the model's. */
static void verify(const struct model *m)
{
	struct meta_thin *t;
	struct meta_thin_open_opts oo = {0};
	struct meta_thin_check_opts co = {.damage = on_damage};
	struct meta_thin_check_result cr;
	struct meta_thin_details *d = NULL;
	uint64_t n = 0, k = 0, used = 0;
	bool seen[ND] = {false};

	ck_assert_int_eq(meta_thin_open(path, &oo, &t), 0);
	ck_assert_int_eq(meta_thin_check(t, &co, &cr), 0);
	ck_assert_int_eq(cr.worst, -1);
	ck_assert_int_eq(meta_thin_read_details(t, &d, &n, NULL, NULL), 0);
	for (unsigned dev = 0; dev < MAXDEV; dev++) {
		struct walk w = {m->map[dev], 0};
		uint64_t root;
		if (!m->live[dev]) {
			ck_assert_int_eq(meta_thin_dev_root(t, dev, &root), META_E_NOTFOUND);
			continue;
		}
		ck_assert_uint_lt(k, n);
		ck_assert_uint_eq(d[k].dev_id, dev);
		ck_assert_uint_eq(d[k].mapped_blocks, m->d[dev].mapped_blocks);
		ck_assert_uint_eq(d[k].mapped_blocks, mapped(m, dev));
		ck_assert_uint_eq(d[k].transaction_id, m->d[dev].transaction_id);
		ck_assert_uint_eq(d[k].creation_time, m->d[dev].creation_time);
		ck_assert_uint_eq(d[k].snapshotted_time, m->d[dev].snapshotted_time);
		k++;
		ck_assert_int_eq(meta_thin_dev_root(t, dev, &root), 0);
		ck_assert_int_eq(meta_thin_walk_mappings(t, root, on_maps, NULL, &w), 0);
		ck_assert_uint_eq(w.n, mapped(m, dev));
		for (unsigned v = 0; v < NV; v++)
			if (m->map[dev][v] != NONE && !seen[m->map[dev][v]]) {
				seen[m->map[dev][v]] = true;
				used++;
			}
	}
	ck_assert_uint_eq(k, n);
	ck_assert_uint_eq(meta_thin_live_sb(t)->time, m->time);
	free(d);
	meta_thin_close(t);
	{
		struct meta_thin_pool_info in;
		struct meta_thin_pool_opts po = {META_THIN_POOL_KEEP_SIZE, 0, 0, 0};
		struct meta_thin_pool *p;
		ck_assert_int_eq(meta_thin_pool_open(path, &po, &p, NULL), 0);
		meta_thin_pool_info(p, &in);
		ck_assert_uint_eq(in.nr_free_data_blocks, ND - used);
		meta_thin_pool_close(p);
	}
}

static int tpt_check(void)
{
	const char *tpt = "/var/tmp/tpt-ref/1.1/usr/sbin/pdata_tools";
	char cmd[UB_PATH_MAX + 128];
	static bool said;
	if (access(tpt, X_OK)) {
		if (!said)
			fprintf(stderr, "check_thin_merge: tpt 1.1 not found (%s): checked by our "
					"thin_check only\n", tpt);
		said = true;
		return 0;
	}
	snprintf(cmd, sizeof(cmd), "%s thin_check -q %s", tpt, path);
	return system(cmd);
}

static unsigned pick_live(const struct model *m)
{
	for (;;) {
		unsigned d = (unsigned)ub_rnd_below(MAXDEV);
		if (m->live[d])
			return d;
	}
}

static unsigned nr_live(const struct model *m)
{
	unsigned n = 0;
	for (unsigned d = 0; d < MAXDEV; d++)
		n += m->live[d];
	return n;
}

/* The model's side of create_snap (the kernel's: time + 1, both snapshotted then). */
static void m_snap(struct model *m, unsigned dev, unsigned origin)
{
	m->time++;
	m->live[dev] = true;
	memcpy(m->map[dev], m->map[origin], sizeof(m->map[dev]));
	m->d[dev] = m->d[origin];
	m->d[dev].dev_id = dev;
	m->d[dev].transaction_id = m->trans_id;
	m->d[dev].creation_time = m->d[dev].snapshotted_time = m->time;
	m->d[origin].snapshotted_time = m->time;
}

static void m_delete(struct model *m, unsigned dev)
{
	m->live[dev] = false;
	for (unsigned v = 0; v < NV; v++)
		m->map[dev][v] = NONE;
}

static void run_seed(uint64_t seed, unsigned steps)
{
	struct model m;
	ub_rnd_state = seed;
	random_pool(&m);
	verify(&m);
	for (unsigned s = 0; s < steps; s++) {
		struct meta_thin_pool_opts po = {0};
		struct meta_thin_pool *p;
		uint64_t k = ub_rnd_below(10), missing = NONE;
		unsigned a = pick_live(&m), b = (unsigned)ub_rnd_below(MAXDEV);
		int r;
		ck_assert_int_eq(meta_thin_pool_open(path, &po, &p, NULL), 0);
		if (k < 5) { /* rollback a into b: b must exist and differ */
			bool keep = ub_rnd_below(3) == 0;
			r = meta_thin_rollback(p, a, b, keep, &missing);
			if (a == b) {
				ck_assert_int_eq(r, META_E_INVAL);
			} else if (!m.live[b]) {
				ck_assert_int_eq(r, META_E_NOTFOUND);
				ck_assert_uint_eq(missing, b);
			} else {
				ck_assert_int_eq(r, 0);
				m_delete(&m, b);
				if (keep) {
					m_snap(&m, b, a);
				} else {
					m.live[b] = true;
					memcpy(m.map[b], m.map[a], sizeof(m.map[b]));
					m.d[b] = m.d[a];
					m.d[b].dev_id = b;
					m_delete(&m, a);
				}
			}
		} else if (k < 7) {
			r = meta_thin_pool_create_snap(p, b, a);
			ck_assert_int_eq(r, m.live[b] ? META_E_DEV_EXISTS : 0);
			if (!r)
				m_snap(&m, b, a);
		} else if (k < 8) {
			r = meta_thin_pool_create_thin(p, b);
			ck_assert_int_eq(r, m.live[b] ? META_E_DEV_EXISTS : 0);
			if (!r) {
				m.live[b] = true;
				memset(&m.d[b], 0, sizeof(m.d[b]));
				m.d[b].dev_id = b;
				m.d[b].transaction_id = m.trans_id;
				m.d[b].creation_time = m.d[b].snapshotted_time = m.time;
			}
		} else if (nr_live(&m) > 2) {
			r = meta_thin_pool_delete(p, a);
			ck_assert_int_eq(r, 0);
			m_delete(&m, a);
		} else {
			r = META_E_INVAL;
		}
		if (!r)
			ck_assert_int_eq(meta_thin_pool_commit(p), 0);
		meta_thin_pool_close(p);
		verify(&m);
	}
	ck_assert_int_eq(tpt_check(), 0);
	unlink(path);
}

START_TEST(test_rollback_random)
{
	/* under ASan in the CI suite 6 seeds (24 take over a minute there) */
	unsigned seeds = ub_long_run() ? 200 : ub_ci(24, 24, 6);
	for (unsigned i = 0; i < seeds; i++)
		run_seed(0x9e3779b97f4a7c15ull * (i + 1), 12);
}
END_TEST

START_TEST(test_rollback_refusals)
{
	struct model m;
	struct meta_thin_pool_opts po = {0};
	struct meta_thin_pool *p;
	uint64_t missing = NONE;
	unsigned a;
	ub_rnd_state = 77;
	random_pool(&m);
	a = pick_live(&m);
	ck_assert_int_eq(meta_thin_pool_open(path, &po, &p, NULL), 0);
	ck_assert_int_eq(meta_thin_rollback(p, a, a, false, NULL), META_E_INVAL);
	ck_assert_int_eq(meta_thin_rollback(p, a, 1u << 24, false, NULL), META_E_RANGE);
	ck_assert_int_eq(meta_thin_rollback(p, 1u << 24, a, false, NULL), META_E_RANGE);
	ck_assert_int_eq(meta_thin_rollback(p, MAXDEV + 1, a, false, &missing), META_E_NOTFOUND);
	ck_assert_uint_eq(missing, MAXDEV + 1);
	ck_assert_int_eq(meta_thin_rollback(p, a, MAXDEV + 2, true, &missing), META_E_NOTFOUND);
	ck_assert_uint_eq(missing, MAXDEV + 2);
	meta_thin_pool_close(p);
	verify(&m);
	unlink(path);
}
END_TEST

/* ---- merge into an external origin ----------------------------------------------- */

static void fill_random(const char *p, uint64_t bytes)
{
	uint8_t *b = malloc(bytes);
	ck_assert_ptr_nonnull(b);
	for (uint64_t i = 0; i < bytes; i += 8) {
		uint64_t x = ub_rnd();
		memcpy(b + i, &x, bytes - i < 8 ? bytes - i : 8);
	}
	ub_write_at(p, 0, b, bytes);
	free(b);
}

/* The view of dev with image as its origin, isz bytes. */
static uint8_t *view(const struct model *m, unsigned dev, const char *data, const char *image,
		     uint64_t isz)
{
	uint8_t *v = malloc(isz);
	ck_assert_ptr_nonnull(v);
	ub_read_at(image, 0, v, isz);
	for (uint64_t b = 0; b < NV && b * BS < isz; b++) {
		uint64_t n = isz - b * BS < BS ? isz - b * BS : BS;
		if (m->map[dev][b] != NONE)
			ub_read_at(data, m->map[dev][b] * BS, v + b * BS, n);
	}
	return v;
}

static int merge(const char *data, const char *image, unsigned dev, uint64_t fail_after,
		 struct meta_thin_merge_stats *st)
{
	struct meta_thin *t;
	struct meta_thin_open_opts oo = {0};
	struct meta_io *d, *i;
	int r;
	ck_assert_int_eq(meta_thin_open(path, &oo, &t), 0);
	ck_assert_int_eq(meta_io_open(data, 0, &d), 0);
	ck_assert_int_eq(meta_io_open(image, META_IO_WRITE, &i), 0);
	if (fail_after != NONE)
		meta_io_fail_writes_after(i, fail_after);
	r = meta_thin_merge_external(t, d, dev, i, 0, st);
	meta_io_close(i);
	meta_io_close(d);
	meta_thin_close(t);
	return r;
}

START_TEST(test_merge_external)
{
	char data[UB_PATH_MAX], image[UB_PATH_MAX], first[UB_PATH_MAX];
	unsigned seeds = ub_long_run() ? 40 : 6;
	for (unsigned s = 0; s < seeds; s++) {
		struct model m;
		struct meta_thin_merge_stats st;
		unsigned dev;
		uint64_t last = 0, isz;
		uint8_t *want, *got;
		ub_rnd_state = 1000 + s;
		random_pool(&m);
		dev = pick_live(&m);
		for (unsigned v = 0; v < NV; v++)
			if (m.map[dev][v] != NONE)
				last = v + 1;
		ub_tmpfile(data, "thin_merge_data", (uint64_t)ND * BS);
		fill_random(data, (uint64_t)ND * BS);
		/* the image: at least the mapped range, its last block partial half of the time */
		isz = (last + ub_rnd_below(3)) * BS - (ub_rnd_below(2) ? 0 : ub_rnd_below(BS));
		if (isz < (last ? (last - 1) * BS + 1 : 1))
			isz = last * BS;
		ub_tmpfile(first, "thin_merge_img0", isz);
		fill_random(first, isz);
		want = view(&m, dev, data, first, isz);
		got = malloc(isz);
		ck_assert_ptr_nonnull(got);
		/* uninterrupted */
		ub_tmpfile(image, "thin_merge_img", isz);
		ub_write_at(image, 0, (ub_read_at(first, 0, got, isz), got), isz);
		ck_assert_int_eq(merge(data, image, dev, NONE, &st), 0);
		ck_assert_uint_eq(st.nr_mapped, mapped(&m, dev));
		ub_read_at(image, 0, got, isz);
		ck_assert_int_eq(memcmp(want, got, isz), 0);
		/* too small: refused untouched */
		if (last) {
			ub_write_at(image, 0, (ub_read_at(first, 0, got, isz), got), isz);
			ck_assert_int_eq(truncate(image, (last - 1) * BS), 0);
			ck_assert_int_eq(merge(data, image, dev, NONE, &st), META_E_VOL_END);
			ck_assert_uint_eq(st.end, last * BS); /* the volume is the image's size now */
			ub_read_at(image, 0, got, (last - 1) * BS);
			{
				uint8_t *orig = malloc(isz);
				ub_read_at(first, 0, orig, isz);
				ck_assert_int_eq(memcmp(got, orig, (last - 1) * BS), 0);
				free(orig);
			}
		}
		/* every write failed in turn, then a clean run: the exact bytes */
		for (uint64_t n = 0; n < st.nr_copied + 2; n++) {
			int r;
			ub_tmpfile(image, "thin_merge_img", isz);
			ub_read_at(first, 0, got, isz);
			ub_write_at(image, 0, got, isz);
			r = merge(data, image, dev, n, NULL);
			ck_assert(r == META_E_IO || r == 0);
			ck_assert_int_eq(merge(data, image, dev, NONE, NULL), 0);
			ub_read_at(image, 0, got, isz);
			ck_assert_int_eq(memcmp(want, got, isz), 0);
			unlink(image);
			if (!r)
				break;
		}
		free(want);
		free(got);
		unlink(first);
		unlink(data);
		unlink(path);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("thin_merge");
	tcase_add_test(ub_tcase(s, "rollback", 60), test_rollback_random);
	tcase_add_test(ub_tcase(s, "rollback", 60), test_rollback_refusals);
	tcase_add_test(ub_tcase(s, "merge", 60), test_merge_external);
	return ub_run(s);
}

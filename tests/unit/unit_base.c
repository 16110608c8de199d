/* SPDX-License-Identifier: GPL-2.0-only */
/* The shared base of the unit tests: see unit_base.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/io.h>

#include "unit_base.h"

/* ---- suite runner ------------------------------------------------------------ */

TCase *ub_tcase(Suite *s, const char *name, double timeout_s)
{
	TCase *tc = tcase_create(name);
	if (timeout_s > 0)
		tcase_set_timeout(tc, timeout_s);
	suite_add_tcase(s, tc);
	return tc;
}

int ub_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

/* ---- temp files ---------------------------------------------------------------- */

static void tmpname(char *path, const char *tag)
{
	const char *dir = getenv("TMPDIR");
	snprintf(path, UB_PATH_MAX, "%s/dmmeta-%s-XXXXXX", dir && *dir ? dir : "/tmp", tag);
}

void ub_tmpfile(char *path, const char *tag, uint64_t bytes)
{
	int fd;
	tmpname(path, tag);
	fd = mkstemp(path);
	ck_assert_msg(fd >= 0, "cannot create %s", path);
	ck_assert_int_eq(ftruncate(fd, (off_t)bytes), 0);
	close(fd);
}

int ub_tmpdir(char *path, const char *tag)
{
	tmpname(path, tag);
	if (mkdtemp(path))
		return 0;
	perror(path);
	return -1;
}

/* ---- fixtures ------------------------------------------------------------------ */

const char *ub_fixture(const char *rel)
{
	static const char *const dirs[] = {".", "..", "../..", "../../.."};
	static char buf[4][UB_PATH_MAX];
	static unsigned next;
	char *p = buf[next++ % 4];
	const char *src = getenv("SRCDIR");
	if (src && *src) {
		snprintf(p, UB_PATH_MAX, "%s/fixtures/%s", src, rel);
		return p;
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(p, UB_PATH_MAX, "%s/fixtures/%s", dirs[i], rel);
		if (access(p, R_OK) == 0)
			return p;
	}
	snprintf(p, UB_PATH_MAX, "./fixtures/%s", rel);
	return p;
}

void ub_fixture_gunzip(const char *rel_gz, char *path, const char *tag)
{
	uint8_t buf[65536];
	const char *src = ub_fixture(rel_gz);
	gzFile g = gzopen(src, "rb");
	FILE *f;
	int n;
	ck_assert_msg(g != NULL, "fixture %s not found (set SRCDIR)", src);
	ub_tmpfile(path, tag, 0);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	while ((n = gzread(g, buf, sizeof(buf))) > 0)
		ck_assert_uint_eq(fwrite(buf, 1, (size_t)n, f), (size_t)n);
	ck_assert_int_eq(n, 0);
	gzclose(g);
	ck_assert_int_eq(fclose(f), 0);
}

/* ---- raw bytes ------------------------------------------------------------------ */

void ub_read_at(const char *path, uint64_t off, void *buf, size_t len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseeko(f, (off_t)off, SEEK_SET), 0);
	ck_assert_uint_eq(fread(buf, 1, len, f), len);
	fclose(f);
}

void ub_write_at(const char *path, uint64_t off, const void *buf, size_t len)
{
	FILE *f = fopen(path, "r+b");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseeko(f, (off_t)off, SEEK_SET), 0);
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

void ub_read_block(const char *path, uint64_t b, void *blk)
{
	ub_read_at(path, b * UB_BLOCK_SIZE, blk, UB_BLOCK_SIZE);
}

void ub_write_block(const char *path, uint64_t b, const void *blk)
{
	ub_write_at(path, b * UB_BLOCK_SIZE, blk, UB_BLOCK_SIZE);
}

/* ---- raw btree nodes --------------------------------------------------------------- */

void ub_node(void *blk, uint32_t flags, uint32_t vs, uint32_t max, uint32_t n,
	     const uint64_t *keys, const void *values)
{
	struct disk_node_header *h = blk;
	if (max == UB_MAX)
		max = meta_btree_max_entries(vs);
	ck_assert_uint_le(n, max);
	memset(blk, 0, UB_BLOCK_SIZE);
	h->flags = le32_of(flags);
	h->nr_entries = le32_of(n);
	h->max_entries = le32_of(max);
	h->value_size = le32_of(vs);
	for (uint32_t i = 0; keys && i < n; i++)
		put_le64p(ub_node_key(blk, i), keys[i]);
	if (values && n)
		memcpy(ub_node_value(blk, 0), values, (size_t)n * vs);
}

uint8_t *ub_node_key(void *blk, uint32_t i)
{
	return (uint8_t *)blk + sizeof(struct disk_node_header) + 8 * (size_t)i;
}

uint8_t *ub_node_value(void *blk, uint32_t i)
{
	const struct disk_node_header *h = blk;
	return (uint8_t *)blk + sizeof(struct disk_node_header) + 8 * (size_t)le32_get(h->max_entries) +
	       (size_t)le32_get(h->value_size) * i;
}

uint32_t ub_node_flags(const void *blk)
{
	return le32_get(((const struct disk_node_header *)blk)->flags);
}

uint32_t ub_node_nr(const void *blk)
{
	return le32_get(((const struct disk_node_header *)blk)->nr_entries);
}

void ub_details(void *value, uint64_t mapped, uint64_t trans, uint32_t ctime, uint32_t stime)
{
	struct disk_device_details d;
	d.mapped_blocks = le64_of(mapped);
	d.transaction_id = le64_of(trans);
	d.creation_time = le32_of(ctime);
	d.snapshotted_time = le32_of(stime);
	memcpy(value, &d, sizeof(d));
}

/* ---- raw space-map bitmaps ------------------------------------------------------------ */

/* Entry i is two bits of little-endian word i / 32: the high bit of the count first. */
static uint8_t *bitmap_word(const void *blk, uint32_t i)
{
	return (uint8_t *)blk + sizeof(struct disk_bitmap_header) + 8 * (size_t)(i / 32);
}

unsigned ub_bitmap_get(const void *blk, uint32_t i)
{
	uint64_t w = get_le64p(bitmap_word(blk, i));
	unsigned s = (i % 32) * 2;
	return (unsigned)((w >> s) & 1u) << 1 | (unsigned)((w >> (s + 1)) & 1u);
}

void ub_bitmap_set(void *blk, uint32_t i, unsigned v)
{
	uint8_t *p = bitmap_word(blk, i);
	uint64_t w = get_le64p(p);
	unsigned s = (i % 32) * 2;
	ck_assert_uint_le(v, 3);
	w &= ~(3ull << s);
	w |= (uint64_t)(v >> 1) << s | (uint64_t)(v & 1u) << (s + 1);
	put_le64p(p, w);
}

/* ---- test block types ---------------------------------------------------------- */

int ub_block_check(const struct meta_validator *v, const void *data, uint64_t b)
{
	return meta_block_check(v, data, b, 8);
}

void ub_block_prepare(const struct meta_validator *v, void *data, uint64_t b)
{
	meta_block_prepare(v, data, b, 8);
}

/* ---- the array-backed test space ---------------------------------------------- */

static int ub_space_alloc(void *ctx, uint64_t *b)
{
	struct ub_space *s = ctx;
	for (uint64_t k = 0; k < s->n; k++) {
		uint64_t x = (s->pos + k) % s->n;
		if (!s->cnt[x] && !s->committed[x]) {
			s->cnt[x] = 1;
			s->pos = x + 1;
			*b = x;
			s->allocs++;
			return META_OK;
		}
	}
	return META_E_NOSPC;
}

static int ub_space_inc(void *ctx, uint64_t b)
{
	struct ub_space *s = ctx;
	if (b >= s->n)
		return META_E_RANGE;
	s->cnt[b]++;
	return META_OK;
}

static int ub_space_dec(void *ctx, uint64_t b)
{
	struct ub_space *s = ctx;
	if (b >= s->n)
		return META_E_RANGE;
	if (!s->cnt[b])
		return META_E_CORRUPT;
	s->cnt[b]--;
	return META_OK;
}

static int ub_space_count(void *ctx, uint64_t b, uint32_t *c)
{
	struct ub_space *s = ctx;
	if (b >= s->n)
		return META_E_RANGE;
	*c = s->cnt[b];
	return META_OK;
}

void ub_space_init(struct ub_space *s, uint64_t n)
{
	memset(s, 0, sizeof(*s));
	s->n = n;
	s->cnt = calloc(n, sizeof(uint32_t));
	s->committed = calloc(n, sizeof(uint32_t));
	ck_assert(s->cnt && s->committed);
	s->cnt[0] = s->committed[0] = 1; /* the superblock */
	s->pos = 1;
}

void ub_space_copy(struct ub_space *dst, const struct ub_space *src)
{
	*dst = *src;
	dst->cnt = malloc(src->n * sizeof(uint32_t));
	dst->committed = malloc(src->n * sizeof(uint32_t));
	ck_assert(dst->cnt && dst->committed);
	memcpy(dst->cnt, src->cnt, src->n * sizeof(uint32_t));
	memcpy(dst->committed, src->committed, src->n * sizeof(uint32_t));
}

void ub_space_free(struct ub_space *s)
{
	free(s->cnt);
	free(s->committed);
	s->cnt = s->committed = NULL;
}

struct meta_tm_space ub_space_tm(struct ub_space *s)
{
	struct meta_tm_space sp = {s, ub_space_alloc, ub_space_inc, ub_space_dec, ub_space_count};
	return sp;
}

void ub_space_commit(struct ub_space *s)
{
	memcpy(s->committed, s->cnt, s->n * sizeof(uint32_t));
}

/* ---- a tm over a temp image ------------------------------------------------------- */

void ub_tm_open(struct ub_tm_fx *t, size_t cache)
{
	struct meta_io *io;
	ck_assert_int_eq(meta_io_open(t->path, META_IO_WRITE, &io), 0);
	ck_assert_int_eq(meta_bm_create(io, cache, &t->bm), 0);
	t->space = ub_space_tm(&t->sp);
	ck_assert_int_eq(meta_tm_create(t->bm, &t->space, &t->tm), 0);
}

void ub_tm_close(struct ub_tm_fx *t)
{
	meta_tm_destroy(t->tm);
	meta_bm_destroy(t->bm);
	t->tm = NULL;
	t->bm = NULL;
}

void ub_tm_init(struct ub_tm_fx *t, const char *tag, uint64_t n, size_t cache)
{
	memset(t, 0, sizeof(*t));
	ub_tmpfile(t->path, tag, n * UB_BLOCK_SIZE);
	ub_space_init(&t->sp, n);
	ub_tm_open(t, cache);
}

void ub_tm_done(struct ub_tm_fx *t)
{
	ub_tm_close(t);
	ub_space_free(&t->sp);
	unlink(t->path);
}

/* ---- random ---------------------------------------------------------------------- */

uint64_t ub_rnd_state = 1;

uint64_t ub_rnd(void)
{
	ub_rnd_state ^= ub_rnd_state >> 12;
	ub_rnd_state ^= ub_rnd_state << 25;
	ub_rnd_state ^= ub_rnd_state >> 27;
	return ub_rnd_state * 0x2545f4914f6cdd1dull;
}

uint64_t ub_rnd_below(uint64_t n)
{
	return n ? ub_rnd() % n : 0;
}

/* the environment variable name is set and not 0 */
static int env_on(const char *name)
{
	const char *e = getenv(name);
	return e && *e && *e != '0';
}

int ub_long_run(void)
{
	return env_on("DMMETA_LONG");
}

int ub_full(void)
{
	return env_on("FULL");
}

unsigned ub_ci(unsigned full, unsigned plain, unsigned sanitized)
{
	if (ub_full())
		return full;
	return ub_sanitized() ? sanitized : plain;
}

int ub_sanitized(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return 1;
#else
	return env_on("DMMETA_ASAN");
#endif
}

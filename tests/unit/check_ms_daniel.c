/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The `daniel` shared store (libmeta/multisnap/daniel.c, daniel_ondisk.h) through its ops:
 * format, creates up to the 64-snapshot limit, delete freeing exactly the chunks only that
 * snapshot used, reopen, the check on damaged and crashed stores (a delete cut at every
 * write), XML dump -> restore -> dump.
 */
#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/multisnap.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit_base.h"
#include "multisnap/daniel_ondisk.h"
#include "multisnap/ms_internal.h"

#define DEV_BYTES (32u << 20) /* 8192 units */

struct dmg {
	int n;
	int kinds[META_DMG__COUNT];
	uint64_t block[META_DMG__COUNT];
	int worst;
};

static void on_damage(void *ctx, const struct meta_damage *d)
{
	struct dmg *g = ctx;
	g->n++;
	g->kinds[d->kind]++;
	g->block[d->kind] = d->block;
}

static int check_file(const char *path, struct dmg *g)
{
	struct meta_io *io;
	memset(g, 0, sizeof(*g));
	ck_assert_int_eq(meta_io_open(path, 0, &io), 0);
	g->worst = ms_daniel_ops.check(io, on_damage, g);
	meta_io_close(io);
	return g->worst;
}

static void *open_store(const char *path, bool write, struct meta_io **io)
{
	void *st = NULL;
	ck_assert_int_eq(meta_io_open(path, write ? META_IO_WRITE : 0, io), 0);
	ck_assert_int_eq(ms_daniel_ops.open(*io, write, &st), 0);
	return st;
}

static void close_store(void *st, struct meta_io *io)
{
	ms_daniel_ops.close(st);
	meta_io_close(io);
}

static char *dump(const char *path);

static void format_file(const char *path)
{
	struct meta_io *io;
	struct meta_ms_params p = {.type = META_MS_DANIEL, .chunk_size = 32, .origin_sectors = 1 << 20,
				   .generic = META_MS_SYNC_SNAPSHOTS | META_MS_PRESERVE_ON_ERROR};
	ck_assert_int_eq(meta_io_open(path, META_IO_WRITE, &io), 0);
	ck_assert_int_eq(ms_daniel_ops.format(io, &p), 0);
	meta_io_close(io);
}

/*
 * Snapshots 10, 11, 12 (bits 0, 1, 2) and exceptions: origin chunk c (0..n) has one
 * exception shared by {10, 11} and, for odd c, one for {12} alone; every third c instead
 * has {11} alone and {10, 12}.  Data chunks from unit 1024 upward.
 */
static void write_image(const char *path, uint64_t n, struct msd_image *img)
{
	struct meta_io *io;
	uint64_t k = 0, chunk = 1024;

	memset(img, 0, sizeof(*img));
	img->create_time = 1234;
	img->flags = MSD_SB_PRESERVE_ON_ERROR | 0x10;
	img->orgsectors = 1 << 22;
	img->next_tag = 13;
	img->nr_snaps = 3;
	for (uint32_t i = 0; i < 3; i++) {
		img->snaps[i].tag = 10 + i;
		img->snaps[i].bit = (uint8_t)i;
		img->snaps[i].ctime = 100 + i;
	}
	img->exc = calloc(2 * n, sizeof(*img->exc));
	for (uint64_t c = 0; c < n; c++) {
		uint64_t s1 = c % 3 == 0 ? 0x2 : 0x3, s2 = c % 3 == 0 ? 0x5 : (c & 1) ? 0x4 : 0;
		img->exc[k++] = (struct msd_exc_desc){c * 7, chunk, s1};
		chunk += 4;
		if (s2) {
			img->exc[k++] = (struct msd_exc_desc){c * 7, chunk, s2};
			chunk += 4;
		}
	}
	img->nr_exc = k;
	ck_assert_int_eq(meta_io_open(path, META_IO_WRITE, &io), 0);
	ck_assert_int_eq(msd_write_image(io, img), 0);
	meta_io_close(io);
}

START_TEST(test_format_and_limits)
{
	char path[UB_PATH_MAX];
	struct meta_io *io;
	struct dmg g;
	meta_ms_id id, *ids;
	uint64_t n;
	uint8_t head[8192];
	struct meta_ms_params bad = {.type = META_MS_DANIEL, .chunk_size = 16};

	ub_tmpfile(path, "msd", DEV_BYTES);
	ck_assert_int_eq(meta_io_open(path, META_IO_WRITE, &io), 0);
	ck_assert_int_eq(ms_daniel_ops.format(io, &bad), META_E_INVAL);
	meta_io_close(io);
	format_file(path);
	ub_read_at(path, 0, head, sizeof(head));
	ck_assert(ms_daniel_ops.sniff(head));
	for (int i = 0; i < 4096; i++)
		ck_assert_int_eq(head[i], 0);
	ck_assert_int_eq(check_file(path, &g), -1);
	char *x = dump(path);
	ck_assert_ptr_nonnull(strstr(x, " flags=\"sync-snapshots,preserve-on-error\" "));
	free(x);

	void *st = open_store(path, true, &io);
	ck_assert_uint_eq(ms_daniel_ops.chunk_size(st), 32);
	for (uint64_t i = 0; i < 64; i++) {
		ck_assert_int_eq(ms_daniel_ops.create(st, &id), 0);
		ck_assert_uint_eq(id, i);
	}
	ck_assert_int_eq(ms_daniel_ops.create(st, &id), META_E_RANGE);
	ck_assert_int_eq(ms_daniel_ops.create_subsnap(st, 3, &id), META_E_UNSUPPORTED);
	ck_assert_int_eq(ms_daniel_ops.delete_snap(st, 99), META_E_NOTFOUND);
	ck_assert_int_eq(ms_daniel_ops.delete_snap(st, 63), 0);
	ck_assert_int_eq(ms_daniel_ops.delete_snap(st, 5), 0);
	/* ids are never reused: the next is 64, its bit the lowest free (5) */
	ck_assert_int_eq(ms_daniel_ops.create(st, &id), 0);
	ck_assert_uint_eq(id, 64);
	close_store(st, io);
	ck_assert_int_eq(check_file(path, &g), -1);

	st = open_store(path, false, &io);
	ck_assert_int_eq(ms_daniel_ops.snapshots(st, &ids, &n), 0);
	ck_assert_uint_eq(n, 63);
	for (uint64_t i = 0; i < n; i++)
		ck_assert_uint_eq(ids[i], i < 5 ? i : i < 62 ? i + 1 : 64);
	free(ids);
	struct msd_disksuper sb;
	ub_read_at(path, 4096, &sb, sizeof(sb));
	for (uint32_t i = 0; i < 63; i++)
		if (le32_get(sb.snaplist[i].tag) == 64)
			ck_assert_uint_eq(sb.snaplist[i].bit, 5);
	struct meta_ms_status s;
	ck_assert_int_eq(ms_daniel_ops.status(st, &s), 0);
	ck_assert_uint_eq(s.total_sectors, DEV_BYTES / 512);
	ck_assert_uint_eq(s.nr_ids, 63);
	/* head, superblock, 1 bitmap, 100 journal, root and leaf */
	ck_assert_uint_eq(s.sectors_allocated, (2 + 1 + 100 + 2) * 8);
	ck_assert_uint_eq(s.metadata_sectors, s.sectors_allocated);
	ck_assert_int_eq(ms_daniel_ops.create(st, &id), META_E_PERM);
	close_store(st, io);

	/* too small for the fixed structures */
	unlink(path);
	ub_tmpfile(path, "msd", 64 * 4096);
	struct meta_ms_params p = {.type = META_MS_DANIEL, .chunk_size = 32};
	ck_assert_int_eq(meta_io_open(path, META_IO_WRITE, &io), 0);
	ck_assert_int_eq(ms_daniel_ops.format(io, &p), META_E_TOOSMALL);
	meta_io_close(io);
	unlink(path);
}
END_TEST

static void expect_exceptions(const char *path, const struct msd_exc_desc *want, uint64_t n)
{
	struct meta_io *io;
	void *st = open_store(path, false, &io);
	FILE *f = tmpfile();
	/* compare through the human dump: one line per exception */
	ck_assert_int_eq(ms_daniel_ops.dump_human(st, f), 0);
	rewind(f);
	char line[512];
	uint64_t k = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long o, c;
		if (sscanf(line, "  origin chunk %llu -> COW chunk %llu", &o, &c) == 2) {
			ck_assert_uint_lt(k, n);
			ck_assert_uint_eq(o, want[k].origin);
			ck_assert_uint_eq(c * 4, want[k].chunk);
			k++;
		}
	}
	ck_assert_uint_eq(k, n);
	fclose(f);
	close_store(st, io);
}

START_TEST(test_delete_frees)
{
	char path[UB_PATH_MAX];
	struct msd_image img;
	struct meta_io *io;
	struct dmg g;
	struct meta_ms_status s0, s1;

	ub_tmpfile(path, "msd", DEV_BYTES);
	write_image(path, 700, &img); /* several leaves, two index levels not needed */
	ck_assert_int_eq(check_file(path, &g), -1);
	expect_exceptions(path, img.exc, img.nr_exc);

	void *st = open_store(path, true, &io);
	ck_assert_int_eq(ms_daniel_ops.status(st, &s0), 0);
	ck_assert_uint_eq(s0.sectors_allocated - s0.metadata_sectors, img.nr_exc * 32);
	ck_assert_int_eq(ms_daniel_ops.delete_snap(st, 11), 0);
	ck_assert_int_eq(ms_daniel_ops.status(st, &s1), 0);
	/* the exceptions only 11 used (c % 3 == 0: share 0x2) are gone; 0x3 became 0x1 */
	uint64_t k = 0, dropped = 0;
	for (uint64_t i = 0; i < img.nr_exc; i++) {
		img.exc[i].share &= ~2ull;
		if (img.exc[i].share)
			img.exc[k++] = img.exc[i];
		else
			dropped++;
	}
	ck_assert_uint_eq(dropped, 234);
	ck_assert_uint_eq(s0.sectors_allocated - s1.sectors_allocated, dropped * 32);
	ck_assert_uint_eq(s1.nr_ids, 2);
	close_store(st, io);
	ck_assert_int_eq(check_file(path, &g), -1);
	expect_exceptions(path, img.exc, k);

	/* delete the rest: only metadata stays in use */
	st = open_store(path, true, &io);
	ck_assert_int_eq(ms_daniel_ops.delete_snap(st, 10), 0);
	ck_assert_int_eq(ms_daniel_ops.delete_snap(st, 12), 0);
	ck_assert_int_eq(ms_daniel_ops.status(st, &s1), 0);
	ck_assert_uint_eq(s1.sectors_allocated, s1.metadata_sectors);
	ck_assert_uint_eq(s1.nr_ids, 0);
	close_store(st, io);
	ck_assert_int_eq(check_file(path, &g), -1);
	expect_exceptions(path, NULL, 0);
	free(img.exc);
	unlink(path);
}
END_TEST

/* Cut a delete after every number of writes: the check names what the crash left. */
START_TEST(test_crash_mid_delete)
{
	char path[UB_PATH_MAX];
	struct msd_image img;
	struct meta_io *io;
	struct dmg g;
	uint64_t total = 0;

	ub_tmpfile(path, "msd", DEV_BYTES);
	write_image(path, 700, &img);
	void *st = open_store(path, true, &io);
	uint64_t w0 = meta_io_nr_writes(io);
	ck_assert_int_eq(ms_daniel_ops.delete_snap(st, 11), 0);
	total = meta_io_nr_writes(io) - w0;
	close_store(st, io);
	ck_assert_uint_ge(total, 4); /* superblock, leaves, bitmap, superblock */

	for (uint64_t n = 0; n <= total; n++) {
		free(img.exc);
		write_image(path, 700, &img);
		st = open_store(path, true, &io);
		meta_io_fail_writes_after(io, n);
		int r = ms_daniel_ops.delete_snap(st, 11);
		close_store(st, io);
		int worst = check_file(path, &g);
		if (n == 0) {
			ck_assert_int_ne(r, 0);
			ck_assert_int_eq(worst, -1); /* nothing written */
		} else if (n < total) {
			ck_assert_int_ne(r, 0);
			ck_assert_int_eq(worst, META_SEV_FATAL);
			ck_assert_int_eq(g.kinds[META_DMG_MSD_DELETE_INTERRUPTED], 1);
			/* leaves rewritten before the bitmaps: the freed chunks are leaked */
			if (n >= total - 1)
				ck_assert_int_eq(g.kinds[META_DMG_MSD_LEAK], 0);
			else if (n >= 2)
				ck_assert_int_ge(g.kinds[META_DMG_MSD_LEAK], 1);
			ck_assert_int_eq(g.kinds[META_DMG_MSD_BITMAP_FREE], 0);
			/* deleting another snapshot keeps the interrupted delete visible */
			if (n == 2) {
				st = open_store(path, true, &io);
				ck_assert_int_eq(ms_daniel_ops.delete_snap(st, 12), 0);
				close_store(st, io);
				ck_assert_int_eq(check_file(path, &g), META_SEV_FATAL);
				ck_assert_int_eq(g.kinds[META_DMG_MSD_DELETE_INTERRUPTED], 1);
				ck_assert_int_eq(g.kinds[META_DMG_MSD_LEAK], 0); /* bitmaps recomputed */
			}
			/* deleting it again finishes the job */
			st = open_store(path, true, &io);
			ck_assert_int_eq(ms_daniel_ops.delete_snap(st, 11), 0);
			close_store(st, io);
			ck_assert_int_eq(check_file(path, &g), -1);
		} else {
			/* every write landed (the final flush counts as past the cut) */
			ck_assert_int_eq(worst, -1);
		}
	}
	free(img.exc);
	unlink(path);
}
END_TEST

START_TEST(test_check_damage)
{
	char path[UB_PATH_MAX];
	struct msd_image img;
	struct dmg g;
	struct msd_disksuper sb;
	uint8_t blk[4096];

	ub_tmpfile(path, "msd", DEV_BYTES);
	write_image(path, 300, &img);
	ub_read_at(path, 4096, &sb, sizeof(sb));
	uint64_t root = le64_get(sb.etree_root) / 8;
	struct msd_enode *rn = (void *)blk;
	ub_read_block(path, root, blk);
	ck_assert_uint_ge(le32_get(rn->count), 2);
	uint64_t leaf = le64_get(rn->entries[1].sector) / 8;

	/* superblock magic */
	uint8_t saved[4096], x;
	ub_read_block(path, 1, saved);
	x = 0;
	ub_write_at(path, 4096, &x, 1);
	ck_assert_int_eq(check_file(path, &g), META_SEV_FATAL);
	ck_assert_int_eq(g.kinds[META_DMG_MSD_SB_MAGIC], 1);
	{
		struct meta_io *io;
		void *st;
		ck_assert_int_eq(meta_io_open(path, 0, &io), 0);
		ck_assert_int_eq(ms_daniel_ops.open(io, false, &st), META_E_BADMAGIC);
		meta_io_close(io);
	}
	ub_write_block(path, 1, saved);
	ck_assert_int_eq(check_file(path, &g), -1);

	/* leaf magic: the leaf is named, its chunks become leaks */
	ub_read_block(path, leaf, saved);
	memcpy(blk, saved, 4096);
	blk[0] ^= 1;
	ub_write_block(path, leaf, blk);
	ck_assert_int_eq(check_file(path, &g), META_SEV_FATAL);
	ck_assert_int_eq(g.kinds[META_DMG_MSD_LEAF], 1);
	ck_assert_uint_eq(g.block[META_DMG_MSD_LEAF], leaf);
	ck_assert_int_ge(g.kinds[META_DMG_MSD_LEAK], 1);
	{
		struct meta_io *io;
		void *st;
		ck_assert_int_eq(meta_io_open(path, 0, &io), 0);
		ck_assert_int_eq(ms_daniel_ops.open(io, false, &st), META_E_CORRUPT);
		meta_io_close(io);
	}
	/* a share naming a bit no snapshot has */
	memcpy(blk, saved, 4096);
	struct msd_exception *e = (void *)(blk + 4096 - 16);
	e->share = le64_of(le64_get(e->share) | (1ull << 40));
	ub_write_block(path, leaf, blk);
	check_file(path, &g);
	ck_assert_int_ge(g.kinds[META_DMG_MSD_SHARE], 1);
	ck_assert_uint_eq(g.block[META_DMG_MSD_SHARE], leaf);
	/* two exceptions on one COW chunk */
	memcpy(blk, saved, 4096);
	e = (void *)(blk + 4096 - 16);
	e[-1].chunk = e->chunk;
	ub_write_block(path, leaf, blk);
	check_file(path, &g);
	ck_assert_int_ge(g.kinds[META_DMG_MSD_DUP_CHUNK], 1);
	ub_write_block(path, leaf, saved);
	ck_assert_int_eq(check_file(path, &g), -1);

	/* bitmap: a used chunk marked free; a free chunk marked used */
	ub_read_block(path, 2, saved);
	memcpy(blk, saved, 4096);
	blk[1024 / 8] &= (uint8_t)~1; /* unit 1024: the first data chunk */
	blk[8000 / 8] |= 1;           /* unit 8000: free */
	ub_write_block(path, 2, blk);
	ck_assert_int_eq(check_file(path, &g), META_SEV_FATAL);
	ck_assert_int_eq(g.kinds[META_DMG_MSD_BITMAP_FREE], 1);
	ck_assert_uint_eq(g.block[META_DMG_MSD_BITMAP_FREE], 1024);
	ck_assert_int_eq(g.kinds[META_DMG_MSD_LEAK], 1);
	ck_assert_uint_eq(g.block[META_DMG_MSD_LEAK], 8000);
	ck_assert_int_eq(g.kinds[META_DMG_MSD_FREE_COUNT], 0); /* the same number of bits */
	blk[1024 / 8] |= 1;
	ub_write_block(path, 2, blk);
	ck_assert_int_eq(check_file(path, &g), META_SEV_NONFATAL);
	ck_assert_int_eq(g.kinds[META_DMG_MSD_FREE_COUNT], 1);
	ub_write_block(path, 2, saved);

	/* a commit block in the journal newer than the superblock */
	uint64_t j = le32_get(sb.journal_base) / 8 + 3;
	memset(blk, 0, sizeof(blk));
	memcpy(blk, "MAGICNUM", 8);
	put_le32p(blk + 12, 5);
	ub_write_block(path, j, blk);
	ck_assert_int_eq(check_file(path, &g), META_SEV_FATAL);
	ck_assert_int_eq(g.kinds[META_DMG_MSD_JOURNAL_UNREPLAYED], 1);
	ck_assert_uint_eq(g.block[META_DMG_MSD_JOURNAL_UNREPLAYED], j);
	memset(blk, 0, sizeof(blk));
	ub_write_block(path, j, blk);

	/* superblock fields and snapshot list; SB_BUSY */
	struct msd_disksuper bad = sb;
	bad.snaplist[1].bit = 0;
	bad.flags = le64_of(2);
	ub_write_at(path, 4096, &bad, sizeof(bad));
	check_file(path, &g);
	ck_assert_int_eq(g.kinds[META_DMG_MSD_SNAPLIST], 1);
	ck_assert_int_eq(g.kinds[META_DMG_MSD_NOT_CLOSED], 1);
	bad = sb;
	bad.metadata.chunks = le64_of(1u << 30);
	ub_write_at(path, 4096, &bad, sizeof(bad));
	check_file(path, &g);
	ck_assert_int_ge(g.kinds[META_DMG_MSD_SB_FIELD], 1);
	ck_assert_uint_eq(g.block[META_DMG_MSD_SB_FIELD], 1);
	ub_write_at(path, 4096, &sb, sizeof(sb));
	ck_assert_int_eq(check_file(path, &g), -1);
	free(img.exc);
	unlink(path);
}
END_TEST

static char *dump(const char *path)
{
	struct meta_io *io;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	void *st = open_store(path, false, &io);
	ck_assert_int_eq(ms_daniel_ops.dump_xml(st, f), 0);
	fclose(f);
	close_store(st, io);
	return buf;
}

static int restore(const char *xml, const char *path, char *err, size_t errlen)
{
	struct meta_io *io;
	FILE *f = fmemopen((void *)xml, strlen(xml), "r");
	ck_assert_int_eq(meta_io_open(path, META_IO_WRITE, &io), 0);
	int r = ms_daniel_ops.restore_xml(NULL, 0, f, io, err, errlen);
	meta_io_close(io);
	fclose(f);
	return r;
}

START_TEST(test_xml_roundtrip)
{
	char a[UB_PATH_MAX], b[UB_PATH_MAX], err[256];
	struct msd_image img;
	struct dmg g;

	ub_tmpfile(a, "msd", DEV_BYTES);
	ub_tmpfile(b, "msd", DEV_BYTES + 8192);
	write_image(a, 900, &img); /* about 8 leaves */
	char *x1 = dump(a);
	ck_assert_ptr_nonnull(strstr(x1, "<multisnap_store type=\"daniel\" version=\"1\" chunk_size=\"32\""));
	ck_assert_ptr_nonnull(strstr(x1, "<exception origin_chunk=\"0\" cow_chunk=\"256\" snapshots=\"11\"/>"));
	ck_assert_ptr_nonnull(strstr(x1, "snapshots=\"10 12\"/>"));
	ck_assert_ptr_nonnull(strstr(x1, " flags=\"preserve-on-error,0x10\" "));
	ck_assert_int_eq(restore(x1, b, err, sizeof(err)), 0);
	ck_assert_int_eq(check_file(b, &g), -1);
	char *x2 = dump(b);
	ck_assert_str_eq(x1, x2);

	/* restore is deterministic: restoring the restored store's dump gives the same bytes */
	{
		char c[UB_PATH_MAX];
		ub_tmpfile(c, "msd", DEV_BYTES + 8192);
		ck_assert_int_eq(restore(x2, c, err, sizeof(err)), 0);
		uint8_t *ib = malloc(DEV_BYTES + 8192), *ic = malloc(DEV_BYTES + 8192);
		ub_read_at(b, 0, ib, DEV_BYTES + 8192);
		ub_read_at(c, 0, ic, DEV_BYTES + 8192);
		ck_assert(!memcmp(ib, ic, DEV_BYTES + 8192));
		free(ib);
		free(ic);
		unlink(c);
	}
	free(x2);

	/* errors name the line; nothing valid is left behind */
	static const struct {
		const char *xml, *msg;
	} bad[] = {
		{"<multisnap_store type=\"daniel\" version=\"2\" chunk_size=\"32\" chunks=\"4096\"/>", "line 1: version 2"},
		{"<multisnap_store type=\"daniel\" version=\"1\" chunk_size=\"16\" chunks=\"4096\"/>", "line 1: chunk_size 16"},
		{"<multisnap_store type=\"daniel\" version=\"1\" chunk_size=\"32\" chunks=\"4096\">\n"
		 "<snapshot id=\"1\" bit=\"0\"/>\n<exception origin_chunk=\"0\" cow_chunk=\"300\" snapshots=\"2\"/>\n"
		 "</multisnap_store>", "line 3: snapshot 2 is not in the store"},
		{"<multisnap_store type=\"daniel\" version=\"1\" chunk_size=\"32\" chunks=\"4096\">\n"
		 "<snapshot id=\"1\" bit=\"0\"/>\n<exception origin_chunk=\"0\" cow_chunk=\"3\" snapshots=\"1\"/>\n"
		 "</multisnap_store>", "line 3: cow_chunk 3 is not a data chunk"},
		{"<multisnap_store type=\"daniel\" version=\"1\" chunk_size=\"32\" chunks=\"4096\">\n"
		 "<snapshot id=\"1\" bit=\"0\"/>\n<snapshot id=\"2\" bit=\"0\"/>\n"
		 "</multisnap_store>", "line 3: bit 0 given to two snapshots"},
		{"<multisnap_store type=\"daniel\" version=\"1\" chunk_size=\"32\" chunks=\"4096\">\n"
		 "<snapshot id=\"1\" bit=\"0\"/>\n<exception origin_chunk=\"5\" cow_chunk=\"300\" snapshots=\"1\"/>\n"
		 "<exception origin_chunk=\"4\" cow_chunk=\"301\" snapshots=\"1\"/>\n"
		 "</multisnap_store>", "line 4: exceptions out of"},
		{"<multisnap_store type=\"daniel\" version=\"1\" chunk_size=\"32\" chunks=\"99999999\"/>", "line 1: the store has"},
		{"<multisnap_store type=\"daniel\" version=\"1\" chunk_size=\"32\" chunks=\"4096\" flags=\"busy,\"/>", "line 1: bad flags"},
		{"<multisnap_store type=\"daniel\" version=\"1\" chunk_size=\"32\" chunks=\"4096\" flags=\"sync\"/>", "line 1: bad flags"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = restore(bad[i].xml, b, err, sizeof(err));
		ck_assert_int_ne(r, 0);
		ck_assert_msg(!strncmp(err, bad[i].msg, strlen(bad[i].msg)), "case %zu: %s", i, err);
	}
	/* every truncation of a valid dump is refused with a line, or is a whole document */
	size_t len = strlen(x1);
	for (size_t cut = 0; cut < len; cut += 1 + cut / 16) {
		char *t = strndup(x1, cut);
		int r = restore(t, b, err, sizeof(err));
		if (r) {
			ck_assert_msg(!strncmp(err, "line ", 5), "cut %zu: %s", cut, err);
			ck_assert_int_eq(check_file(b, &g), META_SEV_FATAL);
			ck_assert_int_eq(g.kinds[META_DMG_MSD_SB_MAGIC], 1);
		}
		free(t);
	}
	free(x1);
	free(img.exc);
	unlink(a);
	unlink(b);
}
END_TEST

/* Enough exceptions for two index levels (more than 255 leaves). */
START_TEST(test_two_levels)
{
	char path[UB_PATH_MAX];
	struct msd_image img;
	struct dmg g;
	struct msd_disksuper sb;
	struct meta_io *io;

	ub_tmpfile(path, "msd", 1200ull << 20);
	write_image(path, 40000, &img);
	ub_read_at(path, 4096, &sb, sizeof(sb));
	ck_assert_uint_eq(le32_get(sb.etree_levels), 2);
	ck_assert_int_eq(check_file(path, &g), -1);
	void *st = open_store(path, true, &io);
	ck_assert_int_eq(ms_daniel_ops.delete_snap(st, 10), 0);
	close_store(st, io);
	ck_assert_int_eq(check_file(path, &g), -1);
	free(img.exc);
	unlink(path);
}
END_TEST

/* Index damage and exceptions outside the store are named by their node. */
START_TEST(test_check_index_and_exceptions)
{
	char path[UB_PATH_MAX];
	struct msd_image img;
	struct dmg g;
	struct msd_disksuper sb;
	uint8_t blk[4096], saved[4096];

	ub_tmpfile(path, "msd", DEV_BYTES);
	write_image(path, 300, &img);
	ub_read_at(path, 4096, &sb, sizeof(sb));
	uint64_t root = le64_get(sb.etree_root) / 8;
	struct msd_enode *rn = (void *)blk;

	ub_read_block(path, root, saved);
	memcpy(blk, saved, 4096);
	rn->entries[1].key = rn->entries[2].key; /* keys not increasing */
	ub_write_block(path, root, blk);
	ck_assert_int_eq(check_file(path, &g), META_SEV_FATAL);
	ck_assert_int_eq(g.kinds[META_DMG_MSD_INDEX], 1);
	ck_assert_uint_eq(g.block[META_DMG_MSD_INDEX], root);
	memcpy(blk, saved, 4096);
	rn->count = le32_of(0);
	ub_write_block(path, root, blk);
	ck_assert_int_eq(check_file(path, &g), META_SEV_FATAL);
	ck_assert_int_eq(g.kinds[META_DMG_MSD_INDEX], 1);
	memcpy(blk, saved, 4096);
	rn->entries[0].sector = le64_of(16); /* the bitmap */
	ub_write_block(path, root, blk);
	ck_assert_int_eq(check_file(path, &g), META_SEV_FATAL);
	ck_assert_int_eq(g.kinds[META_DMG_MSD_LEAF], 1);
	ck_assert_uint_eq(g.block[META_DMG_MSD_LEAF], 2);
	memcpy(blk, saved, 4096);
	rn->entries[1].sector = rn->entries[0].sector; /* one leaf twice */
	ub_write_block(path, root, blk);
	ck_assert_int_eq(check_file(path, &g), META_SEV_FATAL);
	ck_assert_int_ge(g.kinds[META_DMG_MSD_DUP_CHUNK], 1);
	ub_write_block(path, root, saved);
	ck_assert_int_eq(check_file(path, &g), -1);

	uint64_t leaf = le64_get(((struct msd_enode *)saved)->entries[0].sector) / 8;
	ub_read_block(path, leaf, saved);
	memcpy(blk, saved, 4096);
	struct msd_exception *e = (void *)(blk + 4096 - 16);
	e->chunk = le64_of(8190); /* past the end (8192 units, 4 needed) */
	ub_write_block(path, leaf, blk);
	ck_assert_int_eq(check_file(path, &g), META_SEV_FATAL);
	ck_assert_int_eq(g.kinds[META_DMG_MSD_EXCEPTION], 1);
	ck_assert_uint_eq(g.block[META_DMG_MSD_EXCEPTION], leaf);
	memcpy(blk, saved, 4096);
	struct msd_eleaf *l = (void *)blk;
	l->map[le32_get(l->count)].offset = le32_of(4000); /* sentinel */
	ub_write_block(path, leaf, blk);
	ck_assert_int_eq(check_file(path, &g), META_SEV_FATAL);
	ck_assert_int_eq(g.kinds[META_DMG_MSD_LEAF], 1);
	memcpy(blk, saved, 4096);
	l->using_mask = le64_of(0);
	ub_write_block(path, leaf, blk);
	ck_assert_int_eq(check_file(path, &g), META_SEV_FATAL);
	ck_assert_int_eq(g.kinds[META_DMG_MSD_LEAF], 1);
	ub_write_block(path, leaf, saved);
	ck_assert_int_eq(check_file(path, &g), -1);
	free(img.exc);
	unlink(path);
}
END_TEST

/*
 * Flip bytes of every metadata block (superblock, bitmap, index nodes, leaves): the check
 * and, when the store still opens, every read operation survive it; a flip the check
 * calls clean leaves a store that opens.
 */
START_TEST(test_byte_flips)
{
	char path[UB_PATH_MAX];
	struct msd_image img;
	struct dmg g;
	struct msd_disksuper sb;
	uint8_t saved[4096], blk[4096];
	uint64_t units[8], nu = 0;

	ub_tmpfile(path, "msd", DEV_BYTES);
	write_image(path, 200, &img);
	ub_read_at(path, 4096, &sb, sizeof(sb));
	units[nu++] = 1;
	units[nu++] = 2;
	uint64_t root = le64_get(sb.etree_root) / 8;
	units[nu++] = root;
	ub_read_block(path, root, blk);
	struct msd_enode *rn = (void *)blk;
	for (uint32_t i = 0; i < le32_get(rn->count) && nu < 8; i++)
		units[nu++] = le64_get(rn->entries[i].sector) / 8;
	ck_assert_uint_ge(nu, 5);
	for (uint64_t k = 0; k < nu; k++) {
		ub_read_block(path, units[k], saved);
		uint64_t limit = units[k] == 1 ? MSD_SB_SIZE : 4096;
		/* every byte of the superblock, every 5th of the others; under ASan in the CI
		 * suite every 3rd and every 17th */
		uint64_t step = units[k] == 1 ? ub_ci(1, 1, 3) : ub_ci(5, 5, 17);
		for (uint64_t off = 0; off < limit; off += step) {
			memcpy(blk, saved, 4096);
			blk[off] ^= (uint8_t)(0x5a | (off & 0x81));
			ub_write_block(path, units[k], blk);
			int worst = check_file(path, &g);
			struct meta_io *io;
			void *st = NULL;
			ck_assert_int_eq(meta_io_open(path, 0, &io), 0);
			int r = ms_daniel_ops.open(io, false, &st);
			if (worst < META_SEV_FATAL)
				ck_assert_msg(r == 0, "unit %" PRIu64 " byte %" PRIu64 ": checks clean, open %d",
					      units[k], off, r);
			if (!r) {
				FILE *f = fopen("/dev/null", "w");
				meta_ms_id *ids;
				uint64_t n;
				struct meta_ms_status s;
				ck_assert_int_eq(ms_daniel_ops.dump_xml(st, f), 0);
				ck_assert_int_eq(ms_daniel_ops.dump_human(st, f), 0);
				ck_assert_int_eq(ms_daniel_ops.snapshots(st, &ids, &n), 0);
				free(ids);
				ck_assert_int_eq(ms_daniel_ops.status(st, &s), 0);
				fclose(f);
				ms_daniel_ops.close(st);
			}
			meta_io_close(io);
		}
		ub_write_block(path, units[k], saved);
	}
	ck_assert_int_eq(check_file(path, &g), -1);
	free(img.exc);
	unlink(path);
}
END_TEST

/* A restore cut at every write leaves no valid store, or the whole one. */
START_TEST(test_crash_mid_restore)
{
	char a[UB_PATH_MAX], b[UB_PATH_MAX], err[256];
	struct msd_image img;
	struct dmg g;
	struct meta_io *io;

	ub_tmpfile(a, "msd", DEV_BYTES);
	ub_tmpfile(b, "msd", DEV_BYTES);
	write_image(a, 300, &img);
	free(img.exc);
	write_image(b, 100, &img); /* an older store to overwrite */
	char *x = dump(a);
	uint64_t total;
	{
		FILE *f = fmemopen(x, strlen(x), "r");
		ck_assert_int_eq(meta_io_open(b, META_IO_WRITE, &io), 0);
		ck_assert_int_eq(ms_daniel_ops.restore_xml(NULL, 0, f, io, err, sizeof(err)), 0);
		total = meta_io_nr_writes(io);
		meta_io_close(io);
		fclose(f);
	}
	for (uint64_t n = 0; n < total; n++) {
		free(img.exc);
		write_image(b, 100, &img);
		FILE *f = fmemopen(x, strlen(x), "r");
		ck_assert_int_eq(meta_io_open(b, META_IO_WRITE, &io), 0);
		meta_io_fail_writes_after(io, n);
		ck_assert_int_ne(ms_daniel_ops.restore_xml(NULL, 0, f, io, err, sizeof(err)), 0);
		meta_io_close(io);
		fclose(f);
		int worst = check_file(b, &g);
		if (n == 0) {
			/* the old store survives a cut before the superblock is zeroed, else none */
			ck_assert_int_eq(worst, -1);
		} else {
			ck_assert_int_eq(worst, META_SEV_FATAL);
			ck_assert_int_eq(g.kinds[META_DMG_MSD_SB_MAGIC], 1);
		}
	}
	free(x);
	free(img.exc);
	unlink(a);
	unlink(b);
}
END_TEST

/* --origin-size: an exception whose origin chunk starts at or past the origin's end. */
START_TEST(test_check_origin)
{
	char path[UB_PATH_MAX];
	struct msd_image img;
	struct dmg g;
	struct meta_io *io;

	ub_tmpfile(path, "msd", DEV_BYTES);
	write_image(path, 100, &img); /* origin chunks 0, 7, .., 693 */
	const uint64_t sizes[] = {0, 694 * 32, 693 * 32 + 1, 693 * 32, 686 * 32};
	const int want[] = {0, 0, 0, 1, 2};
	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		memset(&g, 0, sizeof(g));
		ck_assert_int_eq(meta_io_open(path, 0, &io), 0);
		g.worst = ms_daniel_ops.check_origin(io, sizes[k], on_damage, &g);
		meta_io_close(io);
		ck_assert_msg(g.kinds[META_DMG_MSD_ORIGIN] == want[k], "origin %llu sectors: %d reports",
			      (unsigned long long)sizes[k], g.kinds[META_DMG_MSD_ORIGIN]);
		ck_assert_int_eq(g.n, want[k]);
		ck_assert_int_eq(g.worst, want[k] ? META_SEV_FATAL : -1);
	}
	/* the public call, by path */
	memset(&g, 0, sizeof(g));
	ck_assert_int_eq(meta_ms_check(path, 693 * 32, on_damage, &g), META_SEV_FATAL);
	ck_assert_int_eq(g.kinds[META_DMG_MSD_ORIGIN], 1);
	ck_assert(meta_ms_type_checks_origin(META_MS_DANIEL));
	free(img.exc);
	unlink(path);
}
END_TEST

/* The table's preserve-on-error over an existing store is recorded by the next message. */
START_TEST(test_preserve_on_existing)
{
	char path[UB_PATH_MAX];
	struct meta_ms *ms;
	struct msd_disksuper sb;
	struct meta_ms_params p = {.type = META_MS_DANIEL, .chunk_size = 32};
	meta_ms_id id;

	ub_tmpfile(path, "msd", DEV_BYTES);
	ck_assert_int_eq(meta_ms_format(path, &p, false), 0);
	ub_read_at(path, 4096, &sb, sizeof(sb));
	ck_assert_uint_eq(le64_get(sb.flags) & MSD_SB_PRESERVE_ON_ERROR, 0);
	/* a message without the option changes nothing */
	ck_assert_int_eq(meta_ms_open(path, META_MS_OPEN_WRITE, &ms), 0);
	ck_assert_int_eq(meta_ms_set_params(ms, &p), 0);
	ck_assert_int_eq(meta_ms_create(ms, &id), 0);
	meta_ms_close(ms);
	ub_read_at(path, 4096, &sb, sizeof(sb));
	ck_assert_uint_eq(le64_get(sb.flags) & MSD_SB_PRESERVE_ON_ERROR, 0);
	/* with it: stored with the message */
	p.generic = META_MS_PRESERVE_ON_ERROR;
	ck_assert_int_eq(meta_ms_open(path, META_MS_OPEN_WRITE, &ms), 0);
	ck_assert_int_eq(meta_ms_set_params(ms, &p), 0);
	ck_assert_int_eq(meta_ms_delete(ms, id), 0);
	meta_ms_close(ms);
	ub_read_at(path, 4096, &sb, sizeof(sb));
	ck_assert_uint_eq(le64_get(sb.flags) & MSD_SB_PRESERVE_ON_ERROR, MSD_SB_PRESERVE_ON_ERROR);
	unlink(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ms_daniel");
	TCase *tc = ub_tcase(s, "ms_daniel", 120);
	tcase_add_test(tc, test_format_and_limits);
	tcase_add_test(tc, test_delete_frees);
	tcase_add_test(tc, test_crash_mid_delete);
	tcase_add_test(tc, test_check_damage);
	tcase_add_test(tc, test_xml_roundtrip);
	tcase_add_test(tc, test_two_levels);
	tcase_add_test(tc, test_check_index_and_exceptions);
	tcase_add_test(tc, test_byte_flips);
	tcase_add_test(tc, test_crash_mid_restore);
	tcase_add_test(tc, test_check_origin);
	tcase_add_test(tc, test_preserve_on_existing);
	return ub_run(s);
}

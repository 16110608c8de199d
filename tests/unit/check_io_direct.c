/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of the I/O engine on block devices: O_DIRECT everywhere.
 *
 * A loop device stands in for a metadata device a live kernel writes: its
 * backing file is changed behind the device's page cache (which a second
 * descriptor keeps alive, as an active pool does), and every read through
 * meta_io must return the new bytes.  Unaligned reads and writes of every
 * shape must match the file.  Needs root and losetup; skips with one line
 * otherwise.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmeta/bm.h>
#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/io.h>

#include "unit_base.h"

#define IMG_BYTES (3u << 20) /* 3 MiB: requests larger than the 1 MiB bounce buffer fit */

struct loopdev {
	char file[UB_PATH_MAX];
	char dev[64];
	int holder; /* keeps the device (and its page cache) alive, as an active pool does */
};

static int have_losetup(void)
{
	if (geteuid() != 0)
		return 0;
	return system("losetup --version >/dev/null 2>&1") == 0 && access("/dev/loop-control", F_OK) == 0;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
}

/* Backing file with contents buf, attached to a loop device; 0 when it could not be made. */
static int loop_make(struct loopdev *l, const uint8_t *buf, size_t n, unsigned sector_size)
{
	char cmd[UB_PATH_MAX + 128];
	FILE *p;
	ub_tmpfile(l->file, "iodirect", 0);
	ub_write_at(l->file, 0, buf, n);
	if (sector_size)
		snprintf(cmd, sizeof(cmd), "losetup -f --show --sector-size %u %s 2>/dev/null",
			 sector_size, l->file);
	else
		snprintf(cmd, sizeof(cmd), "losetup -f --show %s 2>/dev/null", l->file);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	l->dev[0] = 0;
	if (!fgets(l->dev, sizeof(l->dev), p))
		l->dev[0] = 0;
	pclose(p);
	l->dev[strcspn(l->dev, "\n")] = 0;
	if (!l->dev[0]) {
		unlink(l->file);
		return 0;
	}
	/* detach at once: the kernel then drops the device at its last close, even if we crash */
	l->holder = open(l->dev, O_RDONLY);
	ck_assert_int_ge(l->holder, 0);
	snprintf(cmd, sizeof(cmd), "losetup -d %s", l->dev);
	ck_assert_int_eq(system(cmd), 0);
	return 1;
}

static void loop_drop(struct loopdev *l)
{
	close(l->holder);
	unlink(l->file);
}

/* Change the backing file behind the loop device's page cache. */
static void file_write(const struct loopdev *l, const void *buf, size_t n, off_t off)
{
	int fd = open(l->file, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, buf, n, off), (ssize_t)n);
	ck_assert_int_eq(fsync(fd), 0);
	close(fd);
}

static void file_read(const struct loopdev *l, void *buf, size_t n, off_t off)
{
	ub_read_at(l->file, (uint64_t)off, buf, n);
}

START_TEST(test_device_changed_behind_cache)
{
	static uint8_t oldb[IMG_BYTES], newb[IMG_BYTES], thirdb[IMG_BYTES], got[IMG_BYTES];
	struct loopdev l;
	struct meta_io *io;
	struct meta_bm *bm;
	const void *d;
	if (!have_losetup()) {
		printf("skip: test_device_changed_behind_cache needs root and losetup\n");
		return;
	}
	fill(oldb, sizeof(oldb), 1);
	fill(newb, sizeof(newb), 2);
	fill(thirdb, sizeof(thirdb), 4);
	if (!loop_make(&l, oldb, sizeof(oldb), 0)) {
		printf("skip: test_device_changed_behind_cache: losetup could not attach a device\n");
		return;
	}
	/* an active pool holds the device open; its page cache holds the old bytes */
	ck_assert_int_eq(pread(l.holder, got, sizeof(got), 0), (ssize_t)sizeof(got));
	ck_assert(memcmp(got, oldb, sizeof(got)) == 0);

	/* the "kernel" writes beneath that cache */
	file_write(&l, newb, sizeof(newb), 0);

	ck_assert_int_eq(meta_io_open(l.dev, 0, &io), META_OK);
	ck_assert_int_eq(meta_io_is_direct(io), 1);
	ck_assert_uint_ge(meta_io_align(io), 512);
	memset(got, 0, sizeof(got));
	ck_assert_int_eq(meta_io_pread(io, got, META_BLOCK_SIZE, 0), META_OK);
	ck_assert(memcmp(got, newb, META_BLOCK_SIZE) == 0);
	ck_assert_int_eq(meta_io_pread(io, got, 100, 4097), META_OK); /* through the bounce buffer */
	ck_assert(memcmp(got, newb + 4097, 100) == 0);
	ck_assert_int_eq(meta_io_pread(io, got, sizeof(got), 0), META_OK);
	ck_assert(memcmp(got, newb, sizeof(got)) == 0);

	/* sniffing the first bytes sees the new bytes too */
	ck_assert_int_eq(meta_io_sniff_xml(io), META_OK);
	file_write(&l, "<superblock uuid=\"\"", 19, 0);
	ck_assert_int_eq(meta_io_sniff_xml(io), META_E_LOOKSXML);
	meta_io_close(io);
	ck_assert_int_eq(meta_io_open_input(l.dev, 0, META_BLOCK_SIZE, &io), META_E_LOOKSXML);
	file_write(&l, newb, 64, 0);

	/* the block cache, single gets and prefetched runs */
	ck_assert_int_eq(meta_io_open_input(l.dev, 0, META_BLOCK_SIZE, &io), META_OK);
	ck_assert_int_eq(meta_bm_create(io, 64, &bm), META_OK);
	file_write(&l, thirdb + 5 * META_BLOCK_SIZE, 20 * META_BLOCK_SIZE, 5 * META_BLOCK_SIZE);
	{
		uint64_t want[] = {7, 5, 9, 12, 24};
		meta_bm_prefetch(bm, want, sizeof(want) / sizeof(want[0]));
	}
	for (uint64_t b = 3; b < 27; b++) {
		const uint8_t *exp = (b >= 5 && b < 25 ? thirdb : newb) + b * META_BLOCK_SIZE;
		ck_assert_int_eq(meta_bm_get(bm, b, NULL, &d), META_OK);
		ck_assert_msg(memcmp(d, exp, META_BLOCK_SIZE) == 0, "block %llu stale",
			      (unsigned long long)b);
		meta_bm_put(bm, d);
	}
	meta_bm_destroy(bm);
	loop_drop(&l);
}
END_TEST

static const size_t offs[] = {0, 1, 7, 511, 512, 513, 1000, 4095, 4096, 4097, 8191, 65536 + 3};
static const size_t lens[] = {1, 2, 63, 64, 511, 512, 513, 4095, 4096, 4097, 8192, 12289,
			      (1u << 20) - 1, 1u << 20, (1u << 20) + 1, (2u << 20) + 4095};

static void shapes(unsigned sector_size)
{
	static uint8_t img[IMG_BYTES], shadow[IMG_BYTES], raw[IMG_BYTES + 64], src[IMG_BYTES + 64];
	struct loopdev l;
	struct meta_io *io;
	unsigned nw = 0;
	if (!have_losetup()) {
		printf("skip: unaligned I/O shapes (sector size %u) need root and losetup\n", sector_size);
		return;
	}
	fill(img, sizeof(img), 3);
	if (!loop_make(&l, img, sizeof(img), sector_size)) {
		printf("skip: losetup could not attach a device with sector size %u\n", sector_size);
		return;
	}
	ck_assert_int_eq(meta_io_open(l.dev, META_IO_WRITE, &io), META_OK);
	ck_assert_int_eq(meta_io_size(io), IMG_BYTES);
	if (sector_size)
		ck_assert_uint_eq(meta_io_align(io), sector_size);
	/* reads: every offset x length x buffer misalignment */
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++)
			for (size_t mis = 0; mis < 2; mis++) {
				uint8_t *buf = raw + (mis ? 1 : 0);
				size_t off = offs[i], len = lens[j];
				if (off + len > IMG_BYTES)
					continue;
				ck_assert_int_eq(meta_io_pread(io, buf, len, off), META_OK);
				ck_assert_msg(memcmp(buf, img + off, len) == 0, "read off %zu len %zu mis %zu",
					      off, len, mis);
			}
	/* reads that end exactly at the end of the device, and past it */
	ck_assert_int_eq(meta_io_pread(io, raw + 1, 777, IMG_BYTES - 777), META_OK);
	ck_assert(memcmp(raw + 1, img + IMG_BYTES - 777, 777) == 0);
	ck_assert_int_eq(meta_io_pread(io, raw, 4096, IMG_BYTES - 4096), META_OK);
	ck_assert_int_eq(meta_io_pread(io, raw + 1, 778, IMG_BYTES - 777), META_E_IO);
	ck_assert_int_eq(meta_io_pread(io, raw, 8192, IMG_BYTES - 4096), META_E_IO);
	ck_assert_int_eq(meta_io_pread(io, raw + 3, 10, IMG_BYTES + 4096), META_E_IO);

	/* writes: read-modify-write keeps the neighbours; the file sees every byte */
	memcpy(shadow, img, sizeof(shadow));
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j += 3) {
			size_t off = offs[i] + 3 * i, len = lens[j];
			uint8_t *buf = src + (j & 1);
			if (off + len > IMG_BYTES)
				continue;
			fill(buf, len, 100 + (unsigned)(i * 31 + j));
			ck_assert_int_eq(meta_io_pwrite(io, buf, len, off), META_OK);
			memcpy(shadow + off, buf, len);
			nw++;
		}
	ck_assert_uint_eq(meta_io_nr_writes(io), nw);
	ck_assert_int_eq(meta_io_pwrite(io, src, 10, IMG_BYTES - 5), META_E_NOSPC);
	ck_assert_int_eq(meta_io_flush(io), META_OK);
	ck_assert_int_eq(meta_io_pread(io, raw, IMG_BYTES, 0), META_OK);
	ck_assert(memcmp(raw, shadow, IMG_BYTES) == 0);
	meta_io_close(io);
	file_read(&l, raw, IMG_BYTES, 0);
	ck_assert(memcmp(raw, shadow, IMG_BYTES) == 0);
	loop_drop(&l);
}

START_TEST(test_unaligned_512) { shapes(0); }
END_TEST

START_TEST(test_unaligned_4096) { shapes(4096); }
END_TEST

/* Regular files stay buffered: no alignment, no O_DIRECT. */
START_TEST(test_files_buffered)
{
	char path[UB_PATH_MAX];
	uint8_t buf[100];
	struct meta_io *io;
	ub_tmpfile(path, "iodirect", 0);
	fill(buf, sizeof(buf), 9);
	ub_write_at(path, 0, buf, sizeof(buf));
	ck_assert_int_eq(meta_io_open(path, META_IO_DIRECT, &io), META_OK);
	ck_assert_int_eq(meta_io_is_direct(io), 0);
	ck_assert_uint_eq(meta_io_align(io), 0);
	ck_assert_int_eq(meta_io_pread(io, buf + 1, 33, 3), META_OK);
	meta_io_close(io);
	unlink(path);
}
END_TEST

struct batch_seen {
	uint64_t b[8];
	uint8_t first[8];
	int err[8];
	int n;
};

static int batch_cb(void *ctx, uint64_t b, const void *data, int err)
{
	struct batch_seen *s = ctx;
	ck_assert_int_lt(s->n, 8);
	s->b[s->n] = b;
	s->first[s->n] = *(const uint8_t *)data;
	s->err[s->n++] = err;
	return 0;
}

/*
 * meta_bm_read_batch() serves a lone block the cache holds (prefetched on a device) from
 * the cache, validates it, and leaves the slot evictable afterwards.
 */
START_TEST(test_batch_lone_cached_block)
{
	char path[UB_PATH_MAX];
	static uint8_t img[16 * META_BLOCK_SIZE];
	struct batch_seen seen;
	struct meta_io *io;
	struct meta_bm *bm;
	const void *d, *d5;
	uint64_t list[1];
	ub_tmpfile(path, "iodirect", 0);
	for (unsigned b = 0; b < 16; b++)
		memset(img + b * META_BLOCK_SIZE, (int)(0x40 + b), META_BLOCK_SIZE);
	ub_write_at(path, 0, img, sizeof(img));
	ck_assert_int_eq(meta_io_open(path, 0, &io), META_OK);
	ck_assert_int_eq(meta_bm_create(io, 2, &bm), META_OK);
	ck_assert_int_eq(meta_bm_get(bm, 3, NULL, &d), META_OK);
	meta_bm_put(bm, d);
	/* the file changes: a lone cached block comes from the cache, like meta_bm_get() */
	memset(img + 3 * META_BLOCK_SIZE, 0x99, META_BLOCK_SIZE);
	ub_write_block(path, 3, img + 3 * META_BLOCK_SIZE);
	memset(&seen, 0, sizeof(seen));
	list[0] = 3;
	ck_assert_int_eq(meta_bm_read_batch(bm, list, 1, NULL, batch_cb, &seen), META_OK);
	ck_assert_int_eq(seen.n, 1);
	ck_assert_uint_eq(seen.b[0], 3);
	ck_assert_uint_eq(seen.first[0], 0x43);
	ck_assert_int_eq(seen.err[0], 0);
	/* the validator still runs on it */
	memset(&seen, 0, sizeof(seen));
	list[0] = 3;
	ck_assert_int_eq(meta_bm_read_batch(bm, list, 1, &meta_node_validator, batch_cb, &seen), META_OK);
	ck_assert_int_eq(seen.n, 1);
	ck_assert_int_eq(seen.err[0], META_E_CHECKSUM);
	/* its slot is free again: two slots, block 5 held, block 6 must evict block 3 */
	ck_assert_int_eq(meta_bm_get(bm, 5, NULL, &d5), META_OK);
	ck_assert_int_eq(meta_bm_get(bm, 6, NULL, &d), META_OK);
	ck_assert_uint_eq(*(const uint8_t *)d, 0x46);
	meta_bm_put(bm, d);
	meta_bm_put(bm, d5);
	/* block 3 is read from the file again now */
	memset(&seen, 0, sizeof(seen));
	list[0] = 3;
	ck_assert_int_eq(meta_bm_read_batch(bm, list, 1, NULL, batch_cb, &seen), META_OK);
	ck_assert_uint_eq(seen.first[0], 0x99);
	meta_bm_destroy(bm);
	unlink(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("io_direct");
	TCase *tc = ub_tcase(s, "io_direct", 120);
	tcase_add_test(tc, test_device_changed_behind_cache);
	tcase_add_test(tc, test_unaligned_512);
	tcase_add_test(tc, test_unaligned_4096);
	tcase_add_test(tc, test_files_buffered);
	tcase_add_test(tc, test_batch_lone_cached_block);
	return ub_run(s);
}

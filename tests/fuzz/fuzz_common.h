/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared helpers of the libFuzzer targets (tests/fuzz/fuzz_*.c).
 *
 * Every target works on in-memory files: the input bytes are written to a memfd and the
 * library opens it by its /proc/self/fd/N path, exactly as it opens an image file.  Outputs
 * are memfds too.  Nothing is printed; nothing is left behind.
 *
 * Sparse image format (the binary targets' input; tests/fuzz/fz_seed.c writes it from an
 * image file):
 *   u8    flags        target-specific option bits (bit 7: no checksum fix-up)
 *   le32  size         image size in bytes (capped at FZ_MAX_IMAGE)
 *   le32  aux          target-specific (snap: origin size in bytes)
 *   then records until the end:  le32 offset, le16 len, len bytes
 * The image is all zeros except for the records (later ones win).  Records past the size
 * are clipped.
 *
 * Checksum fix-up: a 4 KiB block whose first four bytes are 'F' 'Z' T 0 gets the correct
 * persistent-data checksum of type T (1 superblock, 2 btree node, 3 bitmap, 4 index) in
 * their place, so mutations of a block's body reach past checksum validation; blocks
 * without the tag keep their bytes, so bad checksums stay reachable.  A block 0 that
 * starts with the mikulas multisnapshot magic "DMMSMIKU" (its checksum is at byte 8, not
 * 0) gets its superblock checksum recomputed the same way (multisnap-store(5)).
 */
#ifndef DMMETA_FUZZ_COMMON_H
#define DMMETA_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <libmeta/crc32c.h>
#include <libmeta/damage.h>

/*
 * Allocation failure is an outcome the library handles (META_E_NOMEM): a superblock may
 * announce 2^40 data blocks, and the checker sizes its tables from it.  Let huge requests
 * fail instead of aborting (run the targets with -malloc_limit_mb large as well, so that
 * libFuzzer does not call a merely large request a crash; real RSS stays capped by
 * -rss_limit_mb).
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

#define FZ_BLOCK 4096u
#define FZ_MAX_IMAGE (8u << 20)
#define FZ_HDR 9u
#define FZ_NO_FIXUP 0x80u

struct fz_file {
	int fd;
	char path[40];
};

static inline int fz_open(struct fz_file *f, uint64_t size)
{
	f->fd = memfd_create("fz", MFD_CLOEXEC);
	if (f->fd < 0)
		abort(); /* the harness cannot work at all */
	if (size && ftruncate(f->fd, (off_t)size) < 0)
		abort();
	snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd);
	return 0;
}

static inline void fz_close(struct fz_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

static inline void fz_pwrite(struct fz_file *f, const void *buf, size_t len, uint64_t off)
{
	if (len && pwrite(f->fd, buf, len, (off_t)off) != (ssize_t)len)
		abort();
}

static inline uint64_t fz_size(const struct fz_file *f)
{
	off_t e = lseek(f->fd, 0, SEEK_END);
	return e < 0 ? 0 : (uint64_t)e;
}

/* Whole content of f (malloc'd, *len bytes); NULL if empty. */
static inline uint8_t *fz_slurp(const struct fz_file *f, size_t *len)
{
	uint64_t n = fz_size(f);
	uint8_t *p;
	*len = (size_t)n;
	if (!n)
		return NULL;
	p = malloc((size_t)n);
	if (!p || pread(f->fd, p, (size_t)n, 0) != (ssize_t)n)
		abort();
	return p;
}

/* A memfd holding exactly the bytes given (XML, pack files). */
static inline void fz_from_bytes(struct fz_file *f, const uint8_t *data, size_t size)
{
	fz_open(f, 0);
	fz_pwrite(f, data, size, 0);
}

/* A read stream over a memfd holding the bytes (XML parsers).  fclose() it. */
static inline FILE *fz_stream(const uint8_t *data, size_t size)
{
	struct fz_file f;
	FILE *in;
	fz_from_bytes(&f, data, size);
	lseek(f.fd, 0, SEEK_SET);
	in = fdopen(f.fd, "r");
	if (!in)
		abort();
	return in;
}

static inline uint32_t fz_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void fz_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static const uint32_t fz_salts[5] = {0, 160774, 121107, 240779, 160478};

static inline void fz_fixup_block(uint8_t *b)
{
	if (b[0] == 'F' && b[1] == 'Z' && b[2] >= 1 && b[2] <= 4 && b[3] == 0)
		fz_put_le32(b, meta_block_csum(b, FZ_BLOCK, fz_salts[b[2]]));
}

/* The mikulas store superblock's checksum (multisnap-store(5)): crc32c of bytes 12..4095
 * seeded 0xffffffff, xor "UKIM", little-endian at byte 8. */
static inline void fz_fixup_mikulas_sb(uint8_t *b)
{
	if (!memcmp(b, "DMMSMIKU", 8))
		fz_put_le32(b + 8, meta_crc32c(0xffffffffu, b + 12, FZ_BLOCK - 12) ^ 0x4d494b55u);
}

struct fz_image {
	uint8_t flags;
	uint32_t aux;
	uint64_t size;
	struct fz_file f;
};

/*
 * Decode the sparse image format into a memfd of at least min_size bytes.  Returns -1 (and
 * no file) when the input is too short to hold the header.
 */
static inline int fz_image(struct fz_image *im, const uint8_t *data, size_t size,
			   uint64_t min_size)
{
	uint8_t *img, touched[FZ_MAX_IMAGE / FZ_BLOCK / 8];
	size_t pos = FZ_HDR;
	if (size < FZ_HDR)
		return -1;
	im->flags = data[0];
	im->size = fz_le32(data + 1);
	im->aux = fz_le32(data + 5);
	if (im->size > FZ_MAX_IMAGE)
		im->size = FZ_MAX_IMAGE;
	if (im->size < min_size)
		im->size = min_size;
	/* the image is built in memory only where records land, then written block by block */
	fz_open(&im->f, im->size);
	img = calloc(1, FZ_BLOCK);
	if (!img)
		abort();
	memset(touched, 0, sizeof(touched));
	while (pos + 6 <= size) {
		uint64_t off = fz_le32(data + pos);
		size_t len = (size_t)data[pos + 4] | (size_t)data[pos + 5] << 8;
		pos += 6;
		if (len > size - pos)
			len = size - pos;
		if (off < im->size) {
			size_t n = off + len > im->size ? (size_t)(im->size - off) : len;
			fz_pwrite(&im->f, data + pos, n, off);
			for (uint64_t b = off / FZ_BLOCK; n && b <= (off + n - 1) / FZ_BLOCK; b++)
				touched[b / 8] |= (uint8_t)(1u << (b % 8));
		}
		pos += len;
	}
	if (!(im->flags & FZ_NO_FIXUP)) {
		for (uint64_t b = 0; b < im->size / FZ_BLOCK; b++) {
			if (!(touched[b / 8] & (1u << (b % 8))) ||
			    pread(im->f.fd, img, 4, (off_t)(b * FZ_BLOCK)) != 4 || img[0] != 'F' ||
			    img[1] != 'Z')
				continue;
			if (pread(im->f.fd, img, FZ_BLOCK, (off_t)(b * FZ_BLOCK)) != FZ_BLOCK)
				abort();
			fz_fixup_block(img);
			fz_pwrite(&im->f, img, 4, b * FZ_BLOCK);
		}
		if ((touched[0] & 1) && im->size >= FZ_BLOCK &&
		    pread(im->f.fd, img, FZ_BLOCK, 0) == FZ_BLOCK && !memcmp(img, "DMMSMIKU", 8)) {
			fz_fixup_mikulas_sb(img);
			fz_pwrite(&im->f, img + 8, 4, 8);
		}
	}
	free(img);
	return 0;
}

static inline void fz_image_close(struct fz_image *im)
{
	fz_close(&im->f);
}

/* A damage callback that only counts. */
static inline void fz_count_damage(void *ctx, const struct meta_damage *d)
{
	(void)d;
	if (ctx)
		++*(uint64_t *)ctx;
}

#endif

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libmeta block manager: 4096-byte metadata blocks over a meta_io, a block
 * cache, one validator per block type, and a batched reader.
 *
 * Validators (kernel dm_block_validator model): each block type's validator lives
 * with its structure (btree.h, sm.h, thin.h; a new format adds its own without
 * touching this file).  On read it checks the block's checksum (crc32c of bytes
 * 4..4095, xor a per-type salt, stored in bytes 0..3), then its self-location
 * (blocknr field), then type-specific bounds; on write it stamps blocknr and
 * checksum.  meta_block_check() and meta_block_prepare() are the shared first two
 * steps.  A validator failure is returned as an error code (META_E_CHECKSUM,
 * META_E_BLOCKNR, META_E_CORRUPT, ...), never asserted.
 *
 * meta_bm_read_batch() is the fast path for checkers and dumpers: it sorts the
 * requested block numbers, coalesces neighbours into large preads, validates
 * every block and hands each one to a callback in ascending block order,
 * without polluting the cache.
 */
#ifndef LIBMETA_BM_H
#define LIBMETA_BM_H

#include <stddef.h>
#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/io.h>

#define META_BLOCK_SIZE 4096u
#define META_SECTOR_SIZE 512u

struct meta_validator {
	const char *name;
	uint32_t csum_xor;
	/* 0 or META_E_CHECKSUM / META_E_BLOCKNR / META_E_CORRUPT. */
	int (*check)(const struct meta_validator *v, const void *data, uint64_t blocknr);
	/* Stamp blocknr and checksum before a write. */
	void (*prepare)(const struct meta_validator *v, void *data, uint64_t blocknr);
};

/*
 * The checks every validator starts with: the le32 at 0 must be the block's
 * checksum xor v->csum_xor (else META_E_CHECKSUM), then the le64 at blocknr_off
 * must be b (else META_E_BLOCKNR).  A block wrong in both (a zeroed or foreign
 * block) is a checksum error, as thin-provisioning-tools and the golden outputs
 * say; the kernel checks the location first.
 */
META_API int meta_block_check(const struct meta_validator *v, const void *data, uint64_t b,
			      size_t blocknr_off);
/* Stamp b at blocknr_off, then the checksum at 0. */
META_API void meta_block_prepare(const struct meta_validator *v, void *data, uint64_t b,
				 size_t blocknr_off);

struct meta_bm;

/* cache_blocks: number of cached blocks (0 = default 1024). Takes ownership of io. */
META_API int meta_bm_create(struct meta_io *io, size_t cache_blocks, struct meta_bm **out);
/* The same over an io the caller keeps: meta_bm_destroy() then leaves io open. */
META_API int meta_bm_create_borrowed(struct meta_io *io, size_t cache_blocks, struct meta_bm **out);
META_API void meta_bm_destroy(struct meta_bm *bm);
META_API struct meta_io *meta_bm_io(struct meta_bm *bm);
META_API uint64_t meta_bm_nr_blocks(const struct meta_bm *bm);

/*
 * Read block b through the cache and validate it (v may be NULL: raw read).
 * *data stays valid until meta_bm_put(bm, *data).  Every successful get needs a put.
 */
META_API int meta_bm_get(struct meta_bm *bm, uint64_t b, const struct meta_validator *v,
			 const void **data);
META_API void meta_bm_put(struct meta_bm *bm, const void *data);

/*
 * Batched read.  For every block in blocks[0..n) (sorted and de-duplicated in
 * place), read it and call fn(ctx, b, data, err): err is 0 when v accepted the
 * block, else the validator's or I/O's error code (data then still points to
 * what was read, or to zeros on I/O error).  fn returns 0 to continue, non-zero
 * to stop (that value is returned).  Blocks past the end give META_E_RANGE.
 * A lone block (no neighbour within the coalescing gap) that the cache holds, e.g.
 * after meta_bm_prefetch() on a device, is taken from the cache instead of read.
 */
typedef int (*meta_bm_batch_fn)(void *ctx, uint64_t b, const void *data, int err);
META_API int meta_bm_read_batch(struct meta_bm *bm, uint64_t *blocks, size_t n,
				const struct meta_validator *v, meta_bm_batch_fn fn, void *ctx);
/*
 * With on != 0, meta_bm_read_batch() calls of more than 64 blocks read and validate on a
 * second thread, ahead of fn (16 runs of up to 64 blocks, 4 MiB): the same blocks, data,
 * errors and order, fn still on the caller's thread; on files (not under O_DIRECT) a third
 * thread asks the kernel to read the batch's blocks into the page cache up to 64 MiB ahead
 * of the second (POSIX_FADV_WILLNEED).  fn must not write blocks of the batch.  Off by
 * default.
 */
META_API void meta_bm_set_read_ahead(struct meta_bm *bm, int on);
/*
 * pre (NULL: none) is called for every block of a meta_bm_read_batch() that the validator
 * accepted, before fn gets it: with read-ahead on the reader thread, ahead of fn and
 * concurrently with fn's calls for earlier blocks, so it may only read what fn does not
 * change during the batch and write what fn reads for that block alone.
 */
typedef void (*meta_bm_pre_fn)(void *ctx, uint64_t b, const void *data);
META_API void meta_bm_set_batch_pre(struct meta_bm *bm, meta_bm_pre_fn pre, void *ctx);

/*
 * Read-ahead: ask the kernel to start reading these blocks (sorted and
 * coalesced into ranges first; blocks past the end are ignored) so later gets
 * overlap.  Cached blocks are not asked for.  blocks[] is sorted in place.
 * On O_DIRECT devices (no kernel read-ahead) the blocks are read into the
 * cache at once, in coalesced runs, up to half the cache per call.
 */
META_API void meta_bm_prefetch(struct meta_bm *bm, uint64_t *blocks, size_t n);
/*
 * Read these blocks into the cache at once, on files as on devices, as meta_bm_prefetch()
 * does on devices: a few large reads instead of one read per later get (a tree walk's
 * leaves: thousands of 4 KiB reads otherwise).  blocks[] is sorted in place.
 */
META_API void meta_bm_prefetch_now(struct meta_bm *bm, uint64_t *blocks, size_t n);

/* Write a full block: v->prepare() stamps it first (v may be NULL). Updates the cache. */
META_API int meta_bm_write(struct meta_bm *bm, uint64_t b, const struct meta_validator *v,
			   void *data);
META_API int meta_bm_flush(struct meta_bm *bm);
/* Forget cached contents (after writes behind the cache's back). */
META_API void meta_bm_invalidate(struct meta_bm *bm);

#endif

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The entries of a space-map bitmap block, for its readers and writers (private to
 * libmeta; layout in include/libmeta/sm.h): after struct disk_bitmap_header, le64
 * words of 32 two-bit entries; entry k of a word has its high bit at 2k and its low
 * bit at 2k+1.  0, 1, 2 are counts, 3 says "look in the ref-count tree".  Nothing
 * here checks a bound: i < META_SM_ENTRIES_PER_BITMAP and v <= 3 are the caller's.
 *
 * Users: pdata/sm.c (the reader), pdata/pdata_write.c (the bulk builder),
 * pdata/sm_tx.c (tests/unit/unit_base.c keeps its own, written from the layout, as
 * the tests' oracle).
 */
#ifndef LIBMETA_PDATA_SM_BITMAP_H
#define LIBMETA_PDATA_SM_BITMAP_H

#include <stdint.h>

#include "base/endian.h"
#include "pdata/ondisk.h"

/* Bit k of the result (even k only) is set when entry k/2 of word w is not 0. */
#define SM_BITMAP_LOW_BITS 0x5555555555555555ull

static inline const uint8_t *sm_bitmap_words(const void *block)
{
	return (const uint8_t *)block + sizeof(struct disk_bitmap_header);
}

/* Entry k (0..31) of a word. */
static inline unsigned sm_bitmap_entry(uint64_t w, uint32_t k)
{
	return (unsigned)(((w >> (2 * k)) & 1) << 1 | ((w >> (2 * k + 1)) & 1));
}

/* The bits of a word that hold value v (0..3) at entry k. */
static inline uint64_t sm_bitmap_bits(unsigned v, uint32_t k)
{
	return (uint64_t)((v >> 1) & 1) << (2 * k) | (uint64_t)(v & 1) << (2 * k + 1);
}

/* One bit per entry of w, at 2k: set when entry k is not 0. */
static inline uint64_t sm_bitmap_nonzero(uint64_t w)
{
	return (w | w >> 1) & SM_BITMAP_LOW_BITS;
}

static inline unsigned sm_bitmap_get(const void *block, uint32_t i)
{
	return sm_bitmap_entry(get_le64p(sm_bitmap_words(block) + 8 * (i / 32)), i % 32);
}

static inline void sm_bitmap_set(void *block, uint32_t i, unsigned v)
{
	uint8_t *p = (uint8_t *)block + sizeof(struct disk_bitmap_header) + 8 * (i / 32);
	uint64_t w = get_le64p(p);
	w &= ~(3ull << (2 * (i % 32)));
	put_le64p(p, w | sm_bitmap_bits(v, i % 32));
}

/* The free (0) entries among the first n of a bitmap, and the first of them (n: none). */
static inline void sm_bitmap_free(const void *block, uint32_t n, uint32_t *nr_free,
				  uint32_t *first_free)
{
	const uint8_t *words = sm_bitmap_words(block);
	uint32_t nf = 0, ff = n;
	for (uint32_t e = 0; e < n; e += 32) {
		uint64_t w = get_le64p(words + 8 * (e / 32));
		uint64_t free_bits = ~sm_bitmap_nonzero(w) & SM_BITMAP_LOW_BITS;
		if (n - e < 32)
			free_bits &= (1ull << (2 * (n - e))) - 1;
		if (free_bits && ff == n)
			ff = e + (uint32_t)__builtin_ctzll(free_bits) / 2;
		nf += (uint32_t)__builtin_popcountll(free_bits);
	}
	*nr_free = nf;
	*first_free = ff;
}

#endif

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One reference-count store for checkers and builders (thin_check's metadata and
 * data counts, thin_restore's data space map): a small saturating counter per block
 * plus, for the rare blocks past it, a record of the count above the counter's top
 * (12 bytes each, indexed by base/hash.h's meta_hidx).  Two widths:
 *   - bytes (meta_rc_init): 0..254 exact, 255 = "255 or more".  The raw bytes are
 *     public: hot loops and writers may read c[b] as the count while it is below 255
 *     (and "0, 1, 2, 3 or more" straight from them for a space-map bitmap).
 *   - nibbles (meta_rc_init4): two blocks per byte (block b in the low half of c[b/2]
 *     when b is even, the high half when odd), 0..14 exact, 15 = "15 or more".  Half
 *     the memory where few counts pass 14 (thin_check's data counts when the pool has
 *     at most 14 devices); use meta_rc_inc()/meta_rc_get() only, never the raw bytes.
 *
 * Checks: the counts saturate at 2^32 - 1 instead of wrapping; meta_rc_get()
 * answers 0 past nr.  Does not check: b < nr in meta_rc_inc() (the caller
 * range-checks the block first, as it must to report it); there is no decrement.
 *
 * Two stores may share one counter array (meta_rc_share): each has its own
 * overflow records, so two threads may count disjoint ranges of blocks (with
 * nibbles, ranges split at an even block: the two halves of a byte are one
 * memory location).  Nothing else is thread-safe.
 */
#ifndef LIBMETA_PDATA_REFCOUNT_H
#define LIBMETA_PDATA_REFCOUNT_H

#include <stdint.h>

#include "base/hash.h"

/* A block whose byte is 255: its number (two halves: 12 bytes, no padding) and count - 255. */
struct meta_rc_big {
	uint32_t lo, hi;
	uint32_t extra;
};

struct meta_refcount {
	uint8_t *c;
	uint64_t nr;            /* blocks [0, nr) */
	struct meta_rc_big *big; /* the blocks past the counter's top, in the order they got there */
	size_t nbig, capbig;
	struct meta_hidx ovf;   /* index of big[] by block number */
	int shared;             /* c belongs to another store */
	uint8_t nib;            /* 1: nibble counters (meta_rc_init4) */
	uint8_t top;            /* the counter's "or more" value: 255, or 15 with nibbles */
};

/* nr zero counts, a byte each; 0 or META_E_NOMEM. */
int meta_rc_init(struct meta_refcount *rc, uint64_t nr);
/* nr zero counts, half a byte each; 0 or META_E_NOMEM. */
int meta_rc_init4(struct meta_refcount *rc, uint64_t nr);
/* rc counts in of's counters with an overflow table of its own; free rc before of. */
void meta_rc_share(struct meta_refcount *rc, const struct meta_refcount *of);
void meta_rc_free(struct meta_refcount *rc);

/* The slow half of meta_rc_inc(): b's counter is at its top. */
int meta_rc_inc_ovf(struct meta_refcount *rc, uint64_t b);

/* One more reference to block b (< nr); 0 or META_E_NOMEM. */
static inline int meta_rc_inc(struct meta_refcount *rc, uint64_t b)
{
	if (rc->nib) {
		uint8_t *p = &rc->c[b >> 1];
		unsigned sh = (unsigned)(b & 1u) << 2;
		if (((unsigned)*p >> sh & 15u) < 15u) {
			*p = (uint8_t)(*p + (1u << sh));
			return 0;
		}
	} else if (rc->c[b] < 255) {
		rc->c[b]++;
		return 0;
	}
	return meta_rc_inc_ovf(rc, b);
}

/* Ask the cache for b's counter (b < nr), about to be counted: a hint, never a fault. */
static inline void meta_rc_prefetch(const struct meta_refcount *rc, uint64_t b)
{
	__builtin_prefetch(rc->c + (rc->nib ? b >> 1 : b), 1, 0);
}

/* The slow half of meta_rc_get(): b < nr and b's counter is at its top. */
uint32_t meta_rc_get_ovf(const struct meta_refcount *rc, uint64_t b);

/* The count of b (0 past nr). */
static inline uint32_t meta_rc_get(const struct meta_refcount *rc, uint64_t b)
{
	if (b >= rc->nr)
		return 0;
	unsigned v = rc->nib ? (unsigned)rc->c[b >> 1] >> ((b & 1u) << 2) & 15u : rc->c[b];
	if (v < rc->top)
		return v;
	return meta_rc_get_ovf(rc, b);
}

/*
 * How many of counts[0..n) equal the counts of blocks first, first + 1, ... in a row: the
 * number of leading entries that match, stopping short of a block past nr or a counter at
 * its top (the caller compares those with meta_rc_get()).  A tight loop for comparing long
 * runs of counts, as thin_check does with a space map.
 */
uint32_t meta_rc_match(const struct meta_refcount *rc, uint64_t first, const uint32_t *counts,
		       uint32_t n);

#endif

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One reference-count store for checkers and builders (thin_check's metadata and
 * data counts, thin_restore's data space map): one saturating byte per block
 * (0..254 exact; 255 = "255 or more") plus, for the rare blocks at 255 and more,
 * a record of the count above 255 (12 bytes each, indexed by base/hash.h's
 * meta_hidx).  Raw bytes are public so that hot loops can bump c[b] in place
 * while it is below 255 (and read "0, 1, 2, 3 or more" straight from them for a
 * space-map bitmap) and call meta_rc_inc() past it.
 *
 * Checks: the counts saturate at 2^32 - 1 instead of wrapping; meta_rc_get()
 * answers 0 past nr.  Does not check: b < nr in meta_rc_inc() (the caller
 * range-checks the block first, as it must to report it); there is no decrement.
 *
 * Two stores may share one byte array (meta_rc_share): each has its own
 * overflow records, so two threads may count disjoint ranges of blocks.  Nothing
 * else is thread-safe.
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
	struct meta_rc_big *big; /* the blocks at 255 or more, in the order they got there */
	size_t nbig, capbig;
	struct meta_hidx ovf;   /* index of big[] by block number */
	int shared;             /* c belongs to another store */
};

/* nr zero counts; 0 or META_E_NOMEM. */
int meta_rc_init(struct meta_refcount *rc, uint64_t nr);
/* rc counts in of's bytes with an overflow table of its own; free rc before of. */
void meta_rc_share(struct meta_refcount *rc, const struct meta_refcount *of);
void meta_rc_free(struct meta_refcount *rc);

/* The slow half of meta_rc_inc(): c[b] is 255. */
int meta_rc_inc_ovf(struct meta_refcount *rc, uint64_t b);

/* One more reference to block b (< nr); 0 or META_E_NOMEM. */
static inline int meta_rc_inc(struct meta_refcount *rc, uint64_t b)
{
	if (rc->c[b] < 255) {
		rc->c[b]++;
		return 0;
	}
	return meta_rc_inc_ovf(rc, b);
}

/* The slow half of meta_rc_get(): b < nr and c[b] is 255. */
uint32_t meta_rc_get_ovf(const struct meta_refcount *rc, uint64_t b);

/* The count of b (0 past nr). */
static inline uint32_t meta_rc_get(const struct meta_refcount *rc, uint64_t b)
{
	if (b >= rc->nr)
		return 0;
	if (rc->c[b] < 255)
		return rc->c[b];
	return meta_rc_get_ovf(rc, b);
}

#endif

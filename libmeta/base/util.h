/* SPDX-License-Identifier: GPL-2.0-only */
/* Small private helpers shared by libmeta's modules. */
#ifndef LIBMETA_UTIL_H
#define LIBMETA_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <libmeta/damage.h>

/*
 * Make room for `need` elements of `elem` bytes in the array *p of capacity *cap
 * (doubling, at least 64).  0, or META_E_NOMEM with *p and *cap unchanged.
 */
int meta_grow(void **p, size_t *cap, size_t need, size_t elem);

/*
 * Large arrays that are filled from scratch (counts, queues of blocks, sort buffers, read
 * buffers).  Each 4 KiB page first touched costs a page fault: 11 us in the VM the
 * benchmarks run in (bench/README), less on bare metal; 10,000 of them in a check of a
 * 100M-mapping pool before these.  From META_HUGE_MIN bytes an array gets its own mapping,
 * aligned to 2 MiB and advised for transparent huge pages (one fault per 2 MiB where the
 * kernel has them, plain pages where THP is off); below, calloc().  Zeroed; from
 * META_HUGE_MIN bytes page-aligned (O_DIRECT buffers).  meta_huge_free() and
 * meta_huge_grow() take the size the array was allocated with (NULL is freed as nothing).
 * Under AddressSanitizer every array comes from the allocator instead, where ASan checks
 * its bounds and its leaks (META_HUGE_MAPPED 0).
 */
#define META_HUGE_MIN ((size_t)2 << 20)
#if defined(__SANITIZE_ADDRESS__)
#define META_HUGE_MAPPED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define META_HUGE_MAPPED 0
#endif
#endif
#ifndef META_HUGE_MAPPED
#define META_HUGE_MAPPED 1
#endif
void *meta_huge_alloc(size_t bytes);
void meta_huge_free(void *p, size_t bytes);
/* meta_grow() for an array from meta_huge_alloc() (or NULL with *cap 0): as there, the new
 * elements are not initialised */
int meta_huge_grow(void **p, size_t *cap, size_t need, size_t elem);

/*
 * The one damage-record constructor: kind k with its default severity and the
 * fields given (block and dev UINT64_MAX for none, detail may be NULL).  Tools
 * route the record themselves (counting, filtering, adding the current device).
 */
struct meta_damage meta_damage_make(enum meta_damage_kind k, uint64_t block, uint64_t dev,
				    uint64_t begin, uint64_t end, uint64_t count,
				    const char *detail);

/*
 * Report one damage of kind k (its default severity) through fn (may be NULL)
 * and return that severity, for callers that keep the worst one.
 */
int meta_report(meta_damage_fn fn, void *ctx, enum meta_damage_kind k, uint64_t block,
		uint64_t begin, uint64_t end, uint64_t count, const char *detail);

/* The first index i of the ascending v[0..n) with v[i] >= key (n when none). */
static inline size_t meta_u64_lower_bound(const uint64_t *v, size_t n, uint64_t key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Sort the n elements of `size` bytes at base by key(elem), ascending and stable, with
 * key(elem) < 2^key_bits for every element: an LSD radix sort in 11-bit digits (a pass
 * per digit, skipped when every key has the same digit).  tmp holds n * size bytes.
 * For the large arrays of block numbers the walks sort (thin_check's levels: 2-3 passes
 * where qsort makes ~17 comparisons per element).
 */
void meta_radix_sort(void *base, size_t n, size_t size, uint64_t (*key)(const void *),
		     unsigned key_bits, void *tmp);

/*
 * Sort n elements of `size` bytes at base in key order (key(elem) <= max_key; cmp orders
 * them the same way): meta_radix_sort() when n >= 4096 and its buffer can be had, else qsort.
 * The large levels of the tree walks.
 */
void meta_sort_by_key(void *base, size_t n, size_t size, uint64_t (*key)(const void *),
		      uint64_t max_key, int (*cmp)(const void *, const void *));

/*
 * v in decimal, written backwards so that it ends just before end (at most 20
 * digits); returns its first digit.  The XML writers' number formatter.
 */
extern const char meta_digits2[201];
static inline char *meta_u64_dec(char *end, uint64_t v)
{
	char *p = end;
	while (v >= 100) {
		unsigned d = (unsigned)(v % 100) * 2;
		v /= 100;
		*--p = meta_digits2[d + 1];
		*--p = meta_digits2[d];
	}
	if (v >= 10) {
		unsigned d = (unsigned)v * 2;
		*--p = meta_digits2[d + 1];
		*--p = meta_digits2[d];
	} else {
		*--p = (char)('0' + v);
	}
	return p;
}

#endif

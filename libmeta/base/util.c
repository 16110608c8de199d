/* SPDX-License-Identifier: GPL-2.0-only */
#include <libmeta/error.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/util.h"

struct meta_damage meta_damage_make(enum meta_damage_kind k, uint64_t block, uint64_t dev,
				    uint64_t begin, uint64_t end, uint64_t count,
				    const char *detail)
{
	struct meta_damage d;
	meta_damage_init(&d, k);
	d.block = block;
	d.dev_id = dev;
	d.begin = begin;
	d.end = end;
	d.count = count;
	d.detail = detail;
	return d;
}

int meta_report(meta_damage_fn fn, void *ctx, enum meta_damage_kind k, uint64_t block,
		uint64_t begin, uint64_t end, uint64_t count, const char *detail)
{
	struct meta_damage d = meta_damage_make(k, block, UINT64_MAX, begin, end, count, detail);
	if (fn)
		fn(ctx, &d);
	return (int)d.severity;
}

/* The capacity meta_grow() and meta_huge_grow() go to for need > cap: 0 when its bytes
 * would not fit a size_t. */
static size_t grown_cap(size_t cap, size_t need, size_t elem)
{
	size_t nc = cap ? cap : 64;
	while (nc < need) {
		if (nc > SIZE_MAX / 2)
			return 0;
		nc *= 2;
	}
	return nc > SIZE_MAX / elem ? 0 : nc;
}

int meta_grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t nc = grown_cap(*cap, need, elem);
	void *np = nc ? realloc(*p, nc * elem) : NULL;
	if (!np)
		return META_E_NOMEM;
	*p = np;
	*cap = nc;
	return 0;
}

static size_t huge_round(size_t bytes)
{
	return (bytes + META_HUGE_MIN - 1) & ~(META_HUGE_MIN - 1);
}

void *meta_huge_alloc(size_t bytes)
{
	if (bytes < META_HUGE_MIN)
		return calloc(bytes ? bytes : 1, 1);
	size_t len = huge_round(bytes);
	if (len < bytes || len + META_HUGE_MIN < len)
		return NULL;
	if (!META_HUGE_MAPPED) {
		void *p;
		if (posix_memalign(&p, 4096, bytes))
			return NULL;
		return memset(p, 0, bytes);
	}
	/* map one huge page more and trim to a 2 MiB boundary */
	uint8_t *m = mmap(NULL, len + META_HUGE_MIN, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	size_t head = (META_HUGE_MIN - ((uintptr_t)m & (META_HUGE_MIN - 1))) & (META_HUGE_MIN - 1);
	if (head)
		munmap(m, head);
	if (META_HUGE_MIN - head)
		munmap(m + head + len, META_HUGE_MIN - head);
#ifdef MADV_HUGEPAGE
	(void)madvise(m + head, len, MADV_HUGEPAGE); /* advice: failure changes nothing */
#endif
	return m + head;
}

void meta_huge_free(void *p, size_t bytes)
{
	if (!p)
		return;
	if (bytes < META_HUGE_MIN || !META_HUGE_MAPPED)
		free(p);
	else
		munmap(p, huge_round(bytes));
}

int meta_huge_grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t nc = grown_cap(*cap, need, elem);
	if (!nc)
		return META_E_NOMEM;
	size_t old = *cap * elem, nb = nc * elem;
	void *np;
	if (nb < META_HUGE_MIN) { /* and so was the old array: both from calloc() */
		np = realloc(*p, nb);
		if (!np)
			return META_E_NOMEM;
	} else {
		np = meta_huge_alloc(nb);
		if (!np)
			return META_E_NOMEM;
		if (*p)
			memcpy(np, *p, old);
		meta_huge_free(*p, old);
	}
	*p = np;
	*cap = nc;
	return 0;
}

const char meta_digits2[201] = "00010203040506070809"
			       "10111213141516171819"
			       "20212223242526272829"
			       "30313233343536373839"
			       "40414243444546474849"
			       "50515253545556575859"
			       "60616263646566676869"
			       "70717273747576777879"
			       "80818283848586878889"
			       "90919293949596979899";

#define RADIX_BITS 11u
#define RADIX_SIZE (1u << RADIX_BITS)

void meta_radix_sort(void *base, size_t n, size_t size, uint64_t (*key)(const void *),
		     unsigned key_bits, void *tmp)
{
	size_t count[RADIX_SIZE];
	unsigned char *src = base, *dst = tmp;
	for (unsigned shift = 0; shift < key_bits && shift < 64; shift += RADIX_BITS) {
		memset(count, 0, sizeof(count));
		for (size_t i = 0; i < n; i++)
			count[key(src + i * size) >> shift & (RADIX_SIZE - 1)]++;
		size_t sum = 0, used = 0;
		for (unsigned d = 0; d < RADIX_SIZE; d++) {
			size_t c = count[d];
			count[d] = sum;
			sum += c;
			used += c != 0;
		}
		if (used <= 1)
			continue; /* one digit for all: this pass would not move anything */
		for (size_t i = 0; i < n; i++) {
			const unsigned char *e = src + i * size;
			memcpy(dst + count[key(e) >> shift & (RADIX_SIZE - 1)]++ * size, e, size);
		}
		unsigned char *t = src;
		src = dst;
		dst = t;
	}
	if (src != base)
		memcpy(base, src, n * size);
}

void meta_sort_by_key(void *base, size_t n, size_t size, uint64_t (*key)(const void *),
		      uint64_t max_key, int (*cmp)(const void *, const void *))
{
	void *tmp = n >= 4096 ? meta_huge_alloc(n * size) : NULL;
	unsigned bits = 1;
	if (!tmp) {
		qsort(base, n, size, cmp);
		return;
	}
	while (bits < 64 && max_key >> bits)
		bits++;
	meta_radix_sort(base, n, size, key, bits, tmp);
	meta_huge_free(tmp, n * size);
}

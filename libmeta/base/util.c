/* SPDX-License-Identifier: GPL-2.0-only */
#include <libmeta/error.h>

#include <stdlib.h>
#include <string.h>

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

int meta_grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t nc;
	void *np;
	if (need <= *cap)
		return 0;
	nc = *cap ? *cap : 64;
	while (nc < need)
		nc *= 2;
	np = realloc(*p, nc * elem);
	if (!np)
		return META_E_NOMEM;
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
	void *tmp = n >= 4096 ? malloc(n * size) : NULL;
	unsigned bits = 1;
	if (!tmp) {
		qsort(base, n, size, cmp);
		return;
	}
	while (bits < 64 && max_key >> bits)
		bits++;
	meta_radix_sort(base, n, size, key, bits, tmp);
	free(tmp);
}

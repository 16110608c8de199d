/* SPDX-License-Identifier: GPL-2.0-only */
#include <libmeta/error.h>

#include <stdlib.h>

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

/* SPDX-License-Identifier: GPL-2.0-only */
#include <libmeta/error.h>

#include <stdlib.h>

#include "util.h"

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

/* SPDX-License-Identifier: GPL-2.0-only */
/* Reference-count store (see pdata/refcount.h). */
#include "pdata/refcount.h"

#include <stdlib.h>
#include <string.h>

#include <libmeta/error.h>

int meta_rc_init(struct meta_refcount *rc, uint64_t nr)
{
	memset(rc, 0, sizeof(*rc));
	rc->nr = nr;
	rc->c = calloc(nr ? nr : 1, 1);
	return rc->c ? META_OK : META_E_NOMEM;
}

void meta_rc_share(struct meta_refcount *rc, const struct meta_refcount *of)
{
	memset(rc, 0, sizeof(*rc));
	rc->c = of->c;
	rc->nr = of->nr;
	rc->shared = 1;
}

void meta_rc_free(struct meta_refcount *rc)
{
	if (!rc->shared)
		free(rc->c);
	meta_hash_free(&rc->ovf);
	memset(rc, 0, sizeof(*rc));
}

int meta_rc_inc_ovf(struct meta_refcount *rc, uint64_t b)
{
	uint64_t *v = meta_hash_insert(&rc->ovf, b, NULL);
	if (!v)
		return META_E_NOMEM;
	if (*v < UINT32_MAX - 255)
		(*v)++;
	return META_OK;
}

uint32_t meta_rc_get(const struct meta_refcount *rc, uint64_t b)
{
	const uint64_t *v;
	if (b >= rc->nr)
		return 0;
	if (rc->c[b] < 255)
		return rc->c[b];
	v = meta_hash_find(&rc->ovf, b);
	return 255u + (v ? (uint32_t)*v : 0);
}

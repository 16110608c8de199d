/* SPDX-License-Identifier: GPL-2.0-only */
/* Reference-count store (see pdata/refcount.h). */
#include "pdata/refcount.h"

#include <stdlib.h>
#include <string.h>

#include <libmeta/error.h>

#include "base/util.h"

/* The counters' bytes: a byte each, or half a byte (meta_rc_init4) */
static size_t rc_bytes(const struct meta_refcount *rc)
{
	return rc->nib ? (size_t)(rc->nr / 2 + 1) : (size_t)(rc->nr ? rc->nr : 1);
}

int meta_rc_init(struct meta_refcount *rc, uint64_t nr)
{
	memset(rc, 0, sizeof(*rc));
	rc->nr = nr;
	rc->top = 255;
	rc->c = meta_huge_alloc(rc_bytes(rc));
	return rc->c ? META_OK : META_E_NOMEM;
}

int meta_rc_init4(struct meta_refcount *rc, uint64_t nr)
{
	memset(rc, 0, sizeof(*rc));
	rc->nr = nr;
	rc->nib = 1;
	rc->top = 15;
	rc->c = meta_huge_alloc(rc_bytes(rc));
	return rc->c ? META_OK : META_E_NOMEM;
}

void meta_rc_share(struct meta_refcount *rc, const struct meta_refcount *of)
{
	memset(rc, 0, sizeof(*rc));
	rc->c = of->c;
	rc->nr = of->nr;
	rc->nib = of->nib;
	rc->top = of->top;
	rc->shared = 1;
}

void meta_rc_free(struct meta_refcount *rc)
{
	if (!rc->shared)
		meta_huge_free(rc->c, rc_bytes(rc));
	free(rc->big);
	meta_hidx_free(&rc->ovf);
	memset(rc, 0, sizeof(*rc));
}

static uint64_t big_block(const void *ctx, uint32_t i)
{
	const struct meta_rc_big *x = &((const struct meta_refcount *)ctx)->big[i];
	return (uint64_t)x->hi << 32 | x->lo;
}

int meta_rc_inc_ovf(struct meta_refcount *rc, uint64_t b)
{
	int64_t i = meta_hidx_find(&rc->ovf, b, big_block, rc);
	if (i < 0) {
		if (rc->nbig >= UINT32_MAX - 2 ||
		    meta_grow((void **)&rc->big, &rc->capbig, rc->nbig + 1, sizeof(*rc->big)))
			return META_E_NOMEM;
		rc->big[rc->nbig] = (struct meta_rc_big){(uint32_t)b, (uint32_t)(b >> 32), 0};
		if (meta_hidx_add(&rc->ovf, (uint32_t)rc->nbig, big_block, rc))
			return META_E_NOMEM;
		i = (int64_t)rc->nbig++;
	}
	if (rc->big[i].extra < UINT32_MAX - rc->top)
		rc->big[i].extra++;
	return META_OK;
}

uint32_t meta_rc_get_ovf(const struct meta_refcount *rc, uint64_t b)
{
	int64_t i = meta_hidx_find(&rc->ovf, b, big_block, rc);
	return rc->top + (i >= 0 ? rc->big[i].extra : 0);
}

uint32_t meta_rc_match(const struct meta_refcount *rc, uint64_t first, const uint32_t *counts,
		       uint32_t n)
{
	const uint8_t *c = rc->c;
	unsigned top = rc->top;
	uint32_t i = 0;
	if (!n || first >= rc->nr)
		return 0;
	if (n > rc->nr - first)
		n = (uint32_t)(rc->nr - first);
	if (rc->nib) {
		if (first & 1u) { /* to an even block: the loop below takes whole bytes */
			unsigned v = (unsigned)c[first >> 1] >> 4;
			if (v >= top || v != counts[0])
				return 0;
			i = 1;
		}
		for (; i + 1 < n; i += 2) {
			unsigned x = c[(first + i) >> 1], lo = x & 15u, hi = x >> 4;
			if (lo >= top || lo != counts[i])
				return i;
			if (hi >= top || hi != counts[i + 1])
				return i + 1;
		}
		if (i < n) {
			unsigned v = (unsigned)c[(first + i) >> 1] & 15u;
			if (v < top && v == counts[i])
				i++;
		}
		return i;
	}
	for (; i < n; i++)
		if (c[first + i] >= top || c[first + i] != counts[i])
			break;
	return i;
}

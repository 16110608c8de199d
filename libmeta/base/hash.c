/* SPDX-License-Identifier: GPL-2.0-only */
/* Open-addressing hash table (see base/hash.h). */
#include "base/hash.h"

#include <stdlib.h>
#include <string.h>

uint64_t meta_hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ull;
	return h == UINT64_MAX ? h - 1 : h; /* never the one key a table refuses */
}

void meta_hash_init(struct meta_hash *h)
{
	memset(h, 0, sizeof(*h));
}

void meta_hash_free(struct meta_hash *h)
{
	free(h->s);
	memset(h, 0, sizeof(*h));
}

/* The slot holding key + 1, or the empty slot where it would go (cap > 0). */
static size_t probe(const struct meta_hash_slot *s, size_t cap, uint64_t k1)
{
	size_t i = meta_hash_slot_of(k1, cap);
	while (s[i].key && s[i].key != k1)
		i = (i + 1) & (cap - 1);
	return i;
}

uint64_t *meta_hash_find(const struct meta_hash *h, uint64_t key)
{
	size_t i;
	if (!h->cap || key == UINT64_MAX)
		return NULL;
	i = probe(h->s, h->cap, key + 1);
	return h->s[i].key ? &h->s[i].val : NULL;
}

static int grow(struct meta_hash *h)
{
	size_t cap = h->cap ? h->cap * 2 : 64;
	struct meta_hash_slot *ns;
	if (cap < h->cap || cap > SIZE_MAX / sizeof(*ns))
		return -1;
	ns = calloc(cap, sizeof(*ns));
	if (!ns)
		return -1;
	for (size_t i = 0; i < h->cap; i++)
		if (h->s[i].key)
			ns[probe(ns, cap, h->s[i].key)] = h->s[i];
	free(h->s);
	h->s = ns;
	h->cap = cap;
	return 0;
}

uint64_t *meta_hash_insert(struct meta_hash *h, uint64_t key, int *created)
{
	size_t i;
	if (created)
		*created = 0;
	if (key == UINT64_MAX)
		return NULL;
	if (h->cap && h->s[i = probe(h->s, h->cap, key + 1)].key)
		return &h->s[i].val;
	if ((h->used + 1) * 2 > h->cap && grow(h))
		return NULL;
	i = probe(h->s, h->cap, key + 1);
	if (!h->s[i].key) {
		h->s[i].key = key + 1;
		h->s[i].val = 0;
		h->used++;
		if (created)
			*created = 1;
	}
	return &h->s[i].val;
}

void meta_hidx_free(struct meta_hidx *h)
{
	free(h->s);
	meta_hidx_init(h);
}

int meta_hidx_init_cap(struct meta_hidx *h, size_t n)
{
	size_t cap = 1;
	meta_hidx_init(h);
	while (cap < 2 * n) {
		if (cap > SIZE_MAX / 2 / sizeof(*h->s))
			return -1;
		cap *= 2;
	}
	h->s = calloc(cap, sizeof(*h->s));
	if (!h->s)
		return -1;
	h->cap = cap;
	return 0;
}

void meta_hidx_clear(struct meta_hidx *h)
{
	if (h->cap)
		memset(h->s, 0, h->cap * sizeof(*h->s));
	h->used = 0;
}

static void hidx_put(uint32_t *s, size_t cap, uint32_t i, uint64_t key)
{
	size_t k = meta_hash_slot_of(key, cap);
	while (s[k])
		k = (k + 1) & (cap - 1);
	s[k] = i + 1;
}

int meta_hidx_add(struct meta_hidx *h, uint32_t i, meta_hidx_key_fn key_of, const void *ctx)
{
	if ((h->used + 1) * 2 > h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 1024;
		uint32_t *ns = cap > h->cap ? calloc(cap, sizeof(*ns)) : NULL;
		if (!ns)
			return -1;
		for (size_t k = 0; k < h->cap; k++)
			if (h->s[k])
				hidx_put(ns, cap, h->s[k] - 1, key_of(ctx, h->s[k] - 1));
		free(h->s);
		h->s = ns;
		h->cap = cap;
	}
	hidx_put(h->s, h->cap, i, key_of(ctx, i));
	h->used++;
	return 0;
}

void meta_hidx_del(struct meta_hidx *h, uint32_t i, meta_hidx_key_fn key_of, const void *ctx)
{
	size_t mask = h->cap - 1, at, j;
	if (!h->cap)
		return;
	at = meta_hash_slot_of(key_of(ctx, i), h->cap);
	while (h->s[at] != i + 1) {
		if (!h->s[at])
			return; /* not indexed */
		at = (at + 1) & mask;
	}
	/* backward shift: an entry after the hole moves into it unless its home slot lies
	 * cyclically in (hole, entry] */
	for (j = (at + 1) & mask; h->s[j]; j = (j + 1) & mask) {
		size_t home = meta_hash_slot_of(key_of(ctx, h->s[j] - 1), h->cap);
		if (at <= j ? (at < home && home <= j) : (at < home || home <= j))
			continue;
		h->s[at] = h->s[j];
		at = j;
	}
	h->s[at] = 0;
	h->used--;
}

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One open-addressing hash table for libmeta: u64 key -> u64 value, linear
 * probing, a power-of-two number of slots kept at most half full (it doubles
 * as it fills).  Keys are anything but UINT64_MAX (a slot stores key + 1, 0
 * marking it empty).  No deletion: the tables of the walkers only grow.
 *
 * String keys: hash the string with meta_hash_str() and keep the equality
 * test in the caller (the value then names the caller's record, and two
 * strings of one hash need the caller's chain).
 */
#ifndef LIBMETA_HASH_H
#define LIBMETA_HASH_H

#include <stddef.h>
#include <stdint.h>

struct meta_hash_slot {
	uint64_t key; /* key + 1; 0 = empty */
	uint64_t val;
};

struct meta_hash {
	struct meta_hash_slot *s;
	size_t cap;  /* slots: 0 or a power of two */
	size_t used; /* keys held */
};

/* Multiplicative mix of a key (the slot is its top bits, masked). */
static inline size_t meta_hash_slot_of(uint64_t key, size_t cap)
{
	key *= 0x9e3779b97f4a7c15ull;
	return (size_t)(key >> 17) & (cap - 1);
}

/* FNV-1a of a NUL-terminated string (never UINT64_MAX). */
uint64_t meta_hash_str(const char *s);

/* An empty table (no memory until the first insert); meta_hash_free() it. */
void meta_hash_init(struct meta_hash *h);
void meta_hash_free(struct meta_hash *h);

/* The value of key, or NULL if absent (or key is UINT64_MAX). */
uint64_t *meta_hash_find(const struct meta_hash *h, uint64_t key);

/*
 * The value of key, inserted with value 0 if absent (*created, when not NULL,
 * says which).  NULL when the table cannot grow (or key is UINT64_MAX).  The
 * pointer is valid until the next insert.
 */
uint64_t *meta_hash_insert(struct meta_hash *h, uint64_t key, int *created);

/*
 * The same table when the keys already live in the caller's records (an array):
 * a slot holds a record's index + 1 (4 bytes), key_of(ctx, i) gives record i's
 * key.  For large node and cache indexes.
 */
struct meta_hidx {
	uint32_t *s; /* index + 1; 0 = empty */
	size_t cap, used;
};
typedef uint64_t (*meta_hidx_key_fn)(const void *ctx, uint32_t i);

static inline void meta_hidx_init(struct meta_hidx *h)
{
	h->s = NULL;
	h->cap = h->used = 0;
}
void meta_hidx_free(struct meta_hidx *h);
/* The index of the record with key, or -1. */
int64_t meta_hidx_find(const struct meta_hidx *h, uint64_t key, meta_hidx_key_fn key_of,
		       const void *ctx);
/* Index record i (i < UINT32_MAX - 1; its key not indexed yet); 0 or -1 (no memory). */
int meta_hidx_add(struct meta_hidx *h, uint32_t i, meta_hidx_key_fn key_of, const void *ctx);

#endif

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One open-addressing hash table for libmeta, in two forms with one probe
 * (linear, multiplicative hash, a power-of-two number of slots kept at most half
 * full, doubling as it fills):
 *
 *   struct meta_hash  u64 key -> u64 value.  Keys are anything but UINT64_MAX
 *                     (a slot stores key + 1, 0 marking it empty); the one key
 *                     refused is refused, not stored.  No deletion.
 *   struct meta_hidx  an index of records the caller keeps in an array: a slot
 *                     holds a record's index + 1 (4 bytes) and key_of(ctx, i)
 *                     gives record i's key.  Deletion by backward shift (no
 *                     tombstones) and a fixed size (meta_hidx_init_cap) for
 *                     caches.  Used by the block manager's cache, the
 *                     transaction manager, thin_ls's and thin_repair's node
 *                     tables, the reference-count store's overflow and
 *                     thin_restore's def names (keyed by a name's hash).
 *
 * Does not check: that a record added to a meta_hidx is not indexed already,
 * or that its index is below UINT32_MAX - 1 (the caller's arrays are smaller);
 * nothing is thread-safe.  String keys: hash the string with meta_hash_str()
 * and keep the equality test in the caller (the value then names the caller's
 * record, and two strings of one hash need the caller's chain).
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

/* The index form (see the top): keys live in the caller's records. */
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
/*
 * An empty index with room for n records: meta_hidx_add() does not allocate while
 * at most n are indexed (a fixed-size cache's index).  0 or -1 (no memory).
 */
int meta_hidx_init_cap(struct meta_hidx *h, size_t n);
/* Forget every record (the slots stay allocated). */
void meta_hidx_clear(struct meta_hidx *h);

/*
 * The index of the record with key, or -1.  Inline so that a hot caller's key_of
 * (a static function) is inlined into the probe loop.
 */
static inline int64_t meta_hidx_find(const struct meta_hidx *h, uint64_t key,
				     meta_hidx_key_fn key_of, const void *ctx)
{
	if (!h->cap)
		return -1;
	for (size_t i = meta_hash_slot_of(key, h->cap); h->s[i]; i = (i + 1) & (h->cap - 1))
		if (key_of(ctx, h->s[i] - 1) == key)
			return h->s[i] - 1;
	return -1;
}

/* Index record i (i < UINT32_MAX - 1; its key not indexed yet); 0 or -1 (no memory). */
int meta_hidx_add(struct meta_hidx *h, uint32_t i, meta_hidx_key_fn key_of, const void *ctx);
/*
 * Drop record i (indexed, key_of still giving its key) from the index; the slots
 * after it in its probe run move back, so no tombstones are left.
 */
void meta_hidx_del(struct meta_hidx *h, uint32_t i, meta_hidx_key_fn key_of, const void *ctx);

#endif

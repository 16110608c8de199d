/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Check of a mikulas store (format: mikulas_ondisk.h).  Damage goes to the caller's
 * callback as MSK_* kinds; the result is the worst severity, -1 when clean.
 *
 *   superblock   magic, checksum, location, version, valid, every field in range
 *                (MSK_SUPERBLOCK, MSK_INVALID); a superblock whose fields cannot be
 *                used ends the check there
 *   trees        both btrees node by node, read level by level in large batches
 *                (pdata/walk.h) (validator, value size, key order and range, fill:
 *                meta_node_check; a path deeper than 64 levels; leaves at one depth),
 *                every node counted once per parent and read once (MSK_NODE)
 *   snapshots    ids: number below next_snapshot and not 0xffffffff; a sub-snapshot's
 *                master live, its sub number below the master's next_sub; flags 0
 *                (MSK_SNAPSHOT)
 *   exceptions   n dense from 0 per origin chunk (MSK_EXC_KEY), first <= last and
 *                ranges ascending without overlap (MSK_EXC_RANGE), cow chunk inside
 *                the data area (MSK_EXC_CHUNK), below next_snapshot << 32 and
 *                covering each live master's unborn sub ids N.next_sub ..
 *                N.0xfffffffe exactly as N (MSK_EXC_UNBORN), covering a live id
 *                (MSK_EXC_DEAD, non-fatal)
 *   origin       given the origin's size, an exception of an origin chunk at or past
 *                its end (MSK_ORIGIN)
 *   space maps   the metadata map's counts equal the references found (superblock,
 *                tree nodes, both maps' own blocks), the data map's the number of
 *                exception keys naming each chunk (MSK_META_COUNT / _LEAK,
 *                MSK_DATA_COUNT / _LEAK); unreadable map structures MSK_SPACE_MAP.
 * Memory: one byte per metadata block and per data chunk, 24 bytes per node of the
 * level being read, plus the live ids.
 */
#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/sm.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "base/util.h"
#include "multisnap/mikulas_internal.h"
#include "multisnap/mikulas_ondisk.h"
#include "pdata/refcount.h"
#include "pdata/walk.h"

#define NONE UINT64_MAX
#define MAX_DEAD_REPORTS 16 /* then one summary */

#define MEMO_BITS 8

struct range_memo {
	meta_ms_id first, last;
	bool used, covers;
};

struct ck {
	struct meta_bm *bm;
	meta_damage_fn fn;
	void *ctx;
	int worst;
	int err; /* NOMEM */
	struct mikulas_sb sb;
	struct meta_refcount meta, data;
	struct meta_walker walker;
	meta_ms_id *live;
	uint32_t *next_sub; /* of each live id (masters: the next sub number) */
	size_t nlive, caplive;
	struct range_memo memo[1u << MEMO_BITS];
	/* exception scan state */
	bool have_prev;
	uint64_t prev_chunk;
	uint32_t prev_n;
	meta_ms_id prev_last;
	bool key_reported;
	uint64_t dead;
	uint64_t origin_chunks; /* chunks of the origin, a partial last one included; 0: unknown */
	uint64_t past_origin;
};

static void report(struct ck *c, enum meta_damage_kind k, uint64_t block, uint64_t begin,
		   uint64_t end, uint64_t count, const char *detail)
{
	int sev = meta_report(c->fn, c->ctx, k, block, begin, end, count, detail);
	if (sev > c->worst)
		c->worst = sev;
}

static void ref_meta(struct ck *c, uint64_t b)
{
	if (b < c->meta.nr && meta_rc_inc(&c->meta, b))
		c->err = META_E_NOMEM;
}

/* Damage meta_node_check / the sm reader reports: as the store's own kind. */
struct relay {
	struct ck *c;
	enum meta_damage_kind as;
};

static void relay_fn(void *ctx, const struct meta_damage *d)
{
	struct relay *rl = ctx;
	struct meta_damage m = *d;
	char buf[160];
	snprintf(buf, sizeof(buf), "%s%s%s", meta_damage_text(d->kind), d->detail ? ": " : "",
		 d->detail ? d->detail : "");
	m.kind = rl->as;
	m.detail = buf;
	/* keep the reader's severity: an under-full node stays non-fatal */
	if ((int)m.severity > rl->c->worst)
		rl->c->worst = (int)m.severity;
	if (rl->c->fn)
		rl->c->fn(rl->c->ctx, &m);
}

/* ---- trees -------------------------------------------------------------------------- */

typedef void (*leaf_entry_fn)(struct ck *c, uint64_t node, uint64_t key, const void *value);

/*
 * Trees are read breadth first, a level at a time, through the batched walker
 * (pdata/walk.h: the level's blocks sorted, coalesced into large reads, read ahead
 * on a second thread).  A level keeps its nodes in key order (children are queued in
 * their parent's order), so the leaves' entries reach fn in key order, as the
 * per-exception checks need; a leaf at another depth than the tree's first leaf is
 * damage (the order across levels would not be key order).  Every node is counted
 * once per parent and read once.
 */
struct lvl_item {
	uint64_t b, lo, hi;
};

typedef void (*leaf_pre_fn)(struct ck *c, const void *node, uint32_t n);

struct tree_walk {
	struct ck *c;
	uint32_t vs;
	leaf_entry_fn fn;
	leaf_pre_fn pre; /* NULL, or told of a leaf before its entries */
	int depth, leaf_depth;
	struct lvl_item *cur, *next;
	size_t ncur, nnext, capnext;
};

/* Count a child; queue it for the next level unless it is out of bounds or read already. */
static void queue_node(struct tree_walk *t, uint64_t b, uint64_t lo, uint64_t hi, int depth)
{
	struct ck *c = t->c;
	char buf[96];
	if (c->err)
		return;
	if (b == 0 || b >= c->sb.metadata_blocks) {
		snprintf(buf, sizeof(buf), "child block %" PRIu64 " outside the metadata area", b);
		report(c, META_DMG_MSK_NODE, b, lo, hi, 0, buf);
		return;
	}
	if (depth > 64) {
		report(c, META_DMG_MSK_NODE, b, lo, hi, 0, "tree deeper than 64 levels (a cycle)");
		return;
	}
	ref_meta(c, b);
	if (meta_rc_get(&c->meta, b) > 1)
		return; /* read once; the count comparison reports a second parent */
	if (meta_grow((void **)&t->next, &t->capnext, t->nnext + 1, sizeof(*t->next))) {
		c->err = META_E_NOMEM;
		return;
	}
	t->next[t->nnext++] = (struct lvl_item){b, lo, hi};
}

static uint64_t item_block(void *ctx, size_t i)
{
	return ((struct tree_walk *)ctx)->cur[i].b;
}

static int visit_node(void *ctx, size_t i, const void *node, int err)
{
	struct tree_walk *t = ctx;
	struct ck *c = t->c;
	const struct lvl_item *it = &t->cur[i];
	struct meta_node_info ni;
	struct relay rl = {c, META_DMG_MSK_NODE};
	char buf[96];
	if (err) {
		snprintf(buf, sizeof(buf), "%s", meta_strerror(err));
		report(c, META_DMG_MSK_NODE, it->b, it->lo, it->hi, 0, buf);
		return c->err;
	}
	meta_node_get_info(node, &ni);
	if (meta_node_check(node, it->b, (ni.flags & META_NODE_INTERNAL) ? 8 : t->vs, it->lo, it->hi,
			    t->depth == 0, relay_fn, &rl) == META_SEV_FATAL ||
	    ni.value_size != ((ni.flags & META_NODE_INTERNAL) ? 8 : t->vs))
		return c->err;
	if (ni.flags & META_NODE_INTERNAL) {
		for (uint32_t k = 0; k < ni.nr_entries; k++) {
			uint64_t lo = meta_node_key(node, k);
			uint64_t hi = k + 1 < ni.nr_entries ? meta_node_key(node, k + 1) : it->hi;
			queue_node(t, meta_node_value64(node, k), lo, hi, t->depth + 1);
		}
		return c->err;
	}
	if (t->leaf_depth < 0)
		t->leaf_depth = t->depth;
	if (t->depth != t->leaf_depth) {
		snprintf(buf, sizeof(buf), "leaf at depth %d, the tree's first leaf at depth %d",
			 t->depth, t->leaf_depth);
		report(c, META_DMG_MSK_NODE, it->b, it->lo, it->hi, 0, buf);
		return c->err;
	}
	if (t->pre)
		t->pre(c, node, ni.nr_entries);
	for (uint32_t k = 0; k < ni.nr_entries; k++)
		t->fn(c, it->b, meta_node_key(node, k), meta_node_value(node, k));
	return c->err;
}

static void walk(struct ck *c, uint64_t root, uint32_t vs, leaf_entry_fn fn, leaf_pre_fn pre)
{
	struct tree_walk t = {c, vs, fn, pre, 0, -1, NULL, NULL, 0, 0, 0};
	int r;
	queue_node(&t, root, 0, NONE, 0);
	for (; t.nnext && !c->err; t.depth++) {
		t.cur = t.next;
		t.ncur = t.nnext;
		t.next = NULL;
		t.nnext = t.capnext = 0;
		r = meta_walk_read(&c->walker, t.ncur, item_block, visit_node, &t);
		if (r && !c->err)
			c->err = r; /* NOMEM (damage was reported) */
		free(t.cur);
	}
	free(t.next);
}

static void snap_entry(struct ck *c, uint64_t node, uint64_t id, const void *value)
{
	const struct mikulas_disk_snap *d = value;
	(void)node;
	if (c->nlive == c->caplive) {
		size_t cap = c->caplive ? c->caplive * 2 : 64;
		meta_ms_id *nv = realloc(c->live, cap * sizeof(*nv));
		uint32_t *ns;
		if (nv)
			c->live = nv;
		ns = nv ? realloc(c->next_sub, cap * sizeof(*ns)) : NULL;
		if (!ns) {
			c->err = META_E_NOMEM;
			return;
		}
		c->next_sub = ns;
		c->caplive = cap;
	}
	c->next_sub[c->nlive] = le32_get(d->next_sub);
	c->live[c->nlive++] = id;
}

static bool is_live(const struct ck *c, meta_ms_id id, size_t *pos)
{
	size_t lo = meta_u64_lower_bound(c->live, c->nlive, id);
	if (pos)
		*pos = lo;
	return lo < c->nlive && c->live[lo] == id;
}

/* Second pass over the snapshot tree: each entry against the others. */
static void snap_judge(struct ck *c, uint64_t node, uint64_t id, const void *value)
{
	const struct mikulas_disk_snap *d = value;
	uint32_t num = (uint32_t)(id >> 32), sub = (uint32_t)id;
	char buf[128];
	const char *why = NULL;
	if (num == 0xffffffffu)
		why = "snapshot number 0xffffffff is reserved";
	else if (num >= c->sb.next_snapshot)
		why = "snapshot number not below the superblock's next_snapshot";
	else if (le32_get(d->flags))
		why = "unknown flags";
	else if (le64_get(d->created) > c->sb.transaction)
		why = "created in a transaction after the superblock's";
	else if (sub != META_MS_SUB_NONE) {
		/* a master merged into the origin leaves its subs live (orphans): valid */
		uint64_t master = id | META_MS_SUB_NONE;
		struct mikulas_disk_snap mv;
		if (is_live(c, master, NULL) &&
		    meta_btree_lookup(c->bm, c->sb.snapshot_root, master, &mv, sizeof(mv)) == 0 &&
		    sub >= le32_get(mv.next_sub))
			why = "sub number not below its master's next_sub";
		else if (le32_get(d->next_sub))
			why = "a sub-snapshot with a next_sub";
	}
	if (why) {
		char ids[META_MS_ID_STRLEN];
		meta_ms_id_format(META_MS_MIKULAS, id, ids, sizeof(ids));
		snprintf(buf, sizeof(buf), "snapshot %s: %s", ids, why);
		report(c, META_DMG_MSK_SNAPSHOT, node, id, id + 1, 1, buf);
	}
}

static void snap_judge_walk(struct ck *c, uint64_t b, int depth)
{
	/* the tree passed the first walk's checks: read it again for the values */
	const void *node;
	struct meta_node_info ni;
	if (depth > 64 || b == 0 || b >= c->sb.metadata_blocks ||
	    meta_bm_get(c->bm, b, &meta_node_validator, &node))
		return;
	meta_node_get_info(node, &ni);
	for (uint32_t i = 0; i < ni.nr_entries; i++) {
		if (ni.flags & META_NODE_INTERNAL)
			snap_judge_walk(c, meta_node_value64(node, i), depth + 1);
		else if (ni.value_size == sizeof(struct mikulas_disk_snap))
			snap_judge(c, b, meta_node_key(node, i), meta_node_value(node, i));
	}
	meta_bm_put(c->bm, node);
}

/*
 * Does [first, last] hold a live id?  The live ids are fixed once the snapshot tree is
 * read, and stores repeat a few ranges over and over: the answers are remembered in a
 * small direct-mapped table (the binary search was a quarter of a check's time).
 */
static bool covers_live(struct ck *c, meta_ms_id first, meta_ms_id last)
{
	struct range_memo *e = &c->memo[((first * 0x9e3779b97f4a7c15ull) ^ last) * 0xff51afd7ed558ccdull
					>> (64 - MEMO_BITS)];
	size_t pos;
	if (e->used && e->first == first && e->last == last)
		return e->covers;
	is_live(c, first, &pos);
	*e = (struct range_memo){first, last, true, pos < c->nlive && c->live[pos] <= last};
	return e->covers;
}

/*
 * The COW chunks of a leaf are scattered over the data counts (a byte each): ask for
 * their cache lines before exc_entry() counts them, so the misses overlap.
 */
static void exc_prefetch(struct ck *c, const void *node, uint32_t n)
{
	for (uint32_t k = 0; k < n; k++) {
		const struct mikulas_disk_exc *d = meta_node_value(node, k);
		uint64_t cow = le64_get(d->cow_chunk);
		if (cow < c->data.nr)
			__builtin_prefetch(c->data.c + cow, 1);
	}
}

static void exc_entry(struct ck *c, uint64_t node, uint64_t key, const void *value)
{
	const struct mikulas_disk_exc *d = value;
	uint64_t chunk = key >> 16, cow = le64_get(d->cow_chunk);
	uint32_t n = (uint32_t)(key & 0xffff);
	meta_ms_id first = le64_get(d->first_id), last = le64_get(d->last_id);
	bool same = c->have_prev && c->prev_chunk == chunk;
	char buf[160];
	if ((same && n != c->prev_n + 1) || (!same && n != 0)) {
		if (!c->key_reported) {
			snprintf(buf, sizeof(buf),
				 "origin chunk %" PRIu64 ": exception %" PRIu32 " follows %s", chunk,
				 n, same ? "a gap" : "no exception 0");
			report(c, META_DMG_MSK_EXC_KEY, node, key, key + 1, 1, buf);
		}
		c->key_reported = true;
	}
	if (first > last) {
		snprintf(buf, sizeof(buf), "origin chunk %" PRIu64 " exception %" PRIu32
			 ": first id above last id", chunk, n);
		report(c, META_DMG_MSK_EXC_RANGE, node, key, key + 1, 1, buf);
	} else if (same && first <= c->prev_last) {
		snprintf(buf, sizeof(buf), "origin chunk %" PRIu64 " exception %" PRIu32
			 ": range overlaps or precedes the one before", chunk, n);
		report(c, META_DMG_MSK_EXC_RANGE, node, key, key + 1, 1, buf);
	} else if (mikulas_breaks_unborn(c->live, c->next_sub, c->nlive, c->sb.next_snapshot, first,
					 last)) {
		snprintf(buf, sizeof(buf), "origin chunk %" PRIu64 " exception %" PRIu32 ": %s",
			 chunk, n, last >= c->sb.next_snapshot << 32
				 ? "covers a snapshot number at or past next_snapshot"
				 : "covers part of a snapshot and its unborn sub-snapshots");
		report(c, META_DMG_MSK_EXC_UNBORN, node, key, key + 1, 1, buf);
	} else if (!covers_live(c, first, last) && ++c->dead <= MAX_DEAD_REPORTS) {
		snprintf(buf, sizeof(buf), "origin chunk %" PRIu64 " exception %" PRIu32
			 " (COW chunk %" PRIu64 ")", chunk, n, cow);
		report(c, META_DMG_MSK_EXC_DEAD, node, key, key + 1, 1, buf);
	}
	if (c->origin_chunks && chunk >= c->origin_chunks && ++c->past_origin <= MAX_DEAD_REPORTS) {
		snprintf(buf, sizeof(buf), "origin chunk %" PRIu64 " exception %" PRIu32
			 ": the origin has %" PRIu64 " chunks", chunk, n, c->origin_chunks);
		report(c, META_DMG_MSK_ORIGIN, node, key, key + 1, 1, buf);
	}
	if (cow >= c->sb.data_chunks) {
		snprintf(buf, sizeof(buf), "origin chunk %" PRIu64 " exception %" PRIu32
			 ": COW chunk %" PRIu64 " of %" PRIu64, chunk, n, cow, c->sb.data_chunks);
		report(c, META_DMG_MSK_EXC_CHUNK, node, key, key + 1, 1, buf);
	} else if (meta_rc_inc(&c->data, cow)) {
		c->err = META_E_NOMEM;
	}
	c->have_prev = true;
	c->prev_chunk = chunk;
	c->prev_n = n;
	c->prev_last = last > c->prev_last || !same ? last : c->prev_last;
}

/* ---- space maps ---------------------------------------------------------------------- */

static void sm_idx_entry(struct ck *c, uint64_t node, uint64_t key, const void *value)
{
	(void)node;
	(void)key;
	uint64_t b = get_le64p(value);
	if (b && b < c->sb.metadata_blocks)
		ref_meta(c, b);
	else
		report(c, META_DMG_MSK_SPACE_MAP, node, key, key + 1, 0,
		       "data space map index names a block outside the metadata area");
}

static void no_entry(struct ck *c, uint64_t node, uint64_t key, const void *value)
{
	(void)c;
	(void)node;
	(void)key;
	(void)value;
}

static void count_sm_blocks(struct ck *c)
{
	struct meta_sm_index_entry *ents = NULL;
	uint64_t n = 0;
	const struct meta_sm_root *mr = &c->sb.metadata_sm, *dr = &c->sb.data_sm;
	if (mr->bitmap_root && mr->bitmap_root < c->sb.metadata_blocks) {
		ref_meta(c, mr->bitmap_root);
		if (meta_sm_read_index(c->bm, META_SM_METADATA, mr, &ents, &n) == 0)
			for (uint64_t i = 0; i < n; i++)
				if (ents[i].blocknr)
					ref_meta(c, ents[i].blocknr);
		free(ents);
	}
	if (mr->ref_count_root)
		walk(c, mr->ref_count_root, 4, no_entry, NULL);
	if (dr->bitmap_root)
		walk(c, dr->bitmap_root, sizeof(struct disk_index_entry), sm_idx_entry, NULL);
	if (dr->ref_count_root)
		walk(c, dr->ref_count_root, 4, no_entry, NULL);
}

struct cmp {
	struct relay rl; /* first: the sm reader's damage goes through relay_fn */
	struct ck *c;
	struct meta_refcount *want;
	bool meta;
	uint64_t bad, leaked, first_bad, first_leak, last_leak, allocated;
};

static int cmp_counts(void *ctx, uint64_t first, const uint32_t *counts, uint32_t n)
{
	struct cmp *x = ctx;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t b = first + i;
		uint32_t want = meta_rc_get(x->want, b), got = counts[i];
		if (got)
			x->allocated++;
		if (got == want)
			continue;
		if (!want && got) {
			if (!x->leaked++)
				x->first_leak = b;
			x->last_leak = b;
		} else {
			if (!x->bad++) {
				char buf[96];
				snprintf(buf, sizeof(buf), "%s %" PRIu64 ": expected %" PRIu32
					 ", space map has %" PRIu32, x->meta ? "block" : "chunk", b,
					 want, got);
				report(x->c, x->meta ? META_DMG_MSK_META_COUNT : META_DMG_MSK_DATA_COUNT,
				       x->meta ? b : NONE, b, b + 1, 1, buf);
			}
		}
	}
	return 0;
}

static void check_sm(struct ck *c, bool meta)
{
	struct cmp x = {{c, META_DMG_MSK_SPACE_MAP}, c, meta ? &c->meta : &c->data, meta,
			0, 0, 0, 0, 0, 0};
	const struct meta_sm_root *root = meta ? &c->sb.metadata_sm : &c->sb.data_sm;
	int before = c->worst;
	int r = meta_sm_read_counts(c->bm, meta ? META_SM_METADATA : META_SM_DISK, root, cmp_counts,
				    relay_fn, &x);
	char buf[96];
	if (r == META_E_NOMEM) {
		c->err = r;
		return;
	}
	if (r) {
		if (c->worst == before)
			report(c, META_DMG_MSK_SPACE_MAP, meta ? root->bitmap_root : NONE, NONE, NONE, 0,
			       meta ? "metadata space map unreadable" : "data space map unreadable");
		return;
	}
	if (x.bad > 1) {
		snprintf(buf, sizeof(buf), "%" PRIu64 " %s with wrong counts in all", x.bad,
			 meta ? "blocks" : "chunks");
		report(c, meta ? META_DMG_MSK_META_COUNT : META_DMG_MSK_DATA_COUNT, NONE, NONE, NONE,
		       x.bad, buf);
	}
	if (x.leaked)
		report(c, meta ? META_DMG_MSK_META_LEAK : META_DMG_MSK_DATA_LEAK,
		       meta ? x.first_leak : NONE, x.first_leak, x.last_leak + 1, x.leaked, NULL);
	if (x.allocated != root->nr_allocated) {
		snprintf(buf, sizeof(buf), "%s space map: nr_allocated %" PRIu64 ", counts say %" PRIu64,
			 meta ? "metadata" : "data", root->nr_allocated, x.allocated);
		report(c, META_DMG_MSK_SPACE_MAP, meta ? root->bitmap_root : NONE, NONE, NONE, 0, buf);
	}
}

/* ---- superblock --------------------------------------------------------------------------- */

static const char *sb_problem(const struct mikulas_sb *sb, uint64_t dev_bytes)
{
	uint64_t start;
	if (!mikulas_chunk_size_ok(sb->chunk_size))
		return "chunk_size is not a power of two from 8 to 2^21 sectors";
	if (sb->flags & ~MIKULAS_FLAGS_KNOWN)
		return "unknown flags";
	if (sb->metadata_blocks < MIKULAS_MIN_META_BLOCKS ||
	    sb->metadata_blocks > META_SM_METADATA_MAX_BLOCKS)
		return "metadata_blocks out of range";
	if (sb->metadata_blocks > dev_bytes / META_BLOCK_SIZE)
		return "metadata area past the end of the device";
	if (sb->metadata_sm.nr_blocks != sb->metadata_blocks)
		return "metadata space map size differs from metadata_blocks";
	if (sb->data_sm.nr_blocks != sb->data_chunks)
		return "data space map size differs from data_chunks";
	if (!sb->exception_root || sb->exception_root >= sb->metadata_blocks)
		return "exception tree root outside the metadata area";
	if (!sb->snapshot_root || sb->snapshot_root >= sb->metadata_blocks)
		return "snapshot tree root outside the metadata area";
	if (sb->next_snapshot > MIKULAS_NUMBER_MAX + 1ull)
		return "next_snapshot above 0xffffffff";
	start = mikulas_data_start(sb->metadata_blocks, sb->chunk_size);
	if (sb->data_chunks && (dev_bytes < start || (dev_bytes - start) /
				((uint64_t)sb->chunk_size * META_SECTOR_SIZE) < sb->data_chunks))
		return "data area past the end of the device (the COW device shrank)";
	return NULL;
}

int mikulas_check(struct meta_io *io, meta_damage_fn fn, void *ctx)
{
	return mikulas_check_origin(io, 0, fn, ctx);
}

int mikulas_check_origin(struct meta_io *io, uint64_t origin_sectors, meta_damage_fn fn,
			 void *ctx)
{
	struct ck c;
	int verdict, r;
	const char *why;
	char buf[128];
	memset(&c, 0, sizeof(c));
	c.fn = fn;
	c.ctx = ctx;
	c.worst = -1;
	r = meta_bm_create_borrowed(io, 0, &c.bm);
	if (r)
		return META_SEV_FATAL; /* no memory for a block cache */
	r = mikulas_read_sb(c.bm, &c.sb, &verdict);
	if (r) {
		report(&c, META_DMG_MSK_SUPERBLOCK, 0, NONE, NONE, 0,
		       r == META_E_BADMAGIC ? "no mikulas magic" : meta_strerror(r));
		goto out;
	}
	if (verdict) {
		snprintf(buf, sizeof(buf), "%s", meta_strerror(verdict));
		report(&c, META_DMG_MSK_SUPERBLOCK, 0, NONE, NONE, 0, buf);
	}
	if (c.sb.version != MIKULAS_VERSION) {
		snprintf(buf, sizeof(buf), "version %" PRIu32 " (this tool knows 1)", c.sb.version);
		report(&c, META_DMG_MSK_SUPERBLOCK, 0, NONE, NONE, 0, buf);
		goto out;
	}
	if (!c.sb.valid) {
		report(&c, META_DMG_MSK_INVALID, 0, NONE, NONE, 0, NULL);
		/* a restore's placeholder (mikulas_write_head): no geometry yet, nothing more */
		if (!c.sb.metadata_blocks)
			goto out;
	}
	{
		const uint8_t *raw;
		if (meta_bm_get(c.bm, 0, NULL, (const void **)&raw) == 0) {
			bool zero = !raw[36] && !raw[37] && !raw[38] && !raw[39];
			for (size_t i = sizeof(struct mikulas_disk_sb); i < META_BLOCK_SIZE && zero; i++)
				zero = !raw[i];
			meta_bm_put(c.bm, raw);
			if (!zero)
				report(&c, META_DMG_MSK_SUPERBLOCK, 0, NONE, NONE, 0,
				       "reserved bytes are not zero (written by a newer format?)");
		}
	}
	why = sb_problem(&c.sb, meta_io_size(io));
	if (why) {
		report(&c, META_DMG_MSK_SUPERBLOCK, 0, NONE, NONE, 0, why);
		goto out;
	}
	/* a last chunk the origin fills in part is the origin's */
	c.origin_chunks = origin_sectors ? (origin_sectors - 1) / c.sb.chunk_size + 1 : 0;
	if (meta_rc_init(&c.meta, c.sb.metadata_blocks) || meta_rc_init(&c.data, c.sb.data_chunks)) {
		c.err = META_E_NOMEM;
		goto out;
	}
	meta_walker_init(&c.walker, c.bm);
	meta_bm_set_read_ahead(c.bm, 1);
	ref_meta(&c, 0);
	walk(&c, c.sb.snapshot_root, sizeof(struct mikulas_disk_snap), snap_entry, NULL);
	snap_judge_walk(&c, c.sb.snapshot_root, 0);
	walk(&c, c.sb.exception_root, sizeof(struct mikulas_disk_exc), exc_entry, exc_prefetch);
	if (c.dead > MAX_DEAD_REPORTS) {
		snprintf(buf, sizeof(buf), "%" PRIu64 " more exceptions cover no live snapshot",
			 c.dead - MAX_DEAD_REPORTS);
		report(&c, META_DMG_MSK_EXC_DEAD, NONE, NONE, NONE, c.dead - MAX_DEAD_REPORTS, buf);
	}
	if (c.past_origin > MAX_DEAD_REPORTS) {
		snprintf(buf, sizeof(buf), "%" PRIu64 " more exceptions lie past the origin's end",
			 c.past_origin - MAX_DEAD_REPORTS);
		report(&c, META_DMG_MSK_ORIGIN, NONE, NONE, NONE, c.past_origin - MAX_DEAD_REPORTS,
		       buf);
	}
	count_sm_blocks(&c);
	if (!c.err)
		check_sm(&c, false);
	if (!c.err)
		check_sm(&c, true);
out:
	meta_bm_set_read_ahead(c.bm, 0);
	meta_walker_free(&c.walker);
	meta_rc_free(&c.meta);
	meta_rc_free(&c.data);
	free(c.live);
	free(c.next_sub);
	meta_bm_destroy(c.bm);
	if (c.err)
		return META_SEV_FATAL;
	return c.worst;
}

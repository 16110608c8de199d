/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The `daniel` shared multisnapshot store (layout: daniel_ondisk.h, man/multisnap-store.5).
 * Memory is bounded by the device, not by the exceptions: every walk of the tree (open,
 * check, dump, delete) streams the leaves (the leaves under one index node read with one
 * read when they lie side by side) and keeps one bit per 4 KiB unit (the units the tree
 * references: duplicates, then the allocation bitmap's cross-check).  Open walks the tree
 * once to refuse a damaged store and count it; dump and delete walk it again.  Restore
 * streams too (msd_builder: leaves written as they fill).  Messages write the superblock,
 * leaves and bitmaps directly (no journal, see daniel_ondisk.h for the order and what a
 * crash leaves).  The check walks the same tree with damage reporting.
 */
#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/multisnap.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "multisnap/daniel_ondisk.h"
#include "multisnap/ms_internal.h"

/* ---------- in-memory state ---------- */

/* Exceptions one leaf holds at most: (4096 - header - two map entries) / 16. */
#define MSD_LEAF_MAX_EXC ((MSD_UNIT - sizeof(struct msd_eleaf) - 2 * sizeof(struct msd_etree_map)) / \
			  sizeof(struct msd_exception))

struct msd_vec {
	void *p;
	uint64_t n, cap;
	size_t sz;
};

static int vec_push(struct msd_vec *v, const void *e)
{
	if (v->n == v->cap) {
		uint64_t c = v->cap ? v->cap * 2 : 64;
		void *q = realloc(v->p, c * v->sz);
		if (!q)
			return META_E_NOMEM;
		v->p = q;
		v->cap = c;
	}
	memcpy((char *)v->p + v->n * v->sz, e, v->sz);
	v->n++;
	return 0;
}

struct msd_walk;
/*
 * A leaf that parsed whole: its exceptions in leaf order (exc is the walk's own array: the
 * function may change it).  Nonzero stops the walk with that error (w->err).
 */
typedef int (*msd_leaf_fn)(struct msd_walk *w, uint64_t unit, uint64_t base,
			   struct msd_exc_desc *exc, uint32_t n);

/* A tree walk: open, check, dump and delete (fn NULL: damage only counted). */
struct msd_walk {
	struct meta_io *io;
	uint64_t units, fixed_end;
	uint32_t levels;
	uint64_t live_mask;
	meta_damage_fn fn;
	void *ctx;
	int worst;
	uint8_t *seen; /* units referenced (nodes, data, fixed area): one bit per 4 KiB unit */
	msd_leaf_fn on_leaf;
	void *arg; /* on_leaf's */
	uint64_t nr_exc, nr_leaves, nr_index;
	uint64_t origin_chunks; /* check: origin chunks from here on lie past the origin (0: none) */
	struct msd_exc_desc lx[MSD_LEAF_MAX_EXC]; /* the current leaf's exceptions */
	int err; /* META_E_NOMEM, on_leaf's error */
};

struct msd_state {
	struct meta_io *io;
	bool write;
	uint8_t *sbuf; /* MSD_UNIT bytes: the superblock block */
	struct msd_disksuper *sb;
	struct msd_walk w;
	/* the engine's allocator: the bitmap (one bit per unit) loaded at the first write and
	 * dropped by a delete; units taken since the bitmaps were last written: [bm_lo, bm_hi) */
	uint8_t *bm;
	uint64_t bm_lo, bm_hi, bm_taken;
	int failed; /* an engine write failed after it began changing the tree */
};

static void report(struct msd_walk *w, enum meta_damage_kind k, uint64_t block, uint64_t begin,
		   uint64_t end, uint64_t count, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

static void report(struct msd_walk *w, enum meta_damage_kind k, uint64_t block, uint64_t begin,
		   uint64_t end, uint64_t count, const char *fmt, ...)
{
	char detail[200];
	va_list ap;
	int sev;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (w->fn)
		sev = meta_report(w->fn, w->ctx, k, block, begin, end, count, detail);
	else
		sev = (int)meta_damage_default_severity(k);
	if (sev > w->worst)
		w->worst = sev;
}

static bool bit_get(const uint8_t *m, uint64_t i) { return (m[i >> 3] >> (i & 7)) & 1; }
static void bit_set(uint8_t *m, uint64_t i) { m[i >> 3] |= (uint8_t)(1u << (i & 7)); }

/* 4096-aligned buffers (O_DIRECT devices read into them without a bounce). */
static uint64_t bitmap_blocks_for(uint64_t units)
{
	return (units + MSD_UNIT * 8 - 1) / (MSD_UNIT * 8);
}

/* ---------- superblock ---------- */

/*
 * Check the superblock's fields against the device (size bytes); report damage to w.
 * Fills w->units, fixed_end, levels, live_mask.  Returns false when the tree cannot be
 * walked (magic or layout fields wrong).
 */
static bool sb_validate(struct msd_walk *w, const struct msd_disksuper *sb, uint64_t size)
{
	const struct msd_allocspace *m = &sb->metadata;
	uint64_t units = le64_get(m->chunks), bb = le64_get(m->bitmap_blocks);
	uint64_t jb = le32_get(sb->journal_base), js = le32_get(sb->journal_size);
	uint64_t root = le64_get(sb->etree_root);
	uint32_t levels = le32_get(sb->etree_levels), n = le32_get(sb->snapshots);
	bool ok = true;

	if (memcmp(sb->magic, msd_magic, sizeof(msd_magic))) {
		report(w, META_DMG_MSD_SB_MAGIC, MSD_SB_UNIT, 0, 0, 0, "no daniel magic at byte 4096");
		return false;
	}
#define FIELD_BAD(cond, ...)                                                                  \
	do {                                                                                  \
		if (cond) {                                                                   \
			report(w, META_DMG_MSD_SB_FIELD, MSD_SB_UNIT, 0, 0, 0, __VA_ARGS__); \
			ok = false;                                                           \
		}                                                                             \
	} while (0)
	FIELD_BAD(le32_get(m->allocsize_bits) != MSD_UNIT_SHIFT,
		  "metadata allocsize_bits %" PRIu32 " (only 12 is supported)",
		  le32_get(m->allocsize_bits));
	FIELD_BAD(le64_get(sb->snapdata.chunks) != 0,
		  "snapdata allocspace has %" PRIu64 " chunks: separate data allocspaces are not supported",
		  le64_get(sb->snapdata.chunks));
	FIELD_BAD(units > size / MSD_UNIT, "metadata chunks %" PRIu64 " exceed the device (%" PRIu64 ")",
		  units, size / MSD_UNIT);
	FIELD_BAD(le64_get(m->bitmap_base) != (uint64_t)MSD_BITMAP_UNIT * 8,
		  "bitmap_base sector %" PRIu64 " (expected 16)", le64_get(m->bitmap_base));
	FIELD_BAD(bb != bitmap_blocks_for(units), "bitmap_blocks %" PRIu64 " for %" PRIu64 " chunks",
		  bb, units);
	FIELD_BAD(jb != (MSD_BITMAP_UNIT + bb) * 8, "journal_base sector %" PRIu64 " (expected %" PRIu64 ")",
		  jb, (MSD_BITMAP_UNIT + bb) * 8);
	FIELD_BAD(js == 0 || jb / 8 + js + 2 > units, "journal_size %" PRIu64 " does not fit", js);
	FIELD_BAD(le32_get(sb->journal_next) >= js && js, "journal_next %" PRIu32 " past the journal",
		  le32_get(sb->journal_next));
	FIELD_BAD(le64_get(m->freechunks) > units, "freechunks %" PRIu64 " > chunks %" PRIu64,
		  le64_get(m->freechunks), units);
	FIELD_BAD(levels < 1 || levels > 16, "etree_levels %" PRIu32, levels);
	FIELD_BAD(root % 8 || root / 8 < jb / 8 + js || root / 8 >= units,
		  "etree_root sector %" PRIu64 " is not a chunk after the journal", root);
#undef FIELD_BAD
	w->units = units;
	w->fixed_end = jb / 8 + js;
	w->levels = levels;

	/* the snapshot list */
	uint64_t bits = 0;
	if (n > MSD_MAX_SNAPSHOTS) {
		report(w, META_DMG_MSD_SNAPLIST, MSD_SB_UNIT, 0, 0, n, "snapshots = %" PRIu32 " > 64", n);
		n = MSD_MAX_SNAPSHOTS;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct msd_snapshot *s = &sb->snaplist[i];
		if (s->bit >= MSD_MAX_SNAPSHOTS) {
			report(w, META_DMG_MSD_SNAPLIST, MSD_SB_UNIT, i, i + 1, 1,
			       "snapshot %" PRIu32 " has bit %u", le32_get(s->tag), s->bit);
			continue;
		}
		if (bits & (1ull << s->bit))
			report(w, META_DMG_MSD_SNAPLIST, MSD_SB_UNIT, i, i + 1, 1,
			       "bit %u is used by two snapshots", s->bit);
		bits |= 1ull << s->bit;
		for (uint32_t j = 0; j < i; j++)
			if (le32_get(sb->snaplist[j].tag) == le32_get(s->tag))
				report(w, META_DMG_MSD_SNAPLIST, MSD_SB_UNIT, i, i + 1, 1,
				       "tag %" PRIu32 " is used by two snapshots", le32_get(s->tag));
	}
	w->live_mask = bits;
	return ok;
}

/* ---------- tree walk ---------- */

static bool unit_take(struct msd_walk *w, uint64_t unit, const char *what)
{
	if (bit_get(w->seen, unit)) {
		report(w, META_DMG_MSD_DUP_CHUNK, unit, unit, unit + 1, 1, "%s uses chunk %" PRIu64 " again",
		       what, unit);
		return false;
	}
	bit_set(w->seen, unit);
	return true;
}

static void walk_leaf(struct msd_walk *w, uint64_t unit, const uint8_t *b, uint64_t lo,
		      uint64_t hi)
{
	const struct msd_eleaf *l = (const void *)b;
	uint32_t count = le32_get(l->count);
	uint64_t base = le64_get(l->base_chunk), mask = 0;
	uint32_t n = 0;

	if (le16_get(l->magic) != MSD_LEAF_MAGIC || le16_get(l->version) != MSD_LEAF_VERSION) {
		report(w, META_DMG_MSD_LEAF, unit, lo, hi, 0, "leaf magic 0x%x version %u",
		       le16_get(l->magic), le16_get(l->version));
		return;
	}
	if ((uint64_t)count >= (MSD_UNIT - sizeof(*l)) / sizeof(l->map[0])) {
		report(w, META_DMG_MSD_LEAF, unit, lo, hi, 0, "leaf count %" PRIu32 " does not fit", count);
		return;
	}
	uint64_t map_end = sizeof(*l) + ((uint64_t)count + 1) * sizeof(l->map[0]);
	if (le32_get(l->map[count].offset) != MSD_UNIT) {
		report(w, META_DMG_MSD_LEAF, unit, lo, hi, 0, "sentinel offset %" PRIu32 " (expected 4096)",
		       le32_get(l->map[count].offset));
		return;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint32_t off = le32_get(l->map[i].offset), next = le32_get(l->map[i + 1].offset);
		uint64_t origin = base + le32_get(l->map[i].rchunk);
		if (off < map_end || next <= off || next > MSD_UNIT ||
		    (next - off) % sizeof(struct msd_exception)) {
			report(w, META_DMG_MSD_LEAF, unit, lo, hi, 0,
			       "map entry %" PRIu32 ": offsets %" PRIu32 "..%" PRIu32 " are not an exception run above the map",
			       i, off, next);
			return;
		}
		if (i && le32_get(l->map[i].rchunk) <= le32_get(l->map[i - 1].rchunk)) {
			report(w, META_DMG_MSD_LEAF, unit, lo, hi, 0,
			       "map entry %" PRIu32 ": origin chunks not increasing", i);
			return;
		}
		if (origin < lo || origin >= hi) {
			report(w, META_DMG_MSD_LEAF, unit, lo, hi, 0,
			       "origin chunk %" PRIu64 " outside the index range", origin);
			return;
		}
		if (w->origin_chunks && origin >= w->origin_chunks)
			report(w, META_DMG_MSD_ORIGIN, unit, origin, origin + 1,
			       (next - off) / sizeof(struct msd_exception),
			       "origin chunk %" PRIu64 " starts past the origin's end (%" PRIu64 " chunks of 16 KiB)",
			       origin, w->origin_chunks);
		uint64_t shares = 0;
		for (uint32_t o = off; o < next; o += sizeof(struct msd_exception)) {
			const struct msd_exception *e = (const void *)(b + o);
			struct msd_exc_desc d = {origin, le64_get(e->chunk), le64_get(e->share)};
			mask |= d.share;
			if (!d.share || (d.share & ~w->live_mask))
				report(w, META_DMG_MSD_SHARE, unit, origin, origin + 1, 1,
				       "origin chunk %" PRIu64 " COW chunk %" PRIu64 ": share 0x%" PRIx64
				       " names no live snapshot (live 0x%" PRIx64 ")",
				       origin, d.chunk, d.share, w->live_mask);
			else if (d.share & shares)
				report(w, META_DMG_MSD_SHARE, unit, origin, origin + 1, 1,
				       "origin chunk %" PRIu64 ": two exceptions for one snapshot (share 0x%" PRIx64 ")",
				       origin, d.share & shares);
			shares |= d.share;
			if (d.chunk % MSD_DATA_UNITS || d.chunk < w->fixed_end ||
			    d.chunk + MSD_DATA_UNITS > w->units) {
				report(w, META_DMG_MSD_EXCEPTION, unit, origin, origin + 1, 1,
				       "origin chunk %" PRIu64 ": COW chunk %" PRIu64
				       " is not a 16 KiB data chunk inside the store",
				       origin, d.chunk);
			} else {
				for (uint64_t u = 0; u < MSD_DATA_UNITS; u++)
					unit_take(w, d.chunk + u, "exception");
			}
			w->nr_exc++;
			if (n < MSD_LEAF_MAX_EXC) /* always: the run checks above bound it */
				w->lx[n++] = d;
		}
	}
	if (mask != le64_get(l->using_mask))
		report(w, META_DMG_MSD_LEAF, unit, lo, hi, 0,
		       "using_mask 0x%" PRIx64 " differs from its shares 0x%" PRIx64,
		       le64_get(l->using_mask), mask);
	if (w->on_leaf && !w->err) {
		int r = w->on_leaf(w, unit, base, w->lx, n);
		if (r)
			w->err = r;
	}
}

/* Is `unit` a node of the tree area not seen before?  Reports it when not. */
static bool node_take(struct msd_walk *w, uint64_t unit, uint32_t level, uint64_t lo, uint64_t hi)
{
	if (unit < w->fixed_end || unit >= w->units) {
		report(w, level ? META_DMG_MSD_INDEX : META_DMG_MSD_LEAF, unit, lo, hi, 0,
		       "node chunk %" PRIu64 " is outside the tree area", unit);
		return false;
	}
	if (!unit_take(w, unit, level ? "index node" : "leaf"))
		return false;
	if (level)
		w->nr_index++;
	else
		w->nr_leaves++;
	return true;
}

/*
 * bufs: one block per level, then MSD_INDEX_MAX blocks where the leaves of one index node
 * are read: runs of leaves that lie side by side (as restore lays them) with one read each.
 */
static void walk_node(struct msd_walk *w, uint64_t unit, uint32_t level, uint64_t lo, uint64_t hi,
		      uint8_t *bufs)
{
	uint8_t *b = bufs + (size_t)level * MSD_UNIT;
	uint8_t *batch = bufs + (size_t)(w->levels + 1) * MSD_UNIT;

	if (!node_take(w, unit, level, lo, hi))
		return;
	if (meta_io_pread(w->io, b, MSD_UNIT, unit * MSD_UNIT)) {
		report(w, META_DMG_MSD_IO, unit, unit, unit + 1, 1, "chunk %" PRIu64, unit);
		return;
	}
	if (!level) {
		walk_leaf(w, unit, b, lo, hi);
		return;
	}
	const struct msd_enode *n = (const void *)b;
	uint32_t count = le32_get(n->count);
	if (count < 1 || count > MSD_INDEX_MAX) {
		report(w, META_DMG_MSD_INDEX, unit, lo, hi, 0, "count %" PRIu32 " (1..255)", count);
		return;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint64_t k = le64_get(n->entries[i].key);
		if (i && (k <= le64_get(n->entries[i - 1].key) || k < lo || k >= hi)) {
			report(w, META_DMG_MSD_INDEX, unit, lo, hi, 0,
			       "key %" PRIu32 " (%" PRIu64 ") out of order or range", i, k);
			return;
		}
	}
#define CHILD_LO(i) ((i) ? le64_get(n->entries[i].key) : lo)
#define CHILD_HI(i) ((i) + 1 < count ? le64_get(n->entries[(i) + 1].key) : hi)
	for (uint32_t i = 0; i < count && !w->err;) {
		/* the node buffer of this level stays valid: children use lower levels */
		uint64_t s = le64_get(n->entries[i].sector), c = s / 8;
		uint32_t run = 1;
		if (s % 8) {
			report(w, META_DMG_MSD_INDEX, unit, CHILD_LO(i), CHILD_HI(i), 0,
			       "entry %" PRIu32 ": sector %" PRIu64 " not chunk aligned", i, s);
			i++;
			continue;
		}
		if (level == 1 && c >= w->fixed_end && c < w->units)
			while (i + run < count && c + run < w->units &&
			       le64_get(n->entries[i + run].sector) == (c + run) * 8)
				run++;
		if (run > 1 && !meta_io_pread(w->io, batch, (size_t)run * MSD_UNIT, c * MSD_UNIT)) {
			for (uint32_t k = 0; k < run && !w->err; k++)
				if (node_take(w, c + k, 0, CHILD_LO(i + k), CHILD_HI(i + k)))
					walk_leaf(w, c + k, batch + (size_t)k * MSD_UNIT, CHILD_LO(i + k),
						  CHILD_HI(i + k));
		} else {
			/* one child, or a run that cannot be read whole: each on its own */
			for (uint32_t k = 0; k < run && !w->err; k++)
				walk_node(w, c + k, level - 1, CHILD_LO(i + k), CHILD_HI(i + k), bufs);
		}
		i += run;
	}
#undef CHILD_LO
#undef CHILD_HI
}

static void walk_free(struct msd_walk *w)
{
	free(w->seen);
	w->seen = NULL;
}

/* Walk the whole tree of sb (already validated); w->seen is left for the caller (walk_free). */
static int walk_tree(struct msd_walk *w, const struct msd_disksuper *sb)
{
	uint8_t *bufs;

	w->seen = calloc(1, (size_t)(w->units / 8 + 1));
	bufs = meta_io_buf_alloc((size_t)(w->levels + 1 + MSD_INDEX_MAX) * MSD_UNIT);
	if (!w->seen || !bufs) {
		free(bufs);
		return META_E_NOMEM;
	}
	for (uint64_t u = 0; u < w->fixed_end; u++)
		bit_set(w->seen, u);
	walk_node(w, le64_get(sb->etree_root) / 8, w->levels, 0, UINT64_MAX, bufs);
	free(bufs);
	return w->err;
}

/* ---------- writing ---------- */

static int write_unit(struct meta_io *io, uint64_t unit, const void *b)
{
	return meta_io_pwrite(io, b, MSD_UNIT, unit * MSD_UNIT);
}

/* Lay a leaf out in b: exceptions exc[0..n) sorted by origin, all with origin >= base. */
static void leaf_build(uint8_t *b, uint64_t base, const struct msd_exc_desc *exc, uint64_t n)
{
	struct msd_eleaf *l = (void *)b;
	uint32_t count = 0;
	uint64_t mask = 0;

	memset(b, 0, MSD_UNIT);
	for (uint64_t i = 0; i < n; i++)
		if (!i || exc[i].origin != exc[i - 1].origin)
			count++;
	l->magic = le16_of(MSD_LEAF_MAGIC);
	l->version = le16_of(MSD_LEAF_VERSION);
	l->count = le32_of(count);
	l->base_chunk = le64_of(base);
	uint32_t off = MSD_UNIT - (uint32_t)(n * sizeof(struct msd_exception));
	uint32_t m = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (!i || exc[i].origin != exc[i - 1].origin) {
			l->map[m].offset = le32_of(off);
			l->map[m].rchunk = le32_of((uint32_t)(exc[i].origin - base));
			m++;
		}
		struct msd_exception *e = (void *)(b + off);
		e->share = le64_of(exc[i].share);
		e->chunk = le64_of(exc[i].chunk);
		mask |= exc[i].share;
		off += sizeof(*e);
	}
	l->map[count].offset = le32_of(MSD_UNIT);
	l->using_mask = le64_of(mask);
}

/* Bytes a leaf needs for `groups` origin chunks and `n` exceptions. */
static uint64_t leaf_bytes(uint64_t groups, uint64_t n)
{
	return sizeof(struct msd_eleaf) + (groups + 1) * sizeof(struct msd_etree_map) +
	       n * sizeof(struct msd_exception);
}

/* Write the bitmaps for the used map `used` (units bits); sets freechunks in sb. */
static int write_bitmaps(struct meta_io *io, struct msd_disksuper *sb, const uint8_t *used)
{
	uint64_t units = le64_get(sb->metadata.chunks), bb = le64_get(sb->metadata.bitmap_blocks);
	uint64_t nused = 0;
	uint8_t *b = meta_io_buf_alloc(MSD_UNIT);
	int r = 0;

	if (!b)
		return META_E_NOMEM;
	for (uint64_t i = 0; i < bb && !r; i++) {
		memset(b, 0, MSD_UNIT);
		for (uint64_t j = 0; j < MSD_UNIT * 8; j++) {
			uint64_t u = i * MSD_UNIT * 8 + j;
			if (u >= units)
				break;
			if (bit_get(used, u)) {
				bit_set(b, j);
				nused++;
			}
		}
		r = write_unit(io, MSD_BITMAP_UNIT + i, b);
	}
	free(b);
	sb->metadata.freechunks = le64_of(units - nused);
	return r;
}

static int cmp_exc(const void *a, const void *b)
{
	const struct msd_exc_desc *x = a, *y = b;
	if (x->origin != y->origin)
		return x->origin < y->origin ? -1 : 1;
	if (x->chunk != y->chunk)
		return x->chunk < y->chunk ? -1 : 1;
	return 0;
}

static int cmp_snap(const void *a, const void *b)
{
	const struct msd_snap_desc *x = a, *y = b;
	return x->tag < y->tag ? -1 : x->tag > y->tag;
}

struct built_node {
	uint64_t key, unit;
};

static uint64_t alloc_unit(uint8_t *used, uint64_t units, uint64_t *cursor)
{
	while (*cursor < units && bit_get(used, *cursor))
		(*cursor)++;
	if (*cursor >= units)
		return UINT64_MAX;
	bit_set(used, *cursor);
	return (*cursor)++;
}

/* The next free unit, written with block b: 0 and *u, META_E_NOSPC, or the write's error. */
static int place_unit(struct meta_io *io, uint8_t *used, uint64_t units, uint64_t *cursor,
		      const void *b, uint64_t *u)
{
	*u = alloc_unit(used, units, cursor);
	if (*u == UINT64_MAX)
		return META_E_NOSPC;
	return write_unit(io, *u, b);
}

struct msd_builder {
	struct meta_io *io;
	struct msd_image hdr; /* the image without exceptions */
	uint64_t units, jb, fixed_end, cursor, last, live;
	uint8_t *used; /* one bit per 4 KiB unit: fixed area, data chunks, blocks placed */
	uint8_t *b;
	struct msd_vec level; /* struct built_node: the leaves written so far */
	/* the leaf being filled: lx[0..n), groups origin chunks, the last one from lx[g0] */
	struct msd_exc_desc lx[MSD_LEAF_MAX_EXC + 1];
	uint32_t n, groups, g0;
	uint64_t base;
	bool any;
	int err; /* the first error: the builder refuses everything after it */
};

/* Fixed area and data chunks: the units leaves and index nodes may not take. */
int msd_build_new(struct meta_io *io, const struct msd_image *img, const uint8_t *data_used,
		  struct msd_builder **out)
{
	uint64_t units = img->chunks ? img->chunks : meta_io_size(io) / MSD_UNIT;
	uint64_t bb = bitmap_blocks_for(units), live = 0;
	struct msd_builder *m;
	int r;

	*out = NULL;
	if (units < MSD_BITMAP_UNIT + bb + MSD_JOURNAL_UNITS + 2 + MSD_DATA_UNITS ||
	    units > meta_io_size(io) / MSD_UNIT)
		return META_E_TOOSMALL;
	if (img->nr_snaps > MSD_MAX_SNAPSHOTS)
		return META_E_RANGE;
	for (uint32_t i = 0; i < img->nr_snaps; i++) {
		if (img->snaps[i].bit >= MSD_MAX_SNAPSHOTS || (live & (1ull << img->snaps[i].bit)))
			return META_E_INVAL;
		live |= 1ull << img->snaps[i].bit;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return META_E_NOMEM;
	m->io = io;
	m->hdr = *img;
	m->hdr.nr_exc = 0;
	m->hdr.exc = NULL;
	m->units = units;
	m->jb = MSD_BITMAP_UNIT + bb;
	m->fixed_end = m->jb + MSD_JOURNAL_UNITS;
	m->cursor = m->last = m->fixed_end;
	m->live = live;
	m->level.sz = sizeof(struct built_node);
	m->used = calloc(1, (size_t)(units / 8 + 1));
	m->b = meta_io_buf_alloc(MSD_UNIT);
	if (!m->used || !m->b) {
		msd_build_free(m);
		return META_E_NOMEM;
	}
	for (uint64_t u = 0; u < m->fixed_end; u++)
		bit_set(m->used, u);
	for (uint64_t c = 0; data_used && c < units / MSD_DATA_UNITS; c++)
		if (bit_get(data_used, c))
			for (uint64_t u = 0; u < MSD_DATA_UNITS; u++)
				bit_set(m->used, c * MSD_DATA_UNITS + u);

	/* invalidate: zero the head and the superblock, then the journal */
	memset(m->b, 0, MSD_UNIT);
	if ((r = write_unit(io, 0, m->b)) || (r = write_unit(io, MSD_SB_UNIT, m->b)) ||
	    (r = meta_io_flush(io))) {
		msd_build_free(m);
		return r;
	}
	for (uint64_t u = m->jb; u < m->fixed_end; u++)
		if ((r = write_unit(io, u, m->b))) {
			msd_build_free(m);
			return r;
		}
	*out = m;
	return 0;
}

/* Write lx[0..cnt) as a leaf; lx[cnt..n) (the group that did not fit) starts the next. */
static int build_flush(struct msd_builder *m, uint32_t cnt)
{
	struct built_node bn;
	int r;

	leaf_build(m->b, m->base, m->lx, cnt);
	if ((r = place_unit(m->io, m->used, m->units, &m->cursor, m->b, &bn.unit)))
		return r;
	m->last = bn.unit;
	bn.key = m->level.n ? m->base : 0;
	if ((r = vec_push(&m->level, &bn)))
		return r;
	memmove(m->lx, m->lx + cnt, (m->n - cnt) * sizeof(m->lx[0]));
	m->n -= cnt;
	m->groups = m->n ? 1 : 0;
	m->g0 = 0;
	if (m->n)
		m->base = m->lx[0].origin;
	return 0;
}

int msd_build_add(struct msd_builder *m, const struct msd_exc_desc *e)
{
	if (m->err)
		return m->err;
	if (e->chunk % MSD_DATA_UNITS || e->chunk < m->fixed_end ||
	    e->chunk + MSD_DATA_UNITS > m->units || !bit_get(m->used, e->chunk) || !e->share ||
	    (e->share & ~m->live) ||
	    (m->any && (e->origin < m->lx[m->n - 1].origin ||
			(e->origin == m->lx[m->n - 1].origin && e->chunk <= m->lx[m->n - 1].chunk))))
		return m->err = META_E_INVAL;
	if (!m->any || e->origin != m->lx[m->n - 1].origin) {
		/* a new origin chunk: a new group, in a new leaf when base + 2^32 is passed */
		if (!m->any)
			m->base = e->origin;
		else if (e->origin - m->base > UINT32_MAX && (m->err = build_flush(m, m->n)))
			return m->err;
		if (!m->n)
			m->base = e->origin;
		m->g0 = m->n;
		m->groups++;
	}
	m->any = true;
	m->lx[m->n++] = *e;
	if (leaf_bytes(m->groups, m->n) > MSD_UNIT) {
		/* this origin chunk's exceptions go to the next leaf, all of them */
		if (!m->g0)
			return m->err = META_E_INVAL; /* one origin chunk fills more than a leaf */
		if ((m->err = build_flush(m, m->g0)))
			return m->err;
	}
	return 0;
}

int msd_build_finish(struct msd_builder *m)
{
	struct msd_vec up = {NULL, 0, 0, sizeof(struct built_node)};
	uint32_t levels = 0;
	int r;

	if (m->err)
		return m->err;
	/* the last leaf (an empty store has one empty leaf) */
	if ((m->n || !m->level.n) && (r = build_flush(m, m->n)))
		return m->err = r;

	/* index levels, at least one */
	do {
		struct built_node *lv = m->level.p;
		for (uint64_t k = 0; k < m->level.n; k += MSD_INDEX_MAX) {
			struct msd_enode *n = (void *)m->b;
			uint64_t cnt = m->level.n - k < MSD_INDEX_MAX ? m->level.n - k : MSD_INDEX_MAX;
			struct built_node bn;
			memset(m->b, 0, MSD_UNIT);
			n->count = le32_of((uint32_t)cnt);
			for (uint64_t c = 0; c < cnt; c++) {
				n->entries[c].key = le64_of(lv[k + c].key);
				n->entries[c].sector = le64_of(lv[k + c].unit * 8);
			}
			if ((r = place_unit(m->io, m->used, m->units, &m->cursor, m->b, &bn.unit)))
				goto fail;
			m->last = bn.unit;
			bn.key = lv[k].key;
			if ((r = vec_push(&up, &bn)))
				goto fail;
		}
		free(m->level.p);
		m->level = up;
		memset(&up, 0, sizeof(up));
		up.sz = sizeof(struct built_node);
		levels++;
	} while (m->level.n > 1);

	/* the superblock */
	const struct msd_image *img = &m->hdr;
	struct msd_disksuper *sb = (void *)m->b;
	memset(m->b, 0, MSD_UNIT);
	memcpy(sb->magic, msd_magic, sizeof(msd_magic));
	sb->create_time = le64_of(img->create_time);
	sb->etree_root = le64_of(((struct built_node *)m->level.p)[0].unit * 8);
	sb->orgoffset = le64_of(img->orgoffset);
	sb->orgsectors = le64_of(img->orgsectors);
	sb->flags = le64_of(img->flags);
	struct msd_snap_desc snaps[MSD_MAX_SNAPSHOTS];
	memcpy(snaps, img->snaps, img->nr_snaps * sizeof(snaps[0]));
	qsort(snaps, img->nr_snaps, sizeof(snaps[0]), cmp_snap);
	for (uint32_t k = 0; k < img->nr_snaps; k++) {
		struct msd_snapshot *s = &sb->snaplist[k];
		s->ctime = le32_of(snaps[k].ctime);
		s->tag = le32_of(snaps[k].tag);
		s->usecount = le16_of(snaps[k].usecount);
		s->bit = snaps[k].bit;
		s->prio = (uint8_t)snaps[k].prio;
		s->sectors = le64_of(snaps[k].sectors);
	}
	sb->snapshots = le32_of(img->nr_snaps);
	sb->etree_levels = le32_of(levels);
	sb->journal_base = le32_of((uint32_t)(m->jb * 8));
	sb->journal_size = le32_of(MSD_JOURNAL_UNITS);
	sb->sequence = le32_of(img->sequence);
	sb->metadata.bitmap_base = le64_of(MSD_BITMAP_UNIT * 8);
	sb->metadata.chunks = le64_of(m->units);
	sb->metadata.last_alloc = le64_of(m->last);
	sb->metadata.bitmap_blocks = le64_of(bitmap_blocks_for(m->units));
	sb->metadata.allocsize_bits = le32_of(MSD_UNIT_SHIFT);
	sb->metadata.pad = le32_of(img->next_tag);
	/* write_bitmaps uses a buffer of its own: the superblock stays in m->b */
	if ((r = write_bitmaps(m->io, sb, m->used)) || (r = meta_io_flush(m->io)))
		goto fail;
	if ((r = write_unit(m->io, MSD_SB_UNIT, m->b)) || (r = meta_io_flush(m->io)))
		goto fail;
	return 0;
fail:
	free(up.p);
	return m->err = r;
}

void msd_build_free(struct msd_builder *m)
{
	if (!m)
		return;
	free(m->used);
	free(m->b);
	free(m->level.p);
	free(m);
}

int msd_write_image(struct meta_io *io, const struct msd_image *img)
{
	uint64_t units = img->chunks ? img->chunks : meta_io_size(io) / MSD_UNIT;
	uint64_t fixed_end = MSD_BITMAP_UNIT + bitmap_blocks_for(units) + MSD_JOURNAL_UNITS, live = 0;
	struct msd_builder *m = NULL;
	uint8_t *data = NULL;
	int r;

	if (units < fixed_end + 2 + MSD_DATA_UNITS || units > meta_io_size(io) / MSD_UNIT)
		return META_E_TOOSMALL;
	for (uint32_t i = 0; i < img->nr_snaps && i < MSD_MAX_SNAPSHOTS; i++)
		if (img->snaps[i].bit < MSD_MAX_SNAPSHOTS)
			live |= 1ull << img->snaps[i].bit;
	/* every exception checked before anything is written */
	data = calloc(1, (size_t)(units / MSD_DATA_UNITS / 8 + 1));
	if (!data)
		return META_E_NOMEM;
	for (uint64_t i = 0; i < img->nr_exc; i++) {
		const struct msd_exc_desc *e = &img->exc[i];
		uint64_t c = e->chunk / MSD_DATA_UNITS;
		if (e->chunk % MSD_DATA_UNITS || e->chunk < fixed_end || e->chunk + MSD_DATA_UNITS > units ||
		    !e->share || (e->share & ~live) || (i && cmp_exc(&img->exc[i - 1], e) >= 0) ||
		    bit_get(data, c)) {
			free(data);
			return META_E_INVAL;
		}
		bit_set(data, c);
	}
	r = msd_build_new(io, img, data, &m);
	for (uint64_t i = 0; !r && i < img->nr_exc; i++)
		r = msd_build_add(m, &img->exc[i]);
	if (!r)
		r = msd_build_finish(m);
	msd_build_free(m);
	free(data);
	return r;
}

/* ---------- ops ---------- */

static bool d_sniff(const uint8_t *head)
{
	return !memcmp(head + MSD_SB_OFFSET, msd_magic, sizeof(msd_magic));
}

static int d_format(struct meta_io *io, const struct meta_ms_params *p)
{
	struct msd_image img;

	if (p->chunk_size != MSD_CHUNK_SECTORS)
		return META_E_INVAL;
	memset(&img, 0, sizeof(img));
	img.create_time = (uint64_t)time(NULL);
	img.orgsectors = p->origin_sectors;
	if (p->generic & META_MS_SYNC_SNAPSHOTS)
		img.flags |= MSD_SB_SYNC_SNAPSHOTS;
	if (p->generic & META_MS_PRESERVE_ON_ERROR)
		img.flags |= MSD_SB_PRESERVE_ON_ERROR;
	return msd_write_image(io, &img);
}

static void d_close(void *vst)
{
	struct msd_state *st = vst;
	if (!st)
		return;
	walk_free(&st->w);
	free(st->bm);
	free(st->sbuf);
	free(st);
}

static int d_open(struct meta_io *io, bool write, void **out)
{
	struct msd_state *st = calloc(1, sizeof(*st));
	int r;

	*out = NULL;
	if (!st)
		return META_E_NOMEM;
	st->io = io;
	st->write = write;
	st->w.io = io;
	st->sbuf = meta_io_buf_alloc(MSD_UNIT);
	if (!st->sbuf) {
		r = META_E_NOMEM;
		goto fail;
	}
	st->sb = (void *)st->sbuf;
	if (meta_io_size(io) < 2 * MSD_UNIT) {
		r = META_E_TOOSMALL;
		goto fail;
	}
	if ((r = meta_io_pread(io, st->sbuf, MSD_UNIT, MSD_SB_OFFSET)))
		goto fail;
	if (memcmp(st->sb->magic, msd_magic, sizeof(msd_magic))) {
		r = META_E_BADMAGIC;
		goto fail;
	}
	if (le64_get(st->sb->snapdata.chunks)) {
		r = META_E_UNSUPPORTED;
		goto fail;
	}
	st->w.worst = -1;
	if (!sb_validate(&st->w, st->sb, meta_io_size(io)) || st->w.worst >= META_SEV_FATAL) {
		r = META_E_CORRUPT;
		goto fail;
	}
	/* the whole tree, to refuse a damaged store and count it; nothing of it is kept */
	r = walk_tree(&st->w, st->sb);
	walk_free(&st->w);
	if (r)
		goto fail;
	if (st->w.worst >= META_SEV_FATAL) {
		r = META_E_CORRUPT;
		goto fail;
	}
	*out = st;
	return 0;
fail:
	d_close(st);
	return r;
}

static uint32_t d_chunk_size(void *st)
{
	(void)st;
	return MSD_CHUNK_SECTORS;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int d_snapshots(void *vst, meta_ms_id **ids, uint64_t *n)
{
	struct msd_state *st = vst;
	uint32_t cnt = le32_get(st->sb->snapshots);
	meta_ms_id *v = malloc((cnt ? cnt : 1) * sizeof(*v));

	if (!v)
		return META_E_NOMEM;
	for (uint32_t i = 0; i < cnt; i++)
		v[i] = le32_get(st->sb->snaplist[i].tag);
	qsort(v, cnt, sizeof(*v), cmp_u64);
	*ids = v;
	*n = cnt;
	return 0;
}

static int d_status(void *vst, struct meta_ms_status *s)
{
	struct msd_state *st = vst;
	uint64_t units = le64_get(st->sb->metadata.chunks);
	uint64_t free_ = le64_get(st->sb->metadata.freechunks);
	uint64_t usedu = units - free_, data = st->w.nr_exc * MSD_DATA_UNITS;

	memset(s, 0, sizeof(*s));
	s->total_sectors = meta_io_size(st->io) / 512;
	s->sectors_allocated = usedu * (MSD_UNIT / 512);
	s->metadata_sectors = (usedu > data ? usedu - data : 0) * (MSD_UNIT / 512);
	s->nr_ids = le32_get(st->sb->snapshots);
	return 0;
}

static int write_sb(struct msd_state *st)
{
	int r = meta_io_pwrite(st->io, st->sbuf, MSD_UNIT, MSD_SB_OFFSET);
	return r ? r : meta_io_flush(st->io);
}

static int d_create(void *vst, meta_ms_id *id)
{
	struct msd_state *st = vst;
	struct msd_disksuper *sb = st->sb;
	uint32_t n = le32_get(sb->snapshots);
	uint64_t next = le32_get(sb->metadata.pad), bits = 0;

	if (!st->write)
		return META_E_PERM;
	if (n >= MSD_MAX_SNAPSHOTS)
		return META_E_RANGE;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t t = le32_get(sb->snaplist[i].tag);
		if (t + 1 > next)
			next = t + 1;
		bits |= 1ull << sb->snaplist[i].bit;
	}
	if (next >= UINT32_MAX)
		return META_E_RANGE;
	uint8_t bit = 0;
	while (bits & (1ull << bit))
		bit++;
	struct msd_snapshot *s = &sb->snaplist[n];
	memset(s, 0, sizeof(*s));
	s->ctime = le32_of((uint32_t)time(NULL));
	s->tag = le32_of((uint32_t)next);
	s->bit = bit;
	sb->snapshots = le32_of(n + 1);
	sb->metadata.pad = le32_of((uint32_t)next + 1);
	st->w.live_mask |= 1ull << bit;
	*id = next;
	return write_sb(st);
}

static void d_set_generic(void *vst, unsigned generic)
{
	struct msd_state *st = vst;
	if (generic & META_MS_PRESERVE_ON_ERROR)
		st->sb->flags = le64_of(le64_get(st->sb->flags) | MSD_SB_PRESERVE_ON_ERROR);
}

static int d_create_subsnap(void *st, meta_ms_id master, meta_ms_id *id)
{
	(void)st;
	(void)master;
	(void)id;
	return META_E_UNSUPPORTED;
}

/*
 * Walk st's tree again (whole at open; META_E_CORRUPT when it is not any more) with on_leaf.
 * w->seen then holds the units the tree references: the caller frees it (walk_free).
 */
static int state_walk(struct msd_state *st, struct msd_walk *w, msd_leaf_fn on_leaf, void *arg)
{
	int r;

	memset(w, 0, sizeof(*w));
	w->io = st->io;
	w->units = st->w.units;
	w->fixed_end = st->w.fixed_end;
	w->levels = st->w.levels;
	w->live_mask = st->w.live_mask;
	w->worst = -1;
	w->on_leaf = on_leaf;
	w->arg = arg;
	r = walk_tree(w, st->sb);
	if (!r && w->worst >= META_SEV_FATAL)
		r = META_E_CORRUPT;
	return r;
}

struct del_ctx {
	struct meta_io *io;
	uint64_t bit;
	uint8_t *b; /* a block buffer */
};

/* A leaf without the deleted snapshot's bit, rewritten when it changes; the COW chunks
 * nobody shares any more leave the walk's seen map (which becomes the new bitmap). */
static int delete_leaf(struct msd_walk *w, uint64_t unit, uint64_t base, struct msd_exc_desc *exc,
		       uint32_t n)
{
	struct del_ctx *c = w->arg;
	uint32_t out = 0;
	bool changed = false;

	for (uint32_t i = 0; i < n; i++) {
		struct msd_exc_desc e = exc[i];
		if (e.share & c->bit) {
			changed = true;
			e.share &= ~c->bit;
		}
		if (e.share)
			exc[out++] = e;
		else
			for (uint64_t u = 0; u < MSD_DATA_UNITS; u++)
				w->seen[(e.chunk + u) >> 3] &= (uint8_t)~(1u << ((e.chunk + u) & 7));
	}
	w->nr_exc -= n - out;
	if (!changed)
		return 0;
	leaf_build(c->b, base, exc, out);
	return write_unit(c->io, unit, c->b);
}

/*
 * Memory: one bit per 4 KiB unit of the store (the walk's seen map, then the bitmaps) and
 * the blocks of one index node's leaves; the exceptions are streamed leaf by leaf.
 */
static int d_delete(void *vst, meta_ms_id id)
{
	struct msd_state *st = vst;
	struct msd_disksuper *sb = st->sb;
	uint32_t n = le32_get(sb->snapshots), k;
	struct msd_walk *w = NULL;
	struct del_ctx c = {st->io, 0, NULL};
	int r;

	if (!st->write)
		return META_E_PERM;
	for (k = 0; k < n; k++)
		if (le32_get(sb->snaplist[k].tag) == id)
			break;
	if (k == n || id > UINT32_MAX)
		return META_E_NOTFOUND;
	c.bit = 1ull << sb->snaplist[k].bit;
	c.b = meta_io_buf_alloc(MSD_UNIT);
	w = calloc(1, sizeof(*w));
	if (!c.b || !w) {
		r = META_E_NOMEM;
		goto done;
	}

	/* 1: mark the delete in progress (an earlier interrupted delete stays marked) */
	uint64_t was_deleting = le64_get(sb->deleting);
	sb->deleting = le64_of(was_deleting | c.bit);
	if ((r = write_sb(st)))
		goto done;

	/* 2: rewrite the leaves that change, dropping exceptions nobody shares any more */
	if ((r = state_walk(st, w, delete_leaf, &c)))
		goto done;

	/* 3: bitmaps: what the tree references now (the engine's copy is stale) */
	free(st->bm);
	st->bm = NULL;
	if ((r = write_bitmaps(st->io, sb, w->seen)))
		goto done;
	st->w.nr_exc = w->nr_exc;

	/* 4: the superblock without the snapshot */
	memmove(&sb->snaplist[k], &sb->snaplist[k + 1], (n - k - 1) * sizeof(sb->snaplist[0]));
	memset(&sb->snaplist[n - 1], 0, sizeof(sb->snaplist[0]));
	sb->snapshots = le32_of(n - 1);
	sb->deleting = le64_of(was_deleting & ~c.bit);
	st->w.live_mask &= ~c.bit;
	r = write_sb(st);
done:
	if (w)
		walk_free(w);
	free(w);
	free(c.b);
	return r;
}

/* ---------- the engine (meta_ms_read / write_origin / write_snapshot) ----------
 *
 * An exception (origin chunk c -> COW chunk, share) is what every snapshot whose bit is in
 * share reads for c.  Origin write of c: ONE new COW chunk with the old origin data and one
 * exception whose share is every live snapshot no exception of c names (none: no copy).
 * Snapshot write: an exception whose share is the snapshot's bit alone is written in place;
 * else a new chunk (a copy of the shared one, or of the origin) takes the write and the bit
 * moves out of the old share into a new exception.  A write never frees a chunk.
 *
 * No journal.  Order of one call: the COW data (flushed); the tree, origin chunk by origin
 * chunk (a leaf that overflows splits: the new nodes first, then -- when the root split --
 * the superblock, then the changed nodes from the top down); the bitmap blocks that changed
 * (flushed); the superblock (freechunks, last_alloc; flushed); then the origin.  A full
 * store (the chunks a call needs, and the worst case of node splits, are taken from the
 * bitmap before anything is written) is META_E_NOSPC with nothing written.  What a crash
 * leaves: man/multisnap-store-daniel.5.part.
 */

#define MSD_CHUNK_BYTES (MSD_CHUNK_SECTORS * 512u)
#define MSD_MAX_LEVELS 16

/* The path from the root to the leaf of origin chunk c; the block of level l at b + l * 4096. */
struct msd_path {
	uint32_t levels;
	uint64_t unit[MSD_MAX_LEVELS + 1];
	uint32_t idx[MSD_MAX_LEVELS + 1]; /* the entry taken in the index node of level l */
	uint8_t *b;
};

struct msd_eng {
	struct msd_state *st;
	struct msd_path p;
	struct msd_exc_desc x[MSD_LEAF_MAX_EXC + 1]; /* the leaf's exceptions (+ one added) */
	uint32_t n;
	struct msd_index_entry ie[MSD_INDEX_MAX + 1];
	uint8_t *nb;   /* new nodes of one insert: MSD_MAX_LEVELS + 2 blocks */
	uint8_t *cbuf; /* one 16 KiB chunk */
	uint64_t *res; /* units taken for node splits, not used yet */
	uint64_t nres;
};

static unsigned snap_bit(const struct msd_disksuper *sb, uint64_t tag)
{
	for (uint32_t i = 0; i < le32_get(sb->snapshots) && i < MSD_MAX_SNAPSHOTS; i++)
		if (le32_get(sb->snaplist[i].tag) == tag)
			return sb->snaplist[i].bit;
	return MSD_MAX_SNAPSHOTS;
}

static void eng_free(struct msd_eng *g)
{
	if (!g)
		return;
	free(g->p.b);
	free(g->nb);
	free(g->cbuf);
	free(g->res);
	free(g);
}

static struct msd_eng *eng_new(struct msd_state *st)
{
	struct msd_eng *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->st = st;
	g->p.b = meta_io_buf_alloc((MSD_MAX_LEVELS + 2) * (size_t)MSD_UNIT);
	g->nb = meta_io_buf_alloc((MSD_MAX_LEVELS + 2) * (size_t)MSD_UNIT);
	g->cbuf = meta_io_buf_alloc(MSD_CHUNK_BYTES);
	if (!g->p.b || !g->nb || !g->cbuf) {
		eng_free(g);
		return NULL;
	}
	return g;
}

/* Read the path to origin chunk c's leaf and the leaf's exceptions (g->x, g->n). */
static int eng_find(struct msd_eng *g, uint64_t c)
{
	struct msd_state *st = g->st;
	struct msd_path *p = &g->p;
	uint64_t unit = le64_get(st->sb->etree_root) / 8;
	int r;

	p->levels = le32_get(st->sb->etree_levels);
	if (p->levels < 1 || p->levels > MSD_MAX_LEVELS)
		return META_E_CORRUPT;
	for (uint32_t l = p->levels;; l--) {
		uint8_t *b = p->b + (size_t)l * MSD_UNIT;
		if (unit < st->w.fixed_end || unit >= st->w.units)
			return META_E_CORRUPT;
		p->unit[l] = unit;
		if ((r = meta_io_pread(st->io, b, MSD_UNIT, unit * MSD_UNIT)))
			return r;
		if (!l)
			break;
		const struct msd_enode *n = (const void *)b;
		uint32_t count = le32_get(n->count), i = 0;
		if (count < 1 || count > MSD_INDEX_MAX)
			return META_E_CORRUPT;
		while (i + 1 < count && le64_get(n->entries[i + 1].key) <= c)
			i++;
		p->idx[l] = i;
		unit = le64_get(n->entries[i].sector) / 8;
	}

	/* the leaf, with the bounds the walk checks (the store was walked whole at open) */
	const uint8_t *b = p->b;
	const struct msd_eleaf *l = (const void *)b;
	uint32_t count = le32_get(l->count);
	uint64_t base = le64_get(l->base_chunk), map_end;
	g->n = 0;
	if (le16_get(l->magic) != MSD_LEAF_MAGIC ||
	    (uint64_t)count >= (MSD_UNIT - sizeof(*l)) / sizeof(l->map[0]))
		return META_E_CORRUPT;
	map_end = sizeof(*l) + ((uint64_t)count + 1) * sizeof(l->map[0]);
	for (uint32_t i = 0; i < count; i++) {
		uint32_t off = le32_get(l->map[i].offset), next = le32_get(l->map[i + 1].offset);
		if (off < map_end || next <= off || next > MSD_UNIT ||
		    (next - off) % sizeof(struct msd_exception))
			return META_E_CORRUPT;
		for (uint32_t o = off; o < next; o += sizeof(struct msd_exception)) {
			const struct msd_exception *e = (const void *)(b + o);
			if (g->n >= MSD_LEAF_MAX_EXC)
				return META_E_CORRUPT;
			g->x[g->n++] = (struct msd_exc_desc){base + le32_get(l->map[i].rchunk),
							     le64_get(e->chunk), le64_get(e->share)};
		}
	}
	return 0;
}

enum { PLAN_NONE, PLAN_IN_PLACE, PLAN_COPY };

/*
 * What a write to origin chunk c does (bit: the snapshot's share bit; 0: an origin write):
 * *ei the exception bit reads (g->n: none), *share the new exception's share.  Loads g.
 */
static int eng_plan(struct msd_eng *g, uint64_t c, uint64_t bit, int *what, uint32_t *ei,
		    uint64_t *share)
{
	uint64_t covered = 0;
	int r = eng_find(g, c);
	if (r)
		return r;
	*ei = g->n;
	for (uint32_t i = 0; i < g->n; i++)
		if (g->x[i].origin == c) {
			covered |= g->x[i].share;
			if (g->x[i].share & bit)
				*ei = i;
		}
	if (!bit) {
		*share = g->st->w.live_mask & ~covered;
		*what = *share ? PLAN_COPY : PLAN_NONE;
	} else {
		*share = bit;
		*what = *ei < g->n && g->x[*ei].share == bit ? PLAN_IN_PLACE : PLAN_COPY;
	}
	return 0;
}

/* ---- the allocator: the bitmap copy ---- */

static int bm_load(struct msd_state *st)
{
	uint64_t bb = le64_get(st->sb->metadata.bitmap_blocks);
	int r;
	if (st->bm)
		return 0;
	st->bm = meta_io_buf_alloc((size_t)bb * MSD_UNIT);
	if (!st->bm)
		return META_E_NOMEM;
	r = meta_io_pread(st->io, st->bm, (size_t)bb * MSD_UNIT, (uint64_t)MSD_BITMAP_UNIT * MSD_UNIT);
	if (r) {
		free(st->bm);
		st->bm = NULL;
	}
	st->bm_lo = UINT64_MAX;
	st->bm_hi = 0;
	st->bm_taken = 0;
	return r;
}

static void bm_mark(struct msd_state *st, uint64_t u, uint64_t n, bool on)
{
	for (uint64_t i = u; i < u + n; i++) {
		if (on)
			bit_set(st->bm, i);
		else
			st->bm[i >> 3] &= (uint8_t)~(1u << (i & 7));
	}
	st->bm_taken = on ? st->bm_taken + n : st->bm_taken - n;
	if (u < st->bm_lo)
		st->bm_lo = u;
	if (u + n > st->bm_hi)
		st->bm_hi = u + n;
}

static uint64_t bm_scan(const struct msd_state *st, uint64_t from, uint64_t to, uint64_t step)
{
	for (uint64_t u = from; u + step <= to;) {
		bool free_ = true;
		if (!(u & 7) && st->bm[u >> 3] == 0xff) {
			u += 8;
			continue;
		}
		for (uint64_t i = u; i < u + step && free_; i++)
			free_ = !bit_get(st->bm, i);
		if (free_)
			return u;
		u += step;
	}
	return UINT64_MAX;
}

/* `step` free units (a data chunk: 4, aligned) after last_alloc, marked; UINT64_MAX: none. */
static uint64_t bm_take(struct msd_state *st, uint64_t step)
{
	uint64_t first = (st->w.fixed_end + step - 1) / step * step;
	uint64_t start = le64_get(st->sb->metadata.last_alloc) + 1, u;
	start = start < first || start > st->w.units ? first : (start + step - 1) / step * step;
	u = bm_scan(st, start, st->w.units, step);
	if (u == UINT64_MAX)
		u = bm_scan(st, first, start, step);
	if (u != UINT64_MAX) {
		bm_mark(st, u, step, true);
		st->sb->metadata.last_alloc = le64_of(u + step - 1);
	}
	return u;
}

/* The bitmap blocks changed since the last call, flushed; freechunks follows them. */
static int bm_write(struct msd_state *st)
{
	int r = 0;
	if (st->bm_hi > st->bm_lo) {
		uint64_t per = (uint64_t)MSD_UNIT * 8;
		for (uint64_t b = st->bm_lo / per; b <= (st->bm_hi - 1) / per && !r; b++)
			r = write_unit(st->io, MSD_BITMAP_UNIT + b, st->bm + b * MSD_UNIT);
		if (!r)
			r = meta_io_flush(st->io);
	}
	if (!r) {
		st->sb->metadata.freechunks =
			le64_of(le64_get(st->sb->metadata.freechunks) - st->bm_taken);
		st->bm_lo = UINT64_MAX;
		st->bm_hi = 0;
		st->bm_taken = 0;
	}
	return r;
}

/* A unit for a new node: one reserved by the call, else any free one. */
static uint64_t eng_node_unit(struct msd_eng *g)
{
	return g->nres ? g->res[--g->nres] : bm_take(g->st, 1);
}

/* ---- the tree ---- */

static void node_put(uint8_t *b, const struct msd_index_entry *e, uint32_t n)
{
	struct msd_enode *nd = (void *)b;
	memset(b, 0, MSD_UNIT);
	nd->count = le32_of(n);
	memcpy(nd->entries, e, n * sizeof(*e));
}

/*
 * Store g->x[0..n) (sorted by origin) as the leaf of g->p.  A leaf that does not fit splits
 * at an origin-chunk boundary; the new right half goes into the parent, which splits in
 * turn when full; a root that splits makes a new root (one more level).
 */
static int eng_store_leaf(struct msd_eng *g)
{
	struct msd_state *st = g->st;
	struct msd_path *p = &g->p;
	uint32_t n = g->n, groups = 0, k, nnew = 0, top = 0;
	uint64_t new_unit[MSD_MAX_LEVELS + 2], key, child;
	int r = 0;

	for (uint32_t i = 0; i < n; i++)
		groups += !i || g->x[i].origin != g->x[i - 1].origin;
	if (leaf_bytes(groups, n) <= MSD_UNIT && g->x[n - 1].origin - g->x[0].origin <= UINT32_MAX) {
		leaf_build(p->b, g->x[0].origin, g->x, n);
		return write_unit(st->io, p->unit[0], p->b);
	}
	/* split at the origin-chunk boundary nearest the middle */
	for (k = n / 2; k < n && g->x[k].origin == g->x[k - 1].origin; k++)
		;
	if (k == n)
		for (k = n / 2; k > 0 && g->x[k].origin == g->x[k - 1].origin; k--)
			;
	if (!k || g->x[k - 1].origin - g->x[0].origin > UINT32_MAX ||
	    g->x[n - 1].origin - g->x[k].origin > UINT32_MAX)
		return META_E_RANGE; /* origin chunks 2^32 apart in one leaf: past 64 TiB */
	if (p->levels >= MSD_MAX_LEVELS)
		return META_E_RANGE;
	leaf_build(p->b, g->x[0].origin, g->x, k);
	leaf_build(g->nb, g->x[k].origin, g->x + k, n - k);
	if ((new_unit[nnew] = eng_node_unit(g)) == UINT64_MAX)
		return META_E_NOSPC;
	key = g->x[k].origin;
	child = new_unit[nnew++];
	st->w.nr_leaves++;
	for (uint32_t l = 1;; l++) {
		if (l > p->levels) {
			/* the root split: a new root over the two halves */
			struct msd_index_entry e[2] = {{le64_of(0), le64_of(p->unit[l - 1] * 8)},
						       {le64_of(key), le64_of(child * 8)}};
			uint8_t *b = g->nb + (size_t)nnew * MSD_UNIT;
			if ((new_unit[nnew] = eng_node_unit(g)) == UINT64_MAX)
				return META_E_NOSPC;
			node_put(b, e, 2);
			st->sb->etree_root = le64_of(new_unit[nnew] * 8);
			st->sb->etree_levels = le32_of(l);
			st->w.levels = l; /* the walks of this handle (dump, delete) */
			nnew++;
			st->w.nr_index++;
			top = l - 1;
			break;
		}
		uint8_t *b = p->b + (size_t)l * MSD_UNIT;
		const struct msd_enode *nd = (const void *)b;
		uint32_t cnt = le32_get(nd->count), at = p->idx[l] + 1;
		memcpy(g->ie, nd->entries, at * sizeof(g->ie[0]));
		g->ie[at] = (struct msd_index_entry){le64_of(key), le64_of(child * 8)};
		memcpy(g->ie + at + 1, nd->entries + at, (cnt - at) * sizeof(g->ie[0]));
		cnt++;
		top = l;
		if (cnt <= MSD_INDEX_MAX) {
			node_put(b, g->ie, cnt);
			break;
		}
		uint32_t half = cnt / 2;
		node_put(b, g->ie, half);
		node_put(g->nb + (size_t)nnew * MSD_UNIT, g->ie + half, cnt - half);
		if ((new_unit[nnew] = eng_node_unit(g)) == UINT64_MAX)
			return META_E_NOSPC;
		key = le64_get(g->ie[half].key);
		child = new_unit[nnew++];
		st->w.nr_index++;
	}
	/* new nodes, the superblock when the root changed, then the old nodes top down */
	for (uint32_t i = 0; i < nnew && !r; i++)
		r = write_unit(st->io, new_unit[i], g->nb + (size_t)i * MSD_UNIT);
	if (!r && le32_get(st->sb->etree_levels) != p->levels)
		r = write_sb(st);
	for (uint32_t l = top + 1; l-- > 0 && !r;)
		r = write_unit(st->io, p->unit[l], p->b + (size_t)l * MSD_UNIT);
	return r;
}

/* Add exception {c, chunk, share} to g->x (the exceptions of c: ascending chunk). */
static void eng_insert(struct msd_eng *g, uint64_t c, uint64_t chunk, uint64_t share)
{
	uint32_t i = 0;
	struct msd_exc_desc e = {c, chunk, share};
	while (i < g->n && cmp_exc(&g->x[i], &e) < 0)
		i++;
	memmove(g->x + i + 1, g->x + i, (g->n - i) * sizeof(g->x[0]));
	g->x[i] = e;
	g->n++;
	g->st->w.nr_exc++;
}

/* Origin chunk c whole into buf (zeros past the origin's end). */
static int eng_origin_chunk(struct meta_io *origin, uint64_t c, uint8_t *buf)
{
	uint64_t start = c * MSD_CHUNK_BYTES, size = meta_io_size(origin);
	uint64_t n = start < size ? size - start : 0;
	if (n > MSD_CHUNK_BYTES)
		n = MSD_CHUNK_BYTES;
	memset(buf + n, 0, MSD_CHUNK_BYTES - n);
	return n ? meta_io_pread(origin, buf, (size_t)n, start) : 0;
}

static int d_read(void *vst, struct meta_io *origin, meta_ms_id id, uint64_t off, uint64_t len,
		  void *buf)
{
	struct msd_state *st = vst;
	unsigned b = id > UINT32_MAX ? MSD_MAX_SNAPSHOTS : snap_bit(st->sb, id);
	struct msd_eng *g;
	int r = 0;

	if (st->failed)
		return st->failed;
	if (b >= MSD_MAX_SNAPSHOTS)
		return META_E_NOTFOUND;
	if (!(g = eng_new(st)))
		return META_E_NOMEM;
	for (uint64_t pos = off, end = off + len; pos < end && !r;) {
		uint64_t c = pos / MSD_CHUNK_BYTES;
		uint64_t pend = (c + 1) * MSD_CHUNK_BYTES < end ? (c + 1) * MSD_CHUNK_BYTES : end;
		uint8_t *dst = (uint8_t *)buf + (pos - off);
		uint32_t ei;
		uint64_t share;
		int what;
		r = eng_plan(g, c, 1ull << b, &what, &ei, &share);
		if (!r && ei < g->n)
			r = meta_io_pread(st->io, dst, (size_t)(pend - pos),
					  g->x[ei].chunk * MSD_UNIT + (pos - c * MSD_CHUNK_BYTES));
		else if (!r)
			r = meta_io_pread(origin, dst, (size_t)(pend - pos), pos);
		pos = pend;
	}
	eng_free(g);
	return r;
}

/*
 * One write: bit 0 = the origin.  Pass 1 counts the chunks to copy and takes them (and the
 * worst case of node splits) from the bitmap copy; pass 2 writes the data; pass 3 the tree;
 * then the bitmaps and the superblock.
 */
static int eng_write(struct msd_state *st, struct meta_io *origin, uint64_t bit, uint64_t off,
		     uint64_t len, const uint8_t *buf, uint64_t *copies)
{
	uint64_t c0 = off / MSD_CHUNK_BYTES, c1 = (off + len - 1) / MSD_CHUNK_BYTES, need = 0;
	uint64_t *data = NULL, nmeta;
	struct msd_eng *g;
	int r, what;
	uint32_t ei;
	uint64_t share;

	if (!(g = eng_new(st)))
		return META_E_NOMEM;
	if ((r = bm_load(st)))
		goto out;
	for (uint64_t c = c0; c <= c1 && !r; c++) {
		r = eng_plan(g, c, bit, &what, &ei, &share);
		need += what == PLAN_COPY;
	}
	if (r)
		goto out;
	if (!need)
		goto data;
	/* every chunk and node unit the call may need, or META_E_NOSPC with nothing changed */
	nmeta = need * (le32_get(st->sb->etree_levels) + 3);
	data = malloc(need * sizeof(*data));
	g->res = malloc(nmeta * sizeof(*g->res));
	if (!data || !g->res) {
		r = META_E_NOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < need && !r; i++)
		if ((data[i] = bm_take(st, MSD_DATA_UNITS)) == UINT64_MAX) {
			for (uint64_t j = 0; j < i; j++)
				bm_mark(st, data[j], MSD_DATA_UNITS, false);
			r = META_E_NOSPC;
		}
	for (; !r && g->nres < nmeta; g->nres++)
		if ((g->res[g->nres] = bm_take(st, 1)) == UINT64_MAX) {
			for (uint64_t j = 0; j < need; j++)
				bm_mark(st, data[j], MSD_DATA_UNITS, false);
			for (uint64_t j = 0; j < g->nres; j++)
				bm_mark(st, g->res[j], 1, false);
			g->nres = 0;
			r = META_E_NOSPC;
		}
	if (r)
		goto out;
data:
	/* pass 2: the data (in place, or into the chunks taken) */
	for (uint64_t pos = off, end = off + len, i = 0; pos < end && !r;) {
		uint64_t c = pos / MSD_CHUNK_BYTES, in = pos - c * MSD_CHUNK_BYTES;
		uint64_t pend = (c + 1) * MSD_CHUNK_BYTES < end ? (c + 1) * MSD_CHUNK_BYTES : end;
		const uint8_t *src = buf + (pos - off);
		r = eng_plan(g, c, bit, &what, &ei, &share);
		if (!r && what == PLAN_IN_PLACE)
			r = meta_io_pwrite(st->io, src, (size_t)(pend - pos),
					   g->x[ei].chunk * MSD_UNIT + in);
		if (!r && what == PLAN_COPY) {
			if (ei < g->n)
				r = meta_io_pread(st->io, g->cbuf, MSD_CHUNK_BYTES, g->x[ei].chunk * MSD_UNIT);
			else
				r = eng_origin_chunk(origin, c, g->cbuf);
			if (!r && bit)
				memcpy(g->cbuf + in, src, (size_t)(pend - pos));
			if (!r)
				r = meta_io_pwrite(st->io, g->cbuf, MSD_CHUNK_BYTES, data[i++] * MSD_UNIT);
		}
		pos = pend;
	}
	if (r || !need) {
		if (need)
			for (uint64_t j = 0; j < need; j++)
				bm_mark(st, data[j], MSD_DATA_UNITS, false);
		goto out;
	}
	if ((r = meta_io_flush(st->io)))
		goto out;

	/* pass 3: the tree; from here on a failure leaves the handle failed */
	for (uint64_t c = c0, i = 0; c <= c1 && !r; c++) {
		r = eng_plan(g, c, bit, &what, &ei, &share);
		if (r || what != PLAN_COPY)
			continue;
		if (ei < g->n)
			g->x[ei].share &= ~bit;
		eng_insert(g, c, data[i++], share);
		r = eng_store_leaf(g);
	}
	while (g->nres)
		bm_mark(st, g->res[--g->nres], 1, false);
	{
		int r2 = bm_write(st);
		if (!r2)
			r2 = write_sb(st);
		if (!r)
			r = r2;
	}
	if (r)
		st->failed = r;
	else if (copies)
		*copies += need;
out:
	if (r && !st->failed && g->nres) {
		while (g->nres)
			bm_mark(st, g->res[--g->nres], 1, false);
	}
	free(data);
	eng_free(g);
	if (!r && !bit)
		r = meta_io_pwrite(origin, buf, (size_t)len, off);
	return r;
}

static int d_write_origin(void *vst, struct meta_io *origin, uint64_t off, uint64_t len,
			  const void *buf)
{
	struct msd_state *st = vst;
	if (st->failed)
		return st->failed;
	if (!st->write)
		return META_E_INVAL;
	return eng_write(st, origin, 0, off, len, buf, NULL);
}

static int d_write_snapshot(void *vst, struct meta_io *origin, meta_ms_id id, uint64_t off,
			    uint64_t len, const void *buf)
{
	struct msd_state *st = vst;
	unsigned b = id > UINT32_MAX ? MSD_MAX_SNAPSHOTS : snap_bit(st->sb, id);
	if (st->failed)
		return st->failed;
	if (!st->write)
		return META_E_INVAL;
	if (b >= MSD_MAX_SNAPSHOTS)
		return META_E_NOTFOUND;
	return eng_write(st, origin, 1ull << b, off, len, buf, NULL);
}

/* ---------- check ---------- */

static void check_bitmaps(struct msd_walk *w, const struct msd_disksuper *sb)
{
	uint64_t bb = le64_get(sb->metadata.bitmap_blocks), nused = 0;
	uint8_t *b = meta_io_buf_alloc(MSD_UNIT);
	/* runs of disagreement: kind 0 none, 1 used-but-free, 2 leaked */
	int run = 0;
	uint64_t run_start = 0;

	if (!b) {
		w->err = META_E_NOMEM;
		return;
	}
	for (uint64_t i = 0; i < bb; i++) {
		bool ok = !meta_io_pread(w->io, b, MSD_UNIT, (MSD_BITMAP_UNIT + i) * MSD_UNIT);
		if (!ok)
			report(w, META_DMG_MSD_IO, MSD_BITMAP_UNIT + i, MSD_BITMAP_UNIT + i,
			       MSD_BITMAP_UNIT + i + 1, 1, "bitmap block %" PRIu64, i);
		for (uint64_t j = 0; j <= MSD_UNIT * 8; j++) {
			uint64_t u = i * MSD_UNIT * 8 + j;
			int kind = 0;
			bool end = j == MSD_UNIT * 8 || u >= w->units;
			if (!end && ok) {
				bool on = bit_get(b, j), want = bit_get(w->seen, u);
				nused += on;
				kind = want && !on ? 1 : !want && on ? 2 : 0;
			}
			if (kind != run) {
				if (run)
					report(w, run == 1 ? META_DMG_MSD_BITMAP_FREE : META_DMG_MSD_LEAK,
					       run_start, run_start, u, u - run_start,
					       "chunks %" PRIu64 "..%" PRIu64 " (bitmap block %" PRIu64 ")",
					       run_start, u - 1, MSD_BITMAP_UNIT + i);
				run = kind;
				run_start = u;
			}
			if (end)
				break;
		}
	}
	free(b);
	uint64_t f = le64_get(sb->metadata.freechunks);
	if (f != w->units - nused)
		report(w, META_DMG_MSD_FREE_COUNT, MSD_SB_UNIT, 0, 0, 0,
		       "freechunks %" PRIu64 ", the bitmap has %" PRIu64 " free", f, w->units - nused);
}

static void check_journal(struct msd_walk *w, const struct msd_disksuper *sb)
{
	uint64_t jb = le32_get(sb->journal_base) / 8, js = le32_get(sb->journal_size);
	int32_t seq = (int32_t)le32_get(sb->sequence);
	uint8_t *b = meta_io_buf_alloc(MSD_UNIT);

	if (!b) {
		w->err = META_E_NOMEM;
		return;
	}
	for (uint64_t u = jb; u < jb + js; u++) {
		if (meta_io_pread(w->io, b, MSD_UNIT, u * MSD_UNIT)) {
			report(w, META_DMG_MSD_IO, u, u, u + 1, 1, "journal chunk %" PRIu64, u);
			continue;
		}
		const struct msd_commit_block *c = (const void *)b;
		if (memcmp(c->magic, msd_commit_magic, sizeof(msd_commit_magic)))
			continue;
		int32_t cs = (int32_t)le32_get(c->sequence);
		if ((int32_t)(cs - seq) > 0)
			report(w, META_DMG_MSD_JOURNAL_UNREPLAYED, u, u, u + 1, 1,
			       "commit block sequence %" PRId32 " > superblock sequence %" PRId32, cs, seq);
	}
	free(b);
}

static int d_check_origin(struct meta_io *io, uint64_t origin_sectors, meta_damage_fn fn,
			  void *ctx)
{
	struct msd_walk w;
	uint8_t *sbuf = meta_io_buf_alloc(MSD_UNIT);
	const struct msd_disksuper *sb = (const void *)sbuf;

	memset(&w, 0, sizeof(w));
	w.io = io;
	w.fn = fn;
	w.ctx = ctx;
	w.worst = -1;
	/* a last chunk the origin fills in part is the origin's */
	w.origin_chunks = (origin_sectors + MSD_CHUNK_SECTORS - 1) / MSD_CHUNK_SECTORS;
	if (!sbuf)
		return META_SEV_FATAL;
	if (meta_io_size(io) < 2 * MSD_UNIT || meta_io_pread(io, sbuf, MSD_UNIT, MSD_SB_OFFSET)) {
		report(&w, META_DMG_MSD_IO, MSD_SB_UNIT, MSD_SB_UNIT, MSD_SB_UNIT + 1, 1,
		       "the superblock (byte 4096) cannot be read");
		free(sbuf);
		return w.worst;
	}
	if (sb_validate(&w, sb, meta_io_size(io))) {
		if (le64_get(sb->flags) & MSD_SB_BUSY)
			report(&w, META_DMG_MSD_NOT_CLOSED, MSD_SB_UNIT, 0, 0, 0, "flags 0x%" PRIx64,
			       le64_get(sb->flags));
		uint64_t del = le64_get(sb->deleting);
		if (del) {
			char tags[160] = "";
			size_t len = 0;
			for (uint32_t i = 0; i < le32_get(sb->snapshots) && i < MSD_MAX_SNAPSHOTS; i++)
				if (sb->snaplist[i].bit < 64 && (del & (1ull << sb->snaplist[i].bit)))
					len += (size_t)snprintf(tags + len, len < sizeof(tags) ? sizeof(tags) - len : 0,
								" %" PRIu32, le32_get(sb->snaplist[i].tag));
			report(&w, META_DMG_MSD_DELETE_INTERRUPTED, MSD_SB_UNIT, 0, 0, 0,
			       "deleting mask 0x%" PRIx64 " (snapshot%s)", del, len ? tags : " none listed");
		}
		check_journal(&w, sb);
		if (!walk_tree(&w, sb))
			check_bitmaps(&w, sb);
	}
	walk_free(&w);
	free(sbuf);
	return w.worst;
}

static int d_check(struct meta_io *io, meta_damage_fn fn, void *ctx)
{
	return d_check_origin(io, 0, fn, ctx);
}

/* ---------- dumps ---------- */

static const struct msd_snapshot *snap_by_bit(const struct msd_disksuper *sb, unsigned bit)
{
	for (uint32_t i = 0; i < le32_get(sb->snapshots); i++)
		if (sb->snaplist[i].bit == bit)
			return &sb->snaplist[i];
	return NULL;
}

static int snap_cmp_tag(const void *a, const void *b)
{
	const struct msd_snapshot *x = *(const struct msd_snapshot *const *)a;
	const struct msd_snapshot *y = *(const struct msd_snapshot *const *)b;
	return le32_get(x->tag) < le32_get(y->tag) ? -1 : le32_get(x->tag) > le32_get(y->tag);
}

/* The share mask as tags, ascending. */
static void share_tags(const struct msd_disksuper *sb, uint64_t share, char *buf, size_t len)
{
	uint32_t tags[64], n = 0;
	size_t o = 0;
	for (unsigned b = 0; b < 64; b++) {
		const struct msd_snapshot *s;
		if ((share & (1ull << b)) && (s = snap_by_bit(sb, b)))
			tags[n++] = le32_get(s->tag);
	}
	for (uint32_t i = 1; i < n; i++)
		for (uint32_t j = i; j && tags[j - 1] > tags[j]; j--) {
			uint32_t t = tags[j];
			tags[j] = tags[j - 1];
			tags[j - 1] = t;
		}
	buf[0] = 0;
	for (uint32_t i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%" PRIu32, i ? " " : "", tags[i]);
}

struct dump_ctx {
	FILE *out;
	const struct msd_disksuper *sb;
	bool human;
};

static int dump_leaf(struct msd_walk *w, uint64_t unit, uint64_t base, struct msd_exc_desc *e,
		     uint32_t n)
{
	struct dump_ctx *c = w->arg;
	char tags[64 * 11 + 1];

	(void)unit;
	(void)base;
	for (uint32_t i = 0; i < n; i++) {
		share_tags(c->sb, e[i].share, tags, sizeof(tags));
		if (c->human)
			fprintf(c->out, "  origin chunk %" PRIu64 " -> COW chunk %" PRIu64
				" (16 KiB) for snapshots %s\n",
				e[i].origin, e[i].chunk / MSD_DATA_UNITS, tags);
		else
			fprintf(c->out, "  <exception origin_chunk=\"%" PRIu64 "\" cow_chunk=\"%" PRIu64
				"\" snapshots=\"%s\"/>\n",
				e[i].origin, e[i].chunk / MSD_DATA_UNITS, tags);
	}
	return ferror(c->out) ? META_E_IO : 0;
}

/* The exceptions, streamed from a second walk of the tree. */
static int dump_exceptions(struct msd_state *st, FILE *out, bool human)
{
	struct dump_ctx c = {out, st->sb, human};
	struct msd_walk *w = malloc(sizeof(*w));
	int r;

	if (!w)
		return META_E_NOMEM;
	r = state_walk(st, w, dump_leaf, &c);
	walk_free(w);
	free(w);
	return r;
}

static int d_dump_xml(void *vst, FILE *out)
{
	struct msd_state *st = vst;
	const struct msd_disksuper *sb = st->sb;
	const struct msd_snapshot *sl[MSD_MAX_SNAPSHOTS];
	uint32_t n = le32_get(sb->snapshots);
	char flags[96];

	msd_flags_format(le64_get(sb->flags), flags, sizeof(flags));
	fprintf(out,
		"<multisnap_store type=\"daniel\" version=\"1\" chunk_size=\"%u\" chunks=\"%" PRIu64
		"\" create_time=\"%" PRIu64 "\" orgoffset=\"%" PRIu64 "\" orgsectors=\"%" PRIu64
		"\" flags=\"%s\" sequence=\"%" PRIu32 "\" next_tag=\"%" PRIu32 "\">\n",
		MSD_CHUNK_SECTORS, le64_get(sb->metadata.chunks), le64_get(sb->create_time),
		le64_get(sb->orgoffset), le64_get(sb->orgsectors), flags,
		le32_get(sb->sequence), le32_get(sb->metadata.pad));
	for (uint32_t i = 0; i < n; i++)
		sl[i] = &sb->snaplist[i];
	qsort(sl, n, sizeof(sl[0]), snap_cmp_tag);
	for (uint32_t i = 0; i < n; i++)
		fprintf(out,
			"  <snapshot id=\"%" PRIu32 "\" bit=\"%u\" ctime=\"%" PRIu32 "\" prio=\"%d\" usecount=\"%u\" sectors=\"%" PRIu64 "\"/>\n",
			le32_get(sl[i]->tag), sl[i]->bit, le32_get(sl[i]->ctime), (int)(int8_t)sl[i]->prio,
			le16_get(sl[i]->usecount), le64_get(sl[i]->sectors));
	int r = dump_exceptions(st, out, false);
	if (r)
		return r;
	fprintf(out, "</multisnap_store>\n");
	return ferror(out) ? META_E_IO : 0;
}

static int d_dump_human(void *vst, FILE *out)
{
	struct msd_state *st = vst;
	const struct msd_disksuper *sb = st->sb;
	struct meta_ms_status s;
	char flags[96];

	d_status(st, &s);
	msd_flags_format(le64_get(sb->flags), flags, sizeof(flags));
	fprintf(out, "daniel store: chunk size 32 sectors (16 KiB), %" PRIu64 " chunks of 4 KiB, %" PRIu64
		" free\n", le64_get(sb->metadata.chunks), le64_get(sb->metadata.freechunks));
	fprintf(out, "flags: %s\n", flags[0] ? flags : "none");
	fprintf(out, "tree: root chunk %" PRIu64 ", %" PRIu32 " index levels, %" PRIu64 " leaves, %" PRIu64
		" exceptions\n", le64_get(sb->etree_root) / 8, le32_get(sb->etree_levels),
		st->w.nr_leaves, st->w.nr_exc);
	fprintf(out, "snapshots: %" PRIu32 "\n", le32_get(sb->snapshots));
	for (uint32_t i = 0; i < le32_get(sb->snapshots); i++)
		fprintf(out, "  id %" PRIu32 " bit %u ctime %" PRIu32 "\n", le32_get(sb->snaplist[i].tag),
			sb->snaplist[i].bit, le32_get(sb->snaplist[i].ctime));
	int r = dump_exceptions(st, out, true);
	if (r)
		return r;
	return ferror(out) ? META_E_IO : 0;
}

/* ---------- one snapshot's exceptions (conversion to a classic store) ---------- */

struct snap_exc_ctx {
	unsigned bit;
	msd_exc_fn fn;
	void *ctx;
};

static int snap_exc_leaf(struct msd_walk *w, uint64_t unit, uint64_t base, struct msd_exc_desc *e,
			 uint32_t n)
{
	struct snap_exc_ctx *c = w->arg;
	int r = 0;
	(void)unit;
	(void)base;
	for (uint32_t i = 0; i < n && !r; i++)
		if ((e[i].share >> c->bit) & 1)
			r = c->fn(c->ctx, e[i].origin, e[i].chunk * MSD_UNIT);
	return r;
}

int msd_snapshot_exceptions(void *vst, uint64_t tag, msd_exc_fn fn, void *ctx)
{
	struct msd_state *st = vst;
	struct snap_exc_ctx c = {snap_bit(st->sb, tag), fn, ctx};
	struct msd_walk *w;
	int r;
	if (tag > UINT32_MAX || c.bit >= 64)
		return META_E_NOTFOUND;
	w = malloc(sizeof(*w));
	if (!w)
		return META_E_NOMEM;
	r = state_walk(st, w, snap_exc_leaf, &c);
	walk_free(w);
	free(w);
	return r;
}

/* ---------- merge (meta_ms_merge) ---------- */

struct merge_list {
	uint64_t nchunks; /* origin chunks (the origin's size, rounded up) */
	struct msd_vec v; /* id's origin chunks below it */
};

static int merge_collect(void *ctx, uint64_t origin_chunk, uint64_t cow_byte)
{
	struct merge_list *ml = ctx;
	(void)cow_byte;
	return origin_chunk < ml->nchunks ? vec_push(&ml->v, &origin_chunk) : 0;
}

/*
 * Merge snapshot id into the origin.  A daniel store has no journal: each run of id's
 * consecutive chunks is one origin write of id's bytes through eng_write (every other live
 * snapshot lacking the chunk gets its copy, data then tree then bitmaps then superblock, all
 * flushed, before the origin is written), and id's own exceptions do not change until the
 * final delete: a stop or a crash anywhere leaves id's view and every other view intact
 * (what a crash of one write leaves: multisnap-store(5)), and running the merge again goes
 * over every chunk again (the others already covered: no second copy) and ends as an
 * uninterrupted merge.  The origin is flushed before the delete.
 */
static int d_merge(void *vst, struct meta_io *origin, meta_ms_id id, struct meta_ms_merge_opts *o)
{
	struct msd_state *st = vst;
	unsigned b = id > UINT32_MAX ? MSD_MAX_SNAPSHOTS : snap_bit(st->sb, id);
	uint64_t batch = ms_merge_batch(o, MSD_CHUNK_BYTES), size = meta_io_size(origin);
	uint64_t max = (4u << 20) / MSD_CHUNK_BYTES, k;
	struct merge_list ml = {0, {NULL, 0, 0, sizeof(uint64_t)}};
	const uint64_t *c;
	struct msd_eng *g = NULL;
	uint8_t *buf = NULL;
	int r = st->failed;
	if (!r && !o->dry_run && !st->write)
		r = META_E_INVAL;
	if (!r && b >= MSD_MAX_SNAPSHOTS)
		r = META_E_NOTFOUND;
	if (r)
		return r;
	ml.nchunks = (size + MSD_CHUNK_BYTES - 1) / MSD_CHUNK_BYTES;
	r = msd_snapshot_exceptions(st, id, merge_collect, &ml);
	c = ml.v.p;
	if (!r && ml.v.n)
		qsort(ml.v.p, (size_t)ml.v.n, sizeof(*c), cmp_u64);
	if (!r && o->dry_run) {
		if (!(g = eng_new(st)))
			r = META_E_NOMEM;
		for (size_t i = 0; i < ml.v.n && !r; i++) {
			int what;
			uint32_t ei;
			uint64_t share;
			r = eng_plan(g, c[i], 0, &what, &ei, &share);
			o->copies += what == PLAN_COPY;
		}
		o->chunks = r ? 0 : ml.v.n;
		goto out;
	}
	if (!r && ml.v.n && !(buf = meta_io_buf_alloc((size_t)(max * MSD_CHUNK_BYTES))))
		r = META_E_NOMEM;
	for (uint64_t i = 0; i < ml.v.n && !r; i += batch) {
		uint64_t n = ml.v.n - i < batch ? ml.v.n - i : batch;
		for (uint64_t j = i; j < i + n && !r; j += k) {
			uint64_t start = c[j] * MSD_CHUNK_BYTES, end;
			for (k = 1; j + k < i + n && k < max && c[j + k] == c[j] + k; k++)
				;
			end = (c[j] + k) * MSD_CHUNK_BYTES < size ? (c[j] + k) * MSD_CHUNK_BYTES
								      : size;
			r = d_read(st, origin, id, start, end - start, buf);
			if (!r)
				r = eng_write(st, origin, 0, start, end - start, buf, &o->copies);
		}
		if (!r)
			o->chunks += n;
		if (!r && o->progress && o->progress(o->ctx, o->chunks, ml.v.n) && o->chunks < ml.v.n)
			r = META_E_INTERRUPTED;
	}
	if (!r || r == META_E_INTERRUPTED) {
		int f = meta_io_flush(origin);
		r = r ? r : f;
	}
	if (!r)
		r = d_delete(st, id);
out:
	eng_free(g);
	free(buf);
	free(ml.v.p);
	return r;
}

const struct ms_ops ms_daniel_ops = {
	.type = META_MS_DANIEL,
	.name = "daniel",
	.sniff = d_sniff,
	.format = d_format,
	.open = d_open,
	.close = d_close,
	.chunk_size = d_chunk_size,
	.snapshots = d_snapshots,
	.status = d_status,
	.create = d_create,
	.create_subsnap = d_create_subsnap,
	.delete_snap = d_delete,
	.set_generic = d_set_generic,
	.check = d_check,
	.check_origin = d_check_origin,
	.dump_xml = d_dump_xml,
	.dump_human = d_dump_human,
	.restore_xml = msd_restore_xml,
	.reads_xml_twice = true,
	.read = d_read,
	.write_origin = d_write_origin,
	.write_snapshot = d_write_snapshot,
	.merge = d_merge,
};

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The `mikulas` shared multisnapshot store (format: mikulas_ondisk.h): format, open,
 * the messages (create, create_subsnap, delete) through the transaction manager, status.
 * Check, XML dump and restore are in mikulas_check.c and mikulas_xml.c.
 *
 * Each message is one transaction: the trees are changed on shadows, the space maps
 * committed (data map, then metadata map), then meta_tm_pre_commit() writes and flushes
 * every new block and meta_tm_commit() writes the superblock last.  An error in the
 * middle leaves the handle failed (every later message: that error); the device still
 * holds the last commit.
 */
#include <libmeta/btree.h>
#include <libmeta/crc32c.h>
#include <libmeta/error.h>
#include <libmeta/io.h>

#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "base/util.h"
#include "multisnap/mikulas.h"
#include "multisnap/mikulas_internal.h"
#include "multisnap/mikulas_ondisk.h"
#include "multisnap/ms_internal.h"
#include "pdata/btree_write.h"
#include "pdata/sm_tx.h"
#include "pdata/tm.h"
#include "pdata/walk.h"

/* ---- superblock ------------------------------------------------------------------- */

static void sm_root_unpack(const struct disk_sm_root *d, struct meta_sm_root *r)
{
	r->nr_blocks = le64_get(d->nr_blocks);
	r->nr_allocated = le64_get(d->nr_allocated);
	r->bitmap_root = le64_get(d->bitmap_root);
	r->ref_count_root = le64_get(d->ref_count_root);
}

static void sm_root_pack(const struct meta_sm_root *r, struct disk_sm_root *d)
{
	d->nr_blocks = le64_of(r->nr_blocks);
	d->nr_allocated = le64_of(r->nr_allocated);
	d->bitmap_root = le64_of(r->bitmap_root);
	d->ref_count_root = le64_of(r->ref_count_root);
}

void mikulas_sb_unpack(const void *block, struct mikulas_sb *sb)
{
	const struct mikulas_disk_sb *d = block;
	sb->version = le32_get(d->version);
	sb->chunk_size = le32_get(d->chunk_size);
	sb->flags = le32_get(d->flags);
	sb->valid = le32_get(d->valid);
	sb->metadata_blocks = le64_get(d->metadata_blocks);
	sb->data_chunks = le64_get(d->data_chunks);
	sm_root_unpack(&d->metadata_sm, &sb->metadata_sm);
	sm_root_unpack(&d->data_sm, &sb->data_sm);
	sb->exception_root = le64_get(d->exception_root);
	sb->snapshot_root = le64_get(d->snapshot_root);
	sb->next_snapshot = le64_get(d->next_snapshot);
	sb->transaction = le64_get(d->transaction);
}

void mikulas_sb_pack(const struct mikulas_sb *sb, void *block)
{
	struct mikulas_disk_sb *d = block;
	memset(block, 0, META_BLOCK_SIZE);
	memcpy(d->magic, MIKULAS_MAGIC, MIKULAS_MAGIC_LEN);
	d->version = le32_of(sb->version);
	d->chunk_size = le32_of(sb->chunk_size);
	d->flags = le32_of(sb->flags);
	d->valid = le32_of(sb->valid);
	d->metadata_blocks = le64_of(sb->metadata_blocks);
	d->data_chunks = le64_of(sb->data_chunks);
	sm_root_pack(&sb->metadata_sm, &d->metadata_sm);
	sm_root_pack(&sb->data_sm, &d->data_sm);
	d->exception_root = le64_of(sb->exception_root);
	d->snapshot_root = le64_of(sb->snapshot_root);
	d->next_snapshot = le64_of(sb->next_snapshot);
	d->transaction = le64_of(sb->transaction);
}

uint32_t mikulas_sb_csum(const void *block)
{
	return meta_crc32c(0xffffffffu, (const uint8_t *)block + MIKULAS_CSUM_START,
			   META_BLOCK_SIZE - MIKULAS_CSUM_START) ^ MIKULAS_SB_CSUM_XOR;
}

/* Checksum, then location; the magic is the caller's (sniff, open). */
static int sb_check(const struct meta_validator *v, const void *data, uint64_t b)
{
	const struct mikulas_disk_sb *d = data;
	(void)v;
	if (le32_get(d->csum) != mikulas_sb_csum(data))
		return META_E_CHECKSUM;
	if (le64_get(d->blocknr) != b)
		return META_E_BLOCKNR;
	return 0;
}

static void sb_prepare(const struct meta_validator *v, void *data, uint64_t b)
{
	struct mikulas_disk_sb *d = data;
	(void)v;
	d->blocknr = le64_of(b);
	d->csum = le32_of(mikulas_sb_csum(data));
}

const struct meta_validator mikulas_sb_validator = {
	"mikulas superblock", MIKULAS_SB_CSUM_XOR, sb_check, sb_prepare,
};

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

/*
 * The metadata area for a device of dev_bytes: room for the worst case of the device
 * as formatted, every data chunk named by one exception.  With D0 = dev_bytes / chunk
 * bytes (at least the data chunks there will be):
 *   L = ceil(D0 / 42)            exception leaves, each at least a third full (126 max)
 *   M = 1 + 2 L + 2 ceil(D0 / 16320) + 256
 * (the leaves; as many again for the internal nodes and the shadows of one transaction;
 * the data map's bitmaps and their shadows; 256 blocks for the snapshot tree, the
 * index nodes and the metadata map's own bitmaps), at least 64, at most
 * META_SM_METADATA_MAX_BLOCKS.
 */
uint64_t mikulas_meta_blocks_for(uint64_t dev_bytes, uint32_t chunk_size)
{
	uint64_t d0 = dev_bytes / ((uint64_t)chunk_size * META_SECTOR_SIZE);
	uint64_t m = 1 + 2 * div_up(d0, 42) + 2 * div_up(d0, META_SM_ENTRIES_PER_BITMAP) + 256;
	if (m < MIKULAS_MIN_META_BLOCKS)
		m = MIKULAS_MIN_META_BLOCKS;
	if (m > META_SM_METADATA_MAX_BLOCKS)
		m = META_SM_METADATA_MAX_BLOCKS;
	return m;
}

uint64_t mikulas_data_start(uint64_t metadata_blocks, uint32_t chunk_size)
{
	uint64_t cb = (uint64_t)chunk_size * META_SECTOR_SIZE;
	return div_up(metadata_blocks * META_BLOCK_SIZE, cb) * cb;
}

static uint64_t chunks_on(uint64_t dev_bytes, uint64_t metadata_blocks, uint32_t chunk_size)
{
	uint64_t start = mikulas_data_start(metadata_blocks, chunk_size);
	return dev_bytes > start ? (dev_bytes - start) / ((uint64_t)chunk_size * META_SECTOR_SIZE) : 0;
}

bool mikulas_chunk_size_ok(uint64_t cs)
{
	return cs >= MIKULAS_MIN_CHUNK && cs <= MIKULAS_MAX_CHUNK && !(cs & (cs - 1));
}

/* ---- the handle --------------------------------------------------------------------- */

struct idvec {
	meta_ms_id *v;
	size_t n, cap;
};

struct mk {
	struct meta_io *io;
	struct meta_bm *bm;
	struct meta_sm_tx *msm, *dsm;
	struct meta_tm_space space;
	struct meta_tm *tm;
	struct meta_btree_info snaps, excs;
	struct mikulas_sb sb;
	bool write;
	int failed;
	struct idvec live; /* the engine's cache of the live ids */
	bool live_ok;      /* ... valid until a message changes them */
	uint8_t *runbuf;   /* run_buf(): one run of chunks, kept for the handle's life */
};

static void mk_free(struct mk *m)
{
	if (!m)
		return;
	meta_tm_destroy(m->tm);
	meta_sm_tx_close(m->msm);
	meta_sm_tx_close(m->dsm);
	meta_bm_destroy(m->bm); /* borrowed: the io stays ms.c's */
	free(m->live.v);
	free(m->runbuf);
	free(m);
}

static int mk_start(struct mk *m)
{
	struct meta_btree_vtype snap = {sizeof(struct mikulas_disk_snap), NULL, NULL, NULL, NULL};
	struct meta_btree_vtype exc = {sizeof(struct mikulas_disk_exc), NULL, NULL, NULL, NULL};
	int r;
	m->space = meta_sm_tx_space(m->msm);
	r = meta_tm_create(m->bm, &m->space, &m->tm);
	if (r)
		return r;
	m->snaps = (struct meta_btree_info){m->tm, 1, snap};
	m->excs = (struct meta_btree_info){m->tm, 1, exc};
	return 0;
}

static int fail(struct mk *m, int r)
{
	m->live_ok = false;
	if (r && !m->failed)
		m->failed = r;
	return r;
}

static int usable(const struct mk *m)
{
	if (m->failed)
		return m->failed;
	return m->write ? 0 : META_E_INVAL;
}

int mikulas_commit(void *st)
{
	struct mk *m = st;
	struct meta_sm_root droot, mroot;
	struct mikulas_sb sb;
	void *buf;
	int r = usable(m);
	if (r)
		return r;
	buf = malloc(META_BLOCK_SIZE);
	if (!buf)
		return META_E_NOMEM;
	r = meta_sm_tx_commit(m->dsm, m->tm, &droot);
	if (!r)
		r = meta_sm_tx_commit(m->msm, m->tm, &mroot);
	if (!r) {
		sb = m->sb;
		sb.data_sm = droot;
		sb.metadata_sm = mroot;
		sb.transaction++;
		mikulas_sb_pack(&sb, buf);
		r = meta_tm_pre_commit(m->tm);
	}
	if (!r)
		r = meta_tm_commit(m->tm, 0, &mikulas_sb_validator, buf);
	free(buf);
	if (r)
		return fail(m, r);
	m->sb = sb;
	meta_sm_tx_committed(m->dsm);
	meta_sm_tx_committed(m->msm);
	return 0;
}

static int mk_new(struct meta_io *io, bool write, struct mk **out)
{
	struct mk *m = calloc(1, sizeof(*m));
	int r;
	*out = NULL;
	if (!m)
		return META_E_NOMEM;
	m->io = io;
	m->write = write;
	r = meta_bm_create_borrowed(io, 0, &m->bm);
	if (r) {
		free(m);
		return r;
	}
	*out = m;
	return 0;
}

/*
 * The geometry format and restore accept: chunk size and flags known, *mblocks (0: as
 * mikulas_meta_blocks_for() gives) in range and on the device, *dchunks (0: as many
 * as fit after the metadata area) at least one and fitting.  0, META_E_INVAL (chunk
 * size, flags, metadata_blocks out of range) or META_E_TOOSMALL.
 */
int mikulas_geometry(uint64_t bytes, uint32_t chunk_size, unsigned flags, uint64_t *mblocks,
		     uint64_t *dchunks)
{
	uint64_t fit;
	if (!mikulas_chunk_size_ok(chunk_size) || (flags & ~MIKULAS_FLAGS_KNOWN))
		return META_E_INVAL;
	if (!*mblocks)
		*mblocks = mikulas_meta_blocks_for(bytes, chunk_size);
	if (*mblocks < MIKULAS_MIN_META_BLOCKS || *mblocks > META_SM_METADATA_MAX_BLOCKS)
		return META_E_INVAL;
	if (*mblocks > bytes / META_BLOCK_SIZE)
		return META_E_TOOSMALL;
	fit = chunks_on(bytes, *mblocks, chunk_size);
	if (!*dchunks)
		*dchunks = fit;
	if (!*dchunks || *dchunks > fit)
		return META_E_TOOSMALL;
	return 0;
}

/*
 * Block 0 overwritten and flushed: with zeros (format: a crash leaves a "new" device,
 * never an old store half overwritten), or with a superblock marked invalid (restore:
 * the store stays unusable until its last write).
 */
int mikulas_write_head(struct meta_io *io, uint32_t chunk_size, bool invalid)
{
	void *head = aligned_alloc(META_BLOCK_SIZE, META_BLOCK_SIZE);
	int r;
	if (!head)
		return META_E_NOMEM;
	memset(head, 0, META_BLOCK_SIZE);
	if (invalid) {
		struct mikulas_sb inv = {.version = MIKULAS_VERSION, .chunk_size = chunk_size};
		mikulas_sb_pack(&inv, head);
		sb_prepare(&mikulas_sb_validator, head, 0);
	}
	r = meta_io_pwrite(io, head, META_BLOCK_SIZE, 0);
	free(head);
	if (!r)
		r = meta_io_flush(io);
	return r;
}

/* A new empty store over io, committed: block 0 zeroed first, the superblock last. */
static int format_store(struct meta_io *io, uint32_t chunk_size, unsigned flags)
{
	uint64_t mblocks = 0, dchunks = 0;
	struct mk *m;
	int r = mikulas_geometry(meta_io_size(io), chunk_size, flags, &mblocks, &dchunks);
	if (!r)
		r = mikulas_write_head(io, chunk_size, false);
	if (!r)
		r = mk_new(io, true, &m);
	if (r)
		return r;
	r = meta_sm_tx_create(m->bm, META_SM_METADATA, mblocks, 1, &m->msm);
	if (!r)
		r = meta_sm_tx_create(m->bm, META_SM_DISK, dchunks, 0, &m->dsm);
	if (!r)
		r = mk_start(m);
	if (!r) {
		memset(&m->sb, 0, sizeof(m->sb));
		m->sb.version = MIKULAS_VERSION;
		m->sb.chunk_size = chunk_size;
		m->sb.flags = flags;
		m->sb.valid = 1;
		m->sb.metadata_blocks = mblocks;
		m->sb.data_chunks = dchunks;
		r = meta_btree_tx_empty(&m->excs, &m->sb.exception_root);
	}
	if (!r)
		r = meta_btree_tx_empty(&m->snaps, &m->sb.snapshot_root);
	if (!r)
		r = mikulas_commit(m);
	mk_free(m);
	return r;
}

static int mk_format(struct meta_io *io, const struct meta_ms_params *p)
{
	unsigned flags = 0;
	if (p->type != META_MS_MIKULAS)
		return META_E_INVAL;
	if (p->generic & ~(unsigned)(META_MS_SYNC_SNAPSHOTS | META_MS_PRESERVE_ON_ERROR))
		return META_E_INVAL;
	if (p->generic & META_MS_SYNC_SNAPSHOTS)
		flags |= 1;
	if (p->generic & META_MS_PRESERVE_ON_ERROR)
		flags |= 2;
	return format_store(io, p->chunk_size, flags);
}

static bool mk_sniff(const uint8_t *head)
{
	return !memcmp(head, MIKULAS_MAGIC, MIKULAS_MAGIC_LEN);
}

/* The superblock's fields that open relies on (check reports each one). */
int mikulas_sb_sane(const struct mikulas_sb *sb, uint64_t dev_bytes)
{
	if (sb->version != MIKULAS_VERSION)
		return META_E_VERSION;
	if (!sb->valid || !mikulas_chunk_size_ok(sb->chunk_size) ||
	    (sb->flags & ~MIKULAS_FLAGS_KNOWN) || sb->metadata_blocks < MIKULAS_MIN_META_BLOCKS ||
	    sb->metadata_blocks > META_SM_METADATA_MAX_BLOCKS ||
	    sb->metadata_blocks > dev_bytes / META_BLOCK_SIZE ||
	    sb->metadata_sm.nr_blocks != sb->metadata_blocks ||
	    sb->data_sm.nr_blocks != sb->data_chunks ||
	    sb->exception_root == 0 || sb->exception_root >= sb->metadata_blocks ||
	    sb->snapshot_root == 0 || sb->snapshot_root >= sb->metadata_blocks ||
	    sb->next_snapshot > MIKULAS_NUMBER_MAX + 1ull)
		return META_E_CORRUPT;
	return 0;
}

/* Read and judge block 0: 0, META_E_BADMAGIC, META_E_VERSION or META_E_CORRUPT. */
int mikulas_read_sb(struct meta_bm *bm, struct mikulas_sb *sb, int *verdict)
{
	const void *data;
	int r = meta_bm_get(bm, 0, NULL, &data);
	if (r)
		return r;
	if (!mk_sniff(data)) {
		meta_bm_put(bm, data);
		return META_E_BADMAGIC;
	}
	*verdict = sb_check(&mikulas_sb_validator, data, 0);
	mikulas_sb_unpack(data, sb);
	meta_bm_put(bm, data);
	return 0;
}

static int mk_open(struct meta_io *io, bool write, void **st)
{
	struct mk *m;
	uint64_t bytes = meta_io_size(io), now;
	int verdict, r;
	*st = NULL;
	r = mk_new(io, write, &m);
	if (r)
		return r;
	r = mikulas_read_sb(m->bm, &m->sb, &verdict);
	if (!r && verdict)
		r = META_E_CORRUPT;
	if (!r)
		r = mikulas_sb_sane(&m->sb, bytes);
	if (!r)
		r = meta_sm_tx_open(m->bm, META_SM_METADATA, &m->sb.metadata_sm, &m->msm);
	if (!r)
		r = meta_sm_tx_open(m->bm, META_SM_DISK, &m->sb.data_sm, &m->dsm);
	if (!r)
		r = mk_start(m);
	if (!r && write) {
		/* a COW device that grew: the data map grows (committed at once) */
		now = chunks_on(bytes, m->sb.metadata_blocks, m->sb.chunk_size);
		if (now < m->sb.data_chunks)
			r = META_E_TOOSMALL;
		else if (now > m->sb.data_chunks) {
			r = meta_sm_tx_extend(m->dsm, now - m->sb.data_chunks);
			if (!r) {
				m->sb.data_chunks = now;
				r = mikulas_commit(m);
			}
		}
	}
	if (r) {
		mk_free(m);
		return r == META_E_CHECKSUM || r == META_E_BLOCKNR ? META_E_CORRUPT : r;
	}
	*st = m;
	return 0;
}

static void mk_close(void *st)
{
	mk_free(st);
}

static uint32_t mk_chunk_size(void *st)
{
	return ((struct mk *)st)->sb.chunk_size;
}

const struct mikulas_sb *mikulas_get_sb(void *st)
{
	return &((struct mk *)st)->sb;
}

struct meta_bm *mikulas_bm(void *st)
{
	return ((struct mk *)st)->bm;
}

#define SNAP_VS ((uint32_t)sizeof(struct mikulas_disk_snap))
#define EXC_VS ((uint32_t)sizeof(struct mikulas_disk_exc))

/* ---- tree iteration (this transaction's view, through the tm) ------------------------- */

/*
 * fn for every leaf entry of the tree at root, in key order, between lo and hi
 * (inclusive).  Nodes are read through the tm (a tree changed in this transaction reads
 * as changed).  fn returns non-zero to stop.
 */

static int iter_node(struct mk *m, uint64_t b, uint64_t lo, uint64_t hi, entry_fn fn, void *ctx,
		     int depth, uint32_t vs)
{
	const void *node;
	struct meta_node_info ni;
	int r;
	if (depth > 64)
		return META_E_CORRUPT;
	r = meta_tm_read(m->tm, b, &meta_node_validator, &node);
	if (r)
		return r;
	meta_node_get_info(node, &ni);
	if (ni.value_size != ((ni.flags & META_NODE_INTERNAL) ? 8 : vs))
		r = META_E_CORRUPT; /* not a node of this tree */
	for (uint32_t i = 0; i < ni.nr_entries && !r; i++) {
		uint64_t k = meta_node_key(node, i);
		if (ni.flags & META_NODE_INTERNAL) {
			uint64_t next = i + 1 < ni.nr_entries ? meta_node_key(node, i + 1) : UINT64_MAX;
			if (next != UINT64_MAX && next - 1 < lo)
				continue;
			if (k > hi)
				break;
			r = iter_node(m, meta_node_value64(node, i), lo, hi, fn, ctx, depth + 1, vs);
		} else {
			if (k < lo)
				continue;
			if (k > hi)
				break;
			r = fn(ctx, k, meta_node_value(node, i));
		}
	}
	meta_tm_release(m->tm, node);
	return r;
}

/* ---- snapshots ------------------------------------------------------------------------- */

static int push_id(struct idvec *iv, meta_ms_id id)
{
	if (iv->n == iv->cap) {
		size_t cap = iv->cap ? iv->cap * 2 : 64;
		meta_ms_id *nv = realloc(iv->v, cap * sizeof(*nv));
		if (!nv)
			return META_E_NOMEM;
		iv->v = nv;
		iv->cap = cap;
	}
	iv->v[iv->n++] = id;
	return 0;
}

static int collect_id(void *ctx, uint64_t key, const void *value)
{
	(void)value;
	return push_id(ctx, key);
}

static int live_ids(struct mk *m, struct idvec *iv)
{
	memset(iv, 0, sizeof(*iv));
	return iter_node(m, m->sb.snapshot_root, 0, UINT64_MAX, collect_id, iv, 0, SNAP_VS);
}

static int mk_snapshots(void *st, meta_ms_id **ids, uint64_t *n)
{
	struct mk *m = st;
	struct idvec iv;
	int r;
	*ids = NULL;
	*n = 0;
	if (m->failed)
		return m->failed;
	r = live_ids(m, &iv);
	if (r) {
		free(iv.v);
		return r;
	}
	*ids = iv.v;
	*n = iv.n;
	return 0;
}

static int mk_status(void *st, struct meta_ms_status *s)
{
	struct mk *m = st;
	struct idvec iv;
	uint64_t mused, dused;
	int r;
	if (m->failed)
		return m->failed;
	r = live_ids(m, &iv);
	free(iv.v);
	if (r)
		return r;
	mused = meta_sm_tx_nr_blocks(m->msm) - meta_sm_tx_nr_free(m->msm);
	dused = meta_sm_tx_nr_blocks(m->dsm) - meta_sm_tx_nr_free(m->dsm);
	s->error = 0;
	s->total_sectors = meta_io_size(m->io) / META_SECTOR_SIZE;
	s->metadata_sectors = mused * (META_BLOCK_SIZE / META_SECTOR_SIZE);
	s->sectors_allocated = s->metadata_sectors + dused * m->sb.chunk_size;
	s->nr_ids = iv.n;
	return 0;
}

/* preserve-on-error of a table over the existing store: written by the next commit */
static void mk_set_generic(void *st, unsigned generic)
{
	struct mk *m = st;
	if (generic & META_MS_PRESERVE_ON_ERROR)
		m->sb.flags |= 2;
}

static int mk_create(void *st, meta_ms_id *id)
{
	struct mk *m = st;
	struct mikulas_disk_snap v;
	meta_ms_id nid;
	int r = usable(m);
	if (r)
		return r;
	if (m->sb.next_snapshot > MIKULAS_NUMBER_MAX)
		return META_E_RANGE;
	m->live_ok = false;
	nid = (m->sb.next_snapshot << 32) | META_MS_SUB_NONE;
	mikulas_snap_pack(&v, m->sb.transaction + 1, 0);
	r = meta_btree_tx_insert(&m->snaps, m->sb.snapshot_root, &nid, &v, &m->sb.snapshot_root,
				 NULL);
	if (r)
		return fail(m, r);
	m->sb.next_snapshot++;
	r = mikulas_commit(m);
	if (!r)
		*id = nid;
	return r;
}

static int mk_create_subsnap(void *st, meta_ms_id master, meta_ms_id *id)
{
	struct mk *m = st;
	struct mikulas_disk_snap v;
	meta_ms_id nid;
	uint32_t next;
	int r = usable(m);
	if (r)
		return r;
	if ((uint32_t)master != META_MS_SUB_NONE)
		return META_E_INVAL; /* one level of sub-snapshots only */
	r = meta_btree_tx_lookup(&m->snaps, m->sb.snapshot_root, &master, &v);
	if (r)
		return r == META_E_NOTFOUND ? r : fail(m, r);
	next = le32_get(v.next_sub);
	if (next > MIKULAS_SUB_MAX)
		return META_E_RANGE;
	m->live_ok = false;
	nid = (master & ~(uint64_t)META_MS_SUB_NONE) | next;
	v.next_sub = le32_of(next + 1);
	r = meta_btree_tx_insert(&m->snaps, m->sb.snapshot_root, &master, &v,
				 &m->sb.snapshot_root, NULL);
	if (!r) {
		mikulas_snap_pack(&v, m->sb.transaction + 1, 0);
		r = meta_btree_tx_insert(&m->snaps, m->sb.snapshot_root, &nid, &v,
					 &m->sb.snapshot_root, NULL);
	}
	if (r)
		return fail(m, r);
	r = mikulas_commit(m);
	if (!r)
		*id = nid;
	return r;
}

/* ---- exceptions -------------------------------------------------------------------------- */

struct exc {
	meta_ms_id first, last;
	uint64_t cow;
};

struct excvec {
	struct exc *v;
	size_t n, cap;
};

static int push_exc(struct excvec *ev, struct exc e)
{
	if (ev->n == ev->cap) {
		size_t cap = ev->cap ? ev->cap * 2 : 16;
		struct exc *nv = realloc(ev->v, cap * sizeof(*nv));
		if (!nv)
			return META_E_NOMEM;
		ev->v = nv;
		ev->cap = cap;
	}
	ev->v[ev->n++] = e;
	return 0;
}

static int collect_exc(void *ctx, uint64_t key, const void *value)
{
	const struct mikulas_disk_exc *d = value;
	(void)key;
	return push_exc(ctx, (struct exc){le64_get(d->first_id), le64_get(d->last_id),
					  le64_get(d->cow_chunk)});
}

/* The exceptions of origin chunk c, in key order. */
static int chunk_excs(struct mk *m, uint64_t c, struct excvec *ev)
{
	memset(ev, 0, sizeof(*ev));
	return iter_node(m, m->sb.exception_root, mikulas_exc_key(c, 0),
			 mikulas_exc_key(c, MIKULAS_EXC_PER_CHUNK - 1), collect_exc, ev, 0, EXC_VS);
}

/*
 * The exceptions of n origin chunks (the ascending list cs, or c0..c0+n-1 when cs is NULL),
 * read in one pass over the keys from the first chunk's to the last's: chunk i's are
 * all.v[start[i]] .. all.v[start[i + 1] - 1].  When the chunks are few for the keys between
 * (a sparse list), a lookup per chunk instead.
 */
struct chunk_batch {
	struct excvec all;
	size_t *start; /* n + 1 */
	const uint64_t *cs;
	uint64_t c0, n, i;
};

static uint64_t batch_chunk(const struct chunk_batch *b, uint64_t i)
{
	return b->cs ? b->cs[i] : b->c0 + i;
}

static int collect_batch(void *ctx, uint64_t key, const void *value)
{
	struct chunk_batch *b = ctx;
	uint64_t c = key >> 16;
	while (b->i < b->n && batch_chunk(b, b->i) < c)
		b->start[++b->i] = b->all.n;
	if (b->i == b->n || batch_chunk(b, b->i) != c)
		return 0;
	return collect_exc(&b->all, key, value);
}

static void batch_free(struct chunk_batch *b)
{
	free(b->all.v);
	free(b->start);
	memset(b, 0, sizeof(*b));
}

static int batch_excs(struct mk *m, const uint64_t *cs, uint64_t c0, uint64_t n,
		      struct chunk_batch *b)
{
	uint64_t first, last;
	int r = 0;
	memset(b, 0, sizeof(*b));
	b->cs = cs;
	b->c0 = c0;
	b->n = n;
	b->start = calloc((size_t)n + 1, sizeof(*b->start));
	if (!b->start)
		return META_E_NOMEM;
	if (!n)
		return 0;
	first = batch_chunk(b, 0);
	last = batch_chunk(b, n - 1);
	if (last - first >= 4 * n) {
		for (uint64_t i = 0; i < n && !r; i++) {
			b->i = i;
			b->start[i] = b->all.n;
			r = iter_node(m, m->sb.exception_root, mikulas_exc_key(batch_chunk(b, i), 0),
				      mikulas_exc_key(batch_chunk(b, i), MIKULAS_EXC_PER_CHUNK - 1),
				      collect_batch, b, 0, EXC_VS);
		}
		b->start[n] = b->all.n;
		b->i = n;
	} else {
		r = iter_node(m, m->sb.exception_root, mikulas_exc_key(first, 0),
			      mikulas_exc_key(last, MIKULAS_EXC_PER_CHUNK - 1), collect_batch, b, 0,
			      EXC_VS);
	}
	while (!r && b->i < n)
		b->start[++b->i] = b->all.n;
	return r;
}

/* Chunk i's exceptions of a batch (a view: not to be freed or grown). */
static struct excvec batch_at(const struct chunk_batch *b, uint64_t i)
{
	size_t n = b->start[i + 1] - b->start[i];
	return (struct excvec){n ? b->all.v + b->start[i] : NULL, n, 0};
}

int mikulas_lookup(void *st, uint64_t c, meta_ms_id id, uint64_t *cow)
{
	struct mk *m = st;
	struct excvec ev;
	int r;
	if (m->failed)
		return m->failed;
	if (c >= MIKULAS_CHUNK_LIMIT)
		return META_E_NOTFOUND;
	r = chunk_excs(m, c, &ev);
	if (!r) {
		r = META_E_NOTFOUND;
		for (size_t i = 0; i < ev.n && ev.v[i].first <= id; i++)
			if (id <= ev.v[i].last) {
				*cow = ev.v[i].cow;
				r = 0;
				break;
			}
	}
	free(ev.v);
	return r;
}

/*
 * Rewrite origin chunk c's keys from key `from` on (those before are unchanged): old_n
 * keys were there, ev holds the new list (in first-id order); keys past the new list
 * are removed.  Data counts are the caller's.
 */
static int rewrite_chunk_from(struct mk *m, uint64_t c, size_t from, size_t old_n,
			      const struct excvec *ev)
{
	int r = 0;
	for (size_t i = from; i < ev->n && !r; i++) {
		struct mikulas_disk_exc d = {le64_of(ev->v[i].first), le64_of(ev->v[i].last),
					     le64_of(ev->v[i].cow)};
		uint64_t k = mikulas_exc_key(c, (uint32_t)i);
		r = meta_btree_tx_insert(&m->excs, m->sb.exception_root, &k, &d,
					 &m->sb.exception_root, NULL);
	}
	for (size_t i = ev->n; i < old_n && !r; i++) {
		uint64_t k = mikulas_exc_key(c, (uint32_t)i);
		r = meta_btree_tx_remove(&m->excs, m->sb.exception_root, &k, &m->sb.exception_root);
	}
	return r;
}

static int rewrite_chunk(struct mk *m, uint64_t c, size_t old_n, const struct excvec *ev)
{
	return rewrite_chunk_from(m, c, 0, old_n, ev);
}

int mikulas_add_exception(void *st, uint64_t c, meta_ms_id first, meta_ms_id last, uint64_t cow)
{
	struct mk *m = st;
	struct excvec ev;
	size_t pos, old_n;
	int r = usable(m);
	if (r)
		return r;
	if (first > last || c >= MIKULAS_CHUNK_LIMIT || cow >= m->sb.data_chunks)
		return META_E_INVAL;
	r = chunk_excs(m, c, &ev);
	if (r) {
		free(ev.v);
		return fail(m, r);
	}
	old_n = ev.n;
	for (pos = 0; pos < ev.n && ev.v[pos].first < first; pos++)
		;
	if ((pos > 0 && ev.v[pos - 1].last >= first) || (pos < ev.n && ev.v[pos].first <= last))
		r = META_E_INVAL;
	else if (ev.n >= MIKULAS_EXC_PER_CHUNK)
		r = META_E_RANGE;
	else
		r = push_exc(&ev, (struct exc){first, last, cow});
	if (r) {
		free(ev.v);
		return r;
	}
	memmove(ev.v + pos + 1, ev.v + pos, (ev.n - 1 - pos) * sizeof(*ev.v));
	ev.v[pos] = (struct exc){first, last, cow};
	r = meta_sm_tx_inc(m->dsm, cow);
	if (!r)
		r = rewrite_chunk(m, c, old_n, &ev);
	free(ev.v);
	return fail(m, r);
}

/* Is any id of the sorted live list inside [first, last]? */
static bool covers_live(const struct idvec *live, meta_ms_id first, meta_ms_id last)
{
	size_t lo = meta_u64_lower_bound(live->v, live->n, first);
	return lo < live->n && live->v[lo] <= last;
}

struct dead_scan {
	const struct idvec *live;
	meta_ms_id gone;
	struct idvec chunks; /* origin chunks with an exception left covering nothing */
};

static int scan_dead(void *ctx, uint64_t key, const void *value)
{
	struct dead_scan *ds = ctx;
	const struct mikulas_disk_exc *d = value;
	meta_ms_id first = le64_get(d->first_id), last = le64_get(d->last_id);
	uint64_t c = key >> 16;
	if (first > ds->gone || ds->gone > last || covers_live(ds->live, first, last))
		return 0;
	if (ds->chunks.n && ds->chunks.v[ds->chunks.n - 1] == c)
		return 0;
	return push_id(&ds->chunks, c);
}

/* Chunks whose exceptions drop_dead() reads in one pass (bounds its memory). */
#define DROP_SLICE 8192u

/*
 * Drop the exceptions of the n chunks cs (ascending) that cover no live id; their chunks
 * lose a count.  Each slice's exceptions are read in one pass (batch_excs); a chunk's
 * rewrite changes its own keys only, so the slice stays right for the rest.
 */
static int drop_dead(struct mk *m, const uint64_t *cs, size_t n, const struct idvec *live)
{
	struct excvec nv = {0}; /* a chunk's kept exceptions (the buffer reused) */
	int r = 0;
	for (size_t s = 0; s < n && !r; s += DROP_SLICE) {
		size_t sn = n - s < DROP_SLICE ? n - s : DROP_SLICE;
		struct chunk_batch b;
		r = batch_excs(m, cs + s, 0, sn, &b);
		for (size_t i = 0; i < sn && !r; i++) {
			struct excvec ev = batch_at(&b, i);
			nv.n = 0;
			for (size_t j = 0; j < ev.n && !r; j++) {
				if (covers_live(live, ev.v[j].first, ev.v[j].last))
					r = push_exc(&nv, ev.v[j]);
				else
					r = meta_sm_tx_dec(m->dsm, ev.v[j].cow);
			}
			if (!r)
				r = rewrite_chunk(m, cs[s + i], ev.n, &nv);
		}
		batch_free(&b);
	}
	free(nv.v);
	return r;
}

/*
 * delete_tx: id leaves the snapshot tree, then every exception that covered it and no
 * other live id goes (one full pass over the exception tree to find their chunks, then
 * each such chunk is renumbered); the changes stay in the open transaction (the caller
 * commits; on an error the handle is failed).  A master with live sub-snapshots is
 * META_E_BUSY unless keep_subs, which leaves the subs live with their exceptions.
 */
static int delete_tx(struct mk *m, meta_ms_id id, bool keep_subs)
{
	struct mikulas_disk_snap v;
	struct idvec live = {0};
	struct dead_scan ds = {0};
	size_t j = 0;
	int r = usable(m);
	if (r)
		return r;
	r = meta_btree_tx_lookup(&m->snaps, m->sb.snapshot_root, &id, &v);
	if (r)
		return r == META_E_NOTFOUND ? r : fail(m, r);
	m->live_ok = false;
	r = live_ids(m, &live);
	if (r)
		goto out;
	if ((uint32_t)id == META_MS_SUB_NONE && !keep_subs)
		for (size_t i = 0; i < live.n; i++)
			if (live.v[i] >> 32 == id >> 32 && live.v[i] != id) {
				r = META_E_BUSY;
				goto out;
			}
	for (size_t i = 0; i < live.n; i++)
		if (live.v[i] != id)
			live.v[j++] = live.v[i];
	live.n = j;
	r = meta_btree_tx_remove(&m->snaps, m->sb.snapshot_root, &id, &m->sb.snapshot_root);
	if (r)
		goto fail_out;
	ds.live = &live;
	ds.gone = id;
	r = iter_node(m, m->sb.exception_root, 0, UINT64_MAX, scan_dead, &ds, 0, EXC_VS);
	if (!r)
		r = drop_dead(m, ds.chunks.v, ds.chunks.n, &live);
	if (r)
		goto fail_out;
	goto out;
fail_out:
	fail(m, r);
out:
	free(live.v);
	free(ds.chunks.v);
	return r;
}

/* Delete id in one transaction; a master with live sub-snapshots is META_E_BUSY. */
static int mk_delete(void *st, meta_ms_id id)
{
	struct mk *m = st;
	int r = delete_tx(m, id, false);
	return r ? r : mikulas_commit(m);
}

/*
 * mikulas_iter: the tree as committed (every message commits: the handle holds no
 * uncommitted change), read a level at a time through the batched walker
 * (pdata/walk.h); the leaves' entries in key order.  A node the validator refuses:
 * its error; a node of another tree, a leaf at another depth than the first, a path
 * over 64 levels, a level of more nodes than metadata blocks or a child outside the
 * metadata area: META_E_CORRUPT.
 */
struct scan {
	struct mk *m;
	uint32_t vs;
	int depth, leaf_depth;
	entry_fn fn;
	void *ctx;
	uint64_t *cur, *next;
	size_t ncur, nnext, capnext;
};

static uint64_t scan_block(void *ctx, size_t i)
{
	return ((struct scan *)ctx)->cur[i];
}

static int scan_node(void *ctx, size_t i, const void *node, int err)
{
	struct scan *sc = ctx;
	struct meta_node_info ni;
	int r = 0;
	(void)i;
	if (err)
		return err;
	meta_node_get_info(node, &ni);
	if (ni.value_size != ((ni.flags & META_NODE_INTERNAL) ? 8 : sc->vs))
		return META_E_CORRUPT;
	if (ni.flags & META_NODE_INTERNAL) {
		/* a level cannot hold more nodes than there are blocks, but for sharing */
		if (sc->depth >= 64 || sc->nnext + ni.nr_entries > sc->m->sb.metadata_blocks)
			return META_E_CORRUPT;
		if (meta_grow((void **)&sc->next, &sc->capnext, sc->nnext + ni.nr_entries,
			      sizeof(*sc->next)))
			return META_E_NOMEM;
		for (uint32_t k = 0; k < ni.nr_entries; k++) {
			uint64_t b = meta_node_value64(node, k);
			if (b == 0 || b >= sc->m->sb.metadata_blocks)
				return META_E_CORRUPT;
			sc->next[sc->nnext++] = b;
		}
		return 0;
	}
	if (sc->leaf_depth < 0)
		sc->leaf_depth = sc->depth;
	if (sc->depth != sc->leaf_depth)
		return META_E_CORRUPT;
	for (uint32_t k = 0; k < ni.nr_entries && !r; k++)
		r = sc->fn(sc->ctx, meta_node_key(node, k), meta_node_value(node, k));
	return r;
}

int mikulas_iter(void *st, bool exceptions, entry_fn fn, void *ctx)
{
	struct mk *m = st;
	struct scan sc = {m, exceptions ? EXC_VS : SNAP_VS, 0, -1, fn, ctx, NULL, NULL, 0, 0, 0};
	struct meta_walker w;
	int r = 0;
	if (m->failed)
		return m->failed;
	sc.next = malloc(sizeof(*sc.next));
	if (!sc.next)
		return META_E_NOMEM;
	sc.next[0] = exceptions ? m->sb.exception_root : m->sb.snapshot_root;
	sc.nnext = sc.capnext = 1;
	meta_walker_init(&w, m->bm);
	meta_bm_set_read_ahead(m->bm, 1);
	for (; sc.nnext && !r; sc.depth++) {
		sc.cur = sc.next;
		sc.ncur = sc.nnext;
		sc.next = NULL;
		sc.nnext = sc.capnext = 0;
		r = meta_walk_read(&w, sc.ncur, scan_block, scan_node, &sc);
		free(sc.cur);
	}
	meta_bm_set_read_ahead(m->bm, 0);
	meta_walker_free(&w);
	free(sc.next);
	return r;
}

void mikulas_close(void *st)
{
	mk_free(st);
}

int mikulas_set_next_snapshot(void *st, uint64_t next)
{
	struct mk *m = st;
	int r = usable(m);
	if (r)
		return r;
	if (next > MIKULAS_NUMBER_MAX + 1ull)
		return META_E_INVAL;
	m->sb.next_snapshot = next;
	return mikulas_commit(m);
}

/* ---- the engine: reads and writes through the store (issue 15) ---------------------
 *
 * Unborn ids: a sub-snapshot N.k made later must read what N reads then, so every
 * exception covers master N's unborn sub ids N.next_sub .. N.0xfffffffe exactly as it
 * covers N (the same exception or none), and none covers an id at or past
 * next_snapshot << 32 (future snapshots read the origin).  An origin write therefore
 * fills gaps below next_snapshot << 32 only, a write to master N moves the range
 * [N.next_sub, N] as one, and a write to sub N.k splits N.k alone out (the checker's
 * MSK_EXC_UNBORN).  With that, "an exception shared with no other id that will ever
 * read it" is "an exception holding no other live id".
 */

/* The live ids, read once and kept until a message changes them. */
static int get_live(struct mk *m, const struct idvec **out)
{
	if (!m->live_ok) {
		int r;
		free(m->live.v);
		r = live_ids(m, &m->live);
		if (r) {
			free(m->live.v);
			memset(&m->live, 0, sizeof(m->live));
			return r;
		}
		m->live_ok = true;
	}
	*out = &m->live;
	return 0;
}

static bool is_live_id(const struct idvec *live, meta_ms_id id)
{
	size_t lo = meta_u64_lower_bound(live->v, live->n, id);
	return lo < live->n && live->v[lo] == id;
}

static uint64_t chunk_bytes(const struct mk *m)
{
	return (uint64_t)m->sb.chunk_size * META_SECTOR_SIZE;
}

static uint64_t cow_offset(const struct mk *m, uint64_t cow)
{
	return mikulas_data_start(m->sb.metadata_blocks, m->sb.chunk_size) + cow * chunk_bytes(m);
}

/* Origin chunks c..c+k-1 whole into buf (zeros past the origin's end). */
static int read_origin_chunks(struct mk *m, struct meta_io *origin, uint64_t c, uint64_t k,
			      void *buf)
{
	uint64_t cb = chunk_bytes(m), start = c * cb, size = meta_io_size(origin);
	uint64_t n = start < size ? size - start : 0;
	if (n > k * cb)
		n = k * cb;
	if (n < k * cb)
		memset((uint8_t *)buf + n, 0, (size_t)(k * cb - n));
	return n ? meta_io_pread(origin, buf, (size_t)n, start) : 0;
}

static int read_origin_chunk(struct mk *m, struct meta_io *origin, uint64_t c, void *buf)
{
	return read_origin_chunks(m, origin, c, 1, buf);
}

/* Bytes a run of chunks read or written in one call holds at most (one chunk at least). */
#define RUN_BYTES (4u << 20)

static uint64_t run_chunks(const struct mk *m)
{
	uint64_t k = RUN_BYTES / chunk_bytes(m);
	return k ? k : 1;
}

/*
 * The buffer of one run (run_chunks() chunks), made on first use and kept: every batch of
 * a merge or origin write copies through the same pages (a new 4 MiB buffer per batch
 * was a page fault per 4 KiB on each first touch).  NULL: out of memory.
 */
static uint8_t *run_buf(struct mk *m)
{
	if (!m->runbuf)
		m->runbuf = meta_io_buf_alloc((size_t)(run_chunks(m) * chunk_bytes(m)));
	return m->runbuf;
}

/* The index of the exception of ev covering id, or ev->n. */
static size_t find_exc(const struct excvec *ev, meta_ms_id id)
{
	for (size_t i = 0; i < ev->n && ev->v[i].first <= id; i++)
		if (id <= ev->v[i].last)
			return i;
	return ev->n;
}

/* Copy of ev with the sorted, disjoint list add merged in: *from = the first index changed. */
static int merge_excs(const struct excvec *ev, const struct excvec *add, struct excvec *out,
		      size_t *from)
{
	size_t i = 0, j = 0;
	int r = 0;
	memset(out, 0, sizeof(*out));
	*from = SIZE_MAX;
	while ((i < ev->n || j < add->n) && !r) {
		if (j < add->n && (i == ev->n || add->v[j].first < ev->v[i].first)) {
			if (*from == SIZE_MAX)
				*from = out->n;
			r = push_exc(out, add->v[j++]);
		} else {
			r = push_exc(out, ev->v[i++]);
		}
	}
	if (*from == SIZE_MAX)
		*from = out->n;
	return r;
}

/*
 * The exceptions an origin write of chunk c adds (cow not set): the maximal gaps between
 * ev's ranges, below next_snapshot << 32, that hold a live id.
 */
static int origin_gaps(const struct mk *m, const struct idvec *live, const struct excvec *ev,
		       struct excvec *gaps)
{
	meta_ms_id end, start = 0, lim = m->sb.next_snapshot << 32; /* exclusive */
	int r = 0;
	memset(gaps, 0, sizeof(*gaps));
	if (!live->n || !lim)
		return 0;
	for (size_t i = 0; i <= ev->n && !r; i++) {
		end = i < ev->n && ev->v[i].first < lim ? ev->v[i].first : lim;
		if (end > start && covers_live(live, start, end - 1))
			r = push_exc(gaps, (struct exc){start, end - 1, 0});
		if (i == ev->n || ev->v[i].last >= lim - 1)
			break;
		if (ev->v[i].last + 1 > start)
			start = ev->v[i].last + 1;
	}
	return r;
}

static int mk_read(void *st, struct meta_io *origin, meta_ms_id id, uint64_t off, uint64_t len,
		   void *buf)
{
	struct mk *m = st;
	const struct idvec *live;
	uint64_t cb = chunk_bytes(m), end = off + len;
	int r;
	if (m->failed)
		return m->failed;
	r = get_live(m, &live);
	if (r)
		return r;
	if (!is_live_id(live, id))
		return META_E_NOTFOUND;
	for (uint64_t pos = off; pos < end && !r;) {
		uint64_t c = pos / cb, pend = (c + 1) * cb < end ? (c + 1) * cb : end;
		uint8_t *dst = (uint8_t *)buf + (pos - off);
		struct excvec ev = {0};
		size_t p = ev.n;
		if (c < MIKULAS_CHUNK_LIMIT) {
			r = chunk_excs(m, c, &ev);
			p = find_exc(&ev, id);
		}
		if (!r && p < ev.n)
			r = meta_io_pread(m->io, dst, (size_t)(pend - pos),
					  cow_offset(m, ev.v[p].cow) + (pos - c * cb));
		else if (!r)
			r = meta_io_pread(origin, dst, (size_t)(pend - pos), pos);
		free(ev.v);
		pos = pend;
	}
	return r;
}

/* A write's first steps: the handle writable, its chunks [*c0, *c1] in range, the live ids. */
static int write_start(struct mk *m, uint64_t off, uint64_t len, const struct idvec **live,
		       uint64_t *c0, uint64_t *c1)
{
	int r = usable(m);
	*c0 = off / chunk_bytes(m);
	*c1 = (off + len - 1) / chunk_bytes(m);
	if (r)
		return r;
	if (*c1 >= MIKULAS_CHUNK_LIMIT)
		return META_E_RANGE;
	return get_live(m, live);
}

/* Chunk i of a list: cs[i], or c0 + i when there is no list. */
static uint64_t nth_chunk(const uint64_t *cs, uint64_t c0, uint64_t i)
{
	return cs ? cs[i] : c0 + i;
}

/* How many of a batch's chunks an origin write must copy first (nothing changes). */
static int batch_need(struct mk *m, const struct idvec *live, const struct chunk_batch *b,
		      uint64_t *need)
{
	int r = 0;
	*need = 0;
	for (uint64_t i = 0; i < b->n && !r && live->n; i++) {
		struct excvec ev = batch_at(b, i), gaps = {0};
		r = origin_gaps(m, live, &ev, &gaps);
		if (!r && gaps.n && ev.n + gaps.n > MIKULAS_EXC_PER_CHUNK)
			r = META_E_RANGE;
		*need += gaps.n != 0;
		free(gaps.v);
	}
	return r;
}

/* How many of the n chunks (cs ascending, or c0..c0+n-1) an origin write must copy first. */
static int origin_need(struct mk *m, const struct idvec *live, const uint64_t *cs, uint64_t c0,
		       uint64_t n, uint64_t *need)
{
	struct chunk_batch b;
	int r = batch_excs(m, cs, c0, n, &b);
	if (!r)
		r = batch_need(m, live, &b, need);
	batch_free(&b);
	return r;
}

/*
 * The old data of origin chunks cp[i] into COW chunks xp[i] (i < n): a run of consecutive
 * origin chunks going to consecutive COW chunks is one read and one write.
 */
static int copy_out(struct mk *m, struct meta_io *origin, const uint64_t *cp, const uint64_t *xp,
		    uint64_t n)
{
	uint64_t cb = chunk_bytes(m), max = run_chunks(m), k;
	uint8_t *buf = run_buf(m);
	int r = buf ? 0 : META_E_NOMEM;
	for (uint64_t i = 0; i < n && !r; i += k) {
		for (k = 1; i + k < n && k < max && cp[i + k] == cp[i] + k && xp[i + k] == xp[i] + k;
		     k++)
			;
		r = read_origin_chunks(m, origin, cp[i], k, buf);
		if (!r)
			r = meta_io_pwrite(m->io, buf, (size_t)(k * cb), cow_offset(m, xp[i]));
		if (!r) /* under way before the commit's flush waits for it */
			meta_io_writeback(m->io, cow_offset(m, xp[i]), k * cb);
	}
	return r;
}

/*
 * Before origin chunks (the n of cs, or c0..c0+n-1) change: pass 1 counts the chunks to
 * copy (nothing changes: a full COW is META_E_NOSPC with the store untouched); pass 2
 * gives each such chunk one new COW chunk and copies the old data there (copy_out);
 * pass 3 adds the gaps naming it; the transaction is committed.  The copies need no flush of
 * their own: they are written to the store before the commit's first phase writes the
 * new metadata blocks and flushes the store (meta_tm_pre_commit), so that one flush
 * lands them before the superblock that names them.  The caller writes the origin after.
 */
static int origin_cover(struct mk *m, struct meta_io *origin, const struct idvec *live,
			const uint64_t *cs, uint64_t c0, uint64_t n, uint64_t *copies)
{
	struct chunk_batch b;
	uint64_t need, nc = 0, *cp, *xp;
	int r = batch_excs(m, cs, c0, n, &b);
	if (!r)
		r = batch_need(m, live, &b, &need);
	if (!r && need > meta_sm_tx_nr_free(m->dsm))
		r = META_E_NOSPC;
	if (r || !need) {
		batch_free(&b);
		return r;
	}
	*copies += need;
	cp = malloc((size_t)need * 2 * sizeof(*cp));
	if (!cp) {
		batch_free(&b);
		return META_E_NOMEM;
	}
	xp = cp + need;
	/*
	 * The new COW chunks first (free at the last commit too: writing them changes nothing
	 * a crash would see) and the old data copied there, so that the copies are going out
	 * to the disk while the tree changes below are made.
	 */
	for (uint64_t i = 0; i < n && !r; i++) {
		struct excvec ev = batch_at(&b, i), gaps = {0};
		uint64_t x;
		r = origin_gaps(m, live, &ev, &gaps);
		if (!r && gaps.n && nc == need)
			r = META_E_CORRUPT; /* pass 1 counted fewer: cannot be */
		if (!r && gaps.n) {
			r = meta_sm_tx_alloc(m->dsm, &x);
			for (size_t k = 1; k < gaps.n && !r; k++)
				r = meta_sm_tx_inc(m->dsm, x);
			cp[nc] = nth_chunk(cs, c0, i);
			xp[nc++] = x;
		}
		free(gaps.v);
	}
	if (!r)
		r = copy_out(m, origin, cp, xp, nc);
	/* the same gaps again, in the same order, naming those chunks; each chunk's rewrite
	 * changes its own keys only: the batch stays right for the rest */
	nc = 0;
	for (uint64_t i = 0; i < n && !r; i++) {
		struct excvec ev = batch_at(&b, i), gaps = {0}, nv = {0};
		size_t from;
		r = origin_gaps(m, live, &ev, &gaps);
		if (!r && gaps.n) {
			for (size_t k = 0; k < gaps.n; k++)
				gaps.v[k].cow = xp[nc];
			r = merge_excs(&ev, &gaps, &nv, &from);
			if (!r)
				r = rewrite_chunk_from(m, cp[nc++], from, ev.n, &nv);
		}
		free(gaps.v);
		free(nv.v);
	}
	batch_free(&b);
	free(cp);
	if (!r)
		r = mikulas_commit(m); /* its pre-commit flush lands the copies too */
	return r ? fail(m, r) : 0;
}

static int mk_write_origin(void *st, struct meta_io *origin, uint64_t off, uint64_t len,
			   const void *buf)
{
	struct mk *m = st;
	const struct idvec *live;
	uint64_t c0, c1, copies = 0;
	int r = write_start(m, off, len, &live, &c0, &c1);
	if (!r)
		r = origin_cover(m, origin, live, NULL, c0, c1 - c0 + 1, &copies);
	return r ? r : meta_io_pwrite(origin, buf, (size_t)len, off);
}

/*
 * How a write to id [ulo, uhi] (the ids that move with it) treats a chunk with
 * exceptions ev: *p the exception covering id (ev->n: none), *in_place when it holds no
 * other live id and no other exception names its COW chunk (an origin write names one
 * chunk from several gaps; a split keeps both sides on the old chunk).  META_E_CORRUPT
 * when the ranges break the unborn-id rule (the new range would overlap another
 * exception).
 */
static int snap_plan(struct mk *m, const struct idvec *live, const struct excvec *ev,
		     meta_ms_id id, meta_ms_id ulo, meta_ms_id uhi, size_t *p, bool *in_place)
{
	size_t i = find_exc(ev, id), lo;
	uint32_t count;
	int r;
	*p = i;
	*in_place = false;
	if (i < ev->n) {
		if (ev->v[i].first > ulo || ev->v[i].last < uhi)
			return META_E_CORRUPT;
		lo = meta_u64_lower_bound(live->v, live->n, ev->v[i].first);
		if (lo < live->n && live->v[lo] == id)
			lo++;
		if (lo < live->n && live->v[lo] <= ev->v[i].last)
			return 0;
		r = meta_sm_tx_count(m->dsm, ev->v[i].cow, &count);
		*in_place = !r && count == 1;
		return r;
	}
	/* no exception covers id: the range must fall in one gap */
	for (i = 0; i < ev->n; i++)
		if (ev->v[i].first <= uhi && ulo <= ev->v[i].last)
			return META_E_CORRUPT;
	return 0;
}

/*
 * The new list for chunk c when [ulo, uhi] moves to COW chunk x: the exception p that
 * covered it (if any) is split, its parts that hold no live id dropped and its chunk's
 * count fixed.
 */
static int snap_split(struct mk *m, const struct idvec *live, const struct excvec *ev, size_t p,
		      meta_ms_id ulo, meta_ms_id uhi, uint64_t x, struct excvec *nv, size_t *from)
{
	struct excvec add = {0};
	int r = 0;
	memset(nv, 0, sizeof(*nv));
	if (p == ev->n) {
		r = push_exc(&add, (struct exc){ulo, uhi, x});
		if (!r)
			r = merge_excs(ev, &add, nv, from);
		free(add.v);
		return r;
	}
	{
		struct exc e = ev->v[p];
		unsigned kept = 0;
		*from = p;
		for (size_t i = 0; i < p && !r; i++)
			r = push_exc(nv, ev->v[i]);
		if (!r && e.first < ulo && covers_live(live, e.first, ulo - 1)) {
			r = push_exc(nv, (struct exc){e.first, ulo - 1, e.cow});
			kept++;
		}
		if (!r)
			r = push_exc(nv, (struct exc){ulo, uhi, x});
		if (!r && uhi < e.last && covers_live(live, uhi + 1, e.last)) {
			r = push_exc(nv, (struct exc){uhi + 1, e.last, e.cow});
			kept++;
		}
		for (size_t i = p + 1; i < ev->n && !r; i++)
			r = push_exc(nv, ev->v[i]);
		if (!r && kept == 0)
			r = meta_sm_tx_dec(m->dsm, e.cow);
		if (!r && kept == 2)
			r = meta_sm_tx_inc(m->dsm, e.cow);
	}
	return r;
}

/* One chunk of a snapshot write: [pos, pend) of chunk c, from src; *copied: it took a new chunk. */
static int snap_write_chunk(struct mk *m, const struct idvec *live, struct meta_io *origin,
			    meta_ms_id id, meta_ms_id ulo, meta_ms_id uhi, uint64_t c, uint64_t pos,
			    uint64_t pend, const uint8_t *src, uint8_t *cbuf, bool copy_pass,
			    bool *copied)
{
	uint64_t cb = chunk_bytes(m), x;
	struct excvec ev, nv = {0};
	size_t p, from;
	bool in_place = false;
	int r = chunk_excs(m, c, &ev);
	if (!r)
		r = snap_plan(m, live, &ev, id, ulo, uhi, &p, &in_place);
	*copied = false;
	if (r || in_place == copy_pass) {
		/* the other pass's chunk */
	} else if (in_place) {
		r = meta_io_pwrite(m->io, src, (size_t)(pend - pos),
				   cow_offset(m, ev.v[p].cow) + (pos - c * cb));
	} else {
		*copied = true;
		r = meta_sm_tx_alloc(m->dsm, &x);
		if (!r && pend - pos < cb)
			r = p < ev.n ? meta_io_pread(m->io, cbuf, (size_t)cb, cow_offset(m, ev.v[p].cow))
				     : read_origin_chunk(m, origin, c, cbuf);
		if (!r) {
			memcpy(cbuf + (pos - c * cb), src, (size_t)(pend - pos));
			r = meta_io_pwrite(m->io, cbuf, (size_t)cb, cow_offset(m, x));
		}
		if (!r)
			r = snap_split(m, live, &ev, p, ulo, uhi, x, &nv, &from);
		if (!r)
			r = rewrite_chunk_from(m, c, from, ev.n, &nv);
	}
	free(ev.v);
	free(nv.v);
	return r;
}

/*
 * Two passes: first the chunks that need a new COW chunk (written, flushed, committed), then
 * the chunks the snapshot owns alone, overwritten in place only after that commit (as the
 * thin engine orders them): a crash leaves the state before the call, or its commit with
 * some of the in-place writes landed; never an in-place write beside an uncommitted rest.
 * The in-place writes are flushed before the return (a power cut after it keeps them).
 */
static int mk_write_snapshot(void *st, struct meta_io *origin, meta_ms_id id, uint64_t off,
			     uint64_t len, const void *buf)
{
	struct mk *m = st;
	const struct idvec *live;
	struct mikulas_disk_snap v;
	uint64_t cb = chunk_bytes(m), c0, c1, need = 0;
	meta_ms_id ulo = id, uhi = id;
	uint8_t *cbuf = NULL, *copied = NULL;
	int r = write_start(m, off, len, &live, &c0, &c1);
	if (r)
		return r;
	if (!is_live_id(live, id))
		return META_E_NOTFOUND;
	if ((uint32_t)id == META_MS_SUB_NONE) {
		r = meta_btree_tx_lookup(&m->snaps, m->sb.snapshot_root, &id, &v);
		if (r)
			return r == META_E_NOTFOUND ? META_E_CORRUPT : r;
		ulo = (id & ~(uint64_t)META_MS_SUB_NONE) | le32_get(v.next_sub);
	}
	for (uint64_t c = c0; c <= c1 && !r; c++) {
		struct excvec ev;
		size_t p;
		bool in_place = true;
		r = chunk_excs(m, c, &ev);
		if (!r)
			r = snap_plan(m, live, &ev, id, ulo, uhi, &p, &in_place);
		if (!r && !in_place && ev.n + 2 > MIKULAS_EXC_PER_CHUNK)
			r = META_E_RANGE;
		need += !r && !in_place;
		free(ev.v);
	}
	if (!r && need > meta_sm_tx_nr_free(m->dsm))
		r = META_E_NOSPC;
	if (r)
		return r;
	if (need && (!(cbuf = meta_io_buf_alloc((size_t)cb)) ||
		     !(copied = calloc((size_t)(c1 - c0 + 1), 1)))) {
		free(cbuf);
		return META_E_NOMEM;
	}
	for (int pass = 0; pass < 2 && !r; pass++) {
		if (pass == 1 && need) {
			r = meta_io_flush(m->io);
			if (!r)
				r = mikulas_commit(m);
		}
		for (uint64_t pos = off, end = off + len; pos < end && !r;) {
			uint64_t c = pos / cb, pend = (c + 1) * cb < end ? (c + 1) * cb : end;
			bool took;
			/* a chunk the first pass copied is the snapshot's own now: done */
			if (pass == 0 || !need || !copied[c - c0]) {
				r = snap_write_chunk(m, live, origin, id, ulo, uhi, c, pos, pend,
						     (const uint8_t *)buf + (pos - off), cbuf, pass == 0,
						     &took);
				if (need && took)
					copied[c - c0] = 1;
			}
			pos = pend;
		}
	}
	free(cbuf);
	free(copied);
	if (!r)
		r = meta_io_flush(m->io);
	return need ? fail(m, r) : r;
}


/* ---- merge: a snapshot's data into the origin (meta_ms_merge) ---- */

struct merge_scan {
	meta_ms_id id;
	uint64_t nchunks; /* origin chunks (the origin's size, rounded up) */
	struct idvec chunks, cows; /* id's origin chunks and its COW chunk for each */
};

static int scan_merge(void *ctx, uint64_t key, const void *value)
{
	struct merge_scan *ms = ctx;
	const struct mikulas_disk_exc *d = value;
	uint64_t c = key >> 16;
	if (le64_get(d->first_id) > ms->id || ms->id > le64_get(d->last_id) || c >= ms->nchunks)
		return 0;
	if (ms->chunks.n && ms->chunks.v[ms->chunks.n - 1] == c)
		return META_E_CORRUPT; /* two ranges of c hold id */
	if (push_id(&ms->chunks, c))
		return META_E_NOMEM;
	return push_id(&ms->cows, le64_get(d->cow_chunk));
}

/*
 * One batch's origin write: id's COW chunks xs[i] to origin chunks cs[i], a run where both
 * are consecutive (up to run_chunks) in one read and one write (cut at the origin's end).
 * id's exceptions do not change before the delete: the scan's COW chunks still hold its
 * data.
 */
static int merge_batch_data(struct mk *m, struct meta_io *origin, const uint64_t *cs,
			    const uint64_t *xs, uint64_t n)
{
	uint64_t cb = chunk_bytes(m), size = meta_io_size(origin), max = run_chunks(m), k;
	uint8_t *buf = run_buf(m);
	int r = buf ? 0 : META_E_NOMEM;
	for (uint64_t i = 0; i < n && !r; i += k) {
		uint64_t start = cs[i] * cb, end;
		for (k = 1; i + k < n && k < max && cs[i + k] == cs[i] + k && xs[i + k] == xs[i] + k;
		     k++)
			;
		end = (cs[i] + k) * cb < size ? (cs[i] + k) * cb : size;
		r = meta_io_pread(m->io, buf, (size_t)(end - start), cow_offset(m, xs[i]));
		if (!r)
			r = meta_io_pwrite(origin, buf, (size_t)(end - start), start);
		if (!r) /* under way while the next batch is prepared, before the flush */
			meta_io_writeback(origin, start, end - start);
	}
	return r;
}

static int mk_merge(void *st, struct meta_io *origin, meta_ms_id id, struct meta_ms_merge_opts *o)
{
	struct mk *m = st;
	const struct idvec *live;
	struct merge_scan sc = {id, 0, {0}, {0}};
	uint64_t cb = chunk_bytes(m), batch = ms_merge_batch(o, cb);
	int r = o->dry_run ? m->failed : usable(m);
	if (!r)
		r = get_live(m, &live);
	if (!r && !is_live_id(live, id))
		r = META_E_NOTFOUND;
	if (r)
		return r;
	sc.nchunks = (meta_io_size(origin) + cb - 1) / cb;
	r = mikulas_iter(m, true, scan_merge, &sc);
	if (!r && o->dry_run) {
		o->chunks = sc.chunks.n;
		r = origin_need(m, live, sc.chunks.v, 0, sc.chunks.n, &o->copies);
		goto out;
	}
	for (uint64_t i = 0; i < sc.chunks.n && !r; i += batch) {
		uint64_t n = sc.chunks.n - i < batch ? sc.chunks.n - i : batch;
		r = origin_cover(m, origin, live, sc.chunks.v + i, 0, n, &o->copies);
		if (!r)
			r = merge_batch_data(m, origin, sc.chunks.v + i, sc.cows.v + i, n);
		if (!r)
			o->chunks += n;
		if (!r && o->progress && o->progress(o->ctx, o->chunks, sc.chunks.n) &&
		    o->chunks < sc.chunks.n)
			r = META_E_INTERRUPTED;
	}
	if (!r || r == META_E_INTERRUPTED) {
		/*
		 * The delete's tree changes are made while the origin's last writes still go out
		 * (nothing of them is written before the commit); the commit only after the
		 * origin's flush.  A merged master's subs stay live with their exceptions
		 * (orphan subs).
		 */
		int d = r ? 0 : delete_tx(m, id, true);
		int f = meta_io_flush(origin);
		r = r ? r : d ? d : f;
	}
	if (!r)
		r = mikulas_commit(m);
out:
	free(sc.chunks.v);
	free(sc.cows.v);
	return r;
}

const struct ms_ops ms_mikulas_ops = {
	.type = META_MS_MIKULAS,
	.name = "mikulas",
	.sniff = mk_sniff,
	.format = mk_format,
	.open = mk_open,
	.close = mk_close,
	.chunk_size = mk_chunk_size,
	.snapshots = mk_snapshots,
	.status = mk_status,
	.create = mk_create,
	.create_subsnap = mk_create_subsnap,
	.delete_snap = mk_delete,
	.set_generic = mk_set_generic,
	.check = mikulas_check,
	.check_origin = mikulas_check_origin,
	.dump_xml = mikulas_dump_xml,
	.dump_human = mikulas_dump_human,
	.restore_xml = mikulas_restore_xml,
	.read = mk_read,
	.write_origin = mk_write_origin,
	.write_snapshot = mk_write_snapshot,
	.merge = mk_merge,
};

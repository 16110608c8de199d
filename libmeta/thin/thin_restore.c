/* SPDX-License-Identifier: GPL-2.0-only */
/* Thin-pool restorer (see include/libmeta/thin_restore.h). */
#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/sm.h>
#include <libmeta/thin.h>
#include <libmeta/thin_restore.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/hash.h"
#include "base/util.h"
#include "pdata/ondisk.h"
#include "pdata/pdata_write.h"
#include "thin/thin_ondisk.h"

struct dev_rec {
	struct meta_thin_details d;
	uint64_t root;
};

struct def_rec {
	char *name;
	uint64_t *keys, *leaves, n; /* first key and block of each leaf */
	uint64_t first_key;          /* lowest key mapped */
	uint64_t ub_leaves;          /* check pass: upper bound of its leaves */
	uint64_t last_key;           /* highest key mapped */
	uint64_t nr_mappings;
	/* data runs {first block, length}: counted at the first ref only (no ref, no count) */
	uint64_t (*runs)[2];
	uint64_t nruns, capruns, nr_refs;
	/* a def too small for a leaf of its own (under a third full: tpt 1.x and the kernel's
	   rules want every non-root node at least that full) is copied into each device that
	   refs it, as tpt 1.x does: its entries {key, value}, and its data counted per ref */
	bool copy;
	uint32_t hkey;  /* def_index's key: the low half of the name's meta_hash_str() */
	uint32_t hnext; /* 1 + index of another def of this hkey; 0: none */
	uint64_t (*small)[2];
};

struct meta_thin_restorer {
	struct meta_io *io;
	struct bw w;
	struct meta_thin_restore_opts o;
	struct meta_thin_xml_sb sb;
	bool have_sb, ended, committed;
	struct meta_refcount dcount; /* data block reference counts */
	uint64_t nr_data;
	struct dev_rec *devs;
	uint64_t ndevs;
	size_t capdevs;
	uint64_t *seen;   /* dev ids seen so far: open addressing, UINT64_MAX = empty */
	uint64_t seen_cap;
	struct def_rec *defs;
	uint64_t ndefs;
	size_t capdefs;
	struct meta_hidx def_index; /* the first def of each hkey (its others chained) */
	/* the device or def being built */
	enum { NONE, DEVICE, DEF } in;
	struct bbuild b;
	uint64_t mapped, last_vb, first_vb;
	uint64_t own;       /* mappings of this tree itself (refs excluded) */
	bool any_vb;
	/* check pass (meta_thin_restorer_check_begin): every check, nothing written */
	bool dry;
	bool zeroed;        /* block 0 was zeroed: the output is no longer what it was */
	bool counted;       /* dcount was filled by the check pass (same input) */
	uint64_t leaves_lb; /* check pass: lower bound of the mapping leaves */
	/* check pass, upper bounds: nodes of the mapping trees, leaves spliced into this
	   tree and refs in it, leaves of all defs, data references of all devices */
	uint64_t ub_nodes, ub_spliced, ub_refs, ub_def_leaves, ub_rc_entries;
	uint64_t need_lb;   /* after a check pass: lower bound of the blocks needed, else 0 */
	/*
	 * Shared leaves copied into a tree (pdata_write.h: a short run next to one).  A
	 * def's data blocks are counted once, for its leaves; a copy is one more leaf
	 * mapping them.  Bits per metadata block: copied (the leaf was copied at least
	 * once), credit (its first copy took the def's count, as the leaf had no parent
	 * then: if it gets one later, it needs its own count, added at commit).
	 */
	uint8_t *copied, *credit;
	/* the tree being built: entries since its last spliced def (or its start), and
	   whether a def was spliced; check pass: the copies it may make */
	uint64_t seg, tree_copies;
	bool seg_after_ref;
	char msg[320];
};

static int fail(struct meta_thin_restorer *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct meta_thin_restorer *r, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	return code;
}

const char *meta_thin_restorer_message(void *restorer)
{
	struct meta_thin_restorer *r = restorer;
	return r->msg[0] ? r->msg : NULL;
}

int meta_thin_restorer_create(const char *path, const struct meta_thin_restore_opts *o,
			      struct meta_thin_restorer **out)
{
	static const struct meta_thin_restore_opts none;
	struct meta_thin_restorer *r;
	uint8_t *blk;
	uint64_t nr;
	int e;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	blk = aligned_alloc(META_BLOCK_SIZE, META_BLOCK_SIZE);
	if (!r || !blk) {
		free(r);
		free(blk);
		return META_E_NOMEM;
	}
	r->o = o ? *o : none;
	e = meta_io_open(path, META_IO_WRITE | META_IO_EXCL, &r->io);
	if (e)
		goto fail;
	e = META_E_TOOSMALL;
	if (meta_io_size(r->io) < META_THIN_RESTORE_MIN_BYTES)
		goto fail;
	/* refuse to overwrite valid metadata */
	e = meta_io_pread(r->io, blk, META_BLOCK_SIZE, 0);
	if (e)
		goto fail;
	if (!r->o.force && meta_thin_sb_validator.check(&meta_thin_sb_validator, blk, 0) == META_OK) {
		e = META_E_EXISTS;
		goto fail;
	}
	if (r->o.fail_writes_after)
		meta_io_fail_writes_after(r->io, r->o.fail_writes_after);
	/* block 0 is zeroed by the first emitter call (begin_superblock), not here */
	nr = meta_io_size(r->io) / META_BLOCK_SIZE;
	if (nr > META_SM_METADATA_MAX_BLOCKS)
		nr = META_SM_METADATA_MAX_BLOCKS;
	e = bw_init(&r->w, r->io, nr, 1);
	if (e)
		goto fail;
	free(blk);
	*out = r;
	return META_OK;
fail:
	free(blk);
	meta_io_close(r->io);
	free(r);
	return e;
}

/* ---- sizes and write errors --------------------------------------------------- */

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

/*
 * A lower bound of the metadata blocks a pool of nr_data data blocks needs, given
 * a lower bound of its mapping leaves: the superblock, the top-level and details
 * trees, the data space map (ref-count tree, one bitmap per 16320 data blocks and
 * their index tree) and the metadata space map (ref-count tree, bitmaps, index).
 * Internal btree nodes are not counted: the output may need more, never less.
 */
static uint64_t blocks_needed(const struct meta_thin_restorer *r, uint64_t nr_data,
			      uint64_t leaves)
{
	uint64_t nbm = div_up(nr_data, META_SM_ENTRIES_PER_BITMAP);
	uint64_t idx = div_up(nbm ? nbm : 1, meta_btree_max_entries(16));
	uint64_t mbm = div_up(r->w.nr_blocks, META_SM_ENTRIES_PER_BITMAP);
	return 1 + 2 + leaves + 1 + nbm + idx + 1 + mbm + 1;
}

/*
 * The internal nodes over `kids` children: the builder packs every level full
 * (balancing only the last two nodes of a level, which adds none).
 */
static uint64_t internal_ub(uint64_t kids, uint32_t max)
{
	uint64_t n = 0;
	while (kids > 1) {
		kids = div_up(kids, max);
		n += kids;
	}
	return n;
}

/* A whole tree of n entries of value size vs: leaves (one when empty) and internal nodes. */
static uint64_t tree_ub(uint64_t n, uint32_t vs)
{
	uint64_t lv = n ? div_up(n, meta_btree_max_entries(vs)) : 1;
	return lv + internal_ub(lv, meta_btree_max_entries(8));
}

/*
 * After a check pass: an upper bound of the blocks the restore will use (every
 * tree, both space maps, the superblock).  Between blocks_needed() and this, the
 * output may or may not be large enough.
 */
static uint64_t blocks_ub(const struct meta_thin_restorer *r)
{
	uint64_t nbm = div_up(r->nr_data, META_SM_ENTRIES_PER_BITMAP);
	uint64_t mbm = div_up(r->w.nr_blocks, META_SM_ENTRIES_PER_BITMAP);
	uint64_t rc = r->ub_rc_entries;
	uint64_t n = 1 + r->ub_nodes + tree_ub(r->ndevs, 8) +
		     tree_ub(r->ndevs, META_THIN_DETAILS_VALUE_SIZE) + tree_ub(rc, 4) + nbm +
		     tree_ub(nbm, 16) + tree_ub(r->ub_def_leaves, 4) + mbm + 1;
	return n + n / 64 + 8; /* a margin for what this count does not model */
}

/* META_E_NOSPC with a message saying how much the pool needs, when the output is too small. */
static int check_room(struct meta_thin_restorer *r, uint64_t leaves)
{
	uint64_t need = blocks_needed(r, r->nr_data, leaves), have = r->w.nr_blocks;
	uint64_t sm = div_up(r->nr_data, META_SM_ENTRIES_PER_BITMAP);
	if (need <= have)
		return META_OK;
	if (need > META_SM_METADATA_MAX_BLOCKS)
		return fail(r, META_E_NOSPC,
			    "the output is too small for this pool, and so is any metadata device: it "
			    "needs at least %" PRIu64 " blocks of 4 KiB (%" PRIu64 " MiB; %" PRIu64
			    " of them for the space map of %" PRIu64 " data blocks), a metadata device "
			    "holds at most %llu (about 16 GiB): use a larger data block size",
			    need, div_up(need, 256), sm, r->nr_data, META_SM_METADATA_MAX_BLOCKS);
	return fail(r, META_E_NOSPC,
		    "the output is too small for this pool: it needs at least %" PRIu64 " blocks of "
		    "4 KiB (%" PRIu64 " bytes; %" PRIu64 " of them for the space map of %" PRIu64
		    " data blocks), the output has %" PRIu64 " (%" PRIu64 " bytes)",
		    need, need * META_BLOCK_SIZE, sm, r->nr_data, have, have * META_BLOCK_SIZE);
}

/* The message for a failed write or allocation (e = the error, usually r->w.err). */
static int write_error(struct meta_thin_restorer *r, int e)
{
	if (e == META_E_NOSPC && r->w.next >= r->w.nr_blocks)
		return fail(r, META_E_NOSPC,
			    "the output is too small for this metadata: all its %" PRIu64 " blocks of "
			    "4 KiB (%" PRIu64 " bytes) are used and more are needed (thin_metadata_size "
			    "estimates the size a pool needs)",
			    r->w.nr_blocks, r->w.nr_blocks * META_BLOCK_SIZE);
	if (e == META_E_NOSPC && !meta_io_is_blockdev(r->io))
		return fail(r, META_E_NOSPC,
			    "the filesystem holding the output file is full (a write failed with "
			    "ENOSPC after %" PRIu64 " of the file's %" PRIu64 " blocks were allocated): "
			    "the file is sparse and needs real space for every block written; free "
			    "space there or restore onto a device",
			    r->w.next, r->w.nr_blocks);
	return fail(r, e, "writing the output failed: %s", meta_strerror(e));
}

/* Zero block 0 (and flush) before anything else is written. */
static int zero_superblock(struct meta_thin_restorer *r)
{
	uint8_t *blk;
	int e;
	if (r->zeroed)
		return META_OK;
	blk = aligned_alloc(META_BLOCK_SIZE, META_BLOCK_SIZE);
	if (!blk)
		return fail(r, META_E_NOMEM, "out of memory");
	memset(blk, 0, META_BLOCK_SIZE);
	r->zeroed = true;
	e = meta_io_pwrite(r->io, blk, META_BLOCK_SIZE, 0);
	free(blk);
	if (!e)
		e = meta_io_flush(r->io);
	return e ? write_error(r, e) : META_OK;
}

/* ---- emitter callbacks ------------------------------------------------------- */

static int r_begin_sb(void *ctx, const struct meta_thin_xml_sb *sb)
{
	struct meta_thin_restorer *r = ctx;
	int e;
	r->sb = *sb;
	r->sb.uuid = "";
	if (r->o.set_transaction_id)
		r->sb.transaction = r->o.transaction_id;
	if (r->o.set_data_block_size)
		r->sb.data_block_size = r->o.data_block_size;
	if (r->o.set_nr_data_blocks)
		r->sb.nr_data_blocks = r->o.nr_data_blocks;
	if (r->sb.data_block_size < META_THIN_MIN_DATA_BLOCK_SIZE ||
	    r->sb.data_block_size > META_THIN_MAX_DATA_BLOCK_SIZE ||
	    r->sb.data_block_size % META_THIN_MIN_DATA_BLOCK_SIZE)
		return fail(r, META_E_INVAL,
			    "data_block_size %" PRIu32 " is not a multiple of 128 sectors between 128 "
			    "and 2097152",
			    r->sb.data_block_size);
	if (r->sb.nr_data_blocks > META_THIN_MAX_DATA_BLOCK + 1)
		return fail(r, META_E_INVAL, "nr_data_blocks is larger than 2^40");
	r->nr_data = r->sb.nr_data_blocks;
	/* the space maps alone may not fit: say so before allocating anything for them */
	e = check_room(r, r->need_lb ? r->leaves_lb : 0);
	if (e)
		return e;
	r->have_sb = true;
	if (!r->dry) {
		e = zero_superblock(r);
		if (e)
			return e;
	}
	if (!r->counted && meta_rc_init(&r->dcount, r->nr_data))
		return fail(r, META_E_NOMEM, "out of memory for %" PRIu64 " data block counts",
			    r->nr_data);
	return META_OK;
}

static int r_end_sb(void *ctx)
{
	struct meta_thin_restorer *r = ctx;
	r->ended = true;
	return META_OK;
}

/* The data blocks the n mapping values map: one more reference each. */
static int count_values(struct meta_thin_restorer *r, const uint8_t *values, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t db = get_le64p(values + 8u * i) >> 24;
		if (db >= r->nr_data)
			return META_E_CORRUPT; /* our own leaf: every value was checked */
		if (meta_rc_inc(&r->dcount, db))
			return META_E_NOMEM;
	}
	return META_OK;
}

/* bbuild.copied: a shared leaf's entries are copied into a new leaf (see struct meta_thin_restorer). */
static int r_copied(void *ctx, uint64_t leaf, const uint8_t *values, uint32_t n)
{
	struct meta_thin_restorer *r = ctx;
	size_t bytes = (size_t)(r->w.nr_blocks / 8 + 1);
	bool first;
	if (!r->copied) {
		r->copied = calloc(bytes, 1);
		r->credit = calloc(bytes, 1);
		if (!r->copied || !r->credit)
			return META_E_NOMEM;
	}
	if (leaf >= r->w.nr_blocks)
		return META_E_INVAL;
	first = !(r->copied[leaf / 8] & 1u << (leaf % 8));
	r->copied[leaf / 8] |= (uint8_t)(1u << (leaf % 8));
	if (first && !r->w.mcount[leaf]) {
		r->credit[leaf / 8] |= (uint8_t)(1u << (leaf % 8));
		return META_OK;
	}
	return count_values(r, values, n);
}

/*
 * At commit: a leaf whose first copy took its def's count and that has a parent
 * after all counts its own data blocks once.
 */
static int count_credited(struct meta_thin_restorer *r)
{
	uint8_t *node;
	int e = META_OK;
	if (!r->credit)
		return META_OK;
	node = aligned_alloc(META_BLOCK_SIZE, META_BLOCK_SIZE);
	if (!node)
		return META_E_NOMEM;
	for (uint64_t b = 0; !e && b < r->w.nr_blocks; b++) {
		const struct disk_node_header *h = (const struct disk_node_header *)node;
		uint32_t max = meta_btree_max_entries(8);
		if (!(r->credit[b / 8] & 1u << (b % 8)) || !r->w.mcount[b])
			continue;
		e = bw_read(&r->w, b, node);
		if (!e && le32_get(h->nr_entries) > max)
			e = META_E_CORRUPT;
		if (!e)
			e = count_values(r, node + META_NODE_HEADER_SIZE + 8u * max,
					 le32_get(h->nr_entries));
	}
	free(node);
	return e;
}

static void start_tree(struct meta_thin_restorer *r)
{
	if (!r->dry) {
		bbuild_init(&r->b, &r->w, 8);
		r->b.copied = r_copied;
		r->b.copied_ctx = r;
	}
	r->mapped = 0;
	r->own = 0;
	r->any_vb = false;
	r->seg = r->tree_copies = 0;
	r->seg_after_ref = false;
}

/*
 * Check pass: the builder may copy a shared leaf where a run of fewer than a third
 * of a leaf's entries meets a spliced def (before it, or ending the tree after one);
 * counted as one more leaf each.  Not exact (the builder sees the real leaves).
 */
static void seg_note_ref(struct meta_thin_restorer *r, const struct def_rec *df)
{
	if (df->copy) {
		r->seg += df->nr_mappings;
		return;
	}
	if (r->seg && r->seg < meta_btree_max_entries(8) / 3)
		r->tree_copies++;
	r->seg = 0;
	r->seg_after_ref = true;
}

static void seg_note_end(struct meta_thin_restorer *r)
{
	if (r->seg_after_ref && r->seg && r->seg < meta_btree_max_entries(8) / 3)
		r->tree_copies++;
	/* a copy adds a leaf and may make a leaf's data blocks counted once more */
	r->ub_rc_entries += r->tree_copies * meta_btree_max_entries(8);
}

/* Insert id into the seen set; false if it was there already. */
static bool seen_add(struct meta_thin_restorer *r, uint64_t id, bool *nomem)
{
	uint64_t h;
	if ((r->ndevs + 1) * 2 > r->seen_cap) {
		uint64_t cap = r->seen_cap ? r->seen_cap * 2 : 1024, *n = malloc(cap * sizeof(*n));
		if (!n) {
			*nomem = true;
			return false;
		}
		memset(n, 0xff, cap * sizeof(*n));
		for (uint64_t i = 0; i < r->seen_cap; i++)
			if (r->seen[i] != UINT64_MAX) {
				for (h = (r->seen[i] * 0x9E3779B97F4A7C15ull) >> 20 & (cap - 1); n[h] != UINT64_MAX;
				     h = (h + 1) & (cap - 1))
					;
				n[h] = r->seen[i];
			}
		free(r->seen);
		r->seen = n;
		r->seen_cap = cap;
	}
	for (h = (id * 0x9E3779B97F4A7C15ull) >> 20 & (r->seen_cap - 1); r->seen[h] != UINT64_MAX;
	     h = (h + 1) & (r->seen_cap - 1))
		if (r->seen[h] == id)
			return false;
	r->seen[h] = id;
	return true;
}

static int r_begin_device(void *ctx, const struct meta_thin_details *d)
{
	struct meta_thin_restorer *r = ctx;
	bool nomem = false;
	if (d->dev_id == UINT64_MAX)
		return fail(r, META_E_INVAL, "device id %" PRIu64 " is reserved", d->dev_id);
	if (!seen_add(r, d->dev_id, &nomem))
		return nomem ? fail(r, META_E_NOMEM, "out of memory")
			     : fail(r, META_E_INVAL, "device %" PRIu64 " appears twice", d->dev_id);
	if (meta_grow((void **)&r->devs, &r->capdevs, r->ndevs + 1, sizeof(*r->devs)))
		return fail(r, META_E_NOMEM, "out of memory");
	r->devs[r->ndevs].d = *d;
	r->devs[r->ndevs].root = 0;
	r->in = DEVICE;
	start_tree(r);
	return r->w.err ? fail(r, r->w.err, "%s", meta_strerror(r->w.err)) : META_OK;
}

static int tree_error(struct meta_thin_restorer *r)
{
	return write_error(r, r->w.err);
}

static int r_end_device(void *ctx)
{
	struct meta_thin_restorer *r = ctx;
	struct dev_rec *dv = &r->devs[r->ndevs];
	r->in = NONE;
	if (r->dry) {
		/* leaves packed full; each ref may end a partial leaf; each copy adds one */
		uint64_t lv;
		seg_note_end(r);
		lv = (r->own ? div_up(r->own, meta_btree_max_entries(8)) : 1) + r->ub_refs +
		     r->tree_copies;
		r->leaves_lb += r->own ? div_up(r->own, meta_btree_max_entries(8)) : 1;
		r->ub_nodes += lv + internal_ub(lv + r->ub_spliced, meta_btree_max_entries(8));
		r->ub_spliced = r->ub_refs = 0;
		r->ndevs++;
		return META_OK;
	}
	dv->root = bbuild_finish(&r->b);
	if (r->w.err)
		return tree_error(r);
	if (dv->d.mapped_blocks != r->mapped) {
		struct meta_damage dm;
		char detail[96];
		snprintf(detail, sizeof(detail), "device %" PRIu64 ": mapped_blocks %" PRIu64
			 " corrected to %" PRIu64, dv->d.dev_id, dv->d.mapped_blocks, r->mapped);
		dm = meta_damage_make(META_DMG_DEV_MAPPED_COUNT, UINT64_MAX, dv->d.dev_id, 0, 0, 0,
				      detail);
		dm.severity = META_SEV_INFO;
		if (r->o.note)
			r->o.note(r->o.note_ctx, &dm);
		dv->d.mapped_blocks = r->mapped;
	}
	r->ndevs++;
	return META_OK;
}

static uint64_t def_key(const void *ctx, uint32_t i)
{
	const struct meta_thin_restorer *r = ctx;
	return r->defs[i].hkey;
}

static struct def_rec *find_def(const struct meta_thin_restorer *r, const char *name)
{
	int64_t j = meta_hidx_find(&r->def_index, (uint32_t)meta_hash_str(name), def_key, r);
	for (uint64_t i = j < 0 ? 0 : (uint64_t)j + 1; i; i = r->defs[i - 1].hnext)
		if (!strcmp(r->defs[i - 1].name, name))
			return &r->defs[i - 1];
	return NULL;
}

/*
 * Index defs[ndefs] (the one just added): 4 bytes a slot, the key kept in the def;
 * a def whose hkey an indexed one has already is chained to that one.
 */
static int index_def(struct meta_thin_restorer *r)
{
	struct def_rec *df = &r->defs[r->ndefs];
	int64_t j;
	if (r->ndefs >= UINT32_MAX - 1)
		return META_E_NOMEM;
	df->hkey = (uint32_t)meta_hash_str(df->name);
	j = meta_hidx_find(&r->def_index, df->hkey, def_key, r);
	if (j >= 0) {
		df->hnext = r->defs[j].hnext;
		r->defs[j].hnext = (uint32_t)r->ndefs + 1;
		return META_OK;
	}
	if (meta_hidx_add(&r->def_index, (uint32_t)r->ndefs, def_key, r))
		return META_E_NOMEM;
	return META_OK;
}

static void free_def(struct def_rec *df)
{
	free(df->name);
	free(df->keys);
	free(df->leaves);
	free(df->runs);
	free(df->small);
	memset(df, 0, sizeof(*df));
}

static int r_begin_def(void *ctx, const char *name)
{
	struct meta_thin_restorer *r = ctx;
	struct def_rec *df;
	if (find_def(r, name))
		return fail(r, META_E_INVAL, "def '%s' is defined twice", name);
	if (meta_grow((void **)&r->defs, &r->capdefs, r->ndefs + 1, sizeof(*r->defs)))
		return fail(r, META_E_NOMEM, "out of memory");
	df = &r->defs[r->ndefs];
	memset(df, 0, sizeof(*df));
	df->name = strdup(name);
	if (!df->name)
		return fail(r, META_E_NOMEM, "out of memory");
	r->in = DEF;
	start_tree(r);
	return META_OK;
}

static int r_end_def(void *ctx)
{
	struct meta_thin_restorer *r = ctx;
	struct def_rec *df = &r->defs[r->ndefs];
	uint32_t max = meta_btree_max_entries(8);
	r->in = NONE; /* the builder is gone; df is not counted in ndefs until the end */
	df->copy = r->mapped && r->own == r->mapped && r->mapped < max / 3;
	if (r->dry) {
		if (!df->copy)
			r->leaves_lb += div_up(r->own, meta_btree_max_entries(8));
		seg_note_end(r);
		df->ub_leaves = div_up(r->own, meta_btree_max_entries(8)) + r->tree_copies;
		r->ub_nodes += df->ub_leaves;
		r->ub_def_leaves += df->ub_leaves;
	} else {
		if (df->copy && !r->w.err && !r->b.n && !r->b.prev_n && r->b.cur_n == r->mapped) {
			const uint8_t *k = r->b.cur + META_NODE_HEADER_SIZE;
			const uint8_t *v = k + 8u * r->b.max;
			df->small = malloc(r->mapped * sizeof(*df->small));
			if (!df->small) {
				free_def(df);
				bbuild_take_leaves(&r->b, &df->keys, &df->leaves, &df->n);
				free(df->keys);
				free(df->leaves);
				return fail(r, META_E_NOMEM, "out of memory");
			}
			for (uint32_t i = 0; i < r->b.cur_n; i++) {
				df->small[i][0] = get_le64p(k + 8u * i);
				df->small[i][1] = get_le64p(v + 8u * i);
			}
			r->b.cur_n = 0; /* no leaf of its own */
		} else
			df->copy = false;
		/* keep the leaves, not a tree: refs splice them into devices' trees */
		bbuild_take_leaves(&r->b, &df->keys, &df->leaves, &df->n);
		if (r->w.err) {
			free_def(df);
			return tree_error(r);
		}
		/* leaves are counted once per parent that refs them */
		for (uint64_t i = 0; i < df->n; i++)
			r->w.mcount[df->leaves[i]]--;
	}
	df->first_key = r->first_vb;
	df->last_key = r->last_vb;
	df->nr_mappings = r->mapped;
	if (index_def(r)) {
		free_def(df);
		return fail(r, META_E_NOMEM, "out of memory");
	}
	r->ndefs++;
	return META_OK;
}

static int r_ref(void *ctx, const char *name)
{
	struct meta_thin_restorer *r = ctx;
	struct def_rec *df = find_def(r, name);
	if (!df)
		return fail(r, META_E_INVAL, "Couldn't find sub tree '%s'.", name);
	if (!df->nr_mappings)
		return META_OK;
	if (r->any_vb && df->first_key <= r->last_vb)
		return fail(r, META_E_INVAL, "ref '%s' overlaps the mappings before it", name);
	if (!r->any_vb)
		r->first_vb = df->first_key;
	/* a def's data blocks are counted once, with its leaves' first parent */
	for (uint64_t i = 0; (!df->nr_refs || df->copy) && i < df->nruns; i++)
		for (uint64_t b = df->runs[i][0]; b < df->runs[i][0] + df->runs[i][1]; b++)
			if (meta_rc_inc(&r->dcount, b))
				return fail(r, META_E_NOMEM, "out of memory");
	df->nr_refs++;
	seg_note_ref(r, df);
	if (r->dry) {
		r->ub_spliced += df->ub_leaves;
		r->ub_refs++;
	} else {
		for (uint64_t i = 0; df->small && i < df->nr_mappings; i++) {
			uint8_t v[8];
			put_le64p(v, df->small[i][1]);
			bbuild_add(&r->b, df->small[i][0], v);
		}
		for (uint64_t i = 0; i < df->n; i++)
			bbuild_add_subtree(&r->b, df->keys[i], df->leaves[i]);
		if (r->w.err)
			return tree_error(r);
		r->b.last_key = df->last_key;
	}
	r->last_vb = df->last_key;
	r->any_vb = true;
	r->mapped += df->nr_mappings;
	return META_OK;
}

/* Remember a def's data run (merged with the previous one when they touch). */
static int def_add_run(struct def_rec *df, uint64_t db, uint64_t len)
{
	if (df->nruns && df->runs[df->nruns - 1][0] + df->runs[df->nruns - 1][1] == db) {
		df->runs[df->nruns - 1][1] += len;
		return 0;
	}
	if (df->nruns == df->capruns) {
		uint64_t cap = df->capruns ? df->capruns * 2 : 16;
		void *p = realloc(df->runs, cap * sizeof(*df->runs));
		if (!p)
			return -1;
		df->runs = p;
		df->capruns = cap;
	}
	df->runs[df->nruns][0] = db;
	df->runs[df->nruns][1] = len;
	df->nruns++;
	return 0;
}

/* Count the data blocks of a run: a <def>'s at its first <ref>, a device's now. */
static int count_run(struct meta_thin_restorer *r, uint64_t db, uint64_t len)
{
	if (r->in == DEF)
		return def_add_run(&r->defs[r->ndefs], db, len);
	for (uint64_t b = db; b < db + len; b++)
		if (meta_rc_inc(&r->dcount, b))
			return META_E_NOMEM;
	return META_OK;
}

static int add_run(struct meta_thin_restorer *r, uint64_t vb, uint64_t db, uint32_t time,
		   uint64_t len)
{
	if (r->in == NONE)
		return fail(r, META_E_INVAL, "Mapping tags must appear within a <def> or <device> tag.");
	if (time > 0xffffff)
		return fail(r, META_E_INVAL, "time %" PRIu32 " does not fit in 24 bits", time);
	if (r->nr_data == 0 && !r->o.set_nr_data_blocks)
		return fail(r, META_E_INVAL,
			    "mapping to data block %" PRIu64 " but nr_data_blocks is 0: the size of "
			    "the data device is not known (thin_dump -m writes 0 there); give it "
			    "with --nr-data-blocks (in data blocks)",
			    db + len - 1 < db ? db : db + len - 1);
	if (db + len > r->nr_data || db + len < db)
		return fail(r, META_E_INVAL,
			    "mapping to data block %" PRIu64 " is past the end of the data device "
			    "(nr_data_blocks %" PRIu64 ")",
			    db + len - 1 < db ? db : db + len - 1, r->nr_data);
	if (r->any_vb && vb <= r->last_vb)
		return fail(r, META_E_INVAL,
			    "mapping of virtual block %" PRIu64 " overlaps or comes before the previous "
			    "mapping (%" PRIu64 "); mappings must be in increasing order",
			    vb, r->last_vb);
	if (vb + len < vb)
		return fail(r, META_E_INVAL, "mapping of virtual block %" PRIu64 " runs past 2^64",
			    vb);
	if (!r->any_vb)
		r->first_vb = vb;
	/* a run longer than the whole output can hold fails before it is built or counted */
	if (div_up(len, meta_btree_max_entries(8)) > r->w.nr_blocks)
		return fail(r, META_E_NOSPC,
			    "the output is too small for this pool: the run of %" PRIu64
			    " mappings at virtual block %" PRIu64 " alone needs at least %" PRIu64
			    " blocks of 4 KiB, the output has %" PRIu64 " (%" PRIu64 " bytes)",
			    len, vb, div_up(len, meta_btree_max_entries(8)), r->w.nr_blocks,
			    r->w.nr_blocks * META_BLOCK_SIZE);
	if (r->dry) {
		/* counted as the restore counts them; the restore then reuses the counts */
		if (count_run(r, db, len))
			return fail(r, META_E_NOMEM, "out of memory");
	} else {
		bbuild_add_seq(&r->b, vb, len, db << 24 | time, (uint64_t)1 << 24);
		if (r->w.err)
			return tree_error(r);
		/* after a check pass every data block is counted already */
		if (!r->counted && count_run(r, db, len))
			return fail(r, META_E_NOMEM, "out of memory");
		if (r->w.err)
			return tree_error(r);
	}
	r->own += len;
	r->seg += len;
	r->mapped += len;
	r->last_vb = vb + len - 1;
	r->any_vb = true;
	return META_OK;
}

static int r_range(void *ctx, uint64_t ob, uint64_t db, uint32_t time, uint64_t len)
{
	return add_run(ctx, ob, db, time, len);
}

static int r_single(void *ctx, uint64_t ob, uint64_t db, uint32_t time)
{
	return add_run(ctx, ob, db, time, 1);
}

static const struct meta_thin_emitter_ops restorer_ops = {
	r_begin_sb, r_end_sb, r_begin_device, r_end_device, r_begin_def, r_end_def, r_ref, r_range,
	r_single,
};

struct meta_thin_emitter meta_thin_restorer_emitter(struct meta_thin_restorer *r)
{
	struct meta_thin_emitter e = {&restorer_ops, r};
	return e;
}

/* ---- commit ------------------------------------------------------------------ */

static int cmp_dev(const void *a, const void *b)
{
	const struct dev_rec *x = a, *y = b;
	return x->d.dev_id < y->d.dev_id ? -1 : x->d.dev_id > y->d.dev_id;
}

int meta_thin_restorer_commit(struct meta_thin_restorer *r)
{
	struct bbuild b;
	struct meta_thin_sb sb;
	struct meta_sm_root dsm, msm;
	uint64_t top, details;
	uint8_t *blk;
	int e;

	if (!r->have_sb || !r->ended)
		return fail(r, META_E_XML, "incomplete source metadata");
	if (r->ndevs)
		qsort(r->devs, r->ndevs, sizeof(*r->devs), cmp_dev);
	for (uint64_t i = 1; i < r->ndevs; i++)
		if (r->devs[i].d.dev_id == r->devs[i - 1].d.dev_id)
			return fail(r, META_E_INVAL, "device %" PRIu64 " appears twice",
				    r->devs[i].d.dev_id);
	bbuild_init(&b, &r->w, 8);
	for (uint64_t i = 0; i < r->ndevs; i++) {
		uint8_t v[8];
		put_le64p(v, r->devs[i].root);
		bbuild_add(&b, r->devs[i].d.dev_id, v);
	}
	top = bbuild_finish(&b);
	bbuild_init(&b, &r->w, META_THIN_DETAILS_VALUE_SIZE);
	for (uint64_t i = 0; i < r->ndevs; i++) {
		struct disk_device_details dd;
		dd.mapped_blocks = le64_of(r->devs[i].d.mapped_blocks);
		dd.transaction_id = le64_of(r->devs[i].d.transaction_id);
		dd.creation_time = le32_of(r->devs[i].d.creation_time);
		dd.snapshotted_time = le32_of(r->devs[i].d.snapshotted_time);
		bbuild_add(&b, r->devs[i].d.dev_id, &dd);
	}
	details = bbuild_finish(&b);
	if (r->w.err)
		return tree_error(r);
	e = count_credited(r);
	if (e == META_E_NOMEM)
		return fail(r, e, "out of memory");
	if (e)
		return r->w.err ? tree_error(r) : fail(r, e, "%s", meta_strerror(e));
	sm_write_disk(&r->w, &r->dcount, &dsm);
	sm_write_metadata(&r->w, &msm);
	if (r->w.err)
		return tree_error(r);
	e = bw_flush(&r->w);
	if (!e)
		e = meta_io_flush(r->io);
	if (e)
		return write_error(r, e);
	memset(&sb, 0, sizeof(sb));
	sb.flags = r->sb.flags & META_THIN_FLAG_NEEDS_CHECK;
	sb.magic = META_THIN_MAGIC;
	sb.version = META_THIN_VERSION;
	sb.time = r->sb.time;
	sb.trans_id = r->sb.transaction;
	sb.data_sm = dsm;
	sb.metadata_sm = msm;
	sb.data_mapping_root = top;
	sb.device_details_root = details;
	sb.data_block_size = r->sb.data_block_size;
	sb.metadata_block_size = META_BLOCK_SIZE / META_SECTOR_SIZE;
	sb.metadata_nr_blocks = r->w.nr_blocks;
	blk = aligned_alloc(META_BLOCK_SIZE, META_BLOCK_SIZE);
	if (!blk)
		return fail(r, META_E_NOMEM, "out of memory");
	meta_thin_sb_pack(&sb, blk);
	meta_thin_sb_validator.prepare(&meta_thin_sb_validator, blk, 0);
	e = meta_io_pwrite(r->io, blk, META_BLOCK_SIZE, 0);
	free(blk);
	if (!e)
		e = meta_io_flush(r->io);
	if (e)
		return write_error(r, e);
	r->committed = true;
	return META_OK;
}

/* ---- check pass -------------------------------------------------------------- */

/* Forget what a pass saw (devices, defs), keeping the output and the options. */
static void reset_pass(struct meta_thin_restorer *r)
{
	for (uint64_t i = 0; i < r->ndefs; i++)
		free_def(&r->defs[i]);
	free(r->defs);
	meta_hidx_free(&r->def_index);
	free(r->devs);
	free(r->seen);
	r->defs = NULL;
	r->devs = NULL;
	r->seen = NULL;
	r->ndefs = 0;
	r->capdefs = 0;
	r->ndevs = r->seen_cap = 0;
	r->capdevs = 0;
	r->have_sb = r->ended = false;
	r->in = NONE;
	r->msg[0] = 0;
}

int meta_thin_restorer_check_begin(struct meta_thin_restorer *r)
{
	if (r->zeroed || r->have_sb || r->in != NONE)
		return META_E_INVAL;
	r->dry = true;
	r->leaves_lb = 0;
	r->ub_nodes = r->ub_spliced = r->ub_refs = r->ub_def_leaves = r->ub_rc_entries = 0;
	return META_OK;
}

int meta_thin_restorer_check_end(struct meta_thin_restorer *r)
{
	int e;
	if (!r->dry)
		return META_E_INVAL;
	if (r->in == DEF)
		free_def(&r->defs[r->ndefs]);
	r->in = NONE;
	if (!r->have_sb || !r->ended)
		return fail(r, META_E_XML, "incomplete source metadata");
	e = check_room(r, r->leaves_lb);
	if (e)
		return e;
	/*
	 * Data blocks counted 3 times or more: the entries of the data ref-count
	 * tree.  The counts are kept: the restore does not count again.
	 */
	for (uint64_t b = 0; b < r->nr_data; b++)
		r->ub_rc_entries += r->dcount.c[b] >= 3;
	r->counted = true;
	r->need_lb = blocks_needed(r, r->nr_data, r->leaves_lb);
	/*
	 * The output is about to be overwritten: it must certainly be large enough,
	 * or a restore that runs out of room half-way would destroy what it holds.
	 */
	if (blocks_ub(r) > r->w.nr_blocks)
		return fail(r, META_E_NOSPC,
			    "the output may be too small for this pool: it needs between %" PRIu64
			    " and %" PRIu64 " blocks of 4 KiB, the output has %" PRIu64 " (%" PRIu64
			    " bytes); nothing was written, to keep what it holds (restore onto an "
			    "output of at least %" PRIu64 " bytes)",
			    r->need_lb, blocks_ub(r), r->w.nr_blocks, r->w.nr_blocks * META_BLOCK_SIZE,
			    blocks_ub(r) * META_BLOCK_SIZE);
	/*
	 * A sparse output file needs real space for every block written: reserve it
	 * now (fallocate allocates only the holes; nothing is written), so that a
	 * full filesystem is found before the first write, not half-way.
	 */
	if (!meta_io_is_blockdev(r->io)) {
		int fd = open(meta_io_path(r->io), O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			int fe = fallocate(fd, 0, 0, (off_t)(blocks_ub(r) * META_BLOCK_SIZE)) ? errno : 0;
			close(fd);
			if (fe == ENOSPC)
				return fail(r, META_E_NOSPC,
					    "the filesystem holding the output file has no room for the "
					    "%" PRIu64 " bytes this pool may need (the file is sparse); nothing "
					    "was written, to keep what it holds: free space there",
					    blocks_ub(r) * META_BLOCK_SIZE);
		}
	}
	reset_pass(r);
	r->dry = false;
	return META_OK;
}

bool meta_thin_restorer_touched(const struct meta_thin_restorer *r)
{
	return r->zeroed;
}

void meta_thin_restorer_destroy(struct meta_thin_restorer *r)
{
	if (!r)
		return;
	if (r->in != NONE) {
		/* abandoned mid-tree: free the builder without writing its pending leaves */
		if (!r->w.err)
			r->w.err = META_E_INTERRUPTED;
		if (!r->dry)
			bbuild_finish(&r->b);
		/* a def stopped half-way is not counted in ndefs yet: only its name */
		if (r->in == DEF)
			free_def(&r->defs[r->ndefs]);
	}
	reset_pass(r);
	meta_rc_free(&r->dcount);
	free(r->copied);
	free(r->credit);
	bw_free(&r->w);
	meta_io_close(r->io);
	free(r);
}

/* SPDX-License-Identifier: GPL-2.0-only */
/* Thin-pool metadata: superblock and tree access (format in include/libmeta/thin.h). */
#include <libmeta/btree.h>
#include <libmeta/error.h>
#include <libmeta/thin.h>

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "thin/thin_ondisk.h"

/* Superblock validator: checksum, location, then the magic. */
static int sb_check(const struct meta_validator *v, const void *data, uint64_t b)
{
	const struct disk_thin_sb *d = data;
	int r = meta_block_check(v, data, b, offsetof(struct disk_thin_sb, blocknr));
	if (r)
		return r;
	if (le64_get(d->magic) != META_THIN_MAGIC)
		return META_E_BADMAGIC;
	return META_OK;
}

static void sb_prepare(const struct meta_validator *v, void *data, uint64_t b)
{
	meta_block_prepare(v, data, b, offsetof(struct disk_thin_sb, blocknr));
}

const struct meta_validator meta_thin_sb_validator = {"superblock", DISK_THIN_SB_CSUM_XOR, sb_check,
						      sb_prepare};

struct meta_thin {
	struct meta_bm *bm;
	struct meta_thin_sb live, snap;
	int use_snap;
	int live_verdict; /* the validator's, with OPEN_NO_SB_CHECK */
	uint64_t mapping_root, details_root;
};

static void sm_root_unpack(const uint8_t *p, struct meta_sm_root *r)
{
	const struct disk_sm_root *d = (const struct disk_sm_root *)p;
	r->nr_blocks = le64_get(d->nr_blocks);
	r->nr_allocated = le64_get(d->nr_allocated);
	r->bitmap_root = le64_get(d->bitmap_root);
	r->ref_count_root = le64_get(d->ref_count_root);
}

static void sm_root_pack(const struct meta_sm_root *r, uint8_t *p)
{
	struct disk_sm_root *d = (struct disk_sm_root *)p;
	d->nr_blocks = le64_of(r->nr_blocks);
	d->nr_allocated = le64_of(r->nr_allocated);
	d->bitmap_root = le64_of(r->bitmap_root);
	d->ref_count_root = le64_of(r->ref_count_root);
}

void meta_thin_sb_unpack(const void *block, struct meta_thin_sb *sb)
{
	const struct disk_thin_sb *d = block;
	sb->csum = le32_get(d->csum);
	sb->flags = le32_get(d->flags);
	sb->blocknr = le64_get(d->blocknr);
	memcpy(sb->uuid, d->uuid, 16);
	sb->magic = le64_get(d->magic);
	sb->version = le32_get(d->version);
	sb->time = le32_get(d->time);
	sb->trans_id = le64_get(d->trans_id);
	sb->held_root = le64_get(d->held_root);
	sm_root_unpack(d->data_space_map_root, &sb->data_sm);
	sm_root_unpack(d->metadata_space_map_root, &sb->metadata_sm);
	sb->data_mapping_root = le64_get(d->data_mapping_root);
	sb->device_details_root = le64_get(d->device_details_root);
	sb->data_block_size = le32_get(d->data_block_size);
	sb->metadata_block_size = le32_get(d->metadata_block_size);
	sb->metadata_nr_blocks = le64_get(d->metadata_nr_blocks);
	sb->compat_flags = le32_get(d->compat_flags);
	sb->compat_ro_flags = le32_get(d->compat_ro_flags);
	sb->incompat_flags = le32_get(d->incompat_flags);
}

void meta_thin_sb_pack(const struct meta_thin_sb *sb, void *block)
{
	struct disk_thin_sb *d = block;
	memset(block, 0, META_BLOCK_SIZE);
	d->csum = le32_of(sb->csum);
	d->flags = le32_of(sb->flags);
	d->blocknr = le64_of(sb->blocknr);
	memcpy(d->uuid, sb->uuid, 16);
	d->magic = le64_of(sb->magic);
	d->version = le32_of(sb->version);
	d->time = le32_of(sb->time);
	d->trans_id = le64_of(sb->trans_id);
	d->held_root = le64_of(sb->held_root);
	sm_root_pack(&sb->data_sm, d->data_space_map_root);
	sm_root_pack(&sb->metadata_sm, d->metadata_space_map_root);
	d->data_mapping_root = le64_of(sb->data_mapping_root);
	d->device_details_root = le64_of(sb->device_details_root);
	d->data_block_size = le32_of(sb->data_block_size);
	d->metadata_block_size = le32_of(sb->metadata_block_size);
	d->metadata_nr_blocks = le64_of(sb->metadata_nr_blocks);
	d->compat_flags = le32_of(sb->compat_flags);
	d->compat_ro_flags = le32_of(sb->compat_ro_flags);
	d->incompat_flags = le32_of(sb->incompat_flags);
}

static void sb_report(meta_damage_fn fn, void *ctx, enum meta_damage_kind k, uint64_t b,
		      const char *detail, int *worst)
{
	int sev = meta_report(fn, ctx, k, b, 0, 0, 0, detail);
	if (sev > *worst)
		*worst = sev;
}

int meta_thin_sb_check(const struct meta_thin_sb *sb, uint64_t dev_blocks, meta_damage_fn fn,
		       void *ctx)
{
	int worst = -1;
	uint64_t b = sb->blocknr;
	if (sb->magic != META_THIN_MAGIC)
		sb_report(fn, ctx, META_DMG_SB_MAGIC, b, NULL, &worst);
	if (sb->version < 1 || sb->version > META_THIN_VERSION)
		sb_report(fn, ctx, META_DMG_SB_VERSION, b, NULL, &worst);
	if (sb->incompat_flags)
		sb_report(fn, ctx, META_DMG_SB_FEATURE, b, "incompat_flags", &worst);
	if (sb->data_block_size < META_THIN_MIN_DATA_BLOCK_SIZE ||
	    sb->data_block_size > META_THIN_MAX_DATA_BLOCK_SIZE ||
	    sb->data_block_size % META_THIN_MIN_DATA_BLOCK_SIZE)
		sb_report(fn, ctx, META_DMG_SB_FIELD, b,
			  "data_block_size must be a multiple of 128 sectors between 128 and 2097152",
			  &worst);
	if (sb->metadata_block_size != META_BLOCK_SIZE / META_SECTOR_SIZE)
		sb_report(fn, ctx, META_DMG_SB_FIELD, b, "metadata_block_size is not 8 sectors",
			  &worst);
	if (sb->metadata_sm.nr_blocks > dev_blocks)
		sb_report(fn, ctx, META_DMG_SB_FIELD, b,
			  "metadata space map is larger than the metadata device", &worst);
	if (sb->metadata_sm.nr_blocks > META_SM_METADATA_MAX_BLOCKS)
		sb_report(fn, ctx, META_DMG_SB_FIELD, b,
			  "metadata space map larger than the format allows", &worst);
	if (sb->metadata_sm.nr_allocated > sb->metadata_sm.nr_blocks)
		sb_report(fn, ctx, META_DMG_SB_FIELD, b, "metadata nr_allocated > nr_blocks", &worst);
	if (sb->data_sm.nr_allocated > sb->data_sm.nr_blocks)
		sb_report(fn, ctx, META_DMG_SB_FIELD, b, "data nr_allocated > nr_blocks", &worst);
	if (sb->data_sm.nr_blocks > META_THIN_MAX_DATA_BLOCK + 1)
		sb_report(fn, ctx, META_DMG_SB_FIELD, b, "data device larger than 2^40 blocks", &worst);
	if (sb->flags & META_THIN_FLAG_NEEDS_CHECK)
		sb_report(fn, ctx, META_DMG_SB_NEEDS_CHECK, b, NULL, &worst);
	return worst;
}

static int read_sb(struct meta_bm *bm, uint64_t b, int strict, struct meta_thin_sb *sb)
{
	const void *data;
	int r = meta_bm_get(bm, b, strict ? &meta_thin_sb_validator : NULL, &data);
	if (r)
		return r;
	meta_thin_sb_unpack(data, sb);
	meta_bm_put(bm, data);
	if (!strict)
		return META_OK;
	if (sb->version < 1 || sb->version > META_THIN_VERSION)
		return META_E_VERSION;
	if (sb->incompat_flags)
		return META_E_FEATURE;
	return META_OK;
}

int meta_thin_open(const char *path, const struct meta_thin_open_opts *o, struct meta_thin **out)
{
	return meta_thin_open_ex(path, o, out, NULL);
}

int meta_thin_open_ex(const char *path, const struct meta_thin_open_opts *o, struct meta_thin **out,
		      struct meta_thin_open_failure *why)
{
	static const struct meta_thin_open_opts defaults;
	struct meta_thin_open_failure fail = {false, 0, 0};
	struct meta_io *io;
	struct meta_thin *t;
	unsigned ioflags = 0;
	int r, strict;

	*out = NULL;
	if (why)
		*why = fail;
	if (!o)
		o = &defaults;
	strict = !(o->flags & META_THIN_OPEN_NO_SB_CHECK);
	if (o->flags & META_THIN_OPEN_WRITE)
		ioflags |= META_IO_WRITE;
	if (o->flags & META_THIN_OPEN_EXCL)
		ioflags |= META_IO_EXCL;
	r = meta_io_open_input(path, ioflags, META_BLOCK_SIZE, &io);
	if (r)
		return r;
	t = calloc(1, sizeof(*t));
	if (!t) {
		meta_io_close(io);
		return META_E_NOMEM;
	}
	r = meta_bm_create(io, o->cache_blocks, &t->bm);
	if (r) {
		meta_io_close(io);
		free(t);
		return r;
	}
	r = read_sb(t->bm, 0, strict, &t->live);
	if (r)
		goto fail;
	if (!strict) {
		const void *data;
		t->live_verdict = meta_bm_get(t->bm, 0, &meta_thin_sb_validator, &data);
		if (!t->live_verdict)
			meta_bm_put(t->bm, data);
	}
	fail.held_root = t->live.held_root;
	t->snap = t->live;
	if (o->flags & META_THIN_OPEN_METADATA_SNAP) {
		uint64_t sb_block = o->metadata_snap_block ? o->metadata_snap_block : t->live.held_root;
		if (!sb_block) {
			r = META_E_NOSNAP;
			goto fail;
		}
		fail.snap = true;
		fail.block = sb_block;
		r = read_sb(t->bm, sb_block, 1, &t->snap);
		if (r)
			goto fail;
		t->use_snap = 1;
	}
	t->mapping_root = o->override_mapping_root ? o->override_mapping_root
						   : meta_thin_sb(t)->data_mapping_root;
	t->details_root = o->override_details_root ? o->override_details_root
						   : meta_thin_sb(t)->device_details_root;
	*out = t;
	return META_OK;
fail:
	if (why)
		*why = fail;
	meta_thin_close(t);
	return r;
}

void meta_thin_close(struct meta_thin *t)
{
	if (!t)
		return;
	meta_bm_destroy(t->bm);
	free(t);
}

struct meta_bm *meta_thin_bm(struct meta_thin *t) { return t->bm; }
const struct meta_thin_sb *meta_thin_live_sb(const struct meta_thin *t) { return &t->live; }
const struct meta_thin_sb *meta_thin_sb(const struct meta_thin *t)
{
	return t->use_snap ? &t->snap : &t->live;
}
uint64_t meta_thin_mapping_root(const struct meta_thin *t) { return t->mapping_root; }
uint64_t meta_thin_details_root(const struct meta_thin *t) { return t->details_root; }
uint64_t meta_thin_nr_data_blocks(const struct meta_thin *t) { return t->live.data_sm.nr_blocks; }
uint64_t meta_thin_nr_metadata_blocks(const struct meta_thin *t) { return meta_bm_nr_blocks(t->bm); }
int meta_thin_live_sb_verdict(const struct meta_thin *t) { return t->live_verdict; }

int meta_thin_dev_root(struct meta_thin *t, uint64_t dev_id, uint64_t *root)
{
	uint8_t v[8];
	int r = meta_btree_lookup(t->bm, t->mapping_root, dev_id, v, sizeof(v));
	*root = r ? 0 : get_le64p(v);
	return r;
}

/* growable array of fixed-size records */
struct vec {
	void *p;
	size_t n, cap, size;
	int nomem;
};

static void *vec_push(struct vec *v)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		void *p = realloc(v->p, cap * v->size);
		if (!p) {
			v->nomem = 1;
			return NULL;
		}
		v->p = p;
		v->cap = cap;
	}
	return (uint8_t *)v->p + v->size * v->n++;
}

static int details_leaf(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	struct vec *v = ctx;
	for (uint32_t i = 0; i < ni->nr_entries; i++) {
		const struct disk_device_details *dd = meta_node_value(node, i);
		struct meta_thin_details *d = vec_push(v);
		if (!d)
			return META_E_NOMEM;
		d->dev_id = meta_node_key(node, i);
		d->mapped_blocks = le64_get(dd->mapped_blocks);
		d->transaction_id = le64_get(dd->transaction_id);
		d->creation_time = le32_get(dd->creation_time);
		d->snapshotted_time = le32_get(dd->snapshotted_time);
	}
	return 0;
}

struct walk_ctx {
	void *inner;
	meta_damage_fn dfn;
	void *dctx;
};

static void fwd_damage(void *ctx, const struct meta_damage *d)
{
	struct walk_ctx *w = ctx;
	if (w->dfn)
		w->dfn(w->dctx, d);
}

static int details_leaf_w(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	return details_leaf(((struct walk_ctx *)ctx)->inner, b, node, ni);
}

int meta_thin_read_details(struct meta_thin *t, struct meta_thin_details **out, uint64_t *n,
			   meta_damage_fn fn, void *ctx)
{
	struct vec v = {NULL, 0, 0, sizeof(struct meta_thin_details), 0};
	struct walk_ctx w = {&v, fn, ctx};
	struct meta_btree_walk_ops ops = {details_leaf_w, fwd_damage};
	int r = meta_btree_walk(t->bm, t->details_root, META_THIN_DETAILS_VALUE_SIZE, &ops, &w);
	if (r || v.nomem) {
		free(v.p);
		*out = NULL;
		*n = 0;
		return r ? r : META_E_NOMEM;
	}
	*out = v.p;
	*n = v.n;
	return META_OK;
}

static int roots_leaf_w(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	struct vec *v = ((struct walk_ctx *)ctx)->inner;
	for (uint32_t i = 0; i < ni->nr_entries; i++) {
		struct meta_thin_dev_root *d = vec_push(v);
		if (!d)
			return META_E_NOMEM;
		d->dev_id = meta_node_key(node, i);
		d->root = meta_node_value64(node, i);
	}
	return 0;
}

int meta_thin_read_dev_roots(struct meta_thin *t, struct meta_thin_dev_root **out, uint64_t *n,
			     meta_damage_fn fn, void *ctx)
{
	struct vec v = {NULL, 0, 0, sizeof(struct meta_thin_dev_root), 0};
	struct walk_ctx w = {&v, fn, ctx};
	struct meta_btree_walk_ops ops = {roots_leaf_w, fwd_damage};
	int r = meta_btree_walk(t->bm, t->mapping_root, 8, &ops, &w);
	if (r || v.nomem) {
		free(v.p);
		*out = NULL;
		*n = 0;
		return r ? r : META_E_NOMEM;
	}
	*out = v.p;
	*n = v.n;
	return META_OK;
}

struct map_ctx {
	meta_thin_map_fn fn;
	void *ctx;
	meta_damage_fn dfn;
	struct meta_thin_mapping buf[META_BLOCK_SIZE / 8];
};

static int map_leaf(void *ctx, uint64_t b, const void *node, const struct meta_node_info *ni)
{
	struct map_ctx *m = ctx;
	for (uint32_t i = 0; i < ni->nr_entries; i++) {
		uint64_t v = meta_node_value64(node, i);
		m->buf[i].vblock = meta_node_key(node, i);
		m->buf[i].data_block = disk_thin_map_block(v);
		m->buf[i].time = disk_thin_map_time(v);
	}
	return ni->nr_entries ? m->fn(m->ctx, m->buf, ni->nr_entries) : 0;
}

static void map_damage(void *ctx, const struct meta_damage *d)
{
	struct map_ctx *m = ctx;
	if (m->dfn)
		m->dfn(m->ctx, d);
}

int meta_thin_walk_mappings(struct meta_thin *t, uint64_t root, meta_thin_map_fn fn,
			    meta_damage_fn dfn, void *ctx)
{
	struct map_ctx *m = malloc(sizeof(*m));
	struct meta_btree_walk_ops ops = {map_leaf, map_damage};
	int r;
	if (!m)
		return META_E_NOMEM;
	m->fn = fn;
	m->ctx = ctx;
	m->dfn = dfn;
	r = meta_btree_walk(t->bm, root, 8, &ops, m);
	free(m);
	return r;
}

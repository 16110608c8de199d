/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The offline thin-pool engine (include/libmeta/thin_pool.h): the metadata side of
 * the kernel's pool messages, through the transaction manager.
 *
 * The trees, as the kernel keeps them:
 *   details    dev_id -> struct disk_device_details (24 bytes, plain values)
 *   top level  dev_id -> root of the device's mapping tree (a subtree: inc through
 *              the tm, dec by dropping the subtree)
 *   bottom     virtual block -> data block << 24 | time (a data block: inc/dec in
 *              the data space map)
 * Device details are written into their tree as they change (the kernel keeps
 * them in memory until the commit; with a commit after every message the two
 * leave the same metadata).
 */
#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/thin_pool.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"
#include "pdata/btree_write.h"
#include "pdata/sm_tx.h"
#include "pdata/tm.h"
#include "thin/thin_ondisk.h"
#include "thin/thin_pool_internal.h"


/* ---- value types -------------------------------------------------------------- */

static int data_inc(void *ctx, const void *v)
{
	struct meta_thin_pool *p = ctx;
	return meta_sm_tx_inc(p->dsm, disk_thin_map_block(get_le64p(v)));
}

static int data_dec(void *ctx, const void *v)
{
	struct meta_thin_pool *p = ctx;
	return meta_sm_tx_dec(p->dsm, disk_thin_map_block(get_le64p(v)));
}

static int subtree_inc(void *ctx, const void *v)
{
	struct meta_thin_pool *p = ctx;
	return meta_tm_inc(p->tm, get_le64p(v));
}

static int subtree_dec(void *ctx, const void *v)
{
	struct meta_thin_pool *p = ctx;
	return meta_btree_tx_del(&p->bottom, get_le64p(v));
}

static void infos_init(struct meta_thin_pool *p)
{
	struct meta_btree_vtype plain = {sizeof(struct disk_device_details), NULL, NULL, NULL, NULL};
	struct meta_btree_vtype data = {8, p, data_inc, data_dec, NULL};
	struct meta_btree_vtype subtree = {8, p, subtree_inc, subtree_dec, NULL};
	p->details = (struct meta_btree_info){p->tm, 1, plain};
	p->top = (struct meta_btree_info){p->tm, 1, subtree};
	p->bottom = (struct meta_btree_info){p->tm, 1, data};
	p->both = (struct meta_btree_info){p->tm, 2, data};
}

/* ---- details -------------------------------------------------------------------- */

static void details_pack(const struct meta_thin_details *d, struct disk_device_details *v)
{
	v->mapped_blocks = le64_of(d->mapped_blocks);
	v->transaction_id = le64_of(d->transaction_id);
	v->creation_time = le32_of(d->creation_time);
	v->snapshotted_time = le32_of(d->snapshotted_time);
}

static void details_unpack(const struct disk_device_details *v, uint64_t dev,
			   struct meta_thin_details *d)
{
	d->dev_id = dev;
	d->mapped_blocks = le64_get(v->mapped_blocks);
	d->transaction_id = le64_get(v->transaction_id);
	d->creation_time = le32_get(v->creation_time);
	d->snapshotted_time = le32_get(v->snapshotted_time);
}

/* 0, META_E_NOTFOUND, or an error reading the tree. */
int meta_thin_pool_details_get(struct meta_thin_pool *p, uint64_t dev, struct meta_thin_details *d)
{
	struct disk_device_details v;
	int r = meta_btree_tx_lookup(&p->details, p->sb.device_details_root, &dev, &v);
	if (!r)
		details_unpack(&v, dev, d);
	return r;
}

int meta_thin_pool_details_put(struct meta_thin_pool *p, const struct meta_thin_details *d)
{
	struct disk_device_details v;
	details_pack(d, &v);
	return meta_btree_tx_insert(&p->details, p->sb.device_details_root, &d->dev_id, &v,
				    &p->sb.device_details_root, NULL);
}

/* ---- open, format, commit -------------------------------------------------------- */

/* An error in the middle of a change: the transaction can only be abandoned. */
int meta_thin_pool_fail(struct meta_thin_pool *p, int r)
{
	if (r)
		p->failed = r;
	return r;
}

/* Whether the superblock can change (any pool not failed). */
static int sb_usable(const struct meta_thin_pool *p)
{
	return p->failed ? META_E_INVAL : 0;
}

/* Whether the trees and space maps can change (not a SUPERBLOCK_ONLY pool). */
int meta_thin_pool_usable(const struct meta_thin_pool *p)
{
	return p->failed || p->sb_only ? META_E_INVAL : 0;
}

int meta_thin_pool_commit(struct meta_thin_pool *p)
{
	struct meta_sm_root droot = p->sb.data_sm, mroot = p->sb.metadata_sm;
	uint8_t *buf;
	int r = sb_usable(p);
	if (r)
		return r;
	if (p->io && (r = meta_thin_io_pre_commit(p)) != 0)
		return meta_thin_pool_fail(p, r);
	buf = malloc(META_BLOCK_SIZE);
	if (!buf)
		return META_E_NOMEM;
	if (!p->sb_only)
		r = meta_sm_tx_commit(p->dsm, p->tm, &droot);
	if (!r && !p->sb_only)
		r = meta_sm_tx_commit(p->msm, p->tm, &mroot);
	if (!r) {
		p->sb.data_sm = droot;
		p->sb.metadata_sm = mroot;
		p->sb.blocknr = 0;
		meta_thin_sb_pack(&p->sb, buf);
		r = meta_tm_pre_commit(p->tm);
	}
	if (!r)
		r = meta_tm_commit(p->tm, 0, &meta_thin_sb_validator, buf);
	free(buf);
	if (r)
		return meta_thin_pool_fail(p, r);
	if (!p->sb_only) {
		meta_sm_tx_committed(p->dsm);
		meta_sm_tx_committed(p->msm);
	}
	if (p->io)
		meta_thin_io_committed(p);
	return 0;
}

/* The space of a SUPERBLOCK_ONLY pool: no block is made, shadowed or counted. */
static int no_alloc(void *ctx, uint64_t *b)
{
	(void)ctx;
	(void)b;
	return META_E_INVAL;
}

static int no_ref(void *ctx, uint64_t b)
{
	(void)ctx;
	(void)b;
	return META_E_INVAL;
}

static int no_count(void *ctx, uint64_t b, uint32_t *count)
{
	(void)ctx;
	(void)b;
	(void)count;
	return META_E_INVAL;
}

static int start(struct meta_thin_pool *p)
{
	int r;
	p->space = meta_sm_tx_space(p->msm);
	r = meta_tm_create(p->bm, &p->space, &p->tm);
	if (!r)
		infos_init(p);
	return r;
}

static int format(struct meta_thin_pool *p, const struct meta_thin_pool_opts *o)
{
	uint64_t nr_meta = p->dev_blocks;
	int r;
	if (o->data_block_size < META_THIN_MIN_DATA_BLOCK_SIZE ||
	    o->data_block_size > META_THIN_MAX_DATA_BLOCK_SIZE ||
	    o->data_block_size % META_THIN_MIN_DATA_BLOCK_SIZE || !o->nr_data_blocks ||
	    o->nr_data_blocks > META_THIN_MAX_DATA_BLOCK + 1)
		return META_E_INVAL;
	if (nr_meta > META_SM_METADATA_MAX_BLOCKS)
		nr_meta = META_SM_METADATA_MAX_BLOCKS;
	r = meta_sm_tx_create(p->bm, META_SM_METADATA, nr_meta, 1, &p->msm);
	if (!r)
		r = meta_sm_tx_create(p->bm, META_SM_DISK, o->nr_data_blocks, 0, &p->dsm);
	if (!r)
		r = start(p);
	if (r)
		return r;
	memset(&p->sb, 0, sizeof(p->sb));
	p->sb.magic = META_THIN_MAGIC;
	p->sb.version = META_THIN_VERSION;
	p->sb.data_block_size = o->data_block_size;
	p->sb.metadata_block_size = META_BLOCK_SIZE / META_SECTOR_SIZE;
	p->sb.metadata_nr_blocks = nr_meta;
	r = meta_btree_tx_empty(&p->top, &p->sb.data_mapping_root);
	if (!r)
		r = meta_btree_tx_empty(&p->details, &p->sb.device_details_root);
	if (!r)
		r = meta_thin_pool_commit(p);
	return r;
}

static bool all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Open the committed pool: superblock, both space maps, growth as at activation. */
static int load(struct meta_thin_pool *p, const struct meta_thin_pool_opts *o)
{
	const void *data;
	uint64_t nr;
	bool grew = false;
	int r = meta_bm_get(p->bm, 0, &meta_thin_sb_validator, &data);
	if (r)
		return r;
	meta_thin_sb_unpack(data, &p->sb);
	meta_bm_put(p->bm, data);
	if (p->sb.version < 1 || p->sb.version > META_THIN_VERSION)
		return META_E_VERSION;
	if (p->sb.incompat_flags)
		return META_E_FEATURE;
	if ((p->sb.flags & META_THIN_FLAG_NEEDS_CHECK) && !(o->flags & META_THIN_POOL_NEEDS_CHECK_OK))
		return META_E_NEEDS_CHECK;
	if (o->flags & META_THIN_POOL_SUPERBLOCK_ONLY) {
		p->sb_only = true;
		p->space = (struct meta_tm_space){p, no_alloc, no_ref, no_ref, no_count};
		return meta_tm_create(p->bm, &p->space, &p->tm);
	}
	/* the kernel: "changing the data block size ... is not supported" */
	if (o->data_block_size && o->data_block_size != p->sb.data_block_size)
		return META_E_BLOCK_SIZE;
	r = meta_sm_tx_open(p->bm, META_SM_METADATA, &p->sb.metadata_sm, &p->msm);
	if (!r)
		r = meta_sm_tx_open(p->bm, META_SM_DISK, &p->sb.data_sm, &p->dsm);
	if (!r)
		r = start(p);
	if (r)
		return r;
	nr = p->dev_blocks < META_SM_METADATA_MAX_BLOCKS ? p->dev_blocks : META_SM_METADATA_MAX_BLOCKS;
	if (nr < meta_sm_tx_nr_blocks(p->msm))
		return META_E_TOOSMALL; /* the kernel refuses a metadata device that shrank */
	if (o->flags & META_THIN_POOL_KEEP_SIZE)
		return 0;
	if (nr > meta_sm_tx_nr_blocks(p->msm)) {
		r = meta_thin_pool_resize_metadata(p, nr);
		grew = true;
	}
	if (!r && o->nr_data_blocks && o->nr_data_blocks != meta_sm_tx_nr_blocks(p->dsm)) {
		r = meta_thin_pool_resize_data(p, o->nr_data_blocks);
		grew = true;
	}
	if (!r && grew)
		r = meta_thin_pool_commit(p);
	return r;
}

void meta_thin_pool_close(struct meta_thin_pool *p)
{
	if (!p)
		return;
	meta_thin_io_free(p->io);
	meta_tm_destroy(p->tm);
	meta_sm_tx_close(p->msm);
	meta_sm_tx_close(p->dsm);
	meta_bm_destroy(p->bm); /* and its io */
	free(p);
}

int meta_thin_pool_open(const char *path, const struct meta_thin_pool_opts *o,
			struct meta_thin_pool **out, bool *formatted)
{
	static const struct meta_thin_pool_opts defaults;
	struct meta_thin_pool *p;
	struct meta_io *io;
	const void *data;
	bool zero;
	int r;

	*out = NULL;
	if (formatted)
		*formatted = false;
	if (!o)
		o = &defaults;
	r = meta_io_open_input(path, META_IO_WRITE | META_IO_EXCL, META_BLOCK_SIZE, &io);
	if (r)
		return r;
	p = calloc(1, sizeof(*p));
	if (!p) {
		meta_io_close(io);
		return META_E_NOMEM;
	}
	p->dev_blocks = meta_io_size(io) / META_BLOCK_SIZE;
	r = meta_bm_create(io, o->cache_blocks, &p->bm);
	if (r) {
		meta_io_close(io);
		free(p);
		return r;
	}
	r = meta_bm_get(p->bm, 0, NULL, &data);
	if (r)
		goto out;
	zero = all_zero(data, META_BLOCK_SIZE);
	meta_bm_put(p->bm, data);
	if ((zero && (o->flags & META_THIN_POOL_FORMAT)) || (o->flags & META_THIN_POOL_FORCE_FORMAT)) {
		r = format(p, o);
		if (!r && formatted)
			*formatted = true;
	} else {
		r = zero ? META_E_BLANK : load(p, o);
	}
out:
	if (r) {
		meta_thin_pool_close(p);
		return r;
	}
	*out = p;
	return 0;
}

/* ---- operations ------------------------------------------------------------------- */

static int check_dev(uint64_t dev)
{
	return dev > META_THIN_MAX_DEV_ID ? META_E_RANGE : 0;
}

/* 0 when dev is free; META_E_DEV_EXISTS; or an error reading. */
static int dev_free(struct meta_thin_pool *p, uint64_t dev)
{
	struct meta_thin_details d;
	int r = meta_thin_pool_details_get(p, dev, &d);
	if (r == META_E_NOTFOUND)
		return 0;
	return r ? meta_thin_pool_fail(p, r) : META_E_DEV_EXISTS;
}

int meta_thin_pool_create_thin(struct meta_thin_pool *p, uint64_t dev)
{
	struct meta_thin_details d;
	uint64_t root;
	uint8_t v[8];
	int r = meta_thin_pool_usable(p);
	if (!r)
		r = check_dev(dev);
	if (!r)
		r = dev_free(p, dev);
	if (r)
		return r;
	/* the new tree's one reference goes to the top-level tree */
	r = meta_btree_tx_empty(&p->bottom, &root);
	if (!r) {
		put_le64p(v, root);
		r = meta_btree_tx_insert(&p->top, p->sb.data_mapping_root, &dev, v,
					 &p->sb.data_mapping_root, NULL);
	}
	if (r)
		return meta_thin_pool_fail(p, r);
	d.dev_id = dev;
	d.mapped_blocks = 0;
	d.transaction_id = p->sb.trans_id;
	d.creation_time = d.snapshotted_time = p->sb.time;
	return meta_thin_pool_fail(p, meta_thin_pool_details_put(p, &d));
}

int meta_thin_pool_create_snap(struct meta_thin_pool *p, uint64_t dev, uint64_t origin)
{
	struct meta_thin_details od, d;
	uint8_t v[8];
	int r = meta_thin_pool_usable(p);
	if (!r)
		r = check_dev(dev);
	if (!r)
		r = check_dev(origin);
	if (!r)
		r = dev_free(p, dev);
	if (r)
		return r;
	r = meta_btree_tx_lookup(&p->top, p->sb.data_mapping_root, &origin, v);
	if (r)
		return r == META_E_NOTFOUND ? r : meta_thin_pool_fail(p, r);
	r = meta_thin_pool_details_get(p, origin, &od);
	if (r)
		return r == META_E_NOTFOUND ? META_E_CORRUPT : meta_thin_pool_fail(p, r);
	/* the snapshot shares the origin's tree: one more reference on its root */
	r = meta_tm_inc(p->tm, get_le64p(v));
	if (!r)
		r = meta_btree_tx_insert(&p->top, p->sb.data_mapping_root, &dev, v,
					 &p->sb.data_mapping_root, NULL);
	if (r)
		return meta_thin_pool_fail(p, r);
	p->sb.time++;
	od.snapshotted_time = p->sb.time;
	d.dev_id = dev;
	d.mapped_blocks = od.mapped_blocks;
	d.transaction_id = p->sb.trans_id;
	d.creation_time = d.snapshotted_time = p->sb.time;
	r = meta_thin_pool_details_put(p, &od);
	if (!r)
		r = meta_thin_pool_details_put(p, &d);
	return meta_thin_pool_fail(p, r);
}

int meta_thin_pool_delete(struct meta_thin_pool *p, uint64_t dev)
{
	struct meta_thin_details d;
	int r = meta_thin_pool_usable(p);
	if (!r)
		r = check_dev(dev);
	if (!r)
		r = meta_thin_pool_details_get(p, dev, &d);
	if (r)
		return r == META_E_NOTFOUND ? r : meta_thin_pool_fail(p, r);
	r = meta_btree_tx_remove(&p->details, p->sb.device_details_root, &dev,
				 &p->sb.device_details_root);
	if (!r)
		r = meta_btree_tx_remove(&p->top, p->sb.data_mapping_root, &dev,
					 &p->sb.data_mapping_root);
	return meta_thin_pool_fail(p, r);
}

int meta_thin_pool_set_transaction_id(struct meta_thin_pool *p, uint64_t old_id, uint64_t new_id)
{
	int r = meta_thin_pool_usable(p);
	if (r)
		return r;
	if (old_id != p->sb.trans_id)
		return META_E_TRANS_ID;
	p->sb.trans_id = new_id;
	return 0;
}

int meta_thin_pool_reserve_metadata_snap(struct meta_thin_pool *p)
{
	struct disk_thin_sb *copy;
	uint64_t held;
	bool inc_children;
	void *data;
	int r = meta_thin_pool_usable(p);
	if (r)
		return r;
	if (p->sb.held_root)
		return META_E_SNAP_HELD;
	/* the copy is of the committed superblock, as the kernel commits first */
	r = meta_thin_pool_commit(p);
	if (r)
		return r;
	r = meta_tm_inc(p->tm, 0);
	if (!r)
		r = meta_tm_shadow(p->tm, 0, &meta_thin_sb_validator, &held, &data, &inc_children);
	if (r)
		return meta_thin_pool_fail(p, r);
	copy = data;
	memset(copy->data_space_map_root, 0, sizeof(copy->data_space_map_root));
	memset(copy->metadata_space_map_root, 0, sizeof(copy->metadata_space_map_root));
	copy->held_root = le64_of(0);
	r = meta_tm_inc(p->tm, le64_get(copy->data_mapping_root));
	if (!r)
		r = meta_tm_inc(p->tm, le64_get(copy->device_details_root));
	if (r)
		return meta_thin_pool_fail(p, r);
	p->sb.held_root = held;
	return 0;
}

int meta_thin_pool_release_metadata_snap(struct meta_thin_pool *p)
{
	struct meta_thin_sb snap;
	const void *data;
	uint64_t held;
	int r = meta_thin_pool_usable(p);
	if (r)
		return r;
	held = p->sb.held_root;
	if (!held)
		return META_E_NOSNAP;
	r = meta_tm_read(p->tm, held, &meta_thin_sb_validator, &data);
	if (r)
		return meta_thin_pool_fail(p, r);
	meta_thin_sb_unpack(data, &snap);
	meta_tm_release(p->tm, data);
	p->sb.held_root = 0;
	r = meta_btree_tx_del(&p->both, snap.data_mapping_root);
	if (!r)
		r = meta_btree_tx_del(&p->details, snap.device_details_root);
	if (!r)
		r = meta_tm_dec(p->tm, held);
	return meta_thin_pool_fail(p, r);
}

/* Grow map s to nr_blocks (at most max): a device may grow, never shrink. */
static int resize(struct meta_thin_pool *p, struct meta_sm_tx *s, uint64_t nr_blocks, uint64_t max)
{
	uint64_t cur;
	int r = meta_thin_pool_usable(p);
	if (r)
		return r;
	cur = meta_sm_tx_nr_blocks(s);
	if (nr_blocks < cur)
		return META_E_SHRINK;
	if (nr_blocks > max)
		return META_E_RANGE;
	return nr_blocks == cur ? 0 : meta_thin_pool_fail(p, meta_sm_tx_extend(s, nr_blocks - cur));
}

int meta_thin_pool_resize_data(struct meta_thin_pool *p, uint64_t nr_blocks)
{
	return resize(p, p->dsm, nr_blocks, META_THIN_MAX_DATA_BLOCK + 1);
}

int meta_thin_pool_resize_metadata(struct meta_thin_pool *p, uint64_t nr_blocks)
{
	uint64_t max = p->dev_blocks < META_SM_METADATA_MAX_BLOCKS ? p->dev_blocks
								   : META_SM_METADATA_MAX_BLOCKS;
	return resize(p, p->msm, nr_blocks, max);
}

int meta_thin_pool_set_count(struct meta_thin_pool *p, enum meta_thin_pool_map map, uint64_t b,
			     uint32_t count)
{
	struct meta_sm_tx *s = map == META_THIN_POOL_METADATA_MAP ? p->msm : p->dsm;
	int r = meta_thin_pool_usable(p);
	if (r)
		return r;
	if (b >= meta_sm_tx_nr_blocks(s))
		return META_E_RANGE;
	if (map == META_THIN_POOL_METADATA_MAP && !b)
		return META_E_INVAL; /* the superblock is always in use */
	/* in one step, however far the count was off (a damaged count may be near 2^32) */
	return meta_thin_pool_fail(p, meta_sm_tx_set(s, b, count));
}

int meta_thin_pool_set_needs_check(struct meta_thin_pool *p, bool on)
{
	int r = sb_usable(p);
	if (r)
		return r;
	if (on)
		p->sb.flags |= META_THIN_FLAG_NEEDS_CHECK;
	else
		p->sb.flags &= ~(uint32_t)META_THIN_FLAG_NEEDS_CHECK;
	return 0;
}

void meta_thin_pool_info(const struct meta_thin_pool *p, struct meta_thin_pool_info *i)
{
	i->trans_id = p->sb.trans_id;
	i->held_root = p->sb.held_root;
	i->time = p->sb.time;
	i->data_block_size = p->sb.data_block_size;
	i->flags = p->sb.flags;
	if (p->sb_only) { /* as the superblock says */
		const struct meta_sm_root *m = &p->sb.metadata_sm, *d = &p->sb.data_sm;
		i->nr_metadata_blocks = m->nr_blocks;
		i->nr_free_metadata_blocks = m->nr_blocks > m->nr_allocated ? m->nr_blocks - m->nr_allocated : 0;
		i->nr_data_blocks = d->nr_blocks;
		i->nr_free_data_blocks = d->nr_blocks > d->nr_allocated ? d->nr_blocks - d->nr_allocated : 0;
		return;
	}
	i->nr_metadata_blocks = meta_sm_tx_nr_blocks(p->msm);
	i->nr_free_metadata_blocks = meta_sm_tx_nr_free(p->msm);
	i->nr_data_blocks = meta_sm_tx_nr_blocks(p->dsm);
	i->nr_free_data_blocks = meta_sm_tx_nr_free(p->dsm);
}

/* ---- messages ---------------------------------------------------------------------- */

/* A decimal number as the kernel's kstrtoull(s, 10) takes it. */
static int number(const char *s, uint64_t *v)
{
	uint64_t n = 0;
	if (*s == '+')
		s++;
	if (!*s)
		return META_E_MSG_ARGS; /* no digits: "" or a sign alone */
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return META_E_MSG_ARGS;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*v = n;
	return 0;
}

/* The 6.1 kernel's pool messages and their word counts (name included). */
static const struct {
	const char *name;
	int argc;
} msgs[] = {{"create_thin", 2},        {"create_snap", 3},           {"delete", 2},
	    {"set_transaction_id", 3}, {"reserve_metadata_snap", 1}, {"release_metadata_snap", 1}};
#define NR_MSGS (sizeof(msgs) / sizeof(msgs[0]))

/* Index in msgs of a message name (compared without case, as the kernel does); NR_MSGS: none. */
static size_t message_index(const char *name)
{
	size_t m;
	for (m = 0; m < NR_MSGS; m++)
		if (!strcasecmp(name, msgs[m].name))
			break;
	return m;
}

bool meta_thin_pool_is_message(const char *name)
{
	return message_index(name) < NR_MSGS;
}

int meta_thin_pool_message(struct meta_thin_pool *p, int argc, const char *const *argv)
{
	uint64_t a = 0, b = 0;
	size_t m;
	int r;
	if (p->sb_only)
		return META_E_INVAL;
	if (argc < 1)
		return META_E_MSG_UNKNOWN;
	/*
	 * The kernel keeps back min(4096, a tenth) of the metadata blocks; a pool with
	 * nothing free beyond them is in out-of-metadata-space mode and takes no message.
	 */
	{
		uint64_t nr = meta_sm_tx_nr_blocks(p->msm), free = meta_sm_tx_nr_free(p->msm);
		uint64_t reserve = nr / 10 < 4096 ? nr / 10 : 4096;
		if (free <= reserve)
			return META_E_NOSPC;
	}
	m = message_index(argv[0]);
	if (m == NR_MSGS)
		return META_E_MSG_UNKNOWN;
	if (argc != msgs[m].argc)
		return META_E_MSG_ARGS;
	if (argc > 1 && (r = number(argv[1], &a)) != 0)
		return r;
	if (argc > 2 && (r = number(argv[2], &b)) != 0)
		return r;
	switch (m) {
	case 0:
		r = meta_thin_pool_create_thin(p, a);
		break;
	case 1:
		r = meta_thin_pool_create_snap(p, a, b);
		break;
	case 2:
		r = meta_thin_pool_delete(p, a);
		break;
	case 3:
		r = meta_thin_pool_set_transaction_id(p, a, b);
		break;
	case 4:
		r = meta_thin_pool_reserve_metadata_snap(p);
		break;
	default:
		r = meta_thin_pool_release_metadata_snap(p);
		break;
	}
	return r ? r : meta_thin_pool_commit(p);
}

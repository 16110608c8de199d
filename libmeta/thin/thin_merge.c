/* SPDX-License-Identifier: GPL-2.0-only */
/* thin_merge: rollback of an origin to a snapshot, merge into an external origin.
 * See include/libmeta/thin_merge.h. */
#include <libmeta/thin_merge.h>

#include <stdlib.h>
#include <string.h>

#include <libmeta/error.h>

#include "base/endian.h"
#include "pdata/btree_write.h"
#include "pdata/sm_tx.h"
#include "pdata/tm.h"
#include "thin/thin_pool_internal.h"

/* ---- rollback ------------------------------------------------------------------- */

/* Is dev there (a top-level entry)? 0, META_E_NOTFOUND (*missing = dev) or an error. */
static int present(struct meta_thin_pool *p, uint64_t dev, uint8_t v[8], uint64_t *missing)
{
	int r = meta_btree_tx_lookup(&p->top, p->sb.data_mapping_root, &dev, v);
	if (r == META_E_NOTFOUND && missing)
		*missing = dev;
	return r;
}

int meta_thin_rollback(struct meta_thin_pool *p, uint64_t snap, uint64_t origin, bool keep_snap,
		       uint64_t *missing)
{
	struct meta_thin_details sd;
	uint8_t sv[8], ov[8];
	int r = meta_thin_pool_usable(p);

	if (r)
		return r;
	/* as for a message: nothing free beyond the kernel's reserve, min(4096, a tenth) */
	{
		uint64_t nr = meta_sm_tx_nr_blocks(p->msm), nfree = meta_sm_tx_nr_free(p->msm);
		if (nfree <= (nr / 10 < 4096 ? nr / 10 : 4096))
			return META_E_NOSPC;
	}
	if (snap > META_THIN_MAX_DEV_ID || origin > META_THIN_MAX_DEV_ID)
		return META_E_RANGE;
	if (snap == origin)
		return META_E_INVAL;
	r = present(p, snap, sv, missing);
	if (!r)
		r = present(p, origin, ov, missing);
	if (!r) {
		r = meta_thin_pool_details_get(p, snap, &sd);
		if (r == META_E_NOTFOUND)
			return META_E_CORRUPT;
	}
	if (r)
		return r == META_E_NOTFOUND ? r : meta_thin_pool_fail(p, r);
	/* the kernel's delete: ORIGIN's details and tree go, what only it held is freed */
	r = meta_thin_pool_delete(p, origin);
	if (r)
		return r == META_E_NOTFOUND ? META_E_CORRUPT : r;
	if (keep_snap)
		return meta_thin_pool_create_snap(p, origin, snap);
	/* SNAP's tree moves to ORIGIN: a reference for the new entry, then the old entry's
	 * removal drops SNAP's (the tree itself stays, with one reference as before) */
	r = meta_tm_inc(p->tm, get_le64p(sv));
	if (!r)
		r = meta_btree_tx_insert(&p->top, p->sb.data_mapping_root, &origin, sv,
					 &p->sb.data_mapping_root, NULL);
	if (!r)
		r = meta_btree_tx_remove(&p->top, p->sb.data_mapping_root, &snap,
					 &p->sb.data_mapping_root);
	if (!r)
		r = meta_btree_tx_remove(&p->details, p->sb.device_details_root, &snap,
					 &p->sb.device_details_root);
	if (!r) {
		sd.dev_id = origin;
		r = meta_thin_pool_details_put(p, &sd);
	}
	return meta_thin_pool_fail(p, r);
}

/* ---- merge into an external origin ------------------------------------------------ */

struct run {
	uint64_t vblock, data_block;
};

struct collect {
	struct run *m;
	size_t n, cap;
	uint64_t nr_data_blocks;
	bool bad;
	int err;
};

static int on_maps(void *ctx, const struct meta_thin_mapping *m, uint32_t n)
{
	struct collect *c = ctx;
	for (uint32_t i = 0; i < n; i++) {
		if (m[i].data_block >= c->nr_data_blocks)
			c->bad = true;
		if (c->n == c->cap) {
			size_t nc = c->cap ? c->cap * 2 : 1024;
			struct run *q = realloc(c->m, nc * sizeof(*q));
			if (!q)
				return c->err = META_E_NOMEM;
			c->m = q;
			c->cap = nc;
		}
		c->m[c->n].vblock = m[i].vblock;
		c->m[c->n].data_block = m[i].data_block;
		c->n++;
	}
	return 0;
}

static void on_damage(void *ctx, const struct meta_damage *d)
{
	(void)d;
	((struct collect *)ctx)->bad = true;
}

#define COPY_MAX (4u << 20) /* bytes per read/write: contiguous blocks coalesced up to it */

/* Copy [src, src+len) of data to dst of image through buf (COPY_MAX bytes). */
static int copy(struct meta_io *data, uint64_t src, struct meta_io *image, uint64_t dst,
		uint64_t len, uint8_t *buf)
{
	while (len) {
		size_t n = len < COPY_MAX ? (size_t)len : COPY_MAX;
		int r = meta_io_pread(data, buf, n, src);
		if (!r)
			r = meta_io_pwrite(image, buf, n, dst);
		if (r)
			return r;
		src += n;
		dst += n;
		len -= n;
	}
	return 0;
}

int meta_thin_merge_external(struct meta_thin *t, struct meta_io *data, uint64_t dev,
			     struct meta_io *image, uint64_t size, struct meta_thin_merge_stats *st)
{
	const struct meta_thin_sb *sb = meta_thin_sb(t);
	struct meta_thin_merge_stats dummy;
	struct collect c;
	uint64_t root, bs, len, isz = meta_io_size(image), dsz = meta_io_size(data);
	uint8_t *buf = NULL;
	size_t i;
	int r;

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	memset(&c, 0, sizeof(c));
	bs = st->block_bytes = (uint64_t)sb->data_block_size * 512u;
	if (!bs)
		return META_E_CORRUPT;
	len = size ? size : isz;
	r = meta_thin_dev_root(t, dev, &root);
	if (r)
		return r;
	c.nr_data_blocks = meta_thin_live_sb(t)->data_sm.nr_blocks;
	r = meta_thin_walk_mappings(t, root, on_maps, on_damage, &c);
	if (!r)
		r = c.err;
	if (!r && c.bad)
		r = META_E_CORRUPT;
	if (r)
		goto out;
	st->nr_mapped = c.n;
	/* every check before the first write: a refusal leaves the image untouched */
	for (i = 0; i < c.n; i++) {
		uint64_t vb, db, e;
		if (__builtin_mul_overflow(c.m[i].vblock, bs, &vb) ||
		    __builtin_mul_overflow(c.m[i].data_block, bs, &db) || db > UINT64_MAX - bs) {
			r = META_E_RANGE;
			goto out;
		}
		if (vb >= len) {
			if (size)
				continue; /* past the volume's end: not part of its view */
			e = vb > UINT64_MAX - bs ? UINT64_MAX : vb + bs;
		} else {
			e = vb > UINT64_MAX - bs || vb + bs > len ? len : vb + bs;
		}
		if (e > st->end)
			st->end = e;
		if (db + bs > dsz) {
			r = META_E_DATA_SIZE;
			goto out;
		}
	}
	if (st->end > isz) {
		r = META_E_VOL_END;
		goto out;
	}
	buf = meta_io_buf_alloc(COPY_MAX);
	if (!buf) {
		r = META_E_NOMEM;
		goto out;
	}
	/* runs contiguous on both sides are copied in one piece */
	for (i = 0; i < c.n;) {
		uint64_t vb = c.m[i].vblock * bs, db = c.m[i].data_block * bs, n = bs, e;
		size_t j = i + 1;
		if (vb >= len) {
			i++;
			continue;
		}
		while (j < c.n && c.m[j].vblock == c.m[j - 1].vblock + 1 &&
		       c.m[j].data_block == c.m[j - 1].data_block + 1 && vb + n + bs <= len &&
		       n < COPY_MAX) {
			n += bs;
			j++;
		}
		e = vb + n < len ? vb + n : len;
		r = copy(data, db, image, vb, e - vb, buf);
		if (r)
			goto out;
		st->nr_copied += j - i;
		i = j;
	}
	r = meta_io_flush(image);
out:
	free(buf);
	free(c.m);
	return r;
}

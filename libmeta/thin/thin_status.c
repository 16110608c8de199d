/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The thin-pool and thin targets' status lines.  See include/libmeta/thin_status.h.
 */
#include <libmeta/thin_status.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <libmeta/bm.h>
#include <libmeta/btree.h>
#include <libmeta/error.h>

#include "base/endian.h"

/* A mapping tree is a handful of levels; the bound stops a cycle in damaged metadata. */

int meta_thin_pool_status(struct meta_thin *t, struct meta_thin_pool_status *out)
{
	const struct meta_thin_sb *sb = meta_thin_live_sb(t);
	uint64_t dev_blocks = meta_thin_nr_metadata_blocks(t), free_md;

	memset(out, 0, sizeof(*out));
	out->transaction_id = sb->trans_id;
	out->total_metadata_blocks = sb->metadata_sm.nr_blocks;
	out->metadata_reserve = sb->metadata_sm.nr_blocks / 10;
	if (out->metadata_reserve > META_THIN_STATUS_METADATA_RESERVE_MAX)
		out->metadata_reserve = META_THIN_STATUS_METADATA_RESERVE_MAX;
	/* free = nr_blocks - nr_allocated - reserve, never below 0; used = the rest */
	free_md = sb->metadata_sm.nr_blocks > sb->metadata_sm.nr_allocated
			  ? sb->metadata_sm.nr_blocks - sb->metadata_sm.nr_allocated
			  : 0;
	free_md = free_md > out->metadata_reserve ? free_md - out->metadata_reserve : 0;
	out->used_metadata_blocks = sb->metadata_sm.nr_blocks - free_md;
	out->total_data_blocks = sb->data_sm.nr_blocks;
	out->used_data_blocks = sb->data_sm.nr_allocated;
	out->held_root = sb->held_root;
	out->needs_check = (sb->flags & META_THIN_FLAG_NEEDS_CHECK) != 0;
	if (dev_blocks > META_THIN_STATUS_MAX_METADATA_BLOCKS)
		dev_blocks = META_THIN_STATUS_MAX_METADATA_BLOCKS;
	out->metadata_threshold = dev_blocks / 4;
	if (out->metadata_threshold > META_THIN_STATUS_METADATA_THRESHOLD_MAX)
		out->metadata_threshold = META_THIN_STATUS_METADATA_THRESHOLD_MAX;
	return META_OK;
}

enum meta_thin_pool_mode meta_thin_pool_default_mode(const struct meta_thin_pool_status *s)
{
	if (s->needs_check || s->used_metadata_blocks == s->total_metadata_blocks)
		return META_THIN_POOL_RO;
	return META_THIN_POOL_RW;
}

size_t meta_thin_pool_status_line(const struct meta_thin_pool_status *s,
				  const struct meta_thin_pool_features *f, char *buf, size_t len)
{
	static const char *const modes[] = {"rw", "ro", "out_of_data_space"};
	static const char *const discards[] = {"discard_passdown", "no_discard_passdown",
					       "ignore_discard"};
	char held[24];
	int n;

	if (s->held_root)
		snprintf(held, sizeof(held), "%" PRIu64, s->held_root);
	else
		snprintf(held, sizeof(held), "-");
	n = snprintf(buf, len, "%" PRIu64 " %" PRIu64 "/%" PRIu64 " %" PRIu64 "/%" PRIu64
			       " %s %s %s %s %s %" PRIu64 " ",
		     s->transaction_id, s->used_metadata_blocks, s->total_metadata_blocks,
		     s->used_data_blocks, s->total_data_blocks, held,
		     modes[(unsigned)f->mode <= META_THIN_POOL_OUT_OF_DATA_SPACE ? f->mode : 0],
		     discards[(unsigned)f->discard <= META_THIN_POOL_DISCARD_IGNORE ? f->discard : 0],
		     f->error_if_no_space ? "error_if_no_space" : "queue_if_no_space",
		     s->needs_check ? "needs_check" : "-", s->metadata_threshold);
	return n < 0 ? 0 : (size_t)n;
}


static int lookup_error(int r)
{
	return r == META_E_NOTFOUND || r == META_E_IO || r == META_E_NOMEM ? r : META_E_CORRUPT;
}

int meta_thin_dev_status(struct meta_thin *t, uint64_t dev_id, struct meta_thin_dev_status *out)
{
	uint8_t details[META_THIN_DETAILS_VALUE_SIZE];
	uint64_t root;
	int r;

	memset(out, 0, sizeof(*out));
	out->dev_id = dev_id;
	out->data_block_size = meta_thin_sb(t)->data_block_size;
	r = meta_btree_lookup(meta_thin_bm(t), meta_thin_details_root(t), dev_id, details,
			      sizeof(details));
	if (r)
		return lookup_error(r);
	out->mapped_blocks = get_le64p(details);
	r = meta_thin_dev_root(t, dev_id, &root);
	if (r == META_E_NOTFOUND)
		return META_E_CORRUPT; /* in the details, not in the mapping tree */
	if (r)
		return lookup_error(r);
	return meta_btree_last_key(meta_thin_bm(t), root, &out->mapped, &out->highest_block);
}

size_t meta_thin_dev_status_line(const struct meta_thin_dev_status *s, char *buf, size_t len)
{
	uint64_t bs = s->data_block_size;
	int n;

	if (s->mapped)
		n = snprintf(buf, len, "%" PRIu64 " %" PRIu64, s->mapped_blocks * bs,
			     (s->highest_block + 1) * bs - 1);
	else
		n = snprintf(buf, len, "%" PRIu64 " -", s->mapped_blocks * bs);
	return n < 0 ? 0 : (size_t)n;
}

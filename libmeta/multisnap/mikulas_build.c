/* SPDX-License-Identifier: GPL-2.0-only */
/* A whole mikulas store from its records, in one pass (mikulas_build.h). */
#include <libmeta/error.h>

#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "base/util.h"
#include "multisnap/mikulas_build.h"
#include "multisnap/mikulas_internal.h"
#include "multisnap/mikulas_ondisk.h"

int mikulas_build_begin(struct mikulas_builder *b, struct meta_io *io, const struct mikulas_sb *sb)
{
	int r;
	memset(b, 0, sizeof(*b));
	b->io = io;
	b->sb = *sb;
	r = meta_rc_init(&b->dcount, sb->data_chunks);
	if (r)
		return r;
	b->have_rc = true;
	r = bw_init(&b->w, io, sb->metadata_blocks, 1);
	if (r)
		return r;
	b->have_w = true;
	r = mikulas_write_head(io, sb->chunk_size, true);
	if (r)
		return r;
	bbuild_init(&b->snaps, &b->w, sizeof(struct mikulas_disk_snap));
	b->snaps_open = true;
	return 0;
}

int mikulas_build_snapshot(struct mikulas_builder *b, meta_ms_id id, uint64_t created,
			   uint32_t next_sub)
{
	struct mikulas_disk_snap v;
	if (!b->snaps_open)
		return META_E_INVAL;
	if (b->have_snap && id <= b->prev_id) {
		b->why = MB_SNAP_ORDER;
		return META_E_INVAL;
	}
	if ((uint32_t)id == META_MS_SUB_NONE) {
		if (b->nmasters == b->capmasters) {
			size_t cap = b->capmasters ? b->capmasters * 2 : 64;
			meta_ms_id *nm = realloc(b->masters, cap * sizeof(*nm));
			uint32_t *ns = nm ? realloc(b->next_sub, cap * sizeof(*ns)) : NULL;
			if (nm)
				b->masters = nm;
			if (!ns)
				return META_E_NOMEM;
			b->next_sub = ns;
			b->capmasters = cap;
		}
		b->masters[b->nmasters] = id;
		b->next_sub[b->nmasters++] = next_sub;
	}
	mikulas_snap_pack(&v, created, next_sub);
	bbuild_add(&b->snaps, id, &v);
	b->have_snap = true;
	b->prev_id = id;
	return b->w.err;
}

/* The snapshot tree is done: its root, then the exception tree's builder. */
static int snaps_close(struct mikulas_builder *b)
{
	if (!b->snaps_open)
		return b->w.err;
	b->snaps_open = false;
	b->sb.snapshot_root = bbuild_finish(&b->snaps);
	if (b->w.err)
		return b->w.err;
	bbuild_init(&b->excs, &b->w, sizeof(struct mikulas_disk_exc));
	b->excs_open = true;
	return 0;
}

int mikulas_build_exception(struct mikulas_builder *b, uint64_t c, meta_ms_id first,
			    meta_ms_id last, uint64_t cow)
{
	struct mikulas_disk_exc d;
	int r = snaps_close(b);
	if (r)
		return r;
	if (!b->excs_open)
		return META_E_INVAL;
	b->why = first > last ? MB_FIRST_ABOVE_LAST
		 : cow >= b->sb.data_chunks ? MB_COW_RANGE
		 : c >= MIKULAS_CHUNK_LIMIT ? MB_CHUNK_RANGE
		 : b->have_exc && c < b->prev_chunk ? MB_CHUNK_ORDER
		 : !b->have_exc || c != b->prev_chunk ? MB_OK
		 : first <= b->prev_last ? MB_OVERLAP
		 : b->n >= MIKULAS_EXC_PER_CHUNK ? MB_TOO_MANY : MB_OK;
	if (!b->why && mikulas_breaks_unborn(b->masters, b->next_sub, b->nmasters,
					     b->sb.next_snapshot, first, last))
		b->why = MB_UNBORN;
	if (b->why)
		return META_E_INVAL;
	if (!b->have_exc || c != b->prev_chunk)
		b->n = 0;
	d = (struct mikulas_disk_exc){le64_of(first), le64_of(last), le64_of(cow)};
	bbuild_add(&b->excs, mikulas_exc_key(c, b->n), &d);
	if (b->w.err)
		return b->w.err;
	if (meta_rc_inc(&b->dcount, cow))
		return META_E_NOMEM;
	b->have_exc = true;
	b->prev_chunk = c;
	b->prev_last = last;
	b->n++;
	return 0;
}

int mikulas_build_finish(struct mikulas_builder *b)
{
	struct meta_sm_root dsm, msm;
	struct mikulas_sb *sb = &b->sb;
	void *blk;
	int r = snaps_close(b);
	if (r)
		return r;
	if (!b->excs_open)
		return META_E_INVAL;
	b->excs_open = false;
	sb->exception_root = bbuild_finish(&b->excs);
	sm_write_disk(&b->w, &b->dcount, &dsm);
	sm_write_metadata(&b->w, &msm);
	if (b->w.err)
		return b->w.err;
	r = bw_flush(&b->w);
	if (!r)
		r = meta_io_flush(b->io);
	if (r)
		return r;
	blk = aligned_alloc(META_BLOCK_SIZE, META_BLOCK_SIZE);
	if (!blk)
		return META_E_NOMEM;
	sb->version = MIKULAS_VERSION;
	sb->valid = 1;
	sb->metadata_sm = msm;
	sb->data_sm = dsm;
	mikulas_sb_pack(sb, blk);
	mikulas_sb_validator.prepare(&mikulas_sb_validator, blk, 0);
	r = meta_io_pwrite(b->io, blk, META_BLOCK_SIZE, 0);
	free(blk);
	if (!r)
		r = meta_io_flush(b->io);
	return r;
}

void mikulas_build_free(struct mikulas_builder *b)
{
	/* stopped half-way: free the builders without writing their pending leaves */
	if ((b->snaps_open || b->excs_open) && !b->w.err)
		b->w.err = META_E_INTERRUPTED;
	if (b->snaps_open)
		bbuild_finish(&b->snaps);
	if (b->excs_open)
		bbuild_finish(&b->excs);
	b->snaps_open = b->excs_open = false;
	if (b->have_w)
		bw_free(&b->w);
	if (b->have_rc)
		meta_rc_free(&b->dcount);
	free(b->masters);
	free(b->next_sub);
	b->masters = NULL;
	b->next_sub = NULL;
	b->nmasters = b->capmasters = 0;
	b->have_w = b->have_rc = false;
}

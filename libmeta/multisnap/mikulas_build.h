/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Private to libmeta: a whole mikulas store written from its records in one pass (the
 * one writer behind XML restore, mikulas_xml.c, and conversion from a classic store,
 * ms_convert.c).  Format in mikulas_ondisk.h.
 *
 *   mikulas_build_begin()      block 0 becomes a superblock marked invalid (flushed)
 *   mikulas_build_snapshot()   the snapshots, ascending ids
 *   mikulas_build_exception()  then the exceptions, in key order
 *   mikulas_build_finish()     the exception tree, the data map (from the counts), the
 *                              metadata map; flushed; then the valid superblock, flushed
 *   mikulas_build_free()       always (after a failure too: nothing more is written)
 *
 * The trees are built bottom-up by the bulk builder (pdata/pdata_write.h): leaves packed
 * full, written in increasing block order through a large buffer.  Records are judged as
 * they arrive and never sorted: out-of-order, overlapping or out-of-range records are
 * META_E_INVAL with b->why saying which rule (the caller words it).  A write failure is
 * the writer's error: META_E_NOSPC when the metadata area cannot hold the trees.  The
 * geometry (chunk size, metadata_blocks, data_chunks fitting the device) is the caller's
 * to check first (mikulas_geometry()).  Snapshot rules (masters present, next_sub) are the
 * caller's too: it holds the list.
 */
#ifndef LIBMETA_MULTISNAP_MIKULAS_BUILD_H
#define LIBMETA_MULTISNAP_MIKULAS_BUILD_H

#include <stdbool.h>
#include <stdint.h>

#include <libmeta/io.h>
#include <libmeta/multisnap.h>

#include "multisnap/mikulas.h"
#include "pdata/pdata_write.h"
#include "pdata/refcount.h"

enum mikulas_build_why {
	MB_OK = 0,
	MB_SNAP_ORDER,        /* snapshot ids not ascending */
	MB_FIRST_ABOVE_LAST,  /* first_id > last_id */
	MB_COW_RANGE,         /* cow_chunk >= data_chunks */
	MB_CHUNK_ORDER,       /* origin chunk below the one before */
	MB_OVERLAP,           /* range overlaps or precedes the one before in its chunk */
	MB_TOO_MANY,          /* more than 65536 exceptions for one origin chunk */
	MB_CHUNK_RANGE,       /* origin chunk >= 2^48 */
	MB_UNBORN,            /* a range splits a master from its unborn sub ids, or covers a
			       * number at or past next_snapshot (multisnap-store(5)) */
};

struct mikulas_builder {
	struct meta_io *io;
	struct mikulas_sb sb; /* the superblock's fields given to begin */
	enum mikulas_build_why why;
	struct bw w;
	bool have_w, have_rc, snaps_open, excs_open;
	struct bbuild snaps, excs;
	struct meta_refcount dcount; /* keys naming each data chunk: the data map */
	bool have_snap, have_exc;
	meta_ms_id prev_id;
	uint64_t prev_chunk;
	meta_ms_id prev_last;
	uint32_t n; /* the next exception number of prev_chunk */
	/* the masters given (ascending) and their next_sub: the unborn-id rule */
	meta_ms_id *masters;
	uint32_t *next_sub;
	size_t nmasters, capmasters;
};

/*
 * sb gives version-independent fields: chunk_size, flags, metadata_blocks, data_chunks,
 * next_snapshot, transaction (the rest is made).  Writes block 0 (invalid) and flushes.
 */
int mikulas_build_begin(struct mikulas_builder *b, struct meta_io *io, const struct mikulas_sb *sb);
int mikulas_build_snapshot(struct mikulas_builder *b, meta_ms_id id, uint64_t created,
			   uint32_t next_sub);
int mikulas_build_exception(struct mikulas_builder *b, uint64_t origin_chunk, meta_ms_id first,
			    meta_ms_id last, uint64_t cow);
int mikulas_build_finish(struct mikulas_builder *b);
void mikulas_build_free(struct mikulas_builder *b);

#endif

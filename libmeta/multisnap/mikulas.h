/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Private to libmeta (and its unit tests): the mikulas store's handle beyond the
 * ms_ops vtable (libmeta/multisnap/ms_internal.h).  `st` is what ms_mikulas_ops.open
 * made.  The format is in mikulas_ondisk.h.
 */
#ifndef LIBMETA_MULTISNAP_MIKULAS_H
#define LIBMETA_MULTISNAP_MIKULAS_H

#include <stdbool.h>
#include <stdint.h>

#include <libmeta/io.h>
#include <libmeta/multisnap.h>
#include <libmeta/sm.h>

/* The superblock as read (check and tests use it). */
struct mikulas_sb {
	uint32_t version, chunk_size, flags, valid;
	uint64_t metadata_blocks, data_chunks;
	struct meta_sm_root metadata_sm, data_sm;
	uint64_t exception_root, snapshot_root, next_snapshot, transaction;
};

void mikulas_sb_unpack(const void *block, struct mikulas_sb *sb);
void mikulas_sb_pack(const struct mikulas_sb *sb, void *block); /* zeroes the block first */
extern const struct meta_validator mikulas_sb_validator;

/* Metadata blocks format gives a device of dev_bytes with chunks of chunk_size sectors. */
uint64_t mikulas_meta_blocks_for(uint64_t dev_bytes, uint32_t chunk_size);
/* Byte offset of data chunk 0. */
uint64_t mikulas_data_start(uint64_t metadata_blocks, uint32_t chunk_size);

/*
 * What origin chunk c reads for live snapshot id: 0 and *cow, META_E_NOTFOUND (the
 * origin itself), or an error.  The engine's lookup (issue 15).
 */
int mikulas_lookup(void *st, uint64_t origin_chunk, meta_ms_id id, uint64_t *cow);

/*
 * Add the exception [first, last] -> cow for origin chunk c, in this transaction
 * (numbered in first-id order, later ones renumbered); cow's count in the data map
 * goes up by one.  META_E_INVAL: overlap, first > last, c >= 2^48, cow >= data chunks;
 * META_E_RANGE: 65536 exceptions already.  mikulas_commit() makes it durable.
 */
int mikulas_add_exception(void *st, uint64_t c, meta_ms_id first, meta_ms_id last, uint64_t cow);
int mikulas_commit(void *st);
/* Tests: the superblock's next_snapshot (committed at once). */
int mikulas_set_next_snapshot(void *st, uint64_t next);
const struct mikulas_sb *mikulas_get_sb(void *st);

#endif

/* SPDX-License-Identifier: GPL-2.0-only */
/* Private to mikulas.c, mikulas_check.c and mikulas_xml.c. */
#ifndef LIBMETA_MULTISNAP_MIKULAS_INTERNAL_H
#define LIBMETA_MULTISNAP_MIKULAS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <libmeta/bm.h>
#include <libmeta/damage.h>
#include <libmeta/io.h>

#include "base/util.h"
#include "multisnap/mikulas.h"

/*
 * The unborn-id rule (multisnap-store(5)): does the exception [first, last] break it?
 * ids (ascending, n of them) are the live snapshots, next_sub[i] the next sub number of
 * ids[i] (a master's); a range must not cover a number at or past next_snapshot, nor cut
 * a live master's unborn subs N.next_sub .. N.0xfffffffe apart from N itself.
 */
static inline bool mikulas_breaks_unborn(const meta_ms_id *ids, const uint32_t *next_sub,
					 size_t n, uint64_t next_snapshot, meta_ms_id first,
					 meta_ms_id last)
{
	if (last >= next_snapshot << 32)
		return true;
	for (int end = 0; end < 2; end++) {
		meta_ms_id master = (end ? last : first) | META_MS_SUB_NONE, lo;
		size_t pos = meta_u64_lower_bound(ids, n, master);
		if (pos == n || ids[pos] != master)
			continue;
		lo = (master & ~(uint64_t)META_MS_SUB_NONE) | next_sub[pos];
		if ((first > lo && first <= master) || (last >= lo && last < master))
			return true;
	}
	return false;
}

uint32_t mikulas_sb_csum(const void *block);
bool mikulas_chunk_size_ok(uint64_t chunk_size);
/* 0, META_E_VERSION or META_E_CORRUPT: the fields open relies on. */
int mikulas_sb_sane(const struct mikulas_sb *sb, uint64_t dev_bytes);
/* Block 0: META_E_BADMAGIC, or 0 with *verdict the checksum/location verdict. */
int mikulas_read_sb(struct meta_bm *bm, struct mikulas_sb *sb, int *verdict);
/* Format's and restore's geometry rules (mikulas.c); 0 in *mblocks / *dchunks: computed. */
int mikulas_geometry(uint64_t bytes, uint32_t chunk_size, unsigned flags, uint64_t *mblocks,
		     uint64_t *dchunks);
/* Block 0 zeroed, or (invalid) a superblock marked invalid; flushed. */
int mikulas_write_head(struct meta_io *io, uint32_t chunk_size, bool invalid);
void mikulas_close(void *st);
/* Every entry of a tree as committed, in key order, read in batches; fn non-zero stops. */
typedef int (*entry_fn)(void *ctx, uint64_t key, const void *value);
int mikulas_iter(void *st, bool exceptions, entry_fn fn, void *ctx);
struct meta_bm *mikulas_bm(void *st);

int mikulas_check(struct meta_io *io, meta_damage_fn fn, void *ctx);
/* The same; origin_sectors (0: unknown) also reports exceptions past the origin's end. */
int mikulas_check_origin(struct meta_io *io, uint64_t origin_sectors, meta_damage_fn fn,
			 void *ctx);
int mikulas_dump_xml(void *st, FILE *out);
int mikulas_dump_human(void *st, FILE *out);
int mikulas_restore_xml(const char *head, size_t headlen, FILE *in, struct meta_io *io,
			char *err, size_t errlen);

#endif

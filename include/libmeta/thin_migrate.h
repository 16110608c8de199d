/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_migrate: copy a thin volume's view (its provisioned blocks, and what the
 * unprovisioned ones read) to another device or file.
 *
 * The volume is device dev_id of the pool opened as t (its live trees, or the held
 * metadata snapshot's when t was opened with META_THIN_OPEN_METADATA_SNAP).  The
 * bytes of a provisioned block come from one of two places:
 *  - src (a live, read-only thin device): read at the volume's own offset;
 *  - data (the pool's data device or image, offline): read at the mapped data block.
 * Exactly one of them is given.  An unprovisioned range reads from origin (the
 * volume's external origin, may be NULL) below the origin's size, else zeros; what
 * the copy does with a zero range is gaps: leave the destination's bytes
 * (META_THIN_MIGRATE_GAPS_LEAVE, as thin-provisioning-tools 1.x), write zeros
 * (..._ZERO) or discard them (..._PUNCH: holes in a file, which read zero).
 * Runs of consecutive blocks are copied in pieces of at most buffer_bytes.
 * Mappings at or past size are not copied; a partial last block is cut at size.
 *
 * Before any byte is written the mappings are walked once: damage there is
 * META_E_CORRUPT (reported to dfn) and nothing is written.  Errors:
 * META_E_NOTFOUND (no such device), META_E_DATA_SIZE (a mapped block lies past the
 * end of data), META_E_RANGE (sizes overflow), META_E_IO, META_E_NOSPC and
 * META_E_UNSUPPORTED from the devices; after a write error the destination holds a
 * partial copy.
 */
#ifndef LIBMETA_THIN_MIGRATE_H
#define LIBMETA_THIN_MIGRATE_H

#include <stddef.h>
#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/damage.h>
#include <libmeta/io.h>
#include <libmeta/thin.h>

enum meta_thin_migrate_gaps {
	META_THIN_MIGRATE_GAPS_LEAVE = 0,
	META_THIN_MIGRATE_GAPS_ZERO,
	META_THIN_MIGRATE_GAPS_PUNCH,
};

struct meta_thin_migrate_opts {
	uint64_t dev_id;
	struct meta_io *src;    /* the live thin device, or NULL */
	struct meta_io *data;   /* the pool's data device, or NULL */
	struct meta_io *origin; /* external origin, or NULL */
	struct meta_io *dest;
	uint64_t size;          /* the volume's length in bytes */
	size_t buffer_bytes;    /* 0: 64 MiB */
	enum meta_thin_migrate_gaps gaps;
	meta_damage_fn dfn;     /* may be NULL */
	void *ctx;
	/* progress (may be NULL): bytes done of total, now and then */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
};

/* The mapping walk alone: number of mapped blocks and the end of the last (vblock + 1). */
struct meta_thin_migrate_scan {
	uint64_t nr_mapped, end_block;
	uint32_t block_sectors;
};
META_API int meta_thin_migrate_scan(struct meta_thin *t, uint64_t dev_id, meta_damage_fn dfn,
				    void *ctx, struct meta_thin_migrate_scan *out);

struct meta_thin_migrate_stats {
	uint64_t copied_bytes;  /* provisioned bytes copied */
	uint64_t origin_bytes;  /* copied from the external origin */
	uint64_t zero_bytes;    /* of the gaps: read as zero (left, zeroed or punched) */
	uint64_t nr_runs;       /* runs of consecutive provisioned blocks */
};
META_API int meta_thin_migrate(struct meta_thin *t, const struct meta_thin_migrate_opts *o,
			       struct meta_thin_migrate_stats *st);

#endif

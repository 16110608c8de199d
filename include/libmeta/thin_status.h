/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The status lines of the thin-pool and thin targets (`dmsetup status`, Linux 6.1),
 * computed offline from a pool's committed metadata.
 *
 * Pool line (the thin-pool target's status, type INFO):
 *   "<transaction id> <used meta>/<total meta> <used data>/<total data> <held root|-> "
 *   "<rw|ro|out_of_data_space> <discard_passdown|no_discard_passdown|ignore_discard> "
 *   "<queue_if_no_space|error_if_no_space> <needs_check|-> <metadata low water> "
 * every field followed by one space, the last one included (the kernel emits it so).
 *   - transaction id: the live superblock's.
 *   - meta and data counts are blocks (4 KiB metadata blocks, data blocks of the pool's
 *     data block size): total = the space map's nr_blocks, used = total minus free, from
 *     the live superblock's space-map roots, as a pool shows them right after a commit (the
 *     status call itself commits an active, unsuspended pool).  Data: free = nr_blocks -
 *     nr_allocated.  Metadata: the kernel keeps back a reserve of min(4096, total / 10)
 *     blocks and reports them as used: free = nr_blocks - nr_allocated - reserve, or 0
 *     when that is not positive.
 *   - held root: the live superblock's held_root (the metadata snapshot's block), "-" if 0.
 *   - the mode, discard and no-space words are the pool's live state, which the metadata
 *     does not hold: the caller gives them (struct meta_thin_pool_features).
 *   - needs_check: the NEEDS_CHECK flag of the live superblock.
 *   - metadata low water: min(1024, metadata device blocks / 4), the metadata device's
 *     size in 4 KiB blocks capped at the space map's limit (255 x (16384 - 64) blocks).
 *
 * Thin line (the thin target's status): "<nr mapped sectors> <highest mapped sector>", or
 * "<nr mapped sectors> -" when the device's mapping tree is empty; no trailing space.
 *   - nr mapped sectors: the device details' mapped_blocks x data block size.
 *   - highest mapped sector: (highest mapped virtual block + 1) x data block size - 1, the
 *     highest key found down the rightmost path of the device's mapping tree.
 * Both products are taken modulo 2^64, as the kernel computes them.
 */
#ifndef LIBMETA_THIN_STATUS_H
#define LIBMETA_THIN_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/thin.h>

/* The metadata device size the kernel uses at most (DM_SM_METADATA_MAX_BLOCKS). */
#define META_THIN_STATUS_MAX_METADATA_BLOCKS (255ull * ((1ull << 14) - 64))
/* The kernel's cap on the metadata low-water threshold (4 MiB of metadata blocks). */
#define META_THIN_STATUS_METADATA_THRESHOLD_MAX 1024ull
/* The kernel's cap on the metadata blocks it keeps back (16 MiB), else a tenth. */
#define META_THIN_STATUS_METADATA_RESERVE_MAX 4096ull

/* What the committed metadata says about the pool. */
struct meta_thin_pool_status {
	uint64_t transaction_id;
	uint64_t used_metadata_blocks, total_metadata_blocks; /* used: reserve included */
	uint64_t metadata_reserve;    /* blocks kept back: min(4096, total / 10) */
	uint64_t used_data_blocks, total_data_blocks;
	uint64_t held_root;           /* 0: none */
	bool needs_check;
	uint64_t metadata_threshold;  /* blocks */
};

enum meta_thin_pool_mode {
	META_THIN_POOL_RW,
	META_THIN_POOL_RO,
	META_THIN_POOL_OUT_OF_DATA_SPACE,
};

enum meta_thin_pool_discard {
	META_THIN_POOL_DISCARD_PASSDOWN,    /* the default of a table without feature args */
	META_THIN_POOL_DISCARD_NO_PASSDOWN, /* no_discard_passdown, or a data device that cannot */
	META_THIN_POOL_DISCARD_IGNORE,      /* ignore_discard */
};

/* The pool's live state, which the line shows and the metadata does not hold. */
struct meta_thin_pool_features {
	enum meta_thin_pool_mode mode;
	enum meta_thin_pool_discard discard;
	bool error_if_no_space;
};

/*
 * The pool's figures from the live superblock of t (whichever trees t was opened on) and
 * the size of its metadata device.  Reads nothing but the superblock; returns META_OK.
 */
META_API int meta_thin_pool_status(struct meta_thin *t, struct meta_thin_pool_status *out);

/*
 * The mode a pool activated on this metadata with a table that asks for none (read-write)
 * runs in: read-only when the superblock needs a check (the kernel never switches such a
 * pool to write mode) or no metadata block is free beyond the reserve (out of metadata
 * space, which the line shows as "ro"); read-write otherwise.  Running out of data space is a state a pool
 * enters on a failed allocation, not one the metadata shows.
 */
META_API enum meta_thin_pool_mode
meta_thin_pool_default_mode(const struct meta_thin_pool_status *s);

/*
 * The pool line, NUL-terminated, without a newline; returns its length (as snprintf: a
 * result >= len means it was cut); 256 bytes always suffice.
 */
META_API size_t meta_thin_pool_status_line(const struct meta_thin_pool_status *s,
					   const struct meta_thin_pool_features *f, char *buf,
					   size_t len);

/* One thin device's figures, from the trees t was opened on. */
struct meta_thin_dev_status {
	uint64_t dev_id;
	uint64_t mapped_blocks;   /* from the device details */
	bool mapped;              /* the mapping tree holds at least one mapping */
	uint64_t highest_block;   /* with mapped: the highest mapped virtual block */
	uint32_t data_block_size; /* sectors */
};

/*
 * Errors: META_E_NOTFOUND, the device is not in the device details tree (the kernel opens
 * no thin device that is not); META_E_CORRUPT, it is there but the top-level mapping tree
 * does not hold it, or a node on the way is damaged; META_E_IO, META_E_NOMEM.
 */
META_API int meta_thin_dev_status(struct meta_thin *t, uint64_t dev_id,
				  struct meta_thin_dev_status *out);

/* The thin line, as meta_thin_pool_status_line() (64 bytes always suffice). */
META_API size_t meta_thin_dev_status_line(const struct meta_thin_dev_status *s, char *buf,
					  size_t len);

#endif

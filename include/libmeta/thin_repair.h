/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_repair: read damaged thin-pool metadata and write a fresh, consistent
 * pool holding every mapping that can still be read.
 *
 * 1. The superblock: used when its checksum is right; otherwise the data block
 *    size must be given; the transaction id and the number of data blocks are
 *    taken from the overrides when given, else derived from the trees found (the
 *    highest device transaction id + 1, the highest mapped data block + 1).
 * 2. The roots: the superblock's roots when they read as the right kind of
 *    tree; otherwise (and always without a superblock) every metadata block is
 *    scanned for btree nodes, nodes no valid internal node points at are
 *    candidate roots, and each is classified by what its leaves hold: device
 *    details (24-byte values), the top-level mapping tree (values are blocks
 *    holding btree nodes) or a device's mapping tree.  The newest pair of a
 *    top-level and a details tree holding the same device ids wins (see
 *    meta_thin_find_roots); without one, the candidates with the most entries
 *    (ties: the higher block).
 * 3. The walk: the dump walker in repair mode skips what cannot be read.  For a
 *    key range lost under a damaged node, leaves that no live node reaches, that
 *    the metadata space map still counts as in use, whose keys lie inside that
 *    range and that no other candidate overlaps are salvaged into the device.
 * 4. The output: the restorer (thin_restore.h) writes it, superblock last.
 * 5. The proof: the full check (thin_check.h) runs over the output.  A repair
 *    that reports success has written metadata with no damage of any kind.
 *    When shared subtrees were kept (copied with their shape, which a pool the
 *    kernel did not write may have wrong, e.g. an under-full shared leaf) the
 *    output is written once more with every device's tree whole.  If it still
 *    fails, the output's superblock is zeroed (no pool to activate by
 *    mistake) and the repair fails with META_E_CORRUPT.
 */
#ifndef LIBMETA_THIN_REPAIR_H
#define LIBMETA_THIN_REPAIR_H

#include <libmeta/api.h>
#include <libmeta/damage.h>
#include <libmeta/thin_restore.h>

struct meta_thin_repair_opts {
	struct meta_thin_restore_opts out; /* force, overrides, crash injection */
	meta_damage_fn damage;             /* what was found damaged (and skipped) */
	void *damage_ctx;
};

struct meta_thin_repair_stats {
	bool used_superblock;     /* the input superblock was usable */
	bool scanned;             /* roots were found by scanning */
	uint64_t mapping_root, details_root;
	uint64_t nr_devices, nr_mappings, nr_salvaged; /* mappings: summed over devices */
	uint64_t nr_damage;
	/* the output written with shared subtrees failed its check (their shape came from
	 * the input): it was written again with every device's tree whole */
	bool rewritten_unshared;
	int unshared_reason; /* then: the enum meta_damage_kind it had (-1: did not open) */
	/* the output failed its own check (META_E_CORRUPT): a bug in the repair */
	bool check_failed;
};

/*
 * Errors: input open errors; META_E_CORRUPT when the output fails its own
 * check (a bug: the output is invalidated); META_E_INVAL when the superblock is unusable and
 * no data block size is given; META_E_NOTFOUND when no top-level mapping
 * tree can be found (the output's superblock is then zeroed); output errors as for the restorer.  err (may be NULL)
 * receives a one-line explanation.
 */
META_API int meta_thin_repair(const char *in, const char *out, const struct meta_thin_repair_opts *o,
			      struct meta_thin_repair_stats *st, char *err, size_t errlen);

/* Roots found by scanning (meta_thin_find_roots) and the values derived from them. */
struct meta_thin_found_roots {
	uint64_t mapping_root, details_root; /* 0: none */
	uint32_t time;                       /* newest mapping, creation or snapshot time */
	uint64_t transaction_id;             /* highest device transaction id + 1 */
	uint64_t nr_data_blocks;             /* highest mapped data block + 1 (at least 1) */
};

/*
 * Step 2 without a superblock: scan every metadata block of t (opened with
 * META_THIN_OPEN_NO_SB_CHECK) for root candidates and pick, newest first (by the
 * number of mappings per time, from the newest time down), a top-level mapping
 * tree and a details tree holding the same device ids, and as many mapped blocks
 * as the mapping trees hold when such a pair exists.  META_E_NOTFOUND when no
 * such pair exists.
 */
META_API int meta_thin_find_roots(struct meta_thin *t, struct meta_thin_found_roots *fr);

/*
 * Step 5 on its own, for any writer of whole pools: open the metadata at path
 * and run the full check.  0 when no damage of any severity is found.  Else
 * the superblock at path is zeroed and META_E_CORRUPT returned (err names the
 * first damage); META_E_IO / META_E_NOMEM when the check could not run.
 */
META_API int meta_thin_repair_verify(const char *path, char *err, size_t errlen);

#endif

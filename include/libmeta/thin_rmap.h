/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Reverse mapping of data blocks to thin devices (thin_rmap).
 *
 * For every device of the top-level mapping tree (dev_id order) and every
 * mapping of it (virtual-block order) whose data block lies in one of the
 * regions, runs are formed: a mapping extends the current run when it is of
 * the same device and both its data block and its virtual block follow the
 * run's ends.  Like 0.9's single depth-first walk of the two-level tree, a
 * node already reached through an earlier device is skipped with its subtree:
 * a leaf shared by several devices is reported only for the first (lowest
 * dev_id) device that reaches it.  The runs are then ordered by data_begin with the same
 * (unstable) introsort as libstdc++'s std::sort, so the order of runs with
 * equal data_begin matches thin-provisioning-tools 0.9 exactly.  Shared
 * subtrees are read once (see the mapping forest in thin_ls.h).
 */
#ifndef LIBMETA_THIN_RMAP_H
#define LIBMETA_THIN_RMAP_H

#include <stddef.h>
#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/damage.h>
#include <libmeta/thin.h>

/* Half-open data-block range [begin, end). */
struct meta_thin_region {
	uint64_t begin, end;
};

struct meta_thin_rmap_run {
	uint64_t data_begin, data_end; /* [data_begin, data_end) */
	uint64_t thin_begin;           /* virtual block of data_begin */
	uint32_t dev_id;               /* 32 bits, as 0.9 prints it */
};

/*
 * Compute the reverse map of the regions (any order, may overlap; empty ones
 * are ignored).  Damage: reported through dfn, returns META_E_CORRUPT.
 * Caller frees *out.
 */
META_API int meta_thin_rmap(struct meta_thin *t, const struct meta_thin_region *regions,
			    size_t nr_regions, struct meta_thin_rmap_run **out, size_t *n,
			    meta_damage_fn dfn, void *ctx);

/* The ordering step alone: libstdc++-compatible std::sort by data_begin. */
META_API void meta_thin_rmap_sort(struct meta_thin_rmap_run *runs, size_t n);

#endif

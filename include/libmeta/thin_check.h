/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Full consistency check of thin-pool metadata (what thin_check runs).
 *
 * meta_thin_check() validates, in this order: the superblock fields; the device
 * details tree; the top-level mapping tree; every bottom-level mapping tree; the
 * held root (metadata snapshot superblock and the trees reachable only from it);
 * then the metadata and data space maps against reference counts rebuilt in
 * memory.  Trees are read level by level with meta_bm_read_batch(), and shared
 * subtrees are read once.  Two threads: the batches are read, checksummed and
 * structurally checked ahead on a second thread (meta_bm_set_read_ahead,
 * meta_bm_set_batch_pre), which also counts the top 3/8 of the data blocks; every
 * report is made on the caller's thread, in the single-threaded order.  Memory: a
 * few bytes per metadata block and one byte per data block, plus bounded buffers
 * (4 MiB of read-ahead, one level's queue of nodes).
 *
 * Reference counts rebuilt:
 *   metadata block: +1 per distinct parent (superblock, held-root copy,
 *     top-level leaf entry, internal node); space-map blocks (metadata index
 *     block, bitmaps, ref-count and index tree nodes) count 1 per parent;
 *   data block: +1 per mapping entry in each distinct leaf (a shared leaf is
 *     counted once).
 *
 * Every problem is reported as a struct meta_damage through o->damage; the walk
 * continues past damage ([begin, end) names the keys lost, dev_id the device).
 * Leaks (on-disk count > 0 where the computed count is 0) are META_SEV_NONFATAL;
 * missing references and wrong counts are fatal.  With a metadata snapshot in
 * use (meta_thin_open with META_THIN_OPEN_METADATA_SNAP) the space maps are not
 * checked.
 */
#ifndef LIBMETA_THIN_CHECK_H
#define LIBMETA_THIN_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/damage.h>
#include <libmeta/thin.h>

enum meta_thin_check_phase {
	META_THIN_CHECK_SUPERBLOCK = 0,
	META_THIN_CHECK_DETAILS,     /* device details tree */
	META_THIN_CHECK_MAPPINGS,    /* top-level and bottom-level mapping trees */
	META_THIN_CHECK_DATA_SM,     /* data space map against the computed counts */
	META_THIN_CHECK_METADATA_SM, /* metadata space map against the computed counts */
	META_THIN_CHECK__NR_PHASES
};

/* Stable phase name ("mapping tree"); NULL for an unknown phase. */
META_API const char *meta_thin_check_phase_name(enum meta_thin_check_phase p);

struct meta_thin_check_opts {
	bool super_block_only; /* superblock fields only */
	bool skip_mappings;    /* superblock, details and top-level tree; no bottom
				  trees, no space maps */
	meta_damage_fn damage; /* may be NULL */
	void *damage_ctx;
	/*
	 * Progress (may be NULL): called when a phase starts (done = 0) and as it
	 * advances; total = 0 when unknown.  Phases come in increasing order; a
	 * phase that is skipped is not announced.
	 */
	void (*progress)(void *ctx, enum meta_thin_check_phase phase, uint64_t done,
			 uint64_t total);
	void *progress_ctx;
	/*
	 * Leaks as data (may be NULL): every leaked block is added to *leaks (ascending,
	 * the metadata map's and the data map's apart) instead of being reported as
	 * damage, and does not count in the result's worst and nr_damage (the counts
	 * metadata_leaked and data_leaked are still set).  The caller repairs them
	 * (thin_check --auto-repair: meta_thin_pool_set_count in
	 * include/libmeta/thin_pool.h, on a pool opened after the check) or reports
	 * them.  *leaks starts zeroed; free it with meta_thin_leaks_free().
	 */
	struct meta_thin_leaks *leaks;
};

struct meta_thin_check_result {
	int worst;                    /* worst enum meta_severity reported, -1 if none */
	uint64_t nr_damage[3];        /* damage records per severity */
	uint64_t transaction_id;      /* of the live superblock */
	uint64_t metadata_free_blocks; /* live metadata sm nr_blocks - nr_allocated */
	uint64_t nr_devices;          /* devices in the checked details tree */
	uint64_t nr_mappings;         /* mappings found in the checked trees */
	uint64_t nr_nodes;            /* distinct btree nodes read */
	uint64_t metadata_leaked, metadata_bad; /* blocks */
	uint64_t data_leaked, data_bad;         /* blocks */
	bool space_maps_checked;
};

/* Leaked blocks (opts.leaks): counted in use by a space map, referenced by nothing. */
struct meta_thin_leaks {
	uint64_t *metadata, *data;
	size_t nr_metadata, nr_data;
	size_t cap_metadata, cap_data;
};
META_API void meta_thin_leaks_free(struct meta_thin_leaks *l);

/*
 * Run the check.  Returns 0 when the check ran (look at r->worst for the
 * verdict), or an error for operational failure (META_E_NOMEM, META_E_IO on the
 * superblock, META_E_INVAL).  Damage never becomes a return code.
 */
META_API int meta_thin_check(struct meta_thin *t, const struct meta_thin_check_opts *o,
			     struct meta_thin_check_result *r);

#endif

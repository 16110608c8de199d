/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Thin-pool metadata walker for dumps: drives an emitter (emitter.h) with the
 * superblock, the devices and their mappings of an open pool.
 *
 * Devices come in dev_id order, mappings in virtual-block order, merged into
 * runs of consecutive virtual AND data blocks with one time across leaf
 * boundaries (range_map for runs >= 2, single_map for runs of 1), which is
 * exactly how thin-provisioning-tools 0.9 splits them.
 *
 * Reading is batched: for each device the internal nodes are read level by
 * level, then the leaves in key-ordered chunks of a few thousand, each chunk
 * fetched with meta_bm_read_batch() (sorted, coalesced preads).
 *
 * META_THIN_DUMP_SHARED: every subtree (a leaf, or an internal node with all
 * below it) reached from more than one of the selected devices becomes a `def`
 * named by its top block number (decimal), emitted once before the devices;
 * devices then `ref` it.  Only the topmost shared nodes are defs (a shared node
 * inside a def gets its own def only when some device reaches it another way).
 * Runs never cross a def boundary; empty defs produce nothing.  A def whose
 * subtree is damaged stops the dump (no dev_id in the damage report: it is
 * found while writing the defs); with REPAIR it is not made a def, and every
 * device reaching it walks it itself.  The 1.x thin_restore rebuilds the
 * sharing from this form.  Cost: the internal nodes are read twice more (to
 * find the shared nodes), each def's subtree twice (count, then emit), and no
 * device reads a def's blocks again.
 *
 * Damage: every problem found (unreadable or malformed node, device with no
 * details or no mapping tree) is reported through opts->damage with dev_id and
 * the lost key range.  Without META_THIN_DUMP_REPAIR the walk stops at the
 * first fatal damage and returns META_E_CORRUPT, leaving the output unfinished
 * (no closing elements).  With REPAIR it skips what cannot be read and keeps
 * every readable mapping: mapped_blocks is then the number of mappings
 * actually emitted, a device that only has a mapping tree gets details
 * synthesised from the superblock (transaction, time), a device that only has
 * details is emitted without mappings.  REPAIR reads each device twice (count,
 * then emit).
 *
 * The trees used are those of meta_thin_mapping_root()/meta_thin_details_root(),
 * so a caller that found roots some other way (a block scan, for a destroyed
 * superblock) passes them as override roots to meta_thin_open().
 */
#ifndef LIBMETA_THIN_DUMP_H
#define LIBMETA_THIN_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/damage.h>
#include <libmeta/emitter.h>
#include <libmeta/thin.h>

enum {
	META_THIN_DUMP_SKIP_MAPPINGS = 1u << 0, /* devices only */
	META_THIN_DUMP_REPAIR = 1u << 1,        /* best effort past damage */
	META_THIN_DUMP_SHARED = 1u << 2,        /* <def>/<ref> for shared leaves */
};

struct meta_thin_dump_opts {
	unsigned flags;
	/* Only these devices (any order, duplicates allowed); NULL/0 = all. */
	const uint64_t *dev_ids;
	size_t nr_dev_ids;
	/* Optional, nr_dev_ids entries: set true for each requested device that exists. */
	bool *dev_found;
	/* Superblock field overrides. */
	bool set_transaction_id, set_data_block_size, set_nr_data_blocks;
	uint64_t transaction_id;
	uint32_t data_block_size;
	uint64_t nr_data_blocks;
	/* Fatal damage found (non-fatal kinds like under-full nodes are not reported). */
	meta_damage_fn damage;
	void *damage_ctx;
	/* The superblock is rebuilt from a scan (meta_thin_find_roots): its time is this
	 * one, its version 2 (the other fields come from the overrides above). */
	bool rebuilt_sb;
	uint32_t time;
};

struct meta_thin_dump_stats {
	uint64_t nr_devices;  /* devices emitted */
	uint64_t nr_mappings; /* mappings emitted (refs count their def's mappings) */
	uint64_t nr_defs;     /* defs emitted */
	uint64_t nr_damage;   /* fatal damage reports */
};

/*
 * Dump t through e.  Returns META_OK, META_E_CORRUPT (damage without REPAIR),
 * META_E_NOMEM, or the first non-zero value returned by an emitter callback.
 * stats may be NULL.
 */
META_API int meta_thin_dump(struct meta_thin *t, const struct meta_thin_dump_opts *opts,
			    const struct meta_thin_emitter *e, struct meta_thin_dump_stats *stats);

#endif

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Differences between the mappings of two thin devices (thin_delta).
 *
 * Every virtual block mapped by at least one of the two devices is classified:
 *   SAME        both map it to the same data block
 *   DIFFERENT   both map it, to different data blocks
 *   LEFT_ONLY   only the left device maps it
 *   RIGHT_ONLY  only the right device maps it
 * Times are ignored.  The result is reported as ranges in increasing virtual
 * block order, through a callback:
 *   - plain mode: maximal runs of consecutive virtual blocks of one class
 *     (thin-provisioning-tools 0.9 `thin_delta` output);
 *   - META_DELTA_DATA: maximal runs that are also consecutive in the data blocks
 *     concerned (left for LEFT_ONLY/SAME, right for RIGHT_ONLY, both for
 *     DIFFERENT), with the first data block(s) filled in (0.9 `--verbose`).
 * The ranges depend only on the two mapping lists, never on the trees' shapes.
 *
 * The two mapping trees are walked together; a subtree that both trees reach
 * through the same block is identical in both and is not compared.  In plain
 * mode, when the mapped-block counts of the devices are given, such a subtree
 * is not read at all: it is taken to map every key of the range its parents'
 * keys give it, and that assumption is verified at the end against the counts
 * (if neither count agrees, the comparison is redone reading every shared
 * leaf).  The cost then follows the size of the difference, not of the devices.
 * With META_DELTA_DATA, or without counts, the leaves of shared subtrees are
 * read in batches (their mappings are not compared).  This is no checker: a
 * shared subtree that is not read is not validated either, and counts that
 * lie (device details disagreeing with the trees) can make the inference wrong.
 */
#ifndef LIBMETA_THIN_DELTA_H
#define LIBMETA_THIN_DELTA_H

#include <stdbool.h>
#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/bm.h>

enum meta_delta_kind {
	META_DELTA_LEFT_ONLY = 0,
	META_DELTA_RIGHT_ONLY = 1,
	META_DELTA_DIFFERENT = 2,
	META_DELTA_SAME = 3,
};

struct meta_delta_range {
	enum meta_delta_kind kind;
	uint64_t begin, len;   /* virtual blocks [begin, begin+len) */
	uint64_t left_data;    /* with META_DELTA_DATA: first left data block (LEFT_ONLY, SAME, DIFFERENT) */
	uint64_t right_data;   /* with META_DELTA_DATA: first right data block (RIGHT_ONLY, SAME, DIFFERENT) */
};

/* Returns 0 to continue, non-zero to stop (that value is returned by meta_delta_compare). */
typedef int (*meta_delta_fn)(void *ctx, const struct meta_delta_range *r);

enum {
	META_DELTA_DATA = 1u << 0,  /* split at data discontinuities, report data blocks */
	META_DELTA_EXACT = 1u << 1, /* never infer shared subtrees from counts: read them */
};

#define META_DELTA_UNKNOWN UINT64_MAX

struct meta_delta_opts {
	unsigned flags;
	/* mapped_blocks of each device (device details), or META_DELTA_UNKNOWN. */
	uint64_t left_mapped, right_mapped;
};

struct meta_delta_stats {
	uint64_t nodes_read;      /* btree nodes read to compare the trees */
	uint64_t shared_skipped;  /* shared subtrees not compared */
	uint64_t shared_nodes;    /* nodes of shared subtrees read (exact mode, spines) */
	bool inferred;            /* shared subtrees were inferred from the counts */
	bool fell_back;           /* counts disagreed; the comparison was redone exactly */
	uint64_t bad_block;       /* on a damage error: the block concerned */
};

/*
 * Compare the bottom-level mapping trees rooted at left_root and right_root
 * (value: le64 data_block << 24 | time).  o and st may be NULL.
 * Errors: META_E_NOMEM; node read/validation errors (META_E_CHECKSUM,
 * META_E_BLOCKNR, META_E_RANGE, META_E_IO); META_E_CORRUPT for a tree that is
 * malformed (wrong value size, keys out of order or outside the parent's range,
 * too deep); st->bad_block then names the block.  Ranges already delivered
 * before an error stay delivered.
 */
META_API int meta_delta_compare(struct meta_bm *bm, uint64_t left_root, uint64_t right_root,
				const struct meta_delta_opts *o, meta_delta_fn fn, void *ctx,
				struct meta_delta_stats *st);

META_API const char *meta_delta_kind_name(enum meta_delta_kind k); /* "left_only", "same"... */

#endif

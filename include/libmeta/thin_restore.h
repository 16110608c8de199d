/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Thin-pool restorer: an emitter (emitter.h) that writes a fresh, consistent
 * pool from the call sequence of the XML reader (thin_restore) or of the
 * metadata walker (thin_repair).
 *
 * Layout: block 0 superblock; then, in allocation order, every device's mapping
 * tree as it arrives (leaves packed full, the last two balanced, internal levels
 * bottom-up), the defs' shared leaves, the top-level mapping tree, the details
 * tree, the data space map (bitmaps, index tree, ref-count tree) and last the
 * metadata space map (ref-count tree, bitmaps, index block) that counts itself.
 * Reference counts follow the kernel: a metadata block once per parent, a
 * data block once per leaf that maps it.
 *
 * Crash safety: block 0 is zeroed (and flushed) before anything else is
 * written (by begin_superblock, the first emitter call: creating a restorer
 * writes nothing); the superblock is written last, after a flush.  A failure or crash
 * leaves a device with no valid superblock — never a half-written pool that
 * looks valid.  Output that already holds a valid thin superblock is refused
 * (META_E_EXISTS) unless force.
 */
#ifndef LIBMETA_THIN_RESTORE_H
#define LIBMETA_THIN_RESTORE_H

#include <stdbool.h>
#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/damage.h>
#include <libmeta/emitter.h>

#define META_THIN_RESTORE_MIN_BYTES 40960u /* smaller outputs are refused: META_E_TOOSMALL */

struct meta_thin_restore_opts {
	/* overwrite a valid thin superblock (the thin_restore tool always sets it, as tpt 1.x
	 * overwrites; it then runs the check pass first when the output holds metadata) */
	bool force;
	bool set_transaction_id, set_data_block_size, set_nr_data_blocks;
	uint64_t transaction_id;
	uint32_t data_block_size;
	uint64_t nr_data_blocks;
	/* crash tests: allow this many writes, then fail every write (0 = no injection) */
	uint64_t fail_writes_after;
	/* notes about the input that were corrected (e.g. a wrong mapped_blocks) */
	meta_damage_fn note;
	void *note_ctx;
};

struct meta_thin_restorer;

/* Open the output (read-write, O_EXCL on devices), check it, zero its superblock. */
META_API int meta_thin_restorer_create(const char *path, const struct meta_thin_restore_opts *o,
				       struct meta_thin_restorer **out);
META_API struct meta_thin_emitter meta_thin_restorer_emitter(struct meta_thin_restorer *r);
/* Message for the last error returned by an emitter callback (NULL if none). */
META_API const char *meta_thin_restorer_message(void *restorer);
/* Write both space maps and, last, the superblock.  Only after end_superblock. */
META_API int meta_thin_restorer_commit(struct meta_thin_restorer *r);
/*
 * Check pass, for an output whose contents are worth keeping until the input is
 * known to be good: between check_begin and check_end the emitter makes every
 * check a restore makes (structure, ids, order, refs, nr_data_blocks, data
 * block ranges) and writes nothing; check_end then returns META_E_NOSPC when
 * the output is certainly too small (space maps plus mapping leaves, a lower
 * bound), or META_E_XML when the input ended early, and readies the restorer
 * for the real pass (drive the emitter again with the same input: the data
 * block reference counts made by the check pass are kept and not made again).
 * It also returns META_E_NOSPC when the output may be too small (between a
 * lower and an upper bound), and reserves the blocks of an output file
 * (fallocate) so a full filesystem shows before the first write.
 * check_begin fails (META_E_INVAL) once the emitter has been used.
 */
META_API int meta_thin_restorer_check_begin(struct meta_thin_restorer *r);
META_API int meta_thin_restorer_check_end(struct meta_thin_restorer *r);
/* True once the output has been written to (its superblock zeroed). */
META_API bool meta_thin_restorer_touched(const struct meta_thin_restorer *r);
/* Free; an uncommitted output keeps its zeroed superblock. */
META_API void meta_thin_restorer_destroy(struct meta_thin_restorer *r);

#endif

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The offline thin-pool engine: what the kernel's thin-pool target does to its
 * metadata (drivers/md/dm-thin-metadata.c), done in user space through the
 * transaction manager, so that every image it leaves is one the kernel would
 * have left.
 *
 * A pool is opened read-write (O_EXCL on block devices).  Every operation
 * changes the open transaction; meta_thin_pool_commit() makes it durable, the
 * superblock last, as the kernel commits after every message.  Closing without
 * a commit abandons the transaction: the device still holds the last commit.
 * After any error the pool refuses further operations (META_E_INVAL) except
 * close: the caller abandons, as the kernel puts a failing pool in fail mode.
 *
 * Operations and their errors (the kernel's errno in brackets):
 *   create_thin dev          META_E_DEV_EXISTS (EEXIST)
 *   create_snap dev origin   META_E_DEV_EXISTS; META_E_NOTFOUND: no origin (ENODATA)
 *   delete dev               META_E_NOTFOUND (ENODATA)
 *   set_transaction_id o n   META_E_TRANS_ID: o is not the current id (EINVAL)
 *   reserve_metadata_snap    META_E_SNAP_HELD: one is held already (EBUSY)
 *   release_metadata_snap    META_E_NOSNAP: none is held (EINVAL)
 *   data/metadata resize     META_E_SHRINK: smaller than now (EINVAL)
 *   any of them              META_E_NOSPC: the metadata device is full;
 *                            META_E_CORRUPT: a block on the way failed its checks
 * Device ids are 24-bit (0..2^24-1) as in the kernel (META_E_RANGE otherwise).
 */
#ifndef LIBMETA_THIN_POOL_H
#define LIBMETA_THIN_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/thin.h>

#define META_THIN_MAX_DEV_ID ((1ull << 24) - 1)

enum {
	/* Format the device first when its superblock is all zeros (as the kernel does on
	 * first activation); without it a zeroed superblock is META_E_BLANK. */
	META_THIN_POOL_FORMAT = 1u << 0,
	/* Format even over a superblock that is not all zeros. */
	META_THIN_POOL_FORCE_FORMAT = 1u << 1,
	/* Open a pool whose needs_check flag is set (for the repairs a check asks for:
	 * space-map counts, the flag itself); without it such a pool is refused. */
	META_THIN_POOL_NEEDS_CHECK_OK = 1u << 2,
	/* Leave the space maps' sizes as they are: no growth of the metadata map to the
	 * device's size at open (nor of the data map to opts->nr_data_blocks). */
	META_THIN_POOL_KEEP_SIZE = 1u << 3,
	/* Read only the superblock (the space maps and trees are not opened, so damage in
	 * them does not stop it): the only change possible is set_needs_check, committed
	 * as a new superblock; every other operation is META_E_INVAL, and info's counts
	 * are the superblock's. */
	META_THIN_POOL_SUPERBLOCK_ONLY = 1u << 4,
};

struct meta_thin_pool_opts {
	unsigned flags;
	/* sectors, for a format (the kernel's rule: 128..2097152, x128); on open, when
	 * given, it must be the pool's (META_E_BLOCK_SIZE, as the kernel refuses a table
	 * that changes it) */
	uint32_t data_block_size;
	uint64_t nr_data_blocks;  /* for a format; on open, grow the data map to it (0: keep) */
	size_t cache_blocks;      /* 0: default */
};

struct meta_thin_pool;

/*
 * Open (and with FORMAT, format) a pool's metadata for writing.  On open, a
 * metadata device larger than the space map grows the map, as the kernel does
 * at activation, in the first transaction (not with KEEP_SIZE).  A pool whose
 * needs_check flag is set is refused (META_E_NEEDS_CHECK), as the kernel keeps it
 * read-only, unless NEEDS_CHECK_OK is given.  *formatted
 * (may be NULL) says whether a format was done (and committed).
 */
META_API int meta_thin_pool_open(const char *path, const struct meta_thin_pool_opts *o,
				 struct meta_thin_pool **out, bool *formatted);
/* Abandons an uncommitted transaction. */
META_API void meta_thin_pool_close(struct meta_thin_pool *p);

META_API int meta_thin_pool_create_thin(struct meta_thin_pool *p, uint64_t dev);
META_API int meta_thin_pool_create_snap(struct meta_thin_pool *p, uint64_t dev, uint64_t origin);
META_API int meta_thin_pool_delete(struct meta_thin_pool *p, uint64_t dev);
META_API int meta_thin_pool_set_transaction_id(struct meta_thin_pool *p, uint64_t old_id,
					       uint64_t new_id);
META_API int meta_thin_pool_reserve_metadata_snap(struct meta_thin_pool *p);
META_API int meta_thin_pool_release_metadata_snap(struct meta_thin_pool *p);
META_API int meta_thin_pool_resize_data(struct meta_thin_pool *p, uint64_t nr_blocks);
META_API int meta_thin_pool_resize_metadata(struct meta_thin_pool *p, uint64_t nr_blocks);
META_API int meta_thin_pool_commit(struct meta_thin_pool *p);

/*
 * Repairs a check asks for (thin_check --auto-repair, --clear-needs-check-flag),
 * committed like any other change: copy-on-write, the superblock last.
 *
 * set_count: block b's count in the data or the metadata space map becomes count
 * (a leak: 0, or the count the check found).  Nothing else changes: the caller
 * vouches that count is the true number of references.  A metadata block given
 * back stays out of the allocator until the commit has landed, as every block the
 * last commit used.  META_E_RANGE: b is past the map.  The cost is one step per
 * unit of difference between the old count and the new.
 */
enum meta_thin_pool_map { META_THIN_POOL_DATA_MAP, META_THIN_POOL_METADATA_MAP };
META_API int meta_thin_pool_set_count(struct meta_thin_pool *p, enum meta_thin_pool_map map,
				      uint64_t b, uint32_t count);
/* The superblock's needs_check flag, set or cleared at the next commit. */
META_API int meta_thin_pool_set_needs_check(struct meta_thin_pool *p, bool on);

/*
 * One message as `dmsetup message <pool> 0 ...` takes it (argv[0] the name), run
 * and committed.  META_E_NOSPC without running it when no metadata block is free
 * beyond the kernel's reserve (min(4096, a tenth of the blocks)): the kernel's pool
 * is then in out-of-metadata-space mode and refuses messages.  META_E_MSG_UNKNOWN: no such message (the 6.1 kernel's list:
 * create_thin, create_snap, delete, set_transaction_id, reserve_metadata_snap,
 * release_metadata_snap); META_E_MSG_ARGS: wrong number or form of arguments.
 */
/* Whether name is one of those messages (compared without case). */
META_API bool meta_thin_pool_is_message(const char *name);
META_API int meta_thin_pool_message(struct meta_thin_pool *p, int argc, const char *const *argv);

/* The superblock as the last commit (or the open transaction) has it. */
struct meta_thin_pool_info {
	uint64_t trans_id, held_root;
	uint32_t time, data_block_size, flags;
	uint64_t nr_metadata_blocks, nr_free_metadata_blocks;
	uint64_t nr_data_blocks, nr_free_data_blocks;
};
META_API void meta_thin_pool_info(const struct meta_thin_pool *p, struct meta_thin_pool_info *i);

#endif

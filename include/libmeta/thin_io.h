/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Thin I/O: the data path of the `thin` target (drivers/md/dm-thin.c, Linux 6.1)
 * run on an offline pool, so that a pool this engine wrote into holds, block for
 * block, what the kernel would have left.
 *
 * A volume is a thin device of a pool opened with meta_thin_pool_open()
 * (thin_pool.h), the pool's data device (attached once to the pool), and, for a
 * thin volume with an external origin, that origin (a read-only device or image:
 * the blocks the volume never mapped read from it, up to its size; zeros past it).
 * Offsets and lengths are in bytes and need no alignment.
 *
 * What each call does, as 6.1 does it (per data block the range touches):
 *  - Sharing is the kernel's rule, not the reference count: a mapped block is
 *    shared when its time stamp is older than the device's snapshotted_time.
 *  - write, mapped and not shared: the bytes go in place.
 *  - write, mapped and shared: break sharing: a new block is allocated; unless the
 *    write covers the whole block, the old block is copied into it first; then the
 *    write, then the device maps the new block (the old one loses a reference).
 *  - write, unmapped: a new block is allocated; unless the write covers the whole
 *    block, it is filled first: from the external origin when the block starts below
 *    the origin's end (its size in whole sectors; the part past it zeroed), else with
 *    zeros; with META_THIN_IO_SKIP_ZEROING (the table's skip_block_zeroing) nothing is
 *    zeroed (the origin's part is still copied) and the rest of the block keeps the
 *    data device's old bytes; then the write, then the mapping.
 *  - New mappings carry the pool's current time.  The device's mapped_blocks
 *    follows.  Its transaction_id does not change: the kernel sets it when a device
 *    is created and __write_changed_details writes it back as it was.
 *  - Data reaches the data device before the metadata commit that maps it (the
 *    commit flushes the data device first, as the kernel's pre-commit callback): a
 *    crash before the commit leaves the old mappings, and the new blocks free.
 *    Within one write call the new blocks are written first and the in-place
 *    overwrites of unshared mapped blocks last; those go in place, as in the
 *    kernel, so neither an abandoned transaction nor a crash undoes them.
 *  - discard: every whole block inside the range is unmapped; the parts of blocks
 *    at either end are left alone (the kernel ignores a discard of part of a
 *    block).  After the commit has landed, the data blocks these discards unmapped
 *    whose count is then 0 are discarded on the data device (meta_io_discard():
 *    punched out of an image, BLKDISCARD on a device), as the pool's
 *    discard_passdown does, unless META_THIN_IO_NO_PASSDOWN.  A data device or file
 *    system that cannot discard, or a passdown that fails, is ignored (the blocks
 *    are free in the metadata either way), as the kernel ignores a data device
 *    without discard support.
 *  - read: the volume as this transaction sees it (unmapped: the origin's bytes or
 *    zeros).
 *  - Nothing is committed by these calls: meta_thin_pool_commit() commits (and then
 *    passes the discards down).  A tool commits once per call, or every N blocks.
 *
 * Errors: META_E_DATA_NOSPC, no free data block (the kernel's out-of-data-space
 * mode: the call fails and the pool takes nothing more; close abandons the
 * transaction); META_E_VOL_END, the range runs past the volume's size;
 * META_E_NOTFOUND, no such device; META_E_DATA_SIZE, the data device is smaller
 * than the pool's data blocks; META_E_IO from the data device or the origin; and
 * every error of thin_pool.h.  After an error the pool refuses further changes, as
 * after a failed message.
 */
#ifndef LIBMETA_THIN_IO_H
#define LIBMETA_THIN_IO_H

#include <stddef.h>
#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/io.h>
#include <libmeta/thin_pool.h>

enum {
	META_THIN_IO_SKIP_ZEROING = 1u << 0, /* the pool's skip_block_zeroing feature */
	META_THIN_IO_NO_PASSDOWN = 1u << 1,  /* the pool's no_discard_passdown feature */
};

/*
 * Give the pool its data device (opened by the caller, META_IO_WRITE for writes;
 * borrowed: it must outlive the pool).  flags: META_THIN_IO_*.
 */
META_API int meta_thin_pool_attach_data(struct meta_thin_pool *p, struct meta_io *data,
					unsigned flags);

struct meta_thin_vol;

/*
 * A volume of device dev.  size: the volume's length in bytes, as its table line
 * gives it (0: no limit but the 2^64-byte space).  origin (may be NULL, borrowed):
 * the external origin.  The volume follows the pool's transaction: messages run
 * between its calls (a snapshot of it, say) are seen by the next call.
 */
META_API int meta_thin_vol_open(struct meta_thin_pool *p, uint64_t dev, struct meta_io *origin,
				uint64_t size, struct meta_thin_vol **out);
META_API void meta_thin_vol_close(struct meta_thin_vol *v);

META_API int meta_thin_vol_write(struct meta_thin_vol *v, uint64_t off, const void *buf,
				 size_t len);
META_API int meta_thin_vol_discard(struct meta_thin_vol *v, uint64_t off, uint64_t len);
META_API int meta_thin_vol_read(struct meta_thin_vol *v, uint64_t off, void *buf, size_t len);

#endif

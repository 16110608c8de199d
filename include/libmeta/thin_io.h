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
 *    zeros); meta_thin_vol_map() tells where each byte comes from.
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

/*
 * Where a range's bytes are: the lookup meta_thin_vol_read() itself makes (a read is
 * meta_thin_vol_map() then meta_thin_vol_read_mapped()).  m receives runs covering
 * [off, off+len) in volume order, each one of:
 *  - META_THIN_AT_DATA: mapped; the bytes are on the data device at byte `at`
 *    (consecutive virtual blocks on consecutive data blocks are one run);
 *  - META_THIN_AT_ORIGIN: unmapped, below the external origin's end: the origin's
 *    bytes at byte `at` (== off);
 *  - META_THIN_AT_ZERO: unmapped, no origin there: zeros (`at` is 0).
 * Adjacent runs never continue each other.  m starts zeroed ({0}) and may be reused
 * for later calls (its memory grows); meta_thin_map_free() releases it.
 *
 * Valid until the pool next changes: a write or discard on any of its volumes, a
 * message, or its close.  A discard or a write that breaks sharing frees data blocks
 * a map may name, and a later write may reuse them: a caller reading the runs outside
 * its own lock must keep such changes out until the reads are done (the nbdkit
 * plugin: reads share a lock the changes take exclusively).  A commit changes no
 * mapping.  Errors: those of meta_thin_vol_read() before any byte moves; META_E_CORRUPT
 * when the device's mapping tree is damaged (keys out of order).
 */
enum meta_thin_at {
	META_THIN_AT_DATA = 1,
	META_THIN_AT_ORIGIN = 2,
	META_THIN_AT_ZERO = 3,
};

struct meta_thin_run {
	uint64_t off, len; /* bytes of the volume */
	uint64_t at;       /* byte offset on the data device or the origin; 0 for zeros */
	enum meta_thin_at where;
};

struct meta_thin_map {
	struct meta_thin_run *run;
	size_t n, cap;
};

META_API int meta_thin_vol_map(struct meta_thin_vol *v, uint64_t off, uint64_t len,
			       struct meta_thin_map *m);
META_API void meta_thin_map_free(struct meta_thin_map *m);

/*
 * The bytes m (a map of [off, off+len) by meta_thin_vol_map()) names, into buf: preads
 * of the data device and the origin, zeros.  data, origin: other opens of the pool's
 * data device and the volume's origin to read through (a reader's own descriptors keep
 * their own readahead, as several sequential streams on one descriptor defeat it), or
 * NULL for the ones the pool and the volume were given.  Touches no pool state: several
 * threads may run it at once, and beside meta_thin_vol_map() calls, while the map is
 * valid.  META_E_IO from a read.
 */
META_API int meta_thin_vol_read_mapped(struct meta_thin_vol *v, const struct meta_thin_map *m,
				       uint64_t off, void *buf, struct meta_io *data,
				       struct meta_io *origin);

#endif

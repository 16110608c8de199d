/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libmeta I/O engine: image files and block devices.
 *
 * Block devices are opened O_EXCL when META_IO_EXCL is given (the kernel then
 * refuses the open with EBUSY while a pool, a snapshot target, a mount or
 * another exclusive opener holds the device); on regular files O_EXCL has no
 * meaning and is not used.  Writes never happen unless META_IO_WRITE.
 *
 * Block devices are always opened O_DIRECT, for reading and for writing, on
 * one descriptor: no block of a device ever comes from (or goes through) its
 * page cache.  A kernel that keeps a pool or snapshot active writes its
 * metadata beneath that cache, and while anything holds the device open the
 * pages one run cached would be served stale to the next (a live pool's
 * metadata snapshot read with thin_dump -m, a thin_delta of a live pool).
 * The engine hides O_DIRECT's rules from callers: any buffer, offset and
 * length work; requests that are not aligned to the device's logical block
 * size (BLKSSZGET) go through an aligned bounce buffer in pieces of at most
 * 1 MiB (writes then read-modify-write the partial logical blocks at both
 * ends).  Aligned requests (4096-aligned buffers, as the block cache's) are
 * read straight into the caller's memory.  meta_io_willneed() does nothing on
 * devices: callers wanting speed read long contiguous runs themselves
 * (meta_bm_read_batch(), meta_bm_prefetch()).
 *
 * Regular files are read and written through the page cache: the loop driver
 * and every other writer of a file go through that same cache, so buffered
 * reads of a file are coherent.
 *
 * Fault injection for crash tests: meta_io_fail_writes_after(io, n) makes the
 * n+1-th and every later write fail with EIO, as if the machine stopped there.
 */
#ifndef LIBMETA_IO_H
#define LIBMETA_IO_H

#include <stddef.h>
#include <stdint.h>
#include <libmeta/api.h>

struct meta_io;

enum {
	META_IO_WRITE = 1u << 0,  /* open read-write */
	META_IO_EXCL = 1u << 1,   /* O_EXCL on block devices */
	META_IO_DIRECT = 1u << 2, /* kept for compatibility: block devices are always O_DIRECT */
};

/* Opens path. Errors: META_E_NOENT, META_E_ISDIR, META_E_PERM, META_E_BUSY, META_E_IO. */
META_API int meta_io_open(const char *path, unsigned flags, struct meta_io **out);
META_API void meta_io_close(struct meta_io *io);
META_API uint64_t meta_io_size(const struct meta_io *io);       /* bytes */
META_API int meta_io_is_blockdev(const struct meta_io *io);
META_API const char *meta_io_path(const struct meta_io *io);
/* 1 when reads and writes bypass the page cache (block devices), else 0. */
META_API int meta_io_is_direct(const struct meta_io *io);
/* Alignment that avoids the bounce buffer: the logical block size; 0 for files. */
META_API size_t meta_io_align(const struct meta_io *io);
/*
 * A data buffer of at least len bytes for meta_io_pread/pwrite and plain read/write: page-aligned
 * (4096), its size rounded up to a page.  Copies between the page cache and a page-aligned
 * buffer run several times faster than into malloc()'s 16-byte-aligned memory, and O_DIRECT
 * requests from it skip the bounce buffer.  Release with free(); NULL when out of memory.
 */
META_API void *meta_io_buf_alloc(size_t len);
/* errno of the last failed system call (for META_E_IO messages). */
META_API int meta_io_errno(const struct meta_io *io);
/*
 * Whole-buffer positional read/write; short reads past the end are META_E_IO.  Several
 * threads may call meta_io_pread() on one io at once (nothing else may run beside them:
 * writes, discards, flushes and close want the io alone); meta_io_errno() then names one
 * of the failures.
 */
META_API int meta_io_pread(struct meta_io *io, void *buf, size_t len, uint64_t off);
META_API int meta_io_pwrite(struct meta_io *io, const void *buf, size_t len, uint64_t off);
/*
 * Discard [off, off+len) bytes: on a regular file, punch a hole (fallocate
 * PUNCH_HOLE|KEEP_SIZE: the range reads zeros and its blocks are freed; the size
 * stays); on a block device, BLKDISCARD of the logical blocks wholly inside the
 * range (the partial logical blocks at either end are left alone; what a
 * discarded range reads afterwards is up to the device).  Needs META_IO_WRITE.
 * Counts as a write for meta_io_fail_writes_after().  len 0 does nothing.
 * Errors: META_E_UNSUPPORTED (the file system or device cannot discard),
 * META_E_PERM, META_E_IO (meta_io_errno() tells).
 */
META_API int meta_io_discard(struct meta_io *io, uint64_t off, uint64_t len);
/* fdatasync (files) / BLKFLSBUF-free fsync (devices). */
META_API int meta_io_flush(struct meta_io *io);
/*
 * Start writing [off, off+len) out of the page cache (sync_file_range WRITE; nothing on
 * devices, which are O_DIRECT); never fails.  Not a flush: nothing is durable before
 * meta_io_flush().  A long copy calls it after each piece so that its final flush finds
 * the disk already busy with the data instead of starting it all then.
 */
META_API void meta_io_writeback(struct meta_io *io, uint64_t off, uint64_t len);
/* Read-ahead hint for [off, off+len) (posix_fadvise WILLNEED; nothing on devices); never fails. */
META_API void meta_io_willneed(struct meta_io *io, uint64_t off, uint64_t len);
/* Crash simulation: allow n more writes, then fail every write with EIO. */
META_API void meta_io_fail_writes_after(struct meta_io *io, uint64_t n);
/* Number of successful writes so far (crash tests count them). */
META_API uint64_t meta_io_nr_writes(const struct meta_io *io);
/*
 * Open binary metadata input: meta_io_open(), then META_E_LOOKSXML if it starts
 * like XML and META_E_TOOSMALL if it is smaller than min_bytes.
 */
META_API int meta_io_open_input(const char *path, unsigned flags, uint64_t min_bytes,
				struct meta_io **out);
/*
 * Do paths a and b name the same storage, or storage that overlaps?  True for
 * the same inode (hard links, symlinks, /proc/PID/fd paths included), for two
 * nodes of one block device, for a block device and a device stacked on it or
 * below it (a partition and its disk, a loop device and its backing file, a
 * device-mapper device and the devices in its table, through any depth of
 * stacking).  Two partitions of one disk do not overlap.  A path that does not
 * exist overlaps nothing.  Returns 1 or 0; never fails.
 */
META_API int meta_io_same_storage(const char *a, const char *b);
/* Read-only sniff used by tools: META_E_LOOKSXML if the first bytes look like XML. */
META_API int meta_io_sniff_xml(struct meta_io *io);

#endif

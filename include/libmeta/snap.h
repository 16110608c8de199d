/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Classic dm-snapshot persistent exception store (targets snapshot,
 * snapshot-origin, snapshot-merge; kernel drivers/md/dm-snap-persistent.c).
 *
 * Units: a sector is 512 bytes; chunk_size is in sectors; a chunk is
 * chunk_size*512 bytes.  All integers are little-endian.  "old chunk" indexes
 * the origin, "new chunk" the COW device.
 *
 * COW layout, in chunks (E = exceptions per area = chunk_size*512/16):
 *   chunk 0              header
 *   chunk 1 + k*(E+1)    metadata area k (one chunk of E 16-byte records)
 *   other chunks         data chunks holding copied origin chunks
 *
 * Header (chunk 0; the rest of the chunk is zero when the kernel writes it):
 *   0 le32 magic      0x70416e53 ("SnAp"); 0 means "new store, initialise me"
 *   4 le32 valid      1 usable; 0 invalidated (overflow or I/O error): no
 *                     exceptions are read and the status line says Invalid
 *   8 le32 version    1 (anything else: activation fails)
 *  12 le32 chunk_size sectors; power of two, 1 .. 2^21
 *
 * Exception record (16 bytes): le64 old_chunk, le64 new_chunk.
 * The list runs over areas 0,1,2,... and slots 0..E-1 and ends at the first
 * record whose new_chunk is 0 (old_chunk is not looked at).  When an area
 * fills, the kernel writes the next area as zeros before writing the full
 * area, so a reader that finds area k full always finds area k+1 to read.
 *
 * Allocation: next_free starts at 2 and skips area chunks; on load it is
 * max(new_chunk)+1 over all records (bumped past an area chunk).  A new data
 * chunk must fit wholly in the device.  Usage reported by the kernel:
 *   sectors_allocated = next_free * chunk_size
 *   total_sectors     = COW size in sectors
 *   metadata_sectors  = (current_area + 2) * chunk_size
 * where current_area is the index of the first area that is not full.
 *
 * Commit: the data copy is made first; the record goes into the in-memory
 * area, and the whole area chunk is written with PREFLUSH|FUA.
 * Merge (snapshot-merge): newest record first; a batch is the last record of
 * the current area plus the records right before it that are consecutive in
 * both old and new chunk (within the area); the batch is copied COW → origin,
 * the origin is flushed, then the batch's records are zeroed and the area
 * written with PREFLUSH|FUA.  An emptied area steps back to the previous one,
 * re-read from disk as full.  The merge is complete when area 0 is empty.
 * (The offline merge copies in exactly this order but groups many batches
 * under one origin flush and one store flush; the invariant is the kernel's:
 * a record is cleared only once the data it names is durable on the origin.)
 */
#ifndef LIBMETA_SNAP_H
#define LIBMETA_SNAP_H

#include <stdbool.h>
#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/damage.h>
#include <libmeta/io.h>

#define META_SNAP_MAGIC 0x70416e53u
#define META_SNAP_VERSION 1u
#define META_SNAP_MAX_CHUNK_SIZE (1u << 21) /* sectors: INT_MAX >> 9 rounded down to 2^n */
#define META_SNAP_EXCEPTION_SIZE 16u

struct meta_snap_header {
	uint32_t magic, valid, version, chunk_size;
};

struct meta_snap_exception {
	uint64_t old_chunk, new_chunk;
};

/* Layout arithmetic, shared by every user of the format. */
META_API uint64_t meta_snap_exceptions_per_area(uint32_t chunk_size);
META_API uint64_t meta_snap_area_location(uint32_t chunk_size, uint64_t area);
META_API bool meta_snap_is_area_chunk(uint32_t chunk_size, uint64_t chunk);
/* New chunk the kernel gives the i-th exception of a store written in order. */
META_API uint64_t meta_snap_nth_new_chunk(uint32_t chunk_size, uint64_t i);
/* 0 if chunk_size is legal for the format. */
META_API int meta_snap_check_chunk_size(uint32_t chunk_size);

struct meta_snap;

enum {
	META_SNAP_OPEN_WRITE = 1u << 0,
	META_SNAP_OPEN_EXCL = 1u << 1,
};

/*
 * Open a COW device or image and load its exceptions exactly as the kernel's
 * read_exceptions does.  Errors: open errors of meta_io_open, META_E_TOOSMALL
 * (< 512 bytes), META_E_LOOKSXML, META_E_BADMAGIC (not "SnAp" and not 0),
 * META_E_VERSION, META_E_CORRUPT (illegal chunk size).  A store whose areas run
 * past the end of the device opens, with meta_snap_truncated() true (the kernel
 * would refuse it); an all-zero store opens as "new" with no exceptions.
 */
META_API int meta_snap_open(const char *path, unsigned flags, struct meta_snap **out);
META_API void meta_snap_close(struct meta_snap *s);
META_API const struct meta_snap_header *meta_snap_get_header(const struct meta_snap *s);
META_API bool meta_snap_is_new(const struct meta_snap *s);
META_API bool meta_snap_truncated(const struct meta_snap *s);
META_API uint64_t meta_snap_cow_sectors(const struct meta_snap *s);
/* The store's device (meta_io_path(), meta_io_errno() after a failure). */
META_API struct meta_io *meta_snap_get_io(const struct meta_snap *s);
/* Exceptions in on-disk order; valid until the store is closed or changed. */
META_API const struct meta_snap_exception *meta_snap_exceptions(const struct meta_snap *s,
								uint64_t *n);
struct meta_snap_usage {
	uint64_t sectors_allocated, total_sectors, metadata_sectors;
	uint64_t current_area, current_committed, next_free;
};
META_API void meta_snap_get_usage(const struct meta_snap *s, struct meta_snap_usage *u);
/* The kernel's status text: "A/T M", or "Invalid". buf >= 64 bytes. */
META_API void meta_snap_status(const struct meta_snap *s, char *buf, size_t len);

/*
 * Check every invariant a careful reader can enforce (header, areas inside the
 * device, terminator, new chunks legal and unique, old chunks unique and inside
 * the origin when origin_sectors != 0, garbage after the terminator, kernel
 * allocation order).  Damage goes to fn; returns the worst severity or -1.
 */
META_API int meta_snap_check(struct meta_snap *s, uint64_t origin_sectors, meta_damage_fn fn,
			     void *ctx);

/*
 * What merge, the snapshot view and the write engine rely on, checked before
 * they use a store: META_OK when the store is new or meta_snap_check finds no
 * fatal damage (old chunks are checked against origin_sectors when it is not
 * 0); otherwise META_E_CORRUPT, with every fatal damage record passed to fn
 * (may be NULL) — a store marked invalid is one record, SNAP_INVALID, unless
 * META_SNAP_VERIFY_ALLOW_INVALID (the write engine: the kernel keeps an invalid
 * snapshot and fails its I/O).  META_E_NOMEM/META_E_IO when the check cannot run.
 * meta_snap_merge(), meta_snap_read_view() and meta_snap_engine_add() make this
 * check themselves and refuse with its error; tools call it first to name the
 * damage before they open anything for writing.
 */
enum { META_SNAP_VERIFY_ALLOW_INVALID = 1u << 0 };
META_API int meta_snap_verify(struct meta_snap *s, uint64_t origin_sectors, unsigned flags,
			      meta_damage_fn fn, void *ctx);

/*
 * Write a store holding exactly `ex` (in that order) the way the kernel would
 * have written it: header chunk, every area up to and including the partial
 * one, an all-zero next area when the last one is exactly full.  Data chunks
 * are not touched.  The header is first written with valid=0 and made valid
 * last, so a failure leaves a store the kernel refuses.  Refuses (META_E_EXISTS)
 * a device that already holds a valid store, or metadata of another family
 * (meta_family_sniff(): thin pool, daniel store, pack, XML), unless force;
 * META_E_TOOSMALL when the areas do not fit in the device (nothing written);
 * META_E_INVAL for illegal records (nothing written); META_E_NOSPC when a write
 * finds the filesystem or device holding path full (the store is left invalid).
 */
META_API int meta_snap_restore(const char *path, const struct meta_snap_header *h,
			       const struct meta_snap_exception *ex, uint64_t n, bool force,
			       meta_damage_fn fn, void *ctx);

/*
 * Snapshot view: read `len` bytes at byte offset `off` of the snapshot.
 * META_E_CORRUPT when meta_snap_verify() (against the origin's size) fails:
 * the kernel would show no view of such a store.
 */
META_API int meta_snap_read_view(struct meta_snap *s, struct meta_io *origin, uint64_t off,
				 void *buf, size_t len);

/*
 * The view of bytes [begin, end) (end clamped to the origin's size) — s's
 * exceptions over the origin, the origin alone when s is NULL — handed to out
 * in order, in pieces of at most 1 MiB.  Returns META_OK, META_E_NOMEM, an
 * error of meta_snap_read_view() or of a read (*at: the byte offset of the
 * piece that failed), or the non-zero value out returned (*at: its piece).
 */
typedef int (*meta_snap_out_fn)(void *ctx, const void *buf, size_t len);
META_API int meta_snap_export_view(struct meta_snap *s, struct meta_io *origin, uint64_t begin,
				   uint64_t end, meta_snap_out_fn out, void *ctx, uint64_t *at);

struct meta_snap_batch {
	uint64_t old_chunk, new_chunk, nr_chunks; /* first chunks of the batch, ascending */
};

/*
 * Offline merge into the origin in the kernel's order (see the header comment).
 * For each batch: on_batch (may be NULL) is called first; with dry_run nothing
 * is written.  After the last batch of a real merge on_batch is called once
 * more with b == NULL (progress 100 %).  *stop, when non-NULL and set (signal handler, test), ends the
 * merge cleanly between batches with META_E_INTERRUPTED; max_batches > 0 stops
 * after that many batches (crash tests).  Refuses a store that fails
 * meta_snap_verify() — invalid, truncated, any fatal damage, also when it holds
 * no exception (META_E_CORRUPT, the damage passed to o->damage) — and old chunks
 * past the origin (META_E_RANGE).  A real merge first clears records that a torn or
 * reordered clearing left after the terminator (ignored by the kernel), so a resumed
 * merge ends byte for byte as an uninterrupted one; when the store holds no exception
 * that is all it does, and origin may be NULL.
 */
struct meta_snap_engine;
struct meta_snap_merge_opts {
	bool dry_run;
	/*
	 * Other snapshots of the same origin (may be NULL): the merge writes the
	 * origin through this engine, so each of them gets its copy-outs before an
	 * origin chunk is overwritten — as the kernel's snapshot-merge does by
	 * pushing the range through the origin write path.  Build the engine over
	 * the same origin io, without the snapshot being merged.
	 */
	struct meta_snap_engine *others;
	volatile int *stop;
	uint64_t max_batches;
	int (*on_batch)(void *ctx, const struct meta_snap_batch *b, uint64_t done_chunks,
			uint64_t total_chunks);
	void *ctx;
	/* fatal damage found by the merge's meta_snap_verify() (may be NULL) */
	meta_damage_fn damage;
	void *damage_ctx;
};
META_API int meta_snap_merge(struct meta_snap *s, struct meta_io *origin,
			     const struct meta_snap_merge_opts *o);
/*
 * After meta_snap_merge() failed: the device whose read, write or flush stopped it —
 * the store's, the origin, or another snapshot's COW (through o->others) — for
 * meta_io_path() and meta_io_errno(); NULL when no I/O failed.
 */
META_API struct meta_io *meta_snap_merge_failed_io(const struct meta_snap *s);

/*
 * The offline snapshot engine: the I/O logic of the snapshot and
 * snapshot-origin targets on files.  One origin, any number of snapshots of it
 * (persistent stores opened with META_SNAP_OPEN_WRITE, possibly of different
 * chunk sizes, or transient ones kept in memory over a COW file).
 *  - snapshot read: the COW chunk if an exception exists, else the origin;
 *  - snapshot write: allocate a chunk (next_free, skipping area chunks), copy
 *    the origin chunk into it, commit the record as the kernel does, then write;
 *  - origin write: first, for every snapshot that is not invalid and has no
 *    exception for the chunk (in its own chunk size), copy out; then write.
 * COW full: on an origin write the snapshot is invalidated on disk (header
 * valid = 0) and the origin write goes on; on a snapshot write it is marked
 * overflowed (in memory, as the kernel does for "PO" stores) when overflow_ok,
 * otherwise invalidated; the write fails with META_E_NOSPC.  I/O to an invalid
 * or overflowed snapshot fails with META_E_IO (reads of an overflowed one work).
 * An I/O error (META_E_IO; a filesystem or device with no space left is one:
 * meta_io_errno() ENOSPC) stops the write before the origin or the snapshot
 * chunk is written and invalidates nothing — unlike the kernel, which must let
 * an origin write proceed: the write can be made again once the cause is
 * fixed; meta_snap_engine_failed_io() names the device.  So META_E_NOSPC always
 * means a COW store is full, never a full filesystem.
 * meta_snap_engine_add() refuses a new store (META_E_INVAL) and one that fails
 * meta_snap_verify() with META_SNAP_VERIFY_ALLOW_INVALID against the origin's
 * size (META_E_CORRUPT, its fatal damage passed to the function given to
 * meta_snap_engine_set_damage(), if any).
 */
struct meta_snap_engine;
enum meta_snap_state { META_SNAP_ACTIVE, META_SNAP_OVERFLOWED, META_SNAP_INVALID };

META_API int meta_snap_engine_create(struct meta_io *origin, struct meta_snap_engine **out);
/* Snapshots are not owned: close them after destroying the engine. */
META_API void meta_snap_engine_destroy(struct meta_snap_engine *e);
/* Where meta_snap_engine_add() reports the fatal damage of a store it refuses (fn may be NULL). */
META_API void meta_snap_engine_set_damage(struct meta_snap_engine *e, meta_damage_fn fn, void *ctx);
META_API int meta_snap_engine_add(struct meta_snap_engine *e, struct meta_snap *s,
				  bool overflow_ok, unsigned *idx);
META_API int meta_snap_engine_add_transient(struct meta_snap_engine *e, struct meta_io *cow,
					    uint32_t chunk_size, unsigned *idx);
META_API int meta_snap_engine_write_origin(struct meta_snap_engine *e, uint64_t off,
					   const void *buf, size_t len);
META_API int meta_snap_engine_write_snapshot(struct meta_snap_engine *e, unsigned idx,
					     uint64_t off, const void *buf, size_t len);
META_API int meta_snap_engine_read_snapshot(struct meta_snap_engine *e, unsigned idx,
					    uint64_t off, void *buf, size_t len);
META_API enum meta_snap_state meta_snap_engine_state(const struct meta_snap_engine *e,
						     unsigned idx);
/* The device whose read, write or flush failed last (NULL if none): meta_io_path(), meta_io_errno(). */
META_API struct meta_io *meta_snap_engine_failed_io(const struct meta_snap_engine *e);
/* Kernel status text: "A/T M", "Overflow" or "Invalid" (transient: M = 0). */
META_API void meta_snap_engine_status(const struct meta_snap_engine *e, unsigned idx, char *buf,
				      size_t len);

#endif

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared multisnapshot stores: the COW device of the out-of-tree `multisnapshot` /
 * `multisnap-snap` targets (dm-devel, 2009-2010), which keeps every snapshot of one
 * origin in ONE device.  Two store types:
 *   mikulas  dmmeta's own format (man/multisnap-store.5): persistent-data blocks,
 *            shadowing and two-phase commit; a B+tree of (origin chunk, first id, last
 *            id) -> COW chunk; 2^32 snapshots and 2^32 snapshots-of-snapshots.
 *   daniel   the ddsnap layout (Zumastor), little-endian: at most 64 snapshots, 16 KiB
 *            chunks, no journal (a crash can leave it inconsistent; snap_check says so).
 *
 * Snapshot ids (meta_ms_id):
 *   mikulas  (snapshot number << 32) | sub-snapshot number; a snapshot of the origin has
 *            the low half all ones (META_MS_SUB_NONE).  Written "N" for a snapshot of the
 *            origin and "N.M" for sub-snapshot M of snapshot N (meta_ms_id_format/parse).
 *   daniel   the snapshot's 32-bit tag, written "N".
 * Snapshot numbers are handed out in increasing order and never reused.
 *
 * The library never prints: damage goes to a meta_damage_fn, errors are META_E_* codes.
 */
#ifndef LIBMETA_MULTISNAP_H
#define LIBMETA_MULTISNAP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <libmeta/api.h>
#include <libmeta/damage.h>

typedef uint64_t meta_ms_id;
#define META_MS_SUB_NONE 0xffffffffu /* low half of the id of a snapshot of the origin */

enum meta_ms_type { META_MS_NONE = 0, META_MS_MIKULAS = 1, META_MS_DANIEL = 2 };

/* "mikulas" / "daniel" (NULL for others); meta_ms_type_parse: META_MS_NONE if unknown. */
META_API const char *meta_ms_type_name(enum meta_ms_type t);
META_API enum meta_ms_type meta_ms_type_parse(const char *s);

/* "N" or "N.M"; buf >= META_MS_ID_STRLEN.  parse: 0, or META_E_INVAL for a malformed id. */
#define META_MS_ID_STRLEN 24
META_API void meta_ms_id_format(enum meta_ms_type t, meta_ms_id id, char *buf, size_t len);
META_API int meta_ms_id_parse(enum meta_ms_type t, const char *s, meta_ms_id *id);

/* Generic arguments of the table line. */
enum {
	META_MS_SYNC_SNAPSHOTS = 1u << 0,   /* the table's id list is authoritative */
	META_MS_PRESERVE_ON_ERROR = 1u << 1, /* halt the origin on a store error */
};

/* What the table line gives when the store is made (a zeroed first 4 KiB). */
struct meta_ms_params {
	enum meta_ms_type type;
	uint32_t chunk_size;      /* sectors, power of two; daniel: 32 (16 KiB) only */
	uint64_t origin_sectors;  /* the origin's size (0: unknown) */
	unsigned generic;         /* META_MS_SYNC_SNAPSHOTS | META_MS_PRESERVE_ON_ERROR */
};

struct meta_ms;
struct meta_io;

enum {
	META_MS_OPEN_WRITE = 1u << 0,
	META_MS_OPEN_EXCL = 1u << 1,
};

/*
 * Open a shared store; its type is found by its magic.  Errors: open errors of
 * meta_io_open, META_E_TOOSMALL, META_E_LOOKSXML, META_E_BADMAGIC (no multisnapshot
 * store, and not blank), META_E_VERSION, META_E_CORRUPT (the superblock cannot be
 * used; meta_ms_check_path() still reports what is wrong).  A device whose first
 * 4 KiB are zero (and that holds no daniel superblock at 4096) opens as "new":
 * meta_ms_is_new() true, no snapshots, and the first message formats it.
 */
META_API int meta_ms_open(const char *path, unsigned flags, struct meta_ms **out);
META_API void meta_ms_close(struct meta_ms *ms);
META_API enum meta_ms_type meta_ms_get_type(const struct meta_ms *ms);
META_API bool meta_ms_is_new(const struct meta_ms *ms);
META_API uint32_t meta_ms_chunk_size(const struct meta_ms *ms); /* sectors */

/*
 * Make a new, empty store on path (what the target does when it loads a table over a
 * zeroed COW device).  Refuses (META_E_EXISTS) a device that holds a store or metadata
 * of another family unless force; META_E_INVAL for parameters the type cannot take;
 * META_E_TOOSMALL when the device cannot hold the store's fixed structures.
 */
META_API int meta_ms_format(const char *path, const struct meta_ms_params *p, bool force);

/* The live snapshot ids, ascending (caller frees *ids). */
META_API int meta_ms_snapshots(struct meta_ms *ms, meta_ms_id **ids, uint64_t *n);

/* The target's status line fields. */
struct meta_ms_status {
	int error;                /* errno the store is stopped with, 0 when fine */
	bool has_new;             /* a snapshot was just created (else "-") */
	meta_ms_id new_id;
	uint64_t total_sectors;   /* the COW device */
	uint64_t sectors_allocated; /* data and metadata chunks in use */
	uint64_t metadata_sectors;  /* metadata chunks in use */
	uint64_t nr_ids;
};
META_API int meta_ms_status(struct meta_ms *ms, struct meta_ms_status *st);
/*
 * The status line exactly as documented:
 *   <#args> <errno> <new snapid> <total_sectors> <sectors_allocated> <metadata_sectors>
 *   <#ids> <ids>
 * (new snapid "-" when none; ids as meta_ms_id_format).  *line is malloc'd.
 */
META_API int meta_ms_status_line(struct meta_ms *ms, char **line);

/*
 * Messages.  Each is one transaction: on return it is committed (mikulas: two-phase
 * commit; daniel: written and flushed).  META_E_NOTFOUND for an unknown id,
 * META_E_RANGE when the type's id space or snapshot limit is exhausted (daniel: 64),
 * META_E_UNSUPPORTED (daniel: sub-snapshots), META_E_NOSPC when the COW is full.
 * delete frees every chunk only that snapshot used, to completion.
 * A "new" store is formatted first with the params given at open (meta_ms_set_params).
 */
META_API int meta_ms_create(struct meta_ms *ms, meta_ms_id *new_id);
META_API int meta_ms_create_subsnap(struct meta_ms *ms, meta_ms_id master, meta_ms_id *new_id);
META_API int meta_ms_delete(struct meta_ms *ms, meta_ms_id id);
/* sync-snapshots: create the listed ids missing from the store, delete those not listed. */
META_API int meta_ms_sync(struct meta_ms *ms, const meta_ms_id *ids, uint64_t n);
/* Parameters for formatting a store opened as new. */
META_API int meta_ms_set_params(struct meta_ms *ms, const struct meta_ms_params *p);

/*
 * Check every invariant of the store (superblock, nodes, bitmaps, every exception
 * inside the device and owned once, allocation counts, snapshot list).  Damage goes to
 * fn; returns the worst severity found, or -1 for none.  Works on a store that
 * meta_ms_open() refuses with META_E_CORRUPT: pass the path.
 */
META_API int meta_ms_check_path(const char *path, meta_damage_fn fn, void *ctx);
/*
 * The same, and with origin_sectors (the origin's size; 0: unknown) an exception whose
 * origin chunk starts at or past the origin's end is damage (daniel: MSD_ORIGIN, mikulas:
 * MSK_ORIGIN), as for classic stores.  meta_ms_type_checks_origin() says which types do
 * (both today; a type that cannot runs the plain check).
 */
META_API int meta_ms_check(const char *path, uint64_t origin_sectors, meta_damage_fn fn,
			   void *ctx);
META_API bool meta_ms_type_checks_origin(enum meta_ms_type t);

/*
 * The engine: what the multisnapshot targets do with I/O, offline.  origin is the
 * origin device (opened by the caller, META_IO_WRITE for write_origin); offsets and
 * lengths are in bytes, any alignment (a partial chunk is read, changed and written
 * whole).  Each call that changes the store is one transaction, committed on return;
 * the COW data it copies is written and flushed before that commit, and the origin is
 * written only after it (the caller flushes the origin).  daniel stores have no journal:
 * the data (flushed), the tree, the bitmaps (flushed), the superblock (flushed), then
 * the origin; a crash in between leaves damage meta_ms_check reports (man
 * multisnap-store(5), daniel "Write order"), never a snapshot reading new origin data.
 *   meta_ms_read            what snapshot id reads (origin data where no exception
 *                           covers it)
 *   meta_ms_write_origin    before origin chunk c changes, ONE new COW chunk keeps its
 *                           old data for every live snapshot no exception of c covers
 *                           (the cost per chunk does not grow with the snapshot count)
 *   meta_ms_write_snapshot  a chunk only id uses is written in place; a shared one (or
 *                           the origin's) is copied to a new chunk first
 * Errors: META_E_RANGE (the range ends past the origin), META_E_NOTFOUND (id not
 * live), META_E_NOSPC (the COW is full: nothing was changed, the store is as at the
 * last commit), META_E_INVAL (store opened read-only), META_E_UNSUPPORTED (a store
 * type without the engine: none today), META_E_CORRUPT (the tree is damaged), I/O
 * errors; after an I/O error in the middle of a daniel write the handle refuses further
 * writes (reopen and check the store).  A new (unformatted) store has no snapshots:
 * write_origin only writes the origin.  A call with len 0 does nothing and returns 0, or
 * META_E_UNSUPPORTED for a type without the engine (a probe).
 */
META_API int meta_ms_read(struct meta_ms *ms, struct meta_io *origin, meta_ms_id id,
			  uint64_t off, uint64_t len, void *buf);
META_API int meta_ms_write_origin(struct meta_ms *ms, struct meta_io *origin, uint64_t off,
				  uint64_t len, const void *buf);
META_API int meta_ms_write_snapshot(struct meta_ms *ms, struct meta_io *origin, meta_ms_id id,
				    uint64_t off, uint64_t len, const void *buf);

/*
 * meta_ms_merge: snapshot id's data becomes the origin's, then id is deleted.  For every
 * origin chunk where id has an exception, the origin takes id's bytes through the origin
 * write (every other live snapshot still reading the origin there gets one copy of the
 * old bytes first), o->batch chunks a transaction: the copies written and flushed, the
 * batch committed, then the origin written.  The origin is flushed before the final
 * delete frees id's chunks.  id keeps its exceptions until that delete, so a merge
 * stopped anywhere (a crash, an I/O error, META_E_NOSPC after some batches, the progress
 * callback) is finished by running it again, to the same bytes.  The other snapshots'
 * views do not change.  A master with live sub-snapshots merges too: the subs stay live
 * with their views (orphan subs).  A daniel store merges in runs of origin writes, each
 * copy flushed before its origin write, then the delete.
 * META_E_NOTFOUND (id not live), META_E_INVAL
 * (read-only handle unless dry_run).  o may be NULL (defaults).  Chunks past the
 * origin's end are not written (nothing reads them).
 */
struct meta_ms_merge_opts {
	bool dry_run;   /* count only (chunks, copies); nothing is written */
	uint32_t batch; /* chunks per transaction; 0: as many as hold 128 MiB, at least 8192 */
	/* after each batch (done of total chunks merged); nonzero before the last: stop there,
	 * META_E_INTERRUPTED */
	int (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
	uint64_t chunks; /* out: chunks merged (dry run: to merge) */
	uint64_t copies; /* out: COW copies made for the other snapshots (dry run: to make) */
};
META_API int meta_ms_merge(struct meta_ms *ms, struct meta_io *origin, meta_ms_id id,
			   struct meta_ms_merge_opts *o);

/* XML (schemas: libmeta/multisnap/multisnap-<type>.rng, installed to share/dmmeta/). */
META_API int meta_ms_dump_xml(struct meta_ms *ms, FILE *out);
META_API int meta_ms_dump_human(struct meta_ms *ms, FILE *out);
/*
 * Write the store XML describes onto path (the type comes from the XML).  Refuses as
 * meta_ms_format (META_E_EXISTS unless force); META_E_XML with "line N: ..." in err.
 * The store is made invalid first and valid last: a failure leaves no valid store.
 */
META_API int meta_ms_restore_xml(FILE *in, const char *path, bool force, char *err,
				 size_t errlen);
/* The same for XML whose first len bytes (head) were already read from in. */
META_API int meta_ms_restore_xml_head(const char *head, size_t len, FILE *in, const char *path,
				      bool force, char *err, size_t errlen);

#endif

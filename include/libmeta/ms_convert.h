/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Converting between a classic snapshot's COW store (include/libmeta/snap.h) and a shared
 * multisnapshot store (include/libmeta/multisnap.h), so a snapshot moves without copying
 * its origin: the origin stays, only the COW is rewritten onto another device.
 *
 * classic -> shared (meta_ms_from_classic_n): a new mikulas store on out, of the classic
 * stores' chunk size (one for all) and out's size, holding snapshots 0 .. nin-1, snapshot k
 * the classic snapshot classic[k] (give the classic snapshots of ONE origin: a shared store
 * has one origin).  As if formatted (transaction 1) and snapshot k created in transaction
 * 2 + k: next_snapshot nin, transaction 1 + nin.  Each exception of classic[k] (old chunk c)
 * becomes the exception (c, [k.0, k.0xffffffff]) -> data chunk i, i counting all the
 * exceptions in (origin chunk, k) order (the range covers snapshot k and every sub-snapshot
 * it may get: a sub-snapshot reads what its master reads when made); chunk i's data is the
 * classic COW chunk's.  Copies of one origin chunk in consecutive inputs k .. j holding
 * the same bytes (an origin write copied out into every snapshot) become one exception
 * (c, [k.0, j.0xffffffff]) and one data chunk (the bytes are compared: a second read of
 * such chunks).  meta_ms_from_classic: the same for one input.
 * Order: block 0 becomes a superblock marked invalid (flushed); the data chunks are
 * copied and flushed; the metadata is written and flushed; the valid superblock last.
 *
 * shared -> classic (meta_ms_to_classic): the live snapshot id of a mikulas or daniel store
 * as a classic persistent store on out, of the shared store's chunk size: the exception
 * covering id (daniel: shared with id) for each origin chunk, in origin-chunk order, the i-th into COW chunk
 * meta_snap_nth_new_chunk(i) as the kernel would allocate them.  Order: the header is
 * written invalid (flushed); the data chunks copied and flushed; the areas written and
 * the header made valid last (meta_snap_restore()).
 *
 * The input is only read.  Writers refuse (META_E_EXISTS) an out that holds a store or
 * another family's metadata unless force.  Refusals, before anything is written
 * (*why says which, for the caller's words):
 *   META_E_INVAL     why (res->input: which classic input): two of input and out are the
 *                    same storage; a classic store is new (no store: a transient snapshot
 *                    keeps no metadata), marked invalid, has chunks smaller than a shared
 *                    store's (8 sectors) or another chunk size than the first input's; an
 *                    origin chunk at or past 2^48.  No input, or more than 0xfffffffe.
 *   META_E_CORRUPT   the input fails its check (classic: meta_snap_verify() against
 *                    origin_sectors when not 0; shared: meta_ms_check() finds fatal
 *                    damage); its fatal damage goes to fn (may be NULL)
 *   META_E_NOTFOUND  id is not a live snapshot of the store
 *   META_E_UNSUPPORTED  a store type this build does not link
 *   META_E_TOOSMALL  out cannot hold the result: *need the smallest size in bytes that can
 *                    (mikulas: metadata as format sizes it, multisnap-store(5), plus one
 *                    data chunk per exception; classic: its areas and data chunks)
 * Later failures leave out invalid (never a valid store holding less): META_E_IO (res:
 * failed_out says whether out or the input failed, failed_errno its errno; ENOSPC on out
 * is a full filesystem), META_E_NOSPC (to shared: its metadata area cannot hold the
 * exceptions; format's sizing always can, short of its largest metadata area), META_E_NOMEM.
 */
#ifndef LIBMETA_MS_CONVERT_H
#define LIBMETA_MS_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/damage.h>
#include <libmeta/multisnap.h>

enum meta_ms_convert_why {
	META_MSC_NONE = 0,
	META_MSC_SAME_STORAGE, /* out is the input's storage */
	META_MSC_NEW,          /* the classic store holds no store (new / transient) */
	META_MSC_INVALID,      /* the classic store is marked invalid (overflowed or failed) */
	META_MSC_CHUNK_SIZE,   /* classic chunks below 8 sectors */
	META_MSC_ORIGIN_RANGE, /* an origin chunk at or past 2^48 */
	META_MSC_CHUNK_MISMATCH, /* classic inputs of different chunk sizes */
};

struct meta_ms_convert_result {
	enum meta_ms_convert_why why;
	uint64_t need_bytes;   /* META_E_TOOSMALL: the smallest out that fits */
	uint64_t exceptions;   /* exceptions converted (of all inputs) */
	uint64_t data_chunks;  /* to shared: data chunks written (copies shared: fewer) */
	uint32_t chunk_size;   /* sectors */
	size_t input;          /* the classic input a refusal or a failed read concerns */
	bool failed_out;       /* an I/O error: on out (else on the input) */
	int failed_errno;      /* its errno */
};

struct meta_ms_convert_opts {
	uint64_t origin_sectors; /* the origin's size, checked against (0: unknown) */
	bool force;              /* overwrite what out holds */
	meta_damage_fn damage;   /* the input's fatal damage when refused (may be NULL) */
	void *damage_ctx;
};

META_API int meta_ms_from_classic_n(const char *const *classic, size_t nin, const char *out,
				    const struct meta_ms_convert_opts *o,
				    struct meta_ms_convert_result *res);
META_API int meta_ms_from_classic(const char *classic, const char *out,
				  const struct meta_ms_convert_opts *o,
				  struct meta_ms_convert_result *res);
META_API int meta_ms_to_classic(const char *store, meta_ms_id id, const char *out,
				const struct meta_ms_convert_opts *o,
				struct meta_ms_convert_result *res);

#endif

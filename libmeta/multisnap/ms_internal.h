/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Private to libmeta: what a shared-store type (mikulas.c, daniel.c) gives the generic
 * layer (ms.c), which implements include/libmeta/multisnap.h by dispatching here.
 * Every function returns 0 or a META_E_* code unless said otherwise; `st` is the
 * type's own state, made by open.  The io is opened and owned by ms.c.
 */
#ifndef LIBMETA_MULTISNAP_MS_INTERNAL_H
#define LIBMETA_MULTISNAP_MS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <libmeta/damage.h>
#include <libmeta/io.h>
#include <libmeta/multisnap.h>

struct ms_ops {
	enum meta_ms_type type;
	const char *name; /* "mikulas", "daniel" */
	/* Does this 8 KiB head (bytes 0..8191 of the device, zero-padded) hold this type's magic? */
	bool (*sniff)(const uint8_t *head);
	/* Make a new empty store (the device's first 4 KiB may hold anything: overwrite). */
	int (*format)(struct meta_io *io, const struct meta_ms_params *p);
	/* Load the store; META_E_CORRUPT when the superblock cannot be used. */
	int (*open)(struct meta_io *io, bool write, void **st);
	void (*close)(void *st);
	uint32_t (*chunk_size)(void *st); /* sectors */
	int (*snapshots)(void *st, meta_ms_id **ids, uint64_t *n);
	/* status without the new-id fields (ms.c keeps those for the open handle) */
	int (*status)(void *st, struct meta_ms_status *s);
	int (*create)(void *st, meta_ms_id *id);
	int (*create_subsnap)(void *st, meta_ms_id master, meta_ms_id *id);
	int (*delete_snap)(void *st, meta_ms_id id);
	/* Record generic arguments (META_MS_PRESERVE_ON_ERROR) of a table loaded over the
	 * existing store: in memory only, written by the next message's commit.  Optional. */
	void (*set_generic)(void *st, unsigned generic);
	/* Check the store on io (need not open cleanly): worst severity or -1. */
	int (*check)(struct meta_io *io, meta_damage_fn fn, void *ctx);
	/* The same, also reporting exceptions past an origin of origin_sectors (0: unknown);
	 * NULL when the type cannot (meta_ms_check then runs check alone). */
	int (*check_origin)(struct meta_io *io, uint64_t origin_sectors, meta_damage_fn fn,
			    void *ctx);
	int (*dump_xml)(void *st, FILE *out);
	int (*dump_human)(void *st, FILE *out);
	/*
	 * Parse XML whose root element is this type's and write the store onto io.
	 * The root element's name is what ms.c dispatches on: <multisnap_store
	 * type="mikulas" ...> / type="daniel".  The XML is head (headlen bytes, which ms.c
	 * read to find the root element; NULL, 0: none), then the rest of in.  A type that
	 * sets reads_xml_twice gets a seekable in (ms.c holds a pipe's XML in memory):
	 * it may seek back to where in was and read head and the rest again.
	 */
	int (*restore_xml)(const char *head, size_t headlen, FILE *in, struct meta_io *io,
			   char *err, size_t errlen);
	bool reads_xml_twice;
	/*
	 * The engine (include/libmeta/multisnap.h: meta_ms_read, meta_ms_write_origin,
	 * meta_ms_write_snapshot); the range was checked against the origin's size by ms.c.
	 * NULL: the type has none (META_E_UNSUPPORTED).
	 */
	int (*read)(void *st, struct meta_io *origin, meta_ms_id id, uint64_t off, uint64_t len,
		    void *buf);
	int (*write_origin)(void *st, struct meta_io *origin, uint64_t off, uint64_t len,
			    const void *buf);
	int (*write_snapshot)(void *st, struct meta_io *origin, meta_ms_id id, uint64_t off,
			      uint64_t len, const void *buf);
	/* meta_ms_merge (o not NULL); NULL: META_E_UNSUPPORTED */
	int (*merge)(void *st, struct meta_io *origin, meta_ms_id id, struct meta_ms_merge_opts *o);
};

/*
 * A merge's chunks per transaction: o->batch, or by default as many chunks as hold 128 MiB,
 * at least 8192.  Fewer, larger batches mean fewer flushes of the store; at 4 KiB chunks
 * 8192 chunks (32 MiB) made eight flush waits of a 256 MiB merge, whose other snapshot's
 * copies then went at 0.80-0.84 of a plain copy against 0.92-0.96 at 32768 (bench/README).
 */
static inline uint64_t ms_merge_batch(const struct meta_ms_merge_opts *o, uint64_t chunk_bytes)
{
	uint64_t by_bytes = chunk_bytes ? (UINT64_C(128) << 20) / chunk_bytes : 0;
	if (o->batch)
		return o->batch;
	return by_bytes > 8192 ? by_bytes : 8192;
}

/* Defined by mikulas.c and daniel.c. */
extern const struct ms_ops ms_mikulas_ops;
extern const struct ms_ops ms_daniel_ops;

#endif

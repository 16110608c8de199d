/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * XML and human-readable forms of a classic snapshot store, and the walker
 * that drives a meta_snap_emitter_ops from an opened store.
 *
 * XML (schema: libmeta/snap/snapshot-store.rng, installed to share/dmmeta/):
 *   <snapshot_store magic="0x70416e53" valid="1" version="1" chunk_size="16">
 *     <exception old_chunk="5" new_chunk="2"/>
 *   </snapshot_store>
 * chunk_size is in 512-byte sectors; chunks are counted in chunk_size units.
 */
#ifndef LIBMETA_SNAP_XML_H
#define LIBMETA_SNAP_XML_H

#include <stdio.h>
#include <libmeta/api.h>
#include <libmeta/emitter.h>
#include <libmeta/snap.h>

/* Drive ops from the store: its header and exceptions in on-disk order. */
META_API int meta_snap_emit(struct meta_snap *s, const struct meta_snap_emitter_ops *ops,
			    void *ctx);

/* Writers over a FILE*: ctx for the returned ops is the FILE*. */
META_API const struct meta_snap_emitter_ops *meta_snap_xml_writer(void);
META_API const struct meta_snap_emitter_ops *meta_snap_human_writer(void);

/*
 * Parse snapshot-store XML from `in` and drive ops.  On malformed input returns
 * META_E_XML with "line N: what is wrong" in err; an error returned by an ops
 * callback is passed through.
 */
META_API int meta_snap_xml_parse(FILE *in, const struct meta_snap_emitter_ops *ops, void *ctx,
				 char *err, size_t errlen);
/*
 * The whole of a snapshot-store XML from `in`, for a restore: the header in *h and
 * the exceptions in document order in *ex (*n of them; the caller frees *ex, also
 * on failure).  Errors as meta_snap_xml_parse(), and META_E_INVAL when the header
 * is not one meta_snap_restore() can write (magic 0x70416e53, version 1, chunk_size
 * a power of two from 1 to 2097152 sectors).
 */
META_API int meta_snap_xml_read(FILE *in, struct meta_snap_header *h,
				struct meta_snap_exception **ex, uint64_t *n, char *err,
				size_t errlen);

#endif

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The read side of a thin volume's view (thin_export) and the delta stream
 * (thin_export --format stream / --since, thin_import).
 *
 * View of a volume: dev's mappings (read-only pool, meta_thin_open_ex) over the
 * pool's data device; a block the device does not map reads from the external
 * origin when one is given (zeros past its end), else zeros.
 * meta_thin_export() delivers the view, in increasing offset order and without
 * overlap, to a sink: data(off, buf, len) for bytes read, hole(off, len) for an
 * unmapped range that reads zeros.  Mapped runs that are consecutive on the data
 * device are read with one large read (up to META_EXPORT_CHUNK bytes).
 * Full mode covers [0, size) exactly.  With since (a base device), only the
 * virtual blocks whose mapping differs between base and dev are delivered
 * (meta_delta_compare in plain mode with the devices' mapped counts: shared
 * subtrees are not read, so the cost follows the changes); a block dev no longer
 * maps is a hole (or origin data).
 *
 * Delta stream, version 1 (man/thin-delta-stream.5).  All integers little-endian.
 * crc = meta_crc32c(0xffffffff, bytes, n) (no final inversion).
 *   Header, 80 bytes:
 *     0 u8   magic[8]  "DMTHINDS"
 *     8 le32 version   1
 *    12 le32 flags     bit 0 INCREMENTAL (made --since: base fields valid, the
 *                      records are the changes only); other bits must be 0
 *    16 le32 block_size  the source pool's data block size in bytes (a multiple
 *                      of 512 from 64 KiB to 1 GiB)
 *    20 le32 reserved  0
 *    24 le64 volume_size  bytes (every record lies below it)
 *    32 le64 source_dev   the exported device's id
 *    40 le64 source_tag   the exported device's identity (below)
 *    48 le64 base_dev     the --since device's id (0 without INCREMENTAL)
 *    56 le64 base_tag     the --since device's identity (0 without INCREMENTAL)
 *    64 le64 pool_transaction_id  the source pool's transaction id
 *    72 le32 reserved  0
 *    76 le32 crc of bytes 0..75
 *   Records, 32 bytes each, then for DATA `length` payload bytes:
 *     0 le32 type      1 DATA, 2 ZERO (reads zeros), 3 UNMAP (unmapped in the
 *                      source: reads zeros), 0x444e45 END
 *     4 le32 data_crc  crc of the payload (DATA), else 0
 *     8 le64 offset    bytes
 *    16 le64 length    bytes; DATA 1..META_STREAM_MAX_DATA, ZERO/UNMAP >= 1
 *    24 le32 seq       the record's index (0, 1, 2, ...; END too)
 *    28 le32 crc of bytes 0..27
 *   Records are in increasing offset order, never overlap, and end at or below
 *   volume_size.  END: offset = number of records before it, length = total
 *   DATA payload bytes; nothing may follow it.
 * Identity (tag) of a device: (creation_time << 32) ^ transaction_id ^
 *   (dev_id << 48), from its details: it names the device's instance (an id
 *   deleted and created again, or snapshotted again, gets another creation
 *   time), not its contents: the kernel leaves a device's transaction_id as it
 *   was at creation when the device is written.  Streams are meant to be taken
 *   from snapshots nobody writes to (backups), where instance = contents.
 *
 * The reader trusts nothing: each check failure is META_E_STREAM with a static
 * reason string; a stream that ends early is META_E_STREAM ("truncated").
 */
#ifndef LIBMETA_THIN_EXPORT_H
#define LIBMETA_THIN_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/io.h>
#include <libmeta/thin.h>

#define META_STREAM_MAGIC "DMTHINDS"
#define META_STREAM_VERSION 1u
#define META_STREAM_HEADER_SIZE 80u
#define META_STREAM_RECORD_SIZE 32u
#define META_STREAM_MAX_DATA (4u << 20)
#define META_EXPORT_CHUNK (8u << 20)

enum {
	META_STREAM_INCREMENTAL = 1u << 0,
};

enum meta_stream_rec_type {
	META_STREAM_DATA = 1,
	META_STREAM_ZERO = 2,
	META_STREAM_UNMAP = 3,
	META_STREAM_END = 0x444e45,
};

struct meta_stream_header {
	uint32_t version, flags, block_size;
	uint64_t volume_size, source_dev, source_tag, base_dev, base_tag, pool_transaction_id;
};

struct meta_stream_record {
	enum meta_stream_rec_type type;
	uint64_t offset, length;
};

/* Identity of a device from its details (see above). */
META_API uint64_t meta_thin_dev_tag(const struct meta_thin_details *d);

/* Sink of the bytes: returns 0, or a non-zero value that stops everything. */
typedef int (*meta_stream_out_fn)(void *ctx, const void *buf, size_t len);
/* Source of the bytes: up to len bytes into buf; returns the count, 0 at the end, < 0 error. */
typedef long (*meta_stream_in_fn)(void *ctx, void *buf, size_t len);

struct meta_stream_writer;
/*
 * A writer that emits h's header at once.  zero_detect: a DATA range that is all
 * zeros becomes a ZERO record.  Errors: META_E_INVAL (bad header fields),
 * META_E_NOMEM, the sink's value.
 */
META_API int meta_stream_writer_open(const struct meta_stream_header *h, bool zero_detect,
				     meta_stream_out_fn out, void *ctx,
				     struct meta_stream_writer **w);
/* DATA (split into records of at most META_STREAM_MAX_DATA), ZERO or UNMAP. */
META_API int meta_stream_put_data(struct meta_stream_writer *w, uint64_t off, const void *buf,
				  size_t len);
META_API int meta_stream_put_range(struct meta_stream_writer *w, enum meta_stream_rec_type t,
				   uint64_t off, uint64_t len);
/* The END record; *nr_records / *data_bytes (may be NULL) report what was written. */
META_API int meta_stream_writer_finish(struct meta_stream_writer *w, uint64_t *nr_records,
				       uint64_t *data_bytes);
/* Frees (a writer not finished leaves a stream without END: a reader refuses it). */
META_API void meta_stream_writer_free(struct meta_stream_writer *w);

struct meta_stream_reader;
META_API int meta_stream_reader_open(meta_stream_in_fn in, void *ctx,
				     struct meta_stream_reader **r);
/* Reads and checks the header. */
META_API int meta_stream_read_header(struct meta_stream_reader *r, struct meta_stream_header *h);
/*
 * The next record.  For DATA, *data points at its payload (checked; valid until
 * the next call).  Returns 0 with rec->type META_STREAM_END once, after checking
 * the record count, the byte count and that nothing follows; META_E_STREAM.
 * An input error (in() < 0) is META_E_IO.
 */
META_API int meta_stream_next(struct meta_stream_reader *r, struct meta_stream_record *rec,
			      const void **data);
/* Why the last META_E_STREAM: a static string ("truncated", "bad record checksum"...). */
META_API const char *meta_stream_reason(const struct meta_stream_reader *r);
/* Byte offset in the stream of the last record read (for messages). */
META_API uint64_t meta_stream_position(const struct meta_stream_reader *r);
META_API void meta_stream_reader_free(struct meta_stream_reader *r);

/* The export's sink. */
struct meta_export_sink {
	int (*data)(void *ctx, uint64_t off, const void *buf, size_t len);
	int (*hole)(void *ctx, uint64_t off, uint64_t len);
	void *ctx;
};

struct meta_export_opts {
	uint64_t dev;            /* the device exported */
	bool since;              /* only what changed since base_dev */
	uint64_t base_dev;
	uint64_t size;           /* the volume's length in bytes (see meta_thin_export_end) */
	struct meta_io *origin;  /* external origin or NULL */
};

struct meta_export_stats {
	uint64_t mapped_bytes, hole_bytes, origin_bytes, data_reads;
	uint64_t nodes_read;     /* --since: delta nodes read */
	uint64_t bad_block;      /* on META_E_CORRUPT etc.: the block concerned, if known */
};

/*
 * End of the last mapped block of dev in bytes (0: nothing mapped).  Errors: those
 * of meta_thin_dev_root / walk (damage as META_E_CORRUPT).
 */
META_API int meta_thin_export_end(struct meta_thin *t, uint64_t dev, uint64_t *end);

/*
 * Deliver dev's view (or its changes since base_dev) to the sink.  data is the
 * pool's data device.  Errors: META_E_NOTFOUND (dev or base_dev absent),
 * META_E_DATA_SIZE (a mapping points past the data device), META_E_CORRUPT /
 * META_E_CHECKSUM ... (damage; st->bad_block), META_E_IO, META_E_NOMEM, or the
 * sink's value.
 */
META_API int meta_thin_export(struct meta_thin *t, struct meta_io *data,
			      const struct meta_export_opts *o, const struct meta_export_sink *s,
			      struct meta_export_stats *st);

#endif

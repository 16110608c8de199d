/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Thin-pool metadata text writers: emitters (see emitter.h) that format the
 * call sequence as the XML of thin_dump, or as its human-readable text, onto a
 * FILE*.
 *
 * XML: the flat format of thin-provisioning-tools 0.9.0, byte for byte
 * (two-space indentation, one element per line, attribute order
 * uuid/time/transaction/flags/version/data_block_size/nr_data_blocks), plus
 * `<def name="..">`/`<ref name=".."/>` (the 1.x sharing extension) when the
 * producer emits them.  `metadata_snap="N"` is appended to the superblock
 * element only when has_metadata_snap is set (thin_dump never sets it, like 0.9).
 *
 * Human readable: 0.9's text (`begin superblock: "uuid", time, transaction,
 * flags, version, data_block_size, nr_data_blocks`, device blocks, runs as
 * `    (vb..ve) -> (db..de), time`, singles as `    vb -> db, time`, a blank
 * line after each device, `end superblock`); defs as `def: NAME` and refs as
 * `    ref: NAME` (1.x spelling).
 *
 * The writers format into a large private buffer and fwrite() it in big
 * pieces; write errors come back from the emitter callbacks as META_E_IO (errno
 * kept, see meta_thin_writer_errno()).  Nothing is written to the FILE* after
 * meta_thin_writer_flush() until more output is produced.
 */
#ifndef LIBMETA_THIN_XML_H
#define LIBMETA_THIN_XML_H

#include <stdio.h>
#include <libmeta/api.h>
#include <libmeta/emitter.h>

enum meta_thin_text_format {
	META_THIN_FORMAT_XML = 0,
	META_THIN_FORMAT_HUMAN = 1,
};

struct meta_thin_writer;

/* Create a writer onto f (not closed by the writer).  META_E_INVAL / META_E_NOMEM. */
META_API int meta_thin_writer_create(FILE *f, enum meta_thin_text_format fmt,
				     struct meta_thin_writer **out);
/* The emitter that feeds this writer. */
META_API struct meta_thin_emitter meta_thin_writer_emitter(struct meta_thin_writer *w);
/* Write out buffered text and fflush(f); META_E_IO on a write error. */
META_API int meta_thin_writer_flush(struct meta_thin_writer *w);
/* errno of the first failed write (0 if none). */
META_API int meta_thin_writer_errno(const struct meta_thin_writer *w);
/* Frees the writer without flushing. */
META_API void meta_thin_writer_destroy(struct meta_thin_writer *w);

#endif

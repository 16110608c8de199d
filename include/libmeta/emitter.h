/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The one emitter interface of thin dump and restore.
 *
 * Grammar of the call sequence (what the metadata walker and the XML parser
 * both produce, and what the XML/human writers and the restorer consume):
 *
 *   begin_superblock ( def* ) device* end_superblock
 *   def    := begin_def ( range_map | single_map )* end_def
 *   device := begin_device ( ref | range_map | single_map )* end_device
 *
 * Mappings inside a device or def come in increasing origin order.
 * range_map covers `len` >= 2 consecutive origin blocks mapped to consecutive
 * data blocks with one time; single_map is a run of one.  A callback returns 0
 * or a meta_err, which stops the producer and is returned by it.
 */
#ifndef LIBMETA_EMITTER_H
#define LIBMETA_EMITTER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <libmeta/api.h>
#include <libmeta/thin.h>

struct meta_thin_xml_sb {
	const char *uuid;   /* "" normally */
	uint32_t time;
	uint64_t transaction;
	uint32_t flags;
	uint32_t version;
	uint32_t data_block_size; /* sectors */
	uint64_t nr_data_blocks;
	bool has_metadata_snap;
	uint64_t metadata_snap;
};

struct meta_thin_emitter_ops {
	int (*begin_superblock)(void *ctx, const struct meta_thin_xml_sb *sb);
	int (*end_superblock)(void *ctx);
	int (*begin_device)(void *ctx, const struct meta_thin_details *d);
	int (*end_device)(void *ctx);
	int (*begin_def)(void *ctx, const char *name);
	int (*end_def)(void *ctx);
	int (*ref)(void *ctx, const char *name);
	int (*range_map)(void *ctx, uint64_t origin_begin, uint64_t data_begin, uint32_t time,
			 uint64_t len);
	int (*single_map)(void *ctx, uint64_t origin_block, uint64_t data_block, uint32_t time);
};

struct meta_thin_emitter {
	const struct meta_thin_emitter_ops *ops;
	void *ctx;
};

/*
 * The same shape for the classic snapshot store (snap_dump / snap_restore):
 *   begin_store exception* end_store
 * Exceptions come in on-disk order.
 */
struct meta_snap_header;
struct meta_snap_emitter_ops {
	int (*begin_store)(void *ctx, const struct meta_snap_header *h);
	int (*exception)(void *ctx, uint64_t old_chunk, uint64_t new_chunk);
	int (*end_store)(void *ctx);
};

#endif

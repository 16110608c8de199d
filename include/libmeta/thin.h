/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Thin-pool metadata (kernel drivers/md/dm-thin-metadata.c, format version 2).
 *
 * Metadata block size 4096 bytes; all integers little-endian.
 * Superblock, block 0 (csum xor 160774):
 *    0 le32 csum            4 le32 flags (bit 0 NEEDS_CHECK)
 *    8 le64 blocknr (0)    16 u8 uuid[16]
 *   32 le64 magic 27022010 40 le32 version (1 or 2)
 *   44 le32 time           48 le64 trans_id
 *   56 le64 held_root (metadata snapshot superblock; 0 = none)
 *   64 u8 data_space_map_root[128]      (struct meta_sm_root in first 32 bytes)
 *  192 u8 metadata_space_map_root[128]
 *  320 le64 data_mapping_root  328 le64 device_details_root
 *  336 le32 data_block_size (sectors)   340 le32 metadata_block_size (8)
 *  344 le64 metadata_nr_blocks
 *  352 le32 compat_flags  356 le32 compat_ro_flags  360 le32 incompat_flags
 * Device details tree: key dev_id → 24 bytes {le64 mapped_blocks, le64
 *   transaction_id, le32 creation_time, le32 snapshotted_time}.
 * Mapping tree: two levels.  Top: key dev_id → le64 root of the device's tree.
 *   Bottom: key virtual block → le64 (data_block << 24 | time).
 * Metadata snapshot: `reserve_metadata_snap` copies the superblock into a new
 *   block (its blocknr field = that block, space-map roots zeroed) and stores
 *   that block in held_root; readers with -m use its two tree roots.
 * Reference counts: a metadata block counts once per distinct parent that
 *   points at it (superblock, held root copy, top-level entries, internal nodes);
 *   a data block once per distinct leaf that maps it.
 */
#ifndef LIBMETA_THIN_H
#define LIBMETA_THIN_H

#include <stdbool.h>
#include <stdint.h>
#include <libmeta/api.h>
#include <libmeta/bm.h>
#include <libmeta/damage.h>
#include <libmeta/sm.h>

#define META_THIN_MAGIC 27022010ull
#define META_THIN_VERSION 2u
#define META_THIN_FLAG_NEEDS_CHECK 1u
#define META_THIN_MIN_DATA_BLOCK_SIZE 128u     /* sectors (64 KiB) */
#define META_THIN_MAX_DATA_BLOCK_SIZE 2097152u /* sectors (1 GiB) */
#define META_THIN_DETAILS_VALUE_SIZE 24u
#define META_THIN_MAX_DATA_BLOCK ((1ull << 40) - 1)

struct meta_thin_sb {
	uint32_t csum, flags;
	uint64_t blocknr;
	uint8_t uuid[16];
	uint64_t magic;
	uint32_t version, time;
	uint64_t trans_id, held_root;
	struct meta_sm_root data_sm, metadata_sm;
	uint64_t data_mapping_root, device_details_root;
	uint32_t data_block_size, metadata_block_size;
	uint64_t metadata_nr_blocks;
	uint32_t compat_flags, compat_ro_flags, incompat_flags;
};

struct meta_thin_details {
	uint64_t dev_id;
	uint64_t mapped_blocks, transaction_id;
	uint32_t creation_time, snapshotted_time;
};

struct meta_thin_mapping {
	uint64_t vblock, data_block;
	uint32_t time;
};

/*
 * Validator of a superblock block (see bm.h): checksum (xor 160774), self-location,
 * then META_THIN_MAGIC (else META_E_BADMAGIC).
 */
META_API extern const struct meta_validator meta_thin_sb_validator;

/* Superblock pack/unpack and validation of one 4096-byte block. */
META_API void meta_thin_sb_unpack(const void *block, struct meta_thin_sb *sb);
META_API void meta_thin_sb_pack(const struct meta_thin_sb *sb, void *block); /* no csum */
/* Field checks beyond the checksum; reports damage, returns worst severity or -1. */
META_API int meta_thin_sb_check(const struct meta_thin_sb *sb, uint64_t dev_blocks,
				meta_damage_fn fn, void *ctx);

enum {
	META_THIN_OPEN_WRITE = 1u << 0,
	META_THIN_OPEN_EXCL = 1u << 1,      /* O_EXCL on block devices */
	META_THIN_OPEN_METADATA_SNAP = 1u << 2, /* use the held root's trees */
	META_THIN_OPEN_NO_SB_CHECK = 1u << 3,   /* open even if superblock is bad (repair) */
};

struct meta_thin_open_opts {
	unsigned flags;
	uint64_t metadata_snap_block;    /* with OPEN_METADATA_SNAP: 0 = held_root from sb */
	uint64_t override_mapping_root;  /* 0 = none */
	uint64_t override_details_root;  /* 0 = none */
	size_t cache_blocks;             /* 0 = default */
};

struct meta_thin;

/*
 * Open thin-pool metadata.  Checks size (≥ 1 block, else META_E_TOOSMALL), XML
 * (META_E_LOOKSXML), then the superblock: META_E_CHECKSUM / META_E_BADMAGIC /
 * META_E_BLOCKNR / META_E_VERSION / META_E_FEATURE.  With OPEN_METADATA_SNAP and
 * no held root: META_E_NOSNAP.
 */
META_API int meta_thin_open(const char *path, const struct meta_thin_open_opts *o,
			    struct meta_thin **out);
/*
 * Which superblock meta_thin_open_ex() refused, filled on a superblock error
 * (META_E_CHECKSUM / BADMAGIC / BLOCKNR / VERSION / FEATURE): snap is true when the
 * live superblock passed and the metadata snapshot's failed; block is where the
 * refused one lies; held_root is the live superblock's held root (0 when it failed).
 */
struct meta_thin_open_failure {
	bool snap;
	uint64_t block, held_root;
};
META_API int meta_thin_open_ex(const char *path, const struct meta_thin_open_opts *o,
			       struct meta_thin **out, struct meta_thin_open_failure *why);
META_API void meta_thin_close(struct meta_thin *t);
META_API struct meta_bm *meta_thin_bm(struct meta_thin *t);
/* The live superblock (block 0). */
META_API const struct meta_thin_sb *meta_thin_live_sb(const struct meta_thin *t);
/* The superblock whose trees are in use: the live one or the metadata snapshot's. */
META_API const struct meta_thin_sb *meta_thin_sb(const struct meta_thin *t);
META_API uint64_t meta_thin_mapping_root(const struct meta_thin *t);
META_API uint64_t meta_thin_details_root(const struct meta_thin *t);
META_API uint64_t meta_thin_nr_data_blocks(const struct meta_thin *t);
/* Blocks of the metadata device (its size, not the space map's). */
META_API uint64_t meta_thin_nr_metadata_blocks(const struct meta_thin *t);
/*
 * The validator's verdict on the live superblock (0, META_E_CHECKSUM,
 * META_E_BLOCKNR, META_E_BADMAGIC): not 0 only when opened with OPEN_NO_SB_CHECK.
 */
META_API int meta_thin_live_sb_verdict(const struct meta_thin *t);
/*
 * Root of a device's mapping tree, from the top-level mapping tree in use
 * (META_E_NOTFOUND: no such device; other errors: damage or I/O on the way).
 */
META_API int meta_thin_dev_root(struct meta_thin *t, uint64_t dev_id, uint64_t *root);

/* All device details in dev_id order (damage reported, readable part returned). */
META_API int meta_thin_read_details(struct meta_thin *t, struct meta_thin_details **out,
				    uint64_t *n, meta_damage_fn fn, void *ctx);
/* Device roots from the top-level mapping tree, in dev_id order. */
struct meta_thin_dev_root {
	uint64_t dev_id, root;
};
META_API int meta_thin_read_dev_roots(struct meta_thin *t, struct meta_thin_dev_root **out,
				      uint64_t *n, meta_damage_fn fn, void *ctx);

/*
 * Walk one device's mapping tree (bottom-level root) in virtual-block order.
 * fn gets up to one leaf's worth of decoded mappings at a time.
 */
typedef int (*meta_thin_map_fn)(void *ctx, const struct meta_thin_mapping *m, uint32_t n);
META_API int meta_thin_walk_mappings(struct meta_thin *t, uint64_t root, meta_thin_map_fn fn,
				     meta_damage_fn dfn, void *ctx);

#endif

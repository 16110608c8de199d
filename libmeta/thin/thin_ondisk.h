/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * On-disk structures of thin-pool metadata (layout in include/libmeta/thin.h):
 * the superblock, a device's details and the packing of a mapping value, with
 * every size, offset and derived value pinned at compile time.  Private to
 * libmeta/thin/.
 */
#ifndef LIBMETA_THIN_ONDISK_H
#define LIBMETA_THIN_ONDISK_H

#include <stddef.h>
#include <libmeta/thin.h>

#include "base/endian.h"
#include "pdata/ondisk.h"

/* Superblock salt (crc32c of bytes 4..4095 xor salt, stored at 0); magic is META_THIN_MAGIC. */
#define DISK_THIN_SB_CSUM_XOR 160774u

struct disk_thin_sb {
	le32_t csum;
	le32_t flags;
	le64_t blocknr;
	uint8_t uuid[16];
	le64_t magic;
	le32_t version;
	le32_t time;
	le64_t trans_id;
	le64_t held_root;
	uint8_t data_space_map_root[128];     /* struct disk_sm_root, then zeros */
	uint8_t metadata_space_map_root[128]; /* struct disk_sm_root, then zeros */
	le64_t data_mapping_root;
	le64_t device_details_root;
	le32_t data_block_size;
	le32_t metadata_block_size;
	le64_t metadata_nr_blocks;
	le32_t compat_flags;
	le32_t compat_ro_flags;
	le32_t incompat_flags;
};

/* The value of the device details tree. */
struct disk_device_details {
	le64_t mapped_blocks;
	le64_t transaction_id;
	le32_t creation_time;
	le32_t snapshotted_time;
};

/* A mapping value (bottom-level leaves): le64 data_block << 24 | time. */
#define DISK_THIN_TIME_BITS 24u
#define DISK_THIN_TIME_MASK ((1ull << DISK_THIN_TIME_BITS) - 1)

static inline uint64_t disk_thin_map_block(uint64_t v) { return v >> DISK_THIN_TIME_BITS; }
static inline uint32_t disk_thin_map_time(uint64_t v) { return (uint32_t)(v & DISK_THIN_TIME_MASK); }
static inline uint64_t disk_thin_map_value(uint64_t block, uint32_t time)
{
	return block << DISK_THIN_TIME_BITS | (time & DISK_THIN_TIME_MASK);
}

ONDISK_SIZE(disk_thin_sb, 364);
ONDISK_OFFSET(disk_thin_sb, flags, 4);
ONDISK_OFFSET(disk_thin_sb, blocknr, 8);
ONDISK_OFFSET(disk_thin_sb, uuid, 16);
ONDISK_OFFSET(disk_thin_sb, magic, 32);
ONDISK_OFFSET(disk_thin_sb, version, 40);
ONDISK_OFFSET(disk_thin_sb, time, 44);
ONDISK_OFFSET(disk_thin_sb, trans_id, 48);
ONDISK_OFFSET(disk_thin_sb, held_root, 56);
ONDISK_OFFSET(disk_thin_sb, data_space_map_root, 64);
ONDISK_OFFSET(disk_thin_sb, metadata_space_map_root, 192);
ONDISK_OFFSET(disk_thin_sb, data_mapping_root, 320);
ONDISK_OFFSET(disk_thin_sb, device_details_root, 328);
ONDISK_OFFSET(disk_thin_sb, data_block_size, 336);
ONDISK_OFFSET(disk_thin_sb, metadata_block_size, 340);
ONDISK_OFFSET(disk_thin_sb, metadata_nr_blocks, 344);
ONDISK_OFFSET(disk_thin_sb, compat_flags, 352);
ONDISK_OFFSET(disk_thin_sb, compat_ro_flags, 356);
ONDISK_OFFSET(disk_thin_sb, incompat_flags, 360);
_Static_assert(sizeof(struct disk_sm_root) <= sizeof(((struct disk_thin_sb *)0)->data_space_map_root),
	       "a space-map root fits its superblock field");
ONDISK_SIZE(disk_device_details, 24);
ONDISK_OFFSET(disk_device_details, transaction_id, 8);
ONDISK_OFFSET(disk_device_details, creation_time, 16);
ONDISK_OFFSET(disk_device_details, snapshotted_time, 20);
/* derived */
ONDISK_VALUE(sizeof(struct disk_device_details), META_THIN_DETAILS_VALUE_SIZE);
ONDISK_VALUE(DISK_NODE_MAX_ENTRIES(META_THIN_DETAILS_VALUE_SIZE), 126);
ONDISK_VALUE(META_THIN_MAGIC, 27022010ull);
ONDISK_VALUE(META_THIN_MAX_DATA_BLOCK, (1ull << (64 - DISK_THIN_TIME_BITS)) - 1);
ONDISK_VALUE(DISK_THIN_TIME_MASK, 0xffffffull);
ONDISK_VALUE(META_THIN_MAX_DATA_BLOCK << DISK_THIN_TIME_BITS | DISK_THIN_TIME_MASK, UINT64_MAX);

#endif

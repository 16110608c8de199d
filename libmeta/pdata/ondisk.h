/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * On-disk structures of the persistent-data formats (thin pools), private to
 * libmeta and its test tools.  Layouts are documented in include/libmeta/thin.h,
 * sm.h and btree.h; the compile-time checks below pin every size and offset.
 */
#ifndef LIBMETA_ONDISK_H
#define LIBMETA_ONDISK_H

#include <stddef.h>
#include "base/endian.h"

struct disk_sm_root {
	le64_t nr_blocks;
	le64_t nr_allocated;
	le64_t bitmap_root;
	le64_t ref_count_root;
};

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
	uint8_t data_space_map_root[128];
	uint8_t metadata_space_map_root[128];
	le64_t data_mapping_root;
	le64_t device_details_root;
	le32_t data_block_size;
	le32_t metadata_block_size;
	le64_t metadata_nr_blocks;
	le32_t compat_flags;
	le32_t compat_ro_flags;
	le32_t incompat_flags;
};

struct disk_node_header {
	le32_t csum;
	le32_t flags;
	le64_t blocknr;
	le32_t nr_entries;
	le32_t max_entries;
	le32_t value_size;
	le32_t padding;
};

struct disk_index_entry {
	le64_t blocknr;
	le32_t nr_free;
	le32_t none_free_before;
};

struct disk_metadata_index {
	le32_t csum;
	le32_t padding;
	le64_t blocknr;
	struct disk_index_entry index[255];
};

struct disk_bitmap_header {
	le32_t csum;
	le32_t not_used;
	le64_t blocknr;
};

struct disk_device_details {
	le64_t mapped_blocks;
	le64_t transaction_id;
	le32_t creation_time;
	le32_t snapshotted_time;
};

#define ODA(type, size) _Static_assert(sizeof(struct type) == (size), #type " size")
#define ODO(type, field, off) _Static_assert(offsetof(struct type, field) == (off), #type "." #field)
ODA(disk_sm_root, 32);
ODA(disk_thin_sb, 364);
ODO(disk_thin_sb, flags, 4);
ODO(disk_thin_sb, blocknr, 8);
ODO(disk_thin_sb, uuid, 16);
ODO(disk_thin_sb, magic, 32);
ODO(disk_thin_sb, version, 40);
ODO(disk_thin_sb, time, 44);
ODO(disk_thin_sb, trans_id, 48);
ODO(disk_thin_sb, held_root, 56);
ODO(disk_thin_sb, data_space_map_root, 64);
ODO(disk_thin_sb, metadata_space_map_root, 192);
ODO(disk_thin_sb, data_mapping_root, 320);
ODO(disk_thin_sb, device_details_root, 328);
ODO(disk_thin_sb, data_block_size, 336);
ODO(disk_thin_sb, metadata_block_size, 340);
ODO(disk_thin_sb, metadata_nr_blocks, 344);
ODO(disk_thin_sb, compat_flags, 352);
ODO(disk_thin_sb, compat_ro_flags, 356);
ODO(disk_thin_sb, incompat_flags, 360);
ODA(disk_node_header, 32);
ODO(disk_node_header, nr_entries, 16);
ODO(disk_node_header, max_entries, 20);
ODO(disk_node_header, value_size, 24);
ODA(disk_index_entry, 16);
ODA(disk_metadata_index, 4096);
ODA(disk_bitmap_header, 16);
ODA(disk_device_details, 24);
#undef ODA
#undef ODO

#define META_BITMAP_WORDS 510u /* (4096 - 16) / 8 */

#endif

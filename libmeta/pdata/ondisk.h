/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * On-disk structures of persistent-data (btree nodes, space maps), private to
 * libmeta and its test tools.  Layouts are documented in include/libmeta/sm.h and
 * btree.h; the compile-time checks below pin every size, offset and derived value
 * (the public headers' META_* constants state the same numbers).  The thin
 * superblock and device details are in thin/thin_ondisk.h.
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

#define DISK_BLOCK_SIZE 4096u

/* Checksum salts (crc32c of bytes 4..4095 xor salt, stored at 0): kernel values. */
#define DISK_NODE_CSUM_XOR 121107u
#define DISK_BITMAP_CSUM_XOR 240779u
#define DISK_INDEX_CSUM_XOR 160478u

/* The kernel's node capacity: as many (le64 key, value) pairs as fit, a multiple of 3. */
#define DISK_NODE_MAX_ENTRIES(value_size) \
	((DISK_BLOCK_SIZE - sizeof(struct disk_node_header)) / (sizeof(le64_t) + (value_size)) / 3 * 3)
/* Bitmap block: le64 words after the header, 2 bits per block. */
#define META_BITMAP_WORDS ((DISK_BLOCK_SIZE - sizeof(struct disk_bitmap_header)) / sizeof(le64_t))
#define DISK_BITMAP_ENTRIES (META_BITMAP_WORDS * 32u)
#define DISK_INDEX_ENTRIES (sizeof(((struct disk_metadata_index *)0)->index) / \
			    sizeof(struct disk_index_entry))

/* Compile-time pins, for this header and every format's on-disk header. */
#define ONDISK_SIZE(type, size) _Static_assert(sizeof(struct type) == (size), #type " size")
#define ONDISK_OFFSET(type, field, off) \
	_Static_assert(offsetof(struct type, field) == (off), #type "." #field)
#define ONDISK_VALUE(expr, value) _Static_assert((expr) == (value), #expr " == " #value)

ONDISK_SIZE(disk_sm_root, 32);
ONDISK_OFFSET(disk_sm_root, nr_allocated, 8);
ONDISK_OFFSET(disk_sm_root, bitmap_root, 16);
ONDISK_OFFSET(disk_sm_root, ref_count_root, 24);
ONDISK_SIZE(disk_node_header, 32);
ONDISK_OFFSET(disk_node_header, flags, 4);
ONDISK_OFFSET(disk_node_header, blocknr, 8);
ONDISK_OFFSET(disk_node_header, nr_entries, 16);
ONDISK_OFFSET(disk_node_header, max_entries, 20);
ONDISK_OFFSET(disk_node_header, value_size, 24);
ONDISK_OFFSET(disk_node_header, padding, 28);
ONDISK_SIZE(disk_index_entry, 16);
ONDISK_OFFSET(disk_index_entry, nr_free, 8);
ONDISK_OFFSET(disk_index_entry, none_free_before, 12);
ONDISK_SIZE(disk_metadata_index, 4096);
ONDISK_OFFSET(disk_metadata_index, blocknr, 8);
ONDISK_OFFSET(disk_metadata_index, index, 16);
ONDISK_SIZE(disk_bitmap_header, 16);
ONDISK_OFFSET(disk_bitmap_header, blocknr, 8);
/* derived: META_NODE_HEADER_SIZE, meta_btree_max_entries(), META_SM_* in btree.h, sm.h */
ONDISK_VALUE(DISK_NODE_MAX_ENTRIES(4), 336);  /* ref-count tree (le32 counts) */
ONDISK_VALUE(DISK_NODE_MAX_ENTRIES(8), 252);  /* internal nodes, mapping leaves */
ONDISK_VALUE(DISK_NODE_MAX_ENTRIES(16), 168); /* disk space map index entries */
ONDISK_VALUE(DISK_NODE_MAX_ENTRIES(24), 126); /* thin device details */
ONDISK_VALUE(META_BITMAP_WORDS, 510);
ONDISK_VALUE(DISK_BITMAP_ENTRIES, 16320);     /* META_SM_ENTRIES_PER_BITMAP */
ONDISK_VALUE(DISK_INDEX_ENTRIES, 255);        /* META_SM_MAX_METADATA_BITMAPS */

#endif

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The `mikulas` shared multisnapshot store, format version 1 (dmmeta's own format;
 * the original's structures are not public).  man/multisnap-store.5 (its mikulas
 * section, man/multisnap-store-mikulas.5.part) says the same in prose.
 * All integers little-endian.  Block = 4096 bytes; sector = 512 bytes.
 *
 * Layout of the COW device (size B bytes):
 *   block 0            the superblock (below)
 *   blocks 1..M-1      the metadata area: persistent-data blocks (btree nodes, space-map
 *                      bitmaps and indexes), allocated through a META_SM_METADATA map
 *                      over blocks 0..M-1 (block 0 counted as used)
 *   data area          D chunks of chunk_size sectors, chunk i at byte
 *                      data_start + i * chunk_size * 512, where data_start is the first
 *                      multiple of chunk_size * 512 at or after M * 4096, and
 *                      D = (B - data_start) / (chunk_size * 512) when formatted; counted
 *                      in a META_SM_DISK map of D entries (one per chunk; count = how
 *                      many exception keys name the chunk).
 *
 * Superblock (block 0; bytes not listed are zero):
 *     0  8  magic        "DMMSMIKU"
 *     8  4  csum         meta_crc32c(0xffffffff, bytes 12..4095) ^ 0x4d494b55 ("UKIM" le)
 *    12  4  version      1
 *    16  8  blocknr      0 (the block's own number)
 *    24  4  chunk_size   sectors, a power of two, 8 .. 2^21
 *    28  4  flags        generic args: 1 sync-snapshots, 2 preserve-on-error; others 0
 *    32  4  valid        1: a complete store; 0: being restored (not usable)
 *    36  4  reserved     0
 *    40  8  metadata_blocks  M (block 0 included), 64 .. META_SM_METADATA_MAX_BLOCKS
 *    48  8  data_chunks  D (= the data map's nr_blocks)
 *    56 32  metadata_sm  struct disk_sm_root of the metadata map (nr_blocks = M)
 *    88 32  data_sm      struct disk_sm_root of the data map
 *   120  8  exception_root  root block of the exception tree
 *   128  8  snapshot_root   root block of the snapshot tree
 *   136  8  next_snapshot   the number the next create hands out (0 .. 0xffffffff;
 *                           0xffffffff: the number space is exhausted)
 *   144  8  transaction     commits since format (format commits transaction 1)
 *
 * Snapshot ids: (number << 32) | sub.  A snapshot of the origin has sub 0xffffffff;
 * sub-snapshot k of snapshot N is (N << 32) | k, k = 0 .. 0xfffffffe, handed out in
 * order.  Number 0xffffffff is reserved (never handed out).  One level only.
 *
 * Snapshot tree: a 1-level persistent-data btree (include/libmeta/btree.h), key = the
 * 64-bit id, value (16 bytes, struct mikulas_disk_snap):
 *     0  8  created      the transaction that created the snapshot
 *     8  4  next_sub     masters: the next sub number to hand out; subs: 0
 *    12  4  flags        0 (none defined in version 1)
 *
 * Exception tree: a 1-level btree, key = (origin_chunk << 16) | n, where n = 0, 1, ...
 * numbers the exceptions of one origin chunk densely in increasing first_id; value
 * (24 bytes, struct mikulas_disk_exc): first_id, last_id, cow_chunk.  Meaning: every
 * LIVE snapshot id with first_id <= id <= last_id reads origin chunk origin_chunk
 * from data chunk cow_chunk.  first_id <= last_id; ranges of one origin chunk do not
 * overlap; origin_chunk < 2^48; at most 65536 exceptions per origin chunk; several
 * keys may name one cow_chunk (its data-map count is the number of keys).
 *
 * Commit protocol: every change goes through the transaction manager (pdata/tm.h):
 * committed blocks are never written; new blocks are written and flushed, then the
 * superblock (transaction + 1), then a flush.  A crash leaves the previous commit.
 * Format writes every other block first and the superblock last; restore writes the
 * superblock with valid = 0 first and valid = 1 last.
 */
#ifndef LIBMETA_MULTISNAP_MIKULAS_ONDISK_H
#define LIBMETA_MULTISNAP_MIKULAS_ONDISK_H

#include <stddef.h>
#include <stdint.h>

#include "base/endian.h"
#include "pdata/ondisk.h"

#define MIKULAS_MAGIC "DMMSMIKU"
#define MIKULAS_MAGIC_LEN 8u
#define MIKULAS_SB_CSUM_XOR 0x4d494b55u
#define MIKULAS_VERSION 1u
#define MIKULAS_CSUM_START 12u

#define MIKULAS_MIN_CHUNK 8u            /* sectors: 4 KiB */
#define MIKULAS_MAX_CHUNK (1u << 21)    /* sectors: 1 GiB */
#define MIKULAS_MIN_META_BLOCKS 64u
#define MIKULAS_FLAGS_KNOWN 3u

#define MIKULAS_NUMBER_MAX 0xfffffffeu  /* the largest number handed out */
#define MIKULAS_SUB_MAX 0xfffffffeu
#define MIKULAS_CHUNK_LIMIT (1ull << 48) /* origin chunks below this */
#define MIKULAS_EXC_PER_CHUNK 65536u

struct mikulas_disk_sb {
	uint8_t magic[8];
	le32_t csum;
	le32_t version;
	le64_t blocknr;
	le32_t chunk_size;
	le32_t flags;
	le32_t valid;
	le32_t reserved;
	le64_t metadata_blocks;
	le64_t data_chunks;
	struct disk_sm_root metadata_sm;
	struct disk_sm_root data_sm;
	le64_t exception_root;
	le64_t snapshot_root;
	le64_t next_snapshot;
	le64_t transaction;
};

struct mikulas_disk_snap {
	le64_t created;
	le32_t next_sub;
	le32_t flags;
};

struct mikulas_disk_exc {
	le64_t first_id;
	le64_t last_id;
	le64_t cow_chunk;
};

ONDISK_SIZE(mikulas_disk_sb, 152);
ONDISK_OFFSET(mikulas_disk_sb, csum, 8);
ONDISK_OFFSET(mikulas_disk_sb, version, 12);
ONDISK_OFFSET(mikulas_disk_sb, blocknr, 16);
ONDISK_OFFSET(mikulas_disk_sb, chunk_size, 24);
ONDISK_OFFSET(mikulas_disk_sb, flags, 28);
ONDISK_OFFSET(mikulas_disk_sb, valid, 32);
ONDISK_OFFSET(mikulas_disk_sb, reserved, 36);
ONDISK_OFFSET(mikulas_disk_sb, metadata_blocks, 40);
ONDISK_OFFSET(mikulas_disk_sb, data_chunks, 48);
ONDISK_OFFSET(mikulas_disk_sb, metadata_sm, 56);
ONDISK_OFFSET(mikulas_disk_sb, data_sm, 88);
ONDISK_OFFSET(mikulas_disk_sb, exception_root, 120);
ONDISK_OFFSET(mikulas_disk_sb, snapshot_root, 128);
ONDISK_OFFSET(mikulas_disk_sb, next_snapshot, 136);
ONDISK_OFFSET(mikulas_disk_sb, transaction, 144);
ONDISK_SIZE(mikulas_disk_snap, 16);
ONDISK_OFFSET(mikulas_disk_snap, next_sub, 8);
ONDISK_OFFSET(mikulas_disk_snap, flags, 12);
ONDISK_SIZE(mikulas_disk_exc, 24);
ONDISK_OFFSET(mikulas_disk_exc, last_id, 8);
ONDISK_OFFSET(mikulas_disk_exc, cow_chunk, 16);
ONDISK_VALUE(DISK_NODE_MAX_ENTRIES(24), 126); /* exception leaves */
ONDISK_VALUE(DISK_NODE_MAX_ENTRIES(16), 168); /* snapshot leaves */

static inline uint64_t mikulas_exc_key(uint64_t origin_chunk, uint32_t n)
{
	return (origin_chunk << 16) | n;
}

static inline void mikulas_snap_pack(struct mikulas_disk_snap *d, uint64_t created,
				     uint32_t next_sub)
{
	d->created = le64_of(created);
	d->next_sub = le32_of(next_sub);
	d->flags = le32_of(0);
}

#endif

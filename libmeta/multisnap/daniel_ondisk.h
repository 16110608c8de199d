/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The `daniel` shared multisnapshot store: Zumastor ddsnap's layout (ddsnap.h / ddsnapd.c,
 * as the kernel port dm-multisnap-daniel.c took it), little-endian, with the offsets the
 * x86-64 build of ddsnap gives (natural alignment; the journal commit block packed).
 * The full text is man/multisnap-store.5 (daniel section); this comment is the summary.
 *
 * Units.  The device is cut into 4096-byte chunks ("units"); every chunk number in the
 * superblock's allocspace, the bitmaps, the tree pointers (in sectors: unit * 8) and the
 * exceptions counts 4 KiB units.  The store's chunk size (the origin's and the data
 * chunks') is 32 sectors = 16 KiB, the only one the kernel port took: a data chunk is
 * 4 units starting at a multiple of 4.  Origin chunk numbers (tree keys) count 16 KiB.
 * Metadata and data share one allocspace (snapdata.chunks = 0); a store with a separate
 * snapdata allocspace is refused (META_E_UNSUPPORTED) and reported by the check.
 *
 * Layout (unit: what it holds):
 *   0                       zero (never written except zeroed by format/restore)
 *   1 (byte 4096, sector 8) superblock (struct msd_disksuper, 1712 bytes; bytes
 *                           1712..4095 are written zero and ignored on read)
 *   2 .. 2+B-1              allocation bitmap, B = metadata.bitmap_blocks blocks; bit u
 *                           (byte u/8, bit u%8, LSB first) set = unit u in use.  Bits past
 *                           metadata.chunks are written zero and ignored.
 *   J .. J+journal_size-1   journal (J = journal_base / 8; 100 units): laid out as ddsnap
 *                           does but never written by dmmeta (zero).  Commit blocks found
 *                           there newer than `sequence` are an unreplayed journal
 *                           (MSD_JOURNAL_UNREPLAYED): dmmeta does not replay.
 *   then                    B-tree index nodes, leaves and 16 KiB data chunks, anywhere.
 *
 * B-tree.  etree_root is the sector of the root index node; etree_levels (>= 1) is the
 * number of index levels above the leaves.  Index node: count (1..255) then entries
 * {key, sector}; entry i covers origin chunks [key_i, key_{i+1}) (key_0 is the lower bound
 * of the node's range, keys strictly increasing).  Leaf (struct msd_eleaf): magic 0x1eaf,
 * version 0, count map entries, base_chunk, using_mask (OR of every share in the leaf),
 * map[count + 1]: map[i] = {offset, rchunk}: origin chunk base_chunk + rchunk (rchunks
 * strictly increasing) has the exceptions {share, chunk} from byte map[i].offset up to
 * map[i+1].offset (at least one); map[count].offset = 4096 (the sentinel); offsets
 * non-decreasing, the exception area packed against the block's end, above the map.
 * share: bit b set = the snapshot whose `bit` is b reads this COW chunk; the shares of one
 * origin chunk's exceptions are disjoint and name live snapshots only.
 *
 * flags: ddsnap's SB_DIRTY (1), SB_BUSY (2, "server running"; a store found with it set
 * was not closed cleanly) and SB_SELFCHECK (4), bit 32 sync-snapshots and bit 33 preserve-on-error (dmmeta: the generic
 * arguments the store was made with); other bits are kept as they are.
 *
 * Snapshots: snaplist[0 .. snapshots-1] in use (bits 0..63 unique, tags unique); the tag is
 * the external id.  next_tag (dmmeta's use of the metadata allocspace's pad, byte 1660):
 * the next tag create hands out (ids are never reused); 0 = not kept: max tag + 1.
 *
 * No journal: a message's writes are not atomic.  Order of a delete: superblock with the
 * snapshot's bit added to `deleting` (flushed), then the rewritten leaves, then the bitmaps
 * (recomputed from the tree), then the superblock without the snapshot and its bit cleared
 * from `deleting` (an earlier interrupted delete's bit stays), flushed.  A crash leaves
 * `deleting` set (the check says so; deleting the snapshot again finishes the job), and
 * possibly bitmaps that still mark freed chunks (a leak, non-fatal).  A create writes the
 * superblock only.  Origin and snapshot writes (the engine, daniel.c): the COW data
 * (flushed), the tree, the changed bitmap blocks (flushed), the superblock (flushed), then
 * the origin; see the man page for what a crash between them leaves.
 */
#ifndef LIBMETA_MULTISNAP_DANIEL_ONDISK_H
#define LIBMETA_MULTISNAP_DANIEL_ONDISK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/endian.h"

#define MSD_UNIT 4096u
#define MSD_UNIT_SHIFT 12
#define MSD_SB_OFFSET 4096u
#define MSD_SB_UNIT 1u
#define MSD_BITMAP_UNIT 2u
#define MSD_CHUNK_SECTORS 32u  /* the store's chunk size */
#define MSD_DATA_UNITS 4u      /* 4 KiB units per 16 KiB data chunk */
#define MSD_JOURNAL_UNITS 100u
#define MSD_MAX_SNAPSHOTS 64
#define MSD_SB_DIRTY 1u     /* ddsnap's flags */
#define MSD_SB_BUSY 2u
#define MSD_SB_SELFCHECK 4u
/* dmmeta's flags: the table line's generic arguments given when the store was made */
#define MSD_SB_SYNC_SNAPSHOTS (1ull << 32)
#define MSD_SB_PRESERVE_ON_ERROR (1ull << 33)
#define MSD_LEAF_MAGIC 0x1eaf
#define MSD_LEAF_VERSION 0
#define MSD_INDEX_MAX ((MSD_UNIT - 8) / 16) /* 255 entries */
#define MSD_SB_SIZE 1712u

static const uint8_t msd_magic[8] = {0x74, 0x65, 0x73, 0x74, 0xdd, 0x07, 0x06, 0x04};
static const uint8_t msd_commit_magic[8] = {'M', 'A', 'G', 'I', 'C', 'N', 'U', 'M'};

struct msd_snapshot {
	le32_t ctime;
	le32_t tag;      /* external id */
	le16_t usecount;
	uint8_t bit;     /* internal 0..63: its bit in the share masks */
	uint8_t prio;    /* signed in ddsnap */
	uint8_t pad[4];
	le64_t sectors;
};

struct msd_allocspace {
	le64_t bitmap_base;   /* sector */
	le64_t chunks;        /* units in the allocspace */
	le64_t freechunks;
	le64_t last_alloc;
	le64_t bitmap_blocks;
	le32_t allocsize_bits; /* 12 */
	le32_t pad;            /* metadata: dmmeta's next_tag; snapdata: 0 */
};

struct msd_disksuper {
	uint8_t magic[8];
	le64_t create_time;
	le64_t etree_root;     /* sector */
	le64_t orgoffset;
	le64_t orgsectors;
	le64_t flags;          /* MSD_SB_BUSY */
	le64_t deleting;       /* mask of the snapshot being deleted */
	struct msd_snapshot snaplist[MSD_MAX_SNAPSHOTS];
	le32_t snapshots;
	le32_t etree_levels;
	le32_t journal_base;   /* sector */
	le32_t journal_next;
	le32_t journal_size;   /* units */
	le32_t sequence;
	struct msd_allocspace metadata;
	struct msd_allocspace snapdata;
};

struct msd_index_entry {
	le64_t key;            /* first origin chunk of the child */
	le64_t sector;         /* child node */
};

struct msd_enode {
	le32_t count;
	le32_t unused;
	struct msd_index_entry entries[];
};

struct msd_exception {
	le64_t share;
	le64_t chunk;          /* COW chunk, 4 KiB units (multiple of 4) */
};

struct msd_etree_map {
	le32_t offset;
	le32_t rchunk;
};

struct msd_eleaf {
	le16_t magic;
	le16_t version;
	le32_t count;
	le64_t base_chunk;
	le64_t using_mask;
	struct msd_etree_map map[];
};

/* Journal commit block (ddsnap's is packed). */
struct msd_commit_block {
	uint8_t magic[8];
	le32_t checksum;
	le32_t sequence;
	le32_t entries;
	le64_t snapfree;
	le64_t metafree;
	le64_t alloc_chunk;
	le32_t alloc_count;    /* barrier:1, count:31 */
	le32_t alloc_pad;
	le64_t sector[];
};

_Static_assert(sizeof(struct msd_snapshot) == 24, "snapshot entry");
_Static_assert(offsetof(struct msd_snapshot, tag) == 4, "tag");
_Static_assert(offsetof(struct msd_snapshot, usecount) == 8, "usecount");
_Static_assert(offsetof(struct msd_snapshot, bit) == 10, "bit");
_Static_assert(offsetof(struct msd_snapshot, prio) == 11, "prio");
_Static_assert(offsetof(struct msd_snapshot, sectors) == 16, "sectors");
_Static_assert(sizeof(struct msd_allocspace) == 48, "allocspace");
_Static_assert(offsetof(struct msd_allocspace, chunks) == 8, "chunks");
_Static_assert(offsetof(struct msd_allocspace, freechunks) == 16, "freechunks");
_Static_assert(offsetof(struct msd_allocspace, last_alloc) == 24, "last_alloc");
_Static_assert(offsetof(struct msd_allocspace, bitmap_blocks) == 32, "bitmap_blocks");
_Static_assert(offsetof(struct msd_allocspace, allocsize_bits) == 40, "allocsize_bits");
_Static_assert(offsetof(struct msd_allocspace, pad) == 44, "pad");
_Static_assert(offsetof(struct msd_disksuper, create_time) == 8, "create_time");
_Static_assert(offsetof(struct msd_disksuper, etree_root) == 16, "etree_root");
_Static_assert(offsetof(struct msd_disksuper, orgoffset) == 24, "orgoffset");
_Static_assert(offsetof(struct msd_disksuper, orgsectors) == 32, "orgsectors");
_Static_assert(offsetof(struct msd_disksuper, flags) == 40, "flags");
_Static_assert(offsetof(struct msd_disksuper, deleting) == 48, "deleting");
_Static_assert(offsetof(struct msd_disksuper, snaplist) == 56, "snaplist");
_Static_assert(offsetof(struct msd_disksuper, snapshots) == 1592, "snapshots");
_Static_assert(offsetof(struct msd_disksuper, etree_levels) == 1596, "etree_levels");
_Static_assert(offsetof(struct msd_disksuper, journal_base) == 1600, "journal_base");
_Static_assert(offsetof(struct msd_disksuper, journal_next) == 1604, "journal_next");
_Static_assert(offsetof(struct msd_disksuper, journal_size) == 1608, "journal_size");
_Static_assert(offsetof(struct msd_disksuper, sequence) == 1612, "sequence");
_Static_assert(offsetof(struct msd_disksuper, metadata) == 1616, "metadata");
_Static_assert(offsetof(struct msd_disksuper, metadata.pad) == 1660, "next_tag");
_Static_assert(offsetof(struct msd_disksuper, snapdata) == 1664, "snapdata");
_Static_assert(sizeof(struct msd_disksuper) == MSD_SB_SIZE, "disksuper");
_Static_assert(sizeof(struct msd_index_entry) == 16, "index entry");
_Static_assert(sizeof(struct msd_enode) == 8, "index node header");
_Static_assert(sizeof(struct msd_exception) == 16, "exception");
_Static_assert(sizeof(struct msd_etree_map) == 8, "map entry");
_Static_assert(offsetof(struct msd_eleaf, count) == 4, "leaf count");
_Static_assert(offsetof(struct msd_eleaf, base_chunk) == 8, "leaf base_chunk");
_Static_assert(offsetof(struct msd_eleaf, using_mask) == 16, "leaf using_mask");
_Static_assert(sizeof(struct msd_eleaf) == 24, "leaf header");
_Static_assert(offsetof(struct msd_commit_block, checksum) == 8, "commit checksum");
_Static_assert(offsetof(struct msd_commit_block, sequence) == 12, "commit sequence");
_Static_assert(offsetof(struct msd_commit_block, entries) == 16, "commit entries");
_Static_assert(offsetof(struct msd_commit_block, snapfree) == 20, "commit snapfree");
_Static_assert(offsetof(struct msd_commit_block, metafree) == 28, "commit metafree");
_Static_assert(offsetof(struct msd_commit_block, alloc_chunk) == 36, "commit alloc");
_Static_assert(offsetof(struct msd_commit_block, sector) == 52, "commit sectors");

/*
 * The logical content of a store (what XML describes), for the writer that lays out a
 * whole store (format, restore and tests).  Private to libmeta.
 */
struct msd_snap_desc {
	uint32_t tag, ctime;
	uint16_t usecount;
	uint8_t bit;
	int8_t prio;
	uint64_t sectors;
};
struct msd_exc_desc {
	uint64_t origin;   /* origin chunk (16 KiB) */
	uint64_t chunk;    /* COW chunk (4 KiB units, multiple of 4) */
	uint64_t share;    /* bit mask */
};
struct msd_image {
	uint64_t chunks;   /* 4 KiB units the store spans (0: the whole device) */
	uint64_t create_time, orgoffset, orgsectors, flags;
	uint32_t sequence, next_tag;
	uint32_t nr_snaps;
	struct msd_snap_desc snaps[MSD_MAX_SNAPSHOTS];
	uint64_t nr_exc;
	struct msd_exc_desc *exc; /* sorted by origin, then chunk */
};

struct meta_io;
/* Lay out the store img describes on io (superblock invalidated first, written last). */
int msd_write_image(struct meta_io *io, const struct msd_image *img);
/*
 * The same, streamed (restore): msd_build_new takes the image's header and snapshots (not
 * its exceptions) and data_used (bit c set: data chunk c, units 4c..4c+3, holds an
 * exception; every chunk msd_build_add will get), invalidates the store and returns the
 * builder; msd_build_add takes the exceptions in (origin, chunk) order and writes each leaf
 * as it fills; msd_build_finish writes the index nodes, the bitmaps and the superblock last.
 * META_E_INVAL for an exception out of order, of no live snapshot, or outside data_used.
 * Memory: one bit per 4 KiB unit and 16 bytes per leaf, whatever the number of exceptions.
 */
struct msd_builder;
int msd_build_new(struct meta_io *io, const struct msd_image *img, const uint8_t *data_used,
		  struct msd_builder **out);
int msd_build_add(struct msd_builder *m, const struct msd_exc_desc *e);
int msd_build_finish(struct msd_builder *m);
void msd_build_free(struct msd_builder *m);
/* The flags as XML: "dirty,busy,selfcheck,sync-snapshots,preserve-on-error", other bits as "0x..". */
void msd_flags_format(uint64_t flags, char *buf, size_t len);
/* Parse that form (or a plain number): 0, or -1 when malformed. */
int msd_flags_parse(const char *s, uint64_t *flags);
/*
 * The exceptions snapshot tag reads (st: ms_daniel_ops.open's), in tree order (origin
 * chunk ascending): fn(ctx, origin chunk, byte offset of the 16 KiB COW chunk); fn's
 * non-zero return stops the walk and is returned.  META_E_NOTFOUND: no such snapshot;
 * META_E_CORRUPT: the tree is damaged.
 */
typedef int (*msd_exc_fn)(void *ctx, uint64_t origin_chunk, uint64_t cow_byte);
int msd_snapshot_exceptions(void *st, uint64_t tag, msd_exc_fn fn, void *ctx);
/* daniel_xml.c: ms_daniel_ops.restore_xml. */
int msd_restore_xml(const char *head, size_t headlen, FILE *in, struct meta_io *io, char *err,
		    size_t errlen);

#endif

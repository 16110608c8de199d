/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Damage is data, not an error: checkers report every problem they find as a
 * `struct meta_damage` through a callback and keep walking.  Each kind has a
 * stable name (tests grep for it) and a default severity.  New kinds start as
 * non-fatal (a stricter checker must not stop pools from booting).
 */
#ifndef LIBMETA_DAMAGE_H
#define LIBMETA_DAMAGE_H

#include <stdint.h>
#include <libmeta/api.h>

enum meta_severity {
	META_SEV_INFO = 0,     /* worth saying, not damage */
	META_SEV_NONFATAL = 1, /* harmless to the kernel: leaks, under-full nodes */
	META_SEV_FATAL = 2,    /* the kernel would misbehave or lose data */
};

/* X(name, severity, description) */
#define META_DAMAGE_KINDS(X)                                                                  \
	X(SB_CHECKSUM, FATAL, "superblock checksum is wrong")                                    \
	X(SB_BLOCKNR, FATAL, "superblock records the wrong block number")                        \
	X(SB_MAGIC, FATAL, "superblock magic is wrong")                                          \
	X(SB_VERSION, FATAL, "unsupported superblock version")                                   \
	X(SB_FEATURE, FATAL, "unsupported incompatible feature flags")                           \
	X(SB_FIELD, FATAL, "superblock field out of range")                                      \
	X(SB_NEEDS_CHECK, INFO, "needs_check flag is set")                                       \
	X(IO_ERROR, FATAL, "block could not be read")                                            \
	X(BLOCK_OUT_OF_RANGE, FATAL, "reference to a block past the end of the metadata device") \
	X(NODE_CHECKSUM, FATAL, "btree node checksum is wrong")                                  \
	X(NODE_BLOCKNR, FATAL, "btree node records the wrong block number")                      \
	X(NODE_FLAGS, FATAL, "btree node is neither internal nor leaf")                          \
	X(NODE_NR_ENTRIES, FATAL, "btree node has more entries than fit")                        \
	X(NODE_VALUE_SIZE, FATAL, "btree node has the wrong value size")                         \
	X(NODE_KEY_ORDER, FATAL, "btree node keys are not strictly increasing")                  \
	X(NODE_KEY_RANGE, FATAL, "btree node keys fall outside the parent's range")              \
	X(NODE_EMPTY, FATAL, "non-root btree node has no entries")                               \
	X(NODE_DEPTH, FATAL, "btree leaves are not all at the same depth")                       \
	X(NODE_MAX_ENTRIES, NONFATAL, "btree node max_entries is not a multiple of 3")           \
	X(NODE_UNDERFULL, NONFATAL, "btree node is less than a third full")                      \
	X(DEV_NO_DETAILS, FATAL, "mapping tree has a device with no device details")             \
	X(DEV_NO_MAPPINGS, FATAL, "device details name a device with no mapping tree")           \
	X(DEV_MAPPED_COUNT, FATAL, "device mapped_blocks differs from the mappings found")       \
	X(MAPPING_PAST_END, FATAL, "mapping to a data block past the end of the data device")    \
	X(SM_ROOT, FATAL, "space map root is invalid")                                           \
	X(SM_INDEX, FATAL, "space map index block is damaged")                                   \
	X(SM_BITMAP, FATAL, "space map bitmap block is damaged")                                 \
	X(SM_REF_COUNT_TREE, FATAL, "space map reference count tree is damaged")                 \
	X(SM_NR_ALLOCATED, NONFATAL, "space map nr_allocated differs from the counts")           \
	X(META_LEAK, NONFATAL, "metadata blocks leaked (counted in use, not referenced)")        \
	X(META_BAD_COUNT, FATAL, "metadata block reference counts are wrong")                    \
	X(DATA_LEAK, NONFATAL, "data blocks leaked (counted in use, not referenced)")            \
	X(DATA_BAD_COUNT, FATAL, "data block reference counts are wrong")                        \
	X(HELD_ROOT, FATAL, "metadata snapshot (held root) is damaged")                          \
	X(SNAP_HEADER, FATAL, "snapshot store header is damaged")                                \
	X(SNAP_INVALID, FATAL, "snapshot store is marked invalid")                               \
	X(SNAP_AREA, FATAL, "exception area lies past the end of the COW device")                \
	X(SNAP_NEW_CHUNK, FATAL, "exception points at an illegal COW chunk")                     \
	X(SNAP_OLD_CHUNK, FATAL, "exception points past the end of the origin")                  \
	X(SNAP_DUP_NEW, FATAL, "two exceptions share one COW chunk")                             \
	X(SNAP_DUP_OLD, FATAL, "two exceptions remap the same origin chunk")                     \
	X(SNAP_GARBAGE, NONFATAL, "non-zero bytes after the exception list terminator")          \
	X(SNAP_ORDER, INFO, "exceptions are not in the kernel's allocation order")

enum meta_damage_kind {
#define META_DK_ENUM(name, sev, text) META_DMG_##name,
	META_DAMAGE_KINDS(META_DK_ENUM)
#undef META_DK_ENUM
	META_DMG__COUNT
};

struct meta_damage {
	enum meta_damage_kind kind;
	enum meta_severity severity;
	uint64_t block;     /* metadata block (or chunk) concerned; UINT64_MAX if none */
	uint64_t dev_id;    /* thin device id; UINT64_MAX if none */
	uint64_t begin;     /* key/block range lost or concerned, [begin, end) */
	uint64_t end;
	uint64_t count;     /* how many (leaked blocks, missing mappings...) */
	const char *detail; /* extra text; may be NULL; valid only during the callback */
};

typedef void (*meta_damage_fn)(void *ctx, const struct meta_damage *d);

META_API const char *meta_damage_name(enum meta_damage_kind k);      /* "NODE_CHECKSUM" */
META_API const char *meta_damage_text(enum meta_damage_kind k);      /* description */
META_API enum meta_severity meta_damage_default_severity(enum meta_damage_kind k);
/* Initialise d with kind, its default severity and "none" markers. */
META_API void meta_damage_init(struct meta_damage *d, enum meta_damage_kind k);

#endif

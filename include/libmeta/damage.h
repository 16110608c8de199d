/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Damage is data, not an error: checkers report every problem they find as a
 * `struct meta_damage` through a callback and keep walking.  Each kind has one
 * row in META_DAMAGE_KINDS: a stable name (tests grep for it), a default severity,
 * what its numbers locate, its wording and the advice the tools print.  New kinds
 * start as non-fatal (a stricter checker must not stop pools from booting).
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

/* What a damage record's block, begin, end and count locate; the table names one per kind. */
enum meta_damage_locus {
	META_LOCUS_BLOCK,   /* metadata block `block`; [begin, end) metadata blocks, count of them */
	META_LOCUS_NODE,    /* btree node `block` (of device dev_id); [begin, end) keys below it */
	META_LOCUS_VIRTUAL, /* thin device dev_id; [begin, end) its virtual blocks */
	META_LOCUS_DATA,    /* [begin, end) data blocks */
	META_LOCUS_RECORD,  /* exception record `begin`, its COW chunk `block` */
	META_LOCUS_RUN,     /* `count` exception records from record `begin` (chunk `block`) */
	META_LOCUS_STORE,   /* the whole snapshot store: no position */
};

/*
 * The one table of damage kinds: X(name, severity, locus, description, phrase, advice)
 *   name         stable identifier (tests, scripts and log filters grep it)
 *   severity     the default severity (INFO, NONFATAL, FATAL)
 *   locus        what the record's block/begin/end/count locate (enum meta_damage_locus
 *                below); it gives the label of the range (meta_damage_range_label())
 *   description  one line saying what is wrong (meta_damage_text())
 *   phrase       the wording thin_check prints: the key phrase of thin_check 1.x for
 *                the same condition, so log filters written for it keep matching; NULL
 *                when it is the description (meta_damage_phrase())
 *   advice       the next step for the user (meta_damage_advice())
 */
#define META_DAMAGE_KINDS(X)                                                                     \
	X(SB_CHECKSUM, FATAL, BLOCK, "superblock checksum is wrong",                             \
	  "bad checksum in superblock",                                                          \
	  "run thin_repair")                                                                     \
	X(SB_BLOCKNR, FATAL, BLOCK, "superblock records the wrong block number", NULL,           \
	  "run thin_repair")                                                                     \
	X(SB_MAGIC, FATAL, BLOCK, "superblock magic is wrong", NULL,                             \
	  "run thin_repair")                                                                     \
	X(SB_VERSION, FATAL, BLOCK, "unsupported superblock version", NULL,                      \
	  "run thin_repair")                                                                     \
	X(SB_FEATURE, FATAL, BLOCK, "unsupported incompatible feature flags", NULL,              \
	  "run thin_repair")                                                                     \
	X(SB_FIELD, FATAL, BLOCK, "superblock field out of range", NULL,                         \
	  "run thin_repair")                                                                     \
	X(SB_NEEDS_CHECK, INFO, BLOCK, "needs_check flag is set", NULL,                          \
	  "clear it with --clear-needs-check-flag once the check passes")                        \
	X(IO_ERROR, FATAL, NODE, "block could not be read", NULL,                                \
	  "run thin_repair")                                                                     \
	X(BLOCK_OUT_OF_RANGE, FATAL, NODE, "reference to a block past the end of the metadata device", \
	  NULL,                                                                                  \
	  "run thin_repair")                                                                     \
	X(NODE_CHECKSUM, FATAL, NODE, "btree node checksum is wrong", NULL,                      \
	  "run thin_repair")                                                                     \
	X(NODE_BLOCKNR, FATAL, NODE, "btree node records the wrong block number", NULL,          \
	  "run thin_repair")                                                                     \
	X(NODE_FLAGS, FATAL, NODE, "btree node is neither internal nor leaf", NULL,              \
	  "run thin_repair")                                                                     \
	X(NODE_NR_ENTRIES, FATAL, NODE, "btree node has more entries than fit", NULL,            \
	  "run thin_repair")                                                                     \
	X(NODE_VALUE_SIZE, FATAL, NODE, "btree node has the wrong value size", NULL,             \
	  "run thin_repair")                                                                     \
	X(NODE_KEY_ORDER, FATAL, NODE, "btree node keys are not strictly increasing", NULL,      \
	  "run thin_repair")                                                                     \
	X(NODE_KEY_RANGE, FATAL, NODE, "btree node keys fall outside the parent's range", NULL,  \
	  "run thin_repair")                                                                     \
	X(NODE_EMPTY, FATAL, NODE, "non-root btree node has no entries", NULL,                   \
	  "run thin_repair")                                                                     \
	X(NODE_DEPTH, FATAL, NODE, "btree leaves are not all at the same depth", NULL,           \
	  "run thin_repair")                                                                     \
	X(NODE_MAX_ENTRIES, NONFATAL, NODE, "btree node max_entries is not a multiple of 3",     \
	  NULL,                                                                                  \
	  "non-fatal: --ignore-non-fatal-errors accepts it")                                     \
	X(NODE_UNDERFULL, NONFATAL, NODE, "btree node is less than a third full", NULL,          \
	  "non-fatal: --ignore-non-fatal-errors accepts it")                                     \
	X(DEV_NO_DETAILS, FATAL, NODE, "mapping tree has a device with no device details",       \
	  NULL,                                                                                  \
	  "run thin_repair")                                                                     \
	X(DEV_NO_MAPPINGS, FATAL, NODE, "device details name a device with no mapping tree",     \
	  NULL,                                                                                  \
	  "run thin_repair")                                                                     \
	X(DEV_MAPPED_COUNT, FATAL, VIRTUAL, "device mapped_blocks differs from the mappings found", \
	  "thin device has unexpected number of mappings",                                       \
	  "run thin_repair")                                                                     \
	X(MAPPING_PAST_END, FATAL, VIRTUAL, "mapping to a data block past the end of the data device", \
	  NULL,                                                                                  \
	  "run thin_repair")                                                                     \
	X(SM_ROOT, FATAL, BLOCK, "space map root is invalid", NULL,                              \
	  "run thin_repair")                                                                     \
	X(SM_INDEX, FATAL, BLOCK, "space map index block is damaged", NULL,                      \
	  "run thin_repair")                                                                     \
	X(SM_BITMAP, FATAL, BLOCK, "space map bitmap block is damaged", NULL,                    \
	  "run thin_repair")                                                                     \
	X(SM_REF_COUNT_TREE, FATAL, BLOCK, "space map reference count tree is damaged", NULL,    \
	  "run thin_repair")                                                                     \
	X(SM_NR_ALLOCATED, NONFATAL, BLOCK, "space map nr_allocated differs from the counts",    \
	  NULL,                                                                                  \
	  "non-fatal: --ignore-non-fatal-errors accepts it")                                     \
	X(META_LEAK, NONFATAL, BLOCK, "metadata blocks leaked (counted in use, not referenced)", \
	  NULL,                                                                                  \
	  "non-fatal: the space is only lost; --ignore-non-fatal-errors accepts it, "            \
	  "thin_repair reclaims it")                                                             \
	X(META_BAD_COUNT, FATAL, BLOCK, "metadata block reference counts are wrong", NULL,       \
	  "run thin_repair")                                                                     \
	X(DATA_LEAK, NONFATAL, DATA, "data blocks leaked (counted in use, not referenced)",      \
	  "data blocks have leaked (counted in use, not referenced)",                            \
	  "non-fatal: the space is only lost; --ignore-non-fatal-errors accepts it, "            \
	  "thin_repair reclaims it")                                                             \
	X(DATA_BAD_COUNT, FATAL, DATA, "data block reference counts are wrong", NULL,            \
	  "run thin_repair")                                                                     \
	X(HELD_ROOT, FATAL, BLOCK, "metadata snapshot (held root) is damaged", NULL,             \
	  "release the metadata snapshot (dmsetup message <pool> 0 "                             \
	  "release_metadata_snap) or run thin_repair")                                           \
	X(SNAP_HEADER, FATAL, STORE, "snapshot store header is damaged", NULL,                   \
	  "the kernel refuses this store: remove the snapshot, or restore its "                  \
	  "exceptions from XML with snap_restore")                                               \
	X(SNAP_INVALID, FATAL, STORE, "snapshot store is marked invalid", NULL,                  \
	  "its data is lost: remove the snapshot")                                               \
	X(SNAP_AREA, FATAL, RECORD, "exception area lies past the end of the COW device", NULL,  \
	  "the kernel refuses this store: give the COW device back its old size, "               \
	  "or remove the snapshot")                                                              \
	X(SNAP_NEW_CHUNK, FATAL, RECORD, "exception points at an illegal COW chunk", NULL,       \
	  "the snapshot's data cannot be trusted: remove the snapshot, or restore a "            \
	  "corrected snap_dump with snap_restore")                                               \
	X(SNAP_OLD_CHUNK, FATAL, RECORD, "exception points past the end of the origin", NULL,    \
	  "the snapshot's data cannot be trusted: remove the snapshot, or restore a "            \
	  "corrected snap_dump with snap_restore")                                               \
	X(SNAP_DUP_NEW, FATAL, RECORD, "two exceptions share one COW chunk", NULL,               \
	  "the snapshot's data cannot be trusted: remove the snapshot, or restore a "            \
	  "corrected snap_dump with snap_restore")                                               \
	X(SNAP_DUP_OLD, FATAL, RECORD, "two exceptions remap the same origin chunk", NULL,       \
	  "the snapshot's data cannot be trusted: remove the snapshot, or restore a "            \
	  "corrected snap_dump with snap_restore")                                               \
	X(SNAP_GARBAGE, NONFATAL, RUN, "non-zero bytes after the exception list terminator",     \
	  NULL,                                                                                  \
	  "non-fatal: the kernel ignores them; --ignore-non-fatal-errors accepts it")            \
	X(SNAP_ORDER, INFO, RUN, "exceptions are not in the kernel's allocation order", NULL,    \
	  "informational: older kernels allocated chunks in this order")                           \
	X(MSK_SUPERBLOCK, FATAL, BLOCK, "mikulas store superblock is damaged", NULL,              \
	  "restore the store from a dump (snap_dump, snap_restore)")                                 \
	X(MSK_INVALID, FATAL, STORE, "mikulas store is marked invalid (a restore did not finish)",\
	  NULL, "run snap_restore again with the dump it was given")                             \
	X(MSK_NODE, FATAL, NODE, "mikulas store btree node is damaged", NULL,                     \
	  "restore the store from a dump (snap_dump, snap_restore)")                                 \
	X(MSK_SPACE_MAP, FATAL, BLOCK, "mikulas store space map is damaged", NULL,                \
	  "restore the store from a dump (snap_dump, snap_restore)")                                 \
	X(MSK_META_COUNT, FATAL, BLOCK, "mikulas store metadata block counts are wrong", NULL,    \
	  "restore the store from a dump (snap_dump, snap_restore)")                                 \
	X(MSK_META_LEAK, NONFATAL, BLOCK,                                                         \
	  "mikulas store metadata blocks leaked (counted in use, not referenced)", NULL,         \
	  "non-fatal: the space is only lost; a restore from a dump "        \
	  "(snap_dump, snap_restore) reclaims it")      \
	X(MSK_DATA_COUNT, FATAL, DATA, "mikulas store COW chunk counts are wrong", NULL,          \
	  "restore the store from a dump (snap_dump, snap_restore)")                                 \
	X(MSK_DATA_LEAK, NONFATAL, DATA,                                                          \
	  "mikulas store COW chunks leaked (counted in use, not referenced)", NULL,              \
	  "non-fatal: the space is only lost; a restore from a dump "        \
	  "(snap_dump, snap_restore) reclaims it")      \
	X(MSK_EXC_KEY, FATAL, NODE, "mikulas exception keys are not numbered 0, 1, ... per chunk",\
	  NULL, "restore the store from a dump (snap_dump, snap_restore)")                           \
	X(MSK_EXC_RANGE, FATAL, NODE,                                                             \
	  "mikulas exception id range is reversed, out of order or overlapping", NULL,           \
	  "restore the store from a dump (snap_dump, snap_restore)")                                 \
	X(MSK_EXC_CHUNK, FATAL, NODE, "mikulas exception points outside the COW data area", NULL, \
	  "restore the store from a dump (snap_dump, snap_restore)")                                 \
	X(MSK_EXC_DEAD, NONFATAL, NODE, "mikulas exception covers no live snapshot", NULL,        \
	  "non-fatal: its COW chunk is only lost until the store is rebuilt")          \
	X(MSK_SNAPSHOT, FATAL, NODE, "mikulas snapshot entry is inconsistent", NULL,              \
	  "delete the damaged snapshot, or restore the store from a dump "    \
	  "(snap_dump, snap_restore)") \
	X(MSD_SB_MAGIC, FATAL, BLOCK, "daniel store superblock magic is wrong", NULL, \
	  "restore the store from a dump (snap_dump, snap_restore)") \
	X(MSD_SB_FIELD, FATAL, BLOCK, "daniel store superblock field out of range", NULL, \
	  "restore the store from a dump (snap_dump, snap_restore)") \
	X(MSD_SNAPLIST, FATAL, BLOCK, "daniel store snapshot list is inconsistent (bits, tags or count)", NULL, \
	  "restore the store from a dump (snap_dump, snap_restore)") \
	X(MSD_NOT_CLOSED, INFO, BLOCK, "daniel store was not closed cleanly (SB_BUSY is set)", NULL, \
	  "informational: run snap_check before trusting the store") \
	X(MSD_DELETE_INTERRUPTED, FATAL, STORE, "a snapshot delete was interrupted (the deleting mask is set)", NULL, \
	  "delete that snapshot again (snap_message <cow> delete <id>) to finish the job") \
	X(MSD_JOURNAL_UNREPLAYED, FATAL, BLOCK, "daniel store journal holds commit blocks newer than the superblock (not replayed)", NULL, \
	  "restore the store from a dump (snap_dump, snap_restore)") \
	X(MSD_IO, FATAL, BLOCK, "daniel store block could not be read", NULL, \
	  "restore the store from a dump (snap_dump, snap_restore)") \
	X(MSD_INDEX, FATAL, NODE, "daniel store index node is damaged", NULL, \
	  "restore the store from a dump (snap_dump, snap_restore)") \
	X(MSD_LEAF, FATAL, NODE, "daniel store exception leaf is damaged", NULL, \
	  "restore the store from a dump (snap_dump, snap_restore)") \
	X(MSD_EXCEPTION, FATAL, NODE, "daniel store exception points outside the data chunks", NULL, \
	  "delete the damaged snapshot, or restore the store from a dump (snap_dump, snap_restore)") \
	X(MSD_SHARE, FATAL, NODE, "daniel store exception share mask is wrong (no live snapshot, or overlapping)", NULL, \
	  "delete the damaged snapshot, or restore the store from a dump (snap_dump, snap_restore)") \
	X(MSD_DUP_CHUNK, FATAL, BLOCK, "daniel store chunk is used twice", NULL, \
	  "restore the store from a dump (snap_dump, snap_restore)") \
	X(MSD_BITMAP_FREE, FATAL, BLOCK, "daniel store chunks in use are marked free in the bitmap", NULL, \
	  "restore the store from a dump (snap_dump, snap_restore)") \
	X(MSD_LEAK, NONFATAL, BLOCK, "daniel store chunks marked used are referenced by nothing", NULL, \
	  "non-fatal: the space is only lost; restoring the store from a dump reclaims it") \
	X(MSD_FREE_COUNT, NONFATAL, BLOCK, "daniel store freechunks differs from the bitmap", NULL, \
	  "non-fatal: restoring the store from a dump recounts it") \
	X(MS_NO_STORE, FATAL, STORE, "no shared multisnapshot store (no mikulas or daniel magic)", \
	  NULL,                                                                                  \
	  "this is not a shared store: check that the right device was given")                   \
	X(MS_UNREADABLE, FATAL, STORE, "the shared multisnapshot store could not be read", NULL, \
	  "check the device; then restore the store from a dump (snap_dump, snap_restore)") \
	X(MSD_ORIGIN, FATAL, NODE, "daniel store exception lies past the end of the origin", NULL, \
	  "the snapshots' data there cannot be trusted: check --origin-size, then remove " \
	  "the snapshots concerned or restore a corrected dump") \
	X(MSK_EXC_UNBORN, FATAL, NODE, "mikulas exception splits a snapshot from its unborn " \
	  "sub-snapshots, or covers a snapshot number not yet handed out", NULL, \
	  "sub-snapshots made later would not read what their snapshot reads: restore " \
	  "a corrected dump (snap_dump, snap_restore)") \
	X(MSK_ORIGIN, FATAL, NODE, "mikulas store exception lies past the end of the origin", NULL, \
	  "the snapshots' data there cannot be trusted: check --origin-size, then remove " \
	  "the snapshots concerned or restore a corrected dump")

enum meta_damage_kind {
#define META_DK_ENUM(name, sev, locus, text, phrase, advice) META_DMG_##name,
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
/* The wording thin_check prints (thin_check 1.x's key phrase, else the description). */
META_API const char *meta_damage_phrase(enum meta_damage_kind k);
/* The next step: "run thin_repair", "non-fatal: --ignore-non-fatal-errors accepts it"... */
META_API const char *meta_damage_advice(enum meta_damage_kind k);
META_API enum meta_damage_locus meta_damage_locus(enum meta_damage_kind k);
/* What [begin, end) counts, singular: "key", "block", "data block", "virtual block", "record". */
META_API const char *meta_damage_range_label(enum meta_damage_kind k);
META_API enum meta_severity meta_damage_default_severity(enum meta_damage_kind k);
/* Initialise d with kind, its default severity and "none" markers. */
META_API void meta_damage_init(struct meta_damage *d, enum meta_damage_kind k);

#endif

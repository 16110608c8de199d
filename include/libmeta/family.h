/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libmeta — which family of device-mapper metadata a device or file holds.
 *
 * Writers call meta_family_sniff() on their output before the first write, so
 * a tool of one family aimed at metadata of another (thin_restore over a
 * classic snapshot COW store, snap_restore over thin-pool metadata, ...)
 * can refuse and name what it found.  Only magic numbers are looked at, never
 * checksums: damaged metadata of a family is still that family's.
 *
 *   family              where                       what
 *   META_FAMILY_THIN    block 0, byte 32, le64      27022010 (thin-pool superblock)
 *   META_FAMILY_SNAP    byte 0, le32                0x70416e53 "SnAp" (classic COW header)
 *   META_FAMILY_DANIEL  byte 4096, 8 bytes          74 65 73 74 dd 07 06 04 (ddsnap superblock)
 *   META_FAMILY_PACK    byte 0, le64                META_PACK_MAGIC (thin_metadata_pack file)
 *   META_FAMILY_XML     first non-blank bytes       <superblock, <?xml, <!DOCTYPE, <snapshot_store,
 *                                                   <multisnap_store
 *   META_FAMILY_MIKULAS byte 0, 8 bytes             "DMMSMIKU" (mikulas shared store superblock)
 */
#ifndef LIBMETA_FAMILY_H
#define LIBMETA_FAMILY_H

#include <libmeta/api.h>

struct meta_io;

enum meta_family {
	META_FAMILY_NONE = 0, /* nothing recognised: blank, garbage, or too short */
	META_FAMILY_THIN,
	META_FAMILY_SNAP,
	META_FAMILY_DANIEL,
	META_FAMILY_PACK,
	META_FAMILY_XML,
	META_FAMILY_MIKULAS,
};

/* The family whose magic io holds; META_FAMILY_NONE when none or unreadable. */
META_API enum meta_family meta_family_sniff(struct meta_io *io);
/* "thin-pool metadata", "a classic dm-snapshot COW store", ... */
META_API const char *meta_family_name(enum meta_family f);
/* The dmmeta tool that checks it ("thin_check", "snap_check"), or NULL. */
META_API const char *meta_family_checker(enum meta_family f);

#endif

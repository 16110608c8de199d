/* SPDX-License-Identifier: GPL-2.0-only */
/* Which family of metadata a device holds (see include/libmeta/family.h). */
#include <libmeta/family.h>
#include <libmeta/io.h>
#include <libmeta/pack.h>
#include <libmeta/snap.h>
#include <libmeta/thin.h>

#include <string.h>

#include "base/endian.h"

static const uint8_t daniel_magic[8] = {0x74, 0x65, 0x73, 0x74, 0xdd, 0x07, 0x06, 0x04};
static const uint8_t mikulas_magic[8] = {'D', 'M', 'M', 'S', 'M', 'I', 'K', 'U'};

enum meta_family meta_family_sniff(struct meta_io *io)
{
	uint8_t buf[4096 + 8];
	uint64_t size = meta_io_size(io);

	if (meta_io_sniff_xml(io))
		return META_FAMILY_XML;
	if (size >= 8 && !meta_io_pread(io, buf, 8, 0)) {
		if (get_le64p(buf) == META_PACK_MAGIC)
			return META_FAMILY_PACK;
		if (get_le32p(buf) == META_SNAP_MAGIC)
			return META_FAMILY_SNAP;
		if (!memcmp(buf, mikulas_magic, sizeof(mikulas_magic)))
			return META_FAMILY_MIKULAS;
	}
	if (size >= 40 && !meta_io_pread(io, buf, 40, 0) && get_le64p(buf + 32) == META_THIN_MAGIC)
		return META_FAMILY_THIN;
	if (size >= sizeof(buf) && !meta_io_pread(io, buf, sizeof(buf), 0) &&
	    !memcmp(buf + 4096, daniel_magic, sizeof(daniel_magic)))
		return META_FAMILY_DANIEL;
	return META_FAMILY_NONE;
}

const char *meta_family_name(enum meta_family f)
{
	switch (f) {
	case META_FAMILY_THIN:
		return "thin-pool metadata";
	case META_FAMILY_SNAP:
		return "a classic dm-snapshot COW store";
	case META_FAMILY_DANIEL:
		return "a shared multisnapshot store (daniel)";
	case META_FAMILY_MIKULAS:
		return "a shared multisnapshot store (mikulas)";
	case META_FAMILY_PACK:
		return "a thin_metadata_pack file";
	case META_FAMILY_XML:
		return "XML";
	default:
		return "nothing known";
	}
}

const char *meta_family_checker(enum meta_family f)
{
	switch (f) {
	case META_FAMILY_THIN:
		return "thin_check";
	case META_FAMILY_SNAP:
	case META_FAMILY_DANIEL:
	case META_FAMILY_MIKULAS:
		return "snap_check";
	case META_FAMILY_PACK:
		return "thin_metadata_unpack";
	default:
		return NULL;
	}
}

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Metadata pack files: the compressed format of thin-provisioning-tools'
 * thin_metadata_pack (version 3), so packed real-world metadata can be shared
 * in bug reports and used as fixtures.
 *
 * File: four le64 — magic 0xa537a0aa6309ef77, version 3, block size 4096,
 * nr_blocks — then chunks, each a le64 byte length followed by one complete
 * zlib stream.  Decompressed, a chunk is a sequence of (le64 block number,
 * block program) pairs; a block program is a byte-code that emits exactly
 * 4096 bytes.  Instructions are one byte, tag in the high nibble and an
 * operand nibble in the low one:
 *   0 Set     base := next 1/2/4/8-byte le operand (width in nibble); emit base
 *   1 Pos     base += nibble; emit       2 PosW  base += operand; emit
 *   3 Neg     base -= nibble; emit       4 NegW  base -= operand; emit
 *   5 Const   emit base nibble times     6 Const8 count = nibble<<8 | next byte
 *   7 Count   run the next instruction nibble times; 8 Count8 as Const8's count
 *   9 Lit     copy nibble literal bytes  10 LitW  literal, length = operand
 *  11 ShiftedRun  n = nibble<<8 | next byte; two sub-programs of 8n bytes each give
 *                 high and low halves; emits (high << 24) | (low & 0xffffff)
 * ("emit" writes base as a le64).  Only blocks whose checksum identifies a
 * metadata block type are stored; missing blocks unpack as zeros.
 * dmmeta writes btree nodes as a literal header, delta runs of the keys and
 * of the values (a leaf's 64-bit values as a ShiftedRun: the data block and
 * the time each delta-coded), and a literal rest; other blocks as one literal.
 * Blocks are ordered inside windows so that similar ones are adjacent (see
 * libmeta/pack.c); it reads every instruction above, in any block order.
 */
#ifndef LIBMETA_PACK_H
#define LIBMETA_PACK_H

#include <stdbool.h>
#include <stdint.h>
#include <libmeta/api.h>

#define META_PACK_MAGIC 0xa537a0aa6309ef77ull
#define META_PACK_VERSION 3u

struct meta_pack_stats {
	uint64_t nr_blocks;  /* blocks of the metadata device */
	uint64_t nr_packed;  /* metadata blocks stored / restored */
	uint64_t bytes;      /* size of the pack file */
};

/* Block type by checksum salt (thin, cache, era superblocks, node, bitmap, index, array). */
META_API bool meta_block_is_metadata(const void *block);

/*
 * Pack in (device or file, opened read-only, O_EXCL on devices) into a new file
 * out.  out is created only once a metadata block is found: input that looks like
 * XML (META_E_LOOKSXML) or holds no metadata block at all (META_E_NOTFOUND)
 * leaves it untouched.
 */
META_API int meta_pack(const char *in, const char *out, struct meta_pack_stats *st);
/*
 * Unpack into out (created if missing; a device is opened O_EXCL).  Refuses an
 * output that already holds thin-pool metadata (META_E_EXISTS) unless force.
 * An output that existed is written only after a first pass has read the whole
 * pack and verified every block (when the pack can be read twice): a damaged
 * pack leaves it unchanged.
 * Every block is checked on the way: a block that does not carry a valid
 * metadata checksum makes the unpack fail with META_E_CHECKSUM; malformed input
 * gives META_E_CORRUPT, not a pack file META_E_BADMAGIC.
 */
META_API int meta_unpack(const char *in, const char *out, bool force, struct meta_pack_stats *st);

#endif

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer target: thin_metadata_unpack of arbitrary bytes.
 * Input: u8 mode, then
 *   mode bit 0 clear: the pack file itself (header, length-prefixed zlib chunks);
 *   mode bit 0 set:   le32 nr_blocks, then the decompressed content of one chunk (pairs of
 *                     le64 block number and block program), which the harness compresses
 *                     into a well-formed pack file, so mutations reach the block-program
 *                     interpreter instead of stopping at zlib's checksum.
 * Any result is fine; no crash, no leak, no hang.  A successful unpack is then read back
 * as thin metadata (open and superblock-only check).  The input file also goes through
 * the family sniffer (meta_family_sniff, meta_io_sniff_xml) that the writers use to refuse
 * other families' metadata; a recognised family must have a name.
 */
#include <stdlib.h>
#include <zlib.h>

#include <libmeta/error.h>
#include <libmeta/family.h>
#include <libmeta/io.h>
#include <libmeta/pack.h>
#include <libmeta/thin.h>
#include <libmeta/thin_check.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct meta_pack_stats st;
	struct fz_file in, out;
	int r;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		uint8_t hdr[40];
		uLongf zlen;
		uint8_t *z;
		uint32_t nr;
		if (size < 5)
			return 0;
		nr = fz_le32(data + 1);
		zlen = compressBound((uLong)(size - 5));
		z = malloc(zlen);
		if (!z || compress2(z, &zlen, data + 5, (uLong)(size - 5), 1) != Z_OK)
			abort();
		put_le64(hdr, META_PACK_MAGIC);
		put_le64(hdr + 8, META_PACK_VERSION);
		put_le64(hdr + 16, FZ_BLOCK);
		put_le64(hdr + 24, nr % 4096 + 1);
		put_le64(hdr + 32, zlen);
		fz_open(&in, 0);
		fz_pwrite(&in, hdr, sizeof(hdr), 0);
		fz_pwrite(&in, z, zlen, sizeof(hdr));
		free(z);
	} else {
		fz_from_bytes(&in, data + 1, size - 1);
	}
	{
		struct meta_io *io;
		if (meta_io_open(in.path, 0, &io) == 0) {
			enum meta_family f = meta_family_sniff(io);
			if (f != META_FAMILY_NONE && !meta_family_name(f))
				abort();
			meta_io_sniff_xml(io);
			meta_io_close(io);
		}
	}
	fz_open(&out, 0);
	r = meta_unpack(in.path, out.path, false, &st);
	if (r == 0) {
		struct meta_thin_open_opts oo = {0};
		struct meta_thin *t;
		if (meta_thin_open(out.path, &oo, &t) == 0) {
			struct meta_thin_check_opts co = {.super_block_only = true};
			struct meta_thin_check_result res;
			meta_thin_check(t, &co, &res);
			meta_thin_close(t);
		}
	}
	fz_close(&in);
	fz_close(&out);
	return 0;
}

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer target: thin_metadata_pack then thin_metadata_unpack of a metadata image.
 * Input: the sparse image format of fuzz_common.h (checksums fixed up, so blocks are
 * recognised as metadata).
 * Oracle: when the pack succeeds, the unpack succeeds too and gives back an image of the
 * same size in which every block the library calls metadata is identical and every other
 * block is zero (abort() if not).
 */
#include <stdlib.h>

#include <libmeta/error.h>
#include <libmeta/pack.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct meta_pack_stats st, st2;
	struct fz_image im;
	struct fz_file packed, out;
	uint8_t *a, *b;
	size_t na, nb;
	int r;

	if (fz_image(&im, data, size, 0))
		return 0;
	fz_open(&packed, 0);
	fz_open(&out, 0);
	r = meta_pack(im.f.path, packed.path, &st);
	if (r == 0) {
		if (meta_unpack(packed.path, out.path, false, &st2))
			abort();
		a = fz_slurp(&im.f, &na);
		b = fz_slurp(&out, &nb);
		/* a partial last block is not packed: the unpacked image has whole blocks */
		if (nb != na / FZ_BLOCK * FZ_BLOCK || st2.nr_packed != st.nr_packed)
			abort();
		for (size_t i = 0; i + FZ_BLOCK <= nb; i += FZ_BLOCK) {
			if (meta_block_is_metadata(a + i)) {
				if (memcmp(a + i, b + i, FZ_BLOCK))
					abort();
			} else {
				for (size_t j = 0; j < FZ_BLOCK; j++)
					if (b[i + j])
						abort();
			}
		}
		free(a);
		free(b);
	}
	fz_close(&packed);
	fz_close(&out);
	fz_image_close(&im);
	return 0;
}

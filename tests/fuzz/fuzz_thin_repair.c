/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer target: damaged thin-pool metadata image -> meta_thin_repair -> new image.
 * Input: the sparse image format of fuzz_common.h; flags bit 0: give the three superblock
 * overrides (transaction id 1, data block size 128, nr_data_blocks = aux or 1024), as
 * thin_repair needs them when the superblock is unusable.
 * Oracle: a repair that reports success wrote metadata that passes the full check with no
 * fatal damage (abort() otherwise, so the fuzzer reports it).
 */
#include <stdlib.h>

#include <libmeta/error.h>
#include <libmeta/thin.h>
#include <libmeta/thin_check.h>
#include <libmeta/thin_repair.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_BYTES (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct meta_thin_repair_opts ro;
	struct meta_thin_repair_stats st;
	struct fz_image im;
	struct fz_file out;
	char err[512];
	int r;

	if (fz_image(&im, data, size, 0))
		return 0;
	memset(&ro, 0, sizeof(ro));
	ro.out.force = true;
	ro.damage = fz_count_damage;
	if (im.flags & 1) {
		ro.out.set_transaction_id = ro.out.set_data_block_size = true;
		ro.out.set_nr_data_blocks = true;
		ro.out.transaction_id = 1;
		ro.out.data_block_size = 128;
		ro.out.nr_data_blocks = im.aux ? im.aux : 1024;
	}
	fz_open(&out, OUT_BYTES);
	r = meta_thin_repair(im.f.path, out.path, &ro, &st, err, sizeof(err));
	if (st.check_failed)
		abort(); /* the repair wrote metadata that fails its own check */
	/* the shape of shared subtrees comes from the input (an under-full shared leaf may be
	 * passed on); anything else wrong with the shared output is a bug */
	if (st.rewritten_unshared && st.unshared_reason != META_DMG_NODE_UNDERFULL)
		abort();
	if (r == 0) {
		struct meta_thin_open_opts oo = {0};
		struct meta_thin_check_opts co = {0};
		struct meta_thin_check_result res;
		struct meta_thin *t;
		if (meta_thin_open(out.path, &oo, &t))
			abort(); /* success must leave a valid superblock */
		if (meta_thin_check(t, &co, &res) || res.worst >= (int)META_SEV_FATAL)
			abort();
		meta_thin_close(t);
	}
	fz_close(&out);
	fz_image_close(&im);
	return 0;
}

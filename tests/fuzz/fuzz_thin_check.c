/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer target: thin-pool metadata image -> superblock, full check, dump (XML or human,
 * plain, repair or shared), thin_ls, thin_rmap and thin_delta of the first two devices.
 * Input: the sparse image format of fuzz_common.h; flags:
 *   bit 0 open the metadata snapshot    bit 1 dump with REPAIR   bit 2 dump with SHARED
 *   bit 3 human-readable dump          bit 4 check --skip-mappings
 *   bit 5 check --super-block-only     bit 6 also thin_ls, thin_rmap and thin_delta
 * No oracle beyond the sanitizers: any input must be handled without a crash or a leak.
 */
#include <stdlib.h>

#include <libmeta/error.h>
#include <libmeta/thin.h>
#include <libmeta/thin_check.h>
#include <libmeta/thin_delta.h>
#include <libmeta/thin_dump.h>
#include <libmeta/thin_ls.h>
#include <libmeta/thin_rmap.h>
#include <libmeta/thin_xml.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

static int delta_fn(void *ctx, const struct meta_delta_range *r)
{
	(void)ctx;
	(void)r;
	return 0;
}

static void extras(struct meta_thin *t)
{
	struct meta_thin_ls_dev *ls = NULL;
	struct meta_thin_rmap_run *runs = NULL;
	struct meta_thin_dev_root *roots = NULL;
	struct meta_thin_region reg = {0, 1u << 20};
	uint64_t n = 0, nr = 0;
	size_t nruns = 0;

	if (meta_thin_ls(t, &ls, &n, fz_count_damage, NULL) == 0)
		free(ls);
	ls = NULL;
	if (meta_thin_ls_details(t, &ls, &n, fz_count_damage, NULL) == 0)
		free(ls);
	if (meta_thin_rmap(t, &reg, 1, &runs, &nruns, fz_count_damage, NULL) == 0)
		free(runs);
	if (meta_thin_read_dev_roots(t, &roots, &nr, fz_count_damage, NULL) == 0) {
		if (nr >= 1) {
			struct meta_delta_stats st;
			meta_delta_compare(meta_thin_bm(t), roots[0].root, roots[nr - 1].root, NULL,
					   delta_fn, NULL, &st);
		}
		free(roots);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_image im;
	struct meta_thin_open_opts oo = {0};
	struct meta_thin *t;

	if (!devnull && !(devnull = fopen("/dev/null", "w")))
		abort();
	if (fz_image(&im, data, size, 0))
		return 0;
	if (im.flags & 1)
		oo.flags |= META_THIN_OPEN_METADATA_SNAP;
	if (meta_thin_open(im.f.path, &oo, &t) == 0) {
		struct meta_thin_check_opts co = {
			.super_block_only = (im.flags & 32) != 0,
			.skip_mappings = (im.flags & 16) != 0,
			.damage = fz_count_damage,
		};
		struct meta_thin_check_result r;
		struct meta_thin_writer *w;
		meta_thin_check(t, &co, &r);

		if (meta_thin_writer_create(devnull, (im.flags & 8) ? META_THIN_FORMAT_HUMAN
								   : META_THIN_FORMAT_XML,
					    &w) == 0) {
			struct meta_thin_emitter e = meta_thin_writer_emitter(w);
			struct meta_thin_dump_opts dop = {0};
			dop.flags = ((im.flags & 2) ? META_THIN_DUMP_REPAIR : 0) |
				    ((im.flags & 4) ? META_THIN_DUMP_SHARED : 0);
			dop.damage = fz_count_damage;
			meta_thin_dump(t, &dop, &e, NULL);
			meta_thin_writer_flush(w);
			meta_thin_writer_destroy(w);
		}
		if (im.flags & 64)
			extras(t);
		meta_thin_close(t);
	}
	fz_image_close(&im);
	return 0;
}

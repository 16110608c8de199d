/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer target: thin-pool metadata image -> superblock, full check, dump (XML or human,
 * plain, repair or shared), thin_ls, thin_rmap and thin_delta of the first two devices.
 * Input: the sparse image format of fuzz_common.h; flags:
 *   bit 0 open the metadata snapshot    bit 1 dump with REPAIR   bit 2 dump with SHARED
 *   bit 3 human-readable dump          bit 4 check --skip-mappings
 *   bit 5 check --super-block-only     bit 6 also thin_ls, thin_rmap and thin_delta
 * aux bit 0: repair the space-map leaks the check found (--auto-repair) through the pool
 * engine; then, when the check found nothing fatal and the repair was committed, a second
 * check must find no leak and nothing fatal (abort() otherwise).  aux bit 1: clear the
 * needs_check flag through the engine after a check without fatal damage; the superblock
 * must then still open.
 * Otherwise no oracle beyond the sanitizers: any input must be handled without a crash or
 * a leak.
 */
#include <stdlib.h>

#include <libmeta/error.h>
#include <libmeta/thin.h>
#include <libmeta/thin_check.h>
#include <libmeta/thin_delta.h>
#include <libmeta/thin_dump.h>
#include <libmeta/thin_ls.h>
#include <libmeta/thin_pool.h>
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

/* The pool as thin_check's repairs open it: needs_check or not, sizes kept. */
static int open_pool(const char *path, unsigned flags, struct meta_thin_pool **p)
{
	struct meta_thin_pool_opts po = {0};
	po.flags = META_THIN_POOL_NEEDS_CHECK_OK | META_THIN_POOL_KEEP_SIZE | flags;
	return meta_thin_pool_open(path, &po, p, NULL);
}

/* Every leaked block's count to 0, committed. */
static int repair_leaks(const char *path, const struct meta_thin_leaks *l)
{
	struct meta_thin_pool *p;
	int e = open_pool(path, 0, &p);
	for (size_t i = 0; !e && i < l->nr_data; i++)
		e = meta_thin_pool_set_count(p, META_THIN_POOL_DATA_MAP, l->data[i], 0);
	for (size_t i = 0; !e && i < l->nr_metadata; i++)
		e = meta_thin_pool_set_count(p, META_THIN_POOL_METADATA_MAP, l->metadata[i], 0);
	if (!e)
		e = meta_thin_pool_commit(p);
	if (p)
		meta_thin_pool_close(p);
	return e;
}

static int clear_flag(const char *path)
{
	struct meta_thin_pool *p;
	int e = open_pool(path, META_THIN_POOL_SUPERBLOCK_ONLY, &p);
	if (!e)
		e = meta_thin_pool_set_needs_check(p, false);
	if (!e)
		e = meta_thin_pool_commit(p);
	if (p)
		meta_thin_pool_close(p);
	return e;
}

/* After a leak repair: no leak left, nothing fatal. */
static void recheck_after_fix(const char *path)
{
	struct meta_thin_open_opts oo = {0};
	struct meta_thin_check_opts co = {0};
	struct meta_thin_check_result r;
	struct meta_thin *t;
	if (meta_thin_open(path, &oo, &t))
		abort();
	if (meta_thin_check(t, &co, &r) || r.worst >= (int)META_SEV_FATAL || r.metadata_leaked ||
	    r.data_leaked)
		abort();
	meta_thin_close(t);
}

/* After clearing needs_check: the superblock still opens, with the flag clear. */
static void reopen_after_clear(const char *path)
{
	struct meta_thin_open_opts oo = {0};
	struct meta_thin *t;
	if (meta_thin_open(path, &oo, &t))
		abort();
	if (meta_thin_live_sb(t)->flags & META_THIN_FLAG_NEEDS_CHECK)
		abort();
	meta_thin_close(t);
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
	bool fix = (im.aux & 1) && !(im.flags & (1 | 16 | 32)); /* and not huge, below */
	bool clear = (im.aux & 2) && !(im.flags & 1);
	if (im.flags & 1)
		oo.flags |= META_THIN_OPEN_METADATA_SNAP;
	if (fix || clear)
		oo.flags |= META_THIN_OPEN_WRITE;
	if (meta_thin_open(im.f.path, &oo, &t) == 0) {
		/*
		 * The full check keeps one byte per data block the superblock announces (up to
		 * 2^40), allocated lazily; under ASan its shadow is written, and a few bytes of
		 * input would cost gigabytes.  Past 2^24 data blocks only the superblock is checked.
		 */
		bool huge = meta_thin_live_sb(t)->data_sm.nr_blocks > (1u << 24);
		struct meta_thin_leaks leaks = {0};
		struct meta_thin_check_opts co = {
			.super_block_only = (im.flags & 32) != 0 || huge,
			.skip_mappings = (im.flags & 16) != 0,
			.damage = fz_count_damage,
			.leaks = fix && !huge ? &leaks : NULL,
		};
		struct meta_thin_check_result r;
		struct meta_thin_writer *w;
		int ce = meta_thin_check(t, &co, &r);
		if (!ce && fix && !huge && r.worst < (int)META_SEV_FATAL &&
		    (leaks.nr_metadata || leaks.nr_data) && repair_leaks(im.f.path, &leaks) == 0)
			recheck_after_fix(im.f.path);
		meta_thin_leaks_free(&leaks);
		if (!ce && clear && r.worst < (int)META_SEV_FATAL && clear_flag(im.f.path) == 0)
			reopen_after_clear(im.f.path);

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
		if ((im.flags & 64) && !huge)
			extras(t);
		meta_thin_close(t);
	}
	fz_image_close(&im);
	return 0;
}

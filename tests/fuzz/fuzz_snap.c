/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer target: classic snapshot COW image -> open, check, usage/status, XML and human
 * dump, snapshot view, offline merge into an origin.
 * Input: the sparse image format of fuzz_common.h (the COW device; no checksums to fix);
 * aux = origin size in bytes (capped at 1 MiB; 0 = 256 KiB); flags:
 *   bit 0 dry-run merge     bit 1 check old chunks against the origin size
 * The origin holds a fixed pattern.
 * Oracle: when the merge reports success, the origin now reads exactly as the snapshot
 * read before the merge, and the store reopens with no exception left (abort() if not).
 */
#include <stdlib.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/snap.h>
#include <libmeta/snap_xml.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ORIGIN (1u << 20)

static FILE *devnull;
static uint8_t *pattern, *view, *after;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_image im;
	struct fz_file origin;
	struct meta_snap *s;
	struct meta_snap_usage u;
	struct meta_io *oio;
	char status[64];
	uint64_t osize, n;
	int have_view, r;

	if (!devnull && !(devnull = fopen("/dev/null", "w")))
		abort();
	if (!pattern) {
		pattern = malloc(MAX_ORIGIN);
		view = malloc(MAX_ORIGIN);
		after = malloc(MAX_ORIGIN);
		if (!pattern || !view || !after)
			abort();
		for (uint32_t i = 0; i < MAX_ORIGIN; i++)
			pattern[i] = (uint8_t)(i * 131u + (i >> 9) * 7u + 1u);
	}
	if (fz_image(&im, data, size, 0))
		return 0;
	osize = im.aux ? (im.aux > MAX_ORIGIN ? MAX_ORIGIN : im.aux) : 256u << 10;
	if (meta_snap_open(im.f.path, (im.flags & 1) ? 0 : META_SNAP_OPEN_WRITE, &s)) {
		fz_image_close(&im);
		return 0;
	}
	meta_snap_check(s, (im.flags & 2) ? osize / 512 : 0, fz_count_damage, NULL);
	meta_snap_get_usage(s, &u);
	meta_snap_status(s, status, sizeof(status));
	meta_snap_exceptions(s, &n);
	meta_snap_emit(s, meta_snap_xml_writer(), devnull);
	meta_snap_emit(s, meta_snap_human_writer(), devnull);

	fz_open(&origin, 0);
	fz_pwrite(&origin, pattern, (size_t)osize, 0);
	if (meta_io_open(origin.path, META_IO_WRITE, &oio))
		abort();
	have_view = meta_snap_read_view(s, oio, 0, view, (size_t)osize) == 0;

	struct meta_snap_merge_opts mo;
	memset(&mo, 0, sizeof(mo));
	mo.dry_run = (im.flags & 1) != 0;
	r = meta_snap_merge(s, oio, &mo);
	meta_snap_close(s);
	if (r == 0 && !mo.dry_run) {
		if (have_view) {
			if (meta_io_pread(oio, after, (size_t)osize, 0) ||
			    memcmp(after, view, (size_t)osize))
				abort();
		}
		if (meta_snap_open(im.f.path, 0, &s))
			abort();
		meta_snap_exceptions(s, &n);
		if (n)
			abort();
		meta_snap_close(s);
	}
	meta_io_close(oio);
	fz_close(&origin);
	fz_image_close(&im);
	return 0;
}

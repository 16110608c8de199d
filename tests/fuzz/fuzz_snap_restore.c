/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer target: snap_dump XML -> meta_snap_xml_parse -> meta_snap_restore -> 1 MiB COW.
 * Input: the XML bytes, as snap_restore reads them.
 * Oracle: when the restore of a valid store succeeds, the store reopens holding exactly the exceptions
 * given, in that order, and its check finds no fatal damage (abort() if not).
 */
#include <stdlib.h>

#include <libmeta/error.h>
#include <libmeta/snap.h>
#include <libmeta/snap_xml.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define COW_BYTES (1u << 20)


static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct meta_snap_header h;
	struct meta_snap_exception *xex;
	uint64_t xn;
	struct fz_file cow;
	struct meta_snap *s;
	char err[256];
	FILE *in;
	int r;

	if (!devnull && !(devnull = fopen("/dev/null", "w")))
		abort();
	in = fz_stream(data, size);
	r = meta_snap_xml_read(in, &h, &xex, &xn, err, sizeof(err));
	fclose(in);
	if (r) {
		free(xex);
		return 0;
	}
	fz_open(&cow, COW_BYTES);
	r = meta_snap_restore(cow.path, &h, xex, xn, false, fz_count_damage, NULL);
	if (r == 0) {
		const struct meta_snap_exception *ex;
		uint64_t n, ndmg = 0;
		if (meta_snap_open(cow.path, 0, &s))
			abort();
		ex = meta_snap_exceptions(s, &n);
		if (h.valid && (n != xn || (n && memcmp(ex, xex, n * sizeof(*ex)))))
			abort();
		if (h.valid && meta_snap_check(s, 0, fz_count_damage, &ndmg) >= (int)META_SEV_FATAL)
			abort();
		meta_snap_emit(s, meta_snap_xml_writer(), devnull);
		meta_snap_close(s);
	}
	free(xex);
	fz_close(&cow);
	return 0;
}

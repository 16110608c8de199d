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

struct collect {
	struct meta_snap_header h;
	struct meta_snap_exception *ex;
	uint64_t n, cap;
};

static int c_begin(void *ctx, const struct meta_snap_header *h)
{
	((struct collect *)ctx)->h = *h;
	return 0;
}

static int c_ex(void *ctx, uint64_t old_chunk, uint64_t new_chunk)
{
	struct collect *c = ctx;
	if (c->n == c->cap) {
		uint64_t cap = c->cap ? c->cap * 2 : 64;
		void *p = realloc(c->ex, cap * sizeof(*c->ex));
		if (!p)
			return META_E_NOMEM;
		c->ex = p;
		c->cap = cap;
	}
	c->ex[c->n].old_chunk = old_chunk;
	c->ex[c->n].new_chunk = new_chunk;
	c->n++;
	return 0;
}

static int c_end(void *ctx)
{
	(void)ctx;
	return 0;
}

static const struct meta_snap_emitter_ops collect_ops = {c_begin, c_ex, c_end};

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct collect col;
	struct fz_file cow;
	struct meta_snap *s;
	char err[256];
	FILE *in;
	int r;

	if (!devnull && !(devnull = fopen("/dev/null", "w")))
		abort();
	memset(&col, 0, sizeof(col));
	in = fz_stream(data, size);
	r = meta_snap_xml_parse(in, &collect_ops, &col, err, sizeof(err));
	fclose(in);
	if (r || col.h.magic != META_SNAP_MAGIC || col.h.version != META_SNAP_VERSION ||
	    meta_snap_check_chunk_size(col.h.chunk_size)) {
		free(col.ex);
		return 0;
	}
	fz_open(&cow, COW_BYTES);
	r = meta_snap_restore(cow.path, &col.h, col.ex, col.n, false, fz_count_damage, NULL);
	if (r == 0) {
		const struct meta_snap_exception *ex;
		uint64_t n, ndmg = 0;
		if (meta_snap_open(cow.path, 0, &s))
			abort();
		ex = meta_snap_exceptions(s, &n);
		if (col.h.valid && (n != col.n || (n && memcmp(ex, col.ex, n * sizeof(*ex)))))
			abort();
		if (col.h.valid && meta_snap_check(s, 0, fz_count_damage, &ndmg) >= (int)META_SEV_FATAL)
			abort();
		meta_snap_emit(s, meta_snap_xml_writer(), devnull);
		meta_snap_close(s);
	}
	free(col.ex);
	fz_close(&cow);
	return 0;
}

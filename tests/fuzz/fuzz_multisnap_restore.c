/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer target: shared multisnapshot store XML (mikulas or daniel, by the root's type
 * attribute) -> meta_ms_restore_xml onto a zeroed 64 MiB memfd (sparse; the fixtures'
 * size).  Input: the XML bytes, as snap_restore reads them.
 * Oracles, when the restore succeeds (abort() if not):
 *   - the store opens and its check finds nothing fatal (an exception that covers no
 *     snapshot is restored as given and reported non-fatal: multisnap-store(5));
 *   - its XML dump restores (onto a second zeroed memfd) to the identical image, which
 *     dumps to the identical XML (dump -> restore -> dump);
 *   - the status line, snapshot list and human dump succeed.
 */
#include <stdlib.h>

#include <libmeta/error.h>
#include <libmeta/multisnap.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STORE_BYTES (64u << 20)
#define MAX_INPUT (1u << 20)

static FILE *devnull;
static uint8_t *ba, *bb;

static char *dump_xml(const char *path, size_t *len)
{
	struct meta_ms *ms;
	char *buf = NULL, *line;
	meta_ms_id *ids;
	uint64_t n;
	FILE *mem;
	int r;

	if (meta_ms_open(path, 0, &ms))
		abort();
	mem = open_memstream(&buf, len);
	if (!mem)
		abort();
	r = meta_ms_dump_xml(ms, mem);
	fclose(mem);
	if (r || meta_ms_dump_human(ms, devnull) || meta_ms_status_line(ms, &line))
		abort();
	free(line);
	if (meta_ms_snapshots(ms, &ids, &n))
		abort();
	free(ids);
	meta_ms_close(ms);
	return buf;
}

/* Compare the bytes of a and b over [off, end). */
static void same_range(const struct fz_file *a, const struct fz_file *b, off_t off, off_t end)
{
	while (off < end) {
		size_t n = end - off > (off_t)FZ_BLOCK * 16 ? FZ_BLOCK * 16 : (size_t)(end - off);
		if (pread(a->fd, ba, n, off) != (ssize_t)n || pread(b->fd, bb, n, off) != (ssize_t)n ||
		    memcmp(ba, bb, n))
			abort();
		off += (off_t)n;
	}
}

/* a and b hold the same bytes: compare every range either has data in (holes read 0). */
static void same_image(const struct fz_file *a, const struct fz_file *b)
{
	const struct fz_file *f[2] = {a, b};
	if (fz_size(a) != fz_size(b))
		abort();
	for (int k = 0; k < 2; k++) {
		off_t end = (off_t)fz_size(f[k]), off = 0;
		for (;;) {
			off_t d = lseek(f[k]->fd, off, SEEK_DATA), h;
			if (d < 0)
				break;
			h = lseek(f[k]->fd, d, SEEK_HOLE);
			if (h < 0)
				h = end;
			same_range(a, b, d, h);
			off = h;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_file a, b;
	char err[256], *x1, *x2;
	size_t n1, n2;
	FILE *in;
	int r;

	if (!devnull && !(devnull = fopen("/dev/null", "w")))
		abort();
	if (!ba && (!(ba = malloc(FZ_BLOCK * 16)) || !(bb = malloc(FZ_BLOCK * 16))))
		abort();
	if (size > MAX_INPUT)
		return 0;
	in = fz_stream(data, size);
	fz_open(&a, STORE_BYTES);
	r = meta_ms_restore_xml(in, a.path, false, err, sizeof(err));
	fclose(in);
	if (r) {
		fz_close(&a);
		return 0;
	}
	if (meta_ms_check_path(a.path, fz_count_damage, NULL) >= (int)META_SEV_FATAL)
		abort();
	x1 = dump_xml(a.path, &n1);
	fz_open(&b, STORE_BYTES);
	in = fz_stream((const uint8_t *)x1, n1);
	if (meta_ms_restore_xml(in, b.path, false, err, sizeof(err)))
		abort();
	fclose(in);
	same_image(&a, &b);
	x2 = dump_xml(b.path, &n2);
	if (n1 != n2 || memcmp(x1, x2, n1))
		abort();
	free(x1);
	free(x2);
	fz_close(&a);
	fz_close(&b);
	return 0;
}

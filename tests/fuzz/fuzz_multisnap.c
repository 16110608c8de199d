/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer target: a shared multisnapshot store image (mikulas or daniel, found by its
 * magic) -> meta_ms_check_path, meta_ms_open, status line, snapshot list, XML and human
 * dump; then up to four messages on the image (it is the harness's own memfd copy).
 * Input: the sparse image format of fuzz_common.h (images above MAX_IMAGE are cut there;
 * a mikulas superblock's checksum is fixed up unless flags bit 7).  flags:
 *   bits 0-1  store type of the table line (meta_ms_set_params): 0 none (a blank store
 *             stays blank: its messages are refused), 1 mikulas, 2 daniel, 3 invalid
 *   bits 2-4  chunk size 8 << k sectors (daniel takes 32 only: k = 2)
 *   bit 5     sync-snapshots    bit 6 preserve-on-error
 * aux: four op bytes, low byte first; per byte, op = b & 3, i = b >> 2:
 *   0 sync: the live ids without the i-th (mod count); i = 63: stop here
 *   1 create             2 create_subsnap of the i-th live id
 *   3 delete of the i-th live id (i = 63: an id that is not live)
 * Oracles (abort() if not):
 *   - a store that checks clean (nothing NONFATAL or worse) still checks clean after every
 *     message, successful or refused;
 *   - on a store without fatal damage, a successful create / create_subsnap adds exactly
 *     its new id to the (ascending) snapshot list, a successful delete removes exactly its
 *     id, a successful sync leaves the list asked for; a refused message leaves the list
 *     as it was;
 *   - a store that checks clean dumps to XML that restores (onto a zeroed copy of the
 *     same size) to a store that checks clean and dumps to the same XML.
 * A blank image (first 4 KiB zero, no daniel superblock) opens as "new": with a type in
 * flags the first message formats this memfd copy, as the target does at the table load;
 * nothing else is ever written.
 */
#include <stdlib.h>

#include <libmeta/error.h>
#include <libmeta/multisnap.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_IMAGE (4u << 20)
#define MAX_INPUT (256u << 10)

static FILE *devnull;

/* Worst severity meta_ms_check_path reports (-1: none). */
static int check(const char *path)
{
	return meta_ms_check_path(path, fz_count_damage, NULL);
}

static int clean(int worst)
{
	return worst < (int)META_SEV_NONFATAL;
}

/* The live ids; n = 0 and ids NULL when the list cannot be read. */
static int list(struct meta_ms *ms, meta_ms_id **ids, uint64_t *n)
{
	int r = meta_ms_snapshots(ms, ids, n);
	if (r) {
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	return r;
}

static int has(const meta_ms_id *ids, uint64_t n, meta_ms_id id)
{
	for (uint64_t i = 0; i < n; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

/* Is b exactly a plus `add` (if any) minus `del` (if any)?  Both ascending lists. */
static int list_is(const meta_ms_id *a, uint64_t na, const meta_ms_id *b, uint64_t nb,
		   const meta_ms_id *add, const meta_ms_id *del)
{
	uint64_t want = na + (add ? 1 : 0) - (del ? 1 : 0);
	if (nb != want)
		return 0;
	for (uint64_t i = 0; i < nb; i++)
		if (!(has(a, na, b[i]) || (add && b[i] == *add)) || (del && b[i] == *del) ||
		    (i && b[i - 1] >= b[i]))
			return 0;
	return !add || !has(a, na, *add);
}

static char *dump_xml(struct meta_ms *ms, size_t *len)
{
	char *buf = NULL;
	FILE *mem = open_memstream(&buf, len);
	int r;
	if (!mem)
		abort();
	r = meta_ms_dump_xml(ms, mem);
	fclose(mem);
	if (r) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Oracle 3: dump -> restore onto a zeroed memfd of `bytes` -> clean -> same dump. */
static void roundtrip(struct meta_ms *ms, uint64_t bytes)
{
	struct fz_file copy;
	struct meta_ms *ms2;
	char err[256], *x1, *x2;
	size_t n1, n2;
	FILE *in;

	x1 = dump_xml(ms, &n1);
	if (!x1)
		abort(); /* a clean store that cannot be dumped */
	fz_open(&copy, bytes);
	in = fz_stream((const uint8_t *)x1, n1);
	if (meta_ms_restore_xml(in, copy.path, false, err, sizeof(err)))
		abort();
	fclose(in);
	if (!clean(check(copy.path)) || meta_ms_open(copy.path, 0, &ms2))
		abort();
	x2 = dump_xml(ms2, &n2);
	if (!x2 || n1 != n2 || memcmp(x1, x2, n1))
		abort();
	meta_ms_close(ms2);
	free(x1);
	free(x2);
	fz_close(&copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_image im;
	struct meta_ms *ms;
	struct meta_ms_params p;
	struct meta_ms_status st;
	meta_ms_id *ids = NULL;
	uint64_t n = 0;
	char *line;
	int worst, was_new;

	if (!devnull && !(devnull = fopen("/dev/null", "w")))
		abort();
	if (size > MAX_INPUT || fz_image(&im, data, size, 0))
		return 0;
	if (im.size > MAX_IMAGE) {
		if (ftruncate(im.f.fd, MAX_IMAGE))
			abort();
		im.size = MAX_IMAGE;
	}
	worst = check(im.f.path);
	if (meta_ms_open(im.f.path, META_MS_OPEN_WRITE, &ms)) {
		fz_image_close(&im);
		return 0;
	}
	meta_ms_get_type(ms);
	meta_ms_chunk_size(ms);
	meta_ms_status(ms, &st);
	if (!meta_ms_status_line(ms, &line))
		free(line);
	list(ms, &ids, &n);
	meta_ms_dump_xml(ms, devnull);
	meta_ms_dump_human(ms, devnull);
	if (!meta_ms_is_new(ms) && clean(worst))
		roundtrip(ms, im.size);

	memset(&p, 0, sizeof(p));
	p.type = (enum meta_ms_type)(im.flags & 3);
	p.chunk_size = 8u << ((im.flags >> 2) & 7);
	p.origin_sectors = im.size / 512;
	p.generic = (im.flags >> 5) & 3;
	meta_ms_set_params(ms, &p);
	was_new = meta_ms_is_new(ms);

	for (int k = 0; k < 4; k++) {
		uint8_t b = (uint8_t)(im.aux >> (8 * k));
		unsigned op = b & 3, i = b >> 2;
		meta_ms_id id = 0, got = 0, *after = NULL, *want = NULL;
		uint64_t nafter = 0, nwant = 0;
		int r;

		if (op == 0 && i == 63)
			break;
		if (n)
			id = ids[i % n];
		else
			id = (uint64_t)i << 32 | META_MS_SUB_NONE;
		switch (op) {
		case 0:
			want = malloc((size_t)(n ? n : 1) * sizeof(*want));
			if (!want)
				abort();
			for (uint64_t j = 0; j < n; j++)
				if (ids[j] != id)
					want[nwant++] = ids[j];
			r = meta_ms_sync(ms, want, nwant);
			break;
		case 1:
			r = meta_ms_create(ms, &got);
			break;
		case 2:
			r = meta_ms_create_subsnap(ms, id, &got);
			break;
		default:
			if (i == 63)
				id = ~(meta_ms_id)0 - 1;
			r = meta_ms_delete(ms, id);
			break;
		}
		/* the list oracle needs a store without fatal damage (a damaged snapshot
		 * tree may list its ids out of order) */
		if (list(ms, &after, &nafter) == 0 && !meta_ms_is_new(ms) &&
		    (worst < (int)META_SEV_FATAL || (was_new && !r))) {
			int ok;
			if (r)
				ok = list_is(ids, n, after, nafter, NULL, NULL) || meta_ms_is_new(ms);
			else if (op == 0)
				ok = list_is(want, nwant, after, nafter, NULL, NULL);
			else if (op == 3)
				ok = list_is(ids, n, after, nafter, NULL, &id);
			else
				ok = list_is(ids, n, after, nafter, &got, NULL);
			if (!ok)
				abort();
		}
		free(want);
		/* a blank store formatted by a successful message is clean from then on */
		if (!r && !clean(worst) && was_new)
			worst = -1;
		if (clean(worst) && !clean(check(im.f.path)))
			abort();
		was_new = meta_ms_is_new(ms);
		free(ids);
		ids = after;
		n = nafter;
	}
	free(ids);
	meta_ms_close(ms);
	fz_image_close(&im);
	return 0;
}

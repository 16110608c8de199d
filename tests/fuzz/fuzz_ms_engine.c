/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer target: the shared multisnapshot engine (snap_write, snap_export and snap_merge
 * on a mikulas or daniel store) against a plain model of every view, in process.
 * Input: a 3-byte set-up, then operations of 5 bytes each:
 *   set-up: [0] bit 0: daniel (else mikulas); bits 1-2: mikulas chunk size 8 << k sectors
 *               (daniel takes 32 only)
 *           [1] the store's size, (b % 64 + 2) x 64 KiB (small stores run out of space)
 *           [2] seed of the 64 KiB origin's first bytes
 *   op:     [0] kind (mod 8): 0 create, 1 create_subsnap of a live id, 2 origin write,
 *               3 snapshot write, 4 delete, 5 merge (batch 1 + [1] >> 4 chunks),
 *               6 delete of an id that is not live, 7 close and reopen the store
 *           [1] the live id (low 4 bits, mod the live count)
 *           [2..3] le16 byte offset into the origin, [4] length (([4] & 63) + 1) x 97
 *               bytes, clamped to the origin, and fill byte
 * The store starts blank (a zeroed memfd) and is formatted by the first create, as the
 * target does at its first message.  Model: the origin's bytes and each live snapshot's
 * view (a snapshot reads as the origin did when it was made, a sub-snapshot as its master,
 * plus its own writes; a merge makes the origin the merged view and drops it).
 * Oracles (abort() when broken), after every operation:
 *   - the origin file and every live view read through meta_ms_read equal the model, and
 *     the store's snapshot list is the model's ids;
 *   - a refused operation changes nothing, except META_E_NOSPC in the middle of a write or
 *     a merge, which may leave each chunk of the written view (the origin for an origin
 *     write or a merge) old or new, whole, and every other view unchanged;
 *   - a merge refused as META_E_BUSY is of a master with live sub-snapshots; daniel
 *     stores refuse merges (META_E_UNSUPPORTED);
 *   - META_E_CORRUPT, META_E_IO or any unexpected error on the fresh store is a finding;
 * and at the end the store, closed, passes meta_ms_check (nothing NONFATAL or worse) and, reopened,
 * reads every view as the model.
 */
#include <stdbool.h>
#include <stdlib.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/multisnap.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OSIZE (64u << 10)
#define MAXS 12
#define MAX_OPS 48

static uint8_t omodel[OSIZE], views[MAXS][OSIZE], got[OSIZE], wbuf[OSIZE], old[OSIZE];
static meta_ms_id ids[MAXS];
static bool live[MAXS];
static unsigned nlive;

struct run {
	struct fz_file store, origin;
	struct meta_ms *ms;
	struct meta_io *oio;
	unsigned chunk; /* bytes */
	bool daniel;
};

static int worst_damage(const char *path)
{
	return meta_ms_check_path(path, fz_count_damage, NULL);
}

/* The slot of the i-th live snapshot, i taken mod the live count; -1 when none is live. */
static int nth_live(unsigned i)
{
	if (!nlive)
		return -1;
	i %= nlive;
	for (int s = 0; s < MAXS; s++)
		if (live[s] && i-- == 0)
			return s;
	return -1;
}

static int free_slot(void)
{
	for (int s = 0; s < MAXS; s++)
		if (!live[s])
			return s;
	return -1;
}

static bool has_live_subs(int s)
{
	if ((uint32_t)ids[s] != META_MS_SUB_NONE)
		return false;
	for (int t = 0; t < MAXS; t++)
		if (live[t] && t != s && ids[t] >> 32 == ids[s] >> 32)
			return true;
	return false;
}

static int cmp_id(const void *a, const void *b)
{
	meta_ms_id x = *(const meta_ms_id *)a, y = *(const meta_ms_id *)b;
	return (x > y) - (x < y);
}

static void same_list_or_abort(struct meta_ms *ms)
{
	meta_ms_id *got_ids = NULL, want[MAXS];
	uint64_t n = 0;
	unsigned k = 0;
	for (int s = 0; s < MAXS; s++)
		if (live[s])
			want[k++] = ids[s];
	qsort(want, k, sizeof(*want), cmp_id);
	if (meta_ms_snapshots(ms, &got_ids, &n) || n != k ||
	    (k && memcmp(got_ids, want, k * sizeof(*want))))
		abort();
	free(got_ids);
}

static void read_origin(struct run *r, uint8_t *buf)
{
	if (meta_io_pread(r->oio, buf, OSIZE, 0))
		abort();
}

static void read_view(struct run *r, int s, uint8_t *buf)
{
	if (meta_ms_read(r->ms, r->oio, ids[s], 0, OSIZE, buf))
		abort();
}

/* Every view and the origin equal the model. */
static void verify(struct run *r)
{
	read_origin(r, got);
	if (memcmp(got, omodel, OSIZE))
		abort();
	for (int s = 0; s < MAXS; s++) {
		if (!live[s])
			continue;
		read_view(r, s, got);
		if (memcmp(got, views[s], OSIZE))
			abort();
	}
	same_list_or_abort(r->ms);
}

/*
 * After a write or merge stopped by META_E_NOSPC: each chunk of what was being changed
 * (cur, read back into got) is whole, either before (model) or after (want); the model
 * takes what is there.
 */
static void chunks_old_or_new(struct run *r, uint8_t *model, const uint8_t *want)
{
	for (unsigned c = 0; c < OSIZE; c += r->chunk) {
		unsigned n = OSIZE - c < r->chunk ? OSIZE - c : r->chunk;
		if (memcmp(got + c, model + c, n) && memcmp(got + c, want + c, n))
			abort();
	}
	memcpy(model, got, OSIZE);
}

static int open_store(struct run *r)
{
	return meta_ms_open(r->store.path, META_MS_OPEN_WRITE, &r->ms);
}

/* The errors a fresh store may give for a refused operation. */
static void refused_ok(int rc)
{
	switch (rc) {
	case META_E_NOSPC:
	case META_E_NOTFOUND:
	case META_E_BUSY:
	case META_E_UNSUPPORTED:
	case META_E_INVAL:
	case META_E_RANGE:
		return;
	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run r = {0};
	struct meta_ms_params p = {0};
	uint64_t store_size;
	int nops;

	if (size < 3)
		return 0;
	r.daniel = data[0] & 1;
	store_size = (uint64_t)(data[1] % 64 + 2) << 16;
	fz_open(&r.store, store_size);
	fz_open(&r.origin, OSIZE);
	for (unsigned i = 0; i < OSIZE; i++)
		omodel[i] = (uint8_t)(i * 131u + data[2] + (i >> 9));
	fz_pwrite(&r.origin, omodel, OSIZE, 0);
	memset(live, 0, sizeof(live));
	nlive = 0;
	if (meta_io_open(r.origin.path, META_IO_WRITE, &r.oio) || open_store(&r))
		abort();
	p.type = r.daniel ? META_MS_DANIEL : META_MS_MIKULAS;
	p.chunk_size = r.daniel ? 32 : 8u << ((data[0] >> 1) & 3);
	p.origin_sectors = OSIZE / 512;
	if (meta_ms_set_params(r.ms, &p))
		abort();
	r.chunk = p.chunk_size * 512u;

	data += 3;
	size -= 3;
	nops = (int)(size / 5);
	if (nops > MAX_OPS)
		nops = MAX_OPS;
	for (int k = 0; k < nops; k++, data += 5) {
		unsigned kind = data[0] & 7, off = (unsigned)data[2] | (unsigned)data[3] << 8;
		unsigned len = ((data[4] & 63u) + 1) * 97u;
		int s = nth_live(data[1] & 15), t, rc;
		meta_ms_id nid = 0;
		struct meta_ms_merge_opts mo = {0};

		if (len > OSIZE - off)
			len = OSIZE - off;
		memset(wbuf, data[4] ^ (uint8_t)k, len);
		switch (kind) {
		case 0: /* create */
			t = free_slot();
			if (t < 0)
				break;
			rc = meta_ms_create(r.ms, &nid);
			if (rc) {
				if (meta_ms_is_new(r.ms))
					goto out; /* the store is too small to be formatted */
				refused_ok(rc);
				break;
			}
			ids[t] = nid;
			live[t] = true;
			nlive++;
			memcpy(views[t], omodel, OSIZE);
			break;
		case 1: /* create_subsnap */
			t = free_slot();
			if (t < 0 || s < 0)
				break;
			rc = meta_ms_create_subsnap(r.ms, ids[s], &nid);
			if (rc) {
				refused_ok(rc);
				break;
			}
			ids[t] = nid;
			live[t] = true;
			nlive++;
			memcpy(views[t], views[s], OSIZE);
			break;
		case 2: /* origin write */
			memcpy(old, omodel, OSIZE);
			memcpy(old + off, wbuf, len);
			rc = meta_ms_write_origin(r.ms, r.oio, off, len, wbuf);
			if (!rc) {
				memcpy(omodel, old, OSIZE);
			} else {
				refused_ok(rc);
				if (rc == META_E_NOSPC) {
					read_origin(&r, got);
					chunks_old_or_new(&r, omodel, old);
				}
			}
			break;
		case 3: /* snapshot write */
			if (s < 0)
				break;
			memcpy(old, views[s], OSIZE);
			memcpy(old + off, wbuf, len);
			rc = meta_ms_write_snapshot(r.ms, r.oio, ids[s], off, len, wbuf);
			if (!rc) {
				memcpy(views[s], old, OSIZE);
			} else {
				refused_ok(rc);
				if (rc == META_E_NOSPC) {
					read_view(&r, s, got);
					chunks_old_or_new(&r, views[s], old);
				}
			}
			break;
		case 4: /* delete */
			if (s < 0)
				break;
			rc = meta_ms_delete(r.ms, ids[s]);
			if (rc) {
				refused_ok(rc);
				if (rc == META_E_BUSY && !has_live_subs(s))
					abort();
				break;
			}
			live[s] = false;
			nlive--;
			break;
		case 5: /* merge */
			if (s < 0)
				break;
			mo.batch = 1u + (data[1] >> 4);
			rc = meta_ms_merge(r.ms, r.oio, ids[s], &mo);
			if (rc) {
				refused_ok(rc);
				if ((rc == META_E_BUSY && !has_live_subs(s)) ||
				    (rc == META_E_UNSUPPORTED && !r.daniel))
					abort();
				if (rc == META_E_NOSPC) {
					read_origin(&r, got);
					chunks_old_or_new(&r, omodel, views[s]);
				}
				break;
			}
			memcpy(omodel, views[s], OSIZE);
			live[s] = false;
			nlive--;
			break;
		case 6: /* delete of an id that is not live */
			rc = meta_ms_delete(r.ms, ((meta_ms_id)0x7ffffff0u << 32) | META_MS_SUB_NONE);
			if (rc != META_E_NOTFOUND && !meta_ms_is_new(r.ms))
				abort();
			break;
		default: /* close and reopen */
			meta_ms_close(r.ms);
			r.ms = NULL;
			if (open_store(&r))
				abort();
			if (meta_ms_is_new(r.ms)) {
				if (nlive)
					abort();
				meta_ms_set_params(r.ms, &p);
			}
			break;
		}
		if (!meta_ms_is_new(r.ms))
			verify(&r);
	}
	if (!meta_ms_is_new(r.ms)) {
		meta_ms_close(r.ms);
		r.ms = NULL;
		if (worst_damage(r.store.path) >= (int)META_SEV_NONFATAL)
			abort();
		if (open_store(&r))
			abort();
		verify(&r);
	}
out:
	if (r.ms)
		meta_ms_close(r.ms);
	meta_io_close(r.oio);
	fz_close(&r.store);
	fz_close(&r.origin);
	return 0;
}

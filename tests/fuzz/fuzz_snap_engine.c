/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer target: the offline snapshot engine (snap_write's write logic) against a model.
 * Input: a 5-byte set-up, then operations of 6 bytes each:
 *   set-up: [0] log2 chunk size of the persistent snapshot A (mod 6: 1..32 sectors)
 *           [1] A's COW size in 4 KiB units, minus one
 *           [2] log2 chunk size of the transient snapshot B   [3] B's COW size, as [1]
 *           [4] bit 0: A may overflow (PO) instead of invalidating; bit 1: add B
 *   op:     kind (mod 4: 0 origin write, 1 write A, 2 write B, 3 read back and compare),
 *           le16 offset, le16 length (clamped to the 64 KiB origin), fill byte
 * A is a fresh store written by meta_snap_restore; the origin holds a pattern.
 * Model: each snapshot reads as the origin did when it was taken, plus its own writes.
 * Oracles (abort() when broken): every snapshot still tracked reads as its model (a
 * snapshot stops being tracked once a write to it fails for lack of space or it becomes
 * invalid); the origin reads as its model; at the end A's store, reopened from disk,
 * passes meta_snap_check without fatal damage and its snapshot view equals its model.
 */
#include <stdlib.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/snap.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OSIZE (64u << 10)
#define MAX_OPS 64

static uint8_t omodel[OSIZE], amodel[OSIZE], bmodel[OSIZE], got[OSIZE], wbuf[OSIZE];

static void same_or_abort(struct meta_snap_engine *e, unsigned idx, const uint8_t *model)
{
	if (meta_snap_engine_read_snapshot(e, idx, 0, got, OSIZE) || memcmp(got, model, OSIZE))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_file origin, cowa, cowb;
	struct meta_snap_header h = {META_SNAP_MAGIC, 1, META_SNAP_VERSION, 0};
	struct meta_snap_engine *e = NULL;
	struct meta_io *oio = NULL, *bio = NULL;
	struct meta_snap *sa = NULL;
	unsigned ia = 0, ib = 0;
	bool track_a = true, track_b, have_b;
	uint32_t csb;

	if (size < 5)
		return 0;
	h.chunk_size = 1u << (data[0] % 6);
	csb = 1u << (data[2] % 6);
	have_b = (data[4] & 2) != 0;
	track_b = have_b;
	for (uint32_t i = 0; i < OSIZE; i++)
		omodel[i] = (uint8_t)(i * 7u + (i >> 8) * 13u + 3u);
	memcpy(amodel, omodel, OSIZE);
	memcpy(bmodel, omodel, OSIZE);

	fz_open(&origin, 0);
	fz_pwrite(&origin, omodel, OSIZE, 0);
	fz_open(&cowa, ((uint64_t)data[1] + 1) * 4096);
	fz_open(&cowb, ((uint64_t)data[3] + 1) * 4096);
	if (meta_snap_restore(cowa.path, &h, NULL, 0, true, NULL, NULL))
		goto out; /* a COW too small for its header and first area */
	if (meta_io_open(origin.path, META_IO_WRITE, &oio) || meta_snap_engine_create(oio, &e) ||
	    meta_snap_open(cowa.path, META_SNAP_OPEN_WRITE, &sa) ||
	    meta_snap_engine_add(e, sa, (data[4] & 1) != 0, &ia))
		abort();
	if (have_b && (meta_io_open(cowb.path, META_IO_WRITE, &bio) ||
		       meta_snap_engine_add_transient(e, bio, csb, &ib)))
		abort();

	for (size_t pos = 5, nops = 0; pos + 6 <= size && nops < MAX_OPS; pos += 6, nops++) {
		unsigned kind = data[pos] % 4;
		uint32_t off = (uint32_t)data[pos + 1] | (uint32_t)data[pos + 2] << 8;
		uint32_t len = (uint32_t)data[pos + 3] | (uint32_t)data[pos + 4] << 8;
		int r;
		if (len > OSIZE - off)
			len = OSIZE - off;
		memset(wbuf, data[pos + 5], len);
		switch (kind) {
		case 0:
			r = meta_snap_engine_write_origin(e, off, wbuf, len);
			if (r)
				abort(); /* a full COW invalidates the snapshot; the write goes on */
			memcpy(omodel + off, wbuf, len);
			break;
		case 1:
		case 2: {
			bool *track = kind == 1 ? &track_a : &track_b;
			uint8_t *model = kind == 1 ? amodel : bmodel;
			if (kind == 2 && !have_b)
				break;
			r = meta_snap_engine_write_snapshot(e, kind == 1 ? ia : ib, off, wbuf, len);
			if (r == META_E_NOSPC || r == META_E_IO)
				*track = false; /* full, overflowed or invalid: contents not modelled */
			else if (r)
				abort();
			else
				memcpy(model + off, wbuf, len);
			break;
		}
		default:
			if (meta_io_pread(oio, got, OSIZE, 0) || memcmp(got, omodel, OSIZE))
				abort();
			if (track_a && meta_snap_engine_state(e, ia) == META_SNAP_ACTIVE)
				same_or_abort(e, ia, amodel);
			if (track_b && meta_snap_engine_state(e, ib) == META_SNAP_ACTIVE)
				same_or_abort(e, ib, bmodel);
		}
		if (meta_snap_engine_state(e, ia) != META_SNAP_ACTIVE)
			track_a = false;
		if (have_b && meta_snap_engine_state(e, ib) != META_SNAP_ACTIVE)
			track_b = false;
	}
	meta_snap_engine_destroy(e);
	e = NULL;
	meta_snap_close(sa);
	sa = NULL;
	if (track_a) {
		uint64_t ndmg = 0;
		if (meta_snap_open(cowa.path, 0, &sa))
			abort();
		if (meta_snap_check(sa, OSIZE / 512, fz_count_damage, &ndmg) >= (int)META_SEV_FATAL)
			abort();
		if (meta_snap_read_view(sa, oio, 0, got, OSIZE) || memcmp(got, amodel, OSIZE))
			abort();
		meta_snap_close(sa);
		sa = NULL;
	}
out:
	meta_snap_engine_destroy(e);
	meta_snap_close(sa);
	meta_io_close(bio);
	meta_io_close(oio);
	fz_close(&origin);
	fz_close(&cowa);
	fz_close(&cowb);
	return 0;
}

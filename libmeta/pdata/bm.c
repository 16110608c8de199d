/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Block manager: a small block cache over meta_io, the validators' shared
 * location and checksum steps, and a batched reader (see include/libmeta/bm.h).
 */
#include <libmeta/bm.h>
#include <libmeta/crc32c.h>
#include <libmeta/error.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/endian.h"
#include "base/hash.h"
#include "base/util.h"

/* ---- validators' shared steps -------------------------------------------- */

int meta_block_check(const struct meta_validator *v, const void *data, uint64_t b,
		     size_t blocknr_off)
{
	if (get_le32p(data) != meta_block_csum(data, META_BLOCK_SIZE, v->csum_xor))
		return META_E_CHECKSUM;
	if (get_le64p((const uint8_t *)data + blocknr_off) != b)
		return META_E_BLOCKNR;
	return META_OK;
}

void meta_block_prepare(const struct meta_validator *v, void *data, uint64_t b,
			size_t blocknr_off)
{
	put_le64p((uint8_t *)data + blocknr_off, b);
	put_le32p(data, meta_block_csum(data, META_BLOCK_SIZE, v->csum_xor));
}

/* ---- cache ----------------------------------------------------------------- */

#define NO_SLOT UINT32_MAX

struct slot {
	uint64_t b;
	uint32_t refs;
	uint8_t valid;   /* holds block b */
	uint8_t used;    /* clock bit */
	const struct meta_validator *checked; /* validator that accepted it, if any */
};

struct meta_bm {
	struct meta_io *io;
	uint64_t nr_blocks;
	uint32_t nr_slots, clock;
	struct slot *slots;
	struct meta_hidx index; /* the valid slots by block number (base/hash.h) */
	uint8_t *mem;   /* nr_slots * 4096, page aligned */
	uint8_t *batch; /* batch read buffer */
	uint8_t *pf;    /* prefetch read buffer (O_DIRECT devices), allocated on first use */
	uint8_t *ring;  /* read_batch_ahead()'s buffers (RA_BYTES), allocated on first use and
			   kept: a new one per batch cost a page fault per 4 KiB (p100m: 3,000) */
	int read_ahead; /* meta_bm_read_batch() reads and validates on a second thread */
	meta_bm_pre_fn pre; /* meta_bm_set_batch_pre() */
	void *pre_ctx;
	int borrowed; /* meta_bm_create_borrowed(): destroy leaves io open */
};

#define BATCH_MAX_BLOCKS 256u /* 1 MiB per read */
#define PF_BYTES ((size_t)BATCH_MAX_BLOCKS * META_BLOCK_SIZE) /* meta_bm_prefetch() buffer on devices */
#define BATCH_MAX_GAP 8u

/* read_batch_ahead() (below) */
#define RA_SLOTS 16u
#define RA_SPAN 64u
#define RA_LOADERS 4u
#define RA_WILLNEED 16384u /* 64 MiB */
#define RA_HINT_MAX 1024u  /* blocks per fadvise */
#define RA_BYTES ((size_t)RA_SLOTS * RA_SPAN * META_BLOCK_SIZE)
/* from its own mapping (page-aligned, as O_DIRECT reads need), not from calloc() */
_Static_assert(RA_BYTES >= META_HUGE_MIN, "the read-ahead ring is a huge allocation");

static uint64_t slot_block(const void *ctx, uint32_t s)
{
	return ((const struct meta_bm *)ctx)->slots[s].b;
}

int meta_bm_create(struct meta_io *io, size_t cache_blocks, struct meta_bm **out)
{
	struct meta_bm *bm = calloc(1, sizeof(*bm));
	*out = NULL;
	if (!bm)
		return META_E_NOMEM;
	if (cache_blocks == 0)
		cache_blocks = 1024;
	bm->io = io;
	bm->nr_blocks = meta_io_size(io) / META_BLOCK_SIZE;
	bm->nr_slots = (uint32_t)cache_blocks;
	bm->slots = calloc(bm->nr_slots, sizeof(*bm->slots));
	if (meta_hidx_init_cap(&bm->index, bm->nr_slots))
		meta_hidx_init(&bm->index);
	bm->mem = aligned_alloc(META_BLOCK_SIZE, (size_t)bm->nr_slots * META_BLOCK_SIZE);
	bm->batch = aligned_alloc(META_BLOCK_SIZE,
				  (size_t)(BATCH_MAX_BLOCKS + BATCH_MAX_GAP) * META_BLOCK_SIZE);
	if (!bm->slots || !bm->index.cap || !bm->mem || !bm->batch) {
		bm->io = NULL;
		meta_bm_destroy(bm);
		return META_E_NOMEM;
	}
	*out = bm;
	return META_OK;
}

int meta_bm_create_borrowed(struct meta_io *io, size_t cache_blocks, struct meta_bm **out)
{
	int r = meta_bm_create(io, cache_blocks, out);
	if (!r)
		(*out)->borrowed = 1;
	return r;
}

void meta_bm_destroy(struct meta_bm *bm)
{
	if (!bm)
		return;
	if (!bm->borrowed)
		meta_io_close(bm->io);
	free(bm->slots);
	meta_hidx_free(&bm->index);
	free(bm->mem);
	free(bm->batch);
	if (bm->pf)
		munmap(bm->pf, PF_BYTES);
	meta_huge_free(bm->ring, RA_BYTES);
	free(bm);
}

struct meta_io *meta_bm_io(struct meta_bm *bm) { return bm->io; }
uint64_t meta_bm_nr_blocks(const struct meta_bm *bm) { return bm->nr_blocks; }

/* The slot holding block b, or NO_SLOT.  Every indexed slot is valid. */
static inline uint32_t hash_find(const struct meta_bm *bm, uint64_t b)
{
	int64_t s = meta_hidx_find(&bm->index, b, slot_block, bm);
	return s < 0 ? NO_SLOT : (uint32_t)s;
}

/* Index slot s (its block set, not indexed yet): the index was sized for every slot, so
 * this never allocates. */
static void hash_insert(struct meta_bm *bm, uint32_t s)
{
	(void)meta_hidx_add(&bm->index, s, slot_block, bm);
}

static uint32_t evict(struct meta_bm *bm)
{
	for (uint32_t tries = 0; tries < 2 * bm->nr_slots + 1; tries++) {
		uint32_t s = bm->clock;
		struct slot *sl = &bm->slots[s];
		bm->clock = (bm->clock + 1) % bm->nr_slots;
		if (sl->refs)
			continue;
		if (sl->valid && sl->used) {
			sl->used = 0;
			continue;
		}
		if (sl->valid)
			meta_hidx_del(&bm->index, s, slot_block, bm);
		sl->valid = 0;
		return s;
	}
	return NO_SLOT;
}

static inline uint8_t *slot_data(struct meta_bm *bm, uint32_t s)
{
	return bm->mem + (size_t)s * META_BLOCK_SIZE;
}

int meta_bm_get(struct meta_bm *bm, uint64_t b, const struct meta_validator *v, const void **data)
{
	uint32_t s;
	int r;
	*data = NULL;
	if (b >= bm->nr_blocks)
		return META_E_RANGE;
	s = hash_find(bm, b);
	if (s == NO_SLOT) {
		s = evict(bm);
		if (s == NO_SLOT)
			return META_E_NOMEM;
		r = meta_io_pread(bm->io, slot_data(bm, s), META_BLOCK_SIZE, b * META_BLOCK_SIZE);
		if (r)
			return r;
		bm->slots[s].b = b;
		bm->slots[s].valid = 1;
		bm->slots[s].checked = NULL;
		hash_insert(bm, s);
	}
	if (v && bm->slots[s].checked != v) {
		r = v->check(v, slot_data(bm, s), b);
		if (r)
			return r;
		bm->slots[s].checked = v;
	}
	bm->slots[s].refs++;
	bm->slots[s].used = 1;
	*data = slot_data(bm, s);
	return META_OK;
}

void meta_bm_put(struct meta_bm *bm, const void *data)
{
	size_t off;
	if (!data)
		return;
	off = (size_t)((const uint8_t *)data - bm->mem);
	if (off / META_BLOCK_SIZE < bm->nr_slots && bm->slots[off / META_BLOCK_SIZE].refs)
		bm->slots[off / META_BLOCK_SIZE].refs--;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static size_t sort_unique(uint64_t *v, size_t n)
{
	size_t i, j;
	int sorted = 1;
	for (i = 1; i < n; i++)
		if (v[i - 1] >= v[i]) {
			sorted = 0;
			break;
		}
	if (sorted)
		return n;
	qsort(v, n, sizeof(*v), cmp_u64);
	for (i = j = 0; i < n; i++)
		if (j == 0 || v[j - 1] != v[i])
			v[j++] = v[i];
	return j;
}

/*
 * Read-ahead for meta_bm_read_batch(): a pipeline over a ring of RA_SLOTS buffers of up
 * to RA_SPAN blocks, one run (coalesced as in the serial loop) per buffer:
 *   loader threads read the runs: on O_DIRECT devices RA_LOADERS of them, so that several
 *     reads are in flight and the waits for the device are theirs, not a thread's with
 *     work to do (p100m on a device: 0.98 -> 0.77 s); on files none: the reader reads
 *     each run itself, a copy from the page cache that the hinter below fills;
 *   the reader thread validates each run's blocks and runs the pre hook;
 *   the caller's thread hands them to fn in order, with the same data and errors as the
 *     serial loop.
 * fn runs on the caller's thread only; a loader touches nothing but the slots it claimed
 * and the io (pread is position-free), the reader nothing but its slots, the validator
 * (pure) and the pre hook.  Memory: RA_SLOTS * RA_SPAN blocks (4 MiB).  A stage with
 * nothing to do sleeps until half of the ring is ready for it (or the batch ends): a
 * handful of sleeps per batch, not one per run.
 *
 * The hinter: on files, one more thread asks the kernel to read ahead (POSIX_FADV_WILLNEED)
 * the batch's blocks in coalesced ranges, at most RA_WILLNEED blocks past the loader's next
 * block.  The kernel's work of filling the page cache (allocating and inserting the pages,
 * submitting the reads) then runs on the hinter's thread while the device works on a deep
 * queue.  It sleeps while it is RA_WILLNEED ahead, until the loader is within half of that.
 * (Reading cold files O_DIRECT instead, as on devices, was slower here: 0.70-1.0 s against
 * 0.60 s on p100m, the device serving one request at a time and the loaders' wake-ups
 * waiting for a core.)
 */
/* (the read-ahead's sizes, RA_*, are defined above with the other buffers') */

struct ra_slot {
	uint8_t *buf;             /* RA_SPAN blocks; block k of the run at (blocks[k] - first) */
	size_t i, j;              /* the run: blocks[i..j) */
	int ioerr;                /* the loader's read failed, or META_E_RANGE: past the end */
	int ready;                /* loaded */
	int err[RA_SPAN];         /* per block: 0, the validator's error, META_E_IO, META_E_RANGE */
};

struct ra {
	struct meta_bm *bm;
	const uint64_t *blocks;
	size_t n;
	const struct meta_validator *v;
	pthread_mutex_t mu;
	pthread_cond_t lcv, rcv, ccv, hcv; /* the loaders', the reader's, the caller's, the hinter's */
	size_t next;     /* blocks[next]: the first block no loader claimed yet */
	size_t claimed;  /* runs claimed by the loaders */
	size_t loaded;   /* runs loaded without a gap before them */
	size_t checked, consumed;
	unsigned loaders, loaders_done;
	int load_done, check_done, stop;
	int loaders_wait, reader_waits, caller_waits;
	size_t hint; /* blocks[hint]: the hinter's next block */
	int hinter_waits;
	struct ra_slot slot[RA_SLOTS];
};

/*
 * Wake whichever stage sleeps and now has half of the ring (or the end) to work on.  A loader
 * asleep on a full ring when another claims the batch's last run must wake to finish: the
 * reader waits for the end of the loading once fewer than half of the slots are left to it,
 * and the caller for the reader's, so the ring may never drain to half again.
 */
static void ra_wake(struct ra *a)
{
	if (a->loaders_wait &&
	    (a->stop || a->next >= a->n || a->claimed - a->consumed <= RA_SLOTS / 2))
		pthread_cond_broadcast(&a->lcv);
	if (a->reader_waits && (a->stop || a->load_done || a->loaded - a->checked >= RA_SLOTS / 2))
		pthread_cond_signal(&a->rcv);
	if (a->caller_waits && (a->check_done || a->checked - a->consumed >= RA_SLOTS / 2))
		pthread_cond_signal(&a->ccv);
	if (a->hinter_waits && (a->stop || a->next >= a->n || a->hint >= a->n || a->next >= a->hint ||
				a->blocks[a->hint] - a->blocks[a->next] < RA_WILLNEED / 2))
		pthread_cond_signal(&a->hcv);
}

/* Claim the run at blocks[a->next] for slot s (under a->mu). */
static void ra_claim(struct ra *a, struct ra_slot *s)
{
	const uint64_t *blocks = a->blocks;
	uint64_t nr = a->bm->nr_blocks, first = blocks[a->next];
	size_t i = a->next, j = i + 1;
	if (first < nr)
		while (j < a->n && blocks[j] < nr && blocks[j] - blocks[j - 1] <= BATCH_MAX_GAP &&
		       blocks[j] - first < RA_SPAN)
			j++;
	s->i = i;
	s->j = j;
	s->ready = 0;
	a->next = j;
	a->claimed++;
}

static void ra_load(struct ra *a, struct ra_slot *s)
{
	uint64_t first = a->blocks[s->i];
	if (first >= a->bm->nr_blocks) {
		s->ioerr = META_E_RANGE;
		return;
	}
	s->ioerr = meta_io_pread(a->bm->io, s->buf,
				 (size_t)(a->blocks[s->j - 1] - first + 1) * META_BLOCK_SIZE,
				 first * META_BLOCK_SIZE);
}

static void ra_check(struct ra *a, struct ra_slot *s)
{
	const uint64_t *blocks = a->blocks;
	struct meta_bm *bm = a->bm;
	if (s->ioerr == META_E_RANGE) {
		s->err[0] = META_E_RANGE;
		return;
	}
	for (size_t k = s->i; k < s->j; k++) {
		uint8_t *d = s->buf + (size_t)(blocks[k] - blocks[s->i]) * META_BLOCK_SIZE;
		int err = 0;
		/* retry block by block so one bad sector loses one block */
		if (s->ioerr && meta_io_pread(bm->io, d, META_BLOCK_SIZE, blocks[k] * META_BLOCK_SIZE)) {
			memset(d, 0, META_BLOCK_SIZE);
			err = META_E_IO;
		}
		if (!err && a->v)
			err = a->v->check(a->v, d, blocks[k]);
		if (!err && bm->pre)
			bm->pre(bm->pre_ctx, blocks[k], d);
		s->err[k - s->i] = err;
	}
}

/*
 * Load the next run into its slot (called and returning with a->mu held; drops it for the
 * read): 1 when it did, 0 when the batch is claimed or stopped.  Waits while the ring is full.
 */
static int ra_load_next(struct ra *a)
{
	while (!a->stop && a->next < a->n && a->claimed - a->consumed >= RA_SLOTS) {
		a->loaders_wait++;
		pthread_cond_wait(&a->lcv, &a->mu);
		a->loaders_wait--;
	}
	if (a->stop || a->next >= a->n)
		return 0;
	struct ra_slot *s = &a->slot[a->claimed % RA_SLOTS];
	ra_claim(a, s);
	pthread_mutex_unlock(&a->mu);
	ra_load(a, s);
	pthread_mutex_lock(&a->mu);
	s->ready = 1;
	while (a->loaded < a->claimed && a->slot[a->loaded % RA_SLOTS].ready)
		a->loaded++;
	ra_wake(a);
	return 1;
}

/* A loader thread: the runs until the batch is claimed; the last one out ends the loading. */
static void ra_loaded_all(struct ra *a)
{
	if (++a->loaders_done >= a->loaders) {
		a->load_done = 1;
		ra_wake(a);
	}
}

static void *ra_loader(void *arg)
{
	struct ra *a = arg;
	pthread_mutex_lock(&a->mu);
	while (ra_load_next(a))
		;
	ra_loaded_all(a);
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static void *ra_hinter(void *arg)
{
	struct ra *a = arg;
	const uint64_t *blocks = a->blocks;
	uint64_t nr = a->bm->nr_blocks;
	size_t k = 0;
	pthread_mutex_lock(&a->mu);
	while (!a->stop && a->next < a->n && k < a->n && blocks[k] < nr) {
		if (k > a->next && blocks[k] - blocks[a->next] >= RA_WILLNEED) {
			a->hinter_waits = 1;
			pthread_cond_wait(&a->hcv, &a->mu);
			a->hinter_waits = 0;
			continue;
		}
		if (k < a->next)
			k = a->next;
		pthread_mutex_unlock(&a->mu);
		size_t j = k + 1;
		while (j < a->n && blocks[j] < nr && blocks[j] - blocks[j - 1] <= BATCH_MAX_GAP &&
		       blocks[j] - blocks[k] < RA_HINT_MAX)
			j++;
		meta_io_willneed(a->bm->io, blocks[k] * META_BLOCK_SIZE,
				 (blocks[j - 1] - blocks[k] + 1) * META_BLOCK_SIZE);
		k = j;
		pthread_mutex_lock(&a->mu);
		a->hint = k;
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* The reader thread; with no loader threads (files) it loads each run itself first. */
static void *ra_reader(void *arg)
{
	struct ra *a = arg;
	for (;;) {
		pthread_mutex_lock(&a->mu);
		if (!a->loaders && a->checked == a->loaded && !ra_load_next(a))
			ra_loaded_all(a);
		if (a->checked == a->loaded && !a->load_done && !a->stop) {
			a->reader_waits = 1;
			while (!a->stop && !a->load_done && a->loaded - a->checked < RA_SLOTS / 2)
				pthread_cond_wait(&a->rcv, &a->mu);
			a->reader_waits = 0;
		}
		/* nothing loaded after the loading ended: the batch is read */
		int stop = a->stop || a->checked == a->loaded;
		size_t k = a->checked % RA_SLOTS;
		pthread_mutex_unlock(&a->mu);
		if (stop)
			break;
		ra_check(a, &a->slot[k]);
		pthread_mutex_lock(&a->mu);
		a->checked++;
		ra_wake(a);
		pthread_mutex_unlock(&a->mu);
	}
	pthread_mutex_lock(&a->mu);
	a->check_done = 1;
	ra_wake(a);
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* Stop the stages that run and wait for them. */
static void ra_stop(struct ra *a, pthread_t *lth, unsigned nl, pthread_t *rth, pthread_t *hth)
{
	pthread_mutex_lock(&a->mu);
	a->stop = 1;
	pthread_cond_broadcast(&a->lcv);
	pthread_cond_signal(&a->rcv);
	pthread_cond_signal(&a->hcv);
	pthread_mutex_unlock(&a->mu);
	if (hth)
		pthread_join(*hth, NULL);
	if (rth)
		pthread_join(*rth, NULL);
	for (unsigned k = 0; k < nl; k++)
		pthread_join(lth[k], NULL);
}

static pthread_cond_t *ra_cond(struct ra *a, int k)
{
	pthread_cond_t *cv[] = {&a->lcv, &a->rcv, &a->ccv, &a->hcv};
	return cv[k];
}

/* Free a, its mutex (when conds >= 0) and its first conds conditions. */
static void ra_destroy(struct ra *a, int conds)
{
	for (int k = 0; k < conds; k++)
		pthread_cond_destroy(ra_cond(a, k));
	if (conds >= 0)
		pthread_mutex_destroy(&a->mu);
	free(a);
}

/* Returns 1 when it could not start (the caller reads serially), else fn's stop value or 0. */
static int read_batch_ahead(struct meta_bm *bm, const uint64_t *blocks, size_t n,
			    const struct meta_validator *v, meta_bm_batch_fn fn, void *ctx, int *ret)
{
	struct ra *a = calloc(1, sizeof(*a));
	if (!bm->ring)
		bm->ring = meta_huge_alloc(RA_BYTES);
	uint8_t *mem = bm->ring;
	pthread_t lth[RA_LOADERS], rth, hth;
	unsigned nl = 0;
	int r = 0, conds, reading = 0, hinting = 0;
	if (!a || !mem) {
		free(a);
		return 1;
	}
	a->bm = bm;
	a->blocks = blocks;
	a->n = n;
	a->v = v;
	for (unsigned k = 0; k < RA_SLOTS; k++)
		a->slot[k].buf = mem + (size_t)k * RA_SPAN * META_BLOCK_SIZE;
	conds = pthread_mutex_init(&a->mu, NULL) ? -1 : 0;
	while (conds >= 0 && conds < 4 && !pthread_cond_init(ra_cond(a, conds), NULL))
		conds++;
	if (conds < 4) {
		ra_destroy(a, conds);
		return 1;
	}
	pthread_attr_t attr;
	if (!pthread_attr_init(&attr)) {
		/* the stages need little stack: 256 KiB, not the default 8 MiB of address space */
		(void)pthread_attr_setstacksize(&attr, 256u << 10);
		/* a->loaders counts the loaders started before any can finish: set under the lock */
		pthread_mutex_lock(&a->mu);
		unsigned want = meta_io_is_direct(bm->io) ? RA_LOADERS : 0;
		for (; nl < want; nl++)
			if (pthread_create(&lth[nl], &attr, ra_loader, a))
				break;
		a->loaders = nl;
		pthread_mutex_unlock(&a->mu);
		reading = (nl || !want) && !pthread_create(&rth, &attr, ra_reader, a);
		/* without the hinter the kernel's own read-ahead serves the loader */
		hinting = reading && !meta_io_is_direct(bm->io) &&
			  !pthread_create(&hth, &attr, ra_hinter, a);
		pthread_attr_destroy(&attr);
	}
	if (!reading) {
		ra_stop(a, lth, nl, NULL, NULL);
		ra_destroy(a, conds);
		return 1;
	}
	for (;;) {
		pthread_mutex_lock(&a->mu);
		if (a->consumed == a->checked && !a->check_done) {
			a->caller_waits = 1;
			while (a->checked - a->consumed < RA_SLOTS / 2 && !a->check_done)
				pthread_cond_wait(&a->ccv, &a->mu);
			a->caller_waits = 0;
		}
		int empty = a->consumed == a->checked;
		pthread_mutex_unlock(&a->mu);
		if (empty)
			break; /* done, all consumed */
		const struct ra_slot *s = &a->slot[a->consumed % RA_SLOTS];
		static const uint8_t zero[META_BLOCK_SIZE];
		for (size_t k = s->i; k < s->j && !r; k++) {
			const uint8_t *d = s->err[k - s->i] == META_E_RANGE
				? zero : s->buf + (size_t)(blocks[k] - blocks[s->i]) * META_BLOCK_SIZE;
			r = fn(ctx, blocks[k], d, s->err[k - s->i]);
		}
		pthread_mutex_lock(&a->mu);
		a->consumed++;
		if (r)
			a->stop = 1;
		ra_wake(a);
		pthread_mutex_unlock(&a->mu);
		if (r)
			break;
	}
	ra_stop(a, lth, nl, &rth, hinting ? &hth : NULL);
	ra_destroy(a, conds);
	*ret = r;
	return 0;
}

void meta_bm_set_read_ahead(struct meta_bm *bm, int on)
{
	bm->read_ahead = on;
}

void meta_bm_set_batch_pre(struct meta_bm *bm, meta_bm_pre_fn pre, void *ctx)
{
	bm->pre = pre;
	bm->pre_ctx = ctx;
}

int meta_bm_read_batch(struct meta_bm *bm, uint64_t *blocks, size_t n,
		       const struct meta_validator *v, meta_bm_batch_fn fn, void *ctx)
{
	static const uint8_t zero[META_BLOCK_SIZE];
	size_t i = 0;
	n = sort_unique(blocks, n);
	if (bm->read_ahead && n > RA_SPAN) {
		int r;
		if (!read_batch_ahead(bm, blocks, n, v, fn, ctx, &r))
			return r;
	}
	while (i < n) {
		uint64_t first = blocks[i];
		size_t j = i + 1;
		uint32_t s;
		int r;
		if (first >= bm->nr_blocks) {
			r = fn(ctx, first, zero, META_E_RANGE);
			if (r)
				return r;
			i++;
			continue;
		}
		while (j < n && blocks[j] < bm->nr_blocks && blocks[j] - blocks[j - 1] <= BATCH_MAX_GAP &&
		       blocks[j] - first < BATCH_MAX_BLOCKS)
			j++;
		if (j == i + 1 && (s = hash_find(bm, first)) != NO_SLOT) {
			/* a lone block the cache holds (meta_bm_prefetch()ed on a device): no read */
			const uint8_t *d = slot_data(bm, s);
			int err = v ? v->check(v, d, first) : 0;
			if (!err && bm->pre)
				bm->pre(bm->pre_ctx, first, d);
			bm->slots[s].refs++; /* not evicted under fn */
			r = fn(ctx, first, d, err);
			bm->slots[s].refs--;
			if (r)
				return r;
			i = j;
			continue;
		}
		{
			uint64_t span = blocks[j - 1] - first + 1;
			int ioerr = meta_io_pread(bm->io, bm->batch, (size_t)span * META_BLOCK_SIZE,
						  first * META_BLOCK_SIZE);
			for (size_t k = i; k < j; k++) {
				uint64_t b = blocks[k];
				const uint8_t *d;
				int err = 0;
				if (ioerr) {
					/* retry block by block so one bad sector loses one block */
					uint8_t *one = bm->batch;
					if (meta_io_pread(bm->io, one, META_BLOCK_SIZE, b * META_BLOCK_SIZE)) {
						d = zero;
						err = META_E_IO;
					} else {
						d = one;
					}
				} else {
					d = bm->batch + (size_t)(b - first) * META_BLOCK_SIZE;
				}
				if (!err && v)
					err = v->check(v, d, b);
				if (!err && bm->pre)
					bm->pre(bm->pre_ctx, b, d);
				r = fn(ctx, b, d, err);
				if (r)
					return r;
			}
		}
		i = j;
	}
	return META_OK;
}

/*
 * Read the wanted blocks into the cache now, in runs coalesced like meta_bm_read_batch()'s
 * (at most half of the cache per call, so prefetched blocks do not push each other out):
 * what meta_bm_prefetch() does on O_DIRECT devices, which have no read-ahead to ask for,
 * and meta_bm_prefetch_now() everywhere.
 */
static void prefetch_direct(struct meta_bm *bm, const uint64_t *blocks, size_t n)
{
	size_t i = 0, budget = bm->nr_slots / 2;
	if (!bm->pf) {
		/* mmap, not malloc: freed 1 MiB buffers of short-lived caches (thin_repair opens
		 * its input a dozen times) would otherwise stay in the heap, 1 MiB of RSS each */
		void *p = mmap(NULL, PF_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return;
		bm->pf = p;
	}
	while (i < n && budget) {
		uint64_t first = blocks[i];
		size_t j = i + 1;
		if (first >= bm->nr_blocks || hash_find(bm, first) != NO_SLOT) {
			i++;
			continue;
		}
		while (j < n && blocks[j] < bm->nr_blocks && blocks[j] - blocks[j - 1] <= BATCH_MAX_GAP &&
		       blocks[j] - first < BATCH_MAX_BLOCKS && j - i < budget)
			j++;
		if (meta_io_pread(bm->io, bm->pf, (size_t)(blocks[j - 1] - first + 1) * META_BLOCK_SIZE,
				  first * META_BLOCK_SIZE))
			return; /* the gets will read (and report) it */
		for (size_t k = i; k < j && budget; k++) {
			uint32_t s;
			if (hash_find(bm, blocks[k]) != NO_SLOT || (s = evict(bm)) == NO_SLOT)
				continue;
			memcpy(slot_data(bm, s), bm->pf + (size_t)(blocks[k] - first) * META_BLOCK_SIZE,
			       META_BLOCK_SIZE);
			bm->slots[s].b = blocks[k];
			bm->slots[s].valid = 1;
			bm->slots[s].used = 1;
			bm->slots[s].checked = NULL;
			hash_insert(bm, s);
			budget--;
		}
		i = j;
	}
}

void meta_bm_prefetch_now(struct meta_bm *bm, uint64_t *blocks, size_t n)
{
	prefetch_direct(bm, blocks, sort_unique(blocks, n));
}

void meta_bm_prefetch(struct meta_bm *bm, uint64_t *blocks, size_t n)
{
	size_t i = 0;
	n = sort_unique(blocks, n);
	if (meta_io_is_direct(bm->io)) {
		prefetch_direct(bm, blocks, n);
		return;
	}
	while (i < n) {
		uint64_t first = blocks[i], last;
		size_t j = i + 1;
		if (first >= bm->nr_blocks || hash_find(bm, first) != NO_SLOT) {
			i++;
			continue;
		}
		while (j < n && blocks[j] == blocks[j - 1] + 1 && blocks[j] < bm->nr_blocks &&
		       hash_find(bm, blocks[j]) == NO_SLOT)
			j++;
		last = blocks[j - 1];
		meta_io_willneed(bm->io, first * META_BLOCK_SIZE, (last - first + 1) * META_BLOCK_SIZE);
		i = j;
	}
}

int meta_bm_write(struct meta_bm *bm, uint64_t b, const struct meta_validator *v, void *data)
{
	uint32_t s;
	int r;
	if (v)
		v->prepare(v, data, b);
	r = meta_io_pwrite(bm->io, data, META_BLOCK_SIZE, b * META_BLOCK_SIZE);
	if (r)
		return r;
	if (b >= bm->nr_blocks)
		bm->nr_blocks = meta_io_size(bm->io) / META_BLOCK_SIZE;
	s = hash_find(bm, b);
	if (s != NO_SLOT) {
		if (slot_data(bm, s) != data)
			memcpy(slot_data(bm, s), data, META_BLOCK_SIZE);
		bm->slots[s].checked = v;
	}
	return META_OK;
}

int meta_bm_flush(struct meta_bm *bm)
{
	return meta_io_flush(bm->io);
}

void meta_bm_invalidate(struct meta_bm *bm)
{
	for (uint32_t s = 0; s < bm->nr_slots; s++)
		if (!bm->slots[s].refs)
			bm->slots[s].valid = 0;
	meta_hidx_clear(&bm->index);
	for (uint32_t s = 0; s < bm->nr_slots; s++)
		if (bm->slots[s].valid)
			hash_insert(bm, s);
}

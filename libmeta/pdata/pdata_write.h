/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Private write side of the persistent-data formats: building a whole pool's
 * metadata in one pass (thin_restore, thin_repair).
 *
 * struct bw: block writer over a meta_io.  Blocks are allocated in increasing
 * order from a counter and written in that order through a large buffer, so a
 * restore turns into a few big sequential writes.  Every allocated block gets a
 * reference count of 1 in bw->mcount (the metadata space map's counts); extra
 * parents of a shared node are added with bw_inc().  Nothing is written to
 * block 0: the caller writes the superblock itself, last.
 *
 * struct bbuild: bulk btree builder.  Entries arrive in strictly increasing key
 * order; leaves are packed full and written as they fill, except that the last
 * two leaves (and the last two nodes of each internal level) are balanced so
 * that no non-root node is left less than a third full (the kernel keeps
 * nodes at least a third full; thin_check flags under-full nodes).  A
 * finished leaf can be spliced in whole (bbuild_add_subtree) for shared leaves;
 * a run of entries under a third of a leaf next to one (before it, or ending the
 * tree after it) would be an under-full leaf, so the spliced leaf's entries are
 * copied into a new leaf instead (read back through the writer; the shared leaf
 * itself is never changed) and the run balanced with them as usual; the
 * caller hears of each copy (bbuild.copied) to count the values it maps.
 * bbuild_finish() builds the internal levels bottom-up and returns the root; an
 * empty tree is one empty leaf, as the kernel creates it.
 */
#ifndef LIBMETA_PDATA_WRITE_H
#define LIBMETA_PDATA_WRITE_H

#include <stdbool.h>
#include <stdint.h>
#include <libmeta/bm.h>
#include <libmeta/io.h>
#include <libmeta/sm.h>

#include "pdata/refcount.h"

struct bw {
	struct meta_io *io;
	uint64_t next;       /* next block to allocate */
	uint64_t nr_blocks;  /* metadata blocks usable */
	uint32_t *mcount;    /* reference counts of every metadata block */
	uint8_t *buf;        /* write-back buffer of sequential blocks */
	uint64_t buf_first;
	uint32_t buf_n, buf_cap;
	int err;             /* first error; every later call is a no-op */
};

int bw_init(struct bw *w, struct meta_io *io, uint64_t nr_blocks, uint64_t first_free);
void bw_free(struct bw *w);
/* Allocate a block (count 1). Sets w->err = META_E_NOSPC when the device is full. */
uint64_t bw_alloc(struct bw *w);
/* Stamp (v->prepare) and queue block b for writing. */
void bw_put(struct bw *w, uint64_t b, const struct meta_validator *v, void *data);
void bw_inc(struct bw *w, uint64_t b);
int bw_flush(struct bw *w);
/* Read back block b (queued or written): 0 or the error, also left in w->err. */
int bw_read(struct bw *w, uint64_t b, void *data);

struct bb_level;

struct bbuild {
	struct bw *w;
	uint32_t value_size, max;
	uint8_t *cur, *prev;       /* leaf being filled; the full one before it (unwritten) */
	uint32_t cur_n, prev_n;
	uint64_t last_key;
	bool any;
	bool tail_spliced;         /* the last child is a spliced subtree, nothing after it */
	/*
	 * Optional: told that the n values of spliced leaf `leaf` are copied into a
	 * new leaf of this tree (before the copy is written; the leaf has one parent
	 * less already when it was spliced here).  Non-zero: an error for w->err.
	 */
	int (*copied)(void *ctx, uint64_t leaf, const uint8_t *values, uint32_t n);
	void *copied_ctx;
	/* level 1 upward: (first key, block) of every finished child */
	uint64_t *keys, *blocks;
	uint64_t n, cap;
};

void bbuild_init(struct bbuild *b, struct bw *w, uint32_t value_size);
/* Append an entry; keys must strictly increase (else META_E_INVAL in w->err). */
void bbuild_add(struct bbuild *b, uint64_t key, const void *value);
/*
 * Append n entries with 8-byte values: keys key, key+1, ..., values value,
 * value+step, ... (a run of mappings).  The same as n bbuild_add() calls.
 */
void bbuild_add_seq(struct bbuild *b, uint64_t key, uint64_t n, uint64_t value, uint64_t step);
/*
 * Append an already written subtree (root block, lowest key); adds a reference to
 * it.  A leaf may be copied instead (see above): then it gets no reference.
 */
void bbuild_add_subtree(struct bbuild *b, uint64_t first_key, uint64_t root);
/*
 * Write the pending leaves and hand over the list of leaves (first key, block)
 * instead of building internal levels; frees the builder.  Used for shared
 * runs (defs) that several trees splice in with bbuild_add_subtree().
 */
void bbuild_take_leaves(struct bbuild *b, uint64_t **keys, uint64_t **blocks, uint64_t *n);
/* Finish: returns the root block (0 on error, see w->err). Frees the builder. */
uint64_t bbuild_finish(struct bbuild *b);

/*
 * Space maps.
 * Disk (data) space map of the counts in s (pdata/refcount.h): bitmaps, an index btree and a
 * ref-count btree.
 * Metadata space map of w->mcount: the ref-count tree, the bitmaps and the
 * index block are allocated from w itself and counted in w->mcount before the
 * bitmaps are filled, so the map describes itself.  Call it last, after every
 * other block has been allocated.
 */
int sm_write_disk(struct bw *w, const struct meta_refcount *s, struct meta_sm_root *root);
int sm_write_metadata(struct bw *w, struct meta_sm_root *root);

#endif

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The thin-pool engine's state, private to libmeta/thin: the pool messages
 * (thin_pool.c) and the engines built on them (thin I/O, merge, shrink) share it.
 * See include/libmeta/thin_pool.h for the contract.
 */
#ifndef LIBMETA_THIN_POOL_INTERNAL_H
#define LIBMETA_THIN_POOL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <libmeta/thin.h>
#include <libmeta/thin_pool.h>

#include "pdata/btree_write.h"
#include "pdata/sm_tx.h"
#include "pdata/tm.h"

/*
 * The trees, as the kernel keeps them:
 *   details    dev_id -> struct disk_device_details (plain values)
 *   top        dev_id -> root of the device's mapping tree (a subtree)
 *   bottom     one device's tree: virtual block -> data block << 24 | time
 *   both       the two levels at once: {dev_id, virtual block} -> mapping
 */
struct meta_thin_io;

struct meta_thin_pool {
	struct meta_bm *bm;
	struct meta_sm_tx *msm, *dsm;
	struct meta_tm *tm;
	struct meta_tm_space space;
	struct meta_thin_sb sb; /* the open transaction's superblock */
	struct meta_btree_info details, top, bottom, both;
	uint64_t dev_blocks;    /* metadata device size in blocks */
	int failed;             /* an error left the transaction half done */
	bool sb_only;           /* META_THIN_POOL_SUPERBLOCK_ONLY: no space maps, no trees */
	struct meta_thin_io *io; /* thin I/O (thin_io.c): the attached data device; NULL: none */
};

/* Record an error that left the transaction half done (the pool then refuses all
 * but close); returns r. */
int meta_thin_pool_fail(struct meta_thin_pool *p, int r);
/* 0 when the trees and space maps can change, else META_E_INVAL. */
int meta_thin_pool_usable(const struct meta_thin_pool *p);
/* A device's details in this transaction: 0, META_E_NOTFOUND or an error reading. */
int meta_thin_pool_details_get(struct meta_thin_pool *p, uint64_t dev, struct meta_thin_details *d);
int meta_thin_pool_details_put(struct meta_thin_pool *p, const struct meta_thin_details *d);

/*
 * Thin I/O's hooks (thin_io.c), called by thin_pool.c when p->io is set:
 * pre_commit before the commit writes anything (the data written so far reaches the
 * data device first, as the kernel's pre-commit callback flushes it); committed once
 * the superblock has landed (discard passdown of the blocks discards freed); free at
 * close.
 */
int meta_thin_io_pre_commit(struct meta_thin_pool *p);
void meta_thin_io_committed(struct meta_thin_pool *p);
void meta_thin_io_free(struct meta_thin_io *io);

#endif

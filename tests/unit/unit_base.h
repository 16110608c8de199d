/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The shared base of the unit tests (tests/unit/check_*.c, Check framework); unit_base.c is
 * linked into every check_* binary.  Failures inside a helper are Check assertions, so they
 * fail the calling test with the helper's line.
 *
 *   suite runner   ub_tcase() adds a test case (with a timeout) to a suite; ub_run() runs
 *                  the suite and gives main()'s exit status (0 all passed, 1 otherwise)
 *   temp files     ub_tmpfile() makes a file of a given size in ${TMPDIR:-/tmp} (the caller
 *                  unlinks it); ub_tmpdir() makes a directory
 *   fixtures       ub_fixture() is the path of fixtures/<rel> (found through $SRCDIR, else
 *                  the current directory or its parents); ub_fixture_gunzip() uncompresses
 *                  fixtures/<rel>.gz into a new temp file
 *   raw bytes      ub_read_at()/ub_write_at() at a byte offset, ub_read_block()/
 *                  ub_write_block() one 4 KiB metadata block
 *   raw nodes      ub_node() lays out a btree node in a block through struct
 *                  disk_node_header (libmeta/pdata/ondisk.h): header, keys, values;
 *                  ub_node_key()/ub_node_value() address entry i of any node,
 *                  ub_node_flags()/ub_node_nr() read its header; ub_details() writes a
 *                  device-details value (struct disk_device_details)
 *   raw bitmaps    ub_bitmap_get()/ub_bitmap_set(): the 2-bit count of entry i of a
 *                  space-map bitmap block (after struct disk_bitmap_header)
 *   superblock     cast a block to struct disk_thin_sb (thin/thin_ondisk.h), use its fields
 *   test blocks    ub_block_check()/ub_block_prepare(): a test validator's two functions
 *                  (checksum and location at byte 8, as every persistent-data block)
 *   test space     struct ub_space: an array-backed space map the tm allocates from
 *                  (ub_space_tm()), conforming to struct meta_tm_space (pdata/tm.h);
 *                  struct ub_tm_fx: a temp image, its bm, a ub_space and a tm over them
 *   random         ub_rnd(): seeded xorshift64* (set ub_rnd_state), ub_rnd_below();
 *                  ub_long_run(): DMMETA_LONG is set and not 0
 *                  ub_sanitized(): an ASan build (or DMMETA_ASAN set and not 0): random
 *                  runs may take fewer seeds there
 *                  ub_full(): FULL is set and not 0 (make check-long): the CI suite (make
 *                  check, check-asan) may run a heavy random test on fewer seeds without it
 *                  ub_ci(FULL, PLAIN, SANITIZED): the first with FULL, else the second in a
 *                  plain build, the third under ASan (a seed count, a stride)
 */
#ifndef DMMETA_UNIT_BASE_H
#define DMMETA_UNIT_BASE_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include <libmeta/bm.h>

#include "pdata/ondisk.h"
#include "pdata/tm.h"
#include "thin/thin_ondisk.h"

#define UB_PATH_MAX 256
#define UB_BLOCK_SIZE 4096u
#define UB_MAX UINT32_MAX

/* Suite runner. */
TCase *ub_tcase(Suite *s, const char *name, double timeout_s); /* timeout_s 0: Check's default */
int ub_run(Suite *s);

/* Temp files: path receives the name (UB_PATH_MAX bytes); tag names the suite in it.
 * ub_tmpdir() asserts nothing (main() may call it): 0 made, -1 not. */
void ub_tmpfile(char *path, const char *tag, uint64_t bytes);
int ub_tmpdir(char *path, const char *tag);

/* Fixtures: ub_fixture() returns a static buffer (one of four, rotating). */
const char *ub_fixture(const char *rel);
void ub_fixture_gunzip(const char *rel_gz, char *path, const char *tag);

/* Raw bytes of a file. */
void ub_read_at(const char *path, uint64_t off, void *buf, size_t len);
void ub_write_at(const char *path, uint64_t off, const void *buf, size_t len);
void ub_read_block(const char *path, uint64_t b, void *blk);
void ub_write_block(const char *path, uint64_t b, const void *blk);

/*
 * A btree node in blk (UB_BLOCK_SIZE bytes, zeroed first): flags (META_NODE_LEAF or
 * META_NODE_INTERNAL), n entries of max (UB_MAX: meta_btree_max_entries(vs)) with values of vs
 * bytes; keys[i] and values (n * vs bytes, little-endian as on disk) copied when non-NULL.
 * Neither blocknr nor the checksum is stamped (the caller's validator does that).
 */
void ub_node(void *blk, uint32_t flags, uint32_t vs, uint32_t max, uint32_t n,
	     const uint64_t *keys, const void *values);
uint8_t *ub_node_key(void *blk, uint32_t i);
uint8_t *ub_node_value(void *blk, uint32_t i);
uint32_t ub_node_flags(const void *blk);
uint32_t ub_node_nr(const void *blk);
void ub_details(void *value, uint64_t mapped, uint64_t trans, uint32_t ctime, uint32_t stime);

/* Space-map bitmap entries (0, 1, 2, or 3 = "look in the ref count tree"). */
unsigned ub_bitmap_get(const void *blk, uint32_t i);
void ub_bitmap_set(void *blk, uint32_t i, unsigned v);

/* Test block types: {name, magic, ub_block_check, ub_block_prepare}. */
int ub_block_check(const struct meta_validator *v, const void *data, uint64_t b);
void ub_block_prepare(const struct meta_validator *v, void *data, uint64_t b);

/*
 * An array-backed space of n metadata blocks (test-only): cnt[] the counts now, committed[]
 * at the last ub_space_commit().  Its alloc hands out only blocks free now and at the last
 * commit, from pos on (allocs counts them).  ub_space_init() takes block 0 (the superblock)
 * and starts at 1; ub_space_copy() gives dst arrays of its own; ub_space_free() frees them.
 */
struct ub_space {
	uint32_t *cnt, *committed;
	uint64_t n, pos;
	unsigned allocs;
};
void ub_space_init(struct ub_space *s, uint64_t n);
void ub_space_copy(struct ub_space *dst, const struct ub_space *src);
void ub_space_free(struct ub_space *s);
struct meta_tm_space ub_space_tm(struct ub_space *s);
void ub_space_commit(struct ub_space *s);

/*
 * A tm over a temp image of n blocks and a ub_space of n.  ub_tm_init() zeroes t, makes the
 * image (tag names it) and the space, and opens; ub_tm_open() opens an io, a bm of cache
 * blocks and a tm over t->path and t->sp; ub_tm_close() destroys the tm and bm (the space
 * stays); ub_tm_done() closes, frees the space and unlinks the image.
 */
struct ub_tm_fx {
	char path[UB_PATH_MAX];
	struct meta_bm *bm;
	struct ub_space sp;
	struct meta_tm_space space;
	struct meta_tm *tm;
};
void ub_tm_init(struct ub_tm_fx *t, const char *tag, uint64_t n, size_t cache);
void ub_tm_open(struct ub_tm_fx *t, size_t cache);
void ub_tm_close(struct ub_tm_fx *t);
void ub_tm_done(struct ub_tm_fx *t);

/* Seeded random numbers (xorshift64*): the sequence is ub_rnd_state's (nonzero). */
extern uint64_t ub_rnd_state;
uint64_t ub_rnd(void);
uint64_t ub_rnd_below(uint64_t n); /* 0 when n is 0 */
int ub_long_run(void);
int ub_sanitized(void);
int ub_full(void);
unsigned ub_ci(unsigned full, unsigned plain, unsigned sanitized);

#endif

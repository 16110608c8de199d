/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_damage — deliberately damage a thin-pool metadata image, for tests.
 *
 *   thin_damage IMAGE OP [ARGS]
 *
 * Every op keeps all checksums right except the one it breaks on purpose.
 * Ops (block numbers are metadata blocks unless the op says data):
 *   flip-csum BLOCK            invert the first checksum byte
 *   set-blocknr BLOCK N        write N into the block's blocknr field (csum fixed)
 *   swap-keys BLOCK            swap the first two keys of a btree node (csum fixed)
 *   set-key BLOCK I KEY        write KEY as the key of entry I of a btree node (csum fixed);
 *                              +N / -N: add N to / subtract N from the key instead
 *   zero-block BLOCK           overwrite the block with zeros
 *   leak-metadata BLOCK        raise a free metadata block's count 0 -> 1
 *   drop-metadata-ref BLOCK    lower an in-use metadata block's count by one
 *   leak-data BLOCK            raise a free data block's count 0 -> 1
 *   drop-data-ref BLOCK        lower an in-use data block's count by one
 *   mapping-past-end [DEV [DATA]]  remap the first mapping of DEV (default: first
 *                              device) to data block DATA (default: nr_data_blocks)
 *   set-mapped-blocks DEV N    rewrite DEV's mapped_blocks in the details tree
 *   set-needs-check            set superblock flag bit 0
 *   clear-needs-check          clear superblock flag bit 0
 *   hold-root                  create a metadata snapshot like reserve_metadata_snap
 *   bad-held-root [BLOCK]      point held_root at a non-superblock (default: details root)
 *   find TYPE [ARG]            print a block number; TYPE is one of
 *        details-root, mapping-root, dev-root DEV, leaf DEV (first leaf of DEV),
 *        internal DEV (root of DEV if internal), last-leaf DEV, free-metadata [K],
 *        used-data [K], free-data [K] (the K-th such block, from 0; used = count 1),
 *        held-root, md-index, md-bitmap, md-ref-root, data-bitmap-root, data-ref-root,
 *        nr-data-blocks, nr-metadata-blocks,
 *        shared-leaves (every leaf of two or more devices' mapping trees, one per
 *        line, with its number of entries: "BLOCK NR"),
 *        metadata-count BLOCK, data-count BLOCK (the space map's reference count)
 *
 * Exit 0 on success, 1 when the op cannot be applied (message on stderr), 2 usage.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/crc32c.h>
#include "base/endian.h"

#define BS 4096u
#define XOR_SB 160774u
#define XOR_NODE 121107u
#define XOR_BITMAP 240779u
#define XOR_INDEX 160478u
#define ENTRIES_PER_BITMAP 16320u

static int fd = -1;
static const char *img;

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "thin_damage: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void rd(uint64_t b, uint8_t *buf)
{
	ssize_t r = pread(fd, buf, BS, (off_t)(b * BS));
	if (r != (ssize_t)BS)
		die("cannot read block %" PRIu64 " of %s", b, img);
}

static void wr_raw(uint64_t b, const uint8_t *buf)
{
	ssize_t r = pwrite(fd, buf, BS, (off_t)(b * BS));
	if (r != (ssize_t)BS)
		die("cannot write block %" PRIu64 " of %s: %s", b, img, strerror(errno));
}

static void stamp(uint8_t *buf, uint32_t xor)
{
	put_le32p(buf, meta_block_csum(buf, BS, xor));
}

static void wr(uint64_t b, uint8_t *buf, uint32_t xor)
{
	stamp(buf, xor);
	wr_raw(b, buf);
}

/* Which validator salt does this block's checksum match?  0 if none. */
static uint32_t block_xor(const uint8_t *buf)
{
	static const uint32_t xs[] = {XOR_SB, XOR_NODE, XOR_BITMAP, XOR_INDEX};
	uint32_t stored = get_le32p(buf);
	for (unsigned i = 0; i < 4; i++)
		if (meta_block_csum(buf, BS, xs[i]) == stored)
			return xs[i];
	return 0;
}

/* ---- superblock ---- */
static uint8_t sb[BS];

static uint64_t sb64(unsigned off) { return get_le64p(sb + off); }
static void sb_write(void) { wr(0, sb, XOR_SB); }

#define SB_HELD 56u
#define SB_DSM 64u
#define SB_MSM 192u
#define SB_MAPROOT 320u
#define SB_DETROOT 328u

/* ---- btree helpers ---- */
static uint32_t n_nr(const uint8_t *n) { return get_le32p(n + 16); }
static uint32_t n_max(const uint8_t *n) { return get_le32p(n + 20); }
static uint32_t n_vs(const uint8_t *n) { return get_le32p(n + 24); }
static int n_leaf(const uint8_t *n) { return (get_le32p(n + 4) & 2u) != 0; }
static uint64_t n_key(const uint8_t *n, uint32_t i) { return get_le64p(n + 32 + 8 * i); }
static uint8_t *n_val(uint8_t *n, uint32_t i) { return n + 32 + 8 * n_max(n) + n_vs(n) * i; }

static void check_node(uint64_t b, const uint8_t *n)
{
	if (block_xor(n) != XOR_NODE || get_le64p(n + 8) != b || n_max(n) == 0 ||
	    32 + (uint64_t)n_max(n) * (8 + n_vs(n)) > BS || n_nr(n) > n_max(n))
		die("block %" PRIu64 " is not a valid btree node", b);
}

/*
 * Find the leaf holding key in the tree at root; returns its block and the
 * entry index in *idx (-1 when the key is absent; then *leaf is where it would be).
 */
static uint64_t tree_find(uint64_t root, uint64_t key, uint8_t *n, int *idx)
{
	uint64_t b = root;
	for (int depth = 0; depth < 64; depth++) {
		rd(b, n);
		check_node(b, n);
		uint32_t nr = n_nr(n);
		if (n_leaf(n)) {
			*idx = -1;
			for (uint32_t i = 0; i < nr; i++)
				if (n_key(n, i) == key)
					*idx = (int)i;
			return b;
		}
		uint32_t i = 0;
		while (i + 1 < nr && n_key(n, i + 1) <= key)
			i++;
		if (nr == 0)
			die("empty internal node %" PRIu64, b);
		b = get_le64p(n_val(n, i));
	}
	die("btree too deep at %" PRIu64, root);
}

static uint64_t first_leaf(uint64_t root, uint8_t *n, int last)
{
	uint64_t b = root;
	for (int depth = 0; depth < 64; depth++) {
		rd(b, n);
		check_node(b, n);
		if (n_leaf(n))
			return b;
		if (n_nr(n) == 0)
			die("empty internal node %" PRIu64, b);
		b = get_le64p(n_val(n, last ? n_nr(n) - 1 : 0));
	}
	die("btree too deep at %" PRIu64, root);
}

static uint64_t dev_root(uint64_t dev)
{
	uint8_t n[BS];
	int idx;
	tree_find(sb64(SB_MAPROOT), dev, n, &idx);
	if (idx < 0)
		die("no device %" PRIu64 " in the mapping tree", dev);
	return get_le64p(n_val(n, (uint32_t)idx));
}

static uint64_t first_dev(void)
{
	uint8_t n[BS];
	first_leaf(sb64(SB_MAPROOT), n, 0);
	if (n_nr(n) == 0)
		die("no devices");
	return n_key(n, 0);
}

/* ---- space maps ---- */
enum smk { SM_META, SM_DATA };

struct smloc {
	uint64_t bitmap;     /* bitmap block */
	uint64_t ie_block;   /* block holding the index entry */
	uint32_t ie_off;     /* byte offset of the index entry in it */
	uint32_t ie_xor;
};

static unsigned sm_off(enum smk k) { return k == SM_META ? SB_MSM : SB_DSM; }

static void sm_locate(enum smk k, uint64_t b, struct smloc *l)
{
	unsigned ro = sm_off(k);
	uint64_t nr_blocks = sb64(ro), bitmap_root = sb64(ro + 16);
	uint64_t bi = b / ENTRIES_PER_BITMAP;
	uint8_t n[BS];
	if (b >= nr_blocks)
		die("block %" PRIu64 " is past the end of the space map (%" PRIu64 " blocks)", b,
		    nr_blocks);
	if (k == SM_META) {
		rd(bitmap_root, n);
		l->ie_block = bitmap_root;
		l->ie_off = 16 + 16 * (uint32_t)bi;
		l->ie_xor = XOR_INDEX;
	} else {
		int idx;
		l->ie_block = tree_find(bitmap_root, bi, n, &idx);
		if (idx < 0)
			die("data space map has no index entry for bitmap %" PRIu64, bi);
		l->ie_off = (uint32_t)(n_val(n, (uint32_t)idx) - n);
		l->ie_xor = XOR_NODE;
	}
	l->bitmap = get_le64p(n + l->ie_off);
}

static unsigned bm_get(const uint8_t *bm, uint32_t i)
{
	uint64_t w = get_le64p(bm + 16 + 8 * (i / 32));
	unsigned s = (i % 32) * 2;
	unsigned hi = (unsigned)(w >> s) & 1u, lo = (unsigned)(w >> (s + 1)) & 1u;
	return hi << 1 | lo;
}

static void bm_set(uint8_t *bm, uint32_t i, unsigned v)
{
	uint64_t w = get_le64p(bm + 16 + 8 * (i / 32));
	unsigned s = (i % 32) * 2;
	w &= ~(3ull << s);
	w |= (uint64_t)((v >> 1) & 1u) << s;
	w |= (uint64_t)(v & 1u) << (s + 1);
	put_le64p(bm + 16 + 8 * (i / 32), w);
}

/* Count from the ref-count tree (for bitmap value 3). */
static uint32_t rc_tree_get(enum smk k, uint64_t b, uint64_t *leaf, uint32_t *voff)
{
	uint8_t n[BS];
	int idx;
	uint64_t lb = tree_find(sb64(sm_off(k) + 24), b, n, &idx);
	if (idx < 0)
		die("block %" PRIu64 " is missing from the ref-count tree", b);
	*leaf = lb;
	*voff = (uint32_t)(n_val(n, (uint32_t)idx) - n);
	return get_le32p(n + *voff);
}

static uint32_t sm_count(enum smk k, uint64_t b)
{
	struct smloc l;
	uint8_t bm[BS];
	sm_locate(k, b, &l);
	rd(l.bitmap, bm);
	unsigned v = bm_get(bm, (uint32_t)(b % ENTRIES_PER_BITMAP));
	if (v < 3)
		return v;
	uint64_t leaf;
	uint32_t voff;
	return rc_tree_get(k, b, &leaf, &voff);
}

/* Change the count of b from old to new (both in 0..2, or tree-held when > 2). */
static void sm_set(enum smk k, uint64_t b, uint32_t newc)
{
	struct smloc l;
	uint8_t bm[BS], ie[BS];
	sm_locate(k, b, &l);
	rd(l.bitmap, bm);
	uint32_t i = (uint32_t)(b % ENTRIES_PER_BITMAP);
	unsigned v = bm_get(bm, i);
	if (v == 3 || newc > 2) {
		uint64_t leaf;
		uint32_t voff;
		uint8_t n[BS];
		if (v != 3 || newc < 3)
			die("count change of block %" PRIu64 " would move it between the bitmap "
			    "and the ref-count tree; not supported", b);
		rc_tree_get(k, b, &leaf, &voff);
		rd(leaf, n);
		put_le32p(n + voff, newc);
		wr(leaf, n, XOR_NODE);
		return;
	}
	bm_set(bm, i, newc);
	wr(l.bitmap, bm, XOR_BITMAP);
	if ((v == 0) != (newc == 0)) {
		int delta = newc == 0 ? 1 : -1; /* change of nr_free */
		rd(l.ie_block, ie);
		uint32_t nf = get_le32p(ie + l.ie_off + 8);
		put_le32p(ie + l.ie_off + 8, (uint32_t)((int64_t)nf + delta));
		wr(l.ie_block, ie, l.ie_xor);
		/* keep nr_allocated of the root consistent */
		rd(0, sb);
		unsigned ro = sm_off(k);
		put_le64p(sb + ro + 8, (uint64_t)((int64_t)sb64(ro + 8) - delta));
		sb_write();
	}
}

/* The skip-th (0-based) block with count 1 (want_used) or 0. */
static uint64_t find_count(enum smk k, int want_used, uint64_t skip)
{
	uint64_t nr = sb64(sm_off(k));
	/* metadata: skip block 0; the superblock is always in use */
	for (uint64_t b = (k == SM_META ? 1 : 0); b < nr; b++) {
		uint32_t c = sm_count(k, b);
		if ((want_used ? c == 1 : c == 0) && !skip--)
			return b;
	}
	die("no %s %s block found", want_used ? "singly-used" : "free",
	    k == SM_META ? "metadata" : "data");
}

/* ---- ops ---- */
static uint64_t num(const char *s)
{
	char *e;
	errno = 0;
	unsigned long long v = strtoull(s ? s : "", &e, 10);
	if (!s || !*s || *e || errno) {
		fprintf(stderr, "thin_damage: bad number '%s'\n", s ? s : "");
		exit(2);
	}
	return v;
}

static void need(int argc, int n)
{
	if (argc < n) {
		fprintf(stderr, "thin_damage: missing argument (see the comment at the top of "
				"tests/tools/thin_damage.c)\n");
		exit(2);
	}
}

/* ---- leaves shared between devices ---- */
struct shared {
	uint64_t *last_dev; /* per block: last device seen + 1 */
	uint8_t *ndev;      /* per block: devices reaching it (saturating) */
	uint32_t *nr;       /* per block: entries of the leaf */
	uint64_t nblocks;
};

static void shared_walk(struct shared *s, uint64_t b, uint64_t dev, int depth)
{
	uint8_t n[BS];
	if (depth > 64 || b >= s->nblocks)
		die("bad mapping tree at %" PRIu64, b);
	rd(b, n);
	check_node(b, n);
	if (n_leaf(n)) {
		if (s->last_dev[b] != dev + 1) {
			s->last_dev[b] = dev + 1;
			if (s->ndev[b] < 255)
				s->ndev[b]++;
		}
		s->nr[b] = n_nr(n);
		return;
	}
	for (uint32_t i = 0; i < n_nr(n); i++)
		shared_walk(s, get_le64p(n_val(n, i)), dev, depth + 1);
}

static void shared_top(struct shared *s, uint64_t b, int depth)
{
	uint8_t n[BS];
	if (depth > 64)
		die("bad top-level tree at %" PRIu64, b);
	rd(b, n);
	check_node(b, n);
	for (uint32_t i = 0; i < n_nr(n); i++) {
		uint64_t v = get_le64p(n_val(n, i));
		if (n_leaf(n))
			shared_walk(s, v, n_key(n, i), 0);
		else
			shared_top(s, v, depth + 1);
	}
}

static void op_shared_leaves(void)
{
	struct shared s;
	s.nblocks = sb64(SB_MSM);
	s.last_dev = calloc(s.nblocks ? s.nblocks : 1, sizeof(*s.last_dev));
	s.ndev = calloc(s.nblocks ? s.nblocks : 1, 1);
	s.nr = calloc(s.nblocks ? s.nblocks : 1, sizeof(*s.nr));
	if (!s.last_dev || !s.ndev || !s.nr)
		die("out of memory");
	shared_top(&s, sb64(SB_MAPROOT), 0);
	for (uint64_t b = 0; b < s.nblocks; b++)
		if (s.ndev[b] > 1)
			printf("%" PRIu64 " %" PRIu32 "\n", b, s.nr[b]);
	free(s.last_dev);
	free(s.ndev);
	free(s.nr);
}

static int op_find(int argc, char **argv)
{
	const char *t = argv[0];
	uint8_t n[BS];
	uint64_t r;
	if (!strcmp(t, "details-root"))
		r = sb64(SB_DETROOT);
	else if (!strcmp(t, "mapping-root"))
		r = sb64(SB_MAPROOT);
	else if (!strcmp(t, "dev-root")) {
		need(argc, 2);
		r = dev_root(num(argv[1]));
	} else if (!strcmp(t, "leaf") || !strcmp(t, "last-leaf")) {
		need(argc, 2);
		r = first_leaf(dev_root(num(argv[1])), n, !strcmp(t, "last-leaf"));
	} else if (!strcmp(t, "internal")) {
		need(argc, 2);
		r = dev_root(num(argv[1]));
		rd(r, n);
		if (n_leaf(n))
			die("device %s's tree has no internal node", argv[1]);
	} else if (!strcmp(t, "free-metadata"))
		r = find_count(SM_META, 0, argc >= 2 ? num(argv[1]) : 0);
	else if (!strcmp(t, "used-data"))
		r = find_count(SM_DATA, 1, argc >= 2 ? num(argv[1]) : 0);
	else if (!strcmp(t, "free-data"))
		r = find_count(SM_DATA, 0, argc >= 2 ? num(argv[1]) : 0);
	else if (!strcmp(t, "held-root")) {
		r = sb64(SB_HELD);
		if (!r)
			die("no held root");
	} else if (!strcmp(t, "md-index"))
		r = sb64(SB_MSM + 16);
	else if (!strcmp(t, "md-ref-root"))
		r = sb64(SB_MSM + 24);
	else if (!strcmp(t, "md-bitmap")) {
		rd(sb64(SB_MSM + 16), n);
		r = get_le64p(n + 16);
	} else if (!strcmp(t, "data-bitmap-root"))
		r = sb64(SB_DSM + 16);
	else if (!strcmp(t, "data-ref-root"))
		r = sb64(SB_DSM + 24);
	else if (!strcmp(t, "nr-data-blocks"))
		r = sb64(SB_DSM);
	else if (!strcmp(t, "nr-metadata-blocks"))
		r = sb64(SB_MSM);
	else if (!strcmp(t, "metadata-count") || !strcmp(t, "data-count")) {
		need(argc, 2);
		r = sm_count(t[0] == 'm' ? SM_META : SM_DATA, num(argv[1]));
	} else if (!strcmp(t, "shared-leaves")) {
		op_shared_leaves();
		return 0;
	} else {
		fprintf(stderr, "thin_damage: unknown find type '%s'\n", t);
		return 2;
	}
	printf("%" PRIu64 "\n", r);
	return 0;
}

static void op_hold_root(void)
{
	uint8_t copy[BS];
	uint64_t mroot = sb64(SB_MAPROOT), droot = sb64(SB_DETROOT);
	if (sb64(SB_HELD))
		die("a metadata snapshot is already held");
	if (sm_count(SM_META, mroot) + 1 >= 3 || sm_count(SM_META, droot) + 1 >= 3)
		die("a tree root's count would reach 3 (needs the ref-count tree); not supported");
	uint64_t b = find_count(SM_META, 0, 0);
	memcpy(copy, sb, BS);
	put_le64p(copy + 8, b);
	memset(copy + SB_DSM, 0, 256);
	put_le64p(copy + SB_HELD, 0);
	wr(b, copy, XOR_SB);
	sm_set(SM_META, b, 1);
	sm_set(SM_META, mroot, sm_count(SM_META, mroot) + 1);
	sm_set(SM_META, droot, sm_count(SM_META, droot) + 1);
	rd(0, sb);
	put_le64p(sb + SB_HELD, b);
	sb_write();
	printf("%" PRIu64 "\n", b);
}

static void op_mapping_past_end(uint64_t dev, uint64_t data)
{
	uint8_t n[BS];
	uint64_t leaf = first_leaf(dev_root(dev), n, 0);
	if (n_nr(n) == 0)
		die("device %" PRIu64 " has no mappings", dev);
	uint8_t *v = n_val(n, 0);
	uint64_t old = get_le64p(v);
	put_le64p(v, (data << 24) | (old & 0xffffffu));
	wr(leaf, n, XOR_NODE);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: thin_damage IMAGE OP [ARGS]\n");
		return 2;
	}
	img = argv[1];
	const char *op = argv[2];
	int ro = !strcmp(op, "find");
	fd = open(img, ro ? O_RDONLY : O_RDWR);
	if (fd < 0)
		die("cannot open %s: %s", img, strerror(errno));
	rd(0, sb);
	argc -= 3;
	argv += 3;
	uint8_t buf[BS];

	if (!strcmp(op, "find")) {
		need(argc, 1);
		return op_find(argc, argv);
	} else if (!strcmp(op, "flip-csum")) {
		need(argc, 1);
		uint64_t b = num(argv[0]);
		rd(b, buf);
		buf[0] ^= 0xff;
		wr_raw(b, buf);
	} else if (!strcmp(op, "set-blocknr")) {
		need(argc, 2);
		uint64_t b = num(argv[0]);
		rd(b, buf);
		uint32_t x = block_xor(buf);
		if (!x)
			die("block %" PRIu64 " has no valid checksum to preserve", b);
		put_le64p(buf + 8, num(argv[1]));
		wr(b, buf, x);
	} else if (!strcmp(op, "swap-keys")) {
		need(argc, 1);
		uint64_t b = num(argv[0]);
		rd(b, buf);
		check_node(b, buf);
		if (n_nr(buf) < 2)
			die("node %" PRIu64 " has fewer than two entries", b);
		uint64_t k0 = n_key(buf, 0), k1 = n_key(buf, 1);
		put_le64p(buf + 32, k1);
		put_le64p(buf + 40, k0);
		wr(b, buf, XOR_NODE);
	} else if (!strcmp(op, "set-key")) {
		need(argc, 3);
		uint64_t b = num(argv[0]), i = num(argv[1]);
		rd(b, buf);
		check_node(b, buf);
		if (i >= n_nr(buf))
			die("node %" PRIu64 " has no entry %" PRIu64, b, i);
		uint64_t k = n_key(buf, (uint32_t)i);
		if (argv[2][0] == '+')
			k += num(argv[2] + 1);
		else if (argv[2][0] == '-')
			k -= num(argv[2] + 1);
		else
			k = num(argv[2]);
		put_le64p(buf + 32 + 8 * i, k);
		wr(b, buf, XOR_NODE);
	} else if (!strcmp(op, "zero-block")) {
		need(argc, 1);
		memset(buf, 0, BS);
		wr_raw(num(argv[0]), buf);
	} else if (!strcmp(op, "leak-metadata") || !strcmp(op, "leak-data")) {
		need(argc, 1);
		enum smk k = op[5] == 'm' ? SM_META : SM_DATA;
		uint64_t b = num(argv[0]);
		if (sm_count(k, b) != 0)
			die("block %" PRIu64 " is not free", b);
		sm_set(k, b, 1);
	} else if (!strcmp(op, "drop-metadata-ref") || !strcmp(op, "drop-data-ref")) {
		need(argc, 1);
		enum smk k = op[5] == 'm' ? SM_META : SM_DATA;
		uint64_t b = num(argv[0]);
		uint32_t c = sm_count(k, b);
		if (c == 0)
			die("block %" PRIu64 " is free", b);
		sm_set(k, b, c - 1);
	} else if (!strcmp(op, "mapping-past-end")) {
		op_mapping_past_end(argc >= 1 ? num(argv[0]) : first_dev(),
				    argc >= 2 ? num(argv[1]) : sb64(SB_DSM));
	} else if (!strcmp(op, "set-mapped-blocks")) {
		need(argc, 2);
		int idx;
		uint64_t leaf = tree_find(sb64(SB_DETROOT), num(argv[0]), buf, &idx);
		if (idx < 0)
			die("no device %s in the details tree", argv[0]);
		put_le64p(n_val(buf, (uint32_t)idx), num(argv[1]));
		wr(leaf, buf, XOR_NODE);
	} else if (!strcmp(op, "set-needs-check") || !strcmp(op, "clear-needs-check")) {
		uint32_t f = get_le32p(sb + 4);
		put_le32p(sb + 4, op[0] == 's' ? (f | 1u) : (f & ~1u));
		sb_write();
	} else if (!strcmp(op, "hold-root")) {
		op_hold_root();
	} else if (!strcmp(op, "bad-held-root")) {
		put_le64p(sb + SB_HELD, argc >= 1 ? num(argv[0]) : sb64(SB_DETROOT));
		sb_write();
	} else {
		fprintf(stderr, "thin_damage: unknown op '%s'\n", op);
		return 2;
	}
	if (fsync(fd) != 0)
		die("fsync %s: %s", img, strerror(errno));
	close(fd);
	return 0;
}

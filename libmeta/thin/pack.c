/* SPDX-License-Identifier: GPL-2.0-only */
/* thin_metadata_pack / unpack format (see include/libmeta/pack.h). */
#include <libmeta/bm.h>
#include <libmeta/btree.h>
#include <libmeta/crc32c.h>
#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/pack.h>
#include <libmeta/thin.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "base/endian.h"
#include "pdata/ondisk.h"
#include "thin/thin_ondisk.h"

#define BLOCKS_PER_CHUNK 1024u
#define READ_BLOCKS 256u

/* ---- the pack file's on-disk format (include/libmeta/pack.h) ----------------- */

struct disk_pack_header {
	le64_t magic;      /* META_PACK_MAGIC */
	le64_t version;    /* META_PACK_VERSION */
	le64_t block_size; /* META_BLOCK_SIZE */
	le64_t nr_blocks;
};

#define BT_NODE_SALT DISK_NODE_CSUM_XOR
#define SHIFTED_RUN_MAX 4095u /* a ShiftedRun's n: nibble << 8 | byte */

ONDISK_SIZE(disk_pack_header, 32);
ONDISK_OFFSET(disk_pack_header, version, 8);
ONDISK_OFFSET(disk_pack_header, block_size, 16);
ONDISK_OFFSET(disk_pack_header, nr_blocks, 24);
ONDISK_VALUE(META_BLOCK_SIZE, DISK_BLOCK_SIZE);
ONDISK_VALUE(DISK_THIN_TIME_BITS, 24); /* a ShiftedRun's low half is a mapping's time */
_Static_assert(DISK_NODE_MAX_ENTRIES(sizeof(le64_t)) <= SHIFTED_RUN_MAX,
	       "a mapping leaf's values fit one ShiftedRun");

bool meta_block_is_metadata(const void *block)
{
	/* thin's four, then the salts of the cache and era formats' blocks */
	static const uint32_t salts[] = {DISK_THIN_SB_CSUM_XOR, DISK_NODE_CSUM_XOR, DISK_BITMAP_CSUM_XOR,
					 DISK_INDEX_CSUM_XOR, 9031977, 146538381, 595846735};
	uint32_t x = get_le32p(block) ^ meta_block_csum(block, META_BLOCK_SIZE, 0);
	for (size_t i = 0; i < sizeof(salts) / sizeof(salts[0]); i++)
		if (x == salts[i])
			return true;
	return false;
}

/* ---- pack: the block program encoder ------------------------------------------ */

/*
 * A block program is written so that the zlib layer finds long repeats: a btree
 * node's keys and values are written as runs of equal differences (a key array
 * 0, 1, 2, ... 251 is four bytes), a mapping leaf's values split into the data
 * block (high 40 bits) and the time (low 24 bits), each delta-coded on its own
 * (ShiftedRun).  Only instruction forms that thin-provisioning-tools 1.x
 * decodes are used: no Count of 0 or with Const/Lit, no value that would need
 * the base to wrap, and each sub-program of a ShiftedRun emits exactly its
 * half.  Everything else (superblocks, space map blocks) is one literal.
 */
#define ENC_CAP (3 * META_BLOCK_SIZE) /* worst case of a node program is < 7 KiB */

struct enc {
	uint8_t *p;
	size_t len;
};

static void enc_byte(struct enc *e, unsigned b)
{
	e->p[e->len++] = (uint8_t)b;
}

static void enc_tag(struct enc *e, unsigned tag, unsigned nib)
{
	enc_byte(e, tag << 4 | nib);
}

/* tag with a 1/2/4/8-byte little-endian operand, width in the nibble */
static void enc_wide(struct enc *e, unsigned tag, uint64_t v)
{
	unsigned w = v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8;
	enc_tag(e, tag, w);
	for (unsigned i = 0; i < w; i++)
		enc_byte(e, (unsigned)(v >> (8 * i)) & 0xff);
}

/* a 12-bit count: nibble tag for 1..15, the 8-bit-extended tag up to 4095 */
static void enc_count(struct enc *e, unsigned short_tag, unsigned long_tag, uint64_t n)
{
	if (n < 16) {
		enc_tag(e, short_tag, (unsigned)n);
	} else {
		enc_tag(e, long_tag, (unsigned)(n >> 8));
		enc_byte(e, (unsigned)n & 0xff);
	}
}

static void enc_literal(struct enc *e, const uint8_t *b, size_t n)
{
	if (!n)
		return;
	if (n < 16)
		enc_tag(e, 9, (unsigned)n);
	else
		enc_wide(e, 10, n);
	memcpy(e->p + e->len, b, n);
	e->len += n;
}

/* n (1..4095) little-endian u64s at v as Set followed by runs of equal steps */
static void enc_u64s(struct enc *e, const uint8_t *v, size_t n)
{
	uint64_t base = get_le64p(v);
	size_t i = 1;

	enc_wide(e, 0, base);
	while (i < n) {
		uint64_t x = get_le64p(v + 8 * i), d;
		size_t run = 1;
		if (x == base) {
			while (i + run < n && get_le64p(v + 8 * (i + run)) == base)
				run++;
			enc_count(e, 5, 6, run);
		} else {
			bool up = x > base;
			uint64_t cur = x;
			d = up ? x - base : base - x;
			while (i + run < n) {
				uint64_t y = get_le64p(v + 8 * (i + run));
				if (up ? (y <= cur || y - cur != d) : (y >= cur || cur - y != d))
					break;
				cur = y;
				run++;
			}
			if (run > 1)
				enc_count(e, 7, 8, run);
			if (d < 16)
				enc_tag(e, up ? 1 : 3, (unsigned)d);
			else
				enc_wide(e, up ? 2 : 4, d);
			base = cur;
		}
		i += run;
	}
}

/* the ShiftedRun of n u64s: high 40 bits and low 24 bits as two delta-coded runs */
static void enc_shifted(struct enc *e, const uint8_t *v, size_t n, uint8_t *tmp)
{
	enc_tag(e, 11, (unsigned)(n >> 8));
	enc_byte(e, (unsigned)n & 0xff);
	for (size_t i = 0; i < n; i++)
		put_le64p(tmp + 8 * i, disk_thin_map_block(get_le64p(v + 8 * i)));
	enc_u64s(e, tmp, n);
	for (size_t i = 0; i < n; i++)
		put_le64p(tmp + 8 * i, disk_thin_map_time(get_le64p(v + 8 * i)));
	enc_u64s(e, tmp, n);
}

/* One block's program into e (capacity ENC_CAP). */
static void encode_block(struct enc *e, const uint8_t *blk, uint8_t *tmp)
{
	const struct disk_node_header *h = (const struct disk_node_header *)blk;
	const size_t hs = sizeof(*h), ks = sizeof(le64_t);
	uint32_t x = get_le32p(blk) ^ meta_block_csum(blk, META_BLOCK_SIZE, 0);
	uint32_t flags = le32_get(h->flags), max = le32_get(h->max_entries);
	uint32_t vsize = le32_get(h->value_size);
	size_t off, start = e->len;

	if (x == BT_NODE_SALT && max > 0 && max <= (META_BLOCK_SIZE - hs) / ks && vsize > 0 &&
	    vsize < META_BLOCK_SIZE && hs + (size_t)max * (ks + (size_t)vsize) <= META_BLOCK_SIZE) {
		enc_literal(e, blk, hs);
		enc_u64s(e, blk + hs, max);
		off = hs + (size_t)max * ks;
		if (vsize == ks) {
			if (flags == META_NODE_LEAF)
				enc_shifted(e, blk + off, max, tmp);
			else
				enc_u64s(e, blk + off, max);
			off += (size_t)max * ks;
		}
		enc_literal(e, blk + off, META_BLOCK_SIZE - off);
		if (e->len - start <= 3 + META_BLOCK_SIZE)
			return;
		e->len = start; /* no gain: plain literal */
	}
	enc_literal(e, blk, META_BLOCK_SIZE);
}

/* ---- pack ---------------------------------------------------------------------- */

struct zout {
	int fd;
	char *tmp;   /* a regular file is written here, then renamed over final */
	char *final;
	uint8_t *out;
	size_t outcap;
	uint64_t bytes;
	int err;
};

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == ENOSPC ? META_E_NOSPC : META_E_IO;
		}
		p += w;
		len -= (size_t)w;
	}
	return META_OK;
}

/* One complete zlib stream of raw at `level` into out (capacity *clen); false on failure. */
static bool deflate_at(uint8_t *out, uLongf *clen, const uint8_t *raw, size_t len, int level)
{
	return compress2(out, clen, raw, len, level) == Z_OK;
}

/*
 * Compress one chunk of raw records into a complete zlib stream and write it:
 * levels 9 and 6 are both tried and the smaller stream kept (neither is always
 * the smaller on these programs; 6 is what thin-provisioning-tools uses).
 */
static int emit_chunk(struct zout *zo, const uint8_t *raw, size_t len)
{
	uLongf bound = compressBound(len), c9 = bound, c6 = bound;
	uint8_t lenbuf[8], *best;
	int r;
	if (2 * bound > zo->outcap) {
		uint8_t *p = realloc(zo->out, 2 * bound);
		if (!p)
			return META_E_NOMEM;
		zo->out = p;
		zo->outcap = 2 * bound;
	}
	if (!deflate_at(zo->out, &c9, raw, len, 9) ||
	    !deflate_at(zo->out + bound, &c6, raw, len, Z_DEFAULT_COMPRESSION))
		return META_E_NOMEM;
	best = c6 < c9 ? zo->out + bound : zo->out;
	if (c6 < c9)
		c9 = c6;
	put_le64p(lenbuf, c9);
	r = write_all(zo->fd, lenbuf, 8);
	if (!r)
		r = write_all(zo->fd, best, c9);
	zo->bytes += 8 + c9;
	return r;
}

/*
 * A file replaced whole is written under a temporary name next to it (through
 * any symbolic link) and renamed over it once complete, so a writer that fails
 * half-way never destroys the file that was there.  Creates that file (mode of
 * the file replaced, st; or what open(0666) would give) and returns its fd, with
 * *final (the path to rename over) and *tmp set; -1 with errno (and *tmp NULL)
 * when it cannot be created, -2 when out of memory, -3 when out has no path
 * to put a file beside (a /proc/PID/fd path of a memfd or a deleted file): the
 * caller writes in place.
 */
static int tmp_beside(const char *out, const struct stat *st, char **final, char **tmp)
{
	mode_t mask = umask(0);
	size_t n;
	int fd, e;
	umask(mask);
	*tmp = NULL;
	*final = st ? realpath(out, NULL) : strdup(out);
	if (!*final)
		return st && errno != ENOMEM ? -3 : -2;
	n = strlen(*final) + 8;
	*tmp = malloc(n);
	if (!*tmp)
		return -2;
	snprintf(*tmp, n, "%s.XXXXXX", *final);
	fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		free(*tmp);
		*tmp = NULL;
		errno = e;
		return -1;
	}
	/* best effort: a failure leaves mkostemp's 0600 */
	if (fchmod(fd, st ? (st->st_mode & 07777) : (0666 & ~mask)))
		errno = 0;
	return fd;
}

static int create_pack(const char *out, uint64_t nr, struct zout *zo)
{
	struct disk_pack_header hdr;
	struct stat st;
	bool exists = stat(out, &st) == 0;
	if (exists && !S_ISREG(st.st_mode)) {
		/* a device (allowed with --force): written in place */
		zo->fd = open(out, O_WRONLY | O_CLOEXEC);
	} else {
		zo->fd = tmp_beside(out, exists ? &st : NULL, &zo->final, &zo->tmp);
		if (zo->fd == -2)
			return META_E_NOMEM;
		/* a directory we may not create in, around a file we may write: in place */
		if (zo->fd == -3 || (zo->fd == -1 && exists && errno == EACCES))
			zo->fd = open(out, O_WRONLY | O_TRUNC | O_CLOEXEC);
	}
	if (zo->fd < 0)
		return errno == EACCES ? META_E_PERM : errno == ENOENT ? META_E_NOENT
		       : errno == ENOSPC ? META_E_NOSPC : META_E_IO;
	hdr.magic = le64_of(META_PACK_MAGIC);
	hdr.version = le64_of(META_PACK_VERSION);
	hdr.block_size = le64_of(META_BLOCK_SIZE);
	hdr.nr_blocks = le64_of(nr);
	zo->bytes = sizeof(hdr);
	return write_all(zo->fd, &hdr, sizeof(hdr));
}

/*
 * Blocks are packed in windows of WINDOW_BLOCKS metadata blocks; inside one the
 * programs are sorted so that similar blocks sit next to each other, within
 * zlib's 32 KiB reach: btree nodes by kind and first key (the copies of one
 * leaf in a chain of snapshots, which differ in a few entries, end up
 * adjacent), the others by type; then by block number.  Unpacking does not
 * depend on the order.
 */
#define WINDOW_BLOCKS 8192u

struct rec_ix {
	uint64_t k1, k2, blocknr;
	size_t off, len; /* record (le64 block number + program) in the window */
};

static void sort_key(const uint8_t *blk, struct rec_ix *x)
{
	uint32_t salt = get_le32p(blk) ^ meta_block_csum(blk, META_BLOCK_SIZE, 0);
	x->k1 = (uint64_t)salt << 32;
	x->k2 = 0;
	if (salt == BT_NODE_SALT) {
		const struct disk_node_header *h = (const struct disk_node_header *)blk;
		x->k1 |= (uint64_t)(le32_get(h->flags) & 0xff) << 24 | (le32_get(h->value_size) & 0xffffff);
		x->k2 = get_le64p(blk + sizeof(*h)); /* the first key */
	}
}

static int cmp_rec(const void *a, const void *b)
{
	const struct rec_ix *x = a, *y = b;
	if (x->k1 != y->k1)
		return x->k1 < y->k1 ? -1 : 1;
	if (x->k2 != y->k2)
		return x->k2 < y->k2 ? -1 : 1;
	return x->blocknr < y->blocknr ? -1 : x->blocknr > y->blocknr;
}

/* Sort the window's records and write them as chunks of BLOCKS_PER_CHUNK. */
static int flush_window(struct zout *zo, uint8_t *win, struct rec_ix *ix, size_t n, uint8_t *raw)
{
	size_t rawlen = 0, in_chunk = 0;
	int r = META_OK;
	qsort(ix, n, sizeof(*ix), cmp_rec);
	for (size_t i = 0; !r && i < n; i++) {
		memcpy(raw + rawlen, win + ix[i].off, ix[i].len);
		rawlen += ix[i].len;
		if (++in_chunk == BLOCKS_PER_CHUNK || i + 1 == n) {
			r = emit_chunk(zo, raw, rawlen);
			rawlen = 0;
			in_chunk = 0;
		}
	}
	return r;
}

int meta_pack(const char *in, const char *out, struct meta_pack_stats *st)
{
	struct meta_io *io;
	struct zout zo;
	uint8_t *buf = NULL, *raw = NULL, *tmp = NULL, *win = NULL;
	struct rec_ix *ix = NULL;
	size_t winlen = 0, nwin = 0, rec = 8 + 3 + META_BLOCK_SIZE;
	uint64_t nr;
	int r;

	memset(st, 0, sizeof(*st));
	memset(&zo, 0, sizeof(zo));
	zo.fd = -1;
	r = meta_io_open_input(in, META_IO_EXCL, META_BLOCK_SIZE, &io);
	if (r)
		return r;
	nr = meta_io_size(io) / META_BLOCK_SIZE;
	buf = meta_io_buf_alloc((size_t)READ_BLOCKS * META_BLOCK_SIZE);
	raw = malloc(BLOCKS_PER_CHUNK * rec);
	/* a program is at most a literal's size, but is built in place: ENC_CAP of slack */
	win = malloc(WINDOW_BLOCKS * rec + ENC_CAP);
	ix = malloc(WINDOW_BLOCKS * sizeof(*ix));
	tmp = malloc(META_BLOCK_SIZE);
	if (!buf || !raw || !tmp || !win || !ix) {
		r = META_E_NOMEM;
		goto out;
	}
	for (uint64_t b = 0; !r && b < nr; b += READ_BLOCKS) {
		uint64_t n = nr - b < READ_BLOCKS ? nr - b : READ_BLOCKS;
		r = meta_io_pread(io, buf, (size_t)n * META_BLOCK_SIZE, b * META_BLOCK_SIZE);
		for (uint64_t i = 0; !r && i < n; i++) {
			const uint8_t *blk = buf + i * META_BLOCK_SIZE;
			struct enc e = {win + winlen + 8, 0};
			if (!meta_block_is_metadata(blk))
				continue;
			/* the output is created only once there is something to put in it */
			if (zo.fd < 0 && (r = create_pack(out, nr, &zo)))
				break;
			put_le64p(win + winlen, b + i);
			encode_block(&e, blk, tmp);
			sort_key(blk, &ix[nwin]);
			ix[nwin].blocknr = b + i;
			ix[nwin].off = winlen;
			ix[nwin].len = 8 + e.len;
			winlen += 8 + e.len;
			st->nr_packed++;
			if (++nwin == WINDOW_BLOCKS) {
				r = flush_window(&zo, win, ix, nwin, raw);
				winlen = 0;
				nwin = 0;
			}
		}
	}
	if (!r && zo.fd < 0)
		r = META_E_NOTFOUND; /* no metadata at all: nothing written */
	if (!r && nwin)
		r = flush_window(&zo, win, ix, nwin, raw);
	if (!r && fsync(zo.fd) && errno != EINVAL)
		r = META_E_IO;
out:
	st->nr_blocks = nr;
	st->bytes = zo.bytes;
	free(buf);
	free(raw);
	free(tmp);
	free(win);
	free(ix);
	free(zo.out);
	if (zo.fd >= 0 && close(zo.fd) && !r)
		r = META_E_IO;
	if (zo.tmp) {
		if (!r && rename(zo.tmp, zo.final))
			r = errno == ENOSPC ? META_E_NOSPC : META_E_IO;
		if (r)
			unlink(zo.tmp);
		free(zo.tmp);
	}
	free(zo.final);
	meta_io_close(io);
	return r;
}

/* ---- unpack: the block program interpreter --------------------------------------- */

struct prog {
	const uint8_t *p, *end;
	uint64_t base;
	int bad;
};

static uint8_t take8(struct prog *g)
{
	if (g->p >= g->end) {
		g->bad = 1;
		return 0;
	}
	return *g->p++;
}

static uint64_t take_width(struct prog *g, unsigned width)
{
	uint64_t v = 0;
	if (width != 1 && width != 2 && width != 4 && width != 8) {
		g->bad = 1;
		return 0;
	}
	for (unsigned i = 0; i < width; i++)
		v |= (uint64_t)take8(g) << (8 * i);
	return v;
}

/* Output cursor of one block (or of a ShiftedRun half). */
struct sink {
	uint8_t *buf;
	size_t len, cap;
};

static void sink_u64(struct prog *g, struct sink *s, uint64_t v)
{
	if (s->len + 8 > s->cap) {
		g->bad = 1;
		return;
	}
	put_le64p(s->buf + s->len, v);
	s->len += 8;
}

static void run_instr(struct prog *g, struct sink *s, uint64_t count, int depth);

static void run_until(struct prog *g, struct sink *s, size_t want, int depth)
{
	size_t start = s->len;
	while (!g->bad && s->len - start < want)
		run_instr(g, s, 1, depth);
}

static void run_instr(struct prog *g, struct sink *s, uint64_t count, int depth)
{
	uint8_t b = take8(g), tag = b >> 4, nib = b & 15;
	uint64_t v, n;
	if (g->bad || depth > 4) {
		g->bad = 1;
		return;
	}
	switch (tag) {
	case 0: /* Set */
		g->base = take_width(g, nib);
		for (uint64_t i = 0; i < count && !g->bad; i++)
			sink_u64(g, s, g->base);
		break;
	case 1: /* Pos */
	case 3: /* Neg */
		for (uint64_t i = 0; i < count && !g->bad; i++) {
			g->base = tag == 1 ? g->base + nib : g->base - nib;
			sink_u64(g, s, g->base);
		}
		break;
	case 2: /* PosW */
	case 4: /* NegW */
		v = take_width(g, nib);
		for (uint64_t i = 0; i < count && !g->bad; i++) {
			g->base = tag == 2 ? g->base + v : g->base - v;
			sink_u64(g, s, g->base);
		}
		break;
	case 5: /* Const */
	case 6: /* Const8 */
		n = tag == 5 ? nib : ((uint64_t)nib << 8 | take8(g));
		if (count != 1)
			g->bad = 1;
		for (uint64_t i = 0; i < n && !g->bad; i++)
			sink_u64(g, s, g->base);
		break;
	case 7: /* Count */
	case 8: /* Count8 */
		n = tag == 7 ? nib : ((uint64_t)nib << 8 | take8(g));
		run_instr(g, s, n, depth + 1);
		break;
	case 9:  /* Lit */
	case 10: /* LitW */
		n = tag == 9 ? nib : take_width(g, nib);
		if (count != 1 || (uint64_t)(g->end - g->p) < n || s->len + n > s->cap) {
			g->bad = 1;
			break;
		}
		memcpy(s->buf + s->len, g->p, (size_t)n);
		g->p += n;
		s->len += (size_t)n;
		break;
	case 11: { /* ShiftedRun */
		uint8_t hi[META_BLOCK_SIZE], lo[META_BLOCK_SIZE];
		struct sink hs = {hi, 0, sizeof(hi)}, ls = {lo, 0, sizeof(lo)};
		n = (uint64_t)nib << 8 | take8(g);
		if (n * 8 > sizeof(hi)) {
			g->bad = 1;
			break;
		}
		run_until(g, &hs, (size_t)n * 8, depth + 1);
		run_until(g, &ls, (size_t)n * 8, depth + 1);
		if (hs.len != n * 8 || ls.len != n * 8) {
			g->bad = 1;
			break;
		}
		for (uint64_t i = 0; i < n && !g->bad; i++)
			sink_u64(g, s, disk_thin_map_value(get_le64p(hi + 8 * i),
							  (uint32_t)get_le64p(lo + 8 * i)));
		break;
	}
	default:
		g->bad = 1;
	}
}

static int read_all(int fd, void *buf, size_t len, int *eof)
{
	uint8_t *p = buf;
	size_t got = 0;
	*eof = 0;
	while (got < len) {
		ssize_t r = read(fd, p + got, len - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return META_E_IO;
		}
		if (r == 0) {
			*eof = got == 0 ? 1 : 2;
			return got == 0 ? META_OK : META_E_CORRUPT;
		}
		got += (size_t)r;
	}
	return META_OK;
}

/* Inflate one whole zlib stream. */
static int inflate_chunk(const uint8_t *in, size_t inlen, uint8_t **out, size_t *outlen)
{
	z_stream z;
	size_t cap = inlen * 4 + 65536;
	uint8_t *buf = malloc(cap);
	int zr;
	if (!buf)
		return META_E_NOMEM;
	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK) {
		free(buf);
		return META_E_NOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)inlen;
	do {
		if (z.total_out == cap) {
			uint8_t *nb = realloc(buf, cap * 2);
			if (!nb) {
				inflateEnd(&z);
				free(buf);
				return META_E_NOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		z.next_out = buf + z.total_out;
		z.avail_out = (uInt)(cap - z.total_out);
		zr = inflate(&z, Z_NO_FLUSH);
	} while (zr == Z_OK);
	*outlen = z.total_out;
	inflateEnd(&z);
	if (zr != Z_STREAM_END) {
		free(buf);
		return META_E_CORRUPT;
	}
	*out = buf;
	return META_OK;
}

/*
 * Every chunk of the pack from the current position of ifd: each block decoded
 * and its checksum verified, then written to oio (when not NULL: a verify-only
 * pass writes nothing).
 */
static int unpack_chunks(int ifd, struct meta_io *oio, uint64_t nr, uint8_t *blk,
			 struct meta_pack_stats *st)
{
	uint8_t lenbuf[8];
	int r = META_OK, eof;
	while (!r) {
		uint8_t *zin, *raw = NULL;
		size_t zlen, rawlen = 0, pos = 0;
		r = read_all(ifd, lenbuf, 8, &eof);
		if (r || eof == 1)
			break;
		zlen = (size_t)get_le64p(lenbuf);
		if (zlen == 0 || zlen > (1u << 30)) {
			r = META_E_CORRUPT;
			break;
		}
		zin = malloc(zlen);
		if (!zin) {
			r = META_E_NOMEM;
			break;
		}
		r = read_all(ifd, zin, zlen, &eof);
		if (!r && eof)
			r = META_E_CORRUPT;
		if (!r)
			r = inflate_chunk(zin, zlen, &raw, &rawlen);
		free(zin);
		st->bytes += 8 + zlen;
		while (!r && pos < rawlen) {
			struct prog g;
			struct sink s = {blk, 0, META_BLOCK_SIZE};
			uint64_t b;
			if (rawlen - pos < 8) {
				r = META_E_CORRUPT;
				break;
			}
			b = get_le64p(raw + pos);
			g.p = raw + pos + 8;
			g.end = raw + rawlen;
			g.base = 0;
			g.bad = 0;
			run_until(&g, &s, META_BLOCK_SIZE, 0);
			if (g.bad || s.len != META_BLOCK_SIZE || b >= nr) {
				r = META_E_CORRUPT;
				break;
			}
			if (!meta_block_is_metadata(blk)) {
				r = META_E_CHECKSUM;
				break;
			}
			if (oio)
				r = meta_io_pwrite(oio, blk, META_BLOCK_SIZE,
						   b * META_BLOCK_SIZE);
			st->nr_packed++;
			pos = (size_t)(g.p - raw);
		}
		free(raw);
	}
	return r;
}

int meta_unpack(const char *in, const char *out, bool force, struct meta_pack_stats *st)
{
	struct disk_pack_header hdr;
	uint8_t *blk;
	struct meta_io *oio = NULL;
	struct stat sb;
	bool existed = false;
	char *final = NULL, *tmp = NULL;
	const char *outpath = out;
	int ifd, r, eof;
	uint64_t nr;

	memset(st, 0, sizeof(*st));
	ifd = open(in, O_RDONLY | O_CLOEXEC);
	if (ifd < 0)
		return errno == ENOENT ? META_E_NOENT : errno == EACCES ? META_E_PERM : META_E_IO;
	r = read_all(ifd, &hdr, sizeof(hdr), &eof);
	if (r || eof || le64_get(hdr.magic) != META_PACK_MAGIC) {
		close(ifd);
		return r == META_E_IO ? r : META_E_BADMAGIC;
	}
	if (le64_get(hdr.version) != META_PACK_VERSION) {
		close(ifd);
		return META_E_VERSION;
	}
	nr = le64_get(hdr.nr_blocks);
	if (le64_get(hdr.block_size) != META_BLOCK_SIZE || !nr || nr > (1ull << 40)) {
		close(ifd);
		return META_E_CORRUPT;
	}
	st->nr_blocks = nr;
	st->bytes = sizeof(hdr);
	blk = aligned_alloc(META_BLOCK_SIZE, META_BLOCK_SIZE);
	if (!blk) {
		close(ifd);
		return META_E_NOMEM;
	}
	/* the output: refuse existing metadata, then size it */
	if (stat(out, &sb) == 0) {
		existed = true;
		r = meta_io_open(out, META_IO_WRITE | META_IO_EXCL, &oio);
		if (!r && meta_io_size(oio) >= META_BLOCK_SIZE && !force &&
		    meta_io_pread(oio, blk, META_BLOCK_SIZE, 0) == META_OK &&
		    meta_thin_sb_validator.check(&meta_thin_sb_validator, blk, 0) == META_OK)
			r = META_E_EXISTS;
	} else {
		int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		r = fd < 0 ? (errno == EACCES ? META_E_PERM : errno == ENOENT ? META_E_NOENT : META_E_IO)
			   : META_OK;
		if (fd >= 0)
			close(fd);
		if (!r)
			r = meta_io_open(out, META_IO_WRITE, &oio);
	}
	if (!r && meta_io_is_blockdev(oio) && meta_io_size(oio) < nr * META_BLOCK_SIZE)
		r = META_E_NOSPC;
	/*
	 * An output that existed is only written once the whole pack has been read and
	 * every block verified: a damaged pack leaves it as it was.
	 */
	if (!r && existed && lseek(ifd, 0, SEEK_CUR) >= 0) {
		struct meta_pack_stats vst = *st;
		r = unpack_chunks(ifd, NULL, nr, blk, &vst);
		if (r)
			*st = vst;
		else if (lseek(ifd, (off_t)sizeof(hdr), SEEK_SET) < 0)
			r = META_E_IO;
	}
	if (!r && existed && !meta_io_is_blockdev(oio)) {
		/* an existing file is replaced whole: written beside it, then renamed over it */
		int fd = tmp_beside(out, &sb, &final, &tmp);
		if (fd == -2)
			r = META_E_NOMEM;
		if (fd >= 0) {
			close(fd);
			meta_io_close(oio);
			oio = NULL;
			r = meta_io_open(tmp, META_IO_WRITE, &oio);
			outpath = tmp;
		}
		/* a directory we may not create in, around a file we may write: in place */
		if (fd == -1 && errno != EACCES)
			r = errno == ENOSPC ? META_E_NOSPC : META_E_IO;
	}
	if (!r && !meta_io_is_blockdev(oio)) {
		/* size the file: zero everything that the pack does not hold */
		if (truncate(outpath, 0) || truncate(outpath, (off_t)(nr * META_BLOCK_SIZE)))
			r = META_E_IO;
	}
	if (!r)
		r = unpack_chunks(ifd, oio, nr, blk, st);
	if (!r)
		r = meta_io_flush(oio);
	if (tmp) {
		if (!r && rename(tmp, final))
			r = META_E_IO;
		if (r)
			unlink(tmp);
	}
	free(tmp);
	free(final);
	free(blk);
	meta_io_close(oio);
	close(ifd);
	return r;
}

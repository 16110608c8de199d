/* SPDX-License-Identifier: GPL-2.0-only */
/* thin_metadata_pack / unpack format (see include/libmeta/pack.h). */
#include <libmeta/bm.h>
#include <libmeta/crc32c.h>
#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/pack.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "endian.h"

#define BLOCKS_PER_CHUNK 1024u
#define READ_BLOCKS 256u

bool meta_block_is_metadata(const void *block)
{
	static const uint32_t salts[] = {160774, 121107, 240779, 160478, 9031977, 146538381, 595846735};
	uint32_t x = get_le32p(block) ^ meta_block_csum(block, META_BLOCK_SIZE, 0);
	for (size_t i = 0; i < sizeof(salts) / sizeof(salts[0]); i++)
		if (x == salts[i])
			return true;
	return false;
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

/* Compress one chunk of raw records into a complete zlib stream and write it. */
static int emit_chunk(struct zout *zo, const uint8_t *raw, size_t len)
{
	uLongf clen = compressBound(len);
	uint8_t lenbuf[8];
	int r;
	if (clen > zo->outcap) {
		uint8_t *p = realloc(zo->out, clen);
		if (!p)
			return META_E_NOMEM;
		zo->out = p;
		zo->outcap = clen;
	}
	if (compress2(zo->out, &clen, raw, len, Z_DEFAULT_COMPRESSION) != Z_OK)
		return META_E_NOMEM;
	put_le64p(lenbuf, clen);
	r = write_all(zo->fd, lenbuf, 8);
	if (!r)
		r = write_all(zo->fd, zo->out, clen);
	zo->bytes += 8 + clen;
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
	uint8_t hdr[32];
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
	put_le64p(hdr, META_PACK_MAGIC);
	put_le64p(hdr + 8, META_PACK_VERSION);
	put_le64p(hdr + 16, META_BLOCK_SIZE);
	put_le64p(hdr + 24, nr);
	zo->bytes = sizeof(hdr);
	return write_all(zo->fd, hdr, sizeof(hdr));
}

int meta_pack(const char *in, const char *out, struct meta_pack_stats *st)
{
	struct meta_io *io;
	struct zout zo;
	uint8_t *buf = NULL, *raw = NULL;
	size_t rawlen = 0, rec = 8 + 3 + META_BLOCK_SIZE;
	uint64_t nr, in_chunk = 0;
	int r;

	memset(st, 0, sizeof(*st));
	memset(&zo, 0, sizeof(zo));
	zo.fd = -1;
	r = meta_io_open_input(in, META_IO_EXCL, META_BLOCK_SIZE, &io);
	if (r)
		return r;
	nr = meta_io_size(io) / META_BLOCK_SIZE;
	buf = malloc((size_t)READ_BLOCKS * META_BLOCK_SIZE);
	raw = malloc(BLOCKS_PER_CHUNK * rec);
	if (!buf || !raw) {
		r = META_E_NOMEM;
		goto out;
	}
	for (uint64_t b = 0; !r && b < nr; b += READ_BLOCKS) {
		uint64_t n = nr - b < READ_BLOCKS ? nr - b : READ_BLOCKS;
		r = meta_io_pread(io, buf, (size_t)n * META_BLOCK_SIZE, b * META_BLOCK_SIZE);
		for (uint64_t i = 0; !r && i < n; i++) {
			const uint8_t *blk = buf + i * META_BLOCK_SIZE;
			uint8_t *p = raw + rawlen;
			if (!meta_block_is_metadata(blk))
				continue;
			/* the output is created only once there is something to put in it */
			if (zo.fd < 0 && (r = create_pack(out, nr, &zo)))
				break;
			put_le64p(p, b + i);
			p[8] = (uint8_t)(10u << 4 | 2u); /* LitW, 2-byte length */
			p[9] = META_BLOCK_SIZE & 0xff;
			p[10] = META_BLOCK_SIZE >> 8;
			memcpy(p + 11, blk, META_BLOCK_SIZE);
			rawlen += rec;
			st->nr_packed++;
			if (++in_chunk == BLOCKS_PER_CHUNK) {
				r = emit_chunk(&zo, raw, rawlen);
				rawlen = 0;
				in_chunk = 0;
			}
		}
	}
	if (!r && zo.fd < 0)
		r = META_E_NOTFOUND; /* no metadata at all: nothing written */
	if (!r && rawlen)
		r = emit_chunk(&zo, raw, rawlen);
	if (!r && fsync(zo.fd) && errno != EINVAL)
		r = META_E_IO;
out:
	st->nr_blocks = nr;
	st->bytes = zo.bytes;
	free(buf);
	free(raw);
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
			sink_u64(g, s, get_le64p(hi + 8 * i) << 24 | (get_le64p(lo + 8 * i) & 0xffffff));
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
	uint8_t hdr[32], *blk;
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
	r = read_all(ifd, hdr, sizeof(hdr), &eof);
	if (r || eof || get_le64p(hdr) != META_PACK_MAGIC) {
		close(ifd);
		return r == META_E_IO ? r : META_E_BADMAGIC;
	}
	if (get_le64p(hdr + 8) != META_PACK_VERSION) {
		close(ifd);
		return META_E_VERSION;
	}
	nr = get_le64p(hdr + 24);
	if (get_le64p(hdr + 16) != META_BLOCK_SIZE || !nr || nr > (1ull << 40)) {
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

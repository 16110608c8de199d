/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer target: the delta stream reader (include/libmeta/thin_export.h).
 * Input: a mode byte, then the stream.  Mode bit 0 set: the harness first recomputes every
 * checksum it can find (header crc; each record's payload crc and header crc, walking the
 * records by their lengths), so that mutations reach the field checks behind the
 * checksums.  The stream is read in pieces whose sizes the mode's upper bits vary.
 * Oracles (abort() when broken): a data record's payload lies within the stream and its
 * range within the volume, records come in order without overlap; an accepted stream,
 * written again record by record with the library's writer and read back, gives the same
 * records' bytes over a byte-array model of the volume (volumes up to 8 MiB).
 */
#include <stdlib.h>
#include <string.h>

#include <libmeta/crc32c.h>
#include <libmeta/error.h>
#include <libmeta/thin_export.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct src {
	const uint8_t *p;
	size_t n, at;
	unsigned piece;
};

static long src_in(void *ctx, void *buf, size_t len)
{
	struct src *s = ctx;
	size_t k = s->n - s->at;
	if (k > len)
		k = len;
	if (s->piece && k > s->piece)
		k = s->piece;
	memcpy(buf, s->p + s->at, k);
	s->at += k;
	return (long)k;
}

struct sink {
	uint8_t *p;
	size_t n, cap;
};

static int sink_out(void *ctx, const void *buf, size_t len)
{
	struct sink *s = ctx;
	if (s->n + len > s->cap) {
		size_t cap = (s->n + len) * 2;
		uint8_t *q = realloc(s->p, cap);
		if (!q)
			abort();
		s->p = q;
		s->cap = cap;
	}
	memcpy(s->p + s->n, buf, len);
	s->n += len;
	return 0;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void fix_checksums(uint8_t *s, size_t n)
{
	size_t pos = META_STREAM_HEADER_SIZE;
	if (n < META_STREAM_HEADER_SIZE)
		return;
	wr32(s + 76, meta_crc32c(0xffffffffu, s, 76));
	while (pos + META_STREAM_RECORD_SIZE <= n) {
		uint32_t type = rd32(s + pos);
		uint64_t len = rd64(s + pos + 16);
		size_t body = 0;
		if (type == META_STREAM_DATA && len <= n - pos - META_STREAM_RECORD_SIZE) {
			body = (size_t)len;
			wr32(s + pos + 4, meta_crc32c(0xffffffffu, s + pos + 32, body));
		}
		wr32(s + pos + 28, meta_crc32c(0xffffffffu, s + pos, 28));
		pos += META_STREAM_RECORD_SIZE + body;
	}
}

/* Read the stream; apply it to vol (vsize bytes) when not NULL; re-write it into w. */
static int read_stream(struct src *src, struct meta_stream_header *h, uint8_t **vol,
		       struct sink *again)
{
	struct meta_stream_reader *r;
	struct meta_stream_writer *w = NULL;
	struct meta_stream_record rec;
	const void *p;
	uint64_t end = 0;
	int e = meta_stream_reader_open(src_in, src, &r);
	if (e)
		return e;
	e = meta_stream_read_header(r, h);
	if (!e && h->volume_size <= (8u << 20) && !*vol) {
		*vol = calloc(1, h->volume_size ? h->volume_size : 1);
		if (!*vol)
			abort();
	}
	if (!e && again && meta_stream_writer_open(h, false, sink_out, again, &w))
		abort(); /* a header the reader took must be writable */
	while (!e) {
		e = meta_stream_next(r, &rec, &p);
		if (e || rec.type == META_STREAM_END)
			break;
		if (rec.offset < end || rec.length == 0 || rec.offset > h->volume_size ||
		    rec.length > h->volume_size - rec.offset)
			abort();
		end = rec.offset + rec.length;
		if (rec.type == META_STREAM_DATA) {
			if (!p || rec.length > META_STREAM_MAX_DATA)
				abort();
			if (*vol)
				memcpy(*vol + rec.offset, p, rec.length);
			if (w && meta_stream_put_data(w, rec.offset, p, rec.length))
				abort();
		} else {
			if (*vol)
				memset(*vol + rec.offset, 0, rec.length);
			if (w && meta_stream_put_range(w, rec.type, rec.offset, rec.length))
				abort();
		}
	}
	if (!e && w && meta_stream_writer_finish(w, NULL, NULL))
		abort();
	meta_stream_writer_free(w);
	meta_stream_reader_free(r);
	return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct meta_stream_header h, h2;
	struct sink again = {0};
	struct src src;
	uint8_t *s, *vol = NULL, *vol2 = NULL;
	static const unsigned pieces[4] = {0, 1, 7, 4096};
	if (!size)
		return 0;
	memset(&h, 0, sizeof(h));
	memset(&h2, 0, sizeof(h2));
	s = malloc(size);
	if (!s)
		abort();
	memcpy(s, data + 1, size - 1);
	if (data[0] & 1)
		fix_checksums(s, size - 1);
	src = (struct src){s, size - 1, 0, pieces[(data[0] >> 1) & 3]};
	if (read_stream(&src, &h, &vol, &again) == 0) {
		/* written again and read back: the same header and the same bytes */
		src = (struct src){again.p, again.n, 0, 0};
		if (read_stream(&src, &h2, &vol2, NULL) || memcmp(&h, &h2, sizeof(h)))
			abort();
		if (vol && (!vol2 || memcmp(vol, vol2, h.volume_size)))
			abort();
	}
	free(vol);
	free(vol2);
	free(again.p);
	free(s);
	return 0;
}

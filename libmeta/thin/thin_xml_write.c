/* SPDX-License-Identifier: GPL-2.0-only */
/* XML and human-readable writers for thin-pool metadata (see include/libmeta/thin_xml.h). */
#include <libmeta/thin_xml.h>
#include <libmeta/error.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define WBUF_SIZE (1u << 20)
#define WBUF_SLACK 512u /* room always kept for one element without long strings */

struct meta_thin_writer {
	FILE *f;
	enum meta_thin_text_format fmt;
	int err;       /* sticky meta_err */
	int io_errno;
	size_t len;
	char *buf;
};

static int wflush(struct meta_thin_writer *w)
{
	if (w->err)
		return w->err;
	errno = 0;
	if (w->len && fwrite(w->buf, 1, w->len, w->f) != w->len) {
		w->io_errno = errno ? errno : EIO;
		w->err = META_E_IO;
		return w->err;
	}
	w->len = 0;
	return META_OK;
}

/* Make sure n more bytes fit into the buffer. */
static inline int need(struct meta_thin_writer *w, size_t n)
{
	if (w->len + n <= WBUF_SIZE)
		return META_OK;
	return wflush(w);
}

static inline void put_mem(struct meta_thin_writer *w, const char *s, size_t n)
{
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

#define PUT_LIT(w, lit) put_mem((w), (lit), sizeof(lit) - 1)

static inline void put_u64(struct meta_thin_writer *w, uint64_t v)
{
	char tmp[24];
	char *p = meta_u64_dec(tmp + sizeof(tmp), v);
	put_mem(w, p, (size_t)(tmp + sizeof(tmp) - p));
}

static int put_text(struct meta_thin_writer *w, const char *s, int xml)
{
	for (; s && *s; s++) {
		const char *rep = NULL;
		int r = need(w, 8 + WBUF_SLACK);
		if (r)
			return r;
		if (xml) {
			switch (*s) {
			case '&': rep = "&amp;"; break;
			case '<': rep = "&lt;"; break;
			case '>': rep = "&gt;"; break;
			case '"': rep = "&quot;"; break;
			default: break;
			}
		}
		if (rep)
			put_mem(w, rep, strlen(rep));
		else
			w->buf[w->len++] = *s;
	}
	return need(w, WBUF_SLACK);
}

/* ---- XML ------------------------------------------------------------------ */

static int xml_begin_superblock(void *ctx, const struct meta_thin_xml_sb *sb)
{
	struct meta_thin_writer *w = ctx;
	int r = need(w, WBUF_SLACK);
	if (r)
		return r;
	PUT_LIT(w, "<superblock uuid=\"");
	if ((r = put_text(w, sb->uuid, 1)))
		return r;
	PUT_LIT(w, "\" time=\"");
	put_u64(w, sb->time);
	PUT_LIT(w, "\" transaction=\"");
	put_u64(w, sb->transaction);
	PUT_LIT(w, "\" flags=\"");
	put_u64(w, sb->flags);
	PUT_LIT(w, "\" version=\"");
	put_u64(w, sb->version);
	PUT_LIT(w, "\" data_block_size=\"");
	put_u64(w, sb->data_block_size);
	PUT_LIT(w, "\" nr_data_blocks=\"");
	put_u64(w, sb->nr_data_blocks);
	if (sb->has_metadata_snap) {
		PUT_LIT(w, "\" metadata_snap=\"");
		put_u64(w, sb->metadata_snap);
	}
	PUT_LIT(w, "\">\n");
	return META_OK;
}

static int xml_end_superblock(void *ctx)
{
	struct meta_thin_writer *w = ctx;
	int r = need(w, WBUF_SLACK);
	if (r)
		return r;
	PUT_LIT(w, "</superblock>\n");
	return wflush(w);
}

static int xml_begin_device(void *ctx, const struct meta_thin_details *d)
{
	struct meta_thin_writer *w = ctx;
	int r = need(w, WBUF_SLACK);
	if (r)
		return r;
	PUT_LIT(w, "  <device dev_id=\"");
	put_u64(w, d->dev_id);
	PUT_LIT(w, "\" mapped_blocks=\"");
	put_u64(w, d->mapped_blocks);
	PUT_LIT(w, "\" transaction=\"");
	put_u64(w, d->transaction_id);
	PUT_LIT(w, "\" creation_time=\"");
	put_u64(w, d->creation_time);
	PUT_LIT(w, "\" snap_time=\"");
	put_u64(w, d->snapshotted_time);
	PUT_LIT(w, "\">\n");
	return META_OK;
}

static int xml_end_device(void *ctx)
{
	struct meta_thin_writer *w = ctx;
	int r = need(w, WBUF_SLACK);
	if (r)
		return r;
	PUT_LIT(w, "  </device>\n");
	return META_OK;
}

static int xml_begin_def(void *ctx, const char *name)
{
	struct meta_thin_writer *w = ctx;
	int r = need(w, WBUF_SLACK);
	if (r)
		return r;
	PUT_LIT(w, "  <def name=\"");
	if ((r = put_text(w, name, 1)))
		return r;
	PUT_LIT(w, "\">\n");
	return META_OK;
}

static int xml_end_def(void *ctx)
{
	struct meta_thin_writer *w = ctx;
	int r = need(w, WBUF_SLACK);
	if (r)
		return r;
	PUT_LIT(w, "  </def>\n");
	return META_OK;
}

static int xml_ref(void *ctx, const char *name)
{
	struct meta_thin_writer *w = ctx;
	int r = need(w, WBUF_SLACK);
	if (r)
		return r;
	PUT_LIT(w, "    <ref name=\"");
	if ((r = put_text(w, name, 1)))
		return r;
	PUT_LIT(w, "\"/>\n");
	return META_OK;
}

static int xml_range_map(void *ctx, uint64_t ob, uint64_t db, uint32_t time, uint64_t len)
{
	struct meta_thin_writer *w = ctx;
	int r = need(w, WBUF_SLACK);
	if (r)
		return r;
	PUT_LIT(w, "    <range_mapping origin_begin=\"");
	put_u64(w, ob);
	PUT_LIT(w, "\" data_begin=\"");
	put_u64(w, db);
	PUT_LIT(w, "\" length=\"");
	put_u64(w, len);
	PUT_LIT(w, "\" time=\"");
	put_u64(w, time);
	PUT_LIT(w, "\"/>\n");
	return META_OK;
}

static int xml_single_map(void *ctx, uint64_t ob, uint64_t db, uint32_t time)
{
	struct meta_thin_writer *w = ctx;
	int r = need(w, WBUF_SLACK);
	if (r)
		return r;
	PUT_LIT(w, "    <single_mapping origin_block=\"");
	put_u64(w, ob);
	PUT_LIT(w, "\" data_block=\"");
	put_u64(w, db);
	PUT_LIT(w, "\" time=\"");
	put_u64(w, time);
	PUT_LIT(w, "\"/>\n");
	return META_OK;
}

static const struct meta_thin_emitter_ops xml_ops = {
	.begin_superblock = xml_begin_superblock,
	.end_superblock = xml_end_superblock,
	.begin_device = xml_begin_device,
	.end_device = xml_end_device,
	.begin_def = xml_begin_def,
	.end_def = xml_end_def,
	.ref = xml_ref,
	.range_map = xml_range_map,
	.single_map = xml_single_map,
};

/* ---- human readable ------------------------------------------------------- */

static int hr_begin_superblock(void *ctx, const struct meta_thin_xml_sb *sb)
{
	struct meta_thin_writer *w = ctx;
	int r = need(w, WBUF_SLACK);
	if (r)
		return r;
	PUT_LIT(w, "begin superblock: \"");
	if ((r = put_text(w, sb->uuid, 0)))
		return r;
	PUT_LIT(w, "\", ");
	put_u64(w, sb->time);
	PUT_LIT(w, ", ");
	put_u64(w, sb->transaction);
	PUT_LIT(w, ", ");
	put_u64(w, sb->flags);
	PUT_LIT(w, ", ");
	put_u64(w, sb->version);
	PUT_LIT(w, ", ");
	put_u64(w, sb->data_block_size);
	PUT_LIT(w, ", ");
	put_u64(w, sb->nr_data_blocks);
	if (sb->has_metadata_snap) {
		PUT_LIT(w, ", ");
		put_u64(w, sb->metadata_snap);
	}
	PUT_LIT(w, "\n");
	return META_OK;
}

static int hr_end_superblock(void *ctx)
{
	struct meta_thin_writer *w = ctx;
	int r = need(w, WBUF_SLACK);
	if (r)
		return r;
	PUT_LIT(w, "end superblock\n");
	return wflush(w);
}

static int hr_begin_device(void *ctx, const struct meta_thin_details *d)
{
	struct meta_thin_writer *w = ctx;
	int r = need(w, WBUF_SLACK);
	if (r)
		return r;
	PUT_LIT(w, "device: ");
	put_u64(w, d->dev_id);
	PUT_LIT(w, "\nmapped_blocks: ");
	put_u64(w, d->mapped_blocks);
	PUT_LIT(w, "\ntransaction: ");
	put_u64(w, d->transaction_id);
	PUT_LIT(w, "\ncreation time: ");
	put_u64(w, d->creation_time);
	PUT_LIT(w, "\nsnap time: ");
	put_u64(w, d->snapshotted_time);
	PUT_LIT(w, "\n");
	return META_OK;
}

static int hr_end_block(void *ctx)
{
	struct meta_thin_writer *w = ctx;
	int r = need(w, WBUF_SLACK);
	if (r)
		return r;
	PUT_LIT(w, "\n");
	return META_OK;
}

static int hr_begin_def(void *ctx, const char *name)
{
	struct meta_thin_writer *w = ctx;
	int r = need(w, WBUF_SLACK);
	if (r)
		return r;
	PUT_LIT(w, "def: ");
	if ((r = put_text(w, name, 0)))
		return r;
	PUT_LIT(w, "\n");
	return META_OK;
}

static int hr_ref(void *ctx, const char *name)
{
	struct meta_thin_writer *w = ctx;
	int r = need(w, WBUF_SLACK);
	if (r)
		return r;
	PUT_LIT(w, "    ref: ");
	if ((r = put_text(w, name, 0)))
		return r;
	PUT_LIT(w, "\n");
	return META_OK;
}

static int hr_range_map(void *ctx, uint64_t ob, uint64_t db, uint32_t time, uint64_t len)
{
	struct meta_thin_writer *w = ctx;
	int r = need(w, WBUF_SLACK);
	if (r)
		return r;
	PUT_LIT(w, "    (");
	put_u64(w, ob);
	PUT_LIT(w, "..");
	put_u64(w, ob + len - 1);
	PUT_LIT(w, ") -> (");
	put_u64(w, db);
	PUT_LIT(w, "..");
	put_u64(w, db + len - 1);
	PUT_LIT(w, "), ");
	put_u64(w, time);
	PUT_LIT(w, "\n");
	return META_OK;
}

static int hr_single_map(void *ctx, uint64_t ob, uint64_t db, uint32_t time)
{
	struct meta_thin_writer *w = ctx;
	int r = need(w, WBUF_SLACK);
	if (r)
		return r;
	PUT_LIT(w, "    ");
	put_u64(w, ob);
	PUT_LIT(w, " -> ");
	put_u64(w, db);
	PUT_LIT(w, ", ");
	put_u64(w, time);
	PUT_LIT(w, "\n");
	return META_OK;
}

static const struct meta_thin_emitter_ops human_ops = {
	.begin_superblock = hr_begin_superblock,
	.end_superblock = hr_end_superblock,
	.begin_device = hr_begin_device,
	.end_device = hr_end_block,
	.begin_def = hr_begin_def,
	.end_def = hr_end_block,
	.ref = hr_ref,
	.range_map = hr_range_map,
	.single_map = hr_single_map,
};

/* ---- public --------------------------------------------------------------- */

int meta_thin_writer_create(FILE *f, enum meta_thin_text_format fmt, struct meta_thin_writer **out)
{
	struct meta_thin_writer *w;
	*out = NULL;
	if (!f || (fmt != META_THIN_FORMAT_XML && fmt != META_THIN_FORMAT_HUMAN))
		return META_E_INVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return META_E_NOMEM;
	w->buf = malloc(WBUF_SIZE);
	if (!w->buf) {
		free(w);
		return META_E_NOMEM;
	}
	w->f = f;
	w->fmt = fmt;
	*out = w;
	return META_OK;
}

struct meta_thin_emitter meta_thin_writer_emitter(struct meta_thin_writer *w)
{
	struct meta_thin_emitter e;
	e.ops = w->fmt == META_THIN_FORMAT_HUMAN ? &human_ops : &xml_ops;
	e.ctx = w;
	return e;
}

int meta_thin_writer_flush(struct meta_thin_writer *w)
{
	int r = wflush(w);
	if (r)
		return r;
	errno = 0;
	if (fflush(w->f)) {
		w->io_errno = errno ? errno : EIO;
		w->err = META_E_IO;
	}
	return w->err;
}

int meta_thin_writer_errno(const struct meta_thin_writer *w)
{
	return w->io_errno;
}

void meta_thin_writer_destroy(struct meta_thin_writer *w)
{
	if (!w)
		return;
	free(w->buf);
	free(w);
}

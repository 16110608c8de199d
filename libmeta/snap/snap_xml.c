/* SPDX-License-Identifier: GPL-2.0-only */
/* Snapshot store ↔ XML / human text (format in include/libmeta/snap_xml.h). */
#include <libmeta/error.h>
#include <libmeta/snap_xml.h>

#include <inttypes.h>
#include <string.h>

#include "base/util.h"
#include "base/xml_util.h"

int meta_snap_emit(struct meta_snap *s, const struct meta_snap_emitter_ops *ops, void *ctx)
{
	uint64_t n;
	const struct meta_snap_exception *ex = meta_snap_exceptions(s, &n);
	int r = ops->begin_store(ctx, meta_snap_get_header(s));
	for (uint64_t i = 0; !r && i < n; i++)
		r = ops->exception(ctx, ex[i].old_chunk, ex[i].new_chunk);
	if (!r)
		r = ops->end_store(ctx);
	return r;
}

static int out_err(FILE *f)
{
	return ferror(f) ? META_E_IO : META_OK;
}

static int xml_begin(void *ctx, const struct meta_snap_header *h)
{
	FILE *f = ctx;
	fprintf(f, "<snapshot_store magic=\"0x%08" PRIx32 "\" valid=\"%" PRIu32 "\" version=\"%" PRIu32
		   "\" chunk_size=\"%" PRIu32 "\">\n",
		h->magic, h->valid, h->version, h->chunk_size);
	return out_err(f);
}

static int xml_exception(void *ctx, uint64_t old_chunk, uint64_t new_chunk)
{
	FILE *f = ctx;
	fprintf(f, "  <exception old_chunk=\"%" PRIu64 "\" new_chunk=\"%" PRIu64 "\"/>\n", old_chunk,
		new_chunk);
	return out_err(f);
}

static int xml_end(void *ctx)
{
	FILE *f = ctx;
	fputs("</snapshot_store>\n", f);
	return out_err(f);
}

static const struct meta_snap_emitter_ops xml_ops = {xml_begin, xml_exception, xml_end};

const struct meta_snap_emitter_ops *meta_snap_xml_writer(void)
{
	return &xml_ops;
}

static int human_begin(void *ctx, const struct meta_snap_header *h)
{
	FILE *f = ctx;
	fprintf(f, "snapshot store: magic 0x%08" PRIx32 "%s, valid %" PRIu32 ", version %" PRIu32
		   ", chunk_size %" PRIu32 " sectors\n",
		h->magic, h->magic == META_SNAP_MAGIC ? " (SnAp)" : "", h->valid, h->version,
		h->chunk_size);
	return out_err(f);
}

static int human_exception(void *ctx, uint64_t old_chunk, uint64_t new_chunk)
{
	FILE *f = ctx;
	fprintf(f, "    origin chunk %" PRIu64 " -> cow chunk %" PRIu64 "\n", old_chunk, new_chunk);
	return out_err(f);
}

static int human_end(void *ctx)
{
	FILE *f = ctx;
	fputs("end snapshot store\n", f);
	return out_err(f);
}

static const struct meta_snap_emitter_ops human_ops = {human_begin, human_exception, human_end};

const struct meta_snap_emitter_ops *meta_snap_human_writer(void)
{
	return &human_ops;
}

/* ---- parser ------------------------------------------------------------------ */

struct parse {
	struct xmlu x;
	const struct meta_snap_emitter_ops *ops;
	void *ctx;
	int depth;      /* 0 outside, 1 in snapshot_store, 2 in exception */
	int seen_store;
};

static void XMLCALL on_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
	struct parse *ps = data;
	if (ps->x.r)
		return;
	if (!strcmp(name, "snapshot_store")) {
		struct xmlu_attr spec[] = {
			{"magic", UINT32_MAX, META_SNAP_MAGIC, NULL, 0, 0, 0, 1},
			{"valid", UINT32_MAX, 1, NULL, 1, 0, 0, 0},
			{"version", UINT32_MAX, 1, NULL, 1, 0, 0, 0},
			{"chunk_size", UINT32_MAX, 0, NULL, 1, 0, 0, 0},
		};
		struct meta_snap_header h;
		int r;
		if (ps->depth != 0 || ps->seen_store) {
			xmlu_fail(&ps->x, META_E_XML, "<snapshot_store> must be the one root element");
			return;
		}
		if (xmlu_take_attrs(&ps->x, name, attrs, spec, 4))
			return;
		h.magic = (uint32_t)spec[0].v;
		h.valid = (uint32_t)spec[1].v;
		h.version = (uint32_t)spec[2].v;
		h.chunk_size = (uint32_t)spec[3].v;
		ps->seen_store = 1;
		ps->depth = 1;
		r = ps->ops->begin_store(ps->ctx, &h);
		if (r)
			xmlu_fail(&ps->x, r, "%s", meta_strerror(r));
	} else if (!strcmp(name, "exception")) {
		struct xmlu_attr spec[] = {
			{"old_chunk", UINT64_MAX, 0, NULL, 1, 0, 0, 0},
			{"new_chunk", UINT64_MAX, 0, NULL, 1, 0, 0, 0},
		};
		int r;
		if (ps->depth != 1) {
			xmlu_fail(&ps->x, META_E_XML, "<exception> must appear inside <snapshot_store>");
			return;
		}
		if (xmlu_take_attrs(&ps->x, name, attrs, spec, 2))
			return;
		ps->depth = 2;
		r = ps->ops->exception(ps->ctx, spec[0].v, spec[1].v);
		if (r)
			xmlu_fail(&ps->x, r, "%s", meta_strerror(r));
	} else {
		xmlu_fail(&ps->x, META_E_XML, "unknown element <%s>", name);
	}
}

static void XMLCALL on_end(void *data, const XML_Char *name)
{
	struct parse *ps = data;
	if (ps->x.r)
		return;
	ps->depth--;
	if (ps->depth == 0) {
		int r = ps->ops->end_store(ps->ctx);
		if (r)
			xmlu_fail(&ps->x, r, "%s", meta_strerror(r));
	}
}

static void XMLCALL on_text(void *data, const XML_Char *s, int len)
{
	struct parse *ps = data;
	xmlu_blank_text(&ps->x, s, len);
}

int meta_snap_xml_parse(FILE *in, const struct meta_snap_emitter_ops *ops, void *ctx, char *err,
			size_t errlen)
{
	struct parse ps;
	int r;
	memset(&ps, 0, sizeof(ps));
	r = xmlu_create(&ps.x, err, errlen);
	if (r)
		return r;
	ps.ops = ops;
	ps.ctx = ctx;
	XML_SetUserData(ps.x.p, &ps);
	XML_SetElementHandler(ps.x.p, on_start, on_end);
	XML_SetCharacterDataHandler(ps.x.p, on_text);
	r = xmlu_run(&ps.x, in);
	if (!r && !ps.seen_store)
		xmlu_fail(&ps.x, META_E_XML, "no <snapshot_store> element");
	XML_ParserFree(ps.x.p);
	return ps.x.r;
}

/* ------------------------------------------------ the whole XML in memory */

struct collect {
	struct meta_snap_header *h;
	struct meta_snap_exception *ex;
	size_t n, cap;
};

static int collect_begin(void *ctx, const struct meta_snap_header *h)
{
	*((struct collect *)ctx)->h = *h;
	return 0;
}

static int collect_exception(void *ctx, uint64_t old_chunk, uint64_t new_chunk)
{
	struct collect *c = ctx;
	int r = meta_grow((void **)&c->ex, &c->cap, c->n + 1, sizeof(*c->ex));
	if (r)
		return r;
	c->ex[c->n].old_chunk = old_chunk;
	c->ex[c->n].new_chunk = new_chunk;
	c->n++;
	return 0;
}

static int collect_end(void *ctx)
{
	(void)ctx;
	return 0;
}

int meta_snap_xml_read(FILE *in, struct meta_snap_header *h, struct meta_snap_exception **ex,
		       uint64_t *n, char *err, size_t errlen)
{
	static const struct meta_snap_emitter_ops ops = {collect_begin, collect_exception,
							 collect_end};
	struct collect c = {h, NULL, 0, 0};
	int r;

	memset(h, 0, sizeof(*h));
	r = meta_snap_xml_parse(in, &ops, &c, err, errlen);
	*ex = c.ex;
	*n = c.n;
	if (r)
		return r;
	if (h->magic != META_SNAP_MAGIC || h->version != META_SNAP_VERSION ||
	    meta_snap_check_chunk_size(h->chunk_size))
		return META_E_INVAL;
	return META_OK;
}

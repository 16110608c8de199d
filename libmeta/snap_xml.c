/* SPDX-License-Identifier: GPL-2.0-only */
/* Snapshot store ↔ XML / human text (format in include/libmeta/snap_xml.h). */
#include <libmeta/error.h>
#include <libmeta/snap_xml.h>

#include <errno.h>
#include <expat.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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
	XML_Parser p;
	const struct meta_snap_emitter_ops *ops;
	void *ctx;
	char *err;
	size_t errlen;
	int r;          /* first error */
	int depth;      /* 0 outside, 1 in snapshot_store, 2 in exception */
	int seen_store;
};

static void fail(struct parse *ps, int code, const char *fmt, ...)
{
	va_list ap;
	size_t n;
	if (ps->r)
		return;
	ps->r = code;
	if (ps->err && ps->errlen) {
		n = (size_t)snprintf(ps->err, ps->errlen, "line %lu: ",
				     (unsigned long)XML_GetCurrentLineNumber(ps->p));
		if (n < ps->errlen) {
			va_start(ap, fmt);
			vsnprintf(ps->err + n, ps->errlen - n, fmt, ap);
			va_end(ap);
		}
	}
	XML_StopParser(ps->p, XML_FALSE);
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int base = 10;
	if (!*s)
		return -1;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!*s)
			return -1;
	}
	if (*s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

struct attr_spec {
	const char *name;
	uint64_t max;
	uint64_t *dst;
	int required, seen;
};

static int take_attrs(struct parse *ps, const char *elem, const XML_Char **attrs,
		      struct attr_spec *spec, int n)
{
	for (int i = 0; attrs[i]; i += 2) {
		int k;
		for (k = 0; k < n; k++)
			if (!strcmp(attrs[i], spec[k].name))
				break;
		if (k == n) {
			fail(ps, META_E_XML, "unknown attribute '%s' in <%s>", attrs[i], elem);
			return -1;
		}
		if (parse_u64(attrs[i + 1], spec[k].max, spec[k].dst)) {
			fail(ps, META_E_XML, "bad value '%s' for %s in <%s>", attrs[i + 1], attrs[i], elem);
			return -1;
		}
		spec[k].seen = 1;
	}
	for (int k = 0; k < n; k++)
		if (spec[k].required && !spec[k].seen) {
			fail(ps, META_E_XML, "<%s> needs the attribute %s", elem, spec[k].name);
			return -1;
		}
	return 0;
}

static void XMLCALL on_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
	struct parse *ps = data;
	if (ps->r)
		return;
	if (!strcmp(name, "snapshot_store")) {
		uint64_t magic = META_SNAP_MAGIC, valid = 1, version = 1, cs = 0;
		struct attr_spec spec[] = {
			{"magic", UINT32_MAX, &magic, 0, 0},
			{"valid", UINT32_MAX, &valid, 1, 0},
			{"version", UINT32_MAX, &version, 1, 0},
			{"chunk_size", UINT32_MAX, &cs, 1, 0},
		};
		struct meta_snap_header h;
		int r;
		if (ps->depth != 0 || ps->seen_store) {
			fail(ps, META_E_XML, "<snapshot_store> must be the one root element");
			return;
		}
		if (take_attrs(ps, name, attrs, spec, 4))
			return;
		h.magic = (uint32_t)magic;
		h.valid = (uint32_t)valid;
		h.version = (uint32_t)version;
		h.chunk_size = (uint32_t)cs;
		ps->seen_store = 1;
		ps->depth = 1;
		r = ps->ops->begin_store(ps->ctx, &h);
		if (r)
			fail(ps, r, "%s", meta_strerror(r));
	} else if (!strcmp(name, "exception")) {
		uint64_t oc = 0, nc = 0;
		struct attr_spec spec[] = {
			{"old_chunk", UINT64_MAX, &oc, 1, 0},
			{"new_chunk", UINT64_MAX, &nc, 1, 0},
		};
		int r;
		if (ps->depth != 1) {
			fail(ps, META_E_XML, "<exception> must appear inside <snapshot_store>");
			return;
		}
		if (take_attrs(ps, name, attrs, spec, 2))
			return;
		ps->depth = 2;
		r = ps->ops->exception(ps->ctx, oc, nc);
		if (r)
			fail(ps, r, "%s", meta_strerror(r));
	} else {
		fail(ps, META_E_XML, "unknown element <%s>", name);
	}
}

static void XMLCALL on_end(void *data, const XML_Char *name)
{
	struct parse *ps = data;
	if (ps->r)
		return;
	ps->depth--;
	if (ps->depth == 0) {
		int r = ps->ops->end_store(ps->ctx);
		if (r)
			fail(ps, r, "%s", meta_strerror(r));
	}
}

static void XMLCALL on_text(void *data, const XML_Char *s, int len)
{
	struct parse *ps = data;
	for (int i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') {
			fail(ps, META_E_XML, "unexpected text");
			return;
		}
}

int meta_snap_xml_parse(FILE *in, const struct meta_snap_emitter_ops *ops, void *ctx, char *err,
			size_t errlen)
{
	struct parse ps;
	char buf[65536];
	memset(&ps, 0, sizeof(ps));
	ps.p = XML_ParserCreate(NULL);
	if (!ps.p)
		return META_E_NOMEM;
	ps.ops = ops;
	ps.ctx = ctx;
	ps.err = err;
	ps.errlen = errlen;
	if (err && errlen)
		err[0] = 0;
	XML_SetUserData(ps.p, &ps);
	XML_SetElementHandler(ps.p, on_start, on_end);
	XML_SetCharacterDataHandler(ps.p, on_text);
	for (;;) {
		size_t n = fread(buf, 1, sizeof(buf), in);
		int last = n < sizeof(buf);
		if (ferror(in)) {
			fail(&ps, META_E_IO, "read error");
			break;
		}
		if (XML_Parse(ps.p, buf, (int)n, last) == XML_STATUS_ERROR) {
			if (!ps.r)
				fail(&ps, META_E_XML, "%s", XML_ErrorString(XML_GetErrorCode(ps.p)));
			break;
		}
		if (last)
			break;
	}
	if (!ps.r && !ps.seen_store)
		fail(&ps, META_E_XML, "no <snapshot_store> element");
	XML_ParserFree(ps.p);
	return ps.r;
}

/* SPDX-License-Identifier: GPL-2.0-only */
/* Thin-pool XML → emitter calls (see include/libmeta/thin_xml_read.h). */
#include <libmeta/error.h>
#include <libmeta/thin_xml_read.h>

#include <errno.h>
#include <expat.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum where { OUTSIDE, IN_SB, IN_DEVICE, IN_DEF, IN_LEAF_ELEM, DONE };

struct tparse {
	XML_Parser p;
	const struct meta_thin_emitter *e;
	meta_emitter_msg_fn msg_fn;
	char *err;
	size_t errlen;
	int r;
	enum where at, back; /* back: where to return after a leaf element */
};

static void tfail(struct tparse *ps, int code, const char *fmt, ...)
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

static void cb_result(struct tparse *ps, int r)
{
	if (!r)
		return;
	if (ps->msg_fn && ps->msg_fn(ps->e->ctx))
		tfail(ps, r, "%s", ps->msg_fn(ps->e->ctx));
	else
		tfail(ps, r, "%s", meta_strerror(r));
}

static int num(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;
	if (!*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

struct aspec {
	const char *name;
	uint64_t max;
	uint64_t v;
	const char *s; /* string value, for uuid/name */
	int required, seen, is_string;
};

static int attrs_take(struct tparse *ps, const char *elem, const XML_Char **a, struct aspec *sp,
		      int n)
{
	for (int i = 0; a[i]; i += 2) {
		int k;
		for (k = 0; k < n; k++)
			if (!strcmp(a[i], sp[k].name))
				break;
		if (k == n) {
			tfail(ps, META_E_XML, "unknown attribute '%s' in <%s>", a[i], elem);
			return -1;
		}
		if (sp[k].is_string)
			sp[k].s = a[i + 1];
		else if (num(a[i + 1], sp[k].max, &sp[k].v)) {
			tfail(ps, META_E_XML, "bad value \"%s\" for %s in <%s>", a[i + 1], a[i], elem);
			return -1;
		}
		sp[k].seen = 1;
	}
	for (int k = 0; k < n; k++)
		if (sp[k].required && !sp[k].seen) {
			tfail(ps, META_E_XML, "<%s> needs the attribute %s", elem, sp[k].name);
			return -1;
		}
	return 0;
}

static void XMLCALL t_start(void *data, const XML_Char *name, const XML_Char **a)
{
	struct tparse *ps = data;
	const struct meta_thin_emitter_ops *ops = ps->e->ops;
	void *ctx = ps->e->ctx;
	if (ps->r)
		return;
	if (!strcmp(name, "superblock")) {
		struct aspec sp[] = {
			{"uuid", 0, 0, "", 1, 0, 1},
			{"time", UINT32_MAX, 0, 0, 1, 0, 0},
			{"transaction", UINT64_MAX, 0, 0, 1, 0, 0},
			{"flags", UINT32_MAX, 0, 0, 0, 0, 0},
			{"version", UINT32_MAX, 2, 0, 0, 0, 0},
			{"data_block_size", UINT32_MAX, 0, 0, 1, 0, 0},
			{"nr_data_blocks", UINT64_MAX, 0, 0, 1, 0, 0},
			{"metadata_snap", UINT64_MAX, 0, 0, 0, 0, 0},
		};
		struct meta_thin_xml_sb sb;
		if (ps->at != OUTSIDE) {
			tfail(ps, META_E_XML, "<superblock> must be the one root element");
			return;
		}
		if (attrs_take(ps, name, a, sp, 8))
			return;
		memset(&sb, 0, sizeof(sb));
		sb.uuid = sp[0].s;
		sb.time = (uint32_t)sp[1].v;
		sb.transaction = sp[2].v;
		sb.flags = (uint32_t)sp[3].v;
		sb.version = (uint32_t)sp[4].v;
		sb.data_block_size = (uint32_t)sp[5].v;
		sb.nr_data_blocks = sp[6].v;
		sb.has_metadata_snap = sp[7].seen;
		sb.metadata_snap = sp[7].v;
		ps->at = IN_SB;
		cb_result(ps, ops->begin_superblock(ctx, &sb));
	} else if (!strcmp(name, "device")) {
		struct aspec sp[] = {
			{"dev_id", UINT64_MAX, 0, 0, 1, 0, 0},
			{"mapped_blocks", UINT64_MAX, 0, 0, 1, 0, 0},
			{"transaction", UINT64_MAX, 0, 0, 1, 0, 0},
			{"creation_time", UINT32_MAX, 0, 0, 1, 0, 0},
			{"snap_time", UINT32_MAX, 0, 0, 1, 0, 0},
		};
		struct meta_thin_details d;
		if (ps->at != IN_SB) {
			tfail(ps, META_E_XML, "<device> must appear directly inside <superblock>");
			return;
		}
		if (attrs_take(ps, name, a, sp, 5))
			return;
		d.dev_id = sp[0].v;
		d.mapped_blocks = sp[1].v;
		d.transaction_id = sp[2].v;
		d.creation_time = (uint32_t)sp[3].v;
		d.snapshotted_time = (uint32_t)sp[4].v;
		ps->at = IN_DEVICE;
		cb_result(ps, ops->begin_device(ctx, &d));
	} else if (!strcmp(name, "def")) {
		struct aspec sp[] = {{"name", 0, 0, "", 1, 0, 1}};
		if (ps->at != IN_SB) {
			tfail(ps, META_E_XML, "<def> must appear directly inside <superblock>");
			return;
		}
		if (attrs_take(ps, name, a, sp, 1))
			return;
		ps->at = IN_DEF;
		cb_result(ps, ops->begin_def(ctx, sp[0].s));
	} else if (!strcmp(name, "ref")) {
		struct aspec sp[] = {{"name", 0, 0, "", 1, 0, 1}};
		if (ps->at != IN_DEVICE) {
			tfail(ps, META_E_XML, "<ref> must appear inside a <device>");
			return;
		}
		if (attrs_take(ps, name, a, sp, 1))
			return;
		ps->back = ps->at;
		ps->at = IN_LEAF_ELEM;
		cb_result(ps, ops->ref(ctx, sp[0].s));
	} else if (!strcmp(name, "range_mapping")) {
		struct aspec sp[] = {
			{"origin_begin", UINT64_MAX, 0, 0, 1, 0, 0},
			{"data_begin", UINT64_MAX, 0, 0, 1, 0, 0},
			{"length", UINT64_MAX, 0, 0, 1, 0, 0},
			{"time", UINT32_MAX, 0, 0, 1, 0, 0},
		};
		if (ps->at != IN_DEVICE && ps->at != IN_DEF) {
			tfail(ps, META_E_XML, "Mapping tags must appear within a <def> or <device> tag.");
			return;
		}
		if (attrs_take(ps, name, a, sp, 4))
			return;
		if (!sp[2].v) {
			tfail(ps, META_E_XML, "range_mapping with length 0");
			return;
		}
		if (sp[0].v + sp[2].v < sp[0].v || sp[1].v + sp[2].v < sp[1].v) {
			tfail(ps, META_E_XML, "range_mapping overflows 64 bits");
			return;
		}
		ps->back = ps->at;
		ps->at = IN_LEAF_ELEM;
		cb_result(ps, ops->range_map(ctx, sp[0].v, sp[1].v, (uint32_t)sp[3].v, sp[2].v));
	} else if (!strcmp(name, "single_mapping")) {
		struct aspec sp[] = {
			{"origin_block", UINT64_MAX, 0, 0, 1, 0, 0},
			{"data_block", UINT64_MAX, 0, 0, 1, 0, 0},
			{"time", UINT32_MAX, 0, 0, 1, 0, 0},
		};
		if (ps->at != IN_DEVICE && ps->at != IN_DEF) {
			tfail(ps, META_E_XML, "Mapping tags must appear within a <def> or <device> tag.");
			return;
		}
		if (attrs_take(ps, name, a, sp, 3))
			return;
		ps->back = ps->at;
		ps->at = IN_LEAF_ELEM;
		cb_result(ps, ops->single_map(ctx, sp[0].v, sp[1].v, (uint32_t)sp[2].v));
	} else {
		tfail(ps, META_E_XML, "unknown element <%s>", name);
	}
}

static void XMLCALL t_end(void *data, const XML_Char *name)
{
	struct tparse *ps = data;
	const struct meta_thin_emitter_ops *ops = ps->e->ops;
	if (ps->r)
		return;
	switch (ps->at) {
	case IN_LEAF_ELEM:
		ps->at = ps->back;
		break;
	case IN_DEVICE:
		ps->at = IN_SB;
		cb_result(ps, ops->end_device(ps->e->ctx));
		break;
	case IN_DEF:
		ps->at = IN_SB;
		cb_result(ps, ops->end_def(ps->e->ctx));
		break;
	case IN_SB:
		ps->at = DONE;
		cb_result(ps, ops->end_superblock(ps->e->ctx));
		break;
	default:
		break;
	}
}

int meta_thin_xml_parse(FILE *in, const struct meta_thin_emitter *e, meta_emitter_msg_fn msg_fn,
			char *err, size_t errlen)
{
	struct tparse ps;
	const int bufsz = 1 << 20;
	memset(&ps, 0, sizeof(ps));
	ps.p = XML_ParserCreate(NULL);
	if (!ps.p)
		return META_E_NOMEM;
	ps.e = e;
	ps.msg_fn = msg_fn;
	ps.err = err;
	ps.errlen = errlen;
	if (err && errlen)
		err[0] = 0;
	XML_SetUserData(ps.p, &ps);
	/* text and comments are ignored (no handler), as thin-provisioning-tools does */
	XML_SetElementHandler(ps.p, t_start, t_end);
	for (;;) {
		/* read straight into expat's buffer: no copy */
		void *buf = XML_GetBuffer(ps.p, bufsz);
		size_t n;
		int last;
		if (!buf) {
			tfail(&ps, META_E_NOMEM, "out of memory");
			break;
		}
		n = fread(buf, 1, (size_t)bufsz, in);
		last = n < (size_t)bufsz;
		if (ferror(in)) {
			tfail(&ps, META_E_IO, "read error");
			break;
		}
		if (XML_ParseBuffer(ps.p, (int)n, last) == XML_STATUS_ERROR) {
			if (!ps.r)
				tfail(&ps, META_E_XML, "%s", XML_ErrorString(XML_GetErrorCode(ps.p)));
			break;
		}
		if (last)
			break;
	}
	if (!ps.r && ps.at != DONE)
		tfail(&ps, META_E_XML, "incomplete source metadata: no complete <superblock> element");
	XML_ParserFree(ps.p);
	return ps.r;
}

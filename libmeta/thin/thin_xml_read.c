/* SPDX-License-Identifier: GPL-2.0-only */
/* Thin-pool XML → emitter calls (see include/libmeta/thin_xml_read.h). */
#include <libmeta/error.h>
#include <libmeta/thin_xml_read.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/xml_util.h"

enum where { OUTSIDE, IN_SB, IN_DEVICE, IN_DEF, IN_LEAF_ELEM, DONE };

struct tparse {
	struct xmlu x;
	const struct meta_thin_emitter *e;
	meta_emitter_msg_fn msg_fn;
	enum where at, back; /* back: where to return after a leaf element */
};

static void cb_result(struct tparse *ps, int r)
{
	if (!r)
		return;
	if (ps->msg_fn && ps->msg_fn(ps->e->ctx))
		xmlu_fail(&ps->x, r, "%s", ps->msg_fn(ps->e->ctx));
	else
		xmlu_fail(&ps->x, r, "%s", meta_strerror(r));
}

static void XMLCALL t_start(void *data, const XML_Char *name, const XML_Char **a)
{
	struct tparse *ps = data;
	const struct meta_thin_emitter_ops *ops = ps->e->ops;
	void *ctx = ps->e->ctx;
	if (ps->x.r)
		return;
	if (!strcmp(name, "superblock")) {
		struct xmlu_attr sp[] = {
			{"uuid", 0, 0, "", 1, 0, 1, 0},
			{"time", UINT32_MAX, 0, 0, 1, 0, 0, 0},
			{"transaction", UINT64_MAX, 0, 0, 1, 0, 0, 0},
			{"flags", UINT32_MAX, 0, 0, 0, 0, 0, 0},
			{"version", UINT32_MAX, 2, 0, 0, 0, 0, 0},
			{"data_block_size", UINT32_MAX, 0, 0, 1, 0, 0, 0},
			{"nr_data_blocks", UINT64_MAX, 0, 0, 1, 0, 0, 0},
			{"metadata_snap", UINT64_MAX, 0, 0, 0, 0, 0, 0},
		};
		struct meta_thin_xml_sb sb;
		if (ps->at != OUTSIDE) {
			xmlu_fail(&ps->x, META_E_XML, "<superblock> must be the one root element");
			return;
		}
		if (xmlu_take_attrs(&ps->x, name, a, sp, 8))
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
		struct xmlu_attr sp[] = {
			{"dev_id", UINT64_MAX, 0, 0, 1, 0, 0, 0},
			{"mapped_blocks", UINT64_MAX, 0, 0, 1, 0, 0, 0},
			{"transaction", UINT64_MAX, 0, 0, 1, 0, 0, 0},
			{"creation_time", UINT32_MAX, 0, 0, 1, 0, 0, 0},
			{"snap_time", UINT32_MAX, 0, 0, 1, 0, 0, 0},
		};
		struct meta_thin_details d;
		if (ps->at != IN_SB) {
			xmlu_fail(&ps->x, META_E_XML, "<device> must appear directly inside <superblock>");
			return;
		}
		if (xmlu_take_attrs(&ps->x, name, a, sp, 5))
			return;
		d.dev_id = sp[0].v;
		d.mapped_blocks = sp[1].v;
		d.transaction_id = sp[2].v;
		d.creation_time = (uint32_t)sp[3].v;
		d.snapshotted_time = (uint32_t)sp[4].v;
		ps->at = IN_DEVICE;
		cb_result(ps, ops->begin_device(ctx, &d));
	} else if (!strcmp(name, "def")) {
		struct xmlu_attr sp[] = {{"name", 0, 0, "", 1, 0, 1, 0}};
		if (ps->at != IN_SB) {
			xmlu_fail(&ps->x, META_E_XML, "<def> must appear directly inside <superblock>");
			return;
		}
		if (xmlu_take_attrs(&ps->x, name, a, sp, 1))
			return;
		ps->at = IN_DEF;
		cb_result(ps, ops->begin_def(ctx, sp[0].s));
	} else if (!strcmp(name, "ref")) {
		struct xmlu_attr sp[] = {{"name", 0, 0, "", 1, 0, 1, 0}};
		if (ps->at != IN_DEVICE) {
			xmlu_fail(&ps->x, META_E_XML, "<ref> must appear inside a <device>");
			return;
		}
		if (xmlu_take_attrs(&ps->x, name, a, sp, 1))
			return;
		ps->back = ps->at;
		ps->at = IN_LEAF_ELEM;
		cb_result(ps, ops->ref(ctx, sp[0].s));
	} else if (!strcmp(name, "range_mapping")) {
		struct xmlu_attr sp[] = {
			{"origin_begin", UINT64_MAX, 0, 0, 1, 0, 0, 0},
			{"data_begin", UINT64_MAX, 0, 0, 1, 0, 0, 0},
			{"length", UINT64_MAX, 0, 0, 1, 0, 0, 0},
			{"time", UINT32_MAX, 0, 0, 1, 0, 0, 0},
		};
		if (ps->at != IN_DEVICE && ps->at != IN_DEF) {
			xmlu_fail(&ps->x, META_E_XML, "Mapping tags must appear within a <def> or <device> tag.");
			return;
		}
		if (xmlu_take_attrs(&ps->x, name, a, sp, 4))
			return;
		if (!sp[2].v) {
			xmlu_fail(&ps->x, META_E_XML, "range_mapping with length 0");
			return;
		}
		if (sp[0].v + sp[2].v < sp[0].v || sp[1].v + sp[2].v < sp[1].v) {
			xmlu_fail(&ps->x, META_E_XML, "range_mapping overflows 64 bits");
			return;
		}
		ps->back = ps->at;
		ps->at = IN_LEAF_ELEM;
		cb_result(ps, ops->range_map(ctx, sp[0].v, sp[1].v, (uint32_t)sp[3].v, sp[2].v));
	} else if (!strcmp(name, "single_mapping")) {
		struct xmlu_attr sp[] = {
			{"origin_block", UINT64_MAX, 0, 0, 1, 0, 0, 0},
			{"data_block", UINT64_MAX, 0, 0, 1, 0, 0, 0},
			{"time", UINT32_MAX, 0, 0, 1, 0, 0, 0},
		};
		if (ps->at != IN_DEVICE && ps->at != IN_DEF) {
			xmlu_fail(&ps->x, META_E_XML, "Mapping tags must appear within a <def> or <device> tag.");
			return;
		}
		if (xmlu_take_attrs(&ps->x, name, a, sp, 3))
			return;
		ps->back = ps->at;
		ps->at = IN_LEAF_ELEM;
		cb_result(ps, ops->single_map(ctx, sp[0].v, sp[1].v, (uint32_t)sp[2].v));
	} else {
		xmlu_fail(&ps->x, META_E_XML, "unknown element <%s>", name);
	}
}

static void XMLCALL t_end(void *data, const XML_Char *name)
{
	struct tparse *ps = data;
	const struct meta_thin_emitter_ops *ops = ps->e->ops;
	if (ps->x.r)
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

/*
 * The mapping elements take xml_util's fast path (xmlu_run_fast): a
 * <single_mapping .../> or <range_mapping .../> with exactly its attributes,
 * plain decimal values in range, inside a device or a def.
 */
#define RUN_BUF (1u << 20)

struct meta_thin_xml_knobs *meta_thin_xml_knobs; /* xml_util.h */

static const struct xmlu_fattr single_attrs[] = {
	{"origin_block", 12, UINT64_MAX}, {"data_block", 10, UINT64_MAX}, {"time", 4, UINT32_MAX}};
static const struct xmlu_fattr range_attrs[] = {{"origin_begin", 12, UINT64_MAX},
						{"data_begin", 10, UINT64_MAX},
						{"length", 6, UINT64_MAX},
						{"time", 4, UINT32_MAX}};

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool mapping_ready(void *ctx)
{
	const struct tparse *ps = ctx;
	return ps->at == IN_DEVICE || ps->at == IN_DEF;
}

/* Hand the mapping element [q, te) to the emitter if it qualifies; false if not. */
static bool fast_mapping(void *ctx, const char *q, const char *te, unsigned long line)
{
	struct tparse *ps = ctx;
	uint64_t v[4];
	int r;
	if (te - q < 20 || te[-2] != '/')
		return false;
	if (!memcmp(q, "<single_mapping", 15) && blank(q[15])) {
		if (!xmlu_fast_attrs(q + 15, te - 2, single_attrs, 3, v, NULL))
			return false;
		r = ps->e->ops->single_map(ps->e->ctx, v[0], v[1], (uint32_t)v[2]);
	} else if (!memcmp(q, "<range_mapping", 14) && blank(q[14])) {
		if (!xmlu_fast_attrs(q + 14, te - 2, range_attrs, 4, v, NULL) || !v[2] ||
		    v[0] + v[2] < v[0] || v[1] + v[2] < v[1])
			return false; /* expat's path says what is wrong */
		r = ps->e->ops->range_map(ps->e->ctx, v[0], v[1], (uint32_t)v[3], v[2]);
	} else {
		return false;
	}
	if (r) {
		ps->x.line = line;
		cb_result(ps, r);
		ps->x.line = 0;
	}
	return true;
}

static int thin_run(struct tparse *ps, FILE *in)
{
	struct meta_thin_xml_knobs *k = meta_thin_xml_knobs;
	struct xmlu_fast f = {mapping_ready, fast_mapping, ps, "sr",
			      !k ? RUN_BUF : k->bufsize < 16 ? 16 : k->bufsize, k && !k->fast, 0};
	int r = xmlu_run_fast(&ps->x, NULL, 0, in, &f);
	if (k)
		k->fast_count += f.count;
	return r;
}

int meta_thin_xml_parse(FILE *in, const struct meta_thin_emitter *e, meta_emitter_msg_fn msg_fn,
			char *err, size_t errlen)
{
	struct tparse ps;
	int r;
	memset(&ps, 0, sizeof(ps));
	r = xmlu_create(&ps.x, err, errlen);
	if (r)
		return r;
	ps.e = e;
	ps.msg_fn = msg_fn;
	XML_SetUserData(ps.x.p, &ps);
	/* text and comments are ignored (no handler), as thin-provisioning-tools does */
	XML_SetElementHandler(ps.x.p, t_start, t_end);
	r = thin_run(&ps, in);
	if (!r && ps.at != DONE)
		xmlu_fail(&ps.x, META_E_XML, "incomplete source metadata: no complete <superblock> element");
	XML_ParserFree(ps.x.p);
	return ps.x.r;
}

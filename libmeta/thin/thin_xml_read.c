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
 * Fast path for the mapping elements.
 *
 * A pool's XML is almost all <single_mapping .../> and <range_mapping .../>
 * lines, and expat spends more time tokenising them than a restore spends
 * building the pool.  thin_run() therefore scans the input itself, delimiting
 * each markup token as XML does (tags with their quoted attribute values,
 * comments, processing instructions, CDATA sections), and hands a mapping
 * element straight to the emitter when it is an empty element on one line
 * whose attributes are exactly the required ones, each once, with plain
 * decimal values in range, and the parser state allows a mapping there.
 * Everything else (every other token, text that is not blanks and newlines, a
 * mapping element in any other form) goes to expat verbatim and in order, so
 * expat still checks the document and reports every error itself: the newlines
 * of the skipped white space are passed on, which keeps expat's line numbers
 * right.  Everything before a fast mapping has been fed to expat before the
 * mapping is handed over, so the state checks and the order of the emitter
 * calls are those of a plain expat parse.  A DOCTYPE, a UTF-16 input, an
 * encoding other than UTF-8 or ASCII, or a token longer than half the buffer
 * turn the fast path off for the rest of the input.
 */
#define RUN_BUF (1u << 20)

struct meta_thin_xml_knobs *meta_thin_xml_knobs; /* xml_util.h */

struct run {
	struct tparse *ps;
	uint64_t nl;        /* newlines of skipped white space, not yet fed to expat */
	unsigned long line; /* line number at the scan position */
	bool fast;
	uint64_t count;     /* mappings handed over */
};

struct fattr {
	const char *name;
	size_t len;
	uint64_t max;
};

static const struct fattr single_attrs[] = {
	{"origin_block", 12, UINT64_MAX}, {"data_block", 10, UINT64_MAX}, {"time", 4, UINT32_MAX}};
static const struct fattr range_attrs[] = {{"origin_begin", 12, UINT64_MAX},
					   {"data_begin", 10, UINT64_MAX},
					   {"length", 6, UINT64_MAX},
					   {"time", 4, UINT32_MAX}};

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Feed s[0..n) to expat, after the pending newlines. */
static int feed(struct run *rn, const char *s, size_t n, int last)
{
	static const char nls[64] = {[0 ... 63] = '\n'};
	struct xmlu *x = &rn->ps->x;
	while (rn->nl && !x->r) {
		int k = rn->nl < sizeof(nls) ? (int)rn->nl : (int)sizeof(nls);
		rn->nl -= (uint64_t)k;
		if (XML_Parse(x->p, nls, k, 0) == XML_STATUS_ERROR && !x->r)
			xmlu_fail(x, META_E_XML, "%s", XML_ErrorString(XML_GetErrorCode(x->p)));
	}
	if (!x->r && XML_Parse(x->p, s, (int)n, last) == XML_STATUS_ERROR && !x->r)
		xmlu_fail(x, META_E_XML, "%s", XML_ErrorString(XML_GetErrorCode(x->p)));
	return x->r;
}

/* Line breaks in [s, e) as expat counts them (CR LF, CR or LF). */
static unsigned long count_lines(const char *s, const char *e)
{
	unsigned long n = 0;
	for (; s < e; s++)
		if (*s == '\n' || (*s == '\r' && (s + 1 == e || s[1] != '\n')))
			n++;
	return n;
}

/*
 * The attributes in [s, e): all of spec[0..n), each once, in any order, with
 * decimal values no larger than their maximum.  False for anything else.
 */
static bool fast_attrs(const char *s, const char *e, const struct fattr *spec, int n,
		       uint64_t *v)
{
	unsigned seen = 0;
	for (;;) {
		const char *a = s;
		uint64_t x = 0;
		char q;
		int k;
		while (s < e && blank(*s))
			s++;
		if (s == e)
			return seen == (1u << n) - 1;
		if (s == a)
			return false;
		for (k = 0; k < n; k++)
			if ((size_t)(e - s) > spec[k].len && !memcmp(s, spec[k].name, spec[k].len) &&
			    (s[spec[k].len] == '=' || blank(s[spec[k].len])))
				break;
		if (k == n || (seen & (1u << k)))
			return false;
		seen |= 1u << k;
		s += spec[k].len;
		while (s < e && blank(*s))
			s++;
		if (s == e || *s++ != '=')
			return false;
		while (s < e && blank(*s))
			s++;
		if (s == e || (*s != '"' && *s != '\''))
			return false;
		q = *s++;
		if (s == e || *s < '0' || *s > '9')
			return false;
		while (s < e && *s >= '0' && *s <= '9') {
			unsigned d = (unsigned)(*s++ - '0');
			if (x > (spec[k].max - d) / 10)
				return false;
			x = x * 10 + d;
		}
		if (s == e || *s++ != q)
			return false;
		v[k] = x;
	}
}

/*
 * Whether the XML declaration [q, t) leaves the bytes of markup as they are:
 * no encoding, UTF-8, US-ASCII or ISO-8859-1 (the 8-bit ones expat knows).
 */
static bool byte_encoding(const char *q, const char *t)
{
	static const char *const ok[] = {"UTF-8", "US-ASCII", "ISO-8859-1"};
	const char *v = memmem(q, (size_t)(t - q), "encoding", 8), *e;
	char qc;
	if (!v)
		return true;
	v += 8;
	while (v < t && *v != '"' && *v != '\'')
		v++;
	if (v == t)
		return false;
	qc = *v++;
	e = memchr(v, qc, (size_t)(t - v));
	if (!e)
		return false;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if ((size_t)(e - v) == strlen(ok[i]) && !strncasecmp(v, ok[i], strlen(ok[i])))
			return true;
	return false;
}

/*
 * The token starting with the '<' at q: returns one past its end, or NULL when
 * it does not end before `end` (or the fast path was turned off).
 */
static char *token_end(struct run *rn, char *q, char *end)
{
	size_t left = (size_t)(end - q);
	char *t;
	if (left < 9) /* enough to tell "<![CDATA[" from "<!--" */
		return NULL;
	if (q[1] == '!') {
		if (!memcmp(q, "<!--", 4))
			t = memmem(q + 4, left - 4, "-->", 3);
		else if (!memcmp(q, "<![CDATA[", 9))
			t = memmem(q + 9, left - 9, "]]>", 3);
		else {
			rn->fast = false; /* a DOCTYPE: leave it all to expat */
			return NULL;
		}
		return t ? t + 3 : NULL;
	}
	if (q[1] == '?') {
		t = memmem(q + 2, left - 2, "?>", 2);
		if (t && !memcmp(q, "<?xml", 5) && (blank(q[5]) || q[5] == '\n' || q[5] == '\r') &&
		    !byte_encoding(q, t))
			rn->fast = false;
		return t ? t + 2 : NULL;
	}
	for (char qc = 0; q < end; q++) {
		if (qc) {
			if (*q == qc)
				qc = 0;
		} else if (*q == '"' || *q == '\'') {
			qc = *q;
		} else if (*q == '>') {
			return q + 1;
		}
	}
	return NULL;
}

/* Hand the mapping element [q, te) to the emitter if it qualifies; false if not. */
static bool fast_mapping(struct run *rn, const char *q, const char *te)
{
	struct tparse *ps = rn->ps;
	uint64_t v[4];
	int r;
	if (te - q < 20 || te[-2] != '/')
		return false;
	if (!memcmp(q, "<single_mapping", 15) && blank(q[15])) {
		if (!fast_attrs(q + 15, te - 2, single_attrs, 3, v))
			return false;
		r = ps->e->ops->single_map(ps->e->ctx, v[0], v[1], (uint32_t)v[2]);
	} else if (!memcmp(q, "<range_mapping", 14) && blank(q[14])) {
		if (!fast_attrs(q + 14, te - 2, range_attrs, 4, v) || !v[2] || v[0] + v[2] < v[0] ||
		    v[1] + v[2] < v[1])
			return false; /* expat's path says what is wrong */
		r = ps->e->ops->range_map(ps->e->ctx, v[0], v[1], (uint32_t)v[3], v[2]);
	} else {
		return false;
	}
	rn->count++;
	if (r) {
		ps->x.line = rn->line;
		cb_result(ps, r);
		ps->x.line = 0;
	}
	return true;
}

/*
 * Scan buf[0..n): returns how much was consumed (fed or handed over); the rest
 * is an incomplete token for the next round.  With `eof` everything is fed.
 */
static size_t scan(struct run *rn, char *buf, size_t n, bool eof)
{
	struct tparse *ps = rn->ps;
	char *p = buf, *end = buf + n, *fed = buf;
	while (rn->fast && !ps->x.r) {
		char *q = memchr(p, '<', (size_t)(end - p)), *te, *t;
		unsigned long nls = 0;
		bool ws = true, plain = true;
		if (!q) /* text up to the end: carried, so it stays with the tag after it */
			break;
		for (t = p; t < q; t++) {
			if (*t == '\n') {
				nls++;
			} else if (*t != ' ' && *t != '\t') {
				ws = false;
				if (*t == '\r' && (t + 1 == q || t[1] != '\n'))
					nls++;
				if ((*t == '\r' && t + 1 == q) || *t == '&' || (unsigned char)*t >= 0x80)
					plain = false;
			}
		}
		te = token_end(rn, q, end);
		if (!te) /* carried whole with the text before it */
			break;
		/*
		 * A candidate; not after text ending in what expat cannot finish
		 * without the next byte ('&' starting a reference, a UTF-8 sequence,
		 * a CR that may start a CR LF), which would change its errors or
		 * their line numbers.
		 */
		if ((q[1] == 's' || q[1] == 'r') && te[-2] == '/' && plain &&
		    (fed != p || ps->at == IN_DEVICE || ps->at == IN_DEF)) {
			bool handled;
			if (fed != p || !ws) {
				if (feed(rn, fed, (size_t)(q - fed), 0))
					break;
				fed = q;
			} else {
				rn->nl += nls;
				fed = q;
			}
			rn->line += nls;
			/* expat may have moved on (it has seen everything before q) */
			handled = !ps->x.r && (ps->at == IN_DEVICE || ps->at == IN_DEF) &&
				  fast_mapping(rn, q, te);
			if (handled)
				fed = te;
			else
				rn->line += count_lines(q, te);
			p = te;
			continue;
		}
		rn->line += nls + count_lines(q, te);
		p = te;
	}
	if (ps->x.r)
		return n;
	if (!rn->fast || eof) {
		feed(rn, fed, (size_t)(end - fed), eof);
		return n;
	}
	feed(rn, fed, (size_t)(p - fed), 0);
	return (size_t)(p - buf);
}

static int thin_run(struct tparse *ps, FILE *in)
{
	struct meta_thin_xml_knobs *k = meta_thin_xml_knobs;
	size_t bufsz = !k ? RUN_BUF : k->bufsize < 16 ? 16 : k->bufsize;
	struct run rn = {ps, 0, 1, !k || k->fast, 0};
	char *buf = malloc(bufsz);
	size_t have = 0;
	bool first = true;
	if (!buf) {
		xmlu_fail(&ps->x, META_E_NOMEM, "out of memory");
		return ps->x.r;
	}
	while (!ps->x.r) {
		size_t n = fread(buf + have, 1, bufsz - have, in), used;
		bool eof = n < bufsz - have;
		if (ferror(in)) {
			xmlu_fail(&ps->x, META_E_IO, "read error");
			break;
		}
		n += have;
		if (first) {
			const unsigned char *u = (const unsigned char *)buf;
			first = false;
			/* UTF-16 (a byte order mark or a zero byte up front): expat alone */
			if (n < 2 || !u[0] || !u[1] || u[0] == 0xfe || u[0] == 0xff)
				rn.fast = false;
		}
		used = scan(&rn, buf, n, eof);
		if (eof)
			break;
		have = n - used;
		memmove(buf, buf + used, have);
		if (have > bufsz / 2)
			rn.fast = false; /* one huge token: the rest goes to expat */
	}
	free(buf);
	if (k)
		k->fast_count += rn.count;
	return ps->x.r;
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

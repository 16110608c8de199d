/* SPDX-License-Identifier: GPL-2.0-only */
/* Helpers shared by libmeta's expat parsers (see xml_util.h). */
#include <libmeta/error.h>

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/xml_util.h"

void xmlu_fail(struct xmlu *x, int code, const char *fmt, ...)
{
	va_list ap;
	size_t n;
	if (x->r)
		return;
	x->r = code;
	if (x->err && x->errlen) {
		n = (size_t)snprintf(x->err, x->errlen, "line %lu: ",
				     x->line ? x->line
					     : (unsigned long)XML_GetCurrentLineNumber(x->p));
		if (n < x->errlen) {
			va_start(ap, fmt);
			vsnprintf(x->err + n, x->errlen - n, fmt, ap);
			va_end(ap);
		}
	}
	XML_StopParser(x->p, XML_FALSE);
}

static int parse_num(const char *s, uint64_t max, int hex_ok, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int base = 10;
	if (hex_ok && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s || !((*s >= '0' && *s <= '9') || (base == 16 && strchr("abcdefABCDEF", *s))))
		return -1;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

int xmlu_take_attrs(struct xmlu *x, const char *elem, const XML_Char **a, struct xmlu_attr *sp,
		    int n)
{
	for (int i = 0; a[i]; i += 2) {
		int k;
		for (k = 0; k < n; k++)
			if (!strcmp(a[i], sp[k].name))
				break;
		if (k == n) {
			xmlu_fail(x, META_E_XML, "unknown attribute '%s' in <%s>", a[i], elem);
			return -1;
		}
		if (sp[k].is_string)
			sp[k].s = a[i + 1];
		else if (parse_num(a[i + 1], sp[k].max, sp[k].hex_ok, &sp[k].v)) {
			xmlu_fail(x, META_E_XML, "bad value \"%s\" for %s in <%s>", a[i + 1], a[i], elem);
			return -1;
		}
		sp[k].seen = 1;
	}
	for (int k = 0; k < n; k++)
		if (sp[k].required && !sp[k].seen) {
			xmlu_fail(x, META_E_XML, "<%s> needs the attribute %s", elem, sp[k].name);
			return -1;
		}
	return 0;
}

int xmlu_create(struct xmlu *x, char *err, size_t errlen)
{
	memset(x, 0, sizeof(*x));
	x->err = err;
	x->errlen = errlen;
	if (err && errlen)
		err[0] = 0;
	x->p = XML_ParserCreate(NULL);
	return x->p ? META_OK : META_E_NOMEM;
}

int xmlu_run(struct xmlu *x, FILE *in)
{
	const int bufsz = 1 << 20;
	for (;;) {
		/* read straight into expat's buffer: no copy */
		void *buf = XML_GetBuffer(x->p, bufsz);
		size_t n;
		int last;
		if (!buf) {
			xmlu_fail(x, META_E_NOMEM, "out of memory");
			break;
		}
		n = fread(buf, 1, (size_t)bufsz, in);
		last = n < (size_t)bufsz;
		if (ferror(in)) {
			xmlu_fail(x, META_E_IO, "read error");
			break;
		}
		if (XML_ParseBuffer(x->p, (int)n, last) == XML_STATUS_ERROR) {
			if (!x->r)
				xmlu_fail(x, META_E_XML, "%s", XML_ErrorString(XML_GetErrorCode(x->p)));
			break;
		}
		if (last)
			break;
	}
	return x->r;
}

int xmlu_run_head(struct xmlu *x, const char *head, size_t len, FILE *in)
{
	/* expat takes an int length: a head over INT_MAX goes in in pieces */
	while (len) {
		int n = len > (1u << 30) ? 1 << 30 : (int)len;
		if (XML_Parse(x->p, head, n, 0) == XML_STATUS_ERROR) {
			if (!x->r)
				xmlu_fail(x, META_E_XML, "%s", XML_ErrorString(XML_GetErrorCode(x->p)));
			return x->r;
		}
		if (x->r)
			return x->r;
		head += n;
		len -= (size_t)n;
	}
	return xmlu_run(x, in);
}

void xmlu_blank_text(struct xmlu *x, const XML_Char *s, int len)
{
	for (int i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') {
			xmlu_fail(x, META_E_XML, "unexpected text");
			return;
		}
}

/*
 * The fast path (xml_util.h, xmlu_run_fast).
 *
 * A big XML input is almost all lines of one or two element kinds (a pool's
 * <single_mapping .../> and <range_mapping .../>, a mikulas store's <exception
 * .../>), and expat spends more time tokenising them than the tool spends on
 * them.  xmlu_run_fast() therefore scans the input itself, delimiting each
 * markup token as XML does (tags with their quoted attribute values, comments,
 * processing instructions, CDATA sections), and hands such an element to the
 * caller (f->elem) when it is an empty element on one line and the parser's
 * state allows one there (f->ready); the caller takes it only when its
 * attributes are exactly the required ones, each once, with plain values in
 * range.  Everything else (every other token, text that is not blanks and
 * newlines, an element the caller leaves) goes to expat verbatim and in order,
 * so expat still checks the document and reports every error itself: the
 * newlines of the skipped white space are passed on, which keeps expat's line
 * numbers right.  Everything before a fast element has been fed to expat before
 * the element is handed over, so the state checks and the order of the
 * caller's work are those of a plain expat parse.  A DOCTYPE, a UTF-16 input,
 * an encoding other than UTF-8 or ASCII, or a token longer than half the buffer
 * turn the fast path off for the rest of the input.
 */
#define RUN_BUF (1u << 20)

struct run {
	struct xmlu *x;
	struct xmlu_fast *f;
	uint64_t nl;        /* newlines of skipped white space, not yet fed to expat */
	unsigned long line; /* line number at the scan position */
	bool fast;
};

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Feed s[0..n) to expat, after the pending newlines. */
static int feed(struct run *rn, const char *s, size_t n, int last)
{
	static const char nls[64] = {[0 ... 63] = '\n'};
	struct xmlu *x = rn->x;
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

bool xmlu_fast_attrs(const char *s, const char *e, const struct xmlu_fattr *spec, int n,
		     uint64_t *v, const char **str)
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
		if (!spec[k].max) {
			/* digits and dots, handed over as they are */
			str[k] = s;
			while (s < e && ((*s >= '0' && *s <= '9') || *s == '.'))
				s++;
			x = (uint64_t)(s - str[k]);
		}
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

/*
 * Scan buf[0..n): returns how much was consumed (fed or handed over); the rest
 * is an incomplete token for the next round.  With `eof` everything is fed.
 */
static size_t scan(struct run *rn, char *buf, size_t n, bool eof)
{
	struct xmlu_fast *f = rn->f;
	char *p = buf, *end = buf + n, *fed = buf;
	while (rn->fast && !rn->x->r) {
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
		if (q[1] && strchr(f->first, q[1]) && te[-2] == '/' && plain &&
		    (fed != p || f->ready(f->ctx))) {
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
			handled = !rn->x->r && f->ready(f->ctx) && f->elem(f->ctx, q, te, rn->line);
			if (handled) {
				f->count++;
				fed = te;
			}
			else
				rn->line += count_lines(q, te);
			p = te;
			continue;
		}
		rn->line += nls + count_lines(q, te);
		p = te;
	}
	if (rn->x->r)
		return n;
	if (!rn->fast || eof) {
		feed(rn, fed, (size_t)(end - fed), eof);
		return n;
	}
	feed(rn, fed, (size_t)(p - fed), 0);
	return (size_t)(p - buf);
}

int xmlu_run_fast(struct xmlu *x, const char *head, size_t len, FILE *in, struct xmlu_fast *f)
{
	size_t bufsz = f->bufsize ? f->bufsize : RUN_BUF;
	struct run rn = {x, f, 0, 1, !f->off};
	char *buf;
	size_t have = 0;
	bool first = true;
	if (len > bufsz / 2) /* a head the buffer cannot take (a long prolog): expat alone */
		return xmlu_run_head(x, head, len, in);
	buf = malloc(bufsz);
	if (!buf) {
		xmlu_fail(x, META_E_NOMEM, "out of memory");
		return x->r;
	}
	if (len)
		memcpy(buf, head, len);
	have = len;
	while (!x->r) {
		size_t n = fread(buf + have, 1, bufsz - have, in), used;
		bool eof = n < bufsz - have;
		if (ferror(in)) {
			xmlu_fail(x, META_E_IO, "read error");
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
	return x->r;
}

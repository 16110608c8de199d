/* SPDX-License-Identifier: GPL-2.0-only */
/* Helpers shared by libmeta's expat parsers (see xml_util.h). */
#include <libmeta/error.h>

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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

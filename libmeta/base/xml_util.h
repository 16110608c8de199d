/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Private helpers shared by libmeta's expat parsers (thin_xml_read.c,
 * snap_xml.c): the first error with its line number, strict numeric
 * attributes from a table, and the read loop.
 */
#ifndef LIBMETA_XML_UTIL_H
#define LIBMETA_XML_UTIL_H

#include <expat.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct xmlu {
	XML_Parser p;
	char *err;     /* "line N: what is wrong" for the first error */
	size_t errlen;
	int r;         /* first error (a meta_err), 0 while none */
	unsigned long line; /* when non-zero, the line xmlu_fail() reports instead of expat's */
};

/* Record the first error (later ones are ignored) and stop the parser. */
void xmlu_fail(struct xmlu *x, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

struct xmlu_attr {
	const char *name;
	uint64_t max;    /* largest value accepted */
	uint64_t v;      /* the value (numeric attributes; keeps its default if absent) */
	const char *s;   /* the value (string attributes) */
	int required, seen, is_string, hex_ok; /* hex_ok: "0x..." accepted */
};

/* Character data between elements: anything but blanks fails ("unexpected text"). */
void xmlu_blank_text(struct xmlu *x, const XML_Char *s, int len);

/* Take the attributes of elem into spec[0..n): unknown, malformed or missing ones fail. */
int xmlu_take_attrs(struct xmlu *x, const char *elem, const XML_Char **a, struct xmlu_attr *spec,
		    int n);

/* Create the parser (x->p), or META_E_NOMEM. */
int xmlu_create(struct xmlu *x, char *err, size_t errlen);
/* Feed all of `in` to the parser (handlers set by the caller); returns x->r. */
int xmlu_run(struct xmlu *x, FILE *in);
/* The same after feeding head (len bytes already read from in; NULL, 0: none). */
int xmlu_run_head(struct xmlu *x, const char *head, size_t len, FILE *in);

/*
 * The fast path for the few element kinds that make up most of a big input
 * (xml_util.c says how it stays a plain expat parse): the input is scanned for
 * markup tokens; an empty element on one line ("<name .../>") whose name's first
 * letter is in `first` goes to elem() when ready() says the parser's state admits
 * one (everything before it has been fed to expat); elem() handles it and returns
 * true, or returns false and expat gets it.  line: the element's line (for
 * xmlu_fail through x->line).  Everything else goes to expat, in order.
 */
struct xmlu_fast {
	bool (*ready)(void *ctx);
	bool (*elem)(void *ctx, const char *q, const char *te, unsigned long line);
	void *ctx;
	const char *first;
	size_t bufsize;  /* read buffer; 0: 1 MiB */
	bool off;        /* expat alone */
	uint64_t count;  /* elements elem() handled */
};
/* xmlu_run_head() with the fast path. */
int xmlu_run_fast(struct xmlu *x, const char *head, size_t len, FILE *in, struct xmlu_fast *f);

/*
 * The attributes in [s, e) (an element's, after its name): all of spec[0..n), each
 * once, in any order, with plain values; false for anything else.  A spec with max 0
 * takes digits and dots as they are (str[k] the value, v[k] its length); else a
 * decimal number up to max (v[k]).
 */
struct xmlu_fattr {
	const char *name;
	size_t len;
	uint64_t max;
};
bool xmlu_fast_attrs(const char *s, const char *e, const struct xmlu_fattr *spec, int n,
		     uint64_t *v, const char **str);

/*
 * Test knobs of thin_xml_read.c (NULL, the default: a 1 MiB read buffer and
 * the fast path on).  Set by unit tests only; a parse reads the pointer once
 * and never writes through it except to add to fast_count.
 */
struct meta_thin_xml_knobs {
	size_t bufsize;      /* read buffer */
	bool fast;           /* mapping elements may take the fast path */
	uint64_t fast_count; /* mapping elements that took it */
};
extern struct meta_thin_xml_knobs *meta_thin_xml_knobs;

#endif
